"""Upstream stream-id allocation for one Cassandra connection.

Each client request gets a fresh upstream id, so requests the sidecar injects itself never collide
with the client's own ids, and the client keeps its whole id space.
"""

from __future__ import annotations

MAX_STREAMS = 32768  # v3+: a signed [short], non-negative for requests


class StreamIdsExhausted(Exception):
    pass


class StreamIdPool:
    __slots__ = ("_free", "capacity")

    def __init__(self, capacity: int = MAX_STREAMS) -> None:
        self.capacity = capacity
        # LIFO reuse keeps recently used ids hot and the list short to pop from
        self._free = list(range(capacity - 1, -1, -1))

    def acquire(self) -> int:
        try:
            return self._free.pop()
        except IndexError:
            raise StreamIdsExhausted("no free stream id on the Cassandra connection") from None

    def release(self, sid: int) -> None:
        self._free.append(sid)

    @property
    def in_use(self) -> int:
        return self.capacity - len(self._free)
