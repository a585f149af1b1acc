"""The fleet view: which sidecar runs which control version, and whether all of them have converged
on the current one (the backfill must not start before they have). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .control_store import Heartbeat

# A sidecar whose last beat is older than this is "gone" and left out of the view (it stopped
# without saying goodbye); between stale_after and this it is reported stale and still counted.
FORGET_AFTER = 600.0


def fleet_report(current_version: int, beats: Iterable[Heartbeat], *, now: float, stale_after: float,
                 forget_after: float = FORGET_AFTER) -> dict[str, Any]:
    """Converged means every sidecar still in view, stale ones included, runs `current_version`
    or later: a sidecar that cannot reach the store may still be serving the old phases, so it must
    hold convergence back until it is back or gone."""
    sidecars = []
    behind = []
    applied: list[float] = []
    for b in sorted(beats, key=lambda b: b.sidecar_id):
        age = now - b.last_beat
        if age > forget_after:
            continue
        stale = age > stale_after
        on_current = b.version >= current_version
        if on_current:
            applied.append(b.applied_at)
        else:
            behind.append(b.sidecar_id)
        sidecars.append({**b.to_json(), "heartbeat_age_seconds": round(max(0.0, age), 3), "stale": stale,
                         "current": on_current})
    converged = bool(sidecars) and not behind
    return {
        "version": current_version,
        "sidecars": sidecars,
        "total": len(sidecars),
        "on_current_version": len(sidecars) - len(behind),
        "stale": sum(1 for s in sidecars if s["stale"]),
        "behind": behind,
        "converged": converged,
        # the moment the last sidecar applied the current version
        "converged_at": max(applied) if converged and applied else None,
    }
