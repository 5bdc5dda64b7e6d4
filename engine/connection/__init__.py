"""Connections to the Aries WebSockets: the supervisor, endpoint handlers, token providers."""

from engine.connection.handlers import (
    AccountsHandler,
    ChartsHandler,
    EndpointHandler,
    MarketHandler,
)
from engine.connection.session import SessionFailedError, SessionRefresher, SessionStatistics
from engine.connection.supervisor import (
    ConnectionStatistics,
    ConnectionSupervisor,
    open_venue_websocket,
)
from engine.connection.tokens import (
    IssuedToken,
    OAuthRefreshSource,
    RefreshTokenStore,
    StaticTokenProvider,
    StaticTokenSource,
    TokenProvider,
    TokenSource,
)

__all__ = [
    "AccountsHandler",
    "ChartsHandler",
    "ConnectionStatistics",
    "ConnectionSupervisor",
    "EndpointHandler",
    "IssuedToken",
    "MarketHandler",
    "OAuthRefreshSource",
    "RefreshTokenStore",
    "SessionFailedError",
    "SessionRefresher",
    "SessionStatistics",
    "StaticTokenProvider",
    "StaticTokenSource",
    "TokenProvider",
    "TokenSource",
    "open_venue_websocket",
]
