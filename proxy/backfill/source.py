"""Reading Cassandra for the backfill, the validator and restore: the ring's tokens, range scans page
by page from a replica that owns the range, and point reads, with the driver's async execution
bridged into asyncio.

The session's rows hold each value's bytes, undecoded: the caller decodes them (decode.py, row by
row), so no value Cassandra sends can make the driver drop the connection and fail every request
in flight on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cassandra import cqltypes
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.metadata import Murmur3Token
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BoundStatement, PreparedStatement, tuple_factory

from cql_protocol.types import CqlType, SetType, TypeCode, deserialize, native, serialize

from .ranges import TokenRange

log = logging.getLogger(__name__)

_TEXT_SET = SetType(native(TypeCode.VARCHAR))


def raw_values(handler: Any) -> Any:
    """`handler` with every result column read as a blob: a row is its values' bytes (None for
    null), which cannot fail to decode. Prepared statements keep their result metadata the same
    way, since it passes through the same method."""
    base = handler.message_types_by_opcode[0x08]

    class Result(base):  # type: ignore[misc, valid-type]
        def recv_results_metadata(self, f: Any, user_type_map: Any) -> None:
            super().recv_results_metadata(f, user_type_map)
            columns: Any = getattr(self, "column_metadata", None)
            if columns:
                self.column_metadata = [(ks, table, name, cqltypes.BytesType) for ks, table, name, _type in columns]

    class Handler(handler):
        message_types_by_opcode = {**handler.message_types_by_opcode, 0x08: Result}

    return Handler


def parse_contact_points(spec: str) -> tuple[list[str], int]:
    hosts, port = [], 9042
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        host, sep, p = part.rpartition(":")
        if sep and p.isdigit():
            hosts.append(host.strip("[]"))
            port = int(p)
        elif sep and ":" not in host:  # HOST:PORT with a port that is not one (IPv6 has more colons)
            raise ValueError(f"{part!r}: the port {p!r} is not a number")
        else:
            hosts.append(part)
    if not hosts:
        raise ValueError(f"no Cassandra contact point in {spec!r}")
    return hosts, port


@dataclass
class SourceOptions:
    contact: str = "127.0.0.1:9042"
    username: str | None = None
    password: str | None = None
    protocol_version: int = 4
    page_size: int = 1000
    timeout: float = 60.0
    consistency: str = "LOCAL_QUORUM"


class CassandraSource:
    def __init__(self, opts: SourceOptions) -> None:
        from cassandra import ConsistencyLevel

        hosts, port = parse_contact_points(opts.contact)
        self.opts = opts
        profile = ExecutionProfile(load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
                                   request_timeout=opts.timeout, row_factory=tuple_factory,
                                   consistency_level=ConsistencyLevel.name_to_value[opts.consistency])
        auth = PlainTextAuthProvider(opts.username, opts.password) if opts.username else None
        self.cluster = Cluster(hosts, port=port, protocol_version=opts.protocol_version, auth_provider=auth,
                               execution_profiles={EXEC_PROFILE_DEFAULT: profile}, connect_timeout=10,
                               control_connection_timeout=10)
        self.session: Session = self.cluster.connect()
        self.session.client_protocol_handler = raw_values(self.session.client_protocol_handler)
        self._prepared: dict[str, PreparedStatement] = {}

    def close(self) -> None:
        self.cluster.shutdown()

    def prepare(self, cql: str) -> PreparedStatement:
        ps = self._prepared.get(cql)
        if ps is None:
            ps = self._prepared[cql] = self.session.prepare(cql)
        return ps

    def ring_tokens(self) -> list[int]:
        """Every node's tokens, from system.local and system.peers."""
        tokens: list[int] = []
        for table in ("system.local", "system.peers"):
            for row in self.session.execute(f"SELECT tokens FROM {table}"):
                if row[0] is not None:
                    tokens.extend(int(t) for t in deserialize(_TEXT_SET, row[0]))  # type: ignore[attr-defined]
        return tokens

    def replica(self, keyspace: str, r: TokenRange) -> Any:
        """A live replica that owns the range (the owner of its end token), or None."""
        tm = self.cluster.metadata.token_map
        if tm is None:
            return None
        try:
            hosts = tm.get_replicas(keyspace, Murmur3Token(r.end))
        except Exception:  # metadata not ready yet: the driver's own choice is fine
            return None
        up = [h for h in hosts if h.is_up is not False]
        return up[0] if up else None

    async def execute(self, cql: str, params: Sequence[Any], *, host: Any = None,
                      paging_state: bytes | None = None, page_size: int | None = None,
                      types: Sequence[CqlType] | None = None) -> tuple[list[Any], bytes | None]:
        """One page: (rows of undecoded values, paging state of the next page or None).

        With `types`, the parameters are values as the project's codec reads them (a row's key
        read back from Cassandra or DynamoDB) and are encoded by it, not by the driver, whose
        conventions differ for some types (dates, times, durations, ...)."""
        ps = self.prepare(cql)
        if types is None:
            stmt = ps.bind(params)
        else:
            stmt = BoundStatement(ps)
            stmt.raw_values = list(params)
            stmt.values = [None if v is None else serialize(t, v, self.opts.protocol_version)
                           for t, v in zip(types, params, strict=True)]
        stmt.fetch_size = page_size or self.opts.page_size
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[list[Any], bytes | None]] = loop.create_future()
        rf = self.session.execute_async(stmt, paging_state=paging_state, host=host)

        def ok(rows: Any) -> None:
            state = rf._paging_state  # the state of the page just delivered
            loop.call_soon_threadsafe(_settle, fut, (list(rows), state), None)

        def err(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, fut, None, exc)

        rf.add_callbacks(ok, err)
        return await fut

    async def execute_all(self, cql: str, params: Sequence[Any], types: Sequence[CqlType] | None = None
                          ) -> list[Any]:
        rows: list[Any] = []
        state = None
        while True:
            page, state = await self.execute(cql, params, paging_state=state, types=types)
            rows.extend(page)
            if not state:
                return rows


def _settle(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)
