"""TLS towards clients and towards the upstream. The upstream side is exercised against a second
sidecar that terminates TLS in front of the real Cassandra: a real TLS server on the other end."""

from __future__ import annotations

import ssl
import subprocess

import pytest

from .drivers import session_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )
    return d


def _tls_context(ca: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.check_hostname = False
    return ctx


def test_tls_to_clients_and_to_upstream(cassandra, sidecar_factory, certs):
    front = sidecar_factory(cassandra, "--tls-cert", str(certs / "cert.pem"), "--tls-key", str(certs / "key.pem"))
    # `back` speaks TLS to `front` exactly as it would to a TLS-enabled Cassandra.
    back = sidecar_factory((front.host, front.port), "--cassandra-tls", "--cassandra-tls-ca",
                           str(certs / "cert.pem"))
    cluster, session = session_for(back.host, back.port, version=5, compression="lz4")
    try:
        assert session.execute("SELECT release_version FROM system.local").one() is not None
    finally:
        cluster.shutdown()
    cluster, session = session_for(front.host, front.port, version=4,
                                   ssl_context=_tls_context(str(certs / "cert.pem")))
    try:
        row = session.execute("SELECT rpc_address FROM system.local").one()
        assert str(row.rpc_address) == front.host
    finally:
        cluster.shutdown()


def test_plaintext_client_refused_by_tls_sidecar(cassandra, sidecar_factory, certs):
    from cassandra.cluster import NoHostAvailable

    sc = sidecar_factory(cassandra, "--tls-cert", str(certs / "cert.pem"), "--tls-key", str(certs / "key.pem"))
    with pytest.raises(NoHostAvailable):
        session_for(sc.host, sc.port, version=4)
