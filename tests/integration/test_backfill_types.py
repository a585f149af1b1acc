"""Every CQL type of Cassandra 5.0, frozen and not, through `backfill`, `validate`, read repair and
`restore-cassandra` against the real Cassandra and DynamoDB Local: one table per family of types
(natives, UDTs with unset fields and nested values, tuples, collections of every shape, frozen
collections of collections, vectors, statics, counters, unusual clustering keys, values Python's
datetime or equality cannot hold), written with per-element timestamps, TTLs and nulls.

Cassandra 5.0.9 answers WRITETIME/TTL of a non-frozen UDT with one entry per field and a null for
each field that is unset; the driver's compiled decoder rejects such a list and drops the
connection with every request on it, which lost whole backfills. Here the table must copy whole,
and a row that really cannot be decoded fails alone, named by its key."""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from cql_protocol.types import deserialize
from tests.conftest import start_sidecar
from translators.compare import compare, with_static_rows
from translators.item_codec import from_item
from translators.mapping import TableMapping, load_mapping

from .drivers import metric_sum, session_for
from .raw_client import RawClient
from .stores import AWS_ENV, assert_stores_equal, cli, mapped_keyspace, recreate_keyspace, scan_items

pytestmark = pytest.mark.integration

KS = "bft_types"
BACK = "bft_types_back"  # restore-cassandra copies DynamoDB back into this keyspace


def schema(ks: str) -> list[str]:
    return [
        f'CREATE TYPE {ks}.inner_t (x int, "Mixed Case" text)',
        f"""CREATE TYPE {ks}.addr (street text, zip int, geo frozen<tuple<double, double>>,
            tags frozen<set<text>>, inner frozen<inner_t>, hist frozen<map<text, frozen<list<int>>>>,
            at timestamp)""",
        f"""CREATE TABLE {ks}.natives (k int PRIMARY KEY, a ascii, b bigint, bl blob, bo boolean, da date,
            de decimal, do double, du duration, f float, i inet, si smallint, te text, ti time, ts timestamp,
            tu timeuuid, tiny tinyint, u uuid, vc varchar, vi varint)""",
        f"""CREATE TABLE {ks}.udts (k int, c int, u addr, fu frozen<addr>, iu inner_t, lu list<frozen<addr>>,
            mu map<text, frozen<addr>>, su addr static, fsu frozen<addr> static, PRIMARY KEY (k, c))""",
        f"""CREATE TABLE {ks}.tuples (k int PRIMARY KEY, t tuple<int, text>,
            nt tuple<int, frozen<tuple<text, int>>, frozen<list<int>>>, lt list<frozen<tuple<int, text>>>,
            st set<frozen<tuple<int, text>>>, mt map<frozen<tuple<int, int>>, frozen<tuple<text, text>>>)""",
        f"""CREATE TABLE {ks}.colls (k int PRIMARY KEY, s set<int>, l list<text>, m map<text, int>,
            sb set<blob>, su set<uuid>, stu set<timeuuid>, si set<inet>, mts map<timestamp, text>,
            lfs list<frozen<set<int>>>, mfl map<int, frozen<list<text>>>, sfm set<frozen<map<int, int>>>,
            lm list<frozen<map<text, frozen<list<int>>>>>, md map<int, duration>, ld list<duration>,
            sdec set<decimal>, mda map<date, time>)""",
        f"""CREATE TABLE {ks}.fcolls (k int PRIMARY KEY, fs frozen<set<int>>, fl frozen<list<text>>,
            fm frozen<map<text, int>>, ffs frozen<set<frozen<set<int>>>>, ffl frozen<list<frozen<list<int>>>>,
            ffm frozen<map<frozen<set<int>>, frozen<list<text>>>>, fld frozen<list<duration>>)""",
        f"""CREATE TABLE {ks}.vecs (k int PRIMARY KEY, v vector<float, 3>, vd vector<double, 2>,
            vi vector<int, 2>, vb vector<bigint, 2>, vt vector<text, 2>, vu vector<frozen<inner_t>, 2>,
            vv vector<vector<float, 2>, 2>, vl vector<frozen<list<int>>, 2>, vdu vector<duration, 2>,
            lv list<frozen<vector<float, 2>>>, sv set<frozen<vector<float, 2>>>,
            mv map<int, frozen<vector<float, 2>>>)""",
        f"""CREATE TABLE {ks}.statics (k int, c int, s int static, sl list<int> static,
            sm map<text, int> static, su addr static, v text, PRIMARY KEY (k, c))""",
        f"CREATE TABLE {ks}.counters (k int PRIMARY KEY, n counter, m counter)",
        f"""CREATE TABLE {ks}.keyed (p text, c1 timestamp, c2 frozen<tuple<int, text>>, c3 timeuuid, c4 date,
            v int, PRIMARY KEY (p, c1, c2, c3, c4)) WITH CLUSTERING ORDER BY (c1 DESC, c2 ASC, c3 DESC, c4 ASC)""",
        # values the Python driver cannot read as Cassandra has them (datetimes past year 9999,
        # 0.0 and -0.0 as two set elements): checked against literal expectations
        f"""CREATE TABLE {ks}.edge (k int PRIMARY KEY, ts timestamp, lts list<timestamp>, sd set<double>,
            md map<double, int>, d double, f float)""",
    ]


# rows a SELECT * shows: natives 5, udts 8 (one a static-only partition), tuples 2, colls 3, fcolls 2,
# vecs 2, statics 4, counters 2, keyed 3, edge 2
ROWS = 33
TABLES = ("natives", "udts", "tuples", "colls", "fcolls", "vecs", "statics", "counters", "keyed", "edge")
ADDR = ("{street: 'Main', zip: 12345, geo: (1.5, null), tags: {'a', 'b'}, inner: {x: 1, \"Mixed Case\": 'M'}, "
        "hist: {'h': [1, 2], 'e': []}, at: '2024-05-01 12:00:00+0000'}")
# time UUIDs: TU2 older than TU1, TU3 newer than both but first in byte (and Python) order
TU1, TU2 = "6b1a1c10-0b1e-11ef-8000-000000000001", "1b1a1c10-0b1e-11ef-8000-000000000001"
TU3 = "00000001-0000-11f0-8000-000000000001"

WRITES = [
    # natives: everything set, extremes, nulls, a TTL'd row
    f"""INSERT INTO {KS}.natives (k, a, b, bl, bo, da, de, do, du, f, i, si, te, ti, ts, tu, tiny, u, vc, vi)
        VALUES (1, 'ascii', 1099511627776, 0x0102, true, '2024-02-29', 123.456, 2.5, 1mo2d3h4m5s6ms7us8ns, 1.25,
        '10.1.2.3', 32767, 'é ✓ text', '23:59:59.999999999', '2024-05-01 12:00:00.123+0000', {TU1}, -128,
        5b6962dd-3f90-4c93-8f61-eabfa4a803e2, 'varchar', 123456789012345678901234567890)""",
    f"""INSERT INTO {KS}.natives (k, a, b, bl, bo, da, de, do, du, f, i, si, te, ti, ts, tiny, vc, vi)
        VALUES (2, '', -9223372036854775808, 0x, false, '-5877641-06-23', -0.000000000000000000001, -0.0,
        -1y, -Infinity, '::1', -32768, '', '00:00:00', -1, 127, '', -99999999999999999999999999999999)""",
    f"INSERT INTO {KS}.natives (k, do, f, de) VALUES (3, NaN, Infinity, 1E+100)",
    f"INSERT INTO {KS}.natives (k, te, bo) VALUES (4, null, null)",
    f"INSERT INTO {KS}.natives (k, te, b) VALUES (5, 'expires', 5) USING TTL 86400",
    f"UPDATE {KS}.natives USING TTL 3600 SET te = 'updated with ttl' WHERE k = 1",
    # UDTs: whole, fields written at different times and TTLs, unset fields, all fields gone, statics
    f"INSERT INTO {KS}.udts (k, c, u, fu, iu) VALUES (1, 1, {ADDR}, {ADDR}, {{x: 7, \"Mixed Case\": 'm'}})",
    f"UPDATE {KS}.udts SET u.street = 'only street' WHERE k = 1 AND c = 2",
    f"UPDATE {KS}.udts USING TTL 86400 SET u.zip = 5 WHERE k = 1 AND c = 2",
    f"INSERT INTO {KS}.udts (k, c, u) VALUES (1, 3, {{street: 'gone'}})",
    f"UPDATE {KS}.udts SET u.street = null WHERE k = 1 AND c = 3",
    f"UPDATE {KS}.udts USING TTL 1000 SET u.street = 'ttl 1000' WHERE k = 1 AND c = 4",
    f"UPDATE {KS}.udts USING TTL 2000 SET u.zip = 2000 WHERE k = 1 AND c = 4",
    f"INSERT INTO {KS}.udts (k, c, fu) VALUES (1, 5, {{street: null}})",
    f"""UPDATE {KS}.udts SET lu = [{ADDR}, {{zip: 1}}], mu = {{'home': {ADDR}, 'empty': {{street: null}}}},
        iu.x = 1 WHERE k = 1 AND c = 6""",
    f"UPDATE {KS}.udts SET su.zip = 3, fsu = {ADDR} WHERE k = 1",
    f"UPDATE {KS}.udts USING TTL 86400 SET su.street = 'static only' WHERE k = 2",
    f"UPDATE {KS}.udts SET u = {{street: 'whole'}} WHERE k = 3 AND c = 1",
    f"UPDATE {KS}.udts SET u.zip = 9 WHERE k = 3 AND c = 1",
    # tuples, nested and with nulls
    f"""INSERT INTO {KS}.tuples (k, t, nt, lt, st, mt) VALUES (1, (1, 'a'), (1, ('x', null), [1, 2]),
        [(1, 'a'), (2, null)], {{(1, 'a'), (1, null), (null, null)}}, {{(1, 2): ('a', null)}})""",
    f"INSERT INTO {KS}.tuples (k, t, nt) VALUES (2, (null, null), (null, null, null))",
    f"UPDATE {KS}.tuples USING TTL 86400 SET lt = lt + [(3, 'later')], st = st + {{(9, 'z')}} WHERE k = 1",
    # collections grown element by element (own timestamps and TTLs), prepends, deletions, empties
    f"""INSERT INTO {KS}.colls (k, s, l, m, sb, su, stu, si, mts, lfs, mfl, sfm, lm, md, ld, sdec, mda)
        VALUES (1, {{1, 2}}, ['a', 'b'], {{'a': 1, 'z': 26}}, {{0x00, 0x}}, {{5b6962dd-3f90-4c93-8f61-eabfa4a803e2}},
        {{{TU1}, {TU3}}}, {{'10.0.0.1'}}, {{'2024-01-01 00:00:00+0000': 'new year'}}, [{{1, 2}}, {{}}],
        {{1: ['a'], 2: []}}, {{{{1: 1}}, {{2: 2}}}}, [{{'a': [1]}}], {{1: 1h}}, [1d, 1mo], {{1.5, 2.25}},
        {{'2024-01-01': '12:00:00'}})""",
    f"""UPDATE {KS}.colls USING TTL 86400 SET s = s + {{3}}, l = l + ['c'], m['b'] = 2,
        stu = stu + {{{TU2}}}, si = si + {{'9.0.0.1', '::1'}}, sfm = sfm + {{{{}}}} WHERE k = 1""",
    f"UPDATE {KS}.colls SET l = ['z'] + l, su = su + {{00000000-0000-0000-0000-000000000000}} WHERE k = 1",
    f"DELETE m['z'], s[2] FROM {KS}.colls WHERE k = 1",
    f"INSERT INTO {KS}.colls (k, s, l, m) VALUES (2, {{}}, [], {{}})",
    f"UPDATE {KS}.colls SET m = m + {{'only': 1}} WHERE k = 3",
    # frozen collections, of collections too, and empty ones
    f"""INSERT INTO {KS}.fcolls (k, fs, fl, fm, ffs, ffl, ffm, fld) VALUES (1, {{3, 1, 2}}, ['b', 'a', 'b'],
        {{'x': 1}}, {{{{1}}, {{}}, {{2, 3}}}}, [[1], [], [2, 2]], {{{{1, 2}}: ['a'], {{}}: []}}, [1d, 1h])""",
    f"INSERT INTO {KS}.fcolls (k, fs, fl, fm) VALUES (2, {{}}, [], {{}})",
    # vectors of every element kind
    f"""INSERT INTO {KS}.vecs (k, v, vd, vi, vb, vt, vu, vv, vl, vdu, lv, sv, mv) VALUES (1, [1.0, -2.5, 3.25],
        [1e300, -0.0], [1, -2], [9223372036854775807, 0], ['a', 'long text ✓'],
        [{{x: 1, "Mixed Case": 'q'}}, {{x: null}}], [[1.0, 2.0], [3.0, 4.0]], [[1, 2], []], [1h, -1d],
        [[1.0, 2.0]], {{[1.0, 2.0], [0.5, 0.5]}}, {{1: [1.0, 1.0]}}) USING TTL 86400""",
    f"INSERT INTO {KS}.vecs (k, v) VALUES (2, [0.0, 0.0, 0.0])",
    # statics: shared by rows, alone in a partition, with TTLs, growing collections
    f"INSERT INTO {KS}.statics (k, c, s, sl, sm, v) VALUES (1, 1, 10, [1], {{'a': 1}}, 'one')",
    f"INSERT INTO {KS}.statics (k, c, v) VALUES (1, 2, 'two')",
    f"UPDATE {KS}.statics USING TTL 86400 SET sl = sl + [2], sm['b'] = 2, su.zip = 1 WHERE k = 1",
    f"UPDATE {KS}.statics USING TTL 86400 SET s = 20, su.street = 's' WHERE k = 2",
    f"INSERT INTO {KS}.statics (k, c, v) VALUES (3, 1, 'no statics')",
    # counters
    f"UPDATE {KS}.counters SET n = n + 5, m = m - 2 WHERE k = 1",
    f"UPDATE {KS}.counters SET n = n + 1 WHERE k = 2",
    # clustering keys of types with an order of their own
    f"""INSERT INTO {KS}.keyed (p, c1, c2, c3, c4, v) VALUES ('p', '2024-01-01 00:00:00+0000', (1, 'a'), {TU1},
        '2024-01-01', 1)""",
    f"INSERT INTO {KS}.keyed (p, c1, c2, c3, c4, v) VALUES ('p', -1, (null, null), {TU2}, '-5877641-06-23', 2)",
    f"INSERT INTO {KS}.keyed (p, c1, c2, c3, c4) VALUES ('q', 0, (0, ''), {TU1}, '1970-01-01')",
    # beyond the driver: timestamps past year 9999 and before year 1, signed zeros
    f"""INSERT INTO {KS}.edge (k, ts, lts, sd, md, d, f) VALUES (1, 253402300800000, [-62135596800001, 0],
        {{-0.0, 0.0, 1.5}}, {{-0.0: 1, 0.0: 2}}, -0.0, -0.0)""",
    f"UPDATE {KS}.edge USING TTL 86400 SET sd = sd + {{NaN, -Infinity}}, ts = 4611686018427387904 WHERE k = 2",
]

# what DynamoDB must hold for `edge`, in the codec's conventions
EDGE = [
    {"k": 1, "ts": 253402300800000, "lts": [-62135596800001, 0], "sd": [-0.0, 0.0, 1.5], "md": [(-0.0, 1), (0.0, 2)],
     "d": -0.0, "f": -0.0},
    {"k": 2, "ts": 4611686018427387904, "lts": None, "sd": [-math.inf, math.nan], "md": None, "d": None, "f": None},
]


@pytest.fixture(scope="module")
def env(cassandra, dynamodb, tmp_path_factory):
    d = tmp_path_factory.mktemp("bft")
    with mapped_keyspace(cassandra, dynamodb, KS, schema(KS), d, "bft",
                         edit=lambda text: text.replace("phase: cassandra", "phase: dual_write")
                         .replace("endpoint: null", f"endpoint: {dynamodb}")) as (mapping, m):
        cluster, s = session_for(*cassandra, version=4)
        try:
            for stmt in WRITES:
                s.execute(stmt)
        finally:
            cluster.shutdown()
        yield mapping, m, d
    drop_keyspace(cassandra, KS)


def drop_keyspace(cassandra, ks: str) -> None:
    cluster, s = session_for(*cassandra, version=4)
    try:
        s.execute(f"DROP KEYSPACE IF EXISTS {ks}")
    finally:
        cluster.shutdown()


def _run(cmd: str, mapping: Path, d: Path, cassandra, *extra: str) -> tuple[Any, dict[str, Any], Path]:
    summary = d / f"summary-{uuid.uuid4().hex[:6]}.json"
    out = d / f"{cmd}-{uuid.uuid4().hex[:6]}.jsonl"
    args = [cmd, "--mapping", str(mapping), "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--summary",
            str(summary), *(["--segments", "4"] if cmd == "restore-cassandra" else ["--splits", "32"]), *extra]
    if cmd in ("backfill", "restore-cassandra"):
        args += ["--ledger", str(out), "--force"]
    if cmd == "validate":
        args += ["--report", str(out)]
    r = cli(*args, timeout=600)
    return r, (json.loads(summary.read_text()) if summary.exists() else {}), out


def _tables(*names: str) -> list[str]:
    return [a for t in names for a in ("--table", f"{KS}.{t}")]


def raw_rows(cassandra, tm: TableMapping, where: str = "") -> list[dict[str, Any]]:
    """`SELECT *` read with the project's own client and codec: Cassandra's values as they are,
    whatever a driver would make of them."""
    with RawClient(*cassandra) as c:
        r = c.rows(f"SELECT * FROM {tm.cql_name} {where}")
        cols = r.metadata.columns or []
        return [{col.name: None if v is None else deserialize(col.type, v) for col, v in zip(cols, row, strict=True)}
                for row in r.rows]


def writetime_ttl(cassandra, tm: TableMapping, column: str, where: str) -> tuple[Any, ...]:
    return raw_rows_of(cassandra, f"SELECT writetime({column}), ttl({column}) FROM {tm.cql_name} WHERE {where}")


def _same(tm: TableMapping, cassandra, dynamodb, expected: list[dict[str, Any]] | None = None) -> int:
    rows = with_static_rows(tm, expected if expected is not None else raw_rows(cassandra, tm))
    diffs = compare(tm, rows, scan_items(dynamodb, tm.dynamodb_table))
    assert not diffs, f"{tm.cql_name}:\n" + "\n".join(map(str, diffs[:20]))
    return len(rows)


@pytest.fixture(scope="module")
def backfilled(env, cassandra):
    mapping, _, d = env
    return _run("backfill", mapping, d, cassandra, *_tables(*TABLES))


def test_every_type_backfills_and_validates_clean(env, cassandra, dynamodb, backfilled):
    mapping, m, d = env
    r, summary, _ = backfilled
    assert r.returncode == 0, r.stdout + r.stderr[-5000:]
    assert summary["failures"] == 0 and summary["ranges"]["failed"] == 0, summary
    # every row, plus the static rows of partitions that also have clustering rows (udts 1, statics 1)
    assert summary["rows_read"] == ROWS and summary["rows_written"] == ROWS + 2, summary
    r, summary, report = _run("validate", mapping, d, cassandra, *_tables(*TABLES))
    assert r.returncode == 0, r.stdout + (report.read_text()[-5000:] if report.exists() else r.stderr[-5000:])
    assert summary["differences"] == {} and summary["failures"] == 0, summary
    assert summary["rows_read"] == ROWS and "diff" not in report.read_text()
    for t in TABLES:
        tm = m.table(KS, t)
        if t == "edge":
            assert _same(tm, cassandra, dynamodb, EDGE) == 2
            continue
        # read by the project's codec and, independently, by the driver
        assert _same(tm, cassandra, dynamodb) > 0, t
        assert assert_stores_equal(cassandra, dynamodb, tm) > 0, t
    # a second run finds everything there already
    r, summary, _ = _run("backfill", mapping, d, cassandra, *_tables(*TABLES))
    assert r.returncode == 0 and summary["rows_written"] == 0, r.stdout + r.stderr[-3000:]


def _state(tm: TableMapping, dynamodb, key: dict[str, int]) -> Any:
    for item in scan_items(dynamodb, tm.dynamodb_table):
        if all(item.get(tm.attribute_name(c)) == {"N": str(v)} for c, v in key.items()):
            state = from_item(tm, item)
            assert state is not None
            return state
    raise AssertionError(f"no item {key}")


def _cell(tm: TableMapping, dynamodb, key: dict[str, int], column: str) -> Any:
    return _state(tm, dynamodb, key).cells.get(column)


def test_collection_elements_keep_their_own_timestamps_and_ttls(env, cassandra, dynamodb, backfilled):
    """Elements added at different times, some with a TTL, in sets whose Cassandra order is not
    Python's (inet, timeuuid): each element keeps its own WRITETIME and TTL."""
    _, m, _ = env
    assert backfilled[0].returncode == 0
    tm = m.table(KS, "colls")
    state = _state(tm, dynamodb, {"k": 1})
    for column in ("s", "l", "m", "sb", "su", "stu", "si", "sfm"):
        values, wt, ttl = raw_rows_of(cassandra, f"SELECT {column}, writetime({column}), ttl({column}) "
                                      f"FROM {tm.cql_name} WHERE k = 1")
        elems = [k for k, _ in (values.items() if isinstance(values, dict) else values)] if column == "m" else values
        expected = sorted((repr(e), w, t is not None) for e, w, t in zip(elems, wt, ttl, strict=True))
        coll = state.collections[column]
        got = sorted((repr(c.value[0] if column == "m" else c.value), c.ts, c.expiry != 0)
                     for c in coll.elems.values() if c.live(max(state.deleted, coll.tomb), int(time.time())))
        assert got == expected, column
        assert len({t for _, _, t in expected}) == 2 or column in ("sb", "su", "sfm"), column  # both kinds there


def raw_rows_of(cassandra, cql: str) -> tuple[Any, ...]:
    with RawClient(*cassandra) as c:
        r = c.rows(cql)
        (row,) = r.rows
        return tuple(None if v is None else deserialize(col.type, v)
                     for col, v in zip(r.metadata.columns or [], row, strict=True))


def test_non_frozen_udts_are_one_cell_at_their_newest_field(env, cassandra, dynamodb, backfilled):
    _, m, _ = env
    tm = m.table(KS, "udts")
    assert backfilled[0].returncode == 0
    now = int(time.time())
    # street without TTL, zip with one: the newest timestamp, and no expiry (street outlives zip)
    wt, ttl = writetime_ttl(cassandra, tm, "u", "k = 1 AND c = 2")
    assert wt[2:] == [None] * 5 and ttl[0] is None and ttl[1] is not None  # what Cassandra 5.0 answers
    cell = _cell(tm, dynamodb, {"k": 1, "c": 2}, "u")
    assert cell.ts == max(wt[:2]) and cell.expiry == 0
    assert cell.value == {"street": "only street", "zip": 5, "geo": None, "tags": None, "inner": None,
                          "hist": None, "at": None}
    # every field with a TTL: the longest
    wt, ttl = writetime_ttl(cassandra, tm, "u", "k = 1 AND c = 4")
    cell = _cell(tm, dynamodb, {"k": 1, "c": 4}, "u")
    assert cell.ts == max(x for x in wt if x) and abs(cell.expiry - (now + 2000)) <= 60
    # no field left: no value
    assert _cell(tm, dynamodb, {"k": 1, "c": 3}, "u") is None
    # written whole, then a field: one cell at the field's (newer) time
    wt, _ = writetime_ttl(cassandra, tm, "u", "k = 3 AND c = 1")
    assert _cell(tm, dynamodb, {"k": 3, "c": 1}, "u").ts == max(x for x in wt if x)


def test_read_repair_copies_every_type(env, cassandra, dynamodb, backfilled, tmp_path):
    """A partition Cassandra has and DynamoDB missed, read through a dynamo_fallback sidecar, is
    copied with its non-frozen UDTs, tuples, collections and vectors."""
    mapping, m, _ = env
    tables = ("udts", "tuples", "colls", "vecs")
    cluster, s = session_for(*cassandra, version=4)
    try:
        s.execute(f"UPDATE {KS}.udts SET u.zip = 77 WHERE k = 50 AND c = 1")
        s.execute(f"UPDATE {KS}.udts USING TTL 86400 SET u.inner = {{x: 5}}, su.street = 'rr' WHERE k = 50 AND c = 1")
        s.execute(f"INSERT INTO {KS}.tuples (k, nt, st) VALUES (50, (1, ('x', null), []), {{(5, null)}})")
        s.execute(f"UPDATE {KS}.colls SET si = si + {{'9.9.9.9'}}, lfs = [{{1}}] + lfs WHERE k = 50")
        s.execute(f"UPDATE {KS}.colls USING TTL 86400 SET si = si + {{'10.0.0.10'}} WHERE k = 50")
        s.execute(f"INSERT INTO {KS}.vecs (k, vu, vv) VALUES (50, [{{x: 1}}, {{x: 2}}], [[1.0, 2.0], [3.0, 4.0]])")
    finally:
        cluster.shutdown()
    phases = ",".join(f"{KS}.{t}=dynamo_fallback" for t in tables)
    sc = start_sidecar(cassandra, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       "--phases", phases, "--fallback-read-repair", env=AWS_ENV)
    try:
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            for t in tables:
                assert list(s.execute(f"SELECT * FROM {KS}.{t} WHERE k = 50")), t
            deadline = time.monotonic() + 15
            while metric_sum(sc, "cdp_read_repair_rows_total") < 5:  # udts: its row and its static row
                assert time.monotonic() < deadline, sc.log()[-3000:]
                time.sleep(0.05)
            assert metric_sum(sc, "cdp_read_repair_skipped_total") == 0, sc.log()[-3000:]
        finally:
            cluster.shutdown()
    finally:
        sc.stop()
    for t in tables:
        tm = m.table(KS, t)
        _same(tm, cassandra, dynamodb)
    wt, _ = writetime_ttl(cassandra, m.table(KS, "udts"), "u", "k = 50 AND c = 1")
    assert _cell(m.table(KS, "udts"), dynamodb, {"k": 50, "c": 1}, "u").ts == max(x for x in wt if x)


def test_restore_brings_every_type_back(env, cassandra, dynamodb, backfilled):
    """DynamoDB copied back into an empty keyspace of the same schema equals the original."""
    mapping, m, d = env
    assert backfilled[0].returncode == 0
    recreate_keyspace(cassandra, BACK, schema(BACK))
    back = d / "mapping-back.yaml"
    back.write_text(mapping.read_text().replace(f"cql: {KS}.", f"cql: {BACK}."))
    tables = [t for t in TABLES if t != "counters"]  # restore refuses counters (no timestamps to copy)
    args = [a for t in tables for a in ("--table", f"{BACK}.{t}")]
    try:
        r, summary, _ = _run("restore-cassandra", back, d, cassandra, *args)
        assert r.returncode == 0, r.stdout + r.stderr[-5000:]
        items = sum(len(scan_items(dynamodb, m.table(KS, t).dynamodb_table)) for t in tables)
        assert summary["failures"] == 0 and summary["rows_written"] == items, summary
        r, summary, report = _run("validate", back, d, cassandra, *args)
        # values equal everywhere; what restore documents it cannot reproduce is a list's per-element
        # timestamps and TTLs (Cassandra names list elements by time UUIDs no statement can set)
        diffs = [json.loads(x) for x in report.read_text().splitlines() if '"diff"' in x]
        assert r.returncode in (0, 1) and all(
            x["type"] == "MISMATCH" and all(dt.startswith("writetime/ttl(") for dt in x["details"])
            for x in diffs), r.stdout + report.read_text()[-5000:]
        mb = load_mapping(back)
        for t in tables:
            original, restored = m.table(KS, t), mb.table(BACK, t)
            a = sorted(map(repr, raw_rows(cassandra, original)))
            b = sorted(map(repr, raw_rows(cassandra, restored)))
            assert a == b, t
        # cells keep their write time (a UDT written whole, at its newest field's)
        for column, where in (("te", "k = 1"), ("b", "k = 2"), ("du", "k = 1")):
            assert (writetime_ttl(cassandra, mb.table(BACK, "natives"), column, where)[0]
                    == writetime_ttl(cassandra, m.table(KS, "natives"), column, where)[0]), column
        wt, _ = writetime_ttl(cassandra, m.table(KS, "udts"), "u", "k = 1 AND c = 2")
        wt_back, ttl_back = writetime_ttl(cassandra, mb.table(BACK, "udts"), "u", "k = 1 AND c = 2")
        assert [x for x in wt_back if x] == [max(wt[:2])] * 2 and ttl_back[:2] == [None, None]
    finally:
        drop_keyspace(cassandra, BACK)


BAD_ROWS = 40
BAD_KEY = 17


@pytest.fixture(scope="module")
def bad_table(cassandra, dynamodb, tmp_path_factory):
    """A mapping that says text where the table has blob (a hand-edited mapping): one row's bytes
    are not UTF-8, every other row reads fine."""
    ks = "bft_types_bad"
    d = tmp_path_factory.mktemp("bft-bad")
    with mapped_keyspace(cassandra, dynamodb, ks, [f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v blob, n int)"], d,
                         "bftbad", edit=lambda text: text.replace("v: blob", "v: text")
                         .replace("endpoint: null", f"endpoint: {dynamodb}")) as (mapping, m):
        cluster, s = session_for(*cassandra, version=4)
        try:
            ins = s.prepare(f"INSERT INTO {ks}.t (k, v, n) VALUES (?, ?, ?)")
            for k in range(BAD_ROWS):
                s.execute(ins, (k, b"\xff\xfe" if k == BAD_KEY else f"v{k}".encode(), k))
        finally:
            cluster.shutdown()
        yield mapping, m.table(ks, "t"), d
    drop_keyspace(cassandra, ks)


def test_a_row_that_cannot_be_decoded_fails_alone(bad_table, cassandra, dynamodb):
    mapping, tm, d = bad_table
    r, summary, _ = _run("backfill", mapping, d, cassandra, "--concurrency", "8")
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    assert summary["ranges"]["failed"] == 1 and summary["ranges"]["done"] == summary["ranges"]["total"] - 1, summary
    assert summary["failures"] == 1 and summary["rows_written"] == BAD_ROWS - 1, summary
    assert any(e.startswith(f"{tm.cql_name} ({BAD_KEY},): column v (text): cannot decode 2 bytes 0xfffe")
               for e in summary["errors"]), summary["errors"]
    assert f"({BAD_KEY},): column v (text)" in r.stdout  # the printed summary names it too
    assert "defunct" not in r.stderr and "NoHostAvailable" not in r.stderr
    keys = sorted(int(i[tm.attribute_name("k")]["N"]) for i in scan_items(dynamodb, tm.dynamodb_table))
    assert keys == [k for k in range(BAD_ROWS) if k != BAD_KEY]
    # validate compares every other row and names the one it could not read
    r, summary, report = _run("validate", mapping, d, cassandra)
    assert r.returncode == 3, r.stdout + r.stderr[-3000:]
    assert summary["differences"] == {} and summary["failures"] == 1, summary
    lines = [json.loads(x) for x in report.read_text().splitlines()]
    (bad,) = [x for x in lines if x["kind"] == "unreadable"]
    assert bad["key"] == [BAD_KEY] and bad["column"] == "v (text)" and "0xfffe" in bad["error"]
    failed = [x for x in lines if x["kind"] == "range" and x["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["range"] == bad["range"] and f"({BAD_KEY},)" in failed[0]["error"]
    # the same run again: the other rows are there already, the bad one fails again, fast
    r, summary, _ = _run("backfill", mapping, d, cassandra)
    assert r.returncode == 1 and summary["rows_written"] == 0 and summary["failures"] == 1, summary
