"""`--workers N`: the range tasks spread over N processes, each with its own driver session and
DynamoDB client; events come back on a queue to the parent, which alone writes the ledger."""

from __future__ import annotations

import multiprocessing as mp
import queue
from typing import Any

from .failures import describe
from .runner import Emit, JobSpec, Task, run_in_process


def _worker(spec_d: dict[str, Any], tasks: list[Task], q: Any) -> None:
    try:
        run_in_process(JobSpec(**spec_d), tasks, q.put)
    except Exception as e:  # said once by the parent, not as a child's traceback
        q.put({"kind": "exit", "error": describe(e)})
    else:
        q.put({"kind": "exit"})


def run_job(spec: JobSpec, tasks: list[Task], emit: Emit, workers: int = 1) -> None:
    """Runs every task; `emit` sees every event in this process."""
    if workers <= 1 or len(tasks) <= 1:
        run_in_process(spec, tasks, emit)
        return
    n = min(workers, len(tasks))
    # ranges dealt round-robin: neighbouring ranges (similar sizes) go to different workers
    shares = [tasks[i::n] for i in range(n)]
    ctx = mp.get_context("spawn")  # no driver threads or event loops carried into the children
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(spec.to_dict(), share, q), daemon=True) for share in shares]
    for p in procs:
        p.start()
    finished: set[tuple[str, str]] = set()
    exited = 0
    died = "its worker process died"
    try:
        while exited < n:
            try:
                ev = q.get(timeout=1.0)
            except queue.Empty:
                if all(not p.is_alive() for p in procs):
                    # a worker died without saying so (killed, out of memory): drain what it sent
                    try:
                        while True:
                            ev = q.get_nowait()
                            if ev.get("kind") != "exit":
                                _track(ev, finished)
                                emit(ev)
                    except queue.Empty:
                        break
                continue
            if ev.get("kind") == "exit":
                exited += 1
                died = ev.get("error") or died
                continue
            _track(ev, finished)
            emit(ev)
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
    for t in tasks:
        if (t.table, t.range) not in finished:
            emit({"kind": "failed", "table": t.table, "range": t.range, "error": died})


def _track(ev: dict[str, Any], finished: set[tuple[str, str]]) -> None:
    if ev.get("kind") in ("done", "failed"):
        finished.add((ev["table"], ev["range"]))
