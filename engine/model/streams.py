"""Streams besides orders and quotes: P&L candles, watchlists, news, level 2, greeks, market
status, the charting feed, and the REST-only detail of balances.

Pure data like the rest of ``engine.model``: money and prices are ``Decimal``, times aware UTC.
``ts_event`` is the venue's time when it sent one; ``ts_recv`` when the engine got the frame.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import attrs

from engine.model.account import Balance
from engine.model.events import AccountEvent, Event

__all__ = [
    "BalanceDetail",
    "BookLevel",
    "BookUpdated",
    "ChartQuote",
    "ChartTrade",
    "GreeksUpdated",
    "MarketStatusChanged",
    "NewsReceived",
    "PnlCandleReceived",
    "VenueQuote",
    "WatchlistAction",
    "WatchlistChanged",
]


# --- accounts socket: pnl, watchlist, news topics -------------------------------------------------


@attrs.frozen(kw_only=True)
class PnlCandleReceived(AccountEvent):
    """One P&L candle of an account: OHLC of the account's P&L over ``interval`` from ``time``.

    The venue repeats the candle of the open bucket while it lasts: upsert by ``time``.
    """

    interval: str
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@attrs.frozen(kw_only=True)
class PnlCandleClosed(AccountEvent):
    """A P&L candle whose bucket is over: its final OHLC (published once per bucket)."""

    interval: str
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


class WatchlistAction(enum.StrEnum):
    """What happened to a watchlist entry (``watchlist.add`` / ``.update`` / ``.remove``)."""

    ADD = "add"
    UPDATE = "update"
    REMOVE = "remove"


@attrs.frozen(kw_only=True)
class WatchlistChanged(Event):
    """A symbol was added to, moved or renamed in, or removed from one of the user's watchlists.

    ``symbol`` is ``None`` when a whole watchlist was removed (or renamed).
    """

    action: WatchlistAction
    watchlist_id: str
    name: str | None = None
    symbol: str | None = None
    position: int | None = None


@attrs.frozen(kw_only=True)
class NewsReceived(Event):
    """One news item relevant to the user's portfolio or news filter."""

    id: str
    headline: str
    summary: str | None = None
    symbols: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    source: str | None = None
    url: str | None = None
    published_at: datetime | None = None


# --- market socket ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BookLevel:
    """One price level of the aggregated book: the size bid and offered at ``price``."""

    price: Decimal
    bid_size: Decimal
    ask_size: Decimal


@attrs.frozen(kw_only=True)
class VenueQuote:
    """One venue's (exchange or market maker's) top of book."""

    exchange: str
    bid: Decimal | None
    bid_size: Decimal | None
    ask: Decimal | None
    ask_size: Decimal | None


@attrs.frozen(kw_only=True)
class BookUpdated(Event):
    """A level-2 update of ``symbol``: changed book levels and/or per-venue quotes."""

    symbol: str
    levels: tuple[BookLevel, ...] = ()
    venues: tuple[VenueQuote, ...] = ()


@attrs.frozen(kw_only=True)
class GreeksUpdated(Event):
    """Option greeks of one OSI symbol; a field the update did not carry is ``None``."""

    symbol: str
    delta: Decimal | None = None
    gamma: Decimal | None = None
    theta: Decimal | None = None
    vega: Decimal | None = None
    rho: Decimal | None = None
    implied_volatility: Decimal | None = None


@attrs.frozen(kw_only=True)
class MarketStatusChanged(Event):
    """The market's session state (``market`` is ``"open"``, ``"closed"``, …)."""

    market: str
    after_hours: bool | None = None
    early_hours: bool | None = None
    server_time: datetime | None = None


# --- charting socket ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ChartQuote(Event):
    """A charting-feed quote (TradingView vocabulary); fields not sent are ``None``."""

    symbol: str
    last: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    change: Decimal | None = None
    change_pct: Decimal | None = None
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    prev_close: Decimal | None = None
    volume: Decimal | None = None


@attrs.frozen(kw_only=True)
class ChartTrade(Event):
    """A charting-feed last trade."""

    symbol: str
    price: Decimal
    size: Decimal | None = None
    time: datetime | None = None


# --- REST ---------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BalanceDetail(Balance):
    """A ``Balance`` read over REST, with the start-of-day equity only REST reports."""

    sod_total_equity: Decimal | None = None
    sod_total_equity_updated_at: datetime | None = None
