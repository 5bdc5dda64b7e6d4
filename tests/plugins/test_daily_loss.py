"""The daily loss limit: the kill switch on balance changes, and the order check while tripped."""

from __future__ import annotations

import pytest

from engine import StrategyContext
from engine.accounts.views import AccountViews
from engine.model import (
    Balance,
    BalanceChanged,
    Event,
    Side,
    TradingState,
    TradingStateRequested,
)
from engine.testing import StrategyHarness
from plugins.daily_loss import DailyLossConfig, DailyLossLimit
from tests.plugins._risk import ACCOUNT, NOW, SECOND, D, balance, gate, intent, rejected, view


def context(emitted: list[Event], accounts: tuple[str, ...] = (ACCOUNT,)) -> StrategyContext:
    return StrategyContext(
        name="daily-loss", accounts=accounts, views=AccountViews(), quotes={}, emit=emitted.append
    )


def pnl(realized: str, unrealized: str, account_id: str = ACCOUNT) -> Balance:
    return balance(account_id, realized_pl=realized, unrealized_pl=unrealized)


def changed(bal: Balance) -> BalanceChanged:
    return BalanceChanged(account_id=bal.account_id, balance=bal, ts_recv=NOW)


def limit(**more: bool) -> DailyLossLimit:
    return DailyLossLimit(DailyLossConfig(max_loss=D(5000), **more))


def test_a_balance_within_the_limit_does_nothing() -> None:
    emitted: list[Event] = []
    plugin = limit()
    plugin.aries_on_balance_changed(changed(pnl("-3000", "-1999.99")), context(emitted))
    assert emitted == []
    assert plugin.tripped == {}


def test_reaching_the_limit_halts_the_account_exactly_once() -> None:
    emitted: list[Event] = []
    ctx = context(emitted)
    plugin = limit()
    plugin.aries_on_balance_changed(changed(pnl("-3000", "-1000")), ctx)
    plugin.aries_on_balance_changed(changed(pnl("-3000", "-2000")), ctx)  # exactly -5000
    plugin.aries_on_balance_changed(changed(pnl("-3000", "-2500")), ctx)
    plugin.aries_on_balance_changed(changed(pnl("-3000", "-1000")), ctx)
    plugin.aries_on_balance_changed(changed(pnl("-6000", "0")), ctx)
    [request] = emitted
    assert isinstance(request, TradingStateRequested)
    assert (request.account_id, request.state) == (ACCOUNT, TradingState.HALTED)
    assert "-5000" in request.reason
    assert "realized -3000" in request.reason
    assert request.reason.startswith("daily-loss: ")
    assert plugin.tripped == {ACCOUNT: D("-5000")}


def test_each_account_is_halted_on_its_own() -> None:
    emitted: list[Event] = []
    ctx = context(emitted, accounts=("A", "B"))
    plugin = limit()
    plugin.aries_on_balance_changed(changed(pnl("-9000", "0", "A")), ctx)
    plugin.aries_on_balance_changed(changed(pnl("-100", "0", "B")), ctx)
    plugin.aries_on_balance_changed(changed(pnl("-9000", "0", "B")), ctx)
    plugin.aries_on_balance_changed(changed(pnl("-9999", "0", "A")), ctx)
    assert [(e.account_id, e.state) for e in emitted if isinstance(e, TradingStateRequested)] == [
        ("A", TradingState.HALTED),
        ("B", TradingState.HALTED),
    ]


def test_halt_can_be_turned_off() -> None:
    emitted: list[Event] = []
    plugin = limit(halt=False)
    plugin.aries_on_balance_changed(changed(pnl("-9000", "0")), context(emitted))
    assert emitted == []
    assert ACCOUNT in plugin.tripped


def test_new_orders_are_rejected_at_the_limit_with_the_numbers() -> None:
    plugin = limit()
    assert plugin.aries_check_order(intent(), view(bal=pnl("-4000", "-999")), NOW) is None
    verdict = plugin.aries_check_order(intent(), view(bal=pnl("-4000", "-1000")), NOW)
    details = rejected(verdict, "DAILY_LOSS_LIMIT")
    assert details == {
        "pnl": "-5000",
        "realized_pl": "-4000",
        "unrealized_pl": "-1000",
        "max_loss": "5000",
        "tripped_at": "-5000",
    }


def test_reducing_orders_pass_while_tripped_unless_configured_otherwise() -> None:
    account = view(bal=pnl("-9000", "0"), positions={"AAPL": "100"})
    flatten = intent(side=Side.SELL, qty="100")
    assert limit().aries_check_order(flatten, account, NOW) is None
    rejected(
        limit().aries_check_order(intent(side=Side.SELL, qty="101"), account, NOW),
        "DAILY_LOSS_LIMIT",
    )
    rejected(
        limit(allow_reducing=False).aries_check_order(flatten, account, NOW), "DAILY_LOSS_LIMIT"
    )


def test_the_switch_latches_after_the_pnl_recovers() -> None:
    emitted: list[Event] = []
    plugin = limit()
    plugin.aries_on_balance_changed(changed(pnl("-6000", "0")), context(emitted))
    verdict = plugin.aries_check_order(intent(), view(bal=pnl("-1000", "0")), NOW)
    details = rejected(verdict, "DAILY_LOSS_LIMIT")
    assert (details["pnl"], details["tripped_at"]) == ("-1000", "-6000")
    assert verdict is not None
    assert "stays tripped" in verdict.reason


def test_an_order_check_that_sees_the_loss_first_trips_the_switch() -> None:
    plugin = limit()
    rejected(
        plugin.aries_check_order(intent(), view(bal=pnl("0", "-5001")), NOW), "DAILY_LOSS_LIMIT"
    )
    rejected(plugin.aries_check_order(intent(), view(bal=pnl("0", "0")), NOW), "DAILY_LOSS_LIMIT")


@pytest.mark.parametrize("as_of", [None, NOW - 66 * SECOND])
def test_stale_state_is_rejected(as_of: int | None) -> None:
    rejected(
        limit().aries_check_order(intent(), view(bal=pnl("0", "0"), as_of_ns=as_of), NOW),
        "STALE_STATE",
    )


def test_unknown_pnl_is_rejected() -> None:
    rejected(limit().aries_check_order(intent(), view(bal=None), NOW), "NO_BALANCE")


def test_in_the_gate_the_rejection_names_the_plugin() -> None:
    verdict = gate(limit())(intent(), view(bal=pnl("-5000", "0")))
    assert (verdict.approved, verdict.code, verdict.plugin) == (
        False,
        "DAILY_LOSS_LIMIT",
        "DailyLossLimit-0",
    )


async def test_through_the_plugin_host_the_halt_is_published_once() -> None:
    harness = StrategyHarness(limit(), name="daily-loss", kind="plugin")
    await harness.start()
    quiet = await harness.deliver(changed(pnl("-100", "0")))
    assert quiet.trading_state_requests == []
    first = await harness.deliver(changed(pnl("-5000", "-1")))
    again = await harness.deliver(changed(pnl("-7000", "0")))
    [request] = first.trading_state_requests
    assert (request.account_id, request.state) == (ACCOUNT, TradingState.HALTED)
    assert "-5001" in request.reason
    assert again.trading_state_requests == []
