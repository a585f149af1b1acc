"""Queued writes against the real DynamoDB Local: applied, batched, backpressure and dead letters
when DynamoDB is unreachable, and replay after the process is killed with a full queue."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from proxy.aws.dynamodb_client import DynamoDBClient
from proxy.aws.sigv4 import FrozenCredentials
from proxy.writes.journal import DeadLetters, Journal
from proxy.writes.write_queue import QueueSettings, WriteQueue, replay_dead_letters
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.integration
CREDS = FrozenCredentials("test", "test")


@pytest.fixture(scope="module")
def dynamodb(backends) -> str:
    backends.ensure("dynamodb")
    return f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}"


def client(endpoint: str, **kw) -> DynamoDBClient:
    return DynamoDBClient(region="us-east-1", endpoint=endpoint, credentials=lambda: CREDS, **kw)


@pytest.fixture
async def table(dynamodb):
    name = f"cdp_q_{uuid.uuid4().hex[:8]}"
    async with client(dynamodb) as c:
        await c.call("CreateTable", {
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        })
    yield name
    async with client(dynamodb) as c:
        await c.call("DeleteTable", {"TableName": name})


async def _count(endpoint: str, table: str) -> int:
    async with client(endpoint) as c:
        n, start = 0, None
        while True:
            req = {"TableName": table, "Select": "COUNT", "ConsistentRead": True}
            if start:
                req["ExclusiveStartKey"] = start
            r = await c.scan(**req)
            n += r["Count"]
            start = r.get("LastEvaluatedKey")
            if not start:
                return n


def _lww_put(table: str, i: int, ts: int = 1) -> dict:
    return {"TableName": table, "Item": {"pk": {"S": f"k{i}"}, "_ts": {"N": str(ts)}, "v": {"B": b"x" * 100}},
            "ConditionExpression": "attribute_not_exists(pk) OR #ts < :ts",
            "ExpressionAttributeNames": {"#ts": "_ts"}, "ExpressionAttributeValues": {":ts": {"N": str(ts)}}}


async def test_queued_writes_are_applied_and_older_ones_lose(dynamodb, table, tmp_path):
    c = client(dynamodb)
    q = WriteQueue(c, Journal(tmp_path / "j"), DeadLetters(tmp_path / "dead.jsonl"), QueueSettings(workers=8))
    await q.start()
    for i in range(300):
        await q.enqueue("ks.t", "PutItem", _lww_put(table, i, ts=10))
    for i in range(50):  # late, older writes for the same keys
        await q.enqueue("ks.t", "PutItem", _lww_put(table, i, ts=5))
    assert await q.drain(30)
    st = q.tables["ks.t"].stats
    assert st.applied + st.superseded == 350 and st.superseded >= 50 - 8  # racing workers may reorder a few
    assert await _count(dynamodb, table) == 300
    assert q.journal.backlog == 0 and q.tables["ks.t"].lag_seconds == 0.0
    await q.close()
    await c.close()


async def test_insert_only_tables_batch_25_per_call(dynamodb, table, tmp_path):
    c = client(dynamodb)
    q = WriteQueue(c, Journal(tmp_path / "j"), DeadLetters(tmp_path / "dead.jsonl"),
                   QueueSettings(workers=2, batch_writes=True))
    await q.start()
    # enqueue without yielding so the workers find full batches waiting
    for i in range(200):
        await q.enqueue("ks.t", "PutItem", {"TableName": table, "Item": {"pk": {"S": f"b{i}"}}})
    assert await q.drain(30)
    assert await _count(dynamodb, table) == 200
    assert c.stats.calls.get("BatchWriteItem", 0) >= 1
    assert c.stats.calls.get("BatchWriteItem", 0) + c.stats.calls.get("PutItem", 0) < 200
    await q.close()
    await c.close()


async def test_unreachable_dynamodb_backpressure_then_dead_letters_then_repair(dynamodb, table, tmp_path):
    dead = DeadLetters(tmp_path / "dead.jsonl")
    down = client(f"http://127.0.0.1:{free_port()}", max_attempts=1)
    q = WriteQueue(down, Journal(tmp_path / "j"), dead,
                   QueueSettings(capacity=5, workers=1, backpressure_timeout=0.2, give_up_after=0.3))
    await q.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for i in range(20):
        await q.enqueue("ks.t", "PutItem", _lww_put(table, i))
    # the writers were slowed (backpressure), not stopped: 20 enqueues despite a queue of 5
    assert loop.time() - t0 >= 0.2
    assert await q.drain(30)
    assert len(dead.read()) == 20  # every write is accounted for
    assert q.tables["ks.t"].stats.dead_letters == 20
    await q.close()
    await down.close()
    # DynamoDB is back: the repair replays the dead letters
    async with client(dynamodb) as up:
        ok, failing, unresolved = await replay_dead_letters(dead, up)
    assert (ok, failing, unresolved) == (20, 0, 0) and dead.read() == []
    assert await _count(dynamodb, table) == 20


async def test_killed_with_a_full_queue_replays_everything_on_restart(dynamodb, table, tmp_path):
    jdir = tmp_path / "journal"
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from proxy.aws.dynamodb_client import DynamoDBClient
        from proxy.writes.journal import DeadLetters, Journal
        from proxy.aws.sigv4 import FrozenCredentials
        from proxy.writes.write_queue import QueueSettings, WriteQueue
        from tests.integration.test_write_queue import _lww_put

        async def main():
            creds = FrozenCredentials("test", "test")
            # a DynamoDB that never answers: every write stays queued
            c = DynamoDBClient(region="us-east-1", endpoint="http://127.0.0.1:{free_port()}",
                               credentials=lambda: creds, max_attempts=1)
            q = WriteQueue(c, Journal({str(jdir)!r}), DeadLetters({str(tmp_path / 'dead.jsonl')!r}),
                           QueueSettings(capacity=1000, workers=2, give_up_after=3600))
            await q.start()
            for i in range(150):
                await q.enqueue("ks.t", "PutItem", _lww_put({table!r}, i))
            print("queued", flush=True)
            os.kill(os.getpid(), 9)

        asyncio.run(main())
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == -9 and "queued" in r.stdout, r.stderr
    assert await _count(dynamodb, table) == 0

    c = client(dynamodb)
    q = WriteQueue(c, Journal(jdir), DeadLetters(tmp_path / "dead.jsonl"))
    assert await q.start() == 150
    assert await q.drain(30)
    assert await _count(dynamodb, table) == 150
    await q.close()
    await c.close()
    assert Journal(jdir).recover() == []


async def test_dead_letters_replay_command(dynamodb, table, tmp_path):
    state = tmp_path / "state"
    dead = DeadLetters(state / "dead-letters.jsonl")
    j = Journal(tmp_path / "j")
    j.recover()
    for i in range(5):
        dead.add(j.append("ks.t", "PutItem", _lww_put(table, i)), "DynamoDB was unreachable")
    r = subprocess.run([sys.executable, "-m", "proxy.cli", "dead-letters", "replay", "--state-dir", str(state),
                        "--dynamodb-endpoint", dynamodb, "--dynamodb-region", "us-east-1"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
    assert r.returncode == 0, r.stderr
    assert "5 dead-lettered writes: 5 applied, 0 still failing" in r.stdout
    assert await _count(dynamodb, table) == 5 and dead.read() == []
