"""`large_items: s3`: an item over 400 KB ↔ a small pointer item plus an S3 object (pure functions).

The pointer item keeps what DynamoDB itself and readers that never open the object need: the key
attributes (table and primary-key columns), the write timestamp, the TTL and the version `_v`. Every
other attribute, the cell metadata `_m` included, is packed exactly as `compress_item` packs it
(zlib over the DynamoDB JSON of the attributes) and becomes the object's body. The pointer attribute
`_s3` is a map: `bucket`, `key`, `size` (bytes of the body) and `sha256` (hex of the body), so a
reader can tell a truncated or replaced object from the one the item was written with.

Object keys are `<dynamodb table>/<sha256 of the item's key>/<item version>-<writer nonce>`: the
version keeps the objects of one row apart over time, the nonce keeps apart two writers racing for
the same version (only one of their conditional puts wins; the loser deletes its own object).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from .item_codec import COMPRESSED, POINTER, VERSION, compress_item, key_item_attributes
from .mapping import TableMapping

Item = dict[str, Any]


class PointerError(ValueError):
    """An `_s3` attribute that is not a pointer, or an object that is not the one it points at."""


@dataclass(frozen=True, slots=True)
class Pointer:
    bucket: str
    key: str
    size: int
    sha256: str

    def attribute(self) -> dict[str, Any]:
        return {"M": {"bucket": {"S": self.bucket}, "key": {"S": self.key}, "size": {"N": str(self.size)},
                      "sha256": {"S": self.sha256}}}

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def pointer_of(item: Item | None) -> Pointer | None:
    """The pointer an item (wire or decoded form) holds; None for inline items."""
    if not item or POINTER not in item:
        return None
    attr = item[POINTER]
    try:
        m = attr["M"]
        return Pointer(str(m["bucket"]["S"]), str(m["key"]["S"]), int(m["size"]["N"]), str(m["sha256"]["S"]))
    except (KeyError, TypeError, ValueError):
        raise PointerError(f"attribute {POINTER} is not an S3 pointer: {str(attr)[:200]}") from None


def object_key(tm: TableMapping, item: Item, nonce: str) -> str:
    key_attrs = key_item_attributes(tm, item)
    digest = hashlib.sha256(orjson.dumps(key_attrs, option=orjson.OPT_SORT_KEYS,
                                         default=_bytes_hex)).hexdigest()[:40]
    return f"{tm.dynamodb_table}/{digest}/{item[VERSION]['N']}-{nonce}"


def _bytes_hex(obj: object) -> str:
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj).hex()
    raise TypeError(type(obj).__name__)


def offload(tm: TableMapping, item: Item, bucket: str, nonce: str) -> tuple[Item, Pointer, bytes]:
    """(pointer item, pointer, object body) for an item too large to store inline."""
    packed = compress_item(tm, item)
    body: bytes = packed.pop(COMPRESSED)["B"]
    ptr = Pointer(bucket, object_key(tm, item, nonce), len(body), hashlib.sha256(body).hexdigest())
    packed[POINTER] = ptr.attribute()
    return packed, ptr, body


def restore(item: Item, body: bytes) -> Item:
    """The pointer item with its object's body in place of the pointer: a compressed item, which
    `item_codec.expand` (and so every decoder) reads like any other."""
    ptr = pointer_of(item)
    if ptr is None:
        return item
    if len(body) != ptr.size or hashlib.sha256(body).hexdigest() != ptr.sha256:
        raise PointerError(f"{ptr} holds {len(body)} bytes that are not the object this item was written with "
                           f"(expected {ptr.size} bytes, sha256 {ptr.sha256[:12]}...)")
    out = {k: v for k, v in item.items() if k != POINTER}
    out[COMPRESSED] = {"B": body}
    return out
