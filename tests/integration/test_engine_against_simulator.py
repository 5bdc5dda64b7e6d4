"""End to end: the engine and the simulator over real WebSockets and HTTP on 127.0.0.1."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

from engine import StrategyContext, hookimpl
from engine.journal import JournalReader
from engine.model import (
    AccountSynced,
    ChartQuote,
    ChartTrade,
    ConnectionState,
    ConnectionStateChanged,
    Endpoint,
    Event,
    OrderFilled,
    OrderStatus,
    OrderUpdated,
    PnlCandleReceived,
    PositionChanged,
    Quote,
    Side,
)
from tests.integration.conftest import engine_config, running_engine, wait_for


class BuysOnce:
    """Buys 10 AAPL with a marketable limit on the first two-sided quote; records what it sees."""

    def __init__(self) -> None:
        self.client_order_id: str | None = None
        self.fills: list[OrderFilled] = []
        self.statuses: list[OrderStatus] = []
        self.filled = trio.Event()
        self.position_opened = trio.Event()
        self.syncs = 0
        self.resynced = trio.Event()

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.client_order_id is None and quote.symbol == "AAPL" and quote.ask is not None:
            self.client_order_id = ctx.submit("AAPL", Side.BUY, 10, price=quote.ask + 1)

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        if event.order.client_order_id == self.client_order_id:
            self.statuses.append(event.order.status)
            if event.order.status is OrderStatus.FILLED:
                self.filled.set()

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append(event)

    @hookimpl
    def aries_on_account_synced(self) -> None:
        self.syncs += 1
        if self.syncs == 2:  # the start-up sync is delivered too (after aries_engine_started)
            self.resynced.set()

    @hookimpl
    def aries_on_position_changed(self, event: PositionChanged) -> None:
        if event.position.symbol == "AAPL" and event.position.quantity == 10:
            self.position_opened.set()


async def test_an_order_reaches_filled_and_the_strategy_sees_the_fill_once() -> None:
    strategy = BuysOnce()
    async with running_engine(engine_config(), ("buyer", strategy)) as engine:
        with trio.fail_after(10):
            await strategy.filled.wait()
            await strategy.position_opened.wait()
        view = engine.views.get("SIM-001")
        assert view is not None
        assert view.position_quantity("AAPL") == Decimal(10)

        # Drop the accounts socket: the engine reconnects and applies a fresh snapshot, which
        # must not replay the fill. Wait until the strategy itself has seen the resync, so
        # everything the snapshot produced was delivered to it before the engine stops.
        assert engine.simulator is not None
        await engine.simulator.drop_connections("/v1/accounts/ws")
        with trio.fail_after(10):
            await strategy.resynced.wait()

    assert strategy.statuses[-1] is OrderStatus.FILLED
    assert OrderStatus.NEW in strategy.statuses
    assert strategy.syncs == 2
    assert len(strategy.fills) == 1
    fill = strategy.fills[0]
    assert (fill.qty, fill.cum_qty, fill.strategy) == (Decimal(10), Decimal(10), "buyer")
    assert fill.client_order_id == strategy.client_order_id


async def test_the_engine_reconnects_and_resubscribes_after_a_dropped_socket() -> None:
    async with running_engine(engine_config()) as engine:
        simulator = engine.simulator
        assert simulator is not None
        states = engine.bus.subscribe("test", accepts=(ConnectionStateChanged, AccountSynced))
        before = simulator.statistics()
        dropped = await simulator.drop_connections()
        assert dropped == 2  # the market and the accounts sockets

        seen: list[Event] = []

        def both_back(event: Event) -> bool:
            subscribed = {
                e.endpoint
                for e in seen
                if isinstance(e, ConnectionStateChanged) and e.state is ConnectionState.SUBSCRIBED
            }
            synced = any(isinstance(e, AccountSynced) for e in seen)
            return subscribed == {Endpoint.ACCOUNTS, Endpoint.MARKET} and synced

        with trio.fail_after(10):
            await wait_for(states, both_back, seen=seen)
        after = simulator.statistics()

    disconnected = [
        e
        for e in seen
        if isinstance(e, ConnectionStateChanged) and e.state is ConnectionState.DISCONNECTED
    ]
    assert {e.endpoint for e in disconnected} == {Endpoint.ACCOUNTS, Endpoint.MARKET}
    for path in ("/v1/accounts/ws", "/v1/market/ws"):
        assert after.auths_succeeded[path] == before.auths_succeeded[path] + 1
        assert after.subscribes[path] == before.subscribes[path] + 1


async def test_the_charts_socket_is_connected_when_enabled() -> None:
    config = engine_config(charts={"enabled": True, "symbols": ["AAPL"]})
    async with running_engine(config) as engine:
        charts = engine.bus.subscribe("test", accepts=(ChartQuote, ChartTrade))
        seen: list[Event] = []
        with trio.fail_after(10):
            event = await wait_for(charts, lambda e: isinstance(e, ChartQuote), seen=seen)
        states = {c.handler.endpoint: c.state for c in engine.connections}
    assert isinstance(event, ChartQuote)
    assert event.symbol == "AAPL"
    assert states[Endpoint.CHARTS] is ConnectionState.SUBSCRIBED


class WantsTsla:
    """Asks for a symbol the configuration does not list, at start-up."""

    def __init__(self) -> None:
        self.quoted = trio.Event()

    @hookimpl
    def aries_engine_started(self, ctx: StrategyContext) -> None:
        ctx.subscribe("TSLA")

    @hookimpl
    def aries_on_quote(self, quote: Quote) -> None:
        if quote.symbol == "TSLA":
            self.quoted.set()


async def test_a_strategy_can_subscribe_to_a_symbol_at_run_time() -> None:
    strategy = WantsTsla()
    config = engine_config(simulator={"tick_interval": 0.02, "symbols": ["AAPL", "TSLA"]})
    async with running_engine(config, ("tsla", strategy)):
        with trio.fail_after(10):
            await strategy.quoted.wait()


async def test_pnl_candles_flow_for_an_account_that_asks_for_them() -> None:
    # A position makes the account's P&L move with every market tick, so candles keep coming
    # (a flat account's P&L never changes and the venue sends nothing new).
    strategy = BuysOnce()
    config = engine_config(accounts=[{"id": "SIM-001", "pnl_interval": "15s"}])
    async with running_engine(config, ("buyer", strategy)) as engine:
        candles = engine.bus.subscribe("test", accepts=(PnlCandleReceived,))
        with trio.fail_after(10):
            await strategy.position_opened.wait()
            [first, *_] = await candles.receive_batch()
    assert isinstance(first, PnlCandleReceived)
    assert (first.account_id, first.interval) == ("SIM-001", "15s")


async def test_a_trading_session_is_journaled(tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.sqlite"
    strategy = BuysOnce()
    config = engine_config(journal={"path": str(journal_path)})
    async with running_engine(config, ("buyer", strategy)):
        with trio.fail_after(10):
            await strategy.filled.wait()
    with JournalReader(journal_path) as journal:
        frames = list(journal.frames())
        events = list(journal.events())
        intents = list(journal.intents())
        verdicts = list(journal.verdicts())
        requests = list(journal.requests())
    assert {f.endpoint for f in frames} >= {"accounts", "market"}
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert [(f.client_order_id, f.qty) for f in fills] == [(strategy.client_order_id, Decimal(10))]
    assert [i.client_order_id for i in intents] == [strategy.client_order_id]
    assert [v.verdict.approved for v in verdicts] == [True]
    assert [(r.path, r.outcome) for r in requests] == [("/v1/orders", "placed")]
    assert not any(isinstance(e, Quote) for e in events)  # market data lives in the frames
    # One receive time per frame: the fill's ts_recv is that of the frame that carried it.
    accounts_frames = {f.ts_recv for f in frames if f.endpoint == "accounts"}
    assert fills[0].ts_recv in accounts_frames
