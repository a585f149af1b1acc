"""The assessment against the real stores: a known workload through a sidecar in phase
`cassandra`, its report (admin endpoint, metrics, the `assess` command), then the same writes
through a sidecar in `dual_write` and DynamoDB's own ReturnConsumedCapacity for the same items and
reads: the units the report projected must be what DynamoDB charges."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from cassandra import InvalidRequest

from tests.conftest import start_sidecar
from translators.assess.serving import reason_key

from .drivers import session_for
from .stores import AWS_ENV, cli, ddb, mapped_keyspace

pytestmark = pytest.mark.integration

KS = "as_assess"
TABLE = f"{KS}.events"
SCHEMA = [f"CREATE TABLE {TABLE} (pk text, ck int, payload text, n int, PRIMARY KEY (pk, ck))"]
ROWS = [(f"p{i % 3}", i, "x" * (150 + 397 * i), i) for i in range(24)]  # items from 0.2 KB to 9.4 KB
BIG = ("big", 0, "y" * 500_000, 0)
INSERT = f"INSERT INTO {TABLE} (pk, ck, payload, n) VALUES (?, ?, ?, ?)"
GET = f"SELECT * FROM {TABLE} WHERE pk = ? AND ck = ?"
QUERY = f"SELECT * FROM {TABLE} WHERE pk = ?"


def _admin(sc: Any, path: str) -> Any:
    req = urllib.request.Request(sc.admin_url + path, headers={"Authorization": f"Bearer {sc.token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read().decode()
    return json.loads(body) if path != "/metrics" else body


def _shape(table: dict[str, Any], text: str) -> dict[str, Any]:
    found = [s for s in table["shapes"] if s["shape"] == text]
    assert len(found) == 1, (text, [s["shape"] for s in table["shapes"]])
    return found[0]


def _close(ours: float, theirs: float, what: str) -> None:
    assert theirs > 0, what
    assert abs(ours - theirs) <= 0.05 * theirs, f"{what}: the report says {ours}, DynamoDB charged {theirs}"


@pytest.fixture(scope="module")
def keyspace(cassandra, dynamodb, tmp_path_factory):
    with mapped_keyspace(cassandra, dynamodb, KS, SCHEMA, tmp_path_factory.mktemp("as"), "as_") as (mapping, m):
        yield mapping, m.table(KS, "events")


def test_report_units_match_what_dynamodb_charges(cassandra, dynamodb, keyspace, tmp_path):
    mapping, tm = keyspace
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       "--assess-sample", "100", env=AWS_ENV)
    try:
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            ins, get, query = s.prepare(INSERT), s.prepare(GET), s.prepare(QUERY)
            for row in ROWS:
                s.execute(ins, row)
            for pk, ck, _, _ in ROWS[::2]:
                assert len(list(s.execute(get, (pk, ck)))) == 1
            for p in ("p0", "p1", "p2"):
                assert len(list(s.execute(query, (p,)))) == 8
            assert len(list(s.execute(f"SELECT * FROM {TABLE}"))) == 24  # a full scan
            s.execute(f"SELECT JSON * FROM {TABLE} WHERE pk = 'p0'")  # Cassandra serves it; DynamoDB would refuse
            s.execute(ins, BIG)  # fine for Cassandra, over DynamoDB's 400 KB item limit
        finally:
            cluster.shutdown()
        doc = _admin(sc, "/assess")
        with pytest.raises(urllib.error.HTTPError) as no_token:
            urllib.request.urlopen(sc.admin_url + "/assess", timeout=10)
        assert no_token.value.code == 401
        metrics = _admin(sc, "/metrics")
        token_file = tmp_path / "token"
        token_file.write_text(sc.token)
        text = cli("assess", "--admin", sc.admin_url, "--token-file", str(token_file))
        as_json = cli("assess", "--admin", sc.admin_url, "--token-file", str(token_file), "--json",
                      "--cassandra", f"{cassandra[0]}:{cassandra[1]}")
    finally:
        sc.stop()

    t = next(x for x in doc["report"]["tables"] if x["table"] == TABLE)
    inserts = _shape(t, f"insert into {TABLE} (pk, ck, payload, n) values (?)")
    gets = _shape(t, f"select * from {TABLE} where pk = ? and ck = ?")
    queries = _shape(t, f"select * from {TABLE} where pk = ?")
    scans = _shape(t, f"select * from {TABLE}")
    refused = _shape(t, f"select json * from {TABLE} where pk = ?")
    assert (inserts["count"], gets["count"], queries["count"], scans["count"], refused["count"]) == (25, 12, 3, 1, 1)
    assert (gets["served"], queries["served"], scans["served"]) == ("GetItem", "Query", "Scan with filter")
    assert inserts["served_as"] == {"GetItem + versioned PutItem": 24, "refused": 1}
    assert refused["served"] == "refused" and refused["refused"] == [[f"{TABLE}: SELECT JSON is not translated", 1]]
    # blockers first: the refused shapes, then the scan; the big item among them
    kinds = [b["kind"] for b in t["blockers"]]
    assert kinds[:3] == ["refused", "refused", "scan"] and "large_items" in kinds, t["blockers"]
    assert {t["shapes"][0]["shape"], t["shapes"][1]["shape"]} == {inserts["shape"], refused["shape"]}
    assert t["shapes"][2]["shape"] == scans["shape"]
    assert t["items"]["over_limit"] == 1 and t["items"]["needs_s3"] == 0 and t["items"]["max"] > 500_000
    assert t["cost"]["on_demand"]["total"] > 0 and t["cost"]["provisioned"]["wcu"] >= 1

    # the same writes where DynamoDB takes them: the big one is refused with the reason the report gave
    dw = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       "--phases", f"{TABLE}=dual_write", env=AWS_ENV)
    try:
        cluster, s = session_for(dw.host, dw.port, version=4)
        try:
            ins = s.prepare(INSERT)
            for row in ROWS:
                s.execute(ins, row)
            with pytest.raises(InvalidRequest) as refusal:
                s.execute(ins, BIG)
        finally:
            cluster.shutdown()
    finally:
        dw.stop()
    big_reason = next(m for m, _ in inserts["refused"])
    assert reason_key(big_reason) == reason_key(refusal.value.args[0].split("message=\"", 1)[-1].rstrip('"}'))

    client = ddb(dynamodb)
    name = tm.dynamodb_table
    got = {}
    read_units = write_units = 0.0
    for pk, ck, _, _ in ROWS:
        key = _key(client, name, tm, pk, ck)
        r = client.get_item(TableName=name, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
        got[(pk, ck)] = r["ConsumedCapacity"]["CapacityUnits"]
        read_units += r["ConsumedCapacity"]["CapacityUnits"]
        w = client.put_item(TableName=name, Item=r["Item"], ReturnConsumedCapacity="TOTAL")
        write_units += w["ConsumedCapacity"]["CapacityUnits"]
    # each write: the read of the item it merges into, then its put
    _close(inserts["wcu"], write_units, "write units of the inserts")
    _close(inserts["rcu"], read_units, "read units of the inserts' item reads")
    _close(gets["rcu"], sum(got[(pk, ck)] for pk, ck, _, _ in ROWS[::2]), "GetItem read units")
    q_units = sum(client.query(TableName=name, KeyConditionExpression="#p = :p", ConsistentRead=True,
                               ExpressionAttributeNames={"#p": tm.pk.attribute},
                               ExpressionAttributeValues={":p": {"S": p}},
                               ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]["CapacityUnits"]
                  for p in ("p0", "p1", "p2"))
    _close(queries["rcu"], q_units, "Query read units")
    scan = client.scan(TableName=name, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    _close(scans["rcu"], scan["ConsumedCapacity"]["CapacityUnits"], "Scan read units")

    # the same report from the other surfaces
    assert re.search(rf'cdp_assess_requests_total\{{shape="[0-9a-f]+",table="{TABLE}"\}} 25\.0', metrics), metrics
    assert re.search(rf'cdp_assess_refused_requests_total\{{table="{TABLE}"\}} 2\.0', metrics)
    assert as_json.returncode == 0, as_json.stderr
    cli_table = next(x for x in json.loads(as_json.stdout)["tables"] if x["table"] == TABLE)
    assert cli_table["shapes"] == t["shapes"] and cli_table["blockers"] == t["blockers"]
    assert isinstance(cli_table["storage_bytes"], int)  # Cassandra's estimate (0 until it has computed one)
    assert text.returncode == 0, text.stderr
    assert f"== {TABLE}" in text.stdout and "SELECT JSON is not translated" in text.stdout
    (tmp_path / "report.txt").write_text(text.stdout)


def _key(client: Any, name: str, tm: Any, pk: str, ck: int) -> dict[str, Any]:
    """The item key of a row as the sidecar wrote it (the sort key is encoded by the mapping)."""
    for item in client.query(TableName=name, KeyConditionExpression="#p = :p", ConsistentRead=True,
                             ExpressionAttributeNames={"#p": tm.pk.attribute},
                             ExpressionAttributeValues={":p": {"S": pk}})["Items"]:
        if item.get(tm.attribute_name("ck"), {}).get("N") == str(ck):
            return {tm.pk.attribute: item[tm.pk.attribute], tm.sk.attribute: item[tm.sk.attribute]}
    raise AssertionError(f"no item for {pk}/{ck}")


def test_assess_command_errors(tmp_path):
    bad = cli("assess", "--admin", "ftp://x")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--admin" in bad.stderr
    from tests.conftest import free_port

    gone = cli("assess", "--admin", f"127.0.0.1:{free_port()}", "--token", "t")
    assert gone.returncode == 3 and "cannot reach" in gone.stderr and gone.stderr.count("\n") == 1
    prices = tmp_path / "p.yaml"
    prices.write_text("region: x\n")
    wrong = cli("assess", "--prices", str(prices), "--token", "t")
    assert wrong.returncode == 2 and "--prices" in wrong.stderr
