//! Density: each target's fit of memory against idle instances.

use serde::Serialize;

use super::{fitted_bytes_or_dash, NONE};
use crate::report::figures::{DensityFigure, Figures, GOOD_FIT_R2};
use crate::units::human_bytes;

/// The density fit of one target.
#[derive(Debug, Serialize)]
pub struct DensityView {
    /// Target.
    pub target: String,
    /// Measured under emulation (TCG).
    pub emulated: bool,
    /// Family.
    pub family: String,
    /// (tenants, memory) as measured, formatted.
    pub points: String,
    /// Slope: memory per tenant.
    pub per_tenant: String,
    /// Intercept: the shared baseline.
    pub baseline: String,
    /// R².
    pub r2: String,
    /// Tenants per GiB at the slope.
    pub per_gib: String,
    /// Why R² is low, when it is.
    pub note: String,
}

/// One row per target with a sweep, in target order.
pub fn build(f: &Figures) -> Vec<DensityView> {
    f.density.iter().map(view).collect()
}

fn view(d: &DensityFigure) -> DensityView {
    let note = match &d.fit {
        None => "fewer than two steps: no fit".to_string(),
        Some(fit) if d.weak => format!(
            "R² {:.2} < {GOOD_FIT_R2}: per-tenant memory is small against the noise of the whole's memory (page sharing, allocator, lazy frees)",
            fit.r2
        ),
        Some(_) => String::new(),
    };
    DensityView {
        target: d.target.clone(),
        emulated: d.emulated,
        family: d.family.clone(),
        points: d
            .series
            .iter()
            .map(|&(tenants, bytes)| format!("{tenants}: {}", human_bytes(bytes)))
            .collect::<Vec<_>>()
            .join(", "),
        per_tenant: fitted_bytes_or_dash(d.per_tenant_bytes),
        baseline: fitted_bytes_or_dash(d.intercept_bytes),
        r2: d
            .fit
            .as_ref()
            .map_or_else(|| NONE.into(), |fit| format!("{:.3}", fit.r2)),
        per_gib: d.per_gib.map_or_else(|| NONE.into(), |n| format!("{n:.0}")),
        note,
    }
}
