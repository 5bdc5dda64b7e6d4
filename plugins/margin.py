"""Risk plugin: refuse an equity order whose fill would leave too little equity above maintenance.

Projected maintenance requirement, if the order and every working order filled::

    projected = maintReq                                   (the venue's, for current positions)
              + Σ working BUY   notional × long_maint_rate  (open at the venue and in flight)
              + Σ working SELL_SHORT notional × short_maint_rate
              + opening part of this order × its price × (long_maint_rate for a buy,
                                                          short_maint_rate for a sell)
    excess    = totalEquity − projected

and the order is refused when ``excess < min_excess``. Working plain sells and buys-to-cover are
taken as closing (no requirement); a working buy that covers a short is counted as if it opened a
long (conservative). The part of this order that only closes a position adds nothing (see
``plugins._risk_common.closing_qty``), so reducing orders always pass. A replace counts its new
terms instead of the order it amends. Orders are priced like ``BuyingPowerCheck`` prices them
(limit, stop, or the touch plus ``market_buffer_pct``); working orders at their limit or stop,
else the touch.

Options and spreads are not projected here: long options are paid in full (``BuyingPowerCheck``
charges them to ``optionBuyingPower``) and selling them uncovered is ``AccountRules``' business.

Reason codes: ``INSUFFICIENT_MARGIN`` (details ``total_equity``, ``maint_req``, ``working_req``,
``order_req``, ``projected_maint_req``, ``excess``, ``min_excess``), ``NO_BALANCE``, ``NO_PRICE``,
``STALE_STATE``, ``STALE_QUOTE``.

Configure it in ``engine.toml``::

    [[plugins]]
    name = "margin"
    path = "plugins.margin:MarginCheck"
    [plugins.config]
    long_maint_rate = "0.25"    # maintenance on new long stock
    short_maint_rate = "0.30"   # maintenance on new short stock
    min_excess = "1000"         # dollars of equity to keep above the projected requirement
    market_buffer_pct = "1"
    max_state_age = 65
    max_quote_age = 5
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from engine import hookimpl
from engine.model import AccountView, OrderIntent, Quote, RiskVerdict, SecurityType, Side
from engine.validators import fraction, non_negative, percent, positive
from plugins._risk_common import (
    BUY_SIDES,
    DEFAULT_MAX_QUOTE_AGE,
    DEFAULT_MAX_STATE_AGE,
    EQUITY,
    NO_BALANCE,
    ZERO,
    Priced,
    closing_qty,
    open_qty,
    price_order,
    seconds_to_ns,
    stale_state,
    unpriced_working_order,
    working_notionals,
    working_requirement,
)

INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"


@attrs.frozen(kw_only=True)
class MarginConfig:
    """``[plugins.config]`` of a ``MarginCheck``."""

    long_maint_rate: Decimal = attrs.field(default=Decimal("0.25"), validator=fraction)
    """Maintenance requirement of new long stock, as a fraction of its value (Reg T: 0.25)."""
    short_maint_rate: Decimal = attrs.field(default=Decimal("0.30"), validator=fraction)
    """Maintenance requirement of new short stock, as a fraction of its value."""
    min_excess: Decimal = attrs.field(default=Decimal(0), validator=non_negative)
    """Dollars of equity that must remain above the projected requirement."""
    market_buffer_pct: Decimal = attrs.field(default=Decimal(1), validator=percent)
    """Percent added to the touch (or stop) price of market and stop orders."""
    max_state_age: float = attrs.field(default=DEFAULT_MAX_STATE_AGE, validator=positive)
    """Seconds: an older account picture rejects with ``STALE_STATE``."""
    max_quote_age: float = attrs.field(default=DEFAULT_MAX_QUOTE_AGE, validator=positive)
    """Seconds: an older quote cannot price a market order (``STALE_QUOTE``)."""


class MarginCheck:
    """Vetoes equity orders that would leave less than ``min_excess`` above maintenance."""

    Config = MarginConfig

    def __init__(self, config: MarginConfig) -> None:
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
        """Reject when the projected excess over maintenance falls below ``min_excess``."""
        if intent.security_type is not EQUITY:
            return None
        stale = stale_state(account, now_ns, self._max_state_age_ns)
        if stale is not None:
            return stale
        balance = account.balance
        if balance is None:
            return RiskVerdict.reject(
                NO_BALANCE, f"the balance of account {account.account_id} is not known yet"
            )
        opening = open_qty(intent) - closing_qty(account, intent)
        if opening <= 0:
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
        buying = intent.side in BUY_SIDES
        rate = self.config.long_maint_rate if buying else self.config.short_maint_rate
        order_req = priced.notional(opening) * rate
        if intent.replaces is None:
            working_req, unpriced = working_requirement(
                account, quotes, self.config.long_maint_rate, self.config.short_maint_rate
            )
            if unpriced is not None:
                return unpriced_working_order(unpriced)
        else:  # the order it amends is left out: its new terms replace it
            working_req = ZERO
            for order, notional in working_notionals(account, quotes, excluding=intent.replaces):
                if order.security_type is not SecurityType.EQUITY:
                    continue
                if order.side is Side.BUY:
                    working_rate = self.config.long_maint_rate
                elif order.side is Side.SELL_SHORT:
                    working_rate = self.config.short_maint_rate
                else:
                    continue
                if notional is None:
                    return unpriced_working_order(order)
                working_req += notional * working_rate
        projected = balance.maint_req + working_req + order_req
        excess = balance.total_equity - projected
        if excess < self.config.min_excess:
            return RiskVerdict.reject(
                INSUFFICIENT_MARGIN,
                f"{intent.side} {opening} {intent.symbol} @ {priced.price} would leave equity "
                f"{balance.total_equity} only {excess} above the projected maintenance "
                f"requirement {projected} (maintReq {balance.maint_req} + working {working_req} "
                f"+ this order {order_req}); at least {self.config.min_excess} is required",
                total_equity=balance.total_equity,
                maint_req=balance.maint_req,
                working_req=working_req,
                order_req=order_req,
                projected_maint_req=projected,
                excess=excess,
                min_excess=self.config.min_excess,
            )
        return None
