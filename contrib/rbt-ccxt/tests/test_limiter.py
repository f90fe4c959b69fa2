"""The per-venue limiter's arithmetic, on an injected clock (no network)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rbt_ccxt.limiter import VenueRateLimiter, limiter_for, retry_after_seconds

from rbt.kernel.errors import RateLimitedError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_retry_after_blocks_the_whole_scope():
    clock = Clock()
    limiter = VenueRateLimiter("v", clock=clock)
    assert limiter.delay(1) == 0
    assert limiter.limited({"Retry-After": "7"}) == 7
    assert limiter.delay(1) == pytest.approx(7)
    clock.now += 7
    assert limiter.delay(1) == 0
    limiter.limited({"retry-after": "3"})
    with pytest.raises(RateLimitedError, match="backing off"):
        limiter.acquire(1, max_wait=0.0)


def test_the_breaker_trips_after_consecutive_limits_and_resets():
    limiter = VenueRateLimiter("v", clock=Clock(), max_consecutive=3)
    for _ in range(2):
        limiter.limited({})
        limiter.check()
    limiter.limited({})
    with pytest.raises(RateLimitedError, match="3 rate-limit answers in a row"):
        limiter.check()
    limiter.reset()
    limiter.check()


def test_a_normal_answer_clears_the_streak():
    limiter = VenueRateLimiter("v", clock=Clock(), max_consecutive=2)
    limiter.limited({})
    limiter.observe({"X-MBX-USED-WEIGHT-1M": "10"})
    limiter.limited({})
    limiter.check()  # not two in a row


@given(weights=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=60))
def test_the_window_never_spends_more_than_the_budget(weights):
    clock = Clock()
    limiter = VenueRateLimiter("v", limit=100, window_s=10, headroom=1.0, clock=clock)
    spent: list[tuple[float, int]] = []
    for w in weights:
        wait = limiter.delay(w)
        clock.now += wait
        limiter._record(w)
        spent.append((clock.now, w))
        in_window = sum(x for t, x in spent if t > clock.now - 10)
        assert in_window <= 100 or len([1 for t, _ in spent if t > clock.now - 10]) == 1


def test_the_venue_count_is_adopted_when_higher():
    clock = Clock()
    limiter = VenueRateLimiter("v", limit=100, window_s=60, headroom=1.0, clock=clock)
    limiter.observe({"x-mbx-used-weight-1m": "95"})
    assert limiter.delay(10) > 0


def test_one_limiter_per_scope_and_header_parsing():
    assert limiter_for("scope-a") is limiter_for("scope-a")
    assert limiter_for("scope-a") is not limiter_for("scope-b")
    assert retry_after_seconds({"Retry-After": "x"}, default=2) == 2
    assert retry_after_seconds(None) == 1.0
