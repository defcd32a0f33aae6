//! The names of measures.csv's figures: every name a target writes and the
//! report reads, typed once, so that a misspelt name fails to compile instead
//! of reading as "not measured". The strings on disk are the ones runs have
//! always written; measures.csv stays open (a test's mock target may add
//! names of its own), and a name outside this vocabulary is shown by its
//! suffix alone ([`Unit::of_name`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a figure's value counts: a name's suffix says which (`…_ns`,
/// `…_bytes`, anything else a count), the naming rule of measures.csv.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Nanoseconds.
    Ns,
    /// Bytes.
    Bytes,
    /// A plain count.
    Count,
}

impl Unit {
    /// The unit of the figure called `name`: the one its suffix says, for
    /// known measures (a test checks each name says its own unit) and names
    /// this harness does not know (a mock target's, another version's) alike.
    pub fn of_name(name: &str) -> Unit {
        Unit::of_suffix(name)
    }

    /// The unit the naming rule gives `name`, whatever it is.
    pub fn of_suffix(name: &str) -> Unit {
        if name.ends_with("_ns") {
            Unit::Ns
        } else if name.ends_with("_bytes") {
            Unit::Bytes
        } else {
            Unit::Count
        }
    }
}

/// A span of a microVM's cold start, from the guest's console markers and the
/// host's clock (see the microVM target): each is written as `boot_<stage>_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BootStage {
    /// Host: asking for the VM to its init's first line (`Vmm` + `Kernel`).
    ToInit,
    /// VMM and loader, before the guest kernel's clock ran.
    Vmm,
    /// The guest kernel, to its init (the guest clock at init).
    Kernel,
    /// Init loading kernel modules.
    Modules,
    /// Init setting up the network.
    Net,
    /// The server starting to listen.
    Listen,
    /// Listening to the first response: holds the workload's compute.
    ListenToResponse,
    /// Init, network up, handing the guest to another program (a node
    /// guest: mounting /proc and /tmp, to the exec).
    Exec,
    /// That program's start, its listening and its first response (a node
    /// guest: node's start-up and the workload's first run).
    ExecToResponse,
}

impl BootStage {
    /// Every stage: `ToInit` (the VMM and the kernel together) first, then
    /// [`BootStage::SPANS`].
    pub const ALL: [BootStage; 9] = [
        BootStage::ToInit,
        BootStage::Vmm,
        BootStage::Kernel,
        BootStage::Modules,
        BootStage::Net,
        BootStage::Listen,
        BootStage::ListenToResponse,
        BootStage::Exec,
        BootStage::ExecToResponse,
    ];

    /// The spans that add up to a cold start, in the order they happen:
    /// every stage but `ToInit`. A guest records some of them (the static
    /// server's guest `Listen`, a node guest `Exec`).
    pub const SPANS: &'static [BootStage] = match BootStage::ALL.split_first() {
        Some((_, spans)) => spans,
        None => &[],
    };

    /// The stage's part of its measure's name: `boot_<this>_ns`.
    pub fn as_str(self) -> &'static str {
        match self {
            BootStage::ToInit => "to_init",
            BootStage::Vmm => "vmm",
            BootStage::Kernel => "kernel",
            BootStage::Modules => "modules",
            BootStage::Net => "net",
            BootStage::Listen => "listen",
            BootStage::ListenToResponse => "listen_to_response",
            BootStage::Exec => "exec",
            BootStage::ExecToResponse => "exec_to_response",
        }
    }
}

/// One figure of measures.csv (beyond the samples' common columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    /// A microVM's boot stage, ns (`boot_<stage>_ns`).
    Boot(BootStage),
    /// PSS of a microVM's guest RAM mapping.
    GuestRamPssBytes,
    /// PSS of a VMM process without its guest's RAM (Firecracker's memory test).
    VmmOverheadPssBytes,
    /// RSS of a VMM process without its guest's RAM.
    VmmOverheadRssBytes,
    /// A container's cgroup memory.current.
    CgroupMemoryBytes,
    /// The file cache in a container's cgroup memory (its image's pages).
    CgroupFileCacheBytes,
    /// PSS of the runtime processes resident for a container (conmon, a shim).
    RuntimePssBytes,
    /// PSS of a container's processes and its resident runtime together.
    ContainerAndRuntimePssBytes,
    /// A host's own timing of a tenant's instantiation, from its reply.
    InstantiateNs,
    /// CPU time the rest of the machine used during the sample: all but the
    /// harness and the instance (for a cold sample, a runtime's own work
    /// outside its instance, a daemon's, is in it too).
    BackgroundCpuNs,
    /// How long the settle step before the sample's cell waited.
    SettleWaitNs,
    /// The background in the settle step's first window (what the cell
    /// before left running), per mille of one CPU.
    SettleBusyPermille,
    /// A warm-up request's latency (one row per request, in order).
    WarmupNs,
    /// 1 when the settle step found the machine quiet before the sample's
    /// cell, 0 when it gave up at its bound.
    SettleQuiet,
    /// A restored microVM: from the ask to its VMM taking commands (QMP).
    RestoreVmmUpNs,
    /// A restored microVM: from the ask to its guest running again (QMP
    /// `RESUME`), before anything reached it over the network.
    RestoreResumedNs,
}

impl Measure {
    /// Every measure a target writes.
    pub const ALL: [Measure; 24] = [
        Measure::Boot(BootStage::ToInit),
        Measure::Boot(BootStage::Kernel),
        Measure::Boot(BootStage::Vmm),
        Measure::Boot(BootStage::Modules),
        Measure::Boot(BootStage::Net),
        Measure::Boot(BootStage::Listen),
        Measure::Boot(BootStage::ListenToResponse),
        Measure::Boot(BootStage::Exec),
        Measure::Boot(BootStage::ExecToResponse),
        Measure::GuestRamPssBytes,
        Measure::VmmOverheadPssBytes,
        Measure::VmmOverheadRssBytes,
        Measure::CgroupMemoryBytes,
        Measure::CgroupFileCacheBytes,
        Measure::RuntimePssBytes,
        Measure::ContainerAndRuntimePssBytes,
        Measure::InstantiateNs,
        Measure::BackgroundCpuNs,
        Measure::SettleWaitNs,
        Measure::SettleBusyPermille,
        Measure::WarmupNs,
        Measure::SettleQuiet,
        Measure::RestoreVmmUpNs,
        Measure::RestoreResumedNs,
    ];

    /// The name in measures.csv's `measure` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Boot(stage) => match stage {
                BootStage::ToInit => "boot_to_init_ns",
                BootStage::Vmm => "boot_vmm_ns",
                BootStage::Kernel => "boot_kernel_ns",
                BootStage::Modules => "boot_modules_ns",
                BootStage::Net => "boot_net_ns",
                BootStage::Listen => "boot_listen_ns",
                BootStage::ListenToResponse => "boot_listen_to_response_ns",
                BootStage::Exec => "boot_exec_ns",
                BootStage::ExecToResponse => "boot_exec_to_response_ns",
            },
            Measure::GuestRamPssBytes => "guest_ram_pss_bytes",
            Measure::VmmOverheadPssBytes => "vmm_overhead_pss_bytes",
            Measure::VmmOverheadRssBytes => "vmm_overhead_rss_bytes",
            Measure::CgroupMemoryBytes => "cgroup_memory_bytes",
            Measure::CgroupFileCacheBytes => "cgroup_file_cache_bytes",
            Measure::RuntimePssBytes => "runtime_pss_bytes",
            Measure::ContainerAndRuntimePssBytes => "container_and_runtime_pss_bytes",
            Measure::InstantiateNs => "instantiate_ns",
            Measure::BackgroundCpuNs => "background_cpu_ns",
            Measure::SettleWaitNs => "settle_wait_ns",
            Measure::SettleBusyPermille => "settle_busy_permille",
            Measure::WarmupNs => "warmup_ns",
            Measure::SettleQuiet => "settle_quiet",
            Measure::RestoreVmmUpNs => "restore_vmm_up_ns",
            Measure::RestoreResumedNs => "restore_resumed_ns",
        }
    }

    /// The measure called `name`, if it is one this harness writes.
    pub fn parse(name: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether `name` (a measures.csv row's) is this measure.
    pub fn is(self, name: &str) -> bool {
        name == self.as_str()
    }

    /// What its value counts.
    pub fn unit(self) -> Unit {
        match self {
            Measure::Boot(_)
            | Measure::InstantiateNs
            | Measure::BackgroundCpuNs
            | Measure::SettleWaitNs
            | Measure::WarmupNs
            | Measure::RestoreVmmUpNs
            | Measure::RestoreResumedNs => Unit::Ns,
            Measure::SettleBusyPermille | Measure::SettleQuiet => Unit::Count,
            Measure::GuestRamPssBytes
            | Measure::VmmOverheadPssBytes
            | Measure::VmmOverheadRssBytes
            | Measure::CgroupMemoryBytes
            | Measure::CgroupFileCacheBytes
            | Measure::RuntimePssBytes
            | Measure::ContainerAndRuntimePssBytes => Unit::Bytes,
        }
    }

    /// Whether the span ends with the first response, and so holds the
    /// workload's compute: the report keeps one figure per workload for it.
    pub fn ends_at_response(self) -> bool {
        matches!(
            self,
            Measure::Boot(BootStage::ListenToResponse | BootStage::ExecToResponse)
        )
    }

    /// The `(name, value)` pair a target hands back in its measures.
    pub fn with(self, value: u64) -> (String, u64) {
        (self.as_str().to_string(), value)
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Measure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Measure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Measure, D::Error> {
        let name = String::deserialize(d)?;
        Measure::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown measure '{name}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_measure_has_a_unique_name_that_parses_back() {
        let mut names: Vec<&str> = Measure::ALL.iter().map(|m| m.as_str()).collect();
        for m in Measure::ALL {
            assert_eq!(Measure::parse(m.as_str()), Some(m));
            assert_eq!(m.to_string(), m.as_str());
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<Measure>(&json).unwrap(), m);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Measure::ALL.len());
        assert_eq!(Measure::parse("instantiate_nss"), None);
        assert!(serde_json::from_str::<Measure>("\"boot_nope_ns\"").is_err());
    }

    #[test]
    fn every_boot_stage_is_a_measure_named_boot_stage_ns() {
        for stage in BootStage::ALL {
            let m = Measure::Boot(stage);
            assert!(Measure::ALL.contains(&m), "{m}");
            assert_eq!(m.as_str(), format!("boot_{}_ns", stage.as_str()));
        }
    }

    #[test]
    fn every_measure_is_in_the_unit_its_name_says() {
        for m in Measure::ALL {
            assert_eq!(m.unit(), Unit::of_suffix(m.as_str()), "{m}");
            assert_eq!(Unit::of_name(m.as_str()), m.unit(), "{m}");
        }
        assert_eq!(Unit::of_name("mock_figure_bytes"), Unit::Bytes);
        assert_eq!(Unit::of_name("mock_boot_ns"), Unit::Ns);
        assert_eq!(Unit::of_name("attempts"), Unit::Count);
    }
}
