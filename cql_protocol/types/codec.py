"""Value codecs (serialize, deserialize): the dispatch by type, and the codecs of collections, tuples,
user types and vectors, whose elements go back through the dispatch."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..errors import ProtocolError
from ..primitives import Reader, encode_unsigned_vint
from .descriptors import (
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
from .scalars import (
    _NATIVE_ENCODERS,
    _NULL_ELEMENT,
    _S_INT,
    _dec_custom,
    _dec_native,
    _enc_custom,
    _enc_native,
)

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


@functools.lru_cache(maxsize=4096)
def encoder_for(t: CqlType, version: int = 4) -> Callable[[Any], bytes]:
    """`serialize` for one type, looked up once: the per-row paths call it for every cell. The
    value must be non-null and valid (bad input may raise struct.error or OverflowError, which
    `serialize` turns into ValueError)."""
    if type(t) is NativeType:
        enc = _NATIVE_ENCODERS.get(t.code)
        if enc is not None:
            return enc
    return functools.partial(serialize, t, version=version)


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
