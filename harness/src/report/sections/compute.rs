//! Compute time per implementation: the instances' own time per workload.

use serde::Serialize;

use crate::report::figures::{Clock, ComputeFigure, Figures};
use crate::units::human_ns;
use crate::vocab::Phase;

/// Median compute time an instance reported, per (target, workload).
#[derive(Debug, Serialize, Clone)]
pub struct ComputeRow {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// The median, with what limits it and which samples it is of.
    pub p50: String,
}

/// One row per (target, workload) with a median.
pub fn build(f: &Figures) -> Vec<ComputeRow> {
    f.compute
        .iter()
        .map(|c| ComputeRow {
            target: c.target.clone(),
            workload: c.workload.clone(),
            p50: median(c) + &marks(c, f.emulated.contains(&c.target)),
        })
        .collect()
}

fn median(c: &ComputeFigure) -> String {
    match c.clock {
        Clock::BelowTick { tick_ns } => format!("< {} (clock resolution)", human_ns(tick_ns)),
        Clock::NearTick { tick_ns } => {
            format!("{} (± {} clock)", human_ns(c.p50_ns), human_ns(tick_ns))
        }
        Clock::Fine => human_ns(c.p50_ns),
    }
}

/// " (cold, TCG: emulated)": what sets the figure apart, if anything.
fn marks(c: &ComputeFigure, emulated: bool) -> String {
    let marks: Vec<&str> = [
        c.from_cold.then_some(Phase::Cold.as_str()),
        emulated.then_some("TCG: emulated"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if marks.is_empty() {
        String::new()
    } else {
        format!(" ({})", marks.join(", "))
    }
}
