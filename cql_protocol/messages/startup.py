"""Connection setup and authentication: STARTUP, OPTIONS, SUPPORTED, READY, AUTH_*, REGISTER."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from ..opcodes import Opcode
from ..primitives import Reader, Writer
from .base import Message, request, response


@request
@dataclass(slots=True)
class Startup(Message):
    opcode: ClassVar[int] = Opcode.STARTUP
    options: dict[str, str] = field(default_factory=dict)

    def encode_body(self, w: Writer, version: int) -> None:
        w.string_map(self.options)

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        return cls(r.string_map())


@request
@dataclass(slots=True)
class Options(Message):
    opcode: ClassVar[int] = Opcode.OPTIONS

    def encode_body(self, w: Writer, version: int) -> None:
        pass

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        return cls()


@response
@dataclass(slots=True)
class Supported(Message):
    opcode: ClassVar[int] = Opcode.SUPPORTED
    options: dict[str, list[str]] = field(default_factory=dict)

    def encode_body(self, w: Writer, version: int) -> None:
        w.string_multimap(self.options)

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        return cls(r.string_multimap())


@response
@dataclass(slots=True)
class Ready(Message):
    opcode: ClassVar[int] = Opcode.READY

    def encode_body(self, w: Writer, version: int) -> None:
        pass

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        return cls()


@response
@dataclass(slots=True)
class Authenticate(Message):
    opcode: ClassVar[int] = Opcode.AUTHENTICATE
    authenticator: str

    def encode_body(self, w: Writer, version: int) -> None:
        w.string(self.authenticator)

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        return cls(r.string())


@dataclass(slots=True)
class _Token(Message):
    """A body that is one [bytes] SASL token (null allowed)."""

    token: bytes | None

    def encode_body(self, w: Writer, version: int) -> None:
        w.bytes_(self.token)

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        return cls(r.bytes_())


@request
@dataclass(slots=True)
class AuthResponse(_Token):
    opcode: ClassVar[int] = Opcode.AUTH_RESPONSE


@response
@dataclass(slots=True)
class AuthChallenge(_Token):
    opcode: ClassVar[int] = Opcode.AUTH_CHALLENGE


@response
@dataclass(slots=True)
class AuthSuccess(_Token):
    opcode: ClassVar[int] = Opcode.AUTH_SUCCESS


@request
@dataclass(slots=True)
class Register(Message):
    opcode: ClassVar[int] = Opcode.REGISTER
    event_types: list[str] = field(default_factory=list)

    def encode_body(self, w: Writer, version: int) -> None:
        w.string_list(self.event_types)

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        return cls(r.string_list())
