"""`backfill` and `validate` as a PySpark job: one Spark task per token range.

    spark-submit --master yarn proxy/backfill/spark_job.py backfill --mapping mapping.yaml \\
        --cassandra 10.0.0.5:9042 --control dynamodb:cdp_control --splits 4096 --ledger s3-mounted/ledger.jsonl

Takes the same arguments as the CLI commands (--workers is ignored: Spark's executors are the
workers). The driver plans the ranges, checks the fleet's phases and keeps the ledger; executors
run the range tasks (each Spark partition opens its own Cassandra session and DynamoDB client) and
send their events back. Ranges go out in waves of a few per executor core, and the ledger is
written after each wave, so a driver that dies loses at most one wave of checkpoints; Spark itself
retries a failed task (re-running a range is harmless: the writes are idempotent under LWW).

Executors need this package importable (`pip install cql-dynamo-proxy[spark]` in a bootstrap action
on EMR, or `--py-files` with a zip of cql_protocol, translators and proxy on Glue).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

# absolute imports: spark-submit runs this file as a script
from proxy.backfill.command import add_subcommands, run
from proxy.backfill.runner import Event, JobSpec, Task, run_in_process

WAVE_PER_CORE = 4


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
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    builder = SparkSession.builder.appName(f"cql-dynamo-proxy {args.command}")
    if not SparkConf().contains("spark.master"):  # run with python, not spark-submit
        builder = builder.master(os.environ.get("CDP_SPARK_MASTER", "local[*]"))
    spark = builder.getOrCreate()
    try:
        return run(args, spark_execute(spark.sparkContext))
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
