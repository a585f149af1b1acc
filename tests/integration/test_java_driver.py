"""The DataStax Java driver (3.12, the one among Cassandra 5.0's own jars) through the sidecar with
frame compression: snappy on v3 and v4, lz4 for comparison.

tests/drivers/java/Smoke.java writes and reads back 100 rows with prepared statements (one value of
200,000 characters), pages through them and prints a JSON summary line. A driver configured for a
compression the server does not offer cannot connect at all, so a passing run is a negotiated one.
"""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Sidecar

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
JAVA_DIR = ROOT / "tests" / "drivers" / "java"
CASES = [("3", "snappy"), ("4", "snappy"), ("4", "lz4")]


def _cassandra_lib() -> Path:
    """Cassandra's jar directory, as deploy/local/backends fetched it (the driver is one of them)."""
    backends = runpy.run_path(str(ROOT / "deploy" / "local" / "backends"), run_name="cdp_backends")
    lib: Path = backends["cassandra_lib"]()
    return lib


@pytest.fixture(scope="module")
def smoke(cassandra: tuple[str, int], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        pytest.fail("javac and java are needed for the Java driver checks (the back ends need a JDK too)")
    lib = _cassandra_lib()
    if not list(lib.glob("cassandra-driver-core-*.jar")):
        pytest.fail(f"no cassandra-driver-core jar in {lib}")
    out = tmp_path_factory.mktemp("java-smoke")
    r = subprocess.run([javac, "-cp", f"{lib}/*", "-d", str(out), str(JAVA_DIR / "Smoke.java")],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return [java, f"-Dlogback.configurationFile={JAVA_DIR / 'logback.xml'}", "-cp", f"{lib}/*:{out}", "Smoke"]


@pytest.mark.parametrize(("version", "compression"), CASES, ids=[f"v{v}-{c}" for v, c in CASES])
def test_java_driver_with_compression(sidecar: Sidecar, smoke: list[str], version: str, compression: str) -> None:
    cmd = [*smoke, sidecar.host, str(sidecar.port), version, compression]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    summary = json.loads(lines[-1]) if lines else None
    if r.returncode != 0 or not summary or not summary.get("ok"):
        pytest.fail(f"{' '.join(cmd)} exited {r.returncode}\n{r.stdout}\nstderr (tail):\n{r.stderr[-3000:]}\n"
                    f"sidecar log (tail):\n{sidecar.log()[-3000:]}")
    assert summary == {"ok": True, "protocol": int(version), "compression": compression, "rows": 100,
                       "big": 200_000, "release": summary["release"]}
