"""The simulator's data streams beyond orders and quotes (pure, sync).

* ``PnlRecorder``: samples every account's P&L (equity now − equity when the simulator started)
  once per market tick and cuts the samples into OHLC candles for the ``pnl`` topic (§4.8);
* ``Watchlists``: each user's watchlists, the source of ``watchlist.add|update|remove`` (§4.9);
* ``NewsWire``: seeded headlines and ``publish_news`` items for the ``news`` topic (§4.9);
* ``OptionChain``, ``level2_rows``, ``MarketStatusBoard``: market-socket stand-ins (option
  quotes and greeks, compact level-2 rows, market status changes, §5.3-§5.6) until the market
  model carries them itself.

Every number comes from ``engine.sim._stream_profile``; randomness from seeded ``random.Random``.
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from engine.sim._market import Quote
from engine.sim._profile import MARKET_STATUS_DATA, START_PRICES, TICK_SIZE
from engine.sim._stream_profile import (
    GREEK_KEYS,
    L2_DEPTH,
    L2_EXCHANGES,
    NEWS_HEADLINES,
    NEWS_ID_FORMAT,
    NEWS_SOURCE,
    NEWS_TOPICS,
    NEWS_URL_FORMAT,
    OPTION_EXPIRY_DAYS,
    OPTION_RATE,
    OPTION_STRIKE_STEP,
    OPTION_STRIKE_STEPS,
    OPTION_VOLATILITY,
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
# Market-socket stand-ins: option chain with greeks, level 2, market status
# ---------------------------------------------------------------------------------------------

_OSI = re.compile(r"^([A-Z]{1,6})(\d{6})([CP])(\d{8})$")


@attrs.frozen(kw_only=True)
class OptionContract:
    """One contract of the stand-in chain."""

    symbol: str
    underlying: str
    expiry: date
    put_call: str
    strike: Decimal


def osi_symbol(underlying: str, expiry: date, put_call: str, strike: Decimal) -> str:
    """``AAPL270115C00150000`` (§5.1)."""
    return f"{underlying}{expiry:%y%m%d}{put_call}{int(strike * 1000):08d}"


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _norm_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


class OptionChain:
    """Calls and puts around each underlying's start price, priced by Black-Scholes."""

    def __init__(self, underlyings: Sequence[str], today: date) -> None:
        self._today = today
        self._contracts: dict[str, OptionContract] = {}
        for underlying in underlyings:
            if not _OSI.match(f"{underlying}000101C00000000"):
                continue
            start = START_PRICES.get(underlying, Decimal(100))
            center = (start / OPTION_STRIKE_STEP).to_integral_value() * OPTION_STRIKE_STEP
            for days in OPTION_EXPIRY_DAYS:
                expiry = today + timedelta(days=days)
                expiry += timedelta(days=(4 - expiry.weekday()) % 7)  # the next Friday
                for step in range(-OPTION_STRIKE_STEPS, OPTION_STRIKE_STEPS + 1):
                    strike = center + step * OPTION_STRIKE_STEP
                    for put_call in ("C", "P"):
                        symbol = osi_symbol(underlying, expiry, put_call, strike)
                        self._contracts[symbol] = OptionContract(
                            symbol=symbol,
                            underlying=underlying,
                            expiry=expiry,
                            put_call=put_call,
                            strike=strike,
                        )

    def has(self, symbol: str) -> bool:
        """Whether ``symbol`` is a contract of the chain."""
        return symbol in self._contracts

    def contract(self, symbol: str) -> OptionContract:
        """The contract; ``KeyError`` if unknown."""
        return self._contracts[symbol]

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every contract symbol."""
        return tuple(self._contracts)

    def _years(self, contract: OptionContract) -> float:
        return max((contract.expiry - self._today).days, 1) / 365.0

    def quote(self, symbol: str, underlying_mark: Decimal) -> Quote:
        """A two-cent-wide quote around the model price (never below one tick)."""
        value = Decimal(str(round(self._price(symbol, float(underlying_mark)), 2)))
        bid = max(TICK_SIZE, value - TICK_SIZE)
        return Quote(symbol=symbol, bid=bid, ask=bid + 2 * TICK_SIZE, bid_size=10, ask_size=10)

    def _price(self, symbol: str, spot: float) -> float:
        c = self._contracts[symbol]
        k, t, vol, r = float(c.strike), self._years(c), OPTION_VOLATILITY, OPTION_RATE
        d1 = (math.log(spot / k) + (r + vol * vol / 2) * t) / (vol * math.sqrt(t))
        d2 = d1 - vol * math.sqrt(t)
        if c.put_call == "C":
            return spot * _norm_cdf(d1) - k * math.exp(-r * t) * _norm_cdf(d2)
        return k * math.exp(-r * t) * _norm_cdf(-d2) - spot * _norm_cdf(-d1)

    def greeks(self, symbol: str, underlying_mark: Decimal) -> dict[str, str]:
        """Delta, gamma, theta (per day), vega and rho (per 1 %), implied volatility."""
        c = self._contracts[symbol]
        spot = float(underlying_mark)
        k, t, vol, r = float(c.strike), self._years(c), OPTION_VOLATILITY, OPTION_RATE
        sq = math.sqrt(t)
        d1 = (math.log(spot / k) + (r + vol * vol / 2) * t) / (vol * sq)
        d2 = d1 - vol * sq
        disc = math.exp(-r * t)
        gamma = _norm_pdf(d1) / (spot * vol * sq)
        vega = spot * _norm_pdf(d1) * sq / 100
        decay = -spot * _norm_pdf(d1) * vol / (2 * sq)
        if c.put_call == "C":
            delta = _norm_cdf(d1)
            theta = (decay - r * k * disc * _norm_cdf(d2)) / 365
            rho = k * t * disc * _norm_cdf(d2) / 100
        else:
            delta = _norm_cdf(d1) - 1
            theta = (decay + r * k * disc * _norm_cdf(-d2)) / 365
            rho = -k * t * disc * _norm_cdf(-d2) / 100
        values = (delta, gamma, theta, vega, rho, vol)
        return {key: f"{value:.4f}" for key, value in zip(GREEK_KEYS, values, strict=True)}


def level2_rows(quote: Quote, rng: random.Random) -> tuple[list[str], list[str]]:
    """Compact level-2 rows (§5.6 VERIFIED format) built around the top of book.

    ``orderBook``: ``askSize:price:bidSize`` per price level; ``quotes``:
    ``exchange:askPrice:askSize:bidPrice:bidSize`` per market maker.
    """
    book: list[str] = []
    for i in range(L2_DEPTH):
        ask = quote.ask + i * TICK_SIZE
        size = quote.ask_size if i == 0 else rng.randint(1, 20) * 100
        book.append(f"{size}:{ask}:0")
    for i in range(L2_DEPTH):
        bid = quote.bid - i * TICK_SIZE
        size = quote.bid_size if i == 0 else rng.randint(1, 20) * 100
        book.append(f"0:{bid}:{size}")
    makers: list[str] = []
    for i, exchange in enumerate(L2_EXCHANGES):
        ask = quote.ask + i * TICK_SIZE
        bid = quote.bid - i * TICK_SIZE
        makers.append(
            f"{exchange}:{ask}:{rng.randint(1, 10) * 100}:{bid}:{rng.randint(1, 10) * 100}"
        )
    return book, makers


class MarketStatusBoard:
    """The current ``marketStatus`` data (§5.3); ``change`` applies a partial update."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {k: _copy(v) for k, v in MARKET_STATUS_DATA.items()}

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
    options: OptionChain
    status: MarketStatusBoard
    rng: random.Random
