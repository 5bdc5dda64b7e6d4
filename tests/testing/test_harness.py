"""``StrategyHarness``: a plugin under the real PluginHost and RiskGate, with no sockets."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pluggy
import pytest

from engine import StrategyContext, hookimpl
from engine.errors import PluginError
from engine.model import (
    AccountView,
    OrderFilled,
    OrderIntent,
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    Quote,
    RiskVerdict,
    Side,
    TradingState,
)
from engine.testing import PluginRaised, StrategyHarness, account_view
from plugins.buying_power import BuyingPowerCheck, BuyingPowerConfig


class Scripted:
    """Submits on a quote of AAPL; cancels, replaces or halts on request; records its hooks."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.ids: list[str] = []
        self.timer: list[datetime] = []
        self.as_of: list[int | None] = []

    @hookimpl
    def aries_engine_started(self, ctx: StrategyContext) -> None:
        self.seen.append(("started", ctx.account().trading_state))
        ctx.subscribe("AAPL")

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        self.seen.append(("quote", quote.symbol))
        self.as_of.append(ctx.account().as_of_ns)
        if quote.symbol == "AAPL" and quote.bid is not None:
            self.ids.append(ctx.submit("AAPL", Side.BUY, 10, price=quote.bid))

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        self.seen.append(("updated", (event.order.status, event.previous_status)))

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled, ctx: StrategyContext) -> None:
        held = ctx.account().position_quantity(event.symbol)
        self.seen.append(("filled", (event.qty, event.cum_qty, event.leaves_qty, held)))

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected) -> None:
        self.seen.append(("rejected", (event.code, event.source, event.replace)))

    @hookimpl
    def aries_on_timer(self, now: datetime, ctx: StrategyContext) -> None:
        self.timer.append(now)
        for client_order_id in self.ids:
            ctx.replace(client_order_id, price="99")
        if len(self.timer) == 2:
            ctx.set_trading_state(TradingState.HALTED, "enough")


class RaisesOnQuote:
    def __init__(self) -> None:
        self.quotes = 0

    @hookimpl
    def aries_on_quote(self, quote: Quote) -> None:
        self.quotes += 1
        raise RuntimeError("boom")


class RaisingRisk:
    @hookimpl
    def aries_check_order(self, intent: OrderIntent) -> None:
        raise ZeroDivisionError("bad risk plugin")


class ClockedRisk:
    """Records what the gate passes; refuses a stale account picture and short sales."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, Decimal | None, int | None]] = []

    @hookimpl
    def aries_check_order(
        self, intent: OrderIntent, account: AccountView, quotes: dict[str, Quote], now_ns: int
    ) -> RiskVerdict | None:
        quote = quotes.get(intent.symbol)
        self.seen.append((now_ns, None if quote is None else quote.bid, account.as_of_ns))
        if account.as_of_ns is None or now_ns - account.as_of_ns > 60 * 10**9:
            return RiskVerdict.reject("STALE_STATE", "the account picture is too old")
        held = account.position_quantity(intent.symbol)
        if not intent.side.is_buy and intent.qty > held:
            return RiskVerdict.reject("NO_SHORTS", "would go short", held=held, qty=intent.qty)
        return None


async def test_start_quote_and_submit_go_through_the_host_as_typed_commands() -> None:
    strategy = Scripted()
    harness = StrategyHarness(strategy, name="scripted")
    started = await harness.start()
    assert strategy.seen == [("started", TradingState.ACTIVE)]
    [request] = started.market_data_requests
    assert (request.strategy, request.subscribe) == ("scripted", ("AAPL",))

    out = await harness.quote("AAPL", bid="100.10", ask="100.20")
    [intent] = out.intents
    assert intent.client_order_id == strategy.ids[0]
    assert intent.client_order_id.startswith("scripted-")
    assert (intent.account_id, intent.side, intent.qty, intent.price) == (
        "SIM-001",
        Side.BUY,
        Decimal(10),
        Decimal("100.10"),
    )
    assert intent.reference_price == Decimal("100.20")  # the ask, as ctx.submit sets it
    assert [type(c).__name__ for c in harness.commands] == ["MarketDataRequested", "SubmitOrder"]
    # Like the engine's view: the order is in flight until the venue reports it.
    assert list(harness.account().in_flight) == [intent.client_order_id]
    assert harness.order(intent.client_order_id).status is OrderStatus.PENDING_NEW


async def test_accept_and_fills_update_the_view_and_reach_the_strategy() -> None:
    strategy = Scripted()
    harness = StrategyHarness(strategy)
    await harness.quote("AAPL", bid="100", ask="100.05")
    [client_order_id] = strategy.ids
    await harness.accept(client_order_id)
    view = harness.account()
    assert not view.in_flight
    [(cl_ord_id, order)] = view.open_orders.items()
    assert cl_ord_id == order.cl_ord_id == harness.order(client_order_id).cl_ord_id
    assert (order.client_order_id, order.status, order.leaves_qty) == (
        client_order_id,
        OrderStatus.NEW,
        Decimal(10),
    )

    await harness.fill(client_order_id, qty=4)
    await harness.fill(client_order_id, price="99.98")
    assert strategy.seen[1:] == [
        ("updated", (OrderStatus.NEW, None)),
        ("filled", (Decimal(4), Decimal(4), Decimal(6), Decimal(4))),
        ("updated", (OrderStatus.PARTIALLY_FILLED, OrderStatus.NEW)),
        ("filled", (Decimal(6), Decimal(10), Decimal(0), Decimal(10))),
        ("updated", (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)),
    ]
    view = harness.account()
    assert view.open_orders == {}
    position = view.positions["AAPL"]
    assert position.quantity == Decimal(10)
    # 4 @ 100 then 6 @ 99.98: the average is exact
    assert position.avg_price == (4 * Decimal(100) + 6 * Decimal("99.98")) / 10
    assert harness.order(client_order_id).avg_price == position.avg_price
    with pytest.raises(ValueError, match="0 left"):
        await harness.fill(client_order_id)


async def test_timer_replace_and_trading_state_use_the_harness_clock() -> None:
    strategy = Scripted()
    harness = StrategyHarness(strategy)
    await harness.quote("AAPL", bid="100", ask="100.05")
    [client_order_id] = strategy.ids
    await harness.accept(client_order_id)

    first = await harness.tick()
    [replace] = first.replaces
    assert (replace.client_order_id, replace.price, replace.qty) == (
        client_order_id,
        Decimal(99),
        None,
    )
    harness.advance(1.5)
    second = await harness.tick()
    assert strategy.timer == [harness.now - timedelta(seconds=1.5), harness.now]
    [halt] = second.trading_state_requests
    assert (halt.account_id, halt.state) == ("SIM-001", TradingState.HALTED)

    await harness.replace_accepted(client_order_id)
    assert strategy.seen[-2:] == [
        ("updated", (OrderStatus.REPLACED, OrderStatus.NEW)),
        ("updated", (OrderStatus.NEW, None)),
    ]
    [order] = harness.account().open_orders.values()
    assert (order.price, order.client_order_id) == (Decimal(99), client_order_id)
    with pytest.raises(ValueError, match="no replace"):
        await harness.replace_accepted(client_order_id)


async def test_rejections_reach_the_strategy_and_a_refused_replace_keeps_the_order() -> None:
    strategy = Scripted()
    harness = StrategyHarness(strategy)
    await harness.quote("AAPL", bid="100", ask="100.05")
    await harness.quote("AAPL", bid="101", ask="101.05")
    first, second = strategy.ids
    await harness.accept(first)
    await harness.tick()  # asks to replace both

    await harness.reject(first, "PRICE_BAND", source="risk", replace=True)
    await harness.reject(second, "INSUFFICIENT_BUYING_POWER", source="risk")
    assert strategy.seen[-2:] == [
        ("rejected", ("PRICE_BAND", "risk", True)),
        ("rejected", ("INSUFFICIENT_BUYING_POWER", "risk", False)),
    ]
    view = harness.account()
    assert [o.client_order_id for o in view.open_orders.values()] == [first]
    assert view.open_orders[harness.order(first).cl_ord_id].price == Decimal(100)
    assert not view.in_flight


async def test_a_refused_cancel_reaches_the_strategy_and_the_order_stands() -> None:
    strategy = Scripted()
    harness = StrategyHarness(strategy)
    await harness.quote("AAPL", bid="100", ask="100.05")
    [first] = strategy.ids
    await harness.accept(first)

    await harness.reject(first, "ORDER_NOT_CANCELABLE", cancel=True)

    assert strategy.seen[-1] == ("rejected", ("ORDER_NOT_CANCELABLE", "venue", False))
    assert [o.client_order_id for o in harness.account().open_orders.values()] == [first]
    with pytest.raises(ValueError, match="not both"):
        await harness.reject(first, replace=True, cancel=True)


async def test_order_events_of_another_strategy_are_not_delivered() -> None:
    strategy = Scripted()
    harness = StrategyHarness(strategy, name="mine")
    foreign = OrderFilled(
        account_id="SIM-001",
        cl_ord_id="X1",
        client_order_id="theirs-1",
        symbol="AAPL",
        side=Side.BUY,
        qty=Decimal(1),
        price=Decimal(10),
        cum_qty=Decimal(1),
        leaves_qty=Decimal(0),
        strategy="theirs",
    )
    await harness.deliver(foreign)
    assert strategy.seen == []
    await harness.deliver(attrs.evolve(foreign, strategy=None))  # an external order: everyone
    assert strategy.seen == [("filled", (Decimal(1), Decimal(1), Decimal(0), Decimal(0)))]


async def test_a_raising_hook_fails_the_test_at_that_event() -> None:
    harness = StrategyHarness(RaisesOnQuote(), name="bad")
    with pytest.raises(
        PluginRaised, match=r"'bad' raised in aries_on_quote: RuntimeError\('boom'\)"
    ):
        await harness.quote("AAPL", bid="1", ask="2")


async def test_without_raise_on_fault_the_fault_is_recorded_and_the_plugin_disabled() -> None:
    plugin = RaisesOnQuote()
    harness = StrategyHarness(plugin, name="bad", raise_on_fault=False)
    out = await harness.quote("AAPL", bid="1", ask="2")
    [fault] = out.faults
    assert (fault.plugin, fault.hook) == ("bad", "aries_on_quote")
    await harness.quote("AAPL", bid="1", ask="2")
    assert plugin.quotes == 1  # disabled after the first raise, as in the engine


async def test_check_order_runs_the_risk_gate_with_the_view_quotes_and_clock() -> None:
    clocked = ClockedRisk()
    harness = StrategyHarness(clocked, name="clocked", kind="plugin")
    await harness.quote("AAPL", bid="99", ask="100")
    harness.advance(2)
    intent = harness.intent("AAPL", "BUY", 1)
    assert intent.reference_price == Decimal(100)  # the ask of the latest quote, for a buy
    assert harness.check_order(intent).approved  # no objection: approved
    assert clocked.seen == [(harness.now_ns, Decimal(99), harness.now_ns)]
    harness.set_position("AAPL", 5)
    verdict = harness.check_order(harness.intent("AAPL", "SELL", 6, price="99"))
    assert (verdict.approved, verdict.code, verdict.plugin) == (False, "NO_SHORTS", "clocked")
    assert verdict.details == (("held", "5"), ("qty", "6"))


async def test_the_account_is_live_unless_the_test_controls_as_of_ns() -> None:
    strategy = Scripted()
    live = StrategyHarness(strategy)
    live.advance(3600)
    await live.quote("MSFT")
    assert strategy.as_of == [live.now_ns]  # what the plugin read, inside its hook
    frozen = StrategyHarness(ClockedRisk(), kind="plugin", live_account=False)
    frozen.set_account(account_view(as_of_ns=frozen.now_ns))
    frozen.advance(90)
    verdict = frozen.check_order(frozen.intent("AAPL", "BUY", 1, price="10"))
    assert (verdict.approved, verdict.code) == (False, "STALE_STATE")


async def test_check_order_with_the_built_in_buying_power_plugin() -> None:
    harness = StrategyHarness(
        BuyingPowerCheck(BuyingPowerConfig(headroom=Decimal(100))), name="bp", kind="plugin"
    )
    harness.set_account(account_view(buying_power="1100"))
    await harness.quote("AAPL", bid="99.99", ask="100")
    within = harness.intent("AAPL", Side.BUY, 10, price="100")
    assert harness.check_order(within).approved
    over = harness.intent("AAPL", Side.BUY, 10, price="100.01")
    verdict = harness.check_order(over)
    assert (verdict.approved, verdict.code, verdict.plugin) == (
        False,
        "INSUFFICIENT_BUYING_POWER",
        "bp",
    )


def test_a_raising_risk_plugin_rejects_the_order() -> None:
    harness = StrategyHarness(RaisingRisk(), name="flaky", kind="plugin")
    verdict = harness.check_order(harness.intent("AAPL", Side.BUY, 1, price="1"))
    assert (verdict.approved, verdict.code, verdict.plugin) == (
        False,
        "RISK_PLUGIN_ERROR",
        "flaky",
    )


def test_load_validates_the_config_table_like_engine_toml() -> None:
    harness = StrategyHarness.load(
        "plugins.buying_power:BuyingPowerCheck", {"headroom": "250"}, name="bp", kind="plugin"
    )
    assert isinstance(harness.plugin, BuyingPowerCheck)
    assert harness.plugin.config.headroom == Decimal(250)
    with pytest.raises(PluginError, match=r"plugin 'bp': config.*headroom"):
        StrategyHarness.load(
            "plugins.buying_power:BuyingPowerCheck", {"headroom": "lots"}, name="bp"
        )


def test_a_misspelt_hook_is_refused_at_once() -> None:
    class Typo:
        @hookimpl
        def aries_on_qoute(self, quote: Quote) -> None: ...

    with pytest.raises(pluggy.PluginValidationError, match="aries_on_qoute"):
        StrategyHarness(Typo())


def test_account_view_and_set_position_build_what_plugins_read() -> None:
    view = account_view(buying_power="5000", total_equity="8000", positions={"AAPL": 10, "X": 0})
    assert view.balance is not None
    assert (view.available_buying_power, view.balance.total_equity) == (
        Decimal(5000),
        Decimal(8000),
    )
    assert dict(view.positions).keys() == {"AAPL"}
    harness = StrategyHarness(Scripted(), accounts=("A", "B"))
    assert harness.account().account_id == "A"
    assert harness.account("B").balance is None
    harness.set_position("MSFT", "-3", account="B")
    assert harness.account("B").position_quantity("MSFT") == Decimal(-3)
    with pytest.raises(ValueError, match="not bound"):
        harness.set_account(account_view("C"))
    with pytest.raises(TypeError, match="float"):
        account_view(buying_power=1.5)  # type: ignore[arg-type]
