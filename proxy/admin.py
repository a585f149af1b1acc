"""Admin HTTP port: health for orchestrators, metrics and status for operators (token required)."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import __version__
from .admin_phases import add_phase_routes
from .metrics import render
from .server import ProxyServer

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_OPEN_PATHS = frozenset({"/health/live", "/health/ready"})


def build_app(server: ProxyServer, token: str) -> web.Application:
    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _OPEN_PATHS:
            return await handler(request)
        given = request.headers.get("Authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response(
                {"error": "a valid 'Authorization: Bearer <admin token>' header is required"}, status=401
            )
        return await handler(request)

    ready_cache: dict[str, float | bool] = {"at": 0.0, "ok": False}

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def ready(_: web.Request) -> web.Response:
        if server.draining:
            return web.json_response({"ready": False, "reason": "shutting down"}, status=503)
        now = time.monotonic()
        if now - float(ready_cache["at"]) > 2.0:
            ready_cache["ok"] = await server.pool.probe()
            ready_cache["at"] = now
        if not ready_cache["ok"]:
            return web.json_response({"ready": False, "reason": "Cassandra unreachable"}, status=503)
        return web.json_response({"ready": True})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def status(_: web.Request) -> web.Response:
        body = {"version": __version__, **server.status(), "config": server.cfg.redacted()}
        return web.json_response(body)

    async def verify_samples(_: web.Request) -> web.Response:
        return web.json_response({"mismatches": server.verify_samples()})

    app = web.Application(middlewares=[require_token])
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/status", status)
    app.router.add_get("/verify/mismatches", verify_samples)
    add_phase_routes(app, server)
    return app


async def start_admin(server: ProxyServer, host: str, port: int, token: str) -> web.AppRunner:
    if not token:
        log.warning("no admin token set: /metrics and /status will refuse every request")
    runner = web.AppRunner(build_app(server, token), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("admin API on http://%s:%d", host, port)
    return runner
