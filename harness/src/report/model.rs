//! What a report says, computed once from the raw data and shared by the HTML
//! page, the Markdown summary and the charts.

use std::collections::BTreeMap;

use serde::Serialize;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::comparison::{self, ClaimRow, FamilyRow, Figure};
use super::cost::{self, CostRow};
use crate::density::{fit, Fit};
use crate::measures::{BootStage, Measure};
use crate::results::{DensityRow, MeasureRow, RunInfo, RunStatus, Sample, TargetInfo};
use crate::stats::{self, SummaryRow};
use crate::targets::Phase;
use crate::units::{self, human_bytes, human_ns};

/// The baseline other targets are compared with, when present.
pub const BASELINE: &str = "process";

/// Everything a report shows.
#[derive(Debug, Serialize)]
pub struct ReportModel {
    /// run.json as recorded.
    pub run: RunInfo,
    /// The run did not finish.
    pub incomplete: bool,
    /// Per (target, workload): the figures a reader looks for first.
    pub headline: Vec<Headline>,
    /// summary.csv, formatted.
    pub summary: Vec<SummaryView>,
    /// Each target against the baseline, per workload.
    pub ratios: Vec<Ratio>,
    /// Invalid and failed samples, grouped.
    pub flagged: Vec<Flagged>,
    /// Targets that were not measured.
    pub skipped: Vec<(String, String)>,
    /// Measured targets with versions, accounting and prepare facts.
    pub targets: Vec<TargetView>,
    /// Medians of the instances' own compute time (warm samples).
    pub compute: Vec<ComputeRow>,
    /// Target-specific figures (measures.csv), as medians.
    pub measures: Vec<MeasureView>,
    /// Sample counts.
    pub totals: Totals,
    /// Harness figures (calibration, polling), formatted.
    pub harness: Vec<(String, String)>,
    /// Environment fingerprint, formatted.
    pub environment: Vec<(String, String)>,
    /// Workloads in plan order.
    pub workloads: Vec<String>,
    /// Target names in report order, measured ones only.
    pub target_names: Vec<String>,
    /// Targets whose guests ran under emulation (TCG): shown, not compared.
    pub emulated: Vec<String>,
    /// Density fits per target.
    pub density: Vec<DensityView>,
    /// The comparison page: one row per family.
    pub families: Vec<FamilyRow>,
    /// The comparison page: each claim against the measurement.
    pub claims: Vec<ClaimRow>,
    /// $ per million invocations under each billing model.
    pub costs: Vec<CostRow>,
    /// The billing models' names, in cell order, with their sources.
    pub cost_models: Vec<(String, String)>,
    /// When and how the prices were read.
    pub prices_read: String,
}

/// The density fit of one target.
#[derive(Debug, Serialize)]
pub struct DensityView {
    /// Target.
    pub target: String,
    /// Measured under emulation (TCG).
    pub emulated: bool,
    /// Family.
    pub family: String,
    /// (tenants, memory) as measured, formatted.
    pub points: String,
    /// Slope: memory per tenant.
    pub per_tenant: String,
    /// Intercept: the shared baseline.
    pub baseline: String,
    /// R².
    pub r2: String,
    /// Tenants per GiB at the slope.
    pub per_gib: String,
    /// Why R² is low, when it is.
    pub note: String,
    /// The fit, for the charts and the headline.
    #[serde(skip)]
    pub fit: Option<Fit>,
    /// (tenants, bytes) as measured, for the chart.
    #[serde(skip)]
    pub series: Vec<(u32, u64)>,
}

/// Headline figures of one (target, workload).
#[derive(Debug, Serialize)]
pub struct Headline {
    /// Target.
    pub target: String,
    /// Family.
    pub family: String,
    /// Workload.
    pub workload: String,
    /// Cold p50 with its CI, formatted.
    pub cold: String,
    /// Warm p50.
    pub warm: String,
    /// Host-cold p50.
    pub host_cold: String,
    /// CPU of a cold start (p50).
    pub cold_cpu: String,
    /// PSS after the first response (p50).
    pub pss: String,
    /// Memory per tenant from the density fit.
    pub per_tenant: String,
    /// Valid samples per phase (cold / warm / host-cold), and flagged ones.
    pub counts: String,
    /// Accelerator, if any.
    pub accel: String,
}

/// summary.csv row with human units.
#[derive(Debug, Serialize)]
pub struct SummaryView {
    /// The raw row.
    pub row: SummaryRow,
    /// p50, p90, p99, max, mean, CI low, CI high, CPU p50, PSS p50.
    pub cells: Vec<String>,
    /// Valid samples more than 3.5 robust z-scores from the median (kept).
    pub outliers: usize,
}

/// How a target compares with the baseline on one workload: the median of
/// per-round ratios (both measured in the same round) with a 95% CI.
#[derive(Debug, Serialize)]
pub struct Ratio {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Cold p50 ÷ baseline cold p50.
    pub cold: String,
    /// Warm p50 ÷ baseline warm p50.
    pub warm: String,
    /// Compute p50 ÷ baseline compute p50.
    pub compute: String,
}

/// Flagged samples of one (target, workload, phase).
#[derive(Debug, Serialize)]
pub struct Flagged {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Phase.
    pub phase: String,
    /// How many.
    pub count: usize,
    /// The first error.
    pub first_error: String,
}

/// A measured target.
#[derive(Debug, Serialize)]
pub struct TargetView {
    /// Name.
    pub name: String,
    /// Family.
    pub family: String,
    /// Version.
    pub version: String,
    /// Accelerator.
    pub accel: String,
    /// What CPU counts.
    pub cpu: String,
    /// What memory counts.
    pub memory: String,
    /// Prepare facts, as `key: value` lines.
    pub facts: Vec<(String, String)>,
}

/// Median compute time an instance reported, per (target, workload).
#[derive(Debug, Serialize, Clone)]
pub struct ComputeRow {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Median `compute_ns` over valid warm samples (cold when there are none).
    pub p50_ns: u64,
    /// Whether the median is of cold samples (the target has no warm ones).
    pub from_cold: bool,
    /// Formatted.
    pub p50: String,
}

/// The median of one target-specific figure.
#[derive(Debug, Serialize, Clone)]
pub struct MeasureView {
    /// Target.
    pub target: String,
    /// Phase.
    pub phase: String,
    /// The figure's name (its unit is in the name).
    pub measure: String,
    /// The workload, for a figure that depends on it.
    pub workload: Option<String>,
    /// Median over valid samples, formatted by its unit.
    pub median: String,
    /// Samples it covers.
    pub n: usize,
}

/// Sample counts.
#[derive(Debug, Serialize, Default)]
pub struct Totals {
    /// All samples.
    pub samples: usize,
    /// Valid.
    pub valid: usize,
    /// Flagged.
    pub flagged: usize,
}

fn signed_ns(v: i64) -> String {
    if v < 0 {
        format!("−{}", human_ns(v.unsigned_abs()))
    } else {
        human_ns(v as u64)
    }
}

fn fmt_opt_ns(v: Option<u64>) -> String {
    v.map(human_ns).unwrap_or_else(|| "–".into())
}

impl ReportModel {
    /// Builds the model from what a run wrote.
    pub fn build(
        run: &RunInfo,
        samples: &[Sample],
        measures: &[&MeasureRow],
        density_rows: &[DensityRow],
        rows: &[SummaryRow],
    ) -> ReportModel {
        let find = |t: &str, w: &str, p: Phase| stats::find_row(rows, t, w, p.as_str());
        let target_names: Vec<String> = run
            .targets
            .iter()
            .filter(|t| t.measured)
            .map(|t| t.name.clone())
            .collect();
        let workloads = run.plan.workloads.clone();
        let accel_of = |t: &str| {
            run.targets
                .iter()
                .find(|x| x.name == t)
                .map(|x| x.accel.clone())
                .unwrap_or_default()
        };

        // Targets run under emulation (TCG) are shown, but kept out of every
        // comparison across families: their times measure the emulator.
        let emulated: Vec<String> = run
            .targets
            .iter()
            .filter(|t| t.measured && t.accel == "tcg")
            .map(|t| t.name.clone())
            .collect();
        let density = density_views(density_rows, &target_names, &emulated);
        let mut headline = Vec::new();
        for t in &target_names {
            for w in &workloads {
                let cold = find(t, w, Phase::Cold);
                let warm = find(t, w, Phase::Warm);
                let host = find(t, w, Phase::HostCold);
                if cold.is_none() && warm.is_none() && host.is_none() {
                    continue;
                }
                let bad: u64 = [cold, warm, host]
                    .iter()
                    .flatten()
                    .map(|r| r.n_invalid)
                    .sum();
                let n = [cold, warm, host]
                    .iter()
                    .map(|r| r.map(|r| r.n.to_string()).unwrap_or_else(|| "–".into()))
                    .collect::<Vec<_>>()
                    .join(" / ");
                headline.push(Headline {
                    target: t.clone(),
                    family: cold
                        .or(warm)
                        .or(host)
                        .map(|r| r.family.clone())
                        .unwrap_or_default(),
                    workload: w.clone(),
                    cold: cold
                        .and_then(|r| {
                            Some(format!(
                                "{} ({}–{})",
                                human_ns(r.p50_ns?),
                                human_ns(r.ci95_lo_ns?),
                                human_ns(r.ci95_hi_ns?)
                            ))
                        })
                        .unwrap_or_else(|| "–".into()),
                    warm: fmt_opt_ns(warm.and_then(|r| r.p50_ns)),
                    host_cold: fmt_opt_ns(host.and_then(|r| r.p50_ns)),
                    cold_cpu: fmt_opt_ns(cold.and_then(|r| r.cpu_p50_ns)),
                    pss: cold
                        .and_then(|r| r.mem_pss_p50_bytes)
                        .map(human_bytes)
                        .unwrap_or_else(|| "–".into()),
                    per_tenant: density
                        .iter()
                        .find(|d| d.target == *t && d.fit.is_some())
                        .map_or_else(|| "–".into(), |d| d.per_tenant.clone()),
                    counts: if bad > 0 {
                        format!("{n} ({bad} flagged)")
                    } else {
                        n.to_string()
                    },
                    accel: accel_of(t),
                });
            }
        }

        let summary = rows
            .iter()
            .map(|r| SummaryView {
                row: r.clone(),
                cells: vec![
                    fmt_opt_ns(r.p50_ns),
                    fmt_opt_ns(r.p90_ns),
                    fmt_opt_ns(r.p99_ns),
                    fmt_opt_ns(r.max_ns),
                    fmt_opt_ns(r.mean_ns),
                    fmt_opt_ns(r.ci95_lo_ns),
                    fmt_opt_ns(r.ci95_hi_ns),
                    fmt_opt_ns(r.cpu_p50_ns),
                    r.mem_pss_p50_bytes
                        .map(human_bytes)
                        .unwrap_or_else(|| "–".into()),
                ],
                outliers: stats::mad_outliers(
                    &Self::values(samples, &r.target, &r.workload, &r.phase)
                        .filter_map(|s| s.latency_ns)
                        .collect::<Vec<_>>(),
                ),
            })
            .collect();

        let clocks: BTreeMap<String, u64> = run
            .targets
            .iter()
            .filter_map(|t| {
                let reported = clock_resolution_ns(&t.facts);
                Some((
                    t.name.clone(),
                    reported.or_else(|| apparent_tick_ns(samples, &t.name))?,
                ))
            })
            .collect();
        let compute = compute_rows(samples, &target_names, &workloads, &clocks, &emulated);
        let mut rng = ChaCha8Rng::seed_from_u64(run.plan.seed ^ 0x5a17);
        let mut ratios = Vec::new();
        if target_names.iter().any(|t| t == BASELINE) {
            for t in target_names
                .iter()
                .filter(|t| *t != BASELINE && !emulated.contains(t))
            {
                for w in &workloads {
                    let mut ratio = |value: fn(&Sample) -> Option<u64>, phase: Phase| {
                        let pairs = round_pairs(samples, t, BASELINE, w, phase, value);
                        stats::paired_ratio(&pairs, &mut rng, stats::BOOTSTRAP_RESAMPLES)
                            .map(|(m, lo, hi)| {
                                format!("{m:.2}× ({lo:.2}–{hi:.2}, {} rounds)", pairs.len())
                            })
                            .unwrap_or_else(|| "–".into())
                    };
                    // The same samples as the compute table: warm, or cold
                    // where every request is a new instance.
                    let row = |target: &str| {
                        compute
                            .iter()
                            .find(|c| c.target == target && c.workload == *w)
                    };
                    let compute_phase = match row(t) {
                        Some(c) if c.from_cold => Phase::Cold,
                        _ => Phase::Warm,
                    };
                    // A figure the instance's clock cannot resolve has no
                    // ratio, nor one so small that reading the clock is most of it.
                    let of = |target: &str| row(target).map(|c| c.p50_ns);
                    let compute = match (clocks.get(t), of(t), of(BASELINE)) {
                        (Some(&res), Some(m), _) if m < 10 * res => format!(
                            "– (below {}: the instance's clock ticks in {})",
                            human_ns(10 * res),
                            human_ns(res)
                        ),
                        (_, Some(m), Some(b)) if m.min(b) < TIMER_FLOOR_NS => format!(
                            "– (below {}: timer overhead, not compute)",
                            human_ns(TIMER_FLOOR_NS)
                        ),
                        _ => ratio(|s| s.compute_ns, compute_phase),
                    };
                    ratios.push(Ratio {
                        target: t.clone(),
                        workload: w.clone(),
                        cold: ratio(|s| s.latency_ns, Phase::Cold),
                        warm: ratio(|s| s.latency_ns, Phase::Warm),
                        compute,
                    });
                }
            }
        }

        let mut flagged_map: BTreeMap<(String, String, String), (usize, String)> = BTreeMap::new();
        for s in samples.iter().filter(|s| !s.valid) {
            let e = flagged_map
                .entry((s.target.clone(), s.workload.clone(), s.phase.clone()))
                .or_insert((0, s.error.clone()));
            e.0 += 1;
        }
        let flagged = flagged_map
            .into_iter()
            .map(
                |((target, workload, phase), (count, first_error))| Flagged {
                    target,
                    workload,
                    phase,
                    count,
                    first_error,
                },
            )
            .collect();

        let skipped = run
            .targets
            .iter()
            .filter_map(|t| Some((t.name.clone(), t.skipped_reason.clone()?)))
            .collect();
        let targets = run
            .targets
            .iter()
            .filter(|t| t.measured)
            .map(|t| TargetView {
                name: t.name.clone(),
                family: t.family.clone(),
                version: t.version.clone().unwrap_or_default(),
                accel: t.accel.clone(),
                cpu: t
                    .accounting
                    .as_ref()
                    .map(|a| a.cpu.clone())
                    .unwrap_or_default(),
                memory: t
                    .accounting
                    .as_ref()
                    .map(|a| a.memory.clone())
                    .unwrap_or_default(),
                facts: t
                    .facts
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect(),
            })
            .collect();

        let valid = samples.iter().filter(|s| s.valid).count();
        let mut harness = vec![
            ("harness".to_string(), run.harness.clone()),
            ("command".to_string(), run.command_line.clone()),
            (
                "plan".to_string(),
                format!(
                    "profile {:?}, {} cold samples and {} warm samples per (target, workload), seed {}, timeout {:?}",
                    run.plan.profile, run.plan.samples, run.plan.warm_samples, run.plan.seed, run.plan.timeout
                )
                .to_lowercase(),
            ),
            ("readiness polling".to_string(), run.plan.poll.describe()),
        ];
        if let Some(c) = &run.calibration {
            harness.push((
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
        let f = &run.fingerprint;
        let environment = vec![
            (
                "CPU".to_string(),
                format!("{} ({} cores)", f.cpu_model, f.cores),
            ),
            ("memory".to_string(), human_bytes(f.memory_bytes)),
            (
                "OS / kernel".to_string(),
                format!("{} / {}", f.os, f.kernel),
            ),
            ("cgroups".to_string(), f.cgroup_mode.clone()),
            ("KVM".to_string(), f.kvm.clone()),
            ("clocksource".to_string(), f.clocksource.clone()),
            (
                "CPU governor".to_string(),
                f.cpu_governor
                    .clone()
                    .unwrap_or_else(|| "not exposed".into()),
            ),
            (
                "load at start (1 min)".to_string(),
                f.loadavg_1m.map(|l| format!("{l:.2}")).unwrap_or_default(),
            ),
            ("host".to_string(), f.hostname.clone()),
        ];

        let figures = figures(
            run,
            measures,
            rows,
            &compute,
            &target_names,
            &density,
            &emulated,
        );
        let (costs, prices) = cost::table(&cost_inputs(
            rows,
            &target_names,
            &workloads,
            &density,
            &emulated,
        ));
        ReportModel {
            incomplete: run.status != RunStatus::Complete,
            run: run.clone(),
            headline,
            summary,
            ratios,
            flagged,
            skipped,
            targets,
            compute,
            measures: measure_views(measures, &target_names),
            totals: Totals {
                samples: samples.len(),
                valid,
                flagged: samples.len() - valid,
            },
            harness,
            environment,
            workloads,
            families: comparison::families(&figures),
            claims: comparison::check_claims(&figures),
            costs,
            cost_models: prices
                .models
                .iter()
                .map(|m| (m.name.clone(), m.source.clone()))
                .collect(),
            prices_read: format!("prices read on {}, {}", prices.read_on, prices.how_read),
            target_names,
            emulated,
            density,
        }
    }

    /// Valid samples of (target, workload, phase).
    pub fn values<'a>(
        samples: &'a [Sample],
        target: &'a str,
        workload: &'a str,
        phase: &'a str,
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        samples.iter().filter(move |s| {
            s.valid && s.target == target && s.workload == workload && s.phase == phase
        })
    }
}

/// Medians of measures.csv per (target, phase, measure), over `measures`
/// (those of valid samples).
fn measure_views(measures: &[&MeasureRow], targets: &[String]) -> Vec<MeasureView> {
    // (target rank, target, phase, measure, workload)
    type Key = (usize, String, String, String, Option<String>);
    let mut groups: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
    for m in measures {
        let rank = targets
            .iter()
            .position(|t| *t == m.target)
            .unwrap_or(usize::MAX);
        // A stage that ends with the response holds the workload's compute:
        // one row per workload, not a median across them.
        let workload = Measure::parse(&m.measure)
            .is_some_and(Measure::ends_at_response)
            .then(|| m.workload.clone());
        groups
            .entry((
                rank,
                m.target.clone(),
                m.phase.clone(),
                m.measure.clone(),
                workload,
            ))
            .or_default()
            .push(m.value);
    }
    groups
        .into_iter()
        .filter_map(|((_, target, phase, measure, workload), values)| {
            let m = stats::median(&values)?;
            Some(MeasureView {
                target,
                phase,
                median: units::by_suffix(&measure, m),
                measure,
                workload,
                n: values.len(),
            })
        })
        .collect()
}

/// The resolution of the clock an instance times its compute with, where the
/// target reports it (a host's health answer): coarse clocks (workerd's
/// `performance.now()` moves in whole milliseconds) make small figures zero.
fn clock_resolution_ns(facts: &serde_json::Map<String, serde_json::Value>) -> Option<u64> {
    facts
        .get("host_health")?
        .get("clock_resolution_ns")?
        .as_u64()
        .filter(|&r| r >= 1000)
}

/// Compute times below this are mostly the cost of reading the clock (a
/// hello's compute is a few hundred ns): no ratio is drawn from them.
const TIMER_FLOOR_NS: u64 = 10_000;

/// The tick of a clock the target did not report, seen in its figures: when
/// every `compute_ns` it gave (at least ten, some non-zero) is a whole number
/// of milliseconds, its clock moves in milliseconds (workerd's
/// `performance.now()` in a workerd of its own).
fn apparent_tick_ns(samples: &[Sample], target: &str) -> Option<u64> {
    const MS: u64 = 1_000_000;
    let values: Vec<u64> = samples
        .iter()
        .filter(|s| s.target == target && s.valid)
        .filter_map(|s| s.compute_ns)
        .collect();
    (values.len() >= 10 && values.iter().any(|&v| v > 0) && values.iter().all(|v| v % MS == 0))
        .then_some(MS)
}

fn compute_rows(
    samples: &[Sample],
    targets: &[String],
    workloads: &[String],
    clocks: &BTreeMap<String, u64>,
    tcg: &[String],
) -> Vec<ComputeRow> {
    let mut out = Vec::new();
    for t in targets {
        for w in workloads {
            let of = |phase: Phase| -> Vec<u64> {
                ReportModel::values(samples, t, w, phase.as_str())
                    .filter_map(|s| s.compute_ns)
                    .collect()
            };
            let warm = of(Phase::Warm);
            let from_cold = warm.is_empty();
            let values = if from_cold { of(Phase::Cold) } else { warm };
            let mut marks = Vec::new();
            if from_cold {
                marks.push(Phase::Cold.as_str());
            }
            if tcg.contains(t) {
                marks.push("TCG: emulated");
            }
            let marks = if marks.is_empty() {
                String::new()
            } else {
                format!(" ({})", marks.join(", "))
            };
            if let Some(m) = stats::median(&values) {
                out.push(ComputeRow {
                    target: t.clone(),
                    workload: w.clone(),
                    p50_ns: m,
                    from_cold,
                    p50: match clocks.get(t) {
                        Some(&res) if m < res => format!("< {} (clock resolution)", human_ns(res)),
                        Some(&res) if m < 10 * res => {
                            format!("{} (± {} clock)", human_ns(m), human_ns(res))
                        }
                        _ => human_ns(m),
                    } + &marks,
                });
            }
        }
    }
    out
}

/// Per-round values of `target` and `baseline` in `phase` of `workload`
/// (the median when a round has several), paired by round.
fn round_pairs(
    samples: &[Sample],
    target: &str,
    baseline: &str,
    workload: &str,
    phase: Phase,
    value: fn(&Sample) -> Option<u64>,
) -> Vec<(f64, f64)> {
    let per_round = |t: &str| -> BTreeMap<u32, u64> {
        let mut by_round: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for s in ReportModel::values(samples, t, workload, phase.as_str()) {
            if let Some(v) = value(s) {
                by_round.entry(s.round).or_default().push(v);
            }
        }
        by_round
            .into_iter()
            .filter_map(|(r, v)| Some((r, stats::median(&v)?)))
            .collect()
    };
    let (a, b) = (per_round(target), per_round(baseline));
    a.iter()
        .filter_map(|(r, &va)| Some((va as f64, *b.get(r)? as f64)))
        .collect()
}

/// Density fits, in target order; a low R² says so.
fn density_views(rows: &[DensityRow], targets: &[String], tcg: &[String]) -> Vec<DensityView> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.target.as_str()) {
            names.push(&r.target);
        }
    }
    names.sort_by_key(|n| targets.iter().position(|t| t == n).unwrap_or(usize::MAX));
    names
        .into_iter()
        .map(|name| {
            let mine: Vec<&DensityRow> = rows.iter().filter(|r| r.target == name).collect();
            let points: Vec<(f64, f64)> = mine.iter().map(|r| (r.tenants as f64, r.memory_bytes as f64)).collect();
            let fit = fit(&points);
            let note = match &fit {
                None => "fewer than two steps: no fit".to_string(),
                Some(f) if f.r2 < 0.95 => format!(
                    "R² {:.2} < 0.95: per-tenant memory is small against the noise of the whole's memory (page sharing, allocator, lazy frees)",
                    f.r2
                ),
                Some(_) => String::new(),
            };
            DensityView {
                target: name.to_string(),
                emulated: tcg.iter().any(|t| t == name),
                family: mine[0].family.clone(),
                points: mine
                    .iter()
                    .map(|r| format!("{}: {}", r.tenants, human_bytes(r.memory_bytes)))
                    .collect::<Vec<_>>()
                    .join(", "),
                per_tenant: fit.as_ref().map(|f| human_bytes(f.slope.max(0.0) as u64)).unwrap_or_else(|| "–".into()),
                baseline: fit.as_ref().map(|f| human_bytes(f.intercept.max(0.0) as u64)).unwrap_or_else(|| "–".into()),
                r2: fit.as_ref().map(|f| format!("{:.3}", f.r2)).unwrap_or_else(|| "–".into()),
                per_gib: fit
                    .as_ref()
                    .and_then(Fit::tenants_per_gib)
                    .map(|n| format!("{n:.0}"))
                    .unwrap_or_else(|| "–".into()),
                note,
                fit,
                series: mine.iter().map(|r| (r.tenants, r.memory_bytes)).collect(),
            }
        })
        .collect()
}

/// Memory a tenant of `target` needs: the density slope, else PSS at cold.
fn memory_per_tenant(target: &str, rows: &[SummaryRow], density: &[DensityView]) -> Option<f64> {
    match density
        .iter()
        .find(|d| d.target == target)
        .and_then(|d| d.fit.as_ref())
    {
        Some(f) => Some(f.slope.max(0.0)),
        None => stats::find_row(rows, target, "hello", Phase::Cold.as_str())
            .and_then(|r| r.mem_pss_p50_bytes)
            .map(|v| v as f64),
    }
}

/// Whether a target's instances outlive their first request (it has a warm
/// phase): one that does not has no resident tenant to put a memory figure
/// on. Runs that did not record phases are given the benefit of the doubt.
fn keeps_instances(info: Option<&TargetInfo>) -> bool {
    info.is_none_or(|i| i.phases.is_empty() || i.phases.iter().any(|p| p == Phase::Warm.as_str()))
}

/// What the comparison page compares, per measured target.
fn figures(
    run: &RunInfo,
    measures: &[&MeasureRow],
    rows: &[SummaryRow],
    compute: &[ComputeRow],
    targets: &[String],
    density: &[DensityView],
    emulated: &[String],
) -> Vec<Figure> {
    let p50 = |t: &str, w: &str, phase: Phase, pick: fn(&SummaryRow) -> Option<u64>| {
        stats::find_row(rows, t, w, phase.as_str())
            .and_then(pick)
            .map(|v| v as f64)
    };
    targets
        .iter()
        .map(|t| {
            let info = run.targets.iter().find(|x| x.name == *t);
            let keeps = keeps_instances(info);
            let fit = density
                .iter()
                .find(|d| d.target == *t)
                .and_then(|d| d.fit.as_ref())
                .filter(|_| keeps);
            let measure = |name: Measure, hello_only: bool| -> Option<f64> {
                let values: Vec<u64> = measures
                    .iter()
                    .filter(|m| {
                        m.target == *t
                            && name.is(&m.measure)
                            && m.phase == Phase::Cold.as_str()
                            && (!hello_only || m.workload == "hello")
                    })
                    .map(|m| m.value)
                    .collect();
                stats::median(&values).map(|v| v as f64)
            };
            Figure {
                target: t.clone(),
                family: info.map(|x| x.family.clone()).unwrap_or_default(),
                emulated: emulated.contains(t),
                cold_ns: p50(t, "hello", Phase::Cold, |r| r.p50_ns),
                memory_per_tenant_bytes: if keeps {
                    memory_per_tenant(t, rows, density)
                } else {
                    None
                },
                tenants_per_gib: fit.and_then(Fit::tenants_per_gib),
                instance_memory_bytes: p50(t, "hello", Phase::Cold, |r| r.mem_pss_p50_bytes)
                    .filter(|_| keeps),
                cpu_ns: p50(t, "hello", Phase::Warm, |r| r.cpu_p50_ns),
                vmm_overhead_bytes: measure(Measure::VmmOverheadPssBytes, false),
                instantiate_ns: measure(Measure::InstantiateNs, false),
                boot_to_init_ns: measure(Measure::Boot(BootStage::ToInit), true),
                compute_large_ns: compute
                    .iter()
                    .find(|c| c.target == *t && c.workload == "palindrome-large")
                    .map(|c| c.p50_ns as f64),
            }
        })
        .collect()
}

/// The cost model's inputs: every native target × workload, at its warm p50
/// (its cold p50 where every request is a new instance).
fn cost_inputs(
    rows: &[SummaryRow],
    targets: &[String],
    workloads: &[String],
    density: &[DensityView],
    emulated: &[String],
) -> Vec<cost::Usage> {
    let mut out = Vec::new();
    for t in targets.iter().filter(|t| !emulated.contains(t)) {
        let memory = memory_per_tenant(t, rows, density);
        for w in workloads {
            let row = |phase: Phase| stats::find_row(rows, t, w, phase.as_str());
            let Some(r) = row(Phase::Warm)
                .filter(|r| r.p50_ns.is_some())
                .or_else(|| row(Phase::Cold))
            else {
                continue;
            };
            let Some(duration_ns) = r.p50_ns else {
                continue;
            };
            out.push(cost::Usage {
                target: t.clone(),
                workload: w.clone(),
                duration_ns,
                cpu_ns: r.cpu_p50_ns,
                memory_bytes: memory.map(|m| m as u64),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(phases: &[&str]) -> TargetInfo {
        TargetInfo {
            name: "t".into(),
            family: "wasm".into(),
            measured: true,
            version: None,
            skipped_reason: None,
            accel: "none".into(),
            accounting: None,
            facts: Default::default(),
            phases: phases.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn computed(target: &str, ns: &[u64]) -> Vec<Sample> {
        ns.iter()
            .map(|&v| Sample {
                run_id: "r".into(),
                round: 0,
                target: target.into(),
                family: "isolate".into(),
                workload: "hello".into(),
                phase: "warm".into(),
                instance_id: "i".into(),
                latency_ns: Some(v + 1),
                compute_ns: Some(v),
                cpu_ns: None,
                mem_pss_bytes: None,
                mem_rss_bytes: None,
                valid: true,
                error: String::new(),
                accel: "none".into(),
            })
            .collect()
    }

    #[test]
    fn a_millisecond_clock_is_seen_in_its_figures() {
        let ms = [
            0,
            0,
            1_000_000,
            0,
            2_000_000,
            0,
            0,
            1_000_000,
            0,
            0,
            980_000_000,
        ];
        assert_eq!(apparent_tick_ns(&computed("w", &ms), "w"), Some(1_000_000));
        let fine = [
            0,
            0,
            1_000_000,
            0,
            2_000_000,
            0,
            0,
            1_000_000,
            0,
            0,
            980_000_123,
        ];
        assert_eq!(apparent_tick_ns(&computed("w", &fine), "w"), None);
        assert_eq!(
            apparent_tick_ns(&computed("w", &[0; 12]), "w"),
            None,
            "all zero"
        );
        assert_eq!(
            apparent_tick_ns(&computed("w", &ms[..5]), "w"),
            None,
            "too few"
        );
    }

    #[test]
    fn the_stage_that_ends_with_the_response_is_kept_per_workload() {
        let row = |workload: &str, measure: Measure, value: u64| MeasureRow {
            run_id: "r".into(),
            round: 0,
            target: "vm".into(),
            workload: workload.into(),
            phase: Phase::Cold.as_str().into(),
            instance_id: "i".into(),
            measure: measure.as_str().into(),
            value,
        };
        let to_response = Measure::Boot(BootStage::ListenToResponse);
        let kernel = Measure::Boot(BootStage::Kernel);
        let rows = [
            row("hello", to_response, 1_000),
            row("palindrome-large", to_response, 9_000_000),
            row("hello", kernel, 4_560_000),
            row("palindrome-large", kernel, 4_560_000),
        ];
        let views = measure_views(&rows.iter().collect::<Vec<_>>(), &["vm".to_string()]);
        let shown: Vec<(&str, Option<&str>, &str)> = views
            .iter()
            .map(|v| (v.measure.as_str(), v.workload.as_deref(), v.median.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("boot_kernel_ns", None, "4.56 ms"),
                ("boot_listen_to_response_ns", Some("hello"), "1.00 µs"),
                (
                    "boot_listen_to_response_ns",
                    Some("palindrome-large"),
                    "9.00 ms"
                ),
            ]
        );
    }

    #[test]
    fn a_target_whose_instances_die_with_their_request_has_no_resident_tenant() {
        assert!(!keeps_instances(Some(&info(&["cold", "host-cold"]))));
        assert!(keeps_instances(Some(&info(&["cold", "warm", "density"]))));
        assert!(keeps_instances(Some(&info(&[]))), "an old run.json");
    }
}
