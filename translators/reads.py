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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import orjson

from cql_protocol.cql.ast import (
    ColumnRef,
    ColumnTuple,
    CustomIndexExpression,
    ElementRef,
    InValues,
    Operator,
    Relation,
    Select,
    TokenRef,
)
from cql_protocol.messages.result import ColumnSpec
from cql_protocol.primitives import UNSET, Unset
from cql_protocol.types import CqlType, ListType, MapType, SetType, TypeCode, UDTType, native, serialize

from . import canonical, cql_values, item_codec, keys, values
from .mapping import IndexSpec, TableMapping
from .row_state import Collection, RowState, _list_order, visible
from .select_meta import Selected, resolve_selection
from .statements import _Table
from .statements.results import Untranslatable
from .statements.terms import _Binder
from .token import partition_token

Attribute = dict[str, Any]
Item = dict[str, Attribute]

BIGINT = native(TypeCode.BIGINT)
INT = native(TypeCode.INT)

FILTERING_MESSAGE = ("Cannot execute this query as it might involve data filtering and thus may have unpredictable "
                     "performance. If you want to execute this query despite the performance unpredictability, use "
                     "ALLOW FILTERING")
_SLICES = (Operator.LT, Operator.LTE, Operator.GT, Operator.GTE)
_BATCH_GET_MAX = 100


# ---------------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """One DynamoDB read, in result order.

    op ``Get``: `keys` read with GetItem (one) or BatchGetItem (several), rows in `keys` order.
    op ``Query``/``Scan``: `request` is the body without ExclusiveStartKey and Limit; `drop` lists
    sort keys outside the CQL range (see keys.SortKeyCondition); `index` is the GSI queried.
    """

    op: Literal["Get", "Query", "Scan"]
    request: dict[str, Any] = field(default_factory=dict)
    keys: tuple[Item, ...] = ()
    drop: tuple[Attribute, ...] = ()
    index: IndexSpec | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """A restriction checked on decoded rows. target: ``column`` (the column's value), ``element``
    (value of map `column` at `key`), ``token`` (the partition's token)."""

    target: Literal["column", "element", "token"]
    column: str | None
    op: Operator
    values: tuple[Any, ...]
    key: Any = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the next page starts right after this."""

    segment: int = 0
    start: Any = None  # ExclusiveStartKey (wire form) of a Query/Scan, or the next key index of a Get
    partition: Any = None  # the partition key attribute (wire form) of the partition being read
    partition_rows: int = 0  # rows of that partition returned so far
    emitted: int = 0  # rows returned by all pages so far


@dataclass(frozen=True, slots=True)
class ReadPlan:
    tm: TableMapping
    selection: tuple[Selected, ...]
    columns: tuple[ColumnSpec, ...]
    segments: tuple[Segment, ...]
    filters: tuple[Filter, ...] = ()
    limit: int | None = None
    per_partition_limit: int | None = None
    distinct: bool = False
    aggregate: bool = False
    static_rows: bool = False  # a partition holding only static values gives one row
    uses_static: bool = False  # rows need their partition's static values
    sort_by_clustering: bool = False  # IN on the partition key + ORDER BY: merge partitions in order
    reverse: bool = False
    page_size: int | None = None
    resume: Cursor | None = None
    fingerprint: bytes = b""
    now: int = 0
    protocol_version: int = 4
    static_sort_key: Attribute | None = None


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


@dataclass
class _Restrictions:
    pk: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = field(default_factory=dict)
    pk_in: bool = False
    ck_groups: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = field(default_factory=dict)
    ck_bounds: dict[str, list[tuple[Any, bool] | None]] = field(default_factory=dict)
    token_lower: tuple[int, bool] | None = None
    token_upper: tuple[int, bool] | None = None
    filters: list[Filter] = field(default_factory=list)
    indexed: list[tuple[str, Any]] = field(default_factory=list)  # (column, value) of = restrictions
    needs_filtering: bool = False
    regular: bool = False  # restrictions on non-primary-key columns


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


def _limit(table: _Table, term: Any, rname: str, what: str) -> int | None:
    if term is None:
        return None
    v = table.value(term, INT, rname)
    if v is UNSET:
        return None
    if v is None:
        raise table.invalid(f"Invalid null value of {rname.strip('[]').replace('_', ' ')}")
    n = int(v)
    if n <= 0:
        raise table.invalid(f"{what} must be strictly positive")
    return n


def _value(table: _Table, term: Any, t: CqlType, col: str) -> Any:
    v = table.value(term, t, col)
    if v is None:
        raise table.invalid(f"Invalid null value in condition for column {col}")
    if v is UNSET:
        raise table.invalid(f"Invalid unset value for column {col}")
    return v


def _restrictions(table: _Table, stmt: Select) -> _Restrictions:
    r = _Restrictions()
    schema = table.tm.schema
    pk, ck = schema.partition_key, schema.clustering_columns
    for rel in stmt.where:
        if isinstance(rel, CustomIndexExpression):
            raise table.unsupported(f"custom index expression {rel.to_cql()} is not translated")
        assert isinstance(rel, Relation)
        lhs, op = rel.lhs, rel.operator
        if op is Operator.NEQ:
            raise table.invalid(f"Unsupported \"!=\" relation: {rel.to_cql()}")
        if op is Operator.IS_NOT:
            raise table.invalid(f"Unsupported restriction: {rel.to_cql()}")
        if op is Operator.LIKE:
            raise table.unsupported(f"LIKE restrictions ({rel.to_cql()}) are not translated")
        if isinstance(lhs, TokenRef):
            if tuple(lhs.columns) != tuple(pk):
                raise table.invalid("The token() function must be applied to all partition key components or none "
                                    "of them")
            v = int(_value(table, rel.value, BIGINT, "partition key token"))
            if op in (Operator.GT, Operator.GTE, Operator.EQ):
                if r.token_lower is not None:
                    raise table.invalid("More than one restriction was found for the start bound on " + lhs.to_cql())
                r.token_lower = (v, op is not Operator.GT)
            if op in (Operator.LT, Operator.LTE, Operator.EQ):
                if r.token_upper is not None:
                    raise table.invalid("More than one restriction was found for the end bound on " + lhs.to_cql())
                r.token_upper = (v, op is not Operator.LT)
            if op not in (Operator.GT, Operator.GTE, Operator.EQ, Operator.LT, Operator.LTE):
                raise table.invalid(f"Unsupported \"{op.value}\" relation on the token function")
            continue
        if isinstance(lhs, ElementRef):
            t = table.column(lhs.column)
            if not isinstance(t, MapType) or t.frozen:
                raise table.unsupported(f"element restriction {rel.to_cql()} is only translated on non-frozen maps")
            key = _value(table, lhs.key, t.key, f"key({lhs.column})")
            val = _value(table, rel.value, t.value, f"value({lhs.column})")
            if op is not Operator.EQ:
                raise table.unsupported(f"{rel.to_cql()}: only = is translated on map elements")
            r.filters.append(Filter("element", lhs.column, op, (val,), key))
            r.needs_filtering = True
            r.regular = True
            continue
        if isinstance(lhs, ColumnTuple):
            cols = lhs.columns
            for c in cols:
                table.column(c)
                if c not in ck:
                    raise table.invalid(f"Multi-column relations can only be applied to clustering columns but was "
                                        f"applied to: {c}")
            pos = [ck.index(c) for c in cols]
            if pos != list(range(pos[0], pos[0] + len(pos))):
                raise table.invalid(f"Clustering columns must appear in the PRIMARY KEY order in multi-column "
                                    f"relations: {lhs.to_cql()}")
            if op not in (Operator.EQ, Operator.IN):
                raise table.unsupported(f"multi-column slice restrictions ({rel.to_cql()}) are not translated")
            group = (cols, table.relation_values(rel, cols, op))
            for c in cols:
                if c in r.ck_groups:
                    raise table.invalid(f"{c} cannot be restricted by more than one relation if it includes an Equal")
                r.ck_groups[c] = group
            continue
        assert isinstance(lhs, ColumnRef)
        col = lhs.name
        t = table.column(col)
        in_key = col in pk or col in ck
        if in_key and op in (Operator.EQ, Operator.IN):
            group = ((col,), table.relation_values(rel, (col,), op))
            target = r.pk if col in pk else r.ck_groups
            if col in target:
                raise table.invalid(f"{col} cannot be restricted by more than one relation if it includes an Equal")
            target[col] = group
            if col in pk and op is Operator.IN:
                r.pk_in = True
            continue
        if col in ck and op in _SLICES:
            v = _value(table, rel.value, t, col)
            b = r.ck_bounds.setdefault(col, [None, None])
            at = 0 if op in (Operator.GT, Operator.GTE) else 1
            if b[at] is not None:
                which = "start" if at == 0 else "end"
                raise table.invalid(f"More than one restriction was found for the {which} bound on {col}")
            b[at] = (v, op in (Operator.GTE, Operator.LTE))
            continue
        if not in_key:
            r.regular = True
        if op is Operator.EQ and not in_key:
            r.indexed.append((col, _value(table, rel.value, t, col)))
            continue
        r.filters.append(_column_filter(table, rel, col, t))
        r.needs_filtering = True
    return r


def _column_filter(table: _Table, rel: Relation, col: str, t: CqlType) -> Filter:
    op = rel.operator
    if op is Operator.CONTAINS:
        if not isinstance(t, ListType | SetType | MapType):
            raise table.invalid(f"Cannot use CONTAINS on non-collection column {col}")
        et = t.value if isinstance(t, MapType) else t.element
        return Filter("column", col, op, (_value(table, rel.value, et, col),))
    if op is Operator.CONTAINS_KEY:
        if not isinstance(t, MapType):
            raise table.invalid(f"Cannot use CONTAINS KEY on non-map column {col}")
        return Filter("column", col, op, (_value(table, rel.value, t.key, col),))
    if op is Operator.IN:
        if isinstance(rel.value, InValues):
            vals = tuple(_value(table, v, t, col) for v in rel.value.values)
        else:
            whole = _value(table, rel.value, ListType(t), col)
            vals = tuple(whole)
        return Filter("column", col, op, vals)
    if op in (Operator.EQ, *_SLICES):
        if isinstance(t, ListType | SetType | MapType) and not t.frozen and op is not Operator.EQ:
            raise table.invalid(f"Slice restrictions are not supported on collections ({col})")
        return Filter("column", col, op, (_value(table, rel.value, t, col),))
    raise table.unsupported(f"restriction {rel.to_cql()} is not translated")


def _order_by(table: _Table, stmt: Select, pk_full: bool) -> bool:
    """True when ORDER BY reverses the clustering order."""
    if not stmt.order_by:
        return False
    schema = table.tm.schema
    ck = schema.clustering_columns
    if not pk_full:
        raise table.invalid("ORDER BY is only supported when the partition key is restricted by an EQ or an IN.")
    reversed_: bool | None = None
    for i, o in enumerate(stmt.order_by):
        table.column(o.column)
        if o.column not in ck:
            raise table.invalid(f"Order by is currently only supported on the clustered columns of the PRIMARY KEY, "
                                f"got {o.column}")
        if ck.index(o.column) != i:
            raise table.invalid("Order by currently only supports the ordering of columns following their declared "
                                "order in the PRIMARY KEY")
        natural_desc = schema.clustering[i][1] == "desc"
        rev = o.descending != natural_desc
        if reversed_ is not None and rev != reversed_:
            raise table.invalid("Unsupported order by relation")
        reversed_ = rev
    return bool(reversed_)


# -- segments --------------------------------------------------------------------------------------


def _sk_sort_key(attr: Attribute) -> Any:
    """Orders sort key attributes as DynamoDB does (B bytes, S UTF-8, N numerically)."""
    if "B" in attr:
        return values.attr_bytes(attr["B"])
    if "S" in attr:
        return attr["S"].encode("utf-8")
    return Decimal(attr["N"])


def _partition_segments(tm: TableMapping, partitions: list[tuple[Any, ...]],
                        chosen: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]], prefix: int,
                        lower: tuple[Any, bool] | None, upper: tuple[Any, bool] | None,
                        reverse: bool) -> list[Segment]:
    schema = tm.schema
    cols = schema.columns
    ck = schema.clustering_columns
    sk = tm.sk
    clusterings: list[tuple[Any, ...]] = [()]
    if chosen:
        clusterings = []
        seen: set[bytes] = set()
        from itertools import product

        types = [cols[c] for c in ck[:prefix]]
        for parts in product(*(rows for _, rows in chosen)):
            row = tuple(x for part in parts for x in part)
            ident = b"".join(canonical.canonical_bytes(t, v) for t, v in zip(types, row, strict=True))
            if ident not in seen:
                seen.add(ident)
                clusterings.append(row)
    whole_keys = sk is None or sk.encoding == "constant" or (prefix == len(ck) and lower is None and upper is None)
    if whole_keys:
        keys_: list[Item] = []
        for p in partitions:
            ks = [item_codec.key_item(tm, p, c) for c in clusterings]
            if sk is not None and len(ks) > 1:
                ks.sort(key=lambda k: _sk_sort_key(k[sk.attribute]), reverse=reverse)
            keys_.extend(ks)
        return [Segment("Get", keys=tuple(keys_))]
    assert sk is not None
    types = [cols[c] for c in ck]
    orders = [o for _, o in schema.clustering]
    pk_types = [cols[c] for c in schema.partition_key]
    out: list[Segment] = []
    for p in partitions:
        pk_attr = keys.encode_partition(pk_types, p, tm.pk.prefix, dynamodb_type=tm.pk.dynamodb_type)
        per: list[tuple[Any, Segment]] = []
        for c in clusterings:
            cond = keys.sort_key_condition(types, orders, c, lower, upper, sk.prefix, sk.encoding)
            if cond is not None and cond.empty:
                continue
            req: dict[str, Any] = {
                "TableName": tm.dynamodb_table,
                "KeyConditionExpression": "#pk = :pk",
                "ExpressionAttributeNames": {"#pk": tm.pk.attribute},
                "ExpressionAttributeValues": {":pk": pk_attr},
                "ConsistentRead": True,
            }
            if reverse:
                req["ScanIndexForward"] = False
            drop: tuple[Attribute, ...] = ()
            order_key: Any = b""
            if cond is not None:
                text, cv = cond.expression()
                req["KeyConditionExpression"] += " AND " + text
                req["ExpressionAttributeNames"]["#sk"] = sk.attribute
                req["ExpressionAttributeValues"].update(cv)
                drop = cond.drop
                order_key = _sk_sort_key(cond.values[0])
            per.append((order_key, Segment("Query", req, drop=drop)))
        if len(per) > 1:
            per.sort(key=lambda x: x[0], reverse=reverse)
        out.extend(s for _, s in per)
    return out


def _prefix_filter(tm: TableMapping, req: dict[str, Any]) -> None:
    """Limits a Scan or GSI Query to this CQL table's items when its DynamoDB table is shared."""
    terms = []
    names: dict[str, str] = {}
    vals: dict[str, Attribute] = {}
    if tm.pk.prefix:
        terms.append("begins_with(#ppk, :ppk)")
        names["#ppk"] = tm.pk.attribute
        vals[":ppk"] = {"S": tm.pk.prefix}
    sk = tm.sk
    if sk is not None and sk.prefix:
        names["#psk"] = sk.attribute
        if sk.encoding == "constant":
            terms.append("#psk = :psk")
            vals[":psk"] = {"S": sk.prefix}
        else:
            terms.append("begins_with(#psk, :psk)")
            vals[":psk"] = {"B": sk.prefix.encode("utf-8")}
    if terms:
        req["FilterExpression"] = " AND ".join(terms)
        req.setdefault("ExpressionAttributeNames", {}).update(names)
        req.setdefault("ExpressionAttributeValues", {}).update(vals)


def _scan_segment(tm: TableMapping) -> Segment:
    req: dict[str, Any] = {"TableName": tm.dynamodb_table, "ConsistentRead": True}
    _prefix_filter(tm, req)
    return Segment("Scan", req)


def _index_segment(tm: TableMapping, index: IndexSpec, value: Any) -> Segment:
    col = index.partition_key
    attr = values.to_attribute(tm.schema.columns[col], value)
    kind = tm.attribute_type(col)
    if attr is None or kind not in attr:
        # the GSI key holds the stored type; a value that is not stored that way matches nothing
        attr = {kind: canonical.to_text(tm.schema.columns[col], value)} if kind == "S" else attr
    req: dict[str, Any] = {
        "TableName": tm.dynamodb_table,
        "IndexName": index.name,
        "KeyConditionExpression": "#ik = :ik",
        "ExpressionAttributeNames": {"#ik": tm.attribute_name(col)},
        "ExpressionAttributeValues": {":ik": attr},
    }
    _prefix_filter(tm, req)
    return Segment("Query", req, index=index)


# ---------------------------------------------------------------------------------------------
# Items → rows
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Decoded:
    """One item as a row: clustering None for a partition's static row."""

    partition: tuple[Any, ...]
    clustering: tuple[Any, ...] | None
    state: RowState
    live: dict[str, Any] | None


def key_of(plan: ReadPlan, raw: Item, index: IndexSpec | None = None) -> Item:
    """The key attributes of a wire-form item, as ExclusiveStartKey wants them."""
    tm = plan.tm
    names = [tm.pk.attribute] + ([tm.sk.attribute] if tm.sk is not None else [])
    if index is not None:
        names.append(tm.attribute_name(index.partition_key))
        if index.sort_key is not None:
            names.append(tm.attribute_name(index.sort_key))
    return {n: raw[n] for n in names if n in raw}


def is_static_item(plan: ReadPlan, raw: Item) -> bool:
    sk = plan.tm.sk
    if plan.static_sort_key is None or sk is None:
        return False
    a = raw.get(sk.attribute)
    return a is not None and values.attr_bytes(a.get("B", b"")) == plan.static_sort_key["B"]


def static_key(plan: ReadPlan, raw_pk: Attribute) -> Item:
    tm = plan.tm
    assert tm.sk is not None and plan.static_sort_key is not None
    return {tm.pk.attribute: raw_pk, tm.sk.attribute: plan.static_sort_key}


def decode_item(plan: ReadPlan, item: Item) -> Decoded | None:
    """An item (through from_wire and expand) as a row of this table; None for items of another
    CQL table sharing the DynamoDB table."""
    tm = plan.tm
    schema = tm.schema
    cols = schema.columns
    pk_attr = item.get(tm.pk.attribute)
    if pk_attr is None or (tm.pk.prefix and not str(pk_attr.get("S", "")).startswith(tm.pk.prefix)):
        return None
    sk = tm.sk
    clustering: tuple[Any, ...] | None = ()
    if sk is not None and sk.encoding != "constant":
        sk_attr = item.get(sk.attribute)
        if sk_attr is None:
            return None
        if sk.encoding == "bytecomparable":
            raw = values.attr_bytes(sk_attr.get("B", b""))
            if not raw.startswith(sk.prefix.encode("utf-8")):
                return None
            if plan.static_sort_key is not None and raw == plan.static_sort_key["B"]:
                clustering = None
        if clustering is not None:
            try:
                clustering = tuple(values.from_attribute(cols[c], item.get(tm.attribute_name(c)))
                                   for c in schema.clustering_columns)
                if any(v is None for v in clustering):
                    clustering = keys.decode_clustering([cols[c] for c in schema.clustering_columns],
                                                        [o for _, o in schema.clustering], sk_attr, sk.prefix,
                                                        sk.encoding)
            except ValueError:
                return None
    elif sk is not None and item.get(sk.attribute, {}).get("S") != sk.prefix:
        return None
    partition = tuple(values.from_attribute(cols[c], item.get(tm.attribute_name(c))) for c in schema.partition_key)
    if any(v is None for v in partition):
        try:
            partition = keys.decode_partition([cols[c] for c in schema.partition_key], pk_attr, tm.pk.prefix)
        except ValueError:
            return None
    state = item_codec.state_of(tm, item)
    return Decoded(partition, clustering, state, visible(state, plan.now))


def _cell_value(plan: ReadPlan, col: str, d: Decoded, st: Decoded | None) -> Any:
    schema = plan.tm.schema
    if col in schema.partition_key:
        return d.partition[schema.partition_key.index(col)]
    if col in schema.clustering_columns:
        return None if d.clustering is None else d.clustering[schema.clustering_columns.index(col)]
    src = st if col in schema.static else d
    if src is None or src.live is None or (col not in schema.static and d.clustering is None):
        return None
    return src.live.get(col)


def _cql_order(t: CqlType, vals: list[Any]) -> list[Any]:
    key = values.cql_sort_key(t)
    return sorted(vals, key=key) if key is not None else sorted(vals)


def _elements(plan: ReadPlan, t: CqlType, state: RowState, col: str) -> list[tuple[int, int]]:
    """(timestamp, expiry) of the live elements of a non-frozen collection, in element order."""
    coll: Collection | None = state.collections.get(col)
    if coll is None:
        return []
    floor = max(state.deleted, coll.tomb)
    live = {k: e for k, e in coll.elems.items() if e.live(floor, plan.now)}
    if coll.kind == "list":
        order = [k for k in _list_order(coll) if k in live]
    elif isinstance(t, SetType):
        kf = values.cql_sort_key(t.element)
        order = sorted(live, key=lambda k: kf(live[k].value) if kf else live[k].value)
    else:
        assert isinstance(t, MapType)
        kf = values.cql_sort_key(t.key)
        order = sorted(live, key=lambda k: kf(live[k].value[0]) if kf else live[k].value[0])
    return [(live[k].ts, live[k].expiry) for k in order]


def _metadata(plan: ReadPlan, s: Selected, d: Decoded, st: Decoded | None) -> Any:
    col = s.column
    assert col is not None
    schema = plan.tm.schema
    src = st if col in schema.static else d
    if src is None or (col not in schema.static and d.clustering is None):
        return None
    state = src.state
    t = schema.columns[col]
    now = plan.now
    if item_codec.is_collection(t):
        elems = _elements(plan, t, state, col)
        if not elems:
            return None
        if s.kind == "maxwritetime":
            return max(ts for ts, _ in elems)
        if s.kind == "writetime":
            return [ts for ts, _ in elems]
        return [exp - now if exp else None for _, exp in elems]
    cell = state.cells.get(col)
    if cell is None or not cell.live(state.deleted, now):
        return None
    if s.kind == "ttl":
        return cell.expiry - now if cell.expiry else None
    return cell.ts


def _same(t: CqlType, a: Any, b: Any) -> bool:
    return canonical.canonical_bytes(t, a) == canonical.canonical_bytes(t, b)


def project(plan: ReadPlan, d: Decoded, st: Decoded | None) -> list[bytes | None]:
    """The result cells of one row (non-aggregate selectors), serialized as Cassandra sends them."""
    out: list[bytes | None] = []
    v5 = plan.protocol_version
    cols = plan.tm.schema.columns
    for s in plan.selection:
        kind = s.kind
        if kind == "column":
            assert s.column is not None
            v = _cell_value(plan, s.column, d, st)
            out.append(None if v is None else canonical.canonical_bytes(cols[s.column], v))
        elif kind in ("writetime", "ttl", "maxwritetime"):
            v = _metadata(plan, s, d, st)
            out.append(None if v is None else serialize(s.spec.type, v, v5))
        elif kind == "element":
            assert s.column is not None
            t = cols[s.column]
            assert isinstance(t, MapType)
            m = _cell_value(plan, s.column, d, st)
            found = None
            if m is not None:
                key = _literal_key(plan, s, t)
                for k, x in cql_values.map_pairs(m):
                    if _same(t.key, k, key):
                        found = x
                        break
            out.append(None if found is None else canonical.canonical_bytes(t.value, found))
        elif kind == "field":
            assert s.column is not None
            t = cols[s.column]
            assert isinstance(t, UDTType)
            u = _cell_value(plan, s.column, d, st)
            fv = None
            if u is not None:
                if isinstance(u, dict):
                    fv = u.get(s.field)
                else:
                    idx = [f for f, _ in t.fields].index(s.field or "")
                    fv = u[idx] if idx < len(u) else None
            out.append(None if fv is None else canonical.canonical_bytes(s.spec.type, fv))
        else:
            out.append(None)  # aggregates are filled in by aggregate_row
    return out


def _literal_key(plan: ReadPlan, s: Selected, t: MapType) -> Any:
    table = _Table(plan.tm, _Binder((), None, plan.protocol_version, 0))
    return table.value(s.key, t.key, f"key({s.column})")


def aggregate_row(plan: ReadPlan, count: int, column_counts: dict[str, int],
                  first: list[bytes | None] | None) -> list[bytes | None]:
    """The single row of an aggregate query: counts, and the first row's values for plain columns
    (nulls when there were no rows), as Cassandra gives them."""
    out: list[bytes | None] = []
    for i, s in enumerate(plan.selection):
        if s.kind == "count":
            out.append(serialize(BIGINT, count))
        elif s.kind == "count_column":
            out.append(serialize(BIGINT, column_counts.get(s.column or "", 0)))
        else:
            out.append(None if first is None else first[i])
    return out


def column_present(plan: ReadPlan, col: str, d: Decoded, st: Decoded | None) -> bool:
    return _cell_value(plan, col, d, st) is not None


# -- filters ---------------------------------------------------------------------------------------


def _order_key(t: CqlType, v: Any) -> Any:
    key = values.cql_sort_key(t)
    return key(v) if key is not None else v


def matches(plan: ReadPlan, d: Decoded, st: Decoded | None) -> bool:
    """Whether the row passes every Python-side restriction (a null never matches)."""
    cols = plan.tm.schema.columns
    for f in plan.filters:
        if f.target == "token":
            lo, hi = f.values
            schema = plan.tm.schema
            tok = partition_token([cols[c] for c in schema.partition_key], d.partition)
            if lo is not None and (tok < lo[0] or (tok == lo[0] and not lo[1])):
                return False
            if hi is not None and (tok > hi[0] or (tok == hi[0] and not hi[1])):
                return False
            continue
        assert f.column is not None
        t = cols[f.column]
        v = _cell_value(plan, f.column, d, st)
        if v is None:
            return False
        if f.target == "element":
            assert isinstance(t, MapType)
            found = next((x for k, x in cql_values.map_pairs(v) if _same(t.key, k, f.key)), None)
            if found is None or not _same(t.value, found, f.values[0]):
                return False
            continue
        op = f.op
        if op is Operator.CONTAINS:
            assert isinstance(t, ListType | SetType | MapType)
            et = t.value if isinstance(t, MapType) else t.element
            items = [x for _, x in cql_values.map_pairs(v)] if isinstance(t, MapType) else list(v)
            if not any(_same(et, x, f.values[0]) for x in items):
                return False
        elif op is Operator.CONTAINS_KEY:
            assert isinstance(t, MapType)
            if not any(_same(t.key, k, f.values[0]) for k, _ in cql_values.map_pairs(v)):
                return False
        elif op in (Operator.EQ, Operator.IN):
            if not any(_same(t, v, x) for x in f.values):
                return False
        else:
            a, b = _order_key(t, v), _order_key(t, f.values[0])
            ok = {Operator.LT: a < b, Operator.LTE: a <= b, Operator.GT: a > b, Operator.GTE: a >= b}[op]
            if not ok:
                return False
    return True


def sort_key_of(plan: ReadPlan, raw: Item) -> Any:
    """The clustering order position of a wire-form item (for merging partitions under ORDER BY)."""
    sk = plan.tm.sk
    if sk is None or sk.attribute not in raw:
        return b""
    return _sk_sort_key(raw[sk.attribute])


def batch_chunks(keys_: Sequence[Item]) -> list[Sequence[Item]]:
    """BatchGetItem takes at most 100 keys per call."""
    return [keys_[i:i + _BATCH_GET_MAX] for i in range(0, len(keys_), _BATCH_GET_MAX)]
