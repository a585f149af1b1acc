"""What a request handler may ask of the client session it runs in: the narrow interface the
handlers, the mapped write and read paths and the response rewriters use (proxy.session.client_session
implements it). Nothing here reaches the session's fields; none of those modules imports the
session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cql_protocol.errors import CQLError, InvalidRequest
from cql_protocol.frame import Frame
from cql_protocol.messages import Message

if TYPE_CHECKING:
    from ..reads.read_path import ReadPath
    from ..system_tables.topology import Node
    from ..writes.dual_write import DualWrite


class NoCassandra(InvalidRequest):
    """A request that must go to Cassandra, on a sidecar running without it (every mapped table in
    `dynamo`). `as_it_came`: nothing in it reaches DynamoDB; else it needs Cassandra's answer too."""

    def __init__(self, as_it_came: bool) -> None:
        super().__init__("this statement needs Cassandra, which is switched off")
        self.as_it_came = as_it_came


@dataclass(slots=True)
class Pending:
    """A request sent to Cassandra and waiting for its answer."""

    client_stream: int  # -1: a request the sidecar made itself
    opcode: int
    started: float
    # a ResponseHandler, or one of the session's own handshake steps (which take the session itself)
    handler: Callable[[Any, Frame, Pending], None] | None
    request: Frame | None = None


class SessionPort(Protocol):
    # -- what the handlers read ----------------------------------------------------------------
    @property
    def keyspace(self) -> str | None: ...

    @property
    def version(self) -> int: ...

    @property
    def frame_compression(self) -> str | None: ...

    @property
    def me(self) -> Node:
        """The address this client knows the sidecar by (system.local shows it)."""
        ...

    @property
    def peers(self) -> list[Node]: ...

    @property
    def has_cassandra(self) -> bool:
        """The session's Cassandra connection is up and the client still there."""
        ...

    @property
    def dual(self) -> DualWrite | None: ...

    @property
    def reads(self) -> ReadPath | None: ...

    def system_statement(self, query_id: bytes) -> Any: ...

    # -- what they do --------------------------------------------------------------------------
    def forward(self, f: Frame, handler: ResponseHandler | None) -> None:
        """Sends the client's request to Cassandra; `handler` (None: pass it back as is) sees the answer.
        Raises NoCassandra on a sidecar running without Cassandra."""
        ...

    def inject(self, msg: Message, on_response: ResponseHandler) -> None:
        """Sends a request of the sidecar's own on the session's Cassandra connection."""
        ...

    def relay(self, frame: Frame, stream: int | None) -> None:
        """Passes an answer to the client as it is, on `stream` (None: the frame's own)."""
        ...

    def send(self, msg: Message, stream: int) -> None: ...

    def reply_error(self, stream: int, exc: CQLError) -> None: ...

    def flush(self) -> None: ...

    def use_keyspace(self, keyspace: str) -> None: ...

    def remember_system_statement(self, query_id: bytes, statement: Any) -> None: ...

    def handshake(self, f: Frame) -> None:
        """A STARTUP or AUTH_RESPONSE on a ready connection: the handshake's own answer."""
        ...


# A handler sees Cassandra's response to one request and decides what the client gets.
ResponseHandler = Callable[[SessionPort, Frame, Pending], None]
