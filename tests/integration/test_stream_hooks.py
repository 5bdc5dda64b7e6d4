"""The stream hooks end to end: market status, level 2, greeks, news, watchlist and the charting
feed reach a plugin from the in-process simulator over real loopback sockets, and come back after
every socket is dropped (the subscriptions are replayed on reconnect)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import trio

from engine import hookimpl
from engine.config import EngineConfig
from engine.model import (
    BookUpdated,
    ChartQuote,
    ChartTrade,
    ConnectionState,
    ConnectionStateChanged,
    Endpoint,
    GreeksUpdated,
    MarketStatusChanged,
    NewsReceived,
    WatchlistAction,
    WatchlistChanged,
)
from engine.sim import SimConfig, Simulator
from tests.integration.conftest import engine_config, running_engine

HOOKS = (
    "market_status",
    "book",
    "greeks",
    "news",
    "watchlist",
    "chart_quote",
    "chart_trade",
    "connection",
)


class StreamRecorder:
    """Records what every stream hook receives; each call sets (and renews) a ``trio.Event``."""

    def __init__(self) -> None:
        self.seen: dict[str, list[Any]] = {hook: [] for hook in HOOKS}
        self._changed = trio.Event()

    def _record(self, hook: str, event: object) -> None:
        self.seen[hook].append(event)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(
        self, hook: str, predicate: Callable[[Any], bool] = lambda _: True, *, after: int = 0
    ) -> tuple[int, Any]:
        """The first event ``hook`` got (from index ``after`` on) that matches, and its index."""
        while True:
            for index, event in enumerate(self.seen[hook][after:], start=after):
                if predicate(event):
                    return index, event
            await self._changed.wait()

    @hookimpl
    def aries_on_market_status(self, event: MarketStatusChanged) -> None:
        self._record("market_status", event)

    @hookimpl
    def aries_on_book(self, event: BookUpdated) -> None:
        self._record("book", event)

    @hookimpl
    def aries_on_greeks(self, event: GreeksUpdated) -> None:
        self._record("greeks", event)

    @hookimpl
    def aries_on_news(self, event: NewsReceived) -> None:
        self._record("news", event)

    @hookimpl
    def aries_on_watchlist(self, event: WatchlistChanged) -> None:
        self._record("watchlist", event)

    @hookimpl
    def aries_on_chart_quote(self, event: ChartQuote) -> None:
        self._record("chart_quote", event)

    @hookimpl
    def aries_on_chart_trade(self, event: ChartTrade) -> None:
        self._record("chart_trade", event)

    @hookimpl
    def aries_on_connection_state(self, event: ConnectionStateChanged) -> None:
        self._record("connection", event)


def listed_call() -> str:
    """An AAPL call the simulator lists (its chain depends on the date, so ask it)."""
    listed = Simulator(SimConfig(symbols=("AAPL", "MSFT"))).option_symbols
    calls = [s for s in listed if s.startswith("AAPL") and s[len("AAPL") + 6] == "C"]
    return calls[len(calls) // 2]


def stream_config(option: str) -> EngineConfig:
    """Level 2 of MSFT (not in ``[market] symbols``), greeks of ``option``, AAPL charts, AAPL
    news only, and the watchlist."""
    return engine_config(
        market={"symbols": ["AAPL"], "level2": ["MSFT"], "greeks": [option]},
        charts={"enabled": True, "symbols": ["AAPL"]},
        news={"enabled": True, "symbols": ["AAPL"]},
        watchlist={"enabled": True},
    )


def full_book(event: BookUpdated) -> bool:
    return bool(event.symbol == "MSFT" and event.levels and event.venues)


async def test_every_stream_hook_fires_with_plausible_content() -> None:
    option = listed_call()
    recorder = StreamRecorder()
    async with running_engine(stream_config(option), ("streams", recorder)) as engine:
        sim = engine.simulator
        assert sim is not None
        with trio.fail_after(10):
            _, status = await recorder.wait_for("market_status")
            _, book = await recorder.wait_for("book", full_book)
            _, greeks = await recorder.wait_for("greeks")
            _, chart_quote = await recorder.wait_for("chart_quote", lambda e: e.bid is not None)
            _, chart_trade = await recorder.wait_for("chart_trade")
            sim.publish_news("MSFT guidance cut", symbols=["MSFT"], topics=["earnings"])
            sim.publish_news("AAPL beats estimates", symbols=["AAPL"], topics=["earnings"])
            _, news = await recorder.wait_for("news", lambda e: e.headline.startswith("AAPL beats"))
            sim.watchlist_add("NVDA", watchlist_id="wl-tech", name="Tech")
            _, change = await recorder.wait_for("watchlist", lambda e: e.symbol == "NVDA")
            sim.set_market_status(market="closed")
            _, closed = await recorder.wait_for("market_status", lambda e: e.market == "closed")

    assert status.market == "open"  # pushed right after auth (§5.3): the simulated market
    assert status.server_time is not None
    assert closed.after_hours is False

    bids = [level.price for level in book.levels if level.bid_size > 0]
    asks = [level.price for level in book.levels if level.ask_size > 0]
    assert bids
    assert asks
    assert max(bids) < min(asks)
    assert all(v.bid is not None and v.ask is not None and v.bid < v.ask for v in book.venues)

    assert greeks.symbol == option
    assert Decimal(0) < greeks.delta < Decimal(1)
    assert greeks.gamma > 0
    assert greeks.vega > 0
    assert greeks.implied_volatility > 0

    assert chart_quote.symbol == "AAPL"
    assert chart_quote.bid < chart_quote.ask
    assert chart_quote.last > 0
    assert chart_trade.symbol == "AAPL"
    assert chart_trade.price > 0

    assert (news.symbols, news.topics, news.source) == (("AAPL",), ("earnings",), "SimWire")
    assert all("AAPL" in story.symbols for story in recorder.seen["news"])  # filtered at the venue

    assert (change.action, change.watchlist_id, change.name, change.position) == (
        WatchlistAction.ADD,
        "wl-tech",
        "Tech",
        0,
    )


async def test_the_streams_come_back_after_every_socket_is_dropped() -> None:
    option = listed_call()
    recorder = StreamRecorder()
    async with running_engine(stream_config(option), ("streams", recorder)) as engine:
        sim = engine.simulator
        assert sim is not None
        with trio.fail_after(15):
            await recorder.wait_for("book", full_book)
            await recorder.wait_for("greeks")
            assert await sim.drop_connections() == 3
            dropped_at = datetime.now(UTC)  # every later ts_event was sent by a new socket

            def accounts_in(state: ConnectionState) -> Callable[[Any], bool]:
                return lambda e: e.endpoint is Endpoint.ACCOUNTS and e.state is state

            down, _ = await recorder.wait_for(
                "connection", accounts_in(ConnectionState.DISCONNECTED)
            )
            # SUBSCRIBED: the account, watchlist and news subscriptions were all acknowledged.
            await recorder.wait_for(
                "connection", accounts_in(ConnectionState.SUBSCRIBED), after=down + 1
            )
            sim.publish_news("AAPL after the drop", symbols=["AAPL"], topics=["general"])
            sim.watchlist_remove("AAPL")

            def fresh(event: Any) -> bool:
                return event.ts_event is not None and event.ts_event > dropped_at

            _, news = await recorder.wait_for("news", lambda e: e.headline.endswith("the drop"))
            _, change = await recorder.wait_for(
                "watchlist", lambda e: e.action is WatchlistAction.REMOVE
            )
            _, book = await recorder.wait_for("book", lambda e: fresh(e) and full_book(e))
            _, greeks = await recorder.wait_for("greeks", fresh)
            _, status = await recorder.wait_for("market_status", fresh)
            _, chart_quote = await recorder.wait_for("chart_quote", fresh)

    assert news.symbols == ("AAPL",)
    assert (change.watchlist_id, change.symbol) == ("wl-1", "AAPL")
    assert (book.symbol, greeks.symbol, chart_quote.symbol) == ("MSFT", option, "AAPL")
    assert status.market == "open"
