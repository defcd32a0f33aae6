#!/usr/bin/env python3
"""What a cold start and a warm request cost depending on what the machine
did just before: no coldbench code involved, only the static function server.

cold: spawn artifacts/coldbench-fn, connect until it accepts, first GET
/run/hello, kill; before each start the script waits GAP ms, either sleeping
(the CPU goes idle) or spinning (it stays busy). Shows that a cold start
after an idle gap is slower, and that a waiting harness must not sleep.

warm: one server, N back-to-back GET /run/hello on one connection, with
idle CPUs left to the kernel or held polling (/dev/cpu_dma_latency = 0, needs
root), and with the server on the other CPU or on the client's own. Shows
what a warm request pays for waking a halted CPU.

usage: tools/gap.py cold [--runs N] [--gaps MS,...]
       tools/gap.py warm [--requests N]
"""
import argparse, os, socket, statistics, struct, subprocess, time

from bare_cold_start import once
from bare_http import first_hello, free_port

FN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "artifacts", "coldbench-fn")


def spawn(port, cpu=None):
    pid = os.posix_spawn(FN, [FN, "--listen", f"127.0.0.1:{port}"], os.environ)
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})
    return pid


def wait(gap_s, spin):
    if spin:
        end = time.perf_counter() + gap_s
        while time.perf_counter() < end:
            pass
    elif gap_s:
        time.sleep(gap_s)


def cold(a):
    once(FN)  # the page cache
    print(f"cold start after a gap, median of {a.runs} (ms):")
    print(f"{'gap':>8} {'sleeping':>10} {'spinning':>10}")
    for gap in [float(g) for g in a.gaps.split(",")]:
        row = []
        for spin in (False, True):
            times = []
            for _ in range(a.runs):
                wait(gap / 1000, spin)
                times.append(once(FN))
            row.append(statistics.median(times) / 1e6)
        print(f"{gap:>6g}ms {row[0]:>10.3f} {row[1]:>10.3f}")


def warm_requests(n, server_cpu, client_cpu):
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    port = free_port()
    pid = spawn(port, server_cpu)
    try:
        first_hello(port)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        req = b"GET /run/hello HTTP/1.1\r\nhost: x\r\n\r\n"
        times = []
        for i in range(n + 3):
            t0 = time.perf_counter_ns()
            s.sendall(req)
            data = b""
            while not data.endswith(b"}"):
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("the server closed the connection")
                data += chunk
            if i >= 3:  # the instance's first requests warm it up
                times.append(time.perf_counter_ns() - t0)
        s.close()
        return statistics.median(times) / 1e3
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.sched_setaffinity(0, range(os.cpu_count()))


def warm(a):
    cpus = sorted(os.sched_getaffinity(0))
    other = cpus[1] if len(cpus) > 1 else cpus[0]
    cases = [("idle default, server on another CPU", False, (other, cpus[0])),
             ("idle default, server on the client's CPU", False, (cpus[0], cpus[0])),
             ("idle poll,    server on another CPU", True, (other, cpus[0])),
             ("idle poll,    server on the client's CPU", True, (cpus[0], cpus[0]))]
    print(f"warm GET /run/hello on one connection, median of {a.requests} (µs):")
    for name, poll, (server, client) in cases:
        held = None
        if poll:
            try:
                held = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
                os.write(held, struct.pack("i", 0))
            except OSError as e:
                if held is not None:
                    os.close(held)
                print(f"{name}: cannot hold /dev/cpu_dma_latency ({e}); needs root")
                continue
        try:
            print(f"{name}: {warm_requests(a.requests, server, client):8.1f}")
        finally:
            if held is not None:
                os.close(held)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cold")
    c.add_argument("--runs", type=int, default=40)
    c.add_argument("--gaps", default="0,5,20,50,200")
    w = sub.add_parser("warm")
    w.add_argument("--requests", type=int, default=2000)
    a = ap.parse_args()
    if not os.access(FN, os.X_OK):
        raise SystemExit(f"{FN} is missing: run `just build-fn`")
    {"cold": cold, "warm": warm}[a.what](a)


if __name__ == "__main__":
    main()
