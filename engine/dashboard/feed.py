"""The dashboard's own bus subscription: the last fills and rejections, for display only.

The bus never drops an order event: a full subscription makes its publisher wait (the account
actors publish fills and rejections). A display must not do that to them, so this subscription
is **all conflated**: every event gets a conflation key from a ring of ``FEED_SLOTS`` slots, so
``publish`` never waits on it and at most ``FEED_SLOTS`` events are ever pending. If more than
that arrive between two drains (the dashboard task wakes on each event, so only a burst while
the loop is busy can do it), the oldest pending ones are overwritten: the display misses them,
counts them (``dropped``), and the engine, the journal and the metrics, which have their own
never-drop subscriptions, lose nothing.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Hashable

import trio

from engine.bus import EventBus
from engine.model.events import Event, OrderFilled, OrderRejected

FEED_SLOTS = 64
"""At most this many fills and rejections pending for the display between two drains."""


class ActivityFeed:
    """Keeps the last ``keep`` fills and the last ``keep`` rejections (oldest first).

    Subscribes on construction, so create it before the events it should show can be
    published; ``run`` drains the subscription until the bus closes, then unsubscribes.
    """

    def __init__(self, bus: EventBus, *, keep: int = 10) -> None:
        self._bus = bus
        self._sequence = itertools.count()
        self.fills: deque[OrderFilled] = deque(maxlen=keep)
        self.rejections: deque[OrderRejected] = deque(maxlen=keep)
        self.fills_total = 0
        """Fills received (not counting any dropped)."""
        self.rejections_total = 0
        """Rejections received (not counting any dropped)."""
        self.subscription = bus.subscribe(
            "dashboard",
            accepts=(OrderFilled, OrderRejected),
            capacity=FEED_SLOTS,
            conflate=self._slot,
        )
        self._subscribed = True

    @property
    def dropped(self) -> int:
        """Events overwritten before the display read them (see the module docstring)."""
        return self.subscription.statistics().conflated

    async def run(self) -> None:
        """Drain the subscription until the bus closes (or this task is cancelled)."""
        try:
            while True:
                try:
                    batch = await self.subscription.receive_batch()
                except trio.EndOfChannel:
                    return
                # Slots are reused round the ring: restore arrival order after a wrap.
                batch.sort(key=lambda event: event.ts_recv)
                for event in batch:
                    self.add(event)
        finally:
            self.close()

    def add(self, event: Event) -> None:
        """Record one event (``run`` calls it; tests may feed events directly)."""
        if isinstance(event, OrderFilled):
            self.fills.append(event)
            self.fills_total += 1
        elif isinstance(event, OrderRejected):
            self.rejections.append(event)
            self.rejections_total += 1

    def close(self) -> None:
        """Leave the bus (idempotent)."""
        if self._subscribed:
            self._subscribed = False
            self._bus.unsubscribe(self.subscription)

    def _slot(self, _event: Event) -> Hashable:
        return next(self._sequence) % FEED_SLOTS
