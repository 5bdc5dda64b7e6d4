"""What differs between the sockets: which subscriptions to send and what data messages mean.

A handler keeps the endpoint's subscription registry (replayed on every reconnect) and turns
decoded data messages into bus events. The generic connect/authenticate/ping/reconnect loop is
``ConnectionSupervisor``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

import attrs
import structlog

from engine.aries import encode, protocol
from engine.aries.normalize import MarketNormalizer
from engine.aries.wire import (
    ChartUpdate,
    MarketStatus,
    PnlHistory,
    QuoteUpdate,
    Subscribed,
    TradeUpdate,
)
from engine.model.enums import Endpoint
from engine.model.events import (
    AccountInfoReported,
    AccountSubscriptionRefused,
    BalanceReported,
    Event,
    OrderReported,
    PositionReported,
)
from engine.model.market import Trade
from engine.model.streams import (
    BookUpdated,
    GreeksUpdated,
    NewsReceived,
    PnlCandleReceived,
    WatchlistChanged,
)

log = structlog.get_logger(__name__)

ACCOUNT_REPORTS = (
    OrderReported,
    PositionReported,
    BalanceReported,
    AccountInfoReported,
    PnlCandleReceived,
)
#: The user-level topics of the accounts socket (§4.2, §4.9): published as decoded.
USER_STREAMS = (WatchlistChanged, NewsReceived)
#: Market data the decoder already turned into complete domain events (§5.6): level 2, greeks,
#: and time-and-sales prints (a ``Trade``, as the tape of ``aries_on_trade``).
COMPLETE_MARKET_EVENTS = (BookUpdated, GreeksUpdated, Trade)

RequestIds = Callable[[], str]
#: Bad lines on the accounts socket that cost a resync: account events, and lines too broken to
#: tell their type.
_RESYNC_AFTER = frozenset({*protocol.ACCOUNT_EVENT_TYPES, protocol.UNPARSED_MESSAGE_TYPE})


class EndpointHandler(Protocol):
    """The endpoint-specific half of a connection."""

    endpoint: Endpoint
    path: str

    def subscribe_messages(self, next_id: RequestIds) -> list[tuple[str, str]]:
        """``(request_id, text)`` of every subscription to (re)send after authenticating."""
        ...

    def handle(self, message: Any) -> list[Event]:
        """Events for one decoded data message (``[]`` for messages it ignores)."""
        ...

    def change(self, add: Iterable[str], remove: Iterable[str]) -> tuple[set[str], set[str]]:
        """Update the registry; return what was really added and removed."""
        ...

    def change_messages(self, next_id: RequestIds, added: set[str], removed: set[str]) -> list[str]:
        """The messages that apply a registry change to a live socket."""
        ...

    def confirms_subscriptions(self, message: Any) -> bool:
        """True if data of this kind proves the subscriptions are live even without an ack."""
        ...

    def refused(self, request_id: str, code: str, reason: str) -> list[Event]:
        """The venue refused the subscription request ``request_id``: log it, forget it (a
        refusal is never retried) and return the events that say what it costs."""
        ...

    def resyncs_after(self, message_type: str) -> bool:
        """True if a line of this type that could not be decoded must be recovered by a
        reconnect and a fresh snapshot (it may have carried a fill), not just logged."""
        ...

    @property
    def drops_on_overflow(self) -> bool:
        """When consumers fall behind: True drops frames (market data), False resyncs."""
        ...


@attrs.define(eq=False)
class AccountsHandler:
    """The accounts socket: ``account`` per configured account, ``pnl`` where asked, and the
    user-level ``watchlist`` and ``news`` topics when enabled (§4.2, §4.9).

    P&L candles are asked from the moment the engine started (``pnl_since``), so a reconnect
    replays the same series and the account actor's per-bucket state stays consistent.
    ``news_symbols`` / ``news_topics`` filter the news server-side (empty: no filter).
    """

    accounts: tuple[str, ...]
    pnl_intervals: Mapping[str, str] = attrs.field(factory=dict)
    pnl_since: datetime = attrs.field(factory=lambda: datetime.now(UTC))
    watchlist: bool = False
    news: bool = False
    news_symbols: tuple[str, ...] = ()
    news_topics: tuple[str, ...] = ()
    endpoint: Endpoint = Endpoint.ACCOUNTS
    path: str = "/v1/accounts/ws"
    _requests: dict[str, tuple[str, str | None]] = attrs.field(factory=dict, init=False)
    """Request id → (topic, account id) of the subscriptions sent on the current socket."""
    _refused: set[tuple[str, str | None]] = attrs.field(factory=set, init=False)
    _account_set: frozenset[str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._account_set = frozenset(self.accounts)

    def subscribe_messages(self, next_id: RequestIds) -> list[tuple[str, str]]:
        self._requests.clear()
        messages = []

        def add(topic: str, account_id: str | None, encode_with: Callable[[str], str]) -> None:
            if (topic, account_id) not in self._refused:
                request_id = next_id()
                self._requests[request_id] = (topic, account_id)
                messages.append((request_id, encode_with(request_id)))

        for account_id in self.accounts:
            add("account", account_id, partial(encode.subscribe_account, account_id=account_id))
        for account_id, interval in sorted(self.pnl_intervals.items()):
            add(
                "pnl",
                account_id,
                partial(
                    encode.subscribe_pnl,
                    account_id=account_id,
                    start_time=self.pnl_since,
                    interval=interval,
                ),
            )
        if self.watchlist:
            add("watchlist", None, encode.subscribe_watchlist)
        if self.news:
            add(
                "news",
                None,
                partial(encode.subscribe_news, symbols=self.news_symbols, topics=self.news_topics),
            )
        return messages

    def refused(self, request_id: str, code: str, reason: str) -> list[Event]:
        topic, account_id = self._requests.get(request_id, ("unknown", None))
        self._refused.add((topic, account_id))
        if topic == "account" and account_id is not None:
            log.critical(
                "account.subscription_refused",
                account=account_id,
                code=code,
                reason=reason,
                action="check the account id in [[accounts]] and that the credential's user "
                "owns it; the account is halted, the others go on",
            )
            return [AccountSubscriptionRefused(account_id=account_id, code=code, reason=reason)]
        log.error(
            "connection.subscription_refused",
            topic=topic,
            account=account_id,
            code=code,
            reason=reason,
            action="not retried: that stream stays off until a restart",
        )
        return []

    def handle(self, message: Any) -> list[Event]:
        if isinstance(message, Subscribed):
            if message.snapshot is None:
                return []
            snapshot = message.snapshot
            if snapshot.account_id not in self._account_set:
                log.error("account.foreign_snapshot_refused", account=snapshot.account_id)
                return []
            log.info(
                "account.snapshot",
                account=snapshot.account_id,
                orders=len(snapshot.orders),
                positions=len(snapshot.positions),
                stock_buying_power=None
                if snapshot.balance is None
                else str(snapshot.balance.stock_buying_power),
            )
            return [snapshot]
        if isinstance(message, PnlHistory):
            return [c for c in message.candles if c.account_id in self._account_set]
        if isinstance(message, USER_STREAMS):
            return [message]
        report = getattr(message, "report", message)
        if isinstance(report, ACCOUNT_REPORTS):
            if report.account_id not in self._account_set:
                log.error(
                    "account.foreign_event_refused",
                    account=report.account_id,
                    kind=type(report).__name__,
                )
                return []
            return [report]
        return []

    def change(self, add: Iterable[str], remove: Iterable[str]) -> tuple[set[str], set[str]]:
        # The accounts come from [[accounts]] and do not change while the engine runs.
        wanted = set(add) | set(remove)
        if wanted:
            log.warning("connection.account_registry_is_fixed", requested=sorted(wanted))
        return set(), set()

    def change_messages(self, next_id: RequestIds, added: set[str], removed: set[str]) -> list[str]:
        return []

    def confirms_subscriptions(self, message: Any) -> bool:
        return False

    def resyncs_after(self, message_type: str) -> bool:
        # An account event, or a line too broken to tell what it was (FAULT-SCENARIOS #17).
        return message_type in _RESYNC_AFTER

    @property
    def drops_on_overflow(self) -> bool:
        # Account events are never dropped: reconnecting brings a fresh snapshot to reconcile.
        return False


@attrs.define(eq=False)
class MarketHandler:
    """The market-data socket: quotes and trades of a registry of symbols, the level-2 book of
    the ``level2`` symbols and the greeks of the ``greeks`` (OSI option) symbols (§5.4).

    The ``level2`` and ``greeks`` symbols join the registry when the handler is built and stay
    in it: run-time changes (plugins' requests) never unsubscribe them. The market status the
    venue pushes after auth (§5.3) is published as ``MarketStatusChanged``.
    """

    symbols: set[str] = attrs.field(factory=set)
    level2: frozenset[str] = frozenset()
    greeks: frozenset[str] = frozenset()
    endpoint: Endpoint = Endpoint.MARKET
    path: str = "/v1/market/ws"
    normalizer: MarketNormalizer = attrs.field(factory=MarketNormalizer)
    _seen: set[str] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        self.symbols |= self.level2 | self.greeks

    def subscribe_messages(self, next_id: RequestIds) -> list[tuple[str, str]]:
        # A new connection starts from the venue's fresh quote snapshot, not stale partial fields.
        self.normalizer.reset()
        if not self.symbols:
            return []
        request_id = next_id()
        return [(request_id, encode.subscribe_market(request_id, self._items(self.symbols)))]

    def _items(self, symbols: Iterable[str]) -> list[encode.MarketSubscription]:
        """What to stream for each of ``symbols``: quotes and trades, plus level 2 / greeks."""
        return [
            encode.MarketSubscription(
                symbol=symbol, level2=symbol in self.level2, greeks=symbol in self.greeks
            )
            for symbol in sorted(symbols)
        ]

    def handle(self, message: Any) -> list[Event]:
        if isinstance(message, QuoteUpdate):
            quote = self.normalizer.quote(message)
            if quote.symbol not in self._seen:
                self._seen.add(quote.symbol)
                log.info(
                    "market.first_quote",
                    symbol=quote.symbol,
                    bid=None if quote.bid is None else str(quote.bid),
                    ask=None if quote.ask is None else str(quote.ask),
                )
            return [quote]
        if isinstance(message, TradeUpdate):
            return [self.normalizer.trade(message)]
        if isinstance(message, COMPLETE_MARKET_EVENTS):
            return [message]
        if isinstance(message, MarketStatus):
            log.info("market.status", market=message.market)
            return [] if message.status is None else [message.status]
        return []

    def change(self, add: Iterable[str], remove: Iterable[str]) -> tuple[set[str], set[str]]:
        # The level-2 and greeks symbols come from engine.toml: they are never removed.
        return _change_symbols(self.symbols, add, set(remove) - self.level2 - self.greeks)

    def change_messages(self, next_id: RequestIds, added: set[str], removed: set[str]) -> list[str]:
        messages = []
        if added:
            messages.append(encode.subscribe_market(next_id(), self._items(added)))
        if removed:
            messages.append(encode.unsubscribe_market(next_id(), sorted(removed)))
        return messages

    def confirms_subscriptions(self, message: Any) -> bool:
        # Not the market status: the venue pushes it after auth, subscribed or not (§5.2).
        return isinstance(message, (QuoteUpdate, TradeUpdate, *COMPLETE_MARKET_EVENTS))

    def refused(self, request_id: str, code: str, reason: str) -> list[Event]:
        # One unknown symbol must not stop the others (the venue refuses it alone).
        return []

    def resyncs_after(self, message_type: str) -> bool:
        return False  # the next update of the symbol replaces what was lost

    @property
    def drops_on_overflow(self) -> bool:
        return True


@attrs.define(eq=False)
class ChartsHandler:
    """The charting socket: the TradingView-style quote/trade feed of a set of symbols."""

    symbols: set[str] = attrs.field(factory=set)
    endpoint: Endpoint = Endpoint.CHARTS
    path: str = "/v1/charts/ws"

    def subscribe_messages(self, next_id: RequestIds) -> list[tuple[str, str]]:
        messages = []
        for symbol in sorted(self.symbols):
            request_id = next_id()
            messages.append((request_id, encode.subscribe_chart(request_id, symbol)))
        return messages

    def handle(self, message: Any) -> list[Event]:
        if isinstance(message, ChartUpdate):
            return [part for part in (message.quote, message.trade) if part is not None]
        return []

    def change(self, add: Iterable[str], remove: Iterable[str]) -> tuple[set[str], set[str]]:
        return _change_symbols(self.symbols, add, remove)

    def change_messages(self, next_id: RequestIds, added: set[str], removed: set[str]) -> list[str]:
        return [
            *(encode.subscribe_chart(next_id(), symbol) for symbol in sorted(added)),
            *(encode.unsubscribe_chart(next_id(), symbol) for symbol in sorted(removed)),
        ]

    def confirms_subscriptions(self, message: Any) -> bool:
        return isinstance(message, ChartUpdate)

    def refused(self, request_id: str, code: str, reason: str) -> list[Event]:
        return []

    def resyncs_after(self, message_type: str) -> bool:
        return False  # the next update of the symbol replaces what was lost

    @property
    def drops_on_overflow(self) -> bool:
        return True


def _change_symbols(
    registry: set[str], add: Iterable[str], remove: Iterable[str]
) -> tuple[set[str], set[str]]:
    """Apply a change to a symbol registry; return the symbols really added and removed."""
    added = set(add) - registry
    removed = set(remove) & registry - added
    registry |= added
    registry -= removed
    return added, removed
