"""What backfill and validate record for the cutover gate: the ledger's marks (progress from an
earlier dual_write stretch does not count) and the per-table outcome from the run's events."""

from __future__ import annotations

import asyncio
import time
from argparse import Namespace

import orjson

from proxy.backfill import outcome
from proxy.backfill.ledger import Ledger
from proxy.phases.control_store import AuditEntry, FileControlStore, Heartbeat
from proxy.phases.model import MirrorEpoch, PhaseSet, TablePhase
from translators.mapping import loads_mapping

MAPPING = """version: 1
dynamodb: {region: us-east-1}
tables:
  - cql: ks.t
    dynamodb_table: gate_t
    phase: dual_write
    schema: {columns: {id: int, v: text}, partition_key: [id]}
  - cql: ks.u
    dynamodb_table: gate_u
    schema: {columns: {id: int, v: text}, partition_key: [id]}
"""


def test_a_marked_ledger_counts_only_its_own_progress(tmp_path):
    path = tmp_path / "ledger.jsonl"
    led = Ledger(path)
    led.record({"kind": "plan", "table": "ks.t", "ranges": ["0:1", "1:2", "2:3"]})
    led.record({"kind": "done", "table": "ks.t", "range": "0:1", "rows": 5})  # an unmarked (forced) run
    led.set_mark("ks.t", "epoch 2@1.0")
    assert led.progress("ks.t").done == {} and led.unmarked_done("ks.t") == 1
    led.record({"kind": "done", "table": "ks.t", "range": "1:2", "rows": 7})
    led.record({"kind": "page", "table": "ks.t", "range": "2:3", "state": "ab", "rows": 1})
    led.close()
    lines = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    assert [x.get("mark") for x in lines] == [None, None, "epoch 2@1.0", "epoch 2@1.0"]
    again = Ledger(path)
    assert set(again.progress("ks.t").done) == {"0:1", "1:2"}  # no mark: every range done counts
    again.set_mark("ks.t", "epoch 2@1.0")
    tp = again.progress("ks.t")
    assert set(tp.done) == {"1:2"} and tp.pages == {"2:3": (b"\xab", 1)} and tp.plan is not None
    again.set_mark("ks.t", "epoch 5@9.0")  # a new stretch: everything again
    assert again.progress("ks.t").done == {} and again.progress("ks.t").pages == {}
    assert again.unmarked_done("ks.t") == 2
    again.close()


def _args(control: str) -> Namespace:
    return Namespace(control=control, dynamodb_region=None, dynamodb_endpoint=None)


def test_outcomes_are_recorded_per_table_with_what_they_ran_under(tmp_path):
    m = loads_mapping(MAPPING)
    store = FileControlStore(tmp_path / "ctl")
    epoch = MirrorEpoch(2, 50.0)
    ps = PhaseSet(3, {"ks.t": TablePhase("verify", mirrored_since=epoch)}, 60.0, "ops")

    async def prepare() -> None:
        await store.commit(ps, 0, AuditEntry(3, 60.0, "ops", "ks.t", None, ps.tables["ks.t"]))
        now = time.time()
        await store.heartbeat(Heartbeat("a", "h", 2, now, now, now))  # on the epoch, not the newest version

    asyncio.run(prepare())
    assert outcome.begin(_args(""), m, ["ks.t"], "validate") is None
    rec = outcome.begin(_args(f"file:{tmp_path / 'ctl'}"), m, ["ks.t", "ks.u"], "validate")
    assert rec is not None and rec.phase_version == 3
    assert rec.epochs == {"ks.t": epoch, "ks.u": None} and rec.converged == {"ks.t": True, "ks.u": False}
    assert rec.mark("ks.t") == "epoch 2@50.0" and rec.mark("ks.u") == "not mirrored"
    rec.planned("ks.t", 4)
    rec.planned("ks.u", 4)
    seen = []
    emit = rec.wrap(seen.append)
    for ev in ({"kind": "page", "table": "ks.t", "range": "a", "stats": {"rows": 10}},
               {"kind": "diff", "table": "ks.t", "range": "a", "repaired": True},
               {"kind": "done", "table": "ks.t", "range": "a"}, {"kind": "done", "table": "ks.t", "range": "b"},
               {"kind": "failed", "table": "ks.t", "range": "c", "error": "x"},
               {"kind": "done", "table": "ks.u", "range": "a"}):
        emit(ev)
    assert len(seen) == 6
    assert rec.finish(1, sample=100.0, rerun=False, repair=True) == 1
    got = {r.table: r for r in asyncio.run(store.runs())}
    t = got["ks.t"]
    assert (t.kind, t.epoch, t.phase_version, t.fleet_converged, t.ranges_total, t.ranges_done, t.ranges_failed,
            t.rows, t.differences, t.repaired, t.repair) == ("validate", epoch, 3, True, 4, 2, 1, 10, 1, 1, True)
    assert t.started_at <= t.finished_at and "@" in t.by
    assert got["ks.u"].epoch is None and not got["ks.u"].fleet_converged


def test_an_unreachable_store_at_the_end_is_a_distinct_exit(tmp_path, capsys):
    m = loads_mapping(MAPPING)
    ctl = tmp_path / "ctl"
    rec = outcome.begin(_args(f"file:{ctl}"), m, ["ks.t"], "backfill")
    assert rec is not None and rec.epochs["ks.t"] == MirrorEpoch(0) and not rec.converged["ks.t"]  # no sidecar
    rec.planned("ks.t", 2, 2)
    ctl.write_text("not a directory")  # the store is gone by the time the run ends
    assert rec.finish(0, forced=True) == outcome.EXIT_NOT_RECORDED
    assert "could not be recorded" in capsys.readouterr().err
