"""A DynamoDB row state → the CQL statements the reverse copy runs against Cassandra."""

from __future__ import annotations

import decimal
import uuid
from typing import Any

import pytest

from cql_protocol.typeparse import parse_cql_type as parse_type
from cql_protocol.types import BIGINT, INT, Duration, serialize
from translators.element_keys import element_from_key
from translators.mapping import TableMapping, loads_mapping
from translators.reverse_cql import RowStatements, RowWrite, Stmt
from translators.row_state import Mutation, RowState, _k, merge

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
NOW = 1_700_000_000


def _tm(table: str = "t") -> TableMapping:
    tm = loads_mapping(MAPPING).table("ks", table)
    assert tm is not None
    return tm


def _state(*ms: Mutation) -> RowState:
    s: RowState | None = None
    for m in ms:
        s = merge(s, m, NOW)
    assert s is not None
    return s


def _row(s: RowState, clustering: tuple[Any, ...] = (7,)) -> RowWrite:
    return RowStatements(_tm()).row((1,), clustering, s, NOW)


def _by_text(w: RowWrite) -> dict[str, Stmt]:
    out = {st.cql: st for st in w.stmts}
    assert len(out) == len(w.stmts)
    return out


def _serializable(w: RowWrite) -> None:
    """Every bound value serializes as its declared type (what the driver is handed)."""
    for st in [*w.stmts, *(lw.stmt for lw in w.lists)]:
        assert st.cql.count("?") == len(st.types) == len(st.values)
        for t, v in zip(st.types, st.values, strict=True):
            serialize(t, v)


def test_an_insert_becomes_one_insert_with_marker_timestamp_and_remaining_ttl():
    w = _row(_state(Mutation(100, expiry=NOW + 30, row_marker=True, cells={"v": "x", "n": 3})))
    assert w.stmts == [Stmt("INSERT INTO ks.t (p, c, n, v) VALUES (?, ?, ?, ?) USING TIMESTAMP ? AND TTL ?",
                            (INT, INT, INT, parse_type("text"), BIGINT, INT), (1, 7, 3, "x", 100, 30))]
    _serializable(w)


def test_cells_at_other_timestamps_are_updates_at_their_own_timestamps():
    w = _row(_state(Mutation(100, row_marker=True, cells={"v": "x"}), Mutation(200, cells={"n": 5})))
    texts = _by_text(w)
    ins = texts["INSERT INTO ks.t (p, c, v) VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?"]
    assert ins.values == (1, 7, "x", 100, 0)
    upd = texts["UPDATE ks.t USING TIMESTAMP ? AND TTL ? SET n = ? WHERE p = ? AND c = ?"]
    assert upd.values == (200, 0, 5, 1, 7)
    _serializable(w)


def test_row_and_cell_tombstones_and_expired_cells_become_deletes_at_their_timestamps():
    s = _state(Mutation(50, row_marker=True, cells={"v": "old"}), Mutation(90, delete_row=True),
               Mutation(100, cells={"v": None}), Mutation(110, expiry=NOW - 1, cells={"n": 4}))
    texts = _by_text(_row(s))
    assert texts["DELETE FROM ks.t USING TIMESTAMP ? WHERE p = ? AND c = ?"].values == (90, 1, 7)
    assert texts["DELETE v FROM ks.t USING TIMESTAMP ? WHERE p = ? AND c = ?"].values == (100, 1, 7)
    # expired: a tombstone at its write time, as Cassandra itself turns an expired cell into
    assert texts["DELETE n FROM ks.t USING TIMESTAMP ? WHERE p = ? AND c = ?"].values == (110, 1, 7)
    assert not any(t.startswith("INSERT") for t in texts)  # the marker is under the row tombstone


def test_an_expired_row_marker_is_not_written():
    w = _row(_state(Mutation(100, expiry=NOW - 5, row_marker=True)))
    assert w.stmts == []


def test_static_row_writes_by_partition_and_deletes_only_static_columns():
    s = _state(Mutation(40, delete_row=True), Mutation(60, cells={"s": "st"}))
    texts = _by_text(_row(s, ()))
    assert texts["DELETE s FROM ks.t USING TIMESTAMP ? WHERE p = ?"].values == (40, 1)
    assert texts["UPDATE ks.t USING TIMESTAMP ? AND TTL ? SET s = ? WHERE p = ?"].values == (60, 0, "st", 1)


def test_set_and_map_elements_keep_their_own_timestamps_and_tombstones():
    s = _state(Mutation(100, collection_ops=[("tags", "set:overwrite", ["a", "b"]), ("m", "map:put", {"k": 1})]),
               Mutation(120, expiry=NOW + 9, collection_ops=[("tags", "set:add", ["c"])]),
               Mutation(130, collection_ops=[("tags", "set:remove", ["a"]), ("m", "map:remove_keys", ["gone"])]))
    w = _row(s)
    got = [(st.cql, st.values) for st in w.stmts]
    assert ("DELETE tags FROM ks.t USING TIMESTAMP ? WHERE p = ? AND c = ?", (99, 1, 7)) in got
    add = "UPDATE ks.t USING TIMESTAMP ? AND TTL ? SET tags = tags + ? WHERE p = ? AND c = ?"
    assert (add, (100, 0, ["b"], 1, 7)) in got and (add, (120, 9, ["c"], 1, 7)) in got
    rm = "UPDATE ks.t USING TIMESTAMP ? AND TTL ? SET tags = tags - ? WHERE p = ? AND c = ?"
    assert (rm, (130, 0, ["a"], 1, 7)) in got
    assert ("UPDATE ks.t USING TIMESTAMP ? AND TTL ? SET m = m + ? WHERE p = ? AND c = ?",
            (100, 0, [("k", 1)], 1, 7)) in got
    assert ("DELETE m[?] FROM ks.t USING TIMESTAMP ? WHERE p = ? AND c = ?", ("gone", 130, 1, 7)) in got
    _serializable(w)


def test_lists_are_written_whole_at_their_newest_timestamp_only_if_cassandra_differs():
    s = _state(Mutation(100, collection_ops=[("l", "list:overwrite", [1, 2])]),
               Mutation(150, collection_ops=[("l", "list:append", [3])]))
    w = _row(s)
    assert w.stmts == []
    (lw,) = w.lists
    assert lw.column == "l" and lw.expected == (1, 2, 3)
    assert lw.stmt.cql == "UPDATE ks.t USING TIMESTAMP ? AND TTL ? SET l = ? WHERE p = ? AND c = ?"
    assert lw.stmt.values == (150, 0, [1, 2, 3], 1, 7)
    emptied = _row(_state(Mutation(100, collection_ops=[("l", "list:append", [1])]),
                          Mutation(140, collection_ops=[("l", "list:delete", None)])))
    assert emptied.lists[0].expected is None
    assert emptied.lists[0].stmt.cql == "DELETE l FROM ks.t USING TIMESTAMP ? WHERE p = ? AND c = ?"
    assert emptied.lists[0].stmt.values == (140, 1, 7)


def test_counter_tables_are_refused():
    with pytest.raises(ValueError, match="counter table"):
        RowStatements(_tm("cnt"))


@pytest.mark.parametrize(("cql_type", "value"), [
    ("int", 5), ("bigint", -(2**40)), ("varint", 2**70), ("text", "true"), ("text", "1"), ("ascii", "a"),
    ("blob", b"\x00\xff"), ("uuid", uuid.UUID(int=7)), ("timeuuid", uuid.uuid1()),
    ("decimal", decimal.Decimal("1.50")), ("double", 2.5), ("boolean", False), ("inet", "10.0.0.1"),
    ("duration", Duration(1, 2, 3)), ("timestamp", 1_700_000_000_123),
    ("frozen<tuple<int, text>>", (1, "a")), ("frozen<list<int>>", [3, 1]),
    ("frozen<map<int, text>>", {2: "b"}), ("frozen<map<text, int>>", {"1": 1}),
])
def test_an_element_is_read_back_from_its_tombstone_key(cql_type, value):
    t = parse_type(cql_type)
    back = element_from_key(t, _k(value))
    assert _k(back) == _k(value)
    serialize(t, back)
