"""Python values of CQL types, in the conventions of cql_protocol.types (timestamp = int ms, date =
int days, time = int ns, set = list, map = dict or list of pairs, UDT = dict, ...): the checks and
conversions of each type, durations, the shapes collection values come in, and equality of values
as Cassandra stores them."""

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
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

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
)

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
    """Reads back any duration `duration_text` writes (ValueError otherwise). Not the CQL literal
    parser (cql_protocol.cql.duration): that one follows Cassandra's checks, which refuse the edges
    of the range a stored duration may hold (-2^31 months, -2^31 days)."""
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



def items_of(v: Any, what: str) -> Sequence[Any]:
    if isinstance(v, list | tuple):
        return v
    if isinstance(v, str | bytes | bytearray | memoryview | Mapping) or not isinstance(v, Iterable):
        raise TypeError(f"{what} value must be a list, tuple or set, got {type(v).__name__}")
    return list(v)


def map_pairs(v: Any) -> Iterable[Any]:
    if isinstance(v, Mapping):
        return v.items()
    if isinstance(v, list | tuple):
        return v
    raise TypeError(f"map value must be a mapping or a list of pairs, got {type(v).__name__}")



def pairs_to_map(pairs: list[tuple[Any, Any]]) -> Any:
    """A dict, or the pairs themselves when keys are unhashable (as the wire codec returns them)
    or collide in Python while distinct in CQL (0.0 and -0.0)."""
    try:
        d = dict(pairs)
    except TypeError:
        return pairs
    return d if len(d) == len(pairs) else pairs


def _b64decode(s: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except binascii.Error as e:
        raise ValueError(f"invalid base64 {s!r}: {e}") from None


# --- equality ----------------------------------------------------------------------------------


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
