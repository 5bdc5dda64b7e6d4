"""Risk plugins: hard limits on order size, position, gross exposure and working orders.

Four independent plugins (enable the ones you want; each has its own ``[[plugins]]`` entry):

``OrderSizeLimit``: one order's quantity (``max_order_qty``, shares or contracts) and notional
(``max_order_notional``: quantity × price × 100 for options; the price as ``BuyingPowerCheck``
prices it). Codes ``MAX_ORDER_QTY``, ``MAX_ORDER_NOTIONAL``, ``NO_PRICE``, ``STALE_QUOTE``.
It reads no account state, so it never says ``STALE_STATE``.

``PositionLimit``: the position a symbol could reach if this order and every working order on
its side filled (``AccountView.exposure``: open and in-flight orders) must stay within
``±max_position`` (``per_symbol`` overrides it). Only the end the order moves is checked, so an
order that brings an over-limit position back towards the limit passes. Spreads are not checked.
Codes ``MAX_POSITION``, ``STALE_STATE``.

``GrossExposureLimit``: Σ over positions of |position value| (the venue's market value, else
|quantity| × the quote's mid, else × the average price; × 100 for options) plus the notional of
every working order plus this order's must stay within ``max_gross``. Orders that only close a
position always pass. Codes ``GROSS_EXPOSURE_LIMIT``, ``NO_PRICE``, ``STALE_STATE``,
``STALE_QUOTE``.

``OpenOrderLimit``: open orders plus in-flight orders (``AccountView.working_order_count``) must
stay below ``max_open_orders`` before a new order (a replace adds none). Codes
``MAX_OPEN_ORDERS``, ``STALE_STATE``.

Configure them in ``engine.toml``::

    [[plugins]]
    name = "order-size"
    path = "plugins.limits:OrderSizeLimit"
    [plugins.config]
    max_order_qty = "1000"
    max_order_notional = "50000"
    market_buffer_pct = "1"
    max_quote_age = 5

    [[plugins]]
    name = "position-limit"
    path = "plugins.limits:PositionLimit"
    [plugins.config]
    max_position = "2000"
    per_symbol = { TSLA = "500" }
    max_state_age = 65

    [[plugins]]
    name = "gross-exposure"
    path = "plugins.limits:GrossExposureLimit"
    [plugins.config]
    max_gross = "250000"

    [[plugins]]
    name = "open-orders"
    path = "plugins.limits:OpenOrderLimit"
    [plugins.config]
    max_open_orders = 50
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from engine import hookimpl
from engine.model import AccountView, OrderIntent, Quote, RiskVerdict
from engine.validators import optional_positive, percent, positive
from plugins._risk_common import (
    BUY_SIDES,
    DEFAULT_MAX_QUOTE_AGE,
    DEFAULT_MAX_STATE_AGE,
    MULTI_LEG,
    ZERO,
    Priced,
    exposure,
    gross_positions,
    gross_working,
    instrument_symbol,
    only_reduces,
    open_qty,
    positive_values,
    price_order,
    seconds_to_ns,
    stale_state,
    unpriced_working_order,
    working_notionals,
)
from plugins._risk_common import position_value as position_value

MAX_ORDER_QTY = "MAX_ORDER_QTY"
MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
MAX_POSITION = "MAX_POSITION"
GROSS_EXPOSURE_LIMIT = "GROSS_EXPOSURE_LIMIT"
MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"


# --- order size ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OrderSizeConfig:
    """``[plugins.config]`` of an ``OrderSizeLimit`` (set at least one of the two limits)."""

    max_order_qty: Decimal | None = attrs.field(default=None, validator=optional_positive)
    """Most shares (or contracts, or spreads) in one order; unset: unchecked."""
    max_order_notional: Decimal | None = attrs.field(default=None, validator=optional_positive)
    """Most dollars in one order (quantity × price × multiplier); unset: unchecked."""
    market_buffer_pct: Decimal = attrs.field(default=Decimal(1), validator=percent)
    """Percent added to the touch (or stop) price of market and stop orders."""
    max_quote_age: float = attrs.field(default=DEFAULT_MAX_QUOTE_AGE, validator=positive)
    """Seconds: an older quote cannot price a market order (``STALE_QUOTE``)."""

    def __attrs_post_init__(self) -> None:
        if self.max_order_qty is None and self.max_order_notional is None:
            raise ValueError("set max_order_qty, max_order_notional or both")


class OrderSizeLimit:
    """Vetoes one order larger than ``max_order_qty`` or ``max_order_notional``."""

    Config = OrderSizeConfig

    def __init__(self, config: OrderSizeConfig) -> None:
        self.config = config
        self._max_quote_age_ns = seconds_to_ns(config.max_quote_age)

    @hookimpl
    def aries_check_order(
        self, intent: OrderIntent, quotes: Mapping[str, Quote], now_ns: int
    ) -> RiskVerdict | None:
        """Reject an order over the quantity or notional limit."""
        limit_qty = self.config.max_order_qty
        if limit_qty is not None and intent.qty > limit_qty:
            return RiskVerdict.reject(
                MAX_ORDER_QTY,
                f"{intent.side} {intent.qty} {intent.symbol} is more than the {limit_qty} "
                "allowed in one order",
                qty=intent.qty,
                max_order_qty=limit_qty,
            )
        limit_notional = self.config.max_order_notional
        if limit_notional is None:
            return None
        priced = price_order(
            intent,
            quotes,
            now_ns,
            buffer_pct=self.config.market_buffer_pct,
            max_quote_age_ns=self._max_quote_age_ns,
        )
        if not isinstance(priced, Priced):
            return priced
        notional = priced.notional(intent.qty)
        if notional > limit_notional:
            return RiskVerdict.reject(
                MAX_ORDER_NOTIONAL,
                f"{intent.side} {intent.qty} {intent.symbol} @ {priced.price} is {notional}, "
                f"more than the {limit_notional} allowed in one order",
                notional=notional,
                qty=intent.qty,
                price=priced.price,
                max_order_notional=limit_notional,
            )
        return None


# --- position per symbol -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PositionLimitConfig:
    """``[plugins.config]`` of a ``PositionLimit``."""

    max_position: Decimal = attrs.field(validator=positive)
    """Largest absolute position (shares or contracts) any symbol may reach, long or short."""
    per_symbol: Mapping[str, Decimal] = attrs.field(factory=dict, validator=positive_values)
    """Limits for particular symbols, overriding ``max_position``."""
    max_state_age: float = attrs.field(default=DEFAULT_MAX_STATE_AGE, validator=positive)
    """Seconds: an older account picture rejects with ``STALE_STATE``."""


class PositionLimit:
    """Vetoes orders that could take a symbol's position beyond ``±max_position``."""

    Config = PositionLimitConfig

    def __init__(self, config: PositionLimitConfig) -> None:
        self.config = config
        self._max_state_age_ns = seconds_to_ns(config.max_state_age)

    @hookimpl
    def aries_check_order(
        self, intent: OrderIntent, account: AccountView, now_ns: int
    ) -> RiskVerdict | None:
        """Reject when the position could end beyond the limit on the side this order moves."""
        if intent.security_type is MULTI_LEG:
            return None
        stale = stale_state(account, now_ns, self._max_state_age_ns)
        if stale is not None:
            return stale
        symbol = instrument_symbol(intent)
        limit = self.config.per_symbol.get(symbol, self.config.max_position)
        held = account.position_quantity(symbol)
        low, high = exposure(account, symbol)
        old = intent.replaces
        if old is not None and old.symbol == symbol:
            if old.side in BUY_SIDES:
                high -= old.leaves_qty
            else:
                low += old.leaves_qty
        qty = open_qty(intent)
        if intent.side in BUY_SIDES:
            working, projected = high - held, high + qty
            breached = projected > limit
        else:
            working, projected = low - held, low - qty
            breached = projected < -limit
        if breached:
            return RiskVerdict.reject(
                MAX_POSITION,
                f"{intent.side} {qty} {symbol} could take the position to {projected} "
                f"(held {held}, working {working} on that side), beyond the limit of {limit}",
                symbol=symbol,
                position=held,
                working=working,
                qty=qty,
                projected=projected,
                max_position=limit,
            )
        return None


# --- gross exposure ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class GrossExposureConfig:
    """``[plugins.config]`` of a ``GrossExposureLimit``."""

    max_gross: Decimal = attrs.field(validator=positive)
    """Most dollars of gross exposure: |positions| plus working orders plus this order."""
    market_buffer_pct: Decimal = attrs.field(default=Decimal(1), validator=percent)
    """Percent added to the touch (or stop) price of market and stop orders."""
    max_state_age: float = attrs.field(default=DEFAULT_MAX_STATE_AGE, validator=positive)
    """Seconds: an older account picture rejects with ``STALE_STATE``."""
    max_quote_age: float = attrs.field(default=DEFAULT_MAX_QUOTE_AGE, validator=positive)
    """Seconds: an older quote cannot price a market order (``STALE_QUOTE``)."""


class GrossExposureLimit:
    """Vetoes orders that would take gross exposure beyond ``max_gross``."""

    Config = GrossExposureConfig

    def __init__(self, config: GrossExposureConfig) -> None:
        self.config = config
        self._max_state_age_ns = seconds_to_ns(config.max_state_age)
        self._max_quote_age_ns = seconds_to_ns(config.max_quote_age)

    @hookimpl
    def aries_check_order(
        self,
        intent: OrderIntent,
        account: AccountView,
        quotes: Mapping[str, Quote],
        now_ns: int,
    ) -> RiskVerdict | None:
        """Reject when positions + working orders + this order exceed ``max_gross``."""
        stale = stale_state(account, now_ns, self._max_state_age_ns)
        if stale is not None:
            return stale
        if only_reduces(account, intent):
            return None
        priced = price_order(
            intent,
            quotes,
            now_ns,
            buffer_pct=self.config.market_buffer_pct,
            max_quote_age_ns=self._max_quote_age_ns,
        )
        if not isinstance(priced, Priced):
            return priced
        order_notional = priced.notional(open_qty(intent))
        positions_gross = gross_positions(account, quotes)
        if intent.replaces is None:
            working_gross, unpriced = gross_working(account, quotes)
            if unpriced is not None:
                return unpriced_working_order(unpriced)
        else:  # the order it amends is left out: its new terms replace it
            working_gross = ZERO
            for order, notional in working_notionals(account, quotes, excluding=intent.replaces):
                if notional is None:
                    return unpriced_working_order(order)
                working_gross += notional
        projected = positions_gross + working_gross + order_notional
        limit = self.config.max_gross
        if projected > limit:
            return RiskVerdict.reject(
                GROSS_EXPOSURE_LIMIT,
                f"{intent.side} {intent.qty} {intent.symbol} ({order_notional}) would take gross "
                f"exposure to {projected} (positions {positions_gross} + working orders "
                f"{working_gross}), beyond the limit of {limit}",
                positions_gross=positions_gross,
                working_gross=working_gross,
                order_notional=order_notional,
                projected=projected,
                max_gross=limit,
            )
        return None


# --- working orders ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OpenOrderLimitConfig:
    """``[plugins.config]`` of an ``OpenOrderLimit``."""

    max_open_orders: int = attrs.field(validator=positive)
    """Most orders working at once (open at the venue plus approved and on their way)."""
    max_state_age: float = attrs.field(default=DEFAULT_MAX_STATE_AGE, validator=positive)
    """Seconds: an older account picture rejects with ``STALE_STATE``."""


class OpenOrderLimit:
    """Vetoes a new order when ``max_open_orders`` are already working."""

    Config = OpenOrderLimitConfig

    def __init__(self, config: OpenOrderLimitConfig) -> None:
        self.config = config
        self._max_state_age_ns = seconds_to_ns(config.max_state_age)

    @hookimpl
    def aries_check_order(
        self, intent: OrderIntent, account: AccountView, now_ns: int
    ) -> RiskVerdict | None:
        """Reject a new order (not a replace) when the working count is at the limit."""
        if intent.replaces is not None:
            return None
        stale = stale_state(account, now_ns, self._max_state_age_ns)
        if stale is not None:
            return stale
        count = account.working_order_count
        limit = self.config.max_open_orders
        if count >= limit:
            return RiskVerdict.reject(
                MAX_OPEN_ORDERS,
                f"{count} orders are working ({len(account.open_orders)} open, "
                f"{len(account.in_flight)} in flight); at most {limit} allowed",
                working_orders=count,
                open=len(account.open_orders),
                in_flight=len(account.in_flight),
                max_open_orders=limit,
            )
        return None
