"""`large_items: s3` through a real sidecar in dual_write: Cassandra, DynamoDB Local and MinIO.

Rows far over DynamoDB's 400 KB land as pointer items whose payload is an S3 object; the stores
compare equal once pointers are resolved; replaced, shrunk and deleted rows leave no orphan objects;
an unreachable S3 makes a sync write fail with the documented error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import boto3
import orjson
import pytest
from botocore.config import Config as BotoConfig
from cassandra import WriteFailure

from proxy.aws.dynamodb_client import dumps
from proxy.aws.s3_client import S3Client
from proxy.aws.sigv4 import FrozenCredentials
from proxy.writes.large_items import LargeItems
from tests.conftest import ROOT, S3_ACCESS_KEY, S3_SECRET_KEY, free_port, start_sidecar
from translators.compare import compare
from translators.driver_values import row_from_driver
from translators.item_codec import POINTER
from translators.item_size import item_size
from translators.mapping import load_mapping

from .drivers import metric, session_for

pytestmark = pytest.mark.integration

KS = "s3_large"
AWS_ENV = {"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1"}
MB = 1024 * 1024


@pytest.fixture(scope="module")
def dynamodb(backends) -> str:
    backends.ensure("dynamodb")
    return f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}"


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **AWS_ENV}, timeout=timeout)


def _ddb(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def _bucket_client(endpoint: str) -> Any:
    """boto3's S3 client: an oracle independent of the sidecar's own."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=S3_ACCESS_KEY,
                        aws_secret_access_key=S3_SECRET_KEY, config=BotoConfig(s3={"addressing_style": "path"}))


def _objects(s3c: Any, bucket: str, prefix: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for page in s3c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def _our_s3(endpoint: str) -> S3Client:
    return S3Client(endpoint=endpoint, region="us-east-1",
                    credentials=lambda: FrozenCredentials(S3_ACCESS_KEY, S3_SECRET_KEY))


@pytest.fixture(scope="module")
def setup(cassandra, dynamodb, s3, tmp_path_factory):
    cluster, s = session_for(*cassandra, version=4)
    s.execute(f"DROP KEYSPACE IF EXISTS {KS}")
    s.execute(f"CREATE KEYSPACE {KS} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    s.execute(f"CREATE TABLE {KS}.blobs (id int PRIMARY KEY, body blob, note text, tags set<text>)")
    s.execute(f"CREATE TABLE {KS}.docs (id int, part int, content text, PRIMARY KEY (id, part))")
    cluster.shutdown()
    bucket = f"s3-large-{uuid.uuid4().hex[:8]}"
    s3c = _bucket_client(s3)
    s3c.create_bucket(Bucket=bucket)
    d = tmp_path_factory.mktemp("s3")
    mapping = d / "mapping.yaml"
    prefix = f"s3_{uuid.uuid4().hex[:6]}_"
    r = _cli("mapping", "init", "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--keyspace", KS,
             "--table-prefix", prefix, "-o", str(mapping))
    assert r.returncode == 0, r.stderr
    text = mapping.read_text()
    for old, new in (("phase: cassandra", "phase: dual_write"), ("large_items: reject", "large_items: s3"),
                     ("s3_bucket: null", f"s3_bucket: {bucket}")):
        assert old in text
        text = text.replace(old, new)
    mapping.write_text(text)
    r = _cli("tables", "create", "--mapping", str(mapping), "--endpoint-url", dynamodb, "--region", "us-east-1")
    assert r.returncode == 0, r.stdout + r.stderr
    m = load_mapping(mapping)
    yield mapping, m, bucket
    ddb = _ddb(dynamodb)
    for tm in m.tables.values():
        ddb.delete_table(TableName=tm.dynamodb_table)
    for key in _objects(s3c, bucket):
        s3c.delete_object(Bucket=bucket, Key=key)
    s3c.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="module")
def sc(setup, cassandra, dynamodb, s3, tmp_path_factory):
    mapping, _, _ = setup
    sidecar = start_sidecar(cassandra, tmp_path_factory.mktemp("s3sc"), "--mapping", str(mapping),
                            "--dynamodb-endpoint", dynamodb, "--s3-endpoint", s3, env=AWS_ENV)
    yield sidecar
    sidecar.stop()


def _raw_item(dynamodb: str, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    item: dict[str, Any] | None = _ddb(dynamodb).get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return item


async def _resolved_items(s3: str, dynamodb: str, table: str) -> list[dict[str, Any]]:
    """Every item of a table, pointers resolved the way the sidecar resolves them."""
    ddb = _ddb(dynamodb)
    items, start = [], None
    while True:
        kw: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        if start:
            kw["ExclusiveStartKey"] = start
        page = ddb.scan(**kw)
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    wire = [_wire(it) for it in items]
    async with _our_s3(s3) as client:
        large = LargeItems(client)
        out = [await large.load(it) for it in wire]
    return [it for it in out if it is not None]


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    """boto3 hands back B as bytes; the sidecar reads DynamoDB's JSON, with base64 text."""
    out: dict[str, Any] = orjson.loads(dumps(_plain(item)))
    return out


def _plain(a: Any) -> Any:
    if isinstance(a, dict):
        return {k: _plain(v) for k, v in a.items()}
    if isinstance(a, list):
        return [_plain(v) for v in a]
    if isinstance(a, set):
        return [_plain(v) for v in a]
    return a


def _assert_equal(cassandra, dynamodb, s3, m, table: str) -> int:
    tm = m.table(KS, table)
    cluster, s = session_for(*cassandra, version=4)
    try:
        rows = [row_from_driver(dict(tm.schema.columns), r) for r in s.execute(f"SELECT * FROM {KS}.{table}")]
    finally:
        cluster.shutdown()
    items = asyncio.run(_resolved_items(s3, dynamodb, tm.dynamodb_table))
    diffs = compare(tm, rows, items)
    assert not diffs, "\n".join(str(d)[:300] for d in diffs[:10])
    return len(rows)


def _row_prefix(tm: Any) -> str:
    return f"{tm.dynamodb_table}/"


def test_rows_of_1_and_5_mb_land_as_pointer_items_and_compare_equal(setup, sc, cassandra, dynamodb, s3, capsys):
    _, m, bucket = setup
    blobs, docs = m.table(KS, "blobs"), m.table(KS, "docs")
    s3c = _bucket_client(s3)
    cluster, s = session_for(sc.host, sc.port, version=4)
    timings = {}
    try:
        ins = s.prepare(f"INSERT INTO {KS}.blobs (id, body, note, tags) VALUES (?, ?, ?, ?)")
        for rid, size in ((1, MB), (5, 5 * MB)):
            t0 = time.perf_counter()
            s.execute(ins, (rid, os.urandom(size), f"row {rid}", {"big", f"r{rid}"}))
            timings[f"write blob {size // MB} MB"] = time.perf_counter() - t0
        s.execute(ins, (9, b"small", "inline", None))
        text = os.urandom(5 * MB // 2).hex()  # 5 MB of text that compresses only about 2:1
        t0 = time.perf_counter()
        s.execute(s.prepare(f"INSERT INTO {KS}.docs (id, part, content) VALUES (?, ?, ?)"), (1, 0, text))
        timings["write text 5 MB"] = time.perf_counter() - t0
    finally:
        cluster.shutdown()

    for rid in (1, 5):
        item = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": str(rid)}})
        assert item is not None and POINTER in item and "body" not in item and "_m" not in item
        assert {"pk", "id", "_ts", "_v"} <= set(item)
        assert item_size(item) < 2048
        ptr = item[POINTER]["M"]
        assert ptr["bucket"]["S"] == bucket
        head = s3c.head_object(Bucket=bucket, Key=ptr["key"]["S"])
        assert head["ContentLength"] == int(ptr["size"]["N"])
    small = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "9"}})
    assert small is not None and POINTER not in small and small["body"]["B"] == b"small"
    doc = _raw_item(dynamodb, docs.dynamodb_table, {"pk": {"N": "1"}, "sk": {"N": "0"}})
    assert doc is not None and POINTER in doc

    assert len(_objects(s3c, bucket, _row_prefix(blobs))) == 2
    assert _assert_equal(cassandra, dynamodb, s3, m, "blobs") == 3
    assert _assert_equal(cassandra, dynamodb, s3, m, "docs") == 1

    async def read_back(rid: int) -> float:
        async with _our_s3(s3) as client:
            large = LargeItems(client)
            item = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": str(rid)}})
            assert item is not None
            t0 = time.perf_counter()
            await large.load(_wire(item))
            return time.perf_counter() - t0

    for rid, size in ((1, 1), (5, 5)):
        timings[f"resolve blob {size} MB (GetObject + checks)"] = asyncio.run(read_back(rid))
    assert metric(sc, "cdp_s3_objects_written_total") >= 3
    assert metric(sc, "cdp_s3_bytes_written_total") > 6 * MB
    with capsys.disabled():
        print("\n" + "\n".join(f"  {k}: {v * 1000:.0f} ms" for k, v in timings.items()))


def test_update_replaces_the_object_and_deletes_the_old_one(setup, sc, cassandra, dynamodb, s3):
    _, m, bucket = setup
    blobs = m.table(KS, "blobs")
    s3c = _bucket_client(s3)
    cluster, s = session_for(sc.host, sc.port, version=4)
    try:
        s.execute(s.prepare(f"INSERT INTO {KS}.blobs (id, body) VALUES (?, ?)"), (20, os.urandom(MB)))
        first = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "20"}})
        assert first is not None
        old_key = first[POINTER]["M"]["key"]["S"]
        row_dir = old_key.rsplit("/", 1)[0] + "/"
        assert list(_objects(s3c, bucket, row_dir)) == [old_key]
        # an update of another column rewrites the payload too (it holds every non-key value)
        s.execute(s.prepare(f"UPDATE {KS}.blobs SET body = ? WHERE id = ?"), (os.urandom(2 * MB), 20))
        s.execute(f"UPDATE {KS}.blobs SET note = 'annotated', tags = tags + {{'x'}} WHERE id = 20")
    finally:
        cluster.shutdown()
    now = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "20"}})
    assert now is not None
    new_key = now[POINTER]["M"]["key"]["S"]
    assert new_key != old_key and int(now["_v"]["N"]) == int(first["_v"]["N"]) + 2
    assert list(_objects(s3c, bucket, row_dir)) == [new_key]
    _assert_equal(cassandra, dynamodb, s3, m, "blobs")


def test_a_row_that_shrinks_goes_back_inline_and_its_object_is_deleted(setup, sc, cassandra, dynamodb, s3):
    _, m, bucket = setup
    blobs = m.table(KS, "blobs")
    s3c = _bucket_client(s3)
    cluster, s = session_for(sc.host, sc.port, version=4)
    try:
        s.execute(s.prepare(f"INSERT INTO {KS}.blobs (id, body) VALUES (?, ?)"), (30, os.urandom(MB)))
        big = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "30"}})
        assert big is not None and POINTER in big
        row_dir = big[POINTER]["M"]["key"]["S"].rsplit("/", 1)[0] + "/"
        s.execute(s.prepare(f"UPDATE {KS}.blobs SET body = ? WHERE id = ?"), (b"tiny now", 30))
    finally:
        cluster.shutdown()
    inline = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "30"}})
    assert inline is not None and POINTER not in inline and inline["body"]["B"] == b"tiny now"
    assert _objects(s3c, bucket, row_dir) == {}
    _assert_equal(cassandra, dynamodb, s3, m, "blobs")


def test_delete_leaves_a_tombstone_and_no_orphan_object(setup, sc, cassandra, dynamodb, s3):
    _, m, bucket = setup
    blobs = m.table(KS, "blobs")
    s3c = _bucket_client(s3)
    cluster, s = session_for(sc.host, sc.port, version=4)
    try:
        s.execute(s.prepare(f"INSERT INTO {KS}.blobs (id, body) VALUES (?, ?)"), (40, os.urandom(MB)))
        big = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "40"}})
        assert big is not None and POINTER in big
        row_dir = big[POINTER]["M"]["key"]["S"].rsplit("/", 1)[0] + "/"
        s.execute(f"DELETE FROM {KS}.blobs WHERE id = 40")
        # an older write arriving late (a retry, a backfill) must not bring the row or an object back
        s.execute(s.prepare(f"INSERT INTO {KS}.blobs (id, body) VALUES (?, ?) USING TIMESTAMP 1000"),
                  (40, os.urandom(MB)))
    finally:
        cluster.shutdown()
    tomb = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "40"}})
    assert tomb is not None and POINTER not in tomb and "body" not in tomb and "_ttl" in tomb
    assert _objects(s3c, bucket, row_dir) == {}
    _assert_equal(cassandra, dynamodb, s3, m, "blobs")


def test_racing_writers_through_two_sidecars_leave_one_object(setup, sc, cassandra, dynamodb, s3,
                                                               tmp_path_factory):
    _, m, bucket = setup
    blobs = m.table(KS, "blobs")
    s3c = _bucket_client(s3)
    mapping, _, _ = setup
    other = start_sidecar(cassandra, tmp_path_factory.mktemp("s3sc2"), "--mapping", str(mapping),
                          "--dynamodb-endpoint", dynamodb, "--s3-endpoint", s3, env=AWS_ENV)
    sessions = [session_for(x.host, x.port, version=4) for x in (sc, other)]
    try:
        def hammer(i: int) -> None:
            _, s = sessions[i % 2]
            stmt = s.prepare(f"UPDATE {KS}.blobs SET body = ?, note = ? WHERE id = 50")
            for n in range(6):
                s.execute(stmt, (os.urandom(600_000), f"writer {i} round {n}"))

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for cl, _ in sessions:
            cl.shutdown()
        other.stop()
    item = _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "50"}})
    assert item is not None
    key = item[POINTER]["M"]["key"]["S"]
    assert list(_objects(s3c, bucket, key.rsplit("/", 1)[0] + "/")) == [key]
    _assert_equal(cassandra, dynamodb, s3, m, "blobs")


class Relay:
    """A TCP relay to S3 that can be cut: connections refused and open ones reset."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(64)
        self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close alone does not
            self._server.close()
            self._server = None
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self._conns.clear()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for x in (a, b):
                with contextlib.suppress(OSError):
                    x.shutdown(socket.SHUT_RDWR)


def test_s3_unreachable_fails_the_write_clearly_in_sync_mode(setup, cassandra, dynamodb, s3, tmp_path_factory):
    mapping, m, _ = setup
    blobs = m.table(KS, "blobs")
    port = int(s3.rsplit(":", 1)[1])
    relay = Relay(("127.0.0.1", port))
    relay.up()
    sidecar = start_sidecar(cassandra, tmp_path_factory.mktemp("s3cut"), "--mapping", str(mapping),
                            "--dynamodb-endpoint", dynamodb, "--s3-endpoint", f"http://127.0.0.1:{relay.port}",
                            env=AWS_ENV)
    cluster, s = session_for(sidecar.host, sidecar.port, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.blobs (id, body) VALUES (?, ?)")
        relay.down()
        t0 = time.perf_counter()
        with pytest.raises(WriteFailure, match=r"written to Cassandra but not to DynamoDB \(S3 PutObject "):
            s.execute(ins, (60, os.urandom(MB)), timeout=60)
        failed_after = time.perf_counter() - t0
        assert _raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "60"}}) is None
        # rows that fit inline do not need S3
        s.execute(ins, (61, b"fits inline"))
        assert metric(sidecar, 'cdp_s3_failures_total{operation="PutObject"}') == 1
        assert metric(sidecar, "cdp_dual_write_failures_total") == 1
        relay.up()
        s.execute(ins, (60, os.urandom(MB)))  # the client's retry, once S3 is back
        assert POINTER in (_raw_item(dynamodb, blobs.dynamodb_table, {"pk": {"N": "60"}}) or {})
        assert failed_after < 30
    finally:
        cluster.shutdown()
        sidecar.stop()
        relay.down()
    log = sidecar.log()
    assert S3_SECRET_KEY not in log


def test_start_up_refuses_a_missing_bucket(setup, cassandra, dynamodb, s3, tmp_path):
    mapping, _, bucket = setup
    broken = tmp_path / "mapping.yaml"
    broken.write_text(mapping.read_text().replace(f"s3_bucket: {bucket}", "s3_bucket: s3-no-such-bucket-cdp"))
    r = _cli("serve", "--listen", f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{free_port()}",
             "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--mapping", str(broken),
             "--dynamodb-endpoint", dynamodb, "--s3-endpoint", s3, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "s3_bucket 's3-no-such-bucket-cdp'" in r.stderr and "does not exist" in r.stderr
    r = _cli("serve", "--listen", f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{free_port()}",
             "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--mapping", str(mapping),
             "--dynamodb-endpoint", dynamodb, "--s3-endpoint", f"http://127.0.0.1:{free_port()}", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "S3 is not reachable" in r.stderr
