"""The last-write-wins write loop, one for the live mirror and the backfill: read the item, merge
the mutations into it (translators.row_state, Cassandra's reconciliation), write it back on
condition that its version did not move; when another writer got there first, merge again on the
newer item. Large items go through S3 staging (large_items) on the way.

The live mirror first tries `write_once`: one conditional UpdateItem for a write newer than
everything in its item (translators.single_call); the loop runs only when that does not apply."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from translators import values
from translators.item_codec import from_item, to_item, versioned_put
from translators.mapping import TableMapping
from translators.row_state import Mutation, RowState, merge, visible
from translators.single_call import single_call

from ..aws.dynamodb_client import ConditionalCheckFailed, DynamoDBClient, DynamoDBError
from . import large_items

log = logging.getLogger(__name__)
Decide = Callable[[dict[str, Any] | None], bool]
UNREAD = object()  # the item has not been read yet
# what became of a write offered to `write_once` (cdp_mirror_single_call_total{outcome})
APPLIED = "applied"
FALLBACK_CONDITION = "fallback_condition"  # not newer than the item, or a compressed or S3 item
FALLBACK_SHAPE = "fallback_shape"  # the result depends on the item (collection elements, TTL, LWT)
FALLBACK_SIZE = "fallback_size"  # the item would outgrow 400 KB: the merge compresses, offloads or refuses
SINGLE_CALL_OUTCOMES = (APPLIED, FALLBACK_CONDITION, FALLBACK_SHAPE, FALLBACK_SIZE)


class WriteConflict(Exception):
    """The item kept changing under us for every attempt."""


@dataclass(slots=True)
class Merged:
    written: bool  # the item was written
    applied: bool  # `decide` let the write through (always, without one)
    row: dict[str, Any] | None  # the row as a read saw it before the write (None: absent)
    created: bool  # there was no item before
    conflicts: int  # rounds lost to another writer (or to a large payload replaced under the read)
    units: int  # write units of the puts sent, the lost ones included


async def merge_into_item(client: DynamoDBClient, large: large_items.LargeItems | None, tm: TableMapping,
                          partition: tuple[Any, ...], clustering: tuple[Any, ...],
                          mutations: Sequence[Mutation], *, key: dict[str, Any], max_attempts: int,
                          raw: Any = UNREAD, now: int | None = None, decide: Decide | None = None,
                          before_put: Callable[[int], Awaitable[None]] | None = None) -> Merged:
    """Merges `mutations` into the item at `key`. `raw`: the item as already read (else it is read
    first); `decide` sees the row as a read would and may refuse the write, judged on the same item
    version it would change; `before_put` is awaited with the put's write units (a rate limit)."""
    staged: large_items.Staged | None = None  # a put whose outcome is not known yet
    conflicts = units = 0
    for attempt in range(1, max_attempts + 1):
        t_now = int(time.time()) if now is None else now
        if raw is UNREAD:
            raw = await _read(client, tm, key)
        if staged is not None:
            await staged.settle(raw)
            staged = None
        try:
            old = from_item(tm, await large_items.load(raw, large))
        except large_items.PayloadGone:
            conflicts += 1  # replaced between our read and the object's; read again
            raw = UNREAD
            continue
        row = visible(old, t_now) if old is not None else None
        if decide is not None and not decide(row):
            return Merged(False, False, row, False, conflicts, units)
        new: RowState | None = old
        for m in mutations:
            new = merge(new, m, t_now)
        if new is None or (old is not None and new == old):
            return Merged(False, True, row, False, conflicts, units)
        staged = await large_items.stage(large, tm, to_item(tm, partition, clustering, new, t_now), raw)
        put_units = max(1, math.ceil(values.item_size(staged.item) / 1024))
        if before_put is not None:
            await before_put(put_units)
        units += put_units
        try:
            await client.put_item(**versioned_put(tm.dynamodb_table, staged.item,
                                                  None if old is None else old.version))
        except ConditionalCheckFailed:
            conflicts += 1
            raw = UNREAD
            await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))
            continue
        await staged.committed()
        return Merged(True, True, row, old is None, conflicts, units)
    if staged is not None:
        await staged.settle(await _read(client, tm, key))
    raise WriteConflict(f"{tm.cql_name}: the item changed under {max_attempts} attempts in a row")


async def write_once(client: DynamoDBClient, tm: TableMapping, partition: tuple[Any, ...],
                     clustering: tuple[Any, ...], mutation: Mutation, *, key: dict[str, Any],
                     now: int) -> tuple[str, Any]:
    """Applies `mutation` in one conditional UpdateItem when it is newer than everything in its
    item. Returns the outcome and, when the condition failed, the item as DynamoDB had it (UNREAD
    otherwise): `merge_into_item` starts from it instead of reading again."""
    request = single_call(tm, partition, clustering, mutation, key, now)
    if request is None:
        return FALLBACK_SHAPE, UNREAD
    try:
        await client.update_item(**request)
    except ConditionalCheckFailed as e:
        item = e.item
        return FALLBACK_CONDITION, UNREAD if item is None else item
    except DynamoDBError as e:
        if e.code != "ValidationException":
            raise
        if "item size" in e.message.lower():
            return FALLBACK_SIZE, UNREAD
        # an expression past one of DynamoDB's limits (a very wide table's row deletion): the
        # merge writes a whole item instead; said once per table, since every such write meets it
        if tm.cql_name not in _REFUSED:
            _REFUSED.add(tm.cql_name)
            log.warning("%s: DynamoDB refused a single-call write (%s); such writes read, merge and put",
                        tm.cql_name, e.message)
        return FALLBACK_SHAPE, UNREAD
    return APPLIED, UNREAD


_REFUSED: set[str] = set()  # tables whose single-call writes DynamoDB refused as invalid


async def _read(client: DynamoDBClient, tm: TableMapping, key: dict[str, Any]) -> Any:
    got = await client.get_item(TableName=tm.dynamodb_table, Key=key, ConsistentRead=True)
    return got.get("Item")
