"""``Simulator``: hypercorn (trio worker) serving the app, plus the market loop, in one nursery."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import attrs
import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from hypercorn.typing import ASGIFramework

from engine.sim._app import build_app
from engine.sim._config import SimConfig
from engine.sim._core import SimCore
from engine.sim._faults import FaultController, FaultMiddleware
from engine.sim._hub import Hub, SimStatistics
from engine.sim._ledger import Ledger
from engine.sim._market import MarketModel
from engine.sim._profile import CLOSE_DROPPED, WS_PATHS
from engine.sim._stream_profile import (
    NEWS_EVERY_TICKS,
    SEED_WATCHLIST_ID,
    WATCHLIST_EVERY_TICKS,
)
from engine.sim._streams import (
    MarketStatusBoard,
    NewsItem,
    NewsWire,
    PnlRecorder,
    SimStreams,
    WatchlistChange,
    Watchlists,
)
from engine.sim._users import UserRegistry

log = structlog.get_logger(__name__)

_DEFAULT_CONFIG = SimConfig()


@attrs.frozen(kw_only=True)
class SimEndpoints:
    """Where a running simulator listens. The engine appends ``/v1/accounts/ws`` etc. to
    ``ws_base``."""

    rest_base: str
    ws_base: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _hypercorn_config(config: SimConfig) -> HypercornConfig:
    hconfig = HypercornConfig()
    host = f"[{config.host}]" if ":" in config.host else config.host
    hconfig.bind = [f"{host}:{config.port}"]
    hconfig.accesslog = None
    quiet = logging.getLogger("engine.sim.hypercorn")
    quiet.setLevel(logging.WARNING)
    hconfig.errorlog = quiet
    hconfig.graceful_timeout = 0.5
    return hconfig


class Simulator:
    """The built-in Aries simulator: REST and the three WebSocket paths on one loopback port.

    It keeps per-account truth, runs a seeded synthetic market that ticks every
    ``config.tick_interval`` seconds (whether or not anyone subscribed), matches working orders on
    every tick, and enforces the socket protocol rules of ``shared/protocol/ARIES.md``.

    Start it with ``endpoints = await nursery.start(sim.run)``; it serves until cancelled. A
    ``Simulator`` runs once. ``now`` supplies the wall-clock timestamps written into messages
    (aware UTC datetimes); durations use trio's clock.
    """

    def __init__(
        self, config: SimConfig = _DEFAULT_CONFIG, *, now: Callable[[], datetime] | None = None
    ) -> None:
        self._config = config
        self._now = now if now is not None else _utc_now
        market = MarketModel(config.symbols, random.Random(config.seed))
        ledger = Ledger(config.accounts, market, opened_at=self._now())
        hub = Hub(self._now)
        # SimCore opens the other users' accounts: read the account ids after building it.
        self._core = SimCore(config=config, now=self._now, market=market, ledger=ledger, hub=hub)
        watchlists = Watchlists()
        for user in self._core.users.users:
            watchlists.seed(user.user_id, config.symbols)
        hub.streams = SimStreams(
            pnl=PnlRecorder(lambda a: ledger.balance(a).total_equity, ledger.account_ids),
            watchlists=watchlists,
            news=NewsWire(config.seed),
            status=MarketStatusBoard(market.market_status()),
            rng=random.Random(f"{config.seed}:streams"),
        )
        self._streams = hub.streams
        self._endpoints: SimEndpoints | None = None
        self._ran = False

    @property
    def config(self) -> SimConfig:
        """The configuration this simulator was built with."""
        return self._config

    @property
    def endpoints(self) -> SimEndpoints:
        """Where it listens; ``RuntimeError`` unless it is running."""
        if self._endpoints is None:
            raise RuntimeError(
                "the simulator is not running (start it with nursery.start(sim.run))"
            )
        return self._endpoints

    @property
    def market(self) -> MarketModel:
        """The synthetic market (tests may force quotes through it)."""
        return self._core.market

    @property
    def ledger(self) -> Ledger:
        """The per-account truth (read-only use expected)."""
        return self._core.ledger

    @property
    def users(self) -> UserRegistry:
        """Users, their accounts and tokens (``token_expires_at`` of an issued token)."""
        return self._core.users

    async def run(
        self, *, task_status: trio.TaskStatus[SimEndpoints] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled; ``task_status.started(endpoints)`` once listening."""
        if self._ran:
            raise RuntimeError("a Simulator runs only once; create a new one")
        self._ran = True
        faults = self._core.hub.faults
        app = cast(ASGIFramework, FaultMiddleware(build_app(self._core), faults))
        try:
            async with trio.open_nursery() as nursery:
                faults.start(nursery)
                binds: list[str] = await nursery.start(
                    partial(
                        serve,
                        app,
                        _hypercorn_config(self._config),
                        shutdown_trigger=trio.sleep_forever,
                    )
                )
                rest_base = binds[0]
                self._endpoints = SimEndpoints(
                    rest_base=rest_base, ws_base="ws://" + rest_base.removeprefix("http://")
                )
                nursery.start_soon(self._market_loop)
                log.info(
                    "sim.started",
                    rest_base=self._endpoints.rest_base,
                    ws_base=self._endpoints.ws_base,
                    symbols=list(self._config.symbols),
                    accounts=list(self._core.ledger.account_ids),
                )
                task_status.started(self._endpoints)
        finally:
            self._endpoints = None
            log.info("sim.stopped")

    async def _market_loop(self) -> None:
        interval = self._config.tick_interval
        deadline = trio.current_time()
        while True:
            deadline += interval
            now = trio.current_time()
            if deadline < now - interval:  # fell behind: skip the missed ticks, don't burst
                deadline = now
            await trio.sleep_until(deadline)
            self._tick()

    def _tick(self) -> None:
        """One market step: new quotes and trades out, then matching of working orders."""
        core = self._core
        tick = core.market.step()
        core.hub.publish_market_tick(tick)
        now = self._now()
        updates = core.ledger.match(now)
        core.hub.publish_account_updates(updates)
        streams = self._streams
        streams.pnl.sample(now)
        core.hub.publish_streams_tick()
        if WATCHLIST_EVERY_TICKS and tick.number % WATCHLIST_EVERY_TICKS == 0:
            change = streams.watchlists.random_change(
                self._config.default_user_id, self._config.symbols, streams.rng
            )
            core.hub.publish_watchlist(change)
        if NEWS_EVERY_TICKS and tick.number % NEWS_EVERY_TICKS == 0:
            core.hub.publish_news(streams.news.random_item(self._config.symbols, now))

    def statistics(self) -> SimStatistics:
        """Counters: connections, auths, subscribes (per path), orders, fills, open sockets."""
        return self._core.hub.statistics()

    async def wait_statistics(self, predicate: Callable[[SimStatistics], bool]) -> SimStatistics:
        """Wait until ``predicate(statistics())`` is true (wakes on every counter change).

        Bound it with ``trio.fail_after``.
        """
        return await self._core.hub.wait_statistics(predicate)

    async def drop_connections(self, path: str | None = None) -> int:
        """Fault injection: close every open socket (of ``path``) with code 1011.

        Returns how many were closed, once they have all ended.
        """
        if path is not None and path not in WS_PATHS:
            raise ValueError(f"unknown socket path {path!r}; expected one of {WS_PATHS}")
        return await self._core.hub.drop_connections(path, CLOSE_DROPPED)

    # -- fault injection and stream control ---------------------------------------------------

    @property
    def faults(self) -> FaultController:
        """The fault-injection control API (``await sim.faults.apply(Fault.silent_socket())``)."""
        return self._core.hub.faults

    def _user(self, user: str | None) -> str:
        """``user`` or the default user's id (watchlists are per user)."""
        return self._config.default_user_id if user is None else user

    def set_account_status(
        self, account_id: str, status: str | None = None, *, options_level: str | None = None
    ) -> bool:
        """Change an account's ``status`` / ``optionsLevel`` and emit ``account.info`` (§4.7)
        to the sockets subscribed to it. ``False`` if nothing changed."""
        info = self._core.ledger.update_info(account_id, status=status, options_level=options_level)
        if info is None:
            return False
        self._core.hub.publish_account_info(info)
        return True

    def watchlist_add(
        self,
        symbol: str,
        *,
        watchlist_id: str = SEED_WATCHLIST_ID,
        name: str | None = None,
        user: str | None = None,
    ) -> WatchlistChange:
        """Add ``symbol`` to a watchlist of ``user`` and emit ``watchlist.add``."""
        change = self._streams.watchlists.add(self._user(user), symbol, watchlist_id, name)
        self._core.hub.publish_watchlist(change)
        return change

    def watchlist_update(
        self,
        *,
        watchlist_id: str = SEED_WATCHLIST_ID,
        symbol: str | None = None,
        position: int | None = None,
        name: str | None = None,
        user: str | None = None,
    ) -> WatchlistChange:
        """Rename a watchlist and/or move ``symbol`` to ``position``; emit ``watchlist.update``."""
        change = self._streams.watchlists.update(
            self._user(user), watchlist_id, symbol=symbol, position=position, name=name
        )
        self._core.hub.publish_watchlist(change)
        return change

    def watchlist_remove(
        self,
        symbol: str | None = None,
        *,
        watchlist_id: str = SEED_WATCHLIST_ID,
        user: str | None = None,
    ) -> WatchlistChange:
        """Remove ``symbol`` (or the whole list) and emit ``watchlist.remove``."""
        change = self._streams.watchlists.remove(self._user(user), watchlist_id, symbol)
        self._core.hub.publish_watchlist(change)
        return change

    def publish_news(
        self,
        headline: str,
        *,
        symbols: tuple[str, ...] | list[str] = (),
        topics: tuple[str, ...] | list[str] = (),
        summary: str = "",
    ) -> NewsItem:
        """Publish a news story to the ``news`` subscribers whose filter matches it."""
        item = self._streams.news.make(
            headline, symbols=symbols, topics=topics, summary=summary, now=self._now()
        )
        self._core.hub.publish_news(item)
        return item

    def set_market_status(self, **changes: Any) -> bool:
        """Change ``marketStatus`` values (``market="closed"``, ``exchanges={"nyse": "closed"}``)
        and push the new status to the market sockets if anything changed."""
        status = self._streams.status
        if not status.change(changes):
            return False
        self._core.hub.publish_market_status(status.data)
        return True

    @property
    def option_symbols(self) -> tuple[str, ...]:
        """OSI symbols of the listed options (market socket ``symbolType: "option"``, charts)."""
        market, as_of = self._core.market, self._core.ledger.as_of
        return tuple(
            contract.symbol
            for underlying in market.option_underlyings()
            for contract in market.option_chain(underlying, as_of)
        )
