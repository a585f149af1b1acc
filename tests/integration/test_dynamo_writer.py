"""Row writes against the real DynamoDB Local: two writers (as two sidecars would) apply the same
mutations concurrently, in different orders, and the item ends up as Cassandra would hold the row."""

from __future__ import annotations

import asyncio
import decimal
import os
import random
import uuid

import pytest

from proxy.aws.dynamodb_client import DynamoDBClient
from proxy.aws.sigv4 import FrozenCredentials
from proxy.writes.dynamo_writer import DynamoWriter
from translators.item_codec import from_item, key_item
from translators.mapping import loads_mapping
from translators.row_state import Mutation, merge, visible

pytestmark = pytest.mark.integration
CREDS = FrozenCredentials("test", "test")
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def dynamodb(backends) -> str:
    backends.ensure("dynamodb")
    return f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}"


def client(endpoint: str) -> DynamoDBClient:
    return DynamoDBClient(region="us-east-1", endpoint=endpoint, credentials=lambda: CREDS)


@pytest.fixture
async def mapped(dynamodb):
    name = f"cdp_w_{uuid.uuid4().hex[:8]}"
    m = loads_mapping(f"""
version: 1
tables:
  - cql: ks.events
    dynamodb_table: {name}
    phase: dual_write
    schema:
      columns: {{id: uuid, at: timestamp, kind: text, n: int, price: decimal, tags: "set<text>",
                 attrs: "map<text, int>", trail: "list<int>", blob: blob}}
      partition_key: [id]
      clustering: [{{at: desc}}]
""")
    tm = m.table("ks", "events")
    assert tm is not None
    async with client(dynamodb) as c:
        await c.call("CreateTable", {
            "TableName": name,
            "KeySchema": [{"AttributeName": tm.pk.attribute, "KeyType": "HASH"},
                          {"AttributeName": tm.sk.attribute, "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": tm.pk.attribute, "AttributeType": tm.pk.dynamodb_type},
                                     {"AttributeName": tm.sk.attribute, "AttributeType": tm.sk.dynamodb_type}],
            "BillingMode": "PAY_PER_REQUEST",
        })
    yield tm
    async with client(dynamodb) as c:
        await c.call("DeleteTable", {"TableName": name})


def _mutations(rng: random.Random) -> list[Mutation]:
    muts = []
    for ts in rng.sample(range(1, 10_000), 40):
        r = rng.random()
        if r < 0.1:
            muts.append(Mutation(ts=ts, delete_row=True))
        elif r < 0.4:
            muts.append(Mutation(ts=ts, row_marker=True, cells={
                "kind": rng.choice(["a", "b", None]), "n": ts, "price": decimal.Decimal(f"{ts}.50"),
                "blob": bytes([ts % 256]) * 3}))
        elif r < 0.7:
            muts.append(Mutation(ts=ts, collection_ops=[
                ("tags", "set:add", [f"t{ts % 7}"]), ("tags", "set:remove", [f"t{(ts + 3) % 7}"]),
                ("attrs", "map:put", {f"k{ts % 5}": ts})]))
        else:
            muts.append(Mutation(ts=ts, cells={"n": -ts},
                                 collection_ops=[("trail", "list:append", [ts])]))
    return muts


def _norm(v):
    return None if v is None else {k: sorted(x) if isinstance(x, list) and k == "tags" else x for k, x in v.items()}


async def test_two_writers_converge_to_cassandras_answer(dynamodb, mapped):
    rng = random.Random(11)
    pk, ck = (uuid.uuid4(),), (1_700_000_000_000,)
    muts = _mutations(rng)
    reference = None
    for m in sorted(muts, key=lambda m: m.ts):
        reference = merge(reference, m, NOW)
    a_order, b_order = muts[:], muts[:]
    rng.shuffle(a_order)
    rng.shuffle(b_order)
    async with client(dynamodb) as ca, client(dynamodb) as cb:
        wa, wb = DynamoWriter(ca), DynamoWriter(cb)

        async def run(w, order):
            for m in order:
                await w.apply_row(mapped, pk, ck, m, now=NOW)

        # each writer applies every mutation: duplicates and reorderings, as retries and replays make
        await asyncio.gather(run(wa, a_order), run(wb, b_order))
        got = await ca.get_item(TableName=mapped.dynamodb_table, Key=key_item(mapped, pk, ck), ConsistentRead=True)
    state = from_item(mapped, got.get("Item"))
    assert state is not None
    # lists record each append once per application: compare the order-independent columns
    ref_v, got_v = visible(reference, NOW), visible(state, NOW)
    if ref_v is not None:
        ref_v.pop("trail", None)
    if got_v is not None:
        got_v.pop("trail", None)
    assert _norm(got_v) == _norm(ref_v)


async def test_a_shadowed_write_changes_nothing(dynamodb, mapped):
    pk, ck = (uuid.uuid4(),), (5,)
    async with client(dynamodb) as c:
        w = DynamoWriter(c)
        assert await w.apply_row(mapped, pk, ck, Mutation(ts=10, row_marker=True, cells={"kind": "x"}), NOW)
        assert await w.apply_row(mapped, pk, ck, Mutation(ts=20, delete_row=True), NOW)
        # a backfill that read the row before the delete: no resurrection, no write at all
        assert not await w.apply_row(mapped, pk, ck, Mutation(ts=15, row_marker=True, cells={"kind": "old"}), NOW)
        got = await c.get_item(TableName=mapped.dynamodb_table, Key=key_item(mapped, pk, ck), ConsistentRead=True)
        item = got["Item"]
        assert "kind" not in item and int(item["_ttl"]["N"]) > NOW  # a tombstone item that will expire
        assert visible(from_item(mapped, item), NOW) is None
