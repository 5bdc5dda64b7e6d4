"""The built-in buying-power risk plugin."""

from __future__ import annotations

from decimal import Decimal

from engine.model import Side
from plugins.buying_power import BuyingPowerCheck, BuyingPowerConfig
from tests.conftest import make_intent, make_view

check = BuyingPowerCheck(BuyingPowerConfig()).aries_check_order


def test_affordable_order_has_no_objection() -> None:
    assert check(make_intent(qty="10", price="100"), make_view(buying_power="1000")) is None


def test_order_costing_more_than_buying_power_is_rejected() -> None:
    verdict = check(make_intent(qty="10", price="100.01"), make_view(buying_power="1000"))
    assert verdict is not None
    assert not verdict.approved
    assert verdict.code == "INSUFFICIENT_BUYING_POWER"
    assert "1000.10" in verdict.reason


def test_reservations_count_against_buying_power() -> None:
    view = make_view(buying_power="1500", reserved="1000")
    verdict = check(make_intent(qty="10", price="60"), view)
    assert verdict is not None
    assert verdict.code == "INSUFFICIENT_BUYING_POWER"


def test_headroom_is_kept() -> None:
    guarded = BuyingPowerCheck(BuyingPowerConfig(headroom=Decimal(100))).aries_check_order
    assert guarded(make_intent(qty="10", price="95"), make_view(buying_power="1000")) is not None
    assert guarded(make_intent(qty="9", price="100"), make_view(buying_power="1000")) is None


def test_market_order_uses_the_reference_price_or_fails_closed() -> None:
    priced = make_intent(price=None, reference_price="99")
    assert check(priced, make_view(buying_power="1000")) is None
    unpriced = check(make_intent(price=None), make_view(buying_power="1000"))
    assert unpriced is not None
    assert unpriced.code == "NO_PRICE"


def test_unknown_balance_rejects() -> None:
    verdict = check(make_intent(), make_view(buying_power=None))
    assert verdict is not None
    assert verdict.code == "NO_BALANCE"


def test_plain_sells_are_left_alone() -> None:
    assert check(make_intent(side=Side.SELL, qty="1000"), make_view(buying_power="0")) is None
