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
    "REPLACED": "REPLACED",  # the old id after a replace (§8.5, §4.4)
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

# --------------------------------------------------------------------------------------------
# The venue (orders, money, options, users) — second cut. INFERRED unless marked.
# --------------------------------------------------------------------------------------------

REPLACE_ORDER_PATH: Final = "/v1/orders/replace"
PREVIEW_ORDER_PATH: Final = "/v1/orders/preview"
BALANCES_PATH: Final = "/v1/accounts/{account_id}/balances"
POSITIONS_PATH: Final = "/v1/accounts/{account_id}/positions"
ORDERS_V2_PATH: Final = "/v2/accounts/{account_id}/orders"
ORDERS_HISTORY_PATH: Final = "/v2/accounts/{account_id}/orders/history"
USER_ACCOUNTS_PATH: Final = "/v1/users/me/accounts"
OAUTH_TOKEN_PATH: Final = "/v1/oauth2/token"
OAUTH_AUTHORIZE_PATH: Final = "/v1/oauth2/authorize"
OAUTH_CONFIRM_PATH: Final = "/v1/oauth2/authorize/confirm"

#: TRAILING_STOP (§0.1 BRIEF type; body fields INFERRED, no public page shows them): the offset
#: and whether it is dollars or percent of the reference price. A trailing buy's stop sits
#: ``offset`` above the lowest ask seen since acceptance; a trailing sell's ``offset`` below the
#: highest bid. The current stop level is reported in ``stopPrice``.
TRAIL_OFFSET_FIELD: Final = "trailOffset"
TRAIL_OFFSET_TYPE_FIELD: Final = "trailOffsetType"
TRAIL_OFFSET_DOLLAR: Final = "DOLLAR"
TRAIL_OFFSET_PERCENT: Final = "PERCENT"
TRAIL_OFFSET_TYPES: Final = frozenset({TRAIL_OFFSET_DOLLAR, TRAIL_OFFSET_PERCENT})
#: Time in force accepted for option orders (§8.6: "options: DAY or GTC only").
OPTION_TIME_IN_FORCE: Final = frozenset({"DAY", "GTC"})

#: Order latency states: with ``SimConfig.order_latency > 0`` the venue reports PENDING_NEW /
#: PENDING_CANCEL / PENDING_REPLACE and completes the transition that many seconds later.
TEXT_ORDER_PENDING: Final = "Order received"
TEXT_REPLACE_PENDING: Final = "Replace requested"
TEXT_REPLACED: Final = "Replaced"
TEXT_REPLACE_ACCEPTED: Final = "Replace accepted"
TEXT_FOK_NOT_FILLABLE: Final = "Canceled: FOK order could not be filled in full"
TEXT_IOC_REMAINDER: Final = "Canceled: IOC remainder"
REJECT_OPTIONS_LEVEL: Final = "Options trading level too low"
REJECT_SHORT_IN_CASH_ACCOUNT: Final = "Short sales are not allowed in a cash account"
TEXT_REPLACE_LOST_RACE: Final = "Original order executed before the replace"
TEXT_EXPIRED_AT_CLOSE: Final = "Expired at the close"
HTTP_STALE_CL_ORD_ID: Final = "STALE_CL_ORD_ID"
#: §8.11 row 422: a replace whose new order would exceed buying power (the original stays).
HTTP_INSUFFICIENT_BUYING_POWER: Final = "INSUFFICIENT_BUYING_POWER"
#: ``client_name`` of the §7.3 authorize step.
OAUTH_CLIENT_NAME: Final = "Aries simulator client"
HTTP_INVALID_REQUEST: Final = "INVALID_REQUEST"


#: Options levels (§0.1 BRIEF enum) and what each allows (INFERRED from the BRIEF's descriptions):
#: LEVEL_1 covered calls and cash-secured puts; LEVEL_2 + long calls and puts; LEVEL_3 spreads
#: (not simulated); LEVEL_4 naked selling. Closing an option position is allowed at any level.
OPTIONS_LEVELS: Final = ("LEVEL_0", "LEVEL_1", "LEVEL_2", "LEVEL_3", "LEVEL_4")
OPTIONS_LEVEL_LONG: Final = 2
OPTIONS_LEVEL_COVERED: Final = 1
OPTIONS_LEVEL_NAKED: Final = 4

#: Maintenance requirement (Reg-T/FINRA 4210 style): 25 % of long stock value, 30 % of short
#: stock value on margin accounts; long options 100 %, short options 100 % of their value plus
#: 20 % of the underlying's (naked) — the standard broker rule, INFERRED. Non-margin accounts
#: carry no maintenance requirement (everything is fully paid), so ``maintReq`` is 0 there.
MAINT_RATE_LONG: Final = Decimal("0.25")
MAINT_RATE_SHORT: Final = Decimal("0.30")
MAINT_RATE_SHORT_OPTION_UNDERLYING: Final = Decimal("0.20")
#: Day-trade buying power multiplier of maintenance excess for pattern day traders (BRIEF "up to
#: 4×"); non-PDT margin accounts get their overnight buying power.
PDT_DAY_TRADE_MULTIPLIER: Final = Decimal(4)
#: Option contract multiplier (shares per contract).
OPTION_MULTIPLIER: Final = 100

#: The option chain (§4.5 OSI symbols, e.g. ``AAPL270115C00150000``): underlyings that list
#: options, how many monthly expiries (third Fridays after the as-of date), how many strikes each
#: side of the at-the-money strike, and the strike step as a share of the start price.
OPTION_UNDERLYINGS: Final = ("AAPL", "MSFT", "TSLA", "SPY")
OPTION_EXPIRIES: Final = 3
OPTION_STRIKES_EACH_SIDE: Final = 3
OPTION_STRIKE_STEPS: Final = (Decimal("1"), Decimal("2.5"), Decimal("5"), Decimal("10"))
OPTION_STRIKE_STEP_RATIO: Final = Decimal("0.025")
#: Pricing: Black-Scholes with this flat volatility and zero rates; half spread = max(0.01,
#: 2 % of the theoretical price) on a $0.01 grid (minimum bid 0, minimum ask 0.05).
OPTION_VOLATILITY: Final = 0.30
OPTION_HALF_SPREAD_RATIO: Final = Decimal("0.02")
OPTION_MIN_ASK: Final = Decimal("0.05")
#: Displayed option quote size (contracts) at the touch.
OPTION_QUOTE_SIZE: Final = 20

#: Level 2: price levels each side (level 1 is the quote itself), one tick apart; sizes in lots
#: drawn from a hash of (symbol, market tick, level) so a seed reproduces the book.
BOOK_DEPTH: Final = 5

#: Users, OAuth2 (§7.3, §7.4, §9). Access token TTL is ``SimConfig.access_token_ttl``.
OAUTH_CLIENT_ID: Final = "sim-client"
OAUTH_CLIENT_SECRET: Final = "sim-secret"
OAUTH_REDIRECT_URI: Final = "http://127.0.0.1/callback"
REFRESH_TOKEN_TTL: Final = 2_592_000
AUTH_CODE_TTL: Final = 600
OAUTH_SCOPE: Final = "account:information order:execution position:information"
OAUTH_TOKEN_PREFIX: Final = "sim-at-"
OAUTH_REFRESH_PREFIX: Final = "sim-rt-"
OAUTH_CODE_PREFIX: Final = "sim-code-"
OAUTH_STEP_PREFIX: Final = "auth_confirm_"

#: v2 order lists (§8.5 VERIFIED): page size, history window.
ORDERS_PAGE_DEFAULT: Final = 50
ORDERS_PAGE_MAX: Final = 500
HISTORY_MAX_DAYS: Final = 90
ORDER_SOURCES: Final = frozenset({"cache", "db"})

#: §8.2 user-accounts constants (INFERRED values for fields the simulator does not model).
USER_ACCOUNT_TYPE: Final = "INDIVIDUAL"

#: §8.9 preview: commission and fee schedule (INFERRED: commission-free; a regulatory fee of
#: $0.000008 × sale proceeds, rounded up to the cent, on sells; options $0.65/contract).
PREVIEW_SEC_FEE_RATE: Final = Decimal("0.000008")
PREVIEW_OPTION_FEE_PER_CONTRACT: Final = Decimal("0.65")
