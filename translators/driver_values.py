"""Values as the Python driver returns them → the conventions of `cql_protocol.types`
(what the translators and `values.diff_row` work with). Used wherever a Cassandra row read with
the driver is compared with a DynamoDB item (the tests). The backfill, validation, read repair and
restore do not use it: they decode Cassandra's bytes with the codec itself (proxy/backfill/decode.py)."""

from __future__ import annotations

import datetime
from typing import Any

from cql_protocol.types import (
    CqlType,
    Duration,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    TypeCode,
    UDTType,
    VectorType,
)

_EPOCH = datetime.datetime(1970, 1, 1)


def from_driver(t: CqlType, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(t, NativeType):
        code = t.code
        if code == TypeCode.TIMESTAMP and isinstance(v, datetime.datetime):
            if v.tzinfo is not None:
                v = v.astimezone(datetime.UTC).replace(tzinfo=None)
            delta = v - _EPOCH
            return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
        if code == TypeCode.DATE:
            days = getattr(v, "days_from_epoch", None)
            if days is not None:
                return int(days)
            if isinstance(v, datetime.date):
                return (v - _EPOCH.date()).days
        if code == TypeCode.TIME:
            ns = getattr(v, "nanosecond_time", None)
            return int(ns) if ns is not None else v
        if code == TypeCode.DURATION:
            return Duration(int(v.months), int(v.days), int(v.nanoseconds))
        if code == TypeCode.INET:
            return str(v)
        return v
    if isinstance(t, ListType | VectorType):
        return [from_driver(t.element, x) for x in v]
    if isinstance(t, SetType):
        return [from_driver(t.element, x) for x in v]
    if isinstance(t, MapType):
        pairs = [(from_driver(t.key, k), from_driver(t.value, x)) for k, x in v.items()]
        try:
            return dict(pairs)
        except TypeError:
            return pairs
    if isinstance(t, TupleType):
        return tuple(from_driver(e, x) for e, x in zip(t.elements, v, strict=False))
    if isinstance(t, UDTType):
        if isinstance(v, tuple):  # by position: the driver renames fields that are not identifiers
            vals = list(v) + [None] * (len(t.fields) - len(v))
            return {name: from_driver(ft, x) for (name, ft), x in zip(t.fields, vals, strict=False)}
        get = (lambda name: getattr(v, name, None)) if not isinstance(v, dict) else v.get
        return {name: from_driver(ft, get(name)) for name, ft in t.fields}
    return v


def row_from_driver(columns: dict[str, CqlType], row: Any) -> dict[str, Any]:
    """A driver row (named tuple or dict) as {column: value} in the codec's conventions."""
    get = row.get if isinstance(row, dict) else (lambda c: getattr(row, c, None))
    return {c: from_driver(t, get(c)) for c, t in columns.items()}
