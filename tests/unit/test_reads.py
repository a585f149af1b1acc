"""Planning SELECTs into DynamoDB requests, the paging state, and refusals (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from cql_protocol.cql import parse
from cql_protocol.types import TypeCode, native, serialize
from translators import keys
from translators.mapping import loads_mapping
from translators.reads import Cursor, ReadPlan, decode_paging_state, encode_paging_state, plan_select
from translators.statements import Untranslatable
from translators.token import partition_token

MAPPING = """
version: 1
tables:
  - cql: ks.w
    dynamodb_table: reads_w
    indexes: [{name: by_v, partition_key: v, cql_index: w_v}]
    schema:
      columns: {p: text, c1: int, c2: text, v: text, n: int, s: int}
      partition_key: [p]
      clustering: [{c1: desc}, {c2: asc}]
      static: [s]
  - cql: ks.kv
    dynamodb_table: reads_kv
    schema:
      columns: {k: int, v: text}
      partition_key: [k]
"""
M = loads_mapping(MAPPING)
W, KV = M.table("ks", "w"), M.table("ks", "kv")
INT, TEXT = native(TypeCode.INT), native(TypeCode.VARCHAR)


def plan(cql: str, values: list[bytes] | None = None, **kw: Any) -> ReadPlan:
    stmt = parse(cql)
    tm = M.table("ks", stmt.table)  # type: ignore[union-attr]
    assert tm is not None
    return plan_select(stmt, tm, values or [], now=1_700_000_000, **kw)  # type: ignore[arg-type]


def sk(*vals: Any) -> bytes:
    return keys.encode_clustering([INT, TEXT], ["desc", "asc"], vals)["B"]


def test_full_primary_key_is_one_get() -> None:
    p = plan("SELECT * FROM ks.w WHERE p = 'a' AND c1 = 1 AND c2 = 'x'")
    assert [s.op for s in p.segments] == ["Get"]
    assert p.segments[0].keys == ({"pk": {"S": "a"}, "sk": {"B": sk(1, "x")}},)


def test_in_on_the_partition_key_gets_keys_in_key_order_without_duplicates() -> None:
    p = plan("SELECT * FROM ks.kv WHERE k IN (3, -1, 2, 3)")
    assert [k["pk"] for k in p.segments[0].keys] == [{"N": "-1"}, {"N": "2"}, {"N": "3"}]


def test_partition_slice_is_a_query_with_the_sort_key_condition() -> None:
    p = plan("SELECT * FROM ks.w WHERE p = ? AND c1 >= ? LIMIT ?",
             [serialize(TEXT, "a"), serialize(INT, 5), serialize(INT, 10)])
    (seg,) = p.segments
    lo, hi = keys.clustering_range([INT, TEXT], ["desc", "asc"], (), lower=(5, True))
    assert seg.op == "Query" and p.limit == 10
    assert seg.request["KeyConditionExpression"] == "#pk = :pk AND #sk BETWEEN :sklo AND :skhi"
    assert seg.request["ExpressionAttributeValues"] == {":pk": {"S": "a"}, ":sklo": lo, ":skhi": hi}
    assert seg.request["ConsistentRead"] is True and "ScanIndexForward" not in seg.request


def test_order_by_against_the_clustering_order_reads_backwards() -> None:
    p = plan("SELECT * FROM ks.w WHERE p = 'a' ORDER BY c1 ASC, c2 DESC")
    assert p.reverse and p.segments[0].request["ScanIndexForward"] is False


def test_clustering_in_gives_one_query_per_value_in_clustering_order() -> None:
    p = plan("SELECT * FROM ks.w WHERE p = 'a' AND c1 IN (1, 5, 3)")
    firsts = [s.request["ExpressionAttributeValues"][":sklo"]["B"] for s in p.segments]
    assert firsts == sorted(firsts) and len(firsts) == 3  # c1 is DESC: 5, 3, 1 in encoded order
    p = plan("SELECT * FROM ks.w WHERE p = 'a' AND c1 IN (1, 5, 3) ORDER BY c1 ASC")
    assert [s.request["ExpressionAttributeValues"][":sklo"]["B"] for s in p.segments] == firsts[::-1]


def test_token_range_is_a_scan_filtered_by_token() -> None:
    p = plan("SELECT * FROM ks.kv WHERE token(k) > -5 AND token(k) <= 100")
    assert [s.op for s in p.segments] == ["Scan"] and p.segments[0].request["ConsistentRead"] is True
    (f,) = p.filters
    assert f.target == "token" and f.values == ((-5, False), (100, True))


def test_secondary_index_equality_queries_the_gsi() -> None:
    p = plan("SELECT * FROM ks.w WHERE v = 'x'")
    (seg,) = p.segments
    assert seg.request["IndexName"] == "by_v" and seg.request["ExpressionAttributeValues"] == {":ik": {"S": "x"}}
    assert "ConsistentRead" not in seg.request  # GSIs only read eventually consistent


def test_filtering_on_regular_columns_needs_allow_filtering() -> None:
    with pytest.raises(Untranslatable) as e:
        plan("SELECT * FROM ks.w WHERE n = 3")
    assert e.value.kind == "invalid" and "ALLOW FILTERING" in str(e.value) and str(e.value).startswith("ks.w: ")
    p = plan("SELECT * FROM ks.w WHERE n > 3 ALLOW FILTERING")
    assert [s.op for s in p.segments] == ["Scan"] and [f.column for f in p.filters] == ["n"]


def test_static_rows_only_for_whole_partitions() -> None:
    assert plan("SELECT * FROM ks.w WHERE p = 'a'").static_rows
    assert not plan("SELECT * FROM ks.w WHERE p = 'a' AND c1 = 1").static_rows
    d = plan("SELECT DISTINCT p FROM ks.w")
    assert d.static_rows and d.per_partition_limit == 1


@pytest.mark.parametrize("cql,reason", [
    ("SELECT * FROM ks.w WHERE p = 'a' ORDER BY v", "only supported on the clustered columns"),
    ("SELECT * FROM ks.w WHERE p = 'a' ORDER BY c2", "following their declared order"),
    ("SELECT * FROM ks.w ORDER BY c1", "partition key is restricted by an EQ or an IN"),
    ("SELECT p, count(*) FROM ks.w GROUP BY p", "GROUP BY is not translated"),
    ("SELECT avg(n) FROM ks.w", "aggregate avg(n)"),
    ("SELECT * FROM ks.w LIMIT 0", "LIMIT must be strictly positive"),
    ("SELECT DISTINCT p FROM ks.w PER PARTITION LIMIT 2", "not allowed with SELECT DISTINCT"),
    ("SELECT * FROM ks.w WHERE token(c1) > 0", "all partition key components"),
    ("SELECT JSON * FROM ks.w", "SELECT JSON is not translated"),
    ("SELECT * FROM ks.w WHERE p = 'a' AND n != 1", "Unsupported \"!=\" relation"),
])
def test_refusals(cql: str, reason: str) -> None:
    with pytest.raises(Untranslatable) as e:
        plan(cql)
    assert str(e.value).startswith("ks.w: ") and reason in str(e.value)


def test_paged_in_with_order_by_is_refused_like_cassandra() -> None:
    cql = "SELECT * FROM ks.w WHERE p IN ('a', 'b') ORDER BY c1 ASC"
    assert plan(cql).sort_by_clustering
    with pytest.raises(Untranslatable, match="Cannot page queries with both ORDER BY and a IN"):
        plan(cql, page_size=10)


def test_paging_state_round_trip_and_binding() -> None:
    cql = "SELECT * FROM ks.w WHERE p = ?"
    first = plan(cql, [serialize(TEXT, "a")], page_size=5)
    cur = Cursor(2, {"pk": {"S": "a"}, "sk": {"B": "QUJD"}}, {"S": "a"}, 3, 11)
    state = encode_paging_state(first.fingerprint, cur)
    assert decode_paging_state(first.fingerprint, state) == cur
    assert plan(cql, [serialize(TEXT, "a")], page_size=5, paging_state=state).resume == cur
    with pytest.raises(Untranslatable, match="paging state"):
        plan(cql, [serialize(TEXT, "b")], page_size=5, paging_state=state)  # other values
    with pytest.raises(Untranslatable, match="paging state"):
        plan(cql, [serialize(TEXT, "a")], page_size=5, paging_state=b"\x01garbage")


def test_bound_value_count_is_checked() -> None:
    with pytest.raises(Untranslatable, match="markers"):
        plan("SELECT * FROM ks.kv WHERE k = ?")


def test_murmur3_tokens_match_cassandra() -> None:
    # values read from a live Cassandra 5.0: SELECT token(k) ...
    assert partition_token([INT], [1]) == -4069959284402364209
    assert partition_token([INT], [5]) == -7509452495886106294
    assert partition_token([TEXT], ["static-only"]) == 4289550837209063079
    assert partition_token([TEXT], ["p1"]) == -9032840179063523349
