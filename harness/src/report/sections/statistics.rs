//! All statistics: summary.csv's rows in human units.

use serde::Serialize;

use super::{bytes_or_dash, ns_or_dash};
use crate::report::figures::Figures;
use crate::results::SummaryRow;

/// summary.csv row with human units.
#[derive(Debug, Serialize)]
pub struct SummaryView {
    /// The raw row.
    pub row: SummaryRow,
    /// p50, p90, p99, max, mean, CI low, CI high, CPU p50, PSS p50.
    pub cells: Vec<String>,
    /// Valid samples more than 3.5 robust z-scores from the median (kept).
    pub outliers: usize,
}

/// One view per summary row, in summary.csv's order.
pub fn build(f: &Figures) -> Vec<SummaryView> {
    f.rows
        .iter()
        .zip(&f.outliers)
        .map(|(r, &outliers)| {
            let times = [
                r.p50_ns,
                r.p90_ns,
                r.p99_ns,
                r.max_ns,
                r.mean_ns,
                r.ci95_lo_ns,
                r.ci95_hi_ns,
                r.cpu_p50_ns,
            ];
            let mut cells: Vec<String> = times.into_iter().map(ns_or_dash).collect();
            cells.push(bytes_or_dash(r.mem_pss_p50_bytes));
            SummaryView {
                row: r.clone(),
                cells,
                outliers,
            }
        })
        .collect()
}
