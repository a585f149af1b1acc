"""Every request opcode in every handshake state, in every auth mode, v4 and v5, with raw frames:
the answer (stream, opcode, error code and words), whether the connection stays, and that nothing
sent before a successful login ran (checked on Cassandra directly).

The same expectations are asserted against Cassandra 5.0 itself (the `cassandra` and
`cassandra_auth` targets): they are Cassandra's behaviour, and the sidecars must match it."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cassandra.cluster import Session

from cql_protocol.frame import Frame
from cql_protocol.messages import Prepare, Prepared, decode_frame
from cql_protocol.opcodes import Opcode
from tests.conftest import CASSANDRA_AUTH_PORT, Sidecar, free_port, start_sidecar

from .drivers import metric, session_for
from .raw_client import (
    CLOSED,
    FrameProbe,
    Reply,
    auth_body,
    batch_body,
    execute_body,
    prepare_body,
    query_body,
    register_body,
    startup_body,
)
from .stores import AWS_ENV, mapped_keyspace

pytestmark = [pytest.mark.integration, pytest.mark.auth]

KS = "au_hs"
SUPERUSER = ("cassandra", "cassandra")
APP = ("app", "s3cret")
_ids = itertools.count(int.from_bytes(os.urandom(3), "big") * 1000)


@dataclass
class Target:
    name: str
    host: str
    port: int
    login: tuple[str, str] | None  # what the client must present (None: STARTUP answers READY)
    backend: tuple[int, tuple[str, str] | None] | None  # the Cassandra requests would reach, its login
    sidecar: Sidecar | None = None


@pytest.fixture(scope="module")
def backend_sessions(cassandra, cassandra_auth) -> Iterator[dict[int, Session]]:
    """Direct sessions to both Cassandra nodes, to see what ran."""
    c1, s1 = session_for(*cassandra, version=4)
    c2, s2 = session_for(*cassandra_auth, version=4, username=SUPERUSER[0], password=SUPERUSER[1])
    s2.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s2.execute(f"CREATE TABLE IF NOT EXISTS {KS}.t (k int PRIMARY KEY, v text)")
    yield {cassandra[1]: s1, cassandra_auth[1]: s2}
    c1.shutdown()
    c2.shutdown()


@pytest.fixture(scope="module")
def targets(cassandra, cassandra_auth, dynamodb, backend_sessions, tmp_path_factory) -> Iterator[dict[str, Target]]:
    tmp = tmp_path_factory.mktemp("handshake")
    secrets = tmp / "secrets"
    secrets.mkdir(mode=0o700)
    password_file = secrets / "cassandra-password"
    password_file.write_text("cassandra\n")
    users_file = secrets / "client-users"
    users_file.write_text(f"{APP[0]}:{APP[1]}\nother:pw\n")
    for f in (password_file, users_file):
        f.chmod(0o600)
    with mapped_keyspace(cassandra, dynamodb, KS, [f"CREATE TABLE {KS}.t (k int PRIMARY KEY, v text)"],
                         tmp, "au") as (mapping, _):
        nothing = ("127.0.0.1", free_port())  # no Cassandra: every mapped table in phase dynamo
        dynamo = ("--mapping", str(mapping), "--dynamodb-endpoint", dynamodb, "--phases", f"{KS}.t=dynamo",
                  "--control", f"file:{tmp}/control")
        started: list[Sidecar] = []

        def sidecar(backend: tuple[str, int], *extra: str) -> Sidecar:
            sc = start_sidecar(backend, tmp, *extra, env=AWS_ENV)
            started.append(sc)
            return sc

        own = ("--cassandra-username", "cassandra", "--cassandra-password-file", str(password_file))
        ts = [
            Target("cassandra", *cassandra, None, (cassandra[1], None)),
            Target("cassandra_auth", *cassandra_auth, SUPERUSER, (cassandra_auth[1], SUPERUSER)),
            Target("upstream", "", 0, None, (cassandra[1], None), sidecar(cassandra)),
            Target("passthrough", "", 0, SUPERUSER, (cassandra_auth[1], SUPERUSER), sidecar(cassandra_auth)),
            Target("own_open", "", 0, None, (cassandra_auth[1], SUPERUSER), sidecar(cassandra_auth, *own)),
            Target("own_check", "", 0, APP, (cassandra_auth[1], SUPERUSER),
                   sidecar(cassandra_auth, *own, "--client-users-file", str(users_file))),
            Target("standalone_open", "", 0, None, None, sidecar(nothing, *dynamo)),
            Target("standalone_check", "", 0, APP, None,
                   sidecar(nothing, *dynamo, "--client-users", f"{APP[0]}:{APP[1]}",
                           "--cassandra-username", "sidecar", "--cassandra-password", "unused")),
        ]
        for t in ts:
            if t.sidecar is not None:
                t.host, t.port = t.sidecar.host, t.sidecar.port
        try:
            yield {t.name: t for t in ts}
        finally:
            for sc in started:
                sc.stop()


# -- raw connections in a given state --------------------------------------------------------------

STATES = ("UNINITIALIZED", "AUTHENTICATING", "AUTH_FAILED", "READY")


def connect(t: Target, version: int, state: str) -> FrameProbe:
    c = FrameProbe(t.host, t.port, version)
    if state == "UNINITIALIZED":
        return c
    r = c.request(Opcode.STARTUP, startup_body(version), stream=1)
    assert isinstance(r, Reply), r
    assert r.opcode == (Opcode.AUTHENTICATE if t.login else Opcode.READY), r
    if version >= 5:
        c.use_segments()
    if state == "AUTHENTICATING":
        return c
    if t.login is not None:
        if state == "AUTH_FAILED":
            r = c.request(Opcode.AUTH_RESPONSE, auth_body(t.login[0], "wrong", version), stream=2)
            assert isinstance(r, Reply) and r.code == 0x0100, r
            return c
        r = c.request(Opcode.AUTH_RESPONSE, auth_body(*t.login, version), stream=2)
        assert isinstance(r, Reply) and r.opcode == Opcode.AUTH_SUCCESS, r
    return c


@dataclass
class Request:
    name: str
    opcode: int
    body: bytes
    check: tuple[str, object] | None = None  # what must not exist afterwards: ("keyspace", name) / ("row", k)


def insert_id(t: Target, backend_sessions: dict[int, Session]) -> bytes:
    """The id of a prepared INSERT (Cassandra's ids are the same on every connection)."""
    if t.backend is not None:
        return bytes(backend_sessions[t.backend[0]].prepare(f"INSERT INTO {KS}.t (k, v) VALUES (?, 'x')").query_id)
    c = connect(t, 4, "READY")
    try:
        c.send_msg(Prepare(f"INSERT INTO {KS}.t (k, v) VALUES (?, 'x')"), 9)
        r = c.recv()
        assert isinstance(r, Reply) and r.opcode == Opcode.RESULT, r
        msg = decode_frame(Frame(4, 0, r.stream, r.opcode, r.body, True)).message
        assert isinstance(msg, Prepared)
        return msg.query_id
    finally:
        c.close()


def requests(version: int, prepared: bytes, ready: bool) -> list[Request]:
    """One request of each opcode. Before READY the writes are new each time, so that one that ran
    would show; once READY they run, and write the same harmless row each time."""
    n = next(_ids) if not ready else 0
    k = n % 2_000_000_000
    ddl = (f"CREATE KEYSPACE au_hs_{n} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
           if not ready else "SELECT release_version FROM system.local")
    execute = execute_body(prepared, version, b"" if version >= 5 else None)
    # the EXECUTE carries no values (one that ran would fail on Cassandra); the BATCH and the DDL
    # leave something behind if they run
    return [
        Request("STARTUP", Opcode.STARTUP, startup_body(version)),
        Request("OPTIONS", Opcode.OPTIONS, b""),
        Request("QUERY_DDL", Opcode.QUERY, query_body(ddl, version), ("keyspace", f"au_hs_{n}")),
        Request("QUERY_ROLES", Opcode.QUERY, query_body("SELECT role, salted_hash FROM system_auth.roles", version)),
        Request("PREPARE", Opcode.PREPARE, prepare_body("SELECT role FROM system_auth.roles", version)),
        Request("EXECUTE", Opcode.EXECUTE, execute),
        Request("BATCH", Opcode.BATCH, batch_body(f"INSERT INTO {KS}.t (k, v) VALUES ({k}, 'x')", version),
                ("row", k)),
        Request("REGISTER", Opcode.REGISTER, register_body(version)),
        Request("AUTH_RESPONSE", Opcode.AUTH_RESPONSE, b""),  # the target's good credentials, filled in
        Request("AUTH_RESPONSE_BAD", Opcode.AUTH_RESPONSE, b""),
    ]


# -- what Cassandra 5.0 answers --------------------------------------------------------------------


@dataclass
class Expect:
    opcode: int | None  # None: any answer that is not a PROTOCOL_ERROR (the request ran)
    code: int | None = None
    message: str | None = None
    closed: bool = False


def _wire_name(r: Request) -> str:
    return Opcode(r.opcode).name


def expected(t: Target, state: str, r: Request) -> Expect:
    name = _wire_name(r)
    if state == "UNINITIALIZED":
        if r.opcode == Opcode.STARTUP:
            return Expect(Opcode.AUTHENTICATE if t.login else Opcode.READY)
        if r.opcode == Opcode.OPTIONS:
            return Expect(Opcode.SUPPORTED)
        return Expect(Opcode.ERROR, 0x000A, f"Unexpected message {name}, expecting STARTUP or OPTIONS", closed=True)
    if state in ("AUTHENTICATING", "AUTH_FAILED"):
        assert t.login is not None
        if r.name == "AUTH_RESPONSE":
            return Expect(Opcode.AUTH_SUCCESS)
        if r.name == "AUTH_RESPONSE_BAD":
            return Expect(Opcode.ERROR, 0x0100, f"Provided username {t.login[0]} and/or password are incorrect")
        return Expect(Opcode.ERROR, 0x000A, f"Unexpected message {name}, expecting SASL_RESPONSE")
    # READY
    if r.opcode == Opcode.STARTUP:
        return Expect(Opcode.ERROR, 0x000A, "Unexpected message STARTUP, the connection is already initialized")
    if r.opcode == Opcode.OPTIONS:
        return Expect(Opcode.SUPPORTED)
    if r.opcode == Opcode.REGISTER:
        return Expect(Opcode.READY)
    if r.name == "AUTH_RESPONSE":
        return Expect(Opcode.AUTH_SUCCESS)
    if r.name == "AUTH_RESPONSE_BAD":  # a second login; without authentication anything passes
        if t.login is None:
            return Expect(Opcode.AUTH_SUCCESS)
        return Expect(Opcode.ERROR, 0x0100, f"Provided username {t.login[0]} and/or password are incorrect")
    return Expect(None)


def _fill_auth(t: Target, r: Request, version: int) -> Request:
    if r.opcode != Opcode.AUTH_RESPONSE:
        return r
    user, pw = t.login or ("anyone", "anything")
    return Request(r.name, r.opcode, auth_body(user, "wrong" if r.name.endswith("BAD") else pw, version))


def _still_open(c: FrameProbe, state: str, version: int) -> None:
    """The connection answers the next request as it must in `state`."""
    c.send(Opcode.OPTIONS, b"", stream=77)
    r = c.recv()
    assert isinstance(r, Reply) and r.stream == 77, r
    if state in ("AUTHENTICATING", "AUTH_FAILED"):
        assert r.code == 0x000A and r.message == "Unexpected message OPTIONS, expecting SASL_RESPONSE", r
    else:
        assert r.opcode == Opcode.SUPPORTED, r


def _nothing_ran(t: Target, r: Request, backend_sessions: dict[int, Session]) -> None:
    if r.check is None or t.backend is None:
        return
    s = backend_sessions[t.backend[0]]
    what, value = r.check
    if what == "keyspace":
        assert s.execute("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s",
                         (value,)).one() is None, f"{value} was created"
    else:
        assert s.execute(f"SELECT k FROM {KS}.t WHERE k = %s", (value,)).one() is None, f"row {value} was written"


TARGET_NAMES = ["cassandra", "cassandra_auth", "upstream", "passthrough", "own_open", "own_check",
                "standalone_open", "standalone_check"]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("name", TARGET_NAMES)
def test_every_opcode_in_every_state(targets, backend_sessions, name: str, state: str, version: int) -> None:
    t = targets[name]
    if t.login is None and state in ("AUTHENTICATING", "AUTH_FAILED"):
        pytest.skip("no authentication in this mode")
    prepared = insert_id(t, backend_sessions)
    failures = []
    for r in requests(version, prepared, state == "READY"):
        r = _fill_auth(t, r, version)
        want = expected(t, state, r)
        c = connect(t, version, state)
        try:
            c.send(r.opcode, r.body, stream=42)
            got = c.recv()
            try:
                assert isinstance(got, Reply), got
                assert got.stream == 42, got
                if want.opcode is None:
                    assert got.code != 0x000A, got
                else:
                    assert got.opcode == want.opcode, got
                    assert got.code == want.code, got
                    if want.message is not None:
                        assert got.message == want.message, got
                after = state
                if state == "UNINITIALIZED" and r.name == "STARTUP":
                    after = "AUTHENTICATING" if t.login else "READY"
                    if version >= 5:
                        c.use_segments()
                elif r.name == "AUTH_RESPONSE":
                    after = "READY"
                if want.closed:
                    assert c.recv() == CLOSED
                else:
                    _still_open(c, after, version)
                if state != "READY":
                    _nothing_ran(t, r, backend_sessions)
            except AssertionError as e:
                failures.append(f"{r.name}: {e}")
        finally:
            c.close()
    assert not failures, "\n".join(failures)


def test_wrong_password_then_requests_then_the_right_one(targets, backend_sessions) -> None:
    """A refused login leaves the client where it was: requests are refused, the next
    AUTH_RESPONSE may succeed, and only then do requests run."""
    for name in ("cassandra_auth", "passthrough", "own_check", "standalone_check"):
        t = targets[name]
        assert t.login is not None
        for version in (4, 5):
            c = connect(t, version, "AUTH_FAILED")
            try:
                c.send(Opcode.QUERY, query_body("SELECT role FROM system_auth.roles", version), stream=5)
                r = c.recv()
                assert isinstance(r, Reply) and r.code == 0x000A and r.stream == 5, (name, r)
                c.send(Opcode.AUTH_RESPONSE, auth_body(*t.login, version), stream=6)
                r = c.recv()
                assert isinstance(r, Reply) and r.opcode == Opcode.AUTH_SUCCESS and r.stream == 6, (name, r)
                c.send(Opcode.QUERY, query_body("SELECT release_version FROM system.local", version), stream=7)
                r = c.recv()
                assert isinstance(r, Reply) and r.opcode == Opcode.RESULT and r.stream == 7, (name, r)
            finally:
                c.close()


def test_superuser_tables_stay_out_of_reach_in_sidecar_mode(targets) -> None:
    """The sidecar is logged in to Cassandra as a superuser; a client that is not logged in gets
    an error for system_auth.roles, never its rows, however it asks."""
    t = targets["own_check"]
    for version in (4, 5):
        for state in ("UNINITIALIZED", "AUTHENTICATING", "AUTH_FAILED"):
            for opcode, body in ((Opcode.QUERY, query_body("SELECT * FROM system_auth.roles", version)),
                                 (Opcode.PREPARE, prepare_body("SELECT * FROM system_auth.roles", version))):
                c = connect(t, version, state)
                try:
                    c.send(opcode, body, stream=3)
                    r = c.recv()
                    assert isinstance(r, Reply) and r.opcode == Opcode.ERROR and r.code == 0x000A, (state, r)
                finally:
                    c.close()


def test_startup_pipelined_with_a_query(targets, backend_sessions) -> None:
    """Frames sent behind STARTUP before its answer are read in the state the answer leads to."""
    t = targets["own_check"]
    n = next(_ids)
    c = FrameProbe(t.host, t.port, 4)
    try:
        ddl = query_body(f"CREATE KEYSPACE au_hs_{n} WITH replication = "
                         "{'class': 'SimpleStrategy', 'replication_factor': 1}", 4)
        c.send_raw(_frame(4, 1, Opcode.STARTUP, startup_body(4)) + _frame(4, 2, Opcode.QUERY, ddl))
        r1, r2 = c.recv(), c.recv()
        assert isinstance(r1, Reply) and (r1.stream, r1.opcode) == (1, Opcode.AUTHENTICATE), r1
        assert isinstance(r2, Reply) and (r2.stream, r2.code) == (2, 0x000A), r2
        assert r2.message == "Unexpected message QUERY, expecting SASL_RESPONSE"
    finally:
        c.close()
    _nothing_ran(t, Request("", 0, b"", ("keyspace", f"au_hs_{n}")), backend_sessions)
    t = targets["upstream"]  # Cassandra without authentication: the query runs once READY
    c = FrameProbe(t.host, t.port, 4)
    try:
        c.send_raw(_frame(4, 1, Opcode.STARTUP, startup_body(4))
                   + _frame(4, 2, Opcode.QUERY, query_body("SELECT release_version FROM system.local", 4)))
        r1, r2 = c.recv(), c.recv()
        assert isinstance(r1, Reply) and (r1.stream, r1.opcode) == (1, Opcode.READY), r1
        assert isinstance(r2, Reply) and (r2.stream, r2.opcode) == (2, Opcode.RESULT), r2
    finally:
        c.close()


def _frame(version: int, stream: int, opcode: int, body: bytes) -> bytes:
    return Frame(version, 0, stream, opcode, body).encode()


# -- protocol errors the sidecar finds itself, answered as Cassandra does ------------------------------


def _bad_frames(version: int) -> list[tuple[str, bytes, int, str | None, bool]]:
    """(what, raw frame on stream 7, expected stream, expected words or None for none, closes)."""
    other = 3 if version != 3 else 4
    return [
        ("unknown opcode", Frame(version, 0, 7, 0x11, b"abc").encode(), 7, "Unknown opcode 17", False),
        ("READY sent by a client", Frame(version, 0, 7, 0x02, b"").encode(), 7,
         "Wrong protocol direction (expected RESPONSE, got REQUEST) for opcode 2 (READY)", False),
        ("response bit", Frame(version, 0, 7, 0x05, b"", response=True).encode(), 7,
         "Wrong protocol direction (expected REQUEST, got RESPONSE) for opcode 5 (OPTIONS)", False),
        ("other version", Frame(other, 0, 7, 0x05, b"").encode(), 7,
         f"Invalid message version. Got {other}/v{other} but previous messages on this connection had "
         f"version {version}/v{version}", False),
        ("malformed QUERY", Frame(version, 0, 7, Opcode.QUERY, b"\x00\x00").encode(), 7, None, False),
        ("opcode past 0x7f", Frame(version, 0, 7, 0x91, b"").encode(), 7, None, True),
    ]


SIDECARS = ["upstream", "passthrough", "own_open", "own_check", "standalone_open", "standalone_check"]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("name", SIDECARS)
def test_protocol_errors_on_their_stream_and_the_connection_goes_on(targets, name: str, version: int) -> None:
    t = targets[name]
    for what, raw, stream, words, closes in _bad_frames(version):
        c = connect(t, version, "READY")
        try:
            c.send_envelopes(raw)
            r = c.recv()
            if closes:
                assert r == CLOSED, (what, r)
                continue
            assert isinstance(r, Reply) and r.stream == stream and r.code == 0x000A, (what, r)
            if words is not None:
                assert r.message == words, (what, r)
            _still_open(c, "READY", version)
        finally:
            c.close()


def test_credentials_opcode_and_handshake_errors_before_startup(targets) -> None:
    for name in ("cassandra", "upstream", "own_check", "standalone_open"):
        t = targets[name]
        c = connect(t, 4, "UNINITIALIZED")
        try:
            c.send(0x04, b"\x00\x00", stream=3)  # protocol v1's CREDENTIALS
            r = c.recv()
            assert isinstance(r, Reply) and r.stream == 3, (name, r)
            assert r.message == "Unexpected message CREDENTIALS, expecting STARTUP or OPTIONS", (name, r)
            assert c.recv() == CLOSED
        finally:
            c.close()
        c = connect(t, 4, "UNINITIALIZED")
        try:  # a STARTUP the server cannot honour leaves the connection before STARTUP
            r = c.request(Opcode.STARTUP, startup_body(4, "zstd"), stream=4)
            assert isinstance(r, Reply) and r.stream == 4 and r.code == 0x000A, (name, r)
            assert r.message == "Unknown compression algorithm: zstd"
            r = c.request(Opcode.STARTUP, startup_body(4), stream=5)
            assert isinstance(r, Reply) and r.stream == 5 and r.opcode in (Opcode.READY, Opcode.AUTHENTICATE), r
        finally:
            c.close()


def test_garbage_is_counted_but_its_log_is_bounded(targets) -> None:
    t = targets["upstream"]
    assert t.sidecar is not None
    before = metric(t.sidecar, 'cdp_protocol_errors_total{kind="opcode",side="client"}')
    c = connect(t, 4, "READY")
    try:
        c.send_raw(b"".join(Frame(4, 0, i, 0x33, b"").encode() for i in range(500)))
        for i in range(500):
            r = c.recv()
            assert isinstance(r, Reply) and r.stream == i and r.message == "Unknown opcode 51", r
        _still_open(c, "READY", 4)
    finally:
        c.close()
    after = metric(t.sidecar, 'cdp_protocol_errors_total{kind="opcode",side="client"}')
    assert after - before == 500
    lines = [line for line in t.sidecar.log().splitlines() if "Unknown opcode 51" in line]
    assert 1 <= len(lines) <= 12, len(lines)


# -- secrets ---------------------------------------------------------------------------------------


def test_secrets_from_files_never_in_the_log(targets) -> None:
    for name in ("own_open", "own_check"):
        sc = targets[name].sidecar
        assert sc is not None
        log = sc.log()
        assert "was given on the command line" not in log
        assert "s3cret" not in log and "other:pw" not in log
    assert "admitted without credentials" in targets["own_open"].sidecar.log()  # type: ignore[union-attr]
    assert "admitted without credentials" not in targets["own_check"].sidecar.log()  # type: ignore[union-attr]
    # the password given on the command line is warned about, and still not logged
    log = targets["standalone_check"].sidecar.log()  # type: ignore[union-attr]
    assert "--cassandra-password was given on the command line" in log
    assert "--client-users was given on the command line" in log
    assert not re.search(r"\bunused\b", log)


def test_a_driver_logs_in_with_secrets_from_files(targets) -> None:
    for name, login in (("own_check", APP), ("passthrough", SUPERUSER), ("own_open", None)):
        t = targets[name]
        kw = {"username": login[0], "password": login[1]} if login else {}
        for version in (4, 5):
            cluster, s = session_for(t.host, t.port, version=version, **kw)
            try:
                assert s.execute("SELECT release_version FROM system.local").one() is not None
            finally:
                cluster.shutdown()


def test_admin_token_from_a_file(cassandra, tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    token_file = tmp_path / "token"
    token_file.write_text("file-token-123\n")
    token_file.chmod(0o644)  # readable by others: warned about
    sc = start_sidecar(cassandra, tmp_path, "--admin-token-file", str(token_file))
    try:
        req = urllib.request.Request(f"{sc.admin_url}/status", headers={"Authorization": "Bearer file-token-123"})
        assert urllib.request.urlopen(req, timeout=5).status == 200
        log = sc.log()
        assert "file-token-123" not in log
        assert f"--admin-token-file {token_file} can be read by other users" in log
    finally:
        sc.stop()


def test_cassandra_auth_port_is_the_auth_node() -> None:
    assert CASSANDRA_AUTH_PORT != 9042 or os.environ.get("CDP_CASSANDRA_AUTH_PORT")
