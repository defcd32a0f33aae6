//! The `process` target in isolation: a cold start (spawn to the last byte of
//! the first response) and a warm invoke, through the same Target code the
//! harness runs. Stopping an instance is outside the timed part.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coldbench::measure::http::Poll;
use coldbench::paths::Paths;
use coldbench::targets::{Availability, Context, StartRequest, Target, TargetKind};
use criterion::{criterion_group, criterion_main, Criterion};

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
    };
    target.prepare(&ctx).expect("prepare");
    Some(target)
}

fn request(asked_at: Instant) -> StartRequest<'static> {
    StartRequest {
        tenant: "bench",
        workload: "hello",
        asked_at,
        deadline: asked_at + Duration::from_secs(30),
    }
}

fn process(c: &mut Criterion) {
    let _ = nix::sys::prctl::set_timerslack(1_000);
    let logs = tempfile::tempdir().expect("temp dir");
    let Some(mut target) = prepared(TargetKind::Process, logs.path()) else {
        return;
    };
    let mut group = c.benchmark_group("process");
    group.bench_function("cold-start/hello", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let asked_at = Instant::now();
                let started = target.start(&request(asked_at)).expect("start");
                total += started.response.received_at - asked_at;
                target.stop(started.instance).expect("stop");
            }
            total
        })
    });
    let started = target.start(&request(Instant::now())).expect("start");
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
    group.finish();
}

criterion_group!(benches, process);
criterion_main!(benches);
