//! Host-side network devices that give one instance an address of its own,
//! made with `ip -batch` in the cold path (as a CNI plugin or a VMM's
//! launcher would) and removed, and checked gone, at stop:
//!
//! - [`Veth`]: a named network namespace and a veth pair, a /30 on each end,
//!   for a runc/crun container;
//! - [`Tap`]: a TAP device with a /30 and a permanent neighbour entry for the
//!   guest (so the first packet does not wait for ARP), for a microVM.
//!
//! The harness reaches the instance on its own address; no bridge, NAT or
//! forwarding is involved.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Names of everything coldbench creates start with these.
pub const NETNS_PREFIX: &str = "coldbench-";
const LINK_PREFIX: &str = "cbh";
const TAP_PREFIX: &str = "cbt";

/// One container's namespace and veth pair.
#[derive(Clone, Debug)]
pub struct Veth {
    /// Namespace name (`coldbench-<tag>-<n>`).
    pub netns: String,
    /// Host end of the pair.
    pub host_if: String,
    /// Host end's address.
    pub host_ip: Ipv4Addr,
    /// Container end's address (its `eth0`).
    pub guest_ip: Ipv4Addr,
}

fn ip_batch(netns: Option<&str>, commands: &str) -> Result<(), String> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let mut child = cmd
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ip (install iproute2: `just setup`): {e}"))?;
    child
        .stdin
        .take()
        .ok_or("ip has no stdin")?
        .write_all(commands.as_bytes())
        .map_err(|e| format!("ip -batch: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip -batch failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Veth {
    /// Names and addresses for container number `n` of run `tag` (a pid).
    /// Each gets a /30 out of 10.200.0.0/16.
    pub fn plan(tag: u32, n: u32) -> Veth {
        let slot = (tag % 64) * 256 + n % 256;
        let base = u32::from(Ipv4Addr::new(10, 200, 0, 0)) + slot * 4;
        Veth {
            netns: format!("{NETNS_PREFIX}{tag}-{n}"),
            host_if: format!("{LINK_PREFIX}{tag}n{n}"),
            host_ip: Ipv4Addr::from(base + 1),
            guest_ip: Ipv4Addr::from(base + 2),
        }
    }

    /// Creates the namespace and the pair (two `ip -batch` runs). A name
    /// already taken is an error before anything is made; on any failure
    /// what was made is removed again.
    pub fn create(&self) -> Result<(), String> {
        let Veth {
            netns,
            host_if,
            host_ip,
            guest_ip,
        } = self;
        if PathBuf::from("/sys/class/net").join(host_if).exists() {
            return Err(format!(
                "interface {host_if} already exists: its address is taken"
            ));
        }
        if self.netns_path().exists() {
            return Err(format!("network namespace {netns} already exists"));
        }
        let host_side = format!(
            "netns add {netns}\nlink add {host_if} type veth peer name eth0 netns {netns}\n\
             addr add {host_ip}/30 dev {host_if}\nlink set {host_if} up\n"
        );
        let guest_side =
            format!("addr add {guest_ip}/30 dev eth0\nlink set eth0 up\nlink set lo up\n");
        ip_batch(None, &host_side)
            .and_then(|()| ip_batch(Some(netns), &guest_side))
            .inspect_err(|_| {
                let _ = self.remove();
            })
    }

    /// Where runtimes join the namespace.
    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.netns)
    }

    /// Removes the pair and the namespace, and checks both are gone.
    pub fn remove(&self) -> Result<(), String> {
        // Deleting one end removes both; the namespace goes with its mount.
        let _ = ip_batch(None, &format!("link del {}\n", self.host_if));
        let _ = ip_batch(None, &format!("netns del {}\n", self.netns));
        let mut left = Vec::new();
        if PathBuf::from("/sys/class/net").join(&self.host_if).exists() {
            left.push(format!("link {}", self.host_if));
        }
        if self.netns_path().exists() {
            left.push(format!("netns {}", self.netns));
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{} still present", left.join(" and ")))
        }
    }
}

/// One microVM's TAP device.
#[derive(Clone, Debug)]
pub struct Tap {
    /// Device name (`cbt<tag>n<n>`).
    pub name: String,
    /// Host end's address.
    pub host_ip: Ipv4Addr,
    /// The guest's address.
    pub guest_ip: Ipv4Addr,
    /// The guest NIC's MAC (locally administered, from its address).
    pub guest_mac: String,
    /// The host end's MAC, fixed likewise: a guest restored from a snapshot
    /// remembers the MAC of the TAP it was made on, and its new TAP has it.
    pub host_mac: String,
}

impl Tap {
    /// Names and addresses for VM number `n` of run `tag` (a pid): a /30 out
    /// of 10.203.0.0/16.
    pub fn plan(tag: u32, n: u32) -> Tap {
        let slot = (tag % 64) * 256 + n % 256;
        let base = u32::from(Ipv4Addr::new(10, 203, 0, 0)) + slot * 4;
        let guest_ip = Ipv4Addr::from(base + 2);
        let host_ip = Ipv4Addr::from(base + 1);
        let mac = |prefix: &str, ip: Ipv4Addr| {
            let [a, b, c, d] = ip.octets();
            format!("{prefix}:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
        };
        Tap {
            name: format!("{TAP_PREFIX}{tag}n{n}"),
            host_ip,
            guest_ip,
            guest_mac: mac("06:00", guest_ip),
            host_mac: mac("06:01", host_ip),
        }
    }

    /// Creates the device (one `ip -batch` run); a name already taken is an
    /// error before anything is made, and a failure removes what was made.
    pub fn create(&self) -> Result<(), String> {
        let Tap {
            name,
            host_ip,
            guest_ip,
            guest_mac,
            host_mac,
        } = self;
        if PathBuf::from("/sys/class/net").join(name).exists() {
            return Err(format!(
                "interface {name} already exists: its address is taken"
            ));
        }
        let commands = format!(
            "tuntap add {name} mode tap\naddr add {host_ip}/30 dev {name}\nlink set {name} address {host_mac} up\n\
             neigh replace {guest_ip} lladdr {guest_mac} dev {name} nud permanent\n"
        );
        ip_batch(None, &commands).inspect_err(|_| {
            let _ = self.remove();
        })
    }

    /// Removes the device and checks it is gone.
    pub fn remove(&self) -> Result<(), String> {
        let _ = ip_batch(None, &format!("link del {}\n", self.name));
        if PathBuf::from("/sys/class/net").join(&self.name).exists() {
            Err(format!("tap {} still present", self.name))
        } else {
            Ok(())
        }
    }
}

/// Removes namespaces and links that runs which are no longer alive left
/// behind (`coldbench-<pid>-…`, `cbh<pid>n…`, `cbt<pid>n…` of a dead pid).
pub fn sweep_dead_runs() {
    let dead = |tag: &str| {
        tag.parse::<u32>()
            .is_ok_and(|pid| !PathBuf::from(format!("/proc/{pid}")).exists())
    };
    for entry in std::fs::read_dir("/var/run/netns")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(NETNS_PREFIX) {
            if rest.split('-').next().is_some_and(dead) {
                let _ = ip_batch(None, &format!("netns del {name}\n"));
            }
        }
    }
    for entry in std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name
            .strip_prefix(LINK_PREFIX)
            .or_else(|| name.strip_prefix(TAP_PREFIX))
        {
            if rest.split('n').next().is_some_and(dead) {
                let _ = ip_batch(None, &format!("link del {name}\n"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_plans_fit_interface_names_and_give_the_guest_a_stable_mac() {
        let t = Tap::plan(4_194_303, 255);
        assert!(t.name.len() <= 15, "{} exceeds IFNAMSIZ", t.name);
        let t = Tap::plan(1, 1);
        assert_eq!(
            t.guest_mac,
            format!(
                "06:00:0a:cb:{:02x}:{:02x}",
                t.guest_ip.octets()[2],
                t.guest_ip.octets()[3]
            )
        );
        assert_eq!(u32::from(t.guest_ip), u32::from(t.host_ip) + 1);
    }

    #[test]
    fn plans_are_distinct_and_fit_interface_name_limits() {
        let a = Veth::plan(4_194_303, 255);
        assert!(a.host_if.len() <= 15, "{} exceeds IFNAMSIZ", a.host_if);
        let b = Veth::plan(1234, 1);
        let c = Veth::plan(1234, 2);
        assert_ne!(b.host_ip, c.host_ip);
        assert_eq!(
            u32::from(b.guest_ip),
            u32::from(b.host_ip) + 1,
            "both ends share a /30"
        );
        assert_eq!(u32::from(c.host_ip) - u32::from(b.host_ip), 4);
    }
}
