"""The composition root: builds the bus and the actors from the config and runs them.

Start order (each with ``nursery.start``, so each is usable before the next one starts):
the simulator (if ``venue.kind = "simulator"``), the journal, the metrics (``[metrics]``: the
event recorder and the HTTP endpoint), the account actors (subscribed to the bus before any
account event can be published), the dispatcher, the plugin host, the market
connection, the accounts connection; then, once every account's first snapshot is applied,
``aries_engine_started``.

Shutdown (a signal, ``--duration`` or ``EngineHandle.stop``, all the same path):

1. the strategies and plugins stop: they hear ``aries_engine_stopping`` and nothing after it;
   commands they queued but were not published yet are dropped (and logged);
2. no new order or replace reaches the venue any more: the dispatcher refuses those still
   queued (``TRADING_STATE``); each account goes ``HALTED`` (reason ``shutdown``). With
   ``[engine] on_shutdown = "cancel"`` each account actor gets ``CancelAllOrders``: it cancels
   every open order this engine placed (and each one still on its way, once the venue names
   it); orders placed elsewhere are left alone. With ``"leave"`` (the default) open orders keep
   working at the venue;
3. the engine waits until every request it sent is answered (places named or refused, replaces
   answered, cancels reported by the venue) and, for ``"cancel"``, until the venue reports each
   of its orders terminal; at most ``[engine] shutdown_grace`` seconds, after which what is left
   is logged (``engine.shutdown_incomplete``). A second signal skips the rest of the wait;
4. the journal takes the last events, the engine's nursery is cancelled (the journal flushes
   what it holds, the sockets close), then the simulator's; ``run_engine`` returns (exit 0).
"""

from __future__ import annotations

import random
import signal
import sqlite3
import ssl
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

import attrs
import pluggy
import structlog
import trio

from engine.accounts.actor import AccountActor, DispatchItem, ShutdownProgress
from engine.accounts.views import AccountViews
from engine.aries.rest import AriesRestClient, venue_transport
from engine.bus import EventBus, Subscription
from engine.config import EngineConfig, EngineSection
from engine.connection import (
    AccountsHandler,
    ChartsHandler,
    ConnectionSupervisor,
    MarketHandler,
)
from engine.connection.registry import SubscriptionRouter
from engine.connection.session import SessionRefresher
from engine.connection.supervisor import open_venue_websocket
from engine.connection.tokens import (
    OAuthRefreshSource,
    RefreshTokenStore,
    StaticTokenSource,
    TokenSource,
)
from engine.dispatch import ThrottledDispatcher, TokenBucket
from engine.errors import SubscriptionError
from engine.hooks.host import PluginHost
from engine.hooks.manager import LoadedPlugin
from engine.hooks.risk import RiskGate
from engine.journal import (
    JournalReader,
    JournalWriter,
    RestoredAccount,
    default_journal_path,
)
from engine.journal.writer import JournalError
from engine.metrics import start_metrics
from engine.model.enums import TradingState
from engine.model.events import (
    AccountSubscriptionRefused,
    AccountSynced,
    CancelAllOrders,
    Event,
    TradingStateRequested,
)
from engine.model.market import Quote, Trade
from engine.model.streams import BookUpdated, ChartQuote, ChartTrade, GreeksUpdated
from engine.runtime.backoff import Backoff
from engine.runtime.tls import client_ssl_context
from engine.secrets import Secret
from engine.sim import SimAccount, SimConfig, Simulator

log = structlog.get_logger(__name__)

DISPATCH_QUEUE = 1_000
JOURNAL_CATCH_UP = 1.0
"""Seconds the journal's recorder gets, at shutdown, to take the events still on the bus."""
SHUTDOWN_REASON = "shutdown"


@attrs.frozen(kw_only=True)
class Venue:
    """Where the engine connects (base URLs) and where its access tokens come from."""

    rest_base: str
    ws_base: str
    tokens: TokenSource


def token_source(config: EngineConfig, rest_base: str, ssl_context: ssl.SSLContext) -> TokenSource:
    """A fixed token from the environment, or the OAuth refresh grant of ``[venue.oauth]``."""
    oauth = config.venue.oauth
    if oauth is None:
        return StaticTokenSource(config.access_token())
    client_secret, refresh_token = config.oauth_secrets()
    store = (
        RefreshTokenStore(Path(oauth.refresh_token_store)) if oauth.refresh_token_store else None
    )
    return OAuthRefreshSource(
        rest_base,
        client_id=oauth.client_id,
        client_secret=client_secret,
        # Without the variable, the existing store provides it (checked by check_credentials).
        refresh_token=refresh_token if refresh_token is not None else Secret(""),
        store=store,
        transport=venue_transport(ssl_context),
        credential=f"the refresh token in ${oauth.refresh_token_env}",
    )


@attrs.define(eq=False)
class EngineHandle:
    """What ``run_engine`` hands back once started: the live parts, for tests and tools."""

    bus: EventBus
    views: AccountViews
    host: PluginHost
    dispatcher: ThrottledDispatcher
    connections: list[ConnectionSupervisor]
    simulator: Simulator | None
    session: SessionRefresher
    stop_event: trio.Event
    metrics_port: int | None = None
    """The port of the Prometheus endpoint (``None`` when ``[metrics]`` is off)."""
    hurry_event: trio.Event = attrs.field(factory=trio.Event)
    """Set to skip what is left of a graceful shutdown's wait (a second signal)."""

    def stop(self) -> None:
        """Ask the engine to shut down gracefully (``run_engine`` then returns)."""
        self.stop_event.set()

    def stop_now(self) -> None:
        """Shut down without waiting for the venue: what a second Ctrl-C does. The journal
        still takes and flushes what it was given, and the sockets close."""
        self.stop_event.set()
        self.hurry_event.set()


def simulator_config(config: EngineConfig) -> SimConfig:
    """The ``SimConfig`` described by ``[simulator]``."""
    section = config.simulator
    symbols = tuple(dict.fromkeys((*section.symbols, *config.market.symbols)))
    return SimConfig(
        seed=section.seed,
        tick_interval=section.tick_interval,
        symbols=symbols,
        accounts=tuple(
            SimAccount(account_id=a.account_id, cash=a.cash, account_type=a.account_type)
            for a in section.accounts
        ),
    )


async def run_engine(
    config: EngineConfig,
    pm: pluggy.PluginManager,
    plugins: Sequence[LoadedPlugin],
    *,
    duration: float | None = None,
    handle_signals: bool = False,
    task_status: trio.TaskStatus[EngineHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the engine until ``duration`` elapses, a signal arrives, or ``handle.stop()``.

    With ``handle_signals``, SIGINT and SIGTERM are handled from the first moment: during
    start-up they cancel it (nothing has traded yet), afterwards they shut down gracefully.
    ``duration`` counts from the call, so it also ends a start-up that cannot complete.
    """
    stop = trio.Event()
    hurry = trio.Event()
    started = False
    async with trio.open_nursery() as venue_nursery:

        async def cancel_start_up_on_stop() -> None:
            await stop.wait()
            if not started:
                log.info("engine.start_up_cancelled")
                venue_nursery.cancel_scope.cancel()

        venue_nursery.start_soon(cancel_start_up_on_stop)
        if handle_signals:
            venue_nursery.start_soon(_stop_on_signal, stop, hurry)
        if duration is not None:
            venue_nursery.start_soon(_stop_after, duration, stop)

        def mark_started(handle: EngineHandle) -> None:
            nonlocal started
            started = True
            task_status.started(handle)

        simulator: Simulator | None = None
        if config.venue.kind == "simulator":
            simulator = Simulator(simulator_config(config))
            endpoints = await venue_nursery.start(simulator.run)
            venue = Venue(
                rest_base=endpoints.rest_base,
                ws_base=endpoints.ws_base,
                tokens=StaticTokenSource(Secret(simulator.config.token)),
            )
            log.info("engine.simulator_started", rest=endpoints.rest_base, ws=endpoints.ws_base)
        else:
            venue = Venue(
                rest_base=config.venue.rest_base,
                ws_base=config.venue.ws_base,
                tokens=token_source(
                    config, config.venue.rest_base, client_ssl_context(config.venue.ca_file)
                ),
            )
        await _run_actors(config, pm, list(plugins), venue, simulator, (stop, hurry), mark_started)
        venue_nursery.cancel_scope.cancel()


async def _run_actors(
    config: EngineConfig,
    pm: pluggy.PluginManager,
    plugins: list[LoadedPlugin],
    venue: Venue,
    simulator: Simulator | None,
    stopping: tuple[trio.Event, trio.Event],
    mark_started: Callable[[EngineHandle], None],
) -> None:
    structlog.contextvars.bind_contextvars(actor="engine")  # tasks started below bind their own
    stop, hurry = stopping
    bus = EventBus()
    views = AccountViews()
    oauth = config.venue.oauth
    tokens = SessionRefresher(venue.tokens, skew=oauth.refresh_skew if oauth else 60.0)
    account_ids = tuple(a.id for a in config.accounts)
    synced = bus.subscribe("app:first-sync", accepts=(AccountSynced, AccountSubscriptionRefused))
    backoff = Backoff(
        initial=config.connection.backoff_initial,
        cap=config.connection.backoff_cap,
        jitter=config.connection.backoff_jitter,
    )
    ssl_context = client_ssl_context(config.venue.ca_file)
    rest = AriesRestClient(
        venue.rest_base,
        lambda: tokens.current_token().reveal(),
        timeout=config.dispatch.request_timeout,
        transport=venue_transport(ssl_context),
    )
    restored = await _read_restore_set(config, account_ids)
    async with rest, trio.open_nursery() as nursery:
        journal_feed = await _start_journal(config, bus, nursery)
        journal = None if journal_feed is None else journal_feed.journal
        metrics = await start_metrics(config.metrics, nursery, bus=bus, views=views, session=tokens)
        await nursery.start(tokens.run)  # the first token, before anything connects
        send, receive = trio.open_memory_channel[DispatchItem](DISPATCH_QUEUE)
        host = PluginHost(
            pm,
            plugins,
            bus,
            views,
            time_budget=config.engine.hook_time_budget,
            timer_interval=config.engine.timer_interval,
        )
        risk = RiskGate(pm, plugins, quotes=host.quotes)

        def supervisor(
            handler: AccountsHandler | MarketHandler | ChartsHandler,
        ) -> ConnectionSupervisor:
            return ConnectionSupervisor(
                handler,
                venue.ws_base,
                tokens,
                bus,
                ping_interval=config.connection.ping_interval,
                auth_timeout=config.connection.auth_timeout,
                backoff=backoff,
                credential=config.credential_description(),
                open_websocket=partial(open_venue_websocket, ssl_context=ssl_context),
                record_frame=None if journal is None else journal.record_frame,
                rng=random.Random(),
            )

        pnl = {a.id: a.pnl_interval for a in config.accounts if a.pnl_interval is not None}
        accounts_connection = supervisor(
            AccountsHandler(
                account_ids,
                pnl_intervals=pnl,
                watchlist=config.watchlist.enabled,
                news=config.news.enabled,
                news_symbols=config.news.symbols,
                news_topics=config.news.topics,
            )
        )
        actors: list[AccountActor] = []
        async with send:
            for account_id in account_ids:
                actor = AccountActor(
                    account_id,
                    bus,
                    views,
                    risk,
                    send.clone(),
                    order_lists=rest,
                    journal=journal,
                    restored=restored.get(account_id),
                    reservation=risk.reservation,
                    heard_ns=lambda: accounts_connection.last_heard_ns,
                    done_retention=config.engine.done_order_retention,
                )
                await nursery.start(actor.run)
                actors.append(actor)

        def halted(account_id: str) -> bool:
            # From the stop on, nothing new reaches the venue: queued places/replaces are refused.
            return stop.is_set() or _is_halted(views, account_id)

        dispatcher = ThrottledDispatcher(
            rest,
            bus,
            receive,
            TokenBucket(config.dispatch.rate, config.dispatch.burst),
            journal=journal,
            account_rate=config.dispatch.account_rate,
            account_burst=config.dispatch.account_burst,
            halted=halted,
        )
        await nursery.start(dispatcher.run)
        await nursery.start(host.run)

        connections: list[ConnectionSupervisor] = []
        if metrics is not None:
            metrics.collector.connections = connections
            metrics.collector.dispatcher = dispatcher
            metrics.collector.host = host
            host.on_batch = metrics.recorder.observe_delivery
            metrics.collector.risk = risk
        if config.market.enabled:
            pinned = _market_symbols(config, plugins)
            market = supervisor(
                MarketHandler(
                    set(pinned),
                    level2=frozenset(config.market.level2),
                    greeks=frozenset(config.market.greeks),
                )
            )
            connections.append(market)
            router = SubscriptionRouter(bus, market, frozenset(pinned))
            await nursery.start(router.run)
        if config.charts.enabled:
            connections.append(supervisor(ChartsHandler(set(config.charts.symbols))))
        connections.append(accounts_connection)
        for connection in connections:
            await nursery.start(connection.run)
        await _wait_first_sync(synced, set(account_ids))
        bus.unsubscribe(synced)
        handle = EngineHandle(
            bus=bus,
            views=views,
            host=host,
            dispatcher=dispatcher,
            connections=connections,
            simulator=simulator,
            session=tokens,
            stop_event=stop,
            metrics_port=None if metrics is None else metrics.port,
            hurry_event=hurry,
        )
        await host.start_plugins()
        log.info("engine.started", accounts=list(account_ids), plugins=[p.name for p in plugins])
        mark_started(handle)
        await stop.wait()
        log.info("engine.stopping", on_shutdown=config.engine.on_shutdown)
        await _shut_down(config.engine, host, bus, actors, dispatcher, hurry)
        await _journal_caught_up(journal_feed)
        nursery.cancel_scope.cancel()  # the journal flushes on cancellation; sockets close
    bus.close()
    log.info(
        "engine.closed",
        sockets=len(connections),
        journal=None if journal is None else str(journal.path),
        journal_written=None if journal is None else journal.statistics().written,
        journal_unwritten=None if journal is None else journal.statistics().pending,
    )


async def _shut_down(
    engine: EngineSection,
    host: PluginHost,
    bus: EventBus,
    actors: Sequence[AccountActor],
    dispatcher: ThrottledDispatcher,
    hurry: trio.Event,
) -> None:
    """Steps 1 to 3 of the shutdown (see the module docstring); the caller then cancels.

    Bounded by ``engine.shutdown_grace``, and cut short when ``hurry`` is set.
    """
    host.stop_plugins()
    log.info("engine.strategies_stopped")
    started = trio.current_time()
    with trio.move_on_after(engine.shutdown_grace) as grace:
        async with trio.open_nursery() as waiting:
            waiting.start_soon(_cancel_when_set, hurry, grace)
            accounts = [a.account_id for a in actors]
            commands: list[CancelAllOrders | TradingStateRequested]
            if engine.on_shutdown == "cancel":
                log.info("engine.cancelling_orders", accounts=accounts)
                commands = [CancelAllOrders(account_id=a, reason=SHUTDOWN_REASON) for a in accounts]
            else:
                log.info(
                    "engine.leaving_orders",
                    accounts=accounts,
                    reason='on_shutdown = "leave": open orders keep working at the venue',
                )
                commands = [
                    TradingStateRequested(
                        account_id=a, state=TradingState.HALTED, reason=SHUTDOWN_REASON
                    )
                    for a in accounts
                ]
            await bus.publish_all(commands)
            for actor, command in zip(actors, commands, strict=True):
                await actor.wait_settled(command)
            waiting.cancel_scope.cancel()
    progress = [actor.shutdown_progress() for actor in actors]
    counts = _progress_counts(progress)
    waited = round(trio.current_time() - started, 3)
    if all(p.settled for p in progress):
        log.info("engine.drained", on_shutdown=engine.on_shutdown, seconds=waited, **counts)
        return
    log.warning(
        "engine.shutdown_incomplete",
        reason="second signal" if hurry.is_set() else "shutdown_grace ran out",
        grace=engine.shutdown_grace,
        seconds=waited,
        accounts=[p.account_id for p in progress if not p.settled],
        dispatcher_queued=dispatcher.statistics().queued,
        **counts,
    )


def _progress_counts(progress: Sequence[ShutdownProgress]) -> dict[str, int]:
    """The accounts' shutdown progress, summed (for one log line)."""
    return {
        "unanswered_places": sum(p.places for p in progress),
        "unanswered_replaces": sum(p.replaces for p in progress),
        "unanswered_cancels": sum(p.cancels for p in progress),
        "not_yet_cancelled": sum(p.to_cancel for p in progress),
        "cancels_refused": sum(p.cancel_failed for p in progress),
        "open_orders_left": sum(p.open_orders for p in progress),
        "external_orders_left": sum(p.external for p in progress),
        "held_orders_dropped": sum(p.held for p in progress),
    }


async def _cancel_when_set(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def _journal_caught_up(feed: _JournalFeed | None) -> None:
    """Let the journal take every event still waiting on the bus (bounded, it is quick)."""
    if feed is None:
        return
    with trio.move_on_after(JOURNAL_CATCH_UP):
        await feed.caught_up()


MARKET_DATA = (Quote, Trade, ChartQuote, ChartTrade, BookUpdated, GreeksUpdated)


def _is_halted(views: AccountViews, account_id: str) -> bool:
    view = views.get(account_id)
    return view is not None and view.trading_state is TradingState.HALTED


def journal_path(config: EngineConfig) -> Path:
    """Where the journal lives: ``[journal] path``, else the XDG data directory
    (``journal.sqlite``, or ``simulator-journal.sqlite`` for the built-in simulator, so paper
    sessions never mix with live ones)."""
    if config.journal.path:
        return Path(config.journal.path)
    in_process = config.venue.kind == "simulator"
    return default_journal_path("simulator-journal.sqlite" if in_process else "journal.sqlite")


async def _read_restore_set(
    config: EngineConfig, account_ids: Sequence[str]
) -> dict[str, RestoredAccount]:
    """What the journal of an earlier run knows of each account (empty on a first run).

    Nothing with the built-in simulator: it starts empty every run (and numbers its orders
    afresh), so an earlier run's orders are not at this venue and must not be restored.
    """
    path = journal_path(config)
    if not config.journal.enabled or not path.exists():
        return {}
    if config.venue.kind == "simulator":
        log.info("journal.restore_skipped", reason="the built-in simulator starts empty each run")
        return {}

    def read() -> dict[str, RestoredAccount]:
        with JournalReader(path) as reader:
            return {account_id: reader.restore(account_id) for account_id in account_ids}

    try:
        return await trio.to_thread.run_sync(read)
    except sqlite3.Error as exc:
        # Starting without the restore could report fills twice: refuse, and say what to do.
        raise JournalError(
            f"journal {path} cannot be read ({exc}); move it aside to start afresh, or point "
            "[journal] path elsewhere"
        ) from exc


@attrs.define(eq=False)
class _JournalFeed:
    """The task that moves the bus's events into the journal's buffer."""

    journal: JournalWriter
    subscription: Subscription
    _recorded: trio.Event = attrs.field(factory=trio.Event, init=False)

    async def run(self) -> None:
        """Record every batch until the bus closes."""
        while True:
            try:
                batch = await self.subscription.receive_batch()
            except trio.EndOfChannel:
                return
            for event in batch:
                self.journal.record_event(event)
            self._recorded.set()
            self._recorded = trio.Event()

    async def caught_up(self) -> None:
        """Return once every event published so far is in the journal's buffer."""
        while self.subscription.statistics().pending:
            await self._recorded.wait()


async def _start_journal(
    config: EngineConfig, bus: EventBus, nursery: trio.Nursery
) -> _JournalFeed | None:
    """Start the journal first, and its bus recorder before anything can publish (``None``
    when the journal is off).

    Market data is left out of the events table: its raw frames are journaled already.
    """
    if not config.journal.enabled:
        return None
    path = journal_path(config)
    journal = JournalWriter(path, retention=timedelta(days=config.journal.retention_days))
    await nursery.start(journal.run)
    subscription = bus.subscribe(
        "journal",
        accepts=(Event,),
        where=lambda event: not isinstance(event, MARKET_DATA),
        capacity=100_000,
    )
    feed = _JournalFeed(journal, subscription)
    nursery.start_soon(feed.run)
    log.info("journal.started", path=str(path))
    return feed


def _market_symbols(config: EngineConfig, plugins: Sequence[LoadedPlugin]) -> set[str]:
    """The configured market symbols plus any a plugin declares in its config (``symbols``)."""
    symbols = set(config.market.symbols)
    for plugin in plugins:
        declared = getattr(getattr(plugin.obj, "config", None), "symbols", ())
        symbols.update(declared)
    return symbols


async def _wait_first_sync(subscription: Subscription, pending: set[str]) -> None:
    """Until every account synced or was refused by the venue (it then runs halted).

    Raises:
        SubscriptionError: the venue refused every account: there is nothing to run.
    """
    refused: list[AccountSubscriptionRefused] = []
    accounts = len(pending)
    while pending:
        for event in await subscription.receive_batch():
            if isinstance(event, AccountSynced | AccountSubscriptionRefused):
                pending.discard(event.account_id)
            if isinstance(event, AccountSubscriptionRefused):
                refused.append(event)
    if refused and len(refused) == accounts:
        first = refused[0]
        raise SubscriptionError(
            first.code,
            first.reason + (f" (and {len(refused) - 1} more accounts)" if len(refused) > 1 else ""),
            subscription=f"subscription to account (accountId={first.account_id})",
        )


async def _stop_after(duration: float, stop: trio.Event) -> None:
    """``--duration``: counted from the start, so it also bounds a start-up that cannot finish."""
    await trio.sleep(duration)
    log.info("engine.duration_elapsed", duration=duration)
    stop.set()


async def _stop_on_signal(stop: trio.Event, hurry: trio.Event) -> None:
    """SIGINT or SIGTERM: the first stops the engine gracefully (``stop``); the second skips
    what is left of the shutdown's wait (``hurry``); a third raises ``KeyboardInterrupt``."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
        count = 0
        async for signum in received:
            count += 1
            name = signal.Signals(signum).name
            if count == 1:
                log.info("engine.signal", signal=name)
                stop.set()
            elif count == 2:
                log.warning(
                    "engine.shutdown_hurried",
                    signal=name,
                    reason="a second signal: not waiting for the venue any longer",
                )
                hurry.set()
            else:
                raise KeyboardInterrupt
