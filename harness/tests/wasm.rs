//! The Wasm family end to end: the four wasmtime targets through the CLI, and
//! a misbehaving guest behind a real host over HTTP.

mod common;

use std::time::{Duration, Instant};

use coldbench::targets::wasm::{self, Variant};
use coldbench::targets::{Context, Target, TargetKind};

#[test]
fn every_wasmtime_target_gives_valid_cold_warm_and_host_cold_rows() {
    let kinds = [
        TargetKind::Wasm(Variant::Jit),
        TargetKind::Wasm(Variant::Aot),
        TargetKind::Wasm(Variant::Pool),
        TargetKind::Wasm(Variant::Fresh),
    ];
    let Some((dir, samples)) = common::run_family(&kinds, "wasm", "3") else {
        return;
    };
    // Every cold start carries the host's own instantiation time; the pooled
    // one, a ready InstancePre, takes less than compiling from source.
    let measures =
        coldbench::results::read_measures(&dir.path().join("results/latest/measures.csv")).unwrap();
    let inst = |target: &str| -> Vec<u64> {
        measures
            .iter()
            .filter(|m| m.target == target && m.measure == "instantiate_ns" && m.phase == "cold")
            .map(|m| m.value)
            .collect()
    };
    for kind in kinds {
        let cold = samples
            .iter()
            .filter(|s| s.target == kind.name() && s.phase == "cold")
            .count();
        assert_eq!(inst(kind.name()).len(), cold, "{}", kind.name());
    }
    assert!(
        inst("wasmtime-pool").iter().max().unwrap() < inst("wasmtime").iter().min().unwrap(),
        "pool {:?}, jit {:?}",
        inst("wasmtime-pool"),
        inst("wasmtime")
    );
    for s in &samples {
        assert!(
            s.instance_id.starts_with("wasm-"),
            "made by the guest: {}",
            s.instance_id
        );
        assert!(s.cpu_ns.unwrap() > 0, "host CPU is measured: {s:?}");
        // wasmtime-fresh drops its instance with the response: the host's
        // growth then is no instance's memory, and none is recorded (a
        // restored instance's neither).
        let keeps =
            !(s.target == "wasmtime-fresh" && ["cold", "restore"].contains(&s.phase.as_str()));
        assert_eq!(
            s.mem_pss_bytes.is_some(),
            keeps,
            "host growth is measured where an instance stays: {s:?}"
        );
    }
}

/// A pooled host serving a private copy of the faulty guest (so its .cwasm
/// is made in the returned folder), with extra host options.
fn faulty_host(extra: &[&str], tag: &str) -> (Box<dyn Target>, [tempfile::TempDir; 2]) {
    let paths = common::paths();
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("faulty.wasm");
    std::fs::copy(paths.artifact("faulty-guest.wasm"), &wasm)
        .expect("faulty-guest.wasm: run `just build-wasm`");
    let target = wasm::hosted(
        tag,
        Variant::Pool,
        &paths.artifact("coldbench-wasm-host"),
        &wasm,
        extra,
    );
    let (target, logs) = common::prepared(Box::new(target));
    (target, [dir, logs])
}

fn start(
    target: &mut dyn Target,
    tenant: &str,
    workload: &str,
) -> Result<coldbench::targets::Started, String> {
    common::start(target, tenant, workload, Duration::from_secs(20))
}

#[test]
fn a_looping_guest_fails_at_the_deadline_and_the_host_serves_others() {
    let (mut target, _dir) = faulty_host(&["--deadline-ms", "300"], "faulty-loop");
    let started = Instant::now();
    let runaway =
        start(target.as_mut(), "runaway", "loop").expect("the host answers, with an error status");
    let reason = String::from_utf8(runaway.response.body.clone()).unwrap();
    assert_eq!(runaway.response.status, 500, "{reason}");
    assert!(reason.contains("deadline of 300ms exceeded"), "{reason}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped by the host's deadline, not the harness timeout"
    );
    // The failed instance was discarded: stop finds nothing left.
    target.stop(runaway.instance).unwrap();
    // The host answered with an error (no restart) and serves the next tenant.
    let ok = start(target.as_mut(), "next", "hello").expect("the host still serves");
    let body = String::from_utf8(ok.response.body.clone()).unwrap();
    assert_eq!(ok.response.status, 200, "{body}");
    target.stop(ok.instance).unwrap();
    target.shutdown().unwrap();
}

#[test]
fn a_guest_failure_is_a_flagged_response_with_the_hosts_reason() {
    let (mut target, _dir) = faulty_host(
        &["--deadline-ms", "300", "--memory-limit-mib", "16"],
        "faulty-hog",
    );
    let hog = start(target.as_mut(), "hog", "hog").expect("the host answers, with an error status");
    assert_eq!(hog.response.status, 500);
    let reason = String::from_utf8(hog.response.body.clone()).unwrap();
    assert!(
        reason.contains("memory limit of 16777216 bytes exceeded"),
        "{reason}"
    );
    let err = coldbench::protocol::parse(hog.response.status, &hog.response.body).unwrap_err();
    assert!(
        err.starts_with("HTTP 500"),
        "a flagged sample says why: {err}"
    );
    target.shutdown().unwrap();
}

#[test]
fn a_corrupt_cwasm_is_rebuilt_at_prepare() {
    let paths = common::paths();
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("guest.wasm");
    std::fs::copy(paths.artifact("guest.wasm"), &wasm).expect("guest.wasm: run `just build-wasm`");
    let host = paths.artifact("coldbench-wasm-host");
    let status = std::process::Command::new(&host)
        .arg("precompile")
        .arg(&wasm)
        .arg(dir.path().join("guest.cwasm"))
        .status()
        .unwrap();
    assert!(status.success());
    let cwasm = dir.path().join("guest.cwasm");
    let mut bytes = std::fs::read(&cwasm).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&cwasm, &bytes).unwrap();
    let mut target = wasm::hosted("rebuilt", Variant::Aot, &host, &wasm, &[]);
    let ctx = Context {
        paths,
        log_dir: dir.path().to_path_buf(),
        poll: Default::default(),
        cancel: Default::default(),
        envelope: None,
        restore: false,
    };
    let facts = target
        .prepare(&ctx)
        .expect("prepare rebuilds a corrupt .cwasm");
    assert_ne!(std::fs::read(&cwasm).unwrap(), bytes, "rebuilt");
    let sidecar = std::fs::read_to_string(dir.path().join("guest.cwasm.sha256")).unwrap();
    assert_eq!(
        facts["precompiled_sha256"].as_str().unwrap(),
        sidecar.trim()
    );
    let ok = start(&mut target, "t", "hello").unwrap();
    assert_eq!(ok.response.status, 200);
    target.shutdown().unwrap();
}
