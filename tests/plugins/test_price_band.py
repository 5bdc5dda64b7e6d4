"""The price band: limit prices near the latest quote, fail closed without one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.errors import PluginError
from engine.hooks.manager import structure_plugin_config
from engine.model import OrderType, SecurityType, Side
from plugins.price_band import PriceBand, PriceBandConfig
from tests.plugins._risk import NOW, D, intent, quote, quotes, rejected

band = PriceBand(PriceBandConfig(max_deviation_pct=D(5)))
book = quotes(quote(bid="99", ask="101"))  # mid 100


def test_a_limit_inside_the_band_passes() -> None:
    for price in ("95", "100", "105"):
        assert band.aries_check_order(intent(price=price), book, NOW) is None


def test_a_limit_above_the_band_is_rejected_with_its_numbers() -> None:
    verdict = band.aries_check_order(intent(price="105.01"), book, NOW)
    details = rejected(verdict, "PRICE_BAND")
    assert details == {
        "price": "105.01",
        "reference": "100",
        "reference_kind": "mid",
        "deviation_pct": "5.01",
        "max_deviation_pct": "5",
        "band_low": "95",
        "band_high": "105",
    }
    assert verdict is not None
    assert "5.01 %" in verdict.reason


def test_a_limit_below_the_band_is_rejected_too() -> None:
    details = rejected(
        band.aries_check_order(intent(side=Side.SELL, price="10.00"), book, NOW), "PRICE_BAND"
    )
    assert details["deviation_pct"] == "-90.00"


def test_the_touch_reference_uses_the_side_the_order_trades_against() -> None:
    touch = PriceBand(PriceBandConfig(max_deviation_pct=D(1), reference="touch"))
    assert touch.aries_check_order(intent(price="102.01"), book, NOW) is None  # ask 101 +1 %
    details = rejected(touch.aries_check_order(intent(price="102.02"), book, NOW), "PRICE_BAND")
    assert (details["reference"], details["reference_kind"]) == ("101", "touch")
    sell = intent(side=Side.SELL, price="97.99")  # bid 99 − 1 % = 98.01
    assert rejected(touch.aries_check_order(sell, book, NOW), "PRICE_BAND")["band_low"] == "98.01"


def test_min_band_widens_the_band_for_cheap_symbols() -> None:
    penny = quotes(quote("PNY", bid="0.99", ask="1.01"))
    wide = PriceBand(PriceBandConfig(max_deviation_pct=D(1), min_band=D("0.05")))
    assert wide.aries_check_order(intent("PNY", price="1.05"), penny, NOW) is None
    assert band.aries_check_order(intent("PNY", price="1.05"), penny, NOW) is None
    rejected(wide.aries_check_order(intent("PNY", price="1.06"), penny, NOW), "PRICE_BAND")


def test_no_quote_rejects_by_default_or_passes_when_configured() -> None:
    details = rejected(band.aries_check_order(intent(), {}, NOW), "NO_QUOTE")
    assert details == {"symbol": "AAPL", "price": "100"}
    one_sided = quotes(quote(bid=None, ask="100"))
    rejected(band.aries_check_order(intent(), one_sided, NOW), "NO_QUOTE")
    lenient = PriceBand(PriceBandConfig(no_quote="allow"))
    assert lenient.aries_check_order(intent(), {}, NOW) is None
    assert lenient.aries_check_order(intent(), one_sided, NOW) is None


def test_a_stale_quote_is_rejected_even_when_no_quote_is_allowed() -> None:
    lenient = PriceBand(PriceBandConfig(no_quote="allow"))
    details = rejected(
        lenient.aries_check_order(intent(), quotes(quote(age_s=5.5)), NOW), "STALE_QUOTE"
    )
    assert (details["age"], details["max_quote_age"]) == ("5.500", "5.000")


def test_orders_without_a_limit_to_check_are_left_alone() -> None:
    assert band.aries_check_order(intent(price=None), {}, NOW) is None
    stop_limit = intent(price="500", type=OrderType.STOP_LIMIT, stop_price="499")
    assert band.aries_check_order(stop_limit, book, NOW) is None
    spread = intent("AAPL", price="1.25", security_type=SecurityType.MULTI_LEG)
    assert band.aries_check_order(spread, {}, NOW) is None


def test_an_option_is_checked_against_its_own_quote() -> None:
    osi = "AAPL270115C00150000"
    option_book = quotes(quote(osi, "4.90", "5.10"), quote("AAPL", "149", "151"))
    call = intent(osi, price="5.20", security_type=SecurityType.OPTION)
    assert band.aries_check_order(call, option_book, NOW) is None
    details = rejected(
        band.aries_check_order(
            intent(osi, price="6", security_type=SecurityType.OPTION), option_book, NOW
        ),
        "PRICE_BAND",
    )
    assert details["reference"] == "5.00"


def test_config_is_validated() -> None:
    with pytest.raises(PluginError, match="reference"):
        structure_plugin_config("band", {"reference": "last"}, PriceBandConfig)
    with pytest.raises(PluginError, match="max_deviation_pct"):
        structure_plugin_config("band", {"max_deviation_pct": "0"}, PriceBandConfig)
    config = structure_plugin_config("band", {"max_deviation_pct": "2.5"}, PriceBandConfig)
    assert isinstance(config, PriceBandConfig)
    assert config.max_deviation_pct == Decimal("2.5")
