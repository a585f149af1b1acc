"""A client session driven byte by byte without sockets: frames refused for their size are
answered as Cassandra answers them and never reach Cassandra; the limits come from the config."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from bombs import MIB, frame, lz4_frame_body_bomb, snappy_bomb

from cql_protocol.errors import ErrorCode
from cql_protocol.frame import DEFAULT_MAX_RESPONSE_FRAME, FrameReader
from cql_protocol.messages import (
    Authenticate,
    ErrorMessage,
    Options,
    Query,
    QueryParameters,
    Ready,
    Startup,
    Supported,
    decode_frame,
    encode_message,
)
from cql_protocol.opcodes import FrameFlag, Opcode
from cql_protocol.segment import MAX_PAYLOAD, SegmentCodec
from proxy.config import Config, ConfigError, load_config
from proxy.session import client_session as cs
from proxy.session import handshake
from proxy.session import upstream as up


class Transport:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:  # the session stops reading while the handshake awaits an answer
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class Session:
    """A ClientSession with its upstream, both on recording transports."""

    def __init__(self, cfg: Config | None = None, version: int = 4, compression: str | None = None) -> None:
        cfg = cfg or Config()
        server = SimpleNamespace(cfg=cfg, sessions=set(), lane_queries={}, draining=False, dual=None, reads=None, assess=None)
        self.s = cs.ClientSession(server)  # type: ignore[arg-type]
        self.client = Transport()
        self.s.transport = self.client  # type: ignore[assignment]
        self.u = up.UpstreamConnection(self.s, cfg.max_frame_bytes)
        self.cassandra = Transport()
        self.u.transport = self.cassandra  # type: ignore[assignment]
        self.s.upstream = self.u
        self.version = version
        self.compression = compression
        self.client_reader = FrameReader(responses=True, compression=compression)
        self.cassandra_reader = FrameReader(responses=False, compression=compression)

    def send(self, data: bytes) -> None:
        self.s.data_received(data)

    def startup(self, answer: object = None) -> None:
        opts = {"CQL_VERSION": "3.0.0", **({"COMPRESSION": self.compression} if self.compression else {})}
        self.send(encode_message(Startup(opts), self.version, 1, response=False).encode())
        assert self.forwarded() == [Opcode.STARTUP]
        reply = answer or Ready()
        self.u.data_received(encode_message(reply, self.version, 1, response=True,  # type: ignore[arg-type]
                                            compress=self.compression).encode())
        (f,) = self.answers()
        assert f.opcode == (Opcode.READY if answer is None else Opcode.AUTHENTICATE)
        if self.version >= 5:
            self.client_reader.use_segments(self.compression == "lz4")
            self.cassandra_reader.use_segments(self.compression == "lz4")

    def forwarded(self) -> list[int]:
        self.cassandra_reader.feed(bytes(self.cassandra.data))
        self.cassandra.data.clear()
        return [f.opcode for f in self.cassandra_reader.frames()]

    def answers(self) -> list[Any]:
        self.client_reader.feed(bytes(self.client.data))
        self.client.data.clear()
        return self.client_reader.frames()


def error_of(f: Any) -> ErrorMessage:
    msg = decode_frame(f).message
    assert isinstance(msg, ErrorMessage), msg
    return msg


@pytest.mark.parametrize(("algo", "body"), [("lz4", lz4_frame_body_bomb(250 * MIB)),
                                            ("snappy", snappy_bomb(20 * MIB))])
def test_bomb_after_startup_is_answered_and_never_forwarded(algo: str, body: bytes) -> None:
    t = Session(compression=algo)
    t.startup()
    t.send(frame(4, 9, Opcode.QUERY, body, flags=FrameFlag.COMPRESSED))
    assert t.forwarded() == []
    (f,) = t.answers()
    err = error_of(f)
    assert f.stream == 9 and err.code == ErrorCode.PROTOCOL_ERROR
    assert err.message.startswith("Invalid uncompressed frame length")
    assert not t.client.closed
    # the connection goes on
    t.send(encode_message(Options(), 4, 10, response=False, compress=algo).encode())
    assert t.forwarded() == [Opcode.OPTIONS]


def test_lz4_bomb_during_pass_through_sasl_is_never_forwarded() -> None:
    t = Session(compression="lz4")
    t.startup(Authenticate(handshake.PASSWORD_AUTHENTICATOR))
    assert t.s.state is handshake.State.AUTHENTICATING  # the client's SASL passes through
    t.send(frame(4, 2, Opcode.AUTH_RESPONSE, lz4_frame_body_bomb(250 * MIB), flags=FrameFlag.COMPRESSED))
    assert t.forwarded() == []
    (f,) = t.answers()
    assert f.stream == 2 and error_of(f).code == ErrorCode.PROTOCOL_ERROR


def test_oversized_frame_before_startup_is_answered_invalid_on_its_stream() -> None:
    t = Session(cfg=load_config(overrides={"max_frame_bytes": 128 * 1024}, environ={}))
    data = frame(3, 4, Opcode.QUERY, bytes(128 * 1024 - 9 + 1))
    for i in range(0, len(data), 10_000):  # arrives in pieces, as from a socket
        assert not t.client.data
        t.send(data[i : i + 10_000])
    answers = t.answers()
    assert t.forwarded() == []
    (f,) = answers
    err = error_of(f)
    assert (f.version, f.stream, err.code) == (3, 4, ErrorCode.INVALID)
    assert err.message == "Request is too big: length 131073 exceeds maximum allowed length 131072."
    assert not t.client.closed


def test_v5_multi_segment_message_before_authentication_closes_the_connection() -> None:
    t = Session(version=5, compression="lz4")
    t.startup(Authenticate(handshake.PASSWORD_AUTHENTICATOR))
    env = frame(5, 6, Opcode.AUTH_RESPONSE, bytes(300_000))
    codec = SegmentCodec(True)
    t.send(codec.encode_segment(env[:MAX_PAYLOAD], False))
    assert t.forwarded() == []
    (f,) = t.answers()
    err = error_of(f)
    assert f.stream == 6 and err.code == ErrorCode.PROTOCOL_ERROR
    assert "authentication is still pending. type = AUTH_RESPONSE, size = 300000" in err.message
    assert t.client.closed


def test_v5_oversized_message_after_authentication_is_refused_and_the_connection_goes_on() -> None:
    t = Session(cfg=load_config(overrides={"max_frame_bytes": 256 * 1024}, environ={}), version=5,
                compression="lz4")
    t.startup()
    assert t.s.state is handshake.State.READY and t.s.reader.multi_segment_ok
    env = frame(5, 8, Opcode.QUERY, bytes(256 * 1024 + 1))
    codec = SegmentCodec(True)
    t.send(b"".join(codec.encode_segment(env[i : i + MAX_PAYLOAD], False) for i in range(0, len(env), MAX_PAYLOAD)))
    assert t.forwarded() == []
    (f,) = t.answers()
    err = error_of(f)
    assert (f.stream, err.code) == (8, ErrorCode.INVALID)
    assert err.message == "CQL Message of size 262145 bytes exceeds allowed maximum of 262144 bytes"
    t.send(codec.encode([encode_message(Options(), 5, 9, response=False).encode()]))
    assert t.forwarded() == [Opcode.OPTIONS]


def test_limits_come_from_the_config() -> None:
    t = Session(cfg=load_config(overrides={"max_frame_bytes": 1 * MIB}, environ={}))
    assert t.s.reader.max_frame_size == MIB
    assert t.u.reader.max_frame_size == DEFAULT_MAX_RESPONSE_FRAME  # results may be larger
    assert Config().max_frame_bytes == 16 * MIB


@pytest.mark.parametrize("value", ["1000", "65535", "2147483648", "-1"])
def test_max_frame_bytes_is_validated_at_start(value: str) -> None:
    with pytest.raises(ConfigError, match="max_frame_bytes must be between 65536 and 2147483647"):
        load_config(environ={"CDP_MAX_FRAME_BYTES": value})


def test_readers_learn_the_codec_and_the_authentication_from_the_session() -> None:
    t = Session(compression="snappy")
    assert t.s.reader.compression is None and not t.s.reader.multi_segment_ok
    t.startup()
    assert t.s.reader.compression == t.u.reader.compression == "snappy"
    assert t.s.frame_compression == "snappy" and t.s.reader.multi_segment_ok


def test_supported_advertises_snappy_and_lz4_like_cassandra() -> None:
    t = Session()
    t.send(encode_message(Options(), 4, 3, response=False).encode())
    t.cassandra_reader.feed(bytes(t.cassandra.data))
    (asked,) = t.cassandra_reader.frames()  # the sidecar asks Cassandra on a stream of its own
    sup = Supported({"COMPRESSION": ["snappy", "lz4", "zstd"], "CQL_VERSION": ["3.4.7"],
                     "PROTOCOL_VERSIONS": ["3/v3", "4/v4", "5/v5", "6/v6-beta"]})
    t.u.data_received(encode_message(sup, 4, asked.stream, response=True).encode())
    (f,) = t.answers()
    opts = decode_frame(f).message.options  # type: ignore[attr-defined]
    assert opts["COMPRESSION"] == ["snappy", "lz4"]
    assert handshake.supported_options()["COMPRESSION"] == ["snappy", "lz4"]


@pytest.mark.parametrize(("version", "algo", "message"), [
    (5, "snappy", "Snappy compression is not supported in protocol V5"),
    (4, "zstd", "Unknown compression algorithm: zstd"),
])
def test_startup_compression_refused_as_cassandra_words_it(version: int, algo: str, message: str) -> None:
    t = Session(version=version)
    t.send(encode_message(Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": algo}), version, 1,
                          response=False).encode())
    assert t.forwarded() == []
    (f,) = t.answers()
    assert error_of(f).message == message


def test_snappy_frames_pass_both_ways_and_rewritten_answers_stay_snappy() -> None:
    t = Session(compression="snappy")
    t.startup()
    q = encode_message(Query("SELECT v FROM ks.t WHERE k = 1", QueryParameters(1)), 4, 4, response=False,
                       compress="snappy")
    t.send(q.encode() + encode_message(Options(), 4, 5, response=False, compress="snappy").encode())
    t.cassandra_reader.feed(bytes(t.cassandra.data))
    fq, f = t.cassandra_reader.frames()
    assert fq.flags & FrameFlag.COMPRESSED and fq.body == q.body  # forwarded as it came
    assert decode_frame(fq).message == Query("SELECT v FROM ks.t WHERE k = 1", QueryParameters(1))
    sup = Supported({"COMPRESSION": ["snappy", "lz4"], "CQL_VERSION": ["3.4.7"]})
    t.u.data_received(encode_message(sup, 4, f.stream, response=True, compress="snappy").encode())
    (a,) = t.answers()  # SUPPORTED is rewritten by the sidecar: re-encoded with snappy
    assert a.stream == 5 and a.flags & FrameFlag.COMPRESSED and a.compression == "snappy"
    assert decode_frame(a).message.options["COMPRESSION"] == ["snappy", "lz4"]  # type: ignore[attr-defined]
