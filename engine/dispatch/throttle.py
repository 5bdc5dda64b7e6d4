"""A token bucket that takes ``now`` as an argument, so it is tested without a clock."""

from __future__ import annotations

import attrs


@attrs.define
class TokenBucket:
    """``rate`` requests per second on average, bursts of up to ``burst``."""

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
        if self._updated is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= 1
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate
