//! The conditions a run holds the machine in, so that a cell's figures do not
//! depend on the cell before it or on chance (see the README's "Figures that
//! hold still"):
//!
//! - [`settle`] before each cell: wait, bounded, until the machine outside
//!   the harness is quiet (a daemon, kernel teardown or a VMM from the cell
//!   before still busy);
//! - [`IdleHold`]: idle CPUs poll instead of halting, so that a warm request
//!   does not pay for waking a halted CPU (on this VM, ≈ 25 µs per request);
//! - [`Placement`]: the harness on the first CPU, the instances on the
//!   others, where the target's processes descend from the harness.
//!
//! What each did is recorded in run.json ([`Conditions`]).

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::measure::machine::{CpuSource, Probe};
use crate::plan::{Idle, Settle};

/// What the run's controls did, for run.json.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Conditions {
    /// Where the machine's CPU time was read (settle, background).
    pub cpu_source: String,
    /// The idle states as held, or why they were not.
    pub idle: String,
    /// Where the harness and the instances ran.
    pub placement: String,
    /// The settle step over the whole run.
    pub settle: SettleTotals,
}

/// The settle steps of a run, together.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SettleTotals {
    /// Cells it ran before.
    pub cells: u64,
    /// Of which it found the machine quiet in time.
    pub quiet: u64,
    /// Total time it waited.
    pub waited_ns: u64,
    /// The longest wait.
    pub longest_ns: u64,
    /// The window it used (0 in runs from before it was recorded).
    #[serde(default)]
    pub window_ns: u64,
}

impl SettleTotals {
    /// Counts one step.
    pub fn add(&mut self, s: &Settled) {
        self.cells += 1;
        self.quiet += u64::from(s.quiet);
        let ns = s.waited.as_nanos() as u64;
        self.waited_ns += ns;
        self.longest_ns = self.longest_ns.max(ns);
    }
}

/// One settle step.
#[derive(Clone, Copy, Debug)]
pub struct Settled {
    /// How long it waited.
    pub waited: Duration,
    /// Whether a quiet window came before the bound.
    pub quiet: bool,
    /// The first window's background, per mille of one CPU: what the cell
    /// before left running.
    pub busy_permille: u64,
}

/// The settle step's window on `source`: the plan's, or 100 ms where the
/// machine's CPU time comes in 10 ms ticks (/proc/stat), so that one tick
/// is 10 % of a window, not 100 %.
pub fn window(cfg: &Settle, source: CpuSource) -> Duration {
    match source {
        CpuSource::ProcStat => cfg.window.max(Duration::from_millis(100)),
        _ => cfg.window,
    }
}

/// Waits, in windows of `cfg.window`, until one in which everything but the
/// harness used less than `cfg.quiet_pct` of one CPU, or `cfg.max_wait` has
/// passed, or the run is cancelled. The harness stays on its CPU meanwhile
/// (it spins): what the next cell measures must not include the harness
/// waking up. `None` when the machine's CPU time cannot be read.
pub fn settle(cfg: &Settle, source: CpuSource, cancel: &AtomicBool) -> Option<Settled> {
    let start = Instant::now();
    let window = window(cfg, source);
    let mut first = None;
    loop {
        let before = Probe::now(source);
        let at = Instant::now();
        // The harness spins through the window instead of sleeping: on this
        // VM a harness that slept 50 ms made the next cold start up to 2.2×
        // slower (tools/gap.py); its own CPU is not counted as background.
        while at.elapsed() < window {
            std::hint::spin_loop();
        }
        let busy = Probe::now(source).background_since(&before, None)?;
        let permille = busy.saturating_mul(1000) / (at.elapsed().as_nanos() as u64).max(1);
        let first = *first.get_or_insert(permille);
        let quiet = (permille as f64) < cfg.quiet_pct * 10.0;
        let waited = start.elapsed();
        if quiet || waited >= cfg.max_wait || cancel.load(Ordering::Relaxed) {
            return Some(Settled {
                waited,
                quiet,
                busy_permille: first,
            });
        }
    }
}

/// A held PM QoS request: while it lives, idle CPUs poll (see [`Idle::Poll`]).
pub struct IdleHold {
    _file: Option<File>,
    /// What was done, for run.json.
    pub described: String,
}

const DMA_LATENCY: &str = "/dev/cpu_dma_latency";

impl IdleHold {
    /// Holds `idle` for as long as the value lives.
    pub fn hold(idle: Idle) -> IdleHold {
        let driver = std::fs::read_to_string("/sys/devices/system/cpu/cpuidle/current_driver")
            .map(|d| d.trim().to_string())
            .unwrap_or_else(|_| "none".into());
        match idle {
            Idle::Default => IdleHold {
                _file: None,
                described: format!(
                    "default: left to the kernel (cpuidle driver {driver}); idle CPUs may halt"
                ),
            },
            Idle::Poll => {
                let held = File::options()
                    .write(true)
                    .open(DMA_LATENCY)
                    .and_then(|mut f| f.write_all(&0i32.to_ne_bytes()).map(|()| f));
                match held {
                    Ok(f) => IdleHold {
                        _file: Some(f),
                        described: format!(
                            "poll: {DMA_LATENCY} held at 0 µs for the run (cpuidle driver {driver}), idle CPUs poll instead of halting"
                        ),
                    },
                    Err(e) => IdleHold {
                        _file: None,
                        described: format!(
                            "NOT controlled: poll was asked for but {DMA_LATENCY} could not be held ({e}; it needs root): idle CPUs may halt"
                        ),
                    },
                }
            }
        }
    }

    /// Whether the request is held.
    pub fn held(&self) -> bool {
        self._file.is_some()
    }
}

/// The CPUs of `--pin` while a run holds them: the harness's one, the
/// instances' others, and the harness's mask before.
struct Pinned {
    harness: nix::sched::CpuSet,
    instances: nix::sched::CpuSet,
    before: nix::sched::CpuSet,
}

static PINNED: Mutex<Option<Pinned>> = Mutex::new(None);

/// CPU placement for `--pin`: while the value lives, the harness runs on the
/// first CPU it may use and what it spawns through [`Placement::spawn`] on
/// the others. Dropping it gives the harness back its CPUs.
pub struct Placement {
    /// What was done, for run.json.
    pub described: String,
}

fn set_all_threads(set: &nix::sched::CpuSet) {
    use nix::sched::sched_setaffinity;
    use nix::unistd::Pid;
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
    for task in tasks.flatten() {
        if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
            let _ = sched_setaffinity(Pid::from_raw(tid), set);
        }
    }
}

impl Placement {
    /// Pins every thread of the harness to the first CPU it may use and
    /// keeps the others for the instances.
    pub fn pin() -> Placement {
        use nix::sched::{sched_getaffinity, CpuSet};
        use nix::unistd::Pid;
        let not = |why: String| Placement {
            described: format!("not pinned: {why}"),
        };
        let before = match sched_getaffinity(Pid::from_raw(0)) {
            Ok(set) => set,
            Err(e) => return not(format!("cannot read the harness's CPUs ({e})")),
        };
        let cpus: Vec<usize> = (0..CpuSet::count())
            .filter(|&c| before.is_set(c).unwrap_or(false))
            .collect();
        let [first, rest @ ..] = cpus.as_slice() else {
            return not("no CPU is allowed".into());
        };
        if rest.is_empty() {
            return not(format!("the harness may use one CPU ({first}) only"));
        }
        let mut harness = CpuSet::new();
        let _ = harness.set(*first);
        let mut instances = CpuSet::new();
        for &c in rest {
            let _ = instances.set(c);
        }
        set_all_threads(&harness);
        *PINNED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Pinned {
            harness,
            instances,
            before,
        });
        let list: Vec<String> = rest.iter().map(|c| c.to_string()).collect();
        Placement {
            described: format!(
                "pinned: the harness on CPU {first}, the processes it starts (instances, hosts, VMMs, runtime CLIs) on CPU {}; processes a daemon starts (dockerd's containers) are not placed",
                list.join(",")
            ),
        }
    }

    /// Runs `spawn` (a `Command::spawn`) with the calling thread on the
    /// instances' CPUs when pinned, so that the child inherits them. The
    /// thread's mask is switched around the call rather than set in the
    /// child (`pre_exec`), which would make std fork instead of posix_spawn
    /// and change how every pinned instance starts.
    pub fn spawn<T>(spawn: impl FnOnce() -> T) -> T {
        use nix::sched::sched_setaffinity;
        use nix::unistd::Pid;
        let sets = PINNED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|p| (p.harness, p.instances));
        let Some((harness, instances)) = sets else {
            return spawn();
        };
        let _ = sched_setaffinity(Pid::from_raw(0), &instances);
        let out = spawn();
        let _ = sched_setaffinity(Pid::from_raw(0), &harness);
        out
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        if let Some(p) = PINNED.lock().unwrap_or_else(|e| e.into_inner()).take() {
            set_all_threads(&p.before);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn settle_waits_no_longer_than_its_bound_and_says_whether_it_was_quiet() {
        let source = CpuSource::detect();
        let cfg = Settle {
            quiet_pct: 100_000.0,
            window: Duration::from_millis(10),
            max_wait: Duration::from_secs(1),
        };
        let s = settle(&cfg, source, &AtomicBool::new(false)).unwrap();
        assert!(s.quiet, "any machine is below 1000 CPUs of background");
        assert!(s.waited < Duration::from_millis(500), "{:?}", s.waited);

        // A spinning process beside it (the harness's own threads do not
        // count): never quiet at 0 %, so it gives up at its bound.
        let mut spin = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let strict = Settle {
            quiet_pct: 0.0,
            max_wait: Duration::from_millis(120),
            ..cfg
        };
        let s = settle(&strict, source, &AtomicBool::new(false)).unwrap();
        let _ = spin.kill();
        let _ = spin.wait();
        assert!(!s.quiet);
        assert!(s.waited >= Duration::from_millis(120), "{:?}", s.waited);
        assert!(s.waited < Duration::from_secs(2), "{:?}", s.waited);
    }

    #[test]
    fn idle_default_holds_nothing_and_says_so() {
        let h = IdleHold::hold(Idle::Default);
        assert!(!h.held());
        assert!(h.described.starts_with("default"), "{}", h.described);
    }
}
