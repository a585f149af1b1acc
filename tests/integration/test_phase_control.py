"""Run-time phase control through real sidecar processes sharing a DynamoDB control table: a flip
made on one sidecar reaches the others, refusals change nothing, concurrent changes never both win,
an unreachable store keeps the phases in force, and the CLI end to end."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import ROOT, free_port

from .drivers import metric
from .stores import ddb, recreate_keyspace

pytestmark = pytest.mark.integration

AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
TARGETS = [f"st_control_t{i}_{uuid.uuid4().hex[:8]}" for i in (1, 2)]
MAPPING = f"""version: 1
dynamodb: {{region: us-east-1}}
tables:
  - cql: st_control_ks.t1
    dynamodb_table: {TARGETS[0]}
    schema: {{columns: {{id: int, v: text}}, partition_key: [id]}}
  - cql: st_control_ks.t2
    dynamodb_table: {TARGETS[1]}
    schema: {{columns: {{id: int, v: text}}, partition_key: [id]}}
"""


@pytest.fixture(scope="module")
def dynamodb(backends) -> str:
    backends.ensure("dynamodb")
    return f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}"


@pytest.fixture(scope="module")
def tables(cassandra, dynamodb) -> Iterator[None]:
    """The mapped tables in both stores: a sidecar checks at start that its phases find them."""
    recreate_keyspace(cassandra, "st_control_ks", [f"CREATE TABLE st_control_ks.t{i} (id int PRIMARY KEY, v text)"
                                                   for i in (1, 2)])
    client = ddb(dynamodb)
    for name in TARGETS:
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
    yield
    for name in TARGETS:
        client.delete_table(TableName=name)


@pytest.fixture
def mapping(tmp_path: Path, tables: None) -> Path:
    p = tmp_path / "mapping.yaml"
    p.write_text(MAPPING)
    return p


@pytest.fixture
def control_table(dynamodb: str) -> Iterator[str]:
    name = f"control_{uuid.uuid4().hex[:10]}"
    yield name
    ddb = boto3.client("dynamodb", endpoint_url=dynamodb, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test")
    with contextlib.suppress(ddb.exceptions.ResourceNotFoundException):
        ddb.delete_table(TableName=name)


def _start(factory, cassandra, mapping: Path, endpoint: str, control: str, *extra: str):
    return factory(cassandra, "--mapping", str(mapping), "--dynamodb-endpoint", endpoint, "--control", control,
                   "--control-poll-interval", "0.2", "--control-heartbeat-interval", "0.5", *extra, env=AWS_ENV)


def _api(sc, method: str, path: str, body: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    h = {"Authorization": f"Bearer {sc.token}", **(headers or {})}
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{sc.admin_url}{path}", data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _wait(pred, timeout: float = 8.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_flip_on_one_sidecar_reaches_the_fleet(sidecar_factory, cassandra, dynamodb, mapping, control_table):
    a = _start(sidecar_factory, cassandra, mapping, dynamodb, f"dynamodb:{control_table}", "--sidecar-id", "a")
    b = _start(sidecar_factory, cassandra, mapping, dynamodb, f"dynamodb:{control_table}", "--sidecar-id", "b")
    st, doc = _api(a, "GET", "/phases")
    assert st == 200 and doc["version"] == 0
    assert doc["tables"]["st_control_ks.t1"] == {"phase": "cassandra", "share": 100.0}
    _wait(lambda: _api(a, "GET", "/phases/status")[1]["total"] == 2, what="both sidecars in the fleet view")

    t0 = time.monotonic()
    st, doc = _api(a, "PUT", "/phases/st_control_ks.t1", {"phase": "dual_write", "share": 25},
                   headers={"X-Actor": "alice"})
    assert st == 200, doc
    assert doc["version"] == 1 and doc["changed"] is True and doc["updated_by"] == "alice"
    assert doc["tables"]["st_control_ks.t1"] == {"phase": "dual_write", "share": 25.0}

    def converged() -> dict[str, Any] | None:
        s = _api(b, "GET", "/phases/status")[1]
        return s if s["converged"] and s["version"] == 1 else None

    fleet = _wait(converged, what="the fleet on version 1")
    assert time.monotonic() - t0 < 5
    assert {s["sidecar_id"]: s["version"] for s in fleet["sidecars"]} == {"a": 1, "b": 1}
    assert fleet["converged_at"] is not None and not any(s["stale"] for s in fleet["sidecars"])
    assert _api(b, "GET", "/phases/st_control_ks.t1")[1] == {"table": "st_control_ks.t1", "version": 1,
                                                          "phase": "dual_write", "share": 25.0}
    assert _api(b, "GET", "/status")[1]["phase_version"] == 1
    assert metric(b, "cdp_control_version") == 1 and metric(b, "cdp_control_flips_applied_total") == 1

    st, audit = _api(b, "GET", "/phases/audit")
    assert st == 200 and len(audit["entries"]) == 1
    e = audit["entries"][0]
    assert (e["version"], e["by"], e["table"], e["old"]["phase"], e["new"], e["force"]) == (
        1, "alice", "st_control_ks.t1", "cassandra", {"phase": "dual_write", "share": 25.0}, False)

    # a refused jump answers 409 with the reason and changes nothing
    st, err = _api(b, "PUT", "/phases/st_control_ks.t1", {"phase": "dynamo"})
    assert st == 409 and "dynamo_fallback first" in err["error"] and err["refused"] == {"from": "dual_write",
                                                                                          "to": "dynamo"}
    st, err = _api(b, "PUT", "/phases/st_control_ks.t2", {"phase": "verify", "by": "bob"})
    assert st == 409 and "skips dual_write" in err["reason"]
    time.sleep(0.5)
    assert _api(a, "GET", "/phases")[1]["version"] == 1
    assert len(_api(a, "GET", "/phases/audit")[1]["entries"]) == 1
    # bad input
    assert _api(a, "PUT", "/phases/st_control_ks.nope", {"phase": "dual_write"})[0] == 404
    assert _api(a, "PUT", "/phases/st_control_ks.t1", {"phase": "dual_write", "share": 0})[0] == 400
    assert _api(a, "PUT", "/phases/st_control_ks.t1", {"phase": "warp"})[0] == 400
    # the token guards the phase endpoints like /status
    req = urllib.request.Request(f"{a.admin_url}/phases/st_control_ks.t1", data=b'{"phase": "cassandra"}',
                                 method="PUT")
    with pytest.raises(urllib.error.HTTPError) as ex:
        urllib.request.urlopen(req, timeout=5)
    assert ex.value.code == 401

    # forced, by name in the body, and the whole fleet follows again
    st, doc = _api(b, "PUT", "/phases/st_control_ks.t1", {"phase": "dynamo", "force": True, "by": "bob"})
    assert st == 200 and doc["version"] == 2
    _wait(lambda: _api(a, "GET", "/phases")[1]["tables"]["st_control_ks.t1"]["phase"] == "dynamo",
          what="sidecar a on version 2")
    assert _api(a, "GET", "/phases/audit")[1]["entries"][0]["force"] is True

    # a sidecar that leaves cleanly leaves the fleet view; a new one starts on the fleet's phases
    b.stop()
    _wait(lambda: _api(a, "GET", "/phases/status")[1]["total"] == 1, what="b gone from the fleet view")
    c = _start(sidecar_factory, cassandra, mapping, dynamodb, f"dynamodb:{control_table}", "--sidecar-id", "c")
    assert _api(c, "GET", "/phases")[1]["tables"]["st_control_ks.t1"]["phase"] == "dynamo"


def test_concurrent_changes_never_both_win(sidecar_factory, cassandra, dynamodb, mapping, control_table):
    scs = [_start(sidecar_factory, cassandra, mapping, dynamodb, f"dynamodb:{control_table}",
                  "--sidecar-id", name) for name in ("a", "b")]
    results: list[tuple[int, dict[str, Any]]] = []
    with ThreadPoolExecutor(8) as pool:
        for step in range(4):
            barrier = threading.Barrier(8)

            def put(i: int, step: int = step, barrier: threading.Barrier = barrier) -> tuple[int, dict[str, Any]]:
                barrier.wait()
                return _api(scs[i % 2], "PUT", "/phases/st_control_ks.t1",
                            {"phase": "dual_write", "share": 10 + step * 10 + i, "by": f"w{step}-{i}"})

            results += list(pool.map(put, range(8)))
    wins = [doc for st, doc in results if st == 200]
    conflicts = [doc for st, doc in results if st == 409]
    assert len(wins) + len(conflicts) == len(results), results
    assert all(c["reason"] == "conflict" for c in conflicts)
    versions = [w["version"] for w in wins]
    assert len(set(versions)) == len(versions), "two changes won the same version"
    assert conflicts, "8 simultaneous changes per step and none conflicted"
    final = _api(scs[0], "GET", "/phases/audit?limit=100")[1]["entries"]
    assert sorted(e["version"] for e in final) == sorted(versions) == list(range(1, len(versions) + 1))
    by_version = {w["version"]: w["updated_by"] for w in wins}
    assert all(by_version[e["version"]] == e["by"] for e in final)
    last = max(versions)
    _wait(lambda: all(_api(s, "GET", "/phases")[1]["version"] == last for s in scs), what="both on the last")
    winner = next(w for w in wins if w["version"] == last)
    assert _api(scs[1], "GET", "/phases")[1]["tables"] == winner["tables"]


class Relay:
    """A TCP relay in front of DynamoDB Local that the test can cut, as a network outage."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.up = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if not self.up:
                c.close()
                continue
            try:
                u = socket.create_connection(self.target)
            except OSError:
                c.close()
                continue
            self.conns += [c, u]
            for src, dst in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()
        self.sock.close()


def test_an_unreachable_control_store_keeps_the_phases(sidecar_factory, cassandra, dynamodb, mapping,
                                                        control_table):
    host, port = dynamodb.removeprefix("http://").split(":")
    relay = Relay((host, int(port)))
    sc = _start(sidecar_factory, cassandra, mapping, f"http://127.0.0.1:{relay.port}", f"dynamodb:{control_table}")
    st, doc = _api(sc, "PUT", "/phases/st_control_ks.t2", {"phase": "dual_write", "share": 50})
    assert st == 200 and doc["version"] == 1
    assert metric(sc, "cdp_control_poll_failures_total") == 0
    relay.cut()
    _wait(lambda: metric(sc, "cdp_control_poll_failures_total") >= 3, what="failed polls counted")
    _wait(lambda: metric(sc, "cdp_control_last_poll_age_seconds") > 1.0, what="the last good poll ageing")
    st, doc = _api(sc, "GET", "/phases")
    assert st == 200 and doc["version"] == 1
    assert doc["tables"]["st_control_ks.t2"] == {"phase": "dual_write", "share": 50.0}
    assert metric(sc, "cdp_control_version") == 1
    st, err = _api(sc, "PUT", "/phases/st_control_ks.t2", {"phase": "dual_write"})
    assert st == 503 and "nothing changed" in err["error"]
    assert _api(sc, "GET", "/phases/status")[0] == 503
    assert "control store" in sc.log() and "unreachable" in sc.log()


def test_a_store_on_a_closed_port_at_start_runs_the_mapping_phases(sidecar_factory, cassandra, mapping):
    sc = _start(sidecar_factory, cassandra, mapping, f"http://127.0.0.1:{free_port()}", "dynamodb:control_never",
                "--phases", "st_control_ks.t1=dual_write")
    st, doc = _api(sc, "GET", "/phases")
    assert st == 200 and doc["version"] == 0
    assert doc["tables"]["st_control_ks.t1"]["phase"] == "dual_write"
    assert doc["tables"]["st_control_ks.t2"]["phase"] == "cassandra"
    assert metric(sc, "cdp_control_poll_failures_total") >= 1


def _cli(sc, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", "phase", "--admin", sc.admin_url, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CDP_ADMIN_TOKEN": sc.token, **(env or {})})


def test_cli_end_to_end_with_a_file_store(sidecar_factory, cassandra, mapping, tmp_path):
    ctl = tmp_path / "control"
    sc = sidecar_factory(cassandra, "--mapping", str(mapping), "--control", f"file:{ctl}",
                         "--sidecar-id", "solo", "--control-heartbeat-interval", "0.5", env=AWS_ENV)
    r = _cli(sc, "get")
    assert r.returncode == 0 and "st_control_ks.t1" in r.stdout and "version 0" in r.stdout
    r = _cli(sc, "set", "st_control_ks.t1", "dual_write", "--share", "10", "--by", "carol")
    assert r.returncode == 0, r.stderr
    assert "version 1" in r.stdout and "90% in cassandra" in r.stdout
    r = _cli(sc, "set", "st_control_ks.t1", "dynamo")
    assert r.returncode == 1 and "refused" in r.stderr and "dynamo_fallback first" in r.stderr
    r = _cli(sc, "set", "st_control_ks.zzz", "dual_write")
    assert r.returncode == 2 and "not a table" in r.stderr
    r = _cli(sc, "get", "st_control_ks.t1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["share"] == 10.0
    r = _cli(sc, "status")
    assert r.returncode == 0 and "1/1 sidecars" in r.stdout and "converged" in r.stdout and "solo" in r.stdout
    r = _cli(sc, "audit")
    assert r.returncode == 0 and "carol" in r.stdout and "dual_write 10%" in r.stdout
    r = _cli(sc, "get", env={"CDP_ADMIN_TOKEN": "wrong"})
    assert r.returncode == 3 and "Bearer" in r.stderr
    # the file store's documents
    assert json.loads((ctl / "phases.json").read_text())["version"] == 1
    assert len((ctl / "audit.jsonl").read_text().splitlines()) == 1
    assert (ctl / "sidecars" / "solo.json").exists()
