"""The shared retry loop as S3 sees it: which error answers are retried, and how they are counted
in the series S3 exports (retries, failures by operation, calls, latency)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from proxy.aws.s3_client import S3Client, S3Error
from proxy.aws.sigv4 import FrozenCredentials

CREDS = FrozenCredentials("test", "test")


def _answer(status: str, body: bytes) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


SLOW_DOWN = _answer("503 Slow Down", b"<Error><Code>SlowDown</Code><Message>reduce your rate</Message></Error>")
NOT_FOUND = _answer("404 Not Found", b"")


async def _serve(answer: bytes) -> AsyncIterator[tuple[str, list[int]]]:
    """An endpoint giving `answer` to every (bodiless) request; yields its URL and a request count."""
    count = [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                count[0] += 1
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", count
    finally:
        server.close()


async def test_s3_retries_slow_down_and_counts_one_failure() -> None:
    async for url, count in _serve(SLOW_DOWN):
        async with S3Client(region="us-east-1", endpoint=url, credentials=lambda: CREDS, max_attempts=3,
                            base_backoff=0.001) as s3:
            with pytest.raises(S3Error) as ei:
                await s3.get_object("b", "k")
            assert (ei.value.code, ei.value.status, ei.value.message) == ("SlowDown", 503, "reduce your rate")
            assert str(ei.value) == "S3 GetObject b/k: SlowDown (reduce your rate)"
            assert count[0] == 3
            st = s3.stats
            assert st.retries == 2 and st.calls["GetObject"] == 1
            assert {op: n for op, n in st.failures.items() if n} == {"GetObject": 1}
            assert s3.counters()["failures"]["GetObject"] == 1 and s3.counters()["retries"] == 2
            assert sum(st.latency["GetObject"].counts) == 1  # an answer, even an error, is timed once


async def test_s3_a_missing_object_is_an_answer_not_retried() -> None:
    async for url, count in _serve(NOT_FOUND):
        async with S3Client(region="us-east-1", endpoint=url, credentials=lambda: CREDS, max_attempts=3,
                            base_backoff=0.001) as s3:
            assert await s3.object_exists("b", "k") is False
            assert count[0] == 1 and s3.stats.retries == 0
            assert s3.stats.failures["HeadObject"] == 1
