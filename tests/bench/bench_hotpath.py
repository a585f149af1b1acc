#!/usr/bin/env python3
"""CPU cost of the sidecar's pass-through hot path in Python, without sockets or an event loop.

    .venv/bin/python tests/bench/bench_hotpath.py [--requests N] [--batch 1,32] [--profile]

A ClientSession is wired to an UpstreamConnection and to transports that only count bytes. Each
iteration feeds a batch of EXECUTE frames (half an INSERT with a 1 KiB blob, half a SELECT by key)
into ClientSession.data_received, and the matching RESULT frames (Void, or one 1 KiB row) into
UpstreamConnection.data_received: the same calls, in the same order, as under real load, where a
batch is what one read from a socket holds (1 at concurrency 1; tens at high concurrency).

It reports microseconds of CPU per request (both directions). Micro-measurements of single operations on the path (body copy, header packing, ...) follow.
The difference between these numbers and the sidecar's CPU per request in bench_passthrough.py
is the event loop and the kernel (socket reads and writes).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import struct
import sys
import time
import timeit
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cql_protocol.frame import HEADER
from cql_protocol.opcodes import Opcode
from proxy.config import Config
from proxy.session import client_session as cs
from proxy.session import handshake
from proxy.session import upstream as up

VALUE = bytes(range(256)) * 4  # 1 KiB
PREPARED_ID = bytes(16)


def _bytes(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


def execute_body(insert: bool, key: int) -> bytes:
    values = [struct.pack(">i", key)] + ([VALUE] if insert else [])
    body = struct.pack(">H", len(PREPARED_ID)) + PREPARED_ID
    body += struct.pack(">HBH", 0x0001, 0x01, len(values))  # consistency ONE, VALUES flag
    return body + b"".join(_bytes(v) for v in values)


def result_body(insert: bool, key: int) -> bytes:
    if insert:
        return struct.pack(">i", 1)  # Void
    # Rows, NO_METADATA, 2 columns, 1 row
    return struct.pack(">iii", 2, 0x0004, 2) + struct.pack(">i", 1) + _bytes(struct.pack(">i", key)) + _bytes(VALUE)


def frame(response: bool, stream: int, opcode: int, body: bytes) -> bytes:
    return HEADER.pack(4 | (0x80 if response else 0), 0, stream, opcode, len(body)) + body


class CountingTransport:
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def make_session(lane: bool = True) -> tuple[Any, Any]:
    """A READY session and its Cassandra connection; lane=False keeps every frame on the general
    path (decoded, described, decided), as frames the pass lane cannot take go."""
    cfg = Config()
    server = SimpleNamespace(cfg=cfg, sessions=set(), lane_queries={}, in_flight=0, draining=False, dual=None, reads=None, assess=None)
    s = cs.ClientSession(server)  # type: ignore[arg-type]
    s.state = handshake.State.READY  # the handshake is done: the request path proper
    s.transport = CountingTransport()  # type: ignore[assignment]
    u = up.UpstreamConnection(s, cfg.max_frame_bytes)
    u.transport = CountingTransport()  # type: ignore[assignment]
    s.upstream = u
    if not lane:
        s._lane_open = lambda: False  # type: ignore[method-assign]
        u._pass_answers = lambda data, pos: -1  # type: ignore[method-assign]
    return s, u


def make_traffic(batch: int) -> tuple[bytes, bytes]:
    """Client bytes for `batch` requests on streams 0..batch-1, and Cassandra's answers."""
    reqs = b"".join(frame(False, i, Opcode.EXECUTE, execute_body(i % 2 == 0, i)) for i in range(batch))
    # a request keeps its stream id upstream when it is free there (every one is, here); answer
    # them in reverse order, as a server may
    resps = b"".join(frame(True, i, Opcode.RESULT, result_body(i % 2 == 0, i)) for i in reversed(range(batch)))
    return reqs, resps


def run(batch: int, requests: int, lane: bool = True) -> float:
    """CPU microseconds per request through both directions."""
    s, u = make_session(lane)
    reqs, resps = make_traffic(batch)
    iters = max(1, requests // batch)
    for _ in range(min(iters, 200)):  # warm-up
        s.data_received(reqs)
        u.data_received(resps)
    assert not s.pending and not s.passing, "responses did not match the requests"
    t0 = time.process_time()
    for _ in range(iters):
        s.data_received(reqs)
        u.data_received(resps)
    return (time.process_time() - t0) / (iters * batch) * 1e6


def micro() -> list[tuple[str, float]]:
    """Nanoseconds per call of single operations on the path."""
    from cql_protocol.frame import Frame
    from proxy.metrics import STATS
    buf = bytearray(b"\0" * 9 + VALUE + b"\0" * 64)
    f = Frame(4, 0, 5, Opcode.EXECUTE, bytes(1100), False)
    hist = STATS.latency[Opcode.EXECUTE]
    n = 200_000
    env = {"buf": buf, "mv": memoryview, "f": f, "hist": hist, "HEADER": HEADER, "pc": time.perf_counter}
    cases = [
        ("bytes(buf[a:b]) 1 KiB body (as in FrameReader._parse)", "bytes(buf[9:1033])"),
        ("bytes(memoryview(buf)[a:b]) 1 KiB body (one copy)", "bytes(mv(buf)[9:1033])"),
        ("Frame.header(stream) (HEADER.pack)", "f.header(7)"),
        ("HEADER.unpack_from(buf, 0)", "HEADER.unpack_from(buf, 0)"),
        ("latency histogram observe (lock-free)", "hist.observe(0.0012)"),
        ("time.perf_counter()", "pc()"),
    ]
    out = []
    for label, stmt in cases:
        best = min(timeit.repeat(stmt, globals=env, number=n, repeat=5))
        out.append((label, best / n * 1e9))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200_000, help="requests per measurement (default 200000)")
    p.add_argument("--batch", default="1,32", help="requests per socket read, comma-separated (default 1,32)")
    p.add_argument("--repeat", type=int, default=3, help="measurements per cell; the best is kept (default 3)")
    p.add_argument("--profile", action="store_true", help="also print a cProfile of the as-is path")
    args = p.parse_args(argv)
    batches = [int(x) for x in args.batch.split(",") if x.strip()]

    print(f"Python {sys.version.split()[0]}; CPU microseconds per request (request + response), best of "
          f"{args.repeat}; 50% INSERT 1 KiB / 50% SELECT returning 1 KiB")
    for lane, name in ((True, "pass lane"), (False, "general path")):
        for b in batches:
            us = min(run(b, args.requests, lane) for _ in range(args.repeat))
            print(f"  {name:<12} batch {b:>3}: {us:.2f} us per request")
    print("\nsingle operations (ns per call)")
    for label, ns in micro():
        print(f"  {ns:8.0f}  {label}")

    if args.profile:
        for b in batches:
            prof = cProfile.Profile()
            prof.enable()
            run(b, args.requests // 4)
            prof.disable()
            print(f"\ncProfile of the pass lane, batch {b} (tottime)")
            pstats.Stats(prof, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(18)
    return 0


if __name__ == "__main__":
    sys.exit(main())
