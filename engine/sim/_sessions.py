"""One task tree per WebSocket: the protocol rules every socket shares, and the three variants.

Each session runs three tasks in its own nursery:

* the **reader** receives frames (NDJSON lines are split), answers them synchronously, and drops
  a client that stays silent for ``idle_timeout`` seconds;
* the **writer** drains the session's bounded outbound buffer into the socket. On the market
  socket it packs 1..``max_batch`` queued messages into one text frame (newline-separated);
* the **session clock** enforces the auth window (``AUTH_REQUIRED`` then close 1008), sends
  ``refreshAuth`` ``refresh_warning_lead`` seconds before expiry, and ``authExpired`` then close
  1000 at expiry. A second valid ``/auth`` on the socket re-authenticates in place: new expiry,
  subscriptions kept.

Everything that produces messages (REST handlers, the market loop, the reader) queues them with
``send_text``, which never blocks: if a client is too slow and its buffer
(``OUTBOUND_BUFFER_MESSAGES``) overflows, that socket is closed with ``CLOSE_SLOW_CONSUMER``
(1008) and the producer carries on. Closes requested by the protocol (auth deadline, expiry) are
queued behind the messages that precede them, so the client reads the error/``authExpired``
first; fault-injection drops, idle drops and overflows close at once.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
from datetime import date, datetime
from typing import Any, Protocol

import attrs
import structlog
import trio

from engine.sim import _messages as msg
from engine.sim._config import SimUser
from engine.sim._core import SimCore
from engine.sim._market import MarketModel, MarketTick, Quote, SymbolSummary, Trade
from engine.sim._options import greeks as option_greeks
from engine.sim._options import underlying_of
from engine.sim._profile import (
    ACCESS_DENIED,
    ACCOUNTS_WS_PATH,
    ALL_FIELDS,
    AUTH_REQUEST_METHOD,
    AUTH_REQUEST_PATH,
    AUTH_REQUIRED,
    CHARTS_WS_PATH,
    CLOSE_AUTH_TIMEOUT,
    CLOSE_IDLE,
    CLOSE_SEND_TIMEOUT,
    CLOSE_SESSION_EXPIRED,
    CLOSE_SLOW_CONSUMER,
    ERROR_TEXTS,
    INVALID_INTERVAL,
    INVALID_MESSAGE,
    INVALID_TOKEN,
    MARKET_WS_PATH,
    MISSING_ACCOUNT_ID,
    MISSING_START_TIME,
    NDJSON_BATCHING,
    OUTBOUND_BUFFER_MESSAGES,
    PNL_DEFAULT_INTERVAL,
    PNL_INTERVALS,
    TOKEN_REQUIRED,
    TOP_LEVEL_TIMESTAMP_ON_EVERY_MESSAGE,
    TOPIC_ACCOUNT,
    TOPIC_ALIASES,
    TOPIC_NEWS,
    TOPIC_PNL,
    TOPIC_WATCHLIST,
    TOPICS,
    UNKNOWN_SYMBOL,
    UNKNOWN_TOPIC,
    UNSUPPORTED_REQUEST,
)
from engine.sim._stream_profile import (
    LEVEL2_FLAG,
    PNL_ECHO_DEFAULT_INTERVAL,
    SYMBOL_TYPE_OPTION,
)
from engine.sim._streams import Candle, NewsItem, WatchlistChange, level2_rows

log = structlog.get_logger(__name__)

JSON = dict[str, Any]


class TransportClosedError(Exception):
    """Raised by a ``Transport`` when the peer has gone and the socket cannot be used."""


class Transport(Protocol):
    """The four socket operations a session needs (implemented over Starlette in ``_app``)."""

    async def accept(self) -> None:
        """Complete the WebSocket handshake."""
        ...

    async def receive(self) -> str | None:
        """The next text frame, or ``None`` once the client has closed."""
        ...

    async def send(self, text: str) -> None:
        """Send one text frame."""
        ...

    async def close(self, code: int) -> None:
        """Send a close frame with ``code``."""
        ...


@attrs.frozen
class _CloseRequest:
    code: int


def _request_id(message: JSON) -> str | None:
    value = message.get("id")
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


class Session:
    """The rules every socket shares: auth, session clock, ping/pong, idle drop, outbound buffer.

    Subclasses handle ``subscribe``/``unsubscribe`` and react to market ticks.
    """

    def __init__(self, core: SimCore, transport: Transport, path: str) -> None:
        self.path = path
        self.number = core.next_session_number()
        self._core = core
        self._config = core.config
        self._transport = transport
        self._log = log.bind(path=path, session=self.number)
        self._outbox_send, self._outbox_recv = trio.open_memory_channel[str | _CloseRequest](
            OUTBOUND_BUFFER_MESSAGES
        )
        self._batching = NDJSON_BATCHING[path]
        self._batch_rng = random.Random(f"{self._config.seed}:{path}:{self.number}")
        self._stamp_every_message = TOP_LEVEL_TIMESTAMP_ON_EVERY_MESSAGE[path]
        self._scope: trio.CancelScope | None = None
        self._closing = False
        self._close_code: int | None = None
        self._pending_close: int | None = None  # queued behind outbound messages
        self._peer_gone = False
        self._finished = trio.Event()
        self._first_auth = trio.Event()
        self._auth_changed = trio.Event()
        self._authenticated = False
        self._expires_at = math.inf  # trio clock
        self._expires_at_ms = 0  # wall clock, epoch ms
        self._warned = False
        self._silent = core.hub.faults.is_silent(path)
        self._nursery: trio.Nursery | None = None
        self.user: SimUser | None = None
        self._traffic = self._log.info if self._config.log_traffic else self._log.debug

    # -- used by the hub ---------------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        """Authenticated, session not expired, socket not closing."""
        return self._authenticated and not self._closing

    def wants_account(self, account_id: str) -> bool:
        """Whether events of ``account_id`` go to this socket (accounts sockets override)."""
        return False

    def on_market_tick(self, tick: MarketTick) -> None:
        """React to a market tick (market and charts sockets override)."""

    def on_watchlist(self, change: WatchlistChange) -> None:
        """A watchlist changed (the accounts socket overrides)."""

    def on_news(self, item: NewsItem) -> None:
        """A news story was published (the accounts socket overrides)."""

    def on_market_status(self, values: dict[str, object]) -> None:
        """The market status changed (the market socket overrides)."""

    def on_streams_tick(self) -> None:
        """P&L samples were taken (the accounts socket overrides)."""

    def silence(self) -> None:
        """Fault injection: from now on send nothing (no pongs, no data); keep reading."""
        self._silent = True

    def expire_now(self) -> None:
        """Fault injection: end an authenticated session now (``authExpired`` then close)."""
        if not self._authenticated or self._closing:
            return
        self._expires_at = trio.current_time()
        self._warned = True
        changed, self._auth_changed = self._auth_changed, trio.Event()
        changed.set()

    def send_raw(self, text: str) -> None:
        """Fault injection: queue a raw text frame (malformed JSON, unknown types ...)."""
        if self._closing:
            return
        with contextlib.suppress(trio.WouldBlock):
            self._outbox_send.send_nowait(text)

    def send_text(self, text: str) -> None:
        """Queue one serialized message; never blocks. Overflow closes the socket (1008)."""
        if self._closing or self._silent:
            return
        try:
            self._outbox_send.send_nowait(text)
        except trio.WouldBlock:
            self._log.warning("sim.session.slow_consumer", buffered=OUTBOUND_BUFFER_MESSAGES)
            self.abort(CLOSE_SLOW_CONSUMER)

    def abort(self, code: int) -> None:
        """Close the socket now with ``code``; anything still queued is dropped."""
        if self._close_code is None:
            self._close_code = code
        self._closing = True
        if self._scope is not None:
            self._scope.cancel()

    async def wait_finished(self) -> None:
        """Return once the session has ended."""
        await self._finished.wait()

    # -- lifecycle ---------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the socket from handshake to close."""
        try:
            await self._transport.accept()
        except TransportClosedError:
            self._log.info("sim.session.handshake_failed")
            self._finished.set()
            return
        hub = self._core.hub
        self._traffic("sim.session.opened")
        try:
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                self._nursery = nursery
                hub.register(self)
                nursery.start_soon(self._write_loop)
                nursery.start_soon(self._run_session_clock)
                await self._read_loop()
                nursery.cancel_scope.cancel()
            code = self._close_code
            if code is not None and not self._peer_gone:
                with trio.move_on_after(CLOSE_SEND_TIMEOUT):
                    with contextlib.suppress(TransportClosedError):
                        await self._transport.close(code)
        finally:
            hub.unregister(self)
            self._finished.set()
            self._traffic("sim.session.closed", code=self._close_code, peer_closed=self._peer_gone)

    async def _read_loop(self) -> None:
        while True:
            with trio.move_on_after(self._config.idle_timeout) as idle:
                try:
                    text = await self._transport.receive()
                except TransportClosedError:
                    text = None
            if idle.cancelled_caught:
                if self._pending_close is not None:  # the flush is stuck: close now
                    self.abort(self._pending_close)
                elif not self._closing:
                    self._log.info(
                        "sim.session.idle_timeout", idle_timeout=self._config.idle_timeout
                    )
                    self.abort(CLOSE_IDLE)
                return
            if text is None:
                self._peer_gone = True
                return
            delay = self._core.hub.faults.reader_delay(self.path)
            if delay > 0:
                await trio.sleep(delay)
            if not self._closing:
                self._handle_frame(text)

    async def _write_loop(self) -> None:
        while True:
            item = await self._outbox_recv.receive()
            frame: list[str] = []
            close: _CloseRequest | None = None
            if isinstance(item, _CloseRequest):
                close = item
            else:
                frame.append(item)
                limit = self._batch_rng.randint(1, self._config.max_batch) if self._batching else 1
                while len(frame) < limit:
                    try:
                        extra = self._outbox_recv.receive_nowait()
                    except trio.WouldBlock:
                        break
                    if isinstance(extra, _CloseRequest):
                        close = extra
                        break
                    frame.append(extra)
            if frame:
                delay = self._core.hub.faults.writer_delay(self.path)
                if delay > 0:
                    await trio.sleep(delay)
                try:
                    await self._transport.send("\n".join(frame))
                except TransportClosedError:
                    self._peer_gone = True
                    self._closing = True
                    if self._scope is not None:
                        self._scope.cancel()
                    return
            if close is not None:
                self.abort(close.code)
                return

    async def _run_session_clock(self) -> None:
        with trio.move_on_after(self._config.auth_timeout):
            await self._first_auth.wait()
        if not self._first_auth.is_set():
            self._log.info("sim.auth.timeout", auth_timeout=self._config.auth_timeout)
            self._error(AUTH_REQUIRED, None, "authenticate within the auth window")
            self._close_after_flush(CLOSE_AUTH_TIMEOUT)
            return
        lead = self._config.refresh_warning_lead
        while True:
            changed = self._auth_changed
            if not self._warned and lead > 0:
                with trio.move_on_at(self._expires_at - lead):
                    await changed.wait()
                if changed.is_set():
                    continue
                self._warned = True
                remaining = max(0.0, self._expires_at - trio.current_time())
                self._log.info("sim.session.refresh_warning", expires_in=remaining)
                self.send_message(
                    msg.refresh_auth(self._now(), round(remaining * 1000), self._expires_at_ms)
                )
            with trio.move_on_at(self._expires_at):
                await changed.wait()
            if changed.is_set():
                continue
            self._log.info("sim.session.expired")
            self.send_message(msg.auth_expired(self._now()))
            self._authenticated = False
            self._close_after_flush(CLOSE_SESSION_EXPIRED)
            return

    def _close_after_flush(self, code: int) -> None:
        """Close with ``code`` once everything queued so far has been sent."""
        if self._closing:
            return
        self._closing = True
        self._pending_close = code
        try:
            self._outbox_send.send_nowait(_CloseRequest(code))
        except trio.WouldBlock:
            self.abort(code)

    # -- inbound -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._core.now()

    def send_message(self, message: JSON) -> None:
        """Serialize and queue one message (top-level timestamp added where the profile says)."""
        if self._stamp_every_message and "timestamp" not in message:
            message["timestamp"] = msg.rfc3339(self._now())
        self.send_text(json.dumps(message))

    def _error(self, code: str, request_id: str | None, detail: str | None = None) -> None:
        text = ERROR_TEXTS[code] if detail is None else f"{ERROR_TEXTS[code]}: {detail}"
        self.send_message(msg.error(code, text, request_id, self._now()))

    def _handle_frame(self, text: str) -> None:
        for line in text.split("\n"):
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                self._error(INVALID_MESSAGE, None, "not valid JSON")
                continue
            if not isinstance(message, dict):
                self._error(INVALID_MESSAGE, None, "a message must be a JSON object")
                continue
            self._dispatch(message)
            if self._closing:
                return

    def _dispatch(self, message: JSON) -> None:
        request_id = _request_id(message)
        kind = message.get("type")
        if kind == "ping":
            self.send_message(msg.pong(request_id, self._now()))
        elif kind == "request":
            self._on_request(message, request_id)
        elif kind in ("subscribe", "unsubscribe"):
            if not self.authenticated:
                self._error(AUTH_REQUIRED, request_id, "authenticate before subscribing")
            elif kind == "subscribe":
                self._on_subscribe(message, request_id)
            else:
                self._on_unsubscribe(message, request_id)
        else:
            self._error(INVALID_MESSAGE, request_id, f"unknown message type {kind!r}")

    def _on_request(self, message: JSON, request_id: str | None) -> None:
        payload = message.get("payload")
        if not isinstance(payload, dict):
            self._error(INVALID_MESSAGE, request_id, "a request needs a payload object")
            return
        if payload.get("path") != AUTH_REQUEST_PATH:
            if not self.authenticated:
                self._error(AUTH_REQUIRED, request_id)
            else:
                self._error(UNSUPPORTED_REQUEST, request_id, f"path {payload.get('path')!r}")
            return
        method = payload.get("method")
        if method is not None and (
            not isinstance(method, str) or method.lower() != AUTH_REQUEST_METHOD
        ):
            self._error(INVALID_MESSAGE, request_id, "/auth takes method post")
            return
        body = payload.get("body")
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            self._log.info("sim.auth.rejected", code=TOKEN_REQUIRED)
            self._error(TOKEN_REQUIRED, request_id)
            return
        users = self._core.users
        user = users.user_for_token(token, trio.current_time())
        if user is None or self._core.hub.faults.take_auth_rejection(self.path):
            self._log.info("sim.auth.rejected", code=INVALID_TOKEN)
            self._error(INVALID_TOKEN, request_id)
            return
        if self.user is not None and user.user_id != self.user.user_id:
            # INFERRED: re-auth in place keeps the subscriptions, so it must stay the same user.
            self._log.info("sim.auth.rejected", code=INVALID_TOKEN, reason="different user")
            self._error(INVALID_TOKEN, request_id, "re-authenticate as the same user")
            return
        self.user = user
        self._authenticate(request_id, users.token_expires_at(token))

    def _authenticate(self, request_id: str | None, token_expires_at: float | None) -> None:
        """Open (or renew) the session: ``session_length``, cut short by an issued token's own
        expiry (a session never outlives its token)."""
        first = not self._first_auth.is_set()
        now = self._now()
        clock = trio.current_time()
        length = self._config.session_length
        if token_expires_at is not None:
            length = max(0.0, min(length, token_expires_at - clock))
        session_ms = round(length * 1000)
        self._expires_at = clock + length
        self._expires_at_ms = msg.epoch_ms(now) + session_ms
        self._warned = False
        self._authenticated = True
        self.send_message(msg.auth_success(request_id, now, session_ms))
        self._core.hub.note_auth(self.path)
        self._traffic(
            "sim.auth.succeeded",
            user=self.user.user_id if self.user is not None else None,
            reauth=not first,
            expires_in=length,
        )
        changed, self._auth_changed = self._auth_changed, trio.Event()
        changed.set()
        if first:
            self._first_auth.set()
            self._after_first_auth()

    def _after_first_auth(self) -> None:
        """Hook: what the server pushes unprompted after the first ``authSuccess``."""

    def _on_subscribe(self, message: JSON, request_id: str | None) -> None:
        raise NotImplementedError

    def _on_unsubscribe(self, message: JSON, request_id: str | None) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# Accounts socket
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _TopicRequest:
    request_id: str | None
    raw_topic: str
    topic: str
    params: JSON
    account_id: str | None


@attrs.define(eq=False)
class _PnlSubscription:
    interval: str
    last_sent: Candle | None = None


@attrs.frozen(kw_only=True)
class _NewsFilter:
    symbols: tuple[str, ...] | None
    topics: tuple[str, ...] | None


class AccountsSession(Session):
    """``/v1/accounts/ws``: topics ``account`` (snapshot + live events), ``pnl`` (history +
    live candles), ``watchlist`` (the user's changes) and ``news`` (filtered stories)."""

    def __init__(self, core: SimCore, transport: Transport) -> None:
        super().__init__(core, transport, ACCOUNTS_WS_PATH)
        self._accounts: set[str] = set()
        self._topics: dict[tuple[str, str | None], JSON] = {}
        self._pnl: dict[str, _PnlSubscription] = {}
        self._watchlist = False
        self._news: _NewsFilter | None = None

    def wants_account(self, account_id: str) -> bool:
        """Events of an account go only to sockets subscribed to that account."""
        return account_id in self._accounts and self.authenticated

    def _topic_request(self, message: JSON, request_id: str | None) -> _TopicRequest | None:
        params = message.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            self._error(INVALID_MESSAGE, request_id, "params must be an object")
            return None
        raw_topic = message.get("topic")
        topic = TOPIC_ALIASES.get(raw_topic, raw_topic) if isinstance(raw_topic, str) else None
        if raw_topic is None or topic not in TOPICS:
            self._error(UNKNOWN_TOPIC, request_id, f"{raw_topic!r}")
            return None
        assert isinstance(raw_topic, str)
        assert isinstance(topic, str)
        account_id: str | None = None
        if topic in (TOPIC_ACCOUNT, TOPIC_PNL):
            value = params.get("accountId")
            if not isinstance(value, str) or not value:
                self._error(MISSING_ACCOUNT_ID, request_id)
                return None
            if not self._owns(value):
                self._error(ACCESS_DENIED, request_id)
                return None
            account_id = value
        return _TopicRequest(
            request_id=request_id,
            raw_topic=raw_topic,
            topic=topic,
            params=params,
            account_id=account_id,
        )

    def _owns(self, account_id: str) -> bool:
        """Whether the authenticated user owns ``account_id`` (else ``ACCESS_DENIED``)."""
        return self.user is not None and self._core.users.owns(self.user, account_id)

    def _on_subscribe(self, message: JSON, request_id: str | None) -> None:
        request = self._topic_request(message, request_id)
        if request is None:
            return
        params = dict(request.params)
        start: datetime | None = None
        if request.topic == TOPIC_PNL:
            raw_start = params.get("startTime")
            if not isinstance(raw_start, str) or not raw_start:
                self._error(MISSING_START_TIME, request_id)
                return
            start = _parse_rfc3339(raw_start)
            if start is None:
                self._error(MISSING_START_TIME, request_id, "startTime must be an RFC 3339 time")
                return
            interval = params.get("interval", PNL_DEFAULT_INTERVAL)
            if not isinstance(interval, str) or interval not in PNL_INTERVALS:
                self._error(INVALID_INTERVAL, request_id)
                return
            if PNL_ECHO_DEFAULT_INTERVAL:
                params["interval"] = interval
        news_filter: _NewsFilter | None = None
        if request.topic == TOPIC_NEWS:
            lists: dict[str, tuple[str, ...] | None] = {}
            for key in ("symbols", "topics"):
                value = params.get(key)
                if value is not None and not (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)
                ):
                    self._error(INVALID_MESSAGE, request_id, f"{key} must be an array of strings")
                    return
                lists[key] = None if value is None else tuple(value)
            news_filter = _NewsFilter(symbols=lists["symbols"], topics=lists["topics"])
        self._topics[(request.topic, request.account_id)] = params
        self._core.hub.note_subscribe(self.path)
        self._log.debug("sim.subscribed", topic=request.topic, account_id=request.account_id)
        if request.topic == TOPIC_ACCOUNT:
            assert request.account_id is not None
            self._accounts.add(request.account_id)
            self._send_snapshot(request, params)
            return
        self.send_message(msg.subscribed(request_id, request.raw_topic, params, self._now()))
        if request.topic == TOPIC_PNL:
            assert request.account_id is not None
            assert start is not None
            self._start_pnl(request.account_id, str(params.get("interval", "1m")), start)
        elif request.topic == TOPIC_WATCHLIST:
            self._watchlist = True
        elif request.topic == TOPIC_NEWS:
            self._news = news_filter

    def _send_snapshot(self, request: _TopicRequest, params: JSON) -> None:
        account_id = request.account_id
        assert account_id is not None
        delay = self._core.hub.faults.snapshot_delay()
        if delay is None:
            self._log.info("sim.fault.snapshot_omitted", account_id=account_id)
            return

        def send() -> None:
            payload = msg.account_snapshot(self._core.ledger.snapshot(account_id))
            reply = msg.subscribed(
                request.request_id, request.raw_topic, params, self._now(), payload
            )
            self.send_message(reply)

        if delay == 0 or self._nursery is None:
            send()
            return

        async def later() -> None:
            await trio.sleep(delay)
            send()

        self._nursery.start_soon(later)

    def _start_pnl(self, account_id: str, interval: str, start: datetime) -> None:
        streams = self._core.hub.streams
        sub = _PnlSubscription(interval=interval)
        self._pnl[account_id] = sub
        candles = streams.pnl.candles(account_id, interval, start) if streams is not None else []
        self.send_message(msg.pnl_snapshot(account_id, interval, candles, self._now()))
        sub.last_sent = candles[-1] if candles else None

    def on_streams_tick(self) -> None:
        """Send each P&L subscription's open candle when it changed (same ``t`` while open)."""
        streams = self._core.hub.streams
        if not self._pnl or streams is None or not self.authenticated:
            return
        now = self._now()
        for account_id, sub in self._pnl.items():
            candle = streams.pnl.current(account_id, sub.interval)
            if candle is None or candle == sub.last_sent:
                continue
            sub.last_sent = candle
            self.send_message(msg.pnl_candle(account_id, sub.interval, candle, now))

    def on_watchlist(self, change: WatchlistChange) -> None:
        """Forward the user's watchlist changes when subscribed to ``watchlist``."""
        user = self.user
        if (
            self._watchlist
            and self.authenticated
            and user is not None
            and change.user == user.user_id
        ):
            self.send_message(msg.watchlist_event(change, self._now()))

    def on_news(self, item: NewsItem) -> None:
        """Forward a story that passes this socket's ``news`` filter."""
        news = self._news
        if news is not None and self.authenticated and item.matches(news.symbols, news.topics):
            self.send_message(msg.news_event(item, self._now()))

    def _on_unsubscribe(self, message: JSON, request_id: str | None) -> None:
        request = self._topic_request(message, request_id)
        if request is None:
            return
        self._topics.pop((request.topic, request.account_id), None)
        if request.topic == TOPIC_ACCOUNT and request.account_id is not None:
            self._accounts.discard(request.account_id)
        elif request.topic == TOPIC_PNL and request.account_id is not None:
            self._pnl.pop(request.account_id, None)
        elif request.topic == TOPIC_WATCHLIST:
            self._watchlist = False
        elif request.topic == TOPIC_NEWS:
            self._news = None
        self.send_message(
            msg.unsubscribed(request_id, request.raw_topic, request.params, self._now())
        )
        self._log.debug("sim.unsubscribed", topic=request.topic, account_id=request.account_id)


def _parse_rfc3339(value: str) -> datetime | None:
    """An aware datetime for an RFC 3339 string (``Z`` or offset required), else ``None``."""
    if "T" not in value.upper():
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _is_rfc3339(value: str) -> bool:
    return _parse_rfc3339(value) is not None


# ---------------------------------------------------------------------------------------------
# Market socket
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _SymbolSubscription:
    quote_fields: frozenset[str] | None
    trade_fields: frozenset[str] | None
    time_and_sales_fields: frozenset[str] | None = None
    greeks_fields: frozenset[str] | None = None
    level2: bool = False
    option: bool = False


class _BadRequestError(Exception):
    pass


def _field_list(item: JSON, key: str) -> frozenset[str] | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise _BadRequestError(f"{key} must be a string or an array of strings")


def _symbol_subscription(item: object) -> tuple[str, _SymbolSubscription]:
    if not isinstance(item, dict) or not isinstance(item.get("symbol"), str) or not item["symbol"]:
        raise _BadRequestError("each payload item needs a symbol")
    fields = _field_list(item, "fields")
    quote = _field_list(item, "quoteFields")
    trade = _field_list(item, "tradeFields")
    if quote is None and trade is None:
        quote = trade = fields if fields is not None else frozenset({ALL_FIELDS})
    symbol_type = item.get("symbolType", "equity")
    if not isinstance(symbol_type, str):
        raise _BadRequestError("symbolType must be a string")
    level2 = item.get(LEVEL2_FLAG, False)
    if not isinstance(level2, bool):
        raise _BadRequestError(f"{LEVEL2_FLAG} must be a boolean")
    option = symbol_type.lower() == SYMBOL_TYPE_OPTION
    greeks = _field_list(item, "greeksFields")
    if greeks is not None and not option:
        raise _BadRequestError("greeksFields apply to option symbols (symbolType option) only")
    return item["symbol"], _SymbolSubscription(
        quote_fields=quote,
        trade_fields=trade,
        time_and_sales_fields=_field_list(item, "timeAndSalesFields"),
        greeks_fields=greeks,
        level2=level2,
        option=option,
    )


def _symbols_of(payload: object) -> list[str]:
    """Symbols of an unsubscribe payload: items ``{symbol}`` or bare strings."""
    if not isinstance(payload, list) or not payload:
        raise _BadRequestError("payload must be a non-empty array")
    symbols: list[str] = []
    for item in payload:
        if isinstance(item, str) and item:
            symbols.append(item)
        elif isinstance(item, dict) and isinstance(item.get("symbol"), str):
            symbols.append(item["symbol"])
        else:
            raise _BadRequestError("each payload item needs a symbol")
    return symbols


def _option_touch(market: MarketModel, symbol: str, as_of: date) -> Quote:
    """A listed option's ``MarketModel.option_quote`` as a top-of-book ``Quote``."""
    option = market.option_quote(symbol, as_of)
    return Quote(
        symbol=symbol,
        bid=option.bid,
        ask=option.ask,
        bid_size=option.bid_size,
        ask_size=option.ask_size,
    )


class MarketSession(Session):
    """``/v1/market/ws``: ``marketStatus`` after auth and on change; quotes, trades, time &
    sales and level 2 for subscribed equities; quotes and greeks for subscribed options."""

    def __init__(self, core: SimCore, transport: Transport) -> None:
        super().__init__(core, transport, MARKET_WS_PATH)
        self._subs: dict[str, _SymbolSubscription] = {}

    def _after_first_auth(self) -> None:
        streams = self._core.hub.streams
        values = streams.status.data if streams is not None else None
        self.send_message(msg.market_status(self._now(), values))

    def on_market_status(self, values: dict[str, object]) -> None:
        """Push a ``marketStatus`` change."""
        if self.authenticated:
            self.send_message(msg.market_status(self._now(), values))

    def _known(self, symbol: str, sub: _SymbolSubscription) -> bool:
        if sub.option:
            return self._core.market.option_contract(symbol, self._core.ledger.as_of) is not None
        return self._core.market.has(symbol)

    def _on_subscribe(self, message: JSON, request_id: str | None) -> None:
        payload = message.get("payload")
        try:
            if not isinstance(payload, list) or not payload:
                raise _BadRequestError("payload must be a non-empty array of symbol requests")
            requested = dict(_symbol_subscription(item) for item in payload)
        except _BadRequestError as exc:
            self._error(INVALID_MESSAGE, request_id, str(exc))
            return
        unknown = [s for s, sub in requested.items() if not self._known(s, sub)]
        if unknown:
            self._error(UNKNOWN_SYMBOL, request_id, ", ".join(unknown))
        accepted = {s: sub for s, sub in requested.items() if s not in unknown}
        if not accepted:
            return
        self._subs.update(accepted)
        self.send_message(msg.market_subscribed(request_id, accepted))
        now = self._now()
        market = self._core.market
        for symbol, sub in accepted.items():
            if sub.option:
                self._send_option(symbol, sub, now)
                continue
            if sub.quote_fields is not None:
                self._send_optional(msg.quote_event(market.quote(symbol), now, sub.quote_fields))
            last = market.last_trade(symbol)
            if sub.trade_fields is not None and last is not None:
                self._send_optional(msg.trade_event(last, now, sub.trade_fields))
        self._core.hub.note_subscribe(self.path)
        self._log.debug("sim.subscribed", symbols=list(accepted))

    def _on_unsubscribe(self, message: JSON, request_id: str | None) -> None:
        try:
            symbols = _symbols_of(message.get("payload"))
        except _BadRequestError as exc:
            self._error(INVALID_MESSAGE, request_id, str(exc))
            return
        removed = [s for s in dict.fromkeys(symbols) if self._subs.pop(s, None) is not None]
        self.send_message(msg.market_unsubscribed(request_id, removed))
        self._log.debug("sim.unsubscribed", symbols=removed)

    def on_market_tick(self, tick: MarketTick) -> None:
        """Queue this tick's quotes, level 2, trades, time & sales and option updates."""
        if not self._subs or not self.authenticated:
            return
        now = self._now()
        for quote in tick.quotes:
            sub = self._subs.get(quote.symbol)
            if sub is None or sub.option:
                continue
            if sub.quote_fields is not None:
                self._send_optional(msg.quote_event(quote, now, sub.quote_fields))
            if sub.level2:
                book, makers = level2_rows(self._core.market.book(quote.symbol))
                self.send_message(msg.level2_event(quote.symbol, book, makers, now))
        for trade in tick.trades:
            sub = self._subs.get(trade.symbol)
            if sub is None or sub.option:
                continue
            if sub.trade_fields is not None:
                self._send_optional(msg.trade_event(trade, now, sub.trade_fields))
            if sub.time_and_sales_fields is not None:
                self._send_optional(msg.time_and_sales_event(trade, now, sub.time_and_sales_fields))
        for symbol, sub in self._subs.items():
            if sub.option:
                self._send_option(symbol, sub, now)

    def _send_option(self, symbol: str, sub: _SymbolSubscription, now: datetime) -> None:
        market, as_of = self._core.market, self._core.ledger.as_of
        if sub.quote_fields is not None:
            self._send_optional(
                msg.quote_event(_option_touch(market, symbol, as_of), now, sub.quote_fields)
            )
        if sub.greeks_fields is not None:
            contract = market.option_contract(symbol, as_of)
            assert contract is not None  # subscribed only when listed
            greeks = option_greeks(contract, market.mark(contract.underlying), as_of)
            self._send_optional(msg.greeks_event(symbol, greeks, now, sub.greeks_fields))

    def _send_optional(self, message: JSON | None) -> None:
        if message is not None:
            self.send_message(message)


# ---------------------------------------------------------------------------------------------
# Charts socket
# ---------------------------------------------------------------------------------------------


class ChartsSession(Session):
    """``/v1/charts/ws``: TradingView-style quote/trade events per subscribed symbol (§6)."""

    def __init__(self, core: SimCore, transport: Transport) -> None:
        super().__init__(core, transport, CHARTS_WS_PATH)
        self._symbols: dict[str, None] = {}

    def _requested_symbols(self, message: JSON, request_id: str | None) -> list[str] | None:
        payload = message.get("payload")
        items = payload if isinstance(payload, list) else [payload]
        symbols: list[str] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
                self._error(INVALID_MESSAGE, request_id, "payload needs a symbol")
                return None
            symbols.append(item["symbol"])
        return symbols

    def _on_subscribe(self, message: JSON, request_id: str | None) -> None:
        symbols = self._requested_symbols(message, request_id)
        if symbols is None:
            return
        for symbol in symbols:
            if not self._known(symbol):
                self._error(UNKNOWN_SYMBOL, request_id, symbol)
                continue
            self._symbols[symbol] = None
            now = self._now()
            self.send_message(msg.chart_subscribed(request_id, symbol, now))
            quote, summary = self._view(symbol)
            self.send_message(msg.chart_event(quote, summary, None, now))
            self._core.hub.note_subscribe(self.path)

    def _known(self, symbol: str) -> bool:
        """An equity of the market or a listed option (OSI symbol)."""
        market = self._core.market
        return market.has(symbol) or (
            market.option_contract(symbol, self._core.ledger.as_of) is not None
        )

    def _view(self, symbol: str) -> tuple[Quote, SymbolSummary]:
        market = self._core.market
        if market.has(symbol):
            return market.quote(symbol), market.summary(symbol)
        as_of = self._core.ledger.as_of
        return _option_touch(market, symbol, as_of), market.option_summary(symbol, as_of)

    def _on_unsubscribe(self, message: JSON, request_id: str | None) -> None:
        symbols = self._requested_symbols(message, request_id)
        if symbols is None:
            return
        for symbol in symbols:
            self._symbols.pop(symbol, None)
            self.send_message(msg.chart_unsubscribed(request_id, symbol, self._now()))

    def on_market_tick(self, tick: MarketTick) -> None:
        """Queue one event per subscribed symbol with its new quote (and trade, if any)."""
        if not self._symbols or not self.authenticated:
            return
        now = self._now()
        trades: dict[str, Trade] = {t.symbol: t for t in tick.trades}
        moved = {q.symbol for q in tick.quotes}
        for symbol in self._symbols:
            underlying = symbol if symbol in moved else underlying_of(symbol)
            if underlying not in moved:
                continue
            quote, summary = self._view(symbol)
            self.send_message(msg.chart_event(quote, summary, trades.get(symbol), now))
