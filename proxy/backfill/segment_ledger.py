"""The reverse copy's checkpoints: one JSON line per event, appended and flushed as it happens.

    {"kind": "plan", "table": "ks.t", "segments": N}                 fixed at the first run
    {"kind": "page", "table": ..., "segment": I, "key": {...}, "rows": N}  items before `key` are written
    {"kind": "done", "table": ..., "segment": I, "rows": N}
    {"kind": "failed", "table": ..., "segment": I, "error": TEXT}     retried by the next run

`key` is the Scan's LastEvaluatedKey: a later run starts the segment there (ExclusiveStartKey).
The segment count is taken from the ledger, as a Parallel Scan's segments only mean something for
the TotalSegments they were cut with. A torn last line is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass
class SegmentProgress:
    segments: int | None = None
    done: set[int] = field(default_factory=set)
    keys: dict[int, dict[str, Any]] = field(default_factory=dict)


class SegmentLedger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tables: dict[str, SegmentProgress] = {}
        if self.path.exists():
            for line in self.path.read_bytes().splitlines():
                try:
                    self._apply(orjson.loads(line))
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open for the run

    def _apply(self, rec: dict[str, Any]) -> None:
        tp = self.tables.setdefault(rec["table"], SegmentProgress())
        kind = rec["kind"]
        if kind == "plan":
            tp.segments = int(rec["segments"])
        elif kind == "page":
            tp.keys[int(rec["segment"])] = rec["key"]
        elif kind == "done":
            tp.done.add(int(rec["segment"]))
            tp.keys.pop(int(rec["segment"]), None)

    def record(self, rec: dict[str, Any]) -> None:
        self._apply(rec)
        self._fh.write(orjson.dumps(rec) + b"\n")
        self._fh.flush()

    def plan_for(self, table: str, segments: int) -> int:
        tp = self.tables.get(table)
        if tp is not None and tp.segments is not None:
            return tp.segments
        self.record({"kind": "plan", "table": table, "segments": segments})
        return segments

    def progress(self, table: str) -> SegmentProgress:
        return self.tables.setdefault(table, SegmentProgress())

    def close(self) -> None:
        self._fh.close()
