"""Builders of the canonical JSON the simulator emits (ARIES.md §0.2, §10), one per message.

Each builder is the single home of its message's shape, so an INFERRED layout is corrected in
one function. The simulator is conservative: it emits only these shapes. Decimals go out as
decimal strings, counts as integers, envelope and domain timestamps as RFC 3339 (UTC, ``Z``,
milliseconds), auth-event payload timestamps and expiry values as epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from engine.sim._ledger import (
    OPTION,
    AccountInfo,
    AccountSnapshot,
    AccountUpdate,
    BalanceUpdate,
    BalanceView,
    OrderUpdate,
    OrderView,
    PositionUpdate,
    PositionView,
)
from engine.sim._market import Quote, SymbolSummary, Trade
from engine.sim._options import parse_osi
from engine.sim._profile import (
    ALL_FIELDS,
    AVG_PRICE_DECIMALS,
    HTTP_ERROR_TEXTS,
    MARKET_STATUS_DATA,
    MARKET_TIMESTAMP_TZ,
    ORDER_CATEGORY,
    TEXT_CANCEL_PROCESSED,
    TOPIC_ACCOUNT,
    TOPIC_NEWS,
    TOPIC_PNL,
    TOPIC_WATCHLIST,
    TRAIL_OFFSET_FIELD,
    TRAIL_OFFSET_TYPE_FIELD,
    UNMODELLED_BALANCE_FIELDS,
    V1_STATUS_BY_ORD_STATUS,
)
from engine.sim._requests import FieldProblem
from engine.sim._stream_profile import PNL_SNAPSHOT_ACTION
from engine.sim._streams import WATCHLIST_REMOVE, Candle, NewsItem, WatchlistChange
from engine.sim._vocab import OrderType

JSON = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CENT = Decimal("0.01")
_AVG_QUANTUM = Decimal(1).scaleb(-AVG_PRICE_DECIMALS)

# ---------------------------------------------------------------------------------------------
# Scalars
# ---------------------------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """``2026-01-15T14:30:00.123Z`` (UTC, milliseconds)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def market_time(moment: datetime) -> str:
    """ISO 8601 with offset, as ``quoteTimestamp``/``tradeTimestamp`` (§5.5)."""
    return moment.astimezone(MARKET_TIMESTAMP_TZ).isoformat(timespec="milliseconds")


def epoch_ms(moment: datetime) -> int:
    """Unix epoch milliseconds of an aware datetime."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _no_negative_zero(value: Decimal) -> Decimal:
    return value.copy_abs() if value == 0 else value


def money(value: Decimal) -> str:
    """A money amount to the cent: ``"175.50"``, ``"-12.00"``."""
    return str(_no_negative_zero(value.quantize(_CENT, rounding=ROUND_HALF_EVEN)))


def price(value: Decimal | None) -> str:
    """A price on the grid (``""`` when unset, as the v2 order shows ``stopPrice: ""``)."""
    return "" if value is None else money(value)


def avg_price(value: Decimal | None) -> str:
    """An average price: ``"0"`` before any fill, else at least two, at most four decimals."""
    if value is None or value == 0:
        return "0"
    rounded = _no_negative_zero(value.quantize(_AVG_QUANTUM, rounding=ROUND_HALF_EVEN))
    if rounded == rounded.quantize(_CENT):
        return str(rounded.quantize(_CENT))
    return str(rounded.normalize())


def quantity(value: Decimal) -> str:
    """A quantity: ``"100"``, ``"-40"``, ``"0.5"``."""
    if value == value.to_integral_value():
        return str(int(value))
    return str(value.normalize())


# ---------------------------------------------------------------------------------------------
# Envelopes shared by every socket
# ---------------------------------------------------------------------------------------------


def _with_id(message: JSON, request_id: str | None) -> JSON:
    if request_id is not None:
        message["id"] = request_id
    return message


def auth_success(request_id: str | None, now: datetime, session_ms: int) -> JSON:
    """§0.2 row 2: ``authSuccess`` with the id at the top and in the payload."""
    payload: JSON = {"action": "authSuccess"}
    if request_id is not None:
        payload["id"] = request_id
    payload["data"] = {"expiresIn": session_ms, "expiresAt": epoch_ms(now) + session_ms}
    payload["timestamp"] = epoch_ms(now)
    message: JSON = {"type": "event"}
    _with_id(message, request_id)
    message["payload"] = payload
    return message


def refresh_auth(now: datetime, expires_in_ms: int, expires_at_ms: int) -> JSON:
    """§0.2 row 5 (INFERRED names): the refresh warning."""
    return {
        "type": "event",
        "payload": {
            "action": "refreshAuth",
            "data": {"expiresIn": expires_in_ms, "expiresAt": expires_at_ms},
            "timestamp": epoch_ms(now),
        },
    }


def auth_expired(now: datetime) -> JSON:
    """§0.2 row 6 (INFERRED names): the session is over; the socket closes next."""
    return {"type": "event", "payload": {"action": "authExpired", "timestamp": epoch_ms(now)}}


def error(code: str, text: str, request_id: str | None, now: datetime) -> JSON:
    """§0.2 row 3 / §10 item 3: the canonical socket error."""
    payload: JSON = {"action": "error", "code": code, "error": text}
    if request_id is not None:
        payload["id"] = request_id
    message: JSON = {"type": "error"}
    _with_id(message, request_id)
    message["payload"] = payload
    message["timestamp"] = rfc3339(now)
    return message


def pong(request_id: str | None, now: datetime) -> JSON:
    """§0.2 row 4: the ping reply, on every socket."""
    message: JSON = {"type": "pong"}
    _with_id(message, request_id)
    message["timestamp"] = rfc3339(now)
    return message


# ---------------------------------------------------------------------------------------------
# Accounts socket
# ---------------------------------------------------------------------------------------------


def subscribed(
    request_id: str | None,
    topic: str,
    params: Mapping[str, Any],
    now: datetime,
    payload: JSON | None = None,
) -> JSON:
    """§0.2 row 8 / §4.2: the subscribe reply (the ``account`` topic carries its snapshot)."""
    message: JSON = {"type": "subscribed"}
    _with_id(message, request_id)
    message["topic"] = topic
    message["params"] = dict(params)
    if payload is not None:
        message["payload"] = payload
    message["timestamp"] = rfc3339(now)
    return message


def unsubscribed(
    request_id: str | None, topic: str, params: Mapping[str, Any], now: datetime
) -> JSON:
    """§4.2 (INFERRED): the unsubscribe reply."""
    message: JSON = {"type": "unsubscribed"}
    _with_id(message, request_id)
    message["topic"] = topic
    message["params"] = dict(params)
    message["timestamp"] = rfc3339(now)
    return message


def account_snapshot(snapshot: AccountSnapshot) -> JSON:
    """§4.3: the ``payload`` of the ``account`` subscribe reply."""
    info = snapshot.info
    account: JSON = {
        "accountId": info.account_id,
        "accountType": info.account_type,
        "accountClass": info.account_class,
        "optionsLevel": info.options_level,
        "status": info.status,
    }
    account.update(balance_fields(snapshot.balance))
    return {
        "account": account,
        "positions": [position_data(p) for p in snapshot.positions],
        "orders": [order_v1(o) for o in snapshot.orders],
        "ordersV2": [order_v2(o) for o in snapshot.orders],
    }


def order_v2(
    order: OrderView, last_qty: Decimal | None = None, last_px: Decimal | None = None
) -> JSON:
    """§4.4: a v2 order (``lastQty``/``lastPx`` only on fills).

    ``securityType`` is the instrument's (``EQUITY`` / ``OPTION``); a TRAILING_STOP carries its
    offset fields (``TRAIL_OFFSET_FIELD`` / ``TRAIL_OFFSET_TYPE_FIELD``).
    """
    data: JSON = {
        "clOrdId": order.cl_ord_id,
        "ordId": order.ord_id,
        "accountId": order.account_id,
        "clientId": order.client_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "timeInForce": order.time_in_force,
        "qty": quantity(order.qty),
        "price": price(order.price),
        "stopPrice": price(order.stop_price),
        "ordStatus": order.status.value,
        "cumQty": quantity(order.cum_qty),
        "leavesQty": quantity(order.leaves_qty),
        "avgPrice": avg_price(order.avg_price),
    }
    if last_qty is not None and last_px is not None:
        data["lastQty"] = quantity(last_qty)
        data["lastPx"] = money(last_px)
    data.update(
        {
            "currency": order.currency,
            "exDestination": order.ex_destination,
            "text": order.text,
            "ordRejReason": order.rej_reason,
            "securityType": order.security_type,
            "category": ORDER_CATEGORY,
            "legs": [],
            "createdAt": rfc3339(order.created_at),
            "updatedAt": rfc3339(order.updated_at),
        }
    )
    if order.type is OrderType.TRAILING_STOP and order.trail_offset is not None:
        data[TRAIL_OFFSET_FIELD] = quantity(order.trail_offset)
        data[TRAIL_OFFSET_TYPE_FIELD] = order.trail_offset_type or ""
    return data


def order_v1(order: OrderView) -> JSON:
    """§4.3 / §8.5: a legacy v1 order, for the snapshot's ``orders`` array."""
    return {
        "orderId": order.ord_id,
        "clOrdId": order.cl_ord_id,
        "accountId": order.account_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "orderType": order.type.value,
        "status": V1_STATUS_BY_ORD_STATUS[order.status.value],
        "tif": order.time_in_force,
        "quantity": quantity(order.qty),
        "filledQty": quantity(order.cum_qty),
        "leavesQty": quantity(order.leaves_qty),
        "price": price(order.price),
        "stopPrice": price(order.stop_price),
        "avgPrice": avg_price(order.avg_price),
        "createdAt": rfc3339(order.created_at),
        "updatedAt": rfc3339(order.updated_at),
    }


def _option_fields(symbol: str) -> JSON:
    contract = parse_osi(symbol)
    if contract is None:
        return {}
    return {
        "putCall": contract.put_call,
        "strikePrice": money(contract.strike),
        "maturity": contract.expiry.isoformat(),
        "underlying": contract.underlying,
    }


def position_data(position: PositionView) -> JSON:
    """§4.5: a position with the primary fields, their aliases and (options) the contract's
    ``putCall``/``strikePrice``/``maturity``/``underlying``."""
    data: JSON = {
        "accountId": position.account_id,
        "symbol": position.symbol,
        "securityType": position.security_type,
        "instrument": position.security_type,
        "quantity": quantity(position.quantity),
        "avgPrice": avg_price(position.avg_price),
        "avgCost": avg_price(position.avg_price),
        "todayRealizedPnL": money(position.today_realized_pnl),
        "realizedPL": money(position.today_realized_pnl),
        "unrealizedPl": money(position.unrealized_pnl),
        "marketValue": money(position.market_value),
        "createdAt": rfc3339(position.created_at),
        "updatedAt": rfc3339(position.updated_at),
    }
    if position.security_type == OPTION:
        data.update(_option_fields(position.symbol))
    return data


def balance_fields(balance: BalanceView) -> JSON:
    """§4.6 / §0.1: the brief's whole balance table (socket spelling), minus ``accountId``."""
    fields: JSON = {
        "sodPositionsMarketValue": money(balance.sod_positions_market_value),
        "netBuyingPower": money(balance.net_buying_power),
        "stockBuyingPower": money(balance.stock_buying_power),
        "dayTradeBuyingPower": money(balance.day_trade_buying_power),
        "optionBuyingPower": money(balance.option_buying_power),
        "dayTradeOvernightRegTBuyingPower": money(balance.day_trade_overnight_reg_t_buying_power),
        "totalEquity": money(balance.total_equity),
        "settledFunds": money(balance.settled_funds),
        "unsettledFunds": money(balance.unsettled_funds),
        "heldBackFunds": money(balance.held_back_funds),
        "grossMargin": money(balance.gross_margin),
        "pendingOrdersMarginRequirements": money(balance.pending_orders_margin_requirements),
        "maintReq": money(balance.maint_req),
        "creditMultiplier": quantity(balance.credit_multiplier),
        "pendingOrdersCount": balance.pending_orders_count,
        "realizedPL": money(balance.realized_pl),
        "unRealizedPL": money(balance.unrealized_pl),
        "startOfDayCash": money(balance.start_of_day_cash),
        "valueBought": money(balance.value_bought),
        "valueSold": money(balance.value_sold),
    }
    fields.update(dict.fromkeys(UNMODELLED_BALANCE_FIELDS, "0"))
    return fields


def balance_data(balance: BalanceView) -> JSON:
    """§4.6: the ``data`` of an ``account.balance`` event (full object every time)."""
    data: JSON = {"accountId": balance.account_id}
    data.update(balance_fields(balance))
    return data


def _account_envelope(kind: str, account_id: str, data: JSON, now: datetime) -> JSON:
    return {
        "type": "event",
        "topic": TOPIC_ACCOUNT,
        "payload": {"action": "update", "type": kind, "accountId": account_id, "data": data},
        "timestamp": rfc3339(now),
    }


def account_event(update: AccountUpdate, now: datetime) -> JSON:
    """§0.2 rows 9-11: an ``account.order`` / ``account.position`` / ``account.balance`` event."""
    kind: str
    data: JSON
    if isinstance(update, OrderUpdate):
        kind, data = "account.order", order_v2(update.order, update.last_qty, update.last_px)
    elif isinstance(update, PositionUpdate):
        kind, data = "account.position", position_data(update.position)
    elif isinstance(update, BalanceUpdate):
        kind, data = "account.balance", balance_data(update.balance)
    else:  # pragma: no cover - exhaustive
        raise TypeError(f"unknown account update {update!r}")
    return _account_envelope(kind, update.account_id, data, now)


def account_info_event(info: AccountInfo, now: datetime) -> JSON:
    """§0.2 row 12 / §4.7 (INFERRED data): the account fields that can change."""
    data: JSON = {
        "accountId": info.account_id,
        "status": info.status,
        "accountType": info.account_type,
        "accountClass": info.account_class,
        "optionsLevel": info.options_level,
        "isSim": True,
        "updatedAt": rfc3339(now),
    }
    return _account_envelope("account.info", info.account_id, data, now)


def pnl_candle_data(candle: Candle) -> JSON:
    """§4.8: ``{t, o, h, l, c}`` (``t`` Unix seconds, values decimal strings)."""
    return {
        "t": candle.t,
        "o": money(candle.open),
        "h": money(candle.high),
        "l": money(candle.low),
        "c": money(candle.close),
    }


def _pnl_event(
    action: str, account_id: str, interval: str, data: JSON | list[JSON], now: datetime
) -> JSON:
    return {
        "type": "event",
        "topic": TOPIC_PNL,
        "payload": {
            "action": action,
            "type": "pnl.candle",
            "accountId": account_id,
            "interval": interval,
            "data": data,
        },
        "timestamp": rfc3339(now),
    }


def pnl_snapshot(account_id: str, interval: str, candles: Iterable[Candle], now: datetime) -> JSON:
    """§4.8 (INFERRED): the history since ``startTime`` as one event with a ``data`` array."""
    data = [pnl_candle_data(c) for c in candles]
    return _pnl_event(PNL_SNAPSHOT_ACTION, account_id, interval, data, now)


def pnl_candle(account_id: str, interval: str, candle: Candle, now: datetime) -> JSON:
    """§0.2 row 13: a live update of the open bucket."""
    return _pnl_event("update", account_id, interval, pnl_candle_data(candle), now)


def watchlist_event(change: WatchlistChange, now: datetime) -> JSON:
    """§0.2 row 14 / §4.9: ``watchlist.add|update|remove`` (remove: id and symbol only)."""
    data: JSON = {"watchlistId": change.watchlist_id}
    if change.kind == WATCHLIST_REMOVE:
        if change.symbol is not None:
            data["symbol"] = change.symbol
    else:
        data["name"] = change.name
        if change.symbol is not None:
            data["symbol"] = change.symbol
        if change.position is not None:
            data["position"] = change.position
        data["updatedAt"] = rfc3339(now)
    return {
        "type": "event",
        "topic": TOPIC_WATCHLIST,
        "payload": {"action": "update", "type": change.kind, "data": data},
        "timestamp": rfc3339(now),
    }


def news_event(item: NewsItem, now: datetime) -> JSON:
    """§0.2 row 15 / §4.9: one news story."""
    return {
        "type": "event",
        "topic": TOPIC_NEWS,
        "payload": {
            "action": "update",
            "type": "news",
            "data": {
                "id": item.id,
                "headline": item.headline,
                "summary": item.summary,
                "symbols": list(item.symbols),
                "topics": list(item.topics),
                "source": item.source,
                "url": item.url,
                "publishedAt": rfc3339(item.published_at),
            },
        },
        "timestamp": rfc3339(now),
    }


# ---------------------------------------------------------------------------------------------
# Market socket
# ---------------------------------------------------------------------------------------------


def _market_event(kind: str, data: JSON, now: datetime) -> JSON:
    return {
        "type": "event",
        "payload": {"action": "update", "type": kind, "data": data, "timestamp": epoch_ms(now)},
    }


def market_status(now: datetime, values: Mapping[str, Any] | None = None) -> JSON:
    """§5.3 (VERIFIED shape): pushed once after auth, then on every change."""
    data: JSON = dict(MARKET_STATUS_DATA if values is None else values)
    data["serverTime"] = rfc3339(now)
    return _market_event("marketStatus", data, now)


def level2_event(symbol: str, book: list[str], quotes: list[str], now: datetime) -> JSON:
    """§5.6 (VERIFIED compact rows): ``orderBook`` and ``quotes`` of one symbol."""
    return _market_event("level2", {"symbol": symbol, "orderBook": book, "quotes": quotes}, now)


def time_and_sales_event(trade: Trade, now: datetime, fields: frozenset[str]) -> JSON | None:
    """§5.6 (INFERRED): one print of the time & sales tape."""
    data = _select(
        {
            "symbol": trade.symbol,
            "price": money(trade.price),
            "size": str(trade.size),
            "tradeExchange": trade.exchange,
            "tradeTimestamp": market_time(now),
            "tradeSeq": trade.seq,
        },
        fields,
    )
    return _market_event("timeAndSales", data, now) if len(data) > 1 else None


def greeks_event(
    symbol: str, greeks: Mapping[str, str], now: datetime, fields: frozenset[str]
) -> JSON | None:
    """§5.6 (INFERRED): greeks of one option contract (decimal strings)."""
    data = _select({"symbol": symbol, **greeks}, fields)
    return _market_event("greeks", data, now) if len(data) > 1 else None


def market_subscribed(request_id: str | None, symbols: Iterable[str]) -> JSON:
    """§5.4 (INFERRED): the market subscribe ack."""
    message: JSON = {"type": "subscribed"}
    _with_id(message, request_id)
    message["payload"] = {"symbols": list(symbols)}
    return message


def market_unsubscribed(request_id: str | None, symbols: Iterable[str]) -> JSON:
    """§5.4 (INFERRED, mirrors the ack): the market unsubscribe reply."""
    message: JSON = {"type": "unsubscribed"}
    _with_id(message, request_id)
    message["payload"] = {"symbols": list(symbols)}
    return message


def _select(data: JSON, fields: frozenset[str]) -> JSON:
    if ALL_FIELDS in fields:
        return data
    return {k: v for k, v in data.items() if k == "symbol" or k in fields}


def quote_event(quote: Quote, now: datetime, fields: frozenset[str]) -> JSON | None:
    """§5.6 (INFERRED): a quote event with the subscribed fields (``None`` if none apply)."""
    data = _select(
        {
            "symbol": quote.symbol,
            "bidPrice": money(quote.bid),
            "bidSize": str(quote.bid_size),
            "askPrice": money(quote.ask),
            "askSize": str(quote.ask_size),
            "quoteTimestamp": market_time(now),
        },
        fields,
    )
    return _market_event("quote", data, now) if len(data) > 1 else None


def trade_event(trade: Trade, now: datetime, fields: frozenset[str]) -> JSON | None:
    """§5.6 (INFERRED): a trade event with the subscribed fields (``None`` if none apply)."""
    data = _select(
        {
            "symbol": trade.symbol,
            "lastPrice": money(trade.price),
            "size": str(trade.size),
            "totalVolume": str(trade.total_volume),
            "tradeExchange": trade.exchange,
            "tradeTimestamp": market_time(now),
            "tradeSeq": trade.seq,
        },
        fields,
    )
    return _market_event("trade", data, now) if len(data) > 1 else None


# ---------------------------------------------------------------------------------------------
# Charts socket
# ---------------------------------------------------------------------------------------------


def chart_subscribed(request_id: str | None, symbol: str, now: datetime) -> JSON:
    """§6 (INFERRED): the charts subscribe ack."""
    message: JSON = {"type": "subscribed"}
    _with_id(message, request_id)
    message["payload"] = {"symbol": symbol}
    message["timestamp"] = rfc3339(now)
    return message


def chart_unsubscribed(request_id: str | None, symbol: str, now: datetime) -> JSON:
    """§6 (INFERRED): the charts unsubscribe reply."""
    message: JSON = {"type": "unsubscribed"}
    _with_id(message, request_id)
    message["payload"] = {"symbol": symbol}
    message["timestamp"] = rfc3339(now)
    return message


def chart_event(quote: Quote, summary: SymbolSummary, trade: Trade | None, now: datetime) -> JSON:
    """§6 (INFERRED): TradingView-style quote (and trade) values as JSON numbers."""
    change = summary.last - summary.prev_close
    payload: JSON = {
        "symbol": quote.symbol,
        "quote": {
            "lp": float(summary.last),
            "bid": float(quote.bid),
            "ask": float(quote.ask),
            "ch": float(change),
            "chp": float((change / summary.prev_close * 100).quantize(_CENT))
            if summary.prev_close
            else 0.0,
            "open_price": float(summary.open),
            "high_price": float(summary.high),
            "low_price": float(summary.low),
            "prev_close_price": float(summary.prev_close),
            "volume": summary.volume,
        },
    }
    if trade is not None:
        payload["trade"] = {"price": float(trade.price), "size": trade.size, "time": epoch_ms(now)}
    return {"type": "event", "timestamp": rfc3339(now), "payload": payload}


# ---------------------------------------------------------------------------------------------
# REST
# ---------------------------------------------------------------------------------------------


def order_ack(order: OrderView, accepted: bool, now: datetime) -> JSON:
    """§8.6: the place-order acknowledgement (``success: false`` for a business rejection)."""
    return {
        "success": accepted,
        "clOrdId": order.cl_ord_id,
        "status": order.status.value,
        "symbol": order.symbol,
        "side": order.side.value,
        "qty": quantity(order.qty),
        "cumQty": quantity(order.cum_qty),
        "leavesQty": quantity(order.leaves_qty),
        "avgPrice": avg_price(order.avg_price),
        "text": order.text,
        "ordRejReason": order.rej_reason,
        "transactTime": rfc3339(now),
    }


def cancel_ack(cancel_cl_ord_id: str, order: OrderView) -> JSON:
    """§8.7: the cancel response (a new ``clOrdId`` for the cancel request itself)."""
    return {
        "success": True,
        "clOrdId": cancel_cl_ord_id,
        "origClOrdId": order.cl_ord_id,
        "status": order.status.value,
        "text": TEXT_CANCEL_PROCESSED,
    }


def http_error(status: int, codes: Iterable[FieldProblem]) -> JSON:
    """§8.11: ``{"error", "codes": [{code, description, field?}], "metadata": {}}``."""
    items: list[JSON] = []
    for problem in codes:
        item: JSON = {"code": problem.code, "description": problem.description}
        if problem.field:
            item["field"] = problem.field
        items.append(item)
    return {"error": HTTP_ERROR_TEXTS.get(status, "error"), "codes": items, "metadata": {}}
