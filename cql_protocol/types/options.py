"""Type [option]s: how result and prepared metadata spell a type, per protocol version."""

from __future__ import annotations

from ..errors import ProtocolError
from ..primitives import Reader, Writer
from .descriptors import (
    _NATIVES,
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

_MAX_DEPTH = 64


def read_option(r: Reader, _depth: int = 0) -> CqlType:
    """Reads a type [option] as found in result and prepared metadata."""
    if _depth > _MAX_DEPTH:
        raise ProtocolError("type nesting too deep")
    code = r.short()
    if code in _NATIVES:
        return _NATIVES[code]
    if code == TypeCode.CUSTOM:
        name = r.string()
        from ..typeparse import parse_marshal_class  # parsed lazily: only vectors need it

        return parse_marshal_class(name)
    if code == TypeCode.LIST:
        return ListType(read_option(r, _depth + 1))
    if code == TypeCode.SET:
        return SetType(read_option(r, _depth + 1))
    if code == TypeCode.MAP:
        k = read_option(r, _depth + 1)
        return MapType(k, read_option(r, _depth + 1))
    if code == TypeCode.UDT:
        ks = r.string()
        name = r.string()
        n = r.short()
        fields = []
        for _ in range(n):
            fname = r.string()
            fields.append((fname, read_option(r, _depth + 1)))
        return UDTType(ks, name, tuple(fields))
    if code == TypeCode.TUPLE:
        n = r.short()
        return TupleType(tuple(read_option(r, _depth + 1) for _ in range(n)))
    raise ProtocolError(f"unknown type option 0x{code:04x}")


# Native codes a protocol version predates: such types travel as CUSTOM marshal class names.
_CODE_SINCE = {
    TypeCode.DATE: 4,
    TypeCode.TIME: 4,
    TypeCode.SMALLINT: 4,
    TypeCode.TINYINT: 4,
    TypeCode.DURATION: 5,
}


def write_option(w: Writer, t: CqlType, version: int = 5) -> None:
    """Writes a type [option] as `version` spells it (v3 has no date/time/smallint/tinyint code,
    v3/v4 none for duration: Cassandra sends their marshal class names instead)."""
    if isinstance(t, NativeType):
        if version < _CODE_SINCE.get(t.code, 0):
            from ..typeparse import marshal_class_name

            w.short(TypeCode.CUSTOM).string(marshal_class_name(t))
        else:
            w.short(t.code)
    elif isinstance(t, CustomType):
        w.short(TypeCode.CUSTOM).string(t.class_name)
    elif isinstance(t, VectorType):
        from ..typeparse import marshal_class_name

        w.short(TypeCode.CUSTOM).string(marshal_class_name(t))
    elif isinstance(t, ListType | SetType):
        w.short(t.code)
        write_option(w, t.element, version)
    elif isinstance(t, MapType):
        w.short(TypeCode.MAP)
        write_option(w, t.key, version)
        write_option(w, t.value, version)
    elif isinstance(t, UDTType):
        w.short(TypeCode.UDT).string(t.keyspace).string(t.name).short(len(t.fields))
        for name, ft in t.fields:
            w.string(name)
            write_option(w, ft, version)
    elif isinstance(t, TupleType):
        w.short(TypeCode.TUPLE).short(len(t.elements))
        for e in t.elements:
            write_option(w, e, version)
    else:
        raise TypeError(f"cannot encode type {t!r}")
