"""DynamoDB-first writes on a session (phases `dynamo_fallback` and `dynamo`): DynamoDB decides
(proxy.writes.dynamo_primary), the client gets DynamoDB's answer, and in `dynamo_fallback`
Cassandra then gets the same write as its shadow. A write DynamoDB did not answer in time has an
unknown outcome: WRITE_TIMEOUT, recorded for replay, and still shadowed."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from cql_protocol.errors import CQLError, WriteFailure, WriteTimeout
from cql_protocol.frame import Frame
from cql_protocol.messages import Message, decode_frame
from translators.statements import Write

from ..deadline import Bounded, DeadlineExceeded
from ..routing import Route
from . import dynamo_primary
from .dynamo_writer import DynamoWriter
from .journal import UNRESOLVED
from .outcomes import NO_ANSWER, DeadLetterSink, DualWriteStats, WriteContext

if TYPE_CHECKING:
    from ..session.session_port import Pending, ResponseHandler, SessionPort

log = logging.getLogger(__name__)
_RESULT = 0x08


class Authoritative:
    def __init__(self, writer: DynamoWriter, stats: DualWriteStats, dead_letters: DeadLetterSink,
                 deadline: float) -> None:
        self.writer = writer
        self.stats = stats
        self.dead_letters = dead_letters
        self.deadline = deadline

    async def run(self, s: SessionPort, stream: int, version: int, writes: list[Write], r: Route,
                  shadow: Frame | None, atomic: bool, ctx: WriteContext) -> None:
        """DynamoDB decides; Cassandra gets the shadow afterwards (`dynamo_fallback`)."""
        done: list[Write] = []
        try:
            try:
                async with Bounded(ctx.due, "DynamoDB write"):
                    answer, applied = await dynamo_primary.apply(self.writer, writes, version, atomic, done)
            except CQLError as e:
                s.reply_error(stream, e)
                return
            except NO_ANSWER as e:
                self.stats.failed += 1
                self._unknown_outcome(s, stream, writes, done, r, shadow, ctx, e)
                return
            except Exception as e:  # the client must hear it: the write may not be in DynamoDB
                self.stats.failed += 1
                log.error("DynamoDB did not take an authoritative write: %s", e)
                consistency, write_type = ctx.shape(writes)
                s.reply_error(stream, WriteFailure(
                    f"DynamoDB did not take the write ({e}); nothing was sent to Cassandra",
                    consistency=consistency, received=0, block_for=1, num_failures=1, write_type=write_type))
                return
            self.stats.authoritative += 1
            if r is Route.SHADOW and applied and shadow is not None and s.has_cassandra:
                s.forward(dataclasses.replace(shadow, stream=stream), self._shadow_answered(answer))
            else:
                s.send(answer, stream)
        finally:
            self.stats.in_flight -= 1
            s.flush()

    def _unknown_outcome(self, s: SessionPort, stream: int, writes: list[Write], done: list[Write], r: Route,
                         shadow: Frame | None, ctx: WriteContext, err: BaseException) -> None:
        """A DynamoDB-first write without an answer: it may be in DynamoDB, or land there later.
        The client hears WRITE_TIMEOUT (Cassandra's "maybe applied"); the write is recorded so that
        replay makes it applied, and Cassandra gets its shadow now, so the stores end up equal."""
        if isinstance(err, DeadlineExceeded):
            self.stats.deadline_exceeded["authoritative_write"] += 1
        consistency, write_type = ctx.shape(writes)
        name = writes[0].table.cql_name
        why = f"DynamoDB did not answer within the {self.deadline:g} s deadline" if isinstance(
            err, DeadlineExceeded) else "DynamoDB did not answer"
        if ctx.lwt:
            # the condition was judged against the row of that moment: replaying it later would
            # decide something else, and whether Cassandra needs the shadow is unknown
            if r is Route.SHADOW:
                for w in writes:
                    self.dead_letters.record(w, "unresolved", err, UNRESOLVED)
            log.error("%s: conditional write with unknown outcome in DynamoDB (%s)%s", name, err,
                      "; recorded as unresolved, no shadow sent to Cassandra" if r is Route.SHADOW else "")
            s.reply_error(stream, WriteTimeout(
                f"{name}: {why} ({err}); the conditional write may or may not have been applied",
                consistency=consistency, received=0, block_for=1, write_type=write_type))
            return
        confirmed = {id(w) for w in done}
        for w in writes:
            if id(w) not in confirmed:
                self.dead_letters.record(w, "authoritative", err)
        shadowed = r is Route.SHADOW and shadow is not None and s.has_cassandra
        log.error("%s: DynamoDB-first write with unknown outcome (%s); recorded for replay%s", name, err,
                  ", shadow sent to Cassandra" if shadowed else "")
        s.reply_error(stream, WriteTimeout(
            f"{name}: {why} ({err}); the write may have been applied: it is recorded for dead-letters replay"
            + (" and sent to Cassandra" if shadowed else ""),
            consistency=consistency, received=0, block_for=1, write_type=write_type))
        if shadowed:
            assert shadow is not None
            try:
                # on a stream of the sidecar's own: the client's stream already has its answer
                s.inject(decode_frame(shadow).message, self._late_shadow_answered)
            except Exception as e:
                self.stats.shadow_failed += 1
                log.warning("could not send the shadow of a write with unknown outcome: %s", e)

    def _late_shadow_answered(self, s: SessionPort, r: Frame, p: Pending) -> None:
        if r.opcode != _RESULT:
            self.stats.shadow_failed += 1
            log.warning("Cassandra refused the shadow of a write with unknown outcome (opcode %d)", r.opcode)

    def _shadow_answered(self, answer: Message) -> ResponseHandler:
        def on_shadow(s2: SessionPort, r: Frame, p: Pending) -> None:
            if r.opcode != _RESULT:
                self.stats.shadow_failed += 1
                log.warning("Cassandra refused the shadow of a write DynamoDB took (opcode %d)", r.opcode)
            s2.send(answer, p.client_stream)

        return on_shadow
