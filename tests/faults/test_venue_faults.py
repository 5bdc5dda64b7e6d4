"""Faults of the venue itself, through the whole engine (issue 9, item 2): the simulator's own
fault API (``sim.faults``, the same scenarios as ``POST /_sim/faults``) rather than the network.

* account events duplicated, reordered, delayed, malformed (extra garbage frames, or the real
  event spoiled so its content is lost);
* place-order responses lost after the venue accepted the order;
* a storm of 429s (with ``Retry-After``) on order placement;
* 5xx on place, cancel and replace, with the request carried out or not (outcome unknown: the
  engine must settle it from the stream or the order list, never by sending it again);
* the OAuth token endpoint down for ten virtual minutes, with the token outliving the outage or
  expiring during it.

Each scenario ends with the invariants of ``tests.faults.rig`` (books equal the venue's, each
fill heard once, nothing placed twice, connected, subscribed, synced, nothing in flight) and a
last order that fills, so the engine is shown trading afterwards.
"""

from __future__ import annotations

import itertools

import attrs
import pytest
import trio
import trio.testing

from engine.model import ConnectionState, OrderStatus, TradingState
from engine.model.events import CancelFailed
from engine.sim import SimConfig
from engine.sim._faults import FiredFault
from engine.sim._profile import (
    CANCEL_ORDER_PATH,
    OAUTH_TOKEN_PATH,
    PLACE_ORDER_PATH,
    REPLACE_ORDER_PATH,
)
from engine.testing import Fault
from tests.faults.rig import (
    ACCOUNT,
    ACCOUNTS_WS,
    QTY,
    BugReproduced,
    FaultRig,
    open_fault_rig,
    sim_config,
)

BOUND = 7_200.0
"""Virtual seconds a whole scenario may take (the clock jumps through idle time)."""


async def trade_through(rig: FaultRig) -> dict[str, str]:
    """The order lifecycles a fault must not break, one after the other: an order that rests,
    one that fills at once, a replace of the resting one and then its fill, and an order that
    rests and is cancelled. Returns the client order ids by role."""
    resting = await rig.submit_resting()
    marketable = await rig.submit(rig.bid() + 1)
    await rig.wait_status(marketable, OrderStatus.FILLED)
    price = rig.venue_head(resting).price - 1
    await rig.replace(resting, price)
    await rig.strategy.wait_until(
        lambda: (
            rig.venue_head(resting).price == price
            and rig.strategy.status(resting) is OrderStatus.NEW
        )
    )
    await rig.fill_at_venue(resting)
    await rig.wait_status(resting, OrderStatus.FILLED)
    canceled = await rig.submit_resting()
    await rig.cancel(canceled)
    await rig.wait_status(canceled, OrderStatus.CANCELED)
    return {"resting": resting, "marketable": marketable, "canceled": canceled}


async def still_trading(rig: FaultRig) -> None:
    """Every invariant holds, and an order at the market fills and is heard once."""
    await rig.wait_healthy()
    await rig.settle()
    last = await rig.submit(rig.bid() + 1)
    await rig.wait_status(last, OrderStatus.FILLED)
    await rig.settle()


# -- account events ------------------------------------------------------------------------------


@attrs.frozen
class StreamFault:
    """Faults on the account events, armed together for the whole workload."""

    name: str
    faults: tuple[Fault, ...]
    fast: bool = False


STREAM_FAULTS = {
    f.name: f
    for f in (
        StreamFault("duplicated events", (Fault.duplicate_events(2),), fast=True),
        StreamFault("events sent three times", (Fault.duplicate_events(3),)),
        StreamFault("reordered events", (Fault.reorder_events(),), fast=True),
        StreamFault("events delayed 2 s", (Fault.delay_events(2.0),), fast=True),
        # Longer than the grace the stream gets before the engine asks REST about an order.
        StreamFault("events delayed 20 s", (Fault.delay_events(20.0),)),
        StreamFault(
            "events duplicated, reordered and delayed",
            (Fault.duplicate_events(2), Fault.reorder_events(), Fault.delay_events(2.0)),
        ),
    )
}


def _stream_params() -> list[object]:
    return [
        pytest.param(name, id=name, marks=[] if f.fast else [pytest.mark.slow])
        for name, f in STREAM_FAULTS.items()
    ]


@pytest.mark.parametrize("fault_name", _stream_params())
async def test_stream(fault_name: str, clock: trio.testing.MockClock, fault_token: str) -> None:
    """Account events duplicated, reordered or delayed through a whole workload (place, fill,
    replace, cancel): the invariants hold while the fault is on and after."""
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            await rig.sim.faults.apply_all(STREAM_FAULTS[fault_name].faults)
            orders = await trade_through(rig)
            await rig.settle()  # the invariants hold with the fault still on
            rig.sim.faults.clear()
            await still_trading(rig)
            connects = rig.accounts.statistics().connects
    assert connects == 1  # none of these costs a reconnection
    assert rig.strategy.status(orders["resting"]) is OrderStatus.FILLED
    assert rig.strategy.filled_qty(orders["marketable"]) == rig.venue_head(orders["marketable"]).qty


async def test_garbage_frames_among_account_events(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    """Malformed frames (bad JSON, cut short, an unknown type, not an object) among the account
    events, before, during and after an order's life: a line too broken to tell what it was may
    have been a fill, so the accounts socket resyncs from a snapshot; nothing is lost."""
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            garbage = Fault.malformed_frames(ACCOUNTS_WS)
            await rig.sim.faults.apply(garbage)
            resting = await rig.submit_resting()
            await rig.sim.faults.apply(garbage)
            await rig.fill_at_venue(resting)
            await rig.sim.faults.apply(garbage)
            await rig.wait_status(resting, OrderStatus.FILLED)
            await still_trading(rig)
            stats = rig.accounts.statistics()
    assert stats.decode_errors >= 1
    assert stats.connects >= 2  # resynced (FAULT-SCENARIOS #17)
    assert "undecodable" in stats.last_error


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("truncated", id="fill event truncated"),
        pytest.param("missing_data", id="fill event without data", marks=pytest.mark.slow),
    ],
)
async def test_spoiled(kind: str, clock: trio.testing.MockClock, fault_token: str) -> None:
    """The venue's report of a fill arrives malformed, in place of the real one: the engine
    must notice and get the truth some other way (resubscribe, or the order list)."""
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            resting = await rig.submit_resting()
            await rig.sim.faults.apply(
                Fault.malformed_events(count=1, kind=kind, event_type="account.order")
            )
            await rig.fill_at_venue(resting)
            [spoiled] = rig.sim.faults.history
            assert spoiled.path == "account.order"
            violations = await rig.settled()
    if violations:
        raise BugReproduced("\n".join(violations))
    assert rig.strategy.status(resting) is OrderStatus.FILLED


# -- lost place-order responses --------------------------------------------------------------


async def test_lost_place_response(clock: trio.testing.MockClock, fault_token: str) -> None:
    """The venue takes the order and its answer never comes (the simulator's own fault): the
    request times out, the stream has the order, nothing is sent twice."""
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            await rig.sim.faults.apply(Fault.lose_order_response(count=1))
            order = await rig.submit(rig.bid() - 20)
            await rig.wait_status(order, OrderStatus.NEW)  # from the stream, no answer yet
            await rig.settle()  # and the engine stops waiting for the answer
            await rig.fill_at_venue(order)
            await rig.wait_status(order, OrderStatus.FILLED)
            await still_trading(rig)
            sent = rig.engine.dispatcher.statistics()
    assert [f.name for f in rig.sim.faults.history] == ["lose_order_response"]
    assert sent.places_sent == 2  # the order and the last one: never re-sent
    assert sent.unknown_outcomes == 1
    assert len(rig.venue_orders(order)) == 1


@pytest.mark.slow
async def test_lost_place_response_with_the_stream_20_s_late(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            await rig.sim.faults.apply(Fault.delay_events(20.0))
            await rig.sim.faults.apply(Fault.lose_order_response(count=1))
            sent_at = trio.current_time()
            order = await rig.submit(rig.bid() + 1)  # fills at once, unheard for 20 s
            # The request times out and the grace passes before the stream speaks: the order
            # list settles it.
            await rig.wait_status(order, OrderStatus.FILLED)
            assert trio.current_time() - sent_at < 20.0
            await rig.settle()
            rig.sim.faults.clear()
            await still_trading(rig)
            sent = rig.engine.dispatcher.statistics()
    assert sent.places_sent == 2
    assert len(rig.venue_orders(order)) == 1


# -- 429 storms --------------------------------------------------------------------------------

RETRY_AFTER = 3
RETRIES = 5
"""The dispatcher's ``max_rate_limit_retries`` (its default; the config does not change it)."""


def _gaps(fired: list[FiredFault]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(fired)]


async def test_429_storm_on_placement(clock: trio.testing.MockClock, fault_token: str) -> None:
    """As many 429s in a row as the dispatcher retries: the order goes on the last attempt,
    each attempt ``Retry-After`` seconds after the last."""
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            storm = Fault.rate_limit(count=RETRIES, retry_after=RETRY_AFTER, path=PLACE_ORDER_PATH)
            await rig.sim.faults.apply(storm)
            order = await rig.submit(rig.bid() - 20)
            await rig.sim.wait_statistics(lambda s: s.orders_placed == 1)
            placed_at = trio.current_time()
            await rig.wait_status(order, OrderStatus.NEW)
            await still_trading(rig)
            sent = rig.engine.dispatcher.statistics()
    fired = rig.sim.faults.history
    assert [(f.name, f.path) for f in fired] == [("rate_limit", PLACE_ORDER_PATH)] * RETRIES
    assert all(gap >= RETRY_AFTER for gap in _gaps(fired))
    assert placed_at - fired[-1].at >= RETRY_AFTER
    assert sent.rate_limited == RETRIES
    assert len(rig.venue_orders(order)) == 1


async def test_429_storm_longer_than_the_retries(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    """A storm that outlasts the retries: the order is refused ``RATE_LIMITED`` (the venue took
    none of the attempts), the next one waits its turn (``Retry-After`` after the last 429), and
    trading resumes after the storm."""
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            storm = Fault.rate_limit(count=None, retry_after=RETRY_AFTER, path=PLACE_ORDER_PATH)
            await rig.sim.faults.apply(storm)
            first = await rig.submit(rig.bid() - 20)
            second = await rig.submit(rig.bid() - 21)
            await rig.strategy.wait_until(lambda: len(rig.strategy.rejections) == 2)
            rig.sim.faults.clear()
            await still_trading(rig)
            sent = rig.engine.dispatcher.statistics()
    assert [(r.client_order_id, r.code) for r in rig.strategy.rejections] == [
        (first, "RATE_LIMITED"),
        (second, "RATE_LIMITED"),
    ]
    fired = rig.sim.faults.history
    assert len(fired) == 2 * (RETRIES + 1)
    assert sent.rate_limited == 2 * (RETRIES + 1)
    assert rig.venue_orders(first) == rig.venue_orders(second) == []
    gaps = _gaps(fired)
    if min(gaps) < RETRY_AFTER:
        raise BugReproduced(f"seconds between 429s: {gaps} (Retry-After: {RETRY_AFTER})")


@pytest.mark.slow
async def test_429_storm_on_every_request_while_settling_a_lost_place(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    """A place whose answer is lost, then two virtual minutes of 429 on every REST request: the
    order-list lookups that settle it are refused too, and retried until the storm ends."""
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            await rig.sim.faults.apply(Fault.delay_events(300.0))  # only REST can tell
            await rig.sim.faults.apply(Fault.lose_order_response(count=1))
            order = await rig.submit(rig.bid() - 20)
            await rig.wait_status(order, OrderStatus.UNKNOWN)
            await rig.sim.faults.apply(Fault.rate_limit(count=None, retry_after=RETRY_AFTER))
            storm_ends = trio.current_time() + 120.0
            await trio.sleep_until(storm_ends)
            rig.sim.faults.clear("rate_limit")
            await rig.wait_status(order, OrderStatus.NEW)
            rig.sim.faults.clear()
            await still_trading(rig)
    refused = [f for f in rig.sim.faults.history if f.name == "rate_limit"]
    assert refused
    assert {f.method for f in refused} == {"GET"}
    assert len(rig.venue_orders(order)) == 1


# -- 5xx on place, cancel and replace ----------------------------------------------------------


@attrs.frozen
class ServerError:
    """A 5xx on one order request: ``processed`` if the venue carried it out first."""

    operation: str
    status: int
    processed: bool
    fast: bool = False

    @property
    def name(self) -> str:
        done = "carried out" if self.processed else "not carried out"
        return f"{self.status} on {self.operation} ({done})"


SERVER_ERRORS = {
    e.name: e
    for e in (
        ServerError("place", 500, processed=False, fast=True),
        ServerError("place", 502, processed=True, fast=True),
        ServerError("place", 504, processed=True),
        ServerError("cancel", 500, processed=False),
        ServerError("cancel", 502, processed=True, fast=True),
        ServerError("replace", 500, processed=False, fast=True),
        ServerError("replace", 502, processed=True, fast=True),
        ServerError("replace", 504, processed=False),
    )
}
OPERATION_PATHS = {
    "place": PLACE_ORDER_PATH,
    "cancel": CANCEL_ORDER_PATH,
    "replace": REPLACE_ORDER_PATH,
}


def _server_error_params() -> list[object]:
    return [
        pytest.param(name, id=name, marks=[] if e.fast else [pytest.mark.slow])
        for name, e in SERVER_ERRORS.items()
    ]


async def _place_with_error(rig: FaultRig, error: ServerError) -> str:
    order = await rig.submit(rig.bid() - 20)
    if error.processed:
        await rig.wait_status(order, OrderStatus.NEW)  # the stream tells
    else:  # nothing at the venue: the order list says so, and the order is lost
        await rig.strategy.wait_until(lambda: bool(rig.strategy.rejections))
        [rejection] = rig.strategy.rejections
        assert (rejection.client_order_id, rejection.code) == (order, "LOST")
    return order


async def _cancel_with_error(rig: FaultRig, error: ServerError, order: str) -> None:
    failures = rig.engine.bus.subscribe("test:cancel-failed", accepts=(CancelFailed,))
    await rig.cancel(order)
    [failed] = await failures.receive_batch()  # the engine was told the cancel failed
    assert isinstance(failed, CancelFailed)
    assert failed.client_order_id == order
    if error.processed:
        await rig.wait_status(order, OrderStatus.CANCELED)
    else:  # refused as far as the engine knows: the order still works, and a new cancel can go
        await rig.settle()
        assert rig.strategy.status(order) is OrderStatus.NEW
        await rig.cancel(order)
        await rig.wait_status(order, OrderStatus.CANCELED)


async def _replace_with_error(rig: FaultRig, error: ServerError, order: str) -> None:
    old = rig.venue_head(order)
    price = old.price - 1
    await rig.replace(order, price)
    await rig.settle()  # the outcome settled, from the stream or the order list
    if error.processed:
        assert rig.venue_head(order).price == price
        assert rig.venue_head(order).cl_ord_id != old.cl_ord_id
    else:
        assert rig.venue_head(order).cl_ord_id == old.cl_ord_id
        [rejection] = rig.strategy.rejections
        assert (rejection.code, rejection.replace) == ("REPLACE_NOT_APPLIED", True)
    await rig.fill_at_venue(order)
    await rig.wait_status(order, OrderStatus.FILLED)


@pytest.mark.parametrize("error_name", _server_error_params())
async def test_server_error(
    error_name: str, clock: trio.testing.MockClock, fault_token: str
) -> None:
    """One 5xx on a place, cancel or replace: the engine cannot know whether the venue acted.
    A place or replace is settled from the stream or the order list, a cancel is left to the
    stream and the strategy; none is ever sent again by the engine."""
    error = SERVER_ERRORS[error_name]
    fault = Fault.server_error(
        count=1,
        status=error.status,
        path=OPERATION_PATHS[error.operation],
        processed=error.processed,
    )
    with trio.fail_after(BOUND):
        async with open_fault_rig() as rig:
            await rig.wait_healthy()
            if error.operation == "place":
                await rig.sim.faults.apply(fault)
                order = await _place_with_error(rig, error)
            else:
                order = await rig.submit_resting()
                await rig.sim.faults.apply(fault)
                if error.operation == "cancel":
                    await _cancel_with_error(rig, error, order)
                else:
                    await _replace_with_error(rig, error, order)
            await still_trading(rig)
            sent = rig.engine.dispatcher.statistics()
    [fired] = rig.sim.faults.history
    assert (fired.name, fired.path) == ("server_error", OPERATION_PATHS[error.operation])
    placed = rig.venue_orders(order)
    assert len([o for o in placed if o.orig_cl_ord_id is None]) == (
        0 if error.operation == "place" and not error.processed else 1
    )
    if error.operation == "replace":
        assert sent.replaces_sent == 1  # never re-sent
        assert sent.unknown_outcomes == 1
    elif error.operation == "place":
        assert sent.places_sent == 2  # this one and the last: never re-sent
        assert sent.unknown_outcomes == 1
    else:  # the engine never re-sent it; the strategy cancelled again if it was refused
        assert sent.cancels_sent == (1 if error.processed else 2)


# -- the token endpoint down for ten minutes ---------------------------------------------------
#
# What must hold (OAuth mode: tokens from the refresh grant, the venue ends a socket's session
# when its token expires, with a ``refreshAuth`` warning ``refresh_warning_lead`` = 300 s
# before):
#
# * while the current token is valid the engine trades on it: orders go out and their reports
#   are heard;
# * the engine asks for a new token again and again, with backoff (never hammering the endpoint,
#   never more than ``TOKEN_ATTEMPT_CAP`` apart), and never gives up: a 5xx is not a refusal of
#   the credential;
# * once the token is dead, nothing is sent with it: the sockets are down (the venue ended
#   their sessions), the account is RECONCILING, a new order is held; the engine is running;
# * when the endpoint is back, a token comes within one backoff cap, then the sockets, the
#   snapshot (a fill missed meanwhile is heard once) and the held order, sent once;
# * the invariants hold, and the engine trades.

OUTAGE = 600.0
"""Ten virtual minutes."""
TOKEN_TICK = 37.3
"""A market tick every 37.3 s in these long scenarios (ten times fewer ticks to simulate; still
under the 60 s idle timeout, and off the 5 s and 30 s grids)."""
TOKEN_ATTEMPT_CAP = 72.0
"""The longest the session waits between two token requests (its backoff: 60 s + 20 %)."""
SOCKET_RETRY_CAP = 36.0
"""The longest a socket waits before dialling again (the rig's backoff: 30 s + 20 %)."""
WARNING_LEAD = 300.0
"""The simulator's ``refresh_warning_lead``: ``refreshAuth`` comes this long before expiry."""


def _token_venue(token_lifetime: float) -> SimConfig:
    return sim_config(access_token_ttl=token_lifetime, tick_interval=TOKEN_TICK)


def _token_requests(rig: FaultRig) -> list[FiredFault]:
    return [f for f in rig.sim.faults.history if f.path == OAUTH_TOKEN_PATH]


async def _take_token_endpoint_down(rig: FaultRig, *, before_expiry: float) -> float:
    """At ``before_expiry`` seconds before the current token expires, make every token request
    fail with 503; return the expiry (trio clock)."""
    expires_in = rig.engine.session.statistics().expires_in
    assert expires_in is not None
    expiry = trio.current_time() + expires_in
    await trio.sleep_until(expiry - before_expiry)
    await rig.sim.faults.apply(Fault.server_error(count=None, status=503, path=OAUTH_TOKEN_PATH))
    return expiry


def _check_token_attempts(rig: FaultRig, outage_ends: float) -> None:
    attempts = [f.at for f in _token_requests(rig)]
    assert len(attempts) >= 5
    assert len(attempts) <= 20  # with backoff: not hammered
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert max(gaps) <= TOKEN_ATTEMPT_CAP
    assert outage_ends - attempts[-1] <= TOKEN_ATTEMPT_CAP  # still trying at the end


@pytest.mark.slow
async def test_token_endpoint_down_ten_minutes_token_outlives_it(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    """40-minute tokens; the endpoint is down from 800 s to 200 s before the token expires: over
    the planned refresh (at 80 % of the token's life, 480 s before expiry) and the venue's
    warning (300 s before). Trading goes on on the current token, no socket is dropped, and the
    token is refreshed once it can be."""
    with trio.fail_after(BOUND):
        async with open_fault_rig(_token_venue(2400.0), oauth=True) as rig:
            await rig.wait_healthy()
            resting = await rig.submit_resting()
            expiry = await _take_token_endpoint_down(rig, before_expiry=800.0)
            outage_ends = trio.current_time() + OUTAGE
            await trio.sleep_until(expiry - 470.0)  # the planned refresh is due, and failing
            assert rig.engine.session.statistics().failures >= 1
            during = await rig.submit(rig.bid() + 1)
            await rig.wait_status(during, OrderStatus.FILLED)
            await rig.fill_at_venue(resting)
            await rig.wait_status(resting, OrderStatus.FILLED)
            await rig.settle()
            assert trio.current_time() < expiry - WARNING_LEAD  # all heard before the warning
            await trio.sleep_until(outage_ends)
            # The warning came, and the sockets wait for a token to re-authenticate in place.
            states = {c.handler.endpoint: c.state for c in rig.engine.connections}
            rig.sim.faults.clear()
            await rig.wait_healthy()
            recovered_after = trio.current_time() - outage_ends
            await still_trading(rig)
            session = rig.engine.session.statistics()
            connects = [c.statistics().connects for c in rig.engine.connections]
    assert set(states.values()) == {ConnectionState.REFRESH_WARNING}
    _check_token_attempts(rig, outage_ends)
    assert recovered_after <= TOKEN_ATTEMPT_CAP
    assert not session.failed
    assert session.refreshes >= 1
    assert session.expires_in is not None
    assert session.expires_in > 1500.0  # a fresh token
    assert connects == [1, 1]  # never dropped


async def test_token_endpoint_down_ten_minutes_token_expires(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    """15-minute tokens; the endpoint is down from 400 s before the token expires to 200 s
    after. Before the expiry the engine trades on its token; at the expiry the venue ends the
    sessions and the engine degrades (sockets down, account RECONCILING, a new order held,
    nothing sent); it recovers when the endpoint is back."""
    with trio.fail_after(BOUND):
        async with open_fault_rig(_token_venue(900.0), oauth=True) as rig:
            await rig.wait_healthy()
            resting = await rig.submit_resting()
            expiry = await _take_token_endpoint_down(rig, before_expiry=400.0)
            outage_ends = trio.current_time() + OUTAGE
            before = await rig.submit(rig.bid() + 1)  # the token is still good
            await rig.wait_status(before, OrderStatus.FILLED)
            await rig.accounts.wait_state(ConnectionState.DISCONNECTED)
            assert trio.current_time() >= expiry  # the venue ended it, not the engine
            await rig.fill_at_venue(resting)  # unheard for now: recovered later
            held = await rig.submit(rig.bid() - 20)
            await trio.sleep_until(outage_ends)
            down = {c.handler.endpoint: c.state for c in rig.engine.connections}
            view = rig.engine.views.get(ACCOUNT)
            assert view is not None
            trading_state = view.trading_state
            sent_while_down = rig.engine.dispatcher.statistics()
            running = not rig.engine.stop_event.is_set()
            rig.sim.faults.clear()
            await rig.wait_healthy()
            recovered_after = trio.current_time() - outage_ends
            await rig.wait_status(held, OrderStatus.NEW)
            await still_trading(rig)
            session = rig.engine.session.statistics()
    assert running
    assert ConnectionState.SUBSCRIBED not in down.values()
    assert ConnectionState.FAILED not in down.values()  # still trying
    assert trading_state is TradingState.RECONCILING
    assert rig.strategy.filled_qty(resting) == QTY  # the fill made while down, heard once
    assert sent_while_down.places_sent == 2  # ``resting`` and ``before``: ``held`` waited
    assert sent_while_down.failures == 0  # nothing was sent with a dead token
    _check_token_attempts(rig, outage_ends)
    assert recovered_after <= TOKEN_ATTEMPT_CAP + SOCKET_RETRY_CAP
    assert not session.failed
    assert len(rig.venue_orders(held)) == 1


@pytest.mark.slow
async def test_token_endpoint_down_at_the_refresh_warning(
    clock: trio.testing.MockClock, fault_token: str
) -> None:
    """The endpoint goes down just as the venue warns that the session ends in 300 s. The token
    is good for those 300 s: a fill in that window is heard in that window (the sockets do not
    stop reading while they wait for a token), and the engine recovers after the expiry."""
    with trio.fail_after(BOUND):
        async with open_fault_rig(_token_venue(900.0), oauth=True) as rig:
            await rig.wait_healthy()
            expiry = await _take_token_endpoint_down(rig, before_expiry=WARNING_LEAD + 1.0)
            await rig.accounts.wait_state(ConnectionState.REFRESH_WARNING)
            order = await rig.submit(rig.bid() + 1)
            with trio.fail_at(expiry - 1.0):
                await rig.wait_status(order, OrderStatus.FILLED)
            await rig.accounts.wait_state(ConnectionState.DISCONNECTED)  # the venue ended it
            await trio.sleep_until(expiry + 200.0)
            rig.sim.faults.clear()
            await still_trading(rig)
            session = rig.engine.session.statistics()
    assert not session.failed
    assert len(rig.venue_orders(order)) == 1
