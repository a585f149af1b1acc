"""The benchmarks' harness: what bench_passthrough.py, bench_dual_write.py, bench_reads.py and
other benchmarks share. Each benchmark starts its processes, then runs timed rounds against its
targets in alternating (ABBA) order with a load-generator pool, accounting CPU from /proc.

- `start_sidecar(cassandra, workdir, profile, extra_args) -> SidecarProc` (a `ChildProc`: port,
  pid, stop()); start sidecars before this process opens driver connections (it forks).
- `bench_relay.start_relay((host, port), port, workdir) -> ChildProc`: the HAProxy relay;
  `bench_relay.find_haproxy()` is None when it is not installed (`INSTALL_HINT` says how).
- `add_driver_args(parser)`, `check_driver_args(parser, args)`, `prepare_driver(args)`: the
  --driver/--procs/--protocol/--compression options; prepare_driver builds the Go program early.
- `start_workers(driver, n, cfg, python_main, log_dir) -> LoadGenerator`: the load-generator pool,
  `GoWorkers` (bench_loadgen) or `Workers` (Python processes running `python_main(conn, wid, cfg)`,
  usually with a `Round`). cfg: endpoints {name: "HOST:PORT"}, protocol, compression, keyspace,
  table, workloads (of the Go program's kv, write, get, query) and their parameters (keys,
  read_ratio, update_ratio, partitions, rows, value_size). Both pools answer
  `run(key, concurrency, duration)` (key: a target name, or "target/workload") with one result
  dict per process: ops, completed, errors, first_error, lat (array('d') bytes), cpu.
- `measured_round(workers, key, concurrency, seconds, hop_pid, cassandra_pid, acc)`: one round
  with /proc CPU accounting of the process in the path (sidecar or relay; None for direct),
  Cassandra and the machine, added to `acc` (an `Acc`; None for a warm-up).
- `summarize(acc)`: rates, latency percentiles (p50/p90/p95/p99/p99.9) and CPU per request;
  `compare_to(base, x)`: x's throughput ratio to base (and its range over paired rounds) and the
  latency it adds.
- `proc_cpu`, `machine_cpu`, `pid_listening_on`, `percentile`, `free_port`, `hostport`,
  `describe_machine`, `make_cluster` (Python driver), `fmt`, `header` (tables).
"""

from __future__ import annotations

import argparse
import array
import contextlib
import math
import multiprocessing as mp
import os
import platform
import random
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_loadgen import COMPRESSION, GoWorkers, loadgen_binary, shares
from bench_procs import ChildProc, start_child

ROOT = Path(__file__).resolve().parents[2]
VALUE_SIZE = 1024  # bytes of the blob the workloads write
CLK_TCK = os.sysconf("SC_CLK_TCK")
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


# -- load generators ------------------------------------------------------------------------------
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


def run_and_report(conn: Any, r: Any) -> None:
    """A Python worker's round: runs `r` (a Round or one of its kind) and sends its result and the
    worker's CPU for it to the coordinator."""
    cpu0 = time.process_time()
    r.run()
    conn.send(("result", {"ops": r.in_window, "completed": len(r.lat), "errors": r.errors,
                          "first_error": r.first_error, "lat": r.lat.tobytes(),
                          "cpu": time.process_time() - cpu0}))


def report_failure(conn: Any, wid: int, e: Exception) -> None:
    """A Python worker's failure, to the coordinator, which stops the run."""
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

    def __init__(self, n: int, cfg: dict[str, Any], main: Any) -> None:
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


# -- report ----------------------------------------------------------------------------------------
def fmt(v: float | None, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def header(line: str) -> None:
    """A table's column header, underlined."""
    print(line)
    print("-" * len(line))


# -- options and the machine --------------------------------------------------------------------
def add_driver_args(p: argparse.ArgumentParser) -> None:
    """The load-generator options every benchmark on this harness takes."""
    p.add_argument("--driver", choices=("go", "python"), default="go",
                   help="load generator: go (tests/bench/loadgen, built on first use; default) or python "
                        "(cassandra-driver)")
    p.add_argument("--procs", type=int, default=2,
                   help="load-generator processes; a level with concurrency N uses min(procs, N) (default 2)")
    p.add_argument("--protocol", type=int, default=4,
                   help="native protocol version: 3 or 4 with --driver go, up to 5 with --driver python (default 4)")
    p.add_argument("--compression", choices=("none", "lz4", "snappy"), default="none",
                   help="frame compression: snappy with --driver go, lz4 with --driver python (default none)")


def prepare_driver(args: argparse.Namespace) -> None:
    """Builds the Go load generator (if it is the driver) before anything else takes time."""
    if args.driver == "go":
        print(f"load generator: Go ({loadgen_binary()})", flush=True)


def check_driver_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.procs < 1:
        p.error("--procs must be positive")
    if args.driver == "go" and args.protocol not in (3, 4):
        p.error(f"--protocol {args.protocol} is not available with --driver go (gocql speaks v3 and v4); "
                "use --driver python for v5")
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
