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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from translators import values
from translators.convergence import metadata_differences, repair_target, same_state, same_value, source_state
from translators.item_codec import from_item, key_item, to_item, versioned_put
from translators.mapping import TableMapping
from translators.row_state import RowState, merge, visible

from ..aws.dynamodb_client import ConditionalCheckFailed, DynamoDBClient, DynamoDBError, DynamoDBUnavailable
from ..writes import large_items
from ..writes.lww import WriteConflict, merge_into_item
from .ratelimit import TokenBucket
from .rows import RowWork

BATCH_GET_MAX = 100

# Cassandra's current version of one row, read when called: its works (empty: no such row)
SourceRead = Callable[[RowWork], Awaitable[list[RowWork]]]


class PermanentRowError(Exception):
    """A row that cannot be written however often it is tried (reported, never retried)."""


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
                    now: int | None = None, source: SourceRead | None = None) -> list[RowWork]:
        """Merges `works` (read from Cassandra before this call) into their items.

        With `source`, rows whose item holds something the Cassandra read did not show, and counter
        rows, are settled by `converge` (item first, then Cassandra again, then a conditional
        write). Returns the works whose items this call created: only those can be brought back by
        a range or partition delete that Cassandra took after the read (see `backfill_range`)."""
        unique: dict[tuple[Any, ...], tuple[dict[str, Any], RowWork]] = {}
        for w in works:
            key = key_item(tm, w.partition, w.clustering)
            unique.setdefault(key_id(key), (key, w))
        await self.row_bucket.acquire(len(works))
        stats.rows += len(works)
        entries = list(unique.values())
        created: list[RowWork] = []
        for i in range(0, len(entries), BATCH_GET_MAX):
            chunk = entries[i:i + BATCH_GET_MAX]
            found = await self.batch_get(tm, [k for k, _ in chunk])
            results = await asyncio.gather(*(self._row(tm, key, w, found.get(key_id(key)), stats, now, source)
                                             for key, w in chunk))
            created.extend(w for (_, w), made in zip(chunk, results, strict=True) if made)
        return created

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
                   now: int | None, source: SourceRead | None) -> bool:
        try:
            async with self.sem:
                if source is not None and (w.counters is not None or await self._suspect(tm, w, raw, now)):
                    await self.converge(tm, w, source, stats, first=None)
                    return False
                if w.counters is not None:
                    await self._counter_row(tm, key, w, raw, stats)
                    return False
                return await self._merge_row(tm, key, w, raw, stats, now)
        except (DynamoDBError, DynamoDBUnavailable, large_items.LargeItemError, ValueError,
                PermanentRowError) as e:
            stats.failed += 1
            if len(stats.errors) < 50:
                stats.errors.append(f"{tm.cql_name} {w.partition + w.clustering!r}: {e}")
            return False

    async def _suspect(self, tm: TableMapping, w: RowWork, raw: Any, now: int | None) -> bool:
        """Whether the item holds something the (earlier) Cassandra read does not account for: then
        merging is not enough, the row must be read again after the item (see `converge`)."""
        if raw is None:
            return False
        try:
            old = from_item(tm, await large_items.load(raw, self.large))
        except large_items.PayloadGone:
            return True
        if old is None:
            return False
        t_now = int(time.time()) if now is None else now
        merged: RowState | None = old
        for m in w.mutations:
            merged = merge(merged, m, t_now)
        target = repair_target(old, source_state(w.mutations, t_now), t_now, static_row=w.static)
        if merged is None or target is None:
            return merged is not target
        if not same_value(visible(merged, t_now), visible(target, t_now)):
            return True
        return bool(metadata_differences(target, merged, t_now))

    async def _get(self, tm: TableMapping, key: dict[str, Any]) -> Any:
        got = await self.client.get_item(TableName=tm.dynamodb_table, Key=key, ConsistentRead=True)
        return got.get("Item")

    async def converge(self, tm: TableMapping, w: RowWork, source: SourceRead, stats: WriteStats, *,
                       first: tuple[Any, list[RowWork]] | None) -> bool:
        """Makes the item show exactly Cassandra's row: read the item, then Cassandra's row, then
        write `repair_target` on condition that the item did not move (translators.convergence
        explains why this order is safe against live writes and invisible tombstones). `first` is
        a pair (item, Cassandra's works) already read in that order. Returns whether it wrote."""
        key = key_item(tm, w.partition, w.clustering)
        staged: large_items.Staged | None = None
        wrote = False
        for attempt in range(1, self.max_attempts + 1):
            if first is not None:
                raw, current = first
                first = None
            else:
                raw = await self._get(tm, key)
                current = await source(w)
            if staged is not None:
                await staged.settle(raw)
                staged = None
            t_now = int(time.time())
            mine = [c for c in current if c.static == w.static]
            if w.counters is not None:
                counters = mine[0].counters if mine and mine[0].counters is not None else {}
                if await self._set_counters(tm, key, w, counters, raw, stats):
                    return True
                await asyncio.sleep(0.002 * attempt)
                continue
            try:
                old = from_item(tm, await large_items.load(raw, self.large))
            except large_items.PayloadGone:
                continue
            mutations = [m for c in mine for m in c.mutations]
            target = repair_target(old, source_state(mutations, t_now) if mine else None, t_now,
                                   static_row=w.static)
            if target is None or same_state(target, old):
                if not wrote:
                    stats.unchanged += 1
                return wrote
            item = to_item(tm, w.partition, w.clustering, target, t_now)
            staged = await large_items.stage(self.large, tm, item, raw)
            units = max(1, math.ceil(values.item_size(staged.item) / 1024))
            await self.wcu_bucket.acquire(units)
            stats.write_units += units
            try:
                await self.client.put_item(**versioned_put(tm.dynamodb_table, staged.item,
                                                           None if old is None else old.version))
            except ConditionalCheckFailed:
                stats.conflicts += 1
                await asyncio.sleep(0.002 * attempt)
                continue
            await staged.committed()
            staged = None
            if not wrote:
                stats.written += 1
            wrote = True
            # one more round confirms it: Cassandra may have dropped the row (a range delete) since
            # it was read, and a row this write made could have escaped that delete's mirror
        if staged is not None:
            await staged.settle(await self._get(tm, key))
        raise DynamoDBError("WriteConflict", f"the item changed under {self.max_attempts} attempts in a row", 0)

    async def _merge_row(self, tm: TableMapping, key: dict[str, Any], w: RowWork, raw: Any, stats: WriteStats,
                         now: int | None) -> bool:
        """Merges the row's mutations into the item; True when the write created the item."""
        try:
            done = await merge_into_item(self.client, self.large, tm, w.partition, w.clustering, w.mutations,
                                         key=key, max_attempts=self.max_attempts, raw=raw, now=now,
                                         before_put=self.wcu_bucket.acquire)
        except WriteConflict as e:
            raise DynamoDBError("WriteConflict", str(e), 0) from None
        stats.conflicts += done.conflicts
        stats.write_units += done.units
        if not done.written:
            stats.unchanged += 1
            return False
        stats.written += 1
        return done.created

    async def _counter_row(self, tm: TableMapping, key: dict[str, Any], w: RowWork, raw: Any,
                           stats: WriteStats) -> None:
        """Without a way to read Cassandra again: the values read, on condition that the item still
        holds what was read from it (increments in between are lost; see `converge`)."""
        assert w.counters is not None
        for _ in range(self.max_attempts):
            if await self._set_counters(tm, key, w, w.counters, raw, stats):
                return
            raw = await self._get(tm, key)
        raise DynamoDBError("WriteConflict", f"the counter item changed under {self.max_attempts} attempts", 0)

    async def _set_counters(self, tm: TableMapping, key: dict[str, Any], w: RowWork, counters: dict[str, int],
                            raw: Any, stats: WriteStats) -> bool:
        """Sets the item's counters to `counters` if it still holds what `raw` shows. False: it
        moved (a mirrored increment), read both again."""
        schema = tm.schema
        cols = schema.columns
        names_all = [c for c in cols if c not in schema.primary_key]
        current = {c: int(Decimal(raw[tm.attribute_name(c)]["N"])) for c in names_all
                   if raw and tm.attribute_name(c) in raw}
        if current == counters and (raw is not None or not counters):
            stats.unchanged += 1
            return True
        names: dict[str, str] = {}
        vals: dict[str, Any] = {}
        sets, removes, conds = [], [], []
        for i, (c, v) in enumerate(zip(schema.primary_key, w.partition + w.clustering, strict=False)):
            attr = values.to_attribute(cols[c], v)
            if attr is not None and tm.attribute_name(c) not in key:
                names[f"#k{i}"] = tm.attribute_name(c)
                vals[f":k{i}"] = attr
                sets.append(f"#k{i} = :k{i}")
        for i, c in enumerate(names_all):
            if c not in counters and c not in current and raw is None:
                continue  # DynamoDB refuses names an expression does not use
            names[f"#c{i}"] = tm.attribute_name(c)
            if c in counters:
                vals[f":c{i}"] = {"N": str(counters[c])}
                sets.append(f"#c{i} = :c{i}")
            elif c in current:
                removes.append(f"#c{i}")
            if raw is not None:
                if c in current:
                    vals[f":o{i}"] = {"N": str(current[c])}
                    conds.append(f"#c{i} = :o{i}")
                else:
                    conds.append(f"attribute_not_exists(#c{i})")
        if raw is None:
            names["#pk"] = tm.pk.attribute
            conds.append("attribute_not_exists(#pk)")
        if not sets and not removes:
            stats.unchanged += 1
            return True
        expr = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes) if removes else "")
        await self.wcu_bucket.acquire(1)
        stats.write_units += 1
        req: dict[str, Any] = {"TableName": tm.dynamodb_table, "Key": key, "UpdateExpression": expr.strip(),
                               "ExpressionAttributeNames": names}
        if vals:
            req["ExpressionAttributeValues"] = vals
        if conds:
            req["ConditionExpression"] = " AND ".join(conds)
        try:
            await self.client.update_item(**req)
        except ConditionalCheckFailed:
            stats.conflicts += 1
            return False
        stats.written += 1
        return True
