"""CQL data types: descriptors, their [option] encoding in result metadata, and value codecs."""

from __future__ import annotations

import datetime
import decimal
import functools
import ipaddress
import operator
import socket
import struct
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError
from .primitives import Reader, Writer, encode_unsigned_vint


class TypeCode:
    CUSTOM = 0x0000
    ASCII = 0x0001
    BIGINT = 0x0002
    BLOB = 0x0003
    BOOLEAN = 0x0004
    COUNTER = 0x0005
    DECIMAL = 0x0006
    DOUBLE = 0x0007
    FLOAT = 0x0008
    INT = 0x0009
    TIMESTAMP = 0x000B
    UUID = 0x000C
    VARCHAR = 0x000D
    VARINT = 0x000E
    TIMEUUID = 0x000F
    INET = 0x0010
    DATE = 0x0011
    TIME = 0x0012
    SMALLINT = 0x0013
    TINYINT = 0x0014
    DURATION = 0x0015
    LIST = 0x0020
    MAP = 0x0021
    SET = 0x0022
    UDT = 0x0030
    TUPLE = 0x0031


NATIVE_NAMES: dict[int, str] = {
    TypeCode.ASCII: "ascii",
    TypeCode.BIGINT: "bigint",
    TypeCode.BLOB: "blob",
    TypeCode.BOOLEAN: "boolean",
    TypeCode.COUNTER: "counter",
    TypeCode.DECIMAL: "decimal",
    TypeCode.DOUBLE: "double",
    TypeCode.FLOAT: "float",
    TypeCode.INT: "int",
    TypeCode.TIMESTAMP: "timestamp",
    TypeCode.UUID: "uuid",
    TypeCode.VARCHAR: "text",
    TypeCode.VARINT: "varint",
    TypeCode.TIMEUUID: "timeuuid",
    TypeCode.INET: "inet",
    TypeCode.DATE: "date",
    TypeCode.TIME: "time",
    TypeCode.SMALLINT: "smallint",
    TypeCode.TINYINT: "tinyint",
    TypeCode.DURATION: "duration",
}


class CqlType:
    """Base of all type descriptors. Descriptors are immutable and hashable."""

    code: int

    def cql(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class NativeType(CqlType):
    code: int

    def cql(self) -> str:
        return NATIVE_NAMES[self.code]


@dataclass(frozen=True, slots=True)
class CustomType(CqlType):
    """A Java marshal class name. Vectors arrive this way: VectorType(<elem>, <dim>)."""

    class_name: str
    code: int = TypeCode.CUSTOM

    def cql(self) -> str:
        return f"'{self.class_name}'"


@dataclass(frozen=True, slots=True)
class ListType(CqlType):
    element: CqlType
    frozen: bool = False
    code: int = TypeCode.LIST

    def cql(self) -> str:
        s = f"list<{self.element.cql()}>"
        return f"frozen<{s}>" if self.frozen else s


@dataclass(frozen=True, slots=True)
class SetType(CqlType):
    element: CqlType
    frozen: bool = False
    code: int = TypeCode.SET

    def cql(self) -> str:
        s = f"set<{self.element.cql()}>"
        return f"frozen<{s}>" if self.frozen else s


@dataclass(frozen=True, slots=True)
class MapType(CqlType):
    key: CqlType
    value: CqlType
    frozen: bool = False
    code: int = TypeCode.MAP

    def cql(self) -> str:
        s = f"map<{self.key.cql()}, {self.value.cql()}>"
        return f"frozen<{s}>" if self.frozen else s


@dataclass(frozen=True, slots=True)
class TupleType(CqlType):
    elements: tuple[CqlType, ...]
    code: int = TypeCode.TUPLE

    def cql(self) -> str:
        return "frozen<tuple<" + ", ".join(e.cql() for e in self.elements) + ">>"


@dataclass(frozen=True, slots=True)
class UDTType(CqlType):
    keyspace: str
    name: str
    fields: tuple[tuple[str, CqlType], ...]
    frozen: bool = True
    code: int = TypeCode.UDT

    def cql(self) -> str:
        return f"frozen<{self.name}>" if self.frozen else self.name


@dataclass(frozen=True, slots=True)
class VectorType(CqlType):
    """vector<elem, n>: sent in metadata as a CustomType class name, modelled natively here."""

    element: CqlType
    dimension: int
    code: int = TypeCode.CUSTOM

    def cql(self) -> str:
        return f"vector<{self.element.cql()}, {self.dimension}>"


def native(code: int) -> NativeType:
    return _NATIVES[code]


_NATIVES = {c: NativeType(c) for c in NATIVE_NAMES}
TEXT = _NATIVES[TypeCode.VARCHAR]
ASCII = _NATIVES[TypeCode.ASCII]
INT = _NATIVES[TypeCode.INT]
BIGINT = _NATIVES[TypeCode.BIGINT]
UUID = _NATIVES[TypeCode.UUID]
INET = _NATIVES[TypeCode.INET]
BLOB = _NATIVES[TypeCode.BLOB]
BOOLEAN = _NATIVES[TypeCode.BOOLEAN]
TIMESTAMP = _NATIVES[TypeCode.TIMESTAMP]

_MAX_DEPTH = 64


def read_option(r: Reader, _depth: int = 0) -> CqlType:
    """Reads a type [option] as found in result and prepared metadata."""
    if _depth > _MAX_DEPTH:
        raise ProtocolError("type nesting too deep")
    code = r.short()
    if code in _NATIVES:
        return _NATIVES[code]
    if code == TypeCode.CUSTOM:
        name = r.string()
        from .typeparse import parse_marshal_class  # parsed lazily: only vectors need it

        return parse_marshal_class(name)
    if code == TypeCode.LIST:
        return ListType(read_option(r, _depth + 1))
    if code == TypeCode.SET:
        return SetType(read_option(r, _depth + 1))
    if code == TypeCode.MAP:
        k = read_option(r, _depth + 1)
        return MapType(k, read_option(r, _depth + 1))
    if code == TypeCode.UDT:
        ks = r.string()
        name = r.string()
        n = r.short()
        fields = []
        for _ in range(n):
            fname = r.string()
            fields.append((fname, read_option(r, _depth + 1)))
        return UDTType(ks, name, tuple(fields))
    if code == TypeCode.TUPLE:
        n = r.short()
        return TupleType(tuple(read_option(r, _depth + 1) for _ in range(n)))
    raise ProtocolError(f"unknown type option 0x{code:04x}")


# Native codes a protocol version predates: such types travel as CUSTOM marshal class names.
_CODE_SINCE = {
    TypeCode.DATE: 4,
    TypeCode.TIME: 4,
    TypeCode.SMALLINT: 4,
    TypeCode.TINYINT: 4,
    TypeCode.DURATION: 5,
}


def write_option(w: Writer, t: CqlType, version: int = 5) -> None:
    """Writes a type [option] as `version` spells it (v3 has no date/time/smallint/tinyint code,
    v3/v4 none for duration: Cassandra sends their marshal class names instead)."""
    if isinstance(t, NativeType):
        if version < _CODE_SINCE.get(t.code, 0):
            from .typeparse import marshal_class_name

            w.short(TypeCode.CUSTOM).string(marshal_class_name(t))
        else:
            w.short(t.code)
    elif isinstance(t, CustomType):
        w.short(TypeCode.CUSTOM).string(t.class_name)
    elif isinstance(t, VectorType):
        from .typeparse import marshal_class_name

        w.short(TypeCode.CUSTOM).string(marshal_class_name(t))
    elif isinstance(t, ListType | SetType):
        w.short(t.code)
        write_option(w, t.element, version)
    elif isinstance(t, MapType):
        w.short(TypeCode.MAP)
        write_option(w, t.key, version)
        write_option(w, t.value, version)
    elif isinstance(t, UDTType):
        w.short(TypeCode.UDT).string(t.keyspace).string(t.name).short(len(t.fields))
        for name, ft in t.fields:
            w.string(name)
            write_option(w, ft, version)
    elif isinstance(t, TupleType):
        w.short(TypeCode.TUPLE).short(len(t.elements))
        for e in t.elements:
            write_option(w, e, version)
    else:
        raise TypeError(f"cannot encode type {t!r}")


# ---------------------------------------------------------------------------------------------
# Value codecs (spec section 6). Protocol v3+ only: collections use [int] counts and lengths.
#
# Python mapping: ascii/text -> str; bigint/int/smallint/tinyint/counter/varint -> int;
# decimal -> Decimal; float/double -> float; boolean -> bool; blob -> bytes; uuid/timeuuid ->
# UUID; timestamp -> int ms since the epoch; date -> int days since the epoch (signed); time ->
# int ns since midnight; inet -> str; duration -> Duration; list -> list; set -> list in wire
# order (elements may be unhashable); map -> dict, or a list of (key, value) tuples when a key
# is unhashable; tuple -> tuple; UDT -> dict of field -> value; vector -> list; unknown custom
# types -> bytes.
#
# An empty value (length 0) of a type other than ascii, text, blob and custom types decodes to
# None, as the Python driver does: Cassandra still accepts them for legacy reasons.
# ---------------------------------------------------------------------------------------------

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


# Encoded sizes of the types Cassandra marks as fixed-length (valueLengthIfFixed): their vector
# elements carry no length prefix. smallint, tinyint, date and time are variable there.
_FIXED_SIZES: dict[int, int] = {
    TypeCode.BOOLEAN: 1,
    TypeCode.INT: 4,
    TypeCode.BIGINT: 8,
    TypeCode.COUNTER: 8,
    TypeCode.FLOAT: 4,
    TypeCode.DOUBLE: 8,
    TypeCode.UUID: 16,
    TypeCode.TIMEUUID: 16,
    TypeCode.TIMESTAMP: 8,
}


def value_length_if_fixed(t: CqlType) -> int | None:
    """The encoded size of every value of `t`, or None when values vary in size."""
    if isinstance(t, NativeType):
        return _FIXED_SIZES.get(t.code)
    if isinstance(t, VectorType):
        size = value_length_if_fixed(t.element)
        return None if size is None else size * t.dimension
    return None


# --- decoding ----------------------------------------------------------------------------------

_Decoder = Callable[[Any, memoryview, int], object]
_NativeDecoder = Callable[[memoryview], object]


def deserialize(t: CqlType, data: bytes | bytearray | memoryview, version: int = 4) -> object:
    """Decodes one non-null value of type `t`. Malformed bytes raise ProtocolError, nothing else."""
    mv = data if isinstance(data, memoryview) else memoryview(data)
    try:
        return _decode(t, mv, version)
    except (ValueError, struct.error, IndexError, OverflowError, ArithmeticError) as e:
        # Safety net: the decoders check lengths themselves; anything slipping through is still bad input.
        raise ProtocolError(f"malformed {t.cql()} value: {e}") from None


def _decode(t: CqlType, mv: memoryview, version: int) -> object:
    return _decoder_for(t)(t, mv, version)


def _decoder_for(t: CqlType) -> _Decoder:
    dec = _DECODERS.get(type(t))
    if dec is None:
        for cls in type(t).__mro__:
            dec = _DECODERS.get(cls)
            if dec is not None:
                break
        else:
            raise TypeError(f"cannot deserialize values of type {t!r}")
    return dec


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


def _split_elements(mv: memoryview, pos: int, count: int, what: str) -> list[memoryview | None]:
    """Slices `count` [bytes] elements from `pos`; the value must end right after them."""
    n = len(mv)
    if count < 0:
        raise ProtocolError(f"negative {what} element count {count}")
    if count * 4 > n - pos:
        raise ProtocolError(f"{what} claims {count} elements but has only {n - pos} bytes left")
    unpack = _S_INT.unpack_from
    out: list[memoryview | None] = []
    append = out.append
    for _ in range(count):
        if pos + 4 > n:
            raise ProtocolError(f"truncated {what} value at byte {pos}")
        size = unpack(mv, pos)[0]
        pos += 4
        if size < 0:
            append(None)  # Cassandra reads any negative element length as null
            continue
        end = pos + size
        if end > n:
            raise ProtocolError(f"{what} element of {size} bytes overruns the value at byte {pos}")
        append(mv[pos:end])
        pos = end
    if pos != n:
        raise ProtocolError(f"{n - pos} extra bytes after {what} value")
    return out


def _read_count(mv: memoryview, what: str) -> int:
    if len(mv) < 4:
        raise ProtocolError(f"{what} value of {len(mv)} bytes has no element count")
    count: int = _S_INT.unpack_from(mv, 0)[0]
    return count


def _dec_list(t: ListType | SetType, mv: memoryview, version: int) -> object:
    if not mv:
        return None
    what = "list" if isinstance(t, ListType) else "set"
    parts = _split_elements(mv, 4, _read_count(mv, what), what)
    et = t.element
    dec = _decoder_for(et)
    return [None if p is None else dec(et, p, version) for p in parts]


def _dec_map(t: MapType, mv: memoryview, version: int) -> object:
    if not mv:
        return None
    count = _read_count(mv, "map")
    if count < 0:
        raise ProtocolError(f"negative map entry count {count}")
    parts = _split_elements(mv, 4, count * 2, "map")
    kt, vt = t.key, t.value
    kdec, vdec = _decoder_for(kt), _decoder_for(vt)
    pairs: list[tuple[object, object]] = []
    for i in range(0, len(parts), 2):
        kb, vb = parts[i], parts[i + 1]
        pairs.append(
            (None if kb is None else kdec(kt, kb, version), None if vb is None else vdec(vt, vb, version))
        )
    try:
        d = dict(pairs)
    except TypeError:  # an unhashable key (list, set, map or UDT value)
        return pairs
    # keys CQL tells apart but Python does not (0.0 and -0.0, 1 and True...): keep every entry
    return d if len(d) == len(pairs) else pairs


def _dec_fields(types: Sequence[CqlType], mv: memoryview, version: int, what: str) -> list[object]:
    """Tuple and UDT bodies: one [bytes] per element; trailing elements may be missing."""
    n = len(mv)
    pos = 0
    out: list[object] = []
    unpack = _S_INT.unpack_from
    for et in types:
        if pos == n:
            out.append(None)
            continue
        if pos + 4 > n:
            raise ProtocolError(f"truncated {what} value at byte {pos}")
        size = unpack(mv, pos)[0]
        pos += 4
        if size < 0:
            out.append(None)
            continue
        end = pos + size
        if end > n:
            raise ProtocolError(f"{what} element of {size} bytes overruns the value at byte {pos}")
        out.append(_decode(et, mv[pos:end], version))
        pos = end
    if pos != n:
        raise ProtocolError(f"{n - pos} extra bytes after {what} value")
    return out


def _dec_tuple(t: TupleType, mv: memoryview, version: int) -> object:
    if not mv:
        return None
    return tuple(_dec_fields(t.elements, mv, version, "tuple"))


def _dec_udt(t: UDTType, mv: memoryview, version: int) -> object:
    if not mv:
        return None
    values = _dec_fields([ft for _, ft in t.fields], mv, version, f"user type {t.name}")
    return {name: v for (name, _), v in zip(t.fields, values, strict=True)}


# Vectors of these (embeddings, mostly) are packed and unpacked by one struct call.
_VECTOR_STRUCT_CODES: dict[int, str] = {
    TypeCode.FLOAT: "f",
    TypeCode.DOUBLE: "d",
    TypeCode.INT: "i",
    TypeCode.BIGINT: "q",
}


@functools.lru_cache(maxsize=256)
def _vector_struct(code: int, dim: int) -> struct.Struct:
    return struct.Struct(f">{dim}{_VECTOR_STRUCT_CODES[code]}")


def _dec_vector(t: VectorType, mv: memoryview, version: int) -> object:
    if not mv:
        return None
    et, dim = t.element, t.dimension
    if type(et) is NativeType and et.code in _VECTOR_STRUCT_CODES:
        s = _vector_struct(et.code, dim)
        if len(mv) != s.size:
            raise ProtocolError(f"{t.cql()} value must be {s.size} bytes, got {len(mv)}")
        return list(s.unpack(mv))
    dec = _decoder_for(et)
    size = value_length_if_fixed(et)
    if size is not None:
        if len(mv) != size * dim:
            raise ProtocolError(f"{t.cql()} value must be {size * dim} bytes, got {len(mv)}")
        return [dec(et, mv[i : i + size], version) for i in range(0, size * dim, size)]
    r = Reader(mv)
    out: list[object] = []
    for _ in range(dim):
        n = r.unsigned_vint()
        if n > r.remaining():
            raise ProtocolError(f"{t.cql()} element of {n} bytes overruns the value at byte {r.pos}")
        out.append(dec(et, r.raw(n), version))
    if r.remaining():
        raise ProtocolError(f"{r.remaining()} extra bytes after {t.cql()} value")
    return out


_DECODERS: dict[type, _Decoder] = {
    NativeType: _dec_native,
    CustomType: _dec_custom,
    ListType: _dec_list,
    SetType: _dec_list,
    MapType: _dec_map,
    TupleType: _dec_tuple,
    UDTType: _dec_udt,
    VectorType: _dec_vector,
}


# --- encoding ----------------------------------------------------------------------------------

_Encoder = Callable[[Any, Any, int], bytes]
_NativeEncoder = Callable[[Any], bytes]


def serialize(t: CqlType, value: object, version: int = 4) -> bytes:
    """Encodes one non-null value of type `t` (a null is the caller's [bytes] of length -1).

    Bad Python input raises TypeError (wrong kind of value) or ValueError (out of range).
    Nulls inside collections, tuples and UDTs are encoded as elements of length -1.
    """
    if value is None:
        raise ValueError("a null value is encoded by the caller as length -1, not serialized")
    try:
        return _encode(t, value, version)
    except OverflowError as e:
        raise ValueError(f"{t.cql()} value out of range: {e}") from None


def _encode(t: CqlType, value: Any, version: int) -> bytes:
    enc = _ENCODERS.get(type(t))
    if enc is None:
        for cls in type(t).__mro__:
            enc = _ENCODERS.get(cls)
            if enc is not None:
                break
        else:
            raise TypeError(f"cannot serialize values of type {t!r}")
    return enc(t, value, version)


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


def _element(parts: list[bytes], t: CqlType, v: Any, version: int) -> None:
    if v is None:
        parts.append(_NULL_ELEMENT)
    else:
        b = _encode(t, v, version)
        parts.append(_S_INT.pack(len(b)))
        parts.append(b)


def _as_items(v: Any, what: str) -> Sequence[Any]:
    if isinstance(v, list | tuple):
        return v
    if isinstance(v, str | bytes | bytearray | memoryview | Mapping) or not isinstance(v, Iterable):
        raise TypeError(f"{what} value must be a list, tuple or set, got {type(v).__name__}")
    return list(v)


def _enc_list(t: ListType | SetType, v: Any, version: int) -> bytes:
    items = _as_items(v, "list" if isinstance(t, ListType) else "set")
    parts = [_S_INT.pack(len(items))]
    et = t.element
    for item in items:
        _element(parts, et, item, version)
    return b"".join(parts)


def _enc_map(t: MapType, v: Any, version: int) -> bytes:
    if isinstance(v, Mapping):
        pairs: Iterable[Any] = v.items()
    elif isinstance(v, list | tuple):
        pairs = v  # (key, value) pairs, as deserialize returns for unhashable keys
    else:
        raise TypeError(f"map value must be a mapping or a list of pairs, got {type(v).__name__}")
    parts = [_S_INT.pack(len(v))]
    kt, vt = t.key, t.value
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise TypeError(f"map entries must be (key, value) pairs, got {pair!r}")
        _element(parts, kt, pair[0], version)
        _element(parts, vt, pair[1], version)
    return b"".join(parts)


def _enc_tuple(t: TupleType, v: Any, version: int) -> bytes:
    if not isinstance(v, list | tuple):
        raise TypeError(f"tuple value must be a tuple or list, got {type(v).__name__}")
    if len(v) > len(t.elements):
        raise ValueError(f"{t.cql()} takes at most {len(t.elements)} elements, got {len(v)}")
    parts: list[bytes] = []
    for et, item in zip(t.elements, v, strict=False):  # missing trailing elements stay off the wire
        _element(parts, et, item, version)
    return b"".join(parts)


def _enc_udt(t: UDTType, v: Any, version: int) -> bytes:
    parts: list[bytes] = []
    if isinstance(v, Mapping):
        unknown = set(v) - {name for name, _ in t.fields}
        if unknown:
            raise ValueError(f"user type {t.name} has no field(s) {sorted(map(str, unknown))}")
        for name, ft in t.fields:
            _element(parts, ft, v.get(name), version)
    elif isinstance(v, list | tuple):
        if len(v) > len(t.fields):
            raise ValueError(f"user type {t.name} has {len(t.fields)} fields, got {len(v)} values")
        for (_, ft), item in zip(t.fields, v, strict=False):
            _element(parts, ft, item, version)
    else:
        raise TypeError(f"user type value must be a mapping or a tuple, got {type(v).__name__}")
    return b"".join(parts)


def _enc_vector(t: VectorType, v: Any, version: int) -> bytes:
    items = _as_items(v, "vector")
    if len(items) != t.dimension:
        raise ValueError(f"{t.cql()} needs exactly {t.dimension} elements, got {len(items)}")
    et = t.element
    if type(et) is NativeType and et.code in _VECTOR_STRUCT_CODES:
        try:
            return _vector_struct(et.code, t.dimension).pack(*items)
        except (struct.error, TypeError, OverflowError):
            pass  # the element-wise path below names the offending element
    size = value_length_if_fixed(et)
    parts: list[bytes] = []
    for item in items:
        if item is None:
            raise ValueError(f"{t.cql()} elements cannot be null")
        b = _encode(et, item, version)
        if size is None:
            parts.append(encode_unsigned_vint(len(b)))
        elif len(b) != size:
            raise ValueError(f"{et.cql()} element encoded to {len(b)} bytes, expected {size}")
        parts.append(b)
    return b"".join(parts)


_ENCODERS: dict[type, _Encoder] = {
    NativeType: _enc_native,
    CustomType: _enc_custom,
    ListType: _enc_list,
    SetType: _enc_list,
    MapType: _enc_map,
    TupleType: _enc_tuple,
    UDTType: _enc_udt,
    VectorType: _enc_vector,
}
