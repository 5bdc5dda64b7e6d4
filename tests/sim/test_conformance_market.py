"""Conformance of the market-data socket (§5): auth rules, ``marketStatus`` (after auth and on
change), quotes, trades, time & sales, compact level 2, option quotes and greeks."""

from __future__ import annotations

import re
from collections.abc import Callable

import trio

from engine.sim import SimConfig
from engine.testing import open_simulator
from tests.sim.helpers import JSON, MARKET, WAIT, authed, connect

DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
ORDER_BOOK_ROW = re.compile(r"^\d+:\d+\.\d{2}:\d+$")
MAKER_ROW = re.compile(r"^[A-Z]+:\d+\.\d{2}:\d+:\d+\.\d{2}:\d+$")
FAST = SimConfig(tick_interval=0.02)
STATUS_KEYS = {
    "afterHours", "currencies", "earlyHours", "exchanges", "indicesGroups", "market", "serverTime",
}  # fmt: skip


def event_of(kind: str) -> Callable[[JSON], bool]:
    return lambda m: m.get("type") == "event" and m["payload"].get("type") == kind


def check_event(message: JSON, kind: str) -> JSON:
    assert set(message) == {"type", "payload"}
    assert set(message["payload"]) == {"action", "type", "data", "timestamp"}
    assert message["payload"]["action"] == "update"
    assert message["payload"]["type"] == kind
    stamp = message["payload"]["timestamp"]
    assert isinstance(stamp, int)
    assert stamp > 10**12  # epoch ms inside payload (§2.1)
    data = message["payload"]["data"]
    assert isinstance(data, dict)
    return data


async def test_auth_rules_and_market_status_after_auth() -> None:
    async with open_simulator(SimConfig(auth_timeout=0.3)) as sim:
        with trio.fail_after(WAIT):
            async with connect(sim.endpoints, MARKET) as client:
                await client.send(
                    {"type": "subscribe", "id": "early", "payload": [{"symbol": "AAPL"}]}
                )
                early = await client.recv()
                assert early["payload"]["code"] == "AUTH_REQUIRED"
                bad = await client.auth("forged")
                assert bad["payload"]["code"] == "INVALID_TOKEN"
                ok = await client.auth()
                assert isinstance(ok["payload"]["data"]["expiresAt"], int)
                status = check_event(await client.recv(), "marketStatus")
                assert set(status) == STATUS_KEYS
            async with connect(sim.endpoints, MARKET) as late:
                assert (await late.recv())["payload"]["code"] == "AUTH_REQUIRED"
                assert await late.wait_closed() == 1008


async def test_market_status_change_is_pushed() -> None:
    async with open_simulator(FAST) as sim, authed(sim.endpoints, MARKET) as client:
        with trio.fail_after(WAIT):
            first = check_event(await client.recv(), "marketStatus")
            assert first["market"] == "open"
            assert sim.set_market_status(market="closed", exchanges={"nyse": "closed"})
            assert not sim.set_market_status(market="closed")
            changed = check_event(await client.recv_until(event_of("marketStatus")), "marketStatus")
    assert changed["market"] == "closed"
    assert changed["exchanges"]["nyse"] == "closed"
    assert changed["exchanges"]["nasdaq"] == "open"


async def test_quotes_trades_time_and_sales_and_level2() -> None:
    request = {
        "type": "subscribe",
        "id": "m-1",
        "payload": [
            {"symbol": "AAPL", "fields": ["*"], "level2": True, "timeAndSalesFields": ["*"]}
        ],
    }
    async with open_simulator(FAST) as sim, authed(sim.endpoints, MARKET) as client:
        with trio.fail_after(WAIT):
            await client.send(request)
            ack = await client.recv_until(lambda m: m.get("type") == "subscribed")
            quote = check_event(await client.recv_until(event_of("quote")), "quote")
            trade = check_event(await client.recv_until(event_of("trade")), "trade")
            tape = check_event(await client.recv_until(event_of("timeAndSales")), "timeAndSales")
            level2 = check_event(await client.recv_until(event_of("level2")), "level2")
    assert ack == {"type": "subscribed", "id": "m-1", "payload": {"symbols": ["AAPL"]}}
    assert set(quote) == {"symbol", "bidPrice", "bidSize", "askPrice", "askSize", "quoteTimestamp"}
    assert all(DECIMAL.match(quote[k]) for k in ("bidPrice", "bidSize", "askPrice", "askSize"))
    assert "T" in quote["quoteTimestamp"]
    assert quote["quoteTimestamp"][-6] in "+-"  # ISO 8601 with offset
    trade_keys = {"symbol", "lastPrice", "size", "totalVolume", "tradeExchange", "tradeTimestamp"}
    assert set(trade) == trade_keys | {"tradeSeq"}
    assert isinstance(trade["tradeSeq"], int)
    assert set(tape) == {"symbol", "price", "size", "tradeExchange", "tradeTimestamp", "tradeSeq"}
    assert DECIMAL.match(tape["price"])
    assert set(level2) == {"symbol", "orderBook", "quotes"}
    assert level2["orderBook"]
    assert all(ORDER_BOOK_ROW.match(r) for r in level2["orderBook"])
    assert all(MAKER_ROW.match(r) for r in level2["quotes"])


async def test_option_quotes_and_greeks() -> None:
    async with open_simulator(FAST) as sim, authed(sim.endpoints, MARKET) as client:
        option = next(s for s in sim.option_symbols if s.startswith("AAPL"))
        request = {
            "type": "subscribe",
            "id": "o-1",
            "payload": [
                {
                    "symbol": option,
                    "symbolType": "option",
                    "quoteFields": ["*"],
                    "greeksFields": ["*"],
                }
            ],
        }
        with trio.fail_after(WAIT):
            await client.send(request)
            await client.recv_until(lambda m: m.get("type") == "subscribed")
            quote = check_event(await client.recv_until(event_of("quote")), "quote")
            greeks = check_event(await client.recv_until(event_of("greeks")), "greeks")
            await client.send(
                {
                    "type": "subscribe",
                    "id": "o-2",
                    "payload": [{"symbol": "AAPL270115C00999000", "symbolType": "option"}],
                }
            )
            unknown = await client.recv_until(lambda m: m.get("id") == "o-2")
            await client.send(
                {
                    "type": "subscribe",
                    "id": "o-3",
                    "payload": [{"symbol": "AAPL", "greeksFields": ["*"]}],
                }
            )
            not_option = await client.recv_until(lambda m: m.get("id") == "o-3")
    assert quote["symbol"] == option
    assert set(greeks) == {"symbol", "delta", "gamma", "theta", "vega", "rho", "impliedVolatility"}
    assert all(DECIMAL.match(v) for k, v in greeks.items() if k != "symbol")
    assert unknown["payload"]["code"] == "UNKNOWN_SYMBOL"
    assert not_option["payload"]["code"] == "INVALID_MESSAGE"
