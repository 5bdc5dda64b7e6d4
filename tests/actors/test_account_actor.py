"""The account actor: trading state, holding orders while reconciling, and never waiting on the
dispatcher (which may itself be waiting to report an outcome to this actor)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import trio
import trio.testing

from engine.accounts.actor import AccountActor, DispatchItem
from engine.accounts.views import AccountViews
from engine.bus import EventBus, Subscription
from engine.model import (
    AccountSnapshotReceived,
    AccountSubscriptionRefused,
    AccountView,
    Balance,
    ConnectionState,
    ConnectionStateChanged,
    Endpoint,
    Event,
    OrderIntent,
    OrderRejected,
    PnlCandleClosed,
    PnlCandleReceived,
    Position,
    RiskVerdict,
    Side,
    SubmitOrder,
    TradingState,
    TradingStateChanged,
    TradingStateRequested,
)
from tests.conftest import make_intent

ACCOUNT = "SIM-001"


def approve_all(intent: OrderIntent, view: AccountView) -> RiskVerdict:
    return RiskVerdict.approve()


def snapshot() -> AccountSnapshotReceived:
    balance = Balance(account_id=ACCOUNT, stock_buying_power=Decimal(1_000_000))
    return AccountSnapshotReceived(
        account_id=ACCOUNT, info=None, balance=balance, positions=(), orders=()
    )


def submit(client_order_id: str) -> SubmitOrder:
    return SubmitOrder(account_id=ACCOUNT, intent=make_intent(client_order_id=client_order_id))


async def collect(subscription: Subscription, count: int) -> list[Event]:
    events: list[Event] = []
    while len(events) < count:
        events += await subscription.receive_batch()
    return events


async def test_orders_are_held_until_the_snapshot_then_released_in_order() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(submit("early-1"))
        await bus.publish(submit("early-2"))
        await trio.testing.wait_all_tasks_blocked()
        assert receive.statistics().current_buffer_used == 0  # held: RECONCILING
        await bus.publish(snapshot())
        sent = [await receive.receive(), await receive.receive()]
        view = views.get(ACCOUNT)
        stats = actor.statistics()
        nursery.cancel_scope.cancel()
    assert (stats.trading_state, stats.held_orders) == (TradingState.ACTIVE, 0)
    assert [getattr(item, "client_order_id", None) for item in sent] == ["early-1", "early-2"]
    assert view is not None
    assert view.trading_state is TradingState.ACTIVE
    assert view.reserved_buying_power == Decimal(2000)  # 2 × 10 × 100, until the venue shows them


async def test_a_full_dispatch_queue_rejects_instead_of_waiting() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](1)  # and nobody draining it
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(snapshot())
        for n in range(3):
            await bus.publish(submit(f"o{n}"))
        events = await collect(rejected, 2)
        view = views.get(ACCOUNT)
        nursery.cancel_scope.cancel()
    assert [(e.client_order_id, e.code) for e in events if isinstance(e, OrderRejected)] == [
        ("o1", "DISPATCH_QUEUE_FULL"),
        ("o2", "DISPATCH_QUEUE_FULL"),
    ]
    assert receive.receive_nowait().client_order_id == "o0"
    assert view is not None
    assert view.reserved_buying_power == Decimal(1000)  # refused orders reserve nothing


async def test_a_lost_accounts_socket_puts_the_account_back_to_reconciling() -> None:
    bus, views = EventBus(), AccountViews()
    send, _receive = trio.open_memory_channel[DispatchItem](10)
    states = bus.subscribe("test", accepts=(TradingStateChanged,))
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(snapshot())
        await bus.publish(
            ConnectionStateChanged(
                endpoint=Endpoint.ACCOUNTS, state=ConnectionState.DISCONNECTED, reason="reset"
            )
        )
        events = await collect(states, 2)
        nursery.cancel_scope.cancel()
    assert [e.state for e in events if isinstance(e, TradingStateChanged)] == [
        TradingState.ACTIVE,
        TradingState.RECONCILING,
    ]


def candle(minute: int, close: str) -> PnlCandleReceived:
    t = datetime(2026, 1, 15, 14, minute, tzinfo=UTC)
    return PnlCandleReceived(
        account_id=ACCOUNT,
        interval="1m",
        time=t,
        open=Decimal(1),
        high=Decimal(close),
        low=Decimal(1),
        close=Decimal(close),
    )


async def test_each_pnl_bucket_closes_once_with_its_final_values() -> None:
    bus, views = EventBus(), AccountViews()
    send, _receive = trio.open_memory_channel[DispatchItem](10)
    closed = bus.subscribe("test", accepts=(PnlCandleClosed,))
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    feed = [
        candle(0, "2"), candle(0, "3"),  # the open bucket, updated
        candle(1, "4"),  # minute 0 closes at 3
        # reconnect: the history is replayed, minute 1 final, then minute 2 passed in the outage
        candle(0, "3"), candle(1, "5"), candle(2, "6"), candle(3, "7"),
    ]  # fmt: skip
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        for event in feed:
            await bus.publish(event)
        events = await collect(closed, 3)
        nursery.cancel_scope.cancel()
    assert [(e.time.minute, e.close) for e in events if isinstance(e, PnlCandleClosed)] == [
        (0, Decimal(3)),
        (1, Decimal(5)),
        (2, Decimal(6)),
    ]


async def test_reducing_lets_only_position_shrinking_orders_through() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    held = Position(account_id=ACCOUNT, symbol="AAPL", quantity=Decimal(50))
    balance = Balance(account_id=ACCOUNT, stock_buying_power=Decimal(1_000_000))
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        snapshot = AccountSnapshotReceived(
            account_id=ACCOUNT, info=None, balance=balance, positions=(held,), orders=()
        )
        await bus.publish(snapshot)
        reducing = TradingStateRequested(
            account_id=ACCOUNT, state=TradingState.REDUCING, reason="daily loss limit"
        )
        await bus.publish(reducing)
        orders = [("buy", Side.BUY, "10"), ("sell", Side.SELL, "50"), ("flip", Side.SELL, "60")]
        for client_order_id, side, qty in orders:
            intent = make_intent(client_order_id=client_order_id, side=side, qty=qty)
            await bus.publish(SubmitOrder(account_id=ACCOUNT, intent=intent))
        events = await collect(rejected, 2)
        sent = receive.receive_nowait()
        nursery.cancel_scope.cancel()
    assert sorted(e.client_order_id or "" for e in events if isinstance(e, OrderRejected)) == [
        "buy",
        "flip",
    ]
    assert isinstance(sent, OrderIntent)
    assert sent.client_order_id == "sell"


async def test_an_operators_decision_survives_reconnects_and_a_failed_socket_stays_halted() -> None:
    bus, views = EventBus(), AccountViews()
    send, _receive = trio.open_memory_channel[DispatchItem](10)
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)

    def socket(state: ConnectionState) -> ConnectionStateChanged:
        return ConnectionStateChanged(endpoint=Endpoint.ACCOUNTS, state=state, reason="test")

    def decide(state: TradingState) -> TradingStateRequested:
        return TradingStateRequested(account_id=ACCOUNT, state=state, reason="operator")

    seen: list[TradingState] = []

    async def step(event: Event) -> None:
        await bus.publish(event)
        await trio.testing.wait_all_tasks_blocked()
        seen.append(actor.trading_state)

    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        for event in (
            snapshot(),  # ACTIVE
            decide(TradingState.HALTED),  # HALTED
            socket(ConnectionState.DISCONNECTED),  # still HALTED
            snapshot(),  # still HALTED
            decide(TradingState.REDUCING),  # REDUCING
            socket(ConnectionState.DISCONNECTED),  # RECONCILING
            snapshot(),  # back to REDUCING, not ACTIVE
            socket(ConnectionState.FAILED),  # HALTED
            decide(TradingState.ACTIVE),  # refused: no order stream
        ):
            await step(event)
        nursery.cancel_scope.cancel()
    S = TradingState
    assert seen == [
        S.ACTIVE, S.HALTED, S.HALTED, S.HALTED, S.REDUCING, S.RECONCILING, S.REDUCING,
        S.HALTED, S.HALTED,
    ]  # fmt: skip


async def test_a_refused_subscription_halts_the_account_and_rejects_what_it_held() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    seen = bus.subscribe("test", accepts=(TradingStateChanged, OrderRejected))
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(submit("held"))  # held: no snapshot yet
        await bus.publish(
            AccountSubscriptionRefused(account_id=ACCOUNT, code="ACCESS_DENIED", reason="not yours")
        )
        await bus.publish(
            TradingStateRequested(account_id=ACCOUNT, state=TradingState.ACTIVE, reason="try")
        )
        await bus.publish(submit("later"))
        events = await collect(seen, 3)
        view = views.get(ACCOUNT)
        nursery.cancel_scope.cancel()
    [halted] = [e for e in events if isinstance(e, TradingStateChanged)]
    assert halted.state is TradingState.HALTED
    assert "ACCESS_DENIED" in halted.reason
    rejected = [(e.client_order_id, e.code) for e in events if isinstance(e, OrderRejected)]
    assert rejected == [("held", "TRADING_STATE"), ("later", "TRADING_STATE")]
    assert receive.statistics().current_buffer_used == 0  # nothing reached the dispatcher
    assert view is not None
    assert view.trading_state is TradingState.HALTED  # the ACTIVE request was refused
