//! The start kinds ([`crate::report::restore`]) as the page and the summary
//! show them: per target, cold beside restore, and the published anchors.

use serde::Serialize;

use super::{bytes_or_dash, ns_or_dash, NONE};
use crate::report::figures::Figures;
use crate::report::restore::{self, StartKinds};
use crate::units::{human_bytes, human_ns};

/// One target's row.
#[derive(Debug, Serialize)]
pub struct StartKindRow {
    /// Target.
    pub target: String,
    /// How it restores.
    pub mechanism: String,
    /// Emulated (TCG): shown, with its speed-up, but said.
    pub emulated: bool,
    /// Cold p50 (95% CI).
    pub cold: String,
    /// Restore p50 (95% CI).
    pub restore: String,
    /// Cold ÷ restore.
    pub speedup: String,
    /// CPU per start, cold / restore.
    pub cpu: String,
    /// Memory after the first answer (PSS), cold / restore.
    pub memory: String,
    /// The host's own instantiation, cold / restore, where it times it; or
    /// a restored VM's "guest running again" moment.
    pub inside: String,
    /// The snapshot: size, and time to make it.
    pub snapshot: String,
    /// Valid samples, cold / restore.
    pub n: String,
}

/// One anchor's row.
#[derive(Debug, Serialize)]
pub struct AnchorRow {
    /// Mechanism.
    pub mechanism: String,
    /// As published.
    pub figure: String,
    /// What it compares.
    pub compares: String,
    /// Source.
    pub source: String,
    /// The nearest figure here.
    pub measured: String,
}

fn p50_ci(r: Option<&crate::results::SummaryRow>) -> String {
    let Some(r) = r else { return NONE.into() };
    match (r.p50_ns, r.ci95_lo_ns, r.ci95_hi_ns) {
        (Some(m), Some(lo), Some(hi)) => {
            format!("{} ({}–{})", human_ns(m), human_ns(lo), human_ns(hi))
        }
        (m, _, _) => ns_or_dash(m),
    }
}

fn times(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.into(), |x| format!("{x:.1}×"))
}

fn pair(a: String, b: String) -> String {
    format!("{a} / {b}")
}

fn row(k: &StartKinds) -> StartKindRow {
    let inside = match (k.instantiate, k.resumed) {
        ((Some(c), Some(r)), _) => format!(
            "instantiation {} / {} ({})",
            human_ns(c),
            human_ns(r),
            times(k.instantiate_speedup())
        ),
        (_, Some(resumed)) => format!("guest running again at {}", human_ns(resumed)),
        _ => NONE.into(),
    };
    StartKindRow {
        target: k.target.clone(),
        mechanism: k.mechanism.clone(),
        emulated: k.emulated,
        cold: p50_ci(k.cold),
        restore: p50_ci(k.restore),
        speedup: times(k.speedup()),
        cpu: pair(
            ns_or_dash(k.cold.and_then(|r| r.cpu_p50_ns)),
            ns_or_dash(k.restore.and_then(|r| r.cpu_p50_ns)),
        ),
        memory: pair(
            bytes_or_dash(k.cold.and_then(|r| r.mem_pss_p50_bytes)),
            bytes_or_dash(k.restore.and_then(|r| r.mem_pss_p50_bytes)),
        ),
        inside,
        snapshot: match (k.snapshot_bytes, k.make_ns) {
            (Some(b), Some(t)) => format!("{} in {}", human_bytes(b), human_ns(t)),
            (b, t) => format!("{} in {}", bytes_or_dash(b), ns_or_dash(t)),
        },
        n: pair(
            k.cold.map_or_else(|| NONE.into(), |r| r.n.to_string()),
            k.restore.map_or_else(|| NONE.into(), |r| r.n.to_string()),
        ),
    }
}

/// The targets' rows.
pub fn build(f: &Figures) -> Vec<StartKindRow> {
    f.restores.iter().map(row).collect()
}

/// The anchors' rows (none when nothing restored).
pub fn anchors(f: &Figures) -> Vec<AnchorRow> {
    if f.restores.is_empty() {
        return Vec::new();
    }
    restore::anchors()
        .iter()
        .map(|a| {
            let show = |v: f64| match a.measured {
                Some(m) if m.is_time() => human_ns(v as u64),
                _ => format!("{v:.1}×"),
            };
            let measured = match (restore::measured(a, &f.restores), &a.target) {
                (Some((v, t)), _) => {
                    let tcg = if f.emulated.contains(&t) {
                        ", TCG: emulated"
                    } else {
                        ""
                    };
                    format!("{} ({t}{tcg}) against {}", show(v), show(a.value))
                }
                (None, Some(t)) => format!("{NONE} ({t}: not restored here)"),
                (None, None) => a.here.clone().unwrap_or_else(|| NONE.into()),
            };
            AnchorRow {
                mechanism: a.mechanism.clone(),
                figure: a.figure.clone(),
                compares: a.compares.clone(),
                source: a.source.clone(),
                measured,
            }
        })
        .collect()
}
