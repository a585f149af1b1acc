"""CQL SELECT on a mapped table → DynamoDB reads, and DynamoDB items → CQL result rows (pure).

``plan_select(stmt, tm, values, ...)`` checks the statement as Cassandra would and returns a
`ReadPlan`: the DynamoDB requests (`Segment`s) in the order Cassandra returns rows, plus what the
executor (proxy.dynamo_reader) applies to the items: filters, LIMIT / PER PARTITION LIMIT,
DISTINCT, COUNT, static rows and the projection.

Which request:
  * full primary key (=/IN everywhere)            GetItem, several keys: BatchGetItem
  * partition key =/IN (+ clustering =/IN prefix,  one Query per partition and clustering prefix,
    then a slice on the next column)              sort key condition from translators.keys;
                                                  ORDER BY reversed: ScanIndexForward false
  * = on a column with a GSI in the mapping       Query on the GSI (eventually consistent); items of
                                                  a KEYS_ONLY/INCLUDE GSI are read again from the table
  * anything else (token ranges, ALLOW FILTERING, Scan (ConsistentRead), limited to the table's
    no restriction)                               entity prefixes by a FilterExpression
Every restriction the keys do not express (regular and static columns, map elements, CONTAINS,
token ranges, partial keys) is applied in Python on decoded rows, with CQL comparison semantics:
DynamoDB's FilterExpression cannot compare encoded values in CQL order, and filtering after the
cell-level liveness check is the only way to treat expired and deleted cells as absent.

Order: partitions named by IN come in partition key order (as Cassandra returns them), clustering IN
values in clustering order. Scans and GSI queries return partitions in DynamoDB's order, which
has no relation to Cassandra's token order (rows within a partition keep clustering order).

Paging state: our own bytes (`encode_paging_state`): the position after the last row returned
(segment, ExclusiveStartKey or key index, the partition being read and how many of its rows were
returned) and the number of rows returned so far (for LIMIT), tied to the statement and its
values by a fingerprint.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any

import orjson

from cql_protocol.cql.ast import Operator, Select
from cql_protocol.primitives import Unset
from cql_protocol.types import CqlType
from translators import keys, values
from translators.mapping import IndexSpec, TableMapping
from translators.reads.plan import Attribute, Cursor, Filter, ReadPlan
from translators.reads.restrictions import FILTERING_MESSAGE, _limit, _order_by, _restrictions
from translators.reads.segments import _index_segment, _partition_segments, _scan_segment
from translators.select_meta import resolve_selection
from translators.statements import _Table
from translators.statements.results import Untranslatable
from translators.statements.terms import _Binder

# ---------------------------------------------------------------------------------------------
# Paging state
# ---------------------------------------------------------------------------------------------

_STATE_VERSION = 1
# the magic tells our paging states from Cassandra's: a phase flip mid-read must send a page
# request back to the store that started the read
_STATE_MAGIC = b"\xcdq\x8d\x05"
_STATE_HEAD = struct.Struct(">4sB8s")


def encode_paging_state(fingerprint: bytes, cursor: Cursor) -> bytes:
    body = orjson.dumps([cursor.segment, cursor.start, cursor.partition, cursor.partition_rows, cursor.emitted])
    return _STATE_HEAD.pack(_STATE_MAGIC, _STATE_VERSION, fingerprint) + body


def is_own_paging_state(data: bytes) -> bool:
    """Whether a paging state was made by `encode_paging_state` (else Cassandra made it)."""
    return data[:4] == _STATE_MAGIC


def partition_keys(plan: ReadPlan) -> list[Attribute] | None:
    """The partition key attributes a plan reads, or None when it scans (a Scan or an index)."""
    tm = plan.tm
    out: list[Attribute] = []
    for seg in plan.segments:
        if seg.op == "Get":
            out.extend(k[tm.pk.attribute] for k in seg.keys)
        elif seg.op == "Query" and seg.index is None:
            out.append(seg.request["ExpressionAttributeValues"][":pk"])
        else:
            return None
    return out


def decode_paging_state(fingerprint: bytes, data: bytes, table: str = "") -> Cursor:
    """The cursor in a paging state made by `encode_paging_state` for the same statement and values."""
    try:
        magic, version, fp = _STATE_HEAD.unpack_from(data)
        seg, start, part, part_rows, emitted = orjson.loads(data[_STATE_HEAD.size:])
        ok = magic == _STATE_MAGIC and version == _STATE_VERSION and isinstance(seg, int) and isinstance(part_rows, int) and isinstance(
            emitted, int) and seg >= 0
    except (struct.error, orjson.JSONDecodeError, ValueError, TypeError):
        ok = False
    if not ok:
        raise Untranslatable(table, "Invalid value for the paging state", "invalid")
    if fp != fingerprint:
        raise Untranslatable(table, "Invalid value for the paging state: it belongs to another statement or other "
                                    "bound values", "invalid")
    return Cursor(seg, start, part, part_rows, emitted)


def _fingerprint(stmt: Select, tm: TableMapping, raw_values: Sequence[bytes | Unset | None]) -> bytes:
    h = hashlib.blake2b(digest_size=8)
    h.update(tm.cql_name.encode())
    h.update(b"\0" + stmt.to_cql().encode())
    for v in raw_values:
        if v is None:
            h.update(b"\1")
        elif isinstance(v, Unset):
            h.update(b"\2")
        else:
            h.update(b"\3" + len(v).to_bytes(4, "big") + bytes(v))
    return h.digest()



# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------

def plan_select(
    stmt: Select,
    tm: TableMapping,
    values_: Sequence[bytes | Unset | None] = (),
    *,
    protocol_version: int = 4,
    page_size: int | None = None,
    paging_state: bytes | None = None,
    now: int,
    bind_types: Sequence[CqlType] | None = None,
) -> ReadPlan:
    """The DynamoDB reads answering `stmt` (see the module docstring). `values_` are the raw bound
    values of the QUERY/EXECUTE; `page_size` None or <= 0: no paging; `now` in epoch seconds."""
    name = tm.cql_name
    if stmt.group_by:
        raise Untranslatable(name, "GROUP BY is not translated")
    if stmt.json:
        raise Untranslatable(name, "SELECT JSON is not translated")
    if any(o.ann is not None for o in stmt.order_by):
        raise Untranslatable(name, "ORDER BY ... ANN OF (vector search) is not translated")
    selection = resolve_selection(stmt, tm)
    aggregate = any(s.is_aggregate for s in selection)
    binder = _Binder(values_, bind_types, protocol_version, len(stmt.bind_markers))
    table = _Table(tm, binder)
    binder.check_count(table)

    limit = _limit(table, stmt.limit, "[limit]", "LIMIT")
    ppl = _limit(table, stmt.per_partition_limit, "[per_partition_limit]", "PER PARTITION LIMIT")
    if stmt.distinct and ppl is not None:
        raise table.invalid("PER PARTITION LIMIT is not allowed with SELECT DISTINCT queries")

    r = _restrictions(table, stmt)
    schema = tm.schema
    ck = schema.clustering_columns
    pk_full = all(c in r.pk for c in schema.partition_key)
    index: IndexSpec | None = None
    index_value: Any = None
    if not pk_full:
        for col, v in r.indexed:
            index = next((i for i in tm.indexes if i.partition_key == col), None)
            if index is not None:
                index_value = v
                break
    for col, v in r.indexed:
        if index is not None and col == index.partition_key and v is index_value:
            continue
        r.filters.append(Filter("column", col, Operator.EQ, (v,)))
        has_cql_index = any(i.partition_key == col and i.cql_index for i in tm.indexes)
        if not has_cql_index or len(r.indexed) > 1:
            r.needs_filtering = True
    if index is not None and not index.cql_index:
        r.needs_filtering = True  # Cassandra has no index here: it wants ALLOW FILTERING

    # partitions
    partitions: list[tuple[Any, ...]] = []
    if pk_full:
        partitions = table.combine([r.pk[c] for c in schema.partition_key], schema.partition_key)
        # Cassandra answers IN on the partition key in key order (the key type's comparator)
        sort_keys = [values.cql_sort_key(schema.columns[c]) for c in schema.partition_key]
        partitions.sort(key=lambda p: tuple(v if f is None else f(v) for f, v in zip(sort_keys, p, strict=True)))
    else:
        for col, (_cols, rows) in r.pk.items():
            r.filters.append(Filter("column", col, Operator.IN, tuple(row[0] for row in rows)))
            r.needs_filtering = True
    if r.token_lower or r.token_upper:
        if pk_full:
            raise table.unsupported("token() restrictions together with a restricted partition key are not "
                                    "translated")
        r.filters.append(Filter("token", None, Operator.GT, (r.token_lower, r.token_upper)))

    # clustering: an =/IN prefix, then a slice on the next column; the rest is filtered
    chosen: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
    i = 0
    if pk_full:
        while i < len(ck) and ck[i] in r.ck_groups and ck[i] not in r.ck_bounds:
            g = r.ck_groups[ck[i]]
            chosen.append(g)
            i += len(g[0])
    prefix = i
    lower = upper = None
    if pk_full and prefix < len(ck) and ck[prefix] in r.ck_bounds and ck[prefix] not in r.ck_groups:
        lower, upper = r.ck_bounds[ck[prefix]]
        slice_col: str | None = ck[prefix]
    else:
        slice_col = None
    used = {c for cols, _ in chosen for c in cols}
    clustering_restricted = bool(r.ck_groups or r.ck_bounds)
    for col, (cols, rows) in r.ck_groups.items():
        if col in used or col != cols[0]:
            continue
        if len(cols) > 1:
            raise table.unsupported(f"multi-column restriction on ({', '.join(cols)}) that is not a clustering "
                                    f"prefix is not translated")
        r.filters.append(Filter("column", col, Operator.IN, tuple(row[0] for row in rows)))
        r.needs_filtering = True
    for col, (lo, hi) in r.ck_bounds.items():
        if col == slice_col:
            continue
        if col in r.ck_groups:
            raise table.invalid(f"Column \"{col}\" cannot be restricted by both an equality and an inequality "
                                f"relation")
        for b, op_incl, op_excl in ((lo, Operator.GTE, Operator.GT), (hi, Operator.LTE, Operator.LT)):
            if b is not None:
                r.filters.append(Filter("column", col, op_incl if b[1] else op_excl, (b[0],)))
        r.needs_filtering = True
    if not pk_full and clustering_restricted and index is None:
        r.needs_filtering = True
    if r.needs_filtering and not stmt.allow_filtering:
        raise table.invalid(FILTERING_MESSAGE)

    if stmt.distinct and clustering_restricted:
        raise table.invalid("SELECT DISTINCT with WHERE clause only supports restriction by partition key and/or "
                            "static columns.")

    reverse = _order_by(table, stmt, pk_full)
    paging = page_size is not None and page_size > 0 and not aggregate
    sort_by_clustering = bool(stmt.order_by) and len(partitions) > 1
    if sort_by_clustering and paging:
        raise table.invalid("Cannot page queries with both ORDER BY and a IN restriction on the partition key; you "
                            "must either remove the ORDER BY or the IN and sort client side, or disable paging for "
                            "this query")

    has_static = bool(schema.static) and tm.sk is not None and tm.sk.encoding == "bytecomparable"
    static_rows = has_static and (stmt.distinct or (not clustering_restricted and not r.regular))
    selected_cols = {s.column for s in selection} if not stmt.is_star else set(schema.columns)
    filtered_cols = {f.column for f in r.filters}
    uses_static = has_static and (static_rows or bool((selected_cols | filtered_cols) & schema.static))
    static_sk = None
    if has_static:
        assert tm.sk is not None
        static_sk = keys.encode_clustering([schema.columns[c] for c in ck], [o for _, o in schema.clustering], (),
                                           tm.sk.prefix, "bytecomparable")

    if pk_full:
        segments = _partition_segments(tm, partitions, chosen, prefix, lower, upper, reverse)
    elif index is not None:
        segments = [_index_segment(tm, index, index_value)]
    else:
        segments = [_scan_segment(tm)]

    fp = _fingerprint(stmt, tm, values_)
    resume = decode_paging_state(fp, paging_state, name) if paging_state and paging else None
    return ReadPlan(
        tm=tm,
        selection=tuple(selection),
        columns=tuple(s.spec for s in selection),
        segments=tuple(segments),
        filters=tuple(r.filters),
        limit=limit,
        per_partition_limit=1 if stmt.distinct else ppl,
        distinct=stmt.distinct,
        aggregate=aggregate,
        static_rows=static_rows,
        uses_static=uses_static,
        sort_by_clustering=sort_by_clustering,
        reverse=reverse,
        page_size=page_size if paging else None,
        resume=resume,
        fingerprint=fp,
        now=now,
        protocol_version=protocol_version,
        static_sort_key=static_sk,
    )
