#!/usr/bin/env python3
"""How long the machine stays busy after a target's cells, and with what.

For each target: runs a few cells of it with coldbench (settle off, so the
harness itself waits for nothing), then, from the moment coldbench exits,
samples the machine's CPU time (the root cpuacct cgroup, in ns; /proc/stat
ticks where there is none) every 50 ms for --seconds, and names the
processes that used CPU in that time (/proc/<pid>/stat, ticks) and the
kernel threads among them. Prints, per target: CPU busy in the first 0.5 s,
in the 0.5 s after that, the time until three windows in a row stay below
--quiet percent of one core, and the top consumers.

A target whose teardown goes on after its stop returns (a daemon, kernel
work on namespaces and veths, a VMM exiting) shows here as busy time that
the next cell would pay for: that is why coldbench settles before each cell.

usage: tools/aftermath.py [--seconds S] [--quiet PCT] TARGET...   ("idle" = run nothing)
"""
import argparse, os, subprocess, tempfile, time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CPUACCT = "/sys/fs/cgroup/cpuacct/cpuacct.usage"
TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def machine_cpu_ns():
    try:
        with open(CPUACCT) as f:
            return int(f.read())
    except OSError:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v[:8]) - v[3] - v[4]) * TICK_NS  # all but idle and iowait


def proc_ticks():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index("(") + 1 : s.rindex(")")]
        rest = s[s.rindex(")") + 2 :].split()
        out[pid] = (name, int(rest[11]) + int(rest[12]))
    return out


def after(target, seconds, quiet, binary, settle):
    if target != "idle":
        with tempfile.TemporaryDirectory() as out:
            subprocess.run(
                [binary, "run", "--targets", target, "--workloads", "hello",
                 "--phases", "cold,warm", "--samples", "3", "--warm-samples", "3",
                 "--settle", settle, "--no-report", "--out", out],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = proc_ticks()
    t0 = time.monotonic()
    last = machine_cpu_ns()
    windows = []
    while time.monotonic() - t0 < seconds:
        time.sleep(0.05)
        now = machine_cpu_ns()
        windows.append(now - last)
        last = now
    after_ticks = proc_ticks()
    own = os.getpid()
    used = sorted(
        ((t - before.get(p, (n, 0))[1], n) for p, (n, t) in after_ticks.items()
         if int(p) != own and t - before.get(p, (n, 0))[1] > 0),
        reverse=True)
    pct = [w / 50e6 * 100 for w in windows]  # % of one core per 50 ms window
    settled = None
    for i in range(len(pct) - 2):
        if all(p < quiet for p in pct[i : i + 3]):
            settled = i * 50
            break
    first = sum(windows[:10]) / 1e6
    second = sum(windows[10:20]) / 1e6
    top = ", ".join(f"{n} {t * TICK_NS / 1e6:.0f} ms" for t, n in used[:5]) or "nothing"
    print(f"{target:16} first 0.5 s {first:7.1f} ms CPU, next 0.5 s {second:6.1f} ms, "
          f"quiet after {f'>{seconds * 1000:.0f}' if settled is None else settled} ms; top: {top} "
          f"(processes alive at both ends of the window)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--quiet", type=float, default=5.0, help="percent of one core")
    ap.add_argument("--coldbench", default=os.path.join(ROOT, "target", "release", "coldbench"))
    ap.add_argument("--settle", default="off", help="the harness's own settle step (off: wait for nothing)")
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()
    for t in a.targets:
        after(t, a.seconds, a.quiet, a.coldbench, a.settle)


if __name__ == "__main__":
    main()
