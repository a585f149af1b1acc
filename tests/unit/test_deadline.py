"""Request deadlines: the arithmetic, the scope, and the HTTP pool and clients under a DynamoDB or S3
that hangs, answers slowly, resets or cannot be connected to."""

from __future__ import annotations

import asyncio
import time

import pytest

from proxy import deadline
from proxy.aws.dynamodb_client import DynamoDBClient, DynamoDBError, DynamoDBTimedOut
from proxy.aws.http_pool import HttpPool
from proxy.aws.s3_client import S3Client, S3TimedOut
from proxy.aws.sigv4 import FrozenCredentials
from proxy.deadline import MIN_ATTEMPT, Bounded, DeadlineExceeded, attempt_timeout, retry_delay, within
from tests.fake_endpoints import FakeEndpoint

CREDS = FrozenCredentials("test", "test")
# how late an error may come on a loaded 2-core machine (timers fire late, threads wait for the GIL)
SLACK = 0.25


def client(url: str, **kw: object) -> DynamoDBClient:
    return DynamoDBClient(region="us-east-1", endpoint=url, credentials=lambda: CREDS, **kw)  # type: ignore[arg-type]


# -- arithmetic ------------------------------------------------------------------------------------
def test_attempt_timeout_is_the_cap_or_what_is_left():
    assert attempt_timeout(None, 5.0, now=100.0) == 5.0
    assert attempt_timeout(102.0, 5.0, now=100.0) == 2.0
    assert attempt_timeout(110.0, 5.0, now=100.0) == 5.0
    assert attempt_timeout(99.0, 5.0, now=100.0) == -1.0  # nothing left: the caller does not start


def test_retry_delay_keeps_room_for_the_retry():
    assert retry_delay(None, 0.4, now=100.0) == 0.4
    assert retry_delay(101.0, 0.4, now=100.0) == 0.4  # fits: backoff as drawn
    assert retry_delay(100.3, 0.4, now=100.0) == pytest.approx(0.3 - MIN_ATTEMPT)  # shortened
    assert retry_delay(100.0 + MIN_ATTEMPT / 2, 0.0, now=100.0) is None  # a retry could not finish
    assert retry_delay(99.0, 0.0, now=100.0) is None


async def test_scope_sets_the_deadline_for_everything_below_it():
    assert deadline.current() is None
    at = time.monotonic() + 5
    async with Bounded(at, "outer"):
        assert deadline.current() == at
        # an inner scope cannot extend the outer one, only shorten it
        async with Bounded(at + 10, "inner"):
            assert deadline.current() == at
        async with Bounded(at - 1, "inner"):
            assert deadline.current() == at - 1
        assert deadline.current() == at

        async def child() -> float | None:
            return deadline.current()

        # tasks started inside (gather, create_task) inherit it
        assert await asyncio.gather(child()) == [at]
    assert deadline.current() is None


async def test_scope_ends_a_body_no_client_bounds():
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="stuck"):
        async with within(0.2, "stuck"):
            await asyncio.sleep(10)
    assert 0.2 <= time.monotonic() - t0 < 0.2 + deadline.GRACE + SLACK
    assert deadline.current() is None


async def test_scope_lets_other_errors_through():
    with pytest.raises(KeyError):
        async with within(1.0, "x"):
            raise KeyError("k")


def test_the_deadline_is_configurable_and_checked():
    from proxy.config import ConfigError, load_config

    assert load_config(environ={}).dynamodb_deadline == 2.0
    assert load_config(environ={"CDP_DYNAMODB_DEADLINE": "1.5"}).dynamodb_deadline == 1.5
    with pytest.raises(ConfigError, match="dynamodb_deadline"):
        load_config(environ={"CDP_DYNAMODB_DEADLINE": "0"})


# -- the HTTP pool ---------------------------------------------------------------------------------
async def test_pool_request_ends_at_the_deadline_and_drops_the_connection():
    with FakeEndpoint("hang") as fake:
        pool = HttpPool(fake.url, timeout=30)
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="no answer within the deadline"):
            await pool.post({}, b"{}", deadline=t0 + 0.3)
        assert 0.3 <= time.monotonic() - t0 < 0.3 + SLACK
        assert not pool._idle  # a late answer must not be read as the next request's
        await pool.close()


async def test_pool_without_deadline_keeps_its_own_timeout():
    with FakeEndpoint("hang") as fake:
        pool = HttpPool(fake.url, timeout=0.2)
        with pytest.raises(TimeoutError):
            await pool.post({}, b"{}")
        await pool.close()


async def test_waiting_for_a_pooled_connection_counts():
    with FakeEndpoint("hang") as fake:
        pool = HttpPool(fake.url, max_connections=1, timeout=30)
        hog = asyncio.ensure_future(pool.post({}, b"{}", deadline=time.monotonic() + 5))
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"connections .* stayed busy"):
            await pool.post({}, b"{}", deadline=t0 + 0.2)
        assert time.monotonic() - t0 < 0.2 + SLACK
        hog.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hog
        # the slot came back: a request now gets through to the server
        with pytest.raises(DeadlineExceeded):
            await pool.post({}, b"{}", deadline=time.monotonic() + 0.1)
        assert fake.requests >= 2
        await pool.close()


async def test_connect_to_a_black_hole_ends_at_the_deadline():
    with FakeEndpoint("no_accept") as fake:
        pool = HttpPool(fake.url, connect_timeout=10, timeout=30)
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="connecting"):
            await pool.post({}, b"{}", deadline=t0 + 0.3)
        assert time.monotonic() - t0 < 0.3 + SLACK
        await pool.close()


async def test_a_slow_answer_inside_the_deadline_is_taken():
    with FakeEndpoint("slow", delay=0.1) as fake:
        pool = HttpPool(fake.url)
        assert await pool.post({}, b"{}", deadline=time.monotonic() + 1.0) == (200, b"{}")
        assert len(pool._idle) == 1
        await pool.close()


# -- the DynamoDB client's retry budget ---------------------------------------------------------
async def test_client_under_a_hung_dynamodb_answers_by_the_deadline():
    with FakeEndpoint("hang") as fake:
        async with client(fake.url, timeout=5.0, max_attempts=8) as c:
            t0 = time.monotonic()
            with pytest.raises(DynamoDBTimedOut, match=r"GetItem: no answer .* within the request deadline"):
                async with within(0.4, "GetItem"):
                    await c.get_item(TableName="t", Key={"pk": {"S": "a"}})
            elapsed = time.monotonic() - t0
            assert 0.4 <= elapsed < 0.4 + SLACK, elapsed
            # one attempt took all that was left: no retry was started that could not finish
            assert fake.requests == 1 and c.stats.retries == 0
            assert c.stats.deadline_exceeded == 1


async def test_client_retries_resets_only_while_a_retry_fits():
    with FakeEndpoint("reset") as fake:
        async with client(fake.url, max_attempts=1000, base_backoff=0.05, max_backoff=0.05) as c:
            t0 = time.monotonic()
            with pytest.raises(DynamoDBTimedOut):
                async with within(0.5, "PutItem"):
                    await c.put_item(TableName="t", Item={"pk": {"S": "a"}})
            assert time.monotonic() - t0 < 0.5 + SLACK
            assert c.stats.retries >= 3  # retried while there was time


async def test_refused_connections_are_unavailable_not_timed_out():
    from proxy.aws.dynamodb_client import DynamoDBUnavailable
    from tests.conftest import free_port

    async with client(f"http://127.0.0.1:{free_port()}", max_attempts=1000) as c:
        t0 = time.monotonic()
        with pytest.raises(DynamoDBUnavailable, match=r"no connection to .* before the request deadline") as ei:
            async with within(0.4, "PutItem"):
                await c.put_item(TableName="t", Item={"pk": {"S": "a"}})
        # nothing was sent: the caller may treat the write as not applied
        assert not isinstance(ei.value, DeadlineExceeded)
        assert time.monotonic() - t0 < 0.4 + SLACK
        assert c.stats.unavailable == 1 and c.stats.deadline_exceeded == 0


async def test_client_without_a_deadline_keeps_its_attempts():
    with FakeEndpoint("reset") as fake:
        async with client(fake.url, max_attempts=3, base_backoff=0.001) as c:
            from proxy.aws.dynamodb_client import DynamoDBUnavailable

            with pytest.raises(DynamoDBUnavailable, match="after 3 attempts") as ei:
                await c.put_item(TableName="t", Item={"pk": {"S": "a"}})
            assert not isinstance(ei.value, DeadlineExceeded)
            assert fake.requests == 3


async def test_throttling_answers_stop_being_retried_at_the_deadline():
    answer = (b'HTTP/1.1 400 Bad Request\r\nContent-Length: 70\r\n\r\n'
              b'{"__type":"x#ProvisionedThroughputExceededException","message":"slow"}')
    assert len(answer.split(b"\r\n\r\n")[1]) == 70

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:"))
                await reader.readexactly(int(length.split(b":")[1]))
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with client(f"http://127.0.0.1:{port}", max_attempts=1000, base_backoff=0.1, max_backoff=0.1) as c:
        t0 = time.monotonic()
        with pytest.raises(DynamoDBError) as ei:
            async with within(0.4, "Query"):
                await c.call("Query", {})
        # the last answer is what the caller gets: DynamoDB did answer, it throttled
        assert ei.value.code == "ProvisionedThroughputExceededException"
        assert time.monotonic() - t0 < 0.4 + SLACK
        assert c.stats.throttles >= 2
    server.close()


async def test_s3_client_under_a_hung_s3():
    with FakeEndpoint("hang") as fake:
        async with S3Client(region="us-east-1", endpoint=fake.url, credentials=lambda: CREDS, timeout=30) as s3:
            t0 = time.monotonic()
            with pytest.raises(S3TimedOut, match="GetObject b/k: no answer"):
                async with within(0.3, "GetObject"):
                    await s3.get_object("b", "k")
            assert time.monotonic() - t0 < 0.3 + SLACK
            assert {op: n for op, n in s3.stats.failures.items() if n} == {"GetObject": 1}


# -- what the client is told -----------------------------------------------------------------------
def _shape(message: object, parts: list, writes: list, lwt: bool = False) -> tuple[int, str]:
    from proxy.writes.outcomes import WriteContext

    return WriteContext(message, parts, lwt, 0.0).shape(writes)


def test_write_type_and_consistency_follow_the_request():
    from cql_protocol.cql import parse_cached
    from cql_protocol.messages import Batch, BatchStatement, BatchType, Query, QueryParameters

    def q(text: str, cl: int = 4, serial: int | None = None) -> tuple[Query, list]:
        return Query(text, QueryParameters(consistency=cl, serial_consistency=serial)), [(parse_cached(text), [], None)]

    msg, parts = q("INSERT INTO ks.t (k, v) VALUES (1, 2)", cl=6)
    assert _shape(msg, parts, []) == (6, "SIMPLE")
    msg, parts = q("INSERT INTO ks.t (k, v) VALUES (1, 2) IF NOT EXISTS", serial=9)
    assert _shape(msg, parts, [], lwt=True) == (9, "CAS")  # LOCAL_SERIAL, as asked
    msg, parts = q("UPDATE ks.t SET v = 1 WHERE k = 1 IF v = 0")
    assert _shape(msg, parts, [], lwt=True) == (8, "CAS")  # SERIAL when none was given
    msg, parts = q("BEGIN UNLOGGED BATCH INSERT INTO ks.t (k, v) VALUES (1, 2) APPLY BATCH")
    assert _shape(msg, parts, []) == (4, "UNLOGGED_BATCH")
    msg, parts = q("BEGIN BATCH INSERT INTO ks.t (k, v) VALUES (1, 2) APPLY BATCH")
    assert _shape(msg, parts, []) == (4, "BATCH")
    batch = Batch(BatchType.COUNTER, [BatchStatement(0, query="UPDATE ks.c SET n = n + 1 WHERE k = 1")], 1)
    assert _shape(batch, [], []) == (1, "COUNTER")


@pytest.mark.parametrize("version", [3, 4, 5])
def test_timeouts_go_out_as_cassandra_shapes_them(version):
    from cql_protocol.errors import ReadTimeout, WriteTimeout
    from cql_protocol.messages import ErrorMessage, decode_frame, encode_message

    wt = WriteTimeout("m", consistency=4, received=1, block_for=2, write_type="BATCH")
    back = decode_frame(encode_message(ErrorMessage.from_exception(wt), version, 3, response=True)).message
    assert isinstance(back, ErrorMessage)
    assert (back.code, back.consistency, back.received, back.block_for, back.write_type) == (0x1100, 4, 1, 2, "BATCH")
    rt = ReadTimeout("m", consistency=1, received=0, block_for=1)
    back = decode_frame(encode_message(ErrorMessage.from_exception(rt), version, 3, response=True)).message
    assert isinstance(back, ErrorMessage)
    assert (back.code, back.consistency, back.received, back.block_for, back.data_present) == (0x1200, 1, 0, 1, False)
