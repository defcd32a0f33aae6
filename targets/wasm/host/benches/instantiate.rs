//! The microsecond breakdown behind the Wasm targets' end-to-end figures,
//! in-process, no HTTP: compiling vs deserializing the guest, a tenant's cold
//! work per variant (a new instance, initialised), and a warm call.
//! Dropping instances is outside the timed part.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coldbench_wasm_host::{
    engine_config, precompile, Host, Options, Start, Variant, DEFAULT_MEMORY_LIMIT,
};
use criterion::{criterion_group, criterion_main, Criterion};
use wasmtime::{Engine, Module};

fn artifacts() -> Option<(PathBuf, tempfile::TempDir, PathBuf)> {
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../artifacts/guest.wasm");
    if !wasm.exists() {
        eprintln!(
            "skipping wasm benches: {} is missing: run `just build-wasm`",
            wasm.display()
        );
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let cwasm = dir.path().join("guest.cwasm");
    precompile(&wasm, &cwasm).expect("precompile");
    Some((wasm, dir, cwasm))
}

fn host(variant: Variant, wasm: &Path, cwasm: &Path) -> Host {
    Host::new(Options {
        variant,
        wasm: wasm.to_path_buf(),
        cwasm: cwasm.to_path_buf(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        deadline: Duration::from_secs(30),
        max_tenants: 1000,
        snapshot: None,
    })
    .expect("host")
}

/// The time `iters` tenant instantiations took, each after `idle` asleep
/// (not counted) and dropped after its clock stops.
fn instantiations(host: &Host, iters: u64, idle: Duration) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        std::thread::sleep(idle);
        let t0 = Instant::now();
        let tenant = host.instantiate(Start::Cold).expect("instantiate");
        total += t0.elapsed();
        drop(tenant);
    }
    total
}

fn wasm(c: &mut Criterion) {
    let Some((wasm, _dir, cwasm)) = artifacts() else {
        return;
    };
    wasmtime::Engine::tls_eager_initialize();
    let engine =
        Engine::new(&engine_config(Variant::Aot, 1, DEFAULT_MEMORY_LIMIT)).expect("engine");
    let bytes = std::fs::read(&wasm).expect("guest.wasm");

    let mut g = c.benchmark_group("wasm/module");
    g.bench_function("compile (Cranelift)", |b| {
        b.iter(|| Module::new(&engine, black_box(&bytes)).expect("compile"))
    });
    // SAFETY: the .cwasm was just written by `precompile` with this config.
    g.bench_function("deserialize (.cwasm)", |b| {
        b.iter(|| {
            unsafe { Module::deserialize_file(&engine, black_box(&cwasm)) }.expect("deserialize")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("wasm/tenant-cold");
    for variant in [Variant::Jit, Variant::Aot, Variant::Pool] {
        let host = host(variant, &wasm, &cwasm);
        if variant == Variant::Jit {
            g.sample_size(20);
        } else {
            g.sample_size(100);
        }
        g.bench_function(variant.name(), |b| {
            b.iter_custom(|iters| instantiations(&host, iters, Duration::ZERO))
        });
    }
    g.finish();

    // The same after 50 ms idle before each instantiation, as a matrix cell
    // finds the host: its caches and TLB used by other work meanwhile.
    let mut g = c.benchmark_group("wasm/tenant-cold-after-idle");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let idle = host(Variant::Pool, &wasm, &cwasm);
    g.bench_function("pool", |b| {
        b.iter_custom(|iters| instantiations(&idle, iters, Duration::from_millis(50)))
    });
    g.finish();

    let mut g = c.benchmark_group("wasm/warm-call");
    let host = host(Variant::Pool, &wasm, &cwasm);
    let mut tenant = host.instantiate(Start::Cold).expect("instantiate");
    g.bench_function("hello", |b| {
        b.iter(|| host.call(&mut tenant, "hello").expect("call"))
    });
    g.finish();
}

criterion_group!(benches, wasm);
criterion_main!(benches);
