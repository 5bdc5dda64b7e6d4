"""The account actor's order gate: replaces, cancels, in-flight orders and the double-spend
race."""

from __future__ import annotations

from decimal import Decimal

import trio
import trio.testing

from engine.accounts.actor import AccountActor, DispatchItem
from engine.accounts.views import AccountViews
from engine.bus import EventBus, Subscription
from engine.hooks.manager import LoadedPlugin, make_plugin_manager
from engine.hooks.risk import RiskGate
from engine.model import (
    AccountSnapshotReceived,
    AccountView,
    Balance,
    CancelFailed,
    CancelOrder,
    CancelRequest,
    ConnectionState,
    ConnectionStateChanged,
    Endpoint,
    Event,
    Order,
    OrderIntent,
    OrderPlaced,
    OrderRejected,
    OrderReplaceAccepted,
    OrderReported,
    OrderStatus,
    OrderType,
    ReplaceFailed,
    ReplaceOrder,
    ReplaceRequest,
    RiskVerdict,
    Side,
    SubmitOrder,
    TradingState,
    TradingStateRequested,
)
from plugins.buying_power import BuyingPowerCheck, BuyingPowerConfig
from plugins.limits import PositionLimit, PositionLimitConfig
from tests.conftest import make_intent

ACCOUNT = "SIM-001"


def snapshot(buying_power: str = "1000000") -> AccountSnapshotReceived:
    balance = Balance(account_id=ACCOUNT, stock_buying_power=Decimal(buying_power))
    return AccountSnapshotReceived(
        account_id=ACCOUNT, info=None, balance=balance, positions=(), orders=()
    )


def working(cl_ord_id: str, client_order_id: str, *, qty: str = "10", price: str = "100") -> Order:
    return Order(
        account_id=ACCOUNT,
        cl_ord_id=cl_ord_id,
        client_order_id=client_order_id,
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(qty),
        price=Decimal(price),
        status=OrderStatus.NEW,
        leaves_qty=Decimal(qty),
    )


class RecordingRisk:
    """Approves everything, and keeps what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[OrderIntent, AccountView]] = []

    def __call__(self, intent: OrderIntent, view: AccountView) -> RiskVerdict:
        self.asked.append((intent, view))
        return RiskVerdict.approve()


async def collect(subscription: Subscription, count: int) -> list[Event]:
    events: list[Event] = []
    while len(events) < count:
        events += await subscription.receive_batch()
    return events


async def live_order(bus: EventBus, receive: trio.MemoryReceiveChannel[DispatchItem]) -> None:
    """Snapshot, submit ``c-1`` (10 @ 100), and let the venue place it as ``CL-1``."""
    await bus.publish(snapshot())
    await bus.publish(SubmitOrder(account_id=ACCOUNT, intent=make_intent(client_order_id="c-1")))
    await receive.receive()
    await bus.publish(OrderPlaced(account_id=ACCOUNT, client_order_id="c-1", cl_ord_id="CL-1"))
    await bus.publish(OrderReported(account_id=ACCOUNT, order=working("CL-1", "c-1")))
    await trio.testing.wait_all_tasks_blocked()


def replace(*, qty: Decimal | None = None, price: Decimal | None = None) -> ReplaceOrder:
    return ReplaceOrder(
        account_id=ACCOUNT, client_order_id="c-1", strategy="s", qty=qty, price=price
    )


async def test_a_replace_is_risk_checked_with_the_old_order_and_sent_with_its_handle() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    risk = RecordingRisk()
    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, risk, send).run)
        await live_order(bus, receive)
        await bus.publish(replace(price=Decimal("101")))
        request = await receive.receive()
        nursery.cancel_scope.cancel()
    assert isinstance(request, ReplaceRequest)
    assert (request.client_order_id, request.cl_ord_id) == ("c-1", "CL-1")
    assert (request.intent.qty, request.intent.price) == (Decimal(10), Decimal(101))
    assert request.intent.replaces is not None
    assert request.intent.replaces.price == Decimal(100)
    checked, _view = risk.asked[-1]
    assert checked.is_replace
    assert checked.additional_cost == Decimal(10)  # 10 × (101 − 100)


async def test_a_second_replace_waits_for_the_first_answer() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, RecordingRisk(), send).run)
        await live_order(bus, receive)
        await bus.publish(replace(price=Decimal("101")))
        await bus.publish(replace(price=Decimal("102")))
        [refused] = await collect(rejected, 1)
        await bus.publish(
            OrderReplaceAccepted(
                account_id=ACCOUNT, client_order_id="c-1", cl_ord_id="CL-2", orig_cl_ord_id="CL-1"
            )
        )
        replaced = working("CL-2", "c-1", price="101")
        await bus.publish(OrderReported(account_id=ACCOUNT, order=replaced))
        await bus.publish(replace(price=Decimal("103")))
        first, second = await receive.receive(), await receive.receive()
        nursery.cancel_scope.cancel()
    assert isinstance(refused, OrderRejected)
    assert (refused.code, refused.replace, refused.source) == ("REPLACE_PENDING", True, "engine")
    assert isinstance(first, ReplaceRequest)
    assert isinstance(second, ReplaceRequest)
    assert second.cl_ord_id == "CL-2"  # the new handle after the accepted replace
    assert second.intent.price == Decimal(103)


async def test_a_refused_replace_is_reported_and_gives_back_its_reservation() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, RecordingRisk(), send).run)
        await live_order(bus, receive)
        before = views.get(ACCOUNT)
        await bus.publish(replace(qty=Decimal(20)))
        await receive.receive()
        await trio.testing.wait_all_tasks_blocked()
        during = views.get(ACCOUNT)
        await bus.publish(
            ReplaceFailed(account_id=ACCOUNT, client_order_id="c-1", code="409", reason="stale")
        )
        [refused] = await collect(rejected, 1)
        after = views.get(ACCOUNT)
        nursery.cancel_scope.cancel()
    assert before is not None
    assert during is not None
    assert after is not None
    assert during.reserved_buying_power - before.reserved_buying_power == Decimal(1000)
    assert after.reserved_buying_power == before.reserved_buying_power
    assert isinstance(refused, OrderRejected)
    assert (refused.code, refused.source, refused.replace) == ("409", "venue", True)
    assert refused.cl_ord_id == "CL-1"


async def test_replacing_an_order_that_is_not_open_is_refused_at_once() -> None:
    bus, views = EventBus(), AccountViews()
    send, _receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, RecordingRisk(), send).run)
        await bus.publish(snapshot())
        await bus.publish(replace(price=Decimal("101")))
        [refused] = await collect(rejected, 1)
        nursery.cancel_scope.cancel()
    assert isinstance(refused, OrderRejected)
    assert (refused.code, refused.replace) == ("NOT_OPEN", True)


async def test_two_orders_in_one_tick_cannot_spend_the_same_buying_power() -> None:
    """Each order fits alone; together they do not. The second is checked against a view that
    already holds the first (reserved, in flight), though the venue has heard of neither."""
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    pm = make_plugin_manager()
    plugin = BuyingPowerCheck(BuyingPowerConfig())
    pm.register(plugin, name="buying-power")
    loaded = LoadedPlugin(name="buying-power", kind="plugin", obj=plugin, accounts=(ACCOUNT,))
    risk = RiskGate(pm, [loaded])

    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, risk, send).run)
        await bus.publish(snapshot(buying_power="1500"))
        await bus.publish_all(
            [
                SubmitOrder(account_id=ACCOUNT, intent=make_intent(client_order_id="a")),
                SubmitOrder(account_id=ACCOUNT, intent=make_intent(client_order_id="b")),
            ]
        )
        [refused] = await collect(rejected, 1)
        sent = receive.receive_nowait()
        view = views.get(ACCOUNT)
        nursery.cancel_scope.cancel()
    assert isinstance(sent, OrderIntent)
    assert sent.client_order_id == "a"
    assert isinstance(refused, OrderRejected)
    assert (refused.client_order_id, refused.code) == ("b", "INSUFFICIENT_BUYING_POWER")
    assert view is not None
    assert list(view.in_flight) == ["a"]
    assert view.working_order_count == 1


async def test_the_view_is_as_of_the_latest_frame_heard_or_event_applied() -> None:
    bus, views = EventBus(), AccountViews()
    send, _receive = trio.open_memory_channel[DispatchItem](10)
    heard: list[int | None] = [None]
    actor = AccountActor(ACCOUNT, bus, views, RecordingRisk(), send, heard_ns=lambda: heard[0])
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        event = snapshot()
        await bus.publish(event)
        await trio.testing.wait_all_tasks_blocked()
        applied = views.get(ACCOUNT)
        heard[0] = event.ts_recv + 5_000_000_000
        await bus.publish(replace(price=Decimal(1)))  # any input refreshes the view
        await trio.testing.wait_all_tasks_blocked()
        later = views.get(ACCOUNT)
        nursery.cancel_scope.cancel()
    assert applied is not None
    assert later is not None
    assert applied.as_of_ns == event.ts_recv
    assert later.as_of_ns == event.ts_recv + 5_000_000_000


async def test_two_short_sales_in_one_tick_cannot_spend_the_same_buying_power() -> None:
    """A sell that opens a short needs buying power: the risk plugin's own price of it is what
    the engine reserves (``aries_order_reservation``), so the second sale sees it as spent."""
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    pm = make_plugin_manager()
    plugin = BuyingPowerCheck(BuyingPowerConfig())
    pm.register(plugin, name="buying-power")
    loaded = LoadedPlugin(name="buying-power", kind="plugin", obj=plugin, accounts=(ACCOUNT,))
    risk = RiskGate(pm, [loaded])
    actor = AccountActor(ACCOUNT, bus, views, risk, send, reservation=risk.reservation)
    sells = [
        make_intent(client_order_id=name, side=Side.SELL, qty="10", price="100") for name in "ab"
    ]
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(snapshot(buying_power="1500"))
        await bus.publish_all([SubmitOrder(account_id=ACCOUNT, intent=i) for i in sells])
        [refused] = await collect(rejected, 1)
        sent = receive.receive_nowait()
        view = views.get(ACCOUNT)
        nursery.cancel_scope.cancel()
    assert isinstance(sent, OrderIntent)
    assert sent.client_order_id == "a"
    assert isinstance(refused, OrderRejected)
    assert (refused.client_order_id, refused.code) == ("b", "INSUFFICIENT_BUYING_POWER")
    assert view is not None
    assert view.reserved_buying_power == Decimal(1000)  # the short sale's cost, not zero


async def test_a_cancel_of_an_order_not_yet_acknowledged_is_sent_once_it_has_an_id() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, RecordingRisk(), send).run)
        await bus.publish(snapshot())
        await bus.publish(
            SubmitOrder(account_id=ACCOUNT, intent=make_intent(client_order_id="c-1"))
        )
        await receive.receive()
        await bus.publish(CancelOrder(account_id=ACCOUNT, client_order_id="c-1", strategy="s"))
        await trio.testing.wait_all_tasks_blocked()
        nothing_yet = receive.statistics().current_buffer_used
        await bus.publish(OrderPlaced(account_id=ACCOUNT, client_order_id="c-1", cl_ord_id="CL-1"))
        await bus.publish(OrderReported(account_id=ACCOUNT, order=working("CL-1", "c-1")))
        cancel = await receive.receive()
        nursery.cancel_scope.cancel()
    assert nothing_yet == 0
    assert isinstance(cancel, CancelRequest)
    assert (cancel.client_order_id, cancel.cl_ord_id) == ("c-1", "CL-1")


async def test_only_the_owner_may_cancel_and_cancels_go_while_halted() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, RecordingRisk(), send).run)
        await live_order(bus, receive)
        await bus.publish(
            TradingStateRequested(account_id=ACCOUNT, state=TradingState.HALTED, reason="test")
        )
        await bus.publish(CancelOrder(account_id=ACCOUNT, client_order_id="c-1", strategy="other"))
        await trio.testing.wait_all_tasks_blocked()
        refused = receive.statistics().current_buffer_used
        await bus.publish(CancelOrder(account_id=ACCOUNT, client_order_id="c-1", strategy="s"))
        cancel = await receive.receive()
        view = views.get(ACCOUNT)
        nursery.cancel_scope.cancel()
    assert refused == 0
    assert isinstance(cancel, CancelRequest)
    assert cancel.cl_ord_id == "CL-1"
    assert view is not None
    assert view.trading_state is TradingState.HALTED


async def test_a_refused_cancel_is_told_to_the_owner_and_the_order_stands() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, RecordingRisk(), send).run)
        await live_order(bus, receive)
        await bus.publish(CancelOrder(account_id=ACCOUNT, client_order_id="c-1", strategy="s"))
        await receive.receive()
        await bus.publish(
            CancelFailed(
                account_id=ACCOUNT,
                client_order_id="c-1",
                code="ORDER_NOT_CANCELABLE",
                reason="409: too late to cancel",
            )
        )
        [refusal] = await collect(rejected, 1)
        view = views.get(ACCOUNT)
        nursery.cancel_scope.cancel()
    assert isinstance(refusal, OrderRejected)
    assert (refusal.cancel, refusal.replace, refusal.source) == (True, False, "venue")
    assert (refusal.client_order_id, refusal.cl_ord_id, refusal.strategy, refusal.code) == (
        "c-1",
        "CL-1",
        "s",
        "ORDER_NOT_CANCELABLE",
    )
    assert view is not None
    assert set(view.open_orders) == {"CL-1"}


async def test_orders_held_while_reconciling_are_rejected_when_the_socket_fails() -> None:
    bus, views = EventBus(), AccountViews()
    send, _receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, RecordingRisk(), send).run)
        await bus.publish(SubmitOrder(account_id=ACCOUNT, intent=make_intent(client_order_id="h")))
        await bus.publish(
            ConnectionStateChanged(
                endpoint=Endpoint.ACCOUNTS, state=ConnectionState.FAILED, reason="gave up"
            )
        )
        [refused] = await collect(rejected, 1)
        nursery.cancel_scope.cancel()
    assert isinstance(refused, OrderRejected)
    assert (refused.client_order_id, refused.code) == ("h", "TRADING_STATE")
    assert "gave up" in refused.reason


class OrderList:
    """The venue's order list, as the test sets it; counts the lookups."""

    def __init__(self) -> None:
        self.orders: tuple[Order, ...] = ()
        self.calls = 0

    async def list_orders(self, account_id: str) -> tuple[Order, ...]:
        self.calls += 1
        return self.orders


async def run_unknown_replace(
    listed: tuple[Order, ...], *, more_rejections: int = 0
) -> tuple[list[Event | DispatchItem], OrderList]:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    lists = OrderList()
    actor = AccountActor(ACCOUNT, bus, views, RecordingRisk(), send, order_lists=lists)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await live_order(bus, receive)
        await bus.publish(replace(price=Decimal("101")))
        await receive.receive()
        await bus.publish(
            ReplaceFailed(
                account_id=ACCOUNT,
                client_order_id="c-1",
                code="TIMEOUT",
                reason="no answer",
                outcome_unknown=True,
            )
        )
        await bus.publish(replace(price=Decimal("102")))  # refused: the first is unsettled
        events: list[Event | DispatchItem] = [*await collect(rejected, 1)]
        lists.orders = listed
        await trio.sleep(6)  # past the grace: the order list is read
        events += await collect(rejected, more_rejections)
        await bus.publish(replace(price=Decimal("103")))  # settled: this one may go
        sent = await receive.receive()
        nursery.cancel_scope.cancel()
    return [*events, sent], lists


async def test_an_unknown_replace_outcome_applied_at_the_venue_is_settled_by_the_order_list(
    autojump_clock: trio.testing.MockClock,
) -> None:
    replaced = working("CL-2", "c-1", price="101")
    events, lists = await run_unknown_replace((replaced,))
    refused, sent = events[0], events[-1]
    assert isinstance(refused, OrderRejected)
    assert refused.code == "REPLACE_PENDING"
    assert lists.calls == 1
    assert isinstance(sent, ReplaceRequest)
    assert sent.cl_ord_id == "CL-2"  # the venue had applied it: the new handle


async def test_an_unknown_replace_outcome_not_at_the_venue_is_reported_not_applied(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events, lists = await run_unknown_replace((working("CL-1", "c-1"),), more_rejections=1)
    not_applied, sent = events[1], events[-1]
    assert isinstance(not_applied, OrderRejected)
    assert (not_applied.code, not_applied.replace) == ("REPLACE_NOT_APPLIED", True)
    assert isinstance(sent, ReplaceRequest)
    assert sent.cl_ord_id == "CL-1"
    assert lists.calls == 1


async def test_an_unanswered_replace_that_grows_an_order_counts_against_the_limits() -> None:
    """Buy 10 working, replaced to 100 (unanswered), then a new buy of 90: with a position limit
    of 100 the new buy must be refused, since the larger terms may be live."""
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    pm = make_plugin_manager()
    plugin = PositionLimit(PositionLimitConfig(max_position=Decimal(100)))
    pm.register(plugin, name="position")
    risk = RiskGate(
        pm, [LoadedPlugin(name="position", kind="plugin", obj=plugin, accounts=(ACCOUNT,))]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(AccountActor(ACCOUNT, bus, views, risk, send).run)
        await live_order(bus, receive)
        await bus.publish(replace(qty=Decimal(100)))
        assert isinstance(await receive.receive(), ReplaceRequest)
        intent = make_intent(client_order_id="c-2", qty="90")
        await bus.publish(SubmitOrder(account_id=ACCOUNT, intent=intent))
        [refused] = await collect(rejected, 1)
        nursery.cancel_scope.cancel()
    assert isinstance(refused, OrderRejected)
    assert (refused.client_order_id, refused.code) == ("c-2", "MAX_POSITION")
