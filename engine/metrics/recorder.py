"""``EventRecorder``: the metrics that exist only as bus events.

One bus subscription (everything; market data conflated per type and symbol, like the plugin
host's, so it can never hold a socket back) feeds plain counts, exported at scrape time (the
recorder is a collector of the run's registry):

* ``aries_events_total{type}``: events received, by class. Under load, market data may be
  conflated before this subscriber sees it, so for those types this is a lower bound
  (``aries_bus_conflated_events_total{subscription="metrics"}`` counts what was merged).
* ``aries_orders_total{outcome}``: orders entering a terminal status (``filled``, ``canceled``,
  ``rejected``, ``expired``, ``replaced``) as the account actor reports them (``OrderUpdated``).
* ``aries_fills_total``: executions (``OrderFilled``; a partial fill counts once).
* ``aries_order_rejections_total{source}``: ``OrderRejected`` by who refused (``risk``,
  ``engine``, ``dispatch``, ``venue``); ``aries_risk_rejections_total{code}`` the risk ones by
  the plugin's reason code.
* ``aries_event_lag_seconds{stream}``: receive → bus consumer: the wall-clock time from the
  frame's arrival (``ts_recv``) to this subscriber's receiving the event, for market data
  (``stream="market"``) and account facts derived from venue reports (``stream="account"``).
  The plugin host drains its own subscription the same way, so this approximates what a
  strategy sees; it does not include the hook calls themselves.
* ``aries_strategy_lag_seconds{stream}``: receive → strategy: the same, measured by the plugin
  host when it takes a batch to deliver to the hooks (``observe_delivery``, wired as the host's
  ``on_batch``).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence

import attrs
import trio
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric

from engine.bus import EventBus
from engine.model._time import now_ns
from engine.model.enums import TERMINAL_STATUSES
from engine.model.events import (
    AccountInfoChanged,
    BalanceChanged,
    Event,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
    PositionChanged,
)
from engine.model.market import Quote, Trade
from engine.model.streams import BookUpdated, ChartQuote, ChartTrade, GreeksUpdated

__all__ = ["LAG_BUCKETS", "REJECTION_SOURCES", "EventRecorder", "LagHistogram"]

SUBSCRIPTION = "metrics"
CAPACITY = 100_000
"""Never-drop events the subscription may hold before a publisher waits (as the journal's)."""

LAG_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the lag histogram's buckets; ``+Inf`` is added."""
REJECTION_SOURCES = ("risk", "engine", "dispatch", "venue")
OUTCOMES = tuple(sorted(status.lower() for status in TERMINAL_STATUSES))
STREAMS = ("market", "account")

_MARKET = (Quote, Trade, BookUpdated, GreeksUpdated, ChartQuote, ChartTrade)
# Facts the account actor derives from a venue report; they carry the report's ts_recv.
_ACCOUNT = (OrderUpdated, OrderFilled, PositionChanged, BalanceChanged, AccountInfoChanged)


def _conflation_key(event: Event) -> Hashable | None:
    if isinstance(event, _MARKET):
        return (type(event), event.symbol)
    return None


@attrs.define(eq=False)
class LagHistogram:
    """Counts per bucket (not cumulative; the last one is ``+Inf``), the sum and the count."""

    buckets: tuple[float, ...] = LAG_BUCKETS
    counts: list[int] = attrs.field(init=False)
    total: float = attrs.field(default=0.0, init=False)
    count: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        """Record one value (``le`` buckets: a value equal to a bound falls in that bucket)."""
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` pairs as the exposition format wants them."""
        pairs: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.buckets, math.inf), self.counts, strict=True):
            running += count
            pairs.append(("+Inf" if math.isinf(bound) else repr(float(bound)), running))
        return pairs


@attrs.define(eq=False)
class EventRecorder:
    """The bus-subscriber half of the metrics (see the module docstring); also the collector
    that exports what it counted."""

    bus: EventBus
    clock: Callable[[], int] = now_ns
    events: Counter[str] = attrs.field(factory=Counter, init=False)
    orders: Counter[str] = attrs.field(factory=Counter, init=False)
    fills: int = attrs.field(default=0, init=False)
    rejections: Counter[str] = attrs.field(factory=Counter, init=False)
    risk_rejections: Counter[str] = attrs.field(factory=Counter, init=False)
    lag: dict[str, LagHistogram] = attrs.field(init=False)
    delivery_lag: dict[str, LagHistogram] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.lag = {stream: LagHistogram() for stream in STREAMS}
        self.delivery_lag = {stream: LagHistogram() for stream in STREAMS}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Subscribe, report ``started()``, then count until the bus closes."""
        subscription = self.bus.subscribe(
            SUBSCRIPTION, accepts=(Event,), conflate=_conflation_key, capacity=CAPACITY
        )
        task_status.started()
        while True:
            try:
                batch = await subscription.receive_batch()
            except trio.EndOfChannel:
                return
            now = self.clock()  # once per batch: every event in it arrived at this instant
            for event in batch:
                self.observe(event, now)

    def observe(self, event: Event, received_ns: int) -> None:
        """Count ``event``, received by the consumer at ``received_ns`` (epoch ns)."""
        self.events[type(event).__name__] += 1
        if isinstance(event, _MARKET):
            self._lag("market", event, received_ns)
            return
        if isinstance(event, _ACCOUNT):
            self._lag("account", event, received_ns)
        if isinstance(event, OrderUpdated):
            status = event.order.status
            if status.is_terminal and event.previous_status is not status:
                self.orders[status.lower()] += 1
        elif isinstance(event, OrderFilled):
            self.fills += 1
        elif isinstance(event, OrderRejected):
            self.rejections[event.source] += 1
            if event.source == "risk":
                self.risk_rejections[event.code] += 1

    def observe_delivery(self, batch: Sequence[Event], delivered_ns: int) -> None:
        """Receive → strategy: called by the plugin host with each batch it delivers."""
        for event in batch:
            stream = "market" if isinstance(event, _MARKET) else "account"
            if stream == "market" or isinstance(event, _ACCOUNT):
                lag = max(0, delivered_ns - event.ts_recv) / 1e9
                self.delivery_lag[stream].observe(lag)

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape (known label values are always present, at 0)."""
        events = CounterMetricFamily(
            "aries_events", "Bus events received, by type.", labels=["type"]
        )
        for name, count in sorted(self.events.items()):
            events.add_metric([name], count)
        yield events
        orders = CounterMetricFamily(
            "aries_orders", "Orders that reached a terminal status, by status.", labels=["outcome"]
        )
        for outcome in sorted({*OUTCOMES, *self.orders}):
            orders.add_metric([outcome], self.orders[outcome])
        yield orders
        yield CounterMetricFamily("aries_fills", "Executions (partial fills included).", self.fills)
        rejections = CounterMetricFamily(
            "aries_order_rejections",
            "Orders (or replaces) refused, by who refused them.",
            labels=["source"],
        )
        for source in sorted({*REJECTION_SOURCES, *self.rejections}):
            rejections.add_metric([source], self.rejections[source])
        yield rejections
        by_code = CounterMetricFamily(
            "aries_risk_rejections",
            "Orders (or replaces) refused by a risk plugin, by its reason code.",
            labels=["code"],
        )
        for code, count in sorted(self.risk_rejections.items()):
            by_code.add_metric([code], count)
        yield by_code
        lag = HistogramMetricFamily(
            "aries_event_lag_seconds",
            "Receive → bus consumer: from the frame's arrival to the metrics subscriber.",
            labels=["stream"],
        )
        for stream, histogram in self.lag.items():
            lag.add_metric([stream], histogram.cumulative(), histogram.total)
        yield lag
        to_strategy = HistogramMetricFamily(
            "aries_strategy_lag_seconds",
            "Receive → strategy: from the frame's arrival to the plugin host's delivery.",
            labels=["stream"],
        )
        for stream, histogram in self.delivery_lag.items():
            to_strategy.add_metric([stream], histogram.cumulative(), histogram.total)
        yield to_strategy

    def _lag(self, stream: str, event: Event, received_ns: int) -> None:
        self.lag[stream].observe(max(0, received_ns - event.ts_recv) / 1e9)
