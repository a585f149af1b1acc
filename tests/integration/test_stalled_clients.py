"""Slow, stalled and silent clients are closed on their deadlines and counted; drivers that send
their heartbeats, and everyone else, carry on. Raw sockets against a real sidecar process with short
timeouts: handshake 1 s, partial frame 2 s, idle 4 s."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.metrics import CLOSE_REASONS
from tests.conftest import Sidecar, start_sidecar

from .drivers import metric, session_for

pytestmark = pytest.mark.integration

HANDSHAKE, PARTIAL, IDLE = 1.0, 2.0, 4.0
# the sidecar closes on time, give or take a timer tick and a loaded CI machine
EARLY, LATE = 0.2, 2.5

HEADER = struct.Struct(">BBhBi")


def _string(s: str) -> bytes:
    return struct.pack(">H", len(s)) + s.encode()


def frame(opcode: int, body: bytes = b"", stream: int = 0) -> bytes:
    return HEADER.pack(4, 0, stream, opcode, len(body)) + body


STARTUP = frame(0x01, struct.pack(">H", 1) + _string("CQL_VERSION") + _string("3.0.0"))
OPTIONS = frame(0x05)


@pytest.fixture(scope="module")
def strict(cassandra: tuple[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    sc = start_sidecar(cassandra, tmp_path_factory.mktemp("strict"), "--handshake-timeout", str(HANDSHAKE),
                       "--partial-frame-timeout", str(PARTIAL), "--idle-timeout", str(IDLE))
    yield sc
    sc.stop()


def closed(sc: Sidecar, reason: str) -> float:
    return metric(sc, f'cdp_connections_closed_total{{reason="{reason}"}}')


def connect(sc: Sidecar) -> socket.socket:
    return socket.create_connection((sc.host, sc.port), timeout=30)


def read_frame(s: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    _v, _f, _s, op, length = HEADER.unpack(exactly(9))
    return op, exactly(length)


def ready(sc: Sidecar) -> socket.socket:
    s = connect(sc)
    s.sendall(STARTUP)
    assert read_frame(s)[0] == 0x02
    return s


def seconds_until_closed(s: socket.socket, since: float, limit: float = 30.0) -> float:
    """Reads (and discards) until the sidecar hangs up; seconds from `since`."""
    s.settimeout(limit)
    with contextlib.suppress(ConnectionResetError):
        while s.recv(65536):
            pass
    return time.monotonic() - since


def test_every_close_reason_is_exported_from_the_start(cassandra, sidecar_factory) -> None:
    sc = sidecar_factory(cassandra)
    import urllib.request

    req = urllib.request.Request(f"{sc.admin_url}/metrics", headers={"Authorization": f"Bearer {sc.token}"})
    text = urllib.request.urlopen(req, timeout=5).read().decode()
    for reason in CLOSE_REASONS:
        assert f'cdp_connections_closed_total{{reason="{reason}"}} 0.0' in text


def test_silent_client_closed_after_the_handshake_timeout(strict: Sidecar) -> None:
    before = closed(strict, "handshake_timeout")
    t0 = time.monotonic()
    s = connect(strict)
    took = seconds_until_closed(s, t0)
    s.close()
    assert HANDSHAKE - EARLY <= took <= HANDSHAKE + LATE
    assert closed(strict, "handshake_timeout") == before + 1


def test_slowloris_closed_after_the_handshake_timeout(strict: Sidecar) -> None:
    """STARTUP one byte every 0.15 s: each byte is progress, none of it a handshake."""
    before = closed(strict, "handshake_timeout")
    t0 = time.monotonic()
    s = connect(strict)
    stop = threading.Event()

    def trickle() -> None:
        for b in STARTUP:
            if stop.wait(0.15):
                return
            try:
                s.send(bytes([b]))
            except OSError:
                return

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    took = seconds_until_closed(s, t0)
    stop.set()
    t.join()
    s.close()
    assert HANDSHAKE - EARLY <= took <= HANDSHAKE + LATE
    assert took < len(STARTUP) * 0.15  # closed long before the frame could have been finished
    assert closed(strict, "handshake_timeout") == before + 1


def test_client_sending_options_but_never_startup_is_closed(strict: Sidecar) -> None:
    """Complete frames are not a handshake: OPTIONS answered every 0.3 s, still closed on time."""
    before = closed(strict, "handshake_timeout")
    t0 = time.monotonic()
    s = connect(strict)
    answered = 0
    with contextlib.suppress(ConnectionError, OSError):
        while time.monotonic() - t0 < HANDSHAKE + LATE + 1:
            s.sendall(OPTIONS)
            assert read_frame(s)[0] == 0x06  # SUPPORTED
            answered += 1
            time.sleep(0.3)
    took = time.monotonic() - t0
    s.close()
    assert answered >= 2
    assert took <= HANDSHAKE + LATE + 0.5
    assert closed(strict, "handshake_timeout") == before + 1


def test_partial_frame_closed_after_the_partial_frame_timeout(strict: Sidecar) -> None:
    """After the handshake: a header promising 4 MiB, then a few bytes, then nothing."""
    before = closed(strict, "partial_frame_timeout")
    s = ready(strict)
    t0 = time.monotonic()
    s.sendall(HEADER.pack(4, 0, 1, 0x07, 4 << 20) + b"x" * 64)
    took = seconds_until_closed(s, t0)
    s.close()
    assert PARTIAL - EARLY <= took <= PARTIAL + LATE
    assert took < IDLE  # the partial frame's deadline, not the idle one
    assert closed(strict, "partial_frame_timeout") == before + 1


def test_partial_frame_trickled_is_closed_too(strict: Sidecar) -> None:
    """A frame that keeps growing but never ends is as stalled as one that stopped."""
    before = closed(strict, "partial_frame_timeout")
    s = ready(strict)
    t0 = time.monotonic()
    s.sendall(HEADER.pack(4, 0, 1, 0x07, 1 << 20))
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.2):
            try:
                s.send(b"y" * 100)
            except OSError:
                return

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    took = seconds_until_closed(s, t0)
    stop.set()
    t.join()
    s.close()
    assert PARTIAL - EARLY <= took <= PARTIAL + LATE
    assert closed(strict, "partial_frame_timeout") == before + 1


def test_idle_client_closed_after_the_idle_timeout(strict: Sidecar) -> None:
    before = closed(strict, "idle_timeout")
    s = ready(strict)
    t0 = time.monotonic()
    took = seconds_until_closed(s, t0)
    s.close()
    assert IDLE - EARLY <= took <= IDLE + LATE
    assert closed(strict, "idle_timeout") == before + 1


def test_slow_but_steady_client_stays(strict: Sidecar) -> None:
    """Frames that each take a second to arrive, one after the other, for longer than every
    deadline: each completes in time, so the connection is never stalled nor idle."""
    s = ready(strict)
    t0 = time.monotonic()
    while time.monotonic() - t0 < IDLE + PARTIAL:
        for i in range(0, len(OPTIONS), 3):
            s.sendall(OPTIONS[i:i + 3])
            time.sleep(1.0 / 3)
        assert read_frame(s)[0] == 0x06
    s.sendall(OPTIONS)
    assert read_frame(s)[0] == 0x06
    s.close()


def _driver_connections(cluster: Any) -> list[Any]:
    conns = [cluster.control_connection._connection]
    for holder in cluster.get_connection_holders():
        conns.extend(holder.get_connections())
    return conns


def test_driver_with_heartbeats_and_other_clients_are_unaffected(strict: Sidecar, tmp_path: Path) -> None:
    """A driver heartbeating every second (below the 4 s idle timeout) keeps its connections for
    three times the idle timeout and serves every request while stalled clients next to it are
    closed."""
    cluster, session = session_for(strict.host, strict.port, idle_heartbeat_interval=1)
    stalled: list[socket.socket] = []
    try:
        conns = _driver_connections(cluster)
        assert all(not c.is_closed for c in conns)
        counts = {r: closed(strict, r) for r in ("handshake_timeout", "partial_frame_timeout", "idle_timeout")}
        for _ in range(10):
            stalled.append(connect(strict))  # silent
            s = ready(strict)
            s.sendall(HEADER.pack(4, 0, 1, 0x07, 4 << 20) + b"z" * 10)  # partial frame
            stalled.append(s)
            stalled.append(ready(strict))  # idle
        t0 = time.monotonic()
        queries = 0
        while time.monotonic() - t0 < 3 * IDLE:
            assert session.execute("SELECT release_version FROM system.local").one() is not None
            queries += 1
            time.sleep(0.25 if queries < 4 else 2.5)  # then quiet stretches longer than the heartbeat
        # the driver is still on the connections it opened
        assert _driver_connections(cluster) == conns
        assert all(not c.is_closed and not c.is_defunct for c in conns)
        # the stalled ones were closed, each for its own reason, and counted
        for s in stalled:
            s.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                while s.recv(65536):
                    pass
        assert closed(strict, "handshake_timeout") == counts["handshake_timeout"] + 10
        assert closed(strict, "partial_frame_timeout") == counts["partial_frame_timeout"] + 10
        assert closed(strict, "idle_timeout") == counts["idle_timeout"] + 10
    finally:
        for s in stalled:
            s.close()
        cluster.shutdown()


def test_timeouts_off(cassandra, sidecar_factory) -> None:
    """0 turns them off: a silent client is still connected after a while."""
    sc = sidecar_factory(cassandra, "--handshake-timeout", "0", "--partial-frame-timeout", "0",
                         "--idle-timeout", "0")
    s = connect(sc)
    s.settimeout(1.5)
    with pytest.raises(TimeoutError):
        s.recv(1)
    s.sendall(STARTUP)
    assert read_frame(s)[0] == 0x02
    s.close()
