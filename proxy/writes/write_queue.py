"""Queued DynamoDB writes (`write_mode: queued`): the client is answered once Cassandra has the
write and the journal holds it; per-table workers then apply it to DynamoDB.

- Bounded: `enqueue` waits while a table's queue is full (backpressure on the writers). After
  `backpressure_timeout` the write goes to the dead-letter file instead, so the Cassandra path keeps
  serving through a DynamoDB outage; `repair` replays dead letters later.
- A write DynamoDB keeps refusing for `give_up_after` seconds (unreachable, throttled) or refuses
  outright (validation) is dead-lettered too. Nothing is dropped silently.
- A failed last-write-wins condition is success: a newer write is already there.
- Insert-only tables (`write_condition: none`) may group PutItems 25 to a BatchWriteItem.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..aws.dynamodb_client import (
    CREDENTIALS_REFUSED,
    ConditionalCheckFailed,
    DynamoDBClient,
    DynamoDBError,
    DynamoDBUnavailable,
)
from .journal import UNRESOLVED, DeadLetters, Entry, Journal
from .lww import WriteConflict

log = logging.getLogger(__name__)

TRANSLATED = "Write"  # journal operation of a translated CQL write (merged on apply)


@dataclass
class QueueSettings:
    capacity: int = 10000
    workers: int = 16
    backpressure_timeout: float = 2.0
    give_up_after: float = 300.0
    batch_writes: bool = False  # BatchWriteItem for unconditional PutItems


@dataclass
class TableQueueStats:
    applied: int = 0
    superseded: int = 0  # condition failed: a newer write was already in DynamoDB
    retries: int = 0
    dead_letters: int = 0
    oldest_enqueued: dict[int, float] = field(default_factory=dict)  # seq → monotonic time


class TableQueue:
    def __init__(self, name: str, settings: QueueSettings, owner: WriteQueue) -> None:
        self.name = name
        self.settings = settings
        self.owner = owner
        self.queue: asyncio.Queue[Entry] = asyncio.Queue(settings.capacity)
        self.stats = TableQueueStats()
        # a context of their own: the first enqueue may come from a request's task, whose deadline
        # (proxy.deadline) must not bind the workers for the rest of their life
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._worker(), context=contextvars.Context()) for _ in range(settings.workers)]

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    @property
    def lag_seconds(self) -> float:
        if not self.stats.oldest_enqueued:
            return 0.0
        return time.monotonic() - min(self.stats.oldest_enqueued.values())

    async def _worker(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            if self.settings.batch_writes and first.operation == "PutItem" and "ConditionExpression" not in first.request:
                while len(batch) < 25 and not self.queue.empty():
                    nxt = self.queue.get_nowait()
                    if nxt.operation != "PutItem" or "ConditionExpression" in nxt.request:
                        await self._apply_one(nxt)
                        self.queue.task_done()
                        continue
                    batch.append(nxt)
            try:
                if len(batch) > 1:
                    await self._apply_batch(batch)
                else:
                    await self._apply_one(first)
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _apply_one(self, e: Entry) -> None:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                if e.operation == TRANSLATED:
                    if self.owner.applier is None:
                        raise DynamoDBError("NoApplier", "translated writes need the mapping", 0)
                    await self.owner.applier(e.request)
                else:
                    await self.owner.client.call(e.operation, e.request)
                self.stats.applied += 1
                break
            except ConditionalCheckFailed:
                self.stats.superseded += 1
                break
            except (DynamoDBUnavailable, DynamoDBError, WriteConflict) as err:
                retryable = not isinstance(err, DynamoDBError) or err.retryable
                if not retryable or time.monotonic() - started > self.settings.give_up_after:
                    self._dead(e, repr(err))
                    break
                self.stats.retries += 1
                await asyncio.sleep(random.uniform(0, min(5.0, 0.1 * 2 ** min(attempt, 6))))
        self._done(e)

    async def _apply_batch(self, batch: list[Entry]) -> None:
        by_key = {i: e for i, e in enumerate(batch)}
        requests = [{"PutRequest": {"Item": e.request["Item"]}} for e in batch]
        table = batch[0].request["TableName"]
        started = time.monotonic()
        pending = list(range(len(batch)))
        attempt = 0
        while pending:
            attempt += 1
            try:
                resp = await self.owner.client.call(
                    "BatchWriteItem", {"RequestItems": {table: [requests[i] for i in pending]}}
                )
            except (DynamoDBUnavailable, DynamoDBError) as err:
                retryable = isinstance(err, DynamoDBUnavailable) or err.retryable
                if not retryable or time.monotonic() - started > self.settings.give_up_after:
                    for i in pending:
                        self._dead(by_key[i], repr(err))
                        self._done(by_key[i])
                    return
                self.stats.retries += 1
                await asyncio.sleep(random.uniform(0, min(5.0, 0.1 * 2 ** min(attempt, 6))))
                continue
            unprocessed = resp.get("UnprocessedItems", {}).get(table, [])
            # UnprocessedItems come back as the same request objects: match them by item
            left = [i for i in pending if requests[i] in unprocessed] if unprocessed else []
            for i in pending:
                if i not in left:
                    self.stats.applied += 1
                    self._done(by_key[i])
            pending = left
            if pending:
                self.stats.retries += 1
                await asyncio.sleep(random.uniform(0, min(5.0, 0.05 * 2 ** min(attempt, 6))))

    def _dead(self, e: Entry, why: str) -> None:
        log.error("DynamoDB write for %s dead-lettered (seq %d): %s", self.name, e.seq, why)
        self.owner.dead_letters.add(e, why)
        self.stats.dead_letters += 1

    def _done(self, e: Entry) -> None:
        self.stats.oldest_enqueued.pop(e.seq, None)
        self.owner.journal.mark_done(e.seq)


class WriteQueue:
    def __init__(self, client: DynamoDBClient, journal: Journal, dead_letters: DeadLetters,
                 settings: QueueSettings | None = None,
                 applier: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> None:
        self.client = client
        # applies TRANSLATED entries (a translated CQL write as a JSON record)
        self.applier = applier
        self.journal = journal
        self.dead_letters = dead_letters
        self.settings = settings or QueueSettings()
        self.tables: dict[str, TableQueue] = {}
        self._sync_task: asyncio.Task[None] | None = None

    def _table(self, name: str) -> TableQueue:
        q = self.tables.get(name)
        if q is None:
            q = self.tables[name] = TableQueue(name, self.settings, self)
        return q

    async def start(self) -> int:
        """Replays what the journal holds from before a restart; returns how many entries."""
        replay = self.journal.recover()
        for e in replay:
            q = self._table(e.table)
            q.stats.oldest_enqueued[e.seq] = time.monotonic()
            await q.queue.put(e)
        if replay:
            log.info("replaying %d journaled DynamoDB writes", len(replay))
        self._sync_task = asyncio.get_running_loop().create_task(self._sync_loop())
        return len(replay)

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            self.journal.sync()

    async def enqueue(self, table: str, operation: str, request: dict[str, Any], deadline: float | None = None) -> None:
        """Journals the write, then queues it; waits while the table's queue is full, at most
        `backpressure_timeout` and not past the client request's `deadline` (time.monotonic())."""
        entry = self.journal.append(table, operation, request)
        q = self._table(table)
        now = time.monotonic()
        q.stats.oldest_enqueued[entry.seq] = now
        try:
            q.queue.put_nowait(entry)
            return
        except asyncio.QueueFull:
            pass
        wait = self.settings.backpressure_timeout
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - now))
        try:
            await asyncio.wait_for(q.queue.put(entry), wait)
        except TimeoutError:
            q._dead(entry, "queue full: DynamoDB did not keep up within the backpressure timeout")
            q._done(entry)

    async def drain(self, timeout: float | None = None) -> bool:
        """Waits until every queued write is applied or dead-lettered."""
        try:
            await asyncio.wait_for(asyncio.gather(*(q.queue.join() for q in self.tables.values())), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        for q in self.tables.values():
            for t in q.tasks:
                t.cancel()
        if self._sync_task is not None:
            self._sync_task.cancel()
        self.journal.close()


async def replay_dead_letters(dead: DeadLetters, client: DynamoDBClient,
                              applier: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
                              forget_unresolved: bool = False) -> tuple[int, int, int]:
    """Applies every dead-lettered write again; keeps only those that still fail, and the
    unresolved ones (conditional writes of unknown outcome, which no replay can decide) unless
    `forget_unresolved`. Returns (applied or superseded, still failing, unresolved). When DynamoDB
    does not answer, or refuses the credentials, raises that error with every write from the first
    one it stopped kept."""
    records, read_size = dead.read_sized()
    still: list[dict[str, Any]] = []
    ok = unresolved = 0
    stopped: DynamoDBUnavailable | DynamoDBError | None = None
    for i, rec in enumerate(records):
        if rec["operation"] == UNRESOLVED:
            unresolved += 1
            if not forget_unresolved:
                still.append(rec)
            continue
        try:
            if rec["operation"] == TRANSLATED:
                if applier is None:
                    raise DynamoDBError("NoApplier", "translated writes need the mapping", 0)
                await applier(rec["request"])
            else:
                await client.call(rec["operation"], rec["request"])
            ok += 1
        except ConditionalCheckFailed:
            ok += 1
        except DynamoDBUnavailable as err:
            # every later write would wait out the same retries: keep them all for the next replay
            stopped = err
            still.extend(records[i:])
            break
        except DynamoDBError as err:
            if err.code in CREDENTIALS_REFUSED:  # so would every later write be
                stopped = err
                still.extend(records[i:])
                break
            rec["error"] = repr(err)
            still.append(rec)
        except Exception as err:  # kept for the next replay, whatever went wrong (a table gone, S3 down)
            rec["error"] = repr(err)
            still.append(rec)
    dead.rewrite(still, read_size)  # with what a running sidecar added meanwhile
    if stopped is not None:
        raise stopped
    return ok, len(still) - (0 if forget_unresolved else unresolved), unresolved
