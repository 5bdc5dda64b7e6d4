"""Conformance of the charts socket (§6): auth rules, subscribe ack, TradingView-style
quote/trade events with a top-level RFC 3339 ``timestamp``."""

from __future__ import annotations

from datetime import datetime

import trio

from engine.sim import SimConfig
from engine.testing import open_simulator
from tests.sim.helpers import CHARTS, WAIT, authed, connect

FAST = SimConfig(tick_interval=0.02)
QUOTE_KEYS = {
    "lp", "bid", "ask", "ch", "chp", "open_price", "high_price", "low_price",
    "prev_close_price", "volume",
}  # fmt: skip


def rfc3339_with_offset(value: object) -> bool:
    return (
        isinstance(value, str) and "T" in value and datetime.fromisoformat(value).tzinfo is not None
    )


async def test_auth_rules() -> None:
    async with open_simulator(SimConfig(auth_timeout=0.3)) as sim:
        with trio.fail_after(WAIT):
            async with connect(sim.endpoints, CHARTS) as client:
                await client.send(
                    {"type": "subscribe", "id": "early", "payload": {"symbol": "AAPL"}}
                )
                early = await client.recv()
                assert early["payload"]["code"] == "AUTH_REQUIRED"
                assert rfc3339_with_offset(early["timestamp"])
                assert (await client.auth("forged"))["payload"]["code"] == "INVALID_TOKEN"
                ok = await client.auth()
                assert ok["payload"]["action"] == "authSuccess"
                assert rfc3339_with_offset(ok["timestamp"])
                assert isinstance(ok["payload"]["timestamp"], int)
            async with connect(sim.endpoints, CHARTS) as late:
                assert (await late.recv())["payload"]["code"] == "AUTH_REQUIRED"
                assert await late.wait_closed() == 1008


async def test_quote_and_trade_events() -> None:
    async with open_simulator(FAST) as sim, authed(sim.endpoints, CHARTS) as client:
        with trio.fail_after(WAIT):
            await client.send({"type": "subscribe", "id": "c-1", "payload": {"symbol": "AAPL"}})
            ack = await client.recv()
            first = await client.recv()
            with_trade = await client.recv_until(lambda m: "trade" in m.get("payload", {}))
            await client.send({"type": "unsubscribe", "id": "c-2", "payload": {"symbol": "AAPL"}})
            bye = await client.recv_until(lambda m: m.get("id") == "c-2")
    assert ack["type"] == "subscribed"
    assert ack["id"] == "c-1"
    assert ack["payload"] == {"symbol": "AAPL"}
    for event in (first, with_trade):
        assert event["type"] == "event"
        assert rfc3339_with_offset(event["timestamp"])
        assert event["payload"]["symbol"] == "AAPL"
        assert set(event["payload"]["quote"]) == QUOTE_KEYS
        assert all(isinstance(v, int | float) for v in event["payload"]["quote"].values())
    assert set(with_trade["payload"]) == {"symbol", "quote", "trade"}
    trade = with_trade["payload"]["trade"]
    assert set(trade) == {"price", "size", "time"}
    assert isinstance(trade["time"], int)
    assert trade["time"] > 10**12
    assert bye["type"] == "unsubscribed"
