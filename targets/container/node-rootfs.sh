#!/usr/bin/env bash
# The node image for the container targets (`crun-node`, …): node, the
# shared libraries `ldd` says it loads, the dynamic loader, and the server and
# workload modules at the paths they import each other by (unchanged), in
# ARTIFACTS/rootfs-node/ and a reproducible ARTIFACTS/rootfs-node.tar.
# usage: targets/container/node-rootfs.sh ARTIFACTS
set -euo pipefail
artifacts=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
node=$(command -v node) || { echo "node-rootfs: node is not on PATH: run 'just setup'" >&2; exit 1; }
node=$(readlink -f "$node")
rootfs=$artifacts/rootfs-node
rm -rf "$rootfs" && mkdir -p "$rootfs"/{proc,dev,sys,tmp,etc,usr/bin,app}
install -m 0755 "$node" "$rootfs/usr/bin/node"
# Every library node links, and the loader, at the path node asks for it.
ldd "$node" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done
# /lib64 and /lib may be links on the host (usrmerge): the copies above sit
# at the paths ldd printed, which are the ones the binary's interpreter and
# the loader search.
mkdir -p "$rootfs/app/targets/process/node" "$rootfs/app/workloads/js"
install -m 0644 "$root"/targets/process/node/server.mjs "$root"/targets/process/node/serve.cjs \
    "$root"/targets/process/node/snapshot.cjs "$rootfs/app/targets/process/node/"
install -m 0644 "$root"/workloads/js/*.mjs "$rootfs/app/workloads/js/"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$artifacts/rootfs-node.tar" .
sha256sum "$artifacts/rootfs-node.tar"
