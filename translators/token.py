"""Murmur3Partitioner tokens of partition keys, bit for bit as Cassandra computes them.

Cassandra hashes the partition key's serialized form (one column: its value; several: each as a
2-byte length, the value and a 0 byte) with MurmurHash3 x64-128 and takes the first 64 bits. Its
implementation sign-extends the tail bytes (Java bytes are signed), so keys whose length is not a
multiple of 16 hash differently from the reference MurmurHash3. The driver's hash (C, with a
pure-Python fallback in the driver) reproduces that quirk for its token-aware routing; the tests
hold a reference implementation it must agree with.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from cassandra.murmur3 import murmur3

from cql_protocol.types import CqlType

from . import values

_LEN = struct.Struct(">H")
MIN_TOKEN = -(1 << 63)
MAX_TOKEN = (1 << 63) - 1


def murmur3_token(data: bytes) -> int:
    """The token of a serialized partition key (a signed 64-bit integer)."""
    token: int = murmur3(data)
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


# -- the token index (mapping option token_index) ----------------------------------------------------
# Its GSI orders items by (token, serialized partition key), the order of Cassandra's ring (tokens,
# then keys compared as unsigned bytes). The GSI's partition key is a bucket, the token's top bits, so
# writes spread over several GSI partitions while bucket order stays token order.

BUCKET_BITS = 4
BUCKETS = 1 << BUCKET_BITS
TOKEN_KEY_MAX = 1024  # DynamoDB's limit for a sort key
_KEY_ROOM = TOKEN_KEY_MAX - 8
_OFFSET = 1 << 63
_U64 = struct.Struct(">Q")


def token_bucket(token: int) -> int:
    return (token + _OFFSET) >> (64 - BUCKET_BITS)


def token_prefix(token: int) -> bytes:
    """The token as 8 bytes that order as the signed token does."""
    return _U64.pack(token + _OFFSET)


def token_index_key(token: int, key_bytes: bytes) -> bytes:
    """The GSI sort key of a partition. A partition key longer than the room left is cut: only two
    partitions of one token sharing its first 1016 bytes could then come out of order."""
    return token_prefix(token) + key_bytes[:_KEY_ROOM]


def token_index_bounds(lower: tuple[int, bool] | None, upper: tuple[int, bool] | None
                       ) -> tuple[bytes, bytes] | None:
    """The inclusive range of GSI sort keys holding the partitions whose tokens are within the
    bounds ((token, inclusive) or None); None when no token is."""
    lo = MIN_TOKEN if lower is None else lower[0] + (0 if lower[1] else 1)
    hi = MAX_TOKEN if upper is None else upper[0] - (0 if upper[1] else 1)
    if lo > hi or lo > MAX_TOKEN or hi < MIN_TOKEN:
        return None
    return token_prefix(lo), token_prefix(hi) + b"\xff" * _KEY_ROOM
