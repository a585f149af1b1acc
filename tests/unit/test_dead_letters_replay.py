"""`dead-letters replay` when DynamoDB does not answer or refuses the credentials: it stops at once
and keeps every write not applied, instead of waiting out the retries of each one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from proxy.aws.dynamodb_client import DynamoDBError, DynamoDBUnavailable
from proxy.cli import main
from proxy.writes.journal import DeadLetters
from proxy.writes.write_queue import replay_dead_letters


class _Client:
    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        raise self.error


def _dead(tmp_path: Path, n: int) -> DeadLetters:
    dead = DeadLetters(tmp_path / "dead-letters.jsonl")
    dead.path.write_text("".join(json.dumps({"seq": i, "table": "ks.t", "operation": "PutItem",
                                             "request": {"TableName": "t", "Item": {"pk": {"N": str(i)}}},
                                             "error": "x"}) + "\n" for i in range(n)))
    return dead


@pytest.mark.parametrize("error", [DynamoDBUnavailable("no answer"),
                                   DynamoDBError("UnrecognizedClientException", "bad key", 400)])
def test_replay_stops_at_an_unreachable_dynamodb_and_keeps_every_write(tmp_path: Path, error: Exception) -> None:
    dead = _dead(tmp_path, 5)
    client = _Client(error)
    with pytest.raises(type(error)):
        asyncio.run(replay_dead_letters(dead, client))  # type: ignore[arg-type]
    assert client.calls == 1
    assert [r["seq"] for r in dead.read()] == [0, 1, 2, 3, 4]


def test_replay_keeps_going_past_a_write_that_fails_alone(tmp_path: Path) -> None:
    dead = _dead(tmp_path, 3)
    client = _Client(DynamoDBError("ValidationException", "bad item", 400))
    assert asyncio.run(replay_dead_letters(dead, client)) == (0, 3, 0)  # type: ignore[arg-type]
    assert client.calls == 3


class _SidecarAlongside:
    """DynamoDB takes every replayed write; meanwhile a running sidecar records new dead letters in
    the same file (its own DeadLetters on the same path), one per replayed write."""

    def __init__(self, path: Path) -> None:
        self.sidecar = DeadLetters(path)
        self.calls = 0

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        self.sidecar.record("ks.t", "PutItem", {"TableName": "t", "Item": {"pk": {"N": str(100 + self.calls)}}},
                            "timed out", "mirror")
        return {}


def test_dead_letters_a_sidecar_adds_during_a_replay_are_kept(tmp_path: Path) -> None:
    dead = _dead(tmp_path, 3)
    client = _SidecarAlongside(dead.path)
    assert asyncio.run(replay_dead_letters(dead, client)) == (3, 0, 0)  # type: ignore[arg-type]
    # the three replayed ones are gone; the three recorded meanwhile wait for the next replay
    assert [r["request"]["Item"]["pk"]["N"] for r in dead.read()] == ["101", "102", "103"]


def test_an_append_after_a_rewrite_goes_to_the_new_file(tmp_path: Path) -> None:
    dead = _dead(tmp_path, 2)
    sidecar = DeadLetters(dead.path)
    records, size = dead.read_sized()
    dead.rewrite(records[1:], size)
    sidecar.record("ks.t", "PutItem", {"TableName": "t"}, "x", "mirror")
    assert [r.get("seq") for r in dead.read()] == [1, None]


def test_replay_refuses_a_missing_state_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert main(["dead-letters", "replay", "--state-dir", str(missing)]) == 2
    assert not missing.exists()  # not created as a side effect
    assert "no such directory" in capsys.readouterr().err
