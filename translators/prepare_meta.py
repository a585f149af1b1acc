"""What Cassandra 5.0 answers to PREPARE, computed from the statement and the mapping.

* `prepared_id`: MD5 of the query string, prefixed with the session keyspace only when the
  statement names a table without its keyspace (QueryProcessor.computeId).
* `bind_metadata`: one ColumnSpec per bind marker, named and typed as Cassandra names its
  receivers (``[limit]``, ``in(c)``, ``key(m)``, ``idx(l)``, ``u.f``, ``t[0]``, ``arg0(system.token)``,
  ...; a named marker takes its own name), and the partition key indexes.
* `result_metadata_id`: MD5 over the result columns' names and marshal class names
  (ResultSet.ResultMetadata.computeResultMetadataId).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cql_protocol.cql import (
    Batch,
    BindMarker,
    Cast,
    ColumnRef,
    ColumnTuple,
    Condition,
    Delete,
    ElementRef,
    FieldRef,
    FunctionCall,
    Insert,
    InValues,
    ListLiteral,
    MapLiteral,
    Operator,
    Relation,
    Select,
    SetElement,
    SetField,
    SetLiteral,
    Statement,
    Subtraction,
    TokenRef,
    TupleLiteral,
    UdtLiteral,
    Update,
    parse_cached,
)
from cql_protocol.errors import CQLError
from cql_protocol.messages import ColumnSpec
from cql_protocol.primitives import Reader, Writer
from cql_protocol.typeparse import MARSHAL_PACKAGE, marshal_class_name
from cql_protocol.types import (
    BIGINT,
    INT,
    TEXT,
    CqlType,
    ListType,
    MapType,
    SetType,
    TupleType,
    UDTType,
    read_option,
    write_option,
)

from .mapping import Mapping, TableMapping


class PrepareMetaError(ValueError):
    """The statement's bind metadata cannot be derived (unknown table or column, unsupported form)."""


def wire_type(t: CqlType) -> CqlType:
    """`t` as a client decodes it from metadata: the wire carries no frozen flag."""
    w = Writer()
    write_option(w, t)
    return read_option(Reader(w.getvalue()))


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


def is_fully_qualified(stmt: Statement) -> bool:
    if isinstance(stmt, Batch):
        return all(s.keyspace is not None for s in stmt.statements)
    return getattr(stmt, "keyspace", None) is not None


def prepared_id(query: str, keyspace: str | None) -> bytes:
    """The id Cassandra 5.0 gives `query` prepared with session (or v5 PREPARE) keyspace `keyspace`.

    Statements that name their keyspace get the same id whatever the session keyspace; others
    hash the keyspace name immediately followed by the query text. Text the parser does not
    handle (DDL, ...) is treated as unqualified.
    """
    if keyspace is not None:
        try:
            if is_fully_qualified(parse_cached(query)):
                keyspace = None
        except CQLError:
            pass
    return _md5(((keyspace or "") + query).encode())


def result_metadata_id(columns: Sequence[ColumnSpec], mapping: Mapping | None = None) -> bytes:
    """v5 result metadata id. Types must carry their frozen flags as the schema has them (the
    marshal name of frozen<list<int>> differs from list<int>), so pass schema types, not ones
    decoded from the wire. Cassandra hashes a DESC clustering column's type as
    ReversedType(...): with `mapping`, columns named after such a column of their table get it.
    No columns (INSERT, UPDATE, ...) gives MD5 of nothing."""
    md = hashlib.md5()
    for c in columns:
        name = marshal_class_name(c.type)
        if mapping is not None and _is_desc(mapping, c):
            name = f"{MARSHAL_PACKAGE}ReversedType({name})"
        md.update(c.name.encode() + b"\0" + name.encode() + b"\0\0")
    return md.digest()


def _is_desc(mapping: Mapping, c: ColumnSpec) -> bool:
    tm = mapping.table(c.keyspace, c.table)
    return tm is not None and (c.name, "desc") in tm.schema.clustering


@dataclass(frozen=True)
class _Receiver:
    name: str
    type: CqlType
    column: str | None = None  # set when the receiver is the column itself (counts for pk indexes)


class _Binder:
    def __init__(self, tm: TableMapping, count: int) -> None:
        self.tm = tm
        self.specs: list[_Receiver | None] = [None] * count
        self.names: dict[int, str] = {}

    def col(self, name: str) -> _Receiver:
        t = self.tm.schema.columns.get(name)
        if t is None:
            raise PrepareMetaError(f"Undefined column name {name} in table {self.tm.cql_name}")
        return _Receiver(name, t, name)

    def mark(self, m: BindMarker, r: _Receiver) -> None:
        if m.name is not None:
            self.names[m.index] = m.name
        self.specs[m.index] = r

    def term(self, term: object, r: _Receiver) -> None:
        """Markers inside `term`, a value received by `r`."""
        t = r.type
        if isinstance(term, BindMarker):
            self.mark(term, r)
        elif isinstance(term, Cast):
            self.term(term.operand, r)
        elif isinstance(term, TupleLiteral) and isinstance(t, TupleType):
            for i, (e, et) in enumerate(zip(term.elements, t.elements, strict=False)):
                self.term(e, _Receiver(f"{r.name}[{i}]", et))
        elif isinstance(term, UdtLiteral) and isinstance(t, UDTType):
            types = dict(t.fields)
            for f, e in term.fields:
                if f not in types:
                    raise PrepareMetaError(f"Unknown field '{f}' in value of user defined type {t.name}")
                self.term(e, _Receiver(f"{r.name}.{f}", types[f]))
        elif isinstance(term, ListLiteral | SetLiteral) and isinstance(t, ListType | SetType):
            for e in term.elements:
                self.term(e, _Receiver(f"value({r.name})", t.element))
        elif isinstance(term, MapLiteral) and isinstance(t, MapType):
            for k, v in term.entries:
                self.term(k, _Receiver(f"key({r.name})", t.key))
                self.term(v, _Receiver(f"value({r.name})", t.value))
        elif isinstance(term, FunctionCall) and term.name == "token" and term.keyspace in (None, "system"):
            pk = self.tm.schema.partition_key
            for i, a in enumerate(term.args):
                at = self.tm.schema.columns[pk[i]] if i < len(pk) else r.type
                self.term(a, _Receiver(f"arg{i}(system.token)", at))
        elif isinstance(term, FunctionCall) and _has_marker(term):
            raise PrepareMetaError(f"bind markers in arguments of {term.name}() are not supported")

    def element(self, column: str, key: object) -> tuple[_Receiver, _Receiver]:
        """Receivers of `c[key]` and of the value it is compared with or set to."""
        c = self.col(column)
        t = c.type
        if isinstance(t, ListType):
            return _Receiver(f"idx({column})", INT), _Receiver(f"value({column})", t.element)
        if isinstance(t, MapType):
            return _Receiver(f"key({column})", t.key), _Receiver(f"value({column})", t.value)
        if isinstance(t, SetType):
            return _Receiver(f"value({column})", t.element), _Receiver(f"value({column})", t.element)
        raise PrepareMetaError(f"Invalid element access on non-collection column {column}")

    def field(self, column: str, name: str) -> _Receiver:
        t = self.col(column).type
        if not isinstance(t, UDTType):
            raise PrepareMetaError(f"Invalid field selection: {column} is not a user type")
        types = dict(t.fields)
        if name not in types:
            raise PrepareMetaError(f"Unknown field {name} of {column}")
        return _Receiver(f"{column}.{name}", types[name])

    def compare(self, lhs: _Receiver, op: Operator, value: object) -> None:
        """`lhs op value` in WHERE or IF: IN takes a list of the receiver's type as one marker."""
        if op is Operator.IN:
            if isinstance(value, InValues):
                for v in value.values:
                    self.term(v, lhs)
            else:
                self.term(value, _Receiver(f"in({lhs.name})", ListType(lhs.type, frozen=True)))
        else:
            self.term(value, lhs)

    def relation(self, rel: object) -> None:
        if not isinstance(rel, Relation):
            raise PrepareMetaError("custom index expressions are not supported")
        lhs = rel.lhs
        if isinstance(lhs, ColumnRef):
            c = self.col(lhs.name)
            t = c.type
            if rel.operator in (Operator.CONTAINS, Operator.CONTAINS_KEY):
                if isinstance(t, MapType):
                    key = rel.operator is Operator.CONTAINS_KEY
                    r = _Receiver(f"{'key' if key else 'value'}({c.name})", t.key if key else t.value)
                elif isinstance(t, ListType | SetType):
                    r = _Receiver(f"value({c.name})", t.element)
                else:
                    raise PrepareMetaError(f"Cannot use CONTAINS on non-collection column {c.name}")
                self.term(rel.value, r)
            else:
                self.compare(c, rel.operator, rel.value)
        elif isinstance(lhs, ElementRef):
            k, v = self.element(lhs.column, lhs.key)
            self.term(lhs.key, k)
            self.compare(v, rel.operator, rel.value)
        elif isinstance(lhs, TokenRef):
            self.compare(_Receiver("partition key token", BIGINT), rel.operator, rel.value)
        elif isinstance(lhs, ColumnTuple):
            cols = [self.col(n) for n in lhs.columns]
            tup = _Receiver("(" + ",".join(lhs.columns) + ")", TupleType(tuple(c.type for c in cols)))
            values = rel.value.values if isinstance(rel.value, InValues) else (rel.value,)
            in_marker = rel.operator is Operator.IN and not isinstance(rel.value, InValues)
            for val in values:
                if isinstance(val, TupleLiteral):
                    for e, col in zip(val.elements, cols, strict=False):
                        self.term(e, col)
                elif in_marker:
                    self.term(val, _Receiver(f"in{tup.name}", ListType(tup.type, frozen=True)))
                else:
                    self.term(val, tup)

    def condition(self, cond: Condition) -> None:
        lhs = cond.lhs
        if isinstance(lhs, ColumnRef):
            self.compare(self.col(lhs.name), cond.operator, cond.value)
        elif isinstance(lhs, ElementRef):
            k, v = self.element(lhs.column, lhs.key)
            self.term(lhs.key, k)
            self.compare(v, cond.operator, cond.value)
        elif isinstance(lhs, FieldRef):
            self.compare(self.field(lhs.column, lhs.field), cond.operator, cond.value)

    def using(self, ttl: object, timestamp: object) -> None:
        if ttl is not None:
            self.term(ttl, _Receiver("[ttl]", INT))
        if timestamp is not None:
            self.term(timestamp, _Receiver("[timestamp]", BIGINT))


def _has_marker(term: object) -> bool:
    if isinstance(term, BindMarker):
        return True
    if isinstance(term, FunctionCall):
        return any(_has_marker(a) for a in term.args)
    return False


def _bind(b: _Binder, stmt: Statement) -> None:
    tm = b.tm
    if isinstance(stmt, Insert):
        if stmt.json is not None:
            b.term(stmt.json, _Receiver("[json]", TEXT))
        for c, v in zip(stmt.columns, stmt.values, strict=False):
            b.term(v, b.col(c))
        b.using(stmt.ttl, stmt.timestamp)
    elif isinstance(stmt, Update):
        b.using(stmt.ttl, stmt.timestamp)
        for a in stmt.assignments:
            if isinstance(a, SetElement):
                key_r, value_r = b.element(a.column, a.key)
                b.term(a.key, key_r)
                b.term(a.value, value_r)
            elif isinstance(a, SetField):
                b.term(a.value, b.field(a.column, a.field))
            elif isinstance(a, Subtraction) and isinstance(tm.schema.columns.get(a.column), MapType):
                # Removing map entries takes the set of keys to remove.
                t = tm.schema.columns[a.column]
                assert isinstance(t, MapType)
                b.term(a.value, _Receiver(a.column, SetType(t.key, frozen=True)))
            else:  # SetValue, Addition, Subtraction, Prepend: the column's own type
                b.term(a.value, b.col(a.column))
        for rel in stmt.where:
            b.relation(rel)
        for cond in stmt.conditions:
            b.condition(cond)
    elif isinstance(stmt, Delete):
        for target in stmt.targets:
            if isinstance(target, ElementRef):
                k, _ = b.element(target.column, target.key)
                b.term(target.key, k)
        b.using(None, stmt.timestamp)
        for rel in stmt.where:
            b.relation(rel)
        for cond in stmt.conditions:
            b.condition(cond)
    elif isinstance(stmt, Select):
        for item in stmt.selectors:
            if _has_marker(item.expr):
                raise PrepareMetaError("bind markers in the selection are not supported")
        for r in stmt.where:
            b.relation(r)
        if stmt.per_partition_limit is not None:
            b.term(stmt.per_partition_limit, _Receiver("[per_partition_limit]", INT))
        if stmt.limit is not None:
            b.term(stmt.limit, _Receiver("[limit]", INT))
    else:
        raise PrepareMetaError(f"no bind metadata for {type(stmt).__name__} statements")


def bind_metadata(stmt: Statement, keyspace: str | None, mapping: Mapping) -> tuple[list[ColumnSpec], list[int]]:
    """Cassandra's bind variable specs for a SELECT, INSERT, UPDATE or DELETE on a mapped table,
    and its partition key indexes (empty unless every partition key column is bound to one marker
    of its own; with several, the last one counts, as in Cassandra)."""
    if isinstance(stmt, Batch):
        raise PrepareMetaError("no bind metadata for BATCH statements")
    ks = getattr(stmt, "keyspace", None) or keyspace
    if ks is None:
        raise PrepareMetaError("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
    tm = mapping.table(ks, stmt.table)  # type: ignore[union-attr]
    if tm is None:
        raise PrepareMetaError(f"table {ks}.{stmt.table} is not in the mapping")  # type: ignore[union-attr]
    b = _Binder(tm, len(stmt.bind_markers))
    _bind(b, stmt)
    specs: list[ColumnSpec] = []
    targets: dict[str, int] = {}
    for i, r in enumerate(b.specs):
        if r is None:
            raise PrepareMetaError(f"cannot tell what bind marker {i} receives")
        if r.column is not None:
            targets[r.column] = i
        specs.append(ColumnSpec(tm.keyspace, tm.table, b.names.get(i, r.name), wire_type(r.type)))
    pk = tm.schema.partition_key
    pk_indexes = [targets[c] for c in pk] if all(c in targets for c in pk) else []
    return specs, pk_indexes
