#!/usr/bin/env python3
"""Pass-through overhead of the sidecar: the same workload against Cassandra directly and through
a sidecar started for the run, at several fixed concurrencies, in alternating short rounds.

    .venv/bin/python tests/bench/bench_passthrough.py [--duration S] [--warmup S]
        [--concurrency 1,8,32,128] [--protocol 4] [--compression none|lz4] [--json out.json]

Workload: prepared INSERT (1 KiB blob) / SELECT by key, mixed 50/50 by default, over a fixed key
range populated up front. Each concurrency level keeps exactly N requests outstanding, spread over
--procs load-generator processes (each with its own driver connection per target), and records
per-request latency from submit to callback with time.perf_counter.

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
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KEYSPACE = "sidecar_bench"
TABLE = "kv"
VALUE_SIZE = 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = ("direct", "sidecar")
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
@dataclass
class SidecarProc:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # drains, and lets cProfile write its file
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _die_with_parent() -> None:
    """In the sidecar child: get SIGINT should this benchmark die without cleaning up (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG


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
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sidecar exited with {proc.returncode}:\n{log_path.read_text()}")
        if b"ready: CQL on" in log_path.read_bytes():
            return SidecarProc(proc, port, log_path)
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"sidecar did not start:\n{log_path.read_text()}")


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


class Workers:
    def __init__(self, n: int, cfg: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that holds driver threads
        self.conns = []
        self.procs = []
        for wid in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(child, wid, cfg), daemon=True)
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
        n = min(len(self.conns), concurrency)
        shares = [concurrency // n + (1 if i < concurrency % n else 0) for i in range(n)]
        for conn, share in zip(self.conns, shares, strict=False):
            conn.send(("run", target, share, duration))
        return [self._recv(conn, "result") for conn in self.conns[:n]]

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


def measured_round(workers: Workers, target: str, concurrency: int, duration: float,
                   sidecar_pid: int, cassandra_pid: int | None, acc: Acc | None) -> None:
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


def run_level(workers: Workers, concurrency: int, args: argparse.Namespace, targets: list[str],
              sidecar_pid: int, cassandra_pid: int | None) -> dict[str, Any]:
    for t in targets:  # warm-up: connections, prepared statements, JIT, caches
        measured_round(workers, t, concurrency, args.warmup, sidecar_pid, cassandra_pid, None)
    rounds = max(1, math.ceil(args.duration / args.round))
    length = args.duration / rounds
    accs = {t: Acc() for t in targets}
    for i in range(rounds):
        order = targets if i % 2 == 0 else targets[::-1]  # ABBA: cancels linear drift
        for t in order:
            measured_round(workers, t, concurrency, length, sidecar_pid, cassandra_pid, accs[t])
    out: dict[str, Any] = {"concurrency": concurrency, "rounds_per_target": rounds, "round_seconds": length}
    for t in targets:
        out[t] = summarize(accs[t])
    if "direct" in out and "sidecar" in out:
        d, s = out["direct"], out["sidecar"]
        out["throughput_ratio"] = s["ops_per_s"] / d["ops_per_s"] if d["ops_per_s"] else math.nan
        pairs = [b / a for a, b in zip(d["round_ops_per_s"], s["round_ops_per_s"], strict=False) if a]
        out["round_ratio_min"] = min(pairs) if pairs else math.nan
        out["round_ratio_max"] = max(pairs) if pairs else math.nan
        for q in ("p50", "p99"):
            out[f"added_{q}_ms"] = s["latency_ms"][q] - d["latency_ms"][q]
    return out


# -- report ----------------------------------------------------------------------------------------
def fmt(v: float | None, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def print_tables(levels: list[dict[str, Any]], targets: list[str]) -> None:
    both = len(targets) == 2
    print()
    if both:
        print("Throughput and latency (latency: submit to callback in the load generator, ms)")
        hdr = (f"{'conc':>5} {'direct op/s':>12} {'sidecar op/s':>13} {'ratio':>6} {'(rounds)':>13} "
               f"{'p50 d':>7} {'p50 s':>7} {'+p50':>7} {'p99 d':>7} {'p99 s':>7} {'+p99':>7}")
        print(hdr)
        print("-" * len(hdr))
        for lv in levels:
            d, s = lv["direct"], lv["sidecar"]
            rng = f"{fmt(lv['round_ratio_min'], '.2f')}-{fmt(lv['round_ratio_max'], '.2f')}"
            print(f"{lv['concurrency']:>5} {d['ops_per_s']:>12,.0f} {s['ops_per_s']:>13,.0f} "
                  f"{lv['throughput_ratio']:>6.3f} {rng:>13} "
                  f"{d['latency_ms']['p50']:>7.3f} {s['latency_ms']['p50']:>7.3f} {lv['added_p50_ms']:>+7.3f} "
                  f"{d['latency_ms']['p99']:>7.3f} {s['latency_ms']['p99']:>7.3f} {lv['added_p99_ms']:>+7.3f}")
    else:
        t = targets[0]
        print(f"Throughput and latency, {t} only (ms)")
        hdr = f"{'conc':>5} {'op/s':>12} {'p50':>7} {'p90':>7} {'p99':>7} {'p99.9':>7}"
        print(hdr)
        print("-" * len(hdr))
        for lv in levels:
            x = lv[t]
            lat = x["latency_ms"]
            print(f"{lv['concurrency']:>5} {x['ops_per_s']:>12,.0f} {lat['p50']:>7.3f} {lat['p90']:>7.3f} "
                  f"{lat['p99']:>7.3f} {lat['p99.9']:>7.3f}")
    print()
    print("CPU (seconds of CPU per 1,000 requests; cores = CPU seconds per wall second)")
    hdr = (f"{'conc':>5} {'target':>8} {'sidecar s/1k':>13} {'sidecar cores':>14} {'cassandra s/1k':>15} "
           f"{'loadgen s/1k':>13} {'loadgen cores':>14} {'machine busy':>13} {'errors':>7}")
    print(hdr)
    print("-" * len(hdr))
    for lv in levels:
        for t in targets:
            x = lv[t]
            print(f"{lv['concurrency']:>5} {t:>8} {fmt(x['sidecar_cpu_s_per_1k'], '.4f'):>13} "
                  f"{fmt(x['sidecar_cores'], '.2f'):>14} {fmt(x['cassandra_cpu_s_per_1k'], '.4f'):>15} "
                  f"{fmt(x['generator_cpu_s_per_1k'], '.4f'):>13} {fmt(x['generator_cores'], '.2f'):>14} "
                  f"{fmt(x['machine_busy_pct'], '.0f'):>12}% {x['errors']:>7}")
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
    p.add_argument("--protocol", type=int, default=4, help="native protocol version (default 4)")
    p.add_argument("--compression", choices=("none", "lz4"), default="none")
    p.add_argument("--procs", type=int, default=2,
                   help="load-generator processes; a level with concurrency N uses min(procs, N) (default 2)")
    p.add_argument("--read-ratio", type=float, default=0.5, help="share of SELECTs (default 0.5)")
    p.add_argument("--keys", type=int, default=10_000, help="key range, populated up front (default 10000)")
    p.add_argument("--cassandra", default="127.0.0.1:9042", help="Cassandra HOST:PORT")
    p.add_argument("--targets", default="direct,sidecar", help="direct,sidecar (default both)")
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
        p.error("--targets takes direct and/or sidecar")
    return args


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
    with tempfile.TemporaryDirectory(prefix="bench-sidecar-") as tmp:
        # started before this process has any driver thread (it forks)
        sidecar = start_sidecar(args.cassandra, Path(tmp), args.profile, args.sidecar_arg)
        workers: Workers | None = None
        try:
            setup_schema(args.cassandra, args.protocol, args.compression, args.keys)
            _, cport = hostport(args.cassandra)
            cassandra_pid = pid_listening_on(cport)
            print(f"cassandra {args.cassandra} (pid {cassandra_pid or 'not found'}); protocol "
                  f"v{args.protocol}, compression {args.compression}, {int(args.read_ratio * 100)}% reads, "
                  f"{VALUE_SIZE} B values, {args.keys} keys")
            print(f"sidecar 127.0.0.1:{sidecar.port} (pid {sidecar.pid}){' under cProfile' if args.profile else ''}")
            endpoints = {"direct": args.cassandra, "sidecar": f"127.0.0.1:{sidecar.port}"}
            cfg = {
                "endpoints": {t: endpoints[t] for t in args.target_list},
                "protocol": args.protocol,
                "compression": args.compression,
                "read_ratio": args.read_ratio,
                "keys": args.keys,
            }
            nprocs = max(1, min(args.procs, max(args.levels)))
            workers = Workers(nprocs, cfg)
            print(f"load generator: {nprocs} process(es), pids {workers.pids()}")
            levels = []
            for c in args.levels:
                lv = run_level(workers, c, args, args.target_list, sidecar.pid, cassandra_pid)
                levels.append(lv)
                parts = [f"{t} {lv[t]['ops_per_s']:,.0f} op/s p50 {lv[t]['latency_ms']['p50']:.3f} ms"
                         for t in args.target_list]
                print(f"  concurrency {c:>4}: " + "; ".join(parts), flush=True)
        finally:
            if workers is not None:
                workers.stop()
            rc = sidecar.stop()
            if rc not in (0, None):
                print(f"sidecar exited with {rc}; log:\n{sidecar.log_path.read_text(errors='replace')[-4000:]}")

    print_tables(levels, args.target_list)
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
                "procs": args.procs, "read_ratio": args.read_ratio, "keys": args.keys,
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
