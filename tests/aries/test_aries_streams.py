"""P&L candles, watchlist, news, level 2, time & sales, greeks, option quotes, market status,
socket responses and the charting feed: decoding (canonical, variants, malformed) and encoders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from engine.aries import (
    ChartUpdate,
    MarketStatus,
    MarketSubscription,
    PnlHistory,
    QuoteUpdate,
    Response,
    subscribe_chart,
    subscribe_market,
    subscribe_news,
    subscribe_pnl,
    subscribe_watchlist,
    unsubscribe_chart,
    unsubscribe_topic,
)
from engine.aries.normalize import MarketNormalizer
from engine.model import (
    BookLevel,
    BookUpdated,
    ChartQuote,
    ChartTrade,
    Endpoint,
    GreeksUpdated,
    MarketStatusChanged,
    NewsReceived,
    PnlCandleReceived,
    Trade,
    VenueQuote,
    WatchlistAction,
    WatchlistChanged,
)

from .samples import (
    CHART_EVENT,
    DELETE,
    GREEKS,
    LEVEL2,
    LEVEL2_FULL,
    MARKET_RESPONSE,
    MARKET_STATUS,
    NEWS,
    PNL_CANDLE,
    PNL_HISTORY,
    QUOTE,
    TIME_AND_SALES,
    TS_RECV,
    WATCHLIST_ADD,
    Json,
    decode,
    decode_error,
    variant,
)

D = Decimal


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- P&L candles (§4.8) -------------------------------------------------------------------------

CANDLE = PnlCandleReceived(
    account_id="ACC-001",
    interval="1m",
    time=datetime.fromtimestamp(1768487400, UTC),
    open=D("120.00"),
    high=D("131.50"),
    low=D("118.25"),
    close=D("129.75"),
    ts_event=_utc("2026-01-15T14:30:07.030Z"),
    ts_recv=TS_RECV,
)


def test_pnl_candle_canonical() -> None:
    assert decode(PNL_CANDLE) == CANDLE


def test_pnl_candle_time_is_epoch_seconds() -> None:
    candle = decode(PNL_CANDLE)
    assert isinstance(candle, PnlCandleReceived)
    assert candle.time == datetime(2026, 1, 15, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            {"time": 1768487400, "open": "120.00", "high": "131.50", "low": "118.25",
             "close": "129.75"},
            id="long-names",
        ),
        pytest.param(
            {"t": 1768487400000, "o": 120.00, "h": 131.5, "l": "118.25", "c": "129.75"},
            id="epoch-ms-and-numbers",
        ),
        pytest.param(
            {"t": "2026-01-15T14:30:00Z", "o": "120.00", "h": "131.50", "l": "118.25",
             "c": "129.75"},
            id="rfc3339",
        ),
        pytest.param(
            {"t": "1768487400", "o": "120.00", "h": "131.50", "l": "118.25", "c": "129.75"},
            id="digit-string",
        ),
    ],
)  # fmt: skip
def test_pnl_candle_variants(data: Json) -> None:
    assert decode(variant(PNL_CANDLE, payload__data=data)) == CANDLE


def test_pnl_candle_interval_defaults_and_params() -> None:
    no_interval = variant(PNL_CANDLE, payload__interval=DELETE)
    assert decode(no_interval) == CANDLE  # BRIEF default 1m
    in_params = variant(no_interval, params={"accountId": "ACC-001", "interval": "5m"})
    result = decode(in_params)
    assert isinstance(result, PnlCandleReceived)
    assert result.interval == "5m"


def test_pnl_account_id_from_params_and_legacy_type() -> None:
    message = variant(
        PNL_CANDLE, payload__accountId=DELETE, payload__type="pnlCandle", params={"accountId": "X"}
    )
    result = decode(message)
    assert isinstance(result, PnlCandleReceived)
    assert result.account_id == "X"


def test_pnl_history_snapshot_is_one_event_per_candle() -> None:
    result = decode(PNL_HISTORY)
    assert isinstance(result, PnlHistory)
    assert (result.account_id, result.interval, result.snapshot) == ("ACC-001", "5m", True)
    assert [c.time for c in result.candles] == [
        datetime(2026, 1, 15, 14, 25, tzinfo=UTC),
        datetime(2026, 1, 15, 14, 30, tzinfo=UTC),
    ]
    assert all(isinstance(c, PnlCandleReceived) for c in result.candles)
    assert result.candles[1].close == D("129.75")


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (variant(PNL_CANDLE, payload__data__c="abc"), "payload.data.c"),
        (variant(PNL_CANDLE, payload__data__t=DELETE), "payload.data.t"),
        (variant(PNL_CANDLE, payload__data__t=-5), "payload.data.t"),
        (variant(PNL_CANDLE, payload__data__o=DELETE), "payload.data.o"),
        (variant(PNL_CANDLE, payload__accountId=DELETE), "payload.accountId"),
        (variant(PNL_CANDLE, payload__data="x"), "payload.data"),
        (variant(PNL_HISTORY, payload__data__1__h=[1]), "payload.data.1.h"),
    ],
)
def test_pnl_malformed(message: Json, field: str) -> None:
    error = decode_error(message)
    assert error.message_type == "pnl.candle"
    assert error.field == field


# --- watchlist and news (§4.9) ------------------------------------------------------------------


def test_watchlist_add() -> None:
    assert decode(WATCHLIST_ADD) == WatchlistChanged(
        action=WatchlistAction.ADD,
        watchlist_id="wl-1",
        name="Tech",
        symbol="NVDA",
        position=3,
        ts_event=_utc("2026-01-15T14:35:00Z"),
        ts_recv=TS_RECV,
    )


def test_watchlist_update_and_remove() -> None:
    update = decode(
        variant(WATCHLIST_ADD, payload__type="watchlist.update", payload__data__position="1")
    )
    assert isinstance(update, WatchlistChanged)
    assert (update.action, update.position) == (WatchlistAction.UPDATE, 1)
    removed = decode(
        variant(
            WATCHLIST_ADD,
            payload__type="watchlist.remove",
            payload__data={"watchlistId": "wl-1"},
        )
    )
    assert isinstance(removed, WatchlistChanged)
    assert (removed.action, removed.symbol, removed.name) == (WatchlistAction.REMOVE, None, None)
    assert removed.ts_event == _utc("2026-01-15T14:35:00Z")  # envelope time


def test_watchlist_id_alias() -> None:
    result = decode(variant(WATCHLIST_ADD, payload__data__watchlistId=DELETE, payload__data__id=7))
    assert isinstance(result, WatchlistChanged)
    assert result.watchlist_id == "7"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (variant(WATCHLIST_ADD, payload__data__watchlistId=DELETE), "payload.data.watchlistId"),
        (variant(WATCHLIST_ADD, payload__data__position="x"), "payload.data.position"),
        (variant(WATCHLIST_ADD, payload__data=[]), "payload.data"),
    ],
)
def test_watchlist_malformed(message: Json, field: str) -> None:
    error = decode_error(message)
    assert (error.message_type, error.field) == ("watchlist.add", field)


def test_news() -> None:
    assert decode(NEWS) == NewsReceived(
        id="n-123",
        headline="Apple announces ...",
        summary="...",
        symbols=("AAPL",),
        topics=("earnings",),
        source="Newswire",
        url="https://example.invalid/n-123",
        published_at=_utc("2026-01-15T14:36:00Z"),
        ts_event=_utc("2026-01-15T14:36:00Z"),
        ts_recv=TS_RECV,
    )


def test_news_minimal_and_title_alias() -> None:
    result = decode(variant(NEWS, payload__data={"id": "n-1", "title": "Hi"}))
    assert result == NewsReceived(
        id="n-1", headline="Hi", ts_event=_utc("2026-01-15T14:36:00Z"), ts_recv=TS_RECV
    )


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (variant(NEWS, payload__data__symbols="AAPL"), "payload.data.symbols"),
        (variant(NEWS, payload__data__headline=DELETE), "payload.data.headline"),
        (variant(NEWS, payload__data__publishedAt="yesterday"), "payload.data.publishedAt"),
    ],
)
def test_news_malformed(message: Json, field: str) -> None:
    error = decode_error(message)
    assert (error.message_type, error.field) == ("news", field)


# --- market socket (§5.3-§5.7) ------------------------------------------------------------------

_L2_TS = datetime(2026, 1, 15, 14, 45, 1, 130000, tzinfo=UTC)


def test_level2_rows() -> None:
    assert decode(LEVEL2_FULL, Endpoint.MARKET) == BookUpdated(
        symbol="MSFT",
        levels=(
            BookLevel(price=D("410.10"), bid_size=D("0"), ask_size=D("200")),
            BookLevel(price=D("410.05"), bid_size=D("300"), ask_size=D("0")),
        ),
        venues=(
            VenueQuote(exchange="NSDQ", bid=D("410.05"), bid_size=D("300"), ask=D("410.10"),
                       ask_size=D("200")),
            VenueQuote(exchange="ARCA", bid=D("410.04"), bid_size=D("500"), ask=D("410.12"),
                       ask_size=D("100")),
        ),
        ts_event=_L2_TS,
        ts_recv=TS_RECV,
    )  # fmt: skip


def test_level2_book_only_and_empty_venue_side() -> None:
    book = decode(LEVEL2, Endpoint.MARKET)
    assert isinstance(book, BookUpdated)
    assert (len(book.levels), book.venues) == (2, ())
    one_sided = decode(
        variant(LEVEL2_FULL, payload__data__quotes=["EDGX:::410.01:100"]), Endpoint.MARKET
    )
    assert isinstance(one_sided, BookUpdated)
    assert one_sided.venues == (
        VenueQuote(exchange="EDGX", bid=D("410.01"), bid_size=D("100"), ask=None, ask_size=None),
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"payload__data__orderBook__1": "0:410.05"}, "payload.data.orderBook.1"),
        ({"payload__data__orderBook__0": "a:410.05:1"}, "payload.data.orderBook.0"),
        ({"payload__data__orderBook__0": 5}, "payload.data.orderBook.0"),
        ({"payload__data__quotes__1": "ARCA:1:2:3"}, "payload.data.quotes.1"),
        ({"payload__data__quotes__0": ":1:2:3:4"}, "payload.data.quotes.0"),
        ({"payload__data__orderBook": "200:410.10:0"}, "payload.data.orderBook"),
        ({"payload__data__symbol": DELETE}, "payload.data.symbol"),
    ],
)
def test_level2_malformed(changes: dict[str, Any], field: str) -> None:
    error = decode_error(variant(LEVEL2_FULL, **changes), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("level2", field)


def test_time_and_sales_is_a_trade() -> None:
    assert decode(TIME_AND_SALES, Endpoint.MARKET) == Trade(
        symbol="MSFT",
        price=D("410.08"),
        size=D("50"),
        exchange="ARCA",
        sequence=99120,
        ts_event=_utc("2026-01-15T09:45:01.129-05:00"),
        ts_recv=TS_RECV,
    )


def test_time_and_sales_malformed() -> None:
    error = decode_error(variant(TIME_AND_SALES, payload__data__price=DELETE), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("timeAndSales", "payload.data.price")
    error = decode_error(variant(TIME_AND_SALES, payload__data__size="x"), Endpoint.MARKET)
    assert error.field == "payload.data.size"


def test_greeks() -> None:
    assert decode(GREEKS, Endpoint.MARKET) == GreeksUpdated(
        symbol="AAPL240119C00150000",
        delta=D("0.52"),
        gamma=D("0.04"),
        theta=D("-0.11"),
        vega=D("0.09"),
        rho=D("0.02"),
        implied_volatility=D("0.27"),
        ts_event=datetime(2026, 1, 15, 14, 45, 1, 140000, tzinfo=UTC),
        ts_recv=TS_RECV,
    )


def test_greeks_partial_iv_alias_and_malformed() -> None:
    partial = decode(variant(GREEKS, payload__data={"symbol": "X", "iv": 0.3}), Endpoint.MARKET)
    assert isinstance(partial, GreeksUpdated)
    assert (partial.implied_volatility, partial.delta) == (D("0.3"), None)
    error = decode_error(variant(GREEKS, payload__data__delta="NaN"), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("greeks", "payload.data.delta")


def test_option_quote_goes_through_the_quote_path() -> None:
    message = variant(
        QUOTE,
        payload__data__symbol="AAPL240119C00150000",
        payload__data__instrumentType="o",
    )
    update = decode(message, Endpoint.MARKET)
    assert isinstance(update, QuoteUpdate)
    quote = MarketNormalizer().quote(update)
    assert (quote.symbol, quote.bid, quote.ask) == ("AAPL240119C00150000", D("189.49"), D("189.51"))
    assert isinstance(decode(variant(message, payload__type="optionQuote"), Endpoint.MARKET),
                      QuoteUpdate)  # fmt: skip


def test_market_status_carries_the_domain_event() -> None:
    status = decode(MARKET_STATUS, Endpoint.MARKET)
    assert isinstance(status, MarketStatus)
    assert status.status == MarketStatusChanged(
        market="closed",
        after_hours=False,
        early_hours=False,
        server_time=datetime(2025, 7, 17, 3, 33, 11, tzinfo=UTC),
        ts_event=datetime(2023, 12, 1, 17, 0, 0, 123000, tzinfo=UTC),
        ts_recv=TS_RECV,
    )


def test_market_status_malformed() -> None:
    error = decode_error(variant(MARKET_STATUS, payload__data__afterHours="no"), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("marketStatus", "payload.data.afterHours")
    error = decode_error(variant(MARKET_STATUS, payload__data__serverTime="x"), Endpoint.MARKET)
    assert error.field == "payload.data.serverTime"


def test_socket_response() -> None:
    response = decode(MARKET_RESPONSE, Endpoint.MARKET)
    assert response == Response(
        id="req-7",
        status=200,
        data={"symbol": "AAPL", "expirations": ["2026-01-16", "2026-01-23"]},
    )
    error = decode_error(variant(MARKET_RESPONSE, payload__status="ok"), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("response", "payload.status")


# --- charting (§6) ------------------------------------------------------------------------------

_CHART_TS = datetime(2026, 1, 15, 14, 45, 1, 123000, tzinfo=UTC)


def test_chart_event_with_numbers() -> None:
    update = decode(CHART_EVENT, Endpoint.CHARTS)
    assert update == ChartUpdate(
        symbol="AAPL",
        quote=ChartQuote(
            symbol="AAPL",
            last=D("189.50"),
            bid=D("189.49"),
            ask=D("189.51"),
            change=D("1.20"),
            change_pct=D("0.64"),
            open=D("188.10"),
            high=D("190.02"),
            low=D("187.95"),
            prev_close=D("188.30"),
            volume=D("1203344"),
            ts_event=_CHART_TS,
            ts_recv=TS_RECV,
        ),
        trade=ChartTrade(
            symbol="AAPL",
            price=D("189.50"),
            size=D("100"),
            time=datetime(2026, 1, 15, 14, 45, 1, 120000, tzinfo=UTC),
            ts_event=datetime(2026, 1, 15, 14, 45, 1, 120000, tzinfo=UTC),
            ts_recv=TS_RECV,
        ),
    )


def test_chart_quote_only_trade_only_and_strings() -> None:
    quote_only = decode(variant(CHART_EVENT, payload__trade=DELETE), Endpoint.CHARTS)
    assert isinstance(quote_only, ChartUpdate)
    assert quote_only.trade is None
    assert quote_only.quote is not None
    trade_only = decode(
        variant(
            CHART_EVENT,
            payload__quote=DELETE,
            payload__trade={"price": "1.5", "size": "2", "time": "2026-01-15T14:45:01Z"},
        ),
        Endpoint.CHARTS,
    )
    assert isinstance(trade_only, ChartUpdate)
    assert trade_only.quote is None
    assert trade_only.trade is not None
    assert trade_only.trade.price == D("1.5")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"payload__quote__lp": "x"}, "payload.quote.lp"),
        ({"payload__trade__price": DELETE}, "payload.trade.price"),
        ({"payload__trade": [1]}, "payload.trade"),
        ({"payload__symbol": ""}, "payload.symbol"),
    ],
)
def test_chart_malformed(changes: dict[str, Any], field: str) -> None:
    error = decode_error(variant(CHART_EVENT, **changes), Endpoint.CHARTS)
    assert (error.message_type, error.field) == ("event", field)


# --- encoders -----------------------------------------------------------------------------------


def test_subscribe_pnl() -> None:
    start = datetime(2026, 1, 15, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert json.loads(subscribe_pnl("sub-pnl-1", "ACC-001", start, "5m")) == {
        "type": "subscribe",
        "id": "sub-pnl-1",
        "topic": "pnl",
        "params": {"accountId": "ACC-001", "startTime": "2026-01-15T14:00:00Z", "interval": "5m"},
    }
    default = json.loads(subscribe_pnl("p", "A", datetime(2026, 1, 15, tzinfo=UTC)))
    assert "interval" not in default["params"]
    with pytest.raises(ValueError, match="interval"):
        subscribe_pnl("p", "A", start, "4h")
    with pytest.raises(ValueError, match="aware"):
        subscribe_pnl("p", "A", datetime(2026, 1, 15), None)
    with pytest.raises(ValueError, match="account_id"):
        subscribe_pnl("p", "", start)


def test_subscribe_watchlist_and_news() -> None:
    assert json.loads(subscribe_watchlist("sub-wl-1")) == {
        "type": "subscribe",
        "id": "sub-wl-1",
        "topic": "watchlist",
    }
    assert json.loads(subscribe_news("sub-news-1", ["AAPL", "TSLA"], ["earnings"])) == {
        "type": "subscribe",
        "id": "sub-news-1",
        "topic": "news",
        "params": {"symbols": ["AAPL", "TSLA"], "topics": ["earnings"]},
    }
    assert json.loads(subscribe_news("n")) == {"type": "subscribe", "id": "n", "topic": "news"}
    with pytest.raises(TypeError):
        subscribe_news("n", symbols="AAPL")


def test_unsubscribe_topic() -> None:
    assert json.loads(unsubscribe_topic("unsub-1", "pnl", {"accountId": "ACC-001"})) == {
        "type": "unsubscribe",
        "id": "unsub-1",
        "topic": "pnl",
        "params": {"accountId": "ACC-001"},
    }
    assert json.loads(unsubscribe_topic("u", "watchlist")) == {
        "type": "unsubscribe",
        "id": "u",
        "topic": "watchlist",
    }
    with pytest.raises(ValueError, match="topic"):
        unsubscribe_topic("u", "")


def test_subscribe_market_keeps_the_old_signature() -> None:
    assert json.loads(subscribe_market("m-1", ["AAPL"])) == {
        "type": "subscribe",
        "id": "m-1",
        "payload": [{"symbol": "AAPL", "quoteFields": ["*"], "tradeFields": ["*"]}],
    }


def test_subscribe_market_per_symbol_options() -> None:
    text = subscribe_market(
        "sub-1",
        [
            MarketSubscription(symbol="MSFT", level2=True, time_and_sales=True),
            MarketSubscription(symbol="AAPL240119C00150000", greeks=True),
            "SPX",
            MarketSubscription(symbol="SPX", level2=True),  # duplicate: the first wins
        ],
    )
    assert json.loads(text)["payload"] == [
        {"symbol": "MSFT", "quoteFields": ["*"], "tradeFields": ["*"],
         "timeAndSalesFields": ["*"], "level2": True},
        {"symbol": "AAPL240119C00150000", "symbolType": "option", "quoteFields": ["*"],
         "tradeFields": ["*"], "greeksFields": ["*"]},
        {"symbol": "SPX", "quoteFields": ["*"], "tradeFields": ["*"]},
    ]  # fmt: skip
    keywords = json.loads(subscribe_market("s", ["X"], level2=True, symbol_type="equity"))
    assert keywords["payload"] == [
        {"symbol": "X", "symbolType": "equity", "quoteFields": ["*"], "tradeFields": ["*"],
         "level2": True},
    ]  # fmt: skip


def test_chart_encoders() -> None:
    assert json.loads(subscribe_chart("c-sub-1", "AAPL")) == {
        "type": "subscribe",
        "id": "c-sub-1",
        "payload": {"symbol": "AAPL"},
    }
    assert json.loads(unsubscribe_chart("c-unsub-1", "AAPL")) == {
        "type": "unsubscribe",
        "id": "c-unsub-1",
        "payload": {"symbol": "AAPL"},
    }
    with pytest.raises(ValueError, match="symbol"):
        subscribe_chart("c", "")
