//! Reports, rendered from a run's raw files alone (run.json, samples.csv):
//! `reports/<run-id>/index.html` (one self-contained page: tables and inline
//! SVG charts) and `reports/<run-id>/summary.md` (the headline table, fit for a
//! CI job summary). `coldbench report RUN_DIR` re-renders them at any time.

pub mod browser;
pub mod charts;
pub mod comparison;
pub mod cost;
pub mod figures;
pub mod html;
pub mod markdown;
pub mod model;
pub mod restore;
pub mod sections;
pub mod seeds;

use std::fs;
use std::path::{Path, PathBuf};

use crate::results::{self, ResultsError};
use crate::stats;

/// A report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run folder is missing, unreadable or not a run folder (the
    /// message says which).
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// The report folder cannot be written.
    #[error("cannot write the report to {path}: {source}")]
    Write {
        /// Folder or file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The template failed (a bug: the template is compiled in).
    #[error("report template error: {0}")]
    Template(#[from] minijinja::Error),
}

/// Where a report went.
#[derive(Debug)]
pub struct Rendered {
    /// The report folder.
    pub dir: PathBuf,
    /// index.html.
    pub html: PathBuf,
    /// summary.md.
    pub markdown: PathBuf,
    /// One line per raw file that had torn rows (a run killed mid-write),
    /// saying what was left out; the report says it too.
    pub dropped: Vec<String>,
}

/// `<base>/reports/<id>` for a run at `<base>/results/<id>`, else `<run>/report`.
pub fn default_dir(run_dir: &Path) -> PathBuf {
    let run_dir = run_dir
        .canonicalize()
        .unwrap_or_else(|_| run_dir.to_path_buf());
    match (run_dir.parent(), run_dir.file_name()) {
        (Some(parent), Some(id)) if parent.file_name().is_some_and(|n| n == "results") => parent
            .parent()
            .map(|base| base.join("reports").join(id))
            .unwrap_or_else(|| run_dir.join("report")),
        _ => run_dir.join("report"),
    }
}

/// Re-derives summary.csv and renders both reports into `out_dir`; when
/// `out_dir` sits in a `reports/` folder, `reports/latest` points at it.
pub fn render(run_dir: &Path, out_dir: &Path) -> Result<Rendered, ReportError> {
    let mut run = results::read_run_info(run_dir)?;
    // A run killed mid-write leaves a torn last row: render from the
    // complete rows and say what was left out, here and in the report.
    let samples = results::read_samples_tolerant(&run_dir.join("samples.csv"))?;
    let all_measures = results::read_measures_tolerant(&run_dir.join("measures.csv"))?;
    let density = results::read_density_tolerant(&run_dir.join("density.csv"))?;
    let dropped: Vec<String> = [samples.note(), all_measures.note(), density.note()]
        .into_iter()
        .flatten()
        .collect();
    run.warnings.extend(
        [
            samples.note_as("samples.csv"),
            all_measures.note_as("measures.csv"),
            density.note_as("density.csv"),
        ]
        .into_iter()
        .flatten(),
    );
    let (samples, all_measures, density) = (samples.rows, all_measures.rows, density.rows);
    // Only the measures of valid samples enter any figure.
    let measures = results::valid_measures(&samples, &all_measures);
    let target_order: Vec<String> = run.targets.iter().map(|t| t.name.clone()).collect();
    let rows = stats::summarize(&samples, &target_order, &run.plan.workloads, run.plan.seed);
    results::write_summary(&run_dir.join("summary.csv"), &rows)?;

    // Computed once: the page, the summary and the charts show these figures.
    let figures = figures::Figures::compute(&run, &samples, &measures, &density, &rows);
    let mut model = model::ReportModel::from_figures(&figures);
    model.drift = crate::drift::read(run_dir).and_then(|rows| model::DriftView::of(&rows));
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| ReportError::Write { path, source }
    };
    fs::create_dir_all(out_dir).map_err(write_err(out_dir))?;
    let html_path = out_dir.join("index.html");
    let md_path = out_dir.join("summary.md");
    let page = html::render(&model, &charts::all(&figures, &samples))?;
    fs::write(&html_path, page).map_err(write_err(&html_path))?;
    fs::write(&md_path, markdown::render(&model)).map_err(write_err(&md_path))?;
    if let (Some(parent), Some(name)) = (out_dir.parent(), out_dir.file_name()) {
        if parent.file_name().is_some_and(|n| n == "reports") {
            results::point_latest(parent, &name.to_string_lossy())?;
        }
    }
    Ok(Rendered {
        dir: out_dir.to_path_buf(),
        html: html_path,
        markdown: md_path,
        dropped,
    })
}
