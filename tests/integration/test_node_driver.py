"""A non-Python driver through the sidecar: the DataStax Node.js driver (npm cassandra-driver).

tests/drivers/node/smoke.js runs the checks (typed prepared writes and reads, simple queries, logged
batches, LWT, counters, paging, a keyspace-bound client) and prints a JSON summary line. The driver
speaks protocol v3 and v4 only (no v5) and has no frame compression, so those are not exercised here;
"auto" lets the driver negotiate down from its DSE_V2 (0x42) opening version.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Sidecar

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "drivers" / "node"
SMOKE = NODE_DIR / "smoke.js"
VERSIONS = ["3", "4", "auto"]


def _node_ready() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the Node.js driver checks need node >= 18 and npm")
    if not (NODE_DIR / "node_modules" / "cassandra-driver" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed; cannot install tests/drivers/node dependencies")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.fail(f"npm ci in {NODE_DIR} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return node


@pytest.fixture(scope="module")
def node() -> str:
    return _node_ready()


def _text(out: str | bytes | None) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else (out or "")


def _summary(stdout: str) -> dict[str, object] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except ValueError:
                return None
            return parsed if isinstance(parsed, dict) else None
    return None


@pytest.mark.parametrize("version", VERSIONS, ids=[f"v{v}" if v.isdigit() else v for v in VERSIONS])
def test_node_driver_smoke(sidecar: Sidecar, node: str, version: str) -> None:
    cmd = [node, str(SMOKE.relative_to(ROOT)), sidecar.host, str(sidecar.port), version]
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} timed out\nstdout:\n{_text(e.stdout)}\nstderr:\n{_text(e.stderr)}\n"
                    f"sidecar log (tail):\n{sidecar.log()[-4000:]}")
    summary = _summary(r.stdout)
    if r.returncode != 0 or summary is None or not summary.get("ok"):
        detail = json.dumps(summary, indent=2) if summary else r.stdout
        pytest.fail(f"{' '.join(cmd)} exited {r.returncode}\n{detail}\nstderr:\n{r.stderr}\n"
                    f"sidecar log (tail):\n{sidecar.log()[-4000:]}")
    endpoint = f"{sidecar.host}:{sidecar.port}"
    assert summary["hosts"] == [endpoint]
    assert summary["protocol"] == (4 if version == "auto" else int(version))
    assert summary["preparedRows"] == 100
    assert summary["pagedRows"] == 500
    assert isinstance(summary["pages"], int) and summary["pages"] >= 10
    assert summary["lwt"] is True


def test_node_driver_refuses_what_it_lacks(node: str) -> None:
    """v5 and lz4 are refused up front (exit 2) rather than silently tested on something else."""
    for args in (["5"], ["4", "lz4"]):
        r = subprocess.run([node, str(SMOKE), "127.0.0.1", "9", *args], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
        summary = _summary(r.stdout)
        assert r.returncode == 2, r.stdout + r.stderr
        assert summary is not None and summary["ok"] is False and summary["stage"] == "arguments"
