"""Typed CQL errors. Each carries its wire error code; `messages.error` turns them into ERROR bodies."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    SERVER_ERROR = 0x0000
    PROTOCOL_ERROR = 0x000A
    BAD_CREDENTIALS = 0x0100
    UNAVAILABLE = 0x1000
    OVERLOADED = 0x1001
    IS_BOOTSTRAPPING = 0x1002
    TRUNCATE_ERROR = 0x1003
    WRITE_TIMEOUT = 0x1100
    READ_TIMEOUT = 0x1200
    READ_FAILURE = 0x1300
    FUNCTION_FAILURE = 0x1400
    WRITE_FAILURE = 0x1500
    CDC_WRITE_FAILURE = 0x1600
    CAS_WRITE_UNKNOWN = 0x1700
    SYNTAX_ERROR = 0x2000
    UNAUTHORIZED = 0x2100
    INVALID = 0x2200
    CONFIG_ERROR = 0x2300
    ALREADY_EXISTS = 0x2400
    UNPREPARED = 0x2500


class CQLError(Exception):
    """An error that is answered to the client as an ERROR frame with `code`."""

    code: ErrorCode = ErrorCode.SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServerError(CQLError):
    code = ErrorCode.SERVER_ERROR


class ProtocolError(CQLError):
    """The peer broke the wire protocol. The codec raises nothing else on bad input."""

    code = ErrorCode.PROTOCOL_ERROR


class UnsupportedVersion(ProtocolError):
    """A frame announced a protocol version we do not speak.

    `reply_version` is the version the error must be framed with so that the client can read it
    (Cassandra answers old versions in their own format and newer ones with its highest version).
    """

    def __init__(self, version: int, stream: int, reply_version: int) -> None:
        super().__init__(
            f"Invalid or unsupported protocol version ({version}); "
            "supported versions are (3/v3, 4/v4, 5/v5)"
        )
        self.version = version
        self.stream = stream
        self.reply_version = reply_version


class FrameRefused(ProtocolError):
    """A reader dropped one frame it must not take (too large, a compressed body announcing too
    much, another version, the wrong direction, an unknown opcode) and stayed in step with the
    stream: `error` is the answer for `stream`, after which the connection goes on unless `fatal`.
    `kind` names the reason for counting; `opcode` is the frame's when its header was read. A peer
    that may not be refused (Cassandra) treats it as any ProtocolError."""

    def __init__(self, error: CQLError, stream: int, version: int, *, fatal: bool = False, kind: str = "size",
                 opcode: int | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.stream = stream
        self.version = version
        self.fatal = fatal
        self.kind = kind
        self.opcode = opcode


class BadCredentials(CQLError):
    code = ErrorCode.BAD_CREDENTIALS


class Overloaded(CQLError):
    code = ErrorCode.OVERLOADED


class IsBootstrapping(CQLError):
    code = ErrorCode.IS_BOOTSTRAPPING


class SyntaxError_(CQLError):
    code = ErrorCode.SYNTAX_ERROR


class Unauthorized(CQLError):
    code = ErrorCode.UNAUTHORIZED


class InvalidRequest(CQLError):
    code = ErrorCode.INVALID


class ConfigError(CQLError):
    code = ErrorCode.CONFIG_ERROR


class Unprepared(CQLError):
    """The statement id is unknown here; drivers re-prepare and retry on this error."""

    code = ErrorCode.UNPREPARED

    def __init__(self, statement_id: bytes) -> None:
        super().__init__(f"Prepared query with ID {statement_id.hex()} not found (either the query was "
                         "not prepared on this host (maybe the host has been restarted?) or you have "
                         "prepared too many queries and it has been evicted from the internal cache)")
        self.statement_id = statement_id


class WriteFailure(CQLError):
    code = ErrorCode.WRITE_FAILURE

    def __init__(self, message: str, *, consistency: int | None = None, received: int | None = None,
                 block_for: int | None = None, num_failures: int | None = None,
                 write_type: str | None = None) -> None:
        super().__init__(message)
        self.consistency = consistency
        self.received = received
        self.block_for = block_for
        self.num_failures = num_failures
        self.write_type = write_type


class ReadFailure(CQLError):
    code = ErrorCode.READ_FAILURE


class WriteTimeout(CQLError):
    """The write may or may not have been applied (Cassandra's meaning, kept by the sidecar)."""

    code = ErrorCode.WRITE_TIMEOUT

    def __init__(self, message: str, *, consistency: int, received: int, block_for: int,
                 write_type: str = "SIMPLE") -> None:
        super().__init__(message)
        self.consistency = consistency
        self.received = received
        self.block_for = block_for
        self.write_type = write_type


class ReadTimeout(CQLError):
    code = ErrorCode.READ_TIMEOUT

    def __init__(self, message: str, *, consistency: int, received: int, block_for: int,
                 data_present: bool = False) -> None:
        super().__init__(message)
        self.consistency = consistency
        self.received = received
        self.block_for = block_for
        self.data_present = data_present
