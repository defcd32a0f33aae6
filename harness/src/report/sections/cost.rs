//! Cost per million invocations: the priced figures, and where the prices
//! come from.

use serde::Serialize;

use super::{bytes_or_dash, ns_or_dash, NONE};
use crate::report::cost::{CostFigure, Prices};
use crate::units::human_ns;

/// Dollars per million invocations under each model.
#[derive(Debug, Serialize)]
pub struct CostRow {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// One cell per model, formatted.
    pub cells: Vec<String>,
    /// The measured inputs, formatted.
    pub basis: String,
}

/// One row per priced (target, workload).
pub fn rows(costs: &[CostFigure]) -> Vec<CostRow> {
    costs
        .iter()
        .map(|c| CostRow {
            target: c.usage.target.clone(),
            workload: c.usage.workload.clone(),
            cells: c
                .dollars
                .iter()
                .map(|d| d.map_or_else(|| NONE.into(), |d| format!("${d:.2}")))
                .collect(),
            basis: format!(
                "{} a request, {} CPU, {} memory",
                human_ns(c.usage.duration_ns),
                ns_or_dash(c.usage.cpu_ns),
                bytes_or_dash(c.usage.memory_bytes)
            ),
        })
        .collect()
}

/// The billing models' names, in cell order, with their sources.
pub fn models(prices: &Prices) -> Vec<(String, String)> {
    prices
        .models
        .iter()
        .map(|m| (m.name.clone(), m.source.clone()))
        .collect()
}

/// When and how the prices were read.
pub fn read(prices: &Prices) -> String {
    format!("prices read on {}, {}", prices.read_on, prices.how_read)
}
