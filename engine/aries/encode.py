"""Client → server messages, as compact JSON text in the canonical shapes of ARIES.md §0.2.

Every function returns the text to send as one WebSocket text frame. The shapes come from the
tables of ``engine.aries.protocol`` (rows 1, 4, 7, 16 and 17 of the §0.2 catalogue).

The auth request necessarily contains the access token: never log its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from engine.aries import protocol

__all__ = [
    "MarketSubscription",
    "auth_request",
    "ping",
    "subscribe_account",
    "subscribe_chart",
    "subscribe_market",
    "subscribe_news",
    "subscribe_pnl",
    "subscribe_watchlist",
    "unsubscribe_account",
    "unsubscribe_chart",
    "unsubscribe_market",
    "unsubscribe_topic",
]

_OSI = re.compile(protocol.OSI_SYMBOL_PATTERN)

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def _dumps(message: dict[str, Any]) -> str:
    return _encode(message)


def auth_request(request_id: str, token: str) -> str:
    """``POST /auth`` with the access token (§2.3); the body always has ``action`` and ``token``."""
    return _dumps(
        {
            "type": protocol.TYPE_REQUEST,
            "id": request_id,
            "payload": {
                "method": protocol.AUTH_METHOD,
                "path": protocol.AUTH_PATH,
                "body": {"action": protocol.AUTH_BODY_ACTION, "token": token},
            },
        }
    )


def ping(request_id: str) -> str:
    """A keep-alive ping (§2.5); the server echoes ``id`` on its pong."""
    return _dumps({"type": protocol.TYPE_PING, "id": request_id})


def _account_message(kind: str, request_id: str, account_id: str) -> str:
    if not account_id:
        raise ValueError("account_id must not be empty")
    return _dumps(
        {
            "type": kind,
            "id": request_id,
            "topic": protocol.TOPIC_ACCOUNT,
            "params": {protocol.ACCOUNT_ID_PARAM: account_id},
        }
    )


def subscribe_account(request_id: str, account_id: str) -> str:
    """Subscribe to the ``account`` topic of one account (§4.2); the reply carries a snapshot."""
    return _account_message(protocol.TYPE_SUBSCRIBE, request_id, account_id)


def unsubscribe_account(request_id: str, account_id: str) -> str:
    """Stop the ``account`` topic of one account (§4.2)."""
    return _account_message(protocol.TYPE_UNSUBSCRIBE, request_id, account_id)


def _symbols(symbols: Sequence[str]) -> list[str]:
    if isinstance(symbols, str):
        raise TypeError("symbols must be a sequence of strings, not one string")
    if not symbols:
        raise ValueError("symbols must not be empty")
    return list(dict.fromkeys(symbols))


@attrs.frozen(kw_only=True)
class MarketSubscription:
    """What to stream for one market symbol (§5.4), beyond all quote and trade fields.

    ``symbol_type`` ``None`` means: ``"option"`` for an OSI symbol, else the venue's default
    (equity). ``greeks`` applies to options only (§5.4).
    """

    symbol: str
    level2: bool = False
    time_and_sales: bool = False
    greeks: bool = False
    symbol_type: str | None = None


def _market_item(item: MarketSubscription) -> dict[str, Any]:
    entry: dict[str, Any] = {"symbol": item.symbol}
    symbol_type = item.symbol_type
    if symbol_type is None and _OSI.fullmatch(item.symbol):
        symbol_type = protocol.SYMBOL_TYPE_OPTION
    if symbol_type is not None:
        entry["symbolType"] = symbol_type
    entry.update({key: list(value) for key, value in protocol.MARKET_SUBSCRIBE_FIELDS.items()})
    if item.time_and_sales:
        entry[protocol.MARKET_TIME_AND_SALES_FIELDS_KEY] = list(protocol.MARKET_ALL_FIELDS)
    if item.greeks:
        entry[protocol.MARKET_GREEKS_FIELDS_KEY] = list(protocol.MARKET_ALL_FIELDS)
    if item.level2:
        entry[protocol.MARKET_LEVEL2_KEY] = True
    return entry


def subscribe_market(
    request_id: str,
    symbols: Sequence[str | MarketSubscription],
    *,
    level2: bool = False,
    time_and_sales: bool = False,
    greeks: bool = False,
    symbol_type: str | None = None,
) -> str:
    """Subscribe to all quote and trade fields of ``symbols`` (§5.4); duplicates are dropped.

    A plain symbol takes the keyword defaults; a ``MarketSubscription`` says per symbol whether
    to add level 2, time and sales, greeks and a ``symbolType``. OSI symbols get
    ``symbolType: "option"`` unless told otherwise.
    """
    if isinstance(symbols, str):
        raise TypeError("symbols must be a sequence of strings, not one string")
    if not symbols:
        raise ValueError("symbols must not be empty")
    items: dict[str, MarketSubscription] = {}
    for entry in symbols:
        item = (
            entry
            if isinstance(entry, MarketSubscription)
            else MarketSubscription(
                symbol=entry,
                level2=level2,
                time_and_sales=time_and_sales,
                greeks=greeks,
                symbol_type=symbol_type,
            )
        )
        if not item.symbol:
            raise ValueError("symbol must not be empty")
        items.setdefault(item.symbol, item)
    return _dumps(
        {
            "type": protocol.TYPE_SUBSCRIBE,
            "id": request_id,
            "payload": [_market_item(item) for item in items.values()],
        }
    )


def unsubscribe_market(request_id: str, symbols: Sequence[str]) -> str:
    """Unsubscribe ``symbols`` (§5.4, INFERRED mirror of subscribe)."""
    return _dumps(
        {
            "type": protocol.TYPE_UNSUBSCRIBE,
            "id": request_id,
            "payload": [{"symbol": symbol} for symbol in _symbols(symbols)],
        }
    )


# --- accounts socket: pnl, watchlist, news (§4.2) -----------------------------------------------


def _rfc3339(when: datetime) -> str:
    if when.utcoffset() is None:
        raise ValueError("start_time must be timezone-aware")
    text = when.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def subscribe_pnl(
    request_id: str, account_id: str, start_time: datetime, interval: str | None = None
) -> str:
    """Subscribe to P&L candles of one account from ``start_time`` (§4.2, §4.8).

    ``interval`` is one of ``protocol.PNL_INTERVALS``; omitted, the venue uses ``1m``.

    Raises:
        ValueError: empty ``account_id``, naive ``start_time`` or an interval not allowed.
    """
    if not account_id:
        raise ValueError("account_id must not be empty")
    params: dict[str, Any] = {
        protocol.ACCOUNT_ID_PARAM: account_id,
        protocol.PNL_START_TIME_PARAM: _rfc3339(start_time),
    }
    if interval is not None:
        if interval not in protocol.PNL_INTERVALS:
            raise ValueError(f"interval {interval!r} not in {', '.join(protocol.PNL_INTERVALS)}")
        params[protocol.PNL_INTERVAL_PARAM] = interval
    return _dumps(
        {
            "type": protocol.TYPE_SUBSCRIBE,
            "id": request_id,
            "topic": protocol.TOPIC_PNL,
            "params": params,
        }
    )


def subscribe_watchlist(request_id: str) -> str:
    """Subscribe to the user's watchlist changes (§4.2: user-level, no params)."""
    return _dumps(
        {"type": protocol.TYPE_SUBSCRIBE, "id": request_id, "topic": protocol.TOPIC_WATCHLIST}
    )


def _strings(name: str, values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence of strings, not one string")
    return list(dict.fromkeys(values))


def subscribe_news(
    request_id: str,
    symbols: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
) -> str:
    """Subscribe to news (§4.2), optionally filtered; with no filter ``params`` is omitted."""
    params: dict[str, Any] = {}
    if symbols:
        params[protocol.NEWS_SYMBOLS_PARAM] = _strings("symbols", symbols)
    if topics:
        params[protocol.NEWS_TOPICS_PARAM] = _strings("topics", topics)
    message: dict[str, Any] = {
        "type": protocol.TYPE_SUBSCRIBE,
        "id": request_id,
        "topic": protocol.TOPIC_NEWS,
    }
    if params:
        message["params"] = params
    return _dumps(message)


def unsubscribe_topic(request_id: str, topic: str, params: Mapping[str, Any] | None = None) -> str:
    """Stop any accounts-socket topic (§4.2); ``params`` as subscribed (e.g. ``accountId``)."""
    if not topic:
        raise ValueError("topic must not be empty")
    message: dict[str, Any] = {"type": protocol.TYPE_UNSUBSCRIBE, "id": request_id, "topic": topic}
    if params:
        message["params"] = dict(params)
    return _dumps(message)


# --- charting socket (§6) -----------------------------------------------------------------------


def _chart_message(kind: str, request_id: str, symbol: str) -> str:
    if not symbol:
        raise ValueError("symbol must not be empty")
    return _dumps({"type": kind, "id": request_id, "payload": {protocol.CHART_SYMBOL_KEY: symbol}})


def subscribe_chart(request_id: str, symbol: str) -> str:
    """Subscribe to the charting feed of one symbol (§6)."""
    return _chart_message(protocol.TYPE_SUBSCRIBE, request_id, symbol)


def unsubscribe_chart(request_id: str, symbol: str) -> str:
    """Stop the charting feed of one symbol (§6)."""
    return _chart_message(protocol.TYPE_UNSUBSCRIBE, request_id, symbol)
