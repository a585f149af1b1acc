"""CQL type helpers shared by the statement translators, and small helpers on values and mutations."""

from __future__ import annotations

import dataclasses
from typing import Any

from cql_protocol.cql.ast import ConstantKind
from cql_protocol.types import CqlType, ListType, MapType, NativeType, SetType, TypeCode, UDTType, native
from translators.row_state import Mutation

_C = TypeCode
TEXT, ASCII, INT, BIGINT, BLOB = (native(c) for c in (_C.VARCHAR, _C.ASCII, _C.INT, _C.BIGINT, _C.BLOB))
TIMESTAMP, DATE, TIMEUUID = (native(c) for c in (_C.TIMESTAMP, _C.DATE, _C.TIMEUUID))

_INT_BITS = {_C.TINYINT: 8, _C.SMALLINT: 16, _C.INT: 32, _C.BIGINT: 64, _C.COUNTER: 64}
_NUMERIC = {*_INT_BITS, _C.VARINT, _C.DECIMAL, _C.FLOAT, _C.DOUBLE}
_MAX_TTL = 20 * 365 * 86400  # Cassandra's MAX_TTL
_INT64 = (-(1 << 63), (1 << 63) - 1)

# Which native types each kind of literal may be given to (Cassandra's Constants.Literal).
_LITERAL_TARGETS: dict[ConstantKind, frozenset[int]] = {
    ConstantKind.STRING: frozenset({_C.ASCII, _C.VARCHAR, _C.INET, _C.DATE, _C.TIME, _C.TIMESTAMP}),
    ConstantKind.INTEGER: frozenset({_C.BIGINT, _C.COUNTER, _C.DATE, _C.DECIMAL, _C.DOUBLE, _C.DURATION, _C.FLOAT,
                                     _C.INT, _C.SMALLINT, _C.TIME, _C.TIMESTAMP, _C.TINYINT, _C.VARINT}),
    ConstantKind.UUID: frozenset({_C.UUID, _C.TIMEUUID}),
    ConstantKind.FLOAT: frozenset({_C.DECIMAL, _C.DOUBLE, _C.FLOAT}),
    ConstantKind.BOOLEAN: frozenset({_C.BOOLEAN}),
    ConstantKind.HEX: frozenset({_C.BLOB}),
    ConstantKind.DURATION: frozenset({_C.DURATION}),
}


def _code(t: CqlType) -> int | None:
    return t.code if isinstance(t, NativeType) else None


def _multicell(t: CqlType) -> str | None:
    """'list' | 'set' | 'map' for a non-frozen collection (elements are cells of their own)."""
    if isinstance(t, ListType) and not t.frozen:
        return "list"
    if isinstance(t, SetType) and not t.frozen:
        return "set"
    if isinstance(t, MapType) and not t.frozen:
        return "map"
    return None


def _same(a: CqlType, b: CqlType) -> bool:
    if a == b:
        return True
    if isinstance(a, ListType | SetType | MapType | UDTType) and type(a) is type(b):
        return dataclasses.replace(a, frozen=False) == dataclasses.replace(b, frozen=False)
    return False


def _compatible(src: CqlType, dst: CqlType) -> bool:
    """Whether a value of `src` may be stored as `dst` (Cassandra's isValueCompatibleWith, the cases
    that matter for functions and type hints): then its bytes are read as `dst`."""
    s, d = _code(src), _code(dst)
    if d == _C.BLOB:
        return True
    return (s, d) in {(_C.ASCII, _C.VARCHAR), (_C.TIMEUUID, _C.UUID), (_C.BIGINT, _C.TIMESTAMP),
                      (_C.TIMESTAMP, _C.BIGINT), (_C.BIGINT, _C.COUNTER)} or (d == _C.VARINT and s in _INT_BITS and s != _C.COUNTER)


def _is_counter(t: CqlType) -> bool:
    return _code(t) == _C.COUNTER


def _tname(t: CqlType) -> str:
    return t.cql()


def _copy(m: Mutation) -> Mutation:
    return Mutation(m.ts, m.expiry, m.row_marker, m.delete_row, dict(m.cells), list(m.collection_ops))


def _map_value(pairs: list[tuple[Any, Any]]) -> Any:
    """A dict, or a list of pairs when a key is unhashable (as deserialize returns maps)."""
    try:
        return dict(pairs)
    except TypeError:
        return pairs


def _identity(v: Any) -> Any:
    return v
