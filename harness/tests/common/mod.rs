//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use coldbench::measure::http::Poll;
use coldbench::paths::Paths;
use coldbench::plan::{Plan, Profile};
use coldbench::progress::Silent;
use coldbench::results::{self, Sample};
use coldbench::run::{self, RunOutcome, RunRequest};
use coldbench::spec::Spec;
use coldbench::targets::process::{ProcessSpec, ProcessTarget};
use coldbench::targets::spawn::LaunchSpec;
use coldbench::targets::{Availability, Phase, Target, TargetKind};

/// The checkout.
pub fn paths() -> Paths {
    Paths::at(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .canonicalize()
            .unwrap(),
    )
}

/// The workload spec.
pub fn spec() -> Spec {
    Spec::load(&paths().spec()).unwrap()
}

/// Whether a browser is there for the report's check: a missing one fails
/// the test (with the fix) unless `COLDBENCH_SKIP_UNAVAILABLE` is set.
pub fn require_browser() -> bool {
    if coldbench::report::browser::find().is_some() {
        return true;
    }
    assert!(
        std::env::var_os("COLDBENCH_SKIP_UNAVAILABLE").is_some(),
        "no chromium on PATH: run `just setup` (set COLDBENCH_SKIP_UNAVAILABLE=1 to skip)"
    );
    eprintln!("SKIPPED: no chromium on PATH");
    false
}

/// A registered target that must be available: tests on real runtimes fail
/// (with the fix in the message) rather than pass silently when the runtime
/// is missing. `COLDBENCH_SKIP_UNAVAILABLE=1` turns that into a skip, for
/// machines that lack a runtime on purpose.
pub fn require(kind: TargetKind) -> Option<Box<dyn Target>> {
    let target = kind.build(&paths());
    match target.availability() {
        Availability::Available { .. } => Some(target),
        Availability::Unavailable { reason } => {
            if std::env::var_os("COLDBENCH_SKIP_UNAVAILABLE").is_some() {
                eprintln!("SKIPPED: {} is unavailable: {reason}", kind.name());
                None
            } else {
                panic!(
                    "{} is unavailable: {reason} (set COLDBENCH_SKIP_UNAVAILABLE=1 to skip)",
                    kind.name()
                )
            }
        }
    }
}

/// The deliberately faulty server in `mode`, as a process target. `tag` is
/// put on its command line so a test can look for leftovers.
pub fn faulty(mode: &str, tag: &str) -> Box<dyn Target> {
    Box::new(ProcessTarget::new(ProcessSpec {
        name: format!("faulty-{mode}"),
        family: coldbench::targets::Family::Process,
        launch: LaunchSpec {
            program: PathBuf::from(env!("CARGO_BIN_EXE_coldbench-faulty")),
            args: vec![
                "--mode".into(),
                mode.into(),
                "--tag".into(),
                tag.into(),
                "--listen".into(),
                "{listen}".into(),
            ],
            env: Vec::new(),
            missing_hint: "cargo builds coldbench-faulty with the tests".into(),
        },
    }))
}

/// A sample that passed its checks, or one flagged only because the rest of
/// the machine (here: other tests running beside it) was busy meanwhile.
pub fn valid_or_disturbed(s: &Sample) -> bool {
    s.valid || s.error.starts_with(coldbench::phases::DISTURBED)
}

/// A small plan.
pub fn plan(
    targets: &[&str],
    workloads: &[&str],
    samples: u32,
    warm: u32,
    timeout: Duration,
) -> Plan {
    Plan {
        targets: targets.iter().map(|s| s.to_string()).collect(),
        workloads: workloads.iter().map(|s| s.to_string()).collect(),
        phases: Phase::SAMPLED.to_vec(),
        samples,
        warm_samples: warm,
        seed: 42,
        profile: Profile::Quick,
        timeout,
        poll: Poll::default(),
        density_max: 4,
        density_budget_bytes: 1 << 30,
        controls: Default::default(),
        envelope: None,
    }
}

/// Runs `plan` on `targets` into `out`; returns the outcome and the samples
/// read back from samples.csv.
pub fn run_in(out: &Path, plan: Plan, targets: Vec<Box<dyn Target>>) -> (RunOutcome, Vec<Sample>) {
    let paths = paths();
    let spec = spec();
    let req = RunRequest {
        plan,
        paths: &paths,
        spec: &spec,
        out: out.to_path_buf(),
        command_line: "test".into(),
        cancel: Arc::new(AtomicBool::new(false)),
    };
    let outcome = run::execute(req, targets, &mut Silent).unwrap();
    let samples = results::read_samples(&outcome.run_dir.join("samples.csv")).unwrap();
    (outcome, samples)
}

/// `coldbench run ARGS… --no-report --out <temp>` through the CLI; returns
/// the folder (keep it alive) and the samples written.
pub fn run_cli(args: &[&str]) -> (tempfile::TempDir, Vec<Sample>) {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_string();
    let mut argv = vec!["coldbench", "run"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--no-report", "--out", &out]);
    let cli = coldbench::cli::Cli::try_parse_from(argv).unwrap();
    coldbench::cli::dispatch(cli).unwrap();
    let samples = results::read_samples(&dir.path().join("results/latest/samples.csv")).unwrap();
    (dir, samples)
}

/// Runs `kinds` through the CLI (2 cold and 4 warm samples per cell) and
/// checks that every (target, workload, phase) the target has is there, all
/// valid, of `family`. `None` when a runtime is missing and skipping is allowed.
pub fn run_family(
    kinds: &[TargetKind],
    family: &str,
    seed: &str,
) -> Option<(tempfile::TempDir, Vec<Sample>)> {
    let mut phases = Vec::new();
    for &kind in kinds {
        phases.push((kind.name(), require(kind)?.phases()));
    }
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let targets = names.join(",");
    let (dir, samples) = run_cli(&[
        "--targets",
        &targets,
        "--samples",
        "2",
        "--warm-samples",
        "4",
        "--seed",
        seed,
        "--density-max",
        "4",
    ]);
    for (target, has) in phases {
        for workload in coldbench_workload::NAMES {
            for (phase, n) in [(Phase::Cold, 2), (Phase::Warm, 4), (Phase::HostCold, 2)] {
                let n = if has.contains(&phase) { n } else { 0 };
                let rows = rows(&samples, target, workload, phase.as_str());
                assert_eq!(rows.len(), n, "{target} {workload} {phase}");
                for s in rows {
                    assert!(
                        valid_or_disturbed(s),
                        "{target} {workload} {phase}: {}",
                        s.error
                    );
                    assert_eq!(s.family, family);
                }
            }
        }
        // Every target that keeps idle instances went through the whole
        // density sweep, with a memory figure at each step.
        let density =
            coldbench::results::read_density(&dir.path().join("results/latest/density.csv"))
                .unwrap();
        let steps: Vec<(u32, u64)> = density
            .iter()
            .filter(|r| r.target == target)
            .map(|r| (r.tenants, r.memory_bytes))
            .collect();
        if has.contains(&Phase::Density) {
            assert_eq!(
                steps.iter().map(|s| s.0).collect::<Vec<_>>(),
                [1, 4],
                "{target}: density steps"
            );
            assert!(steps.iter().all(|s| s.1 > 0), "{target}: {steps:?}");
        } else {
            assert!(steps.is_empty(), "{target} keeps no instances: {steps:?}");
        }
    }
    Some((dir, samples))
}

/// `target`, prepared with its logs in a temporary folder (keep it alive).
pub fn prepared(mut target: Box<dyn Target>) -> (Box<dyn Target>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = coldbench::targets::Context {
        paths: paths(),
        log_dir: dir.path().to_path_buf(),
        poll: Default::default(),
        cancel: Default::default(),
        envelope: None,
        restore: false,
    };
    target.prepare(&ctx).unwrap();
    (target, dir)
}

/// Starts an instance for `tenant`; the error as text.
pub fn start(
    target: &mut dyn Target,
    tenant: &str,
    workload: &str,
    timeout: Duration,
) -> Result<coldbench::targets::Started, String> {
    // As the harness does: the target readies itself, untimed, first.
    target.baseline();
    let asked_at = std::time::Instant::now();
    target
        .start(&coldbench::targets::StartRequest {
            tenant,
            workload,
            asked_at,
            deadline: asked_at + timeout,
        })
        .map_err(|e| e.to_string())
}

/// Runs the `coldbench` binary with `run ARGS… --no-report --out <temp>`
/// (and `env` added), interrupts it with SIGINT once more than `rows`
/// samples are on disk, and checks it exits with 130. Returns its pid (the
/// tag of everything it created) and its output folder.
pub fn interrupted_run(
    args: &[&str],
    env: &[(&str, &str)],
    rows: usize,
) -> (u32, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coldbench"))
        .arg("run")
        .args(args)
        .args(["--no-report", "--out"])
        .arg(dir.path())
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_samples(dir.path(), rows, Duration::from_secs(120));
    let pid = child.id();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(
        child.wait().unwrap().code(),
        Some(130),
        "an interrupted run exits with 130"
    );
    (pid, dir)
}

/// Waits until the run writing under `out` has more than `rows` samples on
/// disk (panics after `patience`).
pub fn wait_for_samples(out: &Path, rows: usize, patience: Duration) {
    let until = std::time::Instant::now() + patience;
    loop {
        let written = std::fs::read_dir(out.join("results"))
            .ok()
            .and_then(|mut d| d.find_map(|e| e.ok().filter(|e| e.file_name() != "latest")))
            .and_then(|e| std::fs::read_to_string(e.path().join("samples.csv")).ok())
            .map(|t| t.lines().count().saturating_sub(1))
            .unwrap_or(0);
        if written > rows {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "fewer than {rows} samples within {patience:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The samples of one (target, workload, phase).
pub fn rows<'a>(
    samples: &'a [Sample],
    target: &str,
    workload: &str,
    phase: &str,
) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.target == target && s.workload == workload && s.phase == phase)
        .collect()
}

/// Pids of live processes whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<u32> {
    live_processes_whose("cmdline", needle)
}

/// Pids of live processes whose environment contains `needle` (children
/// inherit it, so it finds every process a tagged command started).
pub fn processes_with_env(needle: &str) -> Vec<u32> {
    live_processes_whose("environ", needle)
}

/// Pids of live (not zombie) processes whose /proc/<pid>/`file` contains
/// `needle`.
fn live_processes_whose(file: &str, needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let text = std::fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'));
            !zombie && String::from_utf8_lossy(&text).contains(needle)
        })
        .collect()
}

/// A tag unique to this test process and call site.
pub fn unique_tag(name: &str) -> String {
    format!("cbtest-{}-{name}", std::process::id())
}

/// A plan for fixtures written by hand (report and torn-data tests).
pub fn fixture_plan(
    targets: &[&str],
    workloads: &[&str],
    phases: Vec<Phase>,
    samples: u32,
    seed: u64,
    density_max: u32,
) -> Plan {
    Plan {
        targets: targets.iter().map(|s| s.to_string()).collect(),
        workloads: workloads.iter().map(|s| s.to_string()).collect(),
        phases,
        samples,
        warm_samples: samples,
        seed,
        profile: Profile::Quick,
        timeout: Duration::from_secs(30),
        poll: Poll::default(),
        density_max,
        density_budget_bytes: 1 << 30,
        controls: Default::default(),
        envelope: None,
    }
}

/// The machine of hand-written fixtures.
pub fn fixture_fingerprint() -> coldbench::fingerprint::Fingerprint {
    coldbench::fingerprint::Fingerprint {
        cpu_model: "Test CPU".into(),
        cores: 2,
        kernel: "6.1.0".into(),
        cgroup_mode: "v2".into(),
        ..Default::default()
    }
}

/// A measured target of a hand-written fixture.
pub fn fixture_target(name: &str, family: &str, phases: &[&str]) -> coldbench::results::TargetInfo {
    coldbench::results::TargetInfo {
        name: name.into(),
        family: family.into(),
        measured: true,
        version: Some("1".into()),
        skipped_reason: None,
        accel: "none".into(),
        accounting: None,
        facts: Default::default(),
        phases: phases.iter().map(|p| p.to_string()).collect(),
        implementation: coldbench::targets::TargetKind::parse(name)
            .ok()
            .map(|k| k.implementation()),
    }
}
