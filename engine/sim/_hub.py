"""The registry of open sockets: fan-out of account and market events, and the statistics."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import attrs
import structlog
import trio

from engine.sim import _messages as msg
from engine.sim._faults import FaultController
from engine.sim._ledger import AccountInfo, AccountUpdate, OrderUpdate
from engine.sim._market import MarketTick
from engine.sim._profile import WS_PATHS
from engine.sim._streams import NewsItem, SimStreams, WatchlistChange

log = structlog.get_logger(__name__)


@attrs.frozen(kw_only=True)
class SimStatistics:
    """A snapshot of the simulator's counters (dicts are keyed by WebSocket path)."""

    connections_accepted: dict[str, int]
    auths_succeeded: dict[str, int]
    subscribes: dict[str, int]
    orders_placed: int
    fills: int
    open_sockets: dict[str, int]
    market_ticks: int


class HubSession(Protocol):
    """What the hub needs from an open socket session."""

    path: str

    def wants_account(self, account_id: str) -> bool:
        """Whether account events for ``account_id`` go to this socket."""
        ...

    def send_text(self, text: str) -> None:
        """Queue one serialized message without blocking (overflow closes the socket)."""
        ...

    def on_market_tick(self, tick: MarketTick) -> None:
        """React to a market tick (market and charts sockets)."""
        ...

    def abort(self, code: int) -> None:
        """Close the socket now with ``code``, dropping whatever is still queued."""
        ...

    def on_watchlist(self, change: WatchlistChange) -> None:
        """A user's watchlist changed (accounts sockets)."""
        ...

    def on_news(self, item: NewsItem) -> None:
        """A news story was published (accounts sockets)."""
        ...

    def on_market_status(self, values: dict[str, object]) -> None:
        """The market status changed (market sockets)."""
        ...

    def on_streams_tick(self) -> None:
        """P&L samples were taken (accounts sockets send their open candles)."""
        ...

    def expire_now(self) -> None:
        """Fault injection: end the session now (``authExpired``, then close)."""
        ...

    def silence(self) -> None:
        """Fault injection: keep the socket open but send nothing any more."""
        ...

    def send_raw(self, text: str) -> None:
        """Fault injection: queue one raw text frame as is."""
        ...

    async def wait_finished(self) -> None:
        """Return once the session has ended and left the hub."""
        ...


def _zeroes() -> dict[str, int]:
    return dict.fromkeys(WS_PATHS, 0)


class Hub:
    """Open sessions, event fan-out and counters; one per simulator, used from one trio run."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._sessions: list[HubSession] = []
        self._connections = _zeroes()
        self._auths = _zeroes()
        self._subscribes = _zeroes()
        self._orders_placed = 0
        self._fills = 0
        self._ticks = 0
        self._changed = trio.Event()
        self.faults = FaultController(self)
        self.streams: SimStreams | None = None

    # -- sessions ----------------------------------------------------------------------------

    def register(self, session: HubSession) -> None:
        """A socket was accepted."""
        self._sessions.append(session)
        self._connections[session.path] += 1
        self._notify()

    def unregister(self, session: HubSession) -> None:
        """A socket ended (idempotent)."""
        if session in self._sessions:
            self._sessions.remove(session)
            self._notify()

    def sessions(self, path: str | None = None) -> list[HubSession]:
        """Open sessions, optionally only those of one path."""
        return [s for s in self._sessions if path is None or s.path == path]

    # -- counters ----------------------------------------------------------------------------

    def note_auth(self, path: str) -> None:
        """A socket authenticated (first time or in place)."""
        self._auths[path] += 1
        self._notify()

    def note_subscribe(self, path: str) -> None:
        """A subscribe request succeeded."""
        self._subscribes[path] += 1
        self._notify()

    def note_order_placed(self) -> None:
        """An order got a ``clOrdId`` (accepted or rejected by business rules)."""
        self._orders_placed += 1
        self._notify()

    # -- fan-out -----------------------------------------------------------------------------

    def publish_account_updates(self, updates: Sequence[AccountUpdate]) -> None:
        """Send account events to the sockets subscribed to each update's account."""
        if not updates:
            return
        now = self._now()
        fills = 0
        batches: dict[HubSession, list[str]] = {}
        for update in updates:
            if isinstance(update, OrderUpdate) and update.is_fill:
                fills += 1
            targets = [s for s in self._sessions if s.wants_account(update.account_id)]
            if not targets:
                continue
            text = json.dumps(msg.account_event(update, now))
            for session in targets:
                batches.setdefault(session, []).append(text)
        for session, texts in batches.items():
            self.faults.deliver_account_events(session, texts)
        if fills:
            self._fills += fills
            self._notify()

    def publish_account_info(self, info: AccountInfo) -> None:
        """Send an ``account.info`` event to the sockets subscribed to that account."""
        targets = [s for s in self._sessions if s.wants_account(info.account_id)]
        if targets:
            text = json.dumps(msg.account_info_event(info, self._now()))
            for session in targets:
                self.faults.deliver_account_events(session, [text])

    def publish_watchlist(self, change: WatchlistChange) -> None:
        """Send a watchlist change to the user's sockets subscribed to ``watchlist``."""
        for session in list(self._sessions):
            session.on_watchlist(change)

    def publish_news(self, item: NewsItem) -> None:
        """Send a news story to the sockets whose ``news`` filter matches it."""
        for session in list(self._sessions):
            session.on_news(item)

    def publish_market_status(self, values: dict[str, object]) -> None:
        """Send a ``marketStatus`` change to every authenticated market socket."""
        for session in list(self._sessions):
            session.on_market_status(values)

    def publish_streams_tick(self) -> None:
        """Let the accounts sockets send their open P&L candles."""
        for session in list(self._sessions):
            session.on_streams_tick()

    def publish_market_tick(self, tick: MarketTick) -> None:
        """Hand a market tick to every open session (each filters its own subscriptions)."""
        for session in list(self._sessions):
            session.on_market_tick(tick)
        self._ticks += 1
        self._notify()

    async def drop_connections(self, path: str | None, code: int) -> int:
        """Close every open socket (of ``path``) with ``code``; wait until they have ended."""
        victims = self.sessions(path)
        for session in victims:
            session.abort(code)
        for session in victims:
            await session.wait_finished()
        log.info("sim.connections.dropped", path=path, count=len(victims), code=code)
        return len(victims)

    # -- statistics --------------------------------------------------------------------------

    def statistics(self) -> SimStatistics:
        """The counters right now (copies)."""
        open_sockets = _zeroes()
        for session in self._sessions:
            open_sockets[session.path] += 1
        return SimStatistics(
            connections_accepted=dict(self._connections),
            auths_succeeded=dict(self._auths),
            subscribes=dict(self._subscribes),
            orders_placed=self._orders_placed,
            fills=self._fills,
            open_sockets=open_sockets,
            market_ticks=self._ticks,
        )

    async def wait_statistics(self, predicate: Callable[[SimStatistics], bool]) -> SimStatistics:
        """Wait until ``predicate(statistics())`` holds; wakes on every counter change."""
        await trio.lowlevel.checkpoint()
        while True:
            stats = self.statistics()
            if predicate(stats):
                return stats
            await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()
