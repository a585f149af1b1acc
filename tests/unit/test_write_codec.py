"""Translated writes survive the journal's JSON exactly."""

from __future__ import annotations

import datetime
import decimal
import uuid

import orjson

from cql_protocol.cql import parse
from cql_protocol.types import serialize
from proxy.aws.dynamodb_client import dumps
from translators.mapping import loads_mapping
from translators.statements import translate
from translators.write_codec import decode_write, encode_write

MAPPING = loads_mapping("""
version: 1
tables:
  - cql: ks.t
    phase: dual_write
    schema:
      columns: {id: uuid, at: timestamp, name: text, price: decimal, blob: blob, tags: "set<text>",
                m: "map<int, frozen<list<text>>>", l: "list<double>", pair: "frozen<tuple<int, blob>>"}
      partition_key: [id]
      clustering: [{at: desc}]
  - cql: ks.c
    schema:
      columns: {id: int, n: counter}
      partition_key: [id]
""")


def _roundtrip(text: str, values: list[bytes | None] = ()) -> None:
    writes = translate(parse(text), resolve=lambda ks, t: MAPPING.table(ks or "ks", t), session_keyspace="ks",
                       values=list(values), protocol_version=4, timestamp=123, now=1_800_000_000)
    assert writes
    for w in writes:
        record = orjson.loads(dumps(encode_write(w)))  # exactly what the journal stores
        back = decode_write(record, MAPPING)
        assert back == w, (back, w)


def test_rows_with_every_kind_of_value():
    uid = uuid.uuid4()
    _roundtrip(
        "INSERT INTO t (id, at, name, price, blob, tags, m, l, pair) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL 60",
        [serialize(MAPPING.table("ks", "t").schema.columns[c], v) for c, v in zip(
            ["id", "at", "name", "price", "blob", "tags", "m", "l", "pair"],
            [uid, datetime.datetime(2024, 1, 1), "n", decimal.Decimal("1.50"), b"\x00\xff", ["a", "b"],
             {1: ["x"], 2: []}, [1.5, -0.0], (7, b"\x01")], strict=True)],
    )


def test_collection_operations_deletes_and_counters():
    uid = uuid.uuid4()
    _roundtrip(f"UPDATE t SET tags = tags + {{'x'}}, m[3] = ['y'], l = [2.5] + l WHERE id = {uid} "
               "AND at = '2024-01-01 00:00:00+0000'")
    _roundtrip(f"UPDATE t SET l[0] = 9.5, tags = tags - {{'x'}}, m = m - {{3}} WHERE id = {uid} AND at = 5")
    _roundtrip(f"DELETE name, m[1] FROM t WHERE id = {uid} AND at = 5")
    _roundtrip(f"DELETE FROM t WHERE id = {uid}")
    _roundtrip(f"DELETE FROM t WHERE id = {uid} AND at > 5 AND at <= 10")
    _roundtrip("UPDATE c SET n = n + 5 WHERE id = 1")
