#!/usr/bin/env python3
"""Cost of the history copy and of the proof of equality: rows per CPU-second of `backfill` and of
`validate` (the whole process tree, worker processes included), with DynamoDB Local's and
Cassandra's own CPU reported separately (on one machine, DynamoDB Local is the ceiling).

    .venv/bin/python tests/bench/bench_backfill.py [--rows 50000] [--workers 1] [--value-size 200]
        [--splits 64] [--rich] [--keyspace bf_bench] [--json out.json]

Runs, in order, on a table preloaded straight into Cassandra (not through a sidecar):
  backfill        into empty DynamoDB tables: BatchGetItem finds nothing, every row is a conditional put
  backfill again  everything already there: one BatchGetItem per 100 rows, no writes
  validate        range scans, BatchGet/Query per partition, the comparison, one DynamoDB Scan

Needs the local Cassandra and DynamoDB Local (`deploy/local/backends up cassandra dynamodb`). The
keyspace and the DynamoDB tables the run creates are dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import decimal
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dual_write import dynamodb_pid
from bench_harness import ROOT, describe_machine, pid_listening_on, proc_cpu

KEYSPACE = "bf_bench"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "proxy.cli", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=3600, env={**os.environ, **AWS_ENV, **(env or {})})
    return r


def preload(cassandra: str, rows: int, value_size: int, rich: bool = False) -> None:
    from cassandra.cluster import Cluster
    from cassandra.concurrent import execute_concurrent_with_args

    host, port = cassandra.rsplit(":", 1)
    cluster = Cluster([host], port=int(port), protocol_version=4)
    try:
        s = cluster.connect()
        s.execute(f"DROP KEYSPACE IF EXISTS {KEYSPACE}")
        s.execute(f"CREATE KEYSPACE {KEYSPACE} WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        blob = os.urandom(value_size)
        if not rich:
            s.execute(f"CREATE TABLE {KEYSPACE}.kv (k int PRIMARY KEY, v blob, n bigint, t text, tags set<text>)")
            ins = s.prepare(f"INSERT INTO {KEYSPACE}.kv (k, v, n, t, tags) VALUES (?, ?, ?, ?, ?)")
            execute_concurrent_with_args(s, ins, [(k, blob, k * 7, f"text-{k}", {"a", f"t{k % 10}"})
                                                  for k in range(rows)], concurrency=128, raise_on_first_error=True)
            return
        # the same plus a timestamp, a uuid, a decimal, a map and a frozen user type
        s.execute(f"CREATE TYPE {KEYSPACE}.addr (street text, zip int)")
        s.execute(f"CREATE TABLE {KEYSPACE}.kv (k int PRIMARY KEY, v blob, n bigint, t text, tags set<text>, "
                  "at timestamp, id uuid, price decimal, attrs map<text, int>, home frozen<addr>)")
        ins = s.prepare(f"INSERT INTO {KEYSPACE}.kv (k, v, n, t, tags, at, id, price, attrs, home) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        at = datetime.datetime(2024, 5, 1, 12, 0, 0)
        execute_concurrent_with_args(
            s, ins, [(k, blob, k * 7, f"text-{k}", {"a", f"t{k % 10}"}, at, uuid.uuid4(), decimal.Decimal(k) / 8,
                      {"a": k, "b": -k}, (f"street {k}", k)) for k in range(rows)],
            concurrency=128, raise_on_first_error=True)
    finally:
        cluster.shutdown()


def measured(name: str, args: list[str], rows: int, ddb_pid: int | None, cas_pid: int | None) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    d0, c0 = proc_cpu(ddb_pid), proc_cpu(cas_pid)
    t0 = time.monotonic()
    r = cli(*args)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    d1, c1 = proc_cpu(ddb_pid), proc_cpu(cas_pid)
    if r.returncode not in (0,):
        raise RuntimeError(f"{name} failed ({r.returncode}):\n{r.stdout}\n{r.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ddb_cpu = None if d0 is None or d1 is None else d1 - d0
    cas_cpu = None if c0 is None or c1 is None else c1 - c0
    return {
        "name": name, "rows": rows, "wall_s": round(wall, 2), "rows_per_s": round(rows / wall),
        "process_cpu_s": round(cpu, 2), "rows_per_cpu_s": round(rows / cpu) if cpu else None,
        "dynamodb_local_cpu_s": None if ddb_cpu is None else round(ddb_cpu, 2),
        "dynamodb_local_rows_per_cpu_s": round(rows / ddb_cpu) if ddb_cpu else None,
        "cassandra_cpu_s": None if cas_cpu is None else round(cas_cpu, 2),
    }


def main() -> int:
    global KEYSPACE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cassandra", default="127.0.0.1:9042")
    ap.add_argument("--dynamodb", default="http://127.0.0.1:8000")
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--value-size", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--splits", type=int, default=64)
    ap.add_argument("--rich", action="store_true", help="more column types per row: timestamp, uuid, decimal, "
                    "map, frozen user type")
    ap.add_argument("--keyspace", default=KEYSPACE, help="dropped and created afresh (on a shared Cassandra, "
                    "pick one nobody else uses)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    KEYSPACE = a.keyspace

    work = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    mapping = work / "mapping.yaml"
    print(describe_machine(), file=sys.stderr)
    print(f"preloading {a.rows} rows ...", file=sys.stderr, flush=True)
    preload(a.cassandra, a.rows, a.value_size, a.rich)
    r = cli("mapping", "init", "--cassandra", a.cassandra, "--keyspace", KEYSPACE, "--table-prefix",
            f"bench{uuid.uuid4().hex[:6]}_", "-o", str(mapping))
    if r.returncode:
        raise RuntimeError(r.stderr)
    mapping.write_text(mapping.read_text().replace("phase: cassandra", "phase: dual_write"))
    r = cli("tables", "create", "--mapping", str(mapping), "--endpoint-url", a.dynamodb, "--region", "us-east-1")
    if r.returncode:
        raise RuntimeError(r.stdout + r.stderr)
    from translators.mapping import load_mapping

    tables = [tm.dynamodb_table for tm in load_mapping(mapping).tables.values()]
    ddb_pid = dynamodb_pid(a.dynamodb)
    cas_pid = pid_listening_on(int(a.cassandra.rsplit(":", 1)[1]))
    common = ["--mapping", str(mapping), "--cassandra", a.cassandra, "--dynamodb-endpoint", a.dynamodb,
              "--splits", str(a.splits), "--workers", str(a.workers), "--progress-interval", "30"]
    results = []
    try:
        results.append(measured("backfill", ["backfill", *common, "--force", "--ledger", str(work / "l1.jsonl")],
                                a.rows, ddb_pid, cas_pid))
        results.append(measured("backfill again", ["backfill", *common, "--force", "--ledger",
                                                   str(work / "l2.jsonl")], a.rows, ddb_pid, cas_pid))
        results.append(measured("validate", ["validate", *common, "--report", str(work / "report.jsonl")],
                                a.rows, ddb_pid, cas_pid))
    finally:
        import boto3

        ddb = boto3.client("dynamodb", endpoint_url=a.dynamodb, region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test")
        for t in tables:
            with contextlib.suppress(Exception):
                ddb.delete_table(TableName=t)
        with contextlib.suppress(Exception):
            from cassandra.cluster import Cluster

            host, port = a.cassandra.rsplit(":", 1)
            c = Cluster([host], port=int(port), protocol_version=4)
            c.connect().execute(f"DROP KEYSPACE IF EXISTS {KEYSPACE}")
            c.shutdown()
    cores = os.cpu_count() or 1
    print(f"\n{a.rows} rows{' (rich)' if a.rich else ''}, {a.workers} worker process(es), {a.splits} splits, {cores} cores\n")
    print(f"{'run':<16}{'wall s':>8}{'rows/s':>9}{'our CPU s':>11}{'rows/CPU-s':>12}{'DDB Local CPU s':>17}"
          f"{'DDB rows/CPU-s':>16}{'Cassandra CPU s':>17}")
    for x in results:
        print(f"{x['name']:<16}{x['wall_s']:>8}{x['rows_per_s']:>9}{x['process_cpu_s']:>11}"
              f"{x['rows_per_cpu_s'] or '-':>12}{x['dynamodb_local_cpu_s'] or '-':>17}"
              f"{x['dynamodb_local_rows_per_cpu_s'] or '-':>16}{x['cassandra_cpu_s'] or '-':>17}")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": a.rows, "workers": a.workers, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
