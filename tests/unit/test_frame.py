"""FrameReader/FrameWriter: headers per version, lz4 bodies, incremental feeding, v5 segments,
and the errors a broken peer must get. The driver's own framing code is the reference."""

from __future__ import annotations

import io
import os
import struct

import pytest
from cassandra import ConsistencyLevel as CL
from cassandra import protocol as drv
from cassandra.connection import locally_supported_compressions, segment_codec_lz4
from cassandra.protocol_features import ProtocolFeatures
from cassandra.segment import SegmentCodec as DrvSegmentCodec
from hypothesis import given
from hypothesis import strategies as st

from cql_protocol.errors import FrameRefused, ProtocolError, UnsupportedVersion
from cql_protocol.frame import Frame, FrameReader, FrameWriter, encode_version_error, make_frame
from cql_protocol.messages import (
    Query,
    QueryParameters,
    Ready,
    Rows,
    RowsMetadata,
    Startup,
    Supported,
    decode_frame,
    encode_message,
)
from cql_protocol.opcodes import FrameFlag, Opcode
from cql_protocol.segment import MAX_PAYLOAD, SegmentCodec, crc24, header_crc24

LZ4_COMPRESS, LZ4_DECOMPRESS = locally_supported_compressions["lz4"]
FEATURES = ProtocolFeatures()


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def read_all(data: bytes, *, responses: bool, segments: bool | None = None) -> list[Frame]:
    reader = FrameReader(responses=responses)
    if segments is not None:
        reader.use_segments(segments)
    reader.feed(data)
    frames = reader.frames()
    assert reader.buffered() == 0
    return frames


def driver_encode(msg: object, version: int, stream: int = 0, compress: bool = False) -> bytes:
    return bytes(
        drv.ProtocolHandler.encode_message(msg, stream, version, LZ4_COMPRESS if compress else None, False, FEATURES)
    )


def driver_segments(envelopes: list[bytes], compressed: bool) -> bytes:
    codec = segment_codec_lz4 if compressed else DrvSegmentCodec()
    buf = io.BytesIO()
    for env in envelopes:
        codec.encode(buf, env)
    return buf.getvalue()


def driver_read_segments(data: bytes, compressed: bool) -> list[tuple[bytes, bool]]:
    codec = segment_codec_lz4 if compressed else DrvSegmentCodec()
    stream = io.BytesIO(data)
    out = []
    while stream.tell() < len(data):
        header = codec.decode_header(stream)
        seg = codec.decode(stream, header)
        out.append((bytes(seg.payload), seg.is_self_contained))
    return out


# -- headers ------------------------------------------------------------------------------------


STARTUP_BODY = h("0001 000b") + b"CQL_VERSION" + h("0005") + b"3.0.0"


@pytest.mark.parametrize(
    ("data", "responses", "expected"),
    [
        (h("04 00 0001 05 00000000"), False, Frame(4, 0, 1, Opcode.OPTIONS, b"", False)),
        (h("03 00 0000 01 00000016") + STARTUP_BODY, False, Frame(3, 0, 0, Opcode.STARTUP, STARTUP_BODY, False)),
        (h("05 00 7fff 01 00000016") + STARTUP_BODY, False, Frame(5, 0, 0x7FFF, Opcode.STARTUP, STARTUP_BODY, False)),
        (h("84 00 0001 02 00000000"), True, Frame(4, 0, 1, Opcode.READY, b"", True)),
        (h("83 02 0005 08 00000004 00000001"), True, Frame(3, FrameFlag.TRACING, 5, Opcode.RESULT, h("00000001"), True)),
        (h("85 08 ffff 0c 00000002 0000"), True, Frame(5, FrameFlag.WARNING, -1, Opcode.EVENT, h("0000"), True)),
        (h("04 14 8000 07 00000001 00"), False, Frame(4, 0x14, -0x8000, Opcode.QUERY, h("00"), False)),
    ],
)
def test_header_vectors(data: bytes, responses: bool, expected: Frame) -> None:
    (frame,) = read_all(data, responses=responses)
    assert frame == expected
    assert frame.encode() == data


def test_partial_header_and_body_wait_for_more() -> None:
    data = h("04 00 0002 07 00000006 000000010001")
    reader = FrameReader(responses=False)
    for i in range(len(data) - 1):
        reader.feed(data[i : i + 1])
        assert reader.next_frame() is None
    reader.feed(data[-1:])
    frame = reader.next_frame()
    assert frame is not None and frame.body == data[9:]
    assert reader.next_frame() is None


# -- lz4 (v3/v4) --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", (3, 4))
def test_driver_compressed_frame_decodes(version: int) -> None:
    dmsg = drv.QueryMessage("SELECT * FROM ks.tbl WHERE k = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'", CL.ONE)
    plain = driver_encode(dmsg, version)[9:]
    (frame,) = read_all(driver_encode(dmsg, version, compress=True), responses=False)
    assert frame.compressed and bytes(frame.body) != plain
    assert frame.plain_body() == plain
    assert decode_frame(frame).message == Query(
        "SELECT * FROM ks.tbl WHERE k = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'", QueryParameters(CL.ONE)
    )


@pytest.mark.parametrize("version", (3, 4))
def test_our_compressed_frame_decodes_in_driver(version: int) -> None:
    rows = Rows(RowsMetadata(None, 1), [[b"x" * 200]] * 20)
    frame = encode_message(rows, version, 3, response=True, compress=True)
    assert frame.compressed
    assert LZ4_DECOMPRESS(bytes(frame.body)) == rows.body(version)
    data = frame.encode()
    _, flags, stream, opcode, length = struct.unpack(">BBhBi", data[:9])
    assert length == len(data) - 9
    res = drv.ProtocolHandler.decode_message(
        version, FEATURES, {}, stream, flags, opcode, data[9:], LZ4_DECOMPRESS, [("ks", "t", "c", drv.BytesType)]
    )
    assert [tuple(r) for r in res.parsed_rows] == [(b"x" * 200,)] * 20


def test_empty_body_is_never_compressed() -> None:
    frame = make_frame(4, 0, Opcode.READY, b"", response=True, compress=True)
    assert not frame.compressed and frame.body == b""


def test_compressed_body_with_zero_length_prefix_is_empty() -> None:
    (frame,) = read_all(h("84 01 0000 02 00000004 00000000"), responses=True)
    assert frame.plain_body() == b""


# -- incremental feeding ------------------------------------------------------------------------


def _request_stream(version: int) -> bytes:
    parts = [
        encode_message(Startup({"CQL_VERSION": "3.0.0"}), version, 0, response=False).encode(),
        encode_message(Query("SELECT 1", QueryParameters(1)), version, 1, response=False).encode(),
        encode_message(Query("SELECT " + "x" * 500, QueryParameters(1)), version, 2, response=False,
                       compress=True).encode(),
        encode_message(Query("", QueryParameters(1, values=[b""] * 50)), version, 3, response=False,
                       tracing=True).encode(),
    ]
    return b"".join(parts)


@pytest.mark.parametrize("version", (3, 4, 5))
def test_byte_by_byte_equals_all_at_once(version: int) -> None:
    data = _request_stream(version)
    whole = read_all(data, responses=False)
    assert [f.stream for f in whole] == [0, 1, 2, 3]
    reader = FrameReader(responses=False)
    got = []
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        got.extend(reader.frames())
    assert got == whole
    assert reader.buffered() == 0


def test_large_frames_and_buffer_compaction() -> None:
    big = [encode_message(Query("q" * 100_000, QueryParameters(1)), 4, i, response=False).encode() for i in range(4)]
    data = b"".join(big)
    reader = FrameReader(responses=False)
    got = []
    for i in range(0, len(data), 7919):
        reader.feed(data[i : i + 7919])
        got.extend(reader.frames())
    assert [f.stream for f in got] == [0, 1, 2, 3]
    assert all(len(f.body) == len(big[0]) - 9 for f in got)


# -- v5 segments --------------------------------------------------------------------------------


def _v5_envelopes(n: int = 5, *, response: bool = False) -> list[bytes]:
    if response:
        return [encode_message(Ready(), 5, i, response=True).encode() for i in range(n)]
    return [
        encode_message(Query(f"SELECT {i} FROM t" + " " * (i * 40), QueryParameters(1)), 5, i, response=False).encode()
        for i in range(n)
    ]


@pytest.mark.parametrize("compressed", [False, True])
def test_switch_to_segments_with_bytes_already_buffered(compressed: bool) -> None:
    startup = encode_message(Startup({"CQL_VERSION": "3.0.0"}), 5, 0, response=False).encode()
    envs = _v5_envelopes()
    segmented = SegmentCodec(compressed).encode(envs)
    reader = FrameReader(responses=False)
    reader.feed(startup + segmented)
    first = reader.next_frame()
    assert first is not None and first.opcode == Opcode.STARTUP
    reader.use_segments(compressed)
    assert reader.segmented
    got = reader.frames()
    assert [f.encode() for f in got] == envs


@pytest.mark.parametrize("compressed", [False, True])
def test_driver_segments_decode(compressed: bool) -> None:
    envs = _v5_envelopes()
    frames = read_all(driver_segments(envs, compressed), responses=False, segments=compressed)
    assert [f.encode() for f in frames] == envs
    assert decode_frame(frames[2]).message == Query("SELECT 2 FROM t" + " " * 80, QueryParameters(1))


@pytest.mark.parametrize("compressed", [False, True])
def test_our_segments_decode_in_driver(compressed: bool) -> None:
    envs = _v5_envelopes(response=True)
    writer = FrameWriter()
    writer.use_segments(compressed)
    data = writer.encode([(f, None) for f in read_all(b"".join(envs), responses=True)])
    segs = driver_read_segments(data, compressed)
    assert segs == [(b"".join(envs), True)]


def test_compressed_codec_mixes_compressed_and_stored_segments() -> None:
    codec = SegmentCodec(True)
    compressible = b"a" * 5000
    random = os.urandom(5000)
    data = codec.encode_segment(compressible, True) + codec.encode_segment(random, True)
    first_header = int.from_bytes(data[:5], "little")
    assert (first_header >> 17) & MAX_PAYLOAD == 5000  # compressed: uncompressed length recorded
    second_at = 8 + (first_header & MAX_PAYLOAD) + 4
    second_header = int.from_bytes(data[second_at : second_at + 5], "little")
    assert (second_header >> 17) & MAX_PAYLOAD == 0  # did not shrink: stored as-is
    assert driver_read_segments(data, True) == [(compressible, True), (random, True)]
    # and the driver's stored segments come back through our decoder
    pos = 0
    out = []
    drv_data = driver_segments([random, compressible], True)
    while (got := codec.decode_from(bytearray(drv_data), pos)) is not None:
        seg, pos = got
        out.append(seg.payload)
    assert out == [random, compressible]


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("source", ["ours", "driver"])
def test_multi_segment_envelope(compressed: bool, source: str) -> None:
    big_query = "SELECT " + "".join(f"{i:08x}" for i in range(40_000))  # ~320 KiB, lz4 can't shrink much
    big = encode_message(Query(big_query, QueryParameters(1)), 5, 9, response=False).encode()
    assert len(big) > 2 * MAX_PAYLOAD
    small = _v5_envelopes(2)
    if source == "ours":
        writer = FrameWriter()
        writer.use_segments(compressed)
        frames = read_all(b"".join([small[0], big, small[1]]), responses=False)
        data = writer.encode([(f, None) for f in frames])
    else:
        data = driver_segments([small[0], big, small[1]], compressed)
    segs = driver_read_segments(data, compressed)
    assert [sc for _, sc in segs] == [True, False, False, False, True]
    reader = FrameReader(responses=False)
    reader.use_segments(compressed)
    got = []
    for i in range(0, len(data), 4093):
        reader.feed(data[i : i + 4093])
        got.extend(reader.frames())
    assert [f.encode() for f in got] == [small[0], big, small[1]]
    assert decode_frame(got[1]).message == Query(big_query, QueryParameters(1))


@pytest.mark.parametrize("compressed", [False, True])
def test_segments_byte_by_byte(compressed: bool) -> None:
    envs = _v5_envelopes(4)
    data = driver_segments(envs, compressed)
    reader = FrameReader(responses=False)
    reader.use_segments(compressed)
    got = []
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        got.extend(reader.frames())
    assert [f.encode() for f in got] == envs


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("where", ["header", "header-crc", "payload", "payload-crc"])
def test_segment_crc_mismatch(compressed: bool, where: str) -> None:
    data = bytearray(driver_segments(_v5_envelopes(2), compressed))
    hl = 5 if compressed else 3
    index = {"header": 0, "header-crc": hl + 1, "payload": hl + 3 + 2, "payload-crc": len(data) - 1}[where]
    data[index] ^= 0x01
    reader = FrameReader(responses=False)
    reader.use_segments(compressed)
    reader.feed(bytes(data))
    with pytest.raises(ProtocolError, match="CRC"):
        reader.frames()


def test_self_contained_segment_must_hold_whole_envelopes() -> None:
    env = _v5_envelopes(1)[0]
    data = SegmentCodec(False).encode_segment(env[:-3], True)
    reader = FrameReader(responses=False)
    reader.use_segments(False)
    reader.feed(data)
    with pytest.raises(ProtocolError):
        reader.frames()


def test_self_contained_segment_inside_multi_segment_envelope() -> None:
    codec = SegmentCodec(False)
    env = encode_message(Query("x" * (MAX_PAYLOAD + 10), QueryParameters(1)), 5, 0, response=False).encode()
    data = codec.encode_segment(env[:MAX_PAYLOAD], False) + codec.encode_segment(env[MAX_PAYLOAD:], True)
    reader = FrameReader(responses=False)
    reader.use_segments(False)
    reader.feed(data)
    with pytest.raises(ProtocolError):
        reader.frames()


# -- errors a broken peer gets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "version", "stream", "reply"),
    [
        (h("01 00 07 05 00000000"), 1, 7, 1),  # v1/v2 headers have a one-byte stream
        (h("02 00 07 05 00000000"), 2, 7, 2),
        (h("02 00 ff 05 00000000"), 2, -1, 2),
        (h("06 00 0009 05 00000000"), 6, 9, 5),
        (h("7f 00 0100 05 00000000"), 0x7F, 256, 5),
    ],
)
def test_unsupported_version(data: bytes, version: int, stream: int, reply: int) -> None:
    reader = FrameReader(responses=False)
    reader.feed(data)
    with pytest.raises(UnsupportedVersion) as info:
        reader.next_frame()
    err = info.value
    assert (err.version, err.stream, err.reply_version) == (version, stream, reply)
    assert isinstance(err, ProtocolError)

    wire = encode_version_error(err)
    if reply < 3:
        vbyte, flags, st, opcode, length = struct.unpack(">BBbBi", wire[:8])
        body = wire[8:]
    else:
        vbyte, flags, st, opcode, length = struct.unpack(">BBhBi", wire[:9])
        body = wire[9:]
    assert vbyte == 0x80 | reply and st == stream and opcode == Opcode.ERROR and length == len(body)
    msg = drv.ProtocolHandler.decode_message(reply, FEATURES, {}, st, flags, opcode, body, None, None)
    assert isinstance(msg, drv.ProtocolException)
    assert "Invalid or unsupported protocol version" in msg.message
    if reply >= 3:
        (frame,) = read_all(wire, responses=True)
        assert decode_frame(frame).message.message == err.message  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("data", "responses"),
    [
        (h("84 00 0000 05 00000000"), False),  # response bit on a request stream
        (h("04 00 0000 02 00000000"), True),  # request bit on a response stream
    ],
)
def test_direction_bit_wrong(data: bytes, responses: bool) -> None:
    reader = FrameReader(responses=responses)
    reader.feed(data)
    with pytest.raises(ProtocolError, match="direction"):
        reader.next_frame()


@pytest.mark.parametrize(
    ("data", "responses"),
    [
        (h("04 00 0000 02 00000000"), False),  # READY sent by a client
        (h("84 00 0000 07 00000000"), True),  # QUERY sent by a server
        (h("04 00 0000 04 00000000"), False),  # 0x04 (CREDENTIALS) is gone since v2
        (h("84 00 0000 11 00000000"), True),
    ],
)
def test_misdirected_or_unknown_opcode(data: bytes, responses: bool) -> None:
    reader = FrameReader(responses=responses)
    reader.feed(data)
    with pytest.raises(ProtocolError, match="opcode"):
        reader.next_frame()


def test_version_change_mid_connection() -> None:
    reader = FrameReader(responses=False)
    reader.feed(h("04 00 0000 05 00000000") + h("03 00 0001 05 00000000"))
    assert reader.next_frame() is not None
    with pytest.raises(ProtocolError, match="version") as info:
        reader.next_frame()
    assert not isinstance(info.value, UnsupportedVersion)


def test_version_change_inside_segments() -> None:
    reader = FrameReader(responses=True)
    reader.feed(encode_message(Supported({}), 5, 0, response=True).encode())
    assert reader.next_frame() is not None
    reader.use_segments(False)
    reader.feed(SegmentCodec(False).encode([encode_message(Ready(), 4, 1, response=True).encode()]))
    with pytest.raises(ProtocolError):
        reader.next_frame()


# Frames of another version or direction, or with an unknown opcode, are skipped so the connection
# can go on, and the refusal carries the frame's stream: Cassandra answers these on the request's
# stream and keeps the connection.
OPTIONS_1 = h("04 00 0001 05 00000000")
OPTIONS_2 = h("04 00 0002 05 00000000")


@pytest.mark.parametrize(
    ("bad", "kind", "message"),
    [
        (h("04 00 0007 11 00000003 616263"), "opcode", "Unknown opcode 17"),
        (h("04 00 0007 02 00000000"), "direction",
         "Wrong protocol direction (expected RESPONSE, got REQUEST) for opcode 2 (READY)"),
        (h("84 00 0007 05 00000000"), "direction",
         "Wrong protocol direction (expected REQUEST, got RESPONSE) for opcode 5 (OPTIONS)"),
        (h("03 00 0007 05 00000000"), "version_mismatch",
         "Invalid message version. Got 3/v3 but previous messages on this connection had version 4/v4"),
        (h("04 00 0007 04 00000002 0000"), "opcode", "Unknown opcode 4"),  # v1's CREDENTIALS
    ],
)
def test_refused_frame_is_skipped(bad: bytes, kind: str, message: str) -> None:
    reader = FrameReader(responses=False)
    data = OPTIONS_1 + bad + OPTIONS_2
    frames: list[Frame] = []
    errors: list[FrameRefused] = []
    for i in range(len(data)):  # byte by byte: the error comes once the whole frame is there
        reader.feed(data[i : i + 1])
        while True:
            try:
                f = reader.next_frame()
            except FrameRefused as e:
                errors.append(e)
                continue
            if f is None:
                break
            frames.append(f)
    assert [f.stream for f in frames] == [1, 2]
    (e,) = errors
    assert (e.kind, e.stream, e.message, e.fatal) == (kind, 7, message, False)
    assert e.error.code == 0x000A
    assert e.opcode == bad[4]
    assert reader.buffered() == 0


def test_refused_frame_inside_segments_is_skipped() -> None:
    reader = FrameReader(responses=False)
    reader.feed(h("05 00 0000 05 00000000"))
    assert reader.next_frame() is not None
    reader.use_segments(False)
    envelopes = [h("05 00 0001 05 00000000"), h("05 00 0007 11 00000001 00"), h("04 00 0008 05 00000000"),
                 h("05 00 0002 05 00000000")]
    reader.feed(SegmentCodec(False).encode(envelopes))
    out: list[object] = []
    while True:
        try:
            f = reader.next_frame()
        except FrameRefused as e:
            out.append((e.kind, e.stream))
            continue
        if f is None:
            break
        out.append(f.stream)
    assert out == [1, ("opcode", 7), ("version_mismatch", 8), 2]


def test_frame_length_limits() -> None:
    # a request over the limit is skipped, then refused (more in test_frame_limits.py)
    reader = FrameReader(responses=False, max_frame_size=1024)
    reader.feed(h("04 00 0000 07 000003f8") + bytes(0x3F8))
    with pytest.raises(FrameRefused, match="Request is too big: length 1025"):
        reader.next_frame()
    # a response over it breaks the connection
    reader = FrameReader(responses=True, max_frame_size=1024)
    reader.feed(h("84 00 0000 08 ffffffff"))
    with pytest.raises(ProtocolError, match="length"):
        reader.next_frame()


def test_writer_stream_override() -> None:
    frame = encode_message(Ready(), 4, 5, response=True)
    data = FrameWriter().encode([(frame, 77), (frame, None)])
    got = read_all(data, responses=True)
    assert [f.stream for f in got] == [77, 5]


@given(st.integers(min_value=0, max_value=2**24 - 1), st.booleans())
def test_a_remembered_header_checksum_is_the_checksum_of_that_header_and_size(header: int, five_first: bool) -> None:
    sizes = (5, 3) if five_first else (3, 5)
    for _ in range(2):  # once computed, once remembered
        for n in sizes:
            assert header_crc24(header, n) == crc24(header, n)


@given(st.binary(max_size=300), st.booleans(), st.booleans())
def test_peek_sees_what_decode_sees(payload: bytes, compressed: bool, self_contained: bool) -> None:
    codec = SegmentCodec(compressed)
    seg = codec.encode_segment(payload, self_contained) + b"rest"
    got = codec.peek(seg, 0)
    decoded = codec.decode_from(seg, 0)
    assert got is not None and decoded is not None
    assert (bytes(got[0]), got[1], got[2]) == (decoded[0].payload, decoded[0].self_contained, decoded[1])
    assert codec.segment_end(seg, 0) == decoded[1]
    assert codec.peek(seg[:-5], 0) is None and codec.segment_end(seg[:-5], 0) is None
    bad = bytearray(seg)
    bad[decoded[1] - 1] ^= 1
    with pytest.raises(ProtocolError):
        codec.peek(bytes(bad), 0)
