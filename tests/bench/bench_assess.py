#!/usr/bin/env python3
"""CPU the assessment adds per request on a mapped table (the hook in ClientSession.on_client_frame).

    .venv/bin/python tests/bench/bench_assess.py [--requests N] [--rounds R] [--sample 1,10,100]

Real EXECUTE frames of a prepared INSERT (a 1 KiB text) and a prepared SELECT by key on a mapped
table go through describe() and decide(), as on the request path: that is the baseline. The same
frames then also go through Assessor.observe(), and a sampled SELECT's RESULT (one row) through
the response handler it returns, at each --sample percentage. Each round times N requests with the
process CPU clock; the added microseconds per request are given as percentiles over the rounds,
with the ratio to the baseline. No sockets, no event loop, no store.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cql_protocol.messages import Execute, Query, QueryParameters, Rows, encode_message
from cql_protocol.messages.result import ColumnSpec, RowsMetadata
from cql_protocol.types import TypeCode, native, serialize
from proxy.assess.collector import Assessor
from proxy.routing.decide import decide
from proxy.routing.request import PreparedStatement, describe
from proxy.session.session_port import Pending
from translators.mapping import loads_mapping

MAPPING = """
version: 1
tables:
  - cql: ks.t
    dynamodb_table: bench_t
    schema:
      columns: {p: text, c: int, v: text}
      partition_key: [p]
      clustering: [{c: asc}]
"""
TEXT, INT = native(TypeCode.VARCHAR), native(TypeCode.INT)
INSERT_ID, SELECT_ID = b"i" * 16, b"s" * 16
PREPARED = {
    INSERT_ID: PreparedStatement.of("INSERT INTO ks.t (p, c, v) VALUES (?, ?, ?)", "ks", (TEXT, INT, TEXT)),
    SELECT_ID: PreparedStatement.of("SELECT * FROM ks.t WHERE p = ? AND c = ?", "ks", (TEXT, INT)),
}
VIEW = SimpleNamespace(draining=False, mirroring=True, phase_of=lambda ks, t: ("cassandra", 100.0))


class Port:
    """What a response handler asks of the session: relaying the answer."""

    keyspace = "ks"
    dual = None

    def relay(self, frame: Any, stream: Any) -> None:
        pass


def frames(n: int, inline: bool = False) -> list[Any]:
    out = []
    for i in range(n):
        key = [serialize(TEXT, f"p{i % 500}", 4), serialize(INT, i, 4)]
        if inline:  # the values in the statement text, each request a new text
            text = (f"SELECT * FROM ks.t WHERE p = 'p{i % 500}' AND c = {i}" if i % 2 else
                    f"INSERT INTO ks.t (p, c, v) VALUES ('p{i % 500}', {i}, '{'v' * 1024}')")
            msg: Any = Query(text, QueryParameters(1))
        elif i % 2:
            msg = Execute(SELECT_ID, QueryParameters(1, key))
        else:
            msg = Execute(INSERT_ID, QueryParameters(1, [*key, serialize(TEXT, "v" * 1024, 4)]))
        out.append(encode_message(msg, 4, i % 32000, response=False))
    return out


ROW = encode_message(Rows(RowsMetadata([ColumnSpec("ks", "t", "p", TEXT), ColumnSpec("ks", "t", "c", INT),
                                        ColumnSpec("ks", "t", "v", TEXT)]),
                          [[serialize(TEXT, "p1", 4), serialize(INT, 1, 4), serialize(TEXT, "v" * 1024, 4)]]),
                     4, 1, response=True)


def run(fs: list[Any], assessor: Assessor | None) -> float:
    """CPU seconds for the requests in `fs`."""
    port = Port()
    pending = Pending(1, 0, 0.0, None)
    t0 = time.process_time()
    for f in fs:
        req = describe(f, "ks", PREPARED, {})
        action = decide(req, VIEW)  # type: ignore[arg-type]
        if assessor is not None:
            sized = assessor.observe(port, req, action)  # type: ignore[arg-type]
            if sized is not None:
                sized(port, ROW, pending)  # type: ignore[arg-type]
    return time.process_time() - t0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def measure(fs: list[Any], samples: list[float], rounds: int, mapping: Any) -> tuple[list[float], dict[float, list[float]]]:
    assessors = {s: Assessor(mapping, sample_percent=s) for s in samples}
    for a in assessors.values():  # warm: every shape seen, caches filled
        run(fs[:200], a)
    base: list[float] = []
    added: dict[float, list[float]] = {s: [] for s in samples}
    for _ in range(rounds):  # interleaved, so a noisy neighbour hits every variant alike
        b = run(fs, None) / len(fs) * 1e6
        base.append(b)
        for s, a in assessors.items():
            added[s].append(run(fs, a) / len(fs) * 1e6 - b)
    return base, added


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--sample", default="0.01,1,10,100", help="sample percentages to measure")
    args = ap.parse_args()
    mapping = loads_mapping(MAPPING)
    samples = [float(x) for x in args.sample.split(",")]
    for title, inline in (("prepared statements (EXECUTE)", False), ("values inline (QUERY, every text new)", True)):
        base, added = measure(frames(args.requests, inline), samples, args.rounds, mapping)
        print(f"{title}: {args.requests} requests x {args.rounds} rounds, half INSERT with 1 KiB, half SELECT by key")
        print(f"  baseline describe()+decide(): p50 {statistics.median(base):.2f} us/request")
        print(f"  {'sample %':>9} {'added p50':>10} {'p90':>7} {'max':>7} {'ratio p50':>10}   (us of CPU per request)")
        for s in samples:
            xs = added[s]
            print(f"  {s:>9g} {pct(xs, 50):>10.2f} {pct(xs, 90):>7.2f} {max(xs):>7.2f} "
                  f"{(statistics.median(base) + pct(xs, 50)) / statistics.median(base):>9.2f}x")


if __name__ == "__main__":
    main()
