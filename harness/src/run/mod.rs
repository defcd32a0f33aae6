//! The scheduler: prepares the targets, then runs the plan's rounds. Each
//! cell of a round (see [`crate::plan`]) goes to its phase
//! ([`crate::phases`]), whose samples, measures and warnings go to the run's
//! one sink ([`folder::RunFolder`]), written and flushed cell by cell. The
//! density phase follows the rounds. The scheduler knows no target and no
//! phase's rules.

pub mod conditions;
pub mod folder;
pub mod precision;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::fingerprint::{harness_version, Fingerprint};
use crate::measure::calibrate;
use crate::measure::machine::CpuSource;
use crate::paths::Paths;
use crate::phases::{self, CellOutput, CellRun, Recorder};
use crate::plan::{Cell, Idle, Plan};
use crate::progress::Progress;
use crate::report::figures::BASELINE;
use crate::results::{self, ResultsError, RunInfo, RunStatus, TargetInfo};
use crate::spec::Spec;
use crate::targets::{Availability, Context, Target, TargetKind};
use crate::vocab::Phase;
use conditions::{Conditions, IdleHold, Placement, SettleTotals};
use folder::RunFolder;

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
        envelope: req.plan.envelope.clone(),
        restore: req.plan.has(Phase::Restore),
    };

    // The controls come first: the hosts prepare starts are placed too.
    let controls = &req.plan.controls;
    // Held to the end of the run: dropping it gives the harness its CPUs back.
    let placement = controls.pin.then(Placement::pin);
    let idle = IdleHold::hold(controls.idle);
    let cpu = CpuSource::detect();
    let conditions = Conditions {
        cpu_source: cpu.describe().into(),
        idle: idle.described.clone(),
        placement: placement.as_ref().map_or_else(
            || "not pinned: the kernel places the harness and the instances".into(),
            |p| p.described.clone(),
        ),
        settle: SettleTotals {
            window_ns: controls
                .settle
                .map_or(0, |s| conditions::window(&s, cpu).as_nanos() as u64),
            ..SettleTotals::default()
        },
    };
    let (mut active, infos) = prepare_all(targets, &ctx, progress);
    let info = RunInfo {
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
        conditions: Some(conditions),
        precision: Vec::new(),
    };
    let skipped: Vec<(String, String)> = info
        .targets
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.skipped_reason.clone()?)))
        .collect();
    let mut folder = RunFolder::create(run_dir.clone(), info)?;
    if active.is_empty() {
        let why: Vec<String> = skipped.iter().map(|(n, r)| format!("{n}: {r}")).collect();
        return Err(RunError::NothingToRun(why.join("; ")));
    }

    match calibrate::client_round_trip(2000) {
        Ok(c) => folder.info_mut().calibration = Some(c),
        Err(e) => folder
            .info_mut()
            .warnings
            .push(format!("harness calibration failed: {e}")),
    }

    let mut plan = req.plan.clone();
    plan.targets = active.iter().map(|t| t.name().to_string()).collect();
    if controls.idle != Idle::Default && !idle.held() {
        folder.warn(format!("idle states {}", idle.described), progress);
    }
    if controls.settle.is_some() && cpu == CpuSource::None {
        folder.warn(
            "settle: the machine's CPU time cannot be read (no cpuacct cgroup, no /proc/stat): cells ran without waiting for quiet".into(),
            progress,
        );
    }
    let mut status = rounds(&req, &plan, cpu, &mut active, &mut folder, progress)?;
    if plan.has(Phase::Density)
        && status == RunStatus::Complete
        && !phases::density::run(&mut active, &plan, &req.cancel, &mut folder, progress)?
    {
        status = RunStatus::Interrupted;
    }
    for t in active.iter_mut() {
        if let Err(e) = t.shutdown() {
            folder.warn(format!("{}: {e}", t.name()), progress);
        }
    }
    progress.finish();

    drop(idle);
    drop(placement);
    folder.finish(&plan, status)?;
    let all = folder.samples();
    Ok(RunOutcome {
        run_id,
        run_dir,
        status,
        invalid: all.iter().filter(|s| !s.valid).count(),
        samples: all.len(),
        skipped,
    })
}

/// The rounds: each cell's phase on its target, each cell's rows to the
/// sink; then, when the plan asks for a precision, more rounds of the cells
/// that have not reached it.
fn rounds(
    req: &RunRequest,
    plan: &Plan,
    cpu: CpuSource,
    active: &mut [Box<dyn Target>],
    folder: &mut RunFolder,
    progress: &mut dyn Progress,
) -> Result<RunStatus, RunError> {
    let planned = plan.rounds(|i, phase| match phase {
        Phase::Restore => active[i].restore_support().is_ok(),
        _ => active[i].phases().contains(&phase),
    });
    progress.begin(planned.iter().map(|r| r.len() as u64).sum());
    folder.begin_samples()?;
    let started = std::time::Instant::now();
    let mut cells = Cells {
        req,
        plan,
        cpu,
        run_id: folder.info().run_id.clone(),
        seen: vec![HashSet::new(); active.len()],
        tenant: 0,
        totals: SettleTotals::default(),
    };
    let mut status = RunStatus::Complete;
    'planned: for (round, list) in planned.iter().enumerate() {
        for cell in list {
            if !cells.run(active, folder, progress, *cell, round, planned.len())? {
                status = RunStatus::Interrupted;
                break 'planned;
            }
        }
    }
    if let (Some(want), RunStatus::Complete) = (plan.controls.precision, status) {
        let mut round = planned.len();
        loop {
            let assessed = precision::assess(folder.samples(), plan, &want, started.elapsed());
            let open: Vec<_> = assessed.iter().filter(|c| c.open()).cloned().collect();
            folder.info_mut().precision = assessed;
            if open.is_empty() {
                break;
            }
            let open = precision::round_of(&open, plan, BASELINE, round);
            progress.more(open.len() as u64);
            for cell in open {
                if !cells.run(active, folder, progress, cell, round, round + 1)? {
                    status = RunStatus::Interrupted;
                    break;
                }
            }
            if status == RunStatus::Interrupted {
                break;
            }
            round += 1;
        }
    }
    if let Some(c) = folder.info_mut().conditions.as_mut() {
        c.settle = SettleTotals {
            window_ns: c.settle.window_ns,
            ..cells.totals
        };
    }
    Ok(status)
}

/// What the cells of a run share: the run, the instance ids each target
/// showed, the tenant counter and the settle steps' totals.
struct Cells<'r> {
    req: &'r RunRequest<'r>,
    plan: &'r Plan,
    cpu: CpuSource,
    run_id: String,
    seen: Vec<HashSet<String>>,
    tenant: u64,
    totals: SettleTotals,
}

impl Cells<'_> {
    /// Settles, runs one cell and hands its rows to the sink; `false` when
    /// the run was cancelled before it.
    fn run(
        &mut self,
        active: &mut [Box<dyn Target>],
        folder: &mut RunFolder,
        progress: &mut dyn Progress,
        cell: Cell,
        round: usize,
        rounds: usize,
    ) -> Result<bool, RunError> {
        let (req, plan) = (self.req, self.plan);
        if req.cancel.load(Ordering::Relaxed) {
            return Ok(false);
        }
        self.tenant += 1;
        let settled = plan
            .controls
            .settle
            .and_then(|cfg| conditions::settle(&cfg, self.cpu, &req.cancel));
        if req.cancel.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let target = active[cell.target].as_mut();
        let mut cell_run = CellRun {
            rec: Recorder {
                run_id: &self.run_id,
                round: round as u32,
                target: target.name().to_string(),
                family: target.family().as_str(),
                workload: &plan.workloads[cell.workload],
                accel: target.accel().to_string(),
                spec: req.spec,
            },
            plan,
            tenant: format!("t{}", self.tenant),
            seen: &mut self.seen[cell.target],
            cancel: &req.cancel,
            cpu: self.cpu,
            out: CellOutput::default(),
        };
        phases::for_cell(cell.kind, target).run(&mut cell_run, target);
        if let Some(s) = settled {
            cell_run.settled(&s);
            self.totals.add(&s);
        }
        let name = target.name().to_string();
        cell_run.out.warnings.extend(
            target
                .take_notes()
                .into_iter()
                .map(|n| format!("{name}: {n}")),
        );
        let line = cell_run.describe(round, rounds);
        folder.cell(cell_run.out, progress)?;
        progress.cell_done(&line);
        Ok(true)
    }
}

/// Whether a prepared target restores from a snapshot in this run, in its
/// facts (`restore`) and phases; why not, said once as a note.
fn restore_support(t: &dyn Target, info: &mut TargetInfo, progress: &mut dyn Progress) {
    let said = match t.restore_support() {
        Ok(how) => {
            info.phases.push(Phase::Restore.as_str().to_string());
            how
        }
        Err(why) => {
            progress.note(&format!("{}: restore unavailable: {why}", info.name));
            format!("unavailable: {why}")
        }
    };
    info.facts.insert("restore".into(), serde_json::json!(said));
}

/// Availability, then untimed preparation, of every target.
fn prepare_all(
    targets: Vec<Box<dyn Target>>,
    ctx: &Context,
    progress: &mut dyn Progress,
) -> (Vec<Box<dyn Target>>, Vec<TargetInfo>) {
    let mut active = Vec::new();
    let mut infos = Vec::new();
    // An envelope this host cannot apply leaves every target out, said so:
    // never a run that silently measures unlimited instances.
    let refused = ctx
        .envelope
        .as_ref()
        .and_then(|e| crate::envelope::check(e).err());
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
            implementation: TargetKind::parse(t.name()).ok().map(|k| k.implementation()),
        };
        let kind = TargetKind::parse(t.name()).ok();
        if let (Some(envelope), Some(kind)) = (&ctx.envelope, kind) {
            info.facts.insert(
                "envelope".into(),
                serde_json::json!(format!(
                    "{}; held: {}",
                    envelope.describe(),
                    kind.envelope_scope().describe()
                )),
            );
        }
        let availability = match &refused {
            Some(why) => Availability::Unavailable {
                reason: why.clone(),
            },
            None => t.availability(),
        };
        match availability {
            Availability::Unavailable { reason } => {
                info.skipped_reason = Some(format!("unavailable: {reason}"));
            }
            Availability::Available { version } => {
                info.version = Some(version);
                match t.prepare(ctx) {
                    Ok(facts) => {
                        info.facts.extend(facts);
                        info.measured = true;
                        info.accel = t.accel().to_string();
                        if ctx.restore {
                            restore_support(t.as_ref(), &mut info, progress);
                        }
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
