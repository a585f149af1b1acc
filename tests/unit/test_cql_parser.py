"""CQL parser: statements, terms, bind markers, errors, classification, rendering round trips."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cql_protocol.cql import (
    Addition,
    Batch,
    BatchKind,
    BinaryOp,
    BindMarker,
    Cast,
    CastAs,
    ColumnRef,
    ColumnTuple,
    Condition,
    Constant,
    ConstantKind,
    CountRows,
    CustomIndexExpression,
    Delete,
    ElementAccess,
    ElementRef,
    EmptySetOrMap,
    FieldAccess,
    FieldRef,
    FunctionCall,
    Insert,
    InValues,
    ListLiteral,
    MapLiteral,
    MetadataKind,
    Negated,
    Operator,
    Ordering,
    Prepend,
    Relation,
    Select,
    SelectItem,
    SetElement,
    SetField,
    SetLiteral,
    SetValue,
    SliceAccess,
    Subtraction,
    TokenRef,
    TupleLiteral,
    UdtLiteral,
    Unsupported,
    Update,
    Use,
    WritetimeOrTtl,
    classify,
    parse,
    parse_cached,
    quote_ident,
)
from cql_protocol.cql.duration import parse_duration
from cql_protocol.cql.parser.tokens import MAX_DEPTH
from cql_protocol.errors import CQLError, ErrorCode, InvalidRequest, SyntaxError_
from cql_protocol.typeparse import parse_cql_type
from cql_protocol.types import (
    INT,
    TEXT,
    Duration,
    ListType,
    MapType,
    NativeType,
    TypeCode,
    UDTType,
)

# -- helpers ---------------------------------------------------------------------------------------


def i(v: int, text: str | None = None) -> Constant:
    return Constant(ConstantKind.INTEGER, v, str(v) if text is None else text)


def flt(v: float, text: str) -> Constant:
    return Constant(ConstantKind.FLOAT, v, text)


def s(v: str) -> Constant:
    return Constant(ConstantKind.STRING, v, "'" + v.replace("'", "''") + "'")


def q(index: int, name: str | None = None) -> BindMarker:
    return BindMarker(index, name)


NULL = Constant(ConstantKind.NULL, None, "null")
TRUE = Constant(ConstantKind.BOOLEAN, True, "true")
FALSE = Constant(ConstantKind.BOOLEAN, False, "false")


def eq(column: str, value: object) -> Relation:
    return Relation(ColumnRef(column), Operator.EQ, value)  # type: ignore[arg-type]


def items(*exprs: object) -> tuple[SelectItem, ...]:
    return tuple(e if isinstance(e, SelectItem) else SelectItem(e) for e in exprs)  # type: ignore[arg-type]


def term_of(cql_term: str) -> object:
    """The AST of one term, via INSERT."""
    stmt = parse(f"INSERT INTO t (a) VALUES ({cql_term})")
    assert isinstance(stmt, Insert)
    return stmt.values[0]


# -- INSERT ----------------------------------------------------------------------------------------

INSERT_CASES = [
    (
        "INSERT INTO t (a, b) VALUES (1, 'x')",
        Insert(keyspace=None, table="t", columns=("a", "b"), values=(i(1), s("x"))),
    ),
    (
        'insert into KS."MyTable" (Id, "MyCol") values (?, ?);',
        Insert(
            keyspace="ks",
            table="MyTable",
            columns=("id", "MyCol"),
            values=(q(0), q(1)),
            bind_markers=(q(0), q(1)),
        ),
    ),
    (
        "INSERT INTO ks.t (a) VALUES (?) IF NOT EXISTS",
        Insert(
            keyspace="ks", table="t", columns=("a",), values=(q(0),), if_not_exists=True, bind_markers=(q(0),)
        ),
    ),
    (
        "INSERT INTO t (a) VALUES (?) USING TTL ? AND TIMESTAMP ?",
        Insert(
            keyspace=None,
            table="t",
            columns=("a",),
            values=(q(0),),
            ttl=q(1),
            timestamp=q(2),
            bind_markers=(q(0), q(1), q(2)),
        ),
    ),
    (
        "INSERT INTO t (a) VALUES (?) USING TIMESTAMP ? AND TTL ?",
        Insert(
            keyspace=None,
            table="t",
            columns=("a",),
            values=(q(0),),
            ttl=q(2),
            timestamp=q(1),
            bind_markers=(q(0), q(1), q(2)),
        ),
    ),
    (
        "INSERT INTO t (a) VALUES (1) USING TTL 86400",
        Insert(keyspace=None, table="t", columns=("a",), values=(i(1),), ttl=i(86400)),
    ),
    (
        "INSERT INTO t (a) VALUES (1) IF NOT EXISTS USING TTL 10",
        Insert(keyspace=None, table="t", columns=("a",), values=(i(1),), if_not_exists=True, ttl=i(10)),
    ),
    (
        "INSERT INTO t JSON '{\"a\": 1}'",
        Insert(keyspace=None, table="t", json=s('{"a": 1}')),
    ),
    (
        "INSERT INTO t JSON ? DEFAULT UNSET IF NOT EXISTS USING TTL 5",
        Insert(
            keyspace=None,
            table="t",
            json=q(0),
            json_default_unset=True,
            if_not_exists=True,
            ttl=i(5),
            bind_markers=(q(0),),
        ),
    ),
    (
        "INSERT INTO t JSON :doc DEFAULT NULL",
        Insert(keyspace=None, table="t", json=q(0, "doc"), bind_markers=(q(0, "doc"),)),
    ),
    (
        "INSERT INTO json (json, key, ttl, count) VALUES (1, 2, 3, 4)",
        Insert(
            keyspace=None,
            table="json",
            columns=("json", "key", "ttl", "count"),
            values=(i(1), i(2), i(3), i(4)),
        ),
    ),
    (
        'INSERT INTO t (a, b) VALUES (:x, :"Y")',
        Insert(
            keyspace=None,
            table="t",
            columns=("a", "b"),
            values=(q(0, "x"), q(1, "Y")),
            bind_markers=(q(0, "x"), q(1, "Y")),
        ),
    ),
]


@pytest.mark.parametrize(("cql", "expected"), INSERT_CASES, ids=[c for c, _ in INSERT_CASES])
def test_insert(cql: str, expected: Insert) -> None:
    assert parse(cql) == expected


# -- UPDATE ----------------------------------------------------------------------------------------

UPDATE_CASES = [
    (
        "UPDATE t SET a = 1 WHERE k = 2",
        Update(keyspace=None, table="t", assignments=(SetValue("a", i(1)),), where=(eq("k", i(2)),)),
    ),
    (
        "UPDATE ks.t USING TTL 60 AND TIMESTAMP 123 SET a = ? WHERE k = ?",
        Update(
            keyspace="ks",
            table="t",
            assignments=(SetValue("a", q(0)),),
            where=(eq("k", q(1)),),
            ttl=i(60),
            timestamp=i(123),
            bind_markers=(q(0), q(1)),
        ),
    ),
    (
        "UPDATE t USING TIMESTAMP ? SET c = c + 1, d = d - ?, e += 2, g -= 3 WHERE k = ?",
        Update(
            keyspace=None,
            table="t",
            assignments=(
                Addition("c", i(1)),
                Subtraction("d", q(1)),
                Addition("e", i(2)),
                Subtraction("g", i(3)),
            ),
            where=(eq("k", q(2)),),
            timestamp=q(0),
            bind_markers=(q(0), q(1), q(2)),
        ),
    ),
    (
        # "c -3" lexes as c and the integer -3: Cassandra makes it an addition of -3.
        "UPDATE t SET c = c -3 WHERE k = 1",
        Update(keyspace=None, table="t", assignments=(Addition("c", i(-3)),), where=(eq("k", i(1)),)),
    ),
    (
        "UPDATE t SET l = l + [1, 2], l2 = [0] + l2, l3 = l3 - [5] WHERE k = 1",
        Update(
            keyspace=None,
            table="t",
            assignments=(
                Addition("l", ListLiteral((i(1), i(2)))),
                Prepend("l2", ListLiteral((i(0),))),
                Subtraction("l3", ListLiteral((i(5),))),
            ),
            where=(eq("k", i(1)),),
        ),
    ),
    (
        "UPDATE t SET s = s + {'a'}, s2 = s2 - {'b', 'c'}, m = m + {'k': 1}, m2 = m2 - {'k1', 'k2'} WHERE k = 1",
        Update(
            keyspace=None,
            table="t",
            assignments=(
                Addition("s", SetLiteral((s("a"),))),
                Subtraction("s2", SetLiteral((s("b"), s("c")))),
                Addition("m", MapLiteral(((s("k"), i(1)),))),
                Subtraction("m2", SetLiteral((s("k1"), s("k2")))),
            ),
            where=(eq("k", i(1)),),
        ),
    ),
    (
        "UPDATE t SET l[2] = 'x', m['k'] = ?, u.street = 'Main', u.\"Zip\" = 1 WHERE k = 1",
        Update(
            keyspace=None,
            table="t",
            assignments=(
                SetElement("l", i(2), s("x")),
                SetElement("m", s("k"), q(0)),
                SetField("u", "street", s("Main")),
                SetField("u", "Zip", i(1)),
            ),
            where=(eq("k", i(1)),),
            bind_markers=(q(0),),
        ),
    ),
    (
        "UPDATE t SET a = 1 WHERE k = 1 IF EXISTS",
        Update(
            keyspace=None,
            table="t",
            assignments=(SetValue("a", i(1)),),
            where=(eq("k", i(1)),),
            if_exists=True,
        ),
    ),
    (
        "UPDATE t SET a = 1 WHERE k = 1 IF a = 2 AND b != null AND c > 3 AND d IN (1, 2) AND m['x'] = 1 "
        "AND u.f <= 4 AND s CONTAINS 'v' AND m2 CONTAINS KEY 'k'",
        Update(
            keyspace=None,
            table="t",
            assignments=(SetValue("a", i(1)),),
            where=(eq("k", i(1)),),
            conditions=(
                Condition(ColumnRef("a"), Operator.EQ, i(2)),
                Condition(ColumnRef("b"), Operator.NEQ, NULL),
                Condition(ColumnRef("c"), Operator.GT, i(3)),
                Condition(ColumnRef("d"), Operator.IN, InValues((i(1), i(2)))),
                Condition(ElementRef("m", s("x")), Operator.EQ, i(1)),
                Condition(FieldRef("u", "f"), Operator.LTE, i(4)),
                Condition(ColumnRef("s"), Operator.CONTAINS, s("v")),
                Condition(ColumnRef("m2"), Operator.CONTAINS_KEY, s("k")),
            ),
        ),
    ),
    (
        # A column named "exists" in a condition.
        "UPDATE t SET a = 1 WHERE k = 1 IF exists = true",
        Update(
            keyspace=None,
            table="t",
            assignments=(SetValue("a", i(1)),),
            where=(eq("k", i(1)),),
            conditions=(Condition(ColumnRef("exists"), Operator.EQ, TRUE),),
        ),
    ),
    (
        "UPDATE t SET a = toTimestamp(now()), b = system.uuid() WHERE k = 1 IF c IN ?",
        Update(
            keyspace=None,
            table="t",
            assignments=(
                SetValue("a", FunctionCall("totimestamp", (FunctionCall("now", ()),))),
                SetValue("b", FunctionCall("uuid", (), "system")),
            ),
            where=(eq("k", i(1)),),
            conditions=(Condition(ColumnRef("c"), Operator.IN, q(0)),),
            bind_markers=(q(0),),
        ),
    ),
]


@pytest.mark.parametrize(("cql", "expected"), UPDATE_CASES, ids=[c for c, _ in UPDATE_CASES])
def test_update(cql: str, expected: Update) -> None:
    assert parse(cql) == expected


# -- DELETE ----------------------------------------------------------------------------------------

DELETE_CASES = [
    ("DELETE FROM t WHERE k = 1", Delete(keyspace=None, table="t", where=(eq("k", i(1)),))),
    (
        "DELETE a, l[1], m['k'], u.f FROM ks.t USING TIMESTAMP ? WHERE k = ?",
        Delete(
            keyspace="ks",
            table="t",
            targets=(ColumnRef("a"), ElementRef("l", i(1)), ElementRef("m", s("k")), FieldRef("u", "f")),
            where=(eq("k", q(1)),),
            timestamp=q(0),
            bind_markers=(q(0), q(1)),
        ),
    ),
    (
        "DELETE FROM t WHERE k = 1 IF EXISTS",
        Delete(keyspace=None, table="t", where=(eq("k", i(1)),), if_exists=True),
    ),
    (
        "DELETE v FROM t WHERE k = 1 AND c >= 2 IF v = 3",
        Delete(
            keyspace=None,
            table="t",
            targets=(ColumnRef("v"),),
            where=(eq("k", i(1)), Relation(ColumnRef("c"), Operator.GTE, i(2))),
            conditions=(Condition(ColumnRef("v"), Operator.EQ, i(3)),),
        ),
    ),
]


@pytest.mark.parametrize(("cql", "expected"), DELETE_CASES, ids=[c for c, _ in DELETE_CASES])
def test_delete(cql: str, expected: Delete) -> None:
    assert parse(cql) == expected


# -- BATCH -----------------------------------------------------------------------------------------


def test_batch_numbers_markers_across_statements() -> None:
    cql = """
        BEGIN UNLOGGED BATCH USING TIMESTAMP ?
          INSERT INTO t (a, b) VALUES (?, ?) USING TTL ?;
          UPDATE t SET b = :b WHERE a = ?
          DELETE FROM ks.u WHERE a = ?;
        APPLY BATCH;
    """
    stmt = parse(cql)
    assert stmt == Batch(
        kind=BatchKind.UNLOGGED,
        timestamp=q(0),
        statements=(
            Insert(
                keyspace=None,
                table="t",
                columns=("a", "b"),
                values=(q(1), q(2)),
                ttl=q(3),
                bind_markers=(q(1), q(2), q(3)),
            ),
            Update(
                keyspace=None,
                table="t",
                assignments=(SetValue("b", q(4, "b")),),
                where=(eq("a", q(5)),),
                bind_markers=(q(4, "b"), q(5)),
            ),
            Delete(keyspace="ks", table="u", where=(eq("a", q(6)),), bind_markers=(q(6),)),
        ),
        bind_markers=(q(0), q(1), q(2), q(3), q(4, "b"), q(5), q(6)),
    )


@pytest.mark.parametrize(
    ("cql", "kind"),
    [
        ("BEGIN BATCH APPLY BATCH", BatchKind.LOGGED),
        ("begin unlogged batch apply batch", BatchKind.UNLOGGED),
        ("BEGIN COUNTER BATCH UPDATE t SET c = c + 1 WHERE k = 1 APPLY BATCH", BatchKind.COUNTER),
    ],
)
def test_batch_kinds(cql: str, kind: BatchKind) -> None:
    stmt = parse(cql)
    assert isinstance(stmt, Batch)
    assert stmt.kind is kind


def test_batch_rejects_non_modification_statements() -> None:
    with pytest.raises(SyntaxError_, match=r"line 1:12 mismatched input 'SELECT' expecting K_APPLY"):
        parse("BEGIN BATCH SELECT * FROM t; APPLY BATCH")


# -- SELECT ----------------------------------------------------------------------------------------

SELECT_CASES = [
    ("SELECT * FROM t", Select(keyspace=None, table="t")),
    (
        "SELECT a, b AS \"B\", ks.f(a, 1), WRITETIME(b), MAXWRITETIME(b), TTL(m['k']), COUNT(*), count(1), "
        "token(a) FROM ks.t",
        Select(
            keyspace="ks",
            table="t",
            selectors=items(
                ColumnRef("a"),
                SelectItem(ColumnRef("b"), "B"),
                FunctionCall("f", (ColumnRef("a"), i(1)), "ks"),
                WritetimeOrTtl(MetadataKind.WRITETIME, ColumnRef("b")),
                WritetimeOrTtl(MetadataKind.MAXWRITETIME, ColumnRef("b")),
                WritetimeOrTtl(MetadataKind.TTL, ElementAccess(ColumnRef("m"), s("k"))),
                CountRows(),
                FunctionCall("count", (i(1),)),
                FunctionCall("token", (ColumnRef("a"),)),
            ),
        ),
    ),
    (
        "SELECT DISTINCT k FROM t",
        Select(keyspace=None, table="t", distinct=True, selectors=items(ColumnRef("k"))),
    ),
    ("SELECT JSON * FROM t", Select(keyspace=None, table="t", json=True)),
    (
        "SELECT JSON DISTINCT k, json FROM t",
        Select(
            keyspace=None,
            table="t",
            json=True,
            distinct=True,
            selectors=items(ColumnRef("k"), ColumnRef("json")),
        ),
    ),
    # json and distinct are column names when no selection follows them.
    ("SELECT json FROM t", Select(keyspace=None, table="t", selectors=items(ColumnRef("json")))),
    (
        "SELECT distinct, json AS j FROM t",
        Select(
            keyspace=None,
            table="t",
            selectors=items(ColumnRef("distinct"), SelectItem(ColumnRef("json"), "j")),
        ),
    ),
    (
        "SELECT * FROM t WHERE k = ? AND c > ? AND c <= 10 ORDER BY c DESC, d ASC PER PARTITION LIMIT ? LIMIT ? "
        "ALLOW FILTERING",
        Select(
            keyspace=None,
            table="t",
            where=(
                eq("k", q(0)),
                Relation(ColumnRef("c"), Operator.GT, q(1)),
                Relation(ColumnRef("c"), Operator.LTE, i(10)),
            ),
            order_by=(Ordering("c", True), Ordering("d", False)),
            per_partition_limit=q(2),
            limit=q(3),
            allow_filtering=True,
            bind_markers=(q(0), q(1), q(2), q(3)),
        ),
    ),
    (
        "SELECT * FROM t WHERE k IN (1, 2) AND x IN ? AND y IN () AND (c1, c2) > (1, 'a') AND (c1, c2) <= ? "
        "AND (c1, c2) IN ((1, 'a'), (2, 'b')) AND (c1) IN (?, :n) AND (c1, c2) IN ? AND (c1, c2) IN ()",
        Select(
            keyspace=None,
            table="t",
            where=(
                Relation(ColumnRef("k"), Operator.IN, InValues((i(1), i(2)))),
                Relation(ColumnRef("x"), Operator.IN, q(0)),
                Relation(ColumnRef("y"), Operator.IN, InValues(())),
                Relation(ColumnTuple(("c1", "c2")), Operator.GT, TupleLiteral((i(1), s("a")))),
                Relation(ColumnTuple(("c1", "c2")), Operator.LTE, q(1)),
                Relation(
                    ColumnTuple(("c1", "c2")),
                    Operator.IN,
                    InValues((TupleLiteral((i(1), s("a"))), TupleLiteral((i(2), s("b"))))),
                ),
                Relation(ColumnTuple(("c1",)), Operator.IN, InValues((q(2), q(3, "n")))),
                Relation(ColumnTuple(("c1", "c2")), Operator.IN, q(4)),
                Relation(ColumnTuple(("c1", "c2")), Operator.IN, InValues(())),
            ),
            bind_markers=(q(0), q(1), q(2), q(3, "n"), q(4)),
        ),
    ),
    (
        "SELECT * FROM t WHERE token(k1, k2) > token(?, ?) AND s CONTAINS 1 AND m CONTAINS KEY 'a' "
        "AND m['a'] = 2 AND v != 3 AND t LIKE 'x%' AND w IS NOT NULL AND (z = 4) AND expr(ks.idx, 'q')",
        Select(
            keyspace=None,
            table="t",
            where=(
                Relation(TokenRef(("k1", "k2")), Operator.GT, FunctionCall("token", (q(0), q(1)))),
                Relation(ColumnRef("s"), Operator.CONTAINS, i(1)),
                Relation(ColumnRef("m"), Operator.CONTAINS_KEY, s("a")),
                Relation(ElementRef("m", s("a")), Operator.EQ, i(2)),
                Relation(ColumnRef("v"), Operator.NEQ, i(3)),
                Relation(ColumnRef("t"), Operator.LIKE, s("x%")),
                Relation(ColumnRef("w"), Operator.IS_NOT, NULL),
                eq("z", i(4)),
                CustomIndexExpression("ks", "idx", s("q")),
            ),
            bind_markers=(q(0), q(1)),
        ),
    ),
    (
        "SELECT (int) a, (a + b) * 2, -a, - - a, u.f.g, l[1..3], l[..?], l[? ..], CAST(a AS text), [a, 1], "
        "{a, b}, {a: b}, (a, b), (a) FROM t",
        Select(
            keyspace=None,
            table="t",
            selectors=items(
                Cast(INT, ColumnRef("a")),
                BinaryOp("*", BinaryOp("+", ColumnRef("a"), ColumnRef("b")), i(2)),
                Negated(ColumnRef("a")),
                Negated(Negated(ColumnRef("a"))),
                FieldAccess(FieldAccess(ColumnRef("u"), "f"), "g"),
                SliceAccess(ColumnRef("l"), i(1), i(3)),
                SliceAccess(ColumnRef("l"), None, q(0)),
                SliceAccess(ColumnRef("l"), q(1), None),
                CastAs(ColumnRef("a"), TEXT),
                ListLiteral((ColumnRef("a"), i(1))),
                SetLiteral((ColumnRef("a"), ColumnRef("b"))),
                UdtLiteral((("a", ColumnRef("b")),)),
                TupleLiteral((ColumnRef("a"), ColumnRef("b"))),
                ColumnRef("a"),
            ),
            bind_markers=(q(0), q(1)),
        ),
    ),
    (
        "SELECT k, count(*) FROM t WHERE k = 1 GROUP BY k, floor(ts, 1h)",
        Select(
            keyspace=None,
            table="t",
            selectors=items(ColumnRef("k"), CountRows()),
            where=(eq("k", i(1)),),
            group_by=(
                ColumnRef("k"),
                FunctionCall(
                    "floor",
                    (ColumnRef("ts"), Constant(ConstantKind.DURATION, Duration(0, 0, 3600 * 10**9), "1h")),
                ),
            ),
        ),
    ),
    (
        "SELECT * FROM t ORDER BY v ANN OF [1.0, 2.5] LIMIT 3",
        Select(
            keyspace=None,
            table="t",
            order_by=(Ordering("v", False, ListLiteral((flt(1.0, "1.0"), flt(2.5, "2.5")))),),
            limit=i(3),
        ),
    ),
]


@pytest.mark.parametrize(("cql", "expected"), SELECT_CASES, ids=[c for c, _ in SELECT_CASES])
def test_select(cql: str, expected: Select) -> None:
    assert parse(cql) == expected


def test_select_star_property() -> None:
    stmt = parse("SELECT * FROM t")
    assert isinstance(stmt, Select) and stmt.is_star
    stmt = parse("SELECT a FROM t")
    assert isinstance(stmt, Select) and not stmt.is_star


# -- USE -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cql", "keyspace"),
    [("USE ks", "ks"), ('use "MyKs";', "MyKs"), ("USE Shop", "shop"), ("USE ttl", "ttl")],
)
def test_use(cql: str, keyspace: str) -> None:
    assert parse(cql) == Use(keyspace)


# -- terms -----------------------------------------------------------------------------------------

TERM_CASES = [
    ("'it''s'", s("it's")),
    ("$$it's $ fine$$", s("it's $ fine")),
    ("''", s("")),
    ("42", i(42)),
    ("-42", i(-42)),
    ("007", i(7, "007")),
    ("123456789012345678901234567890", i(123456789012345678901234567890)),
    ("1.5", flt(1.5, "1.5")),
    ("-1.25e-3", flt(-0.00125, "-1.25e-3")),
    ("1E10", flt(1e10, "1E10")),
    ("2.", flt(2.0, "2.")),
    ("Infinity", flt(math.inf, "Infinity")),
    ("-Infinity", flt(-math.inf, "-Infinity")),
    ("TRUE", TRUE),
    ("false", FALSE),
    ("NULL", NULL),
    ("0xCAFE", Constant(ConstantKind.HEX, b"\xca\xfe", "0xcafe")),
    ("0x", Constant(ConstantKind.HEX, b"", "0x")),
    (
        "123E4567-e89b-12d3-a456-426614174000",
        Constant(
            ConstantKind.UUID,
            uuid.UUID("123e4567-e89b-12d3-a456-426614174000"),
            "123e4567-e89b-12d3-a456-426614174000",
        ),
    ),
    (
        "deadbeef-dead-beef-dead-beefdeadbeef",
        Constant(
            ConstantKind.UUID,
            uuid.UUID("deadbeef-dead-beef-dead-beefdeadbeef"),
            "deadbeef-dead-beef-dead-beefdeadbeef",
        ),
    ),
    ("1h30m", Constant(ConstantKind.DURATION, Duration(0, 0, 90 * 60 * 10**9), "1h30m")),
    ("-2d", Constant(ConstantKind.DURATION, Duration(0, -2, 0), "-2d")),
    ("1y2mo3w4d", Constant(ConstantKind.DURATION, Duration(14, 25, 0), "1y2mo3w4d")),
    ("5ms7us", Constant(ConstantKind.DURATION, Duration(0, 0, 5_007_000), "5ms7us")),
    ("P1D", Constant(ConstantKind.DURATION, Duration(0, 1, 0), "P1D")),
    (
        "P1Y2M3DT4H5M6S",
        Constant(ConstantKind.DURATION, Duration(14, 3, (4 * 3600 + 5 * 60 + 6) * 10**9), "P1Y2M3DT4H5M6S"),
    ),
    ("PT30S", Constant(ConstantKind.DURATION, Duration(0, 0, 30 * 10**9), "PT30S")),
    ("P2W", Constant(ConstantKind.DURATION, Duration(0, 14, 0), "P2W")),
    (
        "-P0001-02-03T00:00:01",
        Constant(ConstantKind.DURATION, Duration(-14, -3, -(10**9)), "-P0001-02-03T00:00:01"),
    ),
    ("?", q(0)),
    (":name", q(0, "name")),
    (': "Name"', q(0, "Name")),
    ("[]", ListLiteral(())),
    ("[1, [2, 3]]", ListLiteral((i(1), ListLiteral((i(2), i(3)))))),
    ("{1, 2}", SetLiteral((i(1), i(2)))),
    ("{'a': 1, 'b': ?}", MapLiteral(((s("a"), i(1)), (s("b"), q(0))))),
    ("{}", EmptySetOrMap()),
    ("(1, 'a', ?)", TupleLiteral((i(1), s("a"), q(0)))),
    ("(1)", TupleLiteral((i(1),))),
    (
        "{street: 'Main', \"Zip\": 123, key: {a: 1}}",
        UdtLiteral((("street", s("Main")), ("Zip", i(123)), ("key", UdtLiteral((("a", i(1)),))))),
    ),
    ("now()", FunctionCall("now", ())),
    ("toTimestamp(now())", FunctionCall("totimestamp", (FunctionCall("now", ()),))),
    ("currentTimestamp()", FunctionCall("currenttimestamp", ())),
    ('ks."MyFn"(1, ?)', FunctionCall("MyFn", (i(1), q(0)), "ks")),
    ("uuid()", FunctionCall("uuid", ())),
    ("(int) ?", Cast(INT, q(0))),
    ("(text)'x'", Cast(TEXT, s("x"))),
    ("(list<int>) [1]", Cast(ListType(INT), ListLiteral((i(1),)))),
    ("(frozen<map<text, int>>) {}", Cast(MapType(TEXT, INT, frozen=True), EmptySetOrMap())),
    (
        "(ks.addr) {street: 'x'}",
        Cast(UDTType("ks", "addr", (), frozen=False), UdtLiteral((("street", s("x")),))),
    ),
    ("CAST(1 AS text)", CastAs(i(1), TEXT)),
    ("- 1", Negated(i(1))),
    ("- ?", Negated(q(0))),
    ("1 + 2 * 3", BinaryOp("+", i(1), BinaryOp("*", i(2), i(3)))),
    ("10 - 2 - 3", BinaryOp("-", BinaryOp("-", i(10), i(2)), i(3))),
    ("? % 7", BinaryOp("%", q(0), i(7))),
    # ('x') before ': ks.g()' is a one-element tuple key, not a cast of the marker :ks
    ("{(''): ks.g()}", MapLiteral(((TupleLiteral((s(""),)), FunctionCall("g", (), "ks")),))),
    ("{('x'): now()}", MapLiteral(((TupleLiteral((s("x"),)), FunctionCall("now", ())),))),
    ("{('x') :ks}", SetLiteral((Cast(parse_cql_type("'x'"), q(0, "ks")),))),
    ("writetime.f(1)", FunctionCall("f", (i(1),), "writetime")),
    ("(int) ttl.f()", Cast(INT, FunctionCall("f", (), "ttl"))),
]


@pytest.mark.parametrize(("cql", "expected"), TERM_CASES, ids=[c for c, _ in TERM_CASES])
def test_terms(cql: str, expected: object) -> None:
    assert term_of(cql) == expected


def test_nan_is_one_value() -> None:
    for text in ("NaN", "nan", "-NaN"):
        t = term_of(text)
        assert isinstance(t, Constant) and t.kind is ConstantKind.FLOAT
        assert math.isnan(t.value)  # type: ignore[arg-type]
        assert t.text == "NaN"
        assert t == term_of("NaN")


def test_float_text_keeps_decimal_precision() -> None:
    t = term_of("0.10000000000000000000000000001")
    assert isinstance(t, Constant) and t.text == "0.10000000000000000000000000001"


def test_cast_types_are_type_descriptors() -> None:
    t = term_of("(varint) ?")
    assert isinstance(t, Cast) and t.type == NativeType(TypeCode.VARINT)


# -- identifiers, comments, semicolons -------------------------------------------------------------


def test_identifier_case_rules() -> None:
    stmt = parse('SELECT MyCol, "MyCol", "my""col", "select" FROM "Ks"."T"')
    assert stmt == Select(
        keyspace="Ks",
        table="T",
        selectors=items(ColumnRef("mycol"), ColumnRef("MyCol"), ColumnRef('my"col'), ColumnRef("select")),
    )


def test_empty_quoted_column_name() -> None:
    stmt = parse('UPDATE t SET "" = 1 WHERE k = 1')
    assert isinstance(stmt, Update) and stmt.assignments == (SetValue("", i(1)),)


def test_unreserved_keywords_are_identifiers() -> None:
    stmt = parse("SELECT key, ttl, writetime, count, type, values, list, map FROM t WHERE key = 1")
    assert isinstance(stmt, Select)
    assert [x.expr for x in stmt.selectors] == [
        ColumnRef(n) for n in ("key", "ttl", "writetime", "count", "type", "values", "list", "map")
    ]


@pytest.mark.parametrize(
    "cql",
    [
        "SELECT a FROM t WHERE k = 1",
        "select a from t where k = 1;",
        "SELECT a FROM t WHERE k = 1;;;",
        "-- leading comment\nSELECT a /* inline */ FROM t // trailing\nWHERE k = 1",
        "SELECT a FROM t WHERE k = 1 -- comment at the very end",
        "/* multi\nline */ SELECT\n\ta\r\nFROM t WHERE k=1",
    ],
)
def test_comments_whitespace_semicolons(cql: str) -> None:
    assert parse(cql) == Select(
        keyspace=None, table="t", selectors=items(ColumnRef("a")), where=(eq("k", i(1)),)
    )


def test_string_contents_are_not_comments() -> None:
    assert term_of("'-- not a comment /* nor this */'") == s("-- not a comment /* nor this */")


# -- errors ----------------------------------------------------------------------------------------

SYNTAX_ERRORS = [
    ("SELECT * FORM t", "line 1:9 mismatched input 'FORM' expecting K_FROM (SELECT * [FORM] t)"),
    (
        "SELECT * FORM t WHERE k = 1",
        "line 1:9 mismatched input 'FORM' expecting K_FROM (SELECT * [FORM] t...)",
    ),
    (
        "INSERT INTO t (a) VALUE (1)",
        "line 1:18 mismatched input 'VALUE' expecting K_VALUES (INSERT INTO t (a) [VALUE] (...)",
    ),
    (
        "UPDATE t SET a = 1 WHER k = 1",
        "line 1:19 mismatched input 'WHER' expecting K_WHERE (...t SET a = 1 [WHER] k...)",
    ),
    ("SELEC * FROM t", "line 1:0 no viable alternative at input 'SELEC' ([SELEC] *...)"),
    ("", "line 1:0 no viable alternative at input '<EOF>'"),
    ("SELECT * FROM", "line 1:13 mismatched input '<EOF>' expecting IDENT"),
    ("SELECT * FROM t WHERE", "line 1:21 no viable alternative at input '<EOF>'"),
    ("INSERT INTO t (a) VALUES (1", "line 1:27 mismatched input '<EOF>' expecting ')'"),
    ("INSERT INTO t (a) VALUES ('abc)", "line 1:31 mismatched character '<EOF>' expecting '''"),
    ('SELECT "abc FROM t', "line 1:18 mismatched character '<EOF>' expecting '\"'"),
    ("SELECT a FROM t /* unterminated", "line 1:31 mismatched character '<EOF>' expecting '*'"),
    ("SELECT a FROM t WHERE k = 1 ~", "line 1:28 no viable alternative at character '~'"),
    ("USE ks extra", "line 1:7 mismatched input 'extra' expecting EOF"),
    (
        "SELECT a FROM t\nWHERE k == 1",  # Cassandra joins the snippet's lines without a separator.
        "line 2:9 no viable alternative at input '=' (... FROM tWHERE k =[=] 1)",
    ),
    (
        "SELECT * FROM t WHERE from = 1",
        "line 1:22 no viable alternative at input 'from' (SELECT * FROM t WHERE [from] =...)",
    ),
    ("INSERT INTO t (a) VALUES (b)", "line 1:26 no viable alternative at input 'b'"),
    ("UPDATE t SET a = 1 WHERE k = 1 IF", "line 1:33 mismatched input '<EOF>' expecting IDENT"),
    (
        "DELETE FROM t USING TTL 5 WHERE k = 1",
        "line 1:20 mismatched input 'TTL' expecting K_TIMESTAMP (DELETE FROM t USING [TTL] 5...)",
    ),
    ("SELECT * FROM t LIMIT 'x'", "line 1:22 no viable alternative at input ''x''"),
    ("INSERT INTO ?.t (a) VALUES (1)", "Bind variables cannot be used for keyspace names"),
    ("INSERT INTO ? (a) VALUES (1)", "Bind variables cannot be used for table names"),
    ("UPDATE t SET a = b + 1 WHERE k = 1", "Only expressions of the form X = X +<value> are supported."),
    ("UPDATE t SET a = b -1 WHERE k = 1", "Only expressions of the form X = X - <value> are supported."),
    ("UPDATE t SET a = [1] + b WHERE k = 1", "Only expressions of the form X = <value> + X are supported."),
    ("UPDATE t SET a = 1, a = 2 WHERE k = 1", "Multiple incompatible setting of column a"),
    ("UPDATE t SET a[1] = 1, a = [2] WHERE k = 1", "Multiple incompatible setting of column a"),
    ("UPDATE t SET u.f = 1, u.f = 2 WHERE k = 1", "Multiple incompatible setting of column u"),
    # words Cassandra's comparatorType refuses: no type hint, so a tuple of a non-term
    ("INSERT INTO t (a) VALUES ((frozen<map<batch, text>>) 1)",
     "line 1:27 no viable alternative at input 'frozen' (...t (a) VALUES (([frozen]<map...)"),
    ("INSERT INTO t (a) VALUES ((ttl) 1)",
     "line 1:27 no viable alternative at input 'ttl' (...t (a) VALUES (([ttl]) ...)"),
    ("INSERT INTO t (a) VALUES ((byte) 1)",
     "line 1:27 no viable alternative at input 'byte' (...t (a) VALUES (([byte]) ...)"),
    ("INSERT INTO t (a) VALUES ((set) 1)",
     "line 1:27 no viable alternative at input 'set' (...t (a) VALUES (([set]) ...)"),
    # selectors decide `(type) :name` by a syntactic predicate: a cast of :now, then a stray '('
    ("SELECT {(a): now()} FROM t", "line 1:16 mismatched input '(' expecting '}' (SELECT {(a): now[(])}...)"),
    # a syntax error further on wins over a check Cassandra makes only when preparing
    ("INSERT INTO t (a) VALUES (1, 2) )", "line 1:32 mismatched input ')' expecting EOF"),
    ("INSERT INTO t (a) VALUES (0xabc", "line 1:31 mismatched input '<EOF>' expecting ')'"),
]


@pytest.mark.parametrize(("cql", "message"), SYNTAX_ERRORS, ids=[c for c, _ in SYNTAX_ERRORS])
def test_syntax_errors(cql: str, message: str) -> None:
    with pytest.raises(SyntaxError_) as e:
        parse(cql)
    assert e.value.message == message
    assert e.value.code == ErrorCode.SYNTAX_ERROR


def test_compatible_settings_of_one_column() -> None:
    stmt = parse("UPDATE t SET m['a'] = 1, m['b'] = 2, u.f = 1, u.g = 2, l = l + [1] WHERE k = 1")
    assert isinstance(stmt, Update) and len(stmt.assignments) == 5


def test_error_snippet_starts_ten_tokens_back() -> None:
    cql = "SELECT a, b, c, d FROM t WHERE k = 1 ORDER c LIMIT 1"
    with pytest.raises(SyntaxError_) as e:
        parse(cql)
    assert (
        e.value.message == "line 1:43 mismatched input 'c' expecting K_BY (...WHERE k = 1 ORDER [c] LIMIT...)"
    )


INVALID_REQUESTS = [
    ("INSERT INTO t (a, b) VALUES (1)", "Unmatched column names/values"),
    ("INSERT INTO t (a, a) VALUES (1, 2)", "Multiple definitions found for column a"),
    (
        "INSERT INTO t (a) VALUES (1) IF NOT EXISTS USING TIMESTAMP 5",
        "Cannot provide custom timestamp for conditional updates",
    ),
    (
        "UPDATE t USING TIMESTAMP 5 SET a = 1 WHERE k = 1 IF a = 2",
        "Cannot provide custom timestamp for conditional updates",
    ),
    (
        "DELETE FROM t USING TIMESTAMP 5 WHERE k = 1 IF EXISTS",
        "Cannot provide custom timestamp for conditional updates",
    ),
    ("BEGIN BATCH USING TTL 5 APPLY BATCH", "Global TTL on the BATCH statement is not supported."),
    (
        "BEGIN BATCH USING TIMESTAMP 1 INSERT INTO t (a) VALUES (1) IF NOT EXISTS APPLY BATCH",
        "Cannot provide custom timestamp for conditional BATCH",
    ),
    ("INSERT INTO t (a) VALUES (0xABC)", "Invalid hex constant 0xABC: an odd number of digits"),
    ("INSERT INTO t (a) VALUES (1d2d)", "Invalid duration. The days are specified multiple times"),
    ("INSERT INTO t (a) VALUES (1h2d)", "Invalid duration. The hours should be after days"),
    (
        "INSERT INTO t (a) VALUES (99999999999y)",
        "Invalid duration. The total number of months must be less or equal to 2147483647",
    ),
    # the overridden marker would have nothing to bind (Cassandra fails to prepare it)
    (
        "INSERT INTO t (a) VALUES (1) USING TIMESTAMP ? AND TIMESTAMP ?",
        "TIMESTAMP is given twice in USING and its first value is a bind marker",
    ),
    ("UPDATE t USING TTL :x AND TTL 5 SET a = 1 WHERE k = 1",
     "TTL is given twice in USING and its first value is a bind marker"),
]


@pytest.mark.parametrize(("cql", "message"), INVALID_REQUESTS, ids=[c for c, _ in INVALID_REQUESTS])
def test_invalid_requests(cql: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        parse(cql)
    assert not isinstance(e.value, Unsupported)
    assert e.value.message == message


def test_nesting_limit() -> None:
    parse("INSERT INTO t (a) VALUES (" + "[" * 30 + "]" * 30 + ")")
    with pytest.raises(SyntaxError_, match="nesting deeper than"):
        parse("INSERT INTO t (a) VALUES (" + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + ")")
    with pytest.raises(SyntaxError_, match="nesting deeper than"):
        parse("SELECT * FROM t WHERE " + "(" * 5000 + "a = 1" + ")" * 5000)
    with pytest.raises(SyntaxError_, match="nesting deeper than"):
        parse("SELECT " + "- " * 5000 + "a FROM t")
    # Long chains make deep trees too.
    for chain in ("1" + " + 1" * 5000, "1" + " * 1" * 5000, "(int) " * 5000 + "1"):
        with pytest.raises(SyntaxError_, match="nesting deeper than"):
            parse(f"INSERT INTO t (a) VALUES ({chain})")
    for chain in ("a" + ".f" * 5000, "a" + "[1]" * 5000):
        with pytest.raises(SyntaxError_, match="nesting deeper than"):
            parse(f"SELECT {chain} FROM t")
    ok = parse("INSERT INTO t (a, b) VALUES (" + " + ".join(["1"] * 40) + ", " + " * ".join(["2"] * 40) + ")")
    assert parse(ok.to_cql()) == ok


UNSUPPORTED = [
    ("CREATE TABLE ks.t (a int PRIMARY KEY)", "CREATE TABLE"),
    ("create keyspace ks with replication = {}", "CREATE KEYSPACE"),
    ("CREATE CUSTOM INDEX ON t (v) USING 'sai'", "CREATE INDEX"),
    (
        "CREATE OR REPLACE FUNCTION f() RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS 'x'",
        "CREATE FUNCTION",
    ),
    ("CREATE MATERIALIZED VIEW v AS SELECT * FROM t", "CREATE MATERIALIZED VIEW"),
    ("ALTER TABLE t ADD c int", "ALTER TABLE"),
    ("DROP TABLE IF EXISTS t", "DROP TABLE"),
    ("TRUNCATE t", "TRUNCATE"),
    ("GRANT SELECT ON ALL KEYSPACES TO r", "GRANT"),
    ("REVOKE SELECT ON ALL KEYSPACES FROM r", "REVOKE"),
    ("LIST ROLES", "LIST ROLES"),
    ("LIST ALL PERMISSIONS", "LIST PERMISSIONS"),
    ("DESCRIBE TABLES", "DESCRIBE"),
    ("desc keyspaces", "DESCRIBE"),
    ("-- comment\nCREATE ROLE r", "CREATE ROLE"),
]


@pytest.mark.parametrize(("cql", "kind"), UNSUPPORTED, ids=[c for c, _ in UNSUPPORTED])
def test_unsupported(cql: str, kind: str) -> None:
    with pytest.raises(Unsupported) as e:
        parse(cql)
    assert e.value.kind == kind
    assert isinstance(e.value, InvalidRequest)
    assert e.value.code == ErrorCode.INVALID
    assert kind in e.value.message


# -- classify --------------------------------------------------------------------------------------

CLASSIFY_CASES = [
    ("SELECT a, b FROM ks.t WHERE k = 1", ("SELECT", "ks", "t")),
    ('select count(*) from "Tbl"', ("SELECT", None, "Tbl")),
    ("SELECT 'from x' AS \"from\", a FROM t", ("SELECT", None, "t")),
    ("/* from a */ SELECT a -- from b\n FROM c.d", ("SELECT", "c", "d")),
    ("INSERT INTO Ks.T (a) VALUES (1)", ("INSERT", "ks", "t")),
    ("  update t SET a = 1 WHERE k = 1", ("UPDATE", None, "t")),
    ('DELETE a FROM "K"."T" WHERE k = 1', ("DELETE", "K", "T")),
    ("BEGIN BATCH INSERT INTO t (a) VALUES (1) APPLY BATCH", ("BATCH", None, None)),
    ('USE "MyKs"', ("USE", "MyKs", None)),
    ("TRUNCATE TABLE ks.t", ("TRUNCATE", "ks", "t")),
    ("truncate t", ("TRUNCATE", None, "t")),
    ("CREATE TABLE IF NOT EXISTS ks.t (a int PRIMARY KEY)", ("CREATE TABLE", "ks", "t")),
    ("CREATE KEYSPACE IF NOT EXISTS shop WITH replication = {}", ("CREATE KEYSPACE", "shop", None)),
    ("CREATE INDEX idx ON ks.t (c)", ("CREATE INDEX", "ks", "t")),
    ("CREATE CUSTOM INDEX IF NOT EXISTS ON t (c) USING 'StorageAttachedIndex'", ("CREATE INDEX", None, "t")),
    ("DROP INDEX ks.idx", ("DROP INDEX", "ks", None)),
    ("ALTER TABLE ks.t WITH gc_grace_seconds = 0", ("ALTER TABLE", "ks", "t")),
    ("DROP KEYSPACE IF EXISTS ks", ("DROP KEYSPACE", "ks", None)),
    ("CREATE MATERIALIZED VIEW ks.v AS SELECT * FROM ks.t", ("CREATE MATERIALIZED VIEW", "ks", "v")),
    ("CREATE TYPE ks.addr (street text)", ("CREATE TYPE", "ks", None)),
    ("CREATE OR REPLACE AGGREGATE ks.agg(int) SFUNC f STYPE int", ("CREATE AGGREGATE", "ks", None)),
    ("CREATE TRIGGER trg ON ks.t USING 'c'", ("CREATE TRIGGER", "ks", "t")),
    ("GRANT ALL ON KEYSPACE ks TO r", ("GRANT", None, None)),
    ("LIST USERS", ("LIST USERS", None, None)),
    ("DESCRIBE KEYSPACE ks", ("DESCRIBE", None, None)),
    ("EXPLAIN something", ("UNKNOWN", None, None)),
    ("", ("UNKNOWN", None, None)),
    ("SELECT a", ("SELECT", None, None)),
    ("INSERT INTO ? (a) VALUES (1)", ("INSERT", None, None)),
    ("SELECT 'unterminated FROM t", ("SELECT", None, None)),
]


@pytest.mark.parametrize(("cql", "expected"), CLASSIFY_CASES, ids=[c for c, _ in CLASSIFY_CASES])
def test_classify(cql: str, expected: tuple[str, str | None, str | None]) -> None:
    assert classify(cql) == expected


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_classify_never_raises(text: str) -> None:
    kind, keyspace, table = classify(text)
    assert isinstance(kind, str)
    assert keyspace is None or isinstance(keyspace, str)
    assert table is None or isinstance(table, str)


# -- duration details ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1mo", Duration(1, 0, 0)),
        ("1MO", Duration(1, 0, 0)),
        ("3m", Duration(0, 0, 180 * 10**9)),
        ("1h1m1s1ms1us1ns", Duration(0, 0, 3_661_001_001_001)),
        ("2\u00b5s", Duration(0, 0, 2000)),
        ("-1y", Duration(-12, 0, 0)),
        ("P1M", Duration(1, 0, 0)),
        ("PT1M", Duration(0, 0, 60 * 10**9)),
        ("P0000-00-00T00:00:00", Duration(0, 0, 0)),
    ],
)
def test_durations(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


# -- immutability, caching, rendering --------------------------------------------------------------


def test_trees_are_immutable_and_hashable() -> None:
    stmt = parse("UPDATE t SET l = l + [1] WHERE k IN (1, 2) IF EXISTS")
    assert isinstance(stmt, Update)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stmt.table = "x"  # type: ignore[misc]
    assert hash(stmt) == hash(parse("UPDATE t SET l = l + [1] WHERE k IN (1, 2) IF EXISTS"))


def test_parse_cached_shares_trees_and_does_not_cache_errors() -> None:
    cql = "SELECT a FROM cached_table WHERE k = ?"
    assert parse_cached(cql) is parse_cached(cql)
    for _ in range(2):
        with pytest.raises(SyntaxError_):
            parse_cached("SELECT FROM")


def test_to_cql_adds_a_timestamp() -> None:
    stmt = parse("INSERT INTO ks.t (a, \"B\") VALUES (?, 'x''y') USING TTL 10")
    assert isinstance(stmt, Insert)
    rewritten = dataclasses.replace(stmt, timestamp=i(1700000000000000))
    assert (
        rewritten.to_cql()
        == "INSERT INTO ks.t (a, \"B\") VALUES (?, 'x''y') USING TTL 10 AND TIMESTAMP 1700000000000000"
    )


def test_to_cql_keeps_marker_order_of_using() -> None:
    stmt = parse("UPDATE t USING TIMESTAMP ? AND TTL ? SET a = ? WHERE k = ?")
    assert stmt.to_cql() == "UPDATE t USING TIMESTAMP ? AND TTL ? SET a = ? WHERE k = ?"


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("a", "a"),
        ("MyCol", '"MyCol"'),
        ("select", '"select"'),
        ("key", '"key"'),
        ('a"b', '"a""b"'),
        ("", '""'),
        ("1a", '"1a"'),
    ],
)
def test_quote_ident(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted


ALL_VALID = (
    [c for c, _ in INSERT_CASES + UPDATE_CASES + DELETE_CASES + SELECT_CASES]
    + [f"INSERT INTO t (a) VALUES ({c})" for c, _ in TERM_CASES]
    + [
        "BEGIN BATCH USING TIMESTAMP 5 INSERT INTO t (a) VALUES (1) DELETE FROM t WHERE a = 1 APPLY BATCH",
        "BEGIN COUNTER BATCH UPDATE t SET c = c + 1 WHERE k = 1; APPLY BATCH",
        'SELECT "token"(a), "ttl"(a), text(a), "Mixed"(a), blob(a), ks.count(a) FROM t',
        "SELECT (int) a.b, ((int) a).b, - (a + b), (a + b)[1], (a * b).f, -(int) a, a - - 1 FROM t",
        "SELECT * FROM t WHERE ((a = 1)) AND (b, c) > (1, 2)",
        "INSERT INTO t (a) VALUES ((int) (int) ?)",
        "INSERT INTO t (a) VALUES (- (int) 1)",
        "INSERT INTO t (a) VALUES ((1 + 2) * 3)",
        "UPDATE t SET a = (tuple<int, text>) (1, 'a'), b = (vector<float, 2>) [1.0, 2.0] WHERE k = 1",
        "UPDATE t SET a = ('org.apache.cassandra.db.marshal.UTF8Type') 'x' WHERE k = 1",
        "INSERT INTO t (a) VALUES ({('x'): now()})",
        'UPDATE t SET a = ("MyType") {f: 1} WHERE k = 1',
        'USE "Ks"',
        'DELETE "A"[1], "B"."C" FROM t WHERE k = 1 IF "A"[1] IN (1, 2) AND "B"."C" IN ?',
        "SELECT * FROM t WHERE token(a, b) > {(''): ks.g()}",
        "INSERT INTO t (a) VALUES ({('x'): ks.\"G\"(1), ('y'): :m})",
        "UPDATE t SET a = a + writetime.g(1) WHERE k = 1",
        "UPDATE t USING TTL 1 AND TTL ? SET a = 1 WHERE k = 1",
        # a selector's map keeps the parentheses that keep a column key from reading as a UDT field
        "SELECT {(a): 1}, {(a): (b), (c): (f(1))}, {a: 1} FROM t",
        # a number's field keeps parentheses: `1.j` lexes as the float `1.` and a name
        "SELECT 1 . j, 2. . k, - 1 . l, -1 . m, ((int) 2.).n, (int) a.o FROM t",
    ]
)


@pytest.mark.parametrize("cql", ALL_VALID)
def test_round_trip(cql: str) -> None:
    stmt = parse(cql)
    rendered = stmt.to_cql()
    assert parse(rendered) == stmt, rendered
    assert parse(rendered).to_cql() == rendered


# -- property tests --------------------------------------------------------------------------------

_VOCABULARY = [
    "SELECT", "INSERT", "INTO", "UPDATE", "DELETE", "FROM", "WHERE", "AND", "SET", "VALUES", "USING",
    "TTL", "TIMESTAMP", "IF", "NOT", "EXISTS", "IN", "CONTAINS", "KEY", "BEGIN", "BATCH", "APPLY",
    "UNLOGGED", "COUNTER", "JSON", "DISTINCT", "AS", "ORDER", "BY", "LIMIT", "PER", "PARTITION", "ALLOW",
    "FILTERING", "token", "CAST", "COUNT", "WRITETIME", "NULL", "NaN", "-Infinity", "true", "frozen",
    "list", "map", "int", "text", "a", "b", "ks", "t", '"Q"', '""', "?", ":n", "1", "-1", "1.5", "1h",
    "P1D", "0xab", "'s'", "$$d$$", "123e4567-e89b-12d3-a456-426614174000", "(", ")", "[", "]", "{", "}",
    ",", ";", ".", "..", ":", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "+=", "-=",
    "USE", "CREATE", "GROUP", "ANN", "OF", "IS", "LIKE", "expr(",
]  # fmt: skip


@given(st.text(max_size=300))
@settings(max_examples=500, deadline=None)
def test_arbitrary_text_raises_only_cql_errors(text: str) -> None:
    with contextlib.suppress(CQLError):
        parse(text)


@given(st.lists(st.sampled_from(_VOCABULARY), max_size=40), st.sampled_from([" ", "", "\n"]))
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_token_soup_raises_only_cql_errors(words: list[str], sep: str) -> None:
    text = sep.join(words)
    try:
        stmt = parse(text)
    except CQLError:
        return
    assert parse(stmt.to_cql()) == stmt


_names = st.sampled_from(["a", "b", "key", "MyCol", "select", 'x"y', "ttl"])
_constants = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=8).map(lambda v: "'" + v.replace("'", "''") + "'"),
    st.sampled_from(["true", "FALSE", "null", "NaN", "-Infinity", "0xCAFE", "1h30m", "P1W", "?", ":m"]),
    st.uuids().map(str),
)


def _term(depth: int) -> st.SearchStrategy[str]:
    if depth <= 0:
        return _constants
    sub = _term(depth - 1)
    return st.one_of(
        _constants,
        st.lists(sub, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(sub, min_size=1, max_size=3).map(lambda xs: "{" + ", ".join(xs) + "}"),
        st.lists(st.tuples(sub, sub), min_size=1, max_size=3).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"
        ),
        st.lists(sub, min_size=1, max_size=3).map(lambda xs: "(" + ", ".join(xs) + ")"),
        st.tuples(_names, sub).map(lambda p: "{" + quote_ident(p[0]) + ": " + p[1] + "}"),
        st.tuples(st.sampled_from(["now", "f", "ks.g", '"Fn"']), st.lists(sub, max_size=2)).map(
            lambda p: p[0] + "(" + ", ".join(p[1]) + ")"
        ),
        st.tuples(st.sampled_from(["int", "text", "list<int>", "frozen<map<int, text>>"]), sub).map(
            lambda p: f"({p[0]}) {p[1]}"
        ),
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "%"]), sub).map(
            lambda p: f"{p[0]} {p[1]} {p[2]}"
        ),
    )


_terms = _term(2)
_ident = _names.map(quote_ident)
_where = st.lists(
    st.one_of(
        st.tuples(_ident, st.sampled_from(["=", "<", ">=", "!="]), _terms).map(
            lambda p: f"{p[0]} {p[1]} {p[2]}"
        ),
        st.tuples(_ident, st.lists(_terms, max_size=3)).map(lambda p: f"{p[0]} IN ({', '.join(p[1])})"),
        _ident.map(lambda c: f"{c} IN ?"),
        st.tuples(_ident, _terms).map(lambda p: f"{p[0]} CONTAINS KEY {p[1]}"),
        _terms.map(lambda v: f"token(a, b) > {v}"),
        st.tuples(_terms, _terms).map(lambda p: f"(a, b) >= ({p[0]}, {p[1]})"),
    ),
    min_size=1,
    max_size=3,
).map(" AND ".join)


def _insert(p: tuple[list[str], list[str], bool, str]) -> str:
    names, values, ine, using = p
    cols = list(dict.fromkeys(names))
    vals = (values * len(cols))[: len(cols)]
    return (
        f"INSERT INTO ks.t ({', '.join(quote_ident(c) for c in cols)}) VALUES ({', '.join(vals)})"
        + (" IF NOT EXISTS" if ine else "")
        + using
    )


_statements = st.one_of(
    st.tuples(
        st.lists(_names, min_size=1, max_size=4),
        st.lists(_terms, min_size=1, max_size=4),
        st.booleans(),
        st.sampled_from(["", " USING TTL ?", " USING TTL 5 AND TIMESTAMP ?", " USING TIMESTAMP ? AND TTL ?"]),
    )
    .filter(lambda p: not (p[2] and "TIMESTAMP" in p[3]))
    .map(_insert),
    st.tuples(_ident, _terms, _where).map(lambda p: f"UPDATE t SET {p[0]} = {p[1]} WHERE {p[2]}"),
    st.tuples(_ident, _terms, _where).map(
        lambda p: f"UPDATE t SET {p[0]} = {p[0]} + {p[1]} WHERE {p[2]} IF EXISTS"
    ),
    st.tuples(_ident, _terms, _terms, _where).map(
        lambda p: f"UPDATE t SET {p[0]}[{p[1]}] = {p[2]} WHERE {p[3]}"
    ),
    st.tuples(_ident, _where).map(lambda p: f"DELETE {p[0]} FROM t WHERE {p[1]}"),
    st.tuples(
        _where, st.sampled_from(["", " LIMIT ?", " PER PARTITION LIMIT 2 LIMIT :l ALLOW FILTERING"])
    ).map(lambda p: f"SELECT * FROM t WHERE {p[0]}{p[1]}"),
)


@given(st.lists(_statements, min_size=1, max_size=3), st.booleans())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_statements_round_trip(statements: list[str], batched: bool) -> None:
    dml = [x for x in statements if not x.startswith("SELECT")]
    cql = "BEGIN UNLOGGED BATCH " + "; ".join(dml) + " APPLY BATCH" if batched and dml else statements[0]
    try:
        stmt = parse(cql)
    except InvalidRequest:
        return  # e.g. odd-length hex or a duplicate column: rejected as Cassandra does
    assert parse(stmt.to_cql()) == stmt
    indexes = [m.index for m in stmt.bind_markers]
    assert indexes == list(range(len(indexes)))
