"""An example strategy: quote at the touch, one order at a time, and log every fill.

On each quote of its symbol, if it has no working order and has not used up ``max_orders``,
it places a small limit order joining the bid (a buy) — or, when it holds shares, joining the ask
(a sell), so it round-trips instead of accumulating. It logs its fills and its rejections.

Configure it in ``engine.toml``::

    [[strategies]]
    name = "touch-quoter"
    path = "strategies.touch_quoter:TouchQuoter"
    account = "SIM-001"
    [strategies.config]
    symbols = ["AAPL"]
    qty = "10"
    max_orders = 4
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from engine import StrategyContext, hookimpl
from engine.model import OrderFilled, OrderRejected, OrderUpdated, Quote, Side


@attrs.frozen(kw_only=True)
class TouchQuoterConfig:
    """``[strategies.config]`` of a ``TouchQuoter``."""

    symbols: tuple[str, ...] = ("AAPL",)
    qty: Decimal = Decimal(10)
    max_orders: int = 4


class TouchQuoter:
    """Joins the bid (or the ask, to sell back) with one small limit order at a time."""

    Config = TouchQuoterConfig

    def __init__(self, config: TouchQuoterConfig) -> None:
        self.config = config
        self.orders_sent = 0
        self.working: str | None = None
        self.held = Decimal(0)

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        """Place the next order when idle and a two-sided quote of our symbol arrives."""
        if quote.symbol != self.config.symbols[0] or self.working is not None:
            return
        if self.orders_sent >= self.config.max_orders or quote.bid is None or quote.ask is None:
            return
        if self.held > 0:
            side, price, qty = Side.SELL, quote.ask, self.held
        else:
            side, price, qty = Side.BUY, quote.bid, self.config.qty
        self.working = ctx.submit(quote.symbol, side, qty, price=price)
        self.orders_sent += 1
        ctx.log.info(
            "strategy.order_submitted",
            client_order_id=self.working,
            side=side,
            qty=str(qty),
            price=str(price),
        )

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled, ctx: StrategyContext) -> None:
        """Track what we hold and log the fill (only our own orders' fills)."""
        if not ctx.owns(event.client_order_id):
            return
        self.held += event.qty if event.side.is_buy else -event.qty
        ctx.log.info(
            "strategy.fill",
            symbol=event.symbol,
            side=event.side,
            qty=str(event.qty),
            price=str(event.price),
            held=str(self.held),
        )

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated, ctx: StrategyContext) -> None:
        """Forget the working order once it is done."""
        order = event.order
        if order.client_order_id == self.working and order.status.is_terminal:
            self.working = None

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected, ctx: StrategyContext) -> None:
        """Log the rejection and move on."""
        if event.client_order_id == self.working:
            self.working = None
        ctx.log.warning(
            "strategy.rejected",
            client_order_id=event.client_order_id,
            code=event.code,
            reason=event.reason,
        )
