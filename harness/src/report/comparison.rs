//! The comparison page: the seed sources' tables, regenerated from what this
//! run measured, with each claimed figure beside ours. Targets that ran under
//! emulation (TCG) are shown, and kept out of every family verdict.

use serde::{Deserialize, Serialize};

use crate::units::{self, human_bytes, human_ns};

const CLAIMS: &str = include_str!("../../data/claims.json");

/// Reads one figure of a target.
type FigureOf = fn(&Figure) -> Option<f64>;

/// What a claim measures: the figure of [`Figure`] it is held against.
/// Spelled in `claims.json` as the variant in snake case; an unknown name is
/// an error when the file is read, never "not measured".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Cold start, hello, p50.
    ColdNs,
    /// VMM spawn to the guest's init (microVMs).
    BootToInitNs,
    /// The host's own time to make a tenant's instance (Wasm).
    InstantiateNs,
    /// Memory per tenant (density slope, else PSS after the cold start).
    MemoryPerTenantBytes,
    /// Memory of one instance after its cold start.
    InstanceMemoryBytes,
    /// The VMM's own memory without guest RAM.
    VmmOverheadBytes,
    /// `target ÷ baseline` of the hello cold p50s.
    ColdRatio,
    /// `target ÷ baseline` of palindrome-large's compute.
    ComputeRatio,
}

impl Metric {
    /// The name in `claims.json`, whose suffix (`_ns`, `_bytes`, `_ratio`) is its unit.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ColdNs => "cold_ns",
            Metric::BootToInitNs => "boot_to_init_ns",
            Metric::InstantiateNs => "instantiate_ns",
            Metric::MemoryPerTenantBytes => "memory_per_tenant_bytes",
            Metric::InstanceMemoryBytes => "instance_memory_bytes",
            Metric::VmmOverheadBytes => "vmm_overhead_bytes",
            Metric::ColdRatio => "cold_ratio",
            Metric::ComputeRatio => "compute_ratio",
        }
    }

    /// For a ratio: what is divided, and the figure it is made of.
    fn ratio_of(self) -> Option<(&'static str, FigureOf)> {
        match self {
            Metric::ColdRatio => Some(("hello cold p50", |f| f.cold_ns)),
            Metric::ComputeRatio => Some(("palindrome-large compute", |f| f.compute_large_ns)),
            _ => None,
        }
    }

    /// A target's figure for an absolute metric (None for a ratio).
    fn of(self, f: &Figure) -> Option<f64> {
        match self {
            Metric::ColdNs => f.cold_ns,
            Metric::BootToInitNs => f.boot_to_init_ns,
            Metric::InstantiateNs => f.instantiate_ns,
            Metric::MemoryPerTenantBytes => f.memory_per_tenant_bytes,
            Metric::InstanceMemoryBytes => f.instance_memory_bytes,
            Metric::VmmOverheadBytes => f.vmm_overhead_bytes,
            Metric::ColdRatio | Metric::ComputeRatio => None,
        }
    }

    /// A value of this metric, formatted in its unit.
    fn format(self, v: f64) -> String {
        if self.ratio_of().is_some() {
            times(v)
        } else {
            units::by_suffix(self.name(), v as u64)
        }
    }
}

/// One claimed figure.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Family the claim is about.
    pub family: String,
    /// What it measures.
    pub metric: Metric,
    /// The claimed value (for a range: its upper end).
    pub value: f64,
    /// For a claimed range: its lower end.
    #[serde(default)]
    pub low: Option<f64>,
    /// The claim in words.
    pub claim: String,
    /// Where it comes from.
    pub source: String,
    /// The target it is about, when a single one.
    #[serde(default)]
    pub target: Option<String>,
    /// For a ratio: the target it is against.
    #[serde(default)]
    pub baseline: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsFile {
    #[allow(dead_code)]
    about: String,
    claims: Vec<Claim>,
}

/// The claims of a claims file's text; an unknown metric, an unknown field
/// or malformed JSON is an error that says where.
pub fn parse_claims(text: &str) -> Result<Vec<Claim>, String> {
    let file: ClaimsFile =
        serde_json::from_str(text).map_err(|e| format!("data/claims.json: {e}"))?;
    for c in &file.claims {
        if c.metric.ratio_of().is_some() && (c.target.is_none() || c.baseline.is_none()) {
            return Err(format!(
                "data/claims.json: the ratio claim {:?} needs a target and a baseline",
                c.claim
            ));
        }
    }
    Ok(file.claims)
}

/// Every claim in `data/claims.json`, compiled in (and checked by a test, so
/// a bad file fails the tests, not a report).
pub fn claims() -> Vec<Claim> {
    parse_claims(CLAIMS).unwrap_or_else(|e| panic!("{e}"))
}

/// One measured figure of a target, as the comparison uses it.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Target.
    pub target: String,
    /// Family.
    pub family: String,
    /// Under emulation?
    pub emulated: bool,
    /// Cold start, hello, p50.
    pub cold_ns: Option<f64>,
    /// Memory per tenant (density slope), else PSS after the cold start.
    pub memory_per_tenant_bytes: Option<f64>,
    /// Memory of one instance after its cold start, hello, p50 (for a
    /// shared host: what the instance added to it).
    pub instance_memory_bytes: Option<f64>,
    /// Idle tenants per GiB by the density fit, where there is one.
    pub tenants_per_gib: Option<f64>,
    /// CPU of a warm hello (p50); none where there is no warm phase.
    pub cpu_ns: Option<f64>,
    /// The host's own time to make a tenant's instance (Wasm): median over
    /// the cold starts of every workload.
    pub instantiate_ns: Option<f64>,
    /// VMM spawn to the guest's init, hello cold, median (microVMs).
    pub boot_to_init_ns: Option<f64>,
    /// The VMM's own memory without guest RAM (microVMs).
    pub vmm_overhead_bytes: Option<f64>,
    /// Compute time of palindrome-large (p50).
    pub compute_large_ns: Option<f64>,
}

/// One family's row.
#[derive(Debug, Serialize)]
pub struct FamilyRow {
    /// Family.
    pub family: String,
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

/// measured ÷ claimed, readable at any size: 0.95, 48, 1/50.
fn ratio_text(r: f64) -> String {
    match r {
        r if r >= 100.0 => format!("{r:.0}"),
        r if r >= 0.1 => format!("{r:.2}"),
        r if r > 0.0 => format!("1/{:.0}", 1.0 / r),
        _ => "0".into(),
    }
}

/// measured ÷ claimed; for a claimed range, "within" or the ratio to the
/// nearer end.
fn versus(measured: f64, c: &Claim) -> String {
    match c.low {
        Some(low) if (low..=c.value).contains(&measured) => "within the range".into(),
        Some(low) if measured < low => format!("{} of the low end", ratio_text(measured / low)),
        Some(_) => format!("{} of the high end", ratio_text(measured / c.value)),
        None => ratio_text(measured / c.value),
    }
}

/// The best (smallest) and worst of `pick` over the family's figures.
fn range(
    figures: &[&Figure],
    pick: impl Fn(&Figure) -> Option<f64>,
    fmt: impl Fn(f64) -> String,
) -> String {
    let mut values: Vec<(f64, &str)> = figures
        .iter()
        .filter_map(|f| Some((pick(f)?, f.target.as_str())))
        .collect();
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    match (values.first(), values.last()) {
        (Some(best), Some(worst)) if values.len() > 1 => {
            format!(
                "{} ({}) … {} ({})",
                fmt(best.0),
                best.1,
                fmt(worst.0),
                worst.1
            )
        }
        (Some(only), _) => format!("{} ({})", fmt(only.0), only.1),
        _ => "–".into(),
    }
}

const FAMILIES: [&str; 5] = ["process", "wasm", "isolate", "container", "microvm"];

/// The family table: each family's range over the targets that ran natively.
pub fn families(figures: &[Figure]) -> Vec<FamilyRow> {
    FAMILIES
        .iter()
        .filter(|family| figures.iter().any(|f| f.family == **family))
        .map(|family| {
            let native: Vec<&Figure> = figures
                .iter()
                .filter(|f| f.family == *family && !f.emulated)
                .collect();
            let emulated: Vec<&str> = figures
                .iter()
                .filter(|f| f.family == *family && f.emulated)
                .map(|f| f.target.as_str())
                .collect();
            let ns = |v: f64| human_ns(v as u64);
            let bytes = |v: f64| human_bytes(v as u64);
            let most = native
                .iter()
                .filter_map(|f| Some((f.tenants_per_gib?, f)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            FamilyRow {
                family: family.to_string(),
                cold: range(&native, |f| f.cold_ns, ns),
                memory: range(&native, |f| f.memory_per_tenant_bytes, bytes),
                cpu: range(&native, |f| f.cpu_ns, ns),
                per_gib: most
                    .map(|(n, f)| format!("{n:.0} ({})", f.target))
                    .unwrap_or_else(|| "–".into()),
                left_out: if emulated.is_empty() {
                    String::new()
                } else {
                    format!("{} (emulated: TCG)", emulated.join(", "))
                },
            }
        })
        .collect()
}

/// Each claim against the most favourable native measurement (or the named
/// target's).
pub fn check_claims(figures: &[Figure]) -> Vec<ClaimRow> {
    let by_name = |name: &str| figures.iter().find(|f| f.target == name);
    claims()
        .into_iter()
        .filter(|c| figures.iter().any(|f| f.family == c.family))
        .map(|c| {
            let pick = |f: &Figure| c.metric.of(f);
            let candidates: Vec<&Figure> = match &c.target {
                Some(t) => by_name(t).into_iter().collect(),
                None => figures.iter().filter(|f| f.family == c.family).collect(),
            };
            let native: Vec<&Figure> = candidates.iter().copied().filter(|f| !f.emulated).collect();
            let best = |set: &[&Figure]| -> Option<(f64, String)> {
                set.iter()
                    .filter_map(|f| Some((pick(f)?, f.target.clone())))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
            };
            let (measured, ratio) = if let Some((what, of)) = c.metric.ratio_of() {
                let pair = c
                    .target
                    .as_deref()
                    .and_then(by_name)
                    .zip(c.baseline.as_deref().and_then(by_name));
                let r = pair.and_then(|(t, b)| Some(of(t)? / of(b)?));
                let emulated = pair.is_some_and(|(t, b)| t.emulated || b.emulated);
                match r {
                    Some(r) => (
                        format!(
                            "{} ({} ÷ {}, {what})",
                            times(r),
                            c.target.clone().unwrap_or_default(),
                            c.baseline.clone().unwrap_or_default()
                        ),
                        if emulated {
                            "not compared: emulated".into()
                        } else {
                            versus(r, &c)
                        },
                    ),
                    None => ("–".into(), "not measured".into()),
                }
            } else {
                match (best(&native), best(&candidates)) {
                    (Some((v, t)), _) => (format!("{} ({t})", c.metric.format(v)), versus(v, &c)),
                    (None, Some((v, t))) => (
                        format!("{} ({t}, emulated)", c.metric.format(v)),
                        "not compared: emulated".into(),
                    ),
                    (None, None) => ("–".into(), "not measured".into()),
                }
            };
            ClaimRow {
                family: c.family.clone(),
                claimed: match c.low {
                    Some(low) => format!("{} – {}", c.metric.format(low), c.metric.format(c.value)),
                    None => c.metric.format(c.value),
                },
                claim: c.claim,
                source: c.source,
                measured,
                ratio,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(target: &str, family: &str, emulated: bool, cold_ms: f64, mem_mb: f64) -> Figure {
        Figure {
            target: target.into(),
            family: family.into(),
            emulated,
            cold_ns: Some(cold_ms * 1e6),
            memory_per_tenant_bytes: Some(mem_mb * 1e6),
            tenants_per_gib: Some(1e3 / mem_mb),
            instance_memory_bytes: Some(mem_mb * 2e6),
            cpu_ns: Some(1e5),
            vmm_overhead_bytes: None,
            instantiate_ns: None,
            boot_to_init_ns: None,
            compute_large_ns: Some(cold_ms * 1e6),
        }
    }

    #[test]
    fn the_claims_file_parses_and_every_claim_has_a_source() {
        let c = claims();
        assert!(c.len() >= 10);
        assert!(c.iter().all(|c| !c.source.is_empty() && c.value > 0.0));
    }

    #[test]
    fn a_bad_claims_file_is_an_error_when_read() {
        let claim = |metric: &str, extra: &str| {
            format!(
                r#"{{"about":"x","claims":[{{"family":"wasm","metric":"{metric}","value":1,"claim":"c","source":"s"{extra}}}]}}"#
            )
        };
        assert!(parse_claims(&claim("cold_ns", "")).is_ok());
        let typo = parse_claims(&claim("cold_nss", "")).unwrap_err();
        assert!(typo.contains("unknown variant `cold_nss`"), "{typo}");
        let field = parse_claims(&claim("cold_ns", r#","baselin":"x""#)).unwrap_err();
        assert!(field.contains("unknown field `baselin`"), "{field}");
        let ratio = parse_claims(&claim("cold_ratio", r#","target":"a""#)).unwrap_err();
        assert!(ratio.contains("needs a target and a baseline"), "{ratio}");
        assert!(parse_claims("{")
            .unwrap_err()
            .starts_with("data/claims.json: "));
    }

    #[test]
    fn emulated_targets_are_shown_but_left_out_of_verdicts() {
        let figures = vec![
            fig("qemu-microvm", "microvm", true, 1500.0, 200.0),
            fig("runc", "container", false, 30.0, 0.5),
            fig("crun", "container", false, 20.0, 0.4),
        ];
        let fam = families(&figures);
        let container = fam.iter().find(|f| f.family == "container").unwrap();
        assert_eq!(container.cold, "20.0 ms (crun) … 30.0 ms (runc)");
        let vm = fam.iter().find(|f| f.family == "microvm").unwrap();
        assert_eq!(
            (vm.cold.as_str(), vm.left_out.as_str()),
            ("–", "qemu-microvm (emulated: TCG)")
        );
        let rows = check_claims(&figures);
        let vm_claim = rows
            .iter()
            .find(|r| r.family == "microvm" && r.claim.contains("~10 s"))
            .unwrap();
        assert_eq!(vm_claim.ratio, "not compared: emulated");
        let ct = rows
            .iter()
            .find(|r| r.claim.contains("container cold start"))
            .unwrap();
        assert_eq!(ct.ratio, "1/50", "20 ms against 1 s");
    }

    #[test]
    fn ratio_claims_compare_two_named_targets_and_ranges_say_within() {
        let figures = vec![
            fig("process", "process", false, 1.0, 1.0),
            fig("node", "process", false, 3.2, 40.0),
            fig("runc", "container", false, 30.0, 0.5),
            fig("crun", "container", false, 15.0, 0.4),
        ];
        let rows = check_claims(&figures);
        let rust = rows.iter().find(|r| r.claim.contains("Rust 2×")).unwrap();
        assert_eq!(rust.claimed, "2.0× – 10.0×");
        assert_eq!(rust.ratio, "within the range", "{}", rust.measured);
        let crun = rows
            .iter()
            .find(|r| r.claim.contains("crun") && r.measured.contains("crun ÷ runc"))
            .unwrap();
        assert_eq!(crun.measured, "1/2.0 (crun ÷ runc, hello cold p50)");
        let lambda = rows
            .iter()
            .find(|r| r.claim.contains("Lambda cold"))
            .unwrap();
        assert_eq!(lambda.ratio, "1/33 of the low end", "15 ms against 500 ms");
        let node = rows
            .iter()
            .find(|r| r.claim.contains("Node Lambda"))
            .unwrap();
        assert!(
            node.measured.starts_with("76.3 MiB (node)"),
            "one node instance's memory, not the density slope: {}",
            node.measured
        );
    }

    #[test]
    fn the_wasm_instantiation_claim_is_met_by_the_hosts_own_time_of_the_named_target() {
        let pool = Figure {
            instantiate_ns: Some(20e3),
            ..fig("wasmtime-pool", "wasm", false, 0.2, 0.03)
        };
        let fresh = Figure {
            instantiate_ns: Some(1e3),
            ..fig("wasmtime-fresh", "wasm", false, 0.15, 0.0)
        };
        let rows = check_claims(&[pool, fresh]);
        let inst = rows
            .iter()
            .find(|r| r.claim.contains("pooling and copy-on-write"))
            .unwrap();
        assert_eq!(
            (inst.measured.as_str(), inst.ratio.as_str()),
            ("20.0 µs (wasmtime-pool)", "4.00"),
            "only the pooled target's time answers a claim about pooling"
        );
        assert_eq!(ratio_text(480.4), "480");
        assert_eq!(ratio_text(0.0021), "1/476");
    }
}
