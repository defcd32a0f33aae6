#!/usr/bin/env python3
"""Cross-check of the harness's runc/crun cold starts, measured outside it.

Writes a minimal OCI bundle around the built rootfs (host network, the
namespaces and limits coldbench's containers have), then times
`<runtime> run --detach` -> connect -> GET /run/hello -> last byte, and
deletes the container. No coldbench code is involved.

--image node runs the node image (artifacts/rootfs-node: node, its
libraries, the JS server) instead of the static server, as the -node
targets do.

--pause puts idle time between runs: cgroup-v1 hosts create a container's
cgroups fast when containers start back to back and slowly after a pause, so
a bare loop without pauses measures the fast case. --no-cgroups runs crun
with --cgroup-manager=disabled to show what the cgroups cost.

usage: tools/bare_container_cold_start.py [--runtime crun|runc] [--runs N]
       [--pause SECONDS] [--no-cgroups] [--image rust|node]   (run as root)
"""
import argparse, json, os, shutil, statistics, subprocess, tempfile, time

from bare_http import first_hello, free_port


COMMANDS = {
    "rust": lambda port: ["/coldbench-fn", "--listen", f"127.0.0.1:{port}"],
    "node": lambda port: ["/usr/bin/node", "/app/targets/process/node/server.mjs",
                          "--listen", f"127.0.0.1:{port}"],
}


def config(rootfs, name, port, cgroups, image):
    linux = {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")]}
    if cgroups:
        linux["cgroupsPath"] = f"/coldbench-bare/{name}"
        linux["resources"] = {
            "memory": {"limit": 256 << 20},
            "pids": {"limit": 64},
            "devices": [{"allow": False, "access": "rwm"}],
        }
    return {
        "ociVersion": "1.0.2",
        "root": {"path": rootfs, "readonly": True},
        "hostname": name,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": COMMANDS[image](port),
            "env": ["PATH=/"],
            "cwd": "/",
            "noNewPrivileges": True,
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "mode=755", "size=65536k"]},
        ],
        "linux": linux,
    }


def once(args, work, i):
    name = f"coldbench-bare-{os.getpid()}-{i}"
    bundle = os.path.join(work, name)
    os.makedirs(bundle)
    port = free_port()
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config(args.rootfs, name, port, not args.no_cgroups, args.image), f)
    cli = [args.runtime] + (["--cgroup-manager=disabled"] if args.no_cgroups else [])
    t0 = time.perf_counter_ns()
    try:
        subprocess.run(cli + ["run", "--detach", "--bundle", bundle, name], check=True)
        first_hello(port)
        t1 = time.perf_counter_ns()
        return (t1 - t0) / 1e6
    finally:
        subprocess.run(cli + ["delete", "--force", name], stderr=subprocess.DEVNULL)
        shutil.rmtree(bundle, ignore_errors=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runtime", default="crun", choices=["crun", "runc"])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--pause", type=float, default=0.0, help="seconds idle between runs")
    p.add_argument("--no-cgroups", action="store_true", help="crun --cgroup-manager=disabled")
    p.add_argument("--image", default="rust", choices=sorted(COMMANDS))
    args = p.parse_args()
    folder = {"rust": "rootfs", "node": "rootfs-node"}[args.image]
    args.rootfs = os.path.abspath(os.path.join(here, "..", "artifacts", folder))
    if args.no_cgroups and args.runtime != "crun":
        p.error("--no-cgroups needs --runtime crun")
    entry = {"rust": "coldbench-fn", "node": "usr/bin/node"}[args.image]
    if not os.path.exists(os.path.join(args.rootfs, entry)):
        p.error(f"no image at {args.rootfs}: run `just build`")
    with tempfile.TemporaryDirectory(prefix="coldbench-bare-") as work:
        times = []
        for i in range(args.runs):
            times.append(once(args, work, i))
            time.sleep(args.pause)
    q = statistics.quantiles(times, n=10)
    print(f"{args.runtime}{' (no cgroups)' if args.no_cgroups else ''}, {args.image} image, pause {args.pause}s: "
          f"median {statistics.median(times):.1f} ms, p10 {q[0]:.1f} ms, p90 {q[-1]:.1f} ms "
          f"over {len(times)} runs (run --detach -> first response)")


if __name__ == "__main__":
    main()
