"""Hard limits: order size, position per symbol, gross exposure, working orders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.model import OrderType, Position, SecurityType, Side
from plugins.limits import (
    GrossExposureConfig,
    GrossExposureLimit,
    OpenOrderLimit,
    OpenOrderLimitConfig,
    OrderSizeConfig,
    OrderSizeLimit,
    PositionLimit,
    PositionLimitConfig,
)
from tests.plugins._risk import (
    ACCOUNT,
    NOW,
    SECOND,
    D,
    gate,
    intent,
    order,
    quote,
    quotes,
    rejected,
    view,
)

# --- OrderSizeLimit ------------------------------------------------------------------------------

size = OrderSizeLimit(OrderSizeConfig(max_order_qty=D(500), max_order_notional=D(20000)))


def test_an_order_within_size_limits_passes() -> None:
    assert size.aries_check_order(intent(qty="200", price="100"), {}, NOW) is None


def test_too_many_shares_is_rejected() -> None:
    details = rejected(
        size.aries_check_order(intent(qty="501", price="1"), {}, NOW), "MAX_ORDER_QTY"
    )
    assert details == {"qty": "501", "max_order_qty": "500"}


def test_too_many_dollars_is_rejected() -> None:
    verdict = size.aries_check_order(intent(qty="201", price="100"), {}, NOW)
    details = rejected(verdict, "MAX_ORDER_NOTIONAL")
    assert details == {
        "notional": "20100",
        "qty": "201",
        "price": "100",
        "max_order_notional": "20000",
    }
    assert verdict is not None
    assert "20100" in verdict.reason


def test_market_and_option_notional() -> None:
    book = quotes(quote(ask="100"))
    details = rejected(
        size.aries_check_order(intent(qty="199", price=None), book, NOW), "MAX_ORDER_NOTIONAL"
    )
    assert details["notional"] == "20099.00"  # 199 × 101.00
    rejected(size.aries_check_order(intent(qty="1", price=None), {}, NOW), "NO_PRICE")
    call = intent("AAPL270115C00150000", qty="41", price="5", security_type=SecurityType.OPTION)
    details = rejected(size.aries_check_order(call, {}, NOW), "MAX_ORDER_NOTIONAL")
    assert details["notional"] == "20500"  # 41 × 5 × 100


def test_a_market_order_with_a_stale_quote_is_rejected() -> None:
    book = quotes(quote(age_s=10))
    rejected(size.aries_check_order(intent(qty="1", price=None), book, NOW), "STALE_QUOTE")
    qty_only = OrderSizeLimit(OrderSizeConfig(max_order_qty=D(5)))
    assert qty_only.aries_check_order(intent(qty="1", price=None), book, NOW) is None


def test_order_size_needs_one_limit() -> None:
    with pytest.raises(ValueError, match="max_order_qty"):
        OrderSizeConfig()
    with pytest.raises(ValueError, match="max_order_notional"):
        OrderSizeConfig(max_order_notional=D(0))


# --- PositionLimit -------------------------------------------------------------------------------

position = PositionLimit(PositionLimitConfig(max_position=D(1000), per_symbol={"TSLA": D(50)}))


def test_a_buy_within_the_position_limit_passes() -> None:
    account = view(positions={"AAPL": "500"})
    assert position.aries_check_order(intent(qty="500"), account, NOW) is None


def test_working_and_in_flight_buys_count_towards_the_position() -> None:
    account = view(
        positions={"AAPL": "500"},
        open_orders=(order(qty="200", cl_ord_id="X-1"),),
        in_flight=(intent(qty="100", client_order_id="c-0"),),
    )
    details = rejected(position.aries_check_order(intent(qty="201"), account, NOW), "MAX_POSITION")
    assert details == {
        "symbol": "AAPL",
        "position": "500",
        "working": "300",
        "qty": "201",
        "projected": "1001",
        "max_position": "1000",
    }
    assert position.aries_check_order(intent(qty="200"), account, NOW) is None


def test_the_short_side_is_limited_too() -> None:
    account = view(open_orders=(order(side=Side.SELL_SHORT, qty="900", cl_ord_id="X-1"),))
    details = rejected(
        position.aries_check_order(intent(side=Side.SELL_SHORT, qty="101"), account, NOW),
        "MAX_POSITION",
    )
    assert (details["projected"], details["working"]) == ("-1001", "-900")


def test_an_order_that_brings_an_over_limit_position_back_passes() -> None:
    account = view(positions={"AAPL": "1500"})
    assert position.aries_check_order(intent(side=Side.SELL, qty="100"), account, NOW) is None
    rejected(position.aries_check_order(intent(qty="1"), account, NOW), "MAX_POSITION")


def test_per_symbol_limits_override() -> None:
    details = rejected(
        position.aries_check_order(intent("TSLA", qty="51"), view(), NOW), "MAX_POSITION"
    )
    assert details["max_position"] == "50"


def test_a_replace_does_not_count_the_order_it_amends() -> None:
    old = order(qty="900", cl_ord_id="X-1", client_order_id="c-1")
    account = view(open_orders=(old,))
    assert position.aries_check_order(intent(qty="1000", replaces=old), account, NOW) is None
    rejected(
        position.aries_check_order(intent(qty="1000", client_order_id="c-2"), account, NOW),
        "MAX_POSITION",
    )


def test_position_limit_rejects_stale_state() -> None:
    rejected(position.aries_check_order(intent(), view(as_of_ns=None), NOW), "STALE_STATE")


# --- GrossExposureLimit --------------------------------------------------------------------------

gross = GrossExposureLimit(GrossExposureConfig(max_gross=D(100000)))


def held(symbol: str, qty: str, *, avg: str = "0", value: str | None = None) -> Position:
    return Position(
        account_id=ACCOUNT,
        symbol=symbol,
        quantity=D(qty),
        avg_price=D(avg),
        market_value=None if value is None else D(value),
    )


def test_gross_exposure_counts_positions_working_orders_and_the_order() -> None:
    account = view(
        position_objects=(
            held("AAPL", "100", value="10000"),  # the venue's market value
            held("MSFT", "-100", avg="300"),  # quote mid 400 × 100
            held("TSLA", "50", avg="200"),  # no quote: avg price × 50
        ),
        open_orders=(order("MSFT", Side.BUY, "20", "390", cl_ord_id="X-1"),),  # 7800
        in_flight=(intent("IBM", qty="10", price="150", client_order_id="c-0"),),  # 1500
    )
    book = quotes(quote("MSFT", "399", "401"))
    # positions 10000 + 40000 + 10000 = 60000; working 9300; order 30000 → 99300
    assert gross.aries_check_order(intent(qty="300", price="100"), account, book, NOW) is None
    details = rejected(
        gross.aries_check_order(intent(qty="308", price="100"), account, book, NOW),
        "GROSS_EXPOSURE_LIMIT",
    )
    assert details == {
        "positions_gross": "60000",
        "working_gross": "9300",
        "order_notional": "30800",
        "projected": "100100",
        "max_gross": "100000",
    }


def test_gross_exposure_lets_reducing_orders_through() -> None:
    account = view(position_objects=(held("AAPL", "5000", value="500000"),))
    assert gross.aries_check_order(intent(side=Side.SELL, qty="100"), account, {}, NOW) is None
    rejected(gross.aries_check_order(intent(qty="1"), account, {}, NOW), "GROSS_EXPOSURE_LIMIT")


def test_gross_exposure_sees_the_first_of_two_racing_orders() -> None:
    first = intent(qty="600", price="100", client_order_id="c-1")
    second = intent(qty="600", price="100", client_order_id="c-2")
    assert gross.aries_check_order(first, view(), {}, NOW) is None
    assert gross.aries_check_order(second, view(), {}, NOW) is None
    details = rejected(
        gross.aries_check_order(second, view(in_flight=(first,)), {}, NOW), "GROSS_EXPOSURE_LIMIT"
    )
    assert (details["working_gross"], details["projected"]) == ("60000", "120000")


def test_gross_exposure_fails_closed_on_an_unpriceable_working_order() -> None:
    account = view(open_orders=(order("MSFT", qty="10", price=None, type=OrderType.MARKET),))
    details = rejected(gross.aries_check_order(intent(), account, {}, NOW), "NO_PRICE")
    assert details["symbol"] == "MSFT"


def test_gross_exposure_rejects_stale_state() -> None:
    old = view(as_of_ns=NOW - 100 * SECOND)
    rejected(gross.aries_check_order(intent(), old, {}, NOW), "STALE_STATE")


# --- OpenOrderLimit ------------------------------------------------------------------------------

working = OpenOrderLimit(OpenOrderLimitConfig(max_open_orders=3))


def test_below_the_working_order_limit_passes() -> None:
    account = view(open_orders=(order(cl_ord_id="X-1"), order(cl_ord_id="X-2")))
    assert working.aries_check_order(intent(), account, NOW) is None


def test_open_and_in_flight_orders_count_towards_the_limit() -> None:
    account = view(
        open_orders=(order(cl_ord_id="X-1"), order(cl_ord_id="X-2")),
        in_flight=(intent(client_order_id="c-0"),),
    )
    details = rejected(working.aries_check_order(intent(), account, NOW), "MAX_OPEN_ORDERS")
    assert details == {"working_orders": "3", "open": "2", "in_flight": "1", "max_open_orders": "3"}


def test_a_replace_adds_no_working_order() -> None:
    old = order(cl_ord_id="X-1", client_order_id="c-1")
    account = view(open_orders=(old, order(cl_ord_id="X-2"), order(cl_ord_id="X-3")))
    assert working.aries_check_order(intent(price="101", replaces=old), account, NOW) is None


def test_open_order_limit_rejects_stale_state() -> None:
    rejected(working.aries_check_order(intent(), view(as_of_ns=None), NOW), "STALE_STATE")


def test_limits_compose_in_the_risk_gate_first_rejection_wins() -> None:
    risk = gate(size, position, gross, working)
    verdict = risk(intent(qty="100"), view())
    assert verdict.approved
    verdict = risk(intent(qty="600", price="1"), view())
    assert (verdict.approved, verdict.code, verdict.plugin) == (
        False,
        "MAX_ORDER_QTY",
        "OrderSizeLimit-0",
    )
    full = view(open_orders=tuple(order(cl_ord_id=f"X-{n}") for n in range(3)))
    verdict = risk(intent(qty="100"), full)
    assert (verdict.code, verdict.plugin) == ("MAX_OPEN_ORDERS", "OpenOrderLimit-3")
    assert Decimal(dict(verdict.details)["working_orders"]) == 3
