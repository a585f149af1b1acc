"""SASL PLAIN: passed through to Cassandra, or handled by the sidecar with its own credentials."""

from __future__ import annotations

import pytest
from cassandra.cluster import NoHostAvailable

from .drivers import session_for

pytestmark = [pytest.mark.integration, pytest.mark.auth]


@pytest.mark.parametrize("version", [3, 4, 5])
def test_client_credentials_pass_through(cassandra_auth, sidecar_factory, version):
    sc = sidecar_factory(cassandra_auth)
    cluster, session = session_for(sc.host, sc.port, version=version, compression="lz4",
                                   username="cassandra", password="cassandra")
    try:
        assert session.execute("SELECT release_version FROM system.local").one() is not None
        me = session.execute("LIST ROLES OF cassandra").one()
        assert me.role == "cassandra"
    finally:
        cluster.shutdown()
    with pytest.raises(NoHostAvailable, match=r"(?i)(bad credentials|incorrect|authentication)"):
        session_for(sc.host, sc.port, version=version, username="cassandra", password="wrong")


def test_sidecar_credentials_without_client_login(cassandra_auth, sidecar_factory):
    sc = sidecar_factory(cassandra_auth, "--cassandra-username", "cassandra",
                         env={"CDP_CASSANDRA_PASSWORD": "cassandra"})
    cluster, session = session_for(sc.host, sc.port, version=5)
    try:
        assert session.execute("SELECT release_version FROM system.local").one() is not None
    finally:
        cluster.shutdown()
    assert "cassandra\x00" not in sc.log()


def test_sidecar_checks_its_own_client_users(cassandra_auth, sidecar_factory):
    sc = sidecar_factory(cassandra_auth, "--cassandra-username", "cassandra",
                         env={"CDP_CASSANDRA_PASSWORD": "cassandra", "CDP_CLIENT_USERS": "app:s3cret"})
    for version in (4, 5):
        cluster, session = session_for(sc.host, sc.port, version=version, username="app", password="s3cret")
        try:
            assert session.execute("SELECT release_version FROM system.local").one() is not None
        finally:
            cluster.shutdown()
    with pytest.raises(NoHostAvailable, match=r"(?i)incorrect"):
        session_for(sc.host, sc.port, version=4, username="app", password="nope")
    log = sc.log()
    assert "s3cret" not in log and "nope" not in log


def test_admin_status_hides_secrets(cassandra_auth, sidecar_factory):
    import json
    import urllib.request

    sc = sidecar_factory(cassandra_auth, "--cassandra-username", "cassandra",
                         env={"CDP_CASSANDRA_PASSWORD": "topsecretpw"})
    req = urllib.request.Request(f"{sc.admin_url}/status", headers={"Authorization": f"Bearer {sc.token}"})
    body = urllib.request.urlopen(req, timeout=5).read().decode()
    assert "topsecretpw" not in body and sc.token not in body
    assert json.loads(body)["config"]["cassandra_password"] == "***"
