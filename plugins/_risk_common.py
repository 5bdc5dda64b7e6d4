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
* **config validators** for the plugins' attrs ``Config`` classes.

Money is ``Decimal`` throughout; durations in config are seconds (``float``), compared in
nanoseconds with ``now_ns``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import attrs

from engine import ConfigValueError
from engine.model import (
    AccountView,
    Order,
    OrderIntent,
    OrderType,
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
    if intent.security_type is not SecurityType.OPTION or parse_osi(intent.symbol) is not None:
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
    return ONE if security_type is SecurityType.EQUITY else OPTION_MULTIPLIER


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


def closing_qty(account: AccountView, intent: OrderIntent) -> Decimal:
    """How much of ``intent`` can only close the existing position in what it trades.

    A ``SELL`` closes a long, a ``BUY``/``BUY_TO_COVER`` a short; ``SELL_SHORT`` never closes,
    nor does a spread (see ``only_reduces`` for spreads whose legs all close).
    Working orders on the same side close first (they were sent first), so two sells of a
    100-share long, 100 each, are one closing sell and one that opens a short. The rest of the
    order (``open_qty(intent) - closing_qty``) opens or increases a position.
    """
    if intent.side is Side.SELL_SHORT or intent.security_type is SecurityType.MULTI_LEG:
        return ZERO
    key = instrument_symbol(intent)
    held = account.position_quantity(key)
    closable = -held if intent.side.is_buy else held
    if closable <= 0:
        return ZERO
    ahead = ZERO
    for order_symbol, side, qty, _type in working_orders(account, excluding=intent.replaces):
        if order_symbol == key and side.is_buy == intent.side.is_buy:
            ahead += qty
    return min(open_qty(intent), max(closable - ahead, ZERO))


def leg_opens(position_effect: str | None) -> bool:
    """True unless a leg's ``positionEffect`` says ``CLOSE`` (or ``C``): unknown counts as open."""
    return (position_effect or "OPEN").upper() not in ("CLOSE", "C")


def only_reduces(account: AccountView, intent: OrderIntent) -> bool:
    """True if all of ``intent`` closes an existing position (see ``closing_qty``); a spread
    only when every leg says ``CLOSE``."""
    if intent.security_type is SecurityType.MULTI_LEG:
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
    """
    unit = multiplier(intent.security_type)
    if intent.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        if intent.price is None:
            return _no_price(intent, f"a {intent.type} order without a limit price")
        return Priced(intent.price, "limit", unit)
    up = ONE + buffer_pct / HUNDRED
    if intent.type is OrderType.STOP and intent.stop_price is not None:
        return Priced(intent.stop_price * up, "stop", unit)
    if intent.security_type is SecurityType.MULTI_LEG:
        return _no_price(intent, "a spread without a net limit price")
    symbol = instrument_symbol(intent)
    quote = quotes.get(symbol)
    if quote is None:
        return _no_price(intent, f"no quote of {symbol}")
    stale = stale_quote(quote, now_ns, max_quote_age_ns)
    if stale is not None:
        return stale
    touch = quote.ask if intent.side.is_buy else quote.bid
    if touch is None:
        side = "ask" if intent.side.is_buy else "bid"
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
    return quote.ask if side.is_buy else quote.bid


def working_notionals(
    account: AccountView, quotes: Mapping[str, Quote], *, excluding: Order | None = None
) -> Iterator[tuple[Order | OrderIntent, Decimal | None]]:
    """Every open and in-flight order with its unfilled notional (``None``: cannot be priced).

    ``excluding`` (the order a replace amends) is left out.
    """
    skip = None if excluding is None else excluding.cl_ord_id
    for order in account.open_orders.values():
        if order.cl_ord_id == skip:
            continue
        price = working_price(order.symbol, order.side, order.price, order.stop_price, quotes)
        pending = account.replacing.get(order.client_order_id or "")
        if pending is not None and price is not None:  # either terms may be live: the larger
            new_price = pending.price if pending.price is not None else pending.stop_price
            price = max(price, new_price or price)
        qty = account.committed_qty(order)
        yield (
            order,
            (None if price is None else qty * price * multiplier(order.security_type)),
        )
    for intent in account.in_flight.values():
        price = working_price(intent.symbol, intent.side, intent.estimated_price, None, quotes)
        yield (
            intent,
            (None if price is None else intent.qty * price * multiplier(intent.security_type)),
        )
