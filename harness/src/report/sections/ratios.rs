//! Against the baseline: each target's paired ratios, per workload.

use serde::Serialize;

use super::NONE;
use crate::report::figures::{ComputeRatio, Figures, Paired, TIMER_FLOOR_NS};
use crate::units::human_ns;

/// How a target compares with the baseline on one workload: the median of
/// per-round ratios (both measured in the same round) with a 95% CI.
#[derive(Debug, Serialize)]
pub struct Ratio {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Cold p50 ÷ baseline cold p50.
    pub cold: String,
    /// Warm p50 ÷ baseline warm p50.
    pub warm: String,
    /// Compute p50 ÷ baseline compute p50.
    pub compute: String,
}

/// One row per (target, workload) compared.
pub fn build(f: &Figures) -> Vec<Ratio> {
    f.ratios
        .iter()
        .map(|r| Ratio {
            target: r.target.clone(),
            workload: r.workload.clone(),
            cold: paired(r.cold),
            warm: paired(r.warm),
            compute: match r.compute {
                ComputeRatio::BelowClock { floor_ns, tick_ns } => format!(
                    "– (below {}: the instance's clock ticks in {})",
                    human_ns(floor_ns),
                    human_ns(tick_ns)
                ),
                ComputeRatio::BelowTimerFloor => format!(
                    "– (below {}: timer overhead, not compute)",
                    human_ns(TIMER_FLOOR_NS)
                ),
                ComputeRatio::Paired(p) => paired(p),
            },
        })
        .collect()
}

fn paired(p: Option<Paired>) -> String {
    p.map_or_else(
        || NONE.into(),
        |p| {
            let mut text = format!(
                "{:.2}× ({:.2}–{:.2}, {} rounds; rounds' quartiles {:.2}–{:.2})",
                p.median, p.lo, p.hi, p.rounds, p.q1, p.q3
            );
            if p.disturbed > 0 {
                text.push_str(&format!(
                    " ⚠ baseline disturbed in {} round{}",
                    p.disturbed,
                    if p.disturbed == 1 { "" } else { "s" }
                ));
            }
            text
        },
    )
}
