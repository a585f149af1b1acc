"""[notation] types of the native protocol (spec section 3): a cursor reader and an appending writer.

Hot paths use precompiled structs over memoryviews; every short read raises ProtocolError.
"""

from __future__ import annotations

import builtins
import ipaddress
import struct
import uuid
from collections.abc import Iterable, Mapping

from .errors import ProtocolError

BYTE = struct.Struct(">B")
SHORT = struct.Struct(">H")
INT = struct.Struct(">i")
UINT = struct.Struct(">I")
LONG = struct.Struct(">q")

Inet = tuple[str, int]
Buffer = bytes | bytearray | memoryview


class Reader:
    """A cursor over one message body. Slices are memoryviews: no copies until a value is built."""

    __slots__ = ("buf", "pos")

    def __init__(self, data: Buffer, pos: int = 0) -> None:
        self.buf = memoryview(data) if not isinstance(data, memoryview) else data
        self.pos = pos

    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def _need(self, n: int) -> int:
        start = self.pos
        end = start + n
        if n < 0 or end > len(self.buf):
            raise ProtocolError(f"truncated body: need {n} bytes at offset {start}, have {len(self.buf) - start}")
        self.pos = end
        return start

    def raw(self, n: int) -> memoryview:
        start = self._need(n)
        return self.buf[start : start + n]

    def rest(self) -> memoryview:
        start = self.pos
        self.pos = len(self.buf)
        return self.buf[start:]

    def byte(self) -> int:
        return self.buf[self._need(1)]

    def short(self) -> int:
        return int(SHORT.unpack_from(self.buf, self._need(2))[0])

    def int(self) -> int:
        return int(INT.unpack_from(self.buf, self._need(4))[0])

    def long(self) -> builtins.int:
        return int(LONG.unpack_from(self.buf, self._need(8))[0])

    def string(self) -> str:
        n = self.short()
        return self._utf8(self.raw(n))

    def long_string(self) -> str:
        n = self.int()
        if n < 0:
            raise ProtocolError(f"negative [long string] length {n}")
        return self._utf8(self.raw(n))

    @staticmethod
    def _utf8(b: memoryview) -> str:
        try:
            return str(b, "utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError(f"invalid UTF-8 in string: {e.reason}") from None

    def bytes_(self) -> bytes | None:
        n = self.int()
        if n < 0:
            return None
        return bytes(self.raw(n))

    def value(self) -> bytes | Unset | None:
        """[value]: like [bytes] but -2 means `not set`."""
        n = self.int()
        if n >= 0:
            return bytes(self.raw(n))
        if n == -1:
            return None
        if n == -2:
            return UNSET
        raise ProtocolError(f"invalid [value] length {n}")

    def short_bytes(self) -> bytes:
        n = self.short()
        return bytes(self.raw(n))

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=bytes(self.raw(16)))

    def string_list(self) -> list[str]:
        return [self.string() for _ in range(self.short())]

    def string_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for _ in range(self.short()):
            k = self.string()
            out[k] = self.string()
        return out

    def string_multimap(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for _ in range(self.short()):
            k = self.string()
            out[k] = self.string_list()
        return out

    def bytes_map(self) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for _ in range(self.short()):
            k = self.string()
            out[k] = self.bytes_()
        return out

    def inetaddr(self) -> str:
        n = self.byte()
        if n not in (4, 16):
            raise ProtocolError(f"invalid [inetaddr] size {n}")
        return str(ipaddress.ip_address(bytes(self.raw(n))))

    def inet(self) -> Inet:
        addr = self.inetaddr()
        return addr, self.int()

    def unsigned_vint(self) -> builtins.int:
        first = self.byte()
        extra = 0
        mask = 0x80
        while extra < 8 and first & mask:
            extra += 1
            mask >>= 1
        value = first & (0xFF >> (extra + 1)) if extra < 8 else 0
        for b in self.raw(extra):
            value = (value << 8) | b
        return value

    def vint(self) -> builtins.int:
        n = self.unsigned_vint()
        return (n >> 1) ^ -(n & 1)


class Unset:
    """The `not set` [value] (length -2): leaves the bound column untouched."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()


class Writer:
    """Appends [notation] values to one bytearray."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def raw(self, b: Buffer) -> Writer:
        self.buf += b
        return self

    def byte(self, v: int) -> Writer:
        self.buf.append(v & 0xFF)
        return self

    def short(self, v: int) -> Writer:
        self.buf += SHORT.pack(v & 0xFFFF)
        return self

    def int(self, v: int) -> Writer:
        self.buf += INT.pack(v)
        return self

    def long(self, v: builtins.int) -> Writer:
        self.buf += LONG.pack(v)
        return self

    def string(self, s: str) -> Writer:
        b = s.encode()
        if len(b) > 0xFFFF:
            raise ValueError("[string] longer than 65535 bytes")
        self.buf += SHORT.pack(len(b))
        self.buf += b
        return self

    def long_string(self, s: str) -> Writer:
        b = s.encode()
        self.buf += INT.pack(len(b))
        self.buf += b
        return self

    def bytes_(self, b: Buffer | None) -> Writer:
        if b is None:
            self.buf += INT.pack(-1)
        else:
            self.buf += INT.pack(len(b))
            self.buf += b
        return self

    def value(self, b: Buffer | Unset | None) -> Writer:
        if isinstance(b, Unset):
            self.buf += INT.pack(-2)
            return self
        return self.bytes_(b)

    def short_bytes(self, b: Buffer) -> Writer:
        self.buf += SHORT.pack(len(b))
        self.buf += b
        return self

    def uuid(self, u: uuid.UUID) -> Writer:
        self.buf += u.bytes
        return self

    def string_list(self, items: Iterable[str]) -> Writer:
        items = list(items)
        self.short(len(items))
        for s in items:
            self.string(s)
        return self

    def string_map(self, m: Mapping[str, str]) -> Writer:
        self.short(len(m))
        for k, v in m.items():
            self.string(k).string(v)
        return self

    def string_multimap(self, m: Mapping[str, Iterable[str]]) -> Writer:
        self.short(len(m))
        for k, v in m.items():
            self.string(k).string_list(v)
        return self

    def bytes_map(self, m: Mapping[str, Buffer | None]) -> Writer:
        self.short(len(m))
        for k, v in m.items():
            self.string(k).bytes_(v)
        return self

    def inetaddr(self, addr: str) -> Writer:
        packed = ipaddress.ip_address(addr).packed
        self.byte(len(packed)).raw(packed)
        return self

    def inet(self, addr: Inet) -> Writer:
        return self.inetaddr(addr[0]).int(addr[1])

    def unsigned_vint(self, v: builtins.int) -> Writer:
        self.buf += encode_unsigned_vint(v)
        return self

    def vint(self, v: builtins.int) -> Writer:
        return self.unsigned_vint((v >> 63) ^ (v << 1))


def encode_unsigned_vint(v: int) -> bytes:
    if v < 0:
        raise ValueError("unsigned vint must be >= 0")
    if v < 0x80:
        return bytes((v,))
    size = (v.bit_length() + 6) // 7  # bytes needed: 7 payload bits per byte, capped at 9
    if size >= 9:
        return b"\xff" + (v & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")
    extra = size - 1
    raw = v.to_bytes(size, "big")
    first = raw[0] | (0xFF << (8 - extra)) & 0xFF
    return bytes((first,)) + raw[1:]
