"""What makes a DynamoDB item equal to Cassandra's row, given only what CQL shows (pure).

CQL shows live cells with their WRITETIME and TTL; it never shows the tombstones that hid older
writes (a null written by INSERT, an expired TTL, a collection overwrite, a row, range or partition
delete). A mirrored write carrying an older client timestamp than such a tombstone is ignored by
Cassandra and yet lands in DynamoDB, where nothing records the tombstone. Merging Cassandra's cells
into the item cannot remove it: it is not older than anything the merge knows of.

The way out is an order of reads. The item is read first (state D, version v), then Cassandra's row
(state C). Every cell in D reached Cassandra before DynamoDB (the sidecar writes Cassandra first,
the backfill copies from it), so a live cell of D that C does not show was beaten in Cassandra by
something at its timestamp or later. The repair target is therefore C's cells, plus a tombstone at
its own timestamp for every cell and element D has and C lacks, written on condition that the item
is still at version v (anything written in between makes the caller read both again):

- a tombstone at the cell's own timestamp hides exactly that cell and nothing newer, so a live
  write with a current timestamp that lands after the read still wins;
- a write with an old timestamp that arrives after the read, against a tombstone only Cassandra
  knows, lands in DynamoDB again; the next round sees and removes it the same way (documented in
  docs/backfill.md: rounds until a validate is clean).

`metadata_differences` tells whether two states show the same WRITETIME and TTL (the values are
compared by `translators.compare`), so "clean" covers timestamps and expiries too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .row_state import Cell, Collection, Mutation, RowState, _copy, _k, _list_order, _purge, merge

# TTL() has second precision and is read at a slightly different moment on each side
EXPIRY_SLACK = 2
KEY_ONLY_MARKER_TS = 1  # the marker a key-only row gets when read through CQL (see backfill rows)


def source_state(mutations: Sequence[Mutation], now: int) -> RowState | None:
    """The row state CQL's view of a Cassandra row amounts to (None: no such row)."""
    s: RowState | None = None
    for m in mutations:
        s = merge(s, m, now)
    return s


def _same_expiry(a: int, b: int) -> bool:
    if a == 0 or b == 0:
        return a == b
    return abs(a - b) <= EXPIRY_SLACK


def same_value(a: Any, b: Any) -> bool:
    """Equal values, NaN included (NaN != NaN for Python, but it is one value to Cassandra)."""
    return a is b or a == b or (type(a) is type(b) and _k(a) == _k(b))


def _same_cell(a: Cell, b: Cell) -> bool:
    return a.ts == b.ts and same_value(a.value, b.value) and _same_expiry(a.expiry, b.expiry)


def _identical(a: Cell | None, b: Cell | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.ts == b.ts and a.expiry == b.expiry and same_value(a.value, b.value)


def _real_timestamps(src: RowState) -> Iterable[int]:
    """Timestamps CQL showed (the marker is only inferred, so it is left out)."""
    for c in src.cells.values():
        yield c.ts
    for coll in src.collections.values():
        for e in coll.elems.values():
            yield e.ts


def repair_target(old: RowState | None, src: RowState | None, now: int, *, static_row: bool = False
                  ) -> RowState | None:
    """The item state that shows exactly Cassandra's row (`src`, read after `old` was).

    None when nothing needs to exist (no item and no row). The result carries `old`'s version, for
    the conditional write."""
    if src is None:
        if old is None:
            return None
        # Cassandra has no such row although everything in the item reached it first: whatever
        # hides the row is at least as new as the item's newest timestamp
        t = _copy(old)
        t.deleted = max(t.deleted, old.max_ts())
        return _purge(t, now)
    t = RowState(version=old.version if old is not None else 0)
    real_min = min(_real_timestamps(src), default=None)
    if old is not None:
        # the item's row tombstone stays unless it would hide something Cassandra shows
        t.deleted = old.deleted if real_min is None or old.deleted < real_min else real_min - 1
    if not static_row:
        t.marker = _marker(old, src, t.deleted, now)
    for col, c in src.cells.items():
        mine = old.cells.get(col) if old is not None else None
        t.cells[col] = _copy_cell(mine if mine is not None and _same_cell(mine, c) else c)
    if old is not None:
        for col, mine in old.cells.items():
            if col in t.cells or mine.ts <= t.deleted:
                continue
            # shown nowhere in Cassandra: beaten there at its own timestamp or later
            t.cells[col] = Cell(None, mine.ts)
    for col in set(src.collections) | (set(old.collections) if old is not None else set()):
        coll = _collection(old.collections.get(col) if old is not None else None, src.collections.get(col),
                           t.deleted)
        if coll is not None:
            t.collections[col] = coll
    return _purge(t, now)


def _marker(old: RowState | None, src: RowState, deleted: int, now: int) -> Cell | None:
    if src.marker is None:
        return None
    # a marker the item got from a mirrored INSERT is the real one; CQL's is only inferred
    if old is not None and old.marker is not None and old.marker.live(deleted, now):
        return _copy_cell(old.marker)
    ts = src.marker.ts if src.marker.ts > deleted else deleted + 1
    return Cell(True, ts, src.marker.expiry)


def _collection(mine: Collection | None, theirs: Collection | None, deleted: int) -> Collection | None:
    if theirs is None and mine is None:
        return None
    kind = (theirs or mine).kind  # type: ignore[union-attr]
    out = Collection(kind)
    if theirs is not None:
        real_min = min((e.ts for e in theirs.elems.values()), default=None)
        tomb = mine.tomb if mine is not None else 0
        out.tomb = tomb if real_min is None or tomb < real_min else real_min - 1
        for k, e in theirs.elems.items():
            m = mine.elems.get(k) if mine is not None else None
            out.elems[k] = _copy_cell(m if m is not None and _same_cell(m, e) else e)
    elif mine is not None:
        out.tomb = mine.tomb
    if mine is not None:
        for k, e in mine.elems.items():
            if k in out.elems or e.ts <= max(out.tomb, deleted):
                continue
            out.elems[k] = Cell(None, e.ts)
    return out


def _copy_cell(c: Cell) -> Cell:
    return Cell(c.value, c.ts, c.expiry)


def same_state(a: RowState | None, b: RowState | None) -> bool:
    """Equal but for the version (what a conditional write would change)."""
    if a is None or b is None:
        return a is b
    if a.deleted != b.deleted or not _identical(a.marker, b.marker) or a.cells.keys() != b.cells.keys():
        return False
    if any(not _identical(c, b.cells[k]) for k, c in a.cells.items()):
        return False
    if a.collections.keys() != b.collections.keys():
        return False
    for k, ca in a.collections.items():
        cb = b.collections[k]
        if ca.kind != cb.kind or ca.tomb != cb.tomb or ca.elems.keys() != cb.elems.keys():
            return False
        if any(not _identical(e, cb.elems[ek]) for ek, e in ca.elems.items()):
            return False
    return True


# -- WRITETIME and TTL as a reader sees them ---------------------------------------------------------


def metadata_differences(src: RowState, dst: RowState, now: int) -> list[str]:
    """Where the live cells' timestamps or expiries differ between Cassandra's row (`src`) and the
    item (`dst`). Values are `translators.compare`'s business; this looks only at what WRITETIME()
    and TTL() would show, element by element for non-frozen collections."""
    out: list[str] = []
    for col, c in src.cells.items():
        if not c.live(src.deleted, now):
            continue
        d = dst.cells.get(col)
        if d is None or not d.live(dst.deleted, now):
            continue  # a value difference, reported by compare
        if d.ts != c.ts:
            out.append(f"writetime({col}): Cassandra {c.ts}, DynamoDB {d.ts}")
        if not _same_expiry(c.expiry, d.expiry):
            out.append(f"ttl({col}): Cassandra {_ttl(c.expiry, now)}, DynamoDB {_ttl(d.expiry, now)}")
    for col, coll in src.collections.items():
        other = dst.collections.get(col)
        if other is None:
            continue
        mine = _live_elements(coll, src.deleted, now)
        theirs = _live_elements(other, dst.deleted, now)
        if coll.kind == "list":
            a = [(e.ts, e.expiry) for e in mine.values()]
            b = [(e.ts, e.expiry) for e in theirs.values()]
            if len(a) == len(b) and any(x[0] != y[0] or not _same_expiry(x[1], y[1]) for x, y in zip(a, b,
                                                                                                    strict=True)):
                out.append(f"writetime/ttl({col}): Cassandra {a}, DynamoDB {b}")
            continue
        for k, e in mine.items():
            d = theirs.get(k)
            if d is None:
                continue
            if d.ts != e.ts:
                out.append(f"writetime({col}[{_show(e.value)}]): Cassandra {e.ts}, DynamoDB {d.ts}")
            if not _same_expiry(e.expiry, d.expiry):
                out.append(f"ttl({col}[{_show(e.value)}]): Cassandra {_ttl(e.expiry, now)}, "
                           f"DynamoDB {_ttl(d.expiry, now)}")
    return out


def _live_elements(coll: Collection, deleted: int, now: int) -> dict[Any, Cell]:
    floor = max(deleted, coll.tomb)
    keys = _list_order(coll) if coll.kind == "list" else list(coll.elems)
    return {k: coll.elems[k] for k in keys if coll.elems[k].live(floor, now)}


def _ttl(expiry: int, now: int) -> int | None:
    return None if expiry == 0 else expiry - now


def _show(v: Any) -> str:
    if isinstance(v, tuple) and len(v) == 2:  # a map element is (key, value)
        return repr(v[0])
    return repr(v)
