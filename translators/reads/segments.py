"""The DynamoDB requests of each read shape: GetItem/BatchGetItem of whole keys, one Query per
partition (and clustering prefix), a Query on a GSI, a Scan."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from translators import canonical, item_codec, keys, values
from translators.mapping import TOKEN_BUCKET, TOKEN_INDEX, TOKEN_KEY, IndexSpec, TableMapping
from translators.reads.plan import Attribute, Item, Segment
from translators.token import MAX_TOKEN, MIN_TOKEN, token_bucket, token_index_bounds


def _sk_sort_key(attr: Attribute) -> Any:
    """Orders sort key attributes as DynamoDB does (B bytes, S UTF-8, N numerically)."""
    if "B" in attr:
        return values.attr_bytes(attr["B"])
    if "S" in attr:
        return attr["S"].encode("utf-8")
    return Decimal(attr["N"])


def _clusterings(tm: TableMapping, chosen: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]],
                 prefix: int) -> list[tuple[Any, ...]]:
    """The clustering prefixes the =/IN restrictions name (their product, duplicates dropped);
    [()] when there are none."""
    cols = tm.schema.columns
    ck = tm.schema.clustering_columns
    clusterings: list[tuple[Any, ...]] = [()]
    if chosen:
        clusterings = []
        seen: set[bytes] = set()
        from itertools import product

        types = [cols[c] for c in ck[:prefix]]
        for parts in product(*(rows for _, rows in chosen)):
            row = tuple(x for part in parts for x in part)
            ident = b"".join(canonical.canonical_bytes(t, v) for t, v in zip(types, row, strict=True))
            if ident not in seen:
                seen.add(ident)
                clusterings.append(row)
    return clusterings


def _whole_keys(tm: TableMapping, prefix: int, lower: tuple[Any, bool] | None,
                upper: tuple[Any, bool] | None) -> bool:
    """Whether the restrictions name whole primary keys (read by GetItem) rather than ranges."""
    sk = tm.sk
    return sk is None or sk.encoding == "constant" or (
        prefix == len(tm.schema.clustering_columns) and lower is None and upper is None)


def _key_lookup_segment(tm: TableMapping, partitions: list[tuple[Any, ...]], clusterings: list[tuple[Any, ...]],
                        reverse: bool) -> Segment:
    """GetItem (one key) or BatchGetItem (several) of whole primary keys, in result order."""
    sk = tm.sk
    keys_: list[Item] = []
    for p in partitions:
        ks = [item_codec.key_item(tm, p, c) for c in clusterings]
        if sk is not None and len(ks) > 1:
            ks.sort(key=lambda k: _sk_sort_key(k[sk.attribute]), reverse=reverse)
        keys_.extend(ks)
    return Segment("Get", keys=tuple(keys_))


def _partition_query_segments(tm: TableMapping, partitions: list[tuple[Any, ...]],
                              clusterings: list[tuple[Any, ...]], lower: tuple[Any, bool] | None,
                              upper: tuple[Any, bool] | None, reverse: bool) -> list[Segment]:
    """One Query per partition and clustering prefix, with the sort key condition of the slice,
    in result order."""
    schema = tm.schema
    cols = schema.columns
    ck = schema.clustering_columns
    sk = tm.sk
    assert sk is not None
    types = [cols[c] for c in ck]
    orders = [o for _, o in schema.clustering]
    pk_types = [cols[c] for c in schema.partition_key]
    out: list[Segment] = []
    for p in partitions:
        pk_attr = keys.encode_partition(pk_types, p, tm.pk.prefix, dynamodb_type=tm.pk.dynamodb_type)
        per: list[tuple[Any, Segment]] = []
        for c in clusterings:
            cond = keys.sort_key_condition(types, orders, c, lower, upper, sk.prefix, sk.encoding)
            if cond is not None and cond.empty:
                continue
            req: dict[str, Any] = {
                "TableName": tm.dynamodb_table,
                "KeyConditionExpression": "#pk = :pk",
                "ExpressionAttributeNames": {"#pk": tm.pk.attribute},
                "ExpressionAttributeValues": {":pk": pk_attr},
                "ConsistentRead": True,
            }
            if reverse:
                req["ScanIndexForward"] = False
            drop: tuple[Attribute, ...] = ()
            order_key: Any = b""
            if cond is not None:
                text, cv = cond.expression()
                req["KeyConditionExpression"] += " AND " + text
                req["ExpressionAttributeNames"]["#sk"] = sk.attribute
                req["ExpressionAttributeValues"].update(cv)
                drop = cond.drop
                order_key = _sk_sort_key(cond.values[0])
            per.append((order_key, Segment("Query", req, drop=drop)))
        if len(per) > 1:
            per.sort(key=lambda x: x[0], reverse=reverse)
        out.extend(s for _, s in per)
    return out


def _prefix_filter(tm: TableMapping, req: dict[str, Any]) -> None:
    """Limits a Scan or GSI Query to this CQL table's items when its DynamoDB table is shared."""
    terms = []
    names: dict[str, str] = {}
    vals: dict[str, Attribute] = {}
    if tm.pk.prefix:
        terms.append("begins_with(#ppk, :ppk)")
        names["#ppk"] = tm.pk.attribute
        vals[":ppk"] = {"S": tm.pk.prefix}
    sk = tm.sk
    if sk is not None and sk.prefix:
        names["#psk"] = sk.attribute
        if sk.encoding == "constant":
            terms.append("#psk = :psk")
            vals[":psk"] = {"S": sk.prefix}
        else:
            terms.append("begins_with(#psk, :psk)")
            vals[":psk"] = {"B": sk.prefix.encode("utf-8")}
    if terms:
        req["FilterExpression"] = " AND ".join(terms)
        req.setdefault("ExpressionAttributeNames", {}).update(names)
        req.setdefault("ExpressionAttributeValues", {}).update(vals)


def _scan_segment(tm: TableMapping) -> Segment:
    req: dict[str, Any] = {"TableName": tm.dynamodb_table, "ConsistentRead": True}
    _prefix_filter(tm, req)
    return Segment("Scan", req)


def _index_segment(tm: TableMapping, index: IndexSpec, value: Any) -> Segment:
    col = index.partition_key
    attr = values.to_attribute(tm.schema.columns[col], value)
    kind = tm.attribute_type(col)
    if attr is None or kind not in attr:
        # the GSI key holds the stored type; a value that is not stored that way matches nothing
        attr = {kind: canonical.to_text(tm.schema.columns[col], value)} if kind == "S" else attr
    req: dict[str, Any] = {
        "TableName": tm.dynamodb_table,
        "IndexName": index.name,
        "KeyConditionExpression": "#ik = :ik",
        "ExpressionAttributeNames": {"#ik": tm.attribute_name(col)},
        "ExpressionAttributeValues": {":ik": attr},
    }
    _prefix_filter(tm, req)
    return Segment("Query", req, index=index)


def _token_segments(tm: TableMapping, lower: tuple[int, bool] | None,
                    upper: tuple[int, bool] | None) -> list[Segment]:
    """token_index: one Query of the token GSI per bucket the range touches, in token order. Each
    gives the partitions in ring order; their rows are read from the table (`partition_request`)."""
    bounds = token_index_bounds(lower, upper)
    if bounds is None:
        return []
    lo_tok = MIN_TOKEN if lower is None else lower[0]
    hi_tok = MAX_TOKEN if upper is None else upper[0]
    out: list[Segment] = []
    for b in range(token_bucket(lo_tok), token_bucket(hi_tok) + 1):
        req: dict[str, Any] = {
            "TableName": tm.dynamodb_table,
            "IndexName": TOKEN_INDEX,
            "KeyConditionExpression": "#tb = :tb AND #tk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#tb": TOKEN_BUCKET, "#tk": TOKEN_KEY},
            "ExpressionAttributeValues": {":tb": {"N": str(b)}, ":lo": {"B": bounds[0]}, ":hi": {"B": bounds[1]}},
        }
        _prefix_filter(tm, req)
        out.append(Segment("Token", req))
    return out


def partition_request(tm: TableMapping, pk_attr: Attribute) -> dict[str, Any]:
    """A Query of one whole partition, in clustering order (the static row first)."""
    return {
        "TableName": tm.dynamodb_table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": tm.pk.attribute},
        "ExpressionAttributeValues": {":pk": pk_attr},
        "ConsistentRead": True,
    }
