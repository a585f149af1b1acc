"""Migration phases per table: the order, the transition guard, versioned snapshots and the registry
the request path reads. Pure: no I/O, no clock reads except where a caller passes one in.

A table's phase is a `TablePhase(phase, share)`: `share` percent of its partitions are in `phase`,
the others in the phase before it (a gradual rollout). Which partitions are "in" is decided by
`partition_bucket(key) < share`, so raising the share only ever moves partitions forward.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from translators.mapping.model import PHASES  # the one list of phases, in their order

log = logging.getLogger(__name__)

_INDEX = {p: i for i, p in enumerate(PHASES)}

# Which store decides (authoritative) and which stores each phase writes.
AUTHORITY: Mapping[str, str] = MappingProxyType({
    "cassandra": "cassandra", "dual_write": "cassandra", "verify": "cassandra",
    "dynamo_fallback": "dynamodb", "dynamo": "dynamodb",
})
WRITES: Mapping[str, frozenset[str]] = MappingProxyType({
    "cassandra": frozenset({"cassandra"}),
    "dual_write": frozenset({"cassandra", "dynamodb"}),
    "verify": frozenset({"cassandra", "dynamodb"}),
    "dynamo_fallback": frozenset({"cassandra", "dynamodb"}),
    "dynamo": frozenset({"dynamodb"}),
})


class PhaseError(ValueError):
    """An invalid phase, share, table name or snapshot."""


@dataclass(frozen=True, slots=True)
class MirrorEpoch:
    """The phase version (and its commit time) at which every partition of a table last entered
    `dual_write` or a later phase: from then on DynamoDB gets every write. A backfill or validate
    counts towards the cutover gate only if it ran in the table's current epoch; going back to
    `cassandra` (even for some partitions) ends the epoch, and the next entry starts a new one.
    Version 0 is the mapping's own phase (a table that starts in dual_write or later)."""

    version: int
    at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "at": self.at}

    @classmethod
    def from_json(cls, data: Any) -> MirrorEpoch:
        if not isinstance(data, dict) or isinstance(data.get("version"), bool):
            raise PhaseError(f"a mirror epoch must be an object with 'version', got {data!r}")
        try:
            return cls(int(data["version"]), float(data.get("at") or 0.0))
        except (KeyError, TypeError, ValueError):
            raise PhaseError(f"malformed mirror epoch {data!r}") from None


class TransitionRefused(PhaseError):
    """A phase change that could lose data; `force` overrides it."""

    def __init__(self, old: str, new: str, reason: str) -> None:
        super().__init__(f"{old} -> {new} refused: {reason} (force to override)")
        self.old = old
        self.new = new
        self.reason = reason


def previous_phase(phase: str) -> str | None:
    i = _INDEX[phase]
    return PHASES[i - 1] if i else None


def partition_bucket(partition_key: bytes) -> float:
    """A stable position in [0, 100) for a serialized partition key, the same in every sidecar and
    every process (Python's hash() is salted per process, so it would split the fleet)."""
    h = int.from_bytes(hashlib.blake2b(partition_key, digest_size=8).digest(), "big")
    return h * 100.0 / 18446744073709551616.0


def phase_for_bucket(phase: str, share: float, bucket: float) -> str:
    """The rollout rule, the one both the phase store and the request path use: a partition at
    `bucket` is in `phase` when the bucket is below the share, else in the phase before it."""
    if bucket < share:
        return phase
    prev = previous_phase(phase)
    return phase if prev is None else prev


@dataclass(frozen=True, slots=True)
class TablePhase:
    phase: str
    share: float = 100.0
    # some partitions were in `dynamo` since Cassandra was last authoritative: Cassandra lacks
    # writes, so it must not become authoritative again unless an operator forces it (after repair)
    cassandra_behind: bool = field(default=False, compare=False)
    # when the table's current stretch of dual_write-or-later began (None: the store does not say,
    # see `mirror_epoch`); history like cassandra_behind, so not part of equality
    mirrored_since: MirrorEpoch | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.phase not in _INDEX:
            raise PhaseError(f"unknown phase {self.phase!r} (one of {', '.join(PHASES)})")
        share = float(self.share)
        if not 0.0 < share <= 100.0 or share != share:
            raise PhaseError(f"share must be more than 0 and at most 100, got {self.share!r}")
        if self.phase == PHASES[0] and share != 100.0:
            raise PhaseError(f"{PHASES[0]} has no phase before it: its share is always 100")
        object.__setattr__(self, "share", share)

    @property
    def previous(self) -> str | None:
        """The phase the partitions outside `share` are in (None when every partition is in `phase`)."""
        return previous_phase(self.phase) if self.share < 100.0 else None

    @property
    def phases(self) -> tuple[str, ...]:
        """Every phase some partition of the table is in."""
        prev = self.previous
        return (self.phase,) if prev is None else (prev, self.phase)

    @property
    def mirrored(self) -> bool:
        """Every partition is in a phase that writes DynamoDB (dual_write or later)."""
        return all(_INDEX[p] >= _INDEX["dual_write"] for p in self.phases)

    def phase_for_bucket(self, bucket: float) -> str:
        """The phase of a partition at `bucket` (see `partition_bucket`)."""
        return phase_for_bucket(self.phase, self.share, bucket)

    def phase_for_key(self, partition_key: bytes) -> str:
        return self.phase if self.share >= 100.0 else self.phase_for_bucket(partition_bucket(partition_key))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase, "share": self.share}
        if self.cassandra_behind:
            out["cassandra_behind"] = True
        if self.mirrored_since is not None:
            out["mirrored_since"] = self.mirrored_since.to_json()
        return out

    @classmethod
    def from_json(cls, data: Any) -> TablePhase:
        if not isinstance(data, dict) or "phase" not in data:
            raise PhaseError(f"a table phase must be an object with 'phase', got {data!r}")
        share = data.get("share", 100.0)
        if isinstance(share, bool) or not isinstance(share, int | float):
            raise PhaseError(f"share must be a number, got {share!r}")
        since = data.get("mirrored_since")
        return cls(str(data["phase"]), float(share), bool(data.get("cassandra_behind", False)),
                   MirrorEpoch.from_json(since) if since is not None else None)

    def __str__(self) -> str:
        if self.share >= 100.0:
            return self.phase
        return f"{self.phase} {self.share:g}% (rest {self.previous})"


# -- the guard ---------------------------------------------------------------------------------------

def phase_move_problem(old: str, new: str) -> str | None:
    """Why moving a partition from phase `old` to `new` could lose data, or None when it cannot.

    During a flip some sidecars still run `old` while others run `new`, so writes land in
    WRITES[old] or WRITES[new]. Afterwards AUTHORITY[new] must hold every write. That holds when
    the authority stays the same, or when the new authority was already written in `old` and the
    old authority is still written in `new` (so a shadow copy with gaps is still backed up)."""
    if old == new:
        return None
    if old == "dynamo" and AUTHORITY[new] == "cassandra":
        return "Cassandra missed every write made while the table was in dynamo"
    if _INDEX[new] > _INDEX[old] and old == "cassandra" and new != "dual_write":
        return ("skips dual_write: DynamoDB holds none of the table's writes yet; go through dual_write "
                "(and the backfill) first")
    a_old, a_new = AUTHORITY[old], AUTHORITY[new]
    if a_old == a_new:
        return None
    if a_new not in WRITES[old]:
        return f"{_store(a_new)} was not written in {old}, so it lacks writes"
    if a_old not in WRITES[new]:
        return (f"{_store(a_new)} becomes the only store while it held just a shadow copy in {old} "
                f"(failed mirror writes, unfinished backfill); go through "
                f"{'dynamo_fallback' if a_new == 'dynamodb' else 'verify'} first")
    return None


def _store(name: str) -> str:
    return "DynamoDB" if name == "dynamodb" else "Cassandra"


def partition_moves(old: TablePhase, new: TablePhase) -> list[tuple[str, str]]:
    """Every (old phase, new phase) a partition goes through when the table goes from `old` to
    `new`: partitions are ordered by bucket, so the shares cut [0, 100) into at most three runs."""
    cuts = sorted({0.0, old.share, new.share, 100.0})
    moves: list[tuple[str, str]] = []
    for lo, hi in pairwise(cuts):
        if hi > lo:
            move = (old.phase_for_bucket(lo), new.phase_for_bucket(lo))
            if move not in moves:
                moves.append(move)
    return moves


def check_transition(old: TablePhase, new: TablePhase, force: bool = False) -> None:
    """Raises TransitionRefused when some partition would move between phases in a way that can
    lose data, unless `force`. Besides each partition's own move, it remembers a table's time in
    `dynamo` (`cassandra_behind`): Cassandra missed those writes, however many steps back it is."""
    if force:
        return
    for a, b in partition_moves(old, new):
        problem = phase_move_problem(a, b)
        if problem is not None:
            raise TransitionRefused(a, b, problem)
    if old.cassandra_behind and any(AUTHORITY[p] == "cassandra" for p in new.phases):
        raise TransitionRefused(old.phase, new.phase, "Cassandra missed the writes made while the table was in "
                                                      "dynamo; repair Cassandra first, then force this step")


def carry_history(old: TablePhase, new: TablePhase, *, version: int = 0, at: float = 0.0) -> TablePhase:
    """`new` with the history the move gives it, `version`/`at` being the phase version the move is
    committed as:
    - `cassandra_behind`: set by any partition in `dynamo`, kept while DynamoDB stays
      authoritative, cleared when Cassandra is (a forced step after repair);
    - `mirrored_since`: kept while every partition stays in dual_write or later, started at
      `version` when the last partition gets there, dropped when any partition is back in cassandra."""
    behind = "dynamo" in new.phases or (old.cassandra_behind and all(AUTHORITY[p] == "dynamodb" for p in new.phases))
    since: MirrorEpoch | None = None
    if new.mirrored:
        since = mirror_epoch(old) or MirrorEpoch(version, at)
    return TablePhase(new.phase, new.share, behind, since)


def mirror_epoch(tp: TablePhase) -> MirrorEpoch | None:
    """The epoch the table is in, None when some partition is in `cassandra`. A table in dual_write
    or later with no recorded start got there in the mapping (or before the store kept epochs):
    epoch 0."""
    if not tp.mirrored:
        return None
    return tp.mirrored_since or MirrorEpoch(0)


# -- snapshots -----------------------------------------------------------------------------------------

def table_key(keyspace: str, table: str) -> str:
    return f"{keyspace}.{table}"


def split_table_key(name: str) -> tuple[str, str]:
    ks, dot, table = name.partition(".")
    if not dot or not ks or not table or "." in table:
        raise PhaseError(f"{name!r} is not KEYSPACE.TABLE")
    return ks, table


@dataclass(frozen=True)
class PhaseSet:
    """An immutable, versioned snapshot of every controlled table's phase. Version 0 is the
    mapping's (and --phases') own; the control store hands out 1, 2, ..."""

    version: int
    tables: Mapping[str, TablePhase]
    updated_at: float = 0.0
    updated_by: str = ""

    def __post_init__(self) -> None:
        if self.version < 0:
            raise PhaseError("a phase set version is never negative")
        for name in self.tables:
            split_table_key(name)
        object.__setattr__(self, "tables", MappingProxyType(dict(sorted(self.tables.items()))))

    def get(self, name: str) -> TablePhase | None:
        return self.tables.get(name)

    def with_table(self, name: str, phase: TablePhase, *, at: float, by: str) -> PhaseSet:
        """The next version with one table changed."""
        split_table_key(name)
        return PhaseSet(self.version + 1, {**self.tables, name: phase}, at, by)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "tables": {k: v.to_json() for k, v in self.tables.items()},
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }

    @classmethod
    def from_json(cls, data: Any) -> PhaseSet:
        if not isinstance(data, dict):
            raise PhaseError("a phase set must be an object")
        try:
            version = int(data["version"])
            tables = data.get("tables") or {}
            if not isinstance(tables, dict):
                raise PhaseError("tables must be an object")
            return cls(version, {str(k): TablePhase.from_json(v) for k, v in tables.items()},
                       float(data.get("updated_at") or 0.0), str(data.get("updated_by") or ""))
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, PhaseError):
                raise
            raise PhaseError(f"malformed phase set: {e!r}") from None


def phaseset_from_phases(phases: Iterable[tuple[str, str, str]], *, at: float = 0.0,
                         by: str = "mapping") -> PhaseSet:
    """Version 0 from (keyspace, table, phase) triples, e.g. the mapping's tables."""
    return PhaseSet(0, {table_key(ks, t): TablePhase(p) for ks, t, p in phases}, at, by)


# -- the registry ---------------------------------------------------------------------------------------

Listener = Callable[[PhaseSet, PhaseSet], None]


@dataclass(frozen=True)
class PhaseChange:
    table: str
    old: TablePhase | None
    new: TablePhase | None


def diff(old: PhaseSet, new: PhaseSet) -> list[PhaseChange]:
    names = sorted(set(old.tables) | set(new.tables))
    return [PhaseChange(n, old.tables.get(n), new.tables.get(n)) for n in names
            if old.tables.get(n) != new.tables.get(n)]


@dataclass
class PhaseRegistry:
    """The phases this sidecar runs. The request path calls `phase_of` (one dict lookup); the
    control watcher calls `apply` with newer snapshots from the store.

    The effective snapshot is the baseline (mapping + --phases, version 0) overlaid with the newest
    applied control snapshot: tables the store never mentioned keep the mapping's phase."""

    baseline: PhaseSet
    _current: PhaseSet = field(init=False)
    _by_key: dict[tuple[str, str], TablePhase] = field(init=False)
    _listeners: list[Listener] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._install(self.baseline)

    def _install(self, ps: PhaseSet) -> None:
        by_key = {split_table_key(name): tp for name, tp in ps.tables.items()}
        # one assignment each, so a reader on the loop never sees half a snapshot
        self._current = ps
        self._by_key = by_key

    @property
    def current(self) -> PhaseSet:
        return self._current

    @property
    def version(self) -> int:
        return self._current.version

    def phase_of(self, keyspace: str, table: str) -> TablePhase | None:
        """The table's phase, or None for a table the sidecar does not control."""
        return self._by_key.get((keyspace, table))

    def effective(self, ps: PhaseSet) -> PhaseSet:
        return PhaseSet(ps.version, {**self.baseline.tables, **ps.tables}, ps.updated_at, ps.updated_by)

    def apply(self, ps: PhaseSet) -> bool:
        """Installs `ps` if it is newer than the current version; returns whether it did. Listeners
        run after the switch, with (old, new)."""
        if ps.version <= self._current.version:
            return False
        old = self._current
        new = self.effective(ps)
        self._install(new)
        for listener in list(self._listeners):
            try:
                listener(old, new)
            except Exception:  # one broken listener must not stop the flip for the others
                log.exception("phase listener %r failed", listener)
        return True

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)
