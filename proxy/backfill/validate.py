"""Range-by-range comparison of Cassandra and DynamoDB, and the repair of what differs.

Per token range: the Cassandra rows come from the same scan as the backfill's; the DynamoDB items of
every partition found there are read by key (BatchGetItem) or by partition (Query), resolved from
S3 where they point there, and compared with `translators.compare.compare`. DynamoDB has no token
order, so items whose partition Cassandra does not have at all are found afterwards by one Scan of
the table, each item's partition key mapped to its token and so to its range (`extra_scan`).

Live writes keep going during a validation, so every difference is confirmed before it is
reported: the DynamoDB item is read again, then the Cassandra row. Writes reach Cassandra before
DynamoDB, so in that order anything DynamoDB has that Cassandra lacks is really absent from
Cassandra: the repair may tombstone it (at its own timestamp, so a newer live write still wins).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from translators import keys
from translators.compare import Difference, _hashable, compare
from translators.convergence import metadata_differences, source_state
from translators.mapping import TableMapping
from translators.token import partition_token

from ..writes import large_items
from .ranges import RangeIndex, TokenRange
from .rows import RowDecodeError, RowWork, ScanLayout
from .runner import Context, Emit, Task, fetch_page
from .writer import WriteStats

log = logging.getLogger(__name__)

QUERY_CONCURRENCY = 16


def json_key(key: tuple[Any, ...]) -> list[Any]:
    return orjson.loads(orjson.dumps(list(key), default=_plain))


def _plain(v: Any) -> Any:
    if isinstance(v, bytes | bytearray):
        return "0x" + bytes(v).hex()
    if isinstance(v, tuple | set | frozenset):
        return list(v)
    return str(v)


def row_key(tm: TableMapping, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(_hashable(row.get(c)) for c in tm.schema.primary_key)


def split_static(lay: ScanLayout, crow: dict[str, Any], with_static: bool) -> list[dict[str, Any]]:
    """A scanned row as `compare` sees DynamoDB: static values in a row of their own (clustering
    columns None), not repeated on every clustering row."""
    schema = lay.tm.schema
    if not schema.static:
        return [crow]
    out = []
    static = {c: crow.get(c) for c in schema.static}
    clustered = crow.get(schema.clustering_columns[0]) is not None
    if clustered:
        out.append({**crow, **dict.fromkeys(schema.static)})
    if with_static and any(v is not None for v in static.values()):
        srow = dict.fromkeys(schema.columns)
        for c in schema.partition_key:
            srow[c] = crow[c]
        srow.update(static)
        out.append(srow)
    return out


def belongs(tm: TableMapping, item: dict[str, Any]) -> bool:
    """Whether an item of the DynamoDB table is one of this CQL table's (tables may share one)."""
    pk = item.get(tm.pk.attribute)
    if pk is None or (tm.pk.prefix and not str(pk.get("S", "")).startswith(tm.pk.prefix)):
        return False
    sk = tm.sk
    if sk is None or not sk.prefix:
        return True
    a = item.get(sk.attribute) or {}
    if sk.encoding == "constant":
        return a.get("S") == sk.prefix or _b(a.get("B")) == sk.prefix.encode()
    return _b(a.get("B")).startswith(sk.prefix.encode()) or str(a.get("S", "")).startswith(sk.prefix)


def _b(v: Any) -> bytes:
    import base64

    if v is None:
        return b""
    return base64.b64decode(v) if isinstance(v, str) else bytes(v)


class Partition:
    __slots__ = ("blind", "key", "rows", "static_seen", "token", "unreadable", "works")

    def __init__(self, token: int, key: tuple[Any, ...]) -> None:
        self.token = token
        self.key = key
        self.rows: list[dict[str, Any]] = []
        self.works: dict[tuple[Any, ...], RowWork] = {}
        self.static_seen = False  # its static values were taken (from its first readable row)
        # rows Cassandra has but that could not be decoded: not compared (DynamoDB's would look EXTRA)
        self.unreadable: set[tuple[Any, ...]] = set()
        self.blind = False  # a row whose clustering key could not be decoded: nothing here is compared


def _unreadable(tm: TableMapping, open_parts: dict[tuple[Any, ...], Partition], tokens: list[int], token: int,
                e: RowDecodeError) -> None:
    """Keeps a row that could not be decoded out of its partition's comparison."""
    schema = tm.schema
    npk = len(schema.partition_key)
    if any(c in e.undecoded for c in schema.partition_key):
        return  # its partition cannot be named: none of its rows can be decoded either
    part = e.key[:npk]
    p = open_parts.get(part)
    if p is None:
        p = open_parts[part] = Partition(token, part)
        tokens.append(token)
    if e.undecoded:
        p.blind = True
    else:
        p.unreadable.add(row_key(tm, dict(zip(schema.primary_key, e.key, strict=True))))


_SETTLE_ATTEMPTS = 6  # about 1.6 s of waiting in all
_SETTLE_SECONDS = 10.0


async def validate_range(ctx: Context, task: Task, emit: Emit) -> None:
    tm = ctx.tables[task.table]
    lay = ctx.layout(task.table)
    r = TokenRange.parse(task.range)
    host = ctx.source.replica(tm.keyspace, r)
    state: bytes | None = None
    open_parts: dict[tuple[Any, ...], Partition] = {}
    tokens: list[int] = []
    totals = {"rows": 0, "differences": 0, "repaired": 0}
    bad: list[RowDecodeError] = []
    sem = asyncio.Semaphore(QUERY_CONCURRENCY)
    while True:
        rows, state = await fetch_page(ctx, tm, lay.range_query, (r.start, r.end), host, state)
        now = int(time.time())
        for raw in rows:
            try:
                row = lay.decode(raw)
                part, _ = lay.key_values(row)
                p = open_parts.get(part)
                first = p is None or not p.static_seen
                works = lay.convert(row, now, with_static=first)
            except RowDecodeError as e:  # reported, and kept out of the comparison
                log.warning("%s", e)
                bad.append(e)
                _unreadable(tm, open_parts, tokens, int.from_bytes(raw[0] or b"", "big", signed=True), e)
                continue
            if p is None:
                p = open_parts[part] = Partition(int(row[0]), part)
                tokens.append(p.token)
            p.static_seen = True
            crow = lay.values(row)
            for cr in split_static(lay, crow, first):
                p.rows.append(cr)
            for w in works:
                p.works[row_key(tm, _work_row(tm, w))] = w
        totals["rows"] += len(rows)
        # the last partition may go on in the next page: compared once it is complete
        ready = list(open_parts.values()) if not state else list(open_parts.values())[:-1]
        for p in ready:
            del open_parts[p.key]
        await asyncio.gather(*(_check_partition(ctx, tm, lay, task, p, emit, totals, sem) for p in ready))
        if not state:
            break
    emit({"kind": "tokens", "table": task.table, "range": task.range, "tokens": tokens})
    emit({"kind": "page", "table": task.table, "range": task.range, "state": None, "rows": totals["rows"],
          "stats": {"rows": totals["rows"], "failed": len(bad), "errors": [str(e) for e in bad[:50]]}})
    if bad:  # the rest of the range was compared, but not all of it: the range is not done
        for err in bad:
            emit({"kind": "unreadable", "table": task.table, "range": task.range, "key": json_key(err.key),
                  "column": err.column, "error": err.reason})
        emit({"kind": "failed", "table": task.table, "range": task.range,
              "error": f"{len(bad)} rows could not be decoded, e.g. {bad[0]}"})
        return
    emit({"kind": "done", "table": task.table, "range": task.range, "rows": totals["rows"],
          "differences": totals["differences"], "repaired": totals["repaired"]})


def _work_row(tm: TableMapping, w: RowWork) -> dict[str, Any]:
    schema = tm.schema
    row: dict[str, Any] = dict(zip(schema.partition_key, w.partition, strict=True))
    for c, v in zip(schema.clustering_columns, w.clustering or (None,) * len(schema.clustering_columns),
                    strict=True):
        row[c] = v
    return row


async def _items_of_partition(ctx: Context, tm: TableMapping, p: Partition) -> list[dict[str, Any]]:
    from translators.item_codec import key_item

    if not tm.schema.clustering_columns:
        key = key_item(tm, p.key, ())
        got = await ctx.client.get_item(TableName=tm.dynamodb_table, Key=key, ConsistentRead=True)
        return [got["Item"]] if "Item" in got else []
    cols = tm.schema.columns
    pk = keys.encode_partition([cols[c] for c in tm.schema.partition_key], p.key, tm.pk.prefix,
                               dynamodb_type=tm.pk.dynamodb_type)
    items: list[dict[str, Any]] = []
    start = None
    while True:
        req: dict[str, Any] = {"TableName": tm.dynamodb_table, "KeyConditionExpression": "#pk = :pk",
                               "ExpressionAttributeNames": {"#pk": tm.pk.attribute},
                               "ExpressionAttributeValues": {":pk": pk}, "ConsistentRead": True}
        if start:
            req["ExclusiveStartKey"] = start
        page = await ctx.client.query(**req)
        items.extend(i for i in page.get("Items", []) if belongs(tm, i))
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


async def _resolve(ctx: Context, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for it in items:
        loaded = await large_items.load(it, ctx.large)
        if loaded is not None:
            out.append(loaded)
    return out


async def _check_partition(ctx: Context, tm: TableMapping, lay: ScanLayout, task: Task, p: Partition, emit: Emit,
                           totals: dict[str, int], sem: asyncio.Semaphore) -> None:
    from translators.compare import item_row

    if p.blind:
        return
    if p.unreadable and not p.static_seen and tm.schema.static:
        p.unreadable.add(row_key(tm, dict(zip(tm.schema.partition_key, p.key, strict=True))))
    async with sem:
        items = await _resolve(ctx, await _items_of_partition(ctx, tm, p))
        now = int(time.time())
        diffs = with_metadata(tm, [d for d in compare(tm, p.rows, items, now) if d.key not in p.unreadable],
                              p.works, items, now)
        if not diffs:
            return
        # the rows by compare's key, to get back their values (compare's keys are only hashable)
        originals = {row_key(tm, r): r for r in p.rows}
        for it in items:
            row = item_row(tm, it, now)
            if row is not None:
                originals.setdefault(row_key(tm, row), row)
        for d in diffs:
            await confirm_and_report(ctx, tm, lay, task, originals[d.key], p.token, emit, totals)


def with_metadata(tm: TableMapping, diffs: list[Difference], works: dict[tuple[Any, ...], RowWork],
                  items: list[dict[str, Any]], now: int) -> list[Difference]:
    """`compare`'s differences plus rows whose values agree but whose WRITETIME or TTL do not."""
    from translators.compare import item_row
    from translators.item_codec import from_item

    by_key = {d.key: d for d in diffs}
    for it in items:
        row = item_row(tm, it, now)
        if row is None:
            continue
        k = row_key(tm, row)
        w = works.get(k)
        state = from_item(tm, it)
        if w is None or w.counters is not None or state is None:
            continue
        src = source_state(w.mutations, now)
        if src is None:
            continue
        details = metadata_differences(src, state, now)
        if not details:
            continue
        d = by_key.get(k)
        if d is None:
            by_key[k] = Difference("MISMATCH", k, tuple(details))
        elif d.kind == "MISMATCH":
            by_key[k] = Difference("MISMATCH", k, d.details + tuple(details))
    return list(by_key.values())


async def confirm_and_report(ctx: Context, tm: TableMapping, lay: ScanLayout, task: Task, key_row: dict[str, Any],
                             token: int, emit: Emit, totals: dict[str, int]) -> None:
    """Reads both sides of one differing row again (DynamoDB first, see the module's doc) and
    reports, and repairs, what still differs."""
    from translators.item_codec import key_item

    schema = tm.schema
    part = tuple(key_row[c] for c in schema.partition_key)
    clus = tuple(key_row[c] for c in schema.clustering_columns)
    static = bool(clus) and all(v is None for v in clus)
    if static:
        clus = ()
    for attempt in range(_SETTLE_ATTEMPTS):
        got = await ctx.client.get_item(TableName=tm.dynamodb_table, Key=key_item(tm, part, clus),
                                        ConsistentRead=True)
        raw = got.get("Item")
        item = await large_items.load(raw, ctx.large)
        if static:
            rows = await ctx.source.execute_all(lay.partition_query + " LIMIT 1", part, lay.partition_types)
        else:
            rows = await ctx.source.execute_all(lay.row_query, part + clus, lay.row_types)
        now = int(time.time())
        crows: list[dict[str, Any]] = []
        works: list[RowWork] = []
        for scanned in rows:
            row = lay.decode(scanned)
            for cr in split_static(lay, lay.values(row), static):
                if (bool(schema.clustering_columns)
                        and all(cr.get(c) is None for c in schema.clustering_columns)) == static:
                    crows.append(cr)
            works.extend(w for w in lay.convert(row, now, with_static=static) if w.static == static)
        again = compare(tm, crows, [item] if item else [], now)
        if item:
            again = with_metadata(tm, again, {row_key(tm, _work_row(tm, w)): w for w in works}, [item], now)
        newest = max((m.ts for w in works for m in w.mutations), default=0)
        # a write Cassandra took moments ago may still be on its way to DynamoDB (the sidecar
        # writes Cassandra first): give it time to land before calling it a difference
        if not again or newest < (time.time() - _SETTLE_SECONDS) * 1_000_000:
            break
        await asyncio.sleep(0.05 * 2 ** attempt)
    for diff in again:
        totals["differences"] += 1
        ev: dict[str, Any] = {"kind": "diff", "table": task.table, "range": task.range, "token": token,
                              "type": diff.kind, "key": json_key(diff.key), "details": list(diff.details)}
        if ctx.spec.repair:
            ev["repaired"] = await _repair(ctx, task.table, tm, part, clus, static, raw, works)
            totals["repaired"] += int(ev["repaired"])
        emit(ev)


async def _repair(ctx: Context, table: str, tm: TableMapping, part: tuple[Any, ...], clus: tuple[Any, ...],
                  static: bool, raw: dict[str, Any] | None, works: list[RowWork]) -> bool:
    """Writes Cassandra's version of the row, starting from the item and the Cassandra row just read
    in that order (`BatchWriter.converge`): cells and elements the item has and Cassandra does not
    get tombstones at their own timestamps, a row Cassandra lacks a row tombstone at the item's
    newest timestamp; a newer live write wins over both."""
    stats = WriteStats()
    w = works[0] if works else RowWork(0, part, clus, static=static,
                                       counters={} if tm.schema.is_counter_table() else None)

    async def source(x: RowWork) -> list[RowWork]:
        return await ctx.read_row(table, x)

    try:
        # False when nothing was written: the difference was gone by then, or the target is what the
        # item already holds (the next round shows which)
        return await ctx.writer.converge(tm, w, source, stats, first=(raw, works))
    except Exception as e:  # reported on the difference's line; the range goes on
        log.warning("%s %r: repair failed: %s", tm.cql_name, part + clus, e)
        return False


# -- items whose partition Cassandra does not have -----------------------------------------------

async def extra_scan(ctx: Context, table: str, ranges: list[TokenRange], found: dict[str, set[int]],
                     emit: Emit, segments: int = 4) -> int:
    """Scans the DynamoDB table once; every live item of `table` whose token falls in one of
    `ranges` but whose partition the range scan did not find is confirmed and reported EXTRA."""
    from translators.compare import item_row

    tm = ctx.tables[table]
    lay = ctx.layout(table)
    index = RangeIndex(ranges)
    cols = tm.schema.columns
    pk_types = [cols[c] for c in tm.schema.partition_key]
    totals = {"rows": 0, "differences": 0, "repaired": 0}
    scanned = 0

    async def segment(i: int) -> None:
        nonlocal scanned
        start = None
        while True:
            req: dict[str, Any] = {"TableName": tm.dynamodb_table, "Segment": i, "TotalSegments": segments,
                                   "ConsistentRead": True}
            if start:
                req["ExclusiveStartKey"] = start
            page = await ctx.client.scan(**req)
            for raw in page.get("Items", []):
                scanned += 1
                if not belongs(tm, raw):
                    continue
                part = keys.decode_partition(pk_types, raw[tm.pk.attribute], tm.pk.prefix)
                token = partition_token(pk_types, part)
                r = index.find(token)
                if r is None or token in found.get(r.id, ()):
                    continue
                it = await large_items.load(raw, ctx.large)
                row = item_row(tm, it, int(time.time())) if it else None
                if row is None:
                    continue  # a tombstone or expired: absent for readers too
                try:
                    await confirm_and_report(ctx, tm, lay, Task(table, r.id), row, token, emit, totals)
                except RowDecodeError as e:  # Cassandra's row, written since its range was read
                    emit({"kind": "unreadable", "table": table, "range": r.id, "key": json_key(e.key),
                          "column": e.column, "error": e.reason})
                    emit({"kind": "page", "table": table, "range": r.id, "state": None,
                          "stats": {"failed": 1, "errors": [str(e)]}})
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    await asyncio.gather(*(segment(i) for i in range(segments)))
    return scanned


Handler = Callable[[dict[str, Any]], None]
