"""Deadlines that close client connections which stall: the decision, without I/O.

A session keeps three timestamps (accepted, last complete frame, start of the frame being
received) and one event-loop timer. The timer is not moved when traffic arrives; when it fires,
`check` says whether a deadline has passed or when to look again, so a busy connection costs a
clock read per socket read and a timer callback every few seconds at most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# labels of cdp_connections_closed_total, all exported from the start
HANDSHAKE_TIMEOUT = "handshake_timeout"
PARTIAL_FRAME_TIMEOUT = "partial_frame_timeout"
IDLE_TIMEOUT = "idle_timeout"

# event-loop timers may fire a little early (uvloop keeps time in milliseconds): a deadline this
# close counts as reached rather than costing one more wake-up
SLACK = 0.005


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds; 0 turns a timeout off."""

    handshake: float
    partial_frame: float
    idle: float

    @property
    def any(self) -> bool:
        return bool(self.handshake or self.partial_frame or self.idle)


def validate(name: str, value: float) -> str | None:
    """Why a configured timeout is unusable, or None."""
    if not (math.isfinite(value) and value >= 0):
        return f"{name} must be a number of seconds, 0 or more (0 turns it off), got {value!r}"
    return None


def check(t: Timeouts, now: float, *, accepted: float, ready: bool, partial_since: float,
          last_frame: float) -> tuple[str | None, float | None]:
    """(reason to close now, None) or (None, when to check next; None: never).

    partial_since is 0 when no frame is half received; last_frame is the time of the last complete
    frame (or of acceptance, or of the last moment the sidecar, not the client, was the one waiting).
    """
    if t.handshake and not ready and now >= accepted + t.handshake - SLACK:
        return HANDSHAKE_TIMEOUT, None
    if t.partial_frame and partial_since and now >= partial_since + t.partial_frame - SLACK:
        return PARTIAL_FRAME_TIMEOUT, None
    if t.idle and now >= last_frame + t.idle - SLACK:
        return IDLE_TIMEOUT, None
    nxt = math.inf
    if t.handshake and not ready:
        nxt = accepted + t.handshake
    if t.partial_frame:
        # with no frame under way none can expire before now + partial_frame
        nxt = min(nxt, (partial_since or now) + t.partial_frame)
    if t.idle:
        nxt = min(nxt, last_frame + t.idle)
    return None, (None if nxt == math.inf else nxt)
