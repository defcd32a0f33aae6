//! The two ways a container runtime makes containers, behind one trait: an
//! OCI bundle run directly (runc, crun, runsc: [`super::bundle`]) or an engine with
//! images and networks of its own (podman, docker: [`super::engine`]). The
//! container target ([`super::ContainerTarget`]) does the rest, the same for
//! both: names, addresses, readiness, measurement, cleanup checks.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Instant;

use super::super::netdev::Veth;
use super::super::spawn::Log;
use super::super::{Availability, Facts, TargetError};
use super::{Net, Runtime};
use crate::measure::cgroup::Cgroup;

/// What one container's launch needs.
pub struct Launch<'a> {
    /// The container's name.
    pub name: &'a str,
    /// The command it runs, `{listen}` already replaced.
    pub cmd: &'a [&'a str],
    /// Its network.
    pub net: Net,
    /// The veth pair the harness made for it (bundles with a network of their own).
    pub veth: Option<&'a Veth>,
    /// Its bundle folder (bundles), or a folder for scratch files (engines).
    pub folder: &'a Path,
    /// Where it will be reached (an engine gives it this address on its network).
    pub addr: SocketAddr,
    /// Where the runtime CLI's output goes.
    pub log: &'a Log,
    /// When the cold start times out.
    pub deadline: Instant,
    /// Its memory limit and CPU quota.
    pub limits: Limits,
}

/// What a container is held to: the run's envelope, or the default memory
/// limit and the machine's CPUs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Memory limit in bytes.
    pub memory_bytes: i64,
    /// Memory and swap together (`None`: the runtime's default): under an
    /// envelope the same as the memory limit, no swap, as a process's.
    pub memory_and_swap_bytes: Option<i64>,
    /// Share of one CPU, quota and period in µs (`None`: not limited).
    pub cpu: Option<(f64, u64, u64)>,
}

impl Limits {
    /// The envelope's limits, or `default_memory` and no CPU limit.
    pub fn of(envelope: Option<&crate::envelope::Envelope>, default_memory: i64) -> Limits {
        match envelope {
            Some(e) => Limits {
                memory_bytes: e.memory_bytes() as i64,
                memory_and_swap_bytes: Some(e.memory_bytes() as i64),
                cpu: e
                    .cpu_share
                    .zip(e.cpu_quota_us())
                    .map(|(share, quota)| (share, quota, e.cpu_period_us)),
            },
            None => Limits {
                memory_bytes: default_memory,
                memory_and_swap_bytes: None,
                cpu: None,
            },
        }
    }
}

/// How one runtime makes, finds and removes containers.
pub trait Mechanism: Send {
    /// The runtime.
    fn runtime(&self) -> Runtime;
    /// Whether it can run here with `net` (root and the image are checked
    /// before), with its version.
    fn availability(&self, net: Net) -> Availability;
    /// Untimed: what it needs before the first container (an imported image,
    /// a network), recorded in `facts`.
    fn prepare(&mut self, net: Net, facts: &mut Facts) -> Result<(), TargetError>;
    /// Whether each container has a bundle folder of its own.
    fn uses_bundle(&self) -> bool;
    /// The address container `n` gets on the runtime's own network, if it
    /// gives one (else the harness makes a veth pair).
    fn own_address(&self, n: u32) -> Option<Ipv4Addr>;
    /// Creates and starts the container; returns the id the runtime gave it.
    fn launch(&self, launch: &Launch<'_>) -> Result<String, String>;
    /// The container's cgroup.
    fn cgroup_of(&self, name: &str, id: &str) -> Cgroup;
    /// The runtime processes that stay resident for the container (conmon,
    /// the containerd shim).
    fn resident(&self, id: &str) -> Vec<u32>;
    /// Daemons that work for every container (dockerd, containerd).
    fn daemons(&self) -> &[u32];
    /// What the container itself printed, where the runtime keeps it.
    fn container_output(&self, name: &str) -> Option<String>;
    /// The names of every container the runtime holds.
    fn list(&self) -> String;
    /// Deletes a container by name, whatever state it is in.
    fn remove(&self, name: &str) -> Result<String, String>;
    /// Whether the runtime still knows a container by this name.
    fn known(&self, name: &str) -> bool;
    /// What the runtime leaves for a whole run (cgroup parents, a network).
    fn cleanup(&self, net: Net);
    /// What its CPU figure counts, in a sentence for the report.
    fn cpu_accounting(&self) -> String;
}

/// The common CPU account: the container's cgroup and the runtime's CLI,
/// then what else the runtime adds (`extra`, `""` for nothing).
pub fn cgroup_and_cli(cli: &str, extra: &str) -> String {
    format!(
        "the container's cgroup (cpuacct: the server, and the runtime's init inside it) + the {cli} CLI \
         (getrusage of reaped children){extra}"
    )
}
