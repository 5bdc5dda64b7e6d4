"""Order requests in flight when the REST connection fails (issue 9): the answer is lost, or the
request itself arrives late. The engine must never submit an order twice, and must end up with
the venue's view of the order, whatever it heard."""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing

from engine.model import OrderStatus
from engine.testing import Direction, ProxyConnection
from tests.faults.rig import ACCOUNT, ACCOUNTS_WS, QTY, SYMBOL, open_fault_rig

BOUND = 3_600.0  # virtual seconds

# Patterns in the request bodies (the last bytes of a request, so "after" means the whole
# request went through).
PLACE_BODY = b'"timeInForce"'  # only a place body names it (replaces here change the price)
AMEND_BODY = b'"origClOrdId"'  # in a replace's body and a cancel's (one at a time here)


async def test_a_place_whose_answer_is_lost_to_a_reset_is_sent_once(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            # The request reaches the venue whole, then the connection is reset: no answer.
            lost = rig.rest.when(
                PLACE_BODY, ProxyConnection.reset, direction=Direction.UPSTREAM, before=False
            )
            order = await rig.submit(rig.bid() - 20)
            await lost.fired.wait()
            await rig.wait_status(order, OrderStatus.NEW)
            await rig.settle()
            await rig.fill_at_venue(order)
            await rig.wait_status(order, OrderStatus.FILLED)
            await rig.settle()
    assert rig.rest.statistics().resets >= 1
    assert len(rig.venue_orders(order)) == 1


async def test_a_replace_whose_answer_is_lost_to_a_reset_is_sent_once(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            order = await rig.submit_resting()
            price = rig.venue_head(order).price - 1
            lost = rig.rest.when(
                AMEND_BODY, ProxyConnection.reset, direction=Direction.UPSTREAM, before=False
            )
            await rig.replace(order, price)
            await lost.fired.wait()
            await rig.settle()
            assert rig.venue_head(order).price == price
            await rig.fill_at_venue(order)
            await rig.wait_status(order, OrderStatus.FILLED)
            await rig.settle()
    assert [o.status.value for o in rig.venue_orders(order)] == ["REPLACED", "FILLED"]


async def test_a_place_lost_in_a_partition_is_reported_lost_and_never_resent(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            held = rig.rest.when(
                PLACE_BODY, lambda _: rig.rest.black_hole(), direction=Direction.UPSTREAM
            )
            order = await rig.submit(rig.bid() - 20)
            await held.fired.wait()
            # The engine gives up waiting (request timeout): outcome unknown.
            await rig.wait_status(order, OrderStatus.UNKNOWN)
            # The partition ends with the connection dead: the request never reaches the venue.
            assert rig.rest.reset() >= 1
            rig.rest.heal()
            await rig.strategy.wait_until(
                lambda: any(r.client_order_id == order for r in rig.strategy.rejections)
            )
            await rig.wait_healthy()
            await rig.settle()
            [rejection] = rig.strategy.rejections
            placed = rig.sim.statistics().orders_placed
    assert rejection.code == "LOST"
    assert placed == 0
    assert rig.venue_orders(order) == []


async def test_a_place_whose_answer_and_stream_are_lost_is_settled_after_the_partition(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()

            def partition(_: ProxyConnection) -> None:
                rig.rest.black_hole()
                rig.ws.black_hole()

            # The request reaches the venue; its answer, every REST answer after it and the
            # accounts stream are held: only the next snapshot can tell the engine.
            held = rig.rest.when(PLACE_BODY, partition, direction=Direction.UPSTREAM, before=False)
            order = await rig.submit(rig.bid() - 20)
            await held.fired.wait()
            await rig.wait_status(order, OrderStatus.UNKNOWN)
            last = max(c.id for c in rig.ws.connections() if c.path == ACCOUNTS_WS)
            await rig.wait_reconnect_attempt(last)  # the idle timeout caught the silence
            rig.rest.heal()
            rig.ws.heal()
            await rig.wait_status(order, OrderStatus.NEW)
            await rig.wait_healthy()
            await rig.settle()
            await rig.fill_at_venue(order)
            await rig.wait_status(order, OrderStatus.FILLED)
            await rig.settle()
    assert len(rig.venue_orders(order)) == 1


@pytest.mark.slow
async def test_a_replace_whose_answer_and_stream_are_lost_is_settled_after_the_partition(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            order = await rig.submit_resting()
            price = rig.venue_head(order).price - 1

            def partition(_: ProxyConnection) -> None:
                rig.rest.black_hole()
                rig.ws.black_hole()

            held = rig.rest.when(AMEND_BODY, partition, direction=Direction.UPSTREAM, before=False)
            await rig.replace(order, price)
            await held.fired.wait()
            last = max(c.id for c in rig.ws.connections() if c.path == ACCOUNTS_WS)
            await rig.wait_reconnect_attempt(last)
            rig.rest.heal()
            rig.ws.heal()
            await rig.wait_healthy()
            await rig.settle()
            assert rig.venue_head(order).price == price
            await rig.fill_at_venue(order)
            await rig.wait_status(order, OrderStatus.FILLED)
            await rig.settle()
    assert [o.status.value for o in rig.venue_orders(order)] == ["REPLACED", "FILLED"]


@pytest.mark.slow
async def test_a_cancel_whose_answer_is_lost_to_a_reset_still_ends_canceled(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            order = await rig.submit_resting()
            lost = rig.rest.when(
                AMEND_BODY, ProxyConnection.reset, direction=Direction.UPSTREAM, before=False
            )
            await rig.cancel(order)
            await lost.fired.wait()
            await rig.wait_status(order, OrderStatus.CANCELED)
            await rig.settle()
    assert [o.status.value for o in rig.venue_orders(order)] == ["CANCELED"]


@pytest.mark.slow
async def test_a_place_reported_lost_that_reaches_the_venue_late_is_not_orphaned(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            held = rig.rest.when(
                PLACE_BODY, lambda _: rig.rest.black_hole(), direction=Direction.UPSTREAM
            )
            price = rig.bid() - 20
            order = await rig.submit(price)
            await held.fired.wait()
            await rig.wait_status(order, OrderStatus.UNKNOWN)
            assert rig.rest.reset() >= 1
            rig.rest.heal()
            await rig.strategy.wait_until(lambda: bool(rig.strategy.rejections))
            # The request was still on its way (a congested path, a retransmission): it reaches
            # the venue after the engine's lookup found nothing. Replayed here: the same body.
            async with httpx.AsyncClient(
                base_url=rig.sim.endpoints.rest_base,
                headers={"Authorization": f"Bearer {rig.sim.config.token}"},
            ) as late:
                reply = await late.post("/v1/orders", json={
                    "tradingAccountId": ACCOUNT, "symbol": SYMBOL, "side": "BUY",
                    "type": "LIMIT", "qty": str(QTY), "price": str(price),
                    "timeInForce": "DAY", "clientId": order})  # fmt: skip
            assert reply.status_code == 200
            await rig.fill_at_venue(order)
            await rig.settle()
    # Reported lost, then adopted again when the venue named it: the strategy hears the fill.
    assert [r.code for r in rig.strategy.rejections] == ["LOST"]
    assert rig.strategy.status(order) is OrderStatus.FILLED
