"""Token buckets for rows/s and DynamoDB write units/s."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """`rate` tokens a second, bursts of up to `burst` (default: one second's worth). A rate of 0
    or less means unlimited. One bucket per process: with N workers each gets rate / N."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    async def acquire(self, n: float = 1.0) -> None:
        if self.unlimited or n <= 0:
            return
        async with self._lock:  # first come, first served
            self._refill()
            # a request larger than the bucket takes it down below zero and waits the debt off
            self.tokens -= n
            if self.tokens < 0:
                await asyncio.sleep(-self.tokens / self.rate)
                self._refill()
