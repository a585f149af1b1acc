"""Fuzzing: whatever bytes arrive, the frame reader and message decoder raise only ProtocolError."""

from __future__ import annotations

import contextlib
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cql_protocol.errors import ProtocolError
from cql_protocol.frame import Frame, FrameReader
from cql_protocol.messages import (
    REQUESTS,
    RESPONSES,
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Batch,
    BatchStatement,
    ColumnSpec,
    ErrorMessage,
    Event,
    Execute,
    Message,
    Options,
    Prepare,
    Prepared,
    PreparedMetadata,
    Query,
    QueryParameters,
    Ready,
    Register,
    Rows,
    RowsMetadata,
    SchemaChange,
    SetKeyspace,
    Startup,
    Supported,
    Void,
    decode_frame,
    encode_message,
)
from cql_protocol.primitives import UNSET
from cql_protocol.segment import SegmentCodec
from cql_protocol.types import INT, TEXT, ListType, MapType, TupleType, UDTType

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

COLS = [ColumnSpec("ks", "t", "k", INT), ColumnSpec("ks", "t", "m", MapType(TEXT, ListType(INT)))]
UDT = UDTType("ks", "u", (("a", INT), ("b", TupleType((TEXT, INT)))))


def _requests(version: int) -> list[Message]:
    msgs: list[Message] = [
        Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}),
        Options(),
        AuthResponse(b"\x00user\x00pass"),
        Register(["SCHEMA_CHANGE", "STATUS_CHANGE"]),
        Query(
            "SELECT * FROM t WHERE k = ?",
            QueryParameters(1, values=[b"\x00\x00\x00\x01", None, UNSET], page_size=100, paging_state=b"ps",
                            serial_consistency=9, timestamp=5),
        ),
        Query("Q", QueryParameters(4, values=[b"a"], names=["n"], skip_metadata=True)),
        Prepare("SELECT 1"),
        Execute(b"\x01" * 16, QueryParameters(1, values=[b"v"]), b"\x02" * 16 if version >= 5 else None),
        Batch(1, [BatchStatement.of_query("INSERT", [b"x"]), BatchStatement.of_prepared(b"\x03", [None])], 1,
              serial_consistency=8, timestamp=7),
    ]
    if version >= 5:
        msgs.append(Query("Q", QueryParameters(1, keyspace="ks", now_in_seconds=3)))
        msgs.append(Prepare("Q", "ks"))
    return msgs


def _responses(version: int) -> list[Message]:
    msgs: list[Message] = [
        Ready(),
        Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"),
        Supported({"CQL_VERSION": ["3.4.7"], "COMPRESSION": ["lz4"]}),
        AuthChallenge(b"c"),
        AuthSuccess(None),
        Void(),
        SetKeyspace("ks"),
        Rows(RowsMetadata(COLS, paging_state=b"p"), [[b"\x00\x00\x00\x01", None], [b"", b"\x00\x00\x00\x00"]]),
        Rows(RowsMetadata([ColumnSpec("ks", "t", "u", UDT)]), [[b"\x00"]]),
        Rows(RowsMetadata(None, 2), [[b"a", b"b"]]),
        Prepared(b"\x01" * 16, b"\x02" * 16 if version >= 5 else None, PreparedMetadata(COLS, [0]),
                 RowsMetadata(COLS)),
        SchemaChange("CREATED", "FUNCTION", "ks", "f", ["int"]),
        Event("STATUS_CHANGE", "UP", ("10.0.0.1", 9042)),
        Event.schema_change(SchemaChange("DROPPED", "TABLE", "ks", "t")),
        ErrorMessage(0x1000, "u", consistency=1, required=2, alive=1),
        ErrorMessage(0x1300, "rf", consistency=1, received=0, block_for=1, num_failures=1,
                     reasonmap={"10.0.0.1": 1}, data_present=True),
        ErrorMessage(0x1500, "wf", consistency=1, received=0, block_for=1, num_failures=1,
                     reasonmap={"::1": 1}, write_type="SIMPLE"),
        ErrorMessage(0x1100, "wt", consistency=8, received=0, block_for=1, write_type="CAS", contentions=1),
        ErrorMessage(0x1400, "ff", keyspace="ks", function="f", arg_types=["int"]),
        ErrorMessage(0x2500, "up", statement_id=b"\x01"),
    ]
    return msgs


def _corpus(response: bool) -> list[tuple[int, bytes]]:
    out = []
    for version in (3, 4, 5):
        msgs = _responses(version) if response else _requests(version)
        for i, msg in enumerate(msgs):
            prefix: dict = {}
            if version >= 4 and i % 3 == 0:
                prefix["custom_payload"] = {"k": b"v"}
            if response and version >= 4 and i % 2 == 0:
                prefix["warnings"] = ["careful"]
            if response and i % 4 == 1:
                prefix["tracing_id"] = uuid.UUID(int=i)
            compress = version < 5 and i % 2 == 1
            frame = encode_message(msg, version, i, response=response, compress=compress, **prefix)
            out.append((version, frame.encode()))
    return out


REQUEST_CORPUS = _corpus(False)
RESPONSE_CORPUS = _corpus(True)


def _drain(reader: FrameReader, data: bytes, chunk: int) -> None:
    """Feeds `data` in chunks and decodes every frame; only ProtocolError may escape."""
    try:
        for i in range(0, len(data), chunk):
            reader.feed(data[i : i + chunk])
            for frame in reader.frames():
                decode_frame(frame)
    except ProtocolError:
        pass


mutation = st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(min_value=0, max_value=255))


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None, extra: bytes) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        if buf:
            buf[pos % len(buf)] = value
    if cut is not None and buf:
        del buf[cut % len(buf) :]
    return bytes(buf) + extra


@FUZZ
@given(data=st.binary(max_size=400), responses=st.booleans(), chunk=st.integers(1, 64))
def test_random_bytes(data: bytes, responses: bool, chunk: int) -> None:
    _drain(FrameReader(responses=responses), data, chunk)


@FUZZ
@given(
    header=st.sampled_from([b"\x03", b"\x04", b"\x05", b"\x83", b"\x84", b"\x85"]),
    flags=st.integers(0, 255),
    opcode=st.integers(0, 17),
    body=st.binary(max_size=300),
    chunk=st.integers(1, 400),
)
def test_random_bodies_behind_valid_headers(header: bytes, flags: int, opcode: int, body: bytes, chunk: int) -> None:
    data = header + bytes([flags]) + b"\x00\x01" + bytes([opcode]) + len(body).to_bytes(4, "big") + body
    _drain(FrameReader(responses=bool(header[0] & 0x80)), data, chunk)


@FUZZ
@given(
    version=st.sampled_from([3, 4, 5]),
    response=st.booleans(),
    flags=st.integers(0, 0x1F),
    body=st.binary(max_size=300),
    data=st.data(),
)
def test_random_bodies_for_every_message(version: int, response: bool, flags: int, body: bytes, data: st.DataObject) -> None:
    opcode = data.draw(st.sampled_from(sorted(RESPONSES if response else REQUESTS)))
    with contextlib.suppress(ProtocolError):
        decode_frame(Frame(version, flags, 0, opcode, body, response))


@FUZZ
@given(
    response=st.booleans(),
    data=st.data(),
    edits=st.lists(mutation, max_size=4),
    cut=st.none() | st.integers(min_value=0),
    extra=st.binary(max_size=16),
    chunk=st.integers(1, 512),
)
def test_mutated_frames(
    response: bool, data: st.DataObject, edits: list[tuple[int, int]], cut: int | None, extra: bytes, chunk: int
) -> None:
    corpus = RESPONSE_CORPUS if response else REQUEST_CORPUS
    _, frame = data.draw(st.sampled_from(corpus))
    _drain(FrameReader(responses=response), _mutate(frame, edits, cut, extra), chunk)


@FUZZ
@given(
    response=st.booleans(),
    data=st.data(),
    edits=st.lists(mutation, min_size=1, max_size=3),
    compressed=st.booleans(),
    chunk=st.integers(1, 512),
)
def test_mutated_envelopes_in_valid_segments(
    response: bool, data: st.DataObject, edits: list[tuple[int, int]], compressed: bool, chunk: int
) -> None:
    # mutate the envelopes, then segment them so the CRCs hold and the decoder sees the damage
    corpus = [f for v, f in (RESPONSE_CORPUS if response else REQUEST_CORPUS) if v == 5]
    picks = data.draw(st.lists(st.sampled_from(corpus), min_size=1, max_size=4))
    envelopes = b"".join(picks)
    mutated = _mutate(envelopes, edits, None, b"")
    segments = SegmentCodec(compressed).encode([mutated])
    reader = FrameReader(responses=response)
    reader.use_segments(compressed)
    _drain(reader, segments, chunk)


@FUZZ
@given(
    response=st.booleans(),
    compressed=st.booleans(),
    data=st.data(),
    edits=st.lists(mutation, max_size=3),
    cut=st.none() | st.integers(min_value=0),
    extra=st.binary(max_size=16),
)
def test_mutated_segment_stream(
    response: bool, compressed: bool, data: st.DataObject, edits: list[tuple[int, int]], cut: int | None,
    extra: bytes,
) -> None:
    corpus = [f for v, f in (RESPONSE_CORPUS if response else REQUEST_CORPUS) if v == 5]
    picks = data.draw(st.lists(st.sampled_from(corpus), min_size=1, max_size=4))
    segments = SegmentCodec(compressed).encode(picks)
    reader = FrameReader(responses=response)
    reader.use_segments(compressed)
    _drain(reader, _mutate(segments, edits, cut, extra), 97)


@FUZZ
@given(payload=st.binary(max_size=300), self_contained=st.booleans(), compressed=st.booleans(),
       response=st.booleans())
def test_random_payload_in_valid_segment(payload: bytes, self_contained: bool, compressed: bool,
                                         response: bool) -> None:
    reader = FrameReader(responses=response)
    reader.use_segments(compressed)
    _drain(reader, SegmentCodec(compressed).encode_segment(payload, self_contained), 1 << 16)


def test_corpus_is_valid() -> None:
    # the mutation tests start from frames that decode cleanly
    for response, corpus in ((False, REQUEST_CORPUS), (True, RESPONSE_CORPUS)):
        for _, data in corpus:
            reader = FrameReader(responses=response)
            reader.feed(data)
            (frame,) = reader.frames()
            decode_frame(frame)
