"""An unmodified application keeps running while its tables go through every phase and back,
flipped at run time through the admin API: zero client-visible errors, no lost or diverged rows."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import pytest
from cassandra.cluster import Session

from tests.conftest import Sidecar, start_sidecar

from .drivers import metric_sum, session_for
from .stores import AWS_ENV, assert_stores_equal, mapped_keyspace

pytestmark = pytest.mark.integration

KS = "cdp_flip"
KEYS = 40
# the cutover gate (a backfill and a clean validate first) is forced past: these tests are about the
# flips under a live workload; the gate's own path is in test_cutover_gate.py and the demo
FORWARD = [("dual_write", 100), ("verify", 100), ("dynamo_fallback", 50, True), ("dynamo_fallback", 100, True),
           ("dynamo", 100, True)]
# back from dynamo, Cassandra is behind until repaired: the guard refuses verify unless forced; the
# workload rewrites every key in each phase, which is the repair here
BACK = [("dynamo_fallback", 100), ("verify", 100, True), ("dual_write", 100)]


@pytest.fixture(scope="module")
def setup(cassandra, dynamodb, tmp_path_factory):
    with mapped_keyspace(cassandra, dynamodb, KS, [
        f"CREATE TABLE {KS}.kv (id int PRIMARY KEY, v text, n int, tags set<text>)",
        f"CREATE TABLE {KS}.feed (src int, seq int, msg text, PRIMARY KEY (src, seq)) "
        f"WITH CLUSTERING ORDER BY (seq DESC)",
    ], tmp_path_factory.mktemp("flip"), "flip") as mapped:
        yield mapped


def _sidecar(setup, cassandra, dynamodb, tmp, *extra: str) -> Sidecar:
    mapping, _ = setup
    return start_sidecar(cassandra, tmp, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                         "--control", f"file:{tmp}/control", "--control-poll-interval", "0.2", "--verify-sample", "100",
                         *extra, env=AWS_ENV)


def _admin(sc: Sidecar, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{sc.admin_url}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {sc.token}", "Content-Type": "application/json",
                                          "X-Actor": "test"})
    try:
        return json.loads(urllib.request.urlopen(req, timeout=10).read())
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{method} {path} -> {e.code}: {e.read().decode()}") from None


def flip(sc: Sidecar, phase: str, share: float, force: bool = False) -> None:
    for table in ("kv", "feed"):
        _admin(sc, "PUT", f"/phases/{KS}.{table}", {"phase": phase, "share": share, "force": force})
    want = _admin(sc, "GET", "/phases")["version"]
    deadline = time.monotonic() + 10
    while _admin(sc, "GET", "/phases/status")["this_sidecar"]["version"] < want:
        assert time.monotonic() < deadline, "the sidecar did not apply the new phases"
        time.sleep(0.05)


@dataclass
class Workload:
    """A plain application: full-row upserts, reads of what it wrote, a conditional update, a
    clustering-range read and deletes, round-robin over a few keys so each phase rewrites them all."""

    sessions: list[Session]
    errors: list[str] = field(default_factory=list)
    # above anything an earlier run left in the feed (sequence numbers only grow)
    done: int = field(default_factory=lambda: int(time.time() * 100) % 2**30)
    start: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    expected: dict[int, tuple[str, int]] = field(default_factory=dict)

    def run(self) -> None:
        stmts = [self._prepare(s) for s in self.sessions]
        i = self.start = self.done
        while not self.stop.is_set():
            i += 1
            s = self.sessions[i % len(self.sessions)]
            ins, sel, lwt, feed_ins, feed_sel = stmts[i % len(self.sessions)]
            key = i % KEYS
            try:
                s.execute(ins, (key, f"v{i}", i, {f"t{i % 3}"}))
                row = s.execute(sel, (key,)).one()
                if row is None or row.v != f"v{i}" or row.n != i:
                    self.errors.append(f"read {key} after writing v{i}: got {row}")
                r = s.execute(lwt, (i + 1, key, f"v{i}")).one()
                if r is None or r[0] is not True:
                    self.errors.append(f"conditional update of {key} not applied: {r}")
                self.expected[key] = (f"v{i}", i + 1)
                s.execute(feed_ins, (key, i, f"m{i}"))
                # keeps each feed short; also clears rows from before dual_write, which only a
                # backfill would copy (verify would rightly report them)
                s.execute(f"DELETE FROM {KS}.feed WHERE src = %s AND seq < %s", (key, i - KEYS))
                rows = list(s.execute(feed_sel, (key,)))
                if not rows or rows[0].seq != i or any(a.seq <= b.seq for a, b in itertools.pairwise(rows)):
                    self.errors.append(f"feed of {key} after writing {i}: {[r.seq for r in rows]}")
            except Exception as e:  # every client-visible error counts
                self.errors.append(f"{type(e).__name__}: {e}")
            self.done = i

    @staticmethod
    def _prepare(s: Session) -> tuple:
        return (s.prepare(f"INSERT INTO {KS}.kv (id, v, n, tags) VALUES (?, ?, ?, ?)"),
                s.prepare(f"SELECT id, v, n, tags FROM {KS}.kv WHERE id = ?"),
                s.prepare(f"UPDATE {KS}.kv SET n = ? WHERE id = ? IF v = ?"),
                s.prepare(f"INSERT INTO {KS}.feed (src, seq, msg) VALUES (?, ?, ?)"),
                s.prepare(f"SELECT seq, msg FROM {KS}.feed WHERE src = ? LIMIT 10"))

    def wait_cycles(self, n: int = 2, timeout: float = 60) -> None:
        target = self.done + n * KEYS
        deadline = time.monotonic() + timeout
        while self.done < target:
            assert time.monotonic() < deadline, f"workload stalled at {self.done}: {self.errors[:3]}"
            assert not self.errors, self.errors[:5]
            time.sleep(0.05)


def _assert_stores_equal(cassandra, dynamodb, m) -> None:
    for table in ("kv", "feed"):
        assert_stores_equal(cassandra, dynamodb, m.table(KS, table))


def _run_through_phases(sidecars: list[Sidecar], workload: Workload, stagger: float) -> None:
    for phase, share, *force in FORWARD + BACK:
        for sc in sidecars:
            flip(sc, phase, share, bool(force and force[0]))
            time.sleep(stagger)
        workload.wait_cycles()


def test_refused_step_back_after_dynamo(setup, cassandra, dynamodb, tmp_path):
    """Each step back from dynamo is adjacent, yet Cassandra missed the dynamo-only writes: the
    guard remembers and refuses to make it authoritative again without force."""
    sc = _sidecar(setup, cassandra, dynamodb, tmp_path)
    try:
        # forced past the cutover gate only (see FORWARD); the way back needs no force
        for phase, force in (("dual_write", False), ("verify", False), ("dynamo_fallback", True), ("dynamo", True),
                             ("dynamo_fallback", False)):
            flip(sc, phase, 100, force)
        with pytest.raises(AssertionError, match=r"409.*missed the writes made while the table was in dynamo"):
            flip(sc, "verify", 100)
    finally:
        sc.stop()


def test_one_sidecar_every_phase_forward_and_back(setup, cassandra, dynamodb, tmp_path):
    _, m = setup
    sc = _sidecar(setup, cassandra, dynamodb, tmp_path)
    try:
        cluster, s = session_for(sc.host, sc.port, version=4)
        w = Workload([s])
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        try:
            w.wait_cycles()
            _run_through_phases([sc], w, 0.0)
        finally:
            w.stop.set()
            t.join(30)
            cluster.shutdown()
        assert not w.errors, w.errors[:10]
        assert w.done - w.start > 10 * KEYS
        assert metric_sum(sc, "cdp_verify_reads_total") > 0
        assert metric_sum(sc, "cdp_verify_mismatches_total") == 0
        assert metric_sum(sc, "cdp_dynamo_reads_total") > 0
    finally:
        sc.stop()
    _assert_stores_equal(cassandra, dynamodb, m)


def test_two_sidecars_flipping_at_different_moments(setup, cassandra, dynamodb, tmp_path):
    _, m = setup
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _sidecar(setup, cassandra, dynamodb, tmp_path / "a")
    b = _sidecar(setup, cassandra, dynamodb, tmp_path / "b")
    try:
        ca, sa = session_for(a.host, a.port, version=4)
        cb, sb = session_for(b.host, b.port, version=5)
        w = Workload([sa, sb])
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        try:
            w.wait_cycles()
            _run_through_phases([a, b], w, 0.7)
        finally:
            w.stop.set()
            t.join(30)
            ca.shutdown()
            cb.shutdown()
        assert not w.errors, w.errors[:10]
    finally:
        a.stop()
        b.stop()
    _assert_stores_equal(cassandra, dynamodb, m)
