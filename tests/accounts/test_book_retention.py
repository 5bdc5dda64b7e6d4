"""``AccountBook.forget_done`` and ``ForgottenOrders``: done orders leave the book, and a venue
restating one is still recognised."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from engine.accounts.book import AccountBook
from engine.accounts.retention import ForgottenOrders
from engine.model import (
    AccountSnapshotReceived,
    BalanceReported,
    Order,
    OrderFilled,
    OrderPlaced,
    OrderPlaceFailed,
    OrderRejected,
    OrderStatus,
    TradingState,
)

from ._factories import ACC, balance, intent, kinds, of_type, order, reported

S = OrderStatus
PERIOD = 300.0


@pytest.fixture
def book() -> AccountBook:
    b = AccountBook(ACC, done_retention=PERIOD)
    b.track_intent(intent("c-1"), reserve=Decimal("17550"))
    return b


def filled(cl: str = "CL-1", client: str | None = "c-1") -> Order:
    return order(S.FILLED, cl=cl, client=client, cum="100", avg="175.50", last_px="175.50")


def balance_arrives(book: AccountBook) -> None:
    book.apply(BalanceReported(account_id=ACC, balance=balance()))


def forget_twice(book: AccountBook, start: float = 0.0) -> int:
    """Two forgets a period apart: what was done at the first is gone after the second."""
    return book.forget_done(start) + book.forget_done(start + PERIOD)


def snapshot(*orders: Order) -> AccountSnapshotReceived:
    return AccountSnapshotReceived(
        account_id=ACC, info=None, balance=balance(), positions=(), orders=orders
    )


def test_a_done_order_is_kept_at_the_first_forget_and_gone_at_the_second(
    book: AccountBook,
) -> None:
    book.apply(reported(order(S.NEW)))
    book.apply(reported(filled()))
    balance_arrives(book)  # the venue's balance includes the order: the reservation goes

    assert book.forget_done(0.0) == 0
    assert book.order_by_client_id("c-1") is not None  # still whole, with its owner
    assert book.owner_of("c-1") == "alpha"

    assert book.forget_done(PERIOD) == 1
    assert book.order_by_client_id("c-1") is None
    assert book.owner_of("c-1") is None
    assert book.intent("c-1") is None
    stats = book.statistics()
    assert (stats.orders_kept, stats.orders_forgotten) == (0, 1)


def test_forget_is_due_at_once_and_then_a_period_after_each(book: AccountBook) -> None:
    assert book.forget_at == -math.inf
    book.forget_done(10.0)
    assert book.forget_at == 10.0 + PERIOD


def test_an_order_done_after_a_forget_waits_for_the_next_two(book: AccountBook) -> None:
    book.forget_done(0.0)
    book.apply(reported(filled()))
    balance_arrives(book)

    assert book.forget_done(PERIOD) == 0  # it was not done at the call before
    assert book.forget_done(2 * PERIOD) == 1


def test_open_orders_are_never_forgotten(book: AccountBook) -> None:
    book.apply(reported(order(S.PARTIALLY_FILLED, cum="10", avg="175.50")))
    balance_arrives(book)

    for period in range(5):
        assert book.forget_done(period * PERIOD) == 0
    assert set(book.view(TradingState.ACTIVE).open_orders) == {"CL-1"}


def test_an_order_still_reserving_buying_power_is_kept(book: AccountBook) -> None:
    book.apply(reported(filled()))  # no balance since: the reservation stands

    assert forget_twice(book) == 0
    assert book.view(TradingState.ACTIVE).reserved_buying_power == Decimal("17550")

    balance_arrives(book)
    assert forget_twice(book, start=2 * PERIOD) == 1
    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0


def test_orders_the_caller_keeps_are_not_forgotten(book: AccountBook) -> None:
    book.apply(reported(filled()))
    balance_arrives(book)

    assert book.forget_done(0.0, keep={"c-1"}) + book.forget_done(PERIOD, keep={"c-1"}) == 0
    assert book.forget_done(2 * PERIOD) + book.forget_done(3 * PERIOD) == 1


def test_a_live_restatement_of_a_forgotten_order_is_a_duplicate(book: AccountBook) -> None:
    book.apply(reported(filled()))
    balance_arrives(book)
    forget_twice(book)

    assert book.apply(reported(filled())) == []
    assert book.apply(reported(order(S.NEW))) == []  # an old step, replayed late
    assert book.statistics().duplicates_dropped == 2
    assert book.view(TradingState.ACTIVE).open_orders == {}


def test_a_snapshot_listing_a_forgotten_order_publishes_no_fill(book: AccountBook) -> None:
    book.apply(snapshot())  # the baseline
    book.apply(reported(filled()))
    balance_arrives(book)
    forget_twice(book)

    facts = book.apply(snapshot(filled()))

    assert kinds(facts) == ["AccountSynced"]
    assert book.statistics().orders_kept == 0


def test_a_late_fill_above_what_was_forgotten_is_published_once(book: AccountBook) -> None:
    book.apply(reported(order(S.CANCELED, cum="40", avg="175.50")))
    balance_arrives(book)
    forget_twice(book)
    late = order(S.CANCELED, cum="50", avg="175.48", last_qty="10", last_px="175.40")

    with capture_logs() as logs:
        facts = book.apply(reported(late))

    fill = of_type(facts, OrderFilled)
    assert [(f.qty, f.price, f.cum_qty, f.strategy) for f in fill] == [
        (Decimal(10), Decimal("175.40"), Decimal(50), None)
    ]
    assert [line["event"] for line in logs] == ["book.fill_on_forgotten_order"]
    assert book.apply(reported(late)) == []  # known again: a restatement is a duplicate


def test_a_replace_chain_is_forgotten_whole_once_its_head_is_done(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW, cl="A")))
    book.apply(reported(order(S.NEW, cl="B", qty="200")))  # A goes REPLACED
    balance_arrives(book)

    assert forget_twice(book) == 0  # B is open: neither link goes

    book.apply(reported(order(S.FILLED, cl="B", qty="200", cum="200", avg="175.50")))
    balance_arrives(book)
    assert forget_twice(book, start=2 * PERIOD) == 2
    assert book.current_cl_ord_id("A") == "A"  # no chain left
    assert book.apply(reported(order(S.REPLACED, cl="A"))) == []
    assert book.apply(reported(order(S.NEW, cl="B", qty="200"))) == []


def test_a_refused_order_is_forgotten_with_its_rejection(book: AccountBook) -> None:
    book.apply(
        OrderPlaceFailed(account_id=ACC, client_order_id="c-1", code="INVALID", reason="bad")
    )
    assert book.was_rejected("c-1")

    assert forget_twice(book) == 1
    assert not book.was_rejected("c-1")
    assert book.intent("c-1") is None


def test_an_order_of_unknown_outcome_is_kept_until_it_is_settled(book: AccountBook) -> None:
    unknown = OrderPlaceFailed(
        account_id=ACC, client_order_id="c-1", code="TIMEOUT", reason="", outcome_unknown=True
    )
    book.apply(unknown)

    assert forget_twice(book) == 0
    assert book.needs_order_lookup()

    facts = book.apply_order_list([], ts_recv=1)  # the venue has no such order: LOST
    assert [f.code for f in of_type(facts, OrderRejected)] == ["LOST"]
    assert forget_twice(book, start=2 * PERIOD) == 1


def test_external_orders_are_forgotten_too() -> None:
    book = AccountBook(ACC, done_retention=PERIOD)
    book.apply(reported(order(S.REJECTED, cl="X", client="someone-else", leaves="0")))
    book.apply(reported(filled(cl="Y", client=None)))

    assert forget_twice(book) == 2
    assert book.statistics().orders_kept == 0
    assert not book.was_rejected("someone-else")
    assert book.apply(reported(filled(cl="Y", client=None))) == []


def test_an_order_forgotten_before_we_knew_it_was_ours_releases_its_reservation(
    book: AccountBook,
) -> None:
    book.apply(reported(filled(client=None)))  # no clientId echoed: not known as ours yet
    forget_twice(book)

    assert book.apply(OrderPlaced(account_id=ACC, client_order_id="c-1", cl_ord_id="CL-1")) == []

    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0
    assert forget_twice(book, start=2 * PERIOD) == 0  # nothing whole was left to forget
    assert book.intent("c-1") is None  # but the link and intent are gone


def test_forgotten_traces_expire_after_the_restatement_window() -> None:
    book = AccountBook(ACC, done_retention=PERIOD, restatement_window=3600.0)
    book.apply(reported(filled(client=None)))
    forget_twice(book)

    book.forget_done(2 * 3600.0)
    facts = book.apply(reported(filled(client=None)))  # a day later: a new order to us

    assert kinds(facts) == ["OrderUpdated", "OrderFilled"]


def test_a_thousand_done_orders_leave_nothing_whole_behind() -> None:
    book = AccountBook(ACC, done_retention=PERIOD)
    for n in range(1000):
        book.track_intent(intent(f"c-{n}"), reserve=Decimal(1))
        book.apply(reported(order(S.NEW, cl=f"CL-{n}", client=f"c-{n}")))
        book.apply(reported(order(S.CANCELED, cl=f"CL-{n}", client=f"c-{n}")))
    balance_arrives(book)

    assert forget_twice(book) == 1000
    assert book.statistics().orders_kept == 0
    for n in (0, 999):
        assert book.owner_of(f"c-{n}") is None


def test_a_retention_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="done_retention"):
        AccountBook(ACC, done_retention=0)


# --- ForgottenOrders --------------------------------------------------------------------------


def test_a_trace_is_kept_for_its_ttl_and_dropped_after() -> None:
    traces = ForgottenOrders(ttl=100.0)
    traces.add("A", Decimal(5), now=0.0)
    traces.add("B", Decimal(0), now=24.0)  # same bucket as A (a bucket spans ttl / 4)
    traces.add("C", Decimal(7), now=30.0)  # the next bucket

    traces.expire(124.0)  # B is 100 s old: kept, and A with it
    assert (traces.cum_qty("A"), traces.cum_qty("B"), len(traces)) == (Decimal(5), Decimal(0), 3)
    traces.expire(125.0)
    assert "A" not in traces
    assert "B" not in traces
    assert traces.cum_qty("C") == Decimal(7)


def test_a_discarded_trace_is_gone() -> None:
    traces = ForgottenOrders(ttl=100.0)
    traces.add("A", Decimal(5), now=0.0)
    traces.discard("A")
    assert traces.cum_qty("A") is None


def test_a_ttl_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl"):
        ForgottenOrders(ttl=0)
