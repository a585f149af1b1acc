"""Upstream stream-id allocation for one Cassandra connection.

Each client request gets a fresh upstream id, so requests the sidecar injects itself never collide
with the client's own ids, and the client keeps its whole id space.

Ids are handed out lazily: a high-water mark for ids never used yet plus a LIFO free list of
released ones. A connection costs memory for the most requests it ever had in flight at once, not
for the whole 32,768-id space (a pre-filled list cost about 1.2 MB per connection).
"""

from __future__ import annotations

MAX_STREAMS = 32768  # v3+: a signed [short], non-negative for requests


class StreamIdsExhausted(Exception):
    pass


class StreamIdPool:
    __slots__ = ("_free", "_next", "capacity")

    def __init__(self, capacity: int = MAX_STREAMS) -> None:
        self.capacity = capacity
        self._next = 0  # ids below this were handed out at least once
        # LIFO reuse keeps recently used ids hot and the list as short as the peak in flight
        self._free: list[int] = []

    def acquire(self) -> int:
        # the common case (an id was released before) is a bare pop; no branch before it
        try:
            return self._free.pop()
        except IndexError:
            return self._fresh()

    def _fresh(self) -> int:
        sid = self._next
        if sid >= self.capacity:
            raise StreamIdsExhausted("no free stream id on the Cassandra connection")
        self._next = sid + 1
        return sid

    def release(self, sid: int) -> None:
        self._free.append(sid)

    @property
    def in_use(self) -> int:
        return self._next - len(self._free)
