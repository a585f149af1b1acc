"""Readiness as a scrape sees it: a Cassandra probe that hangs bounds the scrape, not fails it, and
concurrent askers share one probe."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from proxy.admin.app import _Health
from proxy.metrics import REGISTRY


class _Pool:
    def __init__(self, delay: float, ok: bool) -> None:
        self.delay, self.ok, self.calls = delay, ok, 0

    async def probe(self) -> bool:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.ok


class _Server:
    def __init__(self, pool: _Pool, standalone: bool = False) -> None:
        self.pool, self.draining, self.standalone = pool, False, standalone

    def standalone_ok(self) -> bool:
        return self.standalone


def _ready() -> float | None:
    return REGISTRY.get_sample_value("cdp_ready")


def _health(pool: _Pool) -> Any:
    return _Health(_Server(pool))  # type: ignore[arg-type]


async def test_a_hanging_probe_bounds_the_scrape_and_lands_for_the_next() -> None:
    pool = _Pool(delay=2.0, ok=True)
    health = _health(pool)
    health.SCRAPE_PROBE_WAIT = 0.2
    t0 = time.monotonic()
    first = await health.metrics(None)
    assert first.status == 200 and time.monotonic() - t0 < 1.0
    assert b"cdp_ready" in first.body
    await asyncio.sleep(2.1)  # the probe went on without the scrape
    await health.metrics(None)
    assert _ready() == 1 and pool.calls == 1


async def test_concurrent_askers_share_one_probe_and_see_its_answer() -> None:
    pool = _Pool(delay=0.1, ok=False)
    health = _health(pool)
    reasons = await asyncio.gather(*(health.check() for _ in range(5)))
    assert reasons == ["Cassandra unreachable"] * 5 and pool.calls == 1
    assert _ready() == 0


async def test_draining_is_not_ready_without_a_probe() -> None:
    pool = _Pool(delay=0.0, ok=True)
    health = _health(pool)
    health.server.draining = True
    assert await health.check() == "shutting down" and pool.calls == 0
    assert _ready() == 0


async def test_every_table_in_dynamo_is_ready_without_cassandra() -> None:
    """Cassandra switched off after the migration: the pod stays ready (and in its Services)."""
    health = _Health(_Server(_Pool(delay=0.0, ok=False), standalone=True))  # type: ignore[arg-type]
    assert await health.check() == "" and _ready() == 1
