"""What the DynamoDB and S3 clients share: one AWS client over the project's own HTTP pool.

`AwsClient` resolves region and endpoint (proxy.aws_endpoints: botocore's chain and endpoint
rules), holds the credentials (re-read at most once a second), one keep-alive pool
(proxy.http_pool) and one SigV4 signer (proxy.sigv4) per host, and runs every request through
one retry loop: jittered exponential backoff on throttling, 5xx answers, timeouts and dropped
connections, at most `max_attempts` attempts.

Inside a request deadline (proxy.deadline) each attempt gets what is left of it, and a retry is
made only if it still has MIN_ATTEMPT after its backoff; past that the call raises the client's
timed-out error (a DeadlineExceeded). A connection refused until the deadline is the client's
unavailable error instead: nothing was sent.

A subclass brings what is its own: its signer, how one attempt is signed and sent (`_send`), how
an error answer reads (`_answer_error`, an `AwsAnswerError`), its error classes, stats and
defaults. The per-request value (`R`) is whatever `_send` needs: no closure is built per call on
DynamoDB's write path.
"""

from __future__ import annotations

import asyncio
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import ClassVar, Generic, Self, TypedDict, TypeVar

from .. import deadline as _deadline
from ..deadline import DeadlineExceeded
from ..metrics import LatencyHistogram
from . import aws_endpoints
from .aws_endpoints import AwsSetupError, CredentialSource
from .http_pool import ConnectFailed, HttpPool, proxy_for
from .sigv4 import DynamoDBSigner, FrozenCredentials


class AwsAnswerError(Exception):
    """An error answer from an AWS service (or the last one, after retries)."""

    code: str
    status: int
    # codes worth another attempt (any 5xx is too), and those of them that say "slow down"
    RETRYABLE: ClassVar[frozenset[str]] = frozenset()
    THROTTLES: ClassVar[frozenset[str]] = frozenset()

    @property
    def retryable(self) -> bool:
        return self.code in self.RETRYABLE or self.status >= 500

    @property
    def throttled(self) -> bool:
        return self.code in self.THROTTLES


class OperationStats:
    __slots__ = ("calls", "errors", "latency", "retries", "throttles", "timeouts", "unavailable")

    def __init__(self) -> None:
        self.calls = 0
        self.retries = 0
        self.throttles = 0
        self.unavailable = 0  # no answer after every retry
        self.timeouts = 0  # ended by the request's deadline
        self.errors = 0  # error answers, after retries
        self.latency = LatencyHistogram()


class AwsStats:
    """A client's figures by operation, and its error answers by code."""

    __slots__ = ("errors", "ops")

    def __init__(self, operations: tuple[str, ...]) -> None:
        # the operations named are exported (at 0) from the start, so rates and alerts on them need
        # no special case for "never called yet"
        self.ops: dict[str, OperationStats] = {op: OperationStats() for op in operations}
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


class AwsOptions(TypedDict, total=False):
    """The constructor's options; `max_connections` and `timeout` default to the service's own."""

    region: str | None
    endpoint: str | None
    credentials: CredentialSource | None
    profile: str | None
    max_connections: int | None
    timeout: float | None
    connect_timeout: float
    max_attempts: int
    base_backoff: float
    max_backoff: float


S = TypeVar("S", bound=DynamoDBSigner)
R = TypeVar("R")  # what a subclass needs to send one request and read its errors
_OK = (200,)


class AwsClient(ABC, Generic[S, R]):
    service: ClassVar[str]
    MAX_CONNECTIONS: ClassVar[int]
    TIMEOUT: ClassVar[float]
    unavailable_error: ClassVar[type[Exception]]
    timed_out_error: ClassVar[type[Exception]]
    stats: AwsStats

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        credentials: CredentialSource | None = None,
        profile: str | None = None,
        max_connections: int | None = None,
        timeout: float | None = None,
        connect_timeout: float = 2.0,
        max_attempts: int = 8,
        base_backoff: float = 0.025,
        max_backoff: float = 2.0,
    ) -> None:
        target = aws_endpoints.resolve(self.service, region=region, endpoint=endpoint, profile=profile)
        if credentials is None:
            credentials = aws_endpoints.credentials(profile)
        self.target = target
        self.region = target.region
        try:
            # an unsupported proxy is said now, not at the first request
            self._proxy = proxy_for(target.endpoint)
        except ValueError as e:
            raise AwsSetupError(str(e)) from None
        self._tls = aws_endpoints.tls_context(profile) if target.endpoint.startswith("https:") else None
        self._credentials = credentials
        self._creds_cache: tuple[float, FrozenCredentials] | None = None
        self.max_connections = self.MAX_CONNECTIONS if max_connections is None else max_connections
        self._timeout = self.TIMEOUT if timeout is None else timeout
        self._connect_timeout = connect_timeout
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self._pools: dict[str, tuple[HttpPool, S]] = {}

    @abstractmethod
    def _signer(self, host: str) -> S:
        """The service's signer for requests to `host` (the Host header, port included)."""

    @abstractmethod
    def _send(self, request: R, creds: FrozenCredentials, dl: float | None) -> Awaitable[tuple[int, bytes]]:
        """One attempt: signs `request` with `creds` and sends it within the deadline `dl`."""

    @abstractmethod
    def _answer_error(self, request: R, status: int, raw: bytes) -> AwsAnswerError:
        """The error an answer other than `ok` says."""

    def _pool(self, url: str) -> tuple[HttpPool, S]:
        """The pool and signer of a base URL, made on first use."""
        found = self._pools.get(url)
        if found is None:
            proxy = self._proxy if url.rstrip("/") == self.target.endpoint else proxy_for(url)
            pool = HttpPool(url, max_connections=self.max_connections, timeout=self._timeout,
                            connect_timeout=self._connect_timeout, ssl_context=self._tls, proxy=proxy)
            found = self._pools[url] = (pool, self._signer(pool.host_header))
        return found

    def _creds(self) -> FrozenCredentials:
        # botocore's refreshable credentials take a lock per call: asking once a second is plenty
        now = time.monotonic()
        cached = self._creds_cache
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        creds = self._credentials()
        self._creds_cache = (now, creds)
        return creds

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool, _ in pools:
            await pool.close()

    async def _request(self, operation: str, what: str, where: str, request: R,
                       ok: tuple[int, ...] = _OK) -> bytes:
        """One request, retried as the module says; the body of an `ok` answer. `what` and `where`
        name the request and the endpoint in errors."""
        op = self.stats.of(operation)
        op.calls += 1
        started = time.perf_counter()
        dl = _deadline.current()
        attempt = 0
        while True:
            attempt += 1
            try:
                # inside: credentials that cannot be refreshed fail this attempt like a dropped connection
                status, raw = await self._send(request, self._creds(), dl)
            except DeadlineExceeded as e:
                raise self._timed_out(op, what, where, attempt, e) from None
            except (TimeoutError, OSError) as e:
                if attempt >= self.max_attempts:
                    op.unavailable += 1
                    raise self.unavailable_error(f"{what}: no answer from {where} after {attempt} attempts: "
                                                 f"{e!r}") from None
                delay = _deadline.retry_delay(dl, self._backoff_delay(attempt))
                if delay is None:
                    if isinstance(e, ConnectFailed):  # refused: nothing sent, and nothing waited for
                        op.unavailable += 1
                        raise self.unavailable_error(f"{what}: no connection to {where} before the request "
                                                     f"deadline ({attempt} attempts): {e}") from None
                    raise self._timed_out(op, what, where, attempt, e) from None
                op.retries += 1
                await asyncio.sleep(delay)
                continue
            if status in ok:
                op.latency.observe(time.perf_counter() - started)
                return raw
            err = self._answer_error(request, status, raw)
            if err.throttled:
                op.throttles += 1
            if err.retryable and attempt < self.max_attempts:
                delay = _deadline.retry_delay(dl, self._backoff_delay(attempt))
                if delay is not None:
                    op.retries += 1
                    await asyncio.sleep(delay)
                    continue
            op.errors += 1
            errors = self.stats.errors
            errors[err.code] = errors.get(err.code, 0) + 1
            op.latency.observe(time.perf_counter() - started)
            raise err

    def _timed_out(self, op: OperationStats, what: str, where: str, attempt: int, last: BaseException) -> Exception:
        op.timeouts += 1
        return self.timed_out_error(f"{what}: no answer from {where} within the request deadline "
                                    f"({attempt} attempt{'s' if attempt > 1 else ''}; last: {last})")

    def _backoff_delay(self, attempt: int) -> float:
        # full jitter: spreads retries of many writers throttled at the same moment
        cap = min(self.max_backoff, self.base_backoff * (2 ** (attempt - 1)))
        return random.uniform(0, cap)

