"""How the batch commands (`backfill`, `validate`, `restore-cassandra`) tell failures apart: which
errors are worth retrying, which stop a run before it starts, and the one line that names them.

A run that cannot start says why on one line and exits with its command's code: 2 for what the
operator must fix (a bad option, an unreadable file, a missing table, refused credentials, a busy
metrics port), and "unreachable" for a store that does not answer (backfill and restore 1, run again
later; validate 3, nothing could be compared).
"""

from __future__ import annotations

import enum
from typing import Any

from ..aws.dynamodb_client import CREDENTIALS_REFUSED, DynamoDBError, DynamoDBUnavailable


class Kind(enum.Enum):
    INVALID = "invalid"  # the operator must change something: retrying cannot help
    UNREACHABLE = "unreachable"  # a store did not answer: the same command may work later


# validate's 3 is "some range could not be compared": with a store down, none could
_EXIT = {"validate": {Kind.INVALID: 2, Kind.UNREACHABLE: 3}}
_DEFAULT_EXIT = {Kind.INVALID: 2, Kind.UNREACHABLE: 1}


class CommandError(Exception):
    """Stops a batch command with a one-line reason."""

    def __init__(self, message: str, kind: Kind = Kind.INVALID) -> None:
        super().__init__(message)
        self.kind = kind

    def exit_code(self, command: str) -> int:
        return _EXIT.get(command, _DEFAULT_EXIT)[self.kind]


# DynamoDB's answers to credentials it does not accept, or to an action they may not do
AUTH_CODES = CREDENTIALS_REFUSED | {"AccessDeniedException"}


def cassandra_transient(e: BaseException) -> bool:
    """Whether a Cassandra error may pass if the request is sent again: timeouts, unavailable or
    overloaded replicas, lost connections. A missing table, a refused login or permission, bad
    syntax and values the driver cannot decode fail the same way every time."""
    from cassandra import FunctionFailure, OperationTimedOut, RequestExecutionException
    from cassandra.cluster import NoHostAvailable
    from cassandra.connection import ConnectionException
    from cassandra.protocol import ServerError

    if isinstance(e, FunctionFailure):  # a user function that throws does so again
        return False
    if isinstance(e, NoHostAvailable):
        return not _login_refused(e)
    return isinstance(e, RequestExecutionException | OperationTimedOut | ConnectionException | ServerError
                      | OSError | TimeoutError)


def _host_errors(e: BaseException) -> dict[Any, BaseException]:
    """NoHostAvailable's error per host tried (empty for other errors)."""
    errors = getattr(e, "errors", None)
    return errors if isinstance(errors, dict) else {}


def _login_refused(e: BaseException) -> bool:
    from cassandra import AuthenticationFailed

    errors = _host_errors(e)
    return bool(errors) and all(isinstance(x, AuthenticationFailed) for x in errors.values())


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def cassandra_error(e: BaseException, contact: str) -> CommandError:
    """A failed connection to Cassandra as the one line a command ends with."""
    errors = _host_errors(e)
    if _login_refused(e):
        first = next(iter(errors.values()))
        return CommandError(f"Cassandra at {contact} refused the login: {_first_line(str(first))}")
    if len(errors) > 1:
        reasons = "; ".join(f"{host}: {_reason(x)}" for host, x in errors.items())
        return CommandError(f"cannot connect to Cassandra at {contact}: {reasons}", Kind.UNREACHABLE)
    if errors:
        e = next(iter(errors.values()))
    return CommandError(f"cannot connect to Cassandra at {contact}: {_reason(e)}", Kind.UNREACHABLE)


def _reason(e: BaseException) -> str:
    # the driver's connection errors say "Tried connecting to [...]. Last error: Connection refused"
    text = _first_line(str(e)) or type(e).__name__
    tail = text.rpartition("Last error: ")[2]
    return tail or text


def dynamodb_error(e: BaseException, endpoint: str, table: str | None = None) -> CommandError:
    """A failed DynamoDB check as the one line a command ends with."""
    if isinstance(e, DynamoDBUnavailable):
        return CommandError(f"cannot reach DynamoDB at {endpoint}: {_unavailable_reason(e)}", Kind.UNREACHABLE)
    if isinstance(e, DynamoDBError):
        if e.code == "ResourceNotFoundException" and table is not None:
            return CommandError(f"DynamoDB table {table} does not exist at {endpoint} (create it with "
                                "`cql-dynamo-proxy tables create --mapping ...`)")
        if e.code == "AccessDeniedException":
            return CommandError(f"DynamoDB at {endpoint} denies access: {e.message}")
        if e.code in AUTH_CODES:
            return CommandError(f"DynamoDB at {endpoint} refused the credentials: {e.code}: {e.message}")
        if e.retryable:
            return CommandError(f"DynamoDB at {endpoint} keeps failing: {e}", Kind.UNREACHABLE)
        return CommandError(f"DynamoDB at {endpoint}: {e}")
    return CommandError(f"DynamoDB at {endpoint}: {type(e).__name__}: {e}", Kind.UNREACHABLE)


_TRANSPORT_REASONS = (
    ("ConnectionRefusedError", "connection refused"),
    ("[Errno 111]", "connection refused"),
    ("TimeoutError", "no answer in time"),
    ("gaierror", "unknown host"),
    ("ConnectionResetError", "connection reset"),
)


def _unavailable_reason(e: DynamoDBUnavailable) -> str:
    # the client's message ends with the last transport error's repr: name it in plain words
    text = str(e)
    return next((reason for name, reason in _TRANSPORT_REASONS if name in text), text)


def describe(e: BaseException) -> str:
    """One line for an error that ended a range or segment (no traceback: the type and message)."""
    if isinstance(e, DynamoDBError | DynamoDBUnavailable):
        return _first_line(str(e))
    return f"{type(e).__name__}: {_first_line(str(e))}"
