#!/usr/bin/env python3
"""Memory the sidecar holds per client connection, and whether it comes back when they close.

    .venv/bin/python tests/bench/bench_connections.py [--levels idle:1000,ready:1000,idle:10000]
        [--cycles 5 --cycle-size 400 --cycle-mode ready] [--json out.json] [--root DIR]

A sidecar is started for the run (its own process, free ports, log level WARNING). This process
opens plain sockets to it (no driver: the sidecar's RSS is what is measured, not the client's) and
reads the sidecar's resident set size from /proc after the sidecar reports the connections open
(admin /status) and a short settle.

Connection states:
- `idle`: TCP connected, nothing sent. With the Cassandra connection opened at the first frame
  this costs Cassandra nothing, so large counts are safe on a shared Cassandra.
- `ready`: STARTUP sent and READY received: each such connection holds a Cassandra connection too.
  Keep these counts at what the Cassandra in use tolerates (the default is 1,000).

Each level gets a sidecar of its own, started fresh (memory freed by an earlier level but kept by
the allocator would hide the next level's cost); KB per connection is the RSS growth divided by the
count. Then a further fresh sidecar sees `--cycles` times `--cycle-size` connections opened (in
`--cycle-mode`) and all closed; the RSS after each close shows whether memory is returned (flat)
or leaks (rising).

`--root DIR` runs the sidecar from another checkout (e.g. the previous commit, for a before/after
comparison); beware that a sidecar opening Cassandra connections at accept time turns `idle`
connections into Cassandra connections as well.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HEADER = struct.Struct(">BBhBi")
OP_STARTUP, OP_READY = 0x01, 0x02


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def startup_frame() -> bytes:
    def string(s: str) -> bytes:
        b = s.encode()
        return struct.pack(">H", len(b)) + b

    body = struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0")
    return HEADER.pack(4, 0, 0, OP_STARTUP, len(body)) + body


STARTUP = startup_frame()


@dataclass
class Sidecar:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int
    token: str
    log_path: Path

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def connections(self) -> int:
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}/status",
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(json.load(r)["connections"])

    def wait_connections(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while (got := self.connections()) != n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"sidecar reports {got} connections, expected {n}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sidecar(root: Path, cassandra: str, workdir: Path, extra: list[str]) -> Sidecar:
    port, admin_port = free_port(), free_port()
    token = "bench-" + os.urandom(6).hex()
    cmd = [sys.executable, "-m", "proxy.cli", "serve", "--listen", f"127.0.0.1:{port}", "--cassandra", cassandra,
           "--admin", f"127.0.0.1:{admin_port}", "--admin-token", token, "--log-level", "WARNING",
           "--state-dir", str(workdir / "state"), "--max-connections", "20000", *extra]
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "sidecar.log"
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=root, stdout=logf, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sidecar exited with {proc.returncode}:\n{log_path.read_text()}")
        if b"ready: CQL on" in log_path.read_bytes():
            return Sidecar(proc, port, admin_port, token, log_path)
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"sidecar did not start:\n{log_path.read_text()}")


def open_idle(port: int, n: int) -> list[socket.socket]:
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.setblocking(False)
            socks.append(s)
    except BaseException:
        close_all(socks)
        raise
    return socks


def handshake(socks: list[socket.socket], batch: int = 200, timeout: float = 60.0) -> None:
    """STARTUP on every socket, `batch` at a time, each answered READY (a bounded number of
    Cassandra connections being opened at once)."""
    for i in range(0, len(socks), batch):
        part = socks[i:i + batch]
        sel = selectors.DefaultSelector()
        bufs: dict[socket.socket, bytes] = {}
        for s in part:
            s.sendall(STARTUP)
            sel.register(s, selectors.EVENT_READ)
            bufs[s] = b""
        deadline = time.monotonic() + timeout
        left = len(part)
        while left:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{left} connections got no READY in {timeout:.0f}s")
            for key, _ in sel.select(1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = sock.recv(4096)
                if not data:
                    raise RuntimeError("the sidecar closed a connection during STARTUP")
                bufs[sock] += data
                if len(bufs[sock]) >= HEADER.size:
                    _v, _f, _stream, op, length = HEADER.unpack_from(bufs[sock])
                    if len(bufs[sock]) >= HEADER.size + length:
                        if op != OP_READY:
                            raise RuntimeError(f"STARTUP answered with opcode 0x{op:02x}: {bufs[sock]!r}")
                        sel.unregister(sock)
                        left -= 1
        sel.close()


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        with contextlib.suppress(OSError):
            s.close()
    socks.clear()


def settle_rss(sc: Sidecar, settle: float) -> int:
    time.sleep(settle)
    return sc.rss_kb()


def open_level(sc: Sidecar, mode: str, n: int) -> list[socket.socket]:
    socks = open_idle(sc.port, n)
    try:
        if mode == "ready":
            handshake(socks)
        sc.wait_connections(n)
    except BaseException:
        close_all(socks)
        raise
    return socks


def parse_levels(text: str) -> list[tuple[str, int]]:
    out = []
    for item in text.split(","):
        mode, _, n = item.strip().partition(":")
        if mode not in ("idle", "ready") or not n.isdigit():
            raise SystemExit(f"--levels: {item!r} must be idle:N or ready:N")
        out.append((mode, int(n)))
    return out


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need)) if hard != resource.RLIM_INFINITY else max(soft, need)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < need:
        raise SystemExit(f"need {need} file descriptors, the hard limit is {hard} (ulimit -Hn)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    levels = parse_levels(args.levels)
    biggest = max([n for _, n in levels] + [args.cycle_size])
    raise_fd_limit(biggest + 512)  # the sidecar inherits the limit: it needs as many
    result: dict[str, Any] = {"levels": [], "cycles": [], "sidecar_args": args.sidecar_arg,
                              "root": str(args.root)}
    root = Path(args.root)
    with tempfile.TemporaryDirectory(prefix="bench-conn-") as tmp:
        # a fresh sidecar for each level and for the cycles: memory an allocator kept from an
        # earlier level (freed, not returned to the OS) would otherwise hide the next level's cost
        for i, (mode, n) in enumerate(levels):
            sc = start_sidecar(root, args.cassandra, Path(tmp) / f"level-{i}", args.sidecar_arg)
            try:
                before = settle_rss(sc, args.settle)
                t0 = time.monotonic()
                socks = open_level(sc, mode, n)
                opened = time.monotonic() - t0
                rss = settle_rss(sc, args.settle)
                close_all(socks)
                sc.wait_connections(0)
                after = settle_rss(sc, args.settle)
            finally:
                sc.stop()
            row = {"mode": mode, "connections": n, "rss_before_kb": before, "rss_kb": rss,
                   "kb_per_connection": (rss - before) / n if n else 0.0, "rss_after_close_kb": after,
                   "open_seconds": round(opened, 2)}
            result["levels"].append(row)
            print(f"{mode:>5} {n:>6}: RSS {before / 1024:6.1f} -> {rss / 1024:7.1f} MB  "
                  f"{row['kb_per_connection']:7.1f} KB/conn  after close {after / 1024:7.1f} MB  "
                  f"(opened in {opened:.1f}s)", flush=True)
        if args.cycles:
            sc = start_sidecar(root, args.cassandra, Path(tmp) / "cycles", args.sidecar_arg)
            try:
                start = settle_rss(sc, args.settle)
                result["cycles_start_rss_kb"] = start
                for i in range(args.cycles):
                    socks = open_level(sc, args.cycle_mode, args.cycle_size)
                    opened_rss = sc.rss_kb()
                    close_all(socks)
                    sc.wait_connections(0)
                    closed_rss = settle_rss(sc, args.settle)
                    result["cycles"].append({"cycle": i + 1, "rss_open_kb": opened_rss,
                                             "rss_closed_kb": closed_rss})
                    print(f"cycle {i + 1}: {args.cycle_size} {args.cycle_mode} open {opened_rss / 1024:8.1f} MB, "
                          f"all closed {closed_rss / 1024:8.1f} MB", flush=True)
            finally:
                sc.stop()
    return result


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    print()
    print("| connections | state | RSS with none | RSS with them open | KB per connection | RSS after all closed |")
    print("|---:|---|---:|---:|---:|---:|")
    for row in r["levels"]:
        print(f"| {row['connections']:,} | {row['mode']} | {row['rss_before_kb'] / 1024:,.1f} MB | "
              f"{row['rss_kb'] / 1024:,.1f} MB | {row['kb_per_connection']:,.1f} | "
              f"{row['rss_after_close_kb'] / 1024:,.1f} MB |")
    if r["cycles"]:
        print()
        print(f"{args.cycles} cycles of {args.cycle_size} {args.cycle_mode} connections opened, then all closed "
              f"(RSS before the first: {r['cycles_start_rss_kb'] / 1024:.1f} MB):")
        print()
        print("| cycle | RSS with all open | RSS after all closed |")
        print("|---:|---:|---:|")
        for c in r["cycles"]:
            print(f"| {c['cycle']} | {c['rss_open_kb'] / 1024:,.1f} MB | {c['rss_closed_kb'] / 1024:,.1f} MB |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cassandra", default="127.0.0.1:9042")
    p.add_argument("--levels", default="idle:1000,ready:1000,idle:10000",
                   help="comma-separated MODE:N, MODE idle (TCP only) or ready (past STARTUP)")
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--cycle-size", type=int, default=400)
    p.add_argument("--cycle-mode", choices=("idle", "ready"), default="ready")
    p.add_argument("--settle", type=float, default=1.0, help="seconds to wait before reading the RSS")
    p.add_argument("--root", default=str(ROOT), help="checkout to run the sidecar from")
    p.add_argument("--sidecar-arg", action="append", default=[], help="extra `serve` option (repeatable)")
    p.add_argument("--json", help="write the figures to this file as JSON")
    args = p.parse_args()
    r = run(args)
    report(r, args)
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
