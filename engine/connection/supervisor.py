"""``ConnectionSupervisor``: keeps one Aries WebSocket connected, authenticated and subscribed.

The loop, per connection: take a token *before* dialling (the venue allows 5 s to authenticate),
connect, send ``/auth``, wait for ``authSuccess``, replay the handler's subscriptions, then pump
frames while a pinger sends ``ping`` every ``ping_interval``. No frame for ``2 × ping_interval``
means the socket is dead even if TCP says otherwise. Any recoverable failure closes the socket
(the ``async with`` closes it before we dial again), publishes ``DISCONNECTED`` and retries after
the backoff delay (1 s doubling to 60 s plus jitter; reset once a connection has delivered frames
for 60 s after subscribing — a socket that died of silence does not count as healthy).

A refused subscription is never retried; the handler says what it costs (an account's
``ACCESS_DENIED`` halts that account, the socket goes on for the others). An ``INVALID_TOKEN``
makes the supervisor refresh the token (when its provider can) and retry; after
``max_auth_failures`` refusals in a row it gives up: before start-up the error ends the engine,
afterwards the socket goes ``FAILED``, one critical line says which credential and what to do,
and the rest of the engine runs on, degraded. A data message that decodes but
cannot be normalized is logged (``protocol.normalize_error``) and counted; the feed goes on.

A ``refreshAuth`` warning re-authenticates in place with a freshly refreshed token
(subscriptions stay); ``authExpired`` reconnects.

Frames are read by their own task, which never waits for consumers (so pongs and the idle
timeout keep working when the engine is busy): it hands them to a bounded buffer. If the buffer
fills, market-data sockets drop the frame and count it; the accounts socket reconnects, because
the next snapshot is the only way to recover events it would otherwise lose.

While nothing is queued, the reader itself decodes and normalizes a frame of data messages and
publishes its events in one go when the bus can take them without waiting (always, for
conflated market data): the common path has no task switch between socket and bus. Control
messages, a bus that would apply back-pressure (never-drop events, see ``engine.bus``) and
everything behind them go through the buffer to a second task, which keeps arrival order.
"""

from __future__ import annotations

import itertools
import random
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import attrs
import structlog
import trio
import trio_websocket

from engine.aries import encode
from engine.aries.decode import FrameDecoder
from engine.aries.protocol import EXCERPT_CHARS
from engine.aries.wire import (
    AuthExpired,
    AuthFailed,
    AuthSuccess,
    ErrorMessage,
    Pong,
    RefreshAuth,
    Subscribed,
    UnknownMessage,
    Unsubscribed,
)
from engine.bus import EventBus
from engine.connection.handlers import EndpointHandler
from engine.connection.session import SessionFailedError
from engine.connection.tokens import TokenProvider
from engine.errors import (
    AriesError,
    AuthError,
    CertificateError,
    ConnectionLostError,
    ProtocolError,
)
from engine.model._time import now_ns
from engine.model.enums import ConnectionState
from engine.model.events import ConnectionStateChanged, Event
from engine.runtime.backoff import Backoff
from engine.runtime.tls import client_ssl_context
from engine.runtime.urls import url_problem

log = structlog.get_logger(__name__)

_E = TypeVar("_E", bound=BaseException)

RECOVERABLE: tuple[type[BaseException], ...] = (
    trio_websocket.ConnectionClosed,
    trio.BrokenResourceError,
    trio_websocket.HandshakeError,
    OSError,
    ConnectionLostError,
    AuthError,
    trio.TooSlowError,
)
# Error codes on an established session that mean "authenticate again", not "log and go on".
AUTH_ERROR_CODES = frozenset({"AUTH_REQUIRED", "INVALID_TOKEN", "TOKEN_REQUIRED"})

WebSocketFactory = Callable[[str], AbstractAsyncContextManager[Any]]
# What the reader hands to ``_process``: the receive time (epoch ns) and exactly one of the frame
# as it came, its decoded messages, or its events (when the reader got that far).
_Work = tuple[int, str | bytes | None, list[Any] | None, list[Event] | None]
#: Messages whose handling may wait (state changes, re-authentication, sends).
_CONTROL = (Subscribed, AuthSuccess, RefreshAuth, AuthExpired, AuthFailed, ErrorMessage)
#: Messages that produce nothing.
_IGNORED = (Pong, UnknownMessage, Unsubscribed)


CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0


@asynccontextmanager
async def open_venue_websocket(
    url: str, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """Open a venue socket; ``wss://`` always verifies the certificate and the host name.

    The TLS handshake is done first and on its own, so a bad certificate fails at once with
    ``CertificateError`` (trio-websocket would only time out, losing the reason).
    ``ssl_context`` adds trust (a private CA, ``engine.runtime.tls``) but cannot turn
    verification off; ``ws://`` is reachable only for loopback hosts: any other ``url`` that
    config validation would refuse raises ``ValueError`` here too, before anything is dialled.
    """
    problem = url_problem(url, "ws")
    if problem is not None:
        raise ValueError(f"refusing the venue WebSocket URL: {problem}")
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]
    with trio.fail_after(CONNECT_TIMEOUT):
        if secure:
            context = ssl_context if ssl_context is not None else client_ssl_context()
            stream = await trio.open_ssl_over_tcp_stream(
                host, port, ssl_context=context, https_compatible=True
            )
            try:
                await stream.do_handshake()
            except trio.BrokenResourceError as exc:
                await trio.aclose_forcefully(stream)
                if isinstance(exc.__cause__, ssl.SSLCertVerificationError):
                    raise CertificateError(str(exc.__cause__)) from exc
                raise
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
        else:
            stream = await trio.open_tcp_stream(host, port)
    async with trio.open_nursery() as nursery:
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                ws = await trio_websocket.wrap_client_stream(nursery, stream, host, resource)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        try:
            yield ws
        finally:
            # Not shielded, as in trio-websocket: when we are being cancelled the reader task is
            # cancelled too, so the peer's close reply could never be read; close at once.
            with trio.move_on_after(CLOSE_TIMEOUT):
                await ws.aclose()
            nursery.cancel_scope.cancel()


@attrs.frozen(kw_only=True)
class ConnectionStatistics:
    """Counters of one supervisor."""

    endpoint: str
    state: ConnectionState
    seconds_in_state: float
    connects: int
    reconnects: int
    frames: int
    frames_out: int
    frames_dropped: int
    normalize_errors: int
    decode_errors: int
    last_error: str


@attrs.define(eq=False)
class ConnectionSupervisor:
    """Owns one endpoint's socket; publishes its state changes and its data as bus events.

    ``started()`` is called once, the first time every subscription is confirmed (acked, or data
    arrived); until then the supervisor keeps retrying, so the caller bounds the wait.
    """

    handler: EndpointHandler
    ws_base: str
    tokens: TokenProvider
    bus: EventBus
    ping_interval: float = 30.0
    auth_timeout: float = 5.0
    subscribe_timeout: float = 10.0
    """Seconds to wait for every subscription's answer (ack, refusal or first data)."""
    backoff: Backoff = attrs.field(factory=Backoff)
    max_auth_failures: int = 3
    frame_buffer: int = 10_000
    credential: str = "the access token"
    record_frame: Callable[[str, str | bytes, int], None] | None = None
    rng: random.Random = attrs.field(factory=random.Random)
    open_websocket: WebSocketFactory = open_venue_websocket
    state: ConnectionState = attrs.field(default=ConnectionState.DISCONNECTED, init=False)
    _state_changed: trio.Event = attrs.field(factory=trio.Event, init=False)
    _state_since: float = attrs.field(default=0.0, init=False)
    _started: bool = attrs.field(default=False, init=False)
    _frames_out: int = attrs.field(default=0, init=False)
    _frames_dropped: int = attrs.field(default=0, init=False)
    _before_warning: ConnectionState = attrs.field(default=ConnectionState.SUBSCRIBED, init=False)
    _changes: list[tuple[set[str], set[str]]] = attrs.field(factory=list, init=False)
    _changes_ready: trio.Event = attrs.field(factory=trio.Event, init=False)
    decoder: FrameDecoder = attrs.field(init=False)
    _ids: itertools.count[int] = attrs.field(factory=itertools.count, init=False)
    _pending: set[str] = attrs.field(factory=set, init=False)
    _connects: int = attrs.field(default=0, init=False)
    _frames: int = attrs.field(default=0, init=False)
    _auth_failures: int = attrs.field(default=0, init=False)
    _last_error: str = attrs.field(default="", init=False)
    _on_ready: Callable[[], None] = attrs.field(default=lambda: None, init=False)
    _subscribed_at: float | None = attrs.field(default=None, init=False)
    _normalize_errors: int = attrs.field(default=0, init=False)
    _last_frame_at: float | None = attrs.field(default=None, init=False)
    _queued: int = attrs.field(default=0, init=False)
    _tasks: trio.Nursery | None = attrs.field(default=None, init=False, repr=False)
    """The current socket's nursery (its reader, pinger...), once it has one."""
    _reauthenticating: bool = attrs.field(default=False, init=False)
    _frame: str | bytes = attrs.field(default="", init=False, repr=False)
    """The frame being handled (for the excerpt of a normalize error)."""
    last_heard_ns: int | None = attrs.field(default=None, init=False)
    """Wall-clock time (ns) of the latest frame read after authentication, on any session."""

    def __attrs_post_init__(self) -> None:
        self.decoder = FrameDecoder(self.handler.endpoint)

    @property
    def url(self) -> str:
        """The endpoint's WebSocket URL."""
        return self.ws_base.rstrip("/") + self.handler.path

    @property
    def idle_timeout(self) -> float:
        """Seconds without any frame after which the socket is declared dead."""
        return 2 * self.ping_interval

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Connect, and reconnect for ever; see the module docstring."""
        structlog.contextvars.bind_contextvars(
            actor="connection", endpoint=str(self.handler.endpoint)
        )

        def ready() -> None:
            self._started = True
            task_status.started()
            self._on_ready = lambda: None

        self._on_ready = ready
        self._state_since = trio.current_time()
        attempt = 0
        while True:
            self._subscribed_at = self._last_frame_at = None
            reason = ""
            untrusted: CertificateError | None = None
            auth_error: AuthError | None = None
            try:
                token = await self.tokens.get_token()
                async with self.open_websocket(self.url) as ws:
                    self._connects += 1
                    await self._set_state(ConnectionState.CONNECTED)
                    await self._serve(ws, token)
            except* CertificateError as group:
                # Retrying cannot fix a certificate, and never silently skipping verification
                # means the operator must act: stop (or degrade) with the reason.
                reason = _describe(group)
                untrusted = _first_leaf(group, CertificateError)
            except* AuthError as group:
                self._auth_failures += 1
                reason = _describe(group)
                auth_error = _first_leaf(group, AuthError)
            except* RECOVERABLE as group:
                reason = _describe(group)
            if untrusted is not None:
                await self._give_up(
                    untrusted, reason, "check ws_base, or trust its CA with venue.ca_file"
                )
            if auth_error is not None:
                await self._after_auth_failure(auth_error, reason)
            if self._healthy_for() >= self.backoff.reset_after:
                attempt = 0
            self._last_error = reason
            await self._set_state(ConnectionState.DISCONNECTED, reason)
            delay = self.backoff.delay(attempt, self.rng)
            attempt += 1
            log.warning(
                "connection.retrying", reason=reason, delay=round(delay, 3), attempt=attempt
            )
            await trio.sleep(delay)

    def update_subscriptions(self, *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        """Add or remove subscriptions at run time (e.g. symbols a strategy asked for).

        The registry changes at once, so any later (re)connection replays it whole; a live
        socket gets the subscribe/unsubscribe messages for the difference right away.
        """
        added, removed = self.handler.change(add, remove)
        if added or removed:
            self._changes.append((added, removed))
            self._changes_ready.set()

    async def wait_state(self, *states: ConnectionState) -> ConnectionState:
        """Wait until the connection is in one of ``states``; return the state it is in."""
        while self.state not in states:
            await self._state_changed.wait()
        return self.state

    def statistics(self) -> ConnectionStatistics:
        """Connection counters."""
        return ConnectionStatistics(
            endpoint=str(self.handler.endpoint),
            state=self.state,
            seconds_in_state=trio.current_time() - self._state_since,
            connects=self._connects,
            reconnects=max(0, self._connects - 1),
            frames=self._frames,
            frames_out=self._frames_out,
            frames_dropped=self._frames_dropped,
            normalize_errors=self._normalize_errors,
            decode_errors=self.decoder.statistics().errors,
            last_error=self._last_error,
        )

    async def _after_auth_failure(self, error: AuthError, reason: str) -> None:
        """Refresh the token and retry, until ``max_auth_failures`` refusals in a row."""
        if isinstance(error, SessionFailedError):  # the refresh credential itself is dead
            await self._give_up(error, reason, "renew the credentials (see the error)")
        if self._auth_failures >= self.max_auth_failures:
            action = (
                "the refresh token may have been revoked: run the OAuth consent again and set "
                "the new refresh token"
                if self.tokens.can_refresh
                else "set a valid access token and restart"
            )
            await self._give_up(error, reason, action)
        if self.tokens.can_refresh:
            try:
                await self.tokens.refresh(f"{error.code} on the {self.handler.endpoint} socket")
            except AuthError as refresh_error:
                await self._give_up(refresh_error, str(refresh_error), "renew the credentials")

    async def _give_up(self, error: AriesError, reason: str, action: str) -> NoReturn:
        """Stop retrying: before start-up the error ends the engine; after it, degrade.

        A running engine keeps its other connections, its books and its plugins; this socket
        goes ``FAILED`` and stays so (nothing retried could succeed without an operator).
        """
        log.critical(
            "connection.gave_up",
            reason=reason,
            credential=self.credential,
            action=action,
            failures=self._auth_failures,
        )
        if not self._started:
            raise error
        self._last_error = reason
        await self._set_state(ConnectionState.FAILED, reason)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def _serve(self, ws: Any, token: Any) -> None:
        self._tasks = None
        self._reauthenticating = False
        after_auth = await self._authenticate(ws, token)
        self._auth_failures = 0
        await self._set_state(ConnectionState.AUTHENTICATED)
        self._pending.clear()
        # Before the first await: a change made while we send is then sent on its own later.
        self._changes.clear()  # the registry replay below already includes them
        for request_id, text in self.handler.subscribe_messages(self._next_id):
            self._pending.add(request_id)
            await self._send(ws, text)
        await self._check_subscribed()
        subscribed_by = trio.current_time() + self.subscribe_timeout
        # What shared the authSuccess frame, e.g. the market status pushed right after auth.
        events: list[Event] = []
        for message in after_auth:
            events += await self._on_message(ws, message)
        if events:
            await self.bus.publish_all(events)
        send, receive = trio.open_memory_channel[_Work](self.frame_buffer)
        self._queued = 0
        async with trio.open_nursery() as nursery:
            self._tasks = nursery
            nursery.start_soon(self._watch_idle)
            nursery.start_soon(self._watch_subscriptions, subscribed_by)
            nursery.start_soon(self._ping, ws)
            nursery.start_soon(self._apply_changes, ws)
            nursery.start_soon(self._read, ws, send)
            await self._process(ws, receive)

    async def _authenticate(self, ws: Any, token: Any) -> list[Any]:
        """Authenticate; return the messages that followed ``authSuccess`` in its frame."""
        request_id = self._next_id()
        await self._send(ws, encode.auth_request(request_id, token.reveal()))
        with trio.fail_after(self.auth_timeout):
            while True:
                frame = await ws.get_message()
                self._last_frame_at = trio.current_time()
                messages = self._decode(frame, now_ns())
                for index, message in enumerate(messages):
                    if isinstance(message, AuthSuccess):
                        return messages[index + 1 :]
                    if isinstance(message, AuthFailed):
                        raise AuthError(message.code, message.message)
                    if isinstance(message, ErrorMessage):
                        raise AuthError(message.code or "AUTH_FAILED", message.message)
                    log.debug("connection.ignored_before_auth", message=type(message).__name__)

    async def _read(self, ws: Any, work: trio.MemorySendChannel[_Work]) -> NoReturn:
        """Take frames off the socket and never wait for consumers, so pongs always get read.

        While nothing is queued, a frame of data messages is decoded, normalized and published
        right here if the bus takes its events without waiting (market data always fits:
        it is conflated): no task switch between the socket and the bus. Anything else (a
        control message, a bus that would make us wait, a backlog it must not overtake) goes
        to ``_process`` through the bounded buffer. When ``frame_buffer`` items are waiting, a
        market-data socket drops the new frame (and counts it); the accounts socket reconnects
        instead, since the next snapshot is the only way to recover what would be lost.
        """
        async with work:
            while True:
                frame = await ws.get_message()
                self._last_frame_at = trio.current_time()
                ts_recv = now_ns()  # once per frame: the journal and the events agree
                self.last_heard_ns = ts_recv
                if self.record_frame is not None:
                    self.record_frame(self.handler.endpoint, frame, ts_recv)
                item: _Work
                if self._queued:
                    item = (ts_recv, frame, None, None)
                else:
                    messages = self._decode(frame, ts_recv)
                    self._frame = frame
                    events = self._handle_now(messages)
                    if events is None:
                        item = (ts_recv, None, messages, None)
                    elif not events or self.bus.publish_nowait(events):
                        continue
                    else:
                        item = (ts_recv, None, None, events)
                try:
                    work.send_nowait(item)
                except trio.WouldBlock:
                    self._overflow()
                except trio.BrokenResourceError:
                    # ``_process`` has ended (its error, e.g. a resync, is on its way up).
                    raise ConnectionLostError("the frame processor stopped") from None
                else:
                    self._queued += 1

    async def _watch_subscriptions(self, deadline: float) -> None:
        """Reconnect if a subscription is still unanswered at ``deadline``: pings keep the
        socket alive, so without this a lost reply would leave it unsubscribed for good."""
        await trio.sleep_until(deadline)
        if self._pending:
            raise ConnectionLostError(
                f"{len(self._pending)} subscription(s) unanswered after "
                f"{self.subscribe_timeout:g} s"
            )

    async def _watch_idle(self) -> NoReturn:
        """Declare the socket dead after ``idle_timeout`` without a frame (cheaper than a
        cancel scope around every read)."""
        while True:
            assert self._last_frame_at is not None  # set while authenticating
            deadline = self._last_frame_at + self.idle_timeout
            if trio.current_time() >= deadline:
                raise ConnectionLostError(f"no frame for {self.idle_timeout:g} s")
            await trio.sleep_until(deadline)

    def _overflow(self) -> None:
        if not self.handler.drops_on_overflow:
            raise ConnectionLostError(
                f"consumers fell {self.frame_buffer} frames behind; reconnecting to resync"
            )
        self._frames_dropped += 1
        if self._frames_dropped == 1 or self._frames_dropped % 1000 == 0:
            log.warning("connection.frames_dropped", dropped=self._frames_dropped)

    def _handle_now(self, messages: list[Any]) -> list[Event] | None:
        """The events of ``messages`` if they are all plain data (no awaiting needed to handle
        them), else ``None`` and nothing handled (normalizing has side effects)."""
        if self._pending:
            return None
        for message in messages:
            if isinstance(message, _CONTROL):
                return None
        events: list[Event] = []
        for message in messages:
            if not isinstance(message, _IGNORED):
                events += self._handle(message)
        return events

    async def _process(self, ws: Any, work: trio.MemoryReceiveChannel[_Work]) -> None:
        """Handle, in arrival order, what the reader could not: frames queued behind a backlog,
        control messages, and events the bus could not take without waiting."""
        async with work:
            async for ts_recv, frame, messages, handled in work:
                if frame is not None:
                    messages = self._decode(frame, ts_recv)
                    self._frame = frame
                events: list[Event] = []
                if handled is not None:
                    events = handled
                for message in messages or ():
                    events += await self._on_message(ws, message)
                if events:
                    await self.bus.publish_all(events)
                self._queued -= 1

    def _healthy_for(self) -> float:
        """How long the last connection proved alive: from subscribed to its last frame."""
        if self._subscribed_at is None or self._last_frame_at is None:
            return 0.0
        return self._last_frame_at - self._subscribed_at

    def _decode(self, frame: str | bytes, ts_recv: int) -> list[Any]:
        self._frames += 1
        messages = self.decoder.decode_frame(frame, ts_recv=ts_recv)
        errors = self.decoder.frame_errors
        if errors and any(self.handler.resyncs_after(kind) for kind in errors):
            # What the bad line said (a fill?) is lost: only a fresh snapshot recovers it.
            raise ConnectionLostError(
                f"undecodable {errors[0]} message: reconnecting to resync from a snapshot"
            )
        return messages

    async def _on_message(self, ws: Any, message: Any) -> list[Event]:
        if isinstance(message, Pong):
            return []
        if isinstance(message, Subscribed):
            if message.id is not None:
                self._pending.discard(message.id)
            events = self._handle(message)
            await self._check_subscribed()
            return events
        if isinstance(message, AuthSuccess):
            log.info("connection.reauthenticated", expires_in_ms=message.expires_in_ms)
            if self.state is ConnectionState.REFRESH_WARNING:
                # Back to where the warning found us: still AUTHENTICATED if subscriptions were
                # pending (so SUBSCRIBED and started() still come), else SUBSCRIBED.
                await self._set_state(self._before_warning)
                await self._check_subscribed()
            return []
        if isinstance(message, RefreshAuth):
            if self.state is not ConnectionState.REFRESH_WARNING:
                self._before_warning = self.state
                await self._set_state(ConnectionState.REFRESH_WARNING)
            if not self._reauthenticating:
                self._reauthenticating = True
                if self._tasks is None:  # in the authSuccess frame: nothing else to keep going
                    await self._reauthenticate(ws)
                else:
                    # The token endpoint may be slow or down: frames keep flowing meanwhile,
                    # on a session still valid until the venue's deadline.
                    self._tasks.start_soon(self._reauthenticate, ws)
            return []
        if isinstance(message, AuthExpired):
            await self._set_state(ConnectionState.EXPIRED)
            raise ConnectionLostError("session expired (authExpired)")
        if isinstance(message, AuthFailed):
            raise AuthError(message.code, message.message)
        if isinstance(message, ErrorMessage):
            if message.code in AUTH_ERROR_CODES:
                raise AuthError(message.code, message.message)
            log.warning(
                "connection.venue_error",
                code=message.code,
                message=message.message,
                request_id=message.id,
            )
            if message.id is not None and message.id in self._pending:
                self._pending.discard(message.id)
                events = self.handler.refused(message.id, message.code, message.message)
                await self._check_subscribed()
                return events
            return []
        if isinstance(message, UnknownMessage | Unsubscribed):
            return []
        if self._pending and self.handler.confirms_subscriptions(message):
            self._pending.clear()
            await self._check_subscribed()
        return self._handle(message)

    def _handle(self, message: Any) -> list[Event]:
        """Normalize one data message; a bad one is logged and counted like a decode error."""
        try:
            return self.handler.handle(message)
        except ProtocolError as exc:
            self._normalize_errors += 1
            log.warning(
                "protocol.normalize_error",
                message_type=exc.message_type,
                field=exc.field,
                problem=exc.problem,
                # The normalizer never sees the text: the start of the frame it came in.
                excerpt=exc.excerpt or _text_excerpt(self._frame),
            )
            return []

    async def _check_subscribed(self) -> None:
        if not self._pending and self.state is ConnectionState.AUTHENTICATED:
            self._subscribed_at = trio.current_time()
            await self._set_state(ConnectionState.SUBSCRIBED)
            self._on_ready()

    async def _reauthenticate(self, ws: Any) -> None:
        """Answer a ``refreshAuth`` warning: a refreshed token, sent as an in-place ``/auth``."""
        try:
            token = await self.tokens.refresh("refreshAuth warning")
            await self._send(ws, encode.auth_request(self._next_id(), token.reveal()))
        finally:
            self._reauthenticating = False

    async def _ping(self, ws: Any) -> NoReturn:
        while True:
            await trio.sleep(self.ping_interval)
            await self._send(ws, encode.ping(self._next_id()))

    async def _apply_changes(self, ws: Any) -> NoReturn:
        while True:
            await self._changes_ready.wait()
            self._changes_ready = trio.Event()
            changes, self._changes = self._changes, []
            for added, removed in changes:
                for text in self.handler.change_messages(self._next_id, added, removed):
                    await self._send(ws, text)
                log.info(
                    "connection.subscriptions_changed", added=sorted(added), removed=sorted(removed)
                )

    async def _send(self, ws: Any, text: str) -> None:
        await ws.send_message(text)
        self._frames_out += 1

    async def _set_state(self, state: ConnectionState, reason: str = "") -> None:
        if state is self.state:
            return
        self.state = state
        self._state_since = trio.current_time()
        self._state_changed.set()
        self._state_changed = trio.Event()
        if state is ConnectionState.DISCONNECTED:
            log.warning("connection.disconnected", reason=reason)
        else:
            log.info(f"connection.{state.lower()}", url=self.url)
        await self.bus.publish(
            ConnectionStateChanged(endpoint=self.handler.endpoint, state=state, reason=reason)
        )

    def _next_id(self) -> str:
        return f"{self.handler.endpoint}-{next(self._ids)}"


def _text_excerpt(frame: str | bytes) -> str:
    if isinstance(frame, bytes):
        return frame[:EXCERPT_CHARS].decode("utf-8", "replace")
    return frame[:EXCERPT_CHARS]


def _first_leaf(group: BaseExceptionGroup[BaseException], kind: type[_E]) -> _E:
    """The first exception of type ``kind`` inside ``group`` (which holds at least one)."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            match, _ = exc.split(kind)
            if match is not None:
                return _first_leaf(match, kind)
        elif isinstance(exc, kind):
            return exc
    raise AssertionError(f"no {kind.__name__} in the group")


def _describe(group: BaseExceptionGroup[BaseException]) -> str:
    """A one-line reason from an exception group (trio wraps errors from nurseries in groups)."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    return "; ".join(f"{type(e).__name__}: {e}" for e in leaves) or repr(group)
