"""Phase dual_write through a real sidecar: every write reaches Cassandra and DynamoDB, and
DynamoDB ends up holding exactly what Cassandra holds, row for row."""

from __future__ import annotations

import datetime
import decimal
import os
import time
import uuid

import pytest
from cassandra.query import BatchStatement, BatchType

from .drivers import metric, metric_sum, session_for
from .stores import AWS_ENV, assert_stores_equal, ddb, mapped_keyspace

pytestmark = pytest.mark.integration

KS = "cdp_dw"


@pytest.fixture(scope="module")
def setup(cassandra, dynamodb, tmp_path_factory):
    """Schema in Cassandra, a mapping made by `mapping init` with the tables in dual_write, and the
    DynamoDB tables made by `tables create`."""
    with mapped_keyspace(cassandra, dynamodb, KS, [
        f"""CREATE TABLE {KS}.kv (id int PRIMARY KEY, name text, n bigint, price decimal, d double,
            flag boolean, at timestamp, day date, u uuid, payload blob, ip inet,
            tags set<text>, attrs map<text, int>, trail list<int>, pair frozen<tuple<int, text>>)""",
        f"CREATE TYPE {KS}.addr (street text, zip int)",
        f"CREATE TABLE {KS}.log (src text, seq int, msg text, PRIMARY KEY (src, seq))",
        f"""CREATE TABLE {KS}.alltypes (k int PRIMARY KEY, a ascii, ti tinyint, si smallint, vi varint,
            f float, tm time, du duration, tu timeuuid, ad frozen<addr>, ve vector<float, 3>,
            nest map<text, frozen<list<int>>>, sets list<frozen<set<int>>>, fm frozen<map<int, text>>)""",
        f"CREATE TABLE {KS}.events (id uuid, at timestamp, kind text, seq int, "
        f"PRIMARY KEY (id, at)) WITH CLUSTERING ORDER BY (at DESC)",
    ], tmp_path_factory.mktemp("dw"), "t",
        edit=lambda text: text.replace("phase: cassandra", "phase: dual_write")) as mapped:
        yield mapped


@pytest.fixture(scope="module")
def dw_sidecar(setup, cassandra, dynamodb, tmp_path_factory):
    from tests.conftest import start_sidecar

    mapping, _ = setup
    sc = start_sidecar(cassandra, tmp_path_factory.mktemp("dwsc"), "--mapping", str(mapping),
                       "--dynamodb-endpoint", dynamodb, env=AWS_ENV)
    yield sc
    sc.stop()


def _assert_equal(cassandra, dynamodb, m, table: str) -> int:
    return assert_stores_equal(cassandra, dynamodb, m.table(KS, table))


def test_every_write_form_lands_equal_in_dynamodb(setup, dw_sidecar, cassandra, dynamodb):
    _, m = setup
    cluster, s = session_for(dw_sidecar.host, dw_sidecar.port, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.kv (id, name, n, price, d, flag, at, day, u, payload, ip, tags, attrs, "
                        f"trail, pair) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        for i in range(30):
            s.execute(ins, (i, f"name-{i}", 2**40 + i, decimal.Decimal(f"{i}.50"), i / 3, i % 2 == 0,
                            datetime.datetime(2024, 1, 1) + datetime.timedelta(seconds=i),
                            datetime.date(2024, 2, 1), uuid.uuid4(), bytes([i]) * 5, "10.0.0.1",
                            {f"t{i}", "all"}, {"a": i}, [i, i + 1], (i, "x")))
        # literal statements, updates, collection operations, deletes
        s.execute(f"INSERT INTO {KS}.kv (id, name, tags) VALUES (100, 'literal', {{'p', 'q'}})")
        s.execute(f"UPDATE {KS}.kv SET name = 'renamed', n = 7 WHERE id = 1")
        s.execute(f"UPDATE {KS}.kv SET tags = tags + {{'added'}}, attrs['b'] = 2, trail = trail + [99] WHERE id = 2")
        s.execute(f"UPDATE {KS}.kv SET tags = tags - {{'all'}}, trail = [0] + trail WHERE id = 3")
        s.execute(f"DELETE name, attrs['a'] FROM {KS}.kv WHERE id = 4")
        s.execute(f"DELETE FROM {KS}.kv WHERE id = 5")
        s.execute(f"INSERT INTO {KS}.kv (id, name) VALUES (6, null)")
        s.execute(s.prepare(f"UPDATE {KS}.kv SET name = ? WHERE id IN (?, ?)"), ("in-list", 7, 8))
        # client timestamps, older than what is there: Cassandra and DynamoDB both keep the newer
        s.execute(f"UPDATE {KS}.kv USING TIMESTAMP 1000 SET name = 'too-old' WHERE id = 9")
        # TTL
        s.execute(f"INSERT INTO {KS}.kv (id, name) VALUES (200, 'ttl') USING TTL 3600")
        # batches
        b = BatchStatement(batch_type=BatchType.LOGGED)
        b.add(ins, (300, "batched", 1, decimal.Decimal("1"), 1.0, True, None, None, None, None, None, None, None,
                    None, None))
        b.add(f"UPDATE {KS}.kv SET name = 'b2' WHERE id = 301")
        b.add(f"DELETE FROM {KS}.kv WHERE id = 10")
        s.execute(b)
        # LWT: only applied writes are mirrored
        assert s.execute(f"INSERT INTO {KS}.kv (id, name) VALUES (400, 'lwt') IF NOT EXISTS").was_applied
        assert not s.execute(f"INSERT INTO {KS}.kv (id, name) VALUES (400, 'lost') IF NOT EXISTS").was_applied
        assert s.execute(f"UPDATE {KS}.kv SET name = 'lwt2' WHERE id = 400 IF name = 'lwt'").was_applied
        # clustering, DESC order, partition delete
        ev = s.prepare(f"INSERT INTO {KS}.events (id, at, kind, seq) VALUES (?, ?, ?, ?)")
        ids = [uuid.uuid4() for _ in range(3)]
        for e in ids:
            for j in range(5):
                s.execute(ev, (e, datetime.datetime(2024, 5, 1, 12, 0, j), f"k{j}", j))
        s.execute(f"DELETE FROM {KS}.events WHERE id = {ids[0]}")
        s.execute(f"DELETE FROM {KS}.events WHERE id = {ids[1]} AND at = '2024-05-01 12:00:02+0000'")
    finally:
        cluster.shutdown()
    assert _assert_equal(cassandra, dynamodb, m, "kv") > 30
    assert _assert_equal(cassandra, dynamodb, m, "events") == 9
    assert metric(dw_sidecar, "cdp_dual_writes_total") >= 60
    assert metric(dw_sidecar, "cdp_lwt_not_applied_total") == 1
    assert metric(dw_sidecar, "cdp_dual_write_failures_total") == 0


def test_writes_from_two_sidecars_with_out_of_order_timestamps_converge(setup, dw_sidecar, cassandra, dynamodb,
                                                                         tmp_path):
    from tests.conftest import start_sidecar

    mapping, m = setup
    other = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                          env=AWS_ENV)
    try:
        c1, s1 = session_for(dw_sidecar.host, dw_sidecar.port, version=4)
        c2, s2 = session_for(other.host, other.port, version=5)
        base = int(time.time() * 1e6)
        futures = []
        for i in range(500, 560):
            # each key gets a newer write through one sidecar and an older one through the other,
            # sent in the opposite order
            futures.append(s2.execute_async(f"INSERT INTO {KS}.kv (id, name, n) VALUES ({i}, 'new', 2) "
                                            f"USING TIMESTAMP {base + 10}"))
            futures.append(s1.execute_async(f"INSERT INTO {KS}.kv (id, name, n) VALUES ({i}, 'old', 1) "
                                            f"USING TIMESTAMP {base}"))
            futures.append(s1.execute_async(f"UPDATE {KS}.kv USING TIMESTAMP {base + 5} SET d = 0.5 WHERE id = {i}"))
        for f in futures:
            f.result()
        c1.shutdown()
        c2.shutdown()
    finally:
        other.stop()
    _assert_equal(cassandra, dynamodb, m, "kv")


def test_queued_writes_survive_a_killed_sidecar(setup, cassandra, dynamodb, tmp_path):
    """Queued mode: the client is answered after Cassandra and the journal. The sidecar is killed
    while DynamoDB is unreachable (so everything is still queued); the next start replays it."""
    import signal

    from tests.conftest import free_port, start_sidecar

    mapping, m = setup
    queued = tmp_path / "queued.yaml"
    queued.write_text(mapping.read_text().replace("write_mode: sync", "write_mode: queued"))
    state = tmp_path / "state"
    down = start_sidecar(cassandra, tmp_path, "--mapping", str(queued), "--state-dir", str(state),
                         "--dynamodb-endpoint", f"http://127.0.0.1:{free_port()}", env=AWS_ENV)
    cluster, s = session_for(down.host, down.port, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.kv (id, name, tags) VALUES (?, ?, ?)")
        t0 = time.monotonic()
        for i in range(700, 760):
            s.execute(ins, (i, f"queued-{i}", {"q"}))
        assert time.monotonic() - t0 < 20  # answered without waiting for DynamoDB
    finally:
        cluster.shutdown()
    down.stop(sig=signal.SIGKILL)
    up = start_sidecar(cassandra, tmp_path, "--mapping", str(queued), "--state-dir", str(state),
                       "--dynamodb-endpoint", dynamodb, env=AWS_ENV)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _assert_equal(cassandra, dynamodb, m, "kv")
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert "(60 writes replayed)" in up.log()
    finally:
        up.stop()



def test_every_cql_type_lands_equal(setup, dw_sidecar, cassandra, dynamodb):
    from cassandra.util import Duration

    _, m = setup
    cluster, s = session_for(dw_sidecar.host, dw_sidecar.port, version=5, compression="lz4")
    try:
        ins = s.prepare(f"INSERT INTO {KS}.alltypes (k, a, ti, si, vi, f, tm, du, tu, ad, ve, nest, sets, fm) "
                        f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        for i in range(10):
            s.execute(ins, (i, f"ascii-{i}", -i, 300 * i, 10**30 + i, i + 0.25, 3_600_000_000_000 + i,
                            (Duration(1, i, 5) if i % 2 else Duration(-1, -i, -5)), uuid.uuid1(), (f"s{i}", i),
                            [1.0, float(i), -2.5], {"x": [i, i], "y": []}, [{1, 2}, {i}], {i: "v"}))
        s.execute(ins, (100, None, None, None, None, None, None, None, None, None, None, None, None, None))
        s.execute(f"INSERT INTO {KS}.alltypes (k, a, ti, vi, f, du, ad, ve, nest, fm) VALUES (200, 'lit', 5, "
                  f"-123456789012345678901234567890, 1.5, 1h30m, {{street: 'x', zip: 1}}, [1.0, 2.0, 3.0], "
                  f"{{'k': [1, 2]}}, {{1: 'a', 2: 'b'}})")
        s.execute(f"UPDATE {KS}.alltypes SET nest['z'] = [9], sets = sets + [{{7}}] WHERE k = 3")
    finally:
        cluster.shutdown()
    assert _assert_equal(cassandra, dynamodb, m, "alltypes") == 12


def test_items_over_400kb_are_refused_before_either_store_has_them(setup, dw_sidecar, cassandra):
    from cassandra import InvalidRequest

    cluster, s = session_for(dw_sidecar.host, dw_sidecar.port, version=4)
    try:
        with pytest.raises(InvalidRequest, match=r"cdp_dw\.kv: .*400 KB item limit"):
            s.execute(s.prepare(f"INSERT INTO {KS}.kv (id, payload) VALUES (?, ?)"), (900, b"\x01" * 500_000))
        assert s.execute(f"SELECT id FROM {KS}.kv WHERE id = 900").one() is None
        s.execute(s.prepare(f"INSERT INTO {KS}.kv (id, payload) VALUES (?, ?)"), (901, b"\x01" * 300_000))
    finally:
        cluster.shutdown()


def test_dynamodb_unreachable_in_sync_mode_reads_keep_serving_and_writes_say_why(setup, cassandra, tmp_path):
    from cassandra import WriteFailure

    from tests.conftest import free_port, start_sidecar

    mapping, _ = setup
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping),
                       "--dynamodb-endpoint", f"http://127.0.0.1:{free_port()}", env=AWS_ENV)
    cluster, s = session_for(sc.host, sc.port, version=4)
    try:
        with pytest.raises(WriteFailure, match="written to Cassandra but not to DynamoDB"):
            s.execute(f"INSERT INTO {KS}.kv (id, name) VALUES (950, 'only-cassandra')")
        # Cassandra has it and keeps answering reads through the same sidecar
        assert s.execute(f"SELECT name FROM {KS}.kv WHERE id = 950").one().name == "only-cassandra"
        assert metric(sc, "cdp_dual_write_failures_total") == 1
        assert metric_sum(sc, "cdp_dynamodb_unavailable_total") >= 1
    finally:
        cluster.shutdown()
        sc.stop()
    # the divergence this test made on purpose goes away, so later comparisons stay exact
    direct, ds = session_for(*cassandra, version=4)
    ds.execute(f"DELETE FROM {KS}.kv WHERE id = 950")
    direct.shutdown()



def test_insert_only_tables_are_batched_25_per_call(setup, cassandra, dynamodb, tmp_path):
    import yaml

    from tests.conftest import start_sidecar

    mapping, m = setup
    raw = yaml.safe_load(mapping.read_text())
    for t in raw["tables"]:
        if t["cql"] == f"{KS}.log":
            t.update(write_mode="queued", write_condition="none")
    insert_only = tmp_path / "insert-only.yaml"
    insert_only.write_text(yaml.safe_dump(raw, sort_keys=False))
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(insert_only), "--state-dir", str(tmp_path / "st"),
                       "--dynamodb-endpoint", dynamodb, env=AWS_ENV)
    cluster, s = session_for(sc.host, sc.port, version=4)
    try:
        from cassandra.concurrent import execute_concurrent_with_args

        ins = s.prepare(f"INSERT INTO {KS}.log (src, seq, msg) VALUES (?, ?, ?)")
        execute_concurrent_with_args(s, ins, [(f"s{i % 3}", i, f"m{i}") for i in range(300)], concurrency=50)
        deadline = time.monotonic() + 30
        while metric_sum(sc, "cdp_journal_backlog") > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _assert_equal(cassandra, dynamodb, m, "log") == 300
        batches = metric(sc, 'cdp_dynamodb_requests_total{operation="BatchWriteItem"}')
        puts = metric(sc, 'cdp_dynamodb_requests_total{operation="PutItem"}')
        assert batches >= 1 and batches + puts < 300
        assert metric(sc, 'cdp_dynamodb_requests_total{operation="GetItem"}') == 0  # no read-merge
    finally:
        cluster.shutdown()
        sc.stop()


def test_large_items_compressed_when_the_table_says_so(setup, cassandra, dynamodb, tmp_path):
    import yaml
    from cassandra import InvalidRequest

    from tests.conftest import start_sidecar

    mapping, m = setup
    raw = yaml.safe_load(mapping.read_text())
    for t in raw["tables"]:
        if t["cql"] == f"{KS}.kv":
            t["large_items"] = "compress"
    compressing = tmp_path / "compress.yaml"
    compressing.write_text(yaml.safe_dump(raw, sort_keys=False))
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(compressing), "--dynamodb-endpoint", dynamodb,
                       env=AWS_ENV)
    cluster, s = session_for(sc.host, sc.port, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.kv (id, payload, name) VALUES (?, ?, ?)")
        s.execute(ins, (1000, b"abc" * 200_000, "big but compressible"))  # 600 KB
        with pytest.raises(InvalidRequest, match=r"even compressed, over the 400 KB"):
            s.execute(ins, (1001, os.urandom(500_000), "big and random"))
        assert s.execute(f"SELECT id FROM {KS}.kv WHERE id = 1001").one() is None
    finally:
        cluster.shutdown()
        sc.stop()
    from translators.item_codec import key_item

    tm = m.table(KS, "kv")
    item = ddb(dynamodb).get_item(TableName=tm.dynamodb_table, Key=key_item(tm, (1000,), ()), ConsistentRead=True)["Item"]
    assert "_z" in item and "payload" not in item  # stored compressed
    _assert_equal(cassandra, dynamodb, m, "kv")


def test_mixed_workload_from_two_sidecars_leaves_the_stores_equal(setup, dw_sidecar, cassandra, dynamodb,
                                                                   tmp_path):
    """Every kind of write at once through two sidecars on overlapping keys: inserts of every
    type, collection updates, column and row deletes, TTLs, LWTs and batches."""
    import random

    from cassandra.util import Duration

    from tests.conftest import start_sidecar

    mapping, m = setup
    other = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                          env=AWS_ENV)
    rng = random.Random(5)
    c1, s1 = session_for(dw_sidecar.host, dw_sidecar.port, version=4, compression="lz4")
    c2, s2 = session_for(other.host, other.port, version=5)
    try:
        prepared = {}
        for name, s in (("a", s1), ("b", s2)):
            prepared[name] = {
                "ins": s.prepare(f"INSERT INTO {KS}.kv (id, name, n, price, tags, attrs, trail, pair) "
                                 f"VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                "all": s.prepare(f"INSERT INTO {KS}.alltypes (k, a, ti, si, vi, f, tm, du, tu, ad, ve, nest, "
                                 f"sets, fm) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"),
            }
        futures = []
        keys = range(2000, 2040)
        for step in range(600):
            name, s = ("a", s1) if rng.random() < 0.5 else ("b", s2)
            k = rng.choice(keys)
            r = rng.random()
            if r < 0.2:
                futures.append(s.execute_async(prepared[name]["ins"], (
                    k, f"n{step}", step, decimal.Decimal(f"{step}.{k}"), {f"t{step % 5}"}, {"s": step},
                    [step], (step, "p"))))
            elif r < 0.3:
                futures.append(s.execute_async(
                    f"UPDATE {KS}.kv SET tags = tags + {{'u{step % 3}'}}, attrs['k{step % 4}'] = {step}, "
                    f"n = {step} WHERE id = {k}"))
            elif r < 0.35:
                # Cassandra orders list elements by when its coordinator applied the append, which
                # no sidecar can observe: appends are made one at a time here (see docs/dual-write.md)
                s1.execute(f"UPDATE {KS}.kv SET trail = trail + [{step}] WHERE id = {k}")
            elif r < 0.45:
                futures.append(s.execute_async(f"UPDATE {KS}.kv SET tags = tags - {{'t{step % 5}'}} WHERE id = {k}"))
            elif r < 0.52:
                futures.append(s.execute_async(f"DELETE name, attrs FROM {KS}.kv WHERE id = {k}"))
            elif r < 0.57:
                futures.append(s.execute_async(f"DELETE FROM {KS}.kv WHERE id = {k}"))
            elif r < 0.62:
                futures.append(s.execute_async(
                    f"INSERT INTO {KS}.kv (id, name) VALUES ({k + 1000}, 'lwt{step}') IF NOT EXISTS"))
            elif r < 0.72:
                b = BatchStatement(batch_type=BatchType.LOGGED)
                b.add(f"UPDATE {KS}.kv SET name = 'batch{step}' WHERE id = {k}")
                b.add(f"INSERT INTO {KS}.kv (id, n) VALUES ({rng.choice(keys)}, {step})")
                futures.append(s.execute_async(b))
            else:
                futures.append(s.execute_async(prepared[name]["all"], (
                    k, "x" * (step % 7), step % 100, -step, 10**25 * step, step / 8, step * 1000,
                    Duration(0, step % 3, step), uuid.uuid1(), (f"st{step}", step), [0.5, float(step), 2.0],
                    {"n": [step]}, [{step}], {step: "v"}, rng.choice([0, 3600]))))
            if len(futures) >= 40:
                for f in futures:
                    f.result()
                futures = []
        for f in futures:
            f.result()
    finally:
        c1.shutdown()
        c2.shutdown()
        other.stop()
    _assert_equal(cassandra, dynamodb, m, "kv")
    _assert_equal(cassandra, dynamodb, m, "alltypes")


def test_now_and_uuid_are_pinned_so_both_stores_hold_the_same_values(setup, dw_sidecar, cassandra, dynamodb):
    _, m = setup
    cluster, s = session_for(dw_sidecar.host, dw_sidecar.port, version=4)
    try:
        s.execute(f"INSERT INTO {KS}.kv (id, u, at, day) VALUES (3000, uuid(), toTimestamp(now()), currentDate())")
        s.execute(f"UPDATE {KS}.kv SET at = currentTimestamp() WHERE id = 3001")
        row = s.execute(f"SELECT u, at, day FROM {KS}.kv WHERE id = 3000").one()
        assert row.u is not None and row.at is not None and row.day is not None
    finally:
        cluster.shutdown()
    _assert_equal(cassandra, dynamodb, m, "kv")
    assert metric(dw_sidecar, "cdp_untranslatable_statements_total") == 0
