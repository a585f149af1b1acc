"""A Cassandra row read with its WRITETIME and TTL → last-write-wins mutations (pure).

Every cell keeps its own write timestamp and becomes part of a `Mutation` at that timestamp, with an
absolute expiry (`now + ttl`) when it has a TTL, so merging the mutations into an item
(`translators.row_state.merge`) can only add what is older than nothing there: a newer live write,
a cell tombstone or a row tombstone already in the item wins, exactly as it does in Cassandra.

What CQL does not expose, and what is done instead:
- The row marker (the liveness an INSERT writes) has no selectable timestamp. A row with regular
  cells gets a marker at the oldest cell timestamp, with that cell's expiry: the INSERT that created
  the row wrote its cells at the marker's timestamp, later UPDATEs only newer ones. A row with no
  regular cell (only its key, so it does exist through its marker) gets a marker at timestamp 1: it
  loses against every real write and every delete, so it can never hide a later deletion.
- Static columns live in the partition's static row (item key: partition key, no clustering). It has
  no marker. A partition holding only static values comes back with null clustering columns.
- Non-frozen collections come with one timestamp and TTL per element (Cassandra 5.0): sets and maps
  become `add`/`put` operations grouped by timestamp and expiry. List elements are identified by the
  time of their append, which CQL does not show; an element gets the key a live write at its
  timestamp would give it (`(ts, i)` for appends and whole-list writes, `(-ts, i - n)` for a
  leading run of prepends), so the backfill and the mirrored live writes name the same elements.
- Counters have no timestamps: a counter row is carried as its values (see writer.py).
- Non-frozen UDTs are one cell (the mirror writes them whole): the newest field timestamp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cql_protocol.types import CqlType, ListType, MapType, NativeType, SetType, TypeCode, UDTType
from translators.driver_values import from_driver
from translators.item_codec import is_collection
from translators.mapping import TableMapping, quote_identifier
from translators.row_state import Mutation

KEY_ONLY_MARKER_TS = 1  # the lowest timestamp that is still live (row_state treats ts 0 as deleted)


@dataclass
class RowWork:
    """One CQL row (or a partition's static row) ready to be written or compared."""

    token: int
    partition: tuple[Any, ...]
    clustering: tuple[Any, ...]  # () for the static row and for tables without clustering
    mutations: list[Mutation] = field(default_factory=list)
    counters: dict[str, int] | None = None  # counter tables: the values, no timestamps
    static: bool = False


def is_counter(t: CqlType) -> bool:
    return isinstance(t, NativeType) and t.code == TypeCode.COUNTER


@dataclass
class Column:
    name: str
    type: CqlType
    static: bool
    kind: str  # 'cell' | 'set' | 'map' | 'list' | 'udt' | 'counter'
    value_at: int
    ts_at: int = -1
    ttl_at: int = -1


class ScanLayout:
    """The SELECT a range scan uses and how to read its rows."""

    def __init__(self, tm: TableMapping) -> None:
        self.tm = tm
        schema = tm.schema
        cols = schema.columns
        q = quote_identifier
        pk = ", ".join(q(c) for c in schema.partition_key)
        self.token_expr = f"token({pk})"
        select = [self.token_expr]
        self.key_at = {}
        for c in schema.primary_key:
            self.key_at[c] = len(select)
            select.append(q(c))
        self.columns: list[Column] = []
        for c, t in cols.items():
            if c in self.key_at:
                continue
            kind = ("counter" if is_counter(t) else
                    ("list" if isinstance(t, ListType) else "set" if isinstance(t, SetType) else "map")
                    if is_collection(t) else "udt" if isinstance(t, UDTType) and not t.frozen else "cell")
            col = Column(c, t, c in schema.static, kind, len(select))
            select.append(q(c))
            if kind != "counter":
                col.ts_at = len(select)
                select.append(f"writetime({q(c)})")
                col.ttl_at = len(select)
                select.append(f"ttl({q(c)})")
            self.columns.append(col)
        self.select = select
        self.has_static = bool(schema.static)
        self.pk_at = [self.key_at[c] for c in schema.partition_key]
        self.counter_table = schema.is_counter_table()
        self.pk_types = [cols[c] for c in schema.partition_key]
        self.ck_names = schema.clustering_columns
        table = f"{q(tm.keyspace)}.{q(tm.table)}"
        self.table = table
        cols_text = ", ".join(select)
        self.range_query = (f"SELECT {cols_text} FROM {table} WHERE {self.token_expr} > ? "
                            f"AND {self.token_expr} <= ?")
        where = " AND ".join(f"{q(c)} = ?" for c in schema.primary_key)
        self.row_query = f"SELECT {cols_text} FROM {table} WHERE {where}"
        pwhere = " AND ".join(f"{q(c)} = ?" for c in schema.partition_key)
        self.partition_query = f"SELECT {cols_text} FROM {table} WHERE {pwhere}"
        # which rows still exist (after a write that may have raced a range delete): keys and
        # static values only, between two tokens, or within one partition between two clusterings
        keys_text = ", ".join([self.token_expr] + [q(c) for c in schema.primary_key]
                              + [q(c) for c in schema.static])
        self.keys_between = (f"SELECT {keys_text} FROM {table} WHERE {self.token_expr} > ? "
                             f"AND {self.token_expr} < ?")
        self.keys_of_partition = f"SELECT {keys_text} FROM {table} WHERE {pwhere}"
        self.static_of_partition = self.keys_of_partition + " LIMIT 1"
        if self.ck_names:
            tup = "(" + ", ".join(q(c) for c in self.ck_names) + ")"
            marks = "(" + ", ".join("?" for _ in self.ck_names) + ")"
            self.keys_of_partition += f" AND {tup} >= {marks} AND {tup} <= {marks}"
        self.static_at = [len(schema.primary_key) + 1 + i for i in range(len(schema.static))]
        self._conv: dict[str, Callable[[Any], Any]] = {c: _converter(t) for c, t in cols.items()}

    def key_values(self, row: Sequence[Any]) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
        conv = self._conv
        part = tuple(conv[c](row[self.key_at[c]]) for c in self.tm.schema.partition_key)
        if not self.ck_names:
            return part, ()
        raw = [row[self.key_at[c]] for c in self.ck_names]
        if raw[0] is None:
            return part, None  # a partition with only static values
        return part, tuple(conv[c](v) for c, v in zip(self.ck_names, raw, strict=True))

    def values(self, row: Sequence[Any]) -> dict[str, Any]:
        """The row as {column: value} in the codec's conventions (what `compare` takes)."""
        conv = self._conv
        out = {c: conv[c](row[i]) for c, i in self.key_at.items()}
        for col in self.columns:
            out[col.name] = conv[col.name](row[col.value_at])
        return out

    def convert(self, row: Sequence[Any], now: int, with_static: bool = True) -> list[RowWork]:
        """The row's works: its regular row and, when `with_static`, its partition's static row."""
        token = int(row[0])
        part, clus = self.key_values(row)
        if self.counter_table:
            counters = {c.name: int(row[c.value_at]) for c in self.columns if row[c.value_at] is not None}
            return [RowWork(token, part, clus or (), counters=counters)] if counters or clus is not None else []
        regular: dict[tuple[int, int], Mutation] = {}
        static: dict[tuple[int, int], Mutation] = {}
        conv = self._conv
        for col in self.columns:
            v = row[col.value_at]
            if v is None or (col.static and not with_static):
                continue
            groups = static if col.static else regular
            wt, ttl = row[col.ts_at], row[col.ttl_at]
            if col.kind in ("cell", "udt"):
                if isinstance(wt, list):  # a non-frozen UDT: one timestamp per field
                    wt = max(x for x in wt if x is not None)
                    ttl = max((x for x in ttl or () if x is not None), default=None)
                _group(groups, int(wt), _expiry(ttl, now)).cells[col.name] = conv[col.name](v)
            elif col.kind == "set":
                el = _converter(col.type.element)  # type: ignore[attr-defined]
                by: dict[tuple[int, int], list[Any]] = {}
                for e, ts, t in zip(v, wt, ttl or [None] * len(wt), strict=True):
                    by.setdefault((int(ts), _expiry(t, now)), []).append(el(e))
                for (ts, exp), elems in by.items():
                    _group(groups, ts, exp).collection_ops.append((col.name, "set:add", elems))
            elif col.kind == "map":
                t_map: MapType = col.type  # type: ignore[assignment]
                kc, vc = _converter(t_map.key), _converter(t_map.value)
                pairs: dict[tuple[int, int], list[tuple[Any, Any]]] = {}
                for (k, x), ts, t in zip(v.items(), wt, ttl or [None] * len(wt), strict=True):
                    pairs.setdefault((int(ts), _expiry(t, now)), []).append((kc(k), vc(x)))
                for (ts, exp), ps in pairs.items():
                    _group(groups, ts, exp).collection_ops.append((col.name, "map:put", ps))
            else:
                el = _converter(col.type.element)  # type: ignore[attr-defined]
                ttls = ttl or [None] * len(wt)
                for op, ts, exp, elems in list_ops([el(e) for e in v], [int(x) for x in wt],
                                                   [_expiry(t, now) for t in ttls]):
                    _group(groups, ts, exp).collection_ops.append((col.name, op, elems))
        out: list[RowWork] = []
        if clus is not None:
            _add_marker(regular)
            out.append(RowWork(token, part, clus, list(regular.values())))
        if static:
            out.append(RowWork(token, part, (), list(static.values()), static=True))
        return out


def list_ops(elems: list[Any], ts: list[int], exp: list[int]) -> list[tuple[str, int, int, list[Any]]]:
    """The append/prepend operations whose merge names a list's elements as its live writes did.

    Appends and whole-list writes come in timestamp order; prepends go before everything and so show
    as a leading run of groups whose timestamps fall (the newest prepend first)."""
    groups: list[tuple[int, list[int]]] = []  # (ts, element positions) of consecutive runs
    for i, t in enumerate(ts):
        if groups and groups[-1][0] == t:
            groups[-1][1].append(i)
        else:
            groups.append((t, [i]))
    lead = 0
    while lead + 1 < len(groups) and groups[lead][0] > groups[lead + 1][0]:
        lead += 1
    ops: list[tuple[str, int, int, list[Any]]] = []
    for t, idx in groups[:lead]:
        ops.append(("list:prepend", t, max(exp[i] for i in idx), [elems[i] for i in idx]))
    # appends: one operation per timestamp, so keys (ts, i) never collide
    rest: dict[int, list[int]] = {}
    for t, idx in groups[lead:]:
        rest.setdefault(t, []).extend(idx)
    for t, idx in rest.items():
        ops.append(("list:append", t, max(exp[i] for i in idx), [elems[i] for i in idx]))
    return ops


def _expiry(ttl: Any, now: int) -> int:
    return now + int(ttl) if ttl else 0


def _group(groups: dict[tuple[int, int], Mutation], ts: int, exp: int) -> Mutation:
    m = groups.get((ts, exp))
    if m is None:
        m = groups[(ts, exp)] = Mutation(ts, exp)
    return m


def _add_marker(regular: dict[tuple[int, int], Mutation]) -> None:
    if not regular:
        regular[(KEY_ONLY_MARKER_TS, 0)] = Mutation(KEY_ONLY_MARKER_TS, 0, row_marker=True)
        return
    oldest = min(ts for ts, _ in regular)
    exps = [exp for ts, exp in regular if ts == oldest]
    exp = 0 if 0 in exps else max(exps)
    regular[(oldest, exp)].row_marker = True


def _converter(t: CqlType) -> Callable[[Any], Any]:
    if isinstance(t, NativeType) and t.code in (TypeCode.INT, TypeCode.BIGINT, TypeCode.VARCHAR,
                                                  TypeCode.ASCII, TypeCode.BOOLEAN, TypeCode.BLOB,
                                                  TypeCode.SMALLINT, TypeCode.TINYINT, TypeCode.COUNTER):
        return _identity
    return lambda v: from_driver(t, v)


def _identity(v: Any) -> Any:
    return v
