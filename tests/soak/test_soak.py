"""Soak (issue 9, item 4): hours of trading through random faults, on virtual time.

``run_soak`` (``tests.soak.driver``) trades, moves the market and injects a random fault every
few virtual minutes against the engine, the simulator and two fault proxies, and at every
checkpoint heals everything and requires the fault rig's invariants (books equal the venue's,
each fill heard once, nothing submitted twice, running and healthy) and takes a ``Probe``. These
tests then require that nothing grew from the first checkpoint to the last:

* **tasks**: the engine's live tasks at most ``ENGINE_TASK_SLACK`` more, every task of the run
  (simulator, proxies and their connections included) at most ``TASK_SLACK`` more;
* **the engine's retained state** (a walk of the object graph from the engine's handle and its
  tasks, see ``tests.soak.probes``), leaving out what the book keeps of forgotten orders and the
  last snapshot (sized and printed apart): at most ``STATE_SLACK`` bytes more. The book's whole
  orders count: the soak's engine forgets a done order one to two virtual minutes after it is
  done (``DONE_ORDER_RETENTION``), so a checkpoint finds little more than the open ones;
* **plain objects** (gc-tracked dicts, lists, tuples, trio's and the sockets' objects: the types
  of no package of ours) that the test side (simulator, proxies, the recording strategy) cannot
  reach: at most ``OBJECT_SLACK`` more (a leak of plain containers shows there even if the walk
  misses it).

What legitimately grows, and is left out: the book's trace of each forgotten order (``TRACES``:
its ``clOrdId`` and filled quantity, kept for a day so that the venue restating it is not taken
for a new order, about 0.1 KiB each); the last account snapshot stays referenced until the next
one (one, but as big as the venue's day); the decoder's value caches (bounded: emptied at 8192
entries each); the simulator's ledger, the proxies' record of every connection and the test's
own record of what the strategy heard (none of them the engine).

The tests at the end pin what the soak found, each fixed since: a lost subscribe reply stalled
the account for ever; a replacement's inherited executions were heard as new fills; an unknown
outcome was never settled once the order lookups gave up; the book never forgot an order.

``SOAK_SEED`` sets the seed (printed with the results); the short run defaults to a fixed one,
the eight-hour run to a fresh one each time. Run the long one with
``.venv/bin/pytest tests/soak -m slow -s`` (4-6 minutes here; ``-s`` prints the table).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import trio
import trio.testing

from engine.config import EngineSection
from engine.model import ConnectionState, OrderStatus
from engine.testing import Direction, Fault
from tests.faults.rig import ACCOUNTS_WS, SYMBOL, FaultRig, open_fault_rig
from tests.soak.driver import HOUR, TRACES, SoakResult, run_soak
from tests.soak.probes import engine_roots, retained_state

ENGINE_TASK_SLACK = 2
TASK_SLACK = 8
STATE_SLACK = 24 * 1024
OBJECT_SLACK = 2_000
SHORT_SEED = 20_251_122


def _seed(default: int | None) -> int:
    value = os.environ.get("SOAK_SEED")
    if value:
        return int(value)
    return default if default is not None else random.SystemRandom().randrange(1_000_000)


def assert_no_growth(result: SoakResult) -> None:
    """Tasks, the engine's state and plain objects at every checkpoint against the first."""
    first, *later = result.probes
    assert later, "need two checkpoints"
    for probe in later:
        where = f"at {probe.label} (seed {result.seed})"
        assert probe.tasks["engine"] <= first.tasks["engine"] + ENGINE_TASK_SLACK, (
            f"engine tasks grew {where}: {first.tasks['engine']} -> {probe.tasks['engine']}: "
            f"{probe.task_names - first.task_names}"
        )
        assert probe.total_tasks <= first.total_tasks + TASK_SLACK, (
            f"tasks grew {where}: {first.tasks} -> {probe.tasks}"
        )
        assert probe.engine.bytes <= first.engine.bytes + STATE_SLACK, (
            f"the engine's state grew {where}: {first.engine.bytes} -> {probe.engine.bytes} B; "
            f"containers that grew: {_grown(first.engine.containers, probe.engine.containers)}"
        )
        assert probe.unheld <= first.unheld + OBJECT_SLACK, (
            f"plain objects grew {where}: {first.unheld} -> {probe.unheld}"
        )


def _grown(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {k: (before.get(k, 0), n) for k, n in after.items() if n > before.get(k, 0)}


@pytest.fixture
def show() -> Iterator[list[str]]:
    """Lines printed after the test (visible with ``-s``, and in the report if it fails)."""
    lines: list[str] = []
    yield lines
    print("\n" + "\n".join(lines))


async def test_soak_short(clock: trio.testing.MockClock, fault_token: str, show: list[str]) -> None:
    """Twenty virtual minutes, a checkpoint every 400 s (the default run's taste of the soak)."""
    seed = _seed(SHORT_SEED)
    show.append(f"soak seed {seed}")
    result = await run_soak(
        1 / 3, seed, checkpoint_every=400.0, fault_gap=(20.0, 90.0), trace=False
    )
    show += [result.table(), result.summary]
    assert len(result.probes) == 3
    assert len(result.faults) >= 3
    assert result.fills_heard > 0
    assert_no_growth(result)


@pytest.mark.slow
async def test_soak_eight_virtual_hours(
    clock: trio.testing.MockClock, fault_token: str, show: list[str]
) -> None:
    """Eight virtual hours, 65-minute sessions, a fault every few minutes, a checkpoint an hour."""
    seed = _seed(None)
    show.append(f"soak seed {seed}")
    result = await run_soak(8.0, seed, checkpoint_every=HOUR)
    show += [result.table(), result.summary, "faults:", *map(str, result.faults)]
    assert result.hours == pytest.approx(8.0, abs=0.6)
    assert len(result.probes) == 8
    assert len(result.faults) >= 8 * 10
    assert result.fills_heard > 100
    # Sessions ran out during the run: refreshed in place (a warning) or expired outright.
    ends = sum(
        n
        for (_, state), n in result.states.items()
        if state in (ConnectionState.REFRESH_WARNING, ConnectionState.EXPIRED)
    )
    assert ends >= 1
    assert_no_growth(result)


# -- what the soak found, fixed since ----------------------------------------------------------


async def test_a_lost_subscribe_reply_does_not_stall_the_account_for_ever(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(3 * HOUR):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            subscribes = rig.sim.statistics().subscribes[ACCOUNTS_WS]
            await rig.sim.faults.apply(Fault.omit_snapshot())
            await rig.sim.drop_connections(ACCOUNTS_WS)
            # The venue took the new socket's subscribe and did not answer it.
            await rig.sim.wait_statistics(lambda s: s.subscribes[ACCOUNTS_WS] > subscribes)
            rig.sim.faults.clear()  # the next subscribe would be answered
            with trio.move_on_after(600.0):  # pings and pongs flow: the socket is not silent
                await rig.accounts.wait_state(ConnectionState.SUBSCRIBED)
            state = rig.accounts.state
    assert state is ConnectionState.SUBSCRIBED


async def test_a_replacement_does_not_report_again_what_its_original_filled(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(3 * HOUR):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            order = await rig.submit(rig.bid() - 20, Decimal(5000))
            await rig.wait_status(order, OrderStatus.NEW)
            # Through the limit for one tick: the touch shows at most 2,000 shares.
            first = rig.venue_head(order)
            await _cross(rig, first.price, until=lambda: rig.venue_head(order).cum_qty > 0)
            await rig.wait_status(order, OrderStatus.PARTIALLY_FILLED)
            await rig.replace(order, first.price - 1)
            await rig.sim.wait_statistics(
                lambda _: rig.venue_head(order).cl_ord_id != first.cl_ord_id
            )
            second = rig.venue_head(order)
            await _cross(
                rig, second.price, until=lambda: rig.venue_head(order).status.value == "FILLED"
            )
            await rig.wait_status(order, OrderStatus.FILLED)
            await rig.settle()
    replaced, filled = rig.venue_orders(order)
    assert (replaced.status.value, filled.status.value) == ("REPLACED", "FILLED")
    assert 0 < replaced.cum_qty < filled.cum_qty == 5000  # the replacement inherited the fills
    assert rig.strategy.filled_qty(order) == 5000


async def _cross(rig: FaultRig, limit: Decimal, until: Callable[[], bool]) -> None:
    """Put the ask below a buy's ``limit`` until ``until()`` holds, then far above it again."""
    rig.sim.market.force_quote(SYMBOL, bid=limit - Decimal("0.30"), ask=limit - Decimal("0.20"))
    await rig.sim.wait_statistics(lambda _: until())
    rig.sim.market.force_quote(SYMBOL, bid=limit + 1, ask=limit + Decimal("1.05"))


async def test_an_unknown_outcome_is_settled_after_a_long_rest_partition(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(3 * HOUR):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            held = rig.rest.when(
                b'"timeInForce"', lambda _: rig.rest.black_hole(), direction=Direction.UPSTREAM
            )
            order = await rig.submit(rig.bid() - 20)
            await held.fired.wait()
            await rig.wait_status(order, OrderStatus.UNKNOWN)
            assert rig.rest.reset() >= 1  # the request dies with its connection: never placed
            await trio.sleep(120.0)  # the partition lasts: every order lookup times out
            rig.rest.heal()
            with trio.move_on_after(900.0):  # the venue answers lookups again
                await rig.strategy.wait_until(
                    lambda: any(r.client_order_id == order for r in rig.strategy.rejections)
                )
            violations = rig.invariant_violations()
    assert [r.code for r in rig.strategy.rejections] == ["LOST"]
    assert rig.venue_orders(order) == []
    assert not violations


async def test_the_book_forgets_orders_once_they_are_done(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(3 * HOUR):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            # The first orders build routes, caches and buckets, and size the book's tables
            # (a dict keeps its size when emptied): the same again must add nothing.
            await _place_and_cancel(rig, 50)
            await _let_retention_pass(rig)
            before = retained_state(engine_roots(rig.engine), frozenset({TRACES}))
            await _place_and_cancel(rig, 50)
            kept = retained_state(engine_roots(rig.engine)).containers["AccountBook._orders"]
            await _let_retention_pass(rig)
            after = retained_state(engine_roots(rig.engine), frozenset({TRACES}))
            assert not rig.invariant_violations()
    assert kept == 50  # done, but kept whole a while
    assert after.containers["AccountBook._orders"] == 0
    assert after.containers["AccountBook._intents"] == 0
    assert after.containers[TRACES] == before.containers[TRACES] + 50
    grown = after.bytes - before.bytes
    assert grown < 1024, (
        f"50 done orders still hold {grown} B: {_grown(before.containers, after.containers)}"
    )
    traces = after.apart[TRACES] - before.apart[TRACES]
    assert traces < 50 * 200, f"50 forgotten orders leave {traces} B of traces"


async def _place_and_cancel(rig: FaultRig, count: int) -> None:
    """``count`` orders placed and canceled, one after the other: none stays open."""
    for _ in range(count):
        order = await rig.submit(rig.bid() - 20, Decimal(1))
        await rig.wait_status(order, OrderStatus.NEW)
        await rig.cancel(order)
        await rig.wait_status(order, OrderStatus.CANCELED)
    await rig.settle()


async def _let_retention_pass(rig: FaultRig) -> None:
    """Let two retention periods (the engine's default) pass: every done order goes."""
    await trio.sleep(2 * EngineSection().done_order_retention + 10.0)
    await rig.settle()
