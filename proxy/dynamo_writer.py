"""Applies translated writes to DynamoDB with Cassandra's reconciliation.

Row writes read the item, merge (translators.row_state) and write it back on condition that its
version did not move; a concurrent writer through another sidecar makes the condition fail and the
merge is redone on the newer item. Counters are `ADD`s: not idempotent, exactly like Cassandra's.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from translators.item_codec import VERSION, from_item, key_item, to_item
from translators.mapping import TableMapping
from translators.row_state import Mutation, merge

from .dynamodb_client import ConditionalCheckFailed, DynamoDBClient


class WriteConflict(Exception):
    """The item kept changing under us for every attempt."""


class DynamoWriter:
    def __init__(self, client: DynamoDBClient, max_attempts: int = 25) -> None:
        self.client = client
        self.max_attempts = max_attempts
        self.conflicts = 0
        self.unchanged = 0

    async def apply_row(self, tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...],
                        mutation: Mutation, now: int | None = None) -> bool:
        """Merges one mutation into its item; False when it changed nothing (already shadowed)."""
        key = key_item(tm, partition, clustering)
        for attempt in range(1, self.max_attempts + 1):
            t_now = int(time.time()) if now is None else now
            got = await self.client.get_item(TableName=tm.dynamodb_table, Key=key, ConsistentRead=True)
            old = from_item(tm, got.get("Item"))
            new = merge(old, mutation, t_now)
            if old is not None and new == old:
                self.unchanged += 1
                return False
            item = to_item(tm, partition, clustering, new, t_now)
            request: dict[str, Any] = {"TableName": tm.dynamodb_table, "Item": item,
                                       "ExpressionAttributeNames": {"#v": VERSION}}
            if old is None:
                request["ConditionExpression"] = "attribute_not_exists(#v)"
            else:
                request["ConditionExpression"] = "#v = :v"
                request["ExpressionAttributeValues"] = {":v": {"N": str(old.version)}}
            try:
                await self.client.put_item(**request)
                return True
            except ConditionalCheckFailed:
                self.conflicts += 1
                await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))
        raise WriteConflict(f"{tm.cql_name}: the item changed under {self.max_attempts} attempts in a row")

    async def apply_counter(self, tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...],
                            deltas: dict[str, int]) -> None:
        key = key_item(tm, partition, clustering)
        names = {f"#c{i}": tm.attribute_name(col) for i, col in enumerate(deltas)}
        vals = {f":d{i}": {"N": str(d)} for i, d in enumerate(deltas.values())}
        await self.client.update_item(
            TableName=tm.dynamodb_table, Key=key,
            UpdateExpression="ADD " + ", ".join(f"#c{i} :d{i}" for i in range(len(deltas))),
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
    from translators import values

    return values.from_attribute(tm.schema.columns[col], item.get(tm.attribute_name(col)))
