"""What the write paths share about a write's outcome: the request's shape for a WRITE_TIMEOUT or
WRITE_FAILURE answer, the counters the metrics export, and the dead-letter record of a write one
store took and the other did not confirm."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeAlias

from cql_protocol.cql import ast as cql
from cql_protocol.messages import Batch, BatchType
from cql_protocol.types import CqlType
from translators.statements import CounterWrite, Write
from translators.write_codec import encode_write

from ..aws.dynamodb_client import DynamoDBUnavailable
from ..aws.s3_client import S3Unavailable
from ..deadline import DeadlineExceeded
from .journal import DeadLetters
from .write_queue import TRANSLATED

log = logging.getLogger(__name__)

# failures where no store answered: the write may have reached DynamoDB, and may still be applied
NO_ANSWER = (DeadlineExceeded, DynamoDBUnavailable, S3Unavailable)
# dead-letter origins (cdp_dead_letters_total{origin}) and deadline-bound operations
# (cdp_deadline_exceeded_total{operation}): every label set is exported from the start
DEAD_LETTER_ORIGINS = ("mirror", "authoritative", "unresolved")
WRITE_OPERATIONS = ("mirror_write", "authoritative_write")
SERIAL = 0x0008
_BATCH_WRITE_TYPES = {BatchType.LOGGED: "BATCH", BatchType.UNLOGGED: "UNLOGGED_BATCH", BatchType.COUNTER: "COUNTER",
                      cql.BatchKind.LOGGED: "BATCH", cql.BatchKind.UNLOGGED: "UNLOGGED_BATCH",
                      cql.BatchKind.COUNTER: "COUNTER"}

# a request's statements: (statement, bound values, bind types of a prepared one)
Parts: TypeAlias = "list[tuple[cql.Statement, list[Any], tuple[CqlType, ...] | None]]"


@dataclass(slots=True)
class WriteContext:
    """What a failure answer needs to know about the client's request, and its deadline."""

    message: Any  # Query, Execute or Batch
    parts: Parts
    lwt: bool
    due: float  # time.monotonic() by which the client must have its answer

    def shape(self, writes: list[Write]) -> tuple[int, str]:
        """(consistency, write_type) of a WRITE_TIMEOUT or WRITE_FAILURE, as Cassandra reports them."""
        msg = self.message
        if isinstance(msg, Batch):
            consistency, serial = msg.consistency, msg.serial_consistency
        else:
            consistency, serial = msg.params.consistency, msg.params.serial_consistency
        if self.lwt:  # Cassandra reports a Paxos timeout at the serial consistency
            return serial or SERIAL, "CAS"
        if isinstance(msg, Batch):
            return consistency, _BATCH_WRITE_TYPES[msg.batch_type]
        if len(self.parts) == 1 and isinstance(self.parts[0][0], cql.Batch):
            return consistency, _BATCH_WRITE_TYPES[self.parts[0][0].kind]
        if any(isinstance(w, CounterWrite) for w in writes):
            return consistency, "COUNTER"
        return consistency, "SIMPLE"


class DualWriteStats:
    def __init__(self) -> None:
        self.mirrored = 0
        self.skipped_lwt = 0
        self.untranslatable: dict[str, int] = {}
        self.failed = 0
        self.authoritative = 0  # writes DynamoDB decided
        self.shadow_failed = 0  # of those, the ones Cassandra then refused
        self.dead_letters: dict[tuple[str, str], int] = {}  # (table, origin) → writes recorded
        self.deadline_exceeded = dict.fromkeys(WRITE_OPERATIONS, 0)
        self.in_flight = 0  # DynamoDB writes under way (a draining sidecar waits for them)


class DeadLetterSink:
    """Records writes for `dead-letters replay`, and counts them."""

    def __init__(self, stats: DualWriteStats, file: DeadLetters | None) -> None:
        self.stats = stats
        self.file = file

    def record(self, w: Write, origin: str, err: BaseException, operation: str = TRANSLATED) -> None:
        key = (w.table.cql_name, origin)
        self.stats.dead_letters[key] = self.stats.dead_letters.get(key, 0) + 1
        if self.file is None:
            log.error("%s: write not recorded (no dead-letter file): %s", w.table.cql_name, err)
            return
        try:
            self.file.record(w.table.cql_name, operation, encode_write(w), repr(err)[:1000], origin)
        except (OSError, ValueError, TypeError) as e:
            log.error("%s: could not record a write in %s: %s", w.table.cql_name, self.file.path, e)
