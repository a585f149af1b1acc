"""Load, bad clients, limits and shutdown: the sidecar keeps serving everyone else."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from .drivers import KEYSPACE, ensure_keyspace, metric, session_for

pytestmark = pytest.mark.integration


def test_500_concurrent_requests_on_one_connection(sidecar):
    cluster, session = session_for(sidecar.host, sidecar.port, version=4)
    try:
        ensure_keyspace(session)
        session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.conc (k int PRIMARY KEY, v int)")
        ins = session.prepare(f"INSERT INTO {KEYSPACE}.conc (k, v) VALUES (?, ?)")
        sel = session.prepare(f"SELECT v FROM {KEYSPACE}.conc WHERE k = ?")
        control = cluster.control_connection._connection
        conns = [c for h in cluster.get_connection_holders() for c in h.get_connections() if c is not control]
        assert len(conns) == 1  # one pooled connection carries all 500
        futures = [session.execute_async(ins, (i, i * 3)) for i in range(500)]
        for f in futures:
            f.result()
        futures = [session.execute_async(sel, (i,)) for i in range(500)]
        assert [f.result().one().v for f in futures] == [i * 3 for i in range(500)]
    finally:
        cluster.shutdown()


def test_fifty_connections(sidecar):
    clusters = []
    try:
        for _ in range(50):
            clusters.append(session_for(sidecar.host, sidecar.port, version=4))
        ensure_keyspace(clusters[0][1])
        clusters[0][1].execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.fifty (k int PRIMARY KEY, v int)")
        errors: list[BaseException] = []

        def work(i: int, session) -> None:
            try:
                session.execute(f"INSERT INTO {KEYSPACE}.fifty (k, v) VALUES ({i}, {i})")
                assert session.execute(f"SELECT v FROM {KEYSPACE}.fifty WHERE k = {i}").one().v == i
            except BaseException as e:  # collected and re-raised in the test thread
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i, s)) for i, (_, s) in enumerate(clusters)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert metric(sidecar, "cdp_client_connections_open") >= 50
    finally:
        for c, _ in clusters:
            c.shutdown()


def _raw_connect(sidecar) -> socket.socket:
    s = socket.create_connection((sidecar.host, sidecar.port), timeout=5)
    return s


def _read_frame(s: socket.socket) -> tuple[int, int, int, bytes]:
    hdr = b""
    while len(hdr) < 9:
        chunk = s.recv(9 - len(hdr))
        if not chunk:
            raise ConnectionError("closed")
        hdr += chunk
    version, _flags, stream, opcode, length = struct.unpack(">BBhBi", hdr)
    body = b""
    while len(body) < length:
        body += s.recv(length - len(body))
    return version, stream, opcode, body


def test_garbage_gets_protocol_error_and_others_keep_working(sidecar):
    cluster, session = session_for(sidecar.host, sidecar.port, version=4)
    try:
        bad = _raw_connect(sidecar)
        # A well-formed header with an opcode that no client may send: answered on its stream, and
        # the connection reads on, as Cassandra's does.
        bad.sendall(struct.pack(">BBhBi", 4, 0, 7, 0x42, 0))
        _version, stream, opcode, body = _read_frame(bad)
        assert (stream, opcode) == (7, 0x00)  # ERROR
        code = struct.unpack(">i", body[:4])[0]
        assert code == 0x000A  # protocol error
        bad.sendall(struct.pack(">BBhBi", 4, 0, 8, 0x05, 0))  # OPTIONS
        assert _read_frame(bad)[1:3] == (8, 0x06)  # SUPPORTED
        # An opcode past 0x7f makes Cassandra drop the connection; so does the sidecar.
        bad.sendall(struct.pack(">BBhBi", 4, 0, 9, 0xC2, 0))
        assert bad.recv(1) == b""
        bad.close()
        # Pure noise, and a frame claiming a huge body, on two more connections.
        for junk in (b"\x04\x00\x00\x01\x07\xff\xff\xff\xff", bytes(range(256)) * 4):
            s = _raw_connect(sidecar)
            s.sendall(junk)
            s.settimeout(5)
            try:
                data = s.recv(4096)
                while data:
                    data = s.recv(4096)
            except (ConnectionResetError, TimeoutError):
                pass
            s.close()
        # The well-behaved client never noticed.
        assert session.execute("SELECT release_version FROM system.local").one() is not None
    finally:
        cluster.shutdown()


@pytest.mark.parametrize(("version", "reply_version"), [(2, 2), (6, 5), (0x42, 5)])
def test_unsupported_version_answered_like_cassandra(sidecar, version, reply_version):
    s = _raw_connect(sidecar)
    if version < 3:
        s.sendall(struct.pack(">BBbBi", version, 0, 1, 0x05, 0))
        hdr = s.recv(8)
        v, _f, stream, op, length = struct.unpack(">BBbBi", hdr)
    else:
        s.sendall(struct.pack(">BBhBi", version, 0, 1, 0x05, 0))
        hdr = s.recv(9)
        v, _f, stream, op, length = struct.unpack(">BBhBi", hdr)
    body = s.recv(length)
    assert v == 0x80 | reply_version and op == 0 and stream == 1
    assert b"Invalid or unsupported protocol version" in body
    s.close()


def test_driver_negotiates_down_from_an_unsupported_version(sidecar):
    """A driver that opens with a newer protocol steps down on the sidecar's answer, exactly as it
    does with Cassandra (the version is not pinned, so the driver may negotiate)."""
    from cassandra.cluster import Cluster

    cluster = Cluster([sidecar.host], port=sidecar.port, allow_beta_protocol_version=True)
    cluster.protocol_version = 6  # start above what the sidecar speaks
    try:
        cluster.connect()
        assert cluster.protocol_version == 5
        assert "asked for protocol version 6" in sidecar.log()
    finally:
        cluster.shutdown()


def test_connection_limit(cassandra, sidecar_factory):
    sc = sidecar_factory(cassandra, "--max-connections", "2")
    c1, _ = session_for(sc.host, sc.port, version=4)
    try:
        # The driver holds a control connection and one pooled connection: the limit is reached.
        s = _raw_connect(sc)
        s.settimeout(5)
        assert s.recv(1) == b""  # refused by closing, as Cassandra does
        s.close()
        assert metric(sc, "cdp_client_connections_rejected_total") >= 1
    finally:
        c1.shutdown()


def test_graceful_shutdown_finishes_in_flight_requests(cassandra, sidecar_factory):
    sc = sidecar_factory(cassandra, "--shutdown-grace", "20")
    cluster, session = session_for(sc.host, sc.port, version=4)
    try:
        ensure_keyspace(session)
        session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.drain (k int PRIMARY KEY, v text)")
        ins = session.prepare(f"INSERT INTO {KEYSPACE}.drain (k, v) VALUES (?, ?)")
        futures = [session.execute_async(ins, (i, "x" * 1000)) for i in range(300)]
        futures[20].result()  # traffic is flowing: SIGTERM lands with requests in flight
        sc.proc.send_signal(15)
        ok = 0
        for f in futures:
            try:
                f.result()
                ok += 1
            except Exception as e:
                # requests that arrive while draining get OVERLOADED; requests the driver still had
                # queued when the drained sidecar closed find the connection gone, as with any
                # stopped node. Timeouts or server errors would mean in-flight work was cut off.
                text = str(e)
                assert "shutting down" in text or "Broken pipe" in text or "ConnectionShutdown" in text \
                    or "Connection reset" in text, e
        assert sc.proc.wait(30) == 0
        assert ok > 20
        assert "sidecar stopped" in sc.log()
    finally:
        cluster.shutdown()
