"""Cassandra's row semantics, kept in a DynamoDB item so both stores converge.

Cassandra resolves every *cell* by its write timestamp: the newest write wins, a row deletion at
time D hides every cell written at or before D, a cell deletion is a timestamped tombstone, TTL'd
cells expire, and set and map elements are cells of their own. Two writers that touch different
columns with out-of-order timestamps therefore both win, each for its own column. A row-level
`ts < :ts` condition cannot express that, so the item carries per-cell metadata and every write is
a merge: read the item, merge the mutation exactly as Cassandra would, write it back on condition
that nobody else wrote in between (`_v`), retry if they did. The merge is a pure function here.

Item layout (attribute names configurable where noted):
- key attributes, then one attribute per *live* column value (absent when null, deleted, expired);
- `_m`: metadata as compact JSON: per-cell timestamp/expiry, per-element timestamps of non-frozen
  sets and maps, list element order, the row marker, and the row tombstone;
- `_ts` (mapping's timestamp attribute): the newest timestamp in the row;
- `_ttl` (mapping's TTL attribute): epoch seconds when the whole item may go (every live cell
  expires, or a pure tombstone's retention ends); absent while anything lives forever;
- `_v`: a version, incremented by every write (the optimistic-concurrency check);
- `_m.<column>`, `_m:r`: per-cell metadata a single-call write (translators.single_call) leaves
  beside `_m` for the cells it touched; `load_meta` folds them over `_m`'s entries (the newer
  wins) and the next full put folds them in.

Lists: elements are keyed by the write's timestamp and a sequence number, as Cassandra keys them
by time UUIDs; appends, prepends and whole-list writes merge like Cassandra's. Setting an element by
index and removing by value apply to the list as stored (Cassandra does a read-before-write too).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

# -- state -----------------------------------------------------------------------------------------


@dataclass
class Cell:
    value: Any  # None: a tombstone
    ts: int
    expiry: int = 0  # epoch seconds; 0: never

    def live(self, deleted: int, now: int) -> bool:
        return self.value is not None and self.ts > deleted and (self.expiry == 0 or self.expiry > now)


@dataclass
class Collection:
    """A non-frozen set, map or list: a collection tombstone plus one cell per element."""

    kind: str  # 'set' | 'map' | 'list'
    tomb: int = 0  # elements written at or before this are gone
    elems: dict[Any, Cell] = field(default_factory=dict)  # set: elem → Cell(True); map: key → Cell(v); list: (ts, n) → Cell(v)


@dataclass
class RowState:
    deleted: int = 0  # row (or partition/range) tombstone timestamp
    marker: Cell | None = None  # row liveness written by INSERT
    cells: dict[str, Cell] = field(default_factory=dict)
    collections: dict[str, Collection] = field(default_factory=dict)
    version: int = 0

    def max_ts(self) -> int:
        ts = [self.deleted]
        if self.marker:
            ts.append(self.marker.ts)
        ts.extend(c.ts for c in self.cells.values())
        for coll in self.collections.values():
            ts.append(coll.tomb)
            ts.extend(c.ts for c in coll.elems.values())
        return max(ts)


# -- mutations -------------------------------------------------------------------------------------


@dataclass
class Mutation:
    """One statement's effect on one row, at one timestamp (microseconds, like Cassandra)."""

    ts: int
    expiry: int = 0  # from USING TTL: now + ttl
    row_marker: bool = False  # INSERT writes one; UPDATE does not
    delete_row: bool = False
    cells: dict[str, Any] = field(default_factory=dict)  # column → value, None deletes the cell
    # (column, op, payload): op in overwrite | add | remove | put | remove_keys | append | prepend
    # | set_index | remove_values | delete
    collection_ops: list[tuple[str, str, Any]] = field(default_factory=list)


# Expiries this close are the same write computed twice (a retry, a second backfill's now + ttl):
# the cell already there stays, so repeating a copy rewrites nothing.
_EXPIRY_SLACK = 2


def _newer(cur: Cell | None, ts: int, value: Any = True, expiry: int = 0) -> bool:
    """Does a write at `ts` of `value` (None: a tombstone) expiring at `expiry` (0: never) beat
    the current cell?

    Equal timestamps resolve as Cassandra (4.0 on) does, independent of arrival order: a tombstone
    wins; then an expiring cell beats one that never expires, and of two expiring cells the later
    expiry wins; then the larger value (compared here by a canonical encoding, which orders some
    values differently from Cassandra's byte order; only exact-microsecond ties between different
    values can tell the difference).
    """
    if cur is None or ts > cur.ts:
        return True
    if ts < cur.ts:
        return False
    if cur.value is None:
        return False
    if value is None:
        return True
    if expiry != cur.expiry:
        if not cur.expiry:
            return True
        if not expiry:
            return False
        if abs(expiry - cur.expiry) > _EXPIRY_SLACK:
            return expiry > cur.expiry
    return _k(value) > _k(cur.value)


def merge(state: RowState | None, m: Mutation, now: int) -> RowState:
    """The row after `m`, exactly as Cassandra reconciles it (`now` in epoch seconds for TTLs)."""
    s = RowState() if state is None else _copy(state)
    if m.delete_row:
        s.deleted = max(s.deleted, m.ts)
    if m.row_marker and _newer(s.marker, m.ts, True, m.expiry):
        s.marker = Cell(True, m.ts, m.expiry)
    for col, value in m.cells.items():
        if _newer(s.cells.get(col), m.ts, value, m.expiry if value is not None else 0):
            s.cells[col] = Cell(value, m.ts, m.expiry if value is not None else 0)
    for col, op, payload in m.collection_ops:
        _apply_collection(s, col, op, payload, m.ts, m.expiry)
    return _purge(s, now)


def _coll(s: RowState, col: str, kind: str) -> Collection:
    c = s.collections.get(col)
    if c is None:
        c = s.collections[col] = Collection(kind)
    return c


def _apply_collection(s: RowState, col: str, op: str, payload: Any, ts: int, expiry: int) -> None:
    kind, _, verb = op.partition(":")
    c = _coll(s, col, kind)
    if verb in ("overwrite", "delete"):
        # a whole-collection write is a tombstone just before it, then the new elements
        c.tomb = max(c.tomb, ts - 1 if verb == "overwrite" else ts)
        if verb == "delete":
            return
        verb = "add" if kind != "map" else "put"
        if kind == "list":
            verb = "append"
    if kind == "set":
        for e in payload:
            if verb == "add" and _newer(c.elems.get(_k(e)), ts, e, expiry):
                c.elems[_k(e)] = Cell(e, ts, expiry)
            elif verb == "remove" and _newer(c.elems.get(_k(e)), ts, None):
                c.elems[_k(e)] = Cell(None, ts)
    elif kind == "map":
        if verb == "put":
            for k, v in _pairs(payload):
                new = (k, v) if v is not None else None
                if _newer(c.elems.get(_k(k)), ts, new, expiry if v is not None else 0):
                    c.elems[_k(k)] = Cell(new, ts, expiry if v is not None else 0)
        elif verb == "remove_keys":
            for k in payload:
                if _newer(c.elems.get(_k(k)), ts, None):
                    c.elems[_k(k)] = Cell(None, ts)
    elif kind == "list":
        if verb in ("append", "prepend", "append_at"):
            # append_at (start, items): the elements from position `start` of an append at `ts`,
            # for a copy of a list whose elements of one timestamp expire at different times
            start, items = payload if verb == "append_at" else (0, list(payload))
            n = len(items)
            for i, v in enumerate(items, start):
                # prepends sort before everything written so far, keeping their own order
                key = (ts, i) if verb != "prepend" else (-ts, i - n)
                # the same element written again (a retry, a second backfill) keeps its cell, as
                # Cassandra's reconciliation of equal cells does: no rewrite for an expiry a second off
                if _newer(c.elems.get(key), ts, v, expiry):
                    c.elems[key] = Cell(v, ts, expiry)
        elif verb == "set_index":
            idx, v = payload
            live = _live_list_keys(c, s.deleted, 0)
            if not 0 <= idx < len(live):
                raise IndexError(f"list index {idx} out of bound, list has size {len(live)}")
            key = live[idx]
            if _newer(c.elems[key], ts, v, expiry if v is not None else 0):
                c.elems[key] = Cell(v, ts, expiry if v is not None else 0)
        elif verb == "remove_values":
            doomed = list(payload)
            for key in _live_list_keys(c, s.deleted, 0):
                if c.elems[key].value in doomed and _newer(c.elems[key], ts, None):
                    c.elems[key] = Cell(None, ts)
    else:
        raise ValueError(f"unknown collection operation {op!r}")


def _k(v: Any) -> Any:
    """A hashable stand-in for a collection element (frozen values may be lists or dicts)."""
    try:
        k = orjson.dumps(v, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=_enc).decode()
    except TypeError:  # integers past 64 bits (varint): orjson refuses them, json does not
        return json.dumps(_finite(v), sort_keys=True, default=_enc, separators=(",", ":"))
    # JSON has no NaN or infinity (orjson writes null for them): such elements are told apart
    return k if "null" not in k else _k(_finite(v)) if _has_nonfinite(v) else k


def _has_nonfinite(v: Any) -> bool:
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, list | tuple | set | frozenset):
        return any(_has_nonfinite(x) for x in v)
    if isinstance(v, dict):
        return any(_has_nonfinite(k) or _has_nonfinite(x) for k, x in v.items())
    return False


def _finite(v: Any) -> Any:
    """`v` with each NaN or infinity replaced by a tagged string (JSON cannot hold them)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else {"$f": repr(v)}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    if isinstance(v, set | frozenset):
        return sorted((_finite(x) for x in v), key=repr)
    if isinstance(v, dict):
        return [[_finite(k), _finite(x)] for k, x in sorted(v.items(), key=repr)]
    return v


def _enc(o: Any) -> Any:
    if isinstance(o, bytes | bytearray):
        return {"$b": bytes(o).hex()}
    if isinstance(o, set | frozenset):
        return sorted(o, key=repr)
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def _pairs(payload: Any) -> Iterable[tuple[Any, Any]]:
    return payload.items() if isinstance(payload, dict) else payload


def _live_list_keys(c: Collection, deleted: int, now: int) -> list[Any]:
    floor = max(deleted, c.tomb)
    return [k for k in _list_order(c) if c.elems[k].live(floor, now)]


def _list_order(c: Collection) -> list[Any]:
    return sorted(c.elems, key=lambda k: (k[0] if k[0] >= 0 else -(2**63) - k[0], k[1]))


def _copy(s: RowState) -> RowState:
    return RowState(
        s.deleted,
        None if s.marker is None else Cell(s.marker.value, s.marker.ts, s.marker.expiry),
        {k: Cell(c.value, c.ts, c.expiry) for k, c in s.cells.items()},
        {k: Collection(c.kind, c.tomb, {ek: Cell(e.value, e.ts, e.expiry) for ek, e in c.elems.items()})
         for k, c in s.collections.items()},
        s.version,
    )


def _purge(s: RowState, now: int) -> RowState:
    """Forgets what can never matter again: cells shadowed by the row tombstone."""
    for col in [c for c, cell in s.cells.items() if cell.ts <= s.deleted]:
        del s.cells[col]
    if s.marker is not None and s.marker.ts <= s.deleted:
        s.marker = None
    for col, coll in list(s.collections.items()):
        floor = max(s.deleted, coll.tomb)
        for k in [k for k, e in coll.elems.items() if e.ts <= floor]:
            del coll.elems[k]
        if not coll.elems and coll.tomb <= s.deleted:
            del s.collections[col]
    return s


# -- what a reader sees ----------------------------------------------------------------------------


def visible(s: RowState, now: int) -> dict[str, Any] | None:
    """Live column values, or None when the row does not exist (as a Cassandra read sees it)."""
    out: dict[str, Any] = {}
    for col, cell in s.cells.items():
        if cell.live(s.deleted, now):
            out[col] = cell.value
    for col, coll in s.collections.items():
        floor = max(s.deleted, coll.tomb)
        if coll.kind == "list":
            vals = [coll.elems[k].value for k in _list_order(coll) if coll.elems[k].live(floor, now)]
            if vals:
                out[col] = vals
        elif coll.kind == "set":
            vals = [e.value for e in coll.elems.values() if e.live(floor, now)]
            if vals:
                out[col] = vals
        else:
            pairs = [e.value for e in coll.elems.values() if e.live(floor, now)]
            if pairs:
                d = dict(pairs) if all(_hashable(k) for k, _ in pairs) else None
                # keys Cassandra tells apart and Python does not (0.0, -0.0): pairs, as the codec does
                out[col] = d if d is not None and len(d) == len(pairs) else pairs
    marker_live = s.marker is not None and s.marker.live(s.deleted, now)
    if not out and not marker_live:
        return None
    return out


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def item_expiry(s: RowState, now: int, tombstone_ttl: int) -> int | None:
    """When DynamoDB may delete the item: once everything live has expired, or a tombstone's
    retention is over. None while any live data has no TTL."""
    expiries: list[int] = []
    live_any = False
    for cell in _all_cells(s):
        if cell.live(0, now):
            live_any = True
            if cell.expiry == 0:
                return None
            expiries.append(cell.expiry)
    if live_any:
        return max(expiries)
    # nothing live: keep the tombstone (and cell tombstones) long enough to beat late writes
    return now + tombstone_ttl


def _all_cells(s: RowState) -> Iterable[Cell]:
    if s.marker is not None and s.marker.ts > s.deleted:
        yield s.marker
    for c in s.cells.values():
        if c.ts > s.deleted:
            yield c
    for coll in s.collections.values():
        floor = max(s.deleted, coll.tomb)
        for e in coll.elems.values():
            if e.ts > floor:
                yield e


# -- metadata (de)serialisation --------------------------------------------------------------------


def dump_meta(s: RowState) -> str:
    """Timestamps and structure; values of live plain cells live in their own attributes."""
    meta: dict[str, Any] = {"d": s.deleted}
    if s.marker is not None:
        meta["r"] = marker_meta(s.marker)
    meta["c"] = {col: cell_meta(c) for col, c in s.cells.items()}
    meta["l"] = {col: collection_meta(coll) for col, coll in s.collections.items()}
    return dump_json(meta)


def dump_json(meta: Any) -> str:
    return orjson.dumps(meta, default=_enc).decode()


def marker_meta(marker: Cell) -> list[int]:
    return [marker.ts, marker.expiry]


def cell_meta(c: Cell) -> list[int]:
    """A plain cell: [ts, expiry, tombstone?]; a tombstone's value is None."""
    return [c.ts, c.expiry, 1 if c.value is None else 0]


def collection_meta(coll: Collection) -> dict[str, Any]:
    elems = [[list(key) if isinstance(key, tuple) else key, e.ts, e.expiry, e.value] for key, e in coll.elems.items()]
    return {"k": coll.kind, "t": coll.tomb, "e": elems}


def load_meta(meta: str, values: dict[str, Any], version: int,
              decode_element: Any = None, overlays: dict[str, str] | None = None) -> RowState:
    """Rebuilds the state from `_m` and the live values read from the column attributes.
    `decode_element(col, raw)` turns a JSON-stored collection element back into its CQL value.
    `overlays`: per-cell metadata a single-call write left beside `_m` (column → its `cell_meta`
    or `collection_meta`, MARKER → the marker's), folded over `_m`'s entries: the newer wins."""
    m = orjson.loads(meta)
    if overlays:
        fold_overlays(m, overlays)
    s = RowState(deleted=int(m.get("d", 0)), version=version)
    if "r" in m:
        s.marker = Cell(True, int(m["r"][0]), int(m["r"][1]))
    for col, (ts, exp, tomb) in m.get("c", {}).items():
        s.cells[col] = Cell(None if tomb else values.get(col), int(ts), int(exp))
    for col, cm in m.get("l", {}).items():
        coll = Collection(cm["k"], int(cm["t"]))
        for key, ts, exp, raw in cm["e"]:
            k = tuple(key) if isinstance(key, list) else key
            value = raw if decode_element is None or raw is None else decode_element(col, raw)
            coll.elems[k] = Cell(value, int(ts), int(exp))
        s.collections[col] = coll
    return s


MARKER = ""  # the row marker's key among `load_meta`'s overlays (no CQL column has an empty name)


def fold_overlays(m: dict[str, Any], overlays: dict[str, str]) -> None:
    """Folds single-call overlays (column → its meta JSON, MARKER → the marker's) over the parsed
    `_m`: the newer entry wins."""
    for col, raw in overlays.items():
        o = orjson.loads(raw)
        if col == MARKER:
            if "r" not in m or o[0] >= m["r"][0]:
                m["r"] = o
            continue
        section = m.setdefault("c" if isinstance(o, list) else "l", {})
        cur = section.get(col)
        if cur is None or _entry_ts(o) >= _entry_ts(cur):
            section[col] = o


def _entry_ts(entry: Any) -> int:
    """The newest timestamp of a `cell_meta` or `collection_meta` entry."""
    if isinstance(entry, list):
        return int(entry[0])
    return max([int(entry["t"])] + [int(e[1]) for e in entry["e"]])
