"""`cql-dynamo-proxy restore-cassandra`: copy DynamoDB back into Cassandra (the way back from `dynamo`).

Exit codes: 0 every segment done; 1 some segment failed, or a store did not answer at the start (run
the same command again: it resumes); 2 invalid input (failures.py), a counter table, or refused (some
partition is still in `dynamo`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from translators.mapping import Mapping, MappingError, load_mapping

from ..cli_args import at_most, non_negative_float, positive_int
from ..config import env_secret
from . import gate
from .command import MAX_SCAN_SEGMENTS, _finish, _progress, _tables, preflight
from .failures import CommandError, describe
from .options import add_aws_options, add_report_options, add_tables_options
from .reverse import ReverseSpec, SegmentTask, run_segments
from .segment_ledger import SegmentLedger

COMMAND = "restore-cassandra"


def add_subcommand(sub: Any) -> None:
    p = sub.add_parser(COMMAND, help="copy DynamoDB back into Cassandra under Cassandra's last-write-wins")
    add_tables_options(p, "writes")
    p.add_argument("--segments", type=at_most(MAX_SCAN_SEGMENTS), default=16,
                   help="Parallel Scan segments per table (TotalSegments)")
    p.add_argument("--concurrency", type=positive_int, default=8, help="segments scanned at once")
    p.add_argument("--page-size", type=positive_int, default=500, help="items per Scan page")
    p.add_argument("--write-concurrency", type=positive_int, default=64, help="rows written to Cassandra at once")
    p.add_argument("--rows-per-second", type=non_negative_float, default=0,
                   help="limit on items copied per second (0: none)")
    add_aws_options(p)
    p.add_argument("--ledger", default=None,
                   help="checkpoint file; a run resumes what it records (default: one per set of tables under "
                        ".cdp-state/)")
    p.add_argument("--control", default=None,
                   help="where the fleet's phases live (file:DIR or dynamodb:TABLE): checked before starting")
    p.add_argument("--force", action="store_true",
                   help="start without checking that every sidecar writes Cassandra (it may miss live writes)")
    add_report_options(p)


def _refusals(args: argparse.Namespace, mapping: Mapping, tables: list[str]) -> list[str]:
    out = []
    for name in tables:
        ks, _, t = name.partition(".")
        tm = mapping.table(ks, t)
        if tm is not None and tm.schema.is_counter_table():
            # not even --force: there is no way to write a counter's value back
            out.append(f"{name} is a counter table: counters carry no timestamps and can only be incremented, so "
                       "they cannot be copied back under last-write-wins; restore it from a Cassandra snapshot "
                       "or replay its increments")
    if out:
        return out
    return gate.check(args, mapping, tables, gate.reverse_problems,
                      "the copy can check that every sidecar writes Cassandra again (dynamo_fallback)")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except CommandError as e:
        print(f"cql-dynamo-proxy {COMMAND}: {e}", file=sys.stderr)
        return e.exit_code(COMMAND)


def _run(args: argparse.Namespace) -> int:
    try:
        mapping = load_mapping(args.mapping)
        tables = _tables(mapping, args.table)
    except OSError as e:
        print(f"cql-dynamo-proxy {COMMAND}: cannot read the mapping {args.mapping}: {e.strerror or e}",
              file=sys.stderr)
        return 2
    except (MappingError, ValueError) as e:
        print(f"cql-dynamo-proxy {COMMAND}: {e}", file=sys.stderr)
        return 2
    try:
        refused = _refusals(args, mapping, tables)
    except Exception as e:  # the control store's errors, as for backfill
        print(f"cql-dynamo-proxy {COMMAND}: cannot read the control store: {describe(e)}", file=sys.stderr)
        return 2
    if refused:
        for why in refused:
            print(f"cql-dynamo-proxy {COMMAND}: refused: {why}", file=sys.stderr)
        return 2
    preflight(args, mapping, tables, writes=[args.summary, args.metrics_file], reads=[])
    spec = ReverseSpec(
        mapping_path=args.mapping, cassandra=args.cassandra, cassandra_username=args.cassandra_username,
        cassandra_password=env_secret("cassandra_password") if args.cassandra_username else None,
        consistency=args.consistency, dynamodb_endpoint=args.dynamodb_endpoint,
        dynamodb_region=args.dynamodb_region, s3_endpoint=args.s3_endpoint, page_size=args.page_size,
        concurrency=args.concurrency, write_concurrency=args.write_concurrency,
        rows_per_second=args.rows_per_second)
    ledger = SegmentLedger(args.ledger or gate.ledger_path("restore", mapping, tables))
    progress = _progress(args, "restore")
    tasks: list[SegmentTask] = []
    for t in tables:
        total = ledger.plan_for(t, max(1, args.segments))
        tp = ledger.progress(t)
        progress.ranges_total += total
        for i in range(total):
            if i in tp.done:
                progress.ranges_skipped += 1
            else:
                tasks.append(SegmentTask(t, i, total, tp.keys.get(i)))

    def handle(ev: dict[str, Any]) -> None:
        kind = ev["kind"]
        if kind == "page":
            if ev.get("key"):
                ledger.record({"kind": "page", "table": ev["table"], "segment": ev["segment"], "key": ev["key"],
                               "rows": ev["rows"]})
            progress.add(ev["stats"])
        elif kind in ("done", "failed"):
            ledger.record({k: v for k, v in ev.items() if k != "stats"})
            if kind == "failed":
                progress.errors.append(f"{ev['table']} segment {ev['segment']}: {ev['error']}")
            progress.range_finished(kind == "done")

    print(f"[restore] {len(tasks)} segments to copy ({progress.ranges_skipped} done earlier) of "
          f"{', '.join(tables)}", file=sys.stderr, flush=True)
    try:
        asyncio.run(run_segments(spec, tasks, handle))
    finally:
        ledger.close()
    summary = _finish(args, progress, {"tables": tables, "ledger": str(ledger.path)})
    return 0 if not summary["ranges"]["failed"] and not summary["failures"] else 1
