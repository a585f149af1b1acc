"""The admin port: open health endpoints, token-guarded metrics and status."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from .drivers import session_for

pytestmark = pytest.mark.integration


def _get(sc, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"{sc.admin_url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_is_open(sidecar):
    assert _get(sidecar, "/health/live")[0] == 200
    status, body = _get(sidecar, "/health/ready")
    assert status == 200 and json.loads(body)["ready"] is True


def test_metrics_and_status_need_the_token(sidecar):
    assert _get(sidecar, "/metrics")[0] == 401
    assert _get(sidecar, "/metrics", "wrong")[0] == 401
    assert _get(sidecar, "/status")[0] == 401
    cluster, session = session_for(sidecar.host, sidecar.port, version=4)
    try:
        session.execute("SELECT * FROM system.local")
        status, text = _get(sidecar, "/metrics", sidecar.token)
        assert status == 200
        assert re.search(r'cdp_request_duration_seconds_bucket\{(opcode="QUERY",le="\+Inf"|le="\+Inf",opcode="QUERY")\} [1-9]', text)
        assert re.search(r'cdp_request_duration_seconds_count\{opcode="QUERY"\} [1-9]', text)
        for name in (
            "cdp_in_flight_requests",
            "cdp_client_connections_open",
            'cdp_bytes_total{direction="client_in"}',
        ):
            assert name in text, name
        status, body = _get(sidecar, "/status", sidecar.token)
        st = json.loads(body)
        assert status == 200 and st["connections"] >= 1 and st["listen"].endswith(str(sidecar.port))
    finally:
        cluster.shutdown()


def test_admin_binds_to_loopback_by_default(cassandra, tmp_path):
    from proxy.config import load_config

    assert load_config(environ={}).admin_addr[0] == "127.0.0.1"


def test_not_ready_when_cassandra_is_unreachable(sidecar_factory):
    from tests.conftest import free_port

    sc = sidecar_factory(("127.0.0.1", free_port()))
    status, body = _get(sc, "/health/ready")
    assert status == 503 and "unreachable" in body


def test_clients_learn_why_when_cassandra_is_unreachable(sidecar_factory):
    import time

    from cassandra.cluster import NoHostAvailable

    from tests.conftest import free_port

    from .drivers import session_for

    sc = sidecar_factory(("127.0.0.1", free_port()))
    t0 = time.monotonic()
    try:
        session_for(sc.host, sc.port, version=4)
        raise AssertionError("connected without a Cassandra")
    except NoHostAvailable as e:
        assert "cannot reach Cassandra" in str(e)
    assert time.monotonic() - t0 < 5  # an answer, not a timeout


def _get_url(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_metrics_port_serves_a_plain_scrape_and_probes_only(cassandra, sidecar_factory):
    from tests.conftest import free_port

    mport = free_port()
    sc = sidecar_factory(cassandra, "--metrics", f"127.0.0.1:{mport}")
    base = f"http://127.0.0.1:{mport}"
    status, text = _get_url(f"{base}/metrics")
    assert status == 200 and "cdp_client_connections_open" in text
    assert _get_url(f"{base}/health/live")[0] == 200
    status, body = _get_url(f"{base}/health/ready")
    assert status == 200 and json.loads(body)["ready"] is True
    # nothing that shows configuration or changes a phase answers there, token or not
    for path in ("/status", "/verify/mismatches", "/phases"):
        assert _get_url(f"{base}{path}")[0] == 404, path
    # the admin port keeps its token
    assert _get(sc, "/metrics")[0] == 401
    assert _get(sc, "/metrics", sc.token)[0] == 200


def test_metrics_port_must_differ_from_admin() -> None:
    from proxy.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="different ports"):
        load_config(environ={"CDP_ADMIN": "0.0.0.0:9191", "CDP_METRICS": "127.0.0.1:9191"}).validate()
    assert load_config(environ={"CDP_METRICS": "0.0.0.0:9192"}).metrics_addr == ("0.0.0.0", 9192)
    assert load_config(environ={}).metrics_addr is None
