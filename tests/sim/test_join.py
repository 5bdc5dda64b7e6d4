"""The socket side over the venue side: users and OAuth tokens on the sockets, per-user
isolation, option-aware account events, market data from the market model, logging."""

from __future__ import annotations

from decimal import Decimal

import pytest
import structlog
import trio

from engine.sim import SimAccount, SimConfig, Simulator
from engine.sim._config import SimUser
from engine.sim._streams import level2_rows
from tests.sim.helpers import (
    ACCOUNTS,
    CHARTS,
    JSON,
    MARKET,
    WAIT,
    SimClient,
    authed,
    connect,
    is_account_event,
    issue_token,
    order_body,
    rest,
    start_sim,
)

BOB = SimUser(
    user_id="bob",
    access_token="bob-token",
    accounts=(SimAccount(account_id="BOB-1"),),
)
CAROL = SimUser(user_id="carol", accounts=(SimAccount(account_id="CAROL-1"),))


def _config(**overrides: object) -> SimConfig:
    fields: dict[str, object] = {"tick_interval": 0.02, "users": (BOB, CAROL)}
    fields.update(overrides)
    return SimConfig(**fields)  # type: ignore[arg-type]


async def _subscribe(client: SimClient, account_id: str, request_id: str = "s-1") -> JSON:
    await client.send(
        {"type": "subscribe", "id": request_id, "topic": "account",
         "params": {"accountId": account_id}}
    )  # fmt: skip
    return await client.recv_until(lambda m: m.get("id") == request_id)


async def test_a_user_cannot_subscribe_to_or_see_another_users_account(
    nursery: trio.Nursery,
) -> None:
    sim = await start_sim(nursery, _config())
    with trio.fail_after(WAIT):
        async with (
            authed(sim.endpoints, ACCOUNTS) as alice,
            connect(sim.endpoints, ACCOUNTS) as bob,
        ):
            assert (await bob.auth("bob-token"))["payload"]["action"] == "authSuccess"
            denied = await _subscribe(bob, "SIM-001", "b-1")
            denied_pnl_request = {
                "type": "subscribe", "id": "b-2", "topic": "pnl",
                "params": {"accountId": "SIM-001", "startTime": "2026-01-15T00:00:00Z"},
            }  # fmt: skip
            await bob.send(denied_pnl_request)
            denied_pnl = await bob.recv_until(lambda m: m.get("id") == "b-2")
            own = await _subscribe(bob, "BOB-1", "b-3")
            assert (await _subscribe(alice, "SIM-001"))["type"] == "subscribed"
            assert (await _subscribe(alice, "BOB-1", "a-2"))["payload"]["code"] == "ACCESS_DENIED"
            async with rest(sim.endpoints) as http:
                await http.post("/v1/orders", json=order_body())
            await alice.recv_until(is_account_event("account.order", "FILLED"))
            async with rest(sim.endpoints, token="bob-token") as http:
                placed = await http.post("/v1/orders", json=order_body(tradingAccountId="BOB-1"))
                assert placed.json()["success"] is True
            bob_events = []
            while True:  # everything bob gets up to his own fill
                event = await bob.recv()
                bob_events.append(event)
                if is_account_event("account.order", "FILLED")(event):
                    break
    assert denied["type"] == "error"
    assert denied["payload"]["code"] == "ACCESS_DENIED"
    assert denied_pnl["payload"]["code"] == "ACCESS_DENIED"
    assert own["type"] == "subscribed"
    assert own["payload"]["account"]["accountId"] == "BOB-1"
    account_ids = {e["payload"]["accountId"] for e in bob_events if e.get("topic") == "account"}
    assert account_ids == {"BOB-1"}


async def test_an_oauth_issued_token_authenticates_a_socket_for_its_user(
    nursery: trio.Nursery,
) -> None:
    sim = await start_sim(nursery, _config(session_length=60.0, refresh_warning_lead=1.0))
    with trio.fail_after(WAIT):
        tokens = await issue_token(sim.endpoints, "carol@sim.invalid")
        async with connect(sim.endpoints, ACCOUNTS) as client:
            ok = await client.auth(tokens["access_token"])
            mine = await _subscribe(client, "CAROL-1")
            other = await _subscribe(client, "SIM-001", "s-2")
            # re-auth in place must stay the same user (subscriptions are kept)
            switched = await client.auth("bob-token", "auth-2")
    assert ok["payload"]["action"] == "authSuccess"
    assert mine["type"] == "subscribed"
    assert other["payload"]["code"] == "ACCESS_DENIED"
    assert switched["payload"]["code"] == "INVALID_TOKEN"


async def test_a_session_never_outlives_its_issued_token(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, _config(access_token_ttl=0.5, refresh_warning_lead=0.2))
    with trio.fail_after(WAIT):
        tokens = await issue_token(sim.endpoints, "carol@sim.invalid")
        expires_at = sim.users.token_expires_at(tokens["access_token"])
        assert expires_at is not None
        async with connect(sim.endpoints, ACCOUNTS) as client:
            ok = await client.auth(tokens["access_token"])
            warning = await client.recv()
            expired = await client.recv()
            ended_at = trio.current_time()
            code = await client.wait_closed()
    assert ok["payload"]["data"]["expiresIn"] <= 500
    assert warning["payload"]["action"] == "refreshAuth"
    assert expired["payload"]["action"] == "authExpired"
    assert ended_at >= expires_at
    assert code == 1000


async def test_option_orders_and_positions_are_security_type_option(sim: Simulator) -> None:
    chain = sim.market.option_chain("AAPL", sim.ledger.as_of)
    option = chain[len(chain) // 2]
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, ACCOUNTS) as client:
            await _subscribe(client, "SIM-001")
            async with rest(sim.endpoints) as http:
                placed = await http.post(
                    "/v1/orders", json=order_body(symbol=option.symbol, qty="1")
                )
                assert placed.json()["success"] is True, placed.json()
            order = await client.recv_until(is_account_event("account.order", "FILLED"))
            position = await client.recv_until(is_account_event("account.position"))
            snapshot = await _subscribe(client, "SIM-001", "s-2")
    data = order["payload"]["data"]
    assert data["symbol"] == option.symbol
    assert data["securityType"] == "OPTION"
    pos = position["payload"]["data"]
    assert pos["securityType"] == pos["instrument"] == "OPTION"
    assert pos["putCall"] == option.put_call
    assert Decimal(pos["strikePrice"]) == option.strike
    assert pos["maturity"] == option.expiry.isoformat()
    held = next(p for p in snapshot["payload"]["positions"] if p["symbol"] == option.symbol)
    assert held["securityType"] == "OPTION"
    assert {o["securityType"] for o in snapshot["payload"]["ordersV2"]} == {"OPTION"}


async def test_trailing_stop_events_carry_the_offset_fields(sim: Simulator) -> None:
    body = order_body(type="TRAILING_STOP", side="SELL", trailOffset="1.50",
                      trailOffsetType="DOLLAR", qty="10")  # fmt: skip
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, ACCOUNTS) as client:
            await _subscribe(client, "SIM-001")
            async with rest(sim.endpoints) as http:
                await http.post("/v1/orders", json=order_body(qty="10"))
                await client.recv_until(is_account_event("account.order", "FILLED"))
                placed = await http.post("/v1/orders", json=body)
                assert placed.json()["success"] is True, placed.json()
            order = await client.recv_until(is_account_event("account.order", "NEW"))
    data = order["payload"]["data"]
    assert data["type"] == "TRAILING_STOP"
    assert data["trailOffset"] == "1.5"
    assert data["trailOffsetType"] == "DOLLAR"
    assert data["securityType"] == "EQUITY"


async def test_level2_rows_are_the_market_models_book(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, SimConfig(tick_interval=0.3))
    request = {"type": "subscribe", "id": "m-1", "payload": [{"symbol": "MSFT", "level2": True}]}
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, MARKET) as client:
            await client.send(request)
            event = await client.recv_until(
                lambda m: (
                    isinstance(m.get("payload"), dict) and m["payload"].get("type") == "level2"
                )
            )
            book = sim.market.book("MSFT")  # same tick: the next one is 0.3 s away
    rows, makers = level2_rows(book)
    data = event["payload"]["data"]
    assert data["orderBook"] == rows
    assert data["quotes"] == makers
    assert data["orderBook"][0] == f"{book.asks[0].size}:{book.asks[0].price}:0"
    assert len(data["orderBook"]) == len(book.asks) + len(book.bids)


async def test_option_quotes_come_from_the_market_model(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, SimConfig(tick_interval=0.3))
    option = sim.market.option_chain("AAPL", sim.ledger.as_of)[0].symbol
    assert option in sim.option_symbols
    request = {
        "type": "subscribe",
        "id": "o-1",
        "payload": [{"symbol": option, "symbolType": "option", "quoteFields": ["*"]}],
    }
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, MARKET) as client:
            await client.send(request)
            event = await client.recv_until(
                lambda m: isinstance(m.get("payload"), dict) and m["payload"].get("type") == "quote"
            )
            expected = sim.market.option_quote(option, sim.ledger.as_of)
    data = event["payload"]["data"]
    assert Decimal(data["bidPrice"]) == expected.bid
    assert Decimal(data["askPrice"]) == expected.ask


async def test_charts_serve_option_symbols(sim: Simulator) -> None:
    option = sim.option_symbols[0]
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, CHARTS) as client:
            await client.send({"type": "subscribe", "id": "c-1", "payload": {"symbol": option}})
            ack = await client.recv()
            first = await client.recv()
            update = await client.recv()
            await client.send({"type": "subscribe", "id": "c-2", "payload": {"symbol": "NOPE"}})
            unknown = await client.recv_until(lambda m: m.get("id") == "c-2")
    assert ack["payload"] == {"symbol": option}
    for event in (first, update):
        assert event["payload"]["symbol"] == option
        quote = event["payload"]["quote"]
        assert quote["bid"] < quote["ask"]
        assert quote["volume"] == 0
    assert unknown["payload"]["code"] == "UNKNOWN_SYMBOL"


@pytest.mark.parametrize(("log_traffic", "level"), [(True, "info"), (False, "debug")])
async def test_socket_connections_log_at_info_only_with_log_traffic(
    nursery: trio.Nursery, log_traffic: bool, level: str
) -> None:
    sim = await start_sim(nursery, SimConfig(tick_interval=0.02, log_traffic=log_traffic))
    with structlog.testing.capture_logs() as logs, trio.fail_after(WAIT):
        async with authed(sim.endpoints, ACCOUNTS):
            pass
        await sim.wait_statistics(lambda s: s.open_sockets[ACCOUNTS] == 0)
    levels = {e["event"]: e["log_level"] for e in logs if e["event"].startswith("sim.session")}
    assert levels["sim.session.opened"] == level
    assert levels["sim.session.closed"] == level
