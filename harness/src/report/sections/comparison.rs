//! The comparison page: each family's range, and each claim beside what was
//! measured, in words and units.

use serde::Serialize;

use super::NONE;
use crate::report::comparison::{ClaimFigure, FamilyFigures, Measured, Metric, Spread, Versus};
use crate::units::{self, human_bytes, human_ns};

/// One family's row.
#[derive(Debug, Serialize)]
pub struct FamilyRow {
    /// Family.
    pub family: String,
    /// The implementation the row is over (empty: every one).
    pub implementation: String,
    /// Cold start (hello p50): best … worst, with targets.
    pub cold: String,
    /// Memory per tenant: best … worst.
    pub memory: String,
    /// CPU per warm invocation: best … worst.
    pub cpu: String,
    /// Tenants per GiB at the best memory per tenant.
    pub per_gib: String,
    /// Targets left out of the verdict (emulated).
    pub left_out: String,
}

/// One claim against the measurement.
#[derive(Debug, Serialize)]
pub struct ClaimRow {
    /// Family.
    pub family: String,
    /// The claim.
    pub claim: String,
    /// Source.
    pub source: String,
    /// Claimed, formatted.
    pub claimed: String,
    /// Measured, formatted, with the target it comes from.
    pub measured: String,
    /// measured ÷ claimed, or why not compared.
    pub ratio: String,
}

/// The family table.
pub fn families(families: &[FamilyFigures]) -> Vec<FamilyRow> {
    let ns = |v: f64| human_ns(v as u64);
    let bytes = |v: f64| human_bytes(v as u64);
    families
        .iter()
        .map(|f| FamilyRow {
            family: f.family.clone(),
            implementation: f
                .implementation
                .map(|i| i.as_str().to_string())
                .unwrap_or_default(),
            cold: spread(f.cold.as_ref(), ns),
            memory: spread(f.memory.as_ref(), bytes),
            cpu: spread(f.cpu.as_ref(), ns),
            per_gib: f
                .densest
                .as_ref()
                .map_or_else(|| NONE.into(), |(n, t)| format!("{n:.0} ({t})")),
            left_out: if f.left_out.is_empty() {
                String::new()
            } else {
                format!("{} (emulated: TCG)", f.left_out.join(", "))
            },
        })
        .collect()
}

/// The claims table.
pub fn claims(claims: &[ClaimFigure]) -> Vec<ClaimRow> {
    claims.iter().map(claim).collect()
}

fn claim(f: &ClaimFigure) -> ClaimRow {
    let c = &f.claim;
    let verdict = |versus: Option<Versus>| {
        versus.map_or_else(|| "not compared: emulated".into(), versus_text)
    };
    let (measured, ratio) = match &f.measured {
        Measured::NotMeasured => (NONE.into(), "not measured".into()),
        Measured::Ratio {
            value,
            what,
            versus,
        } => (
            format!(
                "{} ({} ÷ {}, {what})",
                times(*value),
                c.target.as_deref().unwrap_or_default(),
                c.baseline.as_deref().unwrap_or_default()
            ),
            verdict(*versus),
        ),
        Measured::Value {
            value,
            target,
            versus,
        } => {
            let whose = if versus.is_some() {
                target.clone()
            } else {
                format!("{target}, emulated")
            };
            (
                format!("{} ({whose})", value_text(c.metric, *value)),
                verdict(*versus),
            )
        }
    };
    ClaimRow {
        family: c.family.clone(),
        claim: c.claim.clone(),
        source: c.source.clone(),
        claimed: match c.low {
            Some(low) => format!(
                "{} – {}",
                value_text(c.metric, low),
                value_text(c.metric, c.value)
            ),
            None => value_text(c.metric, c.value),
        },
        measured,
        ratio,
    }
}

/// "best (target) … worst (target)", the only one, or the empty cell.
fn spread(s: Option<&Spread>, fmt: impl Fn(f64) -> String) -> String {
    match s {
        Some(Spread {
            best,
            worst: Some(worst),
        }) => format!(
            "{} ({}) … {} ({})",
            fmt(best.0),
            best.1,
            fmt(worst.0),
            worst.1
        ),
        Some(Spread { best, worst: None }) => format!("{} ({})", fmt(best.0), best.1),
        None => NONE.into(),
    }
}

/// A value of `metric`, in its unit.
fn value_text(metric: Metric, v: f64) -> String {
    if metric.is_ratio() {
        times(v)
    } else {
        units::by_suffix(metric.name(), v as u64)
    }
}

/// A ratio between two targets: 3.2×, or 1/18 below one.
fn times(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.1}×")
    } else if v > 0.1 {
        format!("1/{:.1}", 1.0 / v)
    } else if v > 0.0 {
        format!("1/{:.0}", 1.0 / v)
    } else {
        "0".into()
    }
}

fn versus_text(v: Versus) -> String {
    match v {
        Versus::Within => "within the range".into(),
        Versus::OfLowEnd(r) => format!("{} of the low end", ratio_text(r)),
        Versus::OfHighEnd(r) => format!("{} of the high end", ratio_text(r)),
        Versus::Of(r) => ratio_text(r),
    }
}

/// measured ÷ claimed, readable at any size: 0.95, 48, 1/50.
pub(crate) fn ratio_text(r: f64) -> String {
    match r {
        r if r >= 100.0 => format!("{r:.0}"),
        r if r >= 0.1 => format!("{r:.2}"),
        r if r > 0.0 => format!("1/{:.0}", 1.0 / r),
        _ => "0".into(),
    }
}
