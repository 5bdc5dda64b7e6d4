"""Market data as the engine sees it: normalized quotes and trades (prices are ``Decimal``)."""

from __future__ import annotations

from decimal import Decimal

import attrs

from engine.model.events import Event


@attrs.frozen(kw_only=True)
class Quote(Event):
    """The current top of book for one symbol, with every field known so far merged in.

    Aries sends partial quote updates; the market normalizer merges them per symbol, so a
    ``Quote`` always carries the latest known value of each side.
    """

    symbol: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None

    @property
    def mid(self) -> Decimal | None:
        """The midpoint, or ``None`` unless both sides are known."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


@attrs.frozen(kw_only=True)
class Trade(Event):
    """One print on the tape for a symbol."""

    symbol: str
    price: Decimal
    size: Decimal | None = None
    total_volume: Decimal | None = None
    exchange: str | None = None
    sequence: int | None = None
