"""TLS contexts for both sides of the sidecar."""

from __future__ import annotations

import ssl

from .config import Config


def client_side_context(cfg: Config) -> ssl.SSLContext | None:
    """The server context that clients (application drivers) connect to."""
    if not cfg.tls_cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    if cfg.tls_client_ca:
        ctx.load_verify_locations(cfg.tls_client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def cassandra_side_context(cfg: Config) -> ssl.SSLContext | None:
    """The client context the sidecar uses towards Cassandra."""
    if not cfg.cassandra_tls:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cfg.cassandra_tls_ca:
        ctx.load_verify_locations(cfg.cassandra_tls_ca)
        ctx.check_hostname = cfg.cassandra_tls_verify_hostname
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        # No CA given: encrypt, but trust any certificate (as drivers do without a truststore).
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.cassandra_tls_cert:
        ctx.load_cert_chain(cfg.cassandra_tls_cert, cfg.cassandra_tls_key or None)
    return ctx
