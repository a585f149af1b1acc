"""A minimal blocking CQL client on the project's own codec, for tests that need the exact bytes
Cassandra sends (result metadata, prepared ids) rather than a driver's interpretation of them."""

from __future__ import annotations

import socket
from types import TracebackType

from cql_protocol.frame import Frame, FrameReader, FrameWriter
from cql_protocol.messages import (
    Authenticate,
    ErrorMessage,
    Message,
    Prepare,
    Prepared,
    Query,
    QueryParameters,
    Ready,
    Result,
    Rows,
    Startup,
    decode_frame,
    encode_message,
)
from cql_protocol.messages.query import Value


class RawClient:
    def __init__(self, host: str, port: int, version: int = 4, timeout: float = 10.0) -> None:
        self.version = version
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = FrameReader(responses=True)
        self.writer = FrameWriter()
        self.stream = 0
        reply = self.request(Startup({"CQL_VERSION": "3.0.0"}))
        if not isinstance(reply, Ready):
            raise RuntimeError(f"STARTUP answered with {reply!r}")
        if version >= 5:
            self.reader.use_segments(False)
            self.writer.use_segments(False)

    def request(self, msg: Message) -> Message:
        self.stream = (self.stream + 1) % 32000
        frame = encode_message(msg, self.version, self.stream, response=False)
        self.sock.sendall(self.writer.encode([(frame, None)]))
        while True:
            f = self.reader.next_frame()
            if f is not None:
                return decode_frame(f).message
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed")
            self.reader.feed(data)

    def _ok(self, msg: Message) -> Result:
        reply = self.request(msg)
        if isinstance(reply, ErrorMessage):
            raise RuntimeError(f"{type(msg).__name__} failed: {reply.message}")
        assert isinstance(reply, Result), reply
        return reply

    def query(self, cql: str, values: list[bytes | None] | None = None, keyspace: str | None = None) -> Result:
        vals: list[Value] | None = list(values) if values is not None else None
        return self._ok(Query(cql, QueryParameters(consistency=1, values=vals, keyspace=keyspace)))

    def rows(self, cql: str, values: list[bytes | None] | None = None) -> Rows:
        r = self.query(cql, values)
        assert isinstance(r, Rows), r
        return r

    def prepare(self, cql: str, keyspace: str | None = None) -> Prepared:
        r = self._ok(Prepare(cql, keyspace))
        assert isinstance(r, Prepared), r
        return r

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class RawConnection:
    """One connection driven frame by frame: the test chooses every byte (compression, segments,
    lengths that lie), and sees exactly what comes back, including a closed connection."""

    def __init__(self, host: str, port: int, version: int = 4, timeout: float = 10.0) -> None:
        self.version = version
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.compression: str | None = None
        self.reader = FrameReader(responses=True, compression=None)
        self.writer = FrameWriter()

    def startup(self, compression: str | None = None, stream: int = 1) -> Message:
        """STARTUP; on READY or AUTHENTICATE both directions switch as negotiated."""
        self.reader.compression = compression  # Cassandra already compresses its READY
        opts = {"CQL_VERSION": "3.0.0", **({"COMPRESSION": compression} if compression else {})}
        reply = self.request(Startup(opts), stream)
        if isinstance(reply, (Ready, Authenticate)):
            self.compression = compression
            if self.version >= 5:
                self.reader.use_segments(compression == "lz4")
                self.writer.use_segments(compression == "lz4")
        return reply

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, msg: Message, stream: int) -> None:
        frame = encode_message(msg, self.version, stream, response=False, compress=self.compression)
        self.sock.sendall(self.writer.encode([(frame, None)]))

    def recv(self, timeout: float | None = None) -> Frame | None:
        """The next frame; None once the peer closed the connection. TimeoutError if silent."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        while True:
            f = self.reader.next_frame()
            if f is not None:
                return f
            try:
                data = self.sock.recv(1 << 16)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.reader.feed(data)

    def request(self, msg: Message, stream: int) -> Message:
        self.send(msg, stream)
        f = self.recv()
        if f is None:
            raise ConnectionError("connection closed")
        assert f.stream == stream, (f.stream, stream)
        return decode_frame(f).message

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
