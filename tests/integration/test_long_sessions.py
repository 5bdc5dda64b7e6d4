"""Days of sessions in seconds: the engine and the simulator over real loopback sockets, on a
virtual clock that jumps ahead only when everything is idle for a few real milliseconds (so a
frame in flight on loopback is never overtaken by a timer)."""

from __future__ import annotations

from collections import Counter

import pytest
import trio
import trio.testing

from engine.model import ConnectionState, ConnectionStateChanged, Endpoint, Event
from tests.integration.conftest import engine_config, running_engine

SIX_HOURS = 6 * 3600.0
SESSION = 3900.0  # the brief's 65 minutes, the simulator's default


@pytest.fixture
def virtual_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.01)


async def test_six_virtual_hours_of_65_minute_sessions_without_a_gap(
    virtual_clock: trio.testing.MockClock,
) -> None:
    config = engine_config(simulator={"tick_interval": 30.0, "symbols": ["AAPL"]})
    seen: list[Event] = []
    async with running_engine(config) as engine:
        states = engine.bus.subscribe("test", accepts=(ConnectionStateChanged,))
        start = trio.current_time()
        with trio.move_on_at(start + SIX_HOURS):
            while True:
                seen += await states.receive_batch()
        elapsed = trio.current_time() - start
        connections = {c.handler.endpoint: c.statistics() for c in engine.connections}

    assert elapsed == pytest.approx(SIX_HOURS)
    changes = [e for e in seen if isinstance(e, ConnectionStateChanged)]
    warnings = Counter(e.endpoint for e in changes if e.state is ConnectionState.REFRESH_WARNING)
    expected_warnings = int(SIX_HOURS // SESSION)  # one 5 minutes before each 65-minute mark
    for endpoint in (Endpoint.ACCOUNTS, Endpoint.MARKET):
        stats = connections[endpoint]
        assert stats.connects == 1, f"{endpoint} reconnected: {stats.last_error}"
        assert stats.state is ConnectionState.SUBSCRIBED
        assert warnings[endpoint] >= expected_warnings
        # Every warning was answered in place: back to SUBSCRIBED, never EXPIRED or DISCONNECTED.
        path = [e.state for e in changes if e.endpoint is endpoint]
        assert set(path) == {ConnectionState.REFRESH_WARNING, ConnectionState.SUBSCRIBED}
        assert path.count(ConnectionState.SUBSCRIBED) == warnings[endpoint]
