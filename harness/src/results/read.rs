//! Reading a run's CSV files, strictly or leaving out (and reporting) torn rows.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::folder::{csv_err, io_err, RUN_FOLDER};
use super::{
    DensityRow, MeasureRow, ResultsError, Sample, DENSITY_COLUMNS, MEASURE_COLUMNS, SAMPLE_COLUMNS,
};

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
pub(super) fn list_torn(rows: &[TornRow], most: usize) -> String {
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
    read_rows(path, "samples", &SAMPLE_COLUMNS, true)
}

/// [`read_samples_tolerant`] for a measures.csv; a run without one has none.
pub fn read_measures_tolerant(path: &Path) -> Result<Rows<MeasureRow>, ResultsError> {
    read_rows(path, "measures", &MEASURE_COLUMNS, false)
}

/// [`read_samples_tolerant`] for a density.csv; a run without one has none.
pub fn read_density_tolerant(path: &Path) -> Result<Rows<DensityRow>, ResultsError> {
    read_rows(path, "density", &DENSITY_COLUMNS, false)
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
    required: bool,
) -> Result<Rows<T>, ResultsError> {
    let csv_err = csv_err(path);
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(no_rows(path)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixtures::{measure, sample};
    use crate::results::RowWriter;
    use serde::Serialize;

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
}
