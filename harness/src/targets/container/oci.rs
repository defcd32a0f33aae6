//! The OCI runtime spec (`config.json`) of one container, built with the
//! `oci-spec` crate. Every field that matters is set explicitly: the crate's
//! builders fill unset fields from its own defaults (a hostname, seven
//! mounts, a network namespace, ambient capabilities), which would change
//! what is measured behind our back.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResourcesBuilder, MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder,
    RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use oci_spec::OciSpecError;

/// Which network the container gets.
#[derive(Clone, Copy, Debug)]
pub enum OciNet<'a> {
    /// The host's network namespace (no network namespace of its own).
    Host,
    /// Join the prepared namespace at this path (`/var/run/netns/<name>`).
    Join(&'a Path),
}

/// What one container runs and how it is confined.
#[derive(Clone, Debug)]
pub struct ContainerSpec<'a> {
    /// Container id; also its hostname.
    pub id: &'a str,
    /// The shared, read-only root filesystem.
    pub rootfs: &'a Path,
    /// The command.
    pub args: Vec<String>,
    /// Network.
    pub net: OciNet<'a>,
    /// Absolute cgroup path, e.g. `/coldbench/<id>`.
    pub cgroup: &'a str,
    /// Memory limit in bytes.
    pub memory_limit: i64,
    /// Memory and swap together, in bytes (`None`: not set).
    pub memory_and_swap: Option<i64>,
    /// CPU quota and period in µs (`None`: not limited).
    pub cpu: Option<(u64, u64)>,
}

/// The runtime spec for `c`.
pub fn spec(c: &ContainerSpec) -> Result<Spec, OciSpecError> {
    let none: HashSet<Capability> = HashSet::new();
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
        .args(c.args.clone())
        .env(vec!["PATH=/".to_string()])
        .cwd("/")
        // No capabilities at all: the server binds an unprivileged port.
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(none.clone())
                .effective(none.clone())
                .permitted(none.clone())
                .inheritable(none.clone())
                .ambient(none)
                .build()?,
        )
        .rlimits(vec![PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(1024u64)
            .soft(1024u64)
            .build()?])
        .no_new_privileges(true)
        .build()?;
    // /proc (runc needs it to close descriptors) and a private /dev tmpfs
    // (without it, runtimes create device nodes in the shared rootfs).
    let mounts = vec![
        MountBuilder::default()
            .destination("/proc")
            .typ("proc")
            .source("proc")
            .options(vec!["nosuid".into(), "noexec".into(), "nodev".into()])
            .build()?,
        MountBuilder::default()
            .destination("/dev")
            .typ("tmpfs")
            .source("tmpfs")
            .options(vec![
                "nosuid".into(),
                "strictatime".into(),
                "mode=755".into(),
                "size=65536k".into(),
            ])
            .build()?,
    ];
    let mut namespaces = Vec::new();
    for typ in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ] {
        namespaces.push(LinuxNamespaceBuilder::default().typ(typ).build()?);
    }
    if let OciNet::Join(path) = c.net {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path(path)
                .build()?,
        );
    }
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(c.cgroup)
        .resources(
            LinuxResourcesBuilder::default()
                .memory(match c.memory_and_swap {
                    Some(swap) => LinuxMemoryBuilder::default()
                        .limit(c.memory_limit)
                        .swap(swap)
                        .build()?,
                    None => LinuxMemoryBuilder::default()
                        .limit(c.memory_limit)
                        .build()?,
                })
                .cpu(match c.cpu {
                    Some((quota, period)) => LinuxCpuBuilder::default()
                        .quota(quota as i64)
                        .period(period)
                        .build()?,
                    None => LinuxCpuBuilder::default().build()?,
                })
                .pids(LinuxPidsBuilder::default().limit(64i64).build()?)
                .devices(vec![LinuxDeviceCgroupBuilder::default()
                    .allow(false)
                    .access("rwm")
                    .build()?])
                .build()?,
        )
        .build()?;
    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(c.rootfs)
                .readonly(true)
                .build()?,
        )
        .hostname(c.id)
        .mounts(mounts)
        .process(process)
        .linux(linux)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn container(net: OciNet) -> serde_json::Value {
        let rootfs = PathBuf::from("/srv/rootfs");
        let spec = spec(&ContainerSpec {
            id: "cb-1",
            rootfs: &rootfs,
            args: vec![
                "/coldbench-fn".into(),
                "--listen".into(),
                "0.0.0.0:8080".into(),
            ],
            net,
            cgroup: "/coldbench/cb-1",
            memory_limit: 256 << 20,
            memory_and_swap: Some(256 << 20),
            cpu: Some((7236, 100_000)),
        })
        .unwrap();
        serde_json::to_value(&spec).unwrap()
    }

    #[test]
    fn the_spec_says_exactly_what_we_set() {
        let v = container(OciNet::Host);
        assert_eq!(v["root"]["path"], "/srv/rootfs");
        assert_eq!(v["root"]["readonly"], true);
        assert_eq!(v["hostname"], "cb-1");
        assert_eq!(v["process"]["args"][0], "/coldbench-fn");
        assert_eq!(v["process"]["env"], serde_json::json!(["PATH=/"]));
        assert_eq!(v["linux"]["cgroupsPath"], "/coldbench/cb-1");
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 256 << 20);
        assert_eq!(v["linux"]["resources"]["memory"]["swap"], 256 << 20);
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 7236);
        assert_eq!(v["linux"]["resources"]["cpu"]["period"], 100_000);
        let mounts: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(mounts, ["/proc", "/dev"], "no default mounts sneak in");
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            assert_eq!(
                v["process"]["capabilities"][set],
                serde_json::json!([]),
                "{set}"
            );
        }
    }

    #[test]
    fn host_networking_has_no_network_namespace_and_own_networking_joins_one() {
        let types = |v: &serde_json::Value| -> Vec<String> {
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap().to_string())
                .collect()
        };
        let host = container(OciNet::Host);
        assert_eq!(types(&host), ["pid", "ipc", "uts", "mount"]);
        let path = PathBuf::from("/var/run/netns/cb-1");
        let own = container(OciNet::Join(&path));
        assert_eq!(types(&own).last().unwrap(), "network");
        assert_eq!(own["linux"]["namespaces"][4]["path"], "/var/run/netns/cb-1");
    }
}
