"""Conformance of the accounts socket: every rule of issue 3 item 2 and the shape of every
message of item 1, checked with a plain ``trio_websocket`` client against the catalogue."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
import trio

from engine.sim import SimAccount, SimConfig, SimPosition
from engine.testing import open_simulator
from tests.sim.helpers import (
    ACCOUNTS,
    JSON,
    WAIT,
    SimClient,
    authed,
    connect,
    is_account_event,
    issue_token,
    order_body,
    rest,
)

DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
CONFIG = SimConfig(
    tick_interval=0.02,
    accounts=(
        SimAccount(
            account_id="SIM-001",
            positions=(SimPosition("AAPL", Decimal(100), Decimal("180.00")),),
        ),
    ),
)
ERROR_KEYS = {"type", "id", "payload", "timestamp"}
ERROR_PAYLOAD_KEYS = {"action", "code", "error", "id"}
CANDLE_KEYS = {"t", "o", "h", "l", "c"}


def rfc3339_with_offset(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def is_epoch_ms(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 10**12


def is_money(value: object) -> bool:
    return isinstance(value, str) and bool(DECIMAL.match(value))


def topic_event(topic: str, action: str = "update") -> Callable[[JSON], bool]:
    return lambda m: (
        m.get("type") == "event" and m.get("topic") == topic and m["payload"]["action"] == action
    )


async def subscribe(client: SimClient, topic: str, params: JSON | None, rid: str = "s") -> JSON:
    message: JSON = {"type": "subscribe", "id": rid, "topic": topic}
    if params is not None:
        message["params"] = params
    await client.send(message)
    return await client.recv_until(lambda m: m.get("id") == rid)


def assert_error(message: JSON, code: str, rid: str | None) -> None:
    assert message["type"] == "error"
    assert set(message) == (ERROR_KEYS if rid else ERROR_KEYS - {"id"})
    assert set(message["payload"]) == (ERROR_PAYLOAD_KEYS if rid else ERROR_PAYLOAD_KEYS - {"id"})
    assert message["payload"]["action"] == "error"
    assert message["payload"]["code"] == code
    assert isinstance(message["payload"]["error"], str)
    assert rfc3339_with_offset(message["timestamp"])
    if rid:
        assert message["id"] == message["payload"]["id"] == rid


# -- auth and session rules -----------------------------------------------------------------


async def test_auth_success_carries_epoch_ms_and_session_length() -> None:
    async with open_simulator(CONFIG) as sim, connect(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            reply = await client.auth(request_id="a-1")
    assert set(reply) == {"type", "id", "payload", "timestamp"}
    assert set(reply["payload"]) == {"action", "id", "data", "timestamp"}
    assert set(reply["payload"]["data"]) == {"expiresIn", "expiresAt"}
    assert reply["payload"]["data"]["expiresIn"] == 3_900_000
    assert is_epoch_ms(reply["payload"]["data"]["expiresAt"])
    assert is_epoch_ms(reply["payload"]["timestamp"])
    assert rfc3339_with_offset(reply["timestamp"])


async def test_auth_window_then_auth_required_and_close_1008() -> None:
    async with open_simulator(SimConfig(auth_timeout=0.2)) as sim:
        with trio.fail_after(WAIT):
            async with connect(sim.endpoints, ACCOUNTS) as client:
                assert_error(await client.recv(), "AUTH_REQUIRED", None)
                assert await client.wait_closed() == 1008


async def test_invalid_token_and_subscribe_before_auth() -> None:
    async with open_simulator(CONFIG) as sim, connect(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            reply = await subscribe(client, "account", {"accountId": "SIM-001"}, "early")
            assert_error(reply, "AUTH_REQUIRED", "early")
            assert_error(await client.auth("forged", "a-bad"), "INVALID_TOKEN", "a-bad")
            assert (await client.auth())["payload"]["action"] == "authSuccess"


@pytest.mark.parametrize(
    ("topic", "params", "code"),
    [
        ("account", None, "MISSING_ACCOUNT_ID"),
        ("pnl", {"startTime": "2026-01-15T00:00:00Z"}, "MISSING_ACCOUNT_ID"),
        ("orders", {"accountId": "SIM-001"}, "UNKNOWN_TOPIC"),
        ("pnl", {"accountId": "SIM-001"}, "MISSING_START_TIME"),
        ("pnl", {"accountId": "SIM-001", "startTime": "2026-01-15T00:00:00Z", "interval": "2m"},
         "INVALID_INTERVAL"),
        ("pnl", {"accountId": "SIM-001", "startTime": "2026-01-15T00:00:00Z", "interval": "4h"},
         "INVALID_INTERVAL"),
        ("account", {"accountId": "SOMEONE-ELSE"}, "ACCESS_DENIED"),
        ("pnl", {"accountId": "SOMEONE-ELSE", "startTime": "2026-01-15T00:00:00Z"},
         "ACCESS_DENIED"),
    ],
)  # fmt: skip
async def test_subscribe_error_codes(topic: str, params: JSON | None, code: str) -> None:
    async with open_simulator(CONFIG) as sim, authed(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            assert_error(await subscribe(client, topic, params, "s-err"), code, "s-err")
            await client.send({"type": "ping", "id": "still-open"})
            assert (await client.recv_until(lambda m: m.get("type") == "pong"))["id"]


async def test_refresh_warning_expiry_and_in_place_reauth_keeps_subscriptions() -> None:
    config = SimConfig(tick_interval=0.02, session_length=0.6, refresh_warning_lead=0.3)
    async with open_simulator(config) as sim, authed(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            await subscribe(client, "watchlist", None)
            warning = await client.recv_until(
                lambda m: m.get("payload", {}).get("action") == "refreshAuth"
            )
            assert set(warning["payload"]) == {"action", "data", "timestamp"}
            assert set(warning["payload"]["data"]) == {"expiresIn", "expiresAt"}
            assert is_epoch_ms(warning["payload"]["data"]["expiresAt"])
            assert is_epoch_ms(warning["payload"]["timestamp"])
            assert rfc3339_with_offset(warning["timestamp"])
            assert (await client.auth(request_id="re"))["payload"]["action"] == "authSuccess"
            sim.watchlist_add("TSLA")
            added = await client.recv_until(topic_event("watchlist"))
            assert added["payload"]["type"] == "watchlist.add"
            expired = await client.recv_until(
                lambda m: m.get("payload", {}).get("action") == "authExpired"
            )
            assert set(expired["payload"]) == {"action", "timestamp"}
            assert is_epoch_ms(expired["payload"]["timestamp"])
            assert await client.wait_closed() == 1000


async def test_pong_shape() -> None:
    async with open_simulator(CONFIG) as sim, connect(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            await client.send({"type": "ping", "id": "p-1"})
            pong = await client.recv()
    assert set(pong) == {"type", "id", "timestamp"}
    assert rfc3339_with_offset(pong["timestamp"])


# -- account topic --------------------------------------------------------------------------

SNAPSHOT_ACCOUNT_KEYS = {
    "accountId", "accountType", "accountClass", "optionsLevel", "status",
    "sodPositionsMarketValue", "netBuyingPower", "stockBuyingPower", "dayTradeBuyingPower",
    "optionBuyingPower", "dayTradeOvernightRegTBuyingPower", "totalEquity", "settledFunds",
    "unsettledFunds", "heldBackFunds", "grossMargin", "pendingOrdersMarginRequirements",
    "maintReq", "creditMultiplier", "pendingOrdersCount", "credit", "creditRemaining",
    "realizedPL", "unRealizedPL", "SMA", "smaCreditRemaining", "PDT", "pdtCreditRemaining",
    "startOfDayCash", "valueBought", "valueSold",
}  # fmt: skip
POSITION_PRIMARY_AND_ALIASES = {
    "avgPrice", "avgCost", "todayRealizedPnL", "realizedPL", "securityType", "instrument",
}  # fmt: skip
ORDER_REQUIRED = {
    "clOrdId", "ordId", "accountId", "symbol", "side", "type", "timeInForce", "qty", "price",
    "stopPrice", "ordStatus", "cumQty", "leavesQty", "avgPrice", "securityType", "legs",
    "createdAt", "updatedAt",
}  # fmt: skip


def check_balance(fields: JSON) -> None:
    assert isinstance(fields["pendingOrdersCount"], int)
    for key, value in fields.items():
        if key in ("pendingOrdersCount", "accountId", "accountType", "accountClass",
                   "optionsLevel", "status"):  # fmt: skip
            continue
        assert is_money(value), (key, value)


async def test_account_snapshot_and_event_shapes() -> None:
    async with open_simulator(CONFIG) as sim, authed(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            reply = await subscribe(client, "account", {"accountId": "SIM-001"}, "s-acct")
            async with rest(sim.endpoints) as http:
                await http.post("/v1/orders", json=order_body())
                order = await client.recv_until(is_account_event("account.order", "FILLED"))
                position = await client.recv_until(is_account_event("account.position"))
                balance = await client.recv_until(is_account_event("account.balance"))
    assert set(reply) == {"type", "id", "topic", "params", "payload", "timestamp"}
    assert set(reply["payload"]) == {"account", "positions", "orders", "ordersV2"}
    assert set(reply["payload"]["account"]) >= SNAPSHOT_ACCOUNT_KEYS
    check_balance(reply["payload"]["account"])
    assert rfc3339_with_offset(reply["timestamp"])
    for event, kind in ((order, "account.order"), (position, "account.position"),
                        (balance, "account.balance")):  # fmt: skip
        assert set(event) == {"type", "topic", "payload", "timestamp"}
        assert set(event["payload"]) == {"action", "type", "accountId", "data"}
        assert event["payload"]["type"] == kind
        assert rfc3339_with_offset(event["timestamp"])
    assert set(order["payload"]["data"]) >= ORDER_REQUIRED
    assert order["payload"]["data"]["ordStatus"] == "FILLED"
    for key in ("qty", "cumQty", "leavesQty", "avgPrice"):
        assert is_money(order["payload"]["data"][key])
    assert rfc3339_with_offset(order["payload"]["data"]["createdAt"])
    assert set(position["payload"]["data"]) >= POSITION_PRIMARY_AND_ALIASES
    assert set(balance["payload"]["data"]) == (SNAPSHOT_ACCOUNT_KEYS - {
        "accountType", "accountClass", "optionsLevel", "status"})  # fmt: skip
    check_balance(balance["payload"]["data"])


# -- pnl topic ------------------------------------------------------------------------------


async def test_pnl_default_interval_history_snapshot_then_live_candles() -> None:
    params = {"accountId": "SIM-001", "startTime": "2020-01-01T00:00:00+00:00"}
    async with open_simulator(CONFIG) as sim:
        await sim.wait_statistics(lambda s: s.market_ticks >= 5)
        async with authed(sim.endpoints, ACCOUNTS) as client:
            with trio.fail_after(WAIT):
                reply = await subscribe(client, "pnl", params, "s-pnl")
                snapshot = await client.recv()
                live = [await client.recv_until(topic_event("pnl")) for _ in range(2)]
    assert reply["type"] == "subscribed"
    assert reply["params"] == {**params, "interval": "1m"}
    assert set(snapshot) == {"type", "topic", "payload", "timestamp"}
    assert snapshot["topic"] == "pnl"
    assert set(snapshot["payload"]) == {"action", "type", "accountId", "interval", "data"}
    assert snapshot["payload"]["action"] == "snapshot"
    assert snapshot["payload"]["type"] == "pnl.candle"
    assert snapshot["payload"]["interval"] == "1m"
    assert isinstance(snapshot["payload"]["data"], list)
    assert snapshot["payload"]["data"]
    for candle in snapshot["payload"]["data"] + [m["payload"]["data"] for m in live]:
        assert set(candle) == CANDLE_KEYS
        assert isinstance(candle["t"], int)
        assert candle["t"] % 60 == 0
        assert 10**9 < candle["t"] < 10**11  # Unix seconds
        assert all(is_money(candle[k]) for k in "ohlc")
    assert live[0]["payload"]["data"]["t"] >= snapshot["payload"]["data"][-1]["t"]


@pytest.mark.parametrize("interval", ["15s", "1m", "5m", "15m", "1h", "1d", "1mo"])
async def test_pnl_accepts_every_brief_interval(interval: str) -> None:
    params = {"accountId": "SIM-001", "startTime": "2026-01-15T00:00:00Z", "interval": interval}
    async with open_simulator(CONFIG) as sim, authed(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            reply = await subscribe(client, "pnl", params, "s-i")
            snapshot = await client.recv()
    assert reply["type"] == "subscribed"
    assert snapshot["payload"]["interval"] == interval


# -- watchlist and news ---------------------------------------------------------------------


async def test_watchlist_add_update_remove_shapes() -> None:
    async with open_simulator(CONFIG) as sim, authed(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            await subscribe(client, "watchlist", None)
            sim.watchlist_add("TSLA")
            sim.watchlist_update(symbol="TSLA", position=0, name="Renamed")
            sim.watchlist_remove("TSLA")
            events = [await client.recv_until(topic_event("watchlist")) for _ in range(3)]
    kinds = [e["payload"]["type"] for e in events]
    assert kinds == ["watchlist.add", "watchlist.update", "watchlist.remove"]
    for event in events:
        assert set(event) == {"type", "topic", "payload", "timestamp"}
        assert set(event["payload"]) == {"action", "type", "data"}
        assert rfc3339_with_offset(event["timestamp"])
    assert set(events[0]["payload"]["data"]) == {
        "watchlistId", "name", "symbol", "position", "updatedAt"}  # fmt: skip
    assert events[1]["payload"]["data"]["position"] == 0
    assert events[1]["payload"]["data"]["name"] == "Renamed"
    assert events[2]["payload"]["data"] == {"watchlistId": "wl-1", "symbol": "TSLA"}


async def test_news_is_filtered_by_symbols_and_topics() -> None:
    filters = {"symbols": ["AAPL"], "topics": ["earnings"]}
    async with (
        open_simulator(CONFIG) as sim,
        authed(sim.endpoints, ACCOUNTS) as filtered,
        authed(sim.endpoints, ACCOUNTS) as everything,
    ):
        with trio.fail_after(WAIT):
            await subscribe(filtered, "news", filters)
            await subscribe(everything, "news", None)
            sim.publish_news("MSFT earnings", symbols=["MSFT"], topics=["earnings"])
            sim.publish_news("AAPL merger", symbols=["AAPL"], topics=["merger"])
            wanted = sim.publish_news("AAPL earnings", symbols=["AAPL"], topics=["earnings"])
            got = await filtered.recv_until(topic_event("news"))
            all_news = [await everything.recv_until(topic_event("news")) for _ in range(3)]
    assert got["payload"]["data"]["id"] == wanted.id
    assert len({m["payload"]["data"]["id"] for m in all_news}) == 3
    assert set(got["payload"]) == {"action", "type", "data"}
    assert got["payload"]["type"] == "news"
    news_keys = {"id", "headline", "summary", "symbols", "topics", "source", "url", "publishedAt"}
    assert set(got["payload"]["data"]) == news_keys
    assert rfc3339_with_offset(got["payload"]["data"]["publishedAt"])


# -- issued tokens and account info ---------------------------------------------------------


async def test_expired_issued_token_is_invalid_token() -> None:
    config = SimConfig(tick_interval=0.02, access_token_ttl=0.2)
    async with open_simulator(config) as sim, connect(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            tokens = await issue_token(sim.endpoints, "sim-user@sim.invalid")
            expires_at = sim.users.token_expires_at(tokens["access_token"])
            assert expires_at is not None
            await trio.sleep_until(expires_at)  # the token's own deadline on trio's clock
            reply = await client.auth(tokens["access_token"], "auth-late")
    assert set(reply) == ERROR_KEYS
    assert reply["payload"]["code"] == "INVALID_TOKEN"
    assert reply["payload"]["id"] == "auth-late"


async def test_account_info_event_on_status_change() -> None:
    async with open_simulator(CONFIG) as sim, authed(sim.endpoints, ACCOUNTS) as client:
        with trio.fail_after(WAIT):
            await subscribe(client, "account", {"accountId": "SIM-001"}, "s-acct")
            assert sim.set_account_status("SIM-001", "RESTRICTED")
            assert not sim.set_account_status("SIM-001", "RESTRICTED")
            event = await client.recv_until(is_account_event("account.info"))
            assert sim.set_account_status("SIM-001", options_level="LEVEL_4")
            level = await client.recv_until(is_account_event("account.info"))
            again = await subscribe(client, "account", {"accountId": "SIM-001"}, "s-again")
    assert set(event) == {"type", "topic", "payload", "timestamp"}
    assert set(event["payload"]) == {"action", "type", "accountId", "data"}
    assert event["payload"]["accountId"] == "SIM-001"
    assert rfc3339_with_offset(event["timestamp"])
    data = event["payload"]["data"]
    assert set(data) == {"accountId", "status", "accountType", "accountClass", "optionsLevel",
                         "isSim", "updatedAt"}  # fmt: skip
    assert data["status"] == "RESTRICTED"
    assert data["isSim"] is True
    assert rfc3339_with_offset(data["updatedAt"])
    assert level["payload"]["data"]["optionsLevel"] == "LEVEL_4"
    assert again["payload"]["account"]["status"] == "RESTRICTED"
