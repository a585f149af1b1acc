"""Oversized frames and compression bombs thrown at a real sidecar over raw sockets.

The bombs (1 MB of lz4 declaring and really holding 250 MiB) go only to the sidecar: Cassandra
5.0.9 allocates whatever a v4 lz4 body declares, and its 1 GB heap would not survive one. Frames
just over Cassandra's own limits are safe for it (it skips them unread), so those go to both and the
answers must be the same. After each bomb the sidecar, Cassandra and a client that was already
connected all still work, and the sidecar's peak RSS stayed far below the declared size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bombs import MIB, frame, lz4_frame_body_bomb, snappy_bomb

from cql_protocol.errors import ErrorCode
from cql_protocol.messages import (
    Authenticate,
    AuthResponse,
    AuthSuccess,
    ErrorMessage,
    Options,
    Query,
    QueryParameters,
    Ready,
    Rows,
    Startup,
    Supported,
    decode_frame,
)
from cql_protocol.opcodes import FrameFlag, Opcode
from cql_protocol.segment import MAX_PAYLOAD, SegmentCodec

from .drivers import metric, session_for
from .raw_client import RawClient, RawConnection

if TYPE_CHECKING:
    from tests.conftest import Sidecar

pytestmark = pytest.mark.integration

DECLARED = 250 * MIB  # what the bombs announce
CASSANDRA_LIMIT = 16 * MIB  # native_transport_max_frame_size and _max_message_size of the back ends
LOCAL = Query("SELECT release_version FROM system.local", QueryParameters(consistency=1))
PLAIN_AUTH = AuthResponse(b"\x00cassandra\x00cassandra")


def memory(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process, in bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def v5_segments(envelope: bytes, compressed: bool) -> bytes:
    codec = SegmentCodec(compressed)
    view = memoryview(envelope)
    return b"".join(codec.encode_segment(view[i : i + MAX_PAYLOAD], False)
                    for i in range(0, len(envelope), MAX_PAYLOAD))


def v5_bomb(stream: int, opcode: int, declared: int = DECLARED) -> bytes:
    """An envelope declaring `declared` bytes of zeros, in lz4 segments of 128 KiB each: about
    1 MB on the wire for 250 MiB."""
    codec = SegmentCodec(True)
    head = struct.pack(">BBhBi", 5, 0, stream, opcode, declared)
    first = codec.encode_segment(head + bytes(MAX_PAYLOAD - len(head)), False)
    n, last = divmod(len(head) + declared - MAX_PAYLOAD, MAX_PAYLOAD)
    middle = codec.encode_segment(bytes(MAX_PAYLOAD), False)
    return first + middle * n + (codec.encode_segment(bytes(last), False) if last else b"")


def error(f: object) -> ErrorMessage:
    assert f is not None, "the connection was closed instead of answered"
    msg = decode_frame(f).message  # type: ignore[arg-type]
    assert isinstance(msg, ErrorMessage), msg
    return msg


def still_serves(c: RawConnection, stream: int = 30) -> None:
    assert isinstance(c.request(LOCAL, stream), Rows)


def cassandra_alive(cassandra: tuple[str, int]) -> None:
    with RawClient(*cassandra) as c:
        assert c.rows("SELECT release_version FROM system.local").rows


@pytest.fixture
def plain(cassandra: tuple[str, int], sidecar_factory) -> Iterator[tuple[Sidecar, object]]:
    """A sidecar in front of the Cassandra without authentication, and a driver connected to it
    before anything is thrown."""
    sc = sidecar_factory(cassandra)
    cluster, session = session_for(sc.host, sc.port, version=4, compression="lz4")
    assert session.execute("SELECT release_version FROM system.local").one()
    yield sc, session
    cluster.shutdown()


@pytest.fixture
def authed(cassandra_auth: tuple[str, int], sidecar_factory) -> Iterator[tuple[Sidecar, object]]:
    """A sidecar passing SASL through to the PasswordAuthenticator Cassandra, and a logged-in
    driver on it."""
    sc = sidecar_factory(cassandra_auth)
    cluster, session = session_for(sc.host, sc.port, version=5, compression="lz4",
                                   username="cassandra", password="cassandra")
    assert session.execute("SELECT release_version FROM system.local").one()
    yield sc, session
    cluster.shutdown()


def report(sc: Sidecar, before: tuple[int, int], label: str) -> None:
    rss, peak = memory(sc.proc.pid)
    print(f"\n{label}: sidecar RSS before {before[0] / MIB:.1f} MiB (peak {before[1] / MIB:.1f}), "
          f"after {rss / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB; bombs declared {DECLARED / MIB:.0f} MiB")
    assert peak - before[1] < 48 * MIB, (before, peak)
    assert peak < DECLARED / 2


# -- the bombs ------------------------------------------------------------------------------------


def test_lz4_bombs_after_startup_v4_and_v5(plain, cassandra: tuple[str, int]) -> None:
    sc, other = plain
    before = memory(sc.proc.pid)

    with RawConnection(sc.host, sc.port, version=4) as c:
        assert isinstance(c.startup("lz4"), Ready)
        body = lz4_frame_body_bomb(DECLARED)  # about 1 MB
        c.send_raw(frame(4, 5, Opcode.QUERY, body, flags=FrameFlag.COMPRESSED))
        f = c.recv()
        err = error(f)
        assert f.stream == 5 and err.code == ErrorCode.PROTOCOL_ERROR  # type: ignore[union-attr]
        assert err.message == (
            f"Invalid uncompressed frame length {DECLARED}; it must be non-negative and no greater than "
            f"native_transport_max_frame_size ({CASSANDRA_LIMIT} bytes)"
        )
        still_serves(c)

    with RawConnection(sc.host, sc.port, version=5) as c:
        assert isinstance(c.startup("lz4"), Ready)
        c.send_raw(v5_bomb(6, Opcode.QUERY))
        f = c.recv()
        err = error(f)
        assert f.stream == 6 and err.code == ErrorCode.INVALID  # type: ignore[union-attr]
        assert err.message == (
            f"CQL Message of size {DECLARED} bytes exceeds allowed maximum of {CASSANDRA_LIMIT} bytes"
        )
        still_serves(c)

    assert sc.proc.poll() is None
    assert other.execute("SELECT release_version FROM system.local").one()  # type: ignore[attr-defined]
    cassandra_alive(cassandra)
    assert metric(sc, "cdp_frames_refused_total") == 2
    report(sc, before, "after STARTUP")


def test_lz4_bombs_before_authentication_v4_and_v5(authed, cassandra_auth: tuple[str, int]) -> None:
    """Pass-through SASL: the bomb comes as the AUTH_RESPONSE Cassandra is waiting for."""
    sc, other = authed
    before = memory(sc.proc.pid)

    with RawConnection(sc.host, sc.port, version=4) as c:
        assert isinstance(c.startup("lz4"), Authenticate)
        c.send_raw(frame(4, 2, Opcode.AUTH_RESPONSE, lz4_frame_body_bomb(DECLARED), flags=FrameFlag.COMPRESSED))
        f = c.recv()
        err = error(f)
        assert f.stream == 2 and err.code == ErrorCode.PROTOCOL_ERROR  # type: ignore[union-attr]
        assert err.message.startswith(f"Invalid uncompressed frame length {DECLARED};")
        # the connection stays usable: the client can still log in
        assert isinstance(c.request(PLAIN_AUTH, 3), AuthSuccess)
        still_serves(c)

    with RawConnection(sc.host, sc.port, version=5) as c:
        assert isinstance(c.startup("lz4"), Authenticate)
        wire = v5_bomb(4, Opcode.AUTH_RESPONSE)
        first = 5 + 3 + (int.from_bytes(wire[:5], "little") & MAX_PAYLOAD) + 4
        c.send_raw(wire[:first])  # Cassandra answers after the first segment and closes
        f = c.recv()
        err = error(f)
        assert f.stream == 4 and err.code == ErrorCode.PROTOCOL_ERROR  # type: ignore[union-attr]
        assert err.message == (
            "The connection is not yet in a valid state to process multi frame CQL Messages, usually "
            f"thismeans that authentication is still pending. type = AUTH_RESPONSE, size = {DECLARED}"
        )
        assert c.recv() is None  # closed

    assert sc.proc.poll() is None
    assert other.execute("SELECT release_version FROM system.local").one()  # type: ignore[attr-defined]
    with RawConnection(*cassandra_auth) as c:  # Cassandra itself, directly
        assert isinstance(c.startup(), Authenticate)
        assert isinstance(c.request(PLAIN_AUTH, 2), AuthSuccess)
        still_serves(c)
    report(sc, before, "before authentication")


# -- frames just over the limit: the sidecar answers as Cassandra does --------------------------


def _oversized_v4(host: str, port: int, version: int) -> tuple[int, int, str]:
    with RawConnection(host, port, version=version) as c:
        assert isinstance(c.startup(), Ready)
        body_len = CASSANDRA_LIMIT - 9 + 1
        c.send_raw(struct.pack(">BBhBI", version, 0, 7, Opcode.QUERY, body_len))
        with pytest.raises(TimeoutError):  # nothing is said before the whole frame went by
            c.recv(timeout=0.5)
        chunk = bytes(1 << 20)
        for i in range(0, body_len, len(chunk)):
            c.send_raw(chunk[: min(len(chunk), body_len - i)])
        f = c.recv()
        err = error(f)
        assert isinstance(c.request(Options(), 8), Supported)  # the connection goes on
        return f.stream, err.code, err.message  # type: ignore[union-attr]


@pytest.mark.parametrize("version", [3, 4])
def test_frame_over_the_limit_answered_like_cassandra(sidecar, cassandra, version: int) -> None:
    theirs = _oversized_v4(*cassandra, version)
    ours = _oversized_v4(sidecar.host, sidecar.port, version)
    assert ours == theirs == (
        7, ErrorCode.INVALID, f"Request is too big: length {CASSANDRA_LIMIT + 1} exceeds maximum allowed "
        f"length {CASSANDRA_LIMIT}."
    )


def _oversized_v5(host: str, port: int) -> tuple[int, int, str]:
    with RawConnection(host, port, version=5) as c:
        assert isinstance(c.startup(), Ready)
        env = struct.pack(">BBhBi", 5, 0, 7, Opcode.QUERY, CASSANDRA_LIMIT + 1) + bytes(CASSANDRA_LIMIT + 1)
        c.send_raw(v5_segments(env, False))
        f = c.recv()
        err = error(f)
        assert isinstance(c.request(Options(), 8), Supported)
        return f.stream, err.code, err.message  # type: ignore[union-attr]


def test_v5_message_over_the_limit_answered_like_cassandra(sidecar, cassandra) -> None:
    theirs = _oversized_v5(*cassandra)
    ours = _oversized_v5(sidecar.host, sidecar.port)
    assert ours == theirs == (
        7, ErrorCode.INVALID,
        f"CQL Message of size {CASSANDRA_LIMIT + 1} bytes exceeds allowed maximum of {CASSANDRA_LIMIT} bytes",
    )


def _multi_segment_before_auth(host: str, port: int) -> tuple[int, int, str]:
    with RawConnection(host, port, version=5) as c:
        assert isinstance(c.startup(), Authenticate)
        env = frame(5, 9, Opcode.AUTH_RESPONSE, bytes(200_000))
        c.send_raw(v5_segments(env, False)[: 3 + 3 + MAX_PAYLOAD + 4])  # the first segment
        f = c.recv()
        err = error(f)
        assert c.recv() is None  # and the connection is closed
        return f.stream, err.code, err.message  # type: ignore[union-attr]


def test_v5_multi_segment_message_before_authentication_like_cassandra(authed, cassandra_auth) -> None:
    sc, _ = authed
    theirs = _multi_segment_before_auth(*cassandra_auth)
    ours = _multi_segment_before_auth(sc.host, sc.port)
    assert ours == theirs
    assert ours[1] == ErrorCode.PROTOCOL_ERROR and ours[2].endswith("type = AUTH_RESPONSE, size = 200000")


def test_limit_set_on_the_command_line(cassandra, sidecar_factory) -> None:
    sc = sidecar_factory(cassandra, "--max-frame-bytes", str(MIB))
    with RawConnection(sc.host, sc.port, version=4) as c:
        assert isinstance(c.startup("lz4"), Ready)
        c.send_raw(frame(4, 3, Opcode.QUERY, bytes(MIB - 9 + 1)))
        err = error(c.recv())
        assert err.message == f"Request is too big: length {MIB + 1} exceeds maximum allowed length {MIB}."
        # a body announcing one byte more than the limit is refused, one announcing the limit passes
        for declared, refused in ((MIB + 1, True), (MIB, False)):
            c.send_raw(frame(4, 4, Opcode.QUERY, lz4_frame_body_bomb(MIB, declared), flags=FrameFlag.COMPRESSED))
            err = error(c.recv())
            # within the limit it reaches Cassandra, which reads a body of zeros as a bad query
            assert (err.code == ErrorCode.PROTOCOL_ERROR and "uncompressed frame length" in err.message) == refused
        still_serves(c)


# -- snappy --------------------------------------------------------------------------------------


def test_snappy_is_offered_like_cassandra_and_its_bombs_refused(sidecar, cassandra) -> None:
    with RawConnection(*cassandra) as direct, RawConnection(sidecar.host, sidecar.port) as c:
        theirs = direct.request(Options(), 1)
        ours = c.request(Options(), 1)
        assert isinstance(theirs, Supported) and isinstance(ours, Supported)
        assert ours.options["COMPRESSION"] == theirs.options["COMPRESSION"] == ["snappy", "lz4"]
        assert isinstance(c.startup("snappy"), Ready)
        still_serves(c)
        # 250 MiB announced in the varint (the body itself is small: the refusal needs no more)
        c.send_raw(frame(4, 5, Opcode.QUERY, snappy_bomb(64 * 1024, declared=DECLARED), flags=FrameFlag.COMPRESSED))
        err = error(c.recv())
        assert err.code == ErrorCode.PROTOCOL_ERROR
        assert err.message.startswith(f"Invalid uncompressed frame length {DECLARED};")
        still_serves(c)
    assert sidecar.proc.poll() is None


def test_snappy_on_v5_is_refused_like_cassandra(sidecar, cassandra) -> None:
    """Same code and words as Cassandra (which answers on the STARTUP's stream and keeps the
    connection; the sidecar treats a refused STARTUP as any protocol error and closes)."""
    answers = []
    for host, port in (cassandra, (sidecar.host, sidecar.port)):
        with RawConnection(host, port, version=5) as c:
            c.send(Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "snappy"}), 3)
            err = error(c.recv())
            answers.append((err.code, err.message))
    assert answers[0] == answers[1] == (ErrorCode.PROTOCOL_ERROR, "Snappy compression is not supported in protocol V5")
