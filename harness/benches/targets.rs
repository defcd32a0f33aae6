//! Targets in isolation, through the same Target code the harness runs: a
//! cold start (a new instance, to the last byte of its first response) and a
//! warm invoke, for the process baseline, the isolate hosts and the container
//! runtimes. Stopping an
//! instance is outside the timed part. A target that cannot run here is
//! skipped with its reason.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coldbench::measure::http::Poll;
use coldbench::paths::Paths;
use coldbench::targets::container::Net;
use coldbench::targets::container::Runtime;
use coldbench::targets::{Availability, Context, StartRequest, Target, TargetKind};
use criterion::{criterion_group, criterion_main, Criterion};

const BENCHED: [TargetKind; 7] = [
    TargetKind::Process,
    TargetKind::Workerd,
    TargetKind::Deno,
    TargetKind::Container(Runtime::Runc, Net::Own),
    TargetKind::Container(Runtime::Crun, Net::Own),
    TargetKind::Container(Runtime::Podman, Net::Own),
    TargetKind::Container(Runtime::Docker, Net::Own),
];

fn prepared(kind: TargetKind, logs: &std::path::Path) -> Option<Box<dyn Target>> {
    let paths = Paths::discover().expect("run from the checkout");
    let mut target = kind.build(&paths);
    if let Availability::Unavailable { reason } = target.availability() {
        eprintln!("skipping {} benches: unavailable: {reason}", kind.name());
        return None;
    }
    let ctx = Context {
        paths,
        log_dir: logs.to_path_buf(),
        poll: Poll::default(),
        cancel: Arc::new(AtomicBool::new(false)),
        envelope: None,
        restore: false,
    };
    match target.prepare(&ctx) {
        Ok(_) => Some(target),
        Err(e) => {
            eprintln!("skipping {} benches: {e}", kind.name());
            None
        }
    }
}

fn request(tenant: &str, asked_at: Instant) -> StartRequest<'_> {
    StartRequest {
        tenant,
        workload: "hello",
        asked_at,
        deadline: asked_at + Duration::from_secs(30),
    }
}

fn targets(c: &mut Criterion) {
    let _ = nix::sys::prctl::set_timerslack(1_000);
    let logs = tempfile::tempdir().expect("temp dir");
    for kind in BENCHED {
        let Some(mut target) = prepared(kind, logs.path()) else {
            continue;
        };
        let mut group = c.benchmark_group(kind.name());
        if kind.family() == coldbench::targets::Family::Container {
            // Tens to hundreds of milliseconds a start: few iterations.
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(8));
        }
        let mut tenant = 0u64;
        group.bench_function("cold-start/hello", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    tenant += 1;
                    let name = format!("bench{tenant}");
                    let asked_at = Instant::now();
                    let started = target.start(&request(&name, asked_at)).expect("start");
                    total += started.response.received_at - asked_at;
                    target.stop(started.instance).expect("stop");
                }
                total
            })
        });
        let started = target
            .start(&request("warm", Instant::now()))
            .expect("start");
        let mut instance = started.instance;
        group.bench_function("warm-invoke/hello", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let sent = Instant::now();
                    let r = target
                        .invoke(&mut instance, "hello", sent + Duration::from_secs(5))
                        .expect("invoke");
                    total += r.received_at - sent;
                }
                total
            })
        });
        target.stop(instance).expect("stop");
        target.shutdown().expect("shutdown");
        group.finish();
    }
}

criterion_group!(benches, targets);
criterion_main!(benches);
