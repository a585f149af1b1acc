"""v5 segments (spec "Message framing"): checksummed containers for envelopes.

Header (little-endian): payload length (17 bits)[, uncompressed length (17 bits)], self-contained
flag (1 bit), then a CRC24 of the header bits. Payload, then CRC32 of the payload primed with
FA 2D 55 CA. A compressed segment whose uncompressed length is 0 carries its payload uncompressed.

Both lengths fit in 17 bits, so one segment never holds nor decompresses to more than 128 KiB; a
large envelope is bounded by its own header instead (see FrameReader).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from .compression import compress_block, decompress_block
from .errors import ProtocolError

MAX_PAYLOAD = 128 * 1024 - 1
CRC24_INIT = 0x875060
CRC24_POLY = 0x1974F0B
CRC32_INITIAL = zlib.crc32(b"\xfa\x2d\x55\xca")


def _crc24_table() -> list[int]:
    table = []
    for b in range(256):
        crc = b << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= CRC24_POLY
        table.append(crc & 0xFFFFFF)
    return table


_T24 = _crc24_table()


def crc24(value: int, nbytes: int) -> int:
    """CRC24 over the `nbytes` low-order bytes of `value`, least significant first."""
    crc = CRC24_INIT
    for _ in range(nbytes):
        crc = ((crc << 8) & 0xFFFFFF) ^ _T24[((crc >> 16) ^ value) & 0xFF]
        value >>= 8
    return crc


_CRC24_SEEN: dict[int, int] = {}  # (header, its size) -> its CRC24: segment sizes repeat, the table loop need not
_CRC24_SEEN_MAX = 4096


def header_crc24(header: int, nbytes: int) -> int:
    """crc24 of a segment header, remembered for the most recent few thousand distinct headers."""
    key = header | nbytes << 48  # (the same bits over 3 or 5 bytes have different checksums)
    crc = _CRC24_SEEN.get(key)
    if crc is None:
        crc = crc24(header, nbytes)
        if len(_CRC24_SEEN) < _CRC24_SEEN_MAX:
            _CRC24_SEEN[key] = crc
    return crc


def crc32(payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, CRC32_INITIAL)


@dataclass(slots=True)
class Segment:
    payload: bytes  # empty when decoded without decompressing
    self_contained: bool
    length: int  # of the payload once decompressed


class SegmentCodec:
    """Encodes envelopes into segments and decodes segments back, with or without lz4."""

    def __init__(self, compressed: bool) -> None:
        self.compressed = compressed
        self.header_len = 5 if compressed else 3

    # -- encoding ------------------------------------------------------------------------------
    def encode_segment(self, payload: bytes | memoryview, self_contained: bool) -> bytes:
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("segment payload over 131071 bytes")
        if self.compressed:
            packed = compress_block(payload) if payload else b""
            if len(packed) >= len(payload):
                body, ulen = bytes(payload), 0
            else:
                body, ulen = packed, len(payload)
            header = len(body) | (ulen << 17) | (int(self_contained) << 34)
        else:
            body = bytes(payload)
            header = len(body) | (int(self_contained) << 17)
        hl = self.header_len
        return b"".join(
            (
                header.to_bytes(hl, "little"),
                crc24(header, hl).to_bytes(3, "little"),
                body,
                crc32(body).to_bytes(4, "little"),
            )
        )

    def encode(self, envelopes: Iterable[bytes | memoryview]) -> bytes:
        """Packs whole envelopes into self-contained segments; one too large is split."""
        out: list[bytes] = []
        batch: list[bytes | memoryview] = []
        size = 0
        for env in envelopes:
            n = len(env)
            if n > MAX_PAYLOAD:
                if batch:
                    out.append(self.encode_segment(b"".join(batch), True))
                    batch, size = [], 0
                view = memoryview(env)
                for i in range(0, n, MAX_PAYLOAD):
                    out.append(self.encode_segment(view[i : i + MAX_PAYLOAD], False))
                continue
            if size + n > MAX_PAYLOAD:
                out.append(self.encode_segment(b"".join(batch), True))
                batch, size = [], 0
            batch.append(env)
            size += n
        if batch:
            out.append(self.encode_segment(b"".join(batch), True))
        return b"".join(out)

    # -- decoding ------------------------------------------------------------------------------
    def segment_end(self, buf: bytes | bytearray | memoryview, pos: int) -> int | None:
        """Where the segment at `pos` ends, when all of it is in `buf` (nothing is checked)."""
        hl = self.header_len
        if len(buf) - pos < hl + 3:
            return None
        end = pos + hl + 3 + (int.from_bytes(buf[pos : pos + hl], "little") & MAX_PAYLOAD) + 4
        return end if end <= len(buf) else None

    def peek(self, buf: bytes, pos: int) -> tuple[bytes | memoryview, bool, int] | None:
        """The segment at `pos` without copying: (payload, self-contained, end), the payload a view
        into `buf` unless it was compressed; None while incomplete. Checksums are verified."""
        hl = self.header_len
        start = pos + hl + 3
        if len(buf) < start:
            return None
        header = int.from_bytes(buf[pos : pos + hl], "little")
        if header_crc24(header, hl) != int.from_bytes(buf[pos + hl : start], "little"):
            raise ProtocolError("segment header CRC24 mismatch")
        length = header & MAX_PAYLOAD
        end = start + length
        if len(buf) < end + 4:
            return None
        view = memoryview(buf)[start:end]
        if zlib.crc32(view, CRC32_INITIAL) != int.from_bytes(buf[end : end + 4], "little"):
            raise ProtocolError("segment payload CRC32 mismatch")
        if not self.compressed:
            return view, bool((header >> 17) & 1), end + 4
        ulen = (header >> 17) & MAX_PAYLOAD
        return (decompress_block(view, ulen) if ulen else view), bool((header >> 34) & 1), end + 4

    def decode_from(
        self, buf: bytes | bytearray | memoryview, pos: int, *, decompress: bool = True
    ) -> tuple[Segment, int] | None:
        """Decodes one segment at `pos`; returns it and the next position, or None if incomplete.
        Without `decompress` the checksums are verified but the payload is neither decompressed
        nor returned (a segment being skipped)."""
        hl = self.header_len
        if len(buf) - pos < hl + 3:
            return None
        header = int.from_bytes(buf[pos : pos + hl], "little")
        expected = int.from_bytes(buf[pos + hl : pos + hl + 3], "little")
        if header_crc24(header, hl) != expected:
            raise ProtocolError("segment header CRC24 mismatch")
        length = header & MAX_PAYLOAD
        if self.compressed:
            ulen = (header >> 17) & MAX_PAYLOAD
            self_contained = bool((header >> 34) & 1)
        else:
            ulen = 0
            self_contained = bool((header >> 17) & 1)
        start = pos + hl + 3
        end = start + length
        if len(buf) < end + 4:
            return None
        body = bytes(buf[start:end])
        if crc32(body) != int.from_bytes(buf[end : end + 4], "little"):
            raise ProtocolError("segment payload CRC32 mismatch")
        size = ulen or length
        if not decompress:
            return Segment(b"", self_contained, size), end + 4
        if ulen:
            # ulen (17 bits, at most 128 KiB) is what lz4 allocates; the block must fill it exactly
            body = decompress_block(body, ulen)
        return Segment(body, self_contained, size), end + 4
