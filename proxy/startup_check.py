"""At start, after the phases are known: every mapped table exists in each store its phase uses.

A store that answers that a table (or a GSI the mapping uses) is missing stops the sidecar: the
first client write would otherwise fail, or be dead-lettered, for every request. What cannot be
checked does not stop it, and is logged as a warning instead:

- a store that does not answer (it may come back; the sidecar keeps running as it always did, writes
  DynamoDB misses are dead-lettered, a Cassandra it cannot reach is retried per connection);
- a Cassandra that wants a login the sidecar does not have (clients log in with their own), or
  refuses the sidecar's own; a DynamoDB that denies the check's Scan (a policy without it);
- a DynamoDB table of a table still in phase `cassandra`: it is needed only from `dual_write` on.

Tables wholly in phase `dynamo` need no Cassandra: it is not contacted for them (it may be gone).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

from translators.mapping import Mapping, TableMapping

from .aws.dynamodb_client import DynamoDBClient, DynamoDBError, DynamoDBUnavailable
from .phases.model import WRITES, TablePhase

log = logging.getLogger(__name__)

CASSANDRA, DYNAMODB = "cassandra", "dynamodb"
# a refused connection is an answer: a few quick tries, not the request path's patience
DYNAMODB_ATTEMPTS = 3


class TableMissing(Exception):
    """A table a phase needs is not in its store (the one line the sidecar exits with)."""


def stores_used(tp: TablePhase) -> frozenset[str]:
    """The stores some partition of the table is read from or written to."""
    return frozenset().union(*(WRITES[p] for p in tp.phases))


def _phase_text(tp: TablePhase) -> str:
    return tp.phase if tp.share >= 100.0 else f"{tp.phase} {tp.share:g}%"


@dataclass
class Report:
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CassandraAccess:
    endpoints: list[tuple[str, int]]
    username: str
    password: str
    ssl_context: ssl.SSLContext | None
    connect_timeout: float


async def check_tables(mapping: Mapping, phases: dict[tuple[str, str], TablePhase],
                       dynamodb: DynamoDBClient, cassandra: CassandraAccess) -> Report:
    report = Report()
    await _check_dynamodb(mapping, phases, dynamodb, report)
    needs_cassandra = [(tm, tp) for key, tm in sorted(mapping.tables.items())
                       if CASSANDRA in stores_used(tp := phases[key])]
    if needs_cassandra:
        await asyncio.to_thread(_check_cassandra, needs_cassandra, cassandra, report)
    return report


async def _check_dynamodb(mapping: Mapping, phases: dict[tuple[str, str], TablePhase],
                          client: DynamoDBClient, report: Report) -> None:
    endpoint = client.endpoint.rstrip("/")
    for key, tm in sorted(mapping.tables.items()):
        tp = phases[key]
        needed = DYNAMODB in stores_used(tp)
        for index in [None, *(ix.name for ix in tm.indexes)]:
            what = f"DynamoDB table {tm.dynamodb_table}" + (f" (GSI {index})" if index else "")
            try:
                # Scan (COUNT, one item) is one cheap request; DescribeTable would need a permission
                # the sidecar does not otherwise use
                await client.scan(TableName=tm.dynamodb_table, Limit=1, Select="COUNT",
                                  **({"IndexName": index} if index else {}))
            except DynamoDBUnavailable as e:
                report.warnings.append(f"DynamoDB at {endpoint} does not answer ({e}): the tables of "
                                       f"{tm.cql_name} and the others are not checked")
                return
            except DynamoDBError as e:
                if not _missing(e):
                    report.warnings.append(f"cannot check {what} of {tm.cql_name} at {endpoint}: {e}")
                    break
                line = f"{tm.cql_name}: {what} does not exist at {endpoint}"
                if needed:
                    report.missing.append(f"{line} (phase {_phase_text(tp)} uses DynamoDB; create it with "
                                          "`cql-dynamo-proxy tables create --mapping ...`)")
                else:
                    report.warnings.append(f"{line}: create it before moving the table to dual_write")
                break


async def dynamodb_missing(tm: TableMapping, old: TablePhase, new: TablePhase,
                           client: DynamoDBClient) -> str | None:
    """Why a move of `tm` from `old` to `new` would write a DynamoDB table that is not there (None:
    it is, the move does not start using DynamoDB, or DynamoDB could not tell)."""
    if DYNAMODB in stores_used(old) or DYNAMODB not in stores_used(new):
        return None
    report = Report()
    await _check_dynamodb(Mapping(0, None, None, {(tm.keyspace, tm.table): tm}),
                          {(tm.keyspace, tm.table): new}, client, report)
    return report.missing[0] if report.missing else None


def _missing(e: DynamoDBError) -> bool:
    # a missing GSI is a ValidationException naming the index, not a ResourceNotFoundException
    return e.code == "ResourceNotFoundException" or (
        e.code == "ValidationException" and "specified index" in e.message)


def _check_cassandra(tables: Iterable[tuple[TableMapping, TablePhase]], access: CassandraAccess,
                     report: Report) -> None:
    """Reads the schema through the driver (blocking: run in a thread)."""
    from cassandra import AuthenticationFailed
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster, NoHostAvailable
    from cassandra.connection import DefaultEndPoint

    # the driver logs each failed attempt; the one warning below says it once
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    contact = ",".join(f"{h}:{p}" for h, p in access.endpoints)
    auth = PlainTextAuthProvider(access.username, access.password) if access.username else None
    cluster = Cluster([DefaultEndPoint(h, p) for h, p in access.endpoints], protocol_version=4,
                      auth_provider=auth, ssl_context=access.ssl_context,
                      connect_timeout=access.connect_timeout, control_connection_timeout=access.connect_timeout)
    try:
        try:
            cluster.connect()
        except NoHostAvailable as e:
            errors = list(e.errors.values()) if isinstance(e.errors, dict) else []
            if errors and all(isinstance(x, AuthenticationFailed) for x in errors):
                why = (f"it refused the login of {access.username!r}" if access.username else
                       "it needs a login and the sidecar has none (--cassandra-username)")
            else:
                why = f"it does not answer ({_last_error(e)})"
            report.warnings.append(f"cannot check the mapped tables in Cassandra at {contact}: {why}")
            return
        except Exception as e:  # TLS, addresses: the check must not be what stops the sidecar
            report.warnings.append(f"cannot check the mapped tables in Cassandra at {contact}: "
                                   f"{type(e).__name__}: {e}")
            return
        keyspaces = cluster.metadata.keyspaces
        for tm, tp in tables:
            ks = keyspaces.get(tm.keyspace)
            if ks is None or tm.table not in ks.tables:
                what = f"keyspace {tm.keyspace}" if ks is None else f"table {tm.cql_name}"
                report.missing.append(f"{tm.cql_name}: {what} does not exist in Cassandra at {contact} "
                                      f"(phase {_phase_text(tp)} uses Cassandra)")
    finally:
        cluster.shutdown()


def _last_error(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    text = str(next(iter(errors.values()))) if isinstance(errors, dict) and errors else str(e)
    return text.rpartition("Last error: ")[2] or text


async def verify_or_fail(mapping: Mapping, phases: dict[tuple[str, str], TablePhase], dynamodb_region: str,
                         dynamodb_endpoint: str, cassandra: CassandraAccess) -> None:
    """Logs what could not be checked; raises TableMissing naming the first missing table (the
    others are logged)."""
    client = DynamoDBClient(region=dynamodb_region, endpoint=dynamodb_endpoint, max_attempts=DYNAMODB_ATTEMPTS)
    try:
        report = await check_tables(mapping, phases, client, cassandra)
    finally:
        await client.close()
    for w in report.warnings:
        log.warning("start-up check: %s", w)
    for extra in report.missing[1:]:
        log.error("start-up check: %s", extra)
    if report.missing:
        more = f" (and {len(report.missing) - 1} more, logged above)" if len(report.missing) > 1 else ""
        raise TableMissing(report.missing[0] + more)
