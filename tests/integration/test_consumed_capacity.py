"""The capacity DynamoDB reports for a sidecar's calls, as the sidecar exports it: a known write
through a `dual_write` sidecar moves `cdp_dynamodb_consumed_capacity_units_total` by exactly what
DynamoDB tells boto3 for the same item."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .drivers import session_for
from .stores import AWS_ENV, ddb, mapped_keyspace

pytestmark = pytest.mark.integration

KS = "pb_capacity"
SERIES = "cdp_dynamodb_consumed_capacity_units_total"


def _scrape(sidecar) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    req = urllib.request.Request(f"{sidecar.admin_url}/metrics", headers={"Authorization": f"Bearer {sidecar.token}"})
    text = urllib.request.urlopen(req, timeout=5).read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _units(scraped, table: str, kind: str) -> float:
    return sum(v for (name, labels), v in scraped.items()
               if name == SERIES and ("table", table) in labels and ("kind", kind) in labels)


def _calls(scraped, operation: str) -> float:
    return scraped.get(("cdp_dynamodb_requests_total", frozenset({("operation", operation)})), 0.0)


@pytest.fixture(scope="module")
def setup(cassandra, dynamodb, tmp_path_factory):
    with mapped_keyspace(cassandra, dynamodb, KS, [f"CREATE TABLE {KS}.kv (k int PRIMARY KEY, v blob)"],
                         tmp_path_factory.mktemp("pbcap"), "pb_",
                         edit=lambda text: text.replace("phase: cassandra", "phase: dual_write")) as mapped:
        yield mapped


def test_a_mirrored_write_counts_what_dynamodb_charges_for_the_item(setup, cassandra, dynamodb, tmp_path):
    from tests.conftest import start_sidecar

    mapping, m = setup
    table = m.table(KS, "kv").dynamodb_table
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       env=AWS_ENV)
    try:
        before = _scrape(sc)
        assert _units(before, table, "write") == 0 and _units(before, table, "read") == 0
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            # 2.5 KiB: several write units, one consistent read unit
            s.execute(s.prepare(f"INSERT INTO {KS}.kv (k, v) VALUES (?, ?)"), (7, b"\x01" * 2500))
        finally:
            cluster.shutdown()
        after = _scrape(sc)
    finally:
        sc.stop()
    boto = ddb(dynamodb)
    stored = boto.scan(TableName=table, ConsistentRead=True)["Items"]
    assert len(stored) == 1, stored
    item = stored[0]
    key = {a["AttributeName"]: item[a["AttributeName"]]
           for a in boto.describe_table(TableName=table)["Table"]["KeySchema"]}
    # the same item written again, and read back consistently, by boto3: what DynamoDB charges for it
    write = boto.put_item(TableName=table, Item=item, ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    read = boto.get_item(TableName=table, Key=key, ConsistentRead=True,
                         ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    assert write["CapacityUnits"] >= 3
    assert _units(after, table, "write") == write["CapacityUnits"]
    # a read before the write (if the mirror makes one) is charged like any consistent read of the key
    gets = _calls(after, "GetItem") - _calls(before, "GetItem")
    assert _units(after, table, "read") == gets * read["CapacityUnits"], (gets, read)
