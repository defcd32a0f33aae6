//! The host's guarantees, on the real guests built by `just build-wasm`: the
//! workload guest answers correctly and proves new instances; a runaway, a
//! memory hog and a trapping guest are stopped with a clear error while the
//! host goes on serving; bad module files are clear errors, never crashes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coldbench_wasm_host::{precompile, Host, HostError, Options, Start, Variant};

fn artifact(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../artifacts")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `just build-wasm`",
        path.display()
    );
    path
}

/// A host for `wasm`, precompiled into a temporary folder.
fn host(
    variant: Variant,
    wasm: &Path,
    deadline: Duration,
    memory_limit: usize,
) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cwasm = dir.path().join("module.cwasm");
    precompile(wasm, &cwasm).unwrap();
    let host = Host::new(Options {
        variant,
        wasm: wasm.to_path_buf(),
        cwasm,
        memory_limit,
        deadline,
        max_tenants: 16,
        snapshot: None,
    })
    .unwrap();
    (host, dir)
}

fn body(host: &mut Host, tenant: &str, workload: &str) -> serde_json::Value {
    let answer = host.handle(tenant, workload, Start::Cold).unwrap();
    serde_json::from_str(&answer.body().unwrap()).unwrap()
}

#[test]
fn every_variant_answers_every_workload_as_native_rust_does() {
    for variant in Variant::ALL {
        let (mut host, _dir) = host(
            variant,
            &artifact("guest.wasm"),
            Duration::from_secs(30),
            128 << 20,
        );
        for name in coldbench_workload::NAMES {
            let native: serde_json::Value = serde_json::from_str(
                &coldbench_workload::Workload::from_name(name)
                    .unwrap()
                    .run_json(),
            )
            .unwrap();
            let reply = body(&mut host, &format!("t-{name}"), name);
            assert_eq!(reply["result"], native, "{variant:?} {name}");
            assert!(reply["compute_ns"].as_u64().unwrap() > 0);
        }
    }
}

#[test]
fn a_tenant_is_cold_once_and_a_new_tenant_is_a_new_instance() {
    let (mut host, _dir) = host(
        Variant::Pool,
        &artifact("guest.wasm"),
        Duration::from_secs(5),
        128 << 20,
    );
    let first = body(&mut host, "a", "hello");
    let again = body(&mut host, "a", "hello");
    let other = body(&mut host, "b", "hello");
    assert_eq!(
        (
            first["cold"].as_bool(),
            again["cold"].as_bool(),
            other["cold"].as_bool()
        ),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(first["instance"], again["instance"]);
    assert_ne!(first["instance"], other["instance"]);
    assert!(host.remove("a") && !host.remove("a"));
    let reborn = body(&mut host, "a", "hello");
    assert_eq!(
        reborn["cold"].as_bool(),
        Some(true),
        "a removed tenant starts cold again"
    );
    assert_ne!(reborn["instance"], first["instance"]);
}

#[test]
fn fresh_makes_a_new_instance_for_every_request() {
    let (mut host, _dir) = host(
        Variant::Fresh,
        &artifact("guest.wasm"),
        Duration::from_secs(5),
        128 << 20,
    );
    let a = body(&mut host, "a", "hello");
    let b = body(&mut host, "a", "hello");
    assert_eq!(
        (a["cold"].as_bool(), b["cold"].as_bool()),
        (Some(true), Some(true))
    );
    assert_ne!(a["instance"], b["instance"]);
    assert_eq!(host.tenants(), 0);
}

#[test]
fn a_runaway_guest_is_stopped_at_its_deadline_and_the_host_goes_on() {
    for variant in [Variant::Jit, Variant::Pool] {
        let (mut host, _dir) = host(
            variant,
            &artifact("faulty-guest.wasm"),
            Duration::from_millis(200),
            64 << 20,
        );
        let started = Instant::now();
        let err = host.handle("runaway", "loop", Start::Cold).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, HostError::Deadline(_)), "{variant:?}: {err}");
        assert!(
            err.to_string().contains("deadline of 200ms exceeded"),
            "{err}"
        );
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert_eq!(host.tenants(), 0, "the interrupted instance is discarded");
        assert_eq!(
            body(&mut host, "other", "hello")["cold"].as_bool(),
            Some(true),
            "the host still serves"
        );
    }
}

#[test]
fn a_guest_over_its_memory_limit_is_stopped_and_the_host_goes_on() {
    let (mut host, _dir) = host(
        Variant::Pool,
        &artifact("faulty-guest.wasm"),
        Duration::from_secs(10),
        16 << 20,
    );
    let err = host.handle("hog", "hog", Start::Cold).unwrap_err();
    assert!(
        matches!(err, HostError::MemoryLimit { limit, .. } if limit == 16 << 20),
        "{err}"
    );
    assert_eq!(body(&mut host, "other", "hello")["result"], "Hello, world!");
}

#[test]
fn a_trapping_guest_is_an_error_and_the_host_goes_on() {
    let (mut host, _dir) = host(
        Variant::Aot,
        &artifact("faulty-guest.wasm"),
        Duration::from_secs(10),
        64 << 20,
    );
    let err = host.handle("t", "trap", Start::Cold).unwrap_err();
    assert!(matches!(err, HostError::Trap(_)), "{err}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert_eq!(
        body(&mut host, "t", "hello")["cold"].as_bool(),
        Some(true),
        "a new instance after the trap"
    );
}

#[test]
fn an_unknown_workload_is_not_a_fault() {
    let (mut host, _dir) = host(
        Variant::Pool,
        &artifact("guest.wasm"),
        Duration::from_secs(5),
        128 << 20,
    );
    assert!(matches!(
        host.handle("t", "fib", Start::Cold),
        Err(HostError::UnknownWorkload)
    ));
}

fn options(variant: Variant, wasm: PathBuf, cwasm: PathBuf) -> Options {
    Options {
        variant,
        wasm,
        cwasm,
        memory_limit: 128 << 20,
        deadline: Duration::from_secs(5),
        max_tenants: 4,
        snapshot: None,
    }
}

#[test]
fn a_corrupt_cwasm_is_refused_before_it_is_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let cwasm = dir.path().join("guest.cwasm");
    precompile(&artifact("guest.wasm"), &cwasm).unwrap();
    let mut bytes = std::fs::read(&cwasm).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&cwasm, bytes).unwrap();
    let err = Host::new(options(
        Variant::Pool,
        artifact("guest.wasm"),
        cwasm.clone(),
    ))
    .err()
    .unwrap();
    assert!(matches!(err, HostError::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&cwasm.display().to_string()) && msg.contains("just build-wasm"),
        "{msg}"
    );
}

#[test]
fn a_cwasm_from_another_wasmtime_version_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cwasm = dir.path().join("guest.cwasm");
    precompile(&artifact("guest.wasm"), &cwasm).unwrap();
    // The engine section starts with a format byte, the version's length, the version.
    let mut bytes = std::fs::read(&cwasm).unwrap();
    let needle = [0u8, 2, b'4', b'8'];
    let at = bytes
        .windows(4)
        .position(|w| w == needle)
        .expect("engine section with version 48");
    bytes[at + 3] = b'7'; // "47"
    std::fs::write(&cwasm, &bytes).unwrap();
    use sha2::Digest;
    std::fs::write(
        dir.path().join("guest.cwasm.sha256"),
        format!("{:x}\n", sha2::Sha256::digest(&bytes)),
    )
    .unwrap();
    let err = Host::new(options(Variant::Aot, artifact("guest.wasm"), cwasm))
        .err()
        .unwrap();
    assert!(matches!(err, HostError::Load { .. }), "{err}");
    assert!(
        err.to_string().contains("incompatible version '47'"),
        "{err}"
    );
}

#[test]
fn a_missing_module_names_the_file_and_the_fix() {
    let err = Host::new(options(
        Variant::Jit,
        PathBuf::from("/nonexistent/guest.wasm"),
        PathBuf::new(),
    ))
    .err()
    .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/guest.wasm") && msg.contains("just build-wasm"),
        "{msg}"
    );
}
