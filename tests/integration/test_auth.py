"""SASL PLAIN: passed through to Cassandra, or handled by the sidecar with its own credentials."""

from __future__ import annotations

import pytest
from cassandra.cluster import NoHostAvailable

from cql_protocol.messages import (
    Authenticate,
    AuthResponse,
    AuthSuccess,
    ErrorMessage,
    Prepare,
    Query,
    QueryParameters,
    Register,
    Rows,
)

from .drivers import session_for
from .raw_client import RawConnection

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


def _query(cql: str) -> Query:
    return Query(cql, QueryParameters(consistency=1))


@pytest.mark.parametrize("version", [4, 5])
def test_nothing_runs_before_the_client_is_authenticated(cassandra_auth, sidecar_factory, version):
    """Raw frames that skip or fail the login get an error on their own stream; nothing reaches the
    sidecar's logged-in Cassandra connection (it holds the superuser's credentials here)."""
    sc = sidecar_factory(cassandra_auth, "--cassandra-username", "cassandra",
                         env={"CDP_CASSANDRA_PASSWORD": "cassandra", "CDP_CLIENT_USERS": "app:s3cret"})
    ks = f"au_bypass_v{version}"
    secrets = _query("SELECT role, salted_hash FROM system_auth.roles")
    create = _query(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', "
                    "'replication_factor': 1}")
    with RawConnection(sc.host, sc.port, version=version) as c:
        # before STARTUP: refused on its stream, then the connection closes, as Cassandra's does
        reply = c.request(secrets, 3)
        assert isinstance(reply, ErrorMessage) and reply.code == 0x000A, reply
        assert c.recv() is None
    with RawConnection(sc.host, sc.port, version=version) as c:
        assert isinstance(c.startup(), Authenticate)
        for stream, msg in ((5, secrets), (6, create), (7, Prepare("SELECT * FROM system_auth.roles")),
                            (8, Register(["TOPOLOGY_CHANGE"]))):
            reply = c.request(msg, stream)  # answered on its own stream (request() checks it)
            assert isinstance(reply, ErrorMessage) and reply.code == 0x000A, reply
        # a wrong password, then requests: still nothing runs
        reply = c.request(AuthResponse(b"\x00app\x00wrong"), 9)
        assert isinstance(reply, ErrorMessage) and reply.code == 0x0100, reply
        for stream, msg in ((10, secrets), (11, create)):
            reply = c.request(msg, stream)
            assert isinstance(reply, ErrorMessage) and reply.code == 0x000A, reply
        # the right password: the same connection works
        assert isinstance(c.request(AuthResponse(b"\x00app\x00s3cret"), 12), AuthSuccess)
        assert isinstance(c.request(_query("SELECT release_version FROM system.local"), 13), Rows)
    cluster, session = session_for(*cassandra_auth, version=4, username="cassandra", password="cassandra")
    try:
        assert session.execute("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s",
                               (ks,)).one() is None
    finally:
        cluster.shutdown()
