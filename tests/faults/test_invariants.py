"""The invariant checker of the fault scenarios must be able to fail: each violation it looks
for, produced on purpose."""

from __future__ import annotations

from decimal import Decimal

import attrs
import httpx
import pytest
import trio
import trio.testing

from engine.model import OrderStatus
from tests.faults.conftest import scenario_name
from tests.faults.rig import ACCOUNT, SYMBOL, open_fault_rig

BOUND = 3_600.0  # virtual seconds


async def test_a_fill_heard_twice_is_a_violation(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            order = await rig.submit(rig.bid() + 1)
            await rig.wait_status(order, OrderStatus.FILLED)
            await rig.settle()
            [fill] = rig.strategy.fills
            rig.strategy.fills.append(attrs.evolve(fill))  # as if delivered again
            violations = rig.invariant_violations()
    assert f"fill ({fill.cl_ord_id!r}, {fill.cum_qty!r}) heard 2 times" in violations
    assert f"{order}: strategy heard 20 filled, venue 10" in violations


async def test_an_order_placed_twice_is_a_violation(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            order = await rig.submit_resting()
            price = rig.venue_head(order).price
            # The same client order id placed again behind the engine's back (a blind resend).
            async with httpx.AsyncClient(
                base_url=rig.sim.endpoints.rest_base,
                headers={"Authorization": f"Bearer {rig.sim.config.token}"},
            ) as http:
                reply = await http.post("/v1/orders", json={
                    "tradingAccountId": ACCOUNT, "symbol": SYMBOL, "side": "BUY",
                    "type": "LIMIT", "qty": "10", "price": str(price), "timeInForce": "DAY",
                    "clientId": order})  # fmt: skip
            assert reply.status_code == 200
            with pytest.raises(AssertionError, match="placed 2 times"):
                await rig.settle()


async def test_books_that_differ_from_the_venue_and_a_dead_socket_are_violations(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            order = await rig.submit_resting()
            rig.ws.time_out()  # silent for ever: new sockets never reach the venue
            await rig.fill_at_venue(order)
            differences = rig.book_differences()
            with pytest.raises(AssertionError, match="invariants violated") as failed:
                await rig.settle()
    assert any(d.startswith("positions: engine {} != venue {'AAPL'") for d in differences)
    assert any(d.startswith("balance value_bought: engine 0") for d in differences)
    assert "accounts socket is DISCONNECTED" in str(failed.value)
    assert "account is RECONCILING" in str(failed.value)
    assert rig.strategy.filled_qty(order) == Decimal(0)


def test_scenario_names_for_the_table() -> None:
    assert scenario_name("tests/faults/test_matrix.py::test_matrix[reset-auth]") == "reset × auth"
    assert scenario_name("tests/faults/t.py::test_a_place_is_sent_once") == "a place is sent once"
