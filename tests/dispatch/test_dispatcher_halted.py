"""A kill switch also stops what the dispatcher had queued; cancels still go."""

from __future__ import annotations

import trio
import trio.testing

from engine.bus import EventBus
from engine.dispatch import DispatchRequest
from engine.model import CancelRequest, OrderPlaced, OrderPlaceFailed, Side
from tests.dispatch.fakes import OUTCOMES, FakeGateway, make_dispatcher, place


async def test_queued_places_of_a_halted_account_are_refused_and_cancels_still_go(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway, bus = FakeGateway(), EventBus()
    outcomes = bus.subscribe("outcomes", accepts=OUTCOMES)
    halted: set[str] = set()
    send, receive = trio.open_memory_channel[DispatchRequest](100)
    dispatcher = make_dispatcher(gateway, bus, receive, account_rate=1, account_burst=1)
    dispatcher.halted = halted.__contains__
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        for n in range(3):  # one goes at once, the others wait a second each for a token
            await send.send(place(f"a{n}", "A"))
        await trio.testing.wait_all_tasks_blocked()
        halted.add("A")  # the kill switch, while a1 and a2 wait
        cancel = CancelRequest(
            account_id="A", client_order_id="a0", cl_ord_id="CL-a0", symbol="AAPL", side=Side.BUY
        )
        await send.send(cancel)
        await send.aclose()
    bus.close()
    events = [e for batch in [await outcomes.receive_batch()] for e in batch]
    while True:
        try:
            events += await outcomes.receive_batch()
        except trio.EndOfChannel:
            break
    assert gateway.sent() == ["a0", "CL-a0"]  # a1 and a2 never reached the venue
    placed = [e.client_order_id for e in events if isinstance(e, OrderPlaced)]
    refused = [(e.client_order_id, e.code) for e in events if isinstance(e, OrderPlaceFailed)]
    assert placed == ["a0"]
    assert refused == [("a1", "TRADING_STATE"), ("a2", "TRADING_STATE")]
