//! A container's cgroup: its processes, memory and CPU, read from the cgroup
//! filesystem, on cgroup v1, hybrid and v2 hosts alike.

use std::fs;
use std::path::PathBuf;

/// One cgroup, by its path below the hierarchy root (e.g. `/coldbench/cb-1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    path: String,
    unified: bool,
}

fn read_u64(path: PathBuf) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Cgroup {
    /// The cgroup at `path`, on this host's hierarchy.
    pub fn at(path: &str) -> Cgroup {
        // The host's hierarchy does not change during a run: read
        // /proc/self/mounts once, not in every container's cold start.
        static UNIFIED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        Cgroup {
            path: path.trim_start_matches('/').to_string(),
            unified: *UNIFIED.get_or_init(|| crate::fingerprint::cgroup_mode() == "v2"),
        }
    }

    /// The cgroup's path below the root.
    pub fn path(&self) -> String {
        format!("/{}", self.path)
    }

    /// The folder of `controller` (v1) or the unified folder (v2).
    fn dir(&self, controller: &str) -> PathBuf {
        if self.unified {
            PathBuf::from("/sys/fs/cgroup").join(&self.path)
        } else {
            PathBuf::from("/sys/fs/cgroup")
                .join(controller)
                .join(&self.path)
        }
    }

    /// Whether the cgroup still exists (in the memory hierarchy on v1).
    pub fn exists(&self) -> bool {
        self.dir("memory").is_dir()
    }

    /// Pids of its processes.
    pub fn procs(&self) -> Vec<u32> {
        fs::read_to_string(self.dir("memory").join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Memory charged to it: `memory.usage_in_bytes` (v1), `memory.current` (v2).
    pub fn memory_bytes(&self) -> Option<u64> {
        if self.unified {
            read_u64(self.dir("").join("memory.current"))
        } else {
            read_u64(self.dir("memory").join("memory.usage_in_bytes"))
        }
    }

    /// File-backed page cache charged to it, tmpfs and shared memory left
    /// in: `memory.stat` `cache − shmem` (v1), `file − shmem` (v2). The
    /// kernel charges a cached page to the first cgroup that read it, so one
    /// container carries the image's binary for all that share it.
    pub fn file_cache_bytes(&self) -> Option<u64> {
        let stat = fs::read_to_string(self.dir("memory").join("memory.stat")).ok()?;
        let get = |key: &str| {
            stat.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse::<u64>().ok())?
            })
        };
        let file = get(if self.unified { "file" } else { "cache" })?;
        Some(file.saturating_sub(get("shmem").unwrap_or(0)))
    }

    /// Processes its memory limit killed: `oom_kill` in
    /// `memory.oom_control` (v1), `memory.events` (v2).
    pub fn oom_kills(&self) -> Option<u64> {
        let file = if self.unified {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let text = fs::read_to_string(self.dir("memory").join(file)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// CPU time of everything that ran in it: `cpuacct.usage` (v1),
    /// `cpu.stat` `usage_usec` (v2).
    pub fn cpu_ns(&self) -> Option<u64> {
        if self.unified {
            let stat = fs::read_to_string(self.dir("").join("cpu.stat")).ok()?;
            stat.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|us| us * 1000)
        } else {
            read_u64(self.dir("cpuacct").join("cpuacct.usage"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_cgroup_has_processes_and_a_missing_one_has_none() {
        let missing = Cgroup::at("/coldbench-test-no-such-group");
        assert!(!missing.exists());
        assert!(missing.procs().is_empty() && missing.memory_bytes().is_none());
        assert!(missing.file_cache_bytes().is_none());
        if crate::fingerprint::cgroup_mode() != "none" {
            assert!(
                !Cgroup::at("/").procs().is_empty(),
                "the root cgroup holds processes"
            );
        }
    }
}
