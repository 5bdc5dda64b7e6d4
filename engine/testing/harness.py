"""Unit-testing a strategy or a risk plugin without sockets: ``StrategyHarness``.

The harness registers one plugin object in a real plugin manager and runs it under a real
``PluginHost`` (the engine's own routing, fault isolation and per-plugin ``StrategyContext``),
with no network, no account actor and no simulator. The test owns the account: it sets the
``AccountView`` the plugin reads, feeds events (quotes, timer ticks, order updates, fills,
rejections) and reads back the commands the plugin emitted, as typed lists::

    from engine.testing import StrategyHarness, account_view

    async def test_buys_below_the_threshold() -> None:
        harness = StrategyHarness(BuyTheDip(BuyTheDipConfig(below=Decimal(150))))
        harness.set_account(account_view(buying_power="10000"))
        await harness.start()
        out = await harness.quote("AAPL", bid="149.90", ask="149.95")
        [intent] = out.intents
        assert (intent.side, intent.qty, intent.price) == (Side.BUY, Decimal(10), Decimal("149.95"))
        await harness.fill(intent.client_order_id)   # the venue executed it all
        assert harness.account().position_quantity("AAPL") == 10

Feeding methods are ``async`` (the host publishes commands on the engine's bus) and each
returns the ``Commands`` that one call produced; ``harness.commands`` accumulates everything.
Time is the harness's own clock (``harness.now``, moved with ``advance``): every event it builds
is stamped with it, ``tick()`` passes it to ``aries_on_timer``, and ``check_order`` gives it to
risk plugins as ``now_ns``.

Order bookkeeping mirrors the engine's, in miniature (``track_orders=True``): an order the
plugin submits is in the view's ``in_flight`` until ``accept``/``reject``; ``accept`` makes it an
open order; ``fill`` moves the position and closes the order when nothing is left;
``replace_accepted`` applies the plugin's last ``ctx.replace`` terms (the old terms go
``REPLACED``, the new ones come ``NEW``, as from the engine). Events are built the way the engine
builds them (``strategy`` set to the owner, so the host routes them as it would live).

The account is live by default (``live_account=True``): each view's ``as_of_ns`` follows the
harness clock, as while the accounts socket is heard from, so staleness checks pass unless a test
turns that off and sets ``as_of_ns`` itself.

Risk plugins: ``kind="plugin"`` and ``check_order(intent)``, which runs the engine's fail-closed
``RiskGate`` against the current view and the latest quotes.

A hook that raises makes the host disable the plugin; by default the harness then raises
``PluginRaised`` so the test fails at the offending event (``raise_on_fault=False`` to assert on
``commands.faults`` instead). The traceback is in the ``plugin.faulted`` log line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from engine.accounts.views import AccountViews
from engine.bus import EventBus
from engine.config import PluginSection
from engine.hooks.host import PluginHost
from engine.hooks.manager import LoadedPlugin, PluginKind, instantiate, make_plugin_manager
from engine.hooks.risk import RiskGate
from engine.model.account import AccountView, Balance, Position
from engine.model.enums import OrderStatus, OrderType, SecurityType, Side, TradingState
from engine.model.events import (
    CancelOrder,
    Event,
    MarketDataRequested,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
    PluginFaulted,
    ReplaceOrder,
    SubmitOrder,
    TradingStateRequested,
)
from engine.model.market import Quote, Trade
from engine.model.orders import Order, OrderIntent, RiskVerdict

__all__ = ["Commands", "PluginRaised", "StrategyHarness", "account_view"]

DEFAULT_ACCOUNT = "SIM-001"
DEFAULT_START = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
"""The harness clock's default start: a Thursday, 09:30 New York time."""

Number = Decimal | int | str
_ZERO = Decimal(0)
_COMMAND_TYPES: tuple[type[Event], ...] = (
    SubmitOrder,
    CancelOrder,
    ReplaceOrder,
    TradingStateRequested,
    MarketDataRequested,
    PluginFaulted,
)


def _dec(value: Number) -> Decimal:
    if isinstance(value, float | bool):
        raise TypeError(f"money and quantities are Decimal, int or str, not {type(value).__name__}")
    return Decimal(str(value))


def _opt_dec(value: Number | None) -> Decimal | None:
    return None if value is None else _dec(value)


def _ns(when: datetime) -> int:
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


class PluginRaised(AssertionError):
    """A plugin's hook raised inside the harness (the host disabled the plugin)."""


@attrs.define
class Commands:
    """Commands a plugin emitted, in order (``all``) and by type."""

    all: list[Event] = attrs.field(factory=list)
    submitted: list[SubmitOrder] = attrs.field(factory=list)
    cancels: list[CancelOrder] = attrs.field(factory=list)
    replaces: list[ReplaceOrder] = attrs.field(factory=list)
    trading_state_requests: list[TradingStateRequested] = attrs.field(factory=list)
    market_data_requests: list[MarketDataRequested] = attrs.field(factory=list)
    faults: list[PluginFaulted] = attrs.field(factory=list)

    @property
    def intents(self) -> list[OrderIntent]:
        """The order intents of ``submitted``."""
        return [command.intent for command in self.submitted]

    def add(self, command: Event) -> None:
        """Record one command under ``all`` and its type's list."""
        self.all.append(command)
        if isinstance(command, SubmitOrder):
            self.submitted.append(command)
        elif isinstance(command, CancelOrder):
            self.cancels.append(command)
        elif isinstance(command, ReplaceOrder):
            self.replaces.append(command)
        elif isinstance(command, TradingStateRequested):
            self.trading_state_requests.append(command)
        elif isinstance(command, MarketDataRequested):
            self.market_data_requests.append(command)
        elif isinstance(command, PluginFaulted):
            self.faults.append(command)

    def clear(self) -> None:
        """Forget everything recorded."""
        for records in (
            self.all,
            self.submitted,
            self.cancels,
            self.replaces,
            self.trading_state_requests,
            self.market_data_requests,
            self.faults,
        ):
            records.clear()

    def __len__(self) -> int:
        return len(self.all)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.all)


def account_view(
    account_id: str = DEFAULT_ACCOUNT,
    *,
    buying_power: Number | None = None,
    total_equity: Number | None = None,
    positions: Mapping[str, Number] | None = None,
    trading_state: TradingState = TradingState.ACTIVE,
    balance: Balance | None = None,
    open_orders: Iterable[Order] = (),
    as_of_ns: int | None = None,
) -> AccountView:
    """An ``AccountView`` for tests: signed ``positions`` by symbol, a balance if any is given.

    ``buying_power`` sets ``stock_buying_power`` (and ``net_buying_power``); ``balance`` (a full
    ``Balance``) wins over both shortcuts. With neither, the balance is unknown (``None``).
    ``as_of_ns`` is when the picture was last confirmed by the venue (a harness with
    ``live_account`` keeps it at its clock).
    """
    if balance is None and (buying_power is not None or total_equity is not None):
        power = _ZERO if buying_power is None else _dec(buying_power)
        balance = Balance(
            account_id=account_id,
            stock_buying_power=power,
            net_buying_power=power,
            total_equity=_ZERO if total_equity is None else _dec(total_equity),
        )
    held = {
        symbol: Position(account_id=account_id, symbol=symbol, quantity=_dec(qty))
        for symbol, qty in (positions or {}).items()
        if _dec(qty) != 0
    }
    return AccountView(
        account_id=account_id,
        trading_state=trading_state,
        balance=balance,
        positions=MappingProxyType(held),
        open_orders=MappingProxyType({o.cl_ord_id: o for o in open_orders}),
        as_of_ns=as_of_ns,
    )


@attrs.define(eq=False)
class _Tracked:
    """The harness's picture of one order the plugin submitted."""

    intent: OrderIntent
    order: Order
    reported: bool = False
    pending: ReplaceOrder | None = None


class StrategyHarness:
    """Runs one strategy or risk plugin under a real ``PluginHost``, with no sockets.

    Args:
        plugin: the plugin object (an instance with ``@hookimpl`` methods, or a module).
        name: its name, as ``name = …`` in ``engine.toml`` (client order ids start with it).
        kind: ``"strategy"`` (a ``[[strategies]]`` entry: it hears only its own orders) or
            ``"plugin"`` (a ``[[plugins]]`` entry, e.g. a risk plugin: it hears every order).
        accounts: the accounts it is bound to (the first is the default for the helpers). Each
            starts with an empty ``ACTIVE`` view without a balance; ``set_account`` replaces it.
        start: the harness clock's first reading (aware UTC).
        track_orders: keep the view's ``in_flight``, ``open_orders`` and positions in step with
            the plugin's orders and the fills the test feeds (see the module docstring).
        live_account: the account picture is always current, as while the accounts socket is
            alive: every view's ``as_of_ns`` follows the harness clock. ``False`` leaves
            ``as_of_ns`` to the test (e.g. to test a staleness check).
        raise_on_fault: raise ``PluginRaised`` when a hook raises (else only recorded).

    Raises:
        pluggy.PluginValidationError: a hook implementation matches no hookspec (a typo).
    """

    def __init__(
        self,
        plugin: object,
        *,
        name: str = "strategy",
        kind: PluginKind = "strategy",
        accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,),
        start: datetime = DEFAULT_START,
        track_orders: bool = True,
        live_account: bool = True,
        raise_on_fault: bool = True,
    ) -> None:
        if not accounts:
            raise ValueError("a plugin must be bound to at least one account")
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        self.plugin = plugin
        self.name = name
        self.kind: PluginKind = kind
        self.accounts = accounts
        self.now = start
        self.track_orders = track_orders
        self.live_account = live_account
        self.raise_on_fault = raise_on_fault
        self.commands = Commands()
        """Every command the plugin emitted so far (``clear()`` it between phases of a test)."""

        self.pm = make_plugin_manager()
        self.pm.register(plugin, name=name)
        self.pm.check_pending()
        self.loaded = LoadedPlugin(name=name, kind=kind, obj=plugin, accounts=accounts)
        self.bus = EventBus()
        self._commands = self.bus.subscribe("harness", accepts=_COMMAND_TYPES)
        self.views = AccountViews()
        for account_id in accounts:
            self.views.set(account_view(account_id))
        self.host = PluginHost(self.pm, [self.loaded], self.bus, self.views)
        self._orders: dict[str, _Tracked] = {}
        self._cl_ord_ids = 0

    @classmethod
    def load(
        cls,
        path: str,
        config: Mapping[str, Any] | None = None,
        *,
        name: str = "strategy",
        **options: Any,
    ) -> StrategyHarness:
        """Build the plugin from its import path and ``config`` table exactly as ``engine.toml``
        would (``"package.module:Class"``; the table validated against its ``Config`` class).

        Raises:
            PluginError: the import failed or the config table is invalid (the engine's message).
        """
        section = PluginSection(name=name, path=path, config=dict(config or {}))
        return cls(instantiate(section), name=name, **options)

    # --- the clock -------------------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        """``now`` in epoch nanoseconds (the ``ts_recv`` of the events the harness builds)."""
        return _ns(self.now)

    def advance(self, seconds: float) -> datetime:
        """Move the harness clock forward and return the new ``now``."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.now += timedelta(seconds=seconds)
        return self.now

    # --- the account -----------------------------------------------------------------------

    def account(self, account_id: str | None = None) -> AccountView:
        """The view the plugin currently reads through ``ctx.account()``."""
        resolved = self._account(account_id)
        self._stamp()
        view = self.views.get(resolved)
        assert view is not None  # every bound account has a view from the start
        return view

    def set_account(self, view: AccountView) -> None:
        """Replace the view of ``view.account_id`` (which the plugin must be bound to)."""
        self._account(view.account_id)
        self.views.set(view)

    def set_position(self, symbol: str, quantity: Number, *, account: str | None = None) -> None:
        """Set one signed position in the current view (zero removes it)."""
        view = self.account(account)
        self.views.set(_with_position(view, symbol, _dec(quantity), None))

    # --- feeding events --------------------------------------------------------------------

    async def start(self) -> Commands:
        """Call ``aries_engine_started`` (as the engine does once connected and synced)."""
        self._stamp()
        await self.host.start_plugins()
        return await self._collect()

    async def stop(self) -> None:
        """Call ``aries_engine_stopping``; later events are not delivered (as in the engine)."""
        self.host.stop_plugins()
        await self._collect()

    async def deliver(self, event: Event) -> Commands:
        """Route any hook event to the plugin as the host does live; return what it emitted."""
        self._stamp()
        self.host.deliver(event)
        return await self._collect()

    async def quote(
        self,
        symbol: str,
        bid: Number | None = None,
        ask: Number | None = None,
        *,
        bid_size: Number | None = None,
        ask_size: Number | None = None,
    ) -> Commands:
        """Deliver a ``Quote`` (it also becomes ``ctx.quote(symbol)``)."""
        return await self.deliver(
            Quote(
                symbol=symbol,
                bid=_opt_dec(bid),
                ask=_opt_dec(ask),
                bid_size=_opt_dec(bid_size),
                ask_size=_opt_dec(ask_size),
                ts_event=self.now,
                ts_recv=self.now_ns,
            )
        )

    async def trade(self, symbol: str, price: Number, size: Number | None = None) -> Commands:
        """Deliver a ``Trade`` print."""
        return await self.deliver(
            Trade(
                symbol=symbol,
                price=_dec(price),
                size=_opt_dec(size),
                ts_event=self.now,
                ts_recv=self.now_ns,
            )
        )

    async def tick(self, now: datetime | None = None) -> Commands:
        """Call ``aries_on_timer(now)`` (default: the harness clock) as the host's timer does."""
        self._stamp()
        self.host.tick(self.now if now is None else now)
        return await self._collect()

    # --- the fate of the plugin's orders ---------------------------------------------------

    def order(self, client_order_id: str) -> Order:
        """The harness's current picture of one of the plugin's orders.

        Raises:
            KeyError: the plugin never submitted ``client_order_id``.
        """
        return self._tracked(client_order_id).order

    async def accept(self, client_order_id: str) -> Commands:
        """The venue acknowledged the order: an ``OrderUpdated`` to ``NEW``."""
        return await self.order_update(client_order_id, OrderStatus.NEW)

    async def order_update(
        self, client_order_id: str, status: OrderStatus, **changes: Any
    ) -> Commands:
        """Deliver an ``OrderUpdated`` moving the order to ``status`` (``changes``: other
        ``Order`` fields, e.g. ``text``)."""
        tracked = self._tracked(client_order_id)
        return await self._update(tracked, attrs.evolve(tracked.order, status=status, **changes))

    async def fill(
        self, client_order_id: str, qty: Number | None = None, price: Number | None = None
    ) -> Commands:
        """The order executed ``qty`` (default: all that is left) at ``price`` (default: its
        limit, else the current touch): an ``OrderFilled``, then its ``OrderUpdated``.

        With ``track_orders`` the position in the view moves first, as if the venue's position
        report had already been applied when the plugin hears of the fill.
        """
        tracked = self._tracked(client_order_id)
        order = tracked.order
        quantity = order.leaves_qty if qty is None else _dec(qty)
        if not 0 < quantity <= order.leaves_qty:
            raise ValueError(
                f"cannot fill {quantity} of {client_order_id}: {order.leaves_qty} left"
            )
        executed = self._fill_price(tracked, price)
        cum_qty = order.cum_qty + quantity
        leaves_qty = order.leaves_qty - quantity
        avg_price = (order.avg_price * order.cum_qty + executed * quantity) / cum_qty
        if self.track_orders:
            signed = quantity if order.side.is_buy else -quantity
            view = self.account(order.account_id)
            held = view.position_quantity(order.symbol)
            self.views.set(_with_position(view, order.symbol, held + signed, executed))
        emitted = await self.deliver(
            OrderFilled(
                account_id=order.account_id,
                cl_ord_id=order.cl_ord_id,
                client_order_id=client_order_id,
                symbol=order.symbol,
                side=order.side,
                qty=quantity,
                price=executed,
                cum_qty=cum_qty,
                leaves_qty=leaves_qty,
                strategy=tracked.intent.strategy,
                ts_event=self.now,
                ts_recv=self.now_ns,
            )
        )
        status = OrderStatus.FILLED if leaves_qty == 0 else OrderStatus.PARTIALLY_FILLED
        filled = attrs.evolve(
            order,
            status=status,
            cum_qty=cum_qty,
            leaves_qty=leaves_qty,
            avg_price=avg_price,
            last_qty=quantity,
            last_px=executed,
        )
        updated = await self._update(tracked, filled)
        for command in updated:
            emitted.add(command)
        return emitted

    async def canceled(self, client_order_id: str) -> Commands:
        """The order was canceled (e.g. after the plugin's ``ctx.cancel``)."""
        return await self.order_update(client_order_id, OrderStatus.CANCELED, leaves_qty=_ZERO)

    async def reject(
        self,
        client_order_id: str,
        code: str = "REJECTED",
        reason: str = "rejected by the test",
        *,
        source: str = "venue",
        replace: bool = False,
        cancel: bool = False,
    ) -> Commands:
        """Deliver an ``OrderRejected`` (``source``: risk, engine, dispatch or venue).

        ``replace=True`` refuses the plugin's pending ``ctx.replace``: the order stands on its
        old terms. ``cancel=True`` refuses a cancel: the order stands as it is. Otherwise the
        order is gone (and leaves ``in_flight``/``open_orders``).
        """
        if replace and cancel:
            raise ValueError("a rejection is of a replace or of a cancel, not both")
        tracked = self._tracked(client_order_id)
        order = tracked.order
        if replace:
            tracked.pending = None
        elif not cancel:
            tracked.order = attrs.evolve(order, status=OrderStatus.REJECTED, leaves_qty=_ZERO)
            self._sync_view(tracked)
        return await self.deliver(
            OrderRejected(
                account_id=order.account_id,
                client_order_id=client_order_id,
                cl_ord_id=order.cl_ord_id if tracked.reported else None,
                symbol=order.symbol,
                code=code,
                reason=reason,
                source=source,
                strategy=tracked.intent.strategy,
                replace=replace,
                cancel=cancel,
                ts_event=self.now,
                ts_recv=self.now_ns,
            )
        )

    async def replace_accepted(self, client_order_id: str) -> Commands:
        """The venue accepted the plugin's last ``ctx.replace`` of this order: the old terms go
        ``REPLACED`` and the new ones come ``NEW`` (two ``OrderUpdated``, as from the engine).

        Raises:
            ValueError: no replace of this order is pending.
        """
        tracked = self._tracked(client_order_id)
        request = tracked.pending
        if request is None:
            raise ValueError(f"no replace of {client_order_id} is pending")
        tracked.pending = None
        old = tracked.order
        emitted = await self._update(tracked, attrs.evolve(old, status=OrderStatus.REPLACED))
        qty = old.qty if request.qty is None else request.qty
        new = attrs.evolve(
            old,
            cl_ord_id=self._next_cl_ord_id(),
            status=OrderStatus.NEW,
            qty=qty,
            leaves_qty=qty - old.cum_qty,
            price=old.price if request.price is None else request.price,
            stop_price=old.stop_price if request.stop_price is None else request.stop_price,
            time_in_force=request.time_in_force or old.time_in_force,
        )
        tracked.intent = attrs.evolve(
            tracked.intent,
            qty=new.qty,
            price=new.price,
            stop_price=new.stop_price,
            time_in_force=new.time_in_force,
        )
        tracked.reported = False  # the new terms are a new venue order (a new ``cl_ord_id``)
        for command in await self._update(tracked, new):
            emitted.add(command)
        return emitted

    # --- risk plugins ----------------------------------------------------------------------

    def intent(
        self,
        symbol: str,
        side: Side | str,
        qty: Number,
        *,
        price: Number | None = None,
        stop_price: Number | None = None,
        type: OrderType | str | None = None,
        account: str | None = None,
        client_order_id: str = "test-1",
        strategy: str = "test",
        reference_price: Number | None = None,
    ) -> OrderIntent:
        """An ``OrderIntent`` as ``ctx.submit`` would build it (``reference_price`` defaults to
        the touch of the latest quote: the ask for a buy, the bid for a sell)."""
        order_side = Side(side)
        limit = _opt_dec(price)
        if reference_price is None:
            touch = self.host.quotes.get(symbol)
            reference = None if touch is None else (touch.ask if order_side.is_buy else touch.bid)
        else:
            reference = _dec(reference_price)
        return OrderIntent(
            client_order_id=client_order_id,
            strategy=strategy,
            account_id=self._account(account),
            symbol=symbol,
            side=order_side,
            type=OrderType(type)
            if type is not None
            else (OrderType.LIMIT if limit is not None else OrderType.MARKET),
            qty=_dec(qty),
            price=limit,
            stop_price=_opt_dec(stop_price),
            security_type=SecurityType.EQUITY,
            reference_price=reference,
        )

    def check_order(self, intent: OrderIntent, account: AccountView | None = None) -> RiskVerdict:
        """The engine's ``RiskGate`` verdict on ``intent``: ``aries_check_order`` with the
        current view of its account (or ``account``), the latest quotes and ``now_ns``.

        Fail closed as live: a hook that raises gives a ``RISK_PLUGIN_ERROR`` rejection.
        """
        gate = RiskGate(self.pm, [self.loaded], quotes=self.host.quotes, clock=lambda: self.now_ns)
        return gate(intent, account if account is not None else self.account(intent.account_id))

    # --- internals -------------------------------------------------------------------------

    def _stamp(self) -> None:
        """With ``live_account``: every view was just confirmed by the venue (``as_of_ns``)."""
        if not self.live_account:
            return
        now = self.now_ns
        for view in self.views:
            if view.as_of_ns != now:
                self.views.set(attrs.evolve(view, as_of_ns=now))

    async def _collect(self) -> Commands:
        await self.host.flush()
        emitted = Commands()
        if self._commands.statistics().pending:
            for command in await self._commands.receive_batch():
                emitted.add(command)
                self.commands.add(command)
                self._track(command)
        if emitted.faults and self.raise_on_fault:
            fault = emitted.faults[0]
            raise PluginRaised(
                f"plugin {fault.plugin!r} raised in {fault.hook}: {fault.error} "
                "(the traceback is in the plugin.faulted log line)"
            )
        return emitted

    def _track(self, command: Event) -> None:
        if isinstance(command, SubmitOrder):
            intent = command.intent
            order = Order(
                account_id=intent.account_id,
                cl_ord_id=self._next_cl_ord_id(),
                client_order_id=intent.client_order_id,
                symbol=intent.symbol,
                side=intent.side,
                type=intent.type,
                qty=intent.qty,
                leaves_qty=intent.qty,
                price=intent.price,
                stop_price=intent.stop_price,
                time_in_force=intent.time_in_force,
                status=OrderStatus.PENDING_NEW,
            )
            tracked = _Tracked(intent=intent, order=order)
            self._orders[intent.client_order_id] = tracked
            self._sync_view(tracked)
        elif isinstance(command, ReplaceOrder) and command.client_order_id in self._orders:
            self._orders[command.client_order_id].pending = command

    async def _update(self, tracked: _Tracked, order: Order) -> Commands:
        before = tracked.order.status if tracked.reported else None
        tracked.order = order
        tracked.reported = True
        self._sync_view(tracked)
        return await self.deliver(
            OrderUpdated(
                account_id=order.account_id,
                order=order,
                previous_status=before,
                strategy=tracked.intent.strategy,
                ts_event=self.now,
                ts_recv=self.now_ns,
            )
        )

    def _sync_view(self, tracked: _Tracked) -> None:
        """Put the order where the engine's view would have it: in flight, open, or gone."""
        if not self.track_orders:
            return
        order = tracked.order
        view = self.account(order.account_id)
        in_flight = {
            cid: i for cid, i in view.in_flight.items() if cid != tracked.intent.client_order_id
        }
        open_orders = {
            key: o
            for key, o in view.open_orders.items()
            if o.client_order_id != tracked.intent.client_order_id
        }
        if not tracked.reported and order.status is OrderStatus.PENDING_NEW:
            in_flight[tracked.intent.client_order_id] = tracked.intent
        elif order.status.is_open:
            open_orders[order.cl_ord_id] = order
        self.views.set(
            attrs.evolve(
                view,
                in_flight=MappingProxyType(in_flight),
                open_orders=MappingProxyType(open_orders),
            )
        )

    def _fill_price(self, tracked: _Tracked, price: Number | None) -> Decimal:
        if price is not None:
            return _dec(price)
        order = tracked.order
        if order.price is not None:
            return order.price
        quote = self.host.quotes.get(order.symbol)
        touch = None if quote is None else (quote.ask if order.side.is_buy else quote.bid)
        if touch is None:
            raise ValueError(f"no price for a fill of {order.client_order_id}: pass price=")
        return touch

    def _tracked(self, client_order_id: str) -> _Tracked:
        try:
            return self._orders[client_order_id]
        except KeyError:
            raise KeyError(f"{self.name!r} never submitted {client_order_id!r}") from None

    def _next_cl_ord_id(self) -> str:
        self._cl_ord_ids += 1
        return f"H{self._cl_ord_ids}"

    def _account(self, account_id: str | None) -> str:
        if account_id is None:
            return self.accounts[0]
        if account_id not in self.accounts:
            raise ValueError(f"plugin {self.name!r} is not bound to account {account_id!r}")
        return account_id


def _with_position(
    view: AccountView, symbol: str, quantity: Decimal, price: Decimal | None
) -> AccountView:
    positions = dict(view.positions)
    old = positions.pop(symbol, None)
    if quantity != 0:
        avg = old.avg_price if old is not None else _ZERO
        if price is not None:
            held = _ZERO if old is None else old.quantity
            if held == 0 or (held > 0) != (quantity > 0):
                avg = price  # opened (or flipped): the fill's price
            elif abs(quantity) > abs(held):
                avg = (avg * abs(held) + price * (abs(quantity) - abs(held))) / abs(quantity)
        positions[symbol] = Position(
            account_id=view.account_id, symbol=symbol, quantity=quantity, avg_price=avg
        )
    return attrs.evolve(view, positions=MappingProxyType(positions))
