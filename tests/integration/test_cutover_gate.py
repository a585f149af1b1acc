"""The cutover gate end to end with the real CLI, a real sidecar, Cassandra and DynamoDB Local:
dynamo_fallback is refused until a backfill completed and a full validate came back clean since the
fleet converged in dual_write; a difference written behind the sidecar's back closes it again; a
way back through cassandra makes earlier runs stale; --force passes and is audited; `phase status`
shows each table's state. Both control stores."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Sidecar
from translators.mapping import Mapping

from .drivers import session_for
from .stores import AWS_ENV, ddb, mapped_keyspace

pytestmark = pytest.mark.integration

KS = "gate_cutover"
KV, T2 = f"{KS}.kv", f"{KS}.t2"


@pytest.fixture(scope="module")
def setup(cassandra, dynamodb, tmp_path_factory) -> Iterator[tuple[Path, Mapping]]:
    with mapped_keyspace(cassandra, dynamodb, KS, [
        f"CREATE TABLE {KV} (id int PRIMARY KEY, v text)",
        f"CREATE TABLE {T2} (id int PRIMARY KEY, v text)",
    ], tmp_path_factory.mktemp("gate"), "gate") as mapped:
        # history from before dual_write, which only the backfill copies
        cluster, s = session_for(*cassandra, version=4)
        try:
            for i in range(50):
                s.execute(f"INSERT INTO {KV} (id, v) VALUES (%s, %s)", (i, f"old{i}"))
                s.execute(f"INSERT INTO {T2} (id, v) VALUES (%s, %s)", (i, f"old{i}"))
        finally:
            cluster.shutdown()
        yield mapped


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **AWS_ENV})


class Ops:
    """The operator: `phase` against one sidecar, `backfill`/`validate` against the stores."""

    def __init__(self, sc: Sidecar, mapping: Path, control: str, cassandra: tuple[str, int], dynamodb: str,
                 tmp: Path) -> None:
        self.sc, self.mapping, self.control, self.tmp = sc, mapping, control, tmp
        self.stores = ["--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--dynamodb-endpoint", dynamodb,
                       "--splits", "8"]

    def phase(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _cli("phase", "--admin", self.sc.admin_url, "--token", self.sc.token, *args)

    def set(self, table: str, phase: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.phase("set", table, phase, "--by", "ops", *extra)

    def status(self) -> dict[str, Any]:
        r = self.phase("status", "--json")
        assert r.returncode == 0, r.stderr
        return dict(json.loads(r.stdout))

    def wait_converged(self) -> None:
        deadline = time.monotonic() + 15
        while not self.status()["converged"]:
            assert time.monotonic() < deadline, "the fleet did not converge"
            time.sleep(0.2)

    def run(self, cmd: str, table: str, *extra: str, control: bool = True) -> subprocess.CompletedProcess[str]:
        out = ["--ledger", str(self.tmp / f"ledger-{table}.jsonl")] if cmd == "backfill" else [
            "--report", str(self.tmp / f"report-{uuid.uuid4().hex[:6]}.jsonl")]
        return _cli(cmd, "--mapping", str(self.mapping), "--table", table, *self.stores, *out,
                    *(("--control", self.control) if control else ()), *extra)


def _sidecar(sidecar_factory, cassandra, mapping: Path, dynamodb: str, control: str, sid: str) -> Sidecar:
    return sidecar_factory(cassandra, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                           "--control", control, "--sidecar-id", sid, "--control-poll-interval", "0.2",
                           "--control-heartbeat-interval", "0.5", env=AWS_ENV)


def test_the_gate_with_a_file_store(setup, sidecar_factory, cassandra, dynamodb, tmp_path):
    mapping, _ = setup
    control = f"file:{tmp_path / 'control'}"
    sc = _sidecar(sidecar_factory, cassandra, mapping, dynamodb, control, "solo")
    ops = Ops(sc, mapping, control, cassandra, dynamodb, tmp_path)
    assert ops.set(KV, "dual_write").returncode == 0
    ops.wait_converged()
    assert ops.set(KV, "verify").returncode == 0

    # 1. nothing run yet: refused, naming the table and the commands to run
    r = ops.set(KV, "dynamo_fallback", "--share", "10")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"backfill of {KV} not completed since dual_write converged (entered at phase version 1" in r.stderr
    assert f"run: cql-dynamo-proxy backfill --mapping {mapping} --table {KV} --control {control}" in r.stderr
    assert f"no validate of {KV}" in r.stderr

    # a validate without --control records nothing (and says the history is missing)
    r = ops.run("validate", KV, control=False)
    assert r.returncode == 1 and "outcome recorded" not in r.stderr
    assert ops.status()["tables"][KV]["validate"] is None

    # 2. backfill done; then a row written behind the sidecar's back: the validate finds it
    r = ops.run("backfill", KV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{KV}: outcome recorded in {control}" in r.stderr
    cluster, s = session_for(*cassandra, version=4)
    try:
        s.execute(f"INSERT INTO {KV} (id, v) VALUES (1000, 'behind the sidecar')")
    finally:
        cluster.shutdown()
    r = ops.run("validate", KV)
    assert r.returncode == 1, r.stdout + r.stderr
    r = ops.set(KV, "dynamo_fallback")
    assert r.returncode == 1 and f"the latest validate of {KV}" in r.stderr
    assert "found 1 difference(s); repair them (validate --repair), then validate again" in r.stderr
    assert "backfill of" not in r.stderr
    st = ops.status()["tables"][KV]
    assert st["backfill"]["ranges_done"] == st["backfill"]["ranges_total"] > 0
    assert st["backfill"]["ranges_failed"] == 0 and st["validate"]["differences"] == 1
    assert st["gate"]["open"] is False and st["fleet_converged"] is True

    # 3. repaired, but a repairing validate that found something is not clean; nor is a sample
    r = ops.run("validate", KV, "--repair")
    assert r.returncode == 1, r.stdout + r.stderr
    r = ops.set(KV, "dynamo_fallback")
    assert r.returncode == 1 and "(repaired); confirm the repair with another validate" in r.stderr
    r = ops.run("validate", KV, "--sample", "50", "--seed", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    r = ops.set(KV, "dynamo_fallback")
    assert r.returncode == 1 and "compared a 50% sample of the ranges, which does not count" in r.stderr

    # 4. a clean full validate opens the gate
    r = ops.run("validate", KV)
    assert r.returncode == 0, r.stdout + r.stderr
    text = ops.phase("status")
    line = next(ln for ln in text.stdout.splitlines() if ln.startswith(KV))
    assert "verify 100%" in line and "done " in line and "0 diffs, 0 failed" in line and line.endswith("open")
    r = ops.set(KV, "dynamo_fallback", "--share", "10")
    assert r.returncode == 0, r.stderr
    assert ops.set(KV, "dynamo_fallback").returncode == 0
    assert ops.set(KV, "dynamo").returncode == 0

    # 5. a way back through cassandra makes the runs of the earlier stretch stale
    assert ops.set(T2, "dual_write").returncode == 0
    ops.wait_converged()
    assert ops.run("backfill", T2).returncode == 0
    assert ops.run("validate", T2).returncode == 0
    assert ops.status()["tables"][T2]["gate"]["open"] is True
    assert ops.set(T2, "cassandra").returncode == 0
    assert ops.set(T2, "dual_write").returncode == 0
    ops.wait_converged()
    st = ops.status()["tables"][T2]
    assert st["gate"]["open"] is False and st["mirror_epoch"]["version"] > st["backfill"]["epoch"]["version"]
    assert "(earlier stretch)" in next(ln for ln in ops.phase("status").stdout.splitlines() if ln.startswith(T2))
    r = ops.set(T2, "dynamo_fallback")
    assert r.returncode == 1 and "ran before that" in r.stderr
    # the ledger's ranges of the earlier stretch are copied again
    r = ops.run("backfill", T2)
    assert r.returncode == 0 and "ranges done in an earlier dual_write stretch" in r.stderr
    r = ops.set(T2, "dynamo_fallback")
    assert r.returncode == 1 and "backfill of" not in r.stderr and f"no validate of {T2}" in r.stderr

    # 6. forced: allowed, and the audit shows the force and what it overrode
    r = ops.set(T2, "dynamo_fallback", "--force")
    assert r.returncode == 0, r.stderr
    r = ops.phase("audit")
    assert r.returncode == 0
    forced = next(ln for ln in r.stdout.splitlines() if T2 in ln and "dynamo_fallback" in ln)
    assert forced.rstrip().endswith("yes")
    assert f"forced past: no validate of {T2}" in r.stdout
    entries = json.loads(ops.phase("audit", "--json").stdout)["entries"]
    assert entries[0]["force"] is True and f"no validate of {T2}" in entries[0]["overridden"]
    assert not any(e["force"] for e in entries[1:])


def test_the_gate_with_a_dynamodb_store_and_two_sidecars(setup, sidecar_factory, cassandra, dynamodb, tmp_path):
    mapping, _ = setup
    table = f"gate_control_{uuid.uuid4().hex[:8]}"
    control = f"dynamodb:{table}"
    try:
        a = _sidecar(sidecar_factory, cassandra, mapping, dynamodb, control, "a")
        _sidecar(sidecar_factory, cassandra, mapping, dynamodb, control, "b")
        ops = Ops(a, mapping, control, cassandra, dynamodb, tmp_path)
        assert ops.set(KV, "dual_write").returncode == 0
        ops.wait_converged()
        assert ops.status()["total"] == 2
        r = ops.set(KV, "dynamo_fallback")
        assert r.returncode == 1 and f"--control {control}" in r.stderr
        assert ops.run("backfill", KV).returncode == 0
        r = ops.run("validate", KV)
        assert r.returncode == 0, r.stdout + r.stderr
        st = ops.status()["tables"][KV]
        assert st["gate"] == {"open": True, "missing": []} and st["validate"]["phase_version"] == 1
        assert ops.set(KV, "dynamo_fallback").returncode == 0
        items = ddb(dynamodb).query(TableName=table, KeyConditionExpression="pk = :p",
                                    ExpressionAttributeValues={":p": {"S": "run"}})["Items"]
        assert sorted(i["sk"]["S"] for i in items) == [f"{KV}#backfill", f"{KV}#validate"]
    finally:
        client = ddb(dynamodb)
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=table)


async def test_dynamodb_store_round_trip_of_runs(dynamodb, monkeypatch):
    from proxy.aws.dynamodb_client import DynamoDBClient
    from proxy.phases.control_dynamodb import DynamoDBControlStore
    from proxy.phases.cutover import RunRecord
    from proxy.phases.model import MirrorEpoch

    table = f"gate_runs_{uuid.uuid4().hex[:8]}"
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    store = DynamoDBControlStore(DynamoDBClient(region="us-east-1", endpoint=dynamodb), table)
    try:
        assert store.spec == f"dynamodb:{table}" and await store.runs() == []

        def run(kind: str, started: float, tbl: str = "ks.t", **kw: Any) -> RunRecord:
            return RunRecord(kind, tbl, started, started + 1, MirrorEpoch(2, 1.5), 3, True, 8, 8, **kw)

        b, v = run("backfill", 10.0), run("validate", 20.0, differences=2, repair=True, repaired=2)
        assert await store.record_run(b) and await store.record_run(v)
        assert await store.record_run(run("validate", 5.0, "ks.u", sample=10.0))
        assert not await store.record_run(run("validate", 15.0))  # started before the one kept
        got = {(r.table, r.kind): r for r in await store.runs()}
        assert got == {("ks.t", "backfill"): b, ("ks.t", "validate"): v,
                       ("ks.u", "validate"): run("validate", 5.0, "ks.u", sample=10.0)}
        newer = run("validate", 30.0)
        assert await store.record_run(newer)
        assert {(r.table, r.kind): r for r in await store.runs()}[("ks.t", "validate")] == newer
    finally:
        await store.close()
        client = ddb(dynamodb)
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=table)
