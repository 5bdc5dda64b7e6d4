"""TokenBucket's non-reserving API: ``wait_time`` looks, ``take`` spends an available token."""

from __future__ import annotations

import pytest

from engine.dispatch import TokenBucket


def test_wait_time_takes_nothing() -> None:
    bucket = TokenBucket(rate=10, burst=2)
    assert [bucket.wait_time(0.0) for _ in range(5)] == [0, 0, 0, 0, 0]
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.wait_time(0.0) == pytest.approx(0.1)
    assert bucket.wait_time(0.05) == pytest.approx(0.05)  # half a token refilled
    assert bucket.wait_time(0.1) == 0


def test_take_refuses_a_token_that_is_not_there_and_takes_nothing() -> None:
    bucket = TokenBucket(rate=4, burst=1)
    bucket.take(0.0)
    with pytest.raises(RuntimeError, match="no token"):
        bucket.take(0.1)
    assert bucket.wait_time(0.1) == pytest.approx(0.15)  # the refused take spent nothing
    bucket.take(0.25)
    assert bucket.wait_time(0.25) == pytest.approx(0.25)


def test_refill_is_capped_at_the_burst() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    bucket.take(0.0)
    for _ in range(3):  # an hour idle refills only up to the burst
        bucket.take(3600.0)
    assert bucket.wait_time(3600.0) == pytest.approx(0.1)


def test_reservations_by_acquire_are_seen_by_wait_time() -> None:
    bucket = TokenBucket(rate=10, burst=1)
    assert bucket.acquire(0.0) == 0
    assert bucket.acquire(0.0) == pytest.approx(0.1)  # reserved: due at 0.1
    assert bucket.wait_time(0.0) == pytest.approx(0.2)


def test_sleeping_exactly_the_wait_always_finds_the_token() -> None:
    """Float rounding must not leave a token a hair short (which would spin the dispatcher)."""
    bucket = TokenBucket(rate=3, burst=1)
    now = 123_456.789  # trio's clock starts at a large random offset
    for _ in range(3000):
        now += bucket.wait_time(now)
        bucket.take(now)  # raises if the token is not there yet
    assert now == pytest.approx(123_456.789 + 2999 / 3)
