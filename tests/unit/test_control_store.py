"""The file control store, the watcher, the fleet view and the phase-change operation."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from proxy.phases.control_store import (
    AuditEntry,
    ControlStore,
    ControlStoreError,
    FileControlStore,
    Heartbeat,
    VersionConflict,
    parse_control,
)
from proxy.phases.control_watcher import ControlWatcher
from proxy.phases.cutover import CutoverRefused, RunRecord
from proxy.phases.fleet import fleet_report
from proxy.phases.model import (
    MirrorEpoch,
    PhaseRegistry,
    PhaseSet,
    TablePhase,
    TransitionRefused,
    phaseset_from_phases,
)
from proxy.phases.phase_control import PhaseControl, UnknownTable


def _entry(ps: PhaseSet, table: str = "ks.t") -> AuditEntry:
    return AuditEntry(ps.version, ps.updated_at, ps.updated_by, table, None, ps.tables[table])


async def test_file_store_commits_only_on_the_expected_version(tmp_path):
    store = FileControlStore(tmp_path / "ctl")
    assert await store.load() is None and await store.audit() == []
    v1 = PhaseSet(1, {"ks.t": TablePhase("dual_write")}, 10.0, "alice")
    await store.commit(v1, 0, _entry(v1))
    assert await store.load() == v1
    # a second writer that also read version 0 loses
    other = PhaseSet(1, {"ks.t": TablePhase("cassandra")}, 11.0, "bob")
    with pytest.raises(VersionConflict) as e:
        await store.commit(other, 0, _entry(other))
    assert e.value.current == 1
    v2 = v1.with_table("ks.t", TablePhase("verify", 10), at=12.0, by="carol")
    await store.commit(v2, 1, _entry(v2))
    assert (await store.load()) == v2
    assert [a.by for a in await store.audit()] == ["carol", "alice"]
    assert [a.version for a in await store.audit(limit=1)] == [2]
    # written atomically: no temporary files left, the document is complete JSON
    assert sorted(p.name for p in (tmp_path / "ctl").iterdir()) == [".lock", "audit.jsonl", "phases.json", "sidecars"]
    assert orjson.loads((tmp_path / "ctl" / "phases.json").read_bytes())["version"] == 2


async def test_file_store_concurrent_commits_one_wins(tmp_path):
    stores = [FileControlStore(tmp_path / "ctl") for _ in range(8)]
    results = await asyncio.gather(*(
        s.commit(PhaseSet(1, {"ks.t": TablePhase("dual_write")}, 1.0, f"w{i}"), 0,
                 AuditEntry(1, 1.0, f"w{i}", "ks.t", None, TablePhase("dual_write")))
        for i, s in enumerate(stores)), return_exceptions=True)
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, VersionConflict) for r in results if r is not None)
    assert len(await stores[0].audit()) == 1


async def test_file_store_heartbeats_and_a_torn_audit_line(tmp_path):
    store = FileControlStore(tmp_path)
    await store.heartbeat(Heartbeat("host-a:9042", "host-a", 3, 100.0, 105.0, 90.0))
    await store.heartbeat(Heartbeat("host-b:9042", "host-b", 2, 50.0, 104.0, 40.0))
    await store.heartbeat(Heartbeat("host-a:9042", "host-a", 4, 106.0, 106.0, 90.0))
    beats = {b.sidecar_id: b for b in await store.heartbeats()}
    assert beats["host-a:9042"].version == 4 and beats["host-b:9042"].version == 2
    await store.remove_heartbeat("host-b:9042")
    assert [b.sidecar_id for b in await store.heartbeats()] == ["host-a:9042"]
    (tmp_path / "phases.json").write_text("{not json")
    with pytest.raises(ControlStoreError, match="malformed"):
        await store.load()
    v1 = PhaseSet(1, {"ks.t": TablePhase("dual_write")})
    (tmp_path / "audit.jsonl").write_bytes(orjson.dumps(_entry(v1).to_json()) + b"\n{\"version\": 2, \"at")
    assert [a.version for a in await store.audit()] == [1]


def test_parse_control():
    assert parse_control("", "/var/cdp") == ("file", "/var/cdp/control")
    assert parse_control("file:/tmp/x", "s") == ("file", "/tmp/x")
    assert parse_control("dynamodb:cdp_control", "s") == ("dynamodb", "cdp_control")
    for bad in ("s3:bucket", "dynamodb:", "dynamodb:a b", "/just/a/path"):
        with pytest.raises(ValueError):
            parse_control(bad, "s")


def test_fleet_report_converges_only_when_every_visible_sidecar_is_on_the_version():
    def hb(i: str, v: int, applied: float, beat: float) -> Heartbeat:
        return Heartbeat(i, "h", v, applied, beat, 0.0)

    now = 1000.0
    r = fleet_report(5, [hb("a", 5, 990.0, 999.0), hb("b", 5, 995.0, 998.0)], now=now, stale_after=15)
    assert r["converged"] and r["converged_at"] == 995.0 and r["behind"] == []
    # a stale sidecar behind holds convergence back: it may still serve the old phases
    r = fleet_report(5, [hb("a", 5, 990.0, 999.0), hb("b", 4, 900.0, 950.0)], now=now, stale_after=15)
    assert not r["converged"] and r["behind"] == ["b"] and r["stale"] == 1 and r["converged_at"] is None
    # one gone for longer than forget_after is left out
    r = fleet_report(5, [hb("a", 5, 990.0, 999.0), hb("b", 4, 0.0, 100.0)], now=now, stale_after=15)
    assert r["converged"] and r["total"] == 1
    assert not fleet_report(1, [], now=now, stale_after=15)["converged"]


class FlakyStore(FileControlStore):
    """A file store that can be switched off, as a DynamoDB table that stops answering."""

    down = False

    async def load(self) -> PhaseSet | None:
        if self.down:
            raise ControlStoreError("connection refused")
        return await super().load()

    async def heartbeat(self, beat: Heartbeat) -> None:
        if self.down:
            raise ControlStoreError("connection refused")
        await super().heartbeat(beat)


def _registry() -> PhaseRegistry:
    return PhaseRegistry(phaseset_from_phases([("ks", "t", "cassandra"), ("ks", "u", "dual_write")]))


async def test_watcher_applies_new_versions_and_survives_an_unreachable_store(tmp_path):
    store = FlakyStore(tmp_path)
    reg = _registry()
    w = ControlWatcher(store, reg, sidecar_id="me:1", host="me", poll_interval=0.05, heartbeat_interval=0.05)
    await w.start()
    try:
        assert reg.version == 0
        v1 = PhaseSet(1, {"ks.t": TablePhase("dual_write", 10)}, 1.0, "ops")
        await store.commit(v1, 0, _entry(v1))
        for _ in range(100):
            if reg.version == 1:
                break
            await asyncio.sleep(0.02)
        assert reg.phase_of("ks", "t") == TablePhase("dual_write", 10) and w.stats.flips_applied == 1
        for _ in range(100):
            beats = await store.heartbeats()
            if beats and beats[0].version == 1:
                break
            await asyncio.sleep(0.02)
        assert beats[0].sidecar_id == "me:1" and beats[0].version == 1
        store.down = True
        failures = w.stats.poll_failures
        await asyncio.sleep(0.3)
        assert w.stats.poll_failures > failures and w.stats.heartbeat_failures > 0
        assert reg.phase_of("ks", "t") == TablePhase("dual_write", 10)  # still in force
        assert w.last_poll_age() >= 0.2
        metrics = {f.name: f.samples[0].value for f in w.metrics()}
        assert metrics["cdp_control_version"] == 1 and metrics["cdp_control_poll_failures"] >= 1
        assert metrics["cdp_control_last_poll_age_seconds"] >= 0.2
        store.down = False
        await asyncio.sleep(0.2)
        assert w.last_poll_age() < 0.2
    finally:
        await w.stop()
    assert await store.heartbeats() == []  # left the fleet view


async def test_watcher_start_does_not_hang_on_a_silent_store(tmp_path):
    class Silent(FileControlStore):
        async def load(self) -> PhaseSet | None:
            await asyncio.sleep(30)
            return None

    reg = _registry()
    w = ControlWatcher(Silent(tmp_path), reg, sidecar_id="me:1", host="me", poll_interval=10, heartbeat_interval=10)
    await asyncio.wait_for(w.start(initial_timeout=0.1), 2)
    await w.stop(leave=False)
    assert w.stats.poll_failures == 1 and reg.version == 0


async def test_set_phase_guards_versions_and_audits(tmp_path):
    store: ControlStore = FileControlStore(tmp_path)
    reg = _registry()
    pc = PhaseControl(store, reg, ControlWatcher(store, reg, sidecar_id="a", host="h"), clock=lambda: 42.0)
    ps, changed = await pc.set_phase("ks.t", TablePhase("dual_write"), force=False, by="alice")
    assert changed and ps.version == 1 and reg.version == 1
    assert reg.phase_of("ks", "t") == TablePhase("dual_write")
    # only the changed table goes into the store; the other keeps each sidecar's own phase
    assert set((await store.load()).tables) == {"ks.t"}  # type: ignore[union-attr]
    ps, changed = await pc.set_phase("ks.t", TablePhase("dual_write"), force=False, by="alice")
    assert not changed and ps.version == 1
    with pytest.raises(TransitionRefused):
        await pc.set_phase("ks.t", TablePhase("dynamo"), force=False, by="alice")
    assert (await store.load()).version == 1  # type: ignore[union-attr]
    with pytest.raises(UnknownTable):
        await pc.set_phase("ks.nope", TablePhase("dual_write"), force=False, by="alice")
    ps, _ = await pc.set_phase("ks.t", TablePhase("dynamo"), force=True, by="bob")
    assert ps.version == 2
    audit = await pc.audit()
    assert [(a.version, a.by, a.force, a.old.phase if a.old else None, a.new.phase) for a in audit] == [
        (2, "bob", True, "dual_write", "dynamo"), (1, "alice", False, "cassandra", "dual_write")]
    # the guard starts from the store's version, not from what this sidecar runs
    other_reg = _registry()
    other = PhaseControl(store, other_reg, ControlWatcher(store, other_reg, sidecar_id="b", host="h"))
    with pytest.raises(TransitionRefused, match="Cassandra missed"):
        await other.set_phase("ks.t", TablePhase("cassandra"), force=False, by="carol")


async def test_set_phase_loses_to_a_concurrent_change(tmp_path):
    class Racing(FileControlStore):
        async def load(self) -> PhaseSet | None:
            got = await super().load()
            if got is None:  # someone else commits between our read and our write
                v1 = PhaseSet(1, {"ks.u": TablePhase("verify")}, 1.0, "other")
                await super().commit(v1, 0, _entry(v1, "ks.u"))
            return got

    store = Racing(tmp_path)
    reg = _registry()
    pc = PhaseControl(store, reg, ControlWatcher(store, reg, sidecar_id="a", host="h"))
    with pytest.raises(VersionConflict):
        await pc.set_phase("ks.t", TablePhase("dual_write"), force=False, by="alice")
    assert reg.version == 0


# -- the cutover gate's records -------------------------------------------------------------------------

def _record(kind: str, started: float, table: str = "ks.t", **kw: object) -> RunRecord:
    base: dict[str, object] = {"epoch": MirrorEpoch(2, 42.0), "phase_version": 3, "fleet_converged": True,
                               "ranges_total": 8, "ranges_done": 8}
    base.update(kw)
    return RunRecord(kind, table, started, started + 1, **base)  # type: ignore[arg-type]


async def test_file_store_keeps_the_latest_run_of_each_kind(tmp_path):
    store = FileControlStore(tmp_path / "ctl")
    assert await store.runs() == []
    assert store.spec == f"file:{tmp_path / 'ctl'}"
    b1, v1 = _record("backfill", 100.0), _record("validate", 200.0, differences=3)
    assert await store.record_run(b1) and await store.record_run(v1)
    assert await store.record_run(_record("validate", 50.0, table="ks.u"))
    assert sorted((r.table, r.kind) for r in await store.runs()) == [
        ("ks.t", "backfill"), ("ks.t", "validate"), ("ks.u", "validate")]
    # a run that started earlier but finished later does not replace a newer outcome
    assert not await store.record_run(_record("validate", 150.0))
    v2 = _record("validate", 300.0)
    assert await store.record_run(v2)
    got = {(r.table, r.kind): r for r in await store.runs()}
    assert got[("ks.t", "validate")] == v2 and got[("ks.t", "backfill")] == b1
    # a damaged record reads as never recorded, and a sound one replaces it
    (tmp_path / "ctl" / "runs" / "ks.t.backfill.json").write_text("{torn")
    assert {(r.table, r.kind) for r in await store.runs()} == {("ks.t", "validate"), ("ks.u", "validate")}
    assert await store.record_run(b1)
    assert len(await store.runs()) == 3


async def _converged(store: ControlStore, version: int) -> None:
    import time

    now = time.time()
    await store.heartbeat(Heartbeat("a", "h", version, now, now, now))


async def test_set_phase_asks_for_the_backfill_and_a_clean_validate(tmp_path):
    store: ControlStore = FileControlStore(tmp_path)
    reg = _registry()
    clock = iter(float(t) for t in range(1000, 2000))
    pc = PhaseControl(store, reg, ControlWatcher(store, reg, sidecar_id="a", host="h"), clock=lambda: next(clock),
                      mapping_path="/etc/m.yaml")
    await pc.set_phase("ks.t", TablePhase("dual_write"), force=False, by="alice")
    await pc.set_phase("ks.t", TablePhase("verify"), force=False, by="alice")
    epoch = (await store.load()).tables["ks.t"].mirrored_since  # type: ignore[union-attr]
    assert epoch is not None and epoch.version == 1  # entered dual_write at version 1
    await _converged(store, 2)
    with pytest.raises(CutoverRefused) as e:
        await pc.set_phase("ks.t", TablePhase("dynamo_fallback", 10), force=False, by="alice")
    assert "backfill of ks.t not completed since dual_write converged (entered at phase version 1" in str(e.value)
    assert (f"cql-dynamo-proxy backfill --mapping /etc/m.yaml --table ks.t --control file:{tmp_path}"
            in str(e.value))
    assert len(e.value.missing) == 2 and "no validate of ks.t" in e.value.missing[1]
    await store.record_run(_record("backfill", 10.0, epoch=epoch))
    await store.record_run(_record("validate", 20.0, epoch=epoch, differences=2))
    with pytest.raises(CutoverRefused, match=r"found 2 difference\(s\)") as e:
        await pc.set_phase("ks.t", TablePhase("dynamo_fallback", 10), force=False, by="alice")
    assert len(e.value.missing) == 1
    # the status shows it too
    st = (await pc.fleet())["tables"]["ks.t"]
    assert st["gate"]["open"] is False and st["validate"]["differences"] == 2 and st["backfill"]["ranges_done"] == 8
    assert st["mirror_epoch"] == epoch.to_json() and st["fleet_converged"] is True
    await store.record_run(_record("validate", 30.0, epoch=epoch))
    ps, changed = await pc.set_phase("ks.t", TablePhase("dynamo_fallback", 10), force=False, by="alice")
    assert changed and ps.tables["ks.t"].phase == "dynamo_fallback"
    assert (await pc.fleet())["tables"]["ks.t"]["gate"] == {"open": True, "missing": []}
    # the way back to verify and forward again: same epoch, same records
    await pc.set_phase("ks.t", TablePhase("verify"), force=False, by="alice")
    await pc.set_phase("ks.t", TablePhase("dynamo_fallback"), force=False, by="alice")
    audit = await pc.audit()
    assert not any(a.force or a.overridden for a in audit)


async def test_back_to_cassandra_makes_old_runs_stale_and_force_is_audited(tmp_path):
    store: ControlStore = FileControlStore(tmp_path)
    reg = _registry()
    pc = PhaseControl(store, reg, ControlWatcher(store, reg, sidecar_id="a", host="h"))
    await pc.set_phase("ks.t", TablePhase("dual_write"), force=False, by="alice")
    first = (await store.load()).tables["ks.t"].mirrored_since  # type: ignore[union-attr]
    await store.record_run(_record("backfill", 10.0, epoch=first))
    await store.record_run(_record("validate", 20.0, epoch=first))
    await pc.set_phase("ks.t", TablePhase("cassandra"), force=False, by="alice")
    await pc.set_phase("ks.t", TablePhase("dual_write"), force=False, by="alice")
    second = (await store.load()).tables["ks.t"].mirrored_since  # type: ignore[union-attr]
    assert second is not None and first is not None and second.version == 3 != first.version
    await _converged(store, 3)
    with pytest.raises(CutoverRefused, match="ran before that"):
        await pc.set_phase("ks.t", TablePhase("dynamo_fallback"), force=False, by="alice")
    gate = (await pc.fleet())["tables"]["ks.t"]["gate"]
    assert not gate["open"] and len(gate["missing"]) == 2
    # forced: allowed, and the audit says what it overrode
    await pc.set_phase("ks.t", TablePhase("dynamo_fallback"), force=True, by="bob")
    last = (await pc.audit(1))[0]
    assert last.force and last.by == "bob" and "backfill of ks.t not completed" in last.overridden
    assert AuditEntry.from_json(last.to_json()) == last
    # a table the mapping starts in dual_write is in epoch 0
    st = (await pc.fleet())["tables"]["ks.u"]
    assert st["mirror_epoch"] == {"version": 0, "at": 0.0} and st["gate"]["open"] is False
