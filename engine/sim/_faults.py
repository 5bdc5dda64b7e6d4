"""Fault injection on demand: named scenarios, the control API, the REST middleware, admin HTTP.

A ``Fault`` is a named scenario with parameters (``Fault.silent_socket("/v1/accounts/ws")``,
``Fault.rate_limit(count=3)``, ...). ``FaultController.apply(fault)`` arms it on a running
simulator (``sim.faults``); ``clear()`` disarms everything. Socket faults act through the hub
and the sessions; REST faults (lost order response, 429 bursts, 5xx) through
``FaultMiddleware``, an ASGI wrapper around the simulator's app, which also serves the admin
path ``/_sim/faults`` (loopback clients only):

* ``POST /_sim/faults`` ``{"name": "rate_limit", "params": {"count": 3}}`` → apply;
* ``GET /_sim/faults`` → the armed faults; ``DELETE /_sim/faults`` → clear them all.

Scenarios (``SCENARIOS`` maps each name to its constructor):

================== =====================================================================
``drop_socket``     close the open sockets (of ``path``) now with 1011
``silent_socket``   keep sockets (of ``path``, current and new) open but send nothing
``duplicate_events`` send every account event ``times`` times
``reorder_events``  swap adjacent account events (a lone one is held ``REORDER_HOLD_SECONDS``)
``delay_events``    deliver account events ``seconds`` late (order kept)
``delay_snapshot``  send the ``account`` subscribe reply ``seconds`` late
``omit_snapshot``   never send the ``account`` subscribe reply (events still flow)
``lose_order_response`` accept the next ``count`` orders but never answer the HTTP request
``rate_limit``      answer the next ``count`` REST requests (of ``path``) 429 with ``Retry-After``
``server_error``    answer the next ``count`` REST requests (of ``path``) with ``status`` (5xx);
                    with ``processed`` the request is carried out first, its answer replaced
``malformed_events`` spoil the next ``count`` account events (of ``event_type``) in place
``reject_auth``     answer the next ``count`` ``/auth`` requests (of ``path``) ``INVALID_TOKEN``
``expire_session``  expire the open sessions (of ``path``) now: ``authExpired`` then close
``malformed_frames`` send each frame kind of ``kinds`` to the open sockets (of ``path``)
``slow_reader``     the server reads each inbound frame ``delay`` seconds late (backpressure)
``slow_writer``     the server sends each outbound frame ``delay`` seconds late
================== =====================================================================

The REST faults and ``malformed_events`` that fired are listed, in order, in
``FaultController.history`` (``FiredFault``: when, which, on what), so a test can check how a
client paced its retries.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import attrs
import structlog
import trio

from engine.sim._profile import CLOSE_DROPPED, PLACE_ORDER_PATH, WS_PATHS
from engine.sim._stream_profile import (
    DEFAULT_RETRY_AFTER_SECONDS,
    DEFAULT_SERVER_ERROR_STATUS,
    FAULTS_ADMIN_PATH,
    MALFORMED_EVENT_KINDS,
    MALFORMED_FRAMES,
    REORDER_HOLD_SECONDS,
)

if TYPE_CHECKING:
    from engine.sim._hub import Hub, HubSession

log = structlog.get_logger(__name__)

JSON = dict[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _check_path(path: str | None) -> str | None:
    if path is not None and path not in WS_PATHS:
        raise ValueError(f"unknown socket path {path!r}; expected one of {WS_PATHS}")
    return path


def _check_rest_path(path: str | None) -> str | None:
    if path is not None and (not path.startswith("/") or path in WS_PATHS):
        raise ValueError(f"expected a REST path such as '/v1/orders', got {path!r}")
    return path


def _rest_params(params: dict[str, Any], path: str | None) -> dict[str, Any]:
    """``params``, plus ``path`` when one is given (absent otherwise: the admin API's
    representation of a fault without a path is what it always was)."""
    return params if path is None else {**params, "path": _check_rest_path(path)}


def _positive_count(count: int | None) -> int | None:
    if count is not None and count < 1:
        raise ValueError(f"count must be >= 1 (or None for 'until cleared'), got {count}")
    return count


@attrs.frozen
class Fault:
    """One named fault scenario and its parameters (build it with the class methods)."""

    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def drop_socket(cls, path: str | None = None) -> Fault:
        """Close the open sockets (all, or those of ``path``) with 1011, as a crash would."""
        return cls("drop_socket", {"path": _check_path(path)})

    @classmethod
    def silent_socket(cls, path: str | None = None) -> Fault:
        """Keep sockets open but silent: no pongs, no data, no acks (current and new ones)."""
        return cls("silent_socket", {"path": _check_path(path)})

    @classmethod
    def duplicate_events(cls, times: int = 2) -> Fault:
        """Send every account event ``times`` times in a row."""
        if times < 2:
            raise ValueError("times must be >= 2")
        return cls("duplicate_events", {"times": times})

    @classmethod
    def reorder_events(cls) -> Fault:
        """Swap adjacent account events on each socket."""
        return cls("reorder_events", {})

    @classmethod
    def delay_events(cls, seconds: float) -> Fault:
        """Deliver account events ``seconds`` late, in order."""
        if seconds <= 0:
            raise ValueError("seconds must be > 0")
        return cls("delay_events", {"seconds": seconds})

    @classmethod
    def delay_snapshot(cls, seconds: float) -> Fault:
        """Send the ``account`` subscribe reply (the snapshot) ``seconds`` late."""
        if seconds <= 0:
            raise ValueError("seconds must be > 0")
        return cls("delay_snapshot", {"seconds": seconds})

    @classmethod
    def omit_snapshot(cls) -> Fault:
        """Never send the ``account`` subscribe reply; the subscription is active all the same."""
        return cls("omit_snapshot", {})

    @classmethod
    def lose_order_response(cls, count: int | None = 1) -> Fault:
        """Accept the next ``count`` orders but never answer their HTTP requests."""
        return cls("lose_order_response", {"count": _positive_count(count)})

    @classmethod
    def rate_limit(
        cls,
        count: int | None = 3,
        retry_after: int = DEFAULT_RETRY_AFTER_SECONDS,
        path: str | None = None,
    ) -> Fault:
        """Answer the next ``count`` REST requests (all, or those of ``path``, e.g.
        ``/v1/orders``) 429 with ``Retry-After: retry_after``. Nothing is carried out."""
        params = {"count": _positive_count(count), "retry_after": retry_after}
        return cls("rate_limit", _rest_params(params, path))

    @classmethod
    def server_error(
        cls,
        count: int | None = 1,
        status: int = DEFAULT_SERVER_ERROR_STATUS,
        path: str | None = None,
        processed: bool = False,
    ) -> Fault:
        """Answer the next ``count`` REST requests (all, or those of ``path``) with a 5xx
        ``status``. The request is not carried out, unless ``processed``: then it is, and only
        its answer is replaced by the error (a gateway failing after the venue acted)."""
        if not 500 <= status <= 599:
            raise ValueError("status must be a 5xx code")
        params: dict[str, Any] = {"count": _positive_count(count), "status": status}
        if processed:
            params["processed"] = True
        return cls("server_error", _rest_params(params, path))

    @classmethod
    def malformed_events(
        cls, count: int | None = 1, kind: str = "truncated", event_type: str | None = None
    ) -> Fault:
        """Spoil the next ``count`` account events (all, or those whose ``payload.type`` is
        ``event_type``, e.g. ``account.order``): each is sent malformed *instead of* the real
        one (``kind``: ``truncated`` or ``missing_data``), so its content is lost."""
        if kind not in MALFORMED_EVENT_KINDS:
            raise ValueError(
                f"unknown kind {kind!r}; expected one of {list(MALFORMED_EVENT_KINDS)}"
            )
        params: dict[str, Any] = {"count": _positive_count(count), "kind": kind}
        if event_type is not None:
            params["event_type"] = event_type
        return cls("malformed_events", params)

    @classmethod
    def reject_auth(cls, count: int | None = 1, path: str | None = None) -> Fault:
        """Answer the next ``count`` socket ``/auth`` requests (of ``path``) ``INVALID_TOKEN``."""
        return cls("reject_auth", {"count": _positive_count(count), "path": _check_path(path)})

    @classmethod
    def expire_session(cls, path: str | None = None) -> Fault:
        """Expire the open authenticated sessions now: ``authExpired``, then close 1000."""
        return cls("expire_session", {"path": _check_path(path)})

    @classmethod
    def malformed_frames(
        cls, path: str | None = None, kinds: tuple[str, ...] = tuple(MALFORMED_FRAMES)
    ) -> Fault:
        """Send one frame of each kind (``invalid_json``, ``truncated``, ``unknown_type``,
        ``not_object``) to the open sockets (of ``path``)."""
        unknown = [k for k in kinds if k not in MALFORMED_FRAMES]
        if unknown:
            raise ValueError(f"unknown frame kinds {unknown}; expected {list(MALFORMED_FRAMES)}")
        return cls("malformed_frames", {"path": _check_path(path), "kinds": tuple(kinds)})

    @classmethod
    def slow_reader(cls, path: str | None = None, delay: float = 0.05) -> Fault:
        """The server reads each inbound frame ``delay`` seconds late (the client backs up)."""
        return cls("slow_reader", {"path": _check_path(path), "delay": delay})

    @classmethod
    def slow_writer(cls, path: str | None = None, delay: float = 0.05) -> Fault:
        """The server sends each outbound frame ``delay`` seconds late (a slow link)."""
        return cls("slow_writer", {"path": _check_path(path), "delay": delay})

    @classmethod
    def from_json(cls, body: object) -> Fault:
        """``{"name": ..., "params": {...}}`` → the scenario (``ValueError`` if invalid)."""
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ValueError('expected {"name": <scenario>, "params": {...}}')
        factory = SCENARIOS.get(body["name"])
        if factory is None:
            raise ValueError(
                f"unknown scenario {body['name']!r}; expected one of {list(SCENARIOS)}"
            )
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError("params must be an object")
        if "kinds" in params and isinstance(params["kinds"], list):
            params = {**params, "kinds": tuple(params["kinds"])}
        try:
            fault = factory(**params)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc
        assert isinstance(fault, Fault)
        return fault

    def to_json(self) -> JSON:
        """The admin API's representation."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}
        return {"name": self.name, "params": params}


#: Every named scenario → its constructor.
SCENARIOS: Mapping[str, Callable[..., Fault]] = {
    "drop_socket": Fault.drop_socket,
    "silent_socket": Fault.silent_socket,
    "duplicate_events": Fault.duplicate_events,
    "reorder_events": Fault.reorder_events,
    "delay_events": Fault.delay_events,
    "delay_snapshot": Fault.delay_snapshot,
    "omit_snapshot": Fault.omit_snapshot,
    "lose_order_response": Fault.lose_order_response,
    "rate_limit": Fault.rate_limit,
    "server_error": Fault.server_error,
    "reject_auth": Fault.reject_auth,
    "expire_session": Fault.expire_session,
    "malformed_frames": Fault.malformed_frames,
    "malformed_events": Fault.malformed_events,
    "slow_reader": Fault.slow_reader,
    "slow_writer": Fault.slow_writer,
}

_ONE_SHOT = frozenset({"drop_socket", "expire_session", "malformed_frames"})
_COUNTED = frozenset(
    {"lose_order_response", "rate_limit", "server_error", "reject_auth", "malformed_events"}
)


def _path_matches(armed: str | None, path: str) -> bool:
    return armed is None or armed == path


@attrs.frozen
class FiredFault:
    """A fault that acted: when (trio clock), which scenario, and on what (``method`` and
    ``path`` of a REST request; for ``malformed_events`` the event's type as ``path``)."""

    at: float
    name: str
    method: str
    path: str


def _spoil(text: str, kind: str) -> str:
    """The account event ``text`` made malformed the ``kind`` way."""
    if kind == "truncated":
        return text[: len(text) // 2]
    message = json.loads(text)
    message["payload"].pop("data", None)
    return json.dumps(message)


def _event_type(text: str) -> str:
    try:
        payload = json.loads(text).get("payload")
    except ValueError:
        return ""
    return str(payload.get("type", "")) if isinstance(payload, dict) else ""


class FaultController:
    """The armed faults of one simulator (``sim.faults``); used from the simulator's trio run."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._armed: dict[str, Fault] = {}
        self._remaining: dict[str, int | None] = {}
        self._nursery: trio.Nursery | None = None
        self._delay_send: trio.MemorySendChannel[tuple[float, HubSession, str]] | None = None
        self._held: dict[HubSession, list[str]] = {}
        self._hold_generation = 0
        self.history: list[FiredFault] = []
        """Every REST fault and spoiled event so far, in order (never cleared)."""

    # -- lifecycle (the simulator calls this once it runs) -----------------------------------

    def start(self, nursery: trio.Nursery) -> None:
        """Give the controller a nursery for delayed deliveries."""
        self._nursery = nursery
        send, receive = trio.open_memory_channel[tuple[float, "HubSession", str]](10_000)
        self._delay_send = send
        nursery.start_soon(self._delayed_delivery, receive)

    async def _delayed_delivery(
        self, receive: trio.MemoryReceiveChannel[tuple[float, HubSession, str]]
    ) -> None:
        async for due, session, text in receive:
            await trio.sleep_until(due)
            session.send_text(text)

    # -- the control API ---------------------------------------------------------------------

    async def apply(self, fault: Fault) -> None:
        """Arm ``fault`` (one-shot scenarios act at once and are not kept)."""
        log.info("sim.fault.applied", fault=fault.name, params=fault.to_json()["params"])
        params = fault.params
        if fault.name == "drop_socket":
            await self._hub.drop_connections(params["path"], CLOSE_DROPPED)
            return
        if fault.name == "expire_session":
            for session in self._hub.sessions(params["path"]):
                session.expire_now()
            return
        if fault.name == "malformed_frames":
            for session in self._hub.sessions(params["path"]):
                for kind in params["kinds"]:
                    session.send_raw(MALFORMED_FRAMES[kind])
            return
        self._armed[fault.name] = fault
        if fault.name in _COUNTED:
            self._remaining[fault.name] = params["count"]
        if fault.name == "silent_socket":
            for session in self._hub.sessions(params["path"]):
                session.silence()

    async def apply_all(self, faults: tuple[Fault, ...] | list[Fault]) -> None:
        """Apply several faults in order."""
        for fault in faults:
            await self.apply(fault)

    def clear(self, name: str | None = None) -> None:
        """Disarm one scenario (by name) or all; held reordered events are released."""
        names = list(self._armed) if name is None else [name]
        for n in names:
            self._armed.pop(n, None)
            self._remaining.pop(n, None)
        if name is None or name == "reorder_events":
            self._release_held()

    @property
    def active(self) -> list[Fault]:
        """The armed (persistent or counted) faults."""
        return list(self._armed.values())

    # -- queries used by the sessions, the hub and the middleware ---------------------------

    def _param(self, name: str, key: str) -> Any:
        fault = self._armed.get(name)
        return None if fault is None else fault.params.get(key)

    def _take(self, name: str) -> bool:
        """Consume one use of a counted fault; ``True`` if it fires."""
        if name not in self._armed:
            return False
        remaining = self._remaining.get(name)
        if remaining is not None:
            if remaining <= 1:
                self._armed.pop(name, None)
                self._remaining.pop(name, None)
            else:
                self._remaining[name] = remaining - 1
        return True

    def is_silent(self, path: str) -> bool:
        """Whether new sockets of ``path`` start silent."""
        return "silent_socket" in self._armed and _path_matches(
            self._param("silent_socket", "path"), path
        )

    def take_auth_rejection(self, path: str) -> bool:
        """Whether this ``/auth`` must be rejected (consumes one use)."""
        if "reject_auth" not in self._armed:
            return False
        if not _path_matches(self._param("reject_auth", "path"), path):
            return False
        return self._take("reject_auth")

    def reader_delay(self, path: str) -> float:
        """Seconds to wait before handling an inbound frame on ``path``."""
        if "slow_reader" in self._armed and _path_matches(self._param("slow_reader", "path"), path):
            return float(self._param("slow_reader", "delay"))
        return 0.0

    def writer_delay(self, path: str) -> float:
        """Seconds to wait before sending an outbound frame on ``path``."""
        if "slow_writer" in self._armed and _path_matches(self._param("slow_writer", "path"), path):
            return float(self._param("slow_writer", "delay"))
        return 0.0

    def snapshot_delay(self) -> float | None:
        """``None``: omit the snapshot; ``0``: send it now; else seconds to wait."""
        if "omit_snapshot" in self._armed:
            return None
        delay = self._param("delay_snapshot", "seconds")
        return 0.0 if delay is None else float(delay)

    def deliver_account_events(self, session: HubSession, texts: list[str]) -> None:
        """Hand one batch of serialized account events to ``session`` through the faults."""
        if "malformed_events" in self._armed:
            texts = [self._maybe_spoil(text) for text in texts]
        times = self._param("duplicate_events", "times")
        if times is not None:
            texts = [t for t in texts for _ in range(int(times))]
        if "reorder_events" in self._armed:
            texts = self._reorder(session, texts)
        delay = self._param("delay_events", "seconds")
        if delay is not None and self._delay_send is not None:
            due = trio.current_time() + float(delay)
            for text in texts:
                try:
                    self._delay_send.send_nowait((due, session, text))
                except trio.WouldBlock:
                    session.send_text(text)
            return
        for text in texts:
            session.send_text(text)

    def _maybe_spoil(self, text: str) -> str:
        fault = self._armed.get("malformed_events")
        if fault is None:
            return text
        wanted = fault.params.get("event_type")
        event_type = _event_type(text)
        if wanted is not None and event_type != wanted:
            return text
        if not self._take("malformed_events"):
            return text
        self.history.append(
            FiredFault(trio.current_time(), "malformed_events", "EVENT", event_type)
        )
        return _spoil(text, str(fault.params["kind"]))

    def _reorder(self, session: HubSession, texts: list[str]) -> list[str]:
        pending = self._held.pop(session, []) + texts
        out: list[str] = []
        while len(pending) >= 2:
            first, second = pending.pop(0), pending.pop(0)
            out += [second, first]
        if pending:
            self._held[session] = pending
            self._hold_generation += 1
            if self._nursery is not None:
                self._nursery.start_soon(self._release_later, self._hold_generation)
        return out

    async def _release_later(self, generation: int) -> None:
        await trio.sleep(REORDER_HOLD_SECONDS)
        if generation == self._hold_generation:
            self._release_held()

    def _release_held(self) -> None:
        held, self._held = self._held, {}
        for session, texts in held.items():
            for text in texts:
                session.send_text(text)

    # -- REST ---------------------------------------------------------------------------------

    def rest_fault(self, method: str, path: str) -> tuple[str, Fault] | None:
        """The REST fault that fires for this request, if any (consumes one use)."""
        for name in ("rate_limit", "server_error"):
            fault = self._armed.get(name)
            if fault is None or not _path_matches(fault.params.get("path"), path):
                continue
            if self._take(name):
                self.history.append(FiredFault(trio.current_time(), name, method, path))
                return name, fault
        if method == "POST" and path == PLACE_ORDER_PATH and "lose_order_response" in self._armed:
            fault = self._armed["lose_order_response"]
            if self._take("lose_order_response"):
                self.history.append(
                    FiredFault(trio.current_time(), "lose_order_response", method, path)
                )
                return "lose_order_response", fault
        return None


# ---------------------------------------------------------------------------------------------
# ASGI middleware: REST faults and the admin path
# ---------------------------------------------------------------------------------------------


def _is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(str(client[0]).split("%")[0]).is_loopback
    except ValueError:
        return False


async def _send_json(
    send: Send, status: int, body: object, headers: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _error_body(status: int, code: str, description: str) -> JSON:
    # §8.11 envelope (same as engine.sim._messages.http_error).
    return {
        "error": description,
        "codes": [{"code": code, "description": description}],
        "metadata": {},
    }


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


class FaultMiddleware:
    """Wraps the simulator's ASGI app: REST faults and ``/_sim/faults``."""

    def __init__(self, app: ASGIApp, faults: FaultController) -> None:
        self._app = app
        self._faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        method = str(scope.get("method", "GET")).upper()
        if path == FAULTS_ADMIN_PATH:
            await self._admin(scope, receive, send, method)
            return
        fired = self._faults.rest_fault(method, path)
        if fired is None:
            await self._app(scope, receive, send)
            return
        kind, fault = fired
        log.info("sim.fault.rest", fault=kind, method=method, path=path)
        if kind == "rate_limit":
            retry_after = str(fault.params["retry_after"]).encode()
            body = _error_body(429, "RATE_LIMITED", "too many requests")
            await _read_body(receive)
            await _send_json(send, 429, body, [(b"retry-after", retry_after)])
        elif kind == "server_error":
            status = int(fault.params["status"])
            if fault.params.get("processed"):  # carried out; the answer lost to the error
                await self._app(scope, receive, _swallow)
            else:
                await _read_body(receive)
            await _send_json(send, status, _error_body(status, "SERVER_ERROR", "server error"), [])
        else:  # lose_order_response: let the order through, swallow the answer, never reply
            await self._app(scope, receive, _swallow)
            while (await receive())["type"] != "http.disconnect":
                pass

    async def _admin(self, scope: Scope, receive: Receive, send: Send, method: str) -> None:
        if not _is_loopback(scope):
            await _read_body(receive)
            await _send_json(send, 403, _error_body(403, "FORBIDDEN", "loopback only"), [])
            return
        if method == "GET":
            await _send_json(send, 200, {"faults": [f.to_json() for f in self._faults.active]}, [])
        elif method == "DELETE":
            self._faults.clear()
            await _send_json(send, 200, {"faults": []}, [])
        elif method == "POST":
            raw = await _read_body(receive)
            try:
                fault = Fault.from_json(json.loads(raw or b"null"))
            except ValueError as exc:
                await _send_json(send, 400, _error_body(400, "INVALID_FIELD", str(exc)), [])
                return
            await self._faults.apply(fault)
            await _send_json(send, 200, {"applied": fault.to_json()}, [])
        else:
            await _send_json(
                send, 405, _error_body(405, "METHOD_NOT_ALLOWED", f"{method} not allowed"), []
            )


async def _swallow(message: MutableMapping[str, Any]) -> None:
    await trio.lowlevel.checkpoint()
