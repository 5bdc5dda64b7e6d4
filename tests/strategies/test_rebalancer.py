"""The rebalancer example strategy: the arithmetic, the rounds, risk verdicts, and a live run."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio

import strategies.rebalancer as module
from engine.errors import PluginError
from engine.model import (
    Event,
    Order,
    OrderFilled,
    OrderStatus,
    OrderType,
    OrderUpdated,
    Quote,
    Side,
)
from engine.testing import StrategyHarness, account_view
from strategies.rebalancer import PlannedOrder, Rebalancer, RebalancerConfig, plan_round
from tests.integration.conftest import engine_config, running_engine, wait_for
from tests.strategies.helpers import documented_entry

PATH = "strategies.rebalancer:Rebalancer"
TARGETS = {"AAPL": "0.5", "MSFT": "0.3"}


def harness(**config: Any) -> StrategyHarness:
    table: dict[str, Any] = {
        "targets": TARGETS,
        "tolerance": "0.02",
        "min_trade_notional": "100",
        "interval": 60.0,
        **config,
    }
    return StrategyHarness.load(PATH, table, name="rebalancer")


async def portfolio(h: StrategyHarness, **positions: int) -> None:
    """Equity 100 000 (``positions`` by symbol); quotes with AAPL's mid at 200, MSFT's at 250."""
    h.set_account(account_view(buying_power="50000", total_equity="100000", positions=positions))
    await h.quote("AAPL", bid="199.95", ask="200.05")  # mid 200
    await h.quote("MSFT", bid="249.95", ask="250.05")  # mid 250


def rebalancer(h: StrategyHarness) -> Rebalancer:
    assert isinstance(h.plugin, Rebalancer)
    return h.plugin


def test_the_documented_engine_toml_snippet_loads() -> None:
    entry = documented_entry(module.__doc__)
    config = rebalancer(StrategyHarness.load(entry["path"], entry["config"])).config
    assert dict(config.targets) == {"AAPL": Decimal("0.30"), "MSFT": Decimal("0.20")}
    assert (config.interval, config.tolerance) == (60.0, Decimal("0.02"))


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"targets": {}}, "targets: expected at least one symbol"),
        ({"targets": {"AAPL": "0.7", "MSFT": "0.4"}}, "targets: the weights add up to more than 1"),
        ({"targets": {"AAPL": "-0.1"}}, "targets.AAPL: expected a weight from 0 to 1"),
        ({"targets": {"AAPL": "0.5"}, "tolerance": "1"}, "tolerance: expected a number from 0"),
        ({"targets": {"AAPL": "0.5"}, "interval": 0}, "interval: expected a number greater than 0"),
        ({"targets": {"AAPL": "half"}}, "config.targets['AAPL']: expected a decimal number"),
        ({}, "targets"),
    ],
)
def test_bad_config_is_refused_with_the_key(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(PluginError, match=re.escape(problem)):
        StrategyHarness.load(PATH, table)


def test_the_plan_is_exact_decimal_arithmetic_with_sells_first() -> None:
    config = RebalancerConfig(targets={"AAPL": Decimal("0.5"), "MSFT": Decimal("0.3")})
    view = account_view(total_equity="100000", positions={"AAPL": 100, "MSFT": 200})
    quotes = {
        "AAPL": Quote(symbol="AAPL", bid=Decimal("199.95"), ask=Decimal("200.05")),
        "MSFT": Quote(symbol="MSFT", bid=Decimal("249.95"), ask=Decimal("250.05")),
    }
    # AAPL: 100 × 200 = 20 000 = 0.2 → 0.5: buy 30 000 / 200 = 150 at the ask.
    # MSFT: 200 × 250 = 50 000 = 0.5 → 0.3: sell 20 000 / 250 = 80 at the bid.
    assert plan_round(config, view, quotes) == [
        PlannedOrder(
            symbol="MSFT",
            side=Side.SELL,
            qty=Decimal(80),
            price=Decimal("249.95"),
            weight=Decimal("0.5"),
            target=Decimal("0.3"),
        ),
        PlannedOrder(
            symbol="AAPL",
            side=Side.BUY,
            qty=Decimal(150),
            price=Decimal("200.05"),
            weight=Decimal("0.2"),
            target=Decimal("0.5"),
        ),
    ]
    # Halved AAPL, in lots of 7: 150 / 2 = 75 → 70; fractional weights stay exact.
    config = RebalancerConfig(targets={"AAPL": Decimal("0.5")}, lot_size=Decimal(7))
    [order] = plan_round(config, view, quotes, {"AAPL": Decimal("0.5")})
    assert (order.qty, order.notional) == (Decimal(70), Decimal(70) * Decimal("200.05"))
    # 20 000 of 30 000 is a weight of 2/3, which no Decimal holds exactly (…667, rounded up):
    # the gap is computed in dollars, 0.8 × 30 000 − 20 000 = 4 000, so 20 shares, not 19.
    config = RebalancerConfig(targets={"AAPL": Decimal("0.8")})
    two_thirds = account_view(total_equity="30000", positions={"AAPL": 100})
    [order] = plan_round(config, two_thirds, quotes)
    assert order.weight == Decimal(2) / Decimal(3)
    assert order.qty == Decimal(20)


def test_the_plan_respects_tolerance_min_notional_no_shorting_and_missing_data() -> None:
    quotes = {"AAPL": Quote(symbol="AAPL", bid=Decimal("199.95"), ask=Decimal("200.05"))}
    equity = "100000"
    config = RebalancerConfig(targets={"AAPL": Decimal("0.5")}, tolerance=Decimal("0.02"))
    within = account_view(total_equity=equity, positions={"AAPL": 241})  # 0.482: 1.8 points off
    assert plan_round(config, within, quotes) == []
    just_out = account_view(total_equity=equity, positions={"AAPL": 239})  # 0.478: 2.2 points
    assert [o.qty for o in plan_round(config, just_out, quotes)] == [Decimal(11)]
    small = RebalancerConfig(
        targets={"AAPL": Decimal("0.5")}, tolerance=Decimal(0), min_trade_notional=Decimal(1000)
    )
    assert (
        plan_round(small, account_view(total_equity=equity, positions={"AAPL": 246}), quotes) == []
    )
    out = RebalancerConfig(targets={"AAPL": Decimal(0)}, lot_size=Decimal(7))
    [sell] = plan_round(out, account_view(total_equity=equity, positions={"AAPL": 101}), quotes)
    assert (sell.side, sell.qty) == (Side.SELL, Decimal(98))  # whole lots of what it holds
    for config in (out, RebalancerConfig(targets={"AAPL": Decimal("0.5")})):
        short = account_view(total_equity=equity, positions={"AAPL": -5})
        assert plan_round(config, short, quotes) == []  # a short is left alone
    assert plan_round(config, account_view(), quotes) == []  # no balance
    assert plan_round(config, account_view(total_equity=equity), {}) == []  # no quote


async def test_a_round_submits_sells_then_buys_at_the_touch_and_waits_for_the_interval() -> None:
    h = harness()
    started = await h.start()
    assert started.market_data_requests[0].subscribe == ("AAPL", "MSFT")
    await portfolio(h, AAPL=100, MSFT=200, TSLA=50)  # TSLA has no target: left alone
    out = await h.tick()
    assert [(i.symbol, i.side, i.qty, i.price) for i in out.intents] == [
        ("MSFT", Side.SELL, Decimal(80), Decimal("249.95")),
        ("AAPL", Side.BUY, Decimal(150), Decimal("200.05")),
    ]
    h.advance(59)
    assert not (await h.tick()).all  # the next round is 60 s after the first
    for intent in out.intents:
        await h.accept(intent.client_order_id)
        await h.fill(intent.client_order_id)
    assert h.account().position_quantity("AAPL") == Decimal(250)
    h.advance(1)
    assert not (await h.tick()).all  # on target now: nothing to do


async def test_never_two_working_orders_for_a_symbol() -> None:
    h = harness()
    await portfolio(h, AAPL=100, MSFT=200)
    first = await h.tick()
    sell, buy = first.intents
    await h.accept(sell.client_order_id)
    await h.accept(buy.client_order_id)
    await h.fill(buy.client_order_id)
    h.advance(60)
    second = await h.tick()
    # MSFT's sell still works: it is canceled, and MSFT waits for the next round.
    assert [c.client_order_id for c in second.cancels] == [sell.client_order_id]
    assert second.submitted == []
    h.advance(60)
    third = await h.tick()
    assert (third.cancels, third.submitted) == ([], [])  # the cancel is not confirmed yet
    await h.canceled(sell.client_order_id)
    h.advance(60)
    [again] = (await h.tick()).intents
    assert (again.symbol, again.side, again.qty) == ("MSFT", Side.SELL, Decimal(80))


async def test_orders_the_account_already_has_count_as_working() -> None:
    h = harness()
    await portfolio(h, AAPL=100, MSFT=200)
    resting = Order(  # e.g. left by an earlier run: not ours, but MSFT has a working order
        account_id="SIM-001",
        cl_ord_id="C9",
        client_order_id="rebalancer-old-1",
        symbol="MSFT",
        side=Side.SELL,
        type=OrderType.LIMIT,
        qty=Decimal(80),
        leaves_qty=Decimal(80),
        price=Decimal(260),
        status=OrderStatus.NEW,
    )
    h.set_account(attrs.evolve(h.account(), open_orders={resting.cl_ord_id: resting}))
    out = await h.tick()
    assert [(i.symbol, i.side) for i in out.intents] == [("AAPL", Side.BUY)]
    assert out.cancels == []  # not its order to cancel


async def test_a_buying_power_rejection_waits_a_round_and_halves_the_next_attempt() -> None:
    h = harness()
    await portfolio(h, AAPL=100, MSFT=200)
    sell, buy = (await h.tick()).intents
    await h.accept(sell.client_order_id)
    await h.fill(sell.client_order_id)
    await h.reject(buy.client_order_id, "INSUFFICIENT_BUYING_POWER", source="risk")
    assert rebalancer(h).working == {}
    h.advance(30)
    assert not (await h.tick()).submitted  # not before the next interval
    h.advance(30)
    [retry] = (await h.tick()).intents
    assert (retry.symbol, retry.side, retry.qty) == ("AAPL", Side.BUY, Decimal(75))  # 150 / 2
    await h.reject(retry.client_order_id, "INSUFFICIENT_BUYING_POWER", source="risk")
    h.advance(60)
    [smaller] = (await h.tick()).intents
    assert smaller.qty == Decimal(37)  # 150 / 4 = 37.5, floored to whole shares
    await h.fill(smaller.client_order_id)
    h.advance(60)
    [full] = (await h.tick()).intents
    assert full.qty == Decimal(113)  # after a fill the remaining gap is sent at full size


async def test_other_rejections_wait_a_round_but_do_not_shrink() -> None:
    h = harness(targets={"AAPL": "0.5"})
    await portfolio(h, AAPL=100)
    [buy] = (await h.tick()).intents
    await h.reject(buy.client_order_id, "MAX_ORDER_NOTIONAL", source="risk")
    await h.tick()
    h.advance(60)
    [again] = (await h.tick()).intents
    assert (again.symbol, again.qty) == (buy.symbol, buy.qty)
    await h.reject(again.client_order_id, "REJECTED", source="venue")
    h.advance(60)
    [third] = (await h.tick()).intents
    assert third.qty == buy.qty


async def test_against_the_simulator_the_first_round_buys_toward_the_target() -> None:
    """Live: the host's timer drives the rounds; the buy crosses at the ask and fills or rests."""
    name = "rebalancer"
    config = engine_config(
        strategies=[
            {
                "name": name,
                "path": PATH,
                "account": "SIM-001",
                "config": {
                    "targets": {"AAPL": "0.1", "MSFT": "0.05"},
                    "interval": 1.0,
                    "min_trade_notional": "100",
                },
            }
        ]
    )
    async with running_engine(config) as engine:
        events = engine.bus.subscribe("test", accepts=(OrderUpdated, OrderFilled))
        seen: list[Event] = []
        placed: dict[str, OrderUpdated] = {}

        def both_placed(event: Event) -> bool:
            if (
                isinstance(event, OrderUpdated)
                and event.strategy == name
                and event.order.status in (OrderStatus.NEW, OrderStatus.FILLED)
            ):
                placed.setdefault(event.order.symbol, event)
            return placed.keys() == {"AAPL", "MSFT"}

        with trio.fail_after(15):
            await wait_for(events, both_placed, seen=seen)
    # 100 000 of equity and no position: 10 % of it in AAPL, 5 % in MSFT (MSFT was subscribed
    # by the strategy itself), each to within one share.
    for symbol, value in (("AAPL", Decimal(10_000)), ("MSFT", Decimal(5_000))):
        order = placed[symbol].order
        assert order.side is Side.BUY
        assert order.price is not None
        assert value - 2 * order.price < order.qty * order.price < value + order.price
