"""Prometheus metrics of the sidecar. Label children are resolved once, off the hot path."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from cql_protocol.errors import ErrorCode
from cql_protocol.opcodes import REQUEST_OPCODES, Opcode

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

REQUEST_LATENCY = Histogram(
    "cdp_request_duration_seconds",
    "Time from a client request to its response, by request opcode",
    ["opcode"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
IN_FLIGHT = Gauge("cdp_in_flight_requests", "Client requests awaiting a response", registry=REGISTRY)
CONNECTIONS = Gauge("cdp_client_connections_open", "Open client connections", registry=REGISTRY)
CONNECTIONS_TOTAL = Counter("cdp_client_connections_accepted", "Client connections accepted", registry=REGISTRY)
CONNECTIONS_REJECTED = Counter(
    "cdp_client_connections_rejected", "Client connections refused by the connection limit", registry=REGISTRY
)
ERRORS = Counter("cdp_errors", "ERROR responses sent to clients, by error code", ["code"], registry=REGISTRY)
BYTES = Counter("cdp_bytes", "Bytes moved, by direction", ["direction"], registry=REGISTRY)
UPSTREAM_CONNECT_FAILURES = Counter(
    "cdp_upstream_connect_failures", "Failed connection attempts to Cassandra", ["endpoint"], registry=REGISTRY
)
PROTOCOL_ERRORS = Counter(
    "cdp_protocol_errors", "Connections closed for a protocol violation, by side", ["side"], registry=REGISTRY
)
EVENTS_DROPPED = Counter(
    "cdp_events_dropped",
    "Cassandra topology/status events not forwarded (clients see sidecars, not Cassandra nodes)",
    registry=REGISTRY,
)

LATENCY_BY_OPCODE: dict[int, Histogram] = {op: REQUEST_LATENCY.labels(Opcode(op).name) for op in REQUEST_OPCODES}
ERRORS_BY_CODE = {c: ERRORS.labels(c.name) for c in ErrorCode}
BYTES_CLIENT_IN = BYTES.labels("client_in")
BYTES_CLIENT_OUT = BYTES.labels("client_out")
BYTES_UPSTREAM_IN = BYTES.labels("cassandra_in")
BYTES_UPSTREAM_OUT = BYTES.labels("cassandra_out")


def count_error(code: int) -> None:
    try:
        ERRORS_BY_CODE[ErrorCode(code)].inc()
    except ValueError:
        ERRORS.labels(f"0x{code:04x}").inc()


def render() -> bytes:
    return generate_latest(REGISTRY)
