"""``DashboardSnapshot``: everything one dashboard frame shows, as small frozen values.

``take_snapshot`` builds one from an ``EngineHandle`` by reading only what the engine already
keeps for readers: the immutable ``AccountView`` of each account, each socket's
``statistics()``, the dispatcher's and session's counters. It calls into no actor and never
waits, so taking a snapshot cannot hold up trading; ``render`` then works on the snapshot alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from engine.model._time import now_ns, ns_to_datetime
from engine.model.account import AccountView
from engine.model.enums import ConnectionState, Side, TradingState
from engine.model.events import OrderFilled, OrderRejected

if TYPE_CHECKING:
    from engine.app import EngineHandle
    from engine.dashboard.feed import ActivityFeed

IN_FLIGHT = "IN FLIGHT"
"""The status shown for an approved order the venue has not reported yet."""


@attrs.frozen(kw_only=True)
class SocketRow:
    """One venue socket: its state, for how long, and how often it had to reconnect."""

    endpoint: str
    state: ConnectionState
    seconds_in_state: float
    reconnects: int
    frames: int = 0
    last_error: str = ""


@attrs.frozen(kw_only=True)
class PositionRow:
    """One open position (quantity negative for a short)."""

    symbol: str
    quantity: Decimal
    avg_price: Decimal
    market_value: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_today: Decimal = Decimal(0)


@attrs.frozen(kw_only=True)
class OrderRow:
    """One working order: open at the venue, or approved and on its way (``IN FLIGHT``)."""

    symbol: str
    side: Side
    type: str
    qty: Decimal
    filled: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    status: str
    order_id: str
    """The venue's ``clOrdId``; our ``client_order_id`` while the venue has not named it."""


@attrs.frozen(kw_only=True)
class AccountRow:
    """One account: trading state, the balance figures that gate orders, positions, orders.

    ``equity`` and ``stock_buying_power`` are ``None`` until the venue sent a balance.
    """

    account_id: str
    trading_state: TradingState
    equity: Decimal | None
    stock_buying_power: Decimal | None
    available_buying_power: Decimal
    reserved: Decimal
    realized_pnl: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    positions: tuple[PositionRow, ...] = ()
    orders: tuple[OrderRow, ...] = ()
    seconds_since_venue: float | None = None
    """Since the picture last matched the venue (``AccountView.as_of_ns``); ``None``: never."""


@attrs.frozen(kw_only=True)
class FillRow:
    """One execution (part or all of an order)."""

    at: datetime
    account_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    leaves_qty: Decimal
    strategy: str | None = None


@attrs.frozen(kw_only=True)
class RejectionRow:
    """One refused order or replace, with who refused it (risk, engine, dispatch, venue)."""

    at: datetime
    account_id: str
    symbol: str
    source: str
    code: str
    reason: str
    strategy: str | None = None


@attrs.frozen(kw_only=True)
class DashboardSnapshot:
    """One frame of the dashboard. Fills and rejections are newest first.

    Times and durations from ``take_snapshot`` are in whole seconds, so two snapshots of an
    engine where nothing visible happened are equal, and the dashboard skips redrawing.
    """

    taken_at: datetime
    venue: str
    sockets: tuple[SocketRow, ...] = ()
    accounts: tuple[AccountRow, ...] = ()
    fills: tuple[FillRow, ...] = ()
    rejections: tuple[RejectionRow, ...] = ()
    fills_total: int = 0
    rejections_total: int = 0
    feed_dropped: int = 0
    """Fills/rejections the display-only feed dropped under a burst (the engine lost none)."""
    metrics_url: str | None = None
    dispatch_queued: int = 0
    rate_limited: int = 0
    dispatch_failures: int = 0
    token_expires_in: float | None = None
    faulted_plugins: tuple[str, ...] = ()
    log_lines: tuple[str, ...] = ()
    log_path: str | None = None
    frame_ms: float | None = None
    """What the previous frame cost the event loop, in ms (the terminal's wait not included)."""
    stall_ms: float | None = None
    """The longest slice of it: the most the dashboard delayed any other task, in ms."""


def take_snapshot(
    handle: EngineHandle,
    feed: ActivityFeed | None = None,
    *,
    metrics_host: str = "127.0.0.1",
    log_lines: Sequence[str] = (),
    log_path: str | None = None,
    frame_ms: float | None = None,
    stall_ms: float | None = None,
) -> DashboardSnapshot:
    """Read the engine's current state from ``handle`` (and the dashboard's ``feed``).

    Only reads: views, statistics and counters. Never awaits, never calls into an actor.
    """
    now = now_ns()
    dispatch = handle.dispatcher.statistics()
    session = handle.session.statistics()
    return DashboardSnapshot(
        taken_at=ns_to_datetime(now - now % 1_000_000_000),
        venue="built-in simulator" if handle.simulator is not None else "Aries",
        sockets=tuple(socket_rows(handle)),
        accounts=tuple(account_row(view, now_ns=now) for view in _sorted_views(handle)),
        fills=tuple(fill_row(event) for event in reversed(feed.fills)) if feed else (),
        rejections=(
            tuple(rejection_row(event) for event in reversed(feed.rejections)) if feed else ()
        ),
        fills_total=feed.fills_total if feed else 0,
        rejections_total=feed.rejections_total if feed else 0,
        feed_dropped=feed.dropped if feed else 0,
        metrics_url=metrics_url(metrics_host, handle.metrics_port),
        dispatch_queued=dispatch.queued,
        rate_limited=dispatch.rate_limited,
        dispatch_failures=dispatch.failures,
        token_expires_in=session.expires_in,
        faulted_plugins=tuple(p.name for p in handle.host.statistics() if p.faulted),
        log_lines=tuple(log_lines),
        log_path=log_path,
        frame_ms=frame_ms,
        stall_ms=stall_ms,
    )


def socket_rows(handle: EngineHandle) -> Iterable[SocketRow]:
    """One row per supervised socket, from its ``statistics()``."""
    for connection in handle.connections:
        stats = connection.statistics()
        yield SocketRow(
            endpoint=stats.endpoint,
            state=stats.state,
            seconds_in_state=float(int(stats.seconds_in_state)),
            reconnects=stats.reconnects,
            frames=stats.frames,
            last_error=stats.last_error,
        )


def account_row(view: AccountView, *, now_ns: int) -> AccountRow:
    """The dashboard's row of one account's immutable view."""
    balance = view.balance
    positions = sorted(
        (p for p in view.positions.values() if p.quantity != 0), key=lambda p: p.symbol
    )
    orders = [
        OrderRow(
            symbol=order.symbol,
            side=order.side,
            type=str(order.type),
            qty=order.qty,
            filled=order.cum_qty,
            price=order.price,
            stop_price=order.stop_price,
            status=str(order.status),
            order_id=order.cl_ord_id or order.client_order_id or "",
        )
        for order in view.open_orders.values()
    ]
    orders.sort(key=lambda row: (row.symbol, row.order_id))
    orders += [
        OrderRow(
            symbol=intent.symbol,
            side=intent.side,
            type=str(intent.type),
            qty=intent.qty,
            filled=Decimal(0),
            price=intent.price,
            stop_price=intent.stop_price,
            status=IN_FLIGHT,
            order_id=intent.client_order_id,
        )
        for intent in view.in_flight.values()
    ]
    return AccountRow(
        account_id=view.account_id,
        trading_state=view.trading_state,
        equity=None if balance is None else balance.total_equity,
        stock_buying_power=None if balance is None else balance.stock_buying_power,
        available_buying_power=view.available_buying_power,
        reserved=view.reserved_buying_power,
        realized_pnl=None if balance is None else balance.realized_pl,
        unrealized_pnl=None if balance is None else balance.unrealized_pl,
        positions=tuple(
            PositionRow(
                symbol=p.symbol,
                quantity=p.quantity,
                avg_price=p.avg_price,
                market_value=p.market_value,
                unrealized_pnl=p.unrealized_pnl,
                realized_today=p.today_realized_pnl,
            )
            for p in positions
        ),
        orders=tuple(orders),
        seconds_since_venue=(
            None
            if view.as_of_ns is None
            else float(max(0, now_ns - view.as_of_ns) // 1_000_000_000)
        ),
    )


def fill_row(event: OrderFilled) -> FillRow:
    """The dashboard's row of one ``OrderFilled``."""
    return FillRow(
        at=event.recv_time,
        account_id=event.account_id,
        symbol=event.symbol,
        side=event.side,
        qty=event.qty,
        price=event.price,
        leaves_qty=event.leaves_qty,
        strategy=event.strategy,
    )


def rejection_row(event: OrderRejected) -> RejectionRow:
    """The dashboard's row of one ``OrderRejected``."""
    return RejectionRow(
        at=event.recv_time,
        account_id=event.account_id,
        symbol=event.symbol,
        source=event.source,
        code=event.code,
        reason=event.reason,
        strategy=event.strategy,
    )


def metrics_url(host: str, port: int | None) -> str | None:
    """Where to scrape the metrics (a wildcard listen address is shown as loopback)."""
    if port is None:
        return None
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/metrics"


def _sorted_views(handle: EngineHandle) -> list[AccountView]:
    return sorted(handle.views, key=lambda view: view.account_id)
