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
    /// N idle instances at once: memory per tenant (density.csv).
    Density,
}

impl Phase {
    /// Every phase, in report order.
    pub const ALL: [Phase; 4] = [Phase::Cold, Phase::Warm, Phase::HostCold, Phase::Density];
    /// The phases that produce samples.
    pub const SAMPLED: [Phase; 3] = [Phase::Cold, Phase::Warm, Phase::HostCold];

    /// The name used in data and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Cold => "cold",
            Phase::Warm => "warm",
            Phase::HostCold => "host-cold",
            Phase::Density => "density",
        }
    }

    /// The phase called `name`, or an error listing the valid ones.
    pub fn parse(name: &str) -> Result<Phase, String> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| {
                format!("unknown phase '{name}' (valid: cold, warm, host-cold, density)")
            })
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
