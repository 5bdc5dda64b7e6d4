"""Engine bugs the fuzzer found, one minimal reproducer each, kept as regression tests.

Each test states the property the engine must keep. A bug found later starts here as a strict
xfail with its entry in ``harness.KNOWN_VIOLATIONS`` / ``KNOWN_CRASHES`` (which the property
tests tolerate), and both go once it is fixed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog
import trio
import trio.testing
from structlog.testing import capture_logs

from engine.accounts.book import BOOK_INPUT_TYPES, AccountBook
from engine.aries.decode import FrameDecoder, decode_message
from engine.bus import EventBus
from engine.connection import (
    AccountsHandler,
    ConnectionSupervisor,
    MarketHandler,
    StaticTokenProvider,
)
from engine.errors import ProtocolError
from engine.model import Quote
from engine.model.enums import Endpoint
from engine.runtime import Backoff
from engine.secrets import Secret
from tests.actors.fake_venue import FakeVenue, market_event
from tests.aries import samples
from tests.fuzz.frames import TS_RECV, dumps
from tests.fuzz.harness import LOG_LINE_CHARS, LOG_VALUE_CHARS, log_line_chars


def decode_error_events(endpoint: Endpoint, frame: str) -> list[MutableMapping[str, Any]]:
    decoder = FrameDecoder(endpoint)
    with capture_logs() as logs:
        assert decoder.decode_frame(frame, ts_recv=TS_RECV) == []
    errors = [e for e in logs if e["event"] == "protocol.decode_error"]
    assert len(errors) == decoder.statistics().errors == 1
    return errors


def assert_short(event: MutableMapping[str, Any]) -> None:
    for key in ("message_type", "field", "problem", "excerpt"):
        assert len(str(event[key])) <= LOG_VALUE_CHARS, (key, len(str(event[key])))
    assert log_line_chars(event) <= LOG_LINE_CHARS


def test_a_long_message_type_does_not_make_a_long_log_line() -> None:
    # A chart event (symbol + quote) whose envelope type is 1000 characters and whose quote is bad.
    frame = json.dumps({"type": "x" * 1000, "payload": {"symbol": "AAPL", "quote": {"lp": "NaN"}}})
    [event] = decode_error_events(Endpoint.CHARTS, frame)
    assert_short(event)


def test_a_long_account_id_does_not_make_a_long_log_line() -> None:
    message = copy.deepcopy(samples.ORDER_STOCK)
    message["payload"]["accountId"] = "A" * 1000  # data.accountId is TEST-ACCOUNT-001
    [event] = decode_error_events(Endpoint.ACCOUNTS, dumps(message))
    assert event["field"] == "payload.data.accountId"
    assert_short(event)


def test_a_huge_epoch_timestamp_does_not_make_a_long_log_line() -> None:
    message = copy.deepcopy(samples.QUOTE)
    raw = dumps(message).replace('"timestamp":1768488301123', '"timestamp":1' + "0" * 1000)
    [event] = decode_error_events(Endpoint.MARKET, raw)
    assert event["field"] == "payload.timestamp"
    assert_short(event)


def test_a_number_with_a_huge_exponent_is_an_invalid_json_error() -> None:
    line = '{"type":"pong","id":"p-1","x":1e99999999999999999999}'
    [event] = decode_error_events(Endpoint.MARKET, line)
    assert "internal decoder error" not in str(event["problem"])
    assert event["exc_info"] is False
    with pytest.raises(ProtocolError):
        decode_message(line, Endpoint.MARKET, ts_recv=TS_RECV)


def test_decoder_counters_stay_small_whatever_the_types_sent() -> None:
    decoder = FrameDecoder(Endpoint.MARKET)
    with capture_logs():
        for n in range(200):
            kind = f"{n:04d}" + "t" * 1000
            decoder.decode_frame(
                json.dumps({"type": "event", "payload": {"type": kind, "data": {}}})
                + "\n"
                + json.dumps({"type": kind, "payload": {"symbol": "A", "quote": []}}),
                ts_recv=TS_RECV,
            )
    stats = decoder.statistics()
    assert stats.messages == stats.errors == 200
    assert sum(len(key) for key in stats.unknown_types) <= 20_000
    assert sum(len(key) for key in stats.errors_by_type) <= 20_000


def test_an_absurd_fill_does_not_crash_the_account_book() -> None:
    def order(cum_qty: str, avg_price: str) -> str:
        message = copy.deepcopy(samples.ORDER_STOCK)
        data = message["payload"]["data"]
        data.update(cumQty=cum_qty, avgPrice=avg_price, lastQty="", lastPx="")
        return dumps(message)

    decoder = FrameDecoder(Endpoint.ACCOUNTS)
    handler = AccountsHandler(("TEST-ACCOUNT-001",))
    book = AccountBook("TEST-ACCOUNT-001")
    published = []
    # 1 filled at 1, then 1e-18 more with the average now 100000: the delta's VWAP is ~1e23.
    for frame in (order("1", "1"), order("1.000000000000000001", "100000")):
        for message in decoder.decode_frame(frame, ts_recv=TS_RECV):
            for event in handler.handle(message):
                assert isinstance(event, BOOK_INPUT_TYPES)
                published += book.apply(event)
    assert decoder.statistics().errors == 0
    assert len(published) == 4  # OrderUpdated + OrderFilled, twice


async def test_a_normalize_error_line_names_the_endpoint_type_field_and_an_excerpt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    quotes = bus.subscribe("test", accepts=(Quote,))
    connection = ConnectionSupervisor(
        MarketHandler({"AAPL"}),
        "ws://venue.test",
        StaticTokenProvider(Secret("tok-fuzz")),
        bus,
        backoff=Backoff(jitter=0),
        open_websocket=venue.open_websocket,
    )
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with trio.open_nursery() as nursery:
            await nursery.start(connection.run)
            [socket] = venue.sockets
            await socket.push(market_event("trade", {"symbol": "ZZZ", "size": "100"}))
            await socket.push(market_event("quote", {"symbol": "AAPL", "bidPrice": "1"}))
            await quotes.receive_batch()
            nursery.cancel_scope.cancel()
    [event] = [e for e in logs if e["event"] == "protocol.normalize_error"]
    assert event["endpoint"] == "market"
    assert event["message_type"] == "trade"
    assert event["field"] == "payload.data.lastPrice"
    assert event["excerpt"]
