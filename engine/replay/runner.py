"""``replay_journal``: run the configured plugins over a journal under trio's ``MockClock``.

The semantics are documented in ``engine.replay`` (the package docstring); this module wires
them: a real ``EventBus`` and ``PluginHost`` (the engine's routing, fault isolation, contexts),
a ``RiskGate`` whose clock is the replay's virtual time, one ``ReplayAccount`` per configured
account, and the recorded market data decoded with the engine's own decoder and normalizers.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import attrs
import pluggy
import trio
import trio.testing

from engine.accounts.views import AccountViews
from engine.app import MARKET_DATA
from engine.aries.decode import FrameDecoder
from engine.bus import EventBus, Subscription
from engine.config import EngineConfig
from engine.connection.handlers import ChartsHandler, MarketHandler
from engine.errors import ProtocolError
from engine.hooks.context import client_order_id_prefix
from engine.hooks.host import HOOK_FOR_EVENT, PluginHost, market_conflation_key
from engine.hooks.manager import LoadedPlugin, load_plugins
from engine.hooks.risk import RiskGate
from engine.journal.codec import JournalCodec, JournalGap
from engine.model.enums import ConnectionState, Endpoint
from engine.model.events import (
    AccountEvent,
    AccountSynced,
    CancelOrder,
    ConnectionStateChanged,
    Event,
    MarketDataRequested,
    PluginFaulted,
    ReplaceOrder,
    SubmitOrder,
    TradingStateChanged,
    TradingStateRequested,
)
from engine.model.orders import OrderIntent
from engine.replay.accounts import HELD_AT_END, Outcome, ReplayAccount
from engine.replay.result import (
    CommandRecord,
    Comparison,
    ReplayResult,
    command_terms,
    describe_command,
    utc,
)
from engine.replay.timeline import (
    EventItem,
    FrameItem,
    IntentItem,
    JournalTimeline,
    ReplayError,
    TimelineItem,
    VerdictItem,
)

__all__ = ["DEFAULT_RUN_TAG", "replay_journal", "select_strategies"]

DEFAULT_RUN_TAG = "replay"
"""The run tag when the journal has no recorded order of the replayed plugins."""

COMMANDS: tuple[type[Event], ...] = (SubmitOrder, CancelOrder, ReplaceOrder, TradingStateRequested)
"""What the replay lists (and compares with the live run): orders, cancels, replaces, states."""

_FROM_PLUGINS = (*COMMANDS, MarketDataRequested, PluginFaulted)
_RESETS_MARKET = (ConnectionState.DISCONNECTED, ConnectionState.CONNECTED)


def select_strategies(config: EngineConfig, names: Sequence[str] | None) -> EngineConfig:
    """``config`` with only the ``[[strategies]]`` named (all of them for ``None``); the
    ``[[plugins]]`` (risk) are always kept.

    Raises:
        ReplayError: a name is not a configured strategy.
    """
    if not names:
        return config
    known = [section.name for section in config.strategies]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ReplayError(
            f"--strategy {', '.join(unknown)}: not in the config's [[strategies]] "
            f"(configured: {', '.join(known) or 'none'})"
        )
    chosen = tuple(section for section in config.strategies if section.name in names)
    return attrs.evolve(config, strategies=chosen)


def replay_journal(
    path: Path,
    config: EngineConfig,
    *,
    run_tag: str | None = None,
    entry_points: bool = True,
    journal_label: str | None = None,
    config_label: str = "the given config",
) -> ReplayResult:
    """Replay ``path`` through freshly loaded plugins of ``config``; nothing is sent anywhere.

    Runs its own ``trio.run`` under a ``MockClock`` (call it from synchronous code, or from a
    worker thread). ``run_tag`` fixes the tag of the plugins' client order ids (default: the
    live run's, read from the journal). The labels only name the inputs in the summary.

    Raises:
        ReplayError: the journal is missing or not a journal.
        PluginError: a plugin cannot be loaded (as ``aries-engine run`` would say).
        sqlite3.Error: the journal could not be read to its end.
    """
    with JournalTimeline(Path(path)) as timeline:
        pm, plugins = load_plugins(config, entry_points=entry_points)
        replayer = _Replayer(
            config=config,
            pm=pm,
            plugins=plugins,
            timeline=timeline,
            run_tag=run_tag,
            labels=(journal_label or str(path), config_label),
        )
        trio.run(replayer.run, clock=trio.testing.MockClock(autojump_threshold=0))
        return replayer.result()


@attrs.define(eq=False)
class _Replayer:
    """One replay; ``run`` under a ``MockClock``, then ``result``."""

    config: EngineConfig
    pm: pluggy.PluginManager
    plugins: list[LoadedPlugin]
    timeline: JournalTimeline
    run_tag: str | None
    labels: tuple[str, str]
    _tag_origin: str = attrs.field(default="", init=False)
    _names: tuple[str, ...] = attrs.field(factory=tuple, init=False)
    _market_from_events: bool = attrs.field(default=False, init=False)
    _awaiting: set[str] = attrs.field(factory=set, init=False)
    _missing_accounts: tuple[str, ...] = attrs.field(factory=tuple, init=False)
    _rows: dict[str, int] = attrs.field(factory=dict, init=False)
    _recorded_ids: frozenset[str] = attrs.field(factory=frozenset, init=False)
    _codec: JournalCodec = attrs.field(factory=JournalCodec, init=False)
    # Built inside trio.run:
    _bus: EventBus = attrs.field(init=False)
    _views: AccountViews = attrs.field(factory=AccountViews, init=False)
    _host: PluginHost = attrs.field(init=False)
    _inbox: Subscription = attrs.field(init=False)
    _outbox: Subscription = attrs.field(init=False)
    _accounts: dict[str, ReplayAccount] = attrs.field(factory=dict, init=False)
    _market: MarketHandler = attrs.field(factory=MarketHandler, init=False)
    _charts: ChartsHandler = attrs.field(factory=ChartsHandler, init=False)
    _decoders: dict[str, FrameDecoder] = attrs.field(factory=dict, init=False)
    # The clock:
    _origin_ns: int | None = attrs.field(default=None, init=False)
    _now_ns: int = attrs.field(default=0, init=False)
    _base_time: float = attrs.field(default=0.0, init=False)
    _ticking: bool = attrs.field(default=False, init=False)
    _interval_ns: int = attrs.field(default=1_000_000_000, init=False)
    _next_tick_ns: int = attrs.field(default=0, init=False)
    _started_ns: int | None = attrs.field(default=None, init=False)
    _just_synced: bool = attrs.field(default=False, init=False)
    # What the replay found:
    _records: list[CommandRecord] = attrs.field(factory=list, init=False)
    _held: dict[str, CommandRecord] = attrs.field(factory=dict, init=False)
    _delivered: Counter[str] = attrs.field(factory=Counter, init=False)
    _ticks: int = attrs.field(default=0, init=False)
    _normalize_errors: int = attrs.field(default=0, init=False)
    _dropped_live: int = attrs.field(default=0, init=False)
    _market_requests: Counter[str] = attrs.field(factory=Counter, init=False)
    _faults: list[tuple[str, str, str]] = attrs.field(factory=list, init=False)
    _recorded_commands: list[Event] = attrs.field(factory=list, init=False)
    _recorded_intents: dict[str, OrderIntent] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        self._names = tuple(p.name for p in self.plugins)
        self._rows = self.timeline.row_counts()
        self._market_from_events = self.timeline.has_events(MARKET_DATA)
        configured = [a.id for a in self.config.accounts]
        in_journal = self.timeline.event_accounts()
        self._missing_accounts = tuple(a for a in configured if a not in in_journal)
        self._awaiting = set(configured) & self.timeline.synced_accounts()
        recorded = self.timeline.recorded_orders()
        self._recorded_ids = frozenset(cid for _, cid in recorded)
        tags: list[str] = []
        for strategy, client_order_id in recorded:
            tag = _run_tag_of(strategy, client_order_id) if strategy in self._names else None
            if tag and tag not in tags:
                tags.append(tag)
        if self.run_tag is not None:
            self._tag_origin = "given with --run-tag"
        elif tags:
            self.run_tag = tags[0]
            self._tag_origin = "the live run's, read from its recorded orders"
            if len(tags) > 1:
                self._tag_origin += (
                    f"; the journal holds {len(tags)} runs ({', '.join(tags)}): their orders "
                    "are replayed as one session"
                )
        else:
            self.run_tag = DEFAULT_RUN_TAG
            self._tag_origin = "fixed: the journal has no recorded order of these plugins"

    # --- the run ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Replay the whole journal, then stop the plugins."""
        self._build()
        endpoints = ["accounts"]
        if not self._market_from_events:
            endpoints += [Endpoint.MARKET.value, Endpoint.CHARTS.value]
        for item in self.timeline.items(endpoints):
            if self._origin_ns is None:
                self._origin_ns = self._now_ns = item.ts_ns
                self._base_time = trio.current_time()
            if self._starts_before(item):
                await self._start()
            await self._advance(item.ts_ns)
            await self._handle(item)
            self._end_round()
        if self._started_ns is None and self._origin_ns is not None:
            await self._start()
        for account in self._accounts.values():
            for intent in account.held_at_end():
                self._decided(intent, HELD_AT_END)
        self._host.stop_plugins()

    def _build(self) -> None:
        self._bus = EventBus()
        # As the live host subscribes: market data conflated per symbol, the rest never dropped.
        self._inbox = self._bus.subscribe(
            "plugins",
            accepts=tuple(HOOK_FOR_EVENT),
            conflate=market_conflation_key,
            capacity=sys.maxsize,
        )
        self._outbox = self._bus.subscribe("replay", accepts=_FROM_PLUGINS, capacity=sys.maxsize)
        engine = self.config.engine
        self._host = PluginHost(
            self.pm,
            self.plugins,
            self._bus,
            self._views,
            time_budget=engine.hook_time_budget,
            timer_interval=engine.timer_interval,
            run_tag=self.run_tag,
        )
        gate = RiskGate(self.pm, self.plugins, quotes=self._host.quotes, clock=lambda: self._now_ns)
        for section in self.config.accounts:
            account = ReplayAccount(section.id, gate, self._recorded_ids)
            self._accounts[section.id] = account
        self._refresh_views()
        objects = {id(p.obj) for p in self.plugins}
        self._ticking = any(
            id(impl.plugin) in objects for impl in self.pm.hook.aries_on_timer.get_hookimpls()
        )
        self._interval_ns = max(1, round(engine.timer_interval * 1e9))
        self._decoders = {
            Endpoint.MARKET.value: FrameDecoder(Endpoint.MARKET),
            Endpoint.CHARTS.value: FrameDecoder(Endpoint.CHARTS),
        }

    def _starts_before(self, item: TimelineItem) -> bool:
        """The plugins start once every configured account in the journal has synced, right
        after that (and after the trading-state change published with the last sync)."""
        if self._started_ns is not None or self._awaiting:
            return False
        if self._just_synced and isinstance(item, EventItem):
            return not isinstance(item.event, TradingStateChanged)
        return True

    async def _start(self) -> None:
        self._started_ns = self._now_ns
        self._next_tick_ns = self._now_ns + self._interval_ns
        self._refresh_views()
        await self._host.start_plugins()
        await self._pump()
        self._end_round()

    async def _advance(self, ts_ns: int) -> None:
        """Move virtual time to ``ts_ns`` (never backwards), ticking the timer on the way."""
        target = max(self._now_ns, ts_ns)
        if self._started_ns is not None and self._ticking:
            while self._next_tick_ns <= target:
                await self._sleep_until(self._next_tick_ns)
                self._now_ns = self._next_tick_ns
                self._refresh_views()
                self._host.tick(utc(self._now_ns))
                self._ticks += 1
                await self._pump()
                self._end_round()
                self._next_tick_ns += self._interval_ns
        await self._sleep_until(target)
        self._now_ns = target

    async def _sleep_until(self, ns: int) -> None:
        assert self._origin_ns is not None
        deadline = self._base_time + (ns - self._origin_ns) / 1e9
        if deadline > trio.current_time():
            await trio.sleep_until(deadline)  # the MockClock jumps there at once

    def _end_round(self) -> None:
        for account in self._accounts.values():
            account.end_round()

    # --- journal items ---------------------------------------------------------------------

    async def _handle(self, item: TimelineItem) -> None:
        if isinstance(item, FrameItem):
            if item.endpoint == Endpoint.ACCOUNTS.value:
                for account in self._accounts.values():
                    account.heard(item.ts_ns)
            else:
                await self._bus.publish_all(self._decode(item))
        elif isinstance(item, EventItem):
            await self._event(item.event)
        elif isinstance(item, IntentItem):
            if isinstance(item.intent, OrderIntent):
                self._recorded_intents[item.intent.client_order_id] = item.intent
        else:
            self._recorded_verdict(item)
        await self._pump()

    def _decode(self, item: FrameItem) -> list[Event]:
        """The market data of one recorded frame, as the live connection published it."""
        decoder = self._decoders.get(item.endpoint)
        if decoder is None:
            return []
        handler = self._market if item.endpoint == Endpoint.MARKET.value else self._charts
        events: list[Event] = []
        for message in decoder.decode_frame(item.raw, ts_recv=item.ts_ns):
            try:
                decoded = handler.handle(message)
            except ProtocolError:
                self._normalize_errors += 1
                continue
            events += [event for event in decoded if isinstance(event, MARKET_DATA)]
        return events

    async def _event(self, event: Event) -> None:
        if isinstance(event, JournalGap):
            self._dropped_live += event.dropped
            return
        if isinstance(event, COMMANDS):
            self._recorded_commands.append(event)  # the live run's: compared, not replayed
            return
        if (
            isinstance(event, ConnectionStateChanged)
            and event.endpoint is Endpoint.MARKET
            and event.state in _RESETS_MARKET
        ):
            self._market.normalizer.reset()  # as a new market connection does
        if isinstance(event, AccountEvent):
            account = self._accounts.get(event.account_id)
            if account is not None:
                for intent, outcome in account.apply(event):
                    self._decided(intent, outcome)
        if type(event) in HOOK_FOR_EVENT and not isinstance(event, PluginFaulted):
            await self._bus.publish(event)  # the replay's own faults are delivered instead
        if isinstance(event, AccountSynced) and event.account_id in self._awaiting:
            self._awaiting.discard(event.account_id)
            self._just_synced = not self._awaiting

    def _recorded_verdict(self, item: VerdictItem) -> None:
        intent = self._recorded_intents.pop(item.client_order_id, None)
        if intent is None:
            return
        account = self._accounts.get(intent.account_id)
        if account is not None:
            account.recorded_verdict(intent, item.verdict)

    # --- the plugins -----------------------------------------------------------------------

    async def _pump(self) -> None:
        """Publish what the plugins asked for, decide it, and deliver what is waiting for
        them (once started), until nothing moves."""
        while True:
            await self._host.flush()
            moved = False
            if self._outbox.statistics().pending:
                for command in await self._outbox.receive_batch():
                    self._command(command)
                moved = True
            if self._started_ns is not None and self._inbox.statistics().pending:
                batch = await self._inbox.receive_batch()
                self._refresh_views()
                for event in batch:
                    self._host.deliver(event)
                    self._delivered[type(event).__name__] += 1
                moved = True
            if not moved:
                return

    def _command(self, command: Event) -> None:
        if isinstance(command, PluginFaulted):
            self._faults.append((command.plugin, command.hook, command.error))
            return
        if isinstance(command, MarketDataRequested):
            self._market_requests[command.strategy] += 1
            return
        record = CommandRecord(
            number=len(self._records) + 1,
            ts_ns=self._now_ns,
            plugin=self._emitter(command),
            command=command,
            terms=command_terms(self._codec, command),
        )
        self._records.append(record)
        outcome: Outcome | None = None
        if isinstance(command, SubmitOrder | ReplaceOrder):
            account = self._accounts.get(command.account_id)
            if account is None:
                outcome = Outcome.refused("UNKNOWN_ACCOUNT", "not a configured account")
            elif isinstance(command, ReplaceOrder):
                outcome = account.replace(command)
            else:
                outcome = account.submit(command.intent)
                if outcome is None:
                    self._held[command.intent.client_order_id] = record
                    return
            record.outcome, record.decided_ns = outcome, self._now_ns
            self._refresh_views()

    def _decided(self, intent: OrderIntent, outcome: Outcome) -> None:
        record = self._held.pop(intent.client_order_id, None)
        if record is not None:
            record.outcome, record.decided_ns = outcome, self._now_ns

    def _emitter(self, command: Event) -> str:
        """Which plugin emitted ``command`` (``(engine)`` for the engine's own requests)."""
        if isinstance(command, SubmitOrder):
            return command.intent.strategy
        if isinstance(command, CancelOrder | ReplaceOrder | MarketDataRequested):
            return command.strategy
        if isinstance(command, TradingStateRequested):
            for name in sorted(self._names, key=len, reverse=True):
                if command.reason.startswith(f"{name}: "):
                    return name
        return "(engine)"

    def _refresh_views(self) -> None:
        for account in self._accounts.values():
            if account.changed:
                self._views.set(account.view())
                account.changed = False

    # --- the result ------------------------------------------------------------------------

    def result(self) -> ReplayResult:
        """What the replay found (after ``run``)."""
        decode_errors = self._normalize_errors + sum(
            decoder.statistics().errors for decoder in self._decoders.values()
        )
        return ReplayResult(
            journal=self.labels[0],
            config=self.labels[1],
            rows=self._rows,
            first_ns=self._origin_ns,
            last_ns=None if self._origin_ns is None else self._now_ns,
            run_tag=self.run_tag or DEFAULT_RUN_TAG,
            run_tag_origin=self._tag_origin,
            strategies=tuple(p.name for p in self.plugins if p.kind == "strategy"),
            plugins=tuple(p.name for p in self.plugins if p.kind == "plugin"),
            accounts=tuple(self._accounts),
            missing_accounts=self._missing_accounts,
            started_ns=self._started_ns,
            market_source="events" if self._market_from_events else "frames",
            delivered=dict(self._delivered),
            conflated=self._inbox.statistics().conflated,
            ticks=self._ticks,
            decode_errors=decode_errors,
            skipped=self.timeline.skipped,
            dropped_live=self._dropped_live,
            commands=tuple(self._records),
            comparisons=self._compare(),
            market_requests=dict(self._market_requests),
            faults=tuple(self._faults),
        )

    def _compare(self) -> dict[str, Comparison]:
        """Each replayed strategy's commands against the live run's (run tags left out)."""
        replayed: dict[str, list[tuple[str, str]]] = {}
        for record in self._records:
            replayed.setdefault(record.plugin, []).append(self._key(record.plugin, record.command))
        recorded: dict[str, list[tuple[str, str]]] = {}
        for command in self._recorded_commands:
            plugin = self._emitter(command)
            recorded.setdefault(plugin, []).append(self._key(plugin, command))
        comparisons: dict[str, Comparison] = {}
        for name in self._names:
            ours, theirs = replayed.get(name, []), recorded.get(name, [])
            if not ours and not theirs and name not in self._strategy_names():
                continue
            first = next(
                (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a[0] != b[0]),
                None if len(ours) == len(theirs) else min(len(ours), len(theirs)),
            )
            comparisons[name] = Comparison(
                replayed_count=len(ours),
                recorded_count=len(theirs),
                first_difference=None if first is None else first + 1,
                replayed=ours[first][1] if first is not None and first < len(ours) else "",
                recorded=theirs[first][1] if first is not None and first < len(theirs) else "",
            )
        return comparisons

    def _strategy_names(self) -> set[str]:
        return {p.name for p in self.plugins if p.kind == "strategy"}

    def _key(self, plugin: str, command: Event) -> tuple[str, str]:
        """``(comparison key, description)`` of a command, its client order id untagged."""
        terms = command_terms(self._codec, command)
        holder = terms.get("intent", terms)
        if isinstance(holder, dict) and isinstance(holder.get("client_order_id"), str):
            holder["client_order_id"] = _untagged(plugin, holder["client_order_id"])
        key = json.dumps(
            [type(command).__name__, getattr(command, "account_id", ""), terms],
            sort_keys=True,
            default=str,
        )
        return key, describe_command(command)


def _run_tag_of(name: str, client_order_id: str) -> str | None:
    """The run tag in one of plugin ``name``'s client order ids (``None`` if not its format)."""
    base = client_order_id_prefix(name, "")
    if not client_order_id.startswith(base):
        return None
    tag, dash, counter = client_order_id[len(base) :].rpartition("-")
    return tag if dash and tag and counter.isdigit() else None


def _untagged(plugin: str, client_order_id: str) -> str:
    tag = _run_tag_of(plugin, client_order_id)
    if tag is None:
        return client_order_id
    base = client_order_id_prefix(plugin, "")
    return base + "*" + client_order_id[len(base) + len(tag) :]
