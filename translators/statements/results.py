"""What `translate` returns: row writes, range deletions and counter writes, the LWT condition of a
statement, and the `Untranslatable` error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cql_protocol.cql.ast import Condition
from cql_protocol.errors import InvalidRequest
from translators.mapping import TableMapping
from translators.row_state import Mutation


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
