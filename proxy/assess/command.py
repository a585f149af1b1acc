"""`cql-dynamo-proxy assess`: fetches /assess from one or several sidecars, adds their figures up
and prints the assessment of each mapped table (text, or --json).

Exit codes: 0 the report is printed; 2 invalid input (an --admin that is not http://HOST:PORT, a
token or price file that cannot be read or is not a price table, a bad --cassandra); 3 a sidecar
could not be reached, refused the token or has the assessment off."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any, TextIO

from translators.assess import report
from translators.assess.render import render

from ..cli_args import positive_float
from ..config import ConfigError
from ..phases.phase_cli import _base_url, _check_admin_url, _token
from .prices import PriceFileError, load_prices

COMMAND = "assess"
EXIT_INVALID, EXIT_UNREACHABLE = 2, 3


def _utilisation(text: str) -> float:
    v = positive_float(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 1, got {text}")
    return v


def add_subcommand(sub: Any) -> None:
    p = sub.add_parser(COMMAND, help="how each mapped table would fare on DynamoDB, from the traffic the sidecars saw")
    p.add_argument("--admin", action="append", default=None, metavar="URL",
                   help="a sidecar's admin API, http://HOST:PORT (repeat, or separate by commas, for several: their "
                        "figures are added up) [env CDP_ADMIN_URL; default http://127.0.0.1:9191]")
    p.add_argument("--token", default=None, help="admin bearer token (prefer --token-file or CDP_ADMIN_TOKEN)")
    p.add_argument("--token-file", default=None, metavar="PATH", help="file holding the admin bearer token")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--show-keys", action="store_true", help="show hot partition keys (hashed otherwise)")
    p.add_argument("--prices", default=None, metavar="FILE",
                   help="JSON or YAML price table (default: the shipped us-east-1 one; see docs/assessment.md)")
    p.add_argument("--target-utilisation", type=_utilisation, default=0.7,
                   help="share of provisioned capacity the peak may use (default 0.7)")
    p.add_argument("--cassandra", default=None, metavar="HOST:PORT",
                   help="read each table's size from Cassandra's system.size_estimates for the storage cost")
    p.add_argument("--cassandra-username", default=None)
    p.add_argument("--cassandra-password-file", default=None, metavar="PATH")
    p.add_argument("--timeout", type=positive_float, default=10.0, help="seconds to wait for each sidecar")


def _fetch(url: str, token: str, show_keys: bool, timeout: float) -> dict[str, Any]:
    req = urllib.request.Request(url + "/assess" + ("?show_keys=1" if show_keys else ""),
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            doc = json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            why = json.loads(e.read()).get("error", e.reason)
        except ValueError:
            why = e.reason
        raise ConnectionError(f"{url}: HTTP {e.code}: {why}") from None
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ConnectionError(f"cannot reach {url}: {reason}") from None
    if not isinstance(doc, dict) or "tables" not in doc:
        raise ConnectionError(f"{url}: not a sidecar's /assess answer")
    return doc


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    raw = args.admin or [os.environ.get("CDP_ADMIN_URL", "http://127.0.0.1:9191")]
    urls = [_base_url(u) for item in raw for u in item.split(",") if u.strip()]
    try:
        for u in urls:
            _check_admin_url(u)
        token = _token(args)
        prices = load_prices(args.prices)
    except (ConfigError, PriceFileError) as e:
        print(f"cql-dynamo-proxy assess: {e}", file=err)
        return EXIT_INVALID
    try:
        snaps = [_fetch(u, token, args.show_keys, args.timeout) for u in urls]
    except ConnectionError as e:
        print(f"cql-dynamo-proxy assess: {e}", file=err)
        return EXIT_UNREACHABLE
    storage = None
    if args.cassandra:
        try:
            storage = _storage(args, [t for s in snaps for t in s["tables"]])
        except ValueError as e:
            print(f"cql-dynamo-proxy assess: --cassandra {args.cassandra}: {e}", file=err)
            return EXIT_INVALID
        except Exception as e:  # the driver's own errors: no node answered, login refused
            print(f"cql-dynamo-proxy assess: --cassandra {args.cassandra}: {type(e).__name__}: {e}", file=err)
            return EXIT_UNREACHABLE
    doc = report.build(snaps, prices, target_utilisation=args.target_utilisation, storage=storage)
    if args.json:
        out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        header = f"DynamoDB assessment, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        out.write(render(doc, header))
    return 0


def _storage(args: argparse.Namespace, tables: list[str]) -> dict[str, int]:
    """Bytes of each table by Cassandra's own estimate (system.size_estimates: mean partition size
    times partitions, per primary range, summed over every node that answers)."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster

    from ..backfill.source import parse_contact_points
    from ..config import read_secret_file

    hosts, port = parse_contact_points(args.cassandra)
    auth = None
    if args.cassandra_username:
        pw = read_secret_file(args.cassandra_password_file, "--cassandra-password-file") \
            if args.cassandra_password_file else ""
        auth = PlainTextAuthProvider(args.cassandra_username, pw)
    cluster = Cluster(hosts, port=port, auth_provider=auth, connect_timeout=args.timeout)
    try:
        session = cluster.connect()
        out: dict[str, int] = {}
        for name in sorted(set(tables)):
            ks, _, table = name.partition(".")
            total = 0
            for host in cluster.metadata.all_hosts():
                rows = session.execute(
                    "SELECT mean_partition_size, partitions_count FROM system.size_estimates "
                    "WHERE keyspace_name = %s AND table_name = %s", (ks.strip('"'), table.strip('"')), host=host)
                total += sum(int(r.mean_partition_size) * int(r.partitions_count) for r in rows)
            out[name] = total
        return out
    finally:
        cluster.shutdown()
