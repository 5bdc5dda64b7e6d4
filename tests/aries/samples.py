"""Canonical messages of shared/protocol/ARIES.md, copied as Python data (section in each name).

Tests must ``copy.deepcopy`` (or use ``variant``) before changing one.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from engine.aries import AriesMessage, decode_message
from engine.errors import ProtocolError
from engine.model import Endpoint

Json = dict[str, Any]


def dumps(message: Json) -> str:
    """Compact JSON text of a sample."""
    return json.dumps(message, separators=(",", ":"))


def variant(message: Json, **changes: Any) -> Json:
    """A deep copy of ``message`` with dotted-path ``changes`` (``payload__data__qty="1"``).

    A value of ``DELETE`` removes the key.
    """
    result = copy.deepcopy(message)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node: Any = result
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        index: Any = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[index]
        else:
            node[index] = value
    return result


DELETE: Any = object()

# --- §0.2 / §2.3-§2.7: session and control ---------------------------------------------------

AUTH_REQUEST: Json = {  # §0.2 row 1 (client → server)
    "type": "request",
    "id": "auth-1",
    "payload": {
        "method": "post",
        "path": "/auth",
        "body": {"action": "auth", "token": "<jwt>"},
    },
}

AUTH_SUCCESS: Json = {  # §0.2 row 2
    "type": "event",
    "id": "auth-1",
    "payload": {
        "action": "authSuccess",
        "id": "auth-1",
        "data": {"expiresIn": 3900000, "expiresAt": 1768491000000},
        "timestamp": 1768487100000,
    },
}

AUTH_SUCCESS_MARKET: Json = {  # §2.3 VERIFIED market reply: id only inside payload
    "type": "event",
    "payload": {
        "action": "authSuccess",
        "id": "auth-001",
        "data": {"expiresIn": 2700000},
        "timestamp": 1701450000123,
    },
}

AUTH_FAILED_MARKET: Json = {  # §2.3 VERIFIED failure reply (no code)
    "type": "event",
    "payload": {
        "action": "error",
        "error": "authentication failed",
        "id": "auth-001",
        "timestamp": 1701450000123,
    },
}

AUTH_REQUIRED: Json = {  # §2.4 INFERRED
    "type": "event",
    "payload": {
        "action": "authRequired",
        "error": "authentication required",
        "timestamp": 1701450005123,
    },
}

ERROR: Json = {  # §0.2 row 3
    "type": "error",
    "id": "s-1",
    "payload": {
        "action": "error",
        "code": "MISSING_ACCOUNT_ID",
        "error": "accountId is required",
        "id": "s-1",
    },
    "timestamp": "2026-01-15T14:30:00Z",
}

ERROR_EVENT: Json = {  # §2.7 INFERRED event form
    "type": "event",
    "id": "sub-pnl-1",
    "payload": {
        "action": "error",
        "code": "MISSING_START_TIME",
        "error": "startTime is required for the pnl topic",
        "id": "sub-pnl-1",
        "timestamp": 1701450001123,
    },
}

PING: Json = {"type": "ping", "id": "p-1"}  # §0.2 row 4
PONG: Json = {"type": "pong", "id": "p-1", "timestamp": "2026-01-15T14:30:30Z"}

REFRESH_AUTH: Json = {  # §0.2 row 5
    "type": "event",
    "payload": {
        "action": "refreshAuth",
        "data": {"expiresIn": 300000, "expiresAt": 1768491000000},
        "timestamp": 1768490700000,
    },
}

AUTH_EXPIRED: Json = {  # §0.2 row 6
    "type": "event",
    "payload": {"action": "authExpired", "timestamp": 1768491000000},
}

# --- §4.2-§4.7: accounts socket -----------------------------------------------------------------

SUBSCRIBE_ACCOUNT: Json = {  # §0.2 row 7 (client → server)
    "type": "subscribe",
    "id": "s-1",
    "topic": "account",
    "params": {"accountId": "ACC-001"},
}

UNSUBSCRIBE_ACCOUNT: Json = {
    "type": "unsubscribe",
    "id": "u-1",
    "topic": "account",
    "params": {"accountId": "ACC-001"},
}

SNAPSHOT_ACCOUNT: Json = {  # §4.3 merged account + balance object
    "accountId": "ACC-001",
    "accountType": "MARGIN",
    "accountClass": "INDIVIDUAL",
    "optionsLevel": "LEVEL_2",
    "status": "OPEN",
    "sodPositionsMarketValue": "17025.00",
    "netBuyingPower": "125000.50",
    "stockBuyingPower": "125000.50",
    "dayTradeBuyingPower": "50000.00",
    "optionBuyingPower": "25000.00",
    "dayTradeOvernightRegTBuyingPower": "48000.00",
    "totalEquity": "250000.00",
    "settledFunds": "100000.00",
    "unsettledFunds": "5000.00",
    "heldBackFunds": "0",
    "grossMargin": "0",
    "pendingOrdersMarginRequirements": "0",
    "maintReq": "75000.00",
    "creditMultiplier": "2",
    "pendingOrdersCount": 1,
    "credit": "0",
    "creditRemaining": "0",
    "realizedPL": "1500.25",
    "unRealizedPL": "-250.75",
    "SMA": "0",
    "smaCreditRemaining": "0",
    "PDT": "0",
    "pdtCreditRemaining": "0",
    "startOfDayCash": "95000.00",
    "valueBought": "0",
    "valueSold": "0",
}

SNAPSHOT_POSITION: Json = {
    "accountId": "ACC-001",
    "symbol": "AAPL",
    "securityType": "EQUITY",
    "instrument": "EQUITY",
    "quantity": "100",
    "avgPrice": "170.25",
    "avgCost": "170.25",
    "todayRealizedPnL": "0",
    "realizedPL": "0",
    "unrealizedPl": "515.00",
    "marketValue": "17540.00",
    "createdAt": "2026-01-10T16:00:00Z",
    "updatedAt": "2026-01-15T14:30:00Z",
}

ORDER_V1: Json = {  # §4.3 legacy ``orders`` item (§8.5 v1 shape)
    "orderId": "ord-0001",
    "clOrdId": "CL-0001",
    "accountId": "ACC-001",
    "symbol": "AAPL",
    "side": "BUY",
    "orderType": "LIMIT",
    "status": "WORKING",
    "tif": "DAY",
    "quantity": "100",
    "filledQty": "0",
    "leavesQty": "100",
    "price": "175.50",
    "stopPrice": "",
    "avgPrice": "0",
    "createdAt": "2026-01-15T14:30:00Z",
    "updatedAt": "2026-01-15T14:30:05Z",
}

ORDER_V2_SNAPSHOT: Json = {  # §4.3 ``ordersV2`` item
    "clOrdId": "CL-0001",
    "ordId": "ord-0001",
    "accountId": "ACC-001",
    "symbol": "AAPL",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "DAY",
    "qty": "100",
    "price": "175.50",
    "stopPrice": "",
    "ordStatus": "NEW",
    "cumQty": "0",
    "leavesQty": "100",
    "avgPrice": "0",
    "securityType": "EQUITY",
    "legs": [],
    "createdAt": "2026-01-15T14:30:00Z",
    "updatedAt": "2026-01-15T14:30:05Z",
}

SUBSCRIBED_SNAPSHOT: Json = {  # §4.3 canonical
    "type": "subscribed",
    "id": "sub-acct-1",
    "topic": "account",
    "params": {"accountId": "ACC-001"},
    "payload": {
        "account": SNAPSHOT_ACCOUNT,
        "positions": [SNAPSHOT_POSITION],
        "orders": [ORDER_V1],
        "ordersV2": [ORDER_V2_SNAPSHOT],
    },
    "timestamp": "2026-01-15T14:30:00.500Z",
}

SUBSCRIBED_PNL: Json = {  # §4.2
    "type": "subscribed",
    "id": "sub-pnl-1",
    "topic": "pnl",
    "params": {"accountId": "ACC-001", "startTime": "2026-01-15T00:00:00Z", "interval": "5m"},
    "timestamp": "2026-01-15T14:30:00.456Z",
}

UNSUBSCRIBED: Json = {  # §4.2 INFERRED
    "type": "unsubscribed",
    "id": "unsub-1",
    "topic": "pnl",
    "params": {"accountId": "ACC-001"},
    "timestamp": "2026-01-15T14:35:00.456Z",
}

ORDER_STOCK_DATA: Json = {  # §4.4 stock order
    "clOrdId": "ORDER-20260115-001",
    "ordId": "ord-7f3a9c2e-0001",
    "accountId": "TEST-ACCOUNT-001",
    "clientId": "CLIENT-001",
    "symbol": "AAPL",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "DAY",
    "qty": "100",
    "price": "175.50",
    "stopPrice": "",
    "ordStatus": "PARTIALLY_FILLED",
    "cumQty": "40",
    "leavesQty": "60",
    "avgPrice": "175.48",
    "lastQty": "40",
    "lastPx": "175.48",
    "currency": "USD",
    "exDestination": "MNGD",
    "text": "",
    "ordRejReason": "",
    "securityType": "EQUITY",
    "category": "SINGLE_LEG",
    "legs": [],
    "createdAt": "2026-01-15T14:30:00Z",
    "updatedAt": "2026-01-15T14:30:07Z",
}

ORDER_MULTI_LEG_DATA: Json = {  # §4.4 option spread
    "clOrdId": "ORDER-20260115-007",
    "ordId": "ord-7f3a9c2e-0007",
    "accountId": "TEST-ACCOUNT-001",
    "symbol": "AAPL",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "DAY",
    "qty": "5",
    "price": "1.25",
    "ordStatus": "NEW",
    "cumQty": "0",
    "leavesQty": "5",
    "avgPrice": "0",
    "securityType": "MULTI_LEG",
    "legs": [
        {
            "symbol": "AAPL",
            "side": "BUY",
            "ratioQty": "1",
            "positionEffect": "OPEN",
            "securityType": "OPTION",
            "putCall": "CALL",
            "strikePrice": "150.00",
            "maturity": "2027-01-15",
        },
        {
            "symbol": "AAPL",
            "side": "SELL",
            "ratioQty": "1",
            "positionEffect": "OPEN",
            "securityType": "OPTION",
            "putCall": "CALL",
            "strikePrice": "155.00",
            "maturity": "2027-01-15",
        },
    ],
    "createdAt": "2026-01-15T14:31:00Z",
    "updatedAt": "2026-01-15T14:31:00Z",
}


def account_event(event_type: str, account_id: str, data: Json, timestamp: str) -> Json:
    """The §4.4 envelope around one account object."""
    return {
        "type": "event",
        "topic": "account",
        "payload": {
            "action": "update",
            "type": event_type,
            "accountId": account_id,
            "data": copy.deepcopy(data),
        },
        "timestamp": timestamp,
    }


ORDER_STOCK = account_event(
    "account.order", "TEST-ACCOUNT-001", ORDER_STOCK_DATA, "2026-01-15T14:30:07Z"
)
ORDER_MULTI_LEG = account_event(
    "account.order", "TEST-ACCOUNT-001", ORDER_MULTI_LEG_DATA, "2026-01-15T14:31:00Z"
)

POSITION = account_event(  # §4.5
    "account.position",
    "ACC-001",
    {
        "accountId": "ACC-001",
        "symbol": "AAPL",
        "securityType": "EQUITY",
        "instrument": "EQUITY",
        "quantity": "140",
        "avgPrice": "171.62",
        "avgCost": "171.62",
        "todayRealizedPnL": "0",
        "realizedPL": "0",
        "unrealizedPl": "512.00",
        "marketValue": "24539.00",
        "createdAt": "2026-01-10T16:00:00Z",
        "updatedAt": "2026-01-15T14:30:07Z",
    },
    "2026-01-15T14:30:07.010Z",
)

BALANCE_DATA: Json = {  # §4.6: every field of the brief's balance table
    "accountId": "ACC-001",
    "netBuyingPower": "118000.50",
    "stockBuyingPower": "118000.50",
    "dayTradeBuyingPower": "43000.00",
    "optionBuyingPower": "25000.00",
    "dayTradeOvernightRegTBuyingPower": "48000.00",
    "totalEquity": "250010.00",
    "settledFunds": "100000.00",
    "unsettledFunds": "5000.00",
    "heldBackFunds": "0",
    "grossMargin": "0",
    "pendingOrdersMarginRequirements": "0",
    "maintReq": "75000.00",
    "creditMultiplier": "2",
    "pendingOrdersCount": 1,
    "credit": "0",
    "creditRemaining": "0",
    "realizedPL": "1500.25",
    "unRealizedPL": "-240.75",
    "SMA": "0",
    "smaCreditRemaining": "0",
    "PDT": "0",
    "pdtCreditRemaining": "0",
    "startOfDayCash": "95000.00",
    "sodPositionsMarketValue": "17025.00",
    "valueBought": "7025.00",
    "valueSold": "0",
}

BALANCE = account_event("account.balance", "ACC-001", BALANCE_DATA, "2026-01-15T14:30:07.020Z")

ACCOUNT_INFO = account_event(  # §4.7 INFERRED fields
    "account.info",
    "ACC-001",
    {
        "accountId": "ACC-001",
        "status": "OPEN",
        "accountType": "MARGIN",
        "accountClass": "INDIVIDUAL",
        "optionsLevel": "LEVEL_3",
        "isSim": False,
        "updatedAt": "2026-01-15T15:00:00Z",
    },
    "2026-01-15T15:00:00Z",
)

PNL_CANDLE: Json = {  # §0.2 row 13
    "type": "event",
    "topic": "pnl",
    "payload": {
        "action": "update",
        "type": "pnl.candle",
        "accountId": "ACC-001",
        "interval": "1m",
        "data": {"t": 1768487400, "o": "120.00", "h": "131.50", "l": "118.25", "c": "129.75"},
    },
    "timestamp": "2026-01-15T14:30:07.030Z",
}

# --- §5: market socket --------------------------------------------------------------------------

SUBSCRIBE_MARKET: Json = {  # §0.2 row 17
    "type": "subscribe",
    "id": "m-1",
    "payload": [{"symbol": "AAPL", "quoteFields": ["*"], "tradeFields": ["*"]}],
}

UNSUBSCRIBE_MARKET: Json = {  # §5.4 INFERRED
    "type": "unsubscribe",
    "id": "unsub-1",
    "payload": [{"symbol": "AAPL"}],
}

MARKET_SUBSCRIBED: Json = {  # §5.4 INFERRED ack
    "type": "subscribed",
    "id": "sub-1",
    "payload": {"symbols": ["AAPL", "MSFT"]},
}

MARKET_STATUS: Json = {  # §5.3 VERIFIED
    "type": "event",
    "payload": {
        "action": "update",
        "type": "marketStatus",
        "data": {
            "afterHours": False,
            "currencies": {"crypto": "open", "fx": "open"},
            "earlyHours": False,
            "exchanges": {"nasdaq": "closed", "nyse": "closed", "otc": "closed"},
            "indicesGroups": {"dow_jones": "closed", "nasdaq": "open", "s_and_p": "open"},
            "market": "closed",
            "serverTime": "2025-07-17T03:33:11.000Z",
        },
        "timestamp": 1701450000123,
    },
}

QUOTE: Json = {  # §5.6
    "type": "event",
    "payload": {
        "action": "update",
        "type": "quote",
        "data": {
            "symbol": "AAPL",
            "bidPrice": "189.49",
            "bidSize": "300",
            "askPrice": "189.51",
            "askSize": "100",
            "quoteTimestamp": "2026-01-15T09:45:01.123-05:00",
        },
        "timestamp": 1768488301123,
    },
}

TRADE: Json = {  # §5.6
    "type": "event",
    "payload": {
        "action": "update",
        "type": "trade",
        "data": {
            "symbol": "AAPL",
            "lastPrice": "189.50",
            "size": "100",
            "totalVolume": "1203344",
            "tradeExchange": "NSDQ",
            "tradeTimestamp": "2026-01-15T09:45:01.120-05:00",
            "tradeSeq": 88123,
        },
        "timestamp": 1768488301124,
    },
}

LEVEL2: Json = {  # §5.6 (book rows only)
    "type": "event",
    "payload": {
        "action": "update",
        "type": "level2",
        "data": {"symbol": "MSFT", "orderBook": ["200:410.10:0", "0:410.05:300"]},
        "timestamp": 1768488301130,
    },
}


PNL_HISTORY: Json = {  # §4.8 INFERRED history replay
    "type": "event",
    "topic": "pnl",
    "payload": {
        "action": "snapshot",
        "type": "pnl.candle",
        "accountId": "ACC-001",
        "interval": "5m",
        "data": [
            {"t": 1768487100, "o": "100.00", "h": "110.00", "l": "95.00", "c": "105.00"},
            {"t": 1768487400, "o": "105.00", "h": "131.50", "l": "104.00", "c": "129.75"},
        ],
    },
    "timestamp": "2026-01-15T14:30:07.000Z",
}

WATCHLIST_ADD: Json = {  # §4.9 INFERRED
    "type": "event",
    "topic": "watchlist",
    "payload": {
        "action": "update",
        "type": "watchlist.add",
        "data": {
            "watchlistId": "wl-1",
            "name": "Tech",
            "symbol": "NVDA",
            "position": 3,
            "updatedAt": "2026-01-15T14:35:00Z",
        },
    },
    "timestamp": "2026-01-15T14:35:00Z",
}

NEWS: Json = {  # §4.9 INFERRED
    "type": "event",
    "topic": "news",
    "payload": {
        "action": "update",
        "type": "news",
        "data": {
            "id": "n-123",
            "headline": "Apple announces ...",
            "summary": "...",
            "symbols": ["AAPL"],
            "topics": ["earnings"],
            "source": "Newswire",
            "url": "https://example.invalid/n-123",
            "publishedAt": "2026-01-15T14:36:00Z",
        },
    },
    "timestamp": "2026-01-15T14:36:00Z",
}

LEVEL2_FULL: Json = {  # §5.6 (book rows and venue quotes)
    "type": "event",
    "payload": {
        "action": "update",
        "type": "level2",
        "data": {
            "symbol": "MSFT",
            "orderBook": ["200:410.10:0", "0:410.05:300"],
            "quotes": ["NSDQ:410.10:200:410.05:300", "ARCA:410.12:100:410.04:500"],
        },
        "timestamp": 1768488301130,
    },
}

TIME_AND_SALES: Json = {  # §5.6
    "type": "event",
    "payload": {
        "action": "update",
        "type": "timeAndSales",
        "data": {
            "symbol": "MSFT",
            "price": "410.08",
            "size": "50",
            "tradeExchange": "ARCA",
            "tradeTimestamp": "2026-01-15T09:45:01.129-05:00",
            "tradeSeq": 99120,
        },
        "timestamp": 1768488301131,
    },
}

GREEKS: Json = {  # §5.6
    "type": "event",
    "payload": {
        "action": "update",
        "type": "greeks",
        "data": {
            "symbol": "AAPL240119C00150000",
            "delta": "0.52",
            "gamma": "0.04",
            "theta": "-0.11",
            "vega": "0.09",
            "rho": "0.02",
            "impliedVolatility": "0.27",
        },
        "timestamp": 1768488301140,
    },
}

MARKET_RESPONSE: Json = {  # §5.7 INFERRED
    "type": "response",
    "id": "req-7",
    "payload": {
        "status": 200,
        "data": {"symbol": "AAPL", "expirations": ["2026-01-16", "2026-01-23"]},
    },
}

CHART_EVENT: Json = {  # §6 INFERRED (JSON numbers, as TradingView sends them)
    "type": "event",
    "timestamp": "2026-01-15T14:45:01.123Z",
    "payload": {
        "symbol": "AAPL",
        "quote": {
            "lp": 189.50,
            "bid": 189.49,
            "ask": 189.51,
            "ch": 1.20,
            "chp": 0.64,
            "open_price": 188.10,
            "high_price": 190.02,
            "low_price": 187.95,
            "prev_close_price": 188.30,
            "volume": 1203344,
        },
        "trade": {"price": 189.50, "size": 100, "time": 1768488301120},
    },
}


# --- helpers ----------------------------------------------------------------------------------

TS_RECV = 1_768_487_100_000_000_000


def decode(message: Json | str, endpoint: Endpoint = Endpoint.ACCOUNTS) -> AriesMessage:
    """Decode one sample (a dict is serialized first) with the canonical receive time."""
    text = message if isinstance(message, str) else dumps(message)
    return decode_message(text, endpoint, ts_recv=TS_RECV)


def decode_error(message: Json | str, endpoint: Endpoint = Endpoint.ACCOUNTS) -> ProtocolError:
    """The ``ProtocolError`` that decoding ``message`` raises (fails the test if none)."""
    text = message if isinstance(message, str) else dumps(message)
    with pytest.raises(ProtocolError) as info:
        decode_message(text, endpoint, ts_recv=TS_RECV)
    return info.value
