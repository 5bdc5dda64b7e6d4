"""``FaultProxy``: a TCP proxy on loopback that injects network faults, for tests.

Kernel traffic shaping (``tc netem``) needs privileges test machines do not have, so the faults
of Toxiproxy live here, in-process, on trio. The proxy listens on ``127.0.0.1`` (a port the OS
picks) and forwards every accepted connection to one target; point a client at it instead of
the target::

    async with open_fault_proxy("127.0.0.1", sim_port, seed=3) as proxy:
        ws_base = f"ws://127.0.0.1:{proxy.port}"
        ...
        proxy.add_latency(0.2, jitter=0.1)      # both directions, from the next chunk on
        proxy.black_hole()                      # open but silent, until heal()
        proxy.heal()

Each direction (``Direction.UPSTREAM``: client to target, ``DOWNSTREAM``: target to client) has
its own ``LinkSettings``, read again for every chunk, so changes apply to live connections:

* ``latency`` + ``jitter``: each chunk is delivered ``latency ± jitter`` seconds (uniform, from
  the proxy's seeded RNG) after it was read, never before the chunk read ahead of it (TCP keeps
  order, so jitter never reorders bytes);
* ``bandwidth``: at most that many bytes per second (sent in pieces of 100 ms worth);
* ``slice_size`` (+ ``slice_delay``): each chunk is written in segments of at most that many
  bytes, as separate writes (``TCP_NODELAY`` is on, so they leave as separate segments); the
  proxy yields to other tasks between segments, or sleeps ``slice_delay`` seconds.

Faults over the whole proxy (every open connection and every one accepted later):

* ``reset()``: abort the open connections now with a TCP RST on both sides (``SO_LINGER`` 0,
  then close). One-shot: later connections are forwarded normally.
* ``black_hole()``: keep every connection open but forward nothing, either way. New connections
  are accepted and dialled to the target as usual. Bytes are held, not dropped: ``heal()``
  delivers them, as a network partition that heals before TCP gives up would.
* ``time_out(after)``: Toxiproxy's ``timeout`` toxic. Forward nothing on the open connections;
  accept new connections but never dial the target for them. With ``after`` (seconds), close
  each connection cleanly (FIN, no RST, held bytes discarded) ``after`` seconds after the
  timeout caught it: from the call for open ones, from their accept for new ones. Without
  ``after`` connections stay open and silent until ``heal()``, which dials the target for the
  new ones and delivers what was held.
* ``heal()``: back to plain forwarding: no latency, no limit, no slicing, no black hole or
  timeout, no armed trigger.

A peer's reset is passed on as a reset of the other side; a peer's FIN is passed on as a FIN
(half-close), after the bytes before it.

Triggers make a fault hit an exact point of a protocol without racing it from the test:
``proxy.when(b'"authSuccess"', ProxyConnection.reset, path="/v1/accounts/ws")`` resets the
accounts socket instead of delivering its ``authSuccess`` (``before=False``: right after
delivering it). A trigger fires once, on the first chunk that completes the pattern in its
direction (matches spanning two chunks count; ``path`` keeps connections whose first request
line names that path), and sets ``trigger.fired``. WebSocket frames a client sends are masked,
so match what the server sends (``DOWNSTREAM``), or plain HTTP.

Every task runs in the nursery of ``run`` (``open_fault_proxy`` runs it for the body of an
``async with``); cancelling it closes every connection.
"""

from __future__ import annotations

import contextlib
import enum
import math
import random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Final

import attrs
import structlog
import trio

log = structlog.get_logger(__name__)

__all__ = [
    "Direction",
    "FaultProxy",
    "LinkSettings",
    "ProxyConnection",
    "ProxyMode",
    "ProxyStatistics",
    "Trigger",
    "open_fault_proxy",
]

CHUNK: Final = 65_536
"""Bytes read from a socket at once."""
QUEUE: Final = 256
"""Chunks read ahead per direction before the proxy stops reading (back-pressure)."""
_HTTP_METHODS: Final = (b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"OPTIONS")


class Direction(enum.Enum):
    """Which way bytes travel through the proxy."""

    UPSTREAM = "upstream"
    """From the client (who connected to the proxy) to the target."""
    DOWNSTREAM = "downstream"
    """From the target back to the client."""


class ProxyMode(enum.Enum):
    """What the proxy does with bytes, over all connections (see the module docstring)."""

    FORWARD = "forward"
    BLACK_HOLE = "black_hole"
    TIMEOUT = "timeout"


def _not_negative(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0 or math.isnan(value):
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _positive_or_none(
    _instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be >= 1 (or None for no limit), got {value}")


@attrs.frozen(kw_only=True)
class LinkSettings:
    """The shaping of one direction; the defaults forward bytes untouched.

    ``latency``/``jitter``/``slice_delay`` are seconds, ``bandwidth`` bytes per second (``None``:
    unlimited), ``slice_size`` bytes per write (``None``: whole chunks).
    """

    latency: float = attrs.field(default=0.0, validator=_not_negative)
    jitter: float = attrs.field(default=0.0, validator=_not_negative)
    bandwidth: int | None = attrs.field(default=None, validator=_positive_or_none)
    slice_size: int | None = attrs.field(default=None, validator=_positive_or_none)
    slice_delay: float = attrs.field(default=0.0, validator=_not_negative)


@attrs.frozen(kw_only=True)
class ProxyStatistics:
    """A snapshot of the proxy's counters (bytes and segments are what was forwarded)."""

    accepted: int
    """Connections accepted from clients."""
    dialled: int
    """Connections opened to the target."""
    dial_failures: int
    """Times the target could not be reached (the client's connection was then reset)."""
    open: int
    """Connections open now."""
    resets: int
    """Connections the proxy ended with a RST (``reset()``, a trigger, or a peer's reset)."""
    timeouts: int
    """Connections closed by ``time_out(after)``."""
    closed: int
    """Connections that ended, however they ended."""
    bytes_upstream: int
    bytes_downstream: int
    segments_upstream: int
    """Writes to the target (one per chunk, or one per slice)."""
    segments_downstream: int
    """Writes to the clients."""
    triggers_fired: int


class _Eof:
    """Queued after a direction's last chunk: the peer sent FIN."""


_EOF: Final = _Eof()
_Item = tuple[float, bytes | _Eof]  # (deliver no earlier than this trio time, data or FIN)


@attrs.define(eq=False)
class ProxyConnection:
    """One client connection through the proxy (and its twin to the target).

    ``request_target`` is the target of the HTTP request line the client sent first (e.g.
    ``/v1/accounts/ws``), or ``None`` before it arrived or if the client does not speak HTTP.
    """

    id: int
    accepted_at: float
    request_target: str | None = None
    bytes_upstream: int = 0
    bytes_downstream: int = 0
    ended: trio.Event = attrs.field(factory=trio.Event)
    """Set once both sockets are closed."""
    was_reset: bool = attrs.field(default=False, init=False)
    timed_out: bool = attrs.field(default=False, init=False)
    _scope: trio.CancelScope = attrs.field(factory=trio.CancelScope, init=False)
    _rst: bool = attrs.field(default=False, init=False)
    _dialling: bool = attrs.field(default=False, init=False)
    _first_line_seen: bool = attrs.field(default=False, init=False)

    @property
    def path(self) -> str | None:
        """The path part of ``request_target`` (no query string)."""
        if self.request_target is None:
            return None
        return self.request_target.split("?", 1)[0]

    def reset(self) -> None:
        """Abort this connection now: RST to the client and to the target; nothing more is
        forwarded (a write in progress finishes first; a dial in progress finishes first, so
        that the target gets its RST too)."""
        self._rst = True
        if not self._dialling:
            self._scope.cancel()

    def _time_out_at(self, deadline: float) -> None:
        self._scope.deadline = deadline

    def _forgive(self) -> None:
        self._scope.deadline = math.inf


@attrs.define(eq=False)
class Trigger:
    """An armed fault: run ``action`` when ``pattern`` passes in ``direction`` (once).

    Built by ``FaultProxy.when``. ``connection`` is the connection it fired on. ``heal()``
    disarms it and sets ``fired`` too (so nothing waits for ever), leaving ``connection`` unset.
    """

    pattern: bytes
    action: Callable[[ProxyConnection], object]
    direction: Direction
    before: bool
    path: str | None
    fired: trio.Event = attrs.field(factory=trio.Event)
    connection: ProxyConnection | None = None

    def matches(self, connection: ProxyConnection, direction: Direction, window: bytes) -> bool:
        """Whether this trigger fires for ``window`` (the new chunk after the previous tail)."""
        if self.fired.is_set() or direction is not self.direction:
            return False
        if self.path is not None and connection.path != self.path:
            return False
        return self.pattern in window


@attrs.define(eq=False)
class FaultProxy:
    """A loopback TCP proxy to ``target_host:target_port`` with switchable faults.

    Start it with ``await nursery.start(proxy.run)`` (or ``open_fault_proxy``); ``port`` is then
    where it listens. ``seed`` seeds the jitter. Every method that switches a fault is
    synchronous and takes effect from the next chunk on, for open and new connections alike.
    """

    target_host: str
    target_port: int
    seed: int = 0
    host: str = "127.0.0.1"
    _rng: random.Random = attrs.field(init=False)
    _settings: dict[Direction, LinkSettings] = attrs.field(init=False)
    _mode: ProxyMode = attrs.field(default=ProxyMode.FORWARD, init=False)
    _timeout_after: float | None = attrs.field(default=None, init=False)
    _mode_changed: trio.Event = attrs.field(factory=trio.Event, init=False)
    _connections: dict[int, ProxyConnection] = attrs.field(factory=dict, init=False)
    _history: list[ProxyConnection] = attrs.field(factory=list, init=False)
    _triggers: list[Trigger] = attrs.field(factory=list, init=False)
    _next_id: int = attrs.field(default=1, init=False)
    _port: int | None = attrs.field(default=None, init=False)
    _changed: trio.Event = attrs.field(factory=trio.Event, init=False)
    _counts: dict[str, int] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._settings = dict.fromkeys(Direction, LinkSettings())
        self._counts = dict.fromkeys(
            ("accepted", "dialled", "dial_failures", "resets", "timeouts", "closed", "fired"), 0
        ) | {f"{kind}_{d.value}": 0 for kind in ("bytes", "segments") for d in Direction}

    # -- running -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the proxy listens on; ``RuntimeError`` unless it is running."""
        if self._port is None:
            raise RuntimeError("the proxy is not running (start it with nursery.start(proxy.run))")
        return self._port

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and forward until cancelled; ``task_status.started(port)`` once listening.

        Every connection's tasks run in this call's nursery.
        """
        listeners = await trio.open_tcp_listeners(0, host=self.host)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    partial(trio.serve_listeners, self._serve, listeners, handler_nursery=nursery)
                )
                self._port = listeners[0].socket.getsockname()[1]
                log.debug("proxy.started", port=self._port, target=self.target_port)
                task_status.started(self._port)
        finally:
            self._port = None

    # -- shaping -------------------------------------------------------------------------------

    def settings(self, direction: Direction) -> LinkSettings:
        """The shaping of ``direction`` now."""
        return self._settings[direction]

    def configure(self, settings: LinkSettings, direction: Direction | None = None) -> None:
        """Replace the shaping of ``direction`` (both when ``None``)."""
        for d in _directions(direction):
            self._settings[d] = settings

    def add_latency(
        self, latency: float, jitter: float = 0.0, *, direction: Direction | None = None
    ) -> None:
        """Delay each chunk by ``latency ± jitter`` seconds (order kept)."""
        self._evolve(direction, lambda s: attrs.evolve(s, latency=latency, jitter=jitter))

    def limit_bandwidth(
        self, bytes_per_second: int | None, *, direction: Direction | None = None
    ) -> None:
        """Forward at most ``bytes_per_second`` (``None``: no limit)."""
        self._evolve(direction, lambda s: attrs.evolve(s, bandwidth=bytes_per_second))

    def slice(
        self, size: int | None, *, delay: float = 0.0, direction: Direction | None = None
    ) -> None:
        """Write chunks in segments of at most ``size`` bytes, ``delay`` seconds apart."""
        self._evolve(direction, lambda s: attrs.evolve(s, slice_size=size, slice_delay=delay))

    def _evolve(
        self, direction: Direction | None, change: Callable[[LinkSettings], LinkSettings]
    ) -> None:
        for d in _directions(direction):
            self._settings[d] = change(self._settings[d])

    # -- faults --------------------------------------------------------------------------------

    @property
    def mode(self) -> ProxyMode:
        """Forwarding, black hole or timeout."""
        return self._mode

    def reset(self, *, path: str | None = None) -> int:
        """RST every open connection (whose request path is ``path``, if given); return how many.

        One-shot: connections accepted afterwards are forwarded.
        """
        victims = [c for c in self._connections.values() if path is None or c.path == path]
        for connection in victims:
            connection.reset()
        log.debug("proxy.reset", count=len(victims), path=path)
        return len(victims)

    def black_hole(self) -> None:
        """Forward nothing either way on any connection, open or new, until ``heal()``.

        It replaces a ``time_out``: connections it was due to close stay open."""
        self._timeout_after = None
        for connection in self._connections.values():
            connection._forgive()
        self._set_mode(ProxyMode.BLACK_HOLE)

    def time_out(self, after: float | None = None) -> None:
        """Forward nothing; dial nothing for new connections; close each connection ``after``
        seconds after the timeout caught it (never, when ``None``). See the module docstring."""
        if after is not None and after < 0:
            raise ValueError(f"after must be >= 0, got {after}")
        self._timeout_after = after
        self._set_mode(ProxyMode.TIMEOUT)
        if after is not None:
            deadline = trio.current_time() + after
            for connection in self._connections.values():
                connection._time_out_at(deadline)

    def heal(self) -> None:
        """Plain forwarding again: default shaping, no black hole or timeout, no trigger."""
        self._settings = dict.fromkeys(Direction, LinkSettings())
        self._timeout_after = None
        for trigger in self._triggers:
            trigger.fired.set()  # disarmed; waiters must not hang
        self._triggers.clear()
        for connection in self._connections.values():
            connection._forgive()
        self._set_mode(ProxyMode.FORWARD)

    def when(
        self,
        pattern: bytes,
        action: Callable[[ProxyConnection], object],
        *,
        direction: Direction = Direction.DOWNSTREAM,
        path: str | None = None,
        before: bool = True,
    ) -> Trigger:
        """Arm a one-shot trigger: call ``action(connection)`` when ``pattern`` passes.

        ``before``: the action runs before the chunk that completes the pattern is written (a
        reset then drops it, a black hole holds it); otherwise right after it was written.
        ``path`` limits it to connections whose first request line names that path.
        """
        if not pattern:
            raise ValueError("pattern must not be empty")
        trigger = Trigger(
            pattern=pattern, action=action, direction=direction, before=before, path=path
        )
        self._triggers.append(trigger)
        return trigger

    def _set_mode(self, mode: ProxyMode) -> None:
        self._mode = mode
        self._mode_changed.set()
        self._mode_changed = trio.Event()
        log.debug("proxy.mode", mode=mode.value)
        self._notify()

    # -- observing -----------------------------------------------------------------------------

    def connections(self) -> list[ProxyConnection]:
        """The connections open now, oldest first."""
        return list(self._connections.values())

    def history(self) -> list[ProxyConnection]:
        """Every connection accepted so far, open or ended, oldest first."""
        return list(self._history)

    def statistics(self) -> ProxyStatistics:
        """The counters now."""
        c = self._counts
        return ProxyStatistics(
            accepted=c["accepted"],
            dialled=c["dialled"],
            dial_failures=c["dial_failures"],
            open=len(self._connections),
            resets=c["resets"],
            timeouts=c["timeouts"],
            closed=c["closed"],
            bytes_upstream=c["bytes_upstream"],
            bytes_downstream=c["bytes_downstream"],
            segments_upstream=c["segments_upstream"],
            segments_downstream=c["segments_downstream"],
            triggers_fired=c["fired"],
        )

    async def wait_statistics(
        self, predicate: Callable[[ProxyStatistics], bool]
    ) -> ProxyStatistics:
        """Wait until ``predicate(statistics())`` holds; bound it with ``trio.fail_after``.

        It wakes on every change (counters, modes, a connection's request line), so the
        predicate may look at ``history()`` too."""
        await trio.lowlevel.checkpoint()
        while True:
            stats = self.statistics()
            if predicate(stats):
                return stats
            await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    def _count(self, name: str) -> None:
        self._counts[name] += 1
        self._notify()

    # -- connections ---------------------------------------------------------------------------

    async def _serve(self, client: trio.SocketStream) -> None:
        connection = ProxyConnection(id=self._next_id, accepted_at=trio.current_time())
        self._next_id += 1
        self._connections[connection.id] = connection
        self._history.append(connection)
        self._count("accepted")
        if self._mode is ProxyMode.TIMEOUT and self._timeout_after is not None:
            connection._time_out_at(connection.accepted_at + self._timeout_after)
        target: trio.SocketStream | None = None
        try:
            with connection._scope:
                async with trio.open_nursery() as nursery:
                    # The client's bytes are read (and its request line seen) even before the
                    # target is dialled; they wait in the queue.
                    up_send, up_receive = trio.open_memory_channel[_Item](QUEUE)
                    nursery.start_soon(self._read, connection, Direction.UPSTREAM, client, up_send)
                    while self._mode is ProxyMode.TIMEOUT:
                        await self._mode_changed.wait()
                    target = await self._dial(connection)
                    if target is None:
                        nursery.cancel_scope.cancel()
                        return
                    down_send, down_receive = trio.open_memory_channel[_Item](QUEUE)
                    nursery.start_soon(
                        self._write, connection, Direction.UPSTREAM, target, up_receive
                    )
                    nursery.start_soon(
                        self._read, connection, Direction.DOWNSTREAM, target, down_send
                    )
                    nursery.start_soon(
                        self._write, connection, Direction.DOWNSTREAM, client, down_receive
                    )
            if connection._scope.cancelled_caught and not connection._rst:
                connection.timed_out = True
                self._counts["timeouts"] += 1
        finally:
            connection.was_reset = connection._rst
            if connection._rst:
                self._counts["resets"] += 1
            for stream in (client, target):
                if stream is not None:
                    _close(stream, rst=connection._rst)
            del self._connections[connection.id]
            self._count("closed")
            connection.ended.set()
            log.debug(
                "proxy.connection_ended",
                id=connection.id,
                path=connection.path,
                reset=connection.was_reset,
                timed_out=connection.timed_out,
            )

    async def _dial(self, connection: ProxyConnection) -> trio.SocketStream | None:
        """Connect to the target; ``None`` (and the connection marked for a reset) if it cannot
        be reached or the connection was reset meanwhile."""
        connection._dialling = True
        try:
            target = await trio.open_tcp_stream(self.target_host, self.target_port)
        except OSError as exc:
            log.debug("proxy.dial_failed", error=str(exc))
            self._count("dial_failures")
            connection._rst = True
            return None
        finally:
            connection._dialling = False
        self._count("dialled")
        if connection._rst:  # reset while dialling: the target gets its RST too
            _close(target, rst=True)
            return None
        return target

    async def _read(
        self,
        connection: ProxyConnection,
        direction: Direction,
        source: trio.SocketStream,
        queue: trio.MemorySendChannel[_Item],
    ) -> None:
        last_release = -math.inf
        async with queue:
            while True:
                try:
                    data = await source.receive_some(CHUNK)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    connection.reset()  # the peer reset: pass it on
                    return
                if direction is Direction.UPSTREAM and not connection._first_line_seen:
                    connection._first_line_seen = True
                    connection.request_target = _request_target(data)
                    self._notify()
                settings = self._settings[direction]
                now = trio.current_time()
                delay = settings.latency
                if settings.jitter:
                    delay += self._rng.uniform(-settings.jitter, settings.jitter)
                last_release = max(last_release, now + max(0.0, delay))
                await queue.send((last_release, data if data else _EOF))
                if not data:
                    return

    async def _write(
        self,
        connection: ProxyConnection,
        direction: Direction,
        sink: trio.SocketStream,
        queue: trio.MemoryReceiveChannel[_Item],
    ) -> None:
        tail = b""
        async with queue:
            async for release_at, data in queue:
                await trio.sleep_until(release_at)
                while self._mode is not ProxyMode.FORWARD:
                    await self._mode_changed.wait()
                if isinstance(data, _Eof):
                    try:
                        await sink.send_eof()
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        connection.reset()
                    return
                window = tail + data
                keep = self._longest_pattern() - 1
                tail = window[len(window) - keep :] if keep > 0 else b""
                fired = [t for t in self._triggers if t.matches(connection, direction, window)]
                for trigger in fired:
                    self._triggers.remove(trigger)
                await self._fire([t for t in fired if t.before], connection)
                try:
                    await self._send(connection, direction, sink, data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    connection.reset()
                    return
                await self._fire([t for t in fired if not t.before], connection)

    async def _fire(self, triggers: list[Trigger], connection: ProxyConnection) -> None:
        for trigger in triggers:
            log.debug("proxy.trigger_fired", pattern=trigger.pattern, id=connection.id)
            trigger.connection = connection
            trigger.action(connection)
            self._count("fired")
            trigger.fired.set()
        if triggers:
            # An action that reset or black-holed this connection acts before the next write.
            await trio.lowlevel.checkpoint()
            while self._mode is not ProxyMode.FORWARD:
                await self._mode_changed.wait()

    def _longest_pattern(self) -> int:
        return max((len(t.pattern) for t in self._triggers), default=0)

    async def _send(
        self,
        connection: ProxyConnection,
        direction: Direction,
        sink: trio.SocketStream,
        data: bytes,
    ) -> None:
        view = memoryview(data)
        while view:
            settings = self._settings[direction]
            size = len(view)
            if settings.slice_size is not None:
                size = min(size, settings.slice_size)
            if settings.bandwidth is not None:
                size = min(size, max(1, settings.bandwidth // 10))
                await trio.sleep(size / settings.bandwidth)
            # Counted before the write: the peer may read it before send_all returns.
            if direction is Direction.UPSTREAM:
                connection.bytes_upstream += size
            else:
                connection.bytes_downstream += size
            self._counts[f"bytes_{direction.value}"] += size
            self._count(f"segments_{direction.value}")
            await sink.send_all(view[:size])
            view = view[size:]
            if view and settings.slice_size is not None:
                if settings.slice_delay:
                    await trio.sleep(settings.slice_delay)
                else:
                    await trio.lowlevel.checkpoint()


@asynccontextmanager
async def open_fault_proxy(
    target_host: str, target_port: int, *, seed: int = 0
) -> AsyncIterator[FaultProxy]:
    """Run a ``FaultProxy`` to ``target_host:target_port`` for the body of the ``async with``."""
    proxy = FaultProxy(target_host, target_port, seed=seed)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.run)
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()


def _directions(direction: Direction | None) -> tuple[Direction, ...]:
    return tuple(Direction) if direction is None else (direction,)


def _request_target(data: bytes) -> str | None:
    """The target of an HTTP request line at the start of ``data`` (``None`` if there is none)."""
    line = data.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) == 3 and parts[0] in _HTTP_METHODS and parts[2].startswith(b"HTTP/"):
        return parts[1].decode("ascii", errors="replace")
    return None


def _close(stream: trio.SocketStream, *, rst: bool) -> None:
    """Close now, without waiting; with ``rst`` the peer gets a RST instead of a FIN."""
    sock = stream.socket
    if rst:
        # An OSError: the peer's reset closed it already; there is nothing left to reset.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
