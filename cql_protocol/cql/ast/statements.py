"""Statements: INSERT, UPDATE, DELETE, BATCH, SELECT, USE."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Union

from .clauses import Assignment, Condition, DeleteTarget, WhereItem
from .expressions import BindMarker, Expr, Term
from .render import _qualified, quote_ident


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
