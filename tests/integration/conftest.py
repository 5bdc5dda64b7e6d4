"""Running the whole engine against the built-in simulator over real loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from engine.app import EngineHandle, run_engine
from engine.bus import Subscription
from engine.config import EngineConfig, parse_config
from engine.hooks.manager import LoadedPlugin, load_plugins
from engine.model import Event

FAST_SIMULATION: dict[str, Any] = {
    "simulator": {
        "tick_interval": 0.02,
        "symbols": ["AAPL", "MSFT"],
        "accounts": [{"account_id": "SIM-001", "cash": "100000"}],
    },
    "connection": {"backoff_initial": 0.05, "backoff_cap": 0.2},
    "market": {"symbols": ["AAPL"]},
    "accounts": [{"id": "SIM-001"}],
    "plugins": [{"name": "buying-power", "path": "plugins.buying_power:BuyingPowerCheck"}],
    "journal": {"enabled": False},  # a test that wants one gives it a tmp_path
}


@pytest.fixture
def virtual_clock() -> trio.testing.MockClock:
    """Virtual time for real-socket tests: jumps only after 10 ms of real idleness, so a frame
    in flight on loopback is never overtaken by a timer (pytest-trio uses any Clock fixture)."""
    return trio.testing.MockClock(autojump_threshold=0.01)


def engine_config(**overrides: Any) -> EngineConfig:
    """The fast test configuration, with top-level sections replaced by ``overrides``."""
    return parse_config({**FAST_SIMULATION, **overrides}, source="test")


@asynccontextmanager
async def running_engine(
    config: EngineConfig, *extra: tuple[str, object]
) -> AsyncIterator[EngineHandle]:
    """Start the engine (and its in-process simulator) with extra strategy objects registered."""
    pm, plugins = load_plugins(config, entry_points=False)
    account_ids = tuple(a.id for a in config.accounts)
    for name, obj in extra:
        pm.register(obj, name=name)
        plugins.append(LoadedPlugin(name=name, kind="strategy", obj=obj, accounts=account_ids))
    pm.check_pending()
    async with trio.open_nursery() as nursery:
        with trio.fail_after(15):
            handle: EngineHandle = await nursery.start(partial(run_engine, config, pm, plugins))
        try:
            yield handle
        finally:
            handle.stop()


async def wait_for(
    subscription: Subscription, predicate: Callable[[Event], bool], *, seen: list[Event]
) -> Event:
    """Receive from ``subscription`` (recording into ``seen``) until an event matches."""
    while True:
        for event in await subscription.receive_batch():
            seen.append(event)
            if predicate(event):
                return event
