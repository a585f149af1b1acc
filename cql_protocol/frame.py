"""Frames (v3/v4) and envelopes (v5), sans-IO.

`FrameReader` takes bytes from one direction of a connection and yields `Frame`s. In v5 both
directions switch from bare envelopes to segments after the server's READY or AUTHENTICATE; the
owner of the reader calls `use_segments()` at exactly that point so bytes already buffered are
read the new way.

Bodies stay as received (still compressed for v3/v4 lz4/snappy) so a proxy can forward them
untouched and decode only the frames it must look into.

Size limits are checked from headers, before anything is buffered or decompressed: a frame (v3/v4)
or envelope (v5) larger than `max_frame_size`, and a compressed body announcing more than that once
decompressed, are skipped without keeping their bytes and reported as `FrameRefused`, with the
answer Cassandra gives to the same frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .compression import (
    LENGTH_PREFIX_MAX,
    LZ4,
    compress_frame_body,
    declared_length,
    decompress_frame_body,
    too_large,
)
from .errors import CQLError, FrameRefused, InvalidRequest, ProtocolError, UnsupportedVersion
from .opcodes import REQUEST_OPCODES, RESPONSE_OPCODES, FrameFlag, Opcode
from .segment import SegmentCodec

HEADER = struct.Struct(">BBhBi")
_HEADER_UNSIGNED = struct.Struct(">BBhBI")  # v3/v4 read the body length unsigned, as Cassandra does
_LZ4_LENGTH = struct.Struct(">i")
HEADER_LEN = HEADER.size  # 9
SUPPORTED_VERSIONS = (3, 4, 5)
MAX_VERSION = 5
# Requests: Cassandra's own limit (native_transport_max_frame_size and, in v5,
# native_transport_max_message_size both default to 16 MiB).
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
# Responses: Cassandra limits only what it receives; drivers accept result frames up to 256 MiB.
DEFAULT_MAX_RESPONSE_FRAME = 256 * 1024 * 1024
RESPONSE_BIT = 0x80


@dataclass(slots=True)
class Frame:
    version: int
    flags: int
    stream: int
    opcode: int
    body: bytes | memoryview
    response: bool = False
    # v3/v4: the connection's algorithm. Cassandra reads the COMPRESSED flag on a connection that
    # negotiated none as a plain body, and so do we (None).
    compression: str | None = None

    @property
    def compressed(self) -> bool:
        return bool(self.flags & FrameFlag.COMPRESSED)

    def plain_body(self) -> bytes | memoryview:
        """The body with v3/v4 compression undone (a FrameReader has already bounded its size)."""
        if self.flags & FrameFlag.COMPRESSED and self.compression is not None and self.version < 5:
            return decompress_frame_body(self.body, self.compression)
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
    compress: bool | str | None = False,
) -> Frame:
    """Builds a frame; `compress` names the v3/v4 algorithm (True: lz4). v5 compresses whole
    segments instead and ignores it."""
    algo = LZ4 if compress is True else (compress or None)
    if algo is not None and version < 5 and body:
        body = compress_frame_body(body, algo)
        flags |= FrameFlag.COMPRESSED
    else:
        flags &= ~FrameFlag.COMPRESSED
    return Frame(version, flags, stream, opcode, body, response, algo if version < 5 else None)


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
    """Incremental decoder for one direction of one connection.

    `compression` is the v3/v4 algorithm of bodies flagged COMPRESSED; an owner that knows what
    the connection negotiated sets it (None: none was, and Cassandra then reads the flag's bodies
    as plain). `multi_segment_ok` is cleared by a server-side owner until the client is
    authenticated: like Cassandra, an envelope spread over several v5 segments is then refused,
    which bounds what an unauthenticated client can make us buffer to one segment.
    """

    def __init__(
        self, *, responses: bool, max_frame_size: int | None = None, compression: str | None = LZ4
    ) -> None:
        self.responses = responses
        if max_frame_size is None:
            max_frame_size = DEFAULT_MAX_RESPONSE_FRAME if responses else DEFAULT_MAX_FRAME
        self.max_frame_size = max_frame_size
        self.version: int | None = None
        self.compression = compression
        self.multi_segment_ok = True
        self._buf = bytearray()
        self._pos = 0
        self._segments: SegmentCodec | None = None
        self._env = bytearray()  # v5: envelope bytes extracted from segments
        self._env_pos = 0
        self._partial = False  # v5: inside a multi-segment envelope
        # A refused frame: its bytes still to skip (wire bytes before segments, envelope bytes
        # after), then the refusal to report.
        self._skip = 0
        self._refused: FrameRefused | None = None

    @property
    def segmented(self) -> bool:
        return self._segments is not None

    def use_segments(self, compressed: bool) -> None:
        self._segments = SegmentCodec(compressed)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._skip and self._segments is None:
            # the rest of a refused frame is dropped as it arrives, never buffered
            n = min(self._skip, len(data))
            self._skip -= n
            data = memoryview(data)[n:]
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def buffered(self) -> int:
        return len(self._buf) - self._pos + len(self._env) - self._env_pos

    @property
    def segment_codec(self) -> SegmentCodec | None:
        """v5 after the switch: the codec of this direction's segments."""
        return self._segments

    def at_boundary(self) -> bool:
        """Between frames (v3/v4) or whole segments holding whole envelopes (v5): nothing buffered,
        skipped or to report, so the next bytes start a frame or a segment and may be read without
        this reader (a proxy's pass lane)."""
        return (self._pos == len(self._buf) and self._env_pos == len(self._env) and not self._partial
                and not self._skip and self._refused is None)

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None until more bytes are fed. Raises FrameRefused once a
        refused frame has been skipped whole; reading may go on after it."""
        if self._segments is None:
            frame, self._pos = self._parse(self._buf, self._pos)
            self._compact()
            if frame is None:
                self._report_refusal()
            return frame
        while True:
            frame, self._env_pos = self._parse(self._env, self._env_pos)
            if frame is not None:
                if self._env_pos == len(self._env):
                    self._env.clear()
                    self._env_pos = 0
                return frame
            self._report_refusal()
            if not self._pull_segment():
                return None
            self._report_refusal()

    def frames(self) -> list[Frame]:
        out = []
        while (f := self.next_frame()) is not None:
            out.append(f)
        return out

    def _report_refusal(self) -> None:
        if self._refused is not None and not self._skip:
            refused, self._refused = self._refused, None
            try:
                raise refused
            finally:
                del refused  # else this frame and the exception's traceback hold each other

    def _refuse(self, error: CQLError, stream: int, skip: int, *, fatal: bool = False, kind: str = "size",
                opcode: int | None = None) -> None:
        assert self.version is not None
        self._refused = FrameRefused(error, stream, self.version, fatal=fatal, kind=kind, opcode=opcode)
        self._skip = skip

    def _compact(self) -> None:
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0

    def _pull_segment(self) -> bool:
        assert self._segments is not None
        skipping = self._skip > 0
        # a refused envelope's segments are checked but never decompressed nor kept
        got = self._segments.decode_from(self._buf, self._pos, decompress=not skipping)
        if got is None:
            return False
        seg, self._pos = got
        self._compact()
        if skipping:
            if seg.self_contained:
                raise ProtocolError("self-contained segment inside a multi-segment envelope")
            if seg.length > self._skip:
                raise ProtocolError("segment runs past the end of its envelope")
            self._skip -= seg.length
            return True
        if seg.self_contained:
            if self._partial:
                raise ProtocolError("self-contained segment inside a multi-segment envelope")
        elif not self._partial:
            if not self._first_of_large_envelope(seg.payload):
                return True
            self._partial = True
        self._env += seg.payload
        if self._partial:
            # a large envelope ends with the segment that completes it
            if self._envelope_complete():
                self._partial = False
        elif len(self._env) - self._env_pos and not self._envelope_complete_all():
            raise ProtocolError("self-contained segment ends inside an envelope")
        return True

    def _first_of_large_envelope(self, payload: bytes) -> bool:
        """Checks the header opening an envelope spread over several segments before any more of
        it is kept; False when the envelope is refused (its other segments are then skipped)."""
        if len(payload) < HEADER_LEN:
            raise ProtocolError("the first segment of a multi-segment envelope is shorter than its header")
        vbyte, _flags, stream, opcode, length = HEADER.unpack_from(payload, 0)
        version = vbyte & 0x7F
        if (self.version is None or version != self.version) and self._check_version(bytearray(payload), 0, version):
            raise ProtocolError(f"Invalid message version. Got {version}/v{version} but previous messages on this "
                                f"connection had version {self.version}/v{self.version}")
        if length < 0:
            raise ProtocolError(f"Invalid value for envelope header body length field: {length}")
        if not self.multi_segment_ok:
            # Cassandra 5.0 (CQLMessageHandler): before authentication, fatal; wording verbatim
            name = Opcode(opcode).name if opcode in REQUEST_OPCODES else f"0x{opcode:02x}"
            self._refuse(
                ProtocolError(
                    "The connection is not yet in a valid state to process multi frame CQL Messages, "
                    f"usually thismeans that authentication is still pending. type = {name}, size = {length}"
                ),
                stream, 0, fatal=True, kind="multi_segment", opcode=opcode,
            )
            return False
        if length > self.max_frame_size:
            if self.responses:
                raise ProtocolError(f"envelope body length {length} is over the limit ({self.max_frame_size})")
            rest = HEADER_LEN + length - len(payload)
            if rest <= 0:
                raise ProtocolError("a multi-segment envelope fits in its first segment")
            self._refuse(self._message_too_big(length), stream, rest)
            return False
        return True

    def _message_too_big(self, length: int) -> CQLError:
        # Cassandra 5.0, v5 (native_transport_max_message_size): Invalid, the connection stays
        return InvalidRequest(f"CQL Message of size {length} bytes exceeds allowed maximum of {self.max_frame_size} bytes")

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
        if avail < 1 or self._refused is not None:
            return None, pos
        vbyte = buf[pos]
        version = vbyte & 0x7F
        if (self.version is None or version != self.version) and self._check_version(buf, pos, version):
            return self._misfit(buf, pos)
        if avail < HEADER_LEN:
            return None, pos
        vbyte, flags, stream, opcode, length = _HEADER_UNSIGNED.unpack_from(buf, pos)
        allowed = RESPONSE_OPCODES if self.responses else REQUEST_OPCODES
        if bool(vbyte & RESPONSE_BIT) != self.responses or opcode not in allowed:
            return self._misfit(buf, pos)
        segmented = self._segments is not None
        if segmented and length > 0x7FFFFFFF:
            raise ProtocolError(f"Invalid value for envelope header body length field: {length - 2**32}")
        total = HEADER_LEN + length
        if length > self.max_frame_size if segmented else total > self.max_frame_size:
            if self.responses:
                raise ProtocolError(f"frame body length {length} is out of range (max {self.max_frame_size})")
            if segmented:  # a whole envelope in one segment (only with limits under 128 KiB)
                if avail < total:
                    raise ProtocolError("oversized envelope split across segments")
                self._refuse(self._message_too_big(length), stream, 0)
                return None, pos + total
            # Cassandra 5.0 (Envelope.Decoder): skips the declared bytes, then answers Invalid on
            # the frame's stream and keeps the connection
            self._refuse(InvalidRequest(
                f"Request is too big: length {total} exceeds maximum allowed length {self.max_frame_size}."
            ), stream, 0)
            return None, self._skip_frame(buf, pos, total)
        algo = self.compression if flags & FrameFlag.COMPRESSED and not segmented and version < 5 else None
        if algo is not None:
            # the announced uncompressed size is checked as soon as it is there, before the
            # compressed body is buffered, let alone decompressed
            if algo == LZ4 and length >= 4:  # the common case, inline: this runs for every frame
                if avail < HEADER_LEN + 4:
                    return None, pos
                declared = _LZ4_LENGTH.unpack_from(buf, pos + HEADER_LEN)[0]
                err = None if 0 <= declared <= self.max_frame_size else too_large(declared, self.max_frame_size)
            else:
                need = min(length, LENGTH_PREFIX_MAX[algo])
                if avail < HEADER_LEN + need:
                    return None, pos
                err = self._check_declared(algo, buf[pos + HEADER_LEN : pos + HEADER_LEN + need])
            if err is not None:
                self._refuse(err, stream, 0, kind="compression")
                return None, self._skip_frame(buf, pos, total)
        if avail < total:
            return None, pos
        start = pos + HEADER_LEN
        body = bytes(buf[start : start + length])
        if segmented and flags & FrameFlag.COMPRESSED:
            flags &= ~FrameFlag.COMPRESSED  # v5: deprecated and ignored; segments carry compression
        return Frame(version, flags, stream, opcode, body, self.responses, algo), start + length

    def _check_declared(self, algo: str, prefix: bytes | bytearray) -> ProtocolError | None:
        try:
            n = declared_length(algo, prefix)
        except ProtocolError as e:
            return e
        if n is None:  # the whole body is shorter than a length prefix
            return ProtocolError(f"Provided frame does not appear to be {'LZ4' if algo == LZ4 else 'Snappy'} compressed")
        if n < 0 or n > self.max_frame_size:
            return too_large(n, self.max_frame_size)
        return None

    def _misfit(self, buf: bytearray, pos: int) -> tuple[Frame | None, int]:
        """A frame of another version, the wrong direction or an unknown opcode. A client's is
        skipped and refused with Cassandra's words, on its stream, and the connection goes on as
        Cassandra's does; Cassandra's ends the connection."""
        avail = len(buf) - pos
        if avail < HEADER_LEN:
            return None, pos
        vbyte, _flags, stream, opcode, length = _HEADER_UNSIGNED.unpack_from(buf, pos)
        version = vbyte & 0x7F
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
        if self.responses:
            raise ProtocolError(problem)
        total = HEADER_LEN + length
        if self._segments is not None:
            if length > 0x7FFFFFFF or avail < total:
                raise ProtocolError(problem)  # no envelope boundary to resume from
            self._refuse(ProtocolError(problem), stream, 0, kind=kind, opcode=opcode)
            return None, pos + total
        self._refuse(ProtocolError(problem), stream, 0, kind=kind, opcode=opcode)
        return None, self._skip_frame(buf, pos, total)

    def _skip_frame(self, buf: bytearray, pos: int, total: int) -> int:
        """Drops what is buffered of a refused frame; the rest is dropped by feed() as it comes."""
        have = min(len(buf) - pos, total)
        self._skip = total - have
        return pos + have

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
