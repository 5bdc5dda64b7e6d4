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
from engine.model.market import Trade
from engine.model.streams import (
    BookUpdated,
    ChartQuote,
    ChartTrade,
    GreeksUpdated,
    MarketStatusChanged,
    NewsReceived,
    PnlCandleReceived,
    WatchlistChanged,
)

__all__ = [
    "AccountReport",
    "AriesMessage",
    "AuthExpired",
    "AuthFailed",
    "AuthSuccess",
    "ChartUpdate",
    "ErrorMessage",
    "MarketStatus",
    "PnlHistory",
    "Pong",
    "QuoteUpdate",
    "RefreshAuth",
    "Response",
    "Subscribed",
    "TradeUpdate",
    "UnknownMessage",
    "Unsubscribed",
    "WireAccountInfo",
    "WireBalance",
    "WireBalanceExtra",
    "WireCancelResponse",
    "WireChartQuote",
    "WireChartTrade",
    "WireGreeks",
    "WireLeg",
    "WireLevel2",
    "WireNews",
    "WireOrderV1",
    "WireOrderV2",
    "WirePlaceResponse",
    "WirePnlCandle",
    "WirePosition",
    "WirePreviewResponse",
    "WireQuote",
    "WireReplaceResponse",
    "WireTokenResponse",
    "WireTrade",
    "WireUserAccount",
    "WireWatchlistItem",
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


@attrs.frozen(kw_only=True)
class WirePnlCandle:
    """``payload.data`` of a ``pnl.candle`` event (§4.8); ``t`` is read by the decoder (seconds)."""

    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741 - the wire's name
    c: Decimal


@attrs.frozen(kw_only=True)
class WireWatchlistItem:
    """``payload.data`` of a ``watchlist.*`` event (§4.9, INFERRED shape)."""

    watchlist_id: str
    name: str | None = None
    symbol: str | None = None
    position: int | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class WireNews:
    """``payload.data`` of a ``news`` event (§4.9, INFERRED shape)."""

    id: str
    headline: str
    summary: str | None = None
    symbols: tuple[str, ...] | None = None
    topics: tuple[str, ...] | None = None
    source: str | None = None
    url: str | None = None
    published_at: datetime | None = None


@attrs.frozen(kw_only=True)
class WireLevel2:
    """``payload.data`` of a ``level2`` event (§5.6): compact colon-joined rows, parsed later."""

    symbol: str
    order_book: tuple[str, ...] | None = None
    quotes: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class WireGreeks:
    """``payload.data`` of a ``greeks`` event (§5.5, key names INFERRED)."""

    symbol: str
    delta: Decimal | None = None
    gamma: Decimal | None = None
    theta: Decimal | None = None
    vega: Decimal | None = None
    rho: Decimal | None = None
    implied_volatility: Decimal | None = None


@attrs.frozen(kw_only=True)
class WireChartQuote:
    """``payload.quote`` of a charting event (§6, TradingView names, INFERRED)."""

    lp: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    ch: Decimal | None = None
    chp: Decimal | None = None
    open_price: Decimal | None = attrs.field(default=None, metadata=_key("open_price"))
    high_price: Decimal | None = attrs.field(default=None, metadata=_key("high_price"))
    low_price: Decimal | None = attrs.field(default=None, metadata=_key("low_price"))
    prev_close_price: Decimal | None = attrs.field(default=None, metadata=_key("prev_close_price"))
    volume: Decimal | None = None


@attrs.frozen(kw_only=True)
class WireChartTrade:
    """``payload.trade`` of a charting event (§6); ``time`` epoch ms or RFC 3339."""

    price: Decimal
    size: Decimal | None = None
    time: datetime | None = None


@attrs.frozen(kw_only=True)
class WireReplaceResponse:
    """The 200 body of ``POST /v1/orders/replace`` (§8.8)."""

    success: bool | None = None
    cl_ord_id: str | None = None
    orig_cl_ord_id: str | None = None
    status: str | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    text: str | None = None
    transact_time: datetime | None = None


@attrs.frozen(kw_only=True)
class WirePreviewResponse:
    """The 200 body of ``POST /v1/orders/preview`` (§8.9): current variant, documented extras."""

    estimated_cost: Decimal | None = None
    estimated_margin: Decimal | None = None
    commission: Decimal | None = None
    fees: Decimal | None = None
    buying_power_impact: Decimal | None = None
    num_day_trades: int | None = None
    warn_rule_id: str | None = None
    warn_description: str | None = None
    reject_reason: str | None = None
    option_fees: Decimal | None = None
    option_requirement: Decimal | None = None
    option_premium: Decimal | None = None


@attrs.frozen(kw_only=True)
class WireBalanceExtra:
    """The REST-only keys of ``GET /v1/accounts/{id}/balances`` (§8.3)."""

    sod_ttl_equity: Decimal | None = None
    sod_ttl_equity_updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class WireUserAccount:
    """One item of ``GET /v1/users/me/accounts`` (§8.2, snake case)."""

    id: str | None = None
    fdid: str | None = None
    apex_id: str | None = attrs.field(default=None, metadata=_key("apex_id"))
    apex_account_id: str | None = attrs.field(default=None, metadata=_key("apex_account_id"))
    sterling_account_id: str | None = attrs.field(
        default=None, metadata=_key("sterling_account_id")
    )
    status: str | None = None
    is_sim: bool | None = attrs.field(default=None, metadata=_key("is_sim"))
    account_type: str | None = attrs.field(default=None, metadata=_key("account_type"))
    account_class: str | None = attrs.field(default=None, metadata=_key("account_class"))
    created_at: datetime | None = attrs.field(default=None, metadata=_key("created_at"))
    updated_at: datetime | None = attrs.field(default=None, metadata=_key("updated_at"))


@attrs.frozen(kw_only=True, repr=False)
class WireTokenResponse:
    """The 200 body of ``POST /v1/oauth2/token`` (§7.4); never printed (it holds tokens)."""

    access_token: str = attrs.field(metadata=_key("access_token"))
    refresh_token: str | None = attrs.field(default=None, metadata=_key("refresh_token"))
    token_type: str | None = attrs.field(default=None, metadata=_key("token_type"))
    expires_in: int | None = attrs.field(default=None, metadata=_key("expires_in"))
    refresh_token_expires_in: int | None = attrs.field(
        default=None, metadata=_key("refresh_token_expires_in")
    )
    scope: str | None = None

    def __repr__(self) -> str:
        return "WireTokenResponse(***)"


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
    #: The domain event (the decoder always sets it).
    status: MarketStatusChanged | None = None


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
class PnlHistory:
    """A batch of P&L candles: the history replayed after a ``pnl`` subscribe (§4.8, INFERRED
    ``action: "snapshot"`` with an array ``data``). One ``PnlCandleReceived`` per candle."""

    account_id: str
    interval: str
    candles: tuple[PnlCandleReceived, ...]
    snapshot: bool


@attrs.frozen(kw_only=True)
class ChartUpdate:
    """One charting event (§6): a quote and/or a trade of ``symbol``."""

    symbol: str
    quote: ChartQuote | None
    trade: ChartTrade | None


@attrs.frozen(kw_only=True)
class Response:
    """The answer to a socket ``request`` (§5.7): ``data`` is the JSON as sent."""

    id: str | None
    status: int | None
    data: Any = attrs.field(default=None, hash=False)


@attrs.frozen(kw_only=True)
class UnknownMessage:
    """A well-formed message of a type the client does not handle (logged and ignored).

    ``type`` is the envelope type, ``action`` the payload action, ``event_type`` the
    ``payload.type`` (e.g. ``level3``).
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
    | PnlCandleReceived
    | PnlHistory
    | WatchlistChanged
    | NewsReceived
    | BookUpdated
    | GreeksUpdated
    | Trade
    | ChartUpdate
    | Response
    | UnknownMessage
)
