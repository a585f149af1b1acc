"""The driver's Murmur3 against the specification: a reference implementation of Cassandra's
Murmur3Partitioner hash (MurmurHash3 x64-128, first 64 bits, tail bytes sign-extended as Java
reads them), on random keys of every tail length and with bytes of 0x80 and above."""

from __future__ import annotations

import random
import struct

import pytest

from cql_protocol.types import INT, TEXT
from translators.token import MAX_TOKEN, MIN_TOKEN, murmur3_token, partition_token

_M64 = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F
_BLOCK = struct.Struct("<QQ")


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    k ^= k >> 33
    return k


def _signed(b: int) -> int:
    return b - 256 if b > 127 else b  # a Java byte


def reference_token(data: bytes) -> int:
    n = len(data)
    h1 = h2 = 0
    nblocks = n // 16
    for i in range(nblocks):
        k1, k2 = _BLOCK.unpack_from(data, i * 16)
        h1 ^= (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
        h1 = (((_rotl(h1, 27) + h2) & _M64) * 5 + 0x52DCE729) & _M64
        h2 ^= (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
        h2 = (((_rotl(h2, 31) + h1) & _M64) * 5 + 0x38495AB5) & _M64
    tail = data[nblocks * 16:]
    k1 = k2 = 0
    for i in range(len(tail) - 1, 7, -1):
        k2 ^= (_signed(tail[i]) << ((i - 8) * 8)) & _M64
    if len(tail) > 8:
        h2 ^= (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
    for i in range(min(len(tail), 8) - 1, -1, -1):
        k1 ^= (_signed(tail[i]) << (i * 8)) & _M64
    if tail:
        h1 ^= (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    h1 = (h1 + h2) & _M64
    token = h1 - (1 << 64) if h1 >= 1 << 63 else h1
    return MAX_TOKEN if token == MIN_TOKEN else token


def test_the_reference_gives_cassandras_tokens() -> None:
    # SELECT token(k) on a live Cassandra 5.0 (as in test_reads): the reference is the spec
    assert reference_token(struct.pack(">i", 1)) == -4069959284402364209
    assert reference_token(b"static-only") == 4289550837209063079


@pytest.mark.parametrize("seed", range(4))
def test_the_drivers_hash_equals_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    keys = [b"", b"\x80", b"\xff" * 15, b"\xff" * 16, b"\x80" * 17, bytes(range(256))]
    for length in range(0, 80):  # every tail length, several blocks
        for _ in range(25):
            keys.append(rng.randbytes(length))
    keys += [bytes(rng.choice((0x00, 0x7F, 0x80, 0xFF)) for _ in range(rng.randrange(1, 40))) for _ in range(500)]
    assert any(b >= 0x80 for k in keys for b in k[-(len(k) % 16 or 1):])  # tails with high bytes
    for k in keys:
        assert murmur3_token(k) == reference_token(k), k.hex()


def test_partition_tokens_as_cassandra() -> None:
    assert partition_token([INT], [5]) == -7509452495886106294
    assert partition_token([TEXT], ["p1"]) == -9032840179063523349
    assert partition_token([INT, TEXT], [1, "a"]) == reference_token(b"\x00\x04\x00\x00\x00\x01\x00\x00\x01a\x00")
