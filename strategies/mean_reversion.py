"""An example strategy: quote-driven mean reversion with limit orders.

For each configured symbol it keeps the mids of the last ``window`` two-sided quotes. When a new
mid is below their mean by more than the band, it buys ``qty`` with a limit order at the bid;
when a mid is above the mean by more than the band and it holds shares, it sells what it holds
with a limit order at the ask. The band is ``k`` standard deviations of the window, or, with
``band_bps`` set, a fixed ``band_bps`` basis points of the mean.

One working order per symbol, at most. While it works, the order follows the touch: when the bid
(for a buy) or the ask (for a sell) has moved more than ``replace_ticks`` ticks from its price it
is replaced (``ctx.replace``) at the new touch. It is canceled when it is stale: older than
``max_order_age`` seconds, or the mid has come back to the mean (the opportunity is gone).

The position never goes above ``max_position`` shares (buys are cut to fit) nor below zero (it
only sells what it holds). The count is re-read from ``ctx.account()`` on every fill and position
change. A rejected order (or replace) is not retried at once: the symbol pauses for ``backoff``
seconds, doubling with each consecutive rejection up to ``max_backoff``, until an order is
accepted again.

Time is read from the events themselves (``Quote.ts_recv``, ``OrderRejected.ts_recv``), so the
strategy behaves the same live and under ``engine.testing.StrategyHarness``.

Configure it in ``engine.toml``::

    [[strategies]]
    name = "mean-reversion"
    path = "strategies.mean_reversion:MeanReversion"
    account = "SIM-001"
    [strategies.config]
    symbols = ["AAPL", "MSFT"]
    window = 20              # quotes in the rolling mean
    k = "2"                  # band = k standard deviations …
    # band_bps = "15"        # … or a fixed band of 15 bps of the mean
    qty = "10"
    max_position = "100"
    tick_size = "0.01"
    replace_ticks = 2
    max_order_age = 30.0     # seconds
    backoff = 5.0            # seconds after a first rejection, doubling
    max_backoff = 300.0
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

import attrs

from engine import ConfigValueError, StrategyContext, hookimpl
from engine.model import (
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    PositionChanged,
    Quote,
    Side,
)
from engine.validators import non_negative, optional_positive, positive

_NS_PER_SECOND = 1_000_000_000
_BPS = Decimal(10_000)


def _at_least_two(_instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 2:
        raise ConfigValueError(attribute.name, f"expected an integer of 2 or more, got {value}")


def _symbols(_instance: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value or not all(value):
        raise ConfigValueError(attribute.name, "expected at least one symbol")


@attrs.frozen(kw_only=True)
class MeanReversionConfig:
    """``[strategies.config]`` of a ``MeanReversion`` strategy."""

    symbols: tuple[str, ...] = attrs.field(default=("AAPL",), validator=_symbols)
    window: int = attrs.field(default=20, validator=_at_least_two)
    """How many quotes (their mids) the rolling mean and deviation are taken over."""
    k: Decimal = attrs.field(default=Decimal(2), validator=non_negative)
    """The band, in standard deviations of the window (unless ``band_bps`` is set)."""
    band_bps: Decimal | None = attrs.field(default=None, validator=optional_positive)
    """A fixed band in basis points of the mean, instead of ``k`` deviations."""
    qty: Decimal = attrs.field(default=Decimal(10), validator=positive)
    """Shares per buy."""
    max_position: Decimal = attrs.field(default=Decimal(100), validator=positive)
    """Most shares held (and bought but not yet filled) per symbol."""
    tick_size: Decimal = attrs.field(default=Decimal("0.01"), validator=positive)
    replace_ticks: int = attrs.field(default=2, validator=non_negative)
    """Replace a working order once the touch is more than this many ticks from its price."""
    max_order_age: float = attrs.field(default=30.0, validator=positive)
    """Seconds after which a working order is stale and canceled."""
    backoff: float = attrs.field(default=5.0, validator=positive)
    """Seconds a symbol pauses after a rejection; doubles with each rejection in a row."""
    max_backoff: float = attrs.field(default=300.0, validator=positive)


@attrs.define
class WorkingOrder:
    """The one order a symbol has at the venue (or on its way there)."""

    client_order_id: str
    side: Side
    price: Decimal
    """The price last asked for (by ``submit`` or ``replace``)."""
    placed_ns: int
    confirmed_price: Decimal
    """The price the venue last acknowledged (the fallback when a replace is refused)."""
    replace_pending: bool = False
    cancel_requested_ns: int | None = None


@attrs.define
class SymbolState:
    """What the strategy keeps per symbol."""

    mids: deque[Decimal]
    position: Decimal = Decimal(0)
    working: WorkingOrder | None = None
    rejections: int = 0
    """Rejections in a row (reset when an order is accepted)."""
    paused_until_ns: int = 0


def band(mids: deque[Decimal], config: MeanReversionConfig) -> tuple[Decimal, Decimal]:
    """The mean of ``mids`` and the half-width of the band around it (population deviation)."""
    count = Decimal(len(mids))
    mean = sum(mids, Decimal(0)) / count
    if config.band_bps is not None:
        return mean, mean * config.band_bps / _BPS
    variance = sum(((mid - mean) ** 2 for mid in mids), Decimal(0)) / count
    return mean, config.k * variance.sqrt()


class MeanReversion:
    """Buys below the rolling mean at the bid, sells its holding above it at the ask."""

    Config = MeanReversionConfig

    def __init__(self, config: MeanReversionConfig) -> None:
        self.config = config
        self.states: dict[str, SymbolState] = {
            symbol: SymbolState(mids=deque(maxlen=config.window)) for symbol in config.symbols
        }

    @hookimpl
    def aries_engine_started(self, ctx: StrategyContext) -> None:
        """Ask for the symbols' quotes and read the positions already held."""
        ctx.subscribe(*self.config.symbols)
        for symbol in self.states:
            self._refresh_position(symbol, ctx)

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        """Update the window; manage the working order, or place one on a signal."""
        state = self.states.get(quote.symbol)
        mid = quote.mid
        if state is None or mid is None or quote.bid is None or quote.ask is None:
            return
        full = len(state.mids) == self.config.window
        mean, width = band(state.mids, self.config) if full else (mid, Decimal(0))
        state.mids.append(mid)  # the signal compares the new mid with the quotes before it
        if not full:
            return
        now = quote.ts_recv
        if state.working is not None:
            touch = quote.bid if state.working.side is Side.BUY else quote.ask
            self._manage(state, state.working, mid, touch, mean, now, ctx)
            return
        if now < state.paused_until_ns:
            return
        if mid < mean - width:
            qty = min(self.config.qty, self.config.max_position - state.position)
            if qty > 0:
                self._place(state, quote.symbol, Side.BUY, qty, quote.bid, now, ctx)
        elif mid > mean + width and state.position > 0:
            self._place(state, quote.symbol, Side.SELL, state.position, quote.ask, now, ctx)

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated, ctx: StrategyContext) -> None:
        """Follow the working order: accepted, replaced, or done."""
        order = event.order
        state = self.states.get(order.symbol)
        if state is None or state.working is None:
            return
        working = state.working
        if order.client_order_id != working.client_order_id:
            return
        if order.status is OrderStatus.REPLACED:
            return  # the old terms of an accepted replace: the new ones follow as NEW
        if order.status.is_terminal:
            state.working = None
            return
        state.rejections = 0
        if order.price is not None and order.status is OrderStatus.NEW:
            working.confirmed_price = order.price
            if order.price == working.price:
                working.replace_pending = False

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled, ctx: StrategyContext) -> None:
        """Re-read the position after each of our fills; forget a fully filled order."""
        state = self.states.get(event.symbol)
        if state is None or not ctx.owns(event.client_order_id):
            return
        self._refresh_position(event.symbol, ctx)
        working = state.working
        done = event.leaves_qty == 0
        if done and working is not None and working.client_order_id == event.client_order_id:
            state.working = None
        ctx.log.info(
            "mean_reversion.fill",
            symbol=event.symbol,
            side=event.side,
            qty=str(event.qty),
            price=str(event.price),
            position=str(state.position),
        )

    @hookimpl
    def aries_on_position_changed(self, event: PositionChanged, ctx: StrategyContext) -> None:
        """Keep the position count in step with the account."""
        if event.position.symbol in self.states:
            self._refresh_position(event.position.symbol, ctx)

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected, ctx: StrategyContext) -> None:
        """Pause the symbol (exponential backoff); a refused replace leaves the order as it was."""
        state = self.states.get(event.symbol)
        if state is None or state.working is None:
            return
        working = state.working
        if event.client_order_id != working.client_order_id:
            return
        state.rejections += 1
        pause = min(self.config.backoff * 2 ** (state.rejections - 1), self.config.max_backoff)
        state.paused_until_ns = event.ts_recv + int(pause * _NS_PER_SECOND)
        if event.replace:
            working.replace_pending = False
            working.price = working.confirmed_price
        else:
            state.working = None
        ctx.log.warning(
            "mean_reversion.rejected",
            symbol=event.symbol,
            client_order_id=event.client_order_id,
            replace=event.replace,
            source=event.source,
            code=event.code,
            reason=event.reason,
            paused_seconds=pause,
        )

    def _place(
        self,
        state: SymbolState,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        now: int,
        ctx: StrategyContext,
    ) -> None:
        client_order_id = ctx.submit(symbol, side, qty, price=price)
        state.working = WorkingOrder(
            client_order_id=client_order_id,
            side=side,
            price=price,
            placed_ns=now,
            confirmed_price=price,
        )
        ctx.log.info(
            "mean_reversion.order_submitted",
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            qty=str(qty),
            price=str(price),
        )

    def _manage(
        self,
        state: SymbolState,
        working: WorkingOrder,
        mid: Decimal,
        touch: Decimal,
        mean: Decimal,
        now: int,
        ctx: StrategyContext,
    ) -> None:
        """Cancel a stale working order, or move its price to ``touch`` (its side's)."""
        max_age = int(self.config.max_order_age * _NS_PER_SECOND)
        if working.cancel_requested_ns is not None:
            if now - working.cancel_requested_ns > max_age:  # the cancel got lost: ask again
                working.cancel_requested_ns = now
                ctx.cancel(working.client_order_id)
            return
        reverted = mid >= mean if working.side is Side.BUY else mid <= mean
        if reverted or now - working.placed_ns > max_age:
            working.cancel_requested_ns = now
            ctx.cancel(working.client_order_id)
            ctx.log.info(
                "mean_reversion.cancel_stale",
                client_order_id=working.client_order_id,
                reason="reverted to the mean" if reverted else "too old",
            )
            return
        if working.replace_pending or now < state.paused_until_ns:
            return
        if abs(touch - working.price) > self.config.replace_ticks * self.config.tick_size:
            ctx.replace(working.client_order_id, price=touch)
            working.price = touch
            working.replace_pending = True

    def _refresh_position(self, symbol: str, ctx: StrategyContext) -> None:
        self.states[symbol].position = ctx.account().position_quantity(symbol)
