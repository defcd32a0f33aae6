//! The words a user reads in data and reports, typed once (DESIGN.md,
//! Vocabulary): a target's family and a phase. Plan, targets, phases,
//! results and report all use these; measure names are in
//! [`crate::measures`]. Each serializes to the string on disk.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a target belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Plain processes: the baseline.
    Process,
    /// WebAssembly runtimes.
    Wasm,
    /// V8 isolates.
    Isolate,
    /// OCI containers.
    Container,
    /// Micro virtual machines.
    Microvm,
}

impl Family {
    /// The name used in data and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Process => "process",
            Family::Wasm => "wasm",
            Family::Isolate => "isolate",
            Family::Container => "container",
            Family::Microvm => "microvm",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a target runs: the same workload compiled or written three ways,
/// so that families can be compared on one implementation first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Implementation {
    /// The Rust workload as a native binary (coldbench-fn).
    Rust,
    /// The JavaScript workload (workloads/js) on V8: node, workerd, deno.
    Js,
    /// The Rust workload compiled to wasm32.
    RustWasm,
}

impl Implementation {
    /// Every implementation, in report order.
    pub const ALL: [Implementation; 3] = [
        Implementation::Rust,
        Implementation::Js,
        Implementation::RustWasm,
    ];

    /// The name used in data and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Implementation::Rust => "rust",
            Implementation::Js => "js",
            Implementation::RustWasm => "rust-wasm",
        }
    }

    /// What it is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Implementation::Rust => "native Rust (the static coldbench-fn server)",
            Implementation::Js => "JavaScript (workloads/js on V8)",
            Implementation::RustWasm => "Rust compiled to WebAssembly (guest.wasm)",
        }
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When in an instance's life a sample is taken (DESIGN.md, Vocabulary),
/// and the density sweep, which takes no samples but is asked for alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// First request to a new instance, the shared host already up.
    Cold,
    /// A request to an instance that already answered.
    Warm,
    /// Host start plus the first tenant, from nothing.
    HostCold,
    /// A new instance started from a snapshot made before the run's samples
    /// (untimed), to its first correct response: the cold start a platform
    /// with snapshots pays (Firecracker snapshots, SnapStart, Wizer).
    Restore,
    /// N idle instances at once: memory per tenant (density.csv).
    Density,
}

impl Phase {
    /// Every phase, in report order.
    pub const ALL: [Phase; 5] = [
        Phase::Cold,
        Phase::Warm,
        Phase::HostCold,
        Phase::Restore,
        Phase::Density,
    ];
    /// The phases that produce samples.
    pub const SAMPLED: [Phase; 4] = [Phase::Cold, Phase::Warm, Phase::HostCold, Phase::Restore];

    /// The name used in data and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Cold => "cold",
            Phase::Warm => "warm",
            Phase::HostCold => "host-cold",
            Phase::Restore => "restore",
            Phase::Density => "density",
        }
    }

    /// The phase called `name`, or an error listing the valid ones.
    pub fn parse(name: &str) -> Result<Phase, String> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| {
                let valid: Vec<&str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
                format!("unknown phase '{name}' (valid: {})", valid.join(", "))
            })
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
