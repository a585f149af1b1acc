"""The request path end to end in memory (tests/sidecar_pair.py): what a client sees on the wire,
what reaches Cassandra, and what lands in DynamoDB, for the handshake, pass-through requests,
the rewritten answers and every decision on a mapped table."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sidecar_pair import SidecarPair

from cql_protocol.errors import ErrorCode
from cql_protocol.messages import (
    ErrorMessage,
    Options,
    Query,
    QueryParameters,
    Ready,
    SetKeyspace,
    Startup,
    Supported,
    Void,
    decode_frame,
)
from cql_protocol.opcodes import Opcode
from proxy import handshake


@pytest.fixture
async def pair() -> AsyncIterator[SidecarPair]:
    p = SidecarPair()
    yield p
    p.close()


def _q(text: str, **params: object) -> Query:
    return Query(text, QueryParameters(consistency=1, **params))  # type: ignore[arg-type]


# -- handshake ----------------------------------------------------------------------------------


async def test_options_then_startup_reach_cassandra_and_the_client_gets_ready(pair: SidecarPair) -> None:
    pair.request(Options(), 3)
    await pair.settle()
    stream, sup = pair.answer()
    assert stream == 3 and isinstance(sup, Supported)
    # Cassandra's list, trimmed to what the sidecar reads
    assert sup.options["COMPRESSION"] == ["snappy", "lz4"]
    assert sup.options["PROTOCOL_VERSIONS"] == ["3/v3", "4/v4", "5/v5"]
    pair.request(Startup({"CQL_VERSION": "3.0.0"}), 5)
    await pair.settle()
    assert pair.answer() == (5, Ready())
    assert [decode_frame(f).message for f in pair.peer.frames] == [Options(), Startup({"CQL_VERSION": "3.0.0"})]
    assert pair.session.state is handshake.State.READY
    assert pair.server.pool.connects == 1  # type: ignore[attr-defined]


async def test_a_request_before_startup_is_refused_and_closes_the_connection(pair: SidecarPair) -> None:
    pair.request(_q("SELECT * FROM ks.t"), 7)
    await pair.settle()
    stream, err = pair.answer()
    assert stream == 7 and isinstance(err, ErrorMessage)
    assert (err.code, err.message) == (ErrorCode.PROTOCOL_ERROR, "Unexpected message QUERY, expecting STARTUP or OPTIONS")
    assert pair.client.closed
    assert pair.peer.frames == []  # nothing reached Cassandra


async def test_requests_behind_startup_wait_for_its_answer(pair: SidecarPair) -> None:
    pair.peer.hold = True
    pair.request(Startup({"CQL_VERSION": "3.0.0"}), 1)
    pair.request(_q("SELECT v FROM ks.t WHERE k = 1"), 2)
    await pair.settle()
    assert [f.opcode for f in pair.peer.new_frames()] == [Opcode.STARTUP]  # the QUERY stays unread
    assert pair.answers() == [] and not pair.client.reading
    pair.peer.release()
    await pair.settle()
    assert [(f.stream, f.opcode) for f in pair.answers()] == [(1, Opcode.READY), (2, Opcode.RESULT)]
    assert [f.opcode for f in pair.peer.new_frames()] == [Opcode.QUERY]


async def test_a_second_startup_is_refused_on_its_stream(pair: SidecarPair) -> None:
    await pair.connect()
    pair.request(Startup({"CQL_VERSION": "3.0.0"}), 9)
    await pair.settle()
    stream, err = pair.answer()
    assert stream == 9 and isinstance(err, ErrorMessage) and err.code == ErrorCode.PROTOCOL_ERROR
    assert err.message == "Unexpected message STARTUP, the connection is already initialized"
    assert pair.peer.new_frames() == [] and not pair.client.closed


# -- pass-through -------------------------------------------------------------------------------


async def test_query_execute_and_batch_reach_cassandra_byte_identical(pair: SidecarPair) -> None:
    from cql_protocol.messages import Batch, BatchStatement, BatchType, Execute

    await pair.connect()
    sent = [
        pair.request(_q("SELECT v FROM ks.t WHERE k = ?", values=[b"\x00\x00\x00\x01"]), 100),
        pair.request(Execute(b"\x01" * 16, QueryParameters(consistency=1, values=[b"x"])), 7),
        pair.request(Batch(BatchType.LOGGED, [BatchStatement.of_query("INSERT INTO ks.t (k) VALUES (1)")],
                           consistency=1), 32767),
    ]
    await pair.settle()
    got = pair.peer.new_frames()
    assert [bytes(f.body) for f in got] == [bytes(f.body) for f in sent]
    assert [(f.opcode, f.flags, f.version) for f in got] == [(f.opcode, f.flags, f.version) for f in sent]
    # Cassandra sees the sidecar's own stream ids; the client gets its own back
    assert len({f.stream for f in got}) == 3
    assert sorted((f.stream, f.opcode) for f in pair.answers()) == [
        (7, Opcode.RESULT), (100, Opcode.RESULT), (32767, Opcode.RESULT)]
    assert pair.session.pending == {}


async def test_cassandra_answers_pass_back_untouched(pair: SidecarPair) -> None:
    from cql_protocol.messages import ColumnSpec, Rows, RowsMetadata
    from cql_protocol.types import INT

    await pair.connect()
    rows = Rows(RowsMetadata([ColumnSpec("ks", "t", "v", INT)]), [[b"\x00\x00\x00\x2a"], [None]])
    pair.peer.results["SELECT v FROM ks.t"] = rows
    pair.peer.results["SELECT w FROM ks.t"] = ErrorMessage(ErrorCode.INVALID, "Undefined column name w")
    pair.request(_q("SELECT v FROM ks.t"), 11)
    pair.request(_q("SELECT w FROM ks.t"), 12)
    await pair.settle()
    answers = {f.stream: decode_frame(f).message for f in pair.answers()}
    assert answers == {11: rows, 12: ErrorMessage(ErrorCode.INVALID, "Undefined column name w")}


async def test_use_is_forwarded_and_followed(pair: SidecarPair) -> None:
    await pair.connect()
    pair.request(_q("USE shop"), 4)
    await pair.settle()
    assert pair.answer() == (4, SetKeyspace("shop"))
    assert pair.session.keyspace == "shop"
    (f,) = pair.peer.new_frames()
    assert decode_frame(f).message == _q("USE shop")


async def test_system_local_is_rewritten_to_show_the_sidecar(pair: SidecarPair) -> None:
    import uuid

    from cql_protocol.messages import ColumnSpec, Rows, RowsMetadata
    from cql_protocol.types import INET, INT, TEXT, UUID, deserialize, serialize
    from proxy.system_tables import Node

    await pair.connect()
    cols = [ColumnSpec("system", "local", n, t) for n, t in (
        ("key", TEXT), ("rpc_address", INET), ("native_port", INT), ("host_id", UUID),
        ("data_center", TEXT))]
    cassandra_row = [b"local", serialize(INET, "10.0.0.5"), serialize(INT, 9042),
                     serialize(UUID, uuid.UUID(int=5)), b"dc1"]
    query = "SELECT * FROM system.local WHERE key='local'"
    pair.peer.results[query] = Rows(RowsMetadata(cols), [cassandra_row])
    pair.request(_q(query), 21)
    await pair.settle()
    stream, rows = pair.answer()
    assert stream == 21 and isinstance(rows, Rows)
    (row,) = rows.rows
    me = Node("127.0.0.1", 9042)  # the address the client dialled
    assert deserialize(INET, row[1]) == "127.0.0.1" and deserialize(INT, row[2]) == 9042
    assert deserialize(UUID, row[3]) == me.host_id
    assert (row[0], row[4]) == (b"local", b"dc1")  # what the sidecar shares with its node passes
    assert [decode_frame(f).message for f in pair.peer.new_frames()] == [_q(query)]


async def test_options_after_ready_is_cassandras_answer_trimmed(pair: SidecarPair) -> None:
    await pair.connect()
    pair.request(Options(), 2)
    await pair.settle()
    stream, sup = pair.answer()
    assert stream == 2 and isinstance(sup, Supported) and sup.options["COMPRESSION"] == ["snappy", "lz4"]
    assert [f.opcode for f in pair.peer.new_frames()] == [Opcode.OPTIONS]


async def test_draining_answers_overloaded_and_forwards_nothing(pair: SidecarPair) -> None:
    await pair.connect()
    pair.server.draining = True
    pair.request(_q("SELECT v FROM ks.t"), 8)
    await pair.settle()
    stream, err = pair.answer()
    assert stream == 8 and isinstance(err, ErrorMessage) and err.code == ErrorCode.OVERLOADED
    assert err.message == "the sidecar is shutting down; retry on another node"
    assert pair.peer.new_frames() == []


async def test_compressed_requests_pass_as_they_came(pair: SidecarPair) -> None:
    await pair.connect({"COMPRESSION": "lz4"})
    sent = pair.request(_q("SELECT v FROM ks.t WHERE k = 1"), 6, compress="lz4")
    await pair.settle()
    (f,) = pair.peer.new_frames()
    assert f.compressed and bytes(f.body) == bytes(sent.body)
    (a,) = pair.answers()
    assert a.stream == 6 and a.compressed and decode_frame(a).message == Void()
