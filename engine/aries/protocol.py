"""Every choice about the Aries wire format that the documentation does not settle, in one place.

``shared/protocol/ARIES.md`` tags each fact BRIEF, VERIFIED or INFERRED. The rule (ARIES.md §0)
is that every INFERRED choice, and every alias the client tolerates, lives in one named constant
or table so that a real captured frame can correct it in one edit. This module is that place:
the decoder, the normalizers, the encoders and the REST client read these tables and hard-code
none of them. Each entry cites the ARIES.md section it comes from.

The client is *liberal* (ARIES.md §0, §10 "client tolerance checklist"): it accepts every
variant listed here. The canonical spelling is always listed first.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from engine.model.enums import Endpoint, OrderStatus, OrderType, SecurityType, Side, TimeInForce

# --- framing ----------------------------------------------------------------------------------

#: §2.2: NDJSON is VERIFIED on the market socket only; INFERRED: split on every socket (no cost).
NDJSON_ENDPOINTS: Final = frozenset(Endpoint)

#: Length of the frame prefix quoted in a ``ProtocolError`` and the decode-error log line.
EXCERPT_CHARS: Final = 120

#: Label used for a line that is not a JSON object (so it has no message type at all).
UNPARSED_MESSAGE_TYPE: Final = "?"

# --- envelope (§2.1) --------------------------------------------------------------------------

TYPE_REQUEST: Final = "request"
TYPE_ERROR: Final = "error"  # §2.1 / §2.7: INFERRED, an error type besides the action form
TYPE_PING: Final = "ping"
TYPE_PONG: Final = "pong"
TYPE_SUBSCRIBE: Final = "subscribe"
TYPE_UNSUBSCRIBE: Final = "unsubscribe"
TYPE_SUBSCRIBED: Final = "subscribed"  # §4.2: BRIEF
TYPE_UNSUBSCRIBED: Final = "unsubscribed"  # §4.2: INFERRED; the client must not block on it

#: §2.1: correlate on the top-level ``id``, falling back to ``payload.id``.
ID_LOCATIONS: Final = (("id",), ("payload", "id"))

#: §2.1: ``timestamp`` at top level (RFC 3339, accounts/charts) or in ``payload`` (epoch ms,
#: auth events and market data); either representation in either place.
TIMESTAMP_LOCATIONS: Final = (("timestamp",), ("payload", "timestamp"))

#: §2.3: ``action`` is read from ``payload.action``, falling back to a top-level ``action``.
ACTION_LOCATIONS: Final = (("payload", "action"), ("action",))

# --- authentication and session (§2.3, §2.4) ---------------------------------------------------

#: §2.3: VERIFIED name; the reply's ``type`` may be ``event`` or ``response`` (not checked).
AUTH_SUCCESS_ACTIONS: Final = frozenset({"authSuccess"})

#: §2.3 (charting, VERIFIED prose): the server may ask for (re-)authentication.
AUTH_REQUIRED_ACTIONS: Final = frozenset({"authRequired"})

#: §2.4: names of the refresh warning (``refreshAuth`` VERIFIED; the others INFERRED variants).
REFRESH_WARNING_ACTIONS: Final = frozenset({"refreshAuth", "refreshWarning", "refresh_auth"})

#: §2.4: names of the expiry notice (``authExpired`` VERIFIED; the others INFERRED variants).
AUTH_EXPIRED_ACTIONS: Final = frozenset({"authExpired", "sessionExpired", "session_expired"})

#: §2.3 / §0.1: where ``expiresIn`` / ``expiresAt`` (integer ms) sit, first match wins.
#: Canonical is ``payload.data``; INFERRED fallback directly in ``payload``.
AUTH_EXPIRY_CONTAINERS: Final = (("payload", "data"), ("payload",))

# --- errors (§2.7, §4.10) ---------------------------------------------------------------------

#: §2.7: a message is an error if ``type == "error"`` or its action is ``"error"``.
ERROR_ACTION: Final = "error"

#: §2.7 client rule: search order of the machine code.
ERROR_CODE_LOCATIONS: Final = (("payload", "code"), ("code",), ("payload", "error", "code"))

#: §2.7 client rule: search order of the human text (``payload.error`` only if it is a string);
#: ``payload.error.message`` is an INFERRED extra for an object-valued ``error``.
ERROR_TEXT_LOCATIONS: Final = (
    ("payload", "error"),
    ("payload", "message"),
    ("message",),
    ("payload", "error", "message"),
)

#: The ``code`` of an error that carried none.
MISSING_ERROR_CODE: Final = ""

#: §0.1 / §4.10: codes that mean "the venue refused our token" (``TOKEN_REQUIRED`` is INFERRED).
AUTH_ERROR_CODES: Final = frozenset({"INVALID_TOKEN", "TOKEN_REQUIRED", "AUTH_REQUIRED"})

#: §2.3 / §4.10: the VERIFIED auth-failure texts that come without a code, lower-cased, mapped to
#: the code the brief gives that cause (INFERRED mapping).
AUTH_ERROR_TEXT_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "authentication failed": "INVALID_TOKEN",
        "token is required": "TOKEN_REQUIRED",
        "authentication required": "AUTH_REQUIRED",
    }
)

# --- subscriptions (§4.2, §5.4) ---------------------------------------------------------------

#: §4.2 client rule: an ack may also be ``type`` response/event with one of these actions.
SUBSCRIBE_ACK_ACTIONS: Final = frozenset({"subscribed", "subscribeSuccess"})
#: INFERRED mirror of the above for unsubscribe acks.
UNSUBSCRIBE_ACK_ACTIONS: Final = frozenset({"unsubscribed", "unsubscribeSuccess"})

#: §4.1: current topic names; legacy ones are mapped (§4.1, §10 "legacy topic names").
TOPIC_ACCOUNT: Final = "account"
TOPIC_PNL: Final = "pnl"
TOPIC_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {"accUpdates": TOPIC_ACCOUNT, "pnlCandle": TOPIC_PNL, "watchlistUpdates": "watchlist"}
)

#: Where a reply names its topic (top level per §4.2; ``payload.topic`` INFERRED fallback).
TOPIC_LOCATIONS: Final = (("topic",), ("payload", "topic"))

#: §5.4: the market subscribe ack lists its symbols here (INFERRED).
MARKET_ACK_SYMBOLS_KEY: Final = "symbols"

# --- account snapshot (§4.3) ------------------------------------------------------------------

#: §4.3 client rule: the snapshot may also arrive as its own event with this action.
SNAPSHOT_ACTION: Final = "snapshot"

#: §4.3 INFERRED layout. The snapshot's container is ``payload.data`` when that is an object,
#: else ``payload`` itself.
SNAPSHOT_CONTAINER_KEY: Final = "data"
#: Merged account+balance object inside the container (canonical); when absent, the account
#: fields are read flat from the container.
SNAPSHOT_ACCOUNT_KEY: Final = "account"
#: Split layout: balance fields in their own object; when absent, read from the account object.
SNAPSHOT_BALANCE_KEY: Final = "balance"
SNAPSHOT_POSITIONS_KEY: Final = "positions"
#: §4.3: ``ordersV2`` is preferred over the legacy ``orders`` whenever the key is present.
SNAPSHOT_ORDER_KEYS: Final = ("ordersV2", "orders")
#: A ``subscribed`` reply carries a snapshot if its container has any of these keys (or any
#: balance / account-info field, for the flat layouts).
SNAPSHOT_MARKER_KEYS: Final = frozenset(
    {SNAPSHOT_ACCOUNT_KEY, SNAPSHOT_BALANCE_KEY, SNAPSHOT_POSITIONS_KEY, *SNAPSHOT_ORDER_KEYS}
)
#: A snapshot *replaces* local state (§4.3), and ``AccountSnapshotReceived`` cannot say "not
#: sent", so a snapshot must carry ``positions`` and one of ``SNAPSHOT_ORDER_KEYS`` (BRIEF: it
#: has both). ``null`` is read as an empty array (a Go nil slice); an absent key is an error,
#: never "no positions".
SNAPSHOT_REQUIRES_POSITIONS_AND_ORDERS: Final = True
#: Where the snapshot's account id may be; first match wins, all present ones must agree.
#: ``params.accountId`` (§4.2, BRIEF) echoes the subscribe.
SNAPSHOT_PARAMS_KEY: Final = "params"

# --- account events (§4.4-§4.7) ---------------------------------------------------------------

#: §4.4-§4.7: ``payload.type`` of the account topic's events (VERIFIED names).
EVENT_ORDER: Final = "account.order"
EVENT_POSITION: Final = "account.position"
EVENT_BALANCE: Final = "account.balance"
EVENT_INFO: Final = "account.info"
ACCOUNT_EVENT_TYPES: Final = frozenset({EVENT_ORDER, EVENT_POSITION, EVENT_BALANCE, EVENT_INFO})
#: §4.4: the event's object sits in ``payload.data`` (INFERRED).
EVENT_DATA_KEY: Final = "data"

#: §0.1 / §8.6 / §11.6: ``accountId`` and ``tradingAccountId`` name the same thing.
ACCOUNT_ID_KEYS: Final = ("accountId", "tradingAccountId")

#: §8.5: a legacy v1 order is recognised by lacking ``ordStatus`` and having one of these.
V1_ORDER_MARKER_KEYS: Final = frozenset({"status", "orderType", "orderId", "filledQty", "tif"})
V2_ORDER_STATUS_KEY: Final = "ordStatus"

# --- market data (§5.3, §5.6) -----------------------------------------------------------------

#: §5.3 VERIFIED, §5.6 INFERRED: ``payload.type`` of the market socket's data events.
EVENT_MARKET_STATUS: Final = "marketStatus"
EVENT_QUOTE: Final = "quote"
EVENT_TRADE: Final = "trade"

# --- wire key aliases: canonical key -> alternatives, tried in order when the canonical key is
# --- absent, null or "" (the wire models only know the canonical key) -------------------------

#: §4.5 BRIEF aliases, §8.4 ``averagePrice``; ``unRealizedPL`` INFERRED from the balance spelling.
POSITION_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "accountId": ("tradingAccountId",),
        "avgPrice": ("avgCost", "averagePrice"),
        "todayRealizedPnL": ("realizedPL",),
        "securityType": ("instrument",),
        "unrealizedPl": ("unRealizedPL",),
    }
)

#: §4.4 / §8.6: account id naming.
ORDER_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"accountId": ("tradingAccountId",)}
)

#: §0.1 socket spelling is canonical; the REST balances spelling (§8.3) is accepted too.
BALANCE_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "accountId": ("tradingAccountId",),
        "realizedPL": ("realizedPl",),
        "unRealizedPL": ("unrealizedPl",),
        "SMA": ("sma",),
        "PDT": ("pdt",),
    }
)

#: §4.7 INFERRED fields; the user-accounts item (§8.2) spells them in snake case.
ACCOUNT_INFO_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "accountId": ("tradingAccountId",),
        "accountType": ("account_type",),
        "accountClass": ("account_class",),
        "optionsLevel": ("options_level",),
        "isSim": ("is_sim",),
    }
)

#: §5.5: a trade's price is ``lastPrice``; time-and-sales style rows use ``price``.
TRADE_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"lastPrice": ("price",)}
)

# --- enum vocabularies: wire spelling -> domain value, besides the domain's own values ---------
# Matching is exact first, then upper-cased.

#: §8.5 / §11.10: v1 ``WORKING`` ≈ ``NEW``; ``SUPERSEDED`` is the old id after a replace
#: (server side) ≈ ``REPLACED``; ``CANCELLED`` is a courtesy spelling (INFERRED).
ORDER_STATUS_ALIASES: Final[Mapping[str, OrderStatus]] = MappingProxyType(
    {
        "WORKING": OrderStatus.NEW,
        "SUPERSEDED": OrderStatus.REPLACED,
        "CANCELLED": OrderStatus.CANCELED,
    }
)

#: §8.6: leg sides may be ``B``/``S``.
SIDE_ALIASES: Final[Mapping[str, Side]] = MappingProxyType({"B": Side.BUY, "S": Side.SELL})

#: §8.9 oldest variant spells stops ``STOPMARKET``/``STOPLIMIT``.
ORDER_TYPE_ALIASES: Final[Mapping[str, OrderType]] = MappingProxyType(
    {
        "STOPMARKET": OrderType.STOP,
        "STOP_MARKET": OrderType.STOP,
        "STOPLIMIT": OrderType.STOP_LIMIT,
    }
)

#: §8.6 / §11.12: names some versions use. ``EXTENDED_HOURS``/``EXT`` have no domain value and are
#: read as ``DAY`` (INFERRED, lossy: a day order that may also execute outside regular hours).
TIME_IN_FORCE_ALIASES: Final[Mapping[str, TimeInForce]] = MappingProxyType(
    {
        "AT_THE_OPENING": TimeInForce.OPG,
        "AT_THE_CLOSE": TimeInForce.CLO,
        "EXTENDED_HOURS": TimeInForce.DAY,
        "EXT": TimeInForce.DAY,
    }
)

#: §4.4 / §8.4 / §11.11: ``CS``/``OPT`` (REST), ``E``/``O`` (single-letter ``instrument``).
SECURITY_TYPE_ALIASES: Final[Mapping[str, SecurityType]] = MappingProxyType(
    {
        "CS": SecurityType.EQUITY,
        "E": SecurityType.EQUITY,
        "OPT": SecurityType.OPTION,
        "O": SecurityType.OPTION,
    }
)

#: §8.6: leg ``putCall`` may be ``C``/``P``; ``positionEffect`` may be ``O``/``C``.
PUT_CALL_ALIASES: Final[Mapping[str, str]] = MappingProxyType({"C": "CALL", "P": "PUT"})
POSITION_EFFECT_ALIASES: Final[Mapping[str, str]] = MappingProxyType({"O": "OPEN", "C": "CLOSE"})

# --- value sanity limits (engine policy, FAULT-SCENARIOS 17) ------------------------------------

#: A decimal string longer than this is rejected before parsing.
MAX_DECIMAL_CHARS: Final = 40
#: Largest accepted magnitude: |x| < 10**16 (no price, quantity or balance comes near it).
MAX_DECIMAL_ADJUSTED_EXPONENT: Final = 15
#: Smallest accepted non-zero magnitude: |x| >= 10**-18.
MIN_DECIMAL_ADJUSTED_EXPONENT: Final = -18
#: Epoch-millisecond timestamps must fall in [1970, 2200).
MAX_EPOCH_MS: Final = 7_258_118_400_000
#: A timestamp string longer than this is rejected before parsing.
MAX_TIMESTAMP_CHARS: Final = 64

# --- client messages (§2.3, §2.5, §4.2, §5.4) ---------------------------------------------------

#: §2.3 client rule: always ``method: "post"`` and a body with both ``action`` and ``token``.
AUTH_METHOD: Final = "post"
AUTH_PATH: Final = "/auth"
AUTH_BODY_ACTION: Final = "auth"
#: §4.2: accounts subscriptions use ``topic`` + ``params.accountId`` at envelope level.
ACCOUNT_ID_PARAM: Final = "accountId"
#: §5.4: every market symbol asks for all quote and trade fields (``"*"``).
MARKET_SUBSCRIBE_FIELDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"quoteFields": ("*",), "tradeFields": ("*",)}
)

# --- REST (§8.6, §8.7, §8.11) -----------------------------------------------------------------

PLACE_ORDER_PATH: Final = "/v1/orders"  # §8.6 VERIFIED
CANCEL_ORDER_PATH: Final = "/v1/orders/cancel"  # §8.7 VERIFIED
#: §8.6 / §11.6: the current name of the account field in order bodies.
REST_ACCOUNT_ID_FIELD: Final = "tradingAccountId"
#: §8.6 leg ``securityType`` values (``OPT`` VERIFIED; ``CS`` from the cancel body, §8.7).
REST_SECURITY_TYPE_CODES: Final[Mapping[SecurityType, str]] = MappingProxyType(
    {SecurityType.EQUITY: "CS", SecurityType.OPTION: "OPT", SecurityType.MULTI_LEG: "OPT"}
)
#: §8.11 INFERRED: statuses that mean "back off and retry after ``Retry-After``".
RATE_LIMIT_STATUSES: Final = frozenset({429, 503})
UNAUTHORIZED_STATUS: Final = 401
UNAUTHORIZED_CODE: Final = "UNAUTHORIZED"

ZERO: Final = Decimal(0)

# === streams beyond orders and quotes (§4.8, §4.9, §5.5-§5.7, §6) ================================

# --- accounts socket: pnl, watchlist, news (§4.1, §4.2, §4.8, §4.9) ----------------------------

TOPIC_WATCHLIST: Final = "watchlist"
TOPIC_NEWS: Final = "news"

#: §4.8 ``payload.type`` of a P&L candle (INFERRED name; the legacy topic name as a courtesy).
PNL_EVENT_TYPES: Final = frozenset({"pnl.candle", "pnlCandle"})
#: §0.1 BRIEF: the allowed intervals and the default when ``params.interval`` is omitted.
PNL_INTERVALS: Final = ("15s", "1m", "5m", "15m", "1h", "1d", "1mo")
PNL_DEFAULT_INTERVAL: Final = "1m"
#: §4.8 INFERRED: where the candle's interval is named, first match wins (else the default).
PNL_INTERVAL_LOCATIONS: Final = (("payload", "interval"), ("params", "interval"))
#: §4.8 client rule: long names ``open/high/low/close/time`` are accepted for ``o/h/l/c/t``.
PNL_CANDLE_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"o": ("open",), "h": ("high",), "l": ("low",), "c": ("close",), "t": ("time",)}
)
#: §0.1 BRIEF: ``t`` is Unix **seconds**. INFERRED tolerance: a number this large or larger can
#: only be milliseconds (10**11 s is the year 5138), and a string may be RFC 3339.
PNL_EPOCH_MS_THRESHOLD: Final = 10**11
#: §4.8 INFERRED: the history replay is one event with this action and an array ``data``; an
#: array ``data`` with any action is read as a batch of candles too.
PNL_HISTORY_ACTION: Final = SNAPSHOT_ACTION

#: §4.9 BRIEF actions, INFERRED names: ``payload.type`` → the domain action.
WATCHLIST_EVENT_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {"watchlist.add": "add", "watchlist.update": "update", "watchlist.remove": "remove"}
)
#: §4.9 INFERRED data keys; the alternatives are courtesy spellings.
WATCHLIST_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"watchlistId": ("id", "listId"), "position": ("index", "order")}
)

#: §4.9 INFERRED: ``payload.type`` of a news item.
NEWS_EVENT_TYPES: Final = frozenset({"news", "news.update"})
#: §4.9 INFERRED data keys; the alternatives are courtesy spellings.
NEWS_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"headline": ("title",), "publishedAt": ("published_at", "publishedTime")}
)

#: §4.2: the params names of the client's subscribe messages.
PNL_START_TIME_PARAM: Final = "startTime"
PNL_INTERVAL_PARAM: Final = "interval"
NEWS_SYMBOLS_PARAM: Final = "symbols"
NEWS_TOPICS_PARAM: Final = "topics"

# --- market socket (§5.1, §5.4-§5.7) ------------------------------------------------------------

#: §5.6 INFERRED ``payload.type`` names. Option quotes (§5.1, ``instrumentType: "o"``) use the
#: quote path; ``optionQuote`` is a courtesy name.
QUOTE_EVENT_TYPES: Final = frozenset({EVENT_QUOTE, "optionQuote"})
TRADE_EVENT_TYPES: Final = frozenset({EVENT_TRADE})
LEVEL2_EVENT_TYPES: Final = frozenset({"level2", "orderBook", "l2"})
TIME_AND_SALES_EVENT_TYPES: Final = frozenset({"timeAndSales", "timeSales", "time_and_sales"})
GREEKS_EVENT_TYPES: Final = frozenset({"greeks"})

#: §5.6 VERIFIED compact level-2 rows. Column order of each colon-joined string:
LEVEL2_BOOK_KEY: Final = "orderBook"
LEVEL2_BOOK_COLUMNS: Final = ("askSize", "price", "bidSize")
LEVEL2_QUOTES_KEY: Final = "quotes"
LEVEL2_QUOTE_COLUMNS: Final = ("exchange", "askPrice", "askSize", "bidPrice", "bidSize")
LEVEL2_SEPARATOR: Final = ":"

#: §5.5 greeks: key names not seen; ``impliedVolatility`` INFERRED, the others courtesy.
GREEKS_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"impliedVolatility": ("iv", "impliedVol", "implied_volatility")}
)

#: §5.3 VERIFIED ``marketStatus`` data keys read into ``MarketStatusChanged``.
MARKET_STATUS_KEYS: Final = ("market", "afterHours", "earlyHours", "serverTime")

#: §5.1 / §5.4: OSI option symbols (root ≤ 6, YYMMDD, C/P, strike × 1000 in 8 digits) need
#: ``symbolType: "option"``; the encoder sets it for symbols of this shape (INFERRED).
OSI_SYMBOL_PATTERN: Final = r"[A-Z0-9.]{1,6}\d{6}[CP]\d{8}"
SYMBOL_TYPE_OPTION: Final = "option"
#: §5.4 VERIFIED field-list keys; ``level2: true`` INFERRED (how level 2 is requested is unseen).
MARKET_TIME_AND_SALES_FIELDS_KEY: Final = "timeAndSalesFields"
MARKET_GREEKS_FIELDS_KEY: Final = "greeksFields"
MARKET_LEVEL2_KEY: Final = "level2"
MARKET_ALL_FIELDS: Final = ("*",)

#: §5.7 INFERRED: a ``response`` to a socket ``request`` carries ``payload.status`` and
#: ``payload.data``; ``status`` falls back to the top level.
TYPE_RESPONSE: Final = "response"
RESPONSE_STATUS_LOCATIONS: Final = (("payload", "status"), ("status",))
RESPONSE_DATA_LOCATIONS: Final = (("payload", "data"), ("data",))

# --- charting socket (§6) -----------------------------------------------------------------------

#: §6 INFERRED: a chart event is ``payload.symbol`` with a ``quote`` and/or ``trade`` object.
CHART_QUOTE_KEY: Final = "quote"
CHART_TRADE_KEY: Final = "trade"
CHART_SYMBOL_KEY: Final = "symbol"
#: §6 INFERRED TradingView ``DatafeedQuoteValues`` keys; alternatives are courtesy spellings.
CHART_QUOTE_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "lp": ("last", "last_price"),
        "ch": ("change",),
        "chp": ("change_percent", "changePercent"),
        "open_price": ("open",),
        "high_price": ("high",),
        "low_price": ("low",),
        "prev_close_price": ("prev_close", "prevClose"),
    }
)
CHART_TRADE_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"time": ("timestamp", "t"), "price": ("p",), "size": ("s", "volume")}
)

# --- REST reads and the other order calls (§7.4, §8.2-§8.9) -------------------------------------

REPLACE_ORDER_PATH: Final = "/v1/orders/replace"  # §8.8 VERIFIED
PREVIEW_ORDER_PATH: Final = "/v1/orders/preview"  # §8.9 VERIFIED
ACCOUNTS_PATH: Final = "/v1/users/me/accounts"  # §8.2 VERIFIED
BALANCES_PATH: Final = "/v1/accounts/{account_id}/balances"  # §8.3 VERIFIED
POSITIONS_PATH: Final = "/v1/accounts/{account_id}/positions"  # §8.4 VERIFIED
ORDERS_PATH: Final = "/v2/accounts/{account_id}/orders"  # §8.5 VERIFIED
ORDERS_HISTORY_PATH: Final = "/v2/accounts/{account_id}/orders/history"  # §8.5 VERIFIED
TOKEN_PATH: Final = "/v1/oauth2/token"  # §7.4 VERIFIED

#: §8.4 / §8.5: ``availability.available == false`` means "data not ready" (INFERRED: retry
#: later, never read as flat / no orders); the client raises a ``RequestError`` with this code.
AVAILABILITY_KEY: Final = "availability"
NOT_AVAILABLE_CODE: Final = "NOT_AVAILABLE"

#: §8.4: items of the positions list, in whichever of the three variants.
POSITIONS_LIST_KEY: Final = "positions"
#: §8.4 REST spellings on top of ``POSITION_KEY_ALIASES``: variant A's ``realizedPl`` is read as
#: today's realized P&L (INFERRED, positions are per day), the oldest variant's ``pnlToday`` as
#: the unrealized P&L (INFERRED).
REST_POSITION_KEY_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"todayRealizedPnL": ("realizedPl",), "unrealizedPl": ("pnlToday",)}
)

#: §8.5 paging: ``limit`` 1-500, ``cursor`` 0/omitted first, stop when ``nextCursor`` is 0.
ORDERS_LIST_KEY: Final = "orders"
NEXT_CURSOR_KEY: Final = "nextCursor"
ORDERS_PAGE_LIMIT_MAX: Final = 500
ORDER_SOURCES: Final = frozenset({"cache", "db"})
ORDER_HISTORY_ORDER_BY: Final = frozenset({"asc", "desc"})
#: Engine policy: a listing that pages more often than this (or repeats a cursor) is a venue bug.
MAX_ORDER_PAGES: Final = 1000

#: §8.3: REST-only balance keys (the rest of the balance table is ``WireBalance``).
REST_SOD_TOTAL_EQUITY_KEY: Final = "sodTtlEquity"
REST_SOD_TOTAL_EQUITY_UPDATED_KEY: Final = "sodTtlEquityUpdatedAt"

#: §8.2: the list of the user's accounts.
USER_ACCOUNTS_KEY: Final = "accounts"
#: §8.2 / §11.5 INFERRED: the string account id used by orders and balances is
#: ``sterling_account_id`` (what the simulator is told to return), else the numeric ``id``.
USER_ACCOUNT_ID_KEYS: Final = ("sterling_account_id", "id")
#: §0.1 BRIEF: ``accountType`` is CASH/MARGIN/…, ``accountClass`` INDIVIDUAL/JOINT/…; one REST
#: example has them the other way round, so a swapped pair is swapped back (the brief wins).
ACCOUNT_TYPES: Final = frozenset({"CASH", "MARGIN", "IRA", "ROTH_IRA", "RETIREMENT"})
ACCOUNT_CLASSES: Final = frozenset({"INDIVIDUAL", "JOINT", "CORPORATE", "TRUST", "LLC"})

#: §7.4: the token request body is JSON (VERIFIED); errors are RFC 6749 (INFERRED).
TOKEN_GRANT_TYPES: Final = frozenset({"authorization_code", "refresh_token"})
TOKEN_INVALID_GRANT: Final = "invalid_grant"
TOKEN_INVALID_CLIENT: Final = "invalid_client"
#: RFC 6749 §5.2 codes that mean "these credentials will not work; do not retry as is".
TOKEN_AUTH_ERROR_CODES: Final = frozenset(
    {TOKEN_INVALID_GRANT, TOKEN_INVALID_CLIENT, "unauthorized_client", "invalid_scope"}
)
