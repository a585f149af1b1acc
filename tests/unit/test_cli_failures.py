"""How the batch commands tell failures apart, without the back ends: the one-line errors and their
exit codes, which errors are retried, the summary's verdict."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from cassandra import AuthenticationFailed, InvalidRequest, OperationTimedOut, ReadTimeout, Unauthorized
from cassandra.cluster import NoHostAvailable

from proxy.aws.dynamodb_client import DynamoDBError, DynamoDBUnavailable
from proxy.backfill import runner
from proxy.backfill.failures import (
    CommandError,
    Kind,
    cassandra_error,
    cassandra_transient,
    dynamodb_error,
)
from proxy.backfill.progress import human, outcome
from proxy.cli import main


def test_a_missing_mapping_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("backfill", "validate", "restore-cassandra"):
        assert main([cmd, "--mapping", str(tmp_path / "nope.yaml")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot read the mapping" in err and "No such file" in err, err


# -- failures --------------------------------------------------------------------------------------


def test_exit_codes_by_command_and_kind() -> None:
    assert CommandError("x").exit_code("backfill") == 2
    assert CommandError("x", Kind.UNREACHABLE).exit_code("backfill") == 1
    assert CommandError("x", Kind.UNREACHABLE).exit_code("restore-cassandra") == 1
    assert CommandError("x", Kind.UNREACHABLE).exit_code("validate") == 3
    assert CommandError("x").exit_code("validate") == 2


def test_which_cassandra_errors_are_retried() -> None:
    assert cassandra_transient(OperationTimedOut("slow"))
    assert cassandra_transient(ReadTimeout("slow"))
    assert cassandra_transient(NoHostAvailable("down", {"h": ConnectionRefusedError(111, "refused")}))
    assert cassandra_transient(ConnectionResetError())
    assert not cassandra_transient(InvalidRequest("unconfigured table t"))
    assert not cassandra_transient(Unauthorized("no SELECT"))
    assert not cassandra_transient(NoHostAvailable("login", {"h": AuthenticationFailed("bad password")}))
    assert not cassandra_transient(ValueError("cannot decode"))


def test_connection_errors_read_as_one_line() -> None:
    refused = cassandra_error(NoHostAvailable("Unable to connect to any servers", {
        "127.0.0.1:9": ConnectionRefusedError(111, "Tried connecting to [('127.0.0.1', 9)]. Last error: "
                                                   "Connection refused")}), "127.0.0.1:9")
    assert refused.kind is Kind.UNREACHABLE
    assert str(refused) == "cannot connect to Cassandra at 127.0.0.1:9: Connection refused"
    login = cassandra_error(NoHostAvailable("x", {"h": AuthenticationFailed("Bad credentials\nmore")}), "h:9042")
    assert login.kind is Kind.INVALID and "refused the login: Bad credentials" in str(login)
    assert "\n" not in str(login)

    ep = "http://127.0.0.1:8000"
    gone = dynamodb_error(DynamoDBError("ResourceNotFoundException", "no table", 400), ep, "t_1 (of ks.t)")
    assert gone.kind is Kind.INVALID and "DynamoDB table t_1 (of ks.t) does not exist at " + ep in str(gone)
    creds = dynamodb_error(DynamoDBError("UnrecognizedClientException", "bad key", 400), ep)
    assert creds.kind is Kind.INVALID and "refused the credentials" in str(creds)
    denied = dynamodb_error(DynamoDBError("AccessDeniedException", "not allowed", 400), ep)
    assert denied.kind is Kind.INVALID
    down = dynamodb_error(DynamoDBUnavailable("Scan: no answer from x after 3 attempts: ConnectionRefusedError()"),
                          ep)
    assert down.kind is Kind.UNREACHABLE and str(down) == f"cannot reach DynamoDB at {ep}: connection refused"


class _Source:
    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    async def execute(self, *a: Any, **kw: Any) -> Any:
        self.calls += 1
        raise self.error


class _Ctx:
    def __init__(self, error: Exception) -> None:
        self.source = _Source(error)


class _Table:
    cql_name = "ks.t"


def _fetch(error: Exception, monkeypatch: pytest.MonkeyPatch) -> int:
    async def no_wait(_: float) -> None:
        return None

    monkeypatch.setattr(runner.asyncio, "sleep", no_wait)
    ctx = _Ctx(error)
    with pytest.raises(type(error)):
        asyncio.run(runner.fetch_page(ctx, _Table(), "SELECT", (), None, None))  # type: ignore[arg-type]
    return ctx.source.calls


def test_a_page_read_is_retried_only_when_the_error_may_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _fetch(OperationTimedOut("slow"), monkeypatch) == runner.PAGE_ATTEMPTS
    assert _fetch(InvalidRequest("unconfigured table t"), monkeypatch) == 1
    assert _fetch(ValueError("cannot decode"), monkeypatch) == 1


# -- the summary's verdict -------------------------------------------------------------------------


def _summary(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"command": "validate", "ranges": {"total": 4, "done": 4, "done_earlier": 0, "failed": 0},
                            "rows_read": 1, "rows_written": 0, "rows_unchanged": 0, "duration_seconds": 1,
                            "rows_per_second": 1, "write_units": 0, "conflicts": 0, "failures": 0, "errors": []}
    base.update(kw)
    return base


def test_the_summary_says_ok_only_when_all_is_done_and_equal() -> None:
    assert outcome(_summary(differences={})) == "OK"
    assert outcome(_summary(differences={"MISSING": 2})) == "DIFFERENCES"
    assert outcome(_summary(differences={}, incomplete=True)) == "INCOMPLETE"
    assert outcome(_summary(ranges={"total": 4, "done": 3, "done_earlier": 0, "failed": 1})) == "INCOMPLETE"
    assert outcome(_summary(failures=3)) == "INCOMPLETE"
    assert human(_summary(differences={"MISMATCH": 1})).startswith("validate: DIFFERENCES")
