"""Answers the system table reads drivers make, without Cassandra (phase `dynamo`).

On connect and on every schema refresh drivers read system.local, system.peers(_v2), the
system_schema tables and system_virtual_schema. `SyntheticSchema.answer` serves those SELECTs from
the mapping: column metadata exactly as Cassandra 5.0.9 sends it (system_schema_defs), rows for
the mapped keyspaces as Cassandra would hold them (schema_rows), and the sidecar topology from
system_tables, the same rows the pass-through rewrite produces. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cql_protocol.cql import (
    BindMarker,
    ColumnRef,
    Constant,
    InValues,
    Operator,
    Relation,
    Select,
    parse_cached,
)
from cql_protocol.errors import CQLError, ProtocolError
from cql_protocol.messages import ColumnSpec, Rows, RowsMetadata
from cql_protocol.typeparse import parse_cql_type
from cql_protocol.types import (
    CqlType,
    ListType,
    NativeType,
    TypeCode,
    deserialize,
    serialize,
)
from translators.mapping import Mapping
from translators.prepare_meta import wire_type
from translators.schema_import import SYSTEM_KEYSPACES as ALL_SYSTEM_KEYSPACES

from . import schema_rows
from .system_schema_defs import SYSTEM_TABLES, VIRTUAL_TABLE_COMMENTS
from .topology import Node, local_values, peer_values

Row = dict[str, object]
_MENTIONS_SYSTEM = re.compile(r"\bsystem", re.IGNORECASE)
PARTITIONER = "org.apache.cassandra.dht.Murmur3Partitioner"
CQL_VERSION = "3.4.7"
NATIVE_PROTOCOL_VERSION = "5"  # the highest the server speaks, whatever the connection uses


class InvalidSystemQuery(ValueError):
    """A system query the sidecar cannot answer; the message reads like Cassandra's Invalid error."""


@dataclass(frozen=True)
class ClusterInfo:
    cluster_name: str = "Test Cluster"
    data_center: str = "datacenter1"
    rack: str = "rack1"
    release_version: str = "5.0.9"
    gossip_generation: int = 0


_SPECS: dict[tuple[str, str], list[ColumnSpec]] = {
    key: [ColumnSpec(key[0], key[1], name, wire_type(parse_cql_type(t))) for name, t, *_ in cols]
    for key, cols in SYSTEM_TABLES.items()
}


def column_specs(keyspace: str, table: str) -> list[ColumnSpec]:
    """The ``SELECT *`` result columns of a served system table (KeyError if not served)."""
    return list(_SPECS[(keyspace, table)])


def _virtual_rows() -> dict[str, list[Row]]:
    ks = "system_virtual_schema"
    tables: list[Row] = [{"keyspace_name": ks, "table_name": t, "comment": c} for t, c in sorted(VIRTUAL_TABLE_COMMENTS.items())]
    columns: list[Row] = []
    for t in sorted(VIRTUAL_TABLE_COMMENTS):
        for name, typ, kind, position, order in sorted(SYSTEM_TABLES[(ks, t)]):
            columns.append({"keyspace_name": ks, "table_name": t, "column_name": name, "clustering_order": order,
                            "column_name_bytes": name.encode(), "kind": kind, "position": position, "type": typ})
    return {"keyspaces": [{"keyspace_name": ks}], "tables": tables, "columns": columns}


class SyntheticSchema:
    """The system tables of a cluster made of this sidecar and its peers, holding the mapping's schema."""

    def __init__(self, mapping: Mapping, me: Node, peers: list[Node], info: ClusterInfo | None = None) -> None:
        self.me = me
        self.peers = list(peers)
        self.info = info or ClusterInfo()
        self.schema_version = schema_rows.schema_version(mapping)
        self._rows: dict[tuple[str, str], list[Row]] = {
            ("system_schema", "keyspaces"): schema_rows.keyspace_rows(mapping),
            ("system_schema", "tables"): schema_rows.table_rows(mapping),
            ("system_schema", "columns"): schema_rows.column_rows(mapping),
            ("system_schema", "types"): schema_rows.type_rows(mapping),
            ("system_schema", "indexes"): schema_rows.index_rows(mapping),
        }
        for t, rows in _virtual_rows().items():
            self._rows[("system_virtual_schema", t)] = rows
        local = self.local_row()
        self._rows[("system", "local")] = [local]
        self._rows[("system", "peers")] = self._rows[("system", "peers_v2")] = peer_values(me, self.peers, local)

    def local_row(self) -> Row:
        i = self.info
        row: Row = {
            "key": "local", "bootstrapped": "COMPLETED", "broadcast_port": 7000, "cluster_name": i.cluster_name,
            "cql_version": CQL_VERSION, "data_center": i.data_center, "gossip_generation": i.gossip_generation,
            "listen_port": 7000, "native_protocol_version": NATIVE_PROTOCOL_VERSION, "partitioner": PARTITIONER,
            "rack": i.rack, "release_version": i.release_version, "schema_version": self.schema_version,
            "truncated_at": None,
        }
        row.update(local_values(self.me, self.peers))
        return row

    def answer(self, query: str, values: list[bytes | None], protocol_version: int) -> Rows | None:
        """Rows for a SELECT on a system table; None when `query` is not one. Raises
        InvalidSystemQuery for system reads that cannot be served (unknown table or column, ...)."""
        if not _MENTIONS_SYSTEM.search(query):
            return None
        try:
            stmt = parse_cached(query)
        except CQLError:  # DDL, roles, ...: not a read of a system table
            return None
        if not isinstance(stmt, Select) or stmt.keyspace not in ALL_SYSTEM_KEYSPACES:
            return None
        key = (stmt.keyspace, stmt.table)
        if key not in _SPECS:
            raise InvalidSystemQuery(f"table {stmt.keyspace}.{stmt.table} is not served while Cassandra is switched off")
        return _select(stmt, _SPECS[key], self._rows.get(key, []), values, protocol_version)


def _select(stmt: Select, specs: list[ColumnSpec], rows: list[Row], values: list[bytes | None],
            version: int) -> Rows:
    by_name = {c.name: c for c in specs}
    where = f"{specs[0].keyspace}.{specs[0].table}"

    def spec_of(name: str) -> ColumnSpec:
        if name not in by_name:
            raise InvalidSystemQuery(f"Undefined column name {name} in table {where}")
        return by_name[name]

    if stmt.json or stmt.distinct or stmt.group_by:
        raise InvalidSystemQuery(f"only plain column selections of {where} are served")
    out_specs: list[ColumnSpec] = []
    if stmt.is_star:
        out_specs = list(specs)
    else:
        for item in stmt.selectors:
            if not isinstance(item.expr, ColumnRef):
                raise InvalidSystemQuery(f"only plain column selections of {where} are served")
            c = spec_of(item.expr.name)
            out_specs.append(c if item.alias is None else ColumnSpec(c.keyspace, c.table, item.alias, c.type))
    tests = [_filter(r, spec_of, values) for r in stmt.where]
    picked = [r for r in rows if all(t(r) for t in tests)]
    if stmt.limit is not None:
        picked = picked[: _limit(stmt.limit, values)]
    # Cells come from the selected columns; the output names may be aliases.
    sources = out_specs if stmt.is_star else [spec_of(i.expr.name) for i in stmt.selectors if isinstance(i.expr, ColumnRef)]
    data: list[list[bytes | None]] = []
    for r in picked:
        cells: list[bytes | None] = []
        for c in sources:
            v = r.get(c.name)
            cells.append(None if v is None else serialize(c.type, v, version))
        data.append(cells)
    return Rows(RowsMetadata(out_specs), data)


def _bound(values: list[bytes | None], m: BindMarker, t: CqlType) -> object:
    if m.index >= len(values):
        raise InvalidSystemQuery(f"there are {len(values)} bound values but the statement needs more")
    raw = values[m.index]
    if raw is None:
        return None
    try:
        return deserialize(t, raw)
    except ProtocolError as e:
        raise InvalidSystemQuery(f"invalid bound value: {e}") from None


def _normal(t: CqlType, v: object) -> object:
    # Literals arrive as strings (inet, uuid) that compare with the stored values only normalised.
    if v is None or not isinstance(t, NativeType):
        return v
    try:
        if t.code == TypeCode.INET:
            return ipaddress.ip_address(str(v))
        if t.code in (TypeCode.UUID, TypeCode.TIMEUUID):
            return v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))
    except ValueError:
        raise InvalidSystemQuery(f"invalid {t.cql()} value {v!r}") from None
    return v


def _filter(rel: object, spec_of: Callable[[str], ColumnSpec], values: list[bytes | None]) -> Callable[[Row], bool]:
    if not isinstance(rel, Relation) or not isinstance(rel.lhs, ColumnRef) \
            or rel.operator not in (Operator.EQ, Operator.IN):
        raise InvalidSystemQuery("only = and IN restrictions on system table columns are served")
    c = spec_of(rel.lhs.name)
    wanted: list[object] = []
    if isinstance(rel.value, InValues):
        for term in rel.value.values:
            wanted.append(_term(term, c.type, values))
    elif rel.operator is Operator.IN and isinstance(rel.value, BindMarker):
        got = _bound(values, rel.value, ListType(c.type))
        wanted.extend(got if isinstance(got, list) else [])
    else:
        wanted.append(_term(rel.value, c.type, values))
    keys = {_normal(c.type, w) for w in wanted}
    name = c.name
    return lambda row: _normal(c.type, row.get(name)) in keys


def _term(term: object, t: CqlType, values: list[bytes | None]) -> object:
    if isinstance(term, BindMarker):
        return _bound(values, term, t)
    if isinstance(term, Constant):
        return term.value
    raise InvalidSystemQuery("only literals and bind markers are served in system table restrictions")


def _limit(term: object, values: list[bytes | None]) -> int:
    n = _term(term, NativeType(TypeCode.INT), values)
    if not isinstance(n, int) or n <= 0:
        raise InvalidSystemQuery("LIMIT must be strictly positive")
    return n
