"""Helpers for the simulator tests: a line-splitting WebSocket client and REST shortcuts."""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from engine.sim import SimAccount, SimConfig, SimEndpoints, Simulator
from engine.sim._ledger import Ledger
from engine.sim._market import MarketModel
from engine.sim._requests import OrderRequest
from engine.sim._vocab import OrderType, Side

JSON = dict[str, Any]

ACCOUNTS = "/v1/accounts/ws"
MARKET = "/v1/market/ws"
CHARTS = "/v1/charts/ws"
TOKEN = SimConfig().token

#: Every test bounds its waits with this (seconds).
WAIT = 5.0


def auth_request(token: str = TOKEN, request_id: str = "auth-1", *, action: bool = True) -> JSON:
    """The §0.2 row 1 auth request (``action`` optional, as the accounts docs show)."""
    body: JSON = {"action": "auth", "token": token} if action else {"token": token}
    return {
        "type": "request",
        "id": request_id,
        "payload": {"method": "post", "path": "/auth", "body": body},
    }


class SimClient:
    """A WebSocket client that splits NDJSON frames and hands out one message at a time."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self._pending: deque[JSON] = deque()

    async def send(self, message: JSON) -> None:
        """Send one JSON message."""
        await self.ws.send_message(json.dumps(message))

    async def send_raw(self, text: str) -> None:
        """Send a raw text frame."""
        await self.ws.send_message(text)

    async def recv(self) -> JSON:
        """The next message (frames are split on newlines)."""
        while not self._pending:
            frame = await self.ws.get_message()
            assert isinstance(frame, str)
            self.frames.append(frame)
            for line in frame.split("\n"):
                if line.strip():
                    self._pending.append(json.loads(line))
        return self._pending.popleft()

    async def recv_until(self, predicate: Callable[[JSON], bool]) -> JSON:
        """Skip messages until one matches ``predicate``; return it."""
        while True:
            message = await self.recv()
            if predicate(message):
                return message

    async def auth(self, token: str = TOKEN, request_id: str = "auth-1") -> JSON:
        """Authenticate and return the ``authSuccess`` (or error) reply."""
        await self.send(auth_request(token, request_id))
        return await self.recv_until(lambda m: m.get("type") in ("event", "error"))

    async def wait_closed(self) -> int | None:
        """Read until the server closes the socket; return the close code."""
        try:
            while True:
                await self.recv()
        except ConnectionClosed as closed:
            return None if closed.reason is None else closed.reason.code


@asynccontextmanager
async def connect(endpoints: SimEndpoints, path: str) -> AsyncIterator[SimClient]:
    """Open a client socket on ``path`` of a running simulator."""
    async with open_websocket_url(endpoints.ws_base + path) as ws:
        yield SimClient(ws)


@asynccontextmanager
async def authed(endpoints: SimEndpoints, path: str) -> AsyncIterator[SimClient]:
    """Open and authenticate a client socket (the market socket's ``marketStatus`` stays queued)."""
    async with connect(endpoints, path) as client:
        reply = await client.auth()
        assert reply["payload"]["action"] == "authSuccess", reply
        yield client


def is_action(action: str) -> Callable[[JSON], bool]:
    """Predicate: an event whose ``payload.action`` is ``action``."""
    return lambda m: isinstance(m.get("payload"), dict) and m["payload"].get("action") == action


def is_account_event(kind: str, status: str | None = None) -> Callable[[JSON], bool]:
    """Predicate: an accounts-socket event of ``payload.type`` ``kind`` (and ``ordStatus``)."""

    def check(message: JSON) -> bool:
        payload = message.get("payload")
        if message.get("type") != "event" or not isinstance(payload, dict):
            return False
        if payload.get("type") != kind:
            return False
        return status is None or payload["data"].get("ordStatus") == status

    return check


async def start_sim(nursery: trio.Nursery, config: SimConfig | None = None) -> Simulator:
    """Start a simulator in ``nursery`` and return it once listening."""
    sim = Simulator(config if config is not None else SimConfig(tick_interval=0.02))
    await nursery.start(sim.run)
    return sim


async def issue_token(endpoints: SimEndpoints, email: str, password: str = "sim-password") -> JSON:
    """The OAuth2 code flow over plain HTTP (§7.3, §7.4): authorize, confirm, token."""
    client = {"client_id": "sim-client", "client_secret": "sim-secret"}
    redirect = "http://127.0.0.1/callback"
    async with rest(endpoints, token=None) as http:
        step = await http.post(
            "/v1/oauth2/authorize",
            json={"client_id": "sim-client", "email": email, "password": password,
                  "redirect_uri": redirect, "response_type": "code"},
        )  # fmt: skip
        assert step.status_code == 200, step.text
        confirm = await http.post(
            "/v1/oauth2/authorize/confirm",
            json={"next_step_auth_id": step.json()["next_step_auth_id"]},
        )
        token = await http.post(
            "/v1/oauth2/token",
            json={"grant_type": "authorization_code", "code": confirm.json()["code"],
                  "redirect_uri": redirect, **client},
        )  # fmt: skip
        assert token.status_code == 200, token.text
        tokens: JSON = token.json()
        return tokens


def rest(endpoints: SimEndpoints, token: str | None = TOKEN) -> httpx.AsyncClient:
    """An httpx client on the simulator's REST base (bearer token unless ``None``)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.AsyncClient(base_url=endpoints.rest_base, headers=headers)


def order_body(**overrides: Any) -> JSON:
    """A valid market buy of 100 AAPL for SIM-001, with ``overrides`` applied (``None`` drops)."""
    body: JSON = {
        "tradingAccountId": "SIM-001",
        "symbol": "AAPL",
        "side": "BUY",
        "type": "MARKET",
        "qty": "100",
        "timeInForce": "DAY",
        "clientId": "client-1",
    }
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


# -- the pure ledger -------------------------------------------------------------------------

LEDGER_NOW = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)


def ledger_setup(
    *accounts: SimAccount, touch_size: int | None = None
) -> tuple[Ledger, MarketModel]:
    """A ledger over AAPL 99.99/100.01 and MSFT 399.98/400.02 (account ``A1`` by default);
    ``touch_size`` fixes the AAPL touch size (MSFT gets ``touch_size + 200``)."""
    market = MarketModel(("AAPL", "MSFT"), random.Random(1))
    msft_size = None if touch_size is None else touch_size + 200
    market.force_quote(
        "AAPL", bid=Decimal("99.99"), ask=Decimal("100.01"),
        bid_size=touch_size, ask_size=touch_size,
    )  # fmt: skip
    market.force_quote(
        "MSFT", bid=Decimal("399.98"), ask=Decimal("400.02"),
        bid_size=msft_size, ask_size=msft_size,
    )  # fmt: skip
    accounts = accounts or (SimAccount(account_id="A1"),)
    return Ledger(accounts, market, opened_at=LEDGER_NOW), market


def order_request(**overrides: Any) -> OrderRequest:
    """A market buy of 100 AAPL DAY for ``A1``, with ``overrides``."""
    fields: dict[str, Any] = {
        "account_id": "A1",
        "symbol": "AAPL",
        "side": Side.BUY,
        "type": OrderType.MARKET,
        "qty": Decimal(100),
        "time_in_force": "DAY",
        "client_id": "c-1",
    }
    fields.update(overrides)
    return OrderRequest(**fields)
