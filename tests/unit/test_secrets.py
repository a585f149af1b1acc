"""Secrets from files and the environment rather than argv; warnings at start; nothing logged."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from proxy.cli import build_parser, main
from proxy.config import ConfigError, env_secret, load_config, startup_warnings
from proxy.phases import phase_cli


def _secret(tmp_path: Path, name: str, text: str, mode: int = 0o600) -> str:
    p = tmp_path / name
    p.write_text(text)
    p.chmod(mode)
    return str(p)


def test_secrets_from_files(tmp_path: Path) -> None:
    cfg = load_config(environ={
        "CDP_ADMIN_TOKEN_FILE": _secret(tmp_path, "token", "t0k\n"),
        "CDP_CASSANDRA_USERNAME": "sidecar",
    }, overrides={
        "cassandra_password_file": _secret(tmp_path, "pw", "p:w d\r\n"),
        "client_users_file": _secret(tmp_path, "users", "app:s3cret\nops:x,y:z\n\n"),
    })
    assert (cfg.admin_token, cfg.cassandra_password) == ("t0k", "p:w d")
    assert cfg.client_user_table == {"app": "s3cret", "ops": "x", "y": "z"}
    assert cfg.redacted()["cassandra_password"] == "***"
    assert "t0k" not in repr(cfg) and "p:w d" not in repr(cfg) and "s3cret" not in repr(cfg)


def test_a_secret_given_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="admin_token is set twice"):
        load_config(environ={"CDP_ADMIN_TOKEN": "a", "CDP_ADMIN_TOKEN_FILE": _secret(tmp_path, "t", "b")})


def test_a_missing_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read --cassandra-password-file .*nope"):
        load_config(overrides={"cassandra_password_file": str(tmp_path / "nope")})


def test_warnings(tmp_path: Path) -> None:
    cfg = load_config(environ={"CDP_CASSANDRA_USERNAME": "sidecar", "CDP_CASSANDRA_PASSWORD": "pw",
                               "CDP_ADMIN_TOKEN_FILE": _secret(tmp_path, "t", "x", 0o644)})
    warnings = startup_warnings(cfg, ["cassandra_password"])
    assert any("--cassandra-password was given on the command line" in w for w in warnings)
    assert any("can be read by other users" in w and "-rw-r--r--" in w for w in warnings)
    assert any("admitted without credentials" in w and "'sidecar'" in w for w in warnings)
    assert not any("pw" in w.split() or "x" in w.split() for w in warnings)
    checked = load_config(environ={"CDP_CASSANDRA_USERNAME": "sidecar", "CDP_CLIENT_USERS": "a:b"})
    assert startup_warnings(checked) == []
    assert startup_warnings(load_config(environ={})) == []


def test_serve_warns_about_secrets_on_the_command_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    def stop(coro: Any) -> None:  # the server never starts: only what comes before matters
        coro.close()

    monkeypatch.setattr(asyncio, "run", stop)
    with caplog.at_level(logging.WARNING):
        assert main(["serve", "--no-uvloop", "--admin-token", "tok3n", "--cassandra-username", "u",
                     "--cassandra-password", "pa55", "--state-dir", str(tmp_path)]) == 0
    text = caplog.text
    assert "--admin-token was given on the command line" in text
    assert "--cassandra-password was given on the command line" in text
    assert "admitted without credentials" in text
    assert "tok3n" not in text and "pa55" not in text


def test_env_secret(tmp_path: Path) -> None:
    assert env_secret("cassandra_password", {"CDP_CASSANDRA_PASSWORD": "a"}) == "a"
    assert env_secret("cassandra_password", {"CDP_CASSANDRA_PASSWORD_FILE": _secret(tmp_path, "p", "b\n")}) == "b"
    assert env_secret("cassandra_password", {}) is None


def test_phase_token_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
        return Resp()

    monkeypatch.delenv("CDP_ADMIN_TOKEN", raising=False)
    monkeypatch.setattr(phase_cli.urllib.request, "urlopen", fake_urlopen)
    args = build_parser().parse_args(["phase", "--token-file", _secret(tmp_path, "t", "from-file\n"), "get"])
    err = io.StringIO()
    assert phase_cli.run_phase_command(args, io.StringIO(), err) == 0
    assert seen["auth"] == "Bearer from-file" and err.getvalue() == ""
    args = build_parser().parse_args(["phase", "--token", "argv-token", "get"])
    assert phase_cli.run_phase_command(args, io.StringIO(), err) == 0
    assert "--token on the command line" in err.getvalue() and "argv-token" not in err.getvalue()
    args = build_parser().parse_args(["phase", "--token-file", str(tmp_path / "missing"), "get"])
    assert phase_cli.run_phase_command(args, io.StringIO(), err) == phase_cli.EXIT_INVALID


def test_a_secret_volume_readable_by_the_pods_own_group_is_not_reported(tmp_path: Path) -> None:
    """The kubelet writes a Secret volume as <dir>/..<stamp>/<key>, links <dir>/..data to it and
    <dir>/<key> to ..data/<key>, and makes the files readable by the pod's fsGroup (one of the
    container's groups): that is no other user. Readable by everyone, or outside such a volume, it
    is still reported."""
    vol = tmp_path / "secret"
    stamp = vol / "..2026_12_05_05_00_00.1"
    stamp.mkdir(parents=True)
    (stamp / "admin-token").write_text("t0k")
    (vol / "..data").symlink_to(stamp.name)
    (vol / "admin-token").symlink_to("..data/admin-token")
    loose = tmp_path / "admin-token"
    loose.write_text("t0k")

    def reported(path: Path, mode: int) -> bool:
        os.chmod(stamp / "admin-token", mode)
        os.chmod(loose, mode)
        cfg = load_config(environ={"CDP_ADMIN_TOKEN_FILE": str(path)})
        return any("can be read by other users" in w for w in startup_warnings(cfg))

    assert not reported(vol / "admin-token", 0o440)  # the kubelet's own mode under an fsGroup
    assert not reported(vol / "admin-token", 0o400)
    assert reported(vol / "admin-token", 0o444)  # everyone
    assert reported(loose, 0o440)  # a plain file: its group may hold other users
