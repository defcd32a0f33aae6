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
build: build-fn
    cargo build --release -p coldbench

# The static native function server (artifacts/coldbench-fn): the same binary
# runs as a process, in a container and as a microVM's init.
build-fn:
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --profile fn --target {{host_target}} -p coldbench-fn
    mkdir -p {{artifacts}}
    install -m 0755 target/{{host_target}}/fn/coldbench-fn {{artifacts}}/coldbench-fn

# Run the matrix on every available target and write results/ and reports/.
# profile: quick (5 cold + 15 warm samples per cell) or full (30 + 150).
run-matrix profile="quick" *args="": setup build
    target/release/coldbench run --profile {{profile}} {{args}}

# Re-render the report of a run (default: the latest).
report run="results/latest": 
    cargo run --release -q -p coldbench -- report {{run}}

# List targets and whether they can run here.
targets: build
    target/release/coldbench targets

# Run every test (unit, integration on real targets, snapshots).
test: setup build-fn
    cargo test --workspace

# The criterion benchmarks (cold start, warm invoke, workload compute).
bench: build-fn
    cargo bench --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
