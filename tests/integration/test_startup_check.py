"""`serve` checks at start that every mapped table exists in each store its phase uses: a missing one
stops it with one line (exit 2); what only a later phase needs, or what cannot be checked, is a
warning and the sidecar starts."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Sidecar, free_port, start_sidecar

from .drivers import session_for
from .stores import AWS_ENV, cli, ddb, mapped_keyspace

pytestmark = pytest.mark.integration

KS = "st_startup"


@pytest.fixture(scope="module")
def setup(cassandra, dynamodb, tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    """Three mapped tables: `kv` whole in both stores, `gone_c` dropped from Cassandra, `gone_d`
    whose DynamoDB table was deleted."""
    with mapped_keyspace(cassandra, dynamodb, KS, [
        f"CREATE TABLE {KS}.{t} (id int PRIMARY KEY, v text)" for t in ("kv", "gone_c", "gone_d")
    ], tmp_path_factory.mktemp("startup"), "st_") as (mapping, m):
        targets = {tm.table: tm.dynamodb_table for tm in m.tables.values()}
        cluster, s = session_for(*cassandra, version=4)
        try:
            s.execute(f"DROP TABLE {KS}.gone_c")
        finally:
            cluster.shutdown()
        client = ddb(dynamodb)
        client.delete_table(TableName=targets["gone_d"])
        try:
            yield mapping, targets
        finally:  # mapped_keyspace deletes every table of the mapping: one to delete
            ddb(dynamodb).create_table(TableName=targets["gone_d"], BillingMode="PAY_PER_REQUEST",
                                       KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                       AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])


def _serve(cassandra: tuple[str, int], dynamodb: str, mapping: Path, phases: str,
           tmp: Path) -> subprocess.CompletedProcess[str]:
    return cli("serve", "--listen", f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{free_port()}",
               "--cassandra", f"{cassandra[0]}:{cassandra[1]}", "--mapping", str(mapping),
               "--dynamodb-endpoint", dynamodb, "--state-dir", str(tmp / "state"), "--phases", phases, timeout=60)


def _start(cassandra: tuple[str, int], dynamodb: str, mapping: Path, phases: str, tmp: Path) -> Sidecar:
    return start_sidecar(cassandra, tmp, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                         "--phases", phases, env=AWS_ENV)


def _one_line(r: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    line = [x for x in r.stderr.splitlines() if x.startswith("cql-dynamo-proxy: cannot start:")]
    assert len(line) == 1, r.stderr
    for p in parts:
        assert p in line[0], line[0]


@pytest.mark.parametrize("phase", ["cassandra", "dual_write", "dynamo_fallback"])
def test_a_table_missing_in_cassandra_stops_the_start(setup, cassandra, dynamodb, tmp_path, phase):
    mapping, _ = setup
    r = _serve(cassandra, dynamodb, mapping, f"{KS}.gone_c={phase}", tmp_path)
    _one_line(r, f"{KS}.gone_c", "does not exist in Cassandra", f"phase {phase}")


@pytest.mark.parametrize("phase", ["dual_write", "verify", "dynamo"])
def test_a_table_missing_in_dynamodb_stops_the_start(setup, cassandra, dynamodb, tmp_path, phase):
    mapping, targets = setup
    r = _serve(cassandra, dynamodb, mapping, f"{KS}.gone_c=dynamo,{KS}.gone_d={phase}", tmp_path)
    _one_line(r, f"{KS}.gone_d", f"DynamoDB table {targets['gone_d']} does not exist", f"phase {phase}")


def test_both_missing_name_the_first_and_log_the_others(setup, cassandra, dynamodb, tmp_path):
    mapping, _ = setup
    r = _serve(cassandra, dynamodb, mapping, f"{KS}.gone_c=dual_write,{KS}.gone_d=dual_write", tmp_path)
    _one_line(r, f"{KS}.gone_d", "and 1 more")
    assert f"{KS}.gone_c: table {KS}.gone_c does not exist in Cassandra" in r.stderr


def test_in_phase_cassandra_a_missing_dynamodb_table_is_a_warning(setup, cassandra, dynamodb, tmp_path):
    mapping, targets = setup
    sc = _start(cassandra, dynamodb, mapping, f"{KS}.gone_c=dynamo", tmp_path)  # gone_d in cassandra
    try:
        log = sc.log()
        assert f"DynamoDB table {targets['gone_d']} does not exist" in log
        assert "before moving the table to dual_write" in log and "WARNING" in log
        cluster, s = session_for(sc.host, sc.port, version=4)
        try:
            s.execute(f"INSERT INTO {KS}.gone_d (id, v) VALUES (1, 'a')")
            assert s.execute(f"SELECT v FROM {KS}.gone_d WHERE id = 1").one().v == "a"
        finally:
            cluster.shutdown()
        # the move that would need it is refused until the table is there (or forced)
        phase = ("phase", "--admin", sc.admin_url, "set", f"{KS}.gone_d", "dual_write")
        r = cli(*phase, env={"CDP_ADMIN_TOKEN": sc.token})
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"DynamoDB table {targets['gone_d']} does not exist" in r.stderr and "force" in r.stderr
        r = cli(*phase, "--force", env={"CDP_ADMIN_TOKEN": sc.token})
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        sc.stop()


def test_phase_dynamo_needs_no_cassandra_at_all(setup, dynamodb, tmp_path):
    mapping, _ = setup
    nothing = ("127.0.0.1", free_port())  # no Cassandra listens here
    sc = _start(nothing, dynamodb, mapping, f"{KS}.kv=dynamo,{KS}.gone_c=dynamo", tmp_path)
    try:
        # gone_d stays in cassandra: its Cassandra cannot be checked, said once; the start goes on
        warnings = [x for x in sc.log().splitlines() if "cannot check the mapped tables in Cassandra" in x]
        assert len(warnings) == 1 and "does not answer" in warnings[0], sc.log()
        assert "does not exist in Cassandra" not in sc.log()  # gone_c is, but dynamo does not use it
    finally:
        sc.stop()


def test_an_unreachable_dynamodb_is_a_warning(setup, cassandra, tmp_path):
    mapping, _ = setup
    sc = _start(cassandra, f"http://127.0.0.1:{free_port()}", mapping, f"{KS}.kv=dual_write,{KS}.gone_c=dynamo",
                tmp_path)
    try:
        assert "DynamoDB at http://127.0.0.1:" in sc.log() and "does not answer" in sc.log()
    finally:
        sc.stop()


def test_a_gsi_missing_in_dynamodb_stops_the_start(setup, cassandra, dynamodb, tmp_path):
    mapping, targets = setup
    with_index = tmp_path / "mapping.yaml"
    line = f"    dynamodb_table: {targets['kv']}\n"
    text = mapping.read_text()
    assert line in text
    # a GSI the mapping uses that `tables create` never made
    with_index.write_text(text.replace(line, line + "    indexes: [{name: st_by_v, partition_key: v}]\n"))
    r = _serve(cassandra, dynamodb, with_index, f"{KS}.kv=dual_write,{KS}.gone_c=dynamo", tmp_path)
    _one_line(r, f"{KS}.kv", f"DynamoDB table {targets['kv']} (GSI st_by_v) does not exist", "phase dual_write")
    sc = _start(cassandra, dynamodb, with_index, f"{KS}.gone_c=dynamo", tmp_path)  # kv in cassandra
    try:
        assert "(GSI st_by_v) does not exist" in sc.log() and "before moving the table to dual_write" in sc.log()
    finally:
        sc.stop()


@pytest.mark.auth
def test_cassandra_is_checked_with_the_sidecars_own_login(setup, cassandra_auth, dynamodb, tmp_path):
    """The Cassandra with PasswordAuthenticator has no st_startup keyspace: without a login of its
    own the sidecar cannot look (clients log in with theirs), so it warns and starts; with one, it
    finds the keyspace missing."""
    mapping, _ = setup
    phases = f"{KS}.gone_c=dynamo"
    sc = _start(cassandra_auth, dynamodb, mapping, phases, tmp_path)
    try:
        assert "it needs a login and the sidecar has none (--cassandra-username)" in sc.log()
    finally:
        sc.stop()
    r = cli("serve", "--listen", f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{free_port()}", "--cassandra",
            f"{cassandra_auth[0]}:{cassandra_auth[1]}", "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
            "--state-dir", str(tmp_path / "state"), "--phases", phases, "--cassandra-username", "cassandra",
            env={**AWS_ENV, "CDP_CASSANDRA_PASSWORD": "cassandra"}, timeout=60)
    _one_line(r, f"{KS}.gone_d: keyspace {KS} does not exist in Cassandra at 127.0.0.1:{cassandra_auth[1]}",
              "phase cassandra", "and 1 more")
    assert f"{KS}.kv: keyspace {KS} does not exist" in r.stderr
    sc = start_sidecar(cassandra_auth, tmp_path, "--mapping", str(mapping), "--dynamodb-endpoint", dynamodb,
                       "--phases", phases, "--cassandra-username", "cassandra",
                       env={**AWS_ENV, "CDP_CASSANDRA_PASSWORD": "wrong"})
    try:
        assert "it refused the login of 'cassandra'" in sc.log()
    finally:
        sc.stop()
