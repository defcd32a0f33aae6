//! Harness and environment: how the run was made and on what machine.

use crate::results::RunInfo;
use crate::units::{human_bytes, human_ns};

/// The harness's own figures: version, command, plan, polling, overhead.
pub fn harness(run: &RunInfo) -> Vec<(String, String)> {
    let p = &run.plan;
    let plan = format!(
        "profile {:?}, {} cold samples and {} warm samples per (target, workload), seed {}, timeout {:?}",
        p.profile, p.samples, p.warm_samples, p.seed, p.timeout
    );
    let mut out = vec![
        ("harness".to_string(), run.harness.clone()),
        ("command".to_string(), run.command_line.clone()),
        ("plan".to_string(), plan.to_lowercase()),
        ("readiness polling".to_string(), p.poll.describe()),
        (
            "envelope".to_string(),
            match &p.envelope {
                Some(e) => format!(
                    "{} ({}; source: {}); each target's \"envelope\" fact says what it holds",
                    e.describe(),
                    e.platform,
                    e.source
                ),
                None => {
                    "none: instances had the machine's CPUs and a target's default memory limit"
                        .into()
                }
            },
        ),
    ];
    out.extend(conditions(run));
    if let Some(c) = &run.calibration {
        out.push((
            "harness overhead".to_string(),
            format!(
                "{} p50 added by the harness's client over a bare socket round trip ({} p50, to a listener inside the harness on the same cores: a reference, not a floor); the harness's client: {} p50, {} p90 over {} round trips",
                signed_ns(c.overhead_p50_ns),
                human_ns(c.bare_p50_ns),
                human_ns(c.client_p50_ns),
                human_ns(c.client_p90_ns),
                c.n,
            ),
        ));
    }
    out
}

/// What the plan's controls were and did: the settle step, the idle
/// states, placement, warm-up, the background limit and the precision.
pub fn conditions(run: &RunInfo) -> Vec<(String, String)> {
    let c = &run.plan.controls;
    let done = run.conditions.as_ref();
    let settle = match (&c.settle, done) {
        (None, _) => "off: cells ran back to back".to_string(),
        (Some(s), Some(d)) => format!(
            "before each cell, windows of {} until the rest of the machine used under {}% of one CPU, at most {} (the harness spinning meanwhile); {} of {} cells found quiet, waited {} in all, longest {}",
            human_ns(match d.settle.window_ns {
                0 => s.window.as_nanos() as u64,
                used => used,
            }),
            s.quiet_pct,
            human_ns(s.max_wait.as_nanos() as u64),
            d.settle.quiet,
            d.settle.cells,
            human_ns(d.settle.waited_ns),
            human_ns(d.settle.longest_ns)
        ),
        (Some(_), None) => "asked for, not recorded".to_string(),
    };
    let mut out = vec![("settle".to_string(), settle)];
    if let Some(d) = done {
        out.push(("idle states".into(), d.idle.clone()));
        out.push(("placement".into(), d.placement.clone()));
        out.push(("machine CPU read from".into(), d.cpu_source.clone()));
    }
    out.push((
        "warm-up".into(),
        match c.warmup {
            0 => "none: every request after the cold one is a warm sample".into(),
            n => format!("{n} checked request(s) to each new instance between its cold sample and its warm samples (their latency: measure warmup_ns)"),
        },
    ));
    out.push((
        "background limit".into(),
        match c.background_limit_pct {
            None => "off: no sample is flagged for background CPU".into(),
            Some(l) => format!(
                "a warm sample during which the rest of the machine used over {l}% of one CPU (and over {}) is flagged disturbed; every sample's background is measure background_cpu_ns",
                human_ns(crate::phases::DISTURBED_FLOOR_NS)
            ),
        },
    ));
    if let Some(p) = &c.precision {
        let cells = &run.precision;
        let count = |stop| cells.iter().filter(|x| x.stopped == stop).count();
        use crate::run::precision::Stop;
        out.push((
            "precision".into(),
            format!(
                "sampled until the 95% CI of each median was within ±{}%, at most {} cold samples per cell and {} in all: {} cells converged, {} reached the sample bound, {} the time bound, {} were failing; per-cell counts in run.json",
                p.percent,
                p.max_samples,
                human_ns(p.max_time.as_nanos() as u64),
                count(Stop::Converged),
                count(Stop::MaxSamples),
                count(Stop::MaxTime),
                count(Stop::Failing)
            ),
        ));
    }
    out
}

/// The machine's fingerprint, as recorded at the start of the run.
pub fn environment(run: &RunInfo) -> Vec<(String, String)> {
    let f = &run.fingerprint;
    [
        ("CPU", format!("{} ({} cores)", f.cpu_model, f.cores)),
        ("memory", human_bytes(f.memory_bytes)),
        ("OS / kernel", format!("{} / {}", f.os, f.kernel)),
        ("cgroups", f.cgroup_mode.clone()),
        ("KVM", f.kvm.clone()),
        ("clocksource", f.clocksource.clone()),
        (
            "CPU governor",
            f.cpu_governor
                .clone()
                .unwrap_or_else(|| "not exposed".into()),
        ),
        (
            "load at start (1 min)",
            f.loadavg_1m.map(|l| format!("{l:.2}")).unwrap_or_default(),
        ),
        ("host", f.hostname.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A time that may be negative (the harness may be faster than the bare
/// reference), with a real minus sign.
fn signed_ns(v: i64) -> String {
    if v < 0 {
        format!("−{}", human_ns(v.unsigned_abs()))
    } else {
        human_ns(v as u64)
    }
}
