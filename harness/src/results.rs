//! Raw data on disk (DESIGN.md, "Data"): `results/<run-id>/run.json`,
//! `samples.csv` (one row per sample, written as the run goes) and
//! `summary.csv` (derived, rewritable from samples.csv at any time).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::measure::calibrate::Calibration;
use crate::plan::Plan;
use crate::stats::SummaryRow;
use crate::targets::Accounting;

/// One measurement: the columns of samples.csv, in DESIGN.md's order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Run id.
    pub run_id: String,
    /// Round (0-based).
    pub round: u32,
    /// Target name.
    pub target: String,
    /// Target family.
    pub family: String,
    /// Workload name.
    pub workload: String,
    /// `cold`, `warm` or `host-cold`.
    pub phase: String,
    /// Instance id as the instance reported it; empty when it never answered.
    pub instance_id: String,
    /// Harness-measured latency; for failed samples, the time until the failure.
    pub latency_ns: Option<u64>,
    /// The handler's own time, as the instance reported it.
    pub compute_ns: Option<u64>,
    /// CPU time spent for the sample, as the target accounts it.
    pub cpu_ns: Option<u64>,
    /// PSS after the response.
    pub mem_pss_bytes: Option<u64>,
    /// RSS after the response.
    pub mem_rss_bytes: Option<u64>,
    /// Passed every check.
    pub valid: bool,
    /// Why not, when not valid.
    pub error: String,
    /// `kvm`, `tcg` or `none`.
    pub accel: String,
}

/// One target-specific figure of one sample (measures.csv): a long table,
/// one row per (sample, measure), so targets add figures without new columns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MeasureRow {
    /// Run id.
    pub run_id: String,
    /// Round (0-based).
    pub round: u32,
    /// Target name.
    pub target: String,
    /// Workload name.
    pub workload: String,
    /// Phase of the sample.
    pub phase: String,
    /// Instance id of the sample.
    pub instance_id: String,
    /// What was measured, e.g. `cgroup_memory_bytes`.
    pub measure: String,
    /// Its value (bytes, nanoseconds: the name says which).
    pub value: u64,
}

/// The measures that belong to valid samples, the same (target, round,
/// workload, phase, instance): only those enter any statistic.
pub fn valid_measures<'a>(samples: &[Sample], measures: &'a [MeasureRow]) -> Vec<&'a MeasureRow> {
    use std::collections::HashSet;
    let key = |t: &'a str, r: u32, w: &'a str, p: &'a str, i: &'a str| (t, r, w, p, i);
    let valid: HashSet<(&str, u32, &str, &str, &str)> = samples
        .iter()
        .filter(|s| s.valid)
        .map(|s| {
            (
                s.target.as_str(),
                s.round,
                s.workload.as_str(),
                s.phase.as_str(),
                s.instance_id.as_str(),
            )
        })
        .collect();
    measures
        .iter()
        .filter(|m| {
            valid.contains(&key(
                &m.target,
                m.round,
                &m.workload,
                &m.phase,
                &m.instance_id,
            ))
        })
        .collect()
}

/// One step of a density sweep (density.csv): the memory of `tenants` idle
/// instances of a target, together, as its family accounts it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DensityRow {
    /// Run id.
    pub run_id: String,
    /// Target name.
    pub target: String,
    /// Family.
    pub family: String,
    /// Idle instances alive.
    pub tenants: u32,
    /// Their memory together.
    pub memory_bytes: u64,
}

/// Columns of density.csv.
pub const DENSITY_COLUMNS: [&str; 5] = ["run_id", "target", "family", "tenants", "memory_bytes"];

/// How a run ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Still measuring, or the harness died (samples.csv has what was measured).
    Running,
    /// Every planned cell ran.
    Complete,
    /// Stopped by the user; samples so far are kept.
    Interrupted,
}

/// What the run knew of one target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Registry name.
    pub name: String,
    /// Family.
    pub family: String,
    /// Measured in this run?
    pub measured: bool,
    /// Runtime version, when available.
    pub version: Option<String>,
    /// Why it was skipped.
    pub skipped_reason: Option<String>,
    /// Accelerator.
    pub accel: String,
    /// What CPU and memory figures count.
    pub accounting: Option<Accounting>,
    /// Facts from prepare: artifact hashes, command lines.
    pub facts: serde_json::Map<String, serde_json::Value>,
    /// The phases the target has (`warm` only where an instance outlives
    /// its first request); empty in runs from before it was recorded.
    #[serde(default)]
    pub phases: Vec<String>,
}

/// run.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run id (also the folder name).
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339, once finished.
    pub finished_at: Option<String>,
    /// The command that made this run.
    pub command_line: String,
    /// coldbench version and git commit.
    pub harness: String,
    /// The plan.
    pub plan: Plan,
    /// The machine.
    pub fingerprint: Fingerprint,
    /// Every target considered.
    pub targets: Vec<TargetInfo>,
    /// The harness's own overhead.
    pub calibration: Option<Calibration>,
    /// Things the user should know (cleanup problems, …).
    pub warnings: Vec<String>,
    /// Where and why each density sweep ended.
    #[serde(default)]
    pub density_notes: Vec<String>,
}

/// A run folder could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// I/O on a file.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// Why it failed.
        source: io::Error,
    },
    /// Bad CSV.
    #[error("{path} is not a coldbench samples file: {source}")]
    Csv {
        /// The file.
        path: String,
        /// Why.
        source: csv::Error,
    },
    /// Bad JSON.
    #[error("{path} is not a coldbench run.json: {source}")]
    Json {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ResultsError {
    let path = path.display().to_string();
    move |source| ResultsError::Io {
        action,
        path,
        source,
    }
}

/// Creates `<base>/results/<id>/` (and `logs/` in it), adding a suffix if the
/// id is taken.
pub fn create_run_dir(base: &Path, id: &str) -> Result<(String, PathBuf), ResultsError> {
    let results = base.join("results");
    fs::create_dir_all(&results).map_err(io_err("cannot create", &results))?;
    let mut n = 1;
    loop {
        let name = if n == 1 {
            id.to_string()
        } else {
            format!("{id}-{n}")
        };
        let dir = results.join(&name);
        match fs::create_dir(&dir) {
            Ok(()) => {
                let logs = dir.join("logs");
                fs::create_dir(&logs).map_err(io_err("cannot create", &logs))?;
                return Ok((name, dir));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(io_err("cannot create", &dir)(e)),
        }
    }
}

/// Appends rows to a CSV file of the run (samples.csv, measures.csv); every
/// [`RowWriter::flush`] makes them durable.
pub struct RowWriter<T> {
    writer: csv::Writer<File>,
    path: PathBuf,
    rows: std::marker::PhantomData<T>,
}

impl<T: Serialize> RowWriter<T> {
    /// Creates `run_dir/name` with `header` (so that a file with no rows
    /// still says what its columns are).
    pub fn create(
        run_dir: &Path,
        name: &str,
        header: &[&str],
    ) -> Result<RowWriter<T>, ResultsError> {
        let path = run_dir.join(name);
        let file = File::create(&path).map_err(io_err("cannot create", &path))?;
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        writer
            .write_record(header)
            .map_err(|source| ResultsError::Csv {
                path: path.display().to_string(),
                source,
            })?;
        Ok(RowWriter {
            writer,
            path,
            rows: std::marker::PhantomData,
        })
    }

    /// Adds one row (buffered).
    pub fn write(&mut self, row: &T) -> Result<(), ResultsError> {
        self.writer
            .serialize(row)
            .map_err(|source| ResultsError::Csv {
                path: self.path.display().to_string(),
                source,
            })
    }

    /// Pushes buffered rows to the file.
    pub fn flush(&mut self) -> Result<(), ResultsError> {
        self.writer
            .flush()
            .map_err(io_err("cannot write", &self.path))
    }
}

/// Columns of samples.csv, in DESIGN.md's order.
pub const SAMPLE_COLUMNS: [&str; 15] = [
    "run_id",
    "round",
    "target",
    "family",
    "workload",
    "phase",
    "instance_id",
    "latency_ns",
    "compute_ns",
    "cpu_ns",
    "mem_pss_bytes",
    "mem_rss_bytes",
    "valid",
    "error",
    "accel",
];

/// Columns of measures.csv.
pub const MEASURE_COLUMNS: [&str; 8] = [
    "run_id",
    "round",
    "target",
    "workload",
    "phase",
    "instance_id",
    "measure",
    "value",
];

/// Reads every row of a samples.csv.
pub fn read_samples(path: &Path) -> Result<Vec<Sample>, ResultsError> {
    read_rows(path)
}

/// Reads every row of a density.csv; a run without one has none.
pub fn read_density(path: &Path) -> Result<Vec<DensityRow>, ResultsError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    read_rows(path)
}

/// Reads every row of a measures.csv; a run without one has none.
pub fn read_measures(path: &Path) -> Result<Vec<MeasureRow>, ResultsError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    read_rows(path)
}

fn read_rows<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, ResultsError> {
    let csv_err = |source| ResultsError::Csv {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(path).map_err(io_err("cannot open", path))?;
    csv::Reader::from_reader(file)
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .map_err(csv_err)
}

/// Writes summary.csv.
pub fn write_summary(path: &Path, rows: &[SummaryRow]) -> Result<(), ResultsError> {
    let csv_err = |source| ResultsError::Csv {
        path: path.display().to_string(),
        source,
    };
    let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
    for row in rows {
        w.serialize(row).map_err(csv_err)?;
    }
    w.flush().map_err(io_err("cannot write", path))
}

/// Writes run.json (via a temporary file, so a crash never leaves half of it).
pub fn write_run_info(run_dir: &Path, info: &RunInfo) -> Result<(), ResultsError> {
    let path = run_dir.join("run.json");
    let tmp = run_dir.join("run.json.tmp");
    let text = serde_json::to_string_pretty(info).map_err(|source| ResultsError::Json {
        path: path.display().to_string(),
        source,
    })?;
    fs::write(&tmp, text).map_err(io_err("cannot write", &tmp))?;
    fs::rename(&tmp, &path).map_err(io_err("cannot write", &path))
}

/// Reads run.json.
pub fn read_run_info(run_dir: &Path) -> Result<RunInfo, ResultsError> {
    let path = run_dir.join("run.json");
    let text = fs::read_to_string(&path).map_err(io_err("cannot read", &path))?;
    serde_json::from_str(&text).map_err(|source| ResultsError::Json {
        path: path.display().to_string(),
        source,
    })
}

/// Points `<parent>/latest` at `<parent>/<name>` (a relative symlink).
pub fn point_latest(parent: &Path, name: &str) -> Result<(), ResultsError> {
    let link = parent.join("latest");
    let tmp = parent.join(".latest.tmp");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).map_err(io_err("cannot create", &tmp))?;
    fs::rename(&tmp, &link).map_err(io_err("cannot update", &link))
}
