"""The risk gate: first verdict wins, no verdict approves, and a raising plugin rejects."""

from __future__ import annotations

import pluggy
from structlog.testing import capture_logs

from engine import hookimpl
from engine.hooks import RiskGate, make_plugin_manager
from engine.hooks.manager import LoadedPlugin
from engine.model import AccountView, OrderIntent, RiskVerdict
from tests.conftest import make_intent, make_view


class Approves:
    @hookimpl
    def aries_check_order(self, intent: OrderIntent) -> RiskVerdict | None:
        return None


class Raises:
    @hookimpl
    def aries_check_order(self, intent: OrderIntent, account: AccountView) -> RiskVerdict | None:
        raise RuntimeError("limit table missing")


class RejectsBig:
    @hookimpl
    def aries_check_order(self, intent: OrderIntent) -> RiskVerdict | None:
        if intent.qty > 100:
            return RiskVerdict.reject("TOO_BIG", "more than 100 shares")
        return None


def gate(*plugins: object, accounts: tuple[str, ...] = ("SIM-001",)) -> RiskGate:
    pm: pluggy.PluginManager = make_plugin_manager()
    loaded = []
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=f"p{index}")
        loaded.append(LoadedPlugin(name=f"p{index}", kind="plugin", obj=plugin, accounts=accounts))
    return RiskGate(pm, loaded)


def test_no_plugins_approves() -> None:
    assert gate()(make_intent(), make_view()).approved


def test_first_rejection_wins_and_names_the_plugin() -> None:
    verdict = gate(Approves(), RejectsBig())(make_intent(qty="101"), make_view())
    assert not verdict.approved
    assert (verdict.code, verdict.plugin) == ("TOO_BIG", "p1")


def test_raising_plugin_rejects_the_order_fail_closed() -> None:
    risk = gate(Raises())
    with capture_logs() as logs:
        verdict = risk(make_intent(), make_view())
    assert not verdict.approved
    assert verdict.code == "RISK_PLUGIN_ERROR"
    assert "limit table missing" in verdict.reason
    assert [(e["event"], e["plugin"]) for e in logs] == [("risk.plugin_raised", "p0")]
    assert risk.faults == 1


def test_plugins_bound_to_another_account_are_not_asked() -> None:
    assert gate(Raises(), accounts=("OTHER",))(make_intent(), make_view()).approved


def test_a_wrong_return_type_rejects() -> None:
    class ReturnsTrue:
        @hookimpl
        def aries_check_order(self) -> object:
            return True

    verdict = gate(ReturnsTrue())(make_intent(), make_view())
    assert not verdict.approved
    assert verdict.code == "RISK_PLUGIN_ERROR"
