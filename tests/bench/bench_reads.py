#!/usr/bin/env python3
"""Cost of serving reads from DynamoDB: the same prepared reads of the same rows directly from
Cassandra, through a sidecar in phase `cassandra` and through a sidecar in phase `dynamo`, at
several fixed concurrencies, in alternating short rounds.

    .venv/bin/python tests/bench/bench_reads.py [--quick] [--duration S] [--warmup S]
        [--concurrency 1,8,32] [--workloads get,query] [--targets direct,phase-cassandra,dynamo]
        [--json out.json]

The default run takes about 4 minutes (a third of it writing the rows), --quick about 1.5.

Targets:
  direct           Cassandra without a sidecar: the reference for ratios
  phase-cassandra  a sidecar with the table in phase `cassandra`: reads pass through as raw frames
  dynamo           a sidecar with the table in phase `dynamo` (`--phases`): reads are translated and
                   answered from DynamoDB Local, Cassandra is not asked
  verify           a sidecar with the table in phase `verify`: Cassandra answers, DynamoDB is read
                   after the answer and compared (what verification costs the client)

Workloads (prepared, random keys):
  get    SELECT p, c, v ... WHERE p = ? AND c = ?   full primary key: one row, one GetItem
  query  SELECT p, c, v ... WHERE p = ?             one partition of --rows rows: one Query

Data: `bench_reads.kv (p int, c int, v blob, PRIMARY KEY (p, c))`, --partitions partitions of
--rows rows with 1 KiB values derived from (p, c), written once through a third sidecar in phase
`dual_write` (sync), so both stores hold the same rows. Before any timing, a sample of partitions
and rows is read through every target and compared with what was written; the run stops on any
difference. During the rounds every answer's row count is checked too (a wrong count is an error).

CPU from /proc: each sidecar, DynamoDB Local (found from its listening port or its pid file),
Cassandra, the load generators, the machine. DynamoDB calls per read and their latency as the
sidecar saw them come from the sidecar's `cdp_dynamodb_request_duration_seconds`.

Needs the local Cassandra and DynamoDB Local (`deploy/local/backends up cassandra dynamodb`). The
keyspace (`bench_reads`, or `CDP_BENCH_KEYSPACE`) and the DynamoDB table the run creates are dropped
at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dual_write import AWS_ENV, Target, add_cpu, cli, dynamodb_pid, in_child, series, us_per
from bench_harness import (
    CLK_TCK,
    OTHER_LOAD_WARN,
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
    percentile,
    pid_listening_on,
    prepare_driver,
    proc_cpu,
    report_failure,
    run_and_report,
    start_sidecar,
    start_workers,
    summarize,
)

# CDP_BENCH_KEYSPACE: a keyspace of one's own on a Cassandra others use too (the run drops it)
KEYSPACE = os.environ.get("CDP_BENCH_KEYSPACE", "bench_reads")
TABLE = "kv"
TARGETS = ("direct", "phase-cassandra", "dynamo", "verify")
DEFAULT_TARGETS = ("direct", "phase-cassandra", "dynamo")
WORKLOADS = ("get", "query")
BASE = "direct"
INSERT_CQL = f"INSERT INTO {KEYSPACE}.{TABLE} (p, c, v) VALUES (?, ?, ?)"
GET_CQL = f"SELECT p, c, v FROM {KEYSPACE}.{TABLE} WHERE p = ? AND c = ?"
QUERY_CQL = f"SELECT p, c, v FROM {KEYSPACE}.{TABLE} WHERE p = ?"
STATEMENTS = {"get": GET_CQL, "query": QUERY_CQL}
DDB_OPS = {"get": "GetItem", "query": "Query"}


def value_of(p: int, c: int) -> bytes:
    """1 KiB that depends on the key, so a row read back can be checked without storing it."""
    return hashlib.blake2b(f"{p}.{c}".encode(), digest_size=64).digest() * (VALUE_SIZE // 64)


# -- set-up ----------------------------------------------------------------------------------------
def create_schema(cassandra: str, protocol: int) -> None:
    """Runs in a spawned child: this process forks the sidecars afterwards and must not hold
    driver threads when it does."""
    host, port = hostport(cassandra)
    cluster = make_cluster(host, port, protocol, "none")
    try:
        s = cluster.connect()
        s.execute(f"DROP KEYSPACE IF EXISTS {KEYSPACE}", timeout=120)  # a run that was killed
        s.execute(f"CREATE KEYSPACE {KEYSPACE} WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}", timeout=120)
        s.execute(f"CREATE TABLE {KEYSPACE}.{TABLE} (p int, c int, v blob, PRIMARY KEY (p, c))", timeout=120)
    finally:
        cluster.shutdown()


def make_mapping(cassandra: str, endpoint: str, workdir: Path) -> tuple[Path, list[str]]:
    """The mapping as `mapping init` writes it (phase `cassandra`; the other sidecars override the
    phase with --phases), and the DynamoDB table from `tables create`."""
    path = workdir / "mapping.yaml"
    cli("mapping", "init", "--cassandra", cassandra, "--keyspace", KEYSPACE,
        "--table-prefix", f"benchreads{uuid.uuid4().hex[:6]}_", "-o", str(path))
    if "phase: cassandra" not in path.read_text():
        raise RuntimeError(f"unexpected mapping from `mapping init`:\n{path.read_text()}")
    cli("tables", "create", "--mapping", str(path), "--endpoint-url", endpoint, "--region", "us-east-1")
    from translators.mapping import load_mapping

    return path, [tm.dynamodb_table for tm in load_mapping(path).tables.values()]


def fill(endpoint: str, partitions: int, rows: int, protocol: int) -> float:
    from cassandra.concurrent import execute_concurrent_with_args

    t0 = time.monotonic()
    host, port = hostport(endpoint)
    cluster = make_cluster(host, port, protocol, "none")
    try:
        s = cluster.connect()
        ins = s.prepare(INSERT_CQL)
        params = [(p, c, value_of(p, c)) for p in range(partitions) for c in range(rows)]
        execute_concurrent_with_args(s, ins, params, concurrency=64, raise_on_first_error=True)
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
            try:
                ddb.delete_table(TableName=t)
            except Exception as e:  # left behind: say so, the prefix is unique to this run
                print(f"warning: could not delete DynamoDB table {t}: {e}")


def ddb_calls(t: Target) -> dict[str, float]:
    if t.sidecar is None:
        return {}
    m = t.metrics()
    out = {"errors": series(m, "cdp_dynamodb_errors_total") + series(m, "cdp_dynamo_read_errors_total")}
    for op in ("GetItem", "Query", "BatchGetItem", "Scan"):
        out[f"{op}_n"] = series(m, "cdp_dynamodb_request_duration_seconds_count", operation=op)
        out[f"{op}_s"] = series(m, "cdp_dynamodb_request_duration_seconds_sum", operation=op)
    return out


def check_results(targets: list[Target], partitions: int, rows: int, sample: int, protocol: int) -> list[str]:
    """Reads a sample of partitions and single rows through every target and compares them with
    what was written. Returns the differences, each naming the statement, the target, what was
    expected and what came back; also checks that the dynamo sidecar really asked DynamoDB."""
    problems: list[str] = []
    rng = random.Random(7)
    ps = rng.sample(range(partitions), min(sample, partitions))
    before = {t.name: ddb_calls(t) for t in targets}
    want_meta = (["p", "c", "v"], ["int", "int", "blob"], False)
    clusters = []
    try:
        for t in targets:
            host, port = hostport(t.endpoint)
            cluster = make_cluster(host, port, protocol, "none")
            clusters.append(cluster)
            s = cluster.connect()
            get, query = s.prepare(GET_CQL), s.prepare(QUERY_CQL)
            for p in ps:
                want = [(p, c, value_of(p, c)) for c in range(rows)]
                rs = s.execute(query, (p,))
                # result metadata as the driver decoded it: names and types must match Cassandra's
                meta = (list(rs.column_names or []), [ct.cql_parameterized_type() for ct in rs.column_types or []],
                        rs.has_more_pages)
                if meta != want_meta:
                    problems.append(f"{t.name}: {QUERY_CQL} {(p,)}: result metadata (names, types, more pages) "
                                    f"{meta}, expected {want_meta}")
                got = [tuple(r) for r in rs]
                if got != want:
                    problems.append(describe(t.name, QUERY_CQL, (p,), want, got))
                c = rng.randrange(rows)
                got = [tuple(r) for r in s.execute(get, (p, c))]
                if got != [(p, c, value_of(p, c))]:
                    problems.append(describe(t.name, GET_CQL, (p, c), [(p, c, value_of(p, c))], got))
            # rows that do not exist: empty answers, not errors
            for stmt, params in ((query, (partitions + 1,)), (get, (0, rows + 1)), (get, (partitions + 1, 0))):
                got = [tuple(r) for r in s.execute(stmt, params)]
                if got:
                    problems.append(describe(t.name, stmt.query_string, params, [], got))
    except Exception as e:
        problems.append(f"reading the sample failed: {type(e).__name__}: {e}")
    finally:
        for cluster in clusters:
            cluster.shutdown()
    for t in targets:
        d0, d1 = before[t.name], ddb_calls(t)
        calls = {op: d1.get(f"{op}_n", 0.0) - d0.get(f"{op}_n", 0.0) for op in ("GetItem", "Query")}
        if t.name == "dynamo" and (calls["GetItem"] < len(ps) or calls["Query"] < len(ps)):
            problems.append(f"dynamo: only {calls} DynamoDB calls for {len(ps)} reads of each kind: "
                            "reads were not answered from DynamoDB")
        if t.name == "phase-cassandra" and any(calls.values()):
            problems.append(f"phase-cassandra: the pass-through sidecar called DynamoDB ({calls})")
    return problems


def describe(target: str, stmt: str, params: tuple[int, ...], want: list[Any], got: list[Any]) -> str:
    def short(rs: list[Any]) -> str:
        return "[" + ", ".join(f"({r[0]}, {r[1]}, {bytes(r[2][:8]).hex() if r[2] else r[2]!r}..)"
                               for r in rs[:5]) + (", ..." if len(rs) > 5 else "") + "]"

    return (f"{target}: {stmt} {params}: expected {len(want)} rows {short(want)}, "
            f"got {len(got)} rows {short(got)}")


# -- load generator --------------------------------------------------------------------------------
class KeyBinder:
    """Round binds one random int per request; it becomes (p, c) for `get` and p for `query`."""

    def __init__(self, session: Any, workload: str, rows: int) -> None:
        self.session, self.workload, self.rows = session, workload, rows

    def execute_async(self, stmt: Any, params: tuple[int, ...]) -> Any:
        k = params[0]
        if self.workload == "get":
            return self.session.execute_async(stmt, divmod(k, self.rows))
        return self.session.execute_async(stmt, (k,))


class ReadRound(Round):
    """Round with every answer's row count checked: a read that returns the wrong number of rows
    counts as an error (latency is still recorded; the slot goes on)."""

    def __init__(self, *args: Any, expect: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expect = expect

    def _on_ok(self, rows: Any, t0: float) -> None:
        n = len(rows) if rows is not None else 0
        if n != self.expect:
            with self.lock:
                self.errors += 1
                self.first_error = self.first_error or f"wrong result: {n} rows, expected {self.expect}"
        super()._on_ok(rows, t0)


def read_worker_main(conn: Any, wid: int, cfg: dict[str, Any]) -> None:
    try:
        sessions: dict[str, tuple[KeyBinder, Any]] = {}
        clusters = []
        for target, addr in cfg["endpoints"].items():
            host, port = hostport(addr)
            cluster = make_cluster(host, port, cfg["protocol"], cfg["compression"])
            clusters.append(cluster)
            s = cluster.connect()
            for w in cfg["workloads"]:
                sessions[f"{target}/{w}"] = (KeyBinder(s, w, cfg["rows"]), s.prepare(STATEMENTS[w]))
        conn.send(("ready", None))
        seq = 0
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            _, key, concurrency, duration = msg
            binder, stmt = sessions[key]
            get = key.endswith("/get")
            seq += 1
            r = ReadRound(binder, None, stmt, concurrency, duration, 1.0,
                          cfg["partitions"] * cfg["rows"] if get else cfg["partitions"], b"",
                          seed=wid * 1_000_003 + seq, expect=1 if get else cfg["rows"])
            run_and_report(conn, r)
        for c in clusters:
            c.shutdown()
    except Exception as e:
        report_failure(conn, wid, e)


# -- measurement -----------------------------------------------------------------------------------
@dataclass
class RAcc(Acc):
    has_sidecar: bool = True
    ddb_cpu: float | None = 0.0  # DynamoDB Local, during the rounds
    ddb: dict[str, float] = field(default_factory=dict)


def one_round(workers: LoadGenerator, t: Target, workload: str, concurrency: int, duration: float,
              pids: dict[str, int | None], acc: RAcc | None) -> None:
    m0 = ddb_calls(t) if acc is not None else {}
    d0 = proc_cpu(pids["dynamodb"])
    # direct: proc_cpu(None) is None and no sidecar CPU is counted
    measured_round(workers, f"{t.name}/{workload}", concurrency, duration, t.pid,
                   pids["cassandra"], acc)
    d1 = proc_cpu(pids["dynamodb"])
    if acc is not None:
        acc.ddb_cpu = add_cpu(acc.ddb_cpu, d0, d1)
        for k, v in ddb_calls(t).items():
            acc.ddb[k] = acc.ddb.get(k, 0.0) + v - m0.get(k, 0.0)


def summarize_target(acc: RAcc, workload: str) -> dict[str, Any]:
    out = summarize(acc)
    n = acc.completed
    out["latency_ms"]["p95"] = percentile(sorted(acc.lat), 95) * 1000.0
    for k in ("sidecar_cpu_s_per_1k", "cassandra_cpu_s_per_1k", "generator_cpu_s_per_1k"):
        del out[k]  # replaced by the per-read figures below
    out["reads_per_s"] = out.pop("ops_per_s")
    out["round_reads_per_s"] = out.pop("round_ops_per_s")
    out["sidecar_cpu_us_per_read"] = us_per(acc.sidecar_cpu, n) if acc.has_sidecar else None
    out["dynamodb_local_cpu_us_per_read"] = us_per(acc.ddb_cpu, n)
    out["cassandra_cpu_us_per_read"] = us_per(acc.cassandra_cpu, n)
    out["generator_cpu_us_per_read"] = us_per(acc.gen_cpu, n)
    out["dynamodb_local_cores"] = acc.ddb_cpu / acc.seconds if acc.ddb_cpu is not None and acc.seconds else None
    if acc.seconds and acc.cassandra_cpu is not None and acc.ddb_cpu is not None:
        out["other_cores"] = (acc.busy / CLK_TCK - acc.sidecar_cpu - acc.cassandra_cpu - acc.gen_cpu
                              - acc.ddb_cpu) / acc.seconds
    d, op = acc.ddb, DDB_OPS[workload]
    calls, secs = d.get(f"{op}_n", 0.0), d.get(f"{op}_s", 0.0)
    other = sum(d.get(f"{o}_n", 0.0) for o in ("GetItem", "Query", "BatchGetItem", "Scan") if o != op)
    out["dynamodb"] = {
        "operation": op,
        "calls_per_read": calls / n if n else None,
        "other_calls": other,  # a plan other than the expected one
        "call_mean_ms": secs / calls * 1e3 if calls else None,
        "errors": d.get("errors", 0.0),
    }
    return out


def run_level(workers: LoadGenerator, workload: str, concurrency: int, args: argparse.Namespace,
              targets: list[Target], pids: dict[str, int | None]) -> dict[str, Any]:
    for t in targets:  # warm-up: connections, prepared statements, caches, JIT
        one_round(workers, t, workload, concurrency, args.warmup, pids, None)
    rounds = max(1, math.ceil(args.duration / args.round))
    length = args.duration / rounds
    accs = {t.name: RAcc(has_sidecar=t.sidecar is not None) for t in targets}
    for i in range(rounds):
        order = targets if i % 2 == 0 else targets[::-1]  # ABBA: cancels linear drift
        for t in order:
            one_round(workers, t, workload, concurrency, length, pids, accs[t.name])
    out: dict[str, Any] = {"workload": workload, "concurrency": concurrency, "rounds_per_target": rounds,
                           "round_seconds": length}
    for t in targets:
        out[t.name] = summarize_target(accs[t.name], workload)
    # DynamoDB Local is shared with other users of the machine: its CPU during the rounds of the
    # targets that do not call it (interleaved with the dynamo rounds) is their background, taken
    # off the dynamo figure
    bg = [out[t.name]["dynamodb_local_cores"] for t in targets
          if t.name not in ("dynamo", "verify") and out[t.name]["dynamodb_local_cores"] is not None]
    if "dynamo" in out:
        x = out["dynamo"]
        x["dynamodb_local_background_cores"] = sum(bg) / len(bg) if bg else None
        x["dynamodb_local_cpu_us_per_read_net"] = (
            max(0.0, x["dynamodb_local_cores"] - sum(bg) / len(bg)) / x["reads_per_s"] * 1e6
            if bg and x["dynamodb_local_cores"] is not None and x["reads_per_s"] else None)
    base = out.get(BASE)
    for t in targets:
        x = out[t.name]
        if base is None or t.name == BASE:
            continue
        compare_to(base, x, "reads_per_s")
    return out


# -- report ----------------------------------------------------------------------------------------
def print_tables(levels: list[dict[str, Any]], names: list[str]) -> None:
    print()
    print(f"Throughput and latency (submit to answer in the load generator, ms); ratio and +p50 against "
          f"{BASE}, ratio range over paired rounds")
    hdr = (f"{'workload':<8} {'conc':>4} {'target':<15} {'reads/s':>9} {'ratio':>6} {'(rounds)':>11} "
           f"{'p50':>7} {'p95':>7} {'p99':>7} {'+p50':>7} {'errors':>6}")
    header(hdr)
    for lv in levels:
        for t in names:
            x = lv[t]
            lat = x["latency_ms"]
            rng = (f"{fmt(x['round_ratio_min'], '.2f')}-{fmt(x['round_ratio_max'], '.2f')}"
                   if "ratio" in x else "")
            print(f"{lv['workload']:<8} {lv['concurrency']:>4} {t:<15} {x['reads_per_s']:>9,.0f} "
                  f"{fmt(x.get('ratio'), '.3f'):>6} {rng:>11} {lat['p50']:>7.3f} {lat['p95']:>7.3f} "
                  f"{lat['p99']:>7.3f} {fmt(x.get('added_p50_ms'), '+.3f'):>7} {x['errors']:>6}")
    print()
    print("CPU per read (µs), DynamoDB calls per read and their mean latency as the sidecar saw them (ms), "
          "machine load;\nddb net: DynamoDB Local's CPU less its background in the other targets' rounds")
    hdr = (f"{'workload':<8} {'conc':>4} {'target':<15} {'sidecar':>8} {'ddb-local':>9} {'ddb net':>7} {'cassandra':>9} "
           f"{'loadgen':>8} {'ddb cores':>9} {'calls/r':>7} {'call ms':>7} {'busy':>5}")
    header(hdr)
    for lv in levels:
        for t in names:
            x = lv[t]
            d = x["dynamodb"]
            print(f"{lv['workload']:<8} {lv['concurrency']:>4} {t:<15} "
                  f"{fmt(x['sidecar_cpu_us_per_read'], '.0f'):>8} {fmt(x['dynamodb_local_cpu_us_per_read'], '.0f'):>9} "
                  f"{fmt(x.get('dynamodb_local_cpu_us_per_read_net'), '.0f'):>7} "
                  f"{fmt(x['cassandra_cpu_us_per_read'], '.0f'):>9} {fmt(x['generator_cpu_us_per_read'], '.0f'):>8} "
                  f"{fmt(x['dynamodb_local_cores'], '.2f'):>9} "
                  f"{fmt(d['calls_per_read'] if t == 'dynamo' else None, '.2f'):>7} "
                  f"{fmt(d['call_mean_ms'], '.3f'):>7} {fmt(x['machine_busy_pct'], '.0f'):>4}%")
    for lv in levels:
        for t in names:
            x = lv[t]
            where = f"{lv['workload']} at concurrency {lv['concurrency']} ({t})"
            if (x.get("other_cores") or 0.0) > OTHER_LOAD_WARN:
                print(f"  warning: other programs used about {x['other_cores']:.2f} cores during {where}: noisy")
            if x["errors"]:
                print(f"  errors during {where}; first: {x['first_error']}")
            d = x["dynamodb"]
            if d["errors"] or d["other_calls"]:
                print(f"  DynamoDB during {where}: {d['errors']:.0f} errors, {d['other_calls']:.0f} calls other "
                      f"than {d['operation']}")


# -- main ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a quick look: 2 s per target and level, 500 partitions (explicit options win)")
    p.add_argument("--duration", type=float, default=None,
                   help="measured seconds per target per workload and level (default 8; quick 2)")
    p.add_argument("--warmup", type=float, default=None,
                   help="unmeasured seconds per target per workload and level (default 1; quick 0.5)")
    p.add_argument("--round", type=float, default=None,
                   help="length of one alternating round in seconds (default 2; quick 1)")
    p.add_argument("--concurrency", default="1,8,32", help="outstanding requests, comma-separated")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, of {', '.join(WORKLOADS)}")
    p.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                   help=f"comma-separated, of {', '.join(TARGETS)} (default: {', '.join(DEFAULT_TARGETS)})")
    p.add_argument("--partitions", type=int, default=None, help="partitions written (default 2000; quick 500)")
    p.add_argument("--rows", type=int, default=20, help="clustering rows per partition (default 20)")
    p.add_argument("--check", type=int, default=100,
                   help="partitions (and one row of each) compared through every target before timing (default 100)")
    add_driver_args(p)
    p.add_argument("--cassandra", default="127.0.0.1:9042", help="Cassandra HOST:PORT")
    p.add_argument("--dynamodb-endpoint", default="http://127.0.0.1:8000", help="DynamoDB Local URL")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = p.parse_args(argv)
    defaults = {"duration": (8.0, 2.0), "warmup": (1.0, 0.5), "round": (2.0, 1.0), "partitions": (2000, 500)}
    for name, (normal, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else normal)
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
    if args.partitions < 1 or args.rows < 1:
        p.error("--partitions and --rows must be positive")
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
    print(f"caveat: Cassandra, DynamoDB Local, the sidecars and the load generator all share these {ncpu} CPUs; "
          "CPU per read and latency at concurrency 1 are the figures that carry over.")
    levels: list[dict[str, Any]] = []
    tables: list[str] = []
    fill_s = None
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        work = Path(tmp)
        sidecars: list[SidecarProc] = []
        workers: LoadGenerator | None = None
        try:
            in_child(create_schema, args.cassandra, args.protocol)
            mapping, tables = make_mapping(args.cassandra, args.dynamodb_endpoint, work)
            table = f"{KEYSPACE}.{TABLE}"
            # every sidecar is started before this process opens driver connections (it forks)
            phase_of = {"fill": "dual_write", "phase-cassandra": None, "dynamo": "dynamo", "verify": "verify"}
            started: dict[str, SidecarProc] = {}
            for name, phase in phase_of.items():
                if name != "fill" and name not in args.target_list:
                    continue
                d = work / name
                d.mkdir()
                extra = ["--mapping", str(mapping), "--dynamodb-endpoint", args.dynamodb_endpoint,
                         "--state-dir", str(d / "state")]
                if phase:
                    extra += ["--phases", f"{table}={phase}"]
                started[name] = sc = start_sidecar(args.cassandra, d, None, extra)
                sidecars.append(sc)
            targets = [Target(n, args.cassandra) if n == "direct" else
                       Target(n, f"127.0.0.1:{started[n].port}", started[n]) for n in args.target_list]
            pids = {"cassandra": pid_listening_on(hostport(args.cassandra)[1]),
                    "dynamodb": dynamodb_pid(args.dynamodb_endpoint)}
            print(f"cassandra {args.cassandra} (pid {pids['cassandra'] or 'not found'}), DynamoDB Local "
                  f"{args.dynamodb_endpoint} (pid {pids['dynamodb'] or 'not found'}); protocol v{args.protocol}, "
                  f"{args.partitions} partitions x {args.rows} rows of {VALUE_SIZE} B")
            for t in targets:
                print(f"  {t.name:<15} {t.endpoint}" + (f" (sidecar pid {t.pid})" if t.pid else ""))
            fill_sc = started["fill"]
            fill_s = fill(f"127.0.0.1:{fill_sc.port}", args.partitions, args.rows, args.protocol)
            print(f"wrote {args.partitions * args.rows} rows through a sidecar in dual_write (sync) in "
                  f"{fill_s:.1f} s", flush=True)
            fill_sc.stop()  # its CPU must not be counted against anything
            sidecars.remove(fill_sc)
            problems = check_results(targets, args.partitions, args.rows, args.check, args.protocol)
            if problems:
                print(f"results differ before timing ({len(problems)}); not benchmarking:")
                for line in problems[:20]:
                    print(f"  {line}")
                return 1
            print(f"checked {min(args.check, args.partitions)} partitions and as many single rows through "
                  f"{', '.join(args.target_list)}: all equal to what was written", flush=True)
            cfg = {"endpoints": {t.name: t.endpoint for t in targets}, "protocol": args.protocol,
                   "compression": args.compression, "keyspace": KEYSPACE, "table": TABLE,
                   "workloads": args.workload_list, "partitions": args.partitions, "rows": args.rows}
            nprocs = max(1, min(args.procs, max(args.levels)))
            workers = start_workers(args.driver, nprocs, cfg, read_worker_main, work)
            print(f"load generator: {nprocs} {args.driver} process(es), pids {workers.pids()}")
            for w in args.workload_list:
                for c in args.levels:
                    lv = run_level(workers, w, c, args, targets, pids)
                    levels.append(lv)
                    parts = [f"{t} {lv[t]['reads_per_s']:,.0f} r/s p50 {lv[t]['latency_ms']['p50']:.2f} ms"
                             for t in args.target_list]
                    print(f"  {w:<5} concurrency {c:>3}: " + "; ".join(parts), flush=True)
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
                "duration": args.duration, "warmup": args.warmup, "round": args.round, "quick": args.quick,
                "concurrency": args.levels, "targets": args.target_list, "workloads": args.workload_list,
                "partitions": args.partitions, "rows": args.rows, "fill_seconds": fill_s, "procs": args.procs,
                "protocol": args.protocol, "compression": args.compression, "driver": args.driver, "value_bytes": VALUE_SIZE, "cassandra": args.cassandra,
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
