//! Example rows shared by the unit tests of the results modules.

use super::{MeasureRow, Sample, SummaryRow};

/// A valid sample of round `round`, instance `i<round>`.
pub(crate) fn sample(round: u32, phase: &str, latency_ns: u64) -> Sample {
    Sample {
        run_id: "r".into(),
        round,
        target: "process".into(),
        family: "process".into(),
        workload: "hello".into(),
        phase: phase.into(),
        instance_id: format!("i{round}"),
        latency_ns: Some(latency_ns),
        compute_ns: Some(200),
        cpu_ns: None,
        mem_pss_bytes: Some(1 << 20),
        mem_rss_bytes: None,
        valid: true,
        error: String::new(),
        accel: "none".into(),
    }
}

/// A `cgroup_memory_bytes` measure of the cold sample of round `round`.
pub(super) fn measure(round: u32, value: u64) -> MeasureRow {
    MeasureRow {
        run_id: "r".into(),
        round,
        target: "process".into(),
        workload: "hello".into(),
        phase: "cold".into(),
        instance_id: format!("i{round}"),
        measure: "cgroup_memory_bytes".into(),
        value,
    }
}

/// A summary row with two valid samples.
pub(crate) fn summary_row() -> SummaryRow {
    SummaryRow {
        target: "process".into(),
        family: "process".into(),
        workload: "hello".into(),
        phase: "cold".into(),
        n: 2,
        n_invalid: 0,
        p50_ns: Some(1),
        p90_ns: None,
        p99_ns: None,
        max_ns: None,
        mean_ns: None,
        ci95_lo_ns: None,
        ci95_hi_ns: None,
        cpu_p50_ns: None,
        mem_pss_p50_bytes: None,
    }
}
