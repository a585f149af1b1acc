"""An asyncio S3 client for the hot path: PUT, GET, DELETE of whole objects and HEAD of a bucket.

Requests are signed by `sigv4.S3Signer` with the payload hash signed; endpoint, credentials, the
keep-alive pools (one per host), retries and the request deadline are proxy.aws_client's, as for
DynamoDB: jittered exponential retries on throttling, 5xx answers, timeouts and dropped
connections; past the deadline a call raises `S3TimedOut`. A custom endpoint (MinIO, a VPC
endpoint) is addressed path-style (`<endpoint>/<bucket>/<key>`); AWS itself virtual-hosted
(`<bucket>.` before the regional host botocore's partition rules give, e.g.
`s3.<region>.amazonaws.com`, `s3.cn-north-1.amazonaws.com.cn`), except for bucket names with dots,
which a wildcard certificate cannot cover.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable
from typing import Any, NamedTuple, Unpack
from urllib.parse import quote, urlsplit

from ..deadline import DeadlineExceeded
from .aws_client import AwsAnswerError, AwsClient, AwsOptions, AwsStats
from .sigv4 import EMPTY_SHA256, FrozenCredentials, S3Signer

_RETRYABLE_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
                              "RequestTimeTooSkewed", "XMinioServerNotInitialized"})


class S3Error(AwsAnswerError):
    """An error answer from S3 (or the last one, after retries)."""

    RETRYABLE = _RETRYABLE_CODES

    def __init__(self, operation: str, target: str, status: int, code: str, message: str) -> None:
        super().__init__(f"S3 {operation} {target}: {code or f'HTTP {status}'}"
                         + (f" ({message})" if message else ""))
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message


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


class S3Stats(AwsStats):
    __slots__ = ("bytes_read", "bytes_written", "deleted", "read", "written")

    def __init__(self) -> None:
        super().__init__(OPERATIONS)
        self.written = 0
        self.read = 0
        self.deleted = 0
        self.bytes_written = 0
        self.bytes_read = 0

    @property
    def failures(self) -> dict[str, int]:
        """By operation, after retries: error answers, no answer, the deadline."""
        return {op: st.errors + st.unavailable + st.timeouts for op, st in self.ops.items()}


class _Request(NamedTuple):
    operation: str
    target: str  # bucket/key, as errors name it
    method: str
    base: str
    path: str
    payload_hash: str
    body: bytes
    extra: dict[str, str] | None


class S3Client(AwsClient[S3Signer, _Request]):
    service = "s3"
    MAX_CONNECTIONS = 32
    TIMEOUT = 30.0
    unavailable_error = S3Unavailable
    timed_out_error = S3TimedOut
    stats: S3Stats

    def __init__(self, **options: Unpack[AwsOptions]) -> None:
        super().__init__(**options)
        # None: AWS's own, addressed virtual-hosted
        self.endpoint = self.target.endpoint if self.target.custom else None
        self.stats = S3Stats()

    def _signer(self, host: str) -> S3Signer:
        return S3Signer(self.region, host)

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

    def _send(self, request: _Request, creds: FrozenCredentials, dl: float | None) -> Awaitable[tuple[int, bytes]]:
        method, path = request.method, request.path
        pool, signer = self._pool(request.base)
        headers = signer.s3_headers(method, path, request.payload_hash, creds, extra=request.extra)
        return pool.request(method, path, headers, request.body, dl)

    def _answer_error(self, request: _Request, status: int, raw: bytes) -> S3Error:
        return S3Error(request.operation, request.target, status, _xml_field(raw, "Code"), _xml_field(raw, "Message"))

    async def _call(self, operation: str, method: str, bucket: str, key: str | None, body: bytes = b"",
                    extra: dict[str, str] | None = None, ok: tuple[int, ...] = (200,)) -> bytes:
        base, path = self._route(bucket, key)
        target = f"{bucket}/{key}" if key is not None else bucket
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        request = _Request(operation, target, method, base, path, payload_hash, body, extra)
        return await self._request(operation, f"S3 {operation} {target}", base, request, ok)

    # -- operations ----------------------------------------------------------------------------------
    async def put_object(self, bucket: str, key: str, body: bytes,
                         content_type: str = "application/octet-stream") -> None:
        await self._call("PutObject", "PUT", bucket, key, body, {"Content-Type": content_type})
        self.stats.written += 1
        self.stats.bytes_written += len(body)

    async def get_object(self, bucket: str, key: str) -> bytes:
        body = await self._call("GetObject", "GET", bucket, key)
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
