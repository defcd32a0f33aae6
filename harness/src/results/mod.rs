//! Raw data on disk (DESIGN.md, "Data"): `results/<run-id>/run.json`,
//! `samples.csv` (one row per sample, written as the run goes) and
//! `summary.csv` (derived, rewritable from samples.csv at any time).
//!
//! Every CSV file's row type is defined here (in `rows.rs`) beside its
//! column list; the tests check that each type serializes to exactly its
//! list, so reordering a field cannot silently relabel a column. Nothing here imports
//! [`crate::stats`], which computes the summary rows.
//!
//! The files: `rows.rs` (the row types and column lists), `write.rs`
//! (creating and writing a run folder), `read.rs` (the strict and tolerant
//! CSV readers) and `folder.rs` (errors, run-folder checks, reading
//! run.json). Every public item is re-exported here.

mod folder;
mod read;
mod rows;
mod write;

#[cfg(test)]
pub(crate) mod fixtures;

pub use folder::{check_run_dir, read_run_info, ResultsError};
pub use read::{
    read_density, read_density_tolerant, read_measures, read_measures_tolerant, read_samples,
    read_samples_tolerant, Rows, TornRow,
};
pub use rows::{
    valid_measures, DensityRow, MeasureRow, RunInfo, RunStatus, Sample, SummaryRow, TargetInfo,
    DENSITY_COLUMNS, MEASURE_COLUMNS, SAMPLE_COLUMNS, SUMMARY_COLUMNS,
};
pub use write::{
    create_run_dir, point_latest, write_rows, write_run_info, write_summary, RowWriter,
};
