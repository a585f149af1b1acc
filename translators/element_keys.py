"""Set and map elements that a tombstone names only by their canonical key (`row_state._k`).

A deleted element keeps no value in the item, only the key it was merged under: the element as
canonical JSON (bytes as {"$b": hex}, sets as sorted lists, tuples as lists, anything else JSON
cannot hold as its str()). Writing that tombstone to Cassandra needs the element's value back.
"""

from __future__ import annotations

import decimal
import json
import uuid
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

from .cql_values import pairs_to_map


def element_from_key(t: CqlType, key: Any) -> Any:
    """The value of type `t` whose canonical key is `key` (a JSON text, as `_k` made it)."""
    return _value(t, json.loads(key) if isinstance(key, str) else key)


def _value(t: CqlType, j: Any) -> Any:
    if j is None:
        return None
    if isinstance(t, NativeType):
        return _native(t.code, j)
    if isinstance(t, ListType | VectorType | SetType):
        return [_value(t.element, x) for x in j]
    if isinstance(t, MapType):
        if isinstance(j, list):  # a map with unhashable keys is kept as its pairs
            return [(_value(t.key, k), _value(t.value, v)) for k, v in j]
        # JSON object keys are strings: the key type reads them back
        return pairs_to_map([(_value(t.key, _json_key(t.key, k)), _value(t.value, v)) for k, v in j.items()])
    if isinstance(t, TupleType):
        return tuple(_value(e, x) for e, x in zip(t.elements, j, strict=False))
    if isinstance(t, UDTType):
        return {name: _value(ft, j.get(name)) for name, ft in t.fields}
    raise ValueError(f"cannot read a {t.cql()} element back from its key")


def _json_key(t: CqlType, k: str) -> Any:
    if isinstance(t, NativeType) and t.code in (TypeCode.VARCHAR, TypeCode.ASCII, TypeCode.INET):
        return k
    try:
        return json.loads(k)
    except ValueError:
        return k


def _native(code: int, j: Any) -> Any:
    if code == TypeCode.BLOB:
        return bytes.fromhex(j["$b"])
    if code in (TypeCode.UUID, TypeCode.TIMEUUID):
        return uuid.UUID(str(j))
    if code == TypeCode.DECIMAL:
        return decimal.Decimal(str(j))
    if code == TypeCode.DURATION:
        return Duration(int(j["months"]), int(j["days"]), int(j["nanoseconds"]))
    if code in (TypeCode.FLOAT, TypeCode.DOUBLE):
        return float(j)
    if code in (TypeCode.VARCHAR, TypeCode.ASCII, TypeCode.INET):
        return str(j)
    if code == TypeCode.BOOLEAN:
        return bool(j)
    return int(j)
