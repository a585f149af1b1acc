"""The DynamoDB tables a mapping needs, as definitions: keys, GSIs and TTL attribute per table
(pure; proxy/provision.py compares them with what exists and creates what is missing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .mapping import TOKEN_BUCKET, TOKEN_INDEX, TOKEN_KEY, Mapping, TableMapping

KeyAttr = tuple[str, str]  # (attribute name, S|N|B)


@dataclass(frozen=True)
class GsiDefinition:
    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None
    projection: str
    non_key_attributes: tuple[str, ...] = ()

    def key_schema(self) -> list[dict[str, str]]:
        return _key_schema(self.partition_key, self.sort_key)

    def attributes(self) -> list[KeyAttr]:
        return [self.partition_key, *([self.sort_key] if self.sort_key else [])]

    def to_api(self) -> dict[str, Any]:
        projection: dict[str, Any] = {"ProjectionType": self.projection}
        if self.projection == "INCLUDE":
            projection["NonKeyAttributes"] = list(self.non_key_attributes)
        return {"IndexName": self.name, "KeySchema": self.key_schema(), "Projection": projection}

    def describe(self) -> str:
        keys = _fmt_keys(self.partition_key, self.sort_key)
        extra = f" [{', '.join(self.non_key_attributes)}]" if self.projection == "INCLUDE" else ""
        return f"{self.name} ({keys}; projection {self.projection}{extra})"


@dataclass(frozen=True)
class TableDefinition:
    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None
    gsis: tuple[GsiDefinition, ...]
    ttl_attribute: str
    sources: tuple[str, ...]  # the CQL tables stored in it

    def key_schema(self) -> list[dict[str, str]]:
        return _key_schema(self.partition_key, self.sort_key)

    def attribute_definitions(self, gsis: Sequence[GsiDefinition] | None = None) -> list[dict[str, str]]:
        attrs: dict[str, str] = {}
        keys = [self.partition_key, *([self.sort_key] if self.sort_key else [])]
        for g in self.gsis if gsis is None else gsis:
            keys.extend(g.attributes())
        for name, typ in keys:
            attrs.setdefault(name, typ)
        return [{"AttributeName": n, "AttributeType": t} for n, t in attrs.items()]

    def create_request(self) -> dict[str, Any]:
        req: dict[str, Any] = {
            "TableName": self.name,
            "KeySchema": self.key_schema(),
            "AttributeDefinitions": self.attribute_definitions(),
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.gsis:
            req["GlobalSecondaryIndexes"] = [g.to_api() for g in self.gsis]
        return req


def _key_schema(pk: KeyAttr, sk: KeyAttr | None) -> list[dict[str, str]]:
    out = [{"AttributeName": pk[0], "KeyType": "HASH"}]
    if sk:
        out.append({"AttributeName": sk[0], "KeyType": "RANGE"})
    return out


def _fmt_keys(pk: KeyAttr, sk: KeyAttr | None) -> str:
    s = f"{pk[0]} {pk[1]} HASH"
    return f"{s}, {sk[0]} {sk[1]} RANGE" if sk else s


def _gsi_of(tm: TableMapping, ix_index: int) -> GsiDefinition:
    ix = tm.indexes[ix_index]
    pk = (tm.attribute_name(ix.partition_key), tm.attribute_type(ix.partition_key))
    sk = (tm.attribute_name(ix.sort_key), tm.attribute_type(ix.sort_key)) if ix.sort_key else None
    non_key: tuple[str, ...] = ()
    if ix.projection == "INCLUDE":
        # Reads through the index need the expiry and write timestamp to hide expired rows and tombstones.
        names = [tm.attribute_name(c) for c in ix.include] + [tm.ttl_attribute, tm.timestamp_attribute]
        non_key = tuple(dict.fromkeys(names))
    return GsiDefinition(ix.name, pk, sk, ix.projection, non_key)


# token_index: keys only, since a partition's rows are then read from the table in clustering order
TOKEN_GSI = GsiDefinition(TOKEN_INDEX, (TOKEN_BUCKET, "N"), (TOKEN_KEY, "B"), "KEYS_ONLY")


def table_definitions(mapping: Mapping) -> list[TableDefinition]:
    """One definition per DynamoDB table, merging the CQL tables that share it."""
    out: list[TableDefinition] = []
    for name, tms in mapping.dynamodb_tables().items():
        first = tms[0]
        gsis: dict[str, GsiDefinition] = {}
        for tm in tms:
            for i in range(len(tm.indexes)):
                g = _gsi_of(tm, i)
                if g.name in gsis:  # same shape (checked by the mapping); merge INCLUDE lists
                    prev = gsis[g.name]
                    merged = tuple(dict.fromkeys(prev.non_key_attributes + g.non_key_attributes))
                    g = GsiDefinition(g.name, g.partition_key, g.sort_key, g.projection, merged)
                gsis[g.name] = g
            if tm.token_index:
                gsis[TOKEN_INDEX] = TOKEN_GSI
        out.append(TableDefinition(
            name=name,
            partition_key=(first.pk.attribute, first.pk.dynamodb_type),
            sort_key=(first.sk.attribute, first.sk.dynamodb_type) if first.sk else None,
            gsis=tuple(gsis.values()),
            ttl_attribute=first.ttl_attribute,
            sources=tuple(tm.cql_name for tm in tms),
        ))
    return out


# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------


