"""The merge follows Cassandra's reconciliation rules, whatever order writes arrive in."""

from __future__ import annotations

import itertools
import random

import pytest

from translators.row_state import Mutation, RowState, dump_meta, item_expiry, load_meta, merge, visible

NOW = 1_800_000_000


def apply(*muts: Mutation, now: int = NOW) -> RowState:
    s = None
    for m in muts:
        s = merge(s, m, now)
    assert s is not None
    return s


def test_out_of_order_writes_to_different_columns_both_win():
    a = Mutation(ts=20, cells={"a": "new-a"})
    b = Mutation(ts=10, cells={"b": "old-but-only-b"})
    for order in ([a, b], [b, a]):
        assert visible(apply(*order), NOW) == {"a": "new-a", "b": "old-but-only-b"}


def test_last_write_wins_per_cell_in_any_order():
    muts = [Mutation(ts=t, cells={"v": f"v{t}"}) for t in (5, 9, 1, 7)]
    for perm in itertools.permutations(muts):
        assert visible(apply(*perm), NOW) == {"v": "v9"}


def test_delete_then_late_older_write_does_not_resurrect():
    insert = Mutation(ts=10, row_marker=True, cells={"v": "x"})
    delete = Mutation(ts=20, delete_row=True)
    late = Mutation(ts=15, row_marker=True, cells={"v": "stale"})  # e.g. a backfill that read before the delete
    for perm in itertools.permutations([insert, delete, late]):
        assert visible(apply(*perm), NOW) is None
    newer = Mutation(ts=30, cells={"w": "fresh"})
    s = apply(insert, delete, newer)
    assert visible(s, NOW) == {"w": "fresh"}  # only what was written after the delete


def test_insert_with_only_the_key_creates_a_row_update_does_not():
    assert visible(apply(Mutation(ts=1, row_marker=True)), NOW) == {}
    assert visible(apply(Mutation(ts=1, cells={"v": None})), NOW) is None


def test_null_in_insert_is_a_cell_tombstone():
    s = apply(Mutation(ts=1, row_marker=True, cells={"a": 1, "b": 2}), Mutation(ts=2, row_marker=True, cells={"a": None}))
    assert visible(s, NOW) == {"b": 2}
    s = merge(s, Mutation(ts=1, cells={"a": 5}), NOW)  # older than the tombstone
    assert visible(s, NOW) == {"b": 2}


def test_ttl_expires_cells_and_sets_the_item_expiry():
    s = apply(Mutation(ts=1, row_marker=True, expiry=NOW + 100, cells={"a": 1}))
    assert visible(s, NOW) == {"a": 1}
    assert visible(s, NOW + 100) is None
    assert item_expiry(s, NOW, tombstone_ttl=864000) == NOW + 100
    s = merge(s, Mutation(ts=2, cells={"b": 2}), NOW)  # no TTL: the item lives on
    assert item_expiry(s, NOW, 864000) is None
    assert visible(s, NOW + 200) == {"b": 2}


def test_tombstone_item_expires_after_retention():
    s = apply(Mutation(ts=5, delete_row=True))
    assert visible(s, NOW) is None
    assert item_expiry(s, NOW, tombstone_ttl=3600) == NOW + 3600


def test_set_elements_are_cells():
    add_x = Mutation(ts=10, collection_ops=[("tags", "set:add", ["x", "y"])])
    rm_x = Mutation(ts=20, collection_ops=[("tags", "set:remove", ["x"])])
    add_x_late = Mutation(ts=15, collection_ops=[("tags", "set:add", ["x"])])
    for perm in itertools.permutations([add_x, rm_x, add_x_late]):
        assert sorted(visible(apply(*perm), NOW)["tags"]) == ["y"]
    overwrite = Mutation(ts=30, collection_ops=[("tags", "set:overwrite", ["z"])])
    assert visible(apply(add_x, overwrite), NOW) == {"tags": ["z"]}
    older_add = Mutation(ts=25, collection_ops=[("tags", "set:add", ["w"])])
    assert visible(apply(add_x, overwrite, older_add), NOW) == {"tags": ["z"]}


def test_map_put_and_remove():
    s = apply(
        Mutation(ts=1, collection_ops=[("m", "map:overwrite", {"a": 1, "b": 2})]),
        Mutation(ts=3, collection_ops=[("m", "map:put", {"c": 3})]),
        Mutation(ts=2, collection_ops=[("m", "map:remove_keys", ["a"])]),
        Mutation(ts=4, collection_ops=[("m", "map:put", {"b": None})]),
    )
    assert visible(s, NOW) == {"m": {"c": 3}}


def test_lists_append_prepend_index_and_remove():
    s = apply(
        Mutation(ts=10, collection_ops=[("l", "list:overwrite", [1, 2])]),
        Mutation(ts=11, collection_ops=[("l", "list:append", [3])]),
        Mutation(ts=12, collection_ops=[("l", "list:prepend", [-1, 0])]),
    )
    assert visible(s, NOW) == {"l": [-1, 0, 1, 2, 3]}
    s = merge(s, Mutation(ts=13, collection_ops=[("l", "list:set_index", (1, 100))]), NOW)
    s = merge(s, Mutation(ts=14, collection_ops=[("l", "list:remove_values", [2])]), NOW)
    assert visible(s, NOW) == {"l": [-1, 100, 1, 3]}
    with pytest.raises(IndexError, match="out of bound"):
        merge(s, Mutation(ts=15, collection_ops=[("l", "list:set_index", (9, 1))]), NOW)
    s = merge(s, Mutation(ts=16, collection_ops=[("l", "list:delete", None)]), NOW)
    assert visible(s, NOW) is None


def test_meta_round_trip_keeps_every_timestamp():
    s = apply(
        Mutation(ts=10, row_marker=True, expiry=NOW + 50, cells={"a": "x", "b": None}),
        Mutation(ts=12, collection_ops=[("tags", "set:add", ["p", "q"]), ("l", "list:append", [1, 2])]),
        Mutation(ts=5, delete_row=True),
    )
    vis = visible(s, NOW)
    assert vis is not None
    plain = {k: v for k, v in vis.items() if k in s.cells}
    back = load_meta(dump_meta(s), plain, version=s.version)
    assert back == s


def _norm(v):
    return None if v is None else {k: sorted(x) if isinstance(x, list) else x for k, x in v.items()}


def test_convergence_under_random_orders():
    rng = random.Random(7)
    cols = ["a", "b", "c"]
    for _ in range(200):
        muts = []
        for t in rng.sample(range(1, 60), 8):
            kind = rng.random()
            if kind < 0.15:
                muts.append(Mutation(ts=t, delete_row=True))
            elif kind < 0.4:
                muts.append(Mutation(ts=t, row_marker=True, cells={c: rng.choice([None, t]) for c in cols}))
            else:
                muts.append(Mutation(ts=t, cells={rng.choice(cols): t},
                                     collection_ops=[("s", "set:add", [t % 5]), ("s", "set:remove", [(t + 1) % 5])]))
        ref = visible(apply(*sorted(muts, key=lambda m: m.ts)), NOW)
        shuffled = muts[:]
        rng.shuffle(shuffled)
        got = visible(apply(*shuffled), NOW)
        assert _norm(got) == _norm(ref)


def test_equal_timestamps_resolve_the_same_in_any_order():
    a = Mutation(ts=5, cells={"v": "apple"})
    b = Mutation(ts=5, cells={"v": "banana"})
    d = Mutation(ts=5, cells={"v": None})
    assert visible(apply(a, b), NOW) == visible(apply(b, a), NOW) == {"v": "banana"}
    assert visible(apply(a, d), NOW) == visible(apply(d, a), NOW) is None  # the tombstone wins


@pytest.mark.parametrize("order", [0, 1])
def test_equal_timestamps_an_expiring_cell_beats_one_that_never_expires(order: int):
    """Cassandra 4.0 on (CASSANDRA-14592): at one timestamp an expiring cell wins over a regular
    one, and of two expiring cells the later expiry; only then the value decides."""
    plain = Mutation(ts=5, cells={"v": "zebra"}, collection_ops=[("l", "list:append", ["zebra"])])
    ttl = Mutation(ts=5, expiry=NOW + 100, cells={"v": "apple"}, collection_ops=[("l", "list:append", ["apple"])])
    longer = Mutation(ts=5, expiry=NOW + 900, cells={"v": "aardvark"})
    pair = [plain, ttl] if order == 0 else [ttl, plain]
    s = apply(*pair)
    assert visible(s, NOW) == {"v": "apple", "l": ["apple"]}
    assert s.cells["v"].expiry == NOW + 100 and s.collections["l"].elems[(5, 0)].expiry == NOW + 100
    trio = apply(*pair, longer) if order == 0 else apply(longer, *pair)
    assert visible(trio, NOW)["v"] == "aardvark"
    # the same write again with an expiry a second later (a retry, a second copy) changes nothing
    again = merge(s, Mutation(ts=5, expiry=NOW + 101, cells={"v": "apple"}), NOW)
    assert again.cells["v"].expiry == NOW + 100


def test_elements_python_or_json_cannot_tell_apart_stay_apart():
    # NaN and infinities (JSON has neither), 0.0 and -0.0 (equal in Python): distinct in Cassandra
    nan, inf = float("nan"), float("inf")
    s = apply(Mutation(ts=5, row_marker=True, collection_ops=[
        ("s", "set:add", [nan, -inf, inf, -0.0, 0.0, [nan], [None]]),
        ("m", "map:put", [(-0.0, 1), (0.0, 2), (nan, 3)])]))
    got = visible(s, NOW)
    assert got is not None and len(got["s"]) == 7
    assert [repr(k) for k, _ in got["m"]] == ["-0.0", "0.0", "nan"]  # pairs: a dict would merge the zeros
    # the same elements written again are the same elements, not new ones
    again = merge(s, Mutation(ts=6, collection_ops=[("s", "set:add", [float("nan"), -inf, [float("nan")]])]), NOW)
    assert len(visible(again, NOW)["s"]) == 7  # type: ignore[index]
