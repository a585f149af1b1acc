"""Runs a read plan (translators.reads) against DynamoDB and builds the CQL Rows result.

Items stream in plan order; each passes through `DynamoReader.expand` (the one place that will
also fetch large values from S3) before it is decoded. A page holds at most the client's page size
rows: the reader follows LastEvaluatedKey until the page is full, then looks for one more row so
that HAS_MORE_PAGES is set only when another row exists. The paging state names the position right
after the page's last row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any

import orjson

from cql_protocol.cql.ast import Select
from cql_protocol.messages.result import Rows, RowsMetadata
from cql_protocol.primitives import Unset
from cql_protocol.types import CqlType
from translators import item_codec
from translators.mapping import IndexSpec, TableMapping
from translators.reads import encode_paging_state, plan_select
from translators.reads.fast_rows import NO_ROW, FastRows
from translators.reads.plan import Cursor, ReadPlan, Segment
from translators.reads.rows import (
    Decoded,
    aggregate_row,
    batch_chunks,
    column_present,
    decode_item,
    is_static_item,
    key_of,
    matches,
    project,
    sort_key_of,
    static_key,
)
from translators.row_state import RowState

from ..aws.dynamodb_client import DynamoDBClient, _json_default
from ..writes import large_items
from ..writes.large_items import LargeItems
from .token_scan import Skip, token_items

Item = dict[str, Any]
_PAGE_ITEMS = 1000  # DynamoDB's Limit per Query/Scan call when no page size bounds it
_UNPROCESSED_ATTEMPTS = 10
_NO_STATE = RowState()  # rows the fast path answered carry their cells, not their state
_LIVE: dict[str, Any] = {}


def _key_id(key: Item) -> bytes:
    """Identity of a key whatever form its binary values are in (bytes or base64 text)."""
    return orjson.dumps(key, default=_json_default, option=orjson.OPT_SORT_KEYS)


class DynamoReader:
    def __init__(self, client: DynamoDBClient, large: LargeItems | None = None) -> None:
        self.client = client
        self.large = large
        # items DynamoDB read (ScannedCount: filtered ones too), by (DynamoDB table, GSI or "")
        self.items_read: dict[tuple[str, str], int] = {}

    def _count(self, table: str, resp: dict[str, Any], index: str = "") -> None:
        n = resp.get("ScannedCount", len(resp.get("Items", ())))
        self.items_read[(table, index)] = self.items_read.get((table, index), 0) + int(n)

    async def expand(self, raw: Item) -> Item:
        """Every item fetched goes through here before decoding: S3 payloads of large items are
        fetched back, compressed ones inflated."""
        if item_codec.POINTER in raw:
            loaded = await large_items.load(raw, self.large)
            assert loaded is not None
            raw = loaded
        return item_codec.expand(item_codec.from_wire_item(raw))

    async def decode(self, plan: ReadPlan, raw: Item, fast: FastRows | None = None) -> Decoded | None:
        """An item as a row (None: not a row of this table). `fast`: the plan's straight path from
        the wire to the result cells, tried first."""
        if fast is not None:
            cells = fast.cells(raw)
            if cells is not None:
                return None if cells is NO_ROW else Decoded((), (), _NO_STATE, _LIVE, cells)
        if item_codec.POINTER in raw:
            return decode_item(plan, await self.expand(raw))
        return decode_item(plan, item_codec.expand(item_codec.from_wire_item(raw)))  # no await: most items

    # -- item sources ------------------------------------------------------------------------

    async def _get(self, table: str, key: Item) -> Item | None:
        got = await self.client.call("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
        item = got.get("Item")
        self._count(table, {"ScannedCount": 1 if item else 0})
        return item if item else None

    async def _batch_get(self, table: str, keys: Sequence[Item]) -> dict[bytes, Item]:
        found: dict[bytes, Item] = {}
        pending: list[Item] = list(keys)
        for attempt in range(_UNPROCESSED_ATTEMPTS):
            resp = await self.client.call("BatchGetItem", {
                "RequestItems": {table: {"Keys": pending, "ConsistentRead": True}}})
            self._count(table, {"Items": resp.get("Responses", {}).get(table, [])})
            for item in resp.get("Responses", {}).get(table, []):
                found[_key_id({k: item[k] for k in pending[0]})] = item
            pending = resp.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not pending:
                return found
            await asyncio.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
        raise TimeoutError(f"BatchGetItem on {table}: {len(pending)} keys still unprocessed")

    async def _batch_in_order(self, table: str, keys: list[Item]) -> list[Item | None]:
        found: dict[bytes, Item] = {}
        for chunk in batch_chunks(keys):
            found.update(await self._batch_get(table, chunk))
        return [found.get(_key_id(k)) for k in keys]

    async def _items(self, plan: ReadPlan, seg: Segment, start: Any, skip: Skip | None = None
                     ) -> AsyncGenerator[tuple[Item, Any], None]:
        """(wire-form item, position after it) of one segment, from `start` on."""
        table = plan.tm.dynamodb_table
        if seg.op == "Get":
            first = start if isinstance(start, int) else 0
            at = first
            if len(seg.keys) == 1 and first == 0:
                item = await self._get(table, seg.keys[0])
                if item is not None:
                    yield item, 1
                return
            for chunk in batch_chunks(seg.keys[first:]):
                found = await self._batch_get(table, chunk)
                for key in chunk:
                    at += 1
                    item = found.get(_key_id(key))
                    if item is not None:
                        yield item, at
            return
        if seg.op == "Token":
            async with aclosing(token_items(self._call, lambda keys: self._batch_in_order(table, keys), plan, seg,
                                            start, skip or Skip())) as tokens:
                async for x in tokens:
                    yield x
            return
        req = dict(seg.request)
        if start:
            req["ExclusiveStartKey"] = start
        if plan.page_size is not None and not plan.filters:
            req["Limit"] = min(_PAGE_ITEMS, plan.page_size + 2)
        index = seg.index
        while True:
            resp = await self.client.call(seg.op, req)
            self._count(table, resp, index.name if index is not None else "")
            for raw in resp.get("Items", []):
                pos = key_of(plan, raw, index)
                if index is not None and index.projection != "ALL":
                    base = await self._get(table, key_of(plan, raw))
                    if base is None:
                        continue
                    raw = base
                yield raw, pos
            lek = resp.get("LastEvaluatedKey")
            if not lek:
                return
            req["ExclusiveStartKey"] = lek

    async def _call(self, op: str, req: dict[str, Any], index: str) -> dict[str, Any]:
        resp = await self.client.call(op, req)
        self._count(req["TableName"], resp, index)
        return resp

    # -- rows --------------------------------------------------------------------------------

    async def _static(self, plan: ReadPlan, raw_pk: Any, cache: dict[bytes, Decoded | None]) -> Decoded | None:
        kid = _key_id(raw_pk)
        if kid not in cache:
            cache.clear()  # one partition at a time
            raw = await self._get(plan.tm.dynamodb_table, static_key(plan, raw_pk))
            d = await self.decode(plan, raw) if raw is not None else None
            cache[kid] = d if d is not None and d.live is not None else None
        return cache[kid]

    async def rows(self, plan: ReadPlan) -> AsyncGenerator[tuple[Decoded, Decoded | None, Cursor, Any], None]:
        """(row, its partition's static row, cursor after it, clustering position) in result order."""
        tm = plan.tm
        cur = plan.resume or Cursor()
        part = cur.partition
        part_rows = cur.partition_rows
        ppl = plan.per_partition_limit
        statics: dict[bytes, Decoded | None] = {}
        last = (cur.segment, cur.start)  # position of the last item consumed
        fast = FastRows.of(plan)

        async def close() -> AsyncGenerator[tuple[Decoded, Decoded | None, Cursor, Any], None]:
            # a partition with static values and no row gives one row (when the query allows it)
            if part is None or part_rows or not plan.static_rows:
                return
            st = await self._static(plan, part, statics)
            if st is not None and matches(plan, st, st):
                yield st, st, Cursor(last[0], last[1], part, 1), b""

        for si in range(cur.segment, len(plan.segments)):
            seg = plan.segments[si]
            start = cur.start if si == cur.segment else None
            single_partition = seg.op == "Query" and seg.index is None
            skip = Skip()
            async with aclosing(self._items(plan, seg, start, skip)) as items:
                async for raw, pos in items:
                    pk = raw[tm.pk.attribute]
                    if pk != part:
                        async for x in close():
                            yield x
                        part, part_rows = pk, 0
                    last = (si, pos)
                    if is_static_item(plan, raw):
                        if plan.uses_static:
                            d = await self.decode(plan, raw)
                            statics.clear()
                            statics[_key_id(pk)] = d if d is not None and d.live is not None else None
                        continue
                    if ppl is not None and part_rows >= ppl:
                        if single_partition:
                            break
                        skip.partition = pk  # a token read stops reading this partition
                        continue
                    if seg.drop and tm.sk is not None and raw.get(tm.sk.attribute) in seg.drop:
                        continue
                    d = await self.decode(plan, raw, fast)
                    if d is None or d.live is None or d.clustering is None:
                        continue
                    st = await self._static(plan, pk, statics) if plan.uses_static else None
                    if not matches(plan, d, st):
                        continue
                    part_rows += 1
                    yield d, st, Cursor(si, pos, part, part_rows), sort_key_of(plan, raw)
        async for x in close():
            yield x

    async def execute(self, plan: ReadPlan, *, skip_metadata: bool = False) -> Rows:
        """One page of the result as a Rows message."""
        n = len(plan.columns)
        meta = RowsMetadata(None if skip_metadata else list(plan.columns), n)
        if plan.aggregate:
            return await self._aggregate(plan, meta)
        before = plan.resume.emitted if plan.resume is not None else 0
        out: list[list[bytes | None]] = []
        if plan.sort_by_clustering:
            ranked: list[tuple[Any, list[bytes | None]]] = []
            async with aclosing(self.rows(plan)) as it:
                async for d, st, _, pos in it:
                    ranked.append((pos, project(plan, d, st)))
            ranked.sort(key=lambda x: x[0], reverse=plan.reverse)  # stable: ties keep partition order
            out = [r for _, r in ranked[: plan.limit]]
            meta.column_count = n
            return Rows(meta, out)
        last: Cursor | None = None
        more = False
        async with aclosing(self.rows(plan)) as it:
            async for d, st, cur, _ in it:
                if plan.page_size is not None and len(out) == plan.page_size:
                    more = True
                    break
                out.append(project(plan, d, st))
                last = cur
                if plan.limit is not None and before + len(out) >= plan.limit:
                    break
        if more and last is not None:
            meta.paging_state = encode_paging_state(plan.fingerprint,
                                                    dataclasses.replace(last, emitted=before + len(out)))
        return Rows(meta, out)

    async def _aggregate(self, plan: ReadPlan, meta: RowsMetadata) -> Rows:
        count = 0
        per_column: dict[str, int] = {}
        counted = [s.column for s in plan.selection if s.kind == "count_column" and s.column is not None]
        first: list[bytes | None] | None = None
        async with aclosing(self.rows(plan)) as it:
            async for d, st, _, _ in it:
                count += 1
                if first is None:
                    first = project(plan, d, st)
                for c in counted:
                    if column_present(plan, c, d, st):
                        per_column[c] = per_column.get(c, 0) + 1
        return Rows(meta, [aggregate_row(plan, count, per_column, first)])


def is_empty(result: Rows) -> bool:
    """True when the result holds no row (a miss, for phases that then ask Cassandra)."""
    return not result.rows


async def read(
    reader: DynamoReader,
    stmt: Select,
    tm: TableMapping,
    values: Sequence[bytes | Unset | None] = (),
    *,
    protocol_version: int = 4,
    page_size: int | None = None,
    paging_state: bytes | None = None,
    skip_metadata: bool = False,
    now: int | None = None,
    bind_types: Sequence[CqlType] | None = None,
) -> Rows:
    """Plans and runs one SELECT page (raises translators.statements.Untranslatable)."""
    plan = plan_select(stmt, tm, values, protocol_version=protocol_version, page_size=page_size,
                       paging_state=paging_state, now=int(time.time()) if now is None else now,
                       bind_types=bind_types)
    return await reader.execute(plan, skip_metadata=skip_metadata)


__all__ = ["DynamoReader", "IndexSpec", "is_empty", "read"]
