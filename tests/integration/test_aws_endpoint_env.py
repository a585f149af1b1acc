"""AWS_ENDPOINT_URL_DYNAMODB as the only word on where DynamoDB is: no endpoint in the mapping or on
any command line. `tables create` (boto3), `backfill`, `serve` and `validate` (the project's own
client) must all reach the same DynamoDB Local, which the tables and items found there prove."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_sidecar
from translators.mapping import Mapping, load_mapping

from .drivers import session_for
from .stores import cli, ddb, recreate_keyspace, scan_items

pytestmark = pytest.mark.integration

KS = "aws_endpoint_env"
ROWS = 20
SCHEMA = [f"CREATE TABLE {KS}.t (k int PRIMARY KEY, v text)",
          *(f"INSERT INTO {KS}.t (k, v) VALUES ({i}, 'row {i}')" for i in range(ROWS))]


@pytest.fixture(scope="module")
def aws_env(dynamodb: str) -> dict[str, str]:
    assert not {"AWS_ENDPOINT_URL", "AWS_PROFILE"} & set(os.environ), "the test's own setup must decide"
    # dummy keys and a region; the endpoint only in the service's variable (the global one would
    # send S3 and STS there too)
    return {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb}


@pytest.fixture(scope="module")
def mapped(cassandra: tuple[str, int], dynamodb: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Path, Mapping]]:
    recreate_keyspace(cassandra, KS, SCHEMA)
    d = tmp_path_factory.mktemp("aws_endpoint_env")
    mapping = d / "mapping.yaml"
    r = cli("mapping", "init", "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--keyspace", KS,
            "--table-prefix", f"aws_env_{uuid.uuid4().hex[:6]}_", "-o", str(mapping))
    assert r.returncode == 0, r.stderr
    mapping.write_text(mapping.read_text().replace("phase: cassandra", "phase: dual_write"))
    m = load_mapping(mapping)
    assert m.endpoint is None and m.region is None  # nothing but the environment says where
    yield mapping, m
    client = ddb(dynamodb)
    for tm in m.tables.values():
        if tm.dynamodb_table in client.list_tables()["TableNames"]:
            client.delete_table(TableName=tm.dynamodb_table)
    cluster, s = session_for(*cassandra, version=4)
    try:
        s.execute(f"DROP KEYSPACE IF EXISTS {KS}")
    finally:
        cluster.shutdown()


def test_every_command_reaches_the_endpoint_of_the_environment(
        cassandra: tuple[str, int], dynamodb: str, mapped: tuple[Path, Mapping], aws_env: dict[str, str],
        tmp_path: Path) -> None:
    mapping, m = mapped
    table = m.table(KS, "t")
    assert table is not None
    contact = f"{cassandra[0]}:{cassandra[1]}"

    r = cli("tables", "create", "--mapping", str(mapping), env=aws_env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert table.dynamodb_table in ddb(dynamodb).list_tables()["TableNames"]

    r = cli("backfill", "--mapping", str(mapping), "--cassandra", contact, "--table", f"{KS}.t", "--force",
            "--splits", "4", "--ledger", str(tmp_path / "ledger.jsonl"), env=aws_env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(scan_items(dynamodb, table.dynamodb_table)) == ROWS

    sidecar = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), env=aws_env)
    try:
        assert f"mirrored to DynamoDB at {dynamodb.rstrip('/')}/" in sidecar.log()
        cluster, s = session_for(sidecar.host, sidecar.port, version=4)
        try:
            s.execute(f"INSERT INTO {KS}.t (k, v) VALUES (%s, %s)", (ROWS, "through the sidecar"))
        finally:
            cluster.shutdown()
    finally:
        assert sidecar.stop() == 0, sidecar.log()
    items = scan_items(dynamodb, table.dynamodb_table)
    assert len(items) == ROWS + 1
    assert any(item.get("v") == {"S": "through the sidecar"} for item in items), items

    r = cli("validate", "--mapping", str(mapping), "--cassandra", contact, "--table", f"{KS}.t", "--splits", "4",
            "--report", str(tmp_path / "report.jsonl"), env=aws_env)
    assert r.returncode == 0, r.stdout + r.stderr
