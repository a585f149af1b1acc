"""Cassandra endpoints: which node a new upstream connection goes to, and their health."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import TypeVar, cast

from ..metrics import UPSTREAM_CONNECT_FAILURES

log = logging.getLogger(__name__)
P = TypeVar("P", bound=asyncio.Protocol)

_BACKOFF_MAX = 10.0


class NoCassandraAvailable(Exception):
    pass


class CassandraPool:
    """Round-robin over the configured contact points, skipping nodes that just failed."""

    def __init__(
        self, endpoints: list[tuple[str, int]], ssl_ctx: ssl.SSLContext | None, timeout: float
    ) -> None:
        self.endpoints = endpoints
        self.ssl_ctx = ssl_ctx
        self.timeout = timeout
        self._next = 0
        self._down_until: dict[tuple[str, int], float] = {}
        self._failures: dict[tuple[str, int], int] = {}
        # every endpoint's series exported from the start, at 0
        self._failure_count = {ep: UPSTREAM_CONNECT_FAILURES.labels(f"{ep[0]}:{ep[1]}") for ep in endpoints}
        self.last_success: float = 0.0
        self.last_failure: float = 0.0

    def _order(self) -> list[tuple[str, int]]:
        n = len(self.endpoints)
        start = self._next % n
        self._next += 1
        ordered = [self.endpoints[(start + i) % n] for i in range(n)]
        now = time.monotonic()
        up = [e for e in ordered if self._down_until.get(e, 0) <= now]
        down = [e for e in ordered if e not in up]
        return up + down  # every node is still tried: better a slow retry than none

    async def connect(self, factory: Callable[[], P]) -> tuple[asyncio.Transport, P]:
        loop = asyncio.get_running_loop()
        last: Exception | None = None
        for ep in self._order():
            try:
                transport, proto = await asyncio.wait_for(
                    loop.create_connection(factory, ep[0], ep[1], ssl=self.ssl_ctx), self.timeout
                )
            except (OSError, TimeoutError, ssl.SSLError) as e:
                last = e
                fails = self._failures.get(ep, 0) + 1
                self._failures[ep] = fails
                self._down_until[ep] = time.monotonic() + min(_BACKOFF_MAX, 0.25 * 2**fails)
                self.last_failure = time.time()
                self._failure_count[ep].inc()
                log.warning("cannot connect to Cassandra at %s:%s: %s", ep[0], ep[1], e or type(e).__name__)
                continue
            self._failures.pop(ep, None)
            self._down_until.pop(ep, None)
            self.last_success = time.time()
            return cast(asyncio.Transport, transport), proto
        raise NoCassandraAvailable(f"no Cassandra node reachable: {last}")

    async def probe(self) -> bool:
        """A plain TCP connect to any node, for readiness."""
        for ep in self.endpoints:
            try:
                _, w = await asyncio.wait_for(asyncio.open_connection(ep[0], ep[1]), self.timeout)
            except (OSError, TimeoutError):
                continue
            w.close()
            return True
        return False
