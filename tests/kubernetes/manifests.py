"""The deployment files as a user gets them: the chart rendered by the project's pinned Helm, the
plain manifest read as is, and both checked against Kubernetes' own JSON schemas (offline, from the
`kubernetes-validate` package, for pinned Kubernetes versions)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tests.conftest import ROOT
from tests.pinned_tools import pinned_tool

CHART = ROOT / "deploy" / "helm" / "cql-dynamo-proxy"
PLAIN_MANIFEST = ROOT / "deploy" / "kubernetes" / "sidecar-deployment.yaml"
PHASE_JOB = ROOT / "deploy" / "kubernetes" / "phase-set-job.yaml"
SIDECAR = "cql-dynamo-proxy"
# Native sidecars are on by default from 1.29; 1.25 is the oldest schema set bundled, for the
# classic mode. A newer version checks nothing was removed since.
NATIVE_VERSIONS = ("1.29.0", "1.34.0")
CLASSIC_VERSIONS = ("1.25.0", "1.34.0")
# kinds no Kubernetes schema covers (custom resources), checked by the tests themselves
CUSTOM_KINDS = {"PodMonitor"}


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    """The project's pinned Helm (deploy/local/tools builds it once into the project cache)."""
    return subprocess.run([str(pinned_tool("helm")), *args], capture_output=True, text=True, timeout=120)


def render(*args: str, kube_version: str = NATIVE_VERSIONS[0]) -> list[dict[str, Any]]:
    """`helm template` of the chart; the documents it renders."""
    r = run_helm("template", "shop-cart", str(CHART), "--kube-version", kube_version, *args)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def render_example_app(tmp: Path, *args: str) -> list[dict[str, Any]]:
    """`helm template` of deploy/helm/example-app, an application's own chart that has this chart
    as a dependency (built as a user would: helm dependency build)."""
    charts = tmp / "helm"
    shutil.copytree(CHART.parent, charts, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    r = run_helm("dependency", "build", str(charts / "example-app"))
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_helm("lint", "--strict", "--kube-version", NATIVE_VERSIONS[0], str(charts / "example-app"), *args)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_helm("template", "shop-cart", str(charts / "example-app"), "--kube-version", NATIVE_VERSIONS[0], *args)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def readme_values(tmp: Path) -> Path:
    """The short values file of the chart's README, as a user would copy it."""
    text = (CHART / "README.md").read_text()
    block = re.search(r"`values.yaml` of a few lines:\n\n```yaml\n(.*?)```", text, re.S)
    assert block, "the chart README lost its short values example"
    path = tmp / "values.yaml"
    path.write_text(block.group(1))
    return path


def validate(docs: list[dict[str, Any]], versions: tuple[str, ...]) -> None:
    """Every document against the strict schemas (unknown fields are errors) of each version."""
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = "/".join(str(p) for p in e.path)
                raise AssertionError(f"{doc['kind']} {doc['metadata']['name']} on Kubernetes {version}: "
                                     f"{e.message} at {where}") from None


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} documents"
    return found[0]


def sidecar_of(pod: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The sidecar container of a pod spec and whether it is a native sidecar."""
    for c in pod.get("initContainers", []):
        if c["name"] == SIDECAR:
            return c, True
    return next(c for c in pod["containers"] if c["name"] == SIDECAR), False


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """The container's literal env values."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The container's env values taken from Secrets: name -> (Secret, key). Nothing else may
    come from elsewhere."""
    refs = {}
    for e in container.get("env", []):
        if "value" not in e:
            ref = e["valueFrom"]["secretKeyRef"]
            refs[e["name"]] = (ref["name"], ref["key"])
    return refs


def port_of(hostport: str) -> int:
    return int(hostport.rsplit(":", 1)[1])


def named_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container.get("ports", []) if p.get("name") == port)
