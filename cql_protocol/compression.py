"""Frame-body compression as Cassandra frames it.

v3/v4 frame bodies, one algorithm per connection (STARTUP's COMPRESSION):
- lz4: a 4-byte big-endian uncompressed length, then one raw LZ4 block;
- snappy: one raw Snappy block, which opens with its uncompressed length as a varint.
v5 segments: lz4 only (spec, section 2.3.2), the raw block alone (the length lives in the segment
header).

A compressed body states how large it will become before anything is decompressed, so that
length is checked against a limit first: a few bytes must never make anyone allocate gigabytes.
"""

from __future__ import annotations

import struct

import cramjam
import lz4.block

from .errors import ProtocolError

_BE_LEN = struct.Struct(">i")
LZ4 = "lz4"
SNAPPY = "snappy"
SUPPORTED = (SNAPPY, LZ4)  # Cassandra's order in SUPPORTED
V5_SUPPORTED = (LZ4,)
# What the body of a compressed frame needs at least to state its uncompressed length.
LENGTH_PREFIX_MAX = {LZ4: 4, SNAPPY: 5}
# Never decompress more than this, whoever asks (the protocol's lengths are signed 32-bit).
HARD_MAX = 2**31 - 1


def startup_compression(algo: str | None, version: int) -> str | None:
    """The algorithm a STARTUP asks for, lower-cased, refused as Cassandra 5.0 refuses it."""
    if algo is None:
        return None
    algo = algo.lower()
    if algo not in SUPPORTED:
        raise ProtocolError(f"Unknown compression algorithm: {algo}")
    if version >= 5 and algo not in V5_SUPPORTED:
        raise ProtocolError("Snappy compression is not supported in protocol V5")
    return algo


def too_large(declared: int, limit: int) -> ProtocolError:
    # Cassandra's wording (Compressor.validateUncompressedLength, added after 5.0.9)
    return ProtocolError(
        f"Invalid uncompressed frame length {declared}; it must be non-negative and no greater than "
        f"native_transport_max_frame_size ({limit} bytes)"
    )


def declared_length(algo: str, body: bytes | bytearray | memoryview) -> int | None:
    """The uncompressed length a compressed frame body announces; None if `body` is a prefix too
    short to tell. Only the first LENGTH_PREFIX_MAX[algo] bytes are looked at."""
    if algo == LZ4:
        if len(body) < 4:
            return None
        return int(_BE_LEN.unpack_from(body, 0)[0])
    if algo == SNAPPY:
        # little-endian base-128 varint, at most 5 bytes for a 32-bit length
        n = shift = 0
        for i in range(min(len(body), 5)):
            b = body[i]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
        if len(body) >= 5:
            raise ProtocolError("Provided frame does not appear to be Snappy compressed")
        return None
    raise ProtocolError(f"Unknown compression algorithm: {algo}")


def check_declared_length(algo: str, body: bytes | bytearray | memoryview, limit: int) -> int:
    """The announced uncompressed length of a complete compressed body, refused past `limit`."""
    n = declared_length(algo, body)
    if n is None:
        if algo == LZ4:
            raise ProtocolError("Provided frame does not appear to be LZ4 compressed")
        raise ProtocolError("Provided frame does not appear to be Snappy compressed")
    if n < 0 or n > limit:
        raise too_large(n, limit)
    return n


def compress_block(data: bytes | memoryview) -> bytes:
    return bytes(lz4.block.compress(data, store_size=False))


def decompress_block(data: bytes | memoryview, uncompressed_length: int) -> bytes:
    """One raw lz4 block that must become exactly `uncompressed_length` bytes (the caller has
    checked that length: lz4 allocates it up front)."""
    try:
        out = lz4.block.decompress(data, uncompressed_size=uncompressed_length)
    except Exception as e:  # lz4 raises LZ4BlockError and ValueError for corrupt input
        raise ProtocolError(f"corrupt lz4 block: {e}") from None
    if len(out) != uncompressed_length:
        raise ProtocolError(
            f"lz4 block decompressed to {len(out)} bytes but declared {uncompressed_length}"
        )
    return bytes(out)


def compress_frame_body(body: bytes | memoryview, algo: str = LZ4) -> bytes:
    if algo == LZ4:
        return _BE_LEN.pack(len(body)) + compress_block(body)
    if algo == SNAPPY:
        return bytes(cramjam.snappy.compress_raw(bytes(body)))
    raise ValueError(f"unknown compression {algo!r}")


def decompress_frame_body(body: bytes | memoryview, algo: str = LZ4, limit: int = HARD_MAX) -> bytes:
    """A v3/v4 compressed body, undone. The declared length is checked against `limit` before
    any allocation; a body that decompresses to any other length is a protocol error."""
    n = check_declared_length(algo, body, limit)
    if algo == LZ4:
        return decompress_block(memoryview(body)[4:], n) if n else b""
    out = bytearray(n)  # exactly the declared size, already bounded
    try:
        got = cramjam.snappy.decompress_raw_into(bytes(body), out)
    except Exception as e:  # cramjam.DecompressionError: corrupt input or a length that lies
        raise ProtocolError(f"corrupt snappy block: {e}") from None
    if got != n:
        raise ProtocolError(f"snappy block decompressed to {got} bytes but declared {n}")
    return bytes(out)
