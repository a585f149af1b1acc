"""The DynamoDB items a statement would make or read, and the sizes DynamoDB would count for them,
from the mapping's own item encoder (translators.item_codec). Pure."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cql_protocol.messages.result import ColumnSpec
from cql_protocol.types import ListType, MapType, SetType, deserialize
from translators.item_codec import (
    COMPRESSED,
    Item,
    collection_kind,
    compress_item,
    is_collection,
    key_item,
    to_item,
)
from translators.item_size import MAX_ITEM_SIZE, attribute_size, item_size
from translators.mapping import TableMapping
from translators.row_state import Mutation, merge

MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """One item as DynamoDB would store it: its size, its key sizes, its partition key."""

    size: int  # as stored (after `large_items: compress` where the table has it)
    raw_size: int  # before compression
    pk_bytes: int
    sk_bytes: int
    partition: str  # the partition key attribute's value, as text (hashed before it is shown)
    compressed_size: int  # what `compress` would make of it (raw_size when it fits already)
    gsi_sizes: tuple[int, ...]  # the projected size in each GSI holding it (absent: not in that GSI)

    @property
    def over_limit(self) -> bool:
        return self.raw_size > MAX_ITEM_SIZE


def facts(tm: TableMapping, item: Item, raw: Item | None = None) -> ItemFacts:
    raw = item if raw is None else raw
    size = item_size(item)
    raw_size = size if raw is item else item_size(raw)
    pk = item[tm.pk.attribute]
    sk = item.get(tm.sk.attribute) if tm.sk is not None else None
    compressed = raw_size
    if raw_size > MAX_ITEM_SIZE:
        compressed = size if item is not raw else item_size(compress_item(tm, raw))
    return ItemFacts(size, raw_size, attribute_size(pk), attribute_size(sk) if sk is not None else 0,
                     _key_text(pk), compressed, _gsi_sizes(tm, item, size))


def write_item(tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...], m: Mutation,
               now: int | None = None) -> ItemFacts:
    """The item a row write makes when the row was not there before (an INSERT's whole row; an
    UPDATE's columns only: the item it merges into may be larger)."""
    t = int(time.time()) if now is None else now
    state = merge(None, m, t)
    item = to_item(tm, partition, clustering, state, t)
    raw = item
    if COMPRESSED in item:
        raw = to_item(replace(tm, large_items="reject"), partition, clustering, state, t)
    return facts(tm, item, raw)


def counter_item(tm: TableMapping, partition: tuple[Any, ...], clustering: tuple[Any, ...],
                 deltas: dict[str, int]) -> ItemFacts:
    """A counter row's item: its key, its key columns as attributes and one number per counter."""
    item = key_item(tm, partition, clustering)
    for col in deltas:
        item[tm.attribute_name(col)] = {"N": str(deltas[col])}
    return facts(tm, item)


def row_item(tm: TableMapping, columns: Sequence[ColumnSpec], row: Sequence[bytes | None], version: int,
             now: int | None = None) -> ItemFacts | None:
    """The item holding a result row, rebuilt from its values (as a whole-row INSERT would write
    it, at the current time); None when the row does not carry the whole primary key."""
    schema = tm.schema
    values: dict[str, Any] = {}
    for spec, raw in zip(columns, row, strict=False):
        if spec.name in schema.columns and raw is not None:
            values[spec.name] = deserialize(spec.type, raw, version)
    if any(c not in values for c in schema.partition_key):
        return None
    partition = tuple(values[c] for c in schema.partition_key)
    clustering: tuple[Any, ...] = ()
    if schema.clustering_columns:
        if any(c not in values for c in schema.clustering_columns):
            return None
        clustering = tuple(values[c] for c in schema.clustering_columns)
    m = Mutation(ts=time.time_ns() // 1000, row_marker=True)
    for col, v in values.items():
        if col in schema.primary_key:
            continue
        t = schema.columns[col]
        if is_collection(t):
            m.collection_ops.append((col, f"{collection_kind(t)}:overwrite", _collection(t, v)))
        else:
            m.cells[col] = v
    return write_item(tm, partition, clustering, m, now)


def _collection(t: Any, v: Any) -> Any:
    if isinstance(t, MapType):
        return dict(v)
    if isinstance(t, SetType | ListType):
        return list(v)
    return v


def _gsi_sizes(tm: TableMapping, item: Item, size: int) -> tuple[int, ...]:
    """What each GSI stores of the item (DynamoDB writes the index only when the item has its key
    attributes): the whole item (ALL), or the keys plus the projected attributes."""
    out = []
    keys = [tm.pk.attribute] + ([tm.sk.attribute] if tm.sk is not None else [])
    for ix in tm.indexes:
        names = [tm.attribute_name(ix.partition_key)] + ([tm.attribute_name(ix.sort_key)] if ix.sort_key else [])
        if any(n not in item for n in names):
            out.append(-1)
            continue
        if ix.projection == "ALL":
            out.append(size)
            continue
        kept = set(keys) | set(names) | ({tm.attribute_name(c) for c in ix.include} if ix.projection == "INCLUDE"
                                         else set())
        out.append(sum(len(n.encode()) + attribute_size(item[n]) for n in kept if n in item))
    return tuple(out)


def _key_text(a: dict[str, Any]) -> str:
    (kind, v), = a.items()
    return f"{kind}:{v.hex() if isinstance(v, bytes | bytearray) else v}"
