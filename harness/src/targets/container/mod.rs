//! Family `container`: a minimal image, the static function server
//! (`artifacts/rootfs`, `just build-rootfs`) or node with the JS server
//! (`artifacts/rootfs-node`, `just build-rootfs-node`), run by five real
//! runtimes.
//!
//! | target | how a container starts | its network |
//! |---|---|---|
//! | `runc`, `crun` | an OCI bundle (`config.json` from oci-spec), `<runtime> run --detach` | a network namespace and veth pair of its own, made with `ip` |
//! | `runsc` | the same bundle, gVisor's `runsc --platform=ptrace --network=host run --detach` | the same namespace and veth; gVisor passes its sockets to the host kernel inside it |
//! | `podman` | `podman run -d` of the imported image (crun, cgroupfs) | podman's bridge network, an address of its own |
//! | `docker` | `docker run -d` of the imported image (dockerd, containerd, runc) | docker's bridge network, an address of its own |
//! | `*-hostnet` | the same | the host's network namespace (the minimal path) |
//!
//! Cold = everything from asking for the container (network, spec, runtime
//! CLI) to the last byte of its first response. Stop deletes the container
//! and its network and checks that neither the runtime nor the kernel still
//! has them. Leftovers of runs that died are swept at prepare.

mod bundle;
mod cli;
mod engine;
pub mod mechanism;
pub mod oci;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;

use self::cli::reaped_children_cpu_ns;
use self::mechanism::{Launch, Limits, Mechanism};
use super::netdev::{self as net, Veth};
use super::spawn::{self, Log, Prepared};
use super::{
    Accounting, Availability, Context, Facts, Family, Instance, StartRequest, Started, Target,
    TargetError, Usage,
};
use crate::measure::cgroup::Cgroup;
use crate::measure::http::{first_response, Endpoint};
use crate::measure::proc::{self, Memory};
use crate::measures::Measure;
use crate::paths::Paths;

/// Why gVisor cannot restore here: its checkpoint needs gVisor's own
/// network stack, which this machine's runsc cannot use.
const GVISOR_NO_CHECKPOINT: &str = "runsc checkpoint refuses a sandbox on the host's network (\"checkpoint not supported when using hostinet\"), and Debian's runsc 20221219 refuses its own netstack on kernels that show net.core sysctls in every namespace (\"cannot run with network enabled in root network namespace\", google/gvisor#10704), so coldbench runs it with --network=host";

/// The container runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// runc, driven directly with an OCI bundle.
    Runc,
    /// crun, driven directly with an OCI bundle.
    Crun,
    /// gVisor's runsc (Google Cloud Run's first-generation sandbox), driven
    /// directly with an OCI bundle: a user-space kernel between the server
    /// and the host's.
    Runsc,
    /// podman (daemonless; conmon stays resident per container).
    Podman,
    /// docker (dockerd and containerd; a shim stays resident per container).
    Docker,
}

impl Runtime {
    /// Its command-line tool, which is also its static-server target's name.
    pub fn cli(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
            Runtime::Runsc => "runsc",
            Runtime::Podman => "podman",
            Runtime::Docker => "docker",
        }
    }

    /// How it makes containers of `image`.
    fn mechanism(self, paths: &Paths, image: Image) -> Box<dyn Mechanism> {
        let (rootfs, tar) = image.artifacts();
        match self {
            Runtime::Runc | Runtime::Crun | Runtime::Runsc => {
                Box::new(bundle::Bundle::new(self, paths.artifact(rootfs)))
            }
            Runtime::Podman | Runtime::Docker => Box::new(engine::Engine::new(
                self,
                paths.artifact(tar),
                image.repository(),
            )),
        }
    }
}

/// What the containers run: the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Image {
    /// The static function server (`artifacts/rootfs`, `just build-rootfs`).
    Rust,
    /// node with the JS server and workload, unchanged
    /// (`artifacts/rootfs-node`, `just build-rootfs-node`).
    Node,
}

impl Image {
    /// The artifact folder (bundles) and tar (podman, docker import it).
    fn artifacts(self) -> (&'static str, &'static str) {
        match self {
            Image::Rust => ("rootfs", "rootfs.tar"),
            Image::Node => ("rootfs-node", "rootfs-node.tar"),
        }
    }

    /// A file of the image that must be there.
    fn entry(self) -> &'static str {
        match self {
            Image::Rust => "coldbench-fn",
            Image::Node => "usr/bin/node",
        }
    }

    /// The image's repository name in podman and docker.
    fn repository(self) -> &'static str {
        match self {
            Image::Rust => "localhost/coldbench-fn",
            Image::Node => "localhost/coldbench-node",
        }
    }

    /// The server's command (`{listen}`: the address to listen on).
    fn command(self) -> Vec<String> {
        let cmd: &[&str] = match self {
            Image::Rust => &["/coldbench-fn", "--listen", "{listen}"],
            Image::Node => &[
                "/usr/bin/node",
                "/app/targets/process/node/server.mjs",
                "--listen",
                "{listen}",
            ],
        };
        cmd.iter().map(|s| s.to_string()).collect()
    }

    /// How to build it.
    fn build_hint(self) -> &'static str {
        match self {
            Image::Rust => "the container image is not built: run `just build`",
            Image::Node => {
                "the node container image is not built: run `just build` (build-rootfs-node)"
            }
        }
    }
}

/// The container's network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Net {
    /// A network namespace of its own, reached on its own address.
    Own,
    /// The host's network namespace.
    Host,
}

/// The name of the target of `runtime` with `net` running `image`: the
/// runtime's, `-node` for the node image, `-hostnet` on the host's network.
pub fn target_name(runtime: Runtime, net: Net, image: Image) -> &'static str {
    if image == Image::Node {
        return match (runtime, net) {
            (Runtime::Runc, Net::Own) => "runc-node",
            (Runtime::Crun, Net::Own) => "crun-node",
            (Runtime::Runsc, Net::Own) => "runsc-node",
            (Runtime::Podman, Net::Own) => "podman-node",
            (Runtime::Docker, Net::Own) => "docker-node",
            (Runtime::Runc, Net::Host) => "runc-node-hostnet",
            (Runtime::Crun, Net::Host) => "crun-node-hostnet",
            (Runtime::Runsc, Net::Host) => "runsc-node-hostnet",
            (Runtime::Podman, Net::Host) => "podman-node-hostnet",
            (Runtime::Docker, Net::Host) => "docker-node-hostnet",
        };
    }
    match (runtime, net) {
        (Runtime::Runc, Net::Own) => "runc",
        (Runtime::Crun, Net::Own) => "crun",
        (Runtime::Runsc, Net::Own) => "runsc",
        (Runtime::Podman, Net::Own) => "podman",
        (Runtime::Docker, Net::Own) => "docker",
        (Runtime::Runc, Net::Host) => "runc-hostnet",
        (Runtime::Crun, Net::Host) => "crun-hostnet",
        (Runtime::Runsc, Net::Host) => "runsc-hostnet",
        (Runtime::Podman, Net::Host) => "podman-hostnet",
        (Runtime::Docker, Net::Host) => "docker-hostnet",
    }
}

/// The memory limit of every container outside an envelope.
const MEMORY_LIMIT: i64 = 256 << 20;

/// `OOM: …` when the run has an envelope and the container's memory limit
/// killed one of its processes.
fn oom_fault(cgroup: &Cgroup, ctx: &Context) -> Option<String> {
    crate::envelope::oom_fault(cgroup.oom_kills()?, ctx.envelope.as_ref()?)
}

/// Containers started by this process, across all container targets: names
/// and addresses derive from it, so no two containers of a process share one.
static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The number the next container of this process gets (its name is
/// `coldbench-<pid>-<n>`, its veth `cbh<pid>n<n>`): for tests that stage a
/// clash with it.
pub fn next_container_number() -> u32 {
    STARTED.load(std::sync::atomic::Ordering::Relaxed) + 1
}

/// A container target: one runtime's mechanism, and what every container
/// target does alike.
pub struct ContainerTarget {
    mech: Box<dyn Mechanism>,
    net: Net,
    image: Image,
    name: String,
    rootfs: PathBuf,
    rootfs_tar: PathBuf,
    prepared: Option<Prepared>,
    bundles: PathBuf,
    /// This process's pid: tags everything this run creates.
    tag: u32,
    command: Vec<String>,
}

/// One running container.
struct Container {
    name: String,
    cgroup: Cgroup,
    veth: Option<Veth>,
    bundle: Option<PathBuf>,
    /// Runtime processes that stay resident for this container (conmon, the
    /// containerd shim), found at the first measurement.
    resident: OnceLock<Vec<u32>>,
    engine_id: String,
}

impl ContainerTarget {
    /// The target for `runtime` with `net`, running the static server.
    pub fn new(paths: &Paths, runtime: Runtime, net: Net) -> ContainerTarget {
        ContainerTarget::of(paths, runtime, net, Image::Rust)
    }

    /// The target for `runtime` with `net`, running `image`.
    pub fn of(paths: &Paths, runtime: Runtime, net: Net, image: Image) -> ContainerTarget {
        let (rootfs, tar) = image.artifacts();
        ContainerTarget {
            mech: runtime.mechanism(paths, image),
            net,
            image,
            name: target_name(runtime, net, image).to_string(),
            rootfs: paths.artifact(rootfs),
            rootfs_tar: paths.artifact(tar),
            prepared: None,
            bundles: PathBuf::new(),
            tag: std::process::id(),
            command: image.command(),
        }
    }

    /// Runs `command` in the containers instead of the function server
    /// (`{listen}` becomes the address to listen on); the tests use it to
    /// make a container that fails.
    pub fn with_command(mut self, command: &[&str]) -> ContainerTarget {
        self.command = command.iter().map(|s| s.to_string()).collect();
        self
    }

    fn cli(&self) -> &'static str {
        self.mech.runtime().cli()
    }

    /// Names of containers this runtime holds that runs no longer alive left.
    fn sweep_dead_runs(&self) {
        let dead = |name: &str| {
            name.strip_prefix(net::NETNS_PREFIX)
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        };
        for name in self.mech.list().lines().map(str::trim).filter(|n| dead(n)) {
            let _ = self.mech.remove(name);
        }
        net::sweep_dead_runs();
    }

    /// Undoes what a failed start made; errors are folded into the message.
    fn abandon(&self, name: &str, veth: Option<&Veth>, bundle: Option<&Path>) {
        let _ = self.mech.remove(name);
        if let Some(v) = veth {
            let _ = v.remove();
        }
        if let Some(b) = bundle {
            let _ = std::fs::remove_dir_all(b);
        }
    }

    fn host_usage(&self) -> (u64, u64) {
        (
            proc::cpu_of(self.mech.daemons()).unwrap_or(0),
            reaped_children_cpu_ns(),
        )
    }

    /// The runtime processes that stay resident for `c` (found once).
    fn resident_of<'a>(&self, c: &'a Container) -> &'a [u32] {
        c.resident.get_or_init(|| self.mech.resident(&c.engine_id))
    }

    /// CPU so far of the container, its resident runtime processes, the
    /// daemons and the runtime CLIs the harness ran.
    fn cpu_of(&self, c: &Container) -> Option<u64> {
        // The cgroup's account of a thread still running (a server finishing
        // its request: node's event loop after the write) is brought up to
        // date only when it stops: wait for the container's processes to go
        // idle first (at most 5 ms), as the process targets do.
        proc::settle(&c.cgroup.procs(), Duration::from_millis(5));
        let resident = proc::cpu_of(self.resident_of(c)).unwrap_or(0);
        let (daemons, cli) = self.host_usage();
        c.cgroup
            .cpu_ns()
            .map(|container| container + resident + daemons + cli)
    }

    /// Where container `n` is reached, the address its server listens on,
    /// and the veth pair made for it (a bundle with a network of its own).
    fn address(&self, n: u32) -> Result<(Option<Veth>, SocketAddr, String), TargetError> {
        Ok(match (self.net, self.mech.own_address(n)) {
            (Net::Own, None) => {
                let veth = Veth::plan(self.tag, n);
                veth.create().map_err(TargetError::Start)?;
                let addr = SocketAddr::from((veth.guest_ip, 8080));
                (Some(veth), addr, "0.0.0.0:8080".to_string())
            }
            (Net::Own, Some(ip)) => (
                None,
                SocketAddr::from((ip, 8080)),
                "0.0.0.0:8080".to_string(),
            ),
            (Net::Host, _) => {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, spawn::free_port()?));
                (None, addr, addr.to_string())
            }
        })
    }
}

impl Target for ContainerTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn family(&self) -> Family {
        Family::Container
    }

    fn availability(&self) -> Availability {
        if !self.rootfs.join(self.image.entry()).is_file() || !self.rootfs_tar.is_file() {
            return Availability::Unavailable {
                reason: self.image.build_hint().into(),
            };
        }
        if !nix::unistd::Uid::effective().is_root() {
            return Availability::Unavailable {
                reason: format!(
                    "{} containers need root here (rootful runtime, cgroups, network namespaces)",
                    self.cli()
                ),
            };
        }
        self.mech.availability(self.net)
    }

    fn prepare(&mut self, ctx: &Context) -> Result<Facts, TargetError> {
        self.sweep_dead_runs();
        let log = Log::open(ctx, &self.name)?;
        self.bundles = ctx.log_dir.join("..").join("bundles").join(&self.name);
        std::fs::create_dir_all(&self.bundles).map_err(|e| {
            TargetError::Prepare(format!("cannot create {}: {e}", self.bundles.display()))
        })?;
        let mut facts = Facts::new();
        let tar = spawn::file_facts(&mut facts, "image_tar", &self.rootfs_tar)?;
        facts.insert("image_bytes".into(), json!(tar.len()));
        facts.insert("image_sha256".into(), facts["image_tar_sha256"].clone());
        facts.insert("log".into(), json!(log.path().display().to_string()));
        facts.insert("cgroups".into(), json!(crate::fingerprint::cgroup_mode()));
        self.prepared = Some(Prepared {
            log,
            ctx: ctx.clone(),
        });
        self.mech.prepare(self.net, &mut facts)?;
        Ok(facts)
    }

    fn shared_usage(&mut self) -> Option<Usage> {
        let (daemons, cli) = self.host_usage();
        Some(Usage {
            cpu_ns: Some(daemons + cli),
            // The container's memory is its own: nothing to subtract.
            mem: Some(Memory::default()),
            extra: Vec::new(),
        })
    }

    fn start(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        let Prepared { log, ctx } = Prepared::of(&self.prepared)?;
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let name = format!("{}{}-{n}", net::NETNS_PREFIX, self.tag);
        let (veth, addr, listen) = self.address(n)?;
        let bundle = self.mech.uses_bundle().then(|| self.bundles.join(&name));
        let log_from = log.offset();
        let fail = |this: &Self, e: String| {
            let mut output = log.since(log_from);
            // podman and docker keep a container's own output in their logs.
            if let Some(logs) = this.mech.container_output(&name) {
                output.push_str(&format!(
                    "; the container's output: {}",
                    crate::spec::truncate(&logs, 300)
                ));
            }
            this.abandon(&name, veth.as_ref(), bundle.as_deref());
            TargetError::Start(format!("{e}{output}"))
        };
        let cmd: Vec<String> = self
            .command
            .iter()
            .map(|a| a.replace("{listen}", &listen))
            .collect();
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let launched = self.mech.launch(&Launch {
            name: &name,
            cmd: &cmd,
            net: self.net,
            veth: veth.as_ref(),
            folder: bundle.as_deref().unwrap_or(&self.bundles),
            addr,
            log,
            deadline: req.deadline,
            limits: Limits::of(ctx.envelope.as_ref(), MEMORY_LIMIT),
        });
        let engine_id = match launched {
            Ok(id) => id,
            Err(e) => return Err(fail(self, e)),
        };
        let cgroup = self.mech.cgroup_of(&name, &engine_id);
        let endpoint = Endpoint::direct(addr);
        let request = endpoint.request(req.workload);
        let ready = first_response(
            &endpoint,
            &request,
            &ctx.poll,
            req.asked_at,
            req.deadline,
            || {
                if ctx.cancelled() {
                    return Err("interrupted".into());
                }
                // The runtime made the cgroup before `run` returned; a container
                // whose cgroup is gone or empty has exited (docker removes it at once).
                if !cgroup.exists() || cgroup.procs().is_empty() {
                    return Err("the container's process exited before answering".into());
                }
                Ok(())
            },
        );
        match ready {
            Ok(ready) => Ok(Started {
                instance: Instance {
                    endpoint,
                    conn: Some(ready.conn),
                    handle: Box::new(Container {
                        name,
                        cgroup,
                        veth,
                        bundle,
                        resident: OnceLock::new(),
                        engine_id,
                    }),
                },
                response: ready.response,
                measures: Vec::new(),
            }),
            Err(e) => {
                let oom = oom_fault(&cgroup, ctx);
                Err(fail(
                    self,
                    format!("{}{e}", oom.map(|f| f + "; ").unwrap_or_default()),
                ))
            }
        }
    }

    fn measure(&mut self, instance: &Instance) -> Usage {
        let Some(c) = instance.state::<Container>() else {
            return Usage::default();
        };
        let mem = proc::memory_of(&c.cgroup.procs());
        let resident_mem = proc::memory_of(self.resident_of(c));
        let cpu_ns = self.cpu_of(c);
        let mut extra = Vec::new();
        if let Some(bytes) = c.cgroup.memory_bytes() {
            extra.push(Measure::CgroupMemoryBytes.with(bytes));
        }
        if let Some(bytes) = c.cgroup.file_cache_bytes() {
            extra.push(Measure::CgroupFileCacheBytes.with(bytes));
        }
        if let (Some(m), Some(r)) = (mem, resident_mem) {
            extra.push(Measure::RuntimePssBytes.with(r.pss_bytes));
            extra.push(Measure::ContainerAndRuntimePssBytes.with(m.pss_bytes + r.pss_bytes));
        }
        Usage { cpu_ns, mem, extra }
    }

    fn cpu_ns(&mut self, instance: &Instance) -> Option<u64> {
        self.cpu_of(instance.state::<Container>()?)
    }

    fn fault(&mut self, instance: &Instance) -> Option<String> {
        let ctx = &self.prepared.as_ref()?.ctx;
        oom_fault(&instance.state::<Container>()?.cgroup, ctx)
    }

    fn resident(&mut self, instances: &[Instance]) -> Option<u64> {
        // A container is its cgroup's memory plus the runtime processes that
        // stay resident for it (conmon, the shim). The image's file pages are
        // shared by every container but charged to whichever read them
        // first: counted once, not per container.
        let mut file_cache = 0;
        let own: Option<u64> = instances
            .iter()
            .map(|i| {
                let usage = self.measure(i);
                let get = |m: Measure| usage.extra.iter().find(|(k, _)| m.is(k)).map(|(_, v)| *v);
                let cache = get(Measure::CgroupFileCacheBytes).unwrap_or(0);
                file_cache = file_cache.max(cache);
                Some(
                    get(Measure::CgroupMemoryBytes)?.saturating_sub(cache)
                        + get(Measure::RuntimePssBytes).unwrap_or(0),
                )
            })
            .sum();
        Some(own? + file_cache)
    }

    fn stop(&mut self, instance: Instance) -> Result<(), TargetError> {
        let c = instance.into_state::<Container>()?;
        let mut problems = Vec::new();
        if let Err(e) = self.mech.remove(&c.name) {
            problems.push(e);
        }
        if self.mech.known(&c.name) {
            problems.push(format!("{} still lists {}", self.cli(), c.name));
        }
        // The kernel removes a cgroup once its last process is gone.
        let until = Instant::now() + Duration::from_secs(2);
        while c.cgroup.exists() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if c.cgroup.exists() {
            problems.push(format!("cgroup {} still exists", c.cgroup.path()));
        }
        if let Some(veth) = &c.veth {
            if let Err(e) = veth.remove() {
                problems.push(e);
            }
        }
        if let Some(bundle) = &c.bundle {
            let _ = std::fs::remove_dir_all(bundle);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TargetError::Cleanup(problems.join("; ")))
        }
    }

    fn shutdown(&mut self) -> Result<(), TargetError> {
        // Containers of this run that a failure may have left.
        let prefix = format!("{}{}-", net::NETNS_PREFIX, self.tag);
        let names = self.mech.list();
        let mut left = Vec::new();
        for name in names
            .lines()
            .map(str::trim)
            .filter(|n| n.starts_with(&prefix))
        {
            if self.mech.remove(name).is_err() || self.mech.known(name) {
                left.push(name.to_string());
            }
        }
        let _ = std::fs::remove_dir_all(&self.bundles);
        self.mech.cleanup(self.net);
        if left.is_empty() {
            Ok(())
        } else {
            Err(TargetError::Cleanup(format!(
                "containers {left:?} could not be removed"
            )))
        }
    }

    fn restore_support(&self) -> Result<String, String> {
        match self.mech.runtime() {
            Runtime::Runsc => Err(GVISOR_NO_CHECKPOINT.into()),
            runtime => Err(match super::snapshot::criu_check() {
                Err(why) => format!("{} checkpoint/restore needs CRIU, and {why}", runtime.cli()),
                Ok(()) => format!(
                    "criu check passes here, but coldbench does not drive {} checkpoint/restore yet (it could not be tried on the machine it was written on)",
                    runtime.cli()
                ),
            }),
        }
    }

    fn accounting(&self) -> Accounting {
        Accounting {
            cpu: self.mech.cpu_accounting(),
            memory: format!(
                "PSS and RSS of the container's processes (its cgroup's cgroup.procs); measures.csv adds the \
                 cgroup's own usage ({}, of which {} is page cache) and the runtime's resident processes ({}, {}); \
                 the density sweep counts cgroup usage without page cache, plus the largest page cache once, plus \
                 the runtime's processes",
                Measure::CgroupMemoryBytes,
                Measure::CgroupFileCacheBytes,
                Measure::RuntimePssBytes,
                Measure::ContainerAndRuntimePssBytes,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_accounting_names_the_measures_it_adds_as_before() {
        // run.json keeps this sentence: the measure names in it are typed
        // now, the text must read as it always did.
        let paths = Paths::at(PathBuf::from("/nonexistent/coldbench"));
        let memory = ContainerTarget::new(&paths, Runtime::Crun, Net::Own)
            .accounting()
            .memory;
        assert_eq!(
            memory,
            "PSS and RSS of the container's processes (its cgroup's cgroup.procs); measures.csv adds the \
             cgroup's own usage (cgroup_memory_bytes, of which cgroup_file_cache_bytes is page cache) and the \
             runtime's resident processes (runtime_pss_bytes, container_and_runtime_pss_bytes); the density sweep \
             counts cgroup usage without page cache, plus the largest page cache once, plus the runtime's processes"
        );
    }
}
