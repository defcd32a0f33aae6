//! Raw data on disk (DESIGN.md, "Data"): `results/<run-id>/run.json`,
//! `samples.csv` (one row per sample, written as the run goes) and
//! `summary.csv` (derived, rewritable from samples.csv at any time).
//!
//! Every CSV file's row type is defined here beside its column list; the
//! tests check that each type serializes to exactly its list, so reordering
//! a field cannot silently relabel a column. Nothing here imports
//! [`crate::stats`], which computes the summary rows.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::measure::calibrate::Calibration;
use crate::plan::Plan;
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

/// One row of summary.csv: a (target, workload, phase), DESIGN.md's columns
/// (in [`SUMMARY_COLUMNS`]' order); computed by [`crate::stats::summarize`].
///
/// Latency percentiles (`p50_ns`, `p90_ns`, `p99_ns`) are HDR histogram
/// buckets (3 significant digits, clamped to the observed range), while the
/// confidence interval beside them is that of the exact sample median, so
/// `p50_ns` may differ from that median by up to 0.1% and even lie just
/// outside its interval.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SummaryRow {
    /// Target name.
    pub target: String,
    /// Family.
    pub family: String,
    /// Workload.
    pub workload: String,
    /// Phase.
    pub phase: String,
    /// Valid samples: the ones the statistics use.
    pub n: u64,
    /// Samples kept but flagged invalid or failed.
    pub n_invalid: u64,
    /// Median latency: the HDR bucket of quantile 0.5, not the exact median.
    pub p50_ns: Option<u64>,
    /// 90th percentile (HDR bucket).
    pub p90_ns: Option<u64>,
    /// 99th percentile (HDR bucket).
    pub p99_ns: Option<u64>,
    /// Largest.
    pub max_ns: Option<u64>,
    /// Mean (integer division, rounded down).
    pub mean_ns: Option<u64>,
    /// Lower bound of the bootstrap 95% CI of the exact median.
    pub ci95_lo_ns: Option<u64>,
    /// Upper bound.
    pub ci95_hi_ns: Option<u64>,
    /// Median CPU time per sample (HDR bucket).
    pub cpu_p50_ns: Option<u64>,
    /// Median PSS after the response (HDR bucket).
    pub mem_pss_p50_bytes: Option<u64>,
}

/// Columns of summary.csv, in DESIGN.md's order. [`write_summary`] takes its
/// header from [`SummaryRow`]'s fields; a test keeps the two equal.
pub const SUMMARY_COLUMNS: [&str; 15] = [
    "target",
    "family",
    "workload",
    "phase",
    "n",
    "n_invalid",
    "p50_ns",
    "p90_ns",
    "p99_ns",
    "max_ns",
    "mean_ns",
    "ci95_lo_ns",
    "ci95_hi_ns",
    "cpu_p50_ns",
    "mem_pss_p50_bytes",
];

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

/// Columns of density.csv, in [`DensityRow`]'s field order (tested).
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
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: String,
        /// Why.
        source: csv::Error,
    },
    /// A CSV file whose header lacks a column the rows need.
    #[error("{path} is not a coldbench {kind} file: its header has no column `{column}` (the columns are {expected})")]
    Header {
        /// The file.
        path: String,
        /// `samples`, `measures`, `density`.
        kind: &'static str,
        /// The first column missing.
        column: &'static str,
        /// Every column expected, comma-separated.
        expected: String,
    },
    /// Rows that do not parse, where every row must (see [`read_samples`]).
    #[error("{path} has rows that do not parse: {}", list_torn(rows, usize::MAX))]
    Torn {
        /// The file.
        path: String,
        /// The rows.
        rows: Vec<TornRow>,
    },
    /// Bad JSON.
    #[error("{path} is not a coldbench run.json: {source}")]
    Json {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// The folder given is not a run folder: missing, a file, or without
    /// run.json or samples.csv.
    #[error("{dir} is not a run folder: {why}")]
    NotARunFolder {
        /// The folder, as given.
        dir: String,
        /// What is wrong, and what a run folder is.
        why: String,
    },
    /// run.json is there but empty, not JSON, or not a coldbench run.json.
    #[error("run.json in {dir} {what}")]
    BadRunInfo {
        /// The run folder, as given.
        dir: String,
        /// What is wrong with it and what to do.
        what: String,
    },
}

/// What a run folder holds, for messages that say a folder is not one.
const RUN_FOLDER: &str =
    "a run folder holds run.json, samples.csv and measures.csv, as written by `coldbench run`";

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

/// Columns of samples.csv, in DESIGN.md's order and [`Sample`]'s field
/// order (tested).
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

/// Columns of measures.csv, in [`MeasureRow`]'s field order (tested).
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

/// One row of a run's CSV file left out because it is incomplete or does not
/// parse: what a run killed mid-write leaves at the end of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornRow {
    /// The line of the file the row starts on (line 1 is the header).
    pub line: u64,
    /// What is wrong with it, e.g. `14 of 15 fields`.
    pub why: String,
}

/// The rows of a run's CSV file that parse, and the torn ones left out.
#[derive(Clone, Debug)]
pub struct Rows<T> {
    /// The file.
    pub path: PathBuf,
    /// Every complete row, in file order, exactly as written.
    pub rows: Vec<T>,
    /// The rows left out, in file order.
    pub torn: Vec<TornRow>,
}

impl<T> Rows<T> {
    /// One line saying what was left out, naming the file by its path;
    /// `None` when every row was used.
    pub fn note(&self) -> Option<String> {
        self.note_as(&self.path.display().to_string())
    }

    /// [`Rows::note`], naming the file `label`.
    pub fn note_as(&self, label: &str) -> Option<String> {
        if self.torn.is_empty() {
            return None;
        }
        let n = self.torn.len();
        Some(format!(
            "{label}: dropped {n} torn row{} ({}); the other {} row{} used",
            if n == 1 { "" } else { "s" },
            list_torn(&self.torn, 3),
            self.rows.len(),
            if self.rows.len() == 1 { " is" } else { "s are" },
        ))
    }
}

/// `line 57: 14 of 15 fields; line 58: …`, at most `most` of them.
fn list_torn(rows: &[TornRow], most: usize) -> String {
    let mut text = rows
        .iter()
        .take(most)
        .map(|r| format!("line {}: {}", r.line, r.why))
        .collect::<Vec<_>>()
        .join("; ");
    if rows.len() > most {
        text.push_str(&format!("; and {} more", rows.len() - most));
    }
    text
}

/// Reads every row of a samples.csv; a row that does not parse is an error
/// (see [`read_samples_tolerant`] for the reader that leaves torn rows out).
pub fn read_samples(path: &Path) -> Result<Vec<Sample>, ResultsError> {
    strict(read_samples_tolerant(path)?)
}

/// Reads every row of a density.csv; a run without one has none.
pub fn read_density(path: &Path) -> Result<Vec<DensityRow>, ResultsError> {
    strict(read_density_tolerant(path)?)
}

/// Reads every row of a measures.csv; a run without one has none.
pub fn read_measures(path: &Path) -> Result<Vec<MeasureRow>, ResultsError> {
    strict(read_measures_tolerant(path)?)
}

/// Reads a samples.csv, leaving out (and counting) torn rows: rows with the
/// wrong number of fields, rows that do not parse, and a last row without
/// its line end (the writer ends every row, so such a row was cut off and
/// its last field may be short). Every other row is read as it was written.
pub fn read_samples_tolerant(path: &Path) -> Result<Rows<Sample>, ResultsError> {
    read_rows(path, "samples", &SAMPLE_COLUMNS)
}

/// [`read_samples_tolerant`] for a measures.csv; a run without one has none.
pub fn read_measures_tolerant(path: &Path) -> Result<Rows<MeasureRow>, ResultsError> {
    if !path.exists() {
        return Ok(no_rows(path));
    }
    read_rows(path, "measures", &MEASURE_COLUMNS)
}

/// [`read_samples_tolerant`] for a density.csv; a run without one has none.
pub fn read_density_tolerant(path: &Path) -> Result<Rows<DensityRow>, ResultsError> {
    if !path.exists() {
        return Ok(no_rows(path));
    }
    read_rows(path, "density", &DENSITY_COLUMNS)
}

fn no_rows<T>(path: &Path) -> Rows<T> {
    Rows {
        path: path.to_path_buf(),
        rows: Vec::new(),
        torn: Vec::new(),
    }
}

fn strict<T>(rows: Rows<T>) -> Result<Vec<T>, ResultsError> {
    if rows.torn.is_empty() {
        Ok(rows.rows)
    } else {
        Err(ResultsError::Torn {
            path: rows.path.display().to_string(),
            rows: rows.torn,
        })
    }
}

/// The folder of `path`, for messages.
fn folder_of(path: &Path) -> String {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => ".".to_string(),
    }
}

fn read_rows<T: serde::de::DeserializeOwned>(
    path: &Path,
    kind: &'static str,
    columns: &[&'static str],
) -> Result<Rows<T>, ResultsError> {
    let csv_err = |source| ResultsError::Csv {
        path: path.display().to_string(),
        source,
    };
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            return Err(ResultsError::NotARunFolder {
                dir: folder_of(path),
                why: format!("{name} is missing ({RUN_FOLDER})"),
            });
        }
        Err(e) => return Err(io_err("cannot read", path)(e)),
    };
    // Flexible: a short row is read (and left out below), not an error
    // that loses the whole file.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes.as_slice());
    let headers = reader.byte_headers().map_err(csv_err)?.clone();
    let names: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    let mut read: Vec<(u64, Result<T, String>)> = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_err)? {
        let line = record.position().map_or(0, |p| p.line());
        let row = if record.len() != headers.len() {
            Err(format!("{} of {} fields", record.len(), headers.len()))
        } else {
            record
                .deserialize::<T>(Some(&headers))
                .map_err(|e| why_unparsed(&e, &names, &record))
        };
        read.push((line, row));
    }
    if read.is_empty() {
        // No rows: a header cut short by a crash loses nothing.
        return Ok(no_rows(path));
    }
    if let Some(column) = columns.iter().find(|c| !names.iter().any(|n| n == *c)) {
        return Err(ResultsError::Header {
            path: path.display().to_string(),
            kind,
            column,
            expected: columns.join(","),
        });
    }
    if !bytes.ends_with(b"\n") {
        if let Some((_, row @ Ok(_))) = read.last_mut() {
            *row = Err("no line end, cut off mid-write".to_string());
        }
    }
    let mut rows = no_rows(path);
    for (line, row) in read {
        match row {
            Ok(row) => rows.rows.push(row),
            Err(why) => rows.torn.push(TornRow { line, why }),
        }
    }
    Ok(rows)
}

/// Why a row with the right number of fields does not parse: the column,
/// its text and the reason, e.g. `latency_ns "12x": invalid digit found in string`.
fn why_unparsed(e: &csv::Error, names: &[String], record: &csv::ByteRecord) -> String {
    let csv::ErrorKind::Deserialize { err, .. } = e.kind() else {
        return e.to_string();
    };
    let Some(field) = err.field().and_then(|f| usize::try_from(f).ok()) else {
        return err.kind().to_string();
    };
    let name = names.get(field).map_or("?", String::as_str);
    let text = String::from_utf8_lossy(record.get(field).unwrap_or_default());
    let mut shown: String = text.chars().take(24).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!("{name} {shown:?}: {}", err.kind())
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

/// Checks that `dir` is a folder; the error says what was given instead.
pub fn check_run_dir(dir: &Path) -> Result<(), ResultsError> {
    let why = match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "it is a file, not a folder (give a folder under results/, e.g. results/latest)",
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            "no such folder (give a folder under results/, e.g. results/latest)"
        }
        Err(e) => return Err(io_err("cannot open", dir)(e)),
    };
    Err(ResultsError::NotARunFolder {
        dir: dir.display().to_string(),
        why: why.to_string(),
    })
}

/// Reads run.json. A missing folder, a missing run.json and a damaged one
/// are errors that say which and what to do.
pub fn read_run_info(run_dir: &Path) -> Result<RunInfo, ResultsError> {
    check_run_dir(run_dir)?;
    let path = run_dir.join("run.json");
    let dir = run_dir.display().to_string();
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let latest = run_dir.join("latest");
            let hint = if latest.join("run.json").is_file() {
                format!("; did you mean {}?", latest.display())
            } else {
                String::new()
            };
            return Err(ResultsError::NotARunFolder {
                dir,
                why: format!("run.json is missing ({RUN_FOLDER}{hint})"),
            });
        }
        Err(e) => return Err(io_err("cannot read", &path)(e)),
    };
    // coldbench writes run.json whole (through a temporary file), so a bad
    // one was changed after the run.
    const FIX: &str = "restore it from a copy, or measure again with `coldbench run`";
    if text.trim().is_empty() {
        return Err(ResultsError::BadRunInfo {
            dir,
            what: format!("is empty (coldbench writes it whole, so it was emptied later): {FIX}"),
        });
    }
    serde_json::from_str(&text).map_err(|e| {
        let at = format!(" at line {} column {}", e.line(), e.column());
        let full = e.to_string();
        let detail = full.strip_suffix(&at).unwrap_or(&full);
        let what = match e.classify() {
            serde_json::error::Category::Data => "is not a coldbench run.json",
            _ => "is not valid JSON",
        };
        let why = match e.classify() {
            serde_json::error::Category::Data => {
                "it was written by another version of coldbench, or edited"
            }
            _ => "coldbench writes it whole, so it was changed after the run",
        };
        ResultsError::BadRunInfo {
            dir,
            what: format!(
                "{what} (line {}, column {}: {detail}): {why}; {FIX}",
                e.line(),
                e.column()
            ),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(round: u32, phase: &str, latency_ns: u64) -> Sample {
        Sample {
            run_id: "r".into(),
            round,
            target: "process".into(),
            family: "process".into(),
            workload: "hello".into(),
            phase: phase.into(),
            instance_id: format!("i{round}"),
            latency_ns: Some(latency_ns),
            compute_ns: Some(200),
            cpu_ns: None,
            mem_pss_bytes: Some(1 << 20),
            mem_rss_bytes: None,
            valid: true,
            error: String::new(),
            accel: "none".into(),
        }
    }

    fn measure(round: u32, value: u64) -> MeasureRow {
        MeasureRow {
            run_id: "r".into(),
            round,
            target: "process".into(),
            workload: "hello".into(),
            phase: "cold".into(),
            instance_id: format!("i{round}"),
            measure: "cgroup_memory_bytes".into(),
            value,
        }
    }

    /// `rows` written the way a run writes them; the file's path.
    fn write<T: Serialize>(dir: &Path, name: &str, header: &[&str], rows: &[T]) -> PathBuf {
        let mut w = RowWriter::create(dir, name, header).unwrap();
        for row in rows {
            w.write(row).unwrap();
        }
        w.flush().unwrap();
        dir.join(name)
    }

    /// Cuts the file's last row after `keep` bytes of it (no line end left).
    fn tear_last_row(path: &Path, keep: usize) {
        let text = fs::read_to_string(path).unwrap();
        let body = text.strip_suffix('\n').unwrap();
        let start = body.rfind('\n').unwrap() + 1;
        assert!(keep < body.len() - start, "keep less than the whole row");
        fs::write(path, &text[..start + keep]).unwrap();
    }

    fn samples() -> Vec<Sample> {
        (0..4)
            .map(|i| sample(i, "cold", 1_000 + u64::from(i)))
            .collect()
    }

    /// The header the csv crate writes for `row`, taken from its serde
    /// field names: what a reader matches columns by.
    fn serde_header<T: Serialize>(row: &T) -> Vec<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(row).unwrap();
        let bytes = w.into_inner().unwrap();
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        r.headers().unwrap().iter().map(String::from).collect()
    }

    fn summary_row() -> SummaryRow {
        SummaryRow {
            target: "process".into(),
            family: "process".into(),
            workload: "hello".into(),
            phase: "cold".into(),
            n: 2,
            n_invalid: 0,
            p50_ns: Some(1),
            p90_ns: None,
            p99_ns: None,
            max_ns: None,
            mean_ns: None,
            ci95_lo_ns: None,
            ci95_hi_ns: None,
            cpu_p50_ns: None,
            mem_pss_p50_bytes: None,
        }
    }

    #[test]
    fn every_row_type_serializes_to_its_column_list() {
        assert_eq!(serde_header(&sample(0, "cold", 1)), SAMPLE_COLUMNS);
        assert_eq!(serde_header(&measure(0, 1)), MEASURE_COLUMNS);
        let density = DensityRow {
            run_id: "r".into(),
            target: "process".into(),
            family: "process".into(),
            tenants: 4,
            memory_bytes: 1 << 20,
        };
        assert_eq!(serde_header(&density), DENSITY_COLUMNS);
        assert_eq!(serde_header(&summary_row()), SUMMARY_COLUMNS);
    }

    #[test]
    fn the_column_lists_are_the_ones_design_md_documents() {
        assert_eq!(
            SAMPLE_COLUMNS.join(","),
            "run_id,round,target,family,workload,phase,instance_id,latency_ns,compute_ns,cpu_ns,mem_pss_bytes,mem_rss_bytes,valid,error,accel"
        );
        assert_eq!(
            SUMMARY_COLUMNS.join(","),
            "target,family,workload,phase,n,n_invalid,p50_ns,p90_ns,p99_ns,max_ns,mean_ns,ci95_lo_ns,ci95_hi_ns,cpu_p50_ns,mem_pss_p50_bytes"
        );
    }

    #[test]
    fn summary_csv_has_the_summary_columns_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        write_summary(&path, &[summary_row()]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next(),
            Some(SUMMARY_COLUMNS.join(",").as_str())
        );
        let back: Vec<SummaryRow> = csv::Reader::from_path(&path)
            .unwrap()
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, [summary_row()]);
    }

    #[test]
    fn a_complete_file_is_read_as_the_strict_reader_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "samples.csv", &SAMPLE_COLUMNS, &samples());
        let rows = read_samples_tolerant(&path).unwrap();
        assert_eq!(rows.rows, samples());
        assert!(rows.torn.is_empty());
        assert_eq!(rows.note(), None);
        assert_eq!(read_samples(&path).unwrap(), samples());
        // And as a plain csv reader reads it.
        let plain: Vec<Sample> = csv::Reader::from_path(&path)
            .unwrap()
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.rows, plain);
    }

    #[test]
    fn a_torn_last_row_with_fewer_fields_is_dropped_counted_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "samples.csv", &SAMPLE_COLUMNS, &samples());
        // `r,3,process,process,hello,cold,i3,10` — 8 fields, the 8th cut short.
        tear_last_row(&path, "r,3,process,process,hello,cold,i3,10".len());
        let rows = read_samples_tolerant(&path).unwrap();
        assert_eq!(rows.rows, samples()[..3]);
        assert_eq!(
            rows.torn,
            [TornRow {
                line: 5,
                why: "8 of 15 fields".into()
            }]
        );
        assert_eq!(
            rows.note_as("samples.csv").unwrap(),
            "samples.csv: dropped 1 torn row (line 5: 8 of 15 fields); the other 3 rows are used"
        );
        assert!(rows
            .note()
            .unwrap()
            .starts_with(&path.display().to_string()));
        // The strict reader refuses it, and says where.
        let err = read_samples(&path).unwrap_err().to_string();
        assert!(err.contains("line 5: 8 of 15 fields"), "{err}");
    }

    #[test]
    fn a_last_row_cut_inside_its_last_field_is_dropped_though_it_parses() {
        let dir = tempfile::tempdir().unwrap();
        let measures = [measure(0, 123_456), measure(1, 987_654)];
        let path = write(dir.path(), "measures.csv", &MEASURE_COLUMNS, &measures);
        // Every field is there, but the value lost its last digits: `…,987`.
        let row = "r,1,process,hello,cold,i1,cgroup_memory_bytes,987";
        tear_last_row(&path, row.len());
        assert!(fs::read_to_string(&path).unwrap().ends_with(row));
        let rows = read_measures_tolerant(&path).unwrap();
        assert_eq!(rows.rows, measures[..1]);
        assert_eq!(
            rows.torn,
            [TornRow {
                line: 3,
                why: "no line end, cut off mid-write".into()
            }]
        );
    }

    #[test]
    fn a_row_that_does_not_parse_is_dropped_wherever_it_is_with_its_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "samples.csv", &SAMPLE_COLUMNS, &samples());
        let text = fs::read_to_string(&path).unwrap();
        let text = text
            .replacen(",1001,", ",10x1,", 1)
            .replacen(",true,", ",maybe,", 1);
        fs::write(&path, text).unwrap();
        let rows = read_samples_tolerant(&path).unwrap();
        assert_eq!(rows.rows, [samples()[2].clone(), samples()[3].clone()]);
        assert_eq!(rows.torn.len(), 2, "{:?}", rows.torn);
        assert_eq!(rows.torn[0].line, 2);
        assert!(
            rows.torn[0].why.starts_with("valid \"maybe\""),
            "{:?}",
            rows.torn
        );
        assert_eq!(rows.torn[1].line, 3);
        assert_eq!(
            rows.torn[1].why,
            "latency_ns \"10x1\": invalid digit found in string"
        );
        assert_eq!(
            rows.note_as("samples.csv").unwrap(),
            format!(
                "samples.csv: dropped 2 torn rows (line 2: {}; line 3: {}); the other 2 rows are used",
                rows.torn[0].why, rows.torn[1].why
            )
        );
    }

    #[test]
    fn many_torn_rows_are_counted_and_the_first_three_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "samples.csv", &SAMPLE_COLUMNS, &samples());
        let mut text = fs::read_to_string(&path).unwrap();
        for _ in 0..5 {
            text.push_str("r,9\n");
        }
        fs::write(&path, text).unwrap();
        let rows = read_samples_tolerant(&path).unwrap();
        assert_eq!(rows.rows, samples());
        let note = rows.note_as("samples.csv").unwrap();
        assert!(
            note.starts_with("samples.csv: dropped 5 torn rows (line 6: 2 of 15 fields; line 7: 2 of 15 fields; line 8: 2 of 15 fields; and 2 more)"),
            "{note}"
        );
    }

    #[test]
    fn a_file_cut_inside_its_header_has_no_rows_and_nothing_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        for text in ["", "run_id,round,tar"] {
            fs::write(&path, text).unwrap();
            let rows = read_samples_tolerant(&path).unwrap();
            assert!(rows.rows.is_empty() && rows.torn.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn a_file_of_other_columns_is_an_error_not_a_file_of_torn_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        fs::write(&path, "a,b\n1,2\n").unwrap();
        let err = read_samples_tolerant(&path).unwrap_err().to_string();
        assert!(
            err.contains("is not a coldbench samples file: its header has no column `run_id`"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_samples_csv_says_what_a_run_folder_holds_and_others_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_samples_tolerant(&dir.path().join("samples.csv"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{} is not a run folder: samples.csv is missing ({RUN_FOLDER})",
                dir.path().display()
            )
        );
        assert!(read_measures_tolerant(&dir.path().join("measures.csv"))
            .unwrap()
            .rows
            .is_empty());
        assert!(read_density_tolerant(&dir.path().join("density.csv"))
            .unwrap()
            .rows
            .is_empty());
    }

    #[test]
    fn run_json_problems_say_which_and_where() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let err = |p: &Path| read_run_info(p).unwrap_err().to_string();

        let gone = dir.path().join("gone");
        assert_eq!(
            err(&gone),
            format!("{d}/gone is not a run folder: no such folder (give a folder under results/, e.g. results/latest)")
        );
        assert_eq!(
            err(dir.path()),
            format!("{d} is not a run folder: run.json is missing ({RUN_FOLDER})")
        );
        fs::create_dir(dir.path().join("latest")).unwrap();
        fs::write(dir.path().join("latest/run.json"), "{}").unwrap();
        assert!(
            err(dir.path()).ends_with(&format!("; did you mean {d}/latest?)")),
            "{}",
            err(dir.path())
        );

        let path = dir.path().join("run.json");
        fs::write(&path, "{\n  \"run_id\": \"x\",\n  \"status\" 1\n}").unwrap();
        assert_eq!(
            err(dir.path()),
            format!("run.json in {d} is not valid JSON (line 3, column 12: expected `:`): coldbench writes it whole, so it was changed after the run; restore it from a copy, or measure again with `coldbench run`")
        );
        fs::write(&path, "{\"run_id\": \"x\"}").unwrap();
        let e = err(dir.path());
        assert!(
            e.starts_with(&format!(
                "run.json in {d} is not a coldbench run.json (line 1, column 15: missing field `status`)"
            )),
            "{e}"
        );
        fs::write(&path, "\n").unwrap();
        assert!(
            err(dir.path()).starts_with(&format!("run.json in {d} is empty")),
            "{}",
            err(dir.path())
        );
    }
}
