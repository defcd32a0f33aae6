//! Family `microvm`: a real kernel in a real VMM per instance. The guest is
//! Debian's cloud kernel (fetched by `just setup`, booted as an ELF vmlinux
//! through PVH) and an initramfs whose `/init` is the static function server
//! (`just build-microvm`); each VM gets a TAP device and an address of its own.
//!
//! - `qemu-microvm`: QEMU's microvm machine (Debian's qemu-system-x86);
//! - `firecracker`, `cloud-hypervisor`: when their binaries are on PATH and
//!   KVM really boots guests here (neither is packaged for Debian 12).
//! - `<vmm>-node`: the same VMs from `initramfs-node.cpio`, which adds the
//!   node image's files; `cb_exec=node` makes init, once the guest is up,
//!   exec node with the JS server (512 MiB of guest RAM).
//!
//! - `qemu-microvm` restores (phase `restore`) from a migration stream: in
//!   `prepare` a VM boots, answers a connection (it listens), and QMP
//!   `migrate` writes its state to a file; each restored instance is a new
//!   QEMU started with `-incoming fd:3` (the file) on a TAP like the one the
//!   snapshot was made on. `qemu-microvm-cow` restores with the guest's RAM
//!   in a file (`memory-backend-file`, shared while the snapshot is made;
//!   the stream then holds only the devices, `x-ignore-shared`): each
//!   restored VM maps that file private, copy-on-write, so its tenants share
//!   the pages none of them wrote. A restored guest makes its instance id at
//!   its first answer, with the CPU's RDRAND mixed in: its kernel's generator
//!   is the snapshot's.
//!
//! The accelerator is probed at prepare with a bounded boot under KVM; when
//! that does not answer, QEMU falls back to TCG (emulation) and every sample
//! says so (`accel`). The guest's init writes boot markers to the serial
//! console, which break the cold start down (measures.csv).

pub mod qmp;
pub mod serial;
pub mod vmm;

use crate::envelope::{Confined, Spare};
use crate::run::conditions::Placement;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use self::serial::Console;
use self::vmm::{Accel, Guest, Vmm};
use super::netdev::Tap;
use super::snapshot::{self, Snapshot};
use super::spawn::{self, Log, Prepared, Spawned};
use super::{
    Accounting, Availability, Context, Facts, Family, Instance, Measures, StartRequest, Started,
    Target, TargetError, Usage,
};
use crate::measure::http::{first_response, Endpoint};
use crate::measure::proc;
use crate::measures::{BootStage, Measure};
use crate::paths::Paths;

/// The kernel parameter (an environment variable of init, and so of node)
/// that gives a node guest its virtio-rng device.
const NODE_HWRNG: &str = "cb_hwrng=1";

/// Guest RAM of the static server's guest.
const MEMORY_MIB: u32 = 256;
/// Guest RAM of the node guest: its initramfs (node and its libraries,
/// ≈ 100 MB) is unpacked into RAM, and node's heap comes on top.
const NODE_MEMORY_MIB: u32 = 512;
/// How long the KVM probe boot may take before KVM counts as not working.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// VMs started by this process: names and addresses derive from it.
static STARTED: AtomicU32 = AtomicU32::new(0);

/// A microVM target.
pub struct MicrovmTarget {
    vmm: Vmm,
    name: String,
    program: String,
    kernel: PathBuf,
    initrd: PathBuf,
    kernel_package: PathBuf,
    prepared: Option<Prepared>,
    tag: u32,
    accel: Accel,
    tsc_khz: Option<u64>,
    extra_cmdline: String,
    memory_mib: u32,
    /// The last console marker its guest writes before it answers.
    last_marker: &'static str,
    /// The next VMM's cgroup under an envelope, made untimed.
    spare: Spare,
    /// How it restores, if it does.
    restore_kind: Option<RestoreKind>,
    /// The snapshot `prepare` made, or why it could not.
    snapshot: snapshot::Made<VmSnapshot>,
}

/// How a QEMU target restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreKind {
    /// Everything, RAM too, from a migration stream in a file.
    Stream,
    /// Devices from a stream, RAM mapped copy-on-write from a file.
    SharedRam,
}

impl RestoreKind {
    fn describe(self) -> &'static str {
        match self {
            RestoreKind::Stream => "QEMU migration to a file (QMP migrate, after the guest listens); each instance a new QEMU with -incoming fd:3, the file on that descriptor, all of its RAM read from the stream",
            RestoreKind::SharedRam => "QEMU migration with the guest's RAM in a file (memory-backend-file, x-ignore-shared: the stream holds the devices only); each instance a new QEMU mapping that file private, copy-on-write (pages shared until written), its devices from the stream over QMP migrate-incoming",
        }
    }
}

/// A VM snapshot and what restoring it needs.
struct VmSnapshot {
    /// The folder: the stream, the RAM file, the QMP sockets.
    made: Snapshot,
    stream: PathBuf,
    /// Guest RAM, for [`RestoreKind::SharedRam`] (its restores map it).
    ram: Option<PathBuf>,
    /// The TAP the snapshot's VM had: its guest knows this address and MACs.
    tap: Tap,
    /// How long saving the running VM took (within making the snapshot).
    save: Duration,
}

impl AsRef<Snapshot> for VmSnapshot {
    fn as_ref(&self) -> &Snapshot {
        &self.made
    }
}

/// How a VM starts.
#[derive(Clone, Copy)]
enum Launch<'a> {
    Boot,
    /// From the snapshot; its RAM from its file where it has one.
    Restore(&'a VmSnapshot),
}

/// One running VM.
struct Vm {
    process: Spawned,
    tap: Tap,
    console: Option<Console>,
}

impl Vm {
    /// Kills the VMM, stops reading its console, removes the TAP; checks.
    fn teardown(self) -> Result<(), String> {
        let Vm {
            process,
            tap,
            console,
        } = self;
        let mut problems = Vec::new();
        if let Err(e) = process.stop() {
            problems.push(e.to_string());
        }
        if let Some(console) = console {
            console.finish();
        }
        if let Err(e) = tap.remove() {
            problems.push(e);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The host's TSC frequency in kHz, from /proc/cpuinfo.
fn tsc_khz() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz: f64 = info
        .lines()
        .find_map(|l| l.strip_prefix("cpu MHz"))?
        .trim_start_matches([' ', '\t', ':'])
        .trim()
        .parse()
        .ok()?;
    Some((mhz * 1000.0).round() as u64)
}

fn kvm_opens() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// Boot stages from the console's markers (ns): `boot_to_init_ns` (host:
/// asking for the VM to its init's first line: VMM, firmware, kernel),
/// `boot_kernel_ns` (the guest clock at init: the kernel's own share),
/// `boot_vmm_ns` (the rest: VMM and loader before the kernel's clock ran),
/// then module loading, network set-up, listening (guest clock), and
/// `boot_listen_to_response_ns`: the rest of the cold start. A marker reaches
/// the host with the console's own delay, different for each line, so the
/// init's host time is the earliest that every later marker (and the
/// response) allows: its arrival, or a later marker's arrival less the guest
/// time between them. The stages then add up to the cold start.
fn boot_measures(markers: &[serial::Marker], asked_at: Instant, responded: Instant) -> Measures {
    let find = |stage: &str| markers.iter().find(|m| m.stage == stage);
    let mut out = Measures::new();
    let mut push = |stage: BootStage, v: u64| out.push(Measure::Boot(stage).with(v));
    if let Some(init) = find("init") {
        let since_init =
            |m: &serial::Marker| Duration::from_nanos(m.guest_ns.saturating_sub(init.guest_ns));
        let mut init_at = markers
            .iter()
            .filter(|m| m.guest_ns >= init.guest_ns)
            .map(|m| m.arrived.checked_sub(since_init(m)).unwrap_or(m.arrived))
            .fold(init.arrived, Instant::min);
        // The last marker before the response (the server listening, or
        // init handing the guest to another program) and the stage from it
        // to the response.
        let last = [
            ("listen", BootStage::ListenToResponse),
            ("exec", BootStage::ExecToResponse),
        ]
        .into_iter()
        .find_map(|(marker, stage)| Some((find(marker)?, stage)));
        if let Some((last, _)) = last {
            init_at = init_at.min(responded.checked_sub(since_init(last)).unwrap_or(init_at));
        }
        let to_init = init_at.saturating_duration_since(asked_at).as_nanos() as u64;
        push(BootStage::ToInit, to_init);
        push(BootStage::Kernel, init.guest_ns);
        push(BootStage::Vmm, to_init.saturating_sub(init.guest_ns));
        let mut previous = init;
        let mut accounted = to_init;
        // Each stage ends at the console marker the init writes for it.
        let marked = [
            ("modules", BootStage::Modules),
            ("net", BootStage::Net),
            ("listen", BootStage::Listen),
            ("exec", BootStage::Exec),
        ];
        for (marker, stage) in marked {
            if let Some(m) = find(marker) {
                let took = m.guest_ns.saturating_sub(previous.guest_ns);
                push(stage, took);
                accounted += took;
                previous = m;
            }
        }
        if let Some((_, stage)) = last {
            let cold = responded.saturating_duration_since(asked_at).as_nanos() as u64;
            push(stage, cold.saturating_sub(accounted));
        }
    }
    out
}

impl MicrovmTarget {
    /// The target for `vmm`.
    pub fn new(paths: &Paths, vmm: Vmm) -> MicrovmTarget {
        MicrovmTarget {
            vmm,
            name: vmm.target_name().into(),
            program: vmm.program().into(),
            kernel: paths.artifact("microvm/vmlinux"),
            initrd: paths.artifact("microvm/initramfs.cpio"),
            kernel_package: paths.artifact("microvm/KERNEL"),
            prepared: None,
            tag: std::process::id(),
            accel: Accel::Tcg,
            tsc_khz: None,
            extra_cmdline: String::new(),
            memory_mib: MEMORY_MIB,
            last_marker: "listen",
            spare: Spare::default(),
            restore_kind: (vmm == Vmm::Qemu).then_some(RestoreKind::Stream),
            snapshot: None,
        }
    }

    /// `qemu-microvm-cow`: as `qemu-microvm`, restoring with its RAM mapped
    /// copy-on-write from a file.
    pub fn cow(paths: &Paths) -> MicrovmTarget {
        MicrovmTarget {
            name: COW_TARGET.into(),
            restore_kind: Some(RestoreKind::SharedRam),
            ..MicrovmTarget::new(paths, Vmm::Qemu)
        }
    }

    /// The target for `vmm` whose guest hands itself to node and the JS
    /// server (`cb_exec=node`), from `initramfs-node.cpio`.
    pub fn node(paths: &Paths, vmm: Vmm) -> MicrovmTarget {
        MicrovmTarget {
            name: vmm.node_target_name().into(),
            initrd: paths.artifact("microvm/initramfs-node.cpio"),
            // Its id comes from node's OpenSSL generator, seeded at boot: in
            // a snapshot, that state is every restore's. cb_hwrng=1 gives it
            // a virtio-rng device and tells the server to mix /dev/hwrng in.
            extra_cmdline: format!("cb_exec=node {NODE_HWRNG}"),
            memory_mib: NODE_MEMORY_MIB,
            last_marker: "exec",
            ..MicrovmTarget::new(paths, vmm)
        }
    }

    /// Appends `extra` to every guest's kernel command line (the tests use it
    /// to make a guest that never becomes ready).
    pub fn with_kernel_args(mut self, extra: &str) -> MicrovmTarget {
        if self.extra_cmdline.is_empty() {
            self.extra_cmdline = extra.to_string();
        } else {
            self.extra_cmdline = format!("{} {extra}", self.extra_cmdline);
        }
        self
    }

    fn guest(&self, tap: &Tap, accel: Accel) -> Guest {
        Guest {
            kernel: self.kernel.clone(),
            initrd: self.initrd.clone(),
            memory_mib: self.memory_mib,
            tap: tap.name.clone(),
            mac: tap.guest_mac.clone(),
            ip: tap.guest_ip.to_string(),
            accel,
            tsc_khz: self.tsc_khz,
            extra_cmdline: self.extra_cmdline.clone(),
            rng: self.extra_cmdline.contains(NODE_HWRNG),
        }
    }

    /// The VMM's arguments for `guest` (writing Firecracker's config file
    /// into the run's log folder `dir`).
    fn args(&self, guest: &Guest, n: u32, dir: &Path) -> Result<Vec<String>, String> {
        Ok(match self.vmm {
            Vmm::Qemu => vmm::qemu_args(guest),
            Vmm::CloudHypervisor => vmm::cloud_hypervisor_args(guest),
            Vmm::Firecracker => {
                let config = dir.join(format!("{}-{n}.json", self.name));
                let body =
                    vmm::firecracker_config(guest, &dir.join(format!("{}-{n}.vmm.log", self.name)));
                std::fs::write(&config, body.to_string())
                    .map_err(|e| format!("writing {}: {e}", config.display()))?;
                vec![
                    "--no-api".into(),
                    "--config-file".into(),
                    config.display().to_string(),
                ]
            }
        })
    }

    /// Boots (or restores) a VM with `accel` and waits for its first response.
    fn boot(
        &self,
        req: &StartRequest,
        accel: Accel,
        mut confined: Option<Confined>,
        how: Launch,
    ) -> Result<(Vm, Started), TargetError> {
        let Prepared { log, ctx } = Prepared::of(&self.prepared)?;
        let n = STARTED.fetch_add(1, Ordering::Relaxed) + 1;
        let tap = match how {
            Launch::Boot => Tap::plan(self.tag, n),
            Launch::Restore(s) => s.tap.clone(),
        };
        tap.create().map_err(TargetError::Start)?;
        let guest = self.guest(&tap, accel);
        // A copy-on-write restore takes its devices over QMP.
        let qmp_socket = match how {
            Launch::Restore(s) if s.ram.is_some() => {
                Some(s.made.path.join(format!("qmp-{n}.sock")))
            }
            _ => None,
        };
        let args = self.args(&guest, n, &ctx.log_dir).map(|mut args| {
            if let Launch::Restore(s) = how {
                restore_args(&mut args, s, qmp_socket.as_deref(), self.memory_mib);
            }
            args
        });
        let args = match args {
            Ok(args) => args,
            Err(e) => {
                let _ = tap.remove();
                return Err(TargetError::Start(e));
            }
        };
        let serial_log = ctx.log_dir.join(format!("{}-{n}.serial.log", self.name));
        let log_from = log.offset();
        let mut cmd = Command::new(&self.program);
        // A restore reads its stream from fd 3 (`fd:3`): no process and no
        // pipe between the file and QEMU (stdin is the serial console's).
        if let Launch::Restore(s) = how {
            let stream = match std::fs::File::open(&s.stream) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tap.remove();
                    return Err(TargetError::Start(format!(
                        "cannot open the snapshot's stream {}: {e}",
                        s.stream.display()
                    )));
                }
            };
            // SAFETY: dup2 is async-signal-safe; the closure owns the file,
            // which stays open in the parent until the command is dropped.
            unsafe {
                cmd.pre_exec(move || {
                    use nix::libc;
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
                    // dup2 onto itself would keep close-on-exec: clear it.
                    let moved = if fd == STREAM_FD {
                        libc::fcntl(fd, libc::F_SETFD, 0)
                    } else {
                        libc::dup2(fd, STREAM_FD)
                    };
                    match moved {
                        -1 => Err(std::io::Error::last_os_error()),
                        _ => Ok(()),
                    }
                });
            }
        }
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.stdio()?)
            .process_group(0);
        let child = match &mut confined {
            Some(c) => c.spawn(&mut cmd),
            None => Placement::spawn(|| cmd.spawn()),
        };
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                let _ = tap.remove();
                return Err(TargetError::Start(format!(
                    "cannot run {}: {e}",
                    self.program
                )));
            }
        };
        let console = child
            .stdout
            .take()
            .and_then(|out| Console::start(out, &serial_log).ok());
        let mut vm = Vm {
            process: Spawned::adopt_confined(child, &self.program, confined),
            tap,
            console,
        };
        let mut resumed = None;
        if let Some(socket) = &qmp_socket {
            // The devices' state over QMP, the RAM already mapped from the file.
            let incoming = incoming(socket, req.deadline);
            let _ = std::fs::remove_file(socket);
            match incoming {
                Ok(at) => resumed = Some(at),
                Err(e) => {
                    let _ = vm.teardown();
                    return Err(TargetError::Start(format!(
                        "restore failed: {e}{}",
                        log.since(log_from)
                    )));
                }
            }
        }
        let endpoint = Endpoint::direct(SocketAddr::from((vm.tap.guest_ip, 8080)));
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
                vm.process
                    .alive()
                    .map_err(|e| format!("the VMM {e} before the guest answered"))
            },
        );
        match ready {
            Ok(ready) => {
                // The listen marker may still be on its way through the
                // serial port: wait for it, outside the timed part.
                let markers = vm
                    .console
                    .as_ref()
                    .map(|c| {
                        c.wait_for(self.last_marker, Duration::from_millis(500));
                        c.markers()
                    })
                    .unwrap_or_default();
                let mut measures =
                    boot_measures(&markers, req.asked_at, ready.response.received_at);
                if let Some((up, resumed)) = resumed {
                    let since =
                        |t: Instant| t.saturating_duration_since(req.asked_at).as_nanos() as u64;
                    measures.extend([
                        Measure::RestoreVmmUpNs.with(since(up)),
                        Measure::RestoreResumedNs.with(since(resumed)),
                    ]);
                }
                let started = Started {
                    instance: Instance {
                        endpoint,
                        conn: Some(ready.conn),
                        handle: Box::new(()),
                    },
                    response: ready.response,
                    measures,
                };
                Ok((vm, started))
            }
            Err(e) => {
                let _ = vm.teardown();
                let output = log.since(log_from);
                let serial = spawn::telling_lines(&serial_log, 0);
                Err(TargetError::Start(format!(
                    "{e}{output}; the guest's serial log is kept at {}{}",
                    serial_log.display(),
                    serial.replacen("; its output:", " and ends:", 1)
                )))
            }
        }
    }

    /// Boots once under KVM, bounded: whether KVM really runs guests here.
    fn probe_kvm(&self) -> Result<(), String> {
        if !kvm_opens() {
            return Err("/dev/kvm is missing or cannot be opened".into());
        }
        let asked_at = Instant::now();
        let req = StartRequest {
            tenant: "kvm-probe",
            workload: "hello",
            asked_at,
            deadline: asked_at + PROBE_TIMEOUT,
        };
        // Only whether KVM boots a guest: no envelope.
        let (vm, started) = self
            .boot(&req, Accel::Kvm, None, Launch::Boot)
            .map_err(|e| e.to_string())?;
        drop(started);
        vm.teardown()
    }
}

/// The name of the QEMU target that restores with copy-on-write RAM.
pub const COW_TARGET: &str = "qemu-microvm-cow";

/// The restored QEMU's descriptor of its snapshot's stream.
const STREAM_FD: i32 = 3;

/// How long the snapshot's VM may take to boot and be saved.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(180);

/// QEMU's arguments for a restore of `snap`, after a boot's.
fn restore_args(args: &mut Vec<String>, snap: &VmSnapshot, qmp: Option<&Path>, memory_mib: u32) {
    match (&snap.ram, qmp) {
        (Some(ram), Some(qmp)) => {
            vmm::qemu_ram_file(args, ram, memory_mib, false);
            args.extend([
                "-qmp".to_string(),
                format!("unix:{},server=on,wait=off", qmp.display()),
                "-incoming".into(),
                "defer".into(),
            ]);
        }
        _ => args.extend(["-incoming".to_string(), format!("fd:{STREAM_FD}")]),
    }
}

/// A restored VM's devices, from the stream on [`STREAM_FD`] (its RAM is
/// the file's), until the guest runs again; when its VMM was up and when
/// its guest resumed.
fn incoming(socket: &Path, deadline: Instant) -> Result<(Instant, Instant), String> {
    let mut qmp = qmp::Qmp::connect(socket, deadline)?;
    let up = Instant::now();
    qmp.capability("x-ignore-shared")?;
    qmp.execute(
        "migrate-incoming",
        json!({ "uri": format!("fd:{STREAM_FD}") }),
    )?;
    qmp.wait_event("RESUME")?;
    Ok((up, Instant::now()))
}

impl MicrovmTarget {
    /// Boots the snapshot's VM, waits until its guest takes a connection
    /// (it listens; the connection is closed unused, so no request was
    /// served and no id made), and saves it with QMP `migrate`.
    fn make_snapshot(&self, kind: RestoreKind, ctx: &Context) -> Result<VmSnapshot, String> {
        let dir = snapshot::folder(ctx, &self.name).map_err(|e| e.to_string())?;
        let path = dir.join("vm");
        let n = STARTED.fetch_add(1, Ordering::Relaxed) + 1;
        let tap = Tap::plan(self.tag, n);
        let stream = path.join("state.stream");
        let ram = (kind == RestoreKind::SharedRam).then(|| path.join("guest.ram"));
        let mut save = Duration::ZERO;
        let made = Snapshot::make(
            path.clone(),
            &[self.kernel.clone(), self.initrd.clone()],
            |path| {
                std::fs::create_dir_all(path)
                    .map_err(|e| format!("cannot make {}: {e}", path.display()))?;
                tap.create()?;
                let saved = self.save_vm(&tap, path, &stream, ram.as_deref(), ctx);
                let removed = tap.remove();
                save = saved?;
                removed
            },
        )?;
        Ok(VmSnapshot {
            made,
            stream,
            ram,
            tap,
            save,
        })
    }

    /// Boots the VM and saves it; how long the save took.
    fn save_vm(
        &self,
        tap: &Tap,
        dir: &Path,
        stream: &Path,
        ram: Option<&Path>,
        ctx: &Context,
    ) -> Result<Duration, String> {
        let deadline = Instant::now() + SNAPSHOT_TIMEOUT;
        let guest = self.guest(tap, self.accel);
        let mut args = vmm::qemu_args(&guest);
        if let Some(ram) = ram {
            vmm::qemu_ram_file(&mut args, ram, self.memory_mib, true);
        }
        let socket = dir.join("qmp.sock");
        args.extend([
            "-qmp".to_string(),
            format!("unix:{},server=on,wait=off", socket.display()),
        ]);
        let serial = ctx
            .log_dir
            .join(format!("{}-snapshot.serial.log", self.name));
        let out =
            std::fs::File::create(&serial).map_err(|e| format!("{}: {e}", serial.display()))?;
        let mut child = Command::new(&self.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.program))?;
        let saved = (|| {
            let addr = SocketAddr::from((tap.guest_ip, 8080));
            loop {
                if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                    return Err(format!(
                        "the snapshot's VM exited ({status}) before its guest listened"
                    ));
                }
                if ctx.cancelled() {
                    return Err("interrupted".into());
                }
                if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(50)).is_ok() {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "the snapshot's VM did not listen within {SNAPSHOT_TIMEOUT:?}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Back in accept() after that connection, before it is saved.
            std::thread::sleep(Duration::from_millis(100));
            let mut qmp = qmp::Qmp::connect(&socket, deadline)?;
            if ram.is_some() {
                qmp.capability("x-ignore-shared")?;
            }
            let quoted = shlex::try_quote(&stream.to_string_lossy())
                .map_err(|e| e.to_string())?
                .into_owned();
            let saving = Instant::now();
            qmp.execute("migrate", json!({ "uri": format!("exec:cat > {quoted}") }))?;
            qmp.wait_migrated()?;
            let saved = saving.elapsed();
            let _ = qmp.execute("quit", json!({}));
            Ok(saved)
        })();
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = child.wait();
        let _ = std::fs::remove_file(&socket);
        saved.map_err(|e| format!("{e} (its console: {})", serial.display()))
    }
}

impl Target for MicrovmTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn family(&self) -> Family {
        Family::Microvm
    }

    fn availability(&self) -> Availability {
        if !self.kernel.is_file() || !self.initrd.is_file() {
            return Availability::Unavailable {
                reason: "the guest kernel or initramfs is missing: run `just setup` (fetches the kernel), then `just build`".into(),
            };
        }
        if !nix::unistd::Uid::effective().is_root() {
            return Availability::Unavailable {
                reason: "microVMs need root here (a TAP device per VM)".into(),
            };
        }
        let hint = match self.vmm {
            Vmm::Qemu => "qemu-system-x86_64 is not installed: run `just setup`".to_string(),
            Vmm::Firecracker => "firecracker is not on PATH: it is not packaged for Debian 12; put a release binary \
                                 (github.com/firecracker-microvm/firecracker/releases) on PATH on a host where KVM works"
                .to_string(),
            Vmm::CloudHypervisor => "cloud-hypervisor is not on PATH: it is not packaged for Debian 12; put a release \
                                     binary (github.com/cloud-hypervisor/cloud-hypervisor/releases) on PATH on a host \
                                     where KVM works"
                .to_string(),
        };
        if spawn::resolve(Path::new(&self.program)).is_none() {
            return Availability::Unavailable { reason: hint };
        }
        if self.vmm != Vmm::Qemu && !kvm_opens() {
            return Availability::Unavailable {
                reason: format!("{} needs KVM and /dev/kvm cannot be opened", self.program),
            };
        }
        spawn::version(Path::new(&self.program), &hint)
    }

    fn prepare(&mut self, ctx: &Context) -> Result<Facts, TargetError> {
        super::netdev::sweep_dead_runs();
        let log = Log::open(ctx, &self.name)?;
        self.prepared = Some(Prepared {
            log,
            ctx: ctx.clone(),
        });
        self.tsc_khz = tsc_khz();
        let mut facts = Facts::new();
        facts.insert(
            "kernel_package".into(),
            json!(std::fs::read_to_string(&self.kernel_package)
                .unwrap_or_default()
                .trim()),
        );
        spawn::file_facts(&mut facts, "kernel", &self.kernel)?;
        let initramfs = spawn::file_facts(&mut facts, "initramfs", &self.initrd)?.len() as u64;
        if let Some(envelope) = &ctx.envelope {
            // The kernel holds the archive and what it unpacks at once: a
            // guest smaller than twice the archive cannot boot.
            let needs = 2 * initramfs + (32 << 20);
            if envelope.memory_bytes() < needs {
                return Err(TargetError::Prepare(format!(
                    "envelope {} gives the guest {} MiB, and this guest's root is a {} MiB initramfs held in RAM \
                     (it needs about {} MiB to boot); a platform keeps its runtime on a disk",
                    envelope.name,
                    envelope.memory_mib,
                    initramfs >> 20,
                    needs >> 20
                )));
            }
            self.memory_mib = envelope.memory_mib as u32;
        }
        facts.insert("memory_mib".into(), json!(self.memory_mib));
        facts.insert("vcpus".into(), json!(1));
        facts.insert(
            "network".into(),
            json!("a TAP device per VM with a /30 and a permanent neighbour entry, made with `ip -batch` in the cold path"),
        );
        self.accel = match self.probe_kvm() {
            Ok(()) => {
                facts.insert(
                    "accel_probe".into(),
                    json!("a guest booted and answered under KVM: using KVM"),
                );
                Accel::Kvm
            }
            Err(why) if self.vmm == Vmm::Qemu => {
                facts.insert(
                    "accel_probe".into(),
                    json!(format!(
                        "no guest answered under KVM ({}): using TCG, emulation",
                        crate::spec::truncate(&why, 300)
                    )),
                );
                Accel::Tcg
            }
            Err(why) => {
                return Err(TargetError::Prepare(format!(
                    "{} needs KVM, and a guest did not boot under KVM here: {}",
                    self.program,
                    crate::spec::truncate(&why, 300)
                )))
            }
        };
        if let Some(khz) = self.tsc_khz {
            facts.insert("tsc_khz".into(), json!(khz));
        }
        // The command line of a VM, exactly: only the TAP, MAC and address
        // change from one VM to the next.
        let example = Tap::plan(self.tag, STARTED.load(Ordering::Relaxed) + 1);
        let guest = self.guest(&example, self.accel);
        let args = match self.vmm {
            Vmm::Firecracker => vmm::firecracker_config(&guest, Path::new("<log>")).to_string(),
            _ => self
                .args(&guest, 0, &ctx.log_dir)
                .map(|a| {
                    shlex::try_join(a.iter().map(String::as_str)).unwrap_or_else(|_| a.join(" "))
                })
                .unwrap_or_default(),
        };
        facts.insert(
            "command_line".into(),
            json!(format!("{} {args}", self.program)),
        );
        if let Some(kind) = self.restore_kind.filter(|_| ctx.restore) {
            let made = self.make_snapshot(kind, ctx);
            if let Ok(s) = &made {
                s.made.facts(&mut facts);
                facts.insert("snapshot_save_ns".into(), json!(s.save.as_nanos() as u64));
            }
            self.snapshot = Some(made);
        }
        Ok(facts)
    }

    fn ready(&mut self) {
        if let Some(p) = &self.prepared {
            let envelope = p.ctx.envelope.as_ref();
            self.spare.ready(envelope, &self.name, Confined::cpu_only);
        }
        if let Some(Ok(s)) = &mut self.snapshot {
            s.made.recheck();
        }
    }

    fn start(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        let Prepared { ctx, .. } = Prepared::of(&self.prepared)?;
        let confined = self
            .spare
            .take(ctx.envelope.as_ref(), &self.name, Confined::cpu_only)
            .map_err(TargetError::Start)?;
        let (vm, mut started) = self.boot(req, self.accel, confined, Launch::Boot)?;
        started.instance.handle = Box::new(vm);
        Ok(started)
    }

    fn restore_support(&self) -> Result<String, String> {
        match self.restore_kind {
            Some(kind) => snapshot::support(kind.describe(), &self.snapshot),
            None => Err(format!(
                "{}'s snapshots (needs KVM) are not driven by coldbench yet",
                self.program
            )),
        }
    }

    fn restore(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        let snap = snapshot::ready(&self.snapshot)?;
        let Prepared { ctx, .. } = Prepared::of(&self.prepared)?;
        let confined = self
            .spare
            .take(ctx.envelope.as_ref(), &self.name, Confined::cpu_only)
            .map_err(TargetError::Start)?;
        let (vm, mut started) = self.boot(req, self.accel, confined, Launch::Restore(snap))?;
        started.instance.handle = Box::new(vm);
        Ok(started)
    }

    fn cpu_ns(&mut self, instance: &Instance) -> Option<u64> {
        instance.state::<Vm>()?.process.cpu_ns()
    }

    fn measure(&mut self, instance: &Instance) -> Usage {
        let Some(vm) = instance.state::<Vm>() else {
            return Usage::default();
        };
        let mut usage = vm.process.usage();
        // Firecracker's memory test: the VMM's own memory is what is left
        // when the guest's RAM mapping is taken out.
        if let (Some(mem), Some(ram)) = (
            usage.mem,
            proc::largest_mapping(vm.process.pid(), u64::from(self.memory_mib) << 20),
        ) {
            usage.extra.extend([
                Measure::GuestRamPssBytes.with(ram.pss_bytes),
                Measure::VmmOverheadPssBytes.with(mem.pss_bytes.saturating_sub(ram.pss_bytes)),
                Measure::VmmOverheadRssBytes.with(mem.rss_bytes.saturating_sub(ram.rss_bytes)),
            ]);
        }
        usage
    }

    fn stop(&mut self, instance: Instance) -> Result<(), TargetError> {
        let vm = instance.into_state::<Vm>()?;
        vm.teardown().map_err(TargetError::Cleanup)
    }

    fn accel(&self) -> &str {
        self.accel.as_str()
    }

    fn accounting(&self) -> Accounting {
        Accounting {
            cpu: format!("the {} process, all threads (vCPU and device threads)", self.program),
            memory: format!(
                "PSS and RSS of the {} process; measures.csv adds the guest RAM mapping's PSS and the VMM's own \
                 overhead without it ({}, as Firecracker's memory test counts)",
                self.program,
                Measure::VmmOverheadPssBytes,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn boot_stages_add_up_to_the_cold_start_whatever_the_console_delays() {
        let asked = Instant::now();
        let ms = Duration::from_millis;
        let marker = |stage: &str, guest_ms: u64, arrived_ms: u64| serial::Marker {
            stage: stage.into(),
            guest_ns: guest_ms * 1_000_000,
            arrived: asked + ms(arrived_ms),
        };
        // The init line reaches the host 30 ms late, the later ones on time.
        let markers = [
            marker("init", 800, 1430),
            marker("modules", 860, 1460),
            marker("net", 900, 1500),
            marker("listen", 904, 1504),
        ];
        let m = boot_measures(&markers, asked, asked + ms(1530));
        let get = |name: &str| m.iter().find(|(k, _)| k == name).unwrap().1;
        // Every later marker says init happened at 1400 ms.
        assert_eq!(get("boot_to_init_ns"), 1_400_000_000);
        assert_eq!(get("boot_kernel_ns") + get("boot_vmm_ns"), 1_400_000_000);
        let stages: u64 = ["to_init", "modules", "net", "listen", "listen_to_response"]
            .iter()
            .map(|s| get(&format!("boot_{s}_ns")))
            .sum();
        assert_eq!(stages, 1_530_000_000, "{m:?}");
        assert_eq!(get("boot_listen_to_response_ns"), 26_000_000);
    }

    #[test]
    fn a_full_boot_writes_every_boot_stage_and_only_known_measures() {
        let asked = Instant::now();
        let marker = |stage: &str, guest_ms: u64| serial::Marker {
            stage: stage.into(),
            guest_ns: guest_ms * 1_000_000,
            arrived: asked + Duration::from_millis(guest_ms + 500),
        };
        let written = |stages: &[&str]| -> Vec<Measure> {
            let markers: Vec<serial::Marker> = stages
                .iter()
                .enumerate()
                .map(|(i, s)| marker(s, 800 + 10 * i as u64))
                .collect();
            boot_measures(&markers, asked, asked + Duration::from_secs(2))
                .iter()
                .map(|(name, _)| Measure::parse(name).unwrap_or_else(|| panic!("unknown: {name}")))
                .collect()
        };
        let of = |stages: &[BootStage]| -> Vec<Measure> {
            stages.iter().map(|&s| Measure::Boot(s)).collect()
        };
        let first = [
            BootStage::ToInit,
            BootStage::Kernel,
            BootStage::Vmm,
            BootStage::Modules,
            BootStage::Net,
        ];
        // The static server's guest, and a guest that hands itself to node.
        let listen = [
            &first[..],
            &[BootStage::Listen, BootStage::ListenToResponse],
        ]
        .concat();
        let exec = [&first[..], &[BootStage::Exec, BootStage::ExecToResponse]].concat();
        assert_eq!(written(&["init", "modules", "net", "listen"]), of(&listen));
        assert_eq!(written(&["init", "modules", "net", "exec"]), of(&exec));
        // Between them, every stage there is.
        let mut both = [listen, exec].concat();
        both.sort();
        both.dedup();
        let mut every: Vec<BootStage> = BootStage::ALL.to_vec();
        every.sort();
        assert_eq!(of(&both), of(&every));
    }
}
