"""Wire models: what the Aries sockets and REST endpoints send, as frozen attrs classes.

Two kinds of classes live here:

* **Wire data models** (``WireOrderV2``, ``WirePosition``, ``WireBalance`` …) mirror one JSON
  object of ARIES.md field for field. Python names are snake case; the JSON key is the camel-case
  form of the name (``cl_ord_id`` → ``clOrdId``) unless the field's metadata names it
  (``{"wire": "SMA"}``). They are structured by the converter of ``engine.aries.converter``, which
  also resolves the aliases of ``engine.aries.protocol`` (``avgCost`` → ``avgPrice`` …), so a wire
  model only knows the canonical key. Everything optional defaults to ``None``; unknown keys are
  ignored.
* **Message records** (``AuthSuccess``, ``Subscribed``, ``QuoteUpdate`` …) are what
  ``engine.aries.decode`` returns for one line. Account data (``account.order`` etc.) is *not*
  wrapped: the decoder returns the domain reports of ``engine.model.events`` directly
  (``OrderReported``, ``PositionReported``, ``BalanceReported``, ``AccountInfoReported``, and
  ``AccountSnapshotReceived`` for a snapshot sent as its own event). ``AriesMessage`` is the union
  of everything ``decode_message`` can return.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

import attrs

from engine.model.enums import OrderStatus, OrderType, SecurityType, Side, TimeInForce
from engine.model.events import (
    AccountInfoReported,
    AccountSnapshotReceived,
    BalanceReported,
    OrderReported,
    PositionReported,
)

__all__ = [
    "AccountReport",
    "AriesMessage",
    "AuthExpired",
    "AuthFailed",
    "AuthSuccess",
    "ErrorMessage",
    "MarketStatus",
    "Pong",
    "QuoteUpdate",
    "RefreshAuth",
    "Subscribed",
    "TradeUpdate",
    "UnknownMessage",
    "Unsubscribed",
    "WireAccountInfo",
    "WireBalance",
    "WireCancelResponse",
    "WireLeg",
    "WireOrderV1",
    "WireOrderV2",
    "WirePlaceResponse",
    "WirePosition",
    "WireQuote",
    "WireTrade",
    "wire_keys",
]


def _key(name: str) -> dict[str, str]:
    """Field metadata naming a JSON key that is not the camel case of the Python name."""
    return {"wire": name}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@functools.cache
def wire_keys(cls: type) -> Mapping[str, str]:
    """Python attribute name → JSON key, for one wire data model."""
    return {a.name: a.metadata.get("wire", _camel(a.name)) for a in attrs.fields(cls)}


# --- wire data models ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WireLeg:
    """One item of an order's ``legs`` (§4.4, §8.5, §8.6); v1 and v2 share the shape."""

    side: Side
    symbol: str | None = None
    ratio_qty: Decimal | None = None
    position_effect: str | None = None
    security_type: SecurityType | None = None
    put_call: str | None = None
    strike_price: Decimal | None = None
    maturity: date | None = None


@attrs.frozen(kw_only=True)
class WireOrderV2:
    """The v2 order (§4.4 ``account.order`` ``data``, ``ordersV2`` items, §8.5 v2 lists)."""

    cl_ord_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    ord_status: OrderStatus
    ord_id: str | None = None
    account_id: str | None = None
    client_id: str | None = None
    time_in_force: TimeInForce | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    cum_qty: Decimal | None = None
    leaves_qty: Decimal | None = None
    avg_price: Decimal | None = None
    last_qty: Decimal | None = None
    last_px: Decimal | None = None
    currency: str | None = None
    ex_destination: str | None = None
    text: str | None = None
    ord_rej_reason: str | None = None
    security_type: SecurityType | None = None
    category: str | None = None
    legs: tuple[WireLeg, ...] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class WireOrderV1:
    """The legacy v1 order (§8.5; the snapshot's ``orders`` array, §4.3)."""

    cl_ord_id: str
    symbol: str
    side: Side
    order_type: OrderType
    status: OrderStatus
    quantity: Decimal
    order_id: str | None = None
    account_id: str | None = None
    client_id: str | None = None
    tif: TimeInForce | None = None
    filled_qty: Decimal | None = None
    leaves_qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    avg_price: Decimal | None = None
    currency: str | None = None
    destination: str | None = None
    instrument: SecurityType | None = None
    category: str | None = None
    text: str | None = None
    legs: tuple[WireLeg, ...] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class WirePosition:
    """A position (§4.5 ``account.position`` ``data``, snapshot ``positions`` items)."""

    symbol: str
    quantity: Decimal
    account_id: str | None = None
    security_type: SecurityType | None = None
    avg_price: Decimal | None = None
    today_realized_pnl: Decimal | None = attrs.field(
        default=None, metadata=_key("todayRealizedPnL")
    )
    unrealized_pl: Decimal | None = None
    market_value: Decimal | None = None
    put_call: str | None = None
    strike_price: Decimal | None = None
    maturity: date | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class WireBalance:
    """The brief's balance table (§0.1, §4.6), socket spelling; every field optional."""

    account_id: str | None = None
    sod_positions_market_value: Decimal | None = None
    net_buying_power: Decimal | None = None
    stock_buying_power: Decimal | None = None
    day_trade_buying_power: Decimal | None = None
    option_buying_power: Decimal | None = None
    day_trade_overnight_reg_t_buying_power: Decimal | None = None
    total_equity: Decimal | None = None
    settled_funds: Decimal | None = None
    unsettled_funds: Decimal | None = None
    held_back_funds: Decimal | None = None
    gross_margin: Decimal | None = None
    pending_orders_margin_requirements: Decimal | None = None
    maint_req: Decimal | None = None
    credit_multiplier: Decimal | None = None
    pending_orders_count: int | None = None
    credit: Decimal | None = None
    credit_remaining: Decimal | None = None
    realized_pl: Decimal | None = attrs.field(default=None, metadata=_key("realizedPL"))
    unrealized_pl: Decimal | None = attrs.field(default=None, metadata=_key("unRealizedPL"))
    sma: Decimal | None = attrs.field(default=None, metadata=_key("SMA"))
    sma_credit_remaining: Decimal | None = None
    pdt: Decimal | None = attrs.field(default=None, metadata=_key("PDT"))
    pdt_credit_remaining: Decimal | None = None
    start_of_day_cash: Decimal | None = None
    value_bought: Decimal | None = None
    value_sold: Decimal | None = None


@attrs.frozen(kw_only=True)
class WireAccountInfo:
    """The account record's changeable fields (§4.7 ``account.info``, snapshot ``account``)."""

    account_id: str | None = None
    account_type: str | None = None
    account_class: str | None = None
    options_level: str | None = None
    status: str | None = None
    is_sim: bool | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class WireQuote:
    """A (partial) quote, ``payload.data`` of a ``quote`` event (§5.5, §5.6)."""

    symbol: str
    bid_price: Decimal | None = None
    bid_size: Decimal | None = None
    bid_exchange: str | None = None
    ask_price: Decimal | None = None
    ask_size: Decimal | None = None
    ask_exchange: str | None = None
    quote_timestamp: datetime | None = None
    instrument_type: str | None = None


@attrs.frozen(kw_only=True)
class WireTrade:
    """A (partial) last-trade update, ``payload.data`` of a ``trade`` event (§5.5, §5.6)."""

    symbol: str
    last_price: Decimal | None = None
    size: Decimal | None = None
    total_volume: Decimal | None = None
    trade_exchange: str | None = None
    trade_timestamp: datetime | None = None
    trade_seq: int | None = None
    instrument_type: str | None = None


@attrs.frozen(kw_only=True)
class WirePlaceResponse:
    """The 200 body of ``POST /v1/orders`` (§8.6)."""

    success: bool | None = None
    cl_ord_id: str | None = None
    status: OrderStatus | None = None
    text: str | None = None
    ord_rej_reason: str | None = None


@attrs.frozen(kw_only=True)
class WireCancelResponse:
    """The 200 body of ``POST /v1/orders/cancel`` (§8.7)."""

    success: bool | None = None
    cl_ord_id: str | None = None
    orig_cl_ord_id: str | None = None
    status: str | None = None
    text: str | None = None


# --- message records: what decode_message returns -----------------------------------------------


@attrs.frozen(kw_only=True)
class AuthSuccess:
    """``authSuccess`` (§2.3): the session lasts ``expires_in_ms``, until ``expires_at_ms``."""

    id: str | None
    expires_in_ms: int | None
    expires_at_ms: int | None


@attrs.frozen(kw_only=True)
class AuthFailed:
    """The venue refused our token: an error with an auth code (``INVALID_TOKEN``,
    ``TOKEN_REQUIRED``, ``AUTH_REQUIRED``) or an ``authRequired`` action (§2.3, §4.10)."""

    id: str | None
    code: str
    message: str


@attrs.frozen(kw_only=True)
class ErrorMessage:
    """Any other error (§2.7, §4.10); ``code`` is ``""`` when the venue sent none."""

    id: str | None
    code: str
    message: str


@attrs.frozen(kw_only=True)
class Pong:
    """The answer to our ``ping`` (§2.5)."""

    id: str | None


@attrs.frozen(kw_only=True)
class RefreshAuth:
    """The session expires soon: re-authenticate now (§2.4)."""

    expires_in_ms: int | None
    expires_at_ms: int | None


@attrs.frozen(kw_only=True)
class AuthExpired:
    """The session has expired; the server closes the socket next (§2.4)."""


@attrs.frozen(kw_only=True)
class Subscribed:
    """A subscribe ack (§4.2, §5.4). ``snapshot`` is the ``account`` topic's state (§4.3) when
    the ack carries it; ``symbols`` lists a market ack's symbols. ``topic`` uses current names."""

    id: str | None
    topic: str | None
    snapshot: AccountSnapshotReceived | None = None
    symbols: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Unsubscribed:
    """An unsubscribe ack (§4.2, INFERRED)."""

    id: str | None
    topic: str | None


@attrs.frozen(kw_only=True)
class MarketStatus:
    """``marketStatus`` (§5.3): ``market`` is ``"open"``/``"closed"``/…; ``raw`` the whole data."""

    market: str
    raw: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    ts_event: datetime | None = None


@attrs.frozen(kw_only=True)
class QuoteUpdate:
    """A partial quote as sent (§5.6); ``MarketNormalizer.quote`` merges it into a ``Quote``."""

    data: WireQuote
    ts_event: datetime | None
    ts_recv: int


@attrs.frozen(kw_only=True)
class TradeUpdate:
    """A last-trade update as sent (§5.6); ``MarketNormalizer.trade`` turns it into a ``Trade``."""

    data: WireTrade
    ts_event: datetime | None
    ts_recv: int


@attrs.frozen(kw_only=True)
class UnknownMessage:
    """A well-formed message of a type the client does not handle (logged and ignored).

    ``type`` is the envelope type, ``action`` the payload action, ``event_type`` the
    ``payload.type`` (e.g. ``pnl.candle``, ``watchlist.add``, ``level2``).
    """

    type: str | None
    action: str | None
    event_type: str | None = None


AccountReport: TypeAlias = OrderReported | PositionReported | BalanceReported | AccountInfoReported

AriesMessage: TypeAlias = (
    AuthSuccess
    | AuthFailed
    | ErrorMessage
    | Pong
    | RefreshAuth
    | AuthExpired
    | Subscribed
    | Unsubscribed
    | AccountSnapshotReceived
    | OrderReported
    | PositionReported
    | BalanceReported
    | AccountInfoReported
    | MarketStatus
    | QuoteUpdate
    | TradeUpdate
    | UnknownMessage
)
