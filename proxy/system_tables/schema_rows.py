"""The system_schema rows Cassandra would hold for the mapped tables, built from the mapping alone.

Rows are dicts of column name to Python value (the shapes `cql_protocol.types.serialize` takes).
Everything here is pure, so every sidecar with the same mapping derives the same rows, table ids
and schema version.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from translators.mapping import Mapping, TableMapping, quote_identifier, type_to_cql

from .system_schema_defs import DEFAULT_TABLE_OPTIONS, SIMPLE_STRATEGY, SYSTEM_KEYSPACES

Row = dict[str, object]

DEFAULT_REPLICATION = {"class": SIMPLE_STRATEGY, "replication_factor": "1"}


def name_uuid(data: bytes) -> uuid.UUID:
    """Java's UUID.nameUUIDFromBytes: MD5, version 3. Cassandra derives system table ids this way."""
    return uuid.UUID(bytes=hashlib.md5(data).digest(), version=3)


def table_id(keyspace: str, table: str) -> uuid.UUID:
    # Cassandra gives user tables a time-based id at creation; the mapping has none, so the ids
    # follow the recipe Cassandra uses for its own tables: stable and the same on every sidecar.
    return name_uuid((keyspace + table).encode())


def _tables(mapping: Mapping) -> list[TableMapping]:
    return sorted(mapping.tables.values(), key=lambda tm: (tm.keyspace, tm.table))


def mapped_keyspaces(mapping: Mapping) -> list[str]:
    return sorted({tm.keyspace for tm in mapping.tables.values()})


def keyspace_rows(mapping: Mapping) -> list[Row]:
    """Mapped keyspaces (replication is not in the mapping: SimpleStrategy, rf 1) and the system
    keyspaces a Cassandra 5.0 node always has."""
    rows: list[Row] = [
        {"keyspace_name": ks, "durable_writes": True, "replication": dict(DEFAULT_REPLICATION)}
        for ks in mapped_keyspaces(mapping) if ks not in SYSTEM_KEYSPACES
    ]
    rows += [{"keyspace_name": ks, "durable_writes": True, "replication": dict(r)} for ks, r in SYSTEM_KEYSPACES.items()]
    return sorted(rows, key=lambda r: str(r["keyspace_name"]))


def table_rows(mapping: Mapping) -> list[Row]:
    rows = []
    for tm in _tables(mapping):
        flags = ["compound", "counter"] if tm.schema.is_counter_table() else ["compound"]
        row: Row = {"keyspace_name": tm.keyspace, "table_name": tm.table, **DEFAULT_TABLE_OPTIONS}
        row["flags"] = flags
        row["id"] = table_id(tm.keyspace, tm.table)
        rows.append(row)
    return rows


def column_rows(mapping: Mapping) -> list[Row]:
    rows = []
    for tm in _tables(mapping):
        s = tm.schema
        pk = {c: i for i, c in enumerate(s.partition_key)}
        ck = {c: (i, order) for i, (c, order) in enumerate(s.clustering)}
        for name, t in s.columns.items():
            if name in pk:
                kind, position, order = "partition_key", pk[name], "none"
            elif name in ck:
                kind, (position, order) = "clustering", ck[name]
            else:
                kind, position, order = ("static" if name in s.static else "regular"), -1, "none"
            rows.append({
                "keyspace_name": tm.keyspace, "table_name": tm.table, "column_name": name,
                "clustering_order": order, "column_name_bytes": name.encode(), "kind": kind,
                "position": position, "type": type_to_cql(t),
            })
    return sorted(rows, key=lambda r: (str(r["keyspace_name"]), str(r["table_name"]), str(r["column_name"])))


def type_rows(mapping: Mapping) -> list[Row]:
    seen: dict[tuple[str, str], Row] = {}
    for tm in _tables(mapping):
        for name, udt in tm.schema.udts.items():
            seen[(tm.keyspace, name)] = {
                "keyspace_name": tm.keyspace, "type_name": name,
                "field_names": [f for f, _ in udt.fields],
                "field_types": [type_to_cql(ft) for _, ft in udt.fields],
            }
    return [seen[k] for k in sorted(seen)]


def index_rows(mapping: Mapping) -> list[Row]:
    # Only the Cassandra index a GSI replaces is recorded (`cql_index`), on a whole column; `mapping
    # init` maps regular indexes and SAI, and the mapping does not say which, so all show as regular.
    rows: list[Row] = []
    for tm in _tables(mapping):
        for ix in tm.indexes:
            if ix.cql_index is None:
                continue
            rows.append({
                "keyspace_name": tm.keyspace, "table_name": tm.table, "index_name": ix.cql_index,
                "kind": "COMPOSITES", "options": {"target": quote_identifier(ix.partition_key)},
            })
    return sorted(rows, key=lambda r: (str(r["keyspace_name"]), str(r["table_name"]), str(r["index_name"])))


def _digest_rows(md: hashlib._Hash, rows: Iterable[Row]) -> None:
    for r in rows:
        for k in sorted(r):
            md.update(f"{k}={r[k]!r};".encode())
        md.update(b"\n")


def schema_version(mapping: Mapping) -> uuid.UUID:
    """A digest of the CQL schema the mapping describes (not of phases or DynamoDB settings, which
    change at run time), so sidecars with the same schema agree and drivers see schema agreement."""
    md = hashlib.md5()
    for name, rows in (("keyspaces", keyspace_rows(mapping)), ("tables", table_rows(mapping)),
                       ("columns", column_rows(mapping)), ("types", type_rows(mapping)),
                       ("indexes", index_rows(mapping))):
        md.update(name.encode() + b"\n")
        _digest_rows(md, rows)
    return uuid.UUID(bytes=md.digest(), version=3)
