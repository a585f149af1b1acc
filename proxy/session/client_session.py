"""One client connection: handshake, stream-id mapping onto its own Cassandra connection, and
forwarding of raw frames. Bodies are decoded only for the few requests the sidecar must see."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from cql_protocol.errors import (
    CQLError,
    FrameRefused,
    Overloaded,
    ProtocolError,
    ServerError,
    UnsupportedVersion,
)
from cql_protocol.frame import Frame, FrameReader, FrameWriter, encode_version_error
from cql_protocol.messages import ErrorMessage, Message, Supported, encode_message
from cql_protocol.opcodes import Opcode

from ..metrics import (
    CLOSED_BY_REASON,
    CONNECTIONS,
    CONNECTIONS_REJECTED,
    CONNECTIONS_TOTAL,
    FRAMES_REFUSED,
    PROTOCOL_ERRORS,
    STATS,
    count_error,
)
from ..routing.decide import Action, decide
from ..routing.request import PreparedStatement, Request, describe
from ..system_tables import intercept
from ..system_tables.topology import Node
from . import handshake, handshake_exec, standalone
from .cassandra_pool import NoCassandraAvailable
from .handlers import HANDLERS
from .log_limit import LimitedLog
from .pass_lane import (
    Passing,
    answers_pass,
    drive,
    pass_requests,
    pass_responses,
    pass_segments,
    query_verdict,
    requests_pass,
    unit_end,
)
from .session_port import NoCassandra, Pending, ResponseHandler
from .stream_ids import StreamIdsExhausted, own_stream_id
from .timeouts import check as check_timeouts
from .upstream import UpstreamConnection

if TYPE_CHECKING:
    from ..reads.read_path import ReadPath
    from ..server import ProxyServer
    from ..writes.dual_write import DualWrite

log = logging.getLogger(__name__)
limited = LimitedLog(log)  # what a peer's garbage makes us log
_monotonic = time.monotonic
_perf_counter = time.perf_counter

_READY = handshake.State.READY
_EXECUTE = int(Opcode.EXECUTE)
_FORWARD = Action.FORWARD
_QUERY_VERDICTS_KEPT = 4096
_NO_COUNTS: dict[bytes, int] = {}  # (stays empty: nothing is counted without a mapping)

# the handshake's own response handlers work on the session itself, not through its port
SessionHandler = Callable[["ClientSession", Frame, Pending], None]


class ClientSession(asyncio.Protocol):
    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.cfg = server.cfg
        self.reader = FrameReader(responses=False, max_frame_size=self.cfg.max_frame_bytes, compression=None)
        self.writer = FrameWriter()
        self.transport: asyncio.Transport | None = None
        self.upstream: UpstreamConnection | None = None
        self._compression: str | None = None
        self._state = handshake.State.UNINITIALIZED
        self.pending: dict[int, Pending] = {}  # by stream id on the Cassandra connection
        self.passing: Passing = {}  # requests in the pass lane, by their (unchanged) stream id
        self.backlog: list[Frame] = []
        self.out: list[tuple[Frame, int | None]] = []
        self.up_out: list[tuple[Frame, int | None]] = []
        self.version = 4
        self.compression = None
        self.state = handshake.State.UNINITIALIZED
        self.handshake_stream = 0  # the client stream awaiting the handshake's answer
        self.held = False  # client frames stay unread while the handshake awaits an answer
        self.keyspace: str | None = None
        self.system_prepared: dict[bytes, intercept.SystemStatement] = {}
        self.me = Node("127.0.0.1", 9042)
        self.peer_name = "?"
        self.closed = False
        self.upstream_error: CQLError | None = None
        self._counted = False
        self.standalone = False  # no Cassandra behind this session (every mapped table in `dynamo`)
        self.system_prepared_local: dict[bytes, str] = {}
        self._connecting = False  # the Cassandra connection is opened at the first complete frame
        self.close_reason: str | None = None  # why the sidecar closed it (None: the client did)
        # deadlines (proxy.session.timeouts): monotonic times of acceptance, of the last complete frame and
        # of the first bytes of the frame being received (0: none under way)
        self._accepted = self._last_frame = 0.0
        self._partial_since = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # The frame readers must know the negotiated codec before its first frame (Cassandra already
    # compresses its READY), and the client's reader whether the client is authenticated.
    @property
    def compression(self) -> str | None:
        return self._compression

    @compression.setter
    def compression(self, algo: str | None) -> None:
        self._compression = algo
        self.reader.compression = algo
        if self.upstream is not None:
            self.upstream.reader.compression = algo

    @property
    def state(self) -> handshake.State:
        return self._state

    @state.setter
    def state(self, state: handshake.State) -> None:
        self._state = state
        self.reader.multi_segment_ok = state is handshake.State.READY

    # -- connection lifecycle ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer_name = f"{peer[0]}:{peer[1]}" if peer else "?"
        if self.server.draining or len(self.server.sessions) >= self.cfg.max_connections:
            CONNECTIONS_REJECTED.inc()
            log.warning("refusing client %s: connection limit or shutdown", self.peer_name)
            self.closed = True
            transport.close()
            return
        self.server.sessions.add(self)
        self._counted = True
        CONNECTIONS.inc()
        CONNECTIONS_TOTAL.inc()
        self.me = self.server.advertised_node(self.transport)
        self._accepted = self._last_frame = _monotonic()
        self._arm_timer(self._accepted)
        if self.server.standalone_ok():
            self.standalone = True
        # The Cassandra connection waits for the first complete frame: drivers send OPTIONS or
        # STARTUP at once, so they lose nothing, while sockets that never speak CQL (probes, floods,
        # stalled clients) cost neither a Cassandra connection nor its buffers.

    def _hold(self, frame: Frame) -> None:
        """A frame that arrived before the Cassandra connection is up; the first one opens it."""
        self.backlog.append(frame)
        if not self._connecting:
            self._connecting = True
            asyncio.get_running_loop().create_task(self._connect_upstream())

    async def _connect_upstream(self) -> None:
        try:
            _, up = await self.server.pool.connect(
                lambda: UpstreamConnection(self, self.cfg.max_frame_bytes)
            )
        except NoCassandraAvailable as e:
            log.warning("closing client %s: %s", self.peer_name, e)
            self.upstream_error = ServerError(f"the sidecar cannot reach Cassandra: {e}")
            if self.backlog:
                self._refuse_backlog()
            else:  # answer the first request when it comes, so drivers fail fast with the reason
                asyncio.get_running_loop().call_later(2.0, self.close, "cassandra_unavailable")
            return
        if self.closed:
            up.close()
            return
        self.upstream = up
        up.reader.compression = self._compression
        backlog, self.backlog = self.backlog, []
        for f in backlog:  # (frames behind a STARTUP were left unread: see _to_backlog)
            self._dispatch(f)
        self.sync_hold()
        self.read_buffered()
        self.flush()  # the replayed requests, when the handshake holds the rest

    def _refuse_backlog(self) -> None:
        """Without Cassandra: OPTIONS still gets its answer (drivers expect nothing else), and the
        first real request gets the reason, then the connection closes."""
        assert self.upstream_error is not None
        backlog, self.backlog = self.backlog, []
        for f in backlog:
            self.version = f.version
            if f.opcode == Opcode.OPTIONS:
                self.send(Supported(handshake.supported_options()), f.stream)
                continue
            self.reply_error(f.stream, self.upstream_error)
            self.close("cassandra_unavailable")
            return
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()  # the loop's reference to this session goes with it
            self._timer = None
        if self._counted:
            self._counted = False
            CONNECTIONS.dec()
            self.server.sessions.discard(self)
            CLOSED_BY_REASON[self.close_reason or "client"].inc()
        self._drop_pending()
        self.backlog.clear()
        if self.upstream is not None:
            self.upstream.close()

    def close(self, reason: str = "error") -> None:
        """Closes the client connection (and Cassandra's); `reason` labels
        cdp_connections_closed_total, the first one given counts."""
        if self.close_reason is None:
            self.close_reason = reason
        if self.transport is not None and not self.transport.is_closing():
            self.flush()
            self.transport.close()
        if self.upstream is not None:
            self.upstream.close()

    # -- deadlines ---------------------------------------------------------------------------------
    def _arm_timer(self, now: float) -> None:
        self._timer = None
        t = self.server.timeouts
        if not t.any or self.closed:
            return
        transport = self.transport
        if self.pending or self.passing or self.backlog or (transport is not None and not transport.is_reading()):
            # the client waits for an answer or for Cassandra, or the sidecar stopped reading it
            # (backpressure): the time is not the client's
            self._last_frame = now
            if self._partial_since:
                self._partial_since = now
        reason, at = check_timeouts(t, now, accepted=self._accepted, ready=self.state is handshake.State.READY,
                                    partial_since=self._partial_since, last_frame=self._last_frame)
        if reason is not None:
            log.debug("closing client %s: %s", self.peer_name, reason)
            self.close(reason)
        elif at is not None:
            self._timer = asyncio.get_running_loop().call_later(at - now, self._on_timer)

    def _on_timer(self) -> None:
        self._arm_timer(_monotonic())

    def _drop_pending(self) -> None:
        n = sum(1 for p in self.pending.values() if p.client_stream >= 0) + len(self.passing)
        self.pending.clear()
        self.passing.clear()
        if n:
            STATS.in_flight -= n

    # -- client → Cassandra ------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        n = len(data)
        STATS.bytes_client_in += n
        if not self._lane_open():
            self._read_frames(data)
            return
        pos = self._pass_run(data, 0)
        if pos != n:  # the lane stopped at a frame for the general path
            drive(data, self._pass_requests, self._read_frames,
                  unit_end(self.reader.segment_codec, self.reader.max_frame_size), pos)
            if not self._lane_open():
                return
        self._last_frame = _monotonic()  # every frame came whole
        self._partial_since = 0.0

    def _lane_open(self) -> bool:
        return (self._state is _READY and not self.held and not self.standalone
                and (self.version < 5 or self.reader.segmented) and self.upstream is not None
                and self.close_reason is None and self.reader.at_boundary())

    def _pass_requests(self, data: bytes, pos: int) -> int:
        """The pass lane (proxy.session.pass_lane) from `pos`: the run of requests that go to
        Cassandra as they came, written at once; -1 when the lane is closed."""
        return self._pass_run(data, pos) if self._lane_open() else -1

    def _pass_run(self, data: bytes, pos: int) -> int:
        server = self.server
        if server.draining:
            return pos
        dual = server.dual
        pending, passing, cfg = self.pending, self.passing, self.cfg
        room = cfg.max_in_flight_per_connection - len(pending) - len(passing)
        room_global = cfg.max_in_flight - STATS.in_flight
        before = len(passing)
        room = room if room < room_global else room_global
        prepared = dual.prepared if dual is not None else None
        # statements on mapped tables let through, to count for the assessment (none without a mapping)
        counts: dict[bytes, int] = {} if prepared is not None else _NO_COUNTS
        mapped = self._mapped_passes(counts) if prepared is not None else None
        codec = self.reader.segment_codec
        queries = self._query_passes if server.lane_queries is not None else None
        if codec is None:
            end = pass_requests(data, pos, self.version, self.reader.max_frame_size, prepared, self.system_prepared,
                                pending, passing, room, _perf_counter(), self._compression, mapped, queries)
            if counts:
                self._count_passed(counts)
        else:  # v5: whole segments
            now, version, max_body, system_prepared = _perf_counter(), self.version, self.reader.max_frame_size, \
                self.system_prepared

            def takes(payload: bytes) -> bool:
                if requests_pass(payload, version, max_body, prepared, system_prepared, pending, passing,
                                 room - (len(passing) - before), now, mapped, queries):
                    if counts:
                        self._count_passed(counts)
                    return True
                counts.clear()  # that segment goes the general way, which counts its requests itself
                return False

            end = pass_segments(data, pos, codec, takes)
        if end > pos:
            STATS.in_flight += len(passing) - before
            if self.up_out or self.out:
                self.flush()  # what the general path queued before this run goes first
            up = self.upstream
            assert up is not None
            up.write_raw(data if end - pos == len(data) else memoryview(data)[pos:end])
        return end

    def _mapped_passes(self, counts: dict[bytes, int]) -> Callable[[bytes, PreparedStatement], bool]:
        """The lane's test for an EXECUTE of a statement on a mapped table: decide() itself says
        whether it goes to Cassandra as it came (the table's phase leaves it to Cassandra), and the
        assessment whether counting it is all it needs (`counts` collects those let through)."""
        server = self.server
        assess = server.assess

        def passes(qid: bytes, ps: PreparedStatement) -> bool:
            req = Request(None, _EXECUTE, ps.kind, ps.query, ps.table_keyspace, ps.table,  # type: ignore[arg-type]
                          query_id=qid, prepared=ps)
            if decide(req, server) is not _FORWARD:
                return False
            if assess is None:
                return True
            ahead = counts.get(qid, 0)
            if not assess.passes(ps.table_keyspace, ps.table, qid, ahead):
                return False
            counts[qid] = ahead + 1
            return True

        return passes

    def _query_passes(self, text: bytes) -> bool:
        """pass_lane.query_verdict for this session's keyspace, remembered by the server (a fact of
        the text, the keyspace and the mapping)."""
        verdicts = self.server.lane_queries
        assert verdicts is not None
        key = (self.keyspace, text)
        v = verdicts.get(key)
        if v is None:
            dual = self.server.dual
            v = query_verdict(text, self.keyspace, dual.prepared if dual is not None else None, self.system_prepared,
                              self.server)
            if len(verdicts) >= _QUERY_VERDICTS_KEPT:
                verdicts.clear()  # statements with their values inline: texts without end
            verdicts[key] = v
        return v

    def _count_passed(self, counts: dict[bytes, int]) -> None:
        assess = self.server.assess
        if assess is not None:
            for qid, n in counts.items():
                assess.count_passed(qid, n)
        counts.clear()

    def pass_answers(self, data: bytes, pos: int) -> int:
        """Cassandra's side of the pass lane: the run of answers from `pos` that go to the client
        as they came (to requests that passed), written at once."""
        passing = self.passing
        if not passing:
            return pos
        codec = self.upstream.reader.segment_codec if self.upstream is not None else None
        if codec is None:
            end, done = pass_responses(data, pos, self.version, passing, STATS.latency, _perf_counter())
        else:  # v5: whole segments
            version, latency, now, answered = self.version, STATS.latency, _perf_counter(), [0]

            def takes(payload: bytes) -> bool:
                if not answers_pass(payload, version, passing):
                    return False
                answered[0] += pass_responses(payload, 0, version, passing, latency, now)[1]
                return True

            end = pass_segments(data, pos, codec, takes)
            done = answered[0]
        if end > pos:
            STATS.in_flight -= done
            if self.up_out or self.out:
                self.flush()  # answers the general path queued before these go first
            t = self.transport
            if t is not None and not t.is_closing():
                STATS.bytes_client_out += end - pos
                t.write(data if end - pos == len(data) else memoryview(data)[pos:end])
        return end

    def _read_frames(self, data: bytes | memoryview) -> None:
        """The general reading path: frames decoded by the reader, each one described and decided."""
        if self.close_reason is not None:
            return  # the sidecar closes this connection: nothing more is read from it
        reader = self.reader
        reader.feed(data)
        if self.held:  # the handshake awaits an answer: what came stays buffered until then
            return
        complete = False
        while True:
            try:
                while (frame := reader.next_frame()) is not None:
                    complete = True
                    try:
                        # The gate: only a READY session reaches the request path (its checks are
                        # inlined here, the hot path); every other frame goes to the handshake.
                        if self._state is _READY and not self.standalone:
                            self.on_client_frame(frame)
                        elif self._not_ready(frame):
                            break
                    except ProtocolError as e:
                        self._malformed(frame, e)
                break
            except FrameRefused as e:
                complete = True
                if not self._refuse_frame(e):
                    return
                # the reader skipped that frame and reads on
            except UnsupportedVersion as e:
                count_error(e.code)
                self._protocol_error_seen("unsupported_version", "client %s asked for protocol version %d",
                                          self.peer_name, e.version)
                if self.transport is not None:
                    self.close_reason = "protocol_error"
                    self.transport.write(encode_version_error(e))
                    self.transport.close()
                return
            except ProtocolError as e:
                self._client_protocol_error(e)
                return
        self.flush()
        # deadlines: when the last frame completed, and since when a frame is under way
        now = _monotonic()
        if complete:
            self._last_frame = now
            self._partial_since = now if reader.buffered() else 0.0
        elif not self._partial_since and (data or reader.buffered()):  # (b"": read_buffered)
            self._partial_since = now

    def _refuse_frame(self, e: FrameRefused) -> bool:
        """Answers a frame the reader refused and skipped (its size, version, direction or opcode)
        as Cassandra answers it; it never reaches Cassandra. False when the connection closes."""
        FRAMES_REFUSED.inc()
        self._protocol_error_seen(e.kind, "refused a frame from client %s: %s", self.peer_name, e.message)
        answer = handshake.frame_error_answer(self.state, e)
        if answer.error is not None:
            count_error(answer.error.code)
            # in the refused frame's own version: before STARTUP the session has none yet
            msg = ErrorMessage.from_exception(answer.error)
            self.out.append((encode_message(msg, e.version, answer.stream, response=True,
                                            compress=self.frame_compression), None))
        if answer.close:
            self.close("protocol_error")
            return False
        return True

    def read_buffered(self) -> None:
        """Reads the frames that waited while the handshake held the session."""
        self.data_received(b"")

    def _not_ready(self, f: Frame) -> bool:
        """A frame outside the READY fast path; True when reading must stop (the handshake awaits
        an answer, or the connection closes)."""
        if self.standalone:
            standalone.on_frame(self, f)
        elif self.upstream is None:
            return self._to_backlog(f) or self.held
        else:
            handshake_exec.on_frame(self, f)
        return self.held

    def _to_backlog(self, f: Frame) -> bool:
        """Keeps a frame until the Cassandra connection is there; True when the session closed."""
        self._hold(f)
        if f.opcode == Opcode.STARTUP:  # its answer decides how what follows is read
            self.held = True
            if self.transport is not None:
                self.transport.pause_reading()
        if self.upstream_error is not None:
            self._refuse_backlog()
            return self.closed or (self.transport is not None and self.transport.is_closing())
        return False

    def _dispatch(self, f: Frame) -> None:
        try:
            if self._state is _READY and not self.standalone:
                self.on_client_frame(f)
            else:
                self._not_ready(f)
        except ProtocolError as e:
            self._malformed(f, e)

    def _malformed(self, f: Frame, e: ProtocolError) -> None:
        """A request whose body does not decode: Cassandra answers on its stream and reads on."""
        self._protocol_error_seen("body", "client %s sent a malformed request: %s", self.peer_name, e.message)
        self.reply_error(f.stream, e)

    def sync_hold(self) -> None:
        """Stops reading the client while the handshake awaits an answer, and starts again after;
        whoever released the hold then calls read_buffered (never from inside the reading loop)."""
        held = self.state.holds
        if held == self.held:
            return
        self.held = held
        t = self.transport
        if t is not None and not t.is_closing():
            if held:
                t.pause_reading()
            else:
                t.resume_reading()

    def _client_protocol_error(self, e: ProtocolError) -> None:
        """Framing the reader cannot recover from: stream 0 and the connection closes, as Cassandra
        does for a v5 segment that fails its checksum."""
        self._protocol_error_seen("frame", "protocol error from client %s, closing it: %s", self.peer_name, e.message)
        self.reply_error(0, e)
        self.close("protocol_error")

    def _protocol_error_seen(self, kind: str, msg: str, *args: object) -> None:
        PROTOCOL_ERRORS.labels("client", kind).inc()
        limited.log(logging.INFO, kind, msg, *args)

    def on_client_frame(self, f: Frame) -> None:
        """A request of a READY session (the reading loop is the gate: nothing else gets here):
        read once, decided once, run by the decision's handler."""
        server = self.server
        dual = server.dual
        req = describe(f, self.keyspace, dual.prepared if dual is not None else None, self.system_prepared)
        try:
            action = decide(req, server)
            if server.assess is not None and (req.table is not None or req.kind == "BATCH"):
                sized = server.assess.observe(self, req, action)  # proxy.assess: counted, maybe sampled
                if sized is not None:  # a sampled read Cassandra answers: its rows are sized on the way back
                    self.forward(f, sized)
                    return
            HANDLERS[action](self, req)
        except ProtocolError:
            raise  # a body that does not decode: the reading loop answers it (_malformed)
        except CQLError as e:
            self.reply_error(f.stream, e)

    def forward(self, f: Frame, handler: ResponseHandler | SessionHandler | None) -> None:
        up = self.upstream
        if up is None:
            raise NoCassandra(handler is None)
        pending, passing = self.pending, self.passing
        if (
            len(pending) + len(passing) >= self.cfg.max_in_flight_per_connection
            or STATS.in_flight >= self.cfg.max_in_flight
        ):
            self.reply_error(f.stream, Overloaded("too many requests in flight on the sidecar"))
            return
        up_id = f.stream  # its own id when free there (proxy.session.stream_ids)
        if up_id < 0 or up_id in pending or up_id in passing:
            try:
                up_id = own_stream_id(pending, passing)
            except StreamIdsExhausted:
                self.reply_error(f.stream, Overloaded("too many requests in flight on this connection"))
                return
        self.pending[up_id] = Pending(f.stream, f.opcode, _perf_counter(), handler, f)
        STATS.in_flight += 1
        self.up_out.append((f, up_id))

    def inject(self, msg: Message, on_response: ResponseHandler | SessionHandler) -> None:
        """Sends a request of the sidecar's own on this session's Cassandra connection."""
        assert self.upstream is not None
        up_id = own_stream_id(self.pending, self.passing)
        frame = encode_message(msg, self.version, up_id, response=False, compress=self.frame_compression)
        self.pending[up_id] = Pending(-1, frame.opcode, _perf_counter(), on_response)
        self.up_out.append((frame, None))

    # -- Cassandra → client ------------------------------------------------------------------------
    def on_upstream_frame(self, f: Frame) -> None:
        if f.stream < 0:
            intercept.on_event(self, f)
            return
        p = self.pending.pop(f.stream, None)
        if p is None:
            passed = self.passing.pop(f.stream, None)
            if passed is None:
                raise ProtocolError(f"Cassandra answered unknown stream {f.stream}")
            # an answer the pass lane left to this path (an ERROR, say); its stream is the client's
            self._answered(passed[0], passed[1], f)
            self.out.append((f, None))
            return
        if p.client_stream >= 0:
            self._answered(p.opcode, p.started, f)
        if p.handler is None:
            self.out.append((f, p.client_stream))
        else:
            p.handler(self, f, p)

    @staticmethod
    def _answered(opcode: int, started: float, f: Frame) -> None:
        """A client's request answered: out of the in-flight count, into the latency, errors by code."""
        STATS.in_flight -= 1
        STATS.latency[opcode].observe(_perf_counter() - started)
        if f.opcode == Opcode.ERROR:
            count_error(intercept.error_code(f))

    def on_upstream_protocol_error(self, err: ProtocolError) -> None:
        PROTOCOL_ERRORS.labels("cassandra", getattr(err, "kind", "frame")).inc()
        limited.log(logging.ERROR, "cassandra", "protocol error from Cassandra, closing client %s: %s",
                    self.peer_name, err.message)
        for stream in self._client_streams_in_flight():
            self.reply_error(stream, ServerError("Cassandra sent a malformed frame"))
        self.close("cassandra_lost")

    def _client_streams_in_flight(self) -> list[int]:
        return [p.client_stream for p in self.pending.values() if p.client_stream >= 0] + list(self.passing)

    def on_upstream_lost(self, exc: Exception | None) -> None:
        if not self.closed and self.server.standalone_ok() and self.state is _READY:
            # every mapped table is served by DynamoDB alone: carry on without Cassandra
            log.info("Cassandra connection lost (%s); client %s continues on DynamoDB alone",
                     exc or "closed", self.peer_name)
            for stream in self._client_streams_in_flight():
                self.reply_error(stream, ServerError("Cassandra went away; retry"))
            self._drop_pending()
            self.upstream = None
            self.standalone = True
            self.flush()
            return
        if not self.closed:
            log.info("Cassandra connection lost (%s); closing client %s", exc or "closed", self.peer_name)
            self.close("cassandra_lost")

    # -- what handlers ask of the session (proxy.session.session_port.SessionPort) ------------------
    @property
    def peers(self) -> list[Node]:
        return self.server.peers

    @property
    def has_cassandra(self) -> bool:
        return self.upstream is not None and not self.closed

    @property
    def dual(self) -> DualWrite | None:
        return self.server.dual

    @property
    def reads(self) -> ReadPath | None:
        return self.server.reads

    def system_statement(self, query_id: bytes) -> intercept.SystemStatement | None:
        return self.system_prepared.get(query_id)

    def remember_system_statement(self, query_id: bytes, statement: intercept.SystemStatement) -> None:
        self.system_prepared[query_id] = statement

    def use_keyspace(self, keyspace: str) -> None:
        self.keyspace = keyspace

    def relay(self, frame: Frame, stream: int | None) -> None:
        self.out.append((frame, stream))

    def handshake(self, f: Frame) -> None:
        handshake_exec.on_frame(self, f)

    # -- output ------------------------------------------------------------------------------------
    @property
    def frame_compression(self) -> str | None:
        """The algorithm of v3/v4 frame bodies; v5 compresses segments instead."""
        return self.compression if self.version < 5 else None

    def send(self, msg: Message, stream: int) -> None:
        self.out.append((encode_message(msg, self.version, stream, response=True, compress=self.frame_compression), None))

    def reply_error(self, stream: int, exc: CQLError) -> None:
        count_error(exc.code)
        self.send(ErrorMessage.from_exception(exc), stream)

    def flush(self) -> None:
        if self.up_out:
            if self.upstream is not None:
                self.upstream.send(self.up_out)
            self.up_out = []
        if self.out:
            out, self.out = self.out, []
            t = self.transport
            if t is not None and not t.is_closing():
                data = self.writer.encode(out)
                STATS.bytes_client_out += len(data)
                t.write(data)

    def switch_client_to_segments(self) -> None:
        """v5: everything after READY/AUTHENTICATE travels in segments."""
        self.flush()
        compressed = self.compression == "lz4"
        self.writer.use_segments(compressed)
        self.reader.use_segments(compressed)

    # -- flow control ------------------------------------------------------------------------------
    def pause_writing(self) -> None:  # client reads slowly: stop reading Cassandra
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.resume_reading()

    def pause_client_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_client_reading(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()
