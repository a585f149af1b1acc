"""Helpers to build real driver sessions pointed at a sidecar."""

from __future__ import annotations

from typing import Any

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import ConstantReconnectionPolicy, RoundRobinPolicy


def cluster_for(host: str, port: int, *, version: int = 4, compression: Any = False,
                username: str | None = None, password: str | None = None, **kw: Any) -> Cluster:
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=30)
    auth = PlainTextAuthProvider(username, password) if username else None
    return Cluster(
        [host],
        port=port,
        protocol_version=version,
        compression=compression,
        auth_provider=auth,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        reconnection_policy=ConstantReconnectionPolicy(0.5, max_attempts=None),
        connect_timeout=10,
        control_connection_timeout=10,
        **kw,
    )


def session_for(host: str, port: int, **kw: Any) -> tuple[Cluster, Session]:
    c = cluster_for(host, port, **kw)
    return c, c.connect()


KEYSPACE = "cdp_it"


def ensure_keyspace(session: Session, name: str = KEYSPACE) -> None:
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )


def metric(sidecar: Any, series: str) -> float:
    """The value of one Prometheus series on a sidecar's admin port (0 when absent)."""
    import urllib.request

    req = urllib.request.Request(f"{sidecar.admin_url}/metrics",
                                 headers={"Authorization": f"Bearer {sidecar.token}"})
    text = urllib.request.urlopen(req, timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def metric_sum(sidecar: Any, series: str) -> float:
    """The sum of one Prometheus metric over all its label sets (0 when absent)."""
    import urllib.request

    req = urllib.request.Request(f"{sidecar.admin_url}/metrics",
                                 headers={"Authorization": f"Bearer {sidecar.token}"})
    text = urllib.request.urlopen(req, timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(series + " ") or line.startswith(series + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total
