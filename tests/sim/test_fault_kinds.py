"""The fault kinds added for the venue-fault scenarios (tests/faults): REST faults limited to one
path, a 5xx after the request was carried out, spoiled account events, and the history of what
fired. Over real 127.0.0.1 sockets and HTTP."""

from __future__ import annotations

import json

import pytest
import trio

from engine.sim import SimConfig
from engine.testing import Fault, open_simulator
from tests.sim.helpers import ACCOUNTS, WAIT, SimClient, authed, is_account_event, order_body, rest

FAST = SimConfig(tick_interval=0.02)
RESTING = {"type": "LIMIT", "price": "1.00"}


async def _subscribe_account(client: SimClient) -> None:
    await client.send(
        {"type": "subscribe", "id": "s-1", "topic": "account", "params": {"accountId": "SIM-001"}}
    )
    await client.recv_until(lambda m: m.get("type") == "subscribed")


def test_the_new_parameters_round_trip_and_are_absent_when_unused() -> None:
    assert Fault.rate_limit(count=2).to_json() == {
        "name": "rate_limit",
        "params": {"count": 2, "retry_after": 1},
    }
    assert Fault.server_error().to_json() == {
        "name": "server_error",
        "params": {"count": 1, "status": 503},
    }
    for fault in (
        Fault.rate_limit(count=None, retry_after=3, path="/v1/orders"),
        Fault.server_error(status=502, path="/v1/orders/cancel", processed=True),
        Fault.malformed_events(count=2, kind="missing_data", event_type="account.order"),
    ):
        assert Fault.from_json(json.loads(json.dumps(fault.to_json()))) == fault
    with pytest.raises(ValueError, match="REST path"):
        Fault.rate_limit(path="/v1/accounts/ws")
    with pytest.raises(ValueError, match="REST path"):
        Fault.server_error(path="v1/orders")
    with pytest.raises(ValueError, match="unknown kind"):
        Fault.malformed_events(kind="garbled")


async def test_rate_limit_on_one_path_leaves_the_others_alone() -> None:
    async with open_simulator(FAST) as sim, rest(sim.endpoints) as http:
        await sim.faults.apply(Fault.rate_limit(count=None, retry_after=4, path="/v1/orders"))
        with trio.fail_after(WAIT):
            limited = await http.post("/v1/orders", json=order_body())
            listed = await http.get("/v2/accounts/SIM-001/orders")
            again = await http.post("/v1/orders", json=order_body())
    assert limited.status_code == again.status_code == 429
    assert limited.headers["retry-after"] == "4"
    assert listed.status_code == 200
    assert sim.statistics().orders_placed == 0
    assert [(f.name, f.method, f.path) for f in sim.faults.history] == [
        ("rate_limit", "POST", "/v1/orders")
    ] * 2
    assert sim.faults.history[0].at <= sim.faults.history[1].at


async def test_server_error_not_carried_out_and_carried_out() -> None:
    async with open_simulator(FAST) as sim, rest(sim.endpoints) as http:
        with trio.fail_after(WAIT):
            await sim.faults.apply(Fault.server_error(status=500, path="/v1/orders"))
            refused = await http.post("/v1/orders", json=order_body(**RESTING, clientId="a"))
            assert refused.status_code == 500
            assert sim.statistics().orders_placed == 0

            await sim.faults.apply(
                Fault.server_error(status=502, processed=True, path="/v1/orders")
            )
            lost = await http.post("/v1/orders", json=order_body(**RESTING, clientId="b"))
            assert lost.status_code == 502
            assert lost.json()["codes"][0]["code"] == "SERVER_ERROR"
            [placed] = sim.ledger.orders("SIM-001")
            assert placed.client_id == "b"

            cancel = {"origClOrdId": placed.cl_ord_id, "tradingAccountId": "SIM-001",
                      "symbol": "AAPL", "side": "BUY"}  # fmt: skip
            await sim.faults.apply(
                Fault.server_error(status=504, processed=True, path="/v1/orders/cancel")
            )
            canceled = await http.post("/v1/orders/cancel", json=cancel)
            assert canceled.status_code == 504
    order = sim.ledger.order("SIM-001", placed.cl_ord_id)
    assert order is not None
    assert order.status.value == "CANCELED"
    assert [(f.name, f.path) for f in sim.faults.history] == [
        ("server_error", "/v1/orders"),
        ("server_error", "/v1/orders"),
        ("server_error", "/v1/orders/cancel"),
    ]
    assert sim.faults.active == []  # each was for one request


@pytest.mark.parametrize("kind", ["truncated", "missing_data"])
async def test_malformed_events_spoil_the_next_event_of_a_type(kind: str) -> None:
    async with open_simulator(FAST) as sim:
        with trio.fail_after(WAIT):
            async with authed(sim.endpoints, ACCOUNTS) as client, rest(sim.endpoints) as http:
                await _subscribe_account(client)
                await sim.faults.apply(
                    Fault.malformed_events(count=1, kind=kind, event_type="account.order")
                )
                await http.post("/v1/orders", json=order_body(**RESTING))
                # The first order event (PENDING_NEW) is spoiled; the next (NEW) is not.
                raw = str(await client.ws.get_message())
                client.frames.append(raw)
                new = await client.recv_until(is_account_event("account.order"))
    assert new["payload"]["data"]["ordStatus"] == "NEW"
    if kind == "truncated":
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
    else:
        spoiled = json.loads(raw)
        assert spoiled["payload"]["type"] == "account.order"
        assert "data" not in spoiled["payload"]
    [fired] = sim.faults.history
    assert (fired.name, fired.path) == ("malformed_events", "account.order")
    assert sim.faults.active == []
