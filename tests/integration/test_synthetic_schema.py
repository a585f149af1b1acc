"""The synthetic system tables and PREPARE metadata, compared with the real Cassandra 5.0.

A keyspace covering every type, nested and frozen UDTs, static columns, DESC clustering and a
secondary index is created, mapped with `mapping init`'s import path, and then every system query
the drivers send (captured from scylla-driver v4/v5 and the Node.js driver) is answered by both.

What is compared:
* result metadata: always, exactly (names, types, order), in v4 and v5;
* system_schema rows of the mapped keyspace: every column except `system_schema.tables.id`
  (Cassandra gives a created table a time-based id that the mapping cannot know); table options
  match because the test tables use the defaults, which is all the mapping can describe;
* system keyspaces' rows in system_schema.keyspaces and the system_virtual_schema keyspace's own
  rows: exactly;
* system.local: the columns that describe the server (partitioner, versions, cluster name, ...)
  against Cassandra's, the ones that describe the sidecar against system_tables.local_values;
* PREPARE: id, bind variable specs, pk indexes and v5 result metadata id, exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cql_protocol.cql import parse
from cql_protocol.messages import ColumnSpec, Rows, RowsMetadata
from cql_protocol.types import deserialize
from proxy.system_tables.synthetic_schema import ClusterInfo, SyntheticSchema
from proxy.system_tables.system_schema_defs import SYSTEM_KEYSPACES
from proxy.system_tables.topology import Node, local_values
from translators.mapping import Mapping
from translators.prepare_meta import bind_metadata, prepared_id, result_metadata_id
from translators.schema_import import SchemaRows, build_table_mappings

from .raw_client import RawClient

pytestmark = pytest.mark.integration

KS = "synth_it"
SCHEMA = [
    f"CREATE KEYSPACE {KS} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}",
    f"CREATE TYPE {KS}.point (x double, y double)",
    f"CREATE TYPE {KS}.address (street text, zip int, loc frozen<point>, tags frozen<set<text>>)",
    f'CREATE TYPE {KS}."Wrapper" (inner frozen<address>, pts list<frozen<point>>)',
    f"CREATE TABLE {KS}.everything (id uuid PRIMARY KEY, a ascii, b bigint, bl blob, bo boolean, d decimal, "
    "db double, f float, i int, ts timestamp, t text, tu timeuuid, vi varint, ip inet, dt date, tm time, "
    "si smallint, ti tinyint, du duration, l list<int>, s set<text>, m map<text, int>, fl frozen<list<int>>, "
    "tup tuple<int, text>, addr address, faddr frozen<address>, w frozen<\"Wrapper\">, "
    "lm list<frozen<map<int, text>>>, v vector<float, 3>)",
    f"CREATE TABLE {KS}.events (tenant text, day date, at timestamp, seq int, kind text, info text, "
    "tenant_name text static, PRIMARY KEY ((tenant, day), at, seq)) WITH CLUSTERING ORDER BY (at DESC, seq ASC)",
    f"CREATE INDEX events_kind ON {KS}.events (kind)",
    f"CREATE TABLE {KS}.counts (k text, c int, n counter, PRIMARY KEY (k, c))",
    f"CREATE TABLE {KS}.kv (k int, c int, c2 text, l list<int>, m map<text, int>, s set<int>, "
    "tup tuple<int, text>, addr address, v text, PRIMARY KEY (k, c, c2))",
    f'CREATE TABLE {KS}."Mixed" ("Key" text, "Val" int, PRIMARY KEY ("Key"))',
]

# Every query scylla-driver (protocol v4 and v5) and the Node.js driver (v4) sent while connecting,
# refreshing schema metadata and looking up tables, types, functions, aggregates and views.
DRIVER_QUERIES = [
    "SELECT * FROM system.local WHERE key='local'",
    "SELECT broadcast_address, cluster_name, data_center, host_id, listen_address, partitioner, rack, "
    "release_version, rpc_address, schema_version, tokens FROM system.local WHERE key='local'",
    "SELECT schema_version FROM system.local WHERE key='local'",
    "SELECT * FROM system.peers",
    "SELECT * FROM system.peers_v2",
    "SELECT host_id, peer, peer_port, native_address, native_port, schema_version FROM system.peers_v2",
    "SELECT * FROM system_schema.keyspaces",
    "SELECT * FROM system_schema.tables",
    "SELECT * FROM system_schema.columns",
    "SELECT * FROM system_schema.types",
    "SELECT * FROM system_schema.functions",
    "SELECT * FROM system_schema.aggregates",
    "SELECT * FROM system_schema.indexes",
    "SELECT * FROM system_schema.views",
    "SELECT * from system_virtual_schema.keyspaces",
    "SELECT * FROM system_virtual_schema.keyspaces",
    "SELECT * from system_virtual_schema.tables",
    "SELECT * from system_virtual_schema.columns",
    f"SELECT * FROM system_schema.keyspaces WHERE keyspace_name = '{KS}'",
    f"SELECT * FROM system_schema.tables WHERE keyspace_name = '{KS}' AND table_name = 'events'",
    f"SELECT * FROM system_schema.columns WHERE keyspace_name = '{KS}' AND table_name = 'events'",
    f"SELECT * FROM system_schema.indexes WHERE keyspace_name = '{KS}' AND table_name = 'events'",
    f"SELECT * FROM system_schema.views WHERE keyspace_name = '{KS}' AND view_name = 'events'",
    f"SELECT * FROM system_schema.types WHERE keyspace_name = '{KS}' AND type_name = 'point'",
    f"SELECT * FROM system_schema.tables WHERE keyspace_name='{KS}' AND table_name='everything'",
    f"SELECT * FROM system_schema.columns WHERE keyspace_name='{KS}' AND table_name='everything'",
    f"SELECT * FROM system_schema.indexes WHERE keyspace_name='{KS}' AND table_name='everything'",
    f"SELECT * FROM system_schema.types WHERE keyspace_name='{KS}' AND type_name='address'",
    f"SELECT * FROM system_schema.functions WHERE keyspace_name = '{KS}' AND function_name = 'fn'",
    f"SELECT * FROM system_schema.aggregates WHERE keyspace_name = '{KS}' AND aggregate_name = 'ag'",
    f"SELECT * FROM system_schema.views WHERE keyspace_name = '{KS}' AND view_name = 'mv'",
    # Older drivers and tools: the remaining system_schema tables and key-only selections.
    "SELECT * FROM system_schema.triggers",
    "SELECT * FROM system_schema.dropped_columns",
    "SELECT * FROM system_schema.column_masks",
    f"SELECT * FROM system_schema.triggers WHERE keyspace_name = '{KS}' AND table_name = 'events'",
    "SELECT keyspace_name FROM system_schema.keyspaces",
    f"SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{KS}'",
    f"SELECT * FROM system_schema.columns WHERE keyspace_name = '{KS}'",
    f"SELECT * FROM system_schema.types WHERE keyspace_name = '{KS}'",
]
BOUND_QUERIES = [
    ("SELECT * FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?", [KS, "kv"]),
    ("SELECT * FROM system_schema.columns WHERE keyspace_name = ?", [KS]),
]


def _drop(c: RawClient) -> None:
    c.query(f"DROP KEYSPACE IF EXISTS {KS}")


@pytest.fixture(scope="module")
def live(cassandra: tuple[str, int]) -> Iterator[tuple[RawClient, Mapping]]:
    with RawClient(*cassandra, version=5) as c:
        _drop(c)
        for s in SCHEMA:
            c.query(s)
        schema = SchemaRows(
            tables=[(KS, str(r["table_name"])) for r in _dicts(c.rows(f"SELECT table_name FROM system_schema.tables "
                                                                  f"WHERE keyspace_name = '{KS}'"))],
            columns=_dicts(c.rows(f"SELECT * FROM system_schema.columns WHERE keyspace_name = '{KS}'")),
            types=_dicts(c.rows(f"SELECT * FROM system_schema.types WHERE keyspace_name = '{KS}'")),
            indexes=_dicts(c.rows(f"SELECT * FROM system_schema.indexes WHERE keyspace_name = '{KS}'")),
        )
        tables = build_table_mappings(schema).tables
        mapping = Mapping(1, None, None, {(tm.keyspace, tm.table): tm for tm in tables})
        try:
            yield c, mapping
        finally:
            _drop(c)


def _dicts(rows: Rows) -> list[dict[str, object]]:
    cols = rows.metadata.columns
    assert cols is not None
    return [{c.name: None if v is None else deserialize(c.type, v) for c, v in zip(cols, r, strict=True)}
            for r in rows.rows]


def _key(d: dict[str, object]) -> str:
    return repr(sorted((k, repr(v)) for k, v in d.items()))


def _synthetic(mapping: Mapping, local: dict[str, object]) -> SyntheticSchema:
    info = ClusterInfo(str(local["cluster_name"]), str(local["data_center"]), str(local["rack"]),
                       str(local["release_version"]))
    return SyntheticSchema(mapping, Node("127.0.0.1", 9043), [Node("127.0.0.2", 9043), Node("127.0.0.3", 9043)], info)


def _ours(rows: list[dict[str, object]], table: str) -> list[dict[str, object]]:
    out = []
    for r in rows:
        if r.get("keyspace_name") == KS:
            r = dict(r)
            if table in ("tables", "views"):
                r.pop("id", None)  # a created table's id is time-based; the mapping cannot know it
            out.append(r)
    return sorted(out, key=_key)


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("query", DRIVER_QUERIES)
def test_driver_system_queries(live: tuple[RawClient, Mapping], cassandra: tuple[str, int], version: int,
                               query: str) -> None:
    _, mapping = live
    with RawClient(*cassandra, version=version) as c:
        theirs = c.rows(query)
        local = _dicts(c.rows("SELECT * FROM system.local"))[0]
    synth = _synthetic(mapping, local)
    mine = synth.answer(query, [], version)
    assert mine is not None
    assert mine.metadata.columns == theirs.metadata.columns
    _compare_rows(query, synth, _dicts(mine), _dicts(theirs))


@pytest.mark.parametrize(("query", "params"), BOUND_QUERIES)
def test_bound_system_queries(live: tuple[RawClient, Mapping], query: str, params: list[str]) -> None:
    c, mapping = live
    values: list[bytes | None] = [p.encode() for p in params]
    theirs = c.rows(query, values)
    mine = _synthetic(mapping, _dicts(c.rows("SELECT * FROM system.local"))[0]).answer(query, values, 5)
    assert mine is not None
    assert mine.metadata.columns == theirs.metadata.columns
    table = query.split("system_schema.")[1].split()[0]
    assert _ours(_dicts(mine), table) == _ours(_dicts(theirs), table)
    assert _ours(_dicts(mine), table)


def _compare_rows(query: str, synth: SyntheticSchema, mine: list[dict[str, object]],
                  theirs: list[dict[str, object]]) -> None:
    source = query.split(" FROM ", 1)[1] if " FROM " in query else query.split(" from ", 1)[1]
    ks, table = source.split()[0].split(".")
    if ks == "system":
        if table == "local":
            _compare_local(synth, mine, theirs)
        else:
            assert {str(r.get("peer") or r.get("native_address")) for r in mine} <= {"127.0.0.2", "127.0.0.3"}
            assert len(mine) == 2
        return
    if ks == "system_virtual_schema":
        assert mine == [r for r in theirs if r["keyspace_name"] == "system_virtual_schema"]
        return
    assert _ours(mine, table) == _ours(theirs, table)
    if table == "keyspaces" and "keyspace_name" in (mine[0] if mine else {}):
        cassandra_ks = {r["keyspace_name"]: r for r in theirs}
        for r in mine:
            if r["keyspace_name"] in SYSTEM_KEYSPACES:
                assert r == cassandra_ks[r["keyspace_name"]]
    if table in ("tables", "columns", "types", "indexes") and "WHERE" not in query:
        assert _ours(mine, table), "the mapped keyspace has rows"


SERVER_COLUMNS = ("bootstrapped", "cluster_name", "cql_version", "data_center", "native_protocol_version",
                  "partitioner", "rack", "release_version", "key", "broadcast_port", "listen_port")


def _compare_local(synth: SyntheticSchema, mine: list[dict[str, object]], theirs: list[dict[str, object]]) -> None:
    assert len(mine) == len(theirs) == 1
    m, t = mine[0], theirs[0]
    for col in SERVER_COLUMNS:
        if col in t:
            assert m[col] == t[col], col
    sidecar = local_values(synth.me, synth.peers)
    for col, v in sidecar.items():
        if col in m:
            assert m[col] == (v if col != "tokens" else list(v)), col  # type: ignore[call-overload]
    if "schema_version" in m:
        assert m["schema_version"] == synth.schema_version


def test_schema_version_is_stable_and_follows_the_schema(live: tuple[RawClient, Mapping]) -> None:
    _, mapping = live
    a = SyntheticSchema(mapping, Node("127.0.0.1", 9043), [])
    b = SyntheticSchema(mapping, Node("127.0.0.9", 9042), [Node("127.0.0.1", 9043)])
    assert a.schema_version == b.schema_version
    smaller = Mapping(1, None, None, {k: v for k, v in mapping.tables.items() if k[1] != "kv"})
    assert SyntheticSchema(smaller, Node("127.0.0.1", 9043), []).schema_version != a.schema_version
    assert isinstance(a.schema_version, uuid.UUID)


# ---------------------------------------------------------------------------------------------
# PREPARE
# ---------------------------------------------------------------------------------------------

STATEMENTS = [
    f"SELECT * FROM {KS}.kv WHERE k = ?",
    "SELECT * FROM kv WHERE k = ?",
    "SELECT * FROM kv WHERE k = ? AND c = ? AND c2 = ?",
    "SELECT v, c FROM kv WHERE k = :a AND c = :a",
    "SELECT * FROM kv WHERE k = :key AND c > :lo AND c < :hi",
    "SELECT * FROM kv WHERE token(k) > ? AND token(k) <= token(?) LIMIT ?",
    "SELECT * FROM kv WHERE k IN ? AND c IN (?, ?) PER PARTITION LIMIT ?",
    "SELECT * FROM kv WHERE k IN (?, ?)",
    "SELECT * FROM kv WHERE k = ? AND (c, c2) > (?, ?) AND (c, c2) < ?",
    "SELECT * FROM kv WHERE k = ? AND (c, c2) IN ((?, ?), (?, ?))",
    "SELECT * FROM kv WHERE k = ? AND (c, c2) IN ?",
    "SELECT * FROM kv WHERE l CONTAINS ? AND m CONTAINS KEY ? AND m CONTAINS ? AND m[?] = ? ALLOW FILTERING",
    "SELECT v FROM kv WHERE k = ? AND c = (int) ?",
    "SELECT * FROM kv WHERE k = 1 AND c = ? LIMIT 10",
    "SELECT * FROM events WHERE tenant = ? AND day = ? AND at > ? ORDER BY at ASC LIMIT :n",
    "SELECT tenant_name FROM events WHERE tenant = ? AND day = '2024-01-01'",
    "SELECT * FROM events WHERE kind = ?",
    "SELECT fl, tup, addr, faddr, w, lm, v FROM everything WHERE id = ?",
    "SELECT * FROM everything WHERE id = ?",
    'SELECT "Val" FROM "Mixed" WHERE "Key" = ?',
    "SELECT n FROM counts WHERE k = ? AND c >= ?",
    "INSERT INTO kv (k, c, c2, v) VALUES (?, ?, ?, ?)",
    "INSERT INTO kv (c2, c, k) VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?",
    "INSERT INTO kv (k, c, c2, v, addr) VALUES (:k, :c, :c2, :v, {street: ?, zip: ?}) IF NOT EXISTS",
    "INSERT INTO kv (k, c, c2, tup) VALUES (?, ?, ?, (?, ?)) USING TTL :ttl",
    "INSERT INTO kv JSON ?",
    f"INSERT INTO {KS}.everything (id, du, v, ip, fl) VALUES (?, ?, ?, ?, ?)",
    'INSERT INTO "Mixed" ("Key", "Val") VALUES (?, ?)',
    "UPDATE kv USING TTL ? AND TIMESTAMP ? SET l[?] = ?, m[?] = ?, s = s + ?, tup = (?, ?), addr.zip = ? "
    "WHERE k = ? AND c = ? AND c2 = ?",
    "UPDATE kv SET m = m - ?, l = ? + l, s = s - ?, v = ? WHERE k = ? AND c = ? AND c2 = ?",
    "UPDATE kv SET m = m + ?, l = l - ? WHERE k IN (?, ?) AND c = ? AND c2 = ?",
    "UPDATE kv SET v = ? WHERE k = ? AND c = ? AND c2 = ? IF v = ? AND m[?] = ? AND l[?] IN ? "
    "AND addr.zip > ? AND v IN (?, ?)",
    "UPDATE kv SET v = :v WHERE k = :k AND c = :c AND c2 = :c2 IF EXISTS",
    "UPDATE counts SET n = n + ? WHERE k = ? AND c = ?",
    "UPDATE events SET tenant_name = ? WHERE tenant = ? AND day = ?",
    "DELETE l[?], m[?], s, addr.zip FROM kv USING TIMESTAMP ? WHERE k = :k AND c = ? AND c2 = ?",
    "DELETE FROM kv WHERE k = ? AND c = ? AND c2 = ? IF v = :v",
    "DELETE FROM kv WHERE k = ? AND c IN ?",
    "DELETE FROM events WHERE tenant = ? AND day = ? AND at >= ? AND at < ?",
]


def _result_columns(mapping: Mapping, stmt_text: str, theirs: RowsMetadata) -> list[ColumnSpec]:
    """The result columns the select_meta builder will give: Cassandra's names and order, the
    schema's own types (with their frozen flags)."""
    stmt = parse(stmt_text)
    tm = mapping.table(KS, stmt.table)  # type: ignore[union-attr]
    assert tm is not None
    return [ColumnSpec(c.keyspace, c.table, c.name, tm.schema.columns[c.name]) for c in theirs.columns or []]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("statement", STATEMENTS)
def test_prepare_matches_cassandra(live: tuple[RawClient, Mapping], cassandra: tuple[str, int], version: int,
                                   statement: str) -> None:
    _, mapping = live
    with RawClient(*cassandra, version=version) as c:
        c.query(f"USE {KS}")
        p = c.prepare(statement)
    assert prepared_id(statement, KS) == p.query_id
    specs, pk = bind_metadata(parse(statement), KS, mapping)
    assert specs == p.metadata.columns
    assert pk == (p.metadata.pk_indexes or [])
    if version >= 5:
        result_columns = _result_columns(mapping, statement, p.result_metadata)
        assert result_metadata_id(result_columns, mapping) == p.result_metadata_id


def test_prepared_id_ignores_keyspace_of_qualified_statements(live: tuple[RawClient, Mapping],
                                                              cassandra: tuple[str, int]) -> None:
    qualified = f"SELECT v FROM {KS}.kv WHERE k = ?"
    unqualified = "SELECT v FROM kv WHERE k = ?"
    with RawClient(*cassandra, version=5) as c:
        no_ks = c.prepare(qualified)
        with_ks = c.prepare(qualified, keyspace=KS)
        v5_ks = c.prepare(unqualified, keyspace=KS)
    assert no_ks.query_id == with_ks.query_id == prepared_id(qualified, None) == prepared_id(qualified, KS)
    assert v5_ks.query_id == prepared_id(unqualified, KS) != prepared_id(unqualified, "other")


def test_modification_results_have_no_metadata(live: tuple[RawClient, Mapping], cassandra: tuple[str, int]) -> None:
    with RawClient(*cassandra, version=5) as c:
        p = c.prepare(f"UPDATE {KS}.kv SET v = ? WHERE k = ? AND c = ? AND c2 = ? IF EXISTS")
    assert p.result_metadata.columns is None
    assert p.result_metadata_id == result_metadata_id([])
