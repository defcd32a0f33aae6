//! Writing a run folder: creating it, appending CSV rows, summary.csv, run.json, `latest`.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::folder::{csv_err, io_err};
use super::{ResultsError, RunInfo, SummaryRow};

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
        writer.write_record(header).map_err(csv_err(&path))?;
        Ok(RowWriter {
            writer,
            path,
            rows: std::marker::PhantomData,
        })
    }

    /// Adds one row (buffered).
    pub fn write(&mut self, row: &T) -> Result<(), ResultsError> {
        self.writer.serialize(row).map_err(csv_err(&self.path))
    }

    /// Pushes buffered rows to the file.
    pub fn flush(&mut self) -> Result<(), ResultsError> {
        self.writer
            .flush()
            .map_err(io_err("cannot write", &self.path))
    }
}

/// Writes summary.csv.
pub fn write_summary(path: &Path, rows: &[SummaryRow]) -> Result<(), ResultsError> {
    write_rows(path, rows)
}

/// Writes `rows` as a CSV file with a header from their fields.
pub fn write_rows<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), ResultsError> {
    let csv_err = csv_err(path);
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
    use crate::results::fixtures::summary_row;
    use crate::results::SUMMARY_COLUMNS;

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
}
