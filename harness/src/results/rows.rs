//! The row types of a run folder's files and the column list of each CSV file.

use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::measure::calibrate::Calibration;
use crate::plan::Plan;
use crate::targets::Accounting;

/// One measurement: the columns of samples.csv, in DESIGN.md's order.
/// (`Default` is an empty, unmeasured, invalid row: for building rows.)
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Run id.
    pub run_id: String,
    /// Round (0-based).
    pub round: u32,
    /// Target name.
    pub target: String,
    /// Target family.
    pub family: String,
    /// Workload name.
    pub workload: String,
    /// `cold`, `warm` or `host-cold`.
    pub phase: String,
    /// Instance id as the instance reported it; empty when it never answered.
    pub instance_id: String,
    /// Harness-measured latency; for failed samples, the time until the failure.
    pub latency_ns: Option<u64>,
    /// The handler's own time, as the instance reported it.
    pub compute_ns: Option<u64>,
    /// CPU time spent for the sample, as the target accounts it.
    pub cpu_ns: Option<u64>,
    /// PSS after the response.
    pub mem_pss_bytes: Option<u64>,
    /// RSS after the response.
    pub mem_rss_bytes: Option<u64>,
    /// Passed every check.
    pub valid: bool,
    /// Why not, when not valid.
    pub error: String,
    /// `kvm`, `tcg` or `none`.
    pub accel: String,
}

/// One target-specific figure of one sample (measures.csv): a long table,
/// one row per (sample, measure), so targets add figures without new columns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MeasureRow {
    /// Run id.
    pub run_id: String,
    /// Round (0-based).
    pub round: u32,
    /// Target name.
    pub target: String,
    /// Workload name.
    pub workload: String,
    /// Phase of the sample.
    pub phase: String,
    /// Instance id of the sample.
    pub instance_id: String,
    /// What was measured, e.g. `cgroup_memory_bytes`.
    pub measure: String,
    /// Its value (bytes, nanoseconds: the name says which).
    pub value: u64,
}

/// One row of summary.csv: a (target, workload, phase), DESIGN.md's columns
/// (in [`SUMMARY_COLUMNS`]' order); computed by [`crate::stats::summarize`].
///
/// Latency percentiles (`p50_ns`, `p90_ns`, `p99_ns`) are HDR histogram
/// buckets (3 significant digits, clamped to the observed range), while the
/// confidence interval beside them is that of the exact sample median, so
/// `p50_ns` may differ from that median by up to 0.1% and even lie just
/// outside its interval.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SummaryRow {
    /// Target name.
    pub target: String,
    /// Family.
    pub family: String,
    /// Workload.
    pub workload: String,
    /// Phase.
    pub phase: String,
    /// Valid samples: the ones the statistics use.
    pub n: u64,
    /// Samples kept but flagged invalid or failed.
    pub n_invalid: u64,
    /// Median latency: the HDR bucket of quantile 0.5, not the exact median.
    pub p50_ns: Option<u64>,
    /// 90th percentile (HDR bucket).
    pub p90_ns: Option<u64>,
    /// 99th percentile (HDR bucket).
    pub p99_ns: Option<u64>,
    /// Largest.
    pub max_ns: Option<u64>,
    /// Mean (integer division, rounded down).
    pub mean_ns: Option<u64>,
    /// Lower bound of the bootstrap 95% CI of the exact median.
    pub ci95_lo_ns: Option<u64>,
    /// Upper bound.
    pub ci95_hi_ns: Option<u64>,
    /// Median CPU time per sample (HDR bucket).
    pub cpu_p50_ns: Option<u64>,
    /// Median PSS after the response (HDR bucket).
    pub mem_pss_p50_bytes: Option<u64>,
}

/// Columns of summary.csv, in DESIGN.md's order. [`write_summary`](super::write_summary) takes its
/// header from [`SummaryRow`]'s fields; a test keeps the two equal.
pub const SUMMARY_COLUMNS: [&str; 15] = [
    "target",
    "family",
    "workload",
    "phase",
    "n",
    "n_invalid",
    "p50_ns",
    "p90_ns",
    "p99_ns",
    "max_ns",
    "mean_ns",
    "ci95_lo_ns",
    "ci95_hi_ns",
    "cpu_p50_ns",
    "mem_pss_p50_bytes",
];

/// The measures that belong to valid samples, the same (target, round,
/// workload, phase, instance): only those enter any statistic.
pub fn valid_measures<'a>(samples: &[Sample], measures: &'a [MeasureRow]) -> Vec<&'a MeasureRow> {
    use std::collections::HashSet;
    let key = |t: &'a str, r: u32, w: &'a str, p: &'a str, i: &'a str| (t, r, w, p, i);
    let valid: HashSet<(&str, u32, &str, &str, &str)> = samples
        .iter()
        .filter(|s| s.valid)
        .map(|s| {
            (
                s.target.as_str(),
                s.round,
                s.workload.as_str(),
                s.phase.as_str(),
                s.instance_id.as_str(),
            )
        })
        .collect();
    measures
        .iter()
        .filter(|m| {
            valid.contains(&key(
                &m.target,
                m.round,
                &m.workload,
                &m.phase,
                &m.instance_id,
            ))
        })
        .collect()
}

/// One step of a density sweep (density.csv): the memory of `tenants` idle
/// instances of a target, together, as its family accounts it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DensityRow {
    /// Run id.
    pub run_id: String,
    /// Target name.
    pub target: String,
    /// Family.
    pub family: String,
    /// Idle instances alive.
    pub tenants: u32,
    /// Their memory together.
    pub memory_bytes: u64,
}

/// Columns of density.csv, in [`DensityRow`]'s field order (tested).
pub const DENSITY_COLUMNS: [&str; 5] = ["run_id", "target", "family", "tenants", "memory_bytes"];

/// How a run ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Still measuring, or the harness died (samples.csv has what was measured).
    Running,
    /// Every planned cell ran.
    Complete,
    /// Stopped by the user; samples so far are kept.
    Interrupted,
}

/// What the run knew of one target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Registry name.
    pub name: String,
    /// Family.
    pub family: String,
    /// Measured in this run?
    pub measured: bool,
    /// Runtime version, when available.
    pub version: Option<String>,
    /// Why it was skipped.
    pub skipped_reason: Option<String>,
    /// Accelerator.
    pub accel: String,
    /// What CPU and memory figures count.
    pub accounting: Option<Accounting>,
    /// Facts from prepare: artifact hashes, command lines.
    pub facts: serde_json::Map<String, serde_json::Value>,
    /// The phases the target has (`warm` only where an instance outlives
    /// its first request); empty in runs from before it was recorded.
    #[serde(default)]
    pub phases: Vec<String>,
    /// What it runs (`rust`, `js`, `rust-wasm`); absent for runs from before
    /// it was recorded and for targets outside the registry.
    #[serde(default)]
    pub implementation: Option<crate::vocab::Implementation>,
}

/// run.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run id (also the folder name).
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339, once finished.
    pub finished_at: Option<String>,
    /// The command that made this run.
    pub command_line: String,
    /// coldbench version and git commit.
    pub harness: String,
    /// The plan.
    pub plan: Plan,
    /// The machine.
    pub fingerprint: Fingerprint,
    /// Every target considered.
    pub targets: Vec<TargetInfo>,
    /// The harness's own overhead.
    pub calibration: Option<Calibration>,
    /// Things the user should know (cleanup problems, …).
    pub warnings: Vec<String>,
    /// Where and why each density sweep ended.
    #[serde(default)]
    pub density_notes: Vec<String>,
    /// What the plan's controls did (settle, idle states, placement);
    /// absent in runs from before they existed.
    #[serde(default)]
    pub conditions: Option<crate::run::conditions::Conditions>,
    /// Per cell, when the plan asked for a precision: how many rounds it
    /// took and why it stopped.
    #[serde(default)]
    pub precision: Vec<crate::run::precision::CellPrecision>,
}

/// Columns of samples.csv, in DESIGN.md's order and [`Sample`]'s field
/// order (tested).
pub const SAMPLE_COLUMNS: [&str; 15] = [
    "run_id",
    "round",
    "target",
    "family",
    "workload",
    "phase",
    "instance_id",
    "latency_ns",
    "compute_ns",
    "cpu_ns",
    "mem_pss_bytes",
    "mem_rss_bytes",
    "valid",
    "error",
    "accel",
];

/// Columns of measures.csv, in [`MeasureRow`]'s field order (tested).
pub const MEASURE_COLUMNS: [&str; 8] = [
    "run_id",
    "round",
    "target",
    "workload",
    "phase",
    "instance_id",
    "measure",
    "value",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixtures::{measure, sample, summary_row};

    /// The header the csv crate writes for `row`, taken from its serde
    /// field names: what a reader matches columns by.
    fn serde_header<T: Serialize>(row: &T) -> Vec<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(row).unwrap();
        let bytes = w.into_inner().unwrap();
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        r.headers().unwrap().iter().map(String::from).collect()
    }

    #[test]
    fn every_row_type_serializes_to_its_column_list() {
        assert_eq!(serde_header(&sample(0, "cold", 1)), SAMPLE_COLUMNS);
        assert_eq!(serde_header(&measure(0, 1)), MEASURE_COLUMNS);
        let density = DensityRow {
            run_id: "r".into(),
            target: "process".into(),
            family: "process".into(),
            tenants: 4,
            memory_bytes: 1 << 20,
        };
        assert_eq!(serde_header(&density), DENSITY_COLUMNS);
        assert_eq!(serde_header(&summary_row()), SUMMARY_COLUMNS);
    }

    #[test]
    fn the_column_lists_are_the_ones_design_md_documents() {
        assert_eq!(
            SAMPLE_COLUMNS.join(","),
            "run_id,round,target,family,workload,phase,instance_id,latency_ns,compute_ns,cpu_ns,mem_pss_bytes,mem_rss_bytes,valid,error,accel"
        );
        assert_eq!(
            SUMMARY_COLUMNS.join(","),
            "target,family,workload,phase,n,n_invalid,p50_ns,p90_ns,p99_ns,max_ns,mean_ns,ci95_lo_ns,ci95_hi_ns,cpu_p50_ns,mem_pss_p50_bytes"
        );
    }
}
