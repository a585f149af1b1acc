"""DynamoDB items → CQL result rows: items decoded (static rows included), filters, the projection,
aggregates, and the order rows come in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cql_protocol.cql.ast import Operator
from cql_protocol.types import CqlType, ListType, MapType, SetType, UDTType, serialize
from translators import canonical, cql_values, item_codec, keys, values
from translators.mapping import IndexSpec
from translators.reads.plan import Attribute, Item, ReadPlan
from translators.reads.restrictions import BIGINT
from translators.reads.segments import _sk_sort_key
from translators.row_state import Collection, RowState, _list_order, visible
from translators.select_meta import Selected
from translators.statements import _Table
from translators.statements.terms import _Binder
from translators.token import partition_token

_BATCH_GET_MAX = 100


@dataclass(slots=True)
class Decoded:
    """One item as a row: clustering None for a partition's static row."""

    partition: tuple[Any, ...]
    clustering: tuple[Any, ...] | None
    state: RowState
    live: dict[str, Any] | None
    cells: list[bytes | None] | None = None  # the result cells already (reads.fast_rows): project returns them


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
    if d.cells is not None:
        return d.cells
    out: list[bytes | None] = []
    v5 = plan.protocol_version
    cols = plan.tm.schema.columns
    for s in plan.selection:
        kind = s.kind
        if kind == "column":
            assert s.column is not None
            v = _cell_value(plan, s.column, d, st)
            out.append(None if v is None else canonical.canonical_encoder(cols[s.column])(v))
        elif kind in ("writetime", "ttl", "maxwritetime"):
            v = _metadata(plan, s, d, st)
            out.append(None if v is None else serialize(s.spec.type, v, v5))
        elif kind in ("element", "slice"):
            assert s.column is not None
            t = cols[s.column]
            assert isinstance(t, MapType | SetType)
            c = _cell_value(plan, s.column, d, st)
            out.append(None if c is None else (_element(plan, s, t, c) if kind == "element" else _slice(plan, s, t, c)))
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


def _literal(plan: ReadPlan, term: Any, t: CqlType, column: str | None) -> Any:
    table = _Table(plan.tm, _Binder((), None, plan.protocol_version, 0))
    return table.value(term, t, f"key({column})")


def _entries(t: MapType | SetType, c: Any) -> list[tuple[Any, Any]]:
    """(key, value) of a map's entries or (element, element) of a set's."""
    return list(cql_values.map_pairs(c)) if isinstance(t, MapType) else [(e, e) for e in c]


def _element(plan: ReadPlan, s: Selected, t: MapType | SetType, c: Any) -> bytes | None:
    """`m[k]`: the value at k; `s[e]`: e when the set holds it (null otherwise), as Cassandra."""
    kt = t.key if isinstance(t, MapType) else t.element
    key = _literal(plan, s.key, kt, s.column)
    for k, x in _entries(t, c):
        if _same(kt, k, key):
            return canonical.canonical_bytes(s.spec.type, x)
    return None


def _slice(plan: ReadPlan, s: Selected, t: MapType | SetType, c: Any) -> bytes | None:
    """`c[a..b]`: the entries whose keys are within the bounds (both inclusive, either open), as a
    collection of the column's type; null when none is."""
    kt = t.key if isinstance(t, MapType) else t.element
    lo = None if s.key is None else _order_key(kt, _literal(plan, s.key, kt, s.column))
    hi = None if s.end is None else _order_key(kt, _literal(plan, s.end, kt, s.column))
    kept = [(k, x) for k, x in _entries(t, c)
            if (lo is None or _order_key(kt, k) >= lo) and (hi is None or _order_key(kt, k) <= hi)]
    if not kept:
        return None
    return canonical.canonical_bytes(t, kept if isinstance(t, MapType) else [k for k, _ in kept])


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
