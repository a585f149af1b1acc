"""The repair target against random histories full of tombstones CQL cannot show.

Cassandra is modelled by `row_state.merge` over the whole history; DynamoDB by the same merge over
what the mirror saw (writes during dual writes, including ones whose client timestamps are older
than the invisible tombstones of the history). The backfill and the repair only get what a CQL
read shows (`cql_view`). After one repair the item must show exactly Cassandra's row: values,
WRITETIME and TTL; and later writes with current timestamps keep both equal.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.backfill.rows import KEY_ONLY_MARKER_TS, list_ops
from translators.convergence import metadata_differences, repair_target, same_state, source_state
from translators.row_state import Cell, Mutation, RowState, _list_order, merge, visible

NOW = 10_000
EXPIRIES = (0, 0, 0, NOW - 100, NOW + 5_000)  # mostly none, some expired, some alive


def cql_view(s: RowState | None, now: int) -> list[Mutation]:
    """What the backfill makes of a row read with WRITETIME/TTL (as proxy.backfill.rows does)."""
    if s is None or visible(s, now) is None:
        return []
    groups: dict[tuple[int, int], Mutation] = {}

    def g(ts: int, exp: int) -> Mutation:
        return groups.setdefault((ts, exp), Mutation(ts, exp))

    for col, c in s.cells.items():
        if c.live(s.deleted, now):
            g(c.ts, c.expiry).cells[col] = c.value
    for col, coll in s.collections.items():
        floor = max(s.deleted, coll.tomb)
        if coll.kind == "list":
            live = [coll.elems[k] for k in _list_order(coll) if coll.elems[k].live(floor, now)]
            for op, ts, exp, elems in list_ops([e.value for e in live], [e.ts for e in live],
                                               [e.expiry for e in live]):
                g(ts, exp).collection_ops.append((col, op, elems))
            continue
        for e in coll.elems.values():
            if e.live(floor, now):
                if coll.kind == "set":
                    g(e.ts, e.expiry).collection_ops.append((col, "set:add", [e.value]))
                else:
                    g(e.ts, e.expiry).collection_ops.append((col, "map:put", [e.value]))
    if not groups:
        groups[(KEY_ONLY_MARKER_TS, 0)] = Mutation(KEY_ONLY_MARKER_TS, 0, row_marker=True)
    else:
        oldest = min(ts for ts, _ in groups)
        exps = [exp for ts, exp in groups if ts == oldest]
        groups[(oldest, 0 if 0 in exps else max(exps))].row_marker = True
    return list(groups.values())


def apply(s: RowState | None, ms: list[Mutation], now: int = NOW) -> RowState | None:
    for m in ms:
        s = merge(s, m, now)
    return s


def _mutation(kind: str, ts: int, exp: int, a: int, b: int) -> Mutation:
    if kind == "insert":
        return Mutation(ts, exp, row_marker=True, cells={"v": None if a % 3 == 0 else f"x{a}", "n": b or None})
    if kind == "update":
        return Mutation(ts, exp, cells={"v": f"y{a}"})
    if kind == "null":
        return Mutation(ts, cells={"n": None})
    if kind == "delete_row":
        return Mutation(ts, delete_row=True)
    if kind == "set_add":
        return Mutation(ts, exp, collection_ops=[("s", "set:add", [a, b])])
    if kind == "set_remove":
        return Mutation(ts, collection_ops=[("s", "set:remove", [a])])
    if kind == "set_overwrite":
        return Mutation(ts, exp, collection_ops=[("s", "set:overwrite", [b])])
    if kind == "map_put":
        return Mutation(ts, exp, collection_ops=[("m", "map:put", [(a, b)])])
    if kind == "map_remove":
        return Mutation(ts, collection_ops=[("m", "map:remove_keys", [a])])
    if kind == "map_delete":
        return Mutation(ts, collection_ops=[("m", "map:delete", None)])
    if kind == "list_append":
        return Mutation(ts, exp, collection_ops=[("l", "list:append", [a, b])])
    return Mutation(ts, exp, collection_ops=[("l", "list:overwrite", [a])])


KINDS = ["insert", "update", "null", "delete_row", "set_add", "set_remove", "set_overwrite", "map_put",
         "map_remove", "map_delete", "list_append", "list_overwrite"]
mutations = st.builds(_mutation, st.sampled_from(KINDS), st.integers(1, 400), st.sampled_from(EXPIRIES),
                      st.integers(0, 4), st.integers(0, 4))


def _shown(s: RowState | None, now: int) -> dict[str, Any] | None:
    row = visible(s, now) if s is not None else None
    if row is not None and "s" in row:
        row["s"] = sorted(row["s"])  # a set: element order means nothing
    return row


def equal_rows(cass: RowState | None, item: RowState | None, now: int = NOW) -> list[str]:
    a = _shown(cass, now)
    b = _shown(item, now)
    if a != b:
        return [f"values: Cassandra {a}, DynamoDB {b}"]
    if a is None or cass is None or item is None:
        return []
    return metadata_differences(cass, item, now)


@settings(max_examples=400, deadline=None)
@given(history=st.lists(mutations, max_size=8), live=st.lists(mutations, max_size=6),
       later=st.lists(mutations, max_size=4))
def test_one_repair_makes_the_item_show_cassandras_row(history: list[Mutation], live: list[Mutation],
                                                       later: list[Mutation]) -> None:
    # history reaches Cassandra only; live writes (any timestamps, old ones included) reach both
    cass = apply(None, history + live)
    item = apply(None, live)
    # the backfill: Cassandra's cells merged into whatever the mirror left
    backfilled = apply(item, cql_view(cass, NOW))
    target = repair_target(backfilled, source_state(cql_view(cass, NOW), NOW), NOW)
    assert equal_rows(cass, target) == []
    # a second round changes nothing
    again = repair_target(target, source_state(cql_view(cass, NOW), NOW), NOW)
    assert same_state(again, target)
    # writes with current timestamps keep both stores equal
    current = [Mutation(m.ts + 1_000, m.expiry, m.row_marker, m.delete_row, m.cells, m.collection_ops)
               for m in later]
    after = equal_rows(apply(cass, current), apply(target, current))
    # CQL shows no row marker (the liveness an INSERT writes): once every cell of a row is gone,
    # whether a bare key remains may differ; the next validate round reports and repairs that row
    assert after in ([], ["values: Cassandra None, DynamoDB {}"], ["values: Cassandra {}, DynamoDB None"])


def test_a_tombstone_cql_cannot_show_beats_an_older_mirrored_write() -> None:
    # history: v written at 100, then nulled at 300 (invisible); a client writes v at 200 later
    cass = apply(None, [Mutation(100, row_marker=True, cells={"v": "a", "n": 1}), Mutation(300, cells={"v": None}),
                        Mutation(200, cells={"v": "late"})])
    item = apply(None, [Mutation(200, cells={"v": "late"})])
    merged = apply(item, cql_view(cass, NOW))
    assert visible(merged, NOW) == {"v": "late", "n": 1}  # what a merge alone leaves
    target = repair_target(merged, source_state(cql_view(cass, NOW), NOW), NOW)
    assert target is not None and visible(target, NOW) == {"n": 1}
    assert target.cells["v"] == Cell(None, 200)  # a tombstone at its own timestamp only
    # a newer live write still wins over that tombstone
    assert visible(merge(target, Mutation(250, cells={"v": "new"}), NOW), NOW) == {"v": "new", "n": 1}


def test_a_row_cassandra_lacks_is_tombstoned_at_the_items_newest_timestamp() -> None:
    item = apply(None, [Mutation(150, row_marker=True, cells={"v": "x"}), Mutation(170, cells={"n": 2})])
    target = repair_target(item, None, NOW)
    assert target is not None and target.deleted == 170 and visible(target, NOW) is None
    assert visible(merge(target, Mutation(171, cells={"v": "y"}), NOW), NOW) == {"v": "y"}


def test_a_row_tombstone_the_item_has_but_cassandra_never_took_is_lowered() -> None:
    item = apply(None, [Mutation(500, delete_row=True)])
    cass = apply(None, [Mutation(100, row_marker=True, cells={"v": "kept"})])
    target = repair_target(item, source_state(cql_view(cass, NOW), NOW), NOW)
    assert equal_rows(cass, target) == []
    assert target is not None and target.deleted == 99


def test_equal_cells_with_expiries_a_second_apart_are_left_alone() -> None:
    item = apply(None, [Mutation(100, NOW + 500, row_marker=True, cells={"v": "a"})])
    src = source_state([Mutation(100, NOW + 501, row_marker=True, cells={"v": "a"})], NOW)
    target = repair_target(item, src, NOW)
    assert same_state(target, item)


def test_metadata_differences_name_the_cell_and_element() -> None:
    a = apply(None, [Mutation(100, row_marker=True, cells={"v": "a"}),
                     Mutation(120, NOW + 50, collection_ops=[("s", "set:add", [1])])])
    b = apply(None, [Mutation(101, row_marker=True, cells={"v": "a"}),
                     Mutation(120, 0, collection_ops=[("s", "set:add", [1])])])
    assert a is not None and b is not None
    diffs: list[Any] = metadata_differences(a, b, NOW)
    assert any(d.startswith("writetime(v)") for d in diffs)
    assert any(d.startswith("ttl(s[1])") for d in diffs)
