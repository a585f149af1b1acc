"""A client request as the sidecar understands it, read once from the frame: what kind of
statement it carries, on which table, and what the sidecar knows of a prepared id. Only the
leading string or id of the body is read here (no full decode): pass-through requests pay for
nothing more. Pure: bytes and dictionaries in, a Request out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cql_protocol.cql import classify
from cql_protocol.frame import Frame
from cql_protocol.messages import peek_execute_id, peek_query_string
from cql_protocol.opcodes import Opcode

from ..system_tables.topology import system_table_of

_QUERY, _PREPARE, _EXECUTE, _BATCH = int(Opcode.QUERY), int(Opcode.PREPARE), int(Opcode.EXECUTE), int(Opcode.BATCH)


@dataclass(frozen=True, slots=True)
class PreparedStatement:
    """What the sidecar recorded when a statement was prepared through it: its text, the
    session's keyspace then, its bind types, and how classify() saw it (done once, at PREPARE)."""

    query: str
    keyspace: str | None  # the session's keyspace at PREPARE (unqualified names resolve in it)
    bind_types: tuple[Any, ...]
    kind: str = "UNKNOWN"
    table_keyspace: str | None = None  # the keyspace of `table`: the statement's own, else `keyspace`
    table: str | None = None

    @classmethod
    def of(cls, query: str, keyspace: str | None, bind_types: tuple[Any, ...]) -> PreparedStatement:
        kind, ks, table = classify(query)
        return cls(query, keyspace, bind_types, kind, ks or keyspace, table)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a microsecond per request
class Request:
    frame: Frame
    opcode: int
    kind: str | None = None  # classify()'s statement kind (QUERY, PREPARE, EXECUTE)
    query: str | None = None  # the statement text (EXECUTE: the prepared one's, when known)
    keyspace: str | None = None  # the statement's keyspace, else the session's (EXECUTE: at PREPARE)
    table: str | None = None
    system_table: str | None = None  # 'local', 'peers' or 'peers_v2' when it reads that table
    query_id: bytes | None = None  # EXECUTE
    prepared: PreparedStatement | None = None  # EXECUTE: a mapped-path statement this sidecar prepared
    known_id: bool = True  # EXECUTE: the id was prepared through this sidecar (or mirroring is off)


def describe(f: Frame, session_keyspace: str | None,
             prepared: Mapping[bytes, PreparedStatement | None] | None,
             system_prepared: Mapping[bytes, Any]) -> Request:
    """The request in `f`. `prepared`: the ids prepared through this sidecar (None: the sidecar
    does not track them, no table is mapped); `system_prepared`: the session's system-table ids."""
    op = f.opcode
    if op in (_QUERY, _PREPARE):
        q = peek_query_string(f.plain_body(), f.flags)
        if prepared is None:
            # nothing mapped: only USE and system-table reads matter, and a glance tells them
            return Request(f, op, _glance(q), q, session_keyspace, None, system_table_of(q))
        kind, ks, table = classify(q)
        system = system_table_of(q) if kind == "SELECT" or op == _PREPARE else None
        return Request(f, op, kind, q, ks or session_keyspace, table, system)
    if op == _EXECUTE:
        if prepared is None and not system_prepared:
            return Request(f, op)
        qid = peek_execute_id(f.plain_body(), f.flags)
        if qid in system_prepared:
            return Request(f, op, "SELECT", query_id=qid, system_table="system")
        if prepared is None:
            return Request(f, op, query_id=qid)
        if qid not in prepared:
            return Request(f, op, query_id=qid, known_id=False)
        ps = prepared[qid]
        if ps is None:
            return Request(f, op, query_id=qid)
        return Request(f, op, ps.kind, ps.query, ps.table_keyspace, ps.table, query_id=qid, prepared=ps)
    if op == _BATCH:
        return Request(f, op, "BATCH")
    return Request(f, op)


def _glance(q: str) -> str:
    head = q.lstrip()[:4].lower()
    if head == "use ":
        return "USE"
    return "SELECT" if head[:3] == "sel" else "UNKNOWN"
