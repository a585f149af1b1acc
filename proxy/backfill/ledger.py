"""The checkpoint ledger: one JSON line per event, appended and flushed as it happens, so a run that
is killed resumes from what was recorded.

    {"kind": "plan", "table": "ks.t", "ranges": ["start:end", ...]}   the ranges, fixed at the first run
    {"kind": "page", "table": ..., "range": ..., "state": HEX, "rows": N}  pages before `state` are written
    {"kind": "done", "table": ..., "range": ..., "rows": N}
    {"kind": "failed", "table": ..., "range": ..., "error": TEXT}     retried by the next run

A later run reuses the recorded plan (so a changed --splits or ring cannot shift range bounds under
recorded progress), skips ranges that are done and starts the others from their last page state.
A torn last line (the process died mid-write) is ignored.

A run that records its outcome for the cutover gate marks its progress (`"mark"` on page and done
lines: the table's dual_write epoch and whether the fleet had converged on it) and counts only
progress with its own mark, so ranges copied in an earlier dual_write stretch, or before the fleet
mirrored every write, are copied again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .ranges import TokenRange


@dataclass
class TableProgress:
    plan: list[TokenRange] | None = None
    done: dict[str, int] = field(default_factory=dict)  # range id -> rows
    pages: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # range id -> (state, rows so far)
    failed: dict[str, str] = field(default_factory=dict)
    marks: dict[str, str | None] = field(default_factory=dict)  # range id -> mark of its done/page line


class Ledger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tables: dict[str, TableProgress] = {}
        self._marks: dict[str, str] = {}
        self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open for the run

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        for line in data.splitlines():
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            self._apply(rec)

    def _apply(self, rec: dict[str, Any]) -> None:
        tp = self.tables.setdefault(rec["table"], TableProgress())
        kind = rec.get("kind")
        if kind == "plan":
            tp.plan = [TokenRange.parse(r) for r in rec["ranges"]]
        elif kind == "page":
            tp.pages[rec["range"]] = (bytes.fromhex(rec["state"]), int(rec.get("rows", 0)))
            tp.marks[rec["range"]] = rec.get("mark")
        elif kind == "done":
            tp.done[rec["range"]] = int(rec.get("rows", 0))
            tp.pages.pop(rec["range"], None)
            tp.failed.pop(rec["range"], None)
            tp.marks[rec["range"]] = rec.get("mark")
        elif kind == "failed":
            tp.failed[rec["range"]] = str(rec.get("error", ""))

    def set_mark(self, table: str, mark: str) -> None:
        """From now on `table`'s progress is recorded with `mark`, and only progress with it counts."""
        self._marks[table] = mark

    def record(self, rec: dict[str, Any], sync: bool = False) -> None:
        mark = self._marks.get(rec["table"])
        if mark is not None and rec.get("kind") in ("page", "done"):
            rec = {**rec, "mark": mark}
        self._apply(rec)
        self._fh.write(orjson.dumps(rec) + b"\n")
        self._fh.flush()
        if sync:
            os.fsync(self._fh.fileno())

    def plan_for(self, table: str, make: Any) -> list[TokenRange]:
        tp = self.tables.get(table)
        if tp is not None and tp.plan is not None:
            return tp.plan
        ranges: list[TokenRange] = make()
        self.record({"kind": "plan", "table": table, "ranges": [r.id for r in ranges]}, sync=True)
        return ranges

    def progress(self, table: str) -> TableProgress:
        """The table's progress; with a mark set, only what was recorded under it."""
        tp = self.tables.setdefault(table, TableProgress())
        mark = self._marks.get(table)
        if mark is None:
            return tp
        return TableProgress(tp.plan, {r: n for r, n in tp.done.items() if tp.marks.get(r) == mark},
                             {r: st for r, st in tp.pages.items() if tp.marks.get(r) == mark}, dict(tp.failed),
                             {r: m for r, m in tp.marks.items() if m == mark})

    def unmarked_done(self, table: str) -> int:
        """Ranges done under another mark (or none), which a marked run copies again."""
        tp = self.tables.get(table)
        mark = self._marks.get(table)
        if tp is None or mark is None:
            return 0
        return sum(1 for r in tp.done if tp.marks.get(r) != mark)

    def close(self) -> None:
        self._fh.close()
