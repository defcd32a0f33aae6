//! CPU and memory of processes, from /proc.
//!
//! CPU is the process's CPU-time clock (`clock_getcpuclockid` +
//! `clock_gettime`): the scheduler's own account in nanoseconds for all its
//! threads, those that ended included (`/proc/<pid>/task/*/schedstat` forgets
//! them; `/proc/<pid>/stat` counts in 10 ms ticks). Where the clock can't be
//! read, the schedstat sum is the fallback. Either way a thread's time is
//! brought up to date only when it stops running (or at a scheduler tick):
//! read while a server thread is still finishing its request, the figure
//! lags. [`settle`] waits for the threads to go idle first.
//! Memory is PSS and RSS from `/proc/<pid>/smaps_rollup`.

use std::fs;
use std::io;

/// Resident memory of one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Proportional set size: shared pages divided among their users.
    pub pss_bytes: u64,
    /// Resident set size.
    pub rss_bytes: u64,
}

impl std::ops::Add for Memory {
    type Output = Memory;
    fn add(self, o: Memory) -> Memory {
        Memory {
            pss_bytes: self.pss_bytes + o.pss_bytes,
            rss_bytes: self.rss_bytes + o.rss_bytes,
        }
    }
}

/// CPU time, in nanoseconds, that `pid` (all its threads) has used.
pub fn cpu_ns(pid: u32) -> io::Result<u64> {
    use nix::time::{clock_getcpuclockid, clock_gettime};
    let clock = clock_getcpuclockid(nix::unistd::Pid::from_raw(pid as i32));
    match clock.and_then(clock_gettime) {
        Ok(t) => Ok(t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64),
        Err(_) => schedstat_ns(pid),
    }
}

/// CPU time of the live threads of `pid` from their schedstat files.
fn schedstat_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0u64;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread may end between listing and reading.
        if let Ok(text) = fs::read_to_string(path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// PSS and RSS of `pid`.
pub fn memory(pid: u32) -> io::Result<Memory> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    Ok(Memory {
        pss_bytes: field("Pss:"),
        rss_bytes: field("Rss:"),
    })
}

/// PSS and RSS of the largest mapping of `pid` that is at least `min_bytes`
/// long (a VMM's guest RAM), from `/proc/<pid>/smaps`.
pub fn largest_mapping(pid: u32, min_bytes: u64) -> Option<Memory> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let kb = |line: &str| -> u64 {
        line.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let mut best: Option<(u64, Memory)> = None;
    let mut current: Option<(u64, Memory)> = None;
    let mut close = |current: &mut Option<(u64, Memory)>| {
        if let Some((size, m)) = current.take() {
            if size >= min_bytes && best.as_ref().is_none_or(|(s, _)| size > *s) {
                best = Some((size, m));
            }
        }
    };
    for line in text.lines() {
        if line.starts_with("Size:") {
            close(&mut current);
            current = Some((kb(line), Memory::default()));
        } else if let Some((_, m)) = current.as_mut() {
            if line.starts_with("Rss:") {
                m.rss_bytes = kb(line);
            } else if line.starts_with("Pss:") {
                m.pss_bytes = kb(line);
            }
        }
    }
    close(&mut current);
    best.map(|(_, m)| m)
}

/// Fields of `/proc/<pid>/stat` after the command name: (state, ppid, pgrp).
fn stat_fields(pid: u32) -> Option<(char, u32, u32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces or ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    let pgrp = it.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// Waits, at most `bound`, until no thread of `pids` is running, so that
/// their CPU time is fully accounted; true if they settled.
pub fn settle(pids: &[u32], bound: std::time::Duration) -> bool {
    let until = std::time::Instant::now() + bound;
    loop {
        let running = pids.iter().any(|pid| {
            fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|t| {
                    fs::read_to_string(t.path().join("stat"))
                        .ok()
                        .and_then(|s| Some(s[s.rfind(')')? + 2..].starts_with('R')))
                        .unwrap_or(false)
                })
        });
        if !running {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

/// Every live (not zombie) process whose process group is `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    all_pids()
        .filter(|&pid| matches!(stat_fields(pid), Some((state, _, g)) if g == pgid && state != 'Z'))
        .collect()
}

/// Every live process that descends from `root`, `root` included.
pub fn descendants(root: u32) -> Vec<u32> {
    let table: Vec<(u32, u32)> = all_pids()
        .filter_map(|pid| stat_fields(pid).filter(|s| s.0 != 'Z').map(|s| (pid, s.1)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            table
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.retain(|&p| p != root || table.iter().any(|(q, _)| *q == root));
    found
}

/// Every live process whose command line holds `arg` as a whole argument.
pub fn with_arg(arg: &str) -> Vec<u32> {
    all_pids()
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Every live process whose command name (`comm`) is `name`.
pub fn named(name: &str) -> Vec<u32> {
    all_pids()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .collect()
}

fn all_pids() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
}

/// Sum of CPU and memory over `pids`; processes that vanished are skipped.
pub fn usage_of(pids: &[u32]) -> (Option<u64>, Option<Memory>) {
    (cpu_of(pids), memory_of(pids))
}

/// Sum of CPU over `pids` (without reading memory); vanished ones skipped.
pub fn cpu_of(pids: &[u32]) -> Option<u64> {
    pids.iter()
        .filter_map(|&pid| cpu_ns(pid).ok())
        .reduce(|a, b| a + b)
}

/// Sum of memory over `pids` (without reading CPU); vanished ones skipped.
pub fn memory_of(pids: &[u32]) -> Option<Memory> {
    pids.iter()
        .filter_map(|&pid| memory(pid).ok())
        .reduce(|a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_clock_is_never_behind_the_schedstat_sum() {
        let me = std::process::id();
        // A thread that ends: the clock keeps its time, schedstat forgets it.
        std::thread::spawn(|| {
            let mut x = 0u64;
            for i in 0..2_000_000u64 {
                x = x.wrapping_add(std::hint::black_box(i));
            }
            std::hint::black_box(x);
        })
        .join()
        .unwrap();
        let threads = schedstat_ns(me).unwrap();
        let clock = cpu_ns(me).unwrap();
        assert!(clock >= threads, "clock {clock} < schedstat {threads}");
    }

    #[test]
    fn a_busy_process_does_not_settle_and_an_idle_one_does() {
        let mut busy = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let mut idle = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let bound = std::time::Duration::from_millis(30);
        let (b, i) = (settle(&[busy.id()], bound), settle(&[idle.id()], bound));
        for c in [&mut busy, &mut idle] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
        assert!(!b, "a spinning shell never stops running");
        assert!(i, "a sleeping process is idle");
    }

    #[test]
    fn a_process_that_is_gone_has_no_cpu_time() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(cpu_ns(pid).is_err(), "reaped pid {pid} still read");
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        let before = cpu_ns(me).unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        assert!(
            cpu_ns(me).unwrap() > before,
            "spinning must consume CPU time"
        );
        let m = memory(me).unwrap();
        assert!(m.rss_bytes >= m.pss_bytes && m.pss_bytes > 0, "{m:?}");
    }

    #[test]
    fn a_child_is_found_in_its_group_and_below_its_parent() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        assert_eq!(group_members(pid), vec![pid]);
        assert!(descendants(std::process::id()).contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(group_members(pid).is_empty());
    }
}
