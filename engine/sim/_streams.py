"""The simulator's data streams beyond orders and quotes (pure, sync).

* ``PnlRecorder``: samples every account's P&L (equity now − equity when the simulator started)
  once per market tick and cuts the samples into OHLC candles for the ``pnl`` topic (§4.8);
* ``Watchlists``: each user's watchlists, the source of ``watchlist.add|update|remove`` (§4.9);
* ``NewsWire``: seeded headlines and ``publish_news`` items for the ``news`` topic (§4.9);
* ``level2_rows`` (compact rows of ``MarketModel.book()``) and ``MarketStatusBoard`` (market
  status changes on top of ``MarketModel.market_status()``) for the market socket (§5.3, §5.6).

Every number comes from ``engine.sim._stream_profile``; randomness from seeded ``random.Random``.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs

from engine.sim._market import Book
from engine.sim._stream_profile import (
    L2_EXCHANGES,
    NEWS_HEADLINES,
    NEWS_ID_FORMAT,
    NEWS_SOURCE,
    NEWS_TOPICS,
    NEWS_URL_FORMAT,
    PNL_INTERVAL_SECONDS,
    PNL_MAX_SAMPLES,
    PNL_MONTH_INTERVAL,
    SEED_WATCHLIST_ID,
    SEED_WATCHLIST_NAME,
    SEED_WATCHLIST_SIZE,
)

_ZERO = Decimal(0)

# ---------------------------------------------------------------------------------------------
# P&L candles
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Candle:
    """One P&L candle: ``t`` is the bucket start in Unix seconds (BRIEF)."""

    t: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


def bucket_start(interval: str, moment: datetime) -> int:
    """Unix seconds of the start of ``moment``'s bucket (UTC; ``1mo`` = calendar month)."""
    moment = moment.astimezone(UTC)
    if interval == PNL_MONTH_INTERVAL:
        return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp())
    seconds = PNL_INTERVAL_SECONDS[interval]
    whole = math.floor(moment.timestamp())
    return whole - whole % seconds


class PnlRecorder:
    """Per-account P&L samples and the candles cut from them."""

    def __init__(self, equity: Callable[[str], Decimal], accounts: Iterable[str]) -> None:
        self._equity = equity
        self._base = {a: equity(a) for a in accounts}
        self._samples: dict[str, deque[tuple[datetime, Decimal]]] = {
            a: deque(maxlen=PNL_MAX_SAMPLES) for a in self._base
        }

    def pnl(self, account_id: str) -> Decimal:
        """The account's P&L right now."""
        return self._equity(account_id) - self._base[account_id]

    def sample(self, now: datetime) -> None:
        """Record every account's P&L at ``now`` (called once per market tick)."""
        for account_id, samples in self._samples.items():
            samples.append((now, self.pnl(account_id)))

    def candles(self, account_id: str, interval: str, since: datetime) -> list[Candle]:
        """Candles of the buckets from ``since``'s bucket on, oldest first."""
        first = bucket_start(interval, since)
        out: list[Candle] = []
        for moment, value in self._samples.get(account_id, ()):
            t = bucket_start(interval, moment)
            if t < first:
                continue
            if out and out[-1].t == t:
                last = out[-1]
                out[-1] = attrs.evolve(
                    last, high=max(last.high, value), low=min(last.low, value), close=value
                )
            else:
                out.append(Candle(t=t, open=value, high=value, low=value, close=value))
        return out

    def current(self, account_id: str, interval: str) -> Candle | None:
        """The open (latest) bucket's candle, or ``None`` before the first sample."""
        samples = self._samples.get(account_id)
        if not samples:
            return None
        t = bucket_start(interval, samples[-1][0])
        values: list[Decimal] = []
        for moment, value in reversed(samples):
            if bucket_start(interval, moment) != t:
                break
            values.append(value)
        values.reverse()
        return Candle(t=t, open=values[0], high=max(values), low=min(values), close=values[-1])


# ---------------------------------------------------------------------------------------------
# Watchlists
# ---------------------------------------------------------------------------------------------

WATCHLIST_ADD = "watchlist.add"
WATCHLIST_UPDATE = "watchlist.update"
WATCHLIST_REMOVE = "watchlist.remove"


@attrs.frozen(kw_only=True)
class WatchlistChange:
    """One change of a user's watchlists. ``symbol`` is ``None`` for a whole-list change."""

    kind: str
    user: str
    watchlist_id: str
    name: str
    symbol: str | None
    position: int | None


@attrs.define(eq=False)
class _Watchlist:
    name: str
    symbols: list[str]


class Watchlists:
    """Every user's watchlists (``watchlist_id`` → name and ordered symbols)."""

    def __init__(self) -> None:
        self._lists: dict[str, dict[str, _Watchlist]] = {}

    def seed(self, user: str, symbols: Sequence[str]) -> None:
        """Give ``user`` the seeded watchlist (the first configured symbols)."""
        self._lists.setdefault(user, {})[SEED_WATCHLIST_ID] = _Watchlist(
            name=SEED_WATCHLIST_NAME, symbols=list(symbols[:SEED_WATCHLIST_SIZE])
        )

    def symbols(self, user: str, watchlist_id: str = SEED_WATCHLIST_ID) -> list[str]:
        """The symbols of one watchlist (empty if it does not exist)."""
        wl = self._lists.get(user, {}).get(watchlist_id)
        return list(wl.symbols) if wl is not None else []

    def add(
        self, user: str, symbol: str, watchlist_id: str, name: str | None = None
    ) -> WatchlistChange:
        """Add ``symbol`` at the end of the list (creating the list if needed)."""
        lists = self._lists.setdefault(user, {})
        wl = lists.get(watchlist_id)
        if wl is None:
            wl = lists[watchlist_id] = _Watchlist(name=name or watchlist_id, symbols=[])
        if symbol not in wl.symbols:
            wl.symbols.append(symbol)
        return WatchlistChange(
            kind=WATCHLIST_ADD,
            user=user,
            watchlist_id=watchlist_id,
            name=wl.name,
            symbol=symbol,
            position=wl.symbols.index(symbol),
        )

    def update(
        self,
        user: str,
        watchlist_id: str,
        *,
        symbol: str | None = None,
        position: int | None = None,
        name: str | None = None,
    ) -> WatchlistChange:
        """Rename the list and/or move ``symbol`` to ``position``; ``KeyError`` if unknown."""
        wl = self._lists[user][watchlist_id]
        if name is not None:
            wl.name = name
        if symbol is not None:
            wl.symbols.remove(symbol)
            index = len(wl.symbols) if position is None else max(0, position)
            wl.symbols.insert(min(index, len(wl.symbols)), symbol)
            position = wl.symbols.index(symbol)
        return WatchlistChange(
            kind=WATCHLIST_UPDATE,
            user=user,
            watchlist_id=watchlist_id,
            name=wl.name,
            symbol=symbol,
            position=position,
        )

    def remove(self, user: str, watchlist_id: str, symbol: str | None = None) -> WatchlistChange:
        """Remove ``symbol`` (or the whole list when ``symbol`` is ``None``)."""
        lists = self._lists.get(user, {})
        wl = lists.get(watchlist_id)
        name = wl.name if wl is not None else watchlist_id
        if wl is not None:
            if symbol is None:
                del lists[watchlist_id]
            elif symbol in wl.symbols:
                wl.symbols.remove(symbol)
        return WatchlistChange(
            kind=WATCHLIST_REMOVE,
            user=user,
            watchlist_id=watchlist_id,
            name=name,
            symbol=symbol,
            position=None,
        )

    def random_change(
        self, user: str, universe: Sequence[str], rng: random.Random
    ) -> WatchlistChange:
        """A seeded change of the user's seeded list: add a missing symbol or remove one."""
        current = self.symbols(user)
        missing = [s for s in universe if s not in current]
        if missing and (not current or rng.random() < 0.5):
            return self.add(user, rng.choice(missing), SEED_WATCHLIST_ID, SEED_WATCHLIST_NAME)
        return self.remove(user, SEED_WATCHLIST_ID, rng.choice(current))


# ---------------------------------------------------------------------------------------------
# News
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NewsItem:
    """One news story (§4.9 INFERRED fields)."""

    id: str
    headline: str
    summary: str
    symbols: tuple[str, ...]
    topics: tuple[str, ...]
    source: str
    url: str
    published_at: datetime

    def matches(self, symbols: Sequence[str] | None, topics: Sequence[str] | None) -> bool:
        """The subscription filter: any listed symbol AND any listed topic (absent = all)."""
        if symbols is not None and not set(symbols) & set(self.symbols):
            return False
        return topics is None or bool(set(topics) & set(self.topics))


class NewsWire:
    """Numbered news items: seeded random ones and explicit ones."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"{seed}:news")
        self._count = 0

    def make(
        self,
        headline: str,
        *,
        symbols: Sequence[str] = (),
        topics: Sequence[str] = (),
        summary: str = "",
        now: datetime,
    ) -> NewsItem:
        """A news item with the next id."""
        self._count += 1
        news_id = NEWS_ID_FORMAT.format(n=self._count)
        return NewsItem(
            id=news_id,
            headline=headline,
            summary=summary,
            symbols=tuple(symbols),
            topics=tuple(topics),
            source=NEWS_SOURCE,
            url=NEWS_URL_FORMAT.format(id=news_id),
            published_at=now,
        )

    def random_item(self, universe: Sequence[str], now: datetime) -> NewsItem:
        """A seeded story about one symbol of ``universe``."""
        rng = self._rng
        symbol = rng.choice(list(universe))
        headline = rng.choice(NEWS_HEADLINES).format(symbol=symbol)
        return self.make(
            headline,
            symbols=[symbol],
            topics=[rng.choice(NEWS_TOPICS)],
            summary=f"{headline}.",
            now=now,
        )


# ---------------------------------------------------------------------------------------------
# Market socket: level-2 rows of the model's book, market status changes
# ---------------------------------------------------------------------------------------------


def level2_rows(book: Book) -> tuple[list[str], list[str]]:
    """Compact level-2 rows (§5.6 VERIFIED format) of ``MarketModel.book()``.

    ``orderBook``: ``askSize:price:bidSize`` per price level (asks best first, then bids best
    first); ``quotes``: ``exchange:askPrice:askSize:bidPrice:bidSize``, maker ``i`` quoting book
    level ``i`` on each side.
    """
    rows = [f"{level.size}:{level.price}:0" for level in book.asks]
    rows += [f"0:{level.price}:{level.size}" for level in book.bids]
    makers = [
        f"{exchange}:{ask.price}:{ask.size}:{bid.price}:{bid.size}"
        for exchange, ask, bid in zip(L2_EXCHANGES, book.asks, book.bids, strict=False)
    ]
    return rows, makers


class MarketStatusBoard:
    """The current ``marketStatus`` data (§5.3); ``change`` applies a partial update.

    Starts from ``MarketModel.market_status()``.
    """

    def __init__(self, initial: dict[str, Any]) -> None:
        self._data: dict[str, Any] = {k: _copy(v) for k, v in initial.items()}

    @property
    def data(self) -> dict[str, Any]:
        """A copy of the current values (without ``serverTime``)."""
        return {k: _copy(v) for k, v in self._data.items()}

    def change(self, changes: dict[str, Any]) -> bool:
        """Merge ``changes`` (nested dicts merge too); ``True`` if any value changed."""
        before = self.data
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(self._data.get(key), dict):
                self._data[key].update(value)
            else:
                self._data[key] = _copy(value)
        return self._data != before


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


@attrs.define(eq=False)
class SimStreams:
    """The stream state of one simulator, held by its hub."""

    pnl: PnlRecorder
    watchlists: Watchlists
    news: NewsWire
    status: MarketStatusBoard
    rng: random.Random
