"""Type descriptors, their [option] encoding, the two type-name parsers and the value codecs."""

from __future__ import annotations

import contextlib
import datetime
import decimal
import ipaddress
import re
import struct
import uuid
from decimal import Decimal
from typing import Any

import pytest
from cassandra import cqltypes, util
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cql_protocol.errors import ProtocolError
from cql_protocol.primitives import Reader, Writer
from cql_protocol.typeparse import marshal_class_name, parse_cql_type, parse_marshal_class
from cql_protocol.types import (
    NATIVE_NAMES,
    CqlType,
    CustomType,
    Duration,
    ListType,
    MapType,
    SetType,
    TupleType,
    TypeCode,
    UDTType,
    VectorType,
    deserialize,
    native,
    read_option,
    serialize,
    value_length_if_fixed,
    write_option,
)

P = "org.apache.cassandra.db.marshal."

ASCII = native(TypeCode.ASCII)
BIGINT = native(TypeCode.BIGINT)
BLOB = native(TypeCode.BLOB)
BOOLEAN = native(TypeCode.BOOLEAN)
COUNTER = native(TypeCode.COUNTER)
DECIMAL = native(TypeCode.DECIMAL)
DOUBLE = native(TypeCode.DOUBLE)
FLOAT = native(TypeCode.FLOAT)
INT = native(TypeCode.INT)
TIMESTAMP = native(TypeCode.TIMESTAMP)
UUID_T = native(TypeCode.UUID)
TEXT = native(TypeCode.VARCHAR)
VARINT = native(TypeCode.VARINT)
TIMEUUID = native(TypeCode.TIMEUUID)
INET = native(TypeCode.INET)
DATE = native(TypeCode.DATE)
TIME = native(TypeCode.TIME)
SMALLINT = native(TypeCode.SMALLINT)
TINYINT = native(TypeCode.TINYINT)
DURATION = native(TypeCode.DURATION)

ADDRESS = UDTType("ks", "address", (("street", TEXT), ("zip", INT), ("tags", SetType(TEXT, frozen=True))))
U1 = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")  # a version-1 uuid
U4 = uuid.UUID("f47ac10b-58cc-4372-a567-0e02b2c3d479")


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


# --- known encodings (spec section 6) ----------------------------------------------------------

KNOWN: list[tuple[CqlType, Any, str]] = [
    (ASCII, "abc", "616263"),
    (ASCII, "", ""),
    (TEXT, "é", "c3a9"),
    (TEXT, "", ""),
    (BLOB, b"\x00\xff", "00ff"),
    (BLOB, b"", ""),
    (BOOLEAN, True, "01"),
    (BOOLEAN, False, "00"),
    (TINYINT, -1, "ff"),
    (TINYINT, 127, "7f"),
    (SMALLINT, -2, "fffe"),
    (SMALLINT, 256, "0100"),
    (INT, 1, "00000001"),
    (INT, -(2**31), "80000000"),
    (BIGINT, -1, "ffffffffffffffff"),
    (BIGINT, 2**63 - 1, "7fffffffffffffff"),
    (COUNTER, 5, "0000000000000005"),
    (VARINT, 0, "00"),
    (VARINT, 1, "01"),
    (VARINT, 127, "7f"),
    (VARINT, 128, "0080"),
    (VARINT, 129, "0081"),
    (VARINT, -1, "ff"),
    (VARINT, -128, "80"),
    (VARINT, -129, "ff7f"),
    (VARINT, 2**64, "010000000000000000"),
    (DECIMAL, Decimal("1.5"), "00000001 0f"),
    (DECIMAL, Decimal("-0.01"), "00000002 ff"),
    (DECIMAL, Decimal("1E+3"), "fffffffd 01"),
    (DECIMAL, Decimal("0"), "00000000 00"),
    (FLOAT, 1.0, "3f800000"),
    (FLOAT, -2.5, "c0200000"),
    (DOUBLE, 1.0, "3ff0000000000000"),
    (DOUBLE, float("inf"), "7ff0000000000000"),
    (UUID_T, U4, "f47ac10b58cc4372a5670e02b2c3d479"),
    (TIMEUUID, U1, "6ba7b8109dad11d180b400c04fd430c8"),
    (TIMESTAMP, 0, "0000000000000000"),
    (TIMESTAMP, -1, "ffffffffffffffff"),
    (TIMESTAMP, 1_700_000_000_123, "0000018bcfe5687b"),
    (DATE, 0, "80000000"),
    (DATE, -1, "7fffffff"),
    (DATE, 1, "80000001"),
    (DATE, -(2**31), "00000000"),
    (DATE, 2**31 - 1, "ffffffff"),
    (TIME, 0, "0000000000000000"),
    (TIME, 86_399_999_999_999, "00004e94914effff"),
    (INET, "127.0.0.1", "7f000001"),
    (INET, "::1", "00000000000000000000000000000001"),
    (DURATION, Duration(1, 2, 3), "02 04 06"),
    (DURATION, Duration(-1, -2, -3), "01 03 05"),
    (DURATION, Duration(0, 0, 64), "00 00 80 80"),  # 64 zigzags to 128: a two-byte vint
    (ListType(INT), [1, 2], "00000002 00000004 00000001 00000004 00000002"),
    (ListType(INT), [], "00000000"),
    (ListType(INT), [None], "00000001 ffffffff"),
    (SetType(TEXT), ["a"], "00000001 00000001 61"),
    (MapType(TEXT, INT), {"a": 1}, "00000001 00000001 61 00000004 00000001"),
    (TupleType((INT, TEXT)), (1, "a"), "00000004 00000001 00000001 61"),
    (TupleType((INT, TEXT)), (1, None), "00000004 00000001 ffffffff"),
    (TupleType((INT, TEXT)), (None, None), "ffffffff ffffffff"),
    (
        ADDRESS,
        {"street": "x", "zip": 7, "tags": []},
        "00000001 78 00000004 00000007 00000004 00000000",
    ),
    (ADDRESS, {"street": None, "zip": None, "tags": None}, "ffffffff ffffffff ffffffff"),
    (VectorType(FLOAT, 2), [1.0, -2.5], "3f800000 c0200000"),
    (VectorType(INT, 1), [1], "00000001"),
    (VectorType(TEXT, 2), ["a", "bc"], "01 61 02 6263"),
    (VectorType(TEXT, 2), ["", "a"], "00 01 61"),
    (VectorType(SMALLINT, 2), [1, 2], "02 0001 02 0002"),  # smallint is variable-length here
    (VectorType(VectorType(INT, 2), 2), [[1, 2], [3, 4]], "00000001 00000002 00000003 00000004"),
    (VectorType(ListType(INT, frozen=True), 1), [[5]], "0c 00000001 00000004 00000005"),
    (CustomType("com.example.Opaque"), b"\x01\x02", "0102"),
]


@pytest.mark.parametrize(("t", "value", "hexed"), KNOWN, ids=[f"{t.cql()}={v!r}" for t, v, _ in KNOWN])
def test_known_encodings(t: CqlType, value: Any, hexed: str) -> None:
    assert serialize(t, value).hex() == h(hexed).hex()
    assert deserialize(t, h(hexed)) == value
    assert deserialize(t, memoryview(h(hexed))) == value
    assert deserialize(t, bytearray(h(hexed))) == value


def test_float_special_values_round_trip() -> None:
    assert deserialize(FLOAT, serialize(FLOAT, float("nan"))) != deserialize(FLOAT, serialize(FLOAT, 0.0))
    assert deserialize(FLOAT, serialize(FLOAT, 0.1)) == struct.unpack(">f", struct.pack(">f", 0.1))[0]


def test_decimal_decode_is_exact_beyond_context_precision() -> None:
    d = Decimal("1" * 200 + "E-150")
    assert deserialize(DECIMAL, serialize(DECIMAL, d)) == d
    assert deserialize(DECIMAL, h("7fffffff 01")) == Decimal("1E-2147483647")


def test_varint_accepts_non_minimal_encodings() -> None:
    assert deserialize(VARINT, h("0001")) == 1
    assert deserialize(VARINT, h("ffff")) == -1


def test_boolean_any_nonzero_is_true() -> None:
    assert deserialize(BOOLEAN, h("02")) is True


def test_tuple_and_udt_may_carry_fewer_elements_than_the_type() -> None:
    assert deserialize(TupleType((INT, TEXT, INT)), h("00000004 00000001")) == (1, None, None)
    assert deserialize(ADDRESS, h("00000001 78")) == {"street": "x", "zip": None, "tags": None}
    assert serialize(TupleType((INT, TEXT)), (1,)) == h("00000004 00000001")


def test_udt_serialize_accepts_mapping_with_missing_fields_and_sequences() -> None:
    full = serialize(ADDRESS, {"street": "x", "zip": None, "tags": None})
    assert serialize(ADDRESS, {"street": "x"}) == full
    assert serialize(ADDRESS, ("x", None, None)) == full


@pytest.mark.parametrize("t", [INT, BIGINT, BOOLEAN, DOUBLE, UUID_T, INET, DATE, DECIMAL, VARINT, DURATION])
def test_empty_values_of_non_string_types_decode_to_none(t: CqlType) -> None:
    assert deserialize(t, b"") is None


@pytest.mark.parametrize(
    "t", [ListType(INT), MapType(INT, INT), TupleType((INT,)), ADDRESS, VectorType(FLOAT, 2)]
)
def test_empty_values_of_compound_types_decode_to_none(t: CqlType) -> None:
    assert deserialize(t, b"") is None


def test_empty_nested_element_decodes_to_none() -> None:
    assert deserialize(ListType(INT), h("00000001 00000000")) == [None]
    assert deserialize(ListType(TEXT), h("00000001 00000000")) == [""]


def test_set_decodes_to_list_in_wire_order() -> None:
    assert deserialize(SetType(INT), h("00000002 00000004 00000002 00000004 00000001")) == [2, 1]


def test_set_serialize_accepts_set_frozenset_list_and_tuple() -> None:
    expect = h("00000001 00000004 00000009")
    for v in ({9}, frozenset({9}), [9], (9,)):
        assert serialize(SetType(INT), v) == expect


def test_map_with_unhashable_keys_decodes_to_pairs() -> None:
    t = MapType(ListType(INT, frozen=True), TEXT)
    pairs = [([1], "a"), ([2, 3], None)]
    data = serialize(t, pairs)
    assert deserialize(t, data) == pairs
    assert serialize(t, deserialize(t, data)) == data


def test_map_null_key_and_value() -> None:
    t = MapType(INT, INT)
    assert serialize(t, {None: None}) == h("00000001 ffffffff ffffffff")
    assert deserialize(t, h("00000001 ffffffff ffffffff")) == {None: None}


def test_serialize_accepts_datetime_date_and_time_objects() -> None:
    aware = datetime.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=datetime.UTC)
    naive = aware.replace(tzinfo=None)
    other_zone = aware.astimezone(datetime.timezone(datetime.timedelta(hours=5)))
    for v in (aware, naive, other_zone):
        assert serialize(TIMESTAMP, v) == serialize(TIMESTAMP, 1_700_000_000_123)
    assert serialize(TIMESTAMP, datetime.datetime(1969, 12, 31, 23, 59, 59, 999999)) == serialize(
        TIMESTAMP, -1
    )
    assert serialize(TIMESTAMP, datetime.date(1970, 1, 2)) == serialize(TIMESTAMP, 86_400_000)
    assert serialize(DATE, datetime.date(1970, 1, 1)) == h("80000000")
    assert serialize(DATE, datetime.date(1969, 12, 31)) == h("7fffffff")
    assert serialize(TIME, datetime.time(0, 0, 1, 5)) == serialize(TIME, 1_000_005_000)


def test_inet_serialize_accepts_ip_address_objects() -> None:
    assert serialize(INET, ipaddress.ip_address("10.0.0.1")) == h("0a000001")


def test_uuid_serialize_accepts_strings() -> None:
    assert serialize(UUID_T, str(U4)) == U4.bytes


# --- nested round trips ------------------------------------------------------------------------

DEEP = MapType(
    TEXT,
    ListType(MapType(INT, SetType(UUID_T, frozen=True), frozen=True), frozen=True),
)
_OUTER = UDTType("ks", "outer", (("inner", ADDRESS), ("m", MapType(INT, ADDRESS, frozen=True))))
_OUTER_VALUE = {
    "inner": {"street": "a", "zip": 2, "tags": []},
    "m": [(1, {"street": None, "zip": None, "tags": None})],
}

ROUND_TRIPS: list[tuple[CqlType, Any]] = [
    (DEEP, {"a": [{1: [U1, U4], 2: []}, {}], "b": [], "c": [{3: None}]}),
    (
        ListType(TupleType((INT, ListType(TEXT, frozen=True), ADDRESS))),
        [(1, ["x", None], {"street": "s", "zip": 1, "tags": ["t"]})],
    ),
    (
        TupleType((TupleType((INT, TupleType((TEXT,)))), MapType(TEXT, DURATION, frozen=True))),
        ((1, ("x",)), {"d": Duration(0, 1, 2)}),
    ),
    (_OUTER, _OUTER_VALUE),
    (VectorType(VectorType(FLOAT, 2), 3), [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
    (VectorType(MapType(TEXT, INT, frozen=True), 2), [{"a": 1}, {}]),
    (ListType(VectorType(DOUBLE, 2)), [[1.5, 2.5], [0.0, -1.0]]),
    (MapType(TupleType((INT, TEXT)), VectorType(TEXT, 1)), {(1, "a"): ["z"]}),
    (VectorType(UUID_T, 2), [U1, U4]),
    (VectorType(BOOLEAN, 3), [True, False, True]),
    (VectorType(TIMESTAMP, 1), [123]),
    (VectorType(VARINT, 2), [2**80, -1]),
    (VectorType(DECIMAL, 1), [Decimal("-3.14")]),
]


@pytest.mark.parametrize(("t", "value"), ROUND_TRIPS, ids=[t.cql() for t, _ in ROUND_TRIPS])
def test_nested_round_trips(t: CqlType, value: Any) -> None:
    data = serialize(t, value)
    decoded = deserialize(t, data)
    assert serialize(t, decoded) == data
    if t is not _OUTER:  # its map was given as pairs but decodes to a dict
        assert decoded == value


def test_udt_with_map_of_udt_values_decodes_to_dicts() -> None:
    got = deserialize(_OUTER, serialize(_OUTER, _OUTER_VALUE))
    assert got == {
        "inner": {"street": "a", "zip": 2, "tags": []},
        "m": {1: {"street": None, "zip": None, "tags": None}},
    }


def test_value_length_if_fixed() -> None:
    assert value_length_if_fixed(FLOAT) == 4
    assert value_length_if_fixed(VectorType(VectorType(UUID_T, 2), 3)) == 96
    for t in (SMALLINT, TINYINT, DATE, TIME, TEXT, VectorType(TEXT, 2), ListType(INT)):
        assert value_length_if_fixed(t) is None


# --- malformed input ---------------------------------------------------------------------------

MALFORMED: list[tuple[CqlType, str]] = [
    (INT, "000001"),
    (INT, "0000000001"),
    (BIGINT, "00"),
    (BOOLEAN, "0000"),
    (SMALLINT, "000000"),
    (TINYINT, "0000"),
    (FLOAT, "000000"),
    (DOUBLE, "00"),
    (UUID_T, "00" * 15),
    (TIMESTAMP, "00" * 7),
    (DATE, "000000"),
    (TIME, "00" * 9),
    (TIME, "ffffffffffffffff"),  # negative
    (TIME, "00004e94914f0000"),  # one past the last nanosecond of the day
    (INET, "7f0000"),
    (TEXT, "ff"),
    (ASCII, "80"),
    (DECIMAL, "00000001"),
    (DECIMAL, "0000"),
    (DURATION, "02 04"),
    (DURATION, "02 04 06 08"),
    (DURATION, "02 03 06"),  # mixed signs
    (DURATION, "f8 0100000000 00 00"),  # months beyond 32 bits
    (DURATION, "c0"),
    (ListType(INT), "000001"),
    (ListType(INT), "ffffffff"),
    (ListType(INT), "7fffffff 00000004"),
    (ListType(INT), "00000001 00000004 0000"),
    (ListType(INT), "00000001 00000004 00000001 00"),  # trailing byte
    (ListType(INT), "00000001 00000003 000001"),  # element too short for an int
    (MapType(INT, INT), "00000001 00000004 00000001"),
    (MapType(INT, INT), "80000000"),
    (TupleType((INT,)), "00000004 00000001 00"),
    (TupleType((INT,)), "00000004 0000"),
    (TupleType((INT,)), "000000"),
    (ADDRESS, "00000001 78 00000004 00000007 00000004 00000000 00"),
    (VectorType(FLOAT, 2), "3f800000"),
    (VectorType(FLOAT, 2), "3f800000 3f800000 00"),
    (VectorType(TEXT, 2), "01 61"),
    (VectorType(TEXT, 2), "01 61 05 62"),
    (VectorType(TEXT, 1), "01 61 00"),
    (VectorType(TEXT, 1), "ff 00"),
    (DEEP, "00000001 00000001 61 00000010 00000001 00000008 00000001 00000000"),
]


@pytest.mark.parametrize(("t", "hexed"), MALFORMED, ids=[f"{t.cql()}:{x}" for t, x in MALFORMED])
def test_malformed_values_raise_protocol_error(t: CqlType, hexed: str) -> None:
    with pytest.raises(ProtocolError):
        deserialize(t, h(hexed))


BAD_INPUT: list[tuple[CqlType, Any, type[Exception]]] = [
    (INT, 2**31, ValueError),
    (INT, -(2**31) - 1, ValueError),
    (TINYINT, 128, ValueError),
    (SMALLINT, -32769, ValueError),
    (BIGINT, 2**63, ValueError),
    (INT, 1.5, TypeError),
    (INT, "1", TypeError),
    (FLOAT, 1e300, ValueError),
    (FLOAT, "1.0", TypeError),
    (TEXT, b"x", TypeError),
    (ASCII, "é", ValueError),
    (BLOB, "x", TypeError),
    (BOOLEAN, "yes", TypeError),
    (UUID_T, 5, TypeError),
    (UUID_T, "not-a-uuid", ValueError),
    (INET, "300.1.1.1", ValueError),
    (INET, 5, TypeError),
    (DECIMAL, Decimal("NaN"), ValueError),
    (DECIMAL, "abc", ValueError),
    (DECIMAL, object(), TypeError),
    (DATE, 2**31, ValueError),
    (TIME, -1, ValueError),
    (TIME, 86_400_000_000_000, ValueError),
    (TIMESTAMP, 2**63, ValueError),
    (DURATION, Duration(1, -1, 0), ValueError),
    (DURATION, Duration(2**31, 0, 0), ValueError),
    (DURATION, (1, 2, 3), TypeError),
    (ListType(INT), "abc", TypeError),
    (ListType(INT), 5, TypeError),
    (ListType(INT), [1, "x"], TypeError),
    (MapType(INT, INT), [1, 2], TypeError),
    (MapType(INT, INT), 5, TypeError),
    (TupleType((INT,)), (1, 2), ValueError),
    (TupleType((INT,)), 1, TypeError),
    (ADDRESS, {"nope": 1}, ValueError),
    (ADDRESS, 5, TypeError),
    (VectorType(FLOAT, 2), [1.0], ValueError),
    (VectorType(FLOAT, 2), [1.0, None], ValueError),
    (VectorType(FLOAT, 2), [1.0, 1e300], ValueError),
    (VectorType(INT, 2), [1, 1.5], TypeError),
    (VectorType(BIGINT, 1), [2**63], ValueError),
    (VectorType(TEXT, 1), [1], TypeError),
    (CustomType("x.Y"), "s", TypeError),
    (INT, None, ValueError),
]


@pytest.mark.parametrize(("t", "value", "exc"), BAD_INPUT, ids=[f"{t.cql()}={v!r}" for t, v, _ in BAD_INPUT])
def test_bad_python_input_raises_value_or_type_error(t: CqlType, value: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        serialize(t, value)


# --- [option] encoding -------------------------------------------------------------------------

OPTION_TYPES: list[CqlType] = [
    *(native(c) for c in NATIVE_NAMES),
    CustomType("com.example.Opaque"),
    CustomType(P + "DynamicCompositeType(s=>" + P + "UTF8Type)"),
    ListType(INT),
    SetType(TEXT),
    MapType(TEXT, ListType(INT)),
    TupleType((INT, TupleType((TEXT, BLOB)))),
    UDTType("ks", "address", (("street", TEXT), ("zip", INT), ("tags", SetType(TEXT)))),
    VectorType(FLOAT, 3),
    VectorType(TEXT, 2),
    VectorType(ListType(INT, frozen=True), 4),
    MapType(TEXT, VectorType(FLOAT, 2)),
]


@pytest.mark.parametrize("t", OPTION_TYPES, ids=[repr(t) for t in OPTION_TYPES])
def test_option_round_trip(t: CqlType) -> None:
    w = Writer()
    write_option(w, t)
    r = Reader(w.getvalue())
    assert read_option(r) == t
    assert r.remaining() == 0


def test_vector_option_is_the_cassandra_class_name() -> None:
    w = Writer()
    write_option(w, VectorType(FLOAT, 3))
    name = f"{P}VectorType({P}FloatType , 3)"
    assert w.getvalue() == h("0000") + struct.pack(">H", len(name)) + name.encode()


def test_option_bytes_for_collections() -> None:
    w = Writer()
    write_option(w, MapType(TEXT, ListType(INT)))
    assert w.getvalue() == h("0021 000d 0020 0009")


def test_read_option_rejects_unknown_code() -> None:
    with pytest.raises(ProtocolError):
        read_option(Reader(h("0099")))


def test_read_option_tolerates_garbage_custom_names() -> None:
    for name in ("VectorType(", "VectorType(FloatType,-1)", "UserType(ks,zz)", "(((", ""):
        w = Writer().short(0).string(name)
        assert read_option(Reader(w.getvalue())) == CustomType(name)


# --- marshal class names -----------------------------------------------------------------------

MARSHAL_CASES: list[tuple[str, CqlType]] = [
    (P + "UTF8Type", TEXT),
    (P + "AsciiType", ASCII),
    (P + "Int32Type", INT),
    (P + "LongType", BIGINT),
    (P + "BytesType", BLOB),
    (P + "BooleanType", BOOLEAN),
    (P + "CounterColumnType", COUNTER),
    (P + "DecimalType", DECIMAL),
    (P + "DoubleType", DOUBLE),
    (P + "FloatType", FLOAT),
    (P + "TimestampType", TIMESTAMP),
    (P + "DateType", TIMESTAMP),
    (P + "UUIDType", UUID_T),
    (P + "TimeUUIDType", TIMEUUID),
    (P + "InetAddressType", INET),
    (P + "SimpleDateType", DATE),
    (P + "TimeType", TIME),
    (P + "ShortType", SMALLINT),
    (P + "ByteType", TINYINT),
    (P + "DurationType", DURATION),
    (P + "IntegerType", VARINT),
    ("Int32Type", INT),
    (f"{P}VectorType({P}FloatType , 3)", VectorType(FLOAT, 3)),
    (f"{P}VectorType({P}FloatType,3)", VectorType(FLOAT, 3)),
    ("VectorType( FloatType ,  3 )", VectorType(FLOAT, 3)),
    (f"{P}ListType({P}Int32Type)", ListType(INT)),
    (f"{P}SetType({P}UTF8Type)", SetType(TEXT)),
    (f"{P}MapType({P}UTF8Type,{P}Int32Type)", MapType(TEXT, INT)),
    (f"{P}FrozenType({P}ListType({P}ListType({P}Int32Type)))", ListType(ListType(INT, True), True)),
    (f"{P}ReversedType({P}TimestampType)", TIMESTAMP),
    (f"{P}TupleType({P}Int32Type,{P}ListType({P}UTF8Type))", TupleType((INT, ListType(TEXT, True)))),
    (
        f"{P}UserType(ks,61646472657373,737472656574:{P}UTF8Type,7a6970:{P}Int32Type)",
        UDTType("ks", "address", (("street", TEXT), ("zip", INT)), frozen=False),
    ),
    (
        f"{P}FrozenType({P}UserType(ks,c3a9,6c:{P}ListType({P}Int32Type)))",
        UDTType("ks", "é", (("l", ListType(INT, True)),), frozen=True),
    ),
    (
        f"{P}VectorType({P}FrozenType({P}ListType({P}Int32Type)) , 2)",
        VectorType(ListType(INT, True), 2),
    ),
    (f"{P}LexicalUUIDType", CustomType(P + "LexicalUUIDType")),
    ("com.example.Thing", CustomType("com.example.Thing")),
    (
        f"{P}ListType({P}CompositeType({P}Int32Type,{P}UTF8Type))",
        ListType(CustomType(f"{P}CompositeType({P}Int32Type,{P}UTF8Type)")),
    ),
]


@pytest.mark.parametrize(("name", "t"), MARSHAL_CASES, ids=[n for n, _ in MARSHAL_CASES])
def test_parse_marshal_class(name: str, t: CqlType) -> None:
    assert parse_marshal_class(name) == t


@pytest.mark.parametrize(
    "name",
    [
        "VectorType(FloatType,0)",
        "VectorType(FloatType)",
        "VectorType(FloatType,x)",
        "ListType(Int32Type",
        "ListType(Int32Type))",
        "Int32Type(x)",
        "UserType(ks,zz,61:Int32Type)",
        "UserType(ks,61,62)",
        "MapType(Int32Type)",
        "ListType()",
        "ListType",
        "a" * 10 + "(" * 200 + ")" * 200,
        "ListType(" * 200 + "Int32Type" + ")" * 200,
    ],
)
def test_malformed_marshal_names(name: str) -> None:
    assert parse_marshal_class(name) == CustomType(name)
    if not name.startswith("a"):  # an unknown class with balanced parameters is valid
        with pytest.raises(ValueError, match="position"):
            parse_marshal_class(name, strict=True)


def test_marshal_class_name_matches_cassandra_spelling() -> None:
    assert marshal_class_name(VectorType(FLOAT, 3)) == f"{P}VectorType({P}FloatType , 3)"
    assert marshal_class_name(MapType(TEXT, ListType(INT, frozen=True), frozen=True)) == (
        f"{P}FrozenType({P}MapType({P}UTF8Type,{P}ListType({P}Int32Type)))"
    )
    assert marshal_class_name(ListType(ListType(INT, frozen=True))) == (
        f"{P}ListType({P}FrozenType({P}ListType({P}Int32Type)))"
    )
    assert marshal_class_name(VectorType(ListType(INT), 2)) == (
        f"{P}VectorType({P}FrozenType({P}ListType({P}Int32Type)) , 2)"
    )
    assert marshal_class_name(TupleType((INT, ListType(TEXT, frozen=True)))) == (
        f"{P}TupleType({P}Int32Type,{P}ListType({P}UTF8Type))"
    )
    assert marshal_class_name(TIMESTAMP) == P + "TimestampType"


@pytest.mark.parametrize(
    "t",
    [t for _, t in MARSHAL_CASES if not isinstance(t, CustomType)]
    + [DEEP, ADDRESS, VectorType(VectorType(INT, 2), 2)],
)
def test_marshal_name_round_trip(t: CqlType) -> None:
    assert parse_marshal_class(marshal_class_name(t), strict=True) == t


# --- CQL type syntax ---------------------------------------------------------------------------

CQL_CASES: list[tuple[str, CqlType]] = [
    ("text", TEXT),
    ("varchar", TEXT),
    ("ascii", ASCII),
    ("TEXT", TEXT),
    (" int ", INT),
    ("duration", DURATION),
    ("list<int>", ListType(INT)),
    ("set<uuid>", SetType(UUID_T)),
    ("map<text, frozen<list<int>>>", MapType(TEXT, ListType(INT, True))),
    ("MAP < TEXT , INT >", MapType(TEXT, INT)),
    ("frozen<map<int, list<set<uuid>>>>", MapType(INT, ListType(SetType(UUID_T, True), True), True)),
    ("frozen<tuple<int, text>>", TupleType((INT, TEXT))),
    ("tuple<int, list<text>>", TupleType((INT, ListType(TEXT, True)))),
    ("vector<float, 3>", VectorType(FLOAT, 3)),
    ("frozen<vector<float, 3>>", VectorType(FLOAT, 3)),
    ("vector<list<int>, 2>", VectorType(ListType(INT, True), 2)),
    ("frozen<my_udt>", UDTType("", "my_udt", (), True)),
    ("My_Udt", UDTType("", "my_udt", (), False)),
    ('"MyType"', UDTType("", "MyType", (), False)),
    ('frozen<"odd ""quoted"" name">', UDTType("", 'odd "quoted" name', (), True)),
    ("ks.addr", UDTType("ks", "addr", (), False)),
    ("'com.example.Custom'", CustomType("com.example.Custom")),
    (f"'{P}VectorType({P}FloatType , 3)'", VectorType(FLOAT, 3)),
    ("'it''s'", CustomType("it's")),
]


@pytest.mark.parametrize(("s", "t"), CQL_CASES, ids=[s for s, _ in CQL_CASES])
def test_parse_cql_type(s: str, t: CqlType) -> None:
    assert parse_cql_type(s) == t


@pytest.mark.parametrize(
    ("s", "pos"),
    [
        ("", 0),
        ("map<text,>", 9),
        ("list<int", 8),
        ("list<int>>", 9),
        ("list int", 5),
        ("frozen<int>", 0),
        ("vector<float, 0>", 14),
        ("vector<float, x>", 14),
        ("vector<float>", 12),
        ("tuple<>", 6),
        ('"unterminated', 0),
        ("'unterminated", 0),
        ('""', 0),
        ("1abc", 0),
        ("map<int, int, int>", 12),
        ("list<" * 100 + "int" + ">" * 100, None),
    ],
)
def test_parse_cql_type_errors_name_the_position(s: str, pos: int | None) -> None:
    with pytest.raises(ValueError) as e:
        parse_cql_type(s)
    if pos is not None:
        assert f"at position {pos}" in str(e.value)


def test_parse_cql_type_resolves_user_types() -> None:
    seen: list[str] = []

    def resolve(name: str) -> UDTType:
        seen.append(name)
        return ADDRESS

    t = parse_cql_type('map<text, frozen<"Address">>', resolve)
    assert t == MapType(TEXT, ADDRESS)
    assert seen == ["Address"]
    assert parse_cql_type("address", resolve) == UDTType(
        ADDRESS.keyspace, ADDRESS.name, ADDRESS.fields, frozen=False
    )


def _cql_printable(t: CqlType) -> bool:
    # cql() prints a UDT by bare name: only unqualified lower-case names survive the round trip
    return not isinstance(t, CustomType) and not (
        isinstance(t, UDTType) and (t.keyspace or not re.fullmatch("[a-z][a-z0-9_]*", t.name))
    )


@pytest.mark.parametrize("t", [t for _, t in CQL_CASES if _cql_printable(t)] + [DEEP])
def test_cql_round_trip(t: CqlType) -> None:
    assert parse_cql_type(t.cql()) == t


# --- cross-check with the Python driver --------------------------------------------------------

_DRIVER_UDT = UDTType("ks", "zone", (("name", TEXT), ("k", INT)), frozen=True)

# (our type, our value, the driver's value for the same data)
DRIVER_CASES: list[tuple[CqlType, Any, Any]] = [
    (ASCII, "abc", "abc"),
    (TEXT, "héllo ✓", "héllo ✓"),
    (BLOB, b"\x00\xff", b"\x00\xff"),
    (BOOLEAN, True, True),
    (BOOLEAN, False, False),
    (TINYINT, -128, -128),
    (SMALLINT, 32767, 32767),
    (INT, -7, -7),
    (BIGINT, -(2**63), -(2**63)),
    (COUNTER, 42, 42),
    (VARINT, 2**70, 2**70),
    (VARINT, -129, -129),
    (VARINT, 0, 0),
    (DECIMAL, Decimal("-123.4500"), Decimal("-123.4500")),
    (DECIMAL, Decimal("1E+5"), Decimal("1E+5")),
    (FLOAT, 1.25, 1.25),
    (DOUBLE, -3.5e100, -3.5e100),
    (UUID_T, U4, U4),
    (TIMEUUID, U1, U1),
    (TIMESTAMP, 1_700_000_000_123, datetime.datetime(2023, 11, 14, 22, 13, 20, 123000)),
    (TIMESTAMP, -86_400_000, datetime.datetime(1969, 12, 31)),
    (DATE, -5, util.Date(-5)),
    (DATE, 19_000, util.Date(19_000)),
    (TIME, 3_600_000_000_123, util.Time(3_600_000_000_123)),
    (INET, "192.168.0.1", "192.168.0.1"),
    (INET, "2001:db8::1", "2001:db8::1"),
    (DURATION, Duration(1, 2, 3), util.Duration(1, 2, 3)),
    (DURATION, Duration(-14, -1, -(2**62)), util.Duration(-14, -1, -(2**62))),
    (ListType(INT), [1, None, 3], [1, None, 3]),
    (SetType(TEXT), ["a", "b"], ["a", "b"]),
    (MapType(TEXT, INT), {"a": 1, "b": None}, {"a": 1, "b": None}),
    (TupleType((INT, TEXT, BLOB)), (1, None, b"x"), (1, None, b"x")),
    (_DRIVER_UDT, {"name": "x", "k": 1}, ("x", 1)),
    (VectorType(FLOAT, 3), [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
    (VectorType(BIGINT, 2), [1, -1], [1, -1]),
    (VectorType(TEXT, 2), ["a", "bc"], ["a", "bc"]),
    (VectorType(SMALLINT, 2), [1, -1], [1, -1]),
    (VectorType(TIME, 1), [5], [util.Time(5)]),
    (
        DEEP,
        {"k": [{1: [U1]}, {}]},
        {"k": [{1: [U1]}, {}]},
    ),
    (ListType(TupleType((INT, MapType(TEXT, DOUBLE, True)))), [(1, {"x": 0.5})], [(1, {"x": 0.5})]),
]


def _driver_type(t: CqlType) -> Any:
    return cqltypes.lookup_casstype(marshal_class_name(t))


@pytest.mark.parametrize(
    ("t", "ours", "theirs"), DRIVER_CASES, ids=[f"{t.cql()}={v!r}" for t, v, _ in DRIVER_CASES]
)
def test_matches_python_driver(t: CqlType, ours: Any, theirs: Any) -> None:
    drv = _driver_type(t)
    expected = drv.serialize(theirs, 4)
    assert serialize(t, ours, 4) == expected
    assert deserialize(t, expected, 4) == ours
    # and the driver reads what we write
    back = drv.deserialize(serialize(t, ours, 4), 4)
    assert drv.serialize(back, 4) == expected


def test_driver_timestamp_from_datetime_matches() -> None:
    dt = datetime.datetime(2001, 2, 3, 4, 5, 6, 789000)
    assert serialize(TIMESTAMP, dt) == cqltypes.DateType.serialize(dt, 4)


# --- fuzzing -----------------------------------------------------------------------------------

FUZZ_TYPES: list[CqlType] = [
    *(native(c) for c in NATIVE_NAMES),
    CustomType("x.Y"),
    ListType(INT),
    ListType(TEXT),
    SetType(UUID_T),
    MapType(TEXT, INT),
    MapType(ListType(INT, True), SetType(TEXT, True)),
    TupleType((INT, TEXT, DURATION)),
    ADDRESS,
    VectorType(FLOAT, 2),
    VectorType(TEXT, 2),
    VectorType(VectorType(SMALLINT, 2), 2),
    DEEP,
    ListType(TupleType((DECIMAL, VARINT, INET, DATE, TIME))),
]

_SEEDS: list[tuple[CqlType, Any]] = [
    (t, v) for t, v, _ in KNOWN if not isinstance(t, CustomType)
] + ROUND_TRIPS
_SEED_BYTES = [(t, serialize(t, v)) for t, v in _SEEDS]


def _decode_or_protocol_error(t: CqlType, data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        deserialize(t, data)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FUZZ_TYPES), st.binary(max_size=64))
def test_fuzz_random_bytes(t: CqlType, data: bytes) -> None:
    _decode_or_protocol_error(t, data)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SEED_BYTES), st.data())
def test_fuzz_mutated_valid_values(seed: tuple[CqlType, bytes], data: st.DataObject) -> None:
    t, good = seed
    buf = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        pos = data.draw(st.integers(0, len(buf)))
        if op == "cut":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
        elif buf:
            i = min(pos, len(buf) - 1)
            buf[i] = data.draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF])) if op == "set" else buf[i] ^ 0xFF
    _decode_or_protocol_error(t, bytes(buf))


@settings(max_examples=100, deadline=None)
@given(
    st.integers(-(2**200), 2**200),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.text(max_size=20),
    st.floats(allow_nan=False, width=32),
    st.integers(-(2**31), 2**31 - 1),
)
def test_round_trip_properties(big: int, dec: decimal.Decimal, text: str, f32: float, days: int) -> None:
    assert deserialize(VARINT, serialize(VARINT, big)) == big
    got = deserialize(DECIMAL, serialize(DECIMAL, dec))
    assert isinstance(got, Decimal)
    assert got == dec and got.as_tuple().exponent == dec.as_tuple().exponent
    assert deserialize(TEXT, serialize(TEXT, text)) == text
    assert deserialize(FLOAT, serialize(FLOAT, f32)) == f32
    assert deserialize(DATE, serialize(DATE, days)) == days


@pytest.mark.parametrize(
    ("t", "version", "expected_custom"),
    [
        (DATE, 3, True), (DATE, 4, False), (TIME, 3, True), (SMALLINT, 3, True), (TINYINT, 4, False),
        (DURATION, 4, True), (DURATION, 5, False), (ListType(TINYINT), 3, True), (INT, 3, False),
    ],
)
def test_write_option_spells_types_as_the_version_knows_them(t: CqlType, version: int, expected_custom: bool) -> None:
    w = Writer()
    write_option(w, t, version)
    raw = bytes(w.buf)
    assert (b"org.apache.cassandra.db.marshal." in raw) == expected_custom
    assert read_option(Reader(raw)) == t  # and it still reads back as the native type
