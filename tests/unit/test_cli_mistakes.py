"""Every command, given a configuration or connectivity mistake, through the real command line: one
line naming the problem, no traceback, the exit code docs/exit-codes.md gives. The stores are not
needed: the ports used are closed (port 1) and the hosts do not exist (.invalid)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOP = str(ROOT / "examples" / "shop.yaml")
CLOSED = "127.0.0.1:1"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mistakes")
    (d / "bad.yaml").write_text("a: [\n")
    (d / "badmap.yaml").write_text("version: 1\ntables: 3\n")
    (d / "empty").write_text("")
    (d / "adir").mkdir()
    (d / "dl-bad").mkdir()
    (d / "dl-bad" / "dead-letters.jsonl").write_text('{"bogus": 1}\n')
    (d / "dl").mkdir()
    (d / "dl" / "dead-letters.jsonl").write_text(
        '{"operation": "PutItem", "request": {"TableName": "t", "Item": {"k": {"S": "v"}}}}\n')
    return d


def _serve(*extra: str) -> tuple[str, ...]:
    return ("serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--cassandra", CLOSED, *extra)


# (id, arguments with {d} for the files, exit code, words of the message)
CASES: list[tuple[str, tuple[str, ...], int, tuple[str, ...]]] = [
    ("serve-config-missing", _serve("--config", "{d}/nope.yaml"), 2, ("cannot read config file", "No such file")),
    ("serve-config-malformed", _serve("--config", "{d}/bad.yaml"), 2, ("bad.yaml: invalid YAML",)),
    ("serve-config-unreadable", _serve("--config", "{d}/adir"), 2, ("adir", "Is a directory")),
    ("serve-mapping-missing", _serve("--mapping", "{d}/nope.yaml"), 2, ("--mapping", "nope.yaml: no such file")),
    ("serve-mapping-unreadable", _serve("--mapping", "{d}/adir"), 2, ("--mapping", "is a directory")),
    ("serve-mapping-malformed", _serve("--mapping", "{d}/bad.yaml"), 2, ("bad.yaml:2: invalid YAML",)),
    ("serve-mapping-invalid", _serve("--mapping", "{d}/badmap.yaml"), 2, ("tables: expected a list",)),
    ("serve-tls-cert-missing", _serve("--tls-cert", "{d}/nope.pem", "--tls-key", "{d}/nope.key"), 2,
     ("--tls-cert", "nope.pem: no such file")),
    ("serve-tls-key-missing", _serve("--tls-cert", "{d}/empty", "--tls-key", "{d}/nope.key"), 2,
     ("--tls-key", "nope.key: no such file")),
    ("serve-tls-cert-not-pem", _serve("--tls-cert", "{d}/empty", "--tls-key", "{d}/empty"), 2,
     ("cannot load --tls-cert", "not PEM")),
    ("serve-tls-client-ca-missing", _serve("--tls-client-ca", "{d}/nope.pem"), 2, ("--tls-client-ca", "no such file")),
    ("serve-cassandra-tls-ca-not-pem", _serve("--cassandra-tls", "--cassandra-tls-ca", "{d}/empty"), 2,
     ("cannot load --cassandra-tls-ca",)),
    ("serve-cassandra-tls-cert-missing", _serve("--cassandra-tls", "--cassandra-tls-cert", "{d}/nope.pem"), 2,
     ("--cassandra-tls-cert", "no such file")),
    ("serve-secret-file-missing", _serve("--admin-token-file", "{d}/nope"), 2, ("--admin-token-file", "No such file")),
    ("serve-log-level", _serve("--log-level", "loud"), 2, ("log_level", "'loud'")),
    ("serve-number", _serve("--max-connections", "many"), 2, ("--max-connections", "'many'")),
    ("serve-cassandra-port", ("serve", "--cassandra", "127.0.0.1:abc"), 2, ("bad port", "127.0.0.1:abc")),
    ("serve-unknown-flag", _serve("--no-such-flag"), 2, ("unrecognized arguments: --no-such-flag",)),
    ("dead-letters-state-dir-missing", ("dead-letters", "replay", "--state-dir", "{d}/nope"), 2,
     ("--state-dir", "no such directory")),
    ("dead-letters-mapping-missing", ("dead-letters", "replay", "--state-dir", "{d}/dl", "--mapping", "{d}/nope.yaml"),
     2, ("cannot read the mapping", "No such file")),
    ("dead-letters-mapping-malformed", ("dead-letters", "replay", "--state-dir", "{d}/dl", "--mapping",
                                        "{d}/bad.yaml"), 2, ("bad.yaml:2: invalid YAML",)),
    ("dead-letters-file-malformed", ("dead-letters", "replay", "--state-dir", "{d}/dl-bad"), 2,
     ("dead-letters.jsonl", "line 1 is not a dead-lettered write")),
    ("dead-letters-dynamodb-unreachable", ("dead-letters", "replay", "--state-dir", "{d}/dl", "--dynamodb-endpoint",
                                           f"http://{CLOSED}"), 1, ("DynamoDB does not answer", "kept in")),
    ("mapping-check-missing", ("mapping", "check", "{d}/nope.yaml"), 2, ("cannot read", "No such file")),
    ("mapping-check-malformed", ("mapping", "check", "{d}/bad.yaml"), 2, ("invalid YAML",)),
    ("mapping-init-unreachable", ("mapping", "init", "--cassandra", CLOSED, "--keyspace", "ks", "-o", "{d}/m.yaml"), 1,
     ("cannot connect to Cassandra at 127.0.0.1:1", "refused")),
    ("mapping-init-unknown-host", ("mapping", "init", "--cassandra", "nosuch.invalid:9042", "--keyspace", "ks", "-o",
                                   "{d}/m.yaml"), 2, ("nosuch.invalid:9042: no such host",)),
    ("mapping-init-output-dir", ("mapping", "init", "--cassandra", CLOSED, "--keyspace", "ks", "-o",
                                 "{d}/nodir/m.yaml"), 2, ("cannot write", "no directory")),
    ("tables-create-mapping-missing", ("tables", "create", "--mapping", "{d}/nope.yaml"), 2, ("cannot read",)),
    ("tables-create-endpoint-invalid", ("tables", "create", "--mapping", SHOP, "--endpoint-url", "ddb.local"), 2,
     ("'ddb.local' must be http://",)),
    ("tables-create-unreachable", ("tables", "create", "--mapping", SHOP, "--endpoint-url", f"http://{CLOSED}",
                                   "--region", "us-east-1"), 1, ("DynamoDB", "127.0.0.1:1")),
    ("phase-unreachable", ("phase", "get", "--admin", CLOSED), 3, ("cannot reach http://127.0.0.1:1",)),
    ("phase-admin-invalid", ("phase", "get", "--admin", "http://[::1"), 2, ("--admin", "not http://HOST:PORT")),
    ("phase-token-file-missing", ("phase", "get", "--token-file", "{d}/nope"), 2, ("--token-file", "No such file")),
    ("phase-invalid-phase", ("phase", "set", "ks.t", "warp"), 2, ("invalid choice: 'warp'",)),
    ("backfill-mapping-malformed", ("backfill", "--mapping", "{d}/bad.yaml"), 2, ("invalid YAML",)),
    ("validate-mapping-unreadable", ("validate", "--mapping", "{d}/adir"), 2, ("cannot read the mapping",)),
    ("backfill-cassandra-port", ("backfill", "--mapping", SHOP, "--cassandra", "127.0.0.1:abc"), 2,
     ("--cassandra", "'abc' is not a number")),
    ("restore-unknown-host", ("restore-cassandra", "--mapping", SHOP, "--table", "shop.cart_items", "--force", "--cassandra",
                              "nosuch.invalid:9042"), 2,
     ("--cassandra nosuch.invalid:9042: no such host",)),
    ("backfill-cassandra-unreachable", ("backfill", "--mapping", SHOP, "--cassandra", CLOSED), 1,
     ("cannot connect to Cassandra at 127.0.0.1:1",)),
    ("validate-cassandra-unreachable", ("validate", "--mapping", SHOP, "--cassandra", CLOSED), 3,
     ("cannot connect to Cassandra at 127.0.0.1:1",)),
    ("backfill-metrics-host-unknown", ("backfill", "--mapping", SHOP, "--metrics-host", "nosuch.invalid",
                                       "--metrics-port", "9464"), 2, ("--metrics-host nosuch.invalid",)),
    ("backfill-bad-number", ("backfill", "--mapping", SHOP, "--workers", "0"), 2, ("--workers", "must be 1 or more")),
]


@pytest.mark.parametrize(("args", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_mistake_is_one_line_and_its_exit_code(files: Path, tmp_path: Path, args: tuple[str, ...],
                                                 code: int, words: tuple[str, ...]) -> None:
    argv = [a.format(d=files) for a in args]
    if argv[0] == "serve" and "--state-dir" not in argv:
        argv += ["--state-dir", str(tmp_path / "state")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    r = subprocess.run([sys.executable, "-m", "proxy.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=120)
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    assert r.returncode == code, out
    errors = [line for line in r.stderr.splitlines() if "warning:" not in line]
    assert len(errors) == 1, out
    for w in words:
        assert w in errors[0], out
