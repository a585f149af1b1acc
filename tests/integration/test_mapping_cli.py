"""`mapping init|check` and `tables create` against the real Cassandra and DynamoDB Local."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cassandra.cluster import Cluster

from translators.mapping import IndexSpec, dump_mapping, load_mapping

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KS = "cdp_map"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}

SCHEMA = [
    f"CREATE TYPE {KS}.address (street text, city text, zip int)",
    f"CREATE TABLE {KS}.single_pk (id uuid PRIMARY KEY, name text, age int)",
    f"CREATE TABLE {KS}.composite_pk (tenant text, day date, v text, PRIMARY KEY ((tenant, day)))",
    f"CREATE TABLE {KS}.clustering_asc (k text, seq int, v text, PRIMARY KEY (k, seq))",
    f"CREATE TABLE {KS}.clustering_desc (k text, at timestamp, v text, PRIMARY KEY (k, at)) "
    "WITH CLUSTERING ORDER BY (at DESC)",
    f"CREATE TABLE {KS}.multi_clustering (k int, a text, b int, v text, PRIMARY KEY (k, a, b))",
    f"CREATE TABLE {KS}.collections (id int PRIMARY KEY, tags set<text>, nums set<int>, scores list<int>, "
    "attrs map<text, int>, pair frozen<tuple<int, text>>)",
    f"CREATE TABLE {KS}.users (id uuid PRIMARY KEY, home frozen<address>, others list<frozen<address>>)",
    f"CREATE TABLE {KS}.indexed (id int PRIMARY KEY, owner text, score int, tags set<text>)",
    f"CREATE INDEX by_owner ON {KS}.indexed (owner)",
    f"CREATE INDEX by_tags ON {KS}.indexed (values(tags))",
    f"CREATE INDEX by_score ON {KS}.indexed (score) USING 'sai'",
    f"CREATE TABLE {KS}.counters (id text PRIMARY KEY, hits counter, misses counter)",
    f'CREATE TABLE {KS}."Statics" (k int, c int, s text static, v text, PRIMARY KEY (k, c))',
]

# table -> (partition key type, sort key (encoding, type) or None)
EXPECTED_KEYS: dict[str, tuple[str, tuple[str, str] | None]] = {
    "single_pk": ("S", None),
    "composite_pk": ("S", None),
    "clustering_asc": ("S", ("plain", "N")),
    "clustering_desc": ("S", ("bytecomparable", "B")),
    "multi_clustering": ("N", ("bytecomparable", "B")),
    "collections": ("N", None),
    "users": ("S", None),
    "indexed": ("N", None),
    "counters": ("S", None),
    "Statics": ("N", ("bytecomparable", "B")),  # the static row needs a key no clustering value takes
}


@pytest.fixture(scope="module")
def dynamodb(backends: Any) -> str:
    backends.ensure("dynamodb")
    return f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}"


@pytest.fixture(scope="module")
def keyspace(cassandra: tuple[str, int]) -> Iterator[str]:
    cluster = Cluster([cassandra[0]], port=cassandra[1])
    session = cluster.connect()
    session.execute(f"DROP KEYSPACE IF EXISTS {KS}", timeout=60)
    session.execute(f"CREATE KEYSPACE {KS} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    for stmt in SCHEMA:
        session.execute(stmt, timeout=60)
    yield KS
    session.execute(f"DROP KEYSPACE IF EXISTS {KS}", timeout=60)
    cluster.shutdown()


@pytest.fixture(scope="module")
def ddb(dynamodb: str) -> Iterator[tuple[Any, str]]:
    """A client and a table-name prefix unique to this run; the prefix's tables are deleted at the end."""
    client = boto3.client("dynamodb", endpoint_url=dynamodb, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    yield client, prefix
    for name in _tables(client, prefix):
        client.delete_table(TableName=name)


def _tables(client: Any, prefix: str) -> list[str]:
    names: list[str] = []
    for page in client.get_paginator("list_tables").paginate():
        names += [n for n in page["TableNames"] if n.startswith(prefix)]
    return names


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env={**os.environ, **AWS_ENV})


@pytest.fixture(scope="module")
def mapping_file(keyspace: str, cassandra: tuple[str, int], dynamodb: str, ddb: tuple[Any, str],
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mapping") / "mapping.yaml"
    r = cli("mapping", "init", "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--keyspace", keyspace,
            "--table-prefix", ddb[1], "--region", "us-east-1", "--endpoint-url", dynamodb, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}: {len(EXPECTED_KEYS)} tables" in r.stderr
    return out


def test_init_maps_every_table_with_the_key_rules(mapping_file, ddb):
    _, prefix = ddb
    m = load_mapping(mapping_file)
    assert m.region == "us-east-1" and m.endpoint and m.endpoint.startswith("http://127.0.0.1:")
    assert {t for _, t in m.tables} == set(EXPECTED_KEYS)
    for table, (pk_type, sk) in EXPECTED_KEYS.items():
        tm = m.table(KS, table)
        assert tm is not None
        assert tm.dynamodb_table == f"{prefix}{KS}.{table}"
        assert tm.phase == "cassandra"
        assert tm.pk.dynamodb_type == pk_type, table
        assert ((tm.sk.encoding, tm.sk.dynamodb_type) if tm.sk else None) == sk, table
    composite = m.table(KS, "composite_pk")
    assert composite is not None and composite.pk.encoding == "composite"
    assert composite.pk.columns == ("tenant", "day")
    desc = m.table(KS, "clustering_desc")
    assert desc is not None and desc.schema.clustering == (("at", "desc"),)
    statics = m.table(KS, "Statics")
    assert statics is not None and statics.schema.static == frozenset({"s"})
    assert list(statics.schema.columns) == ["k", "c", "s", "v"]
    users = m.table(KS, "users")
    assert users is not None and list(users.schema.udts) == ["address"]
    assert users.attribute_type("home") == "M" and users.attribute_type("others") == "L"
    coll = m.table(KS, "collections")
    assert coll is not None
    assert [coll.attribute_type(c) for c in ("tags", "nums", "scores", "attrs", "pair")] == ["SS", "NS", "L", "M", "L"]
    indexed = m.table(KS, "indexed")
    assert indexed is not None
    assert [(ix.name, ix.partition_key, ix.projection) for ix in indexed.indexes] == [
        ("by_owner", "owner", "ALL"), ("by_score", "score", "ALL")]
    counters = m.table(KS, "counters")
    assert counters is not None and counters.write_condition == "none"
    text = mapping_file.read_text()
    assert "# index by_tags on values(tags) skipped" in text
    assert "cql: cdp_map.\"Statics\"" in text


def test_init_refuses_to_overwrite_without_force(mapping_file, cassandra):
    before = mapping_file.read_text()
    args = ["mapping", "init", "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--table", f"{KS}.single_pk",
            "-o", str(mapping_file)]
    r = cli(*args)
    assert r.returncode == 2 and "exists; use --force" in r.stderr
    assert mapping_file.read_text() == before
    copy = mapping_file.with_name("single.yaml")
    r = cli(*args[:-1], str(copy))
    assert r.returncode == 0, r.stderr
    r = cli(*args[:-1], str(copy), "--force")
    assert r.returncode == 0, r.stderr
    assert list(load_mapping(copy).tables) == [(KS, "single_pk")]


def test_init_to_stdout_and_unknown_names(keyspace, cassandra):
    contact = f"{cassandra[0]}:{cassandra[1]}"
    r = cli("mapping", "init", "--cassandra", contact, "--table", f'{KS}."Statics"')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# cql-dynamo-proxy mapping") and 'cql: cdp_map."Statics"' in r.stdout
    r = cli("mapping", "init", "--cassandra", contact, "--keyspace", "no_such_ks")
    assert r.returncode == 2 and "keyspace no_such_ks does not exist" in r.stderr
    r = cli("mapping", "init", "--cassandra", contact, "--table", f"{KS}.nope")
    assert r.returncode == 2 and "table cdp_map.nope does not exist" in r.stderr
    r = cli("mapping", "init", "--cassandra", contact, "--keyspace", "system")
    assert r.returncode == 2 and "system keyspace" in r.stderr


def test_check_prints_the_key_layout(mapping_file):
    r = cli("mapping", "check", str(mapping_file))
    assert r.returncode == 0, r.stderr
    assert f"{mapping_file}: valid (version 1), {len(EXPECTED_KEYS)} CQL tables" in r.stdout
    assert "sort key sk (B) = bytecomparable(at desc)" in r.stdout
    assert "index by_score: score (N), projection ALL" in r.stdout


def test_dry_run_prints_the_plan_and_creates_nothing(mapping_file, ddb):
    client, prefix = ddb
    r = cli("tables", "create", "--mapping", str(mapping_file), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"plan for {mapping_file}: {2 * len(EXPECTED_KEYS)} change(s)" in r.stdout
    assert f"+ create table {prefix}{KS}.indexed (pk N HASH; on-demand)" in r.stdout
    assert "dry run: nothing was changed" in r.stdout
    assert _tables(client, prefix) == []


def test_create_then_again_is_a_no_op(mapping_file, ddb):
    client, prefix = ddb
    r = cli("tables", "create", "--mapping", str(mapping_file))
    assert r.returncode == 0, r.stderr
    assert f"done: {2 * len(EXPECTED_KEYS)} change(s) applied" in r.stdout
    assert sorted(_tables(client, prefix)) == sorted(f"{prefix}{KS}.{t}" for t in EXPECTED_KEYS)
    for table, (pk_type, sk) in EXPECTED_KEYS.items():
        name = f"{prefix}{KS}.{table}"
        desc = client.describe_table(TableName=name)["Table"]
        assert desc["TableStatus"] == "ACTIVE"
        assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
        keys = [(k["AttributeName"], k["KeyType"]) for k in desc["KeySchema"]]
        assert keys == [("pk", "HASH"), *([("sk", "RANGE")] if sk else [])], table
        assert types["pk"] == pk_type and (sk is None or types["sk"] == sk[1]), table
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "_ttl"}, table
    desc = client.describe_table(TableName=f"{prefix}{KS}.indexed")["Table"]
    gsis = {g["IndexName"]: g for g in desc["GlobalSecondaryIndexes"]}
    assert set(gsis) == {"by_owner", "by_score"}
    assert gsis["by_owner"]["KeySchema"] == [{"AttributeName": "owner", "KeyType": "HASH"}]
    assert gsis["by_owner"]["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
    assert types == {"pk": "N", "owner": "S", "score": "N"}

    r = cli("tables", "create", "--mapping", str(mapping_file))
    assert r.returncode == 0, r.stderr
    assert "0 change(s)" in r.stdout and "nothing to do" in r.stdout
    assert f"= table {prefix}{KS}.indexed exists with keys (pk N HASH): ok, nothing to do" in r.stdout
    # Dropped now rather than at the end: DynamoDB Local stops building added indexes (for every
    # client of the shared server) while 6 or more tables have TTL enabled.
    for name in _tables(client, prefix):
        client.delete_table(TableName=name)


def _ttl_tables(client: Any) -> int:
    n = 0
    for page in client.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            try:
                ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            except client.exceptions.ResourceNotFoundException:
                continue
            n += ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    return n


def test_a_new_index_is_added_to_the_existing_table(ddb, tmp_path, dynamodb):
    client, prefix = ddb
    name = f"{prefix}gsi"
    f = tmp_path / "one.yaml"
    f.write_text(f"""\
version: 1
dynamodb: {{region: us-east-1, endpoint: "{dynamodb}"}}
tables:
  - cql: a.events
    dynamodb_table: {name}
    schema: {{columns: {{k: text, seq: int, v: text}}, partition_key: [k], clustering: [seq]}}
""")
    assert cli("tables", "create", "--mapping", str(f)).returncode == 0
    m = load_mapping(f)
    tm = m.table("a", "events")
    assert tm is not None
    tm = dataclasses.replace(tm, indexes=(IndexSpec("by_v", "v", "seq", "INCLUDE", ("k",)),))
    edited = tmp_path / "edited.yaml"
    edited.write_text(dump_mapping(dataclasses.replace(m, tables={("a", "events"): tm})))
    r = cli("tables", "create", "--mapping", str(edited), "--timeout", "60")
    if r.returncode == 1 and "CREATING" in r.stderr and _ttl_tables(client) >= 6:
        pytest.skip("DynamoDB Local does not build added indexes while 6 or more tables have TTL enabled")
    assert r.returncode == 0, r.stderr
    assert f"plan for {edited}: 1 change(s)" in r.stdout
    assert f"+ add GSI by_v (v S HASH, seq N RANGE; projection INCLUDE [k, _ttl, _ts]) to {name}" in r.stdout
    desc = client.describe_table(TableName=name)["Table"]
    (gsi,) = desc["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by_v" and gsi["IndexStatus"] == "ACTIVE"
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["k", "_ttl", "_ts"]}
    assert {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]} == {
        "pk": "S", "sk": "N", "v": "S", "seq": "N"}
    again = cli("tables", "create", "--mapping", str(edited))
    assert again.returncode == 0 and "+ " not in again.stdout


def test_conflicting_keys_fail_before_any_change(ddb, tmp_path, dynamodb):
    client, prefix = ddb
    taken = f"{prefix}taken"
    client.create_table(TableName=taken, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                        BillingMode="PAY_PER_REQUEST")
    f = tmp_path / "conflict.yaml"
    f.write_text(f"""\
version: 1
dynamodb: {{region: us-east-1, endpoint: "{dynamodb}"}}
tables:
  - cql: a.fresh
    dynamodb_table: {prefix}fresh
    schema: {{columns: {{k: text}}, partition_key: [k]}}
  - cql: a.clash
    dynamodb_table: {taken}
    schema: {{columns: {{k: text}}, partition_key: [k]}}
""")
    r = cli("tables", "create", "--mapping", str(f))
    assert r.returncode == 1
    assert f"table {taken} exists with keys (id N HASH) but the mapping needs (pk S HASH); nothing was changed" \
        in r.stderr
    assert f"{prefix}fresh" not in _tables(client, prefix)
    ttl = client.describe_time_to_live(TableName=taken)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_malformed_mapping_exits_2_with_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("version: 1\ntables:\n  - cql: a.b\n    phase: dual-write\n    schema: {columns: {k: int}, "
                 "partition_key: [k]}\n")
    for args in (["mapping", "check", str(f)], ["tables", "create", "--mapping", str(f), "--dry-run"]):
        r = cli(*args)
        assert r.returncode == 2
        assert r.stderr.strip() == (f"{f}:4: tables[0].phase: 'dual-write' is not one of cassandra, dual_write, "
                                    "verify, dynamo_fallback, dynamo")
    r = cli("mapping", "check", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "cannot read" in r.stderr
