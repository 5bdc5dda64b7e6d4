"""Per-account truth and matching: lifecycle, fills, positions, P&L and buying power (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.sim import SimAccount, SimPosition
from engine.sim._ledger import (
    BalanceUpdate,
    CancelOutcome,
    Ledger,
    OrderUpdate,
    PositionUpdate,
)
from engine.sim._market import MarketModel
from engine.sim._requests import CancelRequest
from engine.sim._vocab import OrderType, OrdStatus, Side
from tests.sim.helpers import ledger_setup, order_request

NOW = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
D = Decimal


def _setup(*accounts: SimAccount) -> tuple[Ledger, MarketModel]:
    return ledger_setup(*accounts)


_order = order_request


def _statuses(updates: tuple[Any, ...] | list[Any]) -> list[str]:
    out = []
    for u in updates:
        if isinstance(u, OrderUpdate):
            out.append(u.order.status.value)
        elif isinstance(u, PositionUpdate):
            out.append("position")
        elif isinstance(u, BalanceUpdate):
            out.append("balance")
    return out


def test_fresh_margin_account_has_twice_its_cash_as_buying_power() -> None:
    ledger, _ = _setup()
    balance = ledger.balance("A1")
    assert balance.stock_buying_power == D(200000)
    assert balance.net_buying_power == D(200000)
    assert balance.day_trade_buying_power == D(200000)  # not a pattern day trader
    assert balance.option_buying_power == D(100000)
    assert balance.total_equity == D(100000)
    assert balance.credit_multiplier == D(2)
    assert balance.pending_orders_count == 0


def test_pattern_day_trader_gets_four_times_maintenance_excess() -> None:
    ledger, _ = _setup(SimAccount(account_id="A1", pattern_day_trader=True))
    assert ledger.balance("A1").day_trade_buying_power == D(400000)
    assert ledger.info("A1").pattern_day_trader


def test_cash_account_buying_power_is_cash() -> None:
    ledger, _ = _setup(SimAccount(account_id="A1", account_type="CASH", cash=D(5000)))
    balance = ledger.balance("A1")
    assert balance.stock_buying_power == D(5000)
    assert balance.day_trade_buying_power == D(5000)
    assert balance.credit_multiplier == D(1)


def test_market_buy_fills_at_the_ask_and_updates_position_cash_and_buying_power() -> None:
    ledger, _ = _setup()
    result = ledger.place(_order(), NOW)
    assert result.accepted
    assert result.order.status is OrdStatus.NEW
    assert result.order.client_id == "c-1"
    assert _statuses(result.updates) == ["PENDING_NEW", "NEW", "FILLED", "position", "balance"]
    fill = result.updates[2]
    assert isinstance(fill, OrderUpdate)
    assert fill.last_qty == D(100)
    assert fill.last_px == D("100.01")
    assert fill.order.cum_qty == D(100)
    assert fill.order.leaves_qty == 0
    assert fill.order.avg_price == D("100.01")
    position = result.updates[3]
    assert isinstance(position, PositionUpdate)
    assert position.position.quantity == D(100)
    assert position.position.avg_price == D("100.01")
    assert position.position.market_value == D("10000.00")
    assert position.position.unrealized_pnl == D("-1.00")
    balance = ledger.balance("A1")
    assert balance.cash == D("89999.00")
    assert balance.total_equity == D("99999.00")
    # equity × 2 − gross position value: 199998 − 10000
    assert balance.stock_buying_power == D("189998.00")
    assert balance.value_bought == D("10001.00")
    assert balance.pending_orders_count == 0


def test_market_sell_fills_at_the_bid_and_realizes_pnl() -> None:
    ledger, market = _setup()
    ledger.place(_order(), NOW)
    market.force_quote("AAPL", bid=D("101.99"), ask=D("102.01"))
    result = ledger.place(_order(side=Side.SELL), NOW)
    fill = result.updates[2]
    assert isinstance(fill, OrderUpdate)
    assert fill.last_px == D("101.99")
    position = ledger.position("A1", "AAPL")
    assert position is not None
    assert position.quantity == 0
    assert position.today_realized_pnl == D("198.00")
    balance = ledger.balance("A1")
    assert balance.realized_pl == D("198.00")
    assert balance.cash == D("100198.00")
    assert balance.unsettled_funds == D("10199.00")
    assert ledger.snapshot("A1").positions == ()


def test_limit_buy_away_from_market_rests_and_holds_funds_until_crossed() -> None:
    ledger, market = _setup()
    result = ledger.place(_order(type=OrderType.LIMIT, price=D("95.00")), NOW)
    assert _statuses(result.updates) == ["PENDING_NEW", "NEW", "balance"]
    balance = ledger.balance("A1")
    assert balance.held_back_funds == D("9500.00")
    assert balance.pending_orders_count == 1
    assert balance.stock_buying_power == D(200000) - D("9500.00")
    assert ledger.match(NOW) == []
    market.force_quote("AAPL", bid=D("94.96"), ask=D("94.98"))
    updates = ledger.match(NOW)
    assert _statuses(updates) == ["FILLED", "position", "balance"]
    fill = updates[0]
    assert isinstance(fill, OrderUpdate)
    assert fill.last_px == D("94.98")  # at the limit or better
    assert ledger.balance("A1").held_back_funds == 0


def test_limit_sell_fills_when_the_bid_reaches_it() -> None:
    ledger, market = _setup(
        SimAccount(account_id="A1", positions=(SimPosition("AAPL", D(100), D("90.00")),))
    )
    result = ledger.place(_order(side=Side.SELL, type=OrderType.LIMIT, price=D("105.00")), NOW)
    assert _statuses(result.updates) == ["PENDING_NEW", "NEW", "balance"]
    market.force_quote("AAPL", bid=D("105.02"), ask=D("105.04"))
    updates = ledger.match(NOW)
    fill = updates[0]
    assert isinstance(fill, OrderUpdate)
    assert fill.last_px == D("105.02")
    position = ledger.position("A1", "AAPL")
    assert position is not None
    assert position.today_realized_pnl == D("1502.00")


def test_marketable_limit_fills_at_once_at_the_touch() -> None:
    ledger, _ = _setup()
    result = ledger.place(_order(type=OrderType.LIMIT, price=D("101.00")), NOW)
    fill = result.updates[2]
    assert isinstance(fill, OrderUpdate)
    assert fill.last_px == D("100.01")


def test_ioc_limit_not_marketable_is_canceled() -> None:
    ledger, _ = _setup()
    result = ledger.place(_order(type=OrderType.LIMIT, price=D("90.00"), time_in_force="IOC"), NOW)
    assert _statuses(result.updates) == ["PENDING_NEW", "NEW", "CANCELED", "balance"]
    assert ledger.balance("A1").pending_orders_count == 0


def test_stop_buy_triggers_when_the_ask_rises_to_the_stop() -> None:
    ledger, market = _setup()
    result = ledger.place(_order(type=OrderType.STOP, stop_price=D("101.00")), NOW)
    assert _statuses(result.updates) == ["PENDING_NEW", "NEW", "balance"]
    market.force_quote("AAPL", bid=D("101.00"), ask=D("101.02"))
    updates = ledger.match(NOW)
    fill = updates[0]
    assert isinstance(fill, OrderUpdate)
    assert fill.last_px == D("101.02")


def test_cancel_goes_through_pending_cancel_and_is_final() -> None:
    ledger, _ = _setup()
    placed = ledger.place(_order(type=OrderType.LIMIT, price=D("95.00")), NOW)
    cl_ord_id = placed.order.cl_ord_id
    request = CancelRequest(orig_cl_ord_id=cl_ord_id, account_id="A1", symbol="AAPL")
    result = ledger.cancel(request, NOW)
    assert result.outcome is CancelOutcome.CANCELED
    assert _statuses(result.updates) == ["PENDING_CANCEL", "CANCELED", "balance"]
    assert all(u.order.cl_ord_id == cl_ord_id for u in result.updates if isinstance(u, OrderUpdate))
    assert result.cancel_cl_ord_id not in (None, cl_ord_id)
    assert ledger.balance("A1").held_back_funds == 0
    assert ledger.cancel(request, NOW).outcome is CancelOutcome.NOT_CANCELABLE
    unknown = CancelRequest(orig_cl_ord_id="nope", account_id="A1", symbol="AAPL")
    assert ledger.cancel(unknown, NOW).outcome is CancelOutcome.NOT_FOUND
    other = CancelRequest(orig_cl_ord_id=cl_ord_id, account_id="A1", symbol="MSFT")
    assert ledger.cancel(other, NOW).outcome is CancelOutcome.SYMBOL_MISMATCH


def test_insufficient_buying_power_rejects_with_one_update() -> None:
    ledger, _ = _setup(SimAccount(account_id="A1", account_type="CASH", cash=D(1000)))
    result = ledger.place(_order(), NOW)
    assert not result.accepted
    assert result.order.status is OrdStatus.REJECTED
    assert result.order.rej_reason
    assert _statuses(result.updates) == ["REJECTED"]
    assert ledger.balance("A1").cash == D(1000)


def test_short_sale_needs_a_margin_account() -> None:
    ledger, _ = _setup(SimAccount(account_id="A1", account_type="CASH"))
    result = ledger.place(_order(side=Side.SELL_SHORT), NOW)
    assert result.order.status is OrdStatus.REJECTED


def test_short_sale_and_cover_on_margin() -> None:
    ledger, market = _setup()
    ledger.place(_order(side=Side.SELL_SHORT), NOW)
    position = ledger.position("A1", "AAPL")
    assert position is not None
    assert position.quantity == D(-100)
    assert position.market_value == D("-10000.00")
    balance = ledger.balance("A1")
    assert balance.cash == D("109999.00")
    assert balance.total_equity == D("99999.00")
    market.force_quote("AAPL", bid=D("97.99"), ask=D("98.01"))
    ledger.place(_order(side=Side.BUY_TO_COVER), NOW)
    position = ledger.position("A1", "AAPL")
    assert position is not None
    assert position.quantity == 0
    assert position.today_realized_pnl == D("198.00")


def test_unknown_symbol_is_rejected() -> None:
    ledger, _ = _setup()
    assert ledger.place(_order(symbol="NOPE"), NOW).order.status is OrdStatus.REJECTED


def test_snapshot_lists_positions_and_all_orders_of_the_day() -> None:
    ledger, _ = _setup(
        SimAccount(account_id="A1", positions=(SimPosition("MSFT", D(10), D("390.00")),)),
        SimAccount(account_id="A2"),
    )
    ledger.place(_order(type=OrderType.LIMIT, price=D("95.00")), NOW)
    ledger.place(_order(), NOW)
    snapshot = ledger.snapshot("A1")
    assert [p.symbol for p in snapshot.positions] == ["MSFT", "AAPL"]
    assert [o.status for o in snapshot.orders] == [OrdStatus.NEW, OrdStatus.FILLED]
    assert snapshot.balance.sod_positions_market_value == D("4000.00")
    assert snapshot.info.account_type == "MARGIN"
    assert ledger.snapshot("A2").orders == ()
    assert ledger.owns("A2")
    assert not ledger.owns("A3")
