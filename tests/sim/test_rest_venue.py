"""REST reads and order actions of the venue over real sockets (§8.2–§8.9, §8.11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import trio

from engine.sim import SimAccount, SimConfig, Simulator
from engine.sim._config import SimUser
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

REST_BALANCE_KEYS = {
    "accountId", "dayTradeBuyingPower", "netBuyingPower", "optionBuyingPower", "stockBuyingPower",
    "totalEquity", "realizedPl", "unrealizedPl", "settledFunds", "unsettledFunds",
    "startOfDayCash", "maintReq", "grossMargin", "sma", "credit", "creditRemaining", "pdt",
    "pdtCreditRemaining", "pendingOrdersCount", "pendingOrdersMarginRequirements", "valueBought",
    "valueSold", "dayTradeOvernightRegTBuyingPower", "heldBackFunds", "sodPositionsMarketValue",
    "sodTtlEquity", "sodTtlEquityUpdatedAt", "creditMultiplier", "smaCreditRemaining",
}  # fmt: skip
POSITION_KEYS = {
    "accountId", "symbol", "instrument", "securityType", "quantity", "averagePrice", "realizedPl",
    "todayRealizedPnL", "unrealizedPl", "dailyPl", "valueBought", "valueSold", "creditUsed",
    "marketValue", "createdAt",
}  # fmt: skip

OTHER = SimUser(
    user_id="carol",
    access_token="carol-token",
    accounts=(SimAccount(account_id="CAROL-CASH", account_type="CASH", cash=Decimal(5000)),),
)


def _config(**overrides: object) -> SimConfig:
    fields: dict[str, object] = {"tick_interval": 0.02, "users": (OTHER,)}
    fields.update(overrides)
    return SimConfig(**fields)  # type: ignore[arg-type]


async def _subscribe(client: SimClient, account_id: str = "SIM-001") -> JSON:
    await client.send(
        {"type": "subscribe", "id": "s-1", "topic": "account", "params": {"accountId": account_id}}
    )
    return await client.recv_until(lambda m: m.get("type") == "subscribed")


async def test_balances_positions_and_accounts_reads(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, _config())
    with trio.fail_after(WAIT):
        async with rest(sim.endpoints) as http:
            placed = await http.post("/v1/orders", json=order_body())
            assert placed.json()["success"] is True
            balances = await http.get("/v1/accounts/SIM-001/balances")
            positions = await http.get("/v1/accounts/SIM-001/positions")
            accounts = await http.get("/v1/users/me/accounts")
            forbidden = await http.get("/v1/accounts/CAROL-CASH/balances")
            unknown = await http.get("/v1/accounts/NOPE/positions")
        async with rest(sim.endpoints, token=None) as anonymous:
            unauthorized = await anonymous.get("/v1/accounts/SIM-001/balances")
    assert balances.status_code == 200
    body = balances.json()
    assert set(body) == REST_BALANCE_KEYS
    assert body["accountId"] == "SIM-001"
    assert isinstance(body["pendingOrdersCount"], int)
    assert body["valueBought"] != "0.00"
    assert Decimal(body["totalEquity"]) > 0
    assert positions.status_code == 200
    items = positions.json()["positions"]
    assert positions.json()["availability"] == {"available": True, "source": "cache"}
    assert [p["symbol"] for p in items] == ["AAPL"]
    assert set(items[0]) == POSITION_KEYS
    assert items[0]["quantity"] == "100"
    assert items[0]["instrument"] == items[0]["securityType"] == "EQUITY"
    listed = accounts.json()["accounts"]
    assert [a["sterling_account_id"] for a in listed] == ["SIM-001"]
    assert listed[0]["account_class"] == "MARGIN"
    assert listed[0]["is_sim"] is True
    assert forbidden.status_code == unknown.status_code == 403
    assert forbidden.json()["codes"][0]["code"] == "FORBIDDEN"
    assert unauthorized.status_code == 401


async def test_v2_orders_cursor_paging(sim: Simulator) -> None:
    with trio.fail_after(WAIT):
        async with rest(sim.endpoints) as http:
            ids = []
            for _ in range(5):
                response = await http.post(
                    "/v1/orders", json=order_body(type="LIMIT", price="1.00", qty="1")
                )
                ids.append(response.json()["clOrdId"])
            pages: list[list[str]] = []
            cursor = 0
            while True:
                page = await http.get(
                    "/v2/accounts/SIM-001/orders",
                    params={"limit": 2, "cursor": cursor, "source": "cache"},
                )
                assert page.status_code == 200
                pages.append([o["clOrdId"] for o in page.json()["orders"]])
                cursor = page.json()["nextCursor"]
                if cursor == 0:
                    break
            default = await http.get("/v2/accounts/SIM-001/orders")
            bad_limit = await http.get("/v2/accounts/SIM-001/orders", params={"limit": 501})
            bad_source = await http.get("/v2/accounts/SIM-001/orders", params={"source": "x"})
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    assert len(default.json()["orders"]) == 5
    assert default.json()["nextCursor"] == 0
    assert default.json()["orders"][0]["ordStatus"] == "NEW"
    assert bad_limit.status_code == bad_source.status_code == 400


async def test_v2_order_history_window_and_ordering(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, _config())
    now = datetime.now(UTC)
    with trio.fail_after(WAIT):
        async with rest(sim.endpoints) as http:
            first = (await http.post("/v1/orders", json=order_body())).json()["clOrdId"]
            second = (await http.post("/v1/orders", json=order_body())).json()["clOrdId"]
            base = "/v2/accounts/SIM-001/orders/history"
            start = (now - timedelta(hours=1)).isoformat()
            desc = await http.get(base, params={"from": start})
            asc = await http.get(base, params={"from": start, "order_by": "asc"})
            missing = await http.get(base)
            no_zone = await http.get(base, params={"from": "2026-01-01T00:00:00"})
            too_long = await http.get(
                base,
                params={"from": "2025-01-01T00:00:00Z", "to": "2025-06-01T00:00:00Z"},
            )
            future = await http.get(base, params={"from": (now + timedelta(days=1)).isoformat()})
    assert [o["clOrdId"] for o in desc.json()["orders"]] == [second, first]
    assert [o["clOrdId"] for o in asc.json()["orders"]] == [first, second]
    assert missing.status_code == 400
    assert missing.json()["codes"][0] == {
        "code": "MISSING_FIELD",
        "description": "from is required",
        "field": "from",
    }
    assert no_zone.status_code == too_long.status_code == 400
    assert future.json() == {"orders": [], "nextCursor": 0}


async def test_preview_estimates_without_placing(sim: Simulator) -> None:
    with trio.fail_after(WAIT):
        async with rest(sim.endpoints) as http:
            buy = await http.post(
                "/v1/orders/preview", json=order_body(type="LIMIT", price="10.00")
            )
            sell = await http.post(
                "/v1/orders/preview", json=order_body(side="SELL", type="LIMIT", price="10.00")
            )
            huge = await http.post("/v1/orders/preview", json=order_body(qty="10000000"))
            orders = await http.get("/v2/accounts/SIM-001/orders")
    assert buy.json() == {
        "estimatedCost": "1000.00",
        "estimatedMargin": "500.00",
        "commission": "0.00",
        "fees": "0.00",
        "buyingPowerImpact": "1000.00",
        "numDayTrades": 0,
        "warnRuleId": "0",
    }
    assert sell.json()["fees"] == "0.01"
    assert huge.json()["rejectReason"] == "Insufficient buying power"
    assert orders.json()["orders"] == []


async def test_replace_over_rest_cycles_the_id(sim: Simulator) -> None:
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, ACCOUNTS) as client, rest(sim.endpoints) as http:
            await _subscribe(client)
            placed = await http.post(
                "/v1/orders", json=order_body(type="LIMIT", price="1.00", qty="10")
            )
            old = placed.json()["clOrdId"]
            body = {
                "origClOrdId": old,
                "tradingAccountId": "SIM-001",
                "symbol": "AAPL",
                "side": "BUY",
                "qty": "20",
                "price": "1.50",
            }
            replaced = await http.post("/v1/orders/replace", json=body)
            assert replaced.status_code == 200, replaced.text
            ack = replaced.json()
            new = ack["clOrdId"]
            assert (ack["origClOrdId"], ack["status"], ack["qty"], ack["price"]) == (
                old,
                "REPLACED",
                "20",
                "1.50",
            )
            stale = await http.post("/v1/orders/replace", json=body)
            stale_cancel = await http.post(
                "/v1/orders/cancel",
                json={"origClOrdId": old, "tradingAccountId": "SIM-001", "symbol": "AAPL"},
            )
            nothing = await http.post(
                "/v1/orders/replace",
                json={"origClOrdId": new, "tradingAccountId": "SIM-001", "symbol": "AAPL"},
            )
            event = await client.recv_until(is_account_event("account.order", "REPLACED"))
            fresh = await client.recv_until(is_account_event("account.order", "NEW"))
    assert stale.status_code == stale_cancel.status_code == 409
    assert stale.json()["codes"][0]["code"] == "STALE_CL_ORD_ID"
    assert nothing.status_code == 400
    assert event["payload"]["data"]["clOrdId"] == old
    assert fresh["payload"]["data"]["clOrdId"] == new
    assert fresh["payload"]["data"]["qty"] == "20"


async def test_venue_rejections_are_200_with_a_reason(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, _config())
    with trio.fail_after(WAIT):
        async with rest(sim.endpoints, token="carol-token") as http:
            short = await http.post(
                "/v1/orders",
                json=order_body(tradingAccountId="CAROL-CASH", side="SELL_SHORT", qty="1"),
            )
            someone_elses = await http.post("/v1/orders", json=order_body())
    assert short.status_code == 200
    assert short.json()["status"] == "REJECTED"
    assert short.json()["ordRejReason"] == "Short sales are not allowed in a cash account"
    assert someone_elses.status_code == 403


async def test_latency_reports_pending_states_first(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, _config(order_latency=0.1))
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, ACCOUNTS) as client, rest(sim.endpoints) as http:
            await _subscribe(client)
            placed = await http.post(
                "/v1/orders", json=order_body(type="LIMIT", price="1.00", qty="10")
            )
            assert placed.json()["status"] == "PENDING_NEW"
            cl = placed.json()["clOrdId"]
            pending = await client.recv_until(is_account_event("account.order"))
            assert pending["payload"]["data"]["ordStatus"] == "PENDING_NEW"
            await client.recv_until(is_account_event("account.order", "NEW"))
            cancel = await http.post(
                "/v1/orders/cancel",
                json={"origClOrdId": cl, "tradingAccountId": "SIM-001", "symbol": "AAPL"},
            )
            assert cancel.json()["status"] == "PENDING_CANCEL"
            await client.recv_until(is_account_event("account.order", "PENDING_CANCEL"))
            done = await client.recv_until(is_account_event("account.order", "CANCELED"))
    assert done["payload"]["data"]["clOrdId"] == cl


async def test_trailing_stop_and_option_orders_over_rest(sim: Simulator) -> None:
    chain = sim.market.option_chain("AAPL", datetime.now(UTC).date())
    option = chain[len(chain) // 2].symbol
    with trio.fail_after(WAIT):
        async with rest(sim.endpoints) as http:
            trailing = await http.post(
                "/v1/orders",
                json=order_body(
                    side="SELL_SHORT",
                    type="TRAILING_STOP",
                    trailOffset="5.00",
                    trailOffsetType="DOLLAR",
                ),
            )
            missing_offset = await http.post("/v1/orders", json=order_body(type="TRAILING_STOP"))
            bought = await http.post("/v1/orders", json=order_body(symbol=option, qty="1"))
            bad_tif = await http.post(
                "/v1/orders", json=order_body(symbol=option, qty="1", timeInForce="IOC")
            )
            orders = (await http.get("/v2/accounts/SIM-001/orders")).json()["orders"]
            positions = (await http.get("/v1/accounts/SIM-001/positions")).json()["positions"]
    assert trailing.json()["status"] == "NEW"
    listed = next(o for o in orders if o["clOrdId"] == trailing.json()["clOrdId"])
    assert listed["type"] == "TRAILING_STOP"
    assert (listed["trailOffset"], listed["trailOffsetType"]) == ("5", "DOLLAR")
    assert listed["stopPrice"] != ""
    assert missing_offset.status_code == 400
    assert bought.json()["success"] is True
    assert bad_tif.status_code == 400
    option_order = next(o for o in orders if o["symbol"] == option)
    assert option_order["securityType"] == "OPTION"
    assert option_order["ordStatus"] == "FILLED"
    assert [p["securityType"] for p in positions if p["symbol"] == option] == ["OPTION"]
