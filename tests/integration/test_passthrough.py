"""A real driver through the sidecar on every protocol version, with and without lz4 and snappy
(v3/v4 only: v5 compresses segments, with lz4 alone)."""

from __future__ import annotations

import uuid

import pytest
from cassandra.connection import locally_supported_compressions

from .drivers import KEYSPACE, ensure_keyspace, session_for

pytestmark = pytest.mark.integration

VERSIONS = [(3, False), (3, "lz4"), (3, "snappy"), (4, False), (4, "lz4"), (4, "snappy"), (5, False), (5, "lz4")]


@pytest.mark.parametrize(("version", "compression"), VERSIONS, ids=[f"v{v}-{c or 'plain'}" for v, c in VERSIONS])
def test_workload_on_each_protocol(sidecar, version, compression):
    cluster, session = session_for(sidecar.host, sidecar.port, version=version, compression=compression)
    try:
        assert cluster.protocol_version == version
        conn = next(iter(cluster.get_connection_holders())).get_connections()[0]
        assert (conn.compressor is not None) == bool(compression)
        if compression:
            assert conn.compressor is locally_supported_compressions[compression][0]
        ensure_keyspace(session)
        session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.kv (k uuid PRIMARY KEY, v text, n int)")
        ins = session.prepare(f"INSERT INTO {KEYSPACE}.kv (k, v, n) VALUES (?, ?, ?)")
        sel = session.prepare(f"SELECT v, n FROM {KEYSPACE}.kv WHERE k = ?")
        keys = [uuid.uuid4() for _ in range(50)]
        big = "x" * 200_000  # spans several v5 segments and compresses well
        for i, k in enumerate(keys):
            session.execute(ins, (k, big if i == 0 else f"value-{i}", i))
        for i, k in enumerate(keys):
            row = session.execute(sel, (k,)).one()
            assert row.v == (big if i == 0 else f"value-{i}")
            assert row.n == i
        # unprepared statements take the QUERY path
        row = session.execute(f"SELECT n FROM {KEYSPACE}.kv WHERE k = %s", (keys[3],)).one()
        assert row.n == 3
    finally:
        cluster.shutdown()


@pytest.mark.parametrize("version", [3, 4, 5])
def test_driver_sees_only_the_sidecar(sidecar, version):
    cluster, session = session_for(sidecar.host, sidecar.port, version=version)
    try:
        hosts = cluster.metadata.all_hosts()
        assert [(h.endpoint.address, h.endpoint.port) for h in hosts] == [(sidecar.host, sidecar.port)]
        local = session.execute("SELECT rpc_address, broadcast_address, tokens FROM system.local").one()
        assert str(local.rpc_address) == sidecar.host
        assert str(local.broadcast_address) == sidecar.host
        assert len(local.tokens) == 1
        assert list(session.execute("SELECT * FROM system.peers")) == []
        assert list(session.execute("SELECT * FROM system.peers_v2")) == []
    finally:
        cluster.shutdown()


def test_peer_sidecars_are_listed(cassandra, sidecar_factory):
    """With peers configured, drivers discover them and balance over sidecars only."""
    from tests.conftest import free_port

    pa, pb = free_port(), free_port()
    a = sidecar_factory(cassandra, "--peers", f"127.0.0.1:{pb}", port=pa)
    b = sidecar_factory(cassandra, "--peers", f"127.0.0.1:{pa}", port=pb)
    cluster, session = session_for(b.host, b.port, version=4)
    try:
        hosts = sorted((h.endpoint.address, h.endpoint.port) for h in cluster.metadata.all_hosts())
        assert hosts == sorted([(b.host, b.port), (a.host, a.port)])
        for _ in range(4):  # round-robin: each sidecar lists the other one
            peers = list(session.execute("SELECT peer, rpc_address, data_center, tokens FROM system.peers"))
            assert len(peers) == 1 and str(peers[0].rpc_address) == "127.0.0.1"
            assert peers[0].data_center == "datacenter1"
            v2 = session.execute("SELECT native_address, native_port FROM system.peers_v2").one()
            assert v2.native_port in (pa, pb)
        assert cluster.metadata.token_map is not None and len(cluster.metadata.token_map.ring) == 2
        # every pooled connection is to a sidecar
        for holder in cluster.get_connection_holders():
            for conn in holder.get_connections():
                assert (conn.endpoint.address, conn.endpoint.port) in hosts
    finally:
        cluster.shutdown()
