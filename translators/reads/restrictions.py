"""The WHERE, LIMIT and ORDER BY clauses of a SELECT, checked as Cassandra checks them: what the keys
restrict, and what is left to filter on decoded rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cql_protocol.cql.ast import (
    ColumnRef,
    ColumnTuple,
    CustomIndexExpression,
    ElementRef,
    FunctionCall,
    InValues,
    Operator,
    Relation,
    Select,
    TokenRef,
)
from cql_protocol.primitives import UNSET
from cql_protocol.types import CqlType, ListType, MapType, SetType, TypeCode, native
from translators import values
from translators.mapping import IndexSpec, TableMapping
from translators.reads.plan import Filter
from translators.statements import _Table
from translators.token import MIN_TOKEN, partition_token

BIGINT = native(TypeCode.BIGINT)
INT = native(TypeCode.INT)

FILTERING_MESSAGE = ("Cannot execute this query as it might involve data filtering and thus may have unpredictable "
                     "performance. If you want to execute this query despite the performance unpredictability, use "
                     "ALLOW FILTERING")
_SLICES = (Operator.LT, Operator.LTE, Operator.GT, Operator.GTE)


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
            v = _token_value(table, rel.value)
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


def _token_value(table: _Table, term: Any) -> int:
    """The right side of a token restriction: a bigint, or token() of values for the partition key
    (the paging idiom `token(k) > token(?)`), computed as Cassandra's Murmur3 partitioner does."""
    if not (isinstance(term, FunctionCall) and term.name.lower() == "token" and term.keyspace in (None, "system")):
        return int(_value(table, term, BIGINT, "partition key token"))
    pk = table.tm.schema.partition_key
    if len(term.args) != len(pk):
        raise table.invalid(f"Invalid number of arguments in call to function system.token: {len(pk)} required "
                            f"but {len(term.args)} provided")
    types = [table.tm.schema.columns[c] for c in pk]
    key = tuple(table.value(a, t, f"arg{i}(system.token)") for i, (a, t) in enumerate(zip(term.args, types,
                                                                                          strict=True)))
    if any(v is None or v is UNSET for v in key):
        raise table.invalid("Invalid null token value")
    return partition_token(types, key)


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


def _choose_index(tm: TableMapping, r: _Restrictions, pk_full: bool) -> tuple[IndexSpec | None, Any]:
    """The GSI to query (and the value its key must equal) when the partition key is not fully
    restricted; the other `column = value` restrictions on non-key columns become filters."""
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
    return index, index_value


def _partitions(table: _Table, r: _Restrictions, pk_full: bool) -> list[tuple[Any, ...]]:
    """The partition keys named (IN expanded), in the order Cassandra returns them; [] when the
    partition key is not fully restricted, whose restrictions (and token ranges) become filters."""
    schema = table.tm.schema
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
    if r.token_upper is not None and r.token_upper[0] == MIN_TOKEN:
        r.token_upper = None  # an end at the ring's minimum is the end of the ring, as in Cassandra
    if r.token_lower or r.token_upper:
        if pk_full:
            raise table.unsupported("token() restrictions together with a restricted partition key are not "
                                    "translated")
        r.filters.append(Filter("token", None, Operator.GT, (r.token_lower, r.token_upper)))
    return partitions


@dataclass
class _ClusteringSlice:
    """The clustering restrictions the sort key expresses: =/IN on the first `prefix` columns
    (`chosen`: the groups of columns and their value rows), then `lower`/`upper` bounds on the next."""

    chosen: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]
    prefix: int
    lower: tuple[Any, bool] | None
    upper: tuple[Any, bool] | None
    restricted: bool  # some clustering column is restricted


def _clustering_slice(table: _Table, r: _Restrictions, pk_full: bool) -> _ClusteringSlice:
    """An =/IN prefix, then a slice on the next column; the other clustering restrictions become
    filters."""
    ck = table.tm.schema.clustering_columns
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
    return _ClusteringSlice(chosen, prefix, lower, upper, clustering_restricted)
