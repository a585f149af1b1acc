"""Compares what Cassandra holds with what DynamoDB holds for one mapped table.

The one comparison the tests, the validator and read repair share: Cassandra rows (in the codec's
value conventions, see `driver_values`) against DynamoDB items (as returned by the API), read
through the same merge state the sidecar writes, so tombstones and expired cells count as absent.
Items of `large_items: s3` tables must have their pointers resolved first
(`proxy.writes.large_items.load`); an unresolved pointer item is an error, never a silently empty row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import cql_values, values
from .item_codec import expand, from_item, from_wire, is_collection
from .mapping import TableMapping
from .row_state import visible


@dataclass(frozen=True)
class Difference:
    kind: str  # MISSING (in Cassandra only), EXTRA (in DynamoDB only), MISMATCH
    key: tuple[Any, ...]
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        extra = f": {'; '.join(self.details)}" if self.details else ""
        return f"{self.kind} {self.key!r}{extra}"


def _key(tm: TableMapping, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(_hashable(row.get(c)) for c in tm.schema.primary_key)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((repr(k), _hashable(x)) for k, x in v.items()))
    return v


def item_row(tm: TableMapping, item: dict[str, Any], now: int) -> dict[str, Any] | None:
    """The row an item holds as a reader sees it (None: absent, deleted or expired)."""
    item = expand(from_wire(item))
    state = from_item(tm, item)
    live = visible(state, now) if state is not None else None
    if live is None:
        return None
    row: dict[str, Any] = {}
    cols = tm.schema.columns
    for c in tm.schema.primary_key:
        row[c] = values.from_attribute(cols[c], item.get(tm.attribute_name(c)))
    for c in cols:
        if c not in row:
            row[c] = live.get(c)
    return row


def with_static_rows(tm: TableMapping, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a Cassandra ``SELECT *`` in the layout `compare` takes, which is DynamoDB's: a
    partition's static values in a row of their own (clustering columns None), not repeated on
    each clustering row."""
    schema = tm.schema
    if not schema.static:
        return rows
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    first_ck = schema.clustering_columns[0]
    for r in rows:
        static = {c: r.get(c) for c in schema.static}
        if r.get(first_ck) is not None:
            out.append({**r, **dict.fromkeys(schema.static)})
        pk = tuple(_hashable(r.get(c)) for c in schema.partition_key)
        if pk not in seen and any(v is not None for v in static.values()):
            seen.add(pk)
            srow: dict[str, Any] = dict.fromkeys(schema.columns)
            srow.update({c: r.get(c) for c in schema.partition_key})
            srow.update(static)
            out.append(srow)
    return out


def compare(tm: TableMapping, cassandra_rows: list[dict[str, Any]], items: list[dict[str, Any]],
            now: int | None = None) -> list[Difference]:
    now = int(time.time()) if now is None else now
    cols = tm.schema.columns
    dynamo: dict[tuple[Any, ...], dict[str, Any]] = {}
    for it in items:
        row = item_row(tm, it, now)
        if row is not None:
            dynamo[_key(tm, row)] = row
    out: list[Difference] = []
    seen = set()
    for crow in cassandra_rows:
        k = _key(tm, crow)
        seen.add(k)
        drow = dynamo.get(k)
        if drow is None:
            out.append(Difference("MISSING", k))
            continue
        diffs = []
        for c, t in cols.items():
            a, b = crow.get(c), drow.get(c)
            if is_collection(t) and a in ([], {}):
                a = None
            if not cql_values.values_equal(t, a, b):
                diffs.append(f"{c}: Cassandra {a!r}, DynamoDB {b!r}")
        if diffs:
            out.append(Difference("MISMATCH", k, tuple(diffs)))
    for k in dynamo:
        if k not in seen:
            out.append(Difference("EXTRA", k))
    return out
