"""`cql-dynamo-proxy phase ...`: parsing, what is sent, what is printed, exit codes."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

import proxy.phases.phase_cli as phase_cli
from proxy.cli import build_parser, main


def _parse(*argv: str) -> Any:
    return build_parser().parse_args(["phase", *argv])


def test_parsing_options_before_or_after_the_command():
    a = _parse("--admin", "http://10.0.0.1:9180", "--token", "t", "set", "shop.carts", "verify", "--share", "10")
    assert (a.admin, a.token, a.table, a.phase, a.share, a.force, a.json) == (
        "http://10.0.0.1:9180", "t", "shop.carts", "verify", 10.0, False, False)
    b = _parse("set", "shop.carts", "dynamo", "--force", "--by", "alice", "--admin", "127.0.0.1:9180", "--json")
    assert (b.admin, b.force, b.by, b.json, b.share) == ("127.0.0.1:9180", True, "alice", True, 100.0)
    g = _parse("get")
    assert g.phase_command == "get" and g.table is None and g.admin == "http://127.0.0.1:9191"
    assert _parse("get", "ks.t").table == "ks.t"
    assert _parse("status").phase_command == "status"
    assert _parse("audit", "--limit", "5").limit == 5


def test_unknown_phase_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        _parse("set", "ks.t", "dynamodb")
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


class FakeAPI:
    def __init__(self, status: int, doc: dict[str, Any]) -> None:
        self.status, self.doc = status, doc
        self.calls: list[tuple[str, str, Any, dict[str, str], str]] = []

    def __call__(self, args: Any, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        self.calls.append((method, path, body, headers or {}, args.admin))
        return self.status, self.doc


PHASESET = {"version": 3, "updated_at": 1700000000.0, "updated_by": "alice",
            "tables": {"shop.carts": {"phase": "verify", "share": 10.0}, "shop.items": {"phase": "dual_write",
                                                                                       "share": 100.0}}}


def _run(monkeypatch: pytest.MonkeyPatch, api: FakeAPI, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(phase_cli, "_request", api)
    out, err = io.StringIO(), io.StringIO()
    code = phase_cli.run_phase_command(_parse(*argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_set_sends_the_change_and_prints_the_phases(monkeypatch):
    api = FakeAPI(200, {**PHASESET, "changed": True})
    code, out, _ = _run(monkeypatch, api, "set", "shop.carts", "verify", "--share", "10", "--by", "alice")
    assert code == 0
    assert api.calls == [("PUT", "/phases/shop.carts", {"phase": "verify", "share": 10.0, "force": False},
                          {"X-Actor": "alice"}, "http://127.0.0.1:9191")]
    assert "version 3" in out and "by alice" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("shop.carts"))
    assert line.split() == ["shop.carts", "verify", "10%", "90%", "in", "dual_write"]


def test_refusal_exits_1_with_the_reason(monkeypatch):
    reason = "dual_write -> dynamo refused: DynamoDB becomes the only store ... (force to override)"
    code, out, err = _run(monkeypatch, FakeAPI(409, {"error": reason}), "set", "shop.carts", "dynamo")
    assert code == 1 and reason in err and out == ""
    code, _, err = _run(monkeypatch, FakeAPI(404, {"error": "ks.x is not a table"}), "set", "ks.x", "verify")
    assert code == 2 and "ks.x is not a table" in err
    code, _, err = _run(monkeypatch, FakeAPI(401, {"error": "token"}), "get")
    assert code == 3


def test_status_and_json(monkeypatch):
    doc = {"version": 3, "total": 2, "on_current_version": 1, "behind": ["b:9042"], "converged": False,
           "converged_at": None, "stale": 1, "sidecars": [
               {"sidecar_id": "a:9042", "host": "a", "version": 3, "applied_at": 1700000000.0,
                "last_beat": 1700000001.0, "heartbeat_age_seconds": 0.4, "stale": False, "current": True},
               {"sidecar_id": "b:9042", "host": "b", "version": 2, "applied_at": 1690000000.0,
                "last_beat": 1690000001.0, "heartbeat_age_seconds": 40.0, "stale": True, "current": False}]}
    code, out, _ = _run(monkeypatch, FakeAPI(200, doc), "status")
    assert code == 0 and "1/2 sidecars" in out and "NOT converged" in out
    assert "STALE" in next(ln for ln in out.splitlines() if ln.startswith("b:9042"))
    code, out, _ = _run(monkeypatch, FakeAPI(200, doc), "status", "--json")
    assert code == 0 and json.loads(out) == doc


def test_get_one_table_and_audit(monkeypatch):
    code, out, _ = _run(monkeypatch, FakeAPI(200, {"table": "shop.carts", "version": 3, "phase": "verify",
                                                  "share": 10.0}), "get", "shop.carts")
    assert code == 0 and "verify" in out and "(version 3)" in out
    entries = {"entries": [{"version": 3, "at": 1700000000.0, "by": "alice", "table": "shop.carts",
                            "old": {"phase": "dual_write", "share": 100.0},
                            "new": {"phase": "verify", "share": 10.0}, "force": False}]}
    api = FakeAPI(200, entries)
    code, out, _ = _run(monkeypatch, api, "audit", "--limit", "5")
    assert code == 0 and api.calls[0][1] == "/phases/audit?limit=5"
    assert "dual_write 100%" in out and "verify 10%" in out and "alice" in out


def test_unreachable_sidecar_exits_3(capsys):
    from tests.conftest import free_port

    assert main(["phase", "--admin", f"127.0.0.1:{free_port()}", "get"]) == 3
    assert "cannot reach" in capsys.readouterr().err


def test_token_from_the_environment(monkeypatch):
    seen = {}

    class Resp:
        status = 200

        def __enter__(self) -> Resp:
            return self

        def __exit__(self, *a: object) -> None:
            return None

        def read(self) -> bytes:
            return b'{"version": 0, "tables": {}}'

    def fake_urlopen(req: Any, timeout: float) -> Resp:
        seen["auth"] = req.get_header("Authorization")
        seen["url"] = req.full_url
        return Resp()

    monkeypatch.setenv("CDP_ADMIN_TOKEN", "s3cret")
    monkeypatch.setattr(phase_cli.urllib.request, "urlopen", fake_urlopen)
    assert phase_cli.run_phase_command(_parse("get", "--admin", "10.1.2.3:9180"), io.StringIO(), io.StringIO()) == 0
    assert seen == {"auth": "Bearer s3cret", "url": "http://10.1.2.3:9180/phases"}


def test_status_shows_each_tables_backfill_validate_and_gate(monkeypatch):
    epoch = {"version": 4, "at": 1700000000.0}
    run = {"epoch": epoch, "started_at": 1700000100.0, "finished_at": 1700000200.0, "ranges_total": 256,
           "ranges_done": 256, "ranges_failed": 0, "differences": 0, "sample": 100.0, "rerun": False}
    doc = {"version": 5, "total": 1, "on_current_version": 1, "behind": [], "converged": True,
           "converged_at": 1700000000.0, "stale": 0, "sidecars": [], "tables": {
               "shop.carts": {"phase": "verify", "share": 100.0, "mirror_epoch": epoch, "fleet_converged": True,
                              "backfill": run, "validate": {**run, "differences": 3},
                              "gate": {"open": False, "missing": ["the latest validate of shop.carts found 3"]}},
               "shop.items": {"phase": "dynamo_fallback", "share": 100.0, "mirror_epoch": epoch,
                              "fleet_converged": True, "backfill": run, "validate": run,
                              "gate": {"open": True, "missing": []}},
               "shop.old": {"phase": "verify", "share": 100.0, "mirror_epoch": {"version": 0, "at": 0.0},
                            "fleet_converged": True, "backfill": {**run, "ranges_failed": 2},
                            "validate": {**run, "sample": 10.0},
                            "gate": {"open": False, "missing": ["x"]}},
               "shop.new": {"phase": "cassandra", "share": 100.0, "mirror_epoch": None, "fleet_converged": False,
                            "backfill": None, "validate": None, "gate": {"open": False, "missing": ["y"]}}}}
    code, out, _ = _run(monkeypatch, FakeAPI(200, doc), "status")
    assert code == 0
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("shop.")}
    assert "v4 2023-11-14" in lines["shop.carts"] and "done 2023-11-14" in lines["shop.carts"]
    assert "3 diffs, 0 failed" in lines["shop.carts"] and lines["shop.carts"].endswith("closed")
    assert lines["shop.items"].endswith("open") and "0 diffs, 0 failed" in lines["shop.items"]
    # runs of an earlier stretch are shown as such; failed ranges and samples are visible
    assert "mapping" in lines["shop.old"] and "2 ranges failed" in lines["shop.old"]
    assert "(10% sample)" in lines["shop.old"] and "(earlier stretch)" in lines["shop.old"]
    assert lines["shop.new"].split()[-1] == "-" or lines["shop.new"].endswith("-")
    assert "  shop.carts: the latest validate of shop.carts found 3" in out
    assert "shop.new: y" not in out


def test_audit_shows_what_a_force_overrode(monkeypatch):
    entries = {"entries": [{"version": 7, "at": 1700000000.0, "by": "bob", "table": "shop.carts",
                            "old": {"phase": "verify", "share": 100.0},
                            "new": {"phase": "dynamo_fallback", "share": 100.0}, "force": True,
                            "overridden": "backfill of shop.carts not completed"}]}
    code, out, _ = _run(monkeypatch, FakeAPI(200, entries), "audit")
    assert code == 0 and "yes" in out and "version 7 forced past: backfill of shop.carts not completed" in out
