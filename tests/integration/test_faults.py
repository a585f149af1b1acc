"""Cassandra restarted under the sidecar: clients see their connections drop, then recover."""

from __future__ import annotations

import time

import pytest

from .drivers import KEYSPACE, ensure_keyspace, session_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_clients_recover_after_cassandra_restart(backends, cassandra, sidecar_factory):
    sc = sidecar_factory(cassandra)
    cluster, session = session_for(sc.host, sc.port, version=4)
    try:
        ensure_keyspace(session)
        session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.restart (k int PRIMARY KEY, v int)")
        session.execute(f"INSERT INTO {KEYSPACE}.restart (k, v) VALUES (1, 1)")
        backends.restart("cassandra")
        deadline = time.monotonic() + 90
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                session.execute(f"INSERT INTO {KEYSPACE}.restart (k, v) VALUES (2, 2)")
                break
            except Exception as e:  # the driver reconnects on its own; we just keep asking
                last = e
                time.sleep(0.5)
        else:
            raise AssertionError(f"no recovery after restart: {last}")
        assert session.execute(f"SELECT v FROM {KEYSPACE}.restart WHERE k = 1").one().v == 1
        assert session.execute(f"SELECT v FROM {KEYSPACE}.restart WHERE k = 2").one().v == 2
        assert sc.proc.poll() is None  # the sidecar itself never went down
    finally:
        cluster.shutdown()
