//! The microVM family on a real VMM: valid rows for every workload with the
//! accelerator and the boot breakdown recorded, guests that never answer or
//! whose VM dies, and nothing (VMM process, TAP device) left behind.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use coldbench::targets::microvm::vmm::Vmm;
use coldbench::targets::microvm::MicrovmTarget;
use coldbench::targets::{Availability, Target, TargetKind};

/// The tests take turns: each checks that the process left no VM behind.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

/// VMM processes and TAP devices of run `pid` still there.
/// Fails with what is left of the run of `pid`, if anything.
fn assert_nothing_left(pid: u32) {
    let left = leftovers(pid);
    assert!(left.is_empty(), "{left:?}");
}

fn leftovers(pid: u32) -> Vec<String> {
    let mut left: Vec<String> = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("cbt{pid}n")))
        .collect();
    let out = Command::new("pgrep")
        .args(["-a", "qemu-system"])
        .output()
        .unwrap();
    left.extend(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&format!("ifname=cbt{pid}n")))
            .map(str::to_string),
    );
    left
}

#[test]
fn qemu_microvm_gives_valid_rows_with_accel_and_boot_breakdown() {
    let _turn = turn();
    let Some((dir, samples)) =
        common::run_family(&[TargetKind::Microvm(Vmm::Qemu)], "microvm", "6")
    else {
        return;
    };
    assert!(
        samples.iter().all(|s| s.accel == "tcg" || s.accel == "kvm"),
        "accel recorded"
    );
    let measures =
        coldbench::results::read_measures(&dir.path().join("results/latest/measures.csv")).unwrap();
    for stage in [
        "boot_to_init_ns",
        "boot_kernel_ns",
        "boot_vmm_ns",
        "boot_modules_ns",
        "boot_net_ns",
        "boot_listen_ns",
        "boot_listen_to_response_ns",
    ] {
        let n = measures
            .iter()
            .filter(|m| m.measure == stage && m.phase == "cold")
            .count();
        assert_eq!(n, 8, "{stage} for every cold sample");
    }
    // The stages add up to each cold sample's latency.
    for s in samples.iter().filter(|s| s.phase == "cold") {
        let stages: u64 = measures
            .iter()
            .filter(|m| m.phase == "cold" && m.round == s.round && m.instance_id == s.instance_id)
            .filter(|m| {
                [
                    "boot_to_init_ns",
                    "boot_modules_ns",
                    "boot_net_ns",
                    "boot_listen_ns",
                    "boot_listen_to_response_ns",
                ]
                .contains(&m.measure.as_str())
            })
            .map(|m| m.value)
            .sum();
        assert_eq!(Some(stages), s.latency_ns, "{s:?}");
    }
    assert!(measures
        .iter()
        .any(|m| m.measure == "vmm_overhead_pss_bytes" && m.value > 0));
    let info = coldbench::results::read_run_info(&dir.path().join("results/latest")).unwrap();
    let qemu = info
        .targets
        .iter()
        .find(|t| t.name == "qemu-microvm")
        .unwrap();
    let command = qemu.facts["command_line"].as_str().unwrap();
    assert!(
        command.starts_with("qemu-system-x86_64 -M 'microvm,") && command.contains("-append '"),
        "{command}"
    );
    assert!(
        qemu.facts["accel_probe"].as_str().is_some(),
        "the probe's outcome is recorded"
    );
    assert!(qemu.facts["kernel_package"]
        .as_str()
        .is_some_and(|k| k.starts_with("linux-image-")));
    assert_nothing_left(std::process::id());
}

fn qemu(kernel_args: &str) -> Option<(Box<dyn Target>, tempfile::TempDir)> {
    common::require(TargetKind::Microvm(Vmm::Qemu))?;
    let target = MicrovmTarget::new(&common::paths(), Vmm::Qemu).with_kernel_args(kernel_args);
    Some(common::prepared(Box::new(target)))
}

#[test]
fn a_guest_that_never_answers_times_out_and_its_serial_log_is_kept() {
    let _turn = turn();
    // The guest serves on its own loopback only: it boots, but the host never reaches it.
    let Some((mut t, dir)) = qemu("cb_listen=127.0.0.1:8080") else {
        return;
    };
    let err = common::start(t.as_mut(), "t", "hello", Duration::from_secs(12))
        .err()
        .expect("never answers");
    assert!(err.contains("not ready within"), "{err}");
    let serial = err
        .split("serial log is kept at ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("log path");
    let serial = std::path::Path::new(serial.trim_end_matches(';'));
    assert!(
        serial.starts_with(dir.path()),
        "kept beside the run's data: {}",
        serial.display()
    );
    assert!(
        std::fs::read_to_string(serial)
            .unwrap()
            .contains("COLDBENCH listen"),
        "the guest did boot"
    );
    t.shutdown().unwrap();
    assert_nothing_left(std::process::id());
}

#[test]
fn a_vm_that_dies_at_boot_is_a_failed_sample_with_the_guests_last_words() {
    let _turn = turn();
    let Some((mut t, _dir)) = qemu("cb_ip=not-an-address") else {
        return;
    };
    let err = common::start(t.as_mut(), "t", "hello", Duration::from_secs(20))
        .err()
        .expect("the VM dies");
    assert!(
        err.contains("exited") && err.contains("before the guest answered"),
        "{err}"
    );
    assert!(
        err.contains("COLDBENCH fail cb_ip"),
        "the init's own words, from the serial log: {err}"
    );
    t.shutdown().unwrap();
    assert_nothing_left(std::process::id());
}

#[test]
fn firecracker_and_cloud_hypervisor_say_why_they_cannot_run() {
    let _turn = turn();
    for vmm in [Vmm::Firecracker, Vmm::CloudHypervisor] {
        let target = MicrovmTarget::new(&common::paths(), vmm);
        let binary = target.name().to_string();
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(&binary).is_file()))
            .unwrap_or(false);
        match target.availability() {
            Availability::Unavailable { reason } if !on_path => {
                assert!(
                    reason.contains("not on PATH") && reason.contains("KVM"),
                    "{reason}"
                );
            }
            Availability::Unavailable { reason } => assert!(!reason.is_empty()),
            Availability::Available { version } => assert!(on_path && !version.is_empty()),
        }
    }
}

#[test]
fn an_interrupted_run_leaves_no_vm_behind() {
    let _turn = turn();
    if common::require(TargetKind::Microvm(Vmm::Qemu)).is_none() {
        return;
    }
    let args = [
        "--targets",
        "qemu-microvm",
        "--workloads",
        "hello",
        "--samples",
        "20",
    ];
    let (pid, _dir) = common::interrupted_run(&args, &[], 1);
    assert_nothing_left(pid);
}

#[test]
fn a_node_guest_boots_hands_itself_to_node_and_answers_the_js_workload() {
    let _turn = turn();
    if common::require(TargetKind::NodeMicrovm(Vmm::Qemu)).is_none() {
        return;
    }
    // hello only: node's JIT under emulation (TCG) makes the larger
    // workloads take seconds per request.
    let (dir, samples) = common::run_cli(&[
        "--targets",
        "qemu-microvm-node",
        "--workloads",
        "hello",
        "--phases",
        "cold,warm",
        "--samples",
        "1",
        "--warm-samples",
        "2",
        "--timeout",
        "120",
    ]);
    assert_nothing_left(std::process::id());
    assert_eq!(samples.len(), 3, "{samples:?}");
    assert!(
        samples.iter().all(common::valid_or_disturbed),
        "{samples:?}"
    );
    let info = coldbench::results::read_run_info(&dir.path().join("results/latest")).unwrap();
    let t = &info.targets[0];
    assert_eq!(t.name, "qemu-microvm-node");
    assert_eq!(t.implementation, Some(coldbench::vocab::Implementation::Js));
    assert_eq!(t.facts["memory_mib"], 512);
    // The guest went through init's stages, then node, not the static server.
    let measures =
        coldbench::results::read_measures(&dir.path().join("results/latest/measures.csv")).unwrap();
    let has = |name: &str| measures.iter().any(|m| m.measure == name);
    assert!(
        has("boot_net_ns") && has("boot_exec_ns"),
        "init brought it up and exec'd"
    );
    assert!(
        has("boot_exec_to_response_ns"),
        "node's start is in the breakdown"
    );
    assert!(!has("boot_listen_ns"), "the static server did not run");
}
