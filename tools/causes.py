#!/usr/bin/env python3
"""What a run's own data says about cross-cell effects (README, "Figures
that hold still"). Reads a results folder written with the settle step on:

1. what each target leaves running: the background the settle step saw in
   its first window after a cell of that target (settle_busy_permille of
   the next cell), and how long it waited;
2. the cell before: each baseline (`process`) cold sample grouped by the
   target whose cell ran just before it;
3. a new instance's first requests: the warm-up requests (warmup_ns, in
   order) beside the warm median;
4. the background during warm samples, and how many were flagged disturbed.

usage: tools/causes.py RUN_DIR [--baseline process] [--workload hello]
"""
import argparse, collections, csv, os, statistics


def med(v):
    return statistics.median(v) if v else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--baseline", default="process")
    ap.add_argument("--workload", default="hello")
    a = ap.parse_args()
    samples = list(csv.DictReader(open(os.path.join(a.run, "samples.csv"))))
    measures = collections.defaultdict(list)
    for m in csv.DictReader(open(os.path.join(a.run, "measures.csv"))):
        key = (m["round"], m["target"], m["workload"], m["phase"], m["instance_id"])
        measures[key].append((m["measure"], int(m["value"])))
    key = lambda s: (s["round"], s["target"], s["workload"], s["phase"], s["instance_id"])
    # A cell's first sample is its cold (or host-cold) one; rows are in run order.
    firsts = [s for s in samples if s["phase"] in ("cold", "host-cold")]
    if not any(n == "settle_busy_permille" for s in firsts for n, _ in measures[key(s)]):
        raise SystemExit(f"{a.run} has no settle measures: run it with the settle step on")

    left = collections.defaultdict(list)
    waits = collections.defaultdict(list)
    after = collections.defaultdict(list)
    for prev, cur in zip(firsts, firsts[1:]):
        m = dict(measures[key(cur)])
        if "settle_busy_permille" in m:
            left[prev["target"]].append(m["settle_busy_permille"] / 10)
            waits[prev["target"]].append(m["settle_wait_ns"] / 1e6)
        if cur["target"] == a.baseline and cur["phase"] == "cold" and cur["valid"] == "true" \
                and cur["workload"] == a.workload:
            after[prev["target"]].append(int(cur["latency_ns"]) / 1e6)

    print("1. what a cell leaves running: the settle step's first window after it")
    print(f"{'cell before':18} {'cells':>5} {'busy p50':>9} {'busy max':>9} {'wait p50':>9} {'wait max':>9}")
    for t in sorted(left):
        b, w = left[t], waits[t]
        print(f"{t:18} {len(b):5} {med(b):8.1f}% {max(b):8.1f}% {med(w):7.1f}ms {max(w):7.1f}ms")

    print(f"\n2. {a.baseline} {a.workload} cold p50 by the cell before it")
    for t in sorted(after, key=lambda t: med(after[t])):
        v = after[t]
        print(f"{t:18} {len(v):5} {med(v):7.3f} ms  (min {min(v):.3f}, max {max(v):.3f})")

    print(f"\n3. a new instance's first requests ({a.workload}): warm-ups in order, then the warm median")
    ups = collections.defaultdict(lambda: collections.defaultdict(list))
    for s in firsts:
        if s["workload"] != a.workload:
            continue
        for i, v in enumerate(v for n, v in measures[key(s)] if n == "warmup_ns"):
            ups[s["target"]][i].append(v / 1e3)
    for t in sorted(ups):
        warm = [int(s["latency_ns"]) / 1e3 for s in samples if s["target"] == t
                and s["workload"] == a.workload and s["phase"] == "warm" and s["valid"] == "true"]
        firsts_txt = ", ".join(f"#{i + 1} {med(v):.1f}" for i, v in sorted(ups[t].items()))
        print(f"{t:18} {firsts_txt}; warm p50 {med(warm):.1f} µs")

    print("\n4. background CPU during warm samples")
    for t in sorted({s["target"] for s in samples}):
        warm = [s for s in samples if s["target"] == t and s["phase"] == "warm"]
        # A warm sample's measures share its instance's key: each key once.
        bg = [v for k in {key(s) for s in warm} for n, v in measures[k] if n == "background_cpu_ns"]
        disturbed = sum(1 for s in warm if s["error"].startswith("disturbed"))
        if warm:
            busy = sum(1 for v in bg if v > 0)
            print(f"{t:18} {len(warm):5} warm, {busy} with any background, "
                  f"p90 {sorted(bg)[int(len(bg) * .9)] / 1e3 if bg else 0:.1f} µs, {disturbed} disturbed")


if __name__ == "__main__":
    main()
