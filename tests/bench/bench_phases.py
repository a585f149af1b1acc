#!/usr/bin/env python3
"""What each phase costs a request when DynamoDB is a network round trip away: the same prepared
writes and reads through one sidecar per phase, DynamoDB reached through a latency proxy
(Toxiproxy, +3 ms on every answer by default), against Cassandra directly, in alternating rounds.

    .venv/bin/python tests/bench/bench_phases.py [--duration S] [--round S] [--warmup S]
        [--concurrency 1,8] [--workloads write,read[,query]] [--ddb-latency-ms 3]
        [--targets direct,cassandra,sync,queued,verify,dynamo_fallback,dynamo] [--driver go|python]
        [--json out.json]

Targets, each a sidecar started for the run from one mapping (`--phases` sets the phase):
  direct           Cassandra without a sidecar: the reference for added latency
  cassandra        phase `cassandra`: pure pass-through
  sync / queued    phase `dual_write`, write_mode sync / queued (the queue is drained after each
                   write round; the drain's CPU and DynamoDB calls count towards its writes)
  verify           phase `verify`: reads from Cassandra, --verify-sample % also read from DynamoDB
  dynamo_fallback  reads from DynamoDB (Cassandra on a miss), writes DynamoDB then Cassandra
  dynamo           DynamoDB only

Workloads (prepared, random keys): `write`, INSERT (k, v) with --update-ratio UPDATE ... SET v = ?
on `pb_phases.kv (k int PRIMARY KEY, v blob)`; `read`, SELECT by k (one row); `query` (not by
default), one --rows-row partition of `pb_phases.rows (p int, c int, v blob, PRIMARY KEY (p, c))`.
Every key and partition is written into both stores first (a sidecar in dual_write straight to
DynamoDB Local), so reads find their rows in every phase and writes overwrite existing items.
Writes and reads run in rounds of their own, so CPU, DynamoDB calls and consumed capacity are
charged per write and per read.
The load generator is the harness's (--driver): the Go program (its workloads write, kv with
read_ratio 1, and query) or Python driver processes running the same statements.

Per phase: p50/p99 and the latency added against direct Cassandra, throughput, the sidecar's CPU per
request, DynamoDB calls per request by operation (the sidecar's
`cdp_dynamodb_request_duration_seconds` counts) and the capacity units DynamoDB reported per request
(`cdp_dynamodb_consumed_capacity_units_total`). It ends with the targets of the write path, checked
against the DynamoDB round trip measured through the proxy at the start.

Needs Cassandra, DynamoDB Local and Go (Toxiproxy is built on first use). The keyspace
(`pb_phases`, or CDP_BENCH_KEYSPACE) and the DynamoDB tables are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
# bench_dual_write's keyspace variable: its kv table, statements, schema, prefill and clean-up are
# this benchmark's too (set before the import; the spawned load generators inherit it)
os.environ.setdefault("CDP_BENCH_KEYSPACE", "pb_phases")

from bench_dual_write import (
    AWS_ENV,
    INSERT_CQL,
    KEYSPACE,
    UPDATE_CQL,
    DAcc,
    Target,
    UpdateBinder,
    add_cpu,
    cleanup,
    cli,
    create_schema,
    drain,
    dynamodb_pid,
    in_child,
    prefill,
    series,
    us_per,
)
from bench_harness import (
    VALUE_SIZE,
    LoadGenerator,
    Round,
    SidecarProc,
    add_driver_args,
    check_driver_args,
    describe_machine,
    fmt,
    hostport,
    make_cluster,
    measured_round,
    pid_listening_on,
    prepare_driver,
    proc_cpu,
    report_failure,
    run_and_report,
    start_sidecar,
    start_workers,
    summarize,
)
from bench_reads import KeyBinder, ReadRound
from latency_proxy import LatencyProxy

KV, ROWS = "kv", "rows"
# target -> (phase, write_mode)
PHASES = {"cassandra": ("cassandra", "sync"), "sync": ("dual_write", "sync"), "queued": ("dual_write", "queued"),
          "verify": ("verify", "sync"), "dynamo_fallback": ("dynamo_fallback", "sync"), "dynamo": ("dynamo", "sync")}
TARGETS = ("direct", *PHASES)
BASE = "direct"
WORKLOADS = ("write", "read", "query")
# what each workload is called in the harness's workload set (kv with read_ratio 1: reads by key)
HARNESS_WORKLOAD = {"write": "write", "read": "kv", "query": "query"}
# the aims the write path is held to, checked at concurrency 1
AIM_ADDED_MS = 0.3  # sync dual_write: p50 added over direct Cassandra at most one DynamoDB round trip + this
AIM_CALLS_PER_WRITE = 1.1  # DynamoDB calls per mirrored write
CAPACITY = "cdp_dynamodb_consumed_capacity_units_total"
DDB_OPS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
           "TransactWriteItems")


SELECT_CQL = f"SELECT k, v FROM {KEYSPACE}.{KV} WHERE k = ?"
ROW_CQL = f"INSERT INTO {KEYSPACE}.{ROWS} (p, c, v) VALUES (?, ?, ?)"
QUERY_CQL = f"SELECT p, c, v FROM {KEYSPACE}.{ROWS} WHERE p = ?"


# -- set-up ----------------------------------------------------------------------------------------
def create_rows_table(cassandra: str, protocol: int) -> None:
    """In a spawned child: this process forks the sidecars afterwards."""
    host, port = hostport(cassandra)
    cluster = make_cluster(host, port, protocol, "none")
    try:
        cluster.connect().execute(f"CREATE TABLE {KEYSPACE}.{ROWS} (p int, c int, v blob, PRIMARY KEY (p, c))",
                                  timeout=120)
    finally:
        cluster.shutdown()


def make_mappings(cassandra: str, endpoint: str, workdir: Path) -> tuple[Path, Path, dict[str, str]]:
    """The mapping from `mapping init` (sync; the phases come from --phases), a queued copy, and the
    DynamoDB tables from `tables create` (by CQL table name)."""
    sync = workdir / "sync.yaml"
    cli("mapping", "init", "--cassandra", cassandra, "--keyspace", KEYSPACE,
        "--table-prefix", f"pb_{uuid.uuid4().hex[:6]}_", "-o", str(sync))
    text = sync.read_text()
    if "write_mode: sync" not in text:
        raise RuntimeError(f"unexpected mapping from `mapping init`:\n{text}")
    queued = workdir / "queued.yaml"
    queued.write_text(text.replace("write_mode: sync", "write_mode: queued"))
    cli("tables", "create", "--mapping", str(sync), "--endpoint-url", endpoint, "--region", "us-east-1")
    from translators.mapping import load_mapping

    return sync, queued, {tm.cql_name: tm.dynamodb_table for tm in load_mapping(sync).tables.values()}


def fill_rows(endpoint: str, partitions: int, rows: int, protocol: int) -> None:
    from cassandra.concurrent import execute_concurrent_with_args

    host, port = hostport(endpoint)
    cluster = make_cluster(host, port, protocol, "none")
    try:
        s = cluster.connect()
        value = os.urandom(VALUE_SIZE)
        execute_concurrent_with_args(s, s.prepare(ROW_CQL), [(p, c, value) for p in range(partitions)
                                                             for c in range(rows)],
                                     concurrency=64, raise_on_first_error=True)
    finally:
        cluster.shutdown()


def round_trip_ms(endpoint: str, table: str, n: int = 100) -> float:
    """Median time of a one-item consistent GetItem with the sidecar's own client (sequential)."""
    from proxy.aws.dynamodb_client import DynamoDBClient
    from proxy.aws.sigv4 import FrozenCredentials

    creds = FrozenCredentials("test", "test")

    async def probe() -> float:
        async with DynamoDBClient(region="us-east-1", endpoint=endpoint, credentials=lambda: creds) as c:
            key = {"pk": {"N": "0"}}
            await c.get_item(TableName=table, Key=key, ConsistentRead=True)  # the connection
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                await c.get_item(TableName=table, Key=key, ConsistentRead=True)
                times.append(time.perf_counter() - t0)
            return statistics.median(times) * 1e3

    return asyncio.run(probe())


# -- load generator --------------------------------------------------------------------------------
def phase_worker_main(conn: Any, wid: int, cfg: dict[str, Any]) -> None:
    """One Python load-generator process (the harness's protocol): a driver session per target, the
    workloads' prepared statements; runs ("run", "target/workload", concurrency, seconds)."""
    try:
        clusters, rounds = [], {}
        value, other = os.urandom(cfg["value_size"]), os.urandom(cfg["value_size"])
        for target, addr in cfg["endpoints"].items():
            host, port = hostport(addr)
            cluster = make_cluster(host, port, cfg["protocol"], cfg["compression"])
            clusters.append(cluster)
            s = cluster.connect()
            for w in cfg["workloads"]:
                if w == "write":
                    upd = s.prepare(UPDATE_CQL)
                    rounds[f"{target}/{w}"] = (Round, UpdateBinder(s, upd, other), s.prepare(INSERT_CQL), upd,
                                               cfg["update_ratio"], cfg["keys"], {})
                elif w == "kv":
                    rounds[f"{target}/{w}"] = (ReadRound, s, None, s.prepare(SELECT_CQL), cfg["read_ratio"],
                                               cfg["keys"], {"expect": 1})
                else:
                    rounds[f"{target}/{w}"] = (ReadRound, KeyBinder(s, "query", cfg["rows"]), None,
                                               s.prepare(QUERY_CQL), 1.0, cfg["partitions"],
                                               {"expect": cfg["rows"]})
        conn.send(("ready", None))
        seq = 0
        while (msg := conn.recv())[0] != "stop":
            _, key, concurrency, duration = msg
            kind, session, first, second, ratio, keys, extra = rounds[key]
            seq += 1
            r = kind(session, first, second, concurrency, duration, ratio, keys, value, seed=wid * 1_000_003 + seq,
                     **extra)
            run_and_report(conn, r)
        for c in clusters:
            c.shutdown()
    except Exception as e:
        report_failure(conn, wid, e)


# -- measurement -----------------------------------------------------------------------------------
@dataclass
class PAcc(DAcc):
    proxy_cpu: float | None = 0.0  # the latency proxy, rounds and drains


def sidecar_counts(t: Target) -> dict[str, float]:
    if t.sidecar is None:
        return {}
    m = t.metrics()
    out = {f"{op}_n": series(m, "cdp_dynamodb_request_duration_seconds_count", operation=op) for op in DDB_OPS}
    out |= {f"{op}_s": series(m, "cdp_dynamodb_request_duration_seconds_sum", operation=op) for op in DDB_OPS}
    out["read_units"] = series(m, CAPACITY, kind="read")
    out["write_units"] = series(m, CAPACITY, kind="write")
    out["errors"] = (series(m, "cdp_dynamodb_errors_total")
                     - series(m, "cdp_dynamodb_errors_total", code="ConditionalCheckFailedException"))
    out["conflicts"] = series(m, "cdp_dynamodb_errors_total", code="ConditionalCheckFailedException")
    return out


def one_round(workers: LoadGenerator, t: Target, workload: str, concurrency: int, duration: float,
              pids: dict[str, int | None], acc: PAcc | None, drain_timeout: float) -> None:
    m0 = sidecar_counts(t) if acc is not None else {}
    d0, x0 = proc_cpu(pids["dynamodb"]), proc_cpu(pids["proxy"])
    measured_round(workers, f"{t.name}/{HARNESS_WORKLOAD[workload]}", concurrency, duration,
                   t.pid, pids["cassandra"], acc)
    d1 = proc_cpu(pids["dynamodb"])
    if t.name == "queued" and workload == "write":
        s0, c0 = proc_cpu(t.pid), proc_cpu(pids["cassandra"])
        secs, depth, backlog = drain(t, drain_timeout)
        s1, c1, d2 = proc_cpu(t.pid), proc_cpu(pids["cassandra"]), proc_cpu(pids["dynamodb"])
        if acc is not None:
            acc.drains.append(secs)
            acc.depth_at_stop.append(depth)
            acc.backlog_at_stop.append(backlog)
            acc.drain_sidecar_cpu += (s1 or 0.0) - (s0 or 0.0)
            acc.drain_ddb_cpu = add_cpu(acc.drain_ddb_cpu, d1, d2)
            acc.drain_cassandra_cpu = add_cpu(acc.drain_cassandra_cpu, c0, c1)
    if acc is not None:
        acc.ddb_cpu = add_cpu(acc.ddb_cpu, d0, d1)
        acc.proxy_cpu = add_cpu(acc.proxy_cpu, x0, proc_cpu(pids["proxy"]))
        for k, v in sidecar_counts(t).items():
            acc.ddb[k] = acc.ddb.get(k, 0.0) + v - m0.get(k, 0.0)


def summarize_target(acc: PAcc) -> dict[str, Any]:
    out = summarize(acc)
    n = acc.completed
    for k in ("sidecar_cpu_s_per_1k", "cassandra_cpu_s_per_1k", "generator_cpu_s_per_1k"):
        del out[k]  # replaced by the per-request figures below (with the queue's drain)
    out["sidecar_cpu_us"] = us_per(acc.sidecar_cpu + acc.drain_sidecar_cpu, n) if acc.has_sidecar else None
    ddb = add_cpu(acc.ddb_cpu, 0.0, acc.drain_ddb_cpu)
    out["dynamodb_local_cpu_us"] = us_per(ddb, n)
    out["dynamodb_local_cpu_s"] = ddb
    out["seconds_with_drain"] = acc.seconds + sum(acc.drains)
    out["latency_proxy_cpu_us"] = us_per(acc.proxy_cpu, n)
    out["generator_cpu_us"] = us_per(acc.gen_cpu, n)
    d = acc.ddb
    calls = {op: d.get(f"{op}_n", 0.0) / n for op in DDB_OPS if n and d.get(f"{op}_n")}
    out["dynamodb"] = {
        "calls_per_request": sum(calls.values()) if n and acc.has_sidecar else None,
        "calls_by_operation": calls,
        "call_mean_ms": {op: d[f"{op}_s"] / d[f"{op}_n"] * 1e3 for op in DDB_OPS if d.get(f"{op}_n")},
        "read_units_per_request": d.get("read_units", 0.0) / n if n and acc.has_sidecar else None,
        "write_units_per_request": d.get("write_units", 0.0) / n if n and acc.has_sidecar else None,
        "errors": d.get("errors", 0.0),
        "conflicts": d.get("conflicts", 0.0),
    }
    if acc.drains:
        out["queue"] = {"backlog_at_stop_max": max(acc.backlog_at_stop), "drain_seconds_total": sum(acc.drains)}
    return out


def run_level(workers: LoadGenerator, workload: str, concurrency: int, args: argparse.Namespace, targets: list[Target],
              pids: dict[str, int | None]) -> dict[str, Any]:
    for t in targets:  # warm-up: connections, prepared statements, caches
        one_round(workers, t, workload, concurrency, args.warmup, pids, None, args.drain_timeout)
    rounds = max(1, math.ceil(args.duration / args.round))
    length = args.duration / rounds
    accs = {t.name: PAcc(has_sidecar=t.sidecar is not None) for t in targets}
    for i in range(rounds):
        for t in targets if i % 2 == 0 else targets[::-1]:  # ABBA: cancels linear drift
            one_round(workers, t, workload, concurrency, length, pids, accs[t.name], args.drain_timeout)
    out: dict[str, Any] = {"workload": workload, "concurrency": concurrency, "rounds_per_target": rounds,
                           "round_seconds": length}
    for t in targets:
        out[t.name] = summarize_target(accs[t.name])
    # DynamoDB Local is shared with whatever else runs on the machine: its CPU rate during the
    # rounds of targets that made no DynamoDB call is its background, taken off the others'
    idle = [out[t.name] for t in targets if not out[t.name]["dynamodb"]["calls_per_request"]
            and out[t.name]["dynamodb_local_cpu_s"] is not None and out[t.name]["seconds_with_drain"]]
    bg = sum(x["dynamodb_local_cpu_s"] / x["seconds_with_drain"] for x in idle) / len(idle) if idle else None
    for t in targets:
        x = out[t.name]
        busy = x.pop("dynamodb_local_cpu_s")
        x["dynamodb_local_background_cores"] = bg
        x["dynamodb_local_cpu_us_net"] = (
            us_per(max(0.0, busy - bg * x["seconds_with_drain"]), x["requests"])
            if bg is not None and busy is not None and x["dynamodb"]["calls_per_request"] else None)
    base = out.get(BASE)
    for t in targets:
        if base is not None and t.name != BASE:
            for q in ("p50", "p99"):
                out[t.name][f"added_{q}_ms"] = out[t.name]["latency_ms"][q] - base["latency_ms"][q]
    return out


# -- report ----------------------------------------------------------------------------------------
def calls_text(calls: dict[str, float]) -> str:
    short = {"GetItem": "Get", "PutItem": "Put", "UpdateItem": "Upd", "DeleteItem": "Del", "Query": "Qry",
             "BatchWriteItem": "BW", "BatchGetItem": "BG", "TransactWriteItems": "TW", "Scan": "Scan"}
    return " ".join(f"{short[op]} {n:.2f}" for op, n in calls.items()) or "-"


def print_tables(levels: list[dict[str, Any]], names: list[str]) -> None:
    print()
    print("Latency (submit to answer in the load generator, ms), added against direct Cassandra, and throughput")
    hdr = (f"{'workload':<8} {'conc':>4} {'target':<15} {'op/s':>7} {'p50':>7} {'p99':>7} {'+p50':>7} {'+p99':>7} "
           f"{'errors':>6}")
    print(hdr)
    print("-" * len(hdr))
    for lv in levels:
        for t in names:
            x = lv[t]
            print(f"{lv['workload']:<8} {lv['concurrency']:>4} {t:<15} {x['ops_per_s']:>7,.0f} "
                  f"{x['latency_ms']['p50']:>7.3f} {x['latency_ms']['p99']:>7.3f} "
                  f"{fmt(x.get('added_p50_ms'), '+.3f'):>7} {fmt(x.get('added_p99_ms'), '+.3f'):>7} {x['errors']:>6}")
    print()
    print("Per request: CPU (µs) of the sidecar (queued: with its drain), DynamoDB Local (less its background\n"
          "in the rounds without DynamoDB calls) and the latency proxy; DynamoDB calls and the capacity units\n"
          "DynamoDB reported for them (RCU, WCU)")
    hdr = (f"{'workload':<8} {'conc':>4} {'target':<15} {'sidecar':>7} {'ddb':>6} {'proxy':>6} {'calls':>5} "
           f"{'RCU':>5} {'WCU':>5}  calls by operation")
    print(hdr)
    print("-" * len(hdr))
    for lv in levels:
        for t in names:
            x = lv[t]
            d = x["dynamodb"]
            print(f"{lv['workload']:<8} {lv['concurrency']:>4} {t:<15} {fmt(x['sidecar_cpu_us'], '.0f'):>7} "
                  f"{fmt(x['dynamodb_local_cpu_us_net'], '.0f'):>6} {fmt(x['latency_proxy_cpu_us'], '.0f'):>6} "
                  f"{fmt(d['calls_per_request'], '.2f'):>5} {fmt(d['read_units_per_request'], '.2f'):>5} "
                  f"{fmt(d['write_units_per_request'], '.2f'):>5}  {calls_text(d['calls_by_operation'])}")
    for lv in levels:
        for t in names:
            x, where = lv[t], f"{lv['workload']} at concurrency {lv['concurrency']} ({t})"
            if x["errors"]:
                print(f"  errors during {where}; first: {x['first_error']}")
            if x["dynamodb"]["errors"]:
                print(f"  DynamoDB errors during {where}: {x['dynamodb']['errors']:.0f}")


def check_aims(levels: list[dict[str, Any]], rtt_ms: float) -> list[dict[str, Any]]:
    """The write path's aims at concurrency 1, each with the measured figure."""
    aims: list[dict[str, Any]] = []
    writes = next((lv for lv in levels if lv["workload"] == "write" and lv["concurrency"] == 1), None)
    if writes is None:
        return aims
    if "sync" in writes and "added_p50_ms" in writes["sync"]:
        limit = rtt_ms + AIM_ADDED_MS
        got = writes["sync"]["added_p50_ms"]
        d = writes["sync"]["dynamodb"]
        # what the sidecar waited on DynamoDB per write, and what is left: its own time
        waited = sum(d["call_mean_ms"][op] * n for op, n in d["calls_by_operation"].items())
        aims.append({"aim": f"sync dual_write adds <= 1 DynamoDB round trip + {AIM_ADDED_MS} ms p50 (conc 1)",
                     "limit": limit, "measured": got, "met": got <= limit,
                     "note": "the sidecar saw " + ", ".join(f"{op} {ms:.2f} ms" for op, ms in d["call_mean_ms"].items())
                             + f"; about {got - waited:+.2f} ms besides its DynamoDB calls"})
    for t in ("sync", "queued", "verify", "dynamo_fallback", "dynamo"):
        if t in writes and writes[t]["dynamodb"]["calls_per_request"] is not None:
            got = writes[t]["dynamodb"]["calls_per_request"]
            aims.append({"aim": f"{t}: <= {AIM_CALLS_PER_WRITE} DynamoDB calls per mirrored write (conc 1)",
                         "limit": AIM_CALLS_PER_WRITE, "measured": got, "met": got <= AIM_CALLS_PER_WRITE})
    return aims


def print_aims(aims: list[dict[str, Any]], rtt_ms: float, direct_ms: float) -> None:
    print()
    print(f"Aims (DynamoDB round trip through the latency proxy: {rtt_ms:.2f} ms p50; direct {direct_ms:.2f} ms)")
    for a in aims:
        print(f"  {'met   ' if a['met'] else 'MISSED'} {a['aim']}: {a['measured']:.2f} (limit {a['limit']:.2f})")
        if a.get("note"):
            print(f"         ({a['note']})")


# -- main ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per target, workload and level "
                   "(default 10)")
    p.add_argument("--round", type=float, default=5.0, help="length of one alternating round (default 5 s)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per target and level (default 1)")
    p.add_argument("--concurrency", default="1,8", help="outstanding requests, comma-separated (default 1,8)")
    p.add_argument("--workloads", default="write,read", help=f"comma-separated, of {', '.join(WORKLOADS)}")
    p.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    p.add_argument("--ddb-latency-ms", type=int, default=3,
                   help="latency added to DynamoDB's answers by the proxy (default 3; jitter 0)")
    p.add_argument("--ddb-latency-upstream-ms", type=int, default=0,
                   help="latency added to the requests to DynamoDB as well (default 0)")
    p.add_argument("--update-ratio", type=float, default=0.2, help="share of UPDATEs among writes (default 0.2)")
    p.add_argument("--keys", type=int, default=5000, help="keys of the kv table (default 5000)")
    p.add_argument("--partitions", type=int, default=200, help="partitions of the rows table, query (default 200)")
    p.add_argument("--rows", type=int, default=20, help="rows per partition (default 20)")
    p.add_argument("--verify-sample", type=float, default=None,
                   help="percentage of reads the verify sidecar compares (default: the sidecar's, 10)")
    add_driver_args(p)
    p.add_argument("--cassandra", default="127.0.0.1:9042", help="Cassandra HOST:PORT")
    p.add_argument("--dynamodb-endpoint", default="http://127.0.0.1:8000", help="DynamoDB Local URL")
    p.add_argument("--drain-timeout", type=float, default=120.0, help="longest wait for the queue to empty")
    p.add_argument("--sidecar-arg", action="append", default=[], help="extra `serve` argument, repeatable")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = p.parse_args(argv)
    args.levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    args.target_list = [t.strip() for t in args.targets.split(",") if t.strip()]
    args.workload_list = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if not args.levels or any(c < 1 for c in args.levels):
        p.error("--concurrency needs positive integers")
    if not args.target_list or any(t not in TARGETS for t in args.target_list):
        p.error(f"--targets takes {', '.join(TARGETS)}")
    if not args.workload_list or any(w not in WORKLOADS for w in args.workload_list):
        p.error(f"--workloads takes {', '.join(WORKLOADS)}")
    check_driver_args(p, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds: sidecars and workers are stopped
    for k, v in AWS_ENV.items():
        os.environ.setdefault(k, v)
    prepare_driver(args)
    t_start = time.monotonic()
    machine = describe_machine()
    load0 = os.getloadavg()
    print(f"machine: {machine['cpus']} CPUs ({machine['cpu_model']}), Python {machine['python']}; Cassandra, "
          "DynamoDB Local, the latency proxy, every sidecar and the load generator share them; load average "
          f"{load0[0]:.2f} before the run")
    with_rows = "query" in args.workload_list
    levels: list[dict[str, Any]] = []
    tables: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp:
        work = Path(tmp)
        sidecars: list[SidecarProc] = []
        pools: list[LoadGenerator] = []
        proxy: LatencyProxy | None = None
        try:
            in_child(create_schema, args.cassandra, args.protocol)
            if with_rows:
                in_child(create_rows_table, args.cassandra, args.protocol)
            sync_map, queued_map, tables = make_mappings(args.cassandra, args.dynamodb_endpoint, work)
            ddb = urlparse(args.dynamodb_endpoint)
            proxy = LatencyProxy.start((ddb.hostname or "127.0.0.1", ddb.port or 8000), args.ddb_latency_ms,
                                       args.ddb_latency_upstream_ms, work)
            kv_table = tables[f"{KEYSPACE}.{KV}"]
            rtt = round_trip_ms(proxy.endpoint, kv_table)
            direct_rtt = round_trip_ms(args.dynamodb_endpoint, kv_table)
            print(f"latency proxy: toxiproxy {proxy.version} (pid {proxy.pid}) at {proxy.endpoint}, +{args.ddb_latency_ms}"
                  f" ms on answers, +{args.ddb_latency_upstream_ms} ms on requests; DynamoDB round trip "
                  f"{rtt:.2f} ms through it, {direct_rtt:.2f} ms direct", flush=True)

            def sidecar(name: str, mapping: Path, phase: str, endpoint: str) -> SidecarProc:
                d = work / name
                d.mkdir()
                extra = ["--mapping", str(mapping), "--dynamodb-endpoint", endpoint, "--state-dir", str(d / "state"),
                         "--phases", ",".join(f"{KEYSPACE}.{t}={phase}" for t in ((KV, ROWS) if with_rows else (KV,))),
                         *args.sidecar_arg]
                if args.verify_sample is not None:
                    extra += ["--verify-sample", str(args.verify_sample)]
                sc = start_sidecar(args.cassandra, d, None, extra)
                sidecars.append(sc)
                return sc

            # every sidecar is started before this process opens driver connections (it forks)
            filler = sidecar("fill", sync_map, "dual_write", args.dynamodb_endpoint)
            ts: list[Target] = []
            for n in args.target_list:
                if n == BASE:
                    ts.append(Target(BASE, args.cassandra))
                    continue
                phase, mode = PHASES[n]
                sc = sidecar(n, queued_map if mode == "queued" else sync_map, phase, proxy.endpoint)
                ts.append(Target(n, f"127.0.0.1:{sc.port}", sc))
            secs = prefill(f"127.0.0.1:{filler.port}", args.keys, args.protocol)
            if with_rows:
                t0 = time.monotonic()
                fill_rows(f"127.0.0.1:{filler.port}", args.partitions, args.rows, args.protocol)
                secs += time.monotonic() - t0
            print(f"wrote {args.keys} keys" + (f" and {args.partitions} x {args.rows} rows" if with_rows else "")
                  + f" into both stores in {secs:.1f} s", flush=True)
            filler.stop()
            sidecars.remove(filler)
            pids = {"cassandra": pid_listening_on(hostport(args.cassandra)[1]),
                    "dynamodb": dynamodb_pid(args.dynamodb_endpoint), "proxy": proxy.pid}
            for t in ts:
                print(f"  {t.name:<15} {t.endpoint}" + (f" (sidecar pid {t.pid})" if t.pid else ""))
            base_cfg = {"endpoints": {t.name: t.endpoint for t in ts}, "protocol": args.protocol,
                        "compression": args.compression, "keyspace": KEYSPACE, "value_size": VALUE_SIZE,
                        "keys": args.keys, "update_ratio": args.update_ratio, "read_ratio": 1.0,
                        "partitions": args.partitions, "rows": args.rows}
            nprocs = max(1, min(args.procs, max(args.levels)))
            kv_workloads = [HARNESS_WORKLOAD[w] for w in args.workload_list if w != "query"]
            pool_of: dict[str, LoadGenerator] = {}
            if kv_workloads:
                pools.append(start_workers(args.driver, nprocs, {**base_cfg, "table": KV, "workloads": kv_workloads},
                                           phase_worker_main, work))
                pool_of |= {w: pools[-1] for w in args.workload_list if w != "query"}
            if with_rows:
                pools.append(start_workers(args.driver, nprocs, {**base_cfg, "table": ROWS, "workloads": ["query"]},
                                           phase_worker_main, work))
                pool_of["query"] = pools[-1]
            print(f"load generator: {args.driver}, {nprocs} process(es) per table", flush=True)
            for w in args.workload_list:
                for c in args.levels:
                    lv = run_level(pool_of[w], w, c, args, ts, pids)
                    levels.append(lv)
                    print(f"  {w:<5} concurrency {c:>3}: " + "; ".join(
                        f"{t.name} p50 {lv[t.name]['latency_ms']['p50']:.2f} ms" for t in ts), flush=True)
        finally:
            for pool in pools:
                pool.stop()
            for sc in sidecars:
                rc = sc.stop()
                if rc not in (0, None):
                    print(f"sidecar exited with {rc}; log:\n{sc.log_path.read_text(errors='replace')[-4000:]}")
            if proxy is not None:
                proxy.stop()
            cleanup(args.cassandra, args.protocol, args.dynamodb_endpoint, list(tables.values()))

    print_tables(levels, args.target_list)
    aims = check_aims(levels, rtt)
    print_aims(aims, rtt, direct_rtt)
    elapsed = time.monotonic() - t_start
    print(f"\ntotal wall time {elapsed:.0f} s; load average {load0[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("json",)}
        doc = {"machine": machine, "settings": settings, "dynamodb_round_trip_ms": {"proxy": rtt, "direct": direct_rtt},
               "levels": levels, "aims": aims, "wall_seconds": elapsed}
        Path(args.json).write_text(json.dumps(doc, indent=2, default=lambda o: None) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
