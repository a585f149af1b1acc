"""Result metadata of SELECTs on a mapped table: the names and types Cassandra 5.0 gives."""

from __future__ import annotations

import pytest

from cql_protocol.cql import parse
from translators.mapping import loads_mapping
from translators.select_meta import result_columns
from translators.statements import Untranslatable

MAPPING = """
version: 1
tables:
  - cql: ks.t
    schema:
      columns: {k: int, c: int, Mixed: text, s: text, m: "map<text, int>", fm: "frozen<map<text, int>>",
                l: "list<int>", a: "frozen<ad>"}
      partition_key: [k]
      clustering: [c]
      static: [s]
      types: {ad: {street: text, zip: int}}
"""
TM = loads_mapping(MAPPING).table("ks", "t")


def cols(cql: str) -> list[tuple[str, str]]:
    assert TM is not None
    specs = result_columns(parse(cql), TM)  # type: ignore[arg-type]
    assert all((c.keyspace, c.table) == ("ks", "t") for c in specs)
    return [(c.name, c.type.cql()) for c in specs]


@pytest.mark.parametrize("cql,expected", [
    ("SELECT * FROM ks.t", [("k", "int"), ("c", "int"), ("s", "text"), ("Mixed", "text"),
                            ("a", "frozen<ad>"), ("fm", "frozen<map<text, int>>"), ("l", "list<int>"),
                            ("m", "map<text, int>")]),
    ("SELECT count(*) FROM ks.t", [("count", "bigint")]),
    ("SELECT COUNT(1) FROM ks.t", [("count", "bigint")]),
    ("SELECT count(k) FROM ks.t", [("system.count(k)", "bigint")]),
    ('SELECT writetime("Mixed"), ttl("Mixed"), MAXWRITETIME(s) FROM ks.t',
     [("writetime(Mixed)", "bigint"), ("ttl(Mixed)", "int"), ("maxwritetime(s)", "bigint")]),
    ("SELECT writetime(m), ttl(l), writetime(fm) FROM ks.t",
     [("writetime(m)", "list<bigint>"), ("ttl(l)", "list<int>"), ("writetime(fm)", "bigint")]),
    ('SELECT k AS "Foo", c AS bar, count(*) AS n FROM ks.t', [("Foo", "int"), ("bar", "int"), ("n", "bigint")]),
    ("SELECT m['a'], a.zip FROM ks.t", [("m['a']", "int"), ("a.zip", "int")]),
    ("SELECT DISTINCT k, s FROM ks.t", [("k", "int"), ("s", "text")]),
    ("SELECT JSON k, s FROM ks.t", [("[json]", "text")]),
])
def test_names_and_types(cql: str, expected: list[tuple[str, str]]) -> None:
    assert cols(cql) == expected


@pytest.mark.parametrize("cql,reason", [
    ("SELECT nope FROM ks.t", "Undefined column name nope"),
    ("SELECT writetime(k) FROM ks.t", "Cannot use selection function writetime on PRIMARY KEY part k"),
    ("SELECT ttl(c) FROM ks.t", "Cannot use selection function ttl on PRIMARY KEY part c"),
    ("SELECT DISTINCT k, c FROM ks.t", "SELECT DISTINCT queries must only request partition key columns"),
    ("SELECT DISTINCT s FROM ks.t", "must request all the partition key columns"),
    ("SELECT max(c) FROM ks.t", "aggregate max(c) is not translated"),
    ("SELECT token(k) FROM ks.t", "function token(k)"),
])
def test_refused_selections_name_the_table(cql: str, reason: str) -> None:
    with pytest.raises(Untranslatable) as e:
        cols(cql)
    assert str(e.value).startswith("ks.t: ") and reason in str(e.value)


def test_set_elements_and_collection_slices() -> None:
    """As Cassandra 5.0 names and types them: a set element is typed as the elements, a slice as
    the column."""
    tm = loads_mapping(MAPPING.replace('l: "list<int>"', 'l: "list<int>", st: "set<text>", fs: "frozen<set<int>>"')
                       ).table("ks", "t")
    assert tm is not None
    specs = result_columns(parse("SELECT st['e'], fs[3], m['a'..'c'], m[..'b'], st['b'..], fm['x'..'y'] "
                                 "FROM ks.t"), tm)
    assert [(c.name, c.type.cql()) for c in specs] == [
        ("st['e']", "text"), ("fs[3]", "int"), ("m['a'..'c']", "map<text, int>"), ("m[..'b']", "map<text, int>"),
        ("st['b'..]", "set<text>"), ("fm['x'..'y']", "frozen<map<text, int>>")]
    with pytest.raises(Untranslatable, match="only translated on maps and sets"):
        result_columns(parse("SELECT l[0] FROM ks.t"), tm)
