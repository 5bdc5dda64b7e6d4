"""INFERRED values of the simulator's streams and fault injection (companion of ``_profile``).

``engine.sim._profile`` holds the protocol vocabulary; this module holds the choices made for the
P&L, watchlist and news streams, the level-2 and greeks names of the market socket,
and the fault-injection defaults. Every value here is INFERRED (ARIES.md gives none of them); the
comment names the ARIES.md section it serves, so one edit corrects it.
"""

from __future__ import annotations

from typing import Final

# --------------------------------------------------------------------------------------------
# P&L candles (§4.8).
# --------------------------------------------------------------------------------------------

#: Bucket length in seconds of each BRIEF interval (``1mo`` is a calendar month, handled apart).
PNL_INTERVAL_SECONDS: Final = {
    "15s": 15,
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "1d": 86400,
}
PNL_MONTH_INTERVAL: Final = "1mo"
#: The history snapshot carries at most this many candles (the most recent ones).
PNL_HISTORY_MAX_CANDLES: Final = 500
#: Equity samples kept per account (one per market tick); older samples are folded away.
PNL_MAX_SAMPLES: Final = 20_000
#: ``payload.action`` of the one-event history replay after ``subscribed`` (§4.8 INFERRED).
PNL_SNAPSHOT_ACTION: Final = "snapshot"
#: The ``subscribed`` reply echoes ``params`` with the effective interval filled in.
PNL_ECHO_DEFAULT_INTERVAL: Final = True

# --------------------------------------------------------------------------------------------
# Watchlist and news (§4.9).
# --------------------------------------------------------------------------------------------

#: The watchlist every user starts with: id, name; symbols are the first configured ones.
SEED_WATCHLIST_ID: Final = "wl-1"
SEED_WATCHLIST_NAME: Final = "Simulated"
SEED_WATCHLIST_SIZE: Final = 2
#: The seeded generators emit one watchlist change / one news item every this many market
#: ticks (0 disables). With the default 50 ms tick: a watchlist change every 60 s, news every 20 s.
WATCHLIST_EVERY_TICKS: Final = 1200
NEWS_EVERY_TICKS: Final = 400
NEWS_TOPICS: Final = ("earnings", "analyst", "merger", "dividend", "general")
NEWS_SOURCE: Final = "SimWire"
NEWS_URL_FORMAT: Final = "https://example.invalid/news/{id}"
NEWS_ID_FORMAT: Final = "n-{n}"
NEWS_HEADLINES: Final = (
    "{symbol} reports quarterly results",
    "Analyst updates rating on {symbol}",
    "{symbol} announces a strategic partnership",
    "{symbol} declares a regular dividend",
    "{symbol} shares active in heavy trading",
)

# --------------------------------------------------------------------------------------------
# Market socket (§5.3-§5.6). Books, chains and prices come from the market model
# (``MarketModel.book``, ``option_chain``, ``option_quote``; numbers in ``_profile``).
# --------------------------------------------------------------------------------------------

#: Request flag of a level-2 subscription (§5.4 INFERRED boolean).
LEVEL2_FLAG: Final = "level2"
#: Market makers of the level-2 ``quotes`` rows: maker ``i`` quotes book level ``i`` each side.
L2_EXCHANGES: Final = ("NSDQ", "ARCA", "NYSE", "BATS")
#: ``symbolType`` value of option subscriptions (§5.1 VERIFIED prose).
SYMBOL_TYPE_OPTION: Final = "option"
#: Greek key names (§5.5 INFERRED).
GREEK_KEYS: Final = ("delta", "gamma", "theta", "vega", "rho", "impliedVolatility")

# --------------------------------------------------------------------------------------------
# Fault injection (§10 item 8).
# --------------------------------------------------------------------------------------------

#: Admin path of the fault-control API (loopback clients only).
FAULTS_ADMIN_PATH: Final = "/_sim/faults"
#: Defaults of the named scenarios.
DEFAULT_RETRY_AFTER_SECONDS: Final = 1
DEFAULT_SERVER_ERROR_STATUS: Final = 503
#: A held (reordered) account event is released after this long if nothing overtakes it.
REORDER_HOLD_SECONDS: Final = 0.2
#: Frames of the ``malformed_frames`` scenario.
MALFORMED_FRAMES: Final = {
    "invalid_json": '{"type": "event", "payload": {"action": ',
    "truncated": '{"type":"event","topic":"account","payload":{"action":"update","type":"acc',
    "unknown_type": '{"type": "mystery", "payload": {"action": "surprise"}}',
    "not_object": "[1, 2, 3]",
}
#: How the ``malformed_events`` scenario spoils an account event: ``truncated`` cuts its text in
#: half (not JSON any more); ``missing_data`` drops ``payload.data`` (JSON, but no event).
MALFORMED_EVENT_KINDS: Final = ("truncated", "missing_data")
