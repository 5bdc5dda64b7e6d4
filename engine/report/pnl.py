"""Realized P&L of one symbol by average-cost accounting, in ``Decimal``.

The method is ``METHOD`` (printed in the report under the table).
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from engine.model.enums import Side

__all__ = ["METHOD", "CostBasis", "signed_qty"]

METHOD = (
    "Average cost: each symbol's position is signed (negative when short) and carries an "
    "average cost per unit. A fill in the direction of the position (or from flat) adds to it "
    "at the quantity-weighted average price and realizes nothing. A fill against it closes "
    "min(fill, position) units and realizes, per unit, price − average for a long or "
    "average − price for a short; the rest keeps its average. A fill larger than the position "
    "flips it, and the excess opens at the fill price. Buys and BUY_TO_COVER add, SELL and "
    "SELL_SHORT subtract. Fees and commissions are not in the journal and are not deducted; "
    "options count per unit of their quoted price (no contract multiplier)."
)

_ZERO = Decimal(0)


def signed_qty(side: Side, qty: Decimal) -> Decimal:
    """``qty`` with the sign of ``side``: positive for buys, negative for sells."""
    return qty if side.is_buy else -qty


@attrs.define(kw_only=True)
class CostBasis:
    """A running average-cost position of one symbol (see ``METHOD``).

    The basis is kept as ``cost``, the total cost of the open units (always ≥ 0), rather than
    as a per-unit average: the average is ``cost / |position|``, and closing the whole position
    takes exactly ``cost`` off, so a round trip realizes exactly ``proceeds − cost`` in
    ``Decimal`` (a per-unit average like 0.1666… would leave rounding dust).
    """

    position: Decimal = _ZERO
    cost: Decimal = _ZERO
    realized: Decimal = _ZERO
    bought: Decimal = _ZERO
    sold: Decimal = _ZERO
    fills: int = 0

    @classmethod
    def opened(cls, position: Decimal, average: Decimal) -> CostBasis:
        """A basis for ``position`` held before the first fill, at ``average`` per unit."""
        return cls(position=position, cost=abs(position) * average)

    @property
    def average(self) -> Decimal:
        """Average cost per unit of the open position (zero when flat)."""
        return self.cost / abs(self.position) if self.position else _ZERO

    def apply(self, side: Side, qty: Decimal, price: Decimal) -> Decimal:
        """Apply one fill; return the P&L it realized (zero when it only adds)."""
        self.fills += 1
        if side.is_buy:
            self.bought += qty
        else:
            self.sold += qty
        delta = signed_qty(side, qty)
        held = self.position
        if delta == 0:
            return _ZERO
        if held == 0 or (held > 0) == (delta > 0):
            self.cost += abs(delta) * price
            self.position = held + delta
            return _ZERO
        closed = min(abs(delta), abs(held))
        removed = self.cost if closed == abs(held) else self.cost * closed / abs(held)
        proceeds = closed * price
        realized = proceeds - removed if held > 0 else removed - proceeds
        self.realized += realized
        self.cost -= removed
        self.position = held + delta
        if self.position and (self.position > 0) != (held > 0):  # flipped: excess at ``price``
            self.cost = abs(self.position) * price
        return realized
