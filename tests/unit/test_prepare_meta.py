"""prepare_meta: ids and bind metadata, with expected values recorded from Cassandra 5.0.9."""

from __future__ import annotations

import hashlib

import pytest

from cql_protocol.cql import parse
from cql_protocol.messages import ColumnSpec
from cql_protocol.typeparse import parse_cql_type
from cql_protocol.types import BIGINT, INT, TEXT, CqlType, ListType, MapType, SetType, TupleType
from translators.mapping import loads_mapping
from translators.prepare_meta import (
    PrepareMetaError,
    bind_metadata,
    prepared_id,
    result_metadata_id,
    wire_type,
)

MAPPING = loads_mapping("""
version: 1
tables:
  - cql: ks.kv
    schema:
      columns: {k: int, c: int, c2: text, l: list<int>, m: "map<text, int>", s: set<int>,
                tup: "frozen<tuple<int, text>>", addr: address, v: text}
      partition_key: [k]
      clustering: [c, c2]
      types:
        address: {street: text, zip: int}
  - cql: ks.events
    schema:
      columns: {tenant: text, day: date, at: timestamp, seq: int, info: text}
      partition_key: [tenant, day]
      clustering: [{at: desc}, seq]
""")


@pytest.mark.parametrize(("query", "keyspace", "expected"), [
    # Recorded from Cassandra 5.0.9 (synth_cap.kv).
    ("SELECT * FROM synth_cap.kv WHERE k = ?", None, "54802032d8f6f153be7e6ebc2ebfa514"),
    ("SELECT * FROM synth_cap.kv WHERE k = ?", "synth_cap", "54802032d8f6f153be7e6ebc2ebfa514"),
    ("SELECT * FROM kv WHERE k = ?", "synth_cap", "c5bf1e45ab35a3e6f539744b9f427e51"),
    ("SELECT * FROM kv WHERE k = ? AND c = ?", "synth_cap", "6cc66aa6ef8a149ee3cb4a8520cffc2d"),
    ("CREATE TABLE t (k int PRIMARY KEY)", "ks", hashlib.md5(b"ksCREATE TABLE t (k int PRIMARY KEY)").hexdigest()),
])
def test_prepared_id(query: str, keyspace: str | None, expected: str) -> None:
    assert prepared_id(query, keyspace).hex() == expected


def spec(name: str, t: CqlType | str, table: str = "kv") -> ColumnSpec:
    return ColumnSpec("ks", table, name, wire_type(parse_cql_type(t) if isinstance(t, str) else t))


@pytest.mark.parametrize(("query", "expected", "pk"), [
    ("SELECT * FROM kv WHERE k = ?", [spec("k", INT)], [0]),
    ("SELECT * FROM kv WHERE k = :a AND c = :a", [spec("a", INT), spec("a", INT)], [0]),
    ("SELECT * FROM kv WHERE token(k) > ? AND token(k) <= token(?) LIMIT ?",
     [spec("partition key token", BIGINT), spec("arg0(system.token)", INT), spec("[limit]", INT)], []),
    ("SELECT * FROM kv WHERE k IN ? AND c IN (?, ?) PER PARTITION LIMIT ?",
     [spec("in(k)", ListType(INT)), spec("c", INT), spec("c", INT), spec("[per_partition_limit]", INT)], []),
    ("SELECT * FROM kv WHERE k IN (?, ?)", [spec("k", INT), spec("k", INT)], [1]),  # the last marker counts
    ("SELECT * FROM kv WHERE k = ? AND (c, c2) > (?, ?) AND (c, c2) < ?",
     [spec("k", INT), spec("c", INT), spec("c2", TEXT), spec("(c,c2)", TupleType((INT, TEXT)))], [0]),
    ("SELECT * FROM kv WHERE k = ? AND (c, c2) IN ?",
     [spec("k", INT), spec("in(c,c2)", ListType(TupleType((INT, TEXT))))], [0]),
    ("SELECT * FROM kv WHERE l CONTAINS ? AND m CONTAINS KEY ? AND m CONTAINS ? AND m[?] = ? ALLOW FILTERING",
     [spec("value(l)", INT), spec("key(m)", TEXT), spec("value(m)", INT), spec("key(m)", TEXT),
      spec("value(m)", INT)], []),
    ("UPDATE kv USING TTL ? AND TIMESTAMP ? SET l[?] = ?, m[?] = ?, s = s + ?, tup = (?, ?), addr.zip = ? "
     "WHERE k = ? AND c = ? AND c2 = ?",
     [spec("[ttl]", INT), spec("[timestamp]", BIGINT), spec("idx(l)", INT), spec("value(l)", INT),
      spec("key(m)", TEXT), spec("value(m)", INT), spec("s", SetType(INT)), spec("tup[0]", INT),
      spec("tup[1]", TEXT), spec("addr.zip", INT), spec("k", INT), spec("c", INT), spec("c2", TEXT)], [10]),
    ("UPDATE kv SET m = m - ?, l = ? + l WHERE k = ? AND c = ? AND c2 = ?",
     [spec("m", SetType(TEXT)), spec("l", ListType(INT)), spec("k", INT), spec("c", INT), spec("c2", TEXT)], [2]),
    ("UPDATE kv SET v = ? WHERE k = ? AND c = ? AND c2 = ? IF m[?] = ? AND l[?] IN ? AND addr.zip > ? AND v IN ?",
     [spec("v", TEXT), spec("k", INT), spec("c", INT), spec("c2", TEXT), spec("key(m)", TEXT),
      spec("value(m)", INT), spec("idx(l)", INT), spec("in(value(l))", ListType(INT)), spec("addr.zip", INT),
      spec("in(v)", ListType(TEXT))], [1]),
    ("DELETE l[?], m[?] FROM kv USING TIMESTAMP ? WHERE k = :k AND c = ? AND c2 = ?",
     [spec("idx(l)", INT), spec("key(m)", TEXT), spec("[timestamp]", BIGINT), spec("k", INT), spec("c", INT),
      spec("c2", TEXT)], [3]),
    ("INSERT INTO kv (k, c, c2, addr) VALUES (:k, :c, :c2, {street: ?, zip: ?}) USING TTL ?",
     [spec("k", INT), spec("c", INT), spec("c2", TEXT), spec("addr.street", TEXT), spec("addr.zip", INT),
      spec("[ttl]", INT)], [0]),
    ("INSERT INTO kv JSON ?", [spec("[json]", TEXT)], []),
    ("SELECT * FROM events WHERE tenant = ? AND day = ?", [spec("tenant", TEXT, "events"),
                                                            spec("day", "date", "events")], [0, 1]),
    ("SELECT * FROM events WHERE tenant = ? AND day = '2024-01-01'", [spec("tenant", TEXT, "events")], []),
])
def test_bind_metadata(query: str, expected: list[ColumnSpec], pk: list[int]) -> None:
    assert bind_metadata(parse(query), "ks", MAPPING) == (expected, pk)


@pytest.mark.parametrize(("query", "keyspace", "error"), [
    ("SELECT * FROM kv WHERE k = ?", None, "No keyspace"),
    ("SELECT * FROM nope WHERE k = ?", "ks", "not in the mapping"),
    ("SELECT * FROM kv WHERE zz = ?", "ks", "Undefined column name zz"),
    ("BEGIN BATCH INSERT INTO kv (k, c, c2) VALUES (?, ?, ?) APPLY BATCH", "ks", "BATCH"),
])
def test_bind_metadata_errors(query: str, keyspace: str | None, error: str) -> None:
    with pytest.raises(PrepareMetaError, match=error):
        bind_metadata(parse(query), keyspace, MAPPING)


def test_result_metadata_id() -> None:
    # Recorded from Cassandra 5.0.9: SELECT v (text) and any INSERT/UPDATE/DELETE.
    assert result_metadata_id([ColumnSpec("ks", "kv", "v", TEXT)]).hex() == "686a6cdcafb7f8f92cceb4c77699660d"
    assert result_metadata_id([]).hex() == "d41d8cd98f00b204e9800998ecf8427e"
    frozen = ColumnSpec("ks", "kv", "x", parse_cql_type("frozen<list<int>>"))
    assert result_metadata_id([frozen]) != result_metadata_id([ColumnSpec("ks", "kv", "x", ListType(INT))])
    at = ColumnSpec("ks", "events", "at", parse_cql_type("timestamp"))
    assert result_metadata_id([at], MAPPING) != result_metadata_id([at])  # DESC: ReversedType
    assert result_metadata_id([ColumnSpec("ks", "kv", "m", MapType(TEXT, INT))], MAPPING) == \
        result_metadata_id([ColumnSpec("ks", "kv", "m", MapType(TEXT, INT))])
