"""Shared factories for the tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.model import (
    AccountView,
    Balance,
    OrderIntent,
    OrderType,
    Side,
    TradingState,
)


def make_intent(
    *,
    client_order_id: str = "s-1",
    side: Side = Side.BUY,
    qty: str = "10",
    price: str | None = "100",
    account_id: str = "SIM-001",
    strategy: str = "s",
    reference_price: str | None = None,
) -> OrderIntent:
    """A limit (or, without price, market) intent with sensible defaults."""
    return OrderIntent(
        client_order_id=client_order_id,
        strategy=strategy,
        account_id=account_id,
        symbol="AAPL",
        side=side,
        type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        qty=Decimal(qty),
        price=None if price is None else Decimal(price),
        reference_price=None if reference_price is None else Decimal(reference_price),
    )


def make_view(
    *, buying_power: str | None = "5000", reserved: str = "0", account_id: str = "SIM-001"
) -> AccountView:
    """An ACTIVE account view with the given stock buying power and reservations."""
    balance = (
        None
        if buying_power is None
        else Balance(account_id=account_id, stock_buying_power=Decimal(buying_power))
    )
    return AccountView(
        account_id=account_id,
        trading_state=TradingState.ACTIVE,
        balance=balance,
        positions={},
        open_orders={},
        reserved_buying_power=Decimal(reserved),
    )


@pytest.fixture
def intent() -> OrderIntent:
    return make_intent()
