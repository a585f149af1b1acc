"""The request-path side of the assessment: one call per request on a mapped table (`observe`),
which counts it under its statement shape and, for a sample, works out how DynamoDB would serve it
and what it would cost (translators.assess). Reads forwarded to Cassandra get their rows counted
and sized on the way back.

Cost on the request path: a dictionary lookup and a few additions for a request that is not
sampled (shapes are found by prepared id or statement text, remembered); a sampled one decodes its
values and runs the translator, about what the `dual_write` phase does for every write.
"""

from __future__ import annotations

import logging
import random
import re
import time
from typing import TYPE_CHECKING, Any

from cql_protocol.cql import ast as cql
from cql_protocol.cql import parse_cached
from cql_protocol.errors import CQLError
from cql_protocol.frame import Frame
from cql_protocol.messages import Batch, BatchType, Execute, Query, Rows, decode_frame
from cql_protocol.opcodes import Opcode
from translators.assess import serving
from translators.assess.items import row_item
from translators.assess.shapes import normalise
from translators.assess.stats import OTHER, ShapeStats, TableStats
from translators.mapping import Mapping, TableMapping
from translators.reads import partition_keys

from ..routing.decide import Action
from ..routing.request import Request

if TYPE_CHECKING:
    from ..session.session_port import Pending, ResponseHandler, SessionPort

log = logging.getLogger(__name__)

_QUERY, _EXECUTE, _BATCH = int(Opcode.QUERY), int(Opcode.EXECUTE), int(Opcode.BATCH)
_KINDS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "BATCH"})
FIRST_SAMPLED = 3  # the first requests of every shape are sampled, so each shape gets its figures
ROWS_SIZED = 100  # rows of one sampled result rebuilt as items; the others count at their mean
MAX_REMEMBERED = 20000
# a cheap pre-shape of a statement text: quoted strings and number-like runs (numbers, uuids, blobs),
# never digits inside a name (ks.t1 and ks.t2 must not share a key)
_literals = re.compile(r"'[^']*'|(?<![\w\"])[0-9][0-9a-fA-Fx.+-]*")  # statement texts and ids remembered; beyond, the memory starts over


class _Entry:
    """A statement text or prepared id already seen: its table and shape."""

    __slots__ = ("shape", "table", "text", "tm")

    def __init__(self, table: TableStats, tm: TableMapping, shape: ShapeStats, text: str) -> None:
        self.table = table
        self.tm = tm
        self.shape = shape
        self.text = text


_UNSEEN = _Entry.__new__(_Entry)  # not looked up yet (None: looked up, not a mapped table)


class Assessor:
    def __init__(self, mapping: Mapping, *, sample_percent: float, max_shapes: int = 50, window: float = 86400.0,
                 bucket_seconds: int = 60, sidecar_id: str = "",
                 conditional_check: serving.ConditionalCheck | None = None) -> None:
        self.mapping = mapping
        self.period = max(1, round(100.0 / sample_percent))
        self.sample_percent = sample_percent
        self.max_shapes = max_shapes
        self.window = window
        self.sidecar_id = sidecar_id
        self.conditional_check = conditional_check
        self.started = time.time()
        self.tables: dict[tuple[str, str], TableStats] = {
            key: TableStats(tm.cql_name, tm.dynamodb_table, tm.large_items, len(tm.indexes), bucket_seconds)
            for key, tm in mapping.tables.items()}
        self._known: dict[Any, _Entry | None] = {}
        self._batches = 0
        self._second = 0
        self._partitions: dict[tuple[str, str], list[float]] = {}  # (table, key) → units this second
        self._rng = random.Random(0)
        self.errors = 0  # sampled requests the assessment could not work out (logged once each kind)

    # -- the request path -----------------------------------------------------------------------
    def observe(self, s: SessionPort, req: Request, action: Action) -> ResponseHandler | None:
        """Counts `req`; a sampled read that Cassandra answers comes back with the handler that
        sizes its rows (the caller forwards the request with it)."""
        op = req.opcode
        if op == _BATCH or req.kind == "BATCH":
            self._batch(s, req)
            return None
        if (req.keyspace, req.table) not in self.tables:
            return None  # a table outside the mapping: nothing more to do
        if op == _EXECUTE:
            key: Any = req.query_id
        elif op == _QUERY and req.query is not None:
            # statements with their values inline: texts that differ only in literals share a
            # key, so the full normalisation runs once per shape, not once per request
            key = _literals.sub("?", req.query)
        else:
            return None
        e = self._known.get(key, _UNSEEN)
        if e is _UNSEEN:
            e = self._learn(key, req)
        if e is None:
            return None
        shape = e.shape
        shape.count += 1
        now = time.time()
        sampled = shape.count <= FIRST_SAMPLED or shape.count % self.period == 0
        e.table.add_to_bucket(now, shape.mean_rcu, shape.mean_wcu)
        if not sampled:
            return None
        try:
            return self._sample(s, req, e, now, action)
        except (CQLError, ValueError, KeyError, TypeError) as exc:
            self._failed(e.table.table, exc)
            return None

    def passes(self, keyspace: str | None, table: str | None, query_id: bytes, ahead: int = 0) -> bool:
        """For the pass lane: whether an EXECUTE it would forward as it came needs no more than
        counting (count_passed), with `ahead` more of its kind already let through and not yet
        counted; False when observe() must see it (a shape not learned yet, or one to sample)."""
        if (keyspace, table) not in self.tables:
            return True
        e = self._known.get(query_id, _UNSEEN)
        if e is None:
            return True
        if e is _UNSEEN:
            return False
        n = e.shape.count + ahead + 1
        return n > FIRST_SAMPLED and n % self.period != 0

    def count_passed(self, query_id: bytes, n: int) -> None:
        """Counts `n` requests the lane let through after passes(), as observe() counts them."""
        e = self._known.get(query_id)
        if e is None or e is _UNSEEN:
            return  # a table outside the mapping, or a statement with nothing to assess
        shape = e.shape
        shape.count += n
        now = time.time()
        for _ in range(n):
            e.table.add_to_bucket(now, shape.mean_rcu, shape.mean_wcu)

    def _learn(self, key: Any, req: Request) -> _Entry | None:
        if len(self._known) >= MAX_REMEMBERED:
            self._known.clear()
        e: _Entry | None = None
        if req.kind in _KINDS and req.table is not None and req.keyspace is not None and req.query is not None:
            tm = self.mapping.table(req.keyspace, req.table)
            t = self.tables.get((req.keyspace, req.table))
            if tm is not None and t is not None:
                text = normalise(req.query)
                e = _Entry(t, tm, self._shape(t, text, "read" if req.kind == "SELECT" else "write"), text)
        self._known[key] = e
        return e

    def _shape(self, t: TableStats, text: str, kind: str) -> ShapeStats:
        s = t.shapes.get(text)
        if s is None:
            if len(t.shapes) >= self.max_shapes:
                text = OTHER
                s = t.shapes.get(text)
            if s is None:
                s = t.shapes[text] = ShapeStats(kind)
        return s

    # -- sampled requests -----------------------------------------------------------------------
    def _sample(self, s: SessionPort, req: Request, e: _Entry, now: float, action: Action) -> ResponseHandler | None:
        assert req.query is not None
        stmt = parse_cached(req.query)  # (inline values differ from one request to the next)
        msg = decode_frame(req.frame).message
        assert isinstance(msg, Query | Execute)
        params = msg.params
        values = params.values or []
        ps = req.prepared
        types = ps.bind_types if ps is not None else None
        if isinstance(stmt, cql.Select):
            if action is not Action.FORWARD:  # DynamoDB answers it: its rows are not seen here
                return None
            c = serving.plan_read(stmt, e.tm, values, version=req.frame.version, page_size=params.page_size,
                                  bind_types=types, now=int(now))
            if c.plan is None:  # refused: DynamoDB would not be asked at all
                e.shape.add_sample(c)
                return None
            return self._on_rows(e, c, now)
        session_ks = ps.keyspace if ps is not None else s.keyspace
        c = serving.plan_write([(stmt, values, types)], self._resolve, session_keyspace=session_ks,
                               version=req.frame.version, timestamp=int(now * 1e6), now=int(now),
                               conditional_check=self.conditional_check)
        self._written(e.table, e.shape, c, now)
        return None

    def _written(self, t: TableStats, shape: ShapeStats, c: serving.Costed, now: float) -> None:
        shape.add_sample(c)
        for f in c.items:
            t.add_item(f, self._rng)
        if c.items:
            share = c.wcu / len(c.items)
            for f in c.items:
                self._partition(now, t.table, f.partition, 0.0, share)

    def _on_rows(self, e: _Entry, c: serving.Costed, started: float) -> ResponseHandler:
        def sized(s2: SessionPort, r: Frame, p: Pending) -> None:
            s2.relay(r, p.client_stream)
            try:
                self._rows(e, c, r, started)
            except (CQLError, ValueError, KeyError, TypeError) as exc:
                self._failed(e.table.table, exc)
        return sized

    def _rows(self, e: _Entry, c: serving.Costed, r: Frame, started: float) -> None:
        if r.opcode != Opcode.RESULT:
            return  # an error: Cassandra refused it, and so would the client's code
        rows = decode_frame(r).message
        if not isinstance(rows, Rows):
            return
        assert c.plan is not None
        cols = rows.metadata.columns or list(c.plan.columns)
        sizes = []
        for row in rows.rows[:ROWS_SIZED]:
            f = row_item(e.tm, cols, row, r.version)
            if f is not None:
                sizes.append(f.size)
                e.table.add_item(f, self._rng)
        if not sizes and rows.rows:
            sizes = [_row_bytes(row) for row in rows.rows[:ROWS_SIZED]]  # no key in the result: its bytes
        if len(rows.rows) > len(sizes) and sizes:
            mean = sum(sizes) // len(sizes)
            sizes += [mean] * (len(rows.rows) - len(sizes))
        serving.read_cost(c, sizes)
        e.shape.add_sample(c, len(rows.rows))
        keys = partition_keys(c.plan) or []
        for k in keys:
            (kind, v), = k.items()
            self._partition(started, e.table.table, f"{kind}:{v.hex() if isinstance(v, bytes) else v}",
                            c.rcu / len(keys), 0.0)

    # -- batches --------------------------------------------------------------------------------
    def _batch(self, s: SessionPort, req: Request) -> None:
        """A BATCH's tables are known only from its body: one batch in `period` is read, and
        stands for `period` batches in the counts."""
        self._batches += 1
        if self._batches > FIRST_SAMPLED and self._batches % self.period:
            return
        weight = 1 if self._batches <= FIRST_SAMPLED else self.period
        try:
            self._batch_sample(s, req, weight)
        except (CQLError, ValueError, KeyError, TypeError) as exc:
            self._failed("batch", exc)

    def _batch_sample(self, s: SessionPort, req: Request, weight: int) -> None:
        msg = decode_frame(req.frame).message
        if isinstance(msg, Query | Execute):  # a BEGIN BATCH ... APPLY statement
            stmt = parse_cached(req.query) if req.query else None
            if not isinstance(stmt, cql.Batch):
                return
            ps = req.prepared
            parts = [(stmt, msg.params.values or [], ps.bind_types if ps else None)]
            texts = [req.query or ""]
            atomic = stmt.kind is cql.BatchKind.LOGGED
            ks = ps.keyspace if ps is not None else s.keyspace
        else:
            assert isinstance(msg, Batch)
            parts, texts = self._batch_parts(s, msg)
            atomic = msg.batch_type == BatchType.LOGGED
            ks = s.keyspace
        stmts = [x for st, _, _ in parts for x in (st.statements if isinstance(st, cql.Batch) else [st])]
        table_of = next((tm for x in stmts if (tm := self._resolve(x.keyspace or ks, x.table)) is not None), None)
        if table_of is None:
            return
        t = self.tables[(table_of.keyspace, table_of.table)]
        text = "BATCH: " + "; ".join(sorted({normalise(q) for q in texts})) if len(texts) > 1 else normalise(texts[0])
        shape = self._shape(t, text, "write")
        shape.count += weight
        now = time.time()
        c = serving.plan_write(parts, self._resolve, session_keyspace=ks, version=req.frame.version,
                               timestamp=int(now * 1e6), now=int(now), conditional_check=self.conditional_check,
                               atomic=atomic)
        for _ in range(weight):
            t.add_to_bucket(now, c.rcu, c.wcu)
        self._written(t, shape, c, now)

    def _batch_parts(self, s: SessionPort, msg: Batch) -> tuple[list[Any], list[str]]:
        dual = s.dual
        parts: list[Any] = []
        texts = []
        for bs in msg.statements:
            if bs.query is not None:
                q, types = bs.query, None
            else:
                pw = dual.prepared.get(bs.query_id or b"") if dual is not None else None
                if pw is None:
                    continue
                q, types = pw.query, pw.bind_types
            try:
                parts.append((parse_cached(q), list(bs.values), types))
                texts.append(q)
            except CQLError:
                continue
        return parts, texts

    # -- partitions, failures -------------------------------------------------------------------
    def _partition(self, now: float, table: str, key: str, rcu: float, wcu: float) -> None:
        if not rcu and not wcu:
            return  # refused: it would not reach the partition
        sec = int(now)
        if sec != self._second:
            self._roll(sec)
        acc = self._partitions.get((table, key))
        if acc is None:
            acc = self._partitions[(table, key)] = [0.0, 0.0]
        # a sampled request stands for `period` of its shape
        acc[0] += rcu * self.period
        acc[1] += wcu * self.period

    def _roll(self, sec: int) -> None:
        by_name = {t.table: t for t in self.tables.values()}
        for (table, key), (rcu, wcu) in self._partitions.items():
            by_name[table].add_partition_peak(key, rcu, wcu)
        self._partitions.clear()
        self._second = sec
        for t in self.tables.values():
            t.prune(sec, self.window)

    def _failed(self, table: str, exc: Exception) -> None:
        self.errors += 1
        if self.errors <= 10:
            log.info("assessment: a sampled request on %s could not be worked out: %s", table, exc)

    def _resolve(self, keyspace: str | None, table: str) -> TableMapping | None:
        return self.mapping.table(keyspace, table) if keyspace else None

    # -- what the admin port shows --------------------------------------------------------------
    def snapshot(self, show_keys: bool = False) -> dict[str, Any]:
        now = time.time()
        self._roll(int(now))
        return {
            "sidecar": self.sidecar_id, "sample_percent": self.sample_percent,
            "observed_seconds": round(min(now - self.started, self.window), 3),
            "tables": {t.table: t.to_json(show_keys) for _, t in sorted(self.tables.items())},
        }


def _row_bytes(row: list[bytes | None]) -> int:
    return sum(len(v) for v in row if v is not None)


