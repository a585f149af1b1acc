"""Reading a live Cassandra's schema (system_schema) for `mapping init`: the queries; turning
the rows into table mappings is translators.schema_import's (pure)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from translators.mapping import TableMapping, parse_identifier, parse_table_name, quote_identifier
from translators.schema_import import (
    SYSTEM_KEYSPACES,
    ImportResult,
    SchemaImportError,
    SchemaRows,
    build_table_mappings,
)

log = logging.getLogger(__name__)


def _rows(session: Any, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    out = []
    for row in session.execute(query, tuple(params)):
        if isinstance(row, dict):
            out.append(dict(row))
        elif hasattr(row, "_asdict"):
            out.append(dict(row._asdict()))
        else:
            raise TypeError(f"unsupported row type {type(row).__name__}; use a tuple or dict row factory")
    return out


def read_schema(session: Any, keyspaces: Iterable[str] | None = None,
                tables: Iterable[tuple[str, str]] | None = None) -> SchemaRows:
    """Reads system_schema for the given keyspaces (names as stored) and (keyspace, table) pairs.

    Neither given: every non-system keyspace. Raises SchemaImportError for missing or system ones.
    """
    all_ks = {r["keyspace_name"] for r in _rows(session, "SELECT keyspace_name FROM system_schema.keyspaces")}
    ks_list = list(dict.fromkeys(keyspaces or ()))
    tbl_list = list(dict.fromkeys(tables or ()))
    for ks in [*ks_list, *(k for k, _ in tbl_list)]:
        if ks in SYSTEM_KEYSPACES:
            raise SchemaImportError(f"{ks} is a system keyspace; only application tables can be mapped")
        if ks not in all_ks:
            raise SchemaImportError(f"keyspace {quote_identifier(ks)} does not exist")
    if not ks_list and not tbl_list:
        ks_list = sorted(k for k in all_ks if k not in SYSTEM_KEYSPACES)

    wanted: list[tuple[str, str]] = []
    per_ks: dict[str, list[str]] = {}
    for ks in sorted({*ks_list, *(k for k, _ in tbl_list)}):
        q = "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s"
        per_ks[ks] = sorted(r["table_name"] for r in _rows(session, q, (ks,)))
    for ks in ks_list:
        wanted.extend((ks, t) for t in per_ks[ks])
    for ks, t in tbl_list:
        if t not in per_ks[ks]:
            raise SchemaImportError(f"table {quote_identifier(ks)}.{quote_identifier(t)} does not exist")
        wanted.append((ks, t))
    wanted = sorted(dict.fromkeys(wanted))
    names = set(wanted)

    columns: list[dict[str, Any]] = []
    types: list[dict[str, Any]] = []
    indexes: list[dict[str, Any]] = []
    for ks in sorted({k for k, _ in wanted}):
        p = (ks,)
        columns += [r for r in _rows(session, "SELECT * FROM system_schema.columns WHERE keyspace_name = %s", p)
                    if (ks, r["table_name"]) in names]
        types += _rows(session, "SELECT * FROM system_schema.types WHERE keyspace_name = %s", p)
        indexes += [r for r in _rows(session, "SELECT * FROM system_schema.indexes WHERE keyspace_name = %s", p)
                    if (ks, r["table_name"]) in names]
    return SchemaRows(wanted, columns, types, indexes)



def import_schema_with_notes(session: Any, keyspaces: list[str] | None = None, tables: list[str] | None = None,
                             *, table_prefix: str = "") -> ImportResult:
    """Like import_schema, also returning notes on what was skipped or adjusted.

    `keyspaces` are CQL identifiers (unquoted ones are lower-cased), `tables` ``keyspace.table``.
    """
    try:
        ks_names = [parse_identifier(k) for k in keyspaces or ()]
        tbl_names = [parse_table_name(t) for t in tables or ()]
    except ValueError as e:
        raise SchemaImportError(str(e)) from None
    rows = read_schema(session, ks_names, tbl_names)
    return build_table_mappings(rows, table_prefix=table_prefix)


def import_schema(session: Any, keyspaces: list[str] | None = None, tables: list[str] | None = None,
                  *, table_prefix: str = "") -> list[TableMapping]:
    """TableMappings for the given keyspaces/tables (all application keyspaces when neither is given)."""
    result = import_schema_with_notes(session, keyspaces, tables, table_prefix=table_prefix)
    for w in result.warnings():
        log.warning("%s", w)
    return result.tables
