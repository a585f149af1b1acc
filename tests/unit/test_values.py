"""CQL value <-> DynamoDB attribute mapping: round trips for every type (nested to depth 3), exact
attribute vectors, empties and nulls, item sizes and row/item comparison."""

from __future__ import annotations

import functools
import ipaddress
import math
import socket
import struct
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_keys import NATIVE_VALUES, cql_cmp

from cql_protocol.types import (
    CqlType,
    CustomType,
    Duration,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    TypeCode,
    UDTType,
    VectorType,
    native,
)
from translators import canonical, cql_values
from translators.item_size import MAX_ITEM_SIZE, item_size
from translators.values import diff_row, from_attribute, to_attribute

ASCII = native(TypeCode.ASCII)
TEXT = native(TypeCode.VARCHAR)
BLOB = native(TypeCode.BLOB)
BOOLEAN = native(TypeCode.BOOLEAN)
TINYINT = native(TypeCode.TINYINT)
SMALLINT = native(TypeCode.SMALLINT)
INT = native(TypeCode.INT)
BIGINT = native(TypeCode.BIGINT)
COUNTER = native(TypeCode.COUNTER)
VARINT = native(TypeCode.VARINT)
DECIMAL = native(TypeCode.DECIMAL)
FLOAT = native(TypeCode.FLOAT)
DOUBLE = native(TypeCode.DOUBLE)
UUID_T = native(TypeCode.UUID)
TIMEUUID = native(TypeCode.TIMEUUID)
INET = native(TypeCode.INET)
TIMESTAMP = native(TypeCode.TIMESTAMP)
DATE = native(TypeCode.DATE)
TIME = native(TypeCode.TIME)
DURATION = native(TypeCode.DURATION)

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DURATIONS = st.one_of(
    st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1), st.integers(0, 2**63 - 1)),
    st.tuples(st.integers(-(2**31), 0), st.integers(-(2**31), 0), st.integers(-(2**63), 0)),
).map(lambda p: Duration(*p))

VALUES: dict[int, st.SearchStrategy[Any]] = {
    **NATIVE_VALUES,
    TypeCode.COUNTER: st.integers(-(2**63), 2**63 - 1),
    TypeCode.DURATION: DURATIONS,
    TypeCode.DECIMAL: NATIVE_VALUES[TypeCode.DECIMAL] | st.decimals(allow_nan=False, allow_infinity=False),
}
ALL_NATIVES = [native(c) for c in sorted(VALUES)]
# Types Cassandra allows as set elements and map keys (everything but duration and counter).
ORDERED_NATIVES = [t for t in ALL_NATIVES if t.code not in (TypeCode.DURATION, TypeCode.COUNTER)]


def _udt(fields: Sequence[CqlType], frozen: bool) -> UDTType:
    return UDTType("ks", "u", tuple((f"f{i}", t) for i, t in enumerate(fields)), frozen=frozen)


@functools.cache
def _types(depth: int, ordered: bool) -> st.SearchStrategy[CqlType]:
    """Types nested up to `depth`; `ordered`: only types valid as set elements / map keys."""
    leaves = st.sampled_from(ORDERED_NATIVES if ordered else ALL_NATIVES)
    if depth == 0:
        return leaves
    inner = _types(depth - 1, ordered)
    inner_ordered = _types(depth - 1, True)
    frozen = st.booleans()
    return st.one_of(
        leaves,
        st.builds(ListType, inner, frozen),
        st.builds(SetType, inner_ordered, frozen),
        st.builds(MapType, inner_ordered, inner, frozen),
        st.lists(inner, min_size=1, max_size=2).map(lambda es: TupleType(tuple(es))),
        st.builds(_udt, st.lists(inner, min_size=1, max_size=2), frozen),
        st.builds(VectorType, st.sampled_from([FLOAT, INT, TEXT]), st.integers(1, 3)),
    )


@functools.cache
def values_for(t: CqlType) -> st.SearchStrategy[Any]:
    if isinstance(t, NativeType):
        return VALUES[t.code]
    if isinstance(t, ListType):
        return st.lists(values_for(t.element), max_size=2)
    if isinstance(t, VectorType):
        return st.lists(values_for(t.element), min_size=t.dimension, max_size=t.dimension)
    if isinstance(t, SetType):
        return st.lists(values_for(t.element), max_size=3)
    if isinstance(t, MapType):
        return st.lists(st.tuples(values_for(t.key), values_for(t.value)), max_size=2).map(
            lambda ps: _dedupe_keys(t, ps)
        )
    if isinstance(t, TupleType):
        return st.tuples(*[st.none() | values_for(e) for e in t.elements])
    if isinstance(t, UDTType):
        return st.fixed_dictionaries({name: st.none() | values_for(ft) for name, ft in t.fields})
    raise TypeError(t)


def _dedupe_keys(t: MapType, pairs: list[tuple[Any, Any]]) -> Any:
    out: list[tuple[Any, Any]] = []
    for k, v in pairs:
        if all(cql_cmp(t.key, k, k2) != 0 for k2, _ in out):
            out.append((k, v))
    return cql_values.pairs_to_map(out)


def _sorted_unique(t: CqlType, items: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for x in sorted(items, key=functools.cmp_to_key(lambda a, b: cql_cmp(t, a, b))):
        if not out or cql_cmp(t, out[-1], x) != 0:
            out.append(x)
    return out


def expected(t: CqlType, v: Any, top: bool = True) -> Any:
    """What from_attribute(t, to_attribute(t, v)) must give: sets sorted in CQL order without
    duplicates, map entries in key order, tuples padded, empty non-frozen collections null."""
    if v is None:
        return None
    if isinstance(t, NativeType):
        if t.code == TypeCode.DECIMAL:
            return cql_values.decimal_of(v)
        if t.code == TypeCode.FLOAT:
            return cql_values.float32_of(v)
        if t.code == TypeCode.INET:
            packed = ipaddress.ip_address(v).packed
            return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)
        return v
    if isinstance(t, ListType | SetType | MapType) and top and not t.frozen and len(v) == 0:
        return None
    if isinstance(t, ListType | VectorType):
        return [expected(t.element, x, False) for x in v]
    if isinstance(t, SetType):
        return [expected(t.element, x, False) for x in _sorted_unique(t.element, v)]
    if isinstance(t, MapType):
        pairs = list(v.items()) if isinstance(v, dict) else list(v)
        pairs.sort(key=functools.cmp_to_key(lambda a, b: cql_cmp(t.key, a[0], b[0])))
        return cql_values.pairs_to_map([(expected(t.key, k, False), expected(t.value, x, False)) for k, x in pairs])
    if isinstance(t, TupleType):
        padded = list(v) + [None] * (len(t.elements) - len(v))
        return tuple(expected(e, x, False) for e, x in zip(t.elements, padded, strict=True))
    if isinstance(t, UDTType):
        out = {name: expected(ft, v.get(name), False) for name, ft in t.fields}
        if top and not t.frozen and all(x is None for x in out.values()):
            return None
        return out
    raise TypeError(t)


def same(a: Any, b: Any) -> bool:
    """Exact structural equality: float bits (any NaN equal), decimal digits and exponent, order of
    lists and of dict entries."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a.as_tuple() == b.as_tuple()
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(
            same(k1, k2) and same(v1, v2) for (k1, v1), (k2, v2) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _check_attribute_shape(a: Any) -> None:
    """Only DynamoDB wire forms; no empty sets; no empty map keys; set elements unique."""
    assert isinstance(a, dict) and len(a) == 1
    ((kind, x),) = a.items()
    if kind == "S":
        assert isinstance(x, str)
    elif kind == "N":
        assert isinstance(x, str)
        d = Decimal(x)
        assert d.is_finite() and len(d.as_tuple().digits) <= 38
        assert d.is_zero() or -130 <= d.adjusted() <= 125
    elif kind == "B":
        assert isinstance(x, bytes)
    elif kind == "BOOL":
        assert isinstance(x, bool)
    elif kind == "NULL":
        assert x is True
    elif kind == "L":
        for e in x:
            _check_attribute_shape(e)
    elif kind == "M":
        for name, e in x.items():
            assert isinstance(name, str) and name
            _check_attribute_shape(e)
    else:
        assert kind in ("SS", "NS", "BS")
        assert x and len(set(x)) == len(x)
        if kind == "NS":
            for n in x:
                _check_attribute_shape({"N": n})


# --- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(VALUES))
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_every_native_type_round_trips(code: int, data: st.DataObject) -> None:
    t = native(code)
    v = data.draw(VALUES[code])
    attr = to_attribute(t, v)
    assert attr is not None
    _check_attribute_shape(attr)
    assert same(from_attribute(t, attr), expected(t, v))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_nested_values_round_trip(data: st.DataObject) -> None:
    t = data.draw(_types(3, False), label="type")
    v = data.draw(values_for(t), label="value")
    attr = to_attribute(t, v)
    if attr is not None:
        _check_attribute_shape(attr)
    back = from_attribute(t, attr)
    assert same(back, expected(t, v)), (t.cql(), v, attr, back)
    assert cql_values.values_equal(t, v, back)
    assert diff_row({"c": t}, {"c": v}, {} if attr is None else {"c": attr}) == []


@PROPS
@given(st.data())
def test_text_forms_round_trip(data: st.DataObject) -> None:
    t = data.draw(_types(1, True), label="type")
    v = data.draw(values_for(t), label="value")
    s = canonical.to_text(t, v)
    back = canonical.from_text(t, s)
    assert canonical.to_text(t, back) == s
    assert cql_cmp(t, back, v) == 0
    assert cql_values.values_equal(t, back, v)  # exact: float bits, decimal scale
    name = canonical.key_text(t, v)
    assert name
    assert cql_values.values_equal(t, canonical.parse_key_text(t, name), v)


# --- exact attribute vectors -------------------------------------------------------------------------

U1 = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
U4 = uuid.UUID("F47AC10B-58CC-4372-A567-0E02B2C3D479")
ADDRESS = UDTType("ks", "address", (("street", TEXT), ("zip", INT), ("tags", SetType(TEXT, frozen=True))))

KNOWN: list[tuple[CqlType, Any, Any]] = [
    (TEXT, "héllo", {"S": "héllo"}),
    (TEXT, "", {"S": ""}),
    (ASCII, "abc", {"S": "abc"}),
    (TINYINT, -128, {"N": "-128"}),
    (SMALLINT, 300, {"N": "300"}),
    (INT, 7, {"N": "7"}),
    (BIGINT, 2**63 - 1, {"N": "9223372036854775807"}),
    (COUNTER, -5, {"N": "-5"}),
    (VARINT, 10**37, {"N": str(10**37)}),
    (VARINT, -(10**38) + 1, {"N": str(-(10**38) + 1)}),
    (VARINT, 10**38, {"S": str(10**38)}),
    (VARINT, -(10**50), {"S": str(-(10**50))}),
    (DECIMAL, Decimal("12.34"), {"N": "12.34"}),
    (DECIMAL, Decimal("100"), {"N": "100"}),
    (DECIMAL, Decimal("0"), {"N": "0"}),
    (DECIMAL, Decimal("-0"), {"N": "0"}),
    (DECIMAL, Decimal("1E-7"), {"N": "1E-7"}),
    (DECIMAL, Decimal("12.30"), {"S": "12.30"}),  # DynamoDB would give back 12.3
    (DECIMAL, Decimal("1E+2"), {"S": "1E+2"}),  # ... and 100
    (DECIMAL, Decimal("0.00"), {"S": "0.00"}),
    (DECIMAL, Decimal("1" * 39), {"S": "1" * 39}),
    (DECIMAL, Decimal("1E-131"), {"S": "1E-131"}),
    (DECIMAL, Decimal("1E-130"), {"N": "1E-130"}),
    (DECIMAL, Decimal("1.5E+126"), {"S": "1.5E+126"}),
    (FLOAT, 1.5, {"N": "1.5"}),
    (FLOAT, 0.1, {"N": "0.1"}),  # float32(0.1) = 0.100000001490116..., written shortest
    (FLOAT, 3.4028234663852886e38, {"N": "3.4028235E+38"}),
    (FLOAT, 1e-45, {"N": "1.4013E-45"}),
    (FLOAT, 0.0, {"N": "0"}),
    (FLOAT, -0.0, {"S": "-0.0"}),
    (FLOAT, math.nan, {"S": "NaN"}),
    (FLOAT, math.inf, {"S": "Infinity"}),
    (FLOAT, -math.inf, {"S": "-Infinity"}),
    (DOUBLE, 0.1, {"N": "0.1"}),
    (DOUBLE, -2.5e-100, {"N": "-2.5E-100"}),
    (DOUBLE, 1e300, {"S": "1E+300"}),
    (DOUBLE, 5e-324, {"S": "5E-324"}),
    (DOUBLE, -0.0, {"S": "-0.0"}),
    (DOUBLE, 0.0, {"N": "0.0"}),
    (BOOLEAN, False, {"BOOL": False}),
    (BLOB, b"\x00\xff", {"B": b"\x00\xff"}),
    (BLOB, b"", {"B": b""}),
    (UUID_T, U4, {"S": "f47ac10b-58cc-4372-a567-0e02b2c3d479"}),
    (TIMEUUID, U1, {"S": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}),
    (INET, "127.0.0.1", {"S": "127.0.0.1"}),
    (INET, "2001:0db8:0000:0000:0000:0000:0000:0001", {"S": "2001:db8::1"}),
    (INET, "::ffff:1.2.3.4", {"S": "::ffff:1.2.3.4"}),
    (TIMESTAMP, -1, {"N": "-1"}),
    (DATE, -719162, {"N": "-719162"}),
    (TIME, 86_399_999_999_999, {"N": "86399999999999"}),
    (DURATION, Duration(14, 3, 3_723_004_005_006), {"S": "1y2mo3d1h2m3s4ms5us6ns"}),
    (DURATION, Duration(0, -1, 0), {"S": "-1d"}),
    (DURATION, Duration(0, 0, 0), {"S": "0s"}),
    (ListType(INT), [3, 1, 3], {"L": [{"N": "3"}, {"N": "1"}, {"N": "3"}]}),
    (SetType(TEXT), ["b", "a", "b"], {"SS": ["a", "b"]}),
    (SetType(INT), [10, -2], {"NS": ["-2", "10"]}),
    (SetType(BLOB), [b"\x02", b""], {"BS": [b"", b"\x02"]}),
    (SetType(UUID_T), [U4, U1], {"SS": [str(U1), str(U4)]}),
    (SetType(DECIMAL), [Decimal("1.50"), Decimal("-1")], {"SS": ["-1", "1.50"]}),
    (SetType(FLOAT), [math.nan, -0.0, 1.0], {"SS": ["-0.0", "1", "NaN"]}),
    (SetType(BOOLEAN), [True, False], {"L": [{"BOOL": False}, {"BOOL": True}]}),
    (
        SetType(TupleType((INT, TEXT))),
        [(2, "a"), (1, None)],
        {"L": [{"L": [{"N": "1"}, {"NULL": True}]}, {"L": [{"N": "2"}, {"S": "a"}]}]},
    ),
    (
        MapType(TEXT, INT),
        {"a": 1, "": 2, "\\x": 3},
        {"M": {"a": {"N": "1"}, "\\": {"N": "2"}, "\\\\x": {"N": "3"}}},
    ),
    (MapType(INT, TEXT), {2: "b", -1: "a"}, {"M": {"2": {"S": "b"}, "-1": {"S": "a"}}}),
    (MapType(BLOB, BOOLEAN), {b"\xff": True}, {"M": {"/w==": {"BOOL": True}}}),
    (MapType(UUID_T, ListType(INT, frozen=True)), {U1: []}, {"M": {str(U1): {"L": []}}}),
    (MapType(TupleType((INT,)), INT), [((1,), 5)], {"M": {"AAAABAAAAAE=": {"N": "5"}}}),
    (TupleType((INT, TEXT, BOOLEAN)), (1, None), {"L": [{"N": "1"}, {"NULL": True}, {"NULL": True}]}),
    (ADDRESS, {"street": "x", "zip": None, "tags": []}, {"M": {"street": {"S": "x"}, "tags": {"L": []}}}),
    (ADDRESS, {"street": None, "zip": None, "tags": None}, {"M": {}}),
    (VectorType(FLOAT, 3), [0.5, -0.0, 0.1], {"L": [{"N": "0.5"}, {"S": "-0.0"}, {"N": "0.1"}]}),
    (ListType(ListType(SetType(INT))), [[[2, 1], []]], {"L": [{"L": [{"NS": ["1", "2"]}, {"L": []}]}]}),
    (CustomType("org.example.Thing"), b"\x01", {"B": b"\x01"}),
]


@pytest.mark.parametrize(("t", "value", "attr"), KNOWN, ids=[f"{t.cql()}={v!r}"[:60] for t, v, _ in KNOWN])
def test_known_attributes(t: CqlType, value: Any, attr: Any) -> None:
    assert to_attribute(t, value) == attr
    back = from_attribute(t, attr)
    assert cql_values.values_equal(t, back, value)


def test_decimal_scale_is_kept() -> None:
    for text in ("12.30", "1E+2", "0.00", "-0.000", "1.0", "3", "0.0000001"):
        back = from_attribute(DECIMAL, to_attribute(DECIMAL, Decimal(text)))
        assert isinstance(back, Decimal)
        assert back.as_tuple() == cql_values.decimal_of(Decimal(text)).as_tuple()
    # What DynamoDB sends back for the N values we write parses to the same scale.
    assert from_attribute(DECIMAL, {"N": "0.0000001"}).as_tuple() == Decimal("1E-7").as_tuple()  # type: ignore[union-attr]


def test_float32_text_is_short_and_exact() -> None:
    assert cql_values.float32_text(cql_values.float32_of(0.1)) == "0.1"
    assert cql_values.float32_text(cql_values.float32_of(1 / 3)) == "0.33333334"
    assert cql_values.float32_text(cql_values.float32_of(16777217.0)) == "16777216"
    assert cql_values.float32_text(cql_values.float32_of(1e10)) == "1E+10"
    for bits in (1, 0x00800000, 0x7F7FFFFF, 0x3F800001, 0x4B000001, 0x80000001):
        x = struct.unpack(">f", struct.pack(">I", bits))[0]
        assert cql_values.float32_of(float(cql_values.float32_text(x))) == x


@PROPS
@given(st.floats(width=32, allow_nan=False))
def test_float32_text_round_trips(x: float) -> None:
    s = cql_values.float32_text(x)
    assert struct.pack(">f", float(s)) == struct.pack(">f", x)


def test_float_column_takes_doubles_as_cassandra_does() -> None:
    assert from_attribute(FLOAT, to_attribute(FLOAT, 0.1)) == cql_values.float32_of(0.1)
    with pytest.raises(ValueError):
        to_attribute(FLOAT, 1e39)


# --- empties, nulls, unusual attributes --------------------------------------------------------------


def test_nulls_and_empty_collections() -> None:
    for t in (TEXT, INT, ListType(INT), SetType(TEXT), MapType(TEXT, INT), TupleType((INT,)), ADDRESS):
        assert to_attribute(t, None) is None
        assert from_attribute(t, None) is None
        assert from_attribute(t, {"NULL": True}) is None
    # a non-frozen empty collection is no value at all in Cassandra
    assert to_attribute(ListType(INT), []) is None
    assert to_attribute(SetType(INT), []) is None
    assert to_attribute(MapType(TEXT, INT), {}) is None
    assert to_attribute(UDTType("ks", "u", (("a", INT),), frozen=False), {"a": None}) is None
    # a frozen one is a value
    assert to_attribute(ListType(INT, frozen=True), []) == {"L": []}
    assert to_attribute(SetType(INT, frozen=True), []) == {"L": []}
    assert to_attribute(MapType(TEXT, INT, frozen=True), {}) == {"M": {}}
    assert from_attribute(SetType(INT, frozen=True), {"L": []}) == []
    assert from_attribute(MapType(TEXT, INT, frozen=True), {"M": {}}) == {}
    # nested ones always are (nested collections are frozen), even when the type says otherwise
    assert to_attribute(ListType(SetType(INT)), [[]]) == {"L": [{"L": []}]}
    assert to_attribute(MapType(INT, MapType(INT, INT)), {1: {}}) == {"M": {"1": {"M": {}}}}


def test_sets_come_back_in_cql_order() -> None:
    assert from_attribute(SetType(TEXT), {"SS": ["b", "é", "a", ""]}) == ["", "a", "b", "é"]
    assert from_attribute(SetType(INT), {"NS": ["10", "-2", "3"]}) == [-2, 3, 10]
    assert from_attribute(SetType(FLOAT), {"SS": ["NaN", "1", "-Infinity", "-0.0", "0"]})[:4] == [
        -math.inf,
        -0.0,
        0.0,
        1.0,
    ]  # type: ignore[index]
    assert from_attribute(SetType(UUID_T), {"SS": [str(U4), str(U1)]}) == [U1, U4]  # version 1 sorts first
    assert from_attribute(SetType(BLOB), {"BS": [b"\x01", b"", b"\x00"]}) == [b"", b"\x00", b"\x01"]
    assert from_attribute(SetType(INT), {"L": [{"N": "2"}, {"N": "1"}]}) == [1, 2]
    assert from_attribute(MapType(INT, TEXT), {"M": {"10": {"S": "x"}, "-1": {"S": "y"}}}) == {
        -1: "y",
        10: "x",
    }
    assert list(from_attribute(MapType(INT, TEXT), {"M": {"10": {"S": "x"}, "-1": {"S": "y"}}})) == [-1, 10]  # type: ignore[call-overload]


def test_float_map_keys_zero_and_negative_zero_stay_apart() -> None:
    t = MapType(FLOAT, INT)
    attr = to_attribute(t, [(0.0, 1), (-0.0, 2)])
    assert attr == {"M": {"0": {"N": "1"}, "-0.0": {"N": "2"}}}
    back = from_attribute(t, attr)
    assert isinstance(back, list) and len(back) == 2


def test_blob_attribute_as_base64_text() -> None:
    assert from_attribute(BLOB, {"B": "AAE="}) == b"\x00\x01"
    assert item_size({"b": {"B": "AAE="}}) == 1 + 2


def test_bad_attributes_raise() -> None:
    for t, attr in (
        (INT, {"S": "1"}),
        (INT, {"N": "1.5"}),
        (TINYINT, {"N": "300"}),
        (TEXT, {"N": "1"}),
        (BOOLEAN, {"S": "true"}),
        (DECIMAL, {"S": "abc"}),
        (FLOAT, {"BOOL": True}),
        (UUID_T, {"S": "nope"}),
        (DURATION, {"S": "5x"}),
        (DURATION, {"S": "1d-1s"}),
        (SetType(INT), {"M": {}}),
        (VectorType(INT, 2), {"L": [{"N": "1"}]}),
        (TupleType((INT,)), {"L": [{"N": "1"}, {"N": "2"}]}),
        (BLOB, {"B": "not base64!"}),
    ):
        with pytest.raises(ValueError):
            from_attribute(t, attr)


def test_bad_values_raise() -> None:
    for t, v, exc in (
        (INT, 2**31, ValueError),
        (INT, "1", TypeError),
        (TEXT, 1, TypeError),
        (ASCII, "é", ValueError),
        (DECIMAL, Decimal("NaN"), ValueError),
        (TIME, -1, ValueError),
        (DURATION, Duration(1, -1, 0), ValueError),
        (SetType(INT), [1, None], ValueError),
        (MapType(INT, INT), {None: 1}, ValueError),
        (TupleType((INT,)), (1, 2), ValueError),
        (ADDRESS, {"nope": 1}, ValueError),
        (VectorType(INT, 2), [1], ValueError),
        (BLOB, "x", TypeError),
    ):
        with pytest.raises(exc):
            to_attribute(t, v)


def test_durations() -> None:
    assert cql_values.parse_duration("1y2mo3w4d5h6m7s8ms9us10ns") == Duration(14, 25, 18_367_008_009_010)
    assert cql_values.parse_duration("-2µs") == Duration(0, 0, -2000)
    for text in ("", "-", "1", "d", "1d1", "1q", " 1d"):
        with pytest.raises(ValueError):
            cql_values.parse_duration(text)


@PROPS
@given(DURATIONS)
def test_duration_text_round_trips(d: Duration) -> None:
    assert cql_values.parse_duration(cql_values.duration_text(d)) == d


def test_time_values_accept_datetime_objects() -> None:
    import datetime

    assert to_attribute(TIMESTAMP, datetime.datetime(1970, 1, 1, 0, 0, 1, 500000)) == {"N": "1500"}
    assert to_attribute(
        TIMESTAMP, datetime.datetime(1970, 1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    ) == {"N": "0"}
    assert to_attribute(DATE, datetime.date(1970, 1, 2)) == {"N": "1"}
    assert to_attribute(TIME, datetime.time(0, 0, 1)) == {"N": "1000000000"}


# --- item size ---------------------------------------------------------------------------------------


def test_item_size_follows_the_documented_rules() -> None:
    # strings: UTF-8 bytes of name and value
    assert item_size({"name": {"S": "abc"}}) == 4 + 3
    assert item_size({"é": {"S": "€"}}) == 2 + 3
    # numbers: 1 byte per two significant digits, plus 1; leading and trailing zeros trimmed
    assert item_size({"n": {"N": "123"}}) == 1 + 3
    assert item_size({"n": {"N": "1234"}}) == 1 + 3
    assert item_size({"n": {"N": "-0.00120"}}) == 1 + 2
    assert item_size({"n": {"N": "1E+100"}}) == 1 + 2
    assert item_size({"n": {"N": "0"}}) == 1 + 2
    # binary: raw bytes; null and boolean: 1 byte
    assert item_size({"b": {"B": b"\x00" * 10}}) == 1 + 10
    assert item_size({"t": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    # lists and maps: 3 bytes, plus 1 per element, plus the elements (map keys count)
    assert item_size({"l": {"L": []}}) == 1 + 3
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    # sets: the sum of their elements
    assert item_size({"s": {"SS": ["a", "bc"]}, "n": {"NS": ["1", "22"]}, "b": {"BS": [b"\x01"]}}) == (
        1 + 3
    ) + (1 + 2 + 2) + (1 + 1)
    big = {"pk": {"S": "k"}, "v": {"S": "x" * 400_000}}
    assert item_size(big) == 2 + 1 + 1 + 400_000
    assert item_size(big) < MAX_ITEM_SIZE < item_size({"v": {"B": b"x" * 409_600}})
    with pytest.raises(ValueError):
        item_size({"x": {"Q": 1}})


# --- comparing rows and items ------------------------------------------------------------------------

COLUMNS: dict[str, CqlType] = {
    "id": INT,
    "name": TEXT,
    "score": FLOAT,
    "ratio": DOUBLE,
    "price": DECIMAL,
    "tags": SetType(TEXT),
    "attrs": MapType(TEXT, INT),
    "seen": ListType(TIMESTAMP),
    "addr": ADDRESS,
    "ip": INET,
    "uid": UUID_T,
}
ROW: dict[str, Any] = {
    "id": 1,
    "name": "a",
    "score": 0.1,
    "ratio": math.nan,
    "price": Decimal("1.50"),
    "tags": ["x", "y"],
    "attrs": {"a": 1, "b": 2},
    "seen": [1, 2],
    "addr": {"street": "s", "zip": 1, "tags": ["t"]},
    "ip": "10.0.0.1",
    "uid": U4,
}


def _item(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, t in COLUMNS.items():
        a = to_attribute(t, row.get(name))
        if a is not None:
            out[name] = a
    return out


def test_diff_row_equal() -> None:
    item = _item(ROW)
    item["ts"] = {"N": "123"}  # bookkeeping attributes are not compared
    item["tags"] = {"SS": ["y", "x"]}  # set order is irrelevant
    item["attrs"] = {"M": {"b": {"N": "2"}, "a": {"N": "1"}}}
    assert diff_row(COLUMNS, ROW, item) == []
    assert (
        diff_row(
            COLUMNS,
            {**ROW, "tags": [], "attrs": {}},
            {k: v for k, v in item.items() if k not in ("tags", "attrs")},
        )
        == []
    )
    assert (
        diff_row(COLUMNS, {**ROW, "ip": "10.0.0.01".replace("01", "1"), "uid": str(U4).upper()}, item) == []
    )


@pytest.mark.parametrize(
    ("column", "row_value", "item_attr", "message"),
    [
        ("name", "a", None, "name: 'a' in Cassandra, missing in DynamoDB"),
        ("name", None, {"S": "a"}, "name: null in Cassandra, 'a' in DynamoDB"),
        ("name", "a", {"S": "b"}, "name: 'a' in Cassandra, 'b' in DynamoDB"),
        ("id", 1, {"S": "1"}, "id: DynamoDB attribute {'S': '1'} is not a valid int value"),
        ("score", 0.0, {"S": "-0.0"}, "score: 0.0 in Cassandra, -0.0 in DynamoDB"),
        ("score", 0.1, {"N": "0.10000001"}, "score: 0.1 in Cassandra, 0.10000000894069672 in DynamoDB"),
        ("ratio", math.nan, {"N": "1"}, "ratio: nan in Cassandra, 1.0 in DynamoDB"),
        ("ratio", 0.1, {"N": "0.1000000000000001"}, "ratio: 0.1 in Cassandra"),
        (
            "price",
            Decimal("1.50"),
            {"N": "1.5"},
            "price: Decimal('1.50') in Cassandra, Decimal('1.5') in DynamoDB",
        ),
        ("tags", ["x", "y"], {"SS": ["x"]}, "tags: ['x', 'y'] in Cassandra, ['x'] in DynamoDB"),
        ("tags", ["x"], None, "tags: ['x'] in Cassandra, missing in DynamoDB"),
        ("attrs", {"a": 1}, {"M": {"a": {"N": "2"}}}, "attrs: {'a': 1} in Cassandra, {'a': 2} in DynamoDB"),
        ("attrs", {"a": 1}, {"M": {"a": {"N": "1"}, "b": {"N": "1"}}}, "attrs: {'a': 1} in Cassandra"),
        ("seen", [1, 2], {"L": [{"N": "2"}, {"N": "1"}]}, "seen: [1, 2] in Cassandra, [2, 1] in DynamoDB"),
        (
            "addr",
            {"street": "s", "zip": 1, "tags": ["t"]},
            {"M": {"street": {"S": "s"}, "zip": {"N": "1"}}},
            "addr:",
        ),
        ("ip", "10.0.0.1", {"S": "10.0.0.2"}, "ip: '10.0.0.1' in Cassandra, '10.0.0.2' in DynamoDB"),
        ("uid", U4, {"S": str(U1)}, "uid: UUID("),
    ],
)
def test_diff_row_finds_each_kind_of_difference(
    column: str, row_value: Any, item_attr: Any, message: str
) -> None:
    row = {**ROW, column: row_value}
    item = _item(ROW)
    item.pop(column, None)
    if item_attr is not None:
        item[column] = item_attr
    diffs = diff_row(COLUMNS, row, item)
    assert len(diffs) == 1, diffs
    assert diffs[0].startswith(message), diffs


def test_diff_row_reports_invalid_cassandra_values_and_keeps_column_order() -> None:
    diffs = diff_row(COLUMNS, {**ROW, "id": "x", "name": "b"}, _item(ROW))
    assert [d.split(":")[0] for d in diffs] == ["id", "name"]
    assert "not a valid int" in diffs[0]
