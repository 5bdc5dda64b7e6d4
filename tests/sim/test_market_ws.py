"""The market socket: marketStatus, subscribe/ack/snapshot, NDJSON-batched quotes and trades."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import trio

from engine.sim import SimEndpoints, Simulator
from tests.sim.helpers import (
    CHARTS,
    JSON,
    MARKET,
    WAIT,
    SimClient,
    authed,
    connect,
    is_action,
)


def _is(kind: str, symbol: str | None = None) -> Callable[[JSON], bool]:
    def check(message: JSON) -> bool:
        payload = message.get("payload")
        return (
            message.get("type") == "event"
            and isinstance(payload, dict)
            and payload.get("type") == kind
            and (symbol is None or payload["data"].get("symbol") == symbol)
        )

    return check


def _assert_price(value: object) -> None:
    assert isinstance(value, str)
    assert Decimal(value) == Decimal(value).quantize(Decimal("0.01"))
    assert len(value.split(".")[1]) == 2


def _assert_lot(value: object) -> None:
    assert isinstance(value, str)
    assert int(value) % 100 == 0


async def _subscribe(client: SimClient, payload: list[JSON], request_id: str = "m-1") -> JSON:
    await client.send({"type": "subscribe", "id": request_id, "payload": payload})
    return await client.recv_until(lambda m: m.get("type") in ("subscribed", "error"))


async def test_market_status_after_auth(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with authed(endpoints, MARKET) as client:
            status = await client.recv()
    assert status["type"] == "event"
    payload = status["payload"]
    assert payload["action"] == "update"
    assert payload["type"] == "marketStatus"
    assert isinstance(payload["timestamp"], int)
    assert set(payload["data"]) == {
        "afterHours", "currencies", "earlyHours", "exchanges", "indicesGroups", "market",
        "serverTime",
    }  # fmt: skip
    assert "timestamp" not in status  # market events keep epoch ms inside payload


async def test_subscribe_ack_snapshot_then_batched_quotes_and_trades(sim: Simulator) -> None:
    symbols = ["AAPL", "MSFT", "TSLA"]
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, MARKET) as client:
            ack = await _subscribe(
                client, [{"symbol": s, "quoteFields": ["*"], "tradeFields": ["*"]} for s in symbols]
            )
            assert ack == {"type": "subscribed", "id": "m-1", "payload": {"symbols": symbols}}
            # The last-known quote of each symbol, in order; a symbol that already traded also
            # gets its last trade right after its quote (the market may tick before we join).
            snapshot: list[JSON] = []
            while sum(m["payload"]["type"] == "quote" for m in snapshot) < len(symbols):
                snapshot.append(await client.recv())
            snapshot_quotes = [m for m in snapshot if m["payload"]["type"] == "quote"]
            assert [m["payload"]["data"]["symbol"] for m in snapshot_quotes] == symbols
            assert all(m["payload"]["type"] in ("quote", "trade") for m in snapshot)
            quotes: list[JSON] = []
            trades: list[JSON] = []
            while len(quotes) < 30 or not trades or not any("\n" in f for f in client.frames):
                message = await client.recv()
                kind = message["payload"]["type"]
                (quotes if kind == "quote" else trades).append(message)
            assert max(len(f.split("\n")) for f in client.frames) <= sim.config.max_batch
            assert any(len(f.split("\n")) == 1 for f in client.frames[1:])
    for message in quotes:
        payload = message["payload"]
        assert payload["action"] == "update"
        assert isinstance(payload["timestamp"], int)
        data = payload["data"]
        assert set(data) == {
            "symbol",
            "bidPrice",
            "bidSize",
            "askPrice",
            "askSize",
            "quoteTimestamp",
        }
        _assert_price(data["bidPrice"])
        _assert_price(data["askPrice"])
        assert Decimal(data["bidPrice"]) < Decimal(data["askPrice"])
        _assert_lot(data["bidSize"])
        _assert_lot(data["askSize"])
    data = trades[0]["payload"]["data"]
    assert set(data) == {
        "symbol", "lastPrice", "size", "totalVolume", "tradeExchange", "tradeTimestamp", "tradeSeq",
    }  # fmt: skip
    _assert_price(data["lastPrice"])
    _assert_lot(data["size"])
    assert isinstance(data["tradeSeq"], int)
    assert sim.statistics().subscribes[MARKET] == 1


async def test_quote_fields_only_means_no_trades_and_selected_fields(sim: Simulator) -> None:
    with trio.fail_after(WAIT):
        async with authed(sim.endpoints, MARKET) as client:
            await _subscribe(client, [{"symbol": "AAPL", "quoteFields": ["bidPrice", "askPrice"]}])
            ticks = sim.statistics().market_ticks
            await sim.wait_statistics(lambda s: s.market_ticks >= ticks + 10)
            await client.send({"type": "ping", "id": "flush"})
            messages: list[JSON] = []
            while (message := await client.recv())["type"] != "pong":
                messages.append(message)
    data_messages = [m for m in messages if m["payload"]["type"] != "marketStatus"]
    assert len(data_messages) >= 10
    for message in data_messages:
        assert message["payload"]["type"] == "quote"
        assert set(message["payload"]["data"]) == {"symbol", "bidPrice", "askPrice"}


async def test_unsubscribe_removes_symbols(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with authed(endpoints, MARKET) as client:
            await _subscribe(client, [{"symbol": "AAPL"}, {"symbol": "MSFT"}])
            await client.recv_until(_is("quote", "AAPL"))
            await client.send({"type": "unsubscribe", "id": "u-1", "payload": [{"symbol": "AAPL"}]})
            reply = await client.recv_until(lambda m: m.get("type") == "unsubscribed")
            assert reply == {"type": "unsubscribed", "id": "u-1", "payload": {"symbols": ["AAPL"]}}
            msft_quotes = 0
            while msft_quotes < 5:
                message = await client.recv()
                assert message["payload"]["data"]["symbol"] == "MSFT"
                msft_quotes += message["payload"]["type"] == "quote"


async def test_unknown_symbol_and_bad_payload(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with authed(endpoints, MARKET) as client:
            error = await _subscribe(client, [{"symbol": "NOPE"}], request_id="m-2")
            assert error["type"] == "error"
            assert error["payload"]["code"] == "UNKNOWN_SYMBOL"
            assert error["id"] == "m-2"
            await client.send({"type": "subscribe", "id": "m-3", "payload": {"symbol": "AAPL"}})
            error = await client.recv_until(lambda m: m.get("type") == "error")
            assert error["payload"]["code"] == "INVALID_MESSAGE"


async def test_subscribe_before_auth_and_ping(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with connect(endpoints, MARKET) as client:
            await client.send({"type": "subscribe", "id": "m-1", "payload": [{"symbol": "AAPL"}]})
            error = await client.recv()
            assert error["type"] == "error"
            assert error["payload"]["code"] == "AUTH_REQUIRED"
            await client.send({"type": "ping", "id": "p-9"})
            pong = await client.recv()
    assert pong["type"] == "pong"
    assert pong["id"] == "p-9"
    assert pong["timestamp"].endswith("Z")


async def test_charts_socket_streams_quote_events(endpoints: SimEndpoints) -> None:
    with trio.fail_after(WAIT):
        async with authed(endpoints, CHARTS) as client:
            await client.send({"type": "subscribe", "id": "c-1", "payload": {"symbol": "AAPL"}})
            ack = await client.recv()
            assert ack["type"] == "subscribed"
            assert ack["payload"] == {"symbol": "AAPL"}
            events = [await client.recv() for _ in range(3)]
    for event in events:
        assert event["type"] == "event"
        assert event["timestamp"].endswith("Z")
        assert event["payload"]["symbol"] == "AAPL"
        assert {"lp", "bid", "ask", "volume"} <= set(event["payload"]["quote"])


async def test_auth_success_on_market_socket_has_no_top_level_timestamp(
    endpoints: SimEndpoints,
) -> None:
    with trio.fail_after(WAIT):
        async with connect(endpoints, MARKET) as client:
            reply = await client.auth(request_id="a-9")
            status = await client.recv_until(is_action("update"))
    assert set(reply) == {"type", "id", "payload"}
    assert reply["payload"]["id"] == "a-9"
    assert status["payload"]["type"] == "marketStatus"
