"""Stream ids on a session's Cassandra connection.

A client request keeps its own stream id upstream whenever that id is free there, so its frame and
its answer cross unchanged (proxy.session.pass_lane). The sidecar's own requests, and a client's
request whose id one of them holds, take a free id searched downwards from the top of the space:
drivers number their streams from 0 up, so the two rarely meet. An id is free when no request in
flight holds it; there is no free list to keep (memory stays what is in flight).
"""

from __future__ import annotations

from collections.abc import Container

MAX_STREAMS = 32768  # v3+: a signed [short], non-negative for requests


class StreamIdsExhausted(Exception):
    pass


def own_stream_id(*in_use: Container[int], capacity: int = MAX_STREAMS) -> int:
    """The highest id in none of `in_use` (the maps of requests in flight by stream id). The search
    starts at the top every time: the sidecar's own requests in flight are few, so it is short,
    and it stays clear of the low ids drivers use."""
    for sid in range(capacity - 1, -1, -1):
        if not any(sid in held for held in in_use):
            return sid
    raise StreamIdsExhausted("no free stream id on the Cassandra connection")
