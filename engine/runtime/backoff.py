"""The reconnect backoff policy (pure: no clock, no trio).

The brief: start at 1 s, double each attempt, cap at 60 s. Jitter (0-20 % added) and the reset
after 60 s of healthy connection are our INFERRED choices (ARIES.md §2.6).
"""

from __future__ import annotations

import random

import attrs


@attrs.frozen(kw_only=True)
class Backoff:
    """Delay before attempt ``n`` (0-based): ``min(cap, initial × factor**n)`` plus jitter."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.2
    reset_after: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt``; jitter adds up to ``jitter`` × the base."""
        base = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        return base + base * self.jitter * rng.random()
