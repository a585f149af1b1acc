"""`restore-cassandra` against the real Cassandra and DynamoDB Local: rows written while the tables
were in `dynamo` (so only DynamoDB has them) are copied back into Cassandra, which then validates
equal; what Cassandra holds that is newer survives; a killed run resumes."""

from __future__ import annotations

import decimal
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cassandra.concurrent import execute_concurrent_with_args

from tests.conftest import ROOT, start_sidecar

from .drivers import session_for
from .stores import AWS_ENV, cassandra_rows, cli, mapped_keyspace

pytestmark = pytest.mark.integration

KS = "rv_rev"
TABLES = ("t", "kv", "bulk", "hits")
BULK = 3000


@pytest.fixture(scope="module")
def env(cassandra, dynamodb, tmp_path_factory):
    d = tmp_path_factory.mktemp("rv")
    with mapped_keyspace(cassandra, dynamodb, KS, [
        f"""CREATE TABLE {KS}.t (p int, c int, s text static, v text, n bigint, d decimal, ts timestamp, u uuid,
            b blob, tags set<text>, m map<text, int>, l list<int>, fz frozen<list<int>>, PRIMARY KEY (p, c))
            WITH CLUSTERING ORDER BY (c DESC)""",
        f"CREATE TABLE {KS}.kv (id int PRIMARY KEY, name text, n int)",
        f"CREATE TABLE {KS}.bulk (id int PRIMARY KEY, v text)",
        f"CREATE TABLE {KS}.hits (page text PRIMARY KEY, n counter)",
    ], d, "rv") as (mapping, m):
        sidecars = {}
        for phase in ("dynamo_fallback", "dynamo"):
            phases = ",".join(f"{KS}.{t}={phase}" for t in TABLES)
            sidecars[phase] = start_sidecar(cassandra, tmp_path_factory.mktemp(phase), "--mapping", str(mapping),
                                            "--dynamodb-endpoint", dynamodb, "--phases", phases, env=AWS_ENV)
        try:
            yield mapping, m, d, sidecars
        finally:
            for sc in sidecars.values():
                sc.stop()
        cluster, s = session_for(*cassandra, version=4)
        s.execute(f"DROP KEYSPACE IF EXISTS {KS}")
        cluster.shutdown()


def _run(cmd: str, env, cassandra, dynamodb, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    mapping, _, d, _ = env
    summary = d / f"summary-{uuid.uuid4().hex[:6]}.json"
    args = [cmd, "--mapping", str(mapping), "--cassandra", f"{cassandra[0]}:{cassandra[1]}",
            "--dynamodb-endpoint", dynamodb, "--summary", str(summary), *extra]
    if cmd == "validate":
        args += ["--splits", "16"] + ([] if "--report" in extra else ["--report", str(d / "report.jsonl")])
    r = cli(*args)
    return r, json.loads(summary.read_text()) if summary.exists() else {}


def _exec(sc, statements: list[str]) -> None:
    cluster, s = session_for(sc.host, sc.port, version=4)
    try:
        for st in statements:
            s.execute(st)
    finally:
        cluster.shutdown()


def _diffs(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip() and json.loads(x)["kind"] == "diff"]


def test_rows_written_in_dynamo_come_back_and_newer_cassandra_rows_survive(env, cassandra, dynamodb):
    _, m, d, sidecars = env
    # history both stores have (dynamo_fallback writes DynamoDB, then Cassandra)
    _exec(sidecars["dynamo_fallback"], [
        f"INSERT INTO {KS}.t (p, c, s, v, n, d, tags, m, l, fz) VALUES (1, 1, 'static', 'one', 10, 1.50, "
        "{'a', 'b', 'c'}, {'x': 1, 'y': 2}, [1, 2], [9, 8])",
        f"INSERT INTO {KS}.t (p, c, v, n) VALUES (1, 2, 'two', 20)",
        f"INSERT INTO {KS}.t (p, c, v, n) VALUES (1, 3, 'three', 30)",
        f"INSERT INTO {KS}.t (p, c, v) VALUES (2, 1, 'expires')",
        f"INSERT INTO {KS}.kv (id, name, n) VALUES (1, 'keep', 1)",
        f"INSERT INTO {KS}.kv (id, name, n) VALUES (2, 'gone soon', 2)",
        f"INSERT INTO {KS}.kv (id, name, n) VALUES (900, 'dynamo-older', 9)",
    ])
    # then only DynamoDB: updates, deletes of rows, cells and elements, TTLs, statics, new rows
    _exec(sidecars["dynamo"], [
        f"UPDATE {KS}.t SET v = 'one again', tags = tags + {{'d'}}, tags = tags - {{'a'}}, m['z'] = 26 "
        "WHERE p = 1 AND c = 1",
        f"DELETE m['x'] FROM {KS}.t WHERE p = 1 AND c = 1",
        f"UPDATE {KS}.t SET l = l + [3] WHERE p = 1 AND c = 1",
        f"UPDATE {KS}.t SET s = 'static changed' WHERE p = 1",
        f"DELETE n FROM {KS}.t WHERE p = 1 AND c = 2",
        f"DELETE FROM {KS}.t WHERE p = 1 AND c = 3",
        f"UPDATE {KS}.t USING TTL 1 SET v = 'short' WHERE p = 2 AND c = 1",
        f"INSERT INTO {KS}.t (p, c, v, ts, u, b, d) VALUES (3, 1, 'new', '2024-05-01 12:00:00+0000', "
        "5e332e60-502c-4106-9c04-1eda54600de6, 0x00ff, 2.500) USING TTL 3600",
        f"INSERT INTO {KS}.t (p, c, tags, l) VALUES (3, 2, {{'only'}}, [5, 6])",
        f"UPDATE {KS}.kv SET name = 'kept', n = 11 WHERE id = 1",
        f"DELETE FROM {KS}.kv WHERE id = 2",
        f"INSERT INTO {KS}.kv (id, name) VALUES (3, 'dynamo only')",
        f"UPDATE {KS}.kv SET name = 'dynamo-newer-than-nothing' WHERE id = 900",
    ])
    # a write Cassandra alone took, later than anything DynamoDB has for the row
    later = (int(time.time()) + 60) * 1_000_000
    cluster, s = session_for(*cassandra, version=4)
    try:
        s.execute(f"INSERT INTO {KS}.kv (id, name, n) VALUES (900, 'cassandra-newer', 99) USING TIMESTAMP {later}")
    finally:
        cluster.shutdown()
    time.sleep(2)  # the TTL 1 cell has expired: Cassandra's older 'expires' must not come back
    assert [r["id"] for r in cassandra_rows(cassandra, m.table(KS, "kv"), "WHERE id = 3")] == []

    args = ["--table", f"{KS}.t", "--table", f"{KS}.kv", "--force", "--segments", "4",
            "--ledger", str(d / "ledger-main.jsonl")]
    r, summary = _run("restore-cassandra", env, cassandra, dynamodb, *args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary["ranges"]["done"] == 8 and summary["failures"] == 0, summary
    assert summary["rows_written"] > 0 and "rows/s" in r.stdout

    rows = {(x["p"], x["c"]): x for x in cassandra_rows(cassandra, m.table(KS, "t"))}
    one = rows[(1, 1)]
    assert one["v"] == "one again" and one["s"] == "static changed" and one["d"] == decimal.Decimal("1.50")
    assert sorted(one["tags"]) == ["b", "c", "d"] and one["m"] == {"y": 2, "z": 26}
    assert one["l"] == [1, 2, 3] and one["fz"] == [9, 8]
    assert rows[(1, 2)]["n"] is None and rows[(1, 2)]["v"] == "two"
    assert (1, 3) not in rows
    assert rows[(2, 1)]["v"] is None  # expired in DynamoDB: gone in Cassandra too
    assert rows[(3, 1)]["b"] == b"\x00\xff" and rows[(3, 2)]["l"] == [5, 6]
    kv = {x["id"]: x for x in cassandra_rows(cassandra, m.table(KS, "kv"))}
    assert kv[1]["name"] == "kept" and 2 not in kv and kv[3]["name"] == "dynamo only"
    assert kv[900]["name"] == "cassandra-newer" and kv[900]["n"] == 99
    cluster, s = session_for(*cassandra, version=4)
    try:
        ttl = s.execute(f"SELECT ttl(v), writetime(v) FROM {KS}.t WHERE p = 3 AND c = 1").one()
    finally:
        cluster.shutdown()
    assert 3500 < ttl[0] <= 3600

    # the only difference left is the row Cassandra holds newer; repair takes it into DynamoDB
    report = d / "after-restore.jsonl"
    r, summary = _run("validate", env, cassandra, dynamodb, "--table", f"{KS}.t", "--table", f"{KS}.kv",
                      "--report", str(report))
    diffs = _diffs(report)
    # besides that row: a list restore wrote whole shows one timestamp for its elements (documented)
    assert [(x["table"], x["type"], x["key"]) for x in diffs if x["table"] == f"{KS}.kv"] == [
        (f"{KS}.kv", "MISMATCH", [900])], diffs
    assert all(x["type"] == "MISMATCH" and all(dt.startswith("writetime/ttl(l)") for dt in x["details"])
               for x in diffs if x["table"] == f"{KS}.t"), diffs
    r, _ = _run("validate", env, cassandra, dynamodb, "--table", f"{KS}.kv", "--table", f"{KS}.t", "--repair",
                "--report", str(d / "repair.jsonl"))
    assert r.returncode == 1, r.stdout + r.stderr
    r, summary = _run("validate", env, cassandra, dynamodb, "--table", f"{KS}.t", "--table", f"{KS}.kv")
    assert r.returncode == 0 and summary["differences"] == {}, r.stdout + r.stderr

    # a second run changes nothing (list elements are not appended again)
    r, summary = _run("restore-cassandra", env, cassandra, dynamodb, "--table", f"{KS}.t", "--force",
                      "--ledger", str(d / "ledger-again.jsonl"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert cassandra_rows(cassandra, m.table(KS, "t"), "WHERE p = 1 AND c = 1")[0]["l"] == [1, 2, 3]
    r, summary = _run("validate", env, cassandra, dynamodb, "--table", f"{KS}.t")
    assert r.returncode == 0 and summary["differences"] == {}, r.stdout


def test_counter_tables_are_refused(env, cassandra, dynamodb):
    r, _ = _run("restore-cassandra", env, cassandra, dynamodb, "--table", f"{KS}.hits", "--force")
    assert r.returncode == 2 and "counter table" in r.stderr


def test_without_force_or_control_it_refuses(env, cassandra, dynamodb):
    r, _ = _run("restore-cassandra", env, cassandra, dynamodb, "--table", f"{KS}.kv")
    assert r.returncode == 2 and "--control" in r.stderr


def test_a_killed_run_resumes_from_its_ledger(env, cassandra, dynamodb):
    mapping, m, d, sidecars = env
    cluster, s = session_for(sidecars["dynamo"].host, sidecars["dynamo"].port, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.bulk (id, v) VALUES (?, ?)")
        execute_concurrent_with_args(s, ins, [(i, f"v{i}") for i in range(BULK)], concurrency=64,
                                     raise_on_first_error=True)
    finally:
        cluster.shutdown()
    assert cassandra_rows(cassandra, m.table(KS, "bulk")) == []
    ledger = d / "resume.jsonl"
    args = [sys.executable, "-m", "proxy.cli", "restore-cassandra", "--mapping", str(mapping), "--cassandra",
            f"{cassandra[0]}:{cassandra[1]}", "--dynamodb-endpoint", dynamodb, "--table", f"{KS}.bulk",
            "--force", "--ledger", str(ledger), "--segments", "8", "--concurrency", "2", "--page-size", "50",
            "--rows-per-second", "500"]
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **AWS_ENV}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = ledger.read_text() if ledger.exists() else ""
        if text.count('"kind":"done"') >= 1 and text.count('"kind":"page"') >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lines = [json.loads(x) for x in ledger.read_text().splitlines()]
    done_before = sum(1 for x in lines if x["kind"] == "done")
    assert 1 <= done_before < 8, lines
    r, summary = _run("restore-cassandra", env, cassandra, dynamodb, "--table", f"{KS}.bulk", "--force",
                      "--ledger", str(ledger), "--segments", "3")  # the ledger's 8 segments win
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary["ranges"]["done_earlier"] == done_before and summary["ranges"]["total"] == 8, summary
    assert summary["rows_read"] < BULK, summary  # segments and pages done were not read again
    assert len(cassandra_rows(cassandra, m.table(KS, "bulk"))) == BULK
    r, summary = _run("validate", env, cassandra, dynamodb, "--table", f"{KS}.bulk")
    assert r.returncode == 0 and summary["differences"] == {} and summary["rows_read"] == BULK, r.stdout
