"""Account state: positions, the brief's balance table, account info, and read-only views."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

import attrs

from engine.model.enums import SecurityType, Side, TradingState
from engine.model.orders import Order, OrderIntent

_ZERO = Decimal(0)


@attrs.frozen(kw_only=True)
class Position:
    """One position; ``quantity`` is negative for shorts and zero once closed."""

    account_id: str
    symbol: str
    quantity: Decimal
    avg_price: Decimal = _ZERO
    security_type: SecurityType = SecurityType.EQUITY
    today_realized_pnl: Decimal = _ZERO
    unrealized_pnl: Decimal | None = None
    market_value: Decimal | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class Balance:
    """The brief's balance table, every field, as ``Decimal`` (``pending_orders_count`` an int).

    A field the venue did not send is zero: for buying power that is the safe reading.
    """

    account_id: str
    sod_positions_market_value: Decimal = _ZERO
    net_buying_power: Decimal = _ZERO
    stock_buying_power: Decimal = _ZERO
    day_trade_buying_power: Decimal = _ZERO
    option_buying_power: Decimal = _ZERO
    day_trade_overnight_reg_t_buying_power: Decimal = _ZERO
    total_equity: Decimal = _ZERO
    settled_funds: Decimal = _ZERO
    unsettled_funds: Decimal = _ZERO
    held_back_funds: Decimal = _ZERO
    gross_margin: Decimal = _ZERO
    pending_orders_margin_requirements: Decimal = _ZERO
    maint_req: Decimal = _ZERO
    credit_multiplier: Decimal = _ZERO
    pending_orders_count: int = 0
    credit: Decimal = _ZERO
    credit_remaining: Decimal = _ZERO
    realized_pl: Decimal = _ZERO
    unrealized_pl: Decimal = _ZERO
    sma: Decimal = _ZERO
    sma_credit_remaining: Decimal = _ZERO
    pdt: Decimal = _ZERO
    pdt_credit_remaining: Decimal = _ZERO
    start_of_day_cash: Decimal = _ZERO
    value_bought: Decimal = _ZERO
    value_sold: Decimal = _ZERO


@attrs.frozen(kw_only=True)
class AccountInfo:
    """The account record's fields that can change (type, class, options level, status)."""

    account_id: str
    account_type: str | None = None
    account_class: str | None = None
    options_level: str | None = None
    status: str | None = None


@attrs.frozen(kw_only=True)
class AccountView:
    """An immutable picture of one account, handed to strategies and risk plugins.

    ``reserved_buying_power`` is the cost of orders the engine has sent (or is about to send)
    that the venue's buying power does not reflect yet; ``available_buying_power`` nets it out so
    two quick orders cannot spend the same dollars twice.
    """

    account_id: str
    trading_state: TradingState
    balance: Balance | None
    positions: Mapping[str, Position]
    open_orders: Mapping[str, Order]
    reserved_buying_power: Decimal = _ZERO
    in_flight: Mapping[str, OrderIntent] = attrs.field(factory=lambda: MappingProxyType({}))
    """Approved new orders the venue has not reported yet, by ``client_order_id``: they are in
    no ``open_orders`` entry, but count against every limit (open orders, exposure)."""
    replacing: Mapping[str, OrderIntent] = attrs.field(factory=lambda: MappingProxyType({}))
    """Approved replaces the venue has not answered yet, by ``client_order_id`` (new terms in
    the intent). Until it answers, either terms may be live: limits count the larger."""
    info: AccountInfo | None = None
    as_of_ns: int | None = None
    """Wall-clock time (ns) at which this picture was last known to match the venue's: the
    latest account event applied, or the latest frame heard on the accounts socket, whichever is
    later. ``None`` before anything was heard. Risk checks compare it with a staleness bound."""

    @property
    def available_buying_power(self) -> Decimal:
        """``stockBuyingPower`` minus in-flight reservations (zero when no balance is known)."""
        if self.balance is None:
            return _ZERO
        return self.balance.stock_buying_power - self.reserved_buying_power

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        """The open order our ``client_order_id`` names now (the head of its replace chain)."""
        for order in self.open_orders.values():
            if order.client_order_id == client_order_id:
                return order
        return None

    def position_quantity(self, symbol: str) -> Decimal:
        """Signed quantity held in ``symbol`` (zero if none)."""
        position = self.positions.get(symbol)
        return position.quantity if position is not None else _ZERO

    def exposure(self, symbol: str) -> tuple[Decimal, Decimal]:
        """The signed position ``symbol`` could reach if every working order filled: (low, high).

        Open and in-flight buys raise the high end by their unfilled quantity, sells lower the low
        end.
        """
        held = self.position_quantity(symbol)
        buys = sells = _ZERO
        working = [(o.symbol, o.side, self.committed_qty(o)) for o in self.open_orders.values()]
        working += [(i.symbol, i.side, i.qty) for i in self.in_flight.values()]
        for order_symbol, side, qty in working:
            if order_symbol == symbol:
                if side.is_buy:
                    buys += qty
                else:
                    sells += qty
        return held - sells, held + buys

    def committed_qty(self, order: Order) -> Decimal:
        """An open order's unfilled quantity, or, while a replace of it is unanswered, the larger
        of the old and the new (either may be live at the venue)."""
        pending = self.replacing.get(order.client_order_id or "")
        if pending is None:
            return order.leaves_qty
        return max(order.leaves_qty, pending.qty - order.cum_qty)

    @property
    def working_order_count(self) -> int:
        """Open orders at the venue plus approved orders on their way to it."""
        return len(self.open_orders) + len(self.in_flight)

    def reduces_position(self, symbol: str, side: Side, qty: Decimal) -> bool:
        """True if an order of ``qty`` on ``side`` only shrinks the position (never flips it)."""
        held = self.position_quantity(symbol)
        if side.is_buy:
            return held < 0 and qty <= -held
        return held > 0 and qty <= held
