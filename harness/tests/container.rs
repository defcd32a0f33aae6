//! The container family on real runtimes: valid rows from every runtime in
//! both network modes, failures with the runtime's words, and nothing left
//! behind after a run, a failure, or an interrupted run. The tests take turns
//! (one lock): they share the runtimes, and one of them stops dockerd.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use coldbench::targets::container::{self, ContainerTarget, Net, Runtime};
use coldbench::targets::TargetKind;

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn lines(program: &str, args: &[&str]) -> Vec<String> {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Everything of run `pid` the runtimes or the kernel still hold.
/// Fails with what is left of the run of `pid`, if anything.
fn assert_nothing_left(pid: u32) {
    let left = leftovers(pid);
    assert!(left.is_empty(), "{left:?}");
}

fn leftovers(pid: u32) -> Vec<String> {
    let name = format!("coldbench-{pid}-");
    let mut left = Vec::new();
    for (program, args) in [
        ("runc", vec!["list", "-q"]),
        ("crun", vec!["list", "-q"]),
        ("runsc", vec!["list", "--quiet"]),
        (
            "podman",
            vec![
                "--cgroup-manager",
                "cgroupfs",
                "ps",
                "-a",
                "--format",
                "{{.Names}}",
            ],
        ),
        ("docker", vec!["ps", "-a", "--format", "{{.Names}}"]),
        ("ip", vec!["netns", "list"]),
    ] {
        left.extend(
            lines(program, &args)
                .into_iter()
                .filter(|l| l.contains(&name))
                .map(|l| format!("{program}: {l}")),
        );
    }
    for dir in [
        "/sys/class/net",
        "/sys/fs/cgroup/memory/coldbench",
        "/sys/fs/cgroup/coldbench",
    ] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let entry = entry.file_name().to_string_lossy().into_owned();
            if entry.starts_with(&format!("cbh{pid}n")) || entry.starts_with(&name) {
                left.push(format!("{dir}/{entry}"));
            }
        }
    }
    left
}

#[test]
fn every_container_target_gives_valid_rows_and_leaves_nothing_behind() {
    let _turn = turn();
    let containers: Vec<TargetKind> = TargetKind::ALL
        .iter()
        .copied()
        .filter(|k| k.family() == coldbench::targets::Family::Container)
        .collect();
    assert_eq!(
        containers.len(),
        20,
        "five runtimes, two network modes, two images"
    );
    let Some((dir, samples)) = common::run_family(&containers, "container", "5") else {
        return;
    };
    assert_nothing_left(std::process::id());
    // The network mode is in every sample: the target's name says it.
    assert!(
        samples.iter().any(|s| s.target == "runc-hostnet")
            && samples.iter().any(|s| s.target == "runc")
    );
    let measures =
        coldbench::results::read_measures(&dir.path().join("results/latest/measures.csv")).unwrap();
    for target in ["podman", "docker"] {
        let runtime = measures
            .iter()
            .find(|m| m.target == target && m.measure == "runtime_pss_bytes")
            .unwrap_or_else(|| panic!("{target}: no runtime_pss_bytes"));
        assert!(
            runtime.value > 0,
            "{target}'s resident runtime process is measured"
        );
    }
    for target in ["crun", "runsc", "crun-node", "runsc-node"] {
        assert!(
            measures
                .iter()
                .any(|m| m.target == target && m.measure == "cgroup_memory_bytes" && m.value > 0),
            "{target}: its cgroup's memory"
        );
    }
    let info = coldbench::results::read_run_info(&dir.path().join("results/latest")).unwrap();
    let docker = info.targets.iter().find(|t| t.name == "docker").unwrap();
    assert!(docker.facts["image_sha256"]
        .as_str()
        .is_some_and(|s| s.len() == 64));
    assert!(
        docker.facts["dockerd"]
            .as_str()
            .is_some_and(|s| s.contains("dockerd")),
        "how dockerd was started"
    );
    // Node's image, like the static server's, is recorded by its hash.
    let node = info
        .targets
        .iter()
        .find(|t| t.name == "docker-node")
        .unwrap();
    assert!(node.facts["image"]
        .as_str()
        .is_some_and(|s| s.starts_with("localhost/coldbench-node:")));
    assert_eq!(
        node.implementation,
        Some(coldbench::vocab::Implementation::Js)
    );
    // gVisor's sentry runs in the container's cgroup: a cold start's CPU
    // holds its boot (tens of ms), not only the server's few hundred µs.
    let runsc_cpu: Vec<u64> = samples
        .iter()
        .filter(|s| s.target == "runsc" && s.phase == "cold" && s.valid)
        .filter_map(|s| s.cpu_ns)
        .collect();
    assert!(
        !runsc_cpu.is_empty() && runsc_cpu.iter().all(|&c| c > 10_000_000),
        "runsc cold CPU {runsc_cpu:?}"
    );
    // A warm request's CPU is counted once the server went idle: node in a
    // container spends far more than nothing on one (it read 0 when the
    // cgroup was read while node's event loop still ran).
    let mut node_warm: Vec<u64> = samples
        .iter()
        .filter(|s| s.target == "crun-node" && s.phase == "warm" && s.valid)
        .filter_map(|s| s.cpu_ns)
        .collect();
    node_warm.sort_unstable();
    assert!(
        node_warm
            .get(node_warm.len() / 2)
            .is_some_and(|&m| m > 20_000),
        "crun-node warm CPU {node_warm:?}"
    );
    // gVisor's platform and network are in run.json.
    let runsc = info.targets.iter().find(|t| t.name == "runsc").unwrap();
    assert_eq!(
        runsc.facts["runsc flags"],
        "--platform=ptrace --network=host"
    );
    assert!(runsc.facts["gvisor platform"]
        .as_str()
        .is_some_and(|s| s.starts_with("ptrace")));
}

#[test]
fn a_container_that_exits_at_start_is_a_failed_sample_with_its_output() {
    let _turn = turn();
    for (kind, runtime, net) in [
        (
            TargetKind::Container(Runtime::Runc, Net::Own),
            Runtime::Runc,
            Net::Own,
        ),
        (
            TargetKind::Container(Runtime::Docker, Net::Own),
            Runtime::Docker,
            Net::Host,
        ),
    ] {
        if common::require(kind).is_none() {
            continue;
        }
        let target = ContainerTarget::new(&common::paths(), runtime, net).with_command(&[
            "/coldbench-fn",
            "--listen",
            "256.0.0.1:1",
        ]);
        let (mut t, _dir) = common::prepared(Box::new(target));
        let err = common::start(t.as_mut(), "t", "hello", Duration::from_secs(20))
            .err()
            .expect("cannot answer");
        assert!(err.contains("exited before answering"), "{kind:?}: {err}");
        assert!(
            err.contains("cannot listen on 256.0.0.1:1"),
            "the container's own words: {err}"
        );
        t.shutdown().unwrap();
        assert_nothing_left(std::process::id());
    }
}

#[test]
fn an_address_already_taken_fails_that_sample_and_the_next_one_starts() {
    let _turn = turn();
    if common::require(TargetKind::Container(Runtime::Runc, Net::Own)).is_none() {
        return;
    }
    let (mut t, _dir) = common::prepared(Box::new(ContainerTarget::new(
        &common::paths(),
        Runtime::Runc,
        Net::Own,
    )));
    // Someone else already holds the interface the next container would get.
    let taken = format!(
        "cbh{}n{}",
        std::process::id(),
        container::next_container_number()
    );
    let peer = format!("cbtest{}", std::process::id() % 100_000);
    let status = Command::new("ip")
        .args(["link", "add", &taken, "type", "veth", "peer", "name", &peer])
        .status()
        .unwrap();
    assert!(status.success());
    let err = common::start(t.as_mut(), "a", "hello", Duration::from_secs(20))
        .err()
        .expect("the clash fails it");
    assert!(
        err.contains("already exists: its address is taken"),
        "{err}"
    );
    let _ = Command::new("ip").args(["link", "del", &taken]).status();
    let ok = common::start(t.as_mut(), "b", "hello", Duration::from_secs(20))
        .expect("the next one starts");
    assert_eq!(ok.response.status, 200);
    t.stop(ok.instance).unwrap();
    t.shutdown().unwrap();
    assert_nothing_left(std::process::id());
}

fn docker_answers() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn dockerd_dying_mid_run_fails_samples_and_the_run_goes_on() {
    let _turn = turn();
    if common::require(TargetKind::Container(Runtime::Docker, Net::Own)).is_none() {
        return;
    }
    let (mut t, _dir) = common::prepared(Box::new(ContainerTarget::new(
        &common::paths(),
        Runtime::Docker,
        Net::Host,
    )));
    let dockerd: Vec<String> = lines("pgrep", &["-x", "dockerd"]);
    assert!(!dockerd.is_empty(), "dockerd runs");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", dockerd[0])).unwrap();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // SIGTERM: to the harness the daemon is gone all the same, and it comes
    // back (after SIGKILL its containerd lingers as a zombie on hosts whose
    // init reaps nothing, and a new dockerd waits for it in vain).
    Command::new("kill")
        .args(["-TERM", &dockerd[0]])
        .status()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while !lines("pgrep", &["-x", "dockerd"]).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = common::start(t.as_mut(), "a", "hello", Duration::from_secs(20)).err();
    // Bring dockerd back as it was started, whatever the assertion says.
    // Detached (its own session, reaped by nobody here): it outlives the test.
    let status = Command::new("sh")
        .args(["-c", "setsid \"$@\" >/dev/null 2>&1 </dev/null &", "sh"])
        .args(&argv)
        .status()
        .unwrap();
    assert!(status.success());
    let until = Instant::now() + Duration::from_secs(60);
    while !docker_answers() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(250));
    }
    let err = err.expect("no daemon, no container");
    assert!(err.contains("docker run exited"), "{err}");
    assert!(
        err.to_lowercase().contains("docker daemon"),
        "docker's own words: {err}"
    );
    let ok = common::start(t.as_mut(), "b", "hello", Duration::from_secs(30))
        .expect("the run goes on once dockerd is back");
    t.stop(ok.instance).unwrap();
    t.shutdown().unwrap();
}

#[test]
fn an_interrupted_run_leaves_no_container_behind() {
    let _turn = turn();
    let kinds = [
        TargetKind::Container(Runtime::Runc, Net::Own),
        TargetKind::Container(Runtime::Crun, Net::Own),
        TargetKind::Container(Runtime::Podman, Net::Own),
        TargetKind::Container(Runtime::Docker, Net::Own),
        TargetKind::Container(Runtime::Runsc, Net::Own),
        TargetKind::NodeContainer(Runtime::Crun, Net::Own),
    ];
    // Each runtime that can run here (a missing one fails `require` unless
    // skipping is allowed, and then only it is left out).
    let names: Vec<&str> = kinds
        .into_iter()
        .filter(|&k| common::require(k).is_some())
        .map(|k| k.name())
        .collect();
    if names.is_empty() {
        return;
    }
    let targets = names.join(",");
    let args = [
        "--targets",
        &targets,
        "--workloads",
        "palindrome-large",
        "--samples",
        "20",
    ];
    let (pid, _dir) = common::interrupted_run(&args, &[], 3);
    assert_nothing_left(pid);
}
