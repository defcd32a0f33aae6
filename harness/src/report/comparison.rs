//! The comparison page: the seed sources' tables, regenerated from what this
//! run measured, with each claimed figure beside ours. Targets that ran under
//! emulation (TCG) are shown, and kept out of every family verdict.

use serde::{Deserialize, Serialize};

use crate::vocab::Implementation;

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

    /// Whether it is a ratio of two targets' figures (else a figure in the
    /// unit its name ends with).
    pub fn is_ratio(self) -> bool {
        self.ratio_of().is_some()
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
    /// The implementation the claim needs (a VM or a container "with a
    /// runtime and a heap" is one running JS): only its targets are held
    /// against it, not the static binary's.
    #[serde(default)]
    pub implementation: Option<Implementation>,
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
        if c.metric.is_ratio() && (c.target.is_none() || c.baseline.is_none()) {
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
    /// What it runs, where run.json says.
    pub implementation: Option<Implementation>,
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

/// A figure over a family's native targets: the best (smallest), and the
/// worst where more than one target has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    /// Value and target.
    pub best: (f64, String),
    /// Value and target, when not the only one.
    pub worst: Option<(f64, String)>,
}

/// One family's verdict (over one implementation's targets, or all).
#[derive(Clone, Debug)]
pub struct FamilyFigures {
    /// Family.
    pub family: String,
    /// The implementation its targets run, when the verdict is over one.
    pub implementation: Option<Implementation>,
    /// Cold start (hello p50).
    pub cold: Option<Spread>,
    /// Memory per tenant.
    pub memory: Option<Spread>,
    /// CPU per warm invocation.
    pub cpu: Option<Spread>,
    /// The most tenants per GiB, and whose.
    pub densest: Option<(f64, String)>,
    /// Targets left out of the verdict (emulated).
    pub left_out: Vec<String>,
}

/// A measurement against a claim: measured ÷ claimed, or where it lies
/// against a claimed range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Versus {
    /// Inside the claimed range.
    Within,
    /// Below the range: measured ÷ its low end.
    OfLowEnd(f64),
    /// Above the range: measured ÷ its high end.
    OfHighEnd(f64),
    /// measured ÷ claimed.
    Of(f64),
}

/// What was measured for a claim.
#[derive(Clone, Debug, PartialEq)]
pub enum Measured {
    /// Nothing to hold against it.
    NotMeasured,
    /// A ratio of the claim's two targets.
    Ratio {
        /// target ÷ baseline.
        value: f64,
        /// What is divided.
        what: &'static str,
        /// `None` when either side ran emulated: not compared.
        versus: Option<Versus>,
    },
    /// The most favourable figure.
    Value {
        /// The figure.
        value: f64,
        /// Whose.
        target: String,
        /// `None` when only emulated targets had it: not compared.
        versus: Option<Versus>,
    },
}

/// One claim and what was measured for it.
#[derive(Clone, Debug)]
pub struct ClaimFigure {
    /// The claim.
    pub claim: Claim,
    /// The measurement.
    pub measured: Measured,
}

/// measured ÷ claimed; for a claimed range, within or against the nearer end.
fn versus(measured: f64, c: &Claim) -> Versus {
    match c.low {
        Some(low) if (low..=c.value).contains(&measured) => Versus::Within,
        Some(low) if measured < low => Versus::OfLowEnd(measured / low),
        Some(_) => Versus::OfHighEnd(measured / c.value),
        None => Versus::Of(measured / c.value),
    }
}

/// The best and worst of `pick` over `figures`.
fn spread(figures: &[&Figure], pick: impl Fn(&Figure) -> Option<f64>) -> Option<Spread> {
    let mut values: Vec<(f64, String)> = figures
        .iter()
        .filter_map(|f| Some((pick(f)?, f.target.clone())))
        .collect();
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let worst = if values.len() > 1 { values.pop() } else { None };
    let best = values.into_iter().next()?;
    Some(Spread { best, worst })
}

const FAMILIES: [&str; 5] = ["process", "wasm", "isolate", "container", "microvm"];

/// Each family's spread over the targets that ran natively, whatever they
/// run: the comparison across implementations.
pub fn family_figures(figures: &[Figure]) -> Vec<FamilyFigures> {
    let all: Vec<&Figure> = figures.iter().collect();
    verdicts(&all, None)
}

/// The same per implementation: families compared on one runtime first
/// (native Rust in a process, a container, a VM; JS in node, workerd, deno).
pub fn implementation_figures(figures: &[Figure]) -> Vec<FamilyFigures> {
    Implementation::ALL
        .into_iter()
        .flat_map(|i| {
            let mine: Vec<&Figure> = figures
                .iter()
                .filter(|f| f.implementation == Some(i))
                .collect();
            verdicts(&mine, Some(i))
        })
        .collect()
}

fn verdicts(figures: &[&Figure], implementation: Option<Implementation>) -> Vec<FamilyFigures> {
    FAMILIES
        .iter()
        .filter(|family| figures.iter().any(|f| f.family == **family))
        .map(|family| {
            let (emulated, native): (Vec<&Figure>, Vec<&Figure>) = figures
                .iter()
                .copied()
                .filter(|f| f.family == *family)
                .partition(|f| f.emulated);
            FamilyFigures {
                family: family.to_string(),
                implementation,
                cold: spread(&native, |f| f.cold_ns),
                memory: spread(&native, |f| f.memory_per_tenant_bytes),
                cpu: spread(&native, |f| f.cpu_ns),
                densest: native
                    .iter()
                    .filter_map(|f| Some((f.tenants_per_gib?, f.target.clone())))
                    .max_by(|a, b| a.0.total_cmp(&b.0)),
                left_out: emulated.iter().map(|f| f.target.clone()).collect(),
            }
        })
        .collect()
}

/// Each claim about a family that ran, against the most favourable native
/// measurement (or the named target's).
pub fn claim_figures(figures: &[Figure]) -> Vec<ClaimFigure> {
    claims()
        .into_iter()
        .filter(|c| figures.iter().any(|f| f.family == c.family))
        .map(|claim| ClaimFigure {
            measured: measure(&claim, figures),
            claim,
        })
        .collect()
}

fn measure(c: &Claim, figures: &[Figure]) -> Measured {
    let by_name = |name: &str| figures.iter().find(|f| f.target == name);
    if let Some((what, of)) = c.metric.ratio_of() {
        let pair = c
            .target
            .as_deref()
            .and_then(by_name)
            .zip(c.baseline.as_deref().and_then(by_name));
        let Some(((t, b), value)) = pair.and_then(|(t, b)| Some(((t, b), of(t)? / of(b)?))) else {
            return Measured::NotMeasured;
        };
        let emulated = t.emulated || b.emulated;
        return Measured::Ratio {
            value,
            what,
            versus: (!emulated).then(|| versus(value, c)),
        };
    }
    let candidates: Vec<&Figure> = match &c.target {
        Some(t) => by_name(t).into_iter().collect(),
        None => figures
            .iter()
            .filter(|f| f.family == c.family)
            .filter(|f| c.implementation.is_none() || f.implementation == c.implementation)
            .collect(),
    };
    let best = |native_only: bool| {
        candidates
            .iter()
            .filter(|f| !(native_only && f.emulated))
            .filter_map(|f| Some((c.metric.of(f)?, f.target.clone())))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    };
    match best(true) {
        Some((value, target)) => Measured::Value {
            value,
            target,
            versus: Some(versus(value, c)),
        },
        None => match best(false) {
            Some((value, target)) => Measured::Value {
                value,
                target,
                versus: None,
            },
            None => Measured::NotMeasured,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sections::comparison::{self as section, ratio_text, ClaimRow, FamilyRow};

    /// The family table as the page shows it.
    fn families(figures: &[Figure]) -> Vec<FamilyRow> {
        section::families(&family_figures(figures))
    }

    /// The claims table as the page shows it.
    fn check_claims(figures: &[Figure]) -> Vec<ClaimRow> {
        section::claims(&claim_figures(figures))
    }

    fn fig(target: &str, family: &str, emulated: bool, cold_ms: f64, mem_mb: f64) -> Figure {
        Figure {
            implementation: crate::targets::TargetKind::parse(target)
                .ok()
                .map(|k| k.implementation()),
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
            fig("qemu-microvm-node", "microvm", true, 1500.0, 200.0),
            fig("runc", "container", false, 30.0, 0.5),
            fig("crun", "container", false, 20.0, 0.4),
            fig("crun-node", "container", false, 50.0, 10.0),
        ];
        let fam = families(&figures);
        let container = fam.iter().find(|f| f.family == "container").unwrap();
        assert_eq!(container.cold, "20.0 ms (crun) … 50.0 ms (crun-node)");
        let vm = fam.iter().find(|f| f.family == "microvm").unwrap();
        assert_eq!(
            (vm.cold.as_str(), vm.left_out.as_str()),
            ("–", "qemu-microvm-node (emulated: TCG)")
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
        // A container "with a runtime" is the JS one, not the static binary.
        assert!(ct.measured.contains("(crun-node)"), "{}", ct.measured);
        assert_eq!(ct.ratio, "1/20", "50 ms against 1 s");
    }

    #[test]
    fn ratio_claims_compare_two_named_targets_and_ranges_say_within() {
        let figures = vec![
            fig("process", "process", false, 1.0, 1.0),
            fig("node", "process", false, 3.2, 40.0),
            fig("runc", "container", false, 30.0, 0.5),
            fig("crun", "container", false, 15.0, 0.4),
            fig("crun-node", "container", false, 15.0, 9.0),
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

    #[test]
    fn families_are_compared_within_each_implementation_first() {
        let figures = [
            fig("process", "process", false, 1.0, 1.0),
            fig("node", "process", false, 60.0, 40.0),
            fig("workerd", "isolate", false, 5.0, 2.0),
            fig("crun", "container", false, 20.0, 0.5),
        ];
        let rows: Vec<(String, String, String)> = implementation_figures(&figures)
            .iter()
            .map(|f| {
                let best = f.cold.as_ref().unwrap().best.1.clone();
                (
                    f.implementation.unwrap().as_str().into(),
                    f.family.clone(),
                    best,
                )
            })
            .collect();
        let want = [
            ("rust", "process", "process"),
            ("rust", "container", "crun"),
            ("js", "process", "node"),
            ("js", "isolate", "workerd"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(rows, want);
        // Across implementations the process family's best is the native one.
        let across = family_figures(&figures);
        assert_eq!(across[0].cold.as_ref().unwrap().best.1, "process");
        assert_eq!(
            across[0].cold.as_ref().unwrap().worst.as_ref().unwrap().1,
            "node"
        );
        assert!(across.iter().all(|f| f.implementation.is_none()));
    }
}
