"""`backfill` and `validate` against the real Cassandra and DynamoDB Local: history copied with its
timestamps, equality proven range by range, a live workload through a dual_write sidecar during the
copy, a killed run resumed from its ledger, corruption found exactly and repaired."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.util import Duration

from tests.conftest import ROOT, start_sidecar
from translators.item_codec import key_item
from translators.mapping import load_mapping

from .drivers import session_for

pytestmark = pytest.mark.integration

KS = "bf_it"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
WIDE_ROWS = 3000


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **AWS_ENV}, timeout=timeout)


def _ddb(endpoint: str):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


@pytest.fixture(scope="module")
def dynamodb(backends) -> str:
    backends.ensure("dynamodb")
    return f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}"


SCHEMA = [
    f"CREATE TYPE {KS}.addr (street text, zip int)",
    f"""CREATE TABLE {KS}.alltypes (k int PRIMARY KEY, a ascii, b bigint, bl blob, bo boolean, da date,
        de decimal, do double, du duration, f float, i inet, si smallint, te text, ti time, ts timestamp,
        tu timeuuid, tiny tinyint, u uuid, vi varint, ad frozen<addr>, tup frozen<tuple<int, text>>,
        ve vector<float, 3>, fl frozen<list<int>>, tags set<text>, attrs map<text, int>, trail list<int>,
        nums set<int>)""",
    f"""CREATE TABLE {KS}.wide (p text, c int, s text static, v text, n int, PRIMARY KEY (p, c))
        WITH CLUSTERING ORDER BY (c DESC)""",
    f"CREATE TABLE {KS}.keyonly (p int, c int, PRIMARY KEY (p, c))",
    f"CREATE TABLE {KS}.live (id int PRIMARY KEY, v text, n int, tags set<int>, m map<text, text>)",
    f"CREATE TABLE {KS}.hits (id int PRIMARY KEY, n counter)",
    f"CREATE TABLE {KS}.resume (id int PRIMARY KEY, v text)",
    f"CREATE TABLE {KS}.sparky (id int, c int, v text, PRIMARY KEY (id, c))",
]


@pytest.fixture(scope="module")
def env(cassandra, dynamodb, tmp_path_factory):
    cluster, s = session_for(*cassandra, version=4)
    s.execute(f"DROP KEYSPACE IF EXISTS {KS}")
    s.execute(f"CREATE KEYSPACE {KS} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    for stmt in SCHEMA:
        s.execute(stmt)
    cluster.shutdown()
    d = tmp_path_factory.mktemp("bf")
    mapping = d / "mapping.yaml"
    r = _cli("mapping", "init", "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--keyspace", KS,
             "--table-prefix", f"bf{uuid.uuid4().hex[:6]}_", "-o", str(mapping))
    assert r.returncode == 0, r.stderr
    mapping.write_text(mapping.read_text().replace("phase: cassandra", "phase: dual_write")
                       .replace("endpoint: null", f"endpoint: {dynamodb}"))
    r = _cli("tables", "create", "--mapping", str(mapping), "--endpoint-url", dynamodb, "--region", "us-east-1")
    assert r.returncode == 0, r.stdout + r.stderr
    m = load_mapping(mapping)
    yield mapping, m, d
    ddb = _ddb(dynamodb)
    for tm in m.tables.values():
        ddb.delete_table(TableName=tm.dynamodb_table)
    cluster, s = session_for(*cassandra, version=4)
    s.execute(f"DROP KEYSPACE IF EXISTS {KS}")
    cluster.shutdown()


def _run(cmd: str, env, cassandra, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    mapping, _, d = env
    summary = d / f"summary-{uuid.uuid4().hex[:6]}.json"
    args = [cmd, "--mapping", str(mapping), "--cassandra", f"{cassandra[0]}:{cassandra[1]}",
            "--summary", str(summary), "--splits", "32", *extra]
    if cmd == "backfill" and "--ledger" not in extra:
        args += ["--ledger", str(d / f"ledger-{uuid.uuid4().hex[:6]}.jsonl")]
    if cmd == "validate" and "--report" not in extra:
        args += ["--report", str(d / f"report-{uuid.uuid4().hex[:6]}.jsonl")]
    r = _cli(*args)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return r, data


def _report(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip() and json.loads(x)["kind"] == "diff"]


def _preload(cassandra) -> None:
    cluster, s = session_for(*cassandra, version=4)
    try:
        ins = s.prepare(f"""INSERT INTO {KS}.alltypes (k, a, b, bl, bo, da, de, do, du, f, i, si, te, ti, ts, tu,
            tiny, u, vi, ad, tup, ve, fl, tags, attrs, trail, nums) VALUES
            (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""")
        for k in range(60):
            s.execute(ins, (k, f"a{k}", 2**40 + k, bytes([k]) * 3, k % 2 == 0, datetime.date(2024, 1, 1 + k % 28),
                            decimal.Decimal(f"{k}.125"), k / 7, Duration(1, 2, 3000 + k), 1.5 + k,
                            ipaddress.ip_address(f"10.0.0.{k}"), k, f"text {k} é", 3_600_000_000_000 + k,
                            datetime.datetime(2024, 5, 1, 12, 0, k % 60), uuid.uuid1(), k % 100, uuid.uuid4(),
                            10**30 + k, (f"s{k}", k), (k, "t"), [1.0, 2.0, float(k)],
                            [k, k + 1], {f"t{k}", "x"}, {"a": k, "b": -k}, [k, k * 2], {k, k + 100}))
        # collections grown by separate writes (element timestamps differ), prepends, TTLs, nulls
        s.execute(f"UPDATE {KS}.alltypes SET tags = tags + {{'late'}}, attrs['c'] = 3, trail = trail + [7] "
                  f"WHERE k = 1")
        s.execute(f"UPDATE {KS}.alltypes SET trail = [-1] + trail WHERE k = 2")
        s.execute(f"UPDATE {KS}.alltypes USING TTL 86400 SET te = 'ttl', tags = tags + {{'ttl'}} WHERE k = 3")
        s.execute(f"INSERT INTO {KS}.alltypes (k, te) VALUES (100, 'only text') USING TTL 86400")
        s.execute(f"INSERT INTO {KS}.alltypes (k) VALUES (101)")
        s.execute(f"UPDATE {KS}.alltypes SET te = 'update-made' WHERE k = 102")
        s.execute(f"DELETE te, attrs['a'] FROM {KS}.alltypes WHERE k = 4")
        wide = s.prepare(f"INSERT INTO {KS}.wide (p, c, v, n) VALUES (?, ?, ?, ?)")
        execute_concurrent_with_args(s, wide, [("big", c, f"v{c}", c) for c in range(WIDE_ROWS)], concurrency=64,
                                     raise_on_first_error=True)
        s.execute(f"INSERT INTO {KS}.wide (p, s) VALUES ('big', 'static of big')")
        s.execute(f"INSERT INTO {KS}.wide (p, s) VALUES ('static-only', 'alone')")
        for p in range(20):
            s.execute(wide, (f"p{p}", 1, "x", p))
        s.execute(f"UPDATE {KS}.wide USING TTL 86400 SET s = 'ttl static' WHERE p = 'p1'")
        ko = s.prepare(f"INSERT INTO {KS}.keyonly (p, c) VALUES (?, ?)")
        execute_concurrent_with_args(s, ko, [(p, c) for p in range(10) for c in range(5)], concurrency=32)
        for i in range(40):
            s.execute(f"UPDATE {KS}.hits SET n = n + {i + 1} WHERE id = {i}")
    finally:
        cluster.shutdown()


TABLES = ("alltypes", "wide", "keyonly", "hits")


@pytest.fixture(scope="module")
def loaded(env, cassandra):
    _preload(cassandra)
    r, summary = _run("backfill", env, cassandra, "--force", "--workers", "2", *TABLE_ARGS)
    return r, summary


TABLE_ARGS = [a for t in TABLES for a in ("--table", f"{KS}.{t}")]
EXPECTED = 60 + 3 + WIDE_ROWS + 1 + 20 + 50 + 40


def test_backfill_then_validate_is_clean(env, cassandra, loaded):
    r, summary = loaded
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary["rows_read"] == EXPECTED, summary
    assert summary["rows_written"] == EXPECTED + 2, summary
    assert "ranges" in r.stderr and "ETA" in r.stderr  # progress lines
    assert "OK" in r.stdout
    r, summary = _run("validate", env, cassandra, "--workers", "2", *TABLE_ARGS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary["differences"] == {}, summary
    assert summary["rows_read"] == EXPECTED
    # a second backfill finds everything already there: nothing is written again
    r, summary = _run("backfill", env, cassandra, "--force", *TABLE_ARGS)
    assert r.returncode == 0, r.stdout + r.stderr
    # (static rows of partitions that also have clustering rows are items of their own: 'big', 'p1')
    assert summary["rows_written"] == 0 and summary["rows_unchanged"] == EXPECTED + 2, summary


def test_corruption_is_found_exactly_and_repaired(env, cassandra, dynamodb, loaded):
    _, m, d = env
    ddb = _ddb(dynamodb)
    at, wide = m.table(KS, "alltypes"), m.table(KS, "wide")

    def get(tm, part, clus=()):
        return ddb.get_item(TableName=tm.dynamodb_table, Key=_boto_key(key_item(tm, part, clus)),
                            ConsistentRead=True)["Item"]

    # a value changed in place (its timestamp kept), an item deleted, extra items (a partition
    # Cassandra does not have, and a clustering row in a partition it does have)
    ddb.update_item(TableName=at.dynamodb_table, Key=_boto_key(key_item(at, (5,), ())),
                    UpdateExpression="SET te = :x", ExpressionAttributeValues={":x": {"S": "corrupt"}})
    ddb.delete_item(TableName=at.dynamodb_table, Key=_boto_key(key_item(at, (6,), ())))
    extra = get(at, (7,))
    extra.update(_boto_key(key_item(at, (999,), ())))
    extra["k"] = {"N": "999"}
    ddb.put_item(TableName=at.dynamodb_table, Item=extra)
    extra = get(wide, ("p3",), (1,))
    extra.update(_boto_key(key_item(wide, ("p3",), (77,))))
    extra["c"] = {"N": "77"}
    ddb.put_item(TableName=wide.dynamodb_table, Item=extra)

    report = d / "corrupt.jsonl"
    args = ["--table", f"{KS}.alltypes", "--table", f"{KS}.wide"]
    r, summary = _run("validate", env, cassandra, "--report", str(report), *args)
    assert r.returncode == 1, r.stdout + r.stderr
    found = sorted((x["type"], x["table"], tuple(x["key"])) for x in _report(report))
    assert found == [("EXTRA", f"{KS}.alltypes", (999,)), ("EXTRA", f"{KS}.wide", ("p3", 77)),
                     ("MISMATCH", f"{KS}.alltypes", (5,)), ("MISSING", f"{KS}.alltypes", (6,))], found
    mismatch = next(x for x in _report(report) if x["type"] == "MISMATCH")
    assert any("te: Cassandra 'text 5 é', DynamoDB 'corrupt'" in x for x in mismatch["details"]), mismatch

    repaired = d / "repaired.jsonl"
    r, summary = _run("validate", env, cassandra, "--report", str(repaired), "--repair", *args)
    assert r.returncode == 1, r.stdout + r.stderr
    assert summary["repaired"] == 4, summary
    assert all(x["repaired"] for x in _report(repaired))
    # only the ranges that had differences are compared again, and they are clean now
    again = d / "again.jsonl"
    r, summary = _run("validate", env, cassandra, "--report", str(again), "--rerun-failed", str(report), *args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary["ranges"]["total"] == len({(x["table"], x["range"]) for x in _report(report)}), summary
    r, summary = _run("validate", env, cassandra, *args)
    assert r.returncode == 0 and summary["differences"] == {}, r.stdout + r.stderr


def _boto_key(key: dict) -> dict:
    return {k: ({"B": bytes(v["B"])} if "B" in v else v) for k, v in key.items()}


def test_killed_backfill_resumes_from_its_ledger(env, cassandra):
    _, _, d = env
    cluster, s = session_for(*cassandra, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.resume (id, v) VALUES (?, ?)")
        execute_concurrent_with_args(s, ins, [(i, f"v{i}") for i in range(12000)], concurrency=64,
                                     raise_on_first_error=True)
    finally:
        cluster.shutdown()
    ledger = d / "resume-ledger.jsonl"
    args = [sys.executable, "-m", "proxy.cli", "backfill", "--mapping", str(env[0]), "--cassandra",
            f"{cassandra[0]}:{cassandra[1]}", "--table", f"{KS}.resume", "--force", "--ledger", str(ledger),
            "--splits", "64", "--concurrency", "2", "--rows-per-second", "3000", "--page-size", "200"]
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **AWS_ENV}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = ledger.read_text().count('"kind":"done"') if ledger.exists() else 0
        if done >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sum(1 for x in ledger.read_text().splitlines() if '"kind":"done"' in x)
    assert 10 <= done_before < 64, done_before
    r, summary = _run("backfill", env, cassandra, "--table", f"{KS}.resume", "--force", "--ledger", str(ledger),
                      "--splits", "64")
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary["ranges"]["done_earlier"] == done_before, summary
    assert summary["ranges"]["done"] + done_before == summary["ranges"]["total"], summary
    assert summary["rows_read"] < 12000, summary  # finished ranges (and pages) were not read again
    r, summary = _run("validate", env, cassandra, "--table", f"{KS}.resume")
    assert r.returncode == 0 and summary["differences"] == {} and summary["rows_read"] == 12000, r.stdout


class LiveWorkload:
    """Updates, deletes and collection changes through the sidecar to the keys being backfilled."""

    def __init__(self, host: str, port: int, keys: int) -> None:
        self.cluster, self.s = session_for(host, port, version=4)
        self.keys = keys
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.count = 0
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        import random

        s = self.s
        rnd = random.Random(7)
        stmts = [
            s.prepare(f"UPDATE {KS}.live SET v = ?, n = ? WHERE id = ?"),
            s.prepare(f"DELETE FROM {KS}.live WHERE id = ?"),
            s.prepare(f"INSERT INTO {KS}.live (id, v, n) VALUES (?, ?, ?)"),
            s.prepare(f"UPDATE {KS}.live SET tags = tags + ?, m['live'] = ? WHERE id = ?"),
            s.prepare(f"DELETE v, m['h'] FROM {KS}.live WHERE id = ?"),
        ]
        while not self.stop.is_set():
            k = rnd.randrange(self.keys)
            op = rnd.randrange(5)
            try:
                if op == 0:
                    s.execute(stmts[0], (f"upd{self.count}", self.count, k))
                elif op == 1:
                    s.execute(stmts[1], (k,))
                elif op == 2:
                    s.execute(stmts[2], (k, f"ins{self.count}", -self.count))
                elif op == 3:
                    s.execute(stmts[3], ({self.count}, str(self.count), k))
                else:
                    s.execute(stmts[4], (k,))
                self.count += 1
            except Exception as e:
                self.errors.append(repr(e))

    def __enter__(self) -> LiveWorkload:
        self.t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.t.join(30)
        self.cluster.shutdown()


def test_backfill_during_live_writes_through_a_dual_write_sidecar(env, cassandra, tmp_path):
    mapping = env[0]
    keys = 3000
    cluster, s = session_for(*cassandra, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.live (id, v, n, tags, m) VALUES (?, ?, ?, ?, ?)")
        execute_concurrent_with_args(s, ins, [(i, f"old{i}", i, {i, i + 1}, {"h": "x", "k": str(i)})
                                              for i in range(keys)], concurrency=64, raise_on_first_error=True)
    finally:
        cluster.shutdown()
    control = tmp_path / "control"
    # the gate: nobody reports to this control store yet
    r, _ = _run("backfill", env, cassandra, "--table", f"{KS}.live", "--control", f"file:{control}")
    assert r.returncode == 2 and "no sidecar reports" in r.stderr, r.stderr
    r, _ = _run("backfill", env, cassandra, "--table", f"{KS}.live")
    assert r.returncode == 2 and "--control" in r.stderr, r.stderr
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--control", f"file:{control}",
                       "--control-heartbeat-interval", "0.5", env=AWS_ENV)
    try:
        time.sleep(1.5)  # first heartbeat
        with LiveWorkload(sc.host, sc.port, keys) as wl:
            time.sleep(1.0)
            r, summary = _run("backfill", env, cassandra, "--table", f"{KS}.live", "--control", f"file:{control}",
                              "--rows-per-second", "1500", "--workers", "2")
            time.sleep(0.5)
        assert not wl.errors, wl.errors[:5]
        assert r.returncode == 0, r.stdout + r.stderr
        assert wl.count > 200, wl.count
        assert summary["rows_read"] >= keys * 0.7, summary
        r, summary = _run("validate", env, cassandra, "--table", f"{KS}.live")
        assert r.returncode == 0, r.stdout + r.stderr
        assert summary["differences"] == {}, summary
    finally:
        sc.stop()


def test_spark_job_local(env, cassandra):
    cluster, s = session_for(*cassandra, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.sparky (id, c, v) VALUES (?, ?, ?)")
        execute_concurrent_with_args(s, ins, [(i % 50, i, f"v{i}") for i in range(2000)], concurrency=64,
                                     raise_on_first_error=True)
    finally:
        cluster.shutdown()
    mapping, _, d = env
    common = ["--mapping", str(mapping), "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--table",
              f"{KS}.sparky", "--splits", "8"]
    spark_env = {**os.environ, **AWS_ENV, "CDP_SPARK_MASTER": "local[2]", "PYSPARK_PYTHON": sys.executable}
    for cmd, extra in (("backfill", ["--force", "--ledger", str(d / "spark-ledger.jsonl")]),
                       ("validate", ["--report", str(d / "spark-report.jsonl")])):
        summary = d / f"spark-{cmd}.json"
        r = subprocess.run([sys.executable, "-m", "proxy.backfill.spark_job", cmd, *common, *extra,
                            "--summary", str(summary)], cwd=ROOT, capture_output=True, text=True, env=spark_env,
                           timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr[-3000:]
        data = json.loads(summary.read_text())
        assert data["rows_read"] == 2000 and data["ranges"]["done"] == data["ranges"]["total"] >= 8, data
        if cmd == "backfill":
            assert data["rows_written"] == 2000, data
        else:
            assert data["differences"] == {}, data
