"""Builds table mappings from a live Cassandra's system_schema.

The reading (`read_schema`) is separate from the building (`build_table_mappings`), which is pure
and works on the rows as plain dicts. The generated mappings work as they are: one DynamoDB table
per CQL table named ``<keyspace>.<table>``, keys from the key type rules, a GSI for every secondary
index on a column that can be a DynamoDB key, and phase ``cassandra``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from cql_protocol.typeparse import parse_cql_type

from .mapping import (
    MappingError,
    TableMapping,
    check_dynamodb_name,
    default_attribute_type,
    default_dynamodb_table_name,
    parse_identifier,
    quote_identifier,
    table_from_dict,
    udts_used,
)

log = logging.getLogger(__name__)

SYSTEM_KEYSPACES = frozenset({
    "system", "system_auth", "system_distributed", "system_schema", "system_traces", "system_views",
    "system_virtual_schema", "system_cluster_metadata",
})
_SAI_CLASSES = frozenset({"sai", "storageattachedindex", "org.apache.cassandra.index.sai.storageattachedindex"})


class SchemaImportError(Exception):
    """The requested keyspaces or tables cannot be imported (missing, system, ...)."""


@dataclass
class ImportResult:
    tables: list[TableMapping]
    notes: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # per table, for comments

    def warnings(self) -> list[str]:
        return [f"{quote_identifier(ks)}.{quote_identifier(t)}: {n}" for (ks, t), ns in self.notes.items() for n in ns]


@dataclass
class SchemaRows:
    """The system_schema rows of the tables to import, as dicts keyed by column name."""

    tables: list[tuple[str, str]]
    columns: list[dict[str, Any]]
    types: list[dict[str, Any]]
    indexes: list[dict[str, Any]]


def _unique(name: str, taken: set[str]) -> str:
    while name in taken:
        name = "_" + name
    return name


def _index_target(options: dict[str, str]) -> str | None:
    """The column a plain index targets, or None for keys()/values()/entries()/full() targets."""
    target = options.get("target", "")
    if "(" in target:
        return None
    try:
        return parse_identifier(target) if target.startswith('"') else target
    except ValueError:
        return None


def _index_entry(table: str, row: dict[str, Any], columns: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    """A mapping `indexes` entry for one system_schema.indexes row, or a note why there is none."""
    name = row["index_name"]
    options = dict(row.get("options") or {})
    kind = row.get("kind")
    if kind == "CUSTOM":
        cls = str(options.get("class_name", "")).lower()
        if cls not in _SAI_CLASSES:
            return None, f"index {name} ({options.get('class_name')}) skipped: only regular and SAI indexes map to GSIs"
    elif kind != "COMPOSITES":
        return None, f"index {name} (kind {kind}) skipped: only regular and SAI indexes map to GSIs"
    col = _index_target(options)
    if col is None or col not in columns:
        return None, (f"index {name} on {options.get('target')} skipped: a GSI can only index a whole column, not "
                      "collection keys, values or entries")
    dynamo_type = default_attribute_type(parse_cql_type(columns[col]))
    if dynamo_type not in ("S", "N", "B"):
        return None, (f"index {name} on {col} skipped: the column is stored as {dynamo_type}, which cannot be a "
                      "GSI key (a type override to S or N under attributes would allow it)")
    gsi = name if check_dynamodb_name(name) is None else default_dynamodb_table_name(table, name).replace(".", "_")
    if check_dynamodb_name(gsi) is not None:
        return None, f"index {name} skipped: no valid GSI name could be made from it"
    return {"name": gsi, "partition_key": col, "projection": "ALL", "cql_index": name}, None


def build_table_mappings(rows: SchemaRows, *, table_prefix: str = "") -> ImportResult:
    """Pure: system_schema rows → TableMappings with working defaults, plus notes on what was skipped."""
    by_table: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows.columns:
        by_table.setdefault((r["keyspace_name"], r["table_name"]), []).append(r)
    udt_rows = {(r["keyspace_name"], r["type_name"]): r for r in rows.types}
    result = ImportResult([])
    for ks, table in rows.tables:
        cols = by_table.get((ks, table), [])
        if not cols:
            raise SchemaImportError(f"no columns found for {quote_identifier(ks)}.{quote_identifier(table)}")
        notes: list[str] = []
        col_types = {r["column_name"]: r["type"] for r in cols}
        pk = [r["column_name"] for r in sorted((r for r in cols if r["kind"] == "partition_key"),
                                                key=lambda r: r["position"])]
        clustering = [{r["column_name"]: "desc" if r["clustering_order"] == "desc" else "asc"}
                      for r in sorted((r for r in cols if r["kind"] == "clustering"), key=lambda r: r["position"])]
        static = sorted(r["column_name"] for r in cols if r["kind"] == "static")

        # The user types the columns need, directly or through other user types.
        needed: dict[str, dict[str, str]] = {}
        pending = udts_used(parse_cql_type(t) for t in col_types.values())
        while pending:
            name = pending.pop()
            if name in needed:
                continue
            row = udt_rows.get((ks, name))
            if row is None:
                raise SchemaImportError(f"user type {ks}.{name} used by {ks}.{table} is not in system_schema.types")
            needed[name] = dict(zip(row["field_names"], row["field_types"], strict=True))
            pending |= udts_used(parse_cql_type(t) for t in needed[name].values()) - needed.keys()

        taken = set(col_types)
        pk_attr = _unique("pk", taken)
        sk_attr = _unique("sk", taken | {pk_attr})
        raw: dict[str, Any] = {
            "cql": f"{quote_identifier(ks)}.{quote_identifier(table)}",
            "dynamodb_table": default_dynamodb_table_name(ks, table, table_prefix),
            "partition_key": {"attribute": pk_attr},
        }
        if clustering:
            raw["sort_key"] = {"attribute": sk_attr}
        ttl_attr = _unique("_ttl", taken | {pk_attr, sk_attr})
        ts_attr = _unique("_ts", taken | {pk_attr, sk_attr, ttl_attr})
        if ttl_attr != "_ttl":
            raw["ttl_attribute"] = ttl_attr
        if ts_attr != "_ts":
            raw["timestamp_attribute"] = ts_attr
        if any(t == "counter" for t in col_types.values()):
            # Counter updates are ADDs: a timestamp condition would drop concurrent increments.
            raw["write_condition"] = "none"
            notes.append("counter table: write_condition none (increments are unconditional ADDs)")

        indexes = []
        for ir in sorted((r for r in rows.indexes if (r["keyspace_name"], r["table_name"]) == (ks, table)),
                         key=lambda r: r["index_name"]):
            entry, note = _index_entry(table, ir, col_types)
            if entry is not None:
                indexes.append(entry)
            if note:
                notes.append(note)
        if indexes:
            raw["indexes"] = indexes
        schema: dict[str, Any] = {"columns": col_types, "partition_key": pk, "clustering": clustering,
                                  "static": static}
        if needed:
            schema["types"] = {n: needed[n] for n in sorted(needed)}
        raw["schema"] = schema
        try:
            tm = table_from_dict(raw, source=f"{ks}.{table}")
        except MappingError as e:
            raise SchemaImportError(f"cannot map {quote_identifier(ks)}.{quote_identifier(table)}: {e}") from None
        result.tables.append(tm)
        if notes:
            result.notes[(ks, table)] = notes
    return result
