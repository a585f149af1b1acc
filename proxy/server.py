"""The listening side: accepts clients, enforces limits, drains on shutdown."""

from __future__ import annotations

import asyncio
import logging
import time

from .cassandra_pool import CassandraPool
from .client_session import ClientSession
from .config import Config
from .metrics import STATS
from .system_tables import Node
from .tls import cassandra_side_context, client_side_context

log = logging.getLogger(__name__)


class ProxyServer:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.sessions: set[ClientSession] = set()
        self.draining = False
        self.started_at = time.time()
        self.client_ssl = client_side_context(cfg)
        self.pool = CassandraPool(cfg.cassandra_endpoints, cassandra_side_context(cfg), cfg.connect_timeout)
        self.peers = [Node(h, p) for h, p in cfg.peer_endpoints]
        self._server: asyncio.Server | None = None
        self._advertise = cfg.advertise.strip()

    @property
    def listen_port(self) -> int:
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self.cfg.listen_addr[1]

    def advertised_node(self, transport: asyncio.Transport) -> Node:
        """The address drivers should know this sidecar by: configured, or the one they dialled."""
        if self._advertise:
            host, _, port = self._advertise.partition(":")
            return Node(host, int(port) if port else self.listen_port)
        sock = transport.get_extra_info("sockname")
        host = sock[0] if sock else self.cfg.listen_addr[0]
        return Node(host, self.listen_port)

    async def start(self) -> None:
        host, port = self.cfg.listen_addr
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientSession(self), host, port, ssl=self.client_ssl, reuse_address=True, backlog=1024
        )
        log.info("listening for CQL clients on %s:%d (TLS %s)", host, self.listen_port,
                 "on" if self.client_ssl else "off")

    async def shutdown(self, grace: float | None = None) -> None:
        """Stops accepting, answers new requests with OVERLOADED, lets in-flight ones finish."""
        grace = self.cfg.shutdown_grace if grace is None else grace
        self.draining = True
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + grace
        while STATS.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if STATS.in_flight:
            log.warning("shutting down with %d requests still in flight", STATS.in_flight)
        for s in list(self.sessions):
            s.close()
        if self._server is not None:
            await self._server.wait_closed()
        log.info("sidecar stopped")

    def status(self) -> dict[str, object]:
        return {
            "listen": f"{self.cfg.listen_addr[0]}:{self.listen_port}",
            "cassandra": [f"{h}:{p}" for h, p in self.cfg.cassandra_endpoints],
            "peers": [f"{n.address}:{n.port}" for n in self.peers],
            "connections": len(self.sessions),
            "in_flight": STATS.in_flight,
            "draining": self.draining,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "cassandra_last_connect_ok": self.pool.last_success or None,
            "cassandra_last_connect_failure": self.pool.last_failure or None,
        }
