"""A row's state ↔ its DynamoDB item, per the table's mapping (layout in `row_state`)."""

from __future__ import annotations

import base64
import zlib
from binascii import a2b_base64 as _b64decode
from typing import Any

import orjson

from cql_protocol.types import ListType, MapType, SetType

from . import keys, values
from .item_size import MAX_ITEM_SIZE, item_size
from .mapping import TOKEN_BUCKET, TOKEN_KEY, TableMapping
from .row_state import Cell, Collection, RowState, dump_meta, item_expiry, load_meta, visible
from .token import murmur3_token, partition_key_bytes, token_bucket, token_index_key

META = "_m"
VERSION = "_v"
COMPRESSED = "_z"
POINTER = "_s3"  # large_items: s3 (translators.s3_pointer)

Attribute = dict[str, Any]
Item = dict[str, Attribute]


def is_collection(t: object) -> bool:
    """Non-frozen collections merge element by element; everything else is one cell."""
    return isinstance(t, ListType | SetType | MapType) and not t.frozen


def collection_kind(t: object) -> str:
    return "list" if isinstance(t, ListType) else "set" if isinstance(t, SetType) else "map"


def key_item(tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...]) -> Item:
    """The primary-key attributes of the row (a static row has no clustering values)."""
    schema = tm.schema
    cols = schema.columns
    item: Item = {
        tm.pk.attribute: keys.encode_partition(
            [cols[c] for c in schema.partition_key], partition, tm.pk.prefix, dynamodb_type=tm.pk.dynamodb_type
        )
    }
    sk = tm.sk
    if sk is not None:
        if sk.encoding == "constant":
            item[sk.attribute] = {"S": sk.prefix}
        else:
            names = schema.clustering_columns
            orders = [o for _, o in schema.clustering]
            item[sk.attribute] = keys.encode_clustering(
                [cols[c] for c in names], orders, clustering, sk.prefix, sk.encoding
            )
    return item


def key_item_attributes(tm: TableMapping, item: Item) -> Item:
    """The table-key attributes of an item."""
    out = {tm.pk.attribute: item[tm.pk.attribute]}
    if tm.sk is not None:
        out[tm.sk.attribute] = item[tm.sk.attribute]
    return out


def to_item(tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...], state: RowState,
            now: int) -> Item:
    item = key_item(tm, partition, clustering)
    cols = tm.schema.columns
    live = visible(state, now) or {}
    for col, value in live.items():
        t = cols[col]
        attr = values.to_attribute(t, value)
        if attr is not None:
            item[tm.attribute_name(col)] = attr
    # clustering values as ordinary attributes too: exact (decimal scale) and queryable
    for name, v in zip(tm.schema.clustering_columns, clustering, strict=False):
        attr = values.to_attribute(cols[name], v)
        if attr is not None:
            item[tm.attribute_name(name)] = attr
    for name, v in zip(tm.schema.partition_key, partition, strict=True):
        attr = values.to_attribute(cols[name], v)
        if attr is not None and tm.attribute_name(name) not in item:
            item[tm.attribute_name(name)] = attr
    if tm.token_index:
        item.update(token_attributes(tm, partition))
    item[META] = {"S": dump_meta(_meta_view(tm, state))}
    item[tm.timestamp_attribute] = {"N": str(state.max_ts())}
    item[VERSION] = {"N": str(state.version + 1)}
    exp = item_expiry(state, now, tm.tombstone_ttl)
    if exp is not None:
        item[tm.ttl_attribute] = {"N": str(exp)}
    if tm.large_items == "compress" and item_size(item) > MAX_ITEM_SIZE:
        item = compress_item(tm, item)
    return item


def token_attributes(tm: TableMapping, partition: tuple[Any, ...]) -> Item:
    """The token index's key attributes of a partition's items (mapping option token_index)."""
    kb = partition_key_bytes([tm.schema.columns[c] for c in tm.schema.partition_key], partition)
    token = murmur3_token(kb)
    return {TOKEN_BUCKET: {"N": str(token_bucket(token))}, TOKEN_KEY: {"B": token_index_key(token, kb)}}


def versioned_put(table: str, item: Item, old_version: int | None) -> dict[str, Any]:
    """A PutItem of `item` that lands only if the stored item is still the one merged from
    (`old_version`; None: there was none). Every read-merge-write goes through this condition."""
    request: dict[str, Any] = {"TableName": table, "Item": item, "ExpressionAttributeNames": {"#v": VERSION}}
    if old_version is None:
        request["ConditionExpression"] = "attribute_not_exists(#v)"
    else:
        request["ConditionExpression"] = "#v = :v"
        request["ExpressionAttributeValues"] = {":v": {"N": str(old_version)}}
    return request


def compress_item(tm: TableMapping, item: Item) -> Item:
    """`large_items: compress`: regular column values and the metadata go into one zlib-compressed
    binary attribute; keys, the timestamp, the TTL and the version stay readable."""
    keep = {tm.pk.attribute, tm.timestamp_attribute, tm.ttl_attribute, VERSION, TOKEN_BUCKET, TOKEN_KEY}
    if tm.sk is not None:
        keep.add(tm.sk.attribute)
    keep.update(tm.attribute_name(c) for c in tm.schema.primary_key)
    packed = {k: v for k, v in item.items() if k not in keep}
    out = {k: v for k, v in item.items() if k in keep}
    out[COMPRESSED] = {"B": zlib.compress(orjson.dumps(_json_attr(packed)), 6)}
    return out


def expand(item: Item) -> Item:
    """Undoes `compress_item` (a no-op for uncompressed items)."""
    z = item.get(COMPRESSED)
    if z is None:
        return item
    packed = from_wire(orjson.loads(zlib.decompress(z["B"])))
    out = {k: v for k, v in item.items() if k != COMPRESSED}
    out.update(packed)
    return out


def _meta_view(tm: TableMapping, s: RowState) -> RowState:
    """Collection element values go into `_m` in their attribute form (JSON-safe, typed)."""
    cols = tm.schema.columns
    out = RowState(s.deleted, s.marker, s.cells, {}, s.version)
    for col, coll in s.collections.items():
        t = cols[col]
        enc = Collection(coll.kind, coll.tomb, {})
        for k, e in coll.elems.items():
            enc.elems[k] = Cell(None if e.value is None else _element_attr(t, e.value), e.ts, e.expiry)
        out.collections[col] = enc
    # plain cell values are not in the metadata (dump_meta leaves them out)
    return out


def _element_attr(t: Any, value: Any) -> Any:
    if isinstance(t, MapType):
        k, v = value
        return [_json_attr(values.to_attribute(t.key, k)), _json_attr(values.to_attribute(t.value, v))]
    return _json_attr(values.to_attribute(t.element, value))


def _json_attr(a: Any) -> Any:
    """Attribute values with bytes as base64, as DynamoDB's JSON protocol carries them."""
    if isinstance(a, dict):
        return {k: _json_attr(v) for k, v in a.items()}
    if isinstance(a, list):
        return [_json_attr(v) for v in a]
    if isinstance(a, bytes | bytearray):
        return base64.b64encode(bytes(a)).decode()
    return a


def from_wire(a: Any) -> Any:
    """DynamoDB JSON → attribute values with real bytes for B and BS."""
    if isinstance(a, dict):
        out: dict[str, Any] = {}
        for k, v in a.items():
            if k == "B" and isinstance(v, str):
                out[k] = _b64decode(v)
            elif k == "BS" and isinstance(v, list):
                out[k] = [_b64decode(x) if isinstance(x, str) else x for x in v]
            elif isinstance(v, dict | list):
                out[k] = from_wire(v)
            else:  # S, N, BOOL, NULL: as they are (no call per scalar on the read path)
                out[k] = v
        return out
    if isinstance(a, list):
        return [from_wire(v) for v in a]
    return a


def from_wire_item(item: Item) -> Item:
    """`from_wire` of a whole item, with the common attributes (S, N, B) handled inline: the read
    path decodes every item it returns. Attributes without bytes are shared, not copied."""
    out: Item = {}
    for k, a in item.items():
        if "S" in a or "N" in a:
            out[k] = a
        elif type(b := a.get("B")) is str:
            out[k] = {"B": _b64decode(b)}
        else:
            out[k] = from_wire(a)
    return out


def from_item(tm: TableMapping, item: Item | None) -> RowState | None:
    """The row state an item holds (None: no item)."""
    if not item:
        return None
    if POINTER in item:
        # decoding the pointer item alone would read a row without its values
        raise ValueError(f"{tm.cql_name}: an item that points to S3 must be resolved "
                         "(proxy.writes.large_items.load) before it is decoded")
    return state_of(tm, expand(from_wire_item(item)))


def state_of(tm: TableMapping, item: Item) -> RowState:
    """The row state of an item already through `from_wire` and `expand`."""
    cols = tm.schema.columns
    plain: dict[str, Any] = {}
    from_attribute = values.from_attribute
    for col, name, t in tm.plain_columns:
        attr = item.get(name)
        if attr is not None:
            plain[col] = from_attribute(t, attr)
    meta = item.get(META, {}).get("S")
    version = int(item.get(VERSION, {}).get("N", "0"))
    if meta is None:  # a counter row, or an item written by something else: live cells at ts 0
        s = RowState(version=version, deleted=-1)
        for col, v in plain.items():
            if col not in tm.schema.primary_key:
                s.cells[col] = Cell(v, 0)
        return s

    def decode_element(col: str, raw: Any) -> Any:
        t = cols[col]
        if isinstance(t, MapType):
            return (values.from_attribute(t.key, from_wire(raw[0])), values.from_attribute(t.value, from_wire(raw[1])))
        return values.from_attribute(t.element, from_wire(raw))  # type: ignore[attr-defined]

    return load_meta(meta, plain, version, decode_element)
