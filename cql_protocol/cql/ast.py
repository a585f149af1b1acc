"""Immutable syntax tree of the CQL subset the translator handles.

Nodes are frozen, slotted dataclasses holding tuples, so parsed statements can be shared from a
cache and hashed. Every node renders back to CQL with ``to_cql()``; re-parsing the rendering gives
an equal tree (bind markers keep their order, hence their indexes).

Values (terms and selector expressions):
    Constant(kind, value, text)   literal; `value` is the Python value (str, int, float, bool, None,
                                  bytes, uuid.UUID, types.Duration), `text` a CQL spelling of it that
                                  keeps decimal precision (``1.50``)
    BindMarker(index, name)       ``?`` (name None) or ``:name``; every marker has its bind index
    ListLiteral, SetLiteral, MapLiteral, TupleLiteral
    EmptySetOrMap                 ``{}``: a set or a map, decided by the receiving column's type
    UdtLiteral(fields)            ``{f: v, ...}`` with identifier keys (in a selector the keys might
                                  also be columns of a map: decided by type, as in Cassandra)
    FunctionCall(name, args, keyspace)
    Cast(type, operand)           type hint ``(int) ?``
    CastAs(operand, type)         ``CAST(x AS int)``
    Negated(operand), BinaryOp(op, left, right)   arithmetic (``-x``, ``a + b``)
Selector-only expressions (SELECT clause, GROUP BY):
    ColumnRef(name), FieldAccess(target, field), ElementAccess(target, key),
    SliceAccess(target, start, end), CountRows (``COUNT(*)``), WritetimeOrTtl(kind, target)
Left-hand sides of relations, conditions and DELETE targets:
    ColumnRef, ElementRef(column, key) ``m[k]``, FieldRef(column, field) ``u.f``,
    TokenRef(columns) ``token(a, b)``, ColumnTuple(columns) ``(a, b)``
Clauses:
    Relation(lhs, operator, value) in WHERE; Condition(lhs, operator, value) in IF;
    `value` is InValues(values) for ``IN (...)``, a BindMarker for ``IN ?``, else a term.
    CustomIndexExpression(keyspace, index, value) ``expr(idx, 'q')``
    Assignments: SetValue, SetElement, SetField, Addition, Subtraction, Prepend (the meaning of
    Addition/Subtraction - counter, list, set or map - depends on the column type).
    SelectItem(expr, alias), Ordering(column, descending, ann)
Statements: Insert, Update, Delete, Batch, Select, Use; each carries `bind_markers`, the markers of
the statement in bind order (for a Batch, those of all its statements).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Union

from ..types import (
    CqlType,
    CustomType,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    UDTType,
    VectorType,
)
from .lexer import ALL_KEYWORDS, RESERVED, UNRESERVED_NON_FUNCTION

_PLAIN_IDENT = re.compile(r"[a-z][a-z0-9_]*\Z")


def quote_ident(name: str) -> str:
    """`name` as a CQL identifier: bare when that reads back the same, else double-quoted."""
    if _PLAIN_IDENT.match(name) and name not in ALL_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _function_name(name: str) -> str:
    # Function names may also be TOKEN, COUNT and the unreserved keywords except a few.
    plain = _PLAIN_IDENT.match(name) and (
        name in ("token", "count")
        or (name not in RESERVED and name not in UNRESERVED_NON_FUNCTION and name not in ("true", "false"))
    )
    return name if plain else '"' + name.replace('"', '""') + '"'


def _qualified(keyspace: str | None, name: str) -> str:
    return quote_ident(name) if keyspace is None else f"{quote_ident(keyspace)}.{quote_ident(name)}"


def type_cql(t: CqlType) -> str:
    """A CQL spelling of `t` that keeps user type keyspaces and quoting."""
    if isinstance(t, NativeType):
        return t.cql()
    if isinstance(t, CustomType):
        return quote_string(t.class_name)
    if isinstance(t, ListType):
        s = f"list<{type_cql(t.element)}>"
    elif isinstance(t, SetType):
        s = f"set<{type_cql(t.element)}>"
    elif isinstance(t, MapType):
        s = f"map<{type_cql(t.key)}, {type_cql(t.value)}>"
    elif isinstance(t, TupleType):
        return "tuple<" + ", ".join(type_cql(e) for e in t.elements) + ">"
    elif isinstance(t, VectorType):
        return f"vector<{type_cql(t.element)}, {t.dimension}>"
    elif isinstance(t, UDTType):
        s = _qualified(t.keyspace or None, t.name)
    else:
        return t.cql()
    return f"frozen<{s}>" if getattr(t, "frozen", False) else s


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


class ConstantKind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    NULL = "null"
    HEX = "hex"
    UUID = "uuid"
    DURATION = "duration"


@dataclass(frozen=True, slots=True)
class Constant:
    kind: ConstantKind
    value: object
    text: str

    def to_cql(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class BindMarker:
    index: int
    name: str | None = None

    def to_cql(self) -> str:
        return "?" if self.name is None else ":" + quote_ident(self.name)


@dataclass(frozen=True, slots=True)
class ListLiteral:
    elements: tuple[Expr, ...]

    def to_cql(self) -> str:
        return "[" + ", ".join(e.to_cql() for e in self.elements) + "]"


@dataclass(frozen=True, slots=True)
class SetLiteral:
    elements: tuple[Expr, ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(e.to_cql() for e in self.elements) + "}"


@dataclass(frozen=True, slots=True)
class MapLiteral:
    entries: tuple[tuple[Expr, Expr], ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(_map_entry(k, v) for k, v in self.entries) + "}"


def _map_entry(key: Expr, value: Expr) -> str:
    if isinstance(key, ColumnRef):
        # A selector's column as a key keeps its parentheses (`{a: 1}` reads as a UDT literal), and
        # so does the value (`{(a): b}` reads as a cast of the marker :b); in selectors, parentheses
        # around one expression only group it.
        return f"({key.to_cql()}): ({value.to_cql()})"
    return f"{key.to_cql()}: {value.to_cql()}"


@dataclass(frozen=True, slots=True)
class EmptySetOrMap:
    def to_cql(self) -> str:
        return "{}"


@dataclass(frozen=True, slots=True)
class TupleLiteral:
    elements: tuple[Expr, ...]

    def to_cql(self) -> str:
        return "(" + ", ".join(e.to_cql() for e in self.elements) + ")"


@dataclass(frozen=True, slots=True)
class UdtLiteral:
    fields: tuple[tuple[str, Expr], ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(f"{quote_ident(k)}: {v.to_cql()}" for k, v in self.fields) + "}"


@dataclass(frozen=True, slots=True)
class FunctionCall:
    name: str
    args: tuple[Expr, ...]
    keyspace: str | None = None

    def to_cql(self) -> str:
        prefix = "" if self.keyspace is None else quote_ident(self.keyspace) + "."
        return prefix + _function_name(self.name) + "(" + ", ".join(a.to_cql() for a in self.args) + ")"


@dataclass(frozen=True, slots=True)
class Cast:
    """A type hint, ``(type) operand``."""

    type: CqlType
    operand: Expr

    def to_cql(self) -> str:
        return f"({type_cql(self.type)}) {_wrap(self.operand, _NEEDS_PARENS_AS_OPERAND)}"


@dataclass(frozen=True, slots=True)
class CastAs:
    """A conversion, ``CAST(operand AS type)``."""

    operand: Expr
    type: CqlType

    def to_cql(self) -> str:
        return f"CAST({self.operand.to_cql()} AS {type_cql(self.type)})"


@dataclass(frozen=True, slots=True)
class Negated:
    operand: Expr

    def to_cql(self) -> str:
        # The blank keeps "- 1" from lexing as the constant -1 and "- -1" from being a comment.
        return "- " + _wrap(self.operand, (BinaryOp,))


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2}


@dataclass(frozen=True, slots=True)
class BinaryOp:
    op: str
    left: Expr
    right: Expr

    def to_cql(self) -> str:
        p = _PRECEDENCE[self.op]
        left = self.left.to_cql()
        if isinstance(self.left, BinaryOp) and _PRECEDENCE[self.left.op] < p:
            left = f"({left})"
        right = self.right.to_cql()
        if isinstance(self.right, BinaryOp) and _PRECEDENCE[self.right.op] <= p:
            right = f"({right})"
        return f"{left} {self.op} {right}"


# ---------------------------------------------------------------------------------------------
# Selector expressions and column references
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnRef:
    name: str

    def to_cql(self) -> str:
        return quote_ident(self.name)


@dataclass(frozen=True, slots=True)
class FieldAccess:
    target: Expr
    field: str

    def to_cql(self) -> str:
        target = _wrap(self.target, _NEEDS_PARENS_AS_TARGET)
        if _ends_with_number(self.target):
            target = f"({target})"  # `1.f` and `(int) 2..f` lex as a float (`1.`, `2.`) and what follows
        return f"{target}.{quote_ident(self.field)}"


def _ends_with_number(e: Expr) -> bool:
    """Whether `e` renders ending in a numeric literal (a cast's operand comes last, unwrapped)."""
    while isinstance(e, Cast):
        e = e.operand
    return isinstance(e, Constant) and e.kind in (ConstantKind.INTEGER, ConstantKind.FLOAT)


@dataclass(frozen=True, slots=True)
class ElementAccess:
    target: Expr
    key: Expr

    def to_cql(self) -> str:
        return f"{_wrap(self.target, _NEEDS_PARENS_AS_TARGET)}[{self.key.to_cql()}]"


@dataclass(frozen=True, slots=True)
class SliceAccess:
    target: Expr
    start: Expr | None
    end: Expr | None

    def to_cql(self) -> str:
        lo = "" if self.start is None else self.start.to_cql() + " "
        hi = "" if self.end is None else " " + self.end.to_cql()
        return f"{_wrap(self.target, _NEEDS_PARENS_AS_TARGET)}[{lo}..{hi}]"


@dataclass(frozen=True, slots=True)
class CountRows:
    """``COUNT(*)``."""

    def to_cql(self) -> str:
        return "COUNT(*)"


class MetadataKind(StrEnum):
    WRITETIME = "WRITETIME"
    MAXWRITETIME = "MAXWRITETIME"
    TTL = "TTL"


@dataclass(frozen=True, slots=True)
class WritetimeOrTtl:
    """``WRITETIME(c)``, ``MAXWRITETIME(c)``, ``TTL(c)``; the target may select an element or field."""

    kind: MetadataKind
    target: Expr

    def to_cql(self) -> str:
        return f"{self.kind.value}({self.target.to_cql()})"


_NEEDS_PARENS_AS_TARGET: tuple[type, ...] = (BinaryOp, Negated)
_NEEDS_PARENS_AS_OPERAND: tuple[type, ...] = (BinaryOp, Negated, FieldAccess, ElementAccess, SliceAccess)


def _wrap(e: Expr, kinds: tuple[type, ...]) -> str:
    s = e.to_cql()
    return f"({s})" if isinstance(e, kinds) else s


Term = Union[  # noqa: UP007 - a runtime alias of classes defined above
    Constant,
    BindMarker,
    ListLiteral,
    SetLiteral,
    MapLiteral,
    EmptySetOrMap,
    TupleLiteral,
    UdtLiteral,
    FunctionCall,
    Cast,
    CastAs,
    Negated,
    BinaryOp,
]
Expr = Union[  # noqa: UP007
    Term,
    ColumnRef,
    FieldAccess,
    ElementAccess,
    SliceAccess,
    CountRows,
    WritetimeOrTtl,
]


# ---------------------------------------------------------------------------------------------
# Relations and conditions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ElementRef:
    column: str
    key: Term

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)}[{self.key.to_cql()}]"


@dataclass(frozen=True, slots=True)
class FieldRef:
    column: str
    field: str

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)}.{quote_ident(self.field)}"


@dataclass(frozen=True, slots=True)
class TokenRef:
    columns: tuple[str, ...]

    def to_cql(self) -> str:
        return "token(" + ", ".join(quote_ident(c) for c in self.columns) + ")"


@dataclass(frozen=True, slots=True)
class ColumnTuple:
    columns: tuple[str, ...]

    def to_cql(self) -> str:
        return "(" + ", ".join(quote_ident(c) for c in self.columns) + ")"


class Operator(StrEnum):
    EQ = "="
    NEQ = "!="
    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="
    IN = "IN"
    CONTAINS = "CONTAINS"
    CONTAINS_KEY = "CONTAINS KEY"
    LIKE = "LIKE"
    IS_NOT = "IS NOT"


@dataclass(frozen=True, slots=True)
class InValues:
    """The parenthesised list of ``IN (a, b)``; ``IN ?`` has a BindMarker instead."""

    values: tuple[Term, ...]

    def to_cql(self) -> str:
        return "(" + ", ".join(v.to_cql() for v in self.values) + ")"


RelationLhs = Union[ColumnRef, ElementRef, TokenRef, ColumnTuple]  # noqa: UP007
ConditionLhs = Union[ColumnRef, ElementRef, FieldRef]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Relation:
    lhs: RelationLhs
    operator: Operator
    value: Term | InValues

    def to_cql(self) -> str:
        return f"{self.lhs.to_cql()} {self.operator.value} {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class CustomIndexExpression:
    keyspace: str | None
    index: str
    value: Term

    def to_cql(self) -> str:
        return f"expr({_qualified(self.keyspace, self.index)}, {self.value.to_cql()})"


WhereItem = Union[Relation, CustomIndexExpression]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Condition:
    lhs: ConditionLhs
    operator: Operator
    value: Term | InValues

    def to_cql(self) -> str:
        return f"{self.lhs.to_cql()} {self.operator.value} {self.value.to_cql()}"


# ---------------------------------------------------------------------------------------------
# Assignments (UPDATE ... SET)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetValue:
    """``c = v``."""

    column: str
    value: Term

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)} = {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class SetElement:
    """``c[k] = v``: list index or map key."""

    column: str
    key: Term
    value: Term

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)}[{self.key.to_cql()}] = {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class SetField:
    """``u.f = v``."""

    column: str
    field: str
    value: Term

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)}.{quote_ident(self.field)} = {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class Addition:
    """``c = c + v`` or ``c += v``: counter increment, list append, set add or map put."""

    column: str
    value: Term

    def to_cql(self) -> str:
        c = quote_ident(self.column)
        return f"{c} = {c} + {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class Subtraction:
    """``c = c - v`` or ``c -= v``: counter decrement, list/set element removal, map key removal."""

    column: str
    value: Term

    def to_cql(self) -> str:
        c = quote_ident(self.column)
        return f"{c} = {c} - {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class Prepend:
    """``l = v + l``."""

    column: str
    value: Term

    def to_cql(self) -> str:
        c = quote_ident(self.column)
        return f"{c} = {self.value.to_cql()} + {c}"


Assignment = Union[SetValue, SetElement, SetField, Addition, Subtraction, Prepend]  # noqa: UP007
DeleteTarget = Union[ColumnRef, ElementRef, FieldRef]  # noqa: UP007


# ---------------------------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------------------------


def _using(ttl: Term | None, timestamp: Term | None) -> str:
    # Rendered in bind order so that marker indexes survive.
    parts = []
    if ttl is not None:
        parts.append((_marker_index(ttl), "TTL " + ttl.to_cql()))
    if timestamp is not None:
        parts.append((_marker_index(timestamp), "TIMESTAMP " + timestamp.to_cql()))
    if not parts:
        return ""
    parts.sort(key=lambda p: p[0])
    return " USING " + " AND ".join(p[1] for p in parts)


def _marker_index(t: Term) -> int:
    return t.index if isinstance(t, BindMarker) else -1


def _if_clause(if_exists: bool, conditions: tuple[Condition, ...]) -> str:
    if if_exists:
        return " IF EXISTS"
    if conditions:
        return " IF " + " AND ".join(c.to_cql() for c in conditions)
    return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Insert:
    keyspace: str | None
    table: str
    columns: tuple[str, ...] = ()
    values: tuple[Term, ...] = ()
    json: Term | None = None
    json_default_unset: bool = False
    if_not_exists: bool = False
    ttl: Term | None = None
    timestamp: Term | None = None
    bind_markers: tuple[BindMarker, ...] = ()

    def to_cql(self) -> str:
        head = f"INSERT INTO {_qualified(self.keyspace, self.table)}"
        if self.json is not None:
            body = f" JSON {self.json.to_cql()}" + (" DEFAULT UNSET" if self.json_default_unset else "")
        else:
            cols = ", ".join(quote_ident(c) for c in self.columns)
            vals = ", ".join(v.to_cql() for v in self.values)
            body = f" ({cols}) VALUES ({vals})"
        tail = " IF NOT EXISTS" if self.if_not_exists else ""
        return head + body + tail + _using(self.ttl, self.timestamp)


@dataclass(frozen=True, slots=True, kw_only=True)
class Update:
    keyspace: str | None
    table: str
    assignments: tuple[Assignment, ...]
    where: tuple[WhereItem, ...]
    if_exists: bool = False
    conditions: tuple[Condition, ...] = ()
    ttl: Term | None = None
    timestamp: Term | None = None
    bind_markers: tuple[BindMarker, ...] = ()

    def to_cql(self) -> str:
        return (
            f"UPDATE {_qualified(self.keyspace, self.table)}"
            + _using(self.ttl, self.timestamp)
            + " SET "
            + ", ".join(a.to_cql() for a in self.assignments)
            + " WHERE "
            + " AND ".join(r.to_cql() for r in self.where)
            + _if_clause(self.if_exists, self.conditions)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Delete:
    keyspace: str | None
    table: str
    targets: tuple[DeleteTarget, ...] = ()
    where: tuple[WhereItem, ...]
    if_exists: bool = False
    conditions: tuple[Condition, ...] = ()
    timestamp: Term | None = None
    bind_markers: tuple[BindMarker, ...] = ()

    def to_cql(self) -> str:
        targets = " " + ", ".join(t.to_cql() for t in self.targets) if self.targets else ""
        using = "" if self.timestamp is None else " USING TIMESTAMP " + self.timestamp.to_cql()
        return (
            f"DELETE{targets} FROM {_qualified(self.keyspace, self.table)}"
            + using
            + " WHERE "
            + " AND ".join(r.to_cql() for r in self.where)
            + _if_clause(self.if_exists, self.conditions)
        )


class BatchKind(StrEnum):
    LOGGED = "LOGGED"
    UNLOGGED = "UNLOGGED"
    COUNTER = "COUNTER"


ModificationStatement = Union[Insert, Update, Delete]  # noqa: UP007


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    kind: BatchKind = BatchKind.LOGGED
    statements: tuple[ModificationStatement, ...]
    timestamp: Term | None = None
    bind_markers: tuple[BindMarker, ...] = ()

    def to_cql(self) -> str:
        kind = "" if self.kind is BatchKind.LOGGED else self.kind.value + " "
        using = "" if self.timestamp is None else " USING TIMESTAMP " + self.timestamp.to_cql()
        body = "".join(" " + s.to_cql() + ";" for s in self.statements)
        return f"BEGIN {kind}BATCH{using}{body} APPLY BATCH"


@dataclass(frozen=True, slots=True)
class SelectItem:
    expr: Expr
    alias: str | None = None

    def to_cql(self) -> str:
        s = self.expr.to_cql()
        return s if self.alias is None else f"{s} AS {quote_ident(self.alias)}"


@dataclass(frozen=True, slots=True)
class Ordering:
    column: str
    descending: bool = False
    ann: Term | None = None  # ORDER BY v ANN OF [..]

    def to_cql(self) -> str:
        s = quote_ident(self.column)
        if self.ann is not None:
            s += " ANN OF " + self.ann.to_cql()
        return s + (" DESC" if self.descending else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Select:
    keyspace: str | None
    table: str
    selectors: tuple[SelectItem, ...] = ()  # empty: SELECT *
    distinct: bool = False
    json: bool = False
    where: tuple[WhereItem, ...] = ()
    group_by: tuple[Expr, ...] = ()
    order_by: tuple[Ordering, ...] = ()
    per_partition_limit: Term | None = None
    limit: Term | None = None
    allow_filtering: bool = False
    bind_markers: tuple[BindMarker, ...] = ()

    @property
    def is_star(self) -> bool:
        return not self.selectors

    def to_cql(self) -> str:
        parts = ["SELECT"]
        if self.json:
            parts.append("JSON")
        if self.distinct:
            parts.append("DISTINCT")
        parts.append(", ".join(s.to_cql() for s in self.selectors) if self.selectors else "*")
        parts.append("FROM " + _qualified(self.keyspace, self.table))
        if self.where:
            parts.append("WHERE " + " AND ".join(r.to_cql() for r in self.where))
        if self.group_by:
            parts.append("GROUP BY " + ", ".join(g.to_cql() for g in self.group_by))
        if self.order_by:
            parts.append("ORDER BY " + ", ".join(o.to_cql() for o in self.order_by))
        if self.per_partition_limit is not None:
            parts.append("PER PARTITION LIMIT " + self.per_partition_limit.to_cql())
        if self.limit is not None:
            parts.append("LIMIT " + self.limit.to_cql())
        if self.allow_filtering:
            parts.append("ALLOW FILTERING")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Use:
    keyspace: str
    bind_markers: tuple[BindMarker, ...] = field(default=(), repr=False)

    def to_cql(self) -> str:
        return "USE " + quote_ident(self.keyspace)


Statement = Union[Insert, Update, Delete, Batch, Select, Use]  # noqa: UP007
