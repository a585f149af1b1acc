"""The upstream stream-id allocator: unique ids within bounds, all of them usable again, memory
proportional to the peak in flight."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.session.stream_ids import MAX_STREAMS, StreamIdPool, StreamIdsExhausted

# an operation: None acquires; an int releases the held id at that index (modulo how many are held)
OPS = st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)), max_size=300)


@given(capacity=st.integers(min_value=1, max_value=64), ops=OPS)
def test_never_hands_out_an_id_twice_and_stays_in_bounds(capacity: int, ops: list[int | None]) -> None:
    pool = StreamIdPool(capacity)
    held: list[int] = []
    for op in ops:
        if op is None:
            if len(held) == capacity:
                with pytest.raises(StreamIdsExhausted):
                    pool.acquire()
                continue
            sid = pool.acquire()
            assert 0 <= sid < capacity
            assert sid not in held
            held.append(sid)
        elif held:
            pool.release(held.pop(op % len(held)))
        assert pool.in_use == len(held)
    # everything given back: the whole space is available again, each id exactly once
    for sid in held:
        pool.release(sid)
    assert pool.in_use == 0
    assert sorted(pool.acquire() for _ in range(capacity)) == list(range(capacity))
    with pytest.raises(StreamIdsExhausted):
        pool.acquire()


@given(peak=st.integers(min_value=0, max_value=500), rounds=st.integers(min_value=1, max_value=5))
def test_reuses_released_ids_before_new_ones(peak: int, rounds: int) -> None:
    pool = StreamIdPool()
    for _ in range(rounds):
        ids = [pool.acquire() for _ in range(peak)]
        assert sorted(ids) == list(range(peak))  # never past the peak in flight
        for sid in reversed(ids):
            pool.release(sid)
    assert pool.in_use == 0


def test_fresh_pool_is_small_and_grows_with_the_peak() -> None:
    pool = StreamIdPool()
    assert sys.getsizeof(pool._free) < 100
    ids = [pool.acquire() for _ in range(1000)]
    for sid in ids:
        pool.release(sid)
    assert len(pool._free) == 1000
    assert pool.acquire() == ids[-1]  # LIFO: the id used last comes back first


def test_full_space_of_a_connection() -> None:
    pool = StreamIdPool()
    ids = {pool.acquire() for _ in range(MAX_STREAMS)}
    assert ids == set(range(MAX_STREAMS))
    with pytest.raises(StreamIdsExhausted):
        pool.acquire()
    pool.release(12345)
    assert pool.acquire() == 12345
