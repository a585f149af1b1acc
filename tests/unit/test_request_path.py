"""The request path end to end in memory (tests/sidecar_pair.py): what a client sees on the wire,
what reaches Cassandra, and what lands in DynamoDB, for the handshake, pass-through requests,
the rewritten answers and every decision on a mapped table."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sidecar_pair import SidecarPair, prepared_id, rows_of

from cql_protocol.errors import ErrorCode
from cql_protocol.messages import (
    ColumnSpec,
    ErrorMessage,
    Execute,
    Options,
    Prepare,
    Prepared,
    PreparedMetadata,
    Query,
    QueryParameters,
    Ready,
    Rows,
    RowsMetadata,
    SetKeyspace,
    Startup,
    Supported,
    Void,
    decode_frame,
    encode_message,
)
from cql_protocol.opcodes import Opcode
from cql_protocol.types import INT, TEXT, serialize
from proxy.session import handshake


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
    from proxy.system_tables.topology import Node

    await pair.connect()
    cols = [ColumnSpec("system", "local", n, t) for n, t in (
        ("key", TEXT), ("rpc_address", INET), ("native_port", INT), ("host_id", UUID),
        ("data_center", TEXT))]
    cassandra_row: list[bytes | None] = [b"local", serialize(INET, "10.0.0.5"), serialize(INT, 9042),
                     serialize(UUID, uuid.UUID(int=5)), b"dc1"]
    query = "SELECT * FROM system.local WHERE key='local'"
    pair.peer.results[query] = Rows(RowsMetadata(cols), [cassandra_row])
    pair.request(_q(query), 21)
    await pair.settle()
    stream, rows = pair.answer()
    assert stream == 21 and isinstance(rows, Rows)
    (got,) = rows.rows
    row = [c for c in got if c is not None]
    assert len(row) == len(got)  # no null
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


# -- mapped tables ------------------------------------------------------------------------------

MAPPING = """
version: 1
tables:
  - cql: ks.kv
    phase: PHASE
    schema:
      columns: {id: int, name: text}
      partition_key: [id]
  - cql: ks.log
    phase: PHASE
    schema:
      columns: {src: text, seq: int, msg: text}
      partition_key: [src]
      clustering: [seq]
  - cql: ks.other
    phase: cassandra
    schema:
      columns: {id: int, v: text}
      partition_key: [id]
"""


Mapped = Callable[..., Awaitable[SidecarPair]]


@pytest.fixture
async def mapped() -> AsyncIterator[Mapped]:
    """mapped(phase, **config): a ready session with ks.kv and ks.log in `phase` (ks.other stays
    in Cassandra, so the session keeps its Cassandra connection whatever the phase)."""
    made: list[SidecarPair] = []

    async def make(phase: str, **config: Any) -> SidecarPair:
        p = SidecarPair(MAPPING.replace("PHASE", phase), **config)
        made.append(p)
        await p.connect()
        return p

    yield make
    for p in made:
        p.close()


def _name_rows(*names: str | None) -> Rows:
    return Rows(RowsMetadata([ColumnSpec("ks", "kv", "name", TEXT)]),
                [[None if n is None else n.encode()] for n in names])


def _kv_item(pair: SidecarPair, id_: int) -> dict[str, object] | None:
    assert pair.dynamo is not None
    found = [i for i in pair.dynamo.items("ks.kv") if i["pk"] == {"N": str(id_)}]
    return found[0] if found else None


def _dynamo_ops(pair: SidecarPair) -> list[str]:
    assert pair.dynamo is not None
    return [op for op, _ in pair.dynamo.calls]


async def test_dual_write_reaches_cassandra_first_then_dynamodb(mapped: Mapped) -> None:
    pair = await mapped("dual_write")
    pair.peer.hold = True  # Cassandra has not answered yet
    pair.request(_q("INSERT INTO ks.kv (id, name) VALUES (1, 'ann')"), 40)
    await pair.settle()
    (f,) = pair.peer.new_frames()
    sent = decode_frame(f).message
    assert isinstance(sent, Query) and sent.query == "INSERT INTO ks.kv (id, name) VALUES (1, 'ann')"
    ts = sent.params.timestamp
    assert ts is not None  # the sidecar's timestamp, the one DynamoDB gets too
    assert pair.dynamo is not None and pair.dynamo.calls == [] and pair.answers() == []
    pair.peer.release()
    await pair.settle()
    assert pair.answer() == (40, Void())
    item = _kv_item(pair, 1)
    assert item is not None and item["name"] == {"S": "ann"} and item["_ts"] == {"N": str(ts)}
    assert pair.server.dual is not None and pair.server.dual.stats.mirrored == 1


async def test_a_write_cassandra_refuses_is_not_mirrored(mapped: Mapped) -> None:
    pair = await mapped("dual_write")
    refusal = ErrorMessage(ErrorCode.UNAVAILABLE, "Cannot achieve consistency level ONE", consistency=1,
                           required=1, alive=0)
    pair.peer.results["INSERT INTO ks.kv (id, name) VALUES (2, 'bo')"] = refusal
    pair.request(_q("INSERT INTO ks.kv (id, name) VALUES (2, 'bo')"), 41)
    await pair.settle()
    stream, err = pair.answer()
    assert stream == 41 and isinstance(err, ErrorMessage) and err.code == ErrorCode.UNAVAILABLE
    assert pair.dynamo is not None and pair.dynamo.calls == []


async def test_a_prepared_write_is_mirrored_with_its_bound_values(mapped: Mapped) -> None:
    pair = await mapped("dual_write")
    q = "INSERT INTO ks.kv (id, name) VALUES (?, ?)"
    qid = prepared_id(q)
    pair.peer.results[q] = Prepared(qid, metadata=PreparedMetadata(
        [ColumnSpec("ks", "kv", "id", INT), ColumnSpec("ks", "kv", "name", TEXT)], [0]))
    pair.request(Prepare(q), 1)
    await pair.settle()
    stream, prepared = pair.answer()
    assert stream == 1 and isinstance(prepared, Prepared) and prepared.query_id == qid
    pair.request(Execute(qid, QueryParameters(consistency=1, values=[serialize(INT, 7), b"cy"],
                                              timestamp=1_000_000)), 2)
    await pair.settle()
    assert pair.answer() == (2, Void())
    assert [f.opcode for f in pair.peer.new_frames()] == [Opcode.PREPARE, Opcode.EXECUTE]
    item = _kv_item(pair, 7)
    assert item is not None and item["name"] == {"S": "cy"} and item["_ts"] == {"N": "1000000"}


async def test_execute_of_an_id_the_sidecar_never_saw_is_unprepared(mapped: Mapped) -> None:
    pair = await mapped("dual_write")
    pair.request(Execute(b"\xab" * 16, QueryParameters(consistency=1, values=[])), 12)
    await pair.settle()
    stream, err = pair.answer()
    assert stream == 12 and isinstance(err, ErrorMessage) and err.code == ErrorCode.UNPREPARED
    assert err.statement_id == b"\xab" * 16
    assert pair.peer.new_frames() == []  # the driver prepares again through the sidecar


def _put_kv(pair: SidecarPair, id_: int, name: str) -> None:
    assert pair.dynamo is not None
    pair.dynamo.put("ks.kv", {"pk": {"N": str(id_)}, "id": {"N": str(id_)}, "name": {"S": name}, "_ts": {"N": "5"}})


@pytest.mark.parametrize(("in_dynamodb", "cassandra_reads", "mismatches"), [
    ("dee", 1, 0),
    # a difference is read again from both stores (the sidecar's own stream) before it counts
    ("old", 2, 1),
])
async def test_verify_read_is_answered_by_cassandra_and_compared_with_dynamodb(
        mapped: Mapped, in_dynamodb: str, cassandra_reads: int, mismatches: int) -> None:
    pair = await mapped("verify", verify_sample=100.0)
    _put_kv(pair, 3, in_dynamodb)
    q = "SELECT name FROM ks.kv WHERE id = 3"
    pair.peer.results[q] = _name_rows("dee")
    sent = pair.request(_q(q), 30)
    await pair.settle()
    got = pair.peer.new_frames()
    assert bytes(got[0].body) == bytes(sent.body)  # the read goes to Cassandra as it came
    assert [decode_frame(f).message for f in got] == [_q(q)] * cassandra_reads
    assert pair.answer() == (30, _name_rows("dee"))  # Cassandra answers; the client never sees DynamoDB's row
    assert _dynamo_ops(pair) == ["GetItem"] * cassandra_reads  # DynamoDB is read and compared after
    reads, tm = pair.server.reads, pair.server.mapping.table("ks", "kv")  # type: ignore[union-attr]
    assert reads is not None and tm is not None
    st = reads.stats.of(tm)
    assert (st.verified, st.mismatches, st.verify_settled) == (1, mismatches, 0)
    assert [x["table"] for x in reads.stats.samples] == ["ks.kv"] * mismatches


async def test_dynamo_fallback_read_is_answered_by_dynamodb(mapped: Mapped) -> None:
    pair = await mapped("dynamo_fallback")
    _put_kv(pair, 5, "eve")
    pair.request(_q("SELECT name FROM ks.kv WHERE id = 5"), 50)
    await pair.settle()
    stream, rows = pair.answer()
    assert stream == 50 and isinstance(rows, Rows) and rows.rows == [[b"eve"]]
    assert [c.name for c in rows.metadata.columns or []] == ["name"]
    assert pair.peer.new_frames() == []
    assert _dynamo_ops(pair) == ["GetItem"]


async def test_dynamo_fallback_miss_is_read_from_cassandra(mapped: Mapped) -> None:
    pair = await mapped("dynamo_fallback")
    q = "SELECT name FROM ks.kv WHERE id = 6"
    pair.peer.results[q] = _name_rows("fay")
    sent = pair.request(_q(q), 51)
    await pair.settle()
    (f,) = pair.peer.new_frames()
    assert bytes(f.body) == bytes(sent.body)
    assert pair.answer() == (51, _name_rows("fay"))
    assert _dynamo_ops(pair) == ["GetItem"]  # asked first, and missed


async def test_dynamo_write_and_read_never_reach_cassandra(mapped: Mapped) -> None:
    pair = await mapped("dynamo")
    assert pair.session.upstream is not None  # ks.other keeps a Cassandra connection
    pair.request(_q("INSERT INTO ks.log (src, seq, msg) VALUES ('a', 1, 'one')"), 60)
    pair.request(_q("INSERT INTO ks.log (src, seq, msg) VALUES ('a', 2, 'two')"), 61)
    pair.request(_q("UPDATE ks.log SET msg = 'three' WHERE src = 'a' AND seq = 3"), 62)
    await pair.settle()
    assert sorted((f.stream, decode_frame(f).message) for f in pair.answers()) == [
        (60, Void()), (61, Void()), (62, Void())]
    assert pair.dynamo is not None and len(pair.dynamo.items("ks.log")) == 3
    pair.request(_q("SELECT seq, msg FROM ks.log WHERE src = 'a' AND seq > 1"), 63)
    await pair.settle()
    stream, rows = pair.answer()
    assert stream == 63 and isinstance(rows, Rows)
    assert rows.rows == [[serialize(INT, 2), b"two"], [serialize(INT, 3), b"three"]]
    pair.request(_q("SELECT seq FROM ks.log WHERE src = 'a' ORDER BY seq DESC"), 64)
    await pair.settle()
    _, desc = pair.answer()
    assert rows_of(desc) == [[serialize(INT, 3)], [serialize(INT, 2)], [serialize(INT, 1)]]
    assert pair.peer.new_frames() == []  # nothing of it reached Cassandra


async def test_a_dynamo_miss_is_an_empty_result_not_a_cassandra_read(mapped: Mapped) -> None:
    pair = await mapped("dynamo")
    pair.request(_q("SELECT name FROM ks.kv WHERE id = 9"), 65)
    await pair.settle()
    stream, rows = pair.answer()
    assert stream == 65 and rows_of(rows) == []
    assert pair.peer.new_frames() == []


async def test_an_unmapped_table_passes_through_beside_mapped_ones(mapped: Mapped) -> None:
    pair = await mapped("dynamo")
    sent = pair.request(_q("INSERT INTO ks.other (id, v) VALUES (1, 'x')"), 70)
    await pair.settle()
    (f,) = pair.peer.new_frames()
    assert bytes(f.body) == bytes(sent.body)
    assert pair.answer() == (70, Void())
    assert pair.dynamo is not None and pair.dynamo.calls == []


async def test_draining_refuses_mapped_writes_before_either_store(mapped: Mapped) -> None:
    pair = await mapped("dual_write")
    pair.server.draining = True
    pair.request(_q("INSERT INTO ks.kv (id, name) VALUES (1, 'ann')"), 80)
    await pair.settle()
    stream, err = pair.answer()
    assert stream == 80 and isinstance(err, ErrorMessage) and err.code == ErrorCode.OVERLOADED
    assert pair.peer.new_frames() == [] and pair.dynamo is not None and pair.dynamo.calls == []


async def test_concurrent_mirrors_of_one_row_merge_in_dynamodb(mapped: Mapped) -> None:
    pair = await mapped("dual_write")
    # one read from the client's socket: the three writes are in flight at once
    pair.send_bytes(b"".join(
        encode_message(_q(text, timestamp=ts), 4, stream, response=False).encode()
        for text, ts, stream in (("UPDATE ks.log SET msg = 'x' WHERE src = 'a' AND seq = 1", 10, 1),
                                 ("UPDATE ks.log SET msg = 'y' WHERE src = 'a' AND seq = 1", 20, 2),
                                 ("UPDATE ks.log SET msg = 'w' WHERE src = 'a' AND seq = 1", 5, 3))))
    await pair.settle()
    assert sorted((f.stream, decode_frame(f).message) for f in pair.answers()) == [
        (1, Void()), (2, Void()), (3, Void())]
    assert pair.dynamo is not None
    (item,) = pair.dynamo.items("ks.log")
    assert (item["msg"], item["_ts"]) == ({"S": "y"}, {"N": "20"})  # the latest write wins, as in Cassandra
    assert pair.server.dual is not None
    writer = pair.server.dual.writer
    # (they did race: a merge was redone, or a write met a newer item and was merged into it)
    assert writer.conflicts + writer.single_call.get(("ks.log", "fallback_condition"), 0) >= 1


async def test_dynamo_fallback_write_goes_to_dynamodb_then_cassandra(mapped: Mapped) -> None:
    pair = await mapped("dynamo_fallback")
    pair.peer.hold = True
    pair.request(_q("INSERT INTO ks.kv (id, name) VALUES (8, 'gus')"), 90)
    await pair.settle()
    item = _kv_item(pair, 8)
    assert item is not None and item["name"] == {"S": "gus"}  # DynamoDB decided first
    (f,) = pair.peer.new_frames()  # then Cassandra got its shadow, with DynamoDB's timestamp
    shadow = decode_frame(f).message
    assert isinstance(shadow, Query) and shadow.params.timestamp is not None
    assert item["_ts"] == {"N": str(shadow.params.timestamp)}
    assert pair.answers() == []  # the client waits for Cassandra's answer to the shadow
    pair.peer.release()
    await pair.settle()
    assert pair.answer() == (90, Void())


async def test_the_clients_sasl_passes_through_to_cassandra(pair: SidecarPair) -> None:
    from cql_protocol.messages import Authenticate, AuthResponse, AuthSuccess

    pair.peer.authenticator = handshake.PASSWORD_AUTHENTICATOR
    pair.request(Startup({"CQL_VERSION": "3.0.0"}), 1)
    await pair.settle()
    assert pair.answer() == (1, Authenticate(handshake.PASSWORD_AUTHENTICATOR))
    pair.request(_q("SELECT v FROM ks.t"), 2)  # not yet: Cassandra's words, and nothing forwarded
    await pair.settle()
    stream, err = pair.answer()
    assert stream == 2 and isinstance(err, ErrorMessage)
    assert err.message == "Unexpected message QUERY, expecting SASL_RESPONSE" and not pair.client.closed
    token = b"\x00cassandra\x00cassandra"
    pair.request(AuthResponse(token), 3)
    await pair.settle()
    assert pair.answer() == (3, AuthSuccess(None))
    assert [decode_frame(f).message for f in pair.peer.frames] == [Startup({"CQL_VERSION": "3.0.0"}),
                                                                   AuthResponse(token)]
    assert pair.session.state is handshake.State.READY
