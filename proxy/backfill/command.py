"""`cql-dynamo-proxy backfill` and `cql-dynamo-proxy validate`.

Exit codes: backfill 0 every range done, 1 some range failed or a store did not answer at the start
(run it again: it resumes), 2 invalid input (failures.py) or refused (the fleet does not mirror
writes yet, or a table is not wholly in dual_write/verify). validate 0 no difference, 1 differences
(see the report; with --repair they were also written; with --rounds N: still after the N-th round),
2 invalid input or --repair refused (a table in dynamo_fallback/dynamo), 3 some range or row (or the
EXTRA scan) could not be compared, or a store did not answer at the start. Both: 4 the run finished
but its outcome could not be recorded in the --control store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from translators.mapping import Mapping, MappingError, load_mapping

from ..cli_args import at_most, non_negative_float, percent, positive_int
from ..config import env_secret
from . import gate, outcome
from . import preflight as preflight_mod
from . import ranges as ranges_mod
from .failures import CommandError, Kind, cassandra_error, describe
from .ledger import Ledger
from .options import add_aws_options, add_report_options, add_tables_options
from .progress import Progress, human
from .ranges import TokenRange
from .runner import JobSpec, Task, table_name
from .workers import run_job

COMMANDS = ("backfill", "validate")
MAX_SCAN_SEGMENTS = 1_000_000  # DynamoDB's limit on TotalSegments


def _common(p: argparse.ArgumentParser) -> None:
    add_tables_options(p, "reads")
    p.add_argument("--splits", type=positive_int, default=256,
                   help="token ranges per table (aligned with ownership)")
    p.add_argument("--page-size", type=positive_int, default=1000, help="rows per Cassandra page")
    p.add_argument("--concurrency", type=positive_int, default=8, help="ranges scanned at once per process")
    p.add_argument("--write-concurrency", type=positive_int, default=64,
                   help="DynamoDB writes in flight per process")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes, each with its own connections")
    p.add_argument("--rows-per-second", type=non_negative_float, default=0,
                   help="limit on rows read per second (0: none)")
    p.add_argument("--write-units-per-second", type=non_negative_float, default=0,
                   help="limit on DynamoDB write units per second (0: none)")
    add_aws_options(p)
    add_report_options(p)


def add_subcommands(sub: Any) -> None:
    b = sub.add_parser("backfill", help="copy the tables' history into DynamoDB under last-write-wins")
    _common(b)
    b.add_argument("--ledger", default=None,
                   help="checkpoint file; a run resumes what it records (default: one per set of source and "
                        "target tables under .cdp-state/)")
    b.add_argument("--control", default=None,
                   help="where the fleet's phases live (file:DIR or dynamodb:TABLE): checked before starting; the "
                        "outcome is recorded there for the cutover gate")
    b.add_argument("--force", action="store_true",
                   help="start without checking that every sidecar mirrors writes (it may miss live writes)")
    v = sub.add_parser("validate", help="compare Cassandra and DynamoDB range by range")
    _common(v)
    v.add_argument("--report", default="validate-report.jsonl", help="differences, one JSON line each")
    v.add_argument("--sample", type=percent, default=100.0, metavar="PCT",
                   help="percent of the ranges to compare (more than 0, at most 100)")
    v.add_argument("--seed", type=int, default=None, help="seed of the --sample choice")
    v.add_argument("--repair", action="store_true",
                   help="write Cassandra's version of every difference (a newer live write still wins)")
    v.add_argument("--rerun-failed", default=None, metavar="REPORT",
                   help="compare only the ranges that had differences (or failed) in this earlier report")
    v.add_argument("--rounds", type=positive_int, default=1, metavar="N",
                   help="with --repair: validate and repair again until a round finds no difference, N rounds "
                        "at most (exit 0: the last round was clean)")
    v.add_argument("--scan-segments", type=at_most(MAX_SCAN_SEGMENTS), default=4,
                   help="parallel DynamoDB Scan segments (EXTRA rows)")
    v.add_argument("--control", default=None,
                   help="the fleet's control store (file:DIR or dynamodb:TABLE): the outcome is recorded there for "
                        "the cutover gate, which only counts a full validate (no --sample, no --rerun-failed)")


def _spec(args: argparse.Namespace, command: str) -> JobSpec:
    workers = max(1, args.workers)
    return JobSpec(
        command=command, mapping_path=args.mapping, cassandra=args.cassandra,
        cassandra_username=args.cassandra_username,
        cassandra_password=env_secret("cassandra_password") if args.cassandra_username else None,
        consistency=args.consistency, dynamodb_endpoint=args.dynamodb_endpoint,
        dynamodb_region=args.dynamodb_region, s3_endpoint=args.s3_endpoint, page_size=args.page_size,
        concurrency=args.concurrency, write_concurrency=args.write_concurrency,
        rows_per_second=args.rows_per_second / workers,
        write_units_per_second=args.write_units_per_second / workers,
        repair=bool(getattr(args, "repair", False)),
    )


def _tables(mapping: Mapping, wanted: list[str]) -> list[str]:
    names = [table_name(tm) for tm in mapping.tables.values()]
    if not wanted:
        return names
    unknown = [t for t in wanted if t not in names]
    if unknown:
        raise ValueError(f"not in the mapping: {', '.join(unknown)} (known: {', '.join(names) or 'none'})")
    return wanted


def _ring(spec: JobSpec) -> list[int]:
    from .source import CassandraSource, SourceOptions

    try:
        src = CassandraSource(SourceOptions(spec.cassandra, spec.cassandra_username, spec.cassandra_password))
    except Exception as e:  # gone since the check at the start
        raise cassandra_error(e, spec.cassandra) from None
    try:
        return src.ring_tokens()
    except Exception as e:
        raise CommandError(f"cannot read the token ring from Cassandra at {spec.cassandra}: {describe(e)}",
                           Kind.UNREACHABLE) from None
    finally:
        src.close()


class _Served:
    """What --metrics-port serves: the current run's metrics (validate --rounds makes a new
    Progress per round; the port is bound once)."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.current: Progress | None = None

    def collect(self) -> Any:
        if self.current is not None:
            yield from self.current.registry.collect()


_SERVED = _Served()


def _progress(args: argparse.Namespace, command: str) -> Progress:
    p = Progress(command, interval=args.progress_interval, metrics_file=args.metrics_file)
    _SERVED.current = p
    if args.metrics_port and _SERVED.port != args.metrics_port:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        registry.register(_SERVED)
        try:
            start_http_server(args.metrics_port, addr=args.metrics_host, registry=registry)
        except OSError as e:  # taken since the check at the start
            raise CommandError(f"--metrics-port {args.metrics_port}: {e.strerror or e}") from None
        _SERVED.port = args.metrics_port
    return p


def _finish(args: argparse.Namespace, progress: Progress, extra: dict[str, Any]) -> dict[str, Any]:
    progress.tick(force=True)
    summary = progress.summary(extra)
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=2) + "\n")
    print(human(summary))
    return summary


Execute = Callable[[JobSpec, list[Task], Callable[[dict[str, Any]], None]], None]


def run(args: argparse.Namespace, execute: Execute | None = None) -> int:
    """Runs `backfill` or `validate`; `execute` runs the range tasks (default: this process or
    --workers processes; spark_job.py passes Spark's)."""
    if execute is None:
        def execute(spec: JobSpec, tasks: list[Task], emit: Callable[[dict[str, Any]], None]) -> None:
            run_job(spec, tasks, emit, args.workers)
    try:
        mapping = load_mapping(args.mapping)
        tables = _tables(mapping, args.table)
    except OSError as e:
        print(f"cql-dynamo-proxy {args.command}: cannot read the mapping {args.mapping}: {e.strerror or e}",
              file=sys.stderr)
        return 2
    except (MappingError, ValueError) as e:
        print(f"cql-dynamo-proxy {args.command}: {e}", file=sys.stderr)
        return 2
    try:
        preflight(args, mapping, tables, writes=[args.summary, args.metrics_file, getattr(args, "report", None)],
                  reads=[getattr(args, "rerun_failed", None)])
        if args.command == "backfill":
            return _backfill(args, mapping, tables, execute)
        return _validate(args, mapping, tables, execute)
    except CommandError as e:
        print(f"cql-dynamo-proxy {args.command}: {e}", file=sys.stderr)
        return e.exit_code(args.command)


def preflight(args: argparse.Namespace, mapping: Mapping, tables: list[str], writes: list[str | None],
              reads: list[str | None]) -> None:
    """What must hold before a run plans anything (see preflight.py): the files it reads and the
    directories of those it writes, a free --metrics-port, both stores and every table."""
    preflight_mod.check_files(reads, writes)
    if args.metrics_port:
        preflight_mod.check_port_free(args.metrics_host, args.metrics_port)
    password = os.environ.get("CDP_CASSANDRA_PASSWORD") if args.cassandra_username else None
    preflight_mod.check(preflight_mod.Stores(args.cassandra, args.cassandra_username, password,
                                             args.dynamodb_endpoint, args.dynamodb_region), mapping, tables)


# -- backfill ---------------------------------------------------------------------------------------

def _backfill(args: argparse.Namespace, mapping: Mapping, tables: list[str], execute: Execute) -> int:
    try:
        refused = gate.check(args, mapping, tables, gate.problems, "the backfill can check that every sidecar "
                             "mirrors writes")
    except Exception as e:
        print(f"cql-dynamo-proxy backfill: cannot read the control store: {e}", file=sys.stderr)
        return 2
    if refused:
        for why in refused:
            print(f"cql-dynamo-proxy backfill: refused: {why}", file=sys.stderr)
        return 2
    try:
        recorder = outcome.begin(args, mapping, tables, "backfill")
    except Exception as e:
        print(f"cql-dynamo-proxy backfill: cannot read the control store: {e}", file=sys.stderr)
        return 2
    spec = _spec(args, "backfill")
    if args.ledger is None:
        args.ledger = gate.ledger_path("backfill", mapping, tables)
    ledger = Ledger(args.ledger)
    ring: list[int] | None = None
    tasks: list[Task] = []
    progress = _progress(args, "backfill")
    for t in tables:
        def make() -> list[TokenRange]:
            nonlocal ring
            ring = ring if ring is not None else _ring(spec)
            return ranges_mod.plan(ring, args.splits)

        if recorder is not None:
            ledger.set_mark(t, recorder.mark(t))
            if again := ledger.unmarked_done(t):
                print(f"[backfill] {t}: {again} ranges done in an earlier dual_write stretch or before the fleet "
                      "converged are copied again", file=sys.stderr)
        plan = ledger.plan_for(t, make)
        tp = ledger.progress(t)
        progress.ranges_total += len(plan)
        for r in plan:
            if r.id in tp.done:
                progress.ranges_skipped += 1
                continue
            page = tp.pages.get(r.id)
            tasks.append(Task(t, r.id, page[0].hex() if page else None))
        if recorder is not None:
            recorder.planned(t, len(plan), sum(1 for r in plan if r.id in tp.done))

    def handle(ev: dict[str, Any]) -> None:
        kind = ev["kind"]
        if kind == "page":
            if ev.get("state"):
                ledger.record({"kind": "page", "table": ev["table"], "range": ev["range"], "state": ev["state"],
                               "rows": ev["rows"]})
            progress.add(ev["stats"])
        elif kind == "done":
            ledger.record({"kind": "done", "table": ev["table"], "range": ev["range"], "rows": ev["rows"]})
            progress.range_finished(True)
        elif kind == "failed":
            ledger.record({"kind": "failed", "table": ev["table"], "range": ev["range"], "error": ev["error"]})
            progress.errors.append(f"{ev['table']} {ev['range']}: {ev['error']}")
            progress.range_finished(False)

    print(f"[backfill] {len(tasks)} ranges to copy ({progress.ranges_skipped} done earlier) of "
          f"{', '.join(tables)}, {max(1, args.workers)} process(es)", file=sys.stderr, flush=True)
    try:
        execute(spec, tasks, recorder.wrap(handle) if recorder is not None else handle)
    finally:
        ledger.close()
    summary = _finish(args, progress, {"tables": tables, "ledger": str(args.ledger)})
    code = 0 if not summary["ranges"]["failed"] and not summary["failures"] else 1
    return recorder.finish(code, forced=bool(args.force)) if recorder is not None else code


# -- validate ---------------------------------------------------------------------------------------

def _rerun_ranges(path: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in Path(path).read_bytes().splitlines():
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if rec.get("kind") == "diff" or (rec.get("kind") == "range" and rec.get("status") == "failed"):
            out.setdefault(rec["table"], set()).add(rec["range"])
    return out


def _validate(args: argparse.Namespace, mapping: Mapping, tables: list[str], execute: Execute) -> int:
    if args.rounds > 1 and not args.repair:
        print("cql-dynamo-proxy validate: --rounds repeats validate --repair; give --repair too", file=sys.stderr)
        return 2
    if args.repair:
        try:
            refused = _repair_refused(args, mapping, tables)
        except Exception as e:
            print(f"cql-dynamo-proxy validate: cannot read the control store: {e}", file=sys.stderr)
            return 2
        if refused:
            for why in refused:
                print(f"cql-dynamo-proxy validate: --repair refused: {why}", file=sys.stderr)
            return 2
    code = 2
    for n in range(1, args.rounds + 1):
        if n > 1:
            # the report names the last round's differences; earlier rounds' are kept beside it
            Path(args.report).replace(f"{args.report}.round{n - 1}")
        if args.rounds > 1:
            print(f"[validate] round {n} of at most {args.rounds}", file=sys.stderr, flush=True)
        code = _validate_round(args, mapping, tables, execute)
        if code != 1:
            break
    return code


def _repair_refused(args: argparse.Namespace, mapping: Mapping, tables: list[str]) -> list[str]:
    async def run() -> list[str]:
        store = (gate.open_store(args.control, region=args.dynamodb_region or mapping.region,
                                 endpoint=args.dynamodb_endpoint or mapping.endpoint) if args.control else None)
        try:
            return await gate.repair_problems(mapping, tables, store)
        finally:
            if store is not None:
                await store.close()

    return asyncio.run(run())


def _validate_round(args: argparse.Namespace, mapping: Mapping, tables: list[str], execute: Execute) -> int:
    try:
        recorder = outcome.begin(args, mapping, tables, "validate")
    except Exception as e:
        print(f"cql-dynamo-proxy validate: cannot read the control store: {e}", file=sys.stderr)
        return 2
    spec = _spec(args, "validate")
    progress = _progress(args, "validate")
    chosen: dict[str, list[TokenRange]] = {}
    if args.rerun_failed:
        try:
            wanted = _rerun_ranges(args.rerun_failed)
            for t in tables:
                chosen[t] = sorted(TokenRange.parse(r) for r in wanted.get(t, ()))
        except OSError as e:
            raise CommandError(f"cannot read {args.rerun_failed}: {e.strerror or e}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CommandError(f"{args.rerun_failed} is not a validate report: {describe(e)}") from None
    else:
        ring = _ring(spec)
        for t in tables:
            chosen[t] = ranges_mod.sample(ranges_mod.plan(ring, args.splits), args.sample, args.seed)
    tasks = [Task(t, r.id) for t, rs in chosen.items() for r in rs]
    progress.ranges_total = len(tasks)
    found: dict[str, dict[str, set[int]]] = {t: {} for t in tables}
    counts: dict[str, int] = {}
    repaired = 0
    done: dict[str, set[str]] = {t: set() for t in tables}
    try:
        report = open(args.report, "wb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise CommandError(f"cannot write {args.report}: {e.strerror or e}") from None

    def handle(ev: dict[str, Any]) -> None:
        nonlocal repaired
        kind = ev["kind"]
        if kind == "diff":
            counts[ev["type"]] = counts.get(ev["type"], 0) + 1
            repaired += int(bool(ev.get("repaired")))
            report.write(orjson.dumps(ev) + b"\n")
            report.flush()
        elif kind == "unreadable":  # a Cassandra row that could not be decoded, so not compared
            report.write(orjson.dumps(ev) + b"\n")
        elif kind == "tokens":
            found[ev["table"]][ev["range"]] = set(ev["tokens"])
        elif kind == "page":
            progress.add(ev["stats"])
        elif kind in ("done", "failed"):
            ok = kind == "done"
            if ok:
                done[ev["table"]].add(ev["range"])
            else:
                progress.errors.append(f"{ev['table']} {ev['range']}: {ev['error']}")
            report.write(orjson.dumps({"kind": "range", "table": ev["table"], "range": ev["range"],
                                       "status": "done" if ok else "failed",
                                       **({} if ok else {"error": ev["error"]})}) + b"\n")
            progress.range_finished(ok)

    print(f"[validate] {len(tasks)} ranges of {', '.join(tables)}{' with repair' if spec.repair else ''}",
          file=sys.stderr, flush=True)
    emit: Callable[[dict[str, Any]], None] = handle
    if recorder is not None:
        emit = recorder.wrap(handle)
        for t in tables:
            recorder.planned(t, len(chosen[t]))
    scanned = 0
    incomplete = False
    try:
        execute(spec, tasks, emit)
        # items whose partition Cassandra does not have, in the ranges compared
        try:
            scanned = asyncio.run(_extra_scans(spec, tables, chosen, done, found, emit, args.scan_segments))
        except Exception as e:  # the EXTRA rows stay unknown: not a clean result
            incomplete = True
            progress.errors.append(f"scan for EXTRA rows: {describe(e)}")
    finally:
        report.close()
    summary = _finish(args, progress, {"tables": tables, "report": args.report, "differences": counts,
                                       "repaired": repaired if spec.repair else None,
                                       "dynamodb_items_scanned": scanned, "incomplete": incomplete})
    code = 3 if summary["ranges"]["failed"] or summary["failures"] or incomplete else 1 if counts else 0
    if recorder is None:
        return code
    return recorder.finish(code, sample=100.0 if args.rerun_failed else float(args.sample),
                           rerun=bool(args.rerun_failed), repair=spec.repair)


async def _extra_scans(spec: JobSpec, tables: list[str], chosen: dict[str, list[TokenRange]],
                       done: dict[str, set[str]], found: dict[str, dict[str, set[int]]], handle: Any,
                       segments: int) -> int:
    from .runner import Context
    from .validate import extra_scan

    ctx = Context(spec)
    scanned = 0
    try:
        for t in tables:
            rs = [r for r in chosen[t] if r.id in done[t]]
            if rs:
                scanned += await extra_scan(ctx, t, rs, found[t], handle, segments)
    finally:
        await ctx.close()
    return scanned
