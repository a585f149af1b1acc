"""CQL SELECT on a mapped table → DynamoDB reads, and DynamoDB items → CQL result rows (pure).

``plan_select(stmt, tm, values, ...)`` checks the statement as Cassandra would and returns a
`ReadPlan`: the DynamoDB requests (`Segment`s) in the order Cassandra returns rows, plus what the
executor (proxy.reads.dynamo_reader) applies to the items: filters, LIMIT / PER PARTITION LIMIT,
DISTINCT, COUNT, static rows and the projection.

Which request:
  * full primary key (=/IN everywhere)            GetItem, several keys: BatchGetItem
  * partition key =/IN (+ clustering =/IN prefix,  one Query per partition and clustering prefix,
    then a slice on the next column)              sort key condition from translators.keys;
                                                  ORDER BY reversed: ScanIndexForward false
  * = on a column with a GSI in the mapping       Query on the GSI (eventually consistent); items of
                                                  a KEYS_ONLY/INCLUDE GSI are read again from the table
  * token ranges (or a LIMIT) on a table mapped  Query of the token GSI per bucket in token order,
    with token_index                              then each partition it names read whole (Query)
  * anything else (token ranges, ALLOW FILTERING, Scan (ConsistentRead), limited to the table's
    no restriction)                               entity prefixes by a FilterExpression
Every restriction the keys do not express (regular and static columns, map elements, CONTAINS,
token ranges, partial keys) is applied in Python on decoded rows, with CQL comparison semantics:
DynamoDB's FilterExpression cannot compare encoded values in CQL order, and filtering after the
cell-level liveness check is the only way to treat expired and deleted cells as absent.

Order: partitions named by IN come in partition key order (as Cassandra returns them), clustering IN
values in clustering order. Scans and GSI queries return partitions in DynamoDB's order, which
has no relation to Cassandra's token order (rows within a partition keep clustering order); the
token GSI gives token order, then partition key bytes, as Cassandra's ring.

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

from cql_protocol.cql.ast import Select
from cql_protocol.primitives import Unset
from cql_protocol.types import CqlType
from translators import keys
from translators.mapping import IndexSpec, TableMapping
from translators.reads.plan import Attribute, Cursor, ReadPlan, Segment
from translators.reads.restrictions import (
    FILTERING_MESSAGE,
    _choose_index,
    _clustering_slice,
    _ClusteringSlice,
    _limit,
    _order_by,
    _partitions,
    _Restrictions,
    _restrictions,
)
from translators.reads.segments import (
    _clusterings,
    _index_segment,
    _key_lookup_segment,
    _partition_query_segments,
    _scan_segment,
    _token_segments,
    _whole_keys,
)
from translators.select_meta import Selected, resolve_selection
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
    pk_full = all(c in r.pk for c in tm.schema.partition_key)
    index, index_value = _choose_index(tm, r, pk_full)
    partitions = _partitions(table, r, pk_full)
    cs = _clustering_slice(table, r, pk_full)
    if not pk_full and cs.restricted and index is None:
        r.needs_filtering = True
    if r.needs_filtering and not stmt.allow_filtering:
        raise table.invalid(FILTERING_MESSAGE)

    if stmt.distinct and cs.restricted:
        raise table.invalid("SELECT DISTINCT with WHERE clause only supports restriction by partition key and/or "
                            "static columns.")

    reverse = _order_by(table, stmt, pk_full)
    paging = page_size is not None and page_size > 0 and not aggregate
    sort_by_clustering = bool(stmt.order_by) and len(partitions) > 1
    if sort_by_clustering and paging:
        raise table.invalid("Cannot page queries with both ORDER BY and a IN restriction on the partition key; you "
                            "must either remove the ORDER BY or the IN and sort client side, or disable paging for "
                            "this query")

    static_rows, uses_static, static_sk = _statics(tm, stmt, r, selection, cs.restricted)
    tokens = bool(r.token_lower or r.token_upper)
    if not pk_full and index is None and tm.token_index and (tokens or limit is not None):
        segments = _token_segments(tm, r.token_lower, r.token_upper)
    else:
        if tokens and limit is not None and not pk_full:
            raise table.unsupported("token() restrictions with LIMIT are only translated for tables mapped with "
                                    "token_index: true (rows in token order)")
        segments = _segments(tm, pk_full, partitions, cs, reverse, index, index_value)

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


def _segments(tm: TableMapping, pk_full: bool, partitions: list[tuple[Any, ...]], cs: _ClusteringSlice,
              reverse: bool, index: IndexSpec | None, index_value: Any) -> list[Segment]:
    """The requests, by read shape: whole primary keys, a query per partition (and clustering
    prefix), a GSI query, or a scan."""
    if pk_full:
        clusterings = _clusterings(tm, cs.chosen, cs.prefix)
        if _whole_keys(tm, cs.prefix, cs.lower, cs.upper):
            return [_key_lookup_segment(tm, partitions, clusterings, reverse)]
        return _partition_query_segments(tm, partitions, clusterings, cs.lower, cs.upper, reverse)
    if index is not None:
        return [_index_segment(tm, index, index_value)]
    return [_scan_segment(tm)]


def _statics(tm: TableMapping, stmt: Select, r: _Restrictions, selection: Sequence[Selected],
             clustering_restricted: bool) -> tuple[bool, bool, Attribute | None]:
    """(static_rows, uses_static, static_sort_key) of a plan: whether a partition holding only
    static values gives a row, whether rows need their partition's static values, and the sort
    key of the static row."""
    schema = tm.schema
    ck = schema.clustering_columns
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
    return static_rows, uses_static, static_sk
