"""The deployment files refer only to metrics the sidecar really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from proxy import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


_FAMILY = re.compile(r'(CounterMetricFamily|GaugeMetricFamily|histogram_family|labelled_counter)\(\s*"(cdp_[a-z_]+)"')


def _migration_series() -> set[str]:
    """Series made at scrape time by a sidecar with a mapping (dual writes, reads, phase control,
    queue): declared in the source where they are built."""
    names = set()
    for path in (DEPLOY.parent / "proxy").rglob("*.py"):
        for kind, name in _FAMILY.findall(path.read_text()):
            if kind in ("CounterMetricFamily", "labelled_counter"):
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
    rules = yaml.safe_load(text)["groups"][0]["rules"]
    assert rules and all("expr" in r and "alert" in r for r in rules)
    assert _referenced(text) <= _exported_series()


def test_dashboard_uses_exported_metrics() -> None:
    text = (DEPLOY / "grafana" / "cql-dynamo-proxy.json").read_text()
    dash = json.loads(text)
    assert len(dash["panels"]) >= 12
    assert _referenced(text) <= _exported_series()


def test_kubernetes_manifest_probes_the_admin_port() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "sidecar-deployment.yaml").read_text()))
    dep = next(d for d in docs if d["kind"] == "Deployment")
    sidecar = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "cql-dynamo-proxy")
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    env = {e["name"] for e in sidecar["env"]}
    assert {"CDP_LISTEN", "CDP_CASSANDRA", "CDP_ADMIN_TOKEN"} <= env


def test_migration_metrics_are_watched() -> None:
    """The series an operator needs during a cutover have a panel and an alert."""
    dash = (DEPLOY / "grafana" / "cql-dynamo-proxy.json").read_text()
    alerts = (DEPLOY / "prometheus" / "alerts.yaml").read_text()
    for name in ("cdp_verify_mismatches_total", "cdp_shadow_write_failures_total", "cdp_control_version",
                 "cdp_control_last_poll_age_seconds", "cdp_dual_write_failures_total"):
        assert name in dash and name in alerts, name
    assert "cdp_verify_mismatches_total" in _migration_series()
