"""CQL values <-> DynamoDB attribute values, and a Cassandra row compared with a DynamoDB item.

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

import decimal
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from cql_protocol.types import (
    CqlType,
    CustomType,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    TypeCode,
    UDTType,
    VectorType,
)
from translators import ordered_bytes
from translators.canonical import (
    _TEXT_OF,
    _int_parser,
    _parse_decimal,
    _parse_float32,
    _parse_inet,
    from_text,
    key_text,
    parse_key_text,
)
from translators.canonical import canonical_bytes as canonical_bytes
from translators.cql_values import (
    _INT_RANGES,
    _NAME,
    INTEGER_CODES,
    TEXT_CODES,
    _b64decode,
    _column_canon,
    _special_float_text,
    ascii_value,
    blob_value,
    bool_value,
    decimal_of,
    double_text,
    double_value,
    duration_text,
    float32_of,
    float32_text,
    inet_text,
    int_value,
    items_of,
    map_pairs,
    pairs_to_map,
    parse_duration,
    text_value,
    uuid_text,
    values_equal,
    varint_value,
)
from translators.item_size import MAX_ITEM_SIZE as MAX_ITEM_SIZE
from translators.item_size import attribute_size as attribute_size
from translators.item_size import item_size as item_size

Attribute = dict[str, Any]

NULL_ATTRIBUTE: Attribute = {"NULL": True}


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
    enc = ordered_bytes.bytecomparable_encoder(et)
    by_key: dict[bytes, Any] = {}
    for x in items:
        by_key.setdefault(enc(x), x)
    return {"L": [_element_attr(et, by_key[k]) for k in sorted(by_key)]}


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


# --- comparing a Cassandra row with a DynamoDB item ----------------------------------------------


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
