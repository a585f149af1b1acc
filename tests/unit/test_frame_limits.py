"""Size limits in the frame reader: oversized frames and envelopes, compression bombs and lying
lengths, in v3/v4 frames and v5 segments. Each refusal is the answer Cassandra 5.0 gives (checked
against the real server with frames just over its limit) and leaves the reader in step; none of
them buffers or decompresses the declared size."""

from __future__ import annotations

import struct
import tracemalloc

import cramjam
import lz4.block
import pytest
from bombs import MIB, frame, lz4_block_bomb, lz4_frame_body_bomb, snappy_bomb, varint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cql_protocol.compression import compress_frame_body, decompress_frame_body
from cql_protocol.errors import ErrorCode, FrameRefused, ProtocolError
from cql_protocol.frame import DEFAULT_MAX_FRAME, DEFAULT_MAX_RESPONSE_FRAME, FrameReader, make_frame
from cql_protocol.messages import (
    Options,
    Query,
    QueryParameters,
    Ready,
    Supported,
    decode_frame,
    encode_message,
)
from cql_protocol.opcodes import FrameFlag, Opcode
from cql_protocol.segment import MAX_PAYLOAD, SegmentCodec, crc24, crc32

LIMIT = 16 * MIB


def options(version: int = 4, stream: int = 9, compress: str | None = None) -> bytes:
    return encode_message(Options(), version, stream, response=False, compress=compress).encode()


def query(version: int = 4, stream: int = 3, compress: str | None = None, text: str = "SELECT 1") -> bytes:
    return encode_message(Query(text, QueryParameters(1)), version, stream, response=False,
                          compress=compress).encode()


def drain(reader: FrameReader, data: bytes, chunk: int = 65536) -> tuple[list[int], list[FrameRefused]]:
    """Feeds `data` in chunks; returns the opcodes of the frames read and the refusals, in order."""
    got: list[int] = []
    refused: list[FrameRefused] = []
    for i in range(0, len(data), chunk):
        reader.feed(data[i : i + chunk])
        while True:
            try:
                f = reader.next_frame()
            except FrameRefused as e:
                refused.append(e)
                got.append(-1)
                continue
            if f is None:
                break
            got.append(f.opcode)
    return got, refused


def test_defaults_are_cassandras_for_requests_and_the_drivers_for_responses() -> None:
    assert DEFAULT_MAX_FRAME == 16 * MIB
    assert FrameReader(responses=False).max_frame_size == 16 * MIB
    assert FrameReader(responses=True).max_frame_size == DEFAULT_MAX_RESPONSE_FRAME == 256 * MIB


# -- v3/v4 frames over the limit ---------------------------------------------------------------


@pytest.mark.parametrize("version", (3, 4))
def test_frame_over_the_limit_is_skipped_then_refused_like_cassandra(version: int) -> None:
    """Cassandra 5.0.9 (Envelope.Decoder): header + body over native_transport_max_frame_size is
    skipped as it arrives, then answered Invalid on its stream; the connection goes on."""
    limit = 64 * 1024
    reader = FrameReader(responses=False, max_frame_size=limit)
    body_len = limit - 9 + 1
    big = struct.pack(">BBhBI", version, 0, 7, Opcode.QUERY, body_len)
    reader.feed(big + bytes(1000))
    assert reader.next_frame() is None  # nothing to say before the whole frame went by
    assert reader.buffered() == 0  # and none of it is kept
    for _ in range(body_len // 4096):
        reader.feed(bytes(4096))
        assert reader.next_frame() is None
        assert reader.buffered() == 0
    rest = body_len - 1000 - (body_len // 4096) * 4096
    reader.feed(bytes(rest) + options(version))
    with pytest.raises(FrameRefused) as info:
        reader.next_frame()
    e = info.value
    assert (e.stream, e.version, e.fatal) == (7, version, False)
    assert e.error.code == ErrorCode.INVALID
    assert e.error.message == f"Request is too big: length {limit + 1} exceeds maximum allowed length {limit}."
    f = reader.next_frame()  # the reader is still in step
    assert f is not None and f.opcode == Opcode.OPTIONS and f.stream == 9


def test_frame_exactly_at_the_limit_passes() -> None:
    limit = 64 * 1024
    reader = FrameReader(responses=False, max_frame_size=limit)
    data = frame(4, 1, Opcode.QUERY, bytes(limit - 9))
    got, refused = drain(reader, data + options())
    assert got == [Opcode.QUERY, Opcode.OPTIONS] and not refused


def test_a_huge_unsigned_length_is_skipped_not_allocated() -> None:
    """Cassandra reads the v3/v4 length unsigned: 0xFFFFFFFF is a 4 GiB frame to skip."""
    reader = FrameReader(responses=False)
    reader.feed(bytes.fromhex("04 00 0005 07 ffffffff") + bytes(100))
    assert reader.next_frame() is None and reader.buffered() == 0
    reader.feed(bytes(MIB))
    assert reader.next_frame() is None and reader.buffered() == 0


def test_the_refusal_waits_for_the_header_to_be_whole() -> None:
    reader = FrameReader(responses=False, max_frame_size=64 * 1024)
    data = struct.pack(">BBhBI", 4, 0, 2, Opcode.QUERY, 64 * 1024)
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        assert reader.next_frame() is None
    reader.feed(bytes(64 * 1024 - 1))
    assert reader.next_frame() is None
    reader.feed(b"\x00")
    with pytest.raises(FrameRefused, match="Request is too big: length 65545"):
        reader.next_frame()


def test_responses_over_the_limit_are_a_protocol_error_at_once() -> None:
    """Cassandra is not refused and answered: its connection is broken."""
    reader = FrameReader(responses=True, max_frame_size=1024)
    reader.feed(bytes.fromhex("84 00 0000 08 00000401"))
    with pytest.raises(ProtocolError, match="length") as info:
        reader.next_frame()
    assert not isinstance(info.value, FrameRefused)


# -- compressed v3/v4 bodies: the announced length -----------------------------------------------


def test_the_lz4_bomb_is_real() -> None:
    n = 3 * MIB + 5
    block = lz4_block_bomb(n)
    assert len(block) < n // 250
    assert lz4.block.decompress(block, uncompressed_size=n) == bytes(n)
    assert bytes(cramjam.snappy.decompress_raw(snappy_bomb(n))) == bytes(n)


@pytest.mark.parametrize("version", (3, 4))
def test_lz4_bomb_is_refused_from_its_length_prefix(version: int) -> None:
    """1 MB on the wire, 250 MiB declared (and really inside): refused from the first 4 bytes of the
    body, which is then skipped unbuffered; never decompressed, never handed on."""
    body = lz4_frame_body_bomb(250 * MIB)
    assert len(body) < 1100 * 1024
    data = frame(version, 5, Opcode.QUERY, body, flags=FrameFlag.COMPRESSED) + options(version, compress="lz4")
    reader = FrameReader(responses=False)  # 16 MiB
    reader.feed(data[:13])  # header + length prefix
    assert reader.next_frame() is None and reader.buffered() == 0
    rest = data[13:]
    tracemalloc.start()
    try:
        got, refused = drain(reader, rest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == [-1, Opcode.OPTIONS]
    (e,) = refused
    assert (e.stream, e.fatal, e.error.code) == (5, False, ErrorCode.PROTOCOL_ERROR)
    assert e.error.message == (
        "Invalid uncompressed frame length 262144000; it must be non-negative and no greater than "
        "native_transport_max_frame_size (16777216 bytes)"
    )
    assert peak < 512 * 1024, peak  # the chunks going by, nothing like the 250 MiB


def test_snappy_bomb_is_refused_from_its_varint() -> None:
    body = snappy_bomb(20 * MIB)  # about 1 MB that really becomes 20 MiB
    reader = FrameReader(responses=False, compression="snappy")
    got, refused = drain(reader, frame(4, 6, Opcode.QUERY, body, flags=FrameFlag.COMPRESSED) + options())
    assert got == [-1, Opcode.OPTIONS]
    assert refused[0].stream == 6 and "Invalid uncompressed frame length 20971520" in refused[0].error.message


@pytest.mark.parametrize("algo", ("lz4", "snappy"))
def test_announced_length_at_the_limit_passes_and_one_more_byte_is_refused(algo: str) -> None:
    limit = 256 * 1024
    for declared, ok in ((limit, True), (limit + 1, False)):
        body = (lz4_frame_body_bomb(limit, declared) if algo == "lz4"
                else snappy_bomb(limit, declared))
        reader = FrameReader(responses=False, max_frame_size=limit, compression=algo)
        got, refused = drain(reader, frame(4, 1, Opcode.QUERY, body, flags=FrameFlag.COMPRESSED))
        assert got == ([Opcode.QUERY] if ok else [-1]), (declared, refused)


def test_negative_lz4_length_is_refused() -> None:
    reader = FrameReader(responses=False)
    got, refused = drain(reader, frame(4, 1, Opcode.QUERY, b"\xff\xff\xff\xfe" + bytes(8), flags=1))
    assert got == [-1] and "Invalid uncompressed frame length -2;" in refused[0].error.message


@pytest.mark.parametrize(
    ("algo", "body", "message"),
    [
        ("lz4", b"\x00\x00", "Provided frame does not appear to be LZ4 compressed"),
        ("lz4", b"", "Provided frame does not appear to be LZ4 compressed"),
        ("snappy", b"\x80\x80", "Provided frame does not appear to be Snappy compressed"),
        ("snappy", b"\xff\xff\xff\xff\xff\x01", "Provided frame does not appear to be Snappy compressed"),
    ],
)
def test_a_body_too_short_for_its_length_is_refused(algo: str, body: bytes, message: str) -> None:
    reader = FrameReader(responses=False, compression=algo)
    got, refused = drain(reader, frame(4, 4, Opcode.QUERY, body, flags=1) + options())
    assert got == [-1, Opcode.OPTIONS] and refused[0].error.message == message


def test_compressed_flag_without_negotiated_compression_is_a_plain_body() -> None:
    """Cassandra ignores the flag on a connection without a compressor; so does the reader."""
    reader = FrameReader(responses=False, compression=None)
    body = encode_message(Options(), 4, 1, response=False).body
    got, refused = drain(reader, frame(4, 1, Opcode.OPTIONS, b"\xff\xff\xff\xff" + bytes(body), flags=1))
    assert got == [Opcode.OPTIONS] and not refused


@pytest.mark.parametrize("algo", ("lz4", "snappy"))
@pytest.mark.parametrize(("declared", "actual"), [(1000, 60), (60, 1000), (1001, 1000), (999, 1000)])
def test_a_length_that_lies_is_a_protocol_error(algo: str, declared: int, actual: int) -> None:
    plain = encode_message(Query("SELECT 1", QueryParameters(1)), 4, 1, response=False).body
    plain = (bytes(plain) + bytes(actual))[:actual]
    if algo == "lz4":
        body = struct.pack(">I", declared) + lz4.block.compress(plain, store_size=False)
    else:
        body = varint(declared) + bytes(cramjam.snappy.compress_raw(plain))[len(varint(actual)):]
    reader = FrameReader(responses=False, compression=algo)
    reader.feed(frame(4, 1, Opcode.QUERY, body, flags=1))
    (f,) = reader.frames()  # the length is within the limit: only decompressing can tell the lie
    with pytest.raises(ProtocolError, match=r"declared|corrupt|mismatch"):
        decode_frame(f)


@pytest.mark.parametrize("algo", ("lz4", "snappy"))
def test_decompress_frame_body_checks_the_limit_before_decompressing(algo: str) -> None:
    body = lz4_frame_body_bomb(250 * MIB) if algo == "lz4" else snappy_bomb(250 * MIB // 64)
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="Invalid uncompressed frame length"):
            decompress_frame_body(body, algo, limit=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB


# -- snappy bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", (3, 4))
@pytest.mark.parametrize("size", (1, 100, 70_000, 3 * MIB))
def test_snappy_round_trip(version: int, size: int) -> None:
    text = "SELECT " + "x" * size
    f = encode_message(Query(text, QueryParameters(1)), version, 2, response=False, compress="snappy")
    assert f.compressed and f.compression == "snappy"
    reader = FrameReader(responses=False, compression="snappy")
    reader.feed(f.encode())
    (got,) = reader.frames()
    assert got.compression == "snappy"
    assert decode_frame(got).message == Query(text, QueryParameters(1))


def test_snappy_frames_of_the_python_driver_both_ways() -> None:
    from cassandra import protocol as drv
    from cassandra.connection import locally_supported_compressions
    from cassandra.protocol_features import ProtocolFeatures

    compress, decompress = locally_supported_compressions["snappy"]
    feats = ProtocolFeatures()
    text = "SELECT * FROM ks.t WHERE k = '" + "a" * 300 + "'"
    data = bytes(drv.ProtocolHandler.encode_message(drv.QueryMessage(text, 1), 4, 4, compress, False, feats))
    reader = FrameReader(responses=False, compression="snappy")
    reader.feed(data)
    (f,) = reader.frames()
    assert f.compressed and decode_frame(f).message.query == text  # type: ignore[attr-defined]
    sup = Supported({"COMPRESSION": ["snappy", "lz4"], "CQL_VERSION": ["3.4.7"]})
    out = encode_message(sup, 4, 4, response=True, compress="snappy").encode()
    _, flags, stream, opcode, _ = struct.unpack(">BBhBi", out[:9])
    msg = drv.ProtocolHandler.decode_message(4, feats, {}, stream, flags, opcode, out[9:], decompress, None)
    assert flags & 1 and msg.options == {"COMPRESSION": ["snappy", "lz4"]}


def test_make_frame_compress_names_the_algorithm() -> None:
    assert make_frame(4, 0, Opcode.READY, b"x" * 100, response=True, compress=True).compression == "lz4"
    f = make_frame(4, 0, Opcode.READY, b"x" * 100, response=True, compress="snappy")
    assert f.compression == "snappy" and f.plain_body() == b"x" * 100
    assert compress_frame_body(b"abc", "snappy") == bytes(cramjam.snappy.compress_raw(b"abc"))
    assert make_frame(5, 0, Opcode.READY, b"x", response=True, compress="lz4").compression is None


# -- v5 segments ---------------------------------------------------------------------------------


def segments(envelope: bytes, compressed: bool) -> bytes:
    """`envelope` cut into non-self-contained segments."""
    codec = SegmentCodec(compressed)
    view = memoryview(envelope)
    return b"".join(codec.encode_segment(view[i : i + MAX_PAYLOAD], False)
                    for i in range(0, len(envelope), MAX_PAYLOAD))


def v5_reader(limit: int = LIMIT, compressed: bool = False, authenticated: bool = True) -> FrameReader:
    reader = FrameReader(responses=False, max_frame_size=limit)
    reader.feed(options(5, 1))
    assert reader.next_frame() is not None  # the version is set before segments start
    reader.use_segments(compressed)
    reader.multi_segment_ok = authenticated
    return reader


def test_v5_multi_segment_envelope_over_the_limit_is_skipped_then_refused() -> None:
    """Cassandra 5.0.9 (CQLMessageHandler, native_transport_max_message_size): consumed to its last
    segment, then Invalid on its stream; the connection goes on."""
    limit = 1 * MIB
    reader = v5_reader(limit)
    env = struct.pack(">BBhBi", 5, 0, 12, Opcode.QUERY, limit + 1) + bytes(limit + 1)
    wire = segments(env, False) + SegmentCodec(False).encode([options(5, 13)])
    tracemalloc.start()
    try:
        got, refused = drain(reader, wire, chunk=MAX_PAYLOAD // 2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == [-1, Opcode.OPTIONS]
    (e,) = refused
    assert (e.stream, e.version, e.fatal, e.error.code) == (12, 5, False, ErrorCode.INVALID)
    assert e.error.message == f"CQL Message of size {limit + 1} bytes exceeds allowed maximum of {limit} bytes"
    assert peak < 512 * 1024, peak  # a segment or two at a time, never the envelope


def test_v5_envelope_exactly_at_the_limit_passes() -> None:
    limit = 1 * MIB
    env = encode_message(Query("SELECT " + "y" * (limit - 17), QueryParameters(1)), 5, 3,
                         response=False).encode()
    assert len(env) - 9 == limit
    got, refused = drain(v5_reader(limit, compressed=True), segments(env, True))
    assert got == [Opcode.QUERY] and not refused


def test_v5_compressed_bomb_is_refused_from_its_first_segment_and_never_decompressed() -> None:
    """2,000 lz4 segments of 128 KiB of zeros each (about 1 MB on the wire) for an envelope that
    declares 250 MiB: refused at the first segment; the others are checked (CRC) and dropped."""
    declared = 250 * MIB
    codec = SegmentCodec(True)
    head = struct.pack(">BBhBi", 5, 0, 21, Opcode.QUERY, declared)
    first = codec.encode_segment(head + bytes(MAX_PAYLOAD - 9), False)
    middle = codec.encode_segment(bytes(MAX_PAYLOAD), False)
    n, last = divmod(9 + declared - MAX_PAYLOAD, MAX_PAYLOAD)
    wire = first + middle * n + (codec.encode_segment(bytes(last), False) if last else b"")
    assert len(wire) < 2 * MIB
    wire += codec.encode([options(5, 22)])
    reader = v5_reader(compressed=True)
    tracemalloc.start()
    try:
        got, refused = drain(reader, wire)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == [-1, Opcode.OPTIONS]
    assert refused[0].stream == 21 and refused[0].error.code == ErrorCode.INVALID
    assert peak < 512 * 1024, peak


def test_v5_multi_segment_envelope_before_authentication_is_fatal_at_once() -> None:
    """Cassandra 5.0.9: before the connection is ready, any envelope spread over segments is a
    protocol error answered after its first segment, and the connection is closed."""
    reader = v5_reader(authenticated=False)
    env = struct.pack(">BBhBi", 5, 0, 7, Opcode.AUTH_RESPONSE, 200_000) + bytes(200_000)
    reader.feed(segments(env, False)[: MAX_PAYLOAD + 8 + 3])  # the first segment only
    with pytest.raises(FrameRefused) as info:
        reader.next_frame()
    e = info.value
    assert (e.stream, e.fatal, e.error.code) == (7, True, ErrorCode.PROTOCOL_ERROR)
    assert e.error.message == (
        "The connection is not yet in a valid state to process multi frame CQL Messages, usually "
        "thismeans that authentication is still pending. type = AUTH_RESPONSE, size = 200000"
    )


def test_v5_small_envelopes_pass_before_authentication() -> None:
    reader = v5_reader(authenticated=False)
    got, refused = drain(reader, SegmentCodec(False).encode([options(5, 2), query(5, 3)]))
    assert got == [Opcode.OPTIONS, Opcode.QUERY] and not refused


def test_v5_negative_envelope_length_is_a_protocol_error() -> None:
    reader = v5_reader()
    env = struct.pack(">BBhBi", 5, 0, 7, Opcode.QUERY, -5) + bytes(MAX_PAYLOAD + 10)
    reader.feed(segments(env, False))
    with pytest.raises(ProtocolError, match="Invalid value for envelope header body length field: -5"):
        reader.next_frame()


def test_v5_segment_whose_declared_uncompressed_length_lies() -> None:
    """The 17-bit uncompressed length is what lz4 allocates; the block must fill it exactly."""
    block = lz4.block.compress(options(5, 1) * 50, store_size=False)
    for ulen in (len(options(5, 1)) * 50 - 1, len(options(5, 1)) * 50 + 1):
        header = len(block) | (ulen << 17) | (1 << 34)
        seg = (header.to_bytes(5, "little") + crc24(header, 5).to_bytes(3, "little") + block
               + crc32(block).to_bytes(4, "little"))
        reader = v5_reader(compressed=True)
        reader.feed(seg)
        with pytest.raises(ProtocolError, match="lz4"):
            reader.next_frame()


def test_v5_self_contained_envelope_over_a_small_limit_is_refused_and_the_rest_read() -> None:
    reader = v5_reader(limit=1024)
    big = query(5, 4, text="SELECT " + "z" * 2000)
    got, refused = drain(reader, SegmentCodec(False).encode([options(5, 3), big, options(5, 5)]))
    assert got == [Opcode.OPTIONS, -1, Opcode.OPTIONS]
    assert refused[0].stream == 4 and "exceeds allowed maximum of 1024 bytes" in refused[0].error.message


def test_v5_response_envelopes_may_be_large() -> None:
    reader = FrameReader(responses=True)
    reader.feed(encode_message(Ready(), 5, 1, response=True).encode())
    assert reader.next_frame() is not None
    reader.use_segments(True)
    body = bytes(12) + b"r" * (3 * MIB)  # a RESULT's worth; only its size matters here
    env = struct.pack(">BBhBi", 0x85, 0, 3, Opcode.RESULT, len(body)) + body
    reader.feed(segments(env, True))
    (f,) = reader.frames()
    assert f.opcode == Opcode.RESULT and len(f.body) == len(body)


# -- any mix, any chunking -----------------------------------------------------------------------

# (body length, declared uncompressed length or None for a plain frame)
_frame_specs = st.lists(
    st.tuples(st.integers(0, 3000), st.one_of(st.none(), st.integers(-5, 3000))), min_size=1, max_size=12
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=_frame_specs, limit=st.integers(64, 2500), chunk=st.integers(1, 700))
def test_any_mix_of_frames_reads_the_same_in_any_chunks_and_never_holds_a_refused_one(
    specs: list[tuple[int, int | None]], limit: int, chunk: int
) -> None:
    """Frames under and over the limit, compressed bodies announcing any length: fed in any
    chunk size, each is read or refused in order, and the reader never holds more than a frame
    within the limit plus one chunk."""
    wire = bytearray()
    expected: list[int] = []
    for i, (length, declared) in enumerate(specs):
        if declared is None:
            wire += frame(4, i, Opcode.QUERY, bytes(length))
            expected.append(Opcode.QUERY if 9 + length <= limit else -1)
        else:
            body = struct.pack(">i", declared) + bytes(length)
            wire += frame(4, i, Opcode.QUERY, body, flags=FrameFlag.COMPRESSED)
            ok = 9 + len(body) <= limit and 0 <= declared <= limit
            expected.append(Opcode.QUERY if ok else -1)
    reader = FrameReader(responses=False, max_frame_size=limit)
    got: list[int] = []
    for i in range(0, len(wire), chunk):
        reader.feed(wire[i : i + chunk])
        assert reader.buffered() <= limit + chunk
        while True:
            try:
                f = reader.next_frame()
            except FrameRefused as e:
                assert e.stream == len(got) and not e.fatal
                got.append(-1)
                continue
            if f is None:
                break
            assert f.stream == len(got)
            got.append(f.opcode)
    assert got == expected
    assert reader.buffered() == 0
