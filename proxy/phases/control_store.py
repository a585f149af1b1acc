"""Where a fleet's phases live: the current PhaseSet (versioned, compare-and-set), an audit trail of
every change, and one heartbeat per sidecar. Two backends: a local directory (one sidecar, or
development) and a DynamoDB table (a fleet; proxy.phases.control_dynamodb)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .cutover import RunRecord
from .model import PhaseError, PhaseSet, TablePhase


class ControlStoreError(Exception):
    """The store could not be read or written (unreachable, malformed content)."""


class VersionConflict(ControlStoreError):
    """Another writer committed first: the store is no longer at the expected version."""

    def __init__(self, expected: int, current: int | None) -> None:
        now = "unknown" if current is None else str(current)
        super().__init__(f"a concurrent update won: expected version {expected}, the store is at {now}")
        self.expected = expected
        self.current = current


@dataclass(frozen=True)
class AuditEntry:
    version: int
    at: float
    by: str
    table: str
    old: TablePhase | None
    new: TablePhase
    force: bool = False
    overridden: str = ""  # with force: the refusal it overrode (empty: the move needed no force)

    def to_json(self) -> dict[str, Any]:
        out = {"version": self.version, "at": self.at, "by": self.by, "table": self.table,
               "old": self.old.to_json() if self.old else None, "new": self.new.to_json(), "force": self.force}
        if self.overridden:
            out["overridden"] = self.overridden
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AuditEntry:
        old = d.get("old")
        return cls(int(d["version"]), float(d["at"]), str(d["by"]), str(d["table"]),
                   TablePhase.from_json(old) if old else None, TablePhase.from_json(d["new"]),
                   bool(d.get("force", False)), str(d.get("overridden") or ""))


@dataclass(frozen=True)
class Heartbeat:
    sidecar_id: str
    host: str
    version: int  # the control version the sidecar runs
    applied_at: float  # when it installed that version (epoch seconds)
    last_beat: float
    started_at: float

    def to_json(self) -> dict[str, Any]:
        return {"sidecar_id": self.sidecar_id, "host": self.host, "version": self.version,
                "applied_at": self.applied_at, "last_beat": self.last_beat, "started_at": self.started_at}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Heartbeat:
        return cls(str(d["sidecar_id"]), str(d.get("host", "")), int(d["version"]), float(d["applied_at"]),
                   float(d["last_beat"]), float(d.get("started_at", 0.0)))


class ControlStore(ABC):
    """Every method may raise ControlStoreError; `commit` raises VersionConflict when it loses."""

    @property
    @abstractmethod
    def description(self) -> str: ...

    @property
    @abstractmethod
    def spec(self) -> str:
        """The store as `--control` names it (file:DIR or dynamodb:TABLE)."""

    @property
    def fleet_key(self) -> str:
        """What sidecars sharing this store (one fleet) have in common and other fleets do not."""
        return self.description

    @abstractmethod
    async def load(self) -> PhaseSet | None:
        """The newest committed PhaseSet (strongly consistent), None before the first change."""

    @abstractmethod
    async def commit(self, new: PhaseSet, expected_version: int, audit: AuditEntry) -> None:
        """Stores `new` if the store is still at `expected_version` (0: nothing stored yet), together
        with its audit entry."""

    @abstractmethod
    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The newest `limit` audit entries, newest first."""

    @abstractmethod
    async def heartbeat(self, beat: Heartbeat) -> None: ...

    @abstractmethod
    async def heartbeats(self) -> list[Heartbeat]: ...

    @abstractmethod
    async def remove_heartbeat(self, sidecar_id: str) -> None:
        """A sidecar leaving cleanly takes itself out of the fleet view."""

    @abstractmethod
    async def record_run(self, run: RunRecord) -> bool:
        """Keeps `run` as its table's latest run of its kind, unless one that started later is kept
        already (a slow run finishing last must not hide a newer outcome). True when kept."""

    @abstractmethod
    async def runs(self) -> list[RunRecord]:
        """Every table's latest backfill and validate run (see proxy.phases.cutover)."""

    async def close(self) -> None:
        return None


def _decode_phaseset(raw: bytes, where: str) -> PhaseSet:
    try:
        return PhaseSet.from_json(orjson.loads(raw))
    except (orjson.JSONDecodeError, PhaseError) as e:
        raise ControlStoreError(f"{where}: malformed phase set: {e}") from None


class FileControlStore(ControlStore):
    """A directory: `phases.json` (replaced atomically), `audit.jsonl` (append-only),
    `sidecars/<id>.json` and `runs/<ks.table>.<kind>.json` (the latest backfill and validate of
    each table). An flock on `.lock` serialises commits of processes on one host."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.phases_path = self.dir / "phases.json"
        self.audit_path = self.dir / "audit.jsonl"
        self.sidecars_dir = self.dir / "sidecars"
        self.runs_dir = self.dir / "runs"

    @property
    def description(self) -> str:
        return f"file:{self.dir}"

    @property
    def spec(self) -> str:
        return f"file:{self.dir}"

    @property
    def fleet_key(self) -> str:
        # a directory is shared only on its host: the same path elsewhere is another fleet
        return f"file:{socket.gethostname()}:{self.dir}"

    def _ensure_dirs(self) -> None:
        try:
            self.sidecars_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ControlStoreError(f"cannot create {self.sidecars_dir}: {e.strerror}") from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure_dirs()
        with open(self.dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _read_phases(self) -> PhaseSet | None:
        try:
            raw = self.phases_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ControlStoreError(f"cannot read {self.phases_path}: {e.strerror}") from None
        return _decode_phaseset(raw, str(self.phases_path))

    async def load(self) -> PhaseSet | None:
        return self._read_phases()

    async def commit(self, new: PhaseSet, expected_version: int, audit: AuditEntry) -> None:
        try:
            with self._locked():
                cur = self._read_phases()
                at = cur.version if cur else 0
                if at != expected_version:
                    raise VersionConflict(expected_version, at)
                self._write_atomic(self.phases_path, orjson.dumps(new.to_json()))
                with open(self.audit_path, "ab") as fh:
                    fh.write(orjson.dumps(audit.to_json()) + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
        except OSError as e:
            raise ControlStoreError(f"cannot write {self.dir}: {e.strerror}") from None

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        try:
            lines = self.audit_path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise ControlStoreError(f"cannot read {self.audit_path}: {e.strerror}") from None
        out: list[AuditEntry] = []
        for line in reversed(lines):
            if len(out) >= limit:
                break
            if line.strip():
                try:
                    out.append(AuditEntry.from_json(orjson.loads(line)))
                except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
                    continue  # a torn last line after a crash: the phase file is the truth
        return out

    def _beat_path(self, sidecar_id: str) -> Path:
        return self.sidecars_dir / (re.sub(r"[^A-Za-z0-9._-]", "_", sidecar_id) + ".json")

    async def heartbeat(self, beat: Heartbeat) -> None:
        self._ensure_dirs()
        try:
            self._write_atomic(self._beat_path(beat.sidecar_id), orjson.dumps(beat.to_json()))
        except OSError as e:
            raise ControlStoreError(f"cannot write heartbeat in {self.sidecars_dir}: {e.strerror}") from None

    async def heartbeats(self) -> list[Heartbeat]:
        out = []
        try:
            paths = sorted(self.sidecars_dir.glob("*.json"))
        except OSError as e:
            raise ControlStoreError(f"cannot list {self.sidecars_dir}: {e.strerror}") from None
        for p in paths:
            try:
                out.append(Heartbeat.from_json(orjson.loads(p.read_bytes())))
            except (OSError, orjson.JSONDecodeError, KeyError, ValueError, TypeError):
                continue  # removed or being replaced right now
        return out

    async def remove_heartbeat(self, sidecar_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._beat_path(sidecar_id).unlink()

    def _run_path(self, table: str, kind: str) -> Path:
        return self.runs_dir / (re.sub(r"[^A-Za-z0-9._-]", "_", f"{table}.{kind}") + ".json")

    @staticmethod
    def _read_run(path: Path) -> RunRecord | None:
        try:
            return RunRecord.from_json(orjson.loads(path.read_bytes()))
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ControlStoreError(f"cannot read {path}: {e.strerror}") from None
        except (orjson.JSONDecodeError, PhaseError) as e:
            raise ControlStoreError(f"{path}: malformed run record: {e}") from None

    async def record_run(self, run: RunRecord) -> bool:
        path = self._run_path(run.table, run.kind)
        try:
            with self._locked():
                self.runs_dir.mkdir(exist_ok=True)
                try:
                    kept = self._read_run(path)
                except ControlStoreError:
                    kept = None  # a damaged record is replaced by a sound one
                if kept is not None and kept.started_at > run.started_at:
                    return False
                self._write_atomic(path, orjson.dumps(run.to_json()))
                return True
        except OSError as e:
            raise ControlStoreError(f"cannot write {path}: {e.strerror}") from None

    async def runs(self) -> list[RunRecord]:
        try:
            paths = sorted(self.runs_dir.glob("*.json"))
        except OSError as e:
            raise ControlStoreError(f"cannot list {self.runs_dir}: {e.strerror}") from None
        out = []
        for p in paths:
            try:
                r = self._read_run(p)
            except ControlStoreError:
                continue  # damaged: as if never recorded, so the gate asks for the run again
            if r is not None:
                out.append(r)
        return out


def parse_control(spec: str, state_dir: str) -> tuple[str, str]:
    """`file:/dir` or `dynamodb:TABLE` (empty: a directory under state_dir) -> (kind, target)."""
    spec = spec.strip()
    if not spec:
        return "file", str(Path(state_dir) / "control")
    kind, sep, target = spec.partition(":")
    if not sep or kind not in ("file", "dynamodb") or not target.strip():
        raise ValueError(f"control: {spec!r} must be file:/path/dir or dynamodb:TABLE_NAME")
    target = target.strip()
    if kind == "dynamodb" and not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", target):
        raise ValueError(f"control: {target!r} is not a valid DynamoDB table name")
    return kind, target
