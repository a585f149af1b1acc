"""CQL features through the sidecar: types, batches, LWT, counters, paging, USE, schema events,
re-prepare after UNPREPARED."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import time
import uuid

import pytest
from cassandra.query import BatchStatement, BatchType, SimpleStatement
from cassandra.util import Duration

from .drivers import KEYSPACE, ensure_keyspace, metric, session_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def session(sidecar):
    cluster, session = session_for(sidecar.host, sidecar.port, version=5, compression="lz4")
    ensure_keyspace(session)
    yield session
    cluster.shutdown()


ALL_TYPES = {
    "a": ("ascii", "plain ascii"),
    "bi": ("bigint", -(2**63)),
    "bl": ("blob", b"\x00\x01\xffbytes"),
    "bo": ("boolean", True),
    "dc": ("decimal", decimal.Decimal("-12345678901234567890.000123")),
    "db": ("double", 1.5e300),
    "fl": ("float", 0.25),
    "i": ("int", -2147483648),
    "ts": ("timestamp", datetime.datetime(2024, 2, 29, 12, 30, 45, 123000)),
    "u": ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
    "t": ("text", "héllo wörld ✓"),
    "vi": ("varint", 10**40 + 7),
    "tu": ("timeuuid", uuid.UUID("e3e2d6e0-8c8f-11ee-b9d1-0242ac120002")),
    "ip": ("inet", "2001:db8::1"),
    "d": ("date", datetime.date(1969, 7, 20)),
    "tm": ("time", 45296789012345),
    "si": ("smallint", -32768),
    "ti": ("tinyint", 127),
    "du": ("duration", Duration(1, 2, 3_000_000_000)),
    "li": ("list<frozen<map<text, int>>>", [{"a": 1}, {"b": 2, "c": 3}]),
    "se": ("set<timeuuid>", {uuid.UUID("e3e2d6e0-8c8f-11ee-b9d1-0242ac120002")}),
    "mp": ("map<int, frozen<list<frozen<set<text>>>>>", {1: [{"x", "y"}], 2: []}),
    "tp": ("frozen<tuple<int, text, frozen<list<double>>>>", (1, "two", [3.0])),
    "ud": ("frozen<addr>", None),  # filled below, needs the UDT class
    "ve": ("vector<float, 3>", [1.0, -2.5, 3.25]),
}


def test_every_type_round_trips(session):
    session.execute(f"CREATE TYPE IF NOT EXISTS {KEYSPACE}.addr (street text, zip int, tags frozen<set<text>>)")
    cols = ", ".join(f"{name} {typ}" for name, (typ, _) in ALL_TYPES.items())
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.alltypes (k int PRIMARY KEY, {cols})")
    names = list(ALL_TYPES)
    values = [v for _, v in ALL_TYPES.values()]
    udt_value = ("Main St", 12345, {"home"})  # an unregistered UDT binds positionally
    values[names.index("ud")] = udt_value
    ins = session.prepare(
        f"INSERT INTO {KEYSPACE}.alltypes (k, {', '.join(names)}) VALUES (?, {', '.join('?' * len(names))})"
    )
    session.execute(ins, [1, *values])
    row = session.execute(f"SELECT * FROM {KEYSPACE}.alltypes WHERE k = 1").one()
    for name, expected in zip(names, values, strict=True):
        got = getattr(row, name)
        if name == "ip":
            assert ipaddress.ip_address(got) == ipaddress.ip_address(expected)
        elif name == "ud":
            assert (got.street, got.zip, set(got.tags)) == ("Main St", 12345, {"home"})
        elif name == "tm":
            assert got.nanosecond_time == expected
        elif name == "d":
            assert got.date() == expected
        elif name == "se":
            assert set(got) == expected
        elif name == "mp":
            assert {k: [set(s) for s in v] if v else [] for k, v in got.items()} == {1: [{"x", "y"}], 2: []} or \
                {k: [set(s) for s in v] for k, v in got.items()} == {1: [{"x", "y"}]}
        elif name == "ve":
            assert list(got) == expected
        else:
            assert got == expected, name
    # nulls too
    session.execute(ins, [2, *([None] * len(names))])
    row = session.execute(f"SELECT * FROM {KEYSPACE}.alltypes WHERE k = 2").one()
    assert all(getattr(row, n) in (None, [], {}, set()) for n in names)


def test_batches_lwt_and_counters(session):
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.acct (id int PRIMARY KEY, owner text, bal int)")
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.hits (id int PRIMARY KEY, n counter)")
    session.execute(f"TRUNCATE {KEYSPACE}.acct")
    ins = session.prepare(f"INSERT INTO {KEYSPACE}.acct (id, owner, bal) VALUES (?, ?, ?)")
    logged = BatchStatement(batch_type=BatchType.LOGGED)
    for i in range(10):
        logged.add(ins, (i, f"o{i}", i * 10))
    logged.add(SimpleStatement(f"UPDATE {KEYSPACE}.acct SET bal = 999 WHERE id = 0"))
    session.execute(logged)
    unlogged = BatchStatement(batch_type=BatchType.UNLOGGED)
    for i in range(10, 20):
        unlogged.add(ins, (i, f"o{i}", i))
    session.execute(unlogged)
    assert session.execute(f"SELECT count(*) FROM {KEYSPACE}.acct").one()[0] == 20
    assert session.execute(f"SELECT bal FROM {KEYSPACE}.acct WHERE id = 0").one().bal == 999

    # LWT: applied, then not applied with the current values in the answer
    r = session.execute(f"INSERT INTO {KEYSPACE}.acct (id, owner, bal) VALUES (100, 'lw', 1) IF NOT EXISTS")
    assert r.was_applied
    r = session.execute(f"INSERT INTO {KEYSPACE}.acct (id, owner, bal) VALUES (100, 'other', 2) IF NOT EXISTS")
    assert not r.was_applied and r.one().owner == "lw"
    r = session.execute(f"UPDATE {KEYSPACE}.acct SET bal = 5 WHERE id = 100 IF bal = 1")
    assert r.was_applied
    r = session.execute(f"UPDATE {KEYSPACE}.acct SET bal = 6 WHERE id = 100 IF bal = 1")
    assert not r.was_applied and r.one().bal == 5

    # counters, also in a COUNTER batch
    session.execute(f"TRUNCATE {KEYSPACE}.hits")
    inc = session.prepare(f"UPDATE {KEYSPACE}.hits SET n = n + ? WHERE id = ?")
    for _ in range(5):
        session.execute(inc, (2, 1))
    cb = BatchStatement(batch_type=BatchType.COUNTER)
    cb.add(inc, (10, 1))
    cb.add(inc, (-3, 2))
    session.execute(cb)
    assert session.execute(f"SELECT n FROM {KEYSPACE}.hits WHERE id = 1").one().n == 20
    assert session.execute(f"SELECT n FROM {KEYSPACE}.hits WHERE id = 2").one().n == -3


def test_paging_through_ten_thousand_rows(session):
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.wide (p int, c int, v text, PRIMARY KEY (p, c))")
    session.execute(f"TRUNCATE {KEYSPACE}.wide")
    ins = session.prepare(f"INSERT INTO {KEYSPACE}.wide (p, c, v) VALUES (?, ?, ?)")
    from cassandra.concurrent import execute_concurrent_with_args

    results = execute_concurrent_with_args(session, ins, [(c % 4, c, f"v{c}") for c in range(10_000)],
                                           concurrency=200)
    assert all(ok for ok, _ in results)
    stmt = SimpleStatement(f"SELECT p, c FROM {KEYSPACE}.wide", fetch_size=333)
    rs = session.execute(stmt)
    seen = set()
    pages = 0
    for row in rs:
        seen.add(row.c)
        pages = max(pages, 1)
    assert len(seen) == 10_000
    # explicit paging state round trip
    first = session.execute(SimpleStatement(f"SELECT c FROM {KEYSPACE}.wide WHERE p = 1", fetch_size=100))
    state = first.paging_state
    assert state is not None and len(first.current_rows) == 100
    second = session.execute(SimpleStatement(f"SELECT c FROM {KEYSPACE}.wide WHERE p = 1", fetch_size=100),
                             paging_state=state)
    assert second.current_rows[0].c > first.current_rows[-1].c


def test_use_is_per_connection(sidecar):
    c1, s1 = session_for(sidecar.host, sidecar.port, version=4)
    c2, s2 = session_for(sidecar.host, sidecar.port, version=4)
    try:
        ensure_keyspace(s1)
        s1.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.usetest (k int PRIMARY KEY)")
        s1.set_keyspace(KEYSPACE)
        s1.execute("INSERT INTO usetest (k) VALUES (1)")
        assert s1.execute("SELECT k FROM usetest").one().k == 1
        with pytest.raises(Exception, match=r"(?i)keyspace"):
            s2.execute("SELECT k FROM usetest")
    finally:
        c1.shutdown()
        c2.shutdown()


def test_schema_change_reaches_driver_metadata(sidecar, session):
    watcher, _ = session_for(sidecar.host, sidecar.port, version=4)
    try:
        table = f"evt_{uuid.uuid4().hex[:8]}"
        session.execute(f"CREATE TABLE {KEYSPACE}.{table} (k int PRIMARY KEY, v text)")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ks = watcher.metadata.keyspaces.get(KEYSPACE)
            if ks is not None and table in ks.tables:
                break
            time.sleep(0.1)
        assert table in watcher.metadata.keyspaces[KEYSPACE].tables
        assert "v" in watcher.metadata.keyspaces[KEYSPACE].tables[table].columns
    finally:
        watcher.shutdown()


def test_reprepare_after_unprepared(sidecar, session):
    """Cassandra forgets a prepared statement (its table was dropped and re-created); the driver
    gets UNPREPARED through the sidecar, re-prepares on the fly and succeeds."""
    session.execute(f"DROP TABLE IF EXISTS {KEYSPACE}.rp")
    session.execute(f"CREATE TABLE {KEYSPACE}.rp (k int PRIMARY KEY, v int)")
    ps = session.prepare(f"INSERT INTO {KEYSPACE}.rp (k, v) VALUES (?, ?)")
    session.execute(ps, (1, 1))
    before = metric(sidecar, 'cdp_errors_total{code="UNPREPARED"}')
    session.execute(f"DROP TABLE {KEYSPACE}.rp")
    session.execute(f"CREATE TABLE {KEYSPACE}.rp (k int PRIMARY KEY, v int)")
    session.execute(ps, (2, 2))
    assert session.execute(f"SELECT v FROM {KEYSPACE}.rp WHERE k = 2").one().v == 2
    assert metric(sidecar, 'cdp_errors_total{code="UNPREPARED"}') == before + 1
