//! The headline: per (target, workload), the figures a reader looks for first.

use serde::Serialize;

use super::{bytes_or_dash, fitted_bytes_or_dash, ns_or_dash, NONE};
use crate::report::figures::{Figures, HeadlineFigure};
use crate::units::human_ns;

/// Headline figures of one (target, workload).
#[derive(Debug, Serialize)]
pub struct Headline {
    /// Target.
    pub target: String,
    /// Family.
    pub family: String,
    /// Workload.
    pub workload: String,
    /// Cold p50 with its CI, formatted.
    pub cold: String,
    /// Warm p50.
    pub warm: String,
    /// Host-cold p50.
    pub host_cold: String,
    /// Restore p50.
    pub restore: String,
    /// CPU of a cold start (p50).
    pub cold_cpu: String,
    /// PSS after the first response (p50).
    pub pss: String,
    /// Memory per tenant from the density fit.
    pub per_tenant: String,
    /// Valid samples per phase (cold / warm / host-cold / restore), and flagged ones.
    pub counts: String,
    /// Accelerator, if any.
    pub accel: String,
}

/// The headline rows.
pub fn build(f: &Figures) -> Vec<Headline> {
    f.headline.iter().map(row).collect()
}

fn row(h: &HeadlineFigure) -> Headline {
    let cold = h.cold.and_then(|r| {
        Some(format!(
            "{} ({}–{})",
            human_ns(r.p50_ns?),
            human_ns(r.ci95_lo_ns?),
            human_ns(r.ci95_hi_ns?)
        ))
    });
    let n = [h.cold, h.warm, h.host_cold, h.restore]
        .map(|r| r.map_or_else(|| NONE.to_string(), |r| r.n.to_string()))
        .join(" / ");
    Headline {
        target: h.target.clone(),
        family: h.family.clone(),
        workload: h.workload.clone(),
        cold: cold.unwrap_or_else(|| NONE.into()),
        warm: ns_or_dash(h.warm.and_then(|r| r.p50_ns)),
        host_cold: ns_or_dash(h.host_cold.and_then(|r| r.p50_ns)),
        restore: ns_or_dash(h.restore.and_then(|r| r.p50_ns)),
        cold_cpu: ns_or_dash(h.cold.and_then(|r| r.cpu_p50_ns)),
        pss: bytes_or_dash(h.cold.and_then(|r| r.mem_pss_p50_bytes)),
        per_tenant: fitted_bytes_or_dash(h.per_tenant_bytes),
        counts: match h.flagged {
            0 => n,
            bad => format!("{n} ({bad} flagged)"),
        },
        accel: h.accel.clone(),
    }
}
