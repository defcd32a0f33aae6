//! The run plan: which targets, workloads and phases, how many samples, and
//! the order, drawn from a recorded seed, in which they interleave.
//!
//! A run is `samples` rounds. In each round every (target, workload) cell gets
//! one new instance: its first response is the cold sample, then it answers a
//! share of the warm samples, then it stops. Targets with a shared host also
//! get a host-cold cell. The cells of a round run in a freshly shuffled order,
//! so that drift on a noisy machine spreads over all targets.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::measure::http::Poll;
use crate::vocab::Phase;

/// Sample counts for a purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// A few samples: development and CI.
    Quick,
    /// Enough samples for confidence intervals worth quoting.
    Full,
}

impl Profile {
    /// Cold samples (= rounds) per (target, workload).
    pub fn samples(self) -> u32 {
        match self {
            Profile::Quick => 5,
            Profile::Full => 30,
        }
    }

    /// Warm samples per (target, workload), spread over the rounds' instances.
    pub fn warm_samples(self) -> u32 {
        match self {
            Profile::Quick => 15,
            Profile::Full => 150,
        }
    }

    /// Most idle instances the density sweep starts per target.
    pub fn density_max(self) -> u32 {
        match self {
            Profile::Quick => 64,
            Profile::Full => 256,
        }
    }
}

/// Everything that decides what a run measures; stored in run.json.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// Target names, in registry order.
    pub targets: Vec<String>,
    /// Workload names, in spec order.
    pub workloads: Vec<String>,
    /// Phases to record.
    pub phases: Vec<Phase>,
    /// Cold samples per (target, workload): the number of rounds.
    pub samples: u32,
    /// Warm samples per (target, workload).
    pub warm_samples: u32,
    /// Seed of the interleaving order (and of the bootstrap).
    pub seed: u64,
    /// The profile the counts came from.
    pub profile: Profile,
    /// Per-sample timeout.
    pub timeout: Duration,
    /// Readiness polling on the cold path.
    pub poll: Poll,
    /// Density sweep: the most idle instances per target (steps 1, 4, 16, …).
    #[serde(default = "default_density_max")]
    pub density_max: u32,
    /// Density sweep: stop before a step whose memory would pass this.
    #[serde(default = "default_density_budget")]
    pub density_budget_bytes: u64,
    /// The conditions the run holds the machine in (off in runs from
    /// before they were recorded).
    #[serde(default)]
    pub controls: Controls,
    /// The platform's resources every instance is held to (`None`: the
    /// machine's, unlimited).
    #[serde(default)]
    pub envelope: Option<crate::envelope::Envelope>,
}

/// What the harness does to keep figures from depending on what ran before
/// and beside them; each is recorded here and its outcome in run.json.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Controls {
    /// Before each cell, wait until the machine is quiet (`None`: no wait).
    #[serde(default)]
    pub settle: Option<Settle>,
    /// The CPUs' idle states during the run.
    #[serde(default)]
    pub idle: Idle,
    /// The harness on the first CPU, instances on the others.
    #[serde(default)]
    pub pin: bool,
    /// A warm sample during which the rest of the machine used more than
    /// this share of one CPU (percent of its time window) is flagged
    /// `disturbed` (`None`: none is).
    #[serde(default)]
    pub background_limit_pct: Option<f64>,
    /// Keep sampling cells whose median is not yet this precise.
    #[serde(default)]
    pub precision: Option<Precision>,
    /// Requests each new instance answers after its cold sample and before
    /// its warm samples: checked, their latency kept as a measure of the
    /// cold sample (`warmup_ns`), not warm samples. A new process's first
    /// requests are slower (its code and data not yet in cache): without
    /// them the warm median would depend on how many warm samples each
    /// instance takes.
    #[serde(default)]
    pub warmup: u32,
}

/// The settle step: windows of `window` until one in which the machine,
/// outside the harness, used less than `quiet_pct` of one CPU; at most
/// `max_wait`, after which the cell runs anyway and says so.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Settle {
    /// Percent of one CPU.
    pub quiet_pct: f64,
    /// One window.
    pub window: Duration,
    /// The longest wait.
    pub max_wait: Duration,
}

impl Default for Settle {
    fn default() -> Settle {
        Settle {
            quiet_pct: 10.0,
            window: Duration::from_millis(10),
            max_wait: Duration::from_secs(2),
        }
    }
}

/// The CPUs' idle states while the run measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Idle {
    /// Left to the kernel: an idle CPU may halt (a VM's vCPU exits to its
    /// host) and waking it costs time that lands in the next sample.
    #[default]
    Default,
    /// Idle CPUs poll instead of halting (a PM QoS request of 0 µs wake-up
    /// latency held on /dev/cpu_dma_latency), so that no sample pays for a
    /// wake-up from a deep state.
    Poll,
}

impl Idle {
    /// Its name on the command line and in run.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Idle::Default => "default",
            Idle::Poll => "poll",
        }
    }
}

/// Adaptive sample counts (`--precision`): after the planned rounds, more
/// rounds of the cells whose median's 95% CI is wider than ±`percent` of
/// it, until each is that precise, has `max_samples` cold samples, or the
/// rounds have taken `max_time`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Precision {
    /// Half-width of the CI, percent of the median.
    pub percent: f64,
    /// Most cold samples (rounds) per cell.
    pub max_samples: u32,
    /// Most time for all rounds together.
    pub max_time: Duration,
}

fn default_density_max() -> u32 {
    Profile::Quick.density_max()
}

fn default_density_budget() -> u64 {
    4 << 30
}

impl Plan {
    /// The density sweep's steps: 1, 4, 16, … up to `density_max`.
    pub fn density_steps(&self) -> Vec<u32> {
        let mut steps = vec![1];
        while steps.last().is_some_and(|&n| n * 4 <= self.density_max) {
            steps.push(steps.last().unwrap_or(&1) * 4);
        }
        if steps.last() != Some(&self.density_max) && self.density_max > 1 {
            steps.push(self.density_max);
        }
        steps
    }
}

/// What a cell does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// A new instance: cold sample, then `warm` warm samples.
    Instance {
        /// Warm samples this instance answers.
        warm: u32,
    },
    /// A fresh shared host plus its first tenant.
    HostCold,
    /// A new instance restored from the target's snapshot.
    Restore,
}

/// One (target, workload) step of a round; indices into the plan's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Index into [`Plan::targets`].
    pub target: usize,
    /// Index into [`Plan::workloads`].
    pub workload: usize,
    /// What to do.
    pub kind: CellKind,
}

impl Plan {
    /// Does the plan record `phase`?
    pub fn has(&self, phase: Phase) -> bool {
        self.phases.contains(&phase)
    }

    /// Warm samples for the instance of round `round` (0-based): the total
    /// spread evenly, the first rounds taking the remainder.
    pub fn warm_in_round(&self, round: u32) -> u32 {
        if !self.has(Phase::Warm) || self.samples == 0 {
            return 0;
        }
        let base = self.warm_samples / self.samples;
        base + u32::from(round < self.warm_samples % self.samples)
    }

    /// Every round's cells in their seeded order. `has(i, phase)` says
    /// whether target `i` has `phase` here (`host-cold` where it has a shared
    /// host, `restore` where it has a snapshot).
    pub fn rounds(&self, has: impl Fn(usize, Phase) -> bool) -> Vec<Vec<Cell>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let instance = self.has(Phase::Cold) || self.has(Phase::Warm);
        (0..self.samples)
            .map(|round| {
                let mut cells = Vec::new();
                for target in 0..self.targets.len() {
                    for workload in 0..self.workloads.len() {
                        if instance {
                            let warm = self.warm_in_round(round);
                            cells.push(Cell {
                                target,
                                workload,
                                kind: CellKind::Instance { warm },
                            });
                        }
                        for (phase, kind) in [
                            (Phase::HostCold, CellKind::HostCold),
                            (Phase::Restore, CellKind::Restore),
                        ] {
                            if self.has(phase) && has(target, phase) {
                                cells.push(Cell {
                                    target,
                                    workload,
                                    kind,
                                });
                            }
                        }
                    }
                }
                cells.shuffle(&mut rng);
                cells
            })
            .collect()
    }
}

/// A small plan for unit tests: two targets, two workloads, every sampled
/// phase, 4 rounds, 10 warm samples.
#[cfg(test)]
pub(crate) fn example(seed: u64) -> Plan {
    Plan {
        targets: vec!["a".into(), "b".into()],
        workloads: vec!["hello".into(), "palindrome-small".into()],
        phases: vec![Phase::Cold, Phase::Warm, Phase::HostCold],
        samples: 4,
        warm_samples: 10,
        seed,
        profile: Profile::Quick,
        timeout: Duration::from_secs(30),
        poll: Poll::default(),
        density_max: 16,
        density_budget_bytes: 1 << 30,
        controls: Controls::default(),
        envelope: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> Plan {
        example(seed)
    }

    #[test]
    fn density_steps_grow_by_four_up_to_the_maximum() {
        let with = |max| {
            Plan {
                density_max: max,
                ..plan(1)
            }
            .density_steps()
        };
        assert_eq!(with(16), [1, 4, 16]);
        assert_eq!(with(64), [1, 4, 16, 64]);
        assert_eq!(with(10), [1, 4, 10]);
        assert_eq!(with(1), [1]);
    }

    #[test]
    fn the_same_seed_gives_the_same_order_and_another_seed_another() {
        let host = |t: usize, p: Phase| t == 1 && p == Phase::HostCold;
        assert_eq!(plan(7).rounds(host), plan(7).rounds(host));
        assert_ne!(plan(7).rounds(host), plan(8).rounds(host));
    }

    #[test]
    fn every_round_holds_every_cell_once() {
        let with_restore = Plan {
            phases: vec![Phase::Cold, Phase::Warm, Phase::HostCold, Phase::Restore],
            ..plan(1)
        };
        // Target 1 has a host, target 0 a snapshot.
        let rounds = with_restore.rounds(|t, p| (p == Phase::HostCold) == (t == 1));
        assert_eq!(rounds.len(), 4);
        for cells in &rounds {
            // 2 targets × 2 workloads instances, plus host-cold for target 1
            // only and restore for target 0 only.
            assert_eq!(cells.len(), 8);
            let restores: Vec<_> = cells
                .iter()
                .filter(|c| c.kind == CellKind::Restore)
                .collect();
            assert!(restores.len() == 2 && restores.iter().all(|c| c.target == 0));
            assert_eq!(
                cells
                    .iter()
                    .filter(|c| c.kind == CellKind::HostCold)
                    .count(),
                2
            );
            assert!(cells
                .iter()
                .filter(|c| c.kind == CellKind::HostCold)
                .all(|c| c.target == 1));
        }
    }

    #[test]
    fn warm_samples_add_up_to_the_requested_total() {
        let p = plan(1);
        assert_eq!((0..p.samples).map(|r| p.warm_in_round(r)).sum::<u32>(), 10);
        assert_eq!((p.warm_in_round(0), p.warm_in_round(3)), (3, 2));
        let cold_only = Plan {
            phases: vec![Phase::Cold],
            ..plan(1)
        };
        assert_eq!(cold_only.warm_in_round(0), 0);
    }
}
