#!/usr/bin/env python3
"""What an oversized request head costs a function server, without coldbench.

Starts SERVER --listen 127.0.0.1:PORT, sends one request whose head carries a
header of --mib MiB, and prints the answer's status, the wall time to it and
the CPU time the server spent (from /proc/<pid>/stat), then checks that a
good request still succeeds. Gives up after 60 s.

usage: tools/head_cost.py SERVER [--mib 4] [--path /run/hello]
e.g.   tools/head_cost.py artifacts/coldbench-fn --mib 16
"""
import argparse
import os
import socket
import subprocess
import threading
import time


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, data, timeout=60.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    threading.Thread(target=lambda: _send(s, data), daemon=True).start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    except OSError as e:
        answer = answer or f"(connection: {e})".encode()
    s.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace")


def _send(s, data):
    try:
        s.sendall(data)
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--mib", type=float, default=4)
    ap.add_argument("--path", default="/run/hello")
    args = ap.parse_args()
    port = free_port()
    proc = subprocess.Popen([args.server, "--listen", f"127.0.0.1:{port}"])
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("the server did not listen within 10 s")
                time.sleep(0.01)
        pad = b"a" * int(args.mib * (1 << 20))
        big = b"GET " + args.path.encode() + b" HTTP/1.1\r\nhost: x\r\nx-pad: " + pad + b"\r\n\r\n"
        before, started = cpu_seconds(proc.pid), time.monotonic()
        status = request(port, big)
        wall = time.monotonic() - started
        cpu = cpu_seconds(proc.pid) - before
        print(f"{args.mib:g} MiB head: {status!r} after {wall:.3f} s wall, {cpu:.2f} s server CPU")
        good = request(port, b"GET " + args.path.encode() + b" HTTP/1.1\r\nhost: x\r\n\r\n", timeout=10)
        print(f"next good request: {good!r}")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
