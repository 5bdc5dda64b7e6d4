"""Strategies the replay tests load by import path (from a config, as ``replay`` does).

Each one records what it saw in a class-level list, so a test in the same process can look after
the replay; the list is cleared when an instance is made (``replay_journal`` makes fresh ones).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar

import attrs
import trio

from engine import StrategyContext, hookimpl
from engine.model import OrderUpdated, Quote, Side, TradingState


@attrs.frozen(kw_only=True)
class BuyerConfig:
    """``[strategies.config]`` of a ``QuoteBuyer``."""

    qty: Decimal = Decimal(10)
    orders_per_quote: int = 1
    max_orders: int = 100


class QuoteBuyer:
    """On every AAPL quote: ``orders_per_quote`` limit buys of ``qty`` at the bid; records the
    MockClock's time at each quote."""

    Config = BuyerConfig
    clock: ClassVar[list[float]] = []  # shared on purpose: the tests read it

    def __init__(self, config: BuyerConfig) -> None:
        self.config = config
        self.sent = 0
        QuoteBuyer.clock = []

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        QuoteBuyer.clock.append(trio.current_time())
        if quote.symbol != "AAPL" or quote.bid is None:
            return
        for _ in range(self.config.orders_per_quote):
            if self.sent < self.config.max_orders:
                ctx.submit("AAPL", Side.BUY, self.config.qty, price=quote.bid)
                self.sent += 1


class Ticker:
    """Records every ``aries_on_timer`` call and, on the third, halts the account."""

    ticks: ClassVar[list[datetime]] = []

    def __init__(self) -> None:
        Ticker.ticks = []

    @hookimpl
    def aries_on_timer(self, now: datetime, ctx: StrategyContext) -> None:
        Ticker.ticks.append(now)
        if len(Ticker.ticks) == 3:
            ctx.set_trading_state(TradingState.HALTED, "enough")


class Raiser:
    """Raises on its first quote (the host disables it)."""

    @hookimpl
    def aries_on_quote(self, quote: Quote) -> None:
        raise RuntimeError(f"cannot handle {quote.symbol}")


class Amender:
    """Rests one buy, then on its NEW update replaces it (qty 12) and cancels it."""

    def __init__(self) -> None:
        self.client_order_id: str | None = None

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.client_order_id is None and quote.bid is not None:
            self.client_order_id = ctx.submit("AAPL", Side.BUY, 10, price=quote.bid - 5)

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated, ctx: StrategyContext) -> None:
        mine = self.client_order_id
        if mine is not None and event.order.client_order_id == mine and event.order.status == "NEW":
            ctx.replace(mine, qty=12)
            ctx.cancel(mine)
