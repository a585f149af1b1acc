"""Per-request deadlines for the DynamoDB and S3 calls a client waits on.

A client request that needs DynamoDB (a sync mirror, a DynamoDB-first write, a read from DynamoDB,
a verify comparison) runs its DynamoDB part inside `Bounded(at)`. The deadline travels in a
context variable, so every call below it - merges, S3 payloads, retries - sees it without being
handed it, and work started outside a scope (queue workers, read repair, backfill) has none.

Within a scope:
- `HttpPool.request` bounds the wait for a pooled connection, the connect and the answer by
  what is left;
- the clients' retry loops give each attempt what is left and do not start a retry that cannot
  finish (less than `MIN_ATTEMPT` left after its backoff);
- the scope itself cancels whatever is still running `GRACE` after the deadline (sleeps between
  conflicting merges, decoding), so the request ends even on paths no client bounds.

Either way the caller sees `DeadlineExceeded` and picks the CQL error for its phase.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from types import TracebackType

_current: ContextVar[float | None] = ContextVar("cdp_deadline", default=None)

# an attempt with less time than this left is not started: a DynamoDB round trip takes a few ms
# when healthy, so one squeezed into less would only add load to a struggling endpoint
MIN_ATTEMPT = 0.01
# the scope's own cancellation comes this long after the deadline, so the clients' bounded
# waits (which know what they were doing) normally report first
GRACE = 0.05


class DeadlineExceeded(Exception):
    """The request's deadline passed before the DynamoDB (or S3) work finished. For a write the
    outcome is unknown: a request may have reached the store and be applied there later."""


def current() -> float | None:
    """The deadline of the request being served (time.monotonic() seconds), None outside one."""
    return _current.get()


def left(deadline: float, now: float | None = None) -> float:
    return deadline - (time.monotonic() if now is None else now)


def attempt_timeout(deadline: float | None, cap: float, now: float | None = None) -> float:
    """The timeout of one attempt: its own cap, cut to what is left of the deadline (<= 0: none
    left)."""
    if deadline is None:
        return cap
    return min(cap, left(deadline, now))


def retry_delay(deadline: float | None, backoff: float, now: float | None = None) -> float | None:
    """The backoff before a retry, shortened so the retry keeps MIN_ATTEMPT of its own; None when
    no retry fits before the deadline."""
    if deadline is None:
        return backoff
    room = left(deadline, now) - MIN_ATTEMPT
    if room <= 0:
        return None
    return min(backoff, room)


class Bounded:
    """`async with Bounded(at, what):` runs its body with deadline `at` (the earlier of `at` and
    an enclosing scope's), and raises DeadlineExceeded if the body is still running GRACE after."""

    __slots__ = ("_timeout", "_token", "at", "what")

    def __init__(self, at: float, what: str) -> None:
        outer = _current.get()
        self.at = at if outer is None or at < outer else outer
        self.what = what
        self._timeout: asyncio.Timeout | None = None

    async def __aenter__(self) -> float:
        self._token = _current.set(self.at)
        self._timeout = asyncio.timeout(max(0.0, self.at - time.monotonic()) + GRACE)
        await self._timeout.__aenter__()
        return self.at

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> bool:
        _current.reset(self._token)
        timeout = self._timeout
        assert timeout is not None
        try:
            await timeout.__aexit__(et, e, tb)
        except TimeoutError:
            raise DeadlineExceeded(f"{self.what}: no answer within the request deadline") from None
        return False


def within(seconds: float, what: str) -> Bounded:
    """A scope ending `seconds` from now."""
    return Bounded(time.monotonic() + seconds, what)
