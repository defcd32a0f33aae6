#!/usr/bin/env bash
# Installs what the targets need. Idempotent: what is already there is left
# alone. apt-get needs root; without root, what is missing is listed with the
# command to install it, and the targets that need it are reported
# unavailable (with the reason) when a run starts.
set -euo pipefail
cd "$(dirname "$0")/.."

missing_pkgs=()
need_pkg() { # need_pkg PACKAGE [PROBE-COMMAND]
    local pkg=$1 probe=${2:-}
    if [ -n "$probe" ]; then
        command -v "$probe" >/dev/null 2>&1 && return 0
    else
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" && return 0
    fi
    missing_pkgs+=("$pkg")
}

# process family: Node.js for `node` (machines of this project ship Node 20).
need_pkg nodejs node
# npm installs the isolate runtimes (Debian packages it apart from nodejs).
need_pkg npm npm
# python3 unpacks the guest kernel and runs tools/; pgrep (procps) finds
# daemons and leftovers.
need_pkg python3 python3
need_pkg procps pgrep
# The Rust workload must build with Debian's rustc 1.63, which also builds the
# wasm32 guest (rustup cannot add targets on these machines).
need_pkg rustc /usr/bin/rustc
need_pkg libstd-rust-dev-wasm32
# Debian's /usr/bin/rust-lld (the wasm32 linker) is a link to lld-14, which
# rustc only suggests and the wasm32 std only recommends: without it the link
# dangles and build-wasm fails with "linker `rust-lld` not found".
need_pkg lld-14
# container family: the runtimes, and iproute2 for containers' own networks.
need_pkg runc /usr/sbin/runc
need_pkg crun
# gVisor (Google Cloud Run's first-generation sandbox).
need_pkg runsc
need_pkg podman
# CRIU checkpoints and restores runc/crun/podman/docker containers (phase
# restore): its `criu check` says whether it works on this kernel.
need_pkg criu /usr/sbin/criu
need_pkg docker.io /usr/sbin/dockerd
need_pkg iproute2
# microVM family: QEMU, and the tools that unpack the guest kernel and
# build its initramfs.
need_pkg qemu-system-x86 qemu-system-x86_64
need_pkg cpio
need_pkg lz4
need_pkg zstd
need_pkg xz-utils
# The report is checked in a real browser, and screenshotted.
need_pkg chromium

if [ ${#missing_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing ${missing_pkgs[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}"
    else
        echo "setup: missing ${missing_pkgs[*]}: run 'sudo just setup' (targets that need them will be skipped)" >&2
    fi
fi
# The microVMs' guest kernel: Debian's cloud kernel, this ABI preferred
# (pinned); if the archive no longer has it, the current one, recorded in
# artifacts/kernel/PACKAGE either way (and from there in every run.json).
KERNEL_PACKAGE=linux-image-6.1.0-56-cloud-amd64
kernel_dir=artifacts/kernel
if [ ! -f "$kernel_dir/PACKAGE" ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$kernel_dir" && chmod 0777 "$kernel_dir"
    fetch() { (cd "$kernel_dir" && apt-get download -q "$1" >/dev/null 2>&1); }
    package=$KERNEL_PACKAGE
    if ! fetch "$package"; then
        apt-get update -q >/dev/null
        fetch "$package" || {
            package=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
            echo "setup: $KERNEL_PACKAGE is no longer in the archive; using $package"
            fetch "$package"
        }
    fi
    deb=$(ls "$kernel_dir"/"$package"_*.deb | head -1)
    rm -rf "$kernel_dir/root" && dpkg -x "$deb" "$kernel_dir/root"
    echo "$package $(dpkg-deb -f "$deb" Version)" > "$kernel_dir/PACKAGE"
    echo "setup: guest kernel $(cat "$kernel_dir/PACKAGE")"
elif [ ! -f "$kernel_dir/PACKAGE" ]; then
    echo "setup: the microVMs' guest kernel is not fetched: run 'sudo just setup'" >&2
fi

# crun refuses a cgroup-v1 hybrid host while cgroup2 still holds a
# controller (these machines leave hugetlb there): mount each such
# controller as v1, as the other controllers are.
unified=/sys/fs/cgroup/unified/cgroup.controllers
if [ "$(id -u)" = 0 ] && [ -f "$unified" ]; then
    for controller in $(cat "$unified"); do
        echo "setup: mounting cgroup controller $controller as v1 (for crun)"
        mkdir -p "/sys/fs/cgroup/$controller"
        mount -t cgroup -o "$controller" cgroup "/sys/fs/cgroup/$controller" || echo "setup: could not mount $controller: crun will be unavailable" >&2
    done
fi

# docker needs its daemon. Without systemd nothing starts it: start dockerd
# here if none answers (iptables left alone: the harness reaches containers
# on their bridge addresses from the host, which needs no NAT).
if command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    if ! pgrep -x dockerd >/dev/null; then
        # Left by a dockerd that was killed: a new one would wait for them.
        rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
    fi
    echo "setup: starting dockerd --iptables=false (log: /var/log/coldbench-dockerd.log)"
    setsid nohup dockerd --iptables=false >/var/log/coldbench-dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 60); do
        docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker version --format 'setup: dockerd {{.Server.Version}} is up' || echo "setup: dockerd did not come up: see /var/log/coldbench-dockerd.log (docker targets will be skipped)" >&2
fi

# isolate family: workerd and Deno, pinned in targets/isolate/package-lock.json.
if command -v npm >/dev/null 2>&1; then
    lock=targets/isolate/package-lock.json
    stamp=targets/isolate/node_modules/.coldbench-lock.sha256
    want=$(sha256sum "$lock" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "setup: installing the isolate runtimes (npm ci in targets/isolate)"
        (cd targets/isolate && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" > "$stamp"
    fi
else
    echo "setup: npm is missing: install Node.js with npm, then run 'just setup' again (isolate targets will be skipped)" >&2
fi

# Prove it: every tool the build, the targets and the tests use, one line per
# tool that fails, with the fix. As root setup installs all of them, so a
# failure there is an error; without root it only informs (the targets that
# need a missing tool are reported unavailable when a run starts).
failed=0
check() { # check WHAT FIX COMMAND...
    local what=$1 fix=$2
    shift 2
    if ! "$@" >/dev/null 2>&1; then
        echo "setup: check failed: $what: $fix" >&2
        failed=$((failed + 1))
    fi
}
wasm_links() { # Debian's rustc, its wasm32 std and rust-lld, end to end
    local dir
    dir=$(mktemp -d)
    echo '#[no_mangle] pub extern "C" fn f() -> u32 { 1 }' > "$dir/f.rs"
    /usr/bin/rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -o "$dir/f.wasm" "$dir/f.rs"
    local ok=$?
    rm -rf "$dir"
    return $ok
}
crun_can_run() { # crun refuses a hybrid host whose cgroup2 still holds a controller
    # (cgroupfs files report size 0, so read the content, not the size)
    ! grep -q . /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null
}
docker_answers() { docker version --format '{{.Server.Version}}'; }
isolate=targets/isolate/node_modules
check "cc (links the native builds)" "apt-get install gcc libc6-dev" command -v cc
check "/usr/bin/rustc (Debian's rustc, builds the wasm32 guest)" "apt-get install rustc" test -x /usr/bin/rustc
check "/usr/bin/rust-lld (the wasm32 linker)" "apt-get install lld-14 (rust-lld is Debian's link to it)" test -x /usr/bin/rust-lld
check "a wasm32 module links with /usr/bin/rustc" "apt-get install rustc libstd-rust-dev-wasm32 lld-14" wasm_links
check "node" "apt-get install nodejs" node --version
check "npm" "apt-get install npm" npm --version
check "python3" "apt-get install python3" python3 --version
check "pgrep" "apt-get install procps" pgrep --version
check "ip (containers' and VMs' networks)" "apt-get install iproute2" ip -V
check "/dev/net/tun (a TAP device per microVM)" "modprobe tun (the microVM targets need it)" test -c /dev/net/tun
check "runc" "apt-get install runc" /usr/sbin/runc --version
check "crun" "apt-get install crun" crun --version
check "crun on this cgroup layout" "run 'just setup' as root (it mounts cgroup2's controllers as v1)" crun_can_run
check "runsc (gVisor)" "apt-get install runsc" runsc --version
check "podman" "apt-get install podman" podman --version
check "dockerd answers" "apt-get install docker.io, then run 'just setup' as root (it starts dockerd); log: /var/log/coldbench-dockerd.log" docker_answers
check "qemu-system-x86_64" "apt-get install qemu-system-x86" qemu-system-x86_64 --version
check "the guest kernel (artifacts/kernel)" "run 'just setup' as root (it downloads Debian's cloud kernel)" test -f artifacts/kernel/PACKAGE
check "cpio, lz4, zstd, xz (build the microVM guest)" "apt-get install cpio lz4 zstd xz-utils" sh -c 'command -v cpio && command -v lz4 && command -v zstd && command -v xz'
check "chromium (checks and screenshots the report)" "apt-get install chromium" chromium --version
check "workerd" "run 'just setup' (npm ci in targets/isolate)" "$isolate/@cloudflare/workerd-linux-64/bin/workerd" --version
check "deno" "run 'just setup' (npm ci in targets/isolate)" "$isolate/@deno/linux-x64-glibc/deno" --version
if [ "$failed" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: $failed check(s) failed (above)" >&2
        exit 1
    fi
    echo "setup: $failed check(s) failed (above); targets that need them will be reported unavailable" >&2
fi
echo "setup: done, every tool checked"
