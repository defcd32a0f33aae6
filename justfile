# coldbench — every command a user or CI needs. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

host_target := "x86_64-unknown-linux-gnu"
artifacts := justfile_directory() / "artifacts"

# List the recipes.
default:
    @just --list

# Install what the targets need (idempotent; apt-get needs root).
setup:
    targets/setup.sh

# Build the harness and every artifact the targets run.
build: build-fn build-wasm build-rootfs build-rootfs-node build-microvm
    cargo build --release -p coldbench

# (The same binary runs as a process, in a container and as a microVM's init.)
# Build the static native function server, artifacts/coldbench-fn.
build-fn:
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --profile fn --target {{host_target}} -p coldbench-fn
    mkdir -p {{artifacts}}
    install -m 0755 target/{{host_target}}/fn/coldbench-fn {{artifacts}}/coldbench-fn

# (A folder for runc/crun bundles and a reproducible tar that podman and
# docker import; it holds the static server and the mount points runtimes need.)
# Build the container image: a minimal rootfs with the function server.
build-rootfs: build-fn
    #!/usr/bin/env bash
    set -euo pipefail
    rootfs={{artifacts}}/rootfs
    rm -rf "$rootfs" && mkdir -p "$rootfs"/{proc,dev,sys,tmp,etc}
    install -m 0755 {{artifacts}}/coldbench-fn "$rootfs"/coldbench-fn
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf {{artifacts}}/rootfs.tar .
    sha256sum {{artifacts}}/rootfs.tar

# (node, the libraries it loads, the server and workload modules: the JS
# runtime of the isolate targets, in a container.)
# Build the node container image.
build-rootfs-node:
    targets/container/node-rootfs.sh {{artifacts}}

# (The kernel `just setup` fetched, as an ELF for PVH boot, and an initramfs
# whose /init is the static function server.)
# Build the microVM guest.
build-microvm: build-fn build-rootfs-node
    targets/microvm/build.sh {{artifacts}}

# (The guest is workloads/rust, unchanged, built by Debian's rustc 1.63 since
# rustup cannot add targets here; the faulty guest misbehaves on purpose.)
# Build the wasm32 guests and the wasmtime host, with the guest precompiled.
build-wasm:
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p {{artifacts}}
    if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/wasm32-unknown-unknown ]; then
        echo "build-wasm: Debian's rustc with the wasm32 std is missing: run 'just setup'" >&2; exit 1
    fi
    for guest in guest faulty; do
        /usr/bin/rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown \
            -C opt-level=3 -C lto=fat -C codegen-units=1 -C panic=abort -C strip=symbols \
            -C link-arg=-zstack-size=65536 --remap-path-prefix "{{justfile_directory()}}=/coldbench" \
            -o {{artifacts}}/$([ $guest = guest ] && echo guest || echo faulty-guest).wasm targets/wasm/guest/$guest.rs
    done
    cargo build --release -p coldbench-wasm-host
    install -m 0755 target/release/coldbench-wasm-host {{artifacts}}/coldbench-wasm-host
    {{artifacts}}/coldbench-wasm-host precompile {{artifacts}}/guest.wasm {{artifacts}}/guest.cwasm
    sha256sum {{artifacts}}/guest.wasm

# (profile: quick, 5 cold + 15 warm samples per cell, or full, 30 + 150.)
# Run the matrix on every available target and write results/ and reports/.
run-matrix profile="quick" *args="": setup build
    target/release/coldbench run --profile {{profile}} {{args}}

# Re-render the report of a run (default: the latest).
report run="results/latest":
    cargo run --release -q -p coldbench -- report {{run}}

# Compare two runs (results/ folders); exit 1 on a significant regression.
compare base new *args="":
    cargo run --release -q -p coldbench -- compare {{base}} {{new}} {{args}}

# How far figures moved between runs of one plan (--save: drift.csv into each, shown by its report).
drift +runs:
    cargo run --release -q -p coldbench -- drift {{runs}}

# List targets and whether they can run here.
targets: build
    target/release/coldbench targets

# Run every test (unit, integration on real targets, snapshots).
test: setup build-fn build-wasm build-rootfs build-rootfs-node build-microvm
    cargo test --workspace

# The criterion benchmarks (cold start, warm invoke, workload compute).
bench: setup build-fn build-wasm build-rootfs
    cargo bench --workspace

# (debootstrap makes a minimal Debian 12 root; it gets this machine's Rust
# toolchain and just, the checkout with its uncommitted changes, and runs
# setup, the build and `coldbench targets` inside. Needs root.)
# Prove the quick start on a bare machine, whatever is installed on this one.
fresh-check *args="":
    tools/fresh-check.sh {{args}}

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
