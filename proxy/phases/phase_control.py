"""Run-time phase control of one sidecar: the store, the watcher that follows it, and the operations
behind the admin API (change a table's phase, the fleet view, the audit trail)."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import Config, ConfigError
from .control_store import AuditEntry, ControlStore, FileControlStore, Heartbeat, parse_control
from .control_watcher import ControlWatcher
from .cutover import Evidence, Hint, RunRecord, check_cutover, cutover_problems, latest_runs, needs_cutover
from .fleet import fleet_report
from .model import (
    PhaseError,
    PhaseRegistry,
    PhaseSet,
    TablePhase,
    TransitionRefused,
    carry_history,
    check_transition,
    mirror_epoch,
)

log = logging.getLogger(__name__)


class UnknownTable(PhaseError):
    pass


def default_sidecar_id(port: int) -> str:
    host = socket.gethostname()
    return f"{host}:{port}" if port else f"{host}:pid{os.getpid()}"


def build_store(cfg: Config, *, region: str | None = None, endpoint: str | None = None) -> ControlStore:
    try:
        kind, target = parse_control(cfg.control, cfg.state_dir)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if kind == "file":
        return FileControlStore(target)
    from ..aws.aws_endpoints import AwsSetupError
    from ..aws.dynamodb_client import DynamoDBClient
    from .control_dynamodb import DynamoDBControlStore

    try:
        # few, short attempts: a poll that fails is simply repeated a second later
        client = DynamoDBClient(region=cfg.dynamodb_region or region, endpoint=cfg.dynamodb_endpoint or endpoint,
                                max_connections=4, timeout=3.0, connect_timeout=1.0, max_attempts=2)
    except AwsSetupError as e:
        raise ConfigError(f"control: {e}") from None
    return DynamoDBControlStore(client, target)


class PhaseControl:
    def __init__(self, store: ControlStore, registry: PhaseRegistry, watcher: ControlWatcher,
                 clock: Callable[[], float] = time.time, mapping_path: str = "") -> None:
        self.store = store
        self.registry = registry
        self.watcher = watcher
        self.clock = clock
        # spells the commands a cutover refusal asks for
        self.hint = Hint(mapping_path or "MAPPING", store.spec)
        # a move into a phase the stores cannot serve yet (a missing DynamoDB table): why, or None
        self.stores_check: Callable[[str, TablePhase, TablePhase], Awaitable[str | None]] | None = None

    @property
    def stale_after(self) -> float:
        return max(3 * self.watcher.heartbeat_interval, 2 * self.watcher.poll_interval + 1.0)

    async def start(self) -> None:
        await self.watcher.start()
        log.info("phase control: %s, sidecar id %s, running phase version %d", self.store.description,
                 self.watcher.sidecar_id, self.registry.version)

    async def stop(self) -> None:
        await self.watcher.stop()
        await self.store.close()

    async def set_phase(self, name: str, new: TablePhase, *, force: bool, by: str) -> tuple[PhaseSet, bool]:
        """Commits `new` for table `name` as the next version. Returns (the phase set, whether it
        changed). Raises UnknownTable, TransitionRefused, VersionConflict or ControlStoreError."""
        if name not in self.registry.baseline.tables:
            known = ", ".join(self.registry.baseline.tables) or "none"
            raise UnknownTable(f"{name} is not a table of this sidecar's mapping (known: {known})")
        # only tables someone changed go into the store; the others keep each sidecar's mapping phase
        base = await self.store.load() or PhaseSet(0, {})
        old = base.tables.get(name) or self.registry.baseline.tables[name]
        if old == new:
            return self.registry.effective(base), False
        # evaluated even when forced, so the audit says what the force overrode
        overridden: list[str] = []
        try:
            check_transition(old, new)
        except TransitionRefused as e:
            if not force:
                raise
            overridden.append(e.reason)
        missing = await self.stores_check(name, old, new) if self.stores_check is not None else None
        if missing is not None:
            if not force:
                raise TransitionRefused(old.phase, new.phase, missing)
            overridden.append(missing)
        if needs_cutover(old, new):  # the run records are read only for a move the gate guards
            try:
                check_cutover(old, new, await self._evidence(name, old))
            except TransitionRefused as e:
                if not force:
                    raise
                overridden.append(e.reason)
        at = self.clock()
        new = carry_history(old, new, version=base.version + 1, at=at)
        nxt = base.with_table(name, new, at=at, by=by)
        await self.store.commit(nxt, base.version, AuditEntry(nxt.version, nxt.updated_at, by, name, old, new, force,
                                                              "; ".join(overridden)))
        log.info("phase version %d committed by %s: %s: %s -> %s%s", nxt.version, by, name, old, new,
                 f" (forced past: {'; '.join(overridden)})" if overridden else " (forced)" if force else "")
        self.watcher.install(nxt)  # this sidecar need not wait for its next poll
        return self.registry.effective(nxt), True

    def _table_evidence(self, name: str, tp: TablePhase, beats: list[Heartbeat],
                        runs: dict[str, RunRecord]) -> Evidence:
        epoch = mirror_epoch(tp)
        converged, behind = False, []
        if epoch is not None:
            # converged for this table: every sidecar runs the version its epoch began at, or later
            rep = fleet_report(epoch.version, beats, now=self.clock(), stale_after=self.stale_after)
            converged, behind = bool(rep["converged"]), list(rep["behind"])
        return Evidence(name, epoch, runs.get("backfill"), runs.get("validate"), converged, behind, self.hint)

    async def _evidence(self, name: str, tp: TablePhase) -> Evidence:
        beats = await self.store.heartbeats()
        runs = latest_runs([r for r in await self.store.runs() if r.table == name])
        return self._table_evidence(name, tp, beats, runs.get(name, {}))

    async def fleet(self) -> dict[str, Any]:
        stored = await self.store.load()
        beats = await self.store.heartbeats()
        report = fleet_report(stored.version if stored else 0, beats, now=self.clock(),
                              stale_after=self.stale_after)
        report["store"] = self.store.description
        runs = latest_runs(await self.store.runs())
        tables: dict[str, Any] = {}
        for name, tp in self.registry.effective(stored or PhaseSet(0, {})).tables.items():
            ev = self._table_evidence(name, tp, beats, runs.get(name, {}))
            missing = cutover_problems(ev)
            tables[name] = {
                **tp.to_json(),
                "mirror_epoch": ev.epoch.to_json() if ev.epoch else None,
                "fleet_converged": ev.fleet_converged,
                "backfill": ev.backfill.to_json() if ev.backfill else None,
                "validate": ev.validate.to_json() if ev.validate else None,
                # what moving on to dynamo_fallback would need (tables there already show it too)
                "gate": {"open": not missing, "missing": missing},
            }
        report["tables"] = tables
        return report

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        return await self.store.audit(limit)


def build_control(cfg: Config, registry: PhaseRegistry, port: int, *, region: str | None,
                  endpoint: str | None) -> PhaseControl:
    store = build_store(cfg, region=region, endpoint=endpoint)
    watcher = ControlWatcher(store, registry, sidecar_id=cfg.sidecar_id or default_sidecar_id(port),
                             host=socket.gethostname(), poll_interval=cfg.control_poll_interval,
                             heartbeat_interval=cfg.control_heartbeat_interval)
    return PhaseControl(store, registry, watcher, mapping_path=cfg.mapping)
