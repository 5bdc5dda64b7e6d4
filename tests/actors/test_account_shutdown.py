"""The account actor at shutdown: ``CancelAllOrders`` cancels what this engine placed (also what
is still on its way), leaves other orders alone, halts the account and rejects held orders;
``wait_settled`` waits for the command and for the venue's answers."""

from __future__ import annotations

from decimal import Decimal

import attrs
import trio
import trio.testing
from structlog.testing import capture_logs

from engine.accounts.actor import AccountActor, DispatchItem, ShutdownProgress
from engine.accounts.views import AccountViews
from engine.bus import EventBus, Subscription
from engine.model import (
    AccountSnapshotReceived,
    AccountView,
    Balance,
    CancelFailed,
    CancelRequest,
    Event,
    Order,
    OrderIntent,
    OrderPlaced,
    OrderRejected,
    OrderReported,
    OrderStatus,
    OrderType,
    RiskVerdict,
    Side,
    SubmitOrder,
    TradingState,
    TradingStateChanged,
    TradingStateRequested,
)
from engine.model.events import CancelAllOrders
from tests.conftest import make_intent

ACCOUNT = "SIM-001"
SHUTDOWN = CancelAllOrders(account_id=ACCOUNT, reason="shutdown")


def approve_all(intent: OrderIntent, view: AccountView) -> RiskVerdict:
    return RiskVerdict.approve()


def order(cl_ord_id: str, client_order_id: str | None, status: OrderStatus) -> Order:
    return Order(
        account_id=ACCOUNT,
        cl_ord_id=cl_ord_id,
        client_order_id=client_order_id,
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(10),
        price=Decimal(100),
        status=status,
        leaves_qty=Decimal(0) if status.is_terminal else Decimal(10),
    )


def snapshot(*orders: Order) -> AccountSnapshotReceived:
    balance = Balance(account_id=ACCOUNT, stock_buying_power=Decimal(1_000_000))
    return AccountSnapshotReceived(
        account_id=ACCOUNT, info=None, balance=balance, positions=(), orders=orders
    )


def submit(client_order_id: str) -> SubmitOrder:
    return SubmitOrder(account_id=ACCOUNT, intent=make_intent(client_order_id=client_order_id))


def report(cl_ord_id: str, client_order_id: str | None, status: OrderStatus) -> OrderReported:
    return OrderReported(account_id=ACCOUNT, order=order(cl_ord_id, client_order_id, status))


def pending(receive: trio.MemoryReceiveChannel[DispatchItem]) -> list[DispatchItem]:
    """Everything the actor handed the dispatcher and nobody took yet."""
    items: list[DispatchItem] = []
    while True:
        try:
            items.append(receive.receive_nowait())
        except trio.WouldBlock:
            return items


async def placed(
    bus: EventBus, receive: trio.MemoryReceiveChannel[DispatchItem], client_order_id: str
) -> str:
    """Submit ``client_order_id`` and let the venue name and report it ``NEW``; its clOrdId."""
    cl_ord_id = f"CL-{client_order_id}"
    await bus.publish(submit(client_order_id))
    intent = await receive.receive()
    assert isinstance(intent, OrderIntent)
    await bus.publish(
        OrderPlaced(account_id=ACCOUNT, client_order_id=client_order_id, cl_ord_id=cl_ord_id)
    )
    await bus.publish(report(cl_ord_id, client_order_id, OrderStatus.NEW))
    return cl_ord_id


async def until_halted(subscription: Subscription) -> list[Event]:
    """Trading state changes up to (and including) the one to ``HALTED``."""
    events: list[Event] = []
    while not any(
        isinstance(e, TradingStateChanged) and e.state is TradingState.HALTED for e in events
    ):
        events += await subscription.receive_batch()
    return events


async def test_only_the_orders_this_engine_placed_are_cancelled_and_the_account_halts() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    states = bus.subscribe("test", accepts=(TradingStateChanged,))
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    phone = order("EXT-1", None, OrderStatus.NEW)  # placed from the user's phone
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(snapshot(phone))
        mine = [await placed(bus, receive, "c-1"), await placed(bus, receive, "c-2")]
        await trio.testing.wait_all_tasks_blocked()
        with capture_logs() as logs:
            await bus.publish(SHUTDOWN)
            await trio.testing.wait_all_tasks_blocked()
        sent = pending(receive)
        during = actor.shutdown_progress()
        await bus.publish(SubmitOrder(account_id=ACCOUNT, intent=make_intent(client_order_id="x")))
        await bus.publish(report(mine[0], "c-1", OrderStatus.CANCELED))
        await bus.publish(report(mine[1], "c-2", OrderStatus.CANCELED))
        with trio.fail_after(5):
            await actor.wait_settled(SHUTDOWN)
        after = actor.shutdown_progress()
        view = views.get(ACCOUNT)
        late = pending(receive)
        changes = await until_halted(states)
        nursery.cancel_scope.cancel()

    assert all(isinstance(item, CancelRequest) for item in sent)
    assert sorted(item.cl_ord_id for item in sent if isinstance(item, CancelRequest)) == mine
    assert "EXT-1" not in {getattr(item, "cl_ord_id", None) for item in sent + late}
    assert during == ShutdownProgress(
        account_id=ACCOUNT,
        open_orders=2,
        places=0,
        replaces=0,
        cancels=2,
        to_cancel=2,
        cancel_failed=0,
        external=1,
        held=0,
    )
    assert not during.settled
    assert after.settled
    assert (after.open_orders, after.external) == (0, 1)
    assert late == []  # the order submitted after the cancel-all went nowhere
    halted = [e for e in changes if isinstance(e, TradingStateChanged)][-1]
    assert (halted.state, halted.reason) == (TradingState.HALTED, "shutdown")
    assert view is not None
    assert view.trading_state is TradingState.HALTED
    assert list(view.open_orders) == ["EXT-1"]  # the phone's order is still working
    [line] = [e for e in logs if e["event"] == "account.cancel_all"]
    assert (line["open_orders"], line["external_left"], line["in_flight"]) == (2, 1, 0)
    [external] = [e for e in logs if e["event"] == "account.external_orders_left"]
    assert external["cl_ord_ids"] == ["EXT-1"]


async def test_held_orders_are_rejected_and_the_snapshot_releases_nothing() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    rejected = bus.subscribe("test", accepts=(OrderRejected,))
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(submit("early-1"))  # RECONCILING: held
        await bus.publish(submit("early-2"))
        await trio.testing.wait_all_tasks_blocked()
        assert actor.shutdown_progress().held == 2
        await bus.publish(SHUTDOWN)
        events = await rejected.receive_batch()
        while len(events) < 2:
            events += await rejected.receive_batch()
        await bus.publish(snapshot())  # reconciliation must not release them now
        with trio.fail_after(5):
            await actor.wait_settled(SHUTDOWN)
        progress = actor.shutdown_progress()
        state = actor.trading_state
        dispatched = pending(receive)
        nursery.cancel_scope.cancel()
    assert [(e.client_order_id, e.code) for e in events if isinstance(e, OrderRejected)] == [
        ("early-1", "TRADING_STATE"),
        ("early-2", "TRADING_STATE"),
    ]
    reasons = {e.reason for e in events if isinstance(e, OrderRejected)}
    assert reasons == {"account HALTED: shutdown"}
    assert dispatched == []
    assert state is TradingState.HALTED
    assert progress.held == 0


async def test_an_order_still_on_its_way_is_cancelled_once_the_venue_names_it() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(snapshot())
        await bus.publish(submit("c-1"))
        assert isinstance(await receive.receive(), OrderIntent)  # on the wire, no clOrdId yet
        await bus.publish(SHUTDOWN)
        await trio.testing.wait_all_tasks_blocked()
        before_named = pending(receive)
        in_flight = actor.shutdown_progress()

        settled = trio.Event()

        async def wait() -> None:
            await actor.wait_settled(SHUTDOWN)
            settled.set()

        nursery.start_soon(wait)
        await bus.publish(OrderPlaced(account_id=ACCOUNT, client_order_id="c-1", cl_ord_id="CL-1"))
        await trio.testing.wait_all_tasks_blocked()
        before_reported = pending(receive)  # named, but not reported yet: nothing to cancel
        await bus.publish(report("CL-1", "c-1", OrderStatus.NEW))
        await trio.testing.wait_all_tasks_blocked()
        cancels = pending(receive)
        settled_before_canceled = settled.is_set()
        await bus.publish(report("CL-1", "c-1", OrderStatus.CANCELED))
        with trio.fail_after(5):
            await settled.wait()
        nursery.cancel_scope.cancel()
    assert before_named == []
    assert (in_flight.places, in_flight.to_cancel, in_flight.settled) == (1, 1, False)
    assert before_reported == []
    assert [(c.cl_ord_id, type(c)) for c in cancels if isinstance(c, CancelRequest)] == [
        ("CL-1", CancelRequest)
    ]
    assert len(cancels) == 1
    assert not settled_before_canceled


async def test_a_refused_cancel_is_not_retried_and_the_order_is_counted_as_left_open() -> None:
    bus, views = EventBus(), AccountViews()
    send, receive = trio.open_memory_channel[DispatchItem](10)
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(snapshot())
        cl_ord_id = await placed(bus, receive, "c-1")
        await bus.publish(SHUTDOWN)
        first = await receive.receive()
        with capture_logs() as logs:
            await bus.publish(
                CancelFailed(
                    account_id=ACCOUNT, client_order_id="c-1", code="VENUE_REJECTED", reason="no"
                )
            )
            with trio.fail_after(5):
                await actor.wait_settled(SHUTDOWN)
        progress = actor.shutdown_progress()
        await bus.publish(report(cl_ord_id, "c-1", OrderStatus.NEW))  # any later batch
        await trio.testing.wait_all_tasks_blocked()
        retried = pending(receive)
        nursery.cancel_scope.cancel()
    assert isinstance(first, CancelRequest)
    assert first.cl_ord_id == cl_ord_id
    assert retried == []
    assert attrs.evolve(progress, open_orders=0) == ShutdownProgress(
        account_id=ACCOUNT,
        open_orders=0,
        places=0,
        replaces=0,
        cancels=0,
        to_cancel=0,
        cancel_failed=1,
        external=0,
        held=0,
    )
    assert progress.open_orders == 1
    assert progress.settled
    assert [e["client_order_id"] for e in logs if e["event"] == "order.left_open"] == ["c-1"]


async def test_wait_settled_first_waits_for_its_own_command_to_be_handled() -> None:
    """With nothing outstanding the account looks settled, but a shutdown must not go on until
    the actor has handled everything published before its command (e.g. a strategy's cancel)."""
    bus, views = EventBus(), AccountViews()
    send, _receive = trio.open_memory_channel[DispatchItem](10)
    actor = AccountActor(ACCOUNT, bus, views, approve_all, send)
    leave = TradingStateRequested(account_id=ACCOUNT, state=TradingState.HALTED, reason="shutdown")
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await bus.publish(snapshot())
        await trio.testing.wait_all_tasks_blocked()
        assert actor.shutdown_progress().settled
        settled = trio.Event()

        async def wait() -> None:
            await actor.wait_settled(leave)
            settled.set()

        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        early = settled.is_set()
        await bus.publish(leave)
        with trio.fail_after(5):
            await settled.wait()
        state = actor.trading_state
        nursery.cancel_scope.cancel()
    assert not early
    assert state is TradingState.HALTED
