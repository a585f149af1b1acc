"""Byte-comparable encodings of single CQL values (after apache/cassandra ByteComparable.md).

Unsigned byte order of the encodings is CQL order: the bytecomparable sort keys of translators.keys
are built of them, and translators.canonical and translators.values order set elements and map keys
by them. Per type (ASC):
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
"""

from __future__ import annotations

import functools
import socket
import struct
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from cql_protocol.types import (
    CqlType,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    TypeCode,
    UDTType,
    VectorType,
)
from translators import cql_values

NEXT = b"\x40"
NULL = b"\x3f"
END = b"\x38"
_NEXT = 0x40
_NULL = 0x3F
_END = 0x38

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
    int_value = cql_values.int_value

    def enc(v: Any) -> bytes:
        return pack(int_value(v, code) + bias)

    def dec(buf: bytes, pos: int) -> tuple[Any, int]:
        end = pos + size
        if end > len(buf):
            raise ValueError("truncated key component")
        return unpack_from(buf, pos)[0] - bias, end

    return enc, dec


def _bool_enc(v: Any) -> bytes:
    return b"\x01" if cql_values.bool_value(v) else b"\x00"


def _bool_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    b = buf[pos]
    if b > 1:
        raise ValueError(f"invalid boolean key byte {b:#04x}")
    return b == 1, pos + 1


def _float_enc(v: Any) -> bytes:
    x = cql_values.float32_of(v)
    bits = 0x7FC00000 if x != x else _U32.unpack(_F32.pack(x))[0]
    return _U32.pack(bits ^ (0xFFFFFFFF if bits & 0x80000000 else 0x80000000))


def _float_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    bits = _U32.unpack_from(buf, pos)[0]
    bits ^= 0x80000000 if bits & 0x80000000 else 0xFFFFFFFF
    return _F32.unpack(_U32.pack(bits))[0], pos + 4


def _double_enc(v: Any) -> bytes:
    x = cql_values.double_value(v)
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
    return _escape(cql_values.text_value(v).encode("utf-8"))


def _ascii_enc(v: Any) -> bytes:
    return _escape(cql_values.ascii_value(v).encode("ascii"))


def _text_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    raw, pos = _unescape(buf, pos)
    return raw.decode("utf-8"), pos


def _blob_enc(v: Any) -> bytes:
    return _escape(cql_values.blob_value(v))


def _blob_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    return _unescape(buf, pos)


def _inet_enc(v: Any) -> bytes:
    return _escape(cql_values.inet_packed(v))


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
    return varint_bytes(cql_values.varint_value(v))


# Integral decimals decoded from a key come back without an exponent up to this many digits.
_PLAIN_DECIMAL_DIGITS = 40


def _decimal_enc(v: Any) -> bytes:
    d = cql_values.decimal_of(v)
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
    return uuid.UUID(cql_values.uuid_text(v)).int


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
        items = cql_values.items_of(v, what)
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
        parts = sorted({eenc(_no_null(x, what)) for x in cql_values.items_of(v, what)})
        return b"".join([NEXT + p for p in parts]) + END

    return enc, _sequence_dec(edec, what)


def _map_codec(t: MapType) -> tuple[Encoder, Decoder]:
    kenc, kdec = _codec(t.key)
    venc, vdec = _codec(t.value)
    what = t.cql()

    def enc(v: Any) -> bytes:
        entries = {kenc(_no_null(k, what)): venc(_no_null(x, what)) for k, x in cql_values.map_pairs(v)}
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
        return cql_values.pairs_to_map(pairs), pos

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
