"""Message base class, the envelope around a message, and frame <-> message conversion.

A frame body is `[tracing id][warnings][custom payload]<message>`; which prefixes are present
depends on the frame flags and direction. `decode_frame` is the only entry point for bodies that
came off the wire: whatever is wrong with them surfaces as `ProtocolError`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from ..errors import ProtocolError
from ..frame import Frame, make_frame
from ..opcodes import FrameFlag, Opcode
from ..primitives import Reader, Writer


class Message:
    """One CQL message. Subclasses are slotted dataclasses that encode and decode their body."""

    __slots__ = ()
    opcode: ClassVar[int]

    def encode_body(self, w: Writer, version: int) -> None:
        raise NotImplementedError

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        raise NotImplementedError

    def body(self, version: int) -> bytes:
        """The message body alone (no prefix), mostly for tests and hot-path rewrites."""
        w = Writer()
        self.encode_body(w, version)
        return w.getvalue()


REQUESTS: dict[int, type[Message]] = {}
RESPONSES: dict[int, type[Message]] = {}
M = TypeVar("M", bound=type[Message])


def request(cls: M) -> M:
    """Registers a request class; apply outside @dataclass (slots=True makes a new class)."""
    REQUESTS[cls.opcode] = cls
    return cls


def response(cls: M) -> M:
    RESPONSES[cls.opcode] = cls
    return cls


@dataclass(slots=True)
class Envelope:
    """A message with its frame-level context.

    `tracing` is the request flag; a response carries `tracing_id` instead (and `tracing` is True
    when it does). `warnings` only exist on responses; `custom_payload` on both (v4+).
    """

    message: Message
    stream: int
    version: int
    tracing: bool = False
    tracing_id: uuid.UUID | None = None
    warnings: list[str] | None = None
    custom_payload: dict[str, bytes | None] | None = None
    use_beta: bool = False


def decode_frame(frame: Frame) -> Envelope:
    """Decodes a complete frame into its message. Trailing bytes after the message are ignored."""
    registry = RESPONSES if frame.response else REQUESTS
    cls = registry.get(frame.opcode)
    if cls is None:
        raise ProtocolError(f"unknown or misdirected opcode 0x{frame.opcode:02x}")
    try:
        # v5 deprecates the per-envelope compression flag (segments carry compression): ignore it
        body = frame.plain_body() if frame.version < 5 else frame.body
        r = Reader(body)
        flags = frame.flags
        version = frame.version
        tracing_id = None
        warnings = None
        custom_payload = None
        if frame.response and flags & FrameFlag.TRACING:
            tracing_id = r.uuid()
        if frame.response and version >= 4 and flags & FrameFlag.WARNING:
            warnings = r.string_list()
        if version >= 4 and flags & FrameFlag.CUSTOM_PAYLOAD:
            custom_payload = r.bytes_map()
        message = cls.decode_body(r, version)
    except ProtocolError:
        raise
    except Exception as e:  # malformed content that slipped past the Reader's own checks
        raise ProtocolError(f"malformed {_name(frame.opcode)} body: {type(e).__name__}: {e}") from e
    return Envelope(
        message=message,
        stream=frame.stream,
        version=version,
        tracing=bool(flags & FrameFlag.TRACING),
        tracing_id=tracing_id,
        warnings=warnings,
        custom_payload=custom_payload,
        use_beta=bool(flags & FrameFlag.USE_BETA),
    )


def encode_envelope(env: Envelope, *, response: bool, compress: bool | str | None = False) -> Frame:
    """Builds the frame for `env`; `compress` names the v3/v4 algorithm (True: lz4) and is ignored
    in v5."""
    msg = env.message
    registry = RESPONSES if response else REQUESTS
    if registry.get(msg.opcode) is None or not isinstance(msg, registry[msg.opcode]):
        side = "response" if response else "request"
        raise ValueError(f"{type(msg).__name__} cannot be sent as a {side}")
    version = env.version
    w = Writer()
    flags = FrameFlag.USE_BETA if env.use_beta else 0
    if response:
        if env.tracing_id is not None:
            flags |= FrameFlag.TRACING
            w.uuid(env.tracing_id)
        elif env.tracing:
            raise ValueError("a traced response needs a tracing_id")
        if env.warnings is not None:
            _require_v4(version, "warnings")
            flags |= FrameFlag.WARNING
            w.string_list(env.warnings)
    else:
        if env.tracing:
            flags |= FrameFlag.TRACING
        if env.warnings is not None:
            raise ValueError("warnings only exist on responses")
    if env.custom_payload is not None:
        _require_v4(version, "custom payloads")
        flags |= FrameFlag.CUSTOM_PAYLOAD
        w.bytes_map(env.custom_payload)
    msg.encode_body(w, version)
    return make_frame(
        version, env.stream, msg.opcode, w.getvalue(), response=response, flags=flags, compress=compress
    )


def encode_message(
    msg: Message, version: int, stream: int, *, response: bool, compress: bool | str | None = False,
    **prefix: Any
) -> Frame:
    """Shorthand for encode_envelope; `prefix` takes the optional Envelope fields by name."""
    return encode_envelope(Envelope(msg, stream, version, **prefix), response=response, compress=compress)


def _require_v4(version: int, what: str) -> None:
    if version < 4:
        raise ValueError(f"{what} need protocol v4 or later")


def _name(opcode: int) -> str:
    try:
        return Opcode(opcode).name
    except ValueError:
        return f"opcode 0x{opcode:02x}"
