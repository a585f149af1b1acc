#!/usr/bin/env python3
"""CPU cost per row of answering a read from DynamoDB items, without sockets or DynamoDB.

    .venv/bin/python tests/bench/bench_row_decode.py [--rows 20] [--repeat 300] [--profile]

Items are made the way the mirror makes them (a translated INSERT merged into a row state, then
`to_item`) and turned into DynamoDB's JSON wire form (bytes as base64), as the HTTP client hands
them over. Each iteration plans the prepared partition read `SELECT * FROM t WHERE p = ?` and turns
every item into the CQL row the client gets, as the reader serves it (the plan's straight path from
the wire attributes to the cell bytes, translators/reads/fast_rows.py, when it applies) and by the
general path: `from_wire_item`, `expand`, `decode_item` (the row state and its visibility),
`project` (the CQL cell bytes). Two tables: `narrow` (p int, c int,
v blob of 1 KiB: the layout of bench_reads.py) and `wide` (eleven columns of common types, a
frozen list, a non-frozen set and a non-frozen map), the latter read whole and by its plain columns.

It prints microseconds of CPU per row (best of 3), with the planning share, then each step's cost
for one row. The difference to bench_reads.py's sidecar CPU per read is the HTTP request, the
JSON parsing and the event loop.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime
import decimal
import pstats
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson

from cql_protocol.cql import parse
from cql_protocol.types import TypeCode, native, serialize
from translators import item_codec
from translators.mapping import TableMapping, loads_mapping
from translators.reads import ReadPlan, plan_select
from translators.reads.fast_rows import NO_ROW, FastRows
from translators.reads.rows import decode_item, project
from translators.row_state import merge
from translators.statements import RowWrite, translate

MAPPING = """
version: 1
tables:
  - cql: bench.narrow
    dynamodb_table: bench_narrow
    schema:
      columns: {p: int, c: int, v: blob}
      partition_key: [p]
      clustering: [c]
  - cql: bench.wide
    dynamodb_table: bench_wide
    schema:
      columns: {p: int, c: int, name: text, n: bigint, amount: decimal, at: timestamp, id: uuid,
                ok: boolean, score: double, note: text, data: blob,
                tags: 'frozen<list<text>>', labels: 'set<text>', attrs: 'map<text, int>'}
      partition_key: [p]
      clustering: [c]
"""
NOW = 1_700_000_000
INT = native(TypeCode.INT)


def _wire(a: Any) -> Any:
    return base64.b64encode(a).decode() if isinstance(a, bytes | bytearray) else a


def _row_values(table: str, c: int) -> dict[str, Any]:
    if table == "narrow":
        return {"p": 7, "c": c, "v": bytes(range(256)) * 4}
    return {"p": 7, "c": c, "name": f"name-{c}", "n": 2**40 + c, "amount": decimal.Decimal("12.34"),
            "at": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), "id": uuid.UUID(int=c),
            "ok": c % 2 == 0, "score": 0.5 + c, "note": "x" * 100, "data": bytes(200),
            "tags": ["a", "b", "c"], "labels": {"red", "green"}, "attrs": {"k1": 1, "k2": 2}}


def items_of(tm: TableMapping, table: str, rows: int) -> list[dict[str, Any]]:
    cols = tm.schema.columns
    names = list(cols)
    stmt = parse(f"INSERT INTO bench.{table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})")
    out = []
    for c in range(rows):
        vals = _row_values(table, c)
        bound = [serialize(cols[n], vals[n]) for n in names]
        writes = translate(stmt, resolve=lambda k, t: tm, session_keyspace=None, values=bound, protocol_version=4,
                           timestamp=NOW * 1_000_000 + c, now=NOW, bind_types=tuple(cols[n] for n in names))
        w = writes[0]
        assert isinstance(w, RowWrite)
        item = item_codec.to_item(tm, w.key.partition, w.key.clustering, merge(None, w.mutation, NOW), NOW)
        out.append(orjson.loads(orjson.dumps(item, default=_wire)))
    return out


def answer(plan_of: Callable[[], ReadPlan], items: list[dict[str, Any]]) -> int:
    """The general path: every item decoded into its row state, then projected."""
    plan = plan_of()
    n = 0
    for raw in items:
        d = decode_item(plan, item_codec.expand(item_codec.from_wire_item(raw)))
        assert d is not None and d.live is not None
        project(plan, d, None)
        n += 1
    return n


def served(plan_of: Callable[[], ReadPlan], items: list[dict[str, Any]]) -> int:
    """As DynamoReader serves a page: the plan's straight path (reads.fast_rows) when it applies."""
    plan = plan_of()
    fast = FastRows.of(plan)
    n = 0
    for raw in items:
        cells = fast.cells(raw) if fast is not None else None
        if cells is None:
            d = decode_item(plan, item_codec.expand(item_codec.from_wire_item(raw)))
            assert d is not None and d.live is not None
            cells = project(plan, d, None)
        assert cells is not NO_ROW
        n += 1
    return n


def per_call(fn: Callable[[], Any], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - t)
    return best / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20, help="rows per partition read (default 20)")
    ap.add_argument("--repeat", type=int, default=300, help="partition reads per measurement (default 300)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the wide table's reads")
    args = ap.parse_args()
    mapping = loads_mapping(MAPPING)
    print(f"Python {sys.version.split()[0]}; CPU microseconds, best of 3; partition reads of {args.rows} rows")
    cases = [("narrow", "*"), ("wide", "*"),
             ("wide", "p, c, name, n, amount, at, id, ok, score, note, data, tags")]  # no non-frozen collection
    for table, columns in cases:
        tm = mapping.table("bench", table)
        assert tm is not None
        items = items_of(tm, table, args.rows)
        stmt = parse(f"SELECT {columns} FROM bench.{table} WHERE p = ?")
        key = [serialize(INT, 7)]

        def plan_of(stmt: Any = stmt, tm: TableMapping = tm, key: list[bytes] = key) -> ReadPlan:
            return plan_select(stmt, tm, key, now=NOW, bind_types=(INT,))

        whole = per_call(lambda: answer(plan_of, items), args.repeat) / args.rows  # noqa: B023
        as_served = per_call(lambda: served(plan_of, items), args.repeat) / args.rows  # noqa: B023
        plan_us = per_call(plan_of, args.repeat * 5)
        plan = plan_of()
        raw = items[len(items) // 2]
        wired = item_codec.expand(item_codec.from_wire_item(raw))
        d = decode_item(plan, wired)
        assert d is not None
        steps = {
            "from_wire_item": per_call(lambda: item_codec.from_wire_item(raw), args.repeat * 20),  # noqa: B023
            "decode_item": per_call(lambda: decode_item(plan, wired), args.repeat * 20),  # noqa: B023
            "project": per_call(lambda: project(plan, d, None), args.repeat * 20),  # noqa: B023
        }
        what = f"{table} ({len(tm.schema.columns)} columns), " + ("SELECT *" if columns == "*" else
                                                                f"{columns.count(',') + 1} plain columns")
        print(f"  {what}:\n    as served {as_served:6.2f} us per row "
              f"(straight path: {'yes' if FastRows.of(plan_of()) is not None else 'no'});\n    general path "
              f"{whole:6.2f} us per row, of which planning "
              f"{plan_us / args.rows:.2f} ({plan_us:.1f} us per read); "
              + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
        if args.profile and table == "wide" and columns == "*":
            pr = cProfile.Profile(time.process_time)
            pr.enable()
            for _ in range(args.repeat):
                answer(plan_of, items)
            pr.disable()
            pstats.Stats(pr).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
