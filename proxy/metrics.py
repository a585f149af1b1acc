"""Prometheus metrics of the sidecar.

Per-request figures (latency, in-flight, bytes) are plain integers and lists updated without locks
(the event loop is single-threaded) and turned into Prometheus families only at scrape time:
prometheus_client's locked metric objects cost several microseconds per request. Rare events use
ordinary prometheus_client counters.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from cql_protocol.errors import ErrorCode
from cql_protocol.opcodes import REQUEST_OPCODES, Opcode

REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


class LatencyHistogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last slot is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds


class HotStats:
    """Counters the request path updates directly."""

    __slots__ = ("bytes_cassandra_in", "bytes_cassandra_out", "bytes_client_in", "bytes_client_out",
                 "in_flight", "latency")

    def __init__(self) -> None:
        self.in_flight = 0
        self.bytes_client_in = 0
        self.bytes_client_out = 0
        self.bytes_cassandra_in = 0
        self.bytes_cassandra_out = 0
        self.latency: dict[int, LatencyHistogram] = {op: LatencyHistogram() for op in REQUEST_OPCODES}


STATS = HotStats()


Family = CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
# Components with their own plain counters (dual writes, the write queue, the DynamoDB client)
# register a function here that turns them into families at scrape time.
SOURCES: list[Callable[[], Iterable[Family]]] = []


def labelled_counter(name: str, doc: str, label: str, values: dict[str, int]) -> CounterMetricFamily:
    c = CounterMetricFamily(name, doc, labels=[label])
    for key, n in sorted(values.items()):
        c.add_metric([key], n)
    return c


LabelValues = TypeVar("LabelValues", bound=tuple[str, ...])


def counter_family(name: str, doc: str, labels: list[str],
                   values: dict[LabelValues, float]) -> CounterMetricFamily:
    """A counter with several labels; `values` is keyed by the label values in `labels`' order."""
    c = CounterMetricFamily(name, doc, labels=labels)
    for key, n in sorted(values.items()):
        c.add_metric(list(key), n)
    return c


def histogram_family(name: str, doc: str, label: str, hists: dict[str, LatencyHistogram]) -> HistogramMetricFamily:
    h = HistogramMetricFamily(name, doc, labels=[label])
    for key, hist in sorted(hists.items()):
        cumulative = 0
        buckets = []
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), hist.counts, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        h.add_metric([key], buckets, hist.sum)
    return h


class _HotCollector(Collector):
    def collect(self) -> Iterator[Family]:
        yield histogram_family(
            "cdp_request_duration_seconds", "Time from a client request to its response, by request opcode",
            "opcode", {Opcode(op).name: hist for op, hist in STATS.latency.items()},
        )
        yield GaugeMetricFamily("cdp_in_flight_requests", "Client requests awaiting a response",
                                value=STATS.in_flight)
        b = CounterMetricFamily("cdp_bytes", "Bytes moved, by direction", labels=["direction"])
        b.add_metric(["client_in"], STATS.bytes_client_in)
        b.add_metric(["client_out"], STATS.bytes_client_out)
        b.add_metric(["cassandra_in"], STATS.bytes_cassandra_in)
        b.add_metric(["cassandra_out"], STATS.bytes_cassandra_out)
        yield b
        for source in SOURCES:
            yield from source()

    def describe(self) -> Iterator[Family]:
        return iter(())  # families depend on what is running; nothing to pre-declare


REGISTRY.register(_HotCollector())

CONNECTIONS = Gauge("cdp_client_connections_open", "Open client connections", registry=REGISTRY)
CONNECTIONS_TOTAL = Counter("cdp_client_connections_accepted", "Client connections accepted", registry=REGISTRY)
CONNECTIONS_REJECTED = Counter(
    "cdp_client_connections_rejected", "Client connections refused by the connection limit", registry=REGISTRY
)
ERRORS = Counter("cdp_errors", "ERROR responses sent to clients, by error code", ["code"], registry=REGISTRY)
UPSTREAM_CONNECT_FAILURES = Counter(
    "cdp_upstream_connect_failures", "Failed connection attempts to Cassandra", ["endpoint"], registry=REGISTRY
)
PROTOCOL_ERRORS = Counter(
    "cdp_protocol_errors",
    "Protocol violations by side (client, cassandra) and kind, each counted even when its log line is left out",
    ["side", "kind"], registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "cdp_client_auth_failures", "Client logins refused, by who checked them (sidecar, cassandra)", ["checked_by"],
    registry=REGISTRY,
)
FRAMES_REFUSED = Counter(
    "cdp_frames_refused",
    "Client frames refused unread for their size (over max_frame_bytes, compressed or announced)",
    registry=REGISTRY,
)
EVENTS_DROPPED = Counter(
    "cdp_events_dropped",
    "Cassandra topology/status events not forwarded (clients see sidecars, not Cassandra nodes)",
    registry=REGISTRY,
)

ERRORS_BY_CODE = {c: ERRORS.labels(c.name) for c in ErrorCode}
for _who in ("sidecar", "cassandra"):
    AUTH_FAILURES.labels(_who)

READY = Gauge("cdp_ready", "1 while /health/ready answers 200 (Cassandra reachable, not draining), else 0",
              registry=REGISTRY)

CONNECTIONS_CLOSED = Counter(
    "cdp_connections_closed", "Client connections closed, by reason (client: the client closed it)", ["reason"],
    registry=REGISTRY,
)
CLOSE_REASONS = (
    "client",  # the client closed or reset the connection
    "handshake_timeout",  # no READY / AUTH_SUCCESS in time after accept
    "partial_frame_timeout",  # a frame started and not finished in time
    "idle_timeout",  # no frame and nothing in flight for too long
    "protocol_error",  # the client broke the protocol
    "cassandra_unavailable",  # no Cassandra node could be reached for it
    "cassandra_lost",  # its Cassandra connection went away or misbehaved
    "shutdown",  # the sidecar stopped
    "error",  # anything else the sidecar closed it for
)
# every label exported (at 0) from the start, so rates and alerts need no special case
CLOSED_BY_REASON = {r: CONNECTIONS_CLOSED.labels(r) for r in CLOSE_REASONS}


def count_error(code: int) -> None:
    try:
        ERRORS_BY_CODE[ErrorCode(code)].inc()
    except ValueError:
        ERRORS.labels(f"0x{code:04x}").inc()


def render() -> bytes:
    return generate_latest(REGISTRY)
