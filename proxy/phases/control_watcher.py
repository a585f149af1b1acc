"""The task in every sidecar that follows the control store: polls for a newer PhaseSet (installs it
in the registry within one poll interval) and heartbeats the version it runs. A store it cannot
reach leaves the current phases in force; failures are logged once per outage and counted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..metrics import Family
from .control_store import ControlStore, ControlStoreError, Heartbeat
from .model import PhaseRegistry, PhaseSet, diff

log = logging.getLogger(__name__)


class WatcherStats:
    __slots__ = ("flips_applied", "heartbeat_failures", "last_ok", "poll_failures", "polls")

    def __init__(self) -> None:
        self.polls = 0
        self.poll_failures = 0
        self.heartbeat_failures = 0
        self.flips_applied = 0
        self.last_ok: float | None = None  # monotonic time of the last successful poll


class ControlWatcher:
    def __init__(self, store: ControlStore, registry: PhaseRegistry, *, sidecar_id: str, host: str,
                 poll_interval: float = 1.0, heartbeat_interval: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.registry = registry
        self.sidecar_id = sidecar_id
        self.host = host
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.clock = clock
        self.stats = WatcherStats()
        self.started_at = clock()
        self._started_mono = time.monotonic()
        self.applied_at = self.started_at  # when the running version was installed
        self._failing_since: float | None = None
        self._beat_failing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._beat_now = asyncio.Event()
        # a heartbeat cancelled mid-request may still land after the one removing it: stop()
        # waits for the beat in flight instead
        self._beat_lock = asyncio.Lock()

    async def poll_once(self) -> bool:
        """Reads the store and installs a newer version; True when the phases changed."""
        self.stats.polls += 1
        try:
            ps = await self.store.load()
        except ControlStoreError as e:
            self.stats.poll_failures += 1
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.warning("control store %s unreachable, keeping phase version %d: %s",
                            self.store.description, self.registry.version, e)
            return False
        if self._failing_since is not None:
            log.info("control store %s reachable again after %.1fs", self.store.description,
                     time.monotonic() - self._failing_since)
            self._failing_since = None
        self.stats.last_ok = time.monotonic()
        return ps is not None and self.install(ps)

    def install(self, ps: PhaseSet) -> bool:
        """Installs `ps` if newer than the running version and tells the fleet at once."""
        old = self.registry.current
        if not self.registry.apply(ps):
            return False
        self.applied_at = self.clock()
        self.stats.flips_applied += 1
        changes = ", ".join(f"{c.table}: {c.old} -> {c.new}" for c in diff(old, self.registry.current))
        log.info("phase version %d applied (by %s): %s", ps.version, ps.updated_by or "?", changes or "no change")
        self._beat_now.set()  # tell the fleet at once, not at the next beat
        return True

    def heartbeat_record(self) -> Heartbeat:
        return Heartbeat(self.sidecar_id, self.host, self.registry.version, self.applied_at, self.clock(),
                         self.started_at)

    async def beat_once(self) -> bool:
        try:
            async with self._beat_lock:
                await self.store.heartbeat(self.heartbeat_record())
        except ControlStoreError as e:
            self.stats.heartbeat_failures += 1
            if not self._beat_failing:
                log.warning("control store %s: heartbeat failed: %s", self.store.description, e)
            self._beat_failing = True
            return False
        self._beat_failing = False
        return True

    async def start(self, initial_timeout: float = 5.0) -> None:
        """One poll before returning (a new sidecar should start on the fleet's phases, not the
        mapping's), bounded so a dead store does not keep the sidecar from starting."""
        try:
            await asyncio.wait_for(self.poll_once(), initial_timeout)
        except TimeoutError:
            self.stats.poll_failures += 1
            log.warning("control store %s: no answer within %.1fs at start; running phase version %d",
                        self.store.description, initial_timeout, self.registry.version)
        self._beat_now.set()
        self._tasks = [asyncio.create_task(self._poll_loop(), name="control-poll"),
                       asyncio.create_task(self._beat_loop(), name="control-heartbeat")]

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.poll_once()
            except Exception:  # the loop must outlive any surprise
                self.stats.poll_failures += 1
                log.exception("control poll failed")

    async def _beat_loop(self) -> None:
        while True:
            # asyncio.wait, not wait_for: it leaves the waiter alone on timeout, and a cancelled
            # loop must not be kept waiting on it
            waiter = asyncio.ensure_future(self._beat_now.wait())
            try:
                await asyncio.wait([waiter], timeout=self.heartbeat_interval)
            finally:
                waiter.cancel()
            self._beat_now.clear()
            try:
                await self.beat_once()
            except Exception:
                self.stats.heartbeat_failures += 1
                log.exception("control heartbeat failed")

    async def stop(self, *, leave: bool = True) -> None:
        """Stops both loops; `leave` removes this sidecar's heartbeat so the fleet view does not
        wait for it."""
        async with self._beat_lock:
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        self._tasks = []
        if leave:
            try:
                await asyncio.wait_for(self.store.remove_heartbeat(self.sidecar_id), 3.0)
            except (ControlStoreError, TimeoutError) as e:
                log.info("could not remove this sidecar's heartbeat: %s", e)

    def last_poll_age(self) -> float:
        ok = self.stats.last_ok
        return time.monotonic() - (self._started_mono if ok is None else ok)

    def metrics(self) -> Iterable[Family]:
        st = self.stats
        yield GaugeMetricFamily("cdp_control_version", "Phase control version this sidecar runs",
                                value=self.registry.version)
        yield GaugeMetricFamily("cdp_control_last_poll_age_seconds",
                                "Seconds since the control store last answered a poll (since start if never)",
                                value=self.last_poll_age())
        for name, doc, value in (
            ("cdp_control_flips_applied", "New phase versions installed from the control store", st.flips_applied),
            ("cdp_control_polls", "Polls of the control store", st.polls),
            ("cdp_control_poll_failures", "Polls of the control store that failed", st.poll_failures),
            ("cdp_control_heartbeat_failures", "Heartbeats the control store did not take", st.heartbeat_failures),
        ):
            c = CounterMetricFamily(name, doc)
            c.add_metric([], value)
            yield c
