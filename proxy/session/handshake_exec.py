"""Carries out the handshake table's actions (proxy.session.handshake) on a client session.

The table decides; this module only does: it turns frames and answers into events, steps the
table, and performs the action the step returns. Whatever the client sends while an answer is
awaited stays unread until the state changes (ClientSession.sync_hold).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from puresasl.client import SASLClient

from cql_protocol.compression import startup_compression
from cql_protocol.errors import CQLError, ProtocolError, ServerError
from cql_protocol.frame import Frame
from cql_protocol.messages import (
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Message,
    Ready,
    Startup,
    Supported,
    decode_frame,
)
from cql_protocol.opcodes import Opcode

from ..metrics import AUTH_FAILURES, PROTOCOL_ERRORS
from . import handshake as hs
from .handshake import Action, Event, State
from .log_limit import LimitedLog

if TYPE_CHECKING:
    from .client_session import ClientSession
    from .session_port import Pending

log = logging.getLogger(__name__)
limited = LimitedLog(log)

# what an answer event carries: Cassandra's frame, or a message or error the sidecar made
Answer = Frame | Message | CQLError | None


def mode_of(s: ClientSession) -> hs.Mode:
    cfg = s.cfg
    return hs.mode_for(own_credentials=bool(cfg.cassandra_username), client_users=bool(cfg.client_users),
                       standalone=s.standalone)


def on_frame(s: ClientSession, f: Frame) -> None:
    """A client frame the READY fast path does not take (every frame before READY)."""
    event = hs.CLIENT_EVENT_OF[f.opcode]
    problem = None
    startup: Startup | None = None
    if s.state is State.UNINITIALIZED:
        s.version = f.version  # Cassandra answers each frame before STARTUP in the frame's version
        if event is Event.STARTUP:
            try:
                msg = decode_frame(f).message
                assert isinstance(msg, Startup)
                startup = msg
                problem = hs.startup_problem(msg.options, f.version)
            except ProtocolError as e:
                problem = e.message
            if problem is not None:
                event = Event.BAD_STARTUP
    step(s, event, f, problem=problem, startup=startup)
    s.sync_hold()


def step(s: ClientSession, event: Event, f: Frame | None = None, *, answer: Answer = None,
         problem: str | None = None, startup: Startup | None = None) -> None:
    before = s.state
    t = hs.transition(mode_of(s), before, event)
    s.state = t.next
    if f is not None and event in (Event.STARTUP, Event.AUTH_RESPONSE):
        s.handshake_stream = f.stream  # where the awaited answer goes
    _ACTIONS[t.action](s, _Step(t.action, before, event, f, answer, problem, startup))


class _Step:
    """What an action needs to know about the step that chose it."""

    __slots__ = ("action", "answer", "before", "event", "frame", "problem", "startup")

    def __init__(self, action: Action, before: State, event: Event, frame: Frame | None, answer: Answer,
                 problem: str | None, startup: Startup | None) -> None:
        self.action = action
        self.before = before
        self.event = event
        self.frame = frame
        self.answer = answer
        self.problem = problem
        self.startup = startup

    @property
    def f(self) -> Frame:
        assert self.frame is not None
        return self.frame


# -- actions --------------------------------------------------------------------------------------


def _forward(s: ClientSession, st: _Step) -> None:
    from . import standalone

    if s.standalone:
        standalone.on_frame(s, st.f)
    else:
        s.on_client_frame(st.f)


def _supported(s: ClientSession, st: _Step) -> None:
    from ..system_tables import intercept

    if s.standalone:
        s.send(Supported(hs.supported_options()), st.f.stream)
    else:
        s.forward(st.f, intercept.on_supported)


def _start(s: ClientSession, st: _Step) -> None:
    assert st.startup is not None
    s.compression = _compression(st.startup, s.version)
    s.forward(st.f, _on_startup_answer)


def _compression(startup: Startup, version: int) -> str | None:
    """The algorithm of an accepted STARTUP (startup_problem has refused any other)."""
    options = {k.upper(): v for k, v in startup.options.items()}
    return startup_compression(options.get("COMPRESSION"), version)


def _login(s: ClientSession, st: _Step) -> None:
    cfg = s.cfg
    sasl = SASLClient("cassandra", "cassandra", mechanism="PLAIN",
                      username=cfg.cassandra_username, password=cfg.cassandra_password)
    s.inject(AuthResponse(sasl.process(None)), _on_login_answer)


def _send_ready(s: ClientSession, st: _Step) -> None:
    _answer_startup(s, Ready(), st)


def _send_authenticate(s: ClientSession, st: _Step) -> None:
    _answer_startup(s, Authenticate(hs.PASSWORD_AUTHENTICATOR), st)


def _answer_startup(s: ClientSession, msg: Message, st: _Step) -> None:
    if st.startup is not None:  # the sidecar answers the STARTUP itself, at once
        s.compression = _compression(st.startup, s.version)
    s.send(msg, s.handshake_stream)
    if s.version >= 5:
        s.switch_client_to_segments()


def _forward_auth(s: ClientSession, st: _Step) -> None:
    s.forward(st.f, _on_auth_answer)


def _pass_through(s: ClientSession, st: _Step) -> None:
    s.forward(st.f, None)


def _check_credentials(s: ClientSession, st: _Step) -> None:
    users = s.cfg.client_user_table
    if s.standalone and not users and s.cfg.cassandra_username:
        users = {s.cfg.cassandra_username: s.cfg.cassandra_password}  # without Cassandra: its own login
    try:
        msg = decode_frame(st.f).message
        assert isinstance(msg, AuthResponse)
        user, err = hs.check_plain(msg.token, users)
    except ProtocolError as e:
        user, err = "", e
    if err is None:
        step(s, Event.ANSWER_AUTH_SUCCESS, answer=AuthSuccess(None))
        return
    AUTH_FAILURES.labels("sidecar").inc()
    limited.log(logging.INFO, "auth", "client %s failed authentication as %r: %s", s.peer_name, user, err.message)
    step(s, Event.ANSWER_ERROR, answer=err)


def _accept_any(s: ClientSession, st: _Step) -> None:
    s.send(AuthSuccess(None), st.f.stream)


def _relay(s: ClientSession, st: _Step) -> None:
    stream = s.handshake_stream
    answer = st.answer
    if isinstance(answer, Frame):
        s.out.append((answer, stream))
    elif isinstance(answer, CQLError):
        s.reply_error(stream, answer)
    elif answer is not None:
        s.send(answer, stream)
    if st.before is State.STARTING and st.event in (Event.ANSWER_READY, Event.ANSWER_AUTHENTICATE) \
            and s.version >= 5:
        s.switch_client_to_segments()  # v5: framing changes after READY or AUTHENTICATE


def _reject_startup(s: ClientSession, st: _Step) -> None:
    assert st.problem is not None
    _count("startup", s, st.problem)
    s.reply_error(st.f.stream, ProtocolError(st.problem))


def _refuse(s: ClientSession, st: _Step) -> None:
    err = hs.refusal(st.action, st.f.opcode)
    _count("handshake", s, err.message)
    s.reply_error(st.f.stream, err)
    if s.state is State.CLOSED:
        s.close("protocol_error")


def _login_refused(s: ClientSession, st: _Step) -> None:
    why = ("Cassandra asked for an authentication step SASL PLAIN cannot answer"
           if st.event is Event.ANSWER_AUTH_CHALLENGE else "Cassandra refused its credentials")
    limited.log(logging.ERROR, "login", "the sidecar cannot log in to Cassandra as %r: %s",
                s.cfg.cassandra_username, why)
    s.reply_error(s.handshake_stream, ServerError(f"the sidecar cannot log in to Cassandra: {why}"))
    s.close("cassandra_unavailable")


def _fail(s: ClientSession, st: _Step) -> None:
    limited.log(logging.ERROR, "handshake-bug", "client %s: no handshake step for %s in state %s",
                s.peer_name, st.event.value, st.before.value)
    s.reply_error(s.handshake_stream, ServerError("unexpected answer during the connection handshake"))
    s.close("error")


def _drop(s: ClientSession, st: _Step) -> None:
    pass


# -- answers the handshake waits for ---------------------------------------------------------------


def _on_startup_answer(s: ClientSession, f: Frame, _p: Pending) -> None:
    if f.opcode in (Opcode.READY, Opcode.AUTHENTICATE) and s.version >= 5 and s.upstream is not None:
        s.upstream.use_segments(s.compression == "lz4")  # Cassandra frames in segments from here
    _answered(s, f)


def _on_login_answer(s: ClientSession, f: Frame, _p: Pending) -> None:
    _answered(s, f)


def _on_auth_answer(s: ClientSession, f: Frame, _p: Pending) -> None:
    if f.opcode == Opcode.ERROR:
        AUTH_FAILURES.labels("cassandra").inc()
    _answered(s, f)


def _answered(s: ClientSession, f: Frame) -> None:
    step(s, hs.answer_event(f.opcode), answer=f)
    s.sync_hold()
    if not s.held:
        s.read_buffered()  # what the client sent behind the request that was answered


def _count(kind: str, s: ClientSession, what: str) -> None:
    PROTOCOL_ERRORS.labels("client", kind).inc()
    limited.log(logging.INFO, kind, "client %s: %s", s.peer_name, what)


_ACTIONS: dict[Action, Callable[[ClientSession, _Step], None]] = {
    Action.FORWARD: _forward,
    Action.SUPPORTED: _supported,
    Action.START: _start,
    Action.LOGIN: _login,
    Action.SEND_READY: _send_ready,
    Action.SEND_AUTHENTICATE: _send_authenticate,
    Action.FORWARD_AUTH: _forward_auth,
    Action.PASS_THROUGH: _pass_through,
    Action.CHECK_CREDENTIALS: _check_credentials,
    Action.ACCEPT_ANY: _accept_any,
    Action.RELAY: _relay,
    Action.REJECT_STARTUP: _reject_startup,
    Action.NOT_STARTED: _refuse,
    Action.NOT_AUTHENTICATED: _refuse,
    Action.ALREADY_STARTED: _refuse,
    Action.LOGIN_REFUSED: _login_refused,
    Action.FAIL: _fail,
    Action.DROP: _drop,
}
