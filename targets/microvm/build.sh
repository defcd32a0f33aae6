#!/usr/bin/env bash
# Builds what the microVM targets boot, from the kernel `just setup` fetched
# (artifacts/kernel/) and the static function server (artifacts/coldbench-fn):
#   artifacts/microvm/vmlinux         the kernel as an ELF, for PVH direct boot
#   artifacts/microvm/initramfs.cpio  /init (the function server) and the
#                                     virtio modules, loaded in name order
#   artifacts/microvm/initramfs-node.cpio  the same, with the node image's
#                                     files: init runs node (cb_exec=node)
#   artifacts/microvm/KERNEL          which kernel package it came from
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
artifacts=${1:-$here/../../artifacts}
kernel=$artifacts/kernel
out=$artifacts/microvm
if [ ! -f "$kernel/PACKAGE" ]; then
    echo "build-microvm: no guest kernel: run 'just setup' (it downloads Debian's cloud kernel)" >&2
    exit 1
fi
read -r package version < "$kernel/PACKAGE"
release=$(ls "$kernel/root/lib/modules")
mkdir -p "$out"
"$here/extract-vmlinux.py" "$kernel/root/boot/vmlinuz-$release" "$out/vmlinux"

# virtio over MMIO (QEMU microvm, Firecracker) and PCI (Cloud Hypervisor),
# and the network driver. Whatever the kernel has built in is skipped.
modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio failover net_failover virtio_net)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{dev,proc,lib/modules}
chmod 0755 "$stage"
install -m 0755 "$artifacts/coldbench-fn" "$stage/init"
i=10
add_module() { # add_module NAME: the module, numbered for the load order
    local m=$1 file target
    file=$(find "$kernel/root/lib/modules/$release" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -1)
    if [ -z "$file" ]; then
        grep -q "/$m.ko" "$kernel/root/lib/modules/$release/modules.builtin" 2>/dev/null \
            || { echo "build-microvm: module $m not found in $package" >&2; exit 1; }
        return 0
    fi
    target="$stage/lib/modules/$i-$m.ko"
    case "$file" in
        *.xz) xz -dc "$file" > "$target" ;;
        *.zst) zstd -dcq "$file" > "$target" ;;
        *) cp "$file" "$target" ;;
    esac
    i=$((i + 1))
}
for m in "${modules[@]}"; do
    add_module "$m"
done
pack() { # pack DIR FILE: a reproducible newc cpio of DIR
    find "$1" -exec touch -h -d @0 {} +
    (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) > "$2"
}
pack "$stage" "$out/initramfs.cpio"
# The node guest: the same init and modules, and the node image's files
# (node, its libraries, the JS server and workload); init hands the booted
# guest to node when the kernel command line says cb_exec=node.
if [ ! -x "$artifacts/rootfs-node/usr/bin/node" ]; then
    echo "build-microvm: no node image: run 'just build-rootfs-node'" >&2
    exit 1
fi
cp -a "$artifacts/rootfs-node/." "$stage/"
# And virtio-rng: node's id is made from OpenSSL's generator, seeded at boot,
# which a restored snapshot would repeat; /dev/hwrng gives the restored guest
# fresh bytes from the host (the server reads it when cb_hwrng=1).
add_module virtio-rng
pack "$stage" "$out/initramfs-node.cpio"
echo "$package $version" > "$out/KERNEL"
sha256sum "$out/vmlinux" "$out/initramfs.cpio" "$out/initramfs-node.cpio"
