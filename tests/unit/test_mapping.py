"""The mapping file: loading, key type rules, error messages with file and line, dump round trip,
schema import from system_schema rows, and provisioning plans (no I/O besides reading the example)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from cql_protocol.typeparse import parse_cql_type
from cql_protocol.types import UDTType
from proxy.provision import CreateTable, EnableTtl, plan
from translators.mapping import (
    AttributeSpec,
    IndexSpec,
    KeyRuleError,
    KeySpec,
    MappingError,
    TableSchema,
    allowed_attribute_types,
    build_mapping,
    default_attribute_type,
    derive_keys,
    dump_mapping,
    load_mapping,
    loads_mapping,
    parse_table_name,
    quote_identifier,
    type_to_cql,
)
from translators.schema_import import SchemaRows, build_table_mappings
from translators.table_definitions import table_definitions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "shop.yaml"


# ---------------------------------------------------------------------------------------------
# The example
# ---------------------------------------------------------------------------------------------


def test_example_loads_with_the_documented_layout():
    m = load_mapping(EXAMPLE)
    assert m.version == 1 and m.region == "us-east-1" and m.endpoint is None
    assert m.source_path == str(EXAMPLE)
    assert list(m.tables) == [("shop", "carts"), ("shop", "cart_items"), ("shop", "orders_by_customer"),
                              ("shop", "product_views")]
    assert m.table("shop", "nope") is None

    carts = m.table("shop", "carts")
    items = m.table("shop", "cart_items")
    assert carts is not None and items is not None
    assert {k: [t.table for t in v] for k, v in m.dynamodb_tables().items()} == {
        "shop": ["carts", "cart_items"],
        "shop.orders_by_customer": ["orders_by_customer"],
        "shop_product_views": ["product_views"],
    }
    assert carts.pk == KeySpec("pk", ("cart_id",), "CART#", "composite", "S")
    # A constant sort key next to binary ones is stored as the prefix's bytes.
    assert carts.sk == KeySpec("sk", (), "CART", "constant", "B")
    assert items.sk == KeySpec("sk", ("item",), "ITEM#", "bytecomparable", "B")
    assert carts.phase == "dual_write" and carts.write_mode == "sync"
    assert items.write_mode == "queued" and items.write_condition == "lww" and items.tombstone_ttl == 864000
    assert carts.indexes == (IndexSpec("by_owner", "owner", "created_at", "ALL"),)
    assert items.attributes["qty"] == AttributeSpec("quantity")
    assert items.attributes["price"] == AttributeSpec("price", "S")
    assert items.attributes["cart_id"] == AttributeSpec("cart_id")
    assert items.attribute_type("price") == "S" and items.attribute_type("tags") == "SS"
    assert items.attribute_type("options") == "M"
    # SELECT * order: partition key, clustering, then the rest alphabetically.
    assert list(items.schema.columns) == ["cart_id", "item", "options", "price", "qty", "tags"]
    option = items.schema.udts["option"]
    assert option == UDTType("shop", "option", (("name", parse_cql_type("text")), ("value", parse_cql_type("text"))))

    orders = m.table("shop", "orders_by_customer")
    assert orders is not None
    assert orders.dynamodb_table == "shop.orders_by_customer"
    assert orders.pk == KeySpec("pk", ("customer_id",), "", "plain", "S")
    assert orders.sk == KeySpec("sk", ("placed_at", "order_id"), "", "bytecomparable", "B")
    assert orders.schema.clustering == (("placed_at", "desc"), ("order_id", "asc"))
    assert orders.large_items == "compress"

    views = m.table("shop", "product_views")
    assert views is not None and views.sk is None and views.schema.is_counter_table()
    assert views.write_condition == "none"


# ---------------------------------------------------------------------------------------------
# Key type rules
# ---------------------------------------------------------------------------------------------


def _schema(columns: dict[str, str], pk: list[str], clustering: list[tuple[str, str]] = ()) -> TableSchema:
    return TableSchema({c: parse_cql_type(t) for c, t in columns.items()}, tuple(pk), tuple(clustering))  # type: ignore[arg-type]


@pytest.mark.parametrize(("cql_type", "expected"), [
    *((t, "S") for t in ("text", "ascii", "varchar", "uuid", "timeuuid", "inet", "boolean", "duration")),
    *((t, "N") for t in ("tinyint", "smallint", "int", "bigint", "varint", "decimal", "timestamp", "date", "time",
                         "float", "double")),
    ("blob", "B"),
])
def test_single_partition_key_column_keeps_its_type(cql_type, expected):
    pk, sk = derive_keys(_schema({"k": cql_type}, ["k"]))
    assert pk == KeySpec("pk", ("k",), "", "plain", expected)
    assert sk is None


@pytest.mark.parametrize(("columns", "pk_cols", "prefix"), [
    ({"a": "text", "b": "int"}, ["a", "b"], ""),
    ({"a": "int"}, ["a"], "USER#"),
    ({"a": "frozen<tuple<int, text>>"}, ["a"], ""),
    ({"a": "frozen<list<int>>"}, ["a"], ""),
])
def test_composite_partition_keys_are_strings(columns, pk_cols, prefix):
    pk, _ = derive_keys(_schema(columns, pk_cols), pk_prefix=prefix)
    assert pk == KeySpec("pk", tuple(pk_cols), prefix, "composite", "S")


@pytest.mark.parametrize(("ctype", "order", "prefix", "encoding", "expected"), [
    ("text", "asc", "", "auto", ("plain", "S")),
    ("ascii", "asc", "", "auto", ("plain", "S")),
    ("varchar", "asc", "", "plain", ("plain", "S")),
    ("tinyint", "asc", "", "auto", ("plain", "N")),
    ("smallint", "asc", "", "auto", ("plain", "N")),
    ("int", "asc", "", "auto", ("plain", "N")),
    ("bigint", "asc", "", "auto", ("plain", "N")),
    ("timestamp", "asc", "", "auto", ("plain", "N")),
    ("date", "asc", "", "auto", ("plain", "N")),
    ("time", "asc", "", "auto", ("plain", "N")),
    ("text", "asc", "", "bytecomparable", ("bytecomparable", "B")),
    ("text", "desc", "", "auto", ("bytecomparable", "B")),
    ("int", "desc", "", "auto", ("bytecomparable", "B")),
    ("text", "asc", "ITEM#", "auto", ("bytecomparable", "B")),
    ("int", "asc", "X", "auto", ("bytecomparable", "B")),
    *((t, "asc", "", "auto", ("bytecomparable", "B")) for t in (
        "uuid", "timeuuid", "blob", "decimal", "varint", "float", "double", "inet", "boolean",
        "frozen<tuple<int, text>>")),
])
def test_one_clustering_column(ctype, order, prefix, encoding, expected):
    schema = _schema({"k": "int", "c": ctype}, ["k"], [("c", order)])
    _, sk = derive_keys(schema, sk_prefix=prefix, sk_encoding=encoding)
    assert sk == KeySpec("sk", ("c",), prefix if expected[0] != "plain" else "", *expected)


def test_several_clustering_columns_are_bytecomparable():
    schema = _schema({"k": "int", "a": "text", "b": "int"}, ["k"], [("a", "asc"), ("b", "asc")])
    assert derive_keys(schema)[1] == KeySpec("sk", ("a", "b"), "", "bytecomparable", "B")


def test_constant_sort_key_without_clustering():
    schema = _schema({"k": "int"}, ["k"])
    assert derive_keys(schema, sk_prefix="META", sk_attribute="SK")[1] == KeySpec("SK", (), "META", "constant", "S")


@pytest.mark.parametrize(("columns", "clustering", "kw", "message"), [
    ({"c": "text"}, [("c", "desc")], {"sk_encoding": "plain"}, "encoding 'plain' is not possible: c is DESC"),
    ({"c": "uuid"}, [("c", "asc")], {"sk_encoding": "plain"}, "c is uuid, whose DynamoDB order differs"),
    ({"c": "int"}, [("c", "asc")], {"sk_encoding": "plain", "sk_prefix": "P"}, "a prefix is set"),
    ({"c": "int", "d": "int"}, [("c", "asc"), ("d", "asc")], {"sk_encoding": "plain"}, "several clustering"),
    ({}, [], {"sk_encoding": "bytecomparable"}, "needs clustering columns"),
    ({}, [], {"sk_requested": True}, "a sort key needs a prefix"),
])
def test_impossible_sort_keys(columns, clustering, kw, message):
    schema = _schema({"k": "int", **columns}, ["k"], clustering)
    with pytest.raises(KeyRuleError, match=message):
        derive_keys(schema, **kw)


@pytest.mark.parametrize(("cql_type", "default", "allowed"), [
    ("text", "S", ("S",)),
    ("int", "N", ("N", "S")),
    ("decimal", "N", ("N", "S")),
    ("counter", "N", ("N",)),
    ("boolean", "BOOL", ("BOOL", "N", "S")),
    ("blob", "B", ("B",)),
    ("uuid", "S", ("S", "B")),
    ("set<text>", "SS", ("SS", "L")),
    ("set<int>", "NS", ("NS", "L")),
    ("set<blob>", "BS", ("BS", "L")),
    ("set<boolean>", "L", ("L",)),
    ("set<frozen<list<int>>>", "L", ("L",)),
    ("list<int>", "L", ("L",)),
    ("frozen<tuple<int, text>>", "L", ("L",)),
    ("map<text, int>", "M", ("M",)),
    ("vector<float, 3>", "L", ("L",)),
])
def test_attribute_types(cql_type, default, allowed):
    t = parse_cql_type(cql_type)
    assert default_attribute_type(t) == default
    assert allowed_attribute_types(t) == allowed


# ---------------------------------------------------------------------------------------------
# Names and types
# ---------------------------------------------------------------------------------------------


def test_table_names_follow_cql_quoting():
    assert parse_table_name("Shop.Cart_Items") == ("shop", "cart_items")
    assert parse_table_name('"MyKs"."My ""T"""') == ("MyKs", 'My "T"')
    assert quote_identifier("cart_items") == "cart_items"
    assert quote_identifier("MyKs") == '"MyKs"'
    for bad in ("shop", "shop.", ".t", "shop.t.x", '"unterminated.t', '"".t'):
        with pytest.raises(ValueError):
            parse_table_name(bad)


@pytest.mark.parametrize("spelling", [
    "int", "set<text>", "frozen<list<frozen<set<int>>>>", "list<frozen<set<int>>>", "map<text, frozen<list<int>>>",
    "frozen<tuple<int, text, frozen<list<double>>>>", "vector<float, 3>", "'org.example.MyType'",
])
def test_type_spelling_round_trips(spelling):
    t = parse_cql_type(spelling)
    assert type_to_cql(t) == spelling
    assert parse_cql_type(type_to_cql(t)) == t


# ---------------------------------------------------------------------------------------------
# Malformed files: exact file:line: path: message
# ---------------------------------------------------------------------------------------------

BASE = """\
version: 1
tables:
  - cql: shop.cart_items
    dynamodb_table: shop
    write_mode: sync
    schema:
      columns: {cart_id: uuid, item: text, qty: int, owner: text, flag: boolean}
      partition_key: [cart_id]
      clustering: [{item: asc}]
"""

SECOND = """\
  - cql: shop.carts
    dynamodb_table: shop
    partition_key: {attribute: pk, prefix: "CART#"}
    sort_key: {attribute: sk, prefix: "CART"}
    schema:
      columns: {cart_id: uuid, owner: text}
      partition_key: [cart_id]
"""


def _variant(*edits: tuple[str, str], extra: str = "") -> str:
    text = BASE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text + extra


MALFORMED: list[tuple[str, str, int, str]] = [
    ("example_from_docs", _variant(("write_mode: sync", "write_mode: qeued")), 5,
     "tables[0].write_mode: 'qeued' is not one of sync, queued"),
    ("unknown_top_key", _variant(("tables:", "tabels:")), 2,
     "tabels: unknown key 'tabels' (did you mean 'tables'?)"),
    ("unknown_table_key", _variant(("write_mode: sync", "wirte_mode: sync")), 5,
     "tables[0].wirte_mode: unknown key 'wirte_mode' (did you mean 'write_mode'?)"),
    ("unknown_key_no_near_miss", _variant(("write_mode: sync", "colour: red")), 5,
     "tables[0].colour: unknown key 'colour'; expected one of: cql, dynamodb_table, phase, write_mode, "
     "write_condition, large_items, s3_bucket, ttl_attribute, timestamp_attribute, tombstone_ttl, partition_key, "
     "sort_key, attributes, indexes, token_index, schema"),
    ("phase", _variant(("write_mode: sync", "phase: dual-write")), 5,
     "tables[0].phase: 'dual-write' is not one of cassandra, dual_write, verify, dynamo_fallback, dynamo"),
    ("missing_cql", _variant(("  - cql: shop.cart_items\n    dynamodb_table: shop", "  - dynamodb_table: shop")), 3,
     "tables[0]: missing required key 'cql'"),
    ("missing_version", _variant(("version: 1\n", "")), 1, "missing required key 'version'"),
    ("version", _variant(("version: 1", "version: 2")), 1,
     "version: unsupported version 2 (this release reads version 1)"),
    ("wrong_type_int", _variant(("write_mode: sync", "tombstone_ttl: ten days")), 5,
     "tables[0].tombstone_ttl: expected an integer, got string 'ten days'"),
    ("wrong_type_str", _variant(("write_mode: sync", "partition_key: {prefix: 5}")), 5,
     "tables[0].partition_key.prefix: expected a string, got integer 5 (quote it)"),
    ("wrong_type_list", _variant(("partition_key: [cart_id]", "partition_key: {cart_id: 1}")), 8,
     "tables[0].schema.partition_key: expected a list, got a mapping"),
    ("unknown_attribute_column", _variant(("write_mode: sync", "attributes: {qtty: {name: quantity}}")), 5,
     "tables[0].attributes.qtty: 'qtty' is not a column of the table (did you mean 'qty'?)"),
    ("unknown_index_column", _variant(("write_mode: sync", "indexes:\n      - {name: by_owner, partition_key: ownr}")),
     6, "tables[0].indexes[0].partition_key: index key column 'ownr' is not a column of the table "
        "(did you mean 'owner'?)"),
    ("index_key_null", _variant(("write_mode: sync", "indexes: [{name: by_owner, partition_key: null}]")), 5,
     "tables[0].indexes[0].partition_key: expected a string, got null"),
    ("index_include_without_projection",
     _variant(("write_mode: sync", "indexes: [{name: by_owner, partition_key: owner, include: [qty]}]")), 5,
     "tables[0].indexes[0].include: include is only for projection: INCLUDE"),
    ("index_on_bool", _variant(("write_mode: sync", "indexes: [{name: by_flag, partition_key: flag}]")), 5,
     "tables[0].indexes[0].partition_key: column 'flag' is stored as BOOL, which cannot be an index key "
     "(only S, N or B); override its type under attributes"),
    ("clustering_not_a_column", _variant(("[{item: asc}]", "[{itme: asc}]")), 9,
     "tables[0].schema.clustering[0]: clustering column 'itme' is not a column of the table (did you mean 'item'?)"),
    ("partition_not_a_column", _variant(("[cart_id]", "[cart]")), 8,
     "tables[0].schema.partition_key[0]: partition key column 'cart' is not a column of the table "
     "(did you mean 'cart_id'?)"),
    ("clustering_order", _variant(("{item: asc}", "{item: up}")), 9,
     "tables[0].schema.clustering[0].item: 'up' is not one of asc, desc"),
    ("invalid_cql_type", _variant(("qty: int", "qty: map<text>")), 7,
     "tables[0].schema.columns.qty: invalid CQL type 'map<text>': expected ',', got '>' at position 8"),
    ("misspelt_type", _variant(("qty: int", "qty: innt")), 7,
     "tables[0].schema.columns.qty: unknown type 'innt': not a CQL type and not defined in schema.types "
     "(did you mean 'int'?)"),
    ("undefined_udt", _variant(("qty: int", "qty: frozen<address>")), 7,
     "tables[0].schema.columns.qty: unknown type 'address': not a CQL type and not defined in schema.types"),
    ("udt_cycle", _variant(("qty: int", "qty: frozen<a>"),
                           ("clustering: [{item: asc}]", "clustering: [{item: asc}]\n      types:\n        a: {x: "
                                                         "frozen<b>}\n        b: {y: frozen<a>}")), 11,
     "tables[0].schema.types.a: user type 'a' contains itself (a -> b -> a)"),
    ("duplicate_table", BASE + "  - cql: Shop.Cart_Items\n    schema: {columns: {k: int}, partition_key: [k]}\n", 10,
     "tables[1].cql: shop.cart_items is already mapped by tables[0]"),
    ("shared_keys_disagree", _variant(("dynamodb_table: shop\n    write_mode: sync",
                                       "dynamodb_table: shop\n    partition_key: {attribute: id}"), extra=SECOND), 12,
     "tables[1].partition_key: partition key pk (S) differs from id (S) of shop.cart_items (tables[0]); tables "
     "sharing DynamoDB table 'shop' need the same key attributes and types"),
    ("shared_sort_keys_disagree", _variant(("write_mode: sync", "sort_key: {attribute: s}"), extra=SECOND), 13,
     "tables[1].sort_key: sort key sk (S) differs from s (S) of shop.cart_items (tables[0]); tables sharing "
     "DynamoDB table 'shop' need the same key attributes and types"),
    ("shared_without_prefixes", _variant(extra=SECOND.replace('"CART"', '"ITEM"')), 13,
     "tables[1].sort_key.prefix: shop.carts and shop.cart_items (tables[0]) share DynamoDB table 'shop' but their "
     "key prefixes do not keep their items apart: give them prefixes of which neither starts with the other"),
    ("s3_without_bucket", _variant(("write_mode: sync", "large_items: s3")), 5,
     "tables[0].large_items: large_items is 's3' but no s3_bucket is set for shop.cart_items"),
    ("s3_bucket_name", _variant(("write_mode: sync", "s3_bucket: My_Bucket")), 5,
     "tables[0].s3_bucket: 'My_Bucket' is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')"),
    ("dynamodb_table_name", _variant(("dynamodb_table: shop", "dynamodb_table: ab")), 4,
     "tables[0].dynamodb_table: 'ab' is not a valid DynamoDB table name: must be 3-255 characters of a-z, A-Z, "
     "0-9, '_', '-' and '.'"),
    ("plain_impossible", _variant(("write_mode: sync", "sort_key: {encoding: plain}"), ("{item: asc}", "{item: desc}")),
     5, "tables[0].sort_key.encoding: encoding 'plain' is not possible: item is DESC (plain needs one ascending text "
        "or tinyint/smallint/int/bigint/timestamp/date/time clustering column and no prefix)"),
    ("sort_key_without_clustering", _variant(("write_mode: sync", "sort_key: {attribute: sk}"),
                                             ("      clustering: [{item: asc}]\n", "")), 5,
     "tables[0].sort_key: the table has no clustering columns: a sort key needs a prefix (its constant value), or "
     "leave sort_key out"),
    ("attribute_collides_with_key", _variant(("write_mode: sync", "attributes: {qty: pk}")), 5,
     "tables[0].attributes.qty: column 'qty' is stored as attribute 'pk', which is the partition key attribute; "
     "rename it with attributes: {qty: {name: ...}}"),
    ("attributes_collide", _variant(("write_mode: sync", "attributes: {qty: {name: owner}}")), 5,
     "tables[0].attributes.qty: columns 'owner' and 'qty' are both stored as attribute 'owner'"),
    ("type_override", _variant(("write_mode: sync", "attributes: {owner: {type: N}}")), 5,
     "tables[0].attributes.owner.type: a text column cannot be stored as N; possible: S"),
    ("static_without_clustering", _variant(("      clustering: [{item: asc}]\n", "      static: [qty]\n")), 9,
     "tables[0].schema.static: static columns need clustering columns"),
    ("counter_mix", _variant(("qty: int", "qty: counter")), 7,
     "tables[0].schema.columns.flag: a table with counter columns (qty) can have no other non-key columns, but "
     "'flag' is boolean"),
    ("defaults_key", _variant(("tables:", "defaults: {phase: cassandra, write_mod: sync}\ntables:")), 2,
     "defaults.write_mod: unknown key 'write_mod' (did you mean 'write_mode'?)"),
    ("endpoint", "version: 1\ndynamodb: {endpoint: localhost:8000}\ntables: []\n", 2,
     "dynamodb.endpoint: 'localhost:8000' is not an http:// or https:// URL"),
    ("duplicate_yaml_key", _variant(("write_mode: sync", "write_mode: sync\n    write_mode: queued")), 6,
     "tables[0]: duplicate key 'write_mode' (first at line 5)"),
    ("non_string_key", _variant(("qty: int", "on: int")), 7,
     "tables[0].schema.columns: key boolean true is not a string (quote it)"),
    ("yaml_syntax", _variant(("[cart_id]", "[cart_id")), 9,
     "invalid YAML: expected ',' or ']', but got ':'"),
    ("empty", "", 1, "the file is empty; expected a mapping with 'version' and 'tables'"),
    ("not_a_mapping", "- 1\n", 1, "expected a mapping, got a list"),
]


@pytest.mark.parametrize(("text", "line", "message"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_mapping_names_file_line_and_problem(text, line, message):
    with pytest.raises(MappingError) as info:
        loads_mapping(text, "mapping.yaml")
    assert str(info.value) == f"mapping.yaml:{line}: {message}"


def test_load_mapping_reports_the_real_path(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(_variant(("write_mode: sync", "write_mode: qeued")))
    with pytest.raises(MappingError, match=rf"^{f}:5: tables\[0\]\.write_mode: 'qeued'"):
        load_mapping(f)


def test_every_broken_table_is_reported():
    text = _variant(("write_mode: sync", "write_mode: qeued"),
                    extra=SECOND.replace("dynamodb_table: shop", "dynamodb_table: x").replace("[cart_id]", "[cid]"))
    with pytest.raises(MappingError) as info:
        loads_mapping(text, "m.yaml")
    assert info.value.errors == [
        "m.yaml:5: tables[0].write_mode: 'qeued' is not one of sync, queued",
        "m.yaml:16: tables[1].schema.partition_key[0]: partition key column 'cid' is not a column of the table "
        "(did you mean 'cart_id'?)",
    ]


def test_defaults_apply_and_tables_override():
    text = _variant(("tables:", "defaults: {phase: verify, write_mode: queued, tombstone_ttl: 60}\ntables:"),
                    ("    write_mode: sync\n", ""))
    tm = loads_mapping(text).table("shop", "cart_items")
    assert tm is not None and (tm.phase, tm.write_mode, tm.tombstone_ttl) == ("verify", "queued", 60)
    tm2 = loads_mapping(text.replace("    schema:", "    phase: dynamo\n    schema:")).table("shop", "cart_items")
    assert tm2 is not None and tm2.phase == "dynamo" and tm2.write_mode == "queued"


def test_s3_policy_with_bucket_from_defaults():
    text = _variant(("tables:", "defaults: {s3_bucket: big-items}\ntables:"), ("write_mode: sync", "large_items: s3"))
    tm = loads_mapping(text).table("shop", "cart_items")
    assert tm is not None and tm.large_items == "s3" and tm.s3_bucket == "big-items"


def test_gsi_key_types_must_agree_within_a_dynamodb_table():
    text = _variant(("write_mode: sync", "sort_key: {prefix: ITEM#}\n    indexes: [{name: by_owner, partition_key: owner}]"),
                    extra=SECOND.replace("owner: text}", "owner: int}") + "    indexes: [{name: by_x, partition_key: owner}]\n")
    with pytest.raises(MappingError, match=r"m.yaml:18: tables\[1\]\.indexes\[0\]\.partition_key: attribute 'owner' is "
                                           r"a key of type N here but S in shop.cart_items"):
        loads_mapping(text, "m.yaml")


# ---------------------------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------------------------


def test_dump_load_round_trip_of_the_example():
    m = load_mapping(EXAMPLE)
    text = dump_mapping(m)
    assert text.startswith("# cql-dynamo-proxy mapping, format version 1")
    assert "#   sort key sk (B) = 'ITEM#' + bytecomparable(item asc)" in text
    assert loads_mapping(text) == m
    assert dump_mapping(loads_mapping(text)) == text


def test_round_trip_of_awkward_names_and_types():
    text = """\
version: 1
dynamodb: {region: eu-west-1, endpoint: "http://127.0.0.1:8000"}
defaults: {phase: dual_write, ttl_attribute: expires}
tables:
  - cql: '"MyKs"."My Table"'
    dynamodb_table: my-table
    tombstone_ttl: 3600
    large_items: s3
    s3_bucket: my.bucket
    partition_key: {attribute: PK, prefix: "yes"}
    sort_key: {attribute: SK, prefix: "null", encoding: bytecomparable}
    attributes: {"on": {name: "true"}, Flag: {type: N}, ids: {type: L}}
    indexes:
      - {name: by_name, partition_key: "on", sort_key: Flag, projection: INCLUDE, include: [ids]}
    schema:
      columns: {"on": text, c: text, Flag: boolean, ids: "set<uuid>", home: '"Addr"', s: int}
      partition_key: ["on"]
      clustering: [c]
      static: [s]
      types:
        Addr: {street: text, "City": "frozen<list<text>>", inner: "frozen<inner>"}
        inner: {n: int}
"""
    m = loads_mapping(text)
    tm = m.table("MyKs", "My Table")
    assert tm is not None
    assert tm.cql_name == '"MyKs"."My Table"' and tm.ttl_attribute == "expires" and tm.phase == "dual_write"
    assert list(tm.schema.columns) == ["on", "c", "s", "Flag", "home", "ids"]
    assert tm.attribute_type("Flag") == "N" and tm.attribute_type("ids") == "L"
    home = tm.schema.columns["home"]
    assert isinstance(home, UDTType) and not home.frozen and home.fields[2][1] == tm.schema.udts["inner"]
    dumped = dump_mapping(m)
    again = loads_mapping(dumped)
    assert again == m
    assert again.endpoint == "http://127.0.0.1:8000" and again.region == "eu-west-1"


def test_empty_mapping_round_trips():
    m = loads_mapping("version: 1\ntables: []\n")
    assert m.tables == {} and loads_mapping(dump_mapping(m)) == m


# ---------------------------------------------------------------------------------------------
# Schema import from system_schema rows
# ---------------------------------------------------------------------------------------------


def _col(table: str, name: str, kind: str, type_: str, position: int = -1, order: str = "none") -> dict[str, Any]:
    return {"keyspace_name": "ks", "table_name": table, "column_name": name, "kind": kind, "type": type_,
            "position": position, "clustering_order": order}


def _rows() -> SchemaRows:
    return SchemaRows(
        tables=[("ks", "events"), ("ks", "Hits"), ("ks", "users")],
        columns=[
            _col("events", "tenant", "partition_key", "text", 0),
            _col("events", "day", "partition_key", "date", 1),
            _col("events", "at", "clustering", "timeuuid", 0, "desc"),
            _col("events", "pk", "regular", "text"),
            _col("events", "payload", "regular", "map<text, frozen<list<int>>>"),
            _col("events", "owner", "regular", "text"),
            _col("events", "ok", "regular", "boolean"),
            _col("Hits", "page", "partition_key", "text", 0),
            _col("Hits", "n", "regular", "counter"),
            _col("users", "id", "partition_key", "uuid", 0),
            _col("users", "home", "regular", "frozen<address>"),
        ],
        types=[
            {"keyspace_name": "ks", "type_name": "address", "field_names": ["street", "geo"],
             "field_types": ["text", "frozen<point>"]},
            {"keyspace_name": "ks", "type_name": "point", "field_names": ["lat", "lon"], "field_types": ["double", "double"]},
            {"keyspace_name": "ks", "type_name": "unused", "field_names": ["x"], "field_types": ["int"]},
        ],
        indexes=[
            {"keyspace_name": "ks", "table_name": "events", "index_name": "by_owner", "kind": "COMPOSITES",
             "options": {"target": "owner"}},
            {"keyspace_name": "ks", "table_name": "events", "index_name": "ix", "kind": "CUSTOM",
             "options": {"class_name": "sai", "target": "day"}},
            {"keyspace_name": "ks", "table_name": "events", "index_name": "by_payload", "kind": "COMPOSITES",
             "options": {"target": "values(payload)"}},
            {"keyspace_name": "ks", "table_name": "events", "index_name": "by_ok", "kind": "COMPOSITES",
             "options": {"target": "ok"}},
            {"keyspace_name": "ks", "table_name": "events", "index_name": "sasi", "kind": "CUSTOM",
             "options": {"class_name": "org.apache.cassandra.index.sasi.SASIIndex", "target": "owner"}},
        ],
    )


def test_import_builds_working_defaults():
    result = build_table_mappings(_rows(), table_prefix="dev-")
    events, hits, users = result.tables
    assert events.dynamodb_table == "dev-ks.events" and events.phase == "cassandra"
    # A column named pk pushes the key attribute aside.
    assert events.pk == KeySpec("_pk", ("tenant", "day"), "", "composite", "S")
    assert events.sk == KeySpec("sk", ("at",), "", "bytecomparable", "B")
    assert events.schema.clustering == (("at", "desc"),)
    assert [(ix.name, ix.partition_key, ix.cql_index) for ix in events.indexes] == [
        ("by_owner", "owner", "by_owner"), ("events_ix", "day", "ix")]
    notes = result.notes[("ks", "events")]
    assert any("by_payload" in n and "collection" in n for n in notes)
    assert any("by_ok" in n and "BOOL" in n for n in notes)
    assert any("sasi" in n for n in notes)
    assert hits.cql_name == 'ks."Hits"' and hits.dynamodb_table == "dev-ks.Hits" and hits.write_condition == "none"
    assert list(users.schema.udts) == ["address", "point"]
    m = build_mapping(result.tables)
    assert loads_mapping(dump_mapping(m, result.notes)) == m
    assert "  # by_payload" not in dump_mapping(m) and "index by_payload" in dump_mapping(m, result.notes)


# ---------------------------------------------------------------------------------------------
# Provisioning plan (no client)
# ---------------------------------------------------------------------------------------------


def test_table_definitions_merge_shared_tables():
    m = load_mapping(EXAMPLE)
    defs = {d.name: d for d in table_definitions(m)}
    shop = defs["shop"]
    assert shop.sources == ("shop.carts", "shop.cart_items")
    req = shop.create_request()
    assert req["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert req["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "B"},
        {"AttributeName": "owner", "AttributeType": "S"}, {"AttributeName": "created_at", "AttributeType": "N"}]
    assert req["BillingMode"] == "PAY_PER_REQUEST"
    assert req["GlobalSecondaryIndexes"] == [{
        "IndexName": "by_owner",
        "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "created_at", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"}}]
    assert "GlobalSecondaryIndexes" not in defs["shop_product_views"].create_request()
    actions = plan(m)
    assert [type(a) for a in actions] == [CreateTable, EnableTtl] * 3
    assert actions[1].describe() == "enable TTL on shop (attribute _ttl)"
    assert actions[0].describe().startswith("create table shop (pk S HASH, sk B RANGE; on-demand) for shop.carts, ")


def test_include_projection_carries_ttl_and_timestamp():
    m = load_mapping(EXAMPLE)
    tm = m.table("shop", "carts")
    assert tm is not None
    tm = dataclasses.replace(tm, indexes=(IndexSpec("by_owner", "owner", None, "INCLUDE", ("status",)),))
    m = dataclasses.replace(m, tables={("shop", "carts"): tm})
    (d,) = table_definitions(m)
    assert d.gsis[0].to_api()["Projection"] == {"ProjectionType": "INCLUDE",
                                                "NonKeyAttributes": ["status", "_ttl", "_ts"]}


def test_static_columns_need_the_bytecomparable_sort_key() -> None:
    """The static row is stored under a sort key no clustering value can take: a plain key (the
    value itself) has none, so tables with static columns get the byte-comparable encoding, and
    asking for plain says why."""
    import pytest

    from translators.mapping import MappingError, loads_mapping

    text = """
version: 1
tables:
  - cql: ks.t
    dynamodb_table: ks_t
    {sort_key}
    schema:
      columns: {{p: int, c: int, s: text, v: text}}
      partition_key: [p]
      clustering: [c]
      static: [s]
"""
    tm = loads_mapping(text.format(sort_key="")).table("ks", "t")
    assert tm is not None and tm.sk is not None and tm.sk.encoding == "bytecomparable"
    with pytest.raises(MappingError, match="the table has static columns"):
        loads_mapping(text.format(sort_key="sort_key: {attribute: sk, encoding: plain}"))
