//! runc, crun and gVisor's runsc, driven directly with an OCI bundle:
//! `config.json` from oci-spec per container, `<runtime> run --detach`, a
//! cgroup under `/coldbench/<name>`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::cli::{exec, output};
use super::mechanism::{Launch, Mechanism};
use super::oci::{self, ContainerSpec, OciNet};
use super::{Net, Runtime};
use crate::measure::cgroup::Cgroup;
use crate::targets::netdev::Veth;
use crate::targets::{spawn, Availability, Facts, TargetError};

/// runc, crun or runsc with OCI bundles.
pub struct Bundle {
    runtime: Runtime,
    rootfs: PathBuf,
}

impl Bundle {
    /// `runtime` (runc, crun or runsc) running containers of `rootfs`.
    pub fn new(runtime: Runtime, rootfs: PathBuf) -> Bundle {
        Bundle { runtime, rootfs }
    }
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

/// runsc's flags before its subcommand. `ptrace`: the platform that works
/// without KVM (this VM's KVM cannot run gVisor's). `--network=host`:
/// gVisor passes the container's sockets to the host kernel in the network
/// namespace the bundle names (its own veth, or the host's): Debian's runsc
/// (2022-12-19) refuses its own netstack on kernels since 6.x, which show
/// /proc/sys/net/core/rmem_default in every namespace (google/gvisor#10704).
const RUNSC_FLAGS: [&str; 2] = ["--platform=ptrace", "--network=host"];

impl Bundle {
    /// The runtime's flags before its subcommand.
    fn global(&self) -> &'static [&'static str] {
        match self.runtime {
            Runtime::Runsc => &RUNSC_FLAGS,
            _ => &[],
        }
    }

    /// `<global flags> <args…>`, as exec and output take them.
    fn with<'a>(&self, args: &[&'a str]) -> Vec<&'a str> {
        self.global().iter().chain(args).copied().collect()
    }
}

impl Mechanism for Bundle {
    fn runtime(&self) -> Runtime {
        self.runtime
    }

    fn availability(&self, net: Net) -> Availability {
        if self.runtime == Runtime::Crun {
            if let Some(reason) = crun_blocker() {
                return Availability::Unavailable { reason };
            }
        }
        if net == Net::Own && spawn::resolve(Path::new("ip")).is_none() {
            return Availability::Unavailable {
                reason: "ip (iproute2) is missing: run `just setup`".into(),
            };
        }
        let hint = format!("{} is not installed: run `just setup`", self.runtime.cli());
        spawn::version(Path::new(self.runtime.cli()), &hint)
    }

    fn prepare(&mut self, net: Net, facts: &mut Facts) -> Result<(), TargetError> {
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
            json!(match net {
                Net::Own => "its own network namespace and veth pair (a /30), made with two `ip -batch` runs in the cold path",
                Net::Host => "the host's network namespace",
            }),
        );
        if self.runtime == Runtime::Runsc {
            facts.insert("runsc flags".into(), json!(RUNSC_FLAGS.join(" ")));
            facts.insert(
                "gvisor platform".into(),
                json!("ptrace: the sentry intercepts the server's system calls with ptrace (no KVM platform: this VM's KVM cannot run it); Cloud Run's gVisor uses faster platforms, so these figures are gVisor's upper end"),
            );
            facts.insert(
                "gvisor network".into(),
                json!("--network=host: sockets passed to the host kernel inside the container's network namespace, not gVisor's netstack (Debian's runsc 2022-12-19 refuses netstack on this kernel: google/gvisor#10704)"),
            );
        }
        Ok(())
    }

    fn uses_bundle(&self) -> bool {
        true
    }

    fn own_address(&self, _n: u32) -> Option<Ipv4Addr> {
        None
    }

    fn launch(&self, l: &Launch<'_>) -> Result<String, String> {
        let netns = l.veth.map(Veth::netns_path);
        let cgroup = format!("/coldbench/{}", l.name);
        let spec = oci::spec(&ContainerSpec {
            id: l.name,
            rootfs: &self.rootfs,
            args: l.cmd.iter().map(|s| s.to_string()).collect(),
            net: netns.as_deref().map(OciNet::Join).unwrap_or(OciNet::Host),
            cgroup: &cgroup,
            memory_limit: l.limits.memory_bytes,
            memory_and_swap: l.limits.memory_and_swap_bytes,
            cpu: l.limits.cpu.map(|(_, quota, period)| (quota, period)),
        })
        .map_err(|e| format!("building config.json: {e}"))?;
        std::fs::create_dir_all(l.folder)
            .map_err(|e| format!("creating {}: {e}", l.folder.display()))?;
        spec.save(l.folder.join("config.json"))
            .map_err(|e| format!("writing config.json: {e}"))?;
        let bundle = l.folder.display().to_string();
        let status = exec(
            self.runtime.cli(),
            &self.with(&["run", "--detach", "--bundle", &bundle, l.name]),
            l.log,
            l.deadline,
        )?;
        status
            .success()
            .then(|| l.name.to_string())
            .ok_or_else(|| format!("{} run exited ({status})", self.runtime.cli()))
    }

    fn cgroup_of(&self, name: &str, _id: &str) -> Cgroup {
        Cgroup::at(&format!("/coldbench/{name}"))
    }

    fn resident(&self, _id: &str) -> Vec<u32> {
        Vec::new()
    }

    fn daemons(&self) -> &[u32] {
        &[]
    }

    fn container_output(&self, _name: &str) -> Option<String> {
        None
    }

    fn list(&self) -> String {
        output(self.runtime.cli(), &self.with(&["list", "--quiet"])).unwrap_or_default()
    }

    fn remove(&self, name: &str) -> Result<String, String> {
        output(self.runtime.cli(), &self.with(&["delete", "--force", name]))
    }

    fn known(&self, name: &str) -> bool {
        output(self.runtime.cli(), &self.with(&["state", name])).is_ok()
    }

    fn cleanup(&self, _net: Net) {
        for controller in [
            "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "pids", "hugetlb",
            "systemd", "unified", "",
        ] {
            let _ = std::fs::remove_dir(
                Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join("coldbench"),
            );
        }
    }

    fn cpu_accounting(&self) -> String {
        match self.runtime {
            Runtime::Runsc => "the container's cgroup (cpuacct: gVisor's sentry, gofer and ptrace stubs, which run the server) + the runsc CLI \
                 (getrusage of reaped children); runsc moves its own CLI into the cgroup while it starts the sandbox, so that \
                 part of the CLI's CPU is counted twice"
                .to_string(),
            runtime => super::mechanism::cgroup_and_cli(runtime.cli(), ""),
        }
    }
}
