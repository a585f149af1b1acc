"""Frames (v3/v4) and envelopes (v5), sans-IO.

`FrameReader` takes bytes from one direction of a connection and yields `Frame`s. In v5 both
directions switch from bare envelopes to segments after the server's READY or AUTHENTICATE; the
owner of the reader calls `use_segments()` at exactly that point so bytes already buffered are
read the new way.

Bodies stay as received (still compressed for v3/v4 lz4) so a proxy can forward them untouched
and decode only the frames it must look into.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .compression import compress_frame_body, decompress_frame_body
from .errors import FrameError, ProtocolError, UnsupportedVersion
from .opcodes import REQUEST_OPCODES, RESPONSE_OPCODES, FrameFlag, Opcode
from .segment import SegmentCodec

HEADER = struct.Struct(">BBhBi")
HEADER_LEN = HEADER.size  # 9
SUPPORTED_VERSIONS = (3, 4, 5)
MAX_VERSION = 5
DEFAULT_MAX_FRAME = 256 * 1024 * 1024
RESPONSE_BIT = 0x80


@dataclass(slots=True)
class Frame:
    version: int
    flags: int
    stream: int
    opcode: int
    body: bytes | memoryview
    response: bool = False

    @property
    def compressed(self) -> bool:
        return bool(self.flags & FrameFlag.COMPRESSED)

    def plain_body(self) -> bytes | memoryview:
        """The body with lz4 (v3/v4) undone."""
        if self.flags & FrameFlag.COMPRESSED:
            return decompress_frame_body(self.body)
        return self.body

    def header(self, stream: int | None = None) -> bytes:
        vbyte = self.version | (RESPONSE_BIT if self.response else 0)
        s = self.stream if stream is None else stream
        return HEADER.pack(vbyte, self.flags, s, self.opcode, len(self.body))

    def encode(self, stream: int | None = None) -> bytes:
        return self.header(stream) + bytes(self.body)


def make_frame(
    version: int,
    stream: int,
    opcode: int,
    body: bytes,
    *,
    response: bool,
    flags: int = 0,
    compress: bool = False,
) -> Frame:
    """Builds a frame; `compress` applies v3/v4 lz4 (v5 compresses whole segments instead)."""
    if compress and version < 5 and body:
        body = compress_frame_body(body)
        flags |= FrameFlag.COMPRESSED
    else:
        flags &= ~FrameFlag.COMPRESSED
    return Frame(version, flags, stream, opcode, body, response)


def reply_version_for(version: int) -> int:
    """Cassandra answers too-old versions in their own format and too-new ones with its newest."""
    return version if version < min(SUPPORTED_VERSIONS) else MAX_VERSION


def encode_version_error(err: UnsupportedVersion) -> bytes:
    """An ERROR frame for an unsupported version, framed so that the client can read it."""
    msg = err.message.encode()
    body = struct.pack(">iH", int(err.code), len(msg)) + msg
    v = err.reply_version
    if v < 3:  # v1/v2 header: 1-byte stream
        return struct.pack(">BBbBi", v | RESPONSE_BIT, 0, err.stream, 0, len(body)) + body
    return HEADER.pack(v | RESPONSE_BIT, 0, err.stream, 0, len(body)) + body


def _wrong_direction(opcode: int, *, expected_response: bool) -> str:
    """Cassandra's words for a frame whose direction does not fit its opcode or its side."""
    expected, got = ("RESPONSE", "REQUEST") if expected_response else ("REQUEST", "RESPONSE")
    try:
        name = Opcode(opcode).name
    except ValueError:
        name = f"0x{opcode:02x}"
    return f"Wrong protocol direction (expected {expected}, got {got}) for opcode {opcode} ({name})"


class FrameReader:
    """Incremental decoder for one direction of one connection."""

    def __init__(self, *, responses: bool, max_frame_size: int = DEFAULT_MAX_FRAME) -> None:
        self.responses = responses
        self.max_frame_size = max_frame_size
        self.version: int | None = None
        self._buf = bytearray()
        self._pos = 0
        self._segments: SegmentCodec | None = None
        self._env = bytearray()  # v5: envelope bytes extracted from segments
        self._env_pos = 0
        self._partial = False  # v5: inside a multi-segment envelope

    @property
    def segmented(self) -> bool:
        return self._segments is not None

    def use_segments(self, compressed: bool) -> None:
        self._segments = SegmentCodec(compressed)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def buffered(self) -> int:
        return len(self._buf) - self._pos + len(self._env) - self._env_pos

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None. A `FrameError` with `skip_to` has consumed its frame:
        calling again reads the one after it."""
        if self._segments is None:
            frame, self._pos = self._parse(self._buf, self._pos)
            self._compact()
            return frame
        while True:
            frame, self._env_pos = self._parse(self._env, self._env_pos)
            if frame is not None:
                if self._env_pos == len(self._env):
                    self._env.clear()
                    self._env_pos = 0
                return frame
            if not self._pull_segment():
                return None

    def frames(self) -> list[Frame]:
        out = []
        while (f := self.next_frame()) is not None:
            out.append(f)
        return out

    def _compact(self) -> None:
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0

    def _pull_segment(self) -> bool:
        assert self._segments is not None
        got = self._segments.decode_from(self._buf, self._pos)
        if got is None:
            return False
        seg, self._pos = got
        self._compact()
        if seg.self_contained:
            if self._partial:
                raise ProtocolError("self-contained segment inside a multi-segment envelope")
        else:
            self._partial = True
        self._env += seg.payload
        if self._partial:
            # a large envelope ends with the segment that completes it
            if self._envelope_complete():
                self._partial = False
        elif len(self._env) - self._env_pos and not self._envelope_complete_all():
            raise ProtocolError("self-contained segment ends inside an envelope")
        return True

    def _envelope_complete(self) -> bool:
        avail = len(self._env) - self._env_pos
        if avail < HEADER_LEN:
            return False
        length = HEADER.unpack_from(self._env, self._env_pos)[4]
        return avail >= HEADER_LEN + length

    def _envelope_complete_all(self) -> bool:
        pos = self._env_pos
        end = len(self._env)
        while pos < end:
            if end - pos < HEADER_LEN:
                return False
            length = HEADER.unpack_from(self._env, pos)[4]
            if length < 0:
                return False
            pos += HEADER_LEN + length
        return pos == end

    def _parse(self, buf: bytearray, pos: int) -> tuple[Frame | None, int]:
        avail = len(buf) - pos
        if avail < 1:
            return None, pos
        vbyte = buf[pos]
        version = vbyte & 0x7F
        if (self.version is None or version != self.version) and self._check_version(buf, pos, version):
            return self._refuse(buf, pos)
        if avail < HEADER_LEN:
            return None, pos
        vbyte, flags, stream, opcode, length = HEADER.unpack_from(buf, pos)
        if length < 0 or length > self.max_frame_size:
            raise FrameError(f"frame body length {length} is out of range (max {self.max_frame_size})",
                             kind="length", stream=stream, opcode=opcode, version=version)
        allowed = RESPONSE_OPCODES if self.responses else REQUEST_OPCODES
        if bool(vbyte & RESPONSE_BIT) != self.responses or opcode not in allowed:
            return self._refuse(buf, pos)
        if avail < HEADER_LEN + length:
            return None, pos
        start = pos + HEADER_LEN
        body = bytes(buf[start : start + length])
        if self._segments is not None and flags & FrameFlag.COMPRESSED:
            flags &= ~FrameFlag.COMPRESSED  # v5: deprecated and ignored; segments carry compression
        return Frame(version, flags, stream, opcode, body, self.responses), start + length

    def _refuse(self, buf: bytearray, pos: int) -> tuple[Frame | None, int]:
        """A frame of another version, direction or an unknown opcode. It is consumed whole before
        the error is raised: the peer gets its answer on the frame's stream and the connection goes
        on, as with Cassandra."""
        if len(buf) - pos < HEADER_LEN:
            return None, pos
        vbyte, _flags, stream, opcode, length = HEADER.unpack_from(buf, pos)
        version = vbyte & 0x7F
        if length < 0 or length > self.max_frame_size:
            raise FrameError(f"frame body length {length} is out of range (max {self.max_frame_size})",
                             kind="length", stream=stream, opcode=opcode, version=version)
        if len(buf) - pos < HEADER_LEN + length:
            return None, pos
        if version != self.version:
            kind = "version_mismatch"
            problem = (f"Invalid message version. Got {version}/v{version} but previous messages on this "
                       f"connection had version {self.version}/v{self.version}")
        elif bool(vbyte & RESPONSE_BIT) != self.responses:
            kind, problem = "direction", _wrong_direction(opcode, expected_response=self.responses)
        elif opcode in (REQUEST_OPCODES if self.responses else RESPONSE_OPCODES):
            kind, problem = "direction", _wrong_direction(opcode, expected_response=not self.responses)
        else:
            kind, problem = "opcode", f"Unknown opcode {opcode}"
        end = pos + HEADER_LEN + length
        # skip it here (not in next_frame, which stays as lean as before for good frames)
        if buf is self._buf:
            self._pos = end
            self._compact()
        else:
            self._env_pos = end
            if end == len(self._env):
                self._env.clear()
                self._env_pos = 0
        raise FrameError(problem, kind=kind, stream=stream, opcode=opcode, version=version, skip_to=end)

    def _check_version(self, buf: bytearray, pos: int, version: int) -> bool:
        """Fixes the connection's version on its first frame. True: a frame of another version
        this codec can read (refused on its own); a version it cannot read ends the connection."""
        if self.version is not None:
            if version in SUPPORTED_VERSIONS:
                return True
            raise ProtocolError(
                f"Invalid message version. Got {version} but previous messages on this connection "
                f"had version {self.version}"
            )
        if version not in SUPPORTED_VERSIONS:
            if version < 3:
                stream = struct.unpack_from(">b", buf, pos + 2)[0] if len(buf) - pos >= 3 else 0
            else:
                stream = struct.unpack_from(">h", buf, pos + 2)[0] if len(buf) - pos >= 4 else 0
            raise UnsupportedVersion(version, stream, reply_version_for(version))
        self.version = version
        return False


class FrameWriter:
    """Serialises frames for one direction; in v5 after the switch, packs them into segments."""

    def __init__(self) -> None:
        self._segments: SegmentCodec | None = None

    @property
    def segmented(self) -> bool:
        return self._segments is not None

    def use_segments(self, compressed: bool) -> None:
        self._segments = SegmentCodec(compressed)

    def encode(self, frames: list[tuple[Frame, int | None]]) -> bytes:
        """Encodes (frame, stream override) pairs into bytes for the wire."""
        if self._segments is None:
            parts: list[bytes | memoryview] = []
            for f, s in frames:
                parts.append(f.header(s))
                parts.append(f.body)
            return b"".join(parts)
        return self._segments.encode([f.encode(s) for f, s in frames])
