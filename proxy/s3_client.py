"""An asyncio S3 client for the hot path: PUT, GET, DELETE of whole objects and HEAD of a bucket.

The same machinery as the DynamoDB client: the project's keep-alive pool (proxy.http_pool, one per
host), SigV4 by `sigv4.S3Signer` with the payload hash signed, region, endpoint and credentials by
proxy.aws_endpoints, and jittered exponential retries on throttling, 5xx answers, timeouts and dropped
connections. A custom endpoint (MinIO, a VPC endpoint) is addressed path-style
(`<endpoint>/<bucket>/<key>`); AWS itself virtual-hosted (`<bucket>.` before the regional host
botocore's partition rules give, e.g. `s3.<region>.amazonaws.com`, `s3.cn-north-1.amazonaws.com.cn`),
except for bucket names with dots, which a wildcard certificate cannot cover.

Inside a request deadline (proxy.deadline) attempts and retries are bounded as in the DynamoDB
client; past it a call raises `S3TimedOut`.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
from typing import Any
from urllib.parse import quote, urlsplit

from . import aws_endpoints
from . import deadline as _deadline
from .aws_endpoints import AwsSetupError, CredentialSource
from .deadline import DeadlineExceeded
from .http_pool import ConnectFailed, HttpPool, proxy_for
from .metrics import LatencyHistogram
from .sigv4 import EMPTY_SHA256, FrozenCredentials, S3Signer

_RETRYABLE_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
                              "RequestTimeTooSkewed", "XMinioServerNotInitialized"})


class S3Error(Exception):
    """An error answer from S3 (or the last one, after retries)."""

    def __init__(self, operation: str, target: str, status: int, code: str, message: str) -> None:
        super().__init__(f"S3 {operation} {target}: {code or f'HTTP {status}'}"
                         + (f" ({message})" if message else ""))
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.code in _RETRYABLE_CODES or self.status >= 500


class S3Unavailable(Exception):
    """No answer from S3 after every retry: connection refused, timeouts, resets."""


class S3TimedOut(S3Unavailable, DeadlineExceeded):
    """No answer from S3 within the request's deadline."""


def object_path(bucket: str | None, key: str) -> str:
    """The request path: each key segment percent-encoded once, as S3 signs it (`/` kept)."""
    encoded = "/".join(quote(part, safe="-_.~") for part in key.split("/"))
    return f"/{bucket}/{encoded}" if bucket is not None else f"/{encoded}"


def _xml_field(body: bytes, name: str) -> str:
    m = re.search(rb"<" + name.encode() + rb">(.*?)</" + name.encode() + rb">", body, re.S)
    return m.group(1).decode("utf-8", "replace")[:300] if m else ""


# the operations large items use: their series are exported (at 0) from the start
OPERATIONS = ("PutObject", "GetObject", "DeleteObject", "HeadObject", "HeadBucket", "CreateBucket")


class S3Stats:
    __slots__ = ("bytes_read", "bytes_written", "calls", "deleted", "failures", "latency", "read", "retries",
                 "written")

    def __init__(self) -> None:
        self.calls = dict.fromkeys(OPERATIONS, 0)
        self.failures = dict.fromkeys(OPERATIONS, 0)  # by operation, after retries
        self.latency = {op: LatencyHistogram() for op in OPERATIONS}
        self.retries = 0
        self.written = 0
        self.read = 0
        self.deleted = 0
        self.bytes_written = 0
        self.bytes_read = 0


class S3Client:
    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        credentials: CredentialSource | None = None,
        profile: str | None = None,
        max_connections: int = 32,
        timeout: float = 30.0,
        connect_timeout: float = 2.0,
        max_attempts: int = 8,
        base_backoff: float = 0.025,
        max_backoff: float = 2.0,
    ) -> None:
        target = aws_endpoints.resolve("s3", region=region, endpoint=endpoint, profile=profile)
        if credentials is None:
            credentials = aws_endpoints.credentials(profile)
        self.target = target
        self.region = target.region
        # None: AWS's own, addressed virtual-hosted
        self.endpoint = target.endpoint if target.custom else None
        try:
            proxy_for(target.endpoint)  # an unsupported proxy is said now, not at the first large item
        except ValueError as e:
            raise AwsSetupError(str(e)) from None
        self._tls = aws_endpoints.tls_context(profile) if target.endpoint.startswith("https:") else None
        self._credentials = credentials
        self._creds_cache: tuple[float, FrozenCredentials] | None = None
        self.max_connections = max_connections
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.stats = S3Stats()
        self._pools: dict[str, tuple[HttpPool, S3Signer]] = {}

    def describe(self) -> str:
        return self.target.endpoint

    def _route(self, bucket: str, key: str | None) -> tuple[str, str]:
        """(base URL, request path) of a bucket or an object."""
        base = self.target.endpoint
        if self.endpoint is None and "." not in bucket:
            scheme, _, host = base.partition("://")
            return f"{scheme}://{bucket}.{host}", object_path(None, key) if key is not None else "/"
        prefix = urlsplit(base).path.rstrip("/")
        return base, prefix + (object_path(bucket, key) if key is not None else f"/{bucket}")

    def _pool(self, base: str) -> tuple[HttpPool, S3Signer]:
        found = self._pools.get(base)
        if found is None:
            pool = HttpPool(base, max_connections=self.max_connections, timeout=self._timeout,
                            connect_timeout=self._connect_timeout, ssl_context=self._tls, proxy=proxy_for(base))
            found = self._pools[base] = (pool, S3Signer(self.region, pool.host_header))
        return found

    def _creds(self) -> FrozenCredentials:
        now = time.monotonic()
        cached = self._creds_cache
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        creds = self._credentials()
        self._creds_cache = (now, creds)
        return creds

    async def __aenter__(self) -> S3Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool, _ in pools:
            await pool.close()

    async def _call(self, operation: str, method: str, bucket: str, key: str | None, body: bytes = b"",
                    extra: dict[str, str] | None = None, ok: tuple[int, ...] = (200,)) -> tuple[int, bytes]:
        base, path = self._route(bucket, key)
        pool, signer = self._pool(base)
        target = f"{bucket}/{key}" if key is not None else bucket
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        stats = self.stats
        stats.calls[operation] = stats.calls.get(operation, 0) + 1
        hist = stats.latency.get(operation)
        if hist is None:
            hist = stats.latency[operation] = LatencyHistogram()
        started = time.perf_counter()
        dl = _deadline.current()
        attempt = 0
        while True:
            attempt += 1
            try:
                # inside: credentials that cannot be refreshed fail this attempt like a dropped connection
                headers = signer.s3_headers(method, path, payload_hash, self._creds(), extra=extra)
                status, raw = await pool.request(method, path, headers, body, dl)
            except DeadlineExceeded as e:
                raise self._timed_out(operation, target, base, e) from None
            except (TimeoutError, OSError) as e:
                if attempt >= self.max_attempts:
                    stats.failures[operation] = stats.failures.get(operation, 0) + 1
                    raise S3Unavailable(f"S3 {operation} {target}: no answer from {base} after {attempt} "
                                        f"attempts: {e!r}") from None
                delay = _deadline.retry_delay(dl, self._backoff_delay(attempt))
                if delay is None:
                    if isinstance(e, ConnectFailed):  # refused: nothing sent, and nothing waited for
                        stats.failures[operation] = stats.failures.get(operation, 0) + 1
                        raise S3Unavailable(f"S3 {operation} {target}: no connection to {base} before the request "
                                            f"deadline ({attempt} attempts): {e}") from None
                    raise self._timed_out(operation, target, base, e) from None
                stats.retries += 1
                await asyncio.sleep(delay)
                continue
            if status in ok:
                hist.observe(time.perf_counter() - started)
                return status, raw
            err = S3Error(operation, target, status, _xml_field(raw, "Code"), _xml_field(raw, "Message"))
            if err.retryable and attempt < self.max_attempts:
                delay = _deadline.retry_delay(dl, self._backoff_delay(attempt))
                if delay is not None:
                    stats.retries += 1
                    await asyncio.sleep(delay)
                    continue
            stats.failures[operation] = stats.failures.get(operation, 0) + 1
            hist.observe(time.perf_counter() - started)
            raise err

    def _timed_out(self, operation: str, target: str, base: str, last: BaseException) -> S3TimedOut:
        self.stats.failures[operation] = self.stats.failures.get(operation, 0) + 1
        return S3TimedOut(f"S3 {operation} {target}: no answer from {base} within the request deadline ({last})")

    def _backoff_delay(self, attempt: int) -> float:
        cap = min(self.max_backoff, self.base_backoff * (2 ** (attempt - 1)))
        return random.uniform(0, cap)

    # -- operations ----------------------------------------------------------------------------------
    async def put_object(self, bucket: str, key: str, body: bytes,
                         content_type: str = "application/octet-stream") -> None:
        await self._call("PutObject", "PUT", bucket, key, body, {"Content-Type": content_type})
        self.stats.written += 1
        self.stats.bytes_written += len(body)

    async def get_object(self, bucket: str, key: str) -> bytes:
        _, body = await self._call("GetObject", "GET", bucket, key)
        self.stats.read += 1
        self.stats.bytes_read += len(body)
        return body

    async def delete_object(self, bucket: str, key: str) -> None:
        """Deletes an object; deleting one that is not there succeeds, as in S3."""
        await self._call("DeleteObject", "DELETE", bucket, key, ok=(200, 204))
        self.stats.deleted += 1

    async def head_bucket(self, bucket: str) -> None:
        """Raises S3Error (404: no such bucket, 403: no access) or S3Unavailable."""
        await self._call("HeadBucket", "HEAD", bucket, None)

    async def object_exists(self, bucket: str, key: str) -> bool:
        try:
            await self._call("HeadObject", "HEAD", bucket, key)
        except S3Error as e:
            if e.status == 404:
                return False
            raise
        return True

    async def create_bucket(self, bucket: str) -> None:
        """For tests and local set-ups; a bucket we already own is fine."""
        try:
            await self._call("CreateBucket", "PUT", bucket, None)
        except S3Error as e:
            if e.code != "BucketAlreadyOwnedByYou":
                raise

    def counters(self) -> dict[str, Any]:
        s = self.stats
        return {"written": s.written, "read": s.read, "deleted": s.deleted, "bytes_written": s.bytes_written,
                "bytes_read": s.bytes_read, "failures": dict(s.failures), "retries": s.retries}
