"""The assessment's pure parts: statement shapes, how DynamoDB would serve a statement and what it
would cost, the figures of several sidecars added up, the report and its price table."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cql_protocol.cql import parse
from cql_protocol.types import TypeCode, native, serialize
from translators.assess import report, serving, units
from translators.assess.items import write_item
from translators.assess.render import render
from translators.assess.shapes import normalise
from translators.assess.stats import OTHER, ShapeStats, TableStats
from translators.item_codec import to_item
from translators.item_size import item_size
from translators.mapping import loads_mapping
from translators.row_state import Mutation, merge

MAPPING = """
version: 1
tables:
  - cql: ks.t
    dynamodb_table: as_t
    indexes: [{name: by_v, partition_key: v, cql_index: t_v}]
    schema:
      columns: {p: text, c: int, v: text, big: blob}
      partition_key: [p]
      clustering: [{c: asc}]
  - cql: ks.ins
    dynamodb_table: as_ins
    write_condition: none
    schema:
      columns: {k: int, v: text}
      partition_key: [k]
  - cql: ks.z
    dynamodb_table: as_z
    large_items: compress
    schema:
      columns: {k: int, v: text}
      partition_key: [k]
  - cql: ks.cnt
    dynamodb_table: as_cnt
    schema:
      columns: {k: int, n: counter}
      partition_key: [k]
"""
M = loads_mapping(MAPPING)
T = M.table("ks", "t")
NOW = 1_700_000_000
PRICES = report.Prices("us-east-1", "2024-11-01", 0.125, 0.625, 0.00013, 0.00065, 0.25)


def _resolve(ks: str | None, t: str) -> Any:
    return M.table(ks, t) if ks else None


def read(cql: str, values: list[bytes] | None = None) -> serving.Costed:
    stmt = parse(cql)
    tm = M.table("ks", stmt.table)  # type: ignore[union-attr]
    assert tm is not None
    return serving.plan_read(stmt, tm, values or [], version=4, page_size=None, bind_types=None,  # type: ignore[arg-type]
                             now=NOW)


def write(cql: str, *, atomic: bool = False) -> serving.Costed:
    return serving.plan_write([(parse(cql), [], None)], _resolve, session_keyspace="ks", version=4,
                              timestamp=NOW * 1_000_000, now=NOW, atomic=atomic)


# -- shapes ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b"), [
    ("SELECT * FROM ks.t WHERE p = 'a' AND c = 1", "select  *  from ks.t where p='zz' and c=-7;"),
    ("SELECT * FROM ks.t WHERE p IN ('a', 'b')", "SELECT * FROM ks.t WHERE p IN ('a', 'b', 'c', 'd')"),
    ("SELECT * FROM ks.t WHERE p = ?", "SELECT * FROM ks.t WHERE p = :name"),
    ("INSERT INTO ks.t (p, c, v) VALUES ('x', 1, 'y') USING TTL 10", "INSERT INTO ks.t (p, c, v) VALUES (?, ?, ?) USING TTL ?"),
    ("UPDATE ks.m SET m = {'a': 1} WHERE k = 0x01", "UPDATE ks.m SET m = {'a': 1, 'b': 2} WHERE k = 0xff"),
])
def test_the_same_statement_with_other_values_is_one_shape(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_shapes_keep_what_changes_the_request() -> None:
    assert normalise("SELECT * FROM ks.t WHERE p = 'a'") != normalise("SELECT * FROM ks.t WHERE p = 'a' AND c = 1")
    assert normalise('SELECT "V" FROM ks.t') == 'select "V" from ks.t'
    # a UDT literal's field names stay: they are not markers
    assert normalise("INSERT INTO ks.u (k, a) VALUES (1, {street: 'x'})") == "insert into ks.u (k, a) values (?, {street : ?})"
    assert len(normalise("SELECT * FROM ks.t WHERE p IN (" + ", ".join(["'x'"] * 5000) + ")")) < 100


def test_text_that_does_not_lex_is_still_a_shape() -> None:
    assert normalise("SELECT 'unterminated") == "SELECT 'unterminated"


# -- how reads are served ----------------------------------------------------------------------

def test_reads_are_classified_as_the_read_planner_plans_them() -> None:
    assert read("SELECT * FROM ks.t WHERE p = 'a' AND c = 1").how == serving.GET
    assert read("SELECT * FROM ks.t WHERE p IN ('a', 'b') AND c = 1").how == serving.BATCH_GET
    assert read("SELECT * FROM ks.t WHERE p = 'a' AND c > 1").how == serving.QUERY
    assert read("SELECT * FROM ks.t WHERE v = 'x'").how == serving.GSI_QUERY
    scan = read("SELECT * FROM ks.t")
    assert scan.how == serving.SCAN and scan.scan and scan.lower_bound


def test_a_refused_read_carries_the_sidecars_message() -> None:
    c = read("SELECT JSON * FROM ks.t WHERE p = 'a'")
    assert (c.how, c.refused) == (serving.REFUSED, "ks.t: SELECT JSON is not translated") and c.blocker
    bad = read("SELECT * FROM ks.t WHERE v > 'a'")  # Cassandra refuses it too: not a migration blocker
    assert bad.how == serving.INVALID and not bad.blocker


def test_read_units_follow_dynamodbs_rounding() -> None:
    get = read("SELECT * FROM ks.t WHERE p IN ('a', 'b') AND c = 1")
    serving.read_cost(get, [5000])  # one key found (2 units), the other missing (1 unit all the same)
    assert get.rcu == 3.0
    q = read("SELECT * FROM ks.t WHERE p = 'a'")
    serving.read_cost(q, [1000] * 9)  # 9,000 bytes summed, then rounded: 3 units, not 9
    assert q.rcu == 3.0
    gsi = read("SELECT * FROM ks.t WHERE v = 'x'")
    serving.read_cost(gsi, [4096])  # a GSI is read eventually consistent: half
    assert gsi.rcu == 0.5


# -- how writes are served ---------------------------------------------------------------------

def test_writes_read_merge_and_put_with_their_real_item_size() -> None:
    c = write("INSERT INTO ks.t (p, c, v, big) VALUES ('a', 1, 'x', 0x" + "ab" * 3000 + ")")
    assert c.how == serving.LWW_PUT and len(c.items) == 1
    m = Mutation(NOW * 1_000_000, row_marker=True, cells={"v": "x", "big": b"\xab" * 3000})
    size = item_size(to_item(T, ("a",), (1,), merge(None, m, NOW), NOW))
    assert c.items[0].size == size
    # GetItem of the item first, then its put, then the GSI's own copy (projection ALL)
    assert c.rcu == units.read_units(size) and c.wcu == 2 * units.write_units(size)


def test_write_kinds() -> None:
    assert write("INSERT INTO ks.ins (k, v) VALUES (1, 'x')").how == serving.PUT
    assert write("INSERT INTO ks.ins (k, v) VALUES (1, 'x')").rcu == 0.0
    assert write("INSERT INTO ks.t (p, c, v) VALUES ('a', 1, 'x') IF NOT EXISTS").how == serving.COND_PUT
    assert write("UPDATE ks.cnt SET n = n + 1 WHERE k = 1").how == serving.COUNTER
    assert write("DELETE FROM ks.t WHERE p = 'a'").how == serving.RANGE_DELETE
    batch = write("BEGIN BATCH INSERT INTO ks.t (p, c) VALUES ('a', 1); INSERT INTO ks.t (p, c) VALUES ('b', 2); "
                  "APPLY BATCH")
    assert batch.how == serving.TRANSACT
    single = write("INSERT INTO ks.t (p, c) VALUES ('a', 1)")
    # each row read, then both puts in one transaction at twice the units (no `v`: not in the GSI)
    assert single.items[0].gsi_sizes == (-1,)
    assert (batch.rcu, batch.wcu) == (2 * single.rcu, 4 * single.wcu)
    assert write("SELECT * FROM ks.t").how == serving.NOTHING


def test_a_transaction_costs_double() -> None:
    one = write("INSERT INTO ks.ins (k, v) VALUES (1, 'x')")
    two = write("BEGIN BATCH INSERT INTO ks.ins (k, v) VALUES (1, 'x'); INSERT INTO ks.ins (k, v) VALUES (2, 'x'); "
                "APPLY BATCH")
    assert two.how == serving.TRANSACT and two.wcu == 4 * one.wcu


def test_items_over_400_kb() -> None:
    big = "x" * 500_000
    c = write(f"INSERT INTO ks.t (p, c, v) VALUES ('a', 1, '{big}')")
    assert c.how == serving.REFUSED and "400 KB" in (c.refused or "") and c.wcu == c.rcu == 0.0
    assert c.items[0].over_limit and c.items[0].compressed_size < 400 * 1024  # compress would bring it under
    z = write(f"INSERT INTO ks.z (k, v) VALUES (1, '{big}')")
    assert z.how == serving.LWW_PUT and z.items[0].size < 10_000 and z.items[0].raw_size > 500_000


def test_the_dynamo_phases_conditional_check_refuses_what_it_refuses() -> None:
    from proxy.writes.dynamo_primary import conditional_target

    c = serving.plan_write([(parse("BEGIN BATCH INSERT INTO ks.t (p, c) VALUES ('a', 1) IF NOT EXISTS; "
                                   "INSERT INTO ks.t (p, c) VALUES ('b', 1) IF NOT EXISTS; APPLY BATCH"), [], None)],
                           _resolve, session_keyspace="ks", version=4, timestamp=1, now=NOW,
                           conditional_check=conditional_target)
    assert c.how == serving.REFUSED and "one row at a time" in (c.refused or "")


def test_unit_math() -> None:
    assert [units.write_units(n) for n in (0, 1, 1024, 1025)] == [1.0, 1.0, 1.0, 2.0]
    assert units.write_units(1500, transactional=True) == 4.0
    assert [units.read_units(n) for n in (1, 4096, 4097)] == [1.0, 1.0, 2.0]
    assert units.read_units(8192, consistent=False) == 1.0
    assert units.item_reads([]) == 1.0  # a GetItem of nothing still costs a unit
    assert units.gsi_writes([100, -1, 2048]) == 3.0


# -- figures across sidecars and the report ----------------------------------------------------

def _stats(n: int, refused: bool = False) -> TableStats:
    t = TableStats("ks.t", "as_t", bucket_seconds=60)
    s = t.shapes["select * from ks.t"] = ShapeStats("read")
    for i in range(n):
        s.count += 1
        t.add_to_bucket(NOW + i, 2.0, 0.0)
    c = read("SELECT * FROM ks.t")
    serving.read_cost(c, [8000])
    s.add_sample(c, rows=3)
    w = t.shapes["insert"] = ShapeStats("write", count=n)
    wc = write("INSERT INTO ks.t (p, c, v) VALUES ('a', 1, '" + "x" * (500_000 if refused else 10) + "')")
    w.add_sample(wc)
    rng = random.Random(1)
    for f in wc.items:
        t.add_item(f, rng)
    return t


def test_figures_of_several_sidecars_add_up() -> None:
    a, b = _stats(10), _stats(30, refused=True)
    merged = TableStats.from_json(a.to_json())
    merged.merge(TableStats.from_json(b.to_json()))
    assert merged.shapes["select * from ks.t"].count == 40 and merged.shapes["insert"].count == 40
    assert sum(x[0] for x in merged.buckets.values()) == 40
    assert merged.over_limit == 1 and merged.max_size > 500_000 and merged.sizes_seen == 2


def test_report_puts_blockers_first_and_projects_cost() -> None:
    snap = {"sidecar": "a", "observed_seconds": 100.0,
            "tables": {"ks.t": _stats(100, refused=True).to_json()}}
    doc = report.build([snap], PRICES)
    (t,) = doc["tables"]
    assert [s["shape"] for s in t["shapes"]] == ["insert", "select * from ks.t"]  # refused, then the scan
    assert [b["kind"] for b in t["blockers"]] == ["refused", "scan", "large_items"]
    assert t["items"]["over_limit"] == 1 and t["items"]["needs_s3"] == 0
    # 100 scans of 2 units each in 100 s: 2 RCU/s on average
    assert t["rates"]["rcu_per_s"]["avg"] == 2.0
    assert t["cost"]["on_demand"]["reads"] == round(2.0 * 730 * 3600 / 1e6 * 0.125, 2)
    # provisioned for the peak (the busiest 60 s bucket: 60 requests x 2 units / 60 s) at 70 %
    assert t["rates"]["rcu_per_s"]["peak"] == 2.0 and t["cost"]["provisioned"]["rcu"] == 3
    text = render(doc)
    assert text.index("refused x1") < text.index("Scan with filter") and "$" in text


def test_shapes_beyond_the_cap_and_hot_partitions() -> None:
    t = TableStats("ks.t")
    for i in range(30):
        t.add_partition_peak(f"S:k{i}", float(i), 0.0)
    t.add_partition_peak("S:hot", 0.0, 1500.0)
    assert len(t.hot) == 20 and any(v[0] == "S:hot" for v in t.hot.values())
    doc = report.table_report(TableStats.from_json(t.to_json()), 60.0, PRICES)
    assert doc["hot_partitions"][0]["over_limit"] and "key" not in doc["hot_partitions"][0]
    assert [b["kind"] for b in doc["blockers"]] == ["hot_partition"]
    assert OTHER == "(other shapes)"


def test_prices_from_a_file(tmp_path: Any) -> None:
    from proxy.assess.prices import PriceFileError, load_prices

    default = load_prices()
    assert default.region == "us-east-1" and default.as_of and default.write_request_per_million > 0
    f = tmp_path / "p.yaml"
    f.write_text("region: eu-west-1\nas_of: '2025-01-01'\non_demand: {read_request_per_million: 1, "
                 "write_request_per_million: 2}\nprovisioned: {rcu_hour: 0.1, wcu_hour: 0.2}\nstorage_gb_month: 1\n")
    assert load_prices(str(f)).region == "eu-west-1"
    f.write_text("region: x\n")
    with pytest.raises(PriceFileError, match="--prices"):
        load_prices(str(f))


def test_write_item_of_an_update_is_its_columns_only() -> None:
    m = Mutation(NOW * 1_000_000, cells={"v": "y" * 100})
    assert write_item(T, ("a",), (1,), m, NOW).size < 400
    assert serialize(native(TypeCode.INT), 1)  # the codec the sampled values go through


# -- properties --------------------------------------------------------------------------------

_literal = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: repr(float(f))),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20).map(
        lambda s: "'" + s.replace("'", "''") + "'"),
    st.uuids().map(str),
    st.binary(max_size=8).map(lambda b: "0x" + b.hex()),
    st.booleans().map(lambda b: "true" if b else "false"),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_literal, min_size=3, max_size=3), st.lists(_literal, min_size=3, max_size=3))
def test_any_values_give_the_same_shape(a: list[str], b: list[str]) -> None:
    template = "INSERT INTO ks.t (p, c, v) VALUES ({}, {}, {}) USING TTL 5"
    assert normalise(template.format(*a)) == normalise(template.format(*b)) == \
        "insert into ks.t (p, c, v) values (?) using ttl ?"


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2_000_000), st.booleans())
def test_units_never_undercount_and_round_up(size: int, transactional: bool) -> None:
    w = units.write_units(size, transactional)
    assert w * 1024 >= size * (2 if transactional else 1) and w >= 1
    r = units.read_units(size)
    assert r * 4096 >= size and (r - 1) * 4096 < max(size, 1)
