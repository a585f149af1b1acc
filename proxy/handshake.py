"""Connection set-up: STARTUP, compression, v5 framing switch and SASL PLAIN authentication.

By default authentication passes through: the client's credentials go to Cassandra. When the
sidecar has Cassandra credentials of its own it answers Cassandra's challenge itself, and checks
clients against `client_users` (or lets them in without credentials when none are listed).
"""

from __future__ import annotations

import hmac
import logging
from enum import Enum
from typing import TYPE_CHECKING

from puresasl.client import SASLClient

from cql_protocol.compression import SUPPORTED as SUPPORTED_COMPRESSION
from cql_protocol.compression import startup_compression
from cql_protocol.errors import BadCredentials, ProtocolError
from cql_protocol.frame import Frame
from cql_protocol.messages import (
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Ready,
    Startup,
    decode_frame,
)
from cql_protocol.opcodes import Opcode

if TYPE_CHECKING:
    from .client_session import ClientSession, Pending

log = logging.getLogger(__name__)

PASSWORD_AUTHENTICATOR = "org.apache.cassandra.auth.PasswordAuthenticator"
PROTOCOL_VERSIONS = ("3/v3", "4/v4", "5/v5")


def supported_options() -> dict[str, list[str]]:
    """What the sidecar itself can speak, for answering OPTIONS on its own."""
    return {
        "CQL_VERSION": ["3.4.7"],
        "COMPRESSION": list(SUPPORTED_COMPRESSION),
        "PROTOCOL_VERSIONS": list(PROTOCOL_VERSIONS),
    }


class State(Enum):
    STARTUP = "startup"
    AUTH_PASSTHROUGH = "auth-passthrough"  # the client talks SASL with Cassandra
    AUTH_SIDECAR = "auth-sidecar"  # the sidecar logs in to Cassandra with its own credentials
    AUTH_CLIENT = "auth-client"  # the sidecar checks the client's credentials itself
    READY = "ready"


def on_client_frame(s: ClientSession, f: Frame) -> None:
    if f.opcode == Opcode.STARTUP:
        _on_startup(s, f)
    elif f.opcode == Opcode.AUTH_RESPONSE:
        if s.state is State.AUTH_CLIENT:
            check_client_credentials(s, f)
        elif s.state is State.AUTH_PASSTHROUGH:
            s.forward(f, _on_passthrough_auth_answer)
        else:
            raise ProtocolError(f"unexpected AUTH_RESPONSE in state {s.state.value}")
    else:
        raise ProtocolError(f"unexpected opcode 0x{f.opcode:02x} from a client")


def _on_startup(s: ClientSession, f: Frame) -> None:
    if s.state is not State.STARTUP:
        s.forward(f, None)  # Cassandra has the right words for a second STARTUP
        return
    env = decode_frame(f)
    assert isinstance(env.message, Startup)
    s.version = f.version
    s.compression = startup_compression(env.message.options.get("COMPRESSION"), f.version)
    s.forward(f, _on_startup_answer)


def _upstream_switch(s: ClientSession) -> None:
    if s.version >= 5:
        assert s.upstream is not None
        s.upstream.use_segments(s.compression == "lz4")


def _client_handshake_reply(s: ClientSession, msg: Authenticate | Ready, stream: int) -> None:
    s.send(msg, stream)
    if s.version >= 5:
        s.switch_client_to_segments()


def _on_startup_answer(s: ClientSession, f: Frame, p: Pending) -> None:
    cfg = s.cfg
    if f.opcode == Opcode.READY:
        _upstream_switch(s)
        _finish(s, p.client_stream)
    elif f.opcode == Opcode.AUTHENTICATE:
        _upstream_switch(s)
        if cfg.cassandra_username:
            s.state = State.AUTH_SIDECAR
            sasl = SASLClient("cassandra", "cassandra", mechanism="PLAIN",
                              username=cfg.cassandra_username, password=cfg.cassandra_password)
            token = sasl.process(None)
            client_stream = p.client_stream

            def answered(s2: ClientSession, f2: Frame, _p: Pending) -> None:
                _on_sidecar_login(s2, f2, client_stream)

            s.inject(AuthResponse(token), answered)
        else:
            s.state = State.AUTH_PASSTHROUGH
            s.out.append((f, p.client_stream))
            if s.version >= 5:
                s.switch_client_to_segments()
    else:
        s.out.append((f, p.client_stream))  # an ERROR: the client sees Cassandra's reason


def _on_sidecar_login(s: ClientSession, f: Frame, client_stream: int) -> None:
    if f.opcode == Opcode.AUTH_SUCCESS:
        _finish(s, client_stream)
        return
    if f.opcode == Opcode.ERROR:
        log.error("Cassandra refused the sidecar's own credentials (user %s)", s.cfg.cassandra_username)
        s.out.append((f, client_stream))
        return
    # PLAIN never needs a second round; anything else means a different authenticator.
    s.reply_error(client_stream, BadCredentials("Cassandra asked for an authentication step PLAIN cannot answer"))


def _finish(s: ClientSession, client_stream: int) -> None:
    if s.cfg.cassandra_username and s.cfg.client_users:
        s.state = State.AUTH_CLIENT
        _client_handshake_reply(s, Authenticate(PASSWORD_AUTHENTICATOR), client_stream)
    else:
        s.state = State.READY
        _client_handshake_reply(s, Ready(), client_stream)


def _on_passthrough_auth_answer(s: ClientSession, f: Frame, p: Pending) -> None:
    if f.opcode == Opcode.AUTH_SUCCESS:
        s.state = State.READY
    s.out.append((f, p.client_stream))


def check_client_credentials(s: ClientSession, f: Frame) -> None:
    env = decode_frame(f)
    assert isinstance(env.message, AuthResponse)
    token = env.message.token or b""
    parts = token.split(b"\x00")
    if len(parts) != 3:
        s.reply_error(f.stream, BadCredentials("expected a SASL PLAIN token"))
        return
    user = parts[1].decode("utf-8", "replace")
    expected = s.cfg.client_user_table.get(user)
    if expected is None and s.standalone and not s.cfg.client_user_table and user == s.cfg.cassandra_username:
        expected = s.cfg.cassandra_password  # without Cassandra: the sidecar's own credentials
    if expected is None or not hmac.compare_digest(expected.encode(), parts[2]):
        log.info("client %s failed authentication as %r", s.peer_name, user)
        s.reply_error(f.stream, BadCredentials(f"Provided username {user} and/or password are incorrect"))
        return
    s.state = State.READY
    s.send(AuthSuccess(None), f.stream)
