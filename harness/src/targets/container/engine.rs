//! podman and docker: engines with images and networks of their own. The
//! rootfs is imported as an image once, each container gets an address on a
//! user-defined bridge network with a fixed subnet (known before it starts),
//! and the runtime leaves a process resident per container (conmon, the
//! containerd shim).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use serde_json::json;

use super::cli::{combined_output, exec, output};
use super::mechanism::{Launch, Mechanism};
use super::{Net, Runtime};
use crate::measure::cgroup::Cgroup;
use crate::measure::proc;
use crate::targets::{spawn, Availability, Facts, TargetError};

/// The user-defined networks of podman and docker, with fixed subnets so that
/// a container's address is known before it starts.
const ENGINE_NETWORK: &str = "coldbench";

/// podman or docker.
pub struct Engine {
    runtime: Runtime,
    rootfs_tar: PathBuf,
    repository: &'static str,
    image: String,
    daemons: Vec<u32>,
    /// This target prepared the shared network and has not let it go.
    holds_network: AtomicBool,
}

/// Targets of each engine (podman, docker) that hold the shared network:
/// the rust and the node image's own-network targets share one, and only
/// the last to shut down removes it.
static NETWORK_USERS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

fn network_users(runtime: Runtime) -> &'static AtomicU32 {
    &NETWORK_USERS[usize::from(runtime == Runtime::Docker)]
}

impl Engine {
    /// `runtime` (podman or docker) running containers of the image in
    /// `rootfs_tar`, imported as `repository:<sha256 prefix>`.
    pub fn new(runtime: Runtime, rootfs_tar: PathBuf, repository: &'static str) -> Engine {
        Engine {
            runtime,
            rootfs_tar,
            repository,
            image: String::new(),
            daemons: Vec::new(),
            holds_network: AtomicBool::new(false),
        }
    }

    /// `podman` with the options this host needs, or `docker`.
    fn args<'a>(&self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = match self.runtime {
            // No systemd here: cgroupfs and a file event log. podman 4 raises
            // the open-file limit beyond what a container host may grant.
            Runtime::Podman => vec!["--cgroup-manager", "cgroupfs", "--events-backend", "file"],
            _ => vec![],
        };
        all.extend_from_slice(args);
        all
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        output(self.runtime.cli(), &self.args(args))
    }

    fn subnet(&self) -> (u8, &'static str) {
        match self.runtime {
            Runtime::Docker => (201, "10.201.0.0/16"),
            _ => (202, "10.202.0.0/16"),
        }
    }

    fn ensure_image(&mut self, facts: &mut Facts) -> Result<(), TargetError> {
        let sha = facts
            .get("image_sha256")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        self.image = format!("{}:{}", self.repository, &sha[..12.min(sha.len())]);
        if self.run(&["image", "inspect", &self.image]).is_err() {
            let tar = self.rootfs_tar.display().to_string();
            self.run(&["import", &tar, &self.image])
                .map_err(|e| TargetError::Prepare(format!("importing the image: {e}")))?;
        }
        facts.insert("image".into(), json!(self.image));
        Ok(())
    }

    fn ensure_network(&self, facts: &mut Facts) -> Result<(), TargetError> {
        let (_, subnet) = self.subnet();
        if self.run(&["network", "inspect", ENGINE_NETWORK]).is_err() {
            self.run(&["network", "create", "--subnet", subnet, ENGINE_NETWORK])
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

    /// dockerd and containerd, and the command line dockerd runs with.
    fn find_daemons(&mut self, facts: &mut Facts) {
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
}

impl Mechanism for Engine {
    fn runtime(&self) -> Runtime {
        self.runtime
    }

    fn availability(&self, _net: Net) -> Availability {
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

    fn prepare(&mut self, net: Net, facts: &mut Facts) -> Result<(), TargetError> {
        self.ensure_image(facts)?;
        match net {
            Net::Own => {
                self.ensure_network(facts)?;
                if !self.holds_network.swap(true, Ordering::SeqCst) {
                    network_users(self.runtime).fetch_add(1, Ordering::SeqCst);
                }
            }
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
        if self.runtime == Runtime::Docker {
            self.find_daemons(facts);
        }
        Ok(())
    }

    fn uses_bundle(&self) -> bool {
        false
    }

    fn own_address(&self, n: u32) -> Option<Ipv4Addr> {
        let (second, _) = self.subnet();
        let n = n % 60_000;
        Some(Ipv4Addr::new(
            10,
            second,
            (n / 250) as u8,
            (n % 250 + 2) as u8,
        ))
    }

    fn launch(&self, l: &Launch<'_>) -> Result<String, String> {
        let ip = l.addr.ip().to_string();
        let cidfile = l.folder.join(format!("{}.cid", l.name));
        let cid = cidfile.display().to_string();
        let mut args = vec!["run", "--detach", "--name", l.name, "--cidfile", &cid];
        match l.net {
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
        let memory = l.limits.memory_bytes.to_string();
        let cpus = l.limits.cpu.map(|(share, _, _)| format!("{share}"));
        args.extend(["--memory", &memory]);
        let swap = l.limits.memory_and_swap_bytes.map(|b| b.to_string());
        if let Some(swap) = &swap {
            args.extend(["--memory-swap", swap]);
        }
        if let Some(cpus) = &cpus {
            args.extend(["--cpus", cpus]);
        }
        args.push(&self.image);
        args.extend(l.cmd);
        let status = exec(self.runtime.cli(), &self.args(&args), l.log, l.deadline)?;
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

    fn cgroup_of(&self, _name: &str, id: &str) -> Cgroup {
        match self.runtime {
            Runtime::Podman => Cgroup::at(&format!("/libpod_parent/libpod-{id}")),
            _ => Cgroup::at(&format!("/docker/{id}")),
        }
    }

    fn resident(&self, id: &str) -> Vec<u32> {
        // conmon gets `-c <id>`, the containerd shim `-id <id>`.
        proc::with_arg(id)
    }

    fn daemons(&self) -> &[u32] {
        &self.daemons
    }

    fn container_output(&self, name: &str) -> Option<String> {
        combined_output(self.runtime.cli(), &self.args(&["logs", name]))
            .ok()
            .filter(|logs| !logs.is_empty())
    }

    fn list(&self) -> String {
        self.run(&["ps", "-a", "--format", "{{.Names}}"])
            .unwrap_or_default()
    }

    fn remove(&self, name: &str) -> Result<String, String> {
        match self.runtime {
            Runtime::Podman => self.run(&["rm", "--force", "--time", "0", name]),
            _ => self.run(&["rm", "--force", name]),
        }
    }

    fn known(&self, name: &str) -> bool {
        match self.runtime {
            Runtime::Podman => self.run(&["container", "exists", name]).is_ok(),
            _ => self.run(&["container", "inspect", name]).is_ok(),
        }
    }

    fn cleanup(&self, net: Net) {
        if net != Net::Own || !self.holds_network.swap(false, Ordering::SeqCst) {
            return;
        }
        // The last target of this engine in this process lets it go; `rm`
        // still fails while another run uses it, which is as it should be.
        if network_users(self.runtime).fetch_sub(1, Ordering::SeqCst) == 1 {
            let _ = self.run(&["network", "rm", ENGINE_NETWORK]);
        }
    }

    fn cpu_accounting(&self) -> String {
        let resident = match self.runtime {
            Runtime::Podman => " + conmon (resident per container)",
            _ => " + the containerd shim (resident per container) + dockerd and containerd (their CPU during the sample)",
        };
        super::mechanism::cgroup_and_cli(self.runtime.cli(), resident)
    }
}
