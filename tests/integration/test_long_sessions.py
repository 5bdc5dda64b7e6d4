"""Days of sessions in seconds: the engine and the simulator over real loopback sockets, on a
virtual clock that jumps ahead only when everything is idle for a few real milliseconds (so a
frame in flight on loopback is never overtaken by a timer)."""

from __future__ import annotations

import stat
from collections import Counter
from pathlib import Path

import pytest
import trio
import trio.testing

from engine.model import ConnectionState, ConnectionStateChanged, Endpoint, Event
from engine.sim import SimConfig
from engine.testing import open_simulator
from tests.integration.conftest import engine_config, running_engine
from tests.sim.helpers import issue_token

SIX_HOURS = 6 * 3600.0
SESSION = 3900.0  # the brief's 65 minutes, the simulator's default


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


async def test_six_virtual_hours_on_oauth_tokens_that_expire_every_hour(
    virtual_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = tmp_path / "refresh-token"
    sim_config = SimConfig(tick_interval=30.0, symbols=("AAPL",), access_token_ttl=3600.0)
    async with open_simulator(sim_config) as sim:
        issued = await issue_token(sim.endpoints, "sim-user@sim.invalid")
        first_refresh_token = issued["refresh_token"]
        monkeypatch.setenv("TEST_CLIENT_SECRET", sim_config.oauth_client_secret)
        monkeypatch.setenv("TEST_REFRESH_TOKEN", first_refresh_token)
        config = engine_config(
            venue={
                "kind": "aries",
                "rest_base": sim.endpoints.rest_base,
                "ws_base": sim.endpoints.ws_base,
                "oauth": {
                    "client_id": sim_config.oauth_client_id,
                    "client_secret_env": "TEST_CLIENT_SECRET",
                    "refresh_token_env": "TEST_REFRESH_TOKEN",
                    "refresh_token_store": str(store),
                },
            },
            market={"enabled": False},
        )
        async with running_engine(config) as engine:
            start = trio.current_time()
            await trio.sleep_until(start + SIX_HOURS)  # let six virtual hours pass
            [accounts] = engine.connections
            stats = accounts.statistics()
            session = engine.session.statistics()

    # Tokens live an hour: they were refreshed ahead of expiry, rotated and persisted, and the
    # socket re-authenticated in place each time instead of expiring.
    assert session.refreshes >= 6  # hourly tokens over six hours (plus refreshAuth warnings)
    assert session.failures == 0
    assert stats.connects == 1, stats.last_error
    assert stats.state is ConnectionState.SUBSCRIBED
    stored = store.read_text().strip()
    assert stored
    assert stored != first_refresh_token  # rotated
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
