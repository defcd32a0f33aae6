//! The report's numbers, computed once from a run's rows and kept typed:
//! nothing here is text for a reader. The sections (`sections/`) format these
//! figures and the charts draw them; neither derives a number of its own, so
//! a figure shown in two places is the same figure.

mod density;
mod measures;
mod timing;

pub(crate) use timing::round_pairs;

use std::collections::BTreeMap;

use serde::Serialize;

pub use density::{DensityFigure, GOOD_FIT_R2};
pub use measures::{BootFigure, MeasureFigure};
pub use timing::{Clock, ComputeFigure, ComputeRatio, Paired, RatioFigure, TIMER_FLOOR_NS};

use super::comparison::{self, ClaimFigure, FamilyFigures, Figure};
use super::cost::{self, CostFigure, Prices, Usage};
use crate::measures::{BootStage, Measure};
use crate::results::{DensityRow, MeasureRow, RunInfo, Sample, SummaryRow, TargetInfo};
use crate::stats;
use crate::vocab::Phase;

/// The baseline other targets are compared with, when present.
pub const BASELINE: &str = "process";

/// The workload the comparison and the memory fallback read: the one with
/// no compute to speak of.
pub(crate) const HELLO: &str = "hello";

/// The workload whose compute the comparison's compute ratio is about.
const LARGE: &str = "palindrome-large";

/// Every number a report shows, each computed once.
#[derive(Debug)]
pub struct Figures<'a> {
    /// run.json as recorded.
    pub run: &'a RunInfo,
    /// summary.csv's rows: the per-(target, workload, phase) summaries.
    pub rows: &'a [SummaryRow],
    /// Measured targets in report order.
    pub targets: Vec<String>,
    /// Workloads in plan order.
    pub workloads: Vec<String>,
    /// Targets whose guests ran under emulation (TCG): shown, not compared.
    pub emulated: Vec<String>,
    /// Sample counts.
    pub totals: Totals,
    /// Per (target, workload) with any row: what the headline shows.
    pub headline: Vec<HeadlineFigure<'a>>,
    /// Per row of `rows`, in the same order: MAD outliers among its samples.
    pub outliers: Vec<usize>,
    /// Median compute time per (target, workload).
    pub compute: Vec<ComputeFigure>,
    /// Each native target against [`BASELINE`], per workload.
    pub ratios: Vec<RatioFigure>,
    /// Flagged samples, grouped.
    pub flagged: Vec<Flagged>,
    /// Medians of measures.csv's figures.
    pub measures: Vec<MeasureFigure>,
    /// Median boot stages of each target that records them.
    pub boot: Vec<BootFigure>,
    /// Density fits per target.
    pub density: Vec<DensityFigure>,
    /// Per measured target: what the comparison compares.
    pub comparison: Vec<Figure>,
    /// Each family's best and worst.
    pub families: Vec<FamilyFigures>,
    /// The same within each implementation.
    pub by_implementation: Vec<FamilyFigures>,
    /// Each claim against the measurement.
    pub claims: Vec<ClaimFigure>,
    /// The prices the costs are computed with.
    pub prices: Prices,
    /// The seed sources' tables, regenerated.
    pub seeds: Option<super::seeds::SeedTables>,
    /// $ per million invocations, per native (target, workload).
    pub costs: Vec<CostFigure>,
    /// Each target that restored: its cold start beside its restore.
    pub restores: Vec<super::restore::StartKinds<'a>>,
}

/// Sample counts.
#[derive(Clone, Copy, Debug, Serialize, Default)]
pub struct Totals {
    /// All samples.
    pub samples: usize,
    /// Valid.
    pub valid: usize,
    /// Flagged.
    pub flagged: usize,
    /// Of the flagged, those flagged for background CPU, not their answer.
    pub disturbed: usize,
}

/// Flagged samples of one (target, workload, phase).
#[derive(Clone, Debug, Serialize)]
pub struct Flagged {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Phase.
    pub phase: String,
    /// How many.
    pub count: usize,
    /// The first error.
    pub first_error: String,
}

/// What the headline shows of one (target, workload).
#[derive(Debug)]
pub struct HeadlineFigure<'a> {
    /// Target.
    pub target: String,
    /// Family, from its first row.
    pub family: String,
    /// Workload.
    pub workload: String,
    /// The target's accelerator as run.json records it.
    pub accel: String,
    /// The cold summary.
    pub cold: Option<&'a SummaryRow>,
    /// The warm summary.
    pub warm: Option<&'a SummaryRow>,
    /// The host-cold summary.
    pub host_cold: Option<&'a SummaryRow>,
    /// The restore summary.
    pub restore: Option<&'a SummaryRow>,
    /// Flagged samples over the four.
    pub flagged: u64,
    /// Memory per tenant from the target's density fit.
    pub per_tenant_bytes: Option<f64>,
}

impl<'a> Figures<'a> {
    /// Every figure of a run, from what it wrote (`measures`: those of valid
    /// samples; `rows`: summary.csv as derived from `samples`).
    pub fn compute(
        run: &'a RunInfo,
        samples: &[Sample],
        measures: &[&MeasureRow],
        density_rows: &[DensityRow],
        rows: &'a [SummaryRow],
    ) -> Figures<'a> {
        let measured = run.targets.iter().filter(|t| t.measured);
        let targets: Vec<String> = measured.clone().map(|t| t.name.clone()).collect();
        let workloads = run.plan.workloads.clone();
        // Their times measure the emulator: kept out of every comparison
        // across families.
        let emulated: Vec<String> = measured
            .filter(|t| t.accel == "tcg")
            .map(|t| t.name.clone())
            .collect();
        let clocks = timing::clocks(run, samples);
        let compute = timing::compute_figures(samples, &targets, &workloads, &clocks);
        let ratios = timing::ratios(
            samples,
            &targets,
            &workloads,
            &emulated,
            &compute,
            &baseline_disturbed(samples, measures),
            run.plan.seed,
        );
        let mut figures = Figures {
            run,
            rows,
            totals: totals(samples),
            headline: Vec::new(),
            outliers: rows.iter().map(|r| outliers(samples, r)).collect(),
            ratios,
            flagged: flagged(samples),
            measures: measures::medians(measures, &targets),
            boot: measures::boot_figures(measures),
            density: density::figures(density_rows, &targets, &emulated),
            compute,
            targets,
            workloads,
            emulated,
            comparison: Vec::new(),
            families: Vec::new(),
            by_implementation: Vec::new(),
            claims: Vec::new(),
            prices: cost::prices(),
            costs: Vec::new(),
            seeds: None,
            restores: Vec::new(),
        };
        figures.headline = figures.headline_figures();
        let memory: Vec<Option<f64>> = figures
            .targets
            .iter()
            .map(|t| figures.memory_per_tenant(t))
            .collect();
        figures.comparison = figures
            .targets
            .iter()
            .zip(&memory)
            .map(|(t, &m)| figures.comparison_figure(t, m, measures))
            .collect();
        figures.families = comparison::family_figures(&figures.comparison);
        figures.by_implementation = comparison::implementation_figures(&figures.comparison);
        figures.claims = comparison::claim_figures(&figures.comparison);
        figures.costs = cost::figures(figures.usages(&memory), &figures.prices);
        figures.seeds = Some(super::seeds::SeedTables::of(&figures));
        figures.restores = super::restore::figures(&figures);
        figures
    }

    pub(crate) fn row(&self, target: &str, workload: &str, phase: Phase) -> Option<&'a SummaryRow> {
        stats::find_row(self.rows, target, workload, phase.as_str())
    }

    pub(crate) fn density_of(&self, target: &str) -> Option<&DensityFigure> {
        self.density.iter().find(|d| d.target == target)
    }

    fn headline_figures(&self) -> Vec<HeadlineFigure<'a>> {
        let mut out = Vec::new();
        for t in &self.targets {
            let accel = self
                .run
                .targets
                .iter()
                .find(|x| x.name == *t)
                .map(|x| x.accel.clone())
                .unwrap_or_default();
            for w in &self.workloads {
                let phases = Phase::SAMPLED.map(|p| self.row(t, w, p));
                let [cold, warm, host_cold, restore] = phases;
                let Some(first) = cold.or(warm).or(host_cold).or(restore) else {
                    continue;
                };
                out.push(HeadlineFigure {
                    target: t.clone(),
                    family: first.family.clone(),
                    workload: w.clone(),
                    accel: accel.clone(),
                    cold,
                    warm,
                    host_cold,
                    restore,
                    flagged: phases.iter().flatten().map(|r| r.n_invalid).sum(),
                    per_tenant_bytes: self.density_of(t).and_then(|d| d.per_tenant_bytes),
                });
            }
        }
        out
    }

    /// Memory a tenant of `target` needs: the density slope, else PSS at
    /// cold (hello). Computed once per target, for the comparison and cost.
    fn memory_per_tenant(&self, target: &str) -> Option<f64> {
        match self.density_of(target).and_then(|d| d.per_tenant_bytes) {
            Some(bytes) => Some(bytes),
            None => self
                .row(target, HELLO, Phase::Cold)
                .and_then(|r| r.mem_pss_p50_bytes)
                .map(|v| v as f64),
        }
    }

    /// The median of a cold-start measure of `target` over every workload,
    /// as the measures table has it.
    fn cold_measure(&self, target: &str, measure: Measure) -> Option<f64> {
        self.measures
            .iter()
            .find(|m| {
                m.target == target
                    && m.phase == Phase::Cold.as_str()
                    && measure.is(&m.measure)
                    && m.workload.is_none()
            })
            .map(|m| m.median as f64)
    }

    fn comparison_figure(&self, t: &str, memory: Option<f64>, measures: &[&MeasureRow]) -> Figure {
        let info = self.run.targets.iter().find(|x| x.name == t);
        // A target whose instances die with their request has no resident
        // tenant to put a memory figure on.
        let keeps = keeps_instances(info);
        let p50 = |phase: Phase, pick: fn(&SummaryRow) -> Option<u64>| {
            self.row(t, HELLO, phase).and_then(pick).map(|v| v as f64)
        };
        Figure {
            target: t.to_string(),
            family: info.map(|x| x.family.clone()).unwrap_or_default(),
            implementation: info.and_then(|x| x.implementation),
            emulated: self.emulated.iter().any(|e| e == t),
            cold_ns: p50(Phase::Cold, |r| r.p50_ns),
            memory_per_tenant_bytes: memory.filter(|_| keeps),
            tenants_per_gib: self.density_of(t).and_then(|d| d.per_gib).filter(|_| keeps),
            instance_memory_bytes: p50(Phase::Cold, |r| r.mem_pss_p50_bytes).filter(|_| keeps),
            cpu_ns: p50(Phase::Warm, |r| r.cpu_p50_ns),
            vmm_overhead_bytes: self.cold_measure(t, Measure::VmmOverheadPssBytes),
            instantiate_ns: self.cold_measure(t, Measure::InstantiateNs),
            boot_to_init_ns: measures::cold_median(
                measures,
                t,
                Measure::Boot(BootStage::ToInit),
                Some(HELLO),
            )
            .map(|v| v as f64),
            compute_large_ns: self
                .compute
                .iter()
                .find(|c| c.target == t && c.workload == LARGE)
                .map(|c| c.p50_ns as f64),
        }
    }

    /// The cost model's inputs: every native target × workload, at its warm
    /// p50 (its cold p50 where every request is a new instance); `memory`
    /// per target, in target order.
    fn usages(&self, memory: &[Option<f64>]) -> Vec<Usage> {
        let mut out = Vec::new();
        for (t, memory) in self.targets.iter().zip(memory) {
            if self.emulated.contains(t) {
                continue;
            }
            for w in &self.workloads {
                let warm = self.row(t, w, Phase::Warm).filter(|r| r.p50_ns.is_some());
                let Some(r) = warm.or_else(|| self.row(t, w, Phase::Cold)) else {
                    continue;
                };
                let Some(duration_ns) = r.p50_ns else {
                    continue;
                };
                out.push(Usage {
                    target: t.clone(),
                    workload: w.clone(),
                    duration_ns,
                    cpu_ns: r.cpu_p50_ns,
                    memory_bytes: memory.map(|m| m as u64),
                });
            }
        }
        out
    }
}

/// The baseline's (workload, phase, round)s that were disturbed: a sample
/// flagged for background CPU, or a cell the settle step could not quiet.
fn baseline_disturbed(samples: &[Sample], measures: &[&MeasureRow]) -> timing::Disturbed {
    let flagged = samples
        .iter()
        .filter(|s| s.target == BASELINE && s.error.starts_with(crate::phases::DISTURBED))
        .map(|s| (s.workload.clone(), s.phase.clone(), s.round));
    // A cell not quiet in time: every phase of its round.
    let unsettled = measures
        .iter()
        .filter(|m| m.target == BASELINE && Measure::SettleQuiet.is(&m.measure) && m.value == 0)
        .flat_map(|m| {
            Phase::SAMPLED.map(|p| (m.workload.clone(), p.as_str().to_string(), m.round))
        });
    flagged.chain(unsettled).collect()
}

/// Valid samples of (target, workload, phase).
pub fn valid<'a>(
    samples: &'a [Sample],
    target: &'a str,
    workload: &'a str,
    phase: &'a str,
) -> impl Iterator<Item = &'a Sample> + 'a {
    samples.iter().filter(move |s| {
        s.valid && s.target == target && s.workload == workload && s.phase == phase
    })
}

fn totals(samples: &[Sample]) -> Totals {
    let valid = samples.iter().filter(|s| s.valid).count();
    Totals {
        samples: samples.len(),
        valid,
        flagged: samples.len() - valid,
        disturbed: samples
            .iter()
            .filter(|s| s.error.starts_with(crate::phases::DISTURBED))
            .count(),
    }
}

/// Outliers among the latencies of a summary row's valid samples.
fn outliers(samples: &[Sample], row: &SummaryRow) -> usize {
    let latencies: Vec<u64> = valid(samples, &row.target, &row.workload, &row.phase)
        .filter_map(|s| s.latency_ns)
        .collect();
    stats::mad_outliers(&latencies)
}

/// Invalid samples grouped by (target, workload, phase), with the first
/// error of each group.
fn flagged(samples: &[Sample]) -> Vec<Flagged> {
    let mut groups: BTreeMap<(String, String, String), (usize, String)> = BTreeMap::new();
    for s in samples.iter().filter(|s| !s.valid) {
        let key = (s.target.clone(), s.workload.clone(), s.phase.clone());
        groups.entry(key).or_insert((0, s.error.clone())).0 += 1;
    }
    groups
        .into_iter()
        .map(
            |((target, workload, phase), (count, first_error))| Flagged {
                target,
                workload,
                phase,
                count,
                first_error,
            },
        )
        .collect()
}

/// Whether a target's instances outlive their first request (it has a warm
/// phase). Runs that did not record phases are given the benefit of the doubt.
fn keeps_instances(info: Option<&TargetInfo>) -> bool {
    info.is_none_or(|i| i.phases.is_empty() || i.phases.iter().any(|p| p == Phase::Warm.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(phases: &[&str]) -> TargetInfo {
        TargetInfo {
            name: "t".into(),
            family: "wasm".into(),
            measured: true,
            version: None,
            skipped_reason: None,
            accel: "none".into(),
            accounting: None,
            facts: Default::default(),
            phases: phases.iter().map(|p| p.to_string()).collect(),
            implementation: None,
        }
    }

    #[test]
    fn a_target_whose_instances_die_with_their_request_has_no_resident_tenant() {
        assert!(!keeps_instances(Some(&info(&["cold", "host-cold"]))));
        assert!(keeps_instances(Some(&info(&["cold", "warm", "density"]))));
        assert!(keeps_instances(Some(&info(&[]))), "an old run.json");
    }
}
