"""Risk plugin: refuse an order that costs more than the buying power of its instrument.

Which buying power ("pool"):

* equities draw on ``stockBuyingPower``, or on ``dayTradeBuyingPower`` when ``day_trading = true``
  (the strategies on this account close what they open before the close, so the venue's intraday
  pattern-day-trader pool applies to their opening orders);
* options and spreads draw on ``optionBuyingPower``.

What an order costs: only the part that *opens* (or increases) a position. The part that only
closes one needs no buying power (a sell of shares held, after the other working sells of that
symbol; a buy that covers a short): a day trade's closing order is never refused for want of
buying power. The opening part costs its quantity × its price × the multiplier (100 for options):
the limit price, else the stop or, for market orders, the touch of the latest quote (the ask for
buys, the bid for sells) raised by ``market_buffer_pct``. Option sales to open: a put is charged
its strike × 100 per contract (cash-secured), a call nothing (covered calls need shares, naked ones
are ``AccountRules``' business); a credit spread (a ``SELL`` spread) its widest strike width × 100.
A replace (``intent.replaces``) costs only what it adds: ``intent.additional_cost`` (× 100 for
options); a replace that shrinks the order costs nothing.

What is available: the pool less ``account.reserved_buying_power`` (orders approved but not yet
reflected in the venue's balance; the engine keeps one total, taken from whichever pool the order
uses) less ``headroom``. So two quick orders cannot spend the same dollars twice.

Reason codes: ``INSUFFICIENT_BUYING_POWER`` (details ``cost``, ``available``, ``buying_power``,
``pool``, ``reserved``, ``headroom``, ``qty``, ``price``), ``NO_BALANCE``, ``NO_PRICE``,
``STALE_STATE``, ``STALE_QUOTE``.

Configure it in ``engine.toml``::

    [[plugins]]
    name = "buying-power"
    path = "plugins.buying_power:BuyingPowerCheck"
    [plugins.config]
    headroom = "0"              # dollars kept unspent on top of the cost
    market_buffer_pct = "1"     # market orders: the touch + 1 %
    day_trading = false         # true: opening equity orders use dayTradeBuyingPower
    max_state_age = 65          # seconds (see plugins._risk_common.DEFAULT_MAX_STATE_AGE)
    max_quote_age = 5           # seconds
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from engine import hookimpl
from engine.model import AccountView, Balance, OrderIntent, Quote, RiskVerdict
from engine.validators import non_negative, percent, positive
from plugins._risk_common import (
    BUY_SIDES,
    DEFAULT_MAX_QUOTE_AGE,
    DEFAULT_MAX_STATE_AGE,
    EQUITY,
    MULTI_LEG,
    NO_BALANCE,
    NO_PRICE,
    OPTION,
    ZERO,
    Priced,
    closing_qty,
    multiplier,
    only_reduces,
    open_qty,
    option_terms,
    price_order,
    seconds_to_ns,
    stale_state,
)

INSUFFICIENT_BUYING_POWER = "INSUFFICIENT_BUYING_POWER"


@attrs.frozen(kw_only=True)
class BuyingPowerConfig:
    """``[plugins.config]`` of a ``BuyingPowerCheck``."""

    headroom: Decimal = attrs.field(default=Decimal(0), validator=non_negative)
    """Dollars to keep unspent on top of the order's cost."""
    market_buffer_pct: Decimal = attrs.field(default=Decimal(1), validator=percent)
    """Percent added to the touch (or stop) price of market and stop orders, for slippage."""
    day_trading: bool = False
    """Opening equity orders use ``dayTradeBuyingPower`` instead of ``stockBuyingPower``."""
    max_state_age: float = attrs.field(default=DEFAULT_MAX_STATE_AGE, validator=positive)
    """Seconds: an older account picture (``as_of_ns``) rejects with ``STALE_STATE``."""
    max_quote_age: float = attrs.field(default=DEFAULT_MAX_QUOTE_AGE, validator=positive)
    """Seconds: an older quote cannot price a market order (``STALE_QUOTE``)."""


@attrs.frozen
class _Cost:
    """What the opening part of an order needs, and the numbers it was computed from."""

    amount: Decimal
    qty: Decimal
    price: Decimal


class BuyingPowerCheck:
    """Vetoes orders whose opening part costs more than ``pool − reserved − headroom``."""

    Config = BuyingPowerConfig

    def __init__(self, config: BuyingPowerConfig) -> None:
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
        """Reject when the order's opening cost exceeds the available buying power of its pool;
        otherwise no objection."""
        stale = stale_state(account, now_ns, self._max_state_age_ns)
        if stale is not None:
            return stale
        balance = account.balance
        if balance is None:
            return RiskVerdict.reject(
                NO_BALANCE, f"the balance of account {account.account_id} is not known yet"
            )
        if only_reduces(account, intent):
            return None
        cost = self._cost(intent, account, quotes, now_ns)
        if isinstance(cost, RiskVerdict):
            return cost
        if cost.amount <= 0:
            return None
        pool_name, pool = self._pool(intent, balance)
        reserved = account.reserved_buying_power
        headroom = self.config.headroom
        available = pool - reserved - headroom
        if cost.amount > available:
            return RiskVerdict.reject(
                INSUFFICIENT_BUYING_POWER,
                f"cost {cost.amount} of {intent.side} {cost.qty} {intent.symbol} @ {cost.price} "
                f"exceeds available {available} ({pool_name} {pool} - reserved {reserved} "
                f"- headroom {headroom})",
                cost=cost.amount,
                available=available,
                buying_power=pool,
                pool=pool_name,
                reserved=reserved,
                headroom=headroom,
                qty=cost.qty,
                price=cost.price,
            )
        return None

    def _pool(self, intent: OrderIntent, balance: Balance) -> tuple[str, Decimal]:
        if intent.security_type is not EQUITY:
            return "optionBuyingPower", balance.option_buying_power
        if self.config.day_trading:
            return "dayTradeBuyingPower", balance.day_trade_buying_power
        return "stockBuyingPower", balance.stock_buying_power

    @hookimpl
    def aries_order_reservation(
        self,
        intent: OrderIntent,
        account: AccountView,
        quotes: Mapping[str, Quote],
        now_ns: int,
    ) -> Decimal | None:
        """Reserve exactly what ``aries_check_order`` charged: the opening cost (zero for an
        order that only closes), so the next order's check sees it as spent."""
        if only_reduces(account, intent):
            return ZERO
        cost = self._cost(intent, account, quotes, now_ns)
        if isinstance(cost, RiskVerdict):
            return None  # unpriceable: the check rejected it, or another plugin approved it
        return max(cost.amount, ZERO)

    def _cost(
        self,
        intent: OrderIntent,
        account: AccountView,
        quotes: Mapping[str, Quote],
        now_ns: int,
    ) -> _Cost | RiskVerdict:
        unit = multiplier(intent.security_type)
        selling = intent.side not in BUY_SIDES
        opening = open_qty(intent) - closing_qty(account, intent)
        if intent.security_type is OPTION and selling:
            terms = option_terms(intent)
            if terms is not None and terms.put_call == "CALL":
                return _Cost(ZERO, opening, ZERO)
            if terms is None or terms.put_call is None or terms.strike is None:
                return RiskVerdict.reject(
                    NO_PRICE,
                    f"cannot size the sale of {intent.symbol}: put or call and strike unknown",
                    symbol=intent.symbol,
                )
            return _Cost(opening * terms.strike * unit, opening, terms.strike)
        if intent.security_type is MULTI_LEG and selling:
            strikes = [leg.strike_price for leg in intent.legs if leg.strike_price is not None]
            if len(strikes) < 2 or len(strikes) != len(intent.legs):
                return RiskVerdict.reject(
                    NO_PRICE,
                    f"cannot size the credit spread on {intent.symbol}: leg strikes unknown",
                    symbol=intent.symbol,
                )
            width = max(strikes) - min(strikes)
            qty = open_qty(intent)
            return _Cost(qty * width * unit, qty, width)
        if intent.replaces is not None:
            added = intent.additional_cost
            if added is None:
                return RiskVerdict.reject(
                    NO_PRICE,
                    f"cannot price the replace of {intent.client_order_id}",
                    symbol=intent.symbol,
                )
            return _Cost(added * unit, opening, intent.estimated_price or ZERO)
        priced = price_order(
            intent,
            quotes,
            now_ns,
            buffer_pct=self.config.market_buffer_pct,
            max_quote_age_ns=self._max_quote_age_ns,
        )
        if not isinstance(priced, Priced):
            return priced
        return _Cost(priced.notional(opening), opening, priced.price)
