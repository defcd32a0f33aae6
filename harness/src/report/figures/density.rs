//! Density: a least-squares line through each target's sweep of idle
//! instances, and what it says per tenant.

use crate::density::{fit, Fit};
use crate::results::DensityRow;

/// Below this R² the fit is noted as weak: per-tenant memory is small
/// against the noise of the whole's memory.
pub const GOOD_FIT_R2: f64 = 0.95;

/// The density fit of one target.
#[derive(Clone, Debug)]
pub struct DensityFigure {
    /// Target.
    pub target: String,
    /// Family, from its first step.
    pub family: String,
    /// Measured under emulation (TCG).
    pub emulated: bool,
    /// (tenants, bytes) as measured, in sweep order.
    pub series: Vec<(u32, u64)>,
    /// The fit; `None` with fewer than two steps.
    pub fit: Option<Fit>,
    /// The slope, never below zero: memory per tenant.
    pub per_tenant_bytes: Option<f64>,
    /// The intercept, never below zero: the shared baseline.
    pub intercept_bytes: Option<f64>,
    /// Tenants per GiB by the fit.
    pub per_gib: Option<f64>,
    /// R² below [`GOOD_FIT_R2`].
    pub weak: bool,
}

/// One figure per target with density rows, targets in report order
/// (others after them).
pub(super) fn figures(
    rows: &[DensityRow],
    targets: &[String],
    emulated: &[String],
) -> Vec<DensityFigure> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.target.as_str()) {
            names.push(&r.target);
        }
    }
    names.sort_by_key(|n| targets.iter().position(|t| t == n).unwrap_or(usize::MAX));
    names
        .into_iter()
        .map(|name| {
            let mine: Vec<&DensityRow> = rows.iter().filter(|r| r.target == name).collect();
            let points: Vec<(f64, f64)> = mine
                .iter()
                .map(|r| (r.tenants as f64, r.memory_bytes as f64))
                .collect();
            let fit = fit(&points);
            DensityFigure {
                target: name.to_string(),
                family: mine[0].family.clone(),
                emulated: emulated.iter().any(|t| t == name),
                series: mine.iter().map(|r| (r.tenants, r.memory_bytes)).collect(),
                per_tenant_bytes: fit.as_ref().map(|f| f.slope.max(0.0)),
                intercept_bytes: fit.as_ref().map(|f| f.intercept.max(0.0)),
                per_gib: fit.as_ref().and_then(Fit::tenants_per_gib),
                weak: fit.as_ref().is_some_and(|f| f.r2 < GOOD_FIT_R2),
                fit,
            }
        })
        .collect()
}
