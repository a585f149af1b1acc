"""Every command that talks to AWS, through the real command line, with an AWS setup that cannot
work: an unknown profile (flag or AWS_PROFILE), no region, no credentials, an STS that does not
answer or refuses the web-identity token. Each ends before touching a store, with one line on
stderr, no traceback, and exit code 2. No back end is needed: the failure comes first."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

STS_REFUSAL = (b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
               b"<Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity"
               b"</Message></Error><RequestId>1</RequestId></ErrorResponse>")


class _RefusingSts(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(403)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(STS_REFUSAL)))
        self.end_headers()
        self.wfile.write(STS_REFUSAL)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def sts() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingSts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mapping without a region, a state directory holding one dead letter, an empty AWS setup."""
    d = tmp_path_factory.mktemp("aws_cli")
    (d / "mapping.yaml").write_text((ROOT / "examples" / "shop.yaml").read_text()
                                    .replace("region: us-east-1", "region: null"))
    (d / "state").mkdir()
    (d / "state" / "dead-letters.jsonl").write_text(json.dumps(
        {"seq": 1, "table": "shop.carts", "operation": "PutItem",
         "request": {"TableName": "aws_cli_t", "Item": {"pk": {"S": "x"}}}, "error": "x"}) + "\n")
    (d / "config").write_text("[profile other]\nregion = eu-west-1\n")
    (d / "credentials").write_text("")
    (d / "token").write_text("a-web-identity-token")
    return d


def _commands(d: Path) -> dict[str, list[str]]:
    m = str(d / "mapping.yaml")
    nowhere = f"127.0.0.1:{free_port()}"  # no store is reached: the AWS setup fails first
    return {
        "tables create": ["tables", "create", "--mapping", m],
        "backfill": ["backfill", "--mapping", m, "--cassandra", nowhere, "--force"],
        "validate": ["validate", "--mapping", m, "--cassandra", nowhere],
        "restore-cassandra": ["restore-cassandra", "--mapping", m, "--cassandra", nowhere, "--force",
                              "--table", "shop.carts"],
        "dead-letters replay": ["dead-letters", "replay", "--state-dir", str(d / "state"), "--mapping", m],
        "serve": ["serve", "--mapping", m, "--cassandra", nowhere, "--listen", "127.0.0.1:0",
                  "--admin", f"127.0.0.1:{free_port()}", "--state-dir", str(d / "state")],
    }


KEYS = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret"}
REGION = {"AWS_DEFAULT_REGION": "eu-west-1"}


def _cases(d: Path, sts: str) -> dict[str, tuple[dict[str, str], list[str], str]]:
    """case: (environment, extra arguments, what the line must say)"""
    web_identity = {**REGION, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/cdp",
                    "AWS_WEB_IDENTITY_TOKEN_FILE": str(d / "token")}
    return {
        "--profile nope": ({**KEYS, **REGION}, ["--profile", "nope"], "profile (nope) could not be found"),
        "AWS_PROFILE=nope": ({**KEYS, **REGION, "AWS_PROFILE": "nope"}, [], "profile (nope) could not be found"),
        "no region": (KEYS, [], "no AWS region for dynamodb"),
        "no credentials": (REGION, [], "no AWS credentials found"),
        "STS unreachable": ({**web_identity, "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{free_port()}"}, [],
                            "cannot get AWS credentials: Could not connect to the endpoint URL"),
        "STS refuses": ({**web_identity, "AWS_ENDPOINT_URL_STS": sts}, [],
                        "cannot get AWS credentials: An error occurred (AccessDenied)"),
    }


CASES = ("--profile nope", "AWS_PROFILE=nope", "no region", "no credentials", "STS unreachable", "STS refuses")
COMMANDS = ("tables create", "backfill", "validate", "restore-cassandra", "dead-letters replay", "serve")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES)
def test_a_bad_aws_setup_is_one_line_and_exit_2(setup: Path, sts: str, case: str, command: str) -> None:
    env, extra, said = _cases(setup, sts)[case]
    # nothing of the machine's AWS setup: only the files of the test and the case's variables
    base = {"PATH": "/usr/bin:/bin", "HOME": str(setup), "AWS_CONFIG_FILE": str(setup / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(setup / "credentials"), "AWS_EC2_METADATA_DISABLED": "true"}
    r = subprocess.run([sys.executable, "-m", "proxy.cli", *_commands(setup)[command], *extra], cwd=ROOT,
                       env={**base, **env}, capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "Traceback" not in out, out
    errors = [line for line in r.stderr.splitlines() if " INFO " not in line]  # serve logs its start
    assert len(errors) == 1 and said in errors[0] and "AWS" in errors[0], out
