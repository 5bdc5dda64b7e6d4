"""``PluginHost``: delivers bus events to plugin hooks and turns their requests into commands.

The host owns one bus subscription (market data conflated per symbol, everything else never
dropped), drains it in batches, and for each event calls the matching hook on every plugin that
should see it (see ``hookspecs`` for the routing rules), each with its own ``StrategyContext``.
Commands queued by ``ctx.submit``/``ctx.cancel`` are published when the batch is done.

Fault isolation: a hook that raises disables its plugin (unregistered, a ``PluginFaulted``
event, the traceback logged); the others go on. Calls slower than ``time_budget`` are counted
per plugin in ``statistics()``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import pluggy
import structlog
import trio

from engine.accounts.views import AccountViews
from engine.bus import EventBus
from engine.hooks._calls import BoundImpl, implementations
from engine.hooks.context import StrategyContext
from engine.hooks.manager import LoadedPlugin
from engine.model._time import now_ns
from engine.model.events import (
    AccountEvent,
    AccountInfoChanged,
    AccountSynced,
    BalanceChanged,
    ConnectionStateChanged,
    Event,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
    PluginFaulted,
    PositionChanged,
    SubmitOrder,
    TradingStateChanged,
)
from engine.model.market import Quote, Trade
from engine.model.streams import (
    BookUpdated,
    ChartQuote,
    ChartTrade,
    GreeksUpdated,
    MarketStatusChanged,
    NewsReceived,
    PnlCandleClosed,
    WatchlistChanged,
)

log = structlog.get_logger(__name__)

HOOK_FOR_EVENT: dict[type[Event], tuple[str, str]] = {
    Quote: ("aries_on_quote", "quote"),
    Trade: ("aries_on_trade", "trade"),
    OrderUpdated: ("aries_on_order_updated", "event"),
    OrderFilled: ("aries_on_order_filled", "event"),
    OrderRejected: ("aries_on_order_rejected", "event"),
    PositionChanged: ("aries_on_position_changed", "event"),
    BalanceChanged: ("aries_on_balance_changed", "event"),
    AccountSynced: ("aries_on_account_synced", "event"),
    TradingStateChanged: ("aries_on_trading_state_changed", "event"),
    ConnectionStateChanged: ("aries_on_connection_state", "event"),
    PluginFaulted: ("aries_on_plugin_faulted", "event"),
    PnlCandleClosed: ("aries_on_pnl_candle", "event"),
    AccountInfoChanged: ("aries_on_account_info", "event"),
    BookUpdated: ("aries_on_book", "event"),
    GreeksUpdated: ("aries_on_greeks", "event"),
    MarketStatusChanged: ("aries_on_market_status", "event"),
    ChartQuote: ("aries_on_chart_quote", "event"),
    ChartTrade: ("aries_on_chart_trade", "event"),
    NewsReceived: ("aries_on_news", "event"),
    WatchlistChanged: ("aries_on_watchlist", "event"),
}
_ORDER_EVENTS = (OrderUpdated, OrderFilled, OrderRejected)
_CONFLATED = (Quote, Trade, BookUpdated, GreeksUpdated, ChartQuote, ChartTrade)


def market_conflation_key(event: Event) -> Hashable | None:
    """Market data conflates per (type, symbol): a slow plugin gets the latest, not a backlog.

    Everything else (orders, account, news, watchlists, market status) is never dropped.
    """
    if isinstance(event, _CONFLATED):
        return (type(event), event.symbol)
    return None


@attrs.frozen(kw_only=True)
class PluginStatistics:
    """Per-plugin counters."""

    name: str
    calls: int
    over_budget: int
    slowest_call: float
    faulted: bool


@attrs.define(eq=False)
class _PluginState:
    loaded: LoadedPlugin
    ctx: StrategyContext
    calls: int = 0
    over_budget: int = 0
    slowest_call: float = 0.0
    faulted: bool = False


@attrs.define(eq=False)
class PluginHost:
    """Runs the plugins: routes events to hooks, isolates faults, publishes their commands."""

    pm: pluggy.PluginManager
    plugins: list[LoadedPlugin]
    bus: EventBus
    views: AccountViews
    time_budget: float = 0.005
    timer_interval: float = 1.0
    on_batch: Callable[[Sequence[Event], int], None] | None = None
    """Called with each batch taken for delivery and the wall clock (ns) then (the metrics'
    receive → strategy lag)."""
    quotes: dict[str, Quote] = attrs.field(factory=dict)
    """The latest quote per symbol, kept by the host; the risk gate reads the same mapping."""
    run_tag: str | None = None
    """The run tag of the plugins' client order ids (``StrategyContext.run_tag``); ``None``:
    this process' random one."""
    _states: dict[int, _PluginState] = attrs.field(factory=dict, init=False)
    _impls: dict[str, list[BoundImpl]] = attrs.field(factory=dict, init=False)
    _account_impls: dict[tuple[str, str], list[BoundImpl]] = attrs.field(factory=dict, init=False)
    _outbox: list[Event] = attrs.field(factory=list, init=False)
    _stopped: bool = attrs.field(default=False, init=False)
    _started: trio.Event = attrs.field(factory=trio.Event, init=False)

    def __attrs_post_init__(self) -> None:
        for loaded in self.plugins:
            ctx = StrategyContext(
                loaded.name,
                loaded.accounts,
                self.views,
                self.quotes,
                self._outbox.append,
                run_tag=self.run_tag,
            )
            self._states[id(loaded.obj)] = _PluginState(loaded=loaded, ctx=ctx)
        for hook_name in {
            *(name for name, _ in HOOK_FOR_EVENT.values()),
            "aries_engine_started",
            "aries_engine_stopping",
            "aries_on_timer",
        }:
            impls = [
                impl
                for impl in implementations(self.pm, hook_name)
                if id(impl.plugin) in self._states
            ]
            self._impls[hook_name] = impls
            # An account's events go only to plugins bound to it: one lookup per event, not a
            # check of every plugin (1,000 accounts' strategies).
            for impl in impls:
                for account_id in dict.fromkeys(self._states[id(impl.plugin)].loaded.accounts):
                    self._account_impls.setdefault((hook_name, account_id), []).append(impl)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver events, once ``start_plugins`` has run, until the bus closes."""
        structlog.contextvars.bind_contextvars(actor="plugins")
        subscription = self.bus.subscribe(
            "plugins", accepts=tuple(HOOK_FOR_EVENT), conflate=market_conflation_key
        )
        task_status.started()
        # Events queue up (market data conflated) until the plugins have been started.
        await self._started.wait()
        async with trio.open_nursery() as nursery:
            if self._impls["aries_on_timer"]:
                nursery.start_soon(self._tick_forever)
            while True:
                try:
                    batch = await subscription.receive_batch()
                except trio.EndOfChannel:
                    nursery.cancel_scope.cancel()
                    return
                if self.on_batch is not None:
                    self.on_batch(batch, now_ns())
                for event in batch:
                    self.deliver(event)
                await self.flush()

    async def _tick_forever(self) -> None:
        """Call ``aries_on_timer`` every ``timer_interval``; missed ticks are skipped, not
        bunched (a tick runs between two batches: hooks never run concurrently)."""
        next_tick = trio.current_time() + self.timer_interval
        while True:
            await trio.sleep_until(next_tick)
            self.tick(datetime.now(UTC))
            await self.flush()
            next_tick += self.timer_interval * max(
                1, math.ceil((trio.current_time() - next_tick) / self.timer_interval)
            )

    def tick(self, now: datetime) -> None:
        """Call ``aries_on_timer`` on every plugin that implements it."""
        if not self._stopped:
            self._call_all("aries_on_timer", {"now": now}, None)

    async def start_plugins(self) -> None:
        """Call ``aries_engine_started`` on every plugin and publish what they submitted."""
        self._call_all("aries_engine_started", {}, None)
        self._started.set()
        await self.flush()

    def stop_plugins(self) -> None:
        """Call ``aries_engine_stopping`` on every plugin; later events are not delivered."""
        self._call_all("aries_engine_stopping", {}, None)
        self._stopped = True
        if self._outbox:
            log.warning("plugins.commands_dropped_at_shutdown", count=len(self._outbox))
            self._outbox.clear()

    def deliver(self, event: Event) -> None:
        """Call the hook for ``event`` on every plugin that should see it."""
        if self._stopped:
            return
        if isinstance(event, Quote):
            self.quotes[event.symbol] = event
        hook_name, argument = HOOK_FOR_EVENT[type(event)]
        self._call_all(hook_name, {argument: event}, event)

    async def flush(self) -> None:
        """Publish the commands the plugins queued, without ever waiting.

        The host must not wait on an account actor (which may be waiting on the host). If an
        account's mailbox is full, its order is rejected at once and the strategy hears so.
        """
        while self._outbox:
            commands = list(self._outbox)
            self._outbox.clear()
            for command in commands:
                if not await self.bus.try_publish(command):
                    self._refused(command)

    def _refused(self, command: Event) -> None:
        if isinstance(command, SubmitOrder):
            intent = command.intent
            log.error(
                "plugins.order_not_queued",
                client_order_id=intent.client_order_id,
                reason="the account's queue is full",
            )
            self.deliver(
                OrderRejected(
                    account_id=intent.account_id,
                    client_order_id=intent.client_order_id,
                    cl_ord_id=None,
                    symbol=intent.symbol,
                    code="ENGINE_BUSY",
                    reason="the account's queue is full; order not sent",
                    source="engine",
                    strategy=intent.strategy,
                )
            )
        else:
            log.error(
                "plugins.command_not_queued",
                command=type(command).__name__,
                reason="the bus is full",
            )

    def statistics(self) -> tuple[PluginStatistics, ...]:
        """Per-plugin call counts, budget overruns and faults."""
        return tuple(
            PluginStatistics(
                name=s.loaded.name,
                calls=s.calls,
                over_budget=s.over_budget,
                slowest_call=s.slowest_call,
                faulted=s.faulted,
            )
            for s in self._states.values()
        )

    def _call_all(self, hook_name: str, arguments: dict[str, Any], event: Event | None) -> None:
        """Call ``hook_name`` on each plugin ``event`` routes to (every plugin when ``None``).

        One ``arguments`` dict serves every call; only its ``ctx`` changes per plugin.
        """
        impls: Sequence[BoundImpl]
        if isinstance(event, AccountEvent):
            impls = self._account_impls.get((hook_name, event.account_id), ())
        else:
            impls = self._impls[hook_name]
        for impl in impls:
            state = self._states[id(impl.plugin)]
            if state.faulted or (event is not None and not _routes_to(event, state)):
                continue
            arguments["ctx"] = state.ctx
            started = time.perf_counter()
            try:
                impl(arguments)
            except Exception as exc:
                self._fault(state, hook_name, exc)
            finally:
                elapsed = time.perf_counter() - started
                state.calls += 1
                state.slowest_call = max(state.slowest_call, elapsed)
                if elapsed > self.time_budget:
                    state.over_budget += 1

    def _fault(self, state: _PluginState, hook_name: str, exc: Exception) -> None:
        state.faulted = True
        name = state.loaded.name
        log.error("plugin.faulted", plugin=name, hook=hook_name, exc_info=exc)
        if self.pm.is_registered(state.loaded.obj):
            self.pm.unregister(state.loaded.obj)
        self._outbox.append(PluginFaulted(plugin=name, hook=hook_name, error=repr(exc)))


def _routes_to(event: Event, state: _PluginState) -> bool:
    if not isinstance(event, AccountEvent):
        return True
    loaded = state.loaded
    if event.account_id not in loaded.accounts:
        return False
    if isinstance(event, _ORDER_EVENTS) and loaded.kind == "strategy" and event.strategy:
        return event.strategy == loaded.name
    return True
