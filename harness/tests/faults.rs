//! Faulty instances become flagged samples, never panics or lost data, and
//! nothing they started is left running. The faulty server is a real process
//! (`coldbench-faulty`) that misbehaves on purpose.

mod common;

use std::time::Duration;

use coldbench::results::Sample;
use common::*;

fn only<'a>(samples: &'a [Sample], phase: &str) -> Vec<&'a Sample> {
    samples.iter().filter(|s| s.phase == phase).collect()
}

fn run_faulty(mode: &str, samples: u32, warm: u32, timeout: Duration) -> Vec<Sample> {
    let tag = unique_tag(mode);
    let dir = tempfile::tempdir().unwrap();
    let name = format!("faulty-{mode}");
    let (outcome, rows) = run_in(
        dir.path(),
        plan(&[&name], &["hello"], samples, warm, timeout),
        vec![faulty(mode, &tag)],
    );
    assert_eq!(outcome.samples, rows.len(), "every sample is on disk");
    assert!(
        processes_with(&tag).is_empty(),
        "{mode}: instances left running"
    );
    rows
}

#[test]
fn an_instance_that_never_becomes_ready_times_out_and_is_killed() {
    let rows = run_faulty("never-ready", 1, 2, Duration::from_millis(800));
    assert_eq!(
        rows.len(),
        1,
        "no warm samples without an instance: {rows:?}"
    );
    let s = &rows[0];
    assert!(!s.valid && s.phase == "cold");
    assert!(s.error.contains("not ready within"), "{}", s.error);
    assert!(
        s.latency_ns.unwrap() >= 800_000_000,
        "failed at the timeout, not before"
    );
}

#[test]
fn an_instance_that_exits_at_start_is_a_failed_sample_with_its_output() {
    let rows = run_faulty("exit-at-start", 2, 0, Duration::from_secs(10));
    assert_eq!(rows.len(), 2, "the run goes on after a failure");
    for s in &rows {
        assert!(!s.valid);
        assert!(
            s.error.contains("exited (exit status: 3) before answering"),
            "{}",
            s.error
        );
        assert!(
            s.error.contains("giving up at start on purpose"),
            "{}",
            s.error
        );
    }
}

#[test]
fn a_wrong_answer_is_kept_and_flagged_invalid() {
    let rows = run_faulty("wrong-answer", 1, 2, Duration::from_secs(10));
    assert_eq!(rows.len(), 3);
    for s in &rows {
        assert!(!s.valid && s.error.contains("wrong result"), "{}", s.error);
        assert!(
            s.latency_ns.is_some() && !s.instance_id.is_empty(),
            "measured and kept: {s:?}"
        );
    }
}

#[test]
fn garbage_is_flagged_as_not_a_protocol_reply() {
    let rows = run_faulty("garbage", 1, 1, Duration::from_secs(10));
    assert!(
        rows.iter()
            .all(|s| !s.valid && s.error.starts_with("not a protocol reply")),
        "{rows:?}"
    );
}

#[test]
fn an_instance_that_always_claims_cold_fails_the_warm_check() {
    let rows = run_faulty("always-cold", 1, 2, Duration::from_secs(10));
    assert!(
        only(&rows, "cold")[0].valid,
        "its first answer is a genuine cold one"
    );
    for s in only(&rows, "warm") {
        assert!(!s.valid && s.error.contains("cold:true"), "{}", s.error);
    }
}

#[test]
fn a_reused_instance_id_fails_the_cold_check() {
    let rows = run_faulty("fixed-id", 2, 0, Duration::from_secs(10));
    let cold = only(&rows, "cold");
    assert_eq!(cold.iter().filter(|s| s.valid).count(), 1, "{rows:?}");
    let second = cold.iter().find(|s| !s.valid).unwrap();
    assert!(
        second.error.contains("not a new instance"),
        "{}",
        second.error
    );
}

#[test]
fn a_crash_mid_run_fails_that_sample_and_the_run_goes_on() {
    let rows = run_faulty("crash-after-first", 2, 6, Duration::from_secs(10));
    // Each round: a valid cold sample, then one failed warm sample, after
    // which the broken instance gets no more requests.
    assert_eq!(only(&rows, "cold").iter().filter(|s| s.valid).count(), 2);
    let warm = only(&rows, "warm");
    assert_eq!(warm.len(), 2, "{warm:?}");
    assert!(
        warm.iter()
            .all(|s| !s.valid && s.error.contains("connection closed")),
        "{warm:?}"
    );
}

#[test]
fn a_hang_mid_run_times_out() {
    let rows = run_faulty("hang-after-first", 1, 2, Duration::from_millis(500));
    let warm = only(&rows, "warm");
    assert_eq!(warm.len(), 1);
    assert!(
        warm[0].error.contains("no response within"),
        "{}",
        warm[0].error
    );
}

#[test]
fn a_missing_runtime_is_skipped_with_its_reason_and_the_run_goes_on() {
    use coldbench::targets::process::{ProcessSpec, ProcessTarget};
    use coldbench::targets::spawn::LaunchSpec;
    let missing = Box::new(ProcessTarget::new(ProcessSpec {
        name: "missing".into(),
        family: coldbench::targets::Family::Process,
        launch: LaunchSpec {
            program: "/nonexistent/runtime".into(),
            args: vec![],
            env: Vec::new(),
            missing_hint: "install the runtime with `just setup`".into(),
        },
    }));
    let tag = unique_tag("ok");
    let dir = tempfile::tempdir().unwrap();
    let (outcome, rows) = run_in(
        dir.path(),
        plan(
            &["missing", "faulty-ok"],
            &["hello"],
            1,
            1,
            Duration::from_secs(10),
        ),
        vec![missing, faulty("ok", &tag)],
    );
    assert_eq!(
        outcome.skipped,
        vec![(
            "missing".to_string(),
            "unavailable: install the runtime with `just setup`".to_string()
        )]
    );
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|s| s.valid && s.target == "faulty-ok"),
        "{rows:?}"
    );
    let info = coldbench::results::read_run_info(&outcome.run_dir).unwrap();
    assert!(info
        .targets
        .iter()
        .any(|t| t.name == "missing" && !t.measured));
}

#[test]
fn an_output_folder_that_cannot_be_written_is_a_clear_error() {
    use clap::Parser;
    use coldbench::cli::{dispatch, Cli};
    let cli = Cli::try_parse_from([
        "coldbench",
        "run",
        "--targets",
        "process",
        "--out",
        "/dev/null/nowhere",
    ])
    .unwrap();
    let err = format!("{:#}", dispatch(cli).unwrap_err());
    assert!(
        err.contains("/dev/null/nowhere") && err.contains("--out"),
        "{err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn unknown_names_are_usage_errors_that_list_the_valid_ones() {
    use clap::Parser;
    use coldbench::cli::Cli;
    let err = Cli::try_parse_from(["coldbench", "run", "--targets", "process,lambda"]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("unknown target 'lambda'") && text.contains("valid: process, node"),
        "{text}"
    );
    let err = Cli::try_parse_from(["coldbench", "run", "--workloads", "fib"]).unwrap_err();
    assert!(
        err.to_string().contains("valid: hello, palindrome-small"),
        "{err}"
    );
    let err = Cli::try_parse_from(["coldbench", "run", "--envelope", "lambda-64"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown envelope 'lambda-64' (valid: lambda-128, lambda-1769, workers, azure-consumption"),
        "{err}"
    );
    let err = Cli::try_parse_from(["coldbench", "run", "--phases", "lukewarm"]).unwrap_err();
    assert!(
        err.to_string().contains("valid: cold, warm, host-cold"),
        "{err}"
    );
}
