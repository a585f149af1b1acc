"""The pass lane (proxy.session.pass_lane): a request crosses unchanged only when the general path
(describe, decide) would have forwarded it as it came, and a session mixing the lane with the
general path delivers every request to Cassandra once, in order, and every answer to the client
on its own stream, however the bytes are cut into reads."""

from __future__ import annotations

import struct
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sidecar_pair import SidecarPair, prepared_id

from cql_protocol.compression import compress_frame_body
from cql_protocol.errors import ErrorCode
from cql_protocol.frame import HEADER, Frame, FrameReader
from cql_protocol.messages import (
    ErrorMessage,
    Event,
    Execute,
    Options,
    Prepare,
    Query,
    QueryParameters,
    SchemaChange,
    decode_frame,
    encode_message,
)
from cql_protocol.opcodes import FrameFlag, Opcode
from cql_protocol.segment import SegmentCodec
from proxy.assess.collector import Assessor
from proxy.config import Config
from proxy.metrics import ERRORS_BY_CODE, STATS
from proxy.routing.decide import Action, decide
from proxy.routing.request import PreparedStatement, Request, describe
from proxy.session import client_session as cs
from proxy.session import handshake
from proxy.session import upstream as up
from proxy.session.pass_lane import pass_requests, query_verdict
from tests.unit.test_request_path import MAPPING

BOMB, CORRUPT = 0x101, 0x201  # (compressed bodies announcing 2 GiB, or not decompressing: flag COMPRESSED)
WRITE_ID, READ_ID, OTHER_ID, SYSTEM_ID, UNKNOWN_ID = b"w" * 16, b"r" * 16, b"o" * 16, b"s" * 16, b"?" * 16
PREPARED = {
    WRITE_ID: PreparedStatement.of("INSERT INTO t (k, v) VALUES (?, ?)", "ks", ()),
    READ_ID: PreparedStatement.of("SELECT v FROM ks.t WHERE k = ?", "ks", ()),
    OTHER_ID: None,  # prepared through the sidecar, on no mapped table
}
SYSTEM_PREPARED = {SYSTEM_ID: object()}
FLAGS = (0, FrameFlag.TRACING, FrameFlag.CUSTOM_PAYLOAD, FrameFlag.COMPRESSED, FrameFlag.WARNING, FrameFlag.USE_BETA,
         FrameFlag.COMPRESSED | FrameFlag.TRACING, FrameFlag.COMPRESSED | FrameFlag.CUSTOM_PAYLOAD, BOMB, CORRUPT)


def raw(stream: int, opcode: int, body: bytes, flags: int = 0, version: int = 4, response: bool = False) -> bytes:
    return HEADER.pack(version | (0x80 if response else 0), flags, stream, opcode, len(body)) + body


def execute_body(qid: bytes, flags: int = 0, values: tuple[bytes, ...] = (b"\x00\x00\x00\x01",)) -> bytes:
    payload = struct.pack(">H", 1) + struct.pack(">H", 1) + b"k" + struct.pack(">i", 1) + b"v" \
        if flags & FrameFlag.CUSTOM_PAYLOAD else b""
    body = struct.pack(">H", len(qid)) + qid + struct.pack(">HBH", 1, 0x01, len(values))
    return payload + body + b"".join(struct.pack(">i", len(v)) + v for v in values)


class View:
    def __init__(self, draining: bool, mirroring: bool, phase: str | None) -> None:
        self.draining, self.mirroring, self.phase = draining, mirroring, phase

    def phase_of(self, keyspace: str, table: str) -> tuple[str, float] | None:
        return (self.phase, 100.0) if self.phase is not None and (keyspace, table) == ("ks", "t") else None


# simple statements: on the mapped ks.t (qualified or not), elsewhere, USE, system reads, a batch, junk
TEXTS = [b"SELECT v FROM ks.t WHERE k = 1", b"UPDATE t SET v = 2 WHERE k = 1", b"SELECT * FROM ks.free",
         b"INSERT INTO free (k) VALUES (1)", b"USE ks", b"SELECT * FROM system.peers", b"select * from SYSTEM.local",
         b"BEGIN BATCH INSERT INTO ks.free (k) VALUES (1) APPLY BATCH", b"TRUNCATE ks.t", b"nonsense", b"\xff\xfe"]
a_request = st.one_of(
    st.tuples(st.just(int(Opcode.EXECUTE)), st.sampled_from([WRITE_ID, READ_ID, OTHER_ID, SYSTEM_ID, UNKNOWN_ID]),
              st.sampled_from(FLAGS), st.integers(0, 5)),
    st.tuples(st.just(int(Opcode.QUERY)), st.sampled_from(TEXTS),
              st.sampled_from([0, FrameFlag.TRACING, FrameFlag.COMPRESSED, FrameFlag.CUSTOM_PAYLOAD]),
              st.integers(0, 5)),
    st.tuples(st.sampled_from([int(Opcode.BATCH), int(Opcode.OPTIONS), int(Opcode.REGISTER),
                               int(Opcode.PREPARE), int(Opcode.STARTUP)]),
              st.just(b""), st.just(0), st.integers(0, 5)),
)


def body_of(opcode: int, qid: bytes, flags: int, compression: str | None = None) -> bytes:
    if opcode == Opcode.EXECUTE:
        body = execute_body(qid, flags)
        if flags == BOMB:
            return b"\x7f\xff\xff\xff" + body if compression == "lz4" else b"\xff\xff\xff\xff\x07" + body
        if flags == CORRUPT:
            return compress_frame_body(body, compression or "lz4")[:-3] + b"\xff\xff\xff"
        return compress_frame_body(body, compression) if flags & FrameFlag.COMPRESSED and compression else body
    if opcode in (Opcode.QUERY, Opcode.PREPARE):
        q = qid or b"SELECT v FROM ks.t WHERE k = 1"
        body = struct.pack(">i", len(q)) + q + (b"\x00\x01\x00" if opcode == Opcode.QUERY else b"")
        if flags & FrameFlag.CUSTOM_PAYLOAD:
            body = struct.pack(">H", 0) + body
        return compress_frame_body(body, compression) if flags & FrameFlag.COMPRESSED and compression else body
    return b"\x00\x00"


@settings(max_examples=400, deadline=None)
@given(frames=st.lists(a_request, max_size=12), mirroring=st.booleans(), draining=st.booleans(),
       phase=st.sampled_from([None, "cassandra", "dual_write", "dynamo"]),
       pending=st.sets(st.integers(0, 5), max_size=3), room=st.integers(0, 8),
       compression=st.sampled_from([None, "lz4", "snappy"]), system=st.booleans())
def test_the_lane_takes_only_what_the_general_path_forwards_as_it_came(
        frames: list[tuple[int, bytes, int, int]], mirroring: bool, draining: bool, phase: str | None,
        pending: set[int], room: int, compression: str | None, system: bool) -> None:
    system_prepared = SYSTEM_PREPARED if system else {}
    view = View(draining, mirroring, phase)

    def forwarded_as_it_came(qid: bytes, ps: PreparedStatement) -> bool:  # (the session asks decide() too)
        req = Request(None, Opcode.EXECUTE, ps.kind, ps.query, ps.table_keyspace, ps.table,  # type: ignore[arg-type]
                      query_id=qid, prepared=ps)
        return decide(req, view) is Action.FORWARD  # type: ignore[arg-type]

    data = b"".join(raw(s, op, body_of(op, qid, fl, compression), fl & 0xFF) for op, qid, fl, s in frames)
    passing: dict[int, tuple[int, float]] = {}
    end = 0 if draining else pass_requests(  # the session asks the lane nothing while draining
        data, 0, version=4, max_body=1 << 20, prepared=PREPARED if mirroring else None,
        system_prepared=system_prepared, pending=dict.fromkeys(pending), passing=passing, room=room, now=1.0,
        compression=compression, mapped=forwarded_as_it_came,
        queries=lambda text: query_verdict(text, "ks", PREPARED if mirroring else None, system_prepared, view))
    reader = FrameReader(responses=False, max_frame_size=1 << 20, compression=compression)
    reader.feed(data[:end])
    passed = reader.frames()
    assert reader.buffered() == 0  # the lane stops at a frame boundary
    assert len(passed) == len(passing) <= room
    for f in passed:
        req = describe(f, "ks", PREPARED if mirroring else None, system_prepared)
        assert decide(req, view) is Action.FORWARD  # type: ignore[arg-type]
        assert req.kind != "BATCH" and f.opcode in (Opcode.EXECUTE, Opcode.QUERY)
        if f.opcode == Opcode.QUERY:  # a statement no phase and no assessment applies to
            assert req.system_table is None and (req.table is None or view.phase_of("ks", req.table) is None)
        assert f.stream not in pending and passing[f.stream][0] == f.opcode
    # and what it leaves is not the lane's: the first frame after the run
    if end < len(data) and room > len(passed) and not draining:
        op, qid, fl, s = frames[len(passed)]
        taken = {f.stream for f in passed} | pending
        looked_at = mirroring or system
        assert (op not in (Opcode.EXECUTE, Opcode.QUERY) or fl & FrameFlag.CUSTOM_PAYLOAD or s in taken
                or (op == Opcode.QUERY and qid not in (b"SELECT * FROM ks.free", b"INSERT INTO free (k) VALUES (1)",
                                                       b"TRUNCATE ks.t", b"nonsense") and not (
                        not mirroring and qid in (b"UPDATE t SET v = 2 WHERE k = 1", b"SELECT v FROM ks.t WHERE k = 1",
                                                  b"BEGIN BATCH INSERT INTO ks.free (k) VALUES (1) APPLY BATCH")))
                or (op == Opcode.QUERY and mirroring and qid == b"TRUNCATE ks.t")
                or (fl & FrameFlag.COMPRESSED and compression is None) or fl == BOMB
                or (fl == CORRUPT and looked_at)
                or (qid in (WRITE_ID, READ_ID) and mirroring and not forwarded_as_it_came(qid, PREPARED[qid]))
                or (qid == SYSTEM_ID and system) or (mirroring and qid not in PREPARED)
                or fl & (FrameFlag.WARNING | FrameFlag.USE_BETA))


# -- a session mixing the lane and the general path ------------------------------------------------
class Transport:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes | memoryview) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def is_reading(self) -> bool:
        return True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def session(cfg: Config | None = None, version: int = 4,
            compressed: bool | None = None) -> tuple[Any, Any, Transport, Transport]:
    cfg = cfg or Config()
    server = SimpleNamespace(cfg=cfg, sessions=set(), lane_queries={}, draining=False, dual=None, reads=None, assess=None,
                             timeouts=SimpleNamespace(any=False))
    s = cs.ClientSession(server)  # type: ignore[arg-type]
    s.state = handshake.State.READY
    client, cassandra = Transport(), Transport()
    s.transport = client  # type: ignore[assignment]
    u = up.UpstreamConnection(s, cfg.max_frame_bytes)
    u.transport = cassandra  # type: ignore[assignment]
    s.upstream = u
    s.version = version
    if compressed is not None:  # v5 after READY: segments both ways, on both connections
        s.compression = "lz4" if compressed else None
        s.switch_client_to_segments()
        u.use_segments(compressed)
    return s, u, client, cassandra


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(marks)]


def frames_of(data: bytes | bytearray, responses: bool, compressed: bool | None = None) -> list[Frame]:
    r = FrameReader(responses=responses, compression=None)
    if compressed is not None:
        r.use_segments(compressed)
    r.feed(bytes(data))
    return r.frames()


def framed(envelopes: list[bytes], compressed: bool | None, groups: list[int]) -> bytes:
    """v3/v4: the frames back to back; v5: self-contained segments of `groups` envelopes each."""
    if compressed is None:
        return b"".join(envelopes)
    codec, out, i, g = SegmentCodec(compressed), [], 0, 0
    while i < len(envelopes):
        n = groups[g % len(groups)] if groups else 1
        out.append(codec.encode_segment(b"".join(envelopes[i:i + n]), True))
        i, g = i + n, g + 1
    return b"".join(out)


# a request: (lane or general, client stream, answered with an ERROR)
a_mixed_request = st.tuples(st.sampled_from(["lane", "payload", "query"]), st.integers(0, 40), st.booleans())


@settings(max_examples=200, deadline=None)
@given(reqs=st.lists(a_mixed_request, min_size=1, max_size=20, unique_by=lambda r: r[1]),
       req_cuts=st.lists(st.integers(0, 10_000), max_size=8), ans_cuts=st.lists(st.integers(0, 10_000), max_size=8),
       order=st.randoms(use_true_random=False),
       own=st.sets(st.integers(0, 40), max_size=3),
       framing=st.sampled_from([(4, None), (3, None), (5, False), (5, True)]),
       groups=st.lists(st.integers(1, 4), max_size=5))
def test_every_request_reaches_cassandra_once_and_every_answer_its_client_stream(
        reqs: list[tuple[str, int, bool]], req_cuts: list[int], ans_cuts: list[int], order: Any,
        own: set[int], framing: tuple[int, bool | None], groups: list[int]) -> None:
    version, compressed = framing
    errors = {i for i, (_, _, error) in enumerate(reqs) if error}
    s, u, client, cassandra = session(version=version, compressed=compressed)
    in_flight = STATS.in_flight
    # requests the sidecar made itself hold some ids: a client request on one of them is renumbered
    for sid in own:
        s.pending[sid] = cs.Pending(-1, int(Opcode.OPTIONS), 0.0, lambda *_: None)
    tagged = []
    for i, (kind, stream, _) in enumerate(reqs):
        tag = struct.pack(">i", i).hex().encode()
        if kind == "query":
            q = b"SELECT v FROM ks.t WHERE k = '" + tag + b"'"
            body = struct.pack(">i", len(q)) + q + b"\x00\x01\x00"
            tagged.append(raw(stream, Opcode.QUERY, body, version=version))
        else:
            flags = FrameFlag.CUSTOM_PAYLOAD if kind == "payload" else 0
            tagged.append(raw(stream, Opcode.EXECUTE, execute_body(OTHER_ID, flags, (tag,)), flags, version))
    for chunk in cut(framed(tagged, compressed, groups), req_cuts):
        s.data_received(chunk)
    sent = frames_of(cassandra.data, responses=False, compressed=compressed)
    # once each, in order, bodies untouched, on distinct ids none of the sidecar's own requests holds
    assert [bytes(f.body) for f in sent] == [t[9:] for t in tagged]
    assert len({f.stream for f in sent}) == len(sent) and not {f.stream for f in sent} & own
    assert all(f.stream == stream for f, (_, stream, _) in zip(sent, reqs, strict=True) if stream not in own)
    assert STATS.in_flight == in_flight + len(reqs)

    answers = [encode_message(ErrorMessage(0x2200, f"bad {i}"), version, f.stream, response=True).encode()
               if i in errors else raw(f.stream, Opcode.RESULT, struct.pack(">ii", 1, i), version=version,
                                       response=True)  # (a tag after Void)
               for i, f in enumerate(sent)]
    order.shuffle(answers)
    invalid = ERRORS_BY_CODE[ErrorCode.INVALID]._value.get()
    for chunk in cut(framed(answers, compressed, groups[::-1]), ans_cuts):
        u.data_received(chunk)
    got = frames_of(client.data, responses=True, compressed=compressed)
    assert sorted(f.stream for f in got) == sorted(stream for _, stream, _ in reqs)
    by_stream = {f.stream: f for f in got}
    for i, (_, stream, _) in enumerate(reqs):
        f = by_stream[stream]
        if i in errors:
            assert f.opcode == Opcode.ERROR and f"bad {i}".encode() in bytes(f.body)
        else:
            assert f.opcode == Opcode.RESULT and bytes(f.body)[4:8] == struct.pack(">i", i)
    assert not s.passing and set(s.pending) == own
    assert STATS.in_flight == in_flight
    assert ERRORS_BY_CODE[ErrorCode.INVALID]._value.get() == invalid + len(errors)


def test_the_lane_keeps_the_in_flight_limit() -> None:
    cfg = Config()
    cfg.max_in_flight_per_connection = 2
    s, u, client, cassandra = session(cfg)
    s.data_received(b"".join(raw(i, Opcode.EXECUTE, execute_body(OTHER_ID)) for i in range(3)))
    assert [f.stream for f in frames_of(cassandra.data, responses=False)] == [0, 1]
    (refused,) = frames_of(client.data, responses=True)
    assert refused.stream == 2 and refused.opcode == Opcode.ERROR and b"too many requests" in bytes(refused.body)
    u.data_received(b"".join(raw(i, Opcode.RESULT, struct.pack(">i", 1), response=True) for i in (0, 1)))
    assert not s.passing and STATS.in_flight >= 0


def test_a_draining_sidecar_passes_nothing() -> None:
    s, _u, client, cassandra = session()
    s.server.draining = True
    s.data_received(raw(3, Opcode.EXECUTE, execute_body(OTHER_ID)))
    assert not cassandra.data
    (f,) = frames_of(client.data, responses=True)
    assert f.stream == 3 and f.opcode == Opcode.ERROR


def test_an_event_and_the_sidecars_own_answers_take_the_general_path() -> None:
    s, u, client, cassandra = session()
    answered: list[Frame] = []
    s.inject(Options(), lambda _s, f, _p: answered.append(f))
    s.flush()
    (own,) = frames_of(cassandra.data, responses=False)
    assert own.stream == 32767  # the sidecar's own requests count down from the top
    cassandra.data.clear()
    s.data_received(raw(0, Opcode.EXECUTE, execute_body(OTHER_ID)))
    assert 0 in s.passing
    event = Event.schema_change(SchemaChange("CREATED", "TABLE", "ks", "t"))
    u.data_received(raw(32767, Opcode.SUPPORTED, b"\x00\x00", response=True)
                    + encode_message(event, 4, -1, response=True).encode()
                    + raw(0, Opcode.RESULT, struct.pack(">i", 1), response=True))
    assert [f.opcode for f in answered] == [Opcode.SUPPORTED]  # its handler, not the client
    assert [(f.stream, f.opcode) for f in frames_of(client.data, responses=True)] == [(-1, Opcode.EVENT),
                                                                                      (0, Opcode.RESULT)]
    assert not s.pending and not s.passing


def test_a_general_path_frame_between_passing_ones_keeps_the_order() -> None:
    s, _u, _client, cassandra = session()
    payload = FrameFlag.CUSTOM_PAYLOAD
    data = (raw(1, Opcode.EXECUTE, execute_body(OTHER_ID))
            + raw(2, Opcode.EXECUTE, execute_body(OTHER_ID, payload), payload)
            + raw(3, Opcode.EXECUTE, execute_body(OTHER_ID)))
    s.data_received(data)
    assert bytes(cassandra.data) == data  # nothing renumbered or rewritten, in the order sent
    assert set(s.passing) == {1, 3} and set(s.pending) == {2}


def test_v5_segments_whose_envelopes_all_pass_cross_unchanged_others_are_read() -> None:
    for compressed in (False, True):
        s, u, client, cassandra = session(version=5, compressed=compressed)
        codec = SegmentCodec(compressed)
        three = codec.encode_segment(b"".join(raw(i, Opcode.EXECUTE, execute_body(OTHER_ID), version=5)
                                              for i in range(3)), True)
        s.data_received(three)
        assert bytes(cassandra.data) == three and set(s.passing) == {0, 1, 2}  # the very bytes, checksums and all
        answers = codec.encode_segment(b"".join(raw(i, Opcode.RESULT, struct.pack(">i", 1), version=5, response=True)
                                                for i in (2, 0, 1)), True)
        u.data_received(answers)
        assert bytes(client.data) == answers and not s.passing
        # a segment holding one request the lane does not take is read whole by the general path
        cassandra.data.clear()
        payload = FrameFlag.CUSTOM_PAYLOAD
        mixed = codec.encode_segment(raw(4, Opcode.EXECUTE, execute_body(OTHER_ID), version=5)
                                     + raw(5, Opcode.EXECUTE, execute_body(OTHER_ID, payload), payload, 5), True)
        s.data_received(mixed + three)
        assert [(f.stream, f.flags) for f in frames_of(cassandra.data, False, compressed)] == [
            (4, 0), (5, payload), (0, 0), (1, 0), (2, 0)]
        assert bytes(cassandra.data).endswith(three) and set(s.passing) == {0, 1, 2} and set(s.pending) == {4, 5}
        # a segment whose checksum fails is the general path's: the connection ends as Cassandra ends it
        bad = bytearray(three)
        bad[-1] ^= 0xFF
        cassandra.data.clear()
        s2, _u2, client2, cassandra2 = session(version=5, compressed=compressed)
        s2.data_received(bytes(bad))
        assert not cassandra2.data and client2.closed




async def _through(phase: str, lane: bool) -> tuple[dict[str, Any], list[float], bool]:
    """120 EXECUTEs of an INSERT on a mapped table in `phase`, 40 per read: the assessment's
    shapes, its bucket totals, and whether the lane took any."""
    pair = SidecarPair(MAPPING.replace("PHASE", phase))  # (ks.kv in `phase`)
    if not lane:
        pair.session._lane_open = lambda: False  # type: ignore[method-assign]
    server = pair.server
    assert server.mapping is not None
    server.assess = assess = Assessor(server.mapping, sample_percent=25.0)
    took = False
    try:
        await pair.connect()
        insert = "INSERT INTO ks.kv (id, name) VALUES (?, ?)"
        pair.request(Prepare(insert), 1)
        await pair.settle()
        pair.answers()
        pair.peer.new_frames()
        qid = prepared_id(insert)
        chunk = b"".join(encode_message(Execute(qid, QueryParameters(1, values=[struct.pack(">i", i), b"n"])), 4,
                                        10 + i, response=False).encode() for i in range(40))
        for _ in range(3):
            pair.send_bytes(chunk)
            took = took or bool(pair.session.passing)
            await pair.settle()
            assert sorted(f.stream for f in pair.answers()) == list(range(10, 50))
        assert len(pair.peer.new_frames()) == 120  # every one reached Cassandra
        stats = assess.tables[("ks", "kv")]
        totals = [sum(b[i] for b in stats.buckets.values()) for i in range(3)]
        return assess.snapshot()["tables"]["ks.kv"]["shapes"], totals, took
    finally:
        pair.close()


@pytest.mark.parametrize("phase", ["cassandra", "dual_write"])
async def test_statements_on_a_mapped_table_are_counted_and_sampled_as_the_general_path_does(phase: str) -> None:
    """In `cassandra`, EXECUTEs on a mapped table pass the lane, counted for the assessment exactly
    as the general path counts them, the ones to sample left to it; in `dual_write` they are writes
    to mirror and never pass. A session whose lane is shut, same requests: same figures."""
    shapes, totals, took = await _through(phase, lane=True)
    assert took == (phase == "cassandra")
    (shape,) = shapes.values()
    # the first 3 of the shape, then every 4th (25 %)
    assert shape["count"] == 120 and shape["sampled"] == 3 + sum(1 for n in range(4, 121) if n % 4 == 0)
    assert totals[0] == 120
    assert (shapes, totals) == (await _through(phase, lane=False))[:2]


async def test_simple_statements_pass_unless_they_are_the_sidecars_business() -> None:
    """A QUERY on a table outside the mapping passes (qualified, or through the keyspace of USE);
    USE, system-table reads, BATCH and statements on a mapped table (whatever its phase) take the
    general path. Each reaches Cassandra, or is answered, once."""
    pair = SidecarPair(MAPPING.replace("PHASE", "cassandra"))
    server = pair.server
    assert server.mapping is not None
    server.assess = assess = Assessor(server.mapping, sample_percent=1.0)
    try:
        await pair.connect()
        cases = [
            ("SELECT * FROM ks.free WHERE id = 1", True),
            ("INSERT INTO ks.free (id) VALUES (2)", True),
            ("SELECT * FROM ks.kv WHERE id = 1", False),  # mapped: counted by the assessment
            ("INSERT INTO ks.other (id, v) VALUES (1, 'x')", False),
            ("SELECT * FROM system.local", False),  # its rows are the sidecar's to rewrite
            ("BEGIN BATCH INSERT INTO ks.free (id) VALUES (3) APPLY BATCH", False),
            ("USE ks", False),
            ("SELECT * FROM free WHERE id = 1", True),  # ks.free, after USE ks
            ("SELECT * FROM kv WHERE id = 1", False),  # ks.kv, after USE ks
        ]
        for i, (text, passes) in enumerate(cases):
            for _ in range(2):  # the second time from what the server remembers
                pair.request(Query(text, QueryParameters(1)), 20 + i)
                assert (20 + i in pair.session.passing) == passes, text
                await pair.settle()
                (f,) = pair.answers()
                assert f.stream == 20 + i and f.opcode in (Opcode.RESULT, Opcode.ERROR), text
        sent = [decode_frame(f).message.query for f in pair.peer.new_frames()]  # type: ignore[attr-defined]
        assert sent == [t for t, _ in cases for _ in range(2)]
        counted = {k: sh["count"] for k, sh in assess.snapshot()["tables"]["ks.kv"]["shapes"].items()}
        assert sum(counted.values()) == 4  # ks.kv, both ways of naming it, twice each
    finally:
        pair.close()
