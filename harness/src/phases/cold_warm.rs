//! Phase `cold` (and `warm`): a new instance's first request, timed from the
//! moment the harness asks for the instance to the last byte of its first
//! correct response; then the plan's warm-up requests (checked, their
//! latency a measure of the cold sample); then the warm requests to the same
//! instance, each timed from request to last byte, its CPU the instance's
//! CPU delta around it.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{since, CellPhase, CellRun};
use crate::measures::Measure;
use crate::protocol::Expect;
use crate::targets::{Target, Usage};
use crate::vocab::Phase;

/// A new instance, its cold sample, then `warm` warm samples, then stop.
pub struct ColdWarm {
    /// Warm requests to send (0 for a target without a warm phase).
    pub warm: u32,
}

impl CellPhase for ColdWarm {
    fn run(&self, cell: &mut CellRun<'_>, target: &mut dyn Target) {
        let warm = self.warm;
        let base = target.baseline();
        let probed = cell.probe();
        let asked_at = Instant::now();
        let started = target.start(&cell.request(asked_at));
        let answered = cell.probe();
        let phase = if cell.plan.has(Phase::Cold) {
            Phase::Cold
        } else {
            Phase::Warm
        };
        let started = match started {
            Ok(s) => s,
            Err(_) if cell.cancel.load(Ordering::Relaxed) => return,
            Err(e) => {
                let s = cell.rec.failed(phase, asked_at.elapsed(), e.to_string());
                cell.out.samples.push(s);
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
        let cold_id = cell.record_new(
            Phase::Cold,
            asked_at,
            &started.response,
            usage,
            &started.measures,
            (&probed, &answered),
        );
        // Without a readable first reply there is no instance to compare warm
        // replies with (a host may even have discarded it): no warm requests.
        let (expected, mut warm) = match cold_id.as_deref() {
            Some(id) => (id, warm),
            None => ("", 0),
        };
        let warmup = if warm > 0 {
            cell.plan.controls.warmup
        } else {
            0
        };
        for _ in 0..warmup {
            if cell.cancel.load(Ordering::Relaxed) {
                break;
            }
            let sent_at = Instant::now();
            let answered = target.invoke(
                &mut instance,
                cell.rec.workload,
                sent_at + cell.plan.timeout,
            );
            // A warm-up that fails is kept as a flagged warm sample, and
            // the broken instance gets no warm requests.
            let flagged = match answered {
                Ok(response) => {
                    let latency = response.received_at.saturating_duration_since(sent_at);
                    let s = cell.rec.judged(
                        Phase::Warm,
                        latency,
                        &response,
                        Usage::default(),
                        Expect::SameInstance(expected),
                    );
                    cell.attach(Measure::WarmupNs, latency.as_nanos() as u64);
                    (!s.valid).then_some(s)
                }
                Err(e) => Some(cell.rec.failed(
                    Phase::Warm,
                    sent_at.elapsed(),
                    with_fault(target, &instance, e),
                )),
            };
            if let Some(mut s) = flagged {
                s.error = format!("warm-up request: {}", s.error);
                cell.out.samples.push(s);
                warm = 0;
                break;
            }
        }
        for _ in 0..warm {
            if cell.cancel.load(Ordering::Relaxed) {
                break;
            }
            let before = target.cpu_ns(&instance);
            let probed = cell.probe();
            let sent_at = Instant::now();
            match target.invoke(
                &mut instance,
                cell.rec.workload,
                sent_at + cell.plan.timeout,
            ) {
                Ok(response) => {
                    // CPU right after the response, memory after that.
                    let answered = cell.probe();
                    let cpu_after = target.cpu_ns(&instance);
                    let after = target.measure(&instance);
                    let cpu_ns = cpu_after.zip(before).map(|(a, b)| a.saturating_sub(b));
                    let usage = Usage {
                        cpu_ns,
                        ..since(after, base.clone())
                    };
                    let latency = response.received_at.saturating_duration_since(sent_at);
                    let mut extra = usage.extra.clone();
                    let mut s = cell.rec.judged(
                        Phase::Warm,
                        latency,
                        &response,
                        usage,
                        Expect::SameInstance(expected),
                    );
                    cell.background(&mut s, &mut extra, (&probed, &answered), cpu_ns);
                    cell.keep(s, &extra);
                }
                Err(e) => {
                    // The instance is broken: one failed sample says so, and
                    // it gets no more requests.
                    let s = cell.rec.failed(
                        Phase::Warm,
                        sent_at.elapsed(),
                        with_fault(target, &instance, e),
                    );
                    cell.out.samples.push(s);
                    break;
                }
            }
        }
        cell.stop(target, instance);
    }
}

/// A failed request's error, after what the target knows of why the
/// instance broke (`OOM: …`).
fn with_fault(
    target: &mut dyn Target,
    instance: &crate::targets::Instance,
    e: crate::targets::TargetError,
) -> String {
    match target.fault(instance) {
        Some(fault) => format!("{fault}; {e}"),
        None => e.to_string(),
    }
}
