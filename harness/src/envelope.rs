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
use std::sync::mpsc;

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
    /// The thread armed to spawn its instance (v1), if armed ahead.
    spawner: Option<Spawner>,
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
            spawner: None,
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
    /// child is in it from its first instruction. On v1 a thread of the
    /// harness inside the cgroup spawns it ([`Confined::arm`]; the child
    /// inherits the cgroup, and `posix_spawn` is kept); v2 moves only whole
    /// processes, so there the child moves itself between fork and exec.
    pub fn spawn(&mut self, cmd: &mut Command) -> std::io::Result<Child> {
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
        let armed = match self.spawner.take() {
            Some(spawner) => spawner,
            None => self.arm()?,
        };
        armed.spawn(cmd)
    }

    /// A thread of the harness inside the cgroup, waiting to spawn the
    /// instance (v1): the child inherits the cgroup from the thread that
    /// spawns it, with posix_spawn kept. Moving a thread into a cgroup can
    /// wait for the kernel (an RCU grace period: 1.4 ms cold starts read
    /// 6–22 ms when the harness's own thread went in and out around the
    /// spawn), so [`Spare::ready`] arms it before the timed path, and the
    /// thread ends after its one spawn instead of moving back.
    fn arm(&self) -> std::io::Result<Spawner> {
        let dirs = self.dirs.clone();
        let (joined_tx, joined_rx) = mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::channel::<Command>();
        let (child_tx, child_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("envelope-spawner".into())
            .spawn(move || {
                let tid = nix::unistd::gettid().to_string();
                let joined = dirs
                    .iter()
                    .try_for_each(|dir| fs::write(dir.join("tasks"), &tid));
                let ok = joined.is_ok();
                let _ = joined_tx.send(joined);
                if let (true, Ok(mut cmd)) = (ok, cmd_rx.recv()) {
                    let _ = child_tx.send(Placement::spawn(|| cmd.spawn()));
                }
            })?;
        joined_rx
            .recv()
            .map_err(|_| std::io::Error::other("the envelope's spawner thread died"))??;
        Ok(Spawner {
            cmd_tx,
            child_rx,
            thread,
        })
    }

    /// Starts the spawner thread now, so that [`Confined::spawn`] finds it
    /// ready.
    fn ready_spawner(&mut self) -> std::io::Result<()> {
        if !self.unified && self.spawner.is_none() {
            self.spawner = Some(self.arm()?);
        }
        Ok(())
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

/// How a target makes an instance's cgroup: [`Confined::create`], or
/// [`Confined::cpu_only`] for a VMM.
pub type Make = fn(&Envelope, &str) -> Result<Confined, String>;

/// The cgroup for a target's next instance, made in [`Target::ready`]
/// (untimed) with its spawner thread already inside, so that neither
/// making the cgroup nor joining it falls in the cold start it confines.
///
/// [`Target::ready`]: crate::targets::Target::ready
#[derive(Default)]
pub struct Spare(Option<Confined>);

impl Spare {
    /// Makes the next instance's cgroup, if the run has an envelope and
    /// none is waiting. A failure is left to [`Spare::take`] to report.
    pub fn ready(&mut self, envelope: Option<&Envelope>, label: &str, make: Make) {
        if self.0.is_none() {
            self.0 = envelope.and_then(|e| make(e, label).ok());
        }
        if let Some(c) = &mut self.0 {
            if c.ready_spawner().is_err() {
                self.0 = None;
            }
        }
    }

    /// The cgroup made ahead, else one made now (a start without `ready`:
    /// the density sweep's, untimed), else none without an envelope.
    pub fn take(
        &mut self,
        envelope: Option<&Envelope>,
        label: &str,
        make: Make,
    ) -> Result<Option<Confined>, String> {
        match self.0.take() {
            Some(c) => Ok(Some(c)),
            None => confine(envelope, label, make),
        }
    }
}

/// A cgroup made now for an instance under `envelope` (none without one).
pub fn confine(
    envelope: Option<&Envelope>,
    label: &str,
    make: Make,
) -> Result<Option<Confined>, String> {
    envelope
        .map(|e| make(e, label))
        .transpose()
        .map_err(|e| format!("cannot apply the envelope: {e}"))
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

/// An armed spawner: a thread in the cgroup waiting for its command.
struct Spawner {
    cmd_tx: mpsc::Sender<Command>,
    child_rx: mpsc::Receiver<std::io::Result<Child>>,
    thread: std::thread::JoinHandle<()>,
}

impl Spawner {
    /// Hands `cmd` to the thread and gets its child back; the thread ends
    /// by itself (not joined: its exit stays out of the timed path).
    fn spawn(self, cmd: &mut Command) -> std::io::Result<Child> {
        let gone = || std::io::Error::other("the envelope's spawner thread died");
        let cmd = std::mem::replace(cmd, Command::new(""));
        self.cmd_tx.send(cmd).map_err(|_| gone())?;
        self.child_rx.recv().map_err(|_| gone())?
    }
}

impl Drop for Confined {
    // The instance is gone by now; the kernel may take a moment to let go
    // of the cgroup of a process just reaped.
    // Whatever is still in it (a process that left the instance's process
    // group) is killed first: nothing of an instance outlives its cgroup.
    fn drop(&mut self) {
        // An armed thread never used ends when its channel closes.
        if let Some(Spawner { cmd_tx, thread, .. }) = self.spawner.take() {
            drop(cmd_tx);
            let _ = thread.join();
        }
        let me = std::process::id();
        for pid in self.cgroup.procs().into_iter().filter(|&p| p != me) {
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
