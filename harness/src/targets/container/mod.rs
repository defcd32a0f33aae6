//! Family `container`: the static function server in a minimal rootfs
//! (`artifacts/rootfs`, `just build-rootfs`), run by four real runtimes.
//!
//! | target | how a container starts | its network |
//! |---|---|---|
//! | `runc`, `crun` | an OCI bundle (`config.json` from oci-spec), `<runtime> run --detach` | a network namespace and veth pair of its own, made with `ip` |
//! | `podman` | `podman run -d` of the imported image (crun, cgroupfs) | podman's bridge network, an address of its own |
//! | `docker` | `docker run -d` of the imported image (dockerd, containerd, runc) | docker's bridge network, an address of its own |
//! | `*-hostnet` | the same | the host's network namespace (the minimal path) |
//!
//! Cold = everything from asking for the container (network, spec, runtime
//! CLI) to the last byte of its first response. Stop deletes the container
//! and its network and checks that neither the runtime nor the kernel still
//! has them. Leftovers of runs that died are swept at prepare.

pub mod oci;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;

use self::oci::{ContainerSpec, OciNet};
use super::netdev::{self as net, Veth};
use super::spawn::{self, Log};
use super::{
    Accounting, Availability, Context, Facts, Family, Instance, StartRequest, Started, Target,
    TargetError, Usage,
};
use crate::measure::cgroup::Cgroup;
use crate::measure::http::{first_response, Endpoint};
use crate::measure::proc::{self, Memory};
use crate::measures::Measure;
use crate::paths::Paths;

/// The container runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// runc, driven directly with an OCI bundle.
    Runc,
    /// crun, driven directly with an OCI bundle.
    Crun,
    /// podman (daemonless; conmon stays resident per container).
    Podman,
    /// docker (dockerd and containerd; a shim stays resident per container).
    Docker,
}

impl Runtime {
    fn cli(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
            Runtime::Podman => "podman",
            Runtime::Docker => "docker",
        }
    }

    fn engine(self) -> bool {
        matches!(self, Runtime::Podman | Runtime::Docker)
    }
}

/// The container's network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// A network namespace of its own, reached on its own address.
    Own,
    /// The host's network namespace.
    Host,
}

const MEMORY_LIMIT: i64 = 256 << 20;

/// Containers started by this process, across all container targets: names
/// and addresses derive from it, so no two containers of a process share one.
static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The number the next container of this process gets (its name is
/// `coldbench-<pid>-<n>`, its veth `cbh<pid>n<n>`): for tests that stage a
/// clash with it.
pub fn next_container_number() -> u32 {
    STARTED.load(std::sync::atomic::Ordering::Relaxed) + 1
}
/// The user-defined networks of podman and docker, with fixed subnets so that
/// a container's address is known before it starts.
const ENGINE_NETWORK: &str = "coldbench";

/// A container target.
pub struct ContainerTarget {
    runtime: Runtime,
    net: Net,
    name: String,
    rootfs: PathBuf,
    rootfs_tar: PathBuf,
    ctx: Option<Context>,
    log: Option<Log>,
    bundles: PathBuf,
    /// This process's pid: tags everything this run creates.
    tag: u32,
    image: String,
    daemons: Vec<u32>,
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

fn exec(program: &str, args: &[&str], log: &Log, deadline: Instant) -> Result<ExitStatus, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.stdio().map_err(|e| e.to_string())?)
        .stderr(log.stdio().map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{program} {} did not finish in time",
                args.first().unwrap_or(&"")
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Output of a short untimed command, or why it failed.
fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// stdout and stderr of a short untimed command, together.
fn combined_output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.trim().is_empty() {
        if !text.is_empty() {
            text.push_str(" | ");
        }
        text.push_str(err.trim());
    }
    Ok(text)
}

/// CPU time of the harness's children that have been reaped (the runtime
/// CLIs), in nanoseconds.
fn reaped_children_cpu_ns() -> u64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| {
                tv.tv_sec() as u64 * 1_000_000_000 + tv.tv_usec() as u64 * 1000
            };
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or(0)
}

/// Why crun cannot run here, if it cannot: crun refuses a hybrid cgroup host
/// while cgroup2 still holds controllers.
fn crun_blocker() -> Option<String> {
    if crate::fingerprint::cgroup_mode() != "hybrid" {
        return None;
    }
    let held =
        std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").unwrap_or_default();
    let held = held.trim();
    (!held.is_empty()).then(|| {
        format!(
            "crun refuses this cgroup-v1 hybrid host while cgroup2 holds the controllers '{held}': \
             run `just setup` (mounts them as v1)"
        )
    })
}

impl ContainerTarget {
    /// The target for `runtime` with `net`.
    pub fn new(paths: &Paths, runtime: Runtime, net: Net) -> ContainerTarget {
        let name = match net {
            Net::Own => runtime.cli().to_string(),
            Net::Host => format!("{}-hostnet", runtime.cli()),
        };
        ContainerTarget {
            runtime,
            net,
            name,
            rootfs: paths.artifact("rootfs"),
            rootfs_tar: paths.artifact("rootfs.tar"),
            ctx: None,
            log: None,
            bundles: PathBuf::new(),
            tag: std::process::id(),
            image: String::new(),
            daemons: Vec::new(),
            command: ["/coldbench-fn", "--listen", "{listen}"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// Runs `command` in the containers instead of the function server
    /// (`{listen}` becomes the address to listen on); the tests use it to
    /// make a container that fails.
    pub fn with_command(mut self, command: &[&str]) -> ContainerTarget {
        self.command = command.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `podman` with the options this host needs, or `docker`.
    fn engine_args<'a>(&self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = match self.runtime {
            // No systemd here: cgroupfs and a file event log. podman 4 raises
            // the open-file limit beyond what a container host may grant.
            Runtime::Podman => vec!["--cgroup-manager", "cgroupfs", "--events-backend", "file"],
            _ => vec![],
        };
        all.extend_from_slice(args);
        all
    }

    fn engine(&self, args: &[&str]) -> Result<String, String> {
        output(self.runtime.cli(), &self.engine_args(args))
    }

    fn subnet(&self) -> (u8, &'static str) {
        match self.runtime {
            Runtime::Docker => (201, "10.201.0.0/16"),
            _ => (202, "10.202.0.0/16"),
        }
    }

    /// The address container number `n` gets on the engine network.
    fn engine_ip(&self, n: u32) -> Ipv4Addr {
        let (second, _) = self.subnet();
        let n = n % 60_000;
        Ipv4Addr::new(10, second, (n / 250) as u8, (n % 250 + 2) as u8)
    }

    /// Names of containers this runtime holds that runs no longer alive left.
    fn sweep_dead_runs(&self) {
        let dead = |name: &str| {
            name.strip_prefix(net::NETNS_PREFIX)
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        };
        let names = match self.runtime {
            Runtime::Runc | Runtime::Crun => output(self.runtime.cli(), &["list", "-q"]),
            _ => self.engine(&["ps", "-a", "--format", "{{.Names}}"]),
        }
        .unwrap_or_default();
        for name in names.lines().map(str::trim).filter(|n| dead(n)) {
            let _ = self.remove(name);
        }
        net::sweep_dead_runs();
    }

    /// Deletes a container by name (whatever state it is in).
    fn remove(&self, name: &str) -> Result<String, String> {
        match self.runtime {
            Runtime::Runc | Runtime::Crun => {
                output(self.runtime.cli(), &["delete", "--force", name])
            }
            Runtime::Podman => self.engine(&["rm", "--force", "--time", "0", name]),
            Runtime::Docker => self.engine(&["rm", "--force", name]),
        }
    }

    /// Whether the runtime still knows a container by this name.
    fn known(&self, name: &str) -> bool {
        match self.runtime {
            Runtime::Runc | Runtime::Crun => output(self.runtime.cli(), &["state", name]).is_ok(),
            Runtime::Podman => self.engine(&["container", "exists", name]).is_ok(),
            Runtime::Docker => self.engine(&["container", "inspect", name]).is_ok(),
        }
    }

    fn ensure_image(&mut self, facts: &mut Facts) -> Result<(), TargetError> {
        let sha = facts
            .get("image_sha256")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        self.image = format!("localhost/coldbench-fn:{}", &sha[..12.min(sha.len())]);
        if self.engine(&["image", "inspect", &self.image]).is_err() {
            let tar = self.rootfs_tar.display().to_string();
            self.engine(&["import", &tar, &self.image])
                .map_err(|e| TargetError::Prepare(format!("importing the image: {e}")))?;
        }
        facts.insert("image".into(), json!(self.image));
        Ok(())
    }

    fn ensure_network(&self, facts: &mut Facts) -> Result<(), TargetError> {
        let (_, subnet) = self.subnet();
        if self
            .engine(&["network", "inspect", ENGINE_NETWORK])
            .is_err()
        {
            self.engine(&["network", "create", "--subnet", subnet, ENGINE_NETWORK])
                .map_err(|e| {
                    TargetError::Prepare(format!("creating the {ENGINE_NETWORK} network: {e}"))
                })?;
        }
        facts.insert(
            "network".into(),
            json!(format!("the {} bridge network {ENGINE_NETWORK} ({subnet}); each container gets its own address", self.runtime.cli())),
        );
        Ok(())
    }

    fn cgroup_of(&self, name: &str, engine_id: &str) -> Cgroup {
        match self.runtime {
            Runtime::Runc | Runtime::Crun => Cgroup::at(&format!("/coldbench/{name}")),
            Runtime::Podman => Cgroup::at(&format!("/libpod_parent/libpod-{engine_id}")),
            Runtime::Docker => Cgroup::at(&format!("/docker/{engine_id}")),
        }
    }

    /// Undoes what a failed start made; errors are folded into the message.
    fn abandon(&self, name: &str, veth: Option<&Veth>, bundle: Option<&Path>) {
        let _ = self.remove(name);
        if let Some(v) = veth {
            let _ = v.remove();
        }
        if let Some(b) = bundle {
            let _ = std::fs::remove_dir_all(b);
        }
    }

    /// Creates and starts container `name`; returns its engine id and cgroup.
    fn launch(
        &self,
        name: &str,
        listen: &str,
        veth: Option<&Veth>,
        bundle: Option<&Path>,
        n: u32,
        deadline: Instant,
    ) -> Result<String, String> {
        let log = self.log.as_ref().ok_or("target was not prepared")?;
        let cmd: Vec<String> = self
            .command
            .iter()
            .map(|a| a.replace("{listen}", listen))
            .collect();
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        match self.runtime {
            Runtime::Runc | Runtime::Crun => {
                let bundle = bundle.ok_or("no bundle folder")?;
                let netns = veth.map(Veth::netns_path);
                let cgroup = format!("/coldbench/{name}");
                let spec = oci::spec(&ContainerSpec {
                    id: name,
                    rootfs: &self.rootfs,
                    args: cmd.iter().map(|s| s.to_string()).collect(),
                    net: netns.as_deref().map(OciNet::Join).unwrap_or(OciNet::Host),
                    cgroup: &cgroup,
                    memory_limit: MEMORY_LIMIT,
                })
                .map_err(|e| format!("building config.json: {e}"))?;
                std::fs::create_dir_all(bundle)
                    .map_err(|e| format!("creating {}: {e}", bundle.display()))?;
                spec.save(bundle.join("config.json"))
                    .map_err(|e| format!("writing config.json: {e}"))?;
                let bundle = bundle.display().to_string();
                let status = exec(
                    self.runtime.cli(),
                    &["run", "--detach", "--bundle", &bundle, name],
                    log,
                    deadline,
                )?;
                status
                    .success()
                    .then(|| name.to_string())
                    .ok_or_else(|| format!("{} run exited ({status})", self.runtime.cli()))
            }
            Runtime::Podman | Runtime::Docker => {
                let ip = self.engine_ip(n).to_string();
                let cidfile = self.bundles.join(format!("{name}.cid"));
                let cid = cidfile.display().to_string();
                let mut args = vec!["run", "--detach", "--name", name, "--cidfile", &cid];
                match self.net {
                    Net::Host => args.extend(["--network", "host"]),
                    Net::Own => args.extend(["--network", ENGINE_NETWORK, "--ip", &ip]),
                }
                if self.runtime == Runtime::Podman {
                    args.extend([
                        "--ulimit",
                        "nofile=1024:1024",
                        "--ulimit",
                        "nproc=1024:1024",
                    ]);
                }
                let memory = MEMORY_LIMIT.to_string();
                args.extend(["--memory", &memory, &self.image]);
                args.extend(&cmd);
                let status = exec(self.runtime.cli(), &self.engine_args(&args), log, deadline)?;
                let id = std::fs::read_to_string(&cidfile)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let _ = std::fs::remove_file(&cidfile);
                if status.success() && !id.is_empty() {
                    Ok(id)
                } else {
                    Err(format!("{} run exited ({status})", self.runtime.cli()))
                }
            }
        }
    }

    fn host_usage(&self) -> (u64, u64) {
        (
            proc::cpu_of(&self.daemons).unwrap_or(0),
            reaped_children_cpu_ns(),
        )
    }

    /// The runtime processes that stay resident for `c` (found once).
    fn resident_of<'a>(&self, c: &'a Container) -> &'a [u32] {
        c.resident.get_or_init(|| match self.runtime {
            // conmon gets `-c <id>`, the containerd shim `-id <id>`.
            Runtime::Podman | Runtime::Docker => proc::with_arg(&c.engine_id),
            _ => Vec::new(),
        })
    }

    /// CPU so far of the container, its resident runtime processes, the
    /// daemons and the runtime CLIs the harness ran.
    fn cpu_of(&self, c: &Container) -> Option<u64> {
        let resident = proc::cpu_of(self.resident_of(c)).unwrap_or(0);
        let (daemons, cli) = self.host_usage();
        c.cgroup
            .cpu_ns()
            .map(|container| container + resident + daemons + cli)
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
        if !self.rootfs.join("coldbench-fn").is_file() || !self.rootfs_tar.is_file() {
            return Availability::Unavailable {
                reason: "the container image is not built: run `just build`".into(),
            };
        }
        if !nix::unistd::Uid::effective().is_root() {
            return Availability::Unavailable {
                reason: format!(
                    "{} containers need root here (rootful runtime, cgroups, network namespaces)",
                    self.runtime.cli()
                ),
            };
        }
        if self.runtime == Runtime::Crun {
            if let Some(reason) = crun_blocker() {
                return Availability::Unavailable { reason };
            }
        }
        if self.net == Net::Own
            && !self.runtime.engine()
            && spawn::resolve(Path::new("ip")).is_none()
        {
            return Availability::Unavailable {
                reason: "ip (iproute2) is missing: run `just setup`".into(),
            };
        }
        let hint = format!("{} is not installed: run `just setup`", self.runtime.cli());
        if self.runtime == Runtime::Docker {
            if spawn::resolve(Path::new("docker")).is_none() {
                return Availability::Unavailable { reason: hint };
            }
            return match output("docker", &["version", "--format", "{{.Server.Version}}"]) {
                Ok(server) => Availability::Available {
                    version: format!("docker engine {server}"),
                },
                Err(e) => Availability::Unavailable {
                    reason: format!(
                        "no Docker daemon answers ({}): run `just setup` (starts dockerd)",
                        crate::spec::truncate(&e, 160)
                    ),
                },
            };
        }
        spawn::version(Path::new(self.runtime.cli()), &hint)
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
        self.log = Some(log);
        self.ctx = Some(ctx.clone());
        match self.runtime {
            Runtime::Runc | Runtime::Crun => {
                facts.insert("rootfs".into(), json!(self.rootfs.display().to_string()));
                facts.insert(
                    "how".into(),
                    json!(format!(
                        "{} run --detach of an OCI bundle: config.json generated with oci-spec per container \
                         (pid/ipc/uts/mount namespaces, read-only rootfs, no capabilities, cgroup /coldbench/<id>)",
                        self.runtime.cli()
                    )),
                );
                facts.insert(
                    "network".into(),
                    json!(match self.net {
                        Net::Own => "its own network namespace and veth pair (a /30), made with two `ip -batch` runs in the cold path",
                        Net::Host => "the host's network namespace",
                    }),
                );
            }
            Runtime::Podman | Runtime::Docker => {
                self.ensure_image(&mut facts)?;
                match self.net {
                    Net::Own => self.ensure_network(&mut facts)?,
                    Net::Host => {
                        facts.insert(
                            "network".into(),
                            json!("the host's network namespace (--network host)"),
                        );
                    }
                }
                let how = match self.runtime {
                    Runtime::Podman => {
                        "podman run -d (crun, cgroupfs; --ulimit nofile/nproc=1024: podman's defaults exceed what this host grants)"
                    }
                    _ => "docker run -d (dockerd, containerd, runc)",
                };
                facts.insert("how".into(), json!(how));
            }
        }
        if self.runtime == Runtime::Docker {
            self.daemons = ["dockerd", "containerd"]
                .iter()
                .flat_map(|d| proc::named(d))
                .collect();
            let started = self
                .daemons
                .first()
                .and_then(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            facts.insert("dockerd".into(), json!(started));
        }
        Ok(facts)
    }

    fn baseline(&mut self) -> Option<Usage> {
        let (daemons, cli) = self.host_usage();
        Some(Usage {
            cpu_ns: Some(daemons + cli),
            // The container's memory is its own: nothing to subtract.
            mem: Some(Memory::default()),
            extra: Vec::new(),
        })
    }

    fn start(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let name = format!("{}{}-{n}", net::NETNS_PREFIX, self.tag);
        let (veth, addr, listen) = match (self.net, self.runtime.engine()) {
            (Net::Own, false) => {
                let veth = Veth::plan(self.tag, n);
                veth.create().map_err(TargetError::Start)?;
                let addr = SocketAddr::from((veth.guest_ip, 8080));
                (Some(veth), addr, "0.0.0.0:8080".to_string())
            }
            (Net::Own, true) => (
                None,
                SocketAddr::from((self.engine_ip(n), 8080)),
                "0.0.0.0:8080".to_string(),
            ),
            (Net::Host, _) => {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, spawn::free_port()?));
                (None, addr, addr.to_string())
            }
        };
        let bundle = (!self.runtime.engine()).then(|| self.bundles.join(&name));
        let log_from = self.log.as_ref().map(Log::offset).unwrap_or(0);
        let fail = |this: &Self, e: String| {
            let mut output = this
                .log
                .as_ref()
                .map(|l| l.since(log_from))
                .unwrap_or_default();
            // podman and docker keep a container's own output in their logs.
            if this.runtime.engine() {
                if let Ok(logs) =
                    combined_output(this.runtime.cli(), &this.engine_args(&["logs", &name]))
                {
                    if !logs.is_empty() {
                        output.push_str(&format!(
                            "; the container's output: {}",
                            crate::spec::truncate(&logs, 300)
                        ));
                    }
                }
            }
            this.abandon(&name, veth.as_ref(), bundle.as_deref());
            TargetError::Start(format!("{e}{output}"))
        };
        let engine_id = match self.launch(
            &name,
            &listen,
            veth.as_ref(),
            bundle.as_deref(),
            n,
            req.deadline,
        ) {
            Ok(id) => id,
            Err(e) => return Err(fail(self, e)),
        };
        let cgroup = self.cgroup_of(&name, &engine_id);
        let endpoint = Endpoint::direct(addr);
        let request = endpoint.request(req.workload);
        let poll = self.ctx.as_ref().map(|c| c.poll).unwrap_or_default();
        let ctx = self.ctx.clone();
        let ready = first_response(
            &endpoint,
            &request,
            &poll,
            req.asked_at,
            req.deadline,
            || {
                if ctx.as_ref().is_some_and(|c| c.cancelled()) {
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
            Err(e) => Err(fail(self, e.to_string())),
        }
    }

    fn measure(&mut self, instance: &Instance) -> Usage {
        let Some(c) = instance.handle.downcast_ref::<Container>() else {
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
        self.cpu_of(instance.handle.downcast_ref::<Container>()?)
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
        let Instance { conn, handle, .. } = instance;
        drop(conn);
        let c = handle
            .downcast::<Container>()
            .map_err(|_| TargetError::Cleanup("not a container of this target".into()))?;
        let mut problems = Vec::new();
        if let Err(e) = self.remove(&c.name) {
            problems.push(e);
        }
        if self.known(&c.name) {
            problems.push(format!("{} still lists {}", self.runtime.cli(), c.name));
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
        let names = match self.runtime {
            Runtime::Runc | Runtime::Crun => output(self.runtime.cli(), &["list", "-q"]),
            _ => self.engine(&["ps", "-a", "--format", "{{.Names}}"]),
        }
        .unwrap_or_default();
        let mut left = Vec::new();
        for name in names
            .lines()
            .map(str::trim)
            .filter(|n| n.starts_with(&prefix))
        {
            if self.remove(name).is_err() || self.known(name) {
                left.push(name.to_string());
            }
        }
        if self.runtime == Runtime::Runc || self.runtime == Runtime::Crun {
            for controller in [
                "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "pids",
                "hugetlb", "systemd", "unified", "",
            ] {
                let _ = std::fs::remove_dir(
                    Path::new("/sys/fs/cgroup")
                        .join(controller)
                        .join("coldbench"),
                );
            }
        }
        let _ = std::fs::remove_dir_all(&self.bundles);
        if self.runtime.engine() && self.net == Net::Own {
            // Fails while another run still uses it, which is as it should be.
            let _ = self.engine(&["network", "rm", ENGINE_NETWORK]);
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(TargetError::Cleanup(format!(
                "containers {left:?} could not be removed"
            )))
        }
    }

    fn accounting(&self) -> Accounting {
        let resident = match self.runtime {
            Runtime::Podman => " + conmon (resident per container)",
            Runtime::Docker => " + the containerd shim (resident per container) + dockerd and containerd (their CPU during the sample)",
            _ => "",
        };
        Accounting {
            cpu: format!(
                "the container's cgroup (cpuacct: the server, and the runtime's init inside it) + the {} CLI \
                 (getrusage of reaped children){resident}",
                self.runtime.cli()
            ),
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
