"""The pointer item and object body of `large_items: s3`, without any S3."""

from __future__ import annotations

import hashlib
import os

import orjson
import pytest

from proxy.aws.dynamodb_client import dumps
from translators.item_codec import from_item, to_item
from translators.item_size import MAX_ITEM_SIZE, item_size
from translators.mapping import loads_mapping
from translators.row_state import Mutation, merge
from translators.s3_pointer import POINTER, Pointer, PointerError, offload, pointer_of, restore

MAPPING = loads_mapping("""
version: 1
tables:
  - cql: ks.big
    dynamodb_table: s3_big
    phase: dual_write
    large_items: s3
    s3_bucket: s3-test-bucket
    schema:
      columns: {id: int, at: int, body: blob, note: text, tags: "set<text>"}
      partition_key: [id]
      clustering: [{at: desc}]
""")
TM = MAPPING.table("ks", "big")
NOW = 1_800_000_000


def _big_item(size: int = 600_000, ttl: int = 0):
    m = Mutation(ts=1_700_000_000_000_000, expiry=NOW + ttl if ttl else 0, row_marker=True,
                 cells={"body": os.urandom(size), "note": "x" * 1000}, collection_ops=[("tags", "set:add", ["a", "b"])])
    state = merge(None, m, NOW)
    return state, to_item(TM, (7,), (3,), state, NOW)


def test_oversized_item_becomes_a_small_pointer_item_keeping_keys_version_timestamp_and_ttl():
    _, item = _big_item(ttl=3600)
    assert item_size(item) > MAX_ITEM_SIZE
    small, ptr, body = offload(TM, item, "s3-test-bucket", "n0nce")
    assert item_size(small) < 1024
    kept = {"pk", "sk", "id", "at", "_ts", "_v", "_ttl"}
    assert set(small) == kept | {POINTER}
    assert all(small[k] == item[k] for k in kept)
    assert ptr.bucket == "s3-test-bucket" and ptr.size == len(body)
    assert ptr.sha256 == hashlib.sha256(body).hexdigest()
    table, key_hash, tail = ptr.key.split("/")
    assert table == "s3_big" and len(key_hash) == 40 and tail == f"{item['_v']['N']}-n0nce"
    assert pointer_of(small) == ptr
    # random bytes travel base64 inside the zlib stream: compression wins back most of the 4/3
    assert len(body) < 1.02 * item_size(item)
    text = to_item(TM, (7,), (3,), merge(None, Mutation(ts=1, row_marker=True, cells={"note": "ab" * 300_000}),
                                         NOW), NOW)
    assert len(offload(TM, text, "b", "n")[2]) < 10_000


def test_pointer_survives_the_dynamodb_wire_format_and_restores_the_row():
    state, item = _big_item()
    small, ptr, body = offload(TM, item, "s3-test-bucket", "n")
    wire = orjson.loads(dumps(small))  # as GetItem returns it
    assert pointer_of(wire) == ptr
    with pytest.raises(ValueError, match="must be resolved"):
        from_item(TM, wire)
    back = from_item(TM, restore(wire, body))
    assert back is not None
    assert back.cells == state.cells and back.collections.keys() == state.collections.keys()
    assert back.version == state.version + 1


def test_same_row_same_key_hash_other_rows_other_hash():
    _, a = _big_item(1000)
    _, b = _big_item(2000)
    other = to_item(TM, (8,), (3,), merge(None, Mutation(ts=1, row_marker=True), NOW), NOW)
    ka = offload(TM, a, "b", "x")[1].key.split("/")[1]
    assert ka == offload(TM, b, "b", "y")[1].key.split("/")[1]
    assert ka != offload(TM, other, "b", "x")[1].key.split("/")[1]


def test_restore_refuses_a_body_that_is_not_the_one_written():
    _, item = _big_item(1000)
    small, _, body = offload(TM, item, "b", "x")
    with pytest.raises(PointerError, match="not the object"):
        restore(small, body[:-1] + bytes([body[-1] ^ 1]))
    with pytest.raises(PointerError, match="not the object"):
        restore(small, body + b"\0")


def test_inline_items_have_no_pointer_and_restore_is_a_no_op():
    _, item = _big_item(1000)
    assert pointer_of(item) is None and pointer_of(None) is None
    assert restore(item, b"ignored") is item


def test_malformed_pointer_attribute_is_an_error():
    with pytest.raises(PointerError):
        pointer_of({POINTER: {"S": "s3://b/k"}})
    assert Pointer("b", "k/1", 1, "00").attribute()["M"]["key"] == {"S": "k/1"}
