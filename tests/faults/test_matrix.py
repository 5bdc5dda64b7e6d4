"""Every network fault × every phase of a session, through the whole engine (issue 9, item 2).

Each scenario: the engine runs against the simulator through ``FaultProxy``s; an order rests at
the venue; the fault hits the accounts socket at an exact point of one phase (a proxy trigger
on what the venue sends there, never a sleep); while the fault is in effect the resting order
fills at the venue and the strategy submits another one; then the fault heals (once the engine
noticed it, for faults that break the connection) and the invariants must hold: the engine's
books equal the venue's, the strategy heard each fill exactly once, nothing was submitted
twice, and the engine is connected, subscribed, synced and trading (a last order fills).

Phases (what the trigger waits for, on the accounts socket):

* ``handshake``: the venue's ``101 Switching Protocols`` of a reconnection;
* ``auth``: the ``authSuccess`` of a reconnection;
* ``snapshot``: the ``subscribed`` reply that carries the account snapshot (a reconnection);
* ``order``: the first execution report of the resting order (``lastQty``): mid-lifecycle;
* ``replace``: the ``PENDING_REPLACE`` report of the strategy's replace, in flight;
* ``refresh``: right after the ``refreshAuth`` warning (the engine re-authenticates in place);
* ``expiry``: the reconnection's handshake after ``authExpired``.

Faults: ``reset`` (RST that socket), ``black_hole`` (everything open but silent), ``timeout``
(silent, then closed after 3 s; new sockets never reach the venue), and the shaping ones, which
must not break anything: ``latency`` (200 ms ± 100 ms), ``bandwidth`` (2 kB/s), ``slicing``
(1-byte segments). The reconnections of the first three phases are provoked by the venue
dropping the accounts socket.

The default run keeps ten (every fault and every phase at least once, the issue's priorities
first: reset and black hole, latency and slicing mid-order, a replace in flight with a reset);
the other 32 are ``slow``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import pytest
import trio
import trio.testing

from engine.model import OrderStatus
from engine.testing import Fault, ProxyConnection, Trigger
from tests.faults.rig import ACCOUNTS_WS, FaultRig, open_fault_rig, sim_config

SCENARIO_BOUND = 3_600.0
"""Virtual seconds a whole scenario may take (the clock jumps through idle time)."""

Action = Callable[[ProxyConnection], object]


@attrs.frozen
class NetFault:
    """A fault the proxy applies at the trigger point."""

    name: str
    action: Callable[[FaultRig], Action]
    breaks: bool
    """True if the engine must notice it and reconnect; False for shaping only."""


FAULTS = {
    f.name: f
    for f in (
        NetFault("reset", lambda rig: ProxyConnection.reset, breaks=True),
        NetFault("black_hole", lambda rig: lambda _: rig.ws.black_hole(), breaks=True),
        NetFault("timeout", lambda rig: lambda _: rig.ws.time_out(after=3.0), breaks=True),
        NetFault("latency", lambda rig: lambda _: rig.ws.add_latency(0.2, 0.1), breaks=False),
        NetFault("bandwidth", lambda rig: lambda _: rig.ws.limit_bandwidth(2_000), breaks=False),
        NetFault("slicing", lambda rig: lambda _: rig.ws.slice(1), breaks=False),
    )
}


@attrs.frozen
class Phase:
    """Where the fault hits: ``arm`` sets the trigger(s) and makes the phase happen; it returns
    the trigger whose firing means the fault is in effect."""

    name: str
    arm: Callable[[FaultRig, Action, str], Awaitable[Trigger]]
    reconnects: int = 0
    """Reconnections the phase itself causes (a drop, an expiry)."""
    session_length: float | None = None
    """A shorter session (seconds; the warning comes half-way) for the refresh to happen soon."""


async def _reconnection(rig: FaultRig, pattern: bytes, action: Action) -> Trigger:
    trigger = rig.ws.when(pattern, action, path=ACCOUNTS_WS)
    await rig.sim.drop_connections(ACCOUNTS_WS)
    return trigger


async def arm_handshake(rig: FaultRig, action: Action, resting: str) -> Trigger:
    return await _reconnection(rig, b"HTTP/1.1 101", action)


async def arm_auth(rig: FaultRig, action: Action, resting: str) -> Trigger:
    return await _reconnection(rig, b'"authSuccess"', action)


async def arm_snapshot(rig: FaultRig, action: Action, resting: str) -> Trigger:
    return await _reconnection(rig, b'"type": "subscribed"', action)


async def arm_order(rig: FaultRig, action: Action, resting: str) -> Trigger:
    trigger = rig.ws.when(b'"lastQty"', action, path=ACCOUNTS_WS)
    await rig.fill_at_venue(resting)
    return trigger


async def arm_replace(rig: FaultRig, action: Action, resting: str) -> Trigger:
    trigger = rig.ws.when(b'"PENDING_REPLACE"', action, path=ACCOUNTS_WS)
    head = rig.venue_head(resting)
    assert head.price is not None
    await rig.replace(resting, head.price - 1)
    return trigger


async def arm_refresh(rig: FaultRig, action: Action, resting: str) -> Trigger:
    return rig.ws.when(b'"refreshAuth"', action, path=ACCOUNTS_WS, before=False)


async def arm_expiry(rig: FaultRig, action: Action, resting: str) -> Trigger:
    reconnection: list[Trigger] = []

    def expired(_: ProxyConnection) -> None:
        reconnection.append(rig.ws.when(b"HTTP/1.1 101", action, path=ACCOUNTS_WS))

    expiry = rig.ws.when(b'"authExpired"', expired, path=ACCOUNTS_WS, before=False)
    await rig.sim.faults.apply(Fault.expire_session(ACCOUNTS_WS))
    await expiry.fired.wait()
    return reconnection[0]


PHASES = {
    p.name: p
    for p in (
        Phase("handshake", arm_handshake, reconnects=1),
        Phase("auth", arm_auth, reconnects=1),
        Phase("snapshot", arm_snapshot, reconnects=1),
        Phase("order", arm_order),
        Phase("replace", arm_replace),
        Phase("refresh", arm_refresh, session_length=200.0),
        Phase("expiry", arm_expiry, reconnects=1),
    )
}

FAST = {
    ("reset", "auth"),
    ("reset", "replace"),
    ("reset", "expiry"),
    ("black_hole", "refresh"),
    ("black_hole", "snapshot"),
    ("black_hole", "order"),
    ("timeout", "handshake"),
    ("latency", "order"),
    ("slicing", "order"),
    ("bandwidth", "snapshot"),
}
"""The default run's scenarios; every other one is ``slow``."""
KNOWN_BUGS: dict[tuple[str, str], str] = {}
"""Scenarios that fail because of an engine bug (reported; ``xfail(strict=True)``)."""


def _params() -> list[object]:
    params: list[object] = []
    for fault in FAULTS:
        for phase in PHASES:
            marks: list[pytest.MarkDecorator] = []
            if (fault, phase) not in FAST:
                marks.append(pytest.mark.slow)
            if (fault, phase) in KNOWN_BUGS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[fault, phase]))
            params.append(pytest.param(fault, phase, marks=marks, id=f"{fault}-{phase}"))
    return params


DETECTED_BY = {
    "handshake": "TooSlowError",
    "auth": "TooSlowError",
    "snapshot": "unanswered after 10 s",
    "expiry": "TooSlowError",
}
"""How the engine notices a black hole in each phase (the open timeout, the auth window, the
subscribe deadline, else the idle timeout of two ping intervals): never by TCP."""
IDLE_TIMEOUT = "no frame for 60 s"


@pytest.mark.parametrize(("fault_name", "phase_name"), _params())
async def test_matrix(
    fault_name: str, phase_name: str, clock: trio.testing.MockClock, fault_token: str
) -> None:
    fault, phase = FAULTS[fault_name], PHASES[phase_name]
    config = sim_config()
    if phase.session_length is not None:
        config = attrs.evolve(
            config,
            session_length=phase.session_length,
            refresh_warning_lead=phase.session_length / 2,
        )
    with trio.fail_after(SCENARIO_BOUND):
        async with open_fault_rig(config) as rig:
            await rig.wait_healthy()
            resting = await rig.submit_resting()
            connects = rig.accounts.statistics().connects

            trigger = await phase.arm(rig, fault.action(rig), resting)
            await trigger.fired.wait()
            hit = trigger.connection
            assert hit is not None
            # While the fault is in effect: the resting order fills, another one is submitted.
            await rig.fill_at_venue(resting)
            if fault.breaks:
                assert rig.strategy.filled_qty(resting) == 0  # it cannot have been streamed
            during = await rig.submit(rig.bid() - 20)
            if fault.breaks:
                await rig.wait_reconnect_attempt(hit.id)
                detected_by = rig.accounts.statistics().last_error
            else:
                await rig.wait_healthy()
                await rig.wait_status(resting, OrderStatus.FILLED)
                await rig.wait_status(during, OrderStatus.NEW)
            rig.ws.heal()

            await rig.wait_healthy()
            await rig.settle()
            live = max(c.id for c in rig.ws.history() if c.path == ACCOUNTS_WS)
            if fault.breaks:
                assert live > hit.id  # the engine left the broken socket for a new one
            else:  # shaping never costs a reconnection
                assert live == hit.id
                assert rig.accounts.statistics().connects == connects + phase.reconnects
            if fault_name == "black_hole":
                assert DETECTED_BY.get(phase_name, IDLE_TIMEOUT) in detected_by
            assert rig.strategy.status(resting) is OrderStatus.FILLED
            assert rig.strategy.status(during) is OrderStatus.NEW

            # Still trading: an order at the market fills, and is heard once.
            last = await rig.submit(rig.bid() + 1)
            await rig.wait_status(last, OrderStatus.FILLED)
            await rig.settle()
