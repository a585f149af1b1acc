"""The result columns of a SELECT on a mapped table, as Cassandra 5.0 names and types them (pure).

``resolve_selection`` checks the selection clause against the table and says, per result column,
what it computes (`Selected`); ``result_columns`` gives the metadata column specs alone.

Names follow Cassandra 5.0 (checked against a live server):
  column ``"Mixed"``         ``Mixed`` (the name as stored, never quoted)
  ``x AS "Foo"``             ``Foo``
  ``WRITETIME("Mixed")``     ``writetime(Mixed)`` bigint; ``TTL(c)`` ``ttl(c)`` int;
                             ``MAXWRITETIME(c)`` ``maxwritetime(c)`` bigint. On a non-frozen
                             collection WRITETIME/TTL are list<bigint>/list<int>, one per element.
  ``COUNT(*)``, ``COUNT(1)`` ``count`` bigint; ``COUNT(c)`` ``system.count(c)`` bigint
  ``m['a']``, ``u.f``        ``m['a']`` (the key as written), ``u.f``
  ``SELECT JSON ...``        one column ``[json]`` of type text
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cql_protocol.cql.ast import (
    ColumnRef,
    Constant,
    CountRows,
    ElementAccess,
    FieldAccess,
    FunctionCall,
    MetadataKind,
    Select,
    SliceAccess,
    Term,
    WritetimeOrTtl,
)
from cql_protocol.messages.result import ColumnSpec
from cql_protocol.types import CqlType, ListType, MapType, SetType, TypeCode, UDTType, native

from .mapping import TableMapping
from .statements.results import Untranslatable

BIGINT = native(TypeCode.BIGINT)
INT = native(TypeCode.INT)
TEXT = native(TypeCode.VARCHAR)

Kind = Literal["column", "writetime", "maxwritetime", "ttl", "count", "count_column", "element", "slice", "field"]
_AGGREGATES = frozenset({"count", "min", "max", "sum", "avg"})


@dataclass(frozen=True, slots=True)
class Selected:
    """One result column: what it computes (`kind` on `column`) and its metadata."""

    kind: Kind
    column: str | None
    spec: ColumnSpec
    key: Term | None = None  # map key or set element of an element selector; a slice's start
    end: Term | None = None  # a slice's end
    field: str | None = None  # UDT field of a field selector

    @property
    def is_aggregate(self) -> bool:
        return self.kind in ("count", "count_column")


def _invalid(tm: TableMapping, reason: str) -> Untranslatable:
    return Untranslatable(tm.cql_name, reason, "invalid")


def _unsupported(tm: TableMapping, reason: str) -> Untranslatable:
    return Untranslatable(tm.cql_name, reason, "unsupported")


def _column(tm: TableMapping, name: str) -> CqlType:
    t = tm.schema.columns.get(name)
    if t is None:
        raise _invalid(tm, f"Undefined column name {name} in selection clause")
    return t


def _is_multicell(t: CqlType) -> bool:
    return isinstance(t, ListType | SetType | MapType) and not t.frozen


def _resolve_one(tm: TableMapping, expr: object, alias: str | None) -> Selected:
    ks, table = tm.keyspace, tm.table

    def spec(default: str, t: CqlType) -> ColumnSpec:
        return ColumnSpec(ks, table, alias if alias is not None else default, t)

    if isinstance(expr, ColumnRef):
        return Selected("column", expr.name, spec(expr.name, _column(tm, expr.name)))
    if isinstance(expr, CountRows):
        return Selected("count", None, spec("count", BIGINT))
    if isinstance(expr, WritetimeOrTtl):
        target = expr.target
        if not isinstance(target, ColumnRef):
            raise _unsupported(tm, f"{expr.to_cql()}: WRITETIME/TTL of an element or field is not translated")
        name = target.name
        t = _column(tm, name)
        fn = expr.kind.value.lower()
        if name in tm.schema.primary_key:
            raise _invalid(tm, f"Cannot use selection function {fn} on PRIMARY KEY part {name}")
        if isinstance(t, UDTType) and not t.frozen:
            raise _unsupported(tm, f"{expr.to_cql()}: WRITETIME/TTL of a non-frozen user type is not translated")
        if expr.kind is MetadataKind.MAXWRITETIME:
            return Selected("maxwritetime", name, spec(f"maxwritetime({name})", BIGINT))
        scalar = BIGINT if expr.kind is MetadataKind.WRITETIME else INT
        rtype: CqlType = ListType(scalar) if _is_multicell(t) else scalar
        kind: Kind = "writetime" if expr.kind is MetadataKind.WRITETIME else "ttl"
        return Selected(kind, name, spec(f"{fn}({name})", rtype))
    if isinstance(expr, FunctionCall):
        name = expr.name.lower() if expr.keyspace in (None, "system") else expr.name
        if name == "count" and len(expr.args) == 1:
            arg = expr.args[0]
            if isinstance(arg, Constant) and arg.text == "1":
                return Selected("count", None, spec("count", BIGINT))
            if isinstance(arg, ColumnRef):
                _column(tm, arg.name)
                return Selected("count_column", arg.name, spec(f"system.count({arg.name})", BIGINT))
        if name in _AGGREGATES:
            raise _unsupported(tm, f"aggregate {expr.to_cql()} is not translated (only COUNT(*), COUNT(1) and "
                                   f"COUNT(column) are)")
        raise _unsupported(tm, f"function {expr.to_cql()} in the selection is not translated")
    if isinstance(expr, ElementAccess) and isinstance(expr.target, ColumnRef):
        col = expr.target.name
        t = _column(tm, col)
        if not isinstance(t, MapType | SetType):
            raise _unsupported(tm, f"{expr.to_cql()}: element selection is only translated on maps and sets")
        if not isinstance(expr.key, Constant):
            raise _unsupported(tm, f"{expr.to_cql()}: element selection needs a literal key")
        # a set element selects the element itself (or null), typed as the set's elements
        return Selected("element", col, spec(expr.to_cql(), t.value if isinstance(t, MapType) else t.element),
                        key=expr.key)
    if isinstance(expr, SliceAccess) and isinstance(expr.target, ColumnRef):
        col = expr.target.name
        t = _column(tm, col)
        if not isinstance(t, MapType | SetType):
            raise _unsupported(tm, f"{expr.to_cql()}: slice selection is only translated on maps and sets")
        start, end = expr.start, expr.end
        if not (start is None or isinstance(start, Constant)) or not (end is None or isinstance(end, Constant)):
            raise _unsupported(tm, f"{expr.to_cql()}: slice selection needs literal bounds")
        lo = "" if expr.start is None else expr.start.to_cql()
        hi = "" if expr.end is None else expr.end.to_cql()
        return Selected("slice", col, spec(f"{expr.target.to_cql()}[{lo}..{hi}]", t), key=start, end=end)
    if isinstance(expr, FieldAccess) and isinstance(expr.target, ColumnRef):
        col = expr.target.name
        t = _column(tm, col)
        if not isinstance(t, UDTType):
            raise _invalid(tm, f"Invalid field selection: {col} of type {t.cql()} is not a user type")
        for fname, ftype in t.fields:
            if fname == expr.field:
                return Selected("field", col, spec(f"{col}.{fname}", ftype), field=fname)
        raise _invalid(tm, f"{t.name} has no field {expr.field}")
    shown = getattr(expr, "to_cql", lambda: repr(expr))()
    raise _unsupported(tm, f"selector {shown} is not translated")


def resolve_selection(stmt: Select, tm: TableMapping) -> list[Selected]:
    """What each result column computes, in order (``*``: every column in schema order). JSON
    selections give the columns inside the JSON object."""
    if stmt.is_star:
        ks, table = tm.keyspace, tm.table
        return [Selected("column", c, ColumnSpec(ks, table, c, t)) for c, t in tm.schema.columns.items()]
    out = [_resolve_one(tm, item.expr, item.alias) for item in stmt.selectors]
    if stmt.distinct:
        for s in out:
            if s.kind != "column" or (s.column not in tm.schema.partition_key and s.column not in tm.schema.static):
                raise _invalid(tm, "SELECT DISTINCT queries must only request partition key columns and/or static "
                                   "columns (not " + s.spec.name + ")")
        missing = [c for c in tm.schema.partition_key if c not in {s.column for s in out}]
        if missing:
            raise _invalid(tm, "SELECT DISTINCT queries must request all the partition key columns (missing "
                               + ", ".join(missing) + ")")
    return out


def result_columns(stmt: Select, tm: TableMapping) -> list[ColumnSpec]:
    """The column specs of Cassandra 5.0's result metadata for `stmt` on the table `tm` describes."""
    if stmt.json:
        resolve_selection(stmt, tm)  # the same checks as without JSON
        return [ColumnSpec(tm.keyspace, tm.table, "[json]", TEXT)]
    return [s.spec for s in resolve_selection(stmt, tm)]
