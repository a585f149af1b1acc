"""Routing by phase: a pure function from (statement kind, table phase, rollout share, partition)
to what the sidecar does with the request. No sockets here; the session acts on the decision.

| phase             | reads                                   | writes                                   |
|-------------------|-----------------------------------------|------------------------------------------|
| `cassandra`       | Cassandra                               | Cassandra                                |
| `dual_write`      | Cassandra                               | Cassandra decides, then DynamoDB          |
| `verify`          | Cassandra, DynamoDB read and compared   | Cassandra decides, then DynamoDB          |
| `dynamo_fallback` | DynamoDB, Cassandra on a miss           | DynamoDB decides, then Cassandra (shadow) |
| `dynamo`          | DynamoDB                                | DynamoDB                                 |

A table in phase P with a rollout share below 100% puts only that share of its partitions (a
stable hash of the partition key, the same on every sidecar) in P; the others stay in the phase
before P. Adjacent phases share their write set, so a request spanning partitions on both sides
of the share is routed by the one of the two that writes every store either of them writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Literal

from translators.mapping import TableMapping

from ..phases.model import AUTHORITY, PHASES, WRITES, partition_bucket, phase_for_bucket, previous_phase

# phases whose writes reach both stores
_BOTH_STORES = frozenset(p for p in PHASES if len(WRITES[p]) == 2)
DYNAMO_AUTHORITATIVE = frozenset(p for p in PHASES if AUTHORITY[p] == "dynamodb")
# phases in which DynamoDB gets the table's writes, and those where Cassandra still decides them
WRITING_PHASES = frozenset(p for p in PHASES if "dynamodb" in WRITES[p])
MIRRORED_PHASES = WRITING_PHASES - DYNAMO_AUTHORITATIVE
# phases whose reads never leave Cassandra: no need to look at a SELECT beyond its table
QUIET_READ_PHASES = frozenset({"cassandra", "dual_write"})

Kind = Literal["read", "write"]


class Route(StrEnum):
    CASSANDRA = "cassandra"  # forward untouched
    MIRROR = "mirror"  # write: Cassandra decides, DynamoDB follows
    VERIFY = "verify"  # read: Cassandra answers; DynamoDB read afterwards and compared
    SHADOW = "dynamo_then_cassandra"  # write: DynamoDB decides, Cassandra follows as shadow
    FALLBACK = "fallback"  # read: DynamoDB; a miss is read from Cassandra
    DYNAMO = "dynamo"  # DynamoDB only


_ROUTES: dict[tuple[Kind, str], Route] = {
    ("read", "cassandra"): Route.CASSANDRA,
    ("read", "dual_write"): Route.CASSANDRA,
    ("read", "verify"): Route.VERIFY,
    ("read", "dynamo_fallback"): Route.FALLBACK,
    ("read", "dynamo"): Route.DYNAMO,
    ("write", "cassandra"): Route.CASSANDRA,
    ("write", "dual_write"): Route.MIRROR,
    ("write", "verify"): Route.MIRROR,
    ("write", "dynamo_fallback"): Route.SHADOW,
    ("write", "dynamo"): Route.DYNAMO,
}


def route(kind: Kind, phase: str) -> Route:
    return _ROUTES[(kind, phase)]


def table_bucket(tm: TableMapping, key: Mapping[str, Any]) -> float:
    """The rollout bucket of one partition of a mapped table, from its DynamoDB partition key
    attributes: the same on every sidecar, for reads and writes alike."""
    return partition_bucket(tm.cql_name.encode() + b"\0" + repr(sorted(key.items())).encode())


def effective_phase(kind: Kind, phase: str, share: float, buckets: Iterable[float] | None) -> str:
    """The phase a request runs in. `buckets`: the share buckets of the partitions it touches, or
    None when that is not known (a scan): such a read stays in the previous phase until the share
    reaches 100%. Each partition's own phase is phases.phase_for_bucket's."""
    prev = previous_phase(phase)
    if share >= 100.0 or prev is None:
        return phase
    if buckets is None:
        return prev if kind == "read" else _mixed(prev, phase)
    per_partition = {phase_for_bucket(phase, share, b) for b in buckets}
    if len(per_partition) == 1:
        return per_partition.pop()
    if not per_partition:
        return prev
    return prev if kind == "read" else _mixed(prev, phase)


def _mixed(prev: str, phase: str) -> str:
    """A write touching partitions on both sides of the share: the phase of the two whose write
    set covers both (the earlier one when both do, so Cassandra keeps deciding as long as it can)."""
    if prev in _BOTH_STORES:
        return prev
    if phase in _BOTH_STORES:
        return phase
    return prev


def write_route(phases: Iterable[str], cassandra_too: bool = False) -> Route:
    """One route for a request whose writes run in these phases (a batch may span tables).
    `cassandra_too`: it also writes tables that only Cassandra holds. Whenever DynamoDB decides
    for one of its writes, DynamoDB goes first and Cassandra gets the whole request after."""
    ps = set(phases)
    if not ps:
        return Route.CASSANDRA
    if ps == {"dynamo"} and not cassandra_too:
        return Route.DYNAMO
    if ps & DYNAMO_AUTHORITATIVE:
        return Route.SHADOW
    if ps & {"dual_write", "verify"}:
        return Route.MIRROR
    return Route.CASSANDRA
