"""Connections to the Aries WebSockets: the supervisor, endpoint handlers, token providers."""

from engine.connection.handlers import AccountsHandler, EndpointHandler, MarketHandler
from engine.connection.supervisor import ConnectionStatistics, ConnectionSupervisor
from engine.connection.tokens import StaticTokenProvider, TokenProvider

__all__ = [
    "AccountsHandler",
    "ConnectionStatistics",
    "ConnectionSupervisor",
    "EndpointHandler",
    "MarketHandler",
    "StaticTokenProvider",
    "TokenProvider",
]
