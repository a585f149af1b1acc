"""The request path's one decision, as a table: a request read once (describe) and the phases of
the tables it touches give the handler that runs it. No sockets, no stores."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cql_protocol.frame import Frame
from cql_protocol.messages import (
    AuthResponse,
    Batch,
    BatchStatement,
    BatchType,
    Execute,
    Message,
    Options,
    Prepare,
    Query,
    QueryParameters,
    Register,
    Startup,
    encode_message,
)
from proxy.routing.decide import Action, decide
from proxy.routing.request import PreparedStatement, describe
from proxy.session.handlers import HANDLERS

P = QueryParameters(consistency=1)
WRITE_ID, READ_ID, OTHER_ID, SYSTEM_ID, UNKNOWN_ID = b"w" * 16, b"r" * 16, b"o" * 16, b"s" * 16, b"?" * 16


@dataclass
class View:
    draining: bool = False
    mirroring: bool = True
    phases: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    def phase_of(self, keyspace: str, table: str) -> tuple[str, float] | None:
        return self.phases.get((keyspace, table))


def _frame(msg: Message) -> Frame:
    return encode_message(msg, 4, 7, response=False)


PREPARED = {
    WRITE_ID: PreparedStatement.of("INSERT INTO t (k, v) VALUES (?, ?)", "ks", ()),
    READ_ID: PreparedStatement.of("SELECT v FROM ks.t WHERE k = ?", "other", ()),
    OTHER_ID: None,  # prepared through the sidecar, nothing a mapped path needs (DDL, ...)
}
SYSTEM_PREPARED = {SYSTEM_ID: object()}


def _decide(msg: Message, phase: str | None, *, keyspace: str | None = "ks", share: float = 100.0,
            mirroring: bool = True, draining: bool = False) -> Action:
    phases = {("ks", "t"): (phase, share)} if phase is not None else {}
    view = View(draining, mirroring, phases)  # type: ignore[arg-type]
    req = describe(_frame(msg), keyspace, PREPARED if mirroring else None, SYSTEM_PREPARED)
    return decide(req, view)


INSERT = Query("INSERT INTO t (k, v) VALUES (1, 2)", P)
INSERT_QUALIFIED = Query("INSERT INTO ks.t (k, v) VALUES (1, 2)", P)
SELECT = Query("SELECT * FROM t WHERE k = 1", P)
BATCH_TEXT = Query("BEGIN BATCH INSERT INTO t (k, v) VALUES (1, 2) APPLY BATCH", P)
BATCH = Batch(BatchType.LOGGED, [BatchStatement(0, query="INSERT INTO t (k, v) VALUES (1, 2)")], 1)


@pytest.mark.parametrize(("msg", "phase", "expected"), [
    # writes: to DynamoDB from dual_write on, untouched before
    (INSERT, "cassandra", Action.FORWARD),
    (INSERT, "dual_write", Action.WRITE),
    (INSERT, "verify", Action.WRITE),
    (INSERT, "dynamo_fallback", Action.WRITE),
    (INSERT, "dynamo", Action.WRITE),
    (INSERT, None, Action.FORWARD),  # table not mapped
    (Query("UPDATE t SET v = 1 WHERE k = 1", P), "dual_write", Action.WRITE),
    (Query("DELETE FROM t WHERE k = 1", P), "dynamo", Action.WRITE),
    (Execute(WRITE_ID, P), "dual_write", Action.WRITE),
    (Execute(WRITE_ID, P), "cassandra", Action.FORWARD),
    # batches: their tables are read by the write handler
    (BATCH_TEXT, "cassandra", Action.WRITE),
    (BATCH, None, Action.WRITE),
    # reads: from DynamoDB from verify on
    (SELECT, "cassandra", Action.FORWARD),
    (SELECT, "dual_write", Action.FORWARD),
    (SELECT, "verify", Action.READ),
    (SELECT, "dynamo_fallback", Action.READ),
    (SELECT, "dynamo", Action.READ),
    (SELECT, None, Action.FORWARD),
    (Execute(READ_ID, P), "dynamo", Action.READ),  # qualified: its keyspace, not the session's at PREPARE
    (Execute(READ_ID, P), "dual_write", Action.FORWARD),
    (Execute(OTHER_ID, P), "dynamo", Action.FORWARD),
    # the sidecar's own answers and rewrites
    (Execute(UNKNOWN_ID, P), "dual_write", Action.UNPREPARED),
    (Execute(SYSTEM_ID, P), "dynamo", Action.SYSTEM_ROWS),
    (Query("SELECT * FROM system.local WHERE key='local'", P), "dynamo", Action.SYSTEM_ROWS),
    (Query("select peer, rpc_address from system.peers", P), None, Action.SYSTEM_ROWS),
    (Query("SELECT * FROM system_schema.tables", P), None, Action.FORWARD),
    (Query("USE ks", P), None, Action.USE),
    (Prepare("SELECT * FROM system.peers_v2"), None, Action.PREPARE_SYSTEM),
    (Prepare("INSERT INTO t (k, v) VALUES (?, ?)"), "cassandra", Action.PREPARE),
    (Prepare("CREATE TABLE x (k int PRIMARY KEY)"), None, Action.PREPARE),
    (Options(), None, Action.SUPPORTED),
    (Startup({"CQL_VERSION": "3.0.0"}), None, Action.HANDSHAKE),
    (AuthResponse(b"\0u\0p"), None, Action.HANDSHAKE),
    (Register(["SCHEMA_CHANGE"]), None, Action.FORWARD),
])
def test_decision(msg: Message, phase: str | None, expected: Action) -> None:
    assert _decide(msg, phase) is expected


@pytest.mark.parametrize("msg", [INSERT, SELECT, BATCH, Execute(WRITE_ID, P), Prepare("SELECT 1"), Options()])
def test_draining_refuses_everything(msg: Message) -> None:
    assert _decide(msg, "dynamo", draining=True) is Action.OVERLOADED


@pytest.mark.parametrize(("msg", "expected"), [
    (INSERT, Action.FORWARD),
    (BATCH, Action.FORWARD),
    (SELECT, Action.FORWARD),
    (Execute(UNKNOWN_ID, P), Action.FORWARD),  # nothing mapped: ids are not tracked
    (Execute(SYSTEM_ID, P), Action.SYSTEM_ROWS),
    (Prepare("INSERT INTO t (k, v) VALUES (?, ?)"), Action.FORWARD),
    (Prepare("SELECT * FROM system.local"), Action.PREPARE_SYSTEM),
    (Query("USE ks", P), Action.USE),
    (Query("  select * from system.peers", P), Action.SYSTEM_ROWS),
])
def test_without_a_mapping_only_the_sidecar_s_own_rewrites_remain(msg: Message, expected: Action) -> None:
    assert _decide(msg, None, mirroring=False) is expected


def test_the_table_is_looked_up_in_the_statement_s_keyspace_else_the_session_s() -> None:
    assert _decide(INSERT_QUALIFIED, "dual_write", keyspace=None) is Action.WRITE
    assert _decide(INSERT, "dual_write", keyspace="elsewhere") is Action.FORWARD
    assert _decide(INSERT, "dual_write", keyspace=None) is Action.FORWARD  # no keyspace: Cassandra says why


def test_a_rollout_share_is_settled_per_partition_by_the_handler() -> None:
    # the decision is per table; partitions outside the share are the handler's business
    assert _decide(INSERT, "dual_write", share=0.0) is Action.FORWARD  # no partition moved yet
    assert _decide(INSERT, "dual_write", share=10.0) is Action.WRITE
    assert _decide(SELECT, "verify", share=10.0) is Action.READ


def test_every_decision_has_one_handler() -> None:
    assert set(HANDLERS) == set(Action)
