"""The order vocabulary the simulator speaks (BRIEF §0.1, §8.6): sides, types, statuses.

``Side`` is the engine's own (same spelling, same meaning). The order types and statuses are
the venue's sets: the brief's five order types (``TRAILING_STOP`` with INFERRED offset fields) and
the brief's nine statuses plus ``REPLACED``, which §4.4 has the simulator emit on the old id
after a replace (never the engine's ``UNKNOWN``).
"""

from __future__ import annotations

import enum
from typing import Final

from engine.model.enums import Side

__all__ = ["TERMINAL_STATUSES", "OrdStatus", "OrderType", "Side"]


class OrderType(enum.StrEnum):
    """Order type accepted by ``POST /v1/orders`` (§8.6, §0.1)."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    TRAILING_STOP = "TRAILING_STOP"

    @property
    def needs_price(self) -> bool:
        """LIMIT and STOP_LIMIT carry a limit ``price``; the others must not."""
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def needs_stop_price(self) -> bool:
        """STOP and STOP_LIMIT carry a ``stopPrice``; the others must not."""
        return self in (OrderType.STOP, OrderType.STOP_LIMIT)


class OrdStatus(enum.StrEnum):
    """The brief's nine ``ordStatus`` values, plus ``REPLACED`` for the old id of a replace."""

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

    @property
    def is_terminal(self) -> bool:
        """Terminal states are sticky: no more executions, not cancelable."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: Final = frozenset(
    {
        OrdStatus.FILLED,
        OrdStatus.CANCELED,
        OrdStatus.REJECTED,
        OrdStatus.EXPIRED,
        OrdStatus.REPLACED,
    }
)
