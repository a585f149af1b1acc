"""What `backfill` and `validate` record for the cutover gate (proxy/phases/cutover.py) when given
`--control`: per table, when the run started and finished, its counts, and what it ran under (the
store's phase version, the table's dual_write epoch, whether every sidecar was on that epoch).
Without `--control` nothing is recorded and the gate keeps the table out of dynamo_fallback.

The state is read when the run starts, so a run that began before the fleet converged stays marked
as such however long it runs."""

from __future__ import annotations

import asyncio
import getpass
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from translators.mapping import Mapping

from ..phases.cutover import RunRecord
from ..phases.fleet import fleet_report
from ..phases.model import MirrorEpoch, mirror_epoch
from . import gate

# exit code of a run that finished but could not record its outcome (the gate will not see it)
EXIT_NOT_RECORDED = 4


@dataclass
class _Counts:
    total: int = 0
    done_earlier: int = 0
    done: int = 0
    failed: int = 0
    rows: int = 0
    differences: int = 0
    repaired: int = 0


@dataclass
class Recorder:
    kind: str
    control: str
    region: str | None
    endpoint: str | None
    phase_version: int
    started_at: float
    epochs: dict[str, MirrorEpoch | None]
    converged: dict[str, bool]
    by: str
    counts: dict[str, _Counts] = field(default_factory=dict)

    def mark(self, table: str) -> str:
        """The ledger mark of the table's progress in this run (see Ledger.set_mark)."""
        epoch = self.epochs.get(table)
        if epoch is None:
            return "not mirrored"
        return f"epoch {epoch.version}@{epoch.at!r}" + ("" if self.converged.get(table) else " before convergence")

    def planned(self, table: str, total: int, done_earlier: int = 0) -> None:
        c = self.counts.setdefault(table, _Counts())
        c.total, c.done_earlier = total, done_earlier

    def observe(self, ev: dict[str, Any]) -> None:
        c = self.counts.setdefault(ev.get("table", ""), _Counts())
        kind = ev["kind"]
        if kind == "done":
            c.done += 1
        elif kind == "failed":
            c.failed += 1
        elif kind == "page":
            c.rows += int(ev.get("stats", {}).get("rows", 0))
        elif kind == "diff":
            c.differences += 1
            c.repaired += int(bool(ev.get("repaired")))

    def wrap(self, handle: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        def both(ev: dict[str, Any]) -> None:
            self.observe(ev)
            handle(ev)

        return both

    def records(self, finished_at: float, **extra: Any) -> list[RunRecord]:
        out = []
        for table, c in sorted(self.counts.items()):
            if table not in self.epochs:
                continue
            out.append(RunRecord(self.kind, table, self.started_at, finished_at, self.epochs[table],
                                 self.phase_version, self.converged[table], c.total, c.done_earlier + c.done,
                                 c.failed, c.rows, c.differences, repaired=c.repaired, by=self.by, **extra))
        return out

    def finish(self, code: int, **extra: Any) -> int:
        """Records every table's outcome; `code` is the run's exit code, returned unless recording
        failed."""
        recs = self.records(time.time(), **extra)

        async def put() -> list[bool]:
            store = gate.open_store(self.control, region=self.region, endpoint=self.endpoint)
            try:
                return [await store.record_run(r) for r in recs]
            finally:
                await store.close()

        try:
            kept = asyncio.run(put())
        except Exception as e:
            print(f"cql-dynamo-proxy {self.kind}: the outcome could not be recorded in {self.control}, so the cutover "
                  f"gate does not see this run: {e}", file=sys.stderr)
            return EXIT_NOT_RECORDED
        for r, k in zip(recs, kept, strict=True):
            note = "" if k else " (not kept: a run that started later is recorded)"
            print(f"[{self.kind}] {r.table}: outcome recorded in {self.control}{note}", file=sys.stderr)
        return code


def begin(args: Any, mapping: Mapping, tables: list[str], kind: str) -> Recorder | None:
    """The run's starting state from the store named by `--control` (None without it). Raises
    what the store raises when it cannot be read."""
    if not args.control:
        return None
    region = args.dynamodb_region or mapping.region
    endpoint = args.dynamodb_endpoint or mapping.endpoint
    started = time.time()

    async def read() -> Recorder:
        store = gate.open_store(args.control, region=region, endpoint=endpoint)
        try:
            stored = await store.load()
            beats = await store.heartbeats()
        finally:
            await store.close()
        phases = gate.effective_phases(mapping, stored)
        epochs: dict[str, MirrorEpoch | None] = {}
        converged: dict[str, bool] = {}
        for t in tables:
            tp = phases.get(t)
            epoch = mirror_epoch(tp) if tp is not None else None
            epochs[t] = epoch
            # this table is mirrored by the whole fleet once every sidecar runs its epoch or later
            converged[t] = epoch is not None and bool(fleet_report(
                epoch.version, beats, now=started, stale_after=gate.STALE_AFTER)["converged"])
        return Recorder(kind, args.control, region, endpoint, stored.version if stored else 0, started, epochs,
                        converged, _who())

    return asyncio.run(read())


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"{user}@{socket.gethostname()}"
