"""A token bucket that takes ``now`` as an argument, so it is tested without a clock."""

from __future__ import annotations

import attrs

TIME_TOLERANCE = 1e-9
"""Seconds: a token due within this much of ``now`` counts as available (float rounding)."""


@attrs.define
class TokenBucket:
    """``rate`` requests per second on average, bursts of up to ``burst``.

    Two ways to use it: ``acquire`` takes a token at once, reserving it if the bucket is empty
    (the caller then sleeps the returned delay); ``wait_time`` only looks, and ``take`` takes a
    token that is available now — for a caller that must not spend a token unless it sends.
    """

    rate: float
    burst: float
    _tokens: float = attrs.field(init=False)
    _updated: float | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._tokens = self.burst

    def acquire(self, now: float) -> float:
        """Take one token; return 0 if it was available, else the seconds to wait for it.

        When a wait is returned the token is already taken (reserved): sleep that long, then send.
        """
        self._refill(now)
        self._tokens -= 1
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until a token is available (0 if one is); takes nothing."""
        return self._wait_time(now)

    def take(self, now: float) -> None:
        """Take one token that is available at ``now`` (``wait_time(now)`` is 0).

        Raises:
            RuntimeError: no token is available yet (nothing is taken).
        """
        wait = self._wait_time(now)
        if wait:
            raise RuntimeError(f"no token available for another {wait:.6f} s")
        self._tokens -= 1

    def _wait_time(self, now: float) -> float:
        self._refill(now)
        wait = (1 - self._tokens) / self.rate
        return wait if wait > TIME_TOLERANCE else 0.0

    def _refill(self, now: float) -> None:
        if self._updated is None:
            self._updated = now
        elif now > self._updated:  # a clock that goes back neither mints nor burns tokens
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
