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
from typing import TYPE_CHECKING, Any

from cql_protocol.cql import ast as cql
from cql_protocol.cql import parse_cached
from cql_protocol.errors import CQLError, InvalidRequest, Unprepared
from cql_protocol.frame import Frame
from cql_protocol.messages import (
    Batch,
    BatchType,
    Execute,
    Prepared,
    Query,
    Rows,
    decode_frame,
    encode_envelope,
)
from cql_protocol.opcodes import Opcode
from cql_protocol.types import BOOLEAN, CqlType, deserialize
from translators.keys import encode_partition
from translators.mapping import Mapping, TableMapping
from translators.pin_functions import pin
from translators.statements import RangeDelete, RowWrite, Untranslatable, Write, translate

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
from .authoritative import Authoritative
from .dynamo_writer import DynamoWriter
from .item_limits import check_item_size
from .journal import DeadLetters
from .mirror import Mirror
from .outcomes import DeadLetterSink, DualWriteStats, Parts, WriteContext
from .write_queue import WriteQueue

if TYPE_CHECKING:
    from ..session.session_port import Pending, ResponseHandler, SessionPort

log = logging.getLogger(__name__)

class DualWrite:
    def __init__(self, mapping: Mapping, writer: DynamoWriter,
                 phase_lookup: Callable[[str, str], tuple[str, float]] | None = None,
                 deadline: float = 2.0, dead_letters: DeadLetters | None = None) -> None:
        self.mapping = mapping
        self.writer = writer
        self.phase_lookup = phase_lookup
        self.deadline = deadline  # seconds from a request's arrival to its answer (dynamodb_deadline)
        # every id prepared through this sidecar; None: not a write to mirror
        self.prepared: dict[bytes, PreparedStatement | None] = {}
        self.stats = DualWriteStats()
        sink = DeadLetterSink(self.stats, dead_letters)
        self.mirror = Mirror(mapping, writer, self.stats, sink, deadline)
        self.authoritative = Authoritative(writer, self.stats, sink, deadline)
        self.apply_record = self.mirror.apply_record  # the journal's and dead-letters replay's applier

    @property
    def in_flight(self) -> int:
        return self.stats.in_flight

    @property
    def queue(self) -> WriteQueue | None:
        return self.mirror.queue

    @queue.setter
    def queue(self, q: WriteQueue | None) -> None:
        self.mirror.queue = q

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
    def for_query(self, s: SessionPort, req: Request) -> None:
        q = req.query
        assert q is not None
        stmt = _parse(q)
        if stmt is None or not self.touches_mirrored(stmt, s.keyspace):
            s.forward(req.frame, None)
            return
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
        self._prepare_mirror(s, f, env, [(stmt, params.values or [], None)], params.timestamp, reencode=changed)

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

    def for_execute(self, s: SessionPort, req: Request) -> None:
        pw = req.prepared
        assert pw is not None
        stmt = _parse(pw.query)
        if stmt is None or not self.touches_mirrored(stmt, pw.keyspace):
            s.forward(req.frame, None)
            return
        f = req.frame
        env = decode_frame(f)
        assert isinstance(env.message, Execute)
        self._prepare_mirror(s, f, env, [(stmt, env.message.params.values or [], pw.bind_types)],
                             env.message.params.timestamp, keyspace=pw.keyspace)

    def for_write(self, s: SessionPort, req: Request) -> None:
        """Runs a write the decision gave the mapped path: forwarded to Cassandra and mirrored,
        answered from DynamoDB, or forwarded as it came when nothing in it reaches DynamoDB."""
        if req.opcode == Opcode.QUERY:
            self.for_query(s, req)
        elif req.opcode == Opcode.EXECUTE:
            self.for_execute(s, req)
        else:
            self.for_batch(s, req.frame)

    def for_batch(self, s: SessionPort, f: Frame) -> None:
        env = decode_frame(f)
        assert isinstance(env.message, Batch)
        parts: Parts = []
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
            s.forward(f, None)
            return
        self._prepare_mirror(s, f, env, parts, env.message.timestamp)

    # -- the mirror ------------------------------------------------------------------------------
    def _prepare_mirror(self, s: SessionPort, f: Frame, env: Any,
                        parts: Parts,
                        client_ts: int | None, keyspace: str | None = None,
                        reencode: bool = False) -> None:
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
            s.forward(f, None)
            return
        phases = [self.write_phase(w) for w in writes]
        writes = [w for w, ph in zip(writes, phases, strict=True) if ph != "cassandra"]
        cassandra_too = any(not self.touches_mirrored(st, ks) for st, _, _ in parts) or any(
            isinstance(st, cql.Batch) and not all(self.touches_mirrored(x, ks) for x in st.statements)
            for st, _, _ in parts)
        r = write_route([ph for ph in phases if ph != "cassandra"], cassandra_too)
        if r is Route.CASSANDRA or not writes:
            s.forward(f, None)
            return
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
            self.stats.in_flight += 1
            asyncio.get_running_loop().create_task(
                self.authoritative.run(s, f.stream, f.version, writes, r, shadow, atomic, ctx))
            return

        def on_answer(s2: SessionPort, r: Frame, p: Pending) -> None:
            if not _succeeded(r, lwt):
                if lwt:
                    self.stats.skipped_lwt += 1
                s2.relay(r, p.client_stream)
                return
            self.stats.in_flight += 1
            asyncio.get_running_loop().create_task(self.mirror.run(s2, r, p, writes, ctx))

        s.forward(forward, on_answer)

    def _lwt_shadow(self, s: SessionPort, f: Frame, env: Any,
                    parts: Parts, ts: int) -> Frame:
        """Cassandra's copy of a conditional write DynamoDB applied: the same write, unconditional."""
        msg = env.message
        if len(parts) != 1 or isinstance(msg, Batch):
            tm = next((w for w in (self.mirrored(st.keyspace or s.keyspace, st.table)  # type: ignore[union-attr]
                                   for st, _, _ in parts if not isinstance(st, cql.Batch)) if w), None)
            raise Untranslatable(tm.cql_name if tm else "batch", "conditional batches cannot be decided by "
                                                                   "DynamoDB in this phase")
        query = dynamo_primary.shadow_query(parts[0][0], msg.params, ts)
        return encode_envelope(dataclasses.replace(env, message=query), response=False, compress=s.frame_compression)


def partition_bucket(tm: TableMapping, partition: tuple[Any, ...]) -> float:
    """The rollout bucket of a partition: a hash of its DynamoDB key, the same on every sidecar."""
    cols = tm.schema.columns
    attr = encode_partition([cols[c] for c in tm.schema.partition_key], partition, tm.pk.prefix,
                            dynamodb_type=tm.pk.dynamodb_type)
    return table_bucket(tm, attr)


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
