"""``ForgottenOrders``: what the book keeps of a done order once it has forgotten the rest.

A done order is forgotten (``AccountBook.forget_done``) so that the book does not grow with every
order of a run, but the venue may still restate it: a live duplicate arriving late, or today's
orders listed again by a snapshot or by the REST order list. Without a trace, such a restatement
would look like a new order and publish its fills a second time. So the book keeps, per forgotten
``clOrdId``, its final ``cumQty``: a restatement at or below it is dropped, and only a true late
fill above it is published.

These traces expire too: the venue restates only *today's* orders (ARIES.md §4.3, §8.5), so a
trace older than ``ttl`` (a day by default) can no longer be needed. They are kept in a few
buckets by age so that expiring them costs nothing per order.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Final

import attrs

__all__ = ["RESTATEMENT_WINDOW", "ForgottenOrders"]

RESTATEMENT_WINDOW: Final = 24 * 3600.0
"""Seconds a forgotten order's trace is kept: longer than the venue's "today" lasts."""
_BUCKETS: Final = 4


@attrs.define(eq=False)
class ForgottenOrders:
    """``clOrdId`` → final ``cumQty`` of forgotten orders, each kept ``ttl`` seconds (at most
    ``ttl`` plus a quarter of it).

    Time is whatever clock the caller passes as ``now`` (the account actor's trio clock).
    """

    ttl: float = RESTATEMENT_WINDOW
    # Oldest bucket first; each with the time its first entry was added.
    _buckets: deque[tuple[float, dict[str, Decimal]]] = attrs.field(factory=deque, init=False)

    def __attrs_post_init__(self) -> None:
        if self.ttl <= 0:
            raise ValueError(f"ttl must be positive, got {self.ttl}")

    def __len__(self) -> int:
        return sum(len(bucket) for _, bucket in self._buckets)

    def __contains__(self, cl_ord_id: str) -> bool:
        return self.cum_qty(cl_ord_id) is not None

    def cum_qty(self, cl_ord_id: str) -> Decimal | None:
        """The filled quantity ``cl_ord_id`` had when it was forgotten, or ``None``."""
        for _, bucket in self._buckets:
            found = bucket.get(cl_ord_id)
            if found is not None:
                return found
        return None

    def add(self, cl_ord_id: str, cum_qty: Decimal, *, now: float) -> None:
        """Remember that ``cl_ord_id`` was forgotten with ``cum_qty`` filled."""
        self.expire(now)
        if not self._buckets or now - self._buckets[-1][0] >= self.ttl / _BUCKETS:
            self._buckets.append((now, {}))
        self._buckets[-1][1][cl_ord_id] = cum_qty

    def discard(self, cl_ord_id: str) -> None:
        """Drop ``cl_ord_id``'s trace (the book knows the order again)."""
        for _, bucket in self._buckets:
            bucket.pop(cl_ord_id, None)

    def expire(self, now: float) -> None:
        """Drop the buckets whose newest entry can be older than ``ttl``."""
        step = self.ttl / _BUCKETS
        while self._buckets and now - self._buckets[0][0] >= self.ttl + step:
            self._buckets.popleft()
