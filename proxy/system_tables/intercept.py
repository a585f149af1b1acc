"""The few requests whose answers the sidecar rewrites: system tables, USE, SUPPORTED, events.

Everything else is forwarded as raw bytes. Each function here picks (or runs) a response handler.
"""

from __future__ import annotations

import dataclasses
import logging
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cql_protocol.compression import SUPPORTED as SUPPORTED_COMPRESSION
from cql_protocol.frame import Frame
from cql_protocol.messages import (
    Envelope,
    Event,
    Message,
    Prepared,
    Query,
    Rows,
    RowsMetadata,
    SetKeyspace,
    Supported,
    decode_frame,
    encode_envelope,
)
from cql_protocol.opcodes import Opcode
from cql_protocol.types import INET, deserialize

from ..metrics import EVENTS_DROPPED
from ..session.handshake import PROTOCOL_VERSIONS
from .topology import Node, peer_filter, rewrite_local, rewrite_peers, row_dict, system_table_of

if TYPE_CHECKING:
    from ..routing.request import Request
    from ..session.session_port import Pending, ResponseHandler, SessionPort

log = logging.getLogger(__name__)

LOCAL_QUERY = "SELECT * FROM system.local WHERE key='local'"


@dataclass(frozen=True)
class SystemStatement:
    table: str
    query: str
    result_metadata: RowsMetadata | None


def error_code(f: Frame) -> int:
    body = f.plain_body()
    return int(struct.unpack_from(">i", body, 0)[0]) if len(body) >= 4 else -1


def for_system_rows(s: SessionPort, req: Request) -> ResponseHandler | None:
    """The handler rewriting Cassandra's answer to a read of system.local or system.peers(_v2)."""
    f = req.frame
    if req.opcode == Opcode.EXECUTE:
        stmt = s.system_statement(req.query_id or b"")
        # `WHERE peer = ?` on a prepared statement: answered unfiltered (drivers only list all peers)
        return _system_rows_handler(stmt, None) if stmt is not None else None
    q, table = req.query, req.system_table
    assert q is not None and table is not None
    only, bound = peer_filter(q) if table != "local" else (None, False)
    if bound:
        env = decode_frame(f)
        assert isinstance(env.message, Query)
        vals = env.message.params.values or []
        raw = vals[0] if vals else None
        only = str(deserialize(INET, raw)) if isinstance(raw, bytes) else None
    return _system_rows_handler(SystemStatement(table, q, None), only)


def for_prepare(s: SessionPort, req: Request) -> ResponseHandler:
    """A PREPARE of a system-table read: its id is remembered, so EXECUTE gets the same rewrite."""
    q, table = req.query, req.system_table
    assert q is not None and table is not None

    def on_prepared(s2: SessionPort, r: Frame, p: Pending) -> None:
        s2.relay(r, p.client_stream)
        env = decode_frame(r)
        if isinstance(env.message, Prepared):
            s2.remember_system_statement(env.message.query_id, SystemStatement(table, q, env.message.result_metadata))

    return on_prepared


def _system_rows_handler(stmt: SystemStatement, only: str | None) -> ResponseHandler:
    def handler(s: SessionPort, r: Frame, p: Pending) -> None:
        env = decode_frame(r)
        rows = env.message
        if not isinstance(rows, Rows):
            s.relay(r, p.client_stream)
            return
        meta = rows.metadata
        work = rows
        if meta.columns is None and stmt.result_metadata is not None:
            work = Rows(dataclasses.replace(meta, columns=stmt.result_metadata.columns), rows.rows)

        def emit(new: Rows) -> None:
            _reply_with(s, env, Rows(meta, new.rows), p.client_stream)  # Cassandra's metadata, as sent

        peers = s.peers
        log.debug("rewriting %s for stream %d (%d rows from Cassandra)", stmt.table, p.client_stream, len(rows.rows))
        if stmt.table == "local":
            emit(rewrite_local(work, s.me, peers))
        elif not peers:
            emit(Rows(meta, []))
        else:
            _with_local_row(s, lambda local: emit(rewrite_peers(work, s.me, peers, local, only)))

    return handler


def _with_local_row(s: SessionPort, then: object) -> None:
    from cql_protocol.messages import QueryParameters

    def on_local(s2: SessionPort, r: Frame, _p: Pending) -> None:
        env = decode_frame(r)
        local = row_dict(env.message) if isinstance(env.message, Rows) else None
        then(local)  # type: ignore[operator]
        s2.flush()

    s.inject(Query(LOCAL_QUERY, QueryParameters(consistency=1)), on_local)


def _reply_with(s: SessionPort, env: Envelope, msg: Message, stream: int) -> None:
    """Answers with `msg` in place of Cassandra's message, keeping its tracing id and warnings."""
    frame = encode_envelope(dataclasses.replace(env, message=msg, stream=stream), response=True,
                            compress=s.frame_compression)
    s.relay(frame, None)


def on_use_result(s: SessionPort, r: Frame, p: Pending) -> None:
    s.relay(r, p.client_stream)
    env = decode_frame(r)
    if isinstance(env.message, SetKeyspace):
        s.use_keyspace(env.message.keyspace)


def on_supported(s: SessionPort, r: Frame, p: Pending) -> None:
    """Advertise only what the sidecar can read: lz4 and snappy, and protocol v3 to v5."""
    env = decode_frame(r)
    msg = env.message
    if not isinstance(msg, Supported):
        s.relay(r, p.client_stream)
        return
    opts = dict(msg.options)
    opts["COMPRESSION"] = [c for c in opts.get("COMPRESSION", []) if c.lower() in SUPPORTED_COMPRESSION]
    if "PROTOCOL_VERSIONS" in opts:
        opts["PROTOCOL_VERSIONS"] = [v for v in opts["PROTOCOL_VERSIONS"] if v in PROTOCOL_VERSIONS]
    _reply_with(s, env, Supported(opts), p.client_stream)


def on_event(s: SessionPort, f: Frame) -> None:
    """Schema events pass; topology and status events name Cassandra nodes the client must not
    see, so they stop here (the sidecar topology changes only with its configuration)."""
    env = decode_frame(f)
    if isinstance(env.message, Event) and env.message.event_type != "SCHEMA_CHANGE":
        EVENTS_DROPPED.inc()
        return
    s.relay(f, None)


__all__ = ["Node", "SystemStatement", "for_prepare", "for_system_rows", "on_event", "on_supported", "on_use_result",
           "system_table_of"]
