//! summary.csv's rows computed from a run's samples: percentiles from an HDR
//! histogram and a bootstrap 95% confidence interval of the median. Only
//! valid samples enter the statistics; invalid and failed ones are counted
//! beside them.
//!
//! The one part of [`crate::stats`] that knows the row types: it reads
//! [`Sample`]s and builds [`SummaryRow`]s, both defined in
//! [`crate::results`] with the rest of what is on disk.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{bootstrap_median_ci, percentiles, BOOTSTRAP_RESAMPLES};
use crate::results::{Sample, SummaryRow};
use crate::vocab::Phase;

/// The row of (target, workload, phase) in `rows`.
pub fn find_row<'a>(
    rows: &'a [SummaryRow],
    target: &str,
    workload: &str,
    phase: &str,
) -> Option<&'a SummaryRow> {
    rows.iter()
        .find(|r| r.target == target && r.workload == workload && r.phase == phase)
}

/// Sort key that puts phases in report order.
fn phase_rank(phase: &str) -> usize {
    Phase::SAMPLED
        .iter()
        .position(|p| p.as_str() == phase)
        .unwrap_or(Phase::SAMPLED.len())
}

/// One summary row per (target, workload, phase) present in `samples`;
/// targets and workloads in order of first appearance in `order`, else of the samples.
///
/// One generator seeded with `seed` serves every group's bootstrap in row
/// order, so a row's interval depends on the rows before it: the same
/// samples and seed give the same file.
pub fn summarize(
    samples: &[Sample],
    target_order: &[String],
    workload_order: &[String],
    seed: u64,
) -> Vec<SummaryRow> {
    let rank =
        |list: &[String], name: &str| list.iter().position(|x| x == name).unwrap_or(usize::MAX);
    // (target rank, target, workload rank, workload, phase rank, phase)
    type Key = (usize, String, usize, String, usize, String);
    let mut groups: BTreeMap<Key, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        let key = (
            rank(target_order, &s.target),
            s.target.clone(),
            rank(workload_order, &s.workload),
            s.workload.clone(),
            phase_rank(&s.phase),
            s.phase.clone(),
        );
        groups.entry(key).or_default().push(s);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    groups
        .into_values()
        .map(|group| summarize_group(&group, &mut rng))
        .collect()
}

/// The row of one group. Its p50 is an HDR bucket, its CI one of the exact
/// median: see [`SummaryRow::p50_ns`].
fn summarize_group(group: &[&Sample], rng: &mut ChaCha8Rng) -> SummaryRow {
    let first = group[0];
    let valid: Vec<&&Sample> = group.iter().filter(|s| s.valid).collect();
    let latencies: Vec<u64> = valid.iter().filter_map(|s| s.latency_ns).collect();
    let cpu: Vec<u64> = valid.iter().filter_map(|s| s.cpu_ns).collect();
    let pss: Vec<u64> = valid.iter().filter_map(|s| s.mem_pss_bytes).collect();
    let p = percentiles(&latencies, &[0.5, 0.9, 0.99]);
    let at = |i: usize| p.as_ref().map(|p| p[i]);
    let ci = bootstrap_median_ci(&latencies, rng, BOOTSTRAP_RESAMPLES);
    SummaryRow {
        target: first.target.clone(),
        family: first.family.clone(),
        workload: first.workload.clone(),
        phase: first.phase.clone(),
        n: valid.len() as u64,
        n_invalid: (group.len() - valid.len()) as u64,
        p50_ns: at(0),
        p90_ns: at(1),
        p99_ns: at(2),
        max_ns: latencies.iter().copied().max(),
        mean_ns: (!latencies.is_empty()).then(|| {
            (latencies.iter().map(|&v| v as u128).sum::<u128>() / latencies.len() as u128) as u64
        }),
        ci95_lo_ns: ci.map(|c| c.0),
        ci95_hi_ns: ci.map(|c| c.1),
        cpu_p50_ns: percentiles(&cpu, &[0.5]).map(|v| v[0]),
        mem_pss_p50_bytes: percentiles(&pss, &[0.5]).map(|v| v[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(target: &str, phase: &str, latency: u64, valid: bool) -> Sample {
        Sample {
            run_id: "r".into(),
            round: 0,
            target: target.into(),
            family: "process".into(),
            workload: "hello".into(),
            phase: phase.into(),
            instance_id: "i".into(),
            latency_ns: Some(latency),
            compute_ns: Some(1),
            cpu_ns: Some(latency / 2),
            mem_pss_bytes: Some(1 << 20),
            mem_rss_bytes: Some(2 << 20),
            valid,
            error: String::new(),
            accel: "none".into(),
        }
    }

    #[test]
    fn invalid_samples_are_counted_but_kept_out_of_the_figures() {
        let samples = vec![
            sample("a", "cold", 100, true),
            sample("a", "cold", 300, true),
            sample("a", "cold", 1_000_000, false),
            sample("a", "warm", 10, true),
        ];
        let rows = summarize(&samples, &["a".into()], &["hello".into()], 1);
        assert_eq!(rows.len(), 2);
        let cold = &rows[0];
        assert_eq!(
            (cold.phase.as_str(), cold.n, cold.n_invalid),
            ("cold", 2, 1)
        );
        assert_eq!(cold.max_ns, Some(300));
        assert_eq!(cold.mean_ns, Some(200));
        assert_eq!(rows[1].phase, "warm");
    }

    #[test]
    fn a_group_of_only_failures_has_no_figures() {
        let rows = summarize(&[sample("a", "cold", 5, false)], &[], &[], 1);
        assert_eq!((rows[0].n, rows[0].n_invalid, rows[0].p50_ns), (0, 1, None));
    }
}
