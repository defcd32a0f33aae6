//! Target-specific figures: measures.csv's medians, each in its unit.

use serde::Serialize;

use crate::report::figures::MeasureFigure;
use crate::units;

/// The median of one target-specific figure.
#[derive(Debug, Serialize, Clone)]
pub struct MeasureView {
    /// Target.
    pub target: String,
    /// Phase.
    pub phase: String,
    /// The figure's name (its unit is in the name).
    pub measure: String,
    /// The workload, for a figure that depends on it.
    pub workload: Option<String>,
    /// Median over valid samples, formatted by its unit.
    pub median: String,
    /// Samples it covers.
    pub n: usize,
}

/// One row per median.
pub fn build(medians: &[MeasureFigure]) -> Vec<MeasureView> {
    medians
        .iter()
        .map(|m| MeasureView {
            target: m.target.clone(),
            phase: m.phase.clone(),
            measure: m.measure.clone(),
            workload: m.workload.clone(),
            median: units::by_suffix(&m.measure, m.median),
            n: m.n,
        })
        .collect()
}
