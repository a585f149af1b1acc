"""The one decision per request: which handler runs it. Pure and table-tested
(tests/unit/test_decide.py); the session dispatches on the answer (proxy/session/handlers.py).

The decision is per table and phase; a handler of a mapped statement then routes it per
partition (the rollout share, rules.effective_phase) once it has translated it, and may still pass
it through unchanged when nothing in it reaches DynamoDB.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from cql_protocol.opcodes import Opcode

from .request import Request
from .rules import QUIET_READ_PHASES, WRITING_PHASES

WRITE_KINDS = frozenset({"INSERT", "UPDATE", "DELETE", "BATCH"})
# plain ints: an enum member lookup costs more than the whole decision for a pass-through request
_QUERY, _EXECUTE, _BATCH, _PREPARE = int(Opcode.QUERY), int(Opcode.EXECUTE), int(Opcode.BATCH), int(Opcode.PREPARE)
_OPTIONS, _STARTUP, _AUTH_RESPONSE = int(Opcode.OPTIONS), int(Opcode.STARTUP), int(Opcode.AUTH_RESPONSE)


class Action(StrEnum):
    FORWARD = "forward"  # to Cassandra as it came, its answer back as it comes
    OVERLOADED = "overloaded"  # refused: the sidecar is draining
    UNPREPARED = "unprepared"  # an id prepared before this sidecar could see it: the driver prepares again
    HANDSHAKE = "handshake"  # STARTUP or AUTH_RESPONSE on a ready connection
    SUPPORTED = "supported"  # OPTIONS: Cassandra's answer, trimmed to what the sidecar reads
    USE = "use"  # forwarded; the session follows the keyspace
    SYSTEM_ROWS = "system_rows"  # system.local/peers: Cassandra's rows rewritten to show the sidecars
    PREPARE_SYSTEM = "prepare_system"  # PREPARE of a system-table read: remembered by the session
    PREPARE = "prepare"  # PREPARE of anything else: remembered for the mapped paths
    WRITE = "write"  # a write touching a mapped table in a phase that writes DynamoDB
    READ = "read"  # a read of a mapped table in a phase that reads DynamoDB


# the members as module globals, for the same reason
_A_FORWARD = Action.FORWARD
_A_OVERLOADED = Action.OVERLOADED
_A_UNPREPARED = Action.UNPREPARED
_A_HANDSHAKE = Action.HANDSHAKE
_A_SUPPORTED = Action.SUPPORTED
_A_USE = Action.USE
_A_SYSTEM_ROWS = Action.SYSTEM_ROWS
_A_PREPARE_SYSTEM = Action.PREPARE_SYSTEM
_A_PREPARE = Action.PREPARE
_A_WRITE = Action.WRITE
_A_READ = Action.READ


class SessionView(Protocol):
    """What the decision needs to know beyond the request."""

    @property
    def draining(self) -> bool: ...

    @property
    def mirroring(self) -> bool:
        """Some table is mapped (the mapped paths exist)."""
        ...

    def phase_of(self, keyspace: str, table: str) -> tuple[str, float] | None:
        """(phase, rollout share) of a mapped table; None for a table outside the mapping."""
        ...


def decide(req: Request, view: SessionView) -> Action:
    op = req.opcode
    if view.draining:
        return _A_OVERLOADED
    if op in (_QUERY, _EXECUTE):
        if op == _EXECUTE and not req.known_id:
            return _A_UNPREPARED
        kind = req.kind
        if kind == "SELECT":
            if req.system_table is not None:
                return _A_SYSTEM_ROWS
            return _A_READ if _reads_dynamodb(req, view) else _A_FORWARD
        if kind in WRITE_KINDS:
            # a BATCH's tables are known only once its body is read: the write handler does that
            mapped = view.mirroring if kind == "BATCH" else _writes_dynamodb(req, view)
            return _A_WRITE if mapped else _A_FORWARD
        if kind == "USE" and op == _QUERY:
            return _A_USE
        return _A_FORWARD
    if op == _BATCH:
        return _A_WRITE if view.mirroring else _A_FORWARD
    if op == _PREPARE:
        if req.system_table is not None:
            return _A_PREPARE_SYSTEM
        return _A_PREPARE if view.mirroring else _A_FORWARD
    if op == _OPTIONS:
        return _A_SUPPORTED
    if op in (_STARTUP, _AUTH_RESPONSE):
        return _A_HANDSHAKE
    return _A_FORWARD  # REGISTER


def _phase(req: Request, view: SessionView) -> tuple[str, float] | None:
    if req.keyspace is None or req.table is None or not view.mirroring:
        return None
    return view.phase_of(req.keyspace, req.table)


def _writes_dynamodb(req: Request, view: SessionView) -> bool:
    p = _phase(req, view)
    # share 0 of dual_write: no partition mirrored yet
    return p is not None and p[0] in WRITING_PHASES and (p[1] > 0 or p[0] != "dual_write")


def _reads_dynamodb(req: Request, view: SessionView) -> bool:
    p = _phase(req, view)
    return p is not None and p[0] not in QUIET_READ_PHASES
