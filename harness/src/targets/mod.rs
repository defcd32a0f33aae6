//! The Target seam: how the harness starts, invokes, measures and stops the
//! instances of one way of running the workloads, and the registry of every
//! target. Adding a target means a module here and a line in [`TargetKind`];
//! the scheduler, the statistics and the reports do not change.

pub mod container;
pub mod hosted;
pub mod isolate;
pub mod microvm;
pub mod netdev;
pub mod process;
pub mod snapshot;
pub mod spawn;
pub mod wasm;

use std::any::Any;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::measure::http::{Conn, Endpoint, HttpError, Poll, Response};
use crate::measure::proc::Memory;
use crate::paths::Paths;

pub use crate::vocab::{Family, Implementation, Phase};

/// Can this target run here?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Yes, with this runtime version.
    Available {
        /// Version of the runtime, as it reports it.
        version: String,
    },
    /// No; the reason says how to fix it.
    Unavailable {
        /// What is missing and how to install it.
        reason: String,
    },
}

/// What the harness gives a target when it prepares it.
#[derive(Clone, Debug)]
pub struct Context {
    /// Project folders and artifacts.
    pub paths: Paths,
    /// Where instances' stdout/stderr go: `results/<run>/logs/`.
    pub log_dir: PathBuf,
    /// How the cold path polls for readiness.
    pub poll: Poll,
    /// Set when the user interrupts the run; long waits should give up.
    pub cancel: Arc<AtomicBool>,
    /// The resources each instance is held to, if any (how, per family:
    /// [`crate::envelope`]).
    pub envelope: Option<crate::envelope::Envelope>,
    /// The plan has a `restore` phase: `prepare` makes the snapshot (untimed,
    /// its size and the time it took in the facts).
    pub restore: bool,
}

impl Context {
    /// True once the run was interrupted.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Facts a target recorded while preparing (artifact hashes, command lines),
/// kept in run.json and shown in the report.
pub type Facts = serde_json::Map<String, serde_json::Value>;

/// A request for a new instance.
#[derive(Clone, Debug)]
pub struct StartRequest<'a> {
    /// Tenant id: unique per instance within a run.
    pub tenant: &'a str,
    /// Workload of the first request.
    pub workload: &'a str,
    /// When the harness asked (the cold sample's time zero).
    pub asked_at: Instant,
    /// Give up at this moment.
    pub deadline: Instant,
}

/// One running tenant instance.
pub struct Instance {
    /// Where it answers.
    pub endpoint: Endpoint,
    /// The keep-alive connection the harness holds to it.
    pub conn: Option<Conn>,
    /// The target's own state for this instance.
    pub handle: Box<dyn Any + Send>,
}

impl Instance {
    /// The target's state for this instance, if it is a `T` (an instance of
    /// this target).
    pub fn state<T: 'static>(&self) -> Option<&T> {
        self.handle.downcast_ref()
    }

    /// Closes the harness's connection and hands back the target's state,
    /// for `stop`; an instance of another target is a cleanup error.
    pub fn into_state<T: 'static>(self) -> Result<Box<T>, TargetError> {
        let Instance { conn, handle, .. } = self;
        drop(conn);
        handle.downcast().map_err(|_| {
            TargetError::Cleanup(format!(
                "not an instance of this target (expected {})",
                std::any::type_name::<T>()
            ))
        })
    }
}

/// A new instance and its first response.
pub struct Started {
    /// The instance.
    pub instance: Instance,
    /// Its first (cold) response.
    pub response: Response,
    /// Figures of the cold path itself (e.g. a boot's stages), if any.
    pub measures: Measures,
}

/// Named figures a target measures beyond the common columns (a cgroup's
/// usage, a runtime's own memory, a boot stage), written to measures.csv.
/// The harness's own targets name them with [`crate::measures::Measure`];
/// the names stay strings so that a test's mock target can add its own.
pub type Measures = Vec<(String, u64)>;

/// Resources an instance used, as the target accounts them. `None` means not
/// measured, never zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time so far, in nanoseconds.
    pub cpu_ns: Option<u64>,
    /// Resident memory now.
    pub mem: Option<Memory>,
    /// Target-specific figures, as they are now.
    pub extra: Measures,
}

/// What a target counts as an instance's CPU and memory, said in the report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Accounting {
    /// e.g. "the server process (all threads), from its CPU clock".
    pub cpu: String,
    /// e.g. "PSS and RSS of the server process".
    pub memory: String,
}

/// Something a target could not do. The message says what happened and, where
/// the user can act, what to do.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Preparing (building, compiling, starting a host) failed.
    #[error("prepare failed: {0}")]
    Prepare(String),
    /// The instance did not come up.
    #[error("{0}")]
    Start(String),
    /// A request to a running instance failed.
    #[error("request failed: {0}")]
    Request(#[from] HttpError),
    /// The target does not have this phase.
    #[error("phase {0} does not apply to this target")]
    Unsupported(Phase),
    /// Something was left behind after stop or shutdown.
    #[error("cleanup failed: {0}")]
    Cleanup(String),
}

/// One way of running the workloads (DESIGN.md, "The Target seam").
pub trait Target: Send {
    /// Registry name, e.g. `process`.
    fn name(&self) -> &str;
    /// Family.
    fn family(&self) -> Family;
    /// Whether it can run here; never panics.
    fn availability(&self) -> Availability;
    /// Untimed set-up before any sample.
    fn prepare(&mut self, ctx: &Context) -> Result<Facts, TargetError>;
    /// The cold path: a new instance, returned when its first response arrived.
    /// On failure nothing of the instance may be left running.
    fn start(&mut self, req: &StartRequest) -> Result<Started, TargetError>;
    /// The warm path: one more request to a running instance.
    fn invoke(
        &mut self,
        instance: &mut Instance,
        workload: &str,
        deadline: Instant,
    ) -> Result<Response, TargetError> {
        let request = instance.endpoint.request(workload);
        let conn = instance
            .conn
            .as_mut()
            .ok_or_else(|| TargetError::Start("instance has no open connection".into()))?;
        Ok(conn.request(&request, deadline)?)
    }
    /// Untimed, right before a new instance starts: readies a shared host
    /// (restarts one that exited, reopens a closed connection). Nothing to
    /// ready by default.
    fn ready(&mut self) {}
    /// The shared part's usage now, for targets whose figures are its growth
    /// (a host's CPU delta and the memory a tenant added, a container
    /// runtime's daemons); `None` where an instance is all its own.
    fn shared_usage(&mut self) -> Option<Usage> {
        None
    }
    /// [`Target::ready`], then [`Target::shared_usage`]: what a cold start
    /// takes before it asks for the instance.
    fn baseline(&mut self) -> Option<Usage> {
        self.ready();
        self.shared_usage()
    }
    /// CPU so far and memory now of one instance (or of its host, see
    /// [`Target::baseline`]).
    fn measure(&mut self, instance: &Instance) -> Usage;
    /// CPU so far of one instance (or its host), alone: the reading around a
    /// warm request, so that reading memory (smaps of a large process takes
    /// a while) stays out of the window. Override where that is cheaper than
    /// [`Target::measure`].
    fn cpu_ns(&mut self, instance: &Instance) -> Option<u64> {
        self.measure(instance).cpu_ns
    }
    /// Why a broken instance broke, where the target can tell more than the
    /// failed request (its envelope's memory limit killed it: `OOM: …`).
    fn fault(&mut self, _instance: &Instance) -> Option<String> {
        None
    }
    /// Tears the instance down and checks nothing of it is left.
    fn stop(&mut self, instance: Instance) -> Result<(), TargetError>;
    /// Stops the shared host, if any, and checks nothing is left.
    fn shutdown(&mut self) -> Result<(), TargetError> {
        Ok(())
    }
    /// Phases this target has; `host-cold` only where there is a shared
    /// host, `density` only where instances stay alive between requests.
    /// `restore` is never listed: [`Target::restore_support`] says it,
    /// as it depends on what this machine has.
    fn phases(&self) -> &'static [Phase] {
        &[Phase::Cold, Phase::Warm, Phase::Density]
    }
    /// Memory that `instances`, all alive and idle, take together, as this
    /// family accounts it (the density sweep): by default the sum of each
    /// instance's PSS; a shared host's PSS; a container's cgroup and runtime.
    fn resident(&mut self, instances: &[Instance]) -> Option<u64> {
        instances
            .iter()
            .map(|i| self.measure(i).mem.map(|m| m.pss_bytes))
            .sum()
    }
    /// Host start plus the first tenant, from nothing.
    fn host_cold(&mut self, _req: &StartRequest) -> Result<Started, TargetError> {
        Err(TargetError::Unsupported(Phase::HostCold))
    }
    /// How this target's instances start from a snapshot (phase `restore`),
    /// in words, or why they cannot here (no mechanism, a broken one, a
    /// snapshot that could not be made in `prepare`).
    fn restore_support(&self) -> Result<String, String> {
        Err("no snapshot mechanism for this target".into())
    }
    /// The restore path: a new instance from the snapshot `prepare` made
    /// (when [`Context::restore`] asked for one), returned when its first
    /// response arrived. It must prove itself new like a cold one, with an
    /// id from entropy the snapshot does not hold.
    fn restore(&mut self, _req: &StartRequest) -> Result<Started, TargetError> {
        Err(TargetError::Unsupported(Phase::Restore))
    }
    /// Accelerator the instances ran on (`kvm`, `tcg`), or `none`.
    fn accel(&self) -> &str {
        "none"
    }
    /// What the CPU and memory figures count.
    fn accounting(&self) -> Accounting;
    /// Events the user should know of since the last call (a host restarted,
    /// …); the scheduler records them in run.json and the report.
    fn take_notes(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Every target coldbench knows, in report order. A target of a family with
/// several mechanisms names its mechanism ([`wasm::Variant`],
/// [`container::Runtime`] and [`container::Net`], [`microvm::vmm::Vmm`]),
/// whose module also gives the target its name: a new variant of those is a
/// new line in [`TargetKind::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// The static native Rust function server as a plain process.
    Process,
    /// The JavaScript workload served by Node.js.
    Node,
    /// wasmtime: a tenant's instance made by one of the host's variants.
    Wasm(wasm::Variant),
    /// workerd: a new V8 isolate per tenant through the Worker Loader.
    Workerd,
    /// workerd: one whole workerd process per instance.
    WorkerdProcess,
    /// Deno: a Web Worker per tenant.
    Deno,
    /// workerd: the Rust workload's guest.wasm in a new isolate per tenant.
    WorkerdWasm,
    /// A container runtime, on a network of the container's own or the host's.
    Container(container::Runtime, container::Net),
    /// The same runtimes running node and the JS workload: the runtime the
    /// isolates run, in a container.
    NodeContainer(container::Runtime, container::Net),
    /// A microVM in one of the VMMs.
    Microvm(microvm::vmm::Vmm),
    /// The same microVM, its init handing the guest to node and the JS server.
    NodeMicrovm(microvm::vmm::Vmm),
    /// QEMU's microVM, restored with its RAM mapped copy-on-write.
    MicrovmCow,
}

impl TargetKind {
    /// All targets, in report order.
    pub const ALL: &'static [TargetKind] = {
        use container::{Net, Runtime};
        use microvm::vmm::Vmm;
        use wasm::Variant;
        &[
            TargetKind::Process,
            TargetKind::Node,
            TargetKind::Wasm(Variant::Jit),
            TargetKind::Wasm(Variant::Aot),
            TargetKind::Wasm(Variant::Pool),
            TargetKind::Wasm(Variant::Fresh),
            TargetKind::Workerd,
            TargetKind::WorkerdProcess,
            TargetKind::Deno,
            TargetKind::WorkerdWasm,
            TargetKind::Container(Runtime::Runc, Net::Own),
            TargetKind::Container(Runtime::Crun, Net::Own),
            TargetKind::Container(Runtime::Runsc, Net::Own),
            TargetKind::Container(Runtime::Podman, Net::Own),
            TargetKind::Container(Runtime::Docker, Net::Own),
            TargetKind::Container(Runtime::Runc, Net::Host),
            TargetKind::Container(Runtime::Crun, Net::Host),
            TargetKind::Container(Runtime::Runsc, Net::Host),
            TargetKind::Container(Runtime::Podman, Net::Host),
            TargetKind::Container(Runtime::Docker, Net::Host),
            TargetKind::NodeContainer(Runtime::Runc, Net::Own),
            TargetKind::NodeContainer(Runtime::Crun, Net::Own),
            TargetKind::NodeContainer(Runtime::Runsc, Net::Own),
            TargetKind::NodeContainer(Runtime::Podman, Net::Own),
            TargetKind::NodeContainer(Runtime::Docker, Net::Own),
            TargetKind::NodeContainer(Runtime::Runc, Net::Host),
            TargetKind::NodeContainer(Runtime::Crun, Net::Host),
            TargetKind::NodeContainer(Runtime::Runsc, Net::Host),
            TargetKind::NodeContainer(Runtime::Podman, Net::Host),
            TargetKind::NodeContainer(Runtime::Docker, Net::Host),
            TargetKind::Microvm(Vmm::Qemu),
            TargetKind::Microvm(Vmm::Firecracker),
            TargetKind::Microvm(Vmm::CloudHypervisor),
            TargetKind::MicrovmCow,
            TargetKind::NodeMicrovm(Vmm::Qemu),
            TargetKind::NodeMicrovm(Vmm::Firecracker),
            TargetKind::NodeMicrovm(Vmm::CloudHypervisor),
        ]
    };

    /// Registry name.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Process => "process",
            TargetKind::Node => "node",
            TargetKind::Wasm(variant) => variant.target_name(),
            TargetKind::Workerd => "workerd",
            TargetKind::WorkerdProcess => "workerd-process",
            TargetKind::Deno => "deno",
            TargetKind::WorkerdWasm => "workerd-wasm",
            TargetKind::Container(runtime, net) => {
                container::target_name(runtime, net, container::Image::Rust)
            }
            TargetKind::NodeContainer(runtime, net) => {
                container::target_name(runtime, net, container::Image::Node)
            }
            TargetKind::Microvm(vmm) => vmm.target_name(),
            TargetKind::NodeMicrovm(vmm) => vmm.node_target_name(),
            TargetKind::MicrovmCow => microvm::COW_TARGET,
        }
    }

    /// Family.
    pub fn family(self) -> Family {
        match self {
            TargetKind::Process | TargetKind::Node => Family::Process,
            TargetKind::Wasm(_) => Family::Wasm,
            TargetKind::Workerd
            | TargetKind::WorkerdProcess
            | TargetKind::Deno
            | TargetKind::WorkerdWasm => Family::Isolate,
            TargetKind::Container(..) | TargetKind::NodeContainer(..) => Family::Container,
            TargetKind::Microvm(_) | TargetKind::NodeMicrovm(_) | TargetKind::MicrovmCow => {
                Family::Microvm
            }
        }
    }

    /// What it runs.
    pub fn implementation(self) -> Implementation {
        match self {
            TargetKind::Process
            | TargetKind::Container(..)
            | TargetKind::Microvm(_)
            | TargetKind::MicrovmCow => Implementation::Rust,
            TargetKind::Node
            | TargetKind::NodeContainer(..)
            | TargetKind::NodeMicrovm(_)
            | TargetKind::Workerd
            | TargetKind::WorkerdProcess
            | TargetKind::Deno => Implementation::Js,
            TargetKind::Wasm(_) | TargetKind::WorkerdWasm => Implementation::RustWasm,
        }
    }

    /// Where an envelope holds it ([`crate::envelope`]).
    pub fn envelope_scope(self) -> crate::envelope::Scope {
        use crate::envelope::Scope;
        match self {
            TargetKind::Process | TargetKind::Node | TargetKind::WorkerdProcess => Scope::Instance,
            TargetKind::Wasm(_)
            | TargetKind::Workerd
            | TargetKind::Deno
            | TargetKind::WorkerdWasm => Scope::Host,
            TargetKind::Container(..) | TargetKind::NodeContainer(..) => Scope::Container,
            TargetKind::Microvm(_) | TargetKind::NodeMicrovm(_) | TargetKind::MicrovmCow => {
                Scope::Vm
            }
        }
    }

    /// A fresh, unprepared target.
    pub fn build(self, paths: &Paths) -> Box<dyn Target> {
        match self {
            TargetKind::Process => Box::new(process::ProcessTarget::native(paths)),
            TargetKind::Node => Box::new(process::ProcessTarget::node(paths)),
            TargetKind::Wasm(variant) => Box::new(wasm::target(paths, variant)),
            TargetKind::Workerd => Box::new(isolate::workerd(paths)),
            TargetKind::WorkerdProcess => Box::new(isolate::workerd_process(paths)),
            TargetKind::Deno => Box::new(isolate::deno(paths)),
            TargetKind::WorkerdWasm => Box::new(isolate::workerd_wasm(paths)),
            TargetKind::Container(runtime, net) => {
                Box::new(container::ContainerTarget::new(paths, runtime, net))
            }
            TargetKind::NodeContainer(runtime, net) => Box::new(container::ContainerTarget::of(
                paths,
                runtime,
                net,
                container::Image::Node,
            )),
            TargetKind::Microvm(vmm) => Box::new(microvm::MicrovmTarget::new(paths, vmm)),
            TargetKind::NodeMicrovm(vmm) => Box::new(microvm::MicrovmTarget::node(paths, vmm)),
            TargetKind::MicrovmCow => Box::new(microvm::MicrovmTarget::cow(paths)),
        }
    }

    /// The target called `name`, or an error listing the valid names.
    pub fn parse(name: &str) -> Result<TargetKind, String> {
        TargetKind::ALL
            .iter()
            .copied()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                let valid: Vec<&str> = TargetKind::ALL.iter().map(|t| t.name()).collect();
                format!("unknown target '{name}' (valid: {})", valid.join(", "))
            })
    }
}

/// The default per-sample timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_target_has_a_unique_name_that_parses_back() {
        let mut names: Vec<&str> = TargetKind::ALL.iter().map(|t| t.name()).collect();
        for t in TargetKind::ALL {
            assert_eq!(TargetKind::parse(t.name()), Ok(*t));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TargetKind::ALL.len());
    }

    #[test]
    fn every_built_target_carries_its_registry_name_and_family() {
        // Rows are written under the built target's name, selection is by the
        // registry's: the two must agree.
        let paths = Paths::at(std::path::PathBuf::from("/nonexistent/coldbench"));
        for kind in TargetKind::ALL {
            let t = kind.build(&paths);
            assert_eq!((t.name(), t.family()), (kind.name(), kind.family()));
        }
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = TargetKind::parse("lambda").unwrap_err();
        assert!(
            err.contains("unknown target 'lambda'") && err.contains("process, node"),
            "{err}"
        );
        assert!(Phase::parse("tepid")
            .unwrap_err()
            .contains("cold, warm, host-cold, restore, density"));
    }
}
