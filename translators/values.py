"""CQL values <-> DynamoDB attribute values, item sizes, and row/item comparison.

Attribute values are in the low-level wire form: {"S": str}, {"N": str}, {"B": bytes}, {"BOOL": bool},
{"NULL": True}, {"L": [...]}, {"M": {...}}, {"SS": [...]}, {"NS": [...]}, {"BS": [...]}.
Python values follow the conventions of cql_protocol.types (timestamp = int ms, date = int days,
time = int ns, set = list, map = dict or list of pairs, UDT = dict, ...).

| CQL type                               | attribute                                                   |
|----------------------------------------|-------------------------------------------------------------|
| ascii, text                            | S                                                           |
| tinyint..bigint, counter               | N                                                           |
| timestamp, date, time                  | N (ms since epoch, days since epoch, ns since midnight)     |
| varint                                 | N up to 38 digits, else S (decimal text)                    |
| decimal                                | N when DynamoDB keeps the text as sent, else S (exact text) |
| float, double                          | N; S for NaN, Infinity, -Infinity, -0.0, and doubles        |
|                                        | outside N's range (1E-130 .. 1E+126)                        |
| boolean                                | BOOL                                                        |
| blob                                   | B                                                           |
| uuid, timeuuid                         | S, canonical lower case                                     |
| inet                                   | S, canonical (inet_ntop) form                               |
| duration                               | S, e.g. "1y2mo3d4h5m6s7ms8us9ns", "-1d", "0s"               |
| list, tuple, vector                    | L (a null tuple element is {"NULL": True})                  |
| set<ascii, text, varint, decimal,      | SS of canonical texts (to_text)                             |
|     float, double, uuid, timeuuid,     |                                                             |
|     inet>                              |                                                             |
| set<tinyint..bigint, timestamp, date,  | NS                                                          |
|     time>                              |                                                             |
| set<blob>                              | BS                                                          |
| set<boolean, tuple, UDT, frozen coll.> | L in CQL order                                              |
| map                                    | M, keys as canonical text (key_text)                        |
| UDT                                    | M field -> value, null fields omitted                       |
| frozen<x>                              | as x                                                        |

Sets of numbers that N cannot always hold exactly (varint, decimal, float, double) are SS, so the
type of a set attribute never depends on its contents and ADD/DELETE update expressions apply.
Map keys: text as is; other types by to_text (numbers in decimal, blobs base64, tuples and frozen
collections base64 of their serialized form); a key that is empty or starts with a backslash gets
a backslash in front (DynamoDB rejects empty names).

DynamoDB trims the zeros of a number ("1.50" comes back as "1.5", "1E+2" as "100"), so a decimal
goes to N only when that changes nothing, keeping the scale clients see exact. A numeric column
whose attribute is S holds the number as text; from_attribute knows from the column type.

Empty collections: Cassandra stores an empty non-frozen collection as no cells, i.e. null, so at
column level an empty list/set/map (and a non-frozen UDT without fields) is no attribute. A frozen
or nested collection is a value even when empty: L [] or M {} (an empty set as L [], since DynamoDB
has no empty sets). Types read from protocol metadata do not say whether a column is frozen, so
pass schema types (parse_cql_type) when the difference matters.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import ipaddress
import math
import re
import socket
import struct
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from cql_protocol.errors import ProtocolError
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
    deserialize,
    serialize,
)

Attribute = dict[str, Any]

NULL_ATTRIBUTE: Attribute = {"NULL": True}

_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")

_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_MAX_TIME_NS = 86_399_999_999_999
_I32 = (-(1 << 31), (1 << 31) - 1)
_I64 = (-(1 << 63), (1 << 63) - 1)

# Value ranges of the types stored as exact integers in N.
_INT_RANGES: dict[int, tuple[int, int]] = {
    TypeCode.TINYINT: (-128, 127),
    TypeCode.SMALLINT: (-(1 << 15), (1 << 15) - 1),
    TypeCode.INT: _I32,
    TypeCode.BIGINT: _I64,
    TypeCode.COUNTER: _I64,
    TypeCode.TIMESTAMP: _I64,
    TypeCode.DATE: _I32,
    TypeCode.TIME: (0, _MAX_TIME_NS),
}
INTEGER_CODES = frozenset(_INT_RANGES)
TEXT_CODES = frozenset((TypeCode.ASCII, TypeCode.VARCHAR))

_N_MAX_DIGITS = 38
_N_LIMIT = 10**_N_MAX_DIGITS
# DynamoDB numbers: magnitudes from 1E-130 to 9.99..(38 digits)E+125.
_N_MIN_ADJUSTED = -130
_N_MAX_ADJUSTED = 125

# Set element type -> DynamoDB set type. NS only where every value fits N exactly; numbers that
# may not (varint, decimal, float, double) use SS of their canonical text, so the kind of a set
# attribute never depends on its contents and ADD/DELETE update expressions always apply.
_SET_KIND: dict[int, str] = {
    TypeCode.ASCII: "SS",
    TypeCode.VARCHAR: "SS",
    TypeCode.VARINT: "SS",
    TypeCode.DECIMAL: "SS",
    TypeCode.FLOAT: "SS",
    TypeCode.DOUBLE: "SS",
    TypeCode.UUID: "SS",
    TypeCode.TIMEUUID: "SS",
    TypeCode.INET: "SS",
    TypeCode.TINYINT: "NS",
    TypeCode.SMALLINT: "NS",
    TypeCode.INT: "NS",
    TypeCode.BIGINT: "NS",
    TypeCode.COUNTER: "NS",
    TypeCode.TIMESTAMP: "NS",
    TypeCode.DATE: "NS",
    TypeCode.TIME: "NS",
    TypeCode.BLOB: "BS",
}


def set_kind(element: CqlType) -> str:
    """The attribute type a non-empty set of `element` values is stored as: SS, NS, BS or L."""
    if type(element) is NativeType:
        return _SET_KIND.get(element.code, "L")
    return "L"


# --- scalar conversions ------------------------------------------------------------------------


def int_value(v: Any, code: int) -> int:
    if type(v) is not int:
        v = _coerce_int(v, code) if isinstance(v, bool) or not isinstance(v, int) else int(v)
    lo, hi = _INT_RANGES[code]
    if not lo <= v <= hi:
        raise ValueError(f"{_NAME[code]} value {v} out of range [{lo}, {hi}]")
    return v


def _coerce_int(v: Any, code: int) -> int:
    """datetime/date/time objects, as the wire codec accepts them, for the time types."""
    if code == TypeCode.TIMESTAMP and isinstance(v, datetime.datetime):
        if v.utcoffset() is not None:
            v = v.astimezone(datetime.UTC).replace(tzinfo=None)
        d = v - _EPOCH
        return d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000
    if code == TypeCode.TIMESTAMP and isinstance(v, datetime.date):
        return (v.toordinal() - _EPOCH_ORDINAL) * 86_400_000
    if code == TypeCode.DATE and isinstance(v, datetime.date):
        return v.toordinal() - _EPOCH_ORDINAL
    if code == TypeCode.TIME and isinstance(v, datetime.time):
        return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000_000 + v.microsecond * 1000
    raise TypeError(f"{_NAME[code]} value must be an int, got {type(v).__name__}")


def varint_value(v: Any) -> int:
    if type(v) is int:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    raise TypeError(f"varint value must be an int, got {type(v).__name__}")


def decimal_of(v: Any) -> Decimal:
    """A finite Decimal with a plain sign on zero (BigDecimal has no negative zero)."""
    if isinstance(v, Decimal):
        d = v
    elif isinstance(v, int | str) and not isinstance(v, bool):
        try:
            d = Decimal(v)
        except decimal.InvalidOperation:
            raise ValueError(f"cannot interpret {v!r} as a decimal") from None
    elif isinstance(v, float):
        d = Decimal(v)
    else:
        raise TypeError(f"decimal value must be a Decimal, int or str, got {type(v).__name__}")
    if not d.is_finite():
        raise ValueError(f"decimal value must be finite, got {d}")
    if d.is_signed() and d.is_zero():
        d = d.copy_negate()
    return d


def float32_of(v: Any) -> float:
    """`v` rounded to float32, as Cassandra stores a float."""
    if isinstance(v, str | bytes | bytearray) or v is None:
        raise TypeError(f"float value must be a number, got {type(v).__name__}")
    try:
        packed = _F32.pack(v)
    except OverflowError:
        raise ValueError(f"float value {v} out of range") from None
    except struct.error:
        raise TypeError(f"float value must be a number, got {type(v).__name__}") from None
    x: float = _F32.unpack(packed)[0]
    return x


def double_value(v: Any) -> float:
    if isinstance(v, float):
        return v
    if isinstance(v, int | Decimal) and not isinstance(v, bool):
        return float(v)
    raise TypeError(f"double value must be a number, got {type(v).__name__}")


def _special_float_text(x: float) -> str | None:
    if x != x:
        return "NaN"
    if x == math.inf:
        return "Infinity"
    if x == -math.inf:
        return "-Infinity"
    if x == 0.0 and math.copysign(1.0, x) < 0:
        return "-0.0"
    return None


def float32_text(x: float) -> str:
    """The shortest-ish decimal text that reads back as the float32 value `x` (exact round trip).

    Any float32 text of at most 6 significant digits round-trips, so the 6-digit rounding is the
    shortest one whenever one that short exists; otherwise more digits until the value survives.
    """
    special = _special_float_text(x)
    if special is not None:
        return special
    packed = _F32.pack(x)
    for digits in (6, 7, 8):
        s = f"{x:.{digits}g}"
        if _F32.pack(float(s)) == packed:
            break
    else:
        s = f"{x:.9g}"
    return s.replace("e", "E") if "e" in s else s


def double_text(x: float) -> str:
    special = _special_float_text(x)
    if special is not None:
        return special
    s = repr(x)
    return s.replace("e", "E") if "e" in s else s


def uuid_text(v: Any) -> str:
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, str):
        return str(uuid.UUID(v))
    raise TypeError(f"uuid value must be a UUID, got {type(v).__name__}")


def inet_packed(v: Any) -> bytes:
    if isinstance(v, str):
        return ipaddress.ip_address(v).packed
    if isinstance(v, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return v.packed
    raise TypeError(f"inet value must be a str or an ip address, got {type(v).__name__}")


def inet_text(v: Any) -> str:
    """The form the wire codec decodes to (inet_ntop), so text -> attribute -> text is stable."""
    packed = inet_packed(v)
    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


def blob_value(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    raise TypeError(f"blob value must be bytes-like, got {type(v).__name__}")


def text_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise TypeError(f"text value must be a str, got {type(v).__name__}")


def ascii_value(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"ascii value must be a str, got {type(v).__name__}")
    if not v.isascii():
        raise ValueError(f"ascii value contains non-ASCII characters: {v!r}")
    return v


def bool_value(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v != 0
    raise TypeError(f"boolean value must be a bool, got {type(v).__name__}")


# --- durations ---------------------------------------------------------------------------------

_NS_UNITS = (
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
)
_DURATION_PART = re.compile(r"(\d+)(mo|ms|us|µs|ns|y|w|d|h|m|s)")
_DURATION_SCALE = {
    "y": (12, 0, 0),
    "mo": (1, 0, 0),
    "w": (0, 7, 0),
    "d": (0, 1, 0),
    "h": (0, 0, 3_600_000_000_000),
    "m": (0, 0, 60_000_000_000),
    "s": (0, 0, 1_000_000_000),
    "ms": (0, 0, 1_000_000),
    "us": (0, 0, 1_000),
    "µs": (0, 0, 1_000),
    "ns": (0, 0, 1),
}


def _duration_parts(v: Any) -> tuple[int, int, int]:
    try:
        m, d, n = v.months, v.days, v.nanoseconds
    except AttributeError:
        raise TypeError(f"duration value must be a Duration, got {type(v).__name__}") from None
    if not all(type(x) is int for x in (m, d, n)):
        raise TypeError("duration parts must be ints")
    if not (_I32[0] <= m <= _I32[1] and _I32[0] <= d <= _I32[1] and _I64[0] <= n <= _I64[1]):
        raise ValueError(f"duration parts out of range: ({m}, {d}, {n})")
    if not ((m >= 0 and d >= 0 and n >= 0) or (m <= 0 and d <= 0 and n <= 0)):
        raise ValueError(f"duration parts must not differ in sign: ({m}, {d}, {n})")
    return m, d, n


def duration_text(v: Any) -> str:
    """Cassandra's own spelling: "1y2mo3d4h5m6s7ms8us9ns", "-3d", "0s" for zero."""
    m, d, n = _duration_parts(v)
    negative = m < 0 or d < 0 or n < 0
    if negative:
        m, d, n = -m, -d, -n
    parts = []
    y, mo = divmod(m, 12)
    if y:
        parts.append(f"{y}y")
    if mo:
        parts.append(f"{mo}mo")
    if d:
        parts.append(f"{d}d")
    for unit, size in _NS_UNITS:
        q, n = divmod(n, size)
        if q:
            parts.append(f"{q}{unit}")
    text = "".join(parts) or "0s"
    return "-" + text if negative else text


def parse_duration(text: str) -> Duration:
    body = text[1:] if text.startswith("-") else text
    pos = 0
    months = days = nanos = 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            break
        pos = match.end()
        q = int(match.group(1))
        sm, sd, sn = _DURATION_SCALE[match.group(2)]
        months += q * sm
        days += q * sd
        nanos += q * sn
    if pos != len(body) or not body:
        raise ValueError(f"not a duration: {text!r}")
    if text.startswith("-"):
        months, days, nanos = -months, -days, -nanos
    result = Duration(months, days, nanos)
    _duration_parts(result)
    return result


# --- canonical text (map keys, set elements, partition key components) ---------------------------


def to_text(t: CqlType, v: Any) -> str:
    """A canonical text for value `v` of type `t`, reversible by from_text given `t`.

    Numbers in decimal (decimal keeps its exact scale; float/double shortest exact text, or NaN,
    Infinity, -Infinity, -0.0), booleans "true"/"false", blobs base64, uuids canonical, inet as
    inet_ntop, durations as duration_text. Tuples, UDTs, frozen collections and vectors: base64 of
    canonical_bytes.
    """
    if type(t) is NativeType:
        fn = _TEXT_OF.get(t.code)
        if fn is None:
            raise TypeError(f"no text form for {t.cql()}")
        return fn(v)
    if isinstance(t, CustomType):
        return base64.b64encode(blob_value(v)).decode("ascii")
    return base64.b64encode(canonical_bytes(t, v)).decode("ascii")


def from_text(t: CqlType, s: str) -> Any:
    if type(t) is NativeType:
        fn = _OF_TEXT.get(t.code)
        if fn is None:
            raise TypeError(f"no text form for {t.cql()}")
        return fn(s)
    if isinstance(t, CustomType):
        return _b64decode(s)
    return from_canonical_bytes(t, _b64decode(s))


def canonical_bytes(t: CqlType, v: Any) -> bytes:
    """The CQL serialization of `v` in the form Cassandra stores: set elements and map entries in
    CQL order without duplicates, tuples and UDTs with every element. Exact (decimal scale kept)
    and equal for equal values, so it can name a map entry or a partition."""
    return serialize(t, _stored_form(t, v))


def from_canonical_bytes(t: CqlType, data: bytes) -> Any:
    try:
        return deserialize(t, data)
    except ProtocolError as e:
        raise ValueError(str(e)) from None


def _stored_form(t: CqlType, v: Any) -> Any:
    if v is None or type(t) is NativeType or isinstance(t, CustomType):
        return v
    if isinstance(t, ListType | VectorType):
        return [_stored_form(t.element, x) for x in items_of(v, t.cql())]
    if isinstance(t, SetType):
        from translators import ordered_bytes

        enc = ordered_bytes.bytecomparable_encoder(t.element)
        by_key: dict[bytes, Any] = {}
        for x in items_of(v, "set"):
            if x is None:
                raise ValueError("set elements cannot be null")
            by_key.setdefault(enc(x), x)
        return [_stored_form(t.element, by_key[k]) for k in sorted(by_key)]
    if isinstance(t, MapType):
        from translators import ordered_bytes

        kenc = ordered_bytes.bytecomparable_encoder(t.key)
        entries: dict[bytes, tuple[Any, Any]] = {}
        for k, x in map_pairs(v):
            if k is None:
                raise ValueError("map keys cannot be null")
            entries.setdefault(kenc(k), (_stored_form(t.key, k), _stored_form(t.value, x)))
        return [entries[k] for k in sorted(entries)]
    if isinstance(t, TupleType):
        if not isinstance(v, list | tuple):
            raise TypeError(f"tuple value must be a tuple or list, got {type(v).__name__}")
        if len(v) > len(t.elements):
            raise ValueError(f"{t.cql()} takes at most {len(t.elements)} elements, got {len(v)}")
        n = len(v)
        return tuple(_stored_form(e, v[i]) if i < n else None for i, e in enumerate(t.elements))
    if isinstance(t, UDTType):
        if isinstance(v, Mapping):
            unknown = set(v) - {name for name, _ in t.fields}
            if unknown:
                raise ValueError(f"user type {t.name} has no field(s) {sorted(map(str, unknown))}")
            return {name: _stored_form(ft, v.get(name)) for name, ft in t.fields}
        n = len(v)
        return {name: _stored_form(ft, v[i]) if i < n else None for i, (name, ft) in enumerate(t.fields)}
    raise TypeError(f"cannot serialize values of type {t!r}")


def _b64decode(s: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except binascii.Error as e:
        raise ValueError(f"invalid base64 {s!r}: {e}") from None


def _int_text(code: int) -> Callable[[Any], str]:
    def fn(v: Any) -> str:
        return str(int_value(v, code))

    return fn


def _int_parser(code: int) -> Callable[[str], int]:
    lo, hi = _INT_RANGES[code]

    def fn(s: str) -> int:
        v = int(s)
        if not lo <= v <= hi:
            raise ValueError(f"{_NAME[code]} value {v} out of range")
        return v

    return fn


def _decimal_text(v: Any) -> str:
    return str(decimal_of(v))


def _parse_decimal(s: str) -> Decimal:
    try:
        return decimal_of(Decimal(s))
    except decimal.InvalidOperation:
        raise ValueError(f"not a decimal: {s!r}") from None


def _parse_bool(s: str) -> bool:
    if s == "true":
        return True
    if s == "false":
        return False
    raise ValueError(f"not a boolean: {s!r}")


def _parse_float32(s: str) -> float:
    return float32_of(float(s))


def _parse_inet(s: str) -> str:
    return inet_text(s)


_NAME: dict[int, str] = {
    TypeCode.ASCII: "ascii",
    TypeCode.VARCHAR: "text",
    TypeCode.TINYINT: "tinyint",
    TypeCode.SMALLINT: "smallint",
    TypeCode.INT: "int",
    TypeCode.BIGINT: "bigint",
    TypeCode.COUNTER: "counter",
    TypeCode.TIMESTAMP: "timestamp",
    TypeCode.DATE: "date",
    TypeCode.TIME: "time",
}

_TEXT_OF: dict[int, Callable[[Any], str]] = {
    TypeCode.ASCII: ascii_value,
    TypeCode.VARCHAR: text_value,
    TypeCode.VARINT: lambda v: str(varint_value(v)),
    TypeCode.DECIMAL: _decimal_text,
    TypeCode.FLOAT: lambda v: float32_text(float32_of(v)),
    TypeCode.DOUBLE: lambda v: double_text(double_value(v)),
    TypeCode.BOOLEAN: lambda v: "true" if bool_value(v) else "false",
    TypeCode.BLOB: lambda v: base64.b64encode(blob_value(v)).decode("ascii"),
    TypeCode.UUID: uuid_text,
    TypeCode.TIMEUUID: uuid_text,
    TypeCode.INET: inet_text,
    TypeCode.DURATION: duration_text,
    **{code: _int_text(code) for code in _INT_RANGES},
}

_OF_TEXT: dict[int, Callable[[str], Any]] = {
    TypeCode.ASCII: str,
    TypeCode.VARCHAR: str,
    TypeCode.VARINT: int,
    TypeCode.DECIMAL: _parse_decimal,
    TypeCode.FLOAT: _parse_float32,
    TypeCode.DOUBLE: float,
    TypeCode.BOOLEAN: _parse_bool,
    TypeCode.BLOB: _b64decode,
    TypeCode.UUID: uuid.UUID,
    TypeCode.TIMEUUID: uuid.UUID,
    TypeCode.INET: _parse_inet,
    TypeCode.DURATION: parse_duration,
    **{code: _int_parser(code) for code in _INT_RANGES},
}


def key_text(t: CqlType, v: Any) -> str:
    """A map key as an M attribute name: to_text, with a leading backslash added when the text is
    empty (DynamoDB rejects empty names) or already starts with one."""
    s = to_text(t, v)
    if not s or s[0] == "\\":
        return "\\" + s
    return s


def parse_key_text(t: CqlType, s: str) -> Any:
    return from_text(t, s[1:] if s[:1] == "\\" else s)


# --- CQL value -> attribute --------------------------------------------------------------------

_AttrEncoder = Callable[[Any], Attribute]


def to_attribute(t: CqlType, value: object) -> Attribute | None:
    """The attribute for a column value; None means "no attribute" (null, or an empty non-frozen
    collection, which Cassandra does not distinguish from null)."""
    if value is None:
        return None
    return _to_attr(t, value, False)


def _to_attr(t: CqlType, v: Any, nested: bool) -> Attribute | None:
    if type(t) is NativeType:
        enc = _NATIVE_TO.get(t.code)
        if enc is None:
            raise TypeError(f"unknown native type code 0x{t.code:04x}")
        return enc(v)
    fn = _COMPLEX_TO.get(type(t))
    if fn is None:
        raise TypeError(f"cannot convert values of type {t!r}")
    return fn(t, v, nested)


def _element_attr(t: CqlType, v: Any) -> Attribute:
    if v is None:
        return NULL_ATTRIBUTE
    a = _to_attr(t, v, True)
    return NULL_ATTRIBUTE if a is None else a


def _n_or_s_int(v: Any) -> Attribute:
    n = varint_value(v)
    s = str(n)
    return {"N": s} if -_N_LIMIT < n < _N_LIMIT else {"S": s}


def decimal_fits_n(d: Decimal) -> bool:
    """True when DynamoDB returns the N text of `d` unchanged in value and scale: no positive
    exponent, no trailing fractional zero, at most 38 digits, within N's exponent range."""
    _, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    if exp > 0 or len(digits) > _N_MAX_DIGITS:
        return False
    if d.is_zero():
        return exp == 0
    if exp < 0 and digits[-1] == 0:
        return False
    return _N_MIN_ADJUSTED <= d.adjusted() <= _N_MAX_ADJUSTED


def _decimal_attr(v: Any) -> Attribute:
    d = decimal_of(v)
    return {"N": str(d)} if decimal_fits_n(d) else {"S": str(d)}


def _float_attr(v: Any) -> Attribute:
    x = float32_of(v)
    # float32 magnitudes (1.4E-45 .. 3.4E+38) all fit N; only the specials need S.
    special = _special_float_text(x)
    return {"N": float32_text(x)} if special is None else {"S": special}


def _double_attr(v: Any) -> Attribute:
    x = double_value(v)
    s = double_text(x)
    a = abs(x)
    if (1e-130 <= a < 1e126) or (a == 0.0 and s != "-0.0"):
        return {"N": s}
    return {"S": s}


def _int_attr(code: int) -> _AttrEncoder:
    lo, hi = _INT_RANGES[code]

    def enc(v: Any) -> Attribute:
        if type(v) is not int:
            v = int_value(v, code)
        elif not lo <= v <= hi:
            raise ValueError(f"{_NAME[code]} value {v} out of range [{lo}, {hi}]")
        return {"N": str(v)}

    return enc


_NATIVE_TO: dict[int, _AttrEncoder] = {
    TypeCode.ASCII: lambda v: {"S": ascii_value(v)},
    TypeCode.VARCHAR: lambda v: {"S": text_value(v)},
    TypeCode.VARINT: _n_or_s_int,
    TypeCode.DECIMAL: _decimal_attr,
    TypeCode.FLOAT: _float_attr,
    TypeCode.DOUBLE: _double_attr,
    TypeCode.BOOLEAN: lambda v: {"BOOL": bool_value(v)},
    TypeCode.BLOB: lambda v: {"B": blob_value(v)},
    TypeCode.UUID: lambda v: {"S": uuid_text(v)},
    TypeCode.TIMEUUID: lambda v: {"S": uuid_text(v)},
    TypeCode.INET: lambda v: {"S": inet_text(v)},
    TypeCode.DURATION: lambda v: {"S": duration_text(v)},
    **{code: _int_attr(code) for code in _INT_RANGES},
}


def items_of(v: Any, what: str) -> Sequence[Any]:
    if isinstance(v, list | tuple):
        return v
    if isinstance(v, str | bytes | bytearray | memoryview | Mapping) or not isinstance(v, Iterable):
        raise TypeError(f"{what} value must be a list, tuple or set, got {type(v).__name__}")
    return list(v)


def _empty(t: ListType | SetType | MapType, nested: bool, kind: str) -> Attribute | None:
    if nested or t.frozen:
        return {kind: [] if kind == "L" else {}}
    return None


def _list_to(t: ListType, v: Any, nested: bool) -> Attribute | None:
    items = items_of(v, "list")
    if not items:
        return _empty(t, nested, "L")
    et = t.element
    return {"L": [_element_attr(et, x) for x in items]}


def _set_to(t: SetType, v: Any, nested: bool) -> Attribute | None:
    items = items_of(v, "set")
    if not items:
        return _empty(t, nested, "L")
    et = t.element
    for x in items:
        if x is None:
            raise ValueError("set elements cannot be null")
    kind = set_kind(et)
    if kind == "SS":
        to = _TEXT_OF[et.code]
        if et.code == TypeCode.DECIMAL:
            # 0 and 0.0 are one element to Cassandra (its comparator ignores scale): keep the first
            items = list(dict.fromkeys(decimal_of(x) for x in items))
        return {"SS": sorted({to(x) for x in items})}
    if kind == "NS":
        code = et.code
        return {"NS": [str(n) for n in sorted({int_value(x, code) for x in items})]}
    if kind == "BS":
        return {"BS": sorted({blob_value(x) for x in items})}
    from translators import ordered_bytes

    enc = ordered_bytes.bytecomparable_encoder(et)
    by_key: dict[bytes, Any] = {}
    for x in items:
        by_key.setdefault(enc(x), x)
    return {"L": [_element_attr(et, by_key[k]) for k in sorted(by_key)]}


def map_pairs(v: Any) -> Iterable[Any]:
    if isinstance(v, Mapping):
        return v.items()
    if isinstance(v, list | tuple):
        return v
    raise TypeError(f"map value must be a mapping or a list of pairs, got {type(v).__name__}")


def _map_to(t: MapType, v: Any, nested: bool) -> Attribute | None:
    pairs = map_pairs(v)
    kt, vt = t.key, t.value
    text_keys = type(kt) is NativeType and kt.code in TEXT_CODES
    out: dict[str, Attribute] = {}
    for pair in pairs:
        k, x = pair
        if k is None:
            raise ValueError("map keys cannot be null")
        name = _TEXT_OF[kt.code](k) if text_keys and k and k[0] != "\\" else key_text(kt, k)
        out[name] = _element_attr(vt, x)
    if not out:
        return _empty(t, nested, "M")
    return {"M": out}


def _tuple_to(t: TupleType, v: Any, nested: bool) -> Attribute | None:
    if not isinstance(v, list | tuple):
        raise TypeError(f"tuple value must be a tuple or list, got {type(v).__name__}")
    types = t.elements
    if len(v) > len(types):
        raise ValueError(f"{t.cql()} takes at most {len(types)} elements, got {len(v)}")
    n = len(v)
    return {"L": [_element_attr(et, v[i]) if i < n else NULL_ATTRIBUTE for i, et in enumerate(types)]}


def _udt_to(t: UDTType, v: Any, nested: bool) -> Attribute | None:
    out: dict[str, Attribute] = {}
    if isinstance(v, Mapping):
        names = {name for name, _ in t.fields}
        for k in v:
            if k not in names:
                raise ValueError(f"user type {t.name} has no field {k!r}")
        for name, ft in t.fields:
            x = v.get(name)
            if x is not None:
                a = _to_attr(ft, x, True)
                if a is not None:
                    out[name] = a
    elif isinstance(v, list | tuple):
        if len(v) > len(t.fields):
            raise ValueError(f"user type {t.name} has {len(t.fields)} fields, got {len(v)} values")
        for (name, ft), x in zip(t.fields, v, strict=False):
            if x is not None:
                a = _to_attr(ft, x, True)
                if a is not None:
                    out[name] = a
    else:
        raise TypeError(f"user type value must be a mapping or a tuple, got {type(v).__name__}")
    if not out and not nested and not t.frozen:
        return None
    return {"M": out}


def _vector_to(t: VectorType, v: Any, nested: bool) -> Attribute | None:
    items = items_of(v, "vector")
    if len(items) != t.dimension:
        raise ValueError(f"{t.cql()} needs exactly {t.dimension} elements, got {len(items)}")
    et = t.element
    if type(et) is NativeType and et.code == TypeCode.FLOAT:
        return {"L": [_float_attr(x) for x in items]}
    out = []
    for x in items:
        if x is None:
            raise ValueError(f"{t.cql()} elements cannot be null")
        out.append(_element_attr(et, x))
    return {"L": out}


def _custom_to(t: CustomType, v: Any, nested: bool) -> Attribute | None:
    return {"B": blob_value(v)}


_COMPLEX_TO: dict[type, Callable[[Any, Any, bool], Attribute | None]] = {
    ListType: _list_to,
    SetType: _set_to,
    MapType: _map_to,
    TupleType: _tuple_to,
    UDTType: _udt_to,
    VectorType: _vector_to,
    CustomType: _custom_to,
}


# --- attribute -> CQL value --------------------------------------------------------------------


def from_attribute(t: CqlType, attr: Attribute | None) -> object:
    """The column value an attribute holds; an absent attribute or NULL is None. An attribute
    that cannot hold a value of `t` raises ValueError."""
    if attr is None or "NULL" in attr:
        return None
    return _from_attr(t, attr)


def _from_attr(t: CqlType, a: Attribute) -> Any:
    if type(t) is NativeType:
        dec = _NATIVE_FROM.get(t.code)
        if dec is None:
            raise TypeError(f"unknown native type code 0x{t.code:04x}")
        return dec(a)
    fn = _COMPLEX_FROM.get(type(t))
    if fn is None:
        raise TypeError(f"cannot convert values of type {t!r}")
    return fn(t, a)


def _bad(a: Attribute, what: str) -> ValueError:
    return ValueError(f"attribute {a!r} cannot hold a {what} value")


def _one(a: Attribute, kind: str, what: str) -> Any:
    try:
        return a[kind]
    except KeyError:
        raise _bad(a, what) from None


def _from_text_attr(what: str) -> Callable[[Attribute], Any]:
    def dec(a: Attribute) -> Any:
        return _one(a, "S", what)

    return dec


def _from_int_attr(code: int) -> Callable[[Attribute], Any]:
    parse = _int_parser(code)
    name = _NAME[code]

    def dec(a: Attribute) -> Any:
        return parse(_one(a, "N", name))

    return dec


def _from_number_attr(what: str, parse: Callable[[str], Any]) -> Callable[[Attribute], Any]:
    def dec(a: Attribute) -> Any:
        s = a.get("N")
        if s is None:
            s = a.get("S")
            if s is None:
                raise _bad(a, what)
        try:
            return parse(s)
        except (ValueError, decimal.InvalidOperation):
            raise _bad(a, what) from None

    return dec


def _from_s(what: str, parse: Callable[[str], Any]) -> Callable[[Attribute], Any]:
    def dec(a: Attribute) -> Any:
        return parse(_one(a, "S", what))

    return dec


def _from_bool(a: Attribute) -> bool:
    v = _one(a, "BOOL", "boolean")
    if not isinstance(v, bool):
        raise _bad(a, "boolean")
    return v


def _from_blob(a: Attribute) -> bytes:
    return attr_bytes(_one(a, "B", "blob"))


def attr_bytes(v: Any) -> bytes:
    """The bytes of a B value: bytes as boto3 gives them, or base64 text from JSON."""
    if isinstance(v, str):
        return _b64decode(v)
    return blob_value(v)


_NATIVE_FROM: dict[int, Callable[[Attribute], Any]] = {
    TypeCode.ASCII: _from_text_attr("ascii"),
    TypeCode.VARCHAR: _from_text_attr("text"),
    TypeCode.VARINT: _from_number_attr("varint", int),
    TypeCode.DECIMAL: _from_number_attr("decimal", _parse_decimal),
    TypeCode.FLOAT: _from_number_attr("float", _parse_float32),
    TypeCode.DOUBLE: _from_number_attr("double", float),
    TypeCode.BOOLEAN: _from_bool,
    TypeCode.BLOB: _from_blob,
    TypeCode.UUID: _from_s("uuid", uuid.UUID),
    TypeCode.TIMEUUID: _from_s("timeuuid", uuid.UUID),
    TypeCode.INET: _from_s("inet", _parse_inet),
    TypeCode.DURATION: _from_s("duration", parse_duration),
    **{code: _from_int_attr(code) for code in _INT_RANGES},
}


def cql_sort_key(t: CqlType) -> Callable[[Any], Any] | None:
    """A sort key putting values of `t` in CQL order; None when Python's own order already is
    (text: code point order = UTF-8 byte order; integers)."""
    if type(t) is NativeType and (
        t.code in TEXT_CODES or t.code in INTEGER_CODES or t.code == TypeCode.VARINT
    ):
        return None
    from translators import ordered_bytes

    return ordered_bytes.bytecomparable_encoder(t)


def _element_from(t: CqlType, a: Any) -> Any:
    if not isinstance(a, dict):
        raise ValueError(f"collection element {a!r} is not an attribute value")
    if "NULL" in a:
        return None
    return _from_attr(t, a)


def _list_from(t: ListType | VectorType, a: Attribute) -> Any:
    items = _one(a, "L", t.cql())
    et = t.element
    return [_element_from(et, x) for x in items]


def _vector_from(t: VectorType, a: Attribute) -> Any:
    out = _list_from(t, a)
    if len(out) != t.dimension:
        raise ValueError(f"{t.cql()} attribute has {len(out)} elements")
    return out


def _set_from(t: SetType, a: Attribute) -> Any:
    et = t.element
    if "SS" in a:
        parse = from_text
        out = [parse(et, s) for s in a["SS"]]
    elif "NS" in a:
        out = [_from_attr(et, {"N": s}) for s in a["NS"]]
    elif "BS" in a:
        out = [_from_attr(et, {"B": b}) for b in a["BS"]]
    elif "L" in a:
        out = [_element_from(et, x) for x in a["L"]]
    else:
        raise _bad(a, t.cql())
    key = cql_sort_key(et)
    out.sort(key=key)
    return out


def _map_from(t: MapType, a: Attribute) -> Any:
    m = _one(a, "M", t.cql())
    kt, vt = t.key, t.value
    text_keys = type(kt) is NativeType and kt.code in TEXT_CODES
    pairs = []
    for name, x in m.items():
        k = name if text_keys and name[:1] != "\\" else parse_key_text(kt, name)
        pairs.append((k, _element_from(vt, x)))
    key = cql_sort_key(kt)
    if key is None:
        pairs.sort(key=lambda p: p[0])
    else:
        pairs.sort(key=lambda p: key(p[0]))
    return pairs_to_map(pairs)


def pairs_to_map(pairs: list[tuple[Any, Any]]) -> Any:
    """A dict, or the pairs themselves when keys are unhashable (as the wire codec returns them)
    or collide in Python while distinct in CQL (0.0 and -0.0)."""
    try:
        d = dict(pairs)
    except TypeError:
        return pairs
    return d if len(d) == len(pairs) else pairs


def _tuple_from(t: TupleType, a: Attribute) -> Any:
    items = _one(a, "L", t.cql())
    types = t.elements
    if len(items) > len(types):
        raise ValueError(f"{t.cql()} attribute has {len(items)} elements")
    out = [_element_from(et, x) for et, x in zip(types, items, strict=False)]
    out.extend([None] * (len(types) - len(out)))
    return tuple(out)


def _udt_from(t: UDTType, a: Attribute) -> Any:
    m = _one(a, "M", t.cql())
    return {name: (None if (x := m.get(name)) is None else _element_from(ft, x)) for name, ft in t.fields}


def _custom_from(t: CustomType, a: Attribute) -> Any:
    return _from_blob(a)


_COMPLEX_FROM: dict[type, Callable[[Any, Attribute], Any]] = {
    ListType: _list_from,
    SetType: _set_from,
    MapType: _map_from,
    TupleType: _tuple_from,
    UDTType: _udt_from,
    VectorType: _vector_from,
    CustomType: _custom_from,
}


# --- item size ---------------------------------------------------------------------------------

MAX_ITEM_SIZE = 400 * 1024


def number_size(text: str) -> int:
    """Bytes DynamoDB counts for a number: 1 per two significant digits, plus 1."""
    s = text.lstrip("+-")
    e = s.find("E")
    if e < 0:
        e = s.find("e")
    if e >= 0:
        s = s[:e]
    n = len(s.replace(".", "").strip("0")) or 1
    return (n + 1) // 2 + 1


def attribute_size(a: Attribute) -> int:
    """Bytes an attribute value counts for (without its name), per the DynamoDB item size rules."""
    if "S" in a:
        return _utf8_len(a["S"])
    if "N" in a:
        return number_size(a["N"])
    if "B" in a:
        return _binary_len(a["B"])
    if "BOOL" in a or "NULL" in a:
        return 1
    if "L" in a:
        return 3 + sum(1 + attribute_size(x) for x in a["L"])
    if "M" in a:
        return 3 + sum(1 + _utf8_len(k) + attribute_size(x) for k, x in a["M"].items())
    if "SS" in a:
        return sum(_utf8_len(s) for s in a["SS"])
    if "NS" in a:
        return sum(number_size(s) for s in a["NS"])
    if "BS" in a:
        return sum(_binary_len(b) for b in a["BS"])
    raise ValueError(f"not an attribute value: {a!r}")


def item_size(item: Mapping[str, Attribute]) -> int:
    """The size DynamoDB counts for an item (400 KB limit): names plus values; lists and maps
    add 3 bytes, and 1 byte per element."""
    return sum(_utf8_len(name) + attribute_size(a) for name, a in item.items())


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _binary_len(b: Any) -> int:
    if isinstance(b, str):  # JSON-level base64
        return len(_b64decode(b))
    return len(b)


# --- comparing a Cassandra row with a DynamoDB item ----------------------------------------------


def _canon(t: CqlType, v: Any) -> Any:
    """A hashable form of `v` in which equal CQL values are equal (exactly: float bits, decimal
    scale) and sets/maps ignore order."""
    if v is None:
        return None
    if type(t) is NativeType:
        code = t.code
        if code in INTEGER_CODES:
            return int_value(v, code)
        if code == TypeCode.FLOAT:
            x = float32_of(v)
            return b"nan" if x != x else _F32.pack(x)
        if code == TypeCode.DOUBLE:
            x = double_value(v)
            return b"nan" if x != x else _F64.pack(x)
        if code == TypeCode.DECIMAL:
            sign, digits, exp = decimal_of(v).as_tuple()
            return (sign, digits, exp)
        if code in (TypeCode.UUID, TypeCode.TIMEUUID):
            return uuid.UUID(uuid_text(v)).int
        if code == TypeCode.INET:
            return inet_packed(v)
        if code == TypeCode.DURATION:
            return _duration_parts(v)
        if code == TypeCode.BLOB:
            return blob_value(v)
        if code == TypeCode.BOOLEAN:
            return bool_value(v)
        if code == TypeCode.VARINT:
            return varint_value(v)
        return v
    if isinstance(t, ListType | VectorType):
        return tuple(_canon(t.element, x) for x in items_of(v, t.cql()))
    if isinstance(t, SetType):
        items = items_of(v, "set")
        if type(t.element) is NativeType and t.element.code == TypeCode.DECIMAL:
            items = list(dict.fromkeys(decimal_of(x) for x in items))  # one element per value, as in _set_to
        return frozenset(_canon(t.element, x) for x in items)
    if isinstance(t, MapType):
        return frozenset((_canon(t.key, k), _canon(t.value, x)) for k, x in map_pairs(v))
    if isinstance(t, TupleType):
        n = len(v)
        return tuple(_canon(et, v[i]) if i < n else None for i, et in enumerate(t.elements))
    if isinstance(t, UDTType):
        if isinstance(v, Mapping):
            return tuple(_canon(ft, v.get(name)) for name, ft in t.fields)
        n = len(v)
        return tuple(_canon(ft, v[i]) if i < n else None for i, (_, ft) in enumerate(t.fields))
    if isinstance(t, CustomType):
        return blob_value(v)
    raise TypeError(f"cannot compare values of type {t!r}")


def _column_canon(t: CqlType, v: Any) -> Any:
    """As _canon, with the column-level rule that an empty non-frozen collection is null."""
    if v is None:
        return None
    if isinstance(t, ListType | SetType | MapType) and not t.frozen and len(v) == 0:
        return None
    c = _canon(t, v)
    if isinstance(t, UDTType) and not t.frozen and all(x is None for x in c):
        return None
    return c


def values_equal(t: CqlType, a: object, b: object) -> bool:
    """Column values equal as Cassandra would store them: floats compared as float32/float64 bit
    patterns (-0.0 != 0.0, NaN == NaN), decimals by value and scale, sets and maps in any order,
    an empty non-frozen collection equal to null."""
    return bool(_column_canon(t, a) == _column_canon(t, b))


def diff_row(
    columns: Mapping[str, CqlType], row: Mapping[str, object], item_attrs: Mapping[str, Attribute]
) -> list[str]:
    """Differences between a Cassandra row and a DynamoDB item, one line per column, in column
    order; empty when they hold the same values. Only the given columns are compared (items carry
    key, timestamp and TTL attributes besides)."""
    out: list[str] = []
    for name, t in columns.items():
        expected = row.get(name)
        attr = item_attrs.get(name)
        try:
            actual = from_attribute(t, attr)
        except (ValueError, TypeError, KeyError) as e:
            out.append(f"{name}: DynamoDB attribute {attr!r} is not a valid {t.cql()} value ({e})")
            continue
        try:
            same = values_equal(t, expected, actual)
        except (ValueError, TypeError) as e:
            out.append(f"{name}: Cassandra value {expected!r} is not a valid {t.cql()} value ({e})")
            continue
        if same:
            continue
        if _column_canon(t, expected) is None:
            out.append(f"{name}: null in Cassandra, {actual!r} in DynamoDB")
        elif attr is None or _column_canon(t, actual) is None:
            out.append(f"{name}: {expected!r} in Cassandra, missing in DynamoDB")
        else:
            out.append(f"{name}: {expected!r} in Cassandra, {actual!r} in DynamoDB")
    return out
