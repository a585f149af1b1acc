"""Writing a mapping back as YAML with explanatory comments, and a human-readable summary."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as AbcMapping
from typing import Any

import yaml

from .column_types import type_to_cql
from .key_rules import describe_key
from .model import BUILTIN_DEFAULTS, POLICY_KEYS, VERSION, Mapping, TableDefaults, TableMapping


class _Flow(dict[str, Any]):
    pass


class _FlowList(list[Any]):
    pass


class _Dumper(yaml.SafeDumper):
    pass


def _repr_flow_map(d: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _repr_flow_list(d: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_Flow, _repr_flow_map)
_Dumper.add_representer(_FlowList, _repr_flow_list)


def _common_defaults(tables: Sequence[TableMapping]) -> TableDefaults:
    values: dict[str, Any] = {}
    for k in POLICY_KEYS:
        seen = {getattr(tm, k) for tm in tables}
        if len(seen) == 1:
            values[k] = seen.pop()
    if values.get("large_items") == "s3" and not values.get("s3_bucket"):
        values.pop("large_items")
    return dataclasses.replace(BUILTIN_DEFAULTS, **values)


def _table_to_dict(tm: TableMapping, defaults: TableDefaults) -> dict[str, Any]:
    out: dict[str, Any] = {"cql": tm.cql_name, "dynamodb_table": tm.dynamodb_table}
    for k in POLICY_KEYS:
        if getattr(tm, k) != getattr(defaults, k):
            out[k] = getattr(tm, k)
    pk = _Flow(attribute=tm.pk.attribute)
    if tm.pk.prefix:
        pk["prefix"] = tm.pk.prefix
    out["partition_key"] = pk
    if tm.sk:
        sk = _Flow(attribute=tm.sk.attribute)
        if tm.sk.prefix:
            sk["prefix"] = tm.sk.prefix
        if tm.sk.encoding in ("plain", "bytecomparable"):
            sk["encoding"] = tm.sk.encoding
        out["sort_key"] = sk
    attrs: dict[str, Any] = {}
    for col, spec in tm.attributes.items():
        if spec.name != col or spec.type_override:
            entry = _Flow()
            if spec.name != col:
                entry["name"] = spec.name
            if spec.type_override:
                entry["type"] = spec.type_override
            attrs[col] = entry
    if attrs:
        out["attributes"] = attrs
    if tm.indexes:
        ixs = []
        for ix in tm.indexes:
            e = _Flow(name=ix.name, partition_key=ix.partition_key)
            if ix.sort_key:
                e["sort_key"] = ix.sort_key
            e["projection"] = ix.projection
            if ix.include:
                e["include"] = _FlowList(ix.include)
            if ix.cql_index:
                e["cql_index"] = ix.cql_index
            ixs.append(e)
        out["indexes"] = ixs
    if tm.token_index:
        out["token_index"] = True
    s = tm.schema
    schema: dict[str, Any] = {
        "columns": {c: type_to_cql(t) for c, t in s.columns.items()},
        "partition_key": _FlowList(s.partition_key),
        "clustering": _FlowList(_Flow({c: o}) for c, o in s.clustering),
        "static": _FlowList(sorted(s.static)),
    }
    if s.udts:
        schema["types"] = {n: _Flow({f: type_to_cql(ft) for f, ft in u.fields}) for n, u in s.udts.items()}
    out["schema"] = schema
    return out


def _mapping_to_dict(tables: Iterable[TableMapping], region: str | None, endpoint: str | None,
                     defaults: TableDefaults) -> dict[str, Any]:
    return {
        "version": VERSION,
        "dynamodb": _Flow(region=region, endpoint=endpoint),
        "defaults": dataclasses.asdict(defaults),
        "tables": [_table_to_dict(tm, defaults) for tm in tables],
    }


_HEADER = """\
# cql-dynamo-proxy mapping, format version 1: how each CQL table is stored in DynamoDB.
# Reference: docs/mapping.md. Check it with `cql-dynamo-proxy mapping check FILE`; create the
# DynamoDB tables with `cql-dynamo-proxy tables create --mapping FILE`.
# Key layout rules: a single partition key column keeps its type; several columns or a prefix
# make a composite string. A single ascending text or integer-like clustering column stays plain;
# otherwise the sort key is an order-preserving binary encoding (DESC included).
"""


def _yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096,
                     default_flow_style=False)


def dump_mapping(mapping: Mapping, notes: AbcMapping[tuple[str, str], Sequence[str]] | None = None) -> str:
    """The mapping as YAML with explanatory comments; ``loads_mapping(dump_mapping(m)) == m``.

    `notes` adds comment lines above a table's entry (e.g. indexes schema import skipped).
    """
    tables = list(mapping.tables.values())
    defaults = _common_defaults(tables)
    doc = _mapping_to_dict(tables, mapping.region, mapping.endpoint, defaults)
    out = [_HEADER, "\n", _yaml({"version": doc["version"], "dynamodb": doc["dynamodb"]})]
    out.append("\n# Settings every table gets unless it sets its own.\n")
    out.append(_yaml({"defaults": doc["defaults"]}))
    if not tables:
        out.append("tables: []\n")
        return "".join(out)
    out.append("tables:\n")
    for tm, td in zip(tables, doc["tables"], strict=True):
        out.append("\n")
        comments = [f"{tm.cql_name} -> {tm.dynamodb_table}", "  partition key " + describe_key(tm.pk, tm.schema)]
        if tm.sk:
            comments.append("  sort key " + describe_key(tm.sk, tm.schema))
        comments.extend((notes or {}).get((tm.keyspace, tm.table), ()))
        out.extend(f"  # {c}\n" for c in comments)
        out.extend(f"  {line}\n" for line in _yaml([td]).splitlines())
    return "".join(out)


def summarize(mapping: Mapping) -> list[str]:
    """Human-readable lines: each table with its key layout, policies and indexes."""
    lines: list[str] = []
    for dt, tms in mapping.dynamodb_tables().items():
        lines.append(f"DynamoDB table {dt}" + (f" (shared by {len(tms)} CQL tables)" if len(tms) > 1 else ""))
        for tm in tms:
            lines.append(f"  {tm.cql_name}: phase {tm.phase}, writes {tm.write_mode}/{tm.write_condition}, "
                         f"large items {tm.large_items}, TTL attribute {tm.ttl_attribute}")
            lines.append(f"    partition key {describe_key(tm.pk, tm.schema)}")
            if tm.sk:
                lines.append(f"    sort key {describe_key(tm.sk, tm.schema)}")
            for ix in tm.indexes:
                keys = f"{tm.attribute_name(ix.partition_key)} ({tm.attribute_type(ix.partition_key)})"
                if ix.sort_key:
                    keys += f" / {tm.attribute_name(ix.sort_key)} ({tm.attribute_type(ix.sort_key)})"
                lines.append(f"    index {ix.name}: {keys}, projection {ix.projection}")
            if tm.token_index:
                lines.append("    token index cdp_token: _tb (N) / _tk (B), projection KEYS_ONLY (token-ordered reads)")
    return lines
