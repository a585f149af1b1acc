"""Admin API for phases: read them, change one table's phase fleet-wide, see the fleet converge,
read the audit trail. Mounted by proxy.admin.app behind the same bearer token."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..phases.control_store import ControlStoreError, VersionConflict
from ..phases.cutover import CutoverRefused
from ..phases.model import PhaseError, TablePhase, TransitionRefused, split_table_key
from ..phases.phase_control import PhaseControl, UnknownTable

if TYPE_CHECKING:
    from ..server import ProxyServer

DEFAULT_ACTOR = "admin-api"


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def add_phase_routes(app: web.Application, server: ProxyServer) -> None:
    def control() -> PhaseControl | None:
        return server.control

    async def get_phases(_: web.Request) -> web.Response:
        return web.json_response(server.phases.current.to_json())

    async def get_table(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        tp = server.phases.current.get(name)
        if tp is None:
            return _error(404, f"{name} is not a table of this sidecar's mapping")
        return web.json_response({"table": name, "version": server.phases.version, **tp.to_json()})

    async def put_table(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        pc = control()
        if pc is None:
            return _error(404, "phase control is off: this sidecar has no mapping")
        try:
            split_table_key(name)
            body = await request.json()
            if not isinstance(body, dict):
                raise PhaseError("the body must be a JSON object")
            force = body.get("force", False)
            if not isinstance(force, bool):
                raise PhaseError("force must be true or false")
            new = TablePhase.from_json(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "the body must be JSON: {\"phase\": ..., \"share\": ..., \"force\": ...}")
        except PhaseError as e:
            return _error(400, str(e))
        by = (request.headers.get("X-Actor") or str(body.get("by") or "") or DEFAULT_ACTOR).strip()[:200]
        try:
            ps, changed = await pc.set_phase(name, new, force=force, by=by)
        except UnknownTable as e:
            return _error(404, str(e))
        except CutoverRefused as e:
            return _error(409, str(e), reason=e.reason, refused={"from": e.old, "to": e.new}, missing=e.missing)
        except TransitionRefused as e:
            return _error(409, str(e), reason=e.reason, refused={"from": e.old, "to": e.new})
        except VersionConflict as e:
            return _error(409, str(e), reason="conflict", current_version=e.current)
        except ControlStoreError as e:
            return _error(503, f"control store unavailable, nothing changed: {e}")
        return web.json_response({**ps.to_json(), "changed": changed})

    async def fleet(_: web.Request) -> web.Response:
        pc = control()
        if pc is None:
            return _error(404, "phase control is off: this sidecar has no mapping")
        try:
            report = await pc.fleet()
        except ControlStoreError as e:
            return _error(503, f"control store unavailable: {e}")
        report["this_sidecar"] = {"sidecar_id": pc.watcher.sidecar_id, "version": server.phases.version,
                                  "last_poll_age_seconds": round(pc.watcher.last_poll_age(), 3)}
        return web.json_response(report)

    async def audit(request: web.Request) -> web.Response:
        pc = control()
        if pc is None:
            return _error(404, "phase control is off: this sidecar has no mapping")
        try:
            limit = max(1, min(1000, int(request.query.get("limit", "100"))))
        except ValueError:
            return _error(400, "limit must be a number")
        try:
            entries = await pc.audit(limit)
        except ControlStoreError as e:
            return _error(503, f"control store unavailable: {e}")
        return web.json_response({"entries": [e.to_json() for e in entries]})

    # the fixed paths first: /phases/status is not a table
    app.router.add_get("/phases", get_phases)
    app.router.add_get("/phases/status", fleet)
    app.router.add_get("/phases/audit", audit)
    app.router.add_get("/phases/{name}", get_table)
    app.router.add_put("/phases/{name}", put_table)
