#!/usr/bin/env python3
"""Cross-check of the harness's `process` cold start, measured outside it.

Spawns a function server (posix_spawn), connects in a tight loop until the
port accepts, sends GET /run/hello and reads the whole reply; prints the
median, p10 and p90 of spawn -> last byte over N runs. No coldbench code is
involved, so the two figures can be compared.

usage: tools/bare_cold_start.py [--runs N] [BINARY]   (default artifacts/coldbench-fn)
"""
import argparse, os, statistics, time

from bare_http import first_hello, free_port

def once(binary):
    port = free_port()
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(binary, [binary, "--listen", f"127.0.0.1:{port}"], os.environ)
    try:
        first_hello(port)
        return time.perf_counter_ns() - t0
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("binary", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "artifacts", "coldbench-fn"))
    a = ap.parse_args()
    once(a.binary)  # warm the page cache
    times = sorted(once(a.binary) for _ in range(a.runs))
    q = lambda p: times[int(p * (len(times) - 1))] / 1e6
    print(f"spawn -> last byte of the first response, {a.runs} runs: "
          f"median {statistics.median(times)/1e6:.3f} ms, p10 {q(0.1):.3f} ms, p90 {q(0.9):.3f} ms")

if __name__ == "__main__":
    main()
