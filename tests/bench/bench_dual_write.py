#!/usr/bin/env python3
"""Cost of mirroring writes into DynamoDB: the same write workload through three sidecars started
for the run, at several fixed concurrencies, in alternating short rounds.

    .venv/bin/python tests/bench/bench_dual_write.py [--duration S] [--warmup S]
        [--concurrency 1,8,32] [--targets phase-cassandra,sync,queued,direct] [--json out.json]

The default run takes about 2.5 minutes.

Targets (one sidecar each, all in front of the same Cassandra table):
  phase-cassandra  the table's mapping in phase `cassandra`: pure pass-through, the reference
  sync             phase `dual_write`, write_mode `sync`: the client is answered once Cassandra
                   and DynamoDB both have the write (DynamoDB: one conditional UpdateItem for a
                   write newer than the item, else GetItem, merge, conditional PutItem)
  queued           phase `dual_write`, write_mode `queued`: answered once Cassandra and the local
                   journal have it; background workers apply it to DynamoDB
  direct           Cassandra without a sidecar (a reference; leave it out with --targets)

Workload: prepared `INSERT (k, v)` with 1 KiB blobs and --update-ratio (default 20 %) prepared
`UPDATE ... SET v = ?`, random keys over --keys (default 10,000, written through the sync sidecar
first so that every measured write overwrites an existing row in both stores).

The queued sidecar's queue is drained after each of its rounds (waiting until the journal backlog
is 0): its background DynamoDB writes would otherwise run during the next target's round and be
charged to it. The time that takes, and the queue's state when the load stopped, are reported; the
sidecar's and DynamoDB Local's CPU during the drain count towards the queued writes.

Needs the local Cassandra and DynamoDB Local (`deploy/local/backends up cassandra dynamodb`). The
keyspace (`dual_write_bench`, or `CDP_BENCH_KEYSPACE`) and the DynamoDB tables the run creates are
dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_harness import (
    CLK_TCK,
    OTHER_LOAD_WARN,
    ROOT,
    VALUE_SIZE,
    Acc,
    LoadGenerator,
    Round,
    SidecarProc,
    add_driver_args,
    check_driver_args,
    compare_to,
    describe_machine,
    fmt,
    header,
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

# CDP_BENCH_KEYSPACE: a keyspace of one's own on a Cassandra others use too (the run drops it);
# an environment variable, so the spawned load generators see the same one
KEYSPACE = os.environ.get("CDP_BENCH_KEYSPACE", "dual_write_bench")
TABLE = "kv"
TARGETS = ("phase-cassandra", "sync", "queued", "direct")
BASE = "phase-cassandra"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
INSERT_CQL = f"INSERT INTO {KEYSPACE}.{TABLE} (k, v) VALUES (?, ?)"
UPDATE_CQL = f"UPDATE {KEYSPACE}.{TABLE} SET v = ? WHERE k = ?"
DDB_PID_FILE = Path.home() / ".cache" / "cql-dynamo-proxy" / "run" / "dynamodb" / "pid.json"


# -- set-up ----------------------------------------------------------------------------------------
def create_schema(cassandra: str, protocol: int) -> None:
    """Runs in a spawned child: this process forks the sidecars afterwards and must not hold
    driver threads when it does."""
    host, port = hostport(cassandra)
    cluster = make_cluster(host, port, protocol, "none")
    try:
        s = cluster.connect()
        s.execute(f"DROP KEYSPACE IF EXISTS {KEYSPACE}")  # a run that was killed
        s.execute(f"CREATE KEYSPACE {KEYSPACE} WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute(f"CREATE TABLE {KEYSPACE}.{TABLE} (k int PRIMARY KEY, v blob)")
    finally:
        cluster.shutdown()


def in_child(fn: Any, *args: Any) -> None:
    p = mp.get_context("spawn").Process(target=fn, args=args)
    p.start()
    p.join(180)
    if p.exitcode != 0:
        raise RuntimeError(f"{fn.__name__} failed (exit code {p.exitcode})")


def cli(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "proxy.cli", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"proxy.cli {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def make_mappings(cassandra: str, endpoint: str, workdir: Path) -> tuple[dict[str, Path], list[str]]:
    """One mapping per sidecar (from `mapping init`, edited as an operator would), and the DynamoDB
    tables from `tables create`."""
    base = workdir / "phase-cassandra.yaml"
    cli("mapping", "init", "--cassandra", cassandra, "--keyspace", KEYSPACE,
        "--table-prefix", f"bench{uuid.uuid4().hex[:6]}_", "-o", str(base))
    text = base.read_text()
    if "phase: cassandra" not in text or "write_mode: sync" not in text:
        raise RuntimeError(f"unexpected mapping from `mapping init`:\n{text}")
    dual = text.replace("phase: cassandra", "phase: dual_write")
    paths = {"phase-cassandra": base, "sync": workdir / "sync.yaml", "queued": workdir / "queued.yaml"}
    paths["sync"].write_text(dual)
    paths["queued"].write_text(dual.replace("write_mode: sync", "write_mode: queued"))
    cli("tables", "create", "--mapping", str(paths["sync"]), "--endpoint-url", endpoint, "--region", "us-east-1")
    from translators.mapping import load_mapping

    return paths, [tm.dynamodb_table for tm in load_mapping(paths["sync"]).tables.values()]


def prefill(endpoint: str, keys: int, protocol: int) -> float:
    from cassandra.concurrent import execute_concurrent_with_args

    t0 = time.monotonic()
    host, port = hostport(endpoint)
    cluster = make_cluster(host, port, protocol, "none")
    try:
        s = cluster.connect()
        ins = s.prepare(INSERT_CQL)
        value = os.urandom(VALUE_SIZE)
        execute_concurrent_with_args(s, ins, [(k, value) for k in range(keys)], concurrency=64,
                                     raise_on_first_error=True)
    finally:
        cluster.shutdown()
    return time.monotonic() - t0


def cleanup(cassandra: str, protocol: int, endpoint: str, tables: list[str]) -> None:
    with contextlib.suppress(Exception):
        host, port = hostport(cassandra)
        cluster = make_cluster(host, port, protocol, "none")
        try:
            cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {KEYSPACE}", timeout=120)
        finally:
            cluster.shutdown()
    if tables:
        import boto3

        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        for t in tables:
            with contextlib.suppress(Exception):
                ddb.delete_table(TableName=t)


def dynamodb_pid(endpoint: str) -> int | None:
    port = urlparse(endpoint).port or 8000
    pid = pid_listening_on(port)
    if pid is None:
        with contextlib.suppress(Exception):
            info = json.loads(DDB_PID_FILE.read_text())
            pid = int(info["pid"]) if int(info.get("port", port)) == port else None
    return pid


# -- the sidecars' admin endpoint ------------------------------------------------------------------
@dataclass
class Target:
    name: str
    endpoint: str
    sidecar: SidecarProc | None = None

    @property
    def pid(self) -> int | None:
        return self.sidecar.pid if self.sidecar else None

    def metrics(self) -> dict[str, float]:
        if self.sidecar is None:
            return {}
        args = [str(a) for a in self.sidecar.proc.args]  # type: ignore[union-attr]
        admin, token = args[args.index("--admin") + 1], args[args.index("--admin-token") + 1]
        req = urllib.request.Request(f"http://{admin}/metrics", headers={"Authorization": f"Bearer {token}"})
        out: dict[str, float] = {}
        for line in urllib.request.urlopen(req, timeout=10).read().decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


def series(m: dict[str, float], name: str, **labels: str) -> float:
    """Sum of a metric over the series whose labels include `labels`."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in m.items()
               if (k == name or k.startswith(name + "{")) and all(w in k for w in want))


def ddb_counts(m: dict[str, float]) -> dict[str, float]:
    # a failed merge condition is a conflict (counted apart), not an error
    out = {"conflicts": series(m, "cdp_merge_conflicts_total"),
           "dynamodb_errors": series(m, "cdp_dynamodb_errors_total")
           - series(m, "cdp_dynamodb_errors_total", code="ConditionalCheckFailedException"),
           "mirror_failures": series(m, "cdp_dual_write_failures_total")}
    for op in DDB_OPS:
        out[f"{op}_n"] = series(m, "cdp_dynamodb_request_duration_seconds_count", operation=op)
        out[f"{op}_s"] = series(m, "cdp_dynamodb_request_duration_seconds_sum", operation=op)
    for outcome in ("applied", "fallback_condition", "fallback_shape", "fallback_size"):
        out[f"single_{outcome}"] = series(m, "cdp_mirror_single_call_total", outcome=outcome)
    return out


DDB_OPS = ("GetItem", "PutItem", "UpdateItem")


# -- load generator --------------------------------------------------------------------------------
class UpdateBinder:
    """Round sends its second statement (k,); the UPDATE binds (v, k)."""

    def __init__(self, session: Any, update: Any, value: bytes) -> None:
        self.session, self.update, self.value = session, update, value

    def execute_async(self, stmt: Any, params: tuple[Any, ...]) -> Any:
        if stmt is self.update:
            return self.session.execute_async(stmt, (self.value, params[0]))
        return self.session.execute_async(stmt, params)


def write_worker_main(conn: Any, wid: int, cfg: dict[str, Any]) -> None:
    try:
        sessions: dict[str, tuple[Any, Any, Any]] = {}
        clusters = []
        value, update_value = os.urandom(VALUE_SIZE), os.urandom(VALUE_SIZE)
        for target, addr in cfg["endpoints"].items():
            host, port = hostport(addr)
            cluster = make_cluster(host, port, cfg["protocol"], cfg["compression"])
            clusters.append(cluster)
            s = cluster.connect()
            upd = s.prepare(UPDATE_CQL)
            sessions[target] = (UpdateBinder(s, upd, update_value), s.prepare(INSERT_CQL), upd)
        conn.send(("ready", None))
        seq = 0
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            _, target, concurrency, duration = msg
            s, ins, upd = sessions[target]
            seq += 1
            r = Round(s, ins, upd, concurrency, duration, cfg["update_ratio"], cfg["keys"], value,
                      seed=wid * 1_000_003 + seq)
            run_and_report(conn, r)
        for c in clusters:
            c.shutdown()
    except Exception as e:
        report_failure(conn, wid, e)


# -- measurement -----------------------------------------------------------------------------------
@dataclass
class DAcc(Acc):
    has_sidecar: bool = True
    ddb_cpu: float | None = 0.0  # DynamoDB Local, during the rounds
    drain_sidecar_cpu: float = 0.0
    drain_ddb_cpu: float | None = 0.0
    drain_cassandra_cpu: float | None = 0.0
    drains: list[float] = field(default_factory=list)
    depth_at_stop: list[float] = field(default_factory=list)
    backlog_at_stop: list[float] = field(default_factory=list)
    ddb: dict[str, float] = field(default_factory=dict)


def add_cpu(total: float | None, before: float | None, after: float | None) -> float | None:
    if total is None or before is None or after is None:
        return None
    return total + after - before


def drain(t: Target, timeout: float) -> tuple[float, float, float]:
    """Waits until the queued sidecar's journal backlog is 0; (seconds, depth, backlog) where depth
    and backlog are as the load stopped."""
    t0 = time.monotonic()
    m = t.metrics()
    depth, backlog = series(m, "cdp_queue_depth"), series(m, "cdp_journal_backlog")
    left = backlog
    while left > 0 or series(m, "cdp_queue_depth") > 0:
        if time.monotonic() - t0 > timeout:
            print(f"  warning: {t.name} still has {left:.0f} writes to apply after {timeout:.0f} s", flush=True)
            break
        time.sleep(0.05)
        m = t.metrics()
        left = series(m, "cdp_journal_backlog")
    return time.monotonic() - t0, depth, backlog


def one_round(workers: LoadGenerator, t: Target, concurrency: int, duration: float, pids: dict[str, int | None],
              acc: DAcc | None, drain_timeout: float) -> None:
    m0 = ddb_counts(t.metrics()) if acc is not None else {}
    d0 = proc_cpu(pids["dynamodb"])
    # no sidecar (direct): proc_cpu(None) is None and no sidecar CPU is counted
    measured_round(workers, t.name, concurrency, duration, t.pid, pids["cassandra"], acc)
    d1 = proc_cpu(pids["dynamodb"])
    if t.name == "queued":
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
        m1 = ddb_counts(t.metrics())
        for k, v in m1.items():
            acc.ddb[k] = acc.ddb.get(k, 0.0) + v - m0.get(k, 0.0)


def us_per(cpu: float | None, n: int) -> float | None:
    return None if cpu is None or not n else cpu / n * 1e6


def summarize_target(acc: DAcc) -> dict[str, Any]:
    out = summarize(acc)
    n = acc.completed
    cass = None if acc.cassandra_cpu is None or acc.drain_cassandra_cpu is None else (
        acc.cassandra_cpu + acc.drain_cassandra_cpu)
    ddb = None if acc.ddb_cpu is None or acc.drain_ddb_cpu is None else acc.ddb_cpu + acc.drain_ddb_cpu
    for k in ("sidecar_cpu_s_per_1k", "cassandra_cpu_s_per_1k", "generator_cpu_s_per_1k"):
        del out[k]  # rounds only: replaced by the per-write figures below, which include the drain
    out["writes_per_s"] = out.pop("ops_per_s")
    out["round_writes_per_s"] = out.pop("round_ops_per_s")
    out["sidecar_cpu_us_per_write"] = us_per(acc.sidecar_cpu + acc.drain_sidecar_cpu, n) if acc.has_sidecar else None
    out["dynamodb_local_cpu_us_per_write"] = us_per(ddb, n)
    out["cassandra_cpu_us_per_write"] = us_per(cass, n)
    out["generator_cpu_us_per_write"] = us_per(acc.gen_cpu, n)
    out["dynamodb_local_cores"] = acc.ddb_cpu / acc.seconds if acc.ddb_cpu is not None and acc.seconds else None
    if acc.seconds and acc.cassandra_cpu is not None and acc.ddb_cpu is not None:
        out["other_cores"] = (acc.busy / CLK_TCK - acc.sidecar_cpu - acc.cassandra_cpu - acc.gen_cpu
                              - acc.ddb_cpu) / acc.seconds
    d = acc.ddb
    gets, puts, updates = d.get("GetItem_n", 0.0), d.get("PutItem_n", 0.0), d.get("UpdateItem_n", 0.0)
    offered = sum(d.get(f"single_{o}", 0.0) for o in ("applied", "fallback_condition", "fallback_shape",
                                                       "fallback_size"))
    out["dynamodb"] = {
        "get_item_per_write": gets / n if n else None,
        "put_item_per_write": puts / n if n else None,
        "update_item_per_write": updates / n if n else None,
        "calls_per_write": (gets + puts + updates) / n if n else None,
        "get_item_mean_ms": d["GetItem_s"] / gets * 1e3 if gets else None,
        "put_item_mean_ms": d["PutItem_s"] / puts * 1e3 if puts else None,
        "update_item_mean_ms": d["UpdateItem_s"] / updates * 1e3 if updates else None,
        "call_ms_per_write": sum(d.get(f"{op}_s", 0.0) for op in DDB_OPS) / n * 1e3 if n else None,
        # share of the writes offered as one UpdateItem that it applied
        "single_call_applied_share": d.get("single_applied", 0.0) / offered if offered else None,
        "merge_conflicts": d.get("conflicts", 0.0),
        "errors": d.get("dynamodb_errors", 0.0),
        "mirror_failures": d.get("mirror_failures", 0.0),
    }
    if acc.drains:
        drained = sum(acc.backlog_at_stop)
        out["queue"] = {
            "depth_at_stop_last": acc.depth_at_stop[-1],
            "depth_at_stop_max": max(acc.depth_at_stop),
            "backlog_at_stop_last": acc.backlog_at_stop[-1],
            "backlog_at_stop_max": max(acc.backlog_at_stop),
            "drain_seconds_last": acc.drains[-1],
            "drain_seconds_total": sum(acc.drains),
            # how fast the workers empty the queue with no client load (a few writes say nothing)
            "drain_writes_per_s": drained / sum(acc.drains) if drained >= 100 else None,
            # client rate DynamoDB actually kept up with: writes over load time plus drain time
            "sustained_writes_per_s": n / (acc.seconds + sum(acc.drains)) if acc.seconds else None,
        }
    return out


def run_level(workers: LoadGenerator, concurrency: int, args: argparse.Namespace, targets: list[Target],
              pids: dict[str, int | None]) -> dict[str, Any]:
    for t in targets:  # warm-up: connections, prepared statements, caches
        one_round(workers, t, concurrency, args.warmup, pids, None, args.drain_timeout)
    rounds = max(1, math.ceil(args.duration / args.round))
    length = args.duration / rounds
    accs = {t.name: DAcc(has_sidecar=t.sidecar is not None) for t in targets}
    for i in range(rounds):
        order = targets if i % 2 == 0 else targets[::-1]  # ABBA: cancels linear drift
        for t in order:
            one_round(workers, t, concurrency, length, pids, accs[t.name], args.drain_timeout)
    out: dict[str, Any] = {"concurrency": concurrency, "rounds_per_target": rounds, "round_seconds": length}
    for t in targets:
        out[t.name] = summarize_target(accs[t.name])
    base = out.get(BASE)
    for t in targets:
        x = out[t.name]
        if base is None or t.name == BASE:
            continue
        compare_to(base, x, "writes_per_s", ("mean", "p50", "p99"))
    return out


# -- report ----------------------------------------------------------------------------------------
def print_tables(levels: list[dict[str, Any]], names: list[str]) -> None:
    print()
    print(f"Throughput and latency (submit to answer in the load generator, ms); ratio and +p50/+p99 "
          f"against {BASE}, ratio range over paired rounds")
    hdr = (f"{'conc':>4} {'target':<15} {'writes/s':>9} {'ratio':>6} {'(rounds)':>11} {'p50':>7} {'p99':>7} "
           f"{'+p50':>7} {'+p99':>7} {'errors':>6}")
    header(hdr)
    for lv in levels:
        for t in names:
            x = lv[t]
            rng = (f"{fmt(x['round_ratio_min'], '.2f')}-{fmt(x['round_ratio_max'], '.2f')}"
                   if "ratio" in x else "")
            print(f"{lv['concurrency']:>4} {t:<15} {x['writes_per_s']:>9,.0f} {fmt(x.get('ratio'), '.3f'):>6} "
                  f"{rng:>11} {x['latency_ms']['p50']:>7.3f} {x['latency_ms']['p99']:>7.3f} "
                  f"{fmt(x.get('added_p50_ms'), '+.3f'):>7} {fmt(x.get('added_p99_ms'), '+.3f'):>7} "
                  f"{x['errors']:>6}")
    print()
    print("CPU per write (µs; queued includes its drain) and machine load during the rounds")
    hdr = (f"{'conc':>4} {'target':<15} {'sidecar':>8} {'ddb-local':>9} {'cassandra':>9} {'loadgen':>8} "
           f"{'ddb cores':>9} {'busy':>5}")
    header(hdr)
    for lv in levels:
        for t in names:
            x = lv[t]
            print(f"{lv['concurrency']:>4} {t:<15} {fmt(x['sidecar_cpu_us_per_write'], '.0f'):>8} "
                  f"{fmt(x['dynamodb_local_cpu_us_per_write'], '.0f'):>9} "
                  f"{fmt(x['cassandra_cpu_us_per_write'], '.0f'):>9} {fmt(x['generator_cpu_us_per_write'], '.0f'):>8} "
                  f"{fmt(x['dynamodb_local_cores'], '.2f'):>9} {fmt(x['machine_busy_pct'], '.0f'):>4}%")
    mirrored = [t for t in names if t in ("sync", "queued")]
    if mirrored:
        print()
        print("DynamoDB calls made by the sidecar: calls per write, mean latency of a call as the sidecar saw "
              "it,\ntime in DynamoDB calls per write, and the mean latency added against the pass-through (ms)")
        hdr = (f"{'conc':>4} {'target':<15} {'calls/w':>7} {'Get/w':>6} {'Put/w':>6} {'Upd/w':>6} {'1-call':>6} "
               f"{'Get ms':>7} {'Put ms':>7} {'Upd ms':>7} {'calls ms/w':>10} {'+mean':>7} {'conflicts':>9}")
        header(hdr)
        for lv in levels:
            for t in mirrored:
                d = lv[t]["dynamodb"]
                print(f"{lv['concurrency']:>4} {t:<15} {fmt(d['calls_per_write'], '.2f'):>7} "
                      f"{fmt(d['get_item_per_write'], '.2f'):>6} {fmt(d['put_item_per_write'], '.2f'):>6} "
                      f"{fmt(d['update_item_per_write'], '.2f'):>6} {fmt(d['single_call_applied_share'], '.0%'):>6} "
                      f"{fmt(d['get_item_mean_ms'], '.3f'):>7} {fmt(d['put_item_mean_ms'], '.3f'):>7} "
                      f"{fmt(d['update_item_mean_ms'], '.3f'):>7} {fmt(d['call_ms_per_write'], '.3f'):>10} "
                      f"{fmt(lv[t].get('added_mean_ms'), '+.3f'):>7} {d['merge_conflicts']:>9.0f}")
    if "queued" in names:
        print()
        print("Queued: the queue when the load stopped (last round / max over rounds), the drain after each "
              "round,\nand the client rate over load plus drain time")
        hdr = (f"{'conc':>4} {'depth':>11} {'backlog':>11} {'drain s last':>12} {'drain s total':>13} "
               f"{'drain w/s':>9} {'sustained w/s':>13}")
        header(hdr)
        for lv in levels:
            q = lv["queued"]["queue"]
            print(f"{lv['concurrency']:>4} {q['depth_at_stop_last']:>5.0f}/{q['depth_at_stop_max']:<5.0f} "
                  f"{q['backlog_at_stop_last']:>5.0f}/{q['backlog_at_stop_max']:<5.0f} "
                  f"{q['drain_seconds_last']:>12.2f} {q['drain_seconds_total']:>13.2f} "
                  f"{fmt(q['drain_writes_per_s'], ',.0f'):>9} {fmt(q['sustained_writes_per_s'], ',.0f'):>13}")
    for lv in levels:
        for t in names:
            x = lv[t]
            if (x.get("other_cores") or 0.0) > OTHER_LOAD_WARN:
                print(f"  warning: other programs used about {x['other_cores']:.2f} cores during concurrency "
                      f"{lv['concurrency']} ({t}): noisy")
            if x["errors"]:
                print(f"  errors at concurrency {lv['concurrency']} ({t}); first: {x['first_error']}")
            d = x.get("dynamodb", {})
            if d.get("errors") or d.get("mirror_failures"):
                print(f"  DynamoDB errors at concurrency {lv['concurrency']} ({t}): {d['errors']:.0f}, "
                      f"mirror failures {d['mirror_failures']:.0f}")


# -- main ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=8.0,
                   help="measured seconds per target per concurrency level (default 8)")
    p.add_argument("--warmup", type=float, default=1.0,
                   help="unmeasured seconds per target per concurrency level (default 1)")
    p.add_argument("--round", type=float, default=2.0,
                   help="length of one alternating round in seconds (default 2)")
    p.add_argument("--concurrency", default="1,8,32", help="outstanding requests, comma-separated")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help=f"comma-separated, of {', '.join(TARGETS)} (default: all)")
    p.add_argument("--update-ratio", type=float, default=0.2, help="share of UPDATEs (default 0.2)")
    p.add_argument("--keys", type=int, default=10_000, help="key range (default 10000)")
    p.add_argument("--prefill", action=argparse.BooleanOptionalAction, default=True,
                   help="write every key through the sync sidecar first (default on)")
    add_driver_args(p)
    p.add_argument("--cassandra", default="127.0.0.1:9042", help="Cassandra HOST:PORT")
    p.add_argument("--dynamodb-endpoint", default="http://127.0.0.1:8000", help="DynamoDB Local URL")
    p.add_argument("--drain-timeout", type=float, default=120.0,
                   help="longest wait for the queued sidecar's queue to empty (default 120 s)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = p.parse_args(argv)
    args.levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    args.target_list = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not args.levels or any(c < 1 for c in args.levels):
        p.error("--concurrency needs positive integers")
    if not args.target_list or any(t not in TARGETS for t in args.target_list):
        p.error(f"--targets takes {', '.join(TARGETS)}")
    check_driver_args(p, args)
    if args.prefill and "sync" not in args.target_list:
        p.error("--prefill writes through the sync sidecar: add sync to --targets or pass --no-prefill")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the sidecars and the load generators are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for k, v in AWS_ENV.items():  # inherited by the sidecars and the CLI; DynamoDB Local takes any
        os.environ.setdefault(k, v)
    prepare_driver(args)
    t_start = time.monotonic()
    machine = describe_machine()
    ncpu = machine["cpus"] or 1
    print(f"machine: {ncpu} CPUs ({machine['cpu_model']}), Python {machine['python']}")
    print(f"caveat: Cassandra, DynamoDB Local, {sum(t != 'direct' for t in args.target_list)} sidecars and the "
          f"load generator all share these {ncpu} CPUs. Every CPU second the sidecar or DynamoDB Local spends "
          "is taken from the others, so throughput ratios show the total CPU cost of mirroring on this box; "
          "CPU per write and latency at concurrency 1 are the figures that carry over.")
    levels: list[dict[str, Any]] = []
    tables: list[str] = []
    prefill_s = None
    with tempfile.TemporaryDirectory(prefix="bench-dual-write-") as tmp:
        work = Path(tmp)
        sidecars: list[SidecarProc] = []
        workers: LoadGenerator | None = None
        try:
            in_child(create_schema, args.cassandra, args.protocol)
            mappings, tables = make_mappings(args.cassandra, args.dynamodb_endpoint, work)
            targets: list[Target] = []
            for name in args.target_list:
                if name == "direct":
                    targets.append(Target(name, args.cassandra))
                    continue
                d = work / name
                d.mkdir()
                sc = start_sidecar(args.cassandra, d, None, [
                    "--mapping", str(mappings[name]), "--dynamodb-endpoint", args.dynamodb_endpoint,
                    "--state-dir", str(d / "state")])
                sidecars.append(sc)
                targets.append(Target(name, f"127.0.0.1:{sc.port}", sc))
            pids = {"cassandra": pid_listening_on(hostport(args.cassandra)[1]),
                    "dynamodb": dynamodb_pid(args.dynamodb_endpoint)}
            print(f"cassandra {args.cassandra} (pid {pids['cassandra'] or 'not found'}), DynamoDB Local "
                  f"{args.dynamodb_endpoint} (pid {pids['dynamodb'] or 'not found'}); protocol v{args.protocol}, "
                  f"{VALUE_SIZE} B values, {int(args.update_ratio * 100)}% UPDATEs, {args.keys} keys")
            for t in targets:
                print(f"  {t.name:<15} {t.endpoint}" + (f" (sidecar pid {t.pid})" if t.pid else ""))
            if args.prefill:
                sync = next(t for t in targets if t.name == "sync")
                prefill_s = prefill(sync.endpoint, args.keys, args.protocol)
                print(f"prefilled {args.keys} keys through the sync sidecar in {prefill_s:.1f} s", flush=True)
            cfg = {"endpoints": {t.name: t.endpoint for t in targets}, "protocol": args.protocol,
                   "compression": args.compression, "keyspace": KEYSPACE, "table": TABLE, "workloads": ["write"],
                   "update_ratio": args.update_ratio, "keys": args.keys, "value_size": VALUE_SIZE}
            nprocs = max(1, min(args.procs, max(args.levels)))
            workers = start_workers(args.driver, nprocs, cfg, write_worker_main, work)
            print(f"load generator: {nprocs} {args.driver} process(es), pids {workers.pids()}")
            for c in args.levels:
                lv = run_level(workers, c, args, targets, pids)
                levels.append(lv)
                parts = [f"{t} {lv[t]['writes_per_s']:,.0f} w/s p50 {lv[t]['latency_ms']['p50']:.2f} ms"
                         for t in args.target_list]
                if "queued" in lv:
                    parts.append(f"queued drain {lv['queued']['queue']['drain_seconds_total']:.1f} s")
                print(f"  concurrency {c:>3}: " + "; ".join(parts), flush=True)
        finally:
            if workers is not None:
                workers.stop()
            for sc in sidecars:
                rc = sc.stop()
                if rc not in (0, None):
                    print(f"sidecar exited with {rc}; log:\n{sc.log_path.read_text(errors='replace')[-4000:]}")
            cleanup(args.cassandra, args.protocol, args.dynamodb_endpoint, tables)

    print_tables(levels, args.target_list)
    elapsed = time.monotonic() - t_start
    print(f"\ntotal wall time {elapsed:.0f} s")
    if args.json:
        doc = {
            "machine": machine,
            "settings": {
                "duration": args.duration, "warmup": args.warmup, "round": args.round,
                "concurrency": args.levels, "targets": args.target_list, "update_ratio": args.update_ratio,
                "keys": args.keys, "prefill_seconds": prefill_s, "procs": args.procs, "protocol": args.protocol,
                "compression": args.compression, "driver": args.driver, "value_bytes": VALUE_SIZE, "cassandra": args.cassandra,
                "dynamodb_endpoint": args.dynamodb_endpoint,
            },
            "levels": levels,
            "wall_seconds": elapsed,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=lambda o: None) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
