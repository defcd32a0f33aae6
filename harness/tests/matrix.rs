//! The whole pipeline on the real process targets, driven through the CLI as
//! a user would: run, raw data, summary, report, `latest` links.

mod common;

use std::process::Command;

use clap::Parser;
use coldbench::cli::{dispatch, Cli};
use coldbench::results::{read_run_info, read_samples, RunStatus};
use coldbench::targets::TargetKind;

const SAMPLES_HEADER: &str = "run_id,round,target,family,workload,phase,instance_id,latency_ns,compute_ns,cpu_ns,mem_pss_bytes,mem_rss_bytes,valid,error,accel";
const SUMMARY_HEADER: &str = "target,family,workload,phase,n,n_invalid,p50_ns,p90_ns,p99_ns,max_ns,mean_ns,ci95_lo_ns,ci95_hi_ns,cpu_p50_ns,mem_pss_p50_bytes";

#[test]
fn a_run_of_process_and_node_gives_valid_data_and_a_report() {
    let Some(_) = common::require(TargetKind::Process) else {
        return;
    };
    let Some(_) = common::require(TargetKind::Node) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let cli = Cli::try_parse_from([
        "coldbench",
        "run",
        "--targets",
        "process,node",
        "--samples",
        "2",
        "--warm-samples",
        "4",
        "--seed",
        "7",
        "--density-max",
        "4",
        "--out",
        out,
    ])
    .unwrap();
    dispatch(cli).unwrap();

    let run_dir = dir.path().join("results/latest");
    let raw = std::fs::read_to_string(run_dir.join("samples.csv")).unwrap();
    assert_eq!(raw.lines().next(), Some(SAMPLES_HEADER));
    let samples = read_samples(&run_dir.join("samples.csv")).unwrap();
    for target in ["process", "node"] {
        for workload in coldbench_workload::NAMES {
            for (phase, n) in [("cold", 2), ("warm", 4)] {
                let rows = common::rows(&samples, target, workload, phase);
                assert_eq!(rows.len(), n, "{target} {workload} {phase}");
                for s in rows {
                    assert!(
                        common::valid_or_disturbed(s),
                        "{target} {workload} {phase}: {}",
                        s.error
                    );
                    assert!(s.latency_ns.unwrap() > 0 && s.compute_ns.is_some());
                    assert!(s.cpu_ns.unwrap() > 0, "CPU is measured: {s:?}");
                    assert!(s.mem_pss_bytes.unwrap() > 0 && s.mem_rss_bytes >= s.mem_pss_bytes);
                    assert_eq!((s.family.as_str(), s.accel.as_str()), ("process", "none"));
                }
            }
        }
    }
    // Two cold samples of one cell are two different instances; its warm
    // samples come from the instance of their round.
    let cold_ids: std::collections::HashSet<_> = samples
        .iter()
        .filter(|s| s.phase == "cold")
        .map(|s| &s.instance_id)
        .collect();
    assert_eq!(cold_ids.len(), 2 * 2 * 4);

    let summary = std::fs::read_to_string(run_dir.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().next(), Some(SUMMARY_HEADER));
    // node restores by default (from its startup snapshot), 2 samples per
    // workload, each a new instance; a plain process has no snapshot here.
    for workload in coldbench_workload::NAMES {
        let rows = common::rows(&samples, "node", workload, "restore");
        assert_eq!(rows.len(), 2, "node {workload} restore");
        assert!(
            rows.iter().all(|s| common::valid_or_disturbed(s)),
            "{rows:?}"
        );
    }
    assert!(common::rows(&samples, "process", "hello", "restore").is_empty());
    assert_eq!(
        summary.lines().count(),
        1 + 2 * 4 * 2 + 4,
        "one row per target × workload × phase, and node's restores"
    );

    let info = read_run_info(&run_dir).unwrap();
    assert_eq!(info.status, RunStatus::Complete);
    assert_eq!(info.plan.seed, 7);
    let calibration = info.calibration.as_ref().unwrap();
    assert!(calibration.bare_p50_ns > 0 && calibration.client_p50_ns > 0);
    let process = info.targets.iter().find(|t| t.name == "process").unwrap();
    assert_eq!(
        process.facts["static"],
        serde_json::json!(true),
        "the native server is static"
    );

    let report = dir.path().join("reports/latest");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    for id in [
        "chart-latency-hello",
        "chart-latency-palindrome-large",
        "chart-memory",
        "chart-cpu",
        "chart-compute",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "missing {id}");
    }
    // Latency per workload, memory, CPU, compute, density.
    assert_eq!(html.matches("<svg").count(), 4 + 4, "one SVG per chart");
    let density = coldbench::results::read_density(&run_dir.join("density.csv")).unwrap();
    let steps: Vec<u32> = density
        .iter()
        .filter(|d| d.target == "node")
        .map(|d| d.tenants)
        .collect();
    assert_eq!(steps, [1, 4], "density steps up to --density-max");
    if common::require_browser() {
        assert!(
            report.join("screenshot.png").exists(),
            "the run's report was looked at in a browser"
        );
    }
    for external in ["src=\"http", "href=\"http", "<link", "@import", "url(http"] {
        assert!(
            !html.contains(external),
            "the page must be self-contained, found {external}"
        );
    }
    assert!(html.contains("node") && html.contains("cold ÷ process"));
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(md.contains("| process | process | hello |"), "{md}");

    // `coldbench report` re-renders from the raw files alone.
    std::fs::remove_dir_all(report.canonicalize().unwrap()).unwrap();
    std::fs::remove_file(run_dir.join("summary.csv")).unwrap();
    let cli = Cli::try_parse_from(["coldbench", "report", run_dir.to_str().unwrap()]).unwrap();
    dispatch(cli).unwrap();
    assert!(report.join("index.html").exists() && run_dir.join("summary.csv").exists());
    assert_eq!(
        std::fs::read_to_string(run_dir.join("summary.csv")).unwrap(),
        summary
    );
}

#[test]
fn the_targets_command_lists_every_target() {
    let out = Command::new(env!("CARGO_BIN_EXE_coldbench"))
        .arg("targets")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for kind in TargetKind::ALL {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{} ", kind.name())))
            .unwrap_or_else(|| panic!("{} not listed:\n{text}", kind.name()));
        // name, family, implementation, status…
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.get(1), Some(&kind.family().as_str()), "{line}");
        assert_eq!(
            fields.get(2),
            Some(&kind.implementation().as_str()),
            "{line}"
        );
        let status = fields.get(3).copied().unwrap_or_default();
        match status {
            "available" => assert!(fields.len() > 4, "no version: {line}"),
            "unavailable:" => assert!(fields.len() > 4, "no reason: {line}"),
            other => panic!("status {other:?} in {line}"),
        }
    }
    // The baseline targets must be runnable wherever the tests run.
    for required in ["process", "node"] {
        if std::env::var_os("COLDBENCH_SKIP_UNAVAILABLE").is_none() {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("{required:<20} process "))
                        && l.contains(" available ")),
                "{text}"
            );
        }
    }
    // After a blank line, the restore table: every target, its mechanism
    // or why it has none here.
    let (_, restore) = text
        .split_once("\n\n")
        .expect("a restore table after the first");
    assert!(restore.starts_with("restore ("), "{restore}");
    for kind in TargetKind::ALL {
        let line = restore
            .lines()
            .find(|l| l.starts_with(&format!("{} ", kind.name())))
            .unwrap_or_else(|| panic!("{} not in the restore table:\n{restore}", kind.name()));
        assert!(line.split_whitespace().count() > 2, "{line}");
    }
    let line = |name: &str| {
        restore
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap()
    };
    assert!(
        line("node").contains("startup snapshot"),
        "{}",
        line("node")
    );
    assert!(line("workerd").contains(" no: "), "{}", line("workerd"));
}

#[test]
fn sigint_stops_a_run_cleanly_keeping_what_was_measured() {
    let Some(_) = common::require(TargetKind::Node) else {
        return;
    };
    let tag = common::unique_tag("sigint");
    let args = [
        "--targets",
        "node",
        "--workloads",
        "palindrome-large",
        "--samples",
        "50",
    ];
    let (_, dir) = common::interrupted_run(&args, &[("COLDBENCH_TEST_TAG", &tag)], 0);
    let run_dir = dir.path().join("results/latest");
    let info = read_run_info(&run_dir).unwrap();
    assert_eq!(info.status, RunStatus::Interrupted);
    assert!(!read_samples(&run_dir.join("samples.csv"))
        .unwrap()
        .is_empty());
    assert!(
        common::processes_with_env(&tag).is_empty(),
        "instances left running"
    );
}
