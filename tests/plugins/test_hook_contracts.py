"""Hook contracts: names checked at load, firstresult with tryfirst/trylast, the historic
configure hook, the timer, and the routing of every market/account stream to its hook."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import pluggy
import pytest
import trio
import trio.testing

from engine import StrategyContext, hookimpl
from engine.accounts.views import AccountViews
from engine.bus import EventBus
from engine.config import EngineConfig, PluginSection, parse_config
from engine.errors import PluginError
from engine.hooks import PluginHost, make_plugin_manager
from engine.hooks.manager import LoadedPlugin, configure, load_plugins
from engine.hooks.risk import RiskGate
from engine.model import (
    AccountInfo,
    AccountInfoChanged,
    BookUpdated,
    ChartQuote,
    ChartTrade,
    Event,
    GreeksUpdated,
    MarketStatusChanged,
    NewsReceived,
    OrderFilled,
    OrderIntent,
    Quote,
    RiskVerdict,
    Side,
    SubmitOrder,
    TradingStateRequested,
    WatchlistAction,
    WatchlistChanged,
)
from plugins.buying_power import BuyingPowerCheck
from tests.conftest import make_intent, make_view

ACCOUNT = "SIM-001"


def config_with(*plugins: dict[str, Any]) -> EngineConfig:
    return parse_config({"accounts": [{"id": ACCOUNT}], "plugins": list(plugins)}, source="test")


class Misspelt:
    @hookimpl
    def aries_on_qoute(self, quote: object) -> None:  # a typo: no such hook
        pass


def test_a_misspelt_hook_name_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "engine.hooks.manager.instantiate", lambda section: Misspelt(), raising=True
    )
    config = config_with({"name": "typo", "path": "tests.plugins.test_hook_contracts:Misspelt"})
    with pytest.raises(PluginError, match=r"plugin 'typo': unknown hook\(s\) aries_on_qoute"):
        load_plugins(config, entry_points=False)


class Verdict:
    """A risk plugin that answers ``verdict`` and records that it was asked."""

    def __init__(self, name: str, verdict: RiskVerdict | None, asked: list[str]) -> None:
        self.name, self.verdict, self.asked = name, verdict, asked

    @hookimpl
    def aries_check_order(self, intent: OrderIntent) -> RiskVerdict | None:
        self.asked.append(self.name)
        return self.verdict


class First(Verdict):
    @hookimpl(tryfirst=True)
    def aries_check_order(self, intent: OrderIntent) -> RiskVerdict | None:
        return super().aries_check_order(intent)


class Last(Verdict):
    @hookimpl(trylast=True)
    def aries_check_order(self, intent: OrderIntent) -> RiskVerdict | None:
        return super().aries_check_order(intent)


def gate(*plugins: Verdict) -> RiskGate:
    pm = make_plugin_manager()
    loaded = []
    for plugin in plugins:
        pm.register(plugin, name=plugin.name)
        loaded.append(
            LoadedPlugin(name=plugin.name, kind="plugin", obj=plugin, accounts=(ACCOUNT,))
        )
    return RiskGate(pm, loaded)


def test_tryfirst_and_trylast_order_the_risk_plugins_and_the_first_answer_wins() -> None:
    asked: list[str] = []
    last = Last("last", RiskVerdict.approve(), asked)
    plain = Verdict("plain", None, asked)
    first = First("first", None, asked)
    verdict = gate(last, plain, first)(make_intent(), make_view())
    assert asked == ["first", "plain", "last"]
    assert verdict.approved
    assert verdict.plugin == "last"


def test_a_veto_stops_the_plugins_after_it() -> None:
    asked: list[str] = []
    veto = RiskVerdict.reject("NO", "because", limit=Decimal("5.00"))
    verdict = gate(Last("last", None, asked), First("first", veto, asked))(
        make_intent(), make_view()
    )
    assert asked == ["first"]
    assert (verdict.approved, verdict.code, verdict.plugin) == (False, "NO", "first")
    assert verdict.details == (("limit", "5.00"),)


def test_without_tryfirst_the_plugin_registered_last_is_asked_first() -> None:
    asked: list[str] = []
    gate(Verdict("a", None, asked), Verdict("b", None, asked))(make_intent(), make_view())
    assert asked == ["b", "a"]  # pluggy's LIFO order


class Configured:
    def __init__(self) -> None:
        self.accounts: list[str] = []

    @hookimpl
    def aries_configure(self, config: EngineConfig) -> None:
        self.accounts = [a.id for a in config.accounts]


class BadConfigure:
    @hookimpl
    def aries_configure(self, config: EngineConfig) -> None:
        raise RuntimeError("needs a [market] symbol")


def test_configure_is_historic_a_plugin_registered_later_still_gets_it() -> None:
    pm = make_plugin_manager()
    early, late = Configured(), Configured()
    pm.register(early, name="early")
    configure(pm, config_with())
    pm.register(late, name="late")
    assert early.accounts == [ACCOUNT]
    assert late.accounts == [ACCOUNT]


def test_a_configure_hook_that_raises_stops_start_up_naming_the_plugin() -> None:
    pm = make_plugin_manager()
    pm.register(Configured(), name="fine")
    pm.register(BadConfigure(), name="picky")
    with pytest.raises(PluginError, match=r"plugin 'picky': aries_configure raised .*symbol"):
        configure(pm, config_with())


class Ticker:
    def __init__(self) -> None:
        self.ticks: list[datetime] = []
        self.at: list[float] = []

    @hookimpl
    def aries_on_timer(self, now: datetime, ctx: StrategyContext) -> None:
        self.ticks.append(now)
        self.at.append(trio.current_time())
        if len(self.ticks) == 2:
            ctx.set_trading_state("HALTED", "two ticks seen")


async def test_the_timer_ticks_every_interval_and_its_commands_are_published(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pm, ticker, bus = make_plugin_manager(), Ticker(), EventBus()
    pm.register(ticker, name="ticker")
    loaded = [LoadedPlugin(name="ticker", kind="strategy", obj=ticker, accounts=(ACCOUNT,))]
    host = PluginHost(pm, loaded, bus, AccountViews(), timer_interval=0.5)
    requests = bus.subscribe("test", accepts=(TradingStateRequested,))
    async with trio.open_nursery() as nursery:
        await nursery.start(host.run)
        t0 = trio.current_time()
        await host.start_plugins()
        [request] = await requests.receive_batch()
        await trio.sleep(1.01)
        nursery.cancel_scope.cancel()
    assert [round(t - t0, 6) for t in ticker.at] == [0.5, 1.0, 1.5, 2.0]
    assert all(now.tzinfo is not None for now in ticker.ticks)
    assert isinstance(request, TradingStateRequested)
    assert (request.account_id, request.state) == (ACCOUNT, "HALTED")
    assert request.reason == "ticker: two ticks seen"


class StreamWatcher:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def aries_on_book(self, event: BookUpdated) -> None:
        self.seen.append("book")

    @hookimpl
    def aries_on_greeks(self, event: GreeksUpdated) -> None:
        self.seen.append("greeks")

    @hookimpl
    def aries_on_market_status(self, event: MarketStatusChanged) -> None:
        self.seen.append("market_status")

    @hookimpl
    def aries_on_chart_quote(self, event: ChartQuote) -> None:
        self.seen.append("chart_quote")

    @hookimpl
    def aries_on_chart_trade(self, event: ChartTrade) -> None:
        self.seen.append("chart_trade")

    @hookimpl
    def aries_on_news(self, event: NewsReceived) -> None:
        self.seen.append("news")

    @hookimpl
    def aries_on_watchlist(self, event: WatchlistChanged) -> None:
        self.seen.append("watchlist")

    @hookimpl
    def aries_on_account_info(self, event: AccountInfoChanged) -> None:
        self.seen.append(f"info:{event.account_id}")


def test_every_stream_reaches_its_hook_and_account_info_only_bound_plugins() -> None:
    pm, bus = make_plugin_manager(), EventBus()
    bound, other = StreamWatcher(), StreamWatcher()
    pm.register(bound, name="bound")
    pm.register(other, name="other")
    loaded = [
        LoadedPlugin(name="bound", kind="strategy", obj=bound, accounts=(ACCOUNT,)),
        LoadedPlugin(name="other", kind="strategy", obj=other, accounts=("SIM-002",)),
    ]
    host = PluginHost(pm, loaded, bus, AccountViews())
    events: list[Event] = [
        BookUpdated(symbol="AAPL"),
        GreeksUpdated(symbol="AAPL240119C00150000"),
        MarketStatusChanged(market="OPEN"),
        ChartQuote(symbol="AAPL"),
        ChartTrade(symbol="AAPL", price=Decimal("1.5")),
        NewsReceived(id="n-1", headline="Earnings"),
        WatchlistChanged(action=next(iter(WatchlistAction)), watchlist_id="w-1"),
        AccountInfoChanged(account_id=ACCOUNT, info=AccountInfo(account_id=ACCOUNT)),
    ]
    for event in events:
        host.deliver(event)
    market = ["book", "greeks", "market_status", "chart_quote", "chart_trade", "news", "watchlist"]
    assert bound.seen == [*market, f"info:{ACCOUNT}"]
    assert other.seen == market


def test_every_hookspec_has_a_docstring_saying_when_it_is_called() -> None:
    from engine.hooks import hookspecs

    names = {n for n in dir(hookspecs) if n.startswith("aries_")}
    required = {
        "aries_configure", "aries_engine_started", "aries_engine_stopping",
        "aries_on_connection_state", "aries_on_market_status", "aries_on_quote", "aries_on_trade",
        "aries_on_book", "aries_on_chart_trade", "aries_on_chart_quote", "aries_on_order_updated",
        "aries_on_order_filled", "aries_on_order_rejected", "aries_on_position_changed",
        "aries_on_balance_changed", "aries_on_account_info", "aries_on_pnl_candle",
        "aries_on_watchlist", "aries_on_news", "aries_on_account_synced",
        "aries_on_trading_state_changed", "aries_on_plugin_faulted", "aries_check_order",
        "aries_on_timer",
    }  # fmt: skip
    assert required <= names
    specs = [getattr(hookspecs, n) for n in sorted(names)]
    for spec in specs:
        assert spec.__doc__ is not None
        assert "Called:" in spec.__doc__, spec.__name__


def test_plugin_sections_of_one_class_can_run_with_different_configs() -> None:
    config = config_with(
        {
            "name": "bp-tight",
            "path": "plugins.buying_power:BuyingPowerCheck",
            "config": {"headroom": "1000"},
        },
        {"name": "bp-loose", "path": "plugins.buying_power:BuyingPowerCheck"},
    )
    assert all(isinstance(s, PluginSection) for s in config.plugins)
    _pm, loaded = load_plugins(config, entry_points=False)
    headrooms = {p.name: cast(BuyingPowerCheck, p.obj).config.headroom for p in loaded}
    assert headrooms == {"bp-tight": Decimal(1000), "bp-loose": Decimal(0)}


class Reserves:
    def __init__(self, amount: object) -> None:
        self.amount = amount

    @hookimpl
    def aries_order_reservation(self, intent: OrderIntent) -> object:
        if isinstance(self.amount, Exception):
            raise self.amount
        return self.amount


def reservation_gate(plugin: Reserves) -> RiskGate:
    pm = make_plugin_manager()
    pm.register(plugin, name="reserves")
    return RiskGate(
        pm, [LoadedPlugin(name="reserves", kind="plugin", obj=plugin, accounts=(ACCOUNT,))]
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Decimal("12.50"), Decimal("12.50")),
        (None, None),
        (Decimal(-1), None),
        (1.5, None),
        (RuntimeError("boom"), None),
    ],
)
def test_a_reservation_is_the_plugins_answer_or_none_for_the_engines_default(
    answer: object, expected: Decimal | None
) -> None:
    assert reservation_gate(Reserves(answer)).reservation(make_intent(), make_view()) == expected


def make_context(name: str, emitted: list[Event]) -> StrategyContext:
    return StrategyContext(name, (ACCOUNT,), AccountViews(), {}, emitted.append)


def test_instances_whose_names_share_a_beginning_get_distinct_order_ids() -> None:
    emitted: list[Event] = []
    first = make_context("mean-reversion-aapl-account-1", emitted)
    second = make_context("mean-reversion-aapl-account-2", emitted)
    a = first.submit("AAPL", "BUY", 1, price="10")
    b = second.submit("AAPL", "BUY", 1, price="10")
    assert a != b
    assert first.owns(a)
    assert not second.owns(a)
    assert len(a) <= 50


def test_an_osi_symbol_is_submitted_as_an_option_unless_told_otherwise() -> None:
    emitted: list[Event] = []
    ctx = make_context("opt", emitted)
    ctx.submit("AAPL  270115C00150000", "BUY", 1, price="5")
    ctx.submit("AAPL270115P00150000", "SELL", 1, price="5")
    ctx.submit("AAPL", "BUY", 1, price="5")
    ctx.submit("AAPL", "BUY", 1, price="5", security_type="OPTION")
    kinds = [e.intent.security_type for e in emitted if isinstance(e, SubmitOrder)]
    assert kinds == ["OPTION", "OPTION", "EQUITY", "OPTION"]


class CountsFills:
    """A risk plugin whose state comes from fills; it raises on one."""

    @hookimpl
    def aries_on_order_filled(self) -> None:
        raise RuntimeError("bookkeeping bug")

    @hookimpl
    def aries_check_order(self) -> None:
        return None


def test_a_risk_plugin_disabled_by_the_host_rejects_from_then_on() -> None:
    pm, bus = make_plugin_manager(), EventBus()
    plugin = CountsFills()
    pm.register(plugin, name="counts")
    loaded = [LoadedPlugin(name="counts", kind="plugin", obj=plugin, accounts=(ACCOUNT,))]
    host, gate = PluginHost(pm, loaded, bus, AccountViews()), RiskGate(pm, loaded)
    assert gate(make_intent(), make_view()).approved
    host.deliver(
        OrderFilled(
            account_id=ACCOUNT,
            cl_ord_id="CL-1",
            client_order_id=None,
            symbol="AAPL",
            side=Side.BUY,
            qty=Decimal(1),
            price=Decimal(1),
            cum_qty=Decimal(1),
            leaves_qty=Decimal(0),
        )
    )
    verdict = gate(make_intent(), make_view())
    assert (verdict.approved, verdict.code, verdict.plugin) == (
        False,
        "RISK_PLUGIN_DISABLED",
        "counts",
    )


class Undecorated:
    def __init__(self) -> None:
        self.quotes = 0

    def aries_on_quote(self) -> None:  # no @hookimpl: still a hook, as in pytest
        self.quotes += 1


class UndecoratedTypo:
    def aries_on_qoute(self) -> None:
        pass


def test_undecorated_aries_functions_are_hooks_so_a_typo_still_fails() -> None:
    pm = make_plugin_manager()
    plugin = Undecorated()
    pm.register(plugin, name="plain")
    pm.check_pending()
    loaded = [LoadedPlugin(name="plain", kind="strategy", obj=plugin, accounts=(ACCOUNT,))]
    PluginHost(pm, loaded, EventBus(), AccountViews()).deliver(Quote(symbol="AAPL"))
    assert plugin.quotes == 1
    pm.register(UndecoratedTypo(), name="typo")
    with pytest.raises(pluggy.PluginValidationError, match="aries_on_qoute"):
        pm.check_pending()
