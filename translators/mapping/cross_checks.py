"""The checks between the tables of a mapping: names mapped once, and tables sharing a DynamoDB
table agreeing on keys, TTL attribute, indexes and key prefixes that keep their items apart.
"""

from __future__ import annotations

import dataclasses

from .build import _Invalid
from .model import TableMapping
from .yaml_lines import PathT, _fmt_path


def _comparable(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _cross_checks(tables: list[tuple[TableMapping, PathT]]) -> list[tuple[TableMapping, PathT]]:
    """Checks between tables; returns the tables with shared-table adjustments applied."""
    seen: dict[tuple[str, str], PathT] = {}
    for tm, path in tables:
        key = (tm.keyspace, tm.table)
        if key in seen:
            raise _Invalid((*path, "cql"), f"{tm.cql_name} is already mapped by {_fmt_path(seen[key])}")
        seen[key] = path

    groups: dict[str, list[int]] = {}
    for i, (tm, _) in enumerate(tables):
        groups.setdefault(tm.dynamodb_table, []).append(i)
    out = list(tables)
    for dt, idx in groups.items():
        if len(idx) < 2:
            continue
        # A constant sort key sharing a table with Binary sort keys is stored as the prefix's bytes.
        sk_types = {sk.dynamodb_type for sk in (out[i][0].sk for i in idx)
                    if sk is not None and sk.encoding != "constant"}
        if sk_types == {"B"}:
            for i in idx:
                tm, path = out[i]
                if tm.sk is not None and tm.sk.encoding == "constant":
                    out[i] = (dataclasses.replace(tm, sk=dataclasses.replace(tm.sk, dynamodb_type="B")), path)
        first, fpath = out[idx[0]]
        for i in idx[1:]:
            tm, path = out[i]
            other = f"{first.cql_name} ({_fmt_path(fpath)})"
            why = f"; tables sharing DynamoDB table {dt!r} need the same key attributes and types"
            if (tm.pk.attribute, tm.pk.dynamodb_type) != (first.pk.attribute, first.pk.dynamodb_type):
                raise _Invalid((*path, "partition_key"), f"partition key {tm.pk.attribute} ({tm.pk.dynamodb_type}) "
                               f"differs from {first.pk.attribute} ({first.pk.dynamodb_type}) of {other}{why}")
            mine = (tm.sk.attribute, tm.sk.dynamodb_type) if tm.sk else None
            theirs = (first.sk.attribute, first.sk.dynamodb_type) if first.sk else None
            if mine != theirs:
                def show(k: tuple[str, str] | None) -> str:
                    return f"{k[0]} ({k[1]})" if k else "none"

                raise _Invalid((*path, "sort_key"), f"sort key {show(mine)} differs from {show(theirs)} of "
                               f"{other}{why}")
            if tm.ttl_attribute != first.ttl_attribute:
                raise _Invalid((*path, "ttl_attribute"), f"ttl_attribute {tm.ttl_attribute!r} differs from "
                               f"{first.ttl_attribute!r} of {other}; DynamoDB has one TTL attribute per table")
        for n, i in enumerate(idx):
            tm, path = out[i]
            for j in idx[:n]:
                prev, ppath = out[j]
                apart = not _comparable(tm.pk.prefix, prev.pk.prefix) or (
                    tm.sk is not None and prev.sk is not None and not _comparable(tm.sk.prefix, prev.sk.prefix))
                if not apart:
                    where = (*path, "sort_key", "prefix") if tm.sk else (*path, "partition_key", "prefix")
                    raise _Invalid(where, f"{tm.cql_name} and {prev.cql_name} ({_fmt_path(ppath)}) share DynamoDB "
                                   f"table {dt!r} but their key prefixes do not keep their items apart: give them "
                                   "prefixes of which neither starts with the other")
        _check_index_agreement(dt, [out[i] for i in idx])
    return out


def _check_index_agreement(dt: str, tables: list[tuple[TableMapping, PathT]]) -> None:
    seen: dict[str, tuple[tuple[object, ...], str]] = {}
    for tm, path in tables:
        for i, ix in enumerate(tm.indexes):
            shape = (
                tm.attribute_name(ix.partition_key), tm.attribute_type(ix.partition_key),
                tm.attribute_name(ix.sort_key) if ix.sort_key else None,
                tm.attribute_type(ix.sort_key) if ix.sort_key else None,
                ix.projection,
            )
            if ix.name in seen and seen[ix.name][0] != shape:
                raise _Invalid((*path, "indexes", i, "name"), f"index {ix.name!r} of DynamoDB table {dt!r} is also "
                               f"defined by {seen[ix.name][1]} with other keys or projection")
            seen.setdefault(ix.name, (shape, tm.cql_name))
    _check_key_attribute_types(dt, tables)


def _check_key_attribute_types(dt: str, tables: list[tuple[TableMapping, PathT]]) -> None:
    """Every attribute used as a table or index key has one type across the DynamoDB table."""
    types: dict[str, tuple[str, str]] = {}
    for tm, path in tables:
        uses: list[tuple[str, str, PathT]] = [(tm.pk.attribute, tm.pk.dynamodb_type, (*path, "partition_key"))]
        if tm.sk:
            uses.append((tm.sk.attribute, tm.sk.dynamodb_type, (*path, "sort_key")))
        for i, ix in enumerate(tm.indexes):
            for role, col in (("partition_key", ix.partition_key), ("sort_key", ix.sort_key)):
                if col:
                    uses.append((tm.attribute_name(col), tm.attribute_type(col), (*path, "indexes", i, role)))
        for attr, typ, p in uses:
            if attr in types and types[attr][0] != typ:
                raise _Invalid(p, f"attribute {attr!r} is a key of type {typ} here but {types[attr][0]} in "
                               f"{types[attr][1]} (DynamoDB table {dt!r})")
            types.setdefault(attr, (typ, tm.cql_name))
