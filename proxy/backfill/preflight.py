"""Checks made before a batch command plans anything: both stores answer, accept the credentials and
hold every table of the run. Each failure becomes a `CommandError` naming the store and the table, so
a run that cannot work ends at once with one line instead of failing range after range."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from translators.mapping import Mapping, TableMapping

from ..aws.aws_endpoints import AwsSetupError
from ..aws.dynamodb_client import DynamoDBClient, DynamoDBError, DynamoDBUnavailable
from .failures import CommandError, cassandra_error, dynamodb_error

# A few quick attempts: a refused connection to an explicit endpoint is an answer, not a blip.
DYNAMODB_ATTEMPTS = 3
CASSANDRA_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Stores:
    cassandra: str
    username: str | None
    password: str | None
    dynamodb_endpoint: str | None
    dynamodb_region: str | None


def quiet_driver() -> None:
    """The driver logs every failed connection attempt: the command's own line says it once."""
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)


def check_files(reads: list[str | None], writes: list[str | None]) -> None:
    """Files a run reads must be there; files it writes as it goes, or at its end, need a directory
    to go to (found missing at the end, it would lose the summary of a finished run)."""
    for r in reads:
        if r and not Path(r).is_file():
            raise CommandError(f"cannot read {r}: no such file")
    for w in writes:
        if w and not Path(w).parent.is_dir():
            raise CommandError(f"cannot write {w}: no directory {Path(w).parent}")


def check_port_free(host: str, port: int) -> None:
    """--metrics-port: found taken (or --metrics-host not an address here) before connecting to
    anything, not after planning the run."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise CommandError(f"--metrics-host {host}: {e.strerror or e}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the metrics server binds
        try:
            s.bind(addr)
        except OSError as e:
            raise CommandError(f"--metrics-port {port} on {host}: {e.strerror or e}") from None


def check(stores: Stores, mapping: Mapping, tables: list[str]) -> None:
    """The AWS setup first (profile, region, endpoint, credentials: wrong whatever the stores say),
    then Cassandra (the source of a backfill, the target of a restore), then DynamoDB."""
    client = dynamodb_client(stores, mapping)
    try:
        check_cassandra(stores, mapping, tables)
    except BaseException:
        asyncio.run(client.close())
        raise
    asyncio.run(check_dynamodb(client, mapping, tables))


def dynamodb_client(stores: Stores, mapping: Mapping) -> DynamoDBClient:
    try:
        return DynamoDBClient(region=stores.dynamodb_region or mapping.region,
                              endpoint=stores.dynamodb_endpoint or mapping.endpoint, max_attempts=DYNAMODB_ATTEMPTS)
    except AwsSetupError as e:
        raise CommandError(f"AWS configuration: {e}") from None


def check_cassandra(stores: Stores, mapping: Mapping, tables: list[str]) -> None:
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster, UnresolvableContactPoints

    from .source import parse_contact_points

    try:
        hosts, port = parse_contact_points(stores.cassandra)
    except ValueError as e:
        raise CommandError(f"--cassandra: {e}") from None
    quiet_driver()
    auth = PlainTextAuthProvider(stores.username, stores.password or "") if stores.username else None
    try:
        cluster = Cluster(hosts, port=port, protocol_version=4, auth_provider=auth,
                          connect_timeout=CASSANDRA_CONNECT_TIMEOUT,
                          control_connection_timeout=CASSANDRA_CONNECT_TIMEOUT)
    except UnresolvableContactPoints:  # the driver resolves the names when it is built
        raise CommandError(f"--cassandra {stores.cassandra}: no such host") from None
    try:
        try:
            cluster.connect()
        except Exception as e:  # NoHostAvailable, AuthenticationFailed, bad addresses
            raise cassandra_error(e, stores.cassandra) from None
        keyspaces = cluster.metadata.keyspaces
        for name in tables:
            tm = _table(mapping, name)
            ks = keyspaces.get(tm.keyspace)
            if ks is None:
                raise CommandError(f"{name}: keyspace {tm.keyspace} does not exist in Cassandra at "
                                   f"{stores.cassandra}")
            if tm.table not in ks.tables:
                raise CommandError(f"{name}: table {tm.table} does not exist in Cassandra at {stores.cassandra}")
    finally:
        cluster.shutdown()


async def check_dynamodb(client: DynamoDBClient, mapping: Mapping, tables: list[str]) -> None:
    endpoint = client.endpoint.rstrip("/")
    try:
        checked: set[str] = set()
        for name in tables:
            target = _table(mapping, name).dynamodb_table
            if target in checked:
                continue
            checked.add(target)
            try:
                # Scan (COUNT, one item) needs no permission beyond the ones the commands use
                # anyway; DescribeTable would.
                await client.scan(TableName=target, Limit=1, Select="COUNT")
            except (DynamoDBError, DynamoDBUnavailable) as e:
                raise dynamodb_error(e, endpoint, f"{target} (of {name})") from None
    finally:
        await client.close()


def _table(mapping: Mapping, name: str) -> TableMapping:
    ks, _, t = name.partition(".")
    tm = mapping.table(ks, t)
    if tm is None:
        raise CommandError(f"{name} is not in the mapping")
    return tm
