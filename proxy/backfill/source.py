"""Reading Cassandra for the backfill and the validator: the ring's tokens, range scans page by page
from a replica that owns the range, and point reads, with the driver's async execution bridged into
asyncio."""

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
from cassandra.query import PreparedStatement, tuple_factory

from .ranges import TokenRange

log = logging.getLogger(__name__)


class _NullableIntList(cqltypes._SimpleParameterizedType):
    """list<int> decoded by the generic path, which accepts null elements: TTL(collection) gives one
    TTL per element and null for elements without one, which the compiled decoder rejects."""

    typename = "list"
    num_subtypes = 1
    adapter = list


def _null_tolerant(handler: Any) -> Any:
    base = handler.message_types_by_opcode[0x08]

    class Result(base):  # type: ignore[misc, valid-type]
        @classmethod
        def read_type(cls, f: Any, user_type_map: Any) -> Any:
            t: Any = super().read_type(f, user_type_map)
            subtypes = getattr(t, "subtypes", None)
            if (isinstance(t, type) and issubclass(t, cqltypes.ListType) and subtypes
                    and subtypes[0] is cqltypes.Int32Type):
                return _NullableIntList.apply_parameters(subtypes)
            return t

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
        self.session.client_protocol_handler = _null_tolerant(self.session.client_protocol_handler)
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
        for row in self.session.execute("SELECT tokens FROM system.local"):
            tokens.extend(int(t) for t in row[0] or ())
        for row in self.session.execute("SELECT tokens FROM system.peers"):
            tokens.extend(int(t) for t in row[0] or ())
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
                      paging_state: bytes | None = None, page_size: int | None = None
                      ) -> tuple[list[Any], bytes | None]:
        """One page: (rows, paging state of the next page or None)."""
        stmt = self.prepare(cql).bind(params)
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

    async def execute_all(self, cql: str, params: Sequence[Any]) -> list[Any]:
        rows: list[Any] = []
        state = None
        while True:
            page, state = await self.execute(cql, params, paging_state=state)
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
