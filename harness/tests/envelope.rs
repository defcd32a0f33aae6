//! Resource envelopes, for real: an instance runs inside a cgroup with the
//! envelope's CPU quota and memory limit from its first instruction, the
//! cgroup goes with it, a container gets the same limits from its runtime,
//! and an instance its memory limit kills is a flagged sample saying OOM.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use coldbench::envelope::Envelope;
use coldbench::targets::spawn::Spawned;
use coldbench::targets::{Context, StartRequest, TargetKind};
use common::*;

fn lambda_128() -> Envelope {
    Envelope::named("lambda-128").unwrap()
}

fn context(dir: &Path) -> Context {
    Context {
        paths: paths(),
        log_dir: dir.to_path_buf(),
        poll: Default::default(),
        cancel: Default::default(),
        envelope: Some(lambda_128()),
        restore: false,
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The v1 cgroup path of `pid` in `controller`.
fn cgroup_of(pid: u32, controller: &str) -> String {
    read(Path::new(&format!("/proc/{pid}/cgroup")))
        .lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
            list.split(',')
                .any(|c| c == controller)
                .then(|| path.to_string())
        })
        .unwrap_or_default()
}

fn start_hello(target: &mut dyn coldbench::targets::Target) -> coldbench::targets::Started {
    let now = Instant::now();
    target
        .start(&StartRequest {
            tenant: "t1",
            workload: "hello",
            asked_at: now,
            deadline: now + Duration::from_secs(30),
        })
        .unwrap()
}

fn v1() -> bool {
    Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists()
}

#[test]
fn a_process_instance_runs_inside_its_envelope_and_the_cgroup_goes_with_it() {
    if !v1() {
        eprintln!("skipped: this test reads cgroup v1 files");
        return;
    }
    let Some(mut target) = require(TargetKind::Process) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    target.prepare(&context(dir.path())).unwrap();
    let started = start_hello(target.as_mut());
    let pid = started.instance.state::<Spawned>().unwrap().pid();
    let cpu = cgroup_of(pid, "cpu");
    let memory = cgroup_of(pid, "memory");
    assert!(cpu.starts_with("/coldbench-envelope/"), "{cpu}");
    assert_eq!(cpu, memory);
    let root = Path::new("/sys/fs/cgroup");
    let cpu_dir = root.join("cpu").join(cpu.trim_start_matches('/'));
    let mem_dir = root.join("memory").join(memory.trim_start_matches('/'));
    assert_eq!(
        read(&cpu_dir.join("cpu.cfs_quota_us")),
        lambda_128().cpu_quota_us().unwrap().to_string()
    );
    assert_eq!(read(&cpu_dir.join("cpu.cfs_period_us")), "100000");
    assert_eq!(
        read(&mem_dir.join("memory.limit_in_bytes")),
        (128u64 << 20).to_string()
    );
    // The harness's own thread went back where it was.
    assert!(!cgroup_of(std::process::id(), "cpu").starts_with("/coldbench-envelope"));
    target.stop(started.instance).unwrap();
    assert!(
        !cpu_dir.exists() && !mem_dir.exists(),
        "the cgroup is removed"
    );
}

#[test]
fn an_instance_killed_by_its_memory_limit_is_a_flagged_oom_sample_and_the_run_goes_on() {
    if !v1() && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipped: no cgroup hierarchy");
        return;
    }
    let tag = unique_tag("hog");
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan(
        &["faulty-hog-after-first"],
        &["hello"],
        2,
        4,
        Duration::from_secs(20),
    );
    plan.envelope = Some(lambda_128());
    let (outcome, rows) = run_in(dir.path(), plan, vec![faulty("hog-after-first", &tag)]);
    assert_eq!(outcome.samples, rows.len(), "every sample is on disk");
    let cold: Vec<_> = rows.iter().filter(|s| s.phase == "cold").collect();
    assert_eq!(cold.len(), 2, "both rounds ran");
    assert!(cold.iter().all(|s| s.valid), "{cold:?}");
    let warm: Vec<_> = rows.iter().filter(|s| s.phase == "warm").collect();
    assert!(!warm.is_empty());
    for s in &warm {
        assert!(!s.valid);
        assert!(
            s.error
                .starts_with("OOM: killed by its memory limit (128 MiB, envelope lambda-128)"),
            "{}",
            s.error
        );
    }
    assert!(processes_with(&tag).is_empty(), "instances left running");
    let info = coldbench::results::read_run_info(&outcome.run_dir).unwrap();
    assert_eq!(info.plan.envelope.unwrap().name, "lambda-128");
}

#[test]
fn a_container_gets_the_envelope_from_its_runtime() {
    if !v1() {
        eprintln!("skipped: this test reads cgroup v1 files");
        return;
    }
    let Some(mut target) = require(TargetKind::Container(
        coldbench::targets::container::Runtime::Crun,
        coldbench::targets::container::Net::Host,
    )) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    target.prepare(&context(&dir.path().join("logs"))).unwrap();
    let started = start_hello(target.as_mut());
    // The container's cgroup is /coldbench/<its name>: the only one there.
    let groups: Vec<_> = std::fs::read_dir("/sys/fs/cgroup/cpu/coldbench")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    let mine = groups
        .iter()
        .find(|p| {
            p.join("cpu.cfs_quota_us").exists() && read(&p.join("cpu.cfs_quota_us")) == "7236"
        })
        .unwrap_or_else(|| panic!("no container cgroup with the quota among {groups:?}"));
    let name = mine.file_name().unwrap();
    let memory = Path::new("/sys/fs/cgroup/memory/coldbench").join(name);
    assert_eq!(
        read(&memory.join("memory.limit_in_bytes")),
        (128u64 << 20).to_string()
    );
    target.stop(started.instance).unwrap();
    target.shutdown().unwrap();
}
