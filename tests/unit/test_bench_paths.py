"""The in-process benchmarks still drive the code they measure: a benchmark whose stand-ins fell
behind the request path (a server field it lacks) or the read path would only fail when someone
runs it. Small runs here; the figures themselves are the benchmarks' business, never asserted."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_hotpath
import bench_row_decode

from cql_protocol.cql import parse
from cql_protocol.types import serialize
from translators.mapping import loads_mapping
from translators.reads import ReadPlan, plan_select


def test_the_hot_path_benchmark_answers_every_request() -> None:
    for lane in (True, False):
        for batch in (1, 8):
            s, u = bench_hotpath.make_session(lane)
            reqs, resps = bench_hotpath.make_traffic(batch)
            s.data_received(reqs)
            assert len(s.passing if lane else s.pending) == batch  # every request went to Cassandra
            assert u.transport.bytes == len(reqs)  # type: ignore[union-attr]
            u.data_received(resps)
            assert not s.pending and not s.passing  # and every answer came back to the client
            assert s.transport.bytes == len(resps)  # type: ignore[union-attr]


def test_the_row_decode_benchmark_reads_its_rows_both_ways() -> None:
    mapping = loads_mapping(bench_row_decode.MAPPING)
    for table, columns in (("narrow", "*"), ("wide", "*"), ("wide", "p, c, name, tags")):
        tm = mapping.table("bench", table)
        assert tm is not None
        items = bench_row_decode.items_of(tm, table, 3)
        stmt = parse(f"SELECT {columns} FROM bench.{table} WHERE p = ?")

        def plan_of() -> ReadPlan:
            return plan_select(stmt, tm, [serialize(bench_row_decode.INT, 7)],  # noqa: B023
                               now=bench_row_decode.NOW, bind_types=(bench_row_decode.INT,))

        assert bench_row_decode.answer(plan_of, items) == 3
        assert bench_row_decode.served(plan_of, items) == 3
