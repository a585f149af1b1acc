"""The cutover gate: a table earns `dynamo_fallback` (and `dynamo`) by a completed backfill and a
clean, full validate, both run since the fleet converged in `dual_write` (the table's mirror epoch,
`proxy.phases.model.MirrorEpoch`). Pure: the records come from the control store (`ControlStore.runs`),
read by the caller; the sidecar's phase control and `phase status` use the same functions.

A run counts only if it ran in the table's current epoch and started while every sidecar in view
was on the epoch's version or later (else some sidecar may not have mirrored writes the run had
already passed). `--force` on `phase set` overrides the gate; the audit entry says what it overrode.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import PHASES, MirrorEpoch, PhaseError, TablePhase, TransitionRefused, partition_moves

RUN_KINDS = ("backfill", "validate")
# moving a partition forward into one of these must be earned
GATED = frozenset({"dynamo_fallback", "dynamo"})


@dataclass(frozen=True)
class RunRecord:
    """One table's outcome of one `backfill` or `validate` run, as recorded in the control store."""

    kind: str  # "backfill" | "validate"
    table: str
    started_at: float
    finished_at: float
    epoch: MirrorEpoch | None  # the table's epoch when the run started (None: not mirrored then)
    phase_version: int  # the store's phase version when the run started
    fleet_converged: bool  # every sidecar in view was on `epoch.version` or later at the start
    ranges_total: int = 0
    ranges_done: int = 0  # backfill: done in this epoch, by this run or an earlier one it resumed
    ranges_failed: int = 0
    rows: int = 0
    differences: int = 0  # validate only, below too
    sample: float = 100.0  # percent of the ranges compared
    rerun: bool = False  # only the ranges of an earlier report (--rerun-failed)
    repair: bool = False
    repaired: int = 0
    forced: bool = False  # backfill started with --force (no fleet check)
    by: str = ""

    def __post_init__(self) -> None:
        if self.kind not in RUN_KINDS:
            raise PhaseError(f"a run is one of {', '.join(RUN_KINDS)}, got {self.kind!r}")

    @property
    def complete(self) -> bool:
        """Every range of the table was covered, none failed."""
        return self.ranges_failed == 0 and self.ranges_total > 0 and self.ranges_done >= self.ranges_total

    @property
    def full(self) -> bool:
        """A validate that compared the whole ring (not a sample, not a rerun of some ranges)."""
        return self.sample >= 100.0 and not self.rerun

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "table": self.table, "started_at": self.started_at, "finished_at": self.finished_at,
            "epoch": self.epoch.to_json() if self.epoch else None, "phase_version": self.phase_version,
            "fleet_converged": self.fleet_converged, "ranges_total": self.ranges_total,
            "ranges_done": self.ranges_done, "ranges_failed": self.ranges_failed, "rows": self.rows,
            "differences": self.differences, "sample": self.sample, "rerun": self.rerun, "repair": self.repair,
            "repaired": self.repaired, "forced": self.forced, "by": self.by,
        }

    @classmethod
    def from_json(cls, d: Any) -> RunRecord:
        if not isinstance(d, dict):
            raise PhaseError(f"a run record must be an object, got {d!r}")
        try:
            epoch = d.get("epoch")
            return cls(
                str(d["kind"]), str(d["table"]), float(d["started_at"]), float(d["finished_at"]),
                MirrorEpoch.from_json(epoch) if epoch is not None else None, int(d["phase_version"]),
                bool(d["fleet_converged"]), int(d.get("ranges_total", 0)), int(d.get("ranges_done", 0)),
                int(d.get("ranges_failed", 0)), int(d.get("rows", 0)), int(d.get("differences", 0)),
                float(d.get("sample", 100.0)), bool(d.get("rerun", False)), bool(d.get("repair", False)),
                int(d.get("repaired", 0)), bool(d.get("forced", False)), str(d.get("by", "")),
            )
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, PhaseError):
                raise
            raise PhaseError(f"malformed run record: {e!r}") from None


@dataclass(frozen=True)
class Hint:
    """How the commands in a refusal are spelled: the operator's mapping file and control store."""

    mapping: str = "MAPPING"
    control: str = "CONTROL"

    def command(self, kind: str, table: str) -> str:
        return f"cql-dynamo-proxy {kind} --mapping {self.mapping} --table {table} --control {self.control}"


@dataclass(frozen=True)
class Evidence:
    """What the gate looks at for one table: its current epoch, the fleet's state for that epoch
    and the latest recorded run of each kind (any epoch: the gate tells them apart)."""

    table: str
    epoch: MirrorEpoch | None
    backfill: RunRecord | None = None
    validate: RunRecord | None = None
    fleet_converged: bool = True  # now: every sidecar in view is on the epoch's version or later
    behind: Sequence[str] = field(default=())
    hint: Hint = field(default_factory=Hint)


class CutoverRefused(TransitionRefused):
    """A move into dynamo_fallback/dynamo the table has not earned; `missing` lists why."""

    def __init__(self, old: str, new: str, missing: list[str]) -> None:
        super().__init__(old, new, "; ".join(missing))
        self.missing = missing


def when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _since(epoch: MirrorEpoch) -> str:
    if epoch.version == 0:
        return "since dual_write converged (the mapping's phase, version 0)"
    return f"since dual_write converged (entered at phase version {epoch.version}, {when(epoch.at)})"


def needs_cutover(old: TablePhase, new: TablePhase) -> bool:
    """Some partition moves forward into dynamo_fallback or dynamo (coming back from dynamo to
    dynamo_fallback does not: that is the way back, and must stay open)."""
    return any(b in GATED and PHASES.index(b) > PHASES.index(a) for a, b in partition_moves(old, new))


def _backfill_problem(ev: Evidence, epoch: MirrorEpoch) -> str | None:
    t, b = ev.table, ev.backfill
    run = ev.hint.command("backfill", t)
    if b is None or b.epoch != epoch:
        earlier = f" (the last one, {when(b.started_at)}, ran before that)" if b is not None else ""
        return f"backfill of {t} not completed {_since(epoch)}{earlier}; run: {run}"
    if not b.fleet_converged:
        return (f"backfill of {t} at {when(b.started_at)} started before the fleet converged in dual_write "
                f"(forced); run it again: {run}")
    if not b.complete:
        failed = f"{b.ranges_failed} of {b.ranges_total} ranges failed" if b.ranges_failed else (
            f"{b.ranges_total - b.ranges_done} of {b.ranges_total} ranges not copied")
        return f"backfill of {t} at {when(b.started_at)} is not complete ({failed}); run it again (it resumes): {run}"
    return None


def _validate_problem(ev: Evidence, epoch: MirrorEpoch) -> str | None:
    t, v = ev.table, ev.validate
    run = ev.hint.command("validate", t)
    if v is None or v.epoch != epoch:
        earlier = f" (the last one, {when(v.started_at)}, ran before that)" if v is not None else ""
        return f"no validate of {t} {_since(epoch)}{earlier}; run: {run}"
    latest = f"the latest validate of {t} ({when(v.started_at)})"
    if not v.fleet_converged:
        return f"{latest} started before the fleet converged in dual_write; run it again: {run}"
    if v.rerun:
        return (f"{latest} compared only the ranges of an earlier report (--rerun-failed), which does not count; "
                f"run a full one: {run}")
    if v.sample < 100.0:
        return f"{latest} compared a {v.sample:g}% sample of the ranges, which does not count; run a full one: {run}"
    found = []
    if v.differences:
        found.append(f"found {v.differences} difference(s)" + (" (repaired)" if v.repair else ""))
    if v.ranges_failed:
        found.append(f"could not compare {v.ranges_failed} range(s)")
    if not found and v.ranges_done < v.ranges_total:
        found.append(f"compared {v.ranges_done} of {v.ranges_total} ranges")
    if found:
        then = "run it again" if not v.differences else (
            "confirm the repair with another validate" if v.repair else
            "repair them (validate --repair), then validate again")
        return f"{latest} {' and '.join(found)}; {then}: {run}"
    return None


def cutover_problems(ev: Evidence) -> list[str]:
    """What the table lacks to earn cutover now (empty: the gate is open)."""
    if ev.epoch is None:
        return [f"{ev.table} is not in dual_write or later for every partition"]
    out = [p for p in (_backfill_problem(ev, ev.epoch), _validate_problem(ev, ev.epoch)) if p]
    if out and not ev.fleet_converged:
        behind = f" (behind: {', '.join(ev.behind)})" if ev.behind else ""
        out.insert(0, f"the fleet has not converged in dual_write for {ev.table} yet{behind}: a run "
                      "started before it has does not count (see `phase status`)")
    return out


def check_cutover(old: TablePhase, new: TablePhase, ev: Evidence, force: bool = False) -> None:
    """Raises CutoverRefused when the move puts partitions into dynamo_fallback/dynamo that the
    table has not earned, unless `force`."""
    if force or not needs_cutover(old, new):
        return
    missing = cutover_problems(ev)
    if missing:
        raise CutoverRefused(old.phase, new.phase, missing)


def latest_runs(records: Sequence[RunRecord]) -> dict[str, dict[str, RunRecord]]:
    """table -> kind -> the run that started last."""
    out: dict[str, dict[str, RunRecord]] = {}
    for r in records:
        kinds = out.setdefault(r.table, {})
        if r.kind not in kinds or r.started_at >= kinds[r.kind].started_at:
            kinds[r.kind] = r
    return out
