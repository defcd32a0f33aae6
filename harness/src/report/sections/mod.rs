//! The report's sections, one builder per section: each formats figures
//! (`super::figures`) into the rows the page and the summary show, and
//! computes nothing of its own.

pub mod comparison;
pub mod compute;
pub mod cost;
pub mod density;
pub mod environment;
pub mod headline;
pub mod measures;
pub mod ratios;
pub mod restore;
pub mod seeds;
pub mod statistics;
pub mod targets;

use crate::units::{human_bytes, human_ns};

/// What a cell holds when there is no figure.
const NONE: &str = "–";

/// A time, or the empty cell.
fn ns_or_dash(v: Option<u64>) -> String {
    v.map_or_else(|| NONE.into(), human_ns)
}

/// A size, or the empty cell.
fn bytes_or_dash(v: Option<u64>) -> String {
    v.map_or_else(|| NONE.into(), human_bytes)
}

/// A size computed as a fraction (a slope, an intercept), whole bytes.
fn fitted_bytes_or_dash(v: Option<f64>) -> String {
    bytes_or_dash(v.map(|b| b as u64))
}
