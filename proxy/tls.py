"""TLS contexts for both sides of the sidecar."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from .config import Config, ConfigError


@contextmanager
def _loading(*files: str) -> Iterator[None]:
    """A certificate, key or CA file that cannot be used is a configuration error naming it."""
    try:
        yield
    except OSError as e:  # ssl.SSLError included
        why = e.strerror if not isinstance(e, ssl.SSLError) else (
            "not PEM, or the key does not match the certificate" if "PEM lib" in str(e)
            or e.reason == "KEY_VALUES_MISMATCH" else e.reason or str(e))
        raise ConfigError(f"cannot load {' / '.join(f for f in files if f)}: {why or e}") from None


def client_side_context(cfg: Config) -> ssl.SSLContext | None:
    """The server context that clients (application drivers) connect to."""
    if not cfg.tls_cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with _loading(f"--tls-cert {cfg.tls_cert}", f"--tls-key {cfg.tls_key}"):
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    if cfg.tls_client_ca:
        with _loading(f"--tls-client-ca {cfg.tls_client_ca}"):
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
        with _loading(f"--cassandra-tls-ca {cfg.cassandra_tls_ca}"):
            ctx.load_verify_locations(cfg.cassandra_tls_ca)
        ctx.check_hostname = cfg.cassandra_tls_verify_hostname
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        # No CA given: encrypt, but trust any certificate (as drivers do without a truststore).
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.cassandra_tls_cert:
        with _loading(f"--cassandra-tls-cert {cfg.cassandra_tls_cert}",
                      f"--cassandra-tls-key {cfg.cassandra_tls_key}" if cfg.cassandra_tls_key else ""):
            ctx.load_cert_chain(cfg.cassandra_tls_cert, cfg.cassandra_tls_key or None)
    return ctx
