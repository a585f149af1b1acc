"""The sidecar container of the shipped pod specs (the chart rendered with its README's values, the
chart in classic mode, the example application chart that includes it, the plain manifest and the
phase Job) run as Kubernetes would run it (tests/kubernetes/pod.py): its command, args, env
(Secret references resolved) and volume mounts, a read-only root filesystem, the non-root uid,
gid and fsGroup of its securityContext, no capabilities, no new privileges. In it a table in
`queued` mode starts (its journal in the state volume), a `phase set` run inside the container as
`kubectl exec` would succeeds, a write reaches DynamoDB, the spec's startup, readiness and liveness
probes pass on the pod address, and SIGTERM drains and exits 0 within the pod's grace period.

Simulated rather than real, because this machine has no container runtime and no cluster:
- the image: the project's virtualenv and checkout on this machine's root filesystem (made
  read-only) stand in for it; `cql-dynamo-proxy` is `python -m proxy.cli`;
- the kubelet: its probes are HTTP requests to the port the spec names, on this machine's
  non-loopback address standing in for the pod IP; hooks and `kubectl exec` are `nsenter` into
  the container's mount namespace and root; emptyDir, ConfigMap and Secret volumes are temporary
  directories with the kubelet's modes and fsGroup ownership;
- the pod network: the pod shares this machine's network namespace (no namespace of its own, or
  it could not reach the shared back ends), whose loopback already has Cassandra on 9042 and other
  people's processes. So CDP_LISTEN, CDP_ADMIN, CDP_ADMIN_URL and CDP_METRICS keep their hosts and
  get free ports; CDP_CASSANDRA, the DynamoDB endpoint and region, AWS test credentials and the
  control table's name (for the fleet) point at the local back ends; the mapping in the ConfigMap
  is this test's (a `k8s_` keyspace with a queued table) instead of the example one.
Needs root (mount namespaces, overlay, chroot, setpriv); where that is missing the tests fail
rather than skip."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port
from tests.integration.drivers import session_for
from tests.integration.stores import AWS_ENV, ddb, mapped_keyspace, scan_items
from translators.mapping import Mapping

from .manifests import (
    CLASSIC_VERSIONS,
    NATIVE_VERSIONS,
    PHASE_JOB,
    PLAIN_MANIFEST,
    SIDECAR,
    env_of,
    named_port,
    only,
    port_of,
    readme_values,
    render,
    render_example_app,
    sidecar_of,
)
from .pod import Container, Pod, tools_available

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def pod_simulation() -> None:
    """Fails, never skips, where the simulation cannot run (not root, no mount namespaces or
    overlay): a skipped check would pass unnoticed."""
    missing = tools_available()
    if missing:
        pytest.fail(f"the pod simulation cannot run here: {missing}")

KEYSPACE, TABLE = "k8s_shipped", "carts"


@pytest.fixture(scope="module")
def mapped(cassandra: tuple[str, int], dynamodb: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Mapping]]:
    """A keyspace with one table mapped in phase `cassandra`, write mode `queued`."""
    tmp = tmp_path_factory.mktemp("k8s-mapping")
    with mapped_keyspace(cassandra, dynamodb, KEYSPACE,
                         [f"CREATE TABLE {KEYSPACE}.{TABLE} (id int PRIMARY KEY, v text)"], tmp, "k8s_",
                         edit=lambda t: t.replace("write_mode: sync", "write_mode: queued")) as mapped:
        assert "write_mode: queued" in mapped[0].read_text()
        yield mapped


def pod_ip() -> str:
    """This machine's address towards the outside: stands in for the pod IP the kubelet probes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 9))  # no packet is sent: this only picks the outgoing address
        return str(s.getsockname()[0])


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def remapped(env: dict[str, str]) -> tuple[dict[str, str], dict[int, int]]:
    """Free ports for the pod's listeners (same hosts), and spec port -> port used."""
    overrides, ports = {}, {}
    for name in ("CDP_LISTEN", "CDP_ADMIN", "CDP_METRICS"):
        host, port = env[name].rsplit(":", 1)
        ports[int(port)] = free_port()
        overrides[name] = f"{host}:{ports[int(port)]}"
    admin = port_of(env["CDP_ADMIN"])
    overrides["CDP_ADMIN_URL"] = env["CDP_ADMIN_URL"].replace(f":{admin}", f":{ports[admin]}")
    return overrides, ports


def pass_probes(c: Container, sidecar: dict[str, Any], ports: dict[int, int],
                kinds: tuple[str, ...] = ("startupProbe", "readinessProbe", "livenessProbe")) -> None:
    """The kubelet's probes, as the spec states them, on the pod address (the startup probe first:
    with a native sidecar the application starts when it passes)."""
    for kind in kinds:
        probe = sidecar[kind]["httpGet"]
        url = f"http://{pod_ip()}:{ports[named_port(sidecar, probe['port'])]}{probe['path']}"
        c.wait_for(lambda url=url: status(url) == 200, 60, f"a passing {kind} at {url}")


def chart_pod(tmp: Path, mapping_path: Path, *settings: str, kube_version: str = NATIVE_VERSIONS[0]
              ) -> tuple[dict[str, Any], dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The pod spec `helm template` renders from the README's values and this test's mapping, its
    ConfigMaps, and the admin-token Secret the user creates with kubectl."""
    return pod_of(render("-f", str(readme_values(tmp)), "--set-file", f"mapping.inline={mapping_path}",
                         *settings, kube_version=kube_version))


def pod_of(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    pod_spec = only(docs, "Deployment")["spec"]["template"]["spec"]
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    return pod_spec, configmaps, {"shop-cart-cdp-admin": {"admin-token": uuid.uuid4().hex}}


def local_overrides(env: dict[str, str], cassandra: tuple[str, int], dynamodb: str
                    ) -> tuple[dict[str, str], dict[int, int]]:
    """The pod's env pointed at this machine: free ports, the local Cassandra and DynamoDB."""
    overrides, ports = remapped(env)
    overrides |= {"CDP_CASSANDRA": f"{cassandra[0]}:{cassandra[1]}", "CDP_DYNAMODB_ENDPOINT": dynamodb,
                  "CDP_DYNAMODB_REGION": "us-east-1", **AWS_ENV}
    return overrides, ports


def run_sidecar(pod_spec: dict[str, Any], configmaps: dict[str, dict[str, str]], secrets: dict[str, dict[str, str]],
                tmp: Path, cassandra: tuple[str, int], dynamodb: str, mapping: Mapping,
                control_table: str | None = None) -> Container:
    """Starts the pod's sidecar, checks it comes up as the kubelet would see it, its state volume,
    a phase change and a mirrored write; returns the running container."""
    sidecar, _ = sidecar_of(pod_spec)
    env = env_of(sidecar)
    overrides, ports = local_overrides(env, cassandra, dynamodb)
    if control_table:
        overrides["CDP_CONTROL"] = f"dynamodb:{control_table}"
    pod = Pod(pod_spec, tmp, configmaps, secrets)
    c = Container(pod, SIDECAR, overrides, tmp / "sidecar.log")
    try:
        _check_running(c, pod, sidecar, env, ports, dynamodb, mapping, control_table)
    except BaseException:
        c.stop(timeout=5)
        raise
    return c


def _check_running(c: Container, pod: Pod, sidecar: dict[str, Any], env: dict[str, str],
                   ports: dict[int, int], dynamodb: str, mapping: Mapping, control_table: str | None) -> None:
    pass_probes(c, sidecar, ports)
    # the container really is confined: its root is read-only, it runs as the securityContext's uid
    r = c.exec(["python", "-c", "import os; print(os.getuid(), os.getgid()); open('/cdp-write-test', 'w')"])
    uid = sidecar["securityContext"]["runAsUser"]
    assert r.stdout.split() == [str(uid), str(sidecar["securityContext"]["runAsGroup"])], r.stdout + r.stderr
    assert "Read-only file system" in r.stderr
    # the queued table's journal lives in the state volume, where CDP_STATE_DIR points
    state_mount = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == env["CDP_STATE_DIR"])
    state = pod.volumes[state_mount["name"]]
    assert (state / "journal").is_dir() and (state / "journal").stat().st_uid == uid
    # a phase change from inside the pod (kubectl exec ... -- cql-dynamo-proxy phase set ...)
    r = c.exec(["cql-dynamo-proxy", "phase", "set", f"{KEYSPACE}.{TABLE}", "dual_write", "--by", "k8s-test"])
    assert r.returncode == 0, r.stdout + r.stderr
    if control_table is None:  # the file control store, in the state volume
        phases = (state / "control" / "phases.json").read_text()
        assert f"{KEYSPACE}.{TABLE}" in phases and "dual_write" in phases
    # a write through the sidecar is mirrored to DynamoDB through the journal
    cluster, session = session_for("127.0.0.1", ports[port_of(env["CDP_LISTEN"])])
    try:
        session.execute(f"INSERT INTO {KEYSPACE}.{TABLE} (id, v) VALUES (7, 'shipped')")
    finally:
        cluster.shutdown()
    table = mapping.tables[(KEYSPACE, TABLE)].dynamodb_table
    c.wait_for(lambda: len(scan_items(dynamodb, table)) == 1, 20, "the queued write in DynamoDB")


def stop(c: Container, pod_spec: dict[str, Any]) -> None:
    """SIGTERM: the sidecar drains and exits 0 within the pod's grace period."""
    grace = pod_spec["terminationGracePeriodSeconds"]
    t0 = time.monotonic()
    rc = c.stop(timeout=grace)
    assert rc == 0, c.log()
    assert time.monotonic() - t0 < grace
    log = c.log()
    assert "signal received: draining" in log and "sidecar stopped" in log, log


def test_the_chart_readme_pod_runs_as_shipped(cassandra: tuple[str, int], dynamodb: str,
                                              mapped: tuple[Path, Mapping], tmp_path: Path) -> None:
    mapping_path, mapping = mapped
    pod_spec, configmaps, secrets = chart_pod(tmp_path, mapping_path)
    c = run_sidecar(pod_spec, configmaps, secrets, tmp_path, cassandra, dynamodb, mapping)
    stop(c, pod_spec)


def test_an_application_charts_pod_runs_as_shipped(cassandra: tuple[str, int], dynamodb: str,
                                                   mapped: tuple[Path, Mapping], tmp_path: Path) -> None:
    """deploy/helm/example-app: the sidecar included from the dependency's named templates."""
    mapping_path, mapping = mapped
    pod_spec, configmaps, secrets = pod_of(render_example_app(
        tmp_path, "--set-file", f"cql-dynamo-proxy.mapping.inline={mapping_path}",
        "--set", "cql-dynamo-proxy.adminToken.existingSecret=shop-cart-cdp-admin"))
    c = run_sidecar(pod_spec, configmaps, secrets, tmp_path, cassandra, dynamodb, mapping)
    stop(c, pod_spec)


def test_the_chart_in_classic_mode_holds_the_app_back_until_ready(
        cassandra: tuple[str, int], dynamodb: str, mapped: tuple[Path, Mapping], tmp_path: Path) -> None:
    mapping_path, mapping = mapped
    pod_spec, configmaps, secrets = chart_pod(tmp_path, mapping_path, "--set", "sidecar.native=false",
                                              "--set", "app.terminationSeconds=2", kube_version=CLASSIC_VERSIONS[0])
    sidecar, _ = sidecar_of(pod_spec)
    hooks = sidecar["lifecycle"]
    c = run_sidecar(pod_spec, configmaps, secrets, tmp_path, cassandra, dynamodb, mapping)
    try:
        # the postStart hook returns 0 once the sidecar is ready (here it already is): the kubelet
        # then starts the application. It polls the spec's metrics port, so it runs with the
        # port as shipped: pointed at the port used here, it must pass.
        ports = {port_of(env_of(sidecar)["CDP_METRICS"]): port_of(c.env["CDP_METRICS"])}
        spec_port, port = next(iter(ports.items()))
        command = [arg.replace(f":{spec_port}/", f":{port}/") for arg in hooks["postStart"]["exec"]["command"]]
        r = c.exec(command)
        assert r.returncode == 0, r.stderr
        # preStop keeps the sidecar serving while the application stops (app.terminationSeconds)
        t0 = time.monotonic()
        r = c.exec(hooks["preStop"]["exec"]["command"])
        assert r.returncode == 0 and time.monotonic() - t0 >= 2, r.stderr
    finally:
        stop(c, pod_spec)


@pytest.fixture
def control_table(dynamodb: str) -> Iterator[str]:
    """A name for the fleet's control table (the sidecar creates it), deleted afterwards."""
    name = f"k8s_control_{uuid.uuid4().hex[:8]}"
    yield name
    with contextlib.suppress(ddb(dynamodb).exceptions.ResourceNotFoundException):
        ddb(dynamodb).delete_table(TableName=name)


def fleet_phase(dynamodb: str, control_table: str) -> dict[str, Any]:
    item = ddb(dynamodb).get_item(TableName=control_table, Key={"pk": {"S": "phases"}, "sk": {"S": "current"}},
                                  ConsistentRead=True)["Item"]
    return dict(json.loads(item["tables"]["S"])[f"{KEYSPACE}.{TABLE}"])


def plain_pod(path: Path, mapping_path: Path) -> tuple[dict[str, Any], dict[str, dict[str, str]],
                                                        dict[str, dict[str, str]]]:
    """A pod spec of the plain manifests, the mapping ConfigMap holding this test's mapping, and the
    admin-token Secret the user creates with kubectl."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    pod_spec = next(d for d in docs if d["kind"] in ("Deployment", "Job"))["spec"]["template"]["spec"]
    mapping_volume = next(v for v in pod_spec["volumes"] if "configMap" in v)
    configmaps = {mapping_volume["configMap"]["name"]: {"mapping.yaml": mapping_path.read_text()}}
    return pod_spec, configmaps, {"cql-dynamo-proxy-admin": {"admin-token": uuid.uuid4().hex}}


def test_the_plain_manifest_pod_runs_as_shipped(cassandra: tuple[str, int], dynamodb: str,
                                                mapped: tuple[Path, Mapping], tmp_path: Path,
                                                control_table: str) -> None:
    mapping_path, mapping = mapped
    pod_spec, configmaps, secrets = plain_pod(PLAIN_MANIFEST, mapping_path)
    c = run_sidecar(pod_spec, configmaps, secrets, tmp_path, cassandra, dynamodb, mapping, control_table)
    stop(c, pod_spec)
    assert fleet_phase(dynamodb, control_table)["phase"] == "dual_write"


def test_the_phase_job_changes_the_fleets_phase(cassandra: tuple[str, int], dynamodb: str,
                                                mapped: tuple[Path, Mapping], tmp_path: Path,
                                                control_table: str) -> None:
    """The Job's own sidecar starts, its `phase` container (its table replaced by this test's)
    changes the phase in the control table and exits 0, then the sidecar stops cleanly."""
    pod_spec, configmaps, secrets = plain_pod(PHASE_JOB, mapped[0])
    phase_spec = next(c for c in pod_spec["containers"] if c["name"] == "phase")
    phase_spec["args"] = [f"{KEYSPACE}.{TABLE}" if a == "shop.cart_items" else a for a in phase_spec["args"]]
    sidecar, _ = sidecar_of(pod_spec)
    overrides, ports = local_overrides(env_of(sidecar), cassandra, dynamodb)
    pod = Pod(pod_spec, tmp_path, configmaps, secrets)
    c = Container(pod, SIDECAR, overrides | {"CDP_CONTROL": f"dynamodb:{control_table}"}, tmp_path / "sidecar.log")
    try:
        pass_probes(c, sidecar, ports, ("startupProbe",))  # then the kubelet starts the phase container
        admin_url = env_of(phase_spec)["CDP_ADMIN_URL"]
        assert admin_url == env_of(sidecar)["CDP_ADMIN_URL"]
        phase = Container(pod, "phase", {"CDP_ADMIN_URL": overrides["CDP_ADMIN_URL"]}, tmp_path / "phase.log")
        assert phase.proc.wait(60) == 0, phase.log()
        phase.stop(timeout=1)
        assert "dual_write" in phase.log()
    finally:
        stop(c, pod_spec)  # as the kubelet does once the Job's container has exited
    assert fleet_phase(dynamodb, control_table)["phase"] == "dual_write"


def test_without_a_state_dir_the_read_only_root_is_what_breaks(
        cassandra: tuple[str, int], dynamodb: str, mapped: tuple[Path, Mapping], tmp_path: Path) -> None:
    """The simulation would catch the old manifest's crash: the same pod spec without CDP_STATE_DIR
    (state under the working directory, on the read-only root) does not start its queued table."""
    pod_spec, configmaps, secrets = chart_pod(tmp_path, mapped[0])
    sidecar, _ = sidecar_of(pod_spec)
    sidecar["env"] = [e for e in sidecar["env"] if e["name"] != "CDP_STATE_DIR"]
    overrides, _ = local_overrides(env_of(sidecar), cassandra, dynamodb)
    pod = Pod(pod_spec, tmp_path, configmaps, secrets)
    c = Container(pod, SIDECAR, overrides, tmp_path / "sidecar.log")
    with contextlib.suppress(subprocess.TimeoutExpired):
        c.proc.wait(30)
    rc = c.stop(timeout=10)
    assert rc != 0 and "Read-only file system" in c.log(), c.log()
    assert not os.listdir(pod.volumes["cdp-state"])


def test_with_every_table_in_dynamo_the_pod_is_ready_without_cassandra(
        cassandra: tuple[str, int], dynamodb: str, mapped: tuple[Path, Mapping], tmp_path: Path) -> None:
    """At the end of a migration Cassandra is switched off. The probes must still pass, or new pods
    never start their application (startup probe) and running ones leave their Service
    (readiness probe). Cassandra here is a port nothing listens on."""
    in_dynamo = tmp_path / "mapping-dynamo.yaml"
    in_dynamo.write_text(mapped[0].read_text().replace("phase: cassandra", "phase: dynamo"))
    pod_spec, configmaps, secrets = chart_pod(tmp_path, in_dynamo)
    sidecar, _ = sidecar_of(pod_spec)
    overrides, ports = local_overrides(env_of(sidecar), cassandra, dynamodb)
    overrides["CDP_CASSANDRA"] = f"127.0.0.1:{free_port()}"
    c = Container(Pod(pod_spec, tmp_path, configmaps, secrets), SIDECAR, overrides, tmp_path / "sidecar.log")
    try:
        pass_probes(c, sidecar, ports)
    finally:
        stop(c, pod_spec)
