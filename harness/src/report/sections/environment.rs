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
    ];
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
