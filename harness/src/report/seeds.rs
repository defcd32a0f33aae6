//! The seed sources' four tables, regenerated from a run: "Serverless
//! Rust"'s Lambda 128 MB and Azure custom-handler tables (Node vs Rust, per
//! family), the Deno talk's "Comparing baseline" table (memory per tenant of
//! a VM, a container and an isolate running one runtime, split into guest
//! OS, runtime and heap as far as the run can tell them apart), and
//! Cloudflare's "100× faster, 35 MB vs 3 MB" with the same JS on both
//! sides. Published figures and the targets that stand for each side are in
//! `data/seeds.json`.

use serde::Deserialize;

use super::figures::Figures;
use crate::vocab::Phase;

const SEEDS: &str = include_str!("../../data/seeds.json");

/// One published row of a latency table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedRow {
    /// Row label.
    pub label: String,
    /// Workload it maps to.
    pub workload: String,
    /// `cold` or `warm`.
    pub phase: String,
    /// Published Node figure, ns.
    pub js: f64,
    /// Published Rust figure, ns.
    pub rust: f64,
    /// The Node figure is an upper bound ("<").
    #[serde(default)]
    pub js_bound: bool,
    /// The Rust figure is an upper bound ("<").
    #[serde(default)]
    pub rust_bound: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencySpec {
    id: String,
    title: String,
    source: String,
    envelope: String,
    rows: Vec<PublishedRow>,
}

/// The targets that stand for one family, per implementation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyPair {
    /// Family.
    pub family: String,
    /// The target running the JS workload.
    pub js: String,
    /// The target running native Rust.
    pub rust: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineSide {
    total: f64,
    #[serde(default)]
    os: Option<f64>,
    #[serde(default)]
    runtime: Option<f64>,
    #[serde(default)]
    heap: Option<f64>,
    target: String,
    /// The same without the runtime (a VM of the static server; node
    /// outside a container): what the difference is measured against.
    #[serde(default)]
    bare: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineSpec {
    source: String,
    vm: BaselineSide,
    container: BaselineSide,
    isolate: BaselineSide,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudflareSpec {
    source: String,
    process: String,
    isolate: String,
    cold_ratio: f64,
    process_memory: f64,
    isolate_memory: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedsFile {
    #[allow(dead_code)]
    about: String,
    latency_tables: Vec<LatencySpec>,
    families: Vec<FamilyPair>,
    baseline: BaselineSpec,
    cloudflare: CloudflareSpec,
}

fn seeds() -> SeedsFile {
    serde_json::from_str(SEEDS).expect("data/seeds.json is valid (checked by a test)")
}

/// One target's figure in a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// The target.
    pub target: String,
    /// Its figure, where the run has it.
    pub value: Option<f64>,
    /// Under emulation (TCG): shown, not held against the published figure.
    pub emulated: bool,
}

/// One row of a latency table: the published pair and each family's pair.
#[derive(Clone, Debug)]
pub struct LatencyRow {
    /// The published row.
    pub published: PublishedRow,
    /// Per family: (JS target's p50, Rust target's p50).
    pub measured: Vec<(Cell, Cell)>,
}

/// A latency table.
#[derive(Clone, Debug)]
pub struct LatencyTable {
    /// Anchor.
    pub id: String,
    /// Title.
    pub title: String,
    /// Source.
    pub source: String,
    /// The envelope the published figures were measured under.
    pub envelope: String,
    /// The envelope this run had (`None`: none).
    pub run_envelope: Option<String>,
    /// Its families, in column order.
    pub families: Vec<FamilyPair>,
    /// Rows.
    pub rows: Vec<LatencyRow>,
    /// What the CPU share did, from one run: the native process's warm
    /// palindrome 1000–9999, latency p50 and CPU p50 (latency ÷ CPU is the
    /// slowdown the share gave it: 1 without a limit).
    pub share: Option<(String, f64, f64)>,
}

/// One row of the baseline table.
#[derive(Clone, Debug)]
pub struct BaselineRow {
    /// `VM`, `container`, `isolate`.
    pub label: &'static str,
    /// Published total, and its split (OS, runtime, heap) where given.
    pub published: (f64, Option<f64>, Option<f64>, Option<f64>),
    /// The target with the runtime: memory per tenant, and the fit's R².
    pub measured: (Cell, Option<f64>),
    /// The other side of the split, where there is one to subtract.
    pub bare: Option<(Cell, Option<f64>)>,
    /// What the other side is, and what the difference is.
    pub split_names: (&'static str, &'static str),
}

/// What the seeds' tables are regenerated from.
#[derive(Clone, Debug)]
pub struct SeedTables {
    /// The "Serverless Rust" tables.
    pub latency: Vec<LatencyTable>,
    /// The Deno baseline table's source.
    pub baseline_source: String,
    /// Its rows.
    pub baseline: Vec<BaselineRow>,
    /// Cloudflare's source.
    pub cloudflare_source: String,
    /// Cold start: published ratio, and (node process, isolate) hello p50.
    pub cloudflare_cold: (f64, Cell, Cell),
    /// Memory: published (process, isolate), and measured (node's
    /// memory after its cold start, the isolate's memory per tenant).
    pub cloudflare_memory: ((f64, f64), Cell, Cell),
}

impl SeedTables {
    /// The tables for the run `f` describes.
    pub fn of(f: &Figures) -> SeedTables {
        let s = seeds();
        let run_envelope = f.run.plan.envelope.as_ref().map(|e| e.name.clone());
        let cell = |target: &str, value: Option<f64>| Cell {
            target: target.to_string(),
            value,
            emulated: f.emulated.iter().any(|e| e == target),
        };
        let p50 = |target: &str, workload: &str, phase: &str| {
            let phase = Phase::parse(phase).ok()?;
            f.row(target, workload, phase)?.p50_ns.map(|v| v as f64)
        };
        let comparison = |target: &str| f.comparison.iter().find(|c| c.target == target);
        let per_tenant = |target: &str| {
            let d = f.density_of(target);
            (
                cell(target, d.and_then(|d| d.per_tenant_bytes)),
                d.and_then(|d| d.fit.as_ref()).map(|fit| fit.r2),
            )
        };
        let share = s
            .families
            .iter()
            .find(|p| p.family == "process")
            .and_then(|p| {
                let row = f.row(&p.rust, "palindrome-large", Phase::Warm)?;
                Some((p.rust.clone(), row.p50_ns? as f64, row.cpu_p50_ns? as f64))
            });
        let latency = s
            .latency_tables
            .iter()
            .map(|t| LatencyTable {
                share: share.clone(),
                id: t.id.clone(),
                title: t.title.clone(),
                source: t.source.clone(),
                envelope: t.envelope.clone(),
                run_envelope: run_envelope.clone(),
                families: s.families.clone(),
                rows: t
                    .rows
                    .iter()
                    .map(|r| LatencyRow {
                        published: r.clone(),
                        measured: s
                            .families
                            .iter()
                            .map(|p| {
                                (
                                    cell(&p.js, p50(&p.js, &r.workload, &r.phase)),
                                    cell(&p.rust, p50(&p.rust, &r.workload, &r.phase)),
                                )
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        let b = &s.baseline;
        // For the VM the other side is the VM without node (the static
        // server): the difference is the runtime. For the container it is
        // node alone, as a process: the difference is the container.
        let names = [
            ("without the runtime", "the runtime and its heap"),
            ("the runtime alone, as a process", "what the container adds"),
            ("", ""),
        ];
        let baseline = [
            ("VM", &b.vm),
            ("container", &b.container),
            ("isolate", &b.isolate),
        ]
        .into_iter()
        .zip(names)
        .map(|((label, side), split_names)| BaselineRow {
            split_names,
            label,
            published: (side.total, side.os, side.runtime, side.heap),
            measured: per_tenant(&side.target),
            bare: side.bare.as_deref().map(per_tenant),
        })
        .collect();
        let c = &s.cloudflare;
        SeedTables {
            latency,
            baseline_source: b.source.clone(),
            baseline,
            cloudflare_source: c.source.clone(),
            cloudflare_cold: (
                c.cold_ratio,
                cell(&c.process, comparison(&c.process).and_then(|x| x.cold_ns)),
                cell(&c.isolate, comparison(&c.isolate).and_then(|x| x.cold_ns)),
            ),
            cloudflare_memory: (
                (c.process_memory, c.isolate_memory),
                cell(
                    &c.process,
                    comparison(&c.process).and_then(|x| x.instance_memory_bytes),
                ),
                per_tenant(&c.isolate).0,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_file_parses_and_names_registered_targets() {
        let s = seeds();
        assert_eq!(s.latency_tables.len(), 2);
        let mut names: Vec<&str> = s
            .families
            .iter()
            .flat_map(|p| [p.js.as_str(), p.rust.as_str()])
            .collect();
        names.extend([
            s.baseline.vm.target.as_str(),
            s.baseline.container.target.as_str(),
            s.baseline.isolate.target.as_str(),
            s.cloudflare.process.as_str(),
            s.cloudflare.isolate.as_str(),
        ]);
        for name in names {
            assert!(
                crate::targets::TargetKind::parse(name).is_ok(),
                "{name} is not a target"
            );
        }
        for t in &s.latency_tables {
            assert!(crate::envelope::Envelope::named(&t.envelope).is_ok());
            for r in &t.rows {
                assert!(Phase::parse(&r.phase).is_ok() && r.js > 0.0 && r.rust > 0.0);
            }
        }
        // The published split adds up to the published total.
        let vm = &s.baseline.vm;
        let split = vm.os.unwrap() + vm.runtime.unwrap() + vm.heap.unwrap();
        assert_eq!(split, vm.total);
    }
}
