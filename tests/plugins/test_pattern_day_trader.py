"""The pattern-day-trader rule: day trades counted from fills, a 4th refused under $25,000."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.model import AccountInfo, AccountView, Order, OrderFilled, OrderIntent, Side
from plugins.pattern_day_trader import PatternDayTrader, PatternDayTraderConfig
from tests.plugins._risk import (
    ACCOUNT,
    NOW,
    NOW_DT,
    SECOND,
    D,
    balance,
    intent,
    order,
    rejected,
    view,
)

DAY = 86_400 * SECOND
fills = 0


def fill(
    side: Side,
    qty: str,
    *,
    symbol: str = "AAPL",
    client_order_id: str | None = None,
    when: datetime = NOW_DT - timedelta(hours=1),
    account_id: str = ACCOUNT,
) -> OrderFilled:
    global fills
    fills += 1
    return OrderFilled(
        account_id=account_id,
        cl_ord_id=f"X-{fills}",
        client_order_id=client_order_id if client_order_id is not None else f"o-{fills}",
        symbol=symbol,
        side=side,
        qty=D(qty),
        price=D("100"),
        cum_qty=D(qty),
        leaves_qty=D(0),
        ts_event=when,
    )


def small(
    equity: str = "20000",
    account_type: str | None = "MARGIN",
    *,
    open_orders: tuple[Order, ...] = (),
    in_flight: tuple[OrderIntent, ...] = (),
    as_of_ns: int | None = NOW,
) -> AccountView:
    """A margin account under $25,000 (by default), confirmed at ``NOW``."""
    return view(
        bal=balance(total_equity=equity),
        info=AccountInfo(account_id=ACCOUNT, account_type=account_type, options_level="LEVEL_2"),
        open_orders=open_orders,
        in_flight=in_flight,
        as_of_ns=as_of_ns,
    )


def pdt(day_trades_already: int = 0) -> PatternDayTrader:
    return PatternDayTrader(PatternDayTraderConfig(day_trades_already=day_trades_already))


def day_trade(plugin: PatternDayTrader, symbol: str, when: datetime) -> None:
    plugin.aries_on_order_filled(fill(Side.BUY, "10", symbol=symbol, when=when))
    plugin.aries_on_order_filled(fill(Side.SELL, "10", symbol=symbol, when=when))


def test_a_buy_then_a_sell_the_same_day_is_one_day_trade() -> None:
    plugin = pdt()
    plugin.aries_on_order_filled(fill(Side.BUY, "100"))
    assert plugin.day_trades(ACCOUNT, NOW_DT.date()) == 0
    plugin.aries_on_order_filled(fill(Side.SELL, "40", client_order_id="close-1"))
    plugin.aries_on_order_filled(fill(Side.SELL, "60", client_order_id="close-1"))  # same order
    assert plugin.day_trades(ACCOUNT, NOW_DT.date()) == 1


def test_a_short_then_a_cover_the_same_day_is_a_day_trade() -> None:
    plugin = pdt()
    plugin.aries_on_order_filled(fill(Side.SELL_SHORT, "100"))
    plugin.aries_on_order_filled(fill(Side.BUY_TO_COVER, "100"))
    assert plugin.day_trades(ACCOUNT, NOW_DT.date()) == 1


def test_selling_shares_bought_on_another_day_is_not_a_day_trade() -> None:
    plugin = pdt()
    plugin.aries_on_order_filled(fill(Side.BUY, "100", when=NOW_DT - timedelta(days=1)))
    plugin.aries_on_order_filled(fill(Side.SELL, "100"))
    plugin.aries_on_order_filled(fill(Side.BUY, "100"))  # buys back: not a day trade either
    assert plugin.day_trades(ACCOUNT, NOW_DT.date()) == 0


def test_day_trades_leave_the_window_after_five_business_days() -> None:
    plugin = pdt()
    friday_before = NOW_DT - timedelta(days=6)  # 2024-12-27, a Friday
    day_trade(plugin, "AAPL", friday_before)
    # window ending Thursday 2025-01-02: Fri 27th, Mon 30th, Tue 31st, Wed 1st, Thu 2nd
    assert plugin.day_trades(ACCOUNT, NOW_DT.date()) == 1
    assert plugin.day_trades(ACCOUNT, (NOW_DT + timedelta(days=1)).date()) == 0


def test_a_fourth_day_trade_is_rejected_under_25000() -> None:
    plugin = pdt(day_trades_already=1)
    day_trade(plugin, "MSFT", NOW_DT - timedelta(hours=3))
    day_trade(plugin, "TSLA", NOW_DT - timedelta(hours=2))
    plugin.aries_on_order_filled(fill(Side.BUY, "10"))
    verdict = plugin.aries_check_order(intent(side=Side.SELL), small("24999.99"), NOW)
    details = rejected(verdict, "PDT_DAY_TRADE_LIMIT")
    assert details == {
        "day_trades": "2",
        "day_trades_already": "1",
        "working": "0",
        "max_day_trades": "3",
        "window_days": "5",
        "total_equity": "24999.99",
        "min_equity": "25000",
    }
    assert verdict is not None
    assert "day trade #4" in verdict.reason


def test_the_third_day_trade_is_allowed() -> None:
    plugin = pdt(day_trades_already=2)
    plugin.aries_on_order_filled(fill(Side.BUY, "10"))
    assert plugin.aries_check_order(intent(side=Side.SELL), small(), NOW) is None


def test_equity_of_25000_lifts_the_limit() -> None:
    plugin = pdt(day_trades_already=3)
    plugin.aries_on_order_filled(fill(Side.BUY, "10"))
    assert plugin.aries_check_order(intent(side=Side.SELL), small("25000"), NOW) is None


def test_orders_that_are_not_day_trades_pass() -> None:
    plugin = pdt(day_trades_already=3)
    plugin.aries_on_order_filled(fill(Side.BUY, "10"))
    assert plugin.aries_check_order(intent(side=Side.BUY), small(), NOW) is None  # adds
    assert plugin.aries_check_order(intent("MSFT", Side.SELL), small(), NOW) is None
    tomorrow = NOW + DAY
    assert (
        plugin.aries_check_order(intent(side=Side.SELL), small(as_of_ns=tomorrow), tomorrow) is None
    )


def test_cash_accounts_are_exempt_and_unknown_types_are_not() -> None:
    plugin = pdt(day_trades_already=3)
    plugin.aries_on_order_filled(fill(Side.BUY, "10"))
    assert plugin.aries_check_order(intent(side=Side.SELL), small(account_type="CASH"), NOW) is None
    rejected(
        plugin.aries_check_order(intent(side=Side.SELL), small(account_type=None), NOW),
        "PDT_DAY_TRADE_LIMIT",
    )


def test_working_closing_orders_count_so_a_burst_cannot_exceed_the_limit() -> None:
    plugin = pdt(day_trades_already=1)
    plugin.aries_on_order_filled(fill(Side.BUY, "10"))
    plugin.aries_on_order_filled(fill(Side.BUY, "10", symbol="MSFT"))
    first = intent(side=Side.SELL, client_order_id="close-aapl")
    assert plugin.aries_check_order(first, small(), NOW) is None
    second = intent("MSFT", Side.SELL, client_order_id="close-msft")
    assert plugin.aries_check_order(second, small(), NOW) is None  # alone: 1 + 1 < 3
    account = small(in_flight=(first,))
    assert plugin.aries_check_order(second, account, NOW) is None  # 1 + 1 working = 2 < 3
    plugin.aries_on_order_filled(fill(Side.BUY, "10", symbol="TSLA"))
    third = intent("TSLA", Side.SELL, client_order_id="close-tsla")
    burst = small(
        in_flight=(second,),
        open_orders=(order(side=Side.SELL, cl_ord_id="X-9", client_order_id="close-aapl"),),
    )
    details = rejected(plugin.aries_check_order(third, burst, NOW), "PDT_DAY_TRADE_LIMIT")
    assert (details["working"], details["day_trades_already"]) == ("2", "1")


def test_a_closing_order_already_counted_is_not_counted_again() -> None:
    plugin = pdt(day_trades_already=3)
    plugin.aries_on_order_filled(fill(Side.BUY, "100"))
    plugin.aries_on_order_filled(fill(Side.SELL, "50", client_order_id="close-1"))
    # the rest of the same order (e.g. its replace) is the same day trade
    assert (
        plugin.aries_check_order(intent(side=Side.SELL, client_order_id="close-1"), small(), NOW)
        is None
    )
    rejected(
        plugin.aries_check_order(intent(side=Side.SELL, client_order_id="close-2"), small(), NOW),
        "PDT_DAY_TRADE_LIMIT",
    )


def test_unknown_equity_and_stale_state_are_rejected() -> None:
    plugin = pdt()
    plugin.aries_on_order_filled(fill(Side.BUY, "10"))
    rejected(plugin.aries_check_order(intent(side=Side.SELL), view(bal=None), NOW), "NO_BALANCE")
    rejected(
        plugin.aries_check_order(intent(), small(as_of_ns=NOW - 70 * SECOND), NOW), "STALE_STATE"
    )


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="timezone"):
        PatternDayTraderConfig(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="window_days"):
        PatternDayTraderConfig(window_days=0)


def test_a_new_day_begins_at_midnight_in_the_configured_time_zone() -> None:
    plugin = pdt(day_trades_already=3)
    plugin.aries_on_order_filled(fill(Side.BUY, "10"))  # opened 09:00 in New York
    midnight = NOW + 14 * 3600 * SECOND  # 2025-01-03 00:00 in New York (05:00 UTC)
    sell = intent(side=Side.SELL)
    for now, day_trade_refused in [
        (midnight - SECOND, True),
        (midnight, False),
        (midnight - 1, True),  # the same second as the first: still the 2nd
        (midnight + 1, False),
    ]:
        verdict = plugin.aries_check_order(sell, small(as_of_ns=now), now)
        assert (verdict is not None) == day_trade_refused, now - midnight
