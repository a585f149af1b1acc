"""The command-line contract scripts rely on."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

from proxy.cli import build_parser, main
from proxy.config import Config


def test_every_config_option_has_a_flag():
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    flags = {opt for a in serve._actions for opt in a.option_strings}
    for f in fields(Config):
        assert "--" + f.name.replace("_", "-") in flags, f.name
    assert {"--listen", "--cassandra", "--admin", "--config", "--admin-token"} <= flags


def test_bad_configuration_exits_2_with_the_reason(capsys, tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("listen: [unclosed\n")
    assert main(["serve", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and str(bad) in err and "line 1" in err


def test_bad_frame_limit_exits_2(capsys):
    assert main(["serve", "--max-frame-bytes", "1000"]) == 2
    assert "max_frame_bytes must be between 65536 and 2147483647" in capsys.readouterr().err


def test_unknown_option_in_file_exits_2(capsys, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("lisen: 127.0.0.1:9042\n")
    assert main(["serve", "--config", str(f)]) == 2
    assert "unknown option 'lisen'" in capsys.readouterr().err


def test_console_script_help_runs():
    r = subprocess.run([sys.executable, "-m", "proxy.cli", "serve", "--help"], capture_output=True, text=True,
                       check=True)
    assert "--cassandra" in r.stdout and "CDP_CASSANDRA" in r.stdout


def test_port_in_use_is_a_clear_failure(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "proxy.cli", "serve", "--listen", f"127.0.0.1:{port}",
                            "--admin", "127.0.0.1:0"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "cannot start" in r.stderr and "address already in use" in r.stderr


def test_a_bad_mapping_stops_the_sidecar_at_start_with_the_line(tmp_path):
    bad = tmp_path / "mapping.yaml"
    bad.write_text("version: 1\ntables:\n  - cql: ks.t\n    write_mode: qeued\n"
                   "    schema: {columns: {id: int}, partition_key: [id]}\n")
    r = subprocess.run([sys.executable, "-m", "proxy.cli", "serve", "--mapping", str(bad), "--listen",
                        "127.0.0.1:0", "--admin", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert f"{bad}:4:" in r.stderr and "qeued" in r.stderr
