"""The engine against the simulator through two ``FaultProxy``s, and the invariants after a fault.

``open_fault_rig`` starts the simulator, a proxy for the WebSockets (``rig.ws``) and one for REST
(``rig.rest``), and the engine pointed at the proxies (``venue.kind = "aries"``), with one
strategy, ``Recorder``, that the test drives (``rig.submit``/``rig.replace``) and that records
everything it hears. Everything runs on the test's virtual clock (the clock jumps after 10 ms
of real idleness, so frames in flight on loopback are never overtaken by a timer): an idle
timeout of 60 s costs milliseconds. ``open_fault_rig(oauth=True)`` has the engine take its
tokens from the simulator's OAuth token endpoint instead of a fixed token. The pieces are there
on their own too: ``open_venue`` (simulator and proxies), ``engine_table`` (the engine's config)
and ``open_engine`` (an engine on a venue; a restart, for instance, on the same journal).

``await rig.settle()`` waits (bounded, in virtual time) until every invariant holds and fails
with the ones that do not; ``rig.check_invariants()`` asserts them at once. The invariants are
the issue's list:

* the engine's books equal the simulator's truth (open orders, positions, the balance fields
  that do not move with the market);
* the strategy saw each fill exactly once (no fill twice, and the quantity it heard per order
  equals what the venue executed);
* no order was submitted twice (one venue order per client order id; no more replacements
  than replaces asked for);
* the engine is running and healthy (every socket ``SUBSCRIBED``, the account ``ACTIVE``,
  nothing left in flight, no plugin faulted).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
import trio

from engine import StrategyContext, hookimpl
from engine.app import EngineHandle, run_engine
from engine.config import parse_config
from engine.connection import ConnectionSupervisor
from engine.hooks.manager import LoadedPlugin, load_plugins
from engine.model import (
    ConnectionState,
    Endpoint,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    Side,
    TradingState,
)
from engine.model.events import (
    AccountSynced,
    BalanceChanged,
    ConnectionStateChanged,
    PositionChanged,
    TradingStateChanged,
)
from engine.sim import SimAccount, SimConfig, Simulator
from engine.sim._messages import avg_price as wire_avg_price
from engine.sim._messages import money as wire_money
from engine.testing import FaultProxy, open_fault_proxy, open_simulator
from tests.sim.helpers import issue_token

ACCOUNT = "SIM-001"
SYMBOL = "AAPL"
ACCOUNTS_WS = "/v1/accounts/ws"
TOKEN_ENV = "ARIES_FAULTS_TOKEN"
QTY = Decimal(10)
SETTLE = 300.0
"""Virtual seconds the engine gets to agree with the venue once it is healthy again."""
HEALTHY = 600.0
"""Virtual seconds the engine gets to be connected, subscribed and synced again."""

# Balance fields that move only with orders and executions (the others move with every tick's
# marks, and the venue does not push those changes).
STABLE_BALANCE_FIELDS = (
    "settled_funds",
    "unsettled_funds",
    "gross_margin",
    "pending_orders_count",
    "realized_pl",
    "start_of_day_cash",
    "value_bought",
    "value_sold",
)


class BugReproduced(AssertionError):
    """Raised by a scenario when the engine bug it is marked ``xfail`` for shows up, so that
    the mark (``raises=REPRODUCED``) matches that failure and no other."""


REPRODUCED = pytest.RaisesGroup(BugReproduced, flatten_subgroups=True)
"""``xfail(raises=...)`` of a known engine bug: a ``BugReproduced`` (pytest-trio hands the
test's exception over in an exception group)."""


class Recorder:
    """A strategy the test drives: it places what the test asks and records what it hears."""

    def __init__(self) -> None:
        self.ctx: StrategyContext | None = None
        self.updates: list[OrderUpdated] = []
        self.fills: list[OrderFilled] = []
        self.rejections: list[OrderRejected] = []
        self.trading_states: list[TradingState] = []
        self.synced = 0
        self._changed = trio.Event()

    @hookimpl
    def aries_engine_started(self, ctx: StrategyContext) -> None:
        self.ctx = ctx

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        self.updates.append(event)
        self._notify()

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append(event)
        self._notify()

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected) -> None:
        self.rejections.append(event)
        self._notify()

    @hookimpl
    def aries_on_trading_state_changed(self, event: TradingStateChanged) -> None:
        self.trading_states.append(event.state)
        self._notify()

    @hookimpl
    def aries_on_account_synced(self, event: AccountSynced) -> None:
        self.synced += 1
        self._notify()

    # Heard only so that waits re-check their condition when the books or sockets change.

    @hookimpl
    def aries_on_position_changed(self, event: PositionChanged) -> None:
        self._notify()

    @hookimpl
    def aries_on_balance_changed(self, event: BalanceChanged) -> None:
        self._notify()

    @hookimpl
    def aries_on_connection_state(self, event: ConnectionStateChanged) -> None:
        self._notify()

    def status(self, client_order_id: str) -> OrderStatus | None:
        """The last status heard for the order (the head of its replace chain)."""
        for event in reversed(self.updates):
            if event.order.client_order_id == client_order_id:
                return event.order.status
        return None

    def filled_qty(self, client_order_id: str) -> Decimal:
        """The quantity the strategy heard executed for the order (all its replacements)."""
        return sum((f.qty for f in self.fills if f.client_order_id == client_order_id), Decimal(0))

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; re-checked after everything the strategy hears."""
        while not predicate():
            await self._changed.wait()

    async def wait_for_news(self) -> None:
        """Return after the strategy hears the next thing."""
        await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()


@attrs.define(eq=False)
class FaultRig:
    """The running simulator, proxies and engine of one scenario, and the strategy's record."""

    sim: Simulator
    ws: FaultProxy
    rest: FaultProxy
    engine: EngineHandle
    strategy: Recorder
    submitted: list[str] = attrs.field(factory=list)
    replaces: Counter[str] = attrs.field(factory=Counter)
    _index: dict[str, list[Any]] | None = attrs.field(default=None, init=False)
    """The venue's orders by client order id, while a check runs (one pass over the ledger,
    not one per order: a soak's checks see thousands)."""

    # -- the engine's parts ----------------------------------------------------------------

    def connection(self, endpoint: Endpoint) -> ConnectionSupervisor:
        """The supervisor of one endpoint."""
        [found] = [c for c in self.engine.connections if c.handler.endpoint is endpoint]
        return found

    @property
    def accounts(self) -> ConnectionSupervisor:
        """The accounts socket's supervisor."""
        return self.connection(Endpoint.ACCOUNTS)

    # -- driving the strategy -----------------------------------------------------------------

    def bid(self) -> Decimal:
        """The simulator's current bid."""
        bid = self.sim.market.quote(SYMBOL).bid
        assert bid is not None
        return bid

    async def submit(self, price: Decimal, qty: Decimal = QTY) -> str:
        """Have the strategy submit a buy limit order; return its client order id."""
        ctx = self.strategy.ctx
        assert ctx is not None, "the engine has not started the strategy"
        client_order_id = ctx.submit(SYMBOL, Side.BUY, qty, price=price)
        self.submitted.append(client_order_id)
        await self.engine.host.flush()
        return client_order_id

    async def submit_resting(self) -> str:
        """A buy far below the market (it rests until ``fill_at_venue``); waits for NEW."""
        client_order_id = await self.submit(_cents(self.bid() * Decimal("0.8")))
        await self.wait_status(client_order_id, OrderStatus.NEW)
        return client_order_id

    async def replace(self, client_order_id: str, price: Decimal) -> None:
        """Have the strategy replace the order's price."""
        ctx = self.strategy.ctx
        assert ctx is not None
        ctx.replace(client_order_id, price=price)
        self.replaces[client_order_id] += 1
        await self.engine.host.flush()

    async def cancel(self, client_order_id: str) -> None:
        """Have the strategy cancel the order."""
        ctx = self.strategy.ctx
        assert ctx is not None
        ctx.cancel(client_order_id)
        await self.engine.host.flush()

    async def wait_status(self, client_order_id: str, *statuses: OrderStatus) -> None:
        """Wait until the strategy heard one of ``statuses`` for the order."""
        await self.strategy.wait_until(lambda: self.strategy.status(client_order_id) in statuses)

    # -- the venue ----------------------------------------------------------------------------

    def venue_orders(self, client_order_id: str) -> list[Any]:
        """Every venue order carrying this client order id (the original and replacements)."""
        if self._index is not None:
            return self._index.get(client_order_id, [])
        return [o for o in self.sim.ledger.orders(ACCOUNT) if o.client_id == client_order_id]

    def venue_head(self, client_order_id: str) -> Any:
        """The latest venue order of the chain (the one a fill would hit): the placed order,
        then each accepted replacement of it in turn."""
        orders = self.venue_orders(client_order_id)
        assert orders, f"the venue has no order {client_order_id}"
        head = ([o for o in orders if o.orig_cl_ord_id is None] or orders)[0]
        while True:
            successors = [
                o
                for o in orders
                if o.orig_cl_ord_id == head.cl_ord_id and o.status.value != "REJECTED"
            ]
            if not successors:
                return head
            head = successors[-1]

    async def fill_at_venue(self, client_order_id: str) -> None:
        """Move the market through the order's limit and wait until the venue filled it all
        (whatever the engine hears of it)."""
        head = self.venue_head(client_order_id)
        assert head.price is not None
        self.sim.market.force_quote(
            SYMBOL, bid=head.price - 2, ask=head.price - 1, bid_size=10_000, ask_size=10_000
        )
        await self.sim.wait_statistics(
            lambda _: self.venue_head(client_order_id).status.value == "FILLED"
        )

    # -- after the fault ----------------------------------------------------------------------

    def accounts_connections_after(self, connection_id: int) -> int:
        """Accounts sockets the engine opened through the proxy after ``connection_id``."""
        return sum(1 for c in self.ws.history() if c.path == ACCOUNTS_WS and c.id > connection_id)

    async def wait_reconnect_attempt(self, after_id: int) -> None:
        """Wait until the engine dialled the accounts socket again after connection
        ``after_id`` (it noticed the fault)."""
        await self.ws.wait_statistics(lambda _: self.accounts_connections_after(after_id) > 0)

    async def wait_healthy(self) -> None:
        """Every socket SUBSCRIBED and the account ACTIVE, at the same moment."""
        with trio.fail_after(HEALTHY):
            while True:
                for connection in self.engine.connections:
                    await connection.wait_state(ConnectionState.SUBSCRIBED)
                await self.strategy.wait_until(lambda: self._trading_state() is TradingState.ACTIVE)
                if all(c.state is ConnectionState.SUBSCRIBED for c in self.engine.connections):
                    return

    def _trading_state(self) -> TradingState | None:
        view = self.engine.views.get(ACCOUNT)
        return None if view is None else view.trading_state

    async def settle(self) -> None:
        """Wait until every invariant holds (re-checked whenever the strategy hears something
        and on every market tick); fail with what still does not after ``SETTLE`` virtual
        seconds. Violations that cannot heal (a fill heard twice, an order placed twice) stay
        and fail it too."""
        violations = await self.settled()
        assert not violations, "invariants violated:\n" + "\n".join(violations)

    async def settled(self) -> list[str]:
        """``settle()`` without the assertion: the violations left once every invariant held
        (none) or ``SETTLE`` virtual seconds passed."""
        with trio.move_on_after(SETTLE):
            while self.invariant_violations():
                await self._next_change()
        return self.invariant_violations()

    async def _next_change(self) -> None:
        """Return when the strategy hears something or the market ticks, whichever is first."""
        ticks = self.sim.statistics().market_ticks
        async with trio.open_nursery() as nursery:

            async def ticked() -> None:
                await self.sim.wait_statistics(lambda s: s.market_ticks > ticks)
                nursery.cancel_scope.cancel()

            async def heard() -> None:
                await self.strategy.wait_for_news()
                nursery.cancel_scope.cancel()

            nursery.start_soon(ticked)
            nursery.start_soon(heard)

    # -- invariants ---------------------------------------------------------------------------

    def book_differences(self) -> list[str]:
        """How the engine's view of the account differs from the simulator's ledger."""
        view = self.engine.views.get(ACCOUNT)
        if view is None:
            return ["the engine has no view of the account"]
        ledger = self.sim.ledger
        out: list[str] = []
        engine_orders = {
            cl: (o.status.value, o.qty, o.cum_qty, o.price) for cl, o in view.open_orders.items()
        }
        venue_orders = {
            o.cl_ord_id: (o.status.value, o.qty, o.cum_qty, o.price)
            for o in ledger.orders(ACCOUNT)
            if not o.status.is_terminal
        }
        if engine_orders != venue_orders:
            out.append(f"open orders: engine {engine_orders} != venue {venue_orders}")
        engine_positions = {
            s: (p.quantity, p.avg_price) for s, p in view.positions.items() if p.quantity != 0
        }
        venue_positions = {  # the average price as the venue reports it (4 decimals)
            p.symbol: (p.quantity, Decimal(wire_avg_price(p.avg_price)))
            for p in ledger.positions(ACCOUNT)
            if p.quantity
        }
        if engine_positions != venue_positions:
            out.append(f"positions: engine {engine_positions} != venue {venue_positions}")
        venue_balance = ledger.balance(ACCOUNT)
        if view.balance is None:
            out.append("the engine has no balance")
        else:
            for name in STABLE_BALANCE_FIELDS:
                # As the venue reports it: amounts to the cent (the ledger keeps quotients).
                mine, truth = getattr(view.balance, name), getattr(venue_balance, name)
                if isinstance(truth, Decimal):
                    truth = Decimal(wire_money(truth))
                if mine != truth:
                    out.append(f"balance {name}: engine {mine} != venue {truth}")
        return out

    def invariant_violations(self) -> list[str]:
        """Every invariant that does not hold now (empty: all hold)."""
        index: dict[str, list[Any]] = {}
        for order in self.sim.ledger.orders(ACCOUNT):
            index.setdefault(order.client_id, []).append(order)
        self._index = index
        try:
            out = self.book_differences()
            out += self._fill_violations()
            out += self._submission_violations()
            out += self._health_violations()
        finally:
            self._index = None
        return out

    def check_invariants(self) -> None:
        """Assert every invariant (see the module docstring)."""
        violations = self.invariant_violations()
        assert not violations, "invariants violated:\n" + "\n".join(violations)

    def _fill_violations(self) -> list[str]:
        out: list[str] = []
        seen = Counter((f.cl_ord_id, f.cum_qty) for f in self.strategy.fills)
        out += [f"fill {key} heard {n} times" for key, n in seen.items() if n > 1]
        for client_order_id in self.submitted:
            orders = self.venue_orders(client_order_id)
            executed = self.venue_head(client_order_id).cum_qty if orders else Decimal(0)
            heard = self.strategy.filled_qty(client_order_id)
            if heard != executed:
                out.append(f"{client_order_id}: strategy heard {heard} filled, venue {executed}")
        foreign = [f for f in self.strategy.fills if f.client_order_id not in self.submitted]
        out += [f"a fill of an order the strategy did not submit: {f}" for f in foreign]
        return out

    def _submission_violations(self) -> list[str]:
        out: list[str] = []
        # Refused before anything was sent (risk, the engine), or sent and then reported failed
        # or lost by the dispatcher (the venue may or may not have it: at most once). A refused
        # replace says nothing about whether its order was placed.
        never_sent = {
            r.client_order_id
            for r in self.strategy.rejections
            if r.source in ("risk", "engine") and not r.replace
        }
        maybe_sent = {
            r.client_order_id
            for r in self.strategy.rejections
            if r.source == "dispatch" and not r.replace
        }
        for client_order_id in self.submitted:
            orders = self.venue_orders(client_order_id)
            placed = [o for o in orders if o.orig_cl_ord_id is None]
            replacements = len(orders) - len(placed)
            if client_order_id in never_sent:
                allowed = {0}
            elif client_order_id in maybe_sent:
                allowed = {0, 1}
            else:
                allowed = {1}
            if len(placed) not in allowed:
                out.append(f"{client_order_id} placed {len(placed)} times (expected {allowed})")
            if replacements > self.replaces[client_order_id]:
                out.append(
                    f"{client_order_id} replaced {replacements} times, asked "
                    f"{self.replaces[client_order_id]}"
                )
        return out

    def _health_violations(self) -> list[str]:
        out: list[str] = []
        if self.engine.stop_event.is_set():
            out.append("the engine is stopping")
        for connection in self.engine.connections:
            if connection.state is not ConnectionState.SUBSCRIBED:
                out.append(f"{connection.handler.endpoint} socket is {connection.state}")  # noqa: PERF401
        view = self.engine.views.get(ACCOUNT)
        if view is not None and view.trading_state is not TradingState.ACTIVE:
            out.append(f"account is {view.trading_state}")
        out += self._unresolved()
        faulted = [s.name for s in self.engine.host.statistics() if s.faulted]
        if faulted:
            out.append(f"plugins faulted: {faulted}")
        return out

    def _unresolved(self) -> list[str]:
        """Orders and replaces the engine sent whose outcome it does not know yet."""
        view = self.engine.views.get(ACCOUNT)
        if view is None:
            return []
        out: list[str] = []
        if view.in_flight:
            out.append(f"orders still in flight: {sorted(view.in_flight)}")
        if view.replacing:
            out.append(f"replaces still unanswered: {sorted(view.replacing)}")
        unknown = [c for c, o in view.open_orders.items() if o.status is OrderStatus.UNKNOWN]
        if unknown:
            out.append(f"orders of unknown state: {unknown}")
        return out


def _cents(price: Decimal) -> Decimal:
    return price.quantize(Decimal("0.01"))


def sim_config(**changes: Any) -> SimConfig:
    """The simulator of the scenarios: one symbol, one account, a tick every 3.7 virtual seconds
    (off the 5 s grid of the simulator's HTTP keep-alive and the 30 s grid of the pings, so a
    request never coincides with the server closing its idle connection)."""
    base = SimConfig(
        tick_interval=3.7,
        symbols=(SYMBOL,),
        accounts=(SimAccount(account_id=ACCOUNT, cash=Decimal(1_000_000)),),
    )
    return attrs.evolve(base, **changes)


@attrs.frozen
class Venue:
    """The simulator and the two proxies in front of it (``ws`` for the sockets, ``rest`` for
    REST): what an engine of a scenario connects to."""

    sim: Simulator
    ws: FaultProxy
    rest: FaultProxy


@asynccontextmanager
async def open_venue(config: SimConfig | None = None) -> AsyncIterator[Venue]:
    """Start the simulator and the two proxies; stop them on exit."""
    async with open_simulator(config if config is not None else sim_config()) as sim:
        target = urlsplit(sim.endpoints.rest_base)
        assert target.hostname is not None
        assert target.port is not None
        async with (
            open_fault_proxy(target.hostname, target.port, seed=1) as ws,
            open_fault_proxy(target.hostname, target.port, seed=2) as rest,
        ):
            yield Venue(sim, ws, rest)


OAUTH_SECRET_ENV = "ARIES_FAULTS_CLIENT_SECRET"
OAUTH_REFRESH_ENV = "ARIES_FAULTS_REFRESH_TOKEN"


def engine_table(venue: Venue, *, oauth: bool = False, **sections: Any) -> dict[str, Any]:
    """The engine's config (as parsed from TOML) for a scenario: the venue behind the proxies,
    one account, no journal; ``sections`` replace whole top-level tables (``journal=...``,
    ``strategies=[...]``). With ``oauth``, tokens come from the OAuth refresh grant (secrets
    in ``$ARIES_FAULTS_CLIENT_SECRET`` and ``$ARIES_FAULTS_REFRESH_TOKEN``), else the access
    token is read from ``$ARIES_FAULTS_TOKEN``."""
    venue_table: dict[str, Any] = {
        "kind": "aries",
        "rest_base": f"http://127.0.0.1:{venue.rest.port}",
        "ws_base": f"ws://127.0.0.1:{venue.ws.port}",
        "access_token_env": TOKEN_ENV,
    }
    if oauth:
        venue_table["oauth"] = {
            "client_id": venue.sim.config.oauth_client_id,
            "client_secret_env": OAUTH_SECRET_ENV,
            "refresh_token_env": OAUTH_REFRESH_ENV,
        }
    table: dict[str, Any] = {
        "venue": venue_table,
        # Longer than a tick: a fill during the fault happens before the engine can possibly
        # reconnect, so it must be recovered, not streamed.
        "connection": {"backoff_initial": 4.0, "backoff_cap": 30.0},
        "market": {"symbols": [SYMBOL]},
        "accounts": [{"id": ACCOUNT}],
        "journal": {"enabled": False},
    }
    table.update(sections)
    return table


@asynccontextmanager
async def open_engine(
    venue: Venue,
    table: dict[str, Any],
    *,
    before_start: Callable[[FaultProxy, trio.Nursery], object] | None = None,
) -> AsyncIterator[FaultRig]:
    """Start the engine of ``table`` (see ``engine_table``) against ``venue``; stop it on exit.

    The strategy the rig drives is the configured ``[[strategies]]`` entry that is a
    ``Recorder`` if there is one, else a ``Recorder`` registered as ``recorder``.
    """
    engine_config = parse_config(table, source="faults")
    pm, plugins = load_plugins(engine_config, entry_points=False)
    configured = [p.obj for p in plugins if isinstance(p.obj, Recorder)]
    if configured:
        [strategy] = configured
    else:
        strategy = Recorder()
        pm.register(strategy, name="recorder")
        plugins.append(
            LoadedPlugin(name="recorder", kind="strategy", obj=strategy, accounts=(ACCOUNT,))
        )
        pm.check_pending()
    async with trio.open_nursery() as nursery:
        if before_start is not None:
            before_start(venue.ws, nursery)
        handle: EngineHandle = await nursery.start(partial(run_engine, engine_config, pm, plugins))
        try:
            yield FaultRig(venue.sim, venue.ws, venue.rest, handle, strategy)
        finally:
            handle.stop()
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def oauth_session(venue: Venue) -> AsyncIterator[None]:
    """A refresh token of the simulator's default user (the OAuth code flow, done here) and the
    client secret, in the environment ``engine_table(oauth=True)`` names, for the body."""
    issued = await issue_token(
        venue.sim.endpoints, f"{venue.sim.config.default_user_id}@sim.invalid"
    )
    saved = {name: os.environ.get(name) for name in (OAUTH_SECRET_ENV, OAUTH_REFRESH_ENV)}
    os.environ[OAUTH_SECRET_ENV] = venue.sim.config.oauth_client_secret
    os.environ[OAUTH_REFRESH_ENV] = issued["refresh_token"]
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@asynccontextmanager
async def open_fault_rig(
    config: SimConfig | None = None,
    *,
    before_start: Callable[[FaultProxy, trio.Nursery], object] | None = None,
    oauth: bool = False,
    **sections: Any,
) -> AsyncIterator[FaultRig]:
    """Start the simulator, the two proxies and the engine; stop them all on exit.

    ``sections`` replace whole top-level tables of the engine's config (see ``engine_table``).

    ``before_start(ws_proxy, nursery)`` runs before the engine starts (to arm a fault on its
    first connections; tasks it starts in ``nursery`` run alongside the start-up). The
    access token is read from ``$ARIES_FAULTS_TOKEN`` (the ``fault_token`` fixture sets it), or
    with ``oauth`` obtained from the simulator's token endpoint (see ``oauth_session``).
    """
    async with open_venue(config) as venue, AsyncExitStack() as stack:
        if oauth:
            await stack.enter_async_context(oauth_session(venue))
        table = engine_table(venue, oauth=oauth, **sections)
        async with open_engine(venue, table, before_start=before_start) as rig:
            yield rig
