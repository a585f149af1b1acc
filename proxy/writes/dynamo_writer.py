"""Applies translated writes to DynamoDB with Cassandra's reconciliation.

A row write newer than everything in its item is one conditional UpdateItem (lww.write_once);
otherwise the item is read, merged (translators.row_state) and written back on condition that its
version did not move; a concurrent writer through another sidecar makes the condition fail and the
merge is redone on the newer item. Counters are `ADD`s: not idempotent, exactly like Cassandra's.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from translators import values
from translators.item_codec import from_item, key_item, to_item, versioned_put
from translators.mapping import TableMapping
from translators.row_state import Mutation, merge

from ..aws.dynamodb_client import ConditionalCheckFailed, DynamoDBClient, TransactionCanceled
from . import large_items
from .lww import APPLIED, FALLBACK_SHAPE, UNREAD, Decide, WriteConflict, merge_into_item, write_once

__all__ = ["Decide", "DynamoWriter", "WriteConflict"]


class DynamoWriter:
    def __init__(self, client: DynamoDBClient, max_attempts: int = 25,
                 large: large_items.LargeItems | None = None, single_call: bool = True) -> None:
        self.client = client
        self.single_call_writes = single_call  # off: every row write reads, merges and puts
        self.large = large  # large_items: s3
        self.max_attempts = max_attempts
        self.conflicts = 0
        self.unchanged = 0
        self.single_call: dict[tuple[str, str], int] = {}  # (table, outcome) → writes

    async def apply_row(self, tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...],
                        mutation: Mutation, now: int | None = None) -> bool:
        """Merges one mutation into its item; False when it changed nothing (already shadowed)."""
        changed, _, _ = await self._merge(tm, partition, clustering, mutation, now, None)
        return changed

    async def apply_if(self, tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...],
                       mutation: Mutation, decide: Decide) -> tuple[bool, dict[str, Any] | None]:
        """A conditional write decided here: `decide` sees the row as a read would (None: absent)
        and the merge happens only if it says so, on the same item version it judged.
        Returns (applied, the row it judged)."""
        _, applied, row = await self._merge(tm, partition, clustering, mutation, None, decide)
        return applied, row

    async def _merge(self, tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...],
                     mutation: Mutation, now: int | None,
                     decide: Decide | None) -> tuple[bool, bool, dict[str, Any] | None]:
        key = key_item(tm, partition, clustering)
        raw: Any = UNREAD
        outcome: str | None = None  # None: single calls are off, nothing offered
        if decide is not None:
            outcome = FALLBACK_SHAPE  # judged on the row as it is: read first
        elif self.single_call_writes:
            outcome, raw = await write_once(self.client, tm, partition, clustering, mutation, key=key,
                                            now=int(time.time()) if now is None else now)
        if outcome is not None:
            counted = (tm.cql_name, outcome)
            self.single_call[counted] = self.single_call.get(counted, 0) + 1
        if outcome == APPLIED:
            return True, True, None
        done = await merge_into_item(self.client, self.large, tm, partition, clustering, [mutation],
                                     key=key, max_attempts=self.max_attempts, raw=raw, now=now, decide=decide)
        self.conflicts += done.conflicts
        if done.applied and not done.written:
            self.unchanged += 1
        return done.written, done.applied, done.row

    async def apply_rows_atomic(self, rows: list[tuple[TableMapping, tuple[Any, ...], tuple[Any, ...], Mutation]]
                                ) -> None:
        """A logged batch where DynamoDB decides: every row merged and written in one
        TransactWriteItems, each put conditional on the item version it merged from, so the batch
        lands whole or not at all. Over 100 rows, or with S3-offloaded items, rows go one by one."""
        groups: dict[tuple[str, str], tuple[TableMapping, tuple[Any, ...], tuple[Any, ...], list[Mutation]]] = {}
        for tm, part, clus, m in rows:
            k = (tm.dynamodb_table, repr(sorted(key_item(tm, part, clus).items())))
            groups.setdefault(k, (tm, part, clus, []))[3].append(m)
        if len(groups) > 100 or any(tm.large_items == "s3" for tm, _, _, _ in groups.values()):
            for tm, part, clus, m in rows:
                await self.apply_row(tm, part, clus, m)
            return
        for attempt in range(1, self.max_attempts + 1):
            t_now = int(time.time())
            entries = list(groups.values())
            got = await asyncio.gather(*(self.client.get_item(
                TableName=tm.dynamodb_table, Key=key_item(tm, part, clus), ConsistentRead=True)
                for tm, part, clus, _ in entries))
            actions: list[dict[str, Any]] = []
            for (tm, part, clus, muts), g in zip(entries, got, strict=True):
                old = from_item(tm, g.get("Item"))
                new = old
                for m in muts:
                    new = merge(new, m, t_now)
                if old is not None and new == old:
                    continue
                assert new is not None
                actions.append({"Put": versioned_put(tm.dynamodb_table, to_item(tm, part, clus, new, t_now),
                                                     None if old is None else old.version)})
            if not actions:
                return
            try:
                if len(actions) == 1:
                    await self.client.put_item(**actions[0]["Put"])
                else:
                    await self.client.transact_write_items(TransactItems=actions)
                return
            except (ConditionalCheckFailed, TransactionCanceled) as e:
                if isinstance(e, TransactionCanceled) and not _conflict_only(e):
                    raise
                self.conflicts += 1
                await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))
        raise WriteConflict(f"a logged batch of {len(groups)} rows kept conflicting for {self.max_attempts} attempts")

    async def apply_counter(self, tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...],
                            deltas: dict[str, int]) -> None:
        key = key_item(tm, partition, clustering)
        names = {f"#c{i}": tm.attribute_name(col) for i, col in enumerate(deltas)}
        vals: dict[str, Any] = {f":d{i}": {"N": str(d)} for i, d in enumerate(deltas.values())}
        # the key columns as plain attributes too, as row items carry them (readers, validator)
        sets = []
        schema = tm.schema
        for i, (col, v) in enumerate(zip(schema.partition_key + schema.clustering_columns,
                                         partition + clustering, strict=False)):
            attr_name = tm.attribute_name(col)
            attr = values.to_attribute(schema.columns[col], v)
            if attr is not None and attr_name not in key:
                names[f"#k{i}"] = attr_name
                vals[f":k{i}"] = attr
                sets.append(f"#k{i} = :k{i}")
        expr = ("SET " + ", ".join(sets) + " " if sets else "") + "ADD " + ", ".join(
            f"#c{i} :d{i}" for i in range(len(deltas)))
        await self.client.update_item(
            TableName=tm.dynamodb_table, Key=key, UpdateExpression=expr,
            ExpressionAttributeNames=names, ExpressionAttributeValues=vals,
        )

    async def apply_range_delete(self, rd: Any) -> int:
        """Deletes every existing row of a partition or clustering slice (a row tombstone on each).

        Rows the slice will only receive later (a backfill of older data) are not yet covered by a
        tombstone; the backfill's own conditional writes are responsible for those.
        """
        from translators import keys
        from translators.item_codec import from_wire

        tm: TableMapping = rd.table
        schema = tm.schema
        cols = schema.columns
        pk_attr = keys.encode_partition([cols[c] for c in schema.partition_key], rd.partition, tm.pk.prefix,
                                        dynamodb_type=tm.pk.dynamodb_type)
        expr = "#pk = :pk"
        names = {"#pk": tm.pk.attribute}
        vals: dict[str, Any] = {":pk": pk_attr}
        if tm.sk is not None and tm.sk.encoding in ("plain", "bytecomparable"):
            cond = keys.sort_key_condition(
                [cols[c] for c in schema.clustering_columns], [o for _, o in schema.clustering],
                rd.clustering_eq, rd.lower, rd.upper, tm.sk.prefix, tm.sk.encoding,
            )
            if cond is not None:
                if cond.empty:
                    return 0
                text, cv = cond.expression()
                expr += " AND " + text
                names["#sk"] = tm.sk.attribute
                vals.update(cv)
        deleted = 0
        start = None
        while True:
            req: dict[str, Any] = {"TableName": tm.dynamodb_table, "KeyConditionExpression": expr,
                                   "ExpressionAttributeNames": names, "ExpressionAttributeValues": vals,
                                   "ConsistentRead": True}
            if start:
                req["ExclusiveStartKey"] = start
            page = await self.client.query(**req)
            for raw in page.get("Items", []):
                item = from_wire(raw)
                part = tuple(_col_value(tm, item, c) for c in schema.partition_key)
                clus = tuple(_col_value(tm, item, c) for c in schema.clustering_columns)
                if any(v is None for v in clus):
                    clus = ()  # the static row
                    if rd.clustering_eq or rd.lower or rd.upper:
                        continue
                await self.apply_row(tm, part, clus, Mutation(ts=rd.ts, delete_row=True))
                deleted += 1
            start = page.get("LastEvaluatedKey")
            if not start:
                return deleted


def _col_value(tm: TableMapping, item: dict[str, Any], col: str) -> Any:

    return values.from_attribute(tm.schema.columns[col], item.get(tm.attribute_name(col)))


def _conflict_only(e: TransactionCanceled) -> bool:
    """A transaction cancelled only because another writer moved an item: worth a retry."""
    codes = {r.get("Code") for r in e.reasons}
    return codes <= {"None", "ConditionalCheckFailed", "TransactionConflict", None}
