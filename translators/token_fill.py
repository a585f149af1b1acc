"""Giving existing items the token index's keys (mapping option `token_index` set on a table that
already holds data): one conditional UpdateItem per item, made here from the item (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import keys, values
from .item_codec import token_attributes
from .mapping import TOKEN_BUCKET, TOKEN_KEY, TableMapping

Item = dict[str, Any]


def _owner(tms: Sequence[TableMapping], item: Item) -> TableMapping | None:
    """The CQL table an item of a (possibly shared) DynamoDB table belongs to, by its key prefixes."""
    for tm in tms:
        pk = item.get(tm.pk.attribute)
        if pk is None or (tm.pk.prefix and not str(pk.get("S", "")).startswith(tm.pk.prefix)):
            continue
        sk = tm.sk
        if sk is not None and sk.prefix:
            a = item.get(sk.attribute, {})
            if sk.encoding == "constant" and a.get("S") != sk.prefix:
                continue
            if sk.encoding != "constant" and not values.attr_bytes(a.get("B", b"")).startswith(sk.prefix.encode()):
                continue
        return tm
    return None


def _partition(tm: TableMapping, item: Item) -> tuple[Any, ...] | None:
    cols = tm.schema.columns
    pk = tm.schema.partition_key
    try:
        part = tuple(values.from_attribute(cols[c], item.get(tm.attribute_name(c))) for c in pk)
        if any(v is None for v in part):
            part = tuple(keys.decode_partition([cols[c] for c in pk], item[tm.pk.attribute], tm.pk.prefix))
    except (ValueError, KeyError):
        return None
    return part


def token_update(tms: Sequence[TableMapping], item: Item) -> dict[str, Any] | None:
    """The UpdateItem request that gives `item` (of the DynamoDB table the CQL tables `tms` share)
    its token attributes; None when it has them or belongs to none of the `tms` mapped with
    token_index. The condition keeps a row deleted meanwhile deleted."""
    if TOKEN_KEY in item:
        return None
    tm = _owner([t for t in tms if t.token_index], item)
    part = None if tm is None else _partition(tm, item)
    if tm is None or part is None:
        return None
    attrs = token_attributes(tm, part)
    key = {tm.pk.attribute: item[tm.pk.attribute]}
    if tm.sk is not None:
        key[tm.sk.attribute] = item[tm.sk.attribute]
    return {
        "TableName": tm.dynamodb_table,
        "Key": key,
        "UpdateExpression": "SET #tb = :tb, #tk = :tk",
        "ConditionExpression": "attribute_exists(#pk)",
        "ExpressionAttributeNames": {"#tb": TOKEN_BUCKET, "#tk": TOKEN_KEY, "#pk": tm.pk.attribute},
        "ExpressionAttributeValues": {":tb": attrs[TOKEN_BUCKET], ":tk": attrs[TOKEN_KEY]},
    }
