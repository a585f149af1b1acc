"""ERROR: code, message and the per-code extra fields; conversion from and to typed exceptions."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import ClassVar, Self

from ..errors import (
    BadCredentials,
    ConfigError,
    CQLError,
    ErrorCode,
    InvalidRequest,
    IsBootstrapping,
    Overloaded,
    ProtocolError,
    ServerError,
    SyntaxError_,
    Unauthorized,
    UnsupportedVersion,
)
from ..opcodes import Opcode
from ..primitives import Reader, Writer
from .base import Message, response

CAS = "CAS"


@response
@dataclass(slots=True)
class ErrorMessage(Message):
    """An ERROR body. Only the extras that belong to `code` are encoded; missing ones go out as
    zero/empty so that an error can always be answered.

    READ_FAILURE and WRITE_FAILURE carry `reasonmap` (address -> failure code) in v5 and
    `num_failures` before; `failure_count` reads whichever is present.
    """

    opcode: ClassVar[int] = Opcode.ERROR
    code: int
    message: str
    consistency: int | None = None
    required: int | None = None  # UNAVAILABLE
    alive: int | None = None  # UNAVAILABLE
    received: int | None = None
    block_for: int | None = None
    write_type: str | None = None
    contentions: int | None = None  # WRITE_TIMEOUT with write_type CAS, v5
    data_present: bool | None = None
    num_failures: int | None = None  # v3/v4 READ_FAILURE, WRITE_FAILURE
    reasonmap: dict[str, int] | None = None  # v5 READ_FAILURE, WRITE_FAILURE
    keyspace: str | None = None  # FUNCTION_FAILURE, ALREADY_EXISTS
    table: str | None = None  # ALREADY_EXISTS
    function: str | None = None  # FUNCTION_FAILURE
    arg_types: list[str] | None = None  # FUNCTION_FAILURE
    statement_id: bytes | None = None  # UNPREPARED

    @property
    def failure_count(self) -> int:
        if self.reasonmap is not None:
            return len(self.reasonmap)
        return self.num_failures or 0

    # -- wire ----------------------------------------------------------------------------------
    def encode_body(self, w: Writer, version: int) -> None:
        code = self.code
        w.int(code).string(self.message)
        if code == ErrorCode.UNAVAILABLE:
            w.short(self.consistency or 0).int(self.required or 0).int(self.alive or 0)
        elif code == ErrorCode.WRITE_TIMEOUT:
            self._write_cl_received(w)
            w.string(self.write_type or "SIMPLE")
            if version >= 5 and self.write_type == CAS:
                w.short(self.contentions or 0)
        elif code == ErrorCode.READ_TIMEOUT:
            self._write_cl_received(w)
            w.byte(1 if self.data_present else 0)
        elif code == ErrorCode.READ_FAILURE:
            self._write_cl_received(w)
            self._write_failures(w, version)
            w.byte(1 if self.data_present else 0)
        elif code == ErrorCode.WRITE_FAILURE:
            self._write_cl_received(w)
            self._write_failures(w, version)
            w.string(self.write_type or "SIMPLE")
        elif code == ErrorCode.FUNCTION_FAILURE:
            w.string(self.keyspace or "").string(self.function or "").string_list(self.arg_types or [])
        elif code == ErrorCode.ALREADY_EXISTS:
            w.string(self.keyspace or "").string(self.table or "")
        elif code == ErrorCode.UNPREPARED:
            w.short_bytes(self.statement_id or b"")
        elif code == ErrorCode.CAS_WRITE_UNKNOWN:
            self._write_cl_received(w)

    def _write_cl_received(self, w: Writer) -> None:
        w.short(self.consistency or 0).int(self.received or 0).int(self.block_for or 0)

    def _write_failures(self, w: Writer, version: int) -> None:
        if version >= 5:
            reasons = self.reasonmap or {}
            w.int(len(reasons))
            for addr, reason in reasons.items():
                w.inetaddr(addr).short(reason)
        else:
            w.int(self.failure_count)

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        code = r.int()
        e = cls(code, r.string())
        if code == ErrorCode.UNAVAILABLE:
            e.consistency = r.short()
            e.required = r.int()
            e.alive = r.int()
        elif code == ErrorCode.WRITE_TIMEOUT:
            e._read_cl_received(r)
            e.write_type = r.string()
            if version >= 5 and e.write_type == CAS:
                e.contentions = r.short()
        elif code == ErrorCode.READ_TIMEOUT:
            e._read_cl_received(r)
            e.data_present = r.byte() != 0
        elif code == ErrorCode.READ_FAILURE:
            e._read_cl_received(r)
            e._read_failures(r, version)
            e.data_present = r.byte() != 0
        elif code == ErrorCode.WRITE_FAILURE:
            e._read_cl_received(r)
            e._read_failures(r, version)
            e.write_type = r.string()
        elif code == ErrorCode.FUNCTION_FAILURE:
            e.keyspace = r.string()
            e.function = r.string()
            e.arg_types = r.string_list()
        elif code == ErrorCode.ALREADY_EXISTS:
            e.keyspace = r.string()
            e.table = r.string()
        elif code == ErrorCode.UNPREPARED:
            e.statement_id = r.short_bytes()
        elif code == ErrorCode.CAS_WRITE_UNKNOWN:
            e._read_cl_received(r)
        return e

    def _read_cl_received(self, r: Reader) -> None:
        self.consistency = r.short()
        self.received = r.int()
        self.block_for = r.int()

    def _read_failures(self, r: Reader, version: int) -> None:
        if version < 5:
            self.num_failures = r.int()
            return
        n = r.int()
        if n < 0 or n * 4 > r.remaining():  # each entry is at least 1 + 1 + 2 bytes
            raise ProtocolError(f"invalid failure reason map size {n}")
        reasons: dict[str, int] = {}
        for _ in range(n):
            addr = r.inetaddr()
            reasons[addr] = r.short()
        self.reasonmap = reasons

    # -- exceptions ----------------------------------------------------------------------------
    @classmethod
    def from_exception(cls, e: CQLError) -> ErrorMessage:
        """The ERROR body for a typed exception: the one place exceptions become wire errors.

        Extras are taken from same-named attributes of the exception, so an exception type that
        carries e.g. `consistency`, `required` and `alive` is answered with a full UNAVAILABLE.
        """
        if isinstance(e, RemoteError):
            return replace(e.details, message=e.message)
        if isinstance(e, UnsupportedVersion):
            return cls(ErrorCode.PROTOCOL_ERROR, e.message)
        msg = cls(int(e.code), e.message)
        for f in _EXTRA_FIELDS:
            value = getattr(e, f, None)
            if value is not None:
                setattr(msg, f, value)
        return msg

    def to_exception(self) -> CQLError:
        """The typed exception for this error; codes without a class in errors.py give a
        RemoteError that keeps every field."""
        typed = _TYPED.get(self.code)
        if typed is not None:
            return typed(self.message)
        return RemoteError(self)


_EXTRA_FIELDS = tuple(f.name for f in fields(ErrorMessage) if f.name not in ("code", "message"))

_TYPED: dict[int, type[CQLError]] = {
    ErrorCode.SERVER_ERROR: ServerError,
    ErrorCode.PROTOCOL_ERROR: ProtocolError,
    ErrorCode.BAD_CREDENTIALS: BadCredentials,
    ErrorCode.OVERLOADED: Overloaded,
    ErrorCode.IS_BOOTSTRAPPING: IsBootstrapping,
    ErrorCode.SYNTAX_ERROR: SyntaxError_,
    ErrorCode.UNAUTHORIZED: Unauthorized,
    ErrorCode.INVALID: InvalidRequest,
    ErrorCode.CONFIG_ERROR: ConfigError,
}


class RemoteError(CQLError):
    """An ERROR whose code has no dedicated exception class; `details` holds the decoded body."""

    def __init__(self, details: ErrorMessage) -> None:
        super().__init__(details.message)
        self.details = details
        self.error_code = details.code
        if details.code in ErrorCode._value2member_map_:
            self.code = ErrorCode(details.code)

    def __str__(self) -> str:
        return f"[0x{self.error_code:04x}] {self.message}"
