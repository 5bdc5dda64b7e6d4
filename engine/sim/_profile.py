"""The simulator's protocol profile: every INFERRED value or behaviour, in one place.

``shared/protocol/ARIES.md`` marks what it could not verify as INFERRED. Each such choice the
simulator makes is a named constant or table here (message *shapes* live in
``engine.sim._messages``, one builder per message), so a real captured frame can correct it in
one edit. Comments name the ARIES.md section each value comes from. Values the brief settles
(topic names, error codes, P&L intervals) are here too, marked BRIEF, so the simulator's whole
wire vocabulary reads in one file.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from decimal import Decimal
from typing import Any, Final

# --------------------------------------------------------------------------------------------
# Paths (§1, §10 item 1). VERIFIED, listed for completeness.
# --------------------------------------------------------------------------------------------

ACCOUNTS_WS_PATH: Final = "/v1/accounts/ws"
MARKET_WS_PATH: Final = "/v1/market/ws"
CHARTS_WS_PATH: Final = "/v1/charts/ws"
WS_PATHS: Final = (ACCOUNTS_WS_PATH, MARKET_WS_PATH, CHARTS_WS_PATH)

PLACE_ORDER_PATH: Final = "/v1/orders"
CANCEL_ORDER_PATH: Final = "/v1/orders/cancel"

# --------------------------------------------------------------------------------------------
# WebSocket close codes (§2.3, §4.10: undocumented, INFERRED).
# --------------------------------------------------------------------------------------------

#: Sent after the ``AUTH_REQUIRED`` error when the auth window passed (policy violation).
CLOSE_AUTH_TIMEOUT: Final = 1008
#: Sent after ``authExpired`` (normal closure).
CLOSE_SESSION_EXPIRED: Final = 1000
#: A client that sent nothing for ``idle_timeout`` seconds (§2.5 INFERRED idle drop).
CLOSE_IDLE: Final = 1001
#: A client too slow to drain its outbound buffer (simulator policy: close, never block).
CLOSE_SLOW_CONSUMER: Final = 1008
#: Fault injection: ``Simulator.drop_connections`` (internal error, as a crashed server would).
CLOSE_DROPPED: Final = 1011

#: How long the server waits for its close frame to go out before giving up on the socket.
CLOSE_SEND_TIMEOUT: Final = 2.0

#: Bounded outbound buffer per socket (messages). On overflow the socket is closed with
#: ``CLOSE_SLOW_CONSUMER``: the market loop and other clients are never blocked by one reader.
OUTBOUND_BUFFER_MESSAGES: Final = 2000

# --------------------------------------------------------------------------------------------
# Socket envelopes (§2.1 simulator rule).
# --------------------------------------------------------------------------------------------

#: Whether every message on the socket carries a top-level RFC 3339 ``timestamp``. BRIEF/§2.1
#: for accounts; charts lists an optional RFC 3339 envelope timestamp (VERIFIED) and we always
#: set it; the market socket keeps epoch ms inside ``payload`` as verified, except on the
#: catalogue's error and pong shapes (§0.2 rows 3-4), which always carry one.
TOP_LEVEL_TIMESTAMP_ON_EVERY_MESSAGE: Final = {
    ACCOUNTS_WS_PATH: True,
    MARKET_WS_PATH: False,
    CHARTS_WS_PATH: True,
}

#: Whether the socket may pack several messages into one text frame (NDJSON, §2.2). Only the
#: market socket does; each market frame carries between 1 and ``SimConfig.max_batch`` messages,
#: the count drawn per frame from a seeded RNG so both shapes occur.
NDJSON_BATCHING: Final = {
    ACCOUNTS_WS_PATH: False,
    MARKET_WS_PATH: True,
    CHARTS_WS_PATH: False,
}

#: The socket auth request: ``payload.path`` and the accepted ``payload.method`` (any case, or
#: absent), §2.3.
AUTH_REQUEST_PATH: Final = "/auth"
AUTH_REQUEST_METHOD: Final = "post"

# --------------------------------------------------------------------------------------------
# Error codes and texts (§0.1 BRIEF codes; §4.10 INFERRED extras; texts INFERRED except where
# the docs show one).
# --------------------------------------------------------------------------------------------

AUTH_REQUIRED: Final = "AUTH_REQUIRED"
INVALID_TOKEN: Final = "INVALID_TOKEN"
MISSING_ACCOUNT_ID: Final = "MISSING_ACCOUNT_ID"
UNKNOWN_TOPIC: Final = "UNKNOWN_TOPIC"
MISSING_START_TIME: Final = "MISSING_START_TIME"
INVALID_INTERVAL: Final = "INVALID_INTERVAL"
ACCESS_DENIED: Final = "ACCESS_DENIED"
INVALID_MESSAGE: Final = "INVALID_MESSAGE"  # INFERRED (simulator only)
TOKEN_REQUIRED: Final = "TOKEN_REQUIRED"  # INFERRED code for a VERIFIED text
UNSUPPORTED_REQUEST: Final = "UNSUPPORTED_REQUEST"  # INFERRED (§8.12)
UNKNOWN_SYMBOL: Final = "UNKNOWN_SYMBOL"  # INFERRED (market subscribe of a symbol not traded)

ERROR_TEXTS: Final = {
    AUTH_REQUIRED: "authentication required",
    INVALID_TOKEN: "authentication failed",  # VERIFIED text (market page)
    TOKEN_REQUIRED: "token is required",  # VERIFIED text (market page)
    MISSING_ACCOUNT_ID: "accountId is required",
    UNKNOWN_TOPIC: "unknown topic",
    MISSING_START_TIME: "startTime is required for the pnl topic",
    INVALID_INTERVAL: "interval must be one of 15s, 1m, 5m, 15m, 1h, 1d, 1mo",
    ACCESS_DENIED: "account does not belong to the authenticated user",
    INVALID_MESSAGE: "invalid message",
    UNSUPPORTED_REQUEST: "unsupported request",
    UNKNOWN_SYMBOL: "unknown symbol",
}

# --------------------------------------------------------------------------------------------
# Accounts socket topics (§4.1, §4.2).
# --------------------------------------------------------------------------------------------

TOPIC_ACCOUNT: Final = "account"
TOPIC_PNL: Final = "pnl"
TOPIC_WATCHLIST: Final = "watchlist"
TOPIC_NEWS: Final = "news"
TOPICS: Final = frozenset({TOPIC_ACCOUNT, TOPIC_PNL, TOPIC_WATCHLIST, TOPIC_NEWS})  # BRIEF
#: Legacy topic names accepted as aliases (§4.1 "INFERRED courtesy").
TOPIC_ALIASES: Final = {
    "accUpdates": TOPIC_ACCOUNT,
    "pnlCandle": TOPIC_PNL,
    "watchlistUpdates": TOPIC_WATCHLIST,
}
PNL_INTERVALS: Final = frozenset({"15s", "1m", "5m", "15m", "1h", "1d", "1mo"})  # BRIEF
PNL_DEFAULT_INTERVAL: Final = "1m"  # BRIEF

# --------------------------------------------------------------------------------------------
# Market model (§5; every number INFERRED: a plausible synthetic market).
# --------------------------------------------------------------------------------------------

#: Start mid prices of well-known symbols; any other symbol starts at ``DEFAULT_START_PRICE``.
START_PRICES: Final = {
    "AAPL": Decimal("190.00"),
    "MSFT": Decimal("410.00"),
    "TSLA": Decimal("250.00"),
    "NVDA": Decimal("480.00"),
    "AMZN": Decimal("155.00"),
    "GOOGL": Decimal("140.00"),
    "META": Decimal("350.00"),
    "SPY": Decimal("470.00"),
    "QQQ": Decimal("400.00"),
}
DEFAULT_START_PRICE: Final = Decimal("100.00")
#: Price grid: $0.01.
TICK_SIZE: Final = Decimal("0.01")
#: Each tick moves the mid by a whole number of ticks in ``[-MAX_STEP_TICKS, MAX_STEP_TICKS]``.
MAX_STEP_TICKS: Final = 3
#: Half spread in ticks, drawn per quote in ``[1, MAX_HALF_SPREAD_TICKS]`` (spread 2-6 cents).
MAX_HALF_SPREAD_TICKS: Final = 3
#: The mid never falls below this many ticks ($1.00).
MIN_MID_TICKS: Final = 100
#: Sizes are multiples of ``LOT_SIZE``; quote sizes up to ``MAX_QUOTE_LOTS`` lots, trades up to
#: ``MAX_TRADE_LOTS`` lots.
LOT_SIZE: Final = 100
MAX_QUOTE_LOTS: Final = 20
MAX_TRADE_LOTS: Final = 5
#: Chance that a symbol prints a trade on a given tick.
TRADE_PROBABILITY: Final = 0.3
TRADE_EXCHANGES: Final = ("NSDQ", "ARCA", "NYSE", "BATS", "IEX")
#: Time zone of ``quoteTimestamp``/``tradeTimestamp`` (ISO 8601 with offset, §5.5). UTC keeps
#: the simulator free of tz data; the docs' example uses the exchange's local offset.
MARKET_TIMESTAMP_TZ: Final[tzinfo] = UTC
#: Full field sets of the quote and trade events (§5.6). A subscription's ``quoteFields`` /
#: ``tradeFields`` select from these; ``symbol`` is always sent.
QUOTE_FIELDS: Final = ("symbol", "bidPrice", "bidSize", "askPrice", "askSize", "quoteTimestamp")
TRADE_FIELDS: Final = (
    "symbol",
    "lastPrice",
    "size",
    "totalVolume",
    "tradeExchange",
    "tradeTimestamp",
    "tradeSeq",
)
ALL_FIELDS: Final = "*"

#: The ``marketStatus`` data pushed after auth (§5.3 shape). The simulated market is always open;
#: ``serverTime`` is filled in at send time.
MARKET_STATUS_DATA: Final[dict[str, Any]] = {
    "afterHours": False,
    "currencies": {"crypto": "open", "fx": "open"},
    "earlyHours": False,
    "exchanges": {"nasdaq": "open", "nyse": "open", "otc": "open"},
    "indicesGroups": {"dow_jones": "open", "nasdaq": "open", "s_and_p": "open"},
    "market": "open",
}

# --------------------------------------------------------------------------------------------
# Orders (§8.6, §8.7, §4.4).
# --------------------------------------------------------------------------------------------

#: Server-assigned ids. ``n`` is one counter shared by orders and cancel requests (§8.7 shows a
#: new ``clOrdId`` for the cancel request itself).
CL_ORD_ID_FORMAT: Final = "SIM-{n}"
ORD_ID_FORMAT: Final = "sim-ord-{n:06d}"
#: v2 order constants the simulator does not model (VERIFIED field names, INFERRED values).
ORDER_CURRENCY: Final = "USD"
ORDER_EX_DESTINATION: Final = "MNGD"
ORDER_SECURITY_TYPE: Final = "EQUITY"
ORDER_CATEGORY: Final = "SINGLE_LEG"
#: Legacy v1 ``status`` for each v2 ``ordStatus`` (§8.5 shows ``WORKING`` for ``NEW``).
V1_STATUS_BY_ORD_STATUS: Final = {
    "PENDING_NEW": "PENDING_NEW",
    "NEW": "WORKING",
    "PARTIALLY_FILLED": "PARTIALLY_FILLED",
    "FILLED": "FILLED",
    "PENDING_CANCEL": "PENDING_CANCEL",
    "CANCELED": "CANCELED",
    "PENDING_REPLACE": "PENDING_REPLACE",
    "REJECTED": "REJECTED",
    "EXPIRED": "EXPIRED",
}
#: Time in force values the simulator accepts (§8.6 core set).
TIME_IN_FORCE_ACCEPTED: Final = frozenset({"DAY", "GTC", "IOC", "FOK"})
#: Order ``text`` / ``ordRejReason`` strings.
TEXT_ORDER_ACCEPTED: Final = "Order accepted"
TEXT_ORDER_FILLED: Final = "Order filled"
TEXT_CANCEL_PENDING: Final = "Cancel requested"
TEXT_CANCELED: Final = "Canceled by user"
TEXT_CANCEL_PROCESSED: Final = "Cancel request processed"
TEXT_NOT_MARKETABLE: Final = "Canceled: IOC/FOK order not marketable"
REJECT_INSUFFICIENT_BUYING_POWER: Final = "Insufficient buying power"
REJECT_UNKNOWN_SYMBOL: Final = "Unknown symbol"
REJECT_SHORT_NEEDS_MARGIN: Final = "Short sales require a margin account"
#: Largest ``clientId`` accepted (§8.6: ≤ 50 chars).
CLIENT_ID_MAX_LEN: Final = 50
#: Prices must sit on the $0.01 grid (sub-penny orders are rejected with 400 INVALID_FIELD).
PRICE_MAX_DECIMALS: Final = 2
#: ``avgPrice`` is rounded to this many decimals on the wire (at least two are shown).
AVG_PRICE_DECIMALS: Final = 4

# --------------------------------------------------------------------------------------------
# Accounts and buying power (§0.1 balance table; formulas INFERRED, documented in _ledger).
# --------------------------------------------------------------------------------------------

ACCOUNT_TYPES: Final = frozenset({"CASH", "MARGIN", "IRA", "ROTH_IRA", "RETIREMENT"})
ACCOUNT_CLASS: Final = "INDIVIDUAL"
ACCOUNT_OPTIONS_LEVEL: Final = "LEVEL_2"
ACCOUNT_STATUS: Final = "OPEN"
#: ``creditMultiplier`` per account type (BRIEF: "typically 2" on margin); others 1.
CREDIT_MULTIPLIER: Final = {"MARGIN": Decimal(2)}
#: Day-trade buying power multiplier per account type (BRIEF: "up to 4× … for pattern day
#: traders"); others 1.
DAY_TRADE_MULTIPLIER: Final = {"MARGIN": Decimal(4)}
#: Maintenance requirement as a share of gross position value, per account type (Reg-T/FINRA
#: 25 % for margin); others 100 % (fully paid).
MAINTENANCE_RATE: Final = {"MARGIN": Decimal("0.25")}
DEFAULT_CREDIT_MULTIPLIER: Final = Decimal(1)
DEFAULT_DAY_TRADE_MULTIPLIER: Final = Decimal(1)
DEFAULT_MAINTENANCE_RATE: Final = Decimal(1)
#: Balance fields the simulator does not model; always sent as "0".
UNMODELLED_BALANCE_FIELDS: Final = (
    "credit",
    "creditRemaining",
    "SMA",
    "smaCreditRemaining",
    "PDT",
    "pdtCreditRemaining",
)

# --------------------------------------------------------------------------------------------
# REST errors (§8.11: envelope VERIFIED, codes and status mapping INFERRED).
# --------------------------------------------------------------------------------------------

HTTP_UNAUTHORIZED: Final = "UNAUTHORIZED"
HTTP_FORBIDDEN: Final = "FORBIDDEN"
HTTP_INVALID_FIELD: Final = "INVALID_FIELD"
HTTP_MISSING_FIELD: Final = "MISSING_FIELD"
HTTP_ORDER_NOT_FOUND: Final = "ORDER_NOT_FOUND"
HTTP_ORDER_NOT_CANCELABLE: Final = "ORDER_NOT_CANCELABLE"
HTTP_ERROR_TEXTS: Final = {
    401: "unauthorized",
    400: "invalid request",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
}
HTTP_NOT_FOUND: Final = "NOT_FOUND"
HTTP_METHOD_NOT_ALLOWED: Final = "METHOD_NOT_ALLOWED"
