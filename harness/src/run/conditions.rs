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
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
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

/// Waits, in windows of `cfg.window`, until one in which everything but the
/// harness used less than `cfg.quiet_pct` of one CPU, or `cfg.max_wait` has
/// passed, or the run is cancelled. The harness stays on its CPU meanwhile
/// (it spins): what the next cell measures must not include the harness
/// waking up. `None` when the machine's CPU time cannot be read.
pub fn settle(cfg: &Settle, source: CpuSource, cancel: &AtomicBool) -> Option<Settled> {
    let start = Instant::now();
    // /proc/stat counts in ticks (10 ms): a window of a few of them.
    let window = match source {
        CpuSource::ProcStat => cfg.window.max(Duration::from_millis(50)),
        _ => cfg.window,
    };
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

/// Where the instances' processes run: every CPU but the harness's.
static INSTANCE_CPUS: OnceLock<Vec<usize>> = OnceLock::new();

/// CPU placement for `--pin`.
pub struct Placement;

impl Placement {
    /// Pins every thread of the harness to the first CPU it may use and
    /// keeps the others for the instances; a description for run.json.
    pub fn pin() -> String {
        use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
        use nix::unistd::Pid;
        let allowed = match sched_getaffinity(Pid::from_raw(0)) {
            Ok(set) => set,
            Err(e) => return format!("not pinned: cannot read the harness's CPUs ({e})"),
        };
        let cpus: Vec<usize> = (0..CpuSet::count())
            .filter(|&c| allowed.is_set(c).unwrap_or(false))
            .collect();
        let [harness, rest @ ..] = cpus.as_slice() else {
            return "not pinned: no CPU is allowed".into();
        };
        if rest.is_empty() {
            return format!("not pinned: the harness may use one CPU ({harness}) only");
        }
        let mut own = CpuSet::new();
        let _ = own.set(*harness);
        let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
        for task in tasks.flatten() {
            if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
                let _ = sched_setaffinity(Pid::from_raw(tid), &own);
            }
        }
        let _ = INSTANCE_CPUS.set(rest.to_vec());
        let list: Vec<String> = rest.iter().map(|c| c.to_string()).collect();
        format!(
            "pinned: the harness on CPU {harness}, the processes it starts (instances, hosts, VMMs, runtime CLIs) on CPU {}; processes a daemon starts (dockerd's containers) are not placed",
            list.join(",")
        )
    }

    /// Makes `cmd`'s process run on the instances' CPUs, when pinned.
    pub fn apply(cmd: &mut Command) {
        use nix::sched::{sched_setaffinity, CpuSet};
        let Some(cpus) = INSTANCE_CPUS.get() else {
            return;
        };
        let mut set = CpuSet::new();
        for &c in cpus {
            let _ = set.set(c);
        }
        // SAFETY: between fork and exec the closure only makes one system
        // call on a set built before the fork; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                    .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
