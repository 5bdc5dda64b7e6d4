"""The order vocabulary the simulator speaks (BRIEF §0.1, §8.6): sides, types, statuses."""

from __future__ import annotations

import enum
from typing import Final


class Side(enum.StrEnum):
    """Order side (§8.6)."""

    BUY = "BUY"
    SELL = "SELL"
    SELL_SHORT = "SELL_SHORT"
    BUY_TO_COVER = "BUY_TO_COVER"

    @property
    def is_buy(self) -> bool:
        """True for the sides that buy shares (and pay cash)."""
        return self in (Side.BUY, Side.BUY_TO_COVER)


class OrderType(enum.StrEnum):
    """Order type accepted by ``POST /v1/orders`` (§8.6)."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"

    @property
    def needs_price(self) -> bool:
        """LIMIT and STOP_LIMIT carry a limit ``price``; the others must not."""
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def needs_stop_price(self) -> bool:
        """STOP and STOP_LIMIT carry a ``stopPrice``; the others must not."""
        return self in (OrderType.STOP, OrderType.STOP_LIMIT)


class OrdStatus(enum.StrEnum):
    """The brief's nine ``ordStatus`` values."""

    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    PENDING_REPLACE = "PENDING_REPLACE"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        """Terminal states are sticky: no more executions, not cancelable."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: Final = frozenset(
    {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED}
)
