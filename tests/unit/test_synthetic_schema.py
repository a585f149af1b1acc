"""SyntheticSchema: system table answers from a mapping, no I/O."""

from __future__ import annotations

import uuid

import pytest

from cql_protocol.messages import Rows
from cql_protocol.types import INET, TEXT, ListType, deserialize, serialize
from proxy.system_tables.schema_rows import table_id
from proxy.system_tables.synthetic_schema import (
    ClusterInfo,
    InvalidSystemQuery,
    SyntheticSchema,
    column_specs,
)
from proxy.system_tables.topology import Node, ring
from translators.mapping import load_mapping

MAPPING = load_mapping("examples/shop.yaml")
ME = Node("10.0.0.1", 9042)
PEERS = [Node("10.0.0.2", 9042), Node("10.0.0.3", 9042)]


def synth() -> SyntheticSchema:
    return SyntheticSchema(MAPPING, ME, PEERS, ClusterInfo("prod", "dc1", "r1"))


def dicts(rows: Rows | None) -> list[dict[str, object]]:
    assert rows is not None and rows.metadata.columns is not None
    return [{c.name: None if v is None else deserialize(c.type, v) for c, v in zip(rows.metadata.columns, r, strict=True)}
            for r in rows.rows]


@pytest.mark.parametrize("query", [
    "INSERT INTO shop.carts (cart_id) VALUES (?)",
    "SELECT * FROM shop.carts",
    "SELECT * FROM carts",
    "CREATE TABLE system_x (k int PRIMARY KEY)",
    "USE system",
])
def test_not_a_system_query(query: str) -> None:
    assert synth().answer(query, [], 4) is None


@pytest.mark.parametrize(("query", "count"), [
    ("SELECT * FROM system_schema.keyspaces", 6),  # shop + 5 system keyspaces
    ("SELECT * FROM system_schema.keyspaces WHERE keyspace_name = 'shop'", 1),
    ("SELECT * FROM system_schema.tables WHERE keyspace_name = 'shop'", 4),
    ("SELECT * FROM system_schema.tables WHERE keyspace_name = 'shop' AND table_name = 'carts'", 1),
    ("SELECT * FROM system_schema.tables WHERE keyspace_name = 'shop' AND table_name IN ('carts', 'x')", 1),
    ("SELECT * FROM system_schema.columns WHERE keyspace_name='shop' AND table_name='cart_items'", 6),
    ("SELECT * FROM system_schema.types WHERE keyspace_name = 'shop'", 1),
    ("SELECT * FROM system_schema.indexes", 0),  # the shop GSI replaces no Cassandra index
    ("SELECT * FROM system_schema.functions", 0),
    ("SELECT * FROM system_schema.aggregates", 0),
    ("SELECT * FROM system_schema.views WHERE keyspace_name = 'shop' AND view_name = 'v'", 0),
    ("SELECT * FROM system_schema.triggers", 0),
    ("SELECT * FROM system_schema.dropped_columns", 0),
    ("SELECT * FROM system_virtual_schema.keyspaces", 1),
    ("SELECT * FROM system_virtual_schema.tables", 3),
    ("SELECT * FROM system_virtual_schema.columns", 12),
    ("SELECT * FROM system.local WHERE key='local'", 1),
    ("SELECT * FROM system.local WHERE key='other'", 0),
    ("SELECT * FROM system.peers", 2),
    ("SELECT * FROM system.peers_v2 WHERE peer = '10.0.0.3'", 1),
    ("SELECT * FROM system.peers LIMIT 1", 1),
])
def test_row_counts_and_star_metadata(query: str, count: int) -> None:
    rows = synth().answer(query, [], 4)
    assert rows is not None
    assert len(rows.rows) == count
    ks, table = query.split(" FROM ")[1].split()[0].split(".")
    assert rows.metadata.columns == column_specs(ks, table)


def test_column_lists_keep_their_order_and_aliases() -> None:
    rows = synth().answer("SELECT tokens, host_id AS id, peer FROM system.peers_v2", [], 5)
    assert rows is not None and rows.metadata.columns is not None
    assert [c.name for c in rows.metadata.columns] == ["tokens", "id", "peer"]
    got = dicts(rows)
    tokens = ring([ME, *PEERS])
    assert sorted(str(r["peer"]) for r in got) == ["10.0.0.2", "10.0.0.3"]
    for r in got:
        p = next(n for n in PEERS if n.address == str(r["peer"]))
        assert r == {"tokens": [tokens[p]], "id": p.host_id, "peer": r["peer"]}


def test_bound_filters() -> None:
    s = synth()
    rows = s.answer("SELECT peer FROM system.peers WHERE peer = ?", [serialize(INET, "10.0.0.2")], 4)
    assert [str(r["peer"]) for r in dicts(rows)] == ["10.0.0.2"]
    rows = s.answer("SELECT table_name FROM system_schema.tables WHERE keyspace_name = :ks AND table_name IN :t",
                    [serialize(TEXT, "shop"), serialize(ListType(TEXT), ["cart_items"])], 4)
    assert dicts(rows) == [{"table_name": "cart_items"}]


def test_local_row() -> None:
    s = synth()
    (row,) = dicts(s.answer("SELECT * FROM system.local WHERE key='local'", [], 4))
    assert row["cluster_name"] == "prod" and row["data_center"] == "dc1" and row["rack"] == "r1"
    assert row["release_version"] == "5.0.9" and row["native_protocol_version"] == "5"
    assert row["partitioner"] == "org.apache.cassandra.dht.Murmur3Partitioner"
    assert row["host_id"] == ME.host_id and str(row["rpc_address"]) == "10.0.0.1" and row["rpc_port"] == 9042
    assert row["tokens"] == [ring([ME, *PEERS])[ME]]
    assert row["schema_version"] == s.schema_version
    peers = dicts(s.answer("SELECT schema_version, data_center FROM system.peers", [], 4))
    assert all(p == {"schema_version": s.schema_version, "data_center": "dc1"} for p in peers)


def test_schema_rows_follow_the_mapping() -> None:
    s = synth()
    cols = {r["column_name"]: r for r in dicts(s.answer(
        "SELECT * FROM system_schema.columns WHERE keyspace_name = 'shop' AND table_name = 'cart_items'", [], 4))}
    assert cols["cart_id"]["kind"] == "partition_key" and cols["cart_id"]["position"] == 0
    assert cols["item"]["kind"] == "clustering" and cols["item"]["clustering_order"] == "asc"
    assert cols["qty"]["kind"] == "regular" and cols["qty"]["position"] == -1
    assert cols["options"]["type"] == "map<text, frozen<option>>"
    assert cols["tags"]["column_name_bytes"] == b"tags"
    (t,) = dicts(s.answer("SELECT * FROM system_schema.types WHERE keyspace_name = 'shop'", [], 4))
    assert t == {"keyspace_name": "shop", "type_name": "option", "field_names": ["name", "value"],
                 "field_types": ["text", "text"]}
    (tbl,) = dicts(s.answer("SELECT id, flags, comment FROM system_schema.tables WHERE keyspace_name = 'shop' "
                            "AND table_name = 'carts'", [], 4))
    assert tbl == {"id": table_id("shop", "carts"), "flags": ["compound"], "comment": ""}


def test_table_ids_follow_cassandras_recipe_for_system_tables() -> None:
    # Cassandra 5.0.9 shows system.local with this id: UUID.nameUUIDFromBytes("system" + "local").
    assert table_id("system", "local") == uuid.UUID("7ad54392-bcdd-35a6-8417-4e047860b377")


def test_schema_version_ignores_topology_and_phases() -> None:
    other = SyntheticSchema(MAPPING, Node("10.9.9.9", 9043), [], ClusterInfo("x"))
    assert other.schema_version == synth().schema_version
    import dataclasses
    flipped = dataclasses.replace(MAPPING, tables={k: dataclasses.replace(v, phase="dynamo")
                                                   for k, v in MAPPING.tables.items()})
    assert SyntheticSchema(flipped, ME, PEERS).schema_version == synth().schema_version


@pytest.mark.parametrize(("query", "values", "error"), [
    ("SELECT * FROM system.size_estimates", [], "not served"),
    ("SELECT * FROM system_auth.roles", [], "not served"),
    ("SELECT nope FROM system.local", [], "Undefined column name nope in table system.local"),
    ("SELECT * FROM system.local WHERE nope = 1", [], "Undefined column name nope"),
    ("SELECT count(*) FROM system.peers", [], "only plain column selections"),
    ("SELECT * FROM system.peers WHERE peer > '1.1.1.1'", [], "only = and IN"),
    ("SELECT * FROM system.peers WHERE peer = ?", [], "bound values"),
    ("SELECT * FROM system.peers WHERE peer = 'not an address'", [], "invalid inet"),
])
def test_unservable_system_queries(query: str, values: list[bytes | None], error: str) -> None:
    with pytest.raises(InvalidSystemQuery, match=error):
        synth().answer(query, values, 4)
