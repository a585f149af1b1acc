"""The Helm chart and the plain manifest, checked as a user would: `helm lint --strict`, `helm
template` with the chart README's short values, the full values and a bad values file the schema
must refuse, every rendered document validated against Kubernetes' schemas, and the pod spec
holding what the sidecar needs (native sidecar, probes on the metrics port, a writable state volume
where CDP_STATE_DIR points, no secret in the manifests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from translators.mapping import load_mapping

from .manifests import (
    CHART,
    CLASSIC_VERSIONS,
    NATIVE_VERSIONS,
    PHASE_JOB,
    PLAIN_MANIFEST,
    env_of,
    named_port,
    only,
    port_of,
    readme_values,
    render,
    render_example_app,
    run_helm,
    secret_refs,
    sidecar_of,
    validate,
)

FULL_VALUES = CHART / "ci" / "full-values.yaml"
BAD_VALUES = Path(__file__).with_name("bad-values.yaml")
EXAMPLE_MAPPING = CHART.parents[2] / "examples" / "shop.yaml"


SHIPPED_PODMONITOR = yaml.safe_load((CHART.parents[1] / "prometheus" / "podmonitor.yaml").read_text())


def check_scraped(template: dict[str, Any]) -> None:
    """deploy/prometheus/podmonitor.yaml (and the scrape config doing the same) selects the pod."""
    wanted = SHIPPED_PODMONITOR["spec"]["selector"]["matchLabels"]
    assert wanted.items() <= template["metadata"]["labels"].items()


def check_pod(pod: dict[str, Any], native: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """What every shipped pod spec must give the sidecar; returns the sidecar and its env."""
    sidecar, is_native = sidecar_of(pod)
    assert is_native == native
    if native:
        # started before the application (which waits for the startup probe), stopped after it
        assert sidecar["restartPolicy"] == "Always"
        assert sidecar["startupProbe"]["httpGet"]["path"] == "/health/ready"
    else:
        assert pod["containers"][0] is sidecar and "restartPolicy" not in sidecar
        assert {"postStart", "preStop"} <= set(sidecar["lifecycle"])
    env = env_of(sidecar)
    # probes and scrapes use the token-free metrics listener on the pod address; admin stays on loopback
    assert env["CDP_METRICS"].startswith("0.0.0.0:")
    metrics = port_of(env["CDP_METRICS"])
    for kind, path in (("startupProbe", "/health/ready"), ("readinessProbe", "/health/ready"),
                       ("livenessProbe", "/health/live")):
        if kind in sidecar:
            probe = sidecar[kind]["httpGet"]
            assert probe["path"] == path and named_port(sidecar, probe["port"]) == metrics, kind
    assert {p["name"]: p["containerPort"] for p in sidecar["ports"]} == {"metrics": metrics}
    assert env["CDP_ADMIN"].startswith("127.0.0.1:") and port_of(env["CDP_ADMIN"]) != metrics
    assert env["CDP_ADMIN_URL"] == f"http://{env['CDP_ADMIN']}"
    # the state (journal, dead letters, file control store) on a writable volume
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    state = mounts[env["CDP_STATE_DIR"]]
    assert not state.get("readOnly")
    assert {"emptyDir", "persistentVolumeClaim"} & set(volumes[state["name"]])
    if "CDP_MAPPING" in env:
        folder, _, name = env["CDP_MAPPING"].rpartition("/")
        source = volumes[mounts[folder]["name"]]["configMap"]
        assert mounts[folder]["readOnly"] and name in [i["path"] for i in source.get("items", [{"path": name}])]
    # secrets only from Secrets, never a value in the manifest
    assert not {"CDP_ADMIN_TOKEN", "CDP_CASSANDRA_PASSWORD", "CDP_CLIENT_USERS"} & set(env)
    assert set(secret_refs(sidecar)) <= {"CDP_ADMIN_TOKEN", "CDP_CASSANDRA_PASSWORD", "CDP_CLIENT_USERS"}
    sc = sidecar["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True and sc["runAsUser"] != 0
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    # the pod's grace period covers the sidecar's drain after the application has stopped
    assert pod["terminationGracePeriodSeconds"] > float(env["CDP_SHUTDOWN_GRACE"])
    return sidecar, env


def test_the_chart_lints_strictly(tmp_path: Path) -> None:
    for values in (readme_values(tmp_path), FULL_VALUES):
        r = run_helm("lint", "--strict", "--kube-version", NATIVE_VERSIONS[0], str(CHART), "-f", str(values))
        assert r.returncode == 0, r.stdout + r.stderr


def test_the_readme_values_render_one_pod_with_a_native_sidecar(tmp_path: Path) -> None:
    values = readme_values(tmp_path)
    guide = (CHART.parents[2] / "docs" / "kubernetes.md").read_text()
    assert f"```yaml\n# values.yaml\n{values.read_text()}```" in guide, "docs/kubernetes.md shows other values"
    docs = render("-f", str(values))
    validate(docs, NATIVE_VERSIONS)
    assert sorted(d["kind"] for d in docs) == ["Deployment", "ServiceAccount"]  # no Secret, ever
    dep = only(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    _, env = check_pod(pod, native=True)
    check_scraped(dep["spec"]["template"])
    assert [c["name"] for c in pod["containers"]] == ["shop-cart"]
    assert env["CDP_LISTEN"] == "127.0.0.1:9042" and env["CDP_CASSANDRA"] == "cassandra.db.svc.cluster.local:9042"
    # one pod: its phases in its own state volume (the default file control store)
    assert dep["spec"]["replicas"] == 1 and "CDP_CONTROL" not in env
    assert pod["serviceAccountName"] == only(docs, "ServiceAccount")["metadata"]["name"]
    assert "annotations" not in only(docs, "ServiceAccount")["metadata"]
    assert secret_refs(sidecar_of(pod)[0]) == {"CDP_ADMIN_TOKEN": ("shop-cart-cdp-admin", "admin-token")}


def test_an_inline_mapping_becomes_a_configmap_mounted_for_the_sidecar(tmp_path: Path) -> None:
    docs = render("-f", str(readme_values(tmp_path)), "--set-file", f"mapping.inline={EXAMPLE_MAPPING}")
    validate(docs, NATIVE_VERSIONS)
    cm = only(docs, "ConfigMap")
    pod = only(docs, "Deployment")["spec"]["template"]
    _, env = check_pod(pod["spec"], native=True)
    volume = next(v for v in pod["spec"]["volumes"] if v.get("configMap", {}).get("name") == cm["metadata"]["name"])
    (tmp_path / "mapping.yaml").write_text(cm["data"][volume["configMap"]["items"][0]["key"]])
    assert load_mapping(tmp_path / "mapping.yaml").tables == load_mapping(EXAMPLE_MAPPING).tables
    assert env["CDP_MAPPING"].endswith("/mapping.yaml")
    # a changed mapping rolls the pods
    changed = render("-f", str(readme_values(tmp_path)), "--set", "mapping.inline=version: 1")
    assert (only(changed, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/mapping"]
            != pod["metadata"]["annotations"]["checksum/mapping"])


def test_the_full_values_render_a_fleet_with_irsa_and_a_podmonitor() -> None:
    docs = render("-f", str(FULL_VALUES))
    validate(docs, NATIVE_VERSIONS)
    values = yaml.safe_load(FULL_VALUES.read_text())
    dep = only(docs, "Deployment")
    pod = dep["spec"]["template"]
    sidecar, env = check_pod(pod["spec"], native=True)
    assert dep["spec"]["replicas"] == 3 and env["CDP_CONTROL"] == "dynamodb:shop_cdp_control"
    # ports follow the values, and so do the probes (checked by check_pod)
    assert env["CDP_METRICS"] == "0.0.0.0:9292" and env["CDP_ADMIN"] == "127.0.0.1:9291"
    assert env["CDP_LISTEN"] == "127.0.0.1:9043" and env["CDP_DYNAMODB_REGION"] == "eu-west-1"
    assert env["CDP_DYNAMODB_DEADLINE"] == "1.5" and env["CDP_LOG_LEVEL"] == "WARNING"
    assert sidecar["image"] == "registry.example.com/cql-dynamo-proxy:0.1.0"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 45 + 25 + 10
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["cdp-mapping"]["configMap"] == {"name": "shop-cart-mapping",
                                                   "items": [{"key": "shop.yaml", "path": "mapping.yaml"}]}
    assert secret_refs(sidecar) == {"CDP_ADMIN_TOKEN": ("shop-cart-cdp-admin", "token")}
    assert volumes["cdp-state"]["emptyDir"]["sizeLimit"] == "2Gi"
    sa = only(docs, "ServiceAccount")
    assert sa["metadata"]["name"] == pod["spec"]["serviceAccountName"] == "shop-cart"
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == values["serviceAccount"]["roleArn"]
    assert pod["metadata"]["labels"]["team"] == "shop"
    # the PodMonitor (a custom resource: no Kubernetes schema) scrapes these pods' metrics port
    pm = only(docs, "PodMonitor")
    assert pm["apiVersion"] == "monitoring.coreos.com/v1" and pm["metadata"]["labels"]["release"] == "prometheus"
    assert pm["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    # the labels the shipped alerts group by, as deploy/prometheus/podmonitor.yaml sets them
    (endpoint,) = pm["spec"]["podMetricsEndpoints"]
    (shipped,) = SHIPPED_PODMONITOR["spec"]["podMetricsEndpoints"]
    assert endpoint == {**shipped, "interval": "15s"}
    check_scraped(pod)


def test_a_claim_replaces_the_emptydir_and_the_rollout_recreates(tmp_path: Path) -> None:
    docs = render("-f", str(readme_values(tmp_path)), "--set", "state.existingClaim=shop-cart-state")
    validate(docs, NATIVE_VERSIONS)
    dep = only(docs, "Deployment")
    state = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "cdp-state")
    assert state == {"name": "cdp-state", "persistentVolumeClaim": {"claimName": "shop-cart-state"}}
    assert dep["spec"]["strategy"] == {"type": "Recreate"}


def test_classic_mode_for_clusters_before_1_29(tmp_path: Path) -> None:
    docs = render("-f", str(readme_values(tmp_path)), "--set", "sidecar.native=false",
                  kube_version=CLASSIC_VERSIONS[0])
    validate(docs, CLASSIC_VERSIONS)
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    sidecar, env = check_pod(pod, native=False)
    assert "initContainers" not in pod and [c["name"] for c in pod["containers"]][1:] == ["shop-cart"]
    # postStart waits on the readiness path of the metrics port; preStop outlasts the application's stop
    assert f"http://127.0.0.1:{port_of(env['CDP_METRICS'])}/health/ready" in sidecar["lifecycle"]["postStart"]["exec"]["command"][2]
    assert "time.sleep(30)" in sidecar["lifecycle"]["preStop"]["exec"]["command"][2]
    assert pod["terminationGracePeriodSeconds"] >= 30 + float(env["CDP_SHUTDOWN_GRACE"])


def test_the_guide_shows_the_classic_hooks_the_chart_renders(tmp_path: Path) -> None:
    guide = (CHART.parents[2] / "docs" / "kubernetes.md").read_text()
    shown = re.search(r"add the hooks the chart renders:\n\n```yaml\n(.*?)```", guide, re.S)
    assert shown, "docs/kubernetes.md lost its classic-mode hooks"
    docs = render("-f", str(readme_values(tmp_path)), "--set", "sidecar.native=false",
                  kube_version=CLASSIC_VERSIONS[0])
    sidecar, _ = sidecar_of(only(docs, "Deployment")["spec"]["template"]["spec"])
    assert yaml.safe_load(shown.group(1))["lifecycle"] == sidecar["lifecycle"]


def test_a_native_sidecar_on_an_older_cluster_is_refused(tmp_path: Path) -> None:
    r = run_helm("template", "x", str(CHART), "-f", str(readme_values(tmp_path)), "--kube-version", "1.28.0")
    assert r.returncode != 0 and "sidecar.native needs Kubernetes 1.29 or later" in r.stderr


def test_the_schema_refuses_a_bad_values_file() -> None:
    r = run_helm("template", "x", str(CHART), "-f", str(BAD_VALUES), "--kube-version", NATIVE_VERSIONS[0])
    assert r.returncode != 0
    for complaint in ("at '/cassandra': 'cassandra.db.svc.cluster.local' does not match pattern",
                      "at '/sidecar/metricsPort': got string, want integer",
                      "at '/sidecar': additional properties 'adminAddress' not allowed",
                      "at '/adminToken': additional properties 'value' not allowed",
                      "at '/replicaCount': got string, want integer",
                      "at '/podMonitor/enabled': got string, want boolean"):
        assert complaint in r.stderr, (complaint, r.stderr)
    assert "hunter2" not in r.stdout


@pytest.mark.parametrize(("settings", "complaint"), [
    (["--set", "cassandra="], "at '/cassandra': '' does not match pattern"),
    (["--set", "replicaCount=3"], "replicaCount 3 needs control.table"),
    (["--set", "replicaCount=2", "--set", "control.table=cdp_control", "--set", "state.existingClaim=c"],
     "state.existingClaim holds the state of one pod"),
    (["--set", "mapping.inline=version: 1", "--set", "mapping.existingConfigMap=m"],
     "give inline or existingConfigMap, not both"),
    (["--set", "app.containers[0].ports[0].name=metrics", "--set", "app.containers[0].ports[0].containerPort=8080"],
     "app.containers: a port named metrics"),
])
def test_settings_that_cannot_work_are_refused(tmp_path: Path, settings: list[str], complaint: str) -> None:
    args = ["-f", str(readme_values(tmp_path)), *settings]
    r = run_helm("template", "x", str(CHART), "--kube-version", NATIVE_VERSIONS[0], *args)
    assert r.returncode != 0 and complaint in r.stderr, r.stderr


def test_the_plain_manifest_is_valid_and_ready_for_a_fleet(tmp_path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(PLAIN_MANIFEST.read_text()) if d]
    validate(docs, NATIVE_VERSIONS)
    assert "Secret" not in {d["kind"] for d in docs}  # the token is created with kubectl, never committed
    dep = only(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    _, env = check_pod(pod, native=True)
    check_scraped(dep["spec"]["template"])
    # several pods share their phases through a DynamoDB control table
    assert dep["spec"]["replicas"] > 1 and env["CDP_CONTROL"].startswith("dynamodb:")
    sa = only(docs, "ServiceAccount")
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert secret_refs(sidecar_of(pod)[0]) == {"CDP_ADMIN_TOKEN": ("cql-dynamo-proxy-admin", "admin-token")}
    cm = only(docs, "ConfigMap")
    (tmp_path / "mapping.yaml").write_text(cm["data"]["mapping.yaml"])
    assert [t.write_mode for t in load_mapping(tmp_path / "mapping.yaml").tables.values()] == ["queued"]


def test_with_only_cassandra_set_an_application_chart_includes_the_sidecar(tmp_path: Path) -> None:
    """deploy/helm/example-app sets nothing but `cassandra` for its dependency: Helm merges the
    chart's defaults, and the named templates give its pod everything the sidecar needs."""
    values = yaml.safe_load((CHART.parent / "example-app" / "values.yaml").read_text())
    assert values["cql-dynamo-proxy"] == {"cassandra": "cassandra.db.svc.cluster.local:9042"}
    docs = render_example_app(tmp_path)
    validate(docs, NATIVE_VERSIONS)
    assert sorted(d["kind"] for d in docs) == ["Deployment", "ServiceAccount"]  # the dependency renders no workload
    template = only(docs, "Deployment")["spec"]["template"]
    pod = template["spec"]
    _, env = check_pod(pod, native=True)
    check_scraped(template)
    assert env["CDP_CASSANDRA"] == "cassandra.db.svc.cluster.local:9042"
    assert pod["serviceAccountName"] == only(docs, "ServiceAccount")["metadata"]["name"]
    app = only([{"kind": c["name"], **c} for c in pod["containers"]], "shop-cart")
    assert env_of(app)["CASSANDRA_CONTACT_POINTS"] == env["CDP_LISTEN"]


def test_the_phase_job_joins_the_fleet_of_the_plain_manifest() -> None:
    deployment = only([d for d in yaml.safe_load_all(PLAIN_MANIFEST.read_text()) if d], "Deployment")
    job = only([d for d in yaml.safe_load_all(PHASE_JOB.read_text()) if d], "Job")
    validate([job], NATIVE_VERSIONS)
    pod, fleet = job["spec"]["template"]["spec"], deployment["spec"]["template"]["spec"]
    sidecar, env = check_pod(pod, native=True)
    fleet_sidecar, _ = sidecar_of(fleet)
    fleet_env = env_of(fleet_sidecar)
    # the same control table, mapping, credentials and token as the fleet it changes
    assert env["CDP_CONTROL"] == fleet_env["CDP_CONTROL"] and env["CDP_MAPPING"] == fleet_env["CDP_MAPPING"]
    assert pod["serviceAccountName"] == fleet["serviceAccountName"]
    assert [v for v in pod["volumes"] if "configMap" in v] == [v for v in fleet["volumes"] if "configMap" in v]
    assert secret_refs(sidecar) == secret_refs(fleet_sidecar)
    # the phase container reaches the sidecar's loopback admin API with the same token; a refusal
    # is final (exit 1), and the pod completes when that container exits
    phase = only([{"kind": c["name"], **c} for c in pod["containers"]], "phase")
    assert phase["args"][:2] == ["phase", "set"] and "command" not in phase
    assert env_of(phase)["CDP_ADMIN_URL"] == env["CDP_ADMIN_URL"]
    assert secret_refs(phase) == secret_refs(sidecar)
    assert phase["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["spec"]["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"


def test_the_workload_is_named_after_the_release(tmp_path: Path) -> None:
    """`helm install shop-cart ...` gives what docs/kubernetes.md execs into: deploy/shop-cart."""
    docs = render("-f", str(readme_values(tmp_path)), "--set-file", f"mapping.inline={EXAMPLE_MAPPING}")
    assert {(d["kind"], d["metadata"]["name"]) for d in docs} == {
        ("Deployment", "shop-cart"), ("ServiceAccount", "shop-cart"), ("ConfigMap", "shop-cart-mapping")}
    assert "kubectl exec deploy/shop-cart -c cql-dynamo-proxy --" in (CHART.parents[2] / "docs" / "kubernetes.md").read_text()
