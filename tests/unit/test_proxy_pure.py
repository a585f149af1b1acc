"""Pure parts of the sidecar: configuration, stream ids, and the topology rewrite."""

from __future__ import annotations

import itertools
import uuid

import pytest

from cql_protocol.messages import ColumnSpec, Rows, RowsMetadata
from cql_protocol.types import INET, INT, TEXT, UUID, SetType, deserialize, serialize
from proxy.config import ConfigError, load_config
from proxy.session.stream_ids import StreamIdsExhausted, own_stream_id
from proxy.system_tables.topology import (
    MIN_TOKEN,
    Node,
    peer_filter,
    rewrite_local,
    rewrite_peers,
    ring,
    system_table_of,
)

# -- configuration -------------------------------------------------------------------------------


def test_precedence_cli_over_env_over_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("listen: 0.0.0.0:1000\nmax_connections: 5\nadmin: 127.0.0.1:7000\n")
    cfg = load_config(str(f), {"listen": "127.0.0.1:2000"}, {"CDP_MAX_CONNECTIONS": "7"})
    assert cfg.listen_addr == ("127.0.0.1", 2000)
    assert cfg.max_connections == 7
    assert cfg.admin_addr == ("127.0.0.1", 7000)


def test_unknown_key_in_file_is_an_error(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("listen: 0.0.0.0:1000\nlisten_port: 5\n")
    with pytest.raises(ConfigError, match="unknown option 'listen_port'"):
        load_config(str(f), environ={})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CDP_MAX_CONNECTIONS": "many"}, "expected an integer"),
        ({"CDP_CASSANDRA_TLS": "perhaps"}, "expected a boolean"),
        ({"CDP_LISTEN": "host:port"}, "bad port"),
        ({"CDP_TLS_CERT": "/x.pem"}, "tls_cert and tls_key go together"),
        ({"CDP_CLIENT_USERS": "a:b"}, "needs cassandra_username"),
        ({"CDP_CASSANDRA": " , "}, "at least one Cassandra endpoint"),
    ],
)
def test_bad_values_are_named(env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ=env)


def test_redacted_hides_secrets():
    cfg = load_config(environ={"CDP_ADMIN_TOKEN": "t0k", "CDP_CASSANDRA_USERNAME": "u",
                               "CDP_CASSANDRA_PASSWORD": "pw", "CDP_CLIENT_USERS": "a:b"})
    red = cfg.redacted()
    assert red["admin_token"] == red["cassandra_password"] == red["client_users"] == "***"
    assert red["cassandra_username"] == "u"


def test_endpoint_lists_and_ipv6():
    cfg = load_config(environ={"CDP_CASSANDRA": "10.0.0.1,10.0.0.2:9043,[::1]:9044", "CDP_PEERS": "10.1.0.1"})
    assert cfg.cassandra_endpoints == [("10.0.0.1", 9042), ("10.0.0.2", 9043), ("::1", 9044)]
    assert cfg.peer_endpoints == [("10.1.0.1", 9042)]


# -- stream ids ----------------------------------------------------------------------------------


def test_own_stream_ids_are_free_ones_until_none_is_left():
    held: dict[int, None] = {}
    for _ in range(4):
        held[own_stream_id(held, capacity=4)] = None
    assert sorted(held) == [0, 1, 2, 3]
    with pytest.raises(StreamIdsExhausted):
        own_stream_id(held, capacity=4)
    del held[2]
    assert own_stream_id(held, capacity=4) == 2


# -- topology ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "table"),
    [
        ("SELECT * FROM system.local WHERE key='local'", "local"),
        ("select peer, rpc_address from system.peers", "peers"),
        ('SELECT * FROM "system"."peers_v2"', "peers_v2"),
        ("SELECT * FROM system.peers_v2;", "peers_v2"),
        ("SELECT * FROM system.local_stuff", None),
        ("SELECT * FROM ks.local", None),
        ("INSERT INTO system.local (key) VALUES ('x')", None),
        ("SELECT * FROM system_schema.tables", None),
    ],
)
def test_system_table_detection(query, table):
    assert system_table_of(query) == table


def test_peer_filter():
    assert peer_filter("SELECT * FROM system.peers WHERE peer = '10.0.0.1'") == ("10.0.0.1", False)
    assert peer_filter("SELECT * FROM system.peers WHERE peer = ?") == (None, True)
    assert peer_filter("SELECT * FROM system.peers") == (None, False)


def test_ring_spreads_tokens_evenly_and_agrees_everywhere():
    nodes = [Node("10.0.0.3", 9042), Node("10.0.0.1", 9042), Node("10.0.0.2", 9042)]
    r1 = ring(nodes)
    r2 = ring(list(reversed(nodes)))
    assert r1 == r2
    tokens = sorted(int(t) for t in r1.values())
    assert tokens[0] == MIN_TOKEN
    gaps = {b - a for a, b in itertools.pairwise(tokens)}
    assert len(gaps) == 1 and gaps.pop() == 2**64 // 3


def _meta(table: str, cols: list[tuple[str, object]]) -> RowsMetadata:
    return RowsMetadata([ColumnSpec("system", table, n, t) for n, t in cols])  # type: ignore[arg-type]


def test_rewrite_local_replaces_addresses_and_tokens_only():
    cols = [("key", TEXT), ("rpc_address", INET), ("broadcast_address", INET), ("host_id", UUID),
            ("tokens", SetType(TEXT)), ("data_center", TEXT), ("rpc_port", INT)]
    row = [serialize(TEXT, "local"), serialize(INET, "10.9.9.9"), serialize(INET, "10.9.9.9"),
           serialize(UUID, uuid.uuid4()), serialize(SetType(TEXT), ["1", "2"]), serialize(TEXT, "dc1"),
           serialize(INT, 9042)]
    me = Node("127.0.0.5", 19042)
    out = rewrite_local(Rows(_meta("local", cols), [row]), me, [])
    vals = {n: deserialize(t, v) for (n, t), v in zip(cols, out.rows[0], strict=True)}  # type: ignore[arg-type]
    assert vals["rpc_address"] == vals["broadcast_address"] == "127.0.0.5"
    assert vals["rpc_port"] == 19042
    assert vals["host_id"] == me.host_id
    assert vals["tokens"] == [str(MIN_TOKEN)]
    assert vals["data_center"] == "dc1" and vals["key"] == "local"


def test_rewrite_peers_lists_configured_sidecars_only():
    cols = [("peer", INET), ("native_address", INET), ("native_port", INT), ("data_center", TEXT),
            ("schema_version", UUID), ("tokens", SetType(TEXT))]
    cassandra_peer = [serialize(INET, "10.0.0.7"), None, None, None, None, None]
    me, p1, p2 = Node("10.1.0.1", 9042), Node("10.1.0.2", 9042), Node("10.1.0.3", 9043)
    sv = uuid.uuid4()
    out = rewrite_peers(Rows(_meta("peers_v2", cols), [cassandra_peer]), me, [p1, p2],
                        {"data_center": "dc1", "schema_version": sv})
    got = [{n: (None if v is None else deserialize(t, v)) for (n, t), v in zip(cols, r, strict=True)}  # type: ignore[arg-type]
           for r in out.rows]
    assert [(g["peer"], g["native_port"]) for g in got] == [("10.1.0.2", 9042), ("10.1.0.3", 9043)]
    assert all(g["data_center"] == "dc1" and g["schema_version"] == sv for g in got)
    tokens = ring([me, p1, p2])
    assert [g["tokens"] for g in got] == [[tokens[p1]], [tokens[p2]]]
    only = rewrite_peers(Rows(_meta("peers_v2", cols), []), me, [p1, p2], None, only="10.1.0.3")
    assert len(only.rows) == 1


# -- mapping at start ------------------------------------------------------------------------------

EXAMPLE = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "shop.yaml")


def test_phase_overrides_at_start():
    from proxy.server import load_mapping_or_fail

    m = load_mapping_or_fail(EXAMPLE, "shop.carts=cassandra")
    assert m.table("shop", "carts").phase == "cassandra"
    assert m.table("shop", "cart_items").phase == "dual_write"  # untouched
    # a compressing table can be mirrored
    assert load_mapping_or_fail(EXAMPLE, "shop.orders_by_customer=dual_write").table(
        "shop", "orders_by_customer").large_items == "compress"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ("shop.nope=dual_write", "must be KS.TABLE=PHASE for a table"),
        ("shop.carts", "must be KS.TABLE=PHASE"),
        ("shop.carts=dual_writes", "is not one of cassandra, dual_write"),
    ],
)
def test_bad_phase_overrides_fail_at_start(overrides, message):
    from proxy.server import load_mapping_or_fail

    with pytest.raises(ConfigError, match=message):
        load_mapping_or_fail(EXAMPLE, overrides)
