"""Shared helpers of the built-in risk plugins: staleness, pricing, direction and size.

Not a plugin. Every rule that more than one plugin needs lives here once:

* **staleness**: ``stale_state`` (code ``STALE_STATE``: ``account.as_of_ns`` unknown or older
  than the plugin's ``max_state_age``) and ``stale_quote`` (code ``STALE_QUOTE``: the quote used
  to price an order is older than ``max_quote_age``);
* **pricing**: ``price_order`` gives the per-unit price an order is costed at (its limit, its
  stop, or for market orders the touch plus a buffer) and ``working_price`` the price of an order
  already working; ``multiplier`` is 100 for options and spreads (a contract is 100 shares), 1
  for equities;
* **direction and size**: ``closing_qty`` (how much of an order only closes an existing position,
  after the other working orders on its side had their share), ``open_qty`` (an order's unfilled
  quantity, for a replace its new quantity less what already filled);
* **options**: ``option_terms`` and ``instrument_symbol`` (the contract an order names, from an OSI
  symbol or its single leg);
* **figures of an account** (``working_qty``, ``exposure``, ``gross_positions``,
  ``gross_working``, ``working_requirement``): totals over every position or working order, kept
  between verdicts while the view's mappings hold the same objects (see "Figures" below);
* **config validators** for the plugins' attrs ``Config`` classes.

Money is ``Decimal`` throughout; durations in config are seconds (``float``), compared in
nanoseconds with ``now_ns``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from operator import is_
from typing import Any, TypeVar

import attrs

from engine import ConfigValueError
from engine.model import (
    AccountView,
    FrozenDict,
    Order,
    OrderIntent,
    OrderType,
    Position,
    Quote,
    RiskVerdict,
    SecurityType,
    Side,
)

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
NS_PER_SECOND = 1_000_000_000

OPTION_MULTIPLIER = Decimal(100)
"""Shares per option contract (US equity options); also applied to a spread's net price."""

DEFAULT_MAX_STATE_AGE = 65.0
"""Seconds. A quiet but healthy accounts socket is heard from at least once per ping (the
engine pings every 30-60 s and the venue answers ``pong``), so ``as_of_ns`` can be up to one
ping interval old without anything being wrong: 60 s (the longest allowed ``ping_interval``) plus
5 s for the answer. A busier account (positions marked every tick) is fresher; lower the bound
when yours is, or when ``[connection] ping_interval`` is lower."""

DEFAULT_MAX_QUOTE_AGE = 5.0
"""Seconds. A quote older than this no longer prices an order (liquid symbols tick far faster)."""

# Reason codes shared by several plugins.
STALE_STATE = "STALE_STATE"
STALE_QUOTE = "STALE_QUOTE"
NO_BALANCE = "NO_BALANCE"
NO_PRICE = "NO_PRICE"

# Enum members read on every verdict, as module constants, and the buying sides as a set: on
# Python 3.11 reading ``SecurityType.EQUITY`` costs ~100 ns and ``Side.is_buy`` ~350 ns.
EQUITY = SecurityType.EQUITY
OPTION = SecurityType.OPTION
MULTI_LEG = SecurityType.MULTI_LEG
SELL_SHORT = Side.SELL_SHORT
BUY_SIDES: frozenset[Side] = frozenset(side for side in Side if side.is_buy)
"""``side in BUY_SIDES`` is ``side.is_buy``."""

MARGIN_ACCOUNT_TYPES = frozenset({"MARGIN"})
NON_MARGIN_ACCOUNT_TYPES = frozenset({"CASH", "IRA", "ROTH_IRA", "RETIREMENT"})
"""Account types (ARIES.md account enums) that may not sell short nor sell options uncovered."""


# --- config validators ---------------------------------------------------------------------------


def positive_values(
    _instance: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Decimal]
) -> None:
    """attrs validator: every value of a ``symbol -> limit`` table is > 0."""
    for key, limit in value.items():
        if not limit > 0:
            raise ConfigValueError(
                f"{attribute.name}.{key}", f"expected a number greater than 0, got {limit}"
            )


def seconds_to_ns(seconds: float) -> int:
    """A config duration in seconds as integer nanoseconds."""
    return int(seconds * NS_PER_SECOND)


def ns_to_seconds(ns: int) -> Decimal:
    """Nanoseconds as seconds with millisecond precision, for reasons and details."""
    return Decimal(ns // 1_000_000).scaleb(-3)


# --- staleness ------------------------------------------------------------------------------------


def stale_state(account: AccountView, now_ns: int, max_age_ns: int) -> RiskVerdict | None:
    """``STALE_STATE`` when the account picture is unknown-aged or older than ``max_age_ns``."""
    if account.as_of_ns is None:
        return RiskVerdict.reject(
            STALE_STATE,
            f"account {account.account_id} state has never been confirmed by the venue "
            f"(max age {ns_to_seconds(max_age_ns)} s)",
            as_of_ns=None,
            max_state_age=ns_to_seconds(max_age_ns),
        )
    age = now_ns - account.as_of_ns
    if age > max_age_ns:
        return RiskVerdict.reject(
            STALE_STATE,
            f"account {account.account_id} state is {ns_to_seconds(age)} s old "
            f"(max {ns_to_seconds(max_age_ns)} s)",
            age=ns_to_seconds(age),
            max_state_age=ns_to_seconds(max_age_ns),
            as_of_ns=account.as_of_ns,
        )
    return None


def stale_quote(quote: Quote, now_ns: int, max_age_ns: int) -> RiskVerdict | None:
    """``STALE_QUOTE`` when ``quote`` was received more than ``max_age_ns`` ago."""
    age = now_ns - quote.ts_recv
    if age > max_age_ns:
        return RiskVerdict.reject(
            STALE_QUOTE,
            f"quote of {quote.symbol} is {ns_to_seconds(age)} s old "
            f"(max {ns_to_seconds(max_age_ns)} s)",
            symbol=quote.symbol,
            age=ns_to_seconds(age),
            max_quote_age=ns_to_seconds(max_age_ns),
        )
    return None


# --- options --------------------------------------------------------------------------------------

_OSI = re.compile(r"^([A-Z][A-Z.]{0,5})\s*(\d{6})([CP])(\d{8})$")


@attrs.frozen
class OptionTerms:
    """What an option order is on: the underlying, ``CALL``/``PUT`` and the strike (if known)."""

    underlying: str
    put_call: str | None
    strike: Decimal | None


def parse_osi(symbol: str) -> OptionTerms | None:
    """The terms an OSI symbol (``AAPL270115C00150000``) names, else ``None``."""
    match = _OSI.match(symbol)
    if match is None:
        return None
    root, _expiry, kind, strike = match.groups()
    return OptionTerms(
        underlying=root,
        put_call="CALL" if kind == "C" else "PUT",
        strike=Decimal(int(strike)).scaleb(-3),
    )


def option_terms(order: OrderIntent | Order) -> OptionTerms | None:
    """The contract a single-option order (or intent) names: from its OSI symbol, else from its
    one leg; ``None`` for equities and spreads."""
    if order.security_type is not SecurityType.OPTION:
        return None
    parsed = parse_osi(order.symbol)
    if parsed is not None:
        return parsed
    if len(order.legs) == 1:
        leg = order.legs[0]
        underlying = parse_osi(leg.symbol)
        return OptionTerms(
            underlying=underlying.underlying if underlying is not None else leg.symbol,
            put_call=_put_call(leg.put_call),
            strike=leg.strike_price,
        )
    return OptionTerms(underlying=order.symbol, put_call=None, strike=None)


def _put_call(value: str | None) -> str | None:
    if value is None:
        return None
    upper = value.upper()
    if upper in ("C", "CALL"):
        return "CALL"
    if upper in ("P", "PUT"):
        return "PUT"
    return None


def instrument_symbol(intent: OrderIntent) -> str:
    """The symbol positions and quotes of what ``intent`` trades are keyed by.

    Equities and spreads: ``intent.symbol``. A single option: its OSI symbol, given or built from
    its leg (root, expiry ``YYMMDD``, ``C``/``P``, strike × 1000 on eight digits).
    """
    if intent.security_type is not OPTION or parse_osi(intent.symbol) is not None:
        return intent.symbol
    if len(intent.legs) == 1:
        leg = intent.legs[0]
        if parse_osi(leg.symbol) is not None:
            return leg.symbol
        put_call = _put_call(leg.put_call)
        if leg.maturity is not None and put_call is not None and leg.strike_price is not None:
            millis = int(leg.strike_price * 1000)
            return f"{leg.symbol}{leg.maturity:%y%m%d}{put_call[0]}{millis:08d}"
    return intent.symbol


def multiplier(security_type: SecurityType) -> Decimal:
    """Units per quantity: 100 for options and spreads, 1 for equities."""
    return ONE if security_type is EQUITY else OPTION_MULTIPLIER


# --- direction and quantities -------------------------------------------------------------------


def open_qty(intent: OrderIntent) -> Decimal:
    """What is left to execute: ``qty``, or for a replace, ``qty`` less what already filled."""
    old = intent.replaces
    if old is None:
        return intent.qty
    return max(intent.qty - old.cum_qty, ZERO)


def working_orders(
    account: AccountView, *, excluding: Order | None = None
) -> Iterator[tuple[str, Side, Decimal, SecurityType]]:
    """``(symbol, side, unfilled qty, security type)`` of every open and in-flight order.

    ``excluding`` (the order a replace amends) is left out: its new terms replace it.
    """
    skip = None if excluding is None else excluding.cl_ord_id
    for order in account.open_orders.values():
        if order.cl_ord_id != skip:
            yield order.symbol, order.side, account.committed_qty(order), order.security_type
    for intent in account.in_flight.values():
        yield intent.symbol, intent.side, intent.qty, intent.security_type


@attrs.define(eq=False)
class _ClosingMemo:
    """The last ``closing_qty`` answer about a view whose mappings are all ``FrozenDict`` s."""

    account: AccountView | None = None
    intent: OrderIntent | None = None
    closing: Decimal = ZERO


_CLOSING_MEMO = _ClosingMemo()


def _frozen(account: AccountView) -> bool:
    """True if every mapping of ``account`` is a ``FrozenDict`` (the view cannot change)."""
    return (
        type(account.positions) is FrozenDict
        and type(account.open_orders) is FrozenDict
        and type(account.in_flight) is FrozenDict
        and type(account.replacing) is FrozenDict
    )


def closing_qty(account: AccountView, intent: OrderIntent) -> Decimal:
    """How much of ``intent`` can only close the existing position in what it trades.

    A ``SELL`` closes a long, a ``BUY``/``BUY_TO_COVER`` a short; ``SELL_SHORT`` never closes,
    nor does a spread (see ``only_reduces`` for spreads whose legs all close).
    Working orders on the same side close first (they were sent first), so two sells of a
    100-share long, 100 each, are one closing sell and one that opens a short. The rest of the
    order (``open_qty(intent) - closing_qty``) opens or increases a position.
    """
    memo = _CLOSING_MEMO
    if memo.account is account and memo.intent is intent:
        return memo.closing
    closing = _closing_qty(account, intent)
    if _frozen(account):
        memo.account, memo.intent, memo.closing = account, intent, closing
    return closing


def _closing_qty(account: AccountView, intent: OrderIntent) -> Decimal:
    if intent.side is SELL_SHORT or intent.security_type is MULTI_LEG:
        return ZERO
    key = instrument_symbol(intent)
    held = account.position_quantity(key)
    buying = intent.side in BUY_SIDES
    closable = -held if buying else held
    if closable <= 0:
        return ZERO
    if intent.replaces is None:
        totals = _working(account)
        ahead = (totals.buys if buying else totals.sells).get(key, ZERO)
    else:
        ahead = ZERO
        for order_symbol, side, qty, _type in working_orders(account, excluding=intent.replaces):
            if order_symbol == key and (side in BUY_SIDES) == buying:
                ahead += qty
    return min(open_qty(intent), max(closable - ahead, ZERO))


def leg_opens(position_effect: str | None) -> bool:
    """True unless a leg's ``positionEffect`` says ``CLOSE`` (or ``C``): unknown counts as open."""
    return (position_effect or "OPEN").upper() not in ("CLOSE", "C")


def only_reduces(account: AccountView, intent: OrderIntent) -> bool:
    """True if all of ``intent`` closes an existing position (see ``closing_qty``); a spread
    only when every leg says ``CLOSE``."""
    if intent.security_type is MULTI_LEG:
        return bool(intent.legs) and not any(leg_opens(leg.position_effect) for leg in intent.legs)
    remaining = open_qty(intent)
    return remaining > 0 and closing_qty(account, intent) >= remaining


# --- pricing --------------------------------------------------------------------------------------


@attrs.frozen
class Priced:
    """The per-unit price an order is costed at, where it came from, and its unit multiplier.

    ``source`` is ``limit`` (its limit price), ``stop`` (its stop price plus the buffer) or
    ``quote`` (the touch plus the buffer, for market and trailing-stop orders).
    """

    price: Decimal
    source: str
    multiplier: Decimal

    def notional(self, qty: Decimal) -> Decimal:
        """``qty × price × multiplier``."""
        return qty * self.price * self.multiplier


@attrs.define(eq=False)
class _PriceMemo:
    """The last ``price_order`` answer and what it depended on (several plugins price the same
    order in one verdict)."""

    intent: OrderIntent | None = None
    buffer_pct: Decimal = ZERO
    max_quote_age_ns: int = 0
    now_ns: int = 0
    symbol: str | None = None
    """The instrument whose quote priced it (``None``: no quote was looked at)."""
    quote: Quote | None = None
    result: Priced | RiskVerdict | None = None


_PRICE_MEMO = _PriceMemo()
_LIMIT_TYPES = (OrderType.LIMIT, OrderType.STOP_LIMIT)


def price_order(
    intent: OrderIntent,
    quotes: Mapping[str, Quote],
    now_ns: int,
    *,
    buffer_pct: Decimal,
    max_quote_age_ns: int,
) -> Priced | RiskVerdict:
    """The price ``intent`` is costed at, or a rejection saying why it cannot be priced.

    * ``LIMIT``/``STOP_LIMIT``: the limit price (a spread's net price);
    * ``STOP``: the stop price raised by ``buffer_pct`` (it trades at market once triggered);
    * ``MARKET``/``TRAILING_STOP``: the touch of the latest quote of the instrument (the ask for
      buys, the bid for sells) raised by ``buffer_pct``, if the quote is at most
      ``max_quote_age_ns`` old (else ``STALE_QUOTE``).

    The buffer always raises the price: every check that uses it (cost, notional, margin) is
    conservative the higher it is. Without a usable price the answer is ``NO_PRICE`` (a spread
    must carry its net price: legs are not priced here).

    The last answer is kept: asked again about the same (frozen) intent with the same buffer
    (same value and exponent), age bound and time, and the quote it used is still the same
    object, it is returned as it is.
    """
    memo = _PRICE_MEMO
    if memo.intent is intent and (
        intent.type in _LIMIT_TYPES
        or (
            memo.now_ns == now_ns
            and memo.max_quote_age_ns == max_quote_age_ns
            and (
                memo.buffer_pct is buffer_pct or memo.buffer_pct.as_tuple() == buffer_pct.as_tuple()
            )
            and (memo.symbol is None or quotes.get(memo.symbol) is memo.quote)
        )
    ):
        assert memo.result is not None
        return memo.result
    memo.intent = None
    memo.symbol = memo.quote = None
    result = _price_order(intent, quotes, now_ns, buffer_pct, max_quote_age_ns, memo)
    memo.intent, memo.buffer_pct, memo.max_quote_age_ns, memo.now_ns, memo.result = (
        intent,
        buffer_pct,
        max_quote_age_ns,
        now_ns,
        result,
    )
    return result


def _price_order(
    intent: OrderIntent,
    quotes: Mapping[str, Quote],
    now_ns: int,
    buffer_pct: Decimal,
    max_quote_age_ns: int,
    memo: _PriceMemo,
) -> Priced | RiskVerdict:
    unit = multiplier(intent.security_type)
    if intent.type in _LIMIT_TYPES:
        if intent.price is None:
            return _no_price(intent, f"a {intent.type} order without a limit price")
        return Priced(intent.price, "limit", unit)
    up = ONE + buffer_pct / HUNDRED
    if intent.type is OrderType.STOP and intent.stop_price is not None:
        return Priced(intent.stop_price * up, "stop", unit)
    if intent.security_type is MULTI_LEG:
        return _no_price(intent, "a spread without a net limit price")
    symbol = instrument_symbol(intent)
    quote = memo.quote = quotes.get(symbol)
    memo.symbol = symbol
    if quote is None:
        return _no_price(intent, f"no quote of {symbol}")
    stale = stale_quote(quote, now_ns, max_quote_age_ns)
    if stale is not None:
        return stale
    buying = intent.side in BUY_SIDES
    touch = quote.ask if buying else quote.bid
    if touch is None:
        side = "ask" if buying else "bid"
        return _no_price(intent, f"the quote of {symbol} has no {side}")
    return Priced(touch * up, "quote", unit)


def _no_price(intent: OrderIntent, why: str) -> RiskVerdict:
    return RiskVerdict.reject(
        NO_PRICE,
        f"cannot price {intent.type} {intent.side} {intent.qty} {intent.symbol}: {why}",
        symbol=intent.symbol,
        type=intent.type,
    )


def working_price(
    symbol: str,
    side: Side,
    price: Decimal | None,
    stop: Decimal | None,
    quotes: Mapping[str, Quote],
) -> Decimal | None:
    """The price a working order commits: its limit, else its stop, else the touch, else None.

    Used to value orders already approved (their own staleness was checked then).
    """
    if price is not None:
        return price
    if stop is not None:
        return stop
    quote = quotes.get(symbol)
    if quote is None:
        return None
    return quote.ask if side in BUY_SIDES else quote.bid


def unpriced_working_order(order: Order | OrderIntent) -> RiskVerdict:
    """``NO_PRICE``: a working order has no notional (no price of its own and no quote)."""
    return RiskVerdict.reject(
        NO_PRICE,
        f"cannot value the working {order.side} {order.symbol} order "
        f"{order.client_order_id}: no price and no quote",
        symbol=order.symbol,
        working_order=order.client_order_id,
    )


def working_notionals(
    account: AccountView, quotes: Mapping[str, Quote], *, excluding: Order | None = None
) -> Iterator[tuple[Order | OrderIntent, Decimal | None]]:
    """Every open and in-flight order with its unfilled notional (``None``: cannot be priced).

    ``excluding`` (the order a replace amends) is left out.
    """
    skip = None if excluding is None else excluding.cl_ord_id
    for order in account.open_orders.values():
        if order.cl_ord_id != skip:
            yield order, open_notional(order, account, quotes)
    for intent in account.in_flight.values():
        yield intent, flight_notional(intent, quotes)


def open_notional(
    order: Order, account: AccountView, quotes: Mapping[str, Quote]
) -> Decimal | None:
    """What an open order of ``account`` commits: ``committed_qty`` × its ``working_price`` (while
    a replace of it is unanswered, the larger of the old and the new price) × multiplier."""
    price = working_price(order.symbol, order.side, order.price, order.stop_price, quotes)
    pending = account.replacing.get(order.client_order_id or "")
    if pending is not None and price is not None:  # either terms may be live: the larger
        new_price = pending.price if pending.price is not None else pending.stop_price
        price = max(price, new_price or price)
    qty = account.committed_qty(order)
    return None if price is None else qty * price * multiplier(order.security_type)


def flight_notional(intent: OrderIntent, quotes: Mapping[str, Quote]) -> Decimal | None:
    """What an in-flight order commits: its quantity × its estimated price (else the touch) ×
    multiplier."""
    price = working_price(intent.symbol, intent.side, intent.estimated_price, None, quotes)
    return None if price is None else intent.qty * price * multiplier(intent.security_type)


def position_value(position: Position, quotes: Mapping[str, Quote]) -> Decimal:
    """|value| of a position: the venue's market value, else |qty| × quote mid (or average
    price) × multiplier."""
    if position.market_value is not None:
        return abs(position.market_value)
    quote = quotes.get(position.symbol)
    mark = None if quote is None else quote.mid
    if mark is None:
        mark = position.avg_price
    return abs(position.quantity) * mark * multiplier(position.security_type)


# --- figures of an account ------------------------------------------------------------------------
#
# Totals over every position or working order of an account, computed by the same additions in
# the same order as a loop over the view would (so the same ``Decimal`` to the last digit and
# exponent), and kept per account between verdicts. They are reused only while the view's
# mappings hold the very objects they were computed from (positions, orders and intents are
# frozen): at once when a mapping is the ``FrozenDict`` snapshot they were read from (the account
# book hands out the same snapshot until that mapping changes), else by comparing the objects
# one by one. What uses a quote (a position without the venue's market value is marked at the
# mid, a working order without a price at the touch) also remembers which ``Quote`` object it
# used, and is recomputed when that quote was replaced.
#
# Open orders and orders in flight are kept apart (a burst of orders changes only the latter),
# and when only quotes changed, only the positions marked at those quotes are valued again
# before the values are added up anew.

_MISSING: Any = object()

_Working = Order | OrderIntent
W = TypeVar("W", Order, OrderIntent)


def _same_values(
    mapping: Mapping[str, object], seen: Mapping[str, object], values: tuple[object, ...]
) -> bool:
    """True if ``mapping`` holds exactly ``values``, the same objects in the same order."""
    if mapping is seen and type(mapping) is FrozenDict:
        return True
    return len(mapping) == len(values) and all(map(is_, mapping.values(), values))


def _same_items(
    mapping: Mapping[str, object],
    seen: Mapping[str, object],
    items: tuple[tuple[str, object], ...],
) -> bool:
    """True if ``mapping`` maps exactly the keys of ``items`` to the same objects."""
    if mapping is seen and type(mapping) is FrozenDict:
        return True
    get = mapping.get
    return len(mapping) == len(items) and all(get(key, _MISSING) is value for key, value in items)


def _same_quotes(
    quotes: Mapping[str, Quote], symbols: tuple[str, ...], seen: tuple[Quote | None, ...]
) -> bool:
    """True if the quotes of ``symbols`` are still the ``Quote`` objects ``seen``."""
    return all(map(is_, map(quotes.get, symbols), seen))


@attrs.define(eq=False)
class _PositionFigures:
    """The gross value of one account's positions, and what it was computed from."""

    positions: Mapping[str, Position]
    values: tuple[Position, ...]
    worth: list[Decimal]
    """``position_value`` of each of ``values``."""
    marked: tuple[int, ...]
    """Indices (in ``values``) of the positions valued at a quote (no market value from the
    venue)."""
    symbols: tuple[str, ...]
    """Their symbols."""
    marks: tuple[Quote | None, ...]
    """The quotes (or their absence) they were valued at."""
    gross: Decimal
    view: AccountView | None = None
    """The last view these figures were checked against, if its positions are frozen."""


@attrs.define(eq=False)
class _Valuation:
    """The notionals of one part of an account's working orders at some quotes."""

    priced: tuple[str, ...]
    """Symbols of the orders priced at a quote (no limit, stop or estimated price)."""
    touches: tuple[Quote | None, ...]
    """The quotes (or their absence) they were priced at."""
    notionals: tuple[tuple[_Working, Decimal | None], ...]
    gross: Decimal
    """Σ notional from zero, up to the first that is ``None`` (all of them if none is)."""
    unpriced: _Working | None
    """The first order without a notional."""
    requirements: dict[tuple[int, int], tuple[Decimal, Decimal, Decimal, _Working | None]] = (
        attrs.field(factory=dict)
    )
    """``working_requirement`` by the ids of its rates: (long, short, Σ from zero, unpriced)."""


@attrs.define(eq=False)
class _OpenOrders:
    """Committed quantities of one account's open orders, by symbol and direction (Σ from zero,
    in order), and what they were computed from (the orders, the replaces amending them)."""

    open_orders: Mapping[str, Order]
    values: tuple[Order, ...]
    replacing: Mapping[str, OrderIntent]
    replacing_items: tuple[tuple[str, OrderIntent], ...]
    buys: dict[str, Decimal]
    sells: dict[str, Decimal]
    valuation: _Valuation | None = None


@attrs.define(eq=False)
class _InFlight:
    """Quantities of one account's orders in flight, by symbol and direction (in order, to be
    added to the open orders' sums), and what they were computed from."""

    in_flight: Mapping[str, OrderIntent]
    values: tuple[OrderIntent, ...]
    buys: dict[str, list[Decimal]]
    sells: dict[str, list[Decimal]]
    valuation: _Valuation | None = None


@attrs.define(eq=False)
class _WorkingFigures:
    """Committed quantities of one account's working orders (open, then in flight) by symbol
    and direction, and totals of their notionals."""

    open: _OpenOrders
    flight: _InFlight
    buys: dict[str, Decimal]
    """Symbol → Σ unfilled quantity of working buys (``Side.is_buy``), from zero."""
    sells: dict[str, Decimal]
    """Symbol → Σ unfilled quantity of working sells (and short sales), from zero."""
    view: AccountView | None = None
    """The last view these figures were checked against, if all its mappings are frozen."""
    valued: tuple[_Valuation, _Valuation] | None = None
    """The valuations ``gross`` and ``unpriced`` add up (open orders', in-flight orders')."""
    gross: Decimal = ZERO
    unpriced: _Working | None = None
    requirements: dict[tuple[int, int], tuple[Decimal, Decimal, Decimal, _Working | None]] = (
        attrs.field(factory=dict)
    )
    """As ``_Valuation.requirements``, for ``valued``."""


_POSITION_FIGURES: dict[str, _PositionFigures] = {}
_WORKING_FIGURES: dict[str, _WorkingFigures] = {}


def forget_figures() -> None:
    """Drop every cached figure and answer (they are recomputed on the next verdict)."""
    _POSITION_FIGURES.clear()
    _WORKING_FIGURES.clear()
    _CLOSING_MEMO.account = _CLOSING_MEMO.intent = None
    _PRICE_MEMO.intent = None


def _open_orders(account: AccountView, kept: _OpenOrders | None) -> _OpenOrders:
    open_orders, replacing = account.open_orders, account.replacing
    if (
        kept is not None
        and _same_values(open_orders, kept.open_orders, kept.values)
        and _same_items(replacing, kept.replacing, kept.replacing_items)
    ):
        kept.open_orders, kept.replacing = open_orders, replacing
        return kept
    values = tuple(open_orders.values())
    buys: dict[str, Decimal] = {}
    sells: dict[str, Decimal] = {}
    committed = account.committed_qty
    for order in values:
        totals = buys if order.side in BUY_SIDES else sells
        totals[order.symbol] = totals.get(order.symbol, ZERO) + committed(order)
    return _OpenOrders(open_orders, values, replacing, tuple(replacing.items()), buys, sells)


def _in_flight(account: AccountView, kept: _InFlight | None) -> _InFlight:
    in_flight = account.in_flight
    if kept is not None and _same_values(in_flight, kept.in_flight, kept.values):
        kept.in_flight = in_flight
        return kept
    values = tuple(in_flight.values())
    buys: dict[str, list[Decimal]] = {}
    sells: dict[str, list[Decimal]] = {}
    for intent in values:
        totals = buys if intent.side in BUY_SIDES else sells
        totals.setdefault(intent.symbol, []).append(intent.qty)
    return _InFlight(in_flight, values, buys, sells)


def _continued(totals: dict[str, Decimal], terms: dict[str, list[Decimal]]) -> dict[str, Decimal]:
    """``totals`` with each symbol's ``terms`` added after it, one by one."""
    if not terms:
        return totals
    result = dict(totals)
    for symbol, quantities in terms.items():
        total = result.get(symbol, ZERO)
        for qty in quantities:
            total += qty
        result[symbol] = total
    return result


def _working(account: AccountView) -> _WorkingFigures:
    figures = _WORKING_FIGURES.get(account.account_id)
    if figures is not None and figures.view is account:
        return figures
    open_part = _open_orders(account, None if figures is None else figures.open)
    flight = _in_flight(account, None if figures is None else figures.flight)
    if figures is None or figures.open is not open_part or figures.flight is not flight:
        figures = _WorkingFigures(
            open_part,
            flight,
            _continued(open_part.buys, flight.buys),
            _continued(open_part.sells, flight.sells),
        )
        _WORKING_FIGURES[account.account_id] = figures
    figures.view = account if _frozen(account) else None
    return figures


def working_qty(account: AccountView, symbol: str) -> tuple[Decimal, Decimal]:
    """``(buys, sells)``: the unfilled quantity of every working order (open, then in flight;
    ``committed_qty`` for open ones) on ``symbol``, by direction; zero when there is none."""
    figures = _working(account)
    return figures.buys.get(symbol, ZERO), figures.sells.get(symbol, ZERO)


def exposure(account: AccountView, symbol: str) -> tuple[Decimal, Decimal]:
    """``AccountView.exposure``: the signed position ``symbol`` could reach, ``(low, high)``,
    from the cached ``working_qty``."""
    held = account.position_quantity(symbol)
    buys, sells = working_qty(account, symbol)
    return held - sells, held + buys


def gross_positions(account: AccountView, quotes: Mapping[str, Quote]) -> Decimal:
    """Σ ``position_value`` over the account's positions, in their order, from zero."""
    positions = account.positions
    figures = _POSITION_FIGURES.get(account.account_id)
    if figures is not None and (
        figures.view is account or _same_values(positions, figures.positions, figures.values)
    ):
        figures.positions = positions
        figures.view = account if type(positions) is FrozenDict else None
        if not _same_quotes(quotes, figures.symbols, figures.marks):
            # Same positions, new quotes: value again those marked at a quote that changed.
            marks = tuple(map(quotes.get, figures.symbols))
            worth = figures.worth
            for index, old, new in zip(figures.marked, figures.marks, marks, strict=True):
                if old is not new:
                    worth[index] = position_value(figures.values[index], quotes)
            figures.marks = marks
            figures.gross = sum(worth, start=ZERO)
        return figures.gross
    values = tuple(positions.values())
    worth = [position_value(position, quotes) for position in values]
    marked = tuple(i for i, position in enumerate(values) if position.market_value is None)
    symbols = tuple(values[i].symbol for i in marked)
    _POSITION_FIGURES[account.account_id] = figures = _PositionFigures(
        positions,
        values,
        worth,
        marked,
        symbols,
        tuple(map(quotes.get, symbols)),
        sum(worth, start=ZERO),
        view=account if type(positions) is FrozenDict else None,
    )
    return figures.gross


def _valued(
    quotes: Mapping[str, Quote],
    orders: tuple[W, ...],
    notional: Callable[[W], Decimal | None],
    uses_quote: Callable[[W], bool],
) -> _Valuation:
    """The notionals of ``orders`` (each by ``notional``), summed from zero; and the quotes of
    those that ``uses_quote``."""
    priced = tuple(order.symbol for order in orders if uses_quote(order))
    touches = tuple(map(quotes.get, priced))
    notionals = tuple((order, notional(order)) for order in orders)
    gross = ZERO
    unpriced: _Working | None = None
    for order, value in notionals:
        if value is None:
            unpriced = order
            break
        gross += value
    return _Valuation(priced, touches, notionals, gross, unpriced)


def _open_uses_quote(order: Order) -> bool:
    """True if ``working_price`` prices this open order at a quote (no limit, no stop)."""
    return order.price is None and order.stop_price is None


def _flight_uses_quote(intent: OrderIntent) -> bool:
    """True if ``working_price`` prices this intent at a quote (no estimated price)."""
    return intent.estimated_price is None


def _valuations(
    account: AccountView, quotes: Mapping[str, Quote]
) -> tuple[_WorkingFigures, _Valuation, _Valuation]:
    """The working figures of ``account`` with both valuations up to date with ``quotes``."""
    figures = _working(account)
    open_part, flight = figures.open, figures.flight
    open_valuation = open_part.valuation
    if open_valuation is None or (
        open_valuation.priced
        and not _same_quotes(quotes, open_valuation.priced, open_valuation.touches)
    ):
        open_valuation = open_part.valuation = _valued(
            quotes,
            open_part.values,
            lambda order: open_notional(order, account, quotes),
            _open_uses_quote,
        )
    flight_valuation = flight.valuation
    if flight_valuation is None or (
        flight_valuation.priced
        and not _same_quotes(quotes, flight_valuation.priced, flight_valuation.touches)
    ):
        flight_valuation = flight.valuation = _valued(
            quotes,
            flight.values,
            lambda intent: flight_notional(intent, quotes),
            _flight_uses_quote,
        )
    return figures, open_valuation, flight_valuation


def _totalled(account: AccountView, quotes: Mapping[str, Quote]) -> _WorkingFigures:
    """The working figures of ``account`` with ``gross`` and ``unpriced`` up to date."""
    figures, open_valuation, flight_valuation = _valuations(account, quotes)
    valued = figures.valued
    if valued is None or valued[0] is not open_valuation or valued[1] is not flight_valuation:
        gross, unpriced = open_valuation.gross, open_valuation.unpriced
        if unpriced is None:
            for intent, notional in flight_valuation.notionals:
                if notional is None:
                    unpriced = intent
                    break
                gross += notional
        figures.valued = (open_valuation, flight_valuation)
        figures.gross, figures.unpriced = gross, unpriced
        figures.requirements = {}
    return figures


def gross_working(
    account: AccountView, quotes: Mapping[str, Quote]
) -> tuple[Decimal, _Working | None]:
    """Σ of ``working_notionals`` (no exclusion), in their order, from zero; and the first
    working order that has no notional (``None`` if every one has: then the sum is complete)."""
    figures = _totalled(account, quotes)
    return figures.gross, figures.unpriced


def _requirement(
    notionals: tuple[tuple[_Working, Decimal | None], ...],
    start: Decimal,
    long_rate: Decimal,
    short_rate: Decimal,
) -> tuple[Decimal, _Working | None]:
    requirement = start
    for order, notional in notionals:
        if order.security_type is not EQUITY:
            continue
        if order.side is Side.BUY:
            rate = long_rate
        elif order.side is SELL_SHORT:
            rate = short_rate
        else:
            continue
        if notional is None:
            return requirement, order
        requirement += notional * rate
    return requirement, None


def working_requirement(
    account: AccountView, quotes: Mapping[str, Quote], long_rate: Decimal, short_rate: Decimal
) -> tuple[Decimal, _Working | None]:
    """Σ notional × rate over the working equity ``BUY`` (``long_rate``) and ``SELL_SHORT``
    (``short_rate``) orders, in ``working_notionals`` order, from zero; and the first of them
    without a notional (the sum stops there). Kept for the very rate objects it was asked with.
    """
    figures = _totalled(account, quotes)
    assert figures.valued is not None
    open_valuation, flight_valuation = figures.valued
    key = (id(long_rate), id(short_rate))
    known = figures.requirements.get(key)
    if known is not None and known[0] is long_rate and known[1] is short_rate:
        return known[2], known[3]
    partial = open_valuation.requirements.get(key)
    if partial is None or partial[0] is not long_rate or partial[1] is not short_rate:
        partial = (
            long_rate,
            short_rate,
            *_requirement(open_valuation.notionals, ZERO, long_rate, short_rate),
        )
        open_valuation.requirements[key] = partial
    requirement, unpriced = partial[2], partial[3]
    if unpriced is None:
        requirement, unpriced = _requirement(
            flight_valuation.notionals, requirement, long_rate, short_rate
        )
    figures.requirements[key] = (long_rate, short_rate, requirement, unpriced)
    return requirement, unpriced
