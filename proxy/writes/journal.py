"""A local write-ahead journal for queued DynamoDB writes.

Each accepted write is appended (length, CRC32, JSON) before the client is answered, so a crash or
restart of the sidecar replays whatever DynamoDB had not confirmed. Sequence numbers are dense;
`mark_done` moves a low-water mark (every write at or below it is confirmed), which is persisted
and lets whole segment files be deleted. Replay may repeat a write that was confirmed just before a
crash: conditional last-write-wins writes are idempotent, counter increments are not (the same
guarantee Cassandra gives a client that retries a counter write).
"""

from __future__ import annotations

import fcntl
import heapq
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..aws.dynamodb_client import dumps

log = logging.getLogger(__name__)

_REC = struct.Struct(">II")  # payload length, crc32
_SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class Entry:
    seq: int
    table: str
    operation: str
    request: dict[str, Any]


class JournalCorrupt(Exception):
    pass


class Journal:
    def __init__(self, directory: str | Path, *, fsync: str = "batch", segment_bytes: int = _SEGMENT_BYTES) -> None:
        if fsync not in ("always", "batch", "never"):
            raise ValueError("fsync must be always, batch or never")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._done_path = self.dir / "done"
        self.low_water = self._read_done()
        self._pending_done: list[int] = []  # heap of confirmed seqs above the low-water mark
        self.next_seq = self.low_water + 1
        self._segments: list[tuple[int, Path]] = []  # (first seq, path)
        self._fh: Any = None
        self._size = 0
        self._dirty = False
        self._last_seq_in_segment: dict[Path, int] = {}

    # -- start-up ----------------------------------------------------------------------------------
    def _read_done(self) -> int:
        try:
            return int(self._done_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def recover(self) -> list[Entry]:
        """Entries not yet confirmed, in order. Call once before appending."""
        out: list[Entry] = []
        last = self.low_water
        for path in sorted(self.dir.glob("segment-*.log")):
            first = int(path.stem.split("-")[1])
            self._segments.append((first, path))
            seg_last = first - 1
            for entry in self._read_segment(path):
                seg_last = entry.seq
                last = max(last, entry.seq)
                if entry.seq > self.low_water:
                    out.append(entry)
            self._last_seq_in_segment[path] = seg_last
        self.next_seq = last + 1
        self._gc()
        return out

    def _read_segment(self, path: Path) -> Iterator[Entry]:
        data = path.read_bytes()
        pos = 0
        while pos + _REC.size <= len(data):
            n, crc = _REC.unpack_from(data, pos)
            body = data[pos + _REC.size : pos + _REC.size + n]
            if len(body) < n or zlib.crc32(body) != crc:
                # a torn final record from a crash mid-append: everything before it is intact
                log.warning("journal %s: dropping a torn record at offset %d", path.name, pos)
                with open(path, "r+b") as fh:
                    fh.truncate(pos)
                return
            rec = orjson.loads(body)
            yield Entry(rec["s"], rec["t"], rec["o"], rec["r"])
            pos += _REC.size + n

    # -- appending ---------------------------------------------------------------------------------
    def append(self, table: str, operation: str, request: dict[str, Any]) -> Entry:
        seq = self.next_seq
        self.next_seq += 1
        body = dumps({"s": seq, "t": table, "o": operation, "r": request})
        if self._fh is None or self._size + len(body) > self.segment_bytes:
            self._roll(seq)
        self._fh.write(_REC.pack(len(body), zlib.crc32(body)) + body)
        self._size += _REC.size + len(body)
        self._fh.flush()  # in the OS after this: survives a crash of the sidecar process
        if self.fsync == "always":
            os.fsync(self._fh.fileno())
        else:
            self._dirty = True
        assert self._segments
        self._last_seq_in_segment[self._segments[-1][1]] = seq
        return Entry(seq, table, operation, request)

    def _roll(self, first_seq: int) -> None:
        if self._fh is not None:
            self._fh.close()
        path = self.dir / f"segment-{first_seq:020d}.log"
        self._fh = open(path, "ab")  # noqa: SIM115 - kept open for appends
        self._size = self._fh.tell()
        self._segments.append((first_seq, path))
        self._last_seq_in_segment[path] = first_seq - 1

    def sync(self) -> None:
        """Group commit for fsync=batch; called periodically by the queue."""
        if self._dirty and self._fh is not None and self.fsync != "never":
            os.fsync(self._fh.fileno())
        self._dirty = False

    # -- confirmation ------------------------------------------------------------------------------
    def mark_done(self, seq: int) -> None:
        heapq.heappush(self._pending_done, seq)
        moved = False
        while self._pending_done and self._pending_done[0] == self.low_water + 1:
            self.low_water = heapq.heappop(self._pending_done)
            moved = True
        if moved and self.low_water % 256 == 0:
            self.checkpoint()

    def checkpoint(self) -> None:
        tmp = self._done_path.with_suffix(".tmp")
        tmp.write_text(str(self.low_water))
        os.replace(tmp, self._done_path)
        self._gc()

    def _gc(self) -> None:
        """Deletes segments whose every entry is confirmed (never the one being appended to)."""
        keep = []
        for i, (first, path) in enumerate(self._segments):
            last = self._last_seq_in_segment.get(path, first - 1)
            current = i == len(self._segments) - 1 and self._fh is not None
            if not current and last <= self.low_water:
                path.unlink(missing_ok=True)
                self._last_seq_in_segment.pop(path, None)
            else:
                keep.append((first, path))
        self._segments = keep

    @property
    def backlog(self) -> int:
        return self.next_seq - 1 - self.low_water - len(self._pending_done)

    def close(self) -> None:
        self.sync()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.checkpoint()


UNRESOLVED = "Unresolved"  # a dead letter replay cannot apply (see DeadLetters.record)


class DeadLetters:
    """Writes DynamoDB did not take, one JSON line each; `dead-letters replay` applies them again.

    Two sources: queued writes that failed for good (`add`), and writes a client got an error for
    while one store may have them and the other not (`record`, origin "mirror" or "authoritative",
    see docs/dual-write.md). Records with operation UNRESOLVED are conditional writes whose outcome
    in DynamoDB is unknown; replay keeps and lists them.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(self, entry: Entry, error: str) -> None:
        self._append({"seq": entry.seq, "table": entry.table, "operation": entry.operation,
                      "request": entry.request, "error": error})

    def record(self, table: str, operation: str, request: dict[str, Any], error: str, origin: str) -> None:
        """A write outside the queue (no journal sequence number), stamped with when and why."""
        self._append({"table": table, "operation": operation, "request": request, "error": error,
                      "origin": origin, "at": round(time.time(), 3)})

    def _append(self, rec: dict[str, Any]) -> None:
        # appended and flushed before the client hears its error: in the OS once the client knows.
        # Under an exclusive lock, to the file at the path: a replay that rewrote it meanwhile
        # (rewrite) leaves the old one unlinked, so the line goes to the new one instead.
        line = dumps(rec) + b"\n"
        with _locked(self.path, "ab") as fh:
            fh.write(line)
        self.count += 1

    def rewrite(self, keep: list[dict[str, Any]], read_size: int) -> None:
        """Replaces the file by `keep` (what a replay read, up to `read_size` bytes, and must keep)
        and every line appended since that read: a running sidecar may add some meanwhile."""
        with _locked(self.path, "ab+") as fh:
            fh.seek(read_size)
            since = fh.read()
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(b"".join(dumps(r) + b"\n" for r in keep) + since)
            tmp.replace(self.path)  # before the lock goes: a waiting append then sees the new file

    def read_sized(self) -> tuple[list[dict[str, Any]], int]:
        """The records and the number of bytes they were read from (for `rewrite`)."""
        try:
            with open(self.path, "rb") as fh:
                fcntl.flock(fh, fcntl.LOCK_SH)  # no half-appended last line
                data = fh.read()
        except FileNotFoundError:
            return [], 0
        return self._parse(data), len(data)

    def read(self) -> list[dict[str, Any]]:
        return self.read_sized()[0]

    @staticmethod
    def _parse(data: bytes) -> list[dict[str, Any]]:
        out = []
        for n, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            rec = orjson.loads(line)
            if not isinstance(rec, dict) or "operation" not in rec:  # replay would stop half-way
                raise ValueError(f"line {n} is not a dead-lettered write")
            out.append(rec)
        return out


@contextmanager
def _locked(path: Path, mode: str) -> Iterator[Any]:
    """The file at `path`, open in `mode` under an exclusive lock; opened again while a rewrite
    replaced it between the open and the lock."""
    while True:
        with open(path, mode) as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            if _still_at(fh, path):
                yield fh
                return


def _still_at(fh: Any, path: Path) -> bool:
    """Whether the open file is still the one at `path` (not replaced by a rewrite since it was opened)."""
    try:
        return os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
