"""Primary keys: CQL partition keys -> DynamoDB partition key, clustering keys -> sort key.

Partition key
    One column without an entity prefix keeps its own type: N for tinyint, smallint, int, bigint,
    counter, timestamp, date and time; B for blob (raw bytes) and for tuples, UDTs and frozen
    collections (canonical.canonical_bytes: their serialized form); S for everything else, in the canonical
    text of canonical.to_text (text as is, boolean "true"/"false", uuid canonical, inet canonical,
    varint/decimal/float/double as exact decimal text: N would lose big numbers, decimal scale,
    NaN, infinities and -0.0). Several columns, or an entity prefix: S = prefix followed by the
    components' canonical texts joined by "#", each with "\\" and "#" escaped by a backslash.
    The prefix is used verbatim, so give it its own delimiter ("cart#"). Cassandra tells partitions
    apart by their serialized bytes, and so do these encodings (decimal 1.0 and 1.00 differ).

Sort key, "plain" encoding
    One ASC clustering column of type text/ascii -> S, of tinyint..bigint/timestamp/date/time -> N.
    DynamoDB orders S by UTF-8 bytes and N numerically, which is CQL order for these types. No
    entity prefix; DynamoDB rejects an empty S in a key, so "" cannot be stored this way.

Sort key, "bytecomparable" encoding (B, after apache/cassandra ByteComparable.md)
    key       = prefix (0x40 component)* 0x38
    component = the ASC encoding of the value, every bit inverted for a DESC column
    Unsigned byte order of keys is CQL clustering order. A key of only the first k columns (a
    static row: k = 0) sorts before every key that extends it, since 0x38 < 0x40.
    The ASC encoding of each type is in translators.ordered_bytes.
    The separators 0x38/0x3F/0x40 and the bound bytes 0x20/0x60 lie in 0x10..0xEF, which keeps
    every component weakly prefix-free (ByteComparable.md properties 3 and 4).

Range queries (clustering_range, clustering_bounds, sort_key_condition)
    Supported: equality on the first k clustering columns, then =, <, <=, >, >= (one or two bounds)
    on column k+1. With P = prefix + components of the equalities and Q = P 0x40 enc(y):
      rows with c = y        BETWEEN Q 0x20 AND Q 0x60
      encoded above y        from Q 0x60; from Q 0x20 when y itself is included
      encoded below y        up to Q 0x20; up to Q 0x60 when y itself is included
      open side              P 0x40 (low) or P 0x41 (high)
    (for a DESC column "above" and "below" swap). No stored key equals a bound, so BETWEEN's
    inclusive ends are exact. A Query returns the rows in clustering order (ScanIndexForward=False
    reverses it). Entity prefixes sharing a partition must be prefix-free among themselves.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cql_protocol.types import (
    CqlType,
    CustomType,
    NativeType,
    TypeCode,
)
from translators import canonical, cql_values
from translators.cql_values import INTEGER_CODES, TEXT_CODES
from translators.ordered_bytes import _END, _INVERT, _NEXT, END, NEXT, Decoder, Encoder, _codec
from translators.values import Attribute, attr_bytes

BEFORE = b"\x20"
AFTER = b"\x60"
PAST = b"\x41"


# --- partition key -----------------------------------------------------------------------------


def partition_key_type(types: Sequence[CqlType], prefix: str = "") -> str:
    """The DynamoDB attribute type (S, N or B) encode_partition produces by default."""
    if len(types) == 1 and not prefix:
        t = types[0]
        if type(t) is NativeType:
            if t.code in INTEGER_CODES:
                return "N"
            return "B" if t.code == TypeCode.BLOB else "S"
        return "B"
    return "S"


def _escape_component(s: str) -> str:
    if "\\" in s:
        s = s.replace("\\", "\\\\")
    if "#" in s:
        s = s.replace("#", "\\#")
    return s


def _split_components(s: str) -> list[str]:
    if "\\" not in s:
        return s.split("#")
    parts: list[str] = []
    cur: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            if i + 1 == n or s[i + 1] not in "\\#":
                raise ValueError(f"invalid escape in partition key {s!r}")
            cur.append(s[i + 1])
            i += 2
        elif c == "#":
            parts.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    parts.append("".join(cur))
    return parts


def _single_bytes(t: CqlType, v: Any) -> bytes:
    if isinstance(t, CustomType) or (type(t) is NativeType and t.code == TypeCode.BLOB):
        return cql_values.blob_value(v)
    if type(t) is NativeType:
        return canonical.to_text(t, v).encode("utf-8")
    return canonical.canonical_bytes(t, v)


def encode_partition(
    types: Sequence[CqlType],
    values: Sequence[object],
    prefix: str = "",
    *,
    dynamodb_type: str | None = None,
) -> Attribute:
    """The partition key attribute for the partition key column values.

    `dynamodb_type` is the key attribute type the table was created with (default:
    partition_key_type). N is possible for one integer or varint column (up to 38 digits), B for
    one column of any type; anything else is S.
    """
    if not types or len(values) != len(types):
        raise ValueError(f"partition key takes {len(types)} values, got {len(values)}")
    for v in values:
        if v is None:
            raise ValueError("partition key values cannot be null")
    kind = dynamodb_type or partition_key_type(types, prefix)
    if len(types) == 1 and not prefix:
        t, v = types[0], values[0]
        if kind == "S":
            s = canonical.to_text(t, v)
            if not s:
                raise ValueError("a partition key cannot be empty")
            return {"S": s}
        if kind == "N":
            if type(t) is NativeType and t.code in INTEGER_CODES:
                return {"N": str(cql_values.int_value(v, t.code))}
            if type(t) is NativeType and t.code == TypeCode.VARINT:
                n = cql_values.varint_value(v)
                if len(str(abs(n))) > 38:
                    raise ValueError(f"varint {n} has more than 38 digits: it cannot be an N key")
                return {"N": str(n)}
            raise ValueError(f"a {t.cql()} partition key cannot be stored as N")
        if kind == "B":
            b = _single_bytes(t, v)
            if not b:
                raise ValueError("a partition key cannot be empty")
            return {"B": b}
        raise ValueError(f"unknown DynamoDB key type {kind!r}")
    if kind != "S":
        raise ValueError("a composite or prefixed partition key is stored as S")
    s = prefix + "#".join(
        [_escape_component(canonical.to_text(t, v)) for t, v in zip(types, values, strict=True)]
    )
    if not s:
        raise ValueError("a partition key cannot be empty")
    return {"S": s}


def decode_partition(types: Sequence[CqlType], attr: Attribute, prefix: str = "") -> tuple[Any, ...]:
    """The partition key column values of a partition key attribute (inverse of encode_partition)."""
    if len(types) == 1 and not prefix:
        t = types[0]
        if "S" in attr:
            return (canonical.from_text(t, attr["S"]),)
        if "N" in attr:
            return (canonical.from_text(t, attr["N"]),)
        if "B" in attr:
            b = attr_bytes(attr["B"])
            if isinstance(t, CustomType) or (type(t) is NativeType and t.code == TypeCode.BLOB):
                return (b,)
            if type(t) is NativeType:
                return (canonical.from_text(t, b.decode("utf-8")),)
            return (canonical.from_canonical_bytes(t, b),)
        raise ValueError(f"not a partition key attribute: {attr!r}")
    s = attr.get("S")
    if not isinstance(s, str) or not s.startswith(prefix):
        raise ValueError(f"partition key {attr!r} does not start with {prefix!r}")
    parts = _split_components(s[len(prefix) :])
    if len(parts) != len(types):
        raise ValueError(f"partition key {s!r} has {len(parts)} components, expected {len(types)}")
    return tuple(canonical.from_text(t, p) for t, p in zip(types, parts, strict=True))


# --- sort key ----------------------------------------------------------------------------------


def _prefix_bytes(prefix: bytes | str) -> bytes:
    return prefix.encode("utf-8") if isinstance(prefix, str) else bytes(prefix)


def _desc_flags(orders: Sequence[str]) -> tuple[bool, ...]:
    out = []
    for o in orders:
        lo = o.lower()
        if lo not in ("asc", "desc"):
            raise ValueError(f"clustering order must be 'asc' or 'desc', got {o!r}")
        out.append(lo == "desc")
    return tuple(out)


@functools.lru_cache(maxsize=512)
def _clustering_codecs(
    types: tuple[CqlType, ...], orders: tuple[str, ...]
) -> tuple[tuple[Encoder, Decoder, bool], ...]:
    if len(types) != len(orders):
        raise ValueError(f"{len(types)} clustering columns but {len(orders)} orders")
    return tuple((*_codec(t), desc) for t, desc in zip(types, _desc_flags(orders), strict=True))


def _components(codecs: Sequence[tuple[Encoder, Decoder, bool]], values: Sequence[object]) -> list[bytes]:
    if len(values) > len(codecs):
        raise ValueError(f"{len(values)} values for {len(codecs)} clustering columns")
    parts = []
    for (enc, _, desc), v in zip(codecs, values, strict=False):
        if v is None:
            raise ValueError("clustering values cannot be null")
        b = enc(v)
        parts.append(NEXT)
        parts.append(b.translate(_INVERT) if desc else b)
    return parts


def _plain_kind(types: Sequence[CqlType], orders: Sequence[str], prefix: bytes | str) -> str:
    if len(types) != 1 or len(orders) != 1 or _desc_flags(orders)[0]:
        raise ValueError("the plain sort key encoding takes exactly one ASC clustering column")
    if prefix:
        raise ValueError("the plain sort key encoding takes no entity prefix: use bytecomparable")
    t = types[0]
    if type(t) is NativeType:
        if t.code in TEXT_CODES:
            return "S"
        if t.code in INTEGER_CODES and t.code != TypeCode.COUNTER:
            return "N"
    raise ValueError(f"a {t.cql()} clustering column needs the bytecomparable sort key encoding")


def sort_key_type(types: Sequence[CqlType], orders: Sequence[str], encoding: str = "bytecomparable") -> str:
    """The DynamoDB attribute type of the sort key: B, or S/N for the plain encoding."""
    if encoding == "plain":
        return _plain_kind(types, orders, b"")
    if encoding != "bytecomparable":
        raise ValueError(f"unknown sort key encoding {encoding!r}")
    return "B"


def _plain_value(t: CqlType, kind: str, v: Any) -> Attribute:
    if v is None:
        raise ValueError("clustering values cannot be null")
    if kind == "S":
        s = cql_values.text_value(v) if t.code == TypeCode.VARCHAR else cql_values.ascii_value(v)
        if not s:
            raise ValueError("an empty text cannot be a plain sort key: use bytecomparable")
        return {"S": s}
    return {"N": str(cql_values.int_value(v, t.code))}


def encode_clustering(
    types: Sequence[CqlType],
    orders: Sequence[str],
    values: Sequence[object],
    prefix: bytes | str = b"",
    encoding: str = "bytecomparable",
) -> Attribute:
    """The sort key attribute for clustering values. With the bytecomparable encoding `values`
    may be a prefix of the clustering columns (none: a static row); it sorts before every key
    that extends it."""
    if encoding == "plain":
        kind = _plain_kind(types, orders, prefix)
        if len(values) != 1:
            raise ValueError("the plain sort key encoding takes exactly one value")
        return _plain_value(types[0], kind, values[0])
    if encoding != "bytecomparable":
        raise ValueError(f"unknown sort key encoding {encoding!r}")
    codecs = _clustering_codecs(tuple(types), tuple(orders))
    parts = _components(codecs, values)
    return {"B": b"".join([_prefix_bytes(prefix), *parts, END])}


def decode_clustering(
    types: Sequence[CqlType],
    orders: Sequence[str],
    attr: Attribute,
    prefix: bytes | str = b"",
    encoding: str = "bytecomparable",
) -> tuple[Any, ...]:
    """The clustering values of a sort key attribute (fewer than the columns for a prefix key)."""
    if encoding == "plain":
        kind = _plain_kind(types, orders, prefix)
        if kind == "S":
            return (attr["S"],) if "S" in attr else _bad_sort_key(attr)
        if "N" not in attr:
            _bad_sort_key(attr)
        return (canonical.from_text(types[0], attr["N"]),)
    if encoding != "bytecomparable":
        raise ValueError(f"unknown sort key encoding {encoding!r}")
    if "B" not in attr:
        _bad_sort_key(attr)
    data = attr_bytes(attr["B"])
    p = _prefix_bytes(prefix)
    if not data.startswith(p):
        raise ValueError(f"sort key {data!r} does not start with {p!r}")
    codecs = _clustering_codecs(tuple(types), tuple(orders))
    pos = len(p)
    out = []
    try:
        for _, dec, desc in codecs:
            b = data[pos]
            if b == _END:
                break
            if b != _NEXT:
                raise ValueError(f"invalid sort key byte {b:#04x} at {pos}")
            pos += 1
            if desc:
                value, used = dec(data[pos:].translate(_INVERT), 0)
                pos += used
            else:
                value, pos = dec(data, pos)
            out.append(value)
        if data[pos] != _END or pos != len(data) - 1:
            raise ValueError(f"sort key {data!r} does not end after its components")
    except (IndexError, struct.error, OverflowError):
        raise ValueError(f"truncated sort key {data!r}") from None
    return tuple(out)


def _bad_sort_key(attr: Attribute) -> Any:
    raise ValueError(f"not a sort key attribute of the expected type: {attr!r}")


Bound = tuple[object, bool]  # (value, inclusive)

_OPS = ("=", "<", "<=", ">", ">=")


def clustering_range(
    types: Sequence[CqlType],
    orders: Sequence[str],
    eq_values: Sequence[object],
    lower: Bound | None = None,
    upper: Bound | None = None,
    prefix: bytes | str = b"",
) -> tuple[Attribute, Attribute] | None:
    """Inclusive (low, high) bytecomparable sort key bounds for: the first len(eq_values) clustering
    columns equal to eq_values, and the next column within `lower`/`upper` (CQL value order,
    whatever the column's clustering order). None when no row can match (DynamoDB rejects a
    BETWEEN whose low end is above its high end)."""
    codecs = _clustering_codecs(tuple(types), tuple(orders))
    base = b"".join([_prefix_bytes(prefix), *_components(codecs, eq_values)])
    if lower is None and upper is None:
        return {"B": base + BEFORE}, {"B": base + AFTER}
    col = len(eq_values)
    if col >= len(codecs):
        raise ValueError("a range needs a clustering column after the equalities")
    enc, _, desc = codecs[col]
    lo = base + NEXT
    hi = base + PAST
    for bound, is_lower in ((lower, True), (upper, False)):
        if bound is None:
            continue
        value, inclusive = bound
        if value is None:
            raise ValueError("a clustering bound cannot be null")
        comp = enc(value)
        q = base + NEXT + (comp.translate(_INVERT) if desc else comp)
        if is_lower != desc:  # the bound limits encoded keys from below
            lo = max(lo, q + (BEFORE if inclusive else AFTER))
        else:
            hi = min(hi, q + (AFTER if inclusive else BEFORE))
    if lo >= hi:
        return None
    return {"B": lo}, {"B": hi}


def clustering_bounds(
    types: Sequence[CqlType],
    orders: Sequence[str],
    prefix_values: Sequence[object],
    op: str,
    prefix: bytes | str = b"",
) -> tuple[Attribute, Attribute]:
    """Inclusive (low, high) bytecomparable bounds for `c1 = v1 AND ... AND ck op vk`, where
    prefix_values = (v1, ..., vk) and op is one of =, <, <=, >, >=. Use them as
    `sk BETWEEN :low AND :high`: the Query returns exactly those rows, in clustering order."""
    if op not in _OPS:
        raise ValueError(f"unsupported clustering operator {op!r}")
    if not prefix_values:
        raise ValueError("clustering_bounds needs at least one value")
    if op == "=":
        r = clustering_range(types, orders, prefix_values, prefix=prefix)
    else:
        *eq, last = prefix_values
        bound: Bound = (last, op in ("<=", ">="))
        if op in (">", ">="):
            r = clustering_range(types, orders, eq, lower=bound, prefix=prefix)
        else:
            r = clustering_range(types, orders, eq, upper=bound, prefix=prefix)
    assert r is not None  # a single bound never empties the range
    return r


@dataclass(frozen=True, slots=True)
class SortKeyCondition:
    """One KeyConditionExpression term on the sort key.

    op: "=", "<", "<=", ">", ">=" (one value) or "BETWEEN" (two, inclusive). `drop` lists sort key
    values whose items lie outside the CQL range and must be skipped (an exclusive upper end of a
    plain text key that also has a lower end). `empty`: no row can match, skip the Query.
    """

    op: str
    values: tuple[Attribute, ...] = ()
    drop: tuple[Attribute, ...] = ()
    empty: bool = False

    def expression(self, name: str = "#sk", placeholder: str = ":sk") -> tuple[str, dict[str, Attribute]]:
        """(expression text, ExpressionAttributeValues) for this condition."""
        if self.op == "BETWEEN":
            lo, hi = f"{placeholder}lo", f"{placeholder}hi"
            return f"{name} BETWEEN {lo} AND {hi}", {lo: self.values[0], hi: self.values[1]}
        return f"{name} {self.op} {placeholder}", {placeholder: self.values[0]}


_EMPTY = SortKeyCondition("=", empty=True)


def sort_key_condition(
    types: Sequence[CqlType],
    orders: Sequence[str],
    eq_values: Sequence[object] = (),
    lower: Bound | None = None,
    upper: Bound | None = None,
    prefix: bytes | str = b"",
    encoding: str = "bytecomparable",
) -> SortKeyCondition | None:
    """The sort key condition for a clustering restriction (see clustering_range); None when the
    whole partition is wanted and no condition is needed."""
    if encoding == "plain":
        return _plain_condition(types, orders, eq_values, lower, upper, prefix)
    if encoding != "bytecomparable":
        raise ValueError(f"unknown sort key encoding {encoding!r}")
    if not eq_values and lower is None and upper is None and not prefix:
        return None
    r = clustering_range(types, orders, eq_values, lower, upper, prefix)
    if r is None:
        return _EMPTY
    return SortKeyCondition("BETWEEN", r)


def _plain_condition(
    types: Sequence[CqlType],
    orders: Sequence[str],
    eq_values: Sequence[object],
    lower: Bound | None,
    upper: Bound | None,
    prefix: bytes | str,
) -> SortKeyCondition | None:
    kind = _plain_kind(types, orders, prefix)
    t = types[0]
    if eq_values:
        if len(eq_values) != 1 or lower is not None or upper is not None:
            raise ValueError("the plain encoding has one clustering column")
        v = eq_values[0]
        if kind == "S" and v == "":
            return _EMPTY
        return SortKeyCondition("=", (_plain_value(t, kind, v),))
    if kind == "N":
        lo = hi = None
        if lower is not None:
            lo = cql_values.int_value(lower[0], t.code) + (0 if lower[1] else 1)
        if upper is not None:
            hi = cql_values.int_value(upper[0], t.code) - (0 if upper[1] else 1)
        if lo is not None and hi is not None:
            if lo > hi:
                return _EMPTY
            return SortKeyCondition("BETWEEN", ({"N": str(lo)}, {"N": str(hi)}))
        if lo is not None:
            return SortKeyCondition(">=", ({"N": str(lo)},))
        if hi is not None:
            return SortKeyCondition("<=", ({"N": str(hi)},))
        return None
    # Text: the successor of s in UTF-8 byte order is s + "\0"; a predecessor does not exist.
    slo: str | None = None
    shi: str | None = None
    hi_inclusive = True
    if lower is not None:
        s = cql_values.text_value(lower[0])
        slo = s if lower[1] else s + "\x00"
        if slo == "":
            slo = None
    if upper is not None:
        shi = cql_values.text_value(upper[0])
        hi_inclusive = upper[1]
        if shi == "":
            return _EMPTY
    if slo is not None and shi is not None:
        blo, bhi = slo.encode("utf-8"), shi.encode("utf-8")
        if blo > bhi or (blo == bhi and not hi_inclusive):
            return _EMPTY
        drop = () if hi_inclusive else ({"S": shi},)
        return SortKeyCondition("BETWEEN", ({"S": slo}, {"S": shi}), drop=drop)
    if slo is not None:
        return SortKeyCondition(">=", ({"S": slo},))
    if shi is not None:
        return SortKeyCondition("<=" if hi_inclusive else "<", ({"S": shi},))
    return None
