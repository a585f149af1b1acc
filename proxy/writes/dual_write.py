"""Dual writes (phases `dual_write` and `verify`): Cassandra stays authoritative; every write the
client makes to a mapped table is mirrored into DynamoDB once Cassandra has accepted it.

- Timestamps: the client's own (USING TIMESTAMP or the protocol's default timestamp), else one the
  sidecar assigns and also sends to Cassandra, so both stores resolve conflicts identically.
- LWT: Cassandra decides; only applied writes are mirrored.
- `sync` tables answer the client once DynamoDB has the write too, within the request deadline
  (proxy.deadline, counted from the request's arrival). If DynamoDB does not confirm in time the
  client gets WRITE_TIMEOUT, if it refuses WRITE_FAILURE; either way the write is in Cassandra and
  is recorded in the dead-letter file for `dead-letters replay` (a retry is safe for everything
  but counters). `queued` tables answer after Cassandra; the mirror goes through the journaled
  write queue.
- DynamoDB-first writes (`dynamo_fallback`, `dynamo`) that get no answer in time have an unknown
  outcome: the client gets WRITE_TIMEOUT, the write is recorded for replay (which makes it applied:
  last write wins makes that idempotent) and, in `dynamo_fallback`, still sent to Cassandra as its
  shadow. A conditional one cannot be replayed: it is recorded as unresolved, without a shadow.
- A statement the translator cannot express still reaches Cassandra (authoritative here); it is
  counted and logged with its reason, since DynamoDB will miss it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from cql_protocol.cql import ast as cql
from cql_protocol.cql import parse_cached
from cql_protocol.errors import CQLError, InvalidRequest, Unprepared, WriteFailure, WriteTimeout
from cql_protocol.frame import Frame
from cql_protocol.messages import (
    Batch,
    BatchType,
    Execute,
    Message,
    Prepared,
    Query,
    Rows,
    decode_frame,
    encode_envelope,
)
from cql_protocol.opcodes import Opcode
from cql_protocol.types import BOOLEAN, CqlType, deserialize
from translators import values
from translators.item_codec import to_item
from translators.keys import encode_partition
from translators.mapping import Mapping, TableMapping
from translators.pin_functions import pin
from translators.row_state import merge
from translators.statements import CounterWrite, RangeDelete, RowWrite, Untranslatable, Write, translate
from translators.write_codec import decode_write, encode_write

from ..aws.dynamodb_client import DynamoDBUnavailable
from ..aws.s3_client import S3Unavailable
from ..deadline import Bounded, DeadlineExceeded
from ..routing import (
    DYNAMO_AUTHORITATIVE,
    WRITING_PHASES,
    Route,
    effective_phase,
    table_bucket,
    write_route,
)
from ..routing.decide import WRITE_KINDS
from ..routing.request import PreparedStatement, Request
from . import dynamo_primary
from .dynamo_writer import DynamoWriter
from .journal import UNRESOLVED, DeadLetters
from .write_queue import TRANSLATED, WriteQueue

if TYPE_CHECKING:
    from ..session.session_port import Pending, ResponseHandler, SessionPort

log = logging.getLogger(__name__)

TAKEN = "taken"  # the request is answered by the sidecar (DynamoDB-authoritative); nothing to forward
# failures where no store answered: the write may have reached DynamoDB, and may still be applied
NO_ANSWER = (DeadlineExceeded, DynamoDBUnavailable, S3Unavailable)
# dead-letter origins (cdp_dead_letters_total{origin}) and deadline-bound operations
# (cdp_deadline_exceeded_total{operation}): every label set is exported from the start
DEAD_LETTER_ORIGINS = ("mirror", "authoritative", "unresolved")
WRITE_OPERATIONS = ("mirror_write", "authoritative_write")
SERIAL = 0x0008
_BATCH_WRITE_TYPES = {BatchType.LOGGED: "BATCH", BatchType.UNLOGGED: "UNLOGGED_BATCH", BatchType.COUNTER: "COUNTER",
                      cql.BatchKind.LOGGED: "BATCH", cql.BatchKind.UNLOGGED: "UNLOGGED_BATCH",
                      cql.BatchKind.COUNTER: "COUNTER"}


# what interception decides: forward this frame with this handler, TAKEN, or None (forward as is)
Intercepted: TypeAlias = "tuple[Frame, ResponseHandler] | str | None"


Parts: TypeAlias = "list[tuple[cql.Statement, list[Any], tuple[CqlType, ...] | None]]"


@dataclass(slots=True)
class WriteContext:
    """What a failure answer needs to know about the client's request, and its deadline."""

    message: Any  # Query, Execute or Batch
    parts: Parts
    lwt: bool
    due: float  # time.monotonic() by which the client must have its answer

    def shape(self, writes: list[Write]) -> tuple[int, str]:
        """(consistency, write_type) of a WRITE_TIMEOUT or WRITE_FAILURE, as Cassandra reports them."""
        msg = self.message
        if isinstance(msg, Batch):
            consistency, serial = msg.consistency, msg.serial_consistency
        else:
            consistency, serial = msg.params.consistency, msg.params.serial_consistency
        if self.lwt:  # Cassandra reports a Paxos timeout at the serial consistency
            return serial or SERIAL, "CAS"
        if isinstance(msg, Batch):
            return consistency, _BATCH_WRITE_TYPES[msg.batch_type]
        if len(self.parts) == 1 and isinstance(self.parts[0][0], cql.Batch):
            return consistency, _BATCH_WRITE_TYPES[self.parts[0][0].kind]
        if any(isinstance(w, CounterWrite) for w in writes):
            return consistency, "COUNTER"
        return consistency, "SIMPLE"


class DualWriteStats:
    def __init__(self) -> None:
        self.mirrored = 0
        self.skipped_lwt = 0
        self.untranslatable: dict[str, int] = {}
        self.failed = 0
        self.authoritative = 0  # writes DynamoDB decided
        self.shadow_failed = 0  # of those, the ones Cassandra then refused
        self.dead_letters: dict[tuple[str, str], int] = {}  # (table, origin) → writes recorded
        self.deadline_exceeded = dict.fromkeys(WRITE_OPERATIONS, 0)


class DualWrite:
    def __init__(self, mapping: Mapping, writer: DynamoWriter,
                 phase_lookup: Callable[[str, str], tuple[str, float]] | None = None,
                 deadline: float = 2.0, dead_letters: DeadLetters | None = None) -> None:
        self.mapping = mapping
        self.writer = writer
        self.phase_lookup = phase_lookup
        self.deadline = deadline  # seconds from a request's arrival to its answer (dynamodb_deadline)
        self.dead_letters = dead_letters
        # every id prepared through this sidecar; None: not a write to mirror
        self.prepared: dict[bytes, PreparedStatement | None] = {}
        self.stats = DualWriteStats()
        self.in_flight = 0
        self.queue: WriteQueue | None = None  # set when a table uses write_mode: queued

    def phase_of(self, keyspace: str, table: str) -> tuple[str, float]:
        """(phase, rollout share %) of a table: the run-time registry's, else the mapping's."""
        if self.phase_lookup is not None:
            return self.phase_lookup(keyspace, table)
        tm = self.mapping.table(keyspace, table)
        return (tm.phase, 100.0) if tm is not None else ("cassandra", 100.0)

    def mirrored(self, keyspace: str | None, table: str | None) -> TableMapping | None:
        """The mapping of a table whose writes must reach DynamoDB in its current phase."""
        if keyspace is None or table is None:
            return None
        tm = self.mapping.table(keyspace, table)
        if tm is None:
            return None
        phase, share = self.phase_of(keyspace, table)
        return tm if phase in WRITING_PHASES and (share > 0 or phase != "dual_write") else None

    def dynamo_decides(self, stmt: cql.Statement, session_keyspace: str | None) -> bool:
        """Whether some table of `stmt` is (even partly) in a phase where DynamoDB is authoritative."""
        if isinstance(stmt, cql.Batch):
            return any(self.dynamo_decides(x, session_keyspace) for x in stmt.statements)
        if isinstance(stmt, cql.Insert | cql.Update | cql.Delete):
            ks = stmt.keyspace or session_keyspace
            return ks is not None and self.phase_of(ks, stmt.table)[0] in DYNAMO_AUTHORITATIVE
        return False

    def write_phase(self, w: Write) -> str:
        tm = w.table
        phase, share = self.phase_of(tm.keyspace, tm.table)
        if share >= 100.0:
            return phase
        partition = w.partition if isinstance(w, RangeDelete) else w.key.partition
        return effective_phase("write", phase, share, [partition_bucket(tm, partition)])

    def resolver(self) -> Callable[[str | None, str], TableMapping | None]:
        def resolve(keyspace: str | None, table: str) -> TableMapping | None:
            return self.mirrored(keyspace, table)

        return resolve

    def touches_mirrored(self, stmt: cql.Statement, session_keyspace: str | None) -> bool:
        if isinstance(stmt, cql.Batch):
            return any(self.touches_mirrored(s, session_keyspace) for s in stmt.statements)
        if isinstance(stmt, cql.Insert | cql.Update | cql.Delete):
            return self.mirrored(stmt.keyspace or session_keyspace, stmt.table) is not None
        return False

    # -- the mapped write paths (proxy.routing.decide chose Action.WRITE or PREPARE) -------------
    def for_query(self, s: SessionPort, req: Request) -> Intercepted:
        q = req.query
        assert q is not None
        stmt = _parse(q)
        if stmt is None or not self.touches_mirrored(stmt, s.keyspace):
            return None
        f = req.frame
        env = decode_frame(f)
        assert isinstance(env.message, Query)
        pinned, changed = pin(stmt)
        if changed:
            # now(), uuid()...: the values the sidecar picks go to Cassandra in the statement text
            stmt = pinned
            env = dataclasses.replace(env, message=dataclasses.replace(env.message, query=pinned.to_cql()))
        msg = env.message
        assert isinstance(msg, Query)
        params = msg.params
        return self._prepare_mirror(s, f, env, [(stmt, params.values or [], None)], params.timestamp,
                                    reencode=changed)

    def for_prepare(self, s: SessionPort, req: Request) -> ResponseHandler:
        q = req.query
        assert q is not None
        kind = req.kind
        keyspace = s.keyspace

        def on_prepared(s2: SessionPort, r: Frame, p: Pending) -> None:
            s2.relay(r, p.client_stream)
            env = decode_frame(r)
            if isinstance(env.message, Prepared):
                if kind in WRITE_KINDS or kind == "SELECT":
                    types = tuple(c.type for c in env.message.metadata.columns)
                    self.remember(env.message.query_id, q, keyspace, types)
                else:
                    self.prepared[env.message.query_id] = None

        return on_prepared

    def remember(self, query_id: bytes, query: str, keyspace: str | None, bind_types: tuple[CqlType, ...]) -> None:
        self.prepared[query_id] = PreparedStatement.of(query, keyspace, bind_types)

    def for_execute(self, s: SessionPort, req: Request) -> Intercepted:
        pw = req.prepared
        assert pw is not None
        stmt = _parse(pw.query)
        if stmt is None or not self.touches_mirrored(stmt, pw.keyspace):
            return None
        f = req.frame
        env = decode_frame(f)
        assert isinstance(env.message, Execute)
        return self._prepare_mirror(s, f, env, [(stmt, env.message.params.values or [], pw.bind_types)],
                                    env.message.params.timestamp, keyspace=pw.keyspace)

    def for_write(self, s: SessionPort, req: Request) -> Intercepted:
        if req.opcode == Opcode.QUERY:
            return self.for_query(s, req)
        if req.opcode == Opcode.EXECUTE:
            return self.for_execute(s, req)
        return self.for_batch(s, req.frame)

    def for_batch(self, s: SessionPort, f: Frame) -> Intercepted:
        env = decode_frame(f)
        assert isinstance(env.message, Batch)
        parts: list[tuple[cql.Statement, list[Any], tuple[CqlType, ...] | None]] = []
        for bs in env.message.statements:
            if bs.query is not None:
                stmt = _parse(bs.query)
                types = None
            else:
                qid = bs.query_id or b""
                if qid not in self.prepared:
                    raise Unprepared(qid)
                pw = self.prepared[qid]
                stmt = _parse(pw.query) if pw is not None else None
                types = pw.bind_types if pw is not None else None
            if stmt is not None:
                parts.append((stmt, list(bs.values), types))
        if not any(self.touches_mirrored(st, s.keyspace) for st, _, _ in parts):
            return None
        return self._prepare_mirror(s, f, env, parts, env.message.timestamp)

    # -- the mirror ------------------------------------------------------------------------------
    def _prepare_mirror(self, s: SessionPort, f: Frame, env: Any,
                        parts: list[tuple[cql.Statement, list[Any], tuple[CqlType, ...] | None]],
                        client_ts: int | None, keyspace: str | None = None,
                        reencode: bool = False) -> Intercepted:
        lwt = any(_is_conditional(st) for st, _, _ in parts)
        own_ts = any(getattr(st, "timestamp", None) is not None for st, _, _ in parts)
        ts = client_ts
        forward = f
        if ts is None and not own_ts and not lwt:
            # the sidecar's timestamp, sent to Cassandra too: both stores order writes alike
            ts = time.time_ns() // 1000
            forward = _with_timestamp(env, ts, f, s.frame_compression)
        elif reencode:
            forward = encode_envelope(env, response=False, compress=s.frame_compression)
        if ts is None:
            ts = time.time_ns() // 1000  # LWT (Cassandra forbids custom timestamps): the sidecar's clock
        ks = keyspace or s.keyspace
        decides = any(self.dynamo_decides(st, ks) for st, _, _ in parts)
        writes: list[Write] = []
        try:
            for stmt, values, types in parts:
                writes.extend(translate(
                    stmt, resolve=self.resolver(), session_keyspace=ks, values=values,
                    protocol_version=f.version, timestamp=ts, now=int(time.time()), bind_types=types,
                ))
        except InvalidRequest as e:
            if decides:
                raise  # DynamoDB is authoritative: the client must hear why, nothing is dropped
            self.stats.untranslatable[e.message] = self.stats.untranslatable.get(e.message, 0) + 1
            log.warning("not mirrored to DynamoDB: %s", e.message)
            return None
        phases = [self.write_phase(w) for w in writes]
        writes = [w for w, ph in zip(writes, phases, strict=True) if ph != "cassandra"]
        cassandra_too = any(not self.touches_mirrored(st, ks) for st, _, _ in parts) or any(
            isinstance(st, cql.Batch) and not all(self.touches_mirrored(x, ks) for x in st.statements)
            for st, _, _ in parts)
        r = write_route([ph for ph in phases if ph != "cassandra"], cassandra_too)
        if r is Route.CASSANDRA or not writes:
            return None
        for w in writes:
            if isinstance(w, RowWrite):
                check_item_size(w)
        ctx = WriteContext(env.message, parts, lwt, time.monotonic() + self.deadline)
        if r is not Route.MIRROR:
            shadow: Frame | None = forward
            if lwt:
                shadow = self._lwt_shadow(s, f, env, parts, ts)
            atomic = (isinstance(env.message, Batch) and env.message.batch_type == BatchType.LOGGED) or (
                len(parts) == 1 and isinstance(parts[0][0], cql.Batch) and parts[0][0].kind is cql.BatchKind.LOGGED)
            self.in_flight += 1
            asyncio.get_running_loop().create_task(
                self._primary(s, f.stream, f.version, writes, r, shadow, atomic, ctx))
            return TAKEN

        def on_answer(s2: SessionPort, r: Frame, p: Pending) -> None:
            if not _succeeded(r, lwt):
                if lwt:
                    self.stats.skipped_lwt += 1
                s2.relay(r, p.client_stream)
                return
            self.in_flight += 1
            asyncio.get_running_loop().create_task(self._mirror(s2, r, p, writes, ctx))

        return forward, on_answer

    def _lwt_shadow(self, s: SessionPort, f: Frame, env: Any,
                    parts: list[tuple[cql.Statement, list[Any], tuple[CqlType, ...] | None]], ts: int) -> Frame:
        """Cassandra's copy of a conditional write DynamoDB applied: the same write, unconditional."""
        msg = env.message
        if len(parts) != 1 or isinstance(msg, Batch):
            tm = next((w for w in (self.mirrored(st.keyspace or s.keyspace, st.table)  # type: ignore[union-attr]
                                   for st, _, _ in parts if not isinstance(st, cql.Batch)) if w), None)
            raise Untranslatable(tm.cql_name if tm else "batch", "conditional batches cannot be decided by "
                                                                   "DynamoDB in this phase")
        query = dynamo_primary.shadow_query(parts[0][0], msg.params, ts)
        return encode_envelope(dataclasses.replace(env, message=query), response=False, compress=s.frame_compression)

    async def _primary(self, s: SessionPort, stream: int, version: int, writes: list[Write], r: Route,
                       shadow: Frame | None, atomic: bool, ctx: WriteContext) -> None:
        """DynamoDB decides; Cassandra gets the shadow afterwards (`dynamo_fallback`)."""
        done: list[Write] = []
        try:
            try:
                async with Bounded(ctx.due, "DynamoDB write"):
                    answer, applied = await dynamo_primary.apply(self.writer, writes, version, atomic, done)
            except CQLError as e:
                s.reply_error(stream, e)
                return
            except NO_ANSWER as e:
                self.stats.failed += 1
                self._unknown_outcome(s, stream, writes, done, r, shadow, ctx, e)
                return
            except Exception as e:  # the client must hear it: the write may not be in DynamoDB
                self.stats.failed += 1
                log.error("DynamoDB did not take an authoritative write: %s", e)
                consistency, write_type = ctx.shape(writes)
                s.reply_error(stream, WriteFailure(
                    f"DynamoDB did not take the write ({e}); nothing was sent to Cassandra",
                    consistency=consistency, received=0, block_for=1, num_failures=1, write_type=write_type))
                return
            self.stats.authoritative += 1
            if r is Route.SHADOW and applied and shadow is not None and s.has_cassandra:
                s.forward(dataclasses.replace(shadow, stream=stream), self._shadow_answered(answer))
            else:
                s.send(answer, stream)
        finally:
            self.in_flight -= 1
            s.flush()

    def _unknown_outcome(self, s: SessionPort, stream: int, writes: list[Write], done: list[Write], r: Route,
                         shadow: Frame | None, ctx: WriteContext, err: BaseException) -> None:
        """A DynamoDB-first write without an answer: it may be in DynamoDB, or land there later.
        The client hears WRITE_TIMEOUT (Cassandra's "maybe applied"); the write is recorded so that
        replay makes it applied, and Cassandra gets its shadow now, so the stores end up equal."""
        if isinstance(err, DeadlineExceeded):
            self.stats.deadline_exceeded["authoritative_write"] += 1
        consistency, write_type = ctx.shape(writes)
        name = writes[0].table.cql_name
        why = f"DynamoDB did not answer within the {self.deadline:g} s deadline" if isinstance(
            err, DeadlineExceeded) else "DynamoDB did not answer"
        if ctx.lwt:
            # the condition was judged against the row of that moment: replaying it later would
            # decide something else, and whether Cassandra needs the shadow is unknown
            if r is Route.SHADOW:
                for w in writes:
                    self._dead_letter(w, "unresolved", err, UNRESOLVED)
            log.error("%s: conditional write with unknown outcome in DynamoDB (%s)%s", name, err,
                      "; recorded as unresolved, no shadow sent to Cassandra" if r is Route.SHADOW else "")
            s.reply_error(stream, WriteTimeout(
                f"{name}: {why} ({err}); the conditional write may or may not have been applied",
                consistency=consistency, received=0, block_for=1, write_type=write_type))
            return
        confirmed = {id(w) for w in done}
        for w in writes:
            if id(w) not in confirmed:
                self._dead_letter(w, "authoritative", err)
        shadowed = r is Route.SHADOW and shadow is not None and s.has_cassandra
        log.error("%s: DynamoDB-first write with unknown outcome (%s); recorded for replay%s", name, err,
                  ", shadow sent to Cassandra" if shadowed else "")
        s.reply_error(stream, WriteTimeout(
            f"{name}: {why} ({err}); the write may have been applied: it is recorded for dead-letters replay"
            + (" and sent to Cassandra" if shadowed else ""),
            consistency=consistency, received=0, block_for=1, write_type=write_type))
        if shadowed:
            assert shadow is not None
            try:
                # on a stream of the sidecar's own: the client's stream already has its answer
                s.inject(decode_frame(shadow).message, self._late_shadow_answered)
            except Exception as e:
                self.stats.shadow_failed += 1
                log.warning("could not send the shadow of a write with unknown outcome: %s", e)

    def _late_shadow_answered(self, s: SessionPort, r: Frame, p: Pending) -> None:
        if r.opcode != 0x08:  # RESULT
            self.stats.shadow_failed += 1
            log.warning("Cassandra refused the shadow of a write with unknown outcome (opcode %d)", r.opcode)

    def _dead_letter(self, w: Write, origin: str, err: BaseException, operation: str = TRANSLATED) -> None:
        key = (w.table.cql_name, origin)
        self.stats.dead_letters[key] = self.stats.dead_letters.get(key, 0) + 1
        if self.dead_letters is None:
            log.error("%s: write not recorded (no dead-letter file): %s", w.table.cql_name, err)
            return
        try:
            self.dead_letters.record(w.table.cql_name, operation, encode_write(w), repr(err)[:1000], origin)
        except (OSError, ValueError, TypeError) as e:
            log.error("%s: could not record a write in %s: %s", w.table.cql_name, self.dead_letters.path, e)

    def _shadow_answered(self, answer: Message) -> ResponseHandler:
        def on_shadow(s2: SessionPort, r: Frame, p: Pending) -> None:
            if r.opcode != 0x08:  # RESULT
                self.stats.shadow_failed += 1
                log.warning("Cassandra refused the shadow of a write DynamoDB took (opcode %d)", r.opcode)
            s2.send(answer, p.client_stream)

        return on_shadow

    async def _mirror(self, s: SessionPort, r: Frame, p: Pending, writes: list[Write], ctx: WriteContext) -> None:
        try:
            queued = [w for w in writes if w.table.write_mode == "queued" and self.queue is not None]
            direct = [w for w in writes if not (w.table.write_mode == "queued" and self.queue is not None)]
            for w in queued:
                assert self.queue is not None
                # journaled before the client hears back: a crash replays it
                plain = _plain_put(w)
                if plain is not None:  # insert-only table: unconditional, batched 25 per call
                    await self.queue.enqueue(w.table.cql_name, "PutItem", plain, ctx.due)
                else:
                    await self.queue.enqueue(w.table.cql_name, TRANSLATED, encode_write(w), ctx.due)
                self.stats.mirrored += 1
            done = 0
            try:
                if direct:
                    async with Bounded(ctx.due, "DynamoDB mirror"):
                        for w in direct:
                            await self.apply_one(w)
                            done += 1
            except Exception as e:
                self._mirror_failed(s, p.client_stream, direct[done:], ctx, e)
                return
            s.relay(r, p.client_stream)
        except Exception as e:  # every failure must reach the client
            self.stats.failed += 1
            log.error("DynamoDB mirror failed after Cassandra accepted the write: %s", e)
            s.reply_error(p.client_stream, WriteFailure(
                f"written to Cassandra but not to DynamoDB ({e}); retrying the statement is safe "
                "except for counter updates"))
        finally:
            self.in_flight -= 1
            s.flush()

    def _mirror_failed(self, s: SessionPort, stream: int, pending: list[Write], ctx: WriteContext,
                       err: BaseException) -> None:
        """Cassandra has the write, DynamoDB did not confirm it: recorded for replay (or
        `validate --repair`), and the client hears which of the two happened."""
        self.stats.failed += 1
        for w in pending:
            self._dead_letter(w, "mirror", err)
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
        plain = _plain_put(w)
        if plain is not None:
            await self.writer.client.put_item(**plain)
        elif isinstance(w, RowWrite):
            await self.writer.apply_row(w.table, w.key.partition, w.key.clustering, w.mutation)
        elif isinstance(w, CounterWrite):
            await self.writer.apply_counter(w.table, w.key.partition, w.key.clustering, w.deltas)
        elif isinstance(w, RangeDelete):
            await self.writer.apply_range_delete(w)
        self.stats.mirrored += 1


def partition_bucket(tm: TableMapping, partition: tuple[Any, ...]) -> float:
    """The rollout bucket of a partition: a hash of its DynamoDB key, the same on every sidecar."""
    cols = tm.schema.columns
    attr = encode_partition([cols[c] for c in tm.schema.partition_key], partition, tm.pk.prefix,
                            dynamodb_type=tm.pk.dynamodb_type)
    return table_bucket(tm, attr)


def _plain_put(w: Write) -> dict[str, Any] | None:
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


_GROWING = frozenset({"overwrite", "add", "put", "append", "prepend", "set_index"})


class ItemTooLarge(InvalidRequest):
    pass


def check_item_size(w: RowWrite) -> None:
    """`large_items: reject`: refuse, before Cassandra sees it, a write whose values alone make
    an item over DynamoDB's 400 KB limit; the two stores would otherwise part ways."""
    tm = w.table
    if tm.large_items == "compress":
        _check_compressed_size(w)
        return
    if tm.large_items == "s3":
        return  # any size fits: the payload goes to S3 (bounded by the frame size limit)
    cols = tm.schema.columns
    size = 0
    for col, v in w.mutation.cells.items():
        attr = values.to_attribute(cols[col], v) if v is not None else None
        if attr is not None:
            size += len(tm.attribute_name(col).encode()) + values.attribute_size(attr)
    for col, op, payload in w.mutation.collection_ops:
        t = cols[col]
        if payload and op.partition(":")[2] in _GROWING:
            attr = values.to_attribute(t, dict(payload) if isinstance(payload, dict) else
                                       (payload if not isinstance(payload, tuple) else [payload[1]]))
            if attr is not None:
                size += len(tm.attribute_name(col).encode()) + values.attribute_size(attr)
    if size > values.MAX_ITEM_SIZE:
        raise ItemTooLarge(
            f"{tm.cql_name}: this write makes a DynamoDB item of at least {size} bytes, over the 400 KB "
            "item limit (the table's large_items policy is reject)"
        )


def _check_compressed_size(w: RowWrite) -> None:
    """`large_items: compress`: the values of this write, compressed, must fit in an item."""
    now = int(time.time())
    item = to_item(w.table, w.key.partition, w.key.clustering, merge(None, w.mutation, now), now)
    size = values.item_size(item)
    if size > values.MAX_ITEM_SIZE:
        raise ItemTooLarge(
            f"{w.table.cql_name}: this write makes a DynamoDB item of {size} bytes even compressed, over "
            "the 400 KB item limit (large_items: compress)"
        )


def _parse(q: str) -> cql.Statement | None:
    try:
        return parse_cached(q)
    except CQLError:
        return None  # Cassandra will give the client the right error


def _is_conditional(st: cql.Statement) -> bool:
    if isinstance(st, cql.Batch):
        return any(_is_conditional(x) for x in st.statements)
    return bool(getattr(st, "if_not_exists", False) or getattr(st, "if_exists", False)
                or getattr(st, "conditions", ()))


def _succeeded(r: Frame, lwt: bool) -> bool:
    if r.opcode != 0x08:  # RESULT
        return False
    if not lwt:
        return True
    env = decode_frame(r)
    rows = env.message
    if not isinstance(rows, Rows) or not rows.rows or not rows.metadata.columns:
        return False
    first = rows.metadata.columns[0]
    raw = rows.rows[0][0]
    return first.name == "[applied]" and raw is not None and bool(deserialize(BOOLEAN, raw))


def _with_timestamp(env: Any, ts: int, f: Frame, compress: str | None) -> Frame:
    msg = env.message
    if isinstance(msg, Batch):
        new_msg = dataclasses.replace(msg, timestamp=ts)
    else:
        new_msg = dataclasses.replace(msg, params=dataclasses.replace(msg.params, timestamp=ts))
    return encode_envelope(dataclasses.replace(env, message=new_msg), response=False, compress=compress)
