"""CQL constants → values, as Cassandra's fromString of each type reads them."""

from __future__ import annotations

import decimal
import ipaddress
import math
import re
import socket
import struct
import uuid
from decimal import Decimal
from typing import Any

from cql_protocol.cql.ast import Constant, ConstantKind
from cql_protocol.cql.duration import parse_duration
from translators.statements.common import _C, _INT64, _INT_BITS


class _Nondeterministic(Exception):
    pass


class _Unsupported(Exception):
    pass


_INT_RANGE = {c: (-(1 << (b - 1)), (1 << (b - 1)) - 1) for c, b in _INT_BITS.items()}
_INT_NAMES = {_C.TINYINT: "tinyint", _C.SMALLINT: "smallint", _C.INT: "int", _C.BIGINT: "long", _C.COUNTER: "long"}


def _literal_value(c: Constant, code: int) -> Any:
    text = c.text
    kind = c.kind
    if kind is ConstantKind.STRING:
        return _from_string(code, str(c.value))
    if kind is ConstantKind.BOOLEAN:
        return bool(c.value)
    if kind is ConstantKind.HEX:
        assert isinstance(c.value, bytes)
        return c.value
    if kind is ConstantKind.DURATION:
        return c.value
    if kind is ConstantKind.UUID:
        u = c.value
        assert isinstance(u, uuid.UUID)
        if code == _C.TIMEUUID and u.version != 1:
            raise ValueError(f"Unsupported UUID version {u.version} for timeuuid: {u}")
        return u
    if kind is ConstantKind.FLOAT:
        return _number(code, text, float(c.value))  # type: ignore[arg-type]
    # INTEGER
    n = int(c.value)  # type: ignore[call-overload]
    if code in _INT_RANGE:
        lo, hi = _INT_RANGE[code]
        if not lo <= n <= hi:
            raise ValueError(f"Unable to make {_INT_NAMES[code]} from '{text}'")
        return n
    if code == _C.VARINT:
        return n
    if code in (_C.DECIMAL, _C.DOUBLE, _C.FLOAT):
        return _number(code, text, float(text))  # a string overflows to inf, as Java parses it
    if code == _C.TIMESTAMP:
        if not _INT64[0] <= n <= _INT64[1]:
            raise ValueError(f"Unable to make long (for date) from: '{text}'")
        return n
    if code == _C.DATE:
        return _raw_date(text)
    if code == _C.TIME:
        return _time_of(text)
    if code == _C.DURATION:
        return parse_duration(text)
    raise ValueError(f"Invalid INTEGER constant ({text})")  # pragma: no cover - filtered by _LITERAL_TARGETS


def _number(code: int, text: str, approx: float) -> Any:
    if code == _C.DECIMAL:
        try:
            d = Decimal(text)
        except decimal.InvalidOperation:
            d = Decimal("NaN")
        if not d.is_finite():
            raise ValueError(f"Unable to make BigDecimal from '{text}'")
        return d
    if code == _C.FLOAT:
        return _f32(approx)
    return approx


def _f32(x: float) -> float:
    """`x` rounded to a 32-bit float, as Java's float arithmetic and parsing give it."""
    try:
        return float(struct.unpack(">f", struct.pack(">f", x))[0])
    except (OverflowError, struct.error):
        return math.copysign(math.inf, x)


def _from_string(code: int, s: str) -> Any:
    if code == _C.VARCHAR:
        return s
    if code == _C.ASCII:
        if not s.isascii():
            raise ValueError(f"Invalid ASCII character in string literal '{s}'")
        return s
    if code == _C.INET:
        return _inet(s)
    if code == _C.TIMESTAMP:
        return _timestamp_of(s)
    if code == _C.DATE:
        return _date_of(s)
    if code == _C.TIME:
        return _time_of(s)
    raise ValueError(f"Invalid STRING constant ({s})")  # pragma: no cover - filtered by _LITERAL_TARGETS


def _inet(s: str) -> str:
    text = s[1:-1] if s.startswith("[") and s.endswith("]") else s
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:.]+", text) is None:
            raise _Unsupported(f"host name '{s}' as an inet value (Cassandra resolves it)") from None
        raise ValueError(f"Unable to make inet address from '{s}'") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # Java reads ::ffff:a.b.c.d as an IPv4 address
    family = socket.AF_INET if addr.version == 4 else socket.AF_INET6
    return socket.inet_ntop(family, addr.packed)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date, any year."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if m in (4, 6, 9, 11) else 31


_DATE_RE = re.compile(r"(-?\d{4}|[+-]\d{5,10})-(\d{2})-(\d{2})")
_INT32 = (-(1 << 31), (1 << 31) - 1)


def _date_of(s: str) -> int:
    if re.fullmatch(r"-?\d+", s):
        return _raw_date(s)
    m = _DATE_RE.fullmatch(s)
    if m is None:
        raise ValueError(f"Unable to coerce '{s}' to a formatted date (long)")
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo)):
        raise ValueError(f"Unable to coerce '{s}' to a formatted date (long)")
    days = _days_from_civil(y, mo, d)
    if not _INT32[0] <= days <= _INT32[1]:
        raise ValueError(f"Input date {s} is out of the supported range")
    return days


def _raw_date(s: str) -> int:
    n = int(s)
    if not 0 <= n <= (1 << 32) - 1:
        raise ValueError(f"Unable to make unsigned int (for date) from: '{s}'")
    return n - (1 << 31)


_NANOS_PER_DAY = 86_400 * 1_000_000_000
_TIME_RE = re.compile(r"\s*(\d+):(\d+):(\d+)(?:\.(\d{1,9}))?\s*")


def _time_of(s: str) -> int:
    if re.fullmatch(r"-?\d+", s):
        n = int(s)
        if not 0 <= n < _NANOS_PER_DAY:
            raise ValueError(f"Unable to make long (for time) from: '{s}'")
        return n
    m = _TIME_RE.fullmatch(s)
    if m is None:
        raise ValueError(f"(TimeType) Unable to coerce '{s}' to a formatted time (long)")
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if h >= 24 or mi >= 60 or sec >= 60:
        raise ValueError(f"(TimeType) Unable to coerce '{s}' to a formatted time (long)")
    frac = (m.group(4) or "").ljust(9, "0")
    return ((h * 60 + mi) * 60 + sec) * 1_000_000_000 + int(frac or "0")


# Cassandra's TimestampSerializer patterns: date, optional ' '/'T' + HH:mm[:ss[.SSS]], optional zone
# (ISO 'X' attached, or ' ' + a general zone). The milliseconds field is an integer (".5" is 5 ms),
# as Java's SimpleDateFormat reads it.
_TS_RE = re.compile(
    r"(\d{1,9})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?"
    r"(?:(Z|[+-]\d{2}(?::?\d{2})?)| (\S+))?"
)
_GENERAL_ZONE = re.compile(r"(?:UTC|GMT|UT)|GMT([+-])(\d{1,2})(?::?(\d{2}))?|([+-])(\d{2})(\d{2})")


def _timestamp_of(s: str) -> int:
    if s.lower() == "now":
        raise _Nondeterministic("the timestamp 'now' is the coordinator's clock when Cassandra runs the statement, "
                                "so the same value cannot be written here; bind the value instead")
    if re.fullmatch(r"-?\d+", s):
        n = int(s)
        if not _INT64[0] <= n <= _INT64[1]:
            raise ValueError(f"Unable to make long (for date) from: '{s}'")
        return n
    bad = ValueError(f"Unable to coerce '{s}' to a formatted date (long)")
    m = _TS_RE.fullmatch(s)
    if m is None:
        raise bad
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    h, mi, sec = (int(g) if g else 0 for g in m.group(4, 5, 6))
    ms = int(m.group(7)) if m.group(7) else 0
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo) and h < 24 and mi < 60 and sec < 60 and ms < 1000):
        raise bad
    if y < 1583:
        raise _Unsupported(f"timestamp '{s}' before 1583 (Cassandra reads it in the Julian calendar)")
    offset = 0
    iso, general = m.group(8), m.group(9)
    if iso is not None and iso != "Z":
        sign = -1 if iso[0] == "-" else 1
        digits = iso[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + (int(digits[2:]) if len(digits) > 2 else 0))
    elif general is not None:
        z = _GENERAL_ZONE.fullmatch(general)
        if z is None:
            raise _Unsupported(f"time zone name '{general}' in timestamp '{s}'; give an offset such as +0000")
        if z.group(1):
            offset = (-1 if z.group(1) == "-" else 1) * (int(z.group(2)) * 60 + int(z.group(3) or 0))
        elif z.group(4):
            offset = (-1 if z.group(4) == "-" else 1) * (int(z.group(5)) * 60 + int(z.group(6)))
    days = _days_from_civil(y, mo, d)
    return ((days * 24 + h) * 60 + mi - offset) * 60_000 + sec * 1000 + ms
