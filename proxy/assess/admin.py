"""GET /assess on the admin port (token required): this sidecar's figures, mergeable with other
sidecars' by the `assess` command, and its own report with the shipped prices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from translators.assess import report

from .prices import load_prices

if TYPE_CHECKING:
    from ..server import ProxyServer


def add_assess_routes(app: web.Application, server: ProxyServer) -> None:
    async def assess(request: web.Request) -> web.Response:
        a = server.assess
        if a is None:
            why = "no mapping" if server.mapping is None else "--assess-sample 0"
            return web.json_response({"error": f"the assessment is off on this sidecar ({why})"}, status=404)
        show_keys = request.query.get("show_keys", "") in ("1", "true", "yes")
        snap = a.snapshot(show_keys)
        return web.json_response({**snap, "report": report.build([snap], load_prices())})

    app.router.add_get("/assess", assess)
