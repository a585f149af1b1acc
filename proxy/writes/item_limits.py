"""DynamoDB's 400 KB item limit, checked before Cassandra sees a write (`large_items: reject`
and `compress`): a write one store would take and the other refuse would part them for good."""

from __future__ import annotations

import time

from cql_protocol.errors import InvalidRequest
from translators import values
from translators.item_codec import to_item
from translators.row_state import merge
from translators.statements import RowWrite

_GROWING = frozenset({"overwrite", "add", "put", "append", "prepend", "set_index"})


class ItemTooLarge(InvalidRequest):
    pass


def check_item_size(w: RowWrite) -> None:
    """`large_items: reject`: refuse, before Cassandra sees it, a write whose values alone make
    an item over DynamoDB's 400 KB limit; the two stores would otherwise part ways."""
    tm = w.table
    if tm.large_items == "compress":
        _check_compressed_size(w)
        return
    if tm.large_items == "s3":
        return  # any size fits: the payload goes to S3 (bounded by the frame size limit)
    cols = tm.schema.columns
    size = 0
    for col, v in w.mutation.cells.items():
        attr = values.to_attribute(cols[col], v) if v is not None else None
        if attr is not None:
            size += len(tm.attribute_name(col).encode()) + values.attribute_size(attr)
    for col, op, payload in w.mutation.collection_ops:
        t = cols[col]
        if payload and op.partition(":")[2] in _GROWING:
            attr = values.to_attribute(t, dict(payload) if isinstance(payload, dict) else
                                       (payload if not isinstance(payload, tuple) else [payload[1]]))
            if attr is not None:
                size += len(tm.attribute_name(col).encode()) + values.attribute_size(attr)
    if size > values.MAX_ITEM_SIZE:
        raise ItemTooLarge(
            f"{tm.cql_name}: this write makes a DynamoDB item of at least {size} bytes, over the 400 KB "
            "item limit (the table's large_items policy is reject)"
        )


def _check_compressed_size(w: RowWrite) -> None:
    """`large_items: compress`: the values of this write, compressed, must fit in an item."""
    now = int(time.time())
    item = to_item(w.table, w.key.partition, w.key.clustering, merge(None, w.mutation, now), now)
    size = values.item_size(item)
    if size > values.MAX_ITEM_SIZE:
        raise ItemTooLarge(
            f"{w.table.cql_name}: this write makes a DynamoDB item of {size} bytes even compressed, over "
            "the 400 KB item limit (large_items: compress)"
        )
