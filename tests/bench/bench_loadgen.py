"""The Go load generator (tests/bench/loadgen) as the benchmarks' harness drives it.

`loadgen_binary()` builds it with `go build` into the project's cache on first use (rebuilt when its
sources change); `GoWorkers` runs `--procs` copies with `-serve` and hands them timed rounds over
stdin/stdout, one JSON line each way, with the same interface as bench_harness's Python
`Workers`: `run(key, concurrency, duration)` returns one result dict per process, `pids()`,
`stop()`. A round key is a target name, or `target/workload` when the processes were given
several workloads.

A result dict (both drivers): ops (answered before the deadline), completed (all answered),
errors, first_error, lat (the latencies in seconds as array('d') bytes; from the Go process's
histogram, each bucket's middle repeated for its count), cpu (the process's own CPU seconds in
the round).
"""

from __future__ import annotations

import array
import contextlib
import json
import runpy
import select
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LOADGEN_SRC = HERE / "loadgen"
COMPRESSION = {"go": ("none", "snappy"), "python": ("none", "lz4")}  # what each driver can use here


def shares(concurrency: int, procs: int) -> list[int]:
    """Concurrency spread over at most `procs` processes, as evenly as integers allow."""
    n = max(1, min(procs, concurrency))
    return [concurrency // n + (1 if i < concurrency % n else 0) for i in range(n)]


def loadgen_binary() -> Path:
    """The built load generator; RuntimeError saying what is missing when it cannot be built."""
    backends = runpy.run_path(str(ROOT / "deploy" / "local" / "backends"), run_name="cdp_backends")
    try:
        return Path(backends["go_source_binary"]("loadgen", LOADGEN_SRC, "the benchmarks' load generator"))
    except backends["BackendError"] as e:
        raise RuntimeError(f"cannot build the Go load generator: {e} (or run with --driver python)") from e


def loadgen_args(cfg: dict[str, Any], seed: int) -> list[str]:
    """Command-line options for one load-generator process from a harness config: endpoints
    (name -> HOST:PORT), workloads, keyspace, table, protocol, compression, and the workloads'
    parameters (keys, read_ratio, update_ratio, partitions, rows) where given."""
    args = ["-serve", "-seed", str(seed), "-keyspace", cfg["keyspace"], "-table", cfg.get("table", "kv"),
            "-workload", ",".join(cfg["workloads"]), "-protocol", str(cfg["protocol"]),
            "-compression", cfg.get("compression", "none"), "-conns", str(cfg.get("conns", 1))]
    for name, addr in cfg["endpoints"].items():
        args += ["-endpoint", f"{name}={addr}"]
    for key, flag in (("keys", "-keys"), ("read_ratio", "-read-ratio"), ("update_ratio", "-update-ratio"),
                      ("partitions", "-partitions"), ("rows", "-rows"), ("value_size", "-value-size")):
        if key in cfg:
            args += [flag, str(cfg[key])]
    return args


def latencies(hist: Iterable[tuple[float, float] | list[float]]) -> array.array:
    """Seconds, one per request, from the histogram's [microseconds, count] pairs."""
    out = array.array("d")
    for us, count in hist:
        out.extend([us / 1e6] * int(count))
    return out


def parse_result(line: str) -> dict[str, Any]:
    """One round's JSON line as the harness's result dict (see the module docstring)."""
    doc = json.loads(line)
    if "error" in doc:
        raise RuntimeError(f"load generator: {doc['error']}")
    return {
        "ops": int(doc["ops"]),
        "completed": int(doc["completed"]),
        "errors": int(doc["errors"]),
        "first_error": doc.get("first_error", ""),
        "lat": latencies(doc["hist"]).tobytes(),
        "cpu": float(doc["cpu_s"]),
        "latency_ms": doc.get("latency_ms", {}),
    }


class GoWorkers:
    """`n` Go load-generator processes, each with one session per endpoint in cfg."""

    def __init__(self, n: int, cfg: dict[str, Any], log_dir: Path) -> None:
        binary = loadgen_binary()
        self.workloads = list(cfg["workloads"])
        self.procs: list[subprocess.Popen[str]] = []
        self.logs = [log_dir / f"loadgen-{i}.log" for i in range(n)]
        try:
            for wid, log in enumerate(self.logs):
                with open(log, "w") as err:
                    self.procs.append(subprocess.Popen(
                        [str(binary), *loadgen_args(cfg, seed=wid + 1)], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1))
            for i in range(n):
                doc = json.loads(self._line(i, 120))
                if not doc.get("ready"):
                    raise RuntimeError(f"load generator {i}: {doc.get('error', doc)}")
        except BaseException:
            self.stop()
            raise

    def _line(self, i: int, timeout: float) -> str:
        p = self.procs[i]
        out: IO[str] = p.stdout  # type: ignore[assignment]
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([out], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                line = out.readline()
                if line:
                    return line
            if not ready or p.poll() is not None:
                tail = self.logs[i].read_text(errors="replace")[-2000:]
                state = "did not answer" if p.poll() is None else f"exited with {p.returncode}"
                raise RuntimeError(f"load generator {i} {state}:\n{tail}")

    def run(self, key: str, concurrency: int, duration: float) -> list[dict[str, Any]]:
        target, _, workload = key.partition("/")
        cmd = {"target": target, "workload": workload or self.workloads[0], "duration": duration}
        parts = shares(concurrency, len(self.procs))
        for p, share in zip(self.procs, parts, strict=False):
            assert p.stdin is not None
            p.stdin.write(json.dumps({**cmd, "concurrency": share}) + "\n")
            p.stdin.flush()
        return [parse_result(self._line(i, duration + 120)) for i in range(len(parts))]

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(Exception):
                assert p.stdin is not None
                p.stdin.write('{"stop": true}\n')
                p.stdin.close()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()
