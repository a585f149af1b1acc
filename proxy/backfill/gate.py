"""The backfill may only start once every sidecar mirrors live writes of its tables: each table in
`dual_write` or a later phase, for all of its partitions, and the whole fleet on that phase version.
A backfill started earlier misses the writes made through sidecars that do not mirror yet."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from translators.mapping import Mapping

from ..phases.control_store import ControlStore, FileControlStore, parse_control
from ..phases.fleet import fleet_report
from ..phases.model import PhaseSet, TablePhase

STALE_AFTER = 30.0
Rule = Callable[[Mapping, list[str], ControlStore], Awaitable[list[str]]]


def open_store(spec: str, *, region: str | None, endpoint: str | None) -> ControlStore:
    kind, target = parse_control(spec, ".cdp-state")
    if kind == "file":
        return FileControlStore(target)
    from ..aws.dynamodb_client import DynamoDBClient
    from ..phases.control_dynamodb import DynamoDBControlStore

    return DynamoDBControlStore(DynamoDBClient(region=region, endpoint=endpoint, max_attempts=3), target)


def check(args: Any, mapping: Mapping, tables: list[str], rule: Rule, needs: str) -> list[str]:
    """Runs `rule` against the fleet's control store named by `--control` (or nothing with
    `--force`); `needs` says what the check is for, in the message asking for `--control`."""
    if args.force:
        return []
    if not args.control:
        return [f"give --control (where the fleet's phases live, as the sidecars' --control) so {needs}, "
                "or --force"]
    store = open_store(args.control, region=args.dynamodb_region or mapping.region,
                       endpoint=args.dynamodb_endpoint or mapping.endpoint)

    async def run() -> list[str]:
        try:
            return await rule(mapping, tables, store)
        finally:
            await store.close()

    return asyncio.run(run())


def ledger_path(kind: str, mapping: Mapping, tables: list[str]) -> str:
    """A default ledger per set of (CQL table, DynamoDB table): a run against other tables (a new
    prefix, another account) must not take an earlier run's finished work for its own."""
    pairs = []
    for name in sorted(tables):
        ks, _, t = name.partition(".")
        tm = mapping.table(ks, t)
        pairs.append(f"{name}->{tm.dynamodb_table if tm is not None else '?'}")
    digest = hashlib.blake2b("\n".join(pairs).encode(), digest_size=6).hexdigest()
    return f".cdp-state/{kind}-ledger-{digest}.jsonl"


def effective_phases(mapping: Mapping, stored: PhaseSet | None) -> dict[str, TablePhase]:
    """The phases the fleet runs: the store's, else the mapping's (as a sidecar overlays them)."""
    effective: dict[str, TablePhase] = {f"{tm.keyspace}.{tm.table}": TablePhase(tm.phase)
                                        for tm in mapping.tables.values()}
    if stored is not None:
        effective.update(stored.tables)
    return effective


async def problems(mapping: Mapping, tables: Iterable[str], store: ControlStore) -> list[str]:
    """Why the backfill must not start yet (empty: it may)."""
    stored = await store.load()
    out: list[str] = []
    effective = effective_phases(mapping, stored)
    out.extend(cassandra_authoritative(effective, tables, store.description))
    beats = await store.heartbeats()
    report = fleet_report(stored.version if stored else 0, beats, now=time.time(), stale_after=STALE_AFTER)
    if not report["total"]:
        out.append(f"no sidecar reports to {store.description}: cannot tell that the fleet mirrors writes")
    elif not report["converged"]:
        out.append(f"sidecars not yet on phase version {report['version']}: {', '.join(report['behind'])}")
    return out


def cassandra_authoritative(effective: dict[str, TablePhase], tables: Iterable[str], where: str) -> list[str]:
    """Tables not wholly in `dual_write` or `verify`. The backfill and the repair settle a row by
    reading the item before Cassandra, which proves something only while every write reaches
    Cassandra first: in `dynamo_fallback` or `dynamo` an item can hold a write that Cassandra gets
    later (or never), and they would take it for a stale one (see docs/backfill.md)."""
    out = []
    for name in tables:
        tp = effective.get(name)
        if tp is None:
            out.append(f"{name}: not in the mapping")
        elif tp.phase not in ("dual_write", "verify") or (tp.phase == "dual_write" and tp.share < 100):
            out.append(f"{name} is in phase {tp} ({where}): every partition must be in dual_write or verify, "
                       "where Cassandra is authoritative")
    return out


async def repair_problems(mapping: Mapping, tables: Iterable[str], store: ControlStore | None) -> list[str]:
    """Why `validate --repair` must not write: some partition in `dynamo_fallback` or `dynamo`
    (see `cassandra_authoritative`), by the phases of the store named by --control, or else the
    mapping's. In `cassandra` nothing writes DynamoDB, so the repair's reasoning holds there too."""
    stored = await store.load() if store is not None else None
    where = store.description if store is not None else "the mapping"
    effective = effective_phases(mapping, stored)
    out = []
    for name in tables:
        tp = effective.get(name)
        if tp is None:
            out.append(f"{name}: not in the mapping")
        elif tp.phase in ("dynamo_fallback", "dynamo"):
            out.append(f"{name} is in phase {tp} ({where}): DynamoDB takes writes first there, and the repair "
                       "would take one Cassandra has not got yet for a stale one; repair before dynamo_fallback")
    return out


CASSANDRA_WRITTEN = ("dual_write", "verify", "dynamo_fallback")


async def reverse_problems(mapping: Mapping, tables: Iterable[str], store: ControlStore) -> list[str]:
    """Why the copy back into Cassandra must not start yet: some partition is still in `dynamo`
    (its live writes would miss Cassandra while the copy runs), or the fleet has not converged."""
    stored = await store.load()
    effective = effective_phases(mapping, stored)
    out: list[str] = []
    for name in tables:
        tp = effective.get(name)
        if tp is None:
            out.append(f"{name}: not in the mapping")
        elif tp.phase not in CASSANDRA_WRITTEN:
            out.append(f"{name} is in phase {tp} ({store.description}): every partition must be in a phase that "
                       "writes Cassandra (go to dynamo_fallback first)")
    beats = await store.heartbeats()
    report = fleet_report(stored.version if stored else 0, beats, now=time.time(), stale_after=STALE_AFTER)
    if report["total"] and not report["converged"]:
        out.append(f"sidecars not yet on phase version {report['version']}: {', '.join(report['behind'])}")
    return out
