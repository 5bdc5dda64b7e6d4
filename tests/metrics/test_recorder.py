"""``EventRecorder``: orders by outcome, rejections by source and code, and the lag histogram."""

from __future__ import annotations

from decimal import Decimal

import trio
import trio.testing
from prometheus_client import CollectorRegistry, generate_latest

from engine.bus import EventBus
from engine.metrics import EventRecorder
from engine.metrics.recorder import LagHistogram
from engine.model import (
    ConnectionState,
    ConnectionStateChanged,
    Endpoint,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    Quote,
    Side,
)
from tests.accounts._factories import order
from tests.metrics.helpers import parse, value

NOW = 1_800_000_000_000_000_000
MS = 1_000_000


def updated(status: OrderStatus, previous: OrderStatus | None) -> OrderUpdated:
    return OrderUpdated(
        account_id="ACC-1", order=order(status), previous_status=previous, ts_recv=NOW
    )


def rejected(source: str, code: str) -> OrderRejected:
    return OrderRejected(
        account_id="ACC-1",
        client_order_id="c-1",
        cl_ord_id=None,
        symbol="AAPL",
        code=code,
        reason="no",
        source=source,
    )


def filled() -> OrderFilled:
    return OrderFilled(
        account_id="ACC-1",
        cl_ord_id="CL-1",
        client_order_id="c-1",
        symbol="AAPL",
        side=Side.BUY,
        qty=Decimal(5),
        price=Decimal(100),
        cum_qty=Decimal(5),
        leaves_qty=Decimal(5),
        ts_recv=NOW,
    )


def scrape(recorder: EventRecorder) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(recorder)
    return parse(generate_latest(registry).decode())


def test_orders_are_counted_once_when_they_enter_a_terminal_status() -> None:
    recorder = EventRecorder(EventBus())
    recorder.observe(updated(OrderStatus.NEW, OrderStatus.PENDING_NEW), NOW)
    recorder.observe(updated(OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED), NOW)
    recorder.observe(updated(OrderStatus.FILLED, OrderStatus.FILLED), NOW)  # a repeat report
    recorder.observe(updated(OrderStatus.CANCELED, OrderStatus.PENDING_CANCEL), NOW)
    recorder.observe(updated(OrderStatus.REJECTED, None), NOW)  # first seen already refused
    recorder.observe(filled(), NOW)
    recorder.observe(filled(), NOW)
    samples = scrape(recorder)

    assert value(samples, "aries_orders_total", outcome="filled") == 1
    assert value(samples, "aries_orders_total", outcome="canceled") == 1
    assert value(samples, "aries_orders_total", outcome="rejected") == 1
    assert value(samples, "aries_orders_total", outcome="expired") == 0  # present from the start
    assert value(samples, "aries_orders_total", outcome="replaced") == 0
    assert value(samples, "aries_fills_total") == 2
    assert value(samples, "aries_events_total", type="OrderUpdated") == 5
    assert value(samples, "aries_events_total", type="OrderFilled") == 2


def test_rejections_by_source_and_risk_rejections_by_code() -> None:
    recorder = EventRecorder(EventBus())
    recorder.observe(rejected("risk", "MAX_ORDER_QTY"), NOW)
    recorder.observe(rejected("risk", "MAX_ORDER_QTY"), NOW)
    recorder.observe(rejected("risk", "BUYING_POWER"), NOW)
    recorder.observe(rejected("venue", "VENUE_REJECTED"), NOW)
    recorder.observe(rejected("engine", "TRADING_STATE"), NOW)
    samples = scrape(recorder)

    assert value(samples, "aries_order_rejections_total", source="risk") == 3
    assert value(samples, "aries_order_rejections_total", source="venue") == 1
    assert value(samples, "aries_order_rejections_total", source="engine") == 1
    assert value(samples, "aries_order_rejections_total", source="dispatch") == 0
    assert value(samples, "aries_risk_rejections_total", code="MAX_ORDER_QTY") == 2
    assert value(samples, "aries_risk_rejections_total", code="BUYING_POWER") == 1
    risk_codes = {
        dict(labels)["code"] for name, labels in samples if name == "aries_risk_rejections_total"
    }
    assert risk_codes == {"MAX_ORDER_QTY", "BUYING_POWER"}  # venue/engine codes are not risk


def test_lag_is_receive_to_consumer_for_market_data_and_account_facts_only() -> None:
    recorder = EventRecorder(EventBus())
    recorder.observe(Quote(symbol="AAPL", bid=Decimal(1), ts_recv=NOW - 3 * MS), NOW)
    recorder.observe(updated(OrderStatus.NEW, OrderStatus.PENDING_NEW), NOW + 20 * MS)
    # Engine-made events carry no frame's arrival: not measured.
    recorder.observe(rejected("risk", "MAX_ORDER_QTY"), NOW)
    recorder.observe(
        ConnectionStateChanged(endpoint=Endpoint.MARKET, state=ConnectionState.CONNECTED), NOW
    )
    samples = scrape(recorder)

    def bucket(stream: str, le: str) -> float:
        return value(samples, "aries_event_lag_seconds_bucket", stream=stream, le=le)

    assert value(samples, "aries_event_lag_seconds_count", stream="market") == 1
    assert abs(value(samples, "aries_event_lag_seconds_sum", stream="market") - 0.003) < 1e-9
    assert bucket("market", "0.0025") == 0
    assert bucket("market", "0.005") == 1
    assert bucket("market", "+Inf") == 1
    assert value(samples, "aries_event_lag_seconds_count", stream="account") == 1
    assert bucket("account", "0.01") == 0
    assert bucket("account", "0.025") == 1


def test_a_histogram_bound_is_inclusive_and_a_clock_step_back_counts_as_zero() -> None:
    histogram = LagHistogram(buckets=(0.001, 0.01))
    histogram.observe(0.001)
    histogram.observe(0.0)
    histogram.observe(5.0)
    assert histogram.cumulative() == [("0.001", 2), ("0.01", 2), ("+Inf", 3)]
    recorder = EventRecorder(EventBus())
    recorder.observe(Quote(symbol="AAPL", ts_recv=NOW + 50 * MS), NOW)  # received "before" sent
    samples = scrape(recorder)
    assert value(samples, "aries_event_lag_seconds_sum", stream="market") == 0
    assert value(samples, "aries_event_lag_seconds_bucket", stream="market", le="0.0001") == 1


async def test_the_subscriber_never_holds_market_data_back_and_counts_what_it_receives() -> None:
    bus = EventBus()
    recorder = EventRecorder(bus, clock=lambda: NOW)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        # A burst published without a checkpoint: the recorder cannot run in between, so the
        # quotes conflate in its queue instead of making the publisher wait.
        for bid in range(50):
            await bus.publish(Quote(symbol="AAPL", bid=Decimal(bid), ts_recv=NOW - MS))
        await bus.publish(updated(OrderStatus.FILLED, OrderStatus.NEW))
        await trio.testing.wait_all_tasks_blocked()
        samples = scrape(recorder)
        nursery.cancel_scope.cancel()

    [stats] = [s for s in bus.statistics() if s.name == "metrics"]
    assert stats.publisher_waits == 0
    assert stats.conflated == 49
    assert value(samples, "aries_events_total", type="Quote") == 1
    assert value(samples, "aries_orders_total", outcome="filled") == 1
    assert value(samples, "aries_event_lag_seconds_count", stream="market") == 1


async def test_the_subscriber_stops_when_the_bus_closes() -> None:
    bus = EventBus()
    recorder = EventRecorder(bus)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.run)
            await bus.publish(updated(OrderStatus.EXPIRED, OrderStatus.NEW))
            bus.close()
    # Everything pending was drained before the end of the channel.
    assert recorder.orders["expired"] == 1
