"""Native CQL functions and arithmetic (Java semantics: integers wrap, division truncates, floats
follow IEEE)."""

from __future__ import annotations

import decimal
import math
import uuid
from collections.abc import Callable
from typing import Any

from cql_protocol.types import NATIVE_NAMES, CqlType, native
from translators.statements.common import _C, _INT_BITS, TEXT, _identity
from translators.statements.literals import _f32

_NONDETERMINISTIC = frozenset({"now", "uuid", "currenttimestamp", "currentdate", "currenttime", "currenttimeuuid"})
_UUID_EPOCH_MS = 12219292800000  # 1582-10-15 → 1970-01-01


def _timeuuid_ms(u: Any) -> int:
    if not isinstance(u, uuid.UUID) or u.version != 1:
        raise ValueError(f"{u} is not a time-based UUID")
    return u.time // 10_000 - _UUID_EPOCH_MS


def _ms_to_days(ms: int) -> int:
    secs = ms // 1000  # Duration.ofMillis(ms).toDays(): floored seconds, then truncated days
    return int(secs / 86400) if secs < 0 else secs // 86400


# name → ((argument code, return code, implementation), ...)
_TIME_FUNCTIONS: dict[str, tuple[tuple[int, int, Callable[[Any], Any]], ...]] = {
    "totimestamp": ((_C.TIMEUUID, _C.TIMESTAMP, _timeuuid_ms), (_C.DATE, _C.TIMESTAMP, lambda d: d * 86_400_000)),
    "todate": ((_C.TIMEUUID, _C.DATE, lambda u: _ms_to_days(_timeuuid_ms(u))), (_C.TIMESTAMP, _C.DATE, _ms_to_days)),
    "tounixtimestamp": ((_C.TIMEUUID, _C.BIGINT, _timeuuid_ms), (_C.TIMESTAMP, _C.BIGINT, _identity),
                        (_C.DATE, _C.BIGINT, lambda d: d * 86_400_000)),
    "dateof": ((_C.TIMEUUID, _C.TIMESTAMP, _timeuuid_ms),),
    "unixtimestampof": ((_C.TIMEUUID, _C.BIGINT, _timeuuid_ms),),
}

_TYPE_BY_NAME: dict[str, CqlType] = {name: native(code) for code, name in NATIVE_NAMES.items()}
_TYPE_BY_NAME["varchar"] = TEXT


def _blob_function(name: str) -> tuple[CqlType, bool] | None:
    """(type, to_blob) for ``<type>AsBlob`` / ``blobAs<type>``."""
    if name.endswith("asblob") and name[:-6] in _TYPE_BY_NAME and name != "blobasblob":
        return _TYPE_BY_NAME[name[:-6]], True
    if name.startswith("blobas") and name[6:] in _TYPE_BY_NAME and name != "blobasblob":
        return _TYPE_BY_NAME[name[6:]], False
    return None


_DECIMAL128 = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, Emax=999_999_999, Emin=-999_999_999)


def _wrap(code: int, n: int) -> int:
    bits = _INT_BITS.get(code)
    if bits is None:
        return n
    n &= (1 << bits) - 1
    return n - (1 << bits) if n >> (bits - 1) else n


def _negate(code: int, v: Any) -> Any:
    if code == _C.FLOAT:
        return _f32(-v)
    return _wrap(code, -v) if isinstance(v, int) else -v


def _binary(code: int, op: str, a: Any, b: Any) -> Any:
    if code in _INT_BITS or code == _C.VARINT:
        if op in ("/", "%"):
            if b == 0:
                raise ZeroDivisionError
            q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
            r = q if op == "/" else a - b * q
        else:
            r = a + b if op == "+" else a - b if op == "-" else a * b
        return _wrap(code, r)
    if code == _C.DECIMAL:
        ctx = _DECIMAL128
        if op in ("/", "%") and b == 0:
            raise ZeroDivisionError
        return {"+": ctx.add, "-": ctx.subtract, "*": ctx.multiply, "/": ctx.divide,
                "%": ctx.remainder}[op](a, b)
    x, y = float(a), float(b)
    if op == "+":
        r_f = x + y
    elif op == "-":
        r_f = x - y
    elif op == "*":
        r_f = x * y
    elif op == "/":
        r_f = x / y if y != 0 else (math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) *
                                     math.copysign(1.0, y))
    else:
        r_f = math.fmod(x, y) if y != 0 and not math.isinf(x) else math.nan
    return _f32(r_f) if code == _C.FLOAT else r_f
