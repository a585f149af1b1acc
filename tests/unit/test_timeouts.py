"""Deadlines of stalled client connections: the pure decision, and what `serve` accepts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.cli import main
from proxy.config import Config, ConfigError, load_config
from proxy.session.timeouts import (
    HANDSHAKE_TIMEOUT,
    IDLE_TIMEOUT,
    PARTIAL_FRAME_TIMEOUT,
    SLACK,
    Timeouts,
    check,
)

T = Timeouts(handshake=10.0, partial_frame=30.0, idle=120.0)


def test_defaults_are_on_and_ordered() -> None:
    cfg = Config()
    # a handshake must outlast the Cassandra connect it includes; idle must outlast several of the
    # drivers' 30 s heartbeats
    assert cfg.connect_timeout < cfg.handshake_timeout < cfg.partial_frame_timeout < cfg.idle_timeout
    assert cfg.idle_timeout >= 4 * 30


def test_handshake_deadline_counts_from_accept() -> None:
    assert check(T, 9.9, accepted=0.0, ready=False, partial_since=0.0, last_frame=9.0) == (None, 10.0)
    assert check(T, 10.0, accepted=0.0, ready=False, partial_since=0.0, last_frame=9.0)[0] == HANDSHAKE_TIMEOUT
    # a client that finished its handshake has no such deadline
    assert check(T, 50.0, accepted=0.0, ready=True, partial_since=0.0, last_frame=49.0) == (None, 80.0)


def test_partial_frame_deadline_counts_from_its_first_bytes() -> None:
    assert check(T, 40.0, accepted=0.0, ready=True, partial_since=20.0, last_frame=20.0) == (None, 50.0)
    reason, _ = check(T, 50.0, accepted=0.0, ready=True, partial_since=20.0, last_frame=20.0)
    assert reason == PARTIAL_FRAME_TIMEOUT


def test_idle_deadline_counts_from_the_last_frame() -> None:
    assert check(T, 100.0, accepted=0.0, ready=True, partial_since=0.0, last_frame=90.0) == (None, 130.0)
    assert check(T, 210.0, accepted=0.0, ready=True, partial_since=0.0, last_frame=90.0)[0] == IDLE_TIMEOUT


def test_early_timer_within_slack_counts_as_due() -> None:
    assert check(T, 10.0 - SLACK / 2, accepted=0.0, ready=False, partial_since=0.0,
                 last_frame=0.0)[0] == HANDSHAKE_TIMEOUT


def test_all_off_never_wakes() -> None:
    off = Timeouts(0.0, 0.0, 0.0)
    assert not off.any
    assert check(off, 1e9, accepted=0.0, ready=False, partial_since=1.0, last_frame=0.0) == (None, None)


@given(
    h=st.sampled_from([0.0, 1.0, 10.0]), p=st.sampled_from([0.0, 2.0, 30.0]), i=st.sampled_from([0.0, 5.0, 120.0]),
    accepted=st.floats(0, 100), since=st.floats(0, 100), last=st.floats(0, 100), dt=st.floats(0, 300),
    ready=st.booleans(), partial=st.booleans(),
)
def test_next_check_is_never_later_than_a_deadline_and_always_ahead(
    h: float, p: float, i: float, accepted: float, since: float, last: float, dt: float, ready: bool, partial: bool
) -> None:
    """Whatever the state, a connection is either closed now or looked at again no later than the
    earliest deadline that could pass, and strictly in the future (no busy loop)."""
    t = Timeouts(h, p, i)
    last = max(last, accepted)
    since = max(since, accepted) if partial else 0.0
    now = max(accepted, last, since) + dt
    reason, at = check(t, now, accepted=accepted, ready=ready, partial_since=since, last_frame=last)
    if reason is not None:
        assert at is None
        return
    if at is None:
        assert not t.handshake or ready
        assert not t.partial_frame and not t.idle
        return
    assert at > now - SLACK
    if t.handshake and not ready:
        assert at <= accepted + h
    if t.partial_frame:
        assert at <= (since or now) + p
    if t.idle:
        assert at <= last + i


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-0.5"])
@pytest.mark.parametrize("name", ["handshake_timeout", "partial_frame_timeout", "idle_timeout"])
def test_bad_timeouts_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(overrides={name: value}, environ={})


def test_zero_turns_a_timeout_off() -> None:
    cfg = load_config(overrides={"idle_timeout": "0", "handshake_timeout": "2.5"}, environ={})
    assert cfg.idle_timeout == 0.0 and cfg.handshake_timeout == 2.5
    assert math.isclose(cfg.partial_frame_timeout, 30.0)


def test_serve_with_a_bad_timeout_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--idle-timeout", "-5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "idle_timeout" in err and "configuration error" in err
    assert main(["serve", "--partial-frame-timeout", "soon"]) == 2
    assert "--partial-frame-timeout" in capsys.readouterr().err
