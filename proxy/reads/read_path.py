"""Reads of mapped tables by phase: `verify` (Cassandra answers, DynamoDB read and compared
afterwards), `dynamo_fallback` (DynamoDB answers, a miss is read from Cassandra) and `dynamo`.

Phases `cassandra` and `dual_write` never reach past the phase lookup: their reads stay raw
frames. A read is routed by its table's phase and rollout share (proxy.routing).

Deadlines (proxy.deadline, `dynamodb_deadline` counted from the request's arrival): a `dynamo`
read that misses it gets READ_TIMEOUT; a `dynamo_fallback` read gives DynamoDB FALLBACK_SHARE of it
and then asks Cassandra, so the client still has its answer within the deadline; a verify
comparison gets a deadline of its own and counts as skipped when it misses it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cql_protocol.cql import ast as cql
from cql_protocol.cql import parse_cached
from cql_protocol.errors import CQLError, ReadFailure, ReadTimeout, ServerError
from cql_protocol.frame import Frame
from cql_protocol.messages import (
    Execute,
    Query,
    QueryParameters,
    Rows,
    decode_frame,
)
from cql_protocol.opcodes import Opcode
from cql_protocol.types import CqlType, deserialize
from translators import reads, values
from translators.mapping import Mapping, TableMapping

from ..deadline import Bounded, DeadlineExceeded, within
from ..routing import Route, effective_phase, route, table_bucket
from ..routing.request import Request
from .dynamo_reader import DynamoReader, is_empty, read
from .read_repair import ReadRepair

if TYPE_CHECKING:
    from ..session.session_port import Pending, ResponseHandler, SessionPort
    from ..writes.dual_write import DualWrite

log = logging.getLogger(__name__)

# dynamo_fallback: DynamoDB's part of the deadline; the rest is left for the read from Cassandra.
# A healthy DynamoDB answers in milliseconds, so half of the deadline only ever runs out when it is sick.
FALLBACK_SHARE = 0.5
READ_OPERATIONS = ("read", "fallback_read", "verify_read")  # cdp_deadline_exceeded_total{operation}


@dataclass
class TableReadStats:
    verified: int = 0
    mismatches: int = 0
    verify_skipped: int = 0  # not comparable (a later page, a scan page, untranslatable, overload)
    verify_settled: int = 0  # differed at first, agreed when read again (a write in between)
    dynamo_reads: int = 0
    fallback_misses: int = 0
    dynamo_errors: int = 0
    fallback_timeouts: int = 0  # dynamo_fallback reads answered by Cassandra: DynamoDB missed its share
    read_timeouts: int = 0  # dynamo reads answered READ_TIMEOUT


@dataclass
class ReadStats:
    tables: dict[str, TableReadStats] = field(default_factory=dict)
    samples: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))

    def of(self, tm: TableMapping) -> TableReadStats:
        st = self.tables.get(tm.cql_name)
        if st is None:
            st = self.tables[tm.cql_name] = TableReadStats()
        return st


@dataclass(frozen=True)
class ReadRequest:
    tm: TableMapping
    stmt: cql.Select
    params: QueryParameters
    bind_types: tuple[CqlType, ...] | None
    version: int
    arrived: float = 0.0  # time.monotonic() when the sidecar got it


class ReadPath:
    def __init__(self, mapping: Mapping, reader: DynamoReader, dual: DualWrite,
                 verify_sample: float = 100.0, verify_concurrency: int = 64,
                 repair: ReadRepair | None = None, deadline: float = 2.0) -> None:
        self.mapping = mapping
        self.repair = repair
        self.verify_sample = verify_sample
        self.reader = reader
        self.dual = dual  # phase lookup and the prepared statements seen
        self.deadline = deadline
        self.stats = ReadStats()
        for tm in mapping.tables.values():  # every table's series exported from the start, at 0
            self.stats.of(tm)
        self.deadline_exceeded = dict.fromkeys(READ_OPERATIONS, 0)
        self._verify_slots = verify_concurrency
        self.in_flight = 0

    # -- the mapped read path (proxy.routing.decide chose Action.READ) ---------------------------
    def for_read(self, s: SessionPort, req: Request) -> None:
        """Runs a read the decision gave the mapped path: served from DynamoDB (a task answers
        later), compared with it (verify), or forwarded to Cassandra as it came."""
        assert req.query is not None and req.table is not None
        tm = self.mapping.table(req.keyspace or "", req.table)
        stmt = _parse(req.query) if tm is not None else None
        f = req.frame
        if tm is None or not isinstance(stmt, cql.Select):
            s.forward(f, None)
            return
        env = decode_frame(f)
        msg = env.message
        if isinstance(msg, Query):
            rq = ReadRequest(tm, stmt, msg.params, None, f.version, time.monotonic())
        else:
            assert isinstance(msg, Execute) and req.prepared is not None
            rq = ReadRequest(tm, stmt, msg.params, req.prepared.bind_types, f.version, time.monotonic())
        r = self._route(s, rq)
        if r is None:
            s.forward(f, None)
        elif r is Route.VERIFY:
            s.forward(f, self._verify_after(rq))
        else:
            self.in_flight += 1
            asyncio.get_running_loop().create_task(self._serve(s, f, rq, r))

    def _route(self, s: SessionPort, rq: ReadRequest) -> Route | None:
        """Where this read goes: None for Cassandra, else VERIFY, FALLBACK or DYNAMO."""
        phase, share = self.dual.phase_of(rq.tm.keyspace, rq.tm.table)
        foreign_state = rq.params.paging_state is not None and not reads.is_own_paging_state(rq.params.paging_state)
        if share < 100.0:
            phase = effective_phase("read", phase, share, self._buckets(rq))
        r = route("read", phase)
        if r is Route.CASSANDRA or (foreign_state and s.has_cassandra):
            return None  # a page of a read Cassandra started stays with Cassandra
        if r is Route.VERIFY:
            if self.verify_sample < 100.0 and random.random() * 100.0 >= self.verify_sample:
                return None  # not sampled: a plain pass-through
            if rq.params.paging_state is not None:
                self.stats.of(rq.tm).verify_skipped += 1
                return None
        return r

    def _buckets(self, rq: ReadRequest) -> list[float] | None:
        try:
            plan = self._plan(rq)
        except CQLError:
            return None
        pks = reads.partition_keys(plan)
        if pks is None:
            return None
        return [table_bucket(rq.tm, pk) for pk in pks]

    def _plan(self, rq: ReadRequest) -> reads.ReadPlan:
        p = rq.params
        return reads.plan_select(rq.stmt, rq.tm, p.values or [], protocol_version=rq.version,
                                 page_size=p.page_size, paging_state=p.paging_state, now=int(time.time()),
                                 bind_types=rq.bind_types)

    async def _read(self, rq: ReadRequest) -> Rows:
        p = rq.params
        return await read(self.reader, rq.stmt, rq.tm, p.values or [], protocol_version=rq.version,
                          page_size=p.page_size, paging_state=p.paging_state, skip_metadata=p.skip_metadata,
                          bind_types=rq.bind_types)

    # -- dynamo_fallback and dynamo --------------------------------------------------------------
    async def _serve(self, s: SessionPort, f: Frame, rq: ReadRequest, r: Route) -> None:
        st = self.stats.of(rq.tm)
        fallback = r is Route.FALLBACK and s.has_cassandra
        due = rq.arrived + self.deadline * (FALLBACK_SHARE if fallback else 1.0)
        try:
            try:
                async with Bounded(due, "DynamoDB read"):
                    rows = await self._read(rq)
            except CQLError as e:
                s.reply_error(f.stream, e)  # untranslatable: the client must hear why
                return
            except DeadlineExceeded as e:
                if fallback and s.has_cassandra:
                    st.fallback_timeouts += 1
                    self.deadline_exceeded["fallback_read"] += 1
                    log.warning("%s: DynamoDB read missed its deadline, answered from Cassandra: %s",
                                rq.tm.cql_name, e)
                    s.forward(f, None)
                    return
                st.read_timeouts += 1
                self.deadline_exceeded["read"] += 1
                s.reply_error(f.stream, ReadTimeout(
                    f"{rq.tm.cql_name}: DynamoDB did not answer within the {self.deadline:g} s deadline ({e})",
                    consistency=rq.params.consistency, received=0, block_for=1, data_present=False))
                return
            except Exception as e:
                st.dynamo_errors += 1
                if r is Route.FALLBACK and s.has_cassandra:
                    log.warning("DynamoDB read failed, answered from Cassandra: %s", e)
                    s.forward(f, None)
                    return
                s.reply_error(f.stream, ReadFailure(f"{rq.tm.cql_name}: DynamoDB read failed ({e})"))
                return
            st.dynamo_reads += 1
            if r is Route.FALLBACK and is_empty(rows) and rq.params.paging_state is None \
                    and s.has_cassandra:
                st.fallback_misses += 1
                s.forward(f, self._repair_after(rq) if self.repair is not None else None)
                return
            s.send(rows, f.stream)
        finally:
            self.in_flight -= 1
            s.flush()

    def _repair_after(self, rq: ReadRequest) -> ResponseHandler:
        """The client gets Cassandra's answer; rows in it send the partitions to read repair."""
        def on_answer(s: SessionPort, r: Frame, p: Pending) -> None:
            s.relay(r, p.client_stream)
            repair = self.repair
            if repair is None or r.opcode != Opcode.RESULT or not _has_rows(r):
                return
            try:
                plan = self._plan(dataclasses.replace(rq, params=dataclasses.replace(rq.params, paging_state=None)))
            except CQLError:
                return
            repair.schedule(s, plan, rq.params.consistency)

        return on_answer

    # -- verify ----------------------------------------------------------------------------------
    async def _reread(self, s: SessionPort, request: Frame, rq: ReadRequest
                      ) -> tuple[list[list[bytes | None]], list[list[bytes | None]]] | None:
        theirs = await _cassandra_again(s, request)
        if theirs is None:
            return None
        try:
            async with within(self.deadline, "verify read"):
                ours = await self.reader.execute(self._plan(rq))
        except Exception:
            return None
        return theirs.rows, ours.rows

    def _verify_after(self, rq: ReadRequest) -> ResponseHandler:
        def on_answer(s: SessionPort, r: Frame, p: Pending) -> None:
            s.relay(r, p.client_stream)  # the client is answered first, untouched
            if r.opcode != Opcode.RESULT:
                return
            if self._verify_slots <= 0:
                self.stats.of(rq.tm).verify_skipped += 1
                return
            self._verify_slots -= 1
            asyncio.get_running_loop().create_task(self._verify(rq, r, s, p.request))

        return on_answer

    async def _verify(self, rq: ReadRequest, answer: Frame, s: SessionPort | None = None,
                      request: Frame | None = None) -> None:
        st = self.stats.of(rq.tm)
        try:
            env = decode_frame(answer)
            theirs = env.message
            if not isinstance(theirs, Rows):
                return
            q = dataclasses.replace(rq, params=dataclasses.replace(rq.params, skip_metadata=False))
            try:
                plan = self._plan(q)
                scan = any(seg.op == "Scan" or seg.index is not None for seg in plan.segments)
                # compare full results only: the first page of a scan is a different set of rows
                if theirs.metadata.paging_state is not None and scan:
                    st.verify_skipped += 1
                    return
                # a deadline of its own: the client has its answer already, but a hung DynamoDB
                # must not hold the comparison slots and pooled connections for minutes
                async with within(self.deadline, "verify read"):
                    ours = await self.reader.execute(plan)
            except DeadlineExceeded as e:
                st.verify_skipped += 1
                self.deadline_exceeded["verify_read"] += 1
                log.debug("verify read of %s missed its deadline: %s", rq.tm.cql_name, e)
                return
            except Exception as e:
                st.verify_skipped += 1
                log.debug("verify read of %s not comparable: %s", rq.tm.cql_name, e)
                return
            st.verified += 1
            columns = ours.metadata.columns or []
            diff = _difference(columns, theirs.rows, ours.rows, ordered=not scan, version=rq.version)
            if diff is not None and s is not None and request is not None:
                # a write between Cassandra's answer and the DynamoDB read (or one still on its way
                # to DynamoDB) looks like a difference: read both again before calling it one
                await asyncio.sleep(0.05)
                again = await self._reread(s, request, q)
                if again is not None:
                    diff = _difference(columns, again[0], again[1], ordered=not scan, version=rq.version)
                    if diff is None:
                        st.verify_settled += 1
            if diff is not None:
                st.mismatches += 1
                sample = {"table": rq.tm.cql_name, "statement": rq.stmt.to_cql(), "at": time.time(), **diff}
                self.stats.samples.append(sample)
                log.warning("verify: %s differs between Cassandra and DynamoDB: %s", rq.tm.cql_name, diff)
        finally:
            self._verify_slots += 1


async def _cassandra_again(s: SessionPort, request: Frame) -> Rows | None:
    """The same read sent again on the session's Cassandra connection."""
    if not s.has_cassandra:
        return None
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Frame] = loop.create_future()

    def got(_s: SessionPort, r: Frame, _p: Pending) -> None:
        if not fut.done():
            fut.set_result(r)

    s.inject(decode_frame(request).message, got)
    s.flush()
    try:
        r = await asyncio.wait_for(fut, 5.0)
    except TimeoutError:
        return None
    msg = decode_frame(r).message if r.opcode == Opcode.RESULT else None
    return msg if isinstance(msg, Rows) else None


def _has_rows(r: Frame) -> bool:
    msg = decode_frame(r).message
    return isinstance(msg, Rows) and bool(msg.rows)


def _decoded(columns: list[Any], row: list[bytes | None], version: int) -> tuple[Any, ...]:
    out = []
    for c, raw in zip(columns, row, strict=False):
        out.append(None if raw is None else deserialize(c.type, raw, version))
    return tuple(out)


def _difference(columns: list[Any], cassandra: list[list[bytes | None]], dynamo: list[list[bytes | None]],
                ordered: bool, version: int) -> dict[str, Any] | None:
    """None when both results hold the same rows; else what differs, for a sample."""
    if [list(r) for r in cassandra] == [list(r) for r in dynamo]:
        return None
    a = [_decoded(columns, r, version) for r in cassandra]
    b = [_decoded(columns, r, version) for r in dynamo]
    if not ordered:
        a.sort(key=repr)
        b.sort(key=repr)
    for i in range(max(len(a), len(b))):
        ra = a[i] if i < len(a) else None
        rb = b[i] if i < len(b) else None
        if ra is None or rb is None or not all(
                values.values_equal(c.type, x, y) for c, x, y in zip(columns, ra, rb, strict=False)):
            return {"row": i, "cassandra": _show(columns, ra), "dynamodb": _show(columns, rb),
                    "cassandra_rows": len(a), "dynamodb_rows": len(b)}
    return None


def _show(columns: list[Any], row: tuple[Any, ...] | None) -> dict[str, str] | None:
    if row is None:
        return None
    return {c.name: repr(v)[:200] for c, v in zip(columns, row, strict=False)}


def _parse(q: str) -> cql.Statement | None:
    try:
        return parse_cached(q)
    except CQLError:
        return None


__all__ = ["ReadPath", "ReadStats", "ServerError"]
