"""The believable venue (pure ledger): partial fills, TIFs, trailing stops, replace, latency
states, venue rejections, options and the money formulas."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from engine.sim import SimAccount, SimPosition
from engine.sim._ledger import (
    BalanceUpdate,
    CancelOutcome,
    Ledger,
    OrderUpdate,
    PositionUpdate,
)
from engine.sim._market import MarketModel
from engine.sim._options import osi_symbol
from engine.sim._profile import (
    REJECT_INSUFFICIENT_BUYING_POWER,
    REJECT_OPTIONS_LEVEL,
    REJECT_SHORT_IN_CASH_ACCOUNT,
)
from engine.sim._requests import CancelRequest, ReplaceRequest
from engine.sim._vocab import OrderType, OrdStatus, Side
from tests.sim.helpers import ledger_setup, order_request

NOW = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
D = Decimal


def _setup(*accounts: SimAccount) -> tuple[Ledger, MarketModel]:
    return ledger_setup(*accounts, touch_size=300)


_order = order_request


def _orders(updates: Any) -> list[tuple[str, str, str]]:
    """(clOrdId, status, lastQty) of every order update."""
    return [
        (u.order.cl_ord_id, u.order.status.value, "" if u.last_qty is None else str(u.last_qty))
        for u in updates
        if isinstance(u, OrderUpdate)
    ]


def _kinds(updates: Any) -> list[str]:
    out = []
    for u in updates:
        if isinstance(u, OrderUpdate):
            out.append(u.order.status.value)
        elif isinstance(u, PositionUpdate):
            out.append("position")
        elif isinstance(u, BalanceUpdate):
            out.append("balance")
    return out


# -- partial fills ------------------------------------------------------------------------------


def test_large_market_order_fills_over_several_ticks_against_the_displayed_size() -> None:
    ledger, market = _setup()
    placed = ledger.place(_order(qty=D(700)), NOW)
    assert _kinds(placed.updates) == [
        "PENDING_NEW", "NEW", "PARTIALLY_FILLED", "position", "balance",
    ]  # fmt: skip
    first = placed.updates[2]
    assert isinstance(first, OrderUpdate)
    assert (first.last_qty, first.order.cum_qty, first.order.leaves_qty) == (D(300), D(300), D(400))
    assert ledger.match(NOW) == []  # the same tick's size is used up
    market.step()
    market.force_quote("AAPL", bid=D("100.01"), ask=D("100.03"), bid_size=200, ask_size=200)
    second = ledger.match(NOW)[0]
    assert isinstance(second, OrderUpdate)
    assert second.order.status is OrdStatus.PARTIALLY_FILLED
    assert (second.last_qty, second.last_px, second.order.cum_qty) == (D(200), D("100.03"), D(500))
    market.step()
    market.force_quote("AAPL", bid=D("100.01"), ask=D("100.05"), bid_size=900, ask_size=900)
    last = ledger.match(NOW)[0]
    assert isinstance(last, OrderUpdate)
    assert last.order.status is OrdStatus.FILLED
    assert last.last_qty == D(200)
    expected_avg = (D(300) * D("100.01") + D(200) * D("100.03") + D(200) * D("100.05")) / 700
    assert last.order.avg_price == expected_avg
    position = ledger.position("A1", "AAPL")
    assert position is not None
    assert position.quantity == D(700)


def test_two_orders_share_the_displayed_size_within_a_tick() -> None:
    ledger, _ = _setup()
    ledger.place(_order(qty=D(200)), NOW)
    second = ledger.place(_order(qty=D(200)), NOW)
    assert second.updates[2].order.cum_qty == D(100)  # type: ignore[union-attr]


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    ledger, _ = _setup()
    result = ledger.place(_order(qty=D(500), time_in_force="IOC"), NOW)
    assert _kinds(result.updates) == [
        "PENDING_NEW", "NEW", "PARTIALLY_FILLED", "position", "CANCELED", "balance",
    ]  # fmt: skip
    canceled = result.updates[4]
    assert isinstance(canceled, OrderUpdate)
    assert (canceled.order.cum_qty, canceled.order.leaves_qty) == (D(300), D(0))
    assert ledger.balance("A1").pending_orders_count == 0


def test_fok_fills_in_full_or_is_canceled_untouched() -> None:
    ledger, _ = _setup()
    too_big = ledger.place(_order(qty=D(500), time_in_force="FOK"), NOW)
    assert _kinds(too_big.updates) == ["PENDING_NEW", "NEW", "CANCELED", "balance"]
    assert ledger.position("A1", "AAPL") is None
    fits = ledger.place(_order(qty=D(300), time_in_force="FOK"), NOW)
    assert _kinds(fits.updates) == ["PENDING_NEW", "NEW", "FILLED", "position", "balance"]


# -- stops ---------------------------------------------------------------------------------------


def test_stop_limit_triggers_then_waits_for_its_limit() -> None:
    ledger, market = _setup()
    ledger.place(_order(type=OrderType.STOP_LIMIT, stop_price=D("101.00"), price=D("101.00")), NOW)
    market.force_quote("AAPL", bid=D("101.02"), ask=D("101.04"))
    assert _kinds(ledger.match(NOW)) == []  # triggered, but the ask is above the limit
    market.force_quote("AAPL", bid=D("100.97"), ask=D("100.99"))
    assert _kinds(ledger.match(NOW)) == ["FILLED", "position", "balance"]


def test_trailing_stop_sell_by_dollars_follows_the_bid_up_and_fires_on_the_way_down() -> None:
    ledger, market = _setup(
        SimAccount(account_id="A1", positions=(SimPosition("AAPL", D(100), D("90")),))
    )
    placed = ledger.place(
        _order(
            side=Side.SELL,
            type=OrderType.TRAILING_STOP,
            trail_offset=D("1.00"),
            trail_offset_type="DOLLAR",
        ),
        NOW,
    )
    assert placed.order.stop_price == D("98.99")
    market.force_quote("AAPL", bid=D("102.00"), ask=D("102.02"))
    assert ledger.match(NOW) == []
    order = ledger.order("A1", placed.order.cl_ord_id)
    assert order is not None
    assert order.stop_price == D("101.00")
    market.force_quote("AAPL", bid=D("101.50"), ask=D("101.52"))
    assert ledger.match(NOW) == []  # the stop never moves down
    market.force_quote("AAPL", bid=D("100.90"), ask=D("100.92"))
    fill = ledger.match(NOW)[0]
    assert isinstance(fill, OrderUpdate)
    assert fill.order.status is OrdStatus.FILLED
    assert fill.last_px == D("100.90")


def test_trailing_stop_buy_by_percent() -> None:
    ledger, market = _setup()
    placed = ledger.place(
        _order(type=OrderType.TRAILING_STOP, trail_offset=D(2), trail_offset_type="PERCENT"), NOW
    )
    assert placed.order.stop_price == D("102.01")  # 100.01 + 2 %
    market.force_quote("AAPL", bid=D("94.99"), ask=D("95.01"))
    ledger.match(NOW)
    order = ledger.order("A1", placed.order.cl_ord_id)
    assert order is not None
    assert order.stop_price == D("96.91")
    market.force_quote("AAPL", bid=D("96.95"), ask=D("96.97"))
    assert _kinds(ledger.match(NOW)) == ["FILLED", "position", "balance"]


# -- cancel / replace / latency ----------------------------------------------------------------


def test_replace_issues_a_new_cl_ord_id_and_the_old_one_turns_replaced_and_stale() -> None:
    ledger, market = _setup()
    placed = ledger.place(_order(type=OrderType.LIMIT, price=D("95.00"), qty=D(100)), NOW)
    old_id = placed.order.cl_ord_id
    request = ReplaceRequest(
        orig_cl_ord_id=old_id, account_id="A1", symbol="AAPL", qty=D(200), price=D("96.00")
    )
    result = ledger.replace(request, NOW)
    assert result.outcome is CancelOutcome.CANCELED
    new_id = result.new_cl_ord_id
    assert new_id is not None
    assert new_id != old_id
    assert _orders(result.updates) == [
        (old_id, "PENDING_REPLACE", ""),
        (old_id, "REPLACED", ""),
        (new_id, "NEW", ""),
    ]
    assert ledger.balance("A1").held_back_funds == D("19200.00")
    assert ledger.replace(request, NOW).outcome is CancelOutcome.STALE
    stale_cancel = CancelRequest(orig_cl_ord_id=old_id, account_id="A1", symbol="AAPL")
    assert ledger.cancel(stale_cancel, NOW).outcome is CancelOutcome.STALE
    market.force_quote("AAPL", bid=D("95.90"), ask=D("95.92"), ask_size=1000)
    fill = ledger.match(NOW)[0]
    assert isinstance(fill, OrderUpdate)
    assert (fill.order.cl_ord_id, fill.order.status, fill.last_qty) == (
        new_id,
        OrdStatus.FILLED,
        D(200),
    )


def test_replace_keeps_executions_and_refuses_a_qty_below_them() -> None:
    ledger, _ = _setup()
    placed = ledger.place(_order(qty=D(500), type=OrderType.LIMIT, price=D("100.01")), NOW)
    assert placed.updates[2].order.cum_qty == D(300)  # type: ignore[union-attr]
    cl = placed.order.cl_ord_id
    too_small = ReplaceRequest(orig_cl_ord_id=cl, account_id="A1", symbol="AAPL", qty=D(300))
    assert ledger.replace(too_small, NOW).outcome is CancelOutcome.INVALID
    ok = ReplaceRequest(orig_cl_ord_id=cl, account_id="A1", symbol="AAPL", qty=D(400))
    result = ledger.replace(ok, NOW)
    assert result.replacement is not None
    assert result.replacement.status is OrdStatus.PARTIALLY_FILLED
    assert (result.replacement.cum_qty, result.replacement.leaves_qty) == (D(300), D(100))


def test_replace_beyond_buying_power_is_rejected_and_the_order_stays() -> None:
    ledger, _ = _setup(SimAccount(account_id="A1", account_type="CASH", cash=D(10000)))
    placed = ledger.place(_order(type=OrderType.LIMIT, price=D("90.00")), NOW)
    big = ReplaceRequest(
        orig_cl_ord_id=placed.order.cl_ord_id, account_id="A1", symbol="AAPL", qty=D(1000)
    )
    result = ledger.replace(big, NOW)
    assert result.outcome is CancelOutcome.REJECTED
    assert result.detail == REJECT_INSUFFICIENT_BUYING_POWER
    order = ledger.order("A1", placed.order.cl_ord_id)
    assert order is not None
    assert order.status is OrdStatus.NEW


def test_deferred_place_stays_pending_new_until_activated() -> None:
    ledger, _ = _setup()
    placed = ledger.place(_order(), NOW, defer=True)
    assert placed.order.status is OrdStatus.PENDING_NEW
    assert _kinds(placed.updates) == ["PENDING_NEW", "balance"]
    assert ledger.balance("A1").pending_orders_count == 1
    assert ledger.balance("A1").held_back_funds == D("10001.00")
    assert ledger.match(NOW) == []  # not live yet
    updates = ledger.activate("A1", placed.order.cl_ord_id, NOW)
    assert _kinds(updates) == ["NEW", "FILLED", "position", "balance"]
    assert ledger.activate("A1", placed.order.cl_ord_id, NOW) == []


def test_a_fill_can_race_a_deferred_cancel() -> None:
    ledger, market = _setup()
    placed = ledger.place(_order(type=OrderType.LIMIT, price=D("95.00")), NOW)
    cl = placed.order.cl_ord_id
    result = ledger.cancel(
        CancelRequest(orig_cl_ord_id=cl, account_id="A1", symbol="AAPL"), NOW, defer=True
    )
    assert _kinds(result.updates) == ["PENDING_CANCEL"]
    market.force_quote("AAPL", bid=D("94.90"), ask=D("94.95"), ask_size=1000)
    assert _kinds(ledger.match(NOW)) == ["FILLED", "position", "balance"]
    assert ledger.complete_cancel("A1", cl, NOW) == []  # the fill won
    order = ledger.order("A1", cl)
    assert order is not None
    assert order.status is OrdStatus.FILLED


def test_deferred_cancel_of_a_pending_new_order_wins() -> None:
    ledger, _ = _setup()
    placed = ledger.place(_order(), NOW, defer=True)
    cl = placed.order.cl_ord_id
    ledger.cancel(CancelRequest(orig_cl_ord_id=cl, account_id="A1", symbol="AAPL"), NOW, defer=True)
    assert ledger.match(NOW) == []
    assert _kinds(ledger.complete_cancel("A1", cl, NOW)) == ["CANCELED", "balance"]
    assert ledger.activate("A1", cl, NOW) == []


def test_deferred_replace_completes_later() -> None:
    ledger, _ = _setup()
    placed = ledger.place(_order(type=OrderType.LIMIT, price=D("95.00")), NOW)
    cl = placed.order.cl_ord_id
    request = ReplaceRequest(orig_cl_ord_id=cl, account_id="A1", symbol="AAPL", price=D("94.00"))
    result = ledger.replace(request, NOW, defer=True)
    assert _kinds(result.updates) == ["PENDING_REPLACE"]
    assert result.replacement is None
    done = ledger.complete_replace("A1", cl, NOW)
    assert [s for _, s, _ in _orders(done)] == ["REPLACED", "NEW"]


def test_day_orders_expire_at_the_close_gtc_orders_stay() -> None:
    ledger, _ = _setup()
    ledger.place(_order(type=OrderType.LIMIT, price=D("95.00")), NOW)
    ledger.place(_order(type=OrderType.LIMIT, price=D("95.00"), time_in_force="GTC"), NOW)
    assert [s for _, s, _ in _orders(ledger.expire_day_orders(NOW))] == ["EXPIRED"]
    assert ledger.balance("A1").pending_orders_count == 1


# -- venue rejections ------------------------------------------------------------------------


def test_short_sale_in_a_cash_account_is_rejected_with_a_reason() -> None:
    ledger, _ = _setup(
        SimAccount(
            account_id="A1",
            account_type="CASH",
            positions=(SimPosition("AAPL", D(50), D("90")),),
        )
    )
    short = ledger.place(_order(side=Side.SELL_SHORT), NOW)
    assert short.order.rej_reason == REJECT_SHORT_IN_CASH_ACCOUNT
    oversell = ledger.place(_order(side=Side.SELL, qty=D(100)), NOW)
    assert oversell.order.status is OrdStatus.REJECTED
    assert oversell.order.rej_reason == REJECT_SHORT_IN_CASH_ACCOUNT
    assert ledger.place(_order(side=Side.SELL, qty=D(50)), NOW).accepted


def _option(market: MarketModel, put_call: str = "CALL") -> str:
    chain = market.option_chain("AAPL", NOW.date())
    strikes = sorted({c.strike for c in chain})
    expiry = min(c.expiry for c in chain)
    return osi_symbol("AAPL", expiry, put_call, strikes[len(strikes) // 2])


def test_option_buy_needs_level_2_and_is_paid_from_cash() -> None:
    ledger, market = _setup(
        SimAccount(account_id="A1", options_level="LEVEL_1"), SimAccount(account_id="A2")
    )
    symbol = _option(market)
    low = ledger.place(_order(symbol=symbol, qty=D(2)), NOW)
    assert low.order.rej_reason == REJECT_OPTIONS_LEVEL
    ok = ledger.place(_order(account_id="A2", symbol=symbol, qty=D(2)), NOW)
    assert ok.accepted
    assert ok.order.security_type == "OPTION"
    fill = ok.updates[2]
    assert isinstance(fill, OrderUpdate)
    assert fill.order.status is OrdStatus.FILLED
    assert fill.last_px is not None
    premium = D(2) * fill.last_px * 100
    balance = ledger.balance("A2")
    assert balance.cash == D(100000) - premium
    position = ledger.position("A2", symbol)
    assert position is not None
    assert position.security_type == "OPTION"
    assert position.market_value == D(2) * position.mark * 100
    # long options are not marginable: they come off the equity before the × 2
    assert balance.stock_buying_power == (balance.total_equity - position.market_value) * 2
    assert balance.maint_req == position.market_value


def test_naked_option_sale_needs_level_4_but_a_covered_call_needs_level_1() -> None:
    ledger, market = _setup(
        SimAccount(
            account_id="A1",
            options_level="LEVEL_1",
            positions=(SimPosition("AAPL", D(100), D("90")),),
        )
    )
    symbol = _option(market)
    covered = ledger.place(_order(symbol=symbol, side=Side.SELL, qty=D(1)), NOW)
    assert covered.accepted, covered.order.rej_reason
    naked = ledger.place(_order(symbol=symbol, side=Side.SELL, qty=D(5)), NOW)
    assert naked.order.rej_reason == REJECT_OPTIONS_LEVEL


def test_option_buying_power_is_checked() -> None:
    ledger, market = _setup(SimAccount(account_id="A1", account_type="CASH", cash=D(100)))
    result = ledger.place(_order(symbol=_option(market, "PUT"), qty=D(10)), NOW)  # deep ITM
    assert result.order.rej_reason == REJECT_INSUFFICIENT_BUYING_POWER


# -- money ---------------------------------------------------------------------------------------


def test_maintenance_is_25_percent_long_and_30_percent_short_on_margin() -> None:
    ledger, _ = _setup(
        SimAccount(
            account_id="A1",
            positions=(
                SimPosition("AAPL", D(100), D("90")),
                SimPosition("MSFT", D(-10), D("410")),
            ),
        )
    )
    balance = ledger.balance("A1")
    long_mv, short_mv = D(100) * D("100.00"), D(10) * D("400.00")
    assert balance.maint_req == D("0.25") * long_mv + D("0.30") * short_mv
    assert balance.total_equity == D(100000) + long_mv - short_mv
    assert balance.unrealized_pl == D(100) * D(10) + D(-10) * D(-10)
    assert balance.sod_positions_market_value == long_mv + short_mv
    assert balance.stock_buying_power == balance.total_equity * 2 - (long_mv + short_mv)


def test_cash_account_maintenance_is_the_whole_position() -> None:
    ledger, _ = _setup(
        SimAccount(
            account_id="A1", account_type="CASH", positions=(SimPosition("AAPL", D(10), D("90")),)
        )
    )
    assert ledger.balance("A1").maint_req == D("1000.00")


def test_holds_cover_open_buys_and_short_sales() -> None:
    ledger, _ = _setup()
    ledger.place(_order(type=OrderType.LIMIT, price=D("90.00")), NOW)
    ledger.place(_order(side=Side.SELL_SHORT, type=OrderType.LIMIT, price=D("110.00")), NOW)
    ledger.place(_order(side=Side.SELL, type=OrderType.LIMIT, price=D("120.00")), NOW)
    balance = ledger.balance("A1")
    assert balance.held_back_funds == D(9000) + D(11000)
    assert balance.pending_orders_margin_requirements == D(10000)
    assert balance.pending_orders_count == 3
    assert balance.stock_buying_power == D(200000) - D(20000)
    assert balance.option_buying_power == D(100000) - D(20000)


def test_realized_unrealized_and_flows_are_consistent() -> None:
    ledger, market = _setup(SimAccount(account_id="A1", pattern_day_trader=True))
    ledger.place(_order(qty=D(200)), NOW)
    market.step()
    market.force_quote("AAPL", bid=D("101.00"), ask=D("101.02"), bid_size=500)
    ledger.place(_order(side=Side.SELL, qty=D(100)), NOW)
    balance = ledger.balance("A1")
    assert balance.value_bought == D("20002.00")
    assert balance.value_sold == D("10100.00")
    assert balance.realized_pl == D("99.00")
    position = ledger.position("A1", "AAPL")
    assert position is not None
    assert position.today_realized_pnl == D("99.00")
    assert balance.unrealized_pl == (D("101.01") - D("100.01")) * 100
    assert balance.cash == D(100000) - D("20002.00") + D("10100.00")
    assert balance.unsettled_funds == D("10100.00")
    assert balance.settled_funds == balance.cash - balance.unsettled_funds
    assert balance.total_equity == balance.cash + D("101.01") * 100
    assert balance.day_trade_buying_power == (balance.total_equity - balance.maint_req) * 4
    assert balance.start_of_day_cash == D(100000)


def test_preview_reports_cost_and_the_rejection_placing_would_get() -> None:
    ledger, _ = _setup(SimAccount(account_id="A1", account_type="CASH", cash=D(5000)))
    cost, margin, reason = ledger.preview(_order(qty=D(10)))
    assert (cost, margin, reason) == (D("1000.10"), D(0), None)
    assert ledger.preview(_order(qty=D(100)))[2] == REJECT_INSUFFICIENT_BUYING_POWER
    assert ledger.balance("A1").pending_orders_count == 0


@pytest.mark.parametrize("level", ["LEVEL_0", "LEVEL_1"])
def test_closing_an_option_is_allowed_at_any_level(level: str) -> None:
    market = MarketModel(("AAPL",), random.Random(1))
    symbol = _option(market)
    ledger = Ledger(
        [
            SimAccount(
                account_id="A1", options_level=level, positions=(SimPosition(symbol, D(2), D(1)),)
            )
        ],
        market,
        opened_at=NOW,
    )
    assert ledger.place(_order(symbol=symbol, side=Side.SELL, qty=D(2)), NOW).accepted
    assert date(2026, 1, 15) == NOW.date()
