"""CQL modification statements → the row writes they make, as Cassandra would apply them (pure).

``translate(stmt, ...)`` turns a parsed INSERT, UPDATE, DELETE or BATCH plus its bound values into
a list of writes:

* ``RowWrite``: one row's ``row_state.Mutation`` (cells, collection operations, row marker, row
  deletion). A static row has clustering ``()``. Statements that set both static and regular
  columns give two writes, one per row, as Cassandra splits them.
* ``RangeDelete``: a partition deletion (``clustering_eq == ()``, no bounds) or a clustering
  prefix/slice deletion.
* ``CounterWrite``: counter increments of one row.

Values come out exactly as ``cql_protocol.types.deserialize`` decodes bound values (timestamp →
int ms, date → int days, time → int ns, set → list, map → dict, UDT → dict, ...), so a statement
with literals and the same statement prepared with bound values give equal writes.

Cassandra's rules kept here:
* Setting a non-frozen collection, to a value or to null, is a tombstone just before the write
  plus the new elements (``<kind>:overwrite``); ``DELETE c`` is a tombstone at the write's own
  timestamp (``<kind>:delete``).
* Unset bound values leave their column (or operation) alone; they are errors where a value is
  required (keys, list indexes, map keys).
* ``USING TIMESTAMP`` of a statement beats the batch's, which beats the default; ``USING TTL n``
  sets expiry ``now + n``; TTL 0 or null means none.
* Timestamp strings without a time zone are read as UTC (Cassandra uses the coordinator's zone,
  UTC on almost every server).

Statements on unmapped tables give no writes. What cannot be translated raises ``Untranslatable``
(an ``InvalidRequest``) naming the table and the reason; its ``kind`` tells whether Cassandra would
reject the statement as well (``invalid``), whether it calls a non-deterministic function that only
Cassandra can evaluate (``nondeterministic``), or whether only this translator lacks support
(``unsupported``). Not modelled: a table's ``default_time_to_live``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cql_protocol.cql.ast import Batch, BatchKind, Delete, Insert, Update
from cql_protocol.primitives import Unset
from cql_protocol.types import CqlType
from translators.statements.delete import _Delete
from translators.statements.insert import _Insert
from translators.statements.results import (
    CounterWrite,
    LwtCondition,
    RangeDelete,
    Resolver,
    RowKey,
    RowWrite,
    Untranslatable,
    UntranslatableKind,
    Write,
)
from translators.statements.terms import _Binder
from translators.statements.update import _Update

__all__ = [
    "CounterWrite",
    "LwtCondition",
    "RangeDelete",
    "Resolver",
    "RowKey",
    "RowWrite",
    "Untranslatable",
    "UntranslatableKind",
    "Write",
    "translate",
]


class _Table(_Insert, _Update, _Delete):
    """One INSERT, UPDATE or DELETE on one mapped table."""

    def statement(self, s: Insert | Update | Delete, batch_ts: int | None, default_ts: int, now: int) -> list[Write]:
        ts = default_ts if batch_ts is None else batch_ts
        if s.timestamp is not None:
            if self.is_counter:
                raise self.invalid("Cannot provide custom timestamp for counter updates")
            own = self.using_timestamp(s.timestamp)
            if own is not None:
                ts = own
        expiry = 0
        ttl_term = getattr(s, "ttl", None)
        if ttl_term is not None:
            if self.is_counter:
                raise self.invalid("Cannot provide custom TTL for counter updates")
            ttl = self.using_ttl(ttl_term)
            expiry = now + ttl if ttl else 0
        if isinstance(s, Insert):
            return self.insert(s, ts, expiry)
        if isinstance(s, Update):
            return self.update(s, ts, expiry)
        return self.delete(s, ts)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def translate(
    stmt: object,
    *,
    resolve: Resolver,
    session_keyspace: str | None,
    values: Sequence[bytes | Unset | None],
    protocol_version: int,
    timestamp: int,
    now: int,
    bind_types: Sequence[CqlType] | None = None,
) -> list[Write]:
    """The writes `stmt` makes on mapped tables (see the module docstring). SELECT and USE give []."""
    binder = _Binder(values, bind_types, protocol_version, len(getattr(stmt, "bind_markers", ())))
    if isinstance(stmt, Batch):
        return _batch(stmt, resolve, session_keyspace, binder, timestamp, now)
    if isinstance(stmt, Insert | Update | Delete):
        tm = resolve(stmt.keyspace or session_keyspace, stmt.table)
        if tm is None:
            return []
        t = _Table(tm, binder)
        binder.check_count(t)
        return t.statement(stmt, None, timestamp, now)
    return []


def _batch(b: Batch, resolve: Resolver, session_keyspace: str | None, binder: _Binder, default_ts: int,
           now: int) -> list[Write]:
    out: list[Write] = []
    batch_ts: int | None = None
    first = True
    counters = non_counters = False
    for s in b.statements:
        tm = resolve(s.keyspace or session_keyspace, s.table)
        if tm is None:
            continue
        t = _Table(tm, binder)
        if first:
            binder.check_count(t)
            if b.timestamp is not None:
                batch_ts = t.using_timestamp(b.timestamp)
            first = False
        if b.timestamp is not None and s.timestamp is not None:
            raise t.invalid("Timestamp must be set either on BATCH or individual statements")
        if t.is_counter:
            counters = True
            if b.kind is BatchKind.LOGGED:
                raise t.invalid("Cannot include a counter statement in a logged batch")
            if b.timestamp is not None:
                raise t.invalid("Cannot provide custom timestamp for counter BATCH")
        else:
            non_counters = True
            if b.kind is BatchKind.COUNTER:
                raise t.invalid("Cannot include non-counter statement in a counter batch")
        if counters and non_counters:
            raise t.invalid("Counter and non-counter mutations cannot exist in the same batch")
        out.extend(t.statement(s, batch_ts, default_ts, now))
    return out
