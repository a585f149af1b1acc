"""The pass lane: requests and answers that cross the sidecar unchanged, as the bytes they came in.

Most traffic through a sidecar is EXECUTE of statements it has nothing to do with, and their
answers. describe() and decide() would send each such request to Cassandra as it came; the lane
reaches the same decision from the frame header and the prepared id alone, without building a
Frame, and forwards whole runs of such frames as one slice of the bytes read from the socket. Its
requests keep their own stream id on the Cassandra connection (the sidecar's own requests take ids
from the top, proxy.session.stream_ids), so their answers need no rewriting either.

A frame passes only when the general path would have forwarded it untouched, answered by no
handler, seen by no assessment (tests/unit/test_pass_lane.py holds the two to the same answers):
  - requests: EXECUTE without a custom payload (its body would need more than a glance), of an id
    that is not a system-table read of this session and, when it is a statement on a mapped table,
    that the table's phase leaves to Cassandra alone (decided by decide() itself, and counted by the
    assessment as the general path counts it, unless it is one to sample); its stream id is free;
    the in-flight limits leave room; the sidecar is not draining. A QUERY passes under the same
    conditions when its text, in the session's keyspace, is one the general path forwards as it
    came whatever the phases (on no mapped table, neither USE, a BATCH nor a system-table read:
    `query_verdict`, which a session may remember per text). A compressed body passes when it announces a size within the limit (the bomb check the reader makes), and
    is decompressed only when its id must be looked at.
  - answers: anything but ERROR (counted by its code on the general path) on a stream of a request
    that passed.
Everything else stops the lane at that frame; the general path reads it, and the lane resumes
after it. Nothing before READY uses the lane.

v5 carries envelopes in checksummed segments: a segment passes as it came when it is
self-contained, its checksums hold and every envelope in it passes; else the general path reads
that segment (a segment is not cut: Cassandra and the driver see the same segments either way).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from cql_protocol.compression import check_declared_length, decompress_frame_body
from cql_protocol.errors import ProtocolError
from cql_protocol.frame import Frame
from cql_protocol.opcodes import FrameFlag, Opcode
from cql_protocol.segment import SegmentCodec

from ..metrics import LatencyHistogram
from ..routing.decide import Action, decide
from ..routing.request import describe

_HEADER = struct.Struct(">BBhBi").unpack_from
_SHORT = struct.Struct(">H").unpack_from
_EXECUTE = int(Opcode.EXECUTE)
_QUERY = int(Opcode.QUERY)
_INT = struct.Struct(">i").unpack_from
_ERROR = int(Opcode.ERROR)
_RESPONSE_BIT = 0x80
# flags a passing request may carry: tracing only changes what Cassandra answers
_FLAGS_OK = int(FrameFlag.TRACING)
_COMPRESSED = int(FrameFlag.COMPRESSED)
_MISSING = object()

# (request opcode, time it passed): what the lane keeps of a request until its answer
Passing = dict[int, tuple[int, float]]


def frame_end(data: bytes | memoryview, pos: int, max_body: int) -> int | None:
    """Where the frame at `pos` ends, when it is all in `data` and its length is sane."""
    if len(data) - pos < 9:
        return None
    length = _HEADER(data, pos)[4]
    end = pos + 9 + length
    if length < 0 or length > max_body or end > len(data):
        return None
    return end


def pass_requests(
    data: bytes | memoryview,
    pos: int,
    version: int,
    max_body: int,
    prepared: Mapping[bytes, Any] | None,
    system_prepared: Mapping[bytes, Any],
    pending: Mapping[int, Any],
    passing: Passing,
    room: int,
    now: float,
    compression: str | None = None,
    mapped: Any = None,
    queries: Any = None,
) -> int:
    """Scans requests from `pos`; returns where the run of passing frames ends. Each one is
    recorded in `passing` under its stream id. `prepared`: every id prepared through the sidecar,
    None for those of no mapped statement (None: nothing is mapped); `pending`: the streams the
    general path has in flight; `room`: how many more requests the in-flight limits allow;
    `compression`: the algorithm the connection negotiated for frame bodies; `mapped(qid, statement)`:
    whether a statement on a mapped table passes (None: none does); `queries(text)`: whether a
    QUERY of that text (utf-8 bytes) passes (None: none does)."""
    n = len(data)
    look = prepared is not None or bool(system_prepared)
    while n - pos >= 9 and room > 0:
        vbyte, flags, stream, opcode, length = _HEADER(data, pos)
        end = pos + 9 + length
        if (vbyte != version or length < 2 or end > n or length > max_body
                or stream < 0 or stream in passing or stream in pending):
            break
        if opcode != _EXECUTE and (opcode != _QUERY or queries is None):
            break
        body: bytes | memoryview = data
        start = pos + 9
        if flags & ~_FLAGS_OK:
            if flags & ~_FLAGS_OK != _COMPRESSED or compression is None:
                break
            try:
                if look or opcode == _QUERY:
                    body, start = decompress_frame_body(memoryview(data)[start:end], compression, max_body), 0
                else:
                    check_declared_length(compression, memoryview(data)[start:end], max_body)
            except ProtocolError:
                break  # a bomb or a corrupt body: the general path answers it
        if opcode == _QUERY:
            bound = end if start else len(body)
            if bound - start < 4:
                break
            text_end = start + 4 + _INT(body, start)[0]
            if text_end < start + 4 or text_end > bound or not queries(bytes(body[start + 4:text_end])):
                break
        elif look:
            id_end = start + 2 + _SHORT(body, start)[0] if len(body) - start >= 2 else -1
            if id_end < 0 or id_end > (end if start else len(body)):
                break  # malformed: the general path answers it
            qid = bytes(body[start + 2:id_end])
            if qid in system_prepared:
                break
            if prepared is not None:
                ps = prepared.get(qid, _MISSING)
                if ps is not None and (ps is _MISSING or mapped is None or not mapped(qid, ps)):
                    break
        passing[stream] = (opcode, now)
        room -= 1
        pos = end
    return pos


def pass_responses(
    data: bytes | memoryview,
    pos: int,
    version: int,
    passing: Passing,
    latency: Mapping[int, LatencyHistogram],
    now: float,
) -> tuple[int, int]:
    """Scans Cassandra's answers from `pos`: (where the run that goes to the client unchanged
    ends, how many requests it answers). Each answered request leaves `passing`, its latency
    recorded."""
    n = len(data)
    vb = version | _RESPONSE_BIT
    done = 0
    while n - pos >= 9:
        vbyte, _flags, stream, opcode, length = _HEADER(data, pos)
        end = pos + 9 + length
        if vbyte != vb or opcode == _ERROR or length < 0 or end > n:
            break
        p = passing.pop(stream, None)
        if p is None:
            break
        latency[p[0]].observe(now - p[1])
        done += 1
        pos = end
    return pos, done


def drive(data: bytes, lane: Any, general: Any, unit_end: Any, pos: int) -> None:
    """Goes on from `pos`, where the lane stopped: the frame (v5: segment) there goes to
    `general(bytes)`, the general reading path, then the lane runs again after it (`lane(data, pos)`
    returns where its run ends, -1 when the lane is closed). A unit not yet whole, or not sane
    (`unit_end(data, pos)` is None), goes to `general` with everything after it."""
    n = len(data)
    while True:
        end = unit_end(data, pos)
        if end is None:
            break
        general(memoryview(data)[pos:end])
        if end == n:
            return
        k = lane(data, end)
        if k < 0:
            pos = end
            break
        if k == n:
            return
        pos = k
    general(memoryview(data)[pos:] if pos else data)


def unit_end(codec: SegmentCodec | None, max_body: int) -> Any:
    """`drive`'s unit: a segment after the v5 switch, else a frame."""
    if codec is not None:
        return codec.segment_end
    return lambda data, pos: frame_end(data, pos, max_body)


def pass_segments(data: bytes, pos: int, codec: SegmentCodec, takes: Any) -> int:
    """v5: where the run of segments from `pos` that pass as they came ends. A segment passes
    when it is whole, self-contained, its checksums hold and `takes(payload)` accepts every
    envelope in it (and then has recorded them)."""
    while True:
        try:
            got = codec.peek(data, pos)
        except ProtocolError:
            return pos  # the general path closes the connection with Cassandra's answer
        if got is None:
            return pos
        payload, self_contained, end = got
        if not self_contained or not takes(payload):
            return pos
        pos = end


def requests_pass(payload: bytes | memoryview, version: int, max_body: int, prepared: Mapping[bytes, Any] | None,
                  system_prepared: Mapping[bytes, Any], pending: Mapping[int, Any], passing: Passing,
                  room: int, now: float, mapped: Any = None, queries: Any = None) -> bool:
    """v5: whether every request envelope in a segment's payload passes; they are then in
    `passing`, else `passing` is as it was."""
    before = len(passing)
    if pass_requests(payload, 0, version, max_body, prepared, system_prepared, pending, passing, room, now,
                     None, mapped, queries) == len(payload):
        return True
    for _ in range(len(passing) - before):
        passing.popitem()  # (the last ones added: a dict keeps insertion order)
    return False


def answers_pass(payload: bytes | memoryview, version: int, passing: Passing) -> bool:
    """v5: whether every answer envelope in a segment's payload goes to the client as it came."""
    n = len(payload)
    vb = version | _RESPONSE_BIT
    pos = 0
    seen: set[int] = set()
    while n - pos >= 9:
        vbyte, _flags, stream, opcode, length = _HEADER(payload, pos)
        end = pos + 9 + length
        if vbyte != vb or opcode == _ERROR or length < 0 or end > n or stream not in passing or stream in seen:
            return False
        seen.add(stream)
        pos = end
    return pos == n


def query_verdict(text: bytes, keyspace: str | None, prepared: Mapping[bytes, Any] | None,
                  system_prepared: Mapping[bytes, Any], view: Any) -> bool:
    """Whether the general path forwards a QUERY of `text` as it came whatever the phases: the
    request describe() reads from it names no mapped table (so no phase and no assessment ever
    applies to it) and decide() forwards it. A fact of the text, the keyspace and the mapping
    alone, so a session may remember it."""
    body = struct.pack(">i", len(text)) + text
    try:
        req = describe(Frame(4, 0, 0, _QUERY, body), keyspace, prepared, system_prepared)
    except ProtocolError:
        return False  # not utf-8: the general path answers it
    if req.system_table is not None or req.kind == "BATCH":
        return False
    if req.table is not None and req.keyspace is not None and view.phase_of(req.keyspace, req.table) is not None:
        return False  # a mapped table: its phase and the assessment decide each time
    return decide(req, view) is Action.FORWARD
