"""Account truth under faults, through the whole engine against the simulator (issue 5)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import trio
import trio.testing
from structlog.testing import capture_logs

from engine import StrategyContext, hookimpl
from engine.model import (
    OrderFilled,
    OrderPlaceFailed,
    OrderStatus,
    OrderUpdated,
    PositionChanged,
    Quote,
    Side,
)
from engine.testing import Fault
from tests.integration.conftest import engine_config, running_engine

ACCOUNTS_WS = "/v1/accounts/ws"


class Recorder:
    """Places one buy of 10 AAPL (at a price chosen by the test) and records what it hears."""

    def __init__(self, price_below_bid: Decimal, *, go: bool = True) -> None:
        self.offset = price_below_bid
        self.go = go  # submit only once the test has armed its fault
        self.client_order_id: str | None = None
        self.limit: Decimal | None = None
        self.statuses: list[OrderStatus] = []
        self.fills: list[OrderFilled] = []
        self.working = trio.Event()
        self.filled = trio.Event()
        self.position = trio.Event()

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if not self.go or self.client_order_id is not None:
            return
        if quote.symbol == "AAPL" and quote.bid is not None:
            self.limit = quote.bid - self.offset
            self.client_order_id = ctx.submit("AAPL", Side.BUY, 10, price=self.limit)

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        if event.order.client_order_id != self.client_order_id:
            return
        self.statuses.append(event.order.status)
        if event.order.status is OrderStatus.NEW:
            self.working.set()
        if event.order.status is OrderStatus.FILLED:
            self.filled.set()

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append(event)

    @hookimpl
    def aries_on_position_changed(self, event: PositionChanged) -> None:
        if event.position.symbol == "AAPL" and event.position.quantity == 10:
            self.position.set()


async def test_a_fill_that_happens_while_the_accounts_socket_is_down_is_seen_exactly_once() -> None:
    strategy = Recorder(price_below_bid=Decimal("5.00"))  # far from the market: it rests
    async with running_engine(engine_config(), ("recorder", strategy)) as engine:
        sim = engine.simulator
        assert sim is not None
        with trio.fail_after(10):
            await strategy.working.wait()
            # The accounts socket goes quiet (its events are lost), then the order fills.
            await sim.faults.apply(Fault.silent_socket(ACCOUNTS_WS))
            assert strategy.limit is not None
            sim.market.force_quote("AAPL", bid=strategy.limit - 2, ask=strategy.limit - 1)
            await sim.wait_statistics(lambda s: s.fills >= 1)
            assert strategy.fills == []  # the engine cannot know yet
            # The socket drops; the engine reconnects and the snapshot carries the truth.
            sim.faults.clear()
            with capture_logs() as logs:
                await sim.drop_connections(ACCOUNTS_WS)
                await strategy.filled.wait()
                await strategy.position.wait()
    [summary] = [e for e in logs if e["event"] == "account.reconciled"]
    assert summary["fills_recovered"] == 1
    assert summary["position_changes"] == 1
    [fill] = strategy.fills
    assert (fill.qty, fill.cum_qty, fill.side) == (Decimal(10), Decimal(10), Side.BUY)
    assert fill.price <= strategy.limit
    assert fill.strategy == "recorder"
    assert strategy.statuses.count(OrderStatus.FILLED) == 1


async def test_a_lost_place_response_is_never_resent_and_the_stream_settles_the_order() -> None:
    strategy = Recorder(price_below_bid=Decimal("-1.00"), go=False)  # above the bid: fills at once
    config = engine_config(dispatch={"request_timeout": 0.5})
    async with running_engine(config, ("recorder", strategy)) as engine:
        sim = engine.simulator
        assert sim is not None
        outcomes = engine.bus.subscribe("test", accepts=(OrderPlaceFailed,))
        await sim.faults.apply(Fault.lose_order_response(count=1))
        strategy.go = True
        with trio.fail_after(10):
            await strategy.filled.wait()
            [unknown] = await outcomes.receive_batch()  # the HTTP answer never came
        placed = sim.statistics().orders_placed
    assert isinstance(unknown, OrderPlaceFailed)
    assert unknown.outcome_unknown
    assert unknown.client_order_id == strategy.client_order_id
    assert placed == 1  # sent once, never blindly re-sent
    assert [f.qty for f in strategy.fills] == [Decimal(10)]  # settled by the stream, once


class Watcher:
    """Records every order update it hears."""

    def __init__(self) -> None:
        self.updates: list[OrderUpdated] = []
        self.seen = trio.Event()

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        self.updates.append(event)
        self.seen.set()


async def test_an_order_placed_from_another_device_arrives_as_external() -> None:
    watcher = Watcher()
    async with running_engine(engine_config(), ("watcher", watcher)) as engine:
        sim = engine.simulator
        assert sim is not None
        async with httpx.AsyncClient(
            base_url=sim.endpoints.rest_base,
            headers={"Authorization": f"Bearer {sim.config.token}"},
        ) as phone:  # the user's phone app, not this engine
            reply = await phone.post("/v1/orders", json={
                "tradingAccountId": "SIM-001", "symbol": "AAPL", "side": "BUY",
                "type": "LIMIT", "qty": "1", "price": "1.00", "timeInForce": "DAY"})  # fmt: skip
            assert reply.status_code == 200
        with trio.fail_after(10):
            await watcher.seen.wait()
    update = watcher.updates[0]
    assert update.external
    assert update.strategy is None
    assert update.order.client_order_id is None


async def test_with_the_stream_and_the_answer_lost_the_order_list_settles_the_order(
    virtual_clock: trio.testing.MockClock,
) -> None:
    strategy = Recorder(price_below_bid=Decimal("-1.00"), go=False)  # fills at once
    config = engine_config(
        dispatch={"request_timeout": 0.5}, simulator={"tick_interval": 1.0, "symbols": ["AAPL"]}
    )
    async with running_engine(config, ("recorder", strategy)) as engine:
        sim = engine.simulator
        assert sim is not None
        await sim.faults.apply(Fault.silent_socket(ACCOUNTS_WS))
        await sim.faults.apply(Fault.lose_order_response(count=1))
        strategy.go = True
        with trio.fail_after(30), capture_logs() as logs:
            await strategy.filled.wait()  # only REST can tell: the stream and the answer are lost
        looked_up = [e for e in logs if e["event"] == "account.orders_looked_up"]
        # When the socket comes back, its snapshot must not replay the fill.
        sim.faults.clear()
        await sim.drop_connections(ACCOUNTS_WS)
        with trio.fail_after(120):
            await strategy.position.wait()
        placed = sim.statistics().orders_placed
    assert looked_up
    assert placed == 1
    assert [f.qty for f in strategy.fills] == [Decimal(10)]
