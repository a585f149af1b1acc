"""Read repair of `dynamo_fallback` misses (`fallback_read_repair`): when DynamoDB had nothing and
Cassandra answered with rows, the partitions read are copied into DynamoDB the way the backfill
copies them: every cell with its WRITETIME and TTL, merged under last-write-wins, so a newer write
already in DynamoDB (or a tombstone) is never overwritten.

The partition is read on the client session's own Cassandra connection, after the client has its
answer; a partition of more than `MAX_ROWS` rows is left to the backfill (counted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cql_protocol.frame import Frame
from cql_protocol.messages import Query, QueryParameters, Rows, decode_frame
from cql_protocol.opcodes import Opcode
from cql_protocol.types import serialize
from translators import keys
from translators.mapping import TableMapping
from translators.reads import ReadPlan

from ..backfill.rows import RowDecodeError, ScanLayout
from ..writes.dynamo_writer import DynamoWriter

if TYPE_CHECKING:
    from ..session.session_port import Pending, SessionPort

log = logging.getLogger(__name__)

MAX_ROWS = 1000


@dataclass
class RepairStats:
    partitions: int = 0  # partitions read back from Cassandra for repair
    rows: int = 0  # row writes merged into DynamoDB
    skipped: int = 0  # too large, a counter table, or failed


class ReadRepair:
    def __init__(self, writer: DynamoWriter) -> None:
        self.writer = writer
        self.stats = RepairStats()
        self._layouts: dict[str, ScanLayout] = {}
        self.in_flight = 0

    def layout(self, tm: TableMapping) -> ScanLayout:
        lay = self._layouts.get(tm.cql_name)
        if lay is None:
            lay = self._layouts[tm.cql_name] = ScanLayout(tm)
        return lay

    def schedule(self, s: SessionPort, plan: ReadPlan, consistency: int) -> None:
        """Reads back, on `s`'s Cassandra connection, every partition `plan` named."""
        tm = plan.tm
        if tm.schema.is_counter_table() or not s.has_cassandra:
            self.stats.skipped += 1
            return
        from translators.reads import partition_keys

        pks = partition_keys(plan)
        if pks is None:
            self.stats.skipped += 1  # a scan: the backfill's job
            return
        lay = self.layout(tm)
        schema = tm.schema
        types = [schema.columns[c] for c in schema.partition_key]
        for attr in pks:
            values = keys.decode_partition(types, attr, tm.pk.prefix)
            params = QueryParameters(consistency=consistency,
                                     values=[serialize(t, v, s.version) for t, v in zip(types, values, strict=True)],
                                     page_size=MAX_ROWS)
            s.inject(Query(lay.partition_query, params), self._on_rows(tm))
        s.flush()

    def _on_rows(self, tm: TableMapping) -> Any:
        def answered(s: SessionPort, r: Frame, _p: Pending) -> None:
            if r.opcode != Opcode.RESULT:
                self.stats.skipped += 1
                return
            msg = decode_frame(r).message
            if not isinstance(msg, Rows) or msg.metadata.columns is None:
                return
            if msg.metadata.paging_state is not None:
                self.stats.skipped += 1  # a wide partition: left to the backfill
                return
            # decoded later, row by row with the mapping's types (as the backfill does): a row that
            # cannot be decoded is skipped alone, and nothing is decoded in the session's path
            rows = [list(row) for row in msg.rows]
            self.stats.partitions += 1
            self.in_flight += 1
            asyncio.get_running_loop().create_task(self._apply(tm, rows))

        return answered

    async def _apply(self, tm: TableMapping, rows: list[list[bytes | None]]) -> None:
        try:
            lay = self.layout(tm)
            now = int(time.time())
            seen_static = False
            for raw in rows:
                try:
                    works = lay.convert(lay.decode(raw), now, with_static=not seen_static)
                except RowDecodeError as e:  # the partition's other rows are still repaired
                    self.stats.skipped += 1
                    log.warning("read repair skipped a row: %s", e)
                    continue
                for work in works:
                    seen_static = seen_static or work.static
                    for m in work.mutations:
                        await self.writer.apply_row(tm, work.partition, work.clustering, m)
                    self.stats.rows += 1
        except Exception as e:  # repair is best effort: the read was already answered
            self.stats.skipped += 1
            log.warning("read repair of %s failed: %s", tm.cql_name, e)
        finally:
            self.in_flight -= 1
