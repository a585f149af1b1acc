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
- Non-frozen UDTs are one cell (the mirror writes them whole) at the newest field timestamp.
  Cassandra 5.0 gives their WRITETIME and TTL one per field, null for a field that is unset (and TTL
  null for a field written without one). The TTL is the longest of the fields': none when a set field
  has none, since that field outlives every other. A UDT with no field set is absent.

Rows arrive as each value's bytes (source.py) and are decoded here, with the mapping's types, one row
at a time (`decode`): a row that cannot be decoded or converted raises `RowDecodeError`, naming the
table, its key and the column, and the caller counts that one row as failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cql_protocol.types import CqlType, ListType, NativeType, SetType, TypeCode, UDTType
from translators.item_codec import is_collection
from translators.mapping import TableMapping, quote_identifier
from translators.row_state import Mutation

from . import decode

KEY_ONLY_MARKER_TS = 1  # the lowest timestamp that is still live (row_state treats ts 0 as deleted)


class RowDecodeError(ValueError):
    """A scanned row that cannot be decoded or converted: it alone fails (the reason is permanent,
    so it is not read again in the same run)."""

    def __init__(self, table: str, key: tuple[Any, ...], column: str, reason: str,
                 undecoded: frozenset[str] = frozenset()) -> None:
        super().__init__(f"{table} {key!r}: column {column}: {reason}")
        self.table = table
        self.key = key  # the primary key's values; for those in `undecoded`, their bytes as hex
        self.column = column
        self.reason = reason
        self.undecoded = undecoded


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
        self._decoders = self._make_decoders()
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
        # what the point queries bind (source.execute's `types`)
        self.partition_types = [cols[c] for c in schema.partition_key]
        self.row_types = self.partition_types + [cols[c] for c in self.ck_names]
        self.slice_types = self.row_types + [cols[c] for c in self.ck_names]

    def _make_decoders(self) -> list[decode.Decoder]:
        decs: list[decode.Decoder] = [decode.decoder(decode.BIGINT)] * len(self.select)  # token(...) first
        cols = self.tm.schema.columns
        for c, i in self.key_at.items():
            decs[i] = decode.decoder(cols[c])
        for col in self.columns:
            decs[col.value_at] = decode.decoder(col.type)
            if col.ts_at >= 0:
                per_element = col.kind in ("set", "map", "list", "udt")
                decs[col.ts_at] = decode.timestamps if per_element else decode.decoder(decode.BIGINT)
                decs[col.ttl_at] = decode.ttls if per_element else decode.decoder(decode.INT)
        return decs

    def decode(self, raw: Sequence[bytes | None]) -> list[Any]:
        """A row of the layout's SELECT, as the driver's bytes (None for null), decoded."""
        try:
            return [None if b is None else d(b) for d, b in zip(self._decoders, raw, strict=True)]
        except Exception:  # whatever the reason, it is this row's: named with its key below
            raise self._decode_error(raw) from None

    def _decode_error(self, raw: Sequence[bytes | None]) -> RowDecodeError:
        key, undecoded = self.raw_key(raw)
        if len(raw) != len(self._decoders):
            return RowDecodeError(self.tm.cql_name, key, "*", f"{len(raw)} values for {len(self._decoders)} "
                                  "selected (the mapping's schema differs from the table's)", undecoded)
        for i, (d, b) in enumerate(zip(self._decoders, raw, strict=True)):
            if b is None:
                continue
            try:
                d(b)
            except Exception as e:  # the first value that fails is the one to name
                shown = f"0x{b[:32].hex()}{'...' if len(b) > 32 else ''}"
                return RowDecodeError(self.tm.cql_name, key, self._describe(i),
                                      f"cannot decode {len(b)} bytes {shown}: {type(e).__name__}: {e}", undecoded)
        return RowDecodeError(self.tm.cql_name, key, "?", "cannot be decoded", undecoded)

    def _describe(self, i: int) -> str:
        expr = self.select[i]
        for c, at in self.key_at.items():
            if at == i:
                return f"{expr} ({self.tm.schema.columns[c].cql()})"
        for col in self.columns:
            if i == col.value_at:
                return f"{expr} ({col.type.cql()})"
        return expr

    def raw_key(self, raw: Sequence[bytes | None]) -> tuple[tuple[Any, ...], frozenset[str]]:
        """The row's primary key, decoded where possible, and the key columns that were not (each
        shown as its bytes' hex instead)."""
        out: list[Any] = []
        undecoded: set[str] = set()
        for c in self.tm.schema.primary_key:
            i = self.key_at[c]
            b = raw[i] if i < len(raw) else None
            try:
                out.append(None if b is None else self._decoders[i](b))
            except Exception:  # the key itself is undecodable: its bytes identify it
                out.append("0x" + bytes(b or b"").hex())
                undecoded.add(c)
        return tuple(out), frozenset(undecoded)

    def decode_keys(self, raw: Sequence[bytes | None]) -> list[Any]:
        """A row of one of the key queries (`keys_between`, ...): the token and primary key decoded,
        static values left as bytes (only their presence is looked at)."""
        n = len(self.tm.schema.primary_key) + 1
        try:
            return [None if b is None else d(b) for d, b in zip(self._decoders[:n], raw[:n], strict=True)]
        except Exception:
            raise self._decode_error(raw) from None

    def key_values(self, row: Sequence[Any]) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
        part = tuple(row[self.key_at[c]] for c in self.tm.schema.partition_key)
        if not self.ck_names:
            return part, ()
        clus = tuple(row[self.key_at[c]] for c in self.ck_names)
        if clus[0] is None:
            return part, None  # a partition with only static values
        return part, clus

    def values(self, row: Sequence[Any]) -> dict[str, Any]:
        """The row as {column: value} in the codec's conventions (what `compare` takes)."""
        out = {c: row[i] for c, i in self.key_at.items()}
        for col in self.columns:
            out[col.name] = row[col.value_at]
        return out

    def convert(self, row: Sequence[Any], now: int, with_static: bool = True) -> list[RowWork]:
        """The works of a decoded row: its regular row and, when `with_static`, its partition's
        static row. A row whose values do not fit its columns raises `RowDecodeError`."""
        token = int(row[0])
        part, clus = self.key_values(row)
        if self.counter_table:
            counters = {c.name: int(row[c.value_at]) for c in self.columns if row[c.value_at] is not None}
            return [RowWork(token, part, clus or (), counters=counters)] if counters or clus is not None else []
        regular: dict[tuple[int, int], Mutation] = {}
        static: dict[tuple[int, int], Mutation] = {}
        for col in self.columns:
            v = row[col.value_at]
            if v is None or (col.static and not with_static):
                continue
            try:
                _convert_column(static if col.static else regular, col, v, row[col.ts_at], row[col.ttl_at], now)
            except (TypeError, ValueError, AttributeError) as e:  # values that do not fit: this row's fault
                key = part + (clus if clus is not None else (None,) * len(self.ck_names))
                raise RowDecodeError(self.tm.cql_name, key, col.name, f"{type(e).__name__}: {e}") from None
        out: list[RowWork] = []
        if clus is not None:
            _add_marker(regular)
            out.append(RowWork(token, part, clus, list(regular.values())))
        if static:
            out.append(RowWork(token, part, (), list(static.values()), static=True))
        return out


def _convert_column(groups: dict[tuple[int, int], Mutation], col: Column, v: Any, wt: Any, ttl: Any,
                    now: int) -> None:
    if col.kind == "cell":
        _group(groups, int(wt), _expiry(ttl, now)).cells[col.name] = v
    elif col.kind == "udt":
        if not isinstance(wt, list):  # a frozen value after all: one cell
            _group(groups, int(wt), _expiry(ttl, now)).cells[col.name] = v
            return
        ttls = ttl or [None] * len(wt)
        live = [(ts, t) for ts, t in zip(wt, ttls, strict=True) if ts is not None]
        if not live or all(x is None for x in v.values()):
            return  # no field set: the column is absent
        expiry = 0 if any(t is None for _, t in live) else _expiry(max(t for _, t in live), now)
        _group(groups, max(ts for ts, _ in live), expiry).cells[col.name] = v
    elif col.kind == "set":
        by: dict[tuple[int, int], list[Any]] = {}
        for e, ts, t in zip(v, wt, ttl or [None] * len(wt), strict=True):
            by.setdefault((int(ts), _expiry(t, now)), []).append(e)
        for (ts, exp), elems in by.items():
            _group(groups, ts, exp).collection_ops.append((col.name, "set:add", elems))
    elif col.kind == "map":
        # a dict, or a list of pairs when Python cannot hold the keys apart (see the codec)
        entries = v.items() if isinstance(v, dict) else v
        pairs: dict[tuple[int, int], list[tuple[Any, Any]]] = {}
        for (k, x), ts, t in zip(entries, wt, ttl or [None] * len(wt), strict=True):
            pairs.setdefault((int(ts), _expiry(t, now)), []).append((k, x))
        for (ts, exp), ps in pairs.items():
            _group(groups, ts, exp).collection_ops.append((col.name, "map:put", ps))
    else:
        ttls = ttl or [None] * len(wt)
        if len(v) != len(wt) or len(ttls) != len(wt):
            raise ValueError(f"{len(v)} elements, {len(wt)} timestamps, {len(ttls)} TTLs")
        for op, ts, exp, elems in list_ops(list(v), [int(x) for x in wt], [_expiry(t, now) for t in ttls]):
            _group(groups, ts, exp).collection_ops.append((col.name, op, elems))


def list_ops(elems: list[Any], ts: list[int], exp: list[int]) -> list[tuple[str, int, int, Any]]:
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
    ops: list[tuple[str, int, int, Any]] = []
    for t, idx in groups[:lead]:
        ops.append(("list:prepend", t, max(exp[i] for i in idx), [elems[i] for i in idx]))
    # appends: the elements of one timestamp keep their positions (keys (ts, i) never collide),
    # in runs of one expiry each (an append and a later overwrite at the same timestamp may leave
    # elements of different TTLs)
    rest: dict[int, list[int]] = {}
    for t, idx in groups[lead:]:
        rest.setdefault(t, []).extend(idx)
    for t, idx in rest.items():
        start = 0
        while start < len(idx):
            end = start + 1
            while end < len(idx) and exp[idx[end]] == exp[idx[start]]:
                end += 1
            run = [elems[i] for i in idx[start:end]]
            ops.append(("list:append", t, exp[idx[start]], run) if start == 0
                       else ("list:append_at", t, exp[idx[start]], (start, run)))
            start = end
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

