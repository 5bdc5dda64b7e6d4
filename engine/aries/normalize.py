"""Normalizers: wire models → domain model (``engine.model``).

Pure functions, no I/O. The decoder calls the account ones for every ``account.*`` event and
snapshot, so account data leaves ``engine.aries.decode`` already normalized. Market data is
normalized by a ``MarketNormalizer`` the connection keeps, because Aries sends only the quote
fields that changed (§5.6) and a ``Quote`` must carry the latest known value of each field.

Rules applied here (the alias *tables* live in ``engine.aries.protocol``):

* ``client_order_id`` is the wire ``clientId``; ``venue_order_id`` is ``ordId`` (v1
  ``orderId``).
* Unset quantities (``cumQty``/``leavesQty``/``avgPrice`` absent or ``""``) are zero; unset prices
  stay ``None``; a missing ``timeInForce`` is ``DAY``.
* An order without ``securityType`` is classified by its legs (§8.6: 0 legs equity, 1 option leg
  a single option, 2-4 legs a spread); a leg without ``symbol`` takes the order's.
* Balance fields the venue did not send are zero (the domain's safe reading).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from engine.aries import protocol
from engine.aries.wire import (
    QuoteUpdate,
    TradeUpdate,
    WireAccountInfo,
    WireBalance,
    WireLeg,
    WireOrderV1,
    WireOrderV2,
    WirePosition,
)
from engine.errors import ProtocolError
from engine.model.account import AccountInfo, Balance, Position
from engine.model.enums import SecurityType, TimeInForce
from engine.model.market import Quote, Trade
from engine.model.orders import Order, OrderLeg

__all__ = [
    "MarketNormalizer",
    "account_info_from_wire",
    "balance_from_wire",
    "leg_from_wire",
    "order_from_v1",
    "order_from_v2",
    "position_from_wire",
]

_ZERO = protocol.ZERO
_ONE = Decimal(1)


def _or_zero(value: Decimal | None) -> Decimal:
    return _ZERO if value is None else value


def _blank_to_none(value: str | None) -> str | None:
    return value or None


def leg_from_wire(leg: WireLeg, *, order_symbol: str) -> OrderLeg:
    """One order leg; ``C``/``P`` and ``O``/``C`` short forms are spelled out."""
    put_call = _blank_to_none(leg.put_call)
    position_effect = _blank_to_none(leg.position_effect)
    return OrderLeg(
        symbol=leg.symbol or order_symbol,
        side=leg.side,
        ratio_qty=_ONE if leg.ratio_qty is None else leg.ratio_qty,
        position_effect=(
            None
            if position_effect is None
            else protocol.POSITION_EFFECT_ALIASES.get(position_effect, position_effect)
        ),
        security_type=SecurityType.OPTION if leg.security_type is None else leg.security_type,
        put_call=None if put_call is None else protocol.PUT_CALL_ALIASES.get(put_call, put_call),
        strike_price=leg.strike_price,
        maturity=leg.maturity,
    )


def _security_type(declared: SecurityType | None, legs: tuple[OrderLeg, ...]) -> SecurityType:
    if declared is not None:
        return declared
    if len(legs) >= 2:
        return SecurityType.MULTI_LEG
    if len(legs) == 1 and legs[0].security_type is SecurityType.OPTION:
        return SecurityType.OPTION
    return SecurityType.EQUITY


def order_from_v2(wire: WireOrderV2, *, account_id: str) -> Order:
    """A v2 order (§4.4) as the domain ``Order``; ``account_id`` is the resolved account."""
    legs = tuple(leg_from_wire(leg, order_symbol=wire.symbol) for leg in wire.legs or ())
    return Order(
        account_id=account_id,
        cl_ord_id=wire.cl_ord_id,
        symbol=wire.symbol,
        side=wire.side,
        type=wire.type,
        qty=wire.qty,
        status=wire.ord_status,
        venue_order_id=_blank_to_none(wire.ord_id),
        client_order_id=_blank_to_none(wire.client_id),
        time_in_force=TimeInForce.DAY if wire.time_in_force is None else wire.time_in_force,
        price=wire.price,
        stop_price=wire.stop_price,
        cum_qty=_or_zero(wire.cum_qty),
        leaves_qty=_or_zero(wire.leaves_qty),
        avg_price=_or_zero(wire.avg_price),
        last_qty=wire.last_qty,
        last_px=wire.last_px,
        security_type=_security_type(wire.security_type, legs),
        legs=legs,
        text=wire.text or "",
        reject_reason=wire.ord_rej_reason or "",
        created_at=wire.created_at,
        updated_at=wire.updated_at,
    )


def order_from_v1(wire: WireOrderV1, *, account_id: str) -> Order:
    """A legacy v1 order (§8.5) as the domain ``Order`` (``WORKING`` is already ``NEW``)."""
    legs = tuple(leg_from_wire(leg, order_symbol=wire.symbol) for leg in wire.legs or ())
    return Order(
        account_id=account_id,
        cl_ord_id=wire.cl_ord_id,
        symbol=wire.symbol,
        side=wire.side,
        type=wire.order_type,
        qty=wire.quantity,
        status=wire.status,
        venue_order_id=_blank_to_none(wire.order_id),
        client_order_id=_blank_to_none(wire.client_id),
        time_in_force=TimeInForce.DAY if wire.tif is None else wire.tif,
        price=wire.price,
        stop_price=wire.stop_price,
        cum_qty=_or_zero(wire.filled_qty),
        leaves_qty=_or_zero(wire.leaves_qty),
        avg_price=_or_zero(wire.avg_price),
        security_type=_security_type(wire.instrument, legs),
        legs=legs,
        text=wire.text or "",
        created_at=wire.created_at,
        updated_at=wire.updated_at,
    )


def position_from_wire(wire: WirePosition, *, account_id: str) -> Position:
    """A position (§4.5); aliases (``avgCost``, ``realizedPL``, ``instrument``) already resolved."""
    return Position(
        account_id=account_id,
        symbol=wire.symbol,
        quantity=wire.quantity,
        avg_price=_or_zero(wire.avg_price),
        security_type=SecurityType.EQUITY if wire.security_type is None else wire.security_type,
        today_realized_pnl=_or_zero(wire.today_realized_pnl),
        unrealized_pnl=wire.unrealized_pl,
        market_value=wire.market_value,
        updated_at=wire.updated_at,
    )


def balance_from_wire(wire: WireBalance, *, account_id: str) -> Balance:
    """The balance table (§0.1, §4.6); fields not sent are zero."""
    return Balance(
        account_id=account_id,
        sod_positions_market_value=_or_zero(wire.sod_positions_market_value),
        net_buying_power=_or_zero(wire.net_buying_power),
        stock_buying_power=_or_zero(wire.stock_buying_power),
        day_trade_buying_power=_or_zero(wire.day_trade_buying_power),
        option_buying_power=_or_zero(wire.option_buying_power),
        day_trade_overnight_reg_t_buying_power=_or_zero(
            wire.day_trade_overnight_reg_t_buying_power
        ),
        total_equity=_or_zero(wire.total_equity),
        settled_funds=_or_zero(wire.settled_funds),
        unsettled_funds=_or_zero(wire.unsettled_funds),
        held_back_funds=_or_zero(wire.held_back_funds),
        gross_margin=_or_zero(wire.gross_margin),
        pending_orders_margin_requirements=_or_zero(wire.pending_orders_margin_requirements),
        maint_req=_or_zero(wire.maint_req),
        credit_multiplier=_or_zero(wire.credit_multiplier),
        pending_orders_count=0 if wire.pending_orders_count is None else wire.pending_orders_count,
        credit=_or_zero(wire.credit),
        credit_remaining=_or_zero(wire.credit_remaining),
        realized_pl=_or_zero(wire.realized_pl),
        unrealized_pl=_or_zero(wire.unrealized_pl),
        sma=_or_zero(wire.sma),
        sma_credit_remaining=_or_zero(wire.sma_credit_remaining),
        pdt=_or_zero(wire.pdt),
        pdt_credit_remaining=_or_zero(wire.pdt_credit_remaining),
        start_of_day_cash=_or_zero(wire.start_of_day_cash),
        value_bought=_or_zero(wire.value_bought),
        value_sold=_or_zero(wire.value_sold),
    )


def account_info_from_wire(wire: WireAccountInfo, *, account_id: str) -> AccountInfo:
    """The account record's changeable fields (§4.7)."""
    return AccountInfo(
        account_id=account_id,
        account_type=_blank_to_none(wire.account_type),
        account_class=_blank_to_none(wire.account_class),
        options_level=_blank_to_none(wire.options_level),
        status=_blank_to_none(wire.status),
    )


@attrs.define(eq=False)
class MarketNormalizer:
    """Turns partial market updates into complete ``Quote``/``Trade`` events, per symbol.

    One per market connection, driven by its reader task (not thread-safe, no awaits). Call
    ``reset()`` after a reconnect if stale values must not leak into the first new quotes
    (Aries re-sends a last-known snapshot on subscribe, §5.4).
    """

    _quotes: dict[str, Quote] = attrs.field(factory=dict, init=False)
    _trades: dict[str, Trade] = attrs.field(factory=dict, init=False)

    def quote(self, update: QuoteUpdate) -> Quote:
        """Merge ``update`` into the symbol's last quote; every side keeps its latest value."""
        data = update.data
        ts_event: datetime | None = data.quote_timestamp or update.ts_event
        previous = self._quotes.get(data.symbol)
        if previous is None:
            quote = Quote(
                symbol=data.symbol,
                bid=data.bid_price,
                ask=data.ask_price,
                bid_size=data.bid_size,
                ask_size=data.ask_size,
                ts_event=ts_event,
                ts_recv=update.ts_recv,
            )
        else:
            quote = Quote(
                symbol=data.symbol,
                bid=previous.bid if data.bid_price is None else data.bid_price,
                ask=previous.ask if data.ask_price is None else data.ask_price,
                bid_size=previous.bid_size if data.bid_size is None else data.bid_size,
                ask_size=previous.ask_size if data.ask_size is None else data.ask_size,
                ts_event=ts_event,
                ts_recv=update.ts_recv,
            )
        self._quotes[data.symbol] = quote
        return quote

    def trade(self, update: TradeUpdate) -> Trade:
        """The print in ``update``. A partial update without a price (e.g. only ``totalVolume``
        changed) reuses the symbol's last known price and volume.

        Raises:
            ProtocolError: no price in the update and none known for the symbol yet.
        """
        data = update.data
        previous = self._trades.get(data.symbol)
        price = data.last_price
        if price is None:
            if previous is None:
                raise ProtocolError(
                    protocol.EVENT_TRADE,
                    "payload.data.lastPrice",
                    "no price in the update and none known for the symbol",
                )
            price = previous.price
        total_volume = data.total_volume
        if total_volume is None and previous is not None:
            total_volume = previous.total_volume
        trade = Trade(
            symbol=data.symbol,
            price=price,
            size=data.size,
            total_volume=total_volume,
            exchange=_blank_to_none(data.trade_exchange),
            sequence=data.trade_seq,
            ts_event=data.trade_timestamp or update.ts_event,
            ts_recv=update.ts_recv,
        )
        self._trades[data.symbol] = trade
        return trade

    def latest_quote(self, symbol: str) -> Quote | None:
        """The last ``Quote`` emitted for ``symbol``, if any."""
        return self._quotes.get(symbol)

    def reset(self, symbol: str | None = None) -> None:
        """Forget merged state for ``symbol`` (or for every symbol)."""
        if symbol is None:
            self._quotes.clear()
            self._trades.clear()
        else:
            self._quotes.pop(symbol, None)
            self._trades.pop(symbol, None)
