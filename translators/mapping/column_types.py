"""The DynamoDB type a CQL column is stored as, and the CQL spelling of types."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

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
)

from .names import quote_identifier

KeyType = Literal["S", "N", "B"]


_TEXT = frozenset({TypeCode.ASCII, TypeCode.VARCHAR})
_SORTABLE_INT = frozenset(
    {TypeCode.TINYINT, TypeCode.SMALLINT, TypeCode.INT, TypeCode.BIGINT, TypeCode.TIMESTAMP, TypeCode.DATE,
     TypeCode.TIME}
)
_NUMERIC = frozenset(
    {TypeCode.TINYINT, TypeCode.SMALLINT, TypeCode.INT, TypeCode.BIGINT, TypeCode.VARINT, TypeCode.DECIMAL,
     TypeCode.COUNTER, TypeCode.TIMESTAMP, TypeCode.DATE, TypeCode.TIME, TypeCode.FLOAT, TypeCode.DOUBLE}
)
_STRINGISH = frozenset(
    {TypeCode.ASCII, TypeCode.VARCHAR, TypeCode.UUID, TypeCode.TIMEUUID, TypeCode.INET, TypeCode.DURATION}
)


def scalar_key_type(t: CqlType) -> KeyType | None:
    """The DynamoDB key type a single CQL value keeps as a plain key: S, N or B; None if it has none."""
    if isinstance(t, NativeType):
        if t.code in _STRINGISH or t.code == TypeCode.BOOLEAN:
            return "S"
        if t.code in _NUMERIC:
            return "N"
        if t.code == TypeCode.BLOB:
            return "B"
    return None


def default_attribute_type(t: CqlType) -> str:
    """The DynamoDB type a (non-key) column's values are stored as by default."""
    if isinstance(t, NativeType):
        if t.code == TypeCode.BOOLEAN:
            return "BOOL"
        if t.code == TypeCode.BLOB:
            return "B"
        return "N" if t.code in _NUMERIC else "S"
    if isinstance(t, SetType):
        elem = t.element
        if isinstance(elem, NativeType) and elem.code != TypeCode.BOOLEAN:
            return {"S": "SS", "N": "NS", "B": "BS"}[default_attribute_type(elem)]
        return "L"
    if isinstance(t, ListType | TupleType | VectorType):
        return "L"
    if isinstance(t, MapType | UDTType):
        return "M"
    return "B"  # custom types: opaque bytes


def allowed_attribute_types(t: CqlType) -> tuple[str, ...]:
    """DynamoDB types a column of type `t` may be stored as (the default first)."""
    default = default_attribute_type(t)
    if isinstance(t, NativeType):
        code = t.code
        if code in _TEXT or code == TypeCode.DURATION:
            extra: tuple[str, ...] = ()
        elif code in (TypeCode.UUID, TypeCode.TIMEUUID, TypeCode.INET):
            extra = ("B",)
        elif code == TypeCode.BOOLEAN:
            extra = ("N", "S")
        elif code == TypeCode.COUNTER:
            extra = ()
        elif code in _NUMERIC:
            extra = ("S",)  # e.g. decimals past DynamoDB's 38 significant digits
        else:
            extra = ()
        return (default, *extra)
    if isinstance(t, SetType) and default != "L":
        return (default, "L")
    return (default,)


def type_to_cql(t: CqlType) -> str:
    """CQL spelling of a type that parse_cql_type reads back to the same descriptor."""
    if isinstance(t, NativeType):
        return t.cql()
    if isinstance(t, UDTType):
        name = quote_identifier(t.name)
        return f"frozen<{name}>" if t.frozen else name
    if isinstance(t, ListType | SetType):
        kind = "list" if isinstance(t, ListType) else "set"
        s = f"{kind}<{type_to_cql(t.element)}>"
        return f"frozen<{s}>" if t.frozen else s
    if isinstance(t, MapType):
        s = f"map<{type_to_cql(t.key)}, {type_to_cql(t.value)}>"
        return f"frozen<{s}>" if t.frozen else s
    if isinstance(t, TupleType):
        return "frozen<tuple<" + ", ".join(type_to_cql(e) for e in t.elements) + ">>"
    if isinstance(t, VectorType):
        return f"vector<{type_to_cql(t.element)}, {t.dimension}>"
    if isinstance(t, CustomType):
        return "'" + t.class_name.replace("'", "''") + "'"
    raise TypeError(f"no CQL spelling for {t!r}")


def _udts_used(t: CqlType, out: set[str]) -> None:
    if isinstance(t, UDTType):
        out.add(t.name)
        for _, ft in t.fields:
            _udts_used(ft, out)
    elif isinstance(t, ListType | SetType | VectorType):
        _udts_used(t.element, out)
    elif isinstance(t, MapType):
        _udts_used(t.key, out)
        _udts_used(t.value, out)
    elif isinstance(t, TupleType):
        for e in t.elements:
            _udts_used(e, out)


def udts_used(types: Iterable[CqlType]) -> set[str]:
    """Names of the user types the given types refer to, directly or through other user types."""
    out: set[str] = set()
    for t in types:
        _udts_used(t, out)
    return out
