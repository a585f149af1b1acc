"""Canonical forms of CQL values: a text reversible given the type (map keys as M attribute names,
set elements, partition key components), and the serialized form Cassandra stores (canonical_bytes)."""

from __future__ import annotations

import base64
import decimal
import functools
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from cql_protocol.errors import ProtocolError
from cql_protocol.types import (
    CqlType,
    CustomType,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    TypeCode,
    UDTType,
    VectorType,
    deserialize,
    encoder_for,
    serialize,
)
from translators import ordered_bytes
from translators.cql_values import (
    _INT_RANGES,
    _NAME,
    _b64decode,
    ascii_value,
    blob_value,
    bool_value,
    decimal_of,
    double_text,
    double_value,
    duration_text,
    float32_of,
    float32_text,
    inet_text,
    int_value,
    items_of,
    map_pairs,
    parse_duration,
    text_value,
    uuid_text,
    varint_value,
)


def to_text(t: CqlType, v: Any) -> str:
    """A canonical text for value `v` of type `t`, reversible by from_text given `t`.

    Numbers in decimal (decimal keeps its exact scale; float/double shortest exact text, or NaN,
    Infinity, -Infinity, -0.0), booleans "true"/"false", blobs base64, uuids canonical, inet as
    inet_ntop, durations as duration_text. Tuples, UDTs, frozen collections and vectors: base64 of
    canonical_bytes.
    """
    if type(t) is NativeType:
        fn = _TEXT_OF.get(t.code)
        if fn is None:
            raise TypeError(f"no text form for {t.cql()}")
        return fn(v)
    if isinstance(t, CustomType):
        return base64.b64encode(blob_value(v)).decode("ascii")
    return base64.b64encode(canonical_bytes(t, v)).decode("ascii")


def from_text(t: CqlType, s: str) -> Any:
    if type(t) is NativeType:
        fn = _OF_TEXT.get(t.code)
        if fn is None:
            raise TypeError(f"no text form for {t.cql()}")
        return fn(s)
    if isinstance(t, CustomType):
        return _b64decode(s)
    return from_canonical_bytes(t, _b64decode(s))


def canonical_bytes(t: CqlType, v: Any) -> bytes:
    """The CQL serialization of `v` in the form Cassandra stores: set elements and map entries in
    CQL order without duplicates, tuples and UDTs with every element. Exact (decimal scale kept)
    and equal for equal values, so it can name a map entry or a partition."""
    return serialize(t, _stored_form(t, v))


@functools.lru_cache(maxsize=4096)
def canonical_encoder(t: CqlType) -> Callable[[Any], bytes]:
    """`canonical_bytes` for one type, looked up once (the read path encodes every cell of every
    row). For values already in range, such as those decoded from an item."""
    if type(t) is NativeType:
        return encoder_for(t)
    return functools.partial(canonical_bytes, t)


def from_canonical_bytes(t: CqlType, data: bytes) -> Any:
    try:
        return deserialize(t, data)
    except ProtocolError as e:
        raise ValueError(str(e)) from None


def _stored_form(t: CqlType, v: Any) -> Any:
    if v is None or type(t) is NativeType or isinstance(t, CustomType):
        return v
    if isinstance(t, ListType | VectorType):
        return [_stored_form(t.element, x) for x in items_of(v, t.cql())]
    if isinstance(t, SetType):
        enc = ordered_bytes.bytecomparable_encoder(t.element)
        by_key: dict[bytes, Any] = {}
        for x in items_of(v, "set"):
            if x is None:
                raise ValueError("set elements cannot be null")
            by_key.setdefault(enc(x), x)
        return [_stored_form(t.element, by_key[k]) for k in sorted(by_key)]
    if isinstance(t, MapType):
        kenc = ordered_bytes.bytecomparable_encoder(t.key)
        entries: dict[bytes, tuple[Any, Any]] = {}
        for k, x in map_pairs(v):
            if k is None:
                raise ValueError("map keys cannot be null")
            entries.setdefault(kenc(k), (_stored_form(t.key, k), _stored_form(t.value, x)))
        return [entries[k] for k in sorted(entries)]
    if isinstance(t, TupleType):
        if not isinstance(v, list | tuple):
            raise TypeError(f"tuple value must be a tuple or list, got {type(v).__name__}")
        if len(v) > len(t.elements):
            raise ValueError(f"{t.cql()} takes at most {len(t.elements)} elements, got {len(v)}")
        n = len(v)
        return tuple(_stored_form(e, v[i]) if i < n else None for i, e in enumerate(t.elements))
    if isinstance(t, UDTType):
        if isinstance(v, Mapping):
            unknown = set(v) - {name for name, _ in t.fields}
            if unknown:
                raise ValueError(f"user type {t.name} has no field(s) {sorted(map(str, unknown))}")
            return {name: _stored_form(ft, v.get(name)) for name, ft in t.fields}
        n = len(v)
        return {name: _stored_form(ft, v[i]) if i < n else None for i, (name, ft) in enumerate(t.fields)}
    raise TypeError(f"cannot serialize values of type {t!r}")


def _int_text(code: int) -> Callable[[Any], str]:
    def fn(v: Any) -> str:
        return str(int_value(v, code))

    return fn


def _int_parser(code: int) -> Callable[[str], int]:
    lo, hi = _INT_RANGES[code]

    def fn(s: str) -> int:
        v = int(s)
        if not lo <= v <= hi:
            raise ValueError(f"{_NAME[code]} value {v} out of range")
        return v

    return fn


def _decimal_text(v: Any) -> str:
    return str(decimal_of(v))


def _parse_decimal(s: str) -> Decimal:
    try:
        return decimal_of(Decimal(s))
    except decimal.InvalidOperation:
        raise ValueError(f"not a decimal: {s!r}") from None


def _parse_bool(s: str) -> bool:
    if s == "true":
        return True
    if s == "false":
        return False
    raise ValueError(f"not a boolean: {s!r}")


def _parse_float32(s: str) -> float:
    return float32_of(float(s))


def _parse_inet(s: str) -> str:
    return inet_text(s)



_TEXT_OF: dict[int, Callable[[Any], str]] = {
    TypeCode.ASCII: ascii_value,
    TypeCode.VARCHAR: text_value,
    TypeCode.VARINT: lambda v: str(varint_value(v)),
    TypeCode.DECIMAL: _decimal_text,
    TypeCode.FLOAT: lambda v: float32_text(float32_of(v)),
    TypeCode.DOUBLE: lambda v: double_text(double_value(v)),
    TypeCode.BOOLEAN: lambda v: "true" if bool_value(v) else "false",
    TypeCode.BLOB: lambda v: base64.b64encode(blob_value(v)).decode("ascii"),
    TypeCode.UUID: uuid_text,
    TypeCode.TIMEUUID: uuid_text,
    TypeCode.INET: inet_text,
    TypeCode.DURATION: duration_text,
    **{code: _int_text(code) for code in _INT_RANGES},
}

_OF_TEXT: dict[int, Callable[[str], Any]] = {
    TypeCode.ASCII: str,
    TypeCode.VARCHAR: str,
    TypeCode.VARINT: int,
    TypeCode.DECIMAL: _parse_decimal,
    TypeCode.FLOAT: _parse_float32,
    TypeCode.DOUBLE: float,
    TypeCode.BOOLEAN: _parse_bool,
    TypeCode.BLOB: _b64decode,
    TypeCode.UUID: uuid.UUID,
    TypeCode.TIMEUUID: uuid.UUID,
    TypeCode.INET: _parse_inet,
    TypeCode.DURATION: parse_duration,
    **{code: _int_parser(code) for code in _INT_RANGES},
}


def key_text(t: CqlType, v: Any) -> str:
    """A map key as an M attribute name: to_text, with a leading backslash added when the text is
    empty (DynamoDB rejects empty names) or already starts with one."""
    s = to_text(t, v)
    if not s or s[0] == "\\":
        return "\\" + s
    return s


def parse_key_text(t: CqlType, s: str) -> Any:
    return from_text(t, s[1:] if s[:1] == "\\" else s)
