"""How the sidecar would serve a statement on DynamoDB, and what one such request would cost:
the read planner (translators.reads) and the write translator (translators.statements) run as the
`dynamo` phase runs them, without a store. Pure.

A refused statement carries the very message the sidecar gives in `dynamo`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cql_protocol.cql import ast as cql
from cql_protocol.errors import InvalidRequest
from cql_protocol.primitives import Unset
from cql_protocol.types import CqlType
from translators.item_size import MAX_ITEM_SIZE
from translators.mapping import TableMapping
from translators.reads import plan_select
from translators.reads.plan import ReadPlan
from translators.statements import (
    CounterWrite,
    RangeDelete,
    Resolver,
    RowWrite,
    Untranslatable,
    Write,
    translate,
)

from .items import ItemFacts, counter_item, write_item
from .units import gsi_writes, item_reads, read_units, scan_reads, write_units

Values = Sequence[bytes | Unset | None]
# the `dynamo` phase's own check of a conditional write (proxy.writes.dynamo_primary.conditional_target)
ConditionalCheck = Callable[[list[Write]], object]

GET, BATCH_GET, QUERY, GSI_QUERY, SCAN = "GetItem", "BatchGetItem", "Query", "Query on GSI", "Scan with filter"
PUT, LWW_PUT, COND_PUT = "PutItem", "GetItem + versioned PutItem", "GetItem + conditional PutItem"
TRANSACT, COUNTER, RANGE_DELETE = "TransactWriteItems", "UpdateItem ADD", "Query + PutItem per row deleted"
S3_PUT = "GetItem + versioned PutItem + S3 object"
REFUSED, INVALID, NOTHING = "refused", "invalid in Cassandra too", "no DynamoDB request"


@dataclass(slots=True)
class Costed:
    """One request as DynamoDB would serve it."""

    kind: Literal["read", "write"]
    how: str  # one of the names above
    refused: str | None = None  # the sidecar's message in `dynamo`
    rcu: float = 0.0
    wcu: float = 0.0
    items: list[ItemFacts] = field(default_factory=list)  # written (writes) or read (reads)
    scan: bool = False
    lower_bound: bool = False  # the cost depends on rows the request does not show (scans, range deletes)
    plan: ReadPlan | None = None

    @property
    def blocker(self) -> bool:
        return self.how == REFUSED


def _refusal(kind: Literal["read", "write"], e: InvalidRequest) -> Costed:
    if isinstance(e, Untranslatable) and e.kind == "invalid":
        return Costed(kind, INVALID, e.message)
    return Costed(kind, REFUSED, e.message)


# -- reads --------------------------------------------------------------------------------------

def plan_read(stmt: cql.Select, tm: TableMapping, values: Values, *, version: int, page_size: int | None,
              bind_types: Sequence[CqlType] | None, now: int) -> Costed:
    """How a SELECT would be read; its cost comes with the rows (`read_cost`)."""
    try:
        plan = plan_select(stmt, tm, values, protocol_version=version, page_size=page_size, now=now,
                           bind_types=bind_types)
    except InvalidRequest as e:
        return _refusal("read", e)
    segs = plan.segments
    if all(s.op == "Get" for s in segs):
        n = sum(len(s.keys) for s in segs)
        how = GET if n == 1 else BATCH_GET
    elif any(s.op == "Scan" for s in segs):
        how = SCAN
    elif any(s.index is not None for s in segs):
        how = GSI_QUERY
    else:
        how = QUERY
    return Costed("read", how, scan=how == SCAN, lower_bound=how == SCAN or bool(plan.filters), plan=plan)


def read_cost(c: Costed, sizes: Sequence[int]) -> None:
    """Fills in the read units of `c` from the sizes of the items its rows came from."""
    if c.how in (REFUSED, INVALID):
        return
    if c.how in (GET, BATCH_GET):
        assert c.plan is not None
        keys = sum(len(s.keys) for s in c.plan.segments)
        # a key with no row costs its unit all the same
        c.rcu = item_reads(list(sizes) + [0] * max(0, keys - len(sizes)))
    else:
        c.rcu = scan_reads(sizes, consistent=c.how != GSI_QUERY)


# -- writes -------------------------------------------------------------------------------------

Part = tuple[cql.Statement, Values, Sequence[CqlType] | None]  # a statement, its values and bind types


def plan_write(parts: Sequence[Part], resolve: Resolver, *, session_keyspace: str | None, version: int,
               timestamp: int, now: int, conditional_check: ConditionalCheck | None = None,
               atomic: bool = False) -> Costed:
    """How a modification (or a BATCH message's statements, together) would be written, with
    its units and the items it makes. `atomic`: a logged BATCH message (a BATCH statement's own
    kind is read here)."""
    writes: list[Write] = []
    try:
        for stmt, values, types in parts:
            writes.extend(translate(stmt, resolve=resolve, session_keyspace=session_keyspace, values=values,
                                    protocol_version=version, timestamp=timestamp, now=now, bind_types=types))
        if conditional_check is not None:
            conditional_check(writes)
    except InvalidRequest as e:
        return _refusal("write", e)
    if not writes:
        return Costed("write", NOTHING)
    atomic = atomic or any(isinstance(st, cql.Batch) and st.kind is cql.BatchKind.LOGGED for st, _, _ in parts)
    return write_cost(writes, atomic, now)


def write_cost(writes: list[Write], atomic: bool, now: int) -> Costed:
    rows = [w for w in writes if isinstance(w, RowWrite)]
    transactional = atomic and len(rows) > 1 and len(rows) == len(writes) and len(rows) <= 100
    c = Costed("write", _write_how(writes, transactional))
    for w in writes:
        if isinstance(w, RowWrite):
            f = write_item(w.table, w.key.partition, w.key.clustering, w.mutation, now)
            c.items.append(f)
            refused = _too_large(w.table, f)
            if refused:
                c.how, c.refused = REFUSED, refused
            if _plain_put(w) and not transactional:
                c.wcu += write_units(f.size)
            else:  # read, merge, put on the version read
                c.rcu += read_units(f.size)
                c.wcu += write_units(f.size, transactional)
            c.wcu += gsi_writes(f.gsi_sizes)
        elif isinstance(w, CounterWrite):
            f = counter_item(w.table, w.key.partition, w.key.clustering, w.deltas)
            c.items.append(f)
            c.wcu += write_units(f.size) + gsi_writes(f.gsi_sizes)
        elif isinstance(w, RangeDelete):
            c.rcu += read_units(0)
            c.wcu += write_units(0)
            c.lower_bound = True
    if c.refused is not None:  # refused before DynamoDB is asked: nothing consumed
        c.rcu = c.wcu = 0.0
    return c


def _write_how(writes: list[Write], transactional: bool) -> str:
    if any(isinstance(w, CounterWrite) for w in writes):
        return COUNTER
    if any(isinstance(w, RangeDelete) for w in writes):
        return RANGE_DELETE
    if any(isinstance(w, RowWrite) and w.condition is not None for w in writes):
        return COND_PUT
    if transactional:
        return TRANSACT
    if all(_plain_put(w) for w in writes):
        return PUT
    if any(isinstance(w, RowWrite) and w.table.large_items == "s3" for w in writes):
        return S3_PUT
    return LWW_PUT


def _plain_put(w: Write) -> bool:
    """`write_condition: none`: an INSERT of a whole row is one PutItem, no read."""
    if not isinstance(w, RowWrite) or w.table.write_condition != "none":
        return False
    m = w.mutation
    return m.row_marker and not m.delete_row and all(op.endswith(":overwrite") for _, op, _ in m.collection_ops)


def _too_large(tm: TableMapping, f: ItemFacts) -> str | None:
    """The sidecar's refusal of an item over 400 KB under the table's large_items policy."""
    if not f.over_limit or tm.large_items == "s3":
        return None
    if tm.large_items == "compress":
        if f.size <= MAX_ITEM_SIZE:
            return None
        return (f"{tm.cql_name}: this write makes a DynamoDB item of {f.size} bytes even compressed, over the "
                "400 KB item limit (large_items: compress)")
    return (f"{tm.cql_name}: this write makes a DynamoDB item of at least {f.raw_size} bytes, over the 400 KB "
            "item limit (the table's large_items policy is reject)")


def reason_key(message: str) -> str:
    """A refusal message without its numbers, so one reason counts once whatever the size."""
    return " ".join("N" if w.isdigit() else w for w in message.split())


__all__ = ["BATCH_GET", "COND_PUT", "COUNTER", "GET", "GSI_QUERY", "INVALID", "LWW_PUT", "NOTHING", "PUT", "QUERY",
           "RANGE_DELETE", "REFUSED", "S3_PUT", "SCAN", "TRANSACT", "ConditionalCheck", "Costed", "Part", "Values",
           "plan_read", "plan_write", "read_cost", "write_cost"]
