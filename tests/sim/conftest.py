"""Fixtures of the simulator tests: a running simulator on 127.0.0.1, port chosen by the OS."""

from __future__ import annotations

import pytest
import trio

from engine.sim import SimEndpoints, Simulator
from tests.sim.helpers import start_sim


@pytest.fixture
async def sim(nursery: trio.Nursery) -> Simulator:
    """A simulator with the default config and a fast market (ticks every 20 ms)."""
    return await start_sim(nursery)


@pytest.fixture
def endpoints(sim: Simulator) -> SimEndpoints:
    """Where ``sim`` listens."""
    return sim.endpoints
