"""Shared fixtures: the real back ends (started when absent, stopped only if we started them) and
sidecar processes started through the real command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed seed sequence so a landing never depends on luck; local
# runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ROOT / "deploy" / "local" / "backends"
CASSANDRA_PORT = int(os.environ.get("CDP_CASSANDRA_PORT", "9042"))
CASSANDRA_AUTH_PORT = int(os.environ.get("CDP_CASSANDRA_AUTH_PORT", "9142"))
DYNAMODB_PORT = int(os.environ.get("CDP_DYNAMODB_PORT", "8000"))
S3_PORT = int(os.environ.get("CDP_S3_PORT", "9000"))
# the fixed credentials of the local MinIO (deploy/local/backends); DynamoDB Local accepts them too
S3_ACCESS_KEY, S3_SECRET_KEY = "cdplocal", "cdplocal-secret"


def _backends(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, str(BACKENDS), *args], capture_output=True, text=True, timeout=900)
    if check and r.returncode != 0:
        raise RuntimeError(f"backends {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


class BackendManager:
    """Starts a back end on first use; at the end stops only those this run started."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def ensure(self, service: str) -> None:
        if service in self.started:
            return
        status = _backends("status", service, check=False)
        if status.returncode == 0:
            return
        _backends("up", service)
        self.started.append(service)

    def restart(self, service: str) -> None:
        _backends("restart", service)

    def down(self, service: str) -> None:
        _backends("down", service)

    def up(self, service: str) -> None:
        _backends("up", service)

    def stop_started(self) -> None:
        if self.started and not os.environ.get("CDP_KEEP_BACKENDS"):
            _backends("down", *self.started, check=False)


@pytest.fixture(scope="session")
def backends() -> Iterator[BackendManager]:
    mgr = BackendManager()
    yield mgr
    mgr.stop_started()


@pytest.fixture(scope="session")
def cassandra(backends: BackendManager) -> tuple[str, int]:
    backends.ensure("cassandra")
    return ("127.0.0.1", CASSANDRA_PORT)


@pytest.fixture(scope="session")
def cassandra_auth(backends: BackendManager) -> tuple[str, int]:
    backends.ensure("cassandra-auth")
    return ("127.0.0.1", CASSANDRA_AUTH_PORT)


@pytest.fixture(scope="session")
def dynamodb(backends: BackendManager) -> str:
    backends.ensure("dynamodb")
    return f"http://127.0.0.1:{DYNAMODB_PORT}"


@pytest.fixture(scope="session")
def s3(backends: BackendManager) -> str:
    """The local S3 (MinIO) endpoint."""
    backends.ensure("s3")
    return f"http://127.0.0.1:{S3_PORT}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Sidecar:
    host: str
    port: int
    admin_port: int
    token: str
    proc: subprocess.Popen[str]
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = 15, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_sidecar(cassandra: tuple[str, int], tmp: Path, *extra: str, host: str = "127.0.0.1",
                  env: dict[str, str] | None = None, port: int | None = None) -> Sidecar:
    port, admin_port = port or free_port(host), free_port()
    token = "test-token-" + os.urandom(4).hex()
    log_path = tmp / f"sidecar-{port}.log"
    args = [
        sys.executable, "-m", "proxy.cli", "serve",
        "--listen", f"{host}:{port}",
        "--cassandra", f"{cassandra[0]}:{cassandra[1]}",
        "--admin", f"127.0.0.1:{admin_port}",
        *(() if "--state-dir" in extra else ("--state-dir", str(tmp / f"state-{port}"))),
        *extra,
    ]
    logf = open(log_path, "w")  # noqa: SIM115 - owned by the process for its lifetime
    # the token goes in the environment, as secrets should (argv is visible in `ps`)
    token_env = {} if "--admin-token-file" in extra else {"CDP_ADMIN_TOKEN": token}
    proc = subprocess.Popen(args, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **token_env, **(env or {})})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sidecar exited with {proc.returncode}:\n{log_path.read_text()}")
        if "ready: CQL on" in log_path.read_text():
            return Sidecar(host, port, admin_port, token, proc, log_path, args)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"sidecar did not start:\n{log_path.read_text()}")


@pytest.fixture
def sidecar_factory(tmp_path: Path) -> Iterator[Callable[..., Sidecar]]:
    started: list[Sidecar] = []

    def make(cassandra: tuple[str, int], *extra: str, **kw: object) -> Sidecar:
        sc = start_sidecar(cassandra, tmp_path, *extra, **kw)  # type: ignore[arg-type]
        started.append(sc)
        return sc

    yield make
    for sc in started:
        sc.stop()


@pytest.fixture(scope="module")
def sidecar(cassandra: tuple[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    """One sidecar in front of the plain Cassandra, shared by a test module."""
    sc = start_sidecar(cassandra, tmp_path_factory.mktemp("sidecar"))
    yield sc
    sc.stop()
