"""The synthetic market: a seeded random walk of quotes and occasional trades (pure, sync).

Prices are kept as integer ticks of $0.01 and handed out as ``Decimal`` on the grid. Each
``step()`` moves every symbol's mid by a few ticks, draws a fresh half spread and sizes, and
sometimes prints a trade at the bid or the ask. All randomness comes from the ``random.Random``
passed in, so a seed reproduces the market exactly. Every number here is an INFERRED choice from
``engine.sim._profile``.

Beyond the touch, ``book(symbol)`` is a level-2 view (``BOOK_DEPTH`` levels each side, one tick
apart; level 1 is the quote, deeper sizes hashed from symbol, tick number and level, so they are
deterministic without consuming the walk's RNG); ``market_status()`` the always-open status;
``option_chain``/``option_quote`` the listed options of ``OPTION_UNDERLYINGS`` priced from the
underlying's mark (``engine.sim._options``). All are pure reads the sockets can stream.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import attrs

from engine.sim import _options
from engine.sim._options import OptionContract, OptionQuote
from engine.sim._profile import (
    BOOK_DEPTH,
    DEFAULT_START_PRICE,
    LOT_SIZE,
    MARKET_STATUS_DATA,
    MAX_HALF_SPREAD_TICKS,
    MAX_QUOTE_LOTS,
    MAX_STEP_TICKS,
    MAX_TRADE_LOTS,
    MIN_MID_TICKS,
    OPTION_UNDERLYINGS,
    START_PRICES,
    TICK_SIZE,
    TRADE_EXCHANGES,
    TRADE_PROBABILITY,
)


def ticks_to_price(ticks: int) -> Decimal:
    """``17550`` → ``Decimal("175.50")``."""
    return Decimal(ticks) * TICK_SIZE


def price_to_ticks(price: Decimal) -> int:
    """``Decimal("175.50")`` → ``17550`` (rounded to the nearest tick)."""
    return int((price / TICK_SIZE).to_integral_value())


@attrs.frozen(kw_only=True)
class Quote:
    """Top of book for one symbol."""

    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int

    @property
    def mid(self) -> Decimal:
        """Midpoint of bid and ask (the simulator's mark price)."""
        return (self.bid + self.ask) / 2


@attrs.frozen(kw_only=True)
class BookLevel:
    """One price level of the level-2 book."""

    price: Decimal
    size: int


@attrs.frozen(kw_only=True)
class Book:
    """Level 2 for one symbol: bids best (highest) first, asks best (lowest) first."""

    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


@attrs.frozen(kw_only=True)
class Trade:
    """One printed trade."""

    symbol: str
    price: Decimal
    size: int
    total_volume: int
    exchange: str
    seq: int


@attrs.frozen(kw_only=True)
class SymbolSummary:
    """Session statistics of one symbol (for the charts socket)."""

    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    prev_close: Decimal
    last: Decimal
    volume: int


@attrs.frozen(kw_only=True)
class MarketTick:
    """What one ``step()`` produced: a quote for every symbol and the trades printed."""

    number: int
    quotes: tuple[Quote, ...]
    trades: tuple[Trade, ...]


@attrs.define(eq=False)
class _SymbolState:
    start_ticks: int
    bid_ticks: int
    ask_ticks: int
    bid_size: int
    ask_size: int
    high_ticks: int
    low_ticks: int
    volume: int = 0
    last_trade: Trade | None = None


class MarketModel:
    """A seeded random-walk market over a fixed symbol universe.

    Not thread-safe and not async: the simulator's market loop calls ``step()`` once per tick,
    everything else only reads.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        rng: random.Random,
        *,
        start_prices: Mapping[str, Decimal] = START_PRICES,
    ) -> None:
        self._rng = rng
        self._symbols = tuple(symbols)
        self._tick_number = 0
        self._trade_seq = 0
        self._state: dict[str, _SymbolState] = {}
        for symbol in self._symbols:
            mid = max(MIN_MID_TICKS, price_to_ticks(start_prices.get(symbol, DEFAULT_START_PRICE)))
            half = self._rng.randint(1, MAX_HALF_SPREAD_TICKS)
            self._state[symbol] = _SymbolState(
                start_ticks=mid,
                bid_ticks=mid - half,
                ask_ticks=mid + half,
                bid_size=self._quote_size(),
                ask_size=self._quote_size(),
                high_ticks=mid,
                low_ticks=mid,
            )

    @property
    def symbols(self) -> tuple[str, ...]:
        """The tradable universe, in configuration order."""
        return self._symbols

    def has(self, symbol: str) -> bool:
        """Whether ``symbol`` is traded here."""
        return symbol in self._state

    def quote(self, symbol: str) -> Quote:
        """The current quote; ``KeyError`` for a symbol not traded here."""
        st = self._state[symbol]
        return Quote(
            symbol=symbol,
            bid=ticks_to_price(st.bid_ticks),
            ask=ticks_to_price(st.ask_ticks),
            bid_size=st.bid_size,
            ask_size=st.ask_size,
        )

    def last_trade(self, symbol: str) -> Trade | None:
        """The last trade printed for ``symbol``, if any."""
        return self._state[symbol].last_trade

    def mark(self, symbol: str) -> Decimal:
        """Mark price used for positions and balances: the quote midpoint."""
        return self.quote(symbol).mid

    def summary(self, symbol: str) -> SymbolSummary:
        """Open/high/low/last/volume since the simulator started (open = previous close)."""
        st = self._state[symbol]
        last = st.last_trade.price if st.last_trade is not None else self.mark(symbol)
        return SymbolSummary(
            symbol=symbol,
            open=ticks_to_price(st.start_ticks),
            high=ticks_to_price(st.high_ticks),
            low=ticks_to_price(st.low_ticks),
            prev_close=ticks_to_price(st.start_ticks),
            last=last,
            volume=st.volume,
        )

    def force_quote(
        self,
        symbol: str,
        *,
        bid: Decimal,
        ask: Decimal,
        bid_size: int | None = None,
        ask_size: int | None = None,
    ) -> Quote:
        """Set a symbol's quote outright (tests and fault injection); the walk continues from it."""
        if not bid < ask:
            raise ValueError(f"bid {bid} must be below ask {ask}")
        st = self._state[symbol]
        st.bid_ticks = price_to_ticks(bid)
        st.ask_ticks = price_to_ticks(ask)
        if bid_size is not None:
            st.bid_size = bid_size
        if ask_size is not None:
            st.ask_size = ask_size
        return self.quote(symbol)

    @property
    def tick_number(self) -> int:
        """How many ``step()`` calls so far."""
        return self._tick_number

    def start_price(self, symbol: str) -> Decimal:
        """The symbol's mid when the market opened."""
        return ticks_to_price(self._state[symbol].start_ticks)

    def book(self, symbol: str, depth: int = BOOK_DEPTH) -> Book:
        """Level 2: ``depth`` levels each side, level 1 = the quote (deterministic per tick)."""
        st = self._state[symbol]
        bids: list[BookLevel] = []
        asks: list[BookLevel] = []
        for level in range(depth):
            if level == 0:
                bid_size, ask_size = st.bid_size, st.ask_size
            else:
                bid_size = self._level_size(symbol, "B", level)
                ask_size = self._level_size(symbol, "A", level)
            if st.bid_ticks - level > 0:
                bids.append(BookLevel(price=ticks_to_price(st.bid_ticks - level), size=bid_size))
            asks.append(BookLevel(price=ticks_to_price(st.ask_ticks + level), size=ask_size))
        return Book(symbol=symbol, bids=tuple(bids), asks=tuple(asks))

    def _level_size(self, symbol: str, side: str, level: int) -> int:
        key = f"{symbol}:{side}:{level}:{self._tick_number}".encode()
        return (zlib.crc32(key) % MAX_QUOTE_LOTS + 1) * LOT_SIZE

    @staticmethod
    def market_status() -> dict[str, Any]:
        """The ``marketStatus`` data (§5.3): the simulated market is always open."""
        return {
            key: dict(value) if isinstance(value, dict) else value
            for key, value in MARKET_STATUS_DATA.items()
        }

    # -- options -----------------------------------------------------------------------------

    def option_underlyings(self) -> tuple[str, ...]:
        """Symbols of this market that list options."""
        return tuple(s for s in self._symbols if s in OPTION_UNDERLYINGS)

    def option_chain(self, underlying: str, as_of: date) -> tuple[OptionContract, ...]:
        """The listed contracts of ``underlying`` (empty if it lists none)."""
        if underlying not in self.option_underlyings():
            return ()
        return _options.chain(underlying, self.start_price(underlying), as_of)

    def option_contract(self, symbol: str, as_of: date) -> OptionContract | None:
        """The listed contract an OSI symbol names, or ``None``."""
        contract = _options.parse_osi(symbol)
        if contract is None or contract not in self.option_chain(contract.underlying, as_of):
            return None
        return contract

    def option_quote(self, symbol: str, as_of: date) -> OptionQuote:
        """The quote of a listed option; ``KeyError`` if it is not listed."""
        contract = self.option_contract(symbol, as_of)
        if contract is None:
            raise KeyError(symbol)
        return _options.quote(contract, self.mark(contract.underlying), as_of)

    def option_summary(self, symbol: str, as_of: date) -> SymbolSummary:
        """Charts statistics of a listed option: open / previous close is its value at the
        underlying's start price, last its current mid (no option prints: volume 0)."""
        quote = self.option_quote(symbol, as_of)
        contract = quote.contract
        opened = _options.theoretical_value(contract, self.start_price(contract.underlying), as_of)
        last = quote.mid
        return SymbolSummary(
            symbol=symbol,
            open=opened,
            high=max(opened, last),
            low=min(opened, last),
            prev_close=opened,
            last=last,
            volume=0,
        )

    def step(self) -> MarketTick:
        """Advance every symbol one random-walk step; return the new quotes and any trades."""
        self._tick_number += 1
        quotes: list[Quote] = []
        trades: list[Trade] = []
        rng = self._rng
        for symbol in self._symbols:
            st = self._state[symbol]
            mid = (st.bid_ticks + st.ask_ticks) // 2
            mid = max(MIN_MID_TICKS, mid + rng.randint(-MAX_STEP_TICKS, MAX_STEP_TICKS))
            half = rng.randint(1, MAX_HALF_SPREAD_TICKS)
            st.bid_ticks = mid - half
            st.ask_ticks = mid + half
            st.bid_size = self._quote_size()
            st.ask_size = self._quote_size()
            quotes.append(self.quote(symbol))
            if rng.random() < TRADE_PROBABILITY:
                price_ticks = rng.choice((st.bid_ticks, st.ask_ticks))
                size = rng.randint(1, MAX_TRADE_LOTS) * LOT_SIZE
                self._trade_seq += 1
                st.volume += size
                st.high_ticks = max(st.high_ticks, price_ticks)
                st.low_ticks = min(st.low_ticks, price_ticks)
                trade = Trade(
                    symbol=symbol,
                    price=ticks_to_price(price_ticks),
                    size=size,
                    total_volume=st.volume,
                    exchange=rng.choice(TRADE_EXCHANGES),
                    seq=self._trade_seq,
                )
                st.last_trade = trade
                trades.append(trade)
        return MarketTick(number=self._tick_number, quotes=tuple(quotes), trades=tuple(trades))

    def _quote_size(self) -> int:
        return self._rng.randint(1, MAX_QUOTE_LOTS) * LOT_SIZE
