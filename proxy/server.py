"""The listening side: accepts clients, enforces limits, drains on shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from translators.mapping import Mapping, MappingError, load_mapping

from . import __version__
from .assess.collector import Assessor
from .assess.metrics import assess_metrics
from .aws.dynamodb_client import ClientStats, DynamoDBClient
from .aws.s3_client import S3Client
from .config import Config, ConfigError
from .metrics import SOURCES, STATS, Family, counter_family, histogram_family, labelled_counter
from .phases.model import PHASES, PhaseRegistry, PhaseSet, TablePhase, phaseset_from_phases
from .phases.phase_control import PhaseControl, build_control
from .reads.dynamo_reader import DynamoReader
from .reads.read_path import ReadPath
from .reads.read_repair import ReadRepair
from .routing import WRITING_PHASES
from .session.cassandra_pool import CassandraPool
from .session.client_session import ClientSession
from .session.timeouts import Timeouts
from .startup_check import CassandraAccess, TableMissing, dynamodb_missing, verify_or_fail
from .system_tables.synthetic_schema import SyntheticSchema
from .system_tables.topology import Node
from .tls import cassandra_side_context, client_side_context
from .writes.dual_write import DualWrite
from .writes.dynamo_primary import conditional_target
from .writes.dynamo_writer import DynamoWriter
from .writes.journal import DeadLetters, Journal
from .writes.large_items import LargeItemError, LargeItems
from .writes.lww import SINGLE_CALL_OUTCOMES
from .writes.outcomes import DEAD_LETTER_ORIGINS
from .writes.write_queue import QueueSettings, WriteQueue

log = logging.getLogger(__name__)


def load_mapping_or_fail(path: str, overrides: str = "") -> Mapping:
    """Loads the mapping at start; a bad file stops the sidecar with the line at fault."""
    try:
        m = load_mapping(path)
    except MappingError as e:
        raise ConfigError(str(e)) from None
    except OSError as e:
        raise ConfigError(f"cannot read the mapping {path}: {e.strerror or e}") from None
    tables = dict(m.tables)
    for item in (x.strip() for x in overrides.split(",") if x.strip()):
        name, sep, phase = item.partition("=")
        ks, dot, table = name.strip().partition(".")
        key = (ks, table)
        if not sep or not dot or key not in tables:
            raise ConfigError(f"phases: {item!r} must be KS.TABLE=PHASE for a table in {path}")
        if phase not in PHASES:
            raise ConfigError(f"phases: {phase!r} is not one of {', '.join(PHASES)}")
        tables[key] = dataclasses.replace(tables[key], phase=phase)
    return dataclasses.replace(m, tables=tables)


def uses_s3(m: Mapping) -> bool:
    """Whether some table in a writing phase stores large items in S3 (the sidecar then needs S3)."""
    return any(tm.large_items == "s3" for tm in m.tables.values())


class ProxyServer:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.sessions: set[ClientSession] = set()
        self.draining = False
        self.started_at = time.time()
        self.client_ssl = client_side_context(cfg)
        self.pool = CassandraPool(cfg.cassandra_endpoints, cassandra_side_context(cfg), cfg.connect_timeout)
        self.peers = [Node(h, p) for h, p in cfg.peer_endpoints]
        self._server: asyncio.Server | None = None
        self._advertise = cfg.advertise.strip()
        self.mapping = load_mapping_or_fail(cfg.mapping, cfg.phases) if cfg.mapping else None
        self.dual: DualWrite | None = None
        self.reads: ReadPath | None = None
        self._synthetic: dict[Node, SyntheticSchema] = {}
        self._dynamodb: DynamoDBClient | None = None
        self.large: LargeItems | None = None
        self.queue: WriteQueue | None = None
        self.assess: Assessor | None = None  # proxy.assess: the request path counts mapped requests into it
        # the pass lane's verdicts on simple statements, by (session keyspace, text) (proxy.session.pass_lane)
        self.lane_queries: dict[tuple[str | None, bytes], bool] | None = {}
        # run-time phases: the request path reads self.phases.phase_of(ks, table)
        self.phases = PhaseRegistry(
            phaseset_from_phases((ks, t, tm.phase) for (ks, t), tm in self.mapping.tables.items())
            if self.mapping is not None else PhaseSet(0, {}))
        self.control: PhaseControl | None = None
        self.timeouts = Timeouts(cfg.handshake_timeout, cfg.partial_frame_timeout, cfg.idle_timeout)

    def table_phase(self, keyspace: str, table: str) -> tuple[str, float]:
        tp = self.phases.phase_of(keyspace, table)
        return (tp.phase, tp.share) if tp is not None else ("cassandra", 100.0)

    # -- what proxy.routing.decide asks (SessionView) ---------------------------------------------
    @property
    def mirroring(self) -> bool:
        return self.dual is not None

    def phase_of(self, keyspace: str, table: str) -> tuple[str, float] | None:
        """(phase, share) of a mapped table, None for one outside the mapping."""
        dual = self.dual
        if dual is None or dual.mapping.table(keyspace, table) is None:
            return None
        return dual.phase_of(keyspace, table)

    def standalone_ok(self) -> bool:
        """Whether sessions can do without Cassandra: every mapped table fully in phase `dynamo`."""
        dual = self.dual
        if dual is None or not dual.mapping.tables:
            return False
        return all(dual.phase_of(ks, t) == ("dynamo", 100.0) for ks, t in dual.mapping.tables)

    def synthetic_for(self, me: Node) -> SyntheticSchema:
        """The system tables as a driver connected through address `me` must see them."""
        synth = self._synthetic.get(me)
        if synth is None:
            assert self.mapping is not None
            synth = self._synthetic[me] = SyntheticSchema(self.mapping, me, self.peers)
        return synth

    @property
    def listen_port(self) -> int:
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self.cfg.listen_addr[1]

    def advertised_node(self, transport: asyncio.Transport) -> Node:
        """The address drivers should know this sidecar by: configured, or the one they dialled."""
        if self._advertise:
            host, _, port = self._advertise.partition(":")
            return Node(host, int(port) if port else self.listen_port)
        sock = transport.get_extra_info("sockname")
        host = sock[0] if sock else self.cfg.listen_addr[0]
        return Node(host, self.listen_port)

    async def start(self) -> None:
        SOURCES.append(self._info_metrics)
        if self.mapping is not None:
            m = self.mapping
            # before the listener opens: a new sidecar should serve the fleet's phases from the start
            self.control = build_control(self.cfg, self.phases, self.cfg.listen_addr[1],
                                         region=m.region, endpoint=m.endpoint)
            self.control.stores_check = self._stores_check
            await self.control.start()
            SOURCES.append(self.control.watcher.metrics)
            self._dynamodb = DynamoDBClient(
                region=self.cfg.dynamodb_region or m.region or None,
                endpoint=self.cfg.dynamodb_endpoint or m.endpoint or None,
                max_connections=self.cfg.dynamodb_max_connections,
            )
            self._dynamodb.stats.expect_tables(sorted({t.dynamodb_table for t in m.tables.values()}))
            try:
                await self._check_tables(m)
            except TableMissing:
                await self._dynamodb.close()
                try:
                    await self.control.stop()
                except OSError as e:  # the missing table is the line to exit with
                    log.warning("leaving the control store: %s", e)
                raise
            if uses_s3(m):
                self.large = LargeItems(S3Client(
                    region=self.cfg.s3_region or self._dynamodb.region,
                    endpoint=self.cfg.s3_endpoint or None,
                    max_connections=self.cfg.s3_max_connections,
                ))
                try:
                    await self.large.check_buckets(m)
                except LargeItemError as e:
                    await self.large.s3.close()
                    await self._dynamodb.close()
                    raise ConfigError(f"large_items: s3: {e}") from None
                log.info("large items of %s go to S3 at %s", ", ".join(
                    t.cql_name for t in m.tables.values() if t.large_items == "s3"),
                    self.large.s3.describe())
            state = Path(self.cfg.state_dir)
            # one file for every write DynamoDB did not take: queued ones that failed for good,
            # and those a client got an error for (`dead-letters replay` applies them all)
            dead_letters = DeadLetters(state / "dead-letters.jsonl")
            writer = DynamoWriter(self._dynamodb, large=self.large, single_call=self.cfg.single_call_writes)
            self.dual = DualWrite(m, writer, self.table_phase, deadline=self.cfg.dynamodb_deadline,
                                  dead_letters=dead_letters)
            self.reads = ReadPath(m, DynamoReader(self._dynamodb, large=self.large), self.dual,
                                  self.cfg.verify_sample, self.cfg.verify_concurrency,
                                  ReadRepair(self.dual.writer) if self.cfg.fallback_read_repair else None,
                                  deadline=self.cfg.dynamodb_deadline)
            SOURCES.append(self._migration_metrics)
            if self.cfg.assess_sample > 0:
                self.assess = Assessor(m, sample_percent=self.cfg.assess_sample,
                                       max_shapes=self.cfg.assess_max_shapes, window=self.cfg.assess_window,
                                       sidecar_id=self.cfg.sidecar_id or f"{socket.gethostname()}:{self.listen_port}",
                                       conditional_check=conditional_target)
                SOURCES.append(partial(assess_metrics, self.assess))
            if any(t.write_mode == "queued" for t in m.tables.values()):
                self.queue = WriteQueue(
                    self._dynamodb, Journal(state / "journal"), dead_letters,
                    QueueSettings(capacity=self.cfg.queue_capacity, workers=self.cfg.queue_workers,
                                  backpressure_timeout=self.cfg.backpressure_timeout, batch_writes=True),
                    applier=self.dual.apply_record,
                )
                self.dual.queue = self.queue
                replayed = await self.queue.start()
                log.info("write queue journal in %s (%d writes replayed)", state / "journal", replayed)
            mirrored = [t.cql_name for t in m.tables.values() if t.phase in WRITING_PHASES]
            log.info("mapping %s: %d tables, mirrored to DynamoDB at %s: %s", self.cfg.mapping, len(m.tables),
                     self._dynamodb.endpoint, ", ".join(mirrored) or "none")
        host, port = self.cfg.listen_addr
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientSession(self), host, port, ssl=self.client_ssl, reuse_address=True, backlog=1024,
            # a stalled TLS handshake is bounded like the CQL one that follows it
            ssl_handshake_timeout=(self.timeouts.handshake or None) if self.client_ssl else None,
        )
        log.info("listening for CQL clients on %s:%d (TLS %s)", host, self.listen_port,
                 "on" if self.client_ssl else "off")

    async def _check_tables(self, m: Mapping) -> None:
        """Every table exists where the phase it starts in needs it (see startup_check)."""
        assert self._dynamodb is not None
        phases = {key: self.phases.phase_of(*key) or TablePhase(tm.phase) for key, tm in m.tables.items()}
        cfg = self.cfg
        await verify_or_fail(m, phases, self._dynamodb.region, self._dynamodb.endpoint, CassandraAccess(
            cfg.cassandra_endpoints, cfg.cassandra_username, cfg.cassandra_password, self.pool.ssl_ctx,
            cfg.connect_timeout))

    async def _stores_check(self, name: str, old: TablePhase, new: TablePhase) -> str | None:
        ks, _, table = name.partition(".")
        tm = self.mapping.table(ks, table) if self.mapping is not None else None
        if tm is None or self._dynamodb is None:
            return None
        return await dynamodb_missing(tm, old, new, self._dynamodb)

    async def shutdown(self, grace: float | None = None) -> None:
        """Stops accepting, answers new requests with OVERLOADED, lets in-flight ones finish."""
        grace = self.cfg.shutdown_grace if grace is None else grace
        self.draining = True
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + grace
        while (STATS.in_flight > 0 or (self.dual is not None and self.dual.in_flight > 0)) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if STATS.in_flight:
            log.warning("shutting down with %d requests still in flight", STATS.in_flight)
        for s in list(self.sessions):
            s.close("shutdown")
        if self._server is not None:
            await self._server.wait_closed()
        if self.queue is not None:
            if not await self.queue.drain(max(1.0, deadline - time.monotonic())):
                log.warning("stopping with queued DynamoDB writes pending: the journal replays them at start")
            await self.queue.close()
        if self._dynamodb is not None:
            await self._dynamodb.close()
        if self.control is not None:
            await self.control.stop()
        if self.large is not None:
            await self.large.s3.close()
        log.info("sidecar stopped")

    def _migration_metrics(self) -> Iterable[Family]:
        dual, client, queue = self.dual, self._dynamodb, self.queue
        if dual is None or client is None:
            return
        st = dual.stats
        c = CounterMetricFamily("cdp_dual_writes", "Writes mirrored to DynamoDB (applied or journaled)")
        c.add_metric([], st.mirrored)
        yield c
        c = CounterMetricFamily("cdp_dual_write_failures", "Writes Cassandra took and DynamoDB did not")
        c.add_metric([], st.failed)
        yield c
        c = CounterMetricFamily("cdp_untranslatable_statements",
                                "Writes to mirrored tables that could not be translated (Cassandra only)")
        c.add_metric([], sum(st.untranslatable.values()))
        yield c
        c = CounterMetricFamily("cdp_lwt_not_applied", "Conditional writes Cassandra did not apply (not mirrored)")
        c.add_metric([], st.skipped_lwt)
        yield c
        yield from dynamodb_metrics(client.stats)
        f = CounterMetricFamily("cdp_merge_conflicts",
                                "Row writes redone because another writer changed the item first")
        f.add_metric([], dual.writer.conflicts)
        yield f
        single = CounterMetricFamily(
            "cdp_mirror_single_call", "Row writes to DynamoDB offered as one conditional UpdateItem, by table and "
            "outcome (applied; fallback_condition: not newer than the item, which the read-merge-write then "
            "reconciles; fallback_shape: its result depends on the item; fallback_size: the item would outgrow "
            "400 KB)", labels=["table", "outcome"])
        for tm in sorted(dual.mapping.tables.values(), key=lambda t: t.cql_name):
            for outcome in SINGLE_CALL_OUTCOMES:
                single.add_metric([tm.cql_name, outcome], dual.writer.single_call.get((tm.cql_name, outcome), 0))
        yield single
        missed = CounterMetricFamily(
            "cdp_deadline_exceeded", "Client requests whose DynamoDB (or S3) part missed the request deadline, by "
            "operation (mirror_write, authoritative_write, read, fallback_read, verify_read)", labels=["operation"])
        for op, n in st.deadline_exceeded.items():
            missed.add_metric([op], n)
        if self.reads is not None:
            for op, n in self.reads.deadline_exceeded.items():
                missed.add_metric([op], n)
        yield missed
        recorded = CounterMetricFamily(
            "cdp_dead_letters", "Writes a client got an error for, recorded in the dead-letter file for replay, by "
            "table and origin (mirror: in Cassandra, not confirmed by DynamoDB; authoritative: DynamoDB-first "
            "without an answer; unresolved: a conditional one of those)", labels=["table", "origin"])
        for tm in sorted(dual.mapping.tables.values(), key=lambda t: t.cql_name):
            for origin in DEAD_LETTER_ORIGINS:
                recorded.add_metric([tm.cql_name, origin], st.dead_letters.get((tm.cql_name, origin), 0))
        yield recorded
        if self.reads is not None:
            yield from _read_metrics(self.reads)
        repair = self.reads.repair if self.reads is not None else None
        if repair is not None:
            for name, doc, value in (
                ("cdp_read_repair_partitions", "Partitions read back from Cassandra after a fallback miss",
                 repair.stats.partitions),
                ("cdp_read_repair_rows", "Rows merged into DynamoDB by read repair", repair.stats.rows),
                ("cdp_read_repair_skipped", "Fallback misses not repaired (scans, wide partitions, counters, "
                 "failures)", repair.stats.skipped),
            ):
                f = CounterMetricFamily(name, doc)
                f.add_metric([], value)
                yield f
        c = CounterMetricFamily("cdp_authoritative_writes", "Writes DynamoDB decided (dynamo_fallback, dynamo)")
        c.add_metric([], st.authoritative)
        yield c
        c = CounterMetricFamily("cdp_shadow_write_failures",
                                "Writes DynamoDB took that Cassandra then refused as their shadow")
        c.add_metric([], st.shadow_failed)
        yield c
        if self.large is not None:
            yield from large_item_metrics(self.large)
        if queue is not None:
            depth = GaugeMetricFamily("cdp_queue_depth", "Queued DynamoDB writes, by table", labels=["table"])
            lag = GaugeMetricFamily("cdp_queue_lag_seconds", "Age of the oldest queued write, by table",
                                    labels=["table"])
            retries = CounterMetricFamily("cdp_queue_retries", "Queued writes retried, by table", labels=["table"])
            dead = CounterMetricFamily("cdp_queue_dead_letters", "Queued writes dead-lettered, by table",
                                       labels=["table"])
            backlog = GaugeMetricFamily("cdp_journal_backlog",
                                        "Journaled writes DynamoDB has not confirmed yet, by table", labels=["table"])
            # every queued table of the mapping from the start; a table's queue is made on its first write
            queued = {t.cql_name for t in dual.mapping.tables.values() if t.write_mode == "queued"}
            for name in sorted(queued | queue.tables.keys()):
                tq = queue.tables.get(name)
                depth.add_metric([name], tq.depth if tq else 0)
                lag.add_metric([name], tq.lag_seconds if tq else 0.0)
                retries.add_metric([name], tq.stats.retries if tq else 0)
                dead.add_metric([name], tq.stats.dead_letters if tq else 0)
                backlog.add_metric([name], len(tq.stats.oldest_enqueued) if tq else 0)
            yield from (depth, lag, retries, dead, backlog)
        yield from self._phase_metrics()

    def _phase_metrics(self) -> Iterable[Family]:
        """Every mapped table's phase as a state set (1 for the phase it runs, 0 for the others),
        so a dashboard or an alert sees every table from the start."""
        state = GaugeMetricFamily("cdp_table_phase", "Phase this sidecar runs for a table (1), by table and phase",
                                  labels=["table", "phase"])
        share = GaugeMetricFamily("cdp_table_phase_share_percent",
                                  "Share of the table's partitions in its phase (the rest are one phase back)",
                                  labels=["table"])
        for name, tp in sorted(self.phases.current.tables.items()):
            for phase in PHASES:
                state.add_metric([name, phase], 1 if tp.phase == phase else 0)
            share.add_metric([name], tp.share)
        yield from (state, share)

    def _info_metrics(self) -> Iterable[Family]:
        # what identifies the sidecar and its fleet (the sidecars sharing one control store):
        # alerts aggregate per fleet by joining on this series
        control = self.control
        info = GaugeMetricFamily("cdp_sidecar_info", "Always 1: the sidecar's version, id and control store "
                                 "(its fleet; empty without a mapping)", labels=["version", "sidecar_id", "control"])
        info.add_metric([__version__, control.watcher.sidecar_id if control else "",
                         control.store.fleet_key if control else ""], 1)
        yield info

    def verify_samples(self) -> list[dict[str, object]]:
        return list(self.reads.stats.samples) if self.reads is not None else []

    def status(self) -> dict[str, object]:
        return {
            "listen": f"{self.cfg.listen_addr[0]}:{self.listen_port}",
            "cassandra": [f"{h}:{p}" for h, p in self.cfg.cassandra_endpoints],
            "peers": [f"{n.address}:{n.port}" for n in self.peers],
            "connections": len(self.sessions),
            "in_flight": STATS.in_flight,
            "draining": self.draining,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "cassandra_last_connect_ok": self.pool.last_success or None,
            "cassandra_last_connect_failure": self.pool.last_failure or None,
            "phase_version": self.phases.version,
        }


def dynamodb_metrics(stats: ClientStats) -> Iterable[Family]:
    """The data path's DynamoDB calls, every operation it uses from the start."""
    ops = stats.by_operation
    yield labelled_counter("cdp_dynamodb_requests", "DynamoDB requests, by operation", "operation", ops("calls"))
    yield labelled_counter("cdp_dynamodb_retries", "DynamoDB requests retried, by operation", "operation",
                           ops("retries"))
    yield labelled_counter("cdp_dynamodb_throttles", "DynamoDB throttling answers, by operation", "operation",
                           ops("throttles"))
    yield labelled_counter("cdp_dynamodb_unavailable", "DynamoDB requests that got no answer after every retry "
                           "(refused, reset, timed out), by operation", "operation", ops("unavailable"))
    yield labelled_counter("cdp_dynamodb_timeouts", "DynamoDB requests cut short by the client request's "
                           "deadline, by operation", "operation", ops("timeouts"))
    yield labelled_counter("cdp_dynamodb_errors", "DynamoDB error answers after retries, by code", "code",
                           stats.errors)
    yield histogram_family("cdp_dynamodb_request_duration_seconds", "DynamoDB request latency, by operation",
                           "operation", stats.latency)
    yield counter_family("cdp_dynamodb_consumed_capacity_units",
                         "Capacity units DynamoDB reported consumed (ReturnConsumedCapacity), by table, operation "
                         "and kind (read, write)", ["table", "operation", "kind"], stats.capacity)


def _read_metrics(reads: ReadPath) -> Iterable[Family]:
    fams = {
        "verified": CounterMetricFamily("cdp_verify_reads", "Reads compared between the stores (verify), by table",
                                        labels=["table"]),
        "mismatches": CounterMetricFamily("cdp_verify_mismatches",
                                          "Reads whose results differed between the stores (verify), by table",
                                          labels=["table"]),
        "verify_skipped": CounterMetricFamily("cdp_verify_skipped",
                                              "Reads not compared (later pages, scans, overload), by table",
                                              labels=["table"]),
        "verify_settled": CounterMetricFamily("cdp_verify_settled",
                                              "Reads that differed, then agreed when read again (a write in "
                                              "between), by table", labels=["table"]),
        "dynamo_reads": CounterMetricFamily("cdp_dynamo_reads", "Reads answered from DynamoDB, by table",
                                            labels=["table"]),
        "fallback_misses": CounterMetricFamily("cdp_fallback_misses",
                                               "DynamoDB misses answered from Cassandra (dynamo_fallback), by table",
                                               labels=["table"]),
        "dynamo_errors": CounterMetricFamily("cdp_dynamo_read_errors", "DynamoDB reads that failed, by table",
                                             labels=["table"]),
        "fallback_timeouts": CounterMetricFamily(
            "cdp_fallback_timeouts", "dynamo_fallback reads answered from Cassandra because DynamoDB missed its "
            "share of the deadline, by table", labels=["table"]),
        "read_timeouts": CounterMetricFamily("cdp_dynamo_read_timeouts",
                                             "dynamo reads answered READ_TIMEOUT (deadline missed), by table",
                                             labels=["table"]),
    }
    for table, st in sorted(reads.stats.tables.items()):
        for attr, fam in fams.items():
            fam.add_metric([table], getattr(st, attr))
    yield from fams.values()
    items = CounterMetricFamily("cdp_dynamodb_items_read", "Items DynamoDB read for CQL reads (ScannedCount), by "
                                "DynamoDB table and index ('' for the table itself)", labels=["dynamodb_table", "index"])
    for (table, index), n in sorted(reads.reader.items_read.items()):
        items.add_metric([table, index], n)
    yield items
def large_item_metrics(large: LargeItems) -> Iterable[Family]:
    s3, st = large.s3.stats, large.stats
    for name, doc, value in (
        ("cdp_s3_objects_written", "Large-item payloads uploaded to S3", s3.written),
        ("cdp_s3_objects_read", "Large-item payloads read from S3 (pointers resolved)", s3.read),
        ("cdp_s3_objects_deleted", "S3 objects deleted: replaced versions, shrunk or deleted rows, lost races",
         s3.deleted),
        ("cdp_s3_bytes_written", "Bytes uploaded to S3 (compressed payloads)", s3.bytes_written),
        ("cdp_s3_bytes_read", "Bytes read from S3", s3.bytes_read),
        ("cdp_s3_retries", "S3 requests retried", s3.retries),
        ("cdp_s3_cleanup_failures", "S3 objects that could not be deleted (left as orphans)", st.cleanup_failures),
    ):
        f = CounterMetricFamily(name, doc)
        f.add_metric([], value)
        yield f
    fails = CounterMetricFamily("cdp_s3_failures", "S3 requests that failed after retries, by operation",
                                labels=["operation"])
    for op, n in sorted(s3.failures.items()):
        fails.add_metric([op], n)
    yield fails
    yield histogram_family("cdp_s3_request_duration_seconds", "S3 request latency, by operation", "operation",
                           s3.latency)
