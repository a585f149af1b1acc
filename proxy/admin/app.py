"""Admin HTTP port: health for orchestrators, metrics and status for operators (token required).

The optional metrics port serves only what a standard Prometheus scrape and a kubelet probe need
(/metrics and /health/*), without a token: nothing on it reveals configuration or changes state.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from .. import __version__
from ..assess.admin import add_assess_routes
from ..metrics import READY, render
from ..server import ProxyServer
from .admin_phases import add_phase_routes

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_OPEN_PATHS = frozenset({"/health/live", "/health/ready"})


class _Health:
    """Liveness and readiness, shared by the admin and the metrics port."""

    # a scrape waits at most this long for a Cassandra probe: one that hangs on unreachable nodes
    # (connect_timeout each) would make the scrape fail and the sidecar look down, not unready
    SCRAPE_PROBE_WAIT = 1.0

    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self._ready_at = 0.0
        self._ready_ok = False
        self._probe: asyncio.Future[None] | None = None  # one probe at a time, shared by its askers

    async def live(self, _: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def _run_probe(self) -> None:
        try:
            self._ready_ok = await self.server.pool.probe()
            self._ready_at = time.monotonic()
        finally:
            self._probe = None

    async def check(self) -> str:
        """Why the sidecar is not ready ('' when it is); also sets cdp_ready for the next scrape."""
        if not self.server.draining and time.monotonic() - self._ready_at > 2.0:
            if self._probe is None:
                self._probe = asyncio.ensure_future(self._run_probe())
            await asyncio.shield(self._probe)  # a caller giving up leaves the probe to the others
        # with every mapped table wholly in `dynamo` the sidecar serves without Cassandra, which may
        # have been switched off: its absence must not take the pod out of service
        reachable = self._ready_ok or self.server.standalone_ok()
        reason = "shutting down" if self.server.draining else "" if reachable else "Cassandra unreachable"
        READY.set(0 if reason else 1)
        return reason

    async def ready(self, _: web.Request) -> web.Response:
        reason = await self.check()
        if reason:
            return web.json_response({"ready": False, "reason": reason}, status=503)
        return web.json_response({"ready": True})

    async def metrics(self, _: web.Request) -> web.Response:
        # a scrape carries the readiness the kubelet sees, not a stale one, unless finding out is slow
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.check(), self.SCRAPE_PROBE_WAIT)
        return web.Response(body=render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})


def _add_routes(app: web.Application, health: _Health) -> None:
    app.router.add_get("/health/live", health.live)
    app.router.add_get("/health/ready", health.ready)
    app.router.add_get("/metrics", health.metrics)


def build_app(server: ProxyServer, token: str, health: _Health | None = None) -> web.Application:
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

    async def status(_: web.Request) -> web.Response:
        body = {"version": __version__, **server.status(), "config": server.cfg.redacted()}
        return web.json_response(body)

    async def verify_samples(_: web.Request) -> web.Response:
        return web.json_response({"mismatches": server.verify_samples()})

    app = web.Application(middlewares=[require_token])
    _add_routes(app, health or _Health(server))
    app.router.add_get("/status", status)
    app.router.add_get("/verify/mismatches", verify_samples)
    add_phase_routes(app, server)
    add_assess_routes(app, server)
    return app


def build_metrics_app(server: ProxyServer, health: _Health | None = None) -> web.Application:
    app = web.Application()
    _add_routes(app, health or _Health(server))
    return app


async def _start(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def start_admin(server: ProxyServer, host: str, port: int, token: str,
                      metrics: tuple[str, int] | None = None) -> list[web.AppRunner]:
    """The admin port and, when asked, the metrics port; both share one readiness cache."""
    if not token:
        log.warning("no admin token set: /status and phase changes will refuse every request%s",
                    "" if metrics else " (and /metrics: use --metrics for a token-free scrape port)")
    health = _Health(server)
    runners = [await _start(build_app(server, token, health), host, port)]
    log.info("admin API on http://%s:%d", host, port)
    if metrics is not None:
        try:
            runners.append(await _start(build_metrics_app(server, health), *metrics))
        except BaseException:
            await runners[0].cleanup()
            raise
        log.info("metrics and health on http://%s:%d (no token)", *metrics)
    return runners
