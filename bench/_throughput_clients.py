"""The consumers of ``throughput.py``: the bare trio-websocket baseline and the engine paths.

Each returns a ``Run``: how many messages its consumer received, the ``perf_counter`` time of the
first and the last, and the counters that prove none was lost (see ``throughput.py``).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio
import trio_websocket
from _throughput_server import ACCOUNT, TOKEN

from engine.accounts.actor import AccountActor, DispatchItem
from engine.accounts.views import AccountViews
from engine.app import DISPATCH_QUEUE, MARKET_DATA
from engine.aries import encode
from engine.bus import EventBus, Subscription
from engine.connection.handlers import AccountsHandler, MarketHandler
from engine.connection.supervisor import ConnectionSupervisor
from engine.connection.tokens import StaticTokenProvider
from engine.hooks import make_plugin_manager
from engine.hooks.context import StrategyContext
from engine.hooks.host import PluginHost
from engine.hooks.manager import LoadedPlugin
from engine.journal import JournalWriter
from engine.model import Quote
from engine.model.account import AccountView
from engine.model.events import Event, OrderFilled, OrderUpdated
from engine.model.orders import OrderIntent, RiskVerdict
from engine.secrets import Secret

STALL_S = 2.0  # no new message for this long: the run is over (something was lost)
JOURNAL_DRAIN_S = 120.0  # at most this long for the journal to commit its backlog after a run


@attrs.define
class Run:
    """What one consumer saw: messages received and the time of the first and the last."""

    received: int = 0
    first: float = 0.0
    last: float = 0.0
    decoded: int = 0
    frames: int = 0
    frames_dropped: int = 0
    conflated: int = 0

    @property
    def rate(self) -> float:
        """Messages per second between the first and the last one received."""
        return (self.received - 1) / (self.last - self.first) if self.received > 1 else 0.0


@attrs.define
class OrderRun(Run):
    """An order-event run: ``received`` counts ``aries_on_order_updated`` calls (one per
    event on the wire), ``fills`` the ``aries_on_order_filled`` calls, the rest is the account
    actor's book and the connection's health, and the journal's figures when it ran."""

    fills: int = 0
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    illegal: int = 0
    book_fills: int = 0
    open_orders: int = -1
    connects: int = 0
    decode_errors: int = 0
    publisher_waits: int = 0
    journal: bool = False
    journal_recorded: int = 0
    journal_pending_at_last: int = 0
    journal_written_at_last: int = 0
    journal_dropped: int = 0
    journal_drain_s: float = 0.0


async def wait_done(run: Run, expected: int, expected_fills: int = 0) -> None:
    """Until ``expected`` messages (and, for orders, ``expected_fills`` fills) arrived, or none
    came for ``STALL_S`` (some were lost)."""
    seen, since = -1, trio.current_time()
    fills = run.fills if isinstance(run, OrderRun) else 0
    while run.received < expected or fills < expected_fills:
        await trio.sleep(0.01)
        fills = run.fills if isinstance(run, OrderRun) else 0
        if run.received + fills != seen:
            seen, since = run.received + fills, trio.current_time()
        elif trio.current_time() - since > STALL_S:
            return


async def run_baseline(url: str, subscribe: str, messages: int) -> Run:
    """A bare trio-websocket client: auth, ``subscribe``, then ``json.loads`` every message."""
    run = Run()
    loads, clock = json.loads, time.perf_counter
    async with trio_websocket.open_websocket_url(url) as ws:
        await ws.send_message(encode.auth_request("a", TOKEN))
        while "authSuccess" not in await ws.get_message():
            pass
        await ws.send_message(subscribe)
        while '"subscribed"' not in await ws.get_message():
            pass
        with trio.move_on_after(STALL_S * 10):
            while run.received < messages:
                frame = await ws.get_message()
                run.frames += 1
                assert isinstance(frame, str)
                for line in frame.split("\n"):
                    loads(line)
                    run.received += 1
                    if run.received == 1:
                        run.first = clock()
                run.last = clock()
    run.decoded = run.received
    return run


async def run_baseline_quotes(base: str, messages: int, symbols: Sequence[str]) -> Run:
    """The baseline on the market socket, subscribed to ``symbols``."""
    subscribe = encode.subscribe_market("s", list(symbols))
    return await run_baseline(base + "/v1/market/ws", subscribe, messages)


async def run_baseline_orders(base: str, messages: int) -> Run:
    """The baseline on the accounts socket, subscribed to the bench account."""
    subscribe = encode.subscribe_account("s", ACCOUNT)
    return await run_baseline(base + "/v1/accounts/ws", subscribe, messages)


@attrs.define
class QuoteCounter:
    """The strategy: counts ``aries_on_quote`` calls, noting the time of the first and last."""

    run: Run

    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        """Count one quote."""
        run = self.run
        run.received += 1
        run.last = time.perf_counter()
        if run.received == 1:
            run.first = run.last


def _counting_host(strategy: object, bus: EventBus, views: AccountViews) -> PluginHost:
    pm = make_plugin_manager()
    pm.register(strategy, name="counter")
    pm.check_pending()
    # Bound to the account: external orders go to every strategy bound to it.
    loaded = LoadedPlugin(name="counter", kind="strategy", obj=strategy, accounts=(ACCOUNT,))
    return PluginHost(pm, [loaded], bus, views)


async def run_engine_quotes(base: str, messages: int, symbols: Sequence[str]) -> Run:
    """Supervisor → decode → normalize → bus → PluginHost → ``aries_on_quote``."""
    run = Run()
    bus = EventBus()
    host = _counting_host(QuoteCounter(run), bus, AccountViews())
    supervisor = ConnectionSupervisor(
        MarketHandler(set(symbols)), base, StaticTokenProvider(Secret(TOKEN)), bus
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(host.run)
        await host.start_plugins()
        await nursery.start(supervisor.run)  # returns once subscribed
        await wait_done(run, messages)
        nursery.cancel_scope.cancel()
    connection = supervisor.statistics()
    run.decoded = supervisor.decoder.statistics().messages
    run.frames = connection.frames
    run.frames_dropped = connection.frames_dropped
    [plugins] = [s for s in bus.statistics() if s.name == "plugins"]
    run.conflated = plugins.conflated
    return run


@attrs.define
class OrderCounter:
    """The strategy: counts ``aries_on_order_updated`` and ``aries_on_order_filled`` calls,
    noting the time of the first update and of the last call."""

    run: OrderRun

    def aries_on_order_updated(self, event: OrderUpdated, ctx: StrategyContext) -> None:
        """Count one order update."""
        run = self.run
        run.received += 1
        run.last = time.perf_counter()
        if run.received == 1:
            run.first = run.last

    def aries_on_order_filled(self, event: OrderFilled, ctx: StrategyContext) -> None:
        """Count one fill."""
        self.run.fills += 1
        self.run.last = time.perf_counter()


def _no_orders(intent: OrderIntent, view: AccountView) -> RiskVerdict:
    raise AssertionError("the bench strategy places no order")


async def _feed_journal(journal: JournalWriter, subscription: Subscription) -> None:
    """What ``engine.app`` runs: the bus's events into the journal's buffer."""
    while True:
        try:
            batch = await subscription.receive_batch()
        except trio.EndOfChannel:
            return
        for event in batch:
            journal.record_event(event)


def _journal_backlog(writer: JournalWriter, feed: Subscription) -> int:
    """Events still on the bus for the journal, plus records not committed yet."""
    return feed.statistics().pending + writer.statistics().pending


async def run_engine_orders(
    base: str, messages: int, expected_fills: int, *, journal: bool
) -> OrderRun:
    """Supervisor → decode → ``AccountsHandler`` → bus → ``AccountActor`` (the book) → bus →
    PluginHost → ``aries_on_order_updated`` / ``aries_on_order_filled``; with ``journal``, a
    ``JournalWriter`` records every frame and every event, as ``engine.app`` wires it."""
    with tempfile.TemporaryDirectory(prefix="aries-bench-") as tmp:
        writer = JournalWriter(Path(tmp) / "journal.sqlite") if journal else None
        return await _run_engine_orders(base, messages, expected_fills, writer)


async def _run_engine_orders(
    base: str, messages: int, expected_fills: int, writer: JournalWriter | None
) -> OrderRun:
    run = OrderRun(journal=writer is not None)
    bus = EventBus()
    views = AccountViews()
    host = _counting_host(OrderCounter(run), bus, views)
    supervisor = ConnectionSupervisor(
        AccountsHandler((ACCOUNT,)),
        base,
        StaticTokenProvider(Secret(TOKEN)),
        bus,
        record_frame=None if writer is None else writer.record_frame,
    )
    send, _receive = trio.open_memory_channel[DispatchItem](DISPATCH_QUEUE)
    actor = AccountActor(
        ACCOUNT,
        bus,
        views,
        _no_orders,
        send,
        journal=writer,
        heard_ns=lambda: supervisor.last_heard_ns,
    )
    feed: Subscription | None = None
    async with trio.open_nursery() as nursery:
        if writer is not None:
            await nursery.start(writer.run)
            feed = bus.subscribe(
                "journal",
                accepts=(Event,),
                where=lambda event: not isinstance(event, MARKET_DATA),
                capacity=100_000,
            )
            nursery.start_soon(_feed_journal, writer, feed)
        await nursery.start(actor.run)
        await nursery.start(host.run)
        await host.start_plugins()
        await nursery.start(supervisor.run)  # returns once subscribed
        await wait_done(run, messages, expected_fills)
        if writer is not None and feed is not None:
            run.journal_pending_at_last = _journal_backlog(writer, feed)
            run.journal_written_at_last = writer.statistics().written
            started = trio.current_time()
            with trio.move_on_after(JOURNAL_DRAIN_S):
                # The writer has no event to wait on; a 10 ms poll leaves its thread the GIL.
                while _journal_backlog(writer, feed):  # noqa: ASYNC110
                    await trio.sleep(0.01)
            run.journal_drain_s = trio.current_time() - started
            drained = writer.statistics()
            run.journal_recorded = drained.written + drained.pending + drained.dropped
            run.journal_dropped = drained.dropped
        nursery.cancel_scope.cancel()
    connection = supervisor.statistics()
    run.decoded = supervisor.decoder.statistics().messages
    run.decode_errors = connection.decode_errors + connection.normalize_errors
    run.frames = connection.frames
    run.connects = connection.connects
    book = actor.book.statistics()
    run.applied = book.orders_applied
    run.duplicates = book.duplicates_dropped
    run.stale = book.stale_dropped
    run.illegal = book.illegal_transitions
    run.book_fills = book.fills
    view = actor.book.view(actor.trading_state)
    run.open_orders = len(view.open_orders)
    run.publisher_waits = sum(s.publisher_waits for s in bus.statistics())
    return run
