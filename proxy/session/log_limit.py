"""Log lines a peer can provoke, at a bounded rate.

A hostile or broken client can send garbage as fast as the network allows; each event still
counts in a metric, but its log line passes only while the token bucket of its kind has tokens.
The next line that passes says how many were left out in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class TokenBucket:
    """`burst` tokens at most, refilled at `rate` a second."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class LimitedLog:
    """One token bucket per kind of event (the kinds are a small fixed set chosen by the caller)."""

    def __init__(self, logger: logging.Logger, *, rate: float = 1.0, burst: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._left_out: dict[str, int] = {}

    def log(self, level: int, kind: str, msg: str, *args: object) -> bool:
        """Logs unless `kind` is over its rate; True when the line was written."""
        if not self.logger.isEnabledFor(level):
            return False
        now = self.clock()
        bucket = self._buckets.get(kind)
        if bucket is None:
            bucket = self._buckets[kind] = TokenBucket(self.rate, self.burst, now)
        if not bucket.take(now):
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return False
        left_out = self._left_out.pop(kind, 0)
        if left_out:
            msg += " (%d more like this not logged)"
            args = (*args, left_out)
        self.logger.log(level, msg, *args)
        return True
