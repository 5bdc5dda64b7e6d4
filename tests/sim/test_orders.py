"""Orders over REST with their events on the accounts socket (§8.6, §8.7, §4.4-4.6, §8.11)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from engine.sim import SimAccount, SimConfig, SimEndpoints, Simulator
from tests.sim.helpers import (
    ACCOUNTS,
    JSON,
    WAIT,
    SimClient,
    authed,
    is_account_event,
    order_body,
    rest,
    start_sim,
)

ACK_KEYS = {
    "success", "clOrdId", "status", "symbol", "side", "qty", "cumQty", "leavesQty", "avgPrice",
    "text", "ordRejReason", "transactTime",
}  # fmt: skip


async def _subscribe(client: SimClient, account_id: str = "SIM-001") -> JSON:
    await client.send(
        {"type": "subscribe", "id": "s-1", "topic": "account", "params": {"accountId": account_id}}
    )
    reply = await client.recv()
    assert reply["type"] == "subscribed"
    return reply


async def test_market_order_fills_and_reports_position_and_balance(sim: Simulator) -> None:
    endpoints = sim.endpoints
    with trio.fail_after(WAIT):
        async with authed(endpoints, ACCOUNTS) as client:
            snapshot = await _subscribe(client)
            bp_before = Decimal(snapshot["payload"]["account"]["stockBuyingPower"])
            async with rest(endpoints) as http:
                response = await http.post("/v1/orders", json=order_body(clientId="tag-77"))
            assert response.status_code == 200
            ack = response.json()
            assert set(ack) == ACK_KEYS
            assert ack["success"] is True
            assert ack["status"] == "NEW"
            assert ack["qty"] == "100"
            cl_ord_id = ack["clOrdId"]
            events = [await client.recv() for _ in range(5)]
    kinds = [(e["payload"]["type"], e["payload"]["data"].get("ordStatus")) for e in events]
    assert kinds == [
        ("account.order", "PENDING_NEW"),
        ("account.order", "NEW"),
        ("account.order", "FILLED"),
        ("account.position", None),
        ("account.balance", None),
    ]
    for event in events:
        assert event["type"] == "event"
        assert event["topic"] == "account"
        assert event["payload"]["action"] == "update"
        assert event["payload"]["accountId"] == "SIM-001"
        assert event["timestamp"].endswith("Z")
    orders = [e["payload"]["data"] for e in events[:3]]
    assert {o["clOrdId"] for o in orders} == {cl_ord_id}
    assert {o["clientId"] for o in orders} == {"tag-77"}
    filled = orders[2]
    assert filled["cumQty"] == "100"
    assert filled["leavesQty"] == "0"
    assert filled["lastQty"] == "100"
    assert filled["lastPx"] == filled["avgPrice"]
    assert "lastQty" not in orders[1]
    position = events[3]["payload"]["data"]
    assert position["quantity"] == "100"
    assert position["avgPrice"] == position["avgCost"] == filled["lastPx"]
    assert position["todayRealizedPnL"] == position["realizedPL"] == "0.00"
    assert position["securityType"] == position["instrument"] == "EQUITY"
    balance = events[4]["payload"]["data"]
    assert len(balance) == 27  # accountId + the brief's 26 balance fields
    assert Decimal(balance["stockBuyingPower"]) < bp_before
    assert balance["netBuyingPower"] == balance["stockBuyingPower"]
    assert balance["pendingOrdersCount"] == 0
    assert Decimal(balance["valueBought"]) == 100 * Decimal(filled["lastPx"])
    stats = await sim.wait_statistics(lambda s: s.fills >= 1)
    assert stats.orders_placed == 1


async def test_limit_order_far_away_stays_new_then_cancels(sim: Simulator) -> None:
    endpoints = sim.endpoints
    with trio.fail_after(WAIT):
        async with authed(endpoints, ACCOUNTS) as client, rest(endpoints) as http:
            await _subscribe(client)
            response = await http.post("/v1/orders", json=order_body(type="LIMIT", price="1.00"))
            ack = response.json()
            assert ack["status"] == "NEW"
            cl_ord_id = ack["clOrdId"]
            new = await client.recv_until(is_account_event("account.order", "NEW"))
            assert new["payload"]["data"]["price"] == "1.00"
            balance = await client.recv_until(is_account_event("account.balance"))
            assert balance["payload"]["data"]["heldBackFunds"] == "100.00"
            assert balance["payload"]["data"]["pendingOrdersCount"] == 1
            ticks = sim.statistics().market_ticks
            await sim.wait_statistics(lambda s: s.market_ticks >= ticks + 5)
            order = sim.ledger.order("SIM-001", cl_ord_id)
            assert order is not None
            assert order.status.value == "NEW"

            cancel = {
                "origClOrdId": cl_ord_id,
                "tradingAccountId": "SIM-001",
                "symbol": "AAPL",
                "side": "BUY",
            }
            response = await http.post("/v1/orders/cancel", json=cancel)
            assert response.status_code == 200
            body = response.json()
            assert body["success"] is True
            assert body["origClOrdId"] == cl_ord_id
            assert body["status"] == "CANCELED"
            assert body["clOrdId"] != cl_ord_id
            pending = await client.recv_until(is_account_event("account.order"))
            canceled = await client.recv()
            assert pending["payload"]["data"]["ordStatus"] == "PENDING_CANCEL"
            assert canceled["payload"]["data"]["ordStatus"] == "CANCELED"
            assert pending["payload"]["data"]["clOrdId"] == cl_ord_id
            assert canceled["payload"]["data"]["clOrdId"] == cl_ord_id
            assert canceled["payload"]["data"]["leavesQty"] == "0"
            after = await client.recv()
            assert after["payload"]["type"] == "account.balance"
            assert after["payload"]["data"]["heldBackFunds"] == "0.00"

            again = await http.post("/v1/orders/cancel", json=cancel)
            assert again.status_code == 409
            assert again.json()["codes"][0]["code"] == "ORDER_NOT_CANCELABLE"
            unknown = await http.post(
                "/v1/orders/cancel", json={**cancel, "origClOrdId": "SIM-999"}
            )
            assert unknown.status_code == 404
            assert unknown.json()["codes"][0]["code"] == "ORDER_NOT_FOUND"


async def test_limit_order_fills_when_the_market_crosses_it(sim: Simulator) -> None:
    endpoints = sim.endpoints
    with trio.fail_after(WAIT):
        async with authed(endpoints, ACCOUNTS) as client, rest(endpoints) as http:
            await _subscribe(client)
            limit = sim.market.quote("AAPL").bid - Decimal("5.00")
            response = await http.post(
                "/v1/orders", json=order_body(type="LIMIT", price=str(limit))
            )
            assert response.json()["status"] == "NEW"
            await client.recv_until(is_account_event("account.order", "NEW"))
            # move the synthetic market well through the limit; the next tick matches it
            sim.market.force_quote("AAPL", bid=limit - Decimal("0.20"), ask=limit - Decimal("0.18"))
            filled = await client.recv_until(is_account_event("account.order", "FILLED"))
    data = filled["payload"]["data"]
    assert Decimal(data["lastPx"]) <= limit
    assert data["cumQty"] == "100"


async def test_insufficient_buying_power_is_a_200_rejection_with_an_event(
    nursery: trio.Nursery,
) -> None:
    config = SimConfig(
        tick_interval=0.02, accounts=(SimAccount(account_id="SIM-001", cash=Decimal(1000)),)
    )
    sim = await start_sim(nursery, config)
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, ACCOUNTS) as client, rest(sim.endpoints) as http:
            await _subscribe(client)
            response = await http.post("/v1/orders", json=order_body())
            assert response.status_code == 200
            ack = response.json()
            assert ack["success"] is False
            assert ack["status"] == "REJECTED"
            assert ack["ordRejReason"]
            event = await client.recv()
    assert event["payload"]["type"] == "account.order"
    assert event["payload"]["data"]["ordStatus"] == "REJECTED"
    assert event["payload"]["data"]["ordRejReason"] == ack["ordRejReason"]
    assert event["payload"]["data"]["clOrdId"] == ack["clOrdId"]


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_rest_requires_the_bearer_token(endpoints: SimEndpoints, token: str | None) -> None:
    with trio.fail_after(WAIT):
        async with rest(endpoints, token=token) as http:
            response = await http.post("/v1/orders", json=order_body())
    assert response.status_code == 401
    body = response.json()
    assert body["error"]
    assert body["codes"][0]["code"] == "UNAUTHORIZED"
    assert body["codes"][0]["description"]
    assert body["metadata"] == {}


async def test_validation_errors_name_the_fields(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with rest(endpoints) as http:
            limit_without_price = await http.post("/v1/orders", json=order_body(type="LIMIT"))
            market_with_price = await http.post("/v1/orders", json=order_body(price="10.00"))
            missing_qty = await http.post("/v1/orders", json=order_body(qty=None, side="SIDEWAYS"))
            not_json = await http.post("/v1/orders", content=b"{oops")
    assert limit_without_price.status_code == 400
    assert limit_without_price.json()["codes"] == [
        {"code": "MISSING_FIELD", "description": "price is required", "field": "price"}
    ]
    assert market_with_price.status_code == 400
    assert market_with_price.json()["codes"][0]["code"] == "INVALID_FIELD"
    assert market_with_price.json()["codes"][0]["field"] == "price"
    codes = {(c["code"], c["field"]) for c in missing_qty.json()["codes"]}
    assert codes == {("MISSING_FIELD", "qty"), ("INVALID_FIELD", "side")}
    assert not_json.status_code == 400


async def test_foreign_account_is_forbidden(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with rest(endpoints) as http:
            place = await http.post("/v1/orders", json=order_body(tradingAccountId="SOMEONE-ELSE"))
            cancel = await http.post(
                "/v1/orders/cancel",
                json={"origClOrdId": "SIM-1", "accountId": "SOMEONE-ELSE", "symbol": "AAPL"},
            )
    assert place.status_code == 403
    assert place.json()["codes"][0]["code"] == "FORBIDDEN"
    assert cancel.status_code == 403


async def test_unknown_route_and_wrong_method_use_the_error_envelope(
    endpoints: SimEndpoints,
) -> None:
    with trio.fail_after(WAIT):
        async with rest(endpoints) as http:
            missing = await http.get("/v1/nowhere")
            wrong = await http.get("/v1/orders")
    assert missing.status_code == 404
    assert missing.json()["codes"][0]["code"] == "NOT_FOUND"
    assert wrong.status_code == 405
    assert wrong.json()["codes"][0]["code"] == "METHOD_NOT_ALLOWED"
