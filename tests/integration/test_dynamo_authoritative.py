"""Writes where DynamoDB decides (phases dynamo_fallback and dynamo), through real sidecars."""

from __future__ import annotations

import time

import pytest
from cassandra import InvalidRequest

from tests.conftest import start_sidecar

from .drivers import metric_sum, session_for
from .stores import AWS_ENV, assert_stores_equal, cassandra_rows, mapped_keyspace, scan_items

pytestmark = pytest.mark.integration

KS = "cdp_da"


@pytest.fixture(scope="module")
def setup(cassandra, dynamodb, tmp_path_factory):
    with mapped_keyspace(cassandra, dynamodb, KS, [
        f"CREATE TABLE {KS}.kv (id int PRIMARY KEY, name text, n int, tags set<text>)",
        f"CREATE TABLE {KS}.log (src text, seq int, msg text, PRIMARY KEY (src, seq))",
        f"CREATE TABLE {KS}.hits (page text PRIMARY KEY, n counter)",
        f"CREATE TABLE {KS}.st (p int, c int, s text static, v text, PRIMARY KEY (p, c))",
    ], tmp_path_factory.mktemp("da"), "da") as mapped:
        yield mapped


def _sidecar(setup, cassandra, dynamodb, tmp_path_factory, phase: str):
    mapping, _ = setup
    phases = ",".join(f"{KS}.{t}={phase}" for t in ("kv", "log", "hits"))
    return start_sidecar(cassandra, tmp_path_factory.mktemp(phase), "--mapping", str(mapping),
                         "--dynamodb-endpoint", dynamodb, "--phases", phases, env=AWS_ENV)


@pytest.fixture(scope="module")
def fallback(setup, cassandra, dynamodb, tmp_path_factory):
    sc = _sidecar(setup, cassandra, dynamodb, tmp_path_factory, "dynamo_fallback")
    yield sc
    sc.stop()


@pytest.fixture(scope="module")
def dynamo_only(setup, cassandra, dynamodb, tmp_path_factory):
    sc = _sidecar(setup, cassandra, dynamodb, tmp_path_factory, "dynamo")
    yield sc
    sc.stop()


def test_fallback_writes_reach_dynamodb_then_cassandra_with_the_same_timestamps(setup, fallback, cassandra,
                                                                                dynamodb):
    _, m = setup
    cluster, s = session_for(fallback.host, fallback.port, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.log (src, seq, msg) VALUES (?, ?, ?)")
        for i in range(20):
            s.execute(ins, ("a", i, f"m{i}"))
        s.execute(f"UPDATE {KS}.log SET msg = 'changed' WHERE src = 'a' AND seq = 3")
        s.execute(f"DELETE FROM {KS}.log WHERE src = 'a' AND seq = 4")
        s.execute(f"DELETE FROM {KS}.log WHERE src = 'a' AND seq >= 15")
        s.execute(f"BEGIN BATCH INSERT INTO {KS}.log (src, seq, msg) VALUES ('b', 1, 'x'); "
                  f"INSERT INTO {KS}.kv (id, name, n, tags) VALUES (1, 'one', 1, {{'t'}}) APPLY BATCH")
        s.execute(f"UPDATE {KS}.hits SET n = n + 5 WHERE page = 'home'")
        s.execute(f"UPDATE {KS}.hits SET n = n + 2 WHERE page = 'home'")
    finally:
        cluster.shutdown()
    for table in ("log", "kv", "hits"):
        tm = m.table(KS, table)
        assert assert_stores_equal(cassandra, dynamodb, tm) > 0, table
    # the shadow carries the timestamp DynamoDB got
    tm = m.table(KS, "log")
    cluster, s = session_for(*cassandra, version=4)
    try:
        wt = s.execute(f"SELECT writetime(msg) FROM {KS}.log WHERE src = 'a' AND seq = 3").one()[0]
    finally:
        cluster.shutdown()
    item = next(i for i in scan_items(dynamodb, tm.dynamodb_table) if i[tm.attribute_name("msg")] == {"S": "changed"})
    assert int(item[tm.timestamp_attribute]["N"]) == wt


def test_dynamo_phase_writes_only_dynamodb(setup, dynamo_only, cassandra, dynamodb):
    _, m = setup
    tm = m.table(KS, "kv")
    cluster, s = session_for(dynamo_only.host, dynamo_only.port, version=4)
    try:
        s.execute(f"INSERT INTO {KS}.kv (id, name, n) VALUES (500, 'dynamo-only', 5)")
    finally:
        cluster.shutdown()
    assert cassandra_rows(cassandra, tm, "WHERE id = 500") == []
    got = [i for i in scan_items(dynamodb, tm.dynamodb_table) if i[tm.attribute_name("name")] == {"S": "dynamo-only"}]
    assert len(got) == 1


def test_lwt_is_decided_by_dynamodb(setup, fallback, dynamo_only, cassandra, dynamodb):
    _, m = setup
    tm = m.table(KS, "kv")
    # a row only DynamoDB holds: Cassandra alone would apply IF NOT EXISTS
    c1, s1 = session_for(dynamo_only.host, dynamo_only.port, version=4)
    try:
        s1.execute(f"INSERT INTO {KS}.kv (id, name, n) VALUES (600, 'first', 1)")
    finally:
        c1.shutdown()
    cluster, s = session_for(fallback.host, fallback.port, version=4)
    try:
        r = s.execute(f"INSERT INTO {KS}.kv (id, name, n) VALUES (600, 'second', 2) IF NOT EXISTS")
        assert r.column_names == ["[applied]", "id", "n", "name", "tags"]
        assert tuple(r.one()) == (False, 600, 1, "first", None)
        r = s.execute(f"UPDATE {KS}.kv SET n = 3 WHERE id = 600 IF name = 'nope'")
        assert r.column_names == ["[applied]", "name"]
        assert tuple(r.one()) == (False, "first")
        r = s.execute(s.prepare(f"UPDATE {KS}.kv SET n = ? WHERE id = ? IF name = ?"), (7, 600, "first"))
        assert r.column_names == ["[applied]"] and r.one()[0] is True
        r = s.execute(f"UPDATE {KS}.kv SET n = 3 WHERE id = 601 IF EXISTS")
        assert r.column_names == ["[applied]"] and r.one()[0] is False
        r = s.execute(f"INSERT INTO {KS}.kv (id, name) VALUES (602, 'new') IF NOT EXISTS")
        assert r.one()[0] is True
        with pytest.raises(InvalidRequest, match=r"cdp_da\.kv: the condition tags CONTAINS 'a'"):
            s.execute(f"UPDATE {KS}.kv SET n = 1 WHERE id = 600 IF tags CONTAINS 'a'")
    finally:
        cluster.shutdown()
    # the applied conditional update reached Cassandra as an unconditional shadow
    assert cassandra_rows(cassandra, tm, "WHERE id = 600") == [{"id": 600, "n": 7, "name": None, "tags": None}]
    assert cassandra_rows(cassandra, tm, "WHERE id = 602") == [{"id": 602, "n": None, "name": "new", "tags": None}]
    item = next(i for i in scan_items(dynamodb, tm.dynamodb_table) if i[tm.attribute_name("name")] == {"S": "first"})
    assert item[tm.attribute_name("n")] == {"N": "7"}


def test_fallback_misses_and_rollout_share(setup, cassandra, dynamodb, tmp_path):
    """Rows only Cassandra holds: partitions inside the share read DynamoDB first, miss, and are
    answered from Cassandra (counted); the others stay in verify (answered by Cassandra, compared,
    and reported as mismatches since DynamoDB lacks them)."""
    import json
    import urllib.request

    from proxy.writes.dual_write import partition_bucket


    mapping, m = setup
    tm = m.table(KS, "log")
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       "--phases", f"{KS}.log=verify", "--control", f"file:{tmp_path}/control",
                       "--control-poll-interval", "0.2", "--verify-sample", "100", "--verify-concurrency", "1000",
                       env=AWS_ENV)
    try:
        req = urllib.request.Request(f"{sc.admin_url}/phases/{KS}.log", method="PUT",
                                     # forced: the rows only Cassandra holds are the point here,
                                     # so no validate could be clean (the cutover gate)
                                     data=json.dumps({"phase": "dynamo_fallback", "share": 50,
                                                      "force": True}).encode(),
                                     headers={"Authorization": f"Bearer {sc.token}"})
        urllib.request.urlopen(req, timeout=10).read()
        direct, ds = session_for(*cassandra, version=4)
        srcs = [f"only-cassandra-{i}" for i in range(40)]
        try:
            for src in srcs:
                ds.execute(f"INSERT INTO {KS}.log (src, seq, msg) VALUES (%s, 1, 'old')", (src,))
        finally:
            direct.shutdown()
        inside = [s for s in srcs if partition_bucket(tm, (s,)) < 50]
        assert 5 < len(inside) < 35
        time.sleep(1.0)  # the watcher polls every 0.2 s
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            sel = s.prepare(f"SELECT src, seq, msg FROM {KS}.log WHERE src = ?")
            for src in srcs:
                assert [tuple(r) for r in s.execute(sel, (src,))] == [(src, 1, "old")]
        finally:
            cluster.shutdown()
        assert metric_sum(sc, "cdp_fallback_misses_total") == len(inside)
        deadline = time.monotonic() + 20  # each difference is read again before it counts
        while metric_sum(sc, "cdp_verify_mismatches_total") < len(srcs) - len(inside):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert metric_sum(sc, "cdp_verify_mismatches_total") == len(srcs) - len(inside)
    finally:
        sc.stop()


def test_logged_batch_is_all_or_nothing_in_dynamodb(setup, dynamo_only, dynamodb):
    """A logged batch where DynamoDB decides is one TransactWriteItems: several rows and tables,
    written together through the driver's BatchStatement (protocol BATCH) and as CQL text."""
    from cassandra.query import BatchStatement, BatchType

    cluster, s = session_for(dynamo_only.host, dynamo_only.port, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.log (src, seq, msg) VALUES (?, ?, ?)")
        b = BatchStatement(batch_type=BatchType.LOGGED)
        for i in range(5):
            b.add(ins, ("tx", i, f"t{i}"))
        b.add(f"INSERT INTO {KS}.kv (id, name) VALUES (700, 'tx')")
        s.execute(b)
        s.execute(f"BEGIN BATCH UPDATE {KS}.log SET msg = 'u' WHERE src = 'tx' AND seq = 0; "
                  f"DELETE FROM {KS}.log WHERE src = 'tx' AND seq = 4 APPLY BATCH")
        rows = [(r.seq, r.msg) for r in s.execute(f"SELECT seq, msg FROM {KS}.log WHERE src = 'tx'")]
        assert rows == [(0, "u"), (1, "t1"), (2, "t2"), (3, "t3")]
        assert s.execute(f"SELECT name FROM {KS}.kv WHERE id = 700").one().name == "tx"
    finally:
        cluster.shutdown()
    calls = metric_sum(dynamo_only, 'cdp_dynamodb_requests_total{operation="TransactWriteItems"}')
    assert calls >= 2


def test_fallback_read_repair_copies_missed_partitions_with_their_timestamps(setup, cassandra, dynamodb,
                                                                            tmp_path):
    mapping, m = setup
    tm = m.table(KS, "kv")
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       "--phases", f"{KS}.kv=dynamo_fallback,{KS}.log=dynamo_fallback", "--fallback-read-repair",
                       env=AWS_ENV)
    try:
        direct, ds = session_for(*cassandra, version=4)
        try:
            ds.execute(f"INSERT INTO {KS}.kv (id, name, n, tags) VALUES (900, 'old', 1, {{'a', 'b'}}) "
                       f"USING TIMESTAMP 1000")
            ds.execute(f"UPDATE {KS}.kv USING TTL 3600 SET n = 2 WHERE id = 900")
            for seq in range(3):
                ds.execute(f"INSERT INTO {KS}.log (src, seq, msg) VALUES ('repair', {seq}, 'r{seq}')")
        finally:
            direct.shutdown()
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            assert s.execute(f"SELECT name, n FROM {KS}.kv WHERE id = 900").one() == ("old", 2)
            assert len(list(s.execute(f"SELECT * FROM {KS}.log WHERE src = 'repair'"))) == 3
            deadline = time.monotonic() + 10
            while metric_sum(sc, "cdp_read_repair_rows_total") < 4:
                assert time.monotonic() < deadline, sc.log()[-2000:]
                time.sleep(0.05)
            # now DynamoDB answers: no further miss
            misses = metric_sum(sc, "cdp_fallback_misses_total")
            row = s.execute(f"SELECT name, n, ttl(n), writetime(name) FROM {KS}.kv WHERE id = 900").one()
            assert row[:2] == ("old", 2) and 3500 < row[2] <= 3600 and row[3] == 1000  # from DynamoDB now
            assert metric_sum(sc, "cdp_fallback_misses_total") == misses
        finally:
            cluster.shutdown()
    finally:
        sc.stop()
    item = next(i for i in scan_items(dynamodb, tm.dynamodb_table) if i.get(tm.attribute_name("name")) == {"S": "old"})
    assert int(item[tm.timestamp_attribute]["N"]) > 1000  # the TTL'd update's own timestamp is kept
    rows = cassandra_rows(cassandra, tm, "WHERE id = 900")
    from translators.compare import compare

    assert compare(tm, rows, [item]) == []


def test_static_columns_with_one_ascending_int_clustering_column(setup, cassandra, dynamodb, tmp_path):
    """Such a table gets the byte-comparable sort key (its static row needs a key no clustering
    value takes): static writes and reads work where DynamoDB decides."""
    mapping, m = setup
    tm = m.table(KS, "st")
    assert tm.sk is not None and tm.sk.encoding == "bytecomparable"
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       "--phases", f"{KS}.st=dynamo_fallback", env=AWS_ENV)
    try:
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            s.execute(f"INSERT INTO {KS}.st (p, c, s, v) VALUES (1, 1, 'shared', 'a')")
            s.execute(f"INSERT INTO {KS}.st (p, c, v) VALUES (1, 2, 'b')")
            s.execute(f"UPDATE {KS}.st SET s = 'changed' WHERE p = 1")
            rows = [tuple(r) for r in s.execute(f"SELECT c, s, v FROM {KS}.st WHERE p = 1")]
            assert rows == [(1, "changed", "a"), (2, "changed", "b")]
        finally:
            cluster.shutdown()
    finally:
        sc.stop()
    assert assert_stores_equal(cassandra, dynamodb, tm) == 3  # two rows and the static row
