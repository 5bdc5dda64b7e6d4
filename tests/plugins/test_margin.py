"""The margin plugin: projected maintenance requirement against total equity."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from engine.model import AccountView, Order, OrderIntent, Quote, RiskVerdict, SecurityType, Side
from plugins.margin import MarginCheck, MarginConfig
from tests.plugins._risk import (
    NOW,
    SECOND,
    balance,
    intent,
    order,
    quote,
    quotes,
    rejected,
    view,
)

plugin = MarginCheck(MarginConfig(min_excess=Decimal(1000)))


def check(
    order_intent: OrderIntent,
    account: AccountView,
    by_symbol: Mapping[str, Quote] | None = None,
    margin: MarginCheck = plugin,
) -> RiskVerdict | None:
    return margin.aries_check_order(order_intent, account, by_symbol or {}, NOW)


def equity(
    total: str,
    maint: str,
    *,
    positions: Mapping[str, str] | None = None,
    open_orders: tuple[Order, ...] = (),
    in_flight: tuple[OrderIntent, ...] = (),
) -> AccountView:
    return view(
        bal=balance(total_equity=total, maint_req=maint),
        positions=positions,
        open_orders=open_orders,
        in_flight=in_flight,
    )


def test_an_order_leaving_enough_excess_passes() -> None:
    # 100000 − (20000 + 100 × 100 × 0.25) = 77500 ≥ 1000
    assert check(intent(qty="100", price="100"), equity("100000", "20000")) is None


def test_an_order_leaving_too_little_excess_is_rejected_with_the_projection() -> None:
    account = equity(
        "10000",
        "7000",
        open_orders=(order(qty="40", price="100", cl_ord_id="X-1"),),  # 4000 × 0.25 = 1000
        in_flight=(intent(side=Side.SELL_SHORT, qty="10", price="50", client_order_id="c-0"),),
    )  # 500 × 0.30 = 150
    # 10000 − (7000 + 1150 + 500) = 1350 ≥ 1000
    assert check(intent(qty="20", price="100"), account) is None
    details = rejected(check(intent(qty="40", price="100"), account), "INSUFFICIENT_MARGIN")
    assert details == {
        "total_equity": "10000",
        "maint_req": "7000",
        "working_req": "1150.00",
        "order_req": "1000.00",
        "projected_maint_req": "9150.00",
        "excess": "850.00",
        "min_excess": "1000",
    }


def test_a_short_sale_uses_the_short_rate() -> None:
    details = rejected(
        check(intent(side=Side.SELL_SHORT, qty="100", price="100"), equity("4999", "1000")),
        "INSUFFICIENT_MARGIN",
    )
    assert details["order_req"] == "3000.00"  # 10000 × 0.30


def test_reducing_orders_pass_even_below_maintenance() -> None:
    account = equity("1000", "5000", positions={"AAPL": "100"})
    assert check(intent(side=Side.SELL, qty="100", price="50"), account) is None


def test_two_orders_that_fit_alone_do_not_fit_together() -> None:
    first = intent(qty="40", price="100", client_order_id="c-1")  # req 1000
    second = intent(qty="40", price="100", client_order_id="c-2")
    before = equity("4000", "1500")
    assert check(first, before) is None  # excess 1500
    assert check(second, before) is None
    details = rejected(
        check(second, equity("4000", "1500", in_flight=(first,))), "INSUFFICIENT_MARGIN"
    )
    assert (details["working_req"], details["excess"]) == ("1000.00", "500.00")


def test_a_replace_counts_its_new_terms_instead_of_the_old_order() -> None:
    old = order(qty="100", price="100", cl_ord_id="X-1", client_order_id="c-1")  # req 2500
    account = equity("5000", "1000", open_orders=(old,))
    bigger = intent(qty="110", price="100", replaces=old)  # req 2750, old excluded
    assert check(bigger, account) is None  # 5000 − 1000 − 2750 = 1250
    fresh = intent(qty="110", price="100", client_order_id="c-9")  # old counted too
    details = rejected(check(fresh, account), "INSUFFICIENT_MARGIN")
    assert details["working_req"] == "2500.00"


def test_a_market_order_is_priced_from_the_quote() -> None:
    book = quotes(quote(ask="100"))
    details = rejected(
        check(intent(qty="100", price=None), equity("3000", "0"), book), "INSUFFICIENT_MARGIN"
    )
    assert details["order_req"] == "2525.0000"  # 100 × 101.00 × 0.25
    rejected(check(intent(qty="100", price=None), equity("4000", "0")), "NO_PRICE")
    rejected(
        check(intent(qty="100", price=None), equity("4000", "0"), quotes(quote(age_s=6))),
        "STALE_QUOTE",
    )


def test_an_unpriceable_working_order_fails_closed() -> None:
    account = equity("1000000", "0", open_orders=(order("MSFT", qty="10", price=None),))
    details = rejected(check(intent(), account), "NO_PRICE")
    assert details["symbol"] == "MSFT"


def test_options_are_not_projected_here() -> None:
    call = intent("AAPL270115C00150000", qty="100", price="5", security_type=SecurityType.OPTION)
    assert check(call, equity("0", "1000000")) is None


@pytest.mark.parametrize("as_of", [None, NOW - 70 * SECOND])
def test_stale_state_is_rejected(as_of: int | None) -> None:
    account = view(bal=balance(total_equity="1e9"), as_of_ns=as_of)
    rejected(check(intent(), account), "STALE_STATE")


def test_unknown_balance_is_rejected() -> None:
    rejected(check(intent(), view(bal=None)), "NO_BALANCE")


def test_rates_are_validated() -> None:
    with pytest.raises(ValueError, match="long_maint_rate"):
        MarginConfig(long_maint_rate=Decimal("1.5"))
    with pytest.raises(ValueError, match="min_excess"):
        MarginConfig(min_excess=Decimal(-1))
