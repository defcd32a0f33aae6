//! Summaries computed from the raw samples: percentiles from an HDR histogram
//! and a bootstrap 95% confidence interval of the median. Only valid samples
//! enter the statistics; invalid and failed ones are counted beside them.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::results::Sample;

/// Resamples drawn for each bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

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

/// One row of summary.csv: a (target, workload, phase), DESIGN.md's columns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SummaryRow {
    /// Target name.
    pub target: String,
    /// Family.
    pub family: String,
    /// Workload.
    pub workload: String,
    /// Phase.
    pub phase: String,
    /// Valid samples: the ones the statistics use.
    pub n: u64,
    /// Samples kept but flagged invalid or failed.
    pub n_invalid: u64,
    /// Median latency.
    pub p50_ns: Option<u64>,
    /// 90th percentile.
    pub p90_ns: Option<u64>,
    /// 99th percentile.
    pub p99_ns: Option<u64>,
    /// Largest.
    pub max_ns: Option<u64>,
    /// Mean.
    pub mean_ns: Option<u64>,
    /// Lower bound of the bootstrap 95% CI of the median.
    pub ci95_lo_ns: Option<u64>,
    /// Upper bound.
    pub ci95_hi_ns: Option<u64>,
    /// Median CPU time per sample.
    pub cpu_p50_ns: Option<u64>,
    /// Median PSS after the response.
    pub mem_pss_p50_bytes: Option<u64>,
}

/// Percentiles of `values` from an HDR histogram (3 significant digits),
/// clamped to the observed range: a bucket's upper edge may lie above the
/// largest value, and a p99 above the max would be a number nobody measured.
pub fn percentiles(values: &[u64], quantiles: &[f64]) -> Option<Vec<u64>> {
    let (lo, hi) = (*values.iter().min()?, *values.iter().max()?);
    let mut h = Histogram::<u64>::new(3).expect("3 significant digits is a valid precision");
    for &v in values {
        h.record(v.max(1))
            .expect("auto-resizing histogram accepts any u64");
    }
    Some(
        quantiles
            .iter()
            .map(|&q| h.value_at_quantile(q).clamp(lo, hi))
            .collect(),
    )
}

/// The exact median (lower middle for even counts, as a sample value).
pub fn median(values: &[u64]) -> Option<u64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// A percentile bootstrap 95% CI of the median: `resamples` draws with
/// replacement, the 2.5th and 97.5th percentiles of their medians.
pub fn bootstrap_median_ci(
    values: &[u64],
    rng: &mut impl Rng,
    resamples: usize,
) -> Option<(u64, u64)> {
    if values.is_empty() {
        return None;
    }
    let mut medians = Vec::with_capacity(resamples);
    let mut draw = vec![0u64; values.len()];
    for _ in 0..resamples {
        for slot in draw.iter_mut() {
            *slot = values[rng.random_range(0..values.len())];
        }
        medians.push(median(&draw)?);
    }
    medians.sort_unstable();
    let at = |q: f64| medians[((resamples - 1) as f64 * q).round() as usize];
    Some((at(0.025), at(0.975)))
}

/// How many values lie more than 3.5 robust z-scores from the median:
/// |x − median| / (1.4826 · MAD) > 3.5 (Iglewicz and Hoaglin). Outliers are
/// counted and reported, never removed.
pub fn mad_outliers(values: &[u64]) -> usize {
    let Some(m) = median(values) else { return 0 };
    let deviations: Vec<u64> = values.iter().map(|&v| v.abs_diff(m)).collect();
    let mad = median(&deviations).unwrap_or(0) as f64 * 1.4826;
    if mad == 0.0 {
        return 0;
    }
    values
        .iter()
        .filter(|&&v| v.abs_diff(m) as f64 / mad > 3.5)
        .count()
}

/// The median of per-round ratios `a / b` (each pair measured in the same
/// round, so drift hits both) with a bootstrap 95% CI of that median.
pub fn paired_ratio(
    pairs: &[(f64, f64)],
    rng: &mut impl Rng,
    resamples: usize,
) -> Option<(f64, f64, f64)> {
    let mut ratios: Vec<f64> = pairs
        .iter()
        .filter(|(_, b)| *b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    if ratios.is_empty() {
        return None;
    }
    let median_of = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[(v.len() - 1) / 2]
    };
    let mid = median_of(&mut ratios);
    let mut medians = Vec::with_capacity(resamples);
    let mut draw = vec![0.0; ratios.len()];
    for _ in 0..resamples {
        for slot in draw.iter_mut() {
            *slot = ratios[rng.random_range(0..ratios.len())];
        }
        medians.push(median_of(&mut draw));
    }
    medians.sort_by(f64::total_cmp);
    let at = |q: f64| medians[((resamples - 1) as f64 * q).round() as usize];
    Some((mid, at(0.025), at(0.975)))
}

/// Sort key that puts phases in report order.
fn phase_rank(phase: &str) -> u8 {
    match phase {
        "cold" => 0,
        "warm" => 1,
        "host-cold" => 2,
        _ => 3,
    }
}

/// One summary row per (target, workload, phase) present in `samples`;
/// targets and workloads in order of first appearance in `order`, else of the samples.
pub fn summarize(
    samples: &[Sample],
    target_order: &[String],
    workload_order: &[String],
    seed: u64,
) -> Vec<SummaryRow> {
    let rank =
        |list: &[String], name: &str| list.iter().position(|x| x == name).unwrap_or(usize::MAX);
    // (target rank, target, workload rank, workload, phase rank, phase)
    type Key = (usize, String, usize, String, u8, String);
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
    fn percentiles_are_within_hdr_precision() {
        let values: Vec<u64> = (1..=1000).map(|v| v * 1000).collect();
        let p = percentiles(&values, &[0.5, 0.99]).unwrap();
        assert!((p[0] as f64 / 500_000.0 - 1.0).abs() < 0.002, "{p:?}");
        assert!((p[1] as f64 / 990_000.0 - 1.0).abs() < 0.002, "{p:?}");
        assert_eq!(percentiles(&[], &[0.5]), None);
    }

    #[test]
    fn percentiles_never_leave_the_observed_range() {
        let values = [6_816_991u64, 2_981_036, 4_702_207];
        let p = percentiles(&values, &[0.0, 0.99, 1.0]).unwrap();
        assert!(
            p.iter().all(|&v| (2_981_036..=6_816_991).contains(&v)),
            "{p:?}"
        );
    }

    #[test]
    fn the_ci_brackets_the_median_and_narrows_with_more_data() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let few: Vec<u64> = (0..10).map(|i| 100 + i * 10).collect();
        let many: Vec<u64> = (0..1000).map(|i| 100 + (i % 10) * 10).collect();
        let (lo, hi) = bootstrap_median_ci(&few, &mut rng, 500).unwrap();
        let m = median(&few).unwrap();
        assert!(lo <= m && m <= hi, "{lo} {m} {hi}");
        let (lo2, hi2) = bootstrap_median_ci(&many, &mut rng, 500).unwrap();
        assert!(hi2 - lo2 < hi - lo, "{lo2}..{hi2} vs {lo}..{hi}");
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
    fn outliers_are_counted_by_their_distance_from_the_median() {
        let mut values: Vec<u64> = (0..20).map(|i| 1000 + i * 5).collect();
        assert_eq!(mad_outliers(&values), 0);
        values.push(5000);
        assert_eq!(mad_outliers(&values), 1);
        assert_eq!(mad_outliers(&[7, 7, 7]), 0, "no spread, no outlier");
    }

    #[test]
    fn paired_ratios_take_each_round_together() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Drift doubles both targets' times in later rounds: the ratio stays 2.
        let pairs: Vec<(f64, f64)> = (1..=10).map(|r| (2.0 * r as f64, r as f64)).collect();
        let (mid, lo, hi) = paired_ratio(&pairs, &mut rng, 500).unwrap();
        assert_eq!((mid, lo, hi), (2.0, 2.0, 2.0));
        // Pairing matters: the median of the per-round ratios is 0.5, the
        // ratio of the two medians would be 10 / 2 = 5.
        let pairs = [(1.0, 2.0), (10.0, 1.0), (10.0, 20.0)];
        let (mid, _, _) = paired_ratio(&pairs, &mut rng, 500).unwrap();
        assert_eq!(mid, 0.5);
        assert_eq!(paired_ratio(&[(1.0, 0.0)], &mut rng, 10), None);
    }

    #[test]
    fn a_group_of_only_failures_has_no_figures() {
        let rows = summarize(&[sample("a", "cold", 5, false)], &[], &[], 1);
        assert_eq!((rows[0].n, rows[0].n_invalid, rows[0].p50_ns), (0, 1, None));
    }
}
