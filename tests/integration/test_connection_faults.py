"""Connection faults injected by the simulator, seen through the whole engine, on virtual time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from engine.connection import ConnectionSupervisor
from engine.model import AccountSynced, ConnectionState, Endpoint
from engine.sim import SimConfig
from engine.testing import Fault, open_simulator
from tests.integration.conftest import engine_config, running_engine
from tests.sim.helpers import issue_token


def connection(connections: list[ConnectionSupervisor], endpoint: Endpoint) -> ConnectionSupervisor:
    [found] = [c for c in connections if c.handler.endpoint is endpoint]
    return found


async def test_a_silent_socket_is_caught_by_the_idle_timeout_not_by_tcp(
    virtual_clock: trio.testing.MockClock,
) -> None:
    config = engine_config(simulator={"tick_interval": 5.0, "symbols": ["AAPL"]})
    async with running_engine(config) as engine:
        assert engine.simulator is not None
        market = connection(engine.connections, Endpoint.MARKET)
        start = trio.current_time()
        await engine.simulator.faults.apply(Fault.silent_socket("/v1/market/ws"))
        await market.wait_state(ConnectionState.DISCONNECTED)
        detected_after = trio.current_time() - start
        engine.simulator.faults.clear()
        await market.wait_state(ConnectionState.SUBSCRIBED)
        stats = market.statistics()
    # No pong, no data: dead two ping intervals (60 s) after the last frame, which arrived at
    # most one 5 s market tick before the fault.
    assert 55 <= detected_after <= 60.1
    assert stats.last_error == "ConnectionLostError: no frame for 60 s"
    assert stats.reconnects == 1


async def test_auth_rejected_then_accepted_after_a_token_refresh(
    virtual_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim_config = SimConfig(tick_interval=30.0, symbols=("AAPL",))
    async with open_simulator(sim_config) as sim:
        issued = await issue_token(sim.endpoints, "sim-user@sim.invalid")
        monkeypatch.setenv("TEST_CLIENT_SECRET", sim_config.oauth_client_secret)
        monkeypatch.setenv("TEST_REFRESH_TOKEN", issued["refresh_token"])
        await sim.faults.apply(Fault.reject_auth(count=1, path="/v1/accounts/ws"))
        config = engine_config(
            venue={
                "kind": "aries",
                "rest_base": sim.endpoints.rest_base,
                "ws_base": sim.endpoints.ws_base,
                "oauth": {
                    "client_id": sim_config.oauth_client_id,
                    "client_secret_env": "TEST_CLIENT_SECRET",
                    "refresh_token_env": "TEST_REFRESH_TOKEN",
                },
            },
            market={"enabled": False},
        )
        async with running_engine(config) as engine:
            accounts = connection(engine.connections, Endpoint.ACCOUNTS)
            stats = accounts.statistics()
            session = engine.session.statistics()
    assert stats.connects == 2  # refused once, then accepted with the refreshed token
    assert "INVALID_TOKEN" in stats.last_error
    assert stats.state is ConnectionState.SUBSCRIBED
    assert session.refreshes == 1  # one refresh (after the refusal); the first token is not one


async def test_an_expired_session_reconnects_reauthenticates_and_resubscribes(
    virtual_clock: trio.testing.MockClock,
) -> None:
    config = engine_config(simulator={"tick_interval": 30.0, "symbols": ["AAPL"]})
    async with running_engine(config) as engine:
        assert engine.simulator is not None
        accounts = connection(engine.connections, Endpoint.ACCOUNTS)
        synced = engine.bus.subscribe("test", accepts=(AccountSynced,))
        await engine.simulator.faults.apply(Fault.expire_session("/v1/accounts/ws"))
        await accounts.wait_state(ConnectionState.EXPIRED)
        resynced = await synced.receive_batch()  # the new snapshot after re-subscribing
        stats = accounts.statistics()
    assert [type(e) for e in resynced] == [AccountSynced]
    assert stats.connects == 2
    assert stats.state is ConnectionState.SUBSCRIBED
    assert "authExpired" in stats.last_error
