"""An example strategy: keep a portfolio at target weights, rebalancing on a timer.

Every ``interval`` seconds (on ``aries_on_timer``) it values the account: the weight of each
target symbol is ``position × mid / total_equity`` (the position from ``ctx.account()``, the mid
from ``ctx.quote``, the equity from the account's balance). A symbol whose weight is off its
target by more than ``tolerance`` is traded back toward the target with a limit order: sells at
the bid, buys at the ask (marketable, but never worse than the touch the plan was made on), for a
whole number of ``lot_size`` shares, and only if the order is worth at least
``min_trade_notional``. Sells go out first, then buys, so the cash they free is counted first.

It never sells more than it holds (no shorting; a symbol held short is left alone), never has
more than one working order per symbol (an order still working at the next round is canceled,
and the symbol waits a round), and leaves alone the symbols it has no target for. Targets may
add up to less than 1: the rest stays in cash.

Risk verdicts are respected: an order rejected by a risk plugin (``source == "risk"``) is logged
and its symbol is not tried again before the next round; when the code is
``INSUFFICIENT_BUYING_POWER`` the next attempt for that symbol is halved (again on each such
rejection), until an order of the symbol fills.

Configure it in ``engine.toml``::

    [[strategies]]
    name = "rebalancer"
    path = "strategies.rebalancer:Rebalancer"
    account = "SIM-001"
    [strategies.config]
    interval = 60.0                # seconds between rounds
    tolerance = "0.02"             # act when a weight is more than 2 points off
    min_trade_notional = "100"     # dollars
    lot_size = "1"
    [strategies.config.targets]    # weights of total equity
    AAPL = "0.30"
    MSFT = "0.20"

The engine's ``[engine] timer_interval`` (default 1 s) is the resolution of ``interval``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import attrs

from engine import ConfigValueError, StrategyContext, hookimpl
from engine.model import (
    AccountView,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    Quote,
    Side,
)
from engine.validators import non_negative, positive

INSUFFICIENT_BUYING_POWER = "INSUFFICIENT_BUYING_POWER"
_ZERO = Decimal(0)
_ONE = Decimal(1)


def _weights(_instance: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Decimal]) -> None:
    if not value:
        raise ConfigValueError(attribute.name, "expected at least one symbol = weight")
    for symbol, weight in value.items():
        if not _ZERO <= weight <= _ONE:
            raise ConfigValueError(f"{attribute.name}.{symbol}", "expected a weight from 0 to 1")
    if sum(value.values(), _ZERO) > _ONE:
        raise ConfigValueError(attribute.name, "the weights add up to more than 1")


def _fraction(_instance: Any, attribute: attrs.Attribute[Any], value: Decimal) -> None:
    if not _ZERO <= value < _ONE:
        raise ConfigValueError(attribute.name, "expected a number from 0 to less than 1")


@attrs.frozen(kw_only=True)
class RebalancerConfig:
    """``[strategies.config]`` of a ``Rebalancer``."""

    targets: Mapping[str, Decimal] = attrs.field(validator=_weights)
    """Target weight of each symbol, as a fraction of total equity (they add up to 1 at most)."""
    tolerance: Decimal = attrs.field(default=Decimal("0.02"), validator=_fraction)
    """Leave a symbol alone while ``|weight − target| <= tolerance``."""
    min_trade_notional: Decimal = attrs.field(default=Decimal(100), validator=non_negative)
    """Skip orders worth less than this (qty × limit price)."""
    interval: float = attrs.field(default=60.0, validator=positive)
    """Seconds between two rebalancing rounds (the first is on the first timer tick)."""
    lot_size: Decimal = attrs.field(default=_ONE, validator=positive)
    """Order quantities are whole multiples of this."""


@attrs.frozen(kw_only=True)
class PlannedOrder:
    """One order of a rebalancing round, with the numbers behind it."""

    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    """The limit: the bid for a sell, the ask for a buy."""
    weight: Decimal
    """The symbol's weight now."""
    target: Decimal

    @property
    def notional(self) -> Decimal:
        """``qty × price``."""
        return self.qty * self.price


def _floor_to(value: Decimal, lot: Decimal) -> Decimal:
    return (value / lot).to_integral_value(rounding=ROUND_FLOOR) * lot


def plan_round(
    config: RebalancerConfig,
    account: AccountView,
    quotes: Mapping[str, Quote],
    scale: Mapping[str, Decimal] | None = None,
) -> list[PlannedOrder]:
    """The orders that move ``account`` toward ``config.targets``: sells first, then buys.

    Pure arithmetic in ``Decimal``: for each target symbol with a two-sided quote, the dollars
    to trade are ``target × equity − position × mid`` (compared with ``tolerance × equity``, so no
    rounded weight decides anything); the quantity is that over the mid, scaled by
    ``scale[symbol]`` (default 1) and floored to ``lot_size``; sells are capped at the position.
    Symbols within ``tolerance``, held short, or whose order would be worth less than
    ``min_trade_notional`` get no order. No balance (or no equity) means no orders.
    """
    balance = account.balance
    if balance is None or balance.total_equity <= 0:
        return []
    equity = balance.total_equity
    sells: list[PlannedOrder] = []
    buys: list[PlannedOrder] = []
    for symbol in sorted(config.targets):
        target = config.targets[symbol]
        quote = quotes.get(symbol)
        if quote is None or quote.bid is None or quote.ask is None or quote.mid is None:
            continue
        mid = quote.mid
        held = account.position_quantity(symbol)
        if held < 0:
            continue  # a short is not the rebalancer's to manage
        value = held * mid
        gap = target * equity - value  # in dollars; exact (no division yet)
        if abs(gap) <= config.tolerance * equity:
            continue
        factor = _ONE if scale is None else scale.get(symbol, _ONE)
        qty = _floor_to(abs(gap) * factor / mid, config.lot_size)
        side = Side.BUY if gap > 0 else Side.SELL
        if side is Side.SELL:
            qty = min(qty, _floor_to(held, config.lot_size))
        price = quote.ask if side is Side.BUY else quote.bid
        if qty <= 0 or qty * price < config.min_trade_notional:
            continue
        order = PlannedOrder(
            symbol=symbol, side=side, qty=qty, price=price, weight=value / equity, target=target
        )
        (buys if side is Side.BUY else sells).append(order)
    return sells + buys


class Rebalancer:
    """Trades the account back to its target weights every ``interval`` seconds."""

    Config = RebalancerConfig

    def __init__(self, config: RebalancerConfig) -> None:
        self.config = config
        self.next_round: datetime | None = None
        self.working: dict[str, str] = {}
        """symbol → the ``client_order_id`` of its working order."""
        self.cancel_requested: set[str] = set()
        self.retry_after: dict[str, datetime] = {}
        """symbol → when it may be tried again, after a risk rejection (the next round)."""
        self.scale: dict[str, Decimal] = {}
        """symbol → the fraction of the planned quantity to send (halved on buying power)."""

    @hookimpl
    def aries_engine_started(self, ctx: StrategyContext) -> None:
        """Ask for the quotes of every target symbol."""
        ctx.subscribe(*sorted(self.config.targets))

    @hookimpl
    def aries_on_timer(self, now: datetime, ctx: StrategyContext) -> None:
        """Run a round when one is due."""
        if self.next_round is not None and now < self.next_round:
            return
        self.next_round = now + timedelta(seconds=self.config.interval)
        self.rebalance(now, ctx)

    def rebalance(self, now: datetime, ctx: StrategyContext) -> list[PlannedOrder]:
        """One round: cancel what still works, then send the planned orders (sells first)."""
        view = ctx.account()
        for symbol, client_order_id in self.working.items():
            if symbol not in self.cancel_requested:
                self.cancel_requested.add(symbol)
                ctx.cancel(client_order_id)
                ctx.log.info(
                    "rebalancer.cancel_stale", symbol=symbol, client_order_id=client_order_id
                )
        busy = set(self.working)
        busy |= {order.symbol for order in view.open_orders.values()}
        busy |= {intent.symbol for intent in view.in_flight.values()}
        busy |= {symbol for symbol, at in self.retry_after.items() if now < at}
        quotes = {
            symbol: quote
            for symbol in self.config.targets
            if (quote := ctx.quote(symbol)) is not None
        }
        sent = []
        for order in plan_round(self.config, view, quotes, self.scale):
            if order.symbol in busy:
                continue
            self.working[order.symbol] = ctx.submit(
                order.symbol, order.side, order.qty, price=order.price
            )
            sent.append(order)
            ctx.log.info(
                "rebalancer.order_submitted",
                symbol=order.symbol,
                side=order.side,
                qty=str(order.qty),
                price=str(order.price),
                weight=str(order.weight),
                target=str(order.target),
            )
        return sent

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated, ctx: StrategyContext) -> None:
        """Forget a working order once it is done (a ``REPLACED`` id is not done)."""
        order = event.order
        status = order.status
        if status.is_terminal and status is not OrderStatus.REPLACED:
            self._forget(order.symbol, order.client_order_id)

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled, ctx: StrategyContext) -> None:
        """A fill restores the symbol's full size."""
        if ctx.owns(event.client_order_id):
            self.scale.pop(event.symbol, None)
            if event.leaves_qty == 0:
                self._forget(event.symbol, event.client_order_id)

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected, ctx: StrategyContext) -> None:
        """Respect the verdict: wait for the next round; halve after a buying-power refusal."""
        if event.replace or self.working.get(event.symbol) != event.client_order_id:
            return
        self._forget(event.symbol, event.client_order_id)
        if event.source != "risk":
            ctx.log.warning(
                "rebalancer.rejected",
                symbol=event.symbol,
                source=event.source,
                code=event.code,
                reason=event.reason,
            )
            return
        if self.next_round is not None:
            self.retry_after[event.symbol] = self.next_round
        if event.code == INSUFFICIENT_BUYING_POWER:
            self.scale[event.symbol] = self.scale.get(event.symbol, _ONE) / 2
        ctx.log.warning(
            "rebalancer.risk_rejected",
            symbol=event.symbol,
            code=event.code,
            reason=event.reason,
            next_attempt=None if self.next_round is None else self.next_round.isoformat(),
            next_scale=str(self.scale.get(event.symbol, _ONE)),
        )

    def _forget(self, symbol: str, client_order_id: str | None) -> None:
        if client_order_id is not None and self.working.get(symbol) == client_order_id:
            del self.working[symbol]
            self.cancel_requested.discard(symbol)
