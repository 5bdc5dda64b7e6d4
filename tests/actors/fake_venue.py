"""A scripted stand-in for an Aries socket, for supervisor tests on trio's virtual clock.

``FakeVenue.open_websocket`` is passed to ``ConnectionSupervisor(open_websocket=...)``. Each
connection is a ``FakeSocket`` that answers ``/auth``, ``subscribe`` and ``ping`` with the
canonical frames of ARIES.md (unless told not to), records what the client sent and when, and
lets the test push frames or close the socket.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio_websocket

SNAPSHOT_ACCOUNT = {
    "accountId": "ACC-001",
    "accountType": "MARGIN",
    "stockBuyingPower": "125000.50",
    "netBuyingPower": "125000.50",
    "totalEquity": "250000.00",
    "pendingOrdersCount": 0,
}


def auth_success(request_id: str) -> str:
    return json.dumps(
        {
            "type": "event",
            "id": request_id,
            "payload": {
                "action": "authSuccess",
                "id": request_id,
                "data": {"expiresIn": 3900000, "expiresAt": 1768491000000},
                "timestamp": 1768487100000,
            },
        }
    )


def error(request_id: str, code: str) -> str:
    return json.dumps(
        {
            "type": "error",
            "id": request_id,
            "payload": {"action": "error", "code": code, "error": code.lower(), "id": request_id},
            "timestamp": "2026-01-15T14:30:00Z",
        }
    )


def subscribed(request_id: str, account_id: str) -> str:
    return json.dumps(
        {
            "type": "subscribed",
            "id": request_id,
            "topic": "account",
            "params": {"accountId": account_id},
            "payload": {
                "account": {**SNAPSHOT_ACCOUNT, "accountId": account_id},
                "positions": [],
                "orders": [],
                "ordersV2": [],
            },
            "timestamp": "2026-01-15T14:30:00.500Z",
        }
    )


def order_event(account_id: str, status: str, cum_qty: str) -> str:
    return json.dumps(
        {
            "type": "event",
            "topic": "account",
            "payload": {
                "action": "update",
                "type": "account.order",
                "accountId": account_id,
                "data": {
                    "clOrdId": "CL-1",
                    "ordId": "ord-1",
                    "accountId": account_id,
                    "symbol": "AAPL",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "DAY",
                    "qty": "100",
                    "price": "175.50",
                    "stopPrice": "",
                    "ordStatus": status,
                    "cumQty": cum_qty,
                    "leavesQty": str(100 - int(cum_qty)),
                    "avgPrice": "175.50",
                    "securityType": "EQUITY",
                    "legs": [],
                    "createdAt": "2026-01-15T14:30:00Z",
                    "updatedAt": "2026-01-15T14:30:07Z",
                },
            },
            "timestamp": "2026-01-15T14:30:07Z",
        }
    )


def market_event(kind: str, data: dict[str, Any]) -> str:
    payload = {"action": "update", "type": kind, "data": data, "timestamp": 1768488301123}
    return json.dumps({"type": "event", "payload": payload})


REFRESH_AUTH = json.dumps(
    {
        "type": "event",
        "payload": {
            "action": "refreshAuth",
            "data": {"expiresIn": 300000, "expiresAt": 1768491000000},
            "timestamp": 1768490700000,
        },
    }
)


@attrs.define(eq=False)
class FakeSocket:
    """One fake connection."""

    venue: FakeVenue
    opened_at: float
    sent: list[tuple[float, dict[str, Any]]] = attrs.field(factory=list)
    _send: trio.MemorySendChannel[str] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[str] = attrs.field(init=False)
    _changed: trio.Event = attrs.field(factory=trio.Event)
    closed: bool = False

    def __attrs_post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[str](100)

    async def send_message(self, text: str) -> None:
        if self.closed:
            raise trio_websocket.ConnectionClosed(None)
        message = json.loads(text)
        self.sent.append((trio.current_time(), message))
        self._changed.set()
        self._changed = trio.Event()
        step = self.venue.hang_up_at[0] if self.venue.hang_up_at else None
        kind = message.get("type")
        if (step == "on_auth" and kind == "request") or (
            step == "on_subscribe" and kind == "subscribe"
        ):
            self.venue.hang_up_at.pop(0)
            self.close()
            return
        for reply in self.venue.answer(message):
            await self.push(reply)
        if step == "after_auth" and kind == "request":
            self.venue.hang_up_at.pop(0)
            self.close()

    async def get_message(self) -> str:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise trio_websocket.ConnectionClosed(None) from None

    async def push(self, frame: str) -> None:
        """Deliver a frame to the client."""
        await self._send.send(frame)

    def close(self) -> None:
        """The venue hangs up (or the client closed): the next receive raises ConnectionClosed."""
        self.closed = True
        self._send.close()

    async def wait_sent(self, predicate: Callable[[list[dict[str, Any]]], bool]) -> None:
        """Wait until what the client sent satisfies ``predicate``."""
        while not predicate([m for _, m in self.sent]):
            await self._changed.wait()

    def sent_of_type(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, m in self.sent if m.get("type") == kind]


@attrs.define(eq=False)
class FakeVenue:
    """Hands out FakeSockets; ``refuse`` connection attempts fail with OSError first."""

    refuse: int = 0
    answer_pings: bool = True
    auth_error: str | None = None
    subscribe_error: str | None = None
    refused_accounts: frozenset[str] | None = None  # subscribe_error for these only (None: all)
    valid_tokens: set[str] | None = None
    warn_before_ack: bool = False  # a refreshAuth warning just before the subscribe ack
    hang_up_at: list[str] = attrs.field(
        factory=list
    )  # on_connect, on_auth, after_auth, on_subscribe
    overlapping: int = 0  # sockets still open when a new one was dialled (must stay 0)
    attempts: list[float] = attrs.field(factory=list)
    sockets: list[FakeSocket] = attrs.field(factory=list)
    _changed: trio.Event = attrs.field(factory=trio.Event)

    @asynccontextmanager
    async def open_websocket(self, url: str) -> AsyncIterator[FakeSocket]:
        await trio.lowlevel.checkpoint()
        self.attempts.append(trio.current_time())
        self._notify()
        if self.refuse > 0 or self.hang_up_at[:1] == ["on_connect"]:
            if self.refuse > 0:
                self.refuse -= 1
            else:
                self.hang_up_at.pop(0)
            raise OSError(111, "Connection refused")
        self.overlapping += sum(1 for s in self.sockets if not s.closed)
        socket = FakeSocket(self, trio.current_time())
        self.sockets.append(socket)
        self._notify()
        try:
            yield socket
        finally:
            socket.close()

    def answer(self, message: dict[str, Any]) -> list[str]:
        kind, request_id = message.get("type"), message.get("id", "")
        if kind == "request" and message["payload"]["path"] == "/auth":
            token = message["payload"]["body"]["token"]
            if self.auth_error or (
                self.valid_tokens is not None and token not in self.valid_tokens
            ):
                return [error(request_id, self.auth_error or "INVALID_TOKEN")]
            return [auth_success(request_id)]
        if kind == "subscribe" and self.subscribe_error:
            account = message.get("params", {}).get("accountId")
            if self.refused_accounts is None or account in self.refused_accounts:
                return [error(request_id, self.subscribe_error)]
        if kind == "subscribe" and "params" not in message:  # the market socket
            symbols = [item["symbol"] for item in message["payload"]]
            return [
                json.dumps(
                    {"type": "subscribed", "id": request_id, "payload": {"symbols": symbols}}
                )
            ]
        if kind == "subscribe" and self.warn_before_ack:
            return [REFRESH_AUTH, subscribed(request_id, message["params"]["accountId"])]
        if kind == "subscribe":
            return [subscribed(request_id, message["params"]["accountId"])]
        if kind == "ping" and self.answer_pings:
            return [
                json.dumps({"type": "pong", "id": request_id, "timestamp": "2026-01-15T14:30:30Z"})
            ]
        return []

    async def wait_attempts(self, count: int) -> None:
        while len(self.attempts) < count:
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
