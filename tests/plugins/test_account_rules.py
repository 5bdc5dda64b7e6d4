"""Account rules: no short sales or naked options outside margin accounts; options levels."""

from __future__ import annotations

import pytest

from engine.model import AccountInfo, AccountView, OrderIntent, SecurityType, Side
from engine.model.orders import RiskVerdict
from plugins.account_rules import AccountRules, AccountRulesConfig
from tests.plugins._risk import (
    ACCOUNT,
    NOW,
    SECOND,
    balance,
    intent,
    leg,
    order,
    rejected,
    view,
)

rules = AccountRules(AccountRulesConfig())
CALL = "AAPL270115C00150000"
PUT = "AAPL270115P00050000"


def info(account_type: str | None = "MARGIN", level: str | None = "LEVEL_2") -> AccountInfo:
    return AccountInfo(account_id=ACCOUNT, account_type=account_type, options_level=level)


def check(order_intent: OrderIntent, account: AccountView) -> RiskVerdict | None:
    return rules.aries_check_order(order_intent, account, NOW)


def option(symbol: str, side: Side, qty: str = "1") -> OrderIntent:
    return intent(symbol, side, qty, "2", security_type=SecurityType.OPTION)


# --- account type --------------------------------------------------------------------------------


@pytest.mark.parametrize("account_type", ["CASH", "IRA", "ROTH_IRA", "RETIREMENT"])
def test_no_short_sale_outside_margin_accounts(account_type: str) -> None:
    account = view(info=info(account_type))
    details = rejected(check(intent(side=Side.SELL_SHORT), account), "SHORT_SALE_NOT_ALLOWED")
    assert details == {
        "account_type": account_type,
        "position": "0",
        "working_sells": "0",
        "qty": "10",
    }


def test_selling_more_than_held_is_a_short_sale_in_a_cash_account() -> None:
    account = view(info=info("CASH"), positions={"AAPL": "100"})
    assert check(intent(side=Side.SELL, qty="100"), account) is None
    verdict = check(intent(side=Side.SELL, qty="101"), account)
    details = rejected(verdict, "SHORT_SALE_NOT_ALLOWED")
    assert (details["position"], details["qty"]) == ("100", "101")
    assert verdict is not None
    assert "sell 1 short" in verdict.reason


def test_a_sell_behind_a_working_sell_of_the_same_shares_is_a_short_sale() -> None:
    account = view(
        info=info("IRA"),
        positions={"AAPL": "100"},
        in_flight=(intent(side=Side.SELL, qty="60", client_order_id="c-0"),),
    )
    details = rejected(check(intent(side=Side.SELL, qty="50"), account), "SHORT_SALE_NOT_ALLOWED")
    assert details["working_sells"] == "60"
    assert check(intent(side=Side.SELL, qty="40"), account) is None


def test_margin_accounts_may_sell_short() -> None:
    assert check(intent(side=Side.SELL_SHORT), view(info=info("MARGIN"))) is None


def test_buys_pass_in_cash_accounts() -> None:
    assert check(intent(), view(info=info("CASH", None))) is None


@pytest.mark.parametrize(
    ("account_info", "shown"),
    [(None, "not known yet"), (info(None), "not known yet"), (info("INDIVIDUAL"), "'INDIVIDUAL'")],
)
def test_unknown_account_type_fails_closed(account_info: AccountInfo | None, shown: str) -> None:
    verdict = check(intent(), view(info=account_info))
    details = rejected(verdict, "ACCOUNT_INFO_UNKNOWN")
    assert "account_type" in details
    assert verdict is not None
    assert shown in verdict.reason


def test_unknown_options_level_fails_closed_for_option_orders_only() -> None:
    account = view(info=info("MARGIN", None))
    assert check(intent(), account) is None
    details = rejected(check(option(CALL, Side.BUY), account), "ACCOUNT_INFO_UNKNOWN")
    assert details == {"account_type": "MARGIN", "options_level": "None"}


# --- options levels ------------------------------------------------------------------------------


def test_level_0_allows_no_opening_option_order() -> None:
    details = rejected(
        check(option(CALL, Side.BUY), view(info=info(level="LEVEL_0"))), "OPTIONS_LEVEL"
    )
    assert details == {
        "options_level": "LEVEL_0",
        "required_level": "LEVEL_2",
        "strategy": "buying options to open",
    }


def test_closing_an_option_position_is_allowed_at_any_level() -> None:
    account = view(info=info("CASH", "LEVEL_0"), positions={CALL: "2"})
    assert check(option(CALL, Side.SELL, "2"), account) is None


def test_level_1_allows_a_covered_call() -> None:
    account = view(info=info("CASH", "LEVEL_1"), positions={"AAPL": "200"})
    assert check(option(CALL, Side.SELL, "2"), account) is None


def test_a_call_without_the_shares_is_naked() -> None:
    margin = view(info=info("MARGIN", "LEVEL_1"), positions={"AAPL": "199"})
    details = rejected(check(option(CALL, Side.SELL, "2"), margin), "OPTIONS_LEVEL")
    assert (details["required_level"], details["strategy"]) == ("LEVEL_4", "a naked call")
    cash = view(info=info("CASH", "LEVEL_4"), positions={"AAPL": "199"})
    details = rejected(check(option(CALL, Side.SELL, "2"), cash), "NAKED_OPTION_NOT_ALLOWED")
    assert details == {"account_type": "CASH", "qty": "2", "strategy": "a naked call"}
    assert check(option(CALL, Side.SELL, "2"), view(info=info("MARGIN", "LEVEL_4"))) is None


def test_shares_already_promised_do_not_cover_a_second_call() -> None:
    account = view(
        info=info("MARGIN", "LEVEL_1"),
        positions={"AAPL": "100"},
        open_orders=(
            order(CALL, Side.SELL, "1", "2", cl_ord_id="X-1", security_type=SecurityType.OPTION),
        ),
    )
    rejected(check(option(CALL, Side.SELL, "1"), account), "OPTIONS_LEVEL")
    short_call_held = view(info=info("MARGIN", "LEVEL_1"), positions={"AAPL": "100", CALL: "-1"})
    rejected(check(option(CALL, Side.SELL, "1"), short_call_held), "OPTIONS_LEVEL")
    stock_sale = view(
        info=info("MARGIN", "LEVEL_1"),
        positions={"AAPL": "100"},
        in_flight=(intent(side=Side.SELL, qty="1", client_order_id="c-0"),),
    )
    rejected(check(option(CALL, Side.SELL, "1"), stock_sale), "OPTIONS_LEVEL")


def test_level_1_allows_a_cash_secured_put() -> None:
    secured = view(info=info("CASH", "LEVEL_1"), bal=balance(option_buying_power="10000"))
    assert check(option(PUT, Side.SELL, "2"), secured) is None  # 50 × 100 × 2
    short_of_cash = view(
        info=info("CASH", "LEVEL_1"), bal=balance(option_buying_power="10000"), reserved="1"
    )
    details = rejected(
        check(option(PUT, Side.SELL, "2"), short_of_cash), "NAKED_OPTION_NOT_ALLOWED"
    )
    assert details["strategy"] == "a naked put"


def test_an_option_sale_of_unknown_kind_is_naked() -> None:
    unknown = intent("AAPL", Side.SELL, "1", "2", security_type=SecurityType.OPTION)
    details = rejected(check(unknown, view(info=info("MARGIN", "LEVEL_3"))), "OPTIONS_LEVEL")
    assert details["required_level"] == "LEVEL_4"


def test_level_2_allows_long_options_but_not_spreads() -> None:
    account = view(info=info("MARGIN", "LEVEL_2"))
    assert check(option(CALL, Side.BUY), account) is None
    spread = intent(
        "AAPL",
        Side.BUY,
        "1",
        "1.25",
        security_type=SecurityType.MULTI_LEG,
        legs=(leg(Side.BUY, "CALL", "150"), leg(Side.SELL, "CALL", "155")),
    )
    details = rejected(check(spread, account), "OPTIONS_LEVEL")
    assert (details["required_level"], details["strategy"]) == ("LEVEL_3", "a spread")
    assert check(spread, view(info=info("CASH", "LEVEL_3"))) is None


def test_a_spread_selling_more_than_it_buys_is_naked_for_the_excess() -> None:
    ratio = intent(
        "AAPL",
        Side.SELL,
        "2",
        "0.50",
        security_type=SecurityType.MULTI_LEG,
        legs=(leg(Side.BUY, "CALL", "150"), leg(Side.SELL, "CALL", "155", ratio="2")),
    )
    details = rejected(check(ratio, view(info=info("MARGIN", "LEVEL_3"))), "OPTIONS_LEVEL")
    assert details["required_level"] == "LEVEL_4"
    details = rejected(check(ratio, view(info=info("IRA", "LEVEL_4"))), "NAKED_OPTION_NOT_ALLOWED")
    assert details["qty"] == "2"


def test_a_spread_that_closes_every_leg_is_allowed_at_any_level() -> None:
    closing = intent(
        "AAPL",
        Side.SELL,
        "1",
        "1.00",
        security_type=SecurityType.MULTI_LEG,
        legs=(leg(Side.SELL, effect="CLOSE"), leg(Side.BUY, strike="155", effect="CLOSE")),
    )
    assert check(closing, view(info=info("CASH", "LEVEL_0"))) is None


@pytest.mark.parametrize("as_of", [None, NOW - 66 * SECOND])
def test_stale_state_is_rejected(as_of: int | None) -> None:
    rejected(check(intent(), view(as_of_ns=as_of)), "STALE_STATE")
