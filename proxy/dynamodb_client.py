"""An asyncio DynamoDB client for the hot path.

Low-level JSON in and out (the attribute-value wire format), pooled keep-alive connections
(proxy.http_pool), region, endpoint and credentials by proxy.aws_endpoints (botocore's standard
chain and endpoint rules), SigV4 by `sigv4.DynamoDBSigner`, and jittered exponential
retries on throttling, 5xx answers, timeouts and dropped connections.

Inside a request deadline (proxy.deadline) each attempt gets what is left of it, and a retry is
made only if it still has MIN_ATTEMPT after its backoff; past that the call raises
`DynamoDBTimedOut`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from typing import Any
from urllib.parse import urlsplit

import orjson

from . import aws_endpoints
from . import deadline as _deadline
from .aws_endpoints import AwsSetupError, CredentialSource
from .deadline import DeadlineExceeded
from .http_pool import ConnectFailed, HttpPool, proxy_for
from .metrics import LatencyHistogram
from .sigv4 import DynamoDBSigner, FrozenCredentials

log = logging.getLogger(__name__)

_TARGET_PREFIX = "DynamoDB_20120810."


def _json_default(obj: object) -> str:
    # B/BS attribute values travel as base64 text in DynamoDB's JSON protocol
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(obj).decode()
    raise TypeError(f"cannot encode {type(obj).__name__} in a DynamoDB request")


def dumps(request: dict[str, Any]) -> bytes:
    return orjson.dumps(request, default=_json_default)
_RETRYABLE = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "TransactionInProgressException",
})
_THROTTLES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# Answers that refuse the client's credentials themselves: every other request would get them too.
CREDENTIALS_REFUSED = frozenset({
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
})


class DynamoDBError(Exception):
    """An error answer from DynamoDB (or the last one, after retries)."""

    def __init__(self, code: str, message: str, status: int, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.body = body or {}

    @property
    def retryable(self) -> bool:
        return self.code in _RETRYABLE or self.status >= 500


class ConditionalCheckFailed(DynamoDBError):
    """The write's condition was false: under last-write-wins, a newer write is already there."""

    @property
    def item(self) -> dict[str, Any] | None:
        item = self.body.get("Item")
        return item if isinstance(item, dict) else None


class TransactionCanceled(DynamoDBError):
    @property
    def reasons(self) -> list[dict[str, Any]]:
        r = self.body.get("CancellationReasons")
        return r if isinstance(r, list) else []


class DynamoDBUnavailable(Exception):
    """No answer after every retry: connection refused, timeouts, resets."""


class DynamoDBTimedOut(DynamoDBUnavailable, DeadlineExceeded):
    """No answer within the request's deadline (the last attempt may still be applied)."""


def _error_for(status: int, body: dict[str, Any]) -> DynamoDBError:
    code = str(body.get("__type", "")).rpartition("#")[2] or f"HTTP{status}"
    message = str(body.get("message") or body.get("Message") or "")
    if code == "ConditionalCheckFailedException":
        return ConditionalCheckFailed(code, message, status, body)
    if code == "TransactionCanceledException":
        return TransactionCanceled(code, message, status, body)
    return DynamoDBError(code, message, status, body)


# The operations the sidecar's data path calls: their series are exported (at 0) from the start, so
# rates and alerts on them need no special case for "never called yet".
OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan", "BatchWriteItem", "BatchGetItem",
              "TransactWriteItems")


class OperationStats:
    __slots__ = ("calls", "latency", "retries", "throttles", "timeouts", "unavailable")

    def __init__(self) -> None:
        self.calls = 0
        self.retries = 0
        self.throttles = 0
        self.unavailable = 0  # no answer after every retry
        self.timeouts = 0  # ended by the request's deadline
        self.latency = LatencyHistogram()


class ClientStats:
    __slots__ = ("errors", "ops")

    def __init__(self) -> None:
        self.ops: dict[str, OperationStats] = {op: OperationStats() for op in OPERATIONS}
        self.errors: dict[str, int] = {}  # by error code, after retries (an open set: not pre-filled)

    def of(self, operation: str) -> OperationStats:
        st = self.ops.get(operation)
        if st is None:
            st = self.ops[operation] = OperationStats()
        return st

    def by_operation(self, attr: str) -> dict[str, int]:
        return {op: getattr(st, attr) for op, st in self.ops.items()}

    @property
    def calls(self) -> dict[str, int]:
        return self.by_operation("calls")

    @property
    def latency(self) -> dict[str, LatencyHistogram]:
        return {op: st.latency for op, st in self.ops.items()}

    @property
    def retries(self) -> int:
        return sum(st.retries for st in self.ops.values())

    @property
    def throttles(self) -> int:
        return sum(st.throttles for st in self.ops.values())

    @property
    def unavailable(self) -> int:
        return sum(st.unavailable for st in self.ops.values())

    @property
    def deadline_exceeded(self) -> int:
        return sum(st.timeouts for st in self.ops.values())


class DynamoDBClient:
    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        credentials: CredentialSource | None = None,
        profile: str | None = None,
        max_connections: int = 64,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        max_attempts: int = 8,
        base_backoff: float = 0.025,
        max_backoff: float = 2.0,
    ) -> None:
        target = aws_endpoints.resolve("dynamodb", region=region, endpoint=endpoint, profile=profile)
        if credentials is None:
            credentials = aws_endpoints.credentials(profile)
        self.target = target
        self.region = target.region
        self.endpoint = target.endpoint + "/"
        try:
            self._proxy = proxy_for(self.endpoint)
        except ValueError as e:
            raise AwsSetupError(str(e)) from None
        self._tls = aws_endpoints.tls_context(profile) if self.endpoint.startswith("https:") else None
        parts = urlsplit(self.endpoint)
        default_port = 443 if parts.scheme == "https" else 80
        host = parts.hostname or ""
        self._host = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
        self._signer = DynamoDBSigner(self.region, self._host)
        self._credentials = credentials
        self._creds_cache: tuple[float, FrozenCredentials] | None = None
        self.max_connections = max_connections
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.stats = ClientStats()
        self._session: HttpPool | None = None

    async def __aenter__(self) -> DynamoDBClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> HttpPool:
        if self._session is None:
            self._session = HttpPool(self.endpoint, max_connections=self.max_connections,
                                     timeout=self._timeout, connect_timeout=self._connect_timeout,
                                     ssl_context=self._tls, proxy=self._proxy)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _creds(self) -> FrozenCredentials:
        # botocore's refreshable credentials take a lock per call: asking once a second is plenty
        now = time.monotonic()
        cached = self._creds_cache
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        creds = self._credentials()
        self._creds_cache = (now, creds)
        return creds

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """One DynamoDB operation, retried as documented; returns the decoded answer."""
        body = dumps(request)
        target = _TARGET_PREFIX + operation
        stats = self.stats
        op = stats.of(operation)
        op.calls += 1
        hist = op.latency
        started = time.perf_counter()
        dl = _deadline.current()
        attempt = 0
        while True:
            attempt += 1
            try:
                # inside: credentials that cannot be refreshed fail this attempt like a dropped connection
                headers = self._signer.headers(target, body, self._creds())
                status, raw = await self._http().post(headers, body, dl)
            except DeadlineExceeded as e:
                raise self._timed_out(op, operation, attempt, e) from None
            except (TimeoutError, OSError) as e:
                if attempt >= self.max_attempts:
                    op.unavailable += 1
                    raise DynamoDBUnavailable(f"{operation}: no answer from {self.endpoint} after "
                                              f"{attempt} attempts: {e!r}") from None
                delay = _deadline.retry_delay(dl, self._backoff_delay(attempt))
                if delay is None:
                    if isinstance(e, ConnectFailed):  # refused: nothing sent, and nothing waited for
                        op.unavailable += 1
                        raise DynamoDBUnavailable(f"{operation}: no connection to {self.endpoint} before the "
                                                  f"request deadline ({attempt} attempts): {e}") from None
                    raise self._timed_out(op, operation, attempt, e) from None
                op.retries += 1
                await asyncio.sleep(delay)
                continue
            if status == 200:
                hist.observe(time.perf_counter() - started)
                return orjson.loads(raw) if raw else {}
            try:
                parsed = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                parsed = {"message": raw[:200].decode("utf-8", "replace")}
            err = _error_for(status, parsed if isinstance(parsed, dict) else {})
            if err.code in _THROTTLES:
                op.throttles += 1
            if err.retryable and attempt < self.max_attempts:
                delay = _deadline.retry_delay(dl, self._backoff_delay(attempt))
                if delay is not None:
                    op.retries += 1
                    await asyncio.sleep(delay)
                    continue
            stats.errors[err.code] = stats.errors.get(err.code, 0) + 1
            hist.observe(time.perf_counter() - started)
            raise err

    def _timed_out(self, op: OperationStats, operation: str, attempt: int, last: BaseException) -> DynamoDBTimedOut:
        op.timeouts += 1
        return DynamoDBTimedOut(f"{operation}: no answer from {self.endpoint} within the request deadline "
                                f"({attempt} attempt{'s' if attempt > 1 else ''}; last: {last})")

    def _backoff_delay(self, attempt: int) -> float:
        # full jitter: spreads retries of many writers throttled at the same moment
        cap = min(self.max_backoff, self.base_backoff * (2 ** (attempt - 1)))
        return random.uniform(0, cap)

    # -- conveniences ------------------------------------------------------------------------------
    async def put_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("PutItem", request)

    async def update_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("UpdateItem", request)

    async def delete_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("DeleteItem", request)

    async def get_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("GetItem", request)

    async def query(self, **request: Any) -> dict[str, Any]:
        return await self.call("Query", request)

    async def scan(self, **request: Any) -> dict[str, Any]:
        return await self.call("Scan", request)

    async def batch_write_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("BatchWriteItem", request)

    async def batch_get_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("BatchGetItem", request)

    async def transact_write_items(self, **request: Any) -> dict[str, Any]:
        return await self.call("TransactWriteItems", request)
