"""Session lifetime and faults: refresh warning, expiry, in-place re-auth, idle drop, drops,
and the slow-consumer policy."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import trio

from engine.sim import SimConfig, Simulator
from engine.sim._core import SimCore
from engine.sim._hub import Hub
from engine.sim._ledger import Ledger
from engine.sim._market import MarketModel
from engine.sim._profile import CLOSE_SLOW_CONSUMER, OUTBOUND_BUFFER_MESSAGES
from engine.sim._sessions import AccountsSession
from tests.sim.helpers import (
    ACCOUNTS,
    MARKET,
    WAIT,
    authed,
    connect,
    is_account_event,
    is_action,
    order_body,
    rest,
    start_sim,
)

SHORT_SESSION = SimConfig(tick_interval=0.02, session_length=1.0, refresh_warning_lead=0.5)


async def test_refresh_warning_then_expiry_and_close(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, SHORT_SESSION)
    with trio.fail_after(WAIT):
        async with connect(sim.endpoints, ACCOUNTS) as client:
            success = await client.auth()
            expires_at = success["payload"]["data"]["expiresAt"]
            assert success["payload"]["data"]["expiresIn"] == 1000
            warning = await client.recv()
            assert warning["type"] == "event"
            assert warning["payload"]["action"] == "refreshAuth"
            assert warning["payload"]["data"]["expiresAt"] == expires_at
            assert 0 < warning["payload"]["data"]["expiresIn"] <= 500
            assert isinstance(warning["payload"]["timestamp"], int)
            assert warning["timestamp"].endswith("Z")
            expired = await client.recv()
            assert expired["type"] == "event"
            assert expired["payload"]["action"] == "authExpired"
            assert isinstance(expired["payload"]["timestamp"], int)
            assert await client.wait_closed() == 1000


async def test_in_place_reauth_extends_the_session_and_keeps_subscriptions(
    nursery: trio.Nursery,
) -> None:
    sim = await start_sim(nursery, SHORT_SESSION)
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, ACCOUNTS) as client:
            await client.send(
                {
                    "type": "subscribe",
                    "id": "s-1",
                    "topic": "account",
                    "params": {"accountId": "SIM-001"},
                }
            )
            assert (await client.recv())["type"] == "subscribed"
            first_warning = await client.recv_until(is_action("refreshAuth"))
            renewed = await client.auth(request_id="auth-2")
            assert renewed["payload"]["action"] == "authSuccess"
            assert renewed["id"] == renewed["payload"]["id"] == "auth-2"
            assert (
                renewed["payload"]["data"]["expiresAt"]
                > first_warning["payload"]["data"]["expiresAt"]
            )
            async with rest(sim.endpoints) as http:
                response = await http.post("/v1/orders", json=order_body())
                assert response.json()["success"] is True
            filled = await client.recv_until(is_account_event("account.order", "FILLED"))
            assert filled["payload"]["accountId"] == "SIM-001"
            # the old expiry passes without authExpired: the next session event is a new warning
            second = await client.recv_until(
                lambda m: is_action("refreshAuth")(m) or is_action("authExpired")(m)
            )
            assert second["payload"]["action"] == "refreshAuth"
            assert second["payload"]["data"]["expiresAt"] == renewed["payload"]["data"]["expiresAt"]
            assert (await client.recv())["payload"]["action"] == "authExpired"
            assert await client.wait_closed() == 1000
    assert sim.statistics().auths_succeeded[ACCOUNTS] == 2


async def test_idle_client_is_dropped(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, SimConfig(tick_interval=0.02, idle_timeout=0.3))
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, ACCOUNTS) as client:
            assert await client.wait_closed() == 1001
        await sim.wait_statistics(lambda s: s.open_sockets[ACCOUNTS] == 0)


async def test_drop_connections_closes_only_the_chosen_path(sim: Simulator) -> None:
    with trio.fail_after(WAIT):
        async with (
            authed(sim.endpoints, ACCOUNTS) as accounts,
            authed(sim.endpoints, MARKET) as market,
        ):
            await sim.wait_statistics(
                lambda s: s.open_sockets[ACCOUNTS] == s.open_sockets[MARKET] == 1
            )
            assert await sim.drop_connections(ACCOUNTS) == 1
            assert await accounts.wait_closed() == 1011
            stats = sim.statistics()
            assert stats.open_sockets[ACCOUNTS] == 0
            assert stats.open_sockets[MARKET] == 1
            await market.send({"type": "ping", "id": "still-here"})
            pong = await market.recv_until(lambda m: m.get("type") == "pong")
            assert pong["id"] == "still-here"
            assert await sim.drop_connections() == 1
            assert await market.wait_closed() == 1011


class _StuckTransport:
    """A client that never reads: every send blocks forever; records the close code."""

    def __init__(self) -> None:
        self.close_code: int | None = None

    async def accept(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive(self) -> str | None:
        await trio.sleep_forever()

    async def send(self, text: str) -> None:
        await trio.sleep_forever()

    async def close(self, code: int) -> None:
        await trio.lowlevel.checkpoint()
        self.close_code = code


async def test_a_slow_client_is_closed_instead_of_blocking_producers(nursery: trio.Nursery) -> None:
    config = SimConfig()
    market = MarketModel(config.symbols, random.Random(1))

    def now() -> datetime:
        return datetime.now(UTC)

    core = SimCore(
        config=config,
        now=now,
        market=market,
        ledger=Ledger(config.accounts, market, opened_at=now()),
        hub=Hub(now),
    )
    transport = _StuckTransport()
    session = AccountsSession(core, transport)
    nursery.start_soon(session.serve)
    with trio.fail_after(WAIT):
        await core.hub.wait_statistics(lambda s: s.open_sockets[ACCOUNTS] == 1)
        for _ in range(OUTBOUND_BUFFER_MESSAGES + 2):
            session.send_text('{"type": "event"}')  # sync: never blocks the producer
        await session.wait_finished()
    assert transport.close_code == CLOSE_SLOW_CONSUMER
    assert core.hub.statistics().open_sockets[ACCOUNTS] == 0
