"""Strategies that engine subprocesses in the tests load by import path."""

from __future__ import annotations

from decimal import Decimal

from engine import StrategyContext, hookimpl
from engine.model import Quote, Side

RESTING_OFFSET = Decimal(5)


class RestingBuyer:
    """Buys 10 AAPL once, far below the bid (it rests), unless the account already has one."""

    def __init__(self) -> None:
        self.done = False

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.done or quote.symbol != "AAPL" or quote.bid is None:
            return
        self.done = True
        view = ctx.account()
        if view.open_orders or view.position_quantity("AAPL") != 0:
            return  # a restart: the order (or its fill) is already there
        ctx.submit("AAPL", Side.BUY, 10, price=quote.bid - RESTING_OFFSET)
