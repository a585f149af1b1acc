"""The deployment files refer only to metrics the sidecar really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from proxy import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _exported_series() -> set[str]:
    names = set()
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
    assert len(dash["panels"]) >= 6
    assert _referenced(text) <= _exported_series()


def test_kubernetes_manifest_probes_the_admin_port() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "sidecar-deployment.yaml").read_text()))
    dep = next(d for d in docs if d["kind"] == "Deployment")
    sidecar = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "cql-dynamo-proxy")
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    env = {e["name"] for e in sidecar["env"]}
    assert {"CDP_LISTEN", "CDP_CASSANDRA", "CDP_ADMIN_TOKEN"} <= env
