"""Range tasks: what one process (the CLI, a worker process, a Spark task) does with a list of token
ranges, and the events it reports back (pages written, ranges done or failed, differences found)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from translators.mapping import Mapping, TableMapping, load_mapping

from ..aws.dynamodb_client import DynamoDBClient
from ..writes import large_items
from .failures import cassandra_transient, describe
from .ranges import TokenRange
from .rows import RowDecodeError, RowWork, ScanLayout
from .writer import BatchWriter, WriteStats

log = logging.getLogger(__name__)

Event = dict[str, Any]
Emit = Callable[[Event], None]
PAGE_ATTEMPTS = 6


@dataclass
class JobSpec:
    """Everything a process needs to run range tasks (picklable: it travels to workers and Spark
    executors). The password is never logged or written to the ledger."""

    command: str  # backfill | validate
    mapping_path: str
    cassandra: str = "127.0.0.1:9042"
    cassandra_username: str | None = None
    cassandra_password: str | None = field(default=None, repr=False)
    consistency: str = "LOCAL_QUORUM"
    dynamodb_endpoint: str | None = None
    dynamodb_region: str | None = None
    s3_endpoint: str | None = None
    page_size: int = 1000
    concurrency: int = 8  # ranges at once in one process
    write_concurrency: int = 64  # DynamoDB writes at once in one process
    rows_per_second: float = 0  # for this process (the CLI divides the total by the workers)
    write_units_per_second: float = 0
    repair: bool = False  # validate: write Cassandra's version of what differs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Task:
    table: str  # the mapping's keyspace.table
    range: str  # TokenRange id
    state: str | None = None  # hex paging state to resume from


def table_name(tm: TableMapping) -> str:
    return f"{tm.keyspace}.{tm.table}"


class Context:
    """One process's connections: a driver session, a DynamoDB client, S3 for large items."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.mapping: Mapping = load_mapping(spec.mapping_path)
        self.tables = {table_name(tm): tm for tm in self.mapping.tables.values()}
        self.layouts: dict[str, ScanLayout] = {}
        from .source import CassandraSource, SourceOptions  # the driver loads only when needed

        self.source = CassandraSource(SourceOptions(spec.cassandra, spec.cassandra_username, spec.cassandra_password,
                                                    page_size=spec.page_size, consistency=spec.consistency))
        self.client = DynamoDBClient(region=spec.dynamodb_region or self.mapping.region,
                                     endpoint=spec.dynamodb_endpoint or self.mapping.endpoint,
                                     max_connections=max(16, spec.write_concurrency))
        self.large: large_items.LargeItems | None = None
        if any(tm.large_items == "s3" for tm in self.mapping.tables.values()):
            from ..aws.s3_client import S3Client

            self.large = large_items.LargeItems(S3Client(region=self.client.region, endpoint=spec.s3_endpoint))
        self.writer = BatchWriter(self.client, large=self.large, rows_per_second=spec.rows_per_second,
                                  write_units_per_second=spec.write_units_per_second,
                                  concurrency=spec.write_concurrency)

    async def read_row(self, table: str, w: RowWork) -> list[RowWork]:
        """Cassandra's current version of `w`'s row (its static row for a static work)."""
        lay = self.layout(table)
        if w.static:
            rows = await self.source.execute_all(lay.partition_query + " LIMIT 1", w.partition,
                                                 lay.partition_types)
        else:
            rows = await self.source.execute_all(lay.row_query, w.partition + w.clustering, lay.row_types)
        now = int(time.time())
        return [x for row in rows for x in lay.convert(lay.decode(row), now, with_static=w.static)
                if x.static == w.static]

    def layout(self, table: str) -> ScanLayout:
        lay = self.layouts.get(table)
        if lay is None:
            lay = self.layouts[table] = ScanLayout(self.tables[table])
        return lay

    async def close(self) -> None:
        await self.client.close()
        if self.large is not None:
            await self.large.s3.close()
        self.source.close()


async def fetch_page(ctx: Context, tm: TableMapping, cql: str, params: tuple[Any, ...], host: Any,
                     state: bytes | None) -> tuple[list[Any], bytes | None]:
    """One page of a range scan, retried with backoff (the replica first, then any node) when the
    error may pass: a missing table, a refused permission or an undecodable value fails at once."""
    delay = 0.2
    for attempt in range(1, PAGE_ATTEMPTS + 1):
        try:
            return await ctx.source.execute(cql, params, host=host, paging_state=state)
        except Exception as e:  # driver errors have no common base worth naming here
            if attempt == PAGE_ATTEMPTS or not cassandra_transient(e):
                raise
            log.warning("%s: page read failed (attempt %d): %s", tm.cql_name, attempt, e)
            host = None
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)
    raise AssertionError("unreachable")


async def backfill_range(ctx: Context, task: Task, emit: Emit) -> None:
    tm = ctx.tables[task.table]
    lay = ctx.layout(task.table)
    r = TokenRange.parse(task.range)
    host = ctx.source.replica(tm.keyspace, r)
    state = bytes.fromhex(task.state) if task.state else None
    last_static: tuple[Any, ...] | None = None
    total = 0
    failed = 0
    while True:
        rows, nxt = await fetch_page(ctx, tm, lay.range_query, (r.start, r.end), host, state)
        now = int(time.time())
        works = []
        bad: list[RowDecodeError] = []
        for row in rows:
            # a partition's static values repeat on each of its rows: converted once per partition
            first = False
            if lay.has_static:
                pkey = tuple(row[i] for i in lay.pk_at)
                first = pkey != last_static
                last_static = pkey
            try:
                works.extend(lay.convert(lay.decode(row), now, with_static=first))
            except RowDecodeError as e:  # this row alone fails; reading it again would not help
                log.warning("%s", e)
                bad.append(e)
                if first:
                    last_static = None  # the partition's next row carries its static values
        stats = WriteStats()
        stats.failed = len(bad)
        stats.errors = [str(e) for e in bad[:50]]
        source = _source_of(ctx, task.table)
        created = await ctx.writer.write(tm, works, stats, source=source)
        if created:
            await settle_created(ctx, task.table, created, stats)
        total += len(rows)
        failed += stats.failed
        page_stats = {"rows": len(rows), "written": stats.written, "unchanged": stats.unchanged,
                      "conflicts": stats.conflicts, "write_units": stats.write_units, "failed": stats.failed,
                      "errors": stats.errors}
        # a page with failed rows must be read again by the next run: its state is not recorded
        emit({"kind": "page", "table": task.table, "range": task.range,
              "state": nxt.hex() if nxt and not failed else None, "rows": total, "stats": page_stats})
        if not nxt:
            break
        state = nxt
    if failed:
        emit({"kind": "failed", "table": task.table, "range": task.range, "error": f"{failed} rows failed"})
    else:
        emit({"kind": "done", "table": task.table, "range": task.range, "rows": total})


def _source_of(ctx: Context, table: str) -> Callable[[RowWork], Any]:
    async def read(w: RowWork) -> list[RowWork]:
        return await ctx.read_row(table, w)
    return read


async def settle_created(ctx: Context, table: str, created: list[RowWork], stats: WriteStats) -> None:
    """Rows this page created in DynamoDB, checked against Cassandra after the write.

    A range or partition delete that Cassandra took after the page was read is mirrored by
    tombstoning the items DynamoDB has when the mirror looks; an item created after that look would
    survive it. Reading Cassandra again *after* the write closes the gap: either the delete is
    visible now (the row is gone: `converge` tombstones the item at its own newest timestamp), or
    it reaches Cassandra later and so its mirror comes after our write and finds the item."""
    tm = ctx.tables[table]
    lay = ctx.layout(table)
    present = await _present_keys(ctx, lay, created)
    gone = [w for w in created if _key_of(w) not in present]
    source = _source_of(ctx, table)
    for w in gone:
        try:
            await ctx.writer.converge(tm, w, source, stats, first=None)
        except Exception as e:  # reported like any row that could not be written
            stats.failed += 1
            stats.errors.append(f"{tm.cql_name} {w.partition + w.clustering!r}: {e}")


def _key_of(w: RowWork) -> tuple[Any, ...]:
    return (w.partition, "static" if w.static else w.clustering)


async def _present_keys(ctx: Context, lay: ScanLayout, created: list[RowWork]) -> set[tuple[Any, ...]]:
    """Keys (as `_key_of`) of the created rows that Cassandra still shows."""
    first, last = min(w.token for w in created), max(w.token for w in created)
    present: set[tuple[Any, ...]] = set()

    def note(rows: list[Any]) -> None:
        for row in rows:
            part, clus = lay.key_values(lay.decode_keys(row))
            if clus is not None:
                present.add((part, clus))
            if any(row[i] is not None for i in lay.static_at):
                present.add((part, "static"))

    if first < last:
        # partitions strictly inside the page's span were read whole by this page: bounded
        note(await ctx.source.execute_all(lay.keys_between, (first, last)))
    # the partitions at both ends may go on beyond the page: only the created rows' slice
    edges: dict[tuple[Any, ...], list[RowWork]] = {}
    for w in created:
        if w.token in (first, last):
            edges.setdefault(w.partition, []).append(w)
    for part, ws in edges.items():
        rows_ck = [w.clustering for w in ws if not w.static and w.clustering]
        if lay.ck_names and rows_ck:
            lo, hi = rows_ck[0], rows_ck[-1]  # the page is in clustering order
            note(await ctx.source.execute_all(lay.keys_of_partition, part + lo + hi, lay.slice_types))
        elif not lay.ck_names:
            note(await ctx.source.execute_all(lay.keys_of_partition, part, lay.partition_types))
        if any(w.static for w in ws):
            note(await ctx.source.execute_all(lay.static_of_partition, part, lay.partition_types))
    return present


async def run_tasks(spec: JobSpec, tasks: list[Task], emit: Emit) -> None:
    """Runs `tasks` `spec.concurrency` at a time; every outcome is reported through `emit`."""
    try:
        ctx = Context(spec)
    except Exception as e:  # a store gone since the command's check: every task fails with the reason
        why = describe(e)
        log.error("cannot start the range tasks: %s", why)
        for t in tasks:
            emit({"kind": "failed", "table": t.table, "range": t.range, "error": why})
        return
    try:
        if spec.command == "validate":
            from .validate import validate_range

            run: Callable[[Context, Task, Emit], Any] = validate_range
        else:
            run = backfill_range
        sem = asyncio.Semaphore(max(1, spec.concurrency))

        async def one(t: Task) -> None:
            async with sem:
                try:
                    await run(ctx, t, emit)
                except Exception as e:
                    # one line: the summary lists the failed ranges; the stack only with debug logging
                    why = describe(e)
                    log.error("%s range %s failed: %s", t.table, t.range, why,
                              exc_info=log.isEnabledFor(logging.DEBUG))
                    emit({"kind": "failed", "table": t.table, "range": t.range, "error": why})

        await asyncio.gather(*(one(t) for t in tasks))
    finally:
        await ctx.close()


def run_in_process(spec: JobSpec, tasks: list[Task], emit: Emit) -> None:
    try:
        import uvloop

        uvloop.run(run_tasks(spec, tasks, emit))
    except ImportError:
        asyncio.run(run_tasks(spec, tasks, emit))
