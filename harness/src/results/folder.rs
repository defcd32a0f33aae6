//! The errors of reading and writing a run folder, and reading one's run.json.

use std::fs;
use std::io;
use std::path::Path;

use super::read::list_torn;
use super::{RunInfo, TornRow};

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
    /// Rows that do not parse, where every row must (see [`read_samples`](super::read_samples)).
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
pub(super) const RUN_FOLDER: &str =
    "a run folder holds run.json, samples.csv and measures.csv, as written by `coldbench run`";

/// A closure that makes an I/O error on `path` a [`ResultsError::Io`].
/// A CSV error of `path`, as [`io_err`] makes an I/O one.
pub(super) fn csv_err(path: &Path) -> impl Fn(csv::Error) -> ResultsError + Copy + '_ {
    move |source| ResultsError::Csv {
        path: path.display().to_string(),
        source,
    }
}

pub(super) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ResultsError {
    let path = path.display().to_string();
    move |source| ResultsError::Io {
        action,
        path,
        source,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
