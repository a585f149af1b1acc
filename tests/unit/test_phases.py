"""The phase guard (every pair), rollout shares, versioned phase sets and the registry."""

from __future__ import annotations

import os

import pytest

from proxy.phases.model import (
    PHASES,
    PhaseError,
    PhaseRegistry,
    PhaseSet,
    TablePhase,
    TransitionRefused,
    check_transition,
    diff,
    partition_bucket,
    partition_moves,
    phaseset_from_phases,
)

C, DW, V, DF, D = PHASES
OK, NO = True, False

# old phase (row) -> new phase (column): allowed without force? The table in docs/phases.md.
GUARD = {
    C: {C: OK, DW: OK, V: NO, DF: NO, D: NO},
    DW: {C: OK, DW: OK, V: OK, DF: OK, D: NO},
    V: {C: OK, DW: OK, V: OK, DF: OK, D: NO},
    DF: {C: NO, DW: OK, V: OK, DF: OK, D: OK},
    D: {C: NO, DW: NO, V: NO, DF: OK, D: OK},
}
PAIRS = [(a, b) for a in PHASES for b in PHASES]


def test_the_table_covers_all_25_pairs():
    assert len(PAIRS) == 25 and all(b in GUARD[a] for a, b in PAIRS)


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_guard_without_force(old, new):
    if GUARD[old][new]:
        check_transition(TablePhase(old), TablePhase(new), force=False)
    else:
        with pytest.raises(TransitionRefused) as e:
            check_transition(TablePhase(old), TablePhase(new), force=False)
        assert (e.value.old, e.value.new) == (old, new)
        assert e.value.reason and "force" in str(e.value)


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_force_allows_every_pair(old, new):
    check_transition(TablePhase(old), TablePhase(new), force=True)


@pytest.mark.parametrize("i", range(len(PHASES) - 1))
def test_adjacent_phases_are_always_allowed_both_ways(i):
    a, b = PHASES[i], PHASES[i + 1]
    check_transition(TablePhase(a), TablePhase(b))
    check_transition(TablePhase(b), TablePhase(a))


def test_reasons_name_the_danger():
    with pytest.raises(TransitionRefused, match="Cassandra missed"):
        check_transition(TablePhase(D), TablePhase(C))
    with pytest.raises(TransitionRefused, match="skips dual_write"):
        check_transition(TablePhase(C), TablePhase(V))
    with pytest.raises(TransitionRefused, match="dynamo_fallback first"):
        check_transition(TablePhase(DW), TablePhase(D))


def test_shares_check_every_partition_move():
    # 50% in verify (rest dual_write) -> 30% dynamo_fallback (rest verify): partitions 0-30 go
    # verify->dynamo_fallback, 30-50 stay, 50-100 go dual_write->verify
    assert partition_moves(TablePhase(V, 50), TablePhase(DF, 30)) == [(V, DF), (V, V), (DW, V)]
    check_transition(TablePhase(V, 50), TablePhase(DF, 30))
    # 10% dynamo_fallback (rest verify) -> dynamo 10% (rest dynamo_fallback): the 10-100 run moves
    # verify -> dynamo_fallback (fine), 0-10 dynamo_fallback -> dynamo (fine)
    check_transition(TablePhase(DF, 10), TablePhase(D, 10))
    # but dynamo at 100% from dynamo_fallback at 10% moves 90% of partitions verify -> dynamo
    with pytest.raises(TransitionRefused) as e:
        check_transition(TablePhase(DF, 10), TablePhase(D, 100))
    assert (e.value.old, e.value.new) == (V, D)
    # raising a share within a phase moves partitions from the phase before it
    assert partition_moves(TablePhase(DW, 10), TablePhase(DW, 60)) == [(DW, DW), (C, DW), (C, C)]
    # dynamo 50% back to dynamo_fallback 100%: half the partitions go dynamo -> dynamo_fallback
    check_transition(TablePhase(D, 50), TablePhase(DF))
    with pytest.raises(TransitionRefused):
        check_transition(TablePhase(D, 50), TablePhase(V))


def test_table_phase_validation():
    with pytest.raises(PhaseError, match="unknown phase"):
        TablePhase("dynamodb")
    for bad in (0, -1, 100.5, float("nan")):
        with pytest.raises(PhaseError, match="share"):
            TablePhase(DW, bad)
    with pytest.raises(PhaseError, match="always 100"):
        TablePhase(C, 50)
    assert TablePhase(DW, 25).phases == (C, DW) and TablePhase(DW).phases == (DW,)
    with pytest.raises(PhaseError):
        TablePhase.from_json({"phase": DW, "share": "50"})
    assert TablePhase.from_json({"phase": V, "share": 5}) == TablePhase(V, 5.0)


def test_partition_bucket_is_stable_and_spread():
    assert partition_bucket(b"cart-1") == partition_bucket(b"cart-1")
    # fixed value: the same in every process and on every machine (not Python's salted hash)
    assert round(partition_bucket(b"cart-1"), 9) == 58.251446368
    buckets = [partition_bucket(os.urandom(8)) for _ in range(4000)]
    assert all(0 <= b < 100 for b in buckets)
    share = sum(1 for b in buckets if b < 10) / len(buckets)
    assert 0.07 < share < 0.13
    tp = TablePhase(V, 10)
    phases = {tp.phase_for_key(str(i).encode()) for i in range(200)}
    assert phases == {DW, V}
    # raising the share only moves partitions forward
    keys = [str(i).encode() for i in range(500)]
    lo, hi = TablePhase(V, 10), TablePhase(V, 40)
    assert all(hi.phase_for_key(k) == V for k in keys if lo.phase_for_key(k) == V)


def test_phase_set_versions_and_json():
    ps = phaseset_from_phases([("shop", "carts", C), ("shop", "items", DW)])
    assert ps.version == 0 and ps.updated_by == "mapping"
    nxt = ps.with_table("shop.carts", TablePhase(DW, 20), at=123.0, by="ops")
    assert (nxt.version, nxt.updated_at, nxt.updated_by) == (1, 123.0, "ops")
    assert ps.tables["shop.carts"] == TablePhase(C)  # the old snapshot is untouched
    with pytest.raises(TypeError):
        nxt.tables["shop.carts"] = TablePhase(C)  # type: ignore[index]
    assert PhaseSet.from_json(nxt.to_json()) == nxt
    assert [c.table for c in diff(ps, nxt)] == ["shop.carts"]
    with pytest.raises(PhaseError):
        PhaseSet.from_json({"version": 1, "tables": {"nodot": {"phase": C}}})
    with pytest.raises(PhaseError):
        PhaseSet.from_json({"tables": {}})
    with pytest.raises(PhaseError):
        PhaseSet(-1, {})


def test_registry_moves_only_forward_and_notifies():
    reg = PhaseRegistry(phaseset_from_phases([("shop", "carts", C), ("shop", "items", DW)]))
    seen: list[tuple[int, int]] = []
    reg.add_listener(lambda old, new: seen.append((old.version, new.version)))
    assert reg.phase_of("shop", "carts") == TablePhase(C)
    assert reg.phase_of("shop", "nope") is None and reg.phase_of("other", "carts") is None
    v2 = PhaseSet(2, {"shop.carts": TablePhase(DW, 50)}, 1.0, "ops")
    assert reg.apply(v2) is True
    assert reg.version == 2 and reg.phase_of("shop", "carts") == TablePhase(DW, 50)
    # a table the store never mentioned keeps its mapping phase
    assert reg.phase_of("shop", "items") == TablePhase(DW)
    assert reg.apply(PhaseSet(1, {"shop.carts": TablePhase(C)})) is False
    assert reg.apply(PhaseSet(2, {"shop.carts": TablePhase(C)})) is False
    assert reg.phase_of("shop", "carts") == TablePhase(DW, 50)
    assert seen == [(0, 2)]


def test_a_failing_listener_does_not_stop_the_others():
    reg = PhaseRegistry(phaseset_from_phases([("ks", "t", C)]))
    got = []

    def broken(old: PhaseSet, new: PhaseSet) -> None:
        raise RuntimeError("boom")

    reg.add_listener(broken)
    reg.add_listener(lambda old, new: got.append(new.version))
    assert reg.apply(PhaseSet(1, {"ks.t": TablePhase(DW)}))
    assert got == [1] and reg.phase_of("ks", "t") == TablePhase(DW)


def test_docs_guard_table_matches_the_code():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "phases.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("**"):
            rows[cells[0].strip("*")] = [c.startswith("yes") for c in cells[1:]]
    assert rows == {a: [GUARD[a][b] for b in PHASES] for a in PHASES}


def test_time_in_dynamo_is_remembered_until_cassandra_is_forced_back() -> None:
    from proxy.phases.model import TablePhase, TransitionRefused, carry_history, check_transition

    steps = [TablePhase("verify"), TablePhase("dynamo_fallback"), TablePhase("dynamo", 10.0),
             TablePhase("dynamo_fallback")]
    cur = TablePhase("dual_write")
    for nxt in steps:
        check_transition(cur, nxt)
        cur = carry_history(cur, nxt)
    assert cur.cassandra_behind  # some partitions were in dynamo
    assert TablePhase.from_json(cur.to_json()).cassandra_behind
    # one step at a time would be fine; the history is not
    with pytest.raises(TransitionRefused, match="missed the writes made while the table was in dynamo"):
        check_transition(cur, TablePhase("verify"))
    with pytest.raises(TransitionRefused):
        check_transition(cur, TablePhase("dynamo_fallback", 50.0))  # half of it back in verify
    check_transition(cur, TablePhase("verify"), force=True)  # the operator repaired Cassandra
    back = carry_history(cur, TablePhase("verify"))
    assert not back.cassandra_behind
    check_transition(back, TablePhase("dual_write"))
    # never in dynamo: nothing to remember
    assert not carry_history(TablePhase("verify"), TablePhase("dynamo_fallback")).cassandra_behind


# -- the mirror epoch and the cutover gate ----------------------------------------------------------------

def test_mirror_epoch_starts_when_every_partition_mirrors_and_ends_back_in_cassandra() -> None:
    from proxy.phases.model import MirrorEpoch, carry_history, mirror_epoch

    def move(cur: TablePhase, nxt: TablePhase, version: int) -> TablePhase:
        return carry_history(cur, nxt, version=version, at=100.0 * version)

    cur = TablePhase(C)
    assert mirror_epoch(cur) is None
    cur = move(cur, TablePhase(DW, 10), 1)  # 90% still in cassandra: not yet
    assert mirror_epoch(cur) is None and cur.mirrored_since is None
    cur = move(cur, TablePhase(DW), 2)
    assert mirror_epoch(cur) == MirrorEpoch(2, 200.0)
    for v, nxt in enumerate([TablePhase(V, 50), TablePhase(V), TablePhase(DF, 10), TablePhase(DW)], start=3):
        cur = move(cur, nxt, v)
        assert mirror_epoch(cur) == MirrorEpoch(2, 200.0)  # kept while everything mirrors
    assert TablePhase.from_json(cur.to_json()).mirrored_since == MirrorEpoch(2, 200.0)
    cur = move(cur, TablePhase(DW, 50), 8)  # half back in cassandra: the epoch ends
    assert mirror_epoch(cur) is None and "mirrored_since" not in cur.to_json()
    cur = move(cur, TablePhase(DW), 9)
    assert mirror_epoch(cur) == MirrorEpoch(9, 900.0)
    # a table that starts mirrored in the mapping is in epoch 0, and keeps it
    assert mirror_epoch(TablePhase(V)) == MirrorEpoch(0)
    assert mirror_epoch(move(TablePhase(V), TablePhase(DF), 4)) == MirrorEpoch(0)
    # history only: equality is about the phase
    assert cur == TablePhase(DW)
    with pytest.raises(PhaseError):
        TablePhase.from_json({"phase": DW, "mirrored_since": {"version": "x"}})


T = "ks.t"


def _epoch(version: int = 3):
    from proxy.phases.model import MirrorEpoch

    return MirrorEpoch(version, 1000.0 * version)


def _run(kind: str, **kw: object):
    from proxy.phases.cutover import RunRecord

    base: dict[str, object] = {"epoch": _epoch(), "phase_version": 4, "fleet_converged": True,
                               "ranges_total": 256, "ranges_done": 256}
    base.update(kw)
    return RunRecord(kind, T, 5000.0, 5100.0, **base)  # type: ignore[arg-type]


BF_OK = _run("backfill")
VAL_OK = _run("validate")

# old, new (phase, share), latest backfill, latest validate, fleet converged now -> None when allowed
# without force, else a piece of the refusal
GATE = [
    # any move of partitions forward into dynamo_fallback or dynamo must be earned
    ((V, 100), (DF, 100), None, None, True, "backfill of ks.t not completed since dual_write converged"),
    ((V, 100), (DF, 10), None, None, True, "backfill of ks.t not completed"),
    ((V, 100), (DF, 100), BF_OK, None, True, "no validate of ks.t since dual_write converged"),
    ((V, 100), (DF, 100), None, VAL_OK, True, "run: cql-dynamo-proxy backfill --mapping m.yaml --table ks.t "
                                              "--control file:/ctl"),
    ((V, 100), (DF, 100), BF_OK, VAL_OK, True, None),
    ((DW, 100), (DF, 100), BF_OK, VAL_OK, True, None),
    ((DF, 10), (DF, 50), None, None, True, "backfill of ks.t"),
    ((DF, 10), (DF, 50), BF_OK, VAL_OK, True, None),
    ((DF, 100), (D, 10), BF_OK, _run("validate", differences=1), True, "found 1 difference(s)"),
    ((DF, 100), (D, 100), BF_OK, VAL_OK, True, None),
    # moves the gate does not guard: back from dynamo, backwards, within Cassandra-authoritative phases
    ((D, 100), (DF, 100), None, None, True, None),
    ((DF, 100), (V, 100), None, None, True, None),
    ((V, 100), (DW, 100), None, None, True, None),
    ((DW, 100), (V, 100), None, None, True, None),
    ((DF, 50), (DF, 10), None, None, True, None),
    # runs that do not count
    ((V, 100), (DF, 100), _run("backfill", epoch=_epoch(1)), VAL_OK, True,
     "backfill of ks.t not completed since dual_write converged (entered at phase version 3, 1970-01-01 00:50:00Z)"
     " (the last one, 1970-01-01 01:23:20Z, ran before that)"),
    ((V, 100), (DF, 100), _run("backfill", fleet_converged=False, forced=True), VAL_OK, True,
     "started before the fleet converged in dual_write (forced); run it again"),
    ((V, 100), (DF, 100), _run("backfill", ranges_failed=2, ranges_done=254), VAL_OK, True,
     "2 of 256 ranges failed); run it again (it resumes)"),
    ((V, 100), (DF, 100), _run("backfill", ranges_done=200), VAL_OK, True, "56 of 256 ranges not copied"),
    ((V, 100), (DF, 100), BF_OK, _run("validate", epoch=_epoch(1)), True, "no validate of ks.t"),
    ((V, 100), (DF, 100), BF_OK, _run("validate", epoch=None), True, "no validate of ks.t"),
    ((V, 100), (DF, 100), BF_OK, _run("validate", fleet_converged=False), True,
     "started before the fleet converged"),
    ((V, 100), (DF, 100), BF_OK, _run("validate", sample=10.0, ranges_total=26, ranges_done=26), True,
     "compared a 10% sample of the ranges, which does not count"),
    ((V, 100), (DF, 100), BF_OK, _run("validate", rerun=True, ranges_total=3, ranges_done=3), True,
     "--rerun-failed"),
    ((V, 100), (DF, 100), BF_OK, _run("validate", differences=4), True,
     "found 4 difference(s); repair them (validate --repair), then validate again"),
    ((V, 100), (DF, 100), BF_OK, _run("validate", differences=4, repair=True, repaired=4), True,
     "found 4 difference(s) (repaired); confirm the repair with another validate"),
    ((V, 100), (DF, 100), BF_OK, _run("validate", ranges_failed=1, ranges_done=255), True,
     "could not compare 1 range(s); run it again"),
    ((V, 100), (DF, 100), BF_OK, _run("validate", differences=2, ranges_failed=1, ranges_done=255), True,
     "found 2 difference(s) and could not compare 1 range(s)"),
    # a clean validate with a repair is clean
    ((V, 100), (DF, 100), BF_OK, _run("validate", repair=True), True, None),
    # the fleet not yet converged is said first when something is missing
    ((V, 100), (DF, 100), None, None, False, "the fleet has not converged in dual_write for ks.t yet (behind: b)"),
    ((V, 100), (DF, 100), BF_OK, VAL_OK, False, None),
]


@pytest.mark.parametrize(("old", "new", "backfill", "validate", "converged", "refusal"), GATE)
def test_cutover_gate(old, new, backfill, validate, converged, refusal) -> None:
    from proxy.phases.cutover import CutoverRefused, Evidence, Hint, check_cutover

    ev = Evidence(T, _epoch(), backfill, validate, converged, () if converged else ("b",),
                  Hint("m.yaml", "file:/ctl"))
    o, n = TablePhase(*old), TablePhase(*new)
    if refusal is None:
        check_cutover(o, n, ev)
        return
    with pytest.raises(CutoverRefused) as e:
        check_cutover(o, n, ev)
    assert refusal in str(e.value) and "ks.t" in str(e.value) and "force to override" in str(e.value)
    assert e.value.missing and (e.value.old, e.value.new) == (old[0], new[0])
    check_cutover(o, n, ev, force=True)  # force overrides the gate too


def test_cutover_gate_for_the_mapping_epoch_and_a_table_not_mirrored() -> None:
    from proxy.phases.cutover import Evidence, cutover_problems
    from proxy.phases.model import MirrorEpoch

    zero = MirrorEpoch(0)
    bf, val = _run("backfill", epoch=zero), _run("validate", epoch=zero)
    assert cutover_problems(Evidence(T, zero, bf, val)) == []
    assert "the mapping's phase, version 0" in cutover_problems(Evidence(T, zero))[0]
    assert cutover_problems(Evidence(T, None, bf, val)) == ["ks.t is not in dual_write or later for every partition"]


def test_run_records_round_trip_and_the_latest_wins() -> None:
    from proxy.phases.cutover import RunRecord, latest_runs

    for r in (BF_OK, _run("validate", epoch=None, sample=5.0, rerun=True, repair=True, repaired=2, by="a@h")):
        assert RunRecord.from_json(r.to_json()) == r
    with pytest.raises(PhaseError):
        RunRecord.from_json({"kind": "backfill"})
    with pytest.raises(PhaseError):
        _run("restore")
    later = RunRecord("validate", T, 6000.0, 6001.0, _epoch(), 4, True, differences=3)
    runs = latest_runs([VAL_OK, later, BF_OK, RunRecord("validate", "ks.u", 1.0, 2.0, None, 0, False)])
    assert runs[T] == {"validate": later, "backfill": BF_OK} and set(runs) == {T, "ks.u"}
