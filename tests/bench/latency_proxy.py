"""A network delay in front of DynamoDB Local for the benchmarks: Toxiproxy's server (the pinned
build from `deploy/local/tools path toxiproxy-server`) relaying one local port to DynamoDB, with a
latency toxic on each direction asked for (no jitter).

    with LatencyProxy.start(("127.0.0.1", 8000), downstream_ms=3, upstream_ms=0, workdir=d) as lp:
        ... point a sidecar at lp.endpoint ...

Downstream is DynamoDB's answers, upstream the requests: a request and its answer are delayed by
the sum once. Toxiproxy delays each chunk of data by the latency counted from the chunk's arrival,
so an answer split over several reads is delayed once, not once per chunk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench_harness import ROOT, free_port

TOOLS = ROOT / "deploy" / "local" / "tools"
PROXY_NAME = "dynamodb"


def toxiproxy_binary() -> Path:
    """The pinned toxiproxy-server, built into the project's cache on first use."""
    r = subprocess.run([sys.executable, str(TOOLS), "path", "toxiproxy-server"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"could not build toxiproxy-server: {r.stderr.strip() or r.stdout.strip()}")
    return Path(r.stdout.strip().splitlines()[-1])


def _api(base: str, method: str, path: str, body: dict[str, object] | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    return json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw.decode()


@dataclass
class LatencyProxy:
    proc: subprocess.Popen[bytes]
    api: str
    port: int
    version: str
    downstream_ms: int  # whole milliseconds: what Toxiproxy takes
    upstream_ms: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, upstream: tuple[str, int], downstream_ms: int, upstream_ms: int,
              workdir: Path) -> LatencyProxy:
        binary = toxiproxy_binary()
        api_port, port = free_port(), free_port()
        log = open(workdir / "toxiproxy.log", "wb")  # noqa: SIM115 - the process's for its lifetime
        proc = subprocess.Popen([str(binary), "-host", "127.0.0.1", "-port", str(api_port)], stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, "LOG_LEVEL": "error"})
        log.close()
        base = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                version = str(_api(base, "GET", "/version"))
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"toxiproxy-server did not start:\n"
                                       f"{(workdir / 'toxiproxy.log').read_text(errors='replace')}") from None
                time.sleep(0.05)
        lp = cls(proc, base, port, version.strip(), downstream_ms, upstream_ms)
        try:
            _api(base, "POST", "/proxies", {"name": PROXY_NAME, "listen": f"127.0.0.1:{port}",
                                            "upstream": f"{upstream[0]}:{upstream[1]}", "enabled": True})
            for stream, ms in (("downstream", downstream_ms), ("upstream", upstream_ms)):
                if ms > 0:
                    _api(base, "POST", f"/proxies/{PROXY_NAME}/toxics", {
                        "name": f"latency_{stream}", "type": "latency", "stream": stream, "toxicity": 1.0,
                        "attributes": {"latency": ms, "jitter": 0}})
        except Exception:
            lp.stop()
            raise
        return lp

    def toxics(self) -> object:
        return _api(self.api, "GET", f"/proxies/{PROXY_NAME}/toxics")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> LatencyProxy:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
