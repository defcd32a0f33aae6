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
# The Rust workload must build with Debian's rustc 1.63, which also builds the
# wasm32 guest (rustup cannot add targets on these machines).
need_pkg rustc /usr/bin/rustc
need_pkg libstd-rust-dev-wasm32

if [ ${#missing_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing ${missing_pkgs[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}"
    else
        echo "setup: missing ${missing_pkgs[*]}: run 'sudo just setup' (targets that need them will be skipped)" >&2
    fi
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

echo "setup: done"
