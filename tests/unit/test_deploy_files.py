"""The deployment files refer only to metrics the sidecar really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from proxy import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


_FAMILY = re.compile(
    r'(CounterMetricFamily|GaugeMetricFamily|histogram_family|labelled_counter|counter_family)\(\s*"(cdp_[a-z_]+)"')


def _migration_series() -> set[str]:
    """Series made at scrape time by a sidecar with a mapping (dual writes, reads, phase control,
    queue): declared in the source where they are built."""
    names = set()
    for path in (DEPLOY.parent / "proxy").rglob("*.py"):
        for kind, name in _FAMILY.findall(path.read_text()):
            if kind in ("CounterMetricFamily", "labelled_counter", "counter_family"):
                names.add(name + "_total")
            elif kind == "histogram_family":
                names.update(name + suffix for suffix in ("_bucket", "_count", "_sum"))
            else:
                names.add(name)
    return names


def _exported_series() -> set[str]:
    names = _migration_series()
    for m in metrics.REGISTRY.collect():
        if m.type == "counter":
            names.add(m.name + "_total")
        elif m.type == "histogram":
            names.update(m.name + suffix for suffix in ("_bucket", "_count", "_sum"))
        else:
            names.add(m.name)
    return names


def _referenced(text: str) -> set[str]:
    return set(re.findall(r"\bcdp_[a-z_]+", text))


def test_alerts_use_exported_metrics() -> None:
    text = (DEPLOY / "prometheus" / "alerts.yaml").read_text()
    rules = [r for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    assert rules and all("expr" in r and "alert" in r for r in rules)
    assert _referenced(text) <= _exported_series()


def test_dashboard_uses_exported_metrics() -> None:
    text = (DEPLOY / "grafana" / "cql-dynamo-proxy.json").read_text()
    dash = json.loads(text)
    assert len(dash["panels"]) >= 12
    assert _referenced(text) <= _exported_series()


def test_migration_metrics_are_watched() -> None:
    """The series an operator needs during a cutover have a panel and an alert."""
    dash = (DEPLOY / "grafana" / "cql-dynamo-proxy.json").read_text()
    alerts = (DEPLOY / "prometheus" / "alerts.yaml").read_text()
    for name in ("cdp_verify_mismatches_total", "cdp_shadow_write_failures_total", "cdp_control_version",
                 "cdp_control_last_poll_age_seconds", "cdp_dual_write_failures_total"):
        assert name in dash and name in alerts, name
    assert "cdp_verify_mismatches_total" in _migration_series()


def test_operator_views_are_watched() -> None:
    """A platform team's questions have a panel: DynamoDB health, dead letters, backlog, phases, fleets."""
    dash = json.loads((DEPLOY / "grafana" / "cql-dynamo-proxy.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))
    for name in ("cdp_dynamodb_request_duration_seconds_bucket", "cdp_dynamodb_throttles_total",
                 "cdp_dynamodb_retries_total", "cdp_dynamodb_unavailable_total", "cdp_dynamodb_timeouts_total",
                 "cdp_dead_letters_total", "cdp_journal_backlog", "cdp_table_phase", "cdp_sidecar_info"):
        assert name in exprs, name
    assert any(p["type"] == "table" and "cdp_table_phase" in json.dumps(p) for p in dash["panels"])
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert {"namespace", "fleet", "instance"} <= variables.keys()
    # the instance list follows the namespace and fleet chosen
    assert "$namespace" in variables["instance"]["query"] and "$fleet" in variables["instance"]["query"]


def _scrape_targets() -> tuple[dict[str, Any], dict[str, Any]]:
    podmonitor = yaml.safe_load((DEPLOY / "prometheus" / "podmonitor.yaml").read_text())
    job = yaml.safe_load((DEPLOY / "prometheus" / "scrape-config.yaml").read_text())["scrape_configs"][0]
    return podmonitor, job


def test_scrape_configs_give_the_labels_the_alerts_use() -> None:
    podmonitor, job = _scrape_targets()
    alerts = (DEPLOY / "prometheus" / "alerts.yaml").read_text()
    # the job the alerts select on is the one both scrape configs produce
    (alert_job,) = set(re.findall(r'up\{job="([^"]+)"\}', alerts))
    endpoint = podmonitor["spec"]["podMetricsEndpoints"][0]
    assert podmonitor["kind"] == "PodMonitor" and endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    assert {"targetLabel": "job", "replacement": alert_job} in endpoint["relabelings"]
    assert job["job_name"] == alert_job and job["metrics_path"] == "/metrics"
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    relabel = job["relabel_configs"]
    keep = {r["source_labels"][0]: r["regex"] for r in relabel if r.get("action") == "keep"}
    assert keep["__meta_kubernetes_pod_container_port_name"] == "metrics"
    # the same pods: the PodMonitor's selector label, as Kubernetes service discovery spells it
    ((key, value),) = podmonitor["spec"]["selector"]["matchLabels"].items()
    assert keep["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] == value
    produced = {r["target_label"] for r in relabel if "target_label" in r} | {"job", "instance"}
    # every label an alert groups by comes from the scrape or from the sidecar's own series
    grouped = {label.strip() for by in re.findall(r"by \(([^)]*)\)", alerts) for label in by.split(",")}
    from_sidecar = {"table", "origin", "operation", "control", "le", "endpoint", "code"}
    assert grouped <= produced | from_sidecar, grouped - produced - from_sidecar
    assert {"namespace", "pod"} <= produced
