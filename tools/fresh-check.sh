#!/usr/bin/env bash
# Proves that the README's quick start works on a bare machine, whatever is
# installed on this one: makes a minimal Debian 12 root (debootstrap), gives it
# what "a machine with Rust" has (this machine's rustup toolchain, read-only,
# gcc, git, python3, ca-certificates) and `just`, copies the checkout in (the
# working tree, uncommitted changes included), and inside it runs
# `targets/setup.sh`, `just build` and `coldbench targets`. It fails when setup
# installs too little (a tool missing, a check failed, the build failed) or
# when a target that can work on this kind of machine is unavailable.
#
# The root also gets this machine's network trust, which belongs to the
# machine and not to the project: the CA certificates under
# /usr/local/share/ca-certificates, the CA variables of the environment
# (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, ...), ~/.npmrc and /etc/pip.conf.
# Everything the root prints goes to /var/tmp/coldbench-fresh.log; the stage
# lines are shown, and the log's end when a stage fails.
#
# usage: tools/fresh-check.sh [--keep] [--root DIR] [--expect-unavailable a,b]
#   --keep                 leave the root in place (default: removed at the end)
#   --root DIR             where to make it (default /var/tmp/coldbench-fresh)
#   --expect-unavailable   targets allowed to be unavailable (default:
#                          firecracker,cloud-hypervisor and their -node twins:
#                          not packaged for Debian 12)
#
# Needs root (debootstrap, chroot, mounts). Everything runs in a private mount
# namespace, so /proc, /sys and /dev mounted for the root go away with it; the
# processes the root started (dockerd) are ended before it is removed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=/var/tmp/coldbench-fresh
keep=0
expect_unavailable=firecracker,cloud-hypervisor,firecracker-node,cloud-hypervisor-node
while [ $# -gt 0 ]; do
    case $1 in
        --keep) keep=1 ;;
        --root) root=${2:?--root needs a folder}; shift ;;
        --expect-unavailable) expect_unavailable=${2?--expect-unavailable needs a list}; shift ;;
        *) echo "fresh-check: unknown option $1 (see the usage at the top of $0)" >&2; exit 2 ;;
    esac
    shift
done
# Absolute and without a trailing slash: compared with /proc/<pid>/root below.
root=$(realpath -m "$root")
say() { echo "fresh-check: $*"; }
die() { echo "fresh-check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mounts): run it as root"
command -v rustup >/dev/null || die "no rustup toolchain on this machine: the check gives the bare root this machine's Rust"

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v unshare >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
# The mirror apt already uses (deb822 or one-line sources).
mirror=$(grep -hs -m1 '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep debian | head -1 || true)
[ -n "$mirror" ] || mirror=$(grep -hs -m1 '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -1 || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
just_bin=$( (command -v pyenv >/dev/null && pyenv which just) 2>/dev/null || command -v just || true)
[ -x "$just_bin" ] || die "just is not installed here (pip install rust-just): the README assumes it, so the root gets this machine's"

ended_in_root() { # the pids whose root directory is the fresh root
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
    done
    return 0
}
cleanup() {
    local pids
    pids=$(ended_in_root)
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086
        kill $pids 2>/dev/null || true
        sleep 2
        pids=$(ended_in_root)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
        sleep 0.5
    fi
    [ -z "$(ended_in_root)" ] || echo "fresh-check: processes left in $root: $(ended_in_root | tr '\n' ' ')" >&2
    if [ $keep = 0 ]; then
        rm -rf --one-file-system "$root"
    else
        say "kept $root"
    fi
}

stage_start=$(date +%s)
stage() { # stage NAME: prints the time the previous stage took
    local now
    now=$(date +%s)
    [ -z "${stage_name:-}" ] || say "$stage_name took $((now - stage_start)) s"
    stage_name=$1
    stage_start=$now
    [ -z "$1" ] || say "$1"
}
total_start=$(date +%s)

[ ! -e "$root" ] || rm -rf --one-file-system "$root"
rm -f "$root.log"
trap cleanup EXIT
stage "debootstrap --variant=minbase bookworm from $mirror"
mkdir -p "$root"
# What a fresh machine with Rust has beside the toolchain: a C compiler for
# the linker, git, python3, CA certificates (crates.io over TLS).
debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev,git,python3 \
    bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 \
    || { tail -20 "$root.debootstrap.log" >&2; die "debootstrap failed (log above)"; }
rm -f "$root.debootstrap.log"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    rm -f "$root/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
fi

stage "copying the toolchain, just, the network trust and the checkout in"
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$root/root/.rustup" "$root/root/.cargo/bin" "$root/coldbench"
cp -a "$cargo_home/bin/." "$root/root/.cargo/bin/"
install -m 0755 "$just_bin" "$root/usr/local/bin/just"
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the root"
fi
[ ! -f "$HOME/.npmrc" ] || cp "$HOME/.npmrc" "$root/root/.npmrc"
[ ! -f /etc/pip.conf ] || cp /etc/pip.conf "$root/etc/pip.conf"
trust_env=()
for var in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE GIT_SSL_CAINFO PIP_CERT REQUESTS_CA_BUNDLE; do
    [ -z "${!var:-}" ] || trust_env+=("$var=${!var}")
done
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -C "$root/coldbench" -xf -

stage "setup, build and targets inside the root"
inside='set -euo pipefail
cd /coldbench
echo "fresh-check: inside: targets/setup.sh"; s=$(date +%s)
targets/setup.sh
echo "fresh-check: inside: setup took $(( $(date +%s) - s )) s; just build"; s=$(date +%s)
just build
echo "fresh-check: inside: build took $(( $(date +%s) - s )) s; coldbench targets"
target/release/coldbench targets | tee /tmp/targets.txt'
log=$root.log
# A private mount namespace: the mounts below vanish with it.
if ! unshare --mount --propagation private bash -euo pipefail -c '
    root=$1 rustup_home=$2 inside=$3
    shift 3
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount --bind "$rustup_home" "$root/root/.rustup"
    mount -o remount,bind,ro "$root/root/.rustup"
    exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 "$@" \
        PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        bash -c "$inside"
' fresh-check "$root" "$rustup_home" "$inside" "${trust_env[@]}" > "$log" 2>&1; then
    grep -E '^(fresh-check|setup):' "$log" || true
    echo "fresh-check: the end of $log:" >&2
    tail -25 "$log" >&2
    die "setup or build failed on a bare Debian 12 root (above; whole log: $log)"
fi
grep -E '^(fresh-check|setup):' "$log" || true

stage "checking that every target that can work here is available"
# The status column is found by its header, so that a new column before it
# cannot shift it; the availability table ends at the first blank line (the
# restore table follows it).
status_of='NF == 0 { exit } NR == 1 { for (i = 1; i <= NF; i++) if ($i == "status") col = i; next }'
listed=$(awk 'NF == 0 { exit } NR > 1' "$root/tmp/targets.txt" | wc -l)
available=$(awk "$status_of"' $col == "available"' "$root/tmp/targets.txt" | wc -l)
[ "$listed" -gt 0 ] || die "coldbench targets listed no target"
say "$available of $listed targets available inside the root"
unavailable=$(awk "$status_of"' $col != "available" {print $1}' "$root/tmp/targets.txt" | sort)
expected=$(tr ',' '\n' <<< "$expect_unavailable" | grep -v '^$' | sort || true)
surprise=$(comm -23 <(echo "$unavailable") <(echo "$expected") | grep -v '^$' || true)
stage ""
say "total $(( $(date +%s) - total_start )) s"
if [ -n "$surprise" ]; then
    die "unavailable after setup on a bare root: $(echo "$surprise" | tr '\n' ' ')(reasons above)"
fi
say "passed: setup and build work on a bare Debian 12 root"
