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
