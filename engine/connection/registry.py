"""Who wants which market data: configured symbols plus every plugin's requests.

``SubscriptionRouter`` consumes ``MarketDataRequested`` events and keeps a supervisor's registry
equal to the pinned (configured) symbols plus the union of what each plugin asked for, so one
plugin giving up a symbol does not take it from another.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import attrs
import trio

from engine.bus import EventBus
from engine.model.events import MarketDataRequested


class Subscribable(Protocol):
    """What the router drives (a ``ConnectionSupervisor``)."""

    def update_subscriptions(
        self, *, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None: ...


@attrs.define(eq=False)
class SubscriptionRouter:
    """Applies plugins' market-data requests to one connection's subscription registry."""

    bus: EventBus
    target: Subscribable
    pinned: frozenset[str] = frozenset()
    _wanted: dict[str, set[str]] = attrs.field(factory=dict, init=False)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Apply requests until the bus closes."""
        subscription = self.bus.subscribe("subscriptions", accepts=(MarketDataRequested,))
        task_status.started()
        while True:
            try:
                batch = await subscription.receive_batch()
            except trio.EndOfChannel:
                return
            for request in batch:
                assert isinstance(request, MarketDataRequested)
                self.apply(request)

    def apply(self, request: MarketDataRequested) -> None:
        """Update one plugin's wishes and send the registry the difference they make."""
        before = self.wanted()
        mine = self._wanted.setdefault(request.strategy, set())
        mine.update(request.subscribe)
        mine.difference_update(request.unsubscribe)
        after = self.wanted()
        if before != after:
            self.target.update_subscriptions(add=after - before, remove=before - after)

    def wanted(self) -> set[str]:
        """Every symbol someone wants now."""
        return set(self.pinned).union(*self._wanted.values())
