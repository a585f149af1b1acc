"""The hot-path DynamoDB client against the real DynamoDB Local, and with faults injected by a
small HTTP relay in front of it (DynamoDB Local never throttles)."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid

import aiohttp
import pytest
from aiohttp import web

from proxy.aws.dynamodb_client import ConditionalCheckFailed, DynamoDBClient, DynamoDBUnavailable
from proxy.aws.sigv4 import FrozenCredentials

pytestmark = pytest.mark.integration

CREDS = FrozenCredentials("test", "test")


@pytest.fixture(scope="module")
def dynamodb(backends) -> str:
    backends.ensure("dynamodb")
    return f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}"


def client(endpoint: str, **kw) -> DynamoDBClient:
    return DynamoDBClient(region="us-east-1", endpoint=endpoint, credentials=lambda: CREDS, **kw)


async def _make_table(c: DynamoDBClient) -> str:
    name = f"cdp_client_{uuid.uuid4().hex[:8]}"
    await c.call("CreateTable", {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    })
    return name


LWW = {"ConditionExpression": "attribute_not_exists(pk) OR #ts < :ts", "ExpressionAttributeNames": {"#ts": "_ts"}}


async def test_conditional_writes_and_reads(dynamodb):
    async with client(dynamodb) as c:
        table = await _make_table(c)
        try:
            await c.put_item(TableName=table, Item={"pk": {"S": "k"}, "_ts": {"N": "10"}, "v": {"B": b"\x00\xff"}},
                             ExpressionAttributeValues={":ts": {"N": "10"}}, **LWW)
            # an older write loses, exactly as in Cassandra
            with pytest.raises(ConditionalCheckFailed):
                await c.put_item(TableName=table, Item={"pk": {"S": "k"}, "_ts": {"N": "5"}, "v": {"S": "old"}},
                                 ExpressionAttributeValues={":ts": {"N": "5"}}, **LWW)
            got = await c.get_item(TableName=table, Key={"pk": {"S": "k"}}, ConsistentRead=True)
            assert got["Item"]["_ts"] == {"N": "10"}
            assert base64.b64decode(got["Item"]["v"]["B"]) == b"\x00\xff"
            # many concurrent writes share the pooled connections
            await asyncio.gather(*[
                c.put_item(TableName=table, Item={"pk": {"S": f"p{i}"}, "_ts": {"N": "1"}}) for i in range(200)
            ])
            assert c.stats.calls["PutItem"] == 202
            assert c.stats.errors == {"ConditionalCheckFailedException": 1}
        finally:
            await c.call("DeleteTable", {"TableName": table})


class FaultRelay:
    """Answers the first `throttle` requests with DynamoDB's throttling error, then relays to the
    real DynamoDB Local; `drop` requests after that are answered by closing the connection."""

    def __init__(self, upstream: str, throttle: int = 0, server_errors: int = 0) -> None:
        self.upstream = upstream
        self.throttle = throttle
        self.server_errors = server_errors
        self.seen = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen += 1
        body = await request.read()
        if self.throttle > 0:
            self.throttle -= 1
            return web.json_response({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                                      "message": "Rate exceeded"}, status=400,
                                     content_type="application/x-amz-json-1.0")
        if self.server_errors > 0:
            self.server_errors -= 1
            return web.Response(status=503, text="{}", content_type="application/x-amz-json-1.0")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with aiohttp.ClientSession() as s, s.post(self.upstream, data=body, headers=headers) as r:
            return web.Response(status=r.status, body=await r.read(), content_type="application/x-amz-json-1.0")


async def _relay(relay: FaultRelay) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/", relay.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_throttling_and_5xx_are_retried(dynamodb):
    async with client(dynamodb) as real:
        table = await _make_table(real)
    relay = FaultRelay(dynamodb, throttle=3, server_errors=2)
    runner, url = await _relay(relay)
    try:
        async with client(url, base_backoff=0.001) as c:
            # the relay forwards our signature unchanged; DynamoDB Local does not check the host
            await c.put_item(TableName=table, Item={"pk": {"S": "t"}, "_ts": {"N": "1"}})
            assert c.stats.throttles == 3 and c.stats.retries == 5
            assert relay.seen == 6
    finally:
        await runner.cleanup()
        async with client(dynamodb) as real:
            await real.call("DeleteTable", {"TableName": table})


async def test_unreachable_endpoint_gives_up_with_a_clear_error():
    from tests.conftest import free_port

    async with client(f"http://127.0.0.1:{free_port()}", max_attempts=3, base_backoff=0.001) as c:
        with pytest.raises(DynamoDBUnavailable, match="after 3 attempts"):
            await c.get_item(TableName="x", Key={"pk": {"S": "a"}})
        assert c.stats.unavailable == 1 and c.stats.retries == 2


async def test_non_retryable_errors_surface_at_once(dynamodb):
    async with client(dynamodb) as c:
        from proxy.aws.dynamodb_client import DynamoDBError

        with pytest.raises(DynamoDBError) as e:
            await c.get_item(TableName="no_such_table_here", Key={"pk": {"S": "a"}})
        assert e.value.code == "ResourceNotFoundException" and c.stats.retries == 0


async def test_consumed_capacity_is_counted_as_dynamodb_reports_it(dynamodb):
    """Every item operation is sent with ReturnConsumedCapacity and counted by table, operation and
    kind; each total equals what boto3 is told for the same request."""
    import boto3

    boto = boto3.client("dynamodb", endpoint_url=dynamodb, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")
    table = f"pb_capacity_{uuid.uuid4().hex[:8]}"
    boto.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                      BillingMode="PAY_PER_REQUEST")
    big = os.urandom(2500)  # over one write unit and under one read unit

    def item(pk: str) -> dict:
        return {"pk": {"S": pk}, "v": {"B": big}}

    # (operation, our request, boto3's request of the same cost)
    same_cost = [
        ("PutItem", {"TableName": table, "Item": item("a")}, {"TableName": table, "Item": item("a")}),
        ("UpdateItem", {"TableName": table, "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "1"}}},
         {"TableName": table, "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = :n",
          "ExpressionAttributeValues": {":n": {"N": "1"}}}),
        ("GetItem", {"TableName": table, "Key": {"pk": {"S": "a"}}, "ConsistentRead": True},
         {"TableName": table, "Key": {"pk": {"S": "a"}}, "ConsistentRead": True}),
        ("Query", {"TableName": table, "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": "a"}}},
         {"TableName": table, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}),
        ("Scan", {"TableName": table}, {"TableName": table}),
        ("BatchWriteItem", {"RequestItems": {table: [{"PutRequest": {"Item": item(k)}} for k in ("b", "c")]}},
         {"RequestItems": {table: [{"PutRequest": {"Item": item(k)}} for k in ("b", "c")]}}),
        ("BatchGetItem", {"RequestItems": {table: {"Keys": [{"pk": {"S": "b"}}, {"pk": {"S": "c"}}]}}},
         {"RequestItems": {table: {"Keys": [{"pk": {"S": "b"}}, {"pk": {"S": "c"}}]}}}),
        ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": table, "Item": item("t")}}]},
         {"TransactItems": [{"Put": {"TableName": table, "Item": item("t")}}]}),
    ]
    calls = {"PutItem": boto.put_item, "UpdateItem": boto.update_item, "GetItem": boto.get_item,
             "Query": boto.query, "Scan": boto.scan, "BatchWriteItem": boto.batch_write_item,
             "BatchGetItem": boto.batch_get_item, "TransactWriteItems": boto.transact_write_items}
    try:
        async with client(dynamodb) as c:
            for op, ours, theirs in same_cost:
                await c.call(op, ours)
                assert "ReturnConsumedCapacity" not in ours  # the caller's request is left as it was
                reported = calls[op](**theirs, ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
                units = sum(e["CapacityUnits"] for e in (reported if isinstance(reported, list) else [reported]))
                kind = "write" if op in ("PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems") else "read"
                assert units > 0, (op, reported)
                assert c.stats.capacity == {(table, op, kind): units}, op
                c.stats.capacity.clear()
            # a delete is charged for the item it removes: each side deletes an item of its own
            await c.put_item(TableName=table, Item=item("d1"))
            await c.put_item(TableName=table, Item=item("d2"))
            c.stats.capacity.clear()
            await c.delete_item(TableName=table, Key={"pk": {"S": "d1"}})
            reported = boto.delete_item(TableName=table, Key={"pk": {"S": "d2"}},
                                        ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
            assert c.stats.capacity == {(table, "DeleteItem", "write"): reported["CapacityUnits"]}
            # a caller that asks for nothing gets nothing counted
            await c.get_item(TableName=table, Key={"pk": {"S": "a"}}, ReturnConsumedCapacity="NONE")
            assert c.stats.capacity == {(table, "DeleteItem", "write"): reported["CapacityUnits"]}
    finally:
        boto.delete_table(TableName=table)
