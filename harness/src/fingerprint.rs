//! The environment fingerprint recorded with every run: enough to tell
//! whether two runs can be compared, and to explain a number.

use std::fs;

use serde::{Deserialize, Serialize};

/// The machine a run measured on.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Fingerprint {
    /// `/proc/cpuinfo` model name.
    pub cpu_model: String,
    /// Online CPUs.
    pub cores: usize,
    /// `MemTotal`.
    pub memory_bytes: u64,
    /// `uname -r`.
    pub kernel: String,
    /// `/etc/os-release` PRETTY_NAME.
    pub os: String,
    /// `v2` (unified), `hybrid` (v1 with a v2 mount) or `v1`.
    pub cgroup_mode: String,
    /// Whether /dev/kvm exists and opens; whether guests really boot under it
    /// is probed by the microVM targets and recorded per sample (`accel`).
    pub kvm: String,
    /// Kernel clocksource (`tsc` is what you want for timing).
    pub clocksource: String,
    /// CPU frequency governor, if exposed.
    pub cpu_governor: Option<String>,
    /// 1-minute load average when the run started.
    pub loadavg_1m: Option<f64>,
    /// Host name.
    pub hostname: String,
}

fn read(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

impl Fingerprint {
    /// Reads the fingerprint of this machine. Missing pieces stay empty.
    pub fn collect() -> Fingerprint {
        let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
        let meminfo = read("/proc/meminfo").unwrap_or_default();
        let os_release = read("/etc/os-release").unwrap_or_default();
        Fingerprint {
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
                .unwrap_or_default(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            memory_bytes: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map(|kb| kb * 1024)
                .unwrap_or(0),
            kernel: read("/proc/sys/kernel/osrelease").unwrap_or_default(),
            os: os_release
                .lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default(),
            cgroup_mode: cgroup_mode(),
            kvm: match fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/kvm")
            {
                Ok(_) => "present (/dev/kvm opens)".into(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "absent".into(),
                Err(e) => format!("present but not usable: {e}"),
            },
            clocksource: read("/sys/devices/system/clocksource/clocksource0/current_clocksource")
                .unwrap_or_default(),
            cpu_governor: read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            loadavg_1m: read("/proc/loadavg")
                .and_then(|l| l.split_whitespace().next()?.parse().ok()),
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// How cgroups are mounted: decides how containers are accounted.
pub fn cgroup_mode() -> String {
    let mounts = read("/proc/self/mounts").unwrap_or_default();
    let root_is_v2 = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/cgroup") && l.contains("cgroup2"));
    let any_v2 = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("cgroup2"));
    let any_v1 = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("cgroup"));
    match (root_is_v2, any_v1, any_v2) {
        (true, _, _) => "v2".into(),
        (false, true, true) => "hybrid".into(),
        (false, true, false) => "v1".into(),
        _ => "none".into(),
    }
}

/// `coldbench <version> (<git commit>)`, the commit read from the checkout.
pub fn harness_version(root: &std::path::Path) -> String {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(root)
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    match commit {
        Some(c) => format!(
            "coldbench {} ({c}{})",
            env!("CARGO_PKG_VERSION"),
            if dirty { ", modified" } else { "" }
        ),
        None => format!("coldbench {}", env!("CARGO_PKG_VERSION")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_machine_has_a_fingerprint() {
        let f = super::Fingerprint::collect();
        assert!(
            f.cores >= 1 && f.memory_bytes > 0 && !f.kernel.is_empty(),
            "{f:?}"
        );
        assert!(["v1", "v2", "hybrid", "none"].contains(&f.cgroup_mode.as_str()));
    }
}
