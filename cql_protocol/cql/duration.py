"""Duration literals (``1h30m``, ``P1DT2H``, ``P2W``, ``P0001-02-03T04:05:06``), as Cassandra's Duration.from."""

from __future__ import annotations

import re

from ..errors import InvalidRequest
from ..types import Duration

_INT32_MAX = (1 << 31) - 1
_INT64_MAX = (1 << 63) - 1

_NANOS_PER_MICRO = 1_000
_NANOS_PER_MILLI = 1_000_000
_NANOS_PER_SECOND = 1_000_000_000
_NANOS_PER_MINUTE = 60 * _NANOS_PER_SECOND
_NANOS_PER_HOUR = 60 * _NANOS_PER_MINUTE

# Case-insensitive units, but the micro sign only as itself (ignore-case would let U+03BC in).
_UNITS_RE = re.compile(r"(\d+)((?i:mo|ms|us|ns|y|w|d|h|m|s)|\u00b5[sS])")
_ISO_RE = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_ISO_WEEK_RE = re.compile(r"P(\d+)W")
_ISO_ALT_RE = re.compile(r"P(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})")

# unit -> (order index, unit name, months, days, nanoseconds per unit)
_UNITS: dict[str, tuple[int, str, int, int, int]] = {
    "y": (1, "years", 12, 0, 0),
    "mo": (2, "months", 1, 0, 0),
    "w": (3, "weeks", 0, 7, 0),
    "d": (4, "days", 0, 1, 0),
    "h": (5, "hours", 0, 0, _NANOS_PER_HOUR),
    "m": (6, "minutes", 0, 0, _NANOS_PER_MINUTE),
    "s": (7, "seconds", 0, 0, _NANOS_PER_SECOND),
    "ms": (8, "milliseconds", 0, 0, _NANOS_PER_MILLI),
    "us": (9, "microseconds", 0, 0, _NANOS_PER_MICRO),
    "\u00b5s": (9, "microseconds", 0, 0, _NANOS_PER_MICRO),
    "ns": (10, "nanoseconds", 0, 0, 1),
}


def parse_duration(text: str) -> Duration:
    """Parses a duration literal. Raises InvalidRequest on overflow or misordered units."""
    negative = text.startswith("-")
    source = text[1:] if negative else text
    parts = _iso_parts(text, source) if source.startswith("P") else _standard_parts(text, source)
    months = days = nanos = 0
    current = 0
    for unit, amount in parts:
        order, name, per_month, per_day, per_nano = _UNITS[unit]
        if order == current:
            raise InvalidRequest(f"Invalid duration. The {name} are specified multiple times")
        if order < current:
            raise InvalidRequest(f"Invalid duration. The {_name_of(current)} should be after {name}")
        current = order
        months += amount * per_month
        days += amount * per_day
        nanos += amount * per_nano
    if months > _INT32_MAX:
        raise InvalidRequest(
            f"Invalid duration. The total number of months must be less or equal to {_INT32_MAX}"
        )
    if days > _INT32_MAX:
        raise InvalidRequest(
            f"Invalid duration. The total number of days must be less or equal to {_INT32_MAX}"
        )
    if nanos > _INT64_MAX:
        raise InvalidRequest(
            f"Invalid duration. The total number of nanoseconds must be less or equal to {_INT64_MAX}"
        )
    if negative:
        return Duration(-months, -days, -nanos)
    return Duration(months, days, nanos)


def _name_of(order: int) -> str:
    return next(name for o, name, *_ in _UNITS.values() if o == order)


def _unconvertible(text: str) -> InvalidRequest:
    return InvalidRequest(f"Unable to convert '{text}' to a duration")


def _standard_parts(text: str, source: str) -> list[tuple[str, int]]:
    parts: list[tuple[str, int]] = []
    pos = 0
    for m in _UNITS_RE.finditer(source):
        if m.start() != pos:
            raise _unconvertible(text)
        parts.append((m.group(2).lower(), int(m.group(1))))
        pos = m.end()
    if pos != len(source) or not parts:
        raise _unconvertible(text)
    return parts


def _iso_parts(text: str, source: str) -> list[tuple[str, int]]:
    m = _ISO_WEEK_RE.fullmatch(source)
    if m:
        return [("w", int(m.group(1)))]
    m = _ISO_ALT_RE.fullmatch(source) or _ISO_RE.fullmatch(source)
    if not m or source in ("P", "PT") or source.endswith("T"):
        raise _unconvertible(text)
    units = ("y", "mo", "d", "h", "m", "s")
    return [(u, int(g)) for u, g in zip(units, m.groups(), strict=True) if g is not None]
