"""Pure policies: the reconnect backoff schedule and the token bucket."""

from __future__ import annotations

import random

import pytest

from engine.dispatch import TokenBucket
from engine.runtime import Backoff


def test_backoff_schedule_without_jitter_is_the_brief() -> None:
    backoff = Backoff(jitter=0)
    rng = random.Random(1)
    assert [backoff.delay(n, rng) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(10_000, rng) == 60


def test_backoff_jitter_stays_within_twenty_percent() -> None:
    backoff = Backoff()
    rng = random.Random(7)
    for attempt in range(10):
        base = min(60.0, 2.0**attempt)
        for _ in range(50):
            assert base <= backoff.delay(attempt, rng) <= base * 1.2


def test_token_bucket_allows_a_burst_then_paces() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.acquire(0.0) for _ in range(3)] == [0, 0, 0]
    assert bucket.acquire(0.0) == pytest.approx(0.1)
    assert bucket.acquire(0.0) == pytest.approx(0.2)
    assert bucket.acquire(1.0) == 0  # refilled (to the burst cap) after a second


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
