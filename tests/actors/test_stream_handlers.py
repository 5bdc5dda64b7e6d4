"""The handlers publish the streams behind the market-status, level-2, greeks, news and watchlist
hooks, and (re)subscribe the level-2, greeks, watchlist and news topics on every connection."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from engine.bus import EventBus
from engine.config import parse_config
from engine.connection import (
    AccountsHandler,
    ConnectionSupervisor,
    MarketHandler,
    StaticTokenProvider,
)
from engine.errors import ConfigError
from engine.model import (
    BookLevel,
    BookUpdated,
    ConnectionState,
    Endpoint,
    GreeksUpdated,
    MarketStatusChanged,
    NewsReceived,
    Trade,
    VenueQuote,
    WatchlistAction,
    WatchlistChanged,
)
from engine.runtime import Backoff
from engine.secrets import Secret
from tests.actors.fake_venue import FakeVenue, market_event
from tests.aries.samples import (
    GREEKS,
    LEVEL2_FULL,
    MARKET_STATUS,
    NEWS,
    TIME_AND_SALES,
    WATCHLIST_ADD,
    decode,
)

OPTION = "AAPL240119C00150000"


def request_ids() -> Callable[[], str]:
    """A fresh ``next_id`` as the supervisor passes it (one counter per supervisor)."""
    counter = itertools.count(1)
    return lambda: f"r-{next(counter)}"


def sent(messages: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The JSON of ``subscribe_messages``, checking each request id is the one in its text."""
    decoded = [json.loads(text) for _, text in messages]
    assert [m["id"] for m in decoded] == [request_id for request_id, _ in messages]
    return decoded


# --- market socket: what is published -----------------------------------------------------------


def test_the_market_status_is_published_and_still_logged() -> None:
    handler = MarketHandler({"AAPL"})
    with capture_logs() as logs:
        events = handler.handle(decode(MARKET_STATUS, Endpoint.MARKET))
    [status] = events
    assert isinstance(status, MarketStatusChanged)
    assert (status.market, status.after_hours, status.early_hours) == ("closed", False, False)
    assert status.server_time == datetime(2025, 7, 17, 3, 33, 11, tzinfo=UTC)
    assert [(e["event"], e["market"]) for e in logs] == [("market.status", "closed")]


def test_level2_greeks_and_time_and_sales_are_published_as_decoded() -> None:
    handler = MarketHandler({"MSFT"}, level2=frozenset({"MSFT"}), greeks=frozenset({OPTION}))
    [book] = handler.handle(decode(LEVEL2_FULL, Endpoint.MARKET))
    [greeks] = handler.handle(decode(GREEKS, Endpoint.MARKET))
    [print_] = handler.handle(decode(TIME_AND_SALES, Endpoint.MARKET))
    assert isinstance(book, BookUpdated)
    assert book.symbol == "MSFT"
    assert book.levels == (
        BookLevel(price=Decimal("410.10"), bid_size=Decimal(0), ask_size=Decimal(200)),
        BookLevel(price=Decimal("410.05"), bid_size=Decimal(300), ask_size=Decimal(0)),
    )
    assert book.venues[0] == VenueQuote(
        exchange="NSDQ",
        ask=Decimal("410.10"),
        ask_size=Decimal(200),
        bid=Decimal("410.05"),
        bid_size=Decimal(300),
    )
    assert isinstance(greeks, GreeksUpdated)
    assert (greeks.symbol, greeks.delta, greeks.implied_volatility) == (
        OPTION,
        Decimal("0.52"),
        Decimal("0.27"),
    )
    assert isinstance(print_, Trade)
    assert (print_.symbol, print_.price, print_.size) == ("MSFT", Decimal("410.08"), Decimal(50))


def test_stream_data_confirms_the_market_subscriptions_but_the_pushed_status_does_not() -> None:
    handler = MarketHandler({"MSFT"})
    assert handler.confirms_subscriptions(decode(LEVEL2_FULL, Endpoint.MARKET))
    assert handler.confirms_subscriptions(decode(GREEKS, Endpoint.MARKET))
    assert handler.confirms_subscriptions(decode(TIME_AND_SALES, Endpoint.MARKET))
    assert not handler.confirms_subscriptions(decode(MARKET_STATUS, Endpoint.MARKET))


# --- market socket: what is subscribed ----------------------------------------------------------


def test_level2_and_greeks_symbols_are_subscribed_with_their_flags_on_every_connection() -> None:
    handler = MarketHandler({"AAPL"}, level2=frozenset({"MSFT"}), greeks=frozenset({OPTION}))
    assert handler.symbols == {"AAPL", "MSFT", OPTION}
    first = sent(handler.subscribe_messages(request_ids()))
    again = sent(handler.subscribe_messages(request_ids()))  # what a reconnect sends
    assert first == again
    [request] = first
    items = {item["symbol"]: item for item in request["payload"]}
    assert items["AAPL"] == {"symbol": "AAPL", "quoteFields": ["*"], "tradeFields": ["*"]}
    assert items["MSFT"] == {
        "symbol": "MSFT",
        "quoteFields": ["*"],
        "tradeFields": ["*"],
        "level2": True,
    }
    assert items[OPTION] == {
        "symbol": OPTION,
        "symbolType": "option",
        "quoteFields": ["*"],
        "tradeFields": ["*"],
        "greeksFields": ["*"],
    }


def test_plugins_never_unsubscribe_the_configured_level2_and_greeks_symbols() -> None:
    handler = MarketHandler({"AAPL"}, level2=frozenset({"MSFT"}), greeks=frozenset({OPTION}))
    added, removed = handler.change(add=["TSLA", "MSFT"], remove=["AAPL", "MSFT", OPTION])
    assert (added, removed) == ({"TSLA"}, {"AAPL"})
    assert handler.symbols == {"TSLA", "MSFT", OPTION}
    [subscribe, unsubscribe] = [
        json.loads(text) for text in handler.change_messages(request_ids(), added, removed)
    ]
    assert subscribe["payload"] == [{"symbol": "TSLA", "quoteFields": ["*"], "tradeFields": ["*"]}]
    assert unsubscribe["payload"] == [{"symbol": "AAPL"}]


def test_a_handler_with_only_level2_symbols_still_subscribes() -> None:
    handler = MarketHandler(set(), level2=frozenset({"MSFT"}))
    [request] = sent(handler.subscribe_messages(request_ids()))
    assert request["payload"][0]["level2"] is True


# --- accounts socket ------------------------------------------------------------------------------


def test_watchlist_changes_and_news_are_published() -> None:
    handler = AccountsHandler(("ACC-001",), watchlist=True, news=True)
    [change] = handler.handle(decode(WATCHLIST_ADD))
    [story] = handler.handle(decode(NEWS))
    assert isinstance(change, WatchlistChanged)
    assert (change.action, change.watchlist_id, change.name, change.symbol, change.position) == (
        WatchlistAction.ADD,
        "wl-1",
        "Tech",
        "NVDA",
        3,
    )
    assert isinstance(story, NewsReceived)
    assert (story.id, story.symbols, story.topics) == ("n-123", ("AAPL",), ("earnings",))


def test_watchlist_and_news_are_subscribed_after_the_accounts_on_every_connection() -> None:
    handler = AccountsHandler(
        ("ACC-001",),
        pnl_intervals={"ACC-001": "5m"},
        pnl_since=datetime(2026, 1, 15, tzinfo=UTC),
        watchlist=True,
        news=True,
        news_symbols=("AAPL", "MSFT"),
        news_topics=("earnings",),
    )
    first = sent(handler.subscribe_messages(request_ids()))
    assert first == sent(handler.subscribe_messages(request_ids()))  # what a reconnect sends
    assert [(m["type"], m["topic"]) for m in first] == [
        ("subscribe", "account"),
        ("subscribe", "pnl"),
        ("subscribe", "watchlist"),
        ("subscribe", "news"),
    ]
    assert "params" not in first[2]  # §4.2: watchlist is user-level
    assert first[3]["params"] == {"symbols": ["AAPL", "MSFT"], "topics": ["earnings"]}


def test_unfiltered_news_omits_params_and_both_topics_are_off_by_default() -> None:
    [account, news] = sent(
        AccountsHandler(("ACC-001",), news=True).subscribe_messages(request_ids())
    )
    assert (account["topic"], news["topic"]) == ("account", "news")
    assert "params" not in news
    [only] = sent(AccountsHandler(("ACC-001",)).subscribe_messages(request_ids()))
    assert only["topic"] == "account"


# --- the whole path: socket → supervisor → bus, and the replay after a reconnect ---------------


async def test_book_greeks_and_status_reach_the_bus_and_flags_are_replayed_on_reconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    seen = bus.subscribe("test", accepts=(BookUpdated, GreeksUpdated, MarketStatusChanged))
    connection = ConnectionSupervisor(
        MarketHandler({"AAPL"}, level2=frozenset({"MSFT"}), greeks=frozenset({OPTION})),
        "ws://venue.test",
        StaticTokenProvider(Secret("tok")),
        bus,
        backoff=Backoff(jitter=0),
        rng=random.Random(0),
        open_websocket=venue.open_websocket,
    )

    def flags(socket: Any) -> dict[str, tuple[bool, bool]]:
        [(_, request)] = socket.sent_of_type("subscribe")
        return {
            item["symbol"]: ("level2" in item, "greeksFields" in item)
            for item in request["payload"]
        }

    async with trio.open_nursery() as nursery:
        await nursery.start(connection.run)
        first = venue.sockets[0]
        await first.push(json.dumps(MARKET_STATUS))
        await first.push(market_event("level2", LEVEL2_FULL["payload"]["data"]))
        await first.push(market_event("greeks", GREEKS["payload"]["data"]))
        with trio.fail_after(5):
            events = await seen.receive_batch()
            while len(events) < 3:
                events += await seen.receive_batch()
        first.close()
        await venue.wait_attempts(2)
        await connection.wait_state(ConnectionState.SUBSCRIBED)
        second = venue.sockets[1]
        nursery.cancel_scope.cancel()
    assert [type(e) for e in events] == [MarketStatusChanged, BookUpdated, GreeksUpdated]
    expected = {"AAPL": (False, False), "MSFT": (True, False), OPTION: (False, True)}
    assert flags(first) == flags(second) == expected


@attrs.define(eq=False)
class StatusAfterAuthVenue(FakeVenue):
    """Sends the market status in the same NDJSON frame as ``authSuccess`` (§2.2, §5.2)."""

    def answer(self, message: dict[str, Any]) -> list[str]:
        replies = super().answer(message)
        if message.get("type") == "request":
            return ["\n".join([*replies, json.dumps(MARKET_STATUS)])]
        return replies


async def test_a_market_status_sharing_the_auth_frame_is_published(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = StatusAfterAuthVenue(), EventBus()
    seen = bus.subscribe("test", accepts=(MarketStatusChanged,))
    connection = ConnectionSupervisor(
        MarketHandler({"AAPL"}),
        "ws://venue.test",
        StaticTokenProvider(Secret("tok")),
        bus,
        open_websocket=venue.open_websocket,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(connection.run)
        with trio.fail_after(5):
            [status] = await seen.receive_batch()
        nursery.cancel_scope.cancel()
    assert isinstance(status, MarketStatusChanged)
    assert status.market == "closed"


# --- engine.toml ----------------------------------------------------------------------------------


def test_the_stream_keys_of_engine_toml() -> None:
    config = parse_config(
        {
            "accounts": [{"id": "SIM-001"}],
            "market": {"symbols": ["AAPL"], "level2": ["MSFT"], "greeks": [OPTION]},
            "news": {"enabled": True, "symbols": ["AAPL"], "topics": ["earnings"]},
            "watchlist": {"enabled": True},
        }
    )
    assert (config.market.level2, config.market.greeks) == (("MSFT",), (OPTION,))
    assert (config.news.enabled, config.news.symbols, config.news.topics) == (
        True,
        ("AAPL",),
        ("earnings",),
    )
    assert config.watchlist.enabled
    defaults = parse_config({"accounts": [{"id": "SIM-001"}]})
    assert (defaults.market.level2, defaults.market.greeks) == ((), ())
    assert not defaults.news.enabled
    assert not defaults.watchlist.enabled


def test_greeks_for_a_symbol_that_is_not_an_option_is_one_precise_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"accounts": [{"id": "SIM-001"}], "market": {"greeks": ["AAPL", OPTION]}})
    [line] = str(caught.value).splitlines()
    assert line.startswith("engine.toml: market.greeks: expected OSI option symbols")
    assert line.endswith("got 'AAPL'")
