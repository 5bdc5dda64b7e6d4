"""A real ``ConnectionSupervisor`` fed a fuzzed feed: bad data never costs the connection.

On trio's virtual clock, over the scripted socket of ``tests.actors.fake_venue``: after the
subscriptions are acked, a few hundred seeded fuzz frames (``tests.fuzz.frames``) arrive on
the socket, then one good sentinel message. The sentinel must come out on the bus, on the same
socket (no reconnect); the supervisor's ``decode_errors`` and ``normalize_errors`` equal its
``protocol.decode_error`` and ``protocol.normalize_error`` log lines, and every one of those
lines names the endpoint (bound by the supervisor's task), the message type and the field.

Frames that would rightly end or change the session are left out of the feed (auth failures,
``authExpired``, venue errors, ``refreshAuth``): what they do is tested elsewhere.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, cast

import pytest
import structlog
import trio
import trio.testing
from structlog.testing import capture_logs

from engine.aries.decode import FrameDecoder
from engine.aries.wire import AuthExpired, AuthFailed, ErrorMessage, RefreshAuth
from engine.bus import EventBus
from engine.connection import (
    AccountsHandler,
    ChartsHandler,
    ConnectionSupervisor,
    MarketHandler,
    StaticTokenProvider,
)
from engine.connection.handlers import EndpointHandler
from engine.model import ConnectionState, OrderReported, Quote
from engine.model.enums import Endpoint
from engine.model.events import Event
from engine.model.streams import ChartQuote
from engine.runtime import Backoff
from engine.secrets import Secret
from tests.actors.fake_venue import FakeVenue
from tests.aries import samples
from tests.fuzz.frames import ACCOUNTS, TS_RECV, RandomChooser, dumps, fuzz_frame
from tests.fuzz.harness import KNOWN_VIOLATIONS, check_decode_event

FRAMES = 150
SESSION_CHANGING = (AuthFailed, AuthExpired, ErrorMessage, RefreshAuth)


def fuzz_feed(endpoint: Endpoint, seed: int) -> list[str | bytes]:
    """``FRAMES`` seeded fuzz frames that leave the session as it is."""
    rng = random.Random(seed)
    probe = FrameDecoder(endpoint)
    feed: list[str | bytes] = []
    while len(feed) < FRAMES:
        frame = fuzz_frame(RandomChooser(rng), endpoint, big=20_000).data
        with capture_logs():
            messages = probe.decode_frame(frame, ts_recv=TS_RECV)
        if not any(isinstance(m, SESSION_CHANGING) for m in messages):
            feed.append(frame)
    return feed


#: A trade without a price for a symbol never priced: a normalize error (market socket).
UNPRICED_TRADE = dumps(
    {
        "type": "event",
        "payload": {"action": "update", "type": "trade", "data": {"symbol": "NOPX", "size": "1"}},
    }
)


def _sentinel_order() -> str:
    data = dict(samples.ORDER_STOCK_DATA, clOrdId="FUZZ-SENTINEL", accountId=ACCOUNTS[0])
    return dumps(samples.account_event("account.order", ACCOUNTS[0], data, "2026-01-15T15:00:00Z"))


def _sentinel_quote() -> str:
    quote = dict(samples.QUOTE["payload"]["data"], symbol="SENTINEL")
    payload = dict(samples.QUOTE["payload"], data=quote)
    return dumps({"type": "event", "payload": payload})


def _sentinel_chart() -> str:
    payload = dict(samples.CHART_EVENT["payload"], symbol="SENTINEL")
    return dumps(dict(samples.CHART_EVENT, payload=payload))


Case = tuple[
    Endpoint, Callable[[], EndpointHandler], type[Event], Callable[[Any], bool], Callable[[], str]
]
CASES: list[Case] = [
    (
        Endpoint.ACCOUNTS,
        lambda: AccountsHandler(ACCOUNTS),
        OrderReported,
        lambda e: e.order.cl_ord_id == "FUZZ-SENTINEL",
        _sentinel_order,
    ),
    (
        Endpoint.MARKET,
        lambda: MarketHandler({"AAPL"}),
        Quote,
        lambda e: e.symbol == "SENTINEL",
        _sentinel_quote,
    ),
    (
        Endpoint.CHARTS,
        lambda: ChartsHandler(set()),  # the fake venue does not answer chart subscriptions
        ChartQuote,
        lambda e: e.symbol == "SENTINEL",
        _sentinel_chart,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case[0].value)
async def test_a_connection_survives_a_fuzzed_feed(
    case: Case, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint, make_handler, kind, is_sentinel, sentinel = case
    venue, bus = FakeVenue(), EventBus()
    out = bus.subscribe("test", accepts=(kind,))
    connection = ConnectionSupervisor(
        make_handler(),
        "ws://venue.test",
        StaticTokenProvider(Secret("tok-fuzz")),
        bus,
        backoff=Backoff(jitter=0),
        open_websocket=venue.open_websocket,
    )
    feed = fuzz_feed(endpoint, seed=len(endpoint.value))
    if endpoint is Endpoint.MARKET:
        feed.insert(len(feed) // 2, UNPRICED_TRADE)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with trio.open_nursery() as nursery:
            await nursery.start(connection.run)
            for frame in feed:
                # A bad account line makes the accounts socket resync (FAULT-SCENARIOS #17):
                # the rest of the feed goes to the new socket.
                while True:
                    try:
                        await venue.sockets[-1].push(cast(str, frame))  # binary arrives as bytes
                        break
                    except (trio.ClosedResourceError, trio.BrokenResourceError):
                        await venue.wait_attempts(len(venue.sockets) + 1)
                        await connection.wait_state(ConnectionState.SUBSCRIBED)
            # A frame pushed while a resync is under way is lost with its socket (as on a real
            # network): the sentinel goes to whichever socket is live once all is quiet.
            heard = False
            for _ in range(5):
                await trio.testing.wait_all_tasks_blocked()
                await connection.wait_state(ConnectionState.SUBSCRIBED)
                await venue.sockets[-1].push(sentinel())
                with trio.move_on_after(600):
                    while not any(is_sentinel(e) for e in await out.receive_batch()):
                        pass
                    heard = True
                if heard:
                    break
            assert heard
            stats = connection.statistics()
            nursery.cancel_scope.cancel()
    if endpoint is Endpoint.ACCOUNTS:  # resynced after bad account lines, for nothing else
        assert len(venue.sockets) > 1
        assert "undecodable" in stats.last_error
    else:
        assert len(venue.sockets) == 1  # never reconnected
    assert stats.state is ConnectionState.SUBSCRIBED
    decode_logs = [e for e in logs if e["event"] == "protocol.decode_error"]
    normalize_logs = [e for e in logs if e["event"] == "protocol.normalize_error"]
    assert stats.decode_errors == len(decode_logs) > 0
    assert stats.normalize_errors == len(normalize_logs) >= (endpoint is Endpoint.MARKET)
    for event in decode_logs:
        found = check_decode_event(event, endpoint)
        assert [v for v in found if v.code not in KNOWN_VIOLATIONS] == []
    for event in normalize_logs:
        assert event["endpoint"] == endpoint.value
        assert event["message_type"]
        assert event["field"]
