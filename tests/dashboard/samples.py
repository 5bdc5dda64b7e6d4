"""A hand-built ``DashboardSnapshot``: two accounts, positions, orders, fills, a rejection."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from engine.dashboard import (
    AccountRow,
    DashboardSnapshot,
    FillRow,
    OrderRow,
    PositionRow,
    RejectionRow,
    SocketRow,
)
from engine.dashboard.snapshot import IN_FLIGHT
from engine.model import ConnectionState, Side, TradingState

AT = datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)


def two_accounts() -> DashboardSnapshot:
    """Margin account ``ALPHA-1`` trading; cash account ``BETA-2`` halted, one socket down."""
    alpha = AccountRow(
        account_id="ALPHA-1",
        trading_state=TradingState.ACTIVE,
        equity=Decimal("123456.78"),
        stock_buying_power=Decimal("246913.56"),
        available_buying_power=Decimal("245013.56"),
        reserved=Decimal("1900.00"),
        realized_pnl=Decimal("42.50"),
        unrealized_pnl=Decimal("-7.25"),
        positions=(
            PositionRow(
                symbol="AAPL",
                quantity=Decimal(30),
                avg_price=Decimal("189.95"),
                market_value=Decimal("5700.30"),
                unrealized_pnl=Decimal("1.80"),
            ),
            PositionRow(symbol="TSLA", quantity=Decimal(-5), avg_price=Decimal("251.1234")),
        ),
        orders=(
            OrderRow(
                symbol="MSFT",
                side=Side.BUY,
                type="LIMIT",
                qty=Decimal(15),
                filled=Decimal(5),
                price=Decimal("409.5"),
                stop_price=None,
                status="PARTIALLY_FILLED",
                order_id="SIM-17",
            ),
            OrderRow(
                symbol="AAPL",
                side=Side.SELL,
                type="LIMIT",
                qty=Decimal(10),
                filled=Decimal(0),
                price=Decimal("191.00"),
                stop_price=None,
                status=IN_FLIGHT,
                order_id="quoter-0001",
            ),
        ),
        seconds_since_venue=2.0,
    )
    beta = AccountRow(
        account_id="BETA-2",
        trading_state=TradingState.HALTED,
        equity=Decimal("9876.54"),
        stock_buying_power=Decimal("5000"),
        available_buying_power=Decimal("5000"),
        reserved=Decimal(0),
        positions=(PositionRow(symbol="IBM", quantity=Decimal(7), avg_price=Decimal("150")),),
        seconds_since_venue=None,
    )
    return DashboardSnapshot(
        taken_at=AT,
        venue="built-in simulator",
        sockets=(
            SocketRow(
                endpoint="market",
                state=ConnectionState.SUBSCRIBED,
                seconds_in_state=125.0,
                reconnects=0,
                frames=4321,
            ),
            SocketRow(
                endpoint="accounts",
                state=ConnectionState.DISCONNECTED,
                seconds_in_state=3.0,
                reconnects=2,
                frames=87,
                last_error="connection closed: 1006",
            ),
        ),
        accounts=(alpha, beta),
        fills=(
            FillRow(
                at=AT,
                account_id="ALPHA-1",
                symbol="MSFT",
                side=Side.BUY,
                qty=Decimal(5),
                price=Decimal("409.50"),
                leaves_qty=Decimal(10),
                strategy="quoter",
            ),
            FillRow(
                at=AT,
                account_id="ALPHA-1",
                symbol="AAPL",
                side=Side.BUY,
                qty=Decimal(30),
                price=Decimal("189.95"),
                leaves_qty=Decimal(0),
                strategy="quoter",
            ),
        ),
        rejections=(
            RejectionRow(
                at=AT,
                account_id="BETA-2",
                symbol="IBM",
                source="risk",
                code="TRADING_STATE",
                reason="account is HALTED",
                strategy="quoter",
            ),
        ),
        fills_total=2,
        rejections_total=1,
        metrics_url="http://127.0.0.1:9464/metrics",
        rate_limited=3,
        faulted_plugins=("flaky",),
        log_lines=("\x1b[33mwarning\x1b[0m connection.retrying delay=0.5",),
        log_path="/var/tmp/aries-engine/engine.log",
        frame_ms=2.5,
    )
