//! Phase `restore`: each mechanism restores one snapshot twice and gets two
//! instances with ids of their own (an id made before the snapshot, or from
//! a generator state the snapshot holds, would repeat); a restore that does
//! repeat an id is a flagged sample; a snapshot gone is refused with a clear
//! error, the run going on; nothing of a restored instance or its snapshot
//! is left behind.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use coldbench::protocol;
use coldbench::targets::process::{ProcessSpec, ProcessTarget, SnapshotSpec};
use coldbench::targets::spawn::LaunchSpec;
use coldbench::targets::{Context, Family, Phase, StartRequest, Target, TargetKind};

fn context(dir: &std::path::Path) -> Context {
    Context {
        paths: common::paths(),
        log_dir: dir.join("logs"),
        poll: Default::default(),
        cancel: Default::default(),
        envelope: None,
        restore: true,
    }
}

/// Restores one instance; its reply's id (and the instance, stopped).
fn restore_once(target: &mut dyn Target, tenant: &str) -> Result<String, String> {
    target.baseline();
    let asked_at = Instant::now();
    let started = target
        .restore(&StartRequest {
            tenant,
            workload: "hello",
            asked_at,
            deadline: asked_at + Duration::from_secs(60),
        })
        .map_err(|e| e.to_string())?;
    let reply = protocol::parse(started.response.status, &started.response.body)?;
    assert!(reply.cold, "a restored instance's first answer says cold");
    target.stop(started.instance).map_err(|e| e.to_string())?;
    Ok(reply.instance)
}

/// The part of an id that must differ: what follows the pid (a VM's and a
/// container's pid is 1; two processes' pids differ anyway).
fn random_part(id: &str) -> &str {
    id.rsplit_once('-').map_or(id, |(_, r)| r)
}

/// Prepares `kind` for restores, restores twice, and checks the two ids.
fn restores_twice(kind: TargetKind) -> Option<(Box<dyn Target>, tempfile::TempDir, PathBuf)> {
    let mut target = common::require(kind)?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let facts = target.prepare(&context(dir.path())).unwrap();
    let support = target.restore_support();
    assert!(support.is_ok(), "{}: {support:?}", kind.name());
    let bytes = facts["snapshot_bytes"].as_u64().unwrap();
    assert!(bytes > 0, "{}: an empty snapshot", kind.name());
    assert!(facts["snapshot_make_ns"].as_u64().unwrap() > 0);
    let snapshot = PathBuf::from(facts["snapshot"].as_str().unwrap());
    assert!(snapshot.exists(), "{}", snapshot.display());
    let a = restore_once(target.as_mut(), "r1").unwrap();
    let b = restore_once(target.as_mut(), "r2").unwrap();
    assert_ne!(
        random_part(&a),
        random_part(&b),
        "{}: two restores of one snapshot showed one id ({a}, {b})",
        kind.name()
    );
    Some((target, dir, snapshot))
}

#[test]
fn node_restores_from_its_startup_snapshot_as_new_instances() {
    let Some((mut target, _dir, snapshot)) = restores_twice(TargetKind::Node) else {
        return;
    };
    // A snapshot that went missing is refused, said so: never restored.
    std::fs::remove_file(&snapshot).unwrap();
    let err = restore_once(target.as_mut(), "r3").unwrap_err();
    assert!(err.contains("is gone"), "{err}");
    drop(target);
    assert!(
        !snapshot.parent().unwrap().exists(),
        "the snapshot's folder goes with its target"
    );
}

#[test]
fn a_wizer_snapshot_restores_as_new_tenants_in_every_wasm_variant() {
    use coldbench::targets::wasm::Variant;
    for variant in [Variant::Jit, Variant::Aot, Variant::Pool, Variant::Fresh] {
        let Some((mut target, _dir, snapshot)) = restores_twice(TargetKind::Wasm(variant)) else {
            return;
        };
        target.shutdown().unwrap();
        drop(target);
        assert!(!snapshot.exists(), "{}", snapshot.display());
    }
}

#[test]
fn a_qemu_snapshot_restores_as_new_vms_from_a_stream_and_copy_on_write_and_with_node() {
    for kind in [
        TargetKind::Microvm(coldbench::targets::microvm::vmm::Vmm::Qemu),
        TargetKind::MicrovmCow,
        // node's id: OpenSSL's state is the snapshot's, /dev/hwrng is not.
        TargetKind::NodeMicrovm(coldbench::targets::microvm::vmm::Vmm::Qemu),
    ] {
        let Some((target, _dir, snapshot)) = restores_twice(kind) else {
            return;
        };
        drop(target);
        assert!(!snapshot.exists(), "{}", snapshot.display());
        // Every restored VM's TAP went with it (teardown checks its own).
        let taps: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("cbt{}n", std::process::id())))
            .collect();
        assert!(taps.is_empty(), "left behind: {taps:?}");
    }
}

/// A process target whose "snapshot" is a file and whose restores all show
/// one fixed id: the harness must flag every restore after the first.
fn repeating() -> Box<dyn Target> {
    let faulty = PathBuf::from(env!("CARGO_BIN_EXE_coldbench-faulty"));
    let launch = |mode: &str| LaunchSpec {
        program: faulty.clone(),
        args: ["--mode", mode, "--listen", "{listen}"]
            .map(String::from)
            .to_vec(),
        env: Vec::new(),
        missing_hint: "cargo builds coldbench-faulty with the tests".into(),
    };
    let snapshot = SnapshotSpec {
        mechanism: "test: a file, and restores that all answer with one id".into(),
        file: "snap".into(),
        make: LaunchSpec {
            program: "sh".into(),
            args: ["-c", "echo made > \"$1\"", "sh", "{snapshot}"]
                .map(String::from)
                .to_vec(),
            env: Vec::new(),
            missing_hint: "sh".into(),
        },
        restore: launch("fixed-id"),
        sources: Vec::new(),
    };
    Box::new(
        ProcessTarget::new(ProcessSpec {
            name: "faulty-restore".into(),
            family: Family::Process,
            launch: launch("ok"),
        })
        .with_snapshot(snapshot),
    )
}

#[test]
fn a_restore_that_repeats_an_id_is_flagged_and_the_run_goes_on() {
    let out = tempfile::tempdir().unwrap();
    let plan = coldbench::plan::Plan {
        phases: vec![Phase::Restore],
        ..common::plan(
            &["faulty-restore"],
            &["hello"],
            3,
            0,
            Duration::from_secs(10),
        )
    };
    let (outcome, samples) = common::run_in(out.path(), plan, vec![repeating()]);
    let restores: Vec<_> = samples.iter().filter(|s| s.phase == "restore").collect();
    assert_eq!(restores.len(), 3, "{samples:?}");
    assert_eq!(restores.iter().filter(|s| s.valid).count(), 1);
    for s in restores.iter().filter(|s| !s.valid) {
        assert!(s.error.contains("not a new instance"), "{}", s.error);
    }
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.run_dir.join("run.json")).unwrap()).unwrap();
    let target = &run["targets"][0];
    assert!(target["phases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "restore"));
    assert!(target["facts"]["snapshot_bytes"].as_u64().unwrap() > 0);
}
