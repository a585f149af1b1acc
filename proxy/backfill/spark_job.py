"""`backfill` and `validate` as a PySpark job: one Spark task per token range.

    spark-submit --master yarn proxy/backfill/spark_job.py backfill --mapping mapping.yaml \\
        --cassandra 10.0.0.5:9042 --control dynamodb:cdp_control --splits 4096 --ledger s3-mounted/ledger.jsonl

Takes the same arguments as the CLI commands (--workers is ignored: Spark's executors are the
workers). The driver plans the ranges, checks the fleet's phases and keeps the ledger; executors
run the range tasks (each Spark partition opens its own Cassandra session and DynamoDB client) and
send their events back. Ranges go out in waves of a few per executor core, and the ledger is
written after each wave, so a driver that dies loses at most one wave of checkpoints; Spark itself
retries a failed task (re-running a range is harmless: the writes are idempotent under LWW).

The job ships its own code: at start it zips the `cql_protocol`, `translators` and `proxy` packages
from where the driver imports them and adds the zip to the Spark context, so executors need only the
dependencies (`pip install cql-dynamo-proxy[spark]` installs them; the project itself need not be
installed there). `--no-ship-code` (env CDP_SPARK_SHIP_CODE=0) leaves that to the cluster, e.g. an
image with the project installed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# absolute imports: spark-submit runs this file as a script
from proxy.backfill.command import add_subcommands, run
from proxy.backfill.runner import Event, JobSpec, Task, run_in_process

WAVE_PER_CORE = 4
# what a range task imports of the project; their dependencies come from the executors' Python
PACKAGES = ("cql_protocol", "translators", "proxy")


def build_code_zip(dest: Path, packages: tuple[str, ...] = PACKAGES) -> Path:
    """A zip of `packages` as the driver imports them (an installed copy, an editable one or a
    source tree alike), without compiled bytecode."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for name in packages:
            root = Path(importlib.import_module(name).__file__ or "").parent
            for f in sorted(root.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                    z.write(f, Path(name) / f.relative_to(root))
    return dest


def _run_partition(spec_d: dict[str, Any]) -> Callable[[Iterator[tuple[str, str, str | None]]], Iterator[Event]]:
    def go(rows: Iterator[tuple[str, str, str | None]]) -> Iterator[Event]:
        events: list[Event] = []
        tasks = [Task(*r) for r in rows]
        if tasks:
            run_in_process(JobSpec(**spec_d), tasks, events.append)
        return iter(events)

    return go


def spark_execute(sc: Any) -> Callable[[JobSpec, list[Task], Callable[[Event], None]], None]:
    def execute(spec: JobSpec, tasks: list[Task], emit: Callable[[Event], None]) -> None:
        # one range task per Spark task; inside it the range's pages go one after another
        spec_d = {**spec.to_dict(), "concurrency": 1}
        wave = max(1, sc.defaultParallelism * WAVE_PER_CORE)
        for i in range(0, len(tasks), wave):
            chunk = [(t.table, t.range, t.state) for t in tasks[i:i + wave]]
            for ev in sc.parallelize(chunk, len(chunk)).mapPartitions(_run_partition(spec_d)).collect():
                emit(ev)

    return execute


def main(argv: list[str] | None = None) -> int:
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    parser = argparse.ArgumentParser(prog="spark_job.py")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands(sub)
    ship_default = os.environ.get("CDP_SPARK_SHIP_CODE", "1").strip().lower() not in ("0", "false", "no", "off")
    for p in sub.choices.values():
        p.add_argument("--ship-code", action=argparse.BooleanOptionalAction, default=ship_default,
                       help="zip cql_protocol, translators and proxy and send them to the executors "
                            "[env CDP_SPARK_SHIP_CODE; default on]")
    args = parser.parse_args(argv)
    builder = SparkSession.builder.appName(f"cql-dynamo-proxy {args.command}")
    if not SparkConf().contains("spark.master"):  # run with python, not spark-submit
        builder = builder.master(os.environ.get("CDP_SPARK_MASTER", "local[*]"))
    spark = builder.getOrCreate()
    try:
        with tempfile.TemporaryDirectory(prefix="cdp-spark-") as tmp:
            if args.ship_code:
                spark.sparkContext.addPyFile(str(build_code_zip(Path(tmp) / "cql_dynamo_proxy.zip")))
            return run(args, spark_execute(spark.sparkContext))
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
