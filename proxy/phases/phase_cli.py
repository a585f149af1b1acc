"""`cql-dynamo-proxy phase get|set|status|audit`: talks to a sidecar's admin API.

Exit codes (docs/exit-codes.md): 0 done, 1 refused (the guard, the cutover gate, a missing DynamoDB
table, or a concurrent change won), 2 invalid request (unknown table or phase, bad share, an
--admin that is not a URL, an unreadable --token-file), 3 the sidecar or its control store could
not be reached, or the token was refused."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

from ..cli_args import percent, positive_float, positive_int
from ..config import ConfigError, env_secret, read_secret_file
from .model import PHASES

EXIT_REFUSED, EXIT_INVALID, EXIT_UNREACHABLE = 1, 2, 3


def _connection_options(p: argparse.ArgumentParser, leaf: bool) -> None:
    # on `phase` and on each of its commands, so both `phase --admin X get` and `phase get --admin X`
    # work; a leaf only overrides what it was given
    d = argparse.SUPPRESS
    p.add_argument("--admin", default=d if leaf else os.environ.get("CDP_ADMIN_URL", "http://127.0.0.1:9191"),
                   help="a sidecar's admin API, http://HOST:PORT or HOST:PORT [env CDP_ADMIN_URL]")
    p.add_argument("--token", default=d if leaf else None,
                   help="admin bearer token (visible in ps: prefer --token-file or the env) [env CDP_ADMIN_TOKEN]")
    p.add_argument("--token-file", default=d if leaf else None, metavar="PATH",
                   help="file holding the admin bearer token [env CDP_ADMIN_TOKEN_FILE]")
    p.add_argument("--json", action="store_true", default=d if leaf else False, help="print the API's JSON answer")
    p.add_argument("--timeout", type=positive_float, default=d if leaf else 10.0,
                   help="seconds to wait for the sidecar")


def add_phase_subcommand(sub: Any) -> None:
    p = sub.add_parser("phase", help="read and change table phases across the fleet (through a sidecar)")
    _connection_options(p, leaf=False)
    ps = p.add_subparsers(dest="phase_command", required=True)
    g = ps.add_parser("get", help="the phases the sidecar runs (all tables, or one)")
    g.add_argument("table", nargs="?", metavar="KS.TABLE")
    s = ps.add_parser("set", help="move a table to a phase, fleet-wide")
    s.add_argument("table", metavar="KS.TABLE")
    s.add_argument("phase", choices=PHASES)
    s.add_argument("--share", type=percent, default=100.0,
                   help="percent of partitions in PHASE (more than 0, at most 100); the rest stay in the phase "
                        "before it")
    s.add_argument("--force", action="store_true", help="allow a move the guard refuses (can lose data)")
    s.add_argument("--by", default=None, help="who makes the change, for the audit trail (default: $USER)")
    st = ps.add_parser("status", help="every sidecar's version, whether the fleet has converged, and per table "
                                      "its backfill, validate and cutover gate")
    a = ps.add_parser("audit", help="the newest phase changes")
    a.add_argument("--limit", type=positive_int, default=20, help="how many changes to show")
    for leaf in (g, s, st, a):
        _connection_options(leaf, leaf=True)


def _base_url(admin: str) -> str:
    admin = admin.strip().rstrip("/")
    return admin if "://" in admin else f"http://{admin}"


def _check_admin_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"--admin {url}: not http://HOST:PORT")


def _token(args: argparse.Namespace) -> str:
    if args.token is not None:
        return str(args.token)
    if getattr(args, "token_file", None) is not None:
        return read_secret_file(args.token_file, "--token-file")
    return env_secret("admin_token") or ""


def _request(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    token = _token(args)
    h = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(_base_url(args.admin) + path, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = {"error": raw.decode("utf-8", "replace")[:500] or e.reason}
        return e.code, parsed if isinstance(parsed, dict) else {"error": str(parsed)}


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _share(share: float) -> str:
    return f"{share:g}%"


def _table(rows: list[list[str]], headers: list[str], out: TextIO) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def _phase_rows(tables: dict[str, Any]) -> list[list[str]]:
    order = PHASES
    rows = []
    for name, tp in sorted(tables.items()):
        share = float(tp.get("share", 100.0))
        i = order.index(tp["phase"]) if tp["phase"] in order else 0
        rest = f"{100 - share:g}% in {order[i - 1]}" if share < 100 and i else ""
        rows.append([name, tp["phase"], _share(share), rest])
    return rows


def _print_phaseset(doc: dict[str, Any], out: TextIO) -> None:
    print(f"version {doc['version']}, updated {_when(doc.get('updated_at'))} by {doc.get('updated_by') or '-'}",
          file=out)
    _table(_phase_rows(doc.get("tables", {})), ["TABLE", "PHASE", "SHARE", "REST"], out)


def _print_status(doc: dict[str, Any], out: TextIO) -> None:
    conv = (f"converged at {_when(doc['converged_at'])}" if doc.get("converged")
            else f"NOT converged ({len(doc.get('behind', []))} behind)")
    print(f"version {doc['version']}: {doc['on_current_version']}/{doc['total']} sidecars on it, {conv}", file=out)
    rows = [[s["sidecar_id"], s.get("host", ""), str(s["version"]), _when(s.get("applied_at")),
             f"{s['heartbeat_age_seconds']:.1f}s ago", "STALE" if s["stale"] else "ok"]
            for s in doc.get("sidecars", [])]
    _table(rows, ["SIDECAR", "HOST", "VERSION", "APPLIED", "LAST BEAT", "STATE"], out)
    tables = doc.get("tables")
    if tables:  # sidecars before the cutover gate do not send it
        print(file=out)
        _print_gates(tables, out)


def _since(t: dict[str, Any]) -> str:
    epoch = t.get("mirror_epoch")
    if not epoch:
        return "-"
    since = "mapping" if not epoch["version"] else f"v{epoch['version']} {_when(epoch.get('at'))}"
    return since + ("" if t.get("fleet_converged") else " (fleet not on it)")


def _backfill_cell(run: dict[str, Any] | None, epoch: dict[str, Any] | None) -> str:
    if not run:
        return "-"
    if run["ranges_failed"]:
        state = f"{run['ranges_failed']} ranges failed"
    elif run["ranges_done"] < run["ranges_total"]:
        state = f"{run['ranges_done']}/{run['ranges_total']} ranges"
    else:
        state = "done"
    return f"{state} {_when(run['finished_at'])}{_stale(run, epoch)}"


def _validate_cell(run: dict[str, Any] | None, epoch: dict[str, Any] | None) -> str:
    if not run:
        return "-"
    scope = "" if run["sample"] >= 100 and not run["rerun"] else (
        " (rerun)" if run["rerun"] else f" ({run['sample']:g}% sample)")
    return (f"{run['differences']} diffs, {run['ranges_failed']} failed{scope} {_when(run['finished_at'])}"
            f"{_stale(run, epoch)}")


def _stale(run: dict[str, Any], epoch: dict[str, Any] | None) -> str:
    # a run from before the table last entered dual_write: shown, but it no longer counts
    return "" if epoch is not None and run.get("epoch") == epoch else " (earlier stretch)"


def _gate_matters(t: dict[str, Any]) -> bool:
    # mirrored, and not yet wholly in dynamo (nothing left to earn there)
    return bool(t.get("mirror_epoch")) and not (t["phase"] == PHASES[-1] and float(t.get("share", 100.0)) >= 100)


def _print_gates(tables: dict[str, Any], out: TextIO) -> None:
    rows = []
    for name, t in sorted(tables.items()):
        gate = t.get("gate") or {}
        rows.append([name, f"{t['phase']} {_share(float(t.get('share', 100.0)))}", _since(t),
                     _backfill_cell(t.get("backfill"), t.get("mirror_epoch")),
                     _validate_cell(t.get("validate"), t.get("mirror_epoch")),
                     ("open" if gate.get("open") else "closed") if _gate_matters(t) else "-"])
    _table(rows, ["TABLE", "PHASE", "DUAL_WRITE SINCE", "BACKFILL", "LAST VALIDATE", "CUTOVER GATE"], out)
    for name, t in sorted(tables.items()):
        gate = t.get("gate") or {}
        if not gate.get("open") and _gate_matters(t):
            for why in gate.get("missing", []):
                print(f"  {name}: {why}", file=out)


def _print_audit(doc: dict[str, Any], out: TextIO) -> None:
    rows = []
    for e in doc.get("entries", []):
        old = e.get("old")
        old_s = f"{old['phase']} {_share(old['share'])}" if old else "-"
        new = e["new"]
        rows.append([str(e["version"]), _when(e["at"]), e["by"], e["table"], old_s,
                     f"{new['phase']} {_share(new['share'])}", "yes" if e.get("force") else ""])
    _table(rows, ["VERSION", "WHEN", "BY", "TABLE", "FROM", "TO", "FORCED"], out)
    for e in doc.get("entries", []):
        if e.get("overridden"):
            print(f"  version {e['version']} forced past: {e['overridden']}", file=out)


def _exit_for(status: int) -> int:
    if status == 409:
        return EXIT_REFUSED
    if status in (400, 404):
        return EXIT_INVALID
    return EXIT_UNREACHABLE


def run_phase_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    cmd = args.phase_command
    if args.token is not None:
        print("cql-dynamo-proxy phase: warning: --token on the command line can be read by any local user (ps); "
              "use --token-file or CDP_ADMIN_TOKEN", file=err)
    try:
        args.token = _token(args)  # read once, so a missing file is reported before anything is sent
        _check_admin_url(_base_url(args.admin))
    except ConfigError as e:
        print(f"cql-dynamo-proxy phase: {e}", file=err)
        return EXIT_INVALID
    try:
        if cmd == "get":
            path = f"/phases/{args.table}" if args.table else "/phases"
            status, doc = _request(args, "GET", path)
        elif cmd == "set":
            by = args.by or os.environ.get("USER") or "cli"
            status, doc = _request(args, "PUT", f"/phases/{args.table}",
                                   {"phase": args.phase, "share": args.share, "force": args.force},
                                   headers={"X-Actor": by})
        elif cmd == "status":
            status, doc = _request(args, "GET", "/phases/status")
        else:
            status, doc = _request(args, "GET", f"/phases/audit?limit={max(1, args.limit)}")
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        print(f"cql-dynamo-proxy phase: cannot reach {_base_url(args.admin)}: {reason}", file=err)
        return EXIT_UNREACHABLE
    if status != 200:
        reason = doc.get("error") or f"HTTP {status}"
        print(f"cql-dynamo-proxy phase {cmd}: {reason}", file=err)
        return _exit_for(status)
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True), file=out)
        return 0
    if cmd == "get" and args.table:
        _table(_phase_rows({doc["table"]: doc}), ["TABLE", "PHASE", "SHARE", "REST"], out)
        print(f"(version {doc['version']})", file=out)
    elif cmd in ("get", "set"):
        if cmd == "set" and not doc.get("changed", True):
            print(f"{args.table} is already there; nothing changed", file=out)
        _print_phaseset(doc, out)
    elif cmd == "status":
        _print_status(doc, out)
    else:
        _print_audit(doc, out)
    return 0
