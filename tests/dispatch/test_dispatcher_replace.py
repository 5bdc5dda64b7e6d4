"""Replaces through the dispatcher: only the changed terms, the new clOrdId, refusals, 429/503
and unknown outcomes (never re-sent)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio
import trio.testing

from engine.dispatch import DispatchRequest
from engine.errors import AuthError, RateLimitedError, RequestError
from engine.model import (
    OrderPlaced,
    OrderReplaceAccepted,
    OrderType,
    ReplaceFailed,
    Side,
    TimeInForce,
)
from tests.dispatch.fakes import (
    Ack,
    FakeGateway,
    FakeJournal,
    live_order,
    place,
    replace,
    run_dispatcher,
)


async def test_an_accepted_replace_publishes_the_new_and_the_old_clordid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway(replace_acks=[Ack(success=True, cl_ord_id="CL-2")])
    old = live_order(cl_ord_id="CL-1", client_order_id="r1")
    run = await run_dispatcher(gateway, [replace(old, price="101")])
    [accepted] = run.events
    assert isinstance(accepted, OrderReplaceAccepted)
    assert (accepted.account_id, accepted.client_order_id) == ("A", "r1")
    assert (accepted.cl_ord_id, accepted.orig_cl_ord_id) == ("CL-2", "CL-1")
    assert run.statistics.replaces_sent == 1
    assert run.statistics.places_sent == 0


async def test_a_replace_sends_only_the_terms_that_changed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    old = live_order(cl_ord_id="CL-1", client_order_id="r1", qty="10", price="100")
    await run_dispatcher(gateway, [replace(old, price="101.50")])
    [call] = gateway.calls
    assert call.account_id == "A"
    assert call.kwargs == {
        "cl_ord_id": "CL-1",  # the order's current handle
        "symbol": "AAPL",
        "side": Side.BUY,
        "type": None,
        "qty": None,
        "price": Decimal("101.50"),
        "stop_price": None,
        "time_in_force": None,
        "client_id": "r1",
    }


async def test_qty_and_time_in_force_changes_are_sent_and_an_equal_price_is_not(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    old = live_order(qty="10", price="100")
    # 100.00 is the same price as 100: not a change, whatever its exponent
    request = replace(old, qty="25", price="100.00", time_in_force=TimeInForce.GTC)
    await run_dispatcher(gateway, [request])
    [call] = gateway.calls
    sent = {name: value for name, value in call.kwargs.items() if value is not None}
    assert sent == {
        "cl_ord_id": "CL-1",
        "symbol": "AAPL",
        "side": Side.BUY,
        "qty": Decimal("25"),
        "time_in_force": TimeInForce.GTC,
        "client_id": "r1",
    }


async def test_a_type_change_is_sent(autojump_clock: trio.testing.MockClock) -> None:
    gateway = FakeGateway()
    old = live_order(type=OrderType.STOP_LIMIT, price="100", stop_price="99")
    await run_dispatcher(gateway, [replace(old, type=OrderType.STOP, drop_price=True)])
    [call] = gateway.calls
    assert call.kwargs["type"] is OrderType.STOP
    assert (call.kwargs["price"], call.kwargs["stop_price"], call.kwargs["qty"]) == (
        None,
        None,
        None,
    )


async def test_a_replace_that_changes_nothing_is_refused_without_a_request_or_a_token(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    start = trio.current_time()
    items: list[DispatchRequest] = [replace(live_order(), price="100"), place("p1")]
    run = await run_dispatcher(gateway, items, rate=1, burst=1)
    assert [(c.kind, round(c.at - start, 6)) for c in gateway.calls] == [("place", 0.0)]
    failed = [e for e in run.events if isinstance(e, ReplaceFailed)]
    assert [(e.client_order_id, e.code, e.outcome_unknown) for e in failed] == [
        ("r1", "NOTHING_TO_REPLACE", False)
    ]
    assert run.statistics.replaces_sent == 0


async def test_a_refused_replace_is_reported_not_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway(replace_acks=[Ack(success=False, cl_ord_id="", text="too late")])
    run = await run_dispatcher(gateway, [replace(live_order(), qty="20")])
    assert len(gateway.calls) == 1
    [failed] = run.events
    assert isinstance(failed, ReplaceFailed)
    assert (failed.client_order_id, failed.code, failed.reason) == (
        "r1",
        "VENUE_REJECTED",
        "too late",
    )
    assert not failed.outcome_unknown
    assert (run.statistics.failures, run.statistics.unknown_outcomes) == (1, 0)


async def test_a_replace_refused_with_an_error_status_keeps_its_code(
    autojump_clock: trio.testing.MockClock,
) -> None:
    error = RequestError("stale", status=409, code="STALE_CL_ORD_ID")
    gateway = FakeGateway(replace_failures=[error])
    run = await run_dispatcher(gateway, [replace(live_order(), qty="20")])
    assert len(gateway.calls) == 1
    [failed] = run.events
    assert isinstance(failed, ReplaceFailed)
    assert (failed.code, failed.reason, failed.outcome_unknown) == (
        "STALE_CL_ORD_ID",
        "stale",
        False,
    )


async def test_an_auth_error_fails_the_replace(autojump_clock: trio.testing.MockClock) -> None:
    gateway = FakeGateway(replace_failures=[AuthError("UNAUTHORIZED", "expired")])
    run = await run_dispatcher(gateway, [replace(live_order(), qty="20")])
    [failed] = run.events
    assert isinstance(failed, ReplaceFailed)
    assert (failed.code, failed.outcome_unknown) == ("UNAUTHORIZED", False)


@pytest.mark.parametrize(
    "error",
    [
        RequestError("read timeout", outcome_unknown=True),
        RequestError("bad gateway", status=502, outcome_unknown=True),
    ],
    ids=["timeout", "5xx"],
)
async def test_a_replace_with_an_unknown_outcome_is_reported_and_never_resent(
    autojump_clock: trio.testing.MockClock, error: RequestError
) -> None:
    gateway = FakeGateway(replace_failures=[error])
    items: list[DispatchRequest] = [replace(live_order(), qty="20"), place("p1")]
    run = await run_dispatcher(gateway, items)
    assert gateway.sent("replace") == ["r1"]  # exactly once, even after everything else went
    [failed] = [e for e in run.events if isinstance(e, ReplaceFailed)]
    assert failed.outcome_unknown
    assert (failed.account_id, failed.client_order_id) == ("A", "r1")
    assert run.statistics.unknown_outcomes == 1
    assert run.statistics.failures == 0


async def test_an_accepted_replace_without_the_new_clordid_is_an_unknown_outcome(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway(replace_acks=[Ack(success=True, cl_ord_id="")])
    run = await run_dispatcher(gateway, [replace(live_order(), qty="20")])
    assert len(gateway.calls) == 1
    [failed] = run.events
    assert isinstance(failed, ReplaceFailed)
    assert failed.outcome_unknown


@pytest.mark.parametrize("status", [429, 503])
async def test_a_rate_limited_replace_is_retried_after_retry_after(
    autojump_clock: trio.testing.MockClock, status: int
) -> None:
    limited = RateLimitedError("slow down", status=status, retry_after=3.0)
    gateway = FakeGateway(replace_failures=[limited, limited])
    start = trio.current_time()
    run = await run_dispatcher(gateway, [replace(live_order(cl_ord_id="CL-1"), qty="20")])
    assert gateway.times(start) == [0, 3.0, 6.0]
    assert [c.kwargs["cl_ord_id"] for c in gateway.calls] == ["CL-1"] * 3  # the same request
    [accepted] = run.events
    assert isinstance(accepted, OrderReplaceAccepted)
    assert (accepted.cl_ord_id, accepted.orig_cl_ord_id) == ("NEW-r1", "CL-1")
    assert run.statistics.rate_limited == 2


async def test_a_retry_after_wait_does_not_spend_tokens(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limited = RateLimitedError("slow down", status=429, retry_after=5.0)
    gateway = FakeGateway(replace_failures=[limited])
    start = trio.current_time()
    items: list[DispatchRequest] = [replace(live_order(), qty="20"), place("p1")]
    await run_dispatcher(gateway, items, account_rate=1, account_burst=1)
    # the retry at 5 s reuses the replace's token; the order takes the one refilled by then
    assert [(c.kind, round(c.at - start, 6)) for c in gateway.calls] == [
        ("replace", 0.0),
        ("replace", 5.0),
        ("place", 5.0),
    ]


async def test_a_replace_storm_of_429s_gives_up_with_a_definite_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    storm: list[Exception] = [
        RateLimitedError("slow down", status=429, retry_after=None) for _ in range(10)
    ]
    gateway = FakeGateway(replace_failures=storm)
    start = trio.current_time()
    run = await run_dispatcher(gateway, [replace(live_order(), qty="20")])
    assert gateway.times(start) == [0, 1, 2, 3, 4, 5]  # Retry-After missing: 1 s
    [failed] = run.events
    assert isinstance(failed, ReplaceFailed)
    assert (failed.code, failed.outcome_unknown) == ("RATE_LIMITED", False)


async def test_replaces_are_journalled_like_places(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = FakeJournal()
    gateway = FakeGateway(
        replace_failures=[RequestError("read timeout", outcome_unknown=True)],
    )
    old = live_order(cl_ord_id="CL-1", client_order_id="r1")
    other = live_order(cl_ord_id="CL-7", client_order_id="r2")
    items: list[DispatchRequest] = [
        replace(old, price="101"),
        replace(other, qty="30"),
        place("p1"),
    ]
    run = await run_dispatcher(gateway, items, journal=journal)
    assert journal.requests == [
        {
            "method": "POST",
            "path": "/v1/orders/replace",
            "outcome": "unknown",
            "body": {"clientId": "r1", "origClOrdId": "CL-1", "price": "101"},
            "response": {"code": "REQUEST_FAILED", "reason": "read timeout"},
            "account_id": "A",
        },
        {
            "method": "POST",
            "path": "/v1/orders/replace",
            "outcome": "replaced",
            "body": {"clientId": "r2", "origClOrdId": "CL-7", "qty": "30"},
            "response": {"clOrdId": "NEW-r2", "origClOrdId": "CL-7"},
            "account_id": "A",
        },
        {
            "method": "POST",
            "path": "/v1/orders",
            "outcome": "placed",
            "body": {"clientId": "p1"},
            "response": {"clOrdId": "CL-p1"},
            "account_id": "A",
        },
    ]
    assert [type(e) for e in run.events] == [ReplaceFailed, OrderReplaceAccepted, OrderPlaced]
