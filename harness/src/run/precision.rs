//! `--precision`: after the planned rounds, more rounds of the cells whose
//! median is not yet known well enough, as criterion sizes its samples to a
//! target precision. A cell is precise when the bootstrap 95% CI of its cold
//! median, and of its warm median where it has one, is within ±`percent` of
//! that median; it stops sampling then, or at `max_samples` rounds,
//! or when the rounds together have taken `max_time`. Every cell's count and
//! reason go into run.json.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::plan::{Cell, CellKind, Plan, Precision};
use crate::results::Sample;
use crate::stats;
use crate::vocab::Phase;

/// Fewer valid samples than this have no interval worth judging.
const MIN_VALID: usize = 3;

/// Why a cell stopped sampling, or that it has not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// Not yet precise: it gets another round.
    Open,
    /// Precise enough.
    Converged,
    /// Reached the most cold samples a cell may take.
    MaxSamples,
    /// The rounds took the time they may.
    MaxTime,
    /// Too few of its samples were valid to judge (a failing target).
    Failing,
}

/// One (target, workload) cell's count and precision.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CellPrecision {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Rounds it ran in (its instances, each with a cold sample where the
    /// plan records cold), valid or not.
    pub rounds: u32,
    /// Warm samples taken.
    pub warm_samples: u32,
    /// Half-width of the cold median's 95% CI, percent of the median.
    pub cold_ci_pct: Option<f64>,
    /// The same for the warm median.
    pub warm_ci_pct: Option<f64>,
    /// Where it stands.
    pub stopped: Stop,
}

impl CellPrecision {
    /// Does it get another round?
    pub fn open(&self) -> bool {
        self.stopped == Stop::Open
    }

    /// The cell of `plan` that samples it once more.
    pub fn cell(&self, plan: &Plan) -> Cell {
        let index = |list: &[String], name: &str| list.iter().position(|n| n == name);
        let warm = if plan.has(Phase::Warm) {
            (plan.warm_samples / plan.samples.max(1)).max(1)
        } else {
            0
        };
        Cell {
            target: index(&plan.targets, &self.target).unwrap_or(0),
            workload: index(&plan.workloads, &self.workload).unwrap_or(0),
            kind: CellKind::Instance { warm },
        }
    }
}

/// Half-width of the bootstrap 95% CI of the median of `values`, percent of it.
fn ci_pct(values: &[u64], rng: &mut ChaCha8Rng) -> Option<f64> {
    if values.len() < MIN_VALID {
        return None;
    }
    let m = stats::median(values)? as f64;
    let (lo, hi) = stats::bootstrap_median_ci(values, rng, 1000)?;
    (m > 0.0).then(|| (hi as f64 - lo as f64) / 2.0 / m * 100.0)
}

/// Every (target, workload) cell of `plan` against `want`, from the samples
/// so far and the time the rounds have taken.
pub fn assess(
    samples: &[Sample],
    plan: &Plan,
    want: &Precision,
    elapsed: Duration,
) -> Vec<CellPrecision> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0x9e37_79b9);
    let mut out = Vec::new();
    for t in &plan.targets {
        for w in &plan.workloads {
            let of = |phase: Phase| {
                samples.iter().filter(move |s| {
                    &s.target == t && &s.workload == w && s.phase == phase.as_str()
                })
            };
            let latencies = |phase: Phase| -> Vec<u64> {
                of(phase)
                    .filter(|s| s.valid)
                    .filter_map(|s| s.latency_ns)
                    .collect()
            };
            let mut rounds: Vec<u32> = samples
                .iter()
                .filter(|s| {
                    &s.target == t && &s.workload == w && s.phase != Phase::HostCold.as_str()
                })
                .map(|s| s.round)
                .collect();
            rounds.sort_unstable();
            rounds.dedup();
            let rounds = rounds.len() as u32;
            let cold_samples = of(Phase::Cold).count() as u32;
            let warm_samples = of(Phase::Warm).count() as u32;
            let (cold, warm) = (latencies(Phase::Cold), latencies(Phase::Warm));
            let cold_ci_pct = ci_pct(&cold, &mut rng);
            let warm_ci_pct = ci_pct(&warm, &mut rng);
            // A phase the plan records and the cell has samples of must be
            // precise; one it has none of (no warm phase) is not judged.
            let precise =
                |ci: Option<f64>, taken: u32| taken == 0 || ci.is_some_and(|c| c <= want.percent);
            let stopped =
                if precise(cold_ci_pct, cold_samples) && precise(warm_ci_pct, warm_samples) {
                    Stop::Converged
                } else if rounds >= want.max_samples {
                    Stop::MaxSamples
                } else if elapsed >= want.max_time {
                    Stop::MaxTime
                } else if rounds >= plan.samples
                    && (cold.len() + warm.len()) * 2 < (cold_samples + warm_samples) as usize
                {
                    Stop::Failing
                } else {
                    Stop::Open
                };
            out.push(CellPrecision {
                target: t.clone(),
                workload: w.clone(),
                rounds,
                warm_samples,
                cold_ci_pct,
                warm_ci_pct,
                stopped,
            });
        }
    }
    out
}

/// The cells of an extra round: the open ones and, for each workload among
/// them, the baseline's, so that every extra round pairs with the baseline
/// (ratios pair by round); in a seeded order of their own.
pub fn round_of(open: &[CellPrecision], plan: &Plan, baseline: &str, round: usize) -> Vec<Cell> {
    let mut cells: Vec<Cell> = open.iter().map(|c| c.cell(plan)).collect();
    if let Some(b) = plan.targets.iter().position(|t| t == baseline) {
        let workloads: Vec<usize> = cells.iter().map(|c| c.workload).collect();
        for w in workloads {
            if !cells.iter().any(|c| c.target == b && c.workload == w) {
                let template = cells[0];
                cells.push(Cell {
                    target: b,
                    workload: w,
                    ..template
                });
            }
        }
    }
    shuffle(&mut cells, plan.seed, round);
    cells
}

/// The extra round's cells in a seeded order of their own.
fn shuffle(cells: &mut [Cell], seed: u64, round: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (round as u64).rotate_left(32));
    cells.shuffle(&mut rng);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixtures::sample;

    fn plan() -> Plan {
        Plan {
            targets: vec!["process".into()],
            workloads: vec!["hello".into()],
            phases: vec![Phase::Cold],
            samples: 3,
            ..crate::plan::example(1)
        }
    }

    fn cold(latencies: &[u64]) -> Vec<Sample> {
        latencies
            .iter()
            .enumerate()
            .map(|(i, &l)| Sample {
                target: "process".into(),
                workload: "hello".into(),
                latency_ns: Some(l),
                ..sample(i as u32, "cold", l)
            })
            .collect()
    }

    #[test]
    fn a_tight_cell_converges_and_a_spread_one_keeps_sampling_within_its_bounds() {
        let want = Precision {
            percent: 5.0,
            max_samples: 10,
            max_time: Duration::from_secs(60),
        };
        let p = plan();
        let tight = cold(&[1000, 1001, 1002, 999, 1000, 1001]);
        let a = assess(&tight, &p, &want, Duration::ZERO);
        assert_eq!(a[0].stopped, Stop::Converged, "{a:?}");
        assert!(a[0].cold_ci_pct.unwrap() <= 5.0);

        let spread = cold(&[1000, 3000, 500, 2000]);
        let a = assess(&spread, &p, &want, Duration::ZERO);
        assert_eq!(a[0].stopped, Stop::Open, "{a:?}");
        assert_eq!(a[0].cell(&p).target, 0);
        let a = assess(&spread, &p, &want, Duration::from_secs(61));
        assert_eq!(a[0].stopped, Stop::MaxTime);
        let many = cold(&[1000, 3000, 500, 2000, 1000, 3000, 500, 2000, 900, 2900]);
        assert_eq!(
            assess(&many, &p, &want, Duration::ZERO)[0].stopped,
            Stop::MaxSamples
        );
    }

    #[test]
    fn a_cell_whose_samples_mostly_fail_stops_instead_of_sampling_forever() {
        let want = Precision {
            percent: 5.0,
            max_samples: 100,
            max_time: Duration::from_secs(60),
        };
        let mut failing = cold(&[1000, 2000, 3000, 4000]);
        for s in &mut failing[1..] {
            s.valid = false;
        }
        let a = assess(&failing, &plan(), &want, Duration::ZERO);
        assert_eq!(a[0].stopped, Stop::Failing, "{a:?}");
    }
}
