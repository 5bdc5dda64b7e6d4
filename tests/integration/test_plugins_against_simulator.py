"""The plugin API end to end against the simulator: replace, fault isolation, the kill switch."""

from __future__ import annotations

from decimal import Decimal

import trio

from engine import StrategyContext, hookimpl
from engine.model import (
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    PluginFaulted,
    Quote,
    Side,
    TradingState,
    TradingStateChanged,
)
from tests.integration.conftest import engine_config, running_engine
from tests.integration.test_engine_against_simulator import BuysOnce


class Amender:
    """Rests a buy far below the bid, replaces it (more shares, a better price), then cancels."""

    def __init__(self) -> None:
        self.client_order_id: str | None = None
        self.updates: list[tuple[str, OrderStatus, Decimal, Decimal | None]] = []
        self.replace_price: Decimal | None = None
        self.rejections: list[OrderRejected] = []
        self.replaced = trio.Event()
        self.canceled = trio.Event()

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.client_order_id is None and quote.symbol == "AAPL" and quote.bid is not None:
            price = quote.bid - 20
            self.replace_price = price + 1
            self.client_order_id = ctx.submit("AAPL", Side.BUY, 10, price=price)

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated, ctx: StrategyContext) -> None:
        order = event.order
        if self.client_order_id is None or order.client_order_id != self.client_order_id:
            return
        self.updates.append((order.cl_ord_id, order.status, order.qty, order.price))
        if order.status is OrderStatus.NEW and len({u[0] for u in self.updates}) == 1:
            ctx.replace(self.client_order_id, qty=12, price=self.replace_price)
        elif order.status is OrderStatus.NEW:
            self.replaced.set()
            ctx.cancel(self.client_order_id)
        elif order.status is OrderStatus.CANCELED:
            self.canceled.set()

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected) -> None:
        self.rejections.append(event)


async def test_a_replace_reaches_the_venue_cycles_the_id_and_the_order_can_be_canceled() -> None:
    strategy = Amender()
    async with running_engine(engine_config(), ("amender", strategy)) as engine:
        with trio.fail_after(10):
            await strategy.replaced.wait()
            await strategy.canceled.wait()
        view = engine.views.get("SIM-001")
    assert strategy.rejections == []
    first_id = strategy.updates[0][0]
    by_id: dict[str, list[OrderStatus]] = {}
    for cl_ord_id, status, _qty, _price in strategy.updates:
        by_id.setdefault(cl_ord_id, []).append(status)
    [second_id] = [i for i in by_id if i != first_id]
    assert by_id[first_id][-1] is OrderStatus.REPLACED
    assert by_id[second_id][-1] is OrderStatus.CANCELED
    new_terms = [
        (q, p) for i, s, q, p in strategy.updates if i == second_id and s is OrderStatus.NEW
    ]
    assert new_terms == [(Decimal(12), strategy.replace_price)]
    assert view is not None
    assert not view.open_orders
    assert not view.in_flight


class Raiser:
    """Raises on its first quote."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def aries_on_quote(self) -> None:
        self.calls += 1
        raise RuntimeError("strategy bug")


class FaultWatcher:
    def __init__(self) -> None:
        self.faults: list[PluginFaulted] = []

    @hookimpl
    def aries_on_plugin_faulted(self, event: PluginFaulted) -> None:
        self.faults.append(event)


async def test_a_raising_strategy_is_disabled_and_the_engine_and_others_go_on() -> None:
    raiser, buyer, watcher = Raiser(), BuysOnce(), FaultWatcher()
    plugins = (("raiser", raiser), ("buyer", buyer), ("watcher", watcher))
    async with running_engine(engine_config(), *plugins) as engine:
        with trio.fail_after(10):
            await buyer.filled.wait()
        stats = {s.name: s for s in engine.host.statistics()}
    assert raiser.calls == 1  # disabled after the first raise
    assert stats["raiser"].faulted
    assert not stats["buyer"].faulted
    assert [(f.plugin, f.hook) for f in watcher.faults] == [("raiser", "aries_on_quote")]
    assert "strategy bug" in watcher.faults[0].error


class KeepsBuying:
    """Buys 1 AAPL at the ask on every quote while it has no order working; records verdicts."""

    def __init__(self) -> None:
        self.working: str | None = None
        self.rejections: list[OrderRejected] = []
        self.halted = trio.Event()
        self.refused_after_halt = trio.Event()

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.working is None and quote.symbol == "AAPL" and quote.ask is not None:
            self.working = ctx.submit("AAPL", Side.BUY, 1, price=quote.ask + 1)

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        if event.order.client_order_id == self.working and not event.order.status.is_open:
            self.working = None

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected) -> None:
        self.rejections.append(event)
        self.working = None
        if self.halted.is_set():
            self.refused_after_halt.set()

    @hookimpl
    def aries_on_trading_state_changed(self, event: TradingStateChanged) -> None:
        if event.state is TradingState.HALTED:
            self.halted.set()


async def test_the_daily_loss_kill_switch_halts_the_account_and_new_orders_are_refused() -> None:
    strategy = KeepsBuying()
    config = engine_config(
        plugins=[
            {
                "name": "daily-loss",
                "path": "plugins.daily_loss:DailyLossLimit",
                "config": {"max_loss": "0.01"},  # a buy at the ask is down the spread at once
            },
            {"name": "buying-power", "path": "plugins.buying_power:BuyingPowerCheck"},
        ]
    )
    async with running_engine(config, ("buyer", strategy)) as engine:
        with trio.fail_after(10):
            await strategy.halted.wait()
            await strategy.refused_after_halt.wait()
        view = engine.views.get("SIM-001")
    assert view is not None
    assert view.trading_state is TradingState.HALTED
    assert view.balance is not None
    assert view.balance.realized_pl + view.balance.unrealized_pl <= Decimal("-0.01")
    refused = strategy.rejections[-1]
    assert refused.code == "TRADING_STATE"
    assert "HALTED" in refused.reason
