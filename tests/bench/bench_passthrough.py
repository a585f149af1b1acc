#!/usr/bin/env python3
"""Pass-through overhead of the sidecar: the same workload against Cassandra directly, through a
plain TCP relay (HAProxy, one thread) and through a sidecar started for the run, at several fixed
concurrencies, in alternating short rounds.

    .venv/bin/python tests/bench/bench_passthrough.py [--duration S] [--warmup S]
        [--concurrency 1,8,32,128] [--targets direct,relay,sidecar] [--driver go|python]
        [--protocol 4] [--compression none|lz4|snappy] [--json out.json]

Workload: prepared INSERT (1 KiB blob) / SELECT by key, mixed 50/50 by default, over a fixed key
range populated up front. Each concurrency level keeps exactly N requests outstanding, spread over
--procs load-generator processes (each with its own driver connection per target), and records
per-request latency from submit to answer.

Load generator (--driver): `go` (default), the Go program in tests/bench/loadgen (gocql), built with
`go build` into the project's cache on first use; it spends a fraction of the CPU per request the
Python driver does, so less of the machine goes to the client. `python`: cassandra-driver processes,
`execute_async` with each callback submitting the next request.

The relay is the reference for one hop: the sidecar's aim is at most 1.2 times the relay's CPU per
request and at least its throughput ratio. It needs HAProxy (`apt-get install haproxy`); without it
the relay target is skipped with a message.

Drift (compaction, memtable flushes, JIT, other load on the box) is cancelled by interleaving the
targets in short rounds in ABBA order: direct, relay, sidecar, sidecar, relay, direct, ...

CPU is accounted from /proc: the sidecar and the relay (CPU µs per request), Cassandra (when its
process can be found from its listening port), the load generators, and the whole machine.
Everything shares one machine, so on a small box the sidecar's CPU is taken from Cassandra and the
load generator: the throughput ratio then measures the CPU cost of the extra hop, not what a
sidecar on its own cores would do. The per-request CPU cost and the latency at low concurrency are
the numbers that carry over.

--profile PATH runs the sidecar under cProfile (timed by process CPU time) and writes its pstats
there, and prints the top functions; cProfile slows the sidecar down several times, so the table of
such a run is not a benchmark.
The sidecar's pid is printed so a sampling profiler (py-spy) can be attached from outside.

The harness this benchmark runs on (sidecar and relay start-up, load generators, rounds, /proc
accounting) is bench_harness.py, shared with the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_harness import (
    OTHER_LOAD_WARN,
    VALUE_SIZE,
    Acc,
    ChildProc,
    LoadGenerator,
    Round,
    SidecarProc,
    add_driver_args,
    check_driver_args,
    compare_to,
    describe_machine,
    fmt,
    free_port,
    header,
    hostport,
    make_cluster,
    measured_round,
    pid_listening_on,
    prepare_driver,
    report_failure,
    run_and_report,
    start_sidecar,
    start_workers,
    summarize,
)
from bench_relay import INSTALL_HINT, find_haproxy, start_relay

KEYSPACE = "sidecar_bench"
TABLE = "kv"
TARGETS = ("direct", "relay", "sidecar")
HOPS = ("relay", "sidecar")  # targets with a process in the path, compared with direct
# the sidecar's aims against the relay: CPU per request at most this many times the relay's, and
# at least the relay's throughput ratio
CPU_AIM = 1.2


INSERT_CQL = f"INSERT INTO {KEYSPACE}.{TABLE} (k, v) VALUES (?, ?)"
SELECT_CQL = f"SELECT k, v FROM {KEYSPACE}.{TABLE} WHERE k = ?"


def setup_schema(cassandra: str, protocol: int, compression: str, keys: int) -> None:
    from cassandra.cluster import NoHostAvailable
    from cassandra.concurrent import execute_concurrent_with_args

    host, port = hostport(cassandra)
    deadline = time.monotonic() + 120
    while True:  # Cassandra may be (re)starting
        cluster = make_cluster(host, port, protocol, compression)
        try:
            s = cluster.connect()
            break
        except NoHostAvailable:
            cluster.shutdown()
            if time.monotonic() > deadline:
                raise
            print("waiting for Cassandra...", flush=True)
            time.sleep(3)
    try:
        s.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        s.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.{TABLE} (k int PRIMARY KEY, v blob)")
        ins = s.prepare(INSERT_CQL)
        value = os.urandom(VALUE_SIZE)
        execute_concurrent_with_args(s, ins, [(k, value) for k in range(keys)], concurrency=64)
    finally:
        cluster.shutdown()


# -- load generator: the Python workload ----------------------------------------------------------
def worker_main(conn: Any, wid: int, cfg: dict[str, Any]) -> None:
    try:
        sessions: dict[str, tuple[Any, Any, Any]] = {}
        clusters = []
        for target, addr in cfg["endpoints"].items():
            host, port = hostport(addr)
            cluster = make_cluster(host, port, cfg["protocol"], cfg["compression"])
            clusters.append(cluster)
            s = cluster.connect()
            sessions[target] = (s, s.prepare(INSERT_CQL), s.prepare(SELECT_CQL))
        value = os.urandom(VALUE_SIZE)
        conn.send(("ready", None))
        seq = 0
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            _, target, concurrency, duration = msg
            s, ins, sel = sessions[target]
            seq += 1
            r = Round(s, ins, sel, concurrency, duration, cfg["read_ratio"], cfg["keys"], value,
                      seed=wid * 1_000_003 + seq)
            run_and_report(conn, r)
        for c in clusters:
            c.shutdown()
    except Exception as e:
        report_failure(conn, wid, e)


# -- measurement -----------------------------------------------------------------------------------
def run_level(workers: LoadGenerator, concurrency: int, args: argparse.Namespace, targets: list[str],
              hop_pids: dict[str, int], cassandra_pid: int | None) -> dict[str, Any]:
    """Warm-up, then ABBA rounds over `targets`; hop_pids: the process in each target's path."""
    for t in targets:  # warm-up: connections, prepared statements, JIT, caches
        measured_round(workers, t, concurrency, args.warmup, hop_pids.get(t), cassandra_pid, None)
    rounds = max(1, math.ceil(args.duration / args.round))
    length = args.duration / rounds
    accs = {t: Acc() for t in targets}
    for i in range(rounds):
        order = targets if i % 2 == 0 else targets[::-1]  # ABBA: cancels linear drift
        for t in order:
            measured_round(workers, t, concurrency, length, hop_pids.get(t), cassandra_pid, accs[t])
    out: dict[str, Any] = {"concurrency": concurrency, "rounds_per_target": rounds, "round_seconds": length}
    for t in targets:
        out[t] = summarize(accs[t])
        out[t]["hop_cpu_us_per_request"] = (
            out[t]["sidecar_cpu_s_per_1k"] * 1e3 if t in hop_pids and out[t]["requests"] else None)
    compare_hops(out)
    return out


def compare_hops(level: dict[str, Any]) -> None:
    """Adds to each hop of a level (relay, sidecar) its throughput ratio to direct (and the range
    over paired rounds) and the latency it adds; with both hops, the sidecar's CPU per request
    over the relay's and whether the sidecar meets its aims against the relay."""
    d = level.get("direct")
    for t in HOPS:
        x = level.get(t)
        if x is None or d is None:
            continue
        compare_to(d, x)
    s, r = level.get("sidecar"), level.get("relay")
    if s is not None and "ratio" in s:  # the figures earlier versions of this benchmark wrote
        level["throughput_ratio"] = s["ratio"]
        for k in ("round_ratio_min", "round_ratio_max", "added_p50_ms", "added_p99_ms"):
            level[k] = s[k]
    if s is not None and r is not None:
        sc, rc = s["hop_cpu_us_per_request"], r["hop_cpu_us_per_request"]
        level["sidecar_relay_cpu"] = sc / rc if sc is not None and rc else None
        if level["sidecar_relay_cpu"] is not None and "ratio" in s and "ratio" in r:
            level["meets_aim"] = level["sidecar_relay_cpu"] <= CPU_AIM and s["ratio"] >= r["ratio"]


# -- report ----------------------------------------------------------------------------------------
def print_tables(levels: list[dict[str, Any]], targets: list[str]) -> None:
    print()
    print("Throughput and latency (latency: submit to answer in the load generator, ms); ratio and "
          "+p50/+p99 against direct,\nratio range over paired rounds")
    hdr = (f"{'conc':>5} {'target':<8} {'op/s':>9} {'ratio':>6} {'(rounds)':>11} {'p50':>8} {'p95':>8} "
           f"{'p99':>8} {'+p50':>7} {'+p99':>7} {'errors':>6}")
    header(hdr)
    for lv in levels:
        for t in targets:
            x = lv[t]
            lat = x["latency_ms"]
            rng = f"{fmt(x['round_ratio_min'], '.2f')}-{fmt(x['round_ratio_max'], '.2f')}" if "ratio" in x else ""
            print(f"{lv['concurrency']:>5} {t:<8} {x['ops_per_s']:>9,.0f} {fmt(x.get('ratio'), '.3f'):>6} "
                  f"{rng:>11} {lat['p50']:>8.3f} {lat['p95']:>8.3f} {lat['p99']:>8.3f} "
                  f"{fmt(x.get('added_p50_ms'), '+.3f'):>7} {fmt(x.get('added_p99_ms'), '+.3f'):>7} "
                  f"{x['errors']:>6}")
    print()
    print("CPU per request (µs) of the process in the path (relay or sidecar), Cassandra and the load "
          "generator;\ncores = CPU seconds per wall second")
    hdr = (f"{'conc':>5} {'target':<8} {'hop µs':>7} {'hop cores':>9} {'cassandra µs':>12} {'loadgen µs':>10} "
           f"{'loadgen cores':>13} {'machine busy':>12}")
    header(hdr)
    for lv in levels:
        for t in targets:
            x = lv[t]
            cass = x["cassandra_cpu_s_per_1k"]
            print(f"{lv['concurrency']:>5} {t:<8} {fmt(x['hop_cpu_us_per_request'], '.1f'):>7} "
                  f"{fmt(x['sidecar_cores'] if t in HOPS else None, '.2f'):>9} "
                  f"{fmt(None if cass is None else cass * 1e3, '.1f'):>12} "
                  f"{fmt(x['generator_cpu_s_per_1k'] * 1e3, '.1f'):>10} {fmt(x['generator_cores'], '.2f'):>13} "
                  f"{fmt(x['machine_busy_pct'], '.0f'):>11}%")
    if "relay" in targets and "sidecar" in targets:
        print()
        print(f"Sidecar against the relay (aim: sidecar CPU per request <= {CPU_AIM}x the relay's, "
              "throughput ratio >= the relay's)")
        hdr = (f"{'conc':>5} {'relay ratio':>11} {'sidecar ratio':>13} {'relay µs':>8} {'sidecar µs':>10} "
               f"{'sidecar/relay CPU':>17} {'aim':>5}")
        header(hdr)
        for lv in levels:
            r, s = lv["relay"], lv["sidecar"]
            aim = {True: "met", False: "not", None: "-"}[lv.get("meets_aim")]
            print(f"{lv['concurrency']:>5} {fmt(r.get('ratio'), '.3f'):>11} {fmt(s.get('ratio'), '.3f'):>13} "
                  f"{fmt(r['hop_cpu_us_per_request'], '.1f'):>8} {fmt(s['hop_cpu_us_per_request'], '.1f'):>10} "
                  f"{fmt(lv.get('sidecar_relay_cpu'), '.2f'):>17} {aim:>5}")
    busy_elsewhere = [(lv["concurrency"], t, lv[t]["other_cores"]) for lv in levels for t in targets
                      if (lv[t]["other_cores"] or 0.0) > OTHER_LOAD_WARN]
    for c, t, o in busy_elsewhere:
        print(f"  warning: other programs used about {o:.2f} cores during concurrency {c} ({t}): noisy")
    errs = [(lv["concurrency"], t, lv[t]["first_error"]) for lv in levels for t in targets if lv[t]["errors"]]
    for c, t, e in errs:
        print(f"  errors at concurrency {c} ({t}); first: {e}")


def print_profile(path: str, top: int = 30) -> None:
    import pstats

    for key in ("cumulative", "tottime"):
        print(f"\nsidecar profile, top {top} by {key}:")
        pstats.Stats(path, stream=sys.stdout).strip_dirs().sort_stats(key).print_stats(top)


# -- main ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=15.0,
                   help="measured seconds per target per concurrency level (default 15)")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="unmeasured seconds per target per concurrency level (default 2)")
    p.add_argument("--round", type=float, default=2.5,
                   help="length of one alternating round in seconds (default 2.5)")
    p.add_argument("--concurrency", default="1,8,32,128", help="outstanding requests, comma-separated")
    add_driver_args(p)
    p.add_argument("--read-ratio", type=float, default=0.5, help="share of SELECTs (default 0.5)")
    p.add_argument("--keys", type=int, default=10_000, help="key range, populated up front (default 10000)")
    p.add_argument("--cassandra", default="127.0.0.1:9042", help="Cassandra HOST:PORT")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help=f"comma-separated, of {', '.join(TARGETS)} (default: all; relay needs HAProxy)")
    p.add_argument("--sidecar-arg", action="append", default=[],
                   help="extra argument for `proxy.cli serve`, repeatable (e.g. --sidecar-arg=--no-uvloop)")
    p.add_argument("--profile", metavar="PATH", help="run the sidecar under cProfile, pstats to PATH")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = p.parse_args(argv)
    args.levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    args.target_list = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not args.levels or any(c < 1 for c in args.levels):
        p.error("--concurrency needs positive integers")
    if not args.target_list or any(t not in TARGETS for t in args.target_list):
        p.error(f"--targets takes {', '.join(TARGETS)}")
    check_driver_args(p, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the sidecar and the load generators are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.monotonic()
    machine = describe_machine()
    print(f"machine: {machine['cpus']} CPUs ({machine['cpu_model']}), Python {machine['python']}")
    if (machine["cpus"] or 1) <= 4:
        print(f"caveat: Cassandra, the sidecar and the load generator share {machine['cpus']} CPUs; the "
              "sidecar's CPU is taken from the others, so the throughput ratio is a lower bound for a "
              "sidecar on its own cores. CPU per request and low-concurrency latency carry over.")
    targets = list(args.target_list)
    if "relay" in targets and find_haproxy() is None:
        print(f"skipping the relay target: {INSTALL_HINT}")
        targets.remove("relay")
    prepare_driver(args)
    levels: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sidecar-") as tmp:
        sidecar: SidecarProc | None = None
        relay: ChildProc | None = None
        workers: LoadGenerator | None = None
        try:
            # started before this process has any driver thread (they fork)
            if "sidecar" in targets:
                sidecar = start_sidecar(args.cassandra, Path(tmp), args.profile, args.sidecar_arg)
            if "relay" in targets:
                relay = start_relay(hostport(args.cassandra), free_port(), Path(tmp))
            setup_schema(args.cassandra, args.protocol, "none", args.keys)
            _, cport = hostport(args.cassandra)
            cassandra_pid = pid_listening_on(cport)
            print(f"cassandra {args.cassandra} (pid {cassandra_pid or 'not found'}); protocol "
                  f"v{args.protocol}, compression {args.compression}, {int(args.read_ratio * 100)}% reads, "
                  f"{VALUE_SIZE} B values, {args.keys} keys")
            endpoints = {"direct": args.cassandra}
            hop_pids: dict[str, int] = {}
            if sidecar is not None:
                print(f"sidecar 127.0.0.1:{sidecar.port} (pid {sidecar.pid})"
                      f"{' under cProfile' if args.profile else ''}")
                endpoints["sidecar"], hop_pids["sidecar"] = f"127.0.0.1:{sidecar.port}", sidecar.pid
            if relay is not None:
                print(f"relay (HAProxy, TCP, one thread) 127.0.0.1:{relay.port} (pid {relay.pid})")
                endpoints["relay"], hop_pids["relay"] = f"127.0.0.1:{relay.port}", relay.pid
            cfg = {
                "endpoints": {t: endpoints[t] for t in targets},
                "protocol": args.protocol,
                "compression": args.compression,
                "keyspace": KEYSPACE,
                "table": TABLE,
                "workloads": ["kv"],
                "read_ratio": args.read_ratio,
                "keys": args.keys,
                "value_size": VALUE_SIZE,
            }
            nprocs = max(1, min(args.procs, max(args.levels)))
            workers = start_workers(args.driver, nprocs, cfg, worker_main, Path(tmp))
            print(f"load generator: {nprocs} {args.driver} process(es), pids {workers.pids()}")
            for c in args.levels:
                lv = run_level(workers, c, args, targets, hop_pids, cassandra_pid)
                levels.append(lv)
                parts = [f"{t} {lv[t]['ops_per_s']:,.0f} op/s p50 {lv[t]['latency_ms']['p50']:.3f} ms"
                         for t in targets]
                print(f"  concurrency {c:>4}: " + "; ".join(parts), flush=True)
        finally:
            if workers is not None:
                workers.stop()
            if relay is not None:
                relay.stop()
            rc = sidecar.stop() if sidecar is not None else None
            if sidecar is not None and rc not in (0, None):
                print(f"sidecar exited with {rc}; log:\n{sidecar.log_path.read_text(errors='replace')[-4000:]}")

    print_tables(levels, targets)
    elapsed = time.monotonic() - t_start
    print(f"\ntotal wall time {elapsed:.0f} s")
    if args.profile:
        print_profile(args.profile)
    if args.json:
        doc = {
            "machine": machine,
            "settings": {
                "duration": args.duration, "warmup": args.warmup, "round": args.round,
                "concurrency": args.levels, "protocol": args.protocol, "compression": args.compression,
                "procs": args.procs, "driver": args.driver, "targets": targets, "read_ratio": args.read_ratio, "keys": args.keys,
                "value_bytes": VALUE_SIZE, "cassandra": args.cassandra, "profiled": bool(args.profile),
                "sidecar_args": args.sidecar_arg,
            },
            "levels": levels,
            "wall_seconds": elapsed,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=lambda o: None) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
