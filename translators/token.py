"""Murmur3Partitioner tokens of partition keys, bit for bit as Cassandra computes them.

Cassandra hashes the partition key's serialized form (one column: its value; several: each as a
2-byte length, the value and a 0 byte) with MurmurHash3 x64-128 and takes the first 64 bits. Its
implementation sign-extends the tail bytes (Java bytes are signed), so keys whose length is not a
multiple of 16 hash differently from the reference MurmurHash3: that quirk is reproduced here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from cql_protocol.types import CqlType

from . import values

_M64 = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F
_BLOCK = struct.Struct("<QQ")
_LEN = struct.Struct(">H")
MIN_TOKEN = -(1 << 63)
MAX_TOKEN = (1 << 63) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    k ^= k >> 33
    return k


def murmur3_token(data: bytes) -> int:
    """The token of a serialized partition key (a signed 64-bit integer)."""
    n = len(data)
    h1 = h2 = 0
    nblocks = n // 16
    for i in range(nblocks):
        k1, k2 = _BLOCK.unpack_from(data, i * 16)
        k1 = (k1 * _C1) & _M64
        k1 = _rotl(k1, 31)
        k1 = (k1 * _C2) & _M64
        h1 ^= k1
        h1 = _rotl(h1, 27)
        h1 = (h1 + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64
        k2 = (k2 * _C2) & _M64
        k2 = _rotl(k2, 33)
        k2 = (k2 * _C1) & _M64
        h2 ^= k2
        h2 = _rotl(h2, 31)
        h2 = (h2 + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64
    tail = data[nblocks * 16:]
    k1 = k2 = 0
    for i in range(len(tail) - 1, 7, -1):
        b = tail[i] - 256 if tail[i] > 127 else tail[i]  # signed, as Java reads it
        k2 ^= (b << ((i - 8) * 8)) & _M64
    if len(tail) > 8:
        k2 = (k2 * _C2) & _M64
        k2 = _rotl(k2, 33)
        k2 = (k2 * _C1) & _M64
        h2 ^= k2
    for i in range(min(len(tail), 8) - 1, -1, -1):
        b = tail[i] - 256 if tail[i] > 127 else tail[i]
        k1 ^= (b << (i * 8)) & _M64
    if tail:
        k1 = (k1 * _C1) & _M64
        k1 = _rotl(k1, 31)
        k1 = (k1 * _C2) & _M64
        h1 ^= k1
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    h1 = (h1 + h2) & _M64
    token = h1 - (1 << 64) if h1 >= 1 << 63 else h1
    # Long.MIN_VALUE is the ring's minimum, not a real token: Cassandra maps it to MAX_VALUE
    return MAX_TOKEN if token == MIN_TOKEN else token


def partition_key_bytes(types: Sequence[CqlType], key: Sequence[object]) -> bytes:
    """The partition key as Cassandra serializes it for hashing."""
    if len(types) == 1:
        return values.canonical_bytes(types[0], key[0])
    out = bytearray()
    for t, v in zip(types, key, strict=True):
        b = values.canonical_bytes(t, v)
        out += _LEN.pack(len(b))
        out += b
        out.append(0)
    return bytes(out)


def partition_token(types: Sequence[CqlType], key: Sequence[object]) -> int:
    return murmur3_token(partition_key_bytes(types, key))
