"""One conditional UpdateItem for a write newer than everything in its item (pure, no I/O).

The read-merge-write of `row_state` needs the item only to reconcile the write with what is
there. A write whose timestamp is strictly newer than the item's newest (`_ts < :ts`) beats every
cell it touches, so the merge result is known without reading: the touched cells are replaced, a
row deletion leaves a bare tombstone, untouched cells stay. Equal timestamps are not covered:
Cassandra breaks those ties by value and lets tombstones win, which needs the old cell.

`_m` is one JSON string an UpdateItem cannot edit in part, so the touched cells' metadata goes into
overlay attributes beside it (`item_codec.OVERLAY`, `MARKER_OVERLAY`), which the decoder folds over
`_m` and the next full put folds back into it. A row deletion rewrites `_m` and removes every value
and overlay attribute the schema can have.

The condition (`attribute_not_exists(pk) OR (_ts < :ts AND attribute_exists(_m))`) also leaves out
compressed (`_z`) and S3 pointer items, whose `_m` is not a top-level attribute, and counter rows,
which have none. When the item's TTL attribute cannot be computed without the old item (a write
whose live cells all expire, or that only deletes cells), the write applies only where there is
no item yet. Anything else is left to the read-merge-write (`single_call` returns None).
"""

from __future__ import annotations

from typing import Any

from . import values
from .item_codec import MARKER_OVERLAY, META, OVERLAY, VERSION, Item, is_collection, key_columns, meta_view
from .mapping import TableMapping
from .row_state import (
    Mutation,
    RowState,
    cell_meta,
    collection_meta,
    dump_json,
    dump_meta,
    item_expiry,
    marker_meta,
    merge,
    visible,
)

# collection operations whose result does not depend on the elements already there
_RESETTING = frozenset({"overwrite", "delete"})
MAX_EXPRESSION = 4096  # DynamoDB's limit on an UpdateExpression, in bytes
EMPTY_META = dump_meta(RowState())


class _Expr:
    """An UpdateExpression with its placeholders."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self._placeholders: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.sets: list[str] = []
        self.removes: list[str] = []

    def name(self, attribute: str) -> str:
        ph = self._placeholders.get(attribute)
        if ph is None:
            ph = self._placeholders[attribute] = f"#a{len(self.names)}"
            self.names[ph] = attribute
        return ph

    def value(self, attr: Any) -> str:
        ph = f":v{len(self.values)}"
        self.values[ph] = attr
        return ph

    def set(self, attribute: str, attr: Any) -> None:
        self.sets.append(f"{self.name(attribute)} = {self.value(attr)}")

    def put(self, attribute: str, attr: Any | None) -> None:
        """SET, or REMOVE when there is no value."""
        if attr is None:
            self.removes.append(self.name(attribute))
        else:
            self.set(attribute, attr)

    def text(self) -> str:
        out = "SET " + ", ".join(self.sets)
        return out + (" REMOVE " + ", ".join(self.removes) if self.removes else "")


def expressible(m: Mutation) -> bool:
    """Whether the write's merge result can be known without the old item (given `_ts < m.ts`)."""
    if m.ts <= 0 or not (m.delete_row or m.row_marker or m.cells or m.collection_ops):
        return False
    # element additions and removals, list appends and index writes need the elements already there;
    # an overwrite with nothing leaves a collection tombstone only where it is newer than the row's
    return all(op.partition(":")[2] in _RESETTING and (op.endswith(":delete") or payload)
               for _, op, payload in m.collection_ops)


def single_call(tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...], m: Mutation,
                key: Item, now: int) -> dict[str, Any] | None:
    """The UpdateItem request applying `m` in one call, or None when only a read can tell the
    result. `key`: the item's key attributes (`item_codec.key_item`)."""
    if not expressible(m):
        return None
    e = _Expr()
    pk = e.name(tm.pk.attribute)
    ts = e.value({"N": str(m.ts)})
    e.sets.append(f"{e.name(tm.timestamp_attribute)} = {ts}")
    e.sets.append(f"{(v := e.name(VERSION))} = if_not_exists({v}, {e.value({'N': '0'})}) + {e.value({'N': '1'})}")
    for attribute, attr in key_columns(tm, partition, clustering).items():
        e.set(attribute, attr)
    new_item_only = False
    if m.delete_row:
        # newer than everything: the row is its tombstone alone, as a full put would leave it
        e.set(META, {"S": dump_meta(RowState(deleted=m.ts))})
        e.set(tm.ttl_attribute, {"N": str(now + tm.tombstone_ttl)})
        e.removes.append(e.name(MARKER_OVERLAY))
        for col in (c for c in tm.schema.columns if c not in tm.schema.primary_key):
            e.removes.append(e.name(tm.attribute_name(col)))
            e.removes.append(e.name(OVERLAY + col))
    else:
        e.sets.append(f"{(mm := e.name(META))} = if_not_exists({mm}, {e.value({'S': EMPTY_META})})")
        new = merge(None, m, now)  # the touched cells exactly as the merge leaves them
        _touched(e, tm, new, m, now)
        exp = item_expiry(new, now, tm.tombstone_ttl)
        if exp is not None:
            # every live cell written expires (or none is written): the item's expiry depends on the
            # cells already there, so this applies only where there are none
            new_item_only = True
        e.put(tm.ttl_attribute, None if exp is None else {"N": str(exp)})
    text = e.text()
    if len(text.encode()) > MAX_EXPRESSION:
        return None
    if new_item_only:
        condition = f"attribute_not_exists({pk})"
    else:
        condition = f"attribute_not_exists({pk}) OR ({e.name(tm.timestamp_attribute)} < {ts} AND " \
                    f"attribute_exists({e.name(META)}))"
    return {"TableName": tm.dynamodb_table, "Key": key, "UpdateExpression": text, "ConditionExpression": condition,
            "ExpressionAttributeNames": e.names, "ExpressionAttributeValues": e.values,
            # a failed condition returns the item: the read-merge-write starts from it, no GetItem
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


def _touched(e: _Expr, tm: TableMapping, new: RowState, m: Mutation, now: int) -> None:
    """The value and overlay attributes of every cell `m` writes."""
    cols = tm.schema.columns
    live = visible(new, now) or {}
    if new.marker is not None:
        e.set(MARKER_OVERLAY, {"S": dump_json(marker_meta(new.marker))})
    for col in m.cells:
        cell = new.cells[col]
        e.put(tm.attribute_name(col), values.to_attribute(cols[col], live[col]) if col in live else None)
        e.set(OVERLAY + col, {"S": dump_json(cell_meta(cell))})
    encoded = meta_view(tm, new)
    for col in dict.fromkeys(col for col, _, _ in m.collection_ops):
        assert is_collection(cols[col])
        e.put(tm.attribute_name(col), values.to_attribute(cols[col], live[col]) if col in live else None)
        e.set(OVERLAY + col, {"S": dump_json(collection_meta(encoded.collections[col]))})
