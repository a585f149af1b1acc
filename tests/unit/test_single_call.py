"""The single-call write (translators.single_call): which writes it takes, the condition it carries,
and that the item it leaves decodes to exactly the state the read-merge-write would have put.

`_apply` plays DynamoDB's UpdateItem for the expressions the builder makes (SET with `:v`,
`if_not_exists(#a, :v)`, `if_not_exists(#a, :v) + :w`; REMOVE; the two condition forms), so the
comparison runs without I/O; the integration test runs the same against DynamoDB Local."""

from __future__ import annotations

import decimal
import re
from typing import Any

import pytest

from translators.item_codec import MARKER_OVERLAY, OVERLAY, from_item, key_item, to_item
from translators.mapping import loads_mapping
from translators.row_state import Mutation, RowState, merge, visible
from translators.single_call import EMPTY_META, expressible, single_call

MAPPING = loads_mapping("""
version: 1
tables:
  - cql: ks.events
    dynamodb_table: fw_events
    phase: dual_write
    schema:
      columns: {id: int, at: int, kind: text, n: int, price: decimal, blob: blob, pair: "frozen<list<int>>",
                tags: "set<text>", attrs: "map<text, int>", trail: "list<int>"}
      partition_key: [id]
      clustering: [{at: desc}]
""")
TM = MAPPING.table("ks", "events")
assert TM is not None
NOW = 1_800_000_000
PART, CLUS = (7,), (3,)
KEY = key_item(TM, PART, CLUS)

Item = dict[str, Any]


def _apply(request: dict[str, Any], item: Item | None) -> Item | None:
    """The item after `request`, or None when its condition fails (the item is left as it was)."""
    names, vals = request["ExpressionAttributeNames"], request["ExpressionAttributeValues"]
    cond = request["ConditionExpression"]
    pk = re.fullmatch(r"attribute_not_exists\((#\w+)\)(?: OR .*)?", cond)
    assert pk is not None and names[pk.group(1)] == TM.pk.attribute
    if item is not None:
        newer = re.fullmatch(r".* OR \((#\w+) < (:\w+) AND attribute_exists\((#\w+)\)\)", cond)
        if newer is None:
            return None
        ts, limit, meta = names[newer.group(1)], int(vals[newer.group(2)]["N"]), names[newer.group(3)]
        if ts not in item or int(item[ts]["N"]) >= limit or meta not in item:
            return None
    out = dict(item) if item is not None else dict(request["Key"])
    sets, _, removes = request["UpdateExpression"].removeprefix("SET ").partition(" REMOVE ")
    for m in re.finditer(r"(#\w+) = (?:if_not_exists\((#\w+), (:\w+)\)(?: \+ (:\w+))?|(:\w+))", sets):
        target, guarded, default, plus, plain = m.groups()
        if plain is not None:
            out[names[target]] = vals[plain]
            continue
        base = out.get(names[guarded], vals[default])
        out[names[target]] = base if plus is None else {"N": str(int(base["N"]) + int(vals[plus]["N"]))}
    for ph in filter(None, removes.split(", ")):
        out.pop(names[ph], None)
    return out


def _slow(state: RowState | None, m: Mutation) -> Item:
    """What the read-merge-write puts."""
    return to_item(TM, PART, CLUS, merge(state, m, NOW), NOW)


def _same(a: RowState | None, b: RowState | None) -> None:
    assert a is not None and b is not None
    a.version = b.version = 0
    assert a == b
    assert visible(a, NOW) == visible(b, NOW)


T = 1_700_000_000_000_000
INSERT = Mutation(ts=T, row_marker=True, cells={"kind": "a", "n": 1, "price": decimal.Decimal("1.50"),
                                                 "blob": b"\x00\x01", "pair": [1, 2]},
                  collection_ops=[("tags", "set:overwrite", ["x", "y"]), ("attrs", "map:overwrite", {"k": 1}),
                                  ("trail", "list:overwrite", [5, 6])])
EXPIRING = Mutation(ts=T + 10, expiry=NOW + 60, row_marker=True, cells={"kind": "ttl"})
OLD_STATES = {
    "absent": None,
    "inserted": merge(None, INSERT, NOW),
    "expiring": merge(None, EXPIRING, NOW),
    "deleted": merge(merge(None, INSERT, NOW), Mutation(ts=T + 20, delete_row=True), NOW),
    "cell tombstones": merge(None, Mutation(ts=T + 5, cells={"kind": None, "n": 3}), NOW),
}
WRITES = {
    "insert": Mutation(ts=T + 100, row_marker=True, cells={"kind": "b", "n": None}),
    "update one cell": Mutation(ts=T + 100, cells={"price": decimal.Decimal("-0.001")}),
    "delete cells": Mutation(ts=T + 100, cells={"kind": None, "blob": None}),
    "row delete": Mutation(ts=T + 100, delete_row=True),
    "insert with ttl": Mutation(ts=T + 100, expiry=NOW + 30, row_marker=True, cells={"n": 9}),
    "expired on arrival": Mutation(ts=T + 100, expiry=NOW - 1, cells={"n": 9, "kind": "z"}),
    "collections replaced": Mutation(ts=T + 100, collection_ops=[
        ("tags", "set:overwrite", ["q"]), ("attrs", "map:delete", None), ("trail", "list:overwrite", [1, 1])]),
    "frozen and plain": Mutation(ts=T + 100, cells={"pair": [3], "kind": "c"}),
}


@pytest.mark.parametrize("old", OLD_STATES)
@pytest.mark.parametrize("write", WRITES)
def test_the_item_it_leaves_decodes_as_the_merge(old: str, write: str) -> None:
    state, m = OLD_STATES[old], WRITES[write]
    request = single_call(TM, PART, CLUS, m, KEY, NOW)
    assert request is not None
    before = None if state is None else to_item(TM, PART, CLUS, state, NOW)
    after = _apply(request, before)
    expected = _slow(state, m)
    if after is None:
        # refused: only a write whose item TTL depends on the cells already there
        assert (state is not None and m.expiry) or (not m.row_marker and all(v is None for v in m.cells.values()))
        return
    _same(from_item(TM, after), from_item(TM, expected))
    assert after.get(TM.ttl_attribute) == expected.get(TM.ttl_attribute)
    assert after[TM.timestamp_attribute] == expected[TM.timestamp_attribute]
    assert int(after["_v"]["N"]) == (0 if before is None else int(before["_v"]["N"])) + 1
    # the plain attributes a reader or an index sees are the ones a full put writes
    plain = {k for k in expected if not k.startswith("_m")}
    assert {k: v for k, v in after.items() if k in plain and not k.startswith("_")} == \
        {k: v for k, v in expected.items() if k in plain and not k.startswith("_")}


@pytest.mark.parametrize("write", WRITES)
def test_a_write_not_newer_than_the_item_is_refused(write: str) -> None:
    m = WRITES[write]
    state = merge(None, Mutation(ts=m.ts, cells={"n": 1}), NOW)  # a tie: Cassandra compares values
    request = single_call(TM, PART, CLUS, m, KEY, NOW)
    assert request is not None
    assert _apply(request, to_item(TM, PART, CLUS, state, NOW)) is None
    older = merge(None, Mutation(ts=m.ts + 1, cells={"kind": "newer"}), NOW)
    assert _apply(request, to_item(TM, PART, CLUS, older, NOW)) is None


@pytest.mark.parametrize("item_kind", ["compressed", "s3 pointer", "counter row"])
def test_items_without_a_readable_metadata_attribute_are_refused(item_kind: str) -> None:
    item: Item = {**KEY, TM.timestamp_attribute: {"N": "1"}, "_v": {"N": "1"}}
    item.update({"compressed": {"_z": {"B": b"x"}}, "s3 pointer": {"_s3": {"M": {}}},
                 "counter row": {"n": {"N": "4"}}}[item_kind])
    request = single_call(TM, PART, CLUS, WRITES["insert"], KEY, NOW)
    assert request is not None and _apply(request, item) is None


@pytest.mark.parametrize(("mutation", "takes"), [
    (Mutation(ts=5, cells={"n": 1}), True),
    (Mutation(ts=5, row_marker=True), True),
    (Mutation(ts=5, delete_row=True), True),
    (Mutation(ts=5, collection_ops=[("tags", "set:overwrite", ["a"])]), True),
    (Mutation(ts=5, collection_ops=[("tags", "set:delete", None)]), True),
    (Mutation(ts=5, collection_ops=[("tags", "set:overwrite", [])]), False),  # tombstone only if newer than the row's
    (Mutation(ts=5, collection_ops=[("tags", "set:add", ["a"])]), False),
    (Mutation(ts=5, collection_ops=[("tags", "set:remove", ["a"])]), False),
    (Mutation(ts=5, collection_ops=[("attrs", "map:put", {"a": 1})]), False),
    (Mutation(ts=5, collection_ops=[("trail", "list:append", [1])]), False),
    (Mutation(ts=5, collection_ops=[("trail", "list:prepend", [1])]), False),
    (Mutation(ts=5, collection_ops=[("trail", "list:set_index", (0, 1))]), False),
    (Mutation(ts=5, collection_ops=[("trail", "list:remove_values", [1])]), False),
    (Mutation(ts=5, cells={"n": 1}, collection_ops=[("tags", "set:add", ["a"])]), False),
    (Mutation(ts=5), False),  # changes nothing
    (Mutation(ts=0, cells={"n": 1}), False),  # not newer than a fresh row tombstone
])
def test_which_writes_it_takes(mutation: Mutation, takes: bool) -> None:
    assert expressible(mutation) is takes
    assert (single_call(TM, PART, CLUS, mutation, KEY, NOW) is not None) is takes


@pytest.mark.parametrize(("write", "new_item_only"), [
    ("insert", False), ("update one cell", False), ("row delete", False), ("collections replaced", False),
    ("frozen and plain", False), ("delete cells", True), ("insert with ttl", True), ("expired on arrival", True),
])
def test_the_condition(write: str, new_item_only: bool) -> None:
    request = single_call(TM, PART, CLUS, WRITES[write], KEY, NOW)
    assert request is not None
    cond = request["ConditionExpression"]
    assert cond.startswith("attribute_not_exists(")
    assert (" OR " not in cond) is new_item_only
    assert request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"


def test_a_full_put_folds_the_overlays_back_into_the_metadata() -> None:
    first = _apply(single_call(TM, PART, CLUS, INSERT, KEY, NOW) or {}, None)
    assert first is not None and first["_m"]["S"] == EMPTY_META
    assert MARKER_OVERLAY in first and OVERLAY + "kind" in first and OVERLAY + "tags" in first
    state = from_item(TM, first)
    again = to_item(TM, PART, CLUS, merge(state, Mutation(ts=T - 1, cells={"n": 5}), NOW), NOW)
    assert not any(k.startswith(OVERLAY) or k == MARKER_OVERLAY for k in again)
    _same(from_item(TM, again), from_item(TM, _slow(merge(None, INSERT, NOW), Mutation(ts=T - 1, cells={"n": 5}))))


def test_a_row_delete_removes_every_value_and_overlay() -> None:
    first = _apply(single_call(TM, PART, CLUS, INSERT, KEY, NOW) or {}, None)
    gone = _apply(single_call(TM, PART, CLUS, WRITES["row delete"], KEY, NOW) or {}, first)
    assert gone is not None
    assert set(gone) == {TM.pk.attribute, TM.sk.attribute, "id", "at", "_m", "_v", TM.timestamp_attribute,
                         TM.ttl_attribute}
    assert visible(from_item(TM, gone) or RowState(), NOW) is None


def test_an_overlay_older_than_the_metadata_loses() -> None:
    """Only the single-call write leaves overlays, always newer than `_m`; should one be older (a
    full put racing a process that wrote it late), the newer entry still wins."""
    item = to_item(TM, PART, CLUS, merge(None, Mutation(ts=50, cells={"kind": "new"}), NOW), NOW)
    item[OVERLAY + "kind"] = {"S": "[40,0,1]"}
    item[MARKER_OVERLAY] = {"S": "[60,0]"}
    state = from_item(TM, item)
    assert state is not None and state.cells["kind"].ts == 50 and state.marker is not None
    assert visible(state, NOW) == {"kind": "new"}


def test_a_row_delete_of_a_very_wide_table_is_left_to_the_merge() -> None:
    """Its REMOVE list names every column twice: past DynamoDB's 4 KB expression limit, a full put."""
    cols = ", ".join(f"c{i}: int" for i in range(400))
    wide = loads_mapping(f"""
version: 1
tables:
  - cql: ks.wide
    dynamodb_table: fw_wide
    phase: dual_write
    schema:
      columns: {{id: int, {cols}}}
      partition_key: [id]
""").table("ks", "wide")
    assert wide is not None
    key = key_item(wide, (1,), ())
    assert single_call(wide, (1,), (), Mutation(ts=5, delete_row=True), key, NOW) is None
    update = single_call(wide, (1,), (), Mutation(ts=5, cells={"c7": 1}), key, NOW)
    assert update is not None and len(update["UpdateExpression"]) < 200


def test_items_of_a_token_indexed_table_get_their_token_keys() -> None:
    indexed = loads_mapping("""
version: 1
tables:
  - cql: ks.ev
    dynamodb_table: fw_ev
    phase: dual_write
    token_index: true
    schema:
      columns: {id: int, v: text}
      partition_key: [id]
""").table("ks", "ev")
    assert indexed is not None
    key = key_item(indexed, (4,), ())
    for m in (Mutation(ts=5, row_marker=True, cells={"v": "x"}), Mutation(ts=5, delete_row=True)):
        request = single_call(indexed, (4,), (), m, key, NOW)
        assert request is not None
        item = _apply(request, None)
        assert item is not None
        expected = to_item(indexed, (4,), (), merge(None, m, NOW), NOW)
        assert {k: item[k] for k in ("_tb", "_tk")} == {k: expected[k] for k in ("_tb", "_tk")}
