"""The risk gate: first verdict wins, no verdict approves, and a raising plugin rejects."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pluggy
from structlog.testing import capture_logs

from engine import hookimpl
from engine.hooks import RiskGate, make_plugin_manager
from engine.hooks.manager import LoadedPlugin
from engine.model import AccountView, OrderIntent, Quote, RiskVerdict
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


class Records:
    """Answers ``None`` and remembers what each of its hooks was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[object, ...]] = []

    @hookimpl
    def aries_check_order(
        self, now_ns: int, account: AccountView, intent: OrderIntent, quotes: Mapping[str, Quote]
    ) -> RiskVerdict | None:
        self.seen.append((now_ns, account, intent, quotes))
        return None


class RecordsNothing:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def aries_check_order(self) -> RiskVerdict | None:
        self.calls += 1
        return None


class RecordsIntent:
    def __init__(self) -> None:
        self.intents: list[OrderIntent] = []

    @hookimpl
    def aries_check_order(self, intent: OrderIntent) -> RiskVerdict | None:
        self.intents.append(intent)
        return None


def test_each_plugin_gets_the_arguments_it_names_in_its_own_order() -> None:
    everything, nothing, only_intent = Records(), RecordsNothing(), RecordsIntent()
    pm: pluggy.PluginManager = make_plugin_manager()
    loaded = []
    for index, plugin in enumerate((everything, nothing, only_intent)):
        pm.register(plugin, name=f"p{index}")
        loaded.append(
            LoadedPlugin(name=f"p{index}", kind="plugin", obj=plugin, accounts=("SIM-001",))
        )
    book_quotes = {"AAPL": Quote(symbol="AAPL", bid=Decimal(1), ask=Decimal(2), ts_recv=5)}
    risk = RiskGate(pm, loaded, quotes=book_quotes, clock=lambda: 42)
    intent, view = make_intent(), make_view()
    verdict = risk(intent, view)
    assert verdict == RiskVerdict.approve()
    assert everything.seen == [(42, view, intent, book_quotes)]
    assert nothing.calls == 1
    assert only_intent.intents == [intent]


def test_the_plugins_of_each_account_are_asked_about_its_orders_only() -> None:
    pm: pluggy.PluginManager = make_plugin_manager()
    first, second = RecordsIntent(), RecordsIntent()
    pm.register(first, name="first")
    pm.register(second, name="second")
    loaded = [
        LoadedPlugin(name="first", kind="plugin", obj=first, accounts=("SIM-001",)),
        LoadedPlugin(name="second", kind="plugin", obj=second, accounts=("SIM-001", "SIM-002")),
    ]
    risk = RiskGate(pm, loaded)
    one = make_intent(client_order_id="a", account_id="SIM-001")
    two = make_intent(client_order_id="b", account_id="SIM-002")
    for _round in range(2):
        assert risk(one, make_view()).approved
        assert risk(two, make_view(account_id="SIM-002")).approved
    assert first.intents == [one, one]
    assert second.intents == [one, two, one, two]
