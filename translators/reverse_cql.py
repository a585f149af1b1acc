"""A DynamoDB row state → the CQL statements that give Cassandra the same row, timestamp by timestamp.

Every statement carries the timestamp of what it writes (`USING TIMESTAMP`), so Cassandra's own
last-write-wins merges the copy with what it already holds: anything Cassandra has that is newer
survives, anything older is shadowed, and running the copy twice changes nothing.

- the row marker and the plain cells written at the same (timestamp, expiry): one INSERT (marker)
  or UPDATE (no marker), with `TTL` the seconds left;
- a row tombstone: `DELETE FROM` the row at its timestamp (a static row: its static columns);
- cell tombstones and expired cells: `DELETE c` at the cell's timestamp (an expired cell is a
  tombstone at its write time in Cassandra too, so an older value there must not reappear);
- set and map elements: `s = s + {e}` / `m = m + {k: v}` at the element's own timestamp and TTL,
  element tombstones `s = s - {e}` / `DELETE m[k]`, a collection tombstone `DELETE s`;
- lists: Cassandra names list elements by time UUIDs made when the statement runs, so no
  statement can recreate an element. The list is written whole (`l = [...]`: a tombstone just
  before, the elements at the list's newest timestamp), and only when Cassandra's list differs
  (`ListWrite`), so a second run does not append the elements again.
An expired row marker is skipped: no statement writes a marker tombstone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cql_protocol.types import BIGINT, INT, CqlType, ListType, MapType, SetType

from .element_keys import element_from_key
from .item_codec import is_collection
from .mapping import TableMapping, quote_identifier
from .row_state import Cell, Collection, RowState, _list_order


@dataclass(frozen=True)
class Stmt:
    cql: str
    types: tuple[CqlType, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class ListWrite:
    """`stmt` is run only when Cassandra's `column` does not already hold `expected`."""

    column: str
    expected: tuple[Any, ...] | None  # None: the list is empty / deleted
    stmt: Stmt


@dataclass
class RowWrite:
    partition: tuple[Any, ...]
    clustering: tuple[Any, ...]  # () for a static row or a table without clustering
    stmts: list[Stmt] = field(default_factory=list)
    lists: list[ListWrite] = field(default_factory=list)


def _q(name: str) -> str:
    return quote_identifier(name)


class RowStatements:
    """Statement texts for one table (cached: each distinct text is prepared once)."""

    def __init__(self, tm: TableMapping) -> None:
        schema = tm.schema
        if schema.is_counter_table():
            raise ValueError(f"{tm.cql_name} is a counter table: counters carry no timestamps and can only be "
                             "incremented, so they cannot be copied back under last-write-wins")
        self.tm = tm
        self.cols = schema.columns
        self.table = f"{_q(tm.keyspace)}.{_q(tm.table)}"
        self.pk = schema.partition_key
        self.ck = schema.clustering_columns
        self.static = schema.static

    def _where(self, static: bool) -> str:
        keys = self.pk if static else self.pk + self.ck
        return " AND ".join(f"{_q(c)} = ?" for c in keys)

    def _key(self, partition: tuple[Any, ...], clustering: tuple[Any, ...]) -> tuple[list[CqlType], list[Any]]:
        names = self.pk + (self.ck if clustering else ())
        return [self.cols[c] for c in names], [*partition, *clustering]

    def row(self, partition: tuple[Any, ...], clustering: tuple[Any, ...], s: RowState, now: int) -> RowWrite:
        static = bool(self.ck) and not clustering
        out = RowWrite(partition, clustering)
        kt, kv = self._key(partition, clustering)
        where = self._where(static)

        def update(ts: int, ttl: int, sets: str, types: list[CqlType], vals: list[Any]) -> None:
            out.stmts.append(Stmt(f"UPDATE {self.table} USING TIMESTAMP ? AND TTL ? SET {sets} WHERE {where}",
                                  (BIGINT, INT, *types, *kt), (ts, ttl, *vals, *kv)))

        def delete(ts: int, what: str, types: list[CqlType], vals: list[Any]) -> None:
            out.stmts.append(Stmt(f"DELETE {what + ' ' if what else ''}FROM {self.table} USING TIMESTAMP ? WHERE {where}",
                                  (*types, BIGINT, *kt), (*vals, ts, *kv)))  # markers in text order

        if s.deleted > 0:
            if static:
                delete(s.deleted, ", ".join(_q(c) for c in sorted(self.static)), [], [])
            else:
                delete(s.deleted, "", [], [])
        self._plain(s, now, static, out, kt, kv, update, delete)
        for col, coll in sorted(s.collections.items()):
            floor = max(s.deleted, coll.tomb)
            if coll.kind == "list":
                self._list(col, coll, floor, now, out, update, delete)
                continue
            if coll.tomb > s.deleted:
                delete(coll.tomb, _q(col), [], [])
            for key, e in sorted(coll.elems.items(), key=lambda kv_: str(kv_[0])):
                if e.ts > floor:
                    self._element(col, coll.kind, key, e, now, update, delete)
        return out

    def _plain(self, s: RowState, now: int, static: bool, out: RowWrite, kt: list[CqlType], kv: list[Any],
               update: Any, delete: Any) -> None:
        groups: dict[tuple[int, int], list[tuple[str, Any]]] = {}
        for col, c in sorted(s.cells.items()):
            if c.ts <= s.deleted:
                continue
            if c.value is None or (c.expiry and c.expiry <= now):
                delete(c.ts, _q(col), [], [])
            else:
                groups.setdefault((c.ts, c.expiry), []).append((col, c.value))
        marker = s.marker
        if marker is not None and not static and marker.ts > s.deleted and not _expired(marker, now):
            groups.setdefault((marker.ts, marker.expiry), [])
            cells = groups.pop((marker.ts, marker.expiry))
            names = [*self.pk, *self.ck, *(c for c, _ in cells)]
            marks = ", ".join("?" for _ in names)
            out.stmts.append(Stmt(
                f"INSERT INTO {self.table} ({', '.join(_q(n) for n in names)}) VALUES ({marks}) "
                "USING TIMESTAMP ? AND TTL ?",
                (*kt, *(self.cols[c] for c, _ in cells), BIGINT, INT),
                (*kv, *(v for _, v in cells), marker.ts, _ttl(marker.expiry, now))))
        for (ts, expiry), cells in sorted(groups.items()):
            update(ts, _ttl(expiry, now), ", ".join(f"{_q(c)} = ?" for c, _ in cells),
                   [self.cols[c] for c, _ in cells], [v for _, v in cells])

    def _element(self, col: str, kind: str, key: Any, e: Cell, now: int, update: Any, delete: Any) -> None:
        t = self.cols[col]
        gone = e.value is None or _expired(e, now)
        if kind == "set":
            assert isinstance(t, SetType)
            value = e.value if e.value is not None else element_from_key(t.element, key)
            if gone:
                update(e.ts, 0, f"{_q(col)} = {_q(col)} - ?", [t], [[value]])
            else:
                update(e.ts, _ttl(e.expiry, now), f"{_q(col)} = {_q(col)} + ?", [t], [[value]])
            return
        assert isinstance(t, MapType)
        if gone:
            k = e.value[0] if e.value is not None else element_from_key(t.key, key)
            delete(e.ts, f"{_q(col)}[?]", [t.key], [k])
        else:
            update(e.ts, _ttl(e.expiry, now), f"{_q(col)} = {_q(col)} + ?", [t], [[tuple(e.value)]])

    def _list(self, col: str, coll: Collection, floor: int, now: int, out: RowWrite, update: Any,
              delete: Any) -> None:
        t = self.cols[col]
        assert isinstance(t, ListType)
        above = [coll.elems[k] for k in _list_order(coll) if coll.elems[k].ts > floor]
        live = [e for e in above if not _expired(e, now) and e.value is not None]
        newest = max([e.ts for e in above] + [coll.tomb])
        if newest <= 0:
            return
        before = len(out.stmts)
        if live:
            expiries = [e.expiry for e in live]
            # elements with different TTLs become one write: the list lives as long as its last element
            ttl = 0 if 0 in expiries else _ttl(max(expiries), now)
            update(newest, ttl, f"{_q(col)} = ?", [t], [[e.value for e in live]])
        else:
            delete(newest, _q(col), [], [])
        stmt = out.stmts.pop(before)
        out.lists.append(ListWrite(col, tuple(e.value for e in live) if live else None, stmt))


def _expired(c: Cell, now: int) -> bool:
    return c.expiry != 0 and c.expiry <= now


def _ttl(expiry: int, now: int) -> int:
    return 0 if expiry == 0 else max(1, expiry - now)


def collection_columns(tm: TableMapping) -> list[str]:
    return [c for c, t in tm.schema.columns.items() if is_collection(t)]
