"""Frames to fuzz the decoder with: canonical messages of every type, and ways to break them.

Every generator takes a ``Chooser`` and asks it for each random decision, so one code base has
two drivers:

* Hypothesis (``tests/fuzz/test_fuzz_*.py``): the strategies at the end of this module wrap a
  ``DrawChooser``, so every decision is a Hypothesis draw and a failure shrinks (towards choice
  0 everywhere: the first entry of each table is the simplest, and "no mutation" is 0);
* ``bench/fuzz.py``: a ``RandomChooser`` over a seeded ``random.Random``, without Hypothesis'
  per-example cost; a case is reproduced from its seed alone.

What is generated:

* ``CANONICAL``: what the venue sends, one entry per message type and variant — the samples of
  ``tests.aries.samples`` (copied from ARIES.md) and the simulator's own builders
  (``engine.sim._messages``), grouped by endpoint;
* ``valid_message``: a message of a random kind built by the simulator's builders from random but
  sane values (what must decode without error: no false positives);
* ``book_message``: order/position/balance events and snapshots for the two known accounts with
  absurd-but-decodable numbers (negative, zero, tiny, huge, ``cumQty > qty`` …), for the account
  book;
* ``fuzz_frame``: a frame of one or more lines, each canonical, valid or mutated — wrong types,
  missing and unknown fields, huge numbers, NaN/Infinity (strings and bare tokens), bad
  timestamps, deep nesting, unknown and confused message types, truncation, garbage, invalid
  UTF-8 (the frame is then ``bytes``), enormous strings, arrays and frames.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

import attrs
from hypothesis import strategies as st

from engine.aries import protocol
from engine.model.enums import Endpoint, Side
from engine.sim import _messages as sim
from engine.sim._ledger import (
    EQUITY,
    OPTION,
    AccountInfo,
    AccountSnapshot,
    BalanceUpdate,
    BalanceView,
    OrderUpdate,
    OrderView,
    PositionUpdate,
    PositionView,
)
from engine.sim._market import Quote, SymbolSummary, Trade
from engine.sim._streams import (
    WATCHLIST_ADD,
    WATCHLIST_REMOVE,
    WATCHLIST_UPDATE,
    Candle,
    NewsItem,
    WatchlistChange,
)
from engine.sim._vocab import OrderType, OrdStatus
from tests.aries import samples

__all__ = [
    "ACCOUNTS",
    "CANONICAL",
    "TS_RECV",
    "Canonical",
    "Chooser",
    "DrawChooser",
    "Frame",
    "RandomChooser",
    "book_frames",
    "book_message",
    "dumps",
    "fuzz_frame",
    "fuzz_frames",
    "valid_message",
    "valid_messages",
]

Json = dict[str, Any]
T = TypeVar("T")

#: The accounts the fuzzed engine is configured with (the samples and the builders use both).
ACCOUNTS = ("ACC-001", "TEST-ACCOUNT-001")
#: Receive time given to the decoder (epoch ns; any value works).
TS_RECV = samples.TS_RECV
NOW = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "NVDA", "BRK.B", "AAPL270115C00150000")


# --- choosers -----------------------------------------------------------------------------------


class Chooser(Protocol):
    """The source of every random decision of this module."""

    def below(self, n: int) -> int:
        """A number in ``[0, n)`` (``n >= 1``); 0 is the simplest answer."""
        ...


@attrs.define
class RandomChooser:
    """Decisions from a ``random.Random`` (the bench: fast, reproducible from a seed)."""

    rng: random.Random

    def below(self, n: int) -> int:
        """A uniform number in ``[0, n)``."""
        return int(self.rng.random() * n)


@functools.cache
def _integers(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


@attrs.define
class DrawChooser:
    """Decisions drawn from Hypothesis (the tests: failures shrink towards choice 0)."""

    draw: Callable[[st.SearchStrategy[int]], int]

    def below(self, n: int) -> int:
        """A drawn number in ``[0, n)``."""
        return 0 if n <= 1 else self.draw(_integers(n))


def pick(c: Chooser, options: Sequence[T]) -> T:
    """One of ``options`` (the first is the simplest)."""
    return options[c.below(len(options))]


def chance(c: Chooser, one_in: int) -> bool:
    """True with probability ``1 / one_in`` (False is the simplest)."""
    return c.below(one_in) == one_in - 1


def between(c: Chooser, low: int, high: int) -> int:
    """A number in ``[low, high]`` (``low`` is the simplest)."""
    return low + c.below(high - low + 1)


class Weighted(Generic[T]):
    """A weighted table: ``Weighted((10, a), (1, b)).choose(c)`` is ``a`` ten times as often."""

    def __init__(self, *entries: tuple[int, T]) -> None:
        self._values = tuple(value for _, value in entries)
        self._cumulative: list[int] = []
        total = 0
        for weight, _ in entries:
            total += weight
            self._cumulative.append(total)
        self._total = total

    def choose(self, c: Chooser) -> T:
        """A value, with probability proportional to its weight."""
        roll = c.below(self._total)
        for value, bound in zip(self._values, self._cumulative, strict=True):
            if roll < bound:
                return value
        return self._values[-1]  # pragma: no cover - roll < total


def dumps(message: object) -> str:
    """Compact JSON, as the venue sends it."""
    return json.dumps(message, separators=(",", ":"))


# --- canonical messages -------------------------------------------------------------------------


@attrs.frozen
class Canonical:
    """One canonical server → client message: its name, socket and compact JSON text."""

    name: str
    endpoint: Endpoint
    text: str

    def message(self) -> Json:
        """A fresh (mutable) copy of the message."""
        value: Json = json.loads(self.text)
        return value


def _order_view(
    *,
    account_id: str = "ACC-001",
    cl_ord_id: str = "SIM-1",
    status: OrdStatus = OrdStatus.NEW,
    order_type: OrderType = OrderType.LIMIT,
    side: Side = Side.BUY,
    qty: Decimal = Decimal(100),
    cum_qty: Decimal = Decimal(0),
    price: Decimal | None = Decimal("175.50"),
    stop_price: Decimal | None = None,
    avg_price: Decimal | None = None,
    symbol: str = "AAPL",
    time_in_force: str = "DAY",
    text: str = "",
    rej_reason: str = "",
    trail_offset: Decimal | None = None,
    security_type: str = EQUITY,
    moment: datetime = NOW,
) -> OrderView:
    return OrderView(
        cl_ord_id=cl_ord_id,
        ord_id=f"sim-ord-{cl_ord_id}",
        account_id=account_id,
        client_id="c-1",
        symbol=symbol,
        side=side,
        type=order_type,
        time_in_force=time_in_force,
        qty=qty,
        price=price,
        stop_price=stop_price,
        status=status,
        cum_qty=cum_qty,
        leaves_qty=qty - cum_qty,
        avg_price=avg_price,
        currency="USD",
        ex_destination="MNGD",
        text=text,
        rej_reason=rej_reason,
        created_at=moment,
        updated_at=moment,
        security_type=security_type,
        trail_offset=trail_offset,
        trail_offset_type=None if trail_offset is None else "AMOUNT",
    )


def _position_view(
    *,
    account_id: str = "ACC-001",
    symbol: str = "AAPL",
    quantity: Decimal = Decimal(100),
    avg_price: Decimal = Decimal("170.25"),
    mark: Decimal = Decimal("175.40"),
    security_type: str = EQUITY,
    moment: datetime = NOW,
) -> PositionView:
    multiplier = 100 if security_type == OPTION else 1
    market_value = quantity * mark * multiplier
    return PositionView(
        account_id=account_id,
        symbol=symbol,
        quantity=quantity,
        avg_price=avg_price,
        today_realized_pnl=Decimal(0),
        mark=mark,
        market_value=market_value,
        unrealized_pnl=market_value - quantity * avg_price * multiplier,
        created_at=moment,
        updated_at=moment,
        security_type=security_type,
    )


def _balance_view(*, account_id: str = "ACC-001", cash: Decimal = Decimal(100000)) -> BalanceView:
    return BalanceView(
        account_id=account_id,
        cash=cash,
        sod_positions_market_value=Decimal("17025.00"),
        net_buying_power=cash,
        stock_buying_power=cash * 2,
        day_trade_buying_power=cash * 4,
        option_buying_power=cash,
        day_trade_overnight_reg_t_buying_power=cash,
        total_equity=cash + Decimal("17025.00"),
        settled_funds=cash,
        unsettled_funds=Decimal(0),
        held_back_funds=Decimal(0),
        gross_margin=Decimal(0),
        pending_orders_margin_requirements=Decimal(0),
        maint_req=Decimal("5107.50"),
        credit_multiplier=Decimal(2),
        pending_orders_count=1,
        realized_pl=Decimal("12.50"),
        unrealized_pl=Decimal("-3.25"),
        start_of_day_cash=cash,
        value_bought=Decimal(0),
        value_sold=Decimal(0),
    )


def _account_info(account_id: str = "ACC-001") -> AccountInfo:
    return AccountInfo(
        account_id=account_id,
        account_type="MARGIN",
        account_class="INDIVIDUAL",
        options_level="LEVEL_2",
        status="OPEN",
    )


def _snapshot(account_id: str, orders: Sequence[OrderView], moment: datetime = NOW) -> Json:
    payload = sim.account_snapshot(
        AccountSnapshot(
            info=_account_info(account_id),
            balance=_balance_view(account_id=account_id),
            positions=(_position_view(account_id=account_id, moment=moment),),
            orders=tuple(orders),
        )
    )
    return sim.subscribed("sub-1", "account", {"accountId": account_id}, moment, payload)


def _sim_catalogue() -> Iterator[tuple[str, Endpoint, Json]]:
    """One message per builder of ``engine.sim._messages`` (socket messages only)."""
    accounts, market, charts = Endpoint.ACCOUNTS, Endpoint.MARKET, Endpoint.CHARTS
    quote = Quote(
        symbol="AAPL", bid=Decimal("189.49"), ask=Decimal("189.51"), bid_size=300, ask_size=100
    )
    trade = Trade(
        symbol="AAPL",
        price=Decimal("189.50"),
        size=100,
        total_volume=1203344,
        exchange="NSDQ",
        seq=88123,
    )
    summary = SymbolSummary(
        symbol="AAPL",
        open=Decimal("188.10"),
        high=Decimal("190.02"),
        low=Decimal("187.95"),
        prev_close=Decimal("188.30"),
        last=Decimal("189.50"),
        volume=1203344,
    )
    candle = Candle(
        t=1768487400,
        open=Decimal("120.00"),
        high=Decimal("131.50"),
        low=Decimal("118.25"),
        close=Decimal("129.75"),
    )
    for endpoint in (accounts, market, charts):
        yield "sim.auth_success", endpoint, sim.auth_success("auth-1", NOW, 3_900_000)
        yield "sim.refresh_auth", endpoint, sim.refresh_auth(NOW, 300_000, 1768491000000)
        yield "sim.auth_expired", endpoint, sim.auth_expired(NOW)
        yield "sim.error", endpoint, sim.error("INVALID_TOKEN", "token expired", "auth-1", NOW)
        yield "sim.pong", endpoint, sim.pong("p-1", NOW)
    yield "sim.error.sub", accounts, sim.error("ACCESS_DENIED", "not yours", "s-1", NOW)
    filled = _order_view(
        status=OrdStatus.PARTIALLY_FILLED, cum_qty=Decimal(40), avg_price=Decimal("175.48")
    )
    yield "sim.subscribed.account", accounts, _snapshot("ACC-001", (filled,))
    yield (
        "sim.subscribed.pnl",
        accounts,
        sim.subscribed(
            "s-2", "pnl", {"accountId": "ACC-001", "startTime": "2026-01-15T00:00:00Z"}, NOW
        ),
    )
    yield (
        "sim.unsubscribed",
        accounts,
        sim.unsubscribed("u-1", "pnl", {"accountId": "ACC-001"}, NOW),
    )
    yield (
        "sim.account.order",
        accounts,
        sim.account_event(
            OrderUpdate(
                account_id="ACC-001",
                order=filled,
                last_qty=Decimal(40),
                last_px=Decimal("175.48"),
            ),
            NOW,
        ),
    )
    trailing = _order_view(
        order_type=OrderType.TRAILING_STOP, price=None, trail_offset=Decimal("1.50"), side=Side.SELL
    )
    yield (
        "sim.account.order.trailing",
        accounts,
        sim.account_event(OrderUpdate(account_id="ACC-001", order=trailing), NOW),
    )
    option = _position_view(symbol="AAPL270115C00150000", security_type=OPTION, quantity=Decimal(2))
    for name, position in (("equity", _position_view()), ("option", option)):
        yield (
            f"sim.account.position.{name}",
            accounts,
            sim.account_event(PositionUpdate(account_id="ACC-001", position=position), NOW),
        )
    yield (
        "sim.account.balance",
        accounts,
        sim.account_event(BalanceUpdate(account_id="ACC-001", balance=_balance_view()), NOW),
    )
    yield "sim.account.info", accounts, sim.account_info_event(_account_info(), NOW)
    yield "sim.pnl.candle", accounts, sim.pnl_candle("ACC-001", "1m", candle, NOW)
    yield "sim.pnl.snapshot", accounts, sim.pnl_snapshot("ACC-001", "5m", (candle, candle), NOW)
    for kind in (WATCHLIST_ADD, WATCHLIST_UPDATE, WATCHLIST_REMOVE):
        change = WatchlistChange(
            kind=kind, user="u-1", watchlist_id="wl-1", name="Tech", symbol="NVDA", position=3
        )
        yield f"sim.{kind}", accounts, sim.watchlist_event(change, NOW)
    news = NewsItem(
        id="n-1",
        headline="Apple beats estimates",
        summary="Quarterly results …",
        symbols=("AAPL",),
        topics=("earnings",),
        source="Newswire",
        url="https://example.invalid/n-1",
        published_at=NOW,
    )
    yield "sim.news", accounts, sim.news_event(news, NOW)
    everything = frozenset({"*"})
    yield "sim.marketStatus", market, sim.market_status(NOW)
    yield "sim.market_subscribed", market, sim.market_subscribed("m-1", ("AAPL", "MSFT"))
    yield "sim.market_unsubscribed", market, sim.market_unsubscribed("m-2", ("AAPL",))
    for name, built in (
        ("quote", sim.quote_event(quote, NOW, everything)),
        ("quote.partial", sim.quote_event(quote, NOW, frozenset({"bidPrice"}))),
        ("trade", sim.trade_event(trade, NOW, everything)),
        ("trade.partial", sim.trade_event(trade, NOW, frozenset({"totalVolume"}))),
        ("timeAndSales", sim.time_and_sales_event(trade, NOW, everything)),
        (
            "greeks",
            sim.greeks_event(
                "AAPL270115C00150000",
                {"delta": "0.52", "gamma": "0.04", "theta": "-0.11", "vega": "0.09"},
                NOW,
                everything,
            ),
        ),
    ):
        assert built is not None
        yield f"sim.{name}", market, built
    yield (
        "sim.level2",
        market,
        sim.level2_event(
            "MSFT", ["200:410.10:0", "0:410.05:300"], ["NSDQ:410.10:200:410.05:300"], NOW
        ),
    )
    yield "sim.chart_subscribed", charts, sim.chart_subscribed("c-1", "AAPL", NOW)
    yield "sim.chart_unsubscribed", charts, sim.chart_unsubscribed("c-2", "AAPL", NOW)
    yield "sim.chart", charts, sim.chart_event(quote, summary, trade, NOW)
    yield "sim.chart.quote_only", charts, sim.chart_event(quote, summary, None, NOW)


#: The samples of ``tests.aries.samples`` the venue sends, and the socket each belongs to.
_SAMPLES: tuple[tuple[str, Endpoint, Json], ...] = tuple(
    (name, endpoint, message)
    for endpoint, names in (
        (
            Endpoint.ACCOUNTS,
            (
                "AUTH_SUCCESS",
                "AUTH_REQUIRED",
                "ERROR",
                "ERROR_EVENT",
                "PONG",
                "REFRESH_AUTH",
                "AUTH_EXPIRED",
                "SUBSCRIBED_SNAPSHOT",
                "SUBSCRIBED_PNL",
                "UNSUBSCRIBED",
                "ORDER_STOCK",
                "ORDER_MULTI_LEG",
                "POSITION",
                "BALANCE",
                "ACCOUNT_INFO",
                "PNL_CANDLE",
                "PNL_HISTORY",
                "WATCHLIST_ADD",
                "NEWS",
                # client → server messages: what an echoing or confused venue might send back
                "AUTH_REQUEST",
                "SUBSCRIBE_ACCOUNT",
                "UNSUBSCRIBE_ACCOUNT",
                "PING",
            ),
        ),
        (
            Endpoint.MARKET,
            (
                "AUTH_SUCCESS_MARKET",
                "AUTH_FAILED_MARKET",
                "MARKET_SUBSCRIBED",
                "MARKET_STATUS",
                "QUOTE",
                "TRADE",
                "LEVEL2",
                "LEVEL2_FULL",
                "TIME_AND_SALES",
                "GREEKS",
                "MARKET_RESPONSE",
                "SUBSCRIBE_MARKET",
                "UNSUBSCRIBE_MARKET",
            ),
        ),
        (Endpoint.CHARTS, ("CHART_EVENT", "PONG")),
    )
    for name in names
    for message in (getattr(samples, name),)
)


def _catalogue() -> tuple[Canonical, ...]:
    entries = [
        Canonical(f"sample.{name}", endpoint, dumps(message))
        for name, endpoint, message in _SAMPLES
    ]
    entries += [
        Canonical(name, endpoint, dumps(message)) for name, endpoint, message in _sim_catalogue()
    ]
    return tuple(entries)


#: Every canonical message, samples first.
CANONICAL: tuple[Canonical, ...] = _catalogue()
#: ``CANONICAL`` by socket.
BY_ENDPOINT: Mapping[Endpoint, tuple[Canonical, ...]] = {
    endpoint: tuple(entry for entry in CANONICAL if entry.endpoint is endpoint)
    for endpoint in Endpoint
}
ENDPOINTS: tuple[Endpoint, ...] = (Endpoint.ACCOUNTS, Endpoint.MARKET, Endpoint.CHARTS)


# --- vocabulary ---------------------------------------------------------------------------------


def _protocol_words() -> tuple[str, ...]:
    """Every short string the protocol tables name (types, actions, keys, aliases, enums)."""
    words: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            if 0 < len(value) <= 40:
                words.add(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, tuple | frozenset | set | list):
            for item in value:
                walk(item)
        elif hasattr(value, "value") and isinstance(value.value, str):
            words.add(value.value)

    for name in dir(protocol):
        if name.isupper():
            walk(getattr(protocol, name))
    return tuple(sorted(words))


def _message_words() -> tuple[str, ...]:
    """Every key and short string value of the canonical messages."""
    words: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                words.add(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and 0 < len(value) <= 40:
            words.add(value)

    for entry in CANONICAL:
        walk(entry.message())
    return tuple(sorted(words))


#: Words the decoder may look at: message types, actions, topics, field names, enum values.
WORDS: tuple[str, ...] = tuple(sorted(set(_protocol_words()) | set(_message_words())))
#: The message types and actions in particular (type confusion: a quote's data as an order).
TYPE_WORDS: tuple[str, ...] = tuple(
    sorted(
        {
            *protocol.ACCOUNT_EVENT_TYPES,
            *protocol.QUOTE_EVENT_TYPES,
            *protocol.TRADE_EVENT_TYPES,
            *protocol.LEVEL2_EVENT_TYPES,
            *protocol.TIME_AND_SALES_EVENT_TYPES,
            *protocol.GREEKS_EVENT_TYPES,
            *protocol.PNL_EVENT_TYPES,
            *protocol.WATCHLIST_EVENT_TYPES,
            *protocol.NEWS_EVENT_TYPES,
            *protocol.AUTH_SUCCESS_ACTIONS,
            *protocol.AUTH_REQUIRED_ACTIONS,
            *protocol.REFRESH_WARNING_ACTIONS,
            *protocol.AUTH_EXPIRED_ACTIONS,
            *protocol.SUBSCRIBE_ACK_ACTIONS,
            *protocol.UNSUBSCRIBE_ACK_ACTIONS,
            protocol.EVENT_MARKET_STATUS,
            protocol.SNAPSHOT_ACTION,
            protocol.ERROR_ACTION,
            protocol.TYPE_ERROR,
            protocol.TYPE_PONG,
            protocol.TYPE_PING,
            protocol.TYPE_REQUEST,
            protocol.TYPE_RESPONSE,
            protocol.TYPE_SUBSCRIBE,
            protocol.TYPE_SUBSCRIBED,
            protocol.TYPE_UNSUBSCRIBE,
            protocol.TYPE_UNSUBSCRIBED,
            "event",
            "update",
            "account",
            "pnl",
            "watchlist",
            "news",
        }
    )
)

#: Characters of generated text: ASCII, JSON's special characters, controls, non-ASCII letters,
#: an astral character, line/paragraph separators, a BOM (no surrogates: text must encode).
ALPHABET = (
    "a",
    "Z",
    "0",
    "9",
    " ",
    ".",
    "-",
    "+",
    "e",
    ":",
    '"',
    "\\",
    "/",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x1f",
    "\x7f",
    "é",
    "ß",
    "Ω",
    "中",
    "١",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\U0001f4b0",
)


def random_text(c: Chooser, max_len: int = 24) -> str:
    """Up to ``max_len`` characters of ``ALPHABET``."""
    return "".join(pick(c, ALPHABET) for _ in range(c.below(max_len + 1)))


# --- nasty values -------------------------------------------------------------------------------

#: Marks a raw JSON fragment in a message tree: replaced by the fragment after ``json.dumps``.
_RAW_MARK = "@@raw{}@@"

_NUMBER_STRINGS = (
    "0",
    "-1",
    "-0",
    "NaN",
    "nan",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "+inf",
    "1e400",
    "-1e400",
    "1e-400",
    "1E+16",
    "9999999999999999",
    "-9999999999999999.99",
    "1e15",
    "0.000000000000000001",
    "0.0000000000000000001",
    "9" * 40,
    "9" * 41,
    "1" * 19,
    "0." + "0" * 37 + "1",
    "1_000",
    " 1",
    "1 ",
    "+1",
    "0x1A",
    "1e",
    ".",
    "1.2.3",
    "١٢٣",
    "１２",
    "12abc",
    "true",
    "null",
    "[]",
)
_TIME_STRINGS = (
    "2026-01-15T14:30:00",
    "2026-01-15",
    "2026-02-30T00:00:00Z",
    "2026-13-45T25:61:61Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999+14:00",
    "2026-01-15T14:30:00+25:00",
    "2026-01-15T14:30:00.123456789Z",
    "-1",
    "99999999999999999999",
    "7258118400000",
    "1768487100000",
    "2026-01-15T14:30:00Z" + "0" * 60,
    "Thu, 15 Jan 2026 14:30:00 GMT",
)
_SCALARS: tuple[object, ...] = (
    None,
    "",
    0,
    True,
    False,
    -1,
    1.5,
    -0.0,
    10**15,
    10**16,
    10**18,
    10**19,
    -(10**19),
    2**64,
    10**300,
    1e308,
    5e-324,
    float("nan"),
    float("inf"),
    float("-inf"),
    [],
    {},
    [None],
    {"": None},
    "x",
    " ",
    "\x00",
    "\u2028",
    "\ud800",  # a lone surrogate: json.dumps escapes it, the decoder meets it parsed
)
_RAW_FRAGMENTS = (
    "NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "1E400",
    "-1e-400",
    "1e99999999999999999999",  # an exponent past what Decimal can hold
    "-2.5E-123456789012345678901",
    "1" + "0" * 4400,  # more digits than int() converts
    "0." + "0" * 400 + "1",
    "1" * 500,
    "tru",
    "nul",
    "'x'",
    "0777",
    "[1,]",
    "{,}",
)


@attrs.define
class _Context:
    """What one message's mutations carry to serialization."""

    raws: list[str] = attrs.Factory(list)
    grown: bool = False

    def raw(self, fragment: str) -> str:
        self.raws.append(fragment)
        return _RAW_MARK.format(len(self.raws) - 1)


def _deep(c: Chooser, big: int) -> str:
    """Nested arrays or objects, a few levels to far past the parser's recursion limit."""
    depth = min(big // 5, pick(c, (2, 10, 100, 500, 990, 1000, 3000, 100_000)))
    if chance(c, 2):
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "0" + "}" * depth


def nasty_value(c: Chooser, ctx: _Context, big: int) -> object:
    """A value of the wrong type, a broken number or time, deep or huge (``big`` caps sizes)."""
    kind = c.below(10)
    if kind == 0:  # a copy: later mutations must not change the table
        return copy.deepcopy(pick(c, _SCALARS))
    if kind == 1:
        return pick(c, _NUMBER_STRINGS)
    if kind == 2:
        return pick(c, _TIME_STRINGS)
    if kind == 3:
        return pick(c, WORDS)
    if kind == 4:
        return random_text(c)
    if kind == 5:  # a number of random magnitude, as a string or a JSON number
        mantissa = between(c, -(10**6), 10**6)
        exponent = between(c, -30, 30)
        if chance(c, 2):
            return f"{mantissa}e{exponent}"
        return ctx.raw(f"{mantissa}e{exponent}")
    if kind == 6:
        return ctx.raw(pick(c, _RAW_FRAGMENTS))
    if kind == 7:
        return ctx.raw(_deep(c, big))
    if kind == 8:  # long strings: a long word, a long number, a long id
        size = min(big, pick(c, (41, 65, 121, 300, 1000, 5000)))
        return pick(c, ("x", "9", "é", "\U0001f4b0", "\\")) * size
    return (
        [nasty_value(c, ctx, big)] if chance(c, 2) else {pick(c, WORDS): nasty_value(c, ctx, big)}
    )


# --- tree mutations -----------------------------------------------------------------------------

Slot = tuple[dict[str, Any] | list[Any], Any]


def _random_slot(c: Chooser, root: object) -> Slot | None:
    """A (container, key) of the tree, found by a random walk from the root: at each level it
    stops one time in three (so whole sub-objects get replaced too), else goes one level down."""
    node = root
    slot: Slot | None = None
    while isinstance(node, dict | list) and node:
        key: Any = pick(c, list(node)) if isinstance(node, dict) else c.below(len(node))
        slot = (node, key)
        child = node[key]
        if not isinstance(child, dict | list) or not child or chance(c, 3):
            break
        node = child
    return slot


def _random_container(c: Chooser, root: dict[str, Any] | list[Any]) -> dict[str, Any] | list[Any]:
    """An object or array of the tree, by the same kind of random walk."""
    node = root
    while True:
        values = node.values() if isinstance(node, dict) else node
        children = [value for value in values if isinstance(value, dict | list)]
        if not children or chance(c, 3):
            return node
        node = pick(c, children)


def _tweak_number(text: str, c: Chooser) -> str:
    """A decimal string made absurd: negative, scaled, padded, suffixed."""
    op = c.below(8)
    if op == 0:
        return "-" + text
    if op == 1:
        return f"{text}e{between(c, -40, 40)}"
    if op == 2:
        return text + "0" * between(c, 1, 45)
    if op == 3:
        return "0" * between(c, 1, 45) + text
    if op == 4:
        return text + "." + "9" * between(c, 1, 40)
    if op == 5:
        return text.replace(".", ",")
    if op == 6:
        return text + "\u00a0"
    return text * 3


def mutate_tree(root: Json, c: Chooser, ctx: _Context, big: int) -> Json:
    """Apply one structural mutation to ``root`` (in place; a new root when it is replaced)."""
    op = c.below(11)
    slot = _random_slot(c, root)
    if op == 0 or slot is None:  # the whole message is something else
        return (
            {"type": nasty_value(c, ctx, big)}
            if chance(c, 2)
            else {pick(c, WORDS): nasty_value(c, ctx, big)}
        )
    parent, key = slot
    if op == 1:  # wrong type / broken value
        parent[key] = nasty_value(c, ctx, big)
    elif op == 2:  # missing field
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
    elif op == 3:  # unknown or misplaced field
        target = _random_container(c, root)
        value = nasty_value(c, ctx, big) if chance(c, 2) else pick(c, WORDS)
        if isinstance(target, dict):
            target[pick(c, WORDS) if chance(c, 4) else random_text(c, 8)] = value
        else:
            target.insert(c.below(len(target) + 1), value)
    elif op == 4:  # type confusion: another message type, action or topic
        word = pick(c, TYPE_WORDS) if not chance(c, 4) else random_text(c, 12)
        place = pick(c, (("type",), ("payload", "type"), ("payload", "action"), ("topic",)))
        node: Any = root
        for step in place[:-1]:
            node = node.get(step) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[place[-1]] = word
        else:
            parent[key] = word
    elif op == 5:  # an extra level of nesting
        parent[key] = [parent[key]] if chance(c, 2) else {"data": parent[key]}
    elif op == 6 and not ctx.grown:  # a long array: one element repeated (once per message)
        ctx.grown = True
        value = parent[key]
        count = pick(c, (2, 10, 100, 1000))
        try:  # at most about ``big`` characters in all
            count = min(count, max(2, big // max(1, len(dumps(value)))))
        except ValueError:
            count = 2
        if isinstance(value, list) and value:
            parent[key] = value * max(1, count // len(value))
        else:
            parent[key] = [value] * count
    elif op == 7:  # an absurd number in a numeric field
        value = parent[key]
        if isinstance(value, str) and value:
            parent[key] = _tweak_number(value, c)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = pick(c, (-value, value * 10**20, -(10**40), str(value), [value]))
        else:
            parent[key] = pick(c, _NUMBER_STRINGS)
    elif op == 8:  # two values swapped (copies: a container never ends up inside itself)
        other = _random_slot(c, root)
        assert other is not None
        other_parent, other_key = other
        mine, theirs = copy.deepcopy(parent[key]), copy.deepcopy(other_parent[other_key])
        parent[key] = theirs
        with contextlib.suppress(IndexError):  # the other slot was inside the replaced value
            other_parent[other_key] = mine
    elif op == 9:  # a key or an enum in another case
        value = parent[key]
        if isinstance(parent, dict) and isinstance(key, str):
            parent[pick(c, (key.upper(), key.lower(), key.capitalize(), key + " "))] = parent.pop(
                key
            )
        elif isinstance(value, str):
            parent[key] = pick(c, (value.lower(), value.title(), value.upper(), " " + value))
    else:  # null
        parent[key] = None
    return root


def serialize(message: object, c: Chooser, ctx: _Context) -> str:
    """JSON text of a (mutated) message: compact or spaced, ASCII-escaped or not, raw fragments
    in place, sometimes pretty-printed over several lines."""
    style = c.below(64)
    try:
        if style == 5:
            text = json.dumps(message, indent=1)  # several lines: each one is a bad message
        elif style == 6:
            text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        elif style == 7:
            text = json.dumps(message, sort_keys=False, separators=(", ", ": "))
        else:
            text = dumps(message)
    except (ValueError, RecursionError):
        # A value json.dumps refuses (an int too long to print): say so in text instead.
        text = dumps({"type": "event", "unprintable": True})
    for index, fragment in enumerate(ctx.raws):
        text = text.replace(f'"{_RAW_MARK.format(index)}"', fragment, 1)
    return text


# --- text and byte mutations --------------------------------------------------------------------

_INSERTS = (
    "{",
    "}",
    "[",
    "]",
    '"',
    ",",
    ":",
    "\\",
    "\x00",
    "\n",
    " ",
    "é",
    "\u2028",
    "\ufeff",
    "\\u",
    "\\ud800",
)


def mutate_text(text: str, c: Chooser) -> str:
    """Break a JSON text: truncate it, cut or repeat a slice, insert a character, prefix a BOM."""
    op = c.below(7)
    at = c.below(len(text) + 1)
    if op == 0:
        return text[:at]
    if op == 1:
        return text[:at] + text[at + between(c, 1, 20) :]
    if op == 2:
        return text[:at] + pick(c, _INSERTS) + text[at:]
    if op == 3:
        return text[:at] + text[at : at + between(c, 1, 40)] * between(c, 2, 5) + text[at:]
    if op == 4:
        return "\ufeff" + text
    if op == 5:
        return text + pick(c, (" x", "}", "]", ",", "\x00", "{}"))
    return random_text(c, 60)


_BAD_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\x80",
    b"\xc3",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xe2\x82",
)


def break_utf8(data: bytes, c: Chooser) -> bytes:
    """Insert an invalid UTF-8 sequence, or cut the data inside a multi-byte character."""
    if chance(c, 4):
        cut = data.find("é".encode()) if chance(c, 2) else -1
        if cut >= 0:
            return data[: cut + 1] + data[cut + 2 :]
    at = c.below(len(data) + 1)
    return data[:at] + pick(c, _BAD_UTF8) + data[at:]


# --- frames -------------------------------------------------------------------------------------


@attrs.frozen
class Frame:
    """One WebSocket frame for ``endpoint``; ``data`` is text or (for invalid UTF-8) bytes."""

    endpoint: Endpoint
    data: str | bytes

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 300 else self.data[:300]
        more = "" if len(self.data) <= 300 else f" (+{len(self.data) - 300} more)"
        return f"Frame({self.endpoint.value}, {shown!r}{more})"


def canonical_line(c: Chooser, endpoint: Endpoint) -> str:
    """The text of a canonical message, mostly of ``endpoint`` (sometimes of another socket)."""
    pool = BY_ENDPOINT[endpoint] if not chance(c, 6) else CANONICAL
    return pick(c, pool).text


def mutated_line(c: Chooser, endpoint: Endpoint, big: int) -> str:
    """A canonical message broken by 1-4 tree mutations and sometimes a text mutation."""
    pool = BY_ENDPOINT[endpoint] if not chance(c, 6) else CANONICAL
    message: Json = pick(c, pool).message() if not chance(c, 5) else valid_message(c, endpoint)
    ctx = _Context()
    for _ in range(between(c, 1, 4) if not chance(c, 8) else 0):
        message = mutate_tree(message, c, ctx, big)
    text = serialize(message, c, ctx)
    if chance(c, 4):
        text = mutate_text(text, c)
    return text


def _enormous_line(c: Chooser, endpoint: Endpoint, big: int) -> str:
    """A canonical message with one enormous field (a long string or a long array)."""
    message = pick(c, BY_ENDPOINT[endpoint]).message()
    slot = _random_slot(c, message)
    if slot is None:  # pragma: no cover - every canonical message has fields
        return dumps(message)
    parent, key = slot
    if chance(c, 2):
        parent[key] = pick(c, ("x", "9", "é", "\\")) * big
    else:
        parent[key] = [parent[key]] * max(1, big // max(1, len(dumps(parent[key]))))
    return dumps(message)


_LINE_KINDS: Weighted[str] = Weighted(
    (5, "canonical"), (4, "valid"), (20, "mutated"), (2, "garbage"), (2, "blank"), (4, "absurd")
)
_SEPARATORS = ("\n", "\r\n", "\n\n", "\n \t\n", "\n\u3000\n")


def fuzz_frame(c: Chooser, endpoint: Endpoint | None = None, *, big: int = 100_000) -> Frame:
    """A frame of 1-5 lines (rarely up to a thousand) mixing canonical, valid, mutated, garbage,
    blank and absurd-account-event lines; sometimes enormous; as bytes (then sometimes with
    invalid UTF-8) one time in four. ``big`` is about the size of the largest string or array
    it builds."""
    if endpoint is None:
        endpoint = pick(c, ENDPOINTS)
    count = between(c, 1, 5)
    lines: list[str] = []
    for _ in range(count):
        kind = _LINE_KINDS.choose(c)
        if kind == "canonical":
            lines.append(canonical_line(c, endpoint))
        elif kind == "valid":
            lines.append(dumps(valid_message(c, endpoint)))
        elif kind == "mutated":
            lines.append(mutated_line(c, endpoint, big))
        elif kind == "garbage":
            lines.append(random_text(c, 80))
        elif kind == "absurd":  # an account event with absurd numbers, on any socket
            lines.append(dumps(book_message(c)))
        else:
            lines.append(pick(c, ("", " ", "\t", "\r", "\u3000")))
    if chance(c, 500):  # many lines: the same ones over and over
        size = sum(len(line) for line in lines) + len(lines)
        lines *= min(pick(c, (10, 100, 1000)) // len(lines) + 1, max(1, 2 * big // size))
    if chance(c, 40):
        lines[c.below(len(lines))] = _enormous_line(c, endpoint, big)
    separators = [pick(c, _SEPARATORS) for _ in range(min(len(lines) - 1, 8))]
    parts = [lines[0]]
    for index, line in enumerate(lines[1:]):
        parts += (separators[index % len(separators)], line)
    text = "".join(parts)
    if chance(c, 4):
        text += "\n"
    if not chance(c, 4):
        return Frame(endpoint, text)
    data = text.encode("utf-8", "surrogatepass")
    if chance(c, 2):
        data = break_utf8(data, c)
    return Frame(endpoint, data)


# --- valid messages -----------------------------------------------------------------------------


def _decimal(c: Chooser, *, places: int = 2, high: int = 10**7) -> Decimal:
    return Decimal(c.below(high * 10**places)).scaleb(-places)


def _moment(c: Chooser) -> datetime:
    return NOW + timedelta(milliseconds=c.below(10**10)) - timedelta(days=30)


def _word(c: Chooser, max_len: int = 16) -> str:
    """Printable text that JSON and UTF-8 carry unchanged (may be empty)."""
    text = "".join(pick(c, ALPHABET) for _ in range(c.below(max_len + 1)))
    return text


def _ident(c: Chooser, prefix: str) -> str:
    return f"{prefix}-{c.below(10**6)}"


def _random_order(c: Chooser, account_id: str) -> OrderView:
    order_type = pick(c, tuple(OrderType))
    qty = Decimal(between(c, 1, 10**6)) if not chance(c, 4) else _decimal(c, places=4, high=10**3)
    cum = min(qty, Decimal(c.below(int(qty) + 1)))
    return _order_view(
        account_id=account_id,
        cl_ord_id=_ident(c, "CL"),
        status=pick(c, tuple(OrdStatus)),
        order_type=order_type,
        side=pick(c, tuple(Side)),
        qty=qty,
        cum_qty=cum,
        price=_decimal(c) if order_type.needs_price else None,
        stop_price=_decimal(c) if order_type.needs_stop_price else None,
        avg_price=_decimal(c, places=4) if cum else None,
        symbol=pick(c, SYMBOLS),
        time_in_force=pick(c, ("DAY", "GTC", "IOC", "FOK", "GTD", "OPG", "CLO")),
        text=_word(c),
        rej_reason=_word(c),
        trail_offset=_decimal(c) if order_type is OrderType.TRAILING_STOP else None,
        moment=_moment(c),
    )


def valid_message(c: Chooser, endpoint: Endpoint | None = None) -> Json:
    """A message the venue could send on ``endpoint`` (any socket if ``None``), built by the
    simulator's builders from random sane values: it must decode without error."""
    if endpoint is None:
        endpoint = pick(c, ENDPOINTS)
    now = _moment(c)
    account_id = pick(c, ACCOUNTS)
    symbol = pick(c, SYMBOLS)
    request_id = _ident(c, "r")
    kind = c.below(8)
    if kind == 0:  # session messages, on every socket
        session = c.below(5)
        if session == 0:
            return sim.pong(request_id, now)
        if session == 1:
            return sim.auth_success(request_id, now, between(c, 1, 10**8))
        if session == 2:
            return sim.refresh_auth(now, between(c, 0, 10**6), sim.epoch_ms(now))
        if session == 3:
            return sim.auth_expired(now)
        code = pick(c, ("ACCESS_DENIED", "UNKNOWN_TOPIC"))
        return sim.error(code, _word(c), request_id, now)
    if endpoint is Endpoint.ACCOUNTS:
        return _valid_account_message(c, account_id, symbol, request_id, now)
    if endpoint is Endpoint.MARKET:
        return _valid_market_message(c, symbol, request_id, now)
    quote = Quote(
        symbol=symbol,
        bid=_decimal(c),
        ask=_decimal(c),
        bid_size=c.below(10**6),
        ask_size=c.below(10**6),
    )
    if chance(c, 5):
        return sim.chart_subscribed(request_id, symbol, now)
    summary = SymbolSummary(
        symbol=symbol,
        open=_decimal(c),
        high=_decimal(c),
        low=_decimal(c),
        prev_close=_decimal(c) if not chance(c, 10) else Decimal(0),
        last=_decimal(c),
        volume=c.below(10**9),
    )
    trade = None
    if chance(c, 2):
        trade = Trade(
            symbol=symbol,
            price=_decimal(c),
            size=between(c, 1, 10**5),
            total_volume=c.below(10**9),
            exchange="NSDQ",
            seq=c.below(10**9),
        )
    return sim.chart_event(quote, summary, trade, now)


def _valid_account_message(
    c: Chooser, account_id: str, symbol: str, request_id: str, now: datetime
) -> Json:
    kind = c.below(10)
    if kind <= 2:
        order = _random_order(c, account_id)
        last_qty = last_px = None
        if order.cum_qty and chance(c, 2):
            last_qty, last_px = order.cum_qty, _decimal(c)
        return sim.account_event(
            OrderUpdate(account_id=account_id, order=order, last_qty=last_qty, last_px=last_px), now
        )
    if kind == 3:
        option = chance(c, 4)
        position = _position_view(
            account_id=account_id,
            symbol="AAPL270115C00150000" if option else symbol,
            quantity=Decimal(between(c, -(10**5), 10**5)),
            avg_price=_decimal(c, places=4),
            mark=_decimal(c),
            security_type=OPTION if option else EQUITY,
            moment=now,
        )
        return sim.account_event(PositionUpdate(account_id=account_id, position=position), now)
    if kind == 4:
        balance = _balance_view(account_id=account_id, cash=_decimal(c, high=10**9))
        return sim.account_event(BalanceUpdate(account_id=account_id, balance=balance), now)
    if kind == 5:
        return sim.account_info_event(_account_info(account_id), now)
    if kind == 6:
        orders = tuple(_random_order(c, account_id) for _ in range(c.below(4)))
        return _snapshot(account_id, orders, now)
    if kind == 7:
        candles = [
            Candle(
                t=1768487400 + 60 * i,
                open=_decimal(c),
                high=_decimal(c),
                low=_decimal(c),
                close=_decimal(c),
            )
            for i in range(between(c, 1, 4))
        ]
        interval = pick(c, protocol.PNL_INTERVALS)
        if chance(c, 2):
            return sim.pnl_snapshot(account_id, interval, candles, now)
        return sim.pnl_candle(account_id, interval, candles[0], now)
    if kind == 8:
        change = WatchlistChange(
            kind=pick(c, (WATCHLIST_ADD, WATCHLIST_UPDATE, WATCHLIST_REMOVE)),
            user="u-1",
            watchlist_id=_ident(c, "wl"),
            name=_word(c) or "list",
            symbol=symbol if not chance(c, 5) else None,
            position=c.below(100) if not chance(c, 5) else None,
        )
        return sim.watchlist_event(change, now)
    news = NewsItem(
        id=_ident(c, "n"),
        headline=_word(c, 40) or "headline",
        summary=_word(c, 40),
        symbols=tuple(pick(c, SYMBOLS) for _ in range(c.below(3))),
        topics=tuple(pick(c, ("earnings", "m&a", "macro")) for _ in range(c.below(3))),
        source=_word(c),
        url="https://example.invalid/" + request_id,
        published_at=now,
    )
    return sim.news_event(news, now)


def _valid_market_message(c: Chooser, symbol: str, request_id: str, now: datetime) -> Json:
    kind = c.below(8)
    everything = frozenset({"*"})
    fields = (
        everything
        if not chance(c, 3)
        else frozenset({pick(c, ("bidPrice", "askSize", "size", "totalVolume", "tradeSeq"))})
    )
    trade = Trade(
        symbol=symbol,
        price=_decimal(c) + Decimal("0.01"),
        size=between(c, 1, 10**5),
        total_volume=c.below(10**9),
        exchange=pick(c, ("NSDQ", "ARCA", "")),
        seq=c.below(10**9),
    )
    built: Json | None = None
    if kind == 0:
        quote = Quote(
            symbol=symbol,
            bid=_decimal(c),
            ask=_decimal(c),
            bid_size=c.below(10**6),
            ask_size=c.below(10**6),
        )
        built = sim.quote_event(quote, now, fields)
    elif kind == 1:
        # Sometimes a partial update without a price: valid on the wire, but a normalize error
        # for a symbol no trade priced yet (MarketNormalizer.trade).
        built = sim.trade_event(trade, now, everything if not chance(c, 4) else fields)
    elif kind == 2:
        built = sim.time_and_sales_event(trade, now, everything)
    elif kind == 3:
        rows = [f"{c.below(1000)}:{_decimal(c)}:{c.below(1000)}" for _ in range(c.below(5))]
        venues = [
            f"{pick(c, ('NSDQ', 'ARCA'))}:{_decimal(c)}:{c.below(999)}:{_decimal(c)}:{c.below(999)}"
            for _ in range(c.below(3))
        ]
        built = sim.level2_event(symbol, rows, venues, now)
    elif kind == 4:
        greeks = {
            name: str(_decimal(c, places=4, high=10))
            for name in ("delta", "gamma", "theta", "vega", "rho")
        }
        built = sim.greeks_event("AAPL270115C00150000", greeks, now, everything)
    elif kind == 5:
        built = sim.market_status(
            now, {"market": pick(c, ("open", "closed")), "afterHours": chance(c, 2)}
        )
    elif kind == 6:
        built = sim.market_subscribed(request_id, [pick(c, SYMBOLS) for _ in range(c.below(4))])
    else:
        built = sim.market_unsubscribed(request_id, [symbol])
    if built is None:  # no subscribed field applied: an ordinary quote instead
        built = sim.trade_event(trade, now, everything)
    assert built is not None
    return built


# --- absurd account events for the book ---------------------------------------------------------

_ABSURD = (
    "0",
    "-1",
    "-0",
    "1",
    "100",
    "0.000000000000000001",
    "-0.000000000000000001",
    "1.000000000000000001",
    "9999999999999999",
    "-9999999999999999",
    "1e15",
    "9.999999999999999999999999999999999999e15",
    "123456789012345678901234567890123456.78",
    "1e-18",
    "",
)


def absurd_decimal(c: Chooser) -> str:
    """A decimal string the decoder accepts but no sane order carries (or ``""``: unset)."""
    if chance(c, 2):
        return pick(c, _ABSURD)
    mantissa = between(c, -(10**12), 10**12)
    exponent = between(c, -18, 3)
    return str(Decimal(mantissa).scaleb(exponent))


def book_message(c: Chooser) -> Json:
    """An account event or snapshot for one of ``ACCOUNTS`` whose numbers are absurd: negative,
    zero, tiny, huge, ``cumQty > qty``, ``leavesQty < 0``, prices of 0 or 10**15 …; the ids
    repeat across calls so a sequence updates the same few orders."""
    account_id = pick(c, ACCOUNTS)
    kind = c.below(6)
    if kind <= 2:
        data: Json = {
            "clOrdId": f"CL-{c.below(3)}",
            "ordId": f"ord-{c.below(3)}",
            "accountId": account_id,
            "clientId": pick(c, ("", "c-1", "c-2")),
            "symbol": pick(c, SYMBOLS),
            "side": pick(c, [side.value for side in Side]),
            "type": pick(c, [order_type.value for order_type in OrderType]),
            "timeInForce": "DAY",
            "qty": absurd_decimal(c) or "100",
            "price": absurd_decimal(c),
            "stopPrice": absurd_decimal(c),
            "ordStatus": pick(c, [status.value for status in OrdStatus]),
            "cumQty": absurd_decimal(c),
            "leavesQty": absurd_decimal(c),
            "avgPrice": absurd_decimal(c),
            "securityType": "EQUITY",
            "legs": [],
            "createdAt": "2026-01-15T14:30:00Z",
            "updatedAt": sim.rfc3339(NOW + timedelta(seconds=c.below(100) - 50)),
        }
        if chance(c, 2):
            data["lastQty"] = absurd_decimal(c)
            data["lastPx"] = absurd_decimal(c)
        if kind == 2:  # in a snapshot, with the other orders of the same ids
            orders = [data, *(book_message_order(c, account_id) for _ in range(c.below(3)))]
            message = _snapshot(account_id, ())
            message["payload"]["ordersV2"] = orders
            return message
        return samples.account_event("account.order", account_id, data, sim.rfc3339(NOW))
    if kind == 3:
        position = {
            "accountId": account_id,
            "symbol": pick(c, SYMBOLS),
            "quantity": absurd_decimal(c) or "0",
            "avgPrice": absurd_decimal(c),
            "todayRealizedPnL": absurd_decimal(c),
            "unrealizedPl": absurd_decimal(c),
            "marketValue": absurd_decimal(c),
        }
        return samples.account_event("account.position", account_id, position, sim.rfc3339(NOW))
    if kind == 4:
        balance = dict(samples.BALANCE_DATA, accountId=account_id)
        for key in ("stockBuyingPower", "totalEquity", "netBuyingPower", "maintReq"):
            balance[key] = absurd_decimal(c)
        balance["pendingOrdersCount"] = pick(c, (0, -1, 10**17))
        return samples.account_event("account.balance", account_id, balance, sim.rfc3339(NOW))
    return copy.deepcopy(samples.ACCOUNT_INFO)


def book_message_order(c: Chooser, account_id: str) -> Json:
    """The ``data`` of one absurd order (see ``book_message``)."""
    message = book_message(c)
    while message["payload"].get("type") != "account.order":
        message = book_message(c)
    data: Json = message["payload"]["data"]
    data["accountId"] = account_id
    return data


# --- Hypothesis strategies ----------------------------------------------------------------------


@st.composite
def fuzz_frames(draw: st.DrawFn, endpoint: Endpoint | None = None, *, big: int = 100_000) -> Frame:
    """Hypothesis: ``fuzz_frame`` (shrinks towards one canonical line)."""
    return fuzz_frame(DrawChooser(draw), endpoint, big=big)


@st.composite
def valid_messages(draw: st.DrawFn, endpoint: Endpoint | None = None) -> tuple[Endpoint, Json]:
    """Hypothesis: a socket and a ``valid_message`` for it."""
    c = DrawChooser(draw)
    chosen = endpoint if endpoint is not None else pick(c, ENDPOINTS)
    return chosen, valid_message(c, chosen)


@st.composite
def book_frames(draw: st.DrawFn, max_size: int = 12) -> list[str]:
    """Hypothesis: a sequence of accounts-socket frames of ``book_message`` s (the first
    sometimes a baseline snapshot), as JSON texts."""
    c = DrawChooser(draw)
    messages = [book_message(c) for _ in range(between(c, 1, max_size))]
    if chance(c, 2):
        messages.insert(0, _snapshot(pick(c, ACCOUNTS), ()))
    return [dumps(message) for message in messages]
