"""A read plan: the DynamoDB requests answering a SELECT (`Segment`s, in result order), the
restrictions left to check on decoded rows (`Filter`s), and where a page ended (`Cursor`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cql_protocol.cql.ast import Operator
from cql_protocol.messages.result import ColumnSpec
from translators.mapping import IndexSpec, TableMapping
from translators.select_meta import Selected

Attribute = dict[str, Any]
Item = dict[str, Attribute]


@dataclass(frozen=True, slots=True)
class Segment:
    """One DynamoDB read, in result order.

    op ``Get``: `keys` read with GetItem (one) or BatchGetItem (several), rows in `keys` order.
    op ``Query``/``Scan``: `request` is the body without ExclusiveStartKey and Limit; `drop` lists
    sort keys outside the CQL range (see keys.SortKeyCondition); `index` is the GSI queried.
    op ``Token``: `request` queries the token GSI (keys only) for the partitions in ring order; each
    partition's rows are then read from the table (segments.partition_request).
    """

    op: Literal["Get", "Query", "Scan", "Token"]
    request: dict[str, Any] = field(default_factory=dict)
    keys: tuple[Item, ...] = ()
    drop: tuple[Attribute, ...] = ()
    index: IndexSpec | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """A restriction checked on decoded rows. target: ``column`` (the column's value), ``element``
    (value of map `column` at `key`), ``token`` (the partition's token)."""

    target: Literal["column", "element", "token"]
    column: str | None
    op: Operator
    values: tuple[Any, ...]
    key: Any = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the next page starts right after this."""

    segment: int = 0
    start: Any = None  # ExclusiveStartKey (wire form) of a Query/Scan, or the next key index of a Get
    partition: Any = None  # the partition key attribute (wire form) of the partition being read
    partition_rows: int = 0  # rows of that partition returned so far
    emitted: int = 0  # rows returned by all pages so far


@dataclass(frozen=True, slots=True)
class ReadPlan:
    tm: TableMapping
    selection: tuple[Selected, ...]
    columns: tuple[ColumnSpec, ...]
    segments: tuple[Segment, ...]
    filters: tuple[Filter, ...] = ()
    limit: int | None = None
    per_partition_limit: int | None = None
    distinct: bool = False
    aggregate: bool = False
    static_rows: bool = False  # a partition holding only static values gives one row
    uses_static: bool = False  # rows need their partition's static values
    sort_by_clustering: bool = False  # IN on the partition key + ORDER BY: merge partitions in order
    reverse: bool = False
    page_size: int | None = None
    resume: Cursor | None = None
    fingerprint: bytes = b""
    now: int = 0
    protocol_version: int = 4
    static_sort_key: Attribute | None = None
