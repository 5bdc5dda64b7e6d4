"""The built-in Aries simulator: a real server on loopback that speaks the canonical protocol.

REST (orders: place, cancel, replace, preview; account reads: balances, positions, v2 orders and
history, user accounts; OAuth2 authorize/confirm/token) and the accounts, market and charts
WebSockets share one host:port. Several users (``SimUser``) each own their accounts. The
simulator keeps per-account truth (orders, positions, Reg-T-style balances), matches orders
against a seeded random-walk market, enforces the socket rules (auth window, session expiry with
refresh warning, error codes, ping/pong, idle drop) and offers fault injection
(``drop_connections``). Every INFERRED protocol choice lives in
``engine.sim._profile`` (values) or ``engine.sim._messages`` (shapes).

    sim = Simulator(SimConfig(tick_interval=0.02))
    endpoints = await nursery.start(sim.run)
"""

from engine.sim._config import SimAccount as SimAccount
from engine.sim._config import SimConfig as SimConfig
from engine.sim._config import SimPosition as SimPosition
from engine.sim._config import SimUser as SimUser
from engine.sim._hub import SimStatistics as SimStatistics
from engine.sim._server import SimEndpoints as SimEndpoints
from engine.sim._server import Simulator as Simulator
from engine.sim._standalone import run_standalone as run_standalone

__all__ = [
    "SimAccount",
    "SimConfig",
    "SimEndpoints",
    "SimPosition",
    "SimStatistics",
    "SimUser",
    "Simulator",
    "run_standalone",
]
