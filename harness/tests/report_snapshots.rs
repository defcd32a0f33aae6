//! Snapshots of what users read and scripts parse: summary.md and summary.csv,
//! rendered from a fixed synthetic run (no clock, no machine in them).

mod common;

use coldbench::report::{markdown, model::ReportModel};
use coldbench::results::{RunInfo, RunStatus, Sample, TargetInfo};
use coldbench::stats;
use coldbench::targets::Phase;

fn sample(target: &str, workload: &str, phase: &str, i: u64, valid: bool) -> Sample {
    let base = match (target, phase) {
        ("process", "cold") => 900_000,
        ("process", _) => 60_000,
        (_, "cold") => 40_000_000,
        _ => 300_000,
    };
    Sample {
        run_id: "20260101-000000-beef".into(),
        round: i as u32,
        target: target.into(),
        family: "process".into(),
        workload: workload.into(),
        phase: phase.into(),
        instance_id: format!("{target}-{i}"),
        latency_ns: Some(base + i * base / 10),
        compute_ns: Some(if workload == "hello" { 200 } else { 30_000 }),
        cpu_ns: Some(base / 2),
        mem_pss_bytes: Some(if target == "node" { 45 << 20 } else { 1 << 20 }),
        mem_rss_bytes: Some(if target == "node" { 50 << 20 } else { 2 << 20 }),
        valid,
        error: if valid {
            String::new()
        } else {
            "wrong result: got 1, expected 2".into()
        },
        accel: "none".into(),
    }
}

fn fixture() -> (RunInfo, Vec<Sample>) {
    let targets = ["process", "node"];
    let workloads = ["hello", "palindrome-small"];
    let mut samples = Vec::new();
    for t in targets {
        for w in workloads {
            for i in 0..5 {
                samples.push(sample(
                    t,
                    w,
                    "cold",
                    i,
                    !(t == "node" && w == "hello" && i == 4),
                ));
                samples.push(sample(t, w, "warm", i, true));
            }
        }
    }
    let info = RunInfo {
        run_id: "20260101-000000-beef".into(),
        status: RunStatus::Complete,
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: Some("2026-01-01T00:01:00Z".into()),
        command_line: "coldbench run --profile quick".into(),
        harness: "coldbench 0.1.0 (test)".into(),
        plan: common::fixture_plan(&targets, &workloads, Phase::SAMPLED.to_vec(), 5, 3, 16),
        fingerprint: common::fixture_fingerprint(),
        targets: targets
            .iter()
            .map(|t| common::fixture_target(t, "process", &["cold", "warm", "density"]))
            .chain(std::iter::once(TargetInfo {
                name: "deno".into(),
                family: "isolate".into(),
                measured: false,
                version: None,
                skipped_reason: Some("unavailable: deno is not installed: run `just setup`".into()),
                accel: "none".into(),
                accounting: None,
                facts: Default::default(),
                phases: vec![],
                implementation: Some(coldbench::vocab::Implementation::Js),
            }))
            .collect(),
        calibration: None,
        warnings: vec![],
        density_notes: vec![],
        conditions: None,
        precision: vec![],
    };
    (info, samples)
}

/// The fixture and its summary rows.
fn summarized() -> (RunInfo, Vec<Sample>, Vec<coldbench::results::SummaryRow>) {
    let (info, samples) = fixture();
    let rows = stats::summarize(
        &samples,
        &info.plan.targets,
        &info.plan.workloads,
        info.plan.seed,
    );
    (info, samples, rows)
}

#[test]
fn summary_markdown() {
    let (info, samples, rows) = summarized();
    let model = ReportModel::build(&info, &samples, &[], &[], &rows);
    insta::assert_snapshot!(markdown::render(&model));
}

#[test]
fn summary_csv() {
    let (_, _, rows) = summarized();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.csv");
    coldbench::results::write_summary(&path, &rows).unwrap();
    insta::assert_snapshot!(std::fs::read_to_string(path).unwrap());
}

#[test]
fn the_report_renders_in_a_real_browser() {
    if !common::require_browser() {
        return;
    }
    let browser = coldbench::report::browser::find().expect("found above");
    let (info, samples) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("results").join(&info.run_id);
    std::fs::create_dir_all(&run_dir).unwrap();
    coldbench::results::write_run_info(&run_dir, &info).unwrap();
    let mut w = csv::Writer::from_path(run_dir.join("samples.csv")).unwrap();
    for s in &samples {
        w.serialize(s).unwrap();
    }
    w.flush().unwrap();
    let out = coldbench::report::default_dir(&run_dir);
    coldbench::report::render(&run_dir, &out).unwrap();
    let seen = coldbench::report::browser::check(&browser, &out).unwrap();
    // Latency for both workloads, memory, CPU, compute: every one drawn.
    assert_eq!(seen.charts, 5, "{seen:?}");
    assert!(seen.tables >= 8, "{seen:?}");
    assert!(std::fs::read(&seen.screenshot)
        .unwrap()
        .starts_with(b"\x89PNG"));
    assert_eq!(
        seen.screenshot.parent(),
        Some(out.as_path()),
        "kept beside the report"
    );
}
