"""Test helpers for plugin authors: the built-in simulator in one ``async with``, faults, and
``StrategyHarness`` (unit-test a strategy or risk plugin without sockets; see
``engine.testing.harness``).

    from engine.testing import Fault, open_simulator

    async def test_my_plugin_survives_a_silent_feed() -> None:
        async with open_simulator(faults=[Fault.silent_socket("/v1/market/ws")]) as sim:
            ...  # point the engine at sim.endpoints and assert on what the plugin saw

Every fault is a named scenario (``SCENARIOS`` maps the names to the ``Fault`` constructors);
apply more while the simulator runs with ``await sim.faults.apply(Fault.rate_limit(count=3))``
and disarm them with ``sim.faults.clear()``. A standalone simulator (``aries-engine sim``)
takes the same scenarios over HTTP from loopback: ``POST /_sim/faults`` with
``{"name": "rate_limit", "params": {"count": 3}}``, ``GET`` lists, ``DELETE`` clears.

Scenarios: ``drop_socket``, ``silent_socket``, ``duplicate_events``, ``reorder_events``,
``delay_events``, ``delay_snapshot``, ``omit_snapshot``, ``lose_order_response``, ``rate_limit``,
``server_error``, ``reject_auth``, ``expire_session``, ``malformed_frames``, ``slow_reader``,
``slow_writer`` (see ``engine.sim._faults`` for what each does). Faults given to
``open_simulator`` are armed before any client connects, so one-shot scenarios
(``drop_socket``, ``expire_session``, ``malformed_frames``) belong in ``sim.faults.apply`` later.

Network faults between the engine and the simulator (latency and jitter, bandwidth, slicing,
reset, black hole, timeout) come from ``FaultProxy``, a loopback TCP proxy switched during the
test (``open_fault_proxy``; see ``engine.testing.proxy``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime

import trio

from engine.sim import SimConfig, SimEndpoints, Simulator
from engine.sim._faults import SCENARIOS, Fault, FaultController
from engine.testing.harness import Commands, PluginRaised, StrategyHarness, account_view
from engine.testing.proxy import (
    Direction,
    FaultProxy,
    LinkSettings,
    ProxyConnection,
    ProxyMode,
    ProxyStatistics,
    Trigger,
    open_fault_proxy,
)

__all__ = [
    "SCENARIOS",
    "Commands",
    "Direction",
    "Fault",
    "FaultController",
    "FaultProxy",
    "LinkSettings",
    "PluginRaised",
    "ProxyConnection",
    "ProxyMode",
    "ProxyStatistics",
    "SimConfig",
    "SimEndpoints",
    "Simulator",
    "StrategyHarness",
    "Trigger",
    "account_view",
    "open_fault_proxy",
    "open_simulator",
]


@asynccontextmanager
async def open_simulator(
    config: SimConfig | None = None,
    *,
    faults: Iterable[Fault] = (),
    now: Callable[[], datetime] | None = None,
) -> AsyncIterator[Simulator]:
    """Run a simulator on 127.0.0.1 (a free port) for the body of the ``async with``.

    ``faults`` are armed before the first client can connect. The simulator stops on exit.
    """
    async with trio.open_nursery() as nursery:
        sim = Simulator(config if config is not None else SimConfig(), now=now)
        await nursery.start(sim.run)
        await sim.faults.apply_all(list(faults))
        try:
            yield sim
        finally:
            nursery.cancel_scope.cancel()
