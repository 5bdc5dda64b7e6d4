"""The Starlette application: REST routes and the three WebSocket routes on one host:port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from engine.sim._core import SimCore
from engine.sim._profile import (
    ACCOUNTS_WS_PATH,
    BALANCES_PATH,
    CANCEL_ORDER_PATH,
    CHARTS_WS_PATH,
    MARKET_WS_PATH,
    OAUTH_AUTHORIZE_PATH,
    OAUTH_CONFIRM_PATH,
    OAUTH_TOKEN_PATH,
    ORDERS_HISTORY_PATH,
    ORDERS_V2_PATH,
    PLACE_ORDER_PATH,
    POSITIONS_PATH,
    PREVIEW_ORDER_PATH,
    REPLACE_ORDER_PATH,
    USER_ACCOUNTS_PATH,
)
from engine.sim._rest import RestHandlers, method_not_allowed, not_found
from engine.sim._sessions import (
    AccountsSession,
    ChartsSession,
    MarketSession,
    Session,
    Transport,
    TransportClosedError,
)


@attrs.define(eq=False)
class StarletteTransport:
    """``Transport`` over a Starlette ``WebSocket`` (ASGI messages, served by hypercorn)."""

    websocket: WebSocket

    async def accept(self) -> None:
        """Complete the handshake."""
        try:
            await self.websocket.accept()
        except WebSocketDisconnect as exc:
            raise TransportClosedError(f"client left during the handshake ({exc.code})") from exc

    async def receive(self) -> str | None:
        """The next text frame (binary frames decoded as UTF-8); ``None`` once the client closed."""
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        data = message.get("bytes") or b""
        return bytes(data).decode("utf-8", errors="replace")

    async def send(self, text: str) -> None:
        """Send one text frame."""
        if self.websocket.application_state != WebSocketState.CONNECTED:
            raise TransportClosedError("socket already closed")
        try:
            await self.websocket.send({"type": "websocket.send", "text": text})
        except WebSocketDisconnect as exc:
            raise TransportClosedError(f"peer gone ({exc.code})") from exc

    async def close(self, code: int) -> None:
        """Send a close frame (once)."""
        if self.websocket.application_state != WebSocketState.CONNECTED:
            return
        try:
            await self.websocket.send({"type": "websocket.close", "code": code})
        except WebSocketDisconnect as exc:
            raise TransportClosedError(f"peer gone ({exc.code})") from exc


def _socket_endpoint(
    core: SimCore, factory: Callable[[SimCore, Transport], Session]
) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(websocket: WebSocket) -> None:
        await factory(core, StarletteTransport(websocket)).serve()

    return endpoint


def build_app(core: SimCore) -> Starlette:
    """The ASGI app of one simulator."""
    rest = RestHandlers(core)
    return Starlette(
        routes=[
            Route(PLACE_ORDER_PATH, rest.place_order, methods=["POST"]),
            Route(CANCEL_ORDER_PATH, rest.cancel_order, methods=["POST"]),
            Route(REPLACE_ORDER_PATH, rest.replace_order, methods=["POST"]),
            Route(PREVIEW_ORDER_PATH, rest.preview_order, methods=["POST"]),
            Route(BALANCES_PATH, rest.balances, methods=["GET"]),
            Route(POSITIONS_PATH, rest.positions, methods=["GET"]),
            Route(ORDERS_HISTORY_PATH, rest.orders_history, methods=["GET"]),
            Route(ORDERS_V2_PATH, rest.orders_v2, methods=["GET"]),
            Route(USER_ACCOUNTS_PATH, rest.user_accounts, methods=["GET"]),
            Route(OAUTH_TOKEN_PATH, rest.oauth_token, methods=["POST"]),
            Route(OAUTH_AUTHORIZE_PATH, rest.oauth_authorize, methods=["POST"]),
            Route(OAUTH_CONFIRM_PATH, rest.oauth_confirm, methods=["POST"]),
            WebSocketRoute(ACCOUNTS_WS_PATH, _socket_endpoint(core, AccountsSession)),
            WebSocketRoute(MARKET_WS_PATH, _socket_endpoint(core, MarketSession)),
            WebSocketRoute(CHARTS_WS_PATH, _socket_endpoint(core, ChartsSession)),
        ],
        exception_handlers={404: not_found, 405: method_not_allowed},
    )
