"""The event bus: routing by type and predicate, conflation, never-drop back-pressure."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio
import trio.testing

from engine.bus import EventBus
from engine.hooks.host import market_conflation_key
from engine.model import Balance, BalanceChanged, Quote


def quote(symbol: str, bid: str) -> Quote:
    return Quote(symbol=symbol, bid=Decimal(bid), ask=Decimal(bid) + 1)


def balance(account: str, bp: str) -> BalanceChanged:
    return BalanceChanged(
        account_id=account, balance=Balance(account_id=account, stock_buying_power=Decimal(bp))
    )


async def test_routes_by_type_and_predicate() -> None:
    bus = EventBus()
    quotes = bus.subscribe("quotes", accepts=(Quote,))
    account_a = bus.subscribe("a", accepts=(BalanceChanged,), where=lambda e: e.account_id == "A")
    await bus.publish(quote("AAPL", "10"))
    await bus.publish(balance("A", "1"))
    await bus.publish(balance("B", "2"))
    assert [e.symbol for e in await quotes.receive_batch()] == ["AAPL"]  # type: ignore[attr-defined]
    received = await account_a.receive_batch()
    assert [e.account_id for e in received] == ["A"]  # type: ignore[attr-defined]


async def test_market_data_is_conflated_per_symbol_and_counted() -> None:
    bus = EventBus()
    sub = bus.subscribe("plugins", accepts=(Quote, BalanceChanged), conflate=market_conflation_key)
    for price in ("10", "11", "12"):
        await bus.publish(quote("AAPL", price))
    await bus.publish(balance("A", "5"))
    await bus.publish(quote("MSFT", "20"))
    await bus.publish(quote("AAPL", "13"))
    batch = await sub.receive_batch()
    assert [(type(e).__name__, getattr(e, "bid", None)) for e in batch] == [
        ("Quote", Decimal("13")),
        ("BalanceChanged", None),
        ("Quote", Decimal("20")),
    ]
    assert sub.statistics().conflated == 3


async def test_never_drop_events_make_the_publisher_wait() -> None:
    bus = EventBus()
    sub = bus.subscribe("slow", accepts=(BalanceChanged,), capacity=2)
    published = 0

    async def publisher() -> None:
        nonlocal published
        for i in range(5):
            await bus.publish(balance("A", str(i)))
            published += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(publisher)
        await trio.testing.wait_all_tasks_blocked()
        assert published == 2  # blocked on the third, nothing dropped
        received: list[str] = []
        while len(received) < 5:
            batch = await sub.receive_batch()
            received += [str(e.balance.stock_buying_power) for e in batch]  # type: ignore[attr-defined]
    assert received == ["0", "1", "2", "3", "4"]
    assert sub.statistics().publisher_waits >= 1


async def test_close_drains_then_ends() -> None:
    bus = EventBus()
    sub = bus.subscribe("s", accepts=(Quote,))
    await bus.publish(quote("AAPL", "1"))
    bus.close()
    assert len(await sub.receive_batch()) == 1
    with pytest.raises(trio.EndOfChannel):
        await sub.receive_batch()


async def test_publish_nowait_is_all_or_nothing_and_wakes_the_consumer_once() -> None:
    bus = EventBus()
    sub = bus.subscribe(
        "plugins", accepts=(Quote, BalanceChanged), conflate=market_conflation_key, capacity=2
    )
    assert bus.publish_nowait([quote("AAPL", "10"), balance("A", "1"), quote("AAPL", "11")])
    # Two never-drop events would exceed the capacity (one pending): nothing is delivered.
    assert not bus.publish_nowait([quote("MSFT", "5"), balance("A", "2"), balance("A", "3")])
    batch = await sub.receive_batch()
    assert [getattr(e, "bid", None) for e in batch] == [Decimal("11"), None]
    assert sub.statistics().conflated == 1
    # Room again after the drain; conflated events never count against the capacity.
    assert bus.publish_nowait([balance("A", "2"), balance("A", "3"), quote("MSFT", "5")])
    assert len(await sub.receive_batch()) == 3


async def test_an_account_subscription_gets_only_its_account_events_and_all_others() -> None:
    bus = EventBus()
    mine = bus.subscribe("A", accepts=(BalanceChanged, Quote), account="A")
    everyone = bus.subscribe("all", accepts=(BalanceChanged,))
    for account in ("A", "B", "A"):
        await bus.publish(balance(account, "1"))
    await bus.publish(quote("AAPL", "1"))  # not an account event: routed by type as usual
    assert bus.publish_nowait([balance("B", "2"), balance("A", "3")])
    received = await mine.receive_batch()
    assert [getattr(e, "account_id", "quote") for e in received] == ["A", "A", "quote", "A"]
    assert len(await everyone.receive_batch()) == 5
