"""The reverse copy: DynamoDB → Cassandra, one task per Parallel Scan segment.

Each item is decoded to its row state and written with `translators.reverse_cql`'s statements, every
one at the timestamp of what it writes, so Cassandra's own reconciliation keeps whatever it holds
that is newer. A row's statements go in one unlogged batch (one partition, one round trip).
Values are serialized by `cql_protocol.types` (the codec the sidecar answers drivers with) and
handed to the driver already encoded, so no value goes through a second conversion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cassandra.query import BatchStatement, BatchType, BoundStatement

from cql_protocol.types import serialize
from translators import keys, values
from translators.item_codec import expand, from_wire, state_of
from translators.mapping import Mapping, TableMapping, load_mapping, quote_identifier
from translators.reverse_cql import ListWrite, RowStatements, RowWrite, Stmt

from ..aws.dynamodb_client import DynamoDBClient
from ..writes import large_items
from .decode import decoder
from .failures import cassandra_transient, describe
from .ratelimit import TokenBucket
from .source import CassandraSource, SourceOptions, _settle
from .validate import belongs

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], None]
ROW_ATTEMPTS = 5


@dataclass
class ReverseSpec:
    mapping_path: str
    cassandra: str = "127.0.0.1:9042"
    cassandra_username: str | None = None
    cassandra_password: str | None = None
    consistency: str = "LOCAL_QUORUM"
    dynamodb_endpoint: str | None = None
    dynamodb_region: str | None = None
    s3_endpoint: str | None = None
    page_size: int = 500  # items per Scan page
    concurrency: int = 8  # segments scanned at once
    write_concurrency: int = 64  # rows written at once
    rows_per_second: float = 0


@dataclass(frozen=True)
class SegmentTask:
    table: str
    segment: int
    total: int
    start: dict[str, Any] | None = None  # ExclusiveStartKey to resume from


class ReverseContext:
    def __init__(self, spec: ReverseSpec) -> None:
        self.spec = spec
        self.mapping: Mapping = load_mapping(spec.mapping_path)
        self.tables = {f"{tm.keyspace}.{tm.table}": tm for tm in self.mapping.tables.values()}
        self.statements: dict[str, RowStatements] = {}
        self.source = CassandraSource(SourceOptions(spec.cassandra, spec.cassandra_username, spec.cassandra_password,
                                                    consistency=spec.consistency))
        self.client = DynamoDBClient(region=spec.dynamodb_region or self.mapping.region,
                                     endpoint=spec.dynamodb_endpoint or self.mapping.endpoint,
                                     max_connections=16)
        self.large: large_items.LargeItems | None = None
        if any(tm.large_items == "s3" for tm in self.mapping.tables.values()):
            from ..aws.s3_client import S3Client

            self.large = large_items.LargeItems(S3Client(region=self.client.region, endpoint=spec.s3_endpoint))
        self.rows = TokenBucket(spec.rows_per_second)
        self.writes = asyncio.Semaphore(max(1, spec.write_concurrency))

    def table_statements(self, table: str) -> RowStatements:
        rs = self.statements.get(table)
        if rs is None:
            rs = self.statements[table] = RowStatements(self.tables[table])
        return rs

    async def close(self) -> None:
        await self.client.close()
        if self.large is not None:
            await self.large.s3.close()
        self.source.close()

    # -- Cassandra ---------------------------------------------------------------------------------

    def bound(self, st: Stmt) -> BoundStatement:
        b = BoundStatement(self.source.prepare(st.cql))
        b.raw_values = list(st.values)
        b.values = [None if v is None else serialize(t, v) for t, v in zip(st.types, st.values, strict=True)]
        return b

    async def run(self, stmt: Any) -> list[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[Any]] = loop.create_future()
        rf = self.source.session.execute_async(stmt)
        rf.add_callbacks(lambda rows: loop.call_soon_threadsafe(_settle, fut, list(rows or ()), None),
                         lambda exc: loop.call_soon_threadsafe(_settle, fut, None, exc))
        return await fut


def row_of(tm: TableMapping, raw: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...], Any]:
    """(partition, clustering, state) of an item already resolved from S3; clustering () for a
    static row."""
    cols = tm.schema.columns
    part = keys.decode_partition([cols[c] for c in tm.schema.partition_key], raw[tm.pk.attribute], tm.pk.prefix)
    item = expand(from_wire(raw))
    clus = tuple(values.from_attribute(cols[c], item.get(tm.attribute_name(c))) for c in tm.schema.clustering_columns)
    if any(v is None for v in clus):
        clus = ()
    return part, clus, state_of(tm, item)


async def _list_matches(ctx: ReverseContext, rs: RowStatements, w: RowWrite, lw: ListWrite) -> bool:
    """Whether Cassandra's list already is DynamoDB's (a second run must not append it again)."""
    names = rs.pk + (rs.ck if w.clustering else ())
    where = " AND ".join(f"{quote_identifier(c)} = ?" for c in names)
    st = Stmt(f"SELECT {quote_identifier(lw.column)} FROM {rs.table} WHERE {where}",
              tuple(rs.cols[c] for c in names), (*w.partition, *w.clustering))
    rows = await ctx.run(ctx.bound(st))
    t = rs.cols[lw.column]
    raw = rows[0][0] if rows else None  # the session's rows are undecoded bytes (source.py)
    have = None if raw is None else decoder(t)(raw)
    if not have or lw.expected is None:
        return not have and lw.expected is None
    return values.values_equal(t, list(have), list(lw.expected))


async def write_row(ctx: ReverseContext, tm: TableMapping, w: RowWrite, rs: RowStatements) -> int:
    """Writes one row; returns how many statements ran (0: Cassandra already had it all)."""
    stmts = list(w.stmts)
    for lw in w.lists:
        if not await _list_matches(ctx, rs, w, lw):
            stmts.append(lw.stmt)
    if not stmts:
        return 0
    if len(stmts) == 1:
        stmt: Any = ctx.bound(stmts[0])
    else:
        stmt = BatchStatement(BatchType.UNLOGGED)
        for st in stmts:
            stmt.add(ctx.bound(st))
    delay = 0.1
    for attempt in range(1, ROW_ATTEMPTS + 1):
        try:
            await ctx.run(stmt)
            return len(stmts)
        except Exception as e:  # timeouts, unavailable: the statements are idempotent, so retry
            if attempt == ROW_ATTEMPTS or not cassandra_transient(e):
                raise
            log.warning("%s: row write failed (attempt %d): %s", tm.cql_name, attempt, e)
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)
    raise AssertionError("unreachable")


async def _copy_item(ctx: ReverseContext, tm: TableMapping, rs: RowStatements, raw: dict[str, Any], now: int,
                     stats: dict[str, Any]) -> None:
    async with ctx.writes:
        try:
            resolved = await large_items.load(raw, ctx.large)
            if resolved is None:
                return
            part, clus, state = row_of(tm, resolved)
            n = await write_row(ctx, tm, rs.row(part, clus, state, now), rs)
            stats["written" if n else "unchanged"] += 1
        except Exception as e:
            log.error("%s: an item could not be copied: %s", tm.cql_name, describe(e),
                      exc_info=log.isEnabledFor(logging.DEBUG))
            stats["failed"] += 1
            if len(stats["errors"]) < 5:
                stats["errors"].append(f"{tm.cql_name}: {describe(e)}")


async def restore_segment(ctx: ReverseContext, task: SegmentTask, emit: Emit) -> None:
    tm = ctx.tables[task.table]
    rs = ctx.table_statements(task.table)
    start = task.start
    total = failed = 0
    while True:
        req: dict[str, Any] = {"TableName": tm.dynamodb_table, "Segment": task.segment,
                               "TotalSegments": task.total, "ConsistentRead": True, "Limit": ctx.spec.page_size}
        if start:
            req["ExclusiveStartKey"] = start
        page = await ctx.client.scan(**req)
        items = [i for i in page.get("Items", []) if belongs(tm, i)]
        await ctx.rows.acquire(len(items))
        stats: dict[str, Any] = {"rows": len(items), "written": 0, "unchanged": 0, "failed": 0, "errors": []}
        now = int(time.time())
        await asyncio.gather(*(_copy_item(ctx, tm, rs, raw, now, stats) for raw in items))
        total += len(items)
        failed += stats["failed"]
        start = page.get("LastEvaluatedKey")
        # after a failed row the position is no longer recorded: the next run reads from the last good one
        emit({"kind": "page", "table": task.table, "segment": task.segment,
              "key": start if start and not failed else None, "rows": total, "stats": stats})
        if not start:
            break
    if failed:
        emit({"kind": "failed", "table": task.table, "segment": task.segment, "error": f"{failed} rows failed"})
    else:
        emit({"kind": "done", "table": task.table, "segment": task.segment, "rows": total})


async def run_segments(spec: ReverseSpec, tasks: list[SegmentTask], emit: Emit) -> None:
    try:
        ctx = ReverseContext(spec)
    except Exception as e:  # a store gone since the command's check: every segment fails with the reason
        why = describe(e)
        log.error("cannot start the copy: %s", why)
        for t in tasks:
            emit({"kind": "failed", "table": t.table, "segment": t.segment, "error": why})
        return
    try:
        sem = asyncio.Semaphore(max(1, spec.concurrency))

        async def one(t: SegmentTask) -> None:
            async with sem:
                try:
                    await restore_segment(ctx, t, emit)
                except Exception as e:
                    why = describe(e)
                    log.error("%s segment %d failed: %s", t.table, t.segment, why,
                              exc_info=log.isEnabledFor(logging.DEBUG))
                    emit({"kind": "failed", "table": t.table, "segment": t.segment, "error": why})

        await asyncio.gather(*(one(t) for t in tasks))
    finally:
        await ctx.close()
