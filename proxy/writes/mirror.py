"""The mirror (phases `dual_write` and `verify`): once Cassandra has accepted a write, DynamoDB
gets it too, directly (`write_mode: sync`, the client hears back after both) or through the
journaled queue (`queued`, the client hears back once the write is journaled)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from cql_protocol.errors import WriteFailure, WriteTimeout
from cql_protocol.frame import Frame
from translators import values
from translators.item_codec import to_item
from translators.mapping import Mapping
from translators.row_state import merge
from translators.statements import RowWrite, Write
from translators.write_codec import decode_write, encode_write

from ..deadline import Bounded, DeadlineExceeded
from . import dynamo_primary
from .dynamo_writer import DynamoWriter
from .outcomes import DeadLetterSink, DualWriteStats, WriteContext
from .write_queue import TRANSLATED, WriteQueue

if TYPE_CHECKING:
    from ..session.session_port import Pending, SessionPort

log = logging.getLogger(__name__)


class Mirror:
    def __init__(self, mapping: Mapping, writer: DynamoWriter, stats: DualWriteStats,
                 dead_letters: DeadLetterSink, deadline: float) -> None:
        self.mapping = mapping
        self.writer = writer
        self.stats = stats
        self.dead_letters = dead_letters
        self.deadline = deadline
        self.queue: WriteQueue | None = None  # set when a table uses write_mode: queued

    async def run(self, s: SessionPort, r: Frame, p: Pending, writes: list[Write], ctx: WriteContext) -> None:
        """Mirrors `writes`, which Cassandra accepted with answer `r`, then relays `r` (or the failure)."""
        try:
            queue = self.queue
            queued = [w for w in writes if w.table.write_mode == "queued" and queue is not None]
            direct = [w for w in writes if not (w.table.write_mode == "queued" and queue is not None)]
            for w in queued:
                assert queue is not None
                # journaled before the client hears back: a crash replays it
                plain = plain_put(w)
                if plain is not None:  # insert-only table: unconditional, batched 25 per call
                    await queue.enqueue(w.table.cql_name, "PutItem", plain, ctx.due)
                else:
                    await queue.enqueue(w.table.cql_name, TRANSLATED, encode_write(w), ctx.due)
                self.stats.mirrored += 1
            done = 0
            try:
                if direct:
                    async with Bounded(ctx.due, "DynamoDB mirror"):
                        for w in direct:
                            await self.apply_one(w)
                            done += 1
            except Exception as e:
                self._failed(s, p.client_stream, direct[done:], ctx, e)
                return
            s.relay(r, p.client_stream)
        except Exception as e:  # every failure must reach the client
            self.stats.failed += 1
            log.error("DynamoDB mirror failed after Cassandra accepted the write: %s", e)
            s.reply_error(p.client_stream, WriteFailure(
                f"written to Cassandra but not to DynamoDB ({e}); retrying the statement is safe "
                "except for counter updates"))
        finally:
            self.stats.in_flight -= 1
            s.flush()

    def _failed(self, s: SessionPort, stream: int, pending: list[Write], ctx: WriteContext,
                err: BaseException) -> None:
        """Cassandra has the write, DynamoDB did not confirm it: recorded for replay (or
        `validate --repair`), and the client hears which of the two happened."""
        self.stats.failed += 1
        for w in pending:
            self.dead_letters.record(w, "mirror", err)
        consistency, write_type = ctx.shape(pending)
        name = pending[0].table.cql_name
        log.error("%s: DynamoDB mirror failed after Cassandra accepted the write (recorded for replay): %s",
                  name, err)
        # received/block_for: one of the two stores (Cassandra) acknowledged
        if isinstance(err, DeadlineExceeded):
            self.stats.deadline_exceeded["mirror_write"] += 1
            s.reply_error(stream, WriteTimeout(
                f"{name}: written to Cassandra but not confirmed by DynamoDB within the {self.deadline:g} s "
                f"deadline ({err}); the write is recorded for dead-letters replay. Retrying the statement is safe "
                "except for counter updates", consistency=consistency, received=1, block_for=2, write_type=write_type))
            return
        s.reply_error(stream, WriteFailure(
            f"{name}: written to Cassandra but not to DynamoDB ({err}); the write is recorded for dead-letters "
            "replay. Retrying the statement is safe except for counter updates",
            consistency=consistency, received=1, block_for=2, num_failures=1, write_type=write_type))

    async def apply_record(self, record: dict[str, Any]) -> None:
        """Applies one journaled write (see translators.write_codec)."""
        await self.apply([decode_write(record, self.mapping)])

    async def apply(self, writes: list[Write]) -> None:
        for w in writes:
            await self.apply_one(w)

    async def apply_one(self, w: Write) -> None:
        plain = plain_put(w)
        if plain is not None:
            await self.writer.client.put_item(**plain)
        else:
            await dynamo_primary.apply_one(self.writer, w)
        self.stats.mirrored += 1


def plain_put(w: Write) -> dict[str, Any] | None:
    """`write_condition: none` (insert-only tables): an INSERT becomes a whole-item PutItem with no
    read and no condition, which BatchWriteItem can group. Anything else still merges."""
    if not isinstance(w, RowWrite) or w.table.write_condition != "none":
        return None
    m = w.mutation
    if not m.row_marker or m.delete_row or any(not op.endswith(":overwrite") for _, op, _ in m.collection_ops):
        return None
    now = int(time.time())
    state = merge(None, m, now)
    item = to_item(w.table, w.key.partition, w.key.clustering, state, now)
    if w.table.large_items == "s3" and values.item_size(item) > values.MAX_ITEM_SIZE:
        return None  # its payload goes to S3 first: the writer's path (proxy.writes.large_items)
    return {"TableName": w.table.dynamodb_table, "Item": item}
