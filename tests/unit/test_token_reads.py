"""Token-range reads planned on the token index (mapping option token_index), the index's key
attributes, and the order they give (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cql_protocol.cql import parse
from cql_protocol.types import TypeCode, native, serialize
from translators.item_codec import to_item, token_attributes
from translators.mapping import MappingError, dump_mapping, loads_mapping
from translators.reads import ReadPlan, plan_select
from translators.row_state import Mutation, merge
from translators.statements import Untranslatable
from translators.table_definitions import table_definitions
from translators.token import (
    BUCKETS,
    MAX_TOKEN,
    MIN_TOKEN,
    partition_token,
    token_bucket,
    token_index_bounds,
    token_index_key,
)
from translators.token_fill import token_update

MAPPING = """
version: 1
tables:
  - cql: ks.ev
    dynamodb_table: rs_ev
    token_index: true
    schema:
      columns: {a: text, b: int, c: int, v: text}
      partition_key: [a, b]
      clustering: [{c: asc}]
  - cql: ks.plain
    dynamodb_table: rs_plain
    schema:
      columns: {k: int, v: text}
      partition_key: [k]
"""
M = loads_mapping(MAPPING)
EV = M.table("ks", "ev")
INT, TEXT, BIGINT = native(TypeCode.INT), native(TypeCode.VARCHAR), native(TypeCode.BIGINT)


def plan(cql: str, values: list[Any] | None = None, **kw: Any) -> ReadPlan:
    stmt = parse(cql)
    tm = M.table("ks", stmt.table)  # type: ignore[union-attr]
    assert tm is not None
    return plan_select(stmt, tm, values or [], now=1_700_000_000, **kw)  # type: ignore[arg-type]


def test_token_of_bound_values_is_the_partition_token() -> None:
    want = partition_token([TEXT, INT], ("x", 3))
    for cql, vals in [
        ("SELECT * FROM ks.ev WHERE token(a, b) > token(?, ?) LIMIT 10", [serialize(TEXT, "x"), serialize(INT, 3)]),
        ("SELECT * FROM ks.ev WHERE token(a, b) > token(:a, :b) LIMIT 10", [serialize(TEXT, "x"), serialize(INT, 3)]),
        ("SELECT * FROM ks.ev WHERE token(a, b) > token('x', 3) LIMIT 10", []),
    ]:
        p = plan(cql, vals)
        (f,) = p.filters
        assert f.target == "token" and f.values == ((want, False), None)
        assert {s.op for s in p.segments} == {"Token"}
        buckets = [int(s.request["ExpressionAttributeValues"][":tb"]["N"]) for s in p.segments]
        assert buckets == list(range(token_bucket(want), BUCKETS))


def test_token_argument_mistakes_are_refused_as_cassandra_does() -> None:
    with pytest.raises(Untranslatable, match="1 required but 2 provided"):
        plan("SELECT * FROM ks.plain WHERE token(k) > token(3, 4)")
    with pytest.raises(Untranslatable, match="Invalid null token value"):
        plan("SELECT * FROM ks.plain WHERE token(k) > token(?)", [None])


def test_an_end_at_the_minimum_token_is_the_end_of_the_ring() -> None:
    p = plan(f"SELECT * FROM ks.ev WHERE token(a, b) > 0 AND token(a, b) <= {MIN_TOKEN}")
    assert p.filters[0].values == ((0, False), None) and len(p.segments) == BUCKETS // 2


def test_an_empty_token_range_reads_nothing() -> None:
    assert plan("SELECT * FROM ks.ev WHERE token(a, b) > 100 AND token(a, b) <= -100").segments == ()
    assert plan(f"SELECT * FROM ks.ev WHERE token(a, b) > {MAX_TOKEN}").segments == ()


def test_limit_on_a_token_range_needs_the_token_index() -> None:
    with pytest.raises(Untranslatable, match="token_index"):
        plan("SELECT * FROM ks.plain WHERE token(k) > 0 LIMIT 5")
    assert [s.op for s in plan("SELECT * FROM ks.plain WHERE token(k) > 0").segments] == ["Scan"]


def test_the_table_definition_has_the_token_gsi_and_items_its_keys() -> None:
    (ev,) = [d for d in table_definitions(M) if d.name == "rs_ev"]
    (g,) = ev.gsis
    assert g.to_api()["KeySchema"] == [{"AttributeName": "_tb", "KeyType": "HASH"},
                                       {"AttributeName": "_tk", "KeyType": "RANGE"}]
    assert g.projection == "KEYS_ONLY"
    item = to_item(EV, ("x", 3), (1,), merge(None, Mutation(10, cells={"v": "a"}, row_marker=True), 0), 0)
    assert {k: item[k] for k in ("_tb", "_tk")} == token_attributes(EV, ("x", 3))
    tok = partition_token([TEXT, INT], ("x", 3))
    assert item["_tb"] == {"N": str(token_bucket(tok))}


@given(st.lists(st.tuples(st.integers(MIN_TOKEN + 1, MAX_TOKEN), st.binary(max_size=40)), min_size=2, max_size=30))
def test_index_keys_order_as_the_ring(parts: list[tuple[int, bytes]]) -> None:
    """(bucket, key) order is (token, unsigned key bytes) order, Cassandra's order of partitions."""
    by_ring = sorted(parts)
    by_index = sorted(parts, key=lambda p: (token_bucket(p[0]), token_index_key(*p)))
    assert [(token_bucket(t), token_index_key(t, k)) for t, k in by_ring] == \
           [(token_bucket(t), token_index_key(t, k)) for t, k in by_index]


@given(st.integers(MIN_TOKEN + 1, MAX_TOKEN), st.binary(max_size=30),
       st.one_of(st.none(), st.tuples(st.integers(MIN_TOKEN, MAX_TOKEN), st.booleans())),
       st.one_of(st.none(), st.tuples(st.integers(MIN_TOKEN + 1, MAX_TOKEN), st.booleans())))
def test_index_bounds_hold_exactly_the_tokens_in_range(tok: int, key: bytes, lo: Any, hi: Any) -> None:
    inside = (lo is None or tok > lo[0] or (tok == lo[0] and lo[1])) and \
             (hi is None or tok < hi[0] or (tok == hi[0] and hi[1]))
    b = token_index_bounds(lo, hi)
    k = token_index_key(tok, key)
    assert inside == (b is not None and b[0] <= k <= b[1])


def test_items_written_before_token_index_get_an_update_with_their_keys() -> None:
    item = {"pk": {"S": "x:3"}, "sk": {"B": b"\x00"}, "a": {"S": "x"}, "b": {"N": "3"}, "c": {"N": "1"}}
    req = token_update([EV], item)
    assert req is not None and req["Key"] == {"pk": item["pk"], "sk": item["sk"]}
    want = token_attributes(EV, ("x", 3))
    assert req["ExpressionAttributeValues"] == {":tb": want["_tb"], ":tk": want["_tk"]}
    assert req["ConditionExpression"] == "attribute_exists(#pk)"
    assert token_update([EV], {**item, **want}) is None  # has them already
    assert token_update([M.table("ks", "plain")], {"pk": {"N": "1"}, "k": {"N": "1"}}) is None  # no token_index


def test_token_index_survives_a_dump_and_a_bad_value_is_refused() -> None:
    again = loads_mapping(dump_mapping(M))
    assert again.table("ks", "ev").token_index and not again.table("ks", "plain").token_index  # type: ignore[union-attr]
    with pytest.raises(MappingError, match="token_index must be true or false"):
        loads_mapping(MAPPING.replace("token_index: true", "token_index: yes please"))
