//! When the function server is a microVM's `/init` (the kernel passes
//! `cb_vm=1` and the other `cb_*` parameters of its command line to init as
//! environment variables): bring up what the server needs, and say when.
//!
//! Each stage writes `COLDBENCH <stage> <ns>` to the console (the VM's serial
//! port), `<ns>` being the guest's CLOCK_MONOTONIC, which starts when the
//! kernel's timekeeping does: the host stamps each line as it arrives, so
//! the boot breaks down into VMM + kernel, module loading, network, listen.

use std::ffi::CString;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;

/// True when running as a microVM's init.
pub fn requested() -> bool {
    std::process::id() == 1 && std::env::var("cb_vm").is_ok_and(|v| v == "1")
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Writes a boot marker to the console.
pub fn marker(stage: &str) {
    let line = format!("COLDBENCH {stage} {}\n", monotonic_ns());
    let _ = std::io::stdout().write_all(line.as_bytes());
    let _ = std::io::stdout().flush();
}

fn fail(what: &str) -> ! {
    eprintln!("COLDBENCH fail {what}: {}", std::io::Error::last_os_error());
    // As pid 1, exiting panics the kernel; with panic=-1 the VM ends at once.
    std::process::exit(1)
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// Mounts /dev, takes the console as stdio, loads the modules in
/// /lib/modules (in name order), configures eth0, and returns the address to
/// listen on (`cb_listen`).
pub fn boot() -> String {
    // SAFETY: plain syscalls on NUL-terminated strings owned here.
    unsafe {
        if libc::mount(
            cstr("devtmpfs").as_ptr(),
            cstr("/dev").as_ptr(),
            cstr("devtmpfs").as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            fail("mount /dev");
        }
        let console = libc::open(cstr("/dev/console").as_ptr(), libc::O_RDWR);
        if console >= 0 {
            for fd in 0..3 {
                libc::dup2(console, fd);
            }
        }
    }
    marker("init");
    load_modules();
    marker("modules");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let ip: Ipv4Addr = env("cb_ip")
        .parse()
        .unwrap_or_else(|_| fail("cb_ip missing"));
    let mask: Ipv4Addr = env("cb_mask")
        .parse()
        .unwrap_or(Ipv4Addr::new(255, 255, 255, 252));
    configure_network(ip, mask);
    marker("net");
    let listen = env("cb_listen");
    if listen.is_empty() {
        format!("{ip}:8080")
    } else {
        listen
    }
}

/// The node server's command, when the kernel asked init to hand the
/// booted guest over to it (`cb_exec=node`; the node microVM's initramfs
/// holds node and the JS server at these paths). Anything else fails.
pub fn exec_requested(listen: &str) -> Option<Vec<String>> {
    match std::env::var("cb_exec").ok()?.as_str() {
        "node" => Some(
            [
                "/usr/bin/node",
                "/app/targets/process/node/server.mjs",
                "--listen",
                listen,
            ]
            .map(String::from)
            .to_vec(),
        ),
        other => fail(&format!("cb_exec={other} is not known (known: node)")),
    }
}

/// Mounts /proc and a /tmp (node reads /proc/self and may write /tmp),
/// marks `exec` and becomes `cmd`: as pid 1 its exit ends the VM.
pub fn exec(cmd: &[String]) -> ! {
    // SAFETY: plain syscalls on NUL-terminated strings owned here; argv is
    // a NULL-terminated array of pointers into `args`, alive across execv.
    unsafe {
        for (source, target, kind) in [("proc", "/proc", "proc"), ("tmpfs", "/tmp", "tmpfs")] {
            // The folder may be in the initramfs already.
            libc::mkdir(cstr(target).as_ptr(), 0o755);
            if libc::mount(
                cstr(source).as_ptr(),
                cstr(target).as_ptr(),
                cstr(kind).as_ptr(),
                0,
                std::ptr::null(),
            ) != 0
            {
                fail(&format!("mount {target}"));
            }
        }
        marker("exec");
        let args: Vec<CString> = cmd.iter().map(|a| cstr(a)).collect();
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        libc::execv(args[0].as_ptr(), argv.as_ptr());
    }
    fail("exec")
}

fn load_modules() {
    let mut modules: Vec<_> = std::fs::read_dir("/lib/modules")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    modules.sort();
    // The initramfs carries virtio for both transports; load only the one
    // the VMM's devices use (`cb_bus=mmio` or `cb_bus=pci`).
    let skip = match std::env::var("cb_bus").as_deref() {
        Ok("pci") => "virtio_mmio",
        _ => "virtio_pci",
    };
    modules.retain(|m| !m.to_string_lossy().contains(skip));
    for module in modules {
        let path = cstr(&module.to_string_lossy());
        // SAFETY: finit_module takes an open descriptor and an empty
        // parameter string.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::syscall(libc::SYS_finit_module, fd, cstr("").as_ptr(), 0) != 0 {
                // A module the kernel already has is fine; anything else is not.
                if std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                    fail(&format!("loading {}", module.display()));
                }
            }
            libc::close(fd);
        }
    }
}

fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req
}

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the kernel reads it
    // back as sockaddr_in for AF_INET.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn configure_network(ip: Ipv4Addr, mask: Ipv4Addr) {
    // SAFETY: ioctls on a socket with ifreq values built above.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if sock < 0 {
            fail("socket");
        }
        let up = |name: &str| {
            let mut req = ifreq(name);
            req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) == 0
        };
        up("lo");
        // virtio_net probes eth0 asynchronously: wait for it (bounded).
        let mut tries = 0;
        while libc::ioctl(sock, libc::SIOCGIFFLAGS, &ifreq("eth0")) != 0 {
            tries += 1;
            if tries > 5000 {
                fail("eth0 never appeared");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut req = ifreq("eth0");
        req.ifr_ifru.ifru_addr = sockaddr(ip);
        if libc::ioctl(sock, libc::SIOCSIFADDR, &req) != 0 {
            fail("eth0 address");
        }
        let mut req = ifreq("eth0");
        req.ifr_ifru.ifru_netmask = sockaddr(mask);
        if libc::ioctl(sock, libc::SIOCSIFNETMASK, &req) != 0 {
            fail("eth0 netmask");
        }
        if !up("eth0") {
            fail("eth0 up");
        }
        libc::close(sock);
    }
}
