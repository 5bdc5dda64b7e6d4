"""The base of every event on the engine's bus.

Events are frozen facts, named in the past tense. ``ts_event`` is the venue's time (aware UTC, or
``None`` when the venue sent none); ``ts_recv`` is when the engine received the frame, in epoch
nanoseconds, taken once per frame.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from engine.model._time import now_ns, ns_to_datetime
from engine.model.account import AccountInfo, Balance, Position
from engine.model.enums import (
    ConnectionState,
    Endpoint,
    OrderStatus,
    Side,
    TimeInForce,
    TradingState,
)
from engine.model.orders import Order, OrderIntent


@attrs.frozen(kw_only=True)
class Event:
    """Base class of everything published on the bus."""

    ts_event: datetime | None = None
    ts_recv: int = attrs.field(factory=now_ns)

    @property
    def recv_time(self) -> datetime:
        """``ts_recv`` as an aware UTC datetime."""
        return ns_to_datetime(self.ts_recv)


@attrs.frozen(kw_only=True)
class AccountEvent(Event):
    """An event of one account; the bus never delivers it to another account's plugins."""

    account_id: str


# --- venue reports: what the venue said, normalized; consumed by the account actor ---------------


@attrs.frozen(kw_only=True)
class AccountSnapshotReceived(AccountEvent):
    """The full account state the venue sent after a subscribe (it replaces local state)."""

    info: AccountInfo | None
    balance: Balance | None
    positions: tuple[Position, ...]
    orders: tuple[Order, ...]


@attrs.frozen(kw_only=True)
class OrderReported(AccountEvent):
    """One ``account.order`` event: the order's state as the venue now reports it."""

    order: Order


@attrs.frozen(kw_only=True)
class PositionReported(AccountEvent):
    """One ``account.position`` event."""

    position: Position


@attrs.frozen(kw_only=True)
class BalanceReported(AccountEvent):
    """One ``account.balance`` event (the full balance, not a delta)."""

    balance: Balance


@attrs.frozen(kw_only=True)
class AccountInfoReported(AccountEvent):
    """One ``account.info`` event."""

    info: AccountInfo


# --- commands: strategies' requests on their way to the account actor ---------------------------


@attrs.frozen(kw_only=True)
class SubmitOrder(AccountEvent):
    """Command: a strategy submitted ``intent``; the account actor checks risk and dispatches it."""

    intent: OrderIntent


@attrs.frozen(kw_only=True)
class TradingStateRequested(AccountEvent):
    """Command: put the account in ``state`` (``ACTIVE``, ``REDUCING`` or ``HALTED``)."""

    state: TradingState
    reason: str


@attrs.frozen(kw_only=True)
class CancelOrder(AccountEvent):
    """Command: a strategy asked to cancel its order ``client_order_id``."""

    client_order_id: str
    strategy: str


@attrs.frozen(kw_only=True)
class CancelAllOrders(AccountEvent):
    """Command from the engine itself (never a strategy): cancel every open order it owns.

    Published at shutdown when ``[engine] on_shutdown = "cancel"``. The account actor puts the
    account in ``HALTED`` with ``reason`` (orders still queued for the venue are refused, held
    ones rejected), sends a cancel for every open order a strategy of this engine placed (and for
    each order still on its way, once the venue names it) and leaves orders it did not place
    (``external``: another device, another program) alone.
    """

    reason: str


@attrs.frozen(kw_only=True)
class ReplaceOrder(AccountEvent):
    """Command: a strategy asked to amend its open order ``client_order_id``.

    ``None`` leaves a term as it is; the replacement goes through risk like a new order.
    """

    client_order_id: str
    strategy: str
    qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None


# --- dispatcher outcomes: what happened to our REST requests ----------------------------------


@attrs.frozen(kw_only=True)
class OrderPlaced(AccountEvent):
    """The venue acknowledged a place request and assigned ``cl_ord_id``."""

    client_order_id: str
    cl_ord_id: str


@attrs.frozen(kw_only=True)
class OrderPlaceFailed(AccountEvent):
    """A place request failed. ``outcome_unknown`` means it may have reached the venue anyway."""

    client_order_id: str
    code: str
    reason: str
    outcome_unknown: bool = False


@attrs.frozen(kw_only=True)
class OrderReplaceAccepted(OrderPlaced):
    """The venue accepted a replace: ``cl_ord_id`` is the order's new handle, ``orig_cl_ord_id``
    the old one (ARIES.md §8.8 id cycling). Linking it works like an ``OrderPlaced``."""

    orig_cl_ord_id: str


@attrs.frozen(kw_only=True)
class ReplaceFailed(AccountEvent):
    """A replace was refused (the order stands unchanged), or its outcome is unknown."""

    client_order_id: str
    code: str
    reason: str
    outcome_unknown: bool = False


@attrs.frozen(kw_only=True)
class CancelFailed(AccountEvent):
    """A cancel request was refused or failed; the order's state is unchanged."""

    client_order_id: str
    code: str
    reason: str


# --- facts for plugins ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OrderUpdated(AccountEvent):
    """An order changed state (or was first seen). ``strategy`` is its owner, if one of ours.

    ``external`` marks an order this engine did not place (another device, another program):
    strategies hear about it, but it belongs to none of them.
    """

    order: Order
    previous_status: OrderStatus | None
    strategy: str | None = None
    external: bool = False


@attrs.frozen(kw_only=True)
class OrderFilled(AccountEvent):
    """Part or all of an order executed: ``qty`` at ``price`` (this fill only, not cumulative)."""

    cl_ord_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    cum_qty: Decimal
    leaves_qty: Decimal
    strategy: str | None = None


@attrs.frozen(kw_only=True)
class OrderRejected(AccountEvent):
    """An order was refused: by a risk plugin, by the engine, by the dispatcher or by the venue."""

    client_order_id: str | None
    cl_ord_id: str | None
    symbol: str
    code: str
    reason: str
    source: str
    strategy: str | None = None
    replace: bool = False
    """True when what was refused is a replace: the order itself stands, on its old terms."""
    cancel: bool = False
    """True when what failed is a cancel: the order itself is unchanged as far as the engine
    knows (still working, unless its own updates say otherwise: after a 5xx or a time-out the
    venue may have cancelled it anyway, and a cancel can lose a race with the last fill)."""


@attrs.frozen(kw_only=True)
class PositionChanged(AccountEvent):
    """A position was opened, changed or closed (``quantity`` zero)."""

    position: Position
    previous: Position | None


@attrs.frozen(kw_only=True)
class BalanceChanged(AccountEvent):
    """The account's balance (buying power, equity, margin) changed."""

    balance: Balance


@attrs.frozen(kw_only=True)
class AccountInfoChanged(AccountEvent):
    """The account record (type, options level, status) changed."""

    info: AccountInfo


@attrs.frozen(kw_only=True)
class AccountSubscriptionRefused(AccountEvent):
    """The venue refused the account's subscription (e.g. ``ACCESS_DENIED``: the credential's
    user does not own it). Nothing of the account can be seen or traded: it is ``HALTED`` for
    good, while the other accounts go on."""

    code: str
    reason: str


@attrs.frozen(kw_only=True)
class AccountSynced(AccountEvent):
    """A snapshot was applied: the engine's picture of the account matches the venue's."""

    open_orders: int
    positions: int


@attrs.frozen(kw_only=True)
class TradingStateChanged(AccountEvent):
    """The account's trading state changed (e.g. ``RECONCILING`` while disconnected)."""

    state: TradingState
    previous: TradingState
    reason: str


@attrs.frozen(kw_only=True)
class ConnectionStateChanged(Event):
    """One WebSocket endpoint moved to a new connection state."""

    endpoint: Endpoint
    state: ConnectionState
    reason: str = ""


@attrs.frozen(kw_only=True)
class MarketDataRequested(Event):
    """A strategy asked for (or gave up) the market data of some symbols."""

    strategy: str
    subscribe: tuple[str, ...] = ()
    unsubscribe: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PluginFaulted(Event):
    """A plugin's hook raised; the plugin was disabled and the engine went on."""

    plugin: str
    hook: str
    error: str
