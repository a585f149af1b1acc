"""Primary keys: CQL partition keys -> DynamoDB partition key, clustering keys -> sort key.

Partition key
    One column without an entity prefix keeps its own type: N for tinyint, smallint, int, bigint,
    counter, timestamp, date and time; B for blob (raw bytes) and for tuples, UDTs and frozen
    collections (values.canonical_bytes: their serialized form); S for everything else, in the canonical
    text of values.to_text (text as is, boolean "true"/"false", uuid canonical, inet canonical,
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
    static row: k = 0) sorts before every key that extends it, since 0x38 < 0x40. Per type (ASC):
      boolean                   00 / 01
      tinyint..bigint, counter, fixed-size big-endian, sign bit flipped
      timestamp, date, time
      float, double             IEEE bits; sign bit flipped when positive, all bits when negative
                                (Float.compare: -0.0 < 0.0, NaN above +Infinity, all NaNs one value)
      varint                    length header (0x80+len-1 positive, 0x7F-(len-1) negative; each 127
                                more bytes one 0xFF / 0x00 byte in front) + two's complement bytes
      decimal                   0x80 for zero; else 0xC0 (positive) or 0x40 (negative) followed by
                                varint(E), base-100 digit pairs (+1 each) and 0x00, where the value
                                is 0.d1d2... x 10^E, all of it bit-inverted for negative numbers.
                                Numeric order, as BigDecimal.compareTo: 1.0 and 1.00 encode alike
                                (one row in Cassandra too) and decode with trailing zeros dropped.
      text, ascii, blob, inet   the bytes with 00 -> 00 FF, then 00 (inet: 4 or 16 address bytes,
                                so v4 and v6 mix in Cassandra's byte order)
      uuid                      version nibble first, then the time fields (time_hi, time_mid,
                                time_low) for version 1, else the other msb bits; then lsb unsigned
      timeuuid                  the time fields, then lsb compared as signed bytes (TimeUUIDType)
      tuple, UDT                per element 0x40 value, or 0x3F for null (null sorts first)
      list, set, map, vector    per element 0x40 value (map: key, then value), then 0x38; set
                                elements and map entries in CQL order
    duration and custom types have no order here (Cassandra forbids duration in keys).
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
import socket
import struct
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
from translators import values as _values
from translators.values import INTEGER_CODES, TEXT_CODES, Attribute

NEXT = b"\x40"
NULL = b"\x3f"
END = b"\x38"
_NEXT = 0x40
_NULL = 0x3F
_END = 0x38
BEFORE = b"\x20"
AFTER = b"\x60"
PAST = b"\x41"

_INVERT = bytes(range(255, -1, -1))
_M64 = (1 << 64) - 1
_TIMEUUID_LSB_FLIP = 0x8080808080808080

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")

Encoder = Callable[[Any], bytes]
# (buffer, position) -> (value, position after the value)
Decoder = Callable[[bytes, int], tuple[Any, int]]


# --- byte-comparable encodings of single values -------------------------------------------------


def _fixed(s: struct.Struct, bias: int, code: int) -> tuple[Encoder, Decoder]:
    pack, unpack_from, size = s.pack, s.unpack_from, s.size
    int_value = _values.int_value

    def enc(v: Any) -> bytes:
        return pack(int_value(v, code) + bias)

    def dec(buf: bytes, pos: int) -> tuple[Any, int]:
        end = pos + size
        if end > len(buf):
            raise ValueError("truncated key component")
        return unpack_from(buf, pos)[0] - bias, end

    return enc, dec


def _bool_enc(v: Any) -> bytes:
    return b"\x01" if _values.bool_value(v) else b"\x00"


def _bool_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    b = buf[pos]
    if b > 1:
        raise ValueError(f"invalid boolean key byte {b:#04x}")
    return b == 1, pos + 1


def _float_enc(v: Any) -> bytes:
    x = _values.float32_of(v)
    bits = 0x7FC00000 if x != x else _U32.unpack(_F32.pack(x))[0]
    return _U32.pack(bits ^ (0xFFFFFFFF if bits & 0x80000000 else 0x80000000))


def _float_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    bits = _U32.unpack_from(buf, pos)[0]
    bits ^= 0x80000000 if bits & 0x80000000 else 0xFFFFFFFF
    return _F32.unpack(_U32.pack(bits))[0], pos + 4


def _double_enc(v: Any) -> bytes:
    x = _values.double_value(v)
    bits = 0x7FF8000000000000 if x != x else _U64.unpack(_F64.pack(x))[0]
    return _U64.pack(bits ^ (_M64 if bits >> 63 else 1 << 63))


def _double_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    bits = _U64.unpack_from(buf, pos)[0]
    bits ^= (1 << 63) if bits >> 63 else _M64
    return _F64.unpack(_U64.pack(bits))[0], pos + 8


def _escape(b: bytes) -> bytes:
    return (b.replace(b"\x00", b"\x00\xff") if b"\x00" in b else b) + b"\x00"


def _unescape(buf: bytes, pos: int) -> tuple[bytes, int]:
    n = len(buf)
    i = buf.find(b"\x00", pos)
    while 0 <= i < n - 1 and buf[i + 1] == 0xFF:
        i = buf.find(b"\x00", i + 2)
    if i < 0:
        raise ValueError("unterminated key component")
    seg = buf[pos:i]
    if b"\x00" in seg:
        seg = seg.replace(b"\x00\xff", b"\x00")
    return seg, i + 1


def _text_enc(v: Any) -> bytes:
    return _escape(_values.text_value(v).encode("utf-8"))


def _ascii_enc(v: Any) -> bytes:
    return _escape(_values.ascii_value(v).encode("ascii"))


def _text_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    raw, pos = _unescape(buf, pos)
    return raw.decode("utf-8"), pos


def _blob_enc(v: Any) -> bytes:
    return _escape(_values.blob_value(v))


def _blob_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    return _unescape(buf, pos)


def _inet_enc(v: Any) -> bytes:
    return _escape(_values.inet_packed(v))


def _inet_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    raw, pos = _unescape(buf, pos)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw), pos
    if len(raw) == 16:
        return socket.inet_ntop(socket.AF_INET6, raw), pos
    raise ValueError(f"inet key component of {len(raw)} bytes")


def varint_bytes(n: int) -> bytes:
    """Order-preserving, prefix-free encoding of an arbitrary integer."""
    if n >= 0:
        size = (n.bit_length() + 8) // 8
        q, r = divmod(size - 1, 127)
        return b"\xff" * q + _U8.pack(0x80 + r) + n.to_bytes(size, "big", signed=True)
    size = ((~n).bit_length() + 8) // 8
    q, r = divmod(size - 1, 127)
    return b"\x00" * q + _U8.pack(0x7F - r) + n.to_bytes(size, "big", signed=True)


def _varint_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    h = buf[pos]
    q = 0
    if h >= 0x80:
        while h == 0xFF:
            q += 1
            pos += 1
            h = buf[pos]
        size = q * 127 + h - 0x80 + 1
    else:
        while h == 0x00:
            q += 1
            pos += 1
            h = buf[pos]
        size = q * 127 + 0x7F - h + 1
    pos += 1
    end = pos + size
    if end > len(buf):
        raise ValueError("truncated varint key component")
    return int.from_bytes(buf[pos:end], "big", signed=True), end


def _varint_enc(v: Any) -> bytes:
    return varint_bytes(_values.varint_value(v))


# Integral decimals decoded from a key come back without an exponent up to this many digits.
_PLAIN_DECIMAL_DIGITS = 40


def _decimal_enc(v: Any) -> bytes:
    d = _values.decimal_of(v)
    if d.is_zero():
        return b"\x80"
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    e = exp + len(digits)  # d = 0.d1d2... x 10^e
    k = len(digits)
    while digits[k - 1] == 0:
        k -= 1
    if k % 2:
        digits = (*digits[:k], 0)
        k += 1
    body = bytes(digits[i] * 10 + digits[i + 1] + 1 for i in range(0, k, 2))
    payload = varint_bytes(e) + body + b"\x00"
    return b"\x40" + payload.translate(_INVERT) if sign else b"\xc0" + payload


def _decimal_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    h = buf[pos]
    if h == 0x80:
        return Decimal(0), pos + 1
    if h == 0xC0:
        data, start, negative = buf, pos + 1, False
    elif h == 0x40:
        data, start, negative = buf[pos + 1 :].translate(_INVERT), 0, True
    else:
        raise ValueError(f"invalid decimal key byte {h:#04x}")
    e, p = _varint_dec(data, start)
    end = data.index(b"\x00", p)
    digits: list[int] = []
    for b in data[p:end]:
        if b > 100:
            raise ValueError(f"invalid decimal key digit byte {b:#04x}")
        digits.extend(divmod(b - 1, 10))
    if digits and digits[-1] == 0:
        digits.pop()
    if not digits or digits[0] == 0:
        raise ValueError("invalid decimal key digits")
    exp = e - len(digits)
    if exp > 0 and len(digits) + exp <= _PLAIN_DECIMAL_DIGITS:
        digits.extend([0] * exp)
        exp = 0
    value = Decimal((1 if negative else 0, tuple(digits), exp))
    return value, (end + 1 + (pos + 1) if negative else end + 1)


def _uuid_int(v: Any) -> int:
    if isinstance(v, uuid.UUID):
        return v.int
    return uuid.UUID(_values.uuid_text(v)).int


def _uuid_enc(v: Any) -> bytes:
    i = _uuid_int(v)
    msb, lsb = i >> 64, i & _M64
    version = (msb >> 12) & 0xF
    if version == 1:
        hi = ((msb << 48) & _M64) | ((msb << 16) & 0xFFFF00000000) | (msb >> 32)
    else:
        hi = (version << 60) | ((msb >> 16) << 12) | (msb & 0xFFF)
    return ((hi << 64) | lsb).to_bytes(16, "big")


def _uuid_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    end = pos + 16
    if end > len(buf):
        raise ValueError("truncated uuid key component")
    i = int.from_bytes(buf[pos:end], "big")
    hi, lsb = i >> 64, i & _M64
    version = hi >> 60
    if version == 1:
        msb = ((hi & 0xFFFFFFFF) << 32) | (((hi >> 32) & 0xFFFF) << 16) | (hi >> 48)
    else:
        msb = (((hi >> 12) & ((1 << 48) - 1)) << 16) | (version << 12) | (hi & 0xFFF)
    return uuid.UUID(int=(msb << 64) | lsb), end


def _timeuuid_enc(v: Any) -> bytes:
    i = _uuid_int(v)
    msb, lsb = i >> 64, i & _M64
    hi = ((msb << 48) & _M64) | ((msb << 16) & 0xFFFF00000000) | (msb >> 32)
    # TimeUUIDType compares the reordered msb as a signed long and the lsb as signed bytes.
    return (((hi ^ (1 << 63)) << 64) | (lsb ^ _TIMEUUID_LSB_FLIP)).to_bytes(16, "big")


def _timeuuid_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    end = pos + 16
    if end > len(buf):
        raise ValueError("truncated timeuuid key component")
    i = int.from_bytes(buf[pos:end], "big")
    hi, lsb = (i >> 64) ^ (1 << 63), (i & _M64) ^ _TIMEUUID_LSB_FLIP
    msb = ((hi & 0xFFFFFFFF) << 32) | (((hi >> 32) & 0xFFFF) << 16) | (hi >> 48)
    return uuid.UUID(int=(msb << 64) | lsb), end


_NATIVE_CODECS: dict[int, tuple[Encoder, Decoder]] = {
    TypeCode.BOOLEAN: (_bool_enc, _bool_dec),
    TypeCode.TINYINT: _fixed(_U8, 1 << 7, TypeCode.TINYINT),
    TypeCode.SMALLINT: _fixed(_U16, 1 << 15, TypeCode.SMALLINT),
    TypeCode.INT: _fixed(_U32, 1 << 31, TypeCode.INT),
    TypeCode.BIGINT: _fixed(_U64, 1 << 63, TypeCode.BIGINT),
    TypeCode.COUNTER: _fixed(_U64, 1 << 63, TypeCode.COUNTER),
    TypeCode.TIMESTAMP: _fixed(_U64, 1 << 63, TypeCode.TIMESTAMP),
    TypeCode.DATE: _fixed(_U32, 1 << 31, TypeCode.DATE),
    TypeCode.TIME: _fixed(_U64, 0, TypeCode.TIME),
    TypeCode.FLOAT: (_float_enc, _float_dec),
    TypeCode.DOUBLE: (_double_enc, _double_dec),
    TypeCode.VARINT: (_varint_enc, _varint_dec),
    TypeCode.DECIMAL: (_decimal_enc, _decimal_dec),
    TypeCode.VARCHAR: (_text_enc, _text_dec),
    TypeCode.ASCII: (_ascii_enc, _text_dec),
    TypeCode.BLOB: (_blob_enc, _blob_dec),
    TypeCode.INET: (_inet_enc, _inet_dec),
    TypeCode.UUID: (_uuid_enc, _uuid_dec),
    TypeCode.TIMEUUID: (_timeuuid_enc, _timeuuid_dec),
}


def _tuple_codec(types: Sequence[CqlType], what: str) -> tuple[Encoder, Decoder]:
    codecs = [_codec(t) for t in types]
    encs = [c[0] for c in codecs]
    decs = [c[1] for c in codecs]
    n = len(types)

    def enc(v: Any) -> bytes:
        if not isinstance(v, list | tuple):
            raise TypeError(f"{what} value must be a tuple, got {type(v).__name__}")
        if len(v) > n:
            raise ValueError(f"{what} takes at most {n} elements, got {len(v)}")
        m = len(v)
        out = []
        for i in range(n):
            x = v[i] if i < m else None
            if x is None:
                out.append(NULL)
            else:
                out.append(NEXT)
                out.append(encs[i](x))
        return b"".join(out)

    def dec(buf: bytes, pos: int) -> tuple[Any, int]:
        out: list[Any] = []
        for d in decs:
            b = buf[pos]
            pos += 1
            if b == _NULL:
                out.append(None)
            elif b == _NEXT:
                x, pos = d(buf, pos)
                out.append(x)
            else:
                raise ValueError(f"invalid {what} key byte {b:#04x}")
        return tuple(out), pos

    return enc, dec


def _udt_codec(t: UDTType) -> tuple[Encoder, Decoder]:
    names = [name for name, _ in t.fields]
    tenc, tdec = _tuple_codec([ft for _, ft in t.fields], f"user type {t.name}")

    def enc(v: Any) -> bytes:
        if isinstance(v, Mapping):
            unknown = set(v) - set(names)
            if unknown:
                raise ValueError(f"user type {t.name} has no field(s) {sorted(map(str, unknown))}")
            return tenc([v.get(name) for name in names])
        return tenc(v)

    def dec(buf: bytes, pos: int) -> tuple[Any, int]:
        vals, pos = tdec(buf, pos)
        return dict(zip(names, vals, strict=True)), pos

    return enc, dec


def _sequence_dec(elem: Decoder, what: str) -> Decoder:
    def dec(buf: bytes, pos: int) -> tuple[Any, int]:
        out: list[Any] = []
        while True:
            b = buf[pos]
            pos += 1
            if b == _END:
                return out, pos
            if b != _NEXT:
                raise ValueError(f"invalid {what} key byte {b:#04x}")
            x, pos = elem(buf, pos)
            out.append(x)

    return dec


def _no_null(x: Any, what: str) -> Any:
    if x is None:
        raise ValueError(f"{what} elements cannot be null")
    return x


def _list_codec(t: ListType | VectorType) -> tuple[Encoder, Decoder]:
    eenc, edec = _codec(t.element)
    what = t.cql()
    dim = t.dimension if isinstance(t, VectorType) else None

    def enc(v: Any) -> bytes:
        items = _values.items_of(v, what)
        if dim is not None and len(items) != dim:
            raise ValueError(f"{what} needs exactly {dim} elements, got {len(items)}")
        return b"".join([NEXT + eenc(_no_null(x, what)) for x in items]) + END

    sdec = _sequence_dec(edec, what)
    if dim is None:
        return enc, sdec

    def vdec(buf: bytes, pos: int) -> tuple[Any, int]:
        out, pos = sdec(buf, pos)
        if len(out) != dim:
            raise ValueError(f"{what} key component has {len(out)} elements")
        return out, pos

    return enc, vdec


def _set_codec(t: SetType) -> tuple[Encoder, Decoder]:
    eenc, edec = _codec(t.element)
    what = t.cql()

    def enc(v: Any) -> bytes:
        parts = sorted({eenc(_no_null(x, what)) for x in _values.items_of(v, what)})
        return b"".join([NEXT + p for p in parts]) + END

    return enc, _sequence_dec(edec, what)


def _map_codec(t: MapType) -> tuple[Encoder, Decoder]:
    kenc, kdec = _codec(t.key)
    venc, vdec = _codec(t.value)
    what = t.cql()

    def enc(v: Any) -> bytes:
        entries = {kenc(_no_null(k, what)): venc(_no_null(x, what)) for k, x in _values.map_pairs(v)}
        return b"".join([NEXT + k + NEXT + entries[k] for k in sorted(entries)]) + END

    def dec(buf: bytes, pos: int) -> tuple[Any, int]:
        pairs = []
        while True:
            b = buf[pos]
            pos += 1
            if b == _END:
                break
            if b != _NEXT:
                raise ValueError(f"invalid {what} key byte {b:#04x}")
            k, pos = kdec(buf, pos)
            if buf[pos] != _NEXT:
                raise ValueError(f"invalid {what} key byte {buf[pos]:#04x}")
            x, pos = vdec(buf, pos + 1)
            pairs.append((k, x))
        return _values.pairs_to_map(pairs), pos

    return enc, dec


@functools.lru_cache(maxsize=1024)
def _codec(t: CqlType) -> tuple[Encoder, Decoder]:
    if type(t) is NativeType:
        codec = _NATIVE_CODECS.get(t.code)
        if codec is None:
            raise ValueError(f"{t.cql()} values have no key order (not allowed in a primary key)")
        return codec
    if isinstance(t, TupleType):
        return _tuple_codec(t.elements, t.cql())
    if isinstance(t, UDTType):
        return _udt_codec(t)
    if isinstance(t, ListType | VectorType):
        return _list_codec(t)
    if isinstance(t, SetType):
        return _set_codec(t)
    if isinstance(t, MapType):
        return _map_codec(t)
    raise ValueError(f"{t.cql()} values have no known key order")


def bytecomparable_encoder(t: CqlType) -> Encoder:
    """The function mapping values of `t` to their byte-comparable (ASC) encoding."""
    return _codec(t)[0]


def bytecomparable(t: CqlType, value: object) -> bytes:
    """The byte-comparable (ASC) encoding of one value: unsigned byte order is CQL order."""
    if value is None:
        raise ValueError("null has no byte-comparable encoding")
    return _codec(t)[0](value)


def from_bytecomparable(t: CqlType, data: bytes) -> Any:
    try:
        value, pos = _codec(t)[1](data, 0)
    except (IndexError, struct.error, OverflowError):
        raise ValueError("truncated byte-comparable value") from None
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} extra bytes after a byte-comparable {t.cql()} value")
    return value


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
        return _values.blob_value(v)
    if type(t) is NativeType:
        return _values.to_text(t, v).encode("utf-8")
    return _values.canonical_bytes(t, v)


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
            s = _values.to_text(t, v)
            if not s:
                raise ValueError("a partition key cannot be empty")
            return {"S": s}
        if kind == "N":
            if type(t) is NativeType and t.code in INTEGER_CODES:
                return {"N": str(_values.int_value(v, t.code))}
            if type(t) is NativeType and t.code == TypeCode.VARINT:
                n = _values.varint_value(v)
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
        [_escape_component(_values.to_text(t, v)) for t, v in zip(types, values, strict=True)]
    )
    if not s:
        raise ValueError("a partition key cannot be empty")
    return {"S": s}


def decode_partition(types: Sequence[CqlType], attr: Attribute, prefix: str = "") -> tuple[Any, ...]:
    """The partition key column values of a partition key attribute (inverse of encode_partition)."""
    if len(types) == 1 and not prefix:
        t = types[0]
        if "S" in attr:
            return (_values.from_text(t, attr["S"]),)
        if "N" in attr:
            return (_values.from_text(t, attr["N"]),)
        if "B" in attr:
            b = _values.attr_bytes(attr["B"])
            if isinstance(t, CustomType) or (type(t) is NativeType and t.code == TypeCode.BLOB):
                return (b,)
            if type(t) is NativeType:
                return (_values.from_text(t, b.decode("utf-8")),)
            return (_values.from_canonical_bytes(t, b),)
        raise ValueError(f"not a partition key attribute: {attr!r}")
    s = attr.get("S")
    if not isinstance(s, str) or not s.startswith(prefix):
        raise ValueError(f"partition key {attr!r} does not start with {prefix!r}")
    parts = _split_components(s[len(prefix) :])
    if len(parts) != len(types):
        raise ValueError(f"partition key {s!r} has {len(parts)} components, expected {len(types)}")
    return tuple(_values.from_text(t, p) for t, p in zip(types, parts, strict=True))


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
        s = _values.text_value(v) if t.code == TypeCode.VARCHAR else _values.ascii_value(v)
        if not s:
            raise ValueError("an empty text cannot be a plain sort key: use bytecomparable")
        return {"S": s}
    return {"N": str(_values.int_value(v, t.code))}


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
        return (_values.from_text(types[0], attr["N"]),)
    if encoding != "bytecomparable":
        raise ValueError(f"unknown sort key encoding {encoding!r}")
    if "B" not in attr:
        _bad_sort_key(attr)
    data = _values.attr_bytes(attr["B"])
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
            lo = _values.int_value(lower[0], t.code) + (0 if lower[1] else 1)
        if upper is not None:
            hi = _values.int_value(upper[0], t.code) - (0 if upper[1] else 1)
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
        s = _values.text_value(lower[0])
        slo = s if lower[1] else s + "\x00"
        if slo == "":
            slo = None
    if upper is not None:
        shi = _values.text_value(upper[0])
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
