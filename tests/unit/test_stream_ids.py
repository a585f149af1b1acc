"""Stream ids of the sidecar's own requests on a Cassandra connection: never one a request in
flight holds (the client's own ids pass through unchanged), from the top of the space down."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.session.stream_ids import MAX_STREAMS, StreamIdsExhausted, own_stream_id


@given(client=st.sets(st.integers(min_value=0, max_value=63)), own=st.sets(st.integers(min_value=0, max_value=63)),
       capacity=st.integers(min_value=1, max_value=64))
def test_a_free_id_is_in_no_map_of_requests_in_flight(client: set[int], own: set[int], capacity: int) -> None:
    in_use = {i for i in client | own if i < capacity}
    if len(in_use) == capacity:
        with pytest.raises(StreamIdsExhausted):
            own_stream_id(client, own, capacity=capacity)
        return
    sid = own_stream_id(client, own, capacity=capacity)
    assert 0 <= sid < capacity
    assert sid not in client and sid not in own
    assert sid == max(set(range(capacity)) - in_use)  # the highest free one: clear of the drivers' low ids


def test_own_requests_stay_at_the_top_while_clients_use_low_ids() -> None:
    client = dict.fromkeys(range(2000))  # a driver numbering its streams from 0
    own: dict[int, None] = {}
    for _ in range(10):
        own[own_stream_id(client, own)] = None
    assert sorted(own) == list(range(MAX_STREAMS - 10, MAX_STREAMS))
    del own[MAX_STREAMS - 1]
    assert own_stream_id(client, own) == MAX_STREAMS - 1  # a released id is free again at once


def test_full_space_of_a_connection() -> None:
    held = dict.fromkeys(range(MAX_STREAMS))
    with pytest.raises(StreamIdsExhausted):
        own_stream_id(held)
    del held[12345]
    assert own_stream_id(held) == 12345
