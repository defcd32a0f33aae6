//! How each VMM is told to boot one guest: the QEMU microvm command line,
//! Firecracker's config file, Cloud Hypervisor's command line. All three
//! boot the same ELF vmlinux (PVH) and initramfs with one vCPU, the same
//! memory, one virtio-net NIC on a TAP device, and the serial console.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The VMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vmm {
    /// QEMU's `microvm` machine (Debian's qemu-system-x86).
    Qemu,
    /// Firecracker (needs KVM).
    Firecracker,
    /// Cloud Hypervisor (needs KVM).
    CloudHypervisor,
}

impl Vmm {
    /// Its target's name.
    pub fn target_name(self) -> &'static str {
        match self {
            Vmm::Qemu => "qemu-microvm",
            Vmm::Firecracker => "firecracker",
            Vmm::CloudHypervisor => "cloud-hypervisor",
        }
    }

    /// The name of its target whose guest runs node.
    pub fn node_target_name(self) -> &'static str {
        match self {
            Vmm::Qemu => "qemu-microvm-node",
            Vmm::Firecracker => "firecracker-node",
            Vmm::CloudHypervisor => "cloud-hypervisor-node",
        }
    }

    /// The program that runs it.
    pub fn program(self) -> &'static str {
        match self {
            Vmm::Qemu => "qemu-system-x86_64",
            Vmm::Firecracker => "firecracker",
            Vmm::CloudHypervisor => "cloud-hypervisor",
        }
    }
}

/// What runs the guest's vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// QEMU's binary translation: emulation, many times slower.
    Tcg,
}

impl Accel {
    /// As recorded in samples: `kvm` or `tcg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// One guest.
#[derive(Clone, Debug)]
pub struct Guest {
    /// ELF vmlinux.
    pub kernel: PathBuf,
    /// The initramfs (its /init is the function server).
    pub initrd: PathBuf,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// TAP device on the host.
    pub tap: String,
    /// The guest NIC's MAC.
    pub mac: String,
    /// The guest's address (passed to its init as `cb_ip`).
    pub ip: String,
    /// Accelerator.
    pub accel: Accel,
    /// Host TSC frequency for `tsc_early_khz` under TCG, where the guest's
    /// own calibration against the PIT fails at random on a busy host.
    pub tsc_khz: Option<u64>,
    /// Appended to the kernel command line (tests use it).
    pub extra_cmdline: String,
    /// A virtio-rng device fed by the host's /dev/urandom (QEMU): a guest
    /// restored from a snapshot reads fresh bytes from /dev/hwrng.
    pub rng: bool,
}

/// Kernel parameters every VMM uses: a quiet serial console, a kernel panic
/// ends the VM at once, no legacy keyboard probing, no crypto self-tests,
/// and the `cb_*` parameters the kernel hands to /init as its environment.
fn cmdline(guest: &Guest, vmm: Vmm) -> String {
    let mut parts = vec![
        "console=ttyS0".to_string(),
        "quiet".into(),
        "8250.nr_uarts=1".into(),
        "i8042.noaux".into(),
        "i8042.nomux".into(),
        "i8042.dumbkbd".into(),
        "cryptomgr.notests".into(),
    ];
    match vmm {
        // QEMU with -no-reboot exits on a triple fault; ACPI finds the
        // virtio-mmio devices (the Debian kernel has no virtio_mmio.device=).
        Vmm::Qemu => parts.extend(["panic=-1", "reboot=t", "pci=off"].map(String::from)),
        Vmm::Firecracker => parts.extend(["panic=1", "reboot=k", "pci=off"].map(String::from)),
        // Cloud Hypervisor's virtio devices are PCI only.
        Vmm::CloudHypervisor => parts.extend(["panic=1", "reboot=k"].map(String::from)),
    }
    if let (Accel::Tcg, Some(khz)) = (guest.accel, guest.tsc_khz) {
        parts.push(format!("tsc_early_khz={khz}"));
    }
    let bus = if vmm == Vmm::CloudHypervisor {
        "pci"
    } else {
        "mmio"
    };
    parts.extend([
        "cb_vm=1".to_string(),
        format!("cb_bus={bus}"),
        format!("cb_ip={}", guest.ip),
    ]);
    if !guest.extra_cmdline.is_empty() {
        parts.push(guest.extra_cmdline.clone());
    }
    parts.join(" ")
}

/// `qemu-system-x86_64` arguments. The machine keeps ACPI (device discovery),
/// the PIT and the RTC on (off, TCG guests hang or wait seconds), drops
/// option ROMs and every default device.
pub fn qemu_args(guest: &Guest) -> Vec<String> {
    let accel = match guest.accel {
        Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
        Accel::Tcg => ["-accel", "tcg", "-cpu", "max"],
    };
    let mut args: Vec<String> = vec![
        "-M".into(),
        "microvm,x-option-roms=off,isa-serial=on".into(),
    ];
    args.extend(accel.map(String::from));
    args.extend(
        [
            "-m",
            &guest.memory_mib.to_string(),
            "-smp",
            "1",
            "-nodefaults",
            "-no-user-config",
            "-nographic",
            "-no-reboot",
            "-serial",
            "stdio",
            "-kernel",
            &guest.kernel.display().to_string(),
            "-initrd",
            &guest.initrd.display().to_string(),
            "-append",
            &cmdline(guest, Vmm::Qemu),
            "-netdev",
            &format!("tap,id=n0,ifname={},script=no,downscript=no", guest.tap),
            "-device",
            &format!("virtio-net-device,netdev=n0,mac={}", guest.mac),
        ]
        .map(String::from),
    );
    if guest.rng {
        args.extend(
            [
                "-object",
                "rng-random,id=rng0,filename=/dev/urandom",
                "-device",
                "virtio-rng-device,rng=rng0",
            ]
            .map(String::from),
        );
    }
    args
}

/// Puts the guest's RAM of QEMU `args` in the file `ram`, mapped shared
/// (the snapshot's VM writes its memory there) or private (a restored VM
/// maps it copy-on-write: its pages are the file's until it writes them).
pub fn qemu_ram_file(args: &mut Vec<String>, ram: &Path, memory_mib: u32, shared: bool) {
    if let Some(i) = args.iter().position(|a| a == "-M") {
        if let Some(machine) = args.get_mut(i + 1) {
            machine.push_str(",memory-backend=ram0");
        }
    }
    args.extend([
        "-object".to_string(),
        format!(
            "memory-backend-file,id=ram0,size={memory_mib}M,mem-path={},share={}",
            ram.display(),
            if shared { "on" } else { "off" }
        ),
    ]);
}

/// Firecracker's `--config-file`: the API's resources by name; the config
/// file also starts the VM (`firecracker --no-api --config-file F`).
pub fn firecracker_config(guest: &Guest, log: &Path) -> Value {
    json!({
        "boot-source": {
            "kernel_image_path": guest.kernel,
            "initrd_path": guest.initrd,
            // Our own boot_args: Firecracker's defaults add `nomodule`, which
            // would stop the init loading virtio.
            "boot_args": cmdline(guest, Vmm::Firecracker),
        },
        "drives": [],
        "machine-config": { "vcpu_count": 1, "mem_size_mib": guest.memory_mib, "smt": false },
        "network-interfaces": [
            { "iface_id": "eth0", "host_dev_name": guest.tap, "guest_mac": guest.mac }
        ],
        "logger": { "log_path": log, "level": "Info", "show_level": false, "show_log_origin": false },
    })
}

/// `cloud-hypervisor` arguments: direct kernel boot, the serial port as the
/// console (no virtio-console), one NIC on the TAP.
pub fn cloud_hypervisor_args(guest: &Guest) -> Vec<String> {
    [
        "--kernel",
        &guest.kernel.display().to_string(),
        "--initramfs",
        &guest.initrd.display().to_string(),
        "--cmdline",
        &cmdline(guest, Vmm::CloudHypervisor),
        "--cpus",
        "boot=1",
        "--memory",
        &format!("size={}M", guest.memory_mib),
        "--net",
        &format!("tap={},mac={}", guest.tap, guest.mac),
        "--serial",
        "tty",
        "--console",
        "off",
    ]
    .map(String::from)
    .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(accel: Accel) -> Guest {
        Guest {
            kernel: "/k/vmlinux".into(),
            initrd: "/k/initramfs.cpio".into(),
            memory_mib: 256,
            tap: "cbt1n2".into(),
            mac: "06:00:0a:cb:00:06".into(),
            ip: "10.203.0.6".into(),
            accel,
            tsc_khz: Some(2_596_140),
            extra_cmdline: String::new(),
            rng: false,
        }
    }

    fn after<'a>(args: &'a [String], flag: &str) -> &'a str {
        let i = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
        &args[i + 1]
    }

    #[test]
    fn qemu_boots_the_elf_kernel_on_microvm_with_a_tap_nic() {
        let args = qemu_args(&guest(Accel::Tcg));
        assert_eq!(
            after(&args, "-M"),
            "microvm,x-option-roms=off,isa-serial=on"
        );
        assert_eq!(after(&args, "-accel"), "tcg");
        assert_eq!(after(&args, "-kernel"), "/k/vmlinux");
        assert_eq!(
            after(&args, "-netdev"),
            "tap,id=n0,ifname=cbt1n2,script=no,downscript=no"
        );
        let cmdline = after(&args, "-append");
        for p in [
            "console=ttyS0",
            "pci=off",
            "tsc_early_khz=2596140",
            "cb_vm=1",
            "cb_bus=mmio",
            "cb_ip=10.203.0.6",
        ] {
            assert!(
                cmdline.split(' ').any(|x| x == p),
                "{p} missing from {cmdline}"
            );
        }
        assert!(!cmdline.contains("nomodule"));
        assert!(!args.iter().any(|a| a.contains("virtio-rng")));
        let rng = qemu_args(&Guest {
            rng: true,
            ..guest(Accel::Tcg)
        });
        assert_eq!(
            rng[rng.len() - 4..],
            [
                "-object",
                "rng-random,id=rng0,filename=/dev/urandom",
                "-device",
                "virtio-rng-device,rng=rng0"
            ]
        );
        let kvm = qemu_args(&guest(Accel::Kvm));
        assert_eq!(
            (after(&kvm, "-accel"), after(&kvm, "-cpu")),
            ("kvm", "host")
        );
        assert!(
            !after(&kvm, "-append").contains("tsc_early_khz"),
            "only TCG needs the TSC hint"
        );
    }

    #[test]
    fn guest_ram_moves_into_a_file_shared_or_copy_on_write() {
        let mut args = qemu_args(&guest(Accel::Tcg));
        qemu_ram_file(&mut args, Path::new("/dev/shm/r.ram"), 256, false);
        assert_eq!(
            after(&args, "-M"),
            "microvm,x-option-roms=off,isa-serial=on,memory-backend=ram0"
        );
        assert_eq!(
            after(&args, "-object"),
            "memory-backend-file,id=ram0,size=256M,mem-path=/dev/shm/r.ram,share=off"
        );
    }

    #[test]
    fn firecracker_gets_its_own_boot_args_and_a_tap_nic() {
        let c = firecracker_config(&guest(Accel::Kvm), Path::new("/r/fc.log"));
        assert_eq!(c["boot-source"]["kernel_image_path"], "/k/vmlinux");
        assert_eq!(c["boot-source"]["initrd_path"], "/k/initramfs.cpio");
        let args = c["boot-source"]["boot_args"].as_str().unwrap();
        assert!(
            args.contains("cb_bus=mmio") && args.contains("pci=off") && args.contains("reboot=k")
        );
        assert!(
            !args.contains("nomodule"),
            "Firecracker's default `nomodule` would stop the init"
        );
        assert_eq!(
            c["machine-config"],
            json!({"vcpu_count": 1, "mem_size_mib": 256, "smt": false})
        );
        assert_eq!(c["network-interfaces"][0]["host_dev_name"], "cbt1n2");
        assert_eq!(c["network-interfaces"][0]["guest_mac"], "06:00:0a:cb:00:06");
        assert_eq!(
            c["drives"],
            json!([]),
            "the initramfs is the root: no drive"
        );
    }

    #[test]
    fn cloud_hypervisor_uses_pci_and_the_serial_console() {
        let args = cloud_hypervisor_args(&guest(Accel::Kvm));
        assert_eq!(after(&args, "--kernel"), "/k/vmlinux");
        assert_eq!(after(&args, "--memory"), "size=256M");
        assert_eq!(after(&args, "--net"), "tap=cbt1n2,mac=06:00:0a:cb:00:06");
        assert_eq!(
            (after(&args, "--serial"), after(&args, "--console")),
            ("tty", "off")
        );
        let cmdline = after(&args, "--cmdline");
        assert!(
            cmdline.contains("cb_bus=pci") && !cmdline.contains("pci=off"),
            "{cmdline}"
        );
    }
}
