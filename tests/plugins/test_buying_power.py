"""The built-in buying-power risk plugin: pools by instrument, opening cost, reservations."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import PluginError
from engine.hooks.manager import structure_plugin_config
from engine.model import AccountView, OrderIntent, OrderType, Quote, SecurityType, Side
from engine.model.orders import RiskVerdict
from plugins.buying_power import BuyingPowerCheck, BuyingPowerConfig
from tests.conftest import make_intent, make_view
from tests.plugins._risk import (
    NOW,
    SECOND,
    D,
    balance,
    intent,
    leg,
    order,
    quote,
    quotes,
    rejected,
    view,
)

plugin = BuyingPowerCheck(BuyingPowerConfig())


def check(
    order_intent: OrderIntent,
    account: AccountView,
    by_symbol: Mapping[str, Quote] | None = None,
    now_ns: int = NOW,
    bp: BuyingPowerCheck = plugin,
) -> RiskVerdict | None:
    return bp.aries_check_order(order_intent, account, by_symbol or {}, now_ns)


def stock(bp: str, **more: str) -> AccountView:
    return view(bal=balance(stock_buying_power=bp, **more))


def test_affordable_order_has_no_objection() -> None:
    assert check(intent(qty="10", price="100"), stock("1000")) is None


def test_order_costing_more_than_buying_power_is_rejected_with_its_numbers() -> None:
    details = rejected(
        check(intent(qty="10", price="100.01"), stock("1000")), "INSUFFICIENT_BUYING_POWER"
    )
    assert details == {
        "cost": "1000.10",
        "available": "1000",
        "buying_power": "1000",
        "pool": "stockBuyingPower",
        "reserved": "0",
        "headroom": "0",
        "qty": "10",
        "price": "100.01",
    }
    verdict = check(intent(qty="10", price="100.01"), stock("1000"))
    assert verdict is not None
    assert "1000.10" in verdict.reason
    assert "stockBuyingPower 1000" in verdict.reason


def test_the_second_of_two_orders_that_only_fit_alone_is_rejected_once_the_first_is_reserved() -> (
    None
):
    first = intent(qty="10", price="100", client_order_id="c-1")
    second = intent(qty="10", price="60", client_order_id="c-2")
    before = stock("1500")
    assert check(first, before) is None
    assert check(second, before) is None
    # The actor approved the first: it is in flight and reserves its additional cost.
    assert first.additional_cost == D("1000")
    after = view(
        bal=balance(stock_buying_power="1500"),
        in_flight=(first,),
        reserved=str(first.additional_cost),
    )
    details = rejected(check(second, after), "INSUFFICIENT_BUYING_POWER")
    assert (details["cost"], details["available"], details["reserved"]) == ("600", "500", "1000")


def test_headroom_is_kept_and_the_old_conftest_factories_still_work() -> None:
    guarded = BuyingPowerCheck(BuyingPowerConfig(headroom=Decimal(100)))
    fresh = make_view(buying_power="1000")
    fresh = attrs.evolve(fresh, as_of_ns=NOW)
    details = rejected(
        check(make_intent(qty="10", price="95"), fresh, bp=guarded), "INSUFFICIENT_BUYING_POWER"
    )
    assert (details["available"], details["headroom"]) == ("900", "100")
    assert check(make_intent(qty="9", price="100"), fresh, bp=guarded) is None


def test_headroom_from_engine_toml_as_a_string() -> None:
    config = structure_plugin_config("buying-power", {"headroom": "250"}, BuyingPowerConfig)
    assert isinstance(config, BuyingPowerConfig)
    assert config.headroom == D("250")
    with pytest.raises(PluginError, match="headroom"):
        structure_plugin_config("buying-power", {"headroom": "-1"}, BuyingPowerConfig)
    with pytest.raises(PluginError, match="market_buffer_pct"):
        structure_plugin_config("buying-power", {"market_buffer_pct": "101"}, BuyingPowerConfig)


def test_a_market_buy_is_priced_at_the_ask_plus_the_buffer() -> None:
    market = intent(qty="10", price=None)
    book = quotes(quote(bid="99.90", ask="100"))
    details = rejected(check(market, stock("1000"), book), "INSUFFICIENT_BUYING_POWER")
    assert (details["price"], details["cost"]) == ("101.00", "1010.00")
    assert check(market, stock("1010"), book) is None


def test_a_market_order_without_a_quote_is_rejected_fail_closed() -> None:
    details = rejected(check(intent(price=None), stock("100000")), "NO_PRICE")
    assert details == {"symbol": "AAPL", "type": "MARKET"}


def test_a_market_order_priced_from_a_stale_quote_is_rejected() -> None:
    book = quotes(quote(age_s=5.001))
    details = rejected(check(intent(price=None), stock("100000"), book), "STALE_QUOTE")
    assert (details["age"], details["max_quote_age"]) == ("5.001", "5.000")
    assert check(intent(price=None), stock("100000"), quotes(quote(age_s=5))) is None


def test_a_stop_order_is_priced_at_its_stop_plus_the_buffer() -> None:
    stop = intent(qty="10", price=None, type=OrderType.STOP, stop_price="50")
    details = rejected(check(stop, stock("500")), "INSUFFICIENT_BUYING_POWER")
    assert (details["price"], details["cost"]) == ("50.50", "505.00")


def test_state_never_confirmed_is_stale() -> None:
    details = rejected(
        check(intent(), view(bal=balance(stock_buying_power="1e6"), as_of_ns=None)), "STALE_STATE"
    )
    assert details["as_of_ns"] == "None"


def test_state_older_than_max_state_age_is_stale() -> None:
    old = view(bal=balance(stock_buying_power="1e6"), as_of_ns=NOW - 66 * SECOND)
    details = rejected(check(intent(), old), "STALE_STATE")
    assert (details["age"], details["max_state_age"]) == ("66.000", "65.000")
    fresh_enough = view(bal=balance(stock_buying_power="1e6"), as_of_ns=NOW - 65 * SECOND)
    assert check(intent(), fresh_enough) is None


def test_unknown_balance_rejects() -> None:
    rejected(check(intent(), view(bal=None)), "NO_BALANCE")


def test_a_sell_of_shares_held_needs_no_buying_power() -> None:
    account = view(bal=balance(stock_buying_power="0"), positions={"AAPL": "100"})
    assert check(intent(side=Side.SELL, qty="100"), account) is None


def test_a_buy_that_covers_a_short_needs_no_buying_power() -> None:
    account = view(bal=balance(stock_buying_power="0"), positions={"AAPL": "-100"})
    assert check(intent(side=Side.BUY_TO_COVER, qty="100"), account) is None
    assert check(intent(side=Side.BUY, qty="60"), account) is None


def test_the_part_of_a_sell_beyond_the_position_opens_a_short_and_is_charged() -> None:
    account = view(bal=balance(stock_buying_power="4000"), positions={"AAPL": "100"})
    details = rejected(
        check(intent(side=Side.SELL, qty="150", price="100"), account), "INSUFFICIENT_BUYING_POWER"
    )
    assert (details["qty"], details["cost"]) == ("50", "5000")
    assert check(intent(side=Side.SELL, qty="140", price="100"), account) is None


def test_a_sell_behind_a_working_sell_of_the_same_shares_is_charged() -> None:
    account = view(
        bal=balance(stock_buying_power="5000"),
        positions={"AAPL": "100"},
        open_orders=(order(side=Side.SELL, qty="100", price="101"),),
    )
    details = rejected(
        check(intent(side=Side.SELL, qty="100", price="100"), account),
        "INSUFFICIENT_BUYING_POWER",
    )
    assert (details["qty"], details["cost"]) == ("100", "10000")


def test_sell_short_always_opens() -> None:
    account = view(bal=balance(stock_buying_power="999"), positions={"AAPL": "100"})
    details = rejected(
        check(intent(side=Side.SELL_SHORT, qty="10", price="100"), account),
        "INSUFFICIENT_BUYING_POWER",
    )
    assert details["cost"] == "1000"


def test_day_trading_draws_on_day_trade_buying_power() -> None:
    day = BuyingPowerCheck(BuyingPowerConfig(day_trading=True))
    account = view(bal=balance(stock_buying_power="1000", day_trade_buying_power="4000"))
    assert check(intent(qty="30", price="100"), account, bp=day) is None
    details = rejected(
        check(intent(qty="50", price="100"), account, bp=day), "INSUFFICIENT_BUYING_POWER"
    )
    assert (details["pool"], details["buying_power"]) == ("dayTradeBuyingPower", "4000")
    rejected(check(intent(qty="30", price="100"), account), "INSUFFICIENT_BUYING_POWER")


def test_option_buys_draw_on_option_buying_power_times_100() -> None:
    account = view(bal=balance(stock_buying_power="1000000", option_buying_power="600"))
    call = intent("AAPL270115C00150000", qty="2", price="3.50", security_type=SecurityType.OPTION)
    details = rejected(check(call, account), "INSUFFICIENT_BUYING_POWER")
    assert (details["pool"], details["cost"], details["available"]) == (
        "optionBuyingPower",
        "700.00",
        "600",
    )
    assert (
        check(
            intent("AAPL270115C00150000", qty="1", price="3.50", security_type=SecurityType.OPTION),
            account,
        )
        is None
    )


def test_a_put_sale_is_charged_its_strike_as_cash_secured() -> None:
    put = intent(
        "AAPL",
        Side.SELL,
        "2",
        "1.20",
        security_type=SecurityType.OPTION,
        legs=(leg(Side.SELL, "PUT", "50"),),
    )
    details = rejected(
        check(put, view(bal=balance(option_buying_power="9999"))), "INSUFFICIENT_BUYING_POWER"
    )
    assert (details["cost"], details["price"]) == ("10000", "50")
    assert check(put, view(bal=balance(option_buying_power="10000"))) is None


def test_a_call_sale_needs_no_buying_power_here() -> None:
    call = intent("AAPL270115C00150000", Side.SELL, "1", "2", security_type=SecurityType.OPTION)
    assert check(call, view(bal=balance(option_buying_power="0"))) is None


def test_an_option_sale_of_unknown_kind_cannot_be_priced() -> None:
    sale = intent("AAPL", Side.SELL, "1", "2", security_type=SecurityType.OPTION)
    rejected(check(sale, view(bal=balance(option_buying_power="1e9"))), "NO_PRICE")


def test_a_credit_spread_is_charged_its_strike_width() -> None:
    spread = intent(
        "AAPL",
        Side.SELL,
        "3",
        "1.25",
        security_type=SecurityType.MULTI_LEG,
        legs=(leg(Side.SELL, "CALL", "150"), leg(Side.BUY, "CALL", "155")),
    )
    details = rejected(
        check(spread, view(bal=balance(option_buying_power="1499"))), "INSUFFICIENT_BUYING_POWER"
    )
    assert (details["cost"], details["price"], details["qty"]) == ("1500", "5", "3")
    debit = intent(
        "AAPL",
        Side.BUY,
        "3",
        "1.25",
        security_type=SecurityType.MULTI_LEG,
        legs=(leg(Side.BUY, "CALL", "150"), leg(Side.SELL, "CALL", "155")),
    )
    details = rejected(
        check(debit, view(bal=balance(option_buying_power="374"))), "INSUFFICIENT_BUYING_POWER"
    )
    assert details["cost"] == "375.00"


def test_a_replace_costs_only_what_it_adds() -> None:
    old = order(qty="10", price="100", cl_ord_id="X-1", client_order_id="c-1")
    dearer = intent(qty="10", price="105", replaces=old)
    assert dearer.additional_cost == D("50")
    account = view(bal=balance(stock_buying_power="40"), open_orders=(old,))
    details = rejected(check(dearer, account), "INSUFFICIENT_BUYING_POWER")
    assert details["cost"] == "50"
    assert check(dearer, view(bal=balance(stock_buying_power="50"), open_orders=(old,))) is None
    cheaper = intent(qty="10", price="95", replaces=old)
    assert check(cheaper, view(bal=balance(stock_buying_power="0"), open_orders=(old,))) is None


@given(
    qty=st.integers(min_value=1, max_value=10_000),
    cents=st.integers(min_value=1, max_value=1_000_000),
    power=st.integers(min_value=0, max_value=10**9),
    reserved=st.integers(min_value=0, max_value=10**8),
    headroom=st.integers(min_value=0, max_value=10**6),
)
def test_never_approves_a_cost_above_what_is_available(
    qty: int, cents: int, power: int, reserved: int, headroom: int
) -> None:
    price = Decimal(cents).scaleb(-2)
    bp = BuyingPowerCheck(BuyingPowerConfig(headroom=Decimal(headroom)))
    account = view(bal=balance(stock_buying_power=power), reserved=reserved)
    verdict = check(intent(qty=qty, price=str(price)), account, bp=bp)
    cost = qty * price
    available = Decimal(power) - reserved - headroom
    if verdict is None:
        assert cost <= available
    else:
        assert verdict.code == "INSUFFICIENT_BUYING_POWER"
        assert cost > available
        assert D(dict(verdict.details)["cost"]) == cost
        assert D(dict(verdict.details)["available"]) == available
