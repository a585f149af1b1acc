"""The handshake state table, pure: every client opcode in every state in every auth mode, the
properties that keep unauthenticated clients out, Cassandra's words, and the SASL PLAIN parser.

The expected rows below were written from Cassandra 5.0.9's answers on the wire (raw frames
against a node without authentication and one with PasswordAuthenticator), not from the table."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cql_protocol.errors import (
    BadCredentials,
    ErrorCode,
    FrameRefused,
    InvalidRequest,
    ProtocolError,
    ServerError,
)
from cql_protocol.frame import Frame
from cql_protocol.messages import AuthResponse, Ready, Startup, encode_message
from cql_protocol.opcodes import Opcode
from proxy.session import handshake as hs
from proxy.session import handshake_exec
from proxy.session.handshake import ANSWERS, CLIENT_EVENTS, REQUESTS, Action, Event, Mode, State
from proxy.session.log_limit import LimitedLog, TokenBucket

MODES = list(Mode)

# state, event: the (next state/action) for UPSTREAM, SIDECAR_OPEN, SIDECAR_CHECK, STANDALONE_OPEN,
# STANDALONE_CHECK; "-" where the mode never is in that state.
EXPECTED = """
UNINITIALIZED  STARTUP        STARTING/START  STARTING/START  STARTING/START  READY/SEND_READY  AUTHENTICATING/SEND_AUTHENTICATE
UNINITIALIZED  BAD_STARTUP    UNINITIALIZED/REJECT_STARTUP *5
UNINITIALIZED  OPTIONS        UNINITIALIZED/SUPPORTED *5
UNINITIALIZED  AUTH_RESPONSE  CLOSED/NOT_STARTED *5
UNINITIALIZED  QUERY          CLOSED/NOT_STARTED *5
UNINITIALIZED  PREPARE        CLOSED/NOT_STARTED *5
UNINITIALIZED  EXECUTE        CLOSED/NOT_STARTED *5
UNINITIALIZED  BATCH          CLOSED/NOT_STARTED *5
UNINITIALIZED  REGISTER       CLOSED/NOT_STARTED *5
AUTHENTICATING STARTUP        AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED
AUTHENTICATING BAD_STARTUP    AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED
AUTHENTICATING OPTIONS        AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED
AUTHENTICATING AUTH_RESPONSE  AUTH_PENDING/FORWARD_AUTH  -  AUTH_PENDING/CHECK_CREDENTIALS  -  AUTH_PENDING/CHECK_CREDENTIALS
AUTHENTICATING QUERY          AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED
AUTHENTICATING PREPARE        AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED
AUTHENTICATING EXECUTE        AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED
AUTHENTICATING BATCH          AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED
AUTHENTICATING REGISTER       AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED  -  AUTHENTICATING/NOT_AUTHENTICATED
READY          STARTUP        READY/ALREADY_STARTED *5
READY          BAD_STARTUP    READY/ALREADY_STARTED *5
READY          OPTIONS        READY/SUPPORTED *5
READY          AUTH_RESPONSE  READY/PASS_THROUGH  READY/ACCEPT_ANY  REAUTH_PENDING/CHECK_CREDENTIALS  READY/ACCEPT_ANY  REAUTH_PENDING/CHECK_CREDENTIALS
READY          QUERY          READY/FORWARD *5
READY          PREPARE        READY/FORWARD *5
READY          EXECUTE        READY/FORWARD *5
READY          BATCH          READY/FORWARD *5
READY          REGISTER       READY/FORWARD *5
CLOSED         STARTUP        CLOSED/DROP *5
CLOSED         QUERY          CLOSED/DROP *5
CLOSED         AUTH_RESPONSE  CLOSED/DROP *5
"""

# the answers the handshake waits for, in the states that wait
EXPECTED_ANSWERS = """
STARTING       ANSWER_READY          READY/RELAY  READY/SEND_READY  AUTHENTICATING/SEND_AUTHENTICATE  -  -
STARTING       ANSWER_AUTHENTICATE   AUTHENTICATING/RELAY  LOGGING_IN/LOGIN  LOGGING_IN/LOGIN  -  -
STARTING       ANSWER_ERROR          UNINITIALIZED/RELAY  UNINITIALIZED/RELAY  UNINITIALIZED/RELAY  -  -
STARTING       ANSWER_AUTH_SUCCESS   CLOSED/FAIL  CLOSED/FAIL  CLOSED/FAIL  -  -
STARTING       ANSWER_OTHER          CLOSED/FAIL  CLOSED/FAIL  CLOSED/FAIL  -  -
LOGGING_IN     ANSWER_AUTH_SUCCESS   -  READY/SEND_READY  AUTHENTICATING/SEND_AUTHENTICATE  -  -
LOGGING_IN     ANSWER_ERROR          -  CLOSED/LOGIN_REFUSED  CLOSED/LOGIN_REFUSED  -  -
LOGGING_IN     ANSWER_AUTH_CHALLENGE -  CLOSED/LOGIN_REFUSED  CLOSED/LOGIN_REFUSED  -  -
LOGGING_IN     ANSWER_OTHER          -  CLOSED/FAIL  CLOSED/FAIL  -  -
AUTH_PENDING   ANSWER_AUTH_SUCCESS   READY/RELAY  -  READY/RELAY  -  READY/RELAY
AUTH_PENDING   ANSWER_ERROR          AUTHENTICATING/RELAY  -  AUTHENTICATING/RELAY  -  AUTHENTICATING/RELAY
AUTH_PENDING   ANSWER_AUTH_CHALLENGE AUTHENTICATING/RELAY  -  AUTHENTICATING/RELAY  -  AUTHENTICATING/RELAY
AUTH_PENDING   ANSWER_OTHER          CLOSED/FAIL  -  CLOSED/FAIL  -  CLOSED/FAIL
REAUTH_PENDING ANSWER_AUTH_SUCCESS   -  -  READY/RELAY  -  READY/RELAY
REAUTH_PENDING ANSWER_ERROR          -  -  READY/RELAY  -  READY/RELAY
"""


def _rows(text: str) -> Iterator[tuple[Mode, State, Event, tuple[State, Action] | None]]:
    for line in text.strip().splitlines():
        state, event, *cells = line.split()
        if len(cells) == 2 and cells[1] == "*5":
            cells = [cells[0]] * 5
        assert len(cells) == 5, line
        for mode, cell in zip(MODES, cells, strict=True):
            if cell == "-":
                yield mode, State[state], Event[event], None
            else:
                nxt, action = cell.split("/")
                yield mode, State[state], Event[event], (State[nxt], Action[action])


CASES = [*_rows(EXPECTED), *_rows(EXPECTED_ANSWERS)]


@pytest.mark.parametrize(("mode", "state", "event", "expected"), [c for c in CASES if c[3] is not None],
                         ids=lambda v: getattr(v, "name", str(v)))
def test_transition(mode: Mode, state: State, event: Event, expected: tuple[State, Action]) -> None:
    assert tuple(hs.transition(mode, state, event)) == expected


def _reachable(mode: Mode) -> set[State]:
    seen = {State.UNINITIALIZED}
    todo = deque(seen)
    while todo:
        state = todo.popleft()
        for event in (*CLIENT_EVENTS, *ANSWERS):
            t = hs.TABLE.get((mode, state, event))
            if t is not None and t.next not in seen:
                seen.add(t.next)
                todo.append(t.next)
    return seen


@pytest.mark.parametrize("mode", MODES)
def test_the_expectations_cover_every_reachable_state(mode: Mode) -> None:
    reachable = _reachable(mode)
    listed = {s for m, s, _, e in CASES if m is mode and e is not None}
    assert reachable - {State.CLOSED} <= listed | {State.CLOSED}
    for m, state, _, expected in CASES:  # a "-" is a state the mode never reaches
        if m is mode and expected is None:
            assert state not in reachable


@pytest.mark.parametrize("mode", MODES)
def test_table_is_total_where_it_must_be(mode: Mode) -> None:
    for state in _reachable(mode):
        if not state.holds or state is State.CLOSED:
            for event in CLIENT_EVENTS:  # a state that reads frames has an answer for each
                assert (mode, state, event) in hs.TABLE, (mode, state, event)
        else:
            for event in CLIENT_EVENTS:  # a holding state reads none
                assert (mode, state, event) not in hs.TABLE, (mode, state, event)
            for event in ANSWERS:  # and has a row for whatever answer comes
                assert (mode, state, event) in hs.TABLE, (mode, state, event)


def test_missing_rows_fail_closed() -> None:
    assert hs.transition(Mode.SIDECAR_OPEN, State.AUTH_PENDING, Event.QUERY) == (State.CLOSED, Action.FAIL)


# actions that let a client's request reach Cassandra or DynamoDB
_RUNS_REQUEST = {Action.FORWARD, Action.PASS_THROUGH}
_ANSWERS_LOGIN = {Event.ANSWER_AUTH_SUCCESS, Event.ANSWER_READY}


@pytest.mark.parametrize("mode", MODES)
def test_nothing_but_the_handshake_moves_before_ready(mode: Mode) -> None:
    for (m, state, event), t in hs.TABLE.items():
        if m is not mode:
            continue
        if t.action in _RUNS_REQUEST:
            assert state is State.READY, (state, event)
        if event in REQUESTS and state is not State.READY:
            assert t.action in {Action.NOT_STARTED, Action.NOT_AUTHENTICATED, Action.DROP}, (state, event)
        if state is State.UNINITIALIZED and event not in (Event.OPTIONS, Event.STARTUP, Event.BAD_STARTUP):
            assert t.next is State.CLOSED  # Cassandra closes the connection for these


@pytest.mark.parametrize("mode", MODES)
def test_ready_only_after_a_login_where_one_is_needed(mode: Mode) -> None:
    """Walks every path: in the checking modes READY needs the credential check's success; with
    Cassandra deciding, it needs Cassandra's READY or AUTH_SUCCESS."""
    start = (State.UNINITIALIZED, False)
    seen = {start}
    todo = deque([start])
    while todo:
        state, logged_in = todo.popleft()
        for event in (*CLIENT_EVENTS, *ANSWERS):
            t = hs.TABLE.get((mode, state, event))
            if t is None:
                continue
            now = logged_in or (state in (State.AUTH_PENDING, State.REAUTH_PENDING, State.STARTING,
                                          State.LOGGING_IN) and event in _ANSWERS_LOGIN)
            if t.next is State.READY and mode in (Mode.UPSTREAM, Mode.SIDECAR_CHECK, Mode.STANDALONE_CHECK):
                if mode is Mode.UPSTREAM:
                    assert now, (state, event)
                else:
                    assert now and (state in (State.AUTH_PENDING, State.REAUTH_PENDING)
                                    or logged_in), (state, event)
            if (t.next, now) not in seen:
                seen.add((t.next, now))
                todo.append((t.next, now))


@pytest.mark.parametrize("mode", MODES)
def test_ready_never_holds(mode: Mode) -> None:
    """The reading loop does not look for a hold on the READY fast path: from READY the only holding
    state is REAUTH_PENDING, entered by the sidecar's own credential check, which answers at once."""
    for (m, state, _event), t in hs.TABLE.items():
        if m is mode and state is State.READY and t.next.holds:
            assert (t.next, t.action) == (State.REAUTH_PENDING, Action.CHECK_CREDENTIALS)


def test_holding_states() -> None:
    assert {s for s in State if s.holds} == {State.STARTING, State.LOGGING_IN, State.AUTH_PENDING,
                                              State.REAUTH_PENDING, State.CLOSED}


@pytest.mark.parametrize(
    ("own", "users", "standalone", "mode"),
    [
        (False, False, False, Mode.UPSTREAM),
        (True, False, False, Mode.SIDECAR_OPEN),
        (True, True, False, Mode.SIDECAR_CHECK),
        (False, False, True, Mode.STANDALONE_OPEN),
        (True, False, True, Mode.STANDALONE_CHECK),
        (True, True, True, Mode.STANDALONE_CHECK),
    ],
)
def test_mode_for(own: bool, users: bool, standalone: bool, mode: Mode) -> None:
    assert hs.mode_for(own_credentials=own, client_users=users, standalone=standalone) is mode


# -- Cassandra's words ----------------------------------------------------------------------------


def test_refusals() -> None:
    assert hs.refusal(Action.NOT_STARTED, Opcode.QUERY).message == \
        "Unexpected message QUERY, expecting STARTUP or OPTIONS"
    assert hs.refusal(Action.NOT_AUTHENTICATED, Opcode.OPTIONS).message == \
        "Unexpected message OPTIONS, expecting SASL_RESPONSE"
    err = hs.refusal(Action.ALREADY_STARTED, Opcode.STARTUP)
    assert err.message == "Unexpected message STARTUP, the connection is already initialized"
    assert err.code == ErrorCode.PROTOCOL_ERROR


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"CQL_VERSION": "3.0.0"}, None),
        ({"cql_version": "3.0.0", "compression": "LZ4"}, None),
        ({}, "Missing value CQL_VERSION in STARTUP message"),
        ({"CQL_VERSION": "3.0.0", "COMPRESSION": "Zstd"}, "Unknown compression algorithm: zstd"),
    ],
)
def test_startup_problem(options: dict[str, str], problem: str | None) -> None:
    assert hs.startup_problem(options, 4) == problem


def test_startup_problem_v5_snappy() -> None:
    assert hs.startup_problem({"CQL_VERSION": "3.0.0", "COMPRESSION": "snappy"}, 4) is None
    assert hs.startup_problem({"CQL_VERSION": "3.0.0", "COMPRESSION": "snappy"}, 5) == \
        "Snappy compression is not supported in protocol V5"


def _refused(kind: str, opcode: int | None, fatal: bool = False) -> FrameRefused:
    error = InvalidRequest("too big") if kind == "size" else ProtocolError("why")
    return FrameRefused(error, 7, 4, fatal=fatal, kind=kind, opcode=opcode)


@pytest.mark.parametrize(
    ("state", "err", "message", "close"),
    [
        (State.READY, _refused("opcode", 0x11), "why", False),
        (State.UNINITIALIZED, _refused("opcode", 0x11), "why", False),
        (State.AUTHENTICATING, _refused("direction", 0x02), "why", False),
        (State.READY, _refused("version_mismatch", 0x05), "why", False),
        (State.UNINITIALIZED, _refused("opcode", 0x04),
         "Unexpected message CREDENTIALS, expecting STARTUP or OPTIONS", True),
        (State.AUTHENTICATING, _refused("opcode", 0x04), "Unsupported message", False),
        (State.READY, _refused("opcode", 0x04), "Unsupported message", False),
        (State.READY, _refused("opcode", 0x80), None, True),  # Cassandra drops the connection
        (State.READY, _refused("size", 0x07), "too big", False),
        (State.AUTHENTICATING, _refused("multi_segment", 0x07, fatal=True), "why", True),
    ],
)
def test_frame_error_answer(state: State, err: FrameRefused, message: str | None, close: bool) -> None:
    answer = hs.frame_error_answer(state, err)
    assert answer.stream == 7 and answer.close is close
    assert (answer.error.message if answer.error is not None else None) == message


# -- SASL PLAIN: vectors checked against Cassandra 5.0.9's PasswordAuthenticator --------------------

USERS = {"app": "s3cret", "cassandra": "cassandra"}


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (b"", "Password must not be null"),
        (b"abc", "Password must not be null"),
        (b"user\x00pw", "Authentication ID must not be null"),
        (b"\x00\x00pw", "Authentication ID must not be null"),
        (b"\x00cassandra\x00", "Password must not be null"),
        (b"\x00a\x00b\x00", "Credential format error: username or password is empty or contains NUL(\\0) character"),
        (b"a\x00\x00b\x00c", "Credential format error: username or password is empty or contains NUL(\\0) character"),
        (b"\x00nobody\x00pw", "Provided username nobody and/or password are incorrect"),
        (b"\x00app\x00wrong", "Provided username app and/or password are incorrect"),
        (b"\x00app\x00s3cret", None),
        (b"authz\x00cassandra\x00cassandra", None),
    ],
)
def test_check_plain(token: bytes, error: str | None) -> None:
    _, err = hs.check_plain(token, USERS)
    assert (err.message if err is not None else None) == error
    if err is not None:
        assert isinstance(err, BadCredentials)


def test_null_token_is_a_server_error() -> None:
    _, err = hs.check_plain(None, USERS)
    assert isinstance(err, ServerError)


# -- the executor on a fake session: what reaches Cassandra, state by state --------------------------


@dataclass
class FakeCfg:
    cassandra_username: str = ""
    cassandra_password: str = ""
    client_users: str = ""

    @property
    def client_user_table(self) -> dict[str, str]:
        return dict(item.split(":", 1) for item in self.client_users.split(",") if item)


@dataclass
class FakeSession:
    """Records what the handshake does instead of doing it."""

    cfg: FakeCfg
    standalone: bool = False
    state: State = State.UNINITIALIZED
    version: int = 4
    compression: str | None = None
    handshake_stream: int = 0
    peer_name: str = "test"
    upstream: Any = None
    out: list[tuple[Frame, int | None]] = field(default_factory=list)
    forwarded: list[int] = field(default_factory=list)  # opcodes sent to Cassandra for the client
    injected: list[str] = field(default_factory=list)
    handlers: list[Any] = field(default_factory=list)
    sent: list[tuple[int, str]] = field(default_factory=list)  # (stream, what)
    closed: bool = False
    served: list[int] = field(default_factory=list)  # opcodes the READY request path took

    def forward(self, f: Frame, handler: Any) -> None:
        self.forwarded.append(f.opcode)
        self.handlers.append(handler)

    def inject(self, msg: Any, handler: Any) -> None:
        self.injected.append(type(msg).__name__)
        self.handlers.append(handler)

    def send(self, msg: Any, stream: int) -> None:
        self.sent.append((stream, type(msg).__name__))

    def reply_error(self, stream: int, e: Any) -> None:
        self.sent.append((stream, f"ERROR {int(e.code):#06x} {e.message}"))

    def close(self, reason: str = "error") -> None:
        self.closed = True

    held: bool = False

    def sync_hold(self) -> None:
        self.held = self.state.holds

    def read_buffered(self) -> None:
        pass

    def switch_client_to_segments(self) -> None:
        pass

    def on_client_frame(self, f: Frame) -> None:
        self.served.append(f.opcode)


def _req(msg: Any, stream: int) -> Frame:
    return encode_message(msg, 4, stream, response=False)


def _raw(opcode: int, stream: int) -> Frame:
    return Frame(4, 0, stream, opcode, b"\x00\x00\x00\x00")


def _answer(s: FakeSession, msg: Any) -> None:
    handler = s.handlers.pop()
    handler(s, encode_message(msg, 4, 0, response=True), None)


OWN = FakeCfg("cassandra", "cassandra", "app:s3cret")


def _auth(user: str, pw: str) -> AuthResponse:
    return AuthResponse(b"\x00" + user.encode() + b"\x00" + pw.encode())


def test_sidecar_check_lets_nothing_through_before_the_login() -> None:
    s = FakeSession(OWN)
    for op in (Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE, Opcode.BATCH, Opcode.REGISTER):
        t = FakeSession(OWN)
        handshake_exec.on_frame(t, _raw(op, 3))
        assert t.forwarded == [] and t.closed and t.state is State.CLOSED
    handshake_exec.on_frame(s, _req(Startup({"CQL_VERSION": "3.0.0"}), 1))
    assert s.forwarded == [Opcode.STARTUP] and s.state is State.STARTING
    from cql_protocol.messages import Authenticate, AuthSuccess
    _answer(s, Authenticate(hs.PASSWORD_AUTHENTICATOR))
    assert s.injected == ["AuthResponse"] and s.state is State.LOGGING_IN
    _answer(s, AuthSuccess(None))
    assert s.state is State.AUTHENTICATING and s.sent == [(1, "Authenticate")]
    # the sidecar is logged in to Cassandra now; the client is not
    for op in (Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE, Opcode.BATCH, Opcode.REGISTER, Opcode.OPTIONS):
        handshake_exec.on_frame(s, _raw(op, 5))
    handshake_exec.on_frame(s, _req(_auth("app", "wrong"), 6))
    for op in (Opcode.QUERY, Opcode.EXECUTE):
        handshake_exec.on_frame(s, _raw(op, 7))
    assert s.forwarded == [Opcode.STARTUP] and s.served == [] and not s.closed
    assert s.state is State.AUTHENTICATING
    assert s.sent[1:] == [(5, f"ERROR 0x000a Unexpected message {n}, expecting SASL_RESPONSE")
                          for n in ("QUERY", "PREPARE", "EXECUTE", "BATCH", "REGISTER", "OPTIONS")] + [
        (6, "ERROR 0x0100 Provided username app and/or password are incorrect")] + [
        (7, f"ERROR 0x000a Unexpected message {n}, expecting SASL_RESPONSE") for n in ("QUERY", "EXECUTE")]
    handshake_exec.on_frame(s, _req(_auth("app", "s3cret"), 8))
    assert s.state is State.READY and s.sent[-1] == (8, "AuthSuccess")
    handshake_exec.on_frame(s, _raw(Opcode.QUERY, 9))
    assert s.served == [Opcode.QUERY]


def test_sidecar_login_refused_closes_the_client() -> None:
    from cql_protocol.messages import Authenticate, ErrorMessage
    s = FakeSession(OWN)
    handshake_exec.on_frame(s, _req(Startup({"CQL_VERSION": "3.0.0"}), 1))
    _answer(s, Authenticate(hs.PASSWORD_AUTHENTICATOR))
    _answer(s, ErrorMessage(0x100, "Provided username cassandra and/or password are incorrect"))
    assert s.closed and s.state is State.CLOSED
    assert s.sent == [(1, "ERROR 0x0000 the sidecar cannot log in to Cassandra: Cassandra refused its credentials")]


def test_upstream_passes_the_clients_sasl_through() -> None:
    from cql_protocol.messages import Authenticate, AuthSuccess, ErrorMessage
    s = FakeSession(FakeCfg())
    handshake_exec.on_frame(s, _req(Startup({"CQL_VERSION": "3.0.0"}), 1))
    _answer(s, Authenticate(hs.PASSWORD_AUTHENTICATOR))
    assert s.state is State.AUTHENTICATING and [st for _, st in s.out] == [1]
    handshake_exec.on_frame(s, _raw(Opcode.QUERY, 2))
    handshake_exec.on_frame(s, _req(_auth("x", "y"), 3))
    assert s.forwarded == [Opcode.STARTUP, Opcode.AUTH_RESPONSE] and s.state is State.AUTH_PENDING
    _answer(s, ErrorMessage(0x100, "Provided username x and/or password are incorrect"))
    assert s.state is State.AUTHENTICATING
    handshake_exec.on_frame(s, _req(_auth("x", "z"), 4))
    _answer(s, AuthSuccess(None))
    assert s.state is State.READY and [st for _, st in s.out] == [1, 3, 4]
    handshake_exec.on_frame(s, _req(_auth("x", "z"), 5))
    assert s.forwarded[-1] == Opcode.AUTH_RESPONSE and s.handlers[-1] is None  # Cassandra's to answer


def test_standalone_answers_the_handshake_itself() -> None:
    s = FakeSession(FakeCfg("sidecar", "pw"), standalone=True)
    handshake_exec.on_frame(s, _req(Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}), 1))
    assert s.state is State.AUTHENTICATING and s.sent == [(1, "Authenticate")] and s.compression == "lz4"
    handshake_exec.on_frame(s, _raw(Opcode.QUERY, 2))
    handshake_exec.on_frame(s, _req(_auth("sidecar", "pw"), 3))
    assert s.state is State.READY and s.sent[-1] == (3, "AuthSuccess") and s.forwarded == []
    open_ = FakeSession(FakeCfg(), standalone=True)
    handshake_exec.on_frame(open_, _req(Startup({"CQL_VERSION": "3.0.0"}), 1))
    assert open_.state is State.READY and open_.sent == [(1, "Ready")]


def test_refused_startup_keeps_the_connection() -> None:
    s = FakeSession(FakeCfg())
    handshake_exec.on_frame(s, _req(Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "zstd"}), 1))
    handshake_exec.on_frame(s, _req(Startup({}), 2))
    assert s.sent == [(1, "ERROR 0x000a Unknown compression algorithm: zstd"),
                      (2, "ERROR 0x000a Missing value CQL_VERSION in STARTUP message")]
    assert s.state is State.UNINITIALIZED and not s.closed and s.forwarded == []
    bad = Frame(4, 0, 3, Opcode.STARTUP, b"\x00\x01")  # a body that does not decode
    handshake_exec.on_frame(s, bad)
    assert s.sent[-1][0] == 3 and s.sent[-1][1].startswith("ERROR 0x000a")


def test_ready_answer_is_for_the_startups_stream() -> None:
    s = FakeSession(FakeCfg("cassandra", "cassandra"))
    handshake_exec.on_frame(s, _req(Startup({"CQL_VERSION": "3.0.0"}), 11))
    _answer(s, Ready())  # Cassandra without authentication; the sidecar admits the client
    assert s.state is State.READY and s.sent == [(11, "Ready")]


# -- rate-limited logging -------------------------------------------------------------------------


def test_token_bucket() -> None:
    b = TokenBucket(rate=1.0, burst=3.0, now=0.0)
    assert [b.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.take(0.5) is False and b.take(1.0) is True


def test_limited_log_counts_what_it_leaves_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = LimitedLog(logging.getLogger("test.limited"), rate=1.0, burst=2.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.limited"):
        written = [limited.log(logging.INFO, "opcode", "bad %d", i) for i in range(100)]
        assert written.count(True) == 2
        assert limited.log(logging.INFO, "other", "another kind has its own bucket")
        now[0] = 5.0
        assert limited.log(logging.INFO, "opcode", "bad again")
    assert caplog.messages[-1] == "bad again (98 more like this not logged)"


def test_protocol_error_is_a_cql_error() -> None:
    assert ProtocolError("x").code == ErrorCode.PROTOCOL_ERROR
