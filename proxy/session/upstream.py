"""One connection to Cassandra, owned by exactly one client session."""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

from cql_protocol.errors import ProtocolError
from cql_protocol.frame import DEFAULT_MAX_RESPONSE_FRAME, Frame, FrameReader, FrameWriter

from ..metrics import STATS
from .stream_ids import StreamIdPool


class UpstreamOwner(Protocol):
    def on_upstream_frame(self, frame: Frame) -> None: ...
    def on_upstream_protocol_error(self, err: ProtocolError) -> None: ...
    def on_upstream_lost(self, exc: Exception | None) -> None: ...
    def flush(self) -> None: ...
    def pause_client_reading(self) -> None: ...
    def resume_client_reading(self) -> None: ...


class _Detached:
    """The owner of a connection that has closed: late callbacks go nowhere."""

    def on_upstream_frame(self, frame: Frame) -> None:
        pass

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
        self.ids = StreamIdPool()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        STATS.bytes_cassandra_in += len(data)
        reader = self.reader
        reader.feed(data)
        owner = self.owner
        try:
            while (frame := reader.next_frame()) is not None:
                owner.on_upstream_frame(frame)
        except ProtocolError as e:
            owner.on_upstream_protocol_error(e)
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

    def send(self, frames: list[tuple[Frame, int | None]]) -> None:
        if self.transport is None or self.closed:
            return
        data = self.writer.encode(frames)
        STATS.bytes_cassandra_out += len(data)
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
