"""``ConnectionSupervisor``: keeps one Aries WebSocket connected, authenticated and subscribed.

The loop, per connection: take a token *before* dialling (the venue allows 5 s to authenticate),
connect, send ``/auth``, wait for ``authSuccess``, replay the handler's subscriptions, then pump
frames while a pinger sends ``ping`` every ``ping_interval``. No frame for ``2 × ping_interval``
means the socket is dead even if TCP says otherwise. Any recoverable failure closes the socket
(the ``async with`` closes it before we dial again), publishes ``DISCONNECTED`` and retries after
the backoff delay (1 s doubling to 60 s plus jitter; reset once a connection has delivered frames
for 60 s after subscribing — a socket that died of silence does not count as healthy).

A refused subscription the engine cannot run without (an account's ``ACCESS_DENIED``) raises
``SubscriptionError``: retrying cannot help. A data message that decodes but cannot be
normalized is logged (``protocol.normalize_error``) and counted, and the connection goes on.

A ``refreshAuth`` warning re-authenticates in place with a fresh token (subscriptions stay);
``authExpired`` reconnects. Repeated authentication failures (``max_auth_failures`` in a row)
are fatal: the error propagates and stops the engine with a clear message.

Every frame is decoded and normalized in this task and its events are published in one go; the
bus applies back-pressure only for never-drop events (see ``engine.bus``).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, NoReturn, TypeVar

import attrs
import structlog
import trio
import trio_websocket

from engine.aries import encode
from engine.aries.decode import FrameDecoder
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
from engine.connection.tokens import TokenProvider
from engine.errors import AuthError, ConnectionLostError, ProtocolError, SubscriptionError
from engine.model._time import now_ns
from engine.model.enums import ConnectionState
from engine.model.events import ConnectionStateChanged, Event
from engine.runtime.backoff import Backoff

log = structlog.get_logger(__name__)

_E = TypeVar("_E", bound=BaseException)

RECOVERABLE: tuple[type[BaseException], ...] = (
    trio_websocket.ConnectionClosed,
    trio_websocket.HandshakeError,
    OSError,
    ConnectionLostError,
    AuthError,
    trio.TooSlowError,
)
# Error codes on an established session that mean "authenticate again", not "log and go on".
AUTH_ERROR_CODES = frozenset({"AUTH_REQUIRED", "INVALID_TOKEN", "TOKEN_REQUIRED"})

WebSocketFactory = Callable[[str], AbstractAsyncContextManager[Any]]


def _open_websocket(url: str) -> AbstractAsyncContextManager[trio_websocket.WebSocketConnection]:
    return trio_websocket.open_websocket_url(url, connect_timeout=10, disconnect_timeout=2)


@attrs.frozen(kw_only=True)
class ConnectionStatistics:
    """Counters of one supervisor."""

    endpoint: str
    state: ConnectionState
    connects: int
    reconnects: int
    frames: int
    normalize_errors: int
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
    backoff: Backoff = attrs.field(factory=Backoff)
    max_auth_failures: int = 3
    rng: random.Random = attrs.field(factory=random.Random)
    open_websocket: WebSocketFactory = _open_websocket
    state: ConnectionState = attrs.field(default=ConnectionState.DISCONNECTED, init=False)
    decoder: FrameDecoder = attrs.field(init=False)
    _ids: itertools.count[int] = attrs.field(factory=itertools.count, init=False)
    _pending: set[str] = attrs.field(factory=set, init=False)
    _connects: int = attrs.field(default=0, init=False)
    _frames: int = attrs.field(default=0, init=False)
    _auth_failures: int = attrs.field(default=0, init=False)
    _last_error: str = attrs.field(default="", init=False)
    _on_ready: Callable[[], None] = attrs.field(default=lambda: None, init=False)
    _subscribed_at: float | None = attrs.field(default=None, init=False)
    _requests: dict[str, str] = attrs.field(factory=dict, init=False)
    _normalize_errors: int = attrs.field(default=0, init=False)
    _last_frame_at: float | None = attrs.field(default=None, init=False)

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
        structlog.contextvars.bind_contextvars(endpoint=str(self.handler.endpoint))

        def ready() -> None:
            task_status.started()
            self._on_ready = lambda: None

        self._on_ready = ready
        attempt = 0
        while True:
            self._subscribed_at = self._last_frame_at = None
            reason = ""
            fatal: AuthError | SubscriptionError | None = None
            try:
                token = await self.tokens.get_token()
                async with self.open_websocket(self.url) as ws:
                    self._connects += 1
                    await self._set_state(ConnectionState.CONNECTED)
                    await self._serve(ws, token)
            except* SubscriptionError as group:
                reason = _describe(group)
                fatal = _first_leaf(group, SubscriptionError)
            except* AuthError as group:
                self._auth_failures += 1
                reason = _describe(group)
                if self._auth_failures >= self.max_auth_failures:
                    fatal = _first_leaf(group, AuthError)
            except* RECOVERABLE as group:
                reason = _describe(group)
            if fatal is not None:
                log.critical("connection.fatal", failures=self._auth_failures, reason=reason)
                raise fatal
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

    def statistics(self) -> ConnectionStatistics:
        """Connection counters."""
        return ConnectionStatistics(
            endpoint=str(self.handler.endpoint),
            state=self.state,
            connects=self._connects,
            reconnects=max(0, self._connects - 1),
            frames=self._frames,
            normalize_errors=self._normalize_errors,
            last_error=self._last_error,
        )

    async def _serve(self, ws: Any, token: Any) -> None:
        await self._authenticate(ws, token)
        self._auth_failures = 0
        await self._set_state(ConnectionState.AUTHENTICATED)
        self._pending.clear()
        self._requests.clear()
        for request_id, text in self.handler.subscribe_messages(self._next_id):
            self._pending.add(request_id)
            self._requests[request_id] = _describe_request(text)
            await ws.send_message(text)
        await self._check_subscribed()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._ping, ws)
            await self._pump(ws)

    async def _authenticate(self, ws: Any, token: Any) -> None:
        request_id = self._next_id()
        await ws.send_message(encode.auth_request(request_id, token.reveal()))
        with trio.fail_after(self.auth_timeout):
            while True:
                for message in self._decode(await ws.get_message()):
                    if isinstance(message, AuthSuccess):
                        return
                    if isinstance(message, AuthFailed):
                        raise AuthError(message.code, message.message)
                    if isinstance(message, ErrorMessage):
                        raise AuthError(message.code or "AUTH_FAILED", message.message)
                    log.debug("connection.ignored_before_auth", message=type(message).__name__)

    async def _pump(self, ws: Any) -> NoReturn:
        while True:
            with trio.move_on_after(self.idle_timeout) as idle:
                frame = await ws.get_message()
            if idle.cancelled_caught:
                raise ConnectionLostError(f"no frame for {self.idle_timeout:g} s")
            events: list[Event] = []
            for message in self._decode(frame):
                events += await self._on_message(ws, message)
            if events:
                await self.bus.publish_all(events)

    def _healthy_for(self) -> float:
        """How long the last connection proved alive: from subscribed to its last frame."""
        if self._subscribed_at is None or self._last_frame_at is None:
            return 0.0
        return self._last_frame_at - self._subscribed_at

    def _decode(self, frame: str | bytes) -> list[Any]:
        self._frames += 1
        self._last_frame_at = trio.current_time()
        return self.decoder.decode_frame(frame, ts_recv=now_ns())

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
                await self._set_state(ConnectionState.SUBSCRIBED)
            return []
        if isinstance(message, RefreshAuth):
            await self._set_state(ConnectionState.REFRESH_WARNING)
            token = await self.tokens.get_token()
            await ws.send_message(encode.auth_request(self._next_id(), token.reveal()))
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
                if self.handler.refusal_is_fatal(message.code):
                    raise SubscriptionError(
                        message.code,
                        message.message,
                        subscription=self._requests.get(message.id, message.id),
                    )
                self._pending.discard(message.id)
                await self._check_subscribed()
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
                excerpt=exc.excerpt,
            )
            return []

    async def _check_subscribed(self) -> None:
        if not self._pending and self.state is ConnectionState.AUTHENTICATED:
            self._subscribed_at = trio.current_time()
            await self._set_state(ConnectionState.SUBSCRIBED)
            self._on_ready()

    async def _ping(self, ws: Any) -> NoReturn:
        while True:
            await trio.sleep(self.ping_interval)
            await ws.send_message(encode.ping(self._next_id()))

    async def _set_state(self, state: ConnectionState, reason: str = "") -> None:
        if state is self.state:
            return
        self.state = state
        if state is ConnectionState.DISCONNECTED:
            log.warning("connection.disconnected", reason=reason)
        else:
            log.info(f"connection.{state.lower()}", url=self.url)
        await self.bus.publish(
            ConnectionStateChanged(endpoint=self.handler.endpoint, state=state, reason=reason)
        )

    def _next_id(self) -> str:
        return f"{self.handler.endpoint}-{next(self._ids)}"


def _describe_request(text: str) -> str:
    """A short, token-free description of a subscribe request, for error messages."""
    try:
        request = json.loads(text)
    except ValueError:
        return "subscription"
    topic = request.get("topic") or "market"
    params = request.get("params") or {}
    detail = ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if isinstance(v, str))
    return f"subscription to {topic}" + (f" ({detail})" if detail else "")


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
