"""A minimal blocking CQL client on the project's own codec, for tests that need the exact bytes
Cassandra sends (result metadata, prepared ids) rather than a driver's interpretation of them."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from types import TracebackType

from cql_protocol.errors import ProtocolError
from cql_protocol.frame import Frame, FrameReader, FrameWriter
from cql_protocol.messages import (
    Authenticate,
    AuthResponse,
    Batch,
    BatchStatement,
    BatchType,
    ErrorMessage,
    Execute,
    Message,
    Prepare,
    Prepared,
    Query,
    QueryParameters,
    Ready,
    Register,
    Result,
    Rows,
    Startup,
    decode_frame,
    encode_message,
)
from cql_protocol.messages.query import Value
from cql_protocol.opcodes import Opcode
from cql_protocol.segment import SegmentCodec


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


# -- raw frames in any order, for handshake and protocol-error tests ---------------------------------


@dataclass
class Reply:
    """One frame from the server, with the ERROR fields decoded when it is one."""

    stream: int
    opcode: int
    version: int
    body: bytes
    code: int | None = None
    message: str | None = None

    @property
    def name(self) -> str:
        try:
            return Opcode(self.opcode).name
        except ValueError:
            return f"0x{self.opcode:02x}"

    def __repr__(self) -> str:
        extra = f" 0x{self.code:04x} {self.message!r}" if self.code is not None else ""
        return f"<{self.name} v{self.version} stream={self.stream}{extra}>"


CLOSED = "closed"
SILENT = "silent"


class FrameProbe:
    """Sends frames of any opcode, stream and body in any order and reports exactly what comes
    back: a Reply, CLOSED (the server closed the connection) or SILENT (nothing within `wait`)."""

    def __init__(self, host: str, port: int, version: int = 4, timeout: float = 5.0) -> None:
        self.version = version
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = FrameReader(responses=True)
        self.writer = FrameWriter()
        self.timeout = timeout
        self.eof = False

    # -- sending
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_envelopes(self, data: bytes) -> None:
        """Raw envelope bytes (malformed ones too), in a segment once v5 framing is on."""
        if self.writer.segmented:
            data = SegmentCodec(False).encode([data])
        self.sock.sendall(data)

    def send(self, opcode: int, body: bytes, stream: int = 1, *, version: int | None = None,
             flags: int = 0) -> None:
        v = self.version if version is None else version
        frame = Frame(v, flags, stream, opcode, body)
        self.sock.sendall(self.writer.encode([(frame, None)]))

    def send_msg(self, msg: Message, stream: int = 1) -> None:
        self.sock.sendall(self.writer.encode([(encode_message(msg, self.version, stream, response=False), None)]))

    def use_segments(self) -> None:
        """v5: both directions switch to segments after READY or AUTHENTICATE."""
        self.reader.use_segments(False)
        self.writer.use_segments(False)

    # -- receiving
    def recv(self, wait: float | None = None) -> Reply | str:
        self.sock.settimeout(self.timeout if wait is None else wait)
        while True:
            try:
                f = self.reader.next_frame()
            except ProtocolError as e:  # e.g. the server answered in envelopes, not segments
                self.reader = FrameReader(responses=True)  # what follows is unreadable too
                self.eof = True
                return f"undecodable: {e.message}"
            if f is not None:
                return self._reply(f)
            if self.eof:
                return CLOSED
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return SILENT
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                continue
            self.reader.feed(data)

    def closed(self, wait: float = 1.0) -> bool:
        """True once the server has closed the connection (reads any frames still in between)."""
        while True:
            r = self.recv(wait)
            if r == CLOSED:
                return True
            if r == SILENT:
                return False

    def request(self, opcode: int, body: bytes, stream: int = 1, wait: float | None = None) -> Reply | str:
        self.send(opcode, body, stream)
        return self.recv(wait)

    @staticmethod
    def _reply(f: Frame) -> Reply:
        body = bytes(f.plain_body())
        r = Reply(f.stream, f.opcode, f.version, body)
        if f.opcode == Opcode.ERROR:
            msg = decode_frame(f).message
            assert isinstance(msg, ErrorMessage)
            r.code, r.message = msg.code, msg.message
        return r

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> FrameProbe:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def body_of(msg: Message, version: int) -> bytes:
    return encode_message(msg, version, 0, response=False).body  # type: ignore[return-value]


def startup_body(version: int, compression: str | None = None) -> bytes:
    opts = {"CQL_VERSION": "3.0.0"}
    if compression is not None:
        opts["COMPRESSION"] = compression
    return body_of(Startup(opts), version)


def query_body(cql: str, version: int) -> bytes:
    return body_of(Query(cql, QueryParameters(consistency=1)), version)


def prepare_body(cql: str, version: int) -> bytes:
    return body_of(Prepare(cql), version)


def execute_body(query_id: bytes, version: int, result_metadata_id: bytes | None = None) -> bytes:
    return body_of(Execute(query_id, QueryParameters(consistency=1), result_metadata_id), version)


def batch_body(cql: str, version: int) -> bytes:
    return body_of(Batch(BatchType.LOGGED, [BatchStatement.of_query(cql)], consistency=1), version)


def register_body(version: int) -> bytes:
    return body_of(Register(["SCHEMA_CHANGE"]), version)


def auth_body(user: str, password: str, version: int) -> bytes:
    return body_of(AuthResponse(b"\x00" + user.encode() + b"\x00" + password.encode()), version)
