"""The single-call write against the real DynamoDB Local: random write sequences (inserts, updates,
cell and row deletes, TTLs, collections, out-of-order and equal timestamps) go through the sidecar's
writer (one UpdateItem when the write is newer than the item, else the read-merge-write) and,
for another row, through the read-merge-write alone; both items must decode to the same row."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.aws.dynamodb_client import DynamoDBClient
from proxy.aws.sigv4 import FrozenCredentials
from proxy.writes.dynamo_writer import DynamoWriter
from proxy.writes.lww import APPLIED, FALLBACK_CONDITION, FALLBACK_SIZE, merge_into_item
from translators.item_codec import COMPRESSED, from_item, key_item
from translators.mapping import TableMapping, loads_mapping
from translators.row_state import Mutation, visible

pytestmark = pytest.mark.integration
CREDS = FrozenCredentials("test", "test")
NOW = 1_800_000_000


def client(endpoint: str) -> DynamoDBClient:
    return DynamoDBClient(region="us-east-1", endpoint=endpoint, credentials=lambda: CREDS)


def _mapping(name: str, large_items: str = "reject") -> TableMapping:
    tm = loads_mapping(f"""
version: 1
tables:
  - cql: fw_ks.events
    dynamodb_table: {name}
    phase: dual_write
    large_items: {large_items}
    schema:
      columns: {{id: uuid, at: int, kind: text, n: int, blob: blob, tags: "set<text>",
                 attrs: "map<text, int>", trail: "list<int>"}}
      partition_key: [id]
      clustering: [{{at: asc}}]
""").table("fw_ks", "events")
    assert tm is not None
    return tm


async def _create(endpoint: str, tm: TableMapping) -> None:
    assert tm.sk is not None
    async with client(endpoint) as c:
        await c.call("CreateTable", {
            "TableName": tm.dynamodb_table,
            "KeySchema": [{"AttributeName": tm.pk.attribute, "KeyType": "HASH"},
                          {"AttributeName": tm.sk.attribute, "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": tm.pk.attribute, "AttributeType": tm.pk.dynamodb_type},
                                     {"AttributeName": tm.sk.attribute, "AttributeType": tm.sk.dynamodb_type}],
            "BillingMode": "PAY_PER_REQUEST",
        })


async def _drop(endpoint: str, tm: TableMapping) -> None:
    async with client(endpoint) as c:
        await c.call("DeleteTable", {"TableName": tm.dynamodb_table})


@pytest.fixture(scope="module")
def dynamodb(backends) -> str:
    backends.ensure("dynamodb")
    return f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}"


@pytest.fixture(scope="module")
def table(dynamodb):
    tm = _mapping(f"fw_single_{uuid.uuid4().hex[:8]}")
    asyncio.run(_create(dynamodb, tm))
    yield tm
    asyncio.run(_drop(dynamodb, tm))


# -- random writes -----------------------------------------------------------------------------------

EXPIRY = st.sampled_from([0, 0, 0, 0, 0, NOW - 1, NOW + 50, NOW + 100])
CELL_VALUES: dict[str, list[Any]] = {"kind": [None, "a", "b"], "n": [None, 1, 2, -3],
                                     "blob": [None, b"", b"\x00", b"xyz"]}
CELLS = st.fixed_dictionaries({}, optional={c: st.sampled_from(v) for c, v in CELL_VALUES.items()})
TAGS = st.lists(st.sampled_from(["p", "q", "r"]), min_size=1, max_size=3, unique=True)
ATTRS = st.dictionaries(st.sampled_from(["u", "v"]), st.integers(0, 3), min_size=1, max_size=2)
TRAIL = st.lists(st.integers(0, 3), min_size=1, max_size=3)
VERBS = {"tags": ("set:overwrite", "set:add", "set:remove", "set:delete"),
         "attrs": ("map:overwrite", "map:put", "map:remove_keys", "map:delete"),
         "trail": ("list:overwrite", "list:append", "list:prepend", "list:delete")}
PAYLOADS = {"tags": TAGS, "attrs": ATTRS, "trail": TRAIL}


@st.composite
def collection_op(draw: Any) -> tuple[str, str, Any]:
    col = draw(st.sampled_from(sorted(VERBS)))
    verb = draw(st.sampled_from(VERBS[col]))
    if verb.endswith(":delete"):
        return col, verb, None
    if verb == "map:remove_keys":
        return col, verb, draw(st.lists(st.sampled_from(["u", "v"]), min_size=1))
    return col, verb, draw(PAYLOADS[col])


COLLECTION_OPS = collection_op()


@st.composite
def sequences(draw: Any) -> list[Mutation]:
    """Mostly newer and newer writes (the common case), with older ones and ties among them."""
    out: list[Mutation] = []
    newest = 0
    for _ in range(draw(st.integers(3, 12))):
        how = draw(st.sampled_from(["newer", "newer", "newer", "older", "tie"]))
        if how == "newer" or not out:
            ts = newest + draw(st.integers(1, 3))
        elif how == "older":
            ts = draw(st.integers(1, newest))
        else:
            ts = draw(st.sampled_from([m.ts for m in out]))
        newest = max(newest, ts)
        out.append(draw(mutations(ts)))
    return out


@st.composite
def mutations(draw: Any, ts: int) -> Mutation:
    expiry = draw(EXPIRY)
    kind = draw(st.sampled_from(["insert", "update", "update", "delete cells", "delete row", "collection", "collection"]))
    if kind == "insert":
        return Mutation(ts=ts, expiry=expiry, row_marker=True, cells=draw(CELLS))
    if kind == "update":
        return Mutation(ts=ts, expiry=expiry, cells=draw(CELLS.filter(bool)),
                        collection_ops=draw(st.lists(COLLECTION_OPS, max_size=3, unique_by=lambda o: o[0])))
    if kind == "delete cells":
        return Mutation(ts=ts, cells=dict.fromkeys(draw(st.lists(st.sampled_from(["kind", "n", "blob"]),
                                                                   min_size=1, unique=True))))
    if kind == "delete row":
        return Mutation(ts=ts, delete_row=True)
    ops = draw(st.lists(COLLECTION_OPS, min_size=1, max_size=3, unique_by=lambda o: o[0]))
    return Mutation(ts=ts, expiry=expiry, cells=draw(CELLS), collection_ops=ops)


def random_sequence(rng: random.Random) -> list[Mutation]:
    """The same kinds of writes drawn uniformly (hypothesis's own draws favour the first choices)."""
    out: list[Mutation] = []
    newest = 0
    for _ in range(rng.randint(3, 12)):
        how = rng.choice(["newer", "newer", "newer", "older", "tie"])
        ts = newest + rng.randint(1, 3) if how == "newer" or not out else \
            rng.randint(1, newest) if how == "older" else rng.choice([m.ts for m in out])
        newest = max(newest, ts)
        expiry = rng.choice([0, 0, 0, 0, 0, NOW - 1, NOW + 50, NOW + 100])
        cells = {c: rng.choice(vals) for c, vals in CELL_VALUES.items() if rng.random() < 0.4}
        ops = []
        for col in rng.sample(sorted(VERBS), rng.randint(0, 3)):
            verb = rng.choice(VERBS[col])
            payload = None if verb.endswith(":delete") else rng.sample(["u", "v"], rng.randint(1, 2)) \
                if verb == "map:remove_keys" else {"tags": lambda: rng.sample(["p", "q", "r"], rng.randint(1, 3)),
                                                   "attrs": lambda: {k: rng.randint(0, 3) for k in
                                                                     rng.sample(["u", "v"], rng.randint(1, 2))},
                                                   "trail": lambda: [rng.randint(0, 3) for _ in range(rng.randint(1, 3))]
                                                   }[col]()
            ops.append((col, verb, payload))
        kind = rng.choice(["insert", "update", "delete cells", "delete row"])
        if kind == "delete row":
            out.append(Mutation(ts=ts, delete_row=True))
        elif kind == "delete cells":
            out.append(Mutation(ts=ts, cells=dict.fromkeys(rng.sample(sorted(CELL_VALUES), rng.randint(1, 3)))))
        else:
            out.append(Mutation(ts=ts, expiry=expiry, row_marker=kind == "insert", cells=cells, collection_ops=ops))
    return out


async def _both(endpoint: str, tm: TableMapping, muts: list[Mutation]) -> tuple[Any, Any, DynamoWriter, dict[str, int]]:
    """Applies `muts` to one row through the sidecar's writer and to another through the
    read-merge-write alone, comparing the two items after every write; returns the last two."""
    part, clus = (uuid.uuid4(),), (1,)
    other = (uuid.uuid4(),)
    fast = slow = None
    async with client(endpoint) as c, client(endpoint) as merging:
        writer = DynamoWriter(c)
        for m in muts:
            await writer.apply_row(tm, part, clus, m, now=NOW)
            await merge_into_item(merging, None, tm, other, clus, [m], key=key_item(tm, other, clus),
                                  max_attempts=5, now=NOW)
            # read through the other client: the writer's counts are its own calls only
            got = await merging.get_item(TableName=tm.dynamodb_table, Key=key_item(tm, part, clus),
                                         ConsistentRead=True)
            fast = got.get("Item")
            got = await merging.get_item(TableName=tm.dynamodb_table, Key=key_item(tm, other, clus),
                                         ConsistentRead=True)
            slow = got.get("Item")
            _same_row(tm, fast, slow)
        calls = dict(c.stats.by_operation("calls"))
    return fast, slow, writer, calls


def _rows(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A set's elements in a fixed order: `visible` lists them as they were first written."""
    return None if row is None else {k: sorted(v) if k == "tags" else v for k, v in row.items()}


def _same_row(tm: TableMapping, fast: Any, slow: Any) -> None:
    a, b = from_item(tm, fast), from_item(tm, slow)
    assert (a is None) == (b is None)
    if a is None or b is None:
        return
    a.version = b.version = 0
    assert a == b
    assert _rows(visible(a, NOW)) == _rows(visible(b, NOW))
    for attr in (tm.timestamp_attribute, tm.ttl_attribute):
        assert fast.get(attr) == slow.get(attr), attr
    # the value attributes a reader, an index or the validator sees
    assert {k for k in fast if not k.startswith("_") and k != tm.pk.attribute} == \
        {k for k in slow if not k.startswith("_") and k != tm.pk.attribute}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(muts=sequences())
def test_single_call_and_read_merge_write_leave_the_same_row(dynamodb, table, muts):
    fast, slow, _, _ = asyncio.run(_both(dynamodb, table, muts))
    _same_row(table, fast, slow)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=True))
def test_the_same_row_for_uniformly_drawn_writes(dynamodb, table, rng):
    fast, slow, _, _ = asyncio.run(_both(dynamodb, table, random_sequence(rng)))
    _same_row(table, fast, slow)


def test_writes_newer_than_the_item_take_one_call_each(dynamodb, table):
    muts = [Mutation(ts=10, row_marker=True, cells={"kind": "a", "n": 1}),
            Mutation(ts=20, cells={"n": 2}, collection_ops=[("tags", "set:overwrite", ["p"])]),
            Mutation(ts=30, row_marker=True, cells={"kind": None}),
            Mutation(ts=40, delete_row=True),
            Mutation(ts=50, row_marker=True, cells={"blob": b"\x01"})]

    fast, slow, writer, calls = asyncio.run(_both(dynamodb, table, muts))
    _same_row(table, fast, slow)
    assert writer.single_call == {(table.cql_name, APPLIED): len(muts)}
    assert (calls["UpdateItem"], calls["GetItem"], calls["PutItem"]) == (len(muts), 0, 0)


def test_a_cell_delete_of_an_existing_row_takes_the_merge(dynamodb, table):
    """What is left live after deleting cells decides the item's expiry: only the merge knows it.
    The failed condition returns the item, so that costs two calls, as every write did before."""
    muts = [Mutation(ts=10, row_marker=True, cells={"kind": "a", "n": 1}), Mutation(ts=30, cells={"kind": None})]
    fast, slow, writer, calls = asyncio.run(_both(dynamodb, table, muts))
    _same_row(table, fast, slow)
    assert writer.single_call == {(table.cql_name, APPLIED): 1, (table.cql_name, FALLBACK_CONDITION): 1}
    assert (calls["UpdateItem"], calls["GetItem"], calls["PutItem"]) == (2, 0, 1)


def test_an_older_write_falls_back_with_the_item_the_condition_returned(dynamodb, table):
    async def run() -> tuple[DynamoWriter, dict[str, int]]:
        part, clus = (uuid.uuid4(),), (2,)
        async with client(dynamodb) as c:
            writer = DynamoWriter(c)
            await writer.apply_row(table, part, clus, Mutation(ts=50, row_marker=True, cells={"kind": "new"}), now=NOW)
            await writer.apply_row(table, part, clus, Mutation(ts=40, cells={"kind": "old", "n": 4}), now=NOW)
            calls = dict(c.stats.by_operation("calls"))
            got = await c.get_item(TableName=table.dynamodb_table, Key=key_item(table, part, clus),
                                   ConsistentRead=True)
        state = from_item(table, got["Item"])
        assert state is not None and visible(state, NOW) == {"kind": "new", "n": 4}
        return writer, calls

    writer, calls = asyncio.run(run())
    assert writer.single_call == {(table.cql_name, APPLIED): 1, (table.cql_name, FALLBACK_CONDITION): 1}
    # the failed UpdateItem returned the item: no GetItem before the merge's PutItem
    assert (calls["UpdateItem"], calls["GetItem"], calls["PutItem"]) == (2, 0, 1)


def test_an_item_outgrowing_400_kb_is_compressed_by_the_fallback(dynamodb):
    tm = _mapping(f"fw_single_z_{uuid.uuid4().hex[:8]}", large_items="compress")

    async def run() -> None:
        await _create(dynamodb, tm)
        try:
            part, clus = (uuid.uuid4(),), (3,)
            async with client(dynamodb) as c:
                writer = DynamoWriter(c)
                big = os.urandom(300_000)
                await writer.apply_row(tm, part, clus, Mutation(ts=10, row_marker=True, cells={"blob": big}), now=NOW)
                await writer.apply_row(tm, part, clus, Mutation(ts=20, cells={"kind": "k" * 150_000}), now=NOW)
                got = await c.get_item(TableName=tm.dynamodb_table, Key=key_item(tm, part, clus), ConsistentRead=True)
            item = got["Item"]
            assert COMPRESSED in item
            state = from_item(tm, item)
            assert state is not None and visible(state, NOW) == {"blob": big, "kind": "k" * 150_000}
            assert writer.single_call == {(tm.cql_name, APPLIED): 1, (tm.cql_name, FALLBACK_SIZE): 1}
        finally:
            await _drop(dynamodb, tm)

    asyncio.run(run())


def test_with_single_calls_off_every_write_reads_merges_and_puts(dynamodb, table):
    """`--no-single-call-writes`: the item only ever gets full puts, as older sidecars write it."""
    async def run() -> tuple[DynamoWriter, dict[str, int], Any]:
        part, clus = (uuid.uuid4(),), (4,)
        async with client(dynamodb) as c:
            writer = DynamoWriter(c, single_call=False)
            for ts in (10, 20):
                await writer.apply_row(table, part, clus, Mutation(ts=ts, row_marker=True, cells={"n": ts}), now=NOW)
            calls = dict(c.stats.by_operation("calls"))
            got = await c.get_item(TableName=table.dynamodb_table, Key=key_item(table, part, clus),
                                   ConsistentRead=True)
        return writer, calls, got["Item"]

    writer, calls, item = asyncio.run(run())
    assert (calls["UpdateItem"], calls["GetItem"], calls["PutItem"]) == (0, 2, 2)
    assert not any(k.startswith("_m.") or k == "_m:r" for k in item)
    assert writer.single_call == {}
