"""Writes where DynamoDB decides (phases `dynamo_fallback` and `dynamo`).

DynamoDB takes the write first, with Cassandra's semantics (last write wins on cell timestamps;
lightweight transactions judged on DynamoDB's copy of the row, atomically with the write through
the item version). The answer the client gets is built here: Void, or the ``[applied]`` row
exactly as Cassandra shapes it. In `dynamo_fallback` the same write then reaches Cassandra as a
shadow, unconditionally and with the same timestamp, so a step back finds Cassandra current.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cql_protocol.cql import ast as cql
from cql_protocol.cql import parse_cached
from cql_protocol.messages import Message, Query, QueryParameters, Rows, Void
from translators.lwt import applied_row, evaluate, resolved_checks
from translators.statements import CounterWrite, LwtCondition, RangeDelete, RowWrite, Untranslatable, Write

from .dynamo_writer import DynamoWriter


def conditional_target(writes: list[Write]) -> tuple[RowWrite, LwtCondition] | None:
    """The row a conditional statement is judged on, or None when nothing is conditional.
    DynamoDB can judge one row at a time: conditional batches and range deletes are refused."""
    conds = [w for w in writes if getattr(w, "condition", None) is not None]
    if not conds:
        return None
    first = conds[0]
    if not isinstance(first, RowWrite) or any(not isinstance(w, RowWrite) or w.key.partition != first.key.partition
                                              for w in conds):
        raise Untranslatable(first.table.cql_name, "conditional updates of several rows or of a range cannot be "
                                                   "decided by DynamoDB one row at a time")
    cond = first.condition
    assert cond is not None
    if not cond.if_not_exists:
        resolved_checks(first.table, cond)
    return first, cond


async def apply(writer: DynamoWriter, writes: list[Write], version: int,
                atomic: bool = False, done: list[Write] | None = None) -> tuple[Message, bool]:
    """Applies `writes` to DynamoDB; returns the client's answer and whether they were applied.
    `atomic`: a logged batch, written all or nothing when it holds only row writes.
    `done` collects the unconditional writes DynamoDB confirmed, for a caller cut short."""
    target = conditional_target(writes)
    if target is None:
        if atomic and len(writes) > 1 and all(isinstance(w, RowWrite) for w in writes):
            await writer.apply_rows_atomic([(w.table, w.key.partition, w.key.clustering, w.mutation)
                                            for w in writes if isinstance(w, RowWrite)])
            if done is not None:
                done.extend(writes)
            return Void(), True
        for w in writes:
            await apply_one(writer, w)
            if done is not None:
                done.append(w)
        return Void(), True
    row_write, cond = target
    tm = row_write.table
    applied, row = await writer.apply_if(tm, row_write.key.partition, row_write.key.clustering,
                                         row_write.mutation, lambda r: evaluate(tm, cond, r))
    if applied:
        for w in writes:
            if w is not row_write:  # the static half of the same statement
                await apply_one(writer, w)
    schema = tm.schema
    key = dict(zip(schema.primary_key, row_write.key.partition + row_write.key.clustering, strict=False))
    rows: Rows = applied_row(tm, cond, applied, row, key, version)
    return rows, applied


async def apply_one(writer: DynamoWriter, w: Write) -> None:
    """One write, merged into its item (or items, for a range deletion)."""
    if isinstance(w, RowWrite):
        await writer.apply_row(w.table, w.key.partition, w.key.clustering, w.mutation)
    elif isinstance(w, CounterWrite):
        await writer.apply_counter(w.table, w.key.partition, w.key.clustering, w.deltas)
    elif isinstance(w, RangeDelete):
        await writer.apply_range_delete(w)


def unconditional(stmt: cql.Statement) -> cql.Statement:
    """The statement without its IF clause: what Cassandra gets as the shadow of an applied LWT."""
    if isinstance(stmt, cql.Insert):
        return dataclasses.replace(stmt, if_not_exists=False)
    if isinstance(stmt, cql.Update | cql.Delete):
        return dataclasses.replace(stmt, if_exists=False, conditions=())
    if isinstance(stmt, cql.Batch):
        return dataclasses.replace(stmt, statements=tuple(unconditional(s) for s in stmt.statements))  # type: ignore[misc]
    return stmt


def shadow_query(stmt: cql.Statement, params: QueryParameters, ts: int) -> Query:
    """A plain QUERY carrying the same values (less those of the IF clause, which comes last),
    at the timestamp DynamoDB got."""
    plain = unconditional(stmt)
    text = plain.to_cql()
    markers = parse_cached(text).bind_markers
    kept = len(markers)
    values: list[Any] | None = None if params.values is None else params.values[:kept]
    names = None
    if params.names is not None:
        wanted = {m.name for m in markers if m.name is not None}
        pairs = [(n, v) for n, v in zip(params.names, params.values or [], strict=False) if n in wanted]
        names, values = [n for n, _ in pairs], [v for _, v in pairs]
    return Query(text, QueryParameters(
        consistency=params.consistency, values=values, names=names, timestamp=ts, keyspace=params.keyspace,
    ))
