"""One connection to Cassandra, owned by exactly one client session."""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

from cql_protocol.errors import ProtocolError
from cql_protocol.frame import DEFAULT_MAX_RESPONSE_FRAME, Frame, FrameReader, FrameWriter

from ..metrics import STATS
from .pass_lane import drive, unit_end


class UpstreamOwner(Protocol):
    def on_upstream_frame(self, frame: Frame) -> None: ...
    def pass_answers(self, data: bytes, pos: int) -> int: ...
    def on_upstream_protocol_error(self, err: ProtocolError) -> None: ...
    def on_upstream_lost(self, exc: Exception | None) -> None: ...
    def flush(self) -> None: ...
    def pause_client_reading(self) -> None: ...
    def resume_client_reading(self) -> None: ...


class _Detached:
    """The owner of a connection that has closed: late callbacks go nowhere."""

    def on_upstream_frame(self, frame: Frame) -> None:
        pass

    def pass_answers(self, data: bytes, pos: int) -> int:
        return -1

    def on_upstream_protocol_error(self, err: ProtocolError) -> None:
        pass

    def on_upstream_lost(self, exc: Exception | None) -> None:
        pass

    def flush(self) -> None:
        pass

    def pause_client_reading(self) -> None:
        pass

    def resume_client_reading(self) -> None:
        pass


_DETACHED = _Detached()


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, owner: UpstreamOwner, max_frame: int) -> None:
        self.owner: UpstreamOwner = owner
        # Cassandra bounds what it receives, not what it sends: a page of results may be larger
        # than any request, so responses get the drivers' own ceiling.
        self.reader = FrameReader(responses=True, max_frame_size=max(max_frame, DEFAULT_MAX_RESPONSE_FRAME))
        self.writer = FrameWriter()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.closed_by_error = False  # a malformed frame from Cassandra: nothing more is read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        STATS.bytes_cassandra_in += len(data)
        if not self.reader.at_boundary() or self.closed_by_error:
            self._read_frames(data)
        # answers to requests that passed unchanged go back the same way (proxy.session.pass_lane)
        elif (pos := self.owner.pass_answers(data, 0)) != len(data):
            drive(data, self._pass_answers, self._read_frames,
                  unit_end(self.reader.segment_codec, self.reader.max_frame_size), pos)

    def _pass_answers(self, data: bytes, pos: int) -> int:
        if self.closed or self.closed_by_error or not self.reader.at_boundary():
            return -1
        return self.owner.pass_answers(data, pos)

    def _read_frames(self, data: bytes | memoryview) -> None:
        if self.closed_by_error:
            return
        reader = self.reader
        reader.feed(data)
        owner = self.owner
        try:
            while (frame := reader.next_frame()) is not None:
                owner.on_upstream_frame(frame)
        except ProtocolError as e:
            owner.on_upstream_protocol_error(e)
            self.closed_by_error = True
            return
        owner.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        owner, self.owner = self.owner, _DETACHED
        # the session refers to this connection; dropping the reference back lets both be freed by
        # reference counting alone, without waiting for the cycle collector
        owner.on_upstream_lost(exc)

    def pause_writing(self) -> None:
        self.owner.pause_client_reading()

    def resume_writing(self) -> None:
        self.owner.resume_client_reading()

    def use_segments(self, compressed: bool) -> None:
        self.reader.use_segments(compressed)
        self.writer.use_segments(compressed)

    def write_raw(self, data: bytes | memoryview) -> None:
        """Frames that pass unchanged, as they came from the client."""
        if self.transport is None or self.closed:
            return
        STATS.bytes_cassandra_out += len(data)
        self.transport.write(data)

    def send(self, frames: list[tuple[Frame, int | None]]) -> None:
        if self.transport is None or self.closed:
            return
        data = self.writer.encode(frames)
        STATS.bytes_cassandra_out += len(data)
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
