"""Connection set-up as a state table, sans-IO: nothing but the handshake moves before a client is
authenticated.

`TABLE` maps (mode, state, event) to (next state, action). Events are the client's requests by
opcode and the answers the handshake waits for (Cassandra's, or the sidecar's own credential
check). Nothing here touches a session: `proxy.session.handshake_exec` carries the actions out. Cassandra
5.0's own rules (`ServerConnection.validateNewMessage`, `InitialConnectionHandler`, confirmed
on the wire) are what a client sees:

- before STARTUP only OPTIONS and STARTUP; anything else is a PROTOCOL_ERROR on its stream and the
  connection closes;
- while authenticating only AUTH_RESPONSE (OPTIONS too is refused); anything else is a
  PROTOCOL_ERROR on its stream and the connection stays; a wrong password is BAD_CREDENTIALS and
  the client may try again;
- once ready, a second STARTUP is a PROTOCOL_ERROR; an AUTH_RESPONSE authenticates again.

Modes: by default Cassandra decides (no authentication, or the client's SASL passes through). With
credentials of its own the sidecar logs in itself, and either checks clients against
`client_users` or admits them without credentials. Without Cassandra (every table in phase
`dynamo`) the sidecar answers the handshake alone.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import NamedTuple

from cql_protocol.compression import SUPPORTED as SUPPORTED_COMPRESSION
from cql_protocol.compression import startup_compression
from cql_protocol.errors import BadCredentials, CQLError, FrameRefused, ProtocolError, ServerError
from cql_protocol.opcodes import Opcode

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
    UNINITIALIZED = "uninitialized"  # no STARTUP accepted yet
    STARTING = "starting"  # the client's STARTUP is with Cassandra
    LOGGING_IN = "logging-in"  # the sidecar's own credentials are with Cassandra
    AUTHENTICATING = "authenticating"  # the client must send AUTH_RESPONSE
    AUTH_PENDING = "auth-pending"  # the client's AUTH_RESPONSE is being checked
    REAUTH_PENDING = "reauth-pending"  # the same, on a ready connection
    READY = "ready"
    CLOSED = "closed"  # refused: the connection closes and nothing more runs

    @property
    def holds(self) -> bool:
        """The client's next frames wait unread: what they mean (and, in v5, how they are framed)
        depends on the answer awaited."""
        return self in _HOLDING


_HOLDING = frozenset({State.STARTING, State.LOGGING_IN, State.AUTH_PENDING, State.REAUTH_PENDING, State.CLOSED})


class Mode(Enum):
    UPSTREAM = "upstream"  # Cassandra decides: no authentication, or the client's SASL passes through
    SIDECAR_OPEN = "sidecar-open"  # the sidecar logs in itself; clients need no credentials
    SIDECAR_CHECK = "sidecar-check"  # the sidecar logs in itself and checks clients (client_users)
    STANDALONE_OPEN = "standalone-open"  # no Cassandra; clients need no credentials
    STANDALONE_CHECK = "standalone-check"  # no Cassandra; the sidecar checks clients


def mode_for(*, own_credentials: bool, client_users: bool, standalone: bool) -> Mode:
    if standalone:
        # without Cassandra the sidecar's own credentials are the login when no client_users are set
        return Mode.STANDALONE_CHECK if own_credentials or client_users else Mode.STANDALONE_OPEN
    if own_credentials:
        return Mode.SIDECAR_CHECK if client_users else Mode.SIDECAR_OPEN
    return Mode.UPSTREAM


class Event(Enum):
    # client requests
    STARTUP = "STARTUP"
    BAD_STARTUP = "BAD_STARTUP"  # a STARTUP the sidecar must refuse (see startup_problem)
    OPTIONS = "OPTIONS"
    AUTH_RESPONSE = "AUTH_RESPONSE"
    QUERY = "QUERY"
    PREPARE = "PREPARE"
    EXECUTE = "EXECUTE"
    BATCH = "BATCH"
    REGISTER = "REGISTER"
    # answers to what the handshake waits for
    ANSWER_READY = "answer READY"
    ANSWER_AUTHENTICATE = "answer AUTHENTICATE"
    ANSWER_AUTH_SUCCESS = "answer AUTH_SUCCESS"
    ANSWER_AUTH_CHALLENGE = "answer AUTH_CHALLENGE"
    ANSWER_ERROR = "answer ERROR"
    ANSWER_OTHER = "answer of another kind"


class Action(Enum):
    FORWARD = "forward"  # the request path: pass through, system tables, DynamoDB
    SUPPORTED = "supported"  # answer OPTIONS (Cassandra's list, filtered; or the sidecar's own)
    START = "start"  # send the client's STARTUP to Cassandra
    LOGIN = "login"  # log in to Cassandra with the sidecar's credentials
    SEND_READY = "send READY"
    SEND_AUTHENTICATE = "send AUTHENTICATE"
    FORWARD_AUTH = "forward AUTH_RESPONSE"  # the client's SASL goes to Cassandra
    PASS_THROUGH = "pass through"  # to Cassandra untouched, its answer back untouched
    CHECK_CREDENTIALS = "check credentials"  # against client_users; answers at once
    ACCEPT_ANY = "accept any"  # AUTH_SUCCESS: nothing to check (as Cassandra's AllowAllAuthenticator)
    RELAY = "relay"  # the awaited answer goes to the client
    REJECT_STARTUP = "reject STARTUP"  # PROTOCOL_ERROR with the STARTUP's problem
    NOT_STARTED = "not started"  # "Unexpected message X, expecting STARTUP or OPTIONS"
    NOT_AUTHENTICATED = "not authenticated"  # "Unexpected message X, expecting SASL_RESPONSE"
    ALREADY_STARTED = "already started"  # "Unexpected message STARTUP, the connection is already initialized"
    LOGIN_REFUSED = "login refused"  # Cassandra refused the sidecar's credentials
    FAIL = "fail"  # an answer the handshake cannot use: SERVER_ERROR
    DROP = "drop"  # the connection is closing


class Transition(NamedTuple):
    next: State
    action: Action


CLIENT_EVENTS = (Event.STARTUP, Event.BAD_STARTUP, Event.OPTIONS, Event.AUTH_RESPONSE, Event.QUERY,
                 Event.PREPARE, Event.EXECUTE, Event.BATCH, Event.REGISTER)
ANSWERS = (Event.ANSWER_READY, Event.ANSWER_AUTHENTICATE, Event.ANSWER_AUTH_SUCCESS, Event.ANSWER_AUTH_CHALLENGE,
           Event.ANSWER_ERROR, Event.ANSWER_OTHER)
REQUESTS = (Event.QUERY, Event.PREPARE, Event.EXECUTE, Event.BATCH, Event.REGISTER)  # only once READY

_ALL = tuple(Mode)
_WITH_CASSANDRA = (Mode.UPSTREAM, Mode.SIDECAR_OPEN, Mode.SIDECAR_CHECK)
_SIDECAR = (Mode.SIDECAR_OPEN, Mode.SIDECAR_CHECK)
_CHECKING = (Mode.SIDECAR_CHECK, Mode.STANDALONE_CHECK)
_OPEN = (Mode.SIDECAR_OPEN, Mode.STANDALONE_OPEN)
_AUTHENTICATING = (Mode.UPSTREAM, *_CHECKING)  # the modes where a client authenticates

S, E, A = State, Event, Action
# (modes, state, events) -> (next state, action). Client events in a holding state never reach the
# table: their frames stay unread until the state changes.
_ROWS: list[tuple[tuple[Mode, ...], State, tuple[Event, ...], State, Action]] = [
    # -- before STARTUP ---------------------------------------------------------------------------
    (_ALL, S.UNINITIALIZED, (E.OPTIONS,), S.UNINITIALIZED, A.SUPPORTED),
    (_ALL, S.UNINITIALIZED, (E.BAD_STARTUP,), S.UNINITIALIZED, A.REJECT_STARTUP),
    (_WITH_CASSANDRA, S.UNINITIALIZED, (E.STARTUP,), S.STARTING, A.START),
    ((Mode.STANDALONE_OPEN,), S.UNINITIALIZED, (E.STARTUP,), S.READY, A.SEND_READY),
    ((Mode.STANDALONE_CHECK,), S.UNINITIALIZED, (E.STARTUP,), S.AUTHENTICATING, A.SEND_AUTHENTICATE),
    (_ALL, S.UNINITIALIZED, (E.AUTH_RESPONSE, *REQUESTS), S.CLOSED, A.NOT_STARTED),
    # -- the STARTUP is with Cassandra ------------------------------------------------------------
    (_WITH_CASSANDRA, S.STARTING, (E.ANSWER_ERROR,), S.UNINITIALIZED, A.RELAY),
    ((Mode.UPSTREAM,), S.STARTING, (E.ANSWER_READY,), S.READY, A.RELAY),
    ((Mode.UPSTREAM,), S.STARTING, (E.ANSWER_AUTHENTICATE,), S.AUTHENTICATING, A.RELAY),
    (_SIDECAR, S.STARTING, (E.ANSWER_AUTHENTICATE,), S.LOGGING_IN, A.LOGIN),
    ((Mode.SIDECAR_OPEN,), S.STARTING, (E.ANSWER_READY,), S.READY, A.SEND_READY),
    ((Mode.SIDECAR_CHECK,), S.STARTING, (E.ANSWER_READY,), S.AUTHENTICATING, A.SEND_AUTHENTICATE),
    (_WITH_CASSANDRA, S.STARTING, (E.ANSWER_AUTH_SUCCESS, E.ANSWER_AUTH_CHALLENGE, E.ANSWER_OTHER),
     S.CLOSED, A.FAIL),
    # -- the sidecar logs in with its own credentials ---------------------------------------------
    ((Mode.SIDECAR_OPEN,), S.LOGGING_IN, (E.ANSWER_AUTH_SUCCESS,), S.READY, A.SEND_READY),
    ((Mode.SIDECAR_CHECK,), S.LOGGING_IN, (E.ANSWER_AUTH_SUCCESS,), S.AUTHENTICATING, A.SEND_AUTHENTICATE),
    (_SIDECAR, S.LOGGING_IN, (E.ANSWER_ERROR, E.ANSWER_AUTH_CHALLENGE), S.CLOSED, A.LOGIN_REFUSED),
    (_SIDECAR, S.LOGGING_IN, (E.ANSWER_READY, E.ANSWER_AUTHENTICATE, E.ANSWER_OTHER), S.CLOSED, A.FAIL),
    # -- the client authenticates -----------------------------------------------------------------
    ((Mode.UPSTREAM,), S.AUTHENTICATING, (E.AUTH_RESPONSE,), S.AUTH_PENDING, A.FORWARD_AUTH),
    (_CHECKING, S.AUTHENTICATING, (E.AUTH_RESPONSE,), S.AUTH_PENDING, A.CHECK_CREDENTIALS),
    (_AUTHENTICATING, S.AUTHENTICATING, (E.STARTUP, E.BAD_STARTUP, E.OPTIONS, *REQUESTS),
     S.AUTHENTICATING, A.NOT_AUTHENTICATED),
    (_AUTHENTICATING, S.AUTH_PENDING, (E.ANSWER_AUTH_SUCCESS, E.ANSWER_READY), S.READY, A.RELAY),
    (_AUTHENTICATING, S.AUTH_PENDING, (E.ANSWER_AUTH_CHALLENGE, E.ANSWER_ERROR), S.AUTHENTICATING, A.RELAY),
    (_AUTHENTICATING, S.AUTH_PENDING, (E.ANSWER_AUTHENTICATE, E.ANSWER_OTHER), S.CLOSED, A.FAIL),
    # -- ready ------------------------------------------------------------------------------------
    (_ALL, S.READY, REQUESTS, S.READY, A.FORWARD),
    (_ALL, S.READY, (E.OPTIONS,), S.READY, A.SUPPORTED),
    (_ALL, S.READY, (E.STARTUP, E.BAD_STARTUP), S.READY, A.ALREADY_STARTED),
    ((Mode.UPSTREAM,), S.READY, (E.AUTH_RESPONSE,), S.READY, A.PASS_THROUGH),
    (_OPEN, S.READY, (E.AUTH_RESPONSE,), S.READY, A.ACCEPT_ANY),
    (_CHECKING, S.READY, (E.AUTH_RESPONSE,), S.REAUTH_PENDING, A.CHECK_CREDENTIALS),
    # a failed second login leaves the first one standing, as in Cassandra
    (_CHECKING, S.REAUTH_PENDING, (E.ANSWER_AUTH_SUCCESS, E.ANSWER_ERROR), S.READY, A.RELAY),
    (_CHECKING, S.REAUTH_PENDING, (E.ANSWER_READY, E.ANSWER_AUTHENTICATE, E.ANSWER_AUTH_CHALLENGE, E.ANSWER_OTHER),
     S.CLOSED, A.FAIL),
    # -- closing: nothing more runs ---------------------------------------------------------------
    (_ALL, S.CLOSED, (*CLIENT_EVENTS, *ANSWERS), S.CLOSED, A.DROP),
]


def _build(rows: Iterable[tuple[tuple[Mode, ...], State, tuple[Event, ...], State, Action]],
           ) -> dict[tuple[Mode, State, Event], Transition]:
    table: dict[tuple[Mode, State, Event], Transition] = {}
    for modes, state, events, nxt, action in rows:
        for mode in modes:
            for event in events:
                key = (mode, state, event)
                assert key not in table, f"two rows for {key}"
                table[key] = Transition(nxt, action)
    return table


TABLE: dict[tuple[Mode, State, Event], Transition] = _build(_ROWS)
del S, E, A


def transition(mode: Mode, state: State, event: Event) -> Transition:
    """The next state and the action for `event`. Combinations the session cannot produce have
    no row; meeting one is a bug, and the connection is refused rather than let anything through."""
    t = TABLE.get((mode, state, event))
    if t is None:
        return Transition(State.CLOSED, Action.FAIL)
    return t


# -- events from frames ---------------------------------------------------------------------------

CLIENT_EVENT_OF: dict[int, Event] = {
    Opcode.STARTUP: Event.STARTUP,
    Opcode.OPTIONS: Event.OPTIONS,
    Opcode.AUTH_RESPONSE: Event.AUTH_RESPONSE,
    Opcode.QUERY: Event.QUERY,
    Opcode.PREPARE: Event.PREPARE,
    Opcode.EXECUTE: Event.EXECUTE,
    Opcode.BATCH: Event.BATCH,
    Opcode.REGISTER: Event.REGISTER,
}

ANSWER_EVENT_OF: dict[int, Event] = {
    Opcode.READY: Event.ANSWER_READY,
    Opcode.AUTHENTICATE: Event.ANSWER_AUTHENTICATE,
    Opcode.AUTH_SUCCESS: Event.ANSWER_AUTH_SUCCESS,
    Opcode.AUTH_CHALLENGE: Event.ANSWER_AUTH_CHALLENGE,
    Opcode.ERROR: Event.ANSWER_ERROR,
}


def answer_event(opcode: int) -> Event:
    return ANSWER_EVENT_OF.get(opcode, Event.ANSWER_OTHER)


def startup_problem(options: Mapping[str, str], version: int) -> str | None:
    """Why a STARTUP must be refused, in Cassandra's words (None: it is acceptable)."""
    upper = {k.upper(): v for k, v in options.items()}
    if upper.get("CQL_VERSION") is None:
        return "Missing value CQL_VERSION in STARTUP message"
    try:
        startup_compression(upper.get("COMPRESSION"), version)  # the one compression check
    except ProtocolError as e:
        return e.message
    return None


# -- answers in Cassandra's words -----------------------------------------------------------------


def _name(opcode: int) -> str:
    try:
        return Opcode(opcode).name
    except ValueError:
        return f"0x{opcode:02x}"


def refusal(action: Action, opcode: int) -> CQLError:
    """The error a refusing action answers with."""
    if action is Action.NOT_STARTED:
        return ProtocolError(f"Unexpected message {_name(opcode)}, expecting STARTUP or OPTIONS")
    if action is Action.NOT_AUTHENTICATED:
        return ProtocolError(f"Unexpected message {_name(opcode)}, expecting SASL_RESPONSE")
    if action is Action.ALREADY_STARTED:
        return ProtocolError("Unexpected message STARTUP, the connection is already initialized")
    raise ValueError(f"{action} is not a refusal")


CREDENTIALS_OPCODE = 0x04  # protocol v1's CREDENTIALS, still known to Cassandra by name


class FrameAnswer(NamedTuple):
    error: CQLError | None  # None: close without a word
    stream: int
    close: bool


def frame_error_answer(state: State, err: FrameRefused) -> FrameAnswer:
    """How Cassandra answers a frame the reader refused (and skipped): on its stream; the
    connection goes on unless the refusal is fatal. Opcodes 0x80 and up make Cassandra drop the
    connection without a word; v1's CREDENTIALS has words of its own."""
    if err.opcode is not None and err.kind == "opcode":
        if err.opcode >= 0x80:
            return FrameAnswer(None, err.stream, True)
        if err.opcode == CREDENTIALS_OPCODE:
            if state is State.UNINITIALIZED:
                return FrameAnswer(ProtocolError("Unexpected message CREDENTIALS, expecting STARTUP or OPTIONS"),
                                   err.stream, True)
            return FrameAnswer(ProtocolError("Unsupported message"), err.stream, False)
    return FrameAnswer(err.error, err.stream, err.fatal)


# -- SASL PLAIN, checked by the sidecar -----------------------------------------------------------


def plain_credentials(token: bytes | None) -> tuple[str, str]:
    """User and password from a SASL PLAIN token ([authzid] NUL user NUL password), or the
    BadCredentials Cassandra's PasswordAuthenticator answers for a malformed one."""
    if token is None:
        raise ServerError("The SASL token is null")
    # Cassandra reads from the end: the password follows the last NUL, the user the one before;
    # a third NUL is a format error before anything else is looked at
    parts = token.rsplit(b"\x00", 2)
    if len(parts) == 3 and b"\x00" in parts[0]:
        raise BadCredentials("Credential format error: username or password is empty or contains NUL(\\0) character")
    password = parts[-1] if len(parts) >= 2 else None
    user = parts[-2] if len(parts) == 3 else None
    if not password:
        raise BadCredentials("Password must not be null")
    if not user:
        raise BadCredentials("Authentication ID must not be null")
    return user.decode("utf-8", "replace"), password.decode("utf-8", "replace")


def check_plain(token: bytes | None, users: Mapping[str, str]) -> tuple[str, CQLError | None]:
    """The user a PLAIN token names and the error to answer (None: the password is right)."""
    try:
        user, password = plain_credentials(token)
    except CQLError as e:
        return "", e
    expected = users.get(user)
    # compare even for an unknown user, so timing does not tell which users exist
    ok = hmac.compare_digest((expected if expected is not None else "\x00").encode(), password.encode())
    if expected is None or not ok:
        return user, BadCredentials(f"Provided username {user} and/or password are incorrect")
    return user, None
