"""Phase dynamo: the application keeps running on DynamoDB alone, and a fresh driver can connect,
authenticate, read the schema, prepare and run its statements with no Cassandra at all."""

from __future__ import annotations

import threading

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import NoHostAvailable

from tests.conftest import free_port, start_sidecar

from .drivers import session_for
from .stores import AWS_ENV
from .test_phase_flips import KEYS, KS, Workload, _sidecar, flip
from .test_phase_flips import setup as setup  # the flip tests' keyspace and mapping

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_fresh_driver_with_no_cassandra_anywhere(setup, dynamodb, tmp_path):
    mapping, _ = setup
    nothing = ("127.0.0.1", free_port())  # no Cassandra listens here
    sc = start_sidecar(nothing, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       "--phases", f"{KS}.kv=dynamo,{KS}.feed=dynamo",
                       "--cassandra-username", "app", "--cassandra-password", "s3cret", env=AWS_ENV)
    try:
        with pytest.raises(NoHostAvailable):
            session_for(sc.host, sc.port, version=4, username="app", password="wrong")
        for version in (4, 5):
            cluster, s = session_for(sc.host, sc.port, version=version, username="app", password="s3cret")
            try:
                local = s.execute("SELECT release_version, cluster_name FROM system.local").one()
                assert local.release_version.startswith("5.0")
                table = cluster.metadata.keyspaces[KS].tables["kv"]
                assert list(table.columns) == ["id", "n", "tags", "v"]
                ins = s.prepare(f"INSERT INTO {KS}.kv (id, v, n, tags) VALUES (?, ?, ?, ?)")
                sel = s.prepare(f"SELECT id, v, n, tags FROM {KS}.kv WHERE id = ?")
                s.execute(ins, (1000 + version, "alone", 1, {"x"}))
                row = s.execute(sel, (1000 + version,)).one()
                assert (row.id, row.v, row.n, row.tags) == (1000 + version, "alone", 1, {"x"})
                r = s.execute(f"UPDATE {KS}.kv SET n = 2 WHERE id = {1000 + version} IF v = 'alone'").one()
                assert r[0] is True
                s.execute(f"BEGIN BATCH INSERT INTO {KS}.feed (src, seq, msg) VALUES (9, 1, 'a'); "
                          f"INSERT INTO {KS}.feed (src, seq, msg) VALUES (9, 2, 'b') APPLY BATCH")
                assert [r.seq for r in s.execute(f"SELECT seq FROM {KS}.feed WHERE src = 9")] == [2, 1]
                s.execute(f"USE {KS}")
                assert s.execute("SELECT n FROM kv WHERE id = %s", (1000 + version,)).one().n == 2
                with pytest.raises(InvalidRequest, match="not in the mapping"):
                    s.execute(f"SELECT * FROM {KS}.unmapped WHERE id = 1")
                with pytest.raises(InvalidRequest, match="without Cassandra"):
                    s.execute(f"CREATE TABLE {KS}.newone (id int PRIMARY KEY)")
            finally:
                cluster.shutdown()
    finally:
        sc.stop()


def test_node_driver_with_no_cassandra(setup, dynamodb, tmp_path):
    """The Node.js driver too: auth, schema metadata, prepared statements, LWT, a clear error."""
    import json
    import subprocess

    from .test_node_driver import NODE_DIR, ROOT, _node_ready

    node = _node_ready()
    mapping, _ = setup
    sc = start_sidecar(("127.0.0.1", free_port()), tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint",
                       dynamodb, "--phases", f"{KS}.kv=dynamo,{KS}.feed=dynamo", "--client-users", "app:s3cret",
                       "--cassandra-username", "sidecar", "--cassandra-password", "unused", env=AWS_ENV)
    try:
        r = subprocess.run([node, str(NODE_DIR / "dynamo_only.js"), sc.host, str(sc.port), KS, "app", "s3cret"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        assert out["ok"], out.get("error", "") + sc.log()[-3000:]
        assert out["release"].startswith("5.0")
        assert out["columns"] == ["id", "n", "tags", "v"] and out["partitionKeys"] == ["id"]
        assert out["row"]["v"] == "node" and out["row"]["n"] == 7 and out["row"]["tags"] == ["a", "b"]
        assert out["applied"] is True
        assert "not in the mapping" in out["unmapped"]
    finally:
        sc.stop()


def test_workload_keeps_running_after_cassandra_is_killed(setup, backends, cassandra, dynamodb,
                                                          tmp_path):
    sc = _sidecar(setup, cassandra, dynamodb, tmp_path)
    cluster, s = session_for(sc.host, sc.port, version=4)
    w = Workload([s])
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    try:
        for phase in ("dual_write", "verify", "dynamo_fallback", "dynamo"):
            flip(sc, phase, 100, force=phase.startswith("dynamo"))  # past the cutover gate: not what this tests
            w.wait_cycles()
        backends.down("cassandra")
        w.wait_cycles(3)
        c2, s2 = session_for(sc.host, sc.port, version=4)  # a fresh driver with Cassandra gone
        try:
            assert s2.execute(f"SELECT v FROM {KS}.kv WHERE id = 1").one() is not None
        finally:
            c2.shutdown()
        w.wait_cycles()
    finally:
        w.stop.set()
        t.join(30)
        cluster.shutdown()
        sc.stop()
        backends.up("cassandra")
    assert not w.errors, w.errors[:10]
    assert w.done - w.start > 6 * KEYS
