"""Token-range reads (the drivers' and Spark's way of reading a whole table) served from DynamoDB
in phase `dynamo` with `token_index: true`: the same rows in the same order as Cassandra, page by
page, and DynamoDB reads about one item per row returned."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement

from tests.conftest import start_sidecar
from translators.token import MAX_TOKEN, MIN_TOKEN

from .drivers import metric_sum, session_for
from .stores import AWS_ENV, cli, mapped_keyspace, with_token_index

pytestmark = pytest.mark.integration

KS = "rs_tokens"
BIG = ("big", 0)  # a partition with many rows
BIG_ROWS = 600


@pytest.fixture(scope="module")
def sidecars(cassandra, dynamodb, tmp_path_factory) -> Iterator[tuple[Any, Any]]:
    tmp = tmp_path_factory.mktemp("tokens")
    with mapped_keyspace(cassandra, dynamodb, KS, [
        f"CREATE TABLE {KS}.ev (a text, b int, c int, v text, s int static, PRIMARY KEY ((a, b), c))",
        f"CREATE TABLE {KS}.kv (k int PRIMARY KEY, v text)",
        f"CREATE TABLE {KS}.copied (k text, c int, v text, PRIMARY KEY (k, c))",
    ], tmp, "rs_", edit=lambda t: with_token_index(t).replace("endpoint: null", f"endpoint: {dynamodb}")
    ) as (mapping, _m):
        _backfill(cassandra, mapping, tmp)
        tables = ("ev", "kv", "copied")
        dual = start_sidecar(cassandra, tmp, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                             "--phases", ",".join(f"{KS}.{t}=dual_write" for t in tables), env=AWS_ENV)
        try:
            _fill(dual.host, dual.port)
        finally:
            dual.stop()
        dyn = start_sidecar(cassandra, tmp, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                            "--phases", ",".join(f"{KS}.{t}=dynamo" for t in tables), env=AWS_ENV)
        try:
            yield dyn, mapping
        finally:
            dyn.stop()


def _backfill(cassandra: tuple[str, int], mapping: Any, tmp: Any) -> None:
    """`copied` reaches DynamoDB by the backfill alone: its items get the token attributes too."""
    cluster, s = session_for(*cassandra, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.copied (k, c, v) VALUES (?, ?, ?)")
        execute_concurrent_with_args(s, ins, [(f"k{k}", c, f"{k}.{c}") for k in range(120) for c in range(k % 3 + 1)],
                                     concurrency=32)
    finally:
        cluster.shutdown()
    r = cli("backfill", "--mapping", str(mapping), "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--table",
            f"{KS}.copied", "--force", "--ledger", str(tmp / "ledger.jsonl"))
    assert r.returncode == 0, r.stdout + r.stderr


def _fill(host: str, port: int) -> None:
    cluster, s = session_for(host, port, version=4)
    try:
        ins = s.prepare(f"INSERT INTO {KS}.ev (a, b, c, v) VALUES (?, ?, ?, ?)")
        rows = [(f"p{i}", i % 7, c, f"v{i}.{c}") for i in range(150) for c in range(i % 4)]
        rows += [(BIG[0], BIG[1], c, f"big{c}") for c in range(BIG_ROWS)]
        execute_concurrent_with_args(s, ins, rows, concurrency=32)
        st = s.prepare(f"UPDATE {KS}.ev SET s = ? WHERE a = ? AND b = ?")
        execute_concurrent_with_args(s, st, [(i, f"p{i}", i % 7) for i in range(0, 150, 5)], concurrency=32)
        s.execute(f"DELETE FROM {KS}.ev WHERE a = 'p7' AND b = 0")  # a whole partition gone
        s.execute(f"DELETE FROM {KS}.ev WHERE a = 'p11' AND b = 4 AND c = 1")
        kv = s.prepare(f"INSERT INTO {KS}.kv (k, v) VALUES (?, ?)")
        execute_concurrent_with_args(s, kv, [(k, f"v{k}") for k in range(400)], concurrency=32)
    finally:
        cluster.shutdown()


def _walk(s: Any, first: str, nxt: str, key: tuple[int, ...], fetch: int | None) -> list[tuple[Any, ...]]:
    """The paging idiom: a page, then the next from the last row's partition key on."""
    out: list[tuple[Any, ...]] = []
    rows = list(s.execute(SimpleStatement(first, fetch_size=fetch)))
    prepared = s.prepare(nxt)
    prepared.fetch_size = fetch
    while rows:
        out.extend(tuple(r) for r in rows)
        last = rows[-1]
        rows = list(s.execute(prepared, [last[i] for i in key]))
    return out


def _both(cassandra: tuple[str, int], sidecar: Any, fn: Any) -> tuple[Any, Any]:
    got = []
    for host, port in (cassandra, (sidecar.host, sidecar.port)):
        cluster, s = session_for(host, port, version=4)
        try:
            got.append(fn(s))
        finally:
            cluster.shutdown()
    return got[0], got[1]


def _items_read(reader_metrics: str) -> int:
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in reader_metrics.splitlines()
               if line.startswith("cdp_dynamodb_items_read_total{") and "rs_" in line)


def _metrics(sc: Any) -> str:
    import urllib.request

    req = urllib.request.Request(f"{sc.admin_url}/metrics", headers={"Authorization": f"Bearer {sc.token}"})
    return str(urllib.request.urlopen(req, timeout=5).read().decode())


@pytest.mark.parametrize("limit,fetch", [(50, None), (7, 3), (1000, 100)])
def test_token_paging_idiom_matches_cassandra(cassandra, sidecars, limit, fetch):
    dyn, _ = sidecars
    sel = f"SELECT a, b, c, v, s FROM {KS}.ev"
    first = f"{sel} WHERE token(a, b) > {MIN_TOKEN} LIMIT {limit}"
    nxt = f"{sel} WHERE token(a, b) > token(?, ?) LIMIT {limit}"
    before = _items_read(_metrics(dyn))
    theirs, ours = _both(cassandra, dyn, lambda s: _walk(s, first, nxt, (0, 1), fetch))
    read = _items_read(_metrics(dyn)) - before
    print(f"\nrows {len(ours)} items read {read}")
    assert len(theirs) > 100
    assert ours == theirs
    # each page reads its rows and one look-ahead, and index entries (keys only) of about as many:
    # proportional to the rows, never the table once per page (that would be ~1200 items a page)
    assert read <= 4 * len(ours), (read, len(ours))


def test_token_ranges_with_driver_paging_match_cassandra(cassandra, sidecars):
    """Spark's split: the ring in ranges `token > lo AND token <= hi`, each read with paging."""
    dyn, _ = sidecars
    cuts = [MIN_TOKEN + i * ((MAX_TOKEN - MIN_TOKEN) // 5) for i in range(5)] + [MAX_TOKEN]

    def ranges(s: Any) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        prepared = s.prepare(f"SELECT a, b, c, v, s FROM {KS}.ev WHERE token(a, b) > ? AND token(a, b) <= ?")
        prepared.fetch_size = 37
        for lo, hi in itertools.pairwise(cuts):
            out.extend(tuple(r) for r in s.execute(prepared, [lo, hi]))
        return out

    before = _items_read(_metrics(dyn))
    theirs, ours = _both(cassandra, dyn, ranges)
    read = _items_read(_metrics(dyn)) - before
    print(f"\nrows {len(ours)} items read {read}")
    assert len(theirs) > BIG_ROWS
    assert ours == theirs
    # every row once from the table, plus index entries (keys only) and static rows
    assert read <= 2 * len(ours), (read, len(ours))


@pytest.mark.parametrize("cql,key", [
    (f"SELECT k, v FROM {KS}.kv WHERE token(k) > token(:k) LIMIT 33", (0,)),
    (f"SELECT k, c, v FROM {KS}.copied WHERE token(k) > token(?) LIMIT 10", (0,)),
    (f"SELECT DISTINCT a, b, s FROM {KS}.ev WHERE token(a, b) > token(?, ?) LIMIT 20", (0, 1)),
    (f"SELECT a, b, c FROM {KS}.ev WHERE token(a, b) > token(?, ?) PER PARTITION LIMIT 2 LIMIT 25", (0, 1)),
    (f"SELECT a, b, c, s FROM {KS}.ev WHERE token(a, b) > token(?, ?) AND token(a, b) < {MAX_TOKEN} "
     f"AND c > 0 LIMIT 40 ALLOW FILTERING", (0, 1)),
])
def test_token_idiom_shapes_match_cassandra(cassandra, sidecars, cql, key):
    dyn, _ = sidecars
    first = re.sub(r"token\((:k|\?(, \?)*)\)", str(MIN_TOKEN), cql)
    theirs, ours = _both(cassandra, dyn, lambda s: _walk(s, first, cql, key, 9))
    assert len(theirs) > 20
    assert ours == theirs


def test_per_partition_limit_reads_little_of_each_partition(cassandra, sidecars):
    dyn, _ = sidecars
    cql = f"SELECT a, b, c FROM {KS}.ev WHERE token(a, b) > ? PER PARTITION LIMIT 1"

    def read(s: Any) -> list[tuple[Any, ...]]:
        prepared = s.prepare(cql)
        prepared.fetch_size = 50
        return [tuple(r) for r in s.execute(prepared, [MIN_TOKEN])]

    before = _items_read(_metrics(dyn))
    theirs, ours = _both(cassandra, dyn, read)
    read_ = _items_read(_metrics(dyn)) - before
    print(f"\nrows {len(ours)} items read {read_}")
    assert ours == theirs and len(ours) > 100
    # one index entry per row of the small partitions, up to 3 items of each partition, and a page of
    # the big partition's index entries: never the big partition whole
    assert read_ <= 6 * len(ours) and read_ < BIG_ROWS + len(ours), (read_, len(ours))


def test_token_index_added_to_a_table_with_data(cassandra, dynamodb, tmp_path):
    """`tables create` on a mapping that now sets token_index adds the GSI and gives the items
    already there their token keys; token reads then see every row."""
    ks = "rs_tokens_late"
    with mapped_keyspace(cassandra, dynamodb, ks, [f"CREATE TABLE {ks}.t (k int, c int, v text, PRIMARY KEY (k, c))"],
                         tmp_path, "rs_") as (mapping, _m):
        dual = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                             "--phases", f"{ks}.t=dual_write", env=AWS_ENV)
        try:
            cluster, s = session_for(dual.host, dual.port, version=4)
            ins = s.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)")
            execute_concurrent_with_args(s, ins, [(k, c, f"{k}.{c}") for k in range(80) for c in range(k % 3 + 1)])
            cluster.shutdown()
        finally:
            dual.stop()
        mapping.write_text(with_token_index(mapping.read_text()))
        r = cli("tables", "create", "--mapping", str(mapping), "--endpoint-url", dynamodb, "--region", "us-east-1")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "gave 159 items" in r.stdout + r.stderr, r.stdout + r.stderr
        dyn = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                            "--phases", f"{ks}.t=dynamo", env=AWS_ENV)
        try:
            cql = f"SELECT k, c, v FROM {ks}.t WHERE token(k) > token(?) LIMIT 25"
            theirs, ours = _both(cassandra, dyn, lambda s: _walk(s, cql.replace("token(?)", str(MIN_TOKEN)), cql,
                                                                  (0,), None))
            assert len(theirs) > 150 and ours == theirs  # (a LIMIT cutting a partition skips its rest)
        finally:
            dyn.stop()


@pytest.mark.parametrize("phase", ["verify", "dynamo_fallback"])
def test_token_paging_in_verify_and_fallback(cassandra, dynamodb, sidecars, tmp_path, phase):
    """verify compares each token page with DynamoDB's in order and finds no difference;
    dynamo_fallback answers from DynamoDB with Cassandra's rows."""
    _, mapping = sidecars
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       "--phases", f"{KS}.ev={phase}", "--verify-sample", "100", env=AWS_ENV)
    try:
        sel = f"SELECT a, b, c, v, s FROM {KS}.ev"
        first, nxt = f"{sel} WHERE token(a, b) > {MIN_TOKEN} LIMIT 40", f"{sel} WHERE token(a, b) > token(?, ?) LIMIT 40"
        theirs, ours = _both(cassandra, sc, lambda s: _walk(s, first, nxt, (0, 1), None))
        assert ours == theirs
        if phase == "verify":
            time.sleep(1)  # comparisons run after the answers
            assert metric_sum(sc, "cdp_verify_reads_total") >= 5
            assert metric_sum(sc, "cdp_verify_mismatches_total") == 0
        else:
            assert metric_sum(sc, "cdp_dynamo_reads_total") >= 5
    finally:
        sc.stop()

