"""A sidecar with a mapping exports every series it knows a label set for from its first scrape, at 0,
so rates, panels and alerts work before anything has happened; and the alerts and the dashboard
refer only to series a real scrape carries."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cql_protocol.errors import ErrorCode
from proxy import __version__
from proxy.aws.dynamodb_client import CAPACITY_KIND, OPERATIONS
from proxy.metrics import CLOSE_REASONS
from proxy.phases.model import PHASES
from proxy.writes.lww import SINGLE_CALL_OUTCOMES
from proxy.writes.outcomes import DEAD_LETTER_ORIGINS

from .stores import AWS_ENV, cli, ddb, recreate_keyspace

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
QUEUED, SYNC = "mx_obs.kv", "mx_obs.log"
# written by hand; its tables are created in both stores, since serve checks them at start
MAPPING = """\
version: 1
dynamodb: {region: us-east-1}
defaults: {phase: cassandra, write_mode: sync}
tables:
  - cql: mx_obs.kv
    dynamodb_table: mx_obs_kv
    phase: dual_write
    write_mode: queued
    schema:
      columns: {id: int, v: text}
      partition_key: [id]
  - cql: mx_obs.log
    dynamodb_table: mx_obs_log
    schema:
      columns: {src: text, seq: int, msg: text}
      partition_key: [src]
      clustering: [{seq: asc}]
"""

Labels = frozenset[tuple[str, str]]


class Scrape(dict[tuple[str, Labels], float]):
    """Samples by (name, labels), and `names`: every series name, with those of families declared
    without a sample yet (labels from an open set, error codes or protocol-error kinds, appear on
    first use)."""

    names: set[str]


def _scrape(port: int) -> Scrape:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = Scrape()
    out.names = set()
    for fam in text_string_to_metric_families(text):
        out.names.add(fam.name + ("_total" if fam.type == "counter" else ""))
        for sample in fam.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
            out.names.add(sample.name)
    return out


@pytest.fixture(scope="module")
def scraped(cassandra, dynamodb, tmp_path_factory) -> Scrape:
    from tests.conftest import free_port, start_sidecar

    tmp = tmp_path_factory.mktemp("mx_metrics")
    mapping = tmp / "mapping.yaml"
    mapping.write_text(MAPPING)
    recreate_keyspace(cassandra, "mx_obs", ["CREATE TABLE mx_obs.kv (id int PRIMARY KEY, v text)",
                                            "CREATE TABLE mx_obs.log (src text, seq int, msg text, "
                                            "PRIMARY KEY (src, seq))"])
    r = cli("tables", "create", "--mapping", str(mapping), "--endpoint-url", dynamodb, "--region", "us-east-1")
    assert r.returncode == 0, r.stdout + r.stderr
    mport = free_port()
    try:
        sc = start_sidecar(cassandra, tmp, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                           "--metrics", f"127.0.0.1:{mport}", env=AWS_ENV)
        try:
            # the first scrape, before any client request
            return _scrape(mport)
        finally:
            sc.stop()
    finally:
        for table in ("mx_obs_kv", "mx_obs_log"):
            ddb(dynamodb).delete_table(TableName=table)


def _value(scraped: Scrape, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in scraped, f"{name}{labels} is not exported"
    return scraped[key]


def _zero(scraped: Scrape, name: str, **labels: str) -> None:
    assert _value(scraped, name, **labels) == 0, f"{name}{labels} is not 0"


def test_cql_side_series_at_zero(scraped, cassandra) -> None:
    for code in ErrorCode:
        _zero(scraped, "cdp_errors_total", code=code.name)
    for reason in CLOSE_REASONS:
        _zero(scraped, "cdp_connections_closed_total", reason=reason)
    for who in ("sidecar", "cassandra"):
        _zero(scraped, "cdp_client_auth_failures_total", checked_by=who)
    _zero(scraped, "cdp_upstream_connect_failures_total", endpoint=f"{cassandra[0]}:{cassandra[1]}")
    assert _value(scraped, "cdp_ready") == 1


def test_dynamodb_series_at_zero_for_every_operation(scraped) -> None:
    for op in OPERATIONS:
        for name in ("cdp_dynamodb_requests_total", "cdp_dynamodb_retries_total", "cdp_dynamodb_throttles_total",
                     "cdp_dynamodb_unavailable_total", "cdp_dynamodb_timeouts_total",
                     "cdp_dynamodb_request_duration_seconds_count"):
            _zero(scraped, name, operation=op)
        _zero(scraped, "cdp_dynamodb_request_duration_seconds_bucket", operation=op, le="+Inf")
        for table in ("mx_obs_kv", "mx_obs_log"):  # the DynamoDB tables of the mapping
            _zero(scraped, "cdp_dynamodb_consumed_capacity_units_total", table=table, operation=op,
                  kind=CAPACITY_KIND[op])
    for op in ("mirror_write", "authoritative_write", "read", "fallback_read", "verify_read"):
        _zero(scraped, "cdp_deadline_exceeded_total", operation=op)


def test_per_table_series_at_zero(scraped) -> None:
    for table in (QUEUED, SYNC):
        for origin in DEAD_LETTER_ORIGINS:
            _zero(scraped, "cdp_dead_letters_total", table=table, origin=origin)
        for outcome in SINGLE_CALL_OUTCOMES:
            _zero(scraped, "cdp_mirror_single_call_total", table=table, outcome=outcome)
        for name in ("cdp_verify_mismatches_total", "cdp_dynamo_read_errors_total", "cdp_fallback_timeouts_total"):
            _zero(scraped, name, table=table)
    # the queue of a queued table is made on its first write; its series are there before
    for name in ("cdp_queue_depth", "cdp_queue_lag_seconds", "cdp_queue_retries_total",
                 "cdp_queue_dead_letters_total", "cdp_journal_backlog"):
        _zero(scraped, name, table=QUEUED)
        assert (name, frozenset({("table", SYNC)})) not in scraped, f"{name}: {SYNC} is not queued"


def test_phase_per_table_and_fleet_identity(scraped) -> None:
    for table, runs in ((QUEUED, "dual_write"), (SYNC, "cassandra")):
        for phase in PHASES:
            assert _value(scraped, "cdp_table_phase", table=table, phase=phase) == (phase == runs), (table, phase)
        assert _value(scraped, "cdp_table_phase_share_percent", table=table) == 100
    info = [dict(labels) for name, labels in scraped if name == "cdp_sidecar_info"]
    assert len(info) == 1, info
    # the default control store is a directory of this host: the fleet is named by both
    assert info[0]["control"].startswith(f"file:{socket.gethostname()}:") and info[0]["sidecar_id"], info
    for name in ("cdp_control_poll_failures_total", "cdp_control_heartbeat_failures_total", "cdp_control_version"):
        _zero(scraped, name)


def test_alerts_and_dashboard_refer_to_scraped_series(scraped) -> None:
    """Stronger than the source check in tests/unit/test_deploy_files.py: what a real scrape holds.
    Series of features this sidecar does not run (S3 large items, read repair) are left out."""
    names = scraped.names
    optional = re.compile(r"cdp_(s3|read_repair)_")
    alerts = (DEPLOY / "prometheus" / "alerts.yaml").read_text()
    dash = json.dumps(json.loads((DEPLOY / "grafana" / "cql-dynamo-proxy.json").read_text()))
    for where, text in (("alerts.yaml", alerts), ("dashboard", dash)):
        missing = {n for n in re.findall(r"\bcdp_[a-z_]+", text) if n not in names and not optional.match(n)}
        assert not missing, f"{where} refers to series a sidecar does not export: {sorted(missing)}"


def test_a_sidecar_that_cannot_reach_cassandra_scrapes_as_not_ready(sidecar_factory) -> None:
    from tests.conftest import free_port

    mport = free_port()
    sidecar_factory(("127.0.0.1", free_port()), "--metrics", f"127.0.0.1:{mport}")
    scraped = _scrape(mport)
    assert _value(scraped, "cdp_ready") == 0
    # a sidecar without a mapping belongs to no fleet
    assert _value(scraped, "cdp_sidecar_info", version=__version__, sidecar_id="", control="") == 1
