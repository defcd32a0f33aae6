//! The scheduler: runs a plan against targets, validates every response,
//! and writes every sample to disk as it goes.
//!
//! For each cell of each round (see [`crate::plan`]) it asks the target for a
//! new instance (the cold sample: from the request to the last byte of the
//! first response), measures it, sends the warm requests (each timed from
//! request to last byte, its CPU the instance's CPU delta), and stops it.
//! Nothing measured is dropped: a failed or invalid sample is written with
//! `valid=false` and the reason.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fingerprint::{harness_version, Fingerprint};
use crate::measure::calibrate;
use crate::measure::http::Response;
use crate::measure::proc::Memory;
use crate::paths::Paths;
use crate::plan::{CellKind, Plan};
use crate::progress::Progress;
use crate::protocol::{self, Expect};
use crate::results::{
    self, DensityRow, MeasureRow, ResultsError, RowWriter, RunInfo, RunStatus, Sample, TargetInfo,
    DENSITY_COLUMNS, MEASURE_COLUMNS, SAMPLE_COLUMNS,
};
use crate::spec::Spec;
use crate::stats;
use crate::targets::{Availability, Context, Measures, Phase, StartRequest, Target, Usage};
use crate::units::human_ns;

/// What to run and where to write it.
pub struct RunRequest<'a> {
    /// The plan.
    pub plan: Plan,
    /// Project folders.
    pub paths: &'a Paths,
    /// The workload spec responses are checked against.
    pub spec: &'a Spec,
    /// Base folder: data goes to `<out>/results/<run-id>/`.
    pub out: PathBuf,
    /// Recorded in run.json.
    pub command_line: String,
    /// Set (by a signal handler) to stop the run early, keeping what was measured.
    pub cancel: Arc<AtomicBool>,
}

/// How a run went.
#[derive(Debug)]
pub struct RunOutcome {
    /// Run id.
    pub run_id: String,
    /// `<out>/results/<run-id>`.
    pub run_dir: PathBuf,
    /// Complete or interrupted.
    pub status: RunStatus,
    /// Samples written.
    pub samples: usize,
    /// Of which flagged invalid or failed.
    pub invalid: usize,
    /// Targets not measured, with why.
    pub skipped: Vec<(String, String)>,
}

/// A run that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Writing raw data failed.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// No requested target can run here.
    #[error("no requested target can run here ({0}); `coldbench targets` lists what is available")]
    NothingToRun(String),
}

/// Runs `plan` on `targets` (already built from the registry, or test targets).
pub fn execute(
    req: RunRequest,
    targets: Vec<Box<dyn Target>>,
    progress: &mut dyn Progress,
) -> Result<RunOutcome, RunError> {
    let now = chrono::Utc::now();
    let id = format!(
        "{}-{:04x}",
        now.format("%Y%m%d-%H%M%S"),
        req.plan.seed & 0xffff
    );
    let (run_id, run_dir) = results::create_run_dir(&req.out, &id)?;
    let ctx = Context {
        paths: req.paths.clone(),
        log_dir: run_dir.join("logs"),
        poll: req.plan.poll,
        cancel: req.cancel.clone(),
    };

    let (mut active, infos) = prepare_all(targets, &ctx, progress);
    let mut info = RunInfo {
        run_id: run_id.clone(),
        status: RunStatus::Running,
        started_at: now.to_rfc3339(),
        finished_at: None,
        command_line: req.command_line.clone(),
        harness: harness_version(&req.paths.root),
        plan: req.plan.clone(),
        fingerprint: Fingerprint::collect(),
        targets: infos,
        calibration: None,
        warnings: Vec::new(),
        density_notes: Vec::new(),
    };
    let skipped: Vec<(String, String)> = info
        .targets
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.skipped_reason.clone()?)))
        .collect();
    results::write_run_info(&run_dir, &info)?;
    if active.is_empty() {
        let why: Vec<String> = skipped.iter().map(|(n, r)| format!("{n}: {r}")).collect();
        return Err(RunError::NothingToRun(why.join("; ")));
    }

    match calibrate::client_round_trip(2000) {
        Ok(c) => info.calibration = Some(c),
        Err(e) => info
            .warnings
            .push(format!("harness calibration failed: {e}")),
    }

    let mut plan = req.plan.clone();
    plan.targets = active.iter().map(|t| t.name().to_string()).collect();
    let rounds = plan.rounds(|i| active[i].phases().contains(&Phase::HostCold));
    progress.begin(rounds.iter().map(|r| r.len() as u64).sum());

    let mut writer = RowWriter::<Sample>::create(&run_dir, "samples.csv", &SAMPLE_COLUMNS)?;
    let mut measure_writer =
        RowWriter::<MeasureRow>::create(&run_dir, "measures.csv", &MEASURE_COLUMNS)?;
    let mut all: Vec<Sample> = Vec::new();
    let mut seen: Vec<HashSet<String>> = vec![HashSet::new(); active.len()];
    let mut status = RunStatus::Complete;
    let mut tenant = 0u64;
    'rounds: for (round, cells) in rounds.iter().enumerate() {
        for cell in cells {
            if req.cancel.load(Ordering::Relaxed) {
                status = RunStatus::Interrupted;
                break 'rounds;
            }
            tenant += 1;
            let target = active[cell.target].as_mut();
            let mut cell_run = CellRun {
                rec: Recorder {
                    run_id: &run_id,
                    round: round as u32,
                    target: target.name().to_string(),
                    family: target.family().as_str(),
                    workload: &plan.workloads[cell.workload],
                    accel: target.accel().to_string(),
                    spec: req.spec,
                },
                plan: &plan,
                tenant: format!("t{tenant}"),
                seen: &mut seen[cell.target],
                cancel: &req.cancel,
                samples: Vec::new(),
                measures: Vec::new(),
                warnings: Vec::new(),
            };
            match cell.kind {
                CellKind::Instance { warm } => {
                    let warm = if target.phases().contains(&Phase::Warm) {
                        warm
                    } else {
                        0
                    };
                    cell_run.instance(target, warm)
                }
                CellKind::HostCold => cell_run.host_cold(target),
            }
            cell_run.warnings.extend(
                target
                    .take_notes()
                    .into_iter()
                    .map(|n| format!("{}: {n}", target.name())),
            );
            let line = cell_run.describe(round, rounds.len());
            let (samples, measures, warnings) =
                (cell_run.samples, cell_run.measures, cell_run.warnings);
            for s in &samples {
                writer.write(s)?;
            }
            for m in &measures {
                measure_writer.write(m)?;
            }
            writer.flush()?;
            measure_writer.flush()?;
            for w in warnings {
                progress.note(&format!("warning: {w}"));
                info.warnings.push(w);
            }
            progress.cell_done(&line);
            all.extend(samples);
        }
    }
    if plan.has(Phase::Density) && status == RunStatus::Complete {
        let mut density =
            RowWriter::<DensityRow>::create(&run_dir, "density.csv", &DENSITY_COLUMNS)?;
        for t in active.iter_mut() {
            if req.cancel.load(Ordering::Relaxed) {
                status = RunStatus::Interrupted;
                break;
            }
            if !t.phases().contains(&Phase::Density) {
                info.density_notes.push(format!(
                    "{}: no density sweep: it keeps no instance alive between requests",
                    t.name()
                ));
                continue;
            }
            let sweep = crate::density::sweep(t.as_mut(), &plan, &run_id, &req.cancel);
            for row in &sweep.rows {
                density.write(row)?;
                progress.note(&format!(
                    "density  {}: {} instances, {}",
                    row.target,
                    row.tenants,
                    crate::units::human_bytes(row.memory_bytes)
                ));
            }
            density.flush()?;
            for note in sweep.notes {
                let note = format!("{}: {note}", t.name());
                progress.note(&note);
                info.density_notes.push(note);
            }
            for w in t.take_notes() {
                let w = format!("{}: {w}", t.name());
                progress.note(&format!("warning: {w}"));
                info.warnings.push(w);
            }
        }
    }
    for t in active.iter_mut() {
        if let Err(e) = t.shutdown() {
            let w = format!("{}: {e}", t.name());
            progress.note(&format!("warning: {w}"));
            info.warnings.push(w);
        }
    }
    progress.finish();

    let rows = stats::summarize(&all, &plan.targets, &plan.workloads, plan.seed);
    results::write_summary(&run_dir.join("summary.csv"), &rows)?;
    info.status = status;
    info.finished_at = Some(chrono::Utc::now().to_rfc3339());
    results::write_run_info(&run_dir, &info)?;
    results::point_latest(run_dir.parent().unwrap_or(Path::new(".")), &run_id)?;
    Ok(RunOutcome {
        run_id,
        run_dir,
        status,
        invalid: all.iter().filter(|s| !s.valid).count(),
        samples: all.len(),
        skipped,
    })
}

/// Availability, then untimed preparation, of every target.
fn prepare_all(
    targets: Vec<Box<dyn Target>>,
    ctx: &Context,
    progress: &mut dyn Progress,
) -> (Vec<Box<dyn Target>>, Vec<TargetInfo>) {
    let mut active = Vec::new();
    let mut infos = Vec::new();
    for mut t in targets {
        let mut info = TargetInfo {
            name: t.name().to_string(),
            family: t.family().as_str().to_string(),
            measured: false,
            version: None,
            skipped_reason: None,
            accel: t.accel().to_string(),
            accounting: Some(t.accounting()),
            facts: Default::default(),
            phases: t.phases().iter().map(|p| p.as_str().to_string()).collect(),
        };
        match t.availability() {
            Availability::Unavailable { reason } => {
                info.skipped_reason = Some(format!("unavailable: {reason}"));
            }
            Availability::Available { version } => {
                info.version = Some(version);
                match t.prepare(ctx) {
                    Ok(facts) => {
                        info.facts = facts;
                        info.measured = true;
                        info.accel = t.accel().to_string();
                    }
                    Err(e) => {
                        info.skipped_reason = Some(e.to_string());
                        let _ = t.shutdown();
                    }
                }
            }
        }
        match &info.skipped_reason {
            Some(reason) => progress.note(&format!("skipping {}: {reason}", info.name)),
            None => active.push(t),
        }
        infos.push(info);
    }
    (active, infos)
}

/// `usage` relative to a host's `base` (CPU used and memory added since),
/// or `usage` itself for an instance that is all its own.
fn since(usage: Usage, base: Option<Usage>) -> Usage {
    let Some(base) = base else { return usage };
    Usage {
        cpu_ns: usage
            .cpu_ns
            .zip(base.cpu_ns)
            .map(|(a, b)| a.saturating_sub(b)),
        mem: usage.mem.zip(base.mem).map(|(a, b)| Memory {
            pss_bytes: a.pss_bytes.saturating_sub(b.pss_bytes),
            rss_bytes: a.rss_bytes.saturating_sub(b.rss_bytes),
        }),
        extra: usage.extra,
    }
}

/// Turns responses into samples for one (round, target, workload).
struct Recorder<'a> {
    run_id: &'a str,
    round: u32,
    target: String,
    family: &'static str,
    workload: &'a str,
    accel: String,
    spec: &'a Spec,
}

impl Recorder<'_> {
    fn blank(&self, phase: Phase) -> Sample {
        Sample {
            run_id: self.run_id.to_string(),
            round: self.round,
            target: self.target.clone(),
            family: self.family.to_string(),
            workload: self.workload.to_string(),
            phase: phase.as_str().to_string(),
            instance_id: String::new(),
            latency_ns: None,
            compute_ns: None,
            cpu_ns: None,
            mem_pss_bytes: None,
            mem_rss_bytes: None,
            valid: false,
            error: String::new(),
            accel: self.accel.clone(),
        }
    }

    /// A sample with no response: kept, flagged, with the time until failure.
    fn failed(&self, phase: Phase, waited: Duration, error: String) -> Sample {
        Sample {
            latency_ns: Some(waited.as_nanos() as u64),
            error,
            ..self.blank(phase)
        }
    }

    /// A sample with a response: parsed and checked against the spec and the
    /// expected instance.
    fn judged(
        &self,
        phase: Phase,
        latency: Duration,
        response: &Response,
        usage: Usage,
        expect: Expect,
    ) -> Sample {
        let mut s = self.blank(phase);
        s.latency_ns = Some(latency.as_nanos() as u64);
        s.cpu_ns = usage.cpu_ns;
        s.mem_pss_bytes = usage.mem.map(|m| m.pss_bytes);
        s.mem_rss_bytes = usage.mem.map(|m| m.rss_bytes);
        match protocol::parse(response.status, &response.body) {
            Ok(reply) => {
                s.instance_id = reply.instance.clone();
                s.compute_ns = Some(reply.compute_ns);
                match protocol::check(self.spec, self.workload, &reply, expect) {
                    Ok(()) => s.valid = true,
                    Err(e) => s.error = e,
                }
            }
            Err(e) => s.error = e,
        }
        s
    }
}

/// The work of one cell.
struct CellRun<'a> {
    rec: Recorder<'a>,
    plan: &'a Plan,
    tenant: String,
    seen: &'a mut HashSet<String>,
    cancel: &'a AtomicBool,
    samples: Vec<Sample>,
    measures: Vec<MeasureRow>,
    warnings: Vec<String>,
}

impl CellRun<'_> {
    /// Keeps a sample, with the target's extra figures for it.
    fn keep(&mut self, sample: Sample, extra: &Measures) {
        for (measure, value) in extra {
            self.measures.push(MeasureRow {
                run_id: sample.run_id.clone(),
                round: sample.round,
                target: sample.target.clone(),
                workload: sample.workload.clone(),
                phase: sample.phase.clone(),
                instance_id: sample.instance_id.clone(),
                measure: measure.clone(),
                value: *value,
            });
        }
        self.samples.push(sample);
    }

    fn request(&self, asked_at: Instant) -> StartRequest<'_> {
        StartRequest {
            tenant: &self.tenant,
            workload: self.rec.workload,
            asked_at,
            deadline: asked_at + self.plan.timeout,
        }
    }

    /// Records a cold-type sample; returns the instance id it showed.
    fn record_new(
        &mut self,
        phase: Phase,
        asked_at: Instant,
        response: &Response,
        usage: Usage,
        cold_path: &Measures,
    ) -> Option<String> {
        let latency = response.received_at.saturating_duration_since(asked_at);
        let seen_before = protocol::parse(response.status, &response.body)
            .map(|r| self.seen.contains(&r.instance))
            .unwrap_or(false);
        let extra: Measures = cold_path.iter().chain(&usage.extra).cloned().collect();
        let s = self.rec.judged(
            phase,
            latency,
            response,
            usage,
            Expect::NewInstance { seen_before },
        );
        let id = (!s.instance_id.is_empty()).then(|| s.instance_id.clone());
        if let Some(id) = &id {
            self.seen.insert(id.clone());
        }
        if self.plan.has(phase) {
            self.keep(s, &extra);
        }
        id
    }

    fn stop(&mut self, target: &mut dyn Target, instance: crate::targets::Instance) {
        if let Err(e) = target.stop(instance) {
            self.warnings
                .push(format!("{} ({}): {e}", self.rec.target, self.tenant));
        }
    }

    fn instance(&mut self, target: &mut dyn Target, warm: u32) {
        let base = target.baseline();
        let asked_at = Instant::now();
        let started = target.start(&self.request(asked_at));
        let phase = if self.plan.has(Phase::Cold) {
            Phase::Cold
        } else {
            Phase::Warm
        };
        let started = match started {
            Ok(s) => s,
            Err(_) if self.cancel.load(Ordering::Relaxed) => return,
            Err(e) => {
                let s = self.rec.failed(phase, asked_at.elapsed(), e.to_string());
                self.samples.push(s);
                return;
            }
        };
        let mut instance = started.instance;
        let mut usage = since(target.measure(&instance), base.clone());
        if base.is_some() && !target.phases().contains(&Phase::Warm) {
            // The host dropped the instance with its response: what the
            // host grew by now is not the instance's memory. No figure.
            usage.mem = None;
        }
        let cold_id = self.record_new(
            Phase::Cold,
            asked_at,
            &started.response,
            usage,
            &started.measures,
        );
        // Without a readable first reply there is no instance to compare warm
        // replies with (a host may even have discarded it): no warm requests.
        let (expected, warm) = match cold_id.as_deref() {
            Some(id) => (id, warm),
            None => ("", 0),
        };
        for _ in 0..warm {
            if self.cancel.load(Ordering::Relaxed) {
                break;
            }
            let before = target.cpu_ns(&instance);
            let sent_at = Instant::now();
            match target.invoke(
                &mut instance,
                self.rec.workload,
                sent_at + self.plan.timeout,
            ) {
                Ok(response) => {
                    // CPU right after the response, memory after that.
                    let cpu_after = target.cpu_ns(&instance);
                    let after = target.measure(&instance);
                    let cpu_ns = cpu_after.zip(before).map(|(a, b)| a.saturating_sub(b));
                    let usage = Usage {
                        cpu_ns,
                        ..since(after, base.clone())
                    };
                    let latency = response.received_at.saturating_duration_since(sent_at);
                    let extra = usage.extra.clone();
                    let s = self.rec.judged(
                        Phase::Warm,
                        latency,
                        &response,
                        usage,
                        Expect::SameInstance(expected),
                    );
                    self.keep(s, &extra);
                }
                Err(e) => {
                    // The instance is broken: one failed sample says so, and
                    // it gets no more requests.
                    let s = self
                        .rec
                        .failed(Phase::Warm, sent_at.elapsed(), e.to_string());
                    self.samples.push(s);
                    break;
                }
            }
        }
        self.stop(target, instance);
    }

    fn host_cold(&mut self, target: &mut dyn Target) {
        // From nothing: the running host goes first, outside the timing.
        if let Err(e) = target.shutdown() {
            self.warnings
                .push(format!("{} (stopping the host): {e}", self.rec.target));
        }
        let asked_at = Instant::now();
        match target.host_cold(&self.request(asked_at)) {
            Ok(started) => {
                let usage = target.measure(&started.instance);
                self.record_new(
                    Phase::HostCold,
                    asked_at,
                    &started.response,
                    usage,
                    &started.measures,
                );
                self.stop(target, started.instance);
            }
            Err(_) if self.cancel.load(Ordering::Relaxed) => {}
            Err(e) => {
                let s = self
                    .rec
                    .failed(Phase::HostCold, asked_at.elapsed(), e.to_string());
                self.samples.push(s);
            }
        }
    }

    /// `round 2/5  process  hello: cold 1.02 ms, warm 95.3 µs (3)  [1 invalid]`
    fn describe(&self, round: usize, rounds: usize) -> String {
        let mut parts = Vec::new();
        for phase in Phase::SAMPLED {
            let lat: Vec<u64> = self
                .samples
                .iter()
                .filter(|s| s.phase == phase.as_str() && s.valid)
                .filter_map(|s| s.latency_ns)
                .collect();
            if let Some(m) = stats::median(&lat) {
                let n = if lat.len() > 1 {
                    format!(" (median of {})", lat.len())
                } else {
                    String::new()
                };
                parts.push(format!("{phase} {}{n}", human_ns(m)));
            }
        }
        let bad: Vec<&Sample> = self.samples.iter().filter(|s| !s.valid).collect();
        let mut line = format!(
            "round {}/{rounds}  {}  {}: {}",
            round + 1,
            self.rec.target,
            self.rec.workload,
            if parts.is_empty() {
                "no valid sample".to_string()
            } else {
                parts.join(", ")
            }
        );
        if let Some(first) = bad.first() {
            line.push_str(&format!(
                "  [{} flagged: {}]",
                bad.len(),
                crate::spec::truncate(&first.error, 160)
            ));
        }
        line
    }
}
