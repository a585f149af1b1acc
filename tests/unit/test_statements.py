"""Statements → row writes: literal and prepared forms agree, Cassandra's rules for keys, statics,
collections, counters, deletes, TTL/timestamps and batches, and clear errors for what cannot be
translated (no I/O)."""

from __future__ import annotations

import math
import struct
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cql_protocol.cql import parse_cached
from cql_protocol.cql.ast import quote_string
from cql_protocol.errors import InvalidRequest
from cql_protocol.primitives import UNSET
from cql_protocol.typeparse import parse_cql_type
from cql_protocol.types import TIMESTAMP, CqlType, Duration, native, serialize
from translators.mapping import TableMapping, table_from_dict
from translators.row_state import Mutation, merge, visible
from translators.statements import (
    CounterWrite,
    LwtCondition,
    RangeDelete,
    RowKey,
    RowWrite,
    Untranslatable,
    translate,
)

NOW = 1_700_000_000
TS = 1_000_000
V1 = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")  # a time-based (version 1) UUID
U4 = uuid.UUID("12345678-1234-4234-9234-123456789012")

ALL_TYPES: dict[str, str] = {
    "id": "int",
    "a": "ascii", "t": "text", "vc": "varchar", "ti": "tinyint", "si": "smallint", "i": "int", "bi": "bigint",
    "vi": "varint", "dec": "decimal", "fl": "float", "db": "double", "bo": "boolean", "bl": "blob",
    "u": "uuid", "tu": "timeuuid", "ts": "timestamp", "d": "date", "tm": "time", "ip": "inet", "du": "duration",
    "fli": "frozen<list<int>>", "fst": "frozen<set<text>>", "fmp": "frozen<map<int, text>>",
    "tup": "tuple<int, text>", "addr": "frozen<address>", "uaddr": "address", "nest": "list<frozen<map<text, int>>>",
    "vec": "vector<float, 3>", "l": "list<int>", "s": "set<text>", "m": "map<text, int>",
    "ml": "map<frozen<list<int>>, int>",
}


def _table(cql: str, columns: dict[str, str], pk: list[str], clustering: list[Any] | None = None,
           static: list[str] | None = None, types: dict[str, Any] | None = None) -> TableMapping:
    schema: dict[str, Any] = {"columns": columns, "partition_key": pk}
    if clustering:
        schema["clustering"] = clustering
    if static:
        schema["static"] = static
    if types:
        schema["types"] = types
    return table_from_dict({"cql": cql, "schema": schema})


EVERY = _table("ks.every", ALL_TYPES, ["id"], types={"address": {"street": "text", "zip": "int"}})
T = _table("ks.t", {"k": "int", "c": "text", "s": "int", "v": "text", "w": "int", "l": "list<int>",
                    "st": "set<int>", "m": "map<text, int>", "fl": "frozen<list<int>>", "ss": "set<int>"},
           ["k"], ["c"], static=["s", "ss"])
P = _table("ks.p", {"a": "int", "b": "text", "c1": "int", "c2": "int", "v": "text"}, ["a", "b"],
           ["c1", {"c2": "desc"}])
N = _table("ks.n", {"id": "uuid", "v": "text"}, ["id"])
C = _table("ks.c", {"k": "int", "c": "int", "sc": "counter", "n": "counter", "m": "counter"}, ["k"], ["c"],
           static=["sc"])
Q = _table('ks."Quoted"', {"Key": "int", "Val": "text"}, ["Key"])
TABLES = {(tm.keyspace, tm.table): tm for tm in (EVERY, T, P, N, C, Q)}


def resolve(keyspace: str | None, table: str) -> TableMapping | None:
    return TABLES.get((keyspace or "", table))


def run(cql: str, values: list[Any] | tuple[Any, ...] = (), *, ts: int = TS, now: int = NOW,
        bind_types: list[CqlType] | None = None, keyspace: str | None = "ks", version: int = 4) -> list[Any]:
    return translate(parse_cached(cql), resolve=resolve, session_keyspace=keyspace, values=list(values),
                     protocol_version=version, timestamp=ts, now=now, bind_types=bind_types)


def one(cql: str, values: list[Any] | tuple[Any, ...] = (), **kw: Any) -> Any:
    writes = run(cql, values, **kw)
    assert len(writes) == 1, writes
    return writes[0]


def fails(cql: str, values: list[Any] | tuple[Any, ...] = (), kind: str = "invalid", **kw: Any) -> str:
    with pytest.raises(Untranslatable) as e:
        run(cql, values, **kw)
    assert e.value.kind == kind, (e.value.kind, e.value.message)
    assert isinstance(e.value, InvalidRequest)
    return e.value.message


def col_type(tm: TableMapping, col: str) -> CqlType:
    return tm.schema.columns[col]


def ser(tm: TableMapping, col: str, v: Any) -> bytes | None:
    return None if v is None else serialize(col_type(tm, col), v)


def f32(x: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", x))[0])


# ---------------------------------------------------------------------------------------------
# Literal and prepared statements give the same writes, for every type
# ---------------------------------------------------------------------------------------------

# (column, CQL literal, the value deserialize gives for the same data)
LITERALS: list[tuple[str, str, Any]] = [
    ("a", "'abc'", "abc"),
    ("t", "'héllo ''q'''", "héllo 'q'"),
    ("vc", "''", ""),
    ("ti", "-128", -128),
    ("si", "300", 300),
    ("i", "-42", -42),
    ("bi", "9007199254740993", 9007199254740993),
    ("vi", "123456789012345678901234567890", 123456789012345678901234567890),
    ("dec", "1.50", Decimal("1.50")),
    ("dec", "7", Decimal("7")),
    ("dec", "-1.5e3", Decimal("-1.5e3")),
    ("fl", "1.1", f32(1.1)),
    ("fl", "3", 3.0),
    ("db", "2.5", 2.5),
    ("db", "-Infinity", -math.inf),
    ("db", "1e308", 1e308),
    ("bo", "true", True),
    ("bl", "0xCAFE", b"\xca\xfe"),
    ("bl", "0x", b""),
    ("u", str(U4), U4),
    ("tu", str(V1), V1),
    ("u", str(V1), V1),
    ("ts", "'2024-01-02 03:04:05+0000'", 1704164645000),
    ("ts", "'2024-01-02T03:04:05.678Z'", 1704164645678),
    ("ts", "'2024-01-02'", 1704153600000),
    ("ts", "1704164645000", 1704164645000),
    ("ts", "-1", -1),
    ("d", "'2024-01-02'", 19724),
    ("d", "'1969-12-31'", -1),
    ("d", "2147483648", 0),
    ("tm", "'08:12:54.123456789'", 29574123456789),
    ("tm", "'08:12:54'", 29574000000000),
    ("tm", "5", 5),
    ("ip", "'192.168.0.1'", "192.168.0.1"),
    ("ip", "'::1'", "::1"),
    ("ip", "'::ffff:1.2.3.4'", "1.2.3.4"),
    ("du", "1h30m", Duration(0, 0, 5400 * 10**9)),
    ("du", "P1Y2M3D", Duration(14, 3, 0)),
    ("du", "-2d", Duration(0, -2, 0)),
    ("fli", "[1, 2, 2]", [1, 2, 2]),
    ("fst", "{'a', 'b'}", ["a", "b"]),
    ("fst", "{}", []),
    ("fmp", "{1: 'a', 2: 'b'}", {1: "a", 2: "b"}),
    ("tup", "(1, 'a')", (1, "a")),
    ("tup", "(1, null)", (1, None)),
    ("tup", "(1)", (1, None)),
    ("addr", "{street: 'Main', zip: 5}", {"street": "Main", "zip": 5}),
    ("addr", "{zip: 5}", {"street": None, "zip": 5}),
    ("uaddr", "{street: 'x', zip: 1}", {"street": "x", "zip": 1}),
    ("nest", "[{'a': 1}, {}]", [{"a": 1}, {}]),
    ("vec", "[1.0, 2.5, 3]", [1.0, 2.5, 3.0]),
    ("ml", "{[1, 2]: 3}", [([1, 2], 3)]),
]


def _cells_or_ops(w: RowWrite, col: str) -> Any:
    if col in w.mutation.cells:
        return w.mutation.cells[col]
    ops = [op for op in w.mutation.collection_ops if op[0] == col]
    assert len(ops) == 1, w.mutation
    return ops[0]


@pytest.mark.parametrize(("col", "literal", "expected"), LITERALS, ids=[f"{c}:{lit}" for c, lit, _ in LITERALS])
@pytest.mark.parametrize("with_bind_types", [False, True])
def test_literal_and_bound_values_give_equal_writes(col: str, literal: str, expected: Any,
                                                    with_bind_types: bool) -> None:
    lit = one(f"INSERT INTO every (id, {col}) VALUES (1, {literal})")
    bind_types = [col_type(EVERY, "id"), col_type(EVERY, col)] if with_bind_types else None
    prep = one(f"INSERT INTO every (id, {col}) VALUES (?, ?)", [ser(EVERY, "id", 1), ser(EVERY, col, expected)],
               bind_types=bind_types)
    assert lit == prep
    assert lit.key == RowKey((1,), ())
    got = _cells_or_ops(lit, col)
    if col in ("ml", "nest"):  # non-frozen collections: the value is an overwrite payload
        assert got == (col, "map:overwrite" if col == "ml" else "list:overwrite", expected)
    else:
        assert got == expected
        assert type(got) is type(expected)


@pytest.mark.parametrize(("col", "literal", "op", "payload"), [
    ("l", "[3, 1, 3]", "list:overwrite", [3, 1, 3]),
    ("s", "{'b', 'a', 'b'}", "set:overwrite", ["b", "a"]),
    ("m", "{'x': 1, 'y': 2}", "map:overwrite", {"x": 1, "y": 2}),
    ("l", "[]", "list:overwrite", []),
    ("s", "{}", "set:overwrite", []),
    ("m", "{}", "map:overwrite", {}),
])
def test_non_frozen_collections_are_overwritten(col: str, literal: str, op: str, payload: Any) -> None:
    w = one(f"INSERT INTO every (id, {col}) VALUES (1, {literal})")
    assert w.mutation.collection_ops == [(col, op, payload)]
    assert w.mutation.cells == {}


def test_collection_literals_with_markers_inside() -> None:
    lit = one("UPDATE every SET fli = [1, 2], m = {'k': 3}, tup = (4, 'x'), addr = {street: 's', zip: 9} "
              "WHERE id = 1")
    tint, ttext = native(9), native(13)
    prep = one("UPDATE every SET fli = [?, ?], m = {?: ?}, tup = (?, ?), addr = {street: ?, zip: ?} WHERE id = ?",
               [serialize(tint, 1), serialize(tint, 2), serialize(ttext, "k"), serialize(tint, 3),
                serialize(tint, 4), serialize(ttext, "x"), serialize(ttext, "s"), serialize(tint, 9),
                serialize(tint, 1)])
    assert lit == prep


def test_nan_literal_and_bound_nan() -> None:
    lit = one("INSERT INTO every (id, db, fl) VALUES (1, NaN, NaN)")
    prep = one("INSERT INTO every (id, db, fl) VALUES (1, ?, ?)",
               [ser(EVERY, "db", math.nan), ser(EVERY, "fl", math.nan)])
    for w in (lit, prep):
        assert math.isnan(w.mutation.cells["db"]) and math.isnan(w.mutation.cells["fl"])


def test_float_literal_overflow_is_infinity_as_java_parses_it() -> None:
    assert one("INSERT INTO every (id, fl) VALUES (1, 1e40)").mutation.cells["fl"] == math.inf


def _literal(t: str, v: Any) -> str:
    if isinstance(v, str):
        return quote_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_literal(t, x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_literal(t, k)}: {_literal(t, x)}" for k, x in v.items()) + "}"
    return str(v)


@settings(max_examples=60, deadline=None)
@given(
    i=st.integers(-(2**31), 2**31 - 1),
    bi=st.integers(-(2**63), 2**63 - 1),
    vi=st.integers(-(10**40), 10**40),
    t=st.text(max_size=20),
    db=st.floats(allow_nan=False, allow_infinity=False),
    dec=st.decimals(allow_nan=False, allow_infinity=False, places=3, max_value=10**12, min_value=-(10**12)),
    fli=st.lists(st.integers(-1000, 1000), max_size=5),
    m=st.dictionaries(st.text(max_size=5), st.integers(0, 100), max_size=4),
)
def test_property_literal_equals_prepared(i: int, bi: int, vi: int, t: str, db: float, dec: Decimal,
                                          fli: list[int], m: dict[str, int]) -> None:
    values = {"i": i, "bi": bi, "vi": vi, "t": t, "db": db, "dec": dec, "fli": fli, "m": m}
    cols = list(values)
    lits = ", ".join(_literal(c, v) if c != "db" else repr(db) for c, v in values.items())
    lit = one(f"INSERT INTO every (id, {', '.join(cols)}) VALUES (7, {lits})")
    prep = one(f"INSERT INTO every (id, {', '.join(cols)}) VALUES (7, {', '.join('?' * len(cols))})",
               [ser(EVERY, c, v) for c, v in values.items()])
    assert lit == prep
    assert lit.mutation.cells["dec"] == dec and str(lit.mutation.cells["dec"]) == str(dec)


# ---------------------------------------------------------------------------------------------
# Literal rules (what Cassandra accepts for each type)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "ms"), [
    ("2024-01-02 03:04", 1704164640000),
    ("2024-01-02 03:04:05", 1704164645000),
    ("2024-01-02 03:04:05.678", 1704164645678),
    ("2024-01-02 03:04:05.5Z", 1704164645005),  # SimpleDateFormat: '.5' is 5 ms
    ("2024-01-02T03:04:05+01:00", 1704164645000 - 3600_000),
    ("2024-01-02T03:04:05-0130", 1704164645000 + 5400_000),
    ("2024-01-02T03:04+05", 1704164640000 - 5 * 3600_000),
    ("2024-01-02 03:04:05 UTC", 1704164645000),
    ("2024-01-02 03:04:05 GMT+01:00", 1704164645000 - 3600_000),
    ("2024-01-02 03:04:05 +0200", 1704164645000 - 7200_000),
    ("2024-01-02+0100", 1704153600000 - 3600_000),
    ("2024-1-2", 1704153600000),
    ("1969-12-31 23:59:59.999Z", -1),
])
def test_timestamp_formats(text: str, ms: int) -> None:
    assert one(f"INSERT INTO every (id, ts) VALUES (1, {quote_string(text)})").mutation.cells["ts"] == ms


@pytest.mark.parametrize("text", ["2024-13-01", "2024-02-30", "2024-01-02 24:00", "yesterday",
                                  "2024-01-02 03:04:05.1234"])
def test_bad_timestamps_are_invalid(text: str) -> None:
    msg = fails(f"INSERT INTO every (id, ts) VALUES (1, {quote_string(text)})")
    assert msg == f"ks.every: Unable to coerce '{text}' to a formatted date (long)"


def test_timestamp_now_string_and_zone_names() -> None:
    assert "'now'" in fails("INSERT INTO every (id, ts) VALUES (1, 'now')", kind="nondeterministic")
    assert "PST" in fails("INSERT INTO every (id, ts) VALUES (1, '2024-01-02 03:04 PST')", kind="unsupported")
    assert "Julian" in fails("INSERT INTO every (id, ts) VALUES (1, '1500-01-01')", kind="unsupported")


@pytest.mark.parametrize(("col", "literal", "message"), [
    ("i", "'12'", 'Invalid STRING constant (12) for "i" of type int'),
    ("u", f"'{U4}'", f'Invalid STRING constant ({U4}) for "u" of type uuid'),
    ("bl", "'abc'", 'Invalid STRING constant (abc) for "bl" of type blob'),
    ("t", "12", 'Invalid INTEGER constant (12) for "t" of type text'),
    ("i", "1.5", 'Invalid FLOAT constant (1.5) for "i" of type int'),
    ("bo", "1", 'Invalid INTEGER constant (1) for "bo" of type boolean'),
    ("ti", "300", "Unable to make tinyint from '300'"),
    ("i", "2147483648", "Unable to make int from '2147483648'"),
    ("a", "'é'", "Invalid ASCII character in string literal 'é'"),
    ("tu", f"{U4}", "Unsupported UUID version 4 for timeuuid"),
    ("d", "'2024-1-2'", "Unable to coerce '2024-1-2' to a formatted date (long)"),
    ("tm", "'24:00:00'", "(TimeType) Unable to coerce '24:00:00' to a formatted time (long)"),
    ("dec", "NaN", "Unable to make BigDecimal from 'NaN'"),
    ("du", "5", "Unable to convert '5' to a duration"),
    ("fli", "{1}", "Invalid set literal for fli of type frozen<list<int>>"),
    ("fli", "[1, null]", "null is not supported inside collections"),
    ("i", "[1]", "Invalid list literal for i of type int"),
    ("tup", "(1, 'a', 2)", "too many elements"),
    ("addr", "{city: 'x'}", "Unknown field 'city' in value of user defined type address"),
    ("vec", "[1.0, 2.0]", "expected 3 elements, but given 2"),
    ("l", "{1: 2}", "Invalid map literal for l of type list<int>"),
    ("ip", "'1.2.3.4.5'", "Unable to make inet address from '1.2.3.4.5'"),
])
def test_invalid_literals(col: str, literal: str, message: str) -> None:
    msg = fails(f"INSERT INTO every (id, {col}) VALUES (1, {literal})")
    assert msg.startswith("ks.every: ") and message in msg


def test_host_names_are_not_resolved() -> None:
    assert "host name 'localhost'" in fails("INSERT INTO every (id, ip) VALUES (1, 'localhost')",
                                            kind="unsupported")


def test_bound_value_errors() -> None:
    assert "Invalid value bound for i" in fails("INSERT INTO every (id, i) VALUES (1, ?)", [b"\x00\x01"])
    assert "null is not supported inside collections" in fails(
        "INSERT INTO every (id, l) VALUES (1, ?)", [serialize(col_type(EVERY, "l"), [1, None])])
    assert "There were 2 markers(?) in CQL but 1 bound variables" in fails(
        "INSERT INTO every (id, i) VALUES (?, ?)", [ser(EVERY, "id", 1)])


# ---------------------------------------------------------------------------------------------
# INSERT
# ---------------------------------------------------------------------------------------------


def test_insert_writes_a_row_marker_and_cells() -> None:
    w = one("INSERT INTO t (k, c, v, w) VALUES (1, 'a', 'x', null)")
    assert w == RowWrite(T, RowKey((1,), ("a",)), Mutation(TS, 0, row_marker=True, cells={"v": "x", "w": None}))
    assert w.table is T and w.condition is None


def test_insert_null_collection_is_an_overwrite_with_nothing() -> None:
    # Cassandra sets a collection by a tombstone just before the write, even to null
    w = one("INSERT INTO t (k, c, l, st, m) VALUES (1, 'a', null, null, null)")
    assert w.mutation.collection_ops == [("l", "list:overwrite", []), ("st", "set:overwrite", []),
                                         ("m", "map:overwrite", {})]


def test_insert_needs_every_key_column() -> None:
    assert fails("INSERT INTO t (c, v) VALUES ('a', 'x')") == "ks.t: Some partition key parts are missing: k"
    assert fails("INSERT INTO t (k, v) VALUES (1, 'x')") == "ks.t: Some clustering keys are missing: c"
    assert fails("INSERT INTO p (a, c1, c2) VALUES (1, 2, 3)") == "ks.p: Some partition key parts are missing: b"
    assert fails("INSERT INTO t (k) VALUES (1)") == "ks.t: Some clustering keys are missing: c"
    assert fails("INSERT INTO t (k, c) VALUES (null, 'a')") == "ks.t: Invalid null value for partition key part k"
    assert fails("INSERT INTO t (k, c) VALUES (1, ?)", [UNSET]) == "ks.t: Invalid unset value for column c"
    assert fails("INSERT INTO n (id, v) VALUES (?, 'x')", [None]) == \
        "ks.n: Invalid null value for partition key part id"
    assert fails("INSERT INTO t (k, c, nope) VALUES (1, 'a', 2)") == "ks.t: Undefined column name nope"


def test_empty_single_partition_key_is_rejected_but_empty_clustering_is_fine() -> None:
    q = _table("ks.txt", {"k": "text", "c": "text"}, ["k"], ["c"])
    TABLES[("ks", "txt")] = q
    try:
        assert fails("INSERT INTO txt (k, c) VALUES ('', 'a')") == "ks.txt: Key may not be empty"
        assert one("INSERT INTO txt (k, c) VALUES ('a', '')").key == RowKey(("a",), ("",))
    finally:
        del TABLES[("ks", "txt")]


def test_insert_with_static_and_regular_columns_writes_both_rows() -> None:
    writes = run("INSERT INTO t (k, c, s, v) VALUES (1, 'a', 5, 'x') USING TTL 60")
    assert writes == [
        RowWrite(T, RowKey((1,), ("a",)), Mutation(TS, NOW + 60, row_marker=True, cells={"v": "x"})),
        RowWrite(T, RowKey((1,), ()), Mutation(TS, NOW + 60, cells={"s": 5})),
    ]


def test_static_only_insert_needs_no_clustering_and_writes_no_row_marker() -> None:
    assert run("INSERT INTO t (k, s, ss) VALUES (1, 5, {1})") == [
        RowWrite(T, RowKey((1,), ()), Mutation(TS, cells={"s": 5}, collection_ops=[("ss", "set:overwrite", [1])]))]


def test_insert_with_clustering_and_only_static_columns_creates_the_row() -> None:
    writes = run("INSERT INTO t (k, c, s) VALUES (1, 'a', 5)")
    assert [w.key for w in writes] == [RowKey((1,), ("a",)), RowKey((1,), ())]
    assert writes[0].mutation == Mutation(TS, row_marker=True)


def test_unset_values_leave_columns_alone() -> None:
    w = one("INSERT INTO t (k, c, v, w, l) VALUES (?, ?, ?, ?, ?)",
            [ser(T, "k", 1), ser(T, "c", "a"), UNSET, ser(T, "w", 3), UNSET])
    assert w.mutation == Mutation(TS, row_marker=True, cells={"w": 3})
    assert run("INSERT INTO t (k, s) VALUES (1, ?)", [UNSET]) == []


def test_quoted_identifiers() -> None:
    w = one('INSERT INTO "Quoted" ("Key", "Val") VALUES (1, \'x\')')
    assert w.key == RowKey((1,), ()) and w.mutation.cells == {"Val": "x"}


def test_insert_if_not_exists_records_the_condition() -> None:
    w = one("INSERT INTO t (k, c, v) VALUES (1, 'a', 'x') IF NOT EXISTS")
    assert w.condition == LwtCondition(if_not_exists=True)
    assert w.condition.to_cql() == "IF NOT EXISTS"
    assert w.mutation.cells == {"v": "x"}


# ---------------------------------------------------------------------------------------------
# INSERT JSON
# ---------------------------------------------------------------------------------------------


def test_insert_json_equals_the_literal_insert() -> None:
    doc = ('{"id": 1, "t": "x", "i": "7", "bi": 9007199254740993, "dec": 1.50, "fl": 1.1, "bo": "true", '
           '"bl": "0xcafe", "u": "U4", "ts": "2024-01-02T03:04:05.678Z", "d": "2024-01-02", "tm": "08:12:54", '
           '"ip": "::1", "du": "1h", "fli": [1, 2], "fst": ["a"], "fmp": {"1": "a"}, "tup": [1, "a"], '
           '"addr": {"street": "s", "ZIP": 5}, "vec": [1, 2, 3], "l": [1], "s": ["a"], "m": {"k": 1}, '
           '"ml": {"[1, 2]": 3}}').replace("U4", str(U4))
    lit = one(f"INSERT INTO every (id, t, i, bi, dec, fl, bo, bl, u, ts, d, tm, ip, du, fli, fst, fmp, tup, addr, "
              f"vec, l, s, m, ml) VALUES (1, 'x', 7, 9007199254740993, 1.50, 1.1, true, 0xcafe, {U4}, "
              f"'2024-01-02T03:04:05.678Z', '2024-01-02', '08:12:54', '::1', 1h, [1, 2], {{'a'}}, {{1: 'a'}}, "
              f"(1, 'a'), {{street: 's', zip: 5}}, [1, 2, 3], [1], {{'a'}}, {{'k': 1}}, {{[1, 2]: 3}})")
    js = one(f"INSERT INTO every JSON {quote_string(doc)} DEFAULT UNSET")
    bound = one("INSERT INTO every JSON ? DEFAULT UNSET", [doc.encode()])
    for w in (js, bound):  # the JSON form lists columns in schema order
        assert (w.key, w.mutation.cells) == (lit.key, lit.mutation.cells)
        assert sorted(w.mutation.collection_ops, key=repr) == sorted(lit.mutation.collection_ops, key=repr)


def test_insert_json_default_null_nulls_missing_columns() -> None:
    writes = run("""INSERT INTO t JSON '{"k": 1, "c": "a", "v": "x"}'""")
    row, static = writes
    assert row.mutation.cells == {"v": "x", "w": None, "fl": None}
    assert ("l", "list:overwrite", []) in row.mutation.collection_ops
    assert static.key == RowKey((1,), ()) and static.mutation.cells == {"s": None}
    assert run("""INSERT INTO t JSON '{"k": 1, "c": "a", "v": "x"}' DEFAULT UNSET""") == [
        RowWrite(T, RowKey((1,), ("a",)), Mutation(TS, row_marker=True, cells={"v": "x"}))]


def test_insert_json_names_and_errors() -> None:
    w = one("""INSERT INTO "Quoted" JSON '{"\\"Key\\"": 1, "\\"Val\\"": "x"}'""")
    assert w.mutation.cells == {"Val": "x"}
    assert one("""INSERT INTO t JSON '{"K": 1, "C": "a"}' DEFAULT UNSET""").key == RowKey((1,), ("a",))
    assert "unrecognized column: nope" in fails("""INSERT INTO t JSON '{"k": 1, "c": "a", "nope": 1}'""")
    assert "Some clustering keys are missing: c" in fails("""INSERT INTO t JSON '{"k": 1, "v": "x"}'""")
    assert "Could not decode JSON string as a map" in fails("INSERT INTO t JSON '[1]'")
    assert "Could not decode JSON string as a map" in fails("INSERT INTO t JSON '{'")
    assert "Got null for INSERT JSON values" in fails("INSERT INTO t JSON ?", [None])
    assert "Error decoding JSON value for w: Expected an integer value" in fails(
        """INSERT INTO t JSON '{"k": 1, "c": "a", "w": 1.5}'""")
    assert "missing 0x prefix" in fails("""INSERT INTO every JSON '{"id": 1, "bl": "cafe"}'""")
    assert "null is not supported inside collections" in fails("""INSERT INTO every JSON '{"id": 1, "l": [null]}'""")
    assert "'now'" in fails("""INSERT INTO every JSON '{"id": 1, "ts": "now"}'""", kind="nondeterministic")


def test_insert_json_timestamp_number_and_from_json_function() -> None:
    assert one("""INSERT INTO every JSON '{"id": 1, "ts": 1704164645000}' DEFAULT UNSET""").mutation.cells == {
        "ts": 1704164645000}
    w = one("""INSERT INTO every (id, fli, addr) VALUES (1, fromJson('[1, 2]'), from_json('{"zip": 3}'))""")
    assert w.mutation.cells == {"fli": [1, 2], "addr": {"street": None, "zip": 3}}


# ---------------------------------------------------------------------------------------------
# UPDATE
# ---------------------------------------------------------------------------------------------


def test_update_writes_cells_without_a_row_marker() -> None:
    assert one("UPDATE t USING TTL 5 SET v = 'x', w = null WHERE k = 1 AND c = 'a'") == RowWrite(
        T, RowKey((1,), ("a",)), Mutation(TS, NOW + 5, cells={"v": "x", "w": None}))


def test_in_expands_to_every_key_combination_in_order_without_duplicates() -> None:
    writes = run("UPDATE p SET v = 'x' WHERE a IN (1, 2, 1) AND b IN ('x', 'y') AND c1 = 5 AND c2 IN (3, 4)")
    assert [w.key for w in writes] == [
        RowKey((a, b), (5, c2)) for a in (1, 2) for b in ("x", "y") for c2 in (3, 4)]
    assert all(w.mutation == Mutation(TS, cells={"v": "x"}) for w in writes)
    assert writes[0].mutation is not writes[1].mutation


def test_bound_in_list_and_multi_column_relations() -> None:
    lit = run("UPDATE p SET v = 'x' WHERE a IN (1, 2) AND b = 'k' AND (c1, c2) IN ((1, 2), (3, 4))")
    tint = native(9)
    prep = run("UPDATE p SET v = ? WHERE a IN ? AND b = ? AND (c1, c2) IN ?",
               [serialize(native(13), "x"), serialize(parse_cql_type("list<int>"), [1, 2]),
                serialize(native(13), "k"), serialize(parse_cql_type("list<frozen<tuple<int, int>>>"), [(1, 2), (3, 4)])])
    assert lit == prep
    assert [w.key for w in lit] == [RowKey((1, "k"), (1, 2)), RowKey((1, "k"), (3, 4)),
                                    RowKey((2, "k"), (1, 2)), RowKey((2, "k"), (3, 4))]
    eq = one("UPDATE p SET v = 'x' WHERE a = ? AND b = 'k' AND (c1, c2) = (?, 2)",
             [serialize(tint, 1), serialize(tint, 1)])
    assert eq.key == RowKey((1, "k"), (1, 2))


def test_named_markers_are_bound_in_order() -> None:
    w = one("UPDATE t SET v = :v WHERE k = :k AND c = :c", [ser(T, "v", "x"), ser(T, "k", 1), ser(T, "c", "a")])
    assert w.key == RowKey((1,), ("a",)) and w.mutation.cells == {"v": "x"}


def test_update_where_clause_errors() -> None:
    assert fails("UPDATE t SET v = 'x' WHERE k = 1") == "ks.t: Some clustering keys are missing: c"
    assert fails("UPDATE t SET v = 'x' WHERE c = 'a'") == "ks.t: Some partition key parts are missing: k"
    assert "Slice restrictions are not supported" in fails("UPDATE t SET v = 'x' WHERE k = 1 AND c > 'a'")
    assert "Non PRIMARY KEY columns found in where clause: v" in fails(
        "UPDATE t SET w = 1 WHERE k = 1 AND c = 'a' AND v = 'x'")
    assert "token function" in fails("UPDATE t SET v = 'x' WHERE token(k) = 1 AND c = 'a'")
    assert "Only EQ and IN relation" in fails("UPDATE t SET v = 'x' WHERE k > 1 AND c = 'a'")
    assert "cannot be restricted by more than one relation" in fails(
        "UPDATE t SET v = 'x' WHERE k = 1 AND k = 2 AND c = 'a'")
    assert "PRIMARY KEY part c found in SET part" in fails("UPDATE t SET c = 'b' WHERE k = 1 AND c = 'a'")
    assert "Invalid null value in condition for column k" in fails(
        "UPDATE t SET v = 'x' WHERE k IN (1, null) AND c = 'a'")
    assert "Invalid unset value for IN restriction on k" in fails(
        "UPDATE t SET v = 'x' WHERE k IN ? AND c = 'a'", [UNSET])
    assert "Multi-column relations can only be applied to clustering columns" in fails(
        "UPDATE p SET v = 'x' WHERE (a, b) = (1, 'x') AND c1 = 1 AND c2 = 2")
    assert "Unsupported \"!=\" relation" in fails("UPDATE t SET v = 'x' WHERE k != 1 AND c = 'a'")


def test_static_updates() -> None:
    assert one("UPDATE t SET s = 1 WHERE k = 1") == RowWrite(T, RowKey((1,), ()), Mutation(TS, cells={"s": 1}))
    assert "modifies only static columns" in fails("UPDATE t SET s = 1 WHERE k = 1 AND c = 'a'")
    writes = run("UPDATE t SET s = 1, v = 'x' WHERE k IN (1, 2) AND c = 'a'")
    assert [(w.key, w.mutation.cells) for w in writes] == [
        (RowKey((1,), ("a",)), {"v": "x"}), (RowKey((1,), ()), {"s": 1}),
        (RowKey((2,), ("a",)), {"v": "x"}), (RowKey((2,), ()), {"s": 1})]


@pytest.mark.parametrize(("assignment", "ops"), [
    ("l = l + [1, 2]", [("l", "list:append", [1, 2])]),
    ("l += [1]", [("l", "list:append", [1])]),
    ("l = [0, 1] + l", [("l", "list:prepend", [0, 1])]),
    ("l = l - [1]", [("l", "list:remove_values", [1])]),
    ("l[2] = 7", [("l", "list:set_index", (2, 7))]),
    ("l[0] = null", [("l", "list:set_index", (0, None))]),
    ("st = st + {1, 2}", [("st", "set:add", [1, 2])]),
    ("st = st - {1}", [("st", "set:remove", [1])]),
    ("st = st + {}", [("st", "set:add", [])]),
    ("m = m + {'a': 1}", [("m", "map:put", {"a": 1})]),
    ("m['a'] = 2", [("m", "map:put", {"a": 2})]),
    ("m['a'] = null", [("m", "map:remove_keys", ["a"])]),
    ("m = m - {'a', 'b'}", [("m", "map:remove_keys", ["a", "b"])]),
    ("l = null", [("l", "list:overwrite", [])]),
    ("m = {'z': 0}", [("m", "map:overwrite", {"z": 0})]),
])
def test_collection_operations(assignment: str, ops: list[Any]) -> None:
    w = one(f"UPDATE t SET {assignment} WHERE k = 1 AND c = 'a'")
    assert w.mutation.collection_ops == ops and w.mutation.cells == {}


def test_adding_or_removing_null_changes_nothing() -> None:
    assert run("UPDATE t SET l = l + null, st = st - null, m = m + null WHERE k = 1 AND c = 'a'") == []


def test_collection_operations_with_bound_values() -> None:
    lit = one("UPDATE t SET l[1] = 5, m['k'] = 3, st = st - {4}, l = l + [9] WHERE k = 1 AND c = 'a'")
    prep = one("UPDATE t SET l[?] = ?, m[?] = ?, st = st - ?, l = l + ? WHERE k = ? AND c = ?",
               [serialize(native(9), 1), serialize(native(9), 5), serialize(native(13), "k"),
                serialize(native(9), 3), serialize(parse_cql_type("set<int>"), [4]),
                serialize(parse_cql_type("list<int>"), [9]), ser(T, "k", 1), ser(T, "c", "a")])
    assert lit == prep
    assert run("UPDATE t SET m[?] = ?, l = l + ?, v = ?, s = ? WHERE k = 1 AND c = 'a'",
               [serialize(native(13), "k"), UNSET, UNSET, UNSET, UNSET]) == []
    assert run("UPDATE t SET v = ?, w = 1 WHERE k = 1 AND c = 'a'", [UNSET]) == [
        RowWrite(T, RowKey((1,), ("a",)), Mutation(TS, cells={"w": 1}))]
    assert "Invalid unset map key" in fails("UPDATE t SET m[?] = 1 WHERE k = 1 AND c = 'a'", [UNSET])
    assert "Invalid null value for list index" in fails("UPDATE t SET l[?] = 1 WHERE k = 1 AND c = 'a'", [None])


def test_collection_operation_errors() -> None:
    assert "for frozen collection column fl" in fails("UPDATE t SET fl = fl + [1] WHERE k = 1 AND c = 'a'")
    assert "for frozen collection column fl" in fails("UPDATE t SET fl[0] = 1 WHERE k = 1 AND c = 'a'")
    assert "for non counter column w" in fails("UPDATE t SET w = w + 1 WHERE k = 1 AND c = 'a'")
    assert "for non list column st" in fails("UPDATE t SET st = {1} + st WHERE k = 1 AND c = 'a'")
    assert "for non list or map column v" in fails("UPDATE t SET v[0] = 'x' WHERE k = 1 AND c = 'a'")
    assert "Invalid null map key" in fails("UPDATE t SET m[null] = 1 WHERE k = 1 AND c = 'a'")
    assert "null is not supported inside collections" in fails("UPDATE t SET m = m + {'a': null} "
                                                                 "WHERE k = 1 AND c = 'a'")
    msg = fails("UPDATE every SET uaddr.zip = 5 WHERE id = 1", kind="unsupported")
    assert msg.startswith("ks.every: setting a single field of a non-frozen user type")
    assert "frozen UDT column addr" in fails("UPDATE every SET addr.zip = 5 WHERE id = 1")


def test_update_if_conditions_are_recorded() -> None:
    w = one("UPDATE t SET v = 'x' WHERE k = 1 AND c = 'a' IF v = 'old' AND m['a'] IN (1, 2)")
    assert w.condition is not None and not w.condition.if_exists and len(w.condition.conditions) == 2
    assert w.condition.to_cql() == "IF v = 'old' AND m['a'] IN (1, 2)"
    assert w.mutation.cells == {"v": "x"}
    assert one("UPDATE t SET v = 'x' WHERE k = 1 AND c = 'a' IF EXISTS").condition == LwtCondition(if_exists=True)
    assert "IN on the partition key is not supported with conditional updates" in fails(
        "UPDATE t SET v = 'x' WHERE k IN (1, 2) AND c = 'a' IF EXISTS")
    assert "IN on the clustering key columns is not supported with conditional updates" in fails(
        "UPDATE t SET v = 'x' WHERE k = 1 AND c IN ('a', 'b') IF EXISTS")


def test_arithmetic_and_casts() -> None:
    w = one("UPDATE every SET i = 1 + 2 * 3, bi = - 5, ti = -7 / 2, si = -7 % 3, dec = 1.10 * 3, "
            "db = 1 / 0, vi = (int) 5 WHERE id = 1")
    assert w.mutation.cells == {"i": 7, "bi": -5, "ti": -3, "si": -1, "dec": Decimal("3.30"), "db": math.inf,
                                "vi": 5}
    assert one("UPDATE every SET ti = 127 + 1 WHERE id = 1").mutation.cells == {"ti": -128}  # Java wraps
    assert "division by zero" in fails("UPDATE every SET i = 1 / 0 WHERE id = 1")
    assert "only supported on numbers" in fails("UPDATE every SET t = 'a' + 'b' WHERE id = 1", kind="unsupported")
    assert "Type error" in fails("UPDATE every SET i = (text) 'a' WHERE id = 1")
    assert "CAST is only allowed" in fails("UPDATE every SET i = CAST(1 AS int) WHERE id = 1")


# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["now()", "uuid()", "currentTimeUUID()", "current_timeuuid()"])
def test_non_deterministic_functions_are_untranslatable(call: str) -> None:
    col = "u" if call == "uuid()" else "tu"
    msg = fails(f"INSERT INTO every (id, {col}) VALUES (1, {call})", kind="nondeterministic")
    assert msg.startswith("ks.every: ") and "non-deterministic" in msg and "bind the value" in msg


@pytest.mark.parametrize("call", ["toTimestamp(now())", "currentTimestamp()", "to_timestamp(now())",
                                  "dateOf(now())"])
def test_non_deterministic_timestamps(call: str) -> None:
    msg = fails(f"UPDATE every SET ts = {call} WHERE id = 1", kind="nondeterministic")
    assert msg.startswith("ks.every: ")


def test_non_deterministic_function_anywhere_in_the_statement() -> None:
    fails("UPDATE every SET ts = 1 WHERE id = blobAsInt(intAsBlob(toUnixTimestamp(now())))", kind="nondeterministic")
    fails("UPDATE t SET l = l + [toUnixTimestamp(now())] WHERE k = 1 AND c = 'a'", kind="nondeterministic")
    fails("UPDATE every SET d = currentDate() WHERE id = 1", kind="nondeterministic")


def test_deterministic_functions() -> None:
    w = one(f"UPDATE every SET t = blobAsText(0x6869), bl = intAsBlob(1), i = blobAsInt(0x00000002), "
            f"ts = toTimestamp({V1}), d = toDate((timestamp) '2024-01-02 10:00Z'), "
            f"bi = toUnixTimestamp((date) '1970-01-02'), vi = blob_as_int(0x00000003) WHERE id = 1")
    assert w.mutation.cells == {"t": "hi", "bl": b"\x00\x00\x00\x01", "i": 2,
                                "ts": V1.time // 10_000 - 12219292800000, "d": 19724, "bi": 86_400_000, "vi": 3}
    # a string only fits toTimestamp(date)
    assert one("UPDATE every SET ts = toTimestamp('1970-01-03') WHERE id = 1").mutation.cells == {"ts": 172_800_000}
    assert "Ambiguous call to function tounixtimestamp" in fails(
        "UPDATE every SET bi = toUnixTimestamp('2024-01-02') WHERE id = 1")
    assert "Type error" in fails("UPDATE every SET t = blobAsInt(0x00000001) WHERE id = 1")
    assert "not supported here" in fails("UPDATE every SET i = ks.my_fn(1) WHERE id = 1", kind="unsupported")
    assert "not supported here" in fails("UPDATE every SET i = abs(1) WHERE id = 1", kind="unsupported")


def test_function_with_bound_argument() -> None:
    w = one("UPDATE every SET i = blobAsInt(?) WHERE id = 1", [serialize(native(3), b"\x00\x00\x00\x09")])
    assert w.mutation.cells == {"i": 9}
    w = one("UPDATE every SET bi = toUnixTimestamp(?) WHERE id = 1", [serialize(TIMESTAMP, 5000)],
            bind_types=[TIMESTAMP])
    assert w.mutation.cells == {"bi": 5000}


# ---------------------------------------------------------------------------------------------
# Counters
# ---------------------------------------------------------------------------------------------


def test_counter_updates() -> None:
    assert run("UPDATE c SET n = n + 3, m = m - 2, sc = sc + 1 WHERE k IN (1, 2) AND c = 7") == [
        CounterWrite(C, RowKey((1,), (7,)), {"n": 3, "m": -2}), CounterWrite(C, RowKey((1,), ()), {"sc": 1}),
        CounterWrite(C, RowKey((2,), (7,)), {"n": 3, "m": -2}), CounterWrite(C, RowKey((2,), ()), {"sc": 1})]
    lit = run("UPDATE c SET n += 5 WHERE k = 1 AND c = 1")
    prep = run("UPDATE c SET n = n + ? WHERE k = ? AND c = ?",
               [serialize(native(5), 5), ser(C, "k", 1), ser(C, "c", 1)])
    assert lit == prep == [CounterWrite(C, RowKey((1,), (1,)), {"n": 5})]
    assert run("UPDATE c SET n = n + ? WHERE k = 1 AND c = 1", [UNSET]) == []
    assert run("UPDATE c SET sc = sc + 2 WHERE k = 1") == [CounterWrite(C, RowKey((1,), ()), {"sc": 2})]


def test_counter_errors() -> None:
    assert "Cannot set the value of counter column n" in fails("UPDATE c SET n = 5 WHERE k = 1 AND c = 1")
    assert "Invalid null value for counter increment/decrement" in fails(
        "UPDATE c SET n = n + ? WHERE k = 1 AND c = 1", [None])
    assert "INSERT statements are not allowed on counter tables" in fails("INSERT INTO c (k, c, n) VALUES (1, 1, 1)")
    assert "Cannot provide custom TTL for counter updates" in fails(
        "UPDATE c USING TTL 5 SET n = n + 1 WHERE k = 1 AND c = 1")
    assert "Cannot provide custom timestamp for counter updates" in fails(
        "UPDATE c USING TIMESTAMP 5 SET n = n + 1 WHERE k = 1 AND c = 1")
    assert "Conditional updates are not supported on counter tables" in fails(
        "UPDATE c SET n = n + 1 WHERE k = 1 AND c = 1 IF EXISTS")
    assert "overflows supported counter precision" in fails(
        "UPDATE c SET n = n - -9223372036854775808 WHERE k = 1 AND c = 1")


def test_counter_batches() -> None:
    assert run("BEGIN COUNTER BATCH UPDATE c SET n = n + 1 WHERE k = 1 AND c = 1; "
               "UPDATE c SET n = n + 2 WHERE k = 2 AND c = 1; APPLY BATCH") == [
        CounterWrite(C, RowKey((1,), (1,)), {"n": 1}), CounterWrite(C, RowKey((2,), (1,)), {"n": 2})]
    assert "Cannot include a counter statement in a logged batch" in fails(
        "BEGIN BATCH UPDATE c SET n = n + 1 WHERE k = 1 AND c = 1; APPLY BATCH")
    assert "Cannot include non-counter statement in a counter batch" in fails(
        "BEGIN COUNTER BATCH UPDATE t SET v = 'x' WHERE k = 1 AND c = 'a'; APPLY BATCH")
    assert "Counter and non-counter mutations cannot exist in the same batch" in fails(
        "BEGIN UNLOGGED BATCH UPDATE c SET n = n + 1 WHERE k = 1 AND c = 1; "
        "UPDATE t SET v = 'x' WHERE k = 1 AND c = 'a'; APPLY BATCH")


# ---------------------------------------------------------------------------------------------
# DELETE
# ---------------------------------------------------------------------------------------------


def test_delete_row_partition_prefix_and_slices() -> None:
    assert one("DELETE FROM t USING TIMESTAMP 77 WHERE k = 1 AND c = 'a'") == RowWrite(
        T, RowKey((1,), ("a",)), Mutation(77, delete_row=True))
    assert run("DELETE FROM t WHERE k IN (1, 2)") == [RangeDelete(T, (1,), (), None, None, TS),
                                                     RangeDelete(T, (2,), (), None, None, TS)]
    assert one("DELETE FROM t WHERE k = 1 AND c >= 'a' AND c < 'm'") == RangeDelete(
        T, (1,), (), ("a", True), ("m", False), TS)
    assert one("DELETE FROM p WHERE a = 1 AND b = 'x' AND c1 = 2") == RangeDelete(P, (1, "x"), (2,), None, None, TS)
    assert run("DELETE FROM p WHERE a = 1 AND b = 'x' AND c1 IN (2, 3) AND c2 > 5") == [
        RangeDelete(P, (1, "x"), (2,), (5, False), None, TS), RangeDelete(P, (1, "x"), (3,), (5, False), None, TS)]
    assert one("DELETE FROM p WHERE a = 1 AND b = 'x' AND c1 = 2 AND c2 = 3") == RowWrite(
        P, RowKey((1, "x"), (2, 3)), Mutation(TS, delete_row=True))
    # a table without clustering columns: the partition is the row
    assert one(f"DELETE FROM n WHERE id = {U4}") == RowWrite(N, RowKey((U4,), ()), Mutation(TS, delete_row=True))


def test_delete_where_clause_errors() -> None:
    assert "cannot be restricted as preceding column \"c1\" is not restricted" in fails(
        "DELETE FROM p WHERE a = 1 AND b = 'x' AND c2 = 3")
    assert "is restricted by a non-EQ relation" in fails(
        "DELETE FROM p WHERE a = 1 AND b = 'x' AND c1 > 1 AND c2 = 3")
    assert "More than one restriction was found for the start bound on c" in fails(
        "DELETE FROM t WHERE k = 1 AND c > 'a' AND c >= 'b'")
    assert "multi-column slice" in fails("DELETE FROM p WHERE a = 1 AND b = 'x' AND (c1, c2) > (1, 2)",
                                         kind="unsupported")
    assert "Some partition key parts are missing: b" in fails("DELETE FROM p WHERE a = 1")
    assert "Range deletions are not supported for specific columns" in fails("DELETE v FROM t WHERE k = 1")
    assert "Range deletions are not supported for specific columns" in fails(
        "DELETE v FROM t WHERE k = 1 AND c > 'a'")
    assert "should not be a PRIMARY KEY part" in fails("DELETE c FROM t WHERE k = 1 AND c = 'a'")
    assert "must restrict all PRIMARY KEY columns" in fails("DELETE FROM t WHERE k = 1 AND c > 'a' IF EXISTS")


def test_delete_columns_and_elements() -> None:
    writes = run("DELETE v, l, m['a'], l[1], st[3], s, ss FROM t WHERE k = 1 AND c = 'a'")
    assert writes == [
        RowWrite(T, RowKey((1,), ("a",)), Mutation(TS, cells={"v": None}, collection_ops=[
            ("l", "list:delete", None), ("m", "map:remove_keys", ["a"]), ("l", "list:set_index", (1, None)),
            ("st", "set:remove", [3])])),
        RowWrite(T, RowKey((1,), ()), Mutation(TS, cells={"s": None}, collection_ops=[("ss", "set:delete", None)])),
    ]
    assert run("DELETE s FROM t WHERE k = 1") == [RowWrite(T, RowKey((1,), ()), Mutation(TS, cells={"s": None}))]
    assert "modifies only static columns" in fails("DELETE s FROM t WHERE k = 1 AND c = 'a'")
    assert "frozen collection column fl" in fails("DELETE fl[0] FROM t WHERE k = 1 AND c = 'a'")
    assert "non collection column v" in fails("DELETE v[0] FROM t WHERE k = 1 AND c = 'a'")
    assert "single field of a non-frozen user type" in fails("DELETE uaddr.zip FROM every WHERE id = 1",
                                                             kind="unsupported")
    lit = one("DELETE m['a'] FROM t WHERE k = 1 AND c = 'a'")
    prep = one("DELETE m[?] FROM t WHERE k = ? AND c = ?", [serialize(native(13), "a"), ser(T, "k", 1),
                                                             ser(T, "c", "a")])
    assert lit == prep


def test_delete_if_exists_is_recorded() -> None:
    w = one("DELETE FROM t WHERE k = 1 AND c = 'a' IF EXISTS")
    assert w.condition == LwtCondition(if_exists=True) and w.mutation.delete_row
    w = one("DELETE v FROM t WHERE k = 1 AND c = 'a' IF w = 3")
    assert w.condition is not None and w.condition.to_cql() == "IF w = 3"


# ---------------------------------------------------------------------------------------------
# Timestamps and TTLs
# ---------------------------------------------------------------------------------------------


def test_timestamp_precedence_statement_over_batch_over_default() -> None:
    assert one("INSERT INTO t (k, c) VALUES (1, 'a')").mutation.ts == TS
    assert one("INSERT INTO t (k, c) VALUES (1, 'a') USING TIMESTAMP 42").mutation.ts == 42
    writes = run("BEGIN BATCH USING TIMESTAMP 50 INSERT INTO t (k, c) VALUES (1, 'a'); "
                 "UPDATE t SET v = 'x' WHERE k = 2 AND c = 'b'; APPLY BATCH")
    assert [w.mutation.ts for w in writes] == [50, 50]
    writes = run("BEGIN BATCH INSERT INTO t (k, c) VALUES (1, 'a') USING TIMESTAMP 60; "
                 "UPDATE t SET v = 'x' WHERE k = 2 AND c = 'b'; APPLY BATCH")
    assert [w.mutation.ts for w in writes] == [60, TS]
    assert "Timestamp must be set either on BATCH or individual statements" in fails(
        "BEGIN BATCH USING TIMESTAMP 50 INSERT INTO t (k, c) VALUES (1, 'a') USING TIMESTAMP 60; APPLY BATCH")


def test_bound_timestamp_and_ttl() -> None:
    w = one("INSERT INTO t (k, c) VALUES (1, 'a') USING TTL ? AND TIMESTAMP ?",
            [serialize(native(9), 30), serialize(native(2), 123)])
    assert (w.mutation.ts, w.mutation.expiry) == (123, NOW + 30)
    w = one("UPDATE t USING TIMESTAMP ? AND TTL ? SET v = 'x' WHERE k = 1 AND c = 'a'", [UNSET, UNSET])
    assert (w.mutation.ts, w.mutation.expiry) == (TS, 0)
    w = one("UPDATE t USING TTL ? SET v = 'x' WHERE k = 1 AND c = 'a'", [None])
    assert w.mutation.expiry == 0
    writes = run("BEGIN BATCH USING TIMESTAMP ? INSERT INTO t (k, c) VALUES (?, 'a'); APPLY BATCH",
                 [serialize(native(2), 9), ser(T, "k", 1)])
    assert writes[0].mutation.ts == 9


def test_ttl_rules() -> None:
    assert one("INSERT INTO t (k, c) VALUES (1, 'a') USING TTL 0").mutation.expiry == 0
    assert one("INSERT INTO t (k, c) VALUES (1, 'a') USING TTL 10", now=100).mutation.expiry == 110
    assert fails("INSERT INTO t (k, c) VALUES (1, 'a') USING TTL ?", [serialize(native(9), -1)]) == \
        "ks.t: A TTL must be greater or equal to 0, but was -1"
    assert "ttl is too large" in fails("INSERT INTO t (k, c) VALUES (1, 'a') USING TTL 630720001")
    assert "Invalid null value of timestamp" in fails(
        "INSERT INTO t (k, c) VALUES (1, 'a') USING TIMESTAMP ?", [None])


# ---------------------------------------------------------------------------------------------
# Batches, unmapped tables, other statements
# ---------------------------------------------------------------------------------------------


def test_batch_mixing_tables_ignores_unmapped_ones() -> None:
    writes = run("BEGIN UNLOGGED BATCH "
                 "INSERT INTO other (k) VALUES (1); "
                 "INSERT INTO t (k, c, v) VALUES (?, 'a', 'x'); "
                 "UPDATE elsewhere.t SET v = ? WHERE k = 1; "
                 "DELETE FROM ks.p WHERE a = ? AND b = 'b'; "
                 "UPDATE ks.n SET v = 'y' WHERE id = ? IF EXISTS; "
                 "APPLY BATCH",
                 [ser(T, "k", 1), serialize(native(13), "ignored"), ser(P, "a", 2),
                  ser(N, "id", U4)])
    assert [type(w).__name__ for w in writes] == ["RowWrite", "RangeDelete", "RowWrite"]
    assert [w.table for w in writes] == [T, P, N]
    assert writes[0].key == RowKey((1,), ("a",))
    assert writes[1] == RangeDelete(P, (2, "b"), (), None, None, TS)
    assert writes[2].condition == LwtCondition(if_exists=True)


def test_unmapped_and_non_write_statements_give_nothing() -> None:
    assert run("INSERT INTO nowhere (k) VALUES (now())") == []
    assert run("INSERT INTO t (k, c) VALUES (1, 'a')", keyspace="other") == []
    assert run("INSERT INTO t (k, c) VALUES (1, 'a')", keyspace=None) == []
    assert run("SELECT * FROM t WHERE k = 1") == []
    assert run("USE ks") == []
    assert len(run("INSERT INTO t (k, c) VALUES (1, 'a')", keyspace=None) + run(
        "INSERT INTO ks.t (k, c) VALUES (1, 'a')", keyspace=None)) == 1


# ---------------------------------------------------------------------------------------------
# End to end with the row merge
# ---------------------------------------------------------------------------------------------


def test_writes_merge_into_the_row_cassandra_would_show() -> None:
    stmts = [
        ("INSERT INTO t (k, c, v, l, m) VALUES (1, 'a', 'x', [1, 2], {'p': 1})", 10),
        ("UPDATE t SET l = [0] + l, m['q'] = 2, w = 5 WHERE k = 1 AND c = 'a'", 20),
        ("UPDATE t SET l = l - [2], m = m - {'p'} WHERE k = 1 AND c = 'a'", 30),
        ("DELETE v FROM t WHERE k = 1 AND c = 'a'", 40),
        ("UPDATE t SET l[0] = 9 WHERE k = 1 AND c = 'a'", 50),
    ]
    state = None
    for cql, ts in stmts:
        (w,) = run(cql, ts=ts)
        state = merge(state, w.mutation, NOW)
    assert state is not None
    assert visible(state, NOW) == {"w": 5, "l": [9, 1], "m": {"q": 2}}
    (d,) = run("DELETE FROM t WHERE k = 1 AND c = 'a'", ts=60)
    assert visible(merge(state, d.mutation, NOW), NOW) is None
