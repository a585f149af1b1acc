"""Closed connections leave nothing behind: a sidecar in this process, real sockets, the real
Cassandra, and the cycle collector switched off, so whatever reference counting alone cannot free
stays visible to gc.get_objects(). (RSS figures are for tests/bench/bench_connections.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import struct
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from proxy.config import Config
from proxy.metrics import REGISTRY
from proxy.server import ProxyServer
from proxy.session.client_session import ClientSession, Pending
from proxy.session.upstream import UpstreamConnection

pytestmark = pytest.mark.integration

HEADER = struct.Struct(">BBhBi")
LIVE_TYPES = (ClientSession, UpstreamConnection, Pending)


def _frame(opcode: int, body: bytes, stream: int = 0) -> bytes:
    return HEADER.pack(4, 0, stream, opcode, len(body)) + body


def _string(s: str) -> bytes:
    return struct.pack(">H", len(s)) + s.encode()


STARTUP = _frame(0x01, struct.pack(">H", 1) + _string("CQL_VERSION") + _string("3.0.0"))
OPTIONS = _frame(0x05, b"")
QUERY = _frame(0x07, struct.pack(">i", 34) + b"SELECT * FROM system.local LIMIT 1" + struct.pack(">HB", 1, 0),
               stream=1)


def closed_on_deadlines() -> float:
    return sum(REGISTRY.get_sample_value("cdp_connections_closed_total", {"reason": r}) or 0.0
               for r in ("handshake_timeout", "idle_timeout", "partial_frame_timeout"))


def live_objects() -> list[object]:
    return [o for o in gc.get_objects() if isinstance(o, LIVE_TYPES)]


async def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    hdr = await asyncio.wait_for(reader.readexactly(9), 10)
    _v, _f, _s, op, length = HEADER.unpack(hdr)
    return op, await asyncio.wait_for(reader.readexactly(length), 10)


async def ready_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(STARTUP)
    op, _ = await read_frame(r)
    assert op == 0x02  # READY
    return r, w


async def _close(w: asyncio.StreamWriter) -> None:
    w.close()
    with contextlib.suppress(OSError):
        await w.wait_closed()


async def one_of_each(port: int, n: int) -> None:
    """n connections of every kind a client can leave behind, all closed one way or another."""
    writers: list[asyncio.StreamWriter] = []
    for _ in range(n):
        _, w = await asyncio.open_connection("127.0.0.1", port)  # silent
        writers.append(w)
        _, w = await ready_client(port)  # past STARTUP: holds a Cassandra connection
        writers.append(w)
        r, w = await ready_client(port)  # a request in flight when the client goes
        w.write(QUERY)
        await w.drain()
        writers.append(w)
        _, w = await asyncio.open_connection("127.0.0.1", port)  # mid-frame
        w.write(STARTUP[:5])
        writers.append(w)
        _, w = await asyncio.open_connection("127.0.0.1", port)  # STARTUP then gone while connecting
        w.write(STARTUP)
        writers.append(w)
        r, w = await asyncio.open_connection("127.0.0.1", port)  # garbage: the sidecar closes it
        w.write(_frame(0x42, b""))
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await read_frame(r)
        writers.append(w)
    await asyncio.sleep(0.2)
    for w in writers:
        await _close(w)


async def closed_by_the_sidecar(port: int, n: int) -> None:
    """Connections the sidecar closes itself, on its deadlines (0.5 s here)."""
    conns = []
    for _ in range(n):
        conns.append(await asyncio.open_connection("127.0.0.1", port))  # handshake timeout
        conns.append(await ready_client(port))  # idle timeout
        r, w = await ready_client(port)  # partial frame timeout
        w.write(HEADER.pack(4, 0, 2, 0x07, 4 << 20) + b"x" * 100)
        conns.append((r, w))
    for r, w in conns:
        assert await asyncio.wait_for(r.read(), 5) == b""  # EOF: the sidecar hung up
        await _close(w)


def run_with(loop_kind: str, coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    if loop_kind == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(coro())


@pytest.mark.parametrize("loop_kind", ["uvloop", "asyncio"])
def test_closed_sessions_are_freed_by_reference_counting(cassandra: tuple[str, int], tmp_path: Path,
                                                         loop_kind: str) -> None:
    cfg = Config(listen="127.0.0.1:0", cassandra=f"{cassandra[0]}:{cassandra[1]}", admin="127.0.0.1:0",
                 state_dir=str(tmp_path / "state"), handshake_timeout=0.5, idle_timeout=0.5,
                 partial_frame_timeout=0.5)

    async def scenario() -> None:
        server = ProxyServer(cfg)
        await server.start()
        port = server.listen_port
        gc.collect()
        gc.disable()
        try:
            assert live_objects() == []
            for cycle in range(3):
                await one_of_each(port, 10)
                await wait_until(lambda: not server.sessions)
                await wait_until(lambda: not live_objects())  # freed without gc.collect()
                before = closed_on_deadlines()
                await closed_by_the_sidecar(port, 5)
                await wait_until(lambda: not server.sessions)
                await wait_until(lambda: not live_objects())
                assert closed_on_deadlines() - before == 15, cycle
        finally:
            gc.enable()
            await server.shutdown(0)

    run_with(loop_kind, scenario)


def test_a_silent_connection_opens_no_cassandra_connection(cassandra: tuple[str, int], tmp_path: Path) -> None:
    cfg = Config(listen="127.0.0.1:0", cassandra=f"{cassandra[0]}:{cassandra[1]}", admin="127.0.0.1:0",
                 state_dir=str(tmp_path / "state"))

    async def scenario() -> None:
        server = ProxyServer(cfg)
        await server.start()
        try:
            silent = [(await asyncio.open_connection("127.0.0.1", server.listen_port))[1] for _ in range(20)]
            await wait_until(lambda: len(server.sessions) == 20)
            await asyncio.sleep(0.2)
            assert all(s.upstream is None for s in server.sessions)
            r, w = await ready_client(server.listen_port)  # the first frame opens one
            assert sum(s.upstream is not None for s in server.sessions) == 1
            w.write(OPTIONS)
            op, _ = await read_frame(r)
            assert op == 0x06  # SUPPORTED
            for x in [*silent, w]:
                await _close(x)
            await wait_until(lambda: not server.sessions)
        finally:
            await server.shutdown(0)

    run_with("uvloop", scenario)
