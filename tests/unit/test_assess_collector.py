"""The request-path collector fed with real frames (no sockets, no stores): counting by shape,
sampling, inline values, batches, the answer's rows."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from cql_protocol.messages import (
    Batch,
    BatchStatement,
    BatchType,
    Query,
    QueryParameters,
    Rows,
    encode_message,
)
from cql_protocol.messages.result import ColumnSpec, RowsMetadata
from cql_protocol.types import TypeCode, native, serialize
from proxy.assess.collector import Assessor
from proxy.routing.decide import Action, decide
from proxy.routing.request import describe
from proxy.session.session_port import Pending
from translators.assess import serving
from translators.mapping import loads_mapping

M = loads_mapping("""
version: 1
tables:
  - cql: ks.t1
    dynamodb_table: as_t1
    schema: {columns: {k: int, v: text}, partition_key: [k]}
  - cql: ks.t2
    dynamodb_table: as_t2
    schema: {columns: {k: int, v: text}, partition_key: [k]}
""")
VIEW = SimpleNamespace(draining=False, mirroring=True, phase_of=lambda ks, t: ("cassandra", 100.0))
TEXT, INT = native(TypeCode.VARCHAR), native(TypeCode.INT)


class Port:
    keyspace = "ks"
    dual = None

    def __init__(self) -> None:
        self.relayed: list[Any] = []

    def relay(self, frame: Any, stream: Any) -> None:
        self.relayed.append(frame)


def send(a: Assessor, msg: Any, port: Port, answer: Any = None) -> Any:
    f = encode_message(msg, 4, 1, response=False)
    req = describe(f, "ks", {}, {})
    sized = a.observe(port, req, decide(req, VIEW))  # type: ignore[arg-type]
    if sized is not None and answer is not None:
        sized(port, encode_message(answer, 4, 1, response=True), Pending(1, 0, 0.0, None))  # type: ignore[arg-type]
    return sized


def q(text: str) -> Query:
    return Query(text, QueryParameters(1))


def test_inline_values_count_as_one_shape_per_table_and_are_sized_each() -> None:
    a = Assessor(M, sample_percent=100)
    port = Port()
    for i in range(5):
        send(a, q(f"INSERT INTO ks.t1 (k, v) VALUES ({i}, '{'x' * (2000 * i)}')"), port)
    send(a, q("INSERT INTO ks.t2 (k, v) VALUES (1, 'x')"), port)
    t1, t2 = a.tables[("ks", "t1")], a.tables[("ks", "t2")]
    (s1,) = t1.shapes.values()
    (s2,) = t2.shapes.values()
    assert s1.count == 5 and s2.count == 1
    # each request's own values, not the first one's: 1 + 2 + 4 + 6 + 8 KB items, plus their reads
    assert sorted(t1.sizes)[-1] > 8000 and s1.wcu == sum(max(1, -(-f // 1024)) for f in t1.sizes)


def test_one_request_in_the_period_is_sampled_after_the_first_ones() -> None:
    a = Assessor(M, sample_percent=10)
    port = Port()
    for i in range(103):
        send(a, q(f"INSERT INTO ks.t1 (k, v) VALUES ({i}, 'v')"), port)
    (s,) = a.tables[("ks", "t1")].shapes.values()
    assert s.count == 103 and s.sampled == 3 + 10  # the first 3, then every 10th
    assert a.period == 10


def test_a_sampled_read_is_sized_from_its_rows_and_relayed_unchanged() -> None:
    a = Assessor(M, sample_percent=100)
    port = Port()
    rows = Rows(RowsMetadata([ColumnSpec("ks", "t1", "k", INT), ColumnSpec("ks", "t1", "v", TEXT)]),
                [[serialize(INT, 1, 4), serialize(TEXT, "y" * 9000, 4)]])
    sized = send(a, q("SELECT * FROM ks.t1 WHERE k = 1"), port, rows)
    assert sized is not None and len(port.relayed) == 1
    (s,) = a.tables[("ks", "t1")].shapes.values()
    assert s.how == {serving.GET: 1} and s.rows == 1 and s.rcu == 3.0  # a 9 KB item: 3 read units


def test_a_read_dynamodb_serves_is_counted_not_intercepted() -> None:
    a = Assessor(M, sample_percent=100)
    f = encode_message(q("SELECT * FROM ks.t1 WHERE k = 1"), 4, 1, response=False)
    req = describe(f, "ks", {}, {})
    assert a.observe(Port(), req, Action.READ) is None  # type: ignore[arg-type]
    assert a.observe(Port(), req, Action.OVERLOADED) is None  # type: ignore[arg-type]
    (s,) = a.tables[("ks", "t1")].shapes.values()
    assert s.count == 2 and s.sampled == 0


def test_batches_are_read_from_their_body() -> None:
    a = Assessor(M, sample_percent=100)
    b = Batch(BatchType.LOGGED, [BatchStatement(0, "INSERT INTO ks.t1 (k, v) VALUES (1, 'a')"),
                                 BatchStatement(0, "INSERT INTO ks.t1 (k, v) VALUES (2, 'b')")], 1)
    send(a, b, Port())
    (text, s), = a.tables[("ks", "t1")].shapes.items()
    assert text.startswith("BATCH: insert into ks.t1") and s.how == {serving.TRANSACT: 1}


def test_unmapped_tables_are_left_alone() -> None:
    a = Assessor(M, sample_percent=100)
    assert send(a, q("SELECT * FROM ks.other WHERE k = 1"), Port()) is None
    assert all(not t.shapes for t in a.tables.values())
    snap = a.snapshot()
    assert sorted(snap["tables"]) == ["ks.t1", "ks.t2"] and snap["sample_percent"] == 100
