"""Cassandra's bytes → values in the codec's conventions (`cql_protocol.types`), for the backfill's
scans, the validator, read repair and restore.

The driver hands these reads each value's bytes undecoded (source.py): its compiled decoders reject
what Cassandra 5.0 sends for WRITETIME/TTL of a non-frozen UDT (a list with a null for each unset
field), and a decode error inside the driver kills the connection together with every request in
flight on it. Decoded here, row by row, a value that cannot be read fails its row and nothing else.
It also keeps what the driver would change: set elements in Cassandra's order (the order of their
WRITETIME/TTL lists) and without Python merging them (0.0 and -0.0), timestamps outside Python's
datetime range, map entries whose keys Python cannot hash.

Fixed-size natives, text and the WRITETIME/TTL lists have fast paths; everything else goes through
`cql_protocol.types.deserialize`, the codec the sidecar answers drivers with.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import Any

from cql_protocol.types import CqlType, ListType, NativeType, TypeCode, deserialize, native

Decoder = Callable[[bytes], Any]

_COUNT = struct.Struct(">i")
BIGINT = native(TypeCode.BIGINT)
INT = native(TypeCode.INT)
_BIGINT_LIST = ListType(BIGINT)
_INT_LIST = ListType(INT)

_FIXED: dict[int, struct.Struct] = {
    TypeCode.INT: struct.Struct(">i"),
    TypeCode.BIGINT: struct.Struct(">q"),
    TypeCode.COUNTER: struct.Struct(">q"),
    TypeCode.TIMESTAMP: struct.Struct(">q"),
    TypeCode.SMALLINT: struct.Struct(">h"),
    TypeCode.TINYINT: struct.Struct(">b"),
    TypeCode.DOUBLE: struct.Struct(">d"),
    TypeCode.FLOAT: struct.Struct(">f"),
}


def decoder(t: CqlType) -> Decoder:
    """A function from a non-null value's bytes to its value; it raises on bytes that are not one."""
    if isinstance(t, NativeType):
        s = _FIXED.get(t.code)
        if s is not None:
            return _fixed(t, s)
        if t.code == TypeCode.VARCHAR:
            return _utf8
        if t.code == TypeCode.BLOB:
            return bytes
        if t.code == TypeCode.BOOLEAN:
            return functools.partial(_boolean, t)
    return functools.partial(_generic, t)


def _generic(t: CqlType, b: bytes) -> Any:
    return deserialize(t, b)


def _fixed(t: CqlType, s: struct.Struct) -> Decoder:
    size, unpack = s.size, s.unpack

    def dec(b: bytes) -> Any:
        if len(b) == size:
            return unpack(b)[0]
        return deserialize(t, b)  # empty (the codec's None) or malformed (its error)

    return dec


def _utf8(b: bytes) -> str:
    return str(b, "utf-8")


def _boolean(t: CqlType, b: bytes) -> Any:
    return b[0] != 0 if len(b) == 1 else deserialize(t, b)


@functools.lru_cache(maxsize=512)
def _elements(fmt: str, n: int) -> struct.Struct:
    return struct.Struct(">" + fmt * n)


def _int_list(fmt: str, size: int, t: CqlType) -> Decoder:
    """list<bigint> / list<int> with null elements allowed: WRITETIME/TTL of a non-frozen collection
    (one per element) or UDT (one per field, null for an unset field, and TTL null without one)."""

    def dec(b: bytes) -> list[int | None]:
        n = _COUNT.unpack_from(b)[0] if len(b) >= 4 else -1
        if n >= 0 and len(b) == 4 + n * (4 + size):
            v = _elements("i" + fmt, n).unpack_from(b, 4)
            if v[0::2].count(size) == n:  # every element has its full size: none is null
                return list(v[1::2])
        elif n >= 0 and len(b) == 4 + 4 * n and _elements("i", n).unpack_from(b, 4).count(-1) == n:
            return [None] * n  # every element null: TTLs of a collection written without TTL
        return deserialize(t, b)  # type: ignore[return-value]  # nulls among values, or malformed

    return dec


timestamps: Decoder = _int_list("q", 8, _BIGINT_LIST)
ttls: Decoder = _int_list("i", 4, _INT_LIST)
