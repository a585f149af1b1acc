"""The batch commands through the real command line when something is wrong: a store that does not
answer, a table that is missing, refused credentials, a busy metrics port, a bad number. Each ends
with one line on stderr, no traceback, and its documented exit code."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

from .drivers import session_for
from .stores import AWS_ENV, cli, mapped_keyspace

pytestmark = pytest.mark.integration

KS = "cli_failures"
SCHEMA = [f"CREATE TABLE {KS}.t (k int PRIMARY KEY, v text)", f"INSERT INTO {KS}.t (k, v) VALUES (1, 'a')"]
TABLE = f"{KS}.t"
BATCH = ("backfill", "validate", "restore-cassandra")
# the code of "a store did not answer" for each command
UNREACHABLE = {"backfill": 1, "validate": 3, "restore-cassandra": 1}


@pytest.fixture(scope="module")
def env(cassandra: tuple[str, int], dynamodb: str, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[Path, Path]]:
    d = tmp_path_factory.mktemp("cli_failures")
    with mapped_keyspace(cassandra, dynamodb, KS, SCHEMA, d, "clif",
                         edit=lambda t: t.replace("endpoint: null", f"endpoint: {dynamodb}")) as (mapping, _):
        yield mapping, d
    cluster, s = session_for(*cassandra, version=4)
    try:
        s.execute(f"DROP KEYSPACE IF EXISTS {KS}")
    finally:
        cluster.shutdown()


def _args(cmd: str, mapping: Path, d: Path, cassandra: tuple[str, int], *extra: str) -> list[str]:
    args = [cmd, "--mapping", str(mapping), "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--table", TABLE,
            "--summary", str(d / f"{cmd}-summary.json"), *extra]
    if cmd == "validate":
        args += ["--splits", "4", "--report", str(d / "report.jsonl")]
    elif cmd == "backfill":
        args += ["--splits", "4", "--force", "--ledger", str(d / "backfill-ledger.jsonl")]
    else:
        args += ["--segments", "2", "--force", "--ledger", str(d / "restore-ledger.jsonl")]
    return args


def _one_line(r: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    out = r.stdout + r.stderr
    assert r.returncode == code, out
    assert "Traceback" not in out, out
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, out
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("cmd", BATCH)
def test_cassandra_unreachable(env: tuple[Path, Path], cassandra: tuple[str, int], cmd: str) -> None:
    mapping, d = env
    down = ("127.0.0.1", free_port())
    r = cli(*_args(cmd, mapping, d, down), timeout=60)
    _one_line(r, UNREACHABLE[cmd], f"cannot connect to Cassandra at 127.0.0.1:{down[1]}", "refused")


@pytest.mark.parametrize("cmd", BATCH)
def test_dynamodb_unreachable(env: tuple[Path, Path], cassandra: tuple[str, int], cmd: str) -> None:
    mapping, d = env
    endpoint = f"http://127.0.0.1:{free_port()}"
    r = cli(*_args(cmd, mapping, d, cassandra, "--dynamodb-endpoint", endpoint), timeout=60)
    _one_line(r, UNREACHABLE[cmd], f"cannot reach DynamoDB at {endpoint}: connection refused")


def _edited(mapping: Path, d: Path, name: str, old: str, new: str) -> Path:
    text = mapping.read_text()
    assert old in text
    out = d / name
    out.write_text(text.replace(old, new))
    return out


@pytest.mark.parametrize("cmd", BATCH)
def test_table_missing_in_dynamodb(env: tuple[Path, Path], cassandra: tuple[str, int], cmd: str) -> None:
    mapping, d = env
    target = next(line.split(": ")[1] for line in mapping.read_text().splitlines()
                  if line.strip().startswith("dynamodb_table:"))
    other = _edited(mapping, d, "no-dynamodb-table.yaml", f"dynamodb_table: {target}",
                    f"dynamodb_table: {target}_missing")
    r = cli(*_args(cmd, other, d, cassandra), timeout=60)
    _one_line(r, 2, f"DynamoDB table {target}_missing (of {TABLE}) does not exist")


@pytest.mark.parametrize("cmd", BATCH)
def test_table_missing_in_cassandra(env: tuple[Path, Path], cassandra: tuple[str, int], cmd: str) -> None:
    mapping, d = env
    other = _edited(mapping, d, "no-cassandra-table.yaml", f"cql: {TABLE}", f"cql: {KS}.nosuch")
    r = cli(*[f"{KS}.nosuch" if a == TABLE else a for a in _args(cmd, other, d, cassandra)], timeout=60)
    _one_line(r, 2, f"{KS}.nosuch: table nosuch does not exist in Cassandra")


@pytest.mark.parametrize("cmd", BATCH)
def test_dynamodb_refuses_the_credentials(env: tuple[Path, Path], cassandra: tuple[str, int], cmd: str) -> None:
    mapping, d = env
    r = cli(*_args(cmd, mapping, d, cassandra), env={**AWS_ENV, "AWS_ACCESS_KEY_ID": "not-a-key!"}, timeout=60)
    _one_line(r, 2, "refused the credentials", "UnrecognizedClientException")


def test_cassandra_refuses_the_login(env: tuple[Path, Path], cassandra_auth: tuple[str, int]) -> None:
    mapping, d = env
    r = cli(*_args("validate", mapping, d, cassandra_auth, "--cassandra-username", "cassandra"),
            env={**AWS_ENV, "CDP_CASSANDRA_PASSWORD": "wrong"}, timeout=120)
    _one_line(r, 2, f"Cassandra at {cassandra_auth[0]}:{cassandra_auth[1]} refused the login")


@pytest.mark.parametrize("cmd", BATCH)
def test_busy_metrics_port(env: tuple[Path, Path], cassandra: tuple[str, int], cmd: str) -> None:
    mapping, d = env
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli(*_args(cmd, mapping, d, cassandra, "--metrics-port", str(port)), timeout=60)
    _one_line(r, 2, f"--metrics-port {port}", "in use")


def test_missing_files(env: tuple[Path, Path], cassandra: tuple[str, int]) -> None:
    mapping, d = env
    r = cli(*_args("validate", d / "nope.yaml", d, cassandra))
    _one_line(r, 2, "cannot read the mapping", "No such file")
    r = cli(*_args("validate", mapping, d, cassandra, "--rerun-failed", str(d / "no-report.jsonl")))
    _one_line(r, 2, "no-report.jsonl: no such file")
    r = cli("backfill", "--mapping", str(mapping), "--force", "--summary", str(d / "no-dir" / "s.json"))
    _one_line(r, 2, "no directory")


INVALID = [
    ("backfill", "--workers", "0"),
    ("backfill", "--splits", "-5"),
    ("backfill", "--concurrency", "0"),
    ("backfill", "--page-size", "0"),
    ("backfill", "--write-concurrency", "-3"),
    ("backfill", "--rows-per-second", "-1"),
    ("backfill", "--write-units-per-second", "-1"),
    ("validate", "--sample", "150"),
    ("validate", "--sample", "0"),
    ("validate", "--scan-segments", "0"),
    ("validate", "--concurrency", "-2"),
    ("restore-cassandra", "--segments", "0"),
    ("restore-cassandra", "--concurrency", "-1"),
    ("restore-cassandra", "--page-size", "0"),
    ("restore-cassandra", "--write-concurrency", "0"),
    ("restore-cassandra", "--rows-per-second", "-5"),
]


@pytest.mark.parametrize(("cmd", "option", "value"), INVALID, ids=[" ".join(x) for x in INVALID])
def test_invalid_numbers(env: tuple[Path, Path], cassandra: tuple[str, int], cmd: str, option: str,
                         value: str) -> None:
    mapping, d = env
    r = cli(*_args(cmd, mapping, d, cassandra, option, value), timeout=60)
    _one_line(r, 2, f"argument {option}: ", value)


def test_a_clean_run_still_works(env: tuple[Path, Path], cassandra: tuple[str, int]) -> None:
    mapping, d = env
    r = cli(*_args("backfill", mapping, d, cassandra))
    assert r.returncode == 0 and "backfill: OK" in r.stdout, r.stdout + r.stderr
    r = cli(*_args("validate", mapping, d, cassandra))
    assert r.returncode == 0 and "validate: OK" in r.stdout, r.stdout + r.stderr


def test_dead_letters_replay(env: tuple[Path, Path], tmp_path: Path) -> None:
    r = cli("dead-letters", "replay", "--state-dir", str(tmp_path / "nope"))
    _one_line(r, 2, "no such directory")
    (tmp_path / "dead-letters.jsonl").write_text(
        '{"seq": 1, "table": "ks.t", "operation": "PutItem", "request": {"TableName": "t", "Item": '
        '{"pk": {"N": "1"}}}, "error": "x"}\n')
    endpoint = f"http://127.0.0.1:{free_port()}"
    r = cli("dead-letters", "replay", "--state-dir", str(tmp_path), "--dynamodb-endpoint", endpoint, timeout=60)
    _one_line(r, 1, "DynamoDB does not answer", "kept in")
    assert (tmp_path / "dead-letters.jsonl").read_text().count("\n") == 1


def test_other_commands(env: tuple[Path, Path]) -> None:
    mapping, _ = env
    r = cli("mapping", "init", "--cassandra", f"127.0.0.1:{free_port()}", "--keyspace", KS,
            "--connect-timeout", "2")
    _one_line(r, 1, "cannot connect to Cassandra")
    r = cli("tables", "create", "--mapping", str(mapping), "--endpoint-url", f"http://127.0.0.1:{free_port()}",
            "--dry-run", timeout=120)
    _one_line(r, 1, "DynamoDB")
    r = cli("phase", "set", TABLE, "verify", "--share", "150")
    _one_line(r, 2, "--share: must be more than 0 and at most 100")
    r = cli("phase", "status", "--admin", f"127.0.0.1:{free_port()}", "--timeout", "2")
    _one_line(r, 3, "cannot reach")
