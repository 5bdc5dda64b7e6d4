"""Fault injection on demand: every named scenario over real 127.0.0.1 sockets and HTTP."""

from __future__ import annotations

import httpx
import pytest
import trio

from engine.sim import SimConfig, Simulator
from engine.testing import SCENARIOS, Fault, open_simulator
from tests.sim.helpers import (
    ACCOUNTS,
    JSON,
    MARKET,
    WAIT,
    SimClient,
    authed,
    connect,
    is_account_event,
    order_body,
    rest,
)

FAST = SimConfig(tick_interval=0.02)


async def _subscribe_account(client: SimClient) -> JSON:
    await client.send(
        {"type": "subscribe", "id": "s-1", "topic": "account", "params": {"accountId": "SIM-001"}}
    )
    return await client.recv_until(lambda m: m.get("type") == "subscribed")


def _order_events(messages: list[JSON]) -> list[str]:
    return [
        m["payload"]["data"]["ordStatus"]
        for m in messages
        if m.get("type") == "event" and m["payload"].get("type") == "account.order"
    ]


async def _collect_until_filled(client: SimClient) -> list[JSON]:
    seen: list[JSON] = []
    while True:
        message = await client.recv()
        seen.append(message)
        if _order_events(seen).count("FILLED") >= 1 and is_account_event("account.balance")(
            message
        ):
            # read past the fill batch (duplicates may follow)
            with trio.move_on_after(0.3):
                while True:
                    seen.append(await client.recv())
            return seen


def test_every_scenario_is_named_and_round_trips_through_json() -> None:
    for name, factory in SCENARIOS.items():
        fault = factory() if name not in ("delay_events", "delay_snapshot") else factory(0.1)
        assert fault.name == name
        assert Fault.from_json(fault.to_json()) == fault
    with pytest.raises(ValueError, match="unknown scenario"):
        Fault.from_json({"name": "nope"})
    with pytest.raises(ValueError, match="unknown socket path"):
        Fault.silent_socket("/nowhere")


async def test_silent_socket_sends_no_pong_and_no_data() -> None:
    async with open_simulator(FAST) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, MARKET) as market:
                await sim.faults.apply(Fault.silent_socket(MARKET))
                await market.send({"type": "ping", "id": "p-1"})
                with trio.move_on_after(0.3) as quiet:
                    while True:
                        message = await market.recv()
                        assert message["payload"]["type"] == "marketStatus"
                assert quiet.cancelled_caught
                assert sim.statistics().open_sockets[MARKET] == 1
            sim.faults.clear()
            async with authed(sim.endpoints, MARKET) as again:
                await again.send({"type": "ping", "id": "p-2"})
                pong = await again.recv_until(lambda m: m.get("type") == "pong")
                assert pong["id"] == "p-2"


async def test_duplicate_events_send_each_account_event_twice() -> None:
    async with open_simulator(FAST, faults=[Fault.duplicate_events(2)]) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, ACCOUNTS) as client, rest(sim.endpoints) as http:
                await _subscribe_account(client)
                response = await http.post("/v1/orders", json=order_body())
                assert response.json()["success"] is True
                seen = await _collect_until_filled(client)
    statuses = _order_events(seen)
    assert statuses.count("FILLED") == 2
    assert all(statuses.count(s) % 2 == 0 for s in statuses)


async def test_reorder_events_swaps_adjacent_account_events() -> None:
    async with open_simulator(FAST, faults=[Fault.reorder_events()]) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, ACCOUNTS) as client, rest(sim.endpoints) as http:
                await _subscribe_account(client)
                await http.post("/v1/orders", json=order_body())
                seen = await _collect_until_filled(client)
    kinds = [m["payload"]["type"] for m in seen if m.get("type") == "event"]
    # in order the fill batch is order, position, balance; reordered the position leads
    assert kinds.index("account.position") < max(
        i for i, k in enumerate(kinds) if k == "account.order"
    )


async def test_delay_events_delivers_late_but_in_order() -> None:
    async with open_simulator(FAST, faults=[Fault.delay_events(0.3)]) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, ACCOUNTS) as client, rest(sim.endpoints) as http:
                await _subscribe_account(client)
                await http.post("/v1/orders", json=order_body())
                sent = trio.current_time()
                first = await client.recv_until(is_account_event("account.order"))
                assert trio.current_time() - sent >= 0.25
                assert first["payload"]["data"]["ordStatus"] in ("PENDING_NEW", "NEW", "FILLED")


async def test_delay_and_omit_snapshot() -> None:
    async with open_simulator(FAST, faults=[Fault.delay_snapshot(0.3)]) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, ACCOUNTS) as client:
                start = trio.current_time()
                reply = await _subscribe_account(client)
                assert trio.current_time() - start >= 0.25
                assert "account" in reply["payload"]
            sim.faults.clear()
            await sim.faults.apply(Fault.omit_snapshot())
            async with authed(sim.endpoints, ACCOUNTS) as client, rest(sim.endpoints) as http:
                await client.send(
                    {"type": "subscribe", "id": "s-2", "topic": "account",
                     "params": {"accountId": "SIM-001"}}
                )  # fmt: skip
                await sim.wait_statistics(lambda s: s.subscribes[ACCOUNTS] == 2)
                await http.post("/v1/orders", json=order_body())
                first = await client.recv()
                assert first["type"] == "event"  # no `subscribed`, but events flow
                assert first["payload"]["type"].startswith("account.")


async def test_lose_order_response_accepts_the_order_but_never_answers() -> None:
    async with open_simulator(FAST, faults=[Fault.lose_order_response()]) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, ACCOUNTS) as client, rest(sim.endpoints) as http:
                await _subscribe_account(client)
                with pytest.raises(httpx.ReadTimeout):
                    await http.post("/v1/orders", json=order_body(), timeout=0.5)
                event = await client.recv_until(is_account_event("account.order"))
                assert event["payload"]["data"]["clientId"] == "client-1"
                assert sim.statistics().orders_placed == 1
                ok = await http.post("/v1/orders", json=order_body())  # count was 1
                assert ok.status_code == 200


async def test_rate_limit_burst_then_server_errors() -> None:
    async with open_simulator(FAST) as sim:
        await sim.faults.apply(Fault.rate_limit(count=2, retry_after=3))
        with trio.fail_after(WAIT):
            async with rest(sim.endpoints) as http:
                for _ in range(2):
                    limited = await http.post("/v1/orders", json=order_body())
                    assert limited.status_code == 429
                    assert limited.headers["retry-after"] == "3"
                    assert limited.json()["codes"][0]["code"] == "RATE_LIMITED"
                await sim.faults.apply(Fault.server_error(count=1, status=502))
                failed = await http.post("/v1/orders", json=order_body())
                assert failed.status_code == 502
                ok = await http.post("/v1/orders", json=order_body())
                assert ok.status_code == 200
    assert sim.statistics().orders_placed == 1


async def test_reject_auth_then_accept() -> None:
    async with open_simulator(FAST, faults=[Fault.reject_auth(count=1, path=ACCOUNTS)]) as sim:
        with trio.fail_after(WAIT):
            async with connect(sim.endpoints, ACCOUNTS) as client:
                rejected = await client.auth()
                assert rejected["payload"]["code"] == "INVALID_TOKEN"
                accepted = await client.auth()
                assert accepted["payload"]["action"] == "authSuccess"


async def test_expire_session_early() -> None:
    async with open_simulator(FAST) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, ACCOUNTS) as client:
                await sim.faults.apply(Fault.expire_session(ACCOUNTS))
                expired = await client.recv()
                assert expired["payload"]["action"] == "authExpired"
                assert await client.wait_closed() == 1000


async def test_malformed_frames_reach_the_client_raw() -> None:
    async with open_simulator(FAST) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, ACCOUNTS) as client:
                await sim.faults.apply(Fault.malformed_frames(ACCOUNTS))
                frames = [str(await client.ws.get_message()) for _ in range(4)]
    assert frames[0].startswith('{"type": "event"')
    assert '"mystery"' in frames[2]
    assert frames[3] == "[1, 2, 3]"


async def test_drop_socket_and_slow_reader() -> None:
    async with open_simulator(FAST, faults=[Fault.slow_reader(ACCOUNTS, 0.2)]) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, ACCOUNTS) as client:
                start = trio.current_time()
                await client.send({"type": "ping", "id": "p"})
                await client.recv_until(lambda m: m.get("type") == "pong")
                assert trio.current_time() - start >= 0.15
                await sim.faults.apply(Fault.drop_socket())
                assert await client.wait_closed() == 1011


async def test_admin_http_path_applies_lists_and_clears(sim: Simulator) -> None:
    with trio.fail_after(WAIT):
        async with rest(sim.endpoints, token=None) as http:
            bad = await http.post("/_sim/faults", json={"name": "nope"})
            assert bad.status_code == 400
            applied = await http.post(
                "/_sim/faults", json={"name": "rate_limit", "params": {"count": 5}}
            )
            assert applied.json() == {
                "applied": {"name": "rate_limit", "params": {"count": 5, "retry_after": 1}}
            }
            listed = await http.get("/_sim/faults")
            assert [f["name"] for f in listed.json()["faults"]] == ["rate_limit"]
            assert (await http.post("/v1/orders", json=order_body())).status_code == 429
            await http.delete("/_sim/faults")
            assert (await http.get("/_sim/faults")).json() == {"faults": []}
