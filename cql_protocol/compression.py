"""LZ4 as Cassandra frames it.

v3/v4 frame bodies: a 4-byte big-endian uncompressed length, then one raw LZ4 block.
v5 segments: the raw block alone (the length lives in the segment header).
"""

from __future__ import annotations

import struct

import lz4.block

from .errors import ProtocolError

_BE_LEN = struct.Struct(">I")
SUPPORTED = ("lz4",)


def compress_block(data: bytes | memoryview) -> bytes:
    return bytes(lz4.block.compress(data, store_size=False))


def decompress_block(data: bytes | memoryview, uncompressed_length: int) -> bytes:
    try:
        out = lz4.block.decompress(data, uncompressed_size=uncompressed_length)
    except Exception as e:  # lz4 raises LZ4BlockError and ValueError for corrupt input
        raise ProtocolError(f"corrupt lz4 block: {e}") from None
    if len(out) != uncompressed_length:
        raise ProtocolError("lz4 block decompressed to an unexpected length")
    return bytes(out)


def compress_frame_body(body: bytes | memoryview) -> bytes:
    return _BE_LEN.pack(len(body)) + compress_block(body)


def decompress_frame_body(body: bytes | memoryview) -> bytes:
    if len(body) < 4:
        raise ProtocolError("compressed frame body shorter than its length prefix")
    (n,) = _BE_LEN.unpack_from(body, 0)
    if n > 256 * 1024 * 1024:
        raise ProtocolError(f"compressed frame claims {n} uncompressed bytes")
    if n == 0:
        return b""
    return decompress_block(memoryview(body)[4:], n)
