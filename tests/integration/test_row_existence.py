"""Which rows exist, by Cassandra's rule, when DynamoDB answers (phase `dynamo`): a row is there when
it has a live row marker (INSERT writes one, UPDATE does not) or any live cell in any regular
column, whatever the selection. Rows written only by UPDATE whose cells were then deleted or
expired are gone; the same statements through the sidecar and on Cassandra must agree, for every
selection and read shape. Also: element and slice selection on sets and maps."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cassandra.query import SimpleStatement

from tests.conftest import start_sidecar

from .drivers import session_for
from .stores import AWS_ENV, mapped_keyspace, with_token_index

pytestmark = pytest.mark.integration

KS = "rs_rows"
T = f"{KS}.t"
E = f"{KS}.events"

WRITES = [
    # p=1: rows made by UPDATE, then thinned
    f"UPDATE {T} SET a = 1, x = 5 WHERE p = 1 AND c = 1",
    f"DELETE a FROM {T} WHERE p = 1 AND c = 1",  # x still live: the row exists
    f"UPDATE {T} SET a = 2 WHERE p = 1 AND c = 2",
    f"UPDATE {T} SET a = 3 WHERE p = 1 AND c = 3",
    f"DELETE a FROM {T} WHERE p = 1 AND c = 3",  # nothing live, no marker: gone
    f"INSERT INTO {T} (p, c) VALUES (1, 4)",  # only the marker
    f"UPDATE {T} SET s = {{'e', 'b', 'c'}}, fs = {{'a', 'e'}}, m = {{'a': 1, 'b': 2, 'd': 4}} "
    f"WHERE p = 1 AND c = 5",
    f"UPDATE {T} USING TTL 1 SET b = 6 WHERE p = 1 AND c = 6",  # expires: gone
    f"UPDATE {T} USING TTL 1 SET b = 7 WHERE p = 1 AND c = 7",
    f"UPDATE {T} SET x = 7 WHERE p = 1 AND c = 7",  # x outlives b
    f"INSERT INTO {T} (p, c, a) VALUES (1, 8, 8)",
    f"DELETE a FROM {T} WHERE p = 1 AND c = 8",  # the marker keeps it
    f"UPDATE {T} SET s = {{'z'}} WHERE p = 1 AND c = 9",
    f"UPDATE {T} SET s = s - {{'z'}} WHERE p = 1 AND c = 9",  # its only element removed: gone
    # p=2: static only; p=3: static and a marker-less row; p=4: static and a row that is gone
    f"UPDATE {T} SET st = 20 WHERE p = 2",
    f"UPDATE {T} SET st = 30, x = 1 WHERE p = 3 AND c = 1",
    f"UPDATE {T} SET st = 40, a = 1 WHERE p = 4 AND c = 1",
    f"DELETE a FROM {T} WHERE p = 4 AND c = 1",
    # the field's shape: some of a partition's rows keep only a column the narrow select leaves out
    *[f"INSERT INTO {E} (tenant, bucket, ts, seq, payload, meta) VALUES ('t', 1, {i}, 0, 'p{i}', 'm')"
      for i in range(16)],
    f"UPDATE {E} SET payload = 'u', meta = 'm' WHERE tenant = 't' AND bucket = 1 AND ts = 20 AND seq = 0",
    f"DELETE payload FROM {E} WHERE tenant = 't' AND bucket = 1 AND ts = 20 AND seq = 0",
    f"UPDATE {E} SET meta = 'm' WHERE tenant = 't' AND bucket = 1 AND ts = 21 AND seq = 1",
    f"UPDATE {E} SET payload = 'gone' WHERE tenant = 't' AND bucket = 1 AND ts = 22 AND seq = 0",
    f"DELETE payload FROM {E} WHERE tenant = 't' AND bucket = 1 AND ts = 22 AND seq = 0",
]

READS = [
    f"SELECT * FROM {T} WHERE p = 1",
    f"SELECT a, b FROM {T} WHERE p = 1",
    f"SELECT c FROM {T} WHERE p = 1",
    f"SELECT p, c FROM {T} WHERE p = 1",
    f"SELECT b FROM {T} WHERE p = 1",
    f"SELECT st FROM {T} WHERE p = 1",
    f"SELECT count(*) FROM {T} WHERE p = 1",
    f"SELECT count(a), count(x) FROM {T} WHERE p = 1",
    f"SELECT a, b FROM {T} WHERE p IN (1, 2, 3, 4)",
    f"SELECT * FROM {T} WHERE p IN (1, 2, 3, 4)",
    f"SELECT st FROM {T} WHERE p IN (1, 2, 3, 4)",
    f"SELECT b FROM {T} WHERE p IN (2, 3, 4)",
    f"SELECT count(*) FROM {T} WHERE p IN (1, 2, 3, 4)",
    f"SELECT a FROM {T} WHERE p = 1 AND c >= 1 AND c <= 7",
    f"SELECT a FROM {T} WHERE p = 1 AND c IN (1, 2, 3, 6, 7, 9)",
    f"SELECT a FROM {T} WHERE p = 1 AND c = 3",
    f"SELECT a FROM {T} WHERE p = 1 LIMIT 2",
    f"SELECT a FROM {T} WHERE p = 1 ORDER BY c DESC LIMIT 3",
    f"SELECT writetime(x), ttl(b) FROM {T} WHERE p = 1",
    f"SELECT DISTINCT p, st FROM {T} WHERE p IN (1, 2, 3, 4)",
    f"SELECT s['e'], s['zz'], fs['e'], fs['zz'], m['b'], m['zz'] FROM {T} WHERE p = 1",
    f"SELECT m['a'..'c'], m[..'b'], m['c'..], s['b'..'d'], fs['b'..], m['x'..'y'] FROM {T} WHERE p = 1 AND c = 5",
    # whole-table reads, in token order through the token index
    f"SELECT a, b FROM {T} LIMIT 100",
    f"SELECT * FROM {T} LIMIT 100",
    f"SELECT p, c, st FROM {T} WHERE token(p) > -9223372036854775808 LIMIT 100",
    f"SELECT DISTINCT p, st FROM {T} LIMIT 10",
    f"SELECT count(*) FROM {T}",
    f"SELECT ts, seq, payload FROM {E} WHERE tenant = 't' AND bucket = 1",
    f"SELECT * FROM {E} WHERE tenant = 't' AND bucket = 1",
    f"SELECT count(*) FROM {E} WHERE tenant = 't' AND bucket = 1",
    f"SELECT payload FROM {E} WHERE tenant = 't' AND bucket = 1 AND ts >= 10",
]


@pytest.fixture(scope="module")
def dynamo_sidecar(cassandra, dynamodb, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rows")
    with mapped_keyspace(cassandra, dynamodb, KS, [
        f"CREATE TABLE {T} (p int, c int, a int, b int, x int, st int static, s set<text>, "
        f"fs frozen<set<text>>, m map<text, int>, PRIMARY KEY (p, c))",
        f"CREATE TABLE {E} (tenant text, bucket int, ts int, seq int, payload text, meta text, "
        f"PRIMARY KEY ((tenant, bucket), ts, seq))",
    ], tmp, "rs_", edit=with_token_index) as (mapping, _m):
        phases = ",".join(f"{KS}.{t}=%s" for t in ("t", "events"))
        dual = start_sidecar(cassandra, tmp, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                             "--phases", phases % ("dual_write", "dual_write"), env=AWS_ENV)
        try:
            cluster, s = session_for(dual.host, dual.port, version=4)
            try:
                for w in WRITES:
                    s.execute(w)
            finally:
                cluster.shutdown()
        finally:
            dual.stop()
        time.sleep(2.5)  # the TTL 1 cells expire in both stores
        dyn = start_sidecar(cassandra, tmp, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                            "--phases", phases % ("dynamo", "dynamo"), env=AWS_ENV)
        try:
            yield dyn
        finally:
            dyn.stop()


def _answer(host: str, port: int, cql: str, fetch: int | None) -> tuple[list[str], list[str], list[Any]]:
    cluster, s = session_for(host, port, version=4)
    try:
        rs = s.execute(SimpleStatement(cql, fetch_size=fetch))
        rows = [tuple(r) for r in rs]
        return list(rs.column_names), [t.cql_parameterized_type() for t in rs.column_types], rows
    finally:
        cluster.shutdown()


@pytest.mark.parametrize("fetch", [None, 1, 2])
@pytest.mark.parametrize("cql", READS, ids=[r[:80] for r in READS])
def test_rows_exist_as_in_cassandra(cassandra, dynamo_sidecar, cql, fetch):
    theirs = _answer(*cassandra, cql, fetch)
    ours = _answer(dynamo_sidecar.host, dynamo_sidecar.port, cql, fetch)
    assert ours[0] == theirs[0]  # column names
    assert ours[1] == theirs[1]  # column types
    if "ttl(" in cql:
        assert [r[0] for r in ours[2]] == [r[0] for r in theirs[2]]
        assert len(ours[2]) == len(theirs[2])
    else:
        assert ours[2] == theirs[2]
    assert theirs[2] or "c = 3" in cql  # the statements do find rows (one is the gone row)


def test_the_narrow_and_the_wide_select_count_the_same_rows(cassandra, dynamo_sidecar):
    """Cassandra 5.0 gives the same rows to a narrow selection as to `SELECT *`."""
    narrow = _answer(dynamo_sidecar.host, dynamo_sidecar.port,
                     f"SELECT ts, seq, payload FROM {E} WHERE tenant = 't' AND bucket = 1", None)[2]
    wide = _answer(*cassandra, f"SELECT * FROM {E} WHERE tenant = 't' AND bucket = 1", None)[2]
    assert len(narrow) == len(wide) == 18
