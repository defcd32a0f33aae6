//! The one sink for a run folder: it owns the CSV writers (samples, measures,
//! density), run.json and the run's warnings and notes. Phases hand it rows
//! by value; it writes them and flushes after each cell, so an interrupted
//! or crashed run keeps what it measured.

use std::path::{Path, PathBuf};

use crate::phases::CellOutput;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::results::{
    self, DensityRow, MeasureRow, ResultsError, RowWriter, RunInfo, RunStatus, Sample,
    DENSITY_COLUMNS, MEASURE_COLUMNS, SAMPLE_COLUMNS,
};
use crate::stats;

/// A run folder being written.
pub struct RunFolder {
    dir: PathBuf,
    info: RunInfo,
    /// samples.csv and measures.csv, from the first round on.
    rows: Option<(RowWriter<Sample>, RowWriter<MeasureRow>)>,
    density: Option<RowWriter<DensityRow>>,
    /// Every sample written, for the summary.
    all: Vec<Sample>,
}

impl RunFolder {
    /// Takes `dir` (already created) and writes its run.json.
    pub fn create(dir: PathBuf, info: RunInfo) -> Result<RunFolder, ResultsError> {
        results::write_run_info(&dir, &info)?;
        Ok(RunFolder {
            dir,
            info,
            rows: None,
            density: None,
            all: Vec::new(),
        })
    }

    /// What run.json holds so far.
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// Changes what run.json will hold (written when the run finishes).
    pub fn info_mut(&mut self) -> &mut RunInfo {
        &mut self.info
    }

    /// Starts samples.csv and measures.csv (their headers), once the rounds begin.
    pub fn begin_samples(&mut self) -> Result<(), ResultsError> {
        self.rows = Some((
            RowWriter::create(&self.dir, "samples.csv", &SAMPLE_COLUMNS)?,
            RowWriter::create(&self.dir, "measures.csv", &MEASURE_COLUMNS)?,
        ));
        Ok(())
    }

    /// Writes one cell's rows and flushes them; its warnings are shown and kept.
    pub fn cell(
        &mut self,
        out: CellOutput,
        progress: &mut dyn Progress,
    ) -> Result<(), ResultsError> {
        if let Some((samples, measures)) = &mut self.rows {
            for s in &out.samples {
                samples.write(s)?;
            }
            for m in &out.measures {
                measures.write(m)?;
            }
            samples.flush()?;
            measures.flush()?;
        }
        for w in out.warnings {
            self.warn(w, progress);
        }
        self.all.extend(out.samples);
        Ok(())
    }

    /// A warning: shown now, and kept in run.json (and so in the report).
    pub fn warn(&mut self, warning: String, progress: &mut dyn Progress) {
        progress.note(&format!("warning: {warning}"));
        self.info.warnings.push(warning);
    }

    /// Starts density.csv (its header), when the density phase begins.
    pub fn begin_density(&mut self) -> Result<(), ResultsError> {
        self.density = Some(RowWriter::create(
            &self.dir,
            "density.csv",
            &DENSITY_COLUMNS,
        )?);
        Ok(())
    }

    /// Writes density rows and flushes them.
    pub fn density(&mut self, rows: &[DensityRow]) -> Result<(), ResultsError> {
        if let Some(density) = &mut self.density {
            for row in rows {
                density.write(row)?;
            }
            density.flush()?;
        }
        Ok(())
    }

    /// A note about the density sweep: shown now, kept in run.json.
    pub fn density_note(&mut self, note: String, progress: Option<&mut dyn Progress>) {
        if let Some(progress) = progress {
            progress.note(&note);
        }
        self.info.density_notes.push(note);
    }

    /// Every sample written so far.
    pub fn samples(&self) -> &[Sample] {
        &self.all
    }

    /// Writes summary.csv and the final run.json, and points `latest` here.
    pub fn finish(&mut self, plan: &Plan, status: RunStatus) -> Result<(), ResultsError> {
        let rows = stats::summarize(&self.all, &plan.targets, &plan.workloads, plan.seed);
        results::write_summary(&self.dir.join("summary.csv"), &rows)?;
        self.info.status = status;
        self.info.finished_at = Some(chrono::Utc::now().to_rfc3339());
        results::write_run_info(&self.dir, &self.info)?;
        results::point_latest(
            self.dir.parent().unwrap_or(Path::new(".")),
            &self.info.run_id,
        )
    }
}
