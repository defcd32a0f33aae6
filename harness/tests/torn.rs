//! The harness on bad input and torn data, through the `coldbench` binary: a
//! run killed mid-write leaves a torn last row, and `report` and `compare`
//! use the complete rows and say on stderr what they left out; a folder that
//! is not a run, or whose run.json is damaged, is one line with the fix; a
//! cause is printed once; bad numbers are usage errors (exit status 2).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use coldbench::results::{
    self, MeasureRow, RowWriter, RunInfo, RunStatus, Sample, MEASURE_COLUMNS, SAMPLE_COLUMNS,
};
use coldbench::targets::Phase;

const RUN_ID: &str = "20260101-000000-torn";
/// Rounds of the fixture: a cold and a warm sample each.
const ROUNDS: u32 = 6;

fn sample(round: u32, phase: &str) -> Sample {
    let base = if phase == "cold" { 900_000 } else { 60_000 };
    Sample {
        run_id: RUN_ID.into(),
        round,
        target: "process".into(),
        family: "process".into(),
        workload: "hello".into(),
        phase: phase.into(),
        instance_id: format!("p{round}"),
        latency_ns: Some(base + u64::from(round) * base / 10),
        compute_ns: Some(200),
        cpu_ns: Some(base / 2),
        mem_pss_bytes: Some(1 << 20),
        mem_rss_bytes: Some(2 << 20),
        valid: true,
        error: String::new(),
        accel: "none".into(),
    }
}

fn run_info() -> RunInfo {
    RunInfo {
        run_id: RUN_ID.into(),
        // What a run killed mid-write leaves: it never got to say it ended.
        status: RunStatus::Running,
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        command_line: "coldbench run --targets process --workloads hello".into(),
        harness: "coldbench 0.1.0 (test)".into(),
        plan: common::fixture_plan(
            &["process"],
            &["hello"],
            vec![Phase::Cold, Phase::Warm],
            ROUNDS,
            7,
            4,
        ),
        fingerprint: common::fixture_fingerprint(),
        targets: vec![common::fixture_target(
            "process",
            "process",
            &["cold", "warm"],
        )],
        calibration: None,
        warnings: vec![],
        density_notes: vec![],
        conditions: None,
        precision: vec![],
    }
}

/// A complete run folder `<base>/results/<RUN_ID>`, written with the
/// library's writers as a run writes it: per round a cold and a warm sample,
/// each with one measure. Lines 2..=13 of both CSV files; the last (line 13)
/// is round 5's warm sample.
fn write_run(base: &Path) -> PathBuf {
    let dir = base.join("results").join(RUN_ID);
    std::fs::create_dir_all(&dir).unwrap();
    results::write_run_info(&dir, &run_info()).unwrap();
    let mut samples = RowWriter::create(&dir, "samples.csv", &SAMPLE_COLUMNS).unwrap();
    let mut measures = RowWriter::create(&dir, "measures.csv", &MEASURE_COLUMNS).unwrap();
    for round in 0..ROUNDS {
        for phase in ["cold", "warm"] {
            let s = sample(round, phase);
            measures
                .write(&MeasureRow {
                    run_id: s.run_id.clone(),
                    round,
                    target: s.target.clone(),
                    workload: s.workload.clone(),
                    phase: s.phase.clone(),
                    instance_id: s.instance_id.clone(),
                    measure: "instance_memory_bytes".into(),
                    value: 1_234_567,
                })
                .unwrap();
            samples.write(&s).unwrap();
        }
    }
    samples.flush().unwrap();
    measures.flush().unwrap();
    dir
}

/// Cuts `file` as a crash mid-write does: its last row keeps `fields`
/// fields, the last of them only half there, and no line end. Returns the
/// line the torn row is on.
fn tear(file: &Path, fields: usize) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    let body = text
        .strip_suffix('\n')
        .expect("a complete file ends its rows");
    let start = body.rfind('\n').unwrap() + 1;
    let row = &body[start..];
    let kept: Vec<&str> = row.split(',').take(fields).collect();
    let (last, whole) = kept.split_last().unwrap();
    assert!(last.len() >= 2, "a field to cut in half: {row}");
    let torn = format!("{},{}", whole.join(","), &last[..last.len() / 2]);
    std::fs::write(file, format!("{}{torn}", &text[..start])).unwrap();
    text[..start].lines().count() + 1
}

fn coldbench(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coldbench"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The stderr lines that contain `needle`.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

/// The `n` column of summary.csv for (process, hello, `phase`).
fn summary_n(run_dir: &Path, phase: &str) -> String {
    let text = std::fs::read_to_string(run_dir.join("summary.csv")).unwrap();
    let prefix = format!("process,process,hello,{phase},");
    let row = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {phase} row in {text}"));
    row.split(',').nth(4).unwrap().to_string()
}

#[test]
fn report_renders_a_torn_run_from_its_complete_rows_and_says_what_it_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = write_run(tmp.path());
    let samples_csv = run_dir.join("samples.csv");
    let measures_csv = run_dir.join("measures.csv");
    // samples.csv: the last row stops in latency_ns (8 of 15 fields);
    // measures.csv: every field there, but the value cut short.
    assert_eq!(tear(&samples_csv, 8), 13);
    assert_eq!(tear(&measures_csv, MEASURE_COLUMNS.len()), 13);
    assert!(!std::fs::read_to_string(&measures_csv)
        .unwrap()
        .ends_with('\n'));

    let out_dir = tmp.path().join("report");
    let out = coldbench(&[
        "report".as_ref(),
        run_dir.as_os_str(),
        "--out".as_ref(),
        out_dir.as_os_str(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");

    let torn = lines_with(&err, "torn");
    assert_eq!(torn.len(), 2, "one line per torn file: {err}");
    assert_eq!(
        lines_with(&err, "samples.csv"),
        [format!(
            "{}: dropped 1 torn row (line 13: 8 of 15 fields); the other 11 rows are used",
            samples_csv.display()
        )]
    );
    assert_eq!(
        lines_with(&err, "measures.csv"),
        [format!(
            "{}: dropped 1 torn row (line 13: no line end, cut off mid-write); the other 11 rows are used",
            measures_csv.display()
        )]
    );

    // The report was written, from the complete rows, and says what it left out.
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(
        html.contains("samples.csv: dropped 1 torn row (line 13: 8 of 15 fields)"),
        "the page warns about the dropped sample"
    );
    assert!(html.contains("measures.csv: dropped 1 torn row"));
    assert!(out_dir.join("summary.md").is_file());
    assert_eq!(summary_n(&run_dir, "cold"), ROUNDS.to_string());
    assert_eq!(summary_n(&run_dir, "warm"), (ROUNDS - 1).to_string());
}

#[test]
fn compare_uses_the_complete_rows_of_a_torn_run_and_says_what_it_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let base = write_run(&tmp.path().join("base"));
    let new = write_run(&tmp.path().join("new"));
    let line = tear(&new.join("samples.csv"), 3);

    let out = coldbench(&["compare".as_ref(), base.as_os_str(), new.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        lines_with(&err, "torn"),
        [format!(
            "{}: dropped 1 torn row (line {line}: 3 of 15 fields); the other 11 rows are used",
            new.join("samples.csv").display()
        )],
        "only the torn file is named"
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| unchanged | process | hello | warm |") && table.contains("| 6 / 5 |"),
        "the warm cell compares 6 samples with the 5 complete ones: {table}"
    );
    assert!(table.contains("| 6 / 6 |"), "{table}");
}

/// The exit status and stderr of `coldbench report DIR`.
fn report(dir: &Path) -> (Option<i32>, String) {
    let out = coldbench(&["report".as_ref(), dir.as_os_str()]);
    (out.status.code(), stderr(&out))
}

#[test]
fn a_folder_without_run_json_is_one_line_saying_what_a_run_folder_is() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, err) = report(tmp.path());
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "error: {} is not a run folder: run.json is missing (a run folder holds run.json, samples.csv and measures.csv, as written by `coldbench run`)\n",
            tmp.path().display()
        )
    );
    // Given results/ instead of a run in it, it points at the run.
    let run_dir = write_run(tmp.path());
    results::point_latest(run_dir.parent().unwrap(), RUN_ID).unwrap();
    let (code, err) = report(&tmp.path().join("results"));
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.trim_end().ends_with(&format!(
            "did you mean {}?)",
            tmp.path().join("results/latest").display()
        )),
        "{err}"
    );
}

#[test]
fn a_corrupt_run_json_is_one_line_with_where_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = write_run(tmp.path());
    let path = run_dir.join("run.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let (code, err) = report(&run_dir);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let prefix = format!(
        "error: run.json in {} is not valid JSON (line ",
        run_dir.display()
    );
    assert!(err.starts_with(&prefix), "{err}");
    assert!(
        err.contains("restore it from a copy, or measure again with `coldbench run`"),
        "{err}"
    );

    // Valid JSON, but not a run.json.
    std::fs::write(&path, "{\"run_id\": 3}").unwrap();
    let (code, err) = report(&run_dir);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: run.json in {} is not a coldbench run.json (line 1, column ",
            run_dir.display()
        )),
        "{err}"
    );
    assert!(!tmp.path().join("reports").exists(), "no report written");
}

#[test]
fn a_missing_folder_is_one_line_and_each_cause_is_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let gone = tmp.path().join("nonexistent");
    let (code, err) = report(&gone);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "error: {} is not a run folder: no such folder (give a folder under results/, e.g. results/latest)\n",
            gone.display()
        )
    );
    assert_eq!(err.matches("no such folder").count(), 1);
    assert_eq!(err.matches("No such file or directory").count(), 0);

    // An I/O error the harness does not rephrase: its cause once, too.
    let run_dir = write_run(tmp.path());
    std::fs::remove_file(run_dir.join("run.json")).unwrap();
    std::fs::create_dir(run_dir.join("run.json")).unwrap();
    let (code, err) = report(&run_dir);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let cause = std::io::Error::from_raw_os_error(nix::libc::EISDIR).to_string();
    assert_eq!(err.matches(&cause).count(), 1, "{err}");
    assert!(err.contains("run.json"), "{err}");
}

#[test]
fn bad_numbers_are_usage_errors_with_exit_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, value, says) in [
        ("--samples", "0", "must be at least 1"),
        ("--samples", "-1", "not a whole number of at least 1"),
        ("--samples", "1/2", "not a whole number of at least 1"),
        ("--warm-samples", "0", "leave `warm` out of --phases"),
        ("--seed", "abc", "not a seed"),
    ] {
        let out = coldbench(&[
            "run".as_ref(),
            flag.as_ref(),
            value.as_ref(),
            "--out".as_ref(),
            tmp.path().as_os_str(),
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: invalid value '{value}' for '{flag} "))
                && first.contains(says),
            "{flag} {value}: {err}"
        );
    }
    assert!(
        !tmp.path().join("results").exists(),
        "a usage error measures nothing"
    );
}
