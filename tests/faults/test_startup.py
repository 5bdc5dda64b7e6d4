"""The engine's very first accounts connection hit at each phase of its start-up: the engine
must start anyway (no crash, no give-up), then trade normally (issue 9, item 2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio
import trio.testing

from engine.model import OrderStatus
from engine.testing import FaultProxy, ProxyConnection, Trigger
from tests.faults.rig import ACCOUNTS_WS, open_fault_rig

BOUND = 3_600.0  # virtual seconds

PATTERNS = {
    "handshake": b"HTTP/1.1 101",
    "auth": b'"authSuccess"',
    "snapshot": b'"type": "subscribed"',
}
ACTIONS: dict[str, Callable[[FaultProxy], Callable[[ProxyConnection], object]]] = {
    "reset": lambda proxy: ProxyConnection.reset,
    "black_hole": lambda proxy: lambda _: proxy.black_hole(),
    "timeout": lambda proxy: lambda _: proxy.time_out(after=3.0),
}
FAST = {("black_hole", "auth")}


def _params() -> list[object]:
    return [
        pytest.param(
            fault,
            phase,
            id=f"{fault}-startup {phase}",
            marks=[] if (fault, phase) in FAST else [pytest.mark.slow],
        )
        for fault in ACTIONS
        for phase in PATTERNS
    ]


@pytest.mark.parametrize(("fault", "phase"), _params())
async def test_startup(
    fault: str, phase: str, clock: trio.testing.MockClock, fault_token: str
) -> None:
    armed: list[Trigger] = []

    def arm(ws: FaultProxy, nursery: trio.Nursery) -> None:
        trigger = ws.when(PATTERNS[phase], ACTIONS[fault](ws), path=ACCOUNTS_WS)
        armed.append(trigger)

        async def heal_once_the_engine_retried() -> None:
            await trigger.fired.wait()
            assert trigger.connection is not None
            hit = trigger.connection.id
            await ws.wait_statistics(
                lambda _: any(c.path == ACCOUNTS_WS and c.id > hit for c in ws.history())
            )
            ws.heal()

        nursery.start_soon(heal_once_the_engine_retried)

    with trio.fail_after(BOUND):
        async with open_fault_rig(before_start=arm) as rig:
            [trigger] = armed
            assert trigger.connection is not None
            await rig.wait_healthy()
            await rig.settle()
            order = await rig.submit(rig.bid() + 1)
            await rig.wait_status(order, OrderStatus.FILLED)
            await rig.settle()
            newest = max(c.id for c in rig.ws.history() if c.path == ACCOUNTS_WS)
    assert newest > trigger.connection.id  # started on a later connection than the one hit
    assert rig.strategy.synced >= 1
