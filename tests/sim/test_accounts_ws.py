"""The accounts socket over a real 127.0.0.1 connection: auth, errors, subscribe, snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import trio

from engine.sim import SimAccount, SimConfig, SimEndpoints, SimPosition, Simulator
from tests.sim.helpers import (
    ACCOUNTS,
    WAIT,
    auth_request,
    authed,
    connect,
    is_account_event,
    order_body,
    rest,
    start_sim,
)

FIXED_NOW = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
FIXED_MS = 1768487400000

ACCOUNT_INFO_KEYS = {"accountId", "accountType", "accountClass", "optionsLevel", "status"}
BALANCE_KEYS = {
    "sodPositionsMarketValue", "netBuyingPower", "stockBuyingPower", "dayTradeBuyingPower",
    "optionBuyingPower", "dayTradeOvernightRegTBuyingPower", "totalEquity", "settledFunds",
    "unsettledFunds", "heldBackFunds", "grossMargin", "pendingOrdersMarginRequirements",
    "maintReq", "creditMultiplier", "pendingOrdersCount", "credit", "creditRemaining",
    "realizedPL", "unRealizedPL", "SMA", "smaCreditRemaining", "PDT", "pdtCreditRemaining",
    "startOfDayCash", "valueBought", "valueSold",
}  # fmt: skip
POSITION_KEYS = {
    "accountId", "symbol", "securityType", "instrument", "quantity", "avgPrice", "avgCost",
    "todayRealizedPnL", "realizedPL", "unrealizedPl", "marketValue", "createdAt", "updatedAt",
}  # fmt: skip
V1_ORDER_KEYS = {
    "orderId", "clOrdId", "accountId", "symbol", "side", "orderType", "status", "tif", "quantity",
    "filledQty", "leavesQty", "price", "stopPrice", "avgPrice", "createdAt", "updatedAt",
}  # fmt: skip
V2_ORDER_KEYS = {
    "clOrdId", "ordId", "accountId", "clientId", "symbol", "side", "type", "timeInForce", "qty",
    "price", "stopPrice", "ordStatus", "cumQty", "leavesQty", "avgPrice", "currency",
    "exDestination", "text", "ordRejReason", "securityType", "category", "legs", "createdAt",
    "updatedAt",
}  # fmt: skip


def _is_rfc3339_z(value: object) -> bool:
    return isinstance(value, str) and value.endswith("Z") and "T" in value


async def test_auth_success_shape(nursery: trio.Nursery) -> None:
    sim = Simulator(SimConfig(tick_interval=0.02), now=lambda: FIXED_NOW)
    await nursery.start(sim.run)
    with trio.fail_after(WAIT):
        async with connect(sim.endpoints, ACCOUNTS) as client:
            await client.send(auth_request(request_id="auth-42"))
            reply = await client.recv()
    assert reply == {
        "type": "event",
        "id": "auth-42",
        "payload": {
            "action": "authSuccess",
            "id": "auth-42",
            "data": {"expiresIn": 3_900_000, "expiresAt": FIXED_MS + 3_900_000},
            "timestamp": FIXED_MS,
        },
        "timestamp": "2026-01-15T14:30:00.000Z",
    }
    stats = sim.statistics()
    assert stats.auths_succeeded[ACCOUNTS] == 1
    assert stats.connections_accepted[ACCOUNTS] == 1


async def test_auth_accepts_body_without_action_and_any_method_case(
    endpoints: SimEndpoints,
) -> None:
    request = auth_request(action=False)
    request["payload"]["method"] = "POST"
    with trio.fail_after(WAIT):
        async with connect(endpoints, ACCOUNTS) as client:
            await client.send(request)
            reply = await client.recv()
    assert reply["payload"]["action"] == "authSuccess"


async def test_wrong_token_is_invalid_token_and_socket_stays_open(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with connect(endpoints, ACCOUNTS) as client:
            reply = await client.auth(token="not-the-token", request_id="auth-7")
            assert reply["type"] == "error"
            assert reply["id"] == "auth-7"
            assert reply["payload"]["action"] == "error"
            assert reply["payload"]["code"] == "INVALID_TOKEN"
            assert reply["payload"]["id"] == "auth-7"
            assert isinstance(reply["payload"]["error"], str)
            assert reply["payload"]["error"]
            assert _is_rfc3339_z(reply["timestamp"])
            ok = await client.auth()
            assert ok["payload"]["action"] == "authSuccess"


async def test_auth_without_token_is_token_required(endpoints: SimEndpoints) -> None:
    request = auth_request()
    del request["payload"]["body"]["token"]
    with trio.fail_after(WAIT):
        async with connect(endpoints, ACCOUNTS) as client:
            await client.send(request)
            reply = await client.recv()
    assert reply["payload"]["code"] == "TOKEN_REQUIRED"


async def test_no_auth_within_the_window_is_auth_required_then_close(
    nursery: trio.Nursery,
) -> None:
    sim = await start_sim(nursery, SimConfig(tick_interval=0.02, auth_timeout=0.2))
    with trio.fail_after(WAIT):
        async with connect(sim.endpoints, ACCOUNTS) as client:
            error = await client.recv()
            assert error["type"] == "error"
            assert error["payload"]["code"] == "AUTH_REQUIRED"
            assert await client.wait_closed() == 1008


async def test_subscribe_before_auth_is_rejected_but_socket_stays_open(
    endpoints: SimEndpoints,
) -> None:
    with trio.fail_after(WAIT):
        async with connect(endpoints, ACCOUNTS) as client:
            await client.send(
                {
                    "type": "subscribe",
                    "id": "s-1",
                    "topic": "account",
                    "params": {"accountId": "SIM-001"},
                }
            )
            error = await client.recv()
            assert error["payload"]["code"] == "AUTH_REQUIRED"
            assert error["id"] == "s-1"
            await client.send({"type": "ping", "id": "p-1"})
            assert (await client.recv())["type"] == "pong"
            assert (await client.auth())["payload"]["action"] == "authSuccess"


async def test_ping_pong(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with authed(endpoints, ACCOUNTS) as client:
            await client.send({"type": "ping", "id": "ping-42"})
            pong = await client.recv()
    assert set(pong) == {"type", "id", "timestamp"}
    assert pong["type"] == "pong"
    assert pong["id"] == "ping-42"
    assert _is_rfc3339_z(pong["timestamp"])


async def test_account_snapshot_has_every_section_4_3_key(nursery: trio.Nursery) -> None:
    config = SimConfig(
        tick_interval=0.02,
        accounts=(
            SimAccount(
                account_id="SIM-001",
                positions=(SimPosition("MSFT", Decimal(10), Decimal("400.00")),),
            ),
        ),
    )
    sim = await start_sim(nursery, config)
    with trio.fail_after(WAIT):
        async with rest(sim.endpoints) as http:
            response = await http.post(
                "/v1/orders", json=order_body(type="LIMIT", price="1.00", qty="10")
            )
            assert response.status_code == 200
        async with authed(sim.endpoints, ACCOUNTS) as client:
            await client.send(
                {
                    "type": "subscribe",
                    "id": "s-1",
                    "topic": "account",
                    "params": {"accountId": "SIM-001"},
                }
            )
            reply = await client.recv()
    assert set(reply) == {"type", "id", "topic", "params", "payload", "timestamp"}
    assert reply["type"] == "subscribed"
    assert reply["topic"] == "account"
    assert reply["params"] == {"accountId": "SIM-001"}
    assert _is_rfc3339_z(reply["timestamp"])
    payload = reply["payload"]
    assert set(payload) == {"account", "positions", "orders", "ordersV2"}
    account = payload["account"]
    assert set(account) == ACCOUNT_INFO_KEYS | BALANCE_KEYS
    assert account["accountId"] == "SIM-001"
    assert account["accountType"] == "MARGIN"
    assert account["creditMultiplier"] == "2"
    assert account["pendingOrdersCount"] == 1
    assert account["heldBackFunds"] == "10.00"
    [position] = payload["positions"]
    assert set(position) == POSITION_KEYS
    assert position["symbol"] == "MSFT"
    assert position["quantity"] == "10"
    assert position["avgPrice"] == position["avgCost"] == "400.00"
    assert position["securityType"] == position["instrument"] == "EQUITY"
    [v1] = payload["orders"]
    assert set(v1) == V1_ORDER_KEYS
    assert v1["status"] == "WORKING"
    [v2] = payload["ordersV2"]
    assert set(v2) == V2_ORDER_KEYS
    assert v2["ordStatus"] == "NEW"
    assert v2["clOrdId"] == v1["clOrdId"]
    assert v2["clientId"] == "client-1"
    assert sim.statistics().subscribes[ACCOUNTS] == 1


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "subscribe", "id": "x", "topic": "account"}, "MISSING_ACCOUNT_ID"),
        ({"type": "subscribe", "id": "x", "topic": "account", "params": {}}, "MISSING_ACCOUNT_ID"),
        (
            {
                "type": "subscribe",
                "id": "x",
                "topic": "account",
                "params": {"accountId": "OTHER-9"},
            },
            "ACCESS_DENIED",
        ),
        ({"type": "subscribe", "id": "x", "topic": "orders"}, "UNKNOWN_TOPIC"),
        ({"type": "subscribe", "id": "x"}, "UNKNOWN_TOPIC"),
        (
            {"type": "subscribe", "id": "x", "topic": "pnl", "params": {"accountId": "SIM-001"}},
            "MISSING_START_TIME",
        ),
        (
            {
                "type": "subscribe",
                "id": "x",
                "topic": "pnl",
                "params": {
                    "accountId": "SIM-001",
                    "startTime": "2026-01-15T00:00:00Z",
                    "interval": "2m",
                },
            },
            "INVALID_INTERVAL",
        ),
        ({"type": "launch", "id": "x"}, "INVALID_MESSAGE"),
        (
            {"type": "request", "id": "x", "payload": {"method": "post", "path": "/v1/orders"}},
            "UNSUPPORTED_REQUEST",
        ),
    ],
)
async def test_subscribe_errors(
    endpoints: SimEndpoints, message: dict[str, object], code: str
) -> None:
    with trio.fail_after(WAIT):
        async with authed(endpoints, ACCOUNTS) as client:
            await client.send(message)
            error = await client.recv()
            assert error["type"] == "error"
            assert error["payload"]["code"] == code
            assert error["id"] == error["payload"]["id"] == "x"
            # errors do not close the socket
            await client.send({"type": "ping", "id": "p"})
            assert (await client.recv())["type"] == "pong"


async def test_unparseable_json_is_invalid_message(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with authed(endpoints, ACCOUNTS) as client:
            await client.send_raw("{not json")
            error = await client.recv()
            assert error["payload"]["code"] == "INVALID_MESSAGE"
            await client.send_raw("[1, 2]")
            assert (await client.recv())["payload"]["code"] == "INVALID_MESSAGE"
            await client.send({"type": "ping", "id": "p"})
            assert (await client.recv())["type"] == "pong"


async def test_other_topics_ack_and_unsubscribe(endpoints: SimEndpoints) -> None:
    pnl_params = {"accountId": "SIM-001", "startTime": "2026-01-15T00:00:00Z", "interval": "5m"}
    with trio.fail_after(WAIT):
        async with authed(endpoints, ACCOUNTS) as client:
            for request_id, topic, params in [
                ("s-pnl", "pnl", pnl_params),
                ("s-wl", "watchlist", None),
                ("s-news", "news", {"symbols": ["AAPL"], "topics": ["earnings"]}),
                ("s-legacy", "accUpdates", {"accountId": "SIM-001"}),
            ]:
                message: dict[str, object] = {"type": "subscribe", "id": request_id, "topic": topic}
                if params is not None:
                    message["params"] = params
                await client.send(message)
                reply = await client.recv_until(lambda m: m.get("type") != "event")
                assert reply["type"] == "subscribed"
                assert reply["id"] == request_id
                assert reply["topic"] == topic
                assert reply["params"] == (params or {})
                assert ("payload" in reply) == (topic == "accUpdates")
            await client.send(
                {
                    "type": "unsubscribe",
                    "id": "u-1",
                    "topic": "pnl",
                    "params": {"accountId": "SIM-001"},
                }
            )
            reply = await client.recv_until(lambda m: m.get("type") != "event")
    assert reply["type"] == "unsubscribed"
    assert reply["id"] == "u-1"
    assert reply["topic"] == "pnl"
    assert _is_rfc3339_z(reply["timestamp"])


async def test_account_events_go_only_to_sockets_subscribed_to_that_account(
    nursery: trio.Nursery,
) -> None:
    config = SimConfig(
        tick_interval=0.02,
        accounts=(SimAccount(account_id="SIM-001"), SimAccount(account_id="SIM-002")),
    )
    sim = await start_sim(nursery, config)
    with trio.fail_after(WAIT):
        async with (
            authed(sim.endpoints, ACCOUNTS) as one,
            authed(sim.endpoints, ACCOUNTS) as two,
            authed(sim.endpoints, ACCOUNTS) as idle,
        ):
            for client, account in ((one, "SIM-001"), (two, "SIM-002")):
                await client.send(
                    {
                        "type": "subscribe",
                        "id": "s",
                        "topic": "account",
                        "params": {"accountId": account},
                    }
                )
                assert (await client.recv())["type"] == "subscribed"
            async with rest(sim.endpoints) as http:
                for account in ("SIM-002", "SIM-001"):
                    response = await http.post(
                        "/v1/orders", json=order_body(tradingAccountId=account)
                    )
                    assert response.json()["success"] is True
            filled_one = await one.recv_until(is_account_event("account.order", "FILLED"))
            filled_two = await two.recv_until(is_account_event("account.order", "FILLED"))
            assert filled_one["payload"]["accountId"] == "SIM-001"
            assert filled_two["payload"]["accountId"] == "SIM-002"
            # one saw nothing of SIM-002 and vice versa (a pong flushes anything queued earlier)
            for client in (one, two):
                await client.send({"type": "ping", "id": "flush"})
                await client.recv_until(lambda m: m.get("type") == "pong")
            seen_one = [m for m in one.frames if "SIM-002" in m]
            seen_two = [m for m in two.frames if "SIM-001" in m]
            assert seen_one == []
            assert seen_two == []
            await idle.send({"type": "ping", "id": "p"})
            assert (await idle.recv())["type"] == "pong"
