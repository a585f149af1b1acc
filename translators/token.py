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
