"""Enumerations of the domain: the brief's order vocabulary, account and connection states.

Values equal the Aries wire spelling wherever Aries has one, so logs read like the venue's
documentation. Variants the venue also sends (``WORKING``, ``CS``/``OPT``) are mapped in
``engine.aries``, never here.
"""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    """An order's state: the brief's nine ``ordStatus`` values plus two of ours.

    ``REPLACED`` is the state of the old ``clOrdId`` after an accepted replace (public REST pages
    show it); ``UNKNOWN`` is the engine's own state for an order whose place request has an unknown
    outcome (timeout, 5xx after send) until reconciliation settles it.
    """

    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    PENDING_REPLACE = "PENDING_REPLACE"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    REPLACED = "REPLACED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True for states after which no execution can happen."""
        return self in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        """True while the order may still execute (working or pending a change)."""
        return self in OPEN_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.REPLACED,
    }
)
OPEN_STATUSES = frozenset(
    {
        OrderStatus.PENDING_NEW,
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.PENDING_REPLACE,
    }
)


class Side(enum.StrEnum):
    """Order side. ``SELL_SHORT`` opens a short; ``BUY_TO_COVER`` closes one."""

    BUY = "BUY"
    SELL = "SELL"
    SELL_SHORT = "SELL_SHORT"
    BUY_TO_COVER = "BUY_TO_COVER"

    @property
    def is_buy(self) -> bool:
        """True for sides that spend cash (``BUY``, ``BUY_TO_COVER``)."""
        return self in (Side.BUY, Side.BUY_TO_COVER)


class OrderType(enum.StrEnum):
    """Order type as the brief lists it."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    TRAILING_STOP = "TRAILING_STOP"


class TimeInForce(enum.StrEnum):
    """How long an order stays working."""

    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"
    OPG = "OPG"
    CLO = "CLO"


class SecurityType(enum.StrEnum):
    """What an order or position is in: a stock, one option, or a spread of 2-4 legs."""

    EQUITY = "EQUITY"
    OPTION = "OPTION"
    MULTI_LEG = "MULTI_LEG"


class Endpoint(enum.StrEnum):
    """The three Aries WebSocket endpoints."""

    ACCOUNTS = "accounts"
    MARKET = "market"
    CHARTS = "charts"


class ConnectionState(enum.StrEnum):
    """The brief's connection states, plus ``DISCONNECTED`` and ``FAILED``.

    ``FAILED`` means the engine stopped retrying this socket (its credential was refused even
    after a refresh): the engine runs on, degraded, until an operator fixes the credential.
    """

    DISCONNECTED = "DISCONNECTED"
    FAILED = "FAILED"
    CONNECTED = "CONNECTED"
    AUTHENTICATED = "AUTHENTICATED"
    SUBSCRIBED = "SUBSCRIBED"
    REFRESH_WARNING = "REFRESH_WARNING"
    EXPIRED = "EXPIRED"


class TradingState(enum.StrEnum):
    """Whether an account may trade: new orders go out only when ``ACTIVE``.

    ``RECONCILING`` holds new orders (cancels still allowed) until the next snapshot is applied;
    ``REDUCING`` allows only orders that shrink exposure; ``HALTED`` allows nothing new.
    """

    ACTIVE = "ACTIVE"
    RECONCILING = "RECONCILING"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
