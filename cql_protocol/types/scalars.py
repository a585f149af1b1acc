"""Value codecs of the native (scalar) types, and the custom types (raw bytes). The Python value of each
type is listed in cql_protocol.types.codec."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import operator
import socket
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from ..primitives import Reader, encode_unsigned_vint
from .descriptors import CustomType, NativeType, TypeCode

_S_BYTE = struct.Struct(">b")
_S_SHORT = struct.Struct(">h")
_S_INT = struct.Struct(">i")
_S_UINT = struct.Struct(">I")
_S_LONG = struct.Struct(">q")
_S_FLOAT = struct.Struct(">f")
_S_DOUBLE = struct.Struct(">d")

_NULL_ELEMENT = _S_INT.pack(-1)
_DATE_OFFSET = 1 << 31
_MAX_TIME_NS = 86_399_999_999_999
_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_INT32 = (-(1 << 31), (1 << 31) - 1)
_INT64 = (-(1 << 63), (1 << 63) - 1)


@dataclass(frozen=True, slots=True)
class Duration:
    """A CQL duration: months and days are int32, nanoseconds int64, all of one sign."""

    months: int
    days: int
    nanoseconds: int


_NativeDecoder = Callable[[memoryview], object]
_NativeEncoder = Callable[[Any], bytes]


def _length_error(name: str, size: int, mv: memoryview) -> ProtocolError:
    return ProtocolError(f"{name} value must be {size} bytes, got {len(mv)}")


def _struct_decoder(s: struct.Struct, name: str) -> _NativeDecoder:
    size = s.size
    unpack = s.unpack

    def dec(mv: memoryview) -> object:
        if len(mv) != size:
            raise _length_error(name, size, mv)
        return unpack(mv)[0]

    return dec


def _dec_boolean(mv: memoryview) -> object:
    if len(mv) != 1:
        raise _length_error("boolean", 1, mv)
    return mv[0] != 0


def _dec_text(mv: memoryview) -> object:
    try:
        return str(mv, "utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"invalid UTF-8 in text value: {e.reason} at byte {e.start}") from None


def _dec_ascii(mv: memoryview) -> object:
    try:
        return str(mv, "ascii")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"non-ASCII byte in ascii value at byte {e.start}") from None


def _dec_blob(mv: memoryview) -> object:
    return bytes(mv)


def _dec_varint(mv: memoryview) -> object:
    return int.from_bytes(mv, "big", signed=True)


def _dec_decimal(mv: memoryview) -> object:
    if len(mv) < 5:
        raise ProtocolError(f"decimal value needs at least 5 bytes, got {len(mv)}")
    scale = _S_INT.unpack_from(mv, 0)[0]
    unscaled = int.from_bytes(mv[4:], "big", signed=True)
    # Built from a digit tuple: exact, whatever the decimal context's precision.
    sign, digits, _ = decimal.Decimal(unscaled).as_tuple()
    return decimal.Decimal((sign, digits, -scale))


def _dec_uuid(mv: memoryview) -> object:
    if len(mv) != 16:
        raise _length_error("uuid", 16, mv)
    return uuid.UUID(bytes=bytes(mv))


def _dec_date(mv: memoryview) -> object:
    if len(mv) != 4:
        raise _length_error("date", 4, mv)
    return _S_UINT.unpack(mv)[0] - _DATE_OFFSET


def _dec_time(mv: memoryview) -> object:
    if len(mv) != 8:
        raise _length_error("time", 8, mv)
    ns: int = _S_LONG.unpack(mv)[0]
    if not 0 <= ns <= _MAX_TIME_NS:
        raise ProtocolError(f"time value {ns} outside 0..{_MAX_TIME_NS}")
    return ns


def _dec_inet(mv: memoryview) -> object:
    n = len(mv)
    if n == 4:
        return socket.inet_ntop(socket.AF_INET, mv)
    if n == 16:
        return socket.inet_ntop(socket.AF_INET6, mv)
    raise ProtocolError(f"inet value must be 4 or 16 bytes, got {n}")


def _dec_duration(mv: memoryview) -> object:
    r = Reader(mv)
    months, days, nanos = r.vint(), r.vint(), r.vint()
    if r.remaining():
        raise ProtocolError(f"{r.remaining()} extra bytes after duration value")
    _check_duration(months, days, nanos, ProtocolError)
    return Duration(months, days, nanos)


def _check_duration(months: int, days: int, nanos: int, error: type[Exception]) -> None:
    if not (_INT32[0] <= months <= _INT32[1] and _INT32[0] <= days <= _INT32[1]):
        raise error(f"duration months and days must fit in 32 bits: ({months}, {days}, {nanos})")
    if not _INT64[0] <= nanos <= _INT64[1]:
        raise error(f"duration nanoseconds must fit in 64 bits: {nanos}")
    if not ((months >= 0 and days >= 0 and nanos >= 0) or (months <= 0 and days <= 0 and nanos <= 0)):
        raise error(f"duration parts must not differ in sign: ({months}, {days}, {nanos})")


_NATIVE_DECODERS: dict[int, _NativeDecoder] = {
    TypeCode.ASCII: _dec_ascii,
    TypeCode.BIGINT: _struct_decoder(_S_LONG, "bigint"),
    TypeCode.BLOB: _dec_blob,
    TypeCode.BOOLEAN: _dec_boolean,
    TypeCode.COUNTER: _struct_decoder(_S_LONG, "counter"),
    TypeCode.DECIMAL: _dec_decimal,
    TypeCode.DOUBLE: _struct_decoder(_S_DOUBLE, "double"),
    TypeCode.FLOAT: _struct_decoder(_S_FLOAT, "float"),
    TypeCode.INT: _struct_decoder(_S_INT, "int"),
    TypeCode.TIMESTAMP: _struct_decoder(_S_LONG, "timestamp"),
    TypeCode.UUID: _dec_uuid,
    TypeCode.VARCHAR: _dec_text,
    TypeCode.VARINT: _dec_varint,
    TypeCode.TIMEUUID: _dec_uuid,
    TypeCode.INET: _dec_inet,
    TypeCode.DATE: _dec_date,
    TypeCode.TIME: _dec_time,
    TypeCode.SMALLINT: _struct_decoder(_S_SHORT, "smallint"),
    TypeCode.TINYINT: _struct_decoder(_S_BYTE, "tinyint"),
    TypeCode.DURATION: _dec_duration,
}

# What an empty value decodes to; every type not listed decodes it to None.
_EMPTY_NATIVE: dict[int, object] = {TypeCode.ASCII: "", TypeCode.VARCHAR: "", TypeCode.BLOB: b""}


def _dec_native(t: NativeType, mv: memoryview, version: int) -> object:
    if not mv:
        return _EMPTY_NATIVE.get(t.code)
    dec = _NATIVE_DECODERS.get(t.code)
    if dec is None:
        raise TypeError(f"unknown native type code 0x{t.code:04x}")
    return dec(mv)


def _dec_custom(t: CustomType, mv: memoryview, version: int) -> object:
    return bytes(mv)


def _as_int(v: Any, name: str) -> int:
    if type(v) is int:
        return v
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{name} value must be an int, got {type(v).__name__}") from None


def _int_encoder(s: struct.Struct, name: str) -> _NativeEncoder:
    pack = s.pack
    hi = (1 << (s.size * 8 - 1)) - 1
    lo = -hi - 1

    def enc(v: Any) -> bytes:
        n = _as_int(v, name)
        if not lo <= n <= hi:
            raise ValueError(f"{name} value {n} out of range [{lo}, {hi}]")
        return pack(n)

    return enc


def _float_encoder(s: struct.Struct, name: str) -> _NativeEncoder:
    pack = s.pack

    def enc(v: Any) -> bytes:
        if isinstance(v, str | bytes | bytearray):
            raise TypeError(f"{name} value must be a number, got {type(v).__name__}")
        try:
            f = float(v)
        except TypeError:
            raise TypeError(f"{name} value must be a number, got {type(v).__name__}") from None
        try:
            return pack(f)
        except (OverflowError, struct.error):
            raise ValueError(f"{name} value {f} out of range") from None

    return enc


def _enc_boolean(v: Any) -> bytes:
    if not isinstance(v, bool | int):
        raise TypeError(f"boolean value must be a bool, got {type(v).__name__}")
    return b"\x01" if v else b"\x00"


def _enc_text(v: Any) -> bytes:
    if not isinstance(v, str):
        raise TypeError(f"text value must be a str, got {type(v).__name__}")
    return v.encode("utf-8")


def _enc_ascii(v: Any) -> bytes:
    if not isinstance(v, str):
        raise TypeError(f"ascii value must be a str, got {type(v).__name__}")
    if not v.isascii():
        raise ValueError(f"ascii value contains non-ASCII characters: {v!r}")
    return v.encode("ascii")


def _enc_blob(v: Any) -> bytes:
    if not isinstance(v, bytes | bytearray | memoryview):
        raise TypeError(f"blob value must be bytes-like, got {type(v).__name__}")
    return bytes(v)


def _varint_bytes(n: int) -> bytes:
    # Minimal two's complement: one sign bit beyond the magnitude's bits.
    return n.to_bytes(((n if n >= 0 else ~n).bit_length() + 8) // 8, "big", signed=True)


def _enc_varint(v: Any) -> bytes:
    return _varint_bytes(_as_int(v, "varint"))


def _enc_decimal(v: Any) -> bytes:
    if isinstance(v, decimal.Decimal):
        d = v
    elif isinstance(v, int | float | str):
        try:
            d = decimal.Decimal(v)
        except decimal.InvalidOperation:
            raise ValueError(f"cannot interpret {v!r} as a decimal") from None
    else:
        raise TypeError(f"decimal value must be a Decimal, int, float or str, got {type(v).__name__}")
    if not d.is_finite():
        raise ValueError(f"decimal value must be finite, got {d}")
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)  # finite
    scale = -exponent
    if not _INT32[0] <= scale <= _INT32[1]:
        raise ValueError(f"decimal scale {scale} does not fit in 32 bits")
    unscaled = int(decimal.Decimal((sign, digits, 0)))
    return _S_INT.pack(scale) + _varint_bytes(unscaled)


def _enc_uuid(v: Any) -> bytes:
    if isinstance(v, uuid.UUID):
        return v.bytes
    if isinstance(v, str):
        return uuid.UUID(v).bytes
    raise TypeError(f"uuid value must be a UUID, got {type(v).__name__}")


def _enc_timestamp(v: Any) -> bytes:
    if isinstance(v, datetime.datetime):
        if v.utcoffset() is not None:
            v = v.astimezone(datetime.UTC).replace(tzinfo=None)
        d = v - _EPOCH  # naive datetimes are taken as UTC, like the driver does
        ms = d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000
    elif isinstance(v, datetime.date):
        ms = (v.toordinal() - _EPOCH_ORDINAL) * 86_400_000
    else:
        ms = _as_int(v, "timestamp")
    if not _INT64[0] <= ms <= _INT64[1]:
        raise ValueError(f"timestamp value {ms} out of range")
    return _S_LONG.pack(ms)


def _enc_date(v: Any) -> bytes:
    # A datetime counts by its date part.
    days = v.toordinal() - _EPOCH_ORDINAL if isinstance(v, datetime.date) else _as_int(v, "date")
    if not _INT32[0] <= days <= _INT32[1]:
        raise ValueError(f"date value {days} days out of range")
    return _S_UINT.pack(days + _DATE_OFFSET)


def _enc_time(v: Any) -> bytes:
    if isinstance(v, datetime.time):
        ns = ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000_000 + v.microsecond * 1000
    else:
        ns = _as_int(v, "time")
    if not 0 <= ns <= _MAX_TIME_NS:
        raise ValueError(f"time value {ns} outside 0..{_MAX_TIME_NS} nanoseconds")
    return _S_LONG.pack(ns)


def _enc_inet(v: Any) -> bytes:
    if isinstance(v, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return v.packed
    if isinstance(v, str):
        return ipaddress.ip_address(v).packed
    raise TypeError(f"inet value must be a str or ip address, got {type(v).__name__}")


def _enc_duration(v: Any) -> bytes:
    try:
        months, days, nanos = v.months, v.days, v.nanoseconds
    except AttributeError:
        raise TypeError(f"duration value must be a Duration, got {type(v).__name__}") from None
    months, days, nanos = _as_int(months, "months"), _as_int(days, "days"), _as_int(nanos, "nanoseconds")
    _check_duration(months, days, nanos, ValueError)
    return b"".join(encode_unsigned_vint((x >> 63) ^ (x << 1)) for x in (months, days, nanos))


_NATIVE_ENCODERS: dict[int, _NativeEncoder] = {
    TypeCode.ASCII: _enc_ascii,
    TypeCode.BIGINT: _int_encoder(_S_LONG, "bigint"),
    TypeCode.BLOB: _enc_blob,
    TypeCode.BOOLEAN: _enc_boolean,
    TypeCode.COUNTER: _int_encoder(_S_LONG, "counter"),
    TypeCode.DECIMAL: _enc_decimal,
    TypeCode.DOUBLE: _float_encoder(_S_DOUBLE, "double"),
    TypeCode.FLOAT: _float_encoder(_S_FLOAT, "float"),
    TypeCode.INT: _int_encoder(_S_INT, "int"),
    TypeCode.TIMESTAMP: _enc_timestamp,
    TypeCode.UUID: _enc_uuid,
    TypeCode.VARCHAR: _enc_text,
    TypeCode.VARINT: _enc_varint,
    TypeCode.TIMEUUID: _enc_uuid,
    TypeCode.INET: _enc_inet,
    TypeCode.DATE: _enc_date,
    TypeCode.TIME: _enc_time,
    TypeCode.SMALLINT: _int_encoder(_S_SHORT, "smallint"),
    TypeCode.TINYINT: _int_encoder(_S_BYTE, "tinyint"),
    TypeCode.DURATION: _enc_duration,
}


def _enc_native(t: NativeType, v: Any, version: int) -> bytes:
    enc = _NATIVE_ENCODERS.get(t.code)
    if enc is None:
        raise TypeError(f"unknown native type code 0x{t.code:04x}")
    return enc(v)


def _enc_custom(t: CustomType, v: Any, version: int) -> bytes:
    if not isinstance(v, bytes | bytearray | memoryview):
        raise TypeError(f"value of custom type {t.class_name} must be bytes-like, got {type(v).__name__}")
    return bytes(v)
