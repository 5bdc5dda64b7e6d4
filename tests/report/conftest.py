"""A small recorded session for the report tests, written with the real ``JournalWriter``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import trio

from engine.journal import JournalWriter
from engine.model import (
    AccountSnapshotReceived,
    Balance,
    BalanceChanged,
    ConnectionState,
    ConnectionStateChanged,
    Endpoint,
    Event,
    OrderFilled,
    OrderRejected,
    PnlCandleClosed,
    PnlCandleReceived,
    Position,
    PositionChanged,
    Side,
)
from tests.journal.conftest import wait_written

T0 = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
SCRIPT = '<script>alert("pwned")</script>'
IMG = "<img src=x onerror=alert(1)>"


def ns(seconds: float) -> int:
    """Epoch nanoseconds ``seconds`` after ``T0``."""
    return int((T0 + timedelta(seconds=seconds)).timestamp() * 1e9)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _fill(
    n: int, t: float, symbol: str, side: Side, qty: str, price: str, account: str = "ACC-1"
) -> OrderFilled:
    return OrderFilled(
        account_id=account,
        ts_event=at(t),
        ts_recv=ns(t) + 1_000_000,
        cl_ord_id=f"cl-{n}",
        client_order_id=f"quoter-{n}",
        symbol=symbol,
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        cum_qty=Decimal(qty),
        leaves_qty=Decimal(0),
        strategy="quoter",
    )


def _state(t: float, endpoint: Endpoint, state: ConnectionState, reason: str = "") -> Event:
    return ConnectionStateChanged(ts_recv=ns(t), endpoint=endpoint, state=state, reason=reason)


def _candle(
    closed: bool, t: float, bucket: int, close: str, low: str | None = None, high: str | None = None
) -> Event:
    """A 1-minute P&L candle of ACC-1 (its range ``close ± 5`` unless given)."""
    cls = PnlCandleClosed if closed else PnlCandleReceived
    return cls(
        account_id="ACC-1",
        ts_recv=ns(t),
        interval="1m",
        time=at(bucket * 60),
        open=Decimal(0),
        high=Decimal(close) + 5 if high is None else Decimal(high),
        low=Decimal(close) - 5 if low is None else Decimal(low),
        close=Decimal(close),
    )


def _position(t: float, symbol: str, qty: str, unrealized: str | None) -> PositionChanged:
    return PositionChanged(
        account_id="ACC-1",
        ts_recv=ns(t),
        position=Position(
            account_id="ACC-1",
            symbol=symbol,
            quantity=Decimal(qty),
            unrealized_pnl=None if unrealized is None else Decimal(unrealized),
            today_realized_pnl=Decimal("12.00"),
        ),
        previous=None,
    )


def _balance(t: float, account: str, equity: str) -> BalanceChanged:
    return BalanceChanged(
        account_id=account,
        ts_recv=ns(t),
        balance=Balance(account_id=account, total_equity=Decimal(equity)),
    )


def session_events() -> list[Event]:
    """One session of two accounts; the expected figures are in ``test_report.py``.

    ACC-1: P&L candles for four 1-minute buckets (three closed, the fourth still open), fills
    in AAPL (long, flipped short, covered) and MSFT (closing a position from the snapshot), a
    TSLA position without fills, two rejections with markup in them. ACC-2: balances only.
    The accounts socket drops twice before it is back (one incident, 5.5 s); the market socket
    ends FAILED.
    """
    acc, mkt = Endpoint.ACCOUNTS, Endpoint.MARKET
    up = [ConnectionState.CONNECTED, ConnectionState.AUTHENTICATED, ConnectionState.SUBSCRIBED]
    return [
        *(_state(0, acc, s) for s in up),
        *(_state(0.5, mkt, s) for s in up),
        AccountSnapshotReceived(
            account_id="ACC-1",
            ts_recv=ns(1),
            info=None,
            balance=None,
            positions=(
                Position(
                    account_id="ACC-1",
                    symbol="MSFT",
                    quantity=Decimal(5),
                    avg_price=Decimal(400),
                ),
            ),
            orders=(),
        ),
        _balance(1, "ACC-1", "100000.00"),
        _balance(1, "ACC-2", "50000.00"),
        _candle(False, 2, 0, "0.00"),
        _fill(1, 10, "AAPL", Side.BUY, "10", "100"),
        _candle(False, 11, 0, "-1.50"),
        _fill(2, 20, "AAPL", Side.BUY, "10", "110"),
        _position(21, "AAPL", "20", "40.00"),
        _candle(True, 61, 0, "-2.00", low="-3.10", high="0.40"),
        _candle(False, 61, 1, "-2.00"),
        _fill(3, 70, "AAPL", Side.SELL, "15", "120"),
        _balance(70, "ACC-2", "50010.25"),
        OrderRejected(
            account_id="ACC-1",
            ts_recv=ns(80),
            client_order_id="quoter-9",
            cl_ord_id=None,
            symbol="AAPL",
            code="PRICE_BAND",
            reason=f"limit too far from the mid {SCRIPT}",
            source="risk",
            strategy="quoter",
        ),
        _state(100, acc, ConnectionState.DISCONNECTED, "connection lost: <code 1006>"),
        _state(101, acc, ConnectionState.CONNECTED),
        _state(102, acc, ConnectionState.DISCONNECTED, "auth timed out"),
        _state(104, acc, ConnectionState.CONNECTED),
        _state(104.5, acc, ConnectionState.AUTHENTICATED),
        _state(105.5, acc, ConnectionState.SUBSCRIBED),
        _candle(True, 121, 1, "175.00"),
        _fill(4, 125, "AAPL", Side.SELL, "10", "100"),
        _fill(5, 130, "MSFT", Side.SELL, "5", "410"),
        _balance(130, "ACC-2", "49990.00"),
        _fill(6, 150, "AAPL", Side.BUY_TO_COVER, "5", "90"),
        _position(151, "AAPL", "0", "0.00"),
        _position(152, "TSLA", "3", "-7.25"),
        OrderRejected(
            account_id="ACC-1",
            ts_recv=ns(160),
            client_order_id=None,
            cl_ord_id="cl-77",
            symbol="<b>TSLA</b>",
            code=IMG,
            reason="venue said & <no>",
            source="venue",
        ),
        _candle(True, 181, 2, "250.00", low="170", high="260"),
        _candle(False, 185, 3, "240.00"),
        _candle(False, 190, 3, "238.50"),
        _state(200, mkt, ConnectionState.FAILED, "INVALID_TOKEN: token revoked"),
    ]


async def write_journal(path: Path, events: Sequence[Event]) -> Path:
    """Record ``events`` with a real ``JournalWriter`` and wait until they are committed."""
    writer = JournalWriter(path=path)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for event in events:
            writer.record_event(event)
        await wait_written(writer, len(events))
        nursery.cancel_scope.cancel()
    return path
