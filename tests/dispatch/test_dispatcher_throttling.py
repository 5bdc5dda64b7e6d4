"""The dispatcher's pacing on trio's virtual clock: global and per-account buckets, fairness
between accounts, and priority (cancels, then replaces, then new orders)."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from engine.bus import EventBus
from engine.dispatch import DispatchRequest, ThrottledDispatcher, TokenBucket
from engine.model import OrderPlaced
from tests.dispatch.fakes import (
    FakeGateway,
    cancel,
    live_order,
    make_dispatcher,
    place,
    replace,
    run_dispatcher,
)


async def test_the_global_rate_paces_all_accounts_together(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    start = trio.current_time()
    # 30 orders over three accounts, whose own buckets are loose: the global bucket decides
    orders: list[DispatchRequest] = [place(f"o{i}", account_id="ABC"[i % 3]) for i in range(30)]
    run = await run_dispatcher(gateway, orders, rate=10, burst=5)
    # a burst of 5 at once, then one every 0.1 s: the 30th goes at 2.5 s
    assert gateway.times(start) == pytest.approx([0.0] * 5 + [0.1 * k for k in range(1, 26)])
    assert gateway.sent() == [f"o{i}" for i in range(30)]
    assert len([e for e in run.events if isinstance(e, OrderPlaced)]) == 30
    assert run.statistics.places_sent == 30
    assert run.statistics.queued == 0


async def test_an_account_is_paced_by_its_own_bucket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    start = trio.current_time()
    orders: list[DispatchRequest] = [place(f"o{i}") for i in range(30)]
    await run_dispatcher(gateway, orders, rate=1000, burst=1000, account_rate=5, account_burst=10)
    # the account's burst of 10 at once, then one every 0.2 s: the 30th goes at 4.0 s
    assert gateway.times(start) == pytest.approx([0.0] * 10 + [0.2 * k for k in range(1, 21)])


async def test_a_request_needs_a_token_from_both_buckets(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    start = trio.current_time()
    orders: list[DispatchRequest] = [place(f"a{i}", "A") for i in range(4)]
    orders += [place(f"b{i}", "B") for i in range(4)]
    await run_dispatcher(gateway, orders, rate=4, burst=3, account_rate=1, account_burst=2)
    # global: 3 at once, then every 0.25 s; each account: 2 at once, then every 1 s
    assert [(c.label, round(c.at - start, 6)) for c in gateway.calls] == [
        ("a0", 0.0),
        ("a1", 0.0),
        ("b0", 0.0),  # A is out of tokens: B goes, not A's next
        ("b1", 0.25),  # the global bucket's next token
        ("a2", 1.0),  # A's next token (the global one has been there since 0.5)
        ("b2", 1.0),
        ("a3", 2.0),
        ("b3", 2.0),
    ]


async def test_a_saturated_account_does_not_delay_another(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    start = trio.current_time()
    # A's 20 orders are queued before B's 3; each account may send 1/s with bursts of 2
    orders: list[DispatchRequest] = [place(f"a{i}", "A") for i in range(20)]
    orders += [place(f"b{i}", "B") for i in range(3)]
    await run_dispatcher(gateway, orders, account_rate=1, account_burst=2)
    # B goes at its own pace, as if A were not there (behind A's queue it would wait 18 s)
    assert gateway.times(start, account_id="B") == [0, 0, 1.0]
    assert gateway.times(start, account_id="A") == [0, 0, *range(1, 19)]
    assert gateway.sent()[:4] == ["a0", "a1", "b0", "b1"]  # first come, first served otherwise


async def test_a_new_request_of_an_idle_account_wakes_the_waiting_dispatcher(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    bus = EventBus()
    send, receive = trio.open_memory_channel[DispatchRequest](10)
    dispatcher = make_dispatcher(gateway, bus, receive, account_rate=0.1, account_burst=1)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        async with send:
            await send.send(place("a0", "A"))
            await send.send(place("a1", "A"))  # A's next token is due at 10 s
            await trio.sleep(0.3)
            await send.send(place("b0", "B"))
    assert [(c.label, round(c.at - start, 6)) for c in gateway.calls] == [
        ("a0", 0.0),
        ("b0", 0.3),  # not at 10 s, when the dispatcher's sleep for A would have ended
        ("a1", 10.0),
    ]


@attrs.define
class CountingBucket(TokenBucket):
    """Counts how often the dispatcher looked for a token."""

    looks: int = attrs.field(default=0, init=False)

    def wait_time(self, now: float) -> float:
        self.looks += 1
        return super().wait_time(now)


async def test_waiting_for_tokens_wakes_once_per_token_not_more(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    bus = EventBus()
    send, receive = trio.open_memory_channel[DispatchRequest](100)
    bucket = CountingBucket(10, 5)
    dispatcher = ThrottledDispatcher(
        gateway, bus, receive, bucket, account_rate=1000, account_burst=1000
    )
    async with send:
        for i in range(30):
            await send.send(place(f"o{i}", account_id="ABC"[i % 3]))
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
    assert len(gateway.calls) == 30
    # one look per send, plus one finding no token (then a sleep) for each of the 25 paced ones
    assert bucket.looks == 30 + 25


async def test_all_queued_at_once_cancels_go_first_then_replaces_then_new_orders(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    start = trio.current_time()
    items: list[DispatchRequest] = [
        place("p1"),
        replace(live_order(cl_ord_id="CL-r1", client_order_id="r1"), price="101"),
        place("p2"),
        cancel("CL-c1"),
        replace(live_order(cl_ord_id="CL-r2", client_order_id="r2"), qty="20"),
        cancel("CL-c2"),
        place("p3"),
    ]
    run = await run_dispatcher(gateway, items, rate=1, burst=1)
    assert [(c.kind, c.label) for c in gateway.calls] == [
        ("cancel", "CL-c1"),
        ("cancel", "CL-c2"),
        ("replace", "r1"),
        ("replace", "r2"),
        ("place", "p1"),
        ("place", "p2"),
        ("place", "p3"),
    ]
    assert gateway.times(start) == [0, 1, 2, 3, 4, 5, 6]
    stats = run.statistics
    assert (stats.cancels_sent, stats.replaces_sent, stats.places_sent) == (2, 2, 3)


async def test_priority_yields_to_an_account_that_can_go(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    start = trio.current_time()
    items: list[DispatchRequest] = [
        place("a-new", "A"),
        cancel("CL-a", "A"),
        replace(live_order(account_id="A", cl_ord_id="CL-ar", client_order_id="ar"), qty="5"),
        place("b-new", "B"),
    ]
    await run_dispatcher(gateway, items, account_rate=1, account_burst=1)
    # A's cancel first; A has no token left for its replace, so B's new order goes before it
    assert [(c.label, round(c.at - start, 6)) for c in gateway.calls] == [
        ("CL-a", 0.0),
        ("b-new", 0.0),
        ("ar", 1.0),
        ("a-new", 2.0),
    ]
