"""Range splitting and the conversion of a scanned row (values, WRITETIME, TTL) into mutations."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from proxy.backfill.ranges import (
    MAX_TOKEN,
    MIN_TOKEN,
    RangeIndex,
    TokenRange,
    owned_ranges,
    plan,
    sample,
    split,
)
from proxy.backfill.rows import KEY_ONLY_MARKER_TS, ScanLayout, list_ops
from translators.convergence import repair_target, source_state
from translators.mapping import loads_mapping
from translators.row_state import Mutation, RowState, merge, visible


def _covers_ring(rs: list[TokenRange]) -> None:
    assert rs[0].start == MIN_TOKEN and rs[-1].end == MAX_TOKEN
    for a, b in itertools.pairwise(rs):
        assert a.end == b.start


def test_owned_ranges_cut_the_wrap_around():
    rs = owned_ranges([100, -5, 7])
    assert rs == [TokenRange(MIN_TOKEN, -5), TokenRange(-5, 7), TokenRange(7, 100), TokenRange(100, MAX_TOKEN)]
    assert owned_ranges([]) == [TokenRange(MIN_TOKEN, MAX_TOKEN)]


@pytest.mark.parametrize("splits", [1, 7, 64, 1000])
def test_split_covers_the_ring_and_keeps_ownership_bounds(splits):
    tokens = [-(2**62), 12345, 2**61, 2**62 + 17]
    rs = plan(tokens, splits)
    _covers_ring(rs)
    bounds = {r.end for r in rs}
    assert set(tokens) <= bounds  # no range crosses a node's token
    assert len(rs) >= len(tokens) + 1
    if splits >= 64:
        assert abs(len(rs) - splits) <= len(tokens) + 1


def test_split_of_a_tiny_range_never_makes_empty_ranges():
    rs = split([TokenRange(0, 3)], 100)
    assert rs == [TokenRange(0, 1), TokenRange(1, 2), TokenRange(2, 3)]


def test_range_index_and_sample():
    rs = plan([0], 16)
    idx = RangeIndex(rs)
    for t in (MIN_TOKEN + 1, -1, 0, 1, MAX_TOKEN):
        r = idx.find(t)
        assert r is not None and r.contains(t)
    assert idx.find(MIN_TOKEN) is None  # no key has that token
    assert len(sample(rs, 25, seed=1)) == 4 and sample(rs, 25, seed=1) == sample(rs, 25, seed=1)
    assert TokenRange.parse(rs[3].id) == rs[3]


MAPPING = """
version: 1
tables:
  - cql: ks.t
    schema:
      columns: {p: int, c: int, s: text, v: text, n: int, tags: "set<text>", m: "map<text, int>",
                l: "list<int>", fl: "frozen<list<int>>"}
      partition_key: [p]
      clustering: [c]
      static: [s]
  - cql: ks.cnt
    schema:
      columns: {id: int, hits: counter}
      partition_key: [id]
"""


def _layout(table: str = "t") -> ScanLayout:
    return ScanLayout(loads_mapping(MAPPING).table("ks", table))  # type: ignore[arg-type]


def _row(lay: ScanLayout, token: int, keys: dict[str, Any], cols: dict[str, tuple[Any, Any, Any]]) -> list[Any]:
    row: list[Any] = [None] * len(lay.select)
    row[0] = token
    for c, v in keys.items():
        row[lay.key_at[c]] = v
    for col in lay.columns:
        if col.name in cols:
            v, wt, ttl = cols[col.name]
            row[col.value_at] = v
            row[col.ts_at] = wt
            row[col.ttl_at] = ttl
    return row


def test_layout_selects_writetime_and_ttl_of_every_non_key_column():
    lay = _layout()
    assert lay.range_query.startswith("SELECT token(p), p, c, ")
    assert "writetime(s), ttl(s)" in lay.range_query and "writetime(tags), ttl(tags)" in lay.range_query
    assert lay.range_query.endswith("FROM ks.t WHERE token(p) > ? AND token(p) <= ?")
    cnt = _layout("cnt")
    assert "writetime(hits)" not in cnt.range_query


def test_cells_keep_their_own_timestamps_and_expiries():
    lay = _layout()
    row = _row(lay, 5, {"p": 1, "c": 2}, {"v": ("a", 100, None), "n": (7, 200, 50), "s": ("st", 300, None),
                                         "tags": (["x", "y"], [100, 250], [None, 60]),
                                         "m": ({"k": 1}, [100], [None]), "fl": ([1, 2], 100, None)})
    works = lay.convert(row, now=1000)
    regular, static = works
    assert (regular.partition, regular.clustering, regular.static) == ((1,), (2,), False)
    by = {(m.ts, m.expiry): m for m in regular.mutations}
    assert set(by) == {(100, 0), (200, 1050), (250, 1060)}
    assert by[(100, 0)].cells == {"v": "a", "fl": [1, 2]} and by[(100, 0)].row_marker
    assert ("tags", "set:add", ["x"]) in by[(100, 0)].collection_ops
    assert ("m", "map:put", [("k", 1)]) in by[(100, 0)].collection_ops
    assert by[(200, 1050)].cells == {"n": 7} and not by[(200, 1050)].row_marker
    assert by[(250, 1060)].collection_ops == [("tags", "set:add", ["y"])]
    assert static.static and static.clustering == () and static.mutations[0].cells == {"s": "st"}
    assert not static.mutations[0].row_marker
    # merged, the row reads back as scanned
    state = None
    for m in regular.mutations:
        state = merge(state, m, 1000)
    assert visible(state, 1000) == {"v": "a", "fl": [1, 2], "n": 7, "tags": ["x", "y"], "m": {"k": 1}}
    assert visible(state, 1055) == {"v": "a", "fl": [1, 2], "tags": ["x", "y"], "m": {"k": 1}}


def test_statics_only_once_and_static_only_partitions():
    lay = _layout()
    row = _row(lay, 5, {"p": 1, "c": 2}, {"v": ("a", 100, None), "s": ("st", 300, None)})
    assert [w.static for w in lay.convert(row, 0, with_static=False)] == [False]
    only = _row(lay, 5, {"p": 1, "c": None}, {"s": ("st", 300, None)})
    works = lay.convert(only, 0)
    assert [(w.static, w.clustering) for w in works] == [(True, ())]


def test_a_key_only_row_gets_the_lowest_live_marker():
    lay = _layout()
    (w,) = lay.convert(_row(lay, 5, {"p": 1, "c": 2}, {}), 0)
    assert [(m.ts, m.row_marker) for m in w.mutations] == [(KEY_ONLY_MARKER_TS, True)]
    # any later delete hides it, so the backfill never resurrects such a row
    deleted = merge(None, Mutation(2, delete_row=True), 0)
    assert visible(merge(deleted, w.mutations[0], 0), 0) is None


def test_marker_takes_the_oldest_cell_and_its_ttl():
    lay = _layout()
    (w,) = lay.convert(_row(lay, 5, {"p": 1, "c": 2}, {"v": ("a", 100, 30), "n": (1, 100, 30),
                                                       "s": ("x", 50, None)}), 0, with_static=False)
    (m,) = w.mutations
    assert (m.ts, m.expiry, m.row_marker) == (100, 30, True)


def test_list_elements_get_the_keys_live_writes_give_them():
    # prepended [-2, -1] at 300 onto [0, 1] written at 100 and 7 appended at 200
    ops = list_ops([-2, -1, 0, 1, 7], [300, 300, 100, 100, 200], [0] * 5)
    assert ops == [("list:prepend", 300, 0, [-2, -1]), ("list:append", 100, 0, [0, 1]),
                   ("list:append", 200, 0, [7])]
    live = RowState()
    live = merge(live, Mutation(100, collection_ops=[("l", "list:overwrite", [0, 1])]), 0)
    live = merge(live, Mutation(200, collection_ops=[("l", "list:append", [7])]), 0)
    live = merge(live, Mutation(300, collection_ops=[("l", "list:prepend", [-2, -1])]), 0)
    backfilled = live
    for op, ts, exp, elems in ops:
        backfilled = merge(backfilled, Mutation(ts, exp, collection_ops=[("l", op, elems)]), 0)
    assert visible(backfilled, 0) == visible(live, 0) == {"l": [-2, -1, 0, 1, 7]}


def test_list_elements_of_one_timestamp_keep_their_own_expiries():
    # appended [0, 0] for good at 100, then overwritten at 100 with [5] for 60 s: the first element
    # expires, the second stays (the overwrite's tombstone is at 99)
    live = merge(None, Mutation(100, collection_ops=[("l", "list:append", [0, 0])]), 0)
    live = merge(live, Mutation(100, 1_060, collection_ops=[("l", "list:overwrite", [5])]), 0)
    coll = live.collections["l"]
    elems = [coll.elems[k] for k in sorted(coll.elems)]
    assert [(e.value, e.expiry) for e in elems] == [(5, 1_060), (0, 0)]
    ops = list_ops([e.value for e in elems], [e.ts for e in elems], [e.expiry for e in elems])
    assert ops == [("list:append", 100, 1_060, [5]), ("list:append_at", 100, 0, (1, [0]))]
    copy = None
    for op, ts, exp, payload in ops:
        copy = merge(copy, Mutation(ts, exp, collection_ops=[("l", op, payload)]), 0)
    assert copy is not None and copy.collections["l"].elems == coll.elems
    assert visible(copy, 2_000) == visible(live, 2_000) == {"l": [0]}


def test_counter_rows_carry_values():
    lay = _layout("cnt")
    row: list[Any] = [None] * len(lay.select)
    row[0], row[lay.key_at["id"]], row[lay.columns[0].value_at] = 9, 3, 42
    (w,) = lay.convert(row, 0)
    assert w.counters == {"hits": 42} and w.mutations == []


def test_backfill_never_beats_newer_writes_or_tombstones():
    lay = _layout()
    (w,) = lay.convert(_row(lay, 5, {"p": 1, "c": 2}, {"v": ("old", 100, None)}), 0, with_static=False)
    newer = merge(None, Mutation(500, cells={"v": "new"}), 0)
    after = newer
    for m in w.mutations:
        after = merge(after, m, 0)
    assert visible(after, 0) == {"v": "new"}
    gone = merge(None, Mutation(400, delete_row=True), 0)
    for m in w.mutations:
        gone = merge(gone, m, 0)
    assert visible(gone, 0) is None


def test_repair_prefers_cassandra_at_equal_timestamps_and_tombstones_extras():
    corrupt = merge(None, Mutation(100, row_marker=True, cells={"v": "zzz", "n": 5}), 0)
    source = [Mutation(100, row_marker=True, cells={"v": "good"})]
    assert visible(merge(corrupt, source[0], 0), 0)["v"] == "zzz"  # plain merge keeps the larger value
    fixed = repair_target(corrupt, source_state(source, 0), 0)
    assert fixed is not None and visible(fixed, 0) == {"v": "good"}


def _outside_address() -> str | None:
    """An address of this machine other than loopback (a UDP connect sends nothing)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            addr = str(s.getsockname()[0])
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def test_metrics_are_served_on_the_host_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error
    import urllib.request

    from proxy.backfill import command
    from proxy.cli import build_parser
    from tests.conftest import free_port

    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no address but loopback")
    served: dict[str, int] = {}
    for host_env in (None, "0.0.0.0"):
        if host_env is None:
            monkeypatch.delenv("CDP_METRICS_HOST", raising=False)
        else:
            monkeypatch.setenv("CDP_METRICS_HOST", host_env)
        port = free_port()
        args = build_parser().parse_args(["backfill", "--mapping", "m.yaml", "--metrics-port", str(port)])
        assert args.metrics_host == (host_env or "127.0.0.1")
        command._progress(args, "backfill")
        served[host_env or "loopback"] = port
    with urllib.request.urlopen(f"http://127.0.0.1:{served['loopback']}/metrics", timeout=5) as r:
        assert b"cdp_backfill_ranges" in r.read()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://{outside}:{served['loopback']}/metrics", timeout=5)
    with urllib.request.urlopen(f"http://{outside}:{served['0.0.0.0']}/metrics", timeout=5) as r:
        assert b"cdp_backfill_ranges" in r.read()
