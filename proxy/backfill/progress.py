"""Progress on stderr, Prometheus metrics and the end-of-run summary."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server, write_to_textfile


def _duration(s: float) -> str:
    s = int(s)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


@dataclass
class Progress:
    command: str  # backfill | validate
    ranges_total: int = 0
    ranges_done: int = 0
    ranges_skipped: int = 0  # done by an earlier run
    ranges_failed: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rows_unchanged: int = 0
    conflicts: int = 0
    write_units: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    out: TextIO = sys.stderr
    interval: float = 5.0
    metrics_file: str | None = None
    _last_print: float = 0.0

    def __post_init__(self) -> None:
        self.registry = CollectorRegistry()
        p = f"cdp_{self.command}"
        self.m_ranges = Gauge(f"{p}_ranges", "token ranges by state", ["state"], registry=self.registry)
        self.m_rows = Counter(f"{p}_rows", "rows by outcome", ["outcome"], registry=self.registry)
        self.m_units = Counter(f"{p}_write_units", "DynamoDB write units consumed", registry=self.registry)
        self.m_conflicts = Counter(f"{p}_conflicts", "conditional writes that lost to a concurrent writer",
                                   registry=self.registry)
        self.m_rate = Gauge(f"{p}_rows_per_second", "rows read per second since the start", registry=self.registry)

    def serve(self, port: int) -> None:
        start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def add(self, stats: dict[str, Any]) -> None:
        self.rows_read += stats.get("rows", 0)
        self.rows_written += stats.get("written", 0)
        self.rows_unchanged += stats.get("unchanged", 0)
        self.conflicts += stats.get("conflicts", 0)
        self.write_units += stats.get("write_units", 0)
        self.failures += stats.get("failed", 0)
        for e in stats.get("errors", ()):
            if len(self.errors) < 50:
                self.errors.append(e)
        self.m_rows.labels("read").inc(stats.get("rows", 0))
        self.m_rows.labels("written").inc(stats.get("written", 0))
        self.m_rows.labels("unchanged").inc(stats.get("unchanged", 0))
        self.m_rows.labels("failed").inc(stats.get("failed", 0))
        self.m_units.inc(stats.get("write_units", 0))
        self.m_conflicts.inc(stats.get("conflicts", 0))
        self.tick()

    def range_finished(self, ok: bool) -> None:
        if ok:
            self.ranges_done += 1
        else:
            self.ranges_failed += 1
        self.tick()

    @property
    def elapsed(self) -> float:
        return max(1e-9, time.monotonic() - self.started)

    def line(self) -> str:
        rate = self.rows_read / self.elapsed
        finished = self.ranges_done + self.ranges_skipped + self.ranges_failed
        todo = self.ranges_total - self.ranges_skipped
        done_now = self.ranges_done + self.ranges_failed
        eta = "?"
        if done_now and todo > done_now:
            eta = _duration(self.elapsed * (todo - done_now) / done_now)
        elif todo <= done_now:
            eta = "0s"
        return (f"[{self.command}] ranges {finished}/{self.ranges_total}"
                f"{f' ({self.ranges_failed} failed)' if self.ranges_failed else ''}, rows {self.rows_read} "
                f"({rate:.0f}/s), written {self.rows_written}, unchanged {self.rows_unchanged}, "
                f"elapsed {_duration(self.elapsed)}, ETA {eta}")

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        self.m_ranges.labels("total").set(self.ranges_total)
        self.m_ranges.labels("done").set(self.ranges_done + self.ranges_skipped)
        self.m_ranges.labels("failed").set(self.ranges_failed)
        self.m_rate.set(self.rows_read / self.elapsed)
        if force or now - self._last_print >= self.interval:
            self._last_print = now
            print(self.line(), file=self.out, flush=True)
            if self.metrics_file:
                write_to_textfile(self.metrics_file, self.registry)

    def summary(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "command": self.command,
            "ranges": {"total": self.ranges_total, "done": self.ranges_done, "done_earlier": self.ranges_skipped,
                       "failed": self.ranges_failed},
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_unchanged": self.rows_unchanged,
            "conflicts": self.conflicts,
            "write_units": self.write_units,
            "failures": self.failures,
            "duration_seconds": round(self.elapsed, 3),
            "rows_per_second": round(self.rows_read / self.elapsed, 1),
            "errors": self.errors,
            **(extra or {}),
        }


def outcome(summary: dict[str, Any]) -> str:
    """OK only for a run that did all it set out to and, for validate, found no difference."""
    r = summary["ranges"]
    if r["failed"] or summary["failures"] or summary.get("incomplete"):
        return "INCOMPLETE"
    if any(summary.get("differences", {}).values()):
        return "DIFFERENCES"
    return "OK"


def human(summary: dict[str, Any]) -> str:
    r = summary["ranges"]
    lines = [
        f"{summary['command']}: {outcome(summary)}",
        f"  ranges     {r['done']} done now, {r['done_earlier']} done earlier, {r['failed']} failed, "
        f"{r['total']} in all",
        f"  rows       {summary['rows_read']} read, {summary['rows_written']} written, "
        f"{summary['rows_unchanged']} skipped ({'Cassandra' if summary['command'] == 'restore' else 'DynamoDB'} "
        "already had them or newer)",
        f"  duration   {summary['duration_seconds']} s, {summary['rows_per_second']} rows/s",
        f"  DynamoDB   {summary['write_units']} write units, {summary['conflicts']} conflicts with live writes",
    ]
    if "differences" in summary:
        d = summary["differences"]
        lines.append(f"  differences {sum(d.values())}: " + ", ".join(f"{k} {v}" for k, v in sorted(d.items())))
    if summary.get("repaired") is not None:
        lines.append(f"  repaired   {summary['repaired']}")
    if summary["failures"] or summary["errors"]:
        lines.append(f"  errors     {summary['failures']} rows failed")
        lines.extend(f"    {e}" for e in summary["errors"][:10])
    return "\n".join(lines)
