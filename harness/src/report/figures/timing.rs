//! The instances' own compute times, how far the clocks that timed them can
//! be trusted, and each target against the baseline, round by round.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{valid, BASELINE};
use crate::results::{RunInfo, Sample};
use crate::stats;
use crate::vocab::Phase;

/// Compute times below this are mostly the cost of reading the clock (a
/// hello's compute is a few hundred ns): no ratio is drawn from them.
pub const TIMER_FLOOR_NS: u64 = 10_000;

/// A median under this many ticks of its clock is mostly the tick.
const TRUSTED_TICKS: u64 = 10;

/// Mixed into the run's seed so that the ratios' bootstrap draws differ
/// from the summaries' (and stay the same from one render to the next).
const RATIO_SEED: u64 = 0x5a17;

/// How a compute median sits against the clock that timed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Many ticks long, or the clock is not known to be coarse.
    Fine,
    /// Shorter than one tick: the figure says nothing but "under a tick".
    BelowTick {
        /// The clock's tick.
        tick_ns: u64,
    },
    /// Within [`TRUSTED_TICKS`] ticks: the tick is its error.
    NearTick {
        /// The clock's tick.
        tick_ns: u64,
    },
}

impl Clock {
    /// The tick, when it matters to the figure.
    pub fn coarse_tick_ns(self) -> Option<u64> {
        match self {
            Clock::Fine => None,
            Clock::BelowTick { tick_ns } | Clock::NearTick { tick_ns } => Some(tick_ns),
        }
    }
}

/// Median compute time an instance reported, per (target, workload).
#[derive(Clone, Debug)]
pub struct ComputeFigure {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Median `compute_ns` over valid warm samples (cold when there are none).
    pub p50_ns: u64,
    /// Whether the median is of cold samples (the target has no warm ones).
    pub from_cold: bool,
    /// The median against the target's clock.
    pub clock: Clock,
}

/// The median of per-round ratios with its bootstrap 95% CI.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// Median ratio.
    pub median: f64,
    /// CI low.
    pub lo: f64,
    /// CI high.
    pub hi: f64,
    /// Rounds in which both targets were measured.
    pub rounds: usize,
    /// The rounds' ratios' quartiles: how far one round's ratio strays.
    pub q1: f64,
    /// Upper quartile.
    pub q3: f64,
    /// Rounds in which the baseline's sample was disturbed (its cell
    /// started before the machine was quiet, or it was flagged for
    /// background CPU): their ratios are in, marked.
    pub disturbed: usize,
}

/// The baseline's disturbed (workload, phase, round)s.
pub(crate) type Disturbed = std::collections::BTreeSet<(String, String, u32)>;

/// Compute ÷ baseline compute, or why there is none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ComputeRatio {
    /// The target's clock is too coarse for its compute median.
    BelowClock {
        /// The shortest median the clock resolves well enough.
        floor_ns: u64,
        /// The clock's tick.
        tick_ns: u64,
    },
    /// Either median is under [`TIMER_FLOOR_NS`].
    BelowTimerFloor,
    /// The paired ratio; `None` where no round had both.
    Paired(Option<Paired>),
}

/// How a target compares with the baseline on one workload.
#[derive(Clone, Debug)]
pub struct RatioFigure {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Cold latency ÷ the baseline's.
    pub cold: Option<Paired>,
    /// Warm latency ÷ the baseline's.
    pub warm: Option<Paired>,
    /// Compute ÷ the baseline's.
    pub compute: ComputeRatio,
}

/// Each target's clock tick, where it is known or seen to be coarse.
pub(super) fn clocks(run: &RunInfo, samples: &[Sample]) -> BTreeMap<String, u64> {
    run.targets
        .iter()
        .filter_map(|t| {
            let tick =
                clock_resolution_ns(&t.facts).or_else(|| apparent_tick_ns(samples, &t.name))?;
            Some((t.name.clone(), tick))
        })
        .collect()
}

/// The resolution of the clock an instance times its compute with, where the
/// target reports it (a host's health answer): coarse clocks (workerd's
/// `performance.now()` moves in whole milliseconds) make small figures zero.
fn clock_resolution_ns(facts: &serde_json::Map<String, serde_json::Value>) -> Option<u64> {
    facts
        .get("host_health")?
        .get("clock_resolution_ns")?
        .as_u64()
        .filter(|&r| r >= 1000)
}

/// The tick of a clock the target did not report, seen in its figures: when
/// every `compute_ns` it gave (at least ten, some non-zero) is a whole number
/// of milliseconds, its clock moves in milliseconds (workerd's
/// `performance.now()` in a workerd of its own).
fn apparent_tick_ns(samples: &[Sample], target: &str) -> Option<u64> {
    const MS: u64 = 1_000_000;
    let values: Vec<u64> = samples
        .iter()
        .filter(|s| s.target == target && s.valid)
        .filter_map(|s| s.compute_ns)
        .collect();
    let whole_ms = values.iter().any(|&v| v > 0) && values.iter().all(|v| v % MS == 0);
    (values.len() >= 10 && whole_ms).then_some(MS)
}

/// Median compute per (target, workload) with a median, in target order.
pub(super) fn compute_figures(
    samples: &[Sample],
    targets: &[String],
    workloads: &[String],
    clocks: &BTreeMap<String, u64>,
) -> Vec<ComputeFigure> {
    let mut out = Vec::new();
    for t in targets {
        for w in workloads {
            let of = |phase: Phase| -> Vec<u64> {
                valid(samples, t, w, phase.as_str())
                    .filter_map(|s| s.compute_ns)
                    .collect()
            };
            // Warm where there is a warm phase: a cold sample's compute may
            // include a JIT's first pass.
            let warm = of(Phase::Warm);
            let from_cold = warm.is_empty();
            let values = if from_cold { of(Phase::Cold) } else { warm };
            let Some(p50_ns) = stats::median(&values) else {
                continue;
            };
            let clock = match clocks.get(t) {
                Some(&tick_ns) if p50_ns < tick_ns => Clock::BelowTick { tick_ns },
                Some(&tick_ns) if p50_ns < TRUSTED_TICKS * tick_ns => Clock::NearTick { tick_ns },
                _ => Clock::Fine,
            };
            out.push(ComputeFigure {
                target: t.clone(),
                workload: w.clone(),
                p50_ns,
                from_cold,
                clock,
            });
        }
    }
    out
}

/// Every native target against [`BASELINE`] on every workload; none when
/// the baseline was not measured. One generator serves every ratio in this
/// order, so the same run always gives the same intervals.
pub(super) fn ratios(
    samples: &[Sample],
    targets: &[String],
    workloads: &[String],
    emulated: &[String],
    compute: &[ComputeFigure],
    disturbed: &Disturbed,
    seed: u64,
) -> Vec<RatioFigure> {
    let mut out = Vec::new();
    if !targets.iter().any(|t| t == BASELINE) {
        return out;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ RATIO_SEED);
    let compared = targets
        .iter()
        .filter(|t| *t != BASELINE && !emulated.contains(t));
    for t in compared {
        for w in workloads {
            let mut paired = |value: fn(&Sample) -> Option<u64>, phase: Phase| {
                let keyed = keyed_round_pairs(samples, t, w, phase, value);
                let pairs: Vec<(f64, f64)> = keyed.iter().map(|(_, p)| *p).collect();
                let mut each: Vec<f64> = pairs
                    .iter()
                    .filter(|(_, b)| *b > 0.0)
                    .map(|(a, b)| a / b)
                    .collect();
                stats::sort(&mut each);
                let quartile = |q| stats::quantile_sorted(&each, q, stats::Rank::Nearest);
                let hit =
                    |r: &u32| disturbed.contains(&(w.clone(), phase.as_str().to_string(), *r));
                let rounds_disturbed = keyed.iter().filter(|(r, _)| hit(r)).count();
                stats::paired_ratio(&pairs, &mut rng, stats::BOOTSTRAP_RESAMPLES).map(
                    |(median, lo, hi)| Paired {
                        median,
                        lo,
                        hi,
                        rounds: pairs.len(),
                        q1: quartile(0.25).unwrap_or(median),
                        q3: quartile(0.75).unwrap_or(median),
                        disturbed: rounds_disturbed,
                    },
                )
            };
            let of = |target: &str| {
                compute
                    .iter()
                    .find(|c| c.target == target && c.workload == *w)
            };
            let (mine, base) = (of(t), of(BASELINE));
            // The same samples as the compute figure: warm, or cold where
            // every request is a new instance.
            let phase = match mine {
                Some(c) if c.from_cold => Phase::Cold,
                _ => Phase::Warm,
            };
            let compute = match (mine.and_then(|c| c.clock.coarse_tick_ns()), mine, base) {
                (Some(tick_ns), _, _) => ComputeRatio::BelowClock {
                    floor_ns: TRUSTED_TICKS * tick_ns,
                    tick_ns,
                },
                (_, Some(m), Some(b)) if m.p50_ns.min(b.p50_ns) < TIMER_FLOOR_NS => {
                    ComputeRatio::BelowTimerFloor
                }
                _ => ComputeRatio::Paired(paired(|s| s.compute_ns, phase)),
            };
            // Drawn after the compute ratio: the generator's order is part
            // of what the seed reproduces.
            let cold = paired(|s| s.latency_ns, Phase::Cold);
            let warm = paired(|s| s.latency_ns, Phase::Warm);
            out.push(RatioFigure {
                target: t.clone(),
                workload: w.clone(),
                cold,
                warm,
                compute,
            });
        }
    }
    out
}

/// Per-round values of `target` and the baseline in `phase` of `workload`
/// (the median when a round has several), paired by round.
pub(crate) fn round_pairs(
    samples: &[Sample],
    target: &str,
    workload: &str,
    phase: Phase,
    value: fn(&Sample) -> Option<u64>,
) -> Vec<(f64, f64)> {
    keyed_round_pairs(samples, target, workload, phase, value)
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// [`round_pairs`] with the round of each pair.
fn keyed_round_pairs(
    samples: &[Sample],
    target: &str,
    workload: &str,
    phase: Phase,
    value: fn(&Sample) -> Option<u64>,
) -> Vec<(u32, (f64, f64))> {
    let per_round = |t: &str| -> BTreeMap<u32, u64> {
        let mut by_round: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for s in valid(samples, t, workload, phase.as_str()) {
            if let Some(v) = value(s) {
                by_round.entry(s.round).or_default().push(v);
            }
        }
        by_round
            .into_iter()
            .filter_map(|(r, v)| Some((r, stats::median(&v)?)))
            .collect()
    };
    let (mine, base) = (per_round(target), per_round(BASELINE));
    mine.iter()
        .filter_map(|(r, &v)| Some((*r, (v as f64, *base.get(r)? as f64))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn computed(target: &str, ns: &[u64]) -> Vec<Sample> {
        ns.iter()
            .map(|&v| Sample {
                run_id: "r".into(),
                round: 0,
                target: target.into(),
                family: "isolate".into(),
                workload: "hello".into(),
                phase: "warm".into(),
                instance_id: "i".into(),
                latency_ns: Some(v + 1),
                compute_ns: Some(v),
                valid: true,
                accel: "none".into(),
                ..Sample::default()
            })
            .collect()
    }

    #[test]
    fn a_millisecond_clock_is_seen_in_its_figures() {
        let ms = [
            0,
            0,
            1_000_000,
            0,
            2_000_000,
            0,
            0,
            1_000_000,
            0,
            0,
            980_000_000,
        ];
        assert_eq!(apparent_tick_ns(&computed("w", &ms), "w"), Some(1_000_000));
        let fine = [
            0,
            0,
            1_000_000,
            0,
            2_000_000,
            0,
            0,
            1_000_000,
            0,
            0,
            980_000_123,
        ];
        assert_eq!(apparent_tick_ns(&computed("w", &fine), "w"), None);
        assert_eq!(
            apparent_tick_ns(&computed("w", &[0; 12]), "w"),
            None,
            "all zero"
        );
        assert_eq!(
            apparent_tick_ns(&computed("w", &ms[..5]), "w"),
            None,
            "too few"
        );
    }

    #[test]
    fn a_compute_median_near_a_coarse_tick_has_no_ratio() {
        let clocks = BTreeMap::from([("w".to_string(), 1_000_000)]);
        let mut samples = computed("w", &[3_000_000; 5]);
        samples.extend(computed(BASELINE, &[3_000_000; 5]));
        let targets = ["w".to_string(), BASELINE.to_string()];
        let workloads = ["hello".to_string()];
        let compute = compute_figures(&samples, &targets, &workloads, &clocks);
        assert_eq!(compute[0].clock, Clock::NearTick { tick_ns: 1_000_000 });
        assert_eq!(compute[1].clock, Clock::Fine);
        let ratios = ratios(
            &samples,
            &targets,
            &workloads,
            &[],
            &compute,
            &Disturbed::new(),
            1,
        );
        assert_eq!(
            ratios[0].compute,
            ComputeRatio::BelowClock {
                floor_ns: 10_000_000,
                tick_ns: 1_000_000
            }
        );
    }

    #[test]
    fn a_ratio_carries_its_rounds_quartiles_and_the_rounds_its_baseline_was_disturbed() {
        let cold = |target: &str, round: u32, ns: u64| Sample {
            run_id: "r".into(),
            round,
            target: target.into(),
            family: "process".into(),
            workload: "hello".into(),
            phase: "cold".into(),
            instance_id: format!("{target}-{round}"),
            latency_ns: Some(ns),
            valid: true,
            ..Sample::default()
        };
        let mut samples = Vec::new();
        for (round, ratio) in [2u64, 3, 4, 5].into_iter().enumerate() {
            samples.push(cold(BASELINE, round as u32, 1_000));
            samples.push(cold("w", round as u32, 1_000 * ratio));
        }
        let targets = ["w".to_string(), BASELINE.to_string()];
        let workloads = ["hello".to_string()];
        let disturbed = Disturbed::from([("hello".to_string(), "cold".to_string(), 2)]);
        let r = ratios(&samples, &targets, &workloads, &[], &[], &disturbed, 1);
        let p = r[0].cold.unwrap();
        assert_eq!((p.rounds, p.disturbed), (4, 1));
        assert_eq!(
            (p.q1, p.q3),
            (3.0, 4.0),
            "nearest-rank quartiles of 2, 3, 4, 5"
        );
        assert!(p.q1 <= p.median && p.median <= p.q3);
    }
}
