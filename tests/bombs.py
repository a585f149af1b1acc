"""Compressed bodies that grow enormous when decompressed, built without ever holding the result.

Shared by the codec unit tests and the integration tests that throw them at a real sidecar.
"""

from __future__ import annotations

import struct

MIB = 1024 * 1024


def lz4_block_bomb(n: int) -> bytes:
    """A valid raw LZ4 block that decompresses to `n` zero bytes, in about n / 255 bytes.

    One literal zero, then one match of offset 1 repeating it n - 6 times (its length spelled as
    a run of 255s), then the five literals a block must end with.
    """
    if n < 16:
        raise ValueError("too small to be worth a bomb")
    match = n - 1 - 5
    rest = match - 4 - 15  # what the token's low nibble (15) does not already say
    return b"".join(
        (
            b"\x1f\x00\x01\x00",  # token: 1 literal, match length 15+; the literal; offset 1
            b"\xff" * (rest // 255),
            bytes([rest % 255]),
            b"\x50" + b"\x00" * 5,  # last sequence: five literals, no match
        )
    )


def lz4_frame_body_bomb(n: int, declared: int | None = None) -> bytes:
    """A v3/v4 lz4 frame body (big-endian length prefix + block) that really becomes `n` bytes;
    `declared` lets the prefix lie."""
    return struct.pack(">I", n if declared is None else declared) + lz4_block_bomb(n)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def snappy_bomb(n: int, declared: int | None = None) -> bytes:
    """A valid raw Snappy block that decompresses to `n` zero bytes (about 3 bytes per 64):
    one literal zero, then copies of 64 bytes at offset 1."""
    copies, last = divmod(n - 1, 64)
    copy64 = bytes([(63 << 2) | 2]) + b"\x01\x00"
    tail = bytes([((last - 1) << 2) | 2]) + b"\x01\x00" if last else b""
    return varint(n if declared is None else declared) + b"\x00\x00" + copy64 * copies + tail


def frame(version: int, stream: int, opcode: int, body: bytes, *, flags: int = 0) -> bytes:
    """A request frame around `body`, whatever it holds."""
    return struct.pack(">BBhBI", version, flags, stream, opcode, len(body)) + body
