//! The machine around the harness: all CPU time its tasks used, and the
//! harness's own, so that what ran beside a sample (the background) can be
//! told from what the sample itself cost.
//!
//! The machine's CPU time comes from the root `cpuacct` cgroup
//! (`cpuacct.usage`, nanoseconds, the scheduler's own account of every task)
//! where cgroup v1 has one, else from `/proc/stat` (every state but idle and
//! iowait, in clock ticks: 10 ms on most kernels, too coarse for one short
//! sample, fine over a settle window). Either way a task's time is brought
//! up to date when it stops running or at a scheduler tick, so a reading
//! can lag a busy task by up to a tick.

use std::fs;

use serde::{Deserialize, Serialize};

const CPUACCT: &str = "/sys/fs/cgroup/cpuacct/cpuacct.usage";

/// Where the machine's CPU time is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuSource {
    /// The root cpuacct cgroup: nanoseconds.
    Cpuacct,
    /// /proc/stat: clock ticks.
    ProcStat,
    /// Neither could be read: no background figure.
    None,
}

impl CpuSource {
    /// The best source this machine has.
    pub fn detect() -> CpuSource {
        if read_cpuacct().is_some() {
            CpuSource::Cpuacct
        } else if read_proc_stat().is_some() {
            CpuSource::ProcStat
        } else {
            CpuSource::None
        }
    }

    /// CPU time all tasks of the machine have used, in ns.
    pub fn read(self) -> Option<u64> {
        match self {
            CpuSource::Cpuacct => read_cpuacct(),
            CpuSource::ProcStat => read_proc_stat(),
            CpuSource::None => None,
        }
    }

    /// Whether it is fine enough for one sample's background (a warm
    /// sample lasts 10 µs to a few ms; /proc/stat moves in 10 ms ticks).
    pub fn per_sample(self) -> bool {
        self == CpuSource::Cpuacct
    }

    /// How the figure is read, for run.json and the report.
    pub fn describe(self) -> &'static str {
        match self {
            CpuSource::Cpuacct => "the root cpuacct cgroup (cpuacct.usage, ns)",
            CpuSource::ProcStat => "/proc/stat (non-idle clock ticks: the settle step only; too coarse for one sample's background)",
            CpuSource::None => "unreadable (no cpuacct cgroup, no /proc/stat)",
        }
    }
}

fn read_cpuacct() -> Option<u64> {
    fs::read_to_string(CPUACCT).ok()?.trim().parse().ok()
}

fn read_proc_stat() -> Option<u64> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    parse_proc_stat(&text, tick_ns())
}

/// Non-idle time of the `cpu` line of /proc/stat: user, nice, system, irq,
/// softirq and steal (guest time is already inside user), in ns.
fn parse_proc_stat(text: &str, tick_ns: u64) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| v.get(i).copied().unwrap_or(0))
        .sum::<u64>();
    Some(busy * tick_ns)
}

fn tick_ns() -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&hz| hz > 0)
        .unwrap_or(100);
    1_000_000_000 / hz as u64
}

/// CPU time of the harness itself (all its threads), in ns.
pub fn own_cpu_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// The machine's and the harness's CPU time at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    machine: Option<u64>,
    own: u64,
    at: std::time::Instant,
}

impl Probe {
    /// Reads both now.
    pub fn now(source: CpuSource) -> Probe {
        Probe {
            own: own_cpu_ns(),
            machine: source.read(),
            at: std::time::Instant::now(),
        }
    }

    /// Wall time from `earlier` to this reading, in ns.
    pub fn ns_since(&self, earlier: &Probe) -> u64 {
        self.at.saturating_duration_since(earlier.at).as_nanos() as u64
    }

    /// CPU time used since `earlier` by everything but the harness and the
    /// `instance_ns` the instance itself used (when known): the background.
    pub fn background_since(&self, earlier: &Probe, instance_ns: Option<u64>) -> Option<u64> {
        let machine = self.machine?.checked_sub(earlier.machine?)?;
        let own = self.own.saturating_sub(earlier.own);
        Some(
            machine
                .saturating_sub(own)
                .saturating_sub(instance_ns.unwrap_or(0)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_counts_every_busy_state_and_no_idle() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let text = "cpu  10 1 5 1000 7 2 3 4 9 0\ncpu0 5 0 2 500 3 1 1 2 0 0\n";
        assert_eq!(
            parse_proc_stat(text, 10),
            Some((10 + 1 + 5 + 2 + 3 + 4) * 10)
        );
        assert_eq!(parse_proc_stat("intr 5\n", 10), None);
    }

    #[test]
    fn the_background_is_what_neither_the_harness_nor_the_instance_used() {
        let at = std::time::Instant::now();
        let a = Probe {
            machine: Some(1_000),
            own: 100,
            at,
        };
        let b = Probe {
            machine: Some(5_000),
            own: 600,
            at,
        };
        assert_eq!(b.background_since(&a, Some(1_500)), Some(2_000));
        assert_eq!(b.background_since(&a, None), Some(3_500));
        // A counter that went backwards (another source) gives no figure.
        assert_eq!(a.background_since(&b, None), None);
        let blind = Probe {
            machine: None,
            own: 0,
            at,
        };
        assert_eq!(b.background_since(&blind, None), None);
    }

    #[test]
    fn this_machine_has_a_cpu_source_that_moves_with_work() {
        let source = CpuSource::detect();
        assert_ne!(source, CpuSource::None, "neither cpuacct nor /proc/stat");
        let before = source.read().unwrap();
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(60) {
            std::hint::black_box(0u64);
        }
        let after = source.read().unwrap();
        // 60 ms of our own CPU; ticks may round it down by one.
        assert!(after - before >= 40_000_000, "{before} -> {after}");
    }
}
