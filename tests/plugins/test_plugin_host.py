"""The plugin host: routing rules, per-plugin contexts, fault isolation and submit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from engine import StrategyContext, hookimpl
from engine.accounts.views import AccountViews
from engine.bus import EventBus
from engine.hooks import PluginHost, make_plugin_manager
from engine.hooks.manager import LoadedPlugin, PluginKind
from engine.model import (
    Balance,
    BalanceChanged,
    OrderFilled,
    OrderRejected,
    PluginFaulted,
    Quote,
    Side,
    SubmitOrder,
)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    @hookimpl
    def aries_engine_started(self) -> None:
        self.seen.append(("started", None))

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        self.seen.append(("quote", quote.symbol))

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled) -> None:
        self.seen.append(("fill", event.client_order_id))

    @hookimpl
    def aries_on_balance_changed(self, event: BalanceChanged) -> None:
        self.seen.append(("balance", event.account_id))


class Exploder(Recorder):
    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        raise ZeroDivisionError("bad strategy")


class Submitter:
    def __init__(self) -> None:
        self.ids: list[str] = []

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        self.ids.append(ctx.submit(quote.symbol, Side.BUY, 5, price="10.5"))


def make_host(
    *specs: tuple[str, PluginKind, object, tuple[str, ...]],
) -> tuple[PluginHost, EventBus]:
    pm = make_plugin_manager()
    loaded = []
    for name, kind, obj, accounts in specs:
        pm.register(obj, name=name)
        loaded.append(LoadedPlugin(name=name, kind=kind, obj=obj, accounts=accounts))
    bus = EventBus()
    return PluginHost(pm, loaded, bus, AccountViews()), bus


def fill(account: str, strategy: str | None, client_order_id: str) -> OrderFilled:
    return OrderFilled(
        account_id=account,
        cl_ord_id="C1",
        client_order_id=client_order_id,
        symbol="AAPL",
        side=Side.BUY,
        qty=Decimal(1),
        price=Decimal(10),
        cum_qty=Decimal(1),
        leaves_qty=Decimal(0),
        strategy=strategy,
    )


def test_account_events_reach_only_plugins_bound_to_that_account() -> None:
    a, b = Recorder(), Recorder()
    host, _ = make_host(("a", "strategy", a, ("A",)), ("b", "strategy", b, ("B",)))
    host.deliver(BalanceChanged(account_id="A", balance=Balance(account_id="A")))
    assert a.seen == [("balance", "A")]
    assert b.seen == []


def test_order_events_of_a_strategy_go_to_that_strategy_and_to_observers() -> None:
    mine, other, observer = Recorder(), Recorder(), Recorder()
    host, _ = make_host(
        ("mine", "strategy", mine, ("A",)),
        ("other", "strategy", other, ("A",)),
        ("observer", "plugin", observer, ("A",)),
    )
    host.deliver(fill("A", "mine", "mine-1"))
    host.deliver(fill("A", None, "external-1"))
    assert mine.seen == [("fill", "mine-1"), ("fill", "external-1")]
    assert other.seen == [("fill", "external-1")]
    assert observer.seen == [("fill", "mine-1"), ("fill", "external-1")]


async def test_a_raising_strategy_is_disabled_and_the_others_go_on() -> None:
    bad, good = Exploder(), Recorder()
    host, bus = make_host(("bad", "strategy", bad, ("A",)), ("good", "strategy", good, ("A",)))
    faults = bus.subscribe("faults", accepts=(PluginFaulted,))
    with capture_logs() as logs:
        host.deliver(Quote(symbol="AAPL"))
        host.deliver(Quote(symbol="MSFT"))
        await host.flush()
    assert good.seen == [("quote", "AAPL"), ("quote", "MSFT")]
    [fault] = await faults.receive_batch()
    assert isinstance(fault, PluginFaulted)
    assert (fault.plugin, fault.hook) == ("bad", "aries_on_quote")
    assert "bad strategy" in fault.error
    faulted = [e for e in logs if e["event"] == "plugin.faulted"]
    assert len(faulted) == 1
    assert faulted[0]["plugin"] == "bad"
    assert {s.name: s.faulted for s in host.statistics()} == {"bad": True, "good": False}


async def test_submit_returns_an_id_at_once_and_publishes_a_command() -> None:
    submitter = Submitter()
    host, bus = make_host(("quoter", "strategy", submitter, ("A",)))
    commands = bus.subscribe("commands", accepts=(SubmitOrder,))
    host.deliver(Quote(symbol="AAPL", bid=Decimal("10.4"), ask=Decimal("10.6")))
    assert len(submitter.ids) == 1
    await host.flush()
    [command] = await commands.receive_batch()
    assert isinstance(command, SubmitOrder)
    intent = command.intent
    assert intent.client_order_id == submitter.ids[0]
    assert len(intent.client_order_id) <= 50
    assert (intent.account_id, intent.strategy, intent.qty, intent.price) == (
        "A",
        "quoter",
        Decimal(5),
        Decimal("10.5"),
    )
    assert intent.reference_price == Decimal("10.6")  # the ask, for a buy


def test_submit_rejects_float_money_and_bad_quantities() -> None:
    host, _ = make_host(("q", "strategy", Recorder(), ("A",)))
    ctx = host._states[id(host.plugins[0].obj)].ctx
    with pytest.raises(TypeError, match="float"):
        ctx.submit("AAPL", Side.BUY, 1, price=10.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        ctx.submit("AAPL", Side.BUY, 0, price="10")
    with pytest.raises(ValueError, match="not bound"):
        ctx.submit("AAPL", Side.BUY, 1, price="10", account="B")


async def test_run_delivers_until_the_bus_closes() -> None:
    recorder = Recorder()
    host, bus = make_host(("r", "strategy", recorder, ("A",)))
    async with trio.open_nursery() as nursery:
        await nursery.start(host.run)
        await bus.publish(Quote(symbol="AAPL"))
        await trio.testing.wait_all_tasks_blocked()
        assert recorder.seen == []  # nothing is delivered before aries_engine_started
        await host.start_plugins()
        bus.close()
    assert recorder.seen == [("started", None), ("quote", "AAPL")]


class RecordsRejections(Submitter):
    def __init__(self) -> None:
        super().__init__()
        self.rejections: list[tuple[str | None, str]] = []

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected) -> None:
        self.rejections.append((event.client_order_id, event.code))


async def test_the_host_never_waits_on_a_full_account_queue_it_rejects_instead() -> None:
    strategy = RecordsRejections()
    host, bus = make_host(("quoter", "strategy", strategy, ("A",)))
    account_queue = bus.subscribe("account:A", accepts=(SubmitOrder,), capacity=1)
    host.deliver(Quote(symbol="AAPL", bid=Decimal(10), ask=Decimal(11)))
    host.deliver(Quote(symbol="MSFT", bid=Decimal(10), ask=Decimal(11)))
    with trio.fail_after(1):  # would hang for ever if the host waited
        await host.flush()
    assert len(strategy.ids) == 2
    assert [e.intent.client_order_id for e in await account_queue.receive_batch()] == [  # type: ignore[attr-defined]
        strategy.ids[0]
    ]
    assert strategy.rejections == [(strategy.ids[1], "ENGINE_BUSY")]
