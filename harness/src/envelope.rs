//! Resource envelopes: the memory and the CPU share a platform gives one
//! instance (Lambda at 128 MB gets 128/1769 of a vCPU), from
//! `data/envelopes.json`, and how the harness holds an instance to one: a
//! cgroup of its own with a CFS quota and a memory limit.
//!
//! Who is held (said in run.json and the report): a process instance and a
//! one-process-per-instance isolate in their own cgroup; a container by its
//! runtime (OCI `linux.resources`, `--cpus --memory`); a microVM's VMM in a
//! cgroup with the CPU quota and its guest given the envelope's memory; a
//! shared host (workerd, Deno, the wasmtime host) in one cgroup, so that
//! the envelope then covers every tenant of that host together.

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use crate::measure::cgroup::Cgroup;
use crate::run::conditions::Placement;

const DATA: &str = include_str!("../data/envelopes.json");

/// One platform's resources per instance.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Name given to `--envelope`, e.g. `lambda-128`.
    pub name: String,
    /// The platform and setting it stands for.
    pub platform: String,
    /// Memory limit in MiB.
    pub memory_mib: u64,
    /// Share of one CPU (`None`: CPU not limited).
    pub cpu_share: Option<f64>,
    /// The CFS period the share is applied over, in microseconds.
    pub cpu_period_us: u64,
    /// Where the figures come from.
    pub source: String,
}

#[derive(Deserialize)]
struct Data {
    read_on: String,
    envelopes: Vec<Envelope>,
}

fn data() -> Data {
    serde_json::from_str(DATA).expect("data/envelopes.json is valid (checked by a test)")
}

/// Where a target's envelope is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Each instance in a cgroup of its own.
    Instance,
    /// Each container by its runtime.
    Container,
    /// The VMM's cgroup (CPU) and the guest's memory size.
    Vm,
    /// The shared host's cgroup: every tenant of the host together.
    Host,
}

impl Scope {
    /// What the envelope holds, in a sentence for run.json and the report.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::Instance => "each instance: a cgroup of its own (CPU quota, memory limit)",
            Scope::Container => "each container: its runtime's cgroup (OCI linux.resources, or --cpus and --memory)",
            Scope::Vm => "each microVM: the VMM in a cgroup with the CPU quota, the guest given the envelope's memory (the VMM's own memory is outside it, as a platform's is)",
            Scope::Host => "the shared host: one cgroup for the host process, so the envelope covers every tenant of that host together",
        }
    }
}

impl Envelope {
    /// Every preset, in file order.
    pub fn presets() -> Vec<Envelope> {
        data().envelopes
    }

    /// When the presets' sources were read.
    pub fn read_on() -> String {
        data().read_on
    }

    /// The preset called `name`, or an error listing the valid ones.
    pub fn named(name: &str) -> Result<Envelope, String> {
        let all = Envelope::presets();
        all.iter().find(|e| e.name == name).cloned().ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
            format!(
                "unknown envelope '{name}' (valid: {}; their sources are in harness/data/envelopes.json)",
                names.join(", ")
            )
        })
    }

    /// The memory limit in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_mib << 20
    }

    /// CPU time per period, in microseconds (the kernel's floor is 1 ms).
    pub fn cpu_quota_us(&self) -> Option<u64> {
        self.cpu_share
            .map(|s| ((s * self.cpu_period_us as f64).round() as u64).max(1000))
    }

    /// One line: `lambda-128: 128 MiB, 7.2 % of one CPU (7236 µs per 100 ms)`.
    pub fn describe(&self) -> String {
        let cpu = match (self.cpu_share, self.cpu_quota_us()) {
            (Some(share), Some(quota)) => format!(
                "{:.1} % of one CPU ({quota} µs per {} ms)",
                share * 100.0,
                self.cpu_period_us / 1000
            ),
            _ => "CPU not limited".into(),
        };
        format!("{}: {} MiB, {cpu}", self.name, self.memory_mib)
    }
}

/// A cgroup the harness made for one instance (or host), limited to an
/// envelope, and removed when dropped.
pub struct Confined {
    envelope: Envelope,
    cgroup: Cgroup,
    /// The folders made, innermost last (v1: one per controller).
    dirs: Vec<PathBuf>,
    unified: bool,
}

const PARENT: &str = "coldbench-envelope";

fn write(path: &Path, value: &str) -> Result<(), String> {
    fs::write(path, value).map_err(|e| format!("writing {value} to {}: {e}", path.display()))
}

impl Confined {
    /// Makes the cgroup `coldbench-envelope/<label>-<pid>-<n>` with the
    /// envelope's limits.
    pub fn create(envelope: &Envelope, label: &str) -> Result<Confined, String> {
        Confined::make(envelope, label, true)
    }

    /// The same with the CPU quota only: for a VMM, whose guest's memory is
    /// the envelope's (its own memory outside it, as a platform's VMM is).
    pub fn cpu_only(envelope: &Envelope, label: &str) -> Result<Confined, String> {
        Confined::make(envelope, label, false)
    }

    fn make(envelope: &Envelope, label: &str, memory: bool) -> Result<Confined, String> {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let path = format!("/{PARENT}/{label}-{}-{n}", std::process::id());
        let unified = crate::fingerprint::cgroup_mode() == "v2";
        let root = Path::new("/sys/fs/cgroup");
        let mut confined = Confined {
            envelope: envelope.clone(),
            cgroup: Cgroup::at(&path),
            dirs: Vec::new(),
            unified,
        };
        // A folder the kernel made a cgroup of has its files at once; a
        // plain folder (a tmpfs without the controller mounted) has none,
        // and writing limits there would hold nothing.
        let make = |dir: &Path| {
            fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            let own = dir.join(if unified { "cgroup.procs" } else { "tasks" });
            if own.exists() {
                Ok(())
            } else {
                let _ = fs::remove_dir(dir);
                Err(format!("{} is not in a cgroup hierarchy", dir.display()))
            }
        };
        if unified {
            let parent = root.join(PARENT);
            write(&root.join("cgroup.subtree_control"), "+cpu +memory")?;
            make(&parent)?;
            write(&parent.join("cgroup.subtree_control"), "+cpu +memory")?;
            let dir = root.join(path.trim_start_matches('/'));
            make(&dir)?;
            confined.dirs.push(dir.clone());
            let quota = envelope
                .cpu_quota_us()
                .map_or("max".to_string(), |q| q.to_string());
            write(
                &dir.join("cpu.max"),
                &format!("{quota} {}", envelope.cpu_period_us),
            )?;
            if memory {
                write(
                    &dir.join("memory.max"),
                    &envelope.memory_bytes().to_string(),
                )?;
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
            }
        } else {
            for controller in ["cpu", "memory"] {
                let dir = root.join(controller).join(path.trim_start_matches('/'));
                make(&dir)?;
                confined.dirs.push(dir);
            }
            let (cpu, mem_dir) = (&confined.dirs[0], &confined.dirs[1]);
            write(
                &cpu.join("cpu.cfs_period_us"),
                &envelope.cpu_period_us.to_string(),
            )?;
            if let Some(quota) = envelope.cpu_quota_us() {
                write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
            }
            if memory {
                let bytes = envelope.memory_bytes().to_string();
                write(&mem_dir.join("memory.limit_in_bytes"), &bytes)?;
                // Without swap accounting the file is missing; with it, no swap.
                let memsw = mem_dir.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write(&memsw, &bytes)?;
                }
            }
        }
        Ok(confined)
    }

    /// The envelope it holds.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Its path below the hierarchy root.
    pub fn path(&self) -> String {
        self.cgroup.path()
    }

    /// Spawns `cmd` inside the cgroup (through [`Placement::spawn`]): the
    /// child is in it from its first instruction. On v1 the spawning thread
    /// joins the cgroup for the spawn and goes back (the child inherits it,
    /// and `posix_spawn` is kept); v2 moves only whole processes, so there
    /// the child moves itself between fork and exec.
    pub fn spawn(&self, cmd: &mut Command) -> std::io::Result<Child> {
        if self.unified {
            let procs = CString::new(
                self.dirs[0]
                    .join("cgroup.procs")
                    .into_os_string()
                    .into_encoded_bytes(),
            )
            .map_err(std::io::Error::other)?;
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec the hook only opens, writes and
            // closes a file: async-signal-safe calls, no allocation.
            unsafe {
                cmd.pre_exec(move || {
                    let fd = nix::libc::open(procs.as_ptr(), nix::libc::O_WRONLY);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let ok = nix::libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                    nix::libc::close(fd);
                    if ok {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
            return Placement::spawn(|| cmd.spawn());
        }
        let tid = nix::unistd::gettid().to_string();
        // Where to go back to, known before leaving: the harness must never
        // stay in a limited cgroup.
        let home = thread_cgroups();
        if home.len() != 2 {
            return Err(std::io::Error::other(
                "cannot tell this thread's cpu and memory cgroups from /proc/thread-self/cgroup",
            ));
        }
        let joined = self
            .dirs
            .iter()
            .try_for_each(|dir| fs::write(dir.join("tasks"), &tid));
        let spawned = joined.and_then(|()| Placement::spawn(|| cmd.spawn()));
        // Back home whatever happened: the harness never runs limited.
        let back = home.iter().try_for_each(|(controller, path)| {
            let tasks = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(path.trim_start_matches('/'))
                .join("tasks");
            fs::write(tasks, &tid)
        });
        match (spawned, back) {
            (spawned, Ok(())) => spawned,
            (spawned, Err(e)) => {
                if let Ok(mut child) = spawned {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Err(std::io::Error::other(format!(
                    "the harness's thread could not leave the envelope's cgroup: {e}"
                )))
            }
        }
    }

    /// Processes the memory limit killed so far.
    pub fn oom_kills(&self) -> u64 {
        self.cgroup.oom_kills().unwrap_or(0)
    }

    /// Why an instance in it died, if its memory limit killed it.
    pub fn fault(&self) -> Option<String> {
        oom_fault(self.oom_kills(), &self.envelope)
    }
}

/// `OOM: …` when `kills` is above zero.
pub fn oom_fault(kills: u64, envelope: &Envelope) -> Option<String> {
    (kills > 0).then(|| {
        format!(
            "OOM: killed by its memory limit ({} MiB, envelope {})",
            envelope.memory_mib, envelope.name
        )
    })
}

/// The spawning thread's cgroups in the controllers a [`Confined`] uses (v1).
fn thread_cgroups() -> Vec<(&'static str, String)> {
    let text = fs::read_to_string("/proc/thread-self/cgroup").unwrap_or_default();
    ["cpu", "memory"]
        .into_iter()
        .filter_map(|controller| {
            text.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
                list.split(',')
                    .any(|c| c == controller)
                    .then(|| (controller, path.to_string()))
            })
        })
        .collect()
}

impl Drop for Confined {
    // The instance is gone by now; the kernel may take a moment to let go
    // of the cgroup of a process just reaped.
    // Whatever is still in it (a process that left the instance's process
    // group) is killed first: nothing of an instance outlives its cgroup.
    fn drop(&mut self) {
        for pid in self.cgroup.procs() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for dir in self.dirs.iter().rev() {
            let removed = (0..250).any(|_| {
                let gone = fs::remove_dir(dir).is_ok() || !dir.exists();
                if !gone {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                gone
            });
            if !removed {
                eprintln!(
                    "warning: could not remove the envelope's cgroup {}",
                    dir.display()
                );
            }
        }
    }
}

/// Whether `envelope` can be applied here: makes and removes one cgroup.
/// The error says what is missing.
pub fn check(envelope: &Envelope) -> Result<(), String> {
    if crate::fingerprint::cgroup_mode() == "none" {
        return Err(format!(
            "envelope {} cannot be applied: this host has no cgroup filesystem (mount cgroup v1 cpu and memory, or cgroup2)",
            envelope.name
        ));
    }
    Confined::create(envelope, "check").map(drop).map_err(|e| {
        format!(
            "envelope {} cannot be applied here ({e}): it needs root and the cgroup cpu and memory controllers",
            envelope.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_a_source_and_sane_limits() {
        let all = Envelope::presets();
        for name in ["lambda-128", "lambda-1769", "workers", "azure-consumption"] {
            let e = Envelope::named(name).unwrap();
            assert!(e.source.contains("https://"), "{name}: {}", e.source);
            assert!(e.memory_mib >= 64 && e.cpu_period_us >= 1000, "{e:?}");
            assert!(e.cpu_share.is_none_or(|s| s > 0.0 && s <= 64.0), "{e:?}");
        }
        assert_eq!(all.len(), 4);
        assert_eq!(Envelope::read_on().len(), 10);
    }

    #[test]
    fn lambda_128_is_a_thirteenth_of_a_cpu_and_128_mib() {
        let e = Envelope::named("lambda-128").unwrap();
        assert_eq!(e.memory_bytes(), 128 << 20);
        let quota = e.cpu_quota_us().unwrap();
        // 128/1769 of one vCPU over 100 ms.
        assert!((7200..=7270).contains(&quota), "{quota}");
        assert_eq!(
            e.describe(),
            "lambda-128: 128 MiB, 7.2 % of one CPU (7236 µs per 100 ms)"
        );
        assert_eq!(
            Envelope::named("workers").unwrap().describe(),
            "workers: 128 MiB, CPU not limited"
        );
    }

    #[test]
    fn an_unknown_envelope_lists_the_valid_ones() {
        let err = Envelope::named("lambda-64").unwrap_err();
        assert!(
            err.contains("unknown envelope 'lambda-64'")
                && err.contains("lambda-128, lambda-1769, workers, azure-consumption"),
            "{err}"
        );
    }

    #[test]
    fn an_oom_fault_names_the_limit() {
        let e = Envelope::named("lambda-128").unwrap();
        assert_eq!(oom_fault(0, &e), None);
        assert_eq!(
            oom_fault(1, &e).unwrap(),
            "OOM: killed by its memory limit (128 MiB, envelope lambda-128)"
        );
    }
}
