"""A plain TCP relay in front of Cassandra, the reference for what one network hop costs: HAProxy
in TCP mode with one thread, started with a generated configuration on a free port.

`start_relay(upstream, port, workdir)` returns the running relay (a `ChildProc`: its pid for CPU
accounting, its port, `stop()`); `find_haproxy()` is None when HAProxy is not installed (`INSTALL_HINT` says how).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from bench_procs import ChildProc, start_child

INSTALL_HINT = ("HAProxy is not installed: `apt-get install haproxy` (Debian, Ubuntu) or put haproxy on "
                "PATH (CDP_HAPROXY=/path/to/haproxy)")


def find_haproxy() -> str | None:
    return os.environ.get("CDP_HAPROXY") or shutil.which("haproxy")


def haproxy_config(listen: tuple[str, int], upstream: tuple[str, int], maxconn: int = 4096) -> str:
    """TCP pass-through on one thread, no logging, no health checks: bytes in, bytes out. The
    client and server timeouts are long because driver connections idle between rounds."""
    return "\n".join([
        "global",
        "    nbthread 1",
        f"    maxconn {maxconn}",
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        "    timeout client 1h",
        "    timeout server 1h",
        "listen cql",
        f"    bind {listen[0]}:{listen[1]}",
        f"    server cassandra {upstream[0]}:{upstream[1]}",
        "",
    ])


def start_relay(upstream: tuple[str, int], port: int, workdir: Path) -> ChildProc:
    """HAProxy in the foreground (-db: one process, the one whose CPU is measured) on `port`."""
    haproxy = find_haproxy()
    if haproxy is None:
        raise RuntimeError(INSTALL_HINT)
    cfg = workdir / "relay.cfg"
    cfg.write_text(haproxy_config(("127.0.0.1", port), upstream))

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    return start_child("haproxy", [haproxy, "-db", "-f", str(cfg)], port, workdir / "relay.log", listening)
