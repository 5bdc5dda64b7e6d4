"""The event bus: typed subscriptions with an explicit overflow policy.

Each subscription is a bounded mailbox that its consumer drains in batches
(``receive_batch``), so a burst costs one wake-up, not one channel hop per event (PERF-NOTES §2).

Overflow policy, per event:

* events for which the subscription's ``conflate`` function returns a key (market data: the
  symbol) are **conflated**: a newer event replaces a pending one with the same key, in place,
  and the replacement is counted. They never block the publisher; their number is bounded by the
  number of keys.
* every other event (orders, positions, balances, connection states) is **never dropped**: when
  ``capacity`` of them are pending, ``publish`` waits for the consumer, and logs once per stall.

To rule out deadlocks, waiting is one-way: the socket readers and the dispatcher may wait on the
account actors, the actors on the plugin host, and nobody waits on the other direction — the
host uses ``try_publish`` and the actors never wait on the dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import attrs
import structlog
import trio

from engine.model.events import AccountEvent, Event

log = structlog.get_logger(__name__)

ConflationKey = Callable[[Event], Hashable | None]
EventFilter = Callable[[Any], bool]


@attrs.frozen(kw_only=True)
class SubscriptionStatistics:
    """Counters of one subscription, for ``EventBus.statistics()`` and metrics."""

    name: str
    pending: int
    delivered: int
    conflated: int
    publisher_waits: int


@attrs.define(eq=False)
class Subscription:
    """A bounded, batch-draining mailbox of events; created by ``EventBus.subscribe``.

    Owned by one consumer task, which calls ``receive_batch`` in a loop until it raises
    ``trio.EndOfChannel`` (after ``EventBus.close`` and once everything pending was delivered).
    """

    name: str
    accepts: tuple[type[Event], ...]
    where: EventFilter | None = None
    capacity: int = 10_000
    conflate: ConflationKey | None = None
    account: str | None = None
    """Only this account's ``AccountEvent`` s reach the subscription (other events are routed
    by type as usual): routed by a table, so N account actors cost one lookup, not N filters."""
    _pending: list[Event] = attrs.field(factory=list, init=False)
    _slots: dict[Hashable, int] = attrs.field(factory=dict, init=False)
    _unconflatable: int = attrs.field(default=0, init=False)
    _closed: bool = attrs.field(default=False, init=False)
    _readers: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot, init=False)
    _writers: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot, init=False)
    _delivered: int = attrs.field(default=0, init=False)
    _conflated: int = attrs.field(default=0, init=False)
    _publisher_waits: int = attrs.field(default=0, init=False)

    def has_room_for(self, event: Event) -> bool:
        """True if ``put`` would not wait for ``event`` (conflated events always fit)."""
        if self.conflate is not None and self.conflate(event) is not None:
            return True
        return self._unconflatable < self.capacity

    async def put(self, event: Event) -> None:
        """Queue ``event``; waits only when ``capacity`` never-drop events are pending."""
        key = self.conflate(event) if self.conflate is not None else None
        if key is None and self._unconflatable >= self.capacity:
            self._publisher_waits += 1
            log.warning("bus.publisher_waiting", subscription=self.name, pending=self.capacity)
            while self._unconflatable >= self.capacity and not self._closed:
                await self._writers.park()
        self._add(event, key)
        self._readers.unpark_all()

    def _add(self, event: Event, key: Hashable | None) -> None:
        """Queue ``event`` without waiting (the caller checked there is room)."""
        if self._closed:
            return
        if key is not None:
            slot = self._slots.get(key)
            if slot is not None:
                self._pending[slot] = event
                self._conflated += 1
                return
            self._slots[key] = len(self._pending)
        else:
            self._unconflatable += 1
        self._pending.append(event)

    async def receive_batch(self) -> list[Event]:
        """Wait for at least one event and return everything pending, oldest first.

        Raises:
            trio.EndOfChannel: the bus was closed and nothing is left.
        """
        # As trio's channels do: one schedule point either way, not one before parking too.
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._pending:
            batch = self._take()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return batch
        while not self._pending:
            if self._closed:
                raise trio.EndOfChannel
            await self._readers.park()
        return self._take()

    def _take(self) -> list[Event]:
        batch, self._pending = self._pending, []
        self._slots.clear()
        self._unconflatable = 0
        self._delivered += len(batch)
        self._writers.unpark_all()
        return batch

    def close(self) -> None:
        """No more events will come; the consumer drains what is pending, then gets EndOfChannel."""
        self._closed = True
        self._readers.unpark_all()
        self._writers.unpark_all()

    def statistics(self) -> SubscriptionStatistics:
        """Counters of this subscription."""
        return SubscriptionStatistics(
            name=self.name,
            pending=len(self._pending),
            delivered=self._delivered,
            conflated=self._conflated,
            publisher_waits=self._publisher_waits,
        )


@attrs.define(eq=False)
class EventBus:
    """Routes published events to every subscription that accepts them.

    Routing is by event type (``accepts``) plus an optional predicate (``where``), e.g. one
    account's events only. Publishing is done by the actors that own the facts; ``app.py``
    creates the bus and closes it at shutdown.
    """

    _subscriptions: list[Subscription] = attrs.field(factory=list, init=False)
    _routes: dict[type[Event], list[Subscription]] = attrs.field(factory=dict, init=False)
    _account_routes: dict[tuple[type[Event], str], list[Subscription]] = attrs.field(
        factory=dict, init=False
    )
    _published: int = attrs.field(default=0, init=False)

    def subscribe(
        self,
        name: str,
        *,
        accepts: Iterable[type[Event]],
        where: EventFilter | None = None,
        capacity: int = 10_000,
        conflate: ConflationKey | None = None,
        account: str | None = None,
    ) -> Subscription:
        """Create a subscription; subscribe before the events you need can be published."""
        subscription = Subscription(
            name=name,
            accepts=tuple(accepts),
            where=where,
            capacity=capacity,
            conflate=conflate,
            account=account,
        )
        self._subscriptions.append(subscription)
        self._routes.clear()
        self._account_routes.clear()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove and close a subscription."""
        subscription.close()
        self._subscriptions.remove(subscription)
        self._routes.clear()
        self._account_routes.clear()

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscription that wants it (see the overflow policy)."""
        self._published += 1
        for subscription in self._route(event):
            if subscription.where is None or subscription.where(event):
                await subscription.put(event)

    async def try_publish(self, event: Event) -> bool:
        """Deliver ``event`` only if no subscription would make us wait; else deliver nothing.

        For publishers that must never block (the plugin host): all or nothing, so a refused
        event can be handled as a whole (e.g. the order rejected) instead of half-delivered.
        """
        targets = [s for s in self._route(event) if s.where is None or s.where(event)]
        if not all(s.has_room_for(event) for s in targets):
            return False
        self._published += 1
        for subscription in targets:
            await subscription.put(event)  # has room: returns without waiting
        return True

    async def publish_all(self, events: Iterable[Event]) -> None:
        """Publish several events in order."""
        for event in events:
            await self.publish(event)

    def publish_nowait(self, events: Sequence[Event]) -> bool:
        """Deliver ``events`` in order if no subscription would make us wait; else deliver none.

        The whole list is checked first, so the caller can fall back to ``publish_all`` with
        the same list and nothing is delivered twice. Each subscription's consumer is woken
        once for the list (a frame's events cost one wake-up, not one per event).
        """
        plan: list[tuple[Subscription, Event, Hashable | None]] = []
        unconflatable: dict[int, int] = {}
        for event in events:
            for subscription in self._route(event):
                if subscription.where is not None and not subscription.where(event):
                    continue
                conflate = subscription.conflate
                key = conflate(event) if conflate is not None else None
                if key is None:
                    count = unconflatable.get(id(subscription), 0) + 1
                    if subscription._unconflatable + count > subscription.capacity:
                        return False
                    unconflatable[id(subscription)] = count
                plan.append((subscription, event, key))
        woken: set[int] = set()
        for subscription, event, key in plan:
            subscription._add(event, key)
            if id(subscription) not in woken:
                woken.add(id(subscription))
                subscription._readers.unpark_all()
        self._published += len(events)
        return True

    def close(self) -> None:
        """Close every subscription; consumers drain what is pending and stop."""
        for subscription in self._subscriptions:
            subscription.close()

    def statistics(self) -> tuple[SubscriptionStatistics, ...]:
        """Counters of every subscription."""
        return tuple(s.statistics() for s in self._subscriptions)

    def _route(self, event: Event) -> list[Subscription]:
        event_type = type(event)
        if isinstance(event, AccountEvent):
            key = (event_type, event.account_id)
            route = self._account_routes.get(key)
            if route is None:
                route = [
                    s
                    for s in self._by_type(event_type)
                    if s.account is None or s.account == event.account_id
                ]
                self._account_routes[key] = route
            return route
        return self._by_type(event_type)

    def _by_type(self, event_type: type[Event]) -> list[Subscription]:
        route = self._routes.get(event_type)
        if route is None:
            route = [s for s in self._subscriptions if issubclass(event_type, s.accepts)]
            self._routes[event_type] = route
        return route
