//! The workload compute itself, native Rust, every size: the floor under every
//! target's `compute_ns`.

use std::hint::black_box;
use std::time::Duration;

use coldbench_workload::{Workload, NAMES};
use criterion::{criterion_group, criterion_main, Criterion};

fn compute(c: &mut Criterion) {
    let mut group = c.benchmark_group("compute/rust");
    for name in NAMES {
        let workload = Workload::from_name(name).expect("known workload");
        if name == "palindrome-large" {
            // ~0.3 s an iteration: ten samples are plenty.
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(10));
        }
        group.bench_function(name, |b| {
            b.iter(|| black_box(black_box(workload).run_json()))
        });
    }
    group.finish();
}

criterion_group!(benches, compute);
criterion_main!(benches);
