//! `coldbench compare` as a CI gate, on synthetic runs with a known truth: a
//! 10% shift of the p50 is caught, two runs of the same build are not told
//! apart, and the exit status says which.

mod common;

use std::process::Command;

use coldbench::compare::{compare, Options, Verdict};
use coldbench::results::Sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` cold-start-like latencies around `median_ns`: lognormal (σ = 0.08,
/// what cold starts here look like) with 5% slow outliers (×1.5–3).
fn latencies(rng: &mut ChaCha8Rng, n: usize, median_ns: f64) -> Vec<u64> {
    (0..n)
        .map(|_| {
            // Box–Muller.
            let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let outlier = if rng.random_bool(0.05) {
                rng.random_range(1.5..3.0)
            } else {
                1.0
            };
            (median_ns * (0.08 * z).exp() * outlier) as u64
        })
        .collect()
}

fn run(rng: &mut ChaCha8Rng, n: usize, median_ns: f64) -> Vec<Sample> {
    latencies(rng, n, median_ns)
        .into_iter()
        .enumerate()
        .map(|(i, l)| Sample {
            run_id: "synthetic".into(),
            round: i as u32,
            target: "process".into(),
            family: "process".into(),
            workload: "hello".into(),
            phase: "cold".into(),
            instance_id: format!("i{i}"),
            latency_ns: Some(l),
            compute_ns: Some(100),
            valid: true,
            accel: "none".into(),
            ..Sample::default()
        })
        .collect()
}

/// The full profile's cold samples per (target, workload).
const N: usize = 30;

/// Verdicts of 20 trials, each comparing a base run with median 1 ms
/// against a new run whose median is `new_median_ns`, on fresh noise.
fn trials(seed_base: u64, new_median_ns: f64) -> Vec<Verdict> {
    (0..20u64)
        .map(|trial| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed_base + trial);
            let (base, new) = (run(&mut rng, N, 1e6), run(&mut rng, N, new_median_ns));
            let opts = Options {
                permutations: 2000,
                seed: trial,
                ..Options::default()
            };
            compare(&base, &new, &opts)[0].verdict
        })
        .collect()
}

#[test]
fn a_ten_percent_shift_is_caught_in_at_least_19_of_20_trials() {
    let caught = trials(1000, 1.1e6)
        .into_iter()
        .filter(|v| *v == Verdict::Regression)
        .count();
    eprintln!("a 10% shift, n = {N}: caught in {caught} of 20 trials");
    assert!(caught >= 19, "caught {caught} of 20");
}

#[test]
fn two_runs_of_the_same_build_are_flagged_in_at_most_1_of_20_trials() {
    let flagged = trials(2000, 1e6)
        .into_iter()
        .filter(|v| *v != Verdict::Unchanged)
        .count();
    eprintln!("the same build, n = {N}: flagged in {flagged} of 20 trials");
    assert!(flagged <= 1, "flagged {flagged} of 20");
}

/// A synthetic matrix: `cells` targets of `N` cold samples each, cell 0's
/// median multiplied by `factor`.
fn matrix(rng: &mut ChaCha8Rng, cells: usize, factor: f64) -> Vec<Sample> {
    (0..cells)
        .flat_map(|c| {
            let median = 1e6 * if c == 0 { factor } else { 1.0 };
            run(rng, N, median).into_iter().map(move |s| Sample {
                target: format!("t{c}"),
                ..s
            })
        })
        .collect()
}

/// In how many of 20 trials a 24-cell comparison flags anything, and in how
/// many cell 0 (moved by `factor`) is a regression.
fn matrix_trials(factor: f64, correct: bool) -> (usize, usize) {
    let (mut any, mut caught) = (0, 0);
    for trial in 0..20u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(3000 + trial);
        let (base, new) = (matrix(&mut rng, 24, 1.0), matrix(&mut rng, 24, factor));
        let opts = Options {
            permutations: 2000,
            seed: trial,
            correct,
            ..Options::default()
        };
        let changes = compare(&base, &new, &opts);
        let flagged: Vec<&str> = changes
            .iter()
            .filter(|c| c.verdict != Verdict::Unchanged)
            .map(|c| c.target.as_str())
            .collect();
        // With no cell moved, a flag on t0 is a false alarm too.
        any += usize::from(flagged.iter().any(|t| factor == 1.0 || *t != "t0"));
        caught += usize::from(
            changes
                .iter()
                .any(|c| c.target == "t0" && c.verdict == Verdict::Regression),
        );
    }
    (any, caught)
}

#[test]
fn a_whole_matrix_of_one_build_raises_no_false_alarm_in_19_of_20_trials() {
    let (corrected, _) = matrix_trials(1.0, true);
    let (uncorrected, _) = matrix_trials(1.0, false);
    eprintln!(
        "24 unchanged cells: a false alarm in {corrected} of 20 trials adjusted, {uncorrected} of 20 not"
    );
    assert!(corrected <= 1, "{corrected} of 20");
    assert!(
        uncorrected >= 5,
        "without the adjustment a matrix raises false alarms: {uncorrected} of 20"
    );
}

#[test]
fn a_real_shift_in_one_cell_of_a_matrix_is_still_caught() {
    let (false_alarms, caught) = matrix_trials(1.15, true);
    let (_, caught_10) = matrix_trials(1.10, true);
    eprintln!(
        "one cell of 24 moved: +15% caught in {caught} of 20, +10% in {caught_10} of 20; false alarms elsewhere in {false_alarms}"
    );
    assert!(caught >= 19, "{caught} of 20");
    assert!(false_alarms <= 1, "{false_alarms} of 20");
}

#[test]
fn an_improvement_is_not_a_regression_and_few_samples_are_not_judged() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (base, new) = (run(&mut rng, N, 1e6), run(&mut rng, N, 0.8e6));
    assert_eq!(
        compare(&base, &new, &Options::default())[0].verdict,
        Verdict::Improvement
    );
    let (base, new) = (run(&mut rng, 2, 1e6), run(&mut rng, 2, 2e6));
    assert_eq!(
        compare(&base, &new, &Options::default())[0].verdict,
        Verdict::Insufficient
    );
}

fn write_run(dir: &std::path::Path, samples: &[Sample]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut w = csv::Writer::from_path(dir.join("samples.csv")).unwrap();
    for s in samples {
        w.serialize(s).unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn the_command_exits_1_on_a_regression_and_0_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (base, same, slower) = (
        dir.path().join("base"),
        dir.path().join("same"),
        dir.path().join("slower"),
    );
    write_run(&base, &run(&mut rng, N, 1e6));
    write_run(&same, &run(&mut rng, N, 1e6));
    write_run(&slower, &run(&mut rng, N, 1.3e6));
    let coldbench = |a: &std::path::Path, b: &std::path::Path, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_coldbench"))
            .arg("compare")
            .arg(a)
            .arg(b)
            .args(extra)
            .output()
            .unwrap()
    };
    let html = dir.path().join("compare.html");
    let out = coldbench(&base, &slower, &["--html", html.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| **regression** | process | hello | cold |"),
        "{table}"
    );
    assert!(std::fs::read_to_string(&html).unwrap().contains("<table>"));
    let out = coldbench(&base, &same, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = coldbench(&base, &dir.path().join("missing"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("is not a run folder") && err.lines().count() == 1,
        "{err}"
    );
}
