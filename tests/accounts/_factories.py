"""Builders for the account-book tests: orders, reports, intents, positions, balances."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from engine.model import (
    Balance,
    Event,
    Order,
    OrderIntent,
    OrderReported,
    OrderStatus,
    OrderType,
    Position,
    Side,
)

ACC = "ACC-001"
T0 = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)

E = TypeVar("E", bound=Event)


def at(seconds: int) -> datetime:
    """``T0`` plus ``seconds``: a venue ``updatedAt``."""
    return T0 + timedelta(seconds=seconds)


def order(
    status: OrderStatus,
    *,
    cl: str = "CL-1",
    client: str | None = "c-1",
    qty: str = "100",
    cum: str = "0",
    leaves: str | None = None,
    avg: str = "0",
    price: str | None = "175.50",
    last_qty: str | None = None,
    last_px: str | None = None,
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    **extra: Any,
) -> Order:
    """An order as the venue would report it; ``leaves`` defaults to ``qty - cum``
    (zero once terminal)."""
    if leaves is None:
        leaves_qty = Decimal(0) if status.is_terminal else Decimal(qty) - Decimal(cum)
    else:
        leaves_qty = Decimal(leaves)
    return Order(
        account_id=extra.pop("account_id", ACC),
        cl_ord_id=cl,
        client_order_id=client,
        symbol=symbol,
        side=side,
        type=OrderType.LIMIT,
        qty=Decimal(qty),
        price=None if price is None else Decimal(price),
        status=status,
        cum_qty=Decimal(cum),
        leaves_qty=leaves_qty,
        avg_price=Decimal(avg),
        last_qty=None if last_qty is None else Decimal(last_qty),
        last_px=None if last_px is None else Decimal(last_px),
        **extra,
    )


def reported(o: Order) -> OrderReported:
    """``o`` wrapped as a live ``account.order`` event."""
    return OrderReported(account_id=o.account_id, order=o)


def intent(
    client: str = "c-1",
    *,
    strategy: str = "alpha",
    symbol: str = "AAPL",
    qty: str = "100",
    price: str = "175.50",
) -> OrderIntent:
    """An approved buy intent."""
    return OrderIntent(
        client_order_id=client,
        strategy=strategy,
        account_id=ACC,
        symbol=symbol,
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(qty),
        price=Decimal(price),
    )


def position(symbol: str, quantity: str, avg: str = "100.00") -> Position:
    """A position of ``quantity`` shares of ``symbol``."""
    return Position(
        account_id=ACC, symbol=symbol, quantity=Decimal(quantity), avg_price=Decimal(avg)
    )


def balance(buying_power: str = "100000.00") -> Balance:
    """A balance whose stock buying power is ``buying_power``."""
    bp = Decimal(buying_power)
    return Balance(account_id=ACC, stock_buying_power=bp, net_buying_power=bp)


def of_type(facts: Sequence[Event], kind: type[E]) -> list[E]:
    """The facts of one class, in order."""
    return [f for f in facts if isinstance(f, kind)]


def kinds(facts: Sequence[Event]) -> list[str]:
    """The class names of ``facts``, in order: a compact way to assert on sequences."""
    return [type(f).__name__ for f in facts]
