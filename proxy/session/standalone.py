"""A client session with no Cassandra behind it (every mapped table in phase `dynamo`).

The sidecar is then the whole cluster as far as the driver can tell: it answers the handshake
(SASL PLAIN checked against `client_users` when set), OPTIONS, REGISTER, USE, the system tables
(synthesized from the mapping's schema by proxy.system_tables.synthetic_schema), PREPARE with the ids and
metadata Cassandra would give, and runs statements on mapped tables against DynamoDB. Anything
else gets an error naming the table and the reason.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from cql_protocol.cql import ast as cql
from cql_protocol.cql import parse_cached
from cql_protocol.errors import CQLError, InvalidRequest, ProtocolError, ServerError, SyntaxError_, Unprepared
from cql_protocol.frame import Frame
from cql_protocol.messages import (
    Execute,
    Prepare,
    Prepared,
    PreparedMetadata,
    Query,
    Ready,
    Rows,
    RowsMetadata,
    SetKeyspace,
    Void,
    decode_frame,
)
from cql_protocol.opcodes import Opcode
from translators import prepare_meta
from translators.select_meta import result_columns

from ..routing.request import describe
from ..system_tables.synthetic_schema import InvalidSystemQuery
from . import handshake, handshake_exec
from .session_port import NoCassandra

if TYPE_CHECKING:
    from .client_session import ClientSession

log = logging.getLogger(__name__)

SYSTEM_KEYSPACES = frozenset({"system", "system_schema", "system_auth", "system_distributed", "system_traces",
                              "system_views", "system_virtual_schema"})


def on_frame(s: ClientSession, f: Frame) -> None:
    op = f.opcode
    if s.state is not handshake.State.READY or op in _HANDSHAKE_OPS:
        handshake_exec.on_frame(s, f)  # the same state table as with Cassandra behind
        return
    try:
        if op == Opcode.REGISTER:
            s.send(Ready(), f.stream)  # no topology to report: the sidecar is the only node it shows
        elif op == Opcode.QUERY:
            _query(s, f)
        elif op == Opcode.PREPARE:
            _prepare(s, f)
        elif op == Opcode.EXECUTE:
            _execute(s, f)
        elif op == Opcode.BATCH:
            _batch(s, f)
        else:
            raise ProtocolError(f"unexpected opcode 0x{op:02x} from a client")
    except ProtocolError:
        raise
    except CQLError as e:
        s.reply_error(f.stream, e)
    except Exception as e:  # a bug must cost one request, not the connection
        log.exception("request failed on the sidecar without Cassandra")
        s.reply_error(f.stream, ServerError(f"the sidecar failed to serve this request: {e}"))


_HANDSHAKE_OPS = frozenset({Opcode.STARTUP, Opcode.AUTH_RESPONSE, Opcode.OPTIONS})


def _query(s: ClientSession, f: Frame) -> None:
    env = decode_frame(f)
    msg = env.message
    assert isinstance(msg, Query)
    stmt = _statement(msg.query)
    if isinstance(stmt, cql.Use):
        _use(s, stmt.keyspace, f.stream)
        return
    rows = _system(s, msg.query, msg.params.values or [])
    if rows is not None:
        s.send(rows, f.stream)
        return
    _mapped(s, f, stmt, s.keyspace)


def _use(s: ClientSession, keyspace: str, stream: int) -> None:
    known = {ks for ks, _ in s.server.mapping.tables} if s.server.mapping else set()
    if keyspace not in known and keyspace not in SYSTEM_KEYSPACES:
        raise InvalidRequest(f"Keyspace '{keyspace}' does not exist")
    s.keyspace = keyspace
    s.send(SetKeyspace(keyspace), stream)


def _system(s: ClientSession, query: str, values: list[Any]) -> Rows | None:
    synth = s.server.synthetic_for(s.me)
    try:
        return synth.answer(query, [v if isinstance(v, bytes) else None for v in values], s.version)
    except InvalidSystemQuery as e:
        raise InvalidRequest(str(e)) from None


def _statement(query: str) -> cql.Statement:
    try:
        return parse_cached(query)
    except SyntaxError_:
        raise
    except CQLError as e:
        raise InvalidRequest(f"{e.message} (the sidecar runs without Cassandra: only statements on mapped tables "
                             "are served)") from None


def _mapped(s: ClientSession, f: Frame, stmt: cql.Statement, keyspace: str | None) -> None:
    """Runs a statement on mapped tables through the DynamoDB read or write path."""
    server = s.server
    dual, reads = server.dual, server.reads
    assert dual is not None and reads is not None
    req = describe(f, s.keyspace, dual.prepared, s.system_prepared)
    try:
        if isinstance(stmt, cql.Select):
            _require_mapped(s, stmt.keyspace or keyspace, stmt.table)
            reads.for_read(s, req)
        else:
            for target in _targets(stmt):
                _require_mapped(s, target.keyspace or keyspace, target.table)
            dual.for_write(s, req)
    except NoCassandra as e:
        if e.as_it_came:
            raise InvalidRequest(f"{_name(stmt, keyspace)}: this statement cannot be served without Cassandra") from None
        raise InvalidRequest(f"{_name(stmt, keyspace)}: this statement needs Cassandra, which is switched off") from None


def _targets(stmt: cql.Statement) -> list[cql.Insert | cql.Update | cql.Delete]:
    if isinstance(stmt, cql.Batch):
        return list(stmt.statements)
    if isinstance(stmt, cql.Insert | cql.Update | cql.Delete):
        return [stmt]
    raise InvalidRequest("only SELECT, INSERT, UPDATE, DELETE, BATCH and USE are served without Cassandra")


def _name(stmt: cql.Statement, keyspace: str | None) -> str:
    t = _targets(stmt)[0] if not isinstance(stmt, cql.Select) else stmt
    return f"{t.keyspace or keyspace}.{t.table}"


def _require_mapped(s: ClientSession, keyspace: str | None, table: str) -> None:
    if keyspace is None:
        raise InvalidRequest("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
    m = s.server.mapping
    if m is None or m.table(keyspace, table) is None:
        raise InvalidRequest(f"{keyspace}.{table}: table is not in the mapping, and the sidecar runs without "
                             "Cassandra (every mapped table is in phase dynamo)")


def _prepare(s: ClientSession, f: Frame) -> None:
    env = decode_frame(f)
    msg = env.message
    assert isinstance(msg, Prepare)
    keyspace = msg.keyspace or s.keyspace
    stmt = _statement(msg.query)
    mapping = s.server.mapping
    dual = s.server.dual
    assert mapping is not None and dual is not None
    qid = prepare_meta.prepared_id(msg.query, keyspace)
    if isinstance(stmt, cql.Select) and stmt.keyspace in SYSTEM_KEYSPACES:
        # system tables: the metadata comes from answering the statement itself
        rows = _system(s, msg.query, [])
        cols = rows.metadata.columns if rows is not None else []
        s.system_prepared_local[qid] = msg.query
        rid = prepare_meta.result_metadata_id(cols or []) if s.version >= 5 else None
        s.send(Prepared(qid, rid, PreparedMetadata([], []), RowsMetadata(cols)), f.stream)
        return
    if isinstance(stmt, cql.Select):
        _require_mapped(s, stmt.keyspace or keyspace, stmt.table)
    else:
        for target in _targets(stmt):
            _require_mapped(s, target.keyspace or keyspace, target.table)
    try:
        bind, pk_indexes = prepare_meta.bind_metadata(stmt, keyspace, mapping)
    except prepare_meta.PrepareMetaError as e:
        raise InvalidRequest(str(e)) from None
    result = RowsMetadata([], 0)
    if isinstance(stmt, cql.Select):
        tm = mapping.table(stmt.keyspace or keyspace or "", stmt.table)
        assert tm is not None
        result = RowsMetadata(result_columns(stmt, tm))
    dual.remember(qid, msg.query, keyspace, tuple(c.type for c in bind))
    rid = prepare_meta.result_metadata_id(result.columns or [], mapping) if s.version >= 5 else None
    s.send(Prepared(qid, rid, PreparedMetadata(bind, pk_indexes), result), f.stream)


def _execute(s: ClientSession, f: Frame) -> None:
    env = decode_frame(f)
    msg = env.message
    assert isinstance(msg, Execute)
    query = s.system_prepared_local.get(msg.query_id)
    if query is not None:
        rows = _system(s, query, msg.params.values or [])
        s.send(rows if rows is not None else Void(), f.stream)
        return
    dual = s.server.dual
    assert dual is not None
    pw = dual.prepared.get(msg.query_id)
    if pw is None:
        raise Unprepared(msg.query_id)
    _mapped(s, f, _statement(pw.query), pw.keyspace)


def _batch(s: ClientSession, f: Frame) -> None:
    dual = s.server.dual
    assert dual is not None
    try:
        dual.for_batch(s, f)
    except NoCassandra as e:
        if e.as_it_came:
            raise InvalidRequest("this batch writes no mapped table, and the sidecar runs without Cassandra") from None
        raise InvalidRequest("this batch needs Cassandra, which is switched off") from None
