"""The order-rate limit: a sliding window over the orders this plugin approved."""

from __future__ import annotations

import pytest

from engine import hookimpl
from engine.errors import PluginError
from engine.hooks.manager import structure_plugin_config
from engine.model import OrderIntent, RiskVerdict
from plugins.order_rate import OrderRateConfig, OrderRateLimit
from tests.plugins._risk import NOW, SECOND, gate, intent, order, rejected, view

MS = SECOND // 1000


def limiter(max_orders: int = 3, window: float = 1.0, **more: bool) -> OrderRateLimit:
    return OrderRateLimit(OrderRateConfig(max_orders=max_orders, window=window, **more))


def test_orders_within_the_rate_pass() -> None:
    rate = limiter()
    assert [rate.aries_check_order(intent(), NOW + n * MS) for n in range(3)] == [None] * 3


def test_one_order_too_many_in_the_window_is_rejected_with_when_to_retry() -> None:
    rate = limiter()
    for n in range(3):
        assert rate.aries_check_order(intent(), NOW + n * 100 * MS) is None
    verdict = rate.aries_check_order(intent(), NOW + 500 * MS)
    details = rejected(verdict, "ORDER_RATE")
    assert details == {
        "orders_in_window": "3",
        "max_orders": "3",
        "window": "1.0",
        "retry_after": "0.500",
    }
    assert verdict is not None
    assert "at most 3" in verdict.reason


def test_the_window_slides() -> None:
    rate = limiter()
    for n in range(3):
        assert rate.aries_check_order(intent(), NOW + n * 100 * MS) is None
    rejected(rate.aries_check_order(intent(), NOW + 999 * MS), "ORDER_RATE")
    # the first approval (at NOW) leaves the window exactly one window later
    assert rate.aries_check_order(intent(), NOW + SECOND) is None
    rejected(rate.aries_check_order(intent(), NOW + SECOND + 1), "ORDER_RATE")
    assert rate.aries_check_order(intent(), NOW + SECOND + 100 * MS) is None


def test_rejected_orders_are_not_counted() -> None:
    rate = limiter(max_orders=1)
    assert rate.aries_check_order(intent(), NOW) is None
    for n in range(1, 10):
        rejected(rate.aries_check_order(intent(), NOW + n * 10 * MS), "ORDER_RATE")
    assert rate.aries_check_order(intent(), NOW + SECOND) is None


def test_accounts_have_their_own_windows() -> None:
    rate = limiter(max_orders=1)
    assert rate.aries_check_order(intent(account_id="A"), NOW) is None
    assert rate.aries_check_order(intent(account_id="B"), NOW) is None
    rejected(rate.aries_check_order(intent(account_id="A"), NOW), "ORDER_RATE")


def test_replaces_count_unless_configured_not_to() -> None:
    old = order(cl_ord_id="X-1", client_order_id="c-1")
    counting = limiter(max_orders=1)
    assert counting.aries_check_order(intent(), NOW) is None
    rejected(counting.aries_check_order(intent(price="101", replaces=old), NOW), "ORDER_RATE")
    lenient = limiter(max_orders=1, count_replaces=False)
    assert lenient.aries_check_order(intent(), NOW) is None
    assert lenient.aries_check_order(intent(price="101", replaces=old), NOW) is None


class RejectsEverything:
    """A plugin that vetoes every order (registered after the rate limit)."""

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl
    def aries_check_order(self, intent: OrderIntent) -> RiskVerdict | None:
        self.asked += 1
        return RiskVerdict.reject("NOPE", "no")


def test_in_the_gate_it_is_asked_last_so_orders_others_reject_do_not_use_the_window() -> None:
    rate = limiter(max_orders=2)
    veto = RejectsEverything()
    clock = iter(range(NOW, NOW + 100 * MS, MS))
    risk = gate(rate, veto, clock=lambda: next(clock))
    for _ in range(5):
        verdict = risk(intent(), view())
        assert (verdict.code, verdict.plugin) == ("NOPE", "RejectsEverything-1")
    assert veto.asked == 5
    alone = gate(rate, clock=lambda: next(clock))
    assert alone(intent(), view()).approved
    assert alone(intent(), view()).approved
    assert alone(intent(), view()).code == "ORDER_RATE"


def test_config_is_validated() -> None:
    with pytest.raises(PluginError, match="max_orders"):
        structure_plugin_config("rate", {"max_orders": 0, "window": 1}, OrderRateConfig)
    with pytest.raises(PluginError, match="window"):
        structure_plugin_config("rate", {"max_orders": 5}, OrderRateConfig)
