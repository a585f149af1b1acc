"""Backfill and repair converge on the real stores despite what CQL cannot show: tombstones older
writes lose to, range and partition deletes taken after the backfill read a page, counter
increments made between the backfill's reads, and WRITETIMEs that differ."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.backfill.ranges import MAX_TOKEN, MIN_TOKEN, TokenRange
from proxy.backfill.runner import Context, JobSpec, Task, backfill_range
from tests.conftest import Sidecar, start_sidecar
from translators.compare import item_row
from translators.item_codec import key_item
from translators.mapping import Mapping

from .drivers import session_for
from .stores import AWS_ENV, cli, ddb, mapped_keyspace, recreate_keyspace

pytestmark = pytest.mark.integration

KS = "conv_it"
SCHEMA = [
    f"CREATE TABLE {KS}.cells (id int PRIMARY KEY, v text, n int, tags set<int>, m map<text, int>)",
    f"CREATE TABLE {KS}.wide (p int, c int, s text static, v text, PRIMARY KEY (p, c))",
    f"CREATE TABLE {KS}.hits (id int PRIMARY KEY, n counter)",
]


@pytest.fixture(scope="module")
def env(cassandra: tuple[str, int], dynamodb: str, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[Path, Mapping, Path, Sidecar]]:
    d = tmp_path_factory.mktemp("conv")

    def edit(text: str) -> str:
        return text.replace("phase: cassandra", "phase: dual_write").replace("endpoint: null", f"endpoint: {dynamodb}")

    with mapped_keyspace(cassandra, dynamodb, KS, SCHEMA, d, "cv", edit) as (mapping, m):
        sc = start_sidecar(cassandra, d, "--mapping", str(mapping), env=AWS_ENV)
        try:
            yield mapping, m, d, sc
        finally:
            sc.stop()
            recreate_keyspace(cassandra, KS, [])


def _run(cmd: str, env: tuple[Path, Mapping, Path, Sidecar], cassandra: tuple[str, int], table: str,
         *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], list[dict[str, Any]]]:
    mapping, _, d, _ = env
    tag = uuid.uuid4().hex[:6]
    summary, report = d / f"summary-{tag}.json", d / f"report-{tag}.jsonl"
    args = [cmd, "--mapping", str(mapping), "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--table",
            f"{KS}.{table}", "--summary", str(summary), "--splits", "8", *extra]
    args += ["--ledger", str(d / f"ledger-{tag}.jsonl"), "--force"] if cmd == "backfill" else ["--report", str(report)]
    r = cli(*args)
    diffs = ([json.loads(x) for x in report.read_text().splitlines() if json.loads(x)["kind"] == "diff"]
             if report.exists() else [])
    return r, (json.loads(summary.read_text()) if summary.exists() else {}), diffs


def _item_row(dynamodb: str, m: Mapping, table: str, part: tuple[Any, ...], clus: tuple[Any, ...] = ()
              ) -> dict[str, Any] | None:
    tm = m.table(KS, table)
    assert tm is not None
    got = ddb(dynamodb).get_item(TableName=tm.dynamodb_table, Key=key_item(tm, part, clus), ConsistentRead=True)
    raw = got.get("Item")
    return item_row(tm, raw, int(time.time())) if raw else None


def test_an_invisible_tombstone_beats_an_older_mirrored_write(env, cassandra, dynamodb):
    _, m, _, sc = env
    direct_cluster, direct = session_for(*cassandra, version=4)
    side_cluster, side = session_for(sc.host, sc.port, version=4)
    try:
        # history straight into Cassandra: cells later nulled, elements removed, a TTL run out
        direct.execute(f"INSERT INTO {KS}.cells (id, v, n, tags, m) VALUES (1, 'a', 1, {{1, 2}}, {{'x': 1}}) "
                       "USING TIMESTAMP 1000")
        direct.execute(f"UPDATE {KS}.cells USING TIMESTAMP 3000 SET v = null, tags = tags - {{2}}, m = {{}} "
                       "WHERE id = 1")
        direct.execute(f"INSERT INTO {KS}.cells (id, v) VALUES (2, 'x') USING TIMESTAMP 1000")
        direct.execute(f"DELETE FROM {KS}.cells USING TIMESTAMP 3000 WHERE id = 2")
        # the application, through the sidecar, with client timestamps older than those tombstones:
        # Cassandra ignores them, DynamoDB takes them
        side.execute(f"UPDATE {KS}.cells USING TIMESTAMP 2000 SET v = 'late', tags = tags + {{2}}, "
                     "m['y'] = 2 WHERE id = 1")
        side.execute(f"UPDATE {KS}.cells USING TIMESTAMP 2000 SET v = 'ghost' WHERE id = 2")
        assert direct.execute(f"SELECT v, tags, m FROM {KS}.cells WHERE id = 1").one() == (None, {1}, None)
    finally:
        side_cluster.shutdown()
        direct_cluster.shutdown()
    r, _, _ = _run("backfill", env, cassandra, "cells")
    assert r.returncode == 0, r.stdout + r.stderr
    # the backfill alone settles the row it read: the older write is gone from DynamoDB
    assert _item_row(dynamodb, m, "cells", (1,)) == {"id": 1, "v": None, "n": 1, "tags": [1], "m": None}
    # a row Cassandra does not show at all is found by validate and removed by its repair; the
    # second round finds nothing, which is what exit 0 of --rounds means
    r, _, diffs = _run("validate", env, cassandra, "cells", "--repair", "--rounds", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert diffs == [] and "round 2 of at most 3" in r.stderr and "round 3" not in r.stderr, r.stderr
    first = [json.loads(x) for x in Path(_last_report(env) + ".round1").read_text().splitlines()]
    assert [(x["type"], x["key"], x["repaired"]) for x in first if x["kind"] == "diff"] == [("EXTRA", [2], True)]
    assert _item_row(dynamodb, m, "cells", (2,)) is None


def _last_report(env: tuple[Path, Mapping, Path, Sidecar]) -> str:
    reports = sorted(env[2].glob("report-*.jsonl"), key=lambda p: p.stat().st_mtime)
    return str(reports[-1])


def test_repair_is_refused_where_dynamodb_is_authoritative(env, cassandra, tmp_path):
    mapping = tmp_path / "fallback.yaml"
    mapping.write_text(env[0].read_text().replace("phase: dual_write", "phase: dynamo_fallback"))
    r = cli("validate", "--mapping", str(mapping), "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--table",
            f"{KS}.cells", "--report", str(tmp_path / "r.jsonl"), "--repair")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--repair refused" in r.stderr and "dynamo_fallback" in r.stderr and "Traceback" not in r.stderr
    r = cli("validate", "--mapping", str(env[0]), "--table", f"{KS}.cells", "--rounds", "2")
    assert r.returncode == 2 and "give --repair" in r.stderr, r.stderr


def test_validate_compares_writetime_and_ttl_and_repairs_them(env, cassandra, dynamodb):
    direct_cluster, direct = session_for(*cassandra, version=4)
    try:
        direct.execute(f"INSERT INTO {KS}.cells (id, v, n) VALUES (10, 'same', 5) USING TIMESTAMP 5000")
        r, _, _ = _run("backfill", env, cassandra, "cells")
        assert r.returncode == 0, r.stderr
        # same value, newer timestamp and a TTL, written to Cassandra alone
        direct.execute(f"UPDATE {KS}.cells USING TIMESTAMP 6000 AND TTL 3600 SET v = 'same' WHERE id = 10")
    finally:
        direct_cluster.shutdown()
    r, _, diffs = _run("validate", env, cassandra, "cells", "--repair")
    assert r.returncode == 1, r.stdout + r.stderr
    (diff,) = diffs
    assert diff["type"] == "MISMATCH" and diff["key"] == [10] and diff["repaired"], diff
    assert any(x.startswith("writetime(v): Cassandra 6000, DynamoDB 5000") for x in diff["details"]), diff
    assert any(x.startswith("ttl(v)") for x in diff["details"]), diff
    r, _, diffs = _run("validate", env, cassandra, "cells")
    assert r.returncode == 0 and diffs == [], r.stdout + r.stderr


async def _backfill_with(env: tuple[Path, Mapping, Path, Sidecar], cassandra: tuple[str, int], dynamodb: str,
                         table: str, between: Any) -> list[dict[str, Any]]:
    """The backfill of `table` in this process, with `between()` run after each page is read from
    Cassandra and before it is written: the interleaving a live workload can produce."""
    mapping = env[0]
    spec = JobSpec(command="backfill", mapping_path=str(mapping), cassandra=f"{cassandra[0]}:{cassandra[1]}",
                   dynamodb_endpoint=dynamodb, dynamodb_region="us-east-1")
    ctx = Context(spec)
    events: list[dict[str, Any]] = []
    write = ctx.writer.write

    async def interleaved(*args: Any, **kw: Any) -> Any:
        await asyncio.to_thread(between)
        return await write(*args, **kw)

    ctx.writer.write = interleaved  # type: ignore[method-assign]
    try:
        await backfill_range(ctx, Task(f"{KS}.{table}", TokenRange(MIN_TOKEN, MAX_TOKEN).id), events.append)
    finally:
        await ctx.close()
    return events


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)


def test_no_resurrection_by_a_range_or_partition_delete_after_the_page_was_read(env, cassandra, dynamodb,
                                                                                 aws_env):
    _, m, _, sc = env
    direct_cluster, direct = session_for(*cassandra, version=4)
    for p in range(3):
        direct.execute(f"INSERT INTO {KS}.wide (p, s) VALUES ({p}, 'st{p}') USING TIMESTAMP 1000")
        for c in range(6):
            direct.execute(f"INSERT INTO {KS}.wide (p, c, v) VALUES ({p}, {c}, 'v') USING TIMESTAMP 1000")
    direct_cluster.shutdown()

    def deletes() -> None:
        # through the sidecar, so DynamoDB gets the mirror (it has no such rows yet: nothing to tombstone)
        cluster, side = session_for(sc.host, sc.port, version=4)
        try:
            side.execute(f"DELETE FROM {KS}.wide WHERE p = 0")
            side.execute(f"DELETE FROM {KS}.wide WHERE p = 1 AND c >= 2 AND c < 5")
        finally:
            cluster.shutdown()

    events = asyncio.run(_backfill_with(env, cassandra, dynamodb, "wide", deletes))
    assert [e["kind"] for e in events][-1] == "done", events
    for c in range(6):
        assert _item_row(dynamodb, m, "wide", (0,), (c,)) is None
        row = _item_row(dynamodb, m, "wide", (1,), (c,))
        assert (row is None) == (2 <= c < 5), (c, row)
    assert _item_row(dynamodb, m, "wide", (0,)) is None  # the static row went with the partition
    assert _item_row(dynamodb, m, "wide", (2,), (3,)) is not None
    r, _, diffs = _run("validate", env, cassandra, "wide")
    assert r.returncode == 0 and diffs == [], r.stdout + r.stderr + repr(diffs)


def test_counter_increments_between_the_backfills_reads_are_kept(env, cassandra, dynamodb, aws_env):
    _, m, _, sc = env
    direct_cluster, direct = session_for(*cassandra, version=4)
    for i in range(20):
        direct.execute(f"UPDATE {KS}.hits SET n = n + 10 WHERE id = {i}")
    direct_cluster.shutdown()

    def increments() -> None:
        cluster, side = session_for(sc.host, sc.port, version=4)
        try:
            for i in range(20):
                side.execute(f"UPDATE {KS}.hits SET n = n + 1 WHERE id = {i}")
        finally:
            cluster.shutdown()

    events = asyncio.run(_backfill_with(env, cassandra, dynamodb, "hits", increments))
    assert [e["kind"] for e in events][-1] == "done", events
    for i in range(20):
        assert _item_row(dynamodb, m, "hits", (i,)) == {"id": i, "n": 11}
    r, _, diffs = _run("validate", env, cassandra, "hits")
    assert r.returncode == 0 and diffs == [], r.stdout + r.stderr
