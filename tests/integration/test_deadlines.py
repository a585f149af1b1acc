"""A DynamoDB that hangs instead of refusing: real sidecars and the real Cassandra, the sidecars'
DynamoDB endpoint a loopback listener that accepts and never answers (or resets). Every client
request that needs DynamoDB ends by its deadline with the documented error or its fallback, writes
the client got an error for are in the dead-letter file (and `dead-letters replay` against a
working DynamoDB applies them), and pass-through traffic does not notice."""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cassandra import ConsistencyLevel, ReadTimeout, WriteFailure, WriteTimeout
from cassandra.policies import WriteType

from tests.conftest import Sidecar, start_sidecar
from tests.fake_endpoints import FakeEndpoint

from .drivers import metric, session_for
from .stores import AWS_ENV, assert_stores_equal, cassandra_rows, cli, ddb, mapped_keyspace, recreate_keyspace

pytestmark = pytest.mark.integration

KS = "dl_deadline"
PLAIN = "dl_deadline_plain"  # not in the mapping: pass-through only
# what a loaded 2-core machine may add to a deadline: the driver's and sidecar's event loops, the GIL
MARGIN = 1.5
QUORUM, SERIAL = 4, 8


@pytest.fixture(scope="module")
def setup(cassandra, dynamodb, tmp_path_factory):
    recreate_keyspace(cassandra, PLAIN, [f"CREATE TABLE {PLAIN}.t (id int PRIMARY KEY, v text)"])
    with mapped_keyspace(cassandra, dynamodb, KS, [
        f"CREATE TABLE {KS}.kv (id int PRIMARY KEY, v text)",  # dual_write, sync
        f"CREATE TABLE {KS}.fb (id int PRIMARY KEY, v text)",  # dynamo_fallback
        f"CREATE TABLE {KS}.dy (id int PRIMARY KEY, v text)",  # dynamo
    ], tmp_path_factory.mktemp("dl"), "dl") as mapped:
        yield mapped


PHASES = f"{KS}.kv=dual_write,{KS}.fb=dynamo_fallback,{KS}.dy=dynamo"


def _sidecar(setup: Any, cassandra: Any, tmp: Path, endpoint: str, *extra: str) -> Sidecar:
    mapping, _ = setup
    return start_sidecar(cassandra, tmp, "--mapping", str(mapping), "--dynamodb-endpoint", endpoint,
                         "--phases", PHASES, *extra, env=AWS_ENV)


def _dead_letters(sc: Sidecar) -> list[dict[str, Any]]:
    state = Path(sc.args[sc.args.index("--state-dir") + 1])
    path = state / "dead-letters.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _series(sc: Sidecar, name: str, **labels: str) -> float:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # as the exposition orders them
    return metric(sc, f"{name}{{{inner}}}")


def _metrics_text(sc: Sidecar) -> str:
    import urllib.request

    req = urllib.request.Request(f"{sc.admin_url}/metrics", headers={"Authorization": f"Bearer {sc.token}"})
    return urllib.request.urlopen(req, timeout=5).read().decode()


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.monotonic()
    try:
        out = fn()
    except Exception as e:
        return time.monotonic() - t0, e
    return time.monotonic() - t0, out


def _replay(sc: Sidecar, setup: Any, endpoint: str, *extra: str) -> tuple[int, str]:
    state = sc.args[sc.args.index("--state-dir") + 1]
    r = cli("dead-letters", "replay", "--state-dir", state, "--mapping", str(setup[0]),
            "--dynamodb-endpoint", endpoint, "--dynamodb-region", "us-east-1", *extra)
    return r.returncode, r.stdout + r.stderr


def test_sync_mirror_under_a_hung_dynamodb(setup, cassandra, dynamodb, tmp_path):
    """Default deadline (2 s): the client gets WRITE_TIMEOUT in time, the write is in Cassandra and
    in the dead-letter file, other clients' pass-through traffic is not slowed, and a replay
    against a DynamoDB that works makes the stores equal."""
    _, m = setup
    with FakeEndpoint("hang") as fake:
        sc = _sidecar(setup, cassandra, tmp_path, fake.url)
        try:
            text = _metrics_text(sc)
            # known label sets are there from the start, at 0
            for op in ("mirror_write", "authoritative_write", "read", "fallback_read", "verify_read"):
                assert f'cdp_deadline_exceeded_total{{operation="{op}"}} 0.0' in text
            for origin in ("mirror", "authoritative", "unresolved"):
                assert f'cdp_dead_letters_total{{origin="{origin}",table="{KS}.kv"}} 0.0' in text
            assert f'cdp_fallback_timeouts_total{{table="{KS}.fb"}} 0.0' in text

            cluster, s = session_for(sc.host, sc.port, version=4)
            other_cluster, other = session_for(sc.host, sc.port, version=5)
            try:
                ins = s.prepare(f"INSERT INTO {KS}.kv (id, v) VALUES (?, ?)")
                plain = other.prepare(f"INSERT INTO {PLAIN}.t (id, v) VALUES (?, ?)")
                same_conn_plain = s.prepare(f"SELECT v FROM {PLAIN}.t WHERE id = ?")
                ins.consistency_level = ConsistencyLevel.QUORUM

                t0 = time.monotonic()
                hung = s.execute_async(ins, (1, "one"))
                # meanwhile: pass-through on another connection and on the same one
                lat = []
                for i in range(40):
                    t = time.monotonic()
                    other.execute(plain, (i, "x"))
                    s.execute(same_conn_plain, (i,))
                    lat.append(time.monotonic() - t)
                passthrough_done = time.monotonic() - t0
                with pytest.raises(WriteTimeout) as ei:
                    hung.result()
                first_error = time.monotonic() - t0
            finally:
                other_cluster.shutdown()
                cluster.shutdown()
            print(f"\ntime to first error, sync dual_write INSERT, hung DynamoDB, deadline 2 s: {first_error:.2f} s; "
                  f"40 pass-through pairs meanwhile in {passthrough_done:.2f} s (median "
                  f"{statistics.median(lat) * 1000:.1f} ms, max {max(lat) * 1000:.0f} ms)")
            assert 2.0 - 0.05 <= first_error < 2.0 + MARGIN
            assert passthrough_done < first_error  # they did not wait behind it
            assert statistics.median(lat) < 0.2
            e = ei.value
            # Cassandra (one of the two stores) acknowledged; the client's consistency level
            assert (e.received_responses, e.required_responses, e.consistency) == (1, 2, QUORUM)
            assert e.write_type == WriteType.SIMPLE
            assert "written to Cassandra but not confirmed by DynamoDB within the 2 s deadline" in str(e)

            assert [r["v"] for r in cassandra_rows(cassandra, m.table(KS, "kv"), "WHERE id = 1")] == ["one"]
            dead = _dead_letters(sc)
            assert [(d["table"], d["origin"], d["operation"]) for d in dead] == [(f"{KS}.kv", "mirror", "Write")]
            assert _series(sc, "cdp_dead_letters_total", table=f"{KS}.kv", origin="mirror") == 1
            assert _series(sc, "cdp_deadline_exceeded_total", operation="mirror_write") == 1
        finally:
            sc.stop()
    # DynamoDB is back: the replay applies the write, and the stores agree
    rc, out = _replay(sc, setup, dynamodb)
    assert rc == 0, out
    assert "1 applied, 0 still failing" in out
    assert_stores_equal(cassandra, dynamodb, m.table(KS, "kv"))


def test_waiting_for_a_pooled_connection_is_inside_the_deadline(setup, cassandra, tmp_path):
    """Two pooled connections, ten writes at once: eight wait for a connection that never frees
    up, and still get their answer by the deadline."""
    with FakeEndpoint("hang") as fake:
        sc = _sidecar(setup, cassandra, tmp_path, fake.url, "--dynamodb-max-connections", "2",
                      "--dynamodb-deadline", "1")
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            ins = s.prepare(f"INSERT INTO {KS}.kv (id, v) VALUES (?, ?)")
            t0 = time.monotonic()
            futures = [s.execute_async(ins, (100 + i, "x")) for i in range(10)]
            errors = []
            for f in futures:
                with pytest.raises(WriteTimeout) as ei:
                    f.result()
                errors.append(ei.value)
            elapsed = time.monotonic() - t0
            print(f"\n10 concurrent sync writes over 2 connections to a hung DynamoDB, deadline 1 s: all answered "
                  f"in {elapsed:.2f} s")
            assert elapsed < 1.0 + MARGIN
            assert fake.connections < 10  # most never had a connection of their own
            assert sum("stayed busy" in str(e) for e in errors) >= 1
            assert len(_dead_letters(sc)) == 10
        finally:
            cluster.shutdown()
            sc.stop()


def test_sync_mirror_against_a_resetting_dynamodb(setup, cassandra, dynamodb, tmp_path):
    """Connections reset: the client retries while a retry fits and answers by the deadline. The
    replay, told that older sidecars still write the table (--no-single-call-writes), writes the
    whole item as they do: no per-cell overlay attribute they would not read."""
    _, m = setup
    with FakeEndpoint("reset") as fake:
        sc = _sidecar(setup, cassandra, tmp_path, fake.url, "--dynamodb-deadline", "1")
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            elapsed, err = _timed(lambda: s.execute(f"INSERT INTO {KS}.kv (id, v) VALUES (200, 'r')"))
            assert isinstance(err, WriteTimeout | WriteFailure), err
            assert elapsed < 1.0 + MARGIN
            assert fake.requests >= 2  # retried within the budget
            assert [d["origin"] for d in _dead_letters(sc)] == ["mirror"]
        finally:
            cluster.shutdown()
            sc.stop()
    rc, out = _replay(sc, setup, dynamodb, "--no-single-call-writes")
    assert rc == 0, out
    assert "1 applied, 0 still failing" in out
    tm = m.table(KS, "kv")
    item = ddb(dynamodb).get_item(TableName=tm.dynamodb_table, Key={tm.pk.attribute: {"N": "200"}},
                                  ConsistentRead=True)["Item"]
    assert "_m" in item and not [a for a in item if a.startswith(("_m.", "_m:"))], sorted(item)
    # the row as Cassandra has it (other tests here leave rows DynamoDB never got: this one only)
    assert [r["v"] for r in cassandra_rows(cassandra, tm, "WHERE id = 200")] == ["r"]
    assert item[tm.attribute_name("v")] == {"S": "r"}


def test_fallback_and_dynamo_phases_under_a_hung_dynamodb(setup, cassandra, dynamodb, tmp_path):
    _, m = setup
    cluster, direct = session_for(*cassandra, version=4)
    try:
        direct.execute(f"INSERT INTO {KS}.fb (id, v) VALUES (1, 'from-cassandra')")
    finally:
        cluster.shutdown()
    with FakeEndpoint("hang") as fake:
        sc = _sidecar(setup, cassandra, tmp_path, fake.url, "--dynamodb-deadline", "1")
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            # dynamo_fallback read: DynamoDB gets half the deadline, then Cassandra answers
            elapsed, rows = _timed(lambda: list(s.execute(f"SELECT v FROM {KS}.fb WHERE id = 1")))
            print(f"\ndynamo_fallback read, hung DynamoDB, deadline 1 s: answered from Cassandra in {elapsed:.2f} s")
            assert not isinstance(rows, Exception), rows
            assert [r.v for r in rows] == ["from-cassandra"]
            assert 0.5 - 0.05 <= elapsed < 1.0 + MARGIN
            assert _series(sc, "cdp_fallback_timeouts_total", table=f"{KS}.fb") == 1
            assert _series(sc, "cdp_deadline_exceeded_total", operation="fallback_read") == 1

            # dynamo read: READ_TIMEOUT, as Cassandra shapes it
            elapsed, err = _timed(lambda: s.execute(f"SELECT v FROM {KS}.dy WHERE id = 1"))
            print(f"dynamo read, hung DynamoDB, deadline 1 s: READ_TIMEOUT after {elapsed:.2f} s")
            assert isinstance(err, ReadTimeout), err
            assert (err.received_responses, err.required_responses, err.data_retrieved) == (0, 1, False)
            assert 1.0 - 0.05 <= elapsed < 1.0 + MARGIN
            assert _series(sc, "cdp_dynamo_read_timeouts_total", table=f"{KS}.dy") == 1

            # dynamo write: WRITE_TIMEOUT (the authoritative store did not answer), recorded
            elapsed, err = _timed(lambda: s.execute(f"INSERT INTO {KS}.dy (id, v) VALUES (2, 'dy')"))
            assert isinstance(err, WriteTimeout), err
            assert (err.received_responses, err.required_responses) == (0, 1)
            assert elapsed < 1.0 + MARGIN

            # dynamo_fallback write: WRITE_TIMEOUT, recorded, and Cassandra gets the shadow
            elapsed, err = _timed(lambda: s.execute(f"INSERT INTO {KS}.fb (id, v) VALUES (3, 'fb')"))
            assert isinstance(err, WriteTimeout), err
            assert "recorded for dead-letters replay and sent to Cassandra" in str(err)
            assert elapsed < 1.0 + MARGIN

            # a conditional one: CAS timeout, unresolved, no shadow
            elapsed, err = _timed(lambda: s.execute(f"INSERT INTO {KS}.fb (id, v) VALUES (4, 'lwt') IF NOT EXISTS"))
            assert isinstance(err, WriteTimeout), err
            assert err.write_type == WriteType.CAS and err.consistency == SERIAL
            assert elapsed < 1.0 + MARGIN
            assert _series(sc, "cdp_deadline_exceeded_total", operation="authoritative_write") == 3
        finally:
            cluster.shutdown()
            sc.stop()
    dead = _dead_letters(sc)
    assert sorted((d["table"], d["origin"]) for d in dead) == [
        (f"{KS}.dy", "authoritative"), (f"{KS}.fb", "authoritative"), (f"{KS}.fb", "unresolved")]
    fb = m.table(KS, "fb")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not cassandra_rows(cassandra, fb, "WHERE id = 3"):
        time.sleep(0.1)
    assert [r["v"] for r in cassandra_rows(cassandra, fb, "WHERE id = 3")] == ["fb"]
    assert cassandra_rows(cassandra, fb, "WHERE id = 4") == []

    # replay against a DynamoDB that works: the unknown outcomes become applied; the conditional
    # one is kept until the operator says it is settled
    rc, out = _replay(sc, setup, dynamodb)
    assert rc == 1 and "2 applied, 0 still failing" in out and "1 unresolved" in out, out
    client = ddb(dynamodb)
    for table, value in (("dy", "dy"), ("fb", "fb")):
        tm = m.table(KS, table)
        items = client.scan(TableName=tm.dynamodb_table)["Items"]
        assert any(i.get(tm.attribute_name("v")) == {"S": value} for i in items), (table, items)
    rc, out = _replay(sc, setup, dynamodb, "--forget-unresolved")
    assert rc == 0 and "forgotten" in out, out
    assert _dead_letters(sc) == []


def test_verify_reads_are_answered_by_cassandra_while_dynamodb_hangs(setup, cassandra, tmp_path):
    """verify: the client's answer never waits for the comparison, and comparisons end by their
    deadline (counted as skipped) instead of holding their slots."""
    with FakeEndpoint("hang") as fake:
        mapping, _ = setup
        sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", fake.url,
                           "--phases", f"{KS}.kv=verify", "--verify-sample", "100", "--verify-concurrency", "64",
                           "--dynamodb-deadline", "0.5",
                           env=AWS_ENV)
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            sel = s.prepare(f"SELECT v FROM {KS}.kv WHERE id = ?")
            lat = []
            for i in range(20):
                t = time.monotonic()
                s.execute(sel, (i,))
                lat.append(time.monotonic() - t)
            assert statistics.median(lat) < 0.2
            deadline = time.monotonic() + 0.5 + MARGIN
            while time.monotonic() < deadline and \
                    _series(sc, "cdp_deadline_exceeded_total", operation="verify_read") < 20:
                time.sleep(0.1)
            assert _series(sc, "cdp_deadline_exceeded_total", operation="verify_read") == 20
            assert _series(sc, "cdp_verify_skipped_total", table=f"{KS}.kv") == 20
        finally:
            cluster.shutdown()
            sc.stop()


def test_many_clients_see_errors_not_hangs(setup, cassandra, tmp_path):
    """A burst from several threads against a hung DynamoDB: every write answered by its deadline."""
    with FakeEndpoint("hang") as fake:
        sc = _sidecar(setup, cassandra, tmp_path, fake.url, "--dynamodb-deadline", "1")
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            ins = s.prepare(f"INSERT INTO {KS}.kv (id, v) VALUES (?, ?)")
            worst: list[float] = []
            kinds: list[str] = []

            def writer(base: int) -> None:
                futures = [(time.monotonic(), s.execute_async(ins, (base + i, "x"))) for i in range(25)]
                for t, f in futures:
                    try:
                        f.result()
                        kinds.append("ok")
                    except Exception as e:
                        kinds.append(type(e).__name__)
                    worst.append(time.monotonic() - t)

            threads = [threading.Thread(target=writer, args=(1000 * k,)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert kinds == ["WriteTimeout"] * 100
            assert max(worst) < 1.0 + MARGIN, max(worst)
            assert len(_dead_letters(sc)) == 100
        finally:
            cluster.shutdown()
            sc.stop()
