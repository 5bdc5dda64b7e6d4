"""The throttled dispatcher under a virtual clock: pacing, priority, 429, unknown outcome."""

from __future__ import annotations

import trio
import trio.testing

from engine.bus import EventBus
from engine.dispatch import ThrottledDispatcher, TokenBucket
from engine.errors import RateLimitedError, RequestError
from engine.model import (
    CancelRequest,
    Event,
    OrderIntent,
    OrderPlaced,
    OrderPlaceFailed,
    Side,
)
from tests.conftest import make_intent
from tests.dispatch.fakes import FakeGateway


async def run_dispatcher(
    gateway: FakeGateway, items: list[OrderIntent | CancelRequest], *, rate: float, burst: int
) -> list[Event]:
    bus = EventBus()
    outcomes = bus.subscribe("outcomes", accepts=(OrderPlaced, OrderPlaceFailed))
    send, receive = trio.open_memory_channel[OrderIntent | CancelRequest](100)
    dispatcher = ThrottledDispatcher(gateway, bus, receive, TokenBucket(rate, burst))
    async with send:
        for item in items:  # queued before the dispatcher starts: no reliance on scheduling
            await send.send(item)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
    bus.close()
    events: list[Event] = []
    while True:
        try:
            events += await outcomes.receive_batch()
        except trio.EndOfChannel:
            return events


async def test_orders_go_out_in_order_at_the_configured_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    start = trio.current_time()
    intents = [make_intent(client_order_id=f"o{i}") for i in range(6)]
    events = await run_dispatcher(gateway, list(intents), rate=2, burst=2)
    times = gateway.times(start)
    assert gateway.sent() == [f"o{i}" for i in range(6)]
    assert times == [0, 0, 0.5, 1.0, 1.5, 2.0]
    assert [e.client_order_id for e in events if isinstance(e, OrderPlaced)] == [  # none lost
        f"o{i}" for i in range(6)
    ]


async def test_pending_cancels_go_before_pending_orders(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    cancel = CancelRequest(
        account_id="SIM-001",
        client_order_id="old",
        cl_ord_id="CL-old",
        symbol="AAPL",
        side=Side.BUY,
    )
    items: list[OrderIntent | CancelRequest] = [
        make_intent(client_order_id="o1"),
        make_intent(client_order_id="o2"),
        cancel,
    ]
    await run_dispatcher(gateway, items, rate=1, burst=1)
    assert [(c.kind, c.label) for c in gateway.calls] == [
        ("cancel", "CL-old"),
        ("place", "o1"),
        ("place", "o2"),
    ]


async def test_a_429_is_retried_after_retry_after(autojump_clock: trio.testing.MockClock) -> None:
    gateway = FakeGateway(
        place_failures=[RateLimitedError("slow down", status=429, retry_after=3.0)]
    )
    start = trio.current_time()
    events = await run_dispatcher(gateway, [make_intent(client_order_id="o1")], rate=100, burst=5)
    assert gateway.times(start) == [0, 3.0]
    assert [type(e) for e in events] == [OrderPlaced]
    assert isinstance(events[0], OrderPlaced)
    assert events[0].cl_ord_id == "CL-o1"


async def test_an_unknown_outcome_is_never_resent(autojump_clock: trio.testing.MockClock) -> None:
    gateway = FakeGateway(place_failures=[RequestError("read timeout", outcome_unknown=True)])
    events = await run_dispatcher(gateway, [make_intent(client_order_id="o1")], rate=100, burst=5)
    assert len(gateway.calls) == 1
    [failed] = events
    assert isinstance(failed, OrderPlaceFailed)
    assert failed.outcome_unknown
    assert failed.client_order_id == "o1"


async def test_a_refusal_is_reported_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    gateway = FakeGateway(
        place_failures=[RequestError("bad qty", status=400, code="INVALID_FIELD")]
    )
    events = await run_dispatcher(gateway, [make_intent(client_order_id="o1")], rate=100, burst=5)
    assert len(gateway.calls) == 1
    [failed] = events
    assert isinstance(failed, OrderPlaceFailed)
    assert (failed.code, failed.outcome_unknown) == ("INVALID_FIELD", False)
    assert failed.reason == "bad qty"


async def test_a_429_storm_gives_up_after_the_retries_and_says_so(
    autojump_clock: trio.testing.MockClock,
) -> None:
    storm: list[Exception] = [
        RateLimitedError("slow down", status=429, retry_after=2.0) for _ in range(10)
    ]
    gateway = FakeGateway(place_failures=storm)
    start = trio.current_time()
    events = await run_dispatcher(gateway, [make_intent(client_order_id="o1")], rate=100, burst=5)
    # five retries after the first try, each 2 s apart, then a definite failure (never unknown)
    assert gateway.times(start) == [0, 2, 4, 6, 8, 10]
    [failed] = events
    assert isinstance(failed, OrderPlaceFailed)
    assert (failed.code, failed.outcome_unknown) == ("RATE_LIMITED", False)
