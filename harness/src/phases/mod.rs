//! The phases: what one cell of a round asks of a target, and the samples,
//! measures and warnings it hands back to the run's sink
//! ([`crate::run::folder::RunFolder`]).
//!
//! One file per phase: [`cold_warm`] (a new instance's first request, then
//! the warm requests to it), [`host_cold`] (the shared host started from
//! nothing, to its first tenant's answer), [`restore`] (a new instance from
//! a snapshot, to its first answer) and [`density`] (idle instances, memory
//! only, after the rounds). A new phase is a new file here and a
//! [`CellPhase`] the scheduler looks up by the plan's cell kind; the
//! scheduler itself does not change.
//!
//! Nothing measured is dropped: a failed or invalid sample is kept with
//! `valid=false` and the reason.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::measure::http::Response;
use crate::measure::machine::{CpuSource, Probe};
use crate::measure::proc::Memory;
use crate::measures::Measure;
use crate::plan::{CellKind, Plan};
use crate::protocol::{self, Expect};
use crate::results::{MeasureRow, Sample};
use crate::run::conditions::Settled;
use crate::spec::Spec;
use crate::stats;
use crate::targets::{Measures, StartRequest, Target, Usage};
use crate::units::human_ns;
use crate::vocab::Phase;

pub mod cold_warm;
pub mod density;
pub mod host_cold;
pub mod restore;

/// One phase's work in one cell: it asks `target` for what it measures and
/// keeps every sample in `cell`.
pub trait CellPhase {
    /// Runs the cell.
    fn run(&self, cell: &mut CellRun<'_>, target: &mut dyn Target);
}

/// The phase that runs a cell of the plan.
pub fn for_cell(kind: CellKind, target: &dyn Target) -> Box<dyn CellPhase> {
    match kind {
        CellKind::Instance { warm } => Box::new(cold_warm::ColdWarm {
            // A target whose instances die with their request has no warm phase.
            warm: if target.phases().contains(&Phase::Warm) {
                warm
            } else {
                0
            },
        }),
        CellKind::HostCold => Box::new(host_cold::HostCold),
        CellKind::Restore => Box::new(restore::Restore),
    }
}

/// How a flagged sample's error begins when it was flagged for background
/// CPU, not for its answer: the report counts these apart.
pub const DISTURBED: &str = "disturbed";

/// Background below this never flags a sample (see [`CellRun::background`]).
pub const DISTURBED_FLOOR_NS: u64 = 200_000;

/// What a cell produced, handed to the sink by value.
#[derive(Debug, Default)]
pub struct CellOutput {
    /// Every sample, valid or flagged.
    pub samples: Vec<Sample>,
    /// The targets' extra figures for them.
    pub measures: Vec<MeasureRow>,
    /// What went wrong around the samples (a failed stop, a restart).
    pub warnings: Vec<String>,
}

/// `usage` relative to a host's `base` (CPU used and memory added since),
/// or `usage` itself for an instance that is all its own.
pub(crate) fn since(usage: Usage, base: Option<Usage>) -> Usage {
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
pub struct Recorder<'a> {
    /// The run.
    pub run_id: &'a str,
    /// The round.
    pub round: u32,
    /// The target's name.
    pub target: String,
    /// Its family.
    pub family: &'static str,
    /// The workload.
    pub workload: &'a str,
    /// The accelerator its instances use.
    pub accel: String,
    /// What a correct answer is.
    pub spec: &'a Spec,
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
            accel: self.accel.clone(),
            ..Sample::default()
        }
    }

    /// A sample with no response: kept, flagged, with the time until failure.
    pub(crate) fn failed(&self, phase: Phase, waited: Duration, error: String) -> Sample {
        Sample {
            latency_ns: Some(waited.as_nanos() as u64),
            error,
            ..self.blank(phase)
        }
    }

    /// A sample with a response: parsed and checked against the spec and the
    /// expected instance.
    pub(crate) fn judged(
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
pub struct CellRun<'a> {
    /// Makes the samples.
    pub rec: Recorder<'a>,
    /// The plan.
    pub plan: &'a Plan,
    /// The tenant id of this cell's instance.
    pub tenant: String,
    /// Instance ids the target showed before: a new instance's must be new.
    pub seen: &'a mut HashSet<String>,
    /// Set to stop early.
    pub cancel: &'a AtomicBool,
    /// Where the machine's CPU time is read (the samples' background).
    pub cpu: CpuSource,
    /// What the cell produced so far.
    pub out: CellOutput,
}

impl CellRun<'_> {
    /// Keeps a sample, with the target's extra figures for it.
    pub(crate) fn keep(&mut self, sample: Sample, extra: &Measures) {
        for (measure, value) in extra {
            self.out.measures.push(MeasureRow {
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
        self.out.samples.push(sample);
    }

    /// The settle step before this cell, as measures of its first sample.
    pub(crate) fn settled(&mut self, s: &Settled) {
        self.attach(Measure::SettleWaitNs, s.waited.as_nanos() as u64);
        self.attach(Measure::SettleBusyPermille, s.busy_permille);
        self.attach(Measure::SettleQuiet, u64::from(s.quiet));
    }

    /// A figure of the cell's cold (or host-cold) sample; none in a plan
    /// that does not record it (a warm-only plan has nothing to key it by).
    pub(crate) fn attach(&mut self, measure: Measure, value: u64) {
        let first = self.out.samples.first();
        let Some(first) = first.filter(|s| s.phase != Phase::Warm.as_str()) else {
            return;
        };
        self.out.measures.push(MeasureRow {
            run_id: first.run_id.clone(),
            round: first.round,
            target: first.target.clone(),
            workload: first.workload.clone(),
            phase: first.phase.clone(),
            instance_id: first.instance_id.clone(),
            measure: measure.as_str().to_string(),
            value,
        });
    }

    /// The machine's and the harness's CPU time now; the machine's only
    /// where it is fine enough for one sample (else nothing is read right
    /// before the clock starts for a figure that would be dropped).
    pub(crate) fn probe(&self) -> Probe {
        Probe::now(if self.cpu.per_sample() {
            self.cpu
        } else {
            CpuSource::None
        })
    }

    /// The background from `before` to `after` (all CPU time but the
    /// harness's and `instance_ns`) as a measure. A valid warm sample under
    /// more of it than the plan allows is flagged `disturbed`: more than the
    /// limit's share of one CPU over the sample's window, and more than
    /// [`DISTURBED_FLOOR_NS`] (below it the machine's and the instance's
    /// CPU clocks, brought up to date at different moments, disagree by as
    /// much).
    pub(crate) fn background(
        &self,
        sample: &mut Sample,
        extra: &mut Measures,
        (before, after): (&Probe, &Probe),
        instance_ns: Option<u64>,
    ) {
        let Some(bg) = after.background_since(before, instance_ns) else {
            return;
        };
        extra.push(Measure::BackgroundCpuNs.with(bg));
        let window = after.ns_since(before);
        let limit = self.plan.controls.background_limit_pct;
        let judged = sample.valid && sample.phase == Phase::Warm.as_str();
        if let Some(limit) = limit.filter(|_| judged && bg > DISTURBED_FLOOR_NS) {
            let pct = bg as f64 / window.max(1) as f64 * 100.0;
            if pct > limit {
                sample.valid = false;
                sample.error = format!(
                    "{DISTURBED}: the rest of the machine used {} of CPU in this sample's {} ({pct:.0}% of one CPU, limit {limit}%)",
                    human_ns(bg),
                    human_ns(window)
                );
            }
        }
    }

    pub(crate) fn request(&self, asked_at: Instant) -> StartRequest<'_> {
        StartRequest {
            tenant: &self.tenant,
            workload: self.rec.workload,
            asked_at,
            deadline: asked_at + self.plan.timeout,
        }
    }

    /// Records a cold-type sample; returns the instance id it showed.
    pub(crate) fn record_new(
        &mut self,
        phase: Phase,
        asked_at: Instant,
        response: &Response,
        usage: Usage,
        cold_path: &Measures,
        window: (&Probe, &Probe),
    ) -> Option<String> {
        let latency = response.received_at.saturating_duration_since(asked_at);
        let seen_before = protocol::parse(response.status, &response.body)
            .map(|r| self.seen.contains(&r.instance))
            .unwrap_or(false);
        let mut extra: Measures = cold_path.iter().chain(&usage.extra).cloned().collect();
        let instance_ns = usage.cpu_ns;
        let mut s = self.rec.judged(
            phase,
            latency,
            response,
            usage,
            Expect::NewInstance { seen_before },
        );
        self.background(&mut s, &mut extra, window, instance_ns);
        let id = (!s.instance_id.is_empty()).then(|| s.instance_id.clone());
        if let Some(id) = &id {
            self.seen.insert(id.clone());
        }
        if self.plan.has(phase) {
            self.keep(s, &extra);
        }
        id
    }

    /// A phase whose sample is one new instance's first answer (`host-cold`,
    /// `restore`): records it (or its failure), with its usage since `base`,
    /// then stops the instance.
    pub(crate) fn first_answer(
        &mut self,
        target: &mut dyn Target,
        phase: Phase,
        (asked_at, before): (Instant, &Probe),
        started: Result<crate::targets::Started, crate::targets::TargetError>,
        base: Option<Usage>,
    ) {
        match started {
            Ok(started) => {
                let answered = self.probe();
                let shared = base.is_some();
                let mut usage = since(target.measure(&started.instance), base);
                if shared && !target.phases().contains(&Phase::Warm) {
                    // As for a cold start: the host dropped the instance with
                    // its response, so what it grew by is not its memory.
                    usage.mem = None;
                }
                self.record_new(
                    phase,
                    asked_at,
                    &started.response,
                    usage,
                    &started.measures,
                    (before, &answered),
                );
                self.stop(target, started.instance);
            }
            Err(_) if self.cancel.load(std::sync::atomic::Ordering::Relaxed) => {}
            Err(e) => {
                let s = self.rec.failed(phase, asked_at.elapsed(), e.to_string());
                self.out.samples.push(s);
            }
        }
    }

    pub(crate) fn stop(&mut self, target: &mut dyn Target, instance: crate::targets::Instance) {
        if let Err(e) = target.stop(instance) {
            self.out
                .warnings
                .push(format!("{} ({}): {e}", self.rec.target, self.tenant));
        }
    }

    /// `round 2/5  process  hello: cold 1.02 ms, warm 95.3 µs (3)  [1 invalid]`
    pub(crate) fn describe(&self, round: usize, rounds: usize) -> String {
        let mut parts = Vec::new();
        for phase in Phase::SAMPLED {
            let lat: Vec<u64> = self
                .out
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
        let bad: Vec<&Sample> = self.out.samples.iter().filter(|s| !s.valid).collect();
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
