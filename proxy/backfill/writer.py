"""Applies backfilled rows to DynamoDB under last-write-wins, in batches.

Per batch of up to 100 rows: one BatchGetItem (strongly consistent) reads the current items, each
row's mutations are merged into its item (translators.row_state.merge, as the live mirror does),
and only items that change are written back, with a PutItem conditional on the version read
(`_v`), or on the item's absence. A condition that fails means a live write came in between: that
row is read again and merged again. A row whose merge changes nothing (the item already holds the
same or newer data, or a newer tombstone) costs no write.

Counter rows carry values, not timestamps (Cassandra keeps none that CQL shows): the item's counters
are set to the values read from Cassandra, on condition that they still hold what was read from
DynamoDB just before. Increments mirrored between the Cassandra read and that write are lost for
the item; validate and `validate --repair` (best with counter traffic paused) show and fix them.

Repair (`validate --repair`) uses the same mutations, with Cassandra preferred where timestamps are
equal (a value corrupted in place keeps its timestamp, and equal timestamps otherwise resolve by
value), and with tombstones, at their own timestamps, for cells and set/map elements DynamoDB has
and Cassandra does not: a newer live write still wins over both.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from translators import values
from translators.item_codec import from_item, key_item, to_item, versioned_put
from translators.mapping import TableMapping
from translators.row_state import Mutation, RowState, _copy, _k, merge

from .. import large_items
from ..dynamodb_client import ConditionalCheckFailed, DynamoDBClient, DynamoDBError, DynamoDBUnavailable
from .ratelimit import TokenBucket
from .rows import RowWork

BATCH_GET_MAX = 100


@dataclass
class WriteStats:
    rows: int = 0  # rows offered
    written: int = 0  # items put (created or changed)
    unchanged: int = 0  # nothing to write: the item already held this or newer data
    conflicts: int = 0  # conditions lost to a concurrent writer (then merged again)
    write_units: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: WriteStats) -> None:
        self.rows += other.rows
        self.written += other.written
        self.unchanged += other.unchanged
        self.conflicts += other.conflicts
        self.write_units += other.write_units
        self.failed += other.failed
        self.errors.extend(other.errors[: max(0, 50 - len(self.errors))])


def key_id(attr_key: dict[str, Any]) -> tuple[Any, ...]:
    """A hashable form of a key, the same for the key we built and the one DynamoDB returns."""
    out = []
    for name in sorted(attr_key):
        a = attr_key[name]
        ((t, v),) = a.items()
        if t == "B":
            v = values.attr_bytes(v) if not isinstance(v, str) else base64.b64decode(v)
        elif t == "N":
            v = Decimal(v).normalize()
        out.append((name, t, v))
    return tuple(out)


class BatchWriter:
    def __init__(self, client: DynamoDBClient, *, large: large_items.LargeItems | None = None,
                 rows_per_second: float = 0, write_units_per_second: float = 0, concurrency: int = 32,
                 max_attempts: int = 25) -> None:
        self.client = client
        self.large = large
        self.row_bucket = TokenBucket(rows_per_second)
        self.wcu_bucket = TokenBucket(write_units_per_second)
        self.sem = asyncio.Semaphore(concurrency)
        self.max_attempts = max_attempts

    async def write(self, tm: TableMapping, works: Sequence[RowWork], stats: WriteStats, *,
                    repair: bool = False, now: int | None = None) -> None:
        unique: dict[tuple[Any, ...], tuple[dict[str, Any], RowWork]] = {}
        for w in works:
            key = key_item(tm, w.partition, w.clustering)
            unique.setdefault(key_id(key), (key, w))
        await self.row_bucket.acquire(len(works))
        stats.rows += len(works)
        entries = list(unique.values())
        for i in range(0, len(entries), BATCH_GET_MAX):
            chunk = entries[i:i + BATCH_GET_MAX]
            found = await self.batch_get(tm, [k for k, _ in chunk])
            await asyncio.gather(*(self._row(tm, key, w, found.get(key_id(key)), stats, repair, now)
                                   for key, w in chunk))

    async def batch_get(self, tm: TableMapping, keys: list[dict[str, Any]]) -> dict[tuple[Any, ...], Any]:
        found: dict[tuple[Any, ...], Any] = {}
        names = [tm.pk.attribute] + ([tm.sk.attribute] if tm.sk is not None else [])
        pending: dict[str, Any] = {tm.dynamodb_table: {"Keys": keys, "ConsistentRead": True}}
        delay = 0.01
        while pending:
            resp = await self.client.batch_get_item(RequestItems=pending)
            for item in resp.get("Responses", {}).get(tm.dynamodb_table, []):
                found[key_id({n: item[n] for n in names})] = item
            pending = resp.get("UnprocessedKeys") or {}
            if pending:  # throttled: back off before asking for the rest
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)
        return found

    async def _row(self, tm: TableMapping, key: dict[str, Any], w: RowWork, raw: Any, stats: WriteStats,
                   repair: bool, now: int | None) -> None:
        try:
            async with self.sem:
                if w.counters is not None:
                    await self._counter_row(tm, key, w, raw, stats)
                else:
                    await self._merge_row(tm, key, w, raw, stats, repair, now)
        except (DynamoDBError, DynamoDBUnavailable, large_items.LargeItemError, ValueError) as e:
            stats.failed += 1
            if len(stats.errors) < 50:
                stats.errors.append(f"{tm.cql_name} {w.partition + w.clustering!r}: {e}")

    async def _get(self, tm: TableMapping, key: dict[str, Any]) -> Any:
        got = await self.client.get_item(TableName=tm.dynamodb_table, Key=key, ConsistentRead=True)
        return got.get("Item")

    async def _merge_row(self, tm: TableMapping, key: dict[str, Any], w: RowWork, raw: Any, stats: WriteStats,
                         repair: bool, now: int | None) -> None:
        staged: large_items.Staged | None = None
        mutations = w.mutations
        for attempt in range(1, self.max_attempts + 1):
            t_now = int(time.time()) if now is None else now
            if staged is not None:
                await staged.settle(raw)
                staged = None
            try:
                old = from_item(tm, await large_items.load(raw, self.large))
            except large_items.PayloadGone:
                raw = await self._get(tm, key)
                continue
            base = prefer_source(old, w.mutations) if repair and old is not None else old
            new = base
            for m in mutations:
                new = merge(new, m, t_now)
            if new is None or (old is not None and new == old):
                stats.unchanged += 1
                return
            item = to_item(tm, w.partition, w.clustering, new, t_now)
            staged = await large_items.stage(self.large, tm, item, raw)
            units = max(1, math.ceil(values.item_size(staged.item) / 1024))
            await self.wcu_bucket.acquire(units)
            request = versioned_put(tm.dynamodb_table, staged.item, None if old is None else old.version)
            try:
                await self.client.put_item(**request)
            except ConditionalCheckFailed:
                stats.conflicts += 1
                stats.write_units += units
                raw = await self._get(tm, key)
                await asyncio.sleep(0.002 * attempt)
                continue
            stats.write_units += units
            await staged.committed()
            stats.written += 1
            return
        if staged is not None:
            await staged.settle(await self._get(tm, key))
        raise DynamoDBError("WriteConflict", f"the item changed under {self.max_attempts} attempts in a row", 0)

    async def _counter_row(self, tm: TableMapping, key: dict[str, Any], w: RowWork, raw: Any,
                           stats: WriteStats) -> None:
        assert w.counters is not None
        schema = tm.schema
        cols = schema.columns
        for _ in range(self.max_attempts):
            current = {c: int(Decimal(raw[tm.attribute_name(c)]["N"])) for c in w.counters
                       if raw and tm.attribute_name(c) in raw}
            if raw and current == w.counters:
                stats.unchanged += 1
                return
            names: dict[str, str] = {}
            vals: dict[str, Any] = {}
            sets, conds = [], []
            for i, (c, v) in enumerate(zip(schema.primary_key, w.partition + w.clustering, strict=False)):
                attr = values.to_attribute(cols[c], v)
                if attr is not None and tm.attribute_name(c) not in key:
                    names[f"#k{i}"] = tm.attribute_name(c)
                    vals[f":k{i}"] = attr
                    sets.append(f"#k{i} = :k{i}")
            for i, (c, v) in enumerate(w.counters.items()):
                names[f"#c{i}"] = tm.attribute_name(c)
                vals[f":c{i}"] = {"N": str(v)}
                sets.append(f"#c{i} = :c{i}")
                if raw is not None:
                    if c in current:
                        vals[f":o{i}"] = {"N": str(current[c])}
                        conds.append(f"#c{i} = :o{i}")
                    else:
                        conds.append(f"attribute_not_exists(#c{i})")
            if raw is None:
                names["#pk"] = tm.pk.attribute
                conds.append("attribute_not_exists(#pk)")
            await self.wcu_bucket.acquire(1)
            try:
                await self.client.update_item(TableName=tm.dynamodb_table, Key=key,
                                              UpdateExpression="SET " + ", ".join(sets),
                                              ConditionExpression=" AND ".join(conds),
                                              ExpressionAttributeNames=names, ExpressionAttributeValues=vals)
            except ConditionalCheckFailed:
                stats.conflicts += 1
                raw = await self._get(tm, key)
                continue
            finally:
                stats.write_units += 1
            stats.written += 1
            return
        raise DynamoDBError("WriteConflict", f"the counter item changed under {self.max_attempts} attempts", 0)


def prefer_source(old: RowState, mutations: Sequence[Mutation]) -> RowState:
    """For repair: forgets what the item holds at exactly the timestamps Cassandra's cells have, so
    Cassandra's values replace them (a value changed in place kept its timestamp)."""
    s = _copy(old)
    for m in mutations:
        if m.row_marker and s.marker is not None and s.marker.ts == m.ts:
            s.marker = None
        for col in m.cells:
            c = s.cells.get(col)
            if c is not None and c.ts == m.ts:
                del s.cells[col]
        for col, _op, _payload in m.collection_ops:
            coll = s.collections.get(col)
            if coll is not None:
                for k in [k for k, e in coll.elems.items() if e.ts == m.ts]:
                    del coll.elems[k]
    return s


def tombstones_for_extras(old: RowState, mutations: Sequence[Mutation], now: int) -> list[Mutation]:
    """For repair: a tombstone at its own timestamp for every live cell and set/map element the item
    has and Cassandra's row does not."""
    cells: set[str] = set()
    elems: dict[str, set[Any]] = {}
    for m in mutations:
        cells.update(m.cells)
        for col, op, payload in m.collection_ops:
            kind = op.partition(":")[0]
            keys = elems.setdefault(col, set())
            if kind == "set":
                keys.update(_k(e) for e in payload)
            elif kind == "map":
                keys.update(_k(k) for k, _ in payload)
    out: list[Mutation] = []
    for col, c in old.cells.items():
        if col not in cells and c.live(old.deleted, now):
            out.append(Mutation(c.ts, cells={col: None}))
    for col, coll in old.collections.items():
        if coll.kind == "list":
            continue
        floor = max(old.deleted, coll.tomb)
        have = elems.get(col, set())
        for k, e in coll.elems.items():
            if k in have or not e.live(floor, now):
                continue
            if coll.kind == "set":
                out.append(Mutation(e.ts, collection_ops=[(col, "set:remove", [e.value])]))
            else:
                out.append(Mutation(e.ts, collection_ops=[(col, "map:remove_keys", [e.value[0]])]))
    return out

