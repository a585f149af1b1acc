"""What the sidecar does with a request: the phase rules (rules.py), the request decoded once
(request.py) and the one pure decision over both (decide.py)."""

from .rules import (
    DYNAMO_AUTHORITATIVE,
    MIRRORED_PHASES,
    QUIET_READ_PHASES,
    WRITING_PHASES,
    Kind,
    Route,
    effective_phase,
    route,
    table_bucket,
    write_route,
)

__all__ = ["DYNAMO_AUTHORITATIVE", "MIRRORED_PHASES", "QUIET_READ_PHASES", "WRITING_PHASES", "Kind", "Route",
           "effective_phase", "route", "table_bucket", "write_route"]
