"""Both stores as the integration tests see them: a keyspace made in Cassandra and mapped with the
real CLI (`mapping init`, `tables create`), DynamoDB items read with boto3, and the comparison
helper the validator uses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import ROOT
from translators.compare import compare, with_static_rows
from translators.driver_values import row_from_driver
from translators.mapping import Mapping, TableMapping, load_mapping

from .drivers import session_for

AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or AWS_ENV)}, timeout=timeout)


def ddb(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def recreate_keyspace(cassandra: tuple[str, int], ks: str, statements: Sequence[str]) -> None:
    cluster, s = session_for(*cassandra, version=4)
    try:
        s.execute(f"DROP KEYSPACE IF EXISTS {ks}")
        s.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
        for stmt in statements:
            s.execute(stmt)
    finally:
        cluster.shutdown()


@contextmanager
def mapped_keyspace(cassandra: tuple[str, int], endpoint: str, ks: str, statements: Sequence[str], tmp: Path,
                    prefix: str, edit: Callable[[str], str] | None = None) -> Iterator[tuple[Path, Mapping]]:
    """The keyspace created afresh, its mapping from `mapping init` (changed by `edit`), its
    DynamoDB tables from `tables create`; the tables are deleted afterwards."""
    recreate_keyspace(cassandra, ks, statements)
    mapping = tmp / "mapping.yaml"
    r = cli("mapping", "init", "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--keyspace", ks,
            "--table-prefix", f"{prefix}{uuid.uuid4().hex[:6]}_", "-o", str(mapping))
    assert r.returncode == 0, r.stderr
    if edit is not None:
        mapping.write_text(edit(mapping.read_text()))
    r = cli("tables", "create", "--mapping", str(mapping), "--endpoint-url", endpoint, "--region", "us-east-1")
    assert r.returncode == 0, r.stdout + r.stderr
    m = load_mapping(mapping)
    try:
        yield mapping, m
    finally:
        client = ddb(endpoint)
        for tm in m.tables.values():
            client.delete_table(TableName=tm.dynamodb_table)


def with_token_index(text: str) -> str:
    """A `mapping init` mapping edited to map every table with `token_index: true`."""
    return re.sub(r"^(\s+)dynamodb_table: (.*)$", r"\1dynamodb_table: \2\n\1token_index: true", text, flags=re.M)


def scan_items(endpoint: str, table: str) -> list[dict[str, Any]]:
    client = ddb(endpoint)
    items: list[dict[str, Any]] = []
    start = None
    while True:
        kw: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        if start:
            kw["ExclusiveStartKey"] = start
        page = client.scan(**kw)
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def cassandra_rows(cassandra: tuple[str, int], tm: TableMapping, where: str = "") -> list[dict[str, Any]]:
    cluster, s = session_for(*cassandra, version=4)
    try:
        return [row_from_driver(dict(tm.schema.columns), r)
                for r in s.execute(f"SELECT * FROM {tm.cql_name} {where}")]
    finally:
        cluster.shutdown()


def assert_stores_equal(cassandra: tuple[str, int], endpoint: str, tm: TableMapping) -> int:
    """DynamoDB holds exactly Cassandra's rows (translators.compare); returns how many rows
    compare saw (a partition's static values count as a row of their own)."""
    rows = with_static_rows(tm, cassandra_rows(cassandra, tm))
    diffs = compare(tm, rows, scan_items(endpoint, tm.dynamodb_table))
    assert not diffs, f"{tm.cql_name}:\n" + "\n".join(map(str, diffs[:20]))
    return len(rows)
