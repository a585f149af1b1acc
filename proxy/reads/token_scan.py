"""Token-range reads of tables mapped with `token_index` (translators.reads, segment op ``Token``).

The token GSI (keys only) names the partitions in ring order; each partition is then read whole
from the table with a consistent Query, in clustering order. The first page of the next few
partitions is asked for while the current one is read (the window grows with the partitions a
read has used, so a page that ends early leaves few reads wasted). A partition whose rows the
caller no longer wants (PER PARTITION LIMIT reached) is not read further. A table without
clustering columns has one item per partition: the index's keys are read with BatchGetItem.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from translators import values
from translators.mapping import TOKEN_INDEX, TOKEN_KEY
from translators.reads.plan import Attribute, ReadPlan, Segment
from translators.reads.rows import key_of
from translators.reads.segments import partition_request

Item = dict[str, Any]
Call = Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]  # (operation, request, index)
BatchGet = Callable[[list[Item]], Awaitable[list[Item | None]]]  # items of whole keys, in key order
_PAGE_ITEMS = 1000
_TOKEN_PAGE = 100  # GSI entries per call: each new one starts a partition read
_PREFETCH = 16  # partitions read ahead at most


class Skip:
    """The partition (its key attribute) the caller wants no more rows of."""

    __slots__ = ("partition",)

    def __init__(self) -> None:
        self.partition: Any = None


def _partition_limit(plan: ReadPlan) -> int | None:
    want = plan.page_size or plan.limit
    if plan.per_partition_limit is not None:
        want = min(want or plan.per_partition_limit, plan.per_partition_limit)
    if not want:
        return None
    # the token range holds the whole partition: only other filters can drop its rows
    filtered = any(f.target != "token" for f in plan.filters)
    return min(_PAGE_ITEMS, max(want + 2, 100) if filtered else want + 2)


async def _rest(call: Call, plan: ReadPlan, pk: Any, resp: dict[str, Any], skip: Skip
                ) -> AsyncGenerator[Item, None]:
    """The items of a partition from its first page `resp` on."""
    req = partition_request(plan.tm, pk)
    limit = _partition_limit(plan)
    if limit is not None:
        req["Limit"] = limit
    while True:
        for raw in resp.get("Items", []):
            yield raw
        lek = resp.get("LastEvaluatedKey")
        if not lek or skip.partition == pk:
            return
        req["ExclusiveStartKey"] = lek
        resp = await call("Query", req, "")


def _first_page(call: Call, plan: ReadPlan, pk: Any, after: Any = None) -> Awaitable[dict[str, Any]]:
    req = partition_request(plan.tm, pk)
    limit = _partition_limit(plan)
    if limit is not None:
        req["Limit"] = limit
    if after:
        req["ExclusiveStartKey"] = after
    return call("Query", req, "")


async def token_items(call: Call, batch_get: BatchGet, plan: ReadPlan, seg: Segment, start: Any, skip: Skip
                      ) -> AsyncGenerator[tuple[Item, Any], None]:
    """(item, position after it) of one GSI bucket's partitions, in ring order. Position: the
    partition's GSI sort key, its partition key and the last item's key. A table without
    clustering columns has one item per partition: those are read 100 to a BatchGetItem."""
    tm = plan.tm
    single_item = tm.sk is None or tm.sk.encoding == "constant"
    req = dict(seg.request)
    vals = dict(req["ExpressionAttributeValues"])
    req["ExpressionAttributeValues"] = vals
    want = plan.page_size or plan.limit
    req["Limit"] = min(_TOKEN_PAGE, want + 2) if want else _TOKEN_PAGE

    async def emit(tk: Attribute, pk: Any, first: dict[str, Any]) -> AsyncGenerator[tuple[Item, Any], None]:
        async with aclosing(_rest(call, plan, pk, first, skip)) as items:
            async for raw in items:
                yield raw, {"tk": tk, "pk": pk, "in": key_of(plan, raw)}

    if start:
        if not single_item:
            first = await _first_page(call, plan, start["pk"], start["in"])
            async with aclosing(emit(start["tk"], start["pk"], first)) as rest:
                async for x in rest:
                    yield x
        # the next partition's GSI key is the smallest one above this partition's
        vals[":lo"] = {"B": values.attr_bytes(start["tk"]["B"]) + b"\0"}
    used = 0  # partitions read so far: the read-ahead window grows with it
    ahead: dict[int, asyncio.Task[dict[str, Any]]] = {}
    try:
        while True:
            resp = await call("Query", req, TOKEN_INDEX)
            parts: list[tuple[Attribute, Any]] = []
            entries: list[Item] = []
            prev: bytes | None = None
            for g in resp.get("Items", []):
                tk = values.attr_bytes(g[TOKEN_KEY]["B"])
                if tk != prev:  # a partition's other rows follow it in the index
                    parts.append((g[TOKEN_KEY], g[tm.pk.attribute]))
                    entries.append(g)
                    prev = tk
            if single_item and parts:
                got = await batch_get([key_of(plan, g) for g in entries])
                for (tk_attr, pk), raw in zip(parts, got, strict=True):
                    if raw is not None:
                        yield raw, {"tk": tk_attr, "pk": pk, "in": key_of(plan, raw)}
                parts = []
            for i, (tk_attr, pk) in enumerate(parts):
                for j in range(i, min(len(parts), i + min(_PREFETCH, 1 + used))):
                    if j not in ahead:
                        ahead[j] = asyncio.ensure_future(_first_page(call, plan, parts[j][1]))
                first = await ahead.pop(i)
                used += 1
                async with aclosing(emit(tk_attr, pk, first)) as rows:
                    async for x in rows:
                        yield x
            lek = resp.get("LastEvaluatedKey")
            if not lek:
                return
            if prev is None:
                req["ExclusiveStartKey"] = lek  # a page of other tables' items (shared table)
            else:
                req.pop("ExclusiveStartKey", None)
                vals[":lo"] = {"B": prev + b"\0"}  # past the rest of that partition's GSI entries
    finally:
        for t in ahead.values():  # read-ahead the caller did not get to
            t.cancel()
            t.add_done_callback(_retrieve)


def _retrieve(t: asyncio.Task[dict[str, Any]]) -> None:
    if not t.cancelled():
        t.exception()  # seen, so never logged as unretrieved
