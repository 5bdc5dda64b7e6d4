"""The mean-reversion example strategy: signals, order management, rejections, and a live run."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
import trio

import strategies.mean_reversion as module
from engine.errors import PluginError
from engine.model import Event, OrderFilled, OrderStatus, OrderUpdated, Side
from engine.testing import StrategyHarness
from strategies.mean_reversion import MeanReversion, MeanReversionConfig
from tests.integration.conftest import engine_config, running_engine, wait_for
from tests.strategies.helpers import documented_entry

PATH = "strategies.mean_reversion:MeanReversion"


def harness(**config: Any) -> StrategyHarness:
    """A ``mean-rev`` harness; by default a 3-quote window and a fixed 1 % band."""
    table: dict[str, Any] = {"symbols": ["AAPL"], "window": 3, "band_bps": "100", **config}
    return StrategyHarness.load(PATH, table, name="mean-rev")


async def warm_up(h: StrategyHarness, mid: str = "100", times: int = 3) -> None:
    """Fill the window with a flat mid (spread 0.10)."""
    half = Decimal("0.05")
    for _ in range(times):
        await h.quote("AAPL", bid=Decimal(mid) - half, ask=Decimal(mid) + half)


def strategy(h: StrategyHarness) -> MeanReversion:
    assert isinstance(h.plugin, MeanReversion)
    return h.plugin


def test_the_documented_engine_toml_snippet_loads() -> None:
    entry = documented_entry(module.__doc__)
    h = StrategyHarness.load(entry["path"], entry["config"], name=entry["name"])
    config = strategy(h).config
    assert config.symbols == ("AAPL", "MSFT")
    assert (config.k, config.qty, config.max_position) == (Decimal(2), Decimal(10), Decimal(100))
    assert config.band_bps is None


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"window": 1}, "window: expected an integer of 2 or more"),
        ({"qty": "0"}, "qty: expected a number greater than 0"),
        ({"k": "-1"}, "config.k: expected a number >= 0, got -1"),
        ({"symbols": []}, "symbols: expected at least one symbol"),
        ({"qty": "ten"}, "config.qty: expected a decimal number"),
        ({"spread": 1}, "unknown key"),
    ],
)
def test_bad_config_is_refused_with_the_key(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(PluginError, match=re.escape(problem)):
        StrategyHarness.load(PATH, table, name="mean-rev")


async def test_no_order_until_the_window_is_full_then_a_buy_at_the_bid_below_the_band() -> None:
    h = harness()
    await h.start()
    assert h.commands.market_data_requests[0].subscribe == ("AAPL",)
    await warm_up(h, times=2)
    early = await h.quote("AAPL", bid="90", ask="90.10")  # far below, but the window is not full
    assert not early.submitted
    h = harness()
    await warm_up(h)  # mean 100, band 1 % = 1.00
    inside = await h.quote("AAPL", bid="99.05", ask="99.15")  # mid 99.10: inside the band
    assert not inside.submitted
    h = harness()
    await warm_up(h)
    out = await h.quote("AAPL", bid="98.85", ask="98.95")  # mid 98.90 < 99.00
    [intent] = out.intents
    assert (intent.symbol, intent.side, intent.qty, intent.price) == (
        "AAPL",
        Side.BUY,
        Decimal(10),
        Decimal("98.85"),
    )


async def test_the_band_is_k_standard_deviations_of_the_window() -> None:
    # mids 99, 101, 99, 101: mean 100, population deviation exactly 1, so k=2 puts it at 98.
    for mid, expect_order in (("98.01", False), ("97.99", True)):
        h = StrategyHarness.load(PATH, {"window": 4, "k": "2"}, name="mean-rev")
        for m in ("99", "101", "99", "101"):
            await h.quote("AAPL", bid=m, ask=m)
        out = await h.quote(
            "AAPL", bid=Decimal(mid) - Decimal("0.05"), ask=Decimal(mid) + Decimal("0.05")
        )
        assert bool(out.submitted) is expect_order, mid


async def test_above_the_band_it_sells_what_it_holds_at_the_ask_and_never_shorts() -> None:
    h = harness()
    await warm_up(h)
    flat = await h.quote("AAPL", bid="101.05", ask="101.15")  # above the band, nothing held
    assert not flat.submitted
    h = harness()
    h.set_position("AAPL", 30)
    await h.start()
    await warm_up(h)
    out = await h.quote("AAPL", bid="101.05", ask="101.15")
    [intent] = out.intents
    assert (intent.side, intent.qty, intent.price) == (Side.SELL, Decimal(30), Decimal("101.15"))


async def test_one_working_order_per_symbol_and_it_follows_the_touch() -> None:
    h = harness(replace_ticks=2)
    await warm_up(h)
    [intent] = (await h.quote("AAPL", bid="98.85", ask="98.95")).intents
    cid = intent.client_order_id
    await h.accept(cid)
    # Still below the mean: no second order; the bid moved 2 ticks (not more): no replace.
    nothing = await h.quote("AAPL", bid="98.83", ask="98.93")
    assert (nothing.submitted, nothing.replaces, nothing.cancels) == ([], [], [])
    moved = await h.quote("AAPL", bid="98.82", ask="98.92")  # 3 ticks from 98.85
    [replace] = moved.replaces
    assert (replace.client_order_id, replace.price) == (cid, Decimal("98.82"))
    assert not moved.submitted
    pending = await h.quote("AAPL", bid="98.70", ask="98.80")  # no second replace in flight
    assert not pending.replaces
    await h.replace_accepted(cid)  # the old terms go REPLACED: the order still works
    assert strategy(h).states["AAPL"].working is not None
    again = await h.quote("AAPL", bid="98.70", ask="98.80")
    assert [r.price for r in again.replaces] == [Decimal("98.70")]
    assert not again.submitted
    assert len(h.commands.submitted) == 1


async def test_a_working_order_is_canceled_when_stale_or_when_the_mid_reverts() -> None:
    h = harness(max_order_age=10.0)
    await warm_up(h)
    [old] = (await h.quote("AAPL", bid="98.85", ask="98.95")).intents
    h.advance(11)
    stale = await h.quote("AAPL", bid="98.85", ask="98.95")
    assert [c.client_order_id for c in stale.cancels] == [old.client_order_id]
    again = await h.quote("AAPL", bid="98.80", ask="98.90")
    assert (again.cancels, again.submitted) == ([], [])  # asked once; waiting for the venue
    await h.canceled(old.client_order_id)
    assert strategy(h).states["AAPL"].working is None

    h = harness()
    await warm_up(h)
    [buy] = (await h.quote("AAPL", bid="98.85", ask="98.95")).intents
    reverted = await h.quote("AAPL", bid="99.95", ask="100.05")  # mid back above the mean
    assert [c.client_order_id for c in reverted.cancels] == [buy.client_order_id]


async def test_a_rejection_pauses_the_symbol_with_a_doubling_backoff() -> None:
    # A long window, so the repeated low quotes hardly move the mean: each one is a signal.
    h = harness(window=20, backoff=5.0, max_order_age=1000.0)
    await warm_up(h, times=20)
    [first] = (await h.quote("AAPL", bid="97.95", ask="98.05")).intents
    await h.reject(first.client_order_id, "INSUFFICIENT_BUYING_POWER", source="risk")
    h.advance(4.9)
    assert not (await h.quote("AAPL", bid="97.95", ask="98.05")).submitted
    h.advance(0.2)
    [second] = (await h.quote("AAPL", bid="97.95", ask="98.05")).intents
    await h.reject(second.client_order_id, "PRICE_BAND", source="venue")
    h.advance(9.9)  # the second rejection in a row pauses 10 s
    assert not (await h.quote("AAPL", bid="97.95", ask="98.05")).submitted
    h.advance(0.2)
    [third] = (await h.quote("AAPL", bid="97.95", ask="98.05")).intents
    await h.accept(third.client_order_id)
    assert strategy(h).states["AAPL"].rejections == 0


async def test_a_refused_replace_keeps_the_order_on_its_old_price_and_pauses_replacing() -> None:
    h = harness(backoff=5.0, max_order_age=1000.0)
    await warm_up(h)
    [intent] = (await h.quote("AAPL", bid="98.85", ask="98.95")).intents
    cid = intent.client_order_id
    await h.accept(cid)
    [replace] = (await h.quote("AAPL", bid="98.80", ask="98.90")).replaces
    await h.reject(cid, "PRICE_BAND", source="risk", replace=True)
    working = strategy(h).states["AAPL"].working
    assert working is not None
    assert (working.client_order_id, working.price) == (cid, Decimal("98.85"))
    paused = await h.quote("AAPL", bid="98.80", ask="98.90")
    assert (paused.replaces, paused.submitted) == ([], [])
    h.advance(5.1)
    resumed = await h.quote("AAPL", bid="98.80", ask="98.90")
    assert [(r.client_order_id, r.price) for r in resumed.replaces] == [(cid, replace.price)]


async def test_fills_update_the_position_from_the_account_and_the_limit_holds() -> None:
    h = harness(qty="10", max_position="15", max_order_age=1000.0)
    await warm_up(h)
    [first] = (await h.quote("AAPL", bid="98.85", ask="98.95")).intents
    await h.accept(first.client_order_id)
    await h.fill(first.client_order_id, qty=4)
    state = strategy(h).states["AAPL"]
    assert state.position == Decimal(4)
    assert state.working is not None  # 6 still working
    await h.fill(first.client_order_id)
    assert state.position == Decimal(10)
    assert strategy(h).states["AAPL"].working is None  # filled: nothing works any more
    [second] = (await h.quote("AAPL", bid="98.50", ask="98.60")).intents
    assert (second.side, second.qty) == (Side.BUY, Decimal(5))  # cut to the 15-share limit
    await h.fill(second.client_order_id)
    assert state.position == Decimal(15)
    assert not (await h.quote("AAPL", bid="98.00", ask="98.10")).submitted


async def test_against_the_simulator_an_order_is_placed_and_accepted() -> None:
    """Live: the engine, the simulator and real loopback sockets (no replace, no sleep)."""
    name = "mean-rev"
    config = engine_config(
        strategies=[
            {
                "name": name,
                "path": PATH,
                "account": "SIM-001",
                "config": {
                    "symbols": ["AAPL"],
                    "window": 3,
                    "k": "0",  # any mid below the mean of the last three is a signal
                    "qty": "5",
                    "replace_ticks": 1_000_000,  # keep the order's terms: nothing to replace
                    "max_order_age": 600.0,
                },
            }
        ]
    )
    async with running_engine(config) as engine:
        events = engine.bus.subscribe("test", accepts=(OrderUpdated, OrderFilled))
        seen: list[Event] = []

        def placed(event: Event) -> bool:
            return (
                isinstance(event, OrderUpdated)
                and event.strategy == name
                and event.order.status in (OrderStatus.NEW, OrderStatus.FILLED)
            )

        with trio.fail_after(10):
            update = await wait_for(events, placed, seen=seen)
        [loaded] = [p for p in engine.host.plugins if p.name == name]
    assert isinstance(update, OrderUpdated)
    order = update.order
    assert isinstance(loaded.obj, MeanReversion)
    assert isinstance(loaded.obj.config, MeanReversionConfig)
    assert (order.symbol, order.side, order.qty, order.account_id) == (
        "AAPL",
        Side.BUY,
        Decimal(5),
        "SIM-001",
    )
    assert order.price is not None
    assert order.price > 0
