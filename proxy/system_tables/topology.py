"""The cluster that drivers see: this sidecar plus its configured peer sidecars, never Cassandra.

Drivers read system.local and system.peers(_v2) and then open connections to every address they
find there. Rewriting those rows keeps all traffic on sidecars. The rewrite is a pure function of
Cassandra's own result (for columns and values such as schema_version) and the sidecar topology.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass

from cql_protocol.messages import ColumnSpec, Rows
from cql_protocol.types import deserialize, serialize

_SYSTEM_QUERY = re.compile(
    r'^\s*select\s.*?\bfrom\s+"?system"?\s*\.\s*"?(local|peers_v2|peers)"?(?=[\s;]|$)',
    re.IGNORECASE | re.DOTALL,
)
_PEER_FILTER = re.compile(r"\bwhere\s+\"?peer\"?\s*=\s*(?:'([^']*)'|(\?|:\w+))", re.IGNORECASE)
HOST_ID_NAMESPACE = uuid.UUID("6f1a3a4e-4c1b-5d61-9f0e-2b4f6d1c9a70")
MIN_TOKEN = -(2**63)


def system_table_of(query: str) -> str | None:
    """'local', 'peers' or 'peers_v2' when the statement reads that system table, else None."""
    if "system" not in query and "SYSTEM" not in query.upper():
        return None
    m = _SYSTEM_QUERY.match(query)
    return m.group(1).lower() if m else None


def peer_filter(query: str) -> tuple[str | None, bool]:
    """The address in `WHERE peer = ...`: (literal, False), (None, True) for a bind marker."""
    m = _PEER_FILTER.search(query)
    if not m:
        return None, False
    if m.group(1) is not None:
        return m.group(1), False
    return None, True


@dataclass(frozen=True)
class Node:
    address: str
    port: int

    @property
    def host_id(self) -> uuid.UUID:
        return uuid.uuid5(HOST_ID_NAMESPACE, f"{self.address}:{self.port}")


def ring(nodes: list[Node]) -> dict[Node, str]:
    """One Murmur3 token per sidecar, evenly spread, identical on every sidecar."""
    ordered = sorted(set(nodes), key=lambda n: (ipaddress.ip_address(n.address).packed, n.port))
    step = 2**64 // len(ordered)
    return {n: str(MIN_TOKEN + i * step) for i, n in enumerate(ordered)}


def _col_index(columns: list[ColumnSpec]) -> dict[str, int]:
    return {c.name: i for i, c in enumerate(columns)}


def local_values(me: Node, peers: list[Node]) -> dict[str, object]:
    """The system.local values that describe this sidecar rather than the node behind it."""
    return {
        "broadcast_address": me.address,
        "listen_address": me.address,
        "rpc_address": me.address,
        "rpc_port": me.port,
        "native_port": me.port,
        "host_id": me.host_id,
        "tokens": [ring([me, *peers])[me]],
    }


def rewrite_local(rows: Rows, me: Node, peers: list[Node]) -> Rows:
    cols = rows.metadata.columns
    if not cols:
        return rows
    overrides = local_values(me, peers)
    new_rows = [_override(row, cols, overrides) for row in rows.rows]
    return Rows(rows.metadata, new_rows)


def peer_values(me: Node, peers: list[Node], local_row: dict[str, object] | None,
                only: str | None = None) -> list[dict[str, object]]:
    """One system.peers(_v2) row per peer sidecar (`only`: that address alone). `local_row`
    supplies the values a sidecar shares with the node it fronts (data_center, rack, versions,
    schema_version)."""
    tokens = ring([me, *peers])
    base = dict(local_row or {})
    out: list[dict[str, object]] = []
    for p in peers:
        if p == me or (only is not None and p.address != only):
            continue
        out.append({
            "peer": p.address,
            "peer_port": 7000,
            "rpc_address": p.address,
            "native_address": p.address,
            "native_port": p.port,
            "preferred_ip": None,
            "preferred_port": None,
            "host_id": p.host_id,
            "tokens": [tokens[p]],
            "data_center": base.get("data_center"),
            "rack": base.get("rack"),
            "release_version": base.get("release_version"),
            "schema_version": base.get("schema_version"),
        })
    return out


def rewrite_peers(
    rows: Rows,
    me: Node,
    peers: list[Node],
    local_row: dict[str, object] | None,
    only: str | None = None,
) -> Rows:
    """Replaces Cassandra's peers with the peer sidecars (see peer_values)."""
    cols = rows.metadata.columns
    if not cols:
        return rows
    new_rows: list[list[bytes | None]] = []
    for values in peer_values(me, peers, local_row, only):
        row: list[bytes | None] = []
        for c in cols:
            v = values.get(c.name)
            row.append(None if v is None else serialize(c.type, v))
        new_rows.append(row)
    return Rows(rows.metadata, new_rows)


def row_dict(rows: Rows) -> dict[str, object] | None:
    cols = rows.metadata.columns
    if not cols or not rows.rows:
        return None
    return {
        c.name: (None if raw is None else deserialize(c.type, raw))
        for c, raw in zip(cols, rows.rows[0], strict=False)
    }


def _override(row: list[bytes | None], cols: list[ColumnSpec], values: dict[str, object]) -> list[bytes | None]:
    out = list(row)
    for i, c in enumerate(cols):
        if c.name in values:
            v = values[c.name]
            out[i] = None if v is None else serialize(c.type, v)
    return out
