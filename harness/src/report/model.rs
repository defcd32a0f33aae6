//! What a report shows: the figures (`super::figures`, computed once from
//! the raw data) formatted by one builder per section, shared by the HTML
//! page and the Markdown summary.

use serde::Serialize;

use super::figures::{Flagged, Totals};
use super::sections::comparison::{ClaimRow, FamilyRow};
use super::sections::compute::ComputeRow;
use super::sections::cost::CostRow;
use super::sections::density::DensityView;
use super::sections::headline::Headline;
use super::sections::measures::MeasureView;
use super::sections::ratios::Ratio;
use super::sections::statistics::SummaryView;
use super::sections::targets::TargetView;

use super::figures::Figures;
use super::sections::{self, comparison, cost, environment, targets};
use crate::results::{DensityRow, MeasureRow, RunInfo, RunStatus, Sample, SummaryRow};

/// Everything a report shows, formatted.
#[derive(Debug, Serialize)]
pub struct ReportModel {
    /// run.json as recorded.
    pub run: RunInfo,
    /// The run did not finish.
    pub incomplete: bool,
    /// Per (target, workload): the figures a reader looks for first.
    pub headline: Vec<Headline>,
    /// summary.csv, formatted.
    pub summary: Vec<SummaryView>,
    /// Each target against the baseline, per workload.
    pub ratios: Vec<Ratio>,
    /// Invalid and failed samples, grouped.
    pub flagged: Vec<Flagged>,
    /// Targets that were not measured.
    pub skipped: Vec<(String, String)>,
    /// Measured targets with versions, accounting and prepare facts.
    pub targets: Vec<TargetView>,
    /// Medians of the instances' own compute time (warm samples).
    pub compute: Vec<ComputeRow>,
    /// Target-specific figures (measures.csv), as medians.
    pub measures: Vec<MeasureView>,
    /// Sample counts.
    pub totals: Totals,
    /// Harness figures (calibration, polling), formatted.
    pub harness: Vec<(String, String)>,
    /// Environment fingerprint, formatted.
    pub environment: Vec<(String, String)>,
    /// Workloads in plan order.
    pub workloads: Vec<String>,
    /// Target names in report order, measured ones only.
    pub target_names: Vec<String>,
    /// Targets whose guests ran under emulation (TCG): shown, not compared.
    pub emulated: Vec<String>,
    /// Density fits per target.
    pub density: Vec<DensityView>,
    /// The comparison page: one row per family.
    pub families: Vec<FamilyRow>,
    /// The seed sources' tables, regenerated.
    pub seeds: Vec<sections::seeds::SeedTableView>,
    /// The same, one row per (implementation, family).
    pub by_implementation: Vec<FamilyRow>,
    /// The comparison page: each claim against the measurement.
    pub claims: Vec<ClaimRow>,
    /// $ per million invocations under each billing model.
    pub costs: Vec<CostRow>,
    /// The billing models' names, in cell order, with their sources.
    pub cost_models: Vec<(String, String)>,
    /// When and how the prices were read.
    pub prices_read: String,
    /// drift.csv, when `coldbench drift --save` wrote one into the run.
    pub drift: Option<DriftView>,
    /// Cold beside restore, per target that restored.
    pub start_kinds: Vec<sections::restore::StartKindRow>,
    /// The published snapshot starts beside the nearest figure here.
    pub restore_anchors: Vec<sections::restore::AnchorRow>,
}

/// The drift check this run was part of, formatted.
#[derive(Debug, Serialize)]
pub struct DriftView {
    /// Runs compared.
    pub runs: usize,
    /// One row per figure: name, each run's value, spread.
    pub rows: Vec<(String, Vec<String>, String)>,
}

impl DriftView {
    /// From drift.csv's rows.
    pub fn of(rows: &[crate::drift::DriftRow]) -> Option<DriftView> {
        let runs = rows.first()?.values.split(';').count();
        let rows = rows.iter().map(crate::drift::formatted).collect();
        Some(DriftView { runs, rows })
    }
}

impl ReportModel {
    /// Builds the model from what a run wrote (`measures`: those of valid
    /// samples; `rows`: summary.csv as derived from `samples`).
    pub fn build(
        run: &RunInfo,
        samples: &[Sample],
        measures: &[&MeasureRow],
        density_rows: &[DensityRow],
        rows: &[SummaryRow],
    ) -> ReportModel {
        Self::from_figures(&Figures::compute(
            run,
            samples,
            measures,
            density_rows,
            rows,
        ))
    }

    /// Formats figures already computed (the charts draw the same ones).
    pub fn from_figures(f: &Figures) -> ReportModel {
        ReportModel {
            run: f.run.clone(),
            incomplete: f.run.status != RunStatus::Complete,
            headline: sections::headline::build(f),
            summary: sections::statistics::build(f),
            ratios: sections::ratios::build(f),
            flagged: f.flagged.clone(),
            skipped: targets::skipped(f.run),
            targets: targets::build(f.run),
            compute: sections::compute::build(f),
            measures: sections::measures::build(&f.measures),
            totals: f.totals,
            harness: environment::harness(f.run),
            environment: environment::environment(f.run),
            workloads: f.workloads.clone(),
            target_names: f.targets.clone(),
            emulated: f.emulated.clone(),
            density: sections::density::build(f),
            families: comparison::families(&f.families),
            seeds: f
                .seeds
                .as_ref()
                .map(sections::seeds::build)
                .unwrap_or_default(),
            by_implementation: comparison::families(&f.by_implementation),
            claims: comparison::claims(&f.claims),
            costs: cost::rows(&f.costs),
            cost_models: cost::models(&f.prices),
            prices_read: cost::read(&f.prices),
            drift: None,
            start_kinds: sections::restore::build(f),
            restore_anchors: sections::restore::anchors(f),
        }
    }
}
