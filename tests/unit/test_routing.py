"""Routing by phase, share and partition: table tests, no sockets."""

from __future__ import annotations

import pytest

from proxy.phases.model import PHASES, TablePhase, partition_bucket
from proxy.routing import Route, effective_phase, route, table_bucket, write_route


@pytest.mark.parametrize(("kind", "phase", "expected"), [
    ("read", "cassandra", Route.CASSANDRA),
    ("read", "dual_write", Route.CASSANDRA),
    ("read", "verify", Route.VERIFY),
    ("read", "dynamo_fallback", Route.FALLBACK),
    ("read", "dynamo", Route.DYNAMO),
    ("write", "cassandra", Route.CASSANDRA),
    ("write", "dual_write", Route.MIRROR),
    ("write", "verify", Route.MIRROR),
    ("write", "dynamo_fallback", Route.SHADOW),
    ("write", "dynamo", Route.DYNAMO),
])
def test_route_per_phase(kind: str, phase: str, expected: Route) -> None:
    assert route(kind, phase) is expected  # type: ignore[arg-type]


def test_share_bucket_is_stable_and_spread() -> None:
    assert partition_bucket(b"user-1") == partition_bucket(b"user-1")
    buckets = [partition_bucket(f"k{i}".encode()) for i in range(20_000)]
    assert all(0 <= b < 100 for b in buckets)
    # a 10% share holds about 10% of partitions
    inside = sum(b < 10 for b in buckets) / len(buckets)
    assert 0.09 < inside < 0.11


@pytest.mark.parametrize(("kind", "phase", "share", "buckets", "expected"), [
    ("read", "dynamo", 100.0, None, "dynamo"),
    ("read", "dynamo_fallback", 10.0, [5.0], "dynamo_fallback"),
    ("read", "dynamo_fallback", 10.0, [50.0], "verify"),
    ("read", "dynamo_fallback", 10.0, [5.0, 50.0], "verify"),  # a read spanning both sides
    ("read", "dynamo_fallback", 10.0, None, "verify"),  # a scan: the previous phase until 100%
    ("read", "dynamo", 0.0, [0.0], "dynamo_fallback"),  # share 0: nobody moved yet
    ("write", "dual_write", 50.0, [10.0], "dual_write"),
    ("write", "dual_write", 50.0, [60.0], "cassandra"),
    ("write", "dual_write", 50.0, [10.0, 60.0], "dual_write"),  # DynamoDB must get the moved ones
    ("write", "dynamo", 50.0, [10.0, 60.0], "dynamo_fallback"),  # Cassandra must get the others
    ("write", "dynamo_fallback", 50.0, [10.0, 60.0], "verify"),  # both write both: Cassandra decides
    ("write", "dynamo", 50.0, None, "dynamo_fallback"),
    ("write", "cassandra", 0.0, [1.0], "cassandra"),
])
def test_effective_phase(kind: str, phase: str, share: float, buckets: list[float] | None,
                         expected: str) -> None:
    assert effective_phase(kind, phase, share, buckets) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("phases", "cassandra_too", "expected"), [
    ([], False, Route.CASSANDRA),
    (["cassandra"], False, Route.CASSANDRA),
    (["dual_write"], False, Route.MIRROR),
    (["verify", "dual_write"], True, Route.MIRROR),
    (["dynamo_fallback"], False, Route.SHADOW),
    (["dual_write", "dynamo_fallback"], False, Route.SHADOW),
    (["dynamo"], False, Route.DYNAMO),
    (["dynamo"], True, Route.SHADOW),  # a batch also writing a Cassandra-only table
    (["dynamo", "dual_write"], False, Route.SHADOW),
])
def test_write_route(phases: list[str], cassandra_too: bool, expected: Route) -> None:
    assert write_route(phases, cassandra_too) is expected


@pytest.mark.parametrize("phase", PHASES[1:])
@pytest.mark.parametrize("share", [1.0, 10.0, 50.0, 99.5])
def test_requests_and_the_phase_store_place_each_partition_alike(phase: str, share: float) -> None:
    """One rollout rule: a one-partition request runs in the phase the store gives its partition."""
    from translators.mapping import table_from_dict

    tm = table_from_dict({"cql": "ks.t", "schema": {"columns": {"id": "text", "v": "int"}, "partition_key": ["id"]}})
    tp = TablePhase(phase, share)
    for i in range(300):
        bucket = table_bucket(tm, {"pk": {"S": f"k{i}"}})
        expected = tp.phase_for_bucket(bucket)
        assert effective_phase("read", phase, share, [bucket]) == expected
        assert effective_phase("write", phase, share, [bucket]) == expected
