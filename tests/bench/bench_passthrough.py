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
targets in short rounds in ABBA order: direct, sidecar, sidecar, direct, direct, sidecar, ...

CPU is accounted from /proc: the sidecar process (CPU seconds per 1,000 requests), Cassandra (when
its process can be found from its listening port), the load generators, and the whole machine.
Everything shares one machine, so on a small box the sidecar's CPU is taken from Cassandra and the
load generator: the throughput ratio then measures the CPU cost of the extra hop, not what a
sidecar on its own cores would do. The per-request CPU cost and the latency at low concurrency are
the numbers that carry over.

--profile PATH runs the sidecar under cProfile (timed by process CPU time) and writes its pstats
there, and prints the top functions; cProfile slows the sidecar down several times, so the table of
such a run is not a benchmark.
The sidecar's pid is printed so a sampling profiler (py-spy) can be attached from outside.

Harness API, shared by bench_dual_write.py, bench_reads.py and other benchmarks:

- `start_sidecar(cassandra, workdir, profile, extra_args) -> SidecarProc` (port, pid, stop());
  start sidecars before this process opens driver connections (it forks).
- `bench_relay.start_relay((host, port), port, workdir) -> RelayProc` (pid, port, stop()).
- `start_workers(driver, n, cfg, python_main, log_dir)`: the load-generator pool, `GoWorkers` or
  `Workers` (Python, running `python_main(conn, wid, cfg)`). cfg: endpoints {name: "HOST:PORT"},
  protocol, compression, keyspace, table, workloads (of the Go program's kv, write, get, query)
  and their parameters (keys, read_ratio, update_ratio, partitions, rows). Both pools answer
  `run(key, concurrency, duration)` (key: a target name, or "target/workload") with one result
  dict per process: ops, completed, errors, first_error, lat (array('d') bytes), cpu.
- `measured_round(workers, key, concurrency, seconds, hop_pid, cassandra_pid, acc)`: one round
  with /proc CPU accounting of the process in the path (sidecar or relay; None for direct),
  Cassandra and the machine, added to `acc` (an `Acc`; None for a warm-up).
- `summarize(acc)`: rates, latency percentiles (p50/p90/p95/p99/p99.9) and CPU per request.
- `proc_cpu`, `machine_cpu`, `pid_listening_on`, `percentile`, `free_port`, `hostport`, `fmt`.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import json
import math
import multiprocessing as mp
import os
import platform
import random
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_loadgen import COMPRESSION, GoWorkers, loadgen_binary, shares
from bench_procs import ChildProc, start_child
from bench_relay import INSTALL_HINT, find_haproxy, start_relay

ROOT = Path(__file__).resolve().parents[2]
KEYSPACE = "sidecar_bench"
TABLE = "kv"
VALUE_SIZE = 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = ("direct", "relay", "sidecar")
HOPS = ("relay", "sidecar")  # targets with a process in the path, compared with direct
# the sidecar's aims against the relay: CPU per request at most this many times the relay's, and
# at least the relay's throughput ratio
CPU_AIM = 1.2
# CPU use outside Cassandra, the sidecar and the load generator above which a level is flagged
# (/proc/stat and per-process accounting disagree by up to ~0.2 core on some VMs)
OTHER_LOAD_WARN = 0.3


# -- helpers ---------------------------------------------------------------------------------------
def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def proc_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (all threads), from /proc/<pid>/stat."""
    if pid is None:
        return None
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields_ = raw[raw.rindex(")") + 2 :].split()
    return (int(fields_[11]) + int(fields_[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(vals[:8])  # guest time is already part of user
    idle = vals[3] + vals[4]
    return float(total - idle), float(total)


def pid_listening_on(port: int) -> int | None:
    """The pid of the process with a listening TCP socket on `port` (best effort, Linux only)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(parts[9])
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            for fd in (d / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        return int(d.name)
        except OSError:
            continue
    return None


def percentile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return math.nan
    idx = min(len(sorted_vals) - 1, max(0, math.ceil(q / 100 * len(sorted_vals)) - 1))
    return sorted_vals[idx]


# -- the sidecar -----------------------------------------------------------------------------------
SidecarProc = ChildProc


# cProfile with a CPU-time clock: on a shared, saturated machine a wall clock would charge the
# sidecar for the time it waits for a CPU (mostly right after the writes that wake its peers).
PROFILED_SIDECAR = """
import cProfile, sys, time
from proxy.cli import main
prof = cProfile.Profile(time.process_time)
try:
    rc = prof.runcall(main, sys.argv[2:])
finally:
    prof.dump_stats(sys.argv[1])
sys.exit(rc)
"""


def start_sidecar(cassandra: str, workdir: Path, profile: str | None, extra: list[str]) -> SidecarProc:
    port, admin_port = free_port(), free_port()
    cmd = [sys.executable]
    cmd += ["-c", PROFILED_SIDECAR, profile] if profile else ["-m", "proxy.cli"]
    cmd += [
        "serve",
        "--listen", f"127.0.0.1:{port}",
        "--cassandra", cassandra,
        "--admin", f"127.0.0.1:{admin_port}",
        "--admin-token", "bench-" + os.urandom(6).hex(),
        "--log-level", "WARNING",
        *extra,
    ]
    log_path = workdir / "sidecar.log"
    return start_child("sidecar", cmd, port, log_path, lambda: b"ready: CQL on" in log_path.read_bytes(), cwd=ROOT)


# -- driver sessions -------------------------------------------------------------------------------
def make_cluster(host: str, port: int, protocol: int, compression: str) -> Any:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]), request_timeout=30)
    return Cluster(
        [host],
        port=port,
        protocol_version=protocol,
        compression=compression if compression != "none" else False,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        schema_metadata_enabled=False,
        token_metadata_enabled=False,
        connect_timeout=10,
        control_connection_timeout=10,
    )


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


# -- load generator (one per worker process) -------------------------------------------------------
class Round:
    """Keeps `concurrency` requests outstanding until the deadline; each callback submits the next."""

    def __init__(self, session: Any, ins: Any, sel: Any, concurrency: int, duration: float,
                 read_ratio: float, keys: int, value: bytes, seed: int) -> None:
        self.session, self.ins, self.sel = session, ins, sel
        self.concurrency, self.duration = concurrency, duration
        self.read_ratio, self.keys, self.value = read_ratio, keys, value
        self.rng = random.Random(seed)
        self.lat = array.array("d")
        self.in_window = 0
        self.errors = 0
        self.first_error = ""
        self.lock = threading.Lock()
        self.active = concurrency
        self.done = threading.Event()
        self.start = self.deadline = 0.0

    def run(self) -> None:
        self.start = time.perf_counter()
        self.deadline = self.start + self.duration
        for _ in range(self.concurrency):
            self._submit()
        self.done.wait(self.duration + 60)

    def _submit(self) -> None:
        with self.lock:
            k = self.rng.randrange(self.keys)
            read = self.rng.random() < self.read_ratio
        t0 = time.perf_counter()
        if t0 >= self.deadline:
            self._slot_finished()
            return
        try:
            if read:
                fut = self.session.execute_async(self.sel, (k,))
            else:
                fut = self.session.execute_async(self.ins, (k, self.value))
        except Exception as e:  # e.g. no host available: give up this slot rather than spin
            with self.lock:
                self.errors += 1
                self.first_error = self.first_error or f"{type(e).__name__}: {e}"
            self._slot_finished()
            return
        fut.add_callbacks(self._on_ok, self._on_err, callback_args=(t0,), errback_args=(t0,))

    def _on_ok(self, _rows: Any, t0: float) -> None:
        t1 = time.perf_counter()
        self.lat.append(t1 - t0)
        if t1 <= self.deadline:
            with self.lock:
                self.in_window += 1
        self._submit()

    def _on_err(self, exc: BaseException, t0: float) -> None:
        with self.lock:
            self.errors += 1
            if not self.first_error:
                self.first_error = f"{type(exc).__name__}: {exc}"
        if self.errors > 1000:  # something is badly wrong: stop this slot
            self._slot_finished()
            return
        self._submit()

    def _slot_finished(self) -> None:
        with self.lock:
            self.active -= 1
            if self.active == 0:
                self.done.set()


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
            cpu0 = time.process_time()
            r.run()
            cpu = time.process_time() - cpu0
            conn.send(("result", {
                "ops": r.in_window,
                "completed": len(r.lat),
                "errors": r.errors,
                "first_error": r.first_error,
                "lat": r.lat.tobytes(),
                "cpu": cpu,
            }))
        for c in clusters:
            c.shutdown()
    except Exception as e:  # reported to the coordinator, which stops the run
        with contextlib.suppress(Exception):
            conn.send(("error", f"worker {wid}: {type(e).__name__}: {e}"))


class LoadGenerator(Protocol):
    """What the harness needs of a load-generator pool (Workers, GoWorkers)."""

    def run(self, key: str, concurrency: int, duration: float) -> list[dict[str, Any]]: ...
    def pids(self) -> list[int]: ...
    def stop(self) -> None: ...


class Workers:
    """Python load-generator processes, each running `main(conn, wid, cfg)` (a module-level
    function: the processes are spawned) that answers ("run", key, concurrency, duration) on its
    pipe with ("result", dict)."""

    def __init__(self, n: int, cfg: dict[str, Any], main: Any = worker_main) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that holds driver threads
        self.conns = []
        self.procs = []
        for wid in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=main, args=(child, wid, cfg), daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)
        for c in self.conns:
            self._recv(c, "ready")

    @staticmethod
    def _recv(conn: Any, kind: str) -> Any:
        if not conn.poll(120):
            raise RuntimeError("load generator did not answer")
        got, payload = conn.recv()
        if got == "error":
            raise RuntimeError(payload)
        if got != kind:
            raise RuntimeError(f"load generator sent {got!r}, expected {kind!r}")
        return payload

    def run(self, target: str, concurrency: int, duration: float) -> list[dict[str, Any]]:
        parts = shares(concurrency, len(self.conns))
        for conn, share in zip(self.conns, parts, strict=False):
            conn.send(("run", target, share, duration))
        return [self._recv(conn, "result") for conn in self.conns[:len(parts)]]

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def stop(self) -> None:
        for c in self.conns:
            with contextlib.suppress(Exception):
                c.send(("stop",))
        for p in self.procs:
            p.join(15)
            if p.is_alive():
                p.kill()
                p.join()


def start_workers(driver: str, n: int, cfg: dict[str, Any], python_main: Any, log_dir: Path) -> LoadGenerator:
    """The load-generator pool of --driver: Go processes, or Python ones running python_main."""
    if driver == "go":
        return GoWorkers(n, cfg, log_dir)
    return Workers(n, cfg, python_main)


# -- measurement -----------------------------------------------------------------------------------
@dataclass
class Acc:
    """Everything measured for one target at one concurrency, summed over its rounds."""

    ops: int = 0
    completed: int = 0
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    lat: array.array = field(default_factory=lambda: array.array("d"))
    round_rates: list[float] = field(default_factory=list)
    gen_cpu: float = 0.0
    sidecar_cpu: float = 0.0
    cassandra_cpu: float | None = 0.0
    busy: float = 0.0
    total: float = 0.0


def measured_round(workers: LoadGenerator, target: str, concurrency: int, duration: float,
                   sidecar_pid: int | None, cassandra_pid: int | None, acc: Acc | None) -> None:
    """One round; `sidecar_pid` is the process in the path (a sidecar or the relay; None for
    direct), whose CPU is counted as acc.sidecar_cpu."""
    sc0, cs0, m0 = proc_cpu(sidecar_pid), proc_cpu(cassandra_pid), machine_cpu()
    results = workers.run(target, concurrency, duration)
    sc1, cs1, m1 = proc_cpu(sidecar_pid), proc_cpu(cassandra_pid), machine_cpu()
    if acc is None:  # warm-up
        for r in results:
            if r["errors"]:
                print(f"  warm-up {target}: {r['errors']} errors, first: {r['first_error']}", flush=True)
        return
    ops = sum(r["ops"] for r in results)
    acc.ops += ops
    acc.completed += sum(r["completed"] for r in results)
    acc.errors += sum(r["errors"] for r in results)
    acc.first_error = acc.first_error or next((r["first_error"] for r in results if r["first_error"]), "")
    acc.seconds += duration
    acc.round_rates.append(ops / duration)
    for r in results:
        acc.lat.frombytes(r["lat"])
        acc.gen_cpu += r["cpu"]
    if sc0 is not None and sc1 is not None:
        acc.sidecar_cpu += sc1 - sc0
    if acc.cassandra_cpu is not None and cs0 is not None and cs1 is not None:
        acc.cassandra_cpu += cs1 - cs0
    else:
        acc.cassandra_cpu = None
    # machine CPU over the round's wall time (includes the drain after the deadline)
    acc.busy += m1[0] - m0[0]
    acc.total += m1[1] - m0[1]


def summarize(acc: Acc) -> dict[str, Any]:
    lat = sorted(acc.lat)
    ms = 1000.0
    per_k = 1000.0 / acc.completed if acc.completed else math.nan
    return {
        "ops_per_s": acc.ops / acc.seconds if acc.seconds else 0.0,
        "requests": acc.completed,
        "errors": acc.errors,
        "first_error": acc.first_error,
        "round_ops_per_s": [round(x, 1) for x in acc.round_rates],
        "latency_ms": {
            "mean": (sum(lat) / len(lat) * ms) if lat else math.nan,
            "p50": percentile(lat, 50) * ms,
            "p90": percentile(lat, 90) * ms,
            "p95": percentile(lat, 95) * ms,
            "p99": percentile(lat, 99) * ms,
            "p99.9": percentile(lat, 99.9) * ms,
            "max": (lat[-1] * ms) if lat else math.nan,
        },
        "sidecar_cpu_s": acc.sidecar_cpu,
        "sidecar_cpu_s_per_1k": acc.sidecar_cpu * per_k,
        "cassandra_cpu_s_per_1k": None if acc.cassandra_cpu is None else acc.cassandra_cpu * per_k,
        "generator_cpu_s_per_1k": acc.gen_cpu * per_k,
        "generator_cores": acc.gen_cpu / acc.seconds if acc.seconds else 0.0,
        "sidecar_cores": acc.sidecar_cpu / acc.seconds if acc.seconds else 0.0,
        "machine_busy_pct": 100.0 * acc.busy / acc.total if acc.total else math.nan,
        # CPU of everything else on the machine (other programs, kernel threads): noise indicator
        "other_cores": (
            (acc.busy / CLK_TCK - acc.sidecar_cpu - (acc.cassandra_cpu or 0.0) - acc.gen_cpu) / acc.seconds
            if acc.seconds and acc.cassandra_cpu is not None else None
        ),
    }


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


def compare_to(base: dict[str, Any], x: dict[str, Any], rate: str = "ops_per_s",
               added: tuple[str, ...] = ("p50", "p99")) -> None:
    """Adds to a target's summary x its throughput ratio to base's (`rate`, and its range over the
    paired rounds from `round_<rate>`) and the latency it adds (added_<q>_ms)."""
    x["ratio"] = x[rate] / base[rate] if base[rate] else math.nan
    pairs = [b / a for a, b in zip(base[f"round_{rate}"], x[f"round_{rate}"], strict=False) if a]
    x["round_ratio_min"] = min(pairs) if pairs else math.nan
    x["round_ratio_max"] = max(pairs) if pairs else math.nan
    for q in added:
        x[f"added_{q}_ms"] = x["latency_ms"][q] - base["latency_ms"][q]


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
def fmt(v: float | None, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def header(line: str) -> None:
    """A table's column header, underlined."""
    print(line)
    print("-" * len(line))


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


def add_driver_args(p: argparse.ArgumentParser) -> None:
    """The load-generator options every benchmark on this harness takes."""
    p.add_argument("--driver", choices=("go", "python"), default="go",
                   help="load generator: go (tests/bench/loadgen, built on first use; default) or python "
                        "(cassandra-driver)")
    p.add_argument("--procs", type=int, default=2,
                   help="load-generator processes; a level with concurrency N uses min(procs, N) (default 2)")
    p.add_argument("--protocol", type=int, default=4, help="native protocol version (default 4)")
    p.add_argument("--compression", choices=("none", "lz4", "snappy"), default="none",
                   help="frame compression: snappy with --driver go, lz4 with --driver python (default none)")


def prepare_driver(args: argparse.Namespace) -> None:
    """Builds the Go load generator (if it is the driver) before anything else takes time."""
    if args.driver == "go":
        print(f"load generator: Go ({loadgen_binary()})", flush=True)


def check_driver_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.procs < 1:
        p.error("--procs must be positive")
    if args.compression not in COMPRESSION[args.driver]:
        p.error(f"--compression {args.compression} is not available with --driver {args.driver} (it has "
                f"{', '.join(COMPRESSION[args.driver])}; the Go module proxy serves no lz4 compressor for gocql)")


def describe_machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = m.group(1) if m else ""
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform()}


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
