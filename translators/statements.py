"""CQL modification statements → the row writes they make, as Cassandra would apply them (pure).

``translate(stmt, ...)`` turns a parsed INSERT, UPDATE, DELETE or BATCH plus its bound values into
a list of writes:

* ``RowWrite``: one row's ``row_state.Mutation`` (cells, collection operations, row marker, row
  deletion). A static row has clustering ``()``. Statements that set both static and regular
  columns give two writes, one per row, as Cassandra splits them.
* ``RangeDelete``: a partition deletion (``clustering_eq == ()``, no bounds) or a clustering
  prefix/slice deletion.
* ``CounterWrite``: counter increments of one row.

Values come out exactly as ``cql_protocol.types.deserialize`` decodes bound values (timestamp →
int ms, date → int days, time → int ns, set → list, map → dict, UDT → dict, ...), so a statement
with literals and the same statement prepared with bound values give equal writes.

Cassandra's rules kept here:
* Setting a non-frozen collection, to a value or to null, is a tombstone just before the write
  plus the new elements (``<kind>:overwrite``); ``DELETE c`` is a tombstone at the write's own
  timestamp (``<kind>:delete``).
* Unset bound values leave their column (or operation) alone; they are errors where a value is
  required (keys, list indexes, map keys).
* ``USING TIMESTAMP`` of a statement beats the batch's, which beats the default; ``USING TTL n``
  sets expiry ``now + n``; TTL 0 or null means none.
* Timestamp strings without a time zone are read as UTC (Cassandra uses the coordinator's zone,
  UTC on almost every server).

Statements on unmapped tables give no writes. What cannot be translated raises ``Untranslatable``
(an ``InvalidRequest``) naming the table and the reason; its ``kind`` tells whether Cassandra would
reject the statement as well (``invalid``), whether it calls a non-deterministic function that only
Cassandra can evaluate (``nondeterministic``), or whether only this translator lacks support
(``unsupported``). Not modelled: a table's ``default_time_to_live``.
"""

from __future__ import annotations

import dataclasses
import decimal
import ipaddress
import itertools
import json
import math
import re
import socket
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from cql_protocol.cql.ast import (
    Addition,
    Assignment,
    Batch,
    BatchKind,
    BinaryOp,
    BindMarker,
    Cast,
    CastAs,
    ColumnRef,
    ColumnTuple,
    Condition,
    Constant,
    ConstantKind,
    Delete,
    ElementRef,
    EmptySetOrMap,
    FieldRef,
    FunctionCall,
    Insert,
    InValues,
    ListLiteral,
    MapLiteral,
    Negated,
    Operator,
    Prepend,
    Relation,
    SetElement,
    SetField,
    SetLiteral,
    SetValue,
    Subtraction,
    TokenRef,
    TupleLiteral,
    UdtLiteral,
    Update,
)
from cql_protocol.cql.duration import parse_duration
from cql_protocol.errors import CQLError, InvalidRequest
from cql_protocol.primitives import UNSET, Unset
from cql_protocol.types import (
    NATIVE_NAMES,
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
    native,
    serialize,
)
from translators.mapping import TableMapping
from translators.row_state import Mutation

_CHECK_OPS = frozenset({Operator.EQ, Operator.NEQ, Operator.LT, Operator.LTE, Operator.GT, Operator.GTE})

# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowKey:
    """CQL values of the partition key and of the clustering columns (a prefix; () for the static row)."""

    partition: tuple[Any, ...]
    clustering: tuple[Any, ...]


@dataclass(frozen=True)
class LwtCondition:
    """The IF clause of a statement. Mirrors ignore it (only applied LWTs are mirrored); where
    DynamoDB decides, `checks` holds each ``column op value`` with its value bound, or is None when
    some condition is of a form only Cassandra evaluates (`unresolved` says which)."""

    if_not_exists: bool = False
    if_exists: bool = False
    conditions: tuple[Condition, ...] = ()
    checks: tuple[tuple[str, str, Any], ...] | None = ()
    unresolved: str = ""

    def to_cql(self) -> str:
        if self.if_not_exists:
            return "IF NOT EXISTS"
        if self.if_exists:
            return "IF EXISTS"
        return "IF " + " AND ".join(c.to_cql() for c in self.conditions)


@dataclass
class RowWrite:
    table: TableMapping = field(repr=False)
    key: RowKey
    mutation: Mutation
    condition: LwtCondition | None = None


@dataclass
class RangeDelete:
    """Deletes the rows of `partition` whose first clustering columns equal `clustering_eq` and,
    when bounds are given, whose next clustering column lies within them (``(value, inclusive)``,
    in CQL value order). No clustering_eq and no bounds: the whole partition, static row included."""

    table: TableMapping = field(repr=False)
    partition: tuple[Any, ...]
    clustering_eq: tuple[Any, ...]
    lower: tuple[Any, bool] | None
    upper: tuple[Any, bool] | None
    ts: int
    condition: LwtCondition | None = None


@dataclass
class CounterWrite:
    table: TableMapping = field(repr=False)
    key: RowKey
    deltas: dict[str, int] = field(default_factory=dict)


Write = RowWrite | RangeDelete | CounterWrite

UntranslatableKind = Literal["invalid", "nondeterministic", "unsupported"]


class Untranslatable(InvalidRequest):
    """A statement that gives no DynamoDB writes. The message names the table and the reason.

    kind: ``invalid`` (Cassandra rejects it too), ``nondeterministic`` (it calls a function such as
    now() that only Cassandra evaluates), ``unsupported`` (valid CQL this translator cannot map).
    """

    def __init__(self, table: str, reason: str, kind: UntranslatableKind = "unsupported") -> None:
        super().__init__(f"{table}: {reason}")
        self.table = table
        self.reason = reason
        self.kind: UntranslatableKind = kind


Resolver = Callable[[str | None, str], TableMapping | None]

# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def translate(
    stmt: object,
    *,
    resolve: Resolver,
    session_keyspace: str | None,
    values: Sequence[bytes | Unset | None],
    protocol_version: int,
    timestamp: int,
    now: int,
    bind_types: Sequence[CqlType] | None = None,
) -> list[Write]:
    """The writes `stmt` makes on mapped tables (see the module docstring). SELECT and USE give []."""
    binder = _Binder(values, bind_types, protocol_version, len(getattr(stmt, "bind_markers", ())))
    if isinstance(stmt, Batch):
        return _batch(stmt, resolve, session_keyspace, binder, timestamp, now)
    if isinstance(stmt, Insert | Update | Delete):
        tm = resolve(stmt.keyspace or session_keyspace, stmt.table)
        if tm is None:
            return []
        t = _Table(tm, binder)
        binder.check_count(t)
        return t.statement(stmt, None, timestamp, now)
    return []


def _batch(b: Batch, resolve: Resolver, session_keyspace: str | None, binder: _Binder, default_ts: int,
           now: int) -> list[Write]:
    out: list[Write] = []
    batch_ts: int | None = None
    first = True
    counters = non_counters = False
    for s in b.statements:
        tm = resolve(s.keyspace or session_keyspace, s.table)
        if tm is None:
            continue
        t = _Table(tm, binder)
        if first:
            binder.check_count(t)
            if b.timestamp is not None:
                batch_ts = t.using_timestamp(b.timestamp)
            first = False
        if b.timestamp is not None and s.timestamp is not None:
            raise t.invalid("Timestamp must be set either on BATCH or individual statements")
        if t.is_counter:
            counters = True
            if b.kind is BatchKind.LOGGED:
                raise t.invalid("Cannot include a counter statement in a logged batch")
            if b.timestamp is not None:
                raise t.invalid("Cannot provide custom timestamp for counter BATCH")
        else:
            non_counters = True
            if b.kind is BatchKind.COUNTER:
                raise t.invalid("Cannot include non-counter statement in a counter batch")
        if counters and non_counters:
            raise t.invalid("Counter and non-counter mutations cannot exist in the same batch")
        out.extend(t.statement(s, batch_ts, default_ts, now))
    return out


# ---------------------------------------------------------------------------------------------
# Bound values
# ---------------------------------------------------------------------------------------------


class _Binder:
    def __init__(self, values: Sequence[bytes | Unset | None], bind_types: Sequence[CqlType] | None,
                 version: int, markers: int) -> None:
        self.values = values
        self.bind_types = bind_types
        self.version = version
        self.markers = markers

    def check_count(self, t: _Table) -> None:
        if len(self.values) != self.markers:
            raise t.invalid(f"There were {self.markers} markers(?) in CQL but {len(self.values)} bound variables")

    def bind_type(self, m: BindMarker) -> CqlType | None:
        if self.bind_types is not None and m.index < len(self.bind_types):
            return self.bind_types[m.index]
        return None

    def raw(self, t: _Table, m: BindMarker) -> bytes | Unset | None:
        if not 0 <= m.index < len(self.values):
            raise t.invalid(f"No value bound for marker {m.index} ({m.to_cql()})")
        return self.values[m.index]


# ---------------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# One statement on one mapped table
# ---------------------------------------------------------------------------------------------


@dataclass
class _Where:
    partitions: list[tuple[Any, ...]]
    clusterings: list[tuple[Any, ...]]  # all of the same length: the restricted prefix
    prefix: int
    lower: tuple[Any, bool] | None = None
    upper: tuple[Any, bool] | None = None
    has_in: tuple[bool, bool] = (False, False)  # (partition key, clustering)


class _Table:
    def __init__(self, tm: TableMapping, binder: _Binder) -> None:
        self.tm = tm
        self.binder = binder
        self.name = tm.cql_name
        s = tm.schema
        self.types: dict[str, CqlType] = dict(s.columns)
        self.pk: tuple[str, ...] = tuple(s.partition_key)
        self.ck: tuple[str, ...] = tuple(c for c, _ in s.clustering)
        self.static: frozenset[str] = frozenset(s.static)
        self.is_counter = any(_is_counter(t) for t in self.types.values())

    # -- errors ------------------------------------------------------------------------------

    def invalid(self, reason: str) -> Untranslatable:
        return Untranslatable(self.name, reason, "invalid")

    def unsupported(self, reason: str) -> Untranslatable:
        return Untranslatable(self.name, reason, "unsupported")

    def column(self, name: str) -> CqlType:
        t = self.types.get(name)
        if t is None:
            raise self.invalid(f"Undefined column name {name}")
        return t

    # -- statements --------------------------------------------------------------------------

    def statement(self, s: Insert | Update | Delete, batch_ts: int | None, default_ts: int, now: int) -> list[Write]:
        ts = default_ts if batch_ts is None else batch_ts
        if s.timestamp is not None:
            if self.is_counter:
                raise self.invalid("Cannot provide custom timestamp for counter updates")
            own = self.using_timestamp(s.timestamp)
            if own is not None:
                ts = own
        expiry = 0
        ttl_term = getattr(s, "ttl", None)
        if ttl_term is not None:
            if self.is_counter:
                raise self.invalid("Cannot provide custom TTL for counter updates")
            ttl = self.using_ttl(ttl_term)
            expiry = now + ttl if ttl else 0
        if isinstance(s, Insert):
            return self.insert(s, ts, expiry)
        if isinstance(s, Update):
            return self.update(s, ts, expiry)
        return self.delete(s, ts)

    def using_timestamp(self, term: Any) -> int | None:
        v = self.value(term, BIGINT, "[timestamp]")
        if v is None:
            raise self.invalid("Invalid null value of timestamp")
        if v is UNSET:
            return None
        return int(v)

    def using_ttl(self, term: Any) -> int:
        v = self.value(term, INT, "[ttl]")
        if v is None or v is UNSET:
            return 0
        ttl = int(v)
        if ttl < 0:
            raise self.invalid(f"A TTL must be greater or equal to 0, but was {ttl}")
        if ttl > _MAX_TTL:
            raise self.invalid(f"ttl is too large. requested ({ttl}) maximum ({_MAX_TTL})")
        return ttl

    def condition_of(self, s: Insert | Update | Delete) -> LwtCondition | None:
        if isinstance(s, Insert):
            return LwtCondition(if_not_exists=True) if s.if_not_exists else None
        if not (s.if_exists or s.conditions):
            return None
        checks: list[tuple[str, str, Any]] = []
        for c in s.conditions:
            lhs = c.lhs
            if not isinstance(lhs, ColumnRef) or c.operator not in _CHECK_OPS or isinstance(c.value, InValues):
                return LwtCondition(if_exists=s.if_exists, conditions=s.conditions, checks=None,
                                    unresolved=c.to_cql())
            t = self.column(lhs.name)
            v = self.value(c.value, t, lhs.name)
            if v is UNSET:
                raise self.invalid(f"Invalid unset value for column {lhs.name}")
            checks.append((lhs.name, c.operator.value, v))
        return LwtCondition(if_exists=s.if_exists, conditions=s.conditions, checks=tuple(checks))

    # -- INSERT ------------------------------------------------------------------------------

    def insert(self, s: Insert, ts: int, expiry: int) -> list[Write]:
        if self.is_counter:
            raise self.invalid("INSERT statements are not allowed on counter tables, use UPDATE instead")
        given: dict[str, Any] = {}
        if s.json is not None:
            given = self.json_row(s)
        else:
            for col, term in zip(s.columns, s.values, strict=True):
                given[col] = self.value(term, self.column(col), col)
        key = {c: given.pop(c) for c in (*self.pk, *self.ck) if c in given}
        missing = [c for c in self.pk if c not in key]
        if missing:
            raise self.invalid(f"Some partition key parts are missing: {', '.join(missing)}")
        for c, v in key.items():
            self.check_key(c, v)
        statics = {c: v for c, v in given.items() if c in self.static}
        regular = {c: v for c, v in given.items() if c not in self.static}
        has_ck = any(c in key for c in self.ck)
        static_only = bool(statics) and not regular and not has_ck
        missing = [c for c in self.ck if c not in key]
        if missing and not static_only:
            raise self.invalid(f"Some clustering keys are missing: {', '.join(missing)}")
        partition = tuple(key[c] for c in self.pk)
        cond = self.condition_of(s)
        out: list[Write] = []
        if not static_only:
            m = Mutation(ts, expiry, row_marker=True)
            for c, v in regular.items():
                self.set_column(m, c, v)
            out.append(RowWrite(self.tm, RowKey(partition, tuple(key[c] for c in self.ck)), m, cond))
        if statics and any(v is not UNSET for v in statics.values()):
            m = Mutation(ts, expiry)
            for c, v in statics.items():
                self.set_column(m, c, v)
            out.append(RowWrite(self.tm, RowKey(partition, ()), m, cond))
        return out

    def set_column(self, m: Mutation, col: str, v: Any) -> None:
        """`col = v` (an INSERT value or an UPDATE assignment)."""
        if v is UNSET:
            return
        t = self.types[col]
        kind = _multicell(t)
        if kind is None:
            m.cells[col] = v
        elif v is None:
            m.collection_ops.append((col, f"{kind}:overwrite", {} if kind == "map" else []))
        else:
            m.collection_ops.append((col, f"{kind}:overwrite", v))

    def check_key(self, col: str, v: Any) -> None:
        if v is UNSET:
            raise self.invalid(f"Invalid unset value for column {col}")
        if v is None:
            part = "partition key part" if col in self.pk else "clustering key part"
            raise self.invalid(f"Invalid null value for {part} {col}")
        if len(self.pk) == 1 and col in self.pk and v in ("", b""):
            raise self.invalid("Key may not be empty")

    # -- INSERT JSON -------------------------------------------------------------------------

    def json_row(self, s: Insert) -> dict[str, Any]:
        assert s.json is not None
        text = self.value(s.json, TEXT, "[json]")
        if text is None:
            raise self.invalid("Got null for INSERT JSON values")
        if text is UNSET:
            raise self.invalid("Invalid unset value for INSERT JSON")
        try:
            obj = json.loads(text, parse_float=Decimal, parse_constant=_no_json_constant)
        except ValueError as e:
            raise self.invalid(f"Could not decode JSON string as a map: {e}. (String was: {text})") from None
        if obj is None:
            raise self.invalid("Got null for INSERT JSON values")
        if not isinstance(obj, dict):
            raise self.invalid(f"Could not decode JSON string as a map: not a JSON object. (String was: {text})")
        by_column = _json_names(obj)
        out: dict[str, Any] = {}
        for col, t in self.types.items():
            if col in by_column:
                raw = by_column.pop(col)
                out[col] = None if raw is None else self.from_json(t, raw, col)
            elif col in self.pk or col in self.ck:
                continue  # reported as a missing key part
            else:
                out[col] = UNSET if s.json_default_unset else None
        if by_column:
            raise self.invalid(f"JSON values map contains unrecognized column: {next(iter(by_column))}")
        return out

    def from_json(self, t: CqlType, o: Any, col: str) -> Any:
        try:
            return _from_json(t, o)
        except _JsonError as e:
            raise self.invalid(f"Error decoding JSON value for {col}: {e}") from None
        except _Nondeterministic as e:
            raise Untranslatable(self.name, str(e), "nondeterministic") from None
        except _Unsupported as e:
            raise self.unsupported(f"{e} ({col})") from None

    # -- UPDATE ------------------------------------------------------------------------------

    def update(self, s: Update, ts: int, expiry: int) -> list[Write]:
        for a in s.assignments:
            if a.column in self.pk or a.column in self.ck:
                raise self.invalid(f"PRIMARY KEY part {a.column} found in SET part")
            self.column(a.column)
        static_only = bool(s.assignments) and all(a.column in self.static for a in s.assignments)
        cond = self.condition_of(s)
        w = self.where(s.where, "UPDATE", allow_slice=False)
        self.check_conditional_in(w, cond, "updates")
        if static_only:
            if w.prefix:
                raise self.invalid("Invalid restrictions on clustering columns since the UPDATE statement "
                                   "modifies only static columns")
        elif w.prefix < len(self.ck):
            raise self.invalid(f"Some clustering keys are missing: {', '.join(self.ck[w.prefix:])}")

        if self.is_counter:
            if cond is not None:
                raise self.invalid("Conditional updates are not supported on counter tables")
            return self.counter_update(s, w)

        regular = Mutation(ts, expiry)
        static = Mutation(ts, expiry)
        for a in s.assignments:
            self.assign(static if a.column in self.static else regular, a)
        out: list[Write] = []
        for p in w.partitions:
            if regular.cells or regular.collection_ops:  # nothing to write when every value is unset
                for c in w.clusterings:
                    out.append(RowWrite(self.tm, RowKey(p, c), _copy(regular), cond))
            if static.cells or static.collection_ops:
                out.append(RowWrite(self.tm, RowKey(p, ()), _copy(static), cond))
        return out

    def assign(self, m: Mutation, a: Assignment) -> None:
        col = a.column
        t = self.types[col]
        kind = _multicell(t)
        if _is_counter(t):
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for counter column {col} in a non-counter table")
        if isinstance(a, SetValue):
            self.set_column(m, col, self.value(a.value, t, col))
        elif isinstance(a, SetElement):
            self.set_element(m, a, t, kind)
        elif isinstance(a, SetField):
            if isinstance(t, UDTType) and not t.frozen:
                raise self.unsupported(f"setting a single field of a non-frozen user type ({a.to_cql()}) is not "
                                       f"supported; set the whole value of {col}")
            if isinstance(t, UDTType):
                raise self.invalid(f"Invalid operation ({a.to_cql()}) for frozen UDT column {col}")
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for non-UDT column {col}")
        elif isinstance(a, Addition | Subtraction | Prepend):
            self.collection_update(m, a, t, kind)
        else:  # pragma: no cover - the parser makes no other assignment
            raise self.unsupported(f"unsupported assignment {a.to_cql()}")

    def set_element(self, m: Mutation, a: SetElement, t: CqlType, kind: str | None) -> None:
        col = a.column
        if kind == "list":
            assert isinstance(t, ListType)
            idx = self.value(a.key, INT, f"idx({col})")
            if idx is None:
                raise self.invalid("Invalid null value for list index")
            if idx is UNSET:
                raise self.invalid("Invalid unset value for list index")
            v = self.value(a.value, t.element, f"value({col})")
            if v is UNSET:
                return
            m.collection_ops.append((col, "list:set_index", (idx, v)))
        elif kind == "map":
            assert isinstance(t, MapType)
            k = self.value(a.key, t.key, f"key({col})")
            if k is None:
                raise self.invalid("Invalid null map key")
            if k is UNSET:
                raise self.invalid("Invalid unset map key")
            v = self.value(a.value, t.value, f"value({col})")
            if v is UNSET:
                return
            if v is None:
                m.collection_ops.append((col, "map:remove_keys", [k]))
            else:
                m.collection_ops.append((col, "map:put", _map_value([(k, v)])))
        elif isinstance(t, ListType | MapType):
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for frozen collection column {col}")
        else:
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for non list or map column {col}")

    def collection_update(self, m: Mutation, a: Addition | Subtraction | Prepend, t: CqlType,
                          kind: str | None) -> None:
        col = a.column
        if kind is None:
            if isinstance(t, ListType | SetType | MapType):
                raise self.invalid(f"Invalid operation ({a.to_cql()}) for frozen collection column {col}")
            what = "list" if isinstance(a, Prepend) else "counter"
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for non {what} column {col}")
        if isinstance(a, Prepend) and kind != "list":
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for non list column {col}")
        if kind == "map" and isinstance(a, Subtraction):
            assert isinstance(t, MapType)
            v = self.value(a.value, SetType(t.key), col)  # m = m - {k1, k2}: a set of keys
            op = "map:remove_keys"
        else:
            v = self.value(a.value, t, col)
            op = {
                ("list", Addition): "list:append", ("list", Subtraction): "list:remove_values",
                ("list", Prepend): "list:prepend", ("set", Addition): "set:add",
                ("set", Subtraction): "set:remove", ("map", Addition): "map:put",
            }[(kind, type(a))]
        if v is None or v is UNSET:
            return  # adding or removing nothing
        m.collection_ops.append((col, op, v))

    def counter_update(self, s: Update, w: _Where) -> list[Write]:
        deltas: dict[str, int] = {}
        for a in s.assignments:
            t = self.types[a.column]
            if not _is_counter(t):  # pragma: no cover - counter tables hold only counters
                raise self.invalid(f"Cannot mix counter and non counter columns in the same table ({a.column})")
            if isinstance(a, SetValue):
                raise self.invalid(f"Cannot set the value of counter column {a.column} (counters can only be "
                                   f"incremented/decremented, not set)")
            if not isinstance(a, Addition | Subtraction):
                raise self.invalid(f"Invalid operation ({a.to_cql()}) for counter column {a.column}")
            v = self.value(a.value, t, a.column)
            if v is None:
                raise self.invalid("Invalid null value for counter increment/decrement")
            if v is UNSET:
                continue
            d = int(v)
            if isinstance(a, Subtraction):
                if d == _INT64[0]:
                    raise self.invalid(f"The negation of {d} overflows supported counter precision "
                                       f"(signed 8 bytes integer)")
                d = -d
            deltas[a.column] = deltas.get(a.column, 0) + d
        out: list[Write] = []
        if not deltas:
            return out
        static = {c: d for c, d in deltas.items() if c in self.static}
        regular = {c: d for c, d in deltas.items() if c not in self.static}
        for p in w.partitions:
            if regular:
                for c in w.clusterings:
                    out.append(CounterWrite(self.tm, RowKey(p, c), dict(regular)))
            if static:
                out.append(CounterWrite(self.tm, RowKey(p, ()), dict(static)))
        return out

    # -- DELETE ------------------------------------------------------------------------------

    def delete(self, s: Delete, ts: int) -> list[Write]:
        cond = self.condition_of(s)
        for tg in s.targets:
            col = tg.name if isinstance(tg, ColumnRef) else tg.column
            self.column(col)
            if col in self.pk or col in self.ck:
                raise self.invalid(f"Invalid identifier {col} for deletion (should not be a PRIMARY KEY part)")
        w = self.where(s.where, "DELETE", allow_slice=not s.targets)
        self.check_conditional_in(w, cond, "deletions")
        n = len(self.ck)
        out: list[Write] = []
        if not s.targets:
            full = w.prefix == n and w.lower is None and w.upper is None
            if cond is not None and not full and (w.prefix or w.lower or w.upper):
                raise self.invalid("DELETE statements must restrict all PRIMARY KEY columns with equality relations"
                                   " in order to use IF conditions")
            for p in w.partitions:
                for c in w.clusterings:
                    if full:
                        out.append(RowWrite(self.tm, RowKey(p, c), Mutation(ts, delete_row=True), cond))
                    else:
                        out.append(RangeDelete(self.tm, p, c, w.lower, w.upper, ts, cond))
            return out

        static_only = all((t.name if isinstance(t, ColumnRef) else t.column) in self.static for t in s.targets)
        if static_only:
            if w.prefix:
                raise self.invalid("Invalid restrictions on clustering columns since the DELETE statement "
                                   "modifies only static columns")
        elif w.prefix < n:
            raise self.invalid("Range deletions are not supported for specific columns")
        regular = Mutation(ts)
        static = Mutation(ts)
        for tg in s.targets:
            col = tg.name if isinstance(tg, ColumnRef) else tg.column
            self.delete_target(static if col in self.static else regular, tg)
        for p in w.partitions:
            if not static_only and (regular.cells or regular.collection_ops):
                for c in w.clusterings:
                    out.append(RowWrite(self.tm, RowKey(p, c), _copy(regular), cond))
            if static.cells or static.collection_ops:
                out.append(RowWrite(self.tm, RowKey(p, ()), _copy(static), cond))
        return out

    def delete_target(self, m: Mutation, tg: ColumnRef | ElementRef | FieldRef) -> None:
        if isinstance(tg, ColumnRef):
            kind = _multicell(self.types[tg.name])
            if kind is None:
                m.cells[tg.name] = None
            else:
                m.collection_ops.append((tg.name, f"{kind}:delete", None))
            return
        col = tg.column
        t = self.types[col]
        kind = _multicell(t)
        if isinstance(tg, FieldRef):
            if isinstance(t, UDTType) and not t.frozen:
                raise self.unsupported(f"deleting a single field of a non-frozen user type ({tg.to_cql()}) is not "
                                       f"supported; set the whole value of {col}")
            if isinstance(t, UDTType):
                raise self.invalid(f"Frozen UDT column {col} does not support field deletion")
            raise self.invalid(f"Invalid deletion operation for non-UDT column {col}")
        if kind == "list":
            idx = self.value(tg.key, INT, f"idx({col})")
            if idx is None:
                raise self.invalid("Invalid null value for list index")
            if idx is UNSET:
                raise self.invalid("Invalid unset value for list index")
            m.collection_ops.append((col, "list:set_index", (idx, None)))
        elif kind == "map":
            assert isinstance(t, MapType)
            k = self.value(tg.key, t.key, f"key({col})")
            if k is None:
                raise self.invalid("Invalid null map key")
            if k is UNSET:
                raise self.invalid("Invalid unset map key")
            m.collection_ops.append((col, "map:remove_keys", [k]))
        elif kind == "set":
            assert isinstance(t, SetType)
            e = self.value(tg.key, t.element, f"value({col})")
            if e is None:
                raise self.invalid("Invalid null set element")
            if e is UNSET:
                raise self.invalid("Invalid unset set element")
            m.collection_ops.append((col, "set:remove", [e]))
        elif isinstance(t, ListType | SetType | MapType):
            raise self.invalid(f"Invalid deletion operation for frozen collection column {col}")
        else:
            raise self.invalid(f"Invalid deletion operation for non collection column {col}")

    def check_conditional_in(self, w: _Where, cond: LwtCondition | None, what: str) -> None:
        if cond is None:
            return
        if w.has_in[0]:
            raise self.invalid(f"IN on the partition key is not supported with conditional {what}")
        if w.has_in[1]:
            raise self.invalid(f"IN on the clustering key columns is not supported with conditional {what}")

    # -- WHERE -------------------------------------------------------------------------------

    def where(self, where: Sequence[Any], kind: str, allow_slice: bool) -> _Where:
        """The partition keys and clustering prefixes a WHERE clause names (IN expanded)."""
        eq: dict[str, int] = {}  # column → index of its group
        groups: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
        slice_col: str | None = None
        lower: tuple[Any, bool] | None = None
        upper: tuple[Any, bool] | None = None
        in_pk = in_ck = False
        for r in where:
            if not isinstance(r, Relation):
                raise self.invalid(f"Custom index expressions are not supported in {kind} statements")
            lhs = r.lhs
            if isinstance(lhs, TokenRef):
                raise self.invalid(f"The token function cannot be used in WHERE clauses for {kind} statements")
            if isinstance(lhs, ElementRef):
                raise self.invalid(f"Non PRIMARY KEY columns found in where clause: {lhs.column}")
            cols = lhs.columns if isinstance(lhs, ColumnTuple) else (lhs.name,)
            for c in cols:
                self.column(c)
                if c not in self.pk and c not in self.ck:
                    raise self.invalid(f"Non PRIMARY KEY columns found in where clause: {c}")
            op = r.operator
            if op in (Operator.LT, Operator.LTE, Operator.GT, Operator.GTE):
                if any(c in self.pk for c in cols):
                    raise self.invalid("Only EQ and IN relation are supported on the partition key (unless you use "
                                       "the token() function)")
                if not allow_slice:
                    if kind == "DELETE":
                        raise self.invalid("Range deletions are not supported for specific columns")
                    raise self.invalid(f"Slice restrictions are not supported on the clustering columns in {kind} "
                                       f"statements")
                if len(cols) > 1:
                    raise self.unsupported(f"multi-column slice restrictions ({r.to_cql()}) in DELETE are not "
                                           f"supported; restrict a single clustering column")
                c = cols[0]
                if slice_col is not None and slice_col != c:
                    raise self.invalid(f"Clustering column \"{c}\" cannot be restricted (preceding column "
                                       f"\"{slice_col}\" is restricted by a non-EQ relation)")
                slice_col = c
                v = self.value(r.value, self.types[c], c)
                if v is None or v is UNSET:
                    raise self.invalid(f"Invalid {'null' if v is None else 'unset'} value for column {c}")
                bound = (v, op in (Operator.LTE, Operator.GTE))
                if op in (Operator.GT, Operator.GTE):
                    if lower is not None:
                        raise self.invalid(f"More than one restriction was found for the start bound on {c}")
                    lower = bound
                else:
                    if upper is not None:
                        raise self.invalid(f"More than one restriction was found for the end bound on {c}")
                    upper = bound
                continue
            if op not in (Operator.EQ, Operator.IN):
                raise self.invalid(f"Unsupported \"{op.value}\" relation: {r.to_cql()} in {kind} statements")
            if len(cols) > 1:
                if any(c in self.pk for c in cols):
                    raise self.invalid(f"Multi-column relations can only be applied to clustering columns but was "
                                       f"applied to: {next(c for c in cols if c in self.pk)}")
                pos = [self.ck.index(c) for c in cols]
                if pos != list(range(pos[0], pos[0] + len(pos))):
                    raise self.invalid(f"Clustering columns must appear in the PRIMARY KEY order in multi-column "
                                       f"relations: {lhs.to_cql()}")
            rows = self.relation_values(r, cols, op)
            for c in cols:
                if c in eq:
                    raise self.invalid(f"{c} cannot be restricted by more than one relation if it includes an Equal")
                eq[c] = len(groups)
            if op is Operator.IN:
                if cols[0] in self.pk:
                    in_pk = True
                else:
                    in_ck = True
            groups.append((cols, rows))

        missing = [c for c in self.pk if c not in eq]
        if missing:
            raise self.invalid(f"Some partition key parts are missing: {', '.join(missing)}")
        partitions = self.combine([groups[eq[c]] for c in self.pk], self.pk)

        # clustering: a prefix of EQ/IN restrictions, then at most one slice on the next column
        chosen: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
        i = 0
        while i < len(self.ck) and self.ck[i] in eq:
            g = groups[eq[self.ck[i]]]
            chosen.append(g)
            i += len(g[0])
        prefix = i
        for c in self.ck[prefix:]:
            if c in eq:
                if slice_col is not None and self.ck.index(slice_col) < self.ck.index(c):
                    raise self.invalid(f"Clustering column \"{c}\" cannot be restricted (preceding column "
                                       f"\"{slice_col}\" is restricted by a non-EQ relation)")
                prev = self.ck[self.ck.index(c) - 1]
                raise self.invalid(f"PRIMARY KEY column \"{c}\" cannot be restricted as preceding column "
                                   f"\"{prev}\" is not restricted")
        if slice_col is not None:
            at = self.ck.index(slice_col)
            if at < prefix:
                raise self.invalid(f"Column \"{slice_col}\" cannot be restricted by both an equality and an "
                                   f"inequality relation")
            if at > prefix:
                raise self.invalid(f"PRIMARY KEY column \"{slice_col}\" cannot be restricted as preceding column "
                                   f"\"{self.ck[at - 1]}\" is not restricted")
        clusterings = self.combine(chosen, self.ck[:prefix])
        return _Where(partitions, clusterings, prefix, lower, upper, (in_pk, in_ck))

    def relation_values(self, r: Relation, cols: tuple[str, ...], op: Operator) -> list[tuple[Any, ...]]:
        """The value tuples an = or IN relation allows for `cols`."""
        single = len(cols) == 1
        t: CqlType = self.types[cols[0]] if single else TupleType(tuple(self.types[c] for c in cols))
        name = cols[0] if single else "(" + ", ".join(cols) + ")"
        if op is Operator.EQ:
            assert not isinstance(r.value, InValues)
            items = [self.value(r.value, t, name)]
        elif isinstance(r.value, InValues):
            items = [self.value(v, t, name) for v in r.value.values]
        else:
            whole = self.value(r.value, ListType(t), f"in({name})")
            if whole is None:
                raise self.invalid(f"Invalid null value for IN restriction on {name}")
            if whole is UNSET:
                raise self.invalid(f"Invalid unset value for IN restriction on {name}")
            items = list(whole)
        rows: list[tuple[Any, ...]] = []
        for v in items:
            if v is UNSET:
                raise self.invalid(f"Invalid unset value for column {cols[0]}")
            if v is None:
                raise self.invalid(f"Invalid null value in condition for column {cols[0]}")
            row = (v,) if single else tuple(v)
            for c, x in zip(cols, row, strict=True):
                self.check_key(c, x)
            rows.append(row)
        return rows

    def combine(self, groups: Sequence[tuple[tuple[str, ...], list[tuple[Any, ...]]]],
                cols: Sequence[str]) -> list[tuple[Any, ...]]:
        """Every combination of the groups' values, without duplicates (compared as Cassandra does:
        by serialized value), in order."""
        if all(len(rows) == 1 for _, rows in groups):  # the usual case: one key, nothing to compare
            return [tuple(x for _, rows in groups for x in rows[0])]
        out: list[tuple[Any, ...]] = []
        seen: set[tuple[bytes, ...]] = set()
        types = [self.types[c] for c in cols]
        for parts in itertools.product(*(rows for _, rows in groups)):
            row = tuple(x for part in parts for x in part)
            ident = tuple(serialize(t, v) for t, v in zip(types, row, strict=True))
            if ident not in seen:
                seen.add(ident)
                out.append(row)
        return out

    # -- values ------------------------------------------------------------------------------

    def value(self, term: Any, t: CqlType, rname: str) -> Any:
        """The value of `term` given to a receiver of type `t`: a Python value as deserialize makes
        it, None for null, or UNSET."""
        if isinstance(term, BindMarker):
            return self.bound(term, t, rname)
        if isinstance(term, Constant):
            return self.constant(term, t, rname)
        if isinstance(term, ListLiteral | SetLiteral | MapLiteral | EmptySetOrMap | TupleLiteral | UdtLiteral):
            return self.literal(term, t, rname)
        if isinstance(term, FunctionCall):
            return self.call(term, t, rname)
        if isinstance(term, Cast):
            v = self.value(term.operand, term.type, rname)
            if v is None or v is UNSET:
                return v
            return self.convert(v, term.type, t, rname, term.to_cql())
        if isinstance(term, CastAs):
            raise self.invalid(f"CAST is only allowed in selection clauses, not in {term.to_cql()}")
        if isinstance(term, Negated | BinaryOp):
            return self.arithmetic(term, t, rname)
        raise self.unsupported(f"cannot evaluate {getattr(term, 'to_cql', lambda: repr(term))()}")

    def bound(self, m: BindMarker, t: CqlType, rname: str) -> Any:
        raw = self.binder.raw(self, m)
        if raw is None or isinstance(raw, Unset):
            return None if raw is None else UNSET
        bt = self.binder.bind_type(m) or t
        try:
            v: Any = deserialize(bt, raw, self.binder.version)
        except CQLError as e:
            raise self.invalid(f"Invalid value bound for {rname}: {e.message}") from None
        except (TypeError, ValueError) as e:
            raise self.invalid(f"Invalid value bound for {rname}: {e}") from None
        if isinstance(bt, ListType | SetType | MapType) and v is not None:
            items = list(v.items()) if isinstance(v, dict) else v
            flat = [x for pair in items for x in pair] if isinstance(bt, MapType) else items
            if any(x is None for x in flat):
                raise self.invalid("null is not supported inside collections")
        return v

    def constant(self, c: Constant, t: CqlType, rname: str) -> Any:
        if c.kind is ConstantKind.NULL:
            return None
        code = _code(t)
        if isinstance(t, CustomType):
            raise self.unsupported(f"literal values of custom type {t.class_name} are not supported ({rname})")
        if code is None or code not in _LITERAL_TARGETS[c.kind]:
            shown = c.value if c.kind is ConstantKind.STRING else c.text
            raise self.invalid(f"Invalid {c.kind.value.upper()} constant ({shown}) for \"{rname}\" of type "
                               f"{_tname(t)}")
        try:
            return _literal_value(c, code)
        except _Nondeterministic as e:
            raise Untranslatable(self.name, str(e), "nondeterministic") from None
        except _Unsupported as e:
            raise self.unsupported(f"{e} ({rname})") from None
        except (ValueError, InvalidRequest) as e:
            msg = e.message if isinstance(e, InvalidRequest) else str(e)
            raise self.invalid(msg) from None

    def literal(self, term: Any, t: CqlType, rname: str) -> Any:
        what = {ListLiteral: "list", SetLiteral: "set", MapLiteral: "map", EmptySetOrMap: "map",
                TupleLiteral: "tuple", UdtLiteral: "user type"}[type(term)]
        mismatch = self.invalid(f"Invalid {what} literal for {rname} of type {_tname(t)}")
        if isinstance(t, ListType | VectorType):
            if not isinstance(term, ListLiteral):
                raise mismatch
            items = [self.element(e, t.element, rname) for e in term.elements]
            if isinstance(t, VectorType) and len(items) != t.dimension:
                raise self.invalid(f"Invalid vector literal for {rname} of type {_tname(t)}; expected "
                                   f"{t.dimension} elements, but given {len(items)}")
            return items
        if isinstance(t, SetType):
            if isinstance(term, EmptySetOrMap):
                return []
            if not isinstance(term, SetLiteral):
                raise mismatch
            out: list[Any] = []
            seen: set[bytes] = set()
            for e in term.elements:
                v = self.element(e, t.element, rname)
                b = serialize(t.element, v)
                if b not in seen:  # a set literal may repeat an element
                    seen.add(b)
                    out.append(v)
            return out
        if isinstance(t, MapType):
            if isinstance(term, EmptySetOrMap):
                return {}
            if not isinstance(term, MapLiteral):
                raise mismatch
            pairs = [(self.element(k, t.key, rname), self.element(v, t.value, rname)) for k, v in term.entries]
            return _map_value(pairs)
        if isinstance(t, TupleType):
            if not isinstance(term, TupleLiteral):
                raise mismatch
            if len(term.elements) > len(t.elements):
                raise self.invalid(f"Invalid tuple literal for {rname}: too many elements. Type {_tname(t)} "
                                   f"expects {len(t.elements)} but got {len(term.elements)}")
            vals = [self.field(e, et, rname) for e, et in zip(term.elements, t.elements, strict=False)]
            return tuple(vals + [None] * (len(t.elements) - len(vals)))
        if isinstance(t, UDTType):
            if not isinstance(term, UdtLiteral):
                raise mismatch
            fields = dict(t.fields)
            given: dict[str, Any] = {}
            for name, e in term.fields:
                if name not in fields:
                    raise self.invalid(f"Unknown field '{name}' in value of user defined type {t.name}")
                given[name] = self.field(e, fields[name], rname)
            return {name: given.get(name) for name, _ in t.fields}
        raise mismatch

    def element(self, term: Any, t: CqlType, rname: str) -> Any:
        v = self.value(term, t, rname)
        if v is None:
            raise self.invalid("null is not supported inside collections")
        if v is UNSET:
            raise self.invalid("unset value is not supported inside collections")
        return v

    def field(self, term: Any, t: CqlType, rname: str) -> Any:
        v = self.value(term, t, rname)
        if v is UNSET:
            raise self.invalid(f"Invalid unset value for a field of {rname}")
        return v

    def convert(self, v: Any, src: CqlType, dst: CqlType, rname: str, shown: str) -> Any:
        """A value of type `src` stored into a receiver of type `dst` (after a type hint or a function)."""
        if v is None or _same(src, dst):
            return v
        if not _compatible(src, dst):
            raise self.invalid(f"Type error: {shown} of type {_tname(src)} cannot be assigned to {rname} of type "
                               f"{_tname(dst)}")
        try:
            return deserialize(dst, serialize(src, v))
        except (CQLError, TypeError, ValueError) as e:
            raise self.invalid(f"Invalid value {shown} for {rname}: {e}") from None

    # -- functions ---------------------------------------------------------------------------

    def call(self, fc: FunctionCall, t: CqlType, rname: str) -> Any:
        ret, arg_t, fn = self.resolve_function(fc)
        if arg_t is None:  # fromJson: the receiver's type
            text = self.value(fc.args[0], TEXT, rname)
            if text is None or text is UNSET:
                return text if text is None else self.unset_arg(fc)
            try:
                o = json.loads(text, parse_float=Decimal, parse_constant=_no_json_constant)
            except ValueError as e:
                raise self.invalid(f"Could not decode JSON string '{text}': {e}") from None
            return None if o is None else self.from_json(t, o, rname)
        arg = self.value(fc.args[0], arg_t, rname)
        if arg is UNSET:
            return self.unset_arg(fc)
        try:
            v = None if arg is None else fn(arg)
        except (CQLError, TypeError, ValueError, OverflowError) as e:
            msg = e.message if isinstance(e, CQLError) else str(e)
            raise self.invalid(f"Function {fc.name} failed on {fc.to_cql()}: {msg}") from None
        assert ret is not None
        return self.convert(v, ret, t, rname, fc.to_cql())

    def unset_arg(self, fc: FunctionCall) -> Any:
        raise self.invalid(f"Invalid unset value for argument in call to function {fc.name}")

    def resolve_function(self, fc: FunctionCall) -> tuple[CqlType | None, CqlType | None, Callable[[Any], Any]]:
        """(return type, argument type, implementation) of a native function call; the types are
        None for fromJson, whose result takes the receiver's type."""
        name = fc.name.replace("_", "") if fc.keyspace in (None, "system") else None
        shown = fc.name if fc.keyspace is None else f"{fc.keyspace}.{fc.name}"
        if name in _NONDETERMINISTIC:
            raise Untranslatable(self.name, f"{shown}() is non-deterministic: Cassandra computes its value when it "
                                 f"runs the statement, so the same value cannot be written here; bind the value "
                                 f"instead", "nondeterministic")
        for a in fc.args:  # a non-deterministic argument anywhere decides first
            if isinstance(a, FunctionCall):
                self.resolve_function(a)
        if name is None or not (name in _TIME_FUNCTIONS or name == "fromjson" or _blob_function(name)):
            raise self.unsupported(f"function {shown}() is not supported here (only Cassandra can evaluate "
                                   f"user-defined and most native functions); bind the value instead")
        if len(fc.args) != 1:
            raise self.invalid(f"Invalid number of arguments in call to function {shown}: 1 required but "
                               f"{len(fc.args)} provided")
        if name == "fromjson":
            return None, None, _identity
        blob = _blob_function(name)
        if blob is not None:
            target, to_blob = blob
            if to_blob:
                return BLOB, target, lambda v: serialize(target, v)
            return target, BLOB, lambda v: deserialize(target, v)
        overloads = _TIME_FUNCTIONS[name]
        accepted = self.arg_types(fc.args[0])
        matches = [o for o in overloads if accepted is None or o[0] in accepted]
        if len(matches) != 1:
            sigs = ", ".join(f"{shown}({NATIVE_NAMES[a]})" for a, _, _ in (matches or overloads))
            if matches:
                raise self.invalid(f"Ambiguous call to function {shown} (can be matched by following signatures: "
                                   f"{sigs}): use type casts to disambiguate")
            raise self.invalid(f"Type error: {fc.args[0].to_cql()} cannot be passed as argument 0 of function "
                               f"{shown} ({sigs})")
        arg_code, ret_code, fn = matches[0]
        return native(ret_code), native(arg_code), fn

    def arg_types(self, term: Any) -> frozenset[int] | None:
        """The native type codes `term` may have as a function argument (None: any)."""
        if isinstance(term, Cast):
            return frozenset({term.type.code}) if isinstance(term.type, NativeType) else frozenset()
        if isinstance(term, Constant):
            if term.kind is ConstantKind.NULL:
                return None
            if term.kind is ConstantKind.UUID and isinstance(term.value, uuid.UUID) and term.value.version == 1:
                return frozenset({_C.TIMEUUID})  # its exact type wins over uuid
            return _LITERAL_TARGETS[term.kind]
        if isinstance(term, BindMarker):
            bt = self.binder.bind_type(term)
            return None if bt is None else frozenset({bt.code})
        if isinstance(term, FunctionCall):
            ret, _, _ = self.resolve_function(term)
            return None if ret is None else frozenset({ret.code})
        return None

    # -- arithmetic --------------------------------------------------------------------------

    def arithmetic(self, term: Negated | BinaryOp, t: CqlType, rname: str) -> Any:
        code = _code(t)
        if code not in _NUMERIC:
            raise self.unsupported(f"arithmetic ({term.to_cql()}) is only supported on numbers here, not on "
                                   f"{_tname(t)} ({rname})")
        operands = [term.operand] if isinstance(term, Negated) else [term.left, term.right]
        vals = [self.value(o, t, rname) for o in operands]
        if any(v is UNSET for v in vals):
            raise self.invalid(f"Invalid unset value in {term.to_cql()}")
        if any(v is None for v in vals):
            return None
        assert code is not None
        try:
            if isinstance(term, Negated):
                return _negate(code, vals[0])
            return _binary(code, term.op, vals[0], vals[1])
        except ZeroDivisionError:
            raise self.invalid(f"the operation {term.to_cql()} failed: division by zero") from None
        except decimal.InvalidOperation as e:
            raise self.invalid(f"the operation {term.to_cql()} failed: {e}") from None


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


# ---------------------------------------------------------------------------------------------
# Literals (Cassandra's fromString of each type)
# ---------------------------------------------------------------------------------------------


class _Nondeterministic(Exception):
    pass


class _Unsupported(Exception):
    pass


_INT_RANGE = {c: (-(1 << (b - 1)), (1 << (b - 1)) - 1) for c, b in _INT_BITS.items()}
_INT_NAMES = {_C.TINYINT: "tinyint", _C.SMALLINT: "smallint", _C.INT: "int", _C.BIGINT: "long", _C.COUNTER: "long"}


def _literal_value(c: Constant, code: int) -> Any:
    text = c.text
    kind = c.kind
    if kind is ConstantKind.STRING:
        return _from_string(code, str(c.value))
    if kind is ConstantKind.BOOLEAN:
        return bool(c.value)
    if kind is ConstantKind.HEX:
        assert isinstance(c.value, bytes)
        return c.value
    if kind is ConstantKind.DURATION:
        return c.value
    if kind is ConstantKind.UUID:
        u = c.value
        assert isinstance(u, uuid.UUID)
        if code == _C.TIMEUUID and u.version != 1:
            raise ValueError(f"Unsupported UUID version {u.version} for timeuuid: {u}")
        return u
    if kind is ConstantKind.FLOAT:
        return _number(code, text, float(c.value))  # type: ignore[arg-type]
    # INTEGER
    n = int(c.value)  # type: ignore[call-overload]
    if code in _INT_RANGE:
        lo, hi = _INT_RANGE[code]
        if not lo <= n <= hi:
            raise ValueError(f"Unable to make {_INT_NAMES[code]} from '{text}'")
        return n
    if code == _C.VARINT:
        return n
    if code in (_C.DECIMAL, _C.DOUBLE, _C.FLOAT):
        return _number(code, text, float(text))  # a string overflows to inf, as Java parses it
    if code == _C.TIMESTAMP:
        if not _INT64[0] <= n <= _INT64[1]:
            raise ValueError(f"Unable to make long (for date) from: '{text}'")
        return n
    if code == _C.DATE:
        return _raw_date(text)
    if code == _C.TIME:
        return _time_of(text)
    if code == _C.DURATION:
        return parse_duration(text)
    raise ValueError(f"Invalid INTEGER constant ({text})")  # pragma: no cover - filtered by _LITERAL_TARGETS


def _number(code: int, text: str, approx: float) -> Any:
    if code == _C.DECIMAL:
        try:
            d = Decimal(text)
        except decimal.InvalidOperation:
            d = Decimal("NaN")
        if not d.is_finite():
            raise ValueError(f"Unable to make BigDecimal from '{text}'")
        return d
    if code == _C.FLOAT:
        return _f32(approx)
    return approx


def _f32(x: float) -> float:
    """`x` rounded to a 32-bit float, as Java's float arithmetic and parsing give it."""
    try:
        return float(struct.unpack(">f", struct.pack(">f", x))[0])
    except (OverflowError, struct.error):
        return math.copysign(math.inf, x)


def _from_string(code: int, s: str) -> Any:
    if code == _C.VARCHAR:
        return s
    if code == _C.ASCII:
        if not s.isascii():
            raise ValueError(f"Invalid ASCII character in string literal '{s}'")
        return s
    if code == _C.INET:
        return _inet(s)
    if code == _C.TIMESTAMP:
        return _timestamp_of(s)
    if code == _C.DATE:
        return _date_of(s)
    if code == _C.TIME:
        return _time_of(s)
    raise ValueError(f"Invalid STRING constant ({s})")  # pragma: no cover - filtered by _LITERAL_TARGETS


def _inet(s: str) -> str:
    text = s[1:-1] if s.startswith("[") and s.endswith("]") else s
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:.]+", text) is None:
            raise _Unsupported(f"host name '{s}' as an inet value (Cassandra resolves it)") from None
        raise ValueError(f"Unable to make inet address from '{s}'") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # Java reads ::ffff:a.b.c.d as an IPv4 address
    family = socket.AF_INET if addr.version == 4 else socket.AF_INET6
    return socket.inet_ntop(family, addr.packed)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date, any year."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if m in (4, 6, 9, 11) else 31


_DATE_RE = re.compile(r"(-?\d{4}|[+-]\d{5,10})-(\d{2})-(\d{2})")
_INT32 = (-(1 << 31), (1 << 31) - 1)


def _date_of(s: str) -> int:
    if re.fullmatch(r"-?\d+", s):
        return _raw_date(s)
    m = _DATE_RE.fullmatch(s)
    if m is None:
        raise ValueError(f"Unable to coerce '{s}' to a formatted date (long)")
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo)):
        raise ValueError(f"Unable to coerce '{s}' to a formatted date (long)")
    days = _days_from_civil(y, mo, d)
    if not _INT32[0] <= days <= _INT32[1]:
        raise ValueError(f"Input date {s} is out of the supported range")
    return days


def _raw_date(s: str) -> int:
    n = int(s)
    if not 0 <= n <= (1 << 32) - 1:
        raise ValueError(f"Unable to make unsigned int (for date) from: '{s}'")
    return n - (1 << 31)


_NANOS_PER_DAY = 86_400 * 1_000_000_000
_TIME_RE = re.compile(r"\s*(\d+):(\d+):(\d+)(?:\.(\d{1,9}))?\s*")


def _time_of(s: str) -> int:
    if re.fullmatch(r"-?\d+", s):
        n = int(s)
        if not 0 <= n < _NANOS_PER_DAY:
            raise ValueError(f"Unable to make long (for time) from: '{s}'")
        return n
    m = _TIME_RE.fullmatch(s)
    if m is None:
        raise ValueError(f"(TimeType) Unable to coerce '{s}' to a formatted time (long)")
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if h >= 24 or mi >= 60 or sec >= 60:
        raise ValueError(f"(TimeType) Unable to coerce '{s}' to a formatted time (long)")
    frac = (m.group(4) or "").ljust(9, "0")
    return ((h * 60 + mi) * 60 + sec) * 1_000_000_000 + int(frac or "0")


# Cassandra's TimestampSerializer patterns: date, optional ' '/'T' + HH:mm[:ss[.SSS]], optional zone
# (ISO 'X' attached, or ' ' + a general zone). The milliseconds field is an integer (".5" is 5 ms),
# as Java's SimpleDateFormat reads it.
_TS_RE = re.compile(
    r"(\d{1,9})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?"
    r"(?:(Z|[+-]\d{2}(?::?\d{2})?)| (\S+))?"
)
_GENERAL_ZONE = re.compile(r"(?:UTC|GMT|UT)|GMT([+-])(\d{1,2})(?::?(\d{2}))?|([+-])(\d{2})(\d{2})")


def _timestamp_of(s: str) -> int:
    if s.lower() == "now":
        raise _Nondeterministic("the timestamp 'now' is the coordinator's clock when Cassandra runs the statement, "
                                "so the same value cannot be written here; bind the value instead")
    if re.fullmatch(r"-?\d+", s):
        n = int(s)
        if not _INT64[0] <= n <= _INT64[1]:
            raise ValueError(f"Unable to make long (for date) from: '{s}'")
        return n
    bad = ValueError(f"Unable to coerce '{s}' to a formatted date (long)")
    m = _TS_RE.fullmatch(s)
    if m is None:
        raise bad
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    h, mi, sec = (int(g) if g else 0 for g in m.group(4, 5, 6))
    ms = int(m.group(7)) if m.group(7) else 0
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo) and h < 24 and mi < 60 and sec < 60 and ms < 1000):
        raise bad
    if y < 1583:
        raise _Unsupported(f"timestamp '{s}' before 1583 (Cassandra reads it in the Julian calendar)")
    offset = 0
    iso, general = m.group(8), m.group(9)
    if iso is not None and iso != "Z":
        sign = -1 if iso[0] == "-" else 1
        digits = iso[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + (int(digits[2:]) if len(digits) > 2 else 0))
    elif general is not None:
        z = _GENERAL_ZONE.fullmatch(general)
        if z is None:
            raise _Unsupported(f"time zone name '{general}' in timestamp '{s}'; give an offset such as +0000")
        if z.group(1):
            offset = (-1 if z.group(1) == "-" else 1) * (int(z.group(2)) * 60 + int(z.group(3) or 0))
        elif z.group(4):
            offset = (-1 if z.group(4) == "-" else 1) * (int(z.group(5)) * 60 + int(z.group(6)))
    days = _days_from_civil(y, mo, d)
    return ((days * 24 + h) * 60 + mi - offset) * 60_000 + sec * 1000 + ms


# ---------------------------------------------------------------------------------------------
# Native functions
# ---------------------------------------------------------------------------------------------

_NONDETERMINISTIC = frozenset({"now", "uuid", "currenttimestamp", "currentdate", "currenttime", "currenttimeuuid"})
_UUID_EPOCH_MS = 12219292800000  # 1582-10-15 → 1970-01-01


def _timeuuid_ms(u: Any) -> int:
    if not isinstance(u, uuid.UUID) or u.version != 1:
        raise ValueError(f"{u} is not a time-based UUID")
    return u.time // 10_000 - _UUID_EPOCH_MS


def _ms_to_days(ms: int) -> int:
    secs = ms // 1000  # Duration.ofMillis(ms).toDays(): floored seconds, then truncated days
    return int(secs / 86400) if secs < 0 else secs // 86400


# name → ((argument code, return code, implementation), ...)
_TIME_FUNCTIONS: dict[str, tuple[tuple[int, int, Callable[[Any], Any]], ...]] = {
    "totimestamp": ((_C.TIMEUUID, _C.TIMESTAMP, _timeuuid_ms), (_C.DATE, _C.TIMESTAMP, lambda d: d * 86_400_000)),
    "todate": ((_C.TIMEUUID, _C.DATE, lambda u: _ms_to_days(_timeuuid_ms(u))), (_C.TIMESTAMP, _C.DATE, _ms_to_days)),
    "tounixtimestamp": ((_C.TIMEUUID, _C.BIGINT, _timeuuid_ms), (_C.TIMESTAMP, _C.BIGINT, _identity),
                        (_C.DATE, _C.BIGINT, lambda d: d * 86_400_000)),
    "dateof": ((_C.TIMEUUID, _C.TIMESTAMP, _timeuuid_ms),),
    "unixtimestampof": ((_C.TIMEUUID, _C.BIGINT, _timeuuid_ms),),
}

_TYPE_BY_NAME: dict[str, CqlType] = {name: native(code) for code, name in NATIVE_NAMES.items()}
_TYPE_BY_NAME["varchar"] = TEXT


def _blob_function(name: str) -> tuple[CqlType, bool] | None:
    """(type, to_blob) for ``<type>AsBlob`` / ``blobAs<type>``."""
    if name.endswith("asblob") and name[:-6] in _TYPE_BY_NAME and name != "blobasblob":
        return _TYPE_BY_NAME[name[:-6]], True
    if name.startswith("blobas") and name[6:] in _TYPE_BY_NAME and name != "blobasblob":
        return _TYPE_BY_NAME[name[6:]], False
    return None


# ---------------------------------------------------------------------------------------------
# Arithmetic (Java semantics: integers wrap, division truncates, floats follow IEEE)
# ---------------------------------------------------------------------------------------------

_DECIMAL128 = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, Emax=999_999_999, Emin=-999_999_999)


def _wrap(code: int, n: int) -> int:
    bits = _INT_BITS.get(code)
    if bits is None:
        return n
    n &= (1 << bits) - 1
    return n - (1 << bits) if n >> (bits - 1) else n


def _negate(code: int, v: Any) -> Any:
    if code == _C.FLOAT:
        return _f32(-v)
    return _wrap(code, -v) if isinstance(v, int) else -v


def _binary(code: int, op: str, a: Any, b: Any) -> Any:
    if code in _INT_BITS or code == _C.VARINT:
        if op in ("/", "%"):
            if b == 0:
                raise ZeroDivisionError
            q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
            r = q if op == "/" else a - b * q
        else:
            r = a + b if op == "+" else a - b if op == "-" else a * b
        return _wrap(code, r)
    if code == _C.DECIMAL:
        ctx = _DECIMAL128
        if op in ("/", "%") and b == 0:
            raise ZeroDivisionError
        return {"+": ctx.add, "-": ctx.subtract, "*": ctx.multiply, "/": ctx.divide,
                "%": ctx.remainder}[op](a, b)
    x, y = float(a), float(b)
    if op == "+":
        r_f = x + y
    elif op == "-":
        r_f = x - y
    elif op == "*":
        r_f = x * y
    elif op == "/":
        r_f = x / y if y != 0 else (math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) *
                                     math.copysign(1.0, y))
    else:
        r_f = math.fmod(x, y) if y != 0 and not math.isinf(x) else math.nan
    return _f32(r_f) if code == _C.FLOAT else r_f


# ---------------------------------------------------------------------------------------------
# JSON values (Cassandra's fromJSONObject of each type)
# ---------------------------------------------------------------------------------------------


class _JsonError(Exception):
    pass


def _no_json_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def _json_names(obj: dict[str, Any]) -> dict[str, Any]:
    """Keys as column or field names: "\\"Quoted\\"" keeps its case, anything else is lower-cased."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        name = k[1:-1] if len(k) >= 2 and k.startswith('"') and k.endswith('"') else k.lower()
        out[name] = v
    return out


def _from_json(t: CqlType, o: Any) -> Any:
    if o is None:
        return None
    if isinstance(t, ListType | SetType | VectorType):
        if not isinstance(o, list):
            raise _JsonError(f"Expected a list, but got a {_json_kind(o)}: {o}")
        items = [_json_element(t.element, e) for e in o]
        if isinstance(t, VectorType) and len(items) != t.dimension:
            raise _JsonError(f"Expected a vector of {t.dimension} elements, but got {len(items)}")
        if isinstance(t, SetType):
            seen: set[bytes] = set()
            uniq = []
            for e in items:
                b = serialize(t.element, e)
                if b not in seen:
                    seen.add(b)
                    uniq.append(e)
            items = uniq
        return items
    if isinstance(t, MapType):
        if not isinstance(o, dict):
            raise _JsonError(f"Expected a map, but got a {_json_kind(o)}: {o}")
        textual = _code(t.key) in (_C.VARCHAR, _C.ASCII)
        pairs = []
        for k, v in o.items():
            key: Any = k
            if not textual:  # JSON keys are strings: others are JSON-encoded inside them
                try:
                    key = json.loads(k, parse_float=Decimal, parse_constant=_no_json_constant)
                except ValueError:
                    key = k
            pairs.append((_json_element(t.key, key), _json_element(t.value, v)))
        return _map_value(pairs)
    if isinstance(t, TupleType):
        if not isinstance(o, list):
            raise _JsonError(f"Expected a list representation of a tuple, but got a {_json_kind(o)}: {o}")
        if len(o) > len(t.elements):
            raise _JsonError(f"Tuple contains extra items (expected {len(t.elements)}): {o}")
        vals = [_from_json(et, e) for et, e in zip(t.elements, o, strict=False)]
        return tuple(vals + [None] * (len(t.elements) - len(vals)))
    if isinstance(t, UDTType):
        if not isinstance(o, dict):
            raise _JsonError(f"Expected a map, but got a {_json_kind(o)}: {o}")
        given = _json_names(o)
        fields = dict(t.fields)
        for name in given:
            if name not in fields:
                raise _JsonError(f"Unknown field '{name}' in value of user defined type {t.name}")
        return {name: _from_json(ft, given.get(name)) for name, ft in t.fields}
    code = _code(t)
    if code is None:
        raise _JsonError(f"JSON values of type {_tname(t)} are not supported")
    return _json_native(code, o)


def _json_element(t: CqlType, o: Any) -> Any:
    if o is None:
        raise _JsonError("null is not supported inside collections")
    return _from_json(t, o)


def _json_kind(o: Any) -> str:
    return {bool: "Boolean", int: "Integer", Decimal: "Double", str: "String", list: "ArrayList",
            dict: "LinkedHashMap"}.get(type(o), type(o).__name__)


def _json_native(code: int, o: Any) -> Any:
    name = NATIVE_NAMES[code]
    is_number = isinstance(o, int | Decimal) and not isinstance(o, bool)
    try:
        if code in (_C.VARCHAR, _C.ASCII, _C.INET, _C.UUID, _C.TIMEUUID, _C.DATE, _C.DURATION, _C.BLOB):
            if not isinstance(o, str):
                raise _JsonError(f"Expected a string representation of a {name} value, but got a {_json_kind(o)}: {o}")
            if code == _C.BLOB:
                if not o.startswith("0x"):
                    raise _JsonError("String representation of blob is missing 0x prefix: " + o)
                return bytes.fromhex(o[2:])
            if code in (_C.UUID, _C.TIMEUUID):
                u = uuid.UUID(o)
                if code == _C.TIMEUUID and u.version != 1:
                    raise _JsonError(f"Unsupported UUID version {u.version} for timeuuid: {o}")
                return u
            if code == _C.DURATION:
                return parse_duration(o)
            return _from_string(code, o)
        if code == _C.BOOLEAN:
            if isinstance(o, bool):
                return o
            if isinstance(o, str) and o.lower() in ("true", "false"):
                return o.lower() == "true"
            raise _JsonError(f"Expected a boolean value, but got a {_json_kind(o)}: {o}")
        if code in (_C.TIMESTAMP, _C.TIME):
            if isinstance(o, int) and not isinstance(o, bool):
                return _literal_value(Constant(ConstantKind.INTEGER, o, str(o)), code)
            if isinstance(o, str):
                return _from_string(code, o)
            raise _JsonError(f"Expected a long or a datestring representation of a {name} value, but got a "
                             f"{_json_kind(o)}: {o}")
        if code in _INT_BITS or code == _C.VARINT:
            if isinstance(o, str) and re.fullmatch(r"-?\d+", o.strip()):
                o = int(o.strip())
            if not isinstance(o, int) or isinstance(o, bool):
                raise _JsonError(f"Expected an integer value, but got a {_json_kind(o)}: {o}")
            return _literal_value(Constant(ConstantKind.INTEGER, o, str(o)), code)
        if code in (_C.DECIMAL, _C.DOUBLE, _C.FLOAT):
            if isinstance(o, str):
                text = o
            elif is_number:
                text = str(o)
            else:
                raise _JsonError(f"Expected a number, but got a {_json_kind(o)}: {o}")
            try:
                approx = float(text)
            except ValueError:
                raise _JsonError(f"Unable to make {name} from '{text}'") from None
            return _number(code, text, approx)
    except (ValueError, InvalidRequest) as e:
        raise _JsonError(e.message if isinstance(e, InvalidRequest) else str(e)) from None
    raise _JsonError(f"JSON values of type {name} are not supported")

