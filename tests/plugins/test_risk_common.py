"""The risk plugins' shared helpers: staleness, pricing, options, closing quantities."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import attrs
import pytest

from engine.model import OrderIntent, OrderType, Quote, RiskVerdict, SecurityType, Side
from engine.validators import percent
from plugins._risk_common import (
    NO_PRICE,
    STALE_QUOTE,
    STALE_STATE,
    OptionTerms,
    Priced,
    closing_qty,
    instrument_symbol,
    ns_to_seconds,
    only_reduces,
    open_qty,
    option_terms,
    parse_osi,
    price_order,
    stale_quote,
    stale_state,
)
from tests.plugins._risk import NOW, SECOND, D, intent, leg, order, quote, quotes, rejected, view

FIVE_S = 5 * SECOND


def test_state_exactly_at_the_bound_is_fresh_and_one_ns_later_is_stale() -> None:
    assert stale_state(view(as_of_ns=NOW - FIVE_S), NOW, FIVE_S) is None
    details = rejected(stale_state(view(as_of_ns=NOW - FIVE_S - 1), NOW, FIVE_S), STALE_STATE)
    assert details["age"] == "5.000"
    assert details["as_of_ns"] == str(NOW - FIVE_S - 1)


def test_state_never_heard_is_stale() -> None:
    verdict = stale_state(view(as_of_ns=None), NOW, FIVE_S)
    assert rejected(verdict, STALE_STATE) == {"as_of_ns": "None", "max_state_age": "5.000"}


def test_quote_staleness() -> None:
    assert stale_quote(quote(age_s=5), NOW, FIVE_S) is None
    details = rejected(stale_quote(quote(age_s=7.25), NOW, FIVE_S), STALE_QUOTE)
    assert details == {"symbol": "AAPL", "age": "7.250", "max_quote_age": "5.000"}


def test_ns_to_seconds_keeps_milliseconds() -> None:
    assert ns_to_seconds(1_234_567_890) == Decimal("1.234")


def price(
    order_intent: OrderIntent, by_symbol: Mapping[str, Quote] | None = None
) -> Priced | RiskVerdict:
    return price_order(order_intent, by_symbol or {}, NOW, buffer_pct=D(2), max_quote_age_ns=FIVE_S)


def priced(order_intent: OrderIntent, by_symbol: Mapping[str, Quote] | None = None) -> Priced:
    result = price(order_intent, by_symbol)
    assert isinstance(result, Priced), result
    return result


def refusal(order_intent: OrderIntent, by_symbol: Mapping[str, Quote] | None = None) -> RiskVerdict:
    result = price(order_intent, by_symbol)
    assert isinstance(result, RiskVerdict), result
    return result


def test_pricing_by_order_type() -> None:
    assert priced(intent(price="10")) == Priced(D("10"), "limit", D(1))
    stop = intent(price=None, type=OrderType.STOP, stop_price="10")
    assert priced(stop) == Priced(D("10.20"), "stop", D(1))
    stop_limit = intent(price="11", type=OrderType.STOP_LIMIT, stop_price="10")
    assert priced(stop_limit).price == D("11")
    book = quotes(quote(bid="9", ask="10"))
    assert priced(intent(price=None), book) == Priced(D("10.20"), "quote", D(1))
    sell = intent(side=Side.SELL, price=None)
    assert priced(sell, book).price == D("9.18")  # the buffer always raises
    trailing = intent(price=None, type=OrderType.TRAILING_STOP)
    assert priced(trailing, book).source == "quote"
    option = intent("AAPL270115C00150000", price="2", security_type=SecurityType.OPTION)
    assert priced(option).notional(D(3)) == D(600)


def test_what_cannot_be_priced_is_rejected() -> None:
    assert rejected(refusal(intent(price=None)), NO_PRICE) == {"symbol": "AAPL", "type": "MARKET"}
    rejected(refusal(intent(price=None), quotes(quote(ask=None))), NO_PRICE)
    rejected(refusal(intent(side=Side.SELL, price=None), quotes(quote(bid=None))), NO_PRICE)
    rejected(refusal(intent(price=None), quotes(quote(age_s=6))), STALE_QUOTE)
    rejected(refusal(intent(price=None, security_type=SecurityType.MULTI_LEG)), NO_PRICE)
    broken = attrs.evolve(intent(), price=None)  # a LIMIT without a price
    rejected(refusal(broken), NO_PRICE)


def test_osi_symbols_and_option_terms() -> None:
    assert parse_osi("AAPL270115C00150000") == OptionTerms("AAPL", "CALL", D("150.000"))
    assert parse_osi("SPY   270115P00412500") == OptionTerms("SPY", "PUT", D("412.500"))
    assert parse_osi("AAPL") is None
    single = intent(
        "AAPL", Side.SELL, security_type=SecurityType.OPTION, legs=(leg(Side.SELL, "P", "50"),)
    )
    assert option_terms(single) == OptionTerms("AAPL", "PUT", D("50"))
    assert instrument_symbol(single) == "AAPL270115P00050000"
    assert option_terms(intent()) is None
    assert instrument_symbol(intent()) == "AAPL"
    unknown_leg = attrs.evolve(single, legs=(attrs.evolve(single.legs[0], maturity=None),))
    assert instrument_symbol(unknown_leg) == "AAPL"
    assert leg(Side.BUY).maturity == date(2027, 1, 15)


def test_closing_quantity_respects_working_orders_and_replaces() -> None:
    account = view(
        positions={"AAPL": "100", "MSFT": "-50"},
        open_orders=(order(side=Side.SELL, qty="30", cl_ord_id="X-1", client_order_id="c-1"),),
        in_flight=(intent(side=Side.SELL, qty="20", client_order_id="c-2"),),
    )
    assert closing_qty(account, intent(side=Side.SELL, qty="80")) == D(50)
    assert closing_qty(account, intent(side=Side.SELL_SHORT, qty="10")) == D(0)
    assert closing_qty(account, intent(side=Side.BUY, qty="80")) == D(0)
    assert closing_qty(account, intent("MSFT", Side.BUY_TO_COVER, qty="80")) == D(50)
    old = account.open_orders["X-1"]
    replacing = intent(side=Side.SELL, qty="90", replaces=old)
    assert closing_qty(account, replacing) == D(80)  # its own old terms are not ahead of it
    assert only_reduces(account, intent(side=Side.SELL, qty="50"))
    assert not only_reduces(account, intent(side=Side.SELL, qty="51"))


def test_open_quantity_of_a_replace_excludes_what_filled() -> None:
    old = order(qty="100", cum_qty="30", cl_ord_id="X-1")
    assert open_qty(intent(qty="100", replaces=old)) == D(70)
    assert open_qty(intent(qty="20", replaces=old)) == D(0)
    assert open_qty(intent(qty="20")) == D(20)


def test_a_spread_only_reduces_when_every_leg_closes() -> None:
    closes = intent(
        security_type=SecurityType.MULTI_LEG,
        legs=(leg(Side.SELL, effect="CLOSE"), leg(Side.BUY, effect="C")),
    )
    assert only_reduces(view(), closes)
    mixed = attrs.evolve(closes, legs=(leg(Side.SELL, effect="CLOSE"), leg(Side.BUY)))
    assert not only_reduces(view(), mixed)
    assert not only_reduces(view(), attrs.evolve(closes, legs=()))


def test_validators_name_the_field() -> None:
    @attrs.frozen
    class Config:
        pct: Decimal = attrs.field(validator=percent)

    with pytest.raises(ValueError, match=r"pct: expected a percentage from 0 to 100, got 101"):
        Config(D(101))
    assert Config(D(100)).pct == D(100)
