"""The PySpark job sends the project's code to its executors itself: with executors whose Python has
the dependencies but not the project, the job fails without the zip (the negative control) and
succeeds with it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cassandra.concurrent import execute_concurrent_with_args

from tests.conftest import ROOT

from .drivers import session_for
from .stores import AWS_ENV, mapped_keyspace

pytestmark = pytest.mark.integration

KS = "st_spark"
ROWS = 300

# Run at the executor Python's start (after site-packages and their .pth files): drops every
# sys.path entry `proxy` could be imported from and the editable install's finders, so only what
# the job sends (a zip Spark puts on sys.path for each task) can provide the project.
HIDE_PROJECT = '''
import os
import sys

def _holds_project(entry):
    return os.path.isfile(os.path.join(entry or os.getcwd(), "proxy", "__init__.py"))

sys.path[:] = [p for p in sys.path if not _holds_project(p)]
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
sys.path_importer_cache.clear()
'''


@pytest.fixture(scope="module")
def setup(cassandra, dynamodb, tmp_path_factory) -> Iterator[tuple[Path, Path]]:
    d = tmp_path_factory.mktemp("spark")
    with mapped_keyspace(cassandra, dynamodb, KS, [f"CREATE TABLE {KS}.t (id int, c int, v text, PRIMARY KEY (id, c))"],
                         d, "st_", edit=lambda t: t.replace("phase: cassandra", "phase: dual_write")
                         .replace("endpoint: null", f"endpoint: {dynamodb}")) as (mapping, _):
        cluster, s = session_for(*cassandra, version=4)
        try:
            ins = s.prepare(f"INSERT INTO {KS}.t (id, c, v) VALUES (?, ?, ?)")
            execute_concurrent_with_args(s, ins, [(i % 20, i, f"v{i}") for i in range(ROWS)], concurrency=32,
                                         raise_on_first_error=True)
        finally:
            cluster.shutdown()
        yield mapping, d


def _python_without_the_project(d: Path) -> Path:
    site = d / "hide"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(HIDE_PROJECT)
    wrapper = d / "python-without-project"
    # PYTHONSAFEPATH: `python -m pyspark.daemon` would put the working directory (the project's
    # root) first on sys.path after sitecustomize has run
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{site}${{PYTHONPATH:+:$PYTHONPATH}}" PYTHONSAFEPATH=1 '
                       f'exec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def test_the_executor_python_cannot_import_the_project(setup):
    _, d = setup
    r = subprocess.run([str(_python_without_the_project(d)), "-c", "import cassandra, orjson; import proxy"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "No module named 'proxy'" in r.stderr, r.stderr


def test_the_job_ships_its_code_to_executors_without_the_project(setup, cassandra):
    mapping, d = setup
    env = {**os.environ, **AWS_ENV, "CDP_SPARK_MASTER": "local[2]",
           "PYSPARK_PYTHON": str(_python_without_the_project(d))}
    env.pop("CDP_SPARK_SHIP_CODE", None)

    def job(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "proxy.backfill.spark_job", "backfill", "--mapping", str(mapping),
                               "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--table", f"{KS}.t", "--splits", "4",
                               "--force", "--ledger", str(d / "ledger.jsonl"), "--summary", str(d / "summary.json"),
                               *extra], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)

    r = job("--no-ship-code")
    assert r.returncode != 0 and "No module named 'proxy'" in r.stderr, r.stdout + r.stderr[-3000:]
    (d / "ledger.jsonl").unlink(missing_ok=True)
    r = job()
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    data = json.loads((d / "summary.json").read_text())
    assert data["rows_read"] == data["rows_written"] == ROWS, data
    assert data["ranges"]["done"] == data["ranges"]["total"] >= 4, data
