"""Unit tests of ``AccountBook``: plain sync, one behaviour per test."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from structlog.testing import capture_logs

from engine.accounts.book import AccountBook, BookStatistics
from engine.model import (
    AccountInfo,
    AccountInfoChanged,
    AccountInfoReported,
    AccountSnapshotReceived,
    AccountSynced,
    BalanceChanged,
    BalanceReported,
    Order,
    OrderFilled,
    OrderPlaced,
    OrderPlaceFailed,
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    Position,
    PositionChanged,
    PositionReported,
    TradingState,
)

from ._factories import (
    ACC,
    at,
    balance,
    intent,
    kinds,
    of_type,
    order,
    position,
    reported,
)

S = OrderStatus


@pytest.fixture
def book() -> AccountBook:
    b = AccountBook(ACC)
    b.track_intent(intent("c-1"), reserve=Decimal("17550"))
    return b


def snapshot(
    *orders: Order,
    positions: tuple[Position, ...] = (),
    bp: str | None = "100000.00",
    info: AccountInfo | None = None,
) -> AccountSnapshotReceived:
    return AccountSnapshotReceived(
        account_id=ACC,
        info=info,
        balance=None if bp is None else balance(bp),
        positions=positions,
        orders=orders,
    )


# --- happy path and fills -------------------------------------------------------------------


def test_lifecycle_with_last_fields_publishes_each_fill_once(book: AccountBook) -> None:
    steps = [
        order(S.PENDING_NEW),
        order(S.NEW),
        order(S.PARTIALLY_FILLED, cum="40", avg="175.48", last_qty="40", last_px="175.48"),
        order(S.FILLED, cum="100", avg="175.484", last_qty="60", last_px="175.487"),
    ]
    facts = [book.apply(reported(o)) for o in steps]

    assert [kinds(f) for f in facts] == [
        ["OrderUpdated"],
        ["OrderUpdated"],
        ["OrderUpdated", "OrderFilled"],
        ["OrderUpdated", "OrderFilled"],
    ]
    updates = [of_type(f, OrderUpdated)[0] for f in facts]
    assert [(u.previous_status, u.order.status) for u in updates] == [
        (None, S.PENDING_NEW),
        (S.PENDING_NEW, S.NEW),
        (S.NEW, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.FILLED),
    ]
    assert all(u.strategy == "alpha" for u in updates)
    fills = [of_type(f, OrderFilled)[0] for f in facts[2:]]
    # last_px wins over the average when last_qty matches the delta
    assert [(f.qty, f.price, f.cum_qty, f.leaves_qty) for f in fills] == [
        (Decimal(40), Decimal("175.48"), Decimal(40), Decimal(60)),
        (Decimal(60), Decimal("175.487"), Decimal(100), Decimal(0)),
    ]
    assert all(f.strategy == "alpha" and f.client_order_id == "c-1" for f in fills)
    assert book.statistics() == BookStatistics(
        orders_applied=4,
        duplicates_dropped=0,
        illegal_transitions=0,
        stale_dropped=0,
        fills=2,
        reservations=1,
        orders_kept=1,
        orders_forgotten=0,
    )


def test_lifecycle_without_last_fields_derives_prices_from_averages(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))
    first = book.apply(reported(order(S.PARTIALLY_FILLED, cum="40", avg="175.48")))
    second = book.apply(reported(order(S.FILLED, cum="100", avg="175.486")))

    f1, f2 = of_type(first, OrderFilled)[0], of_type(second, OrderFilled)[0]
    assert (f1.qty, f1.price) == (Decimal(40), Decimal("175.48"))
    # (175.486 * 100 - 175.48 * 40) / 60 = 175.49
    assert (f2.qty, f2.price) == (Decimal(60), Decimal("175.49"))
    assert str(f2.price) == "175.49"


def test_derived_price_is_rounded_half_even_to_six_places(book: AccountBook) -> None:
    book.apply(reported(order(S.PARTIALLY_FILLED, cum="1", avg="10.00")))
    facts = book.apply(reported(order(S.PARTIALLY_FILLED, cum="4", avg="10.01")))

    # (10.01 * 4 - 10.00 * 1) / 3 = 10.0133333...
    assert of_type(facts, OrderFilled)[0].price == Decimal("10.013333")


def test_whole_prices_keep_two_places(book: AccountBook) -> None:
    facts = book.apply(reported(order(S.FILLED, cum="100", avg="180")))

    assert str(of_type(facts, OrderFilled)[0].price) == "180.00"


def test_last_px_not_used_when_last_qty_is_not_the_delta(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))
    # two executions of 20 (at 10 and 12) merged into one report: last_px is only the second
    facts = book.apply(
        reported(order(S.PARTIALLY_FILLED, cum="40", avg="11", last_qty="20", last_px="12"))
    )

    fill = of_type(facts, OrderFilled)[0]
    assert (fill.qty, fill.price) == (Decimal(40), Decimal("11.00"))


def test_first_sight_already_filled_publishes_the_whole_fill(book: AccountBook) -> None:
    facts = book.apply(reported(order(S.FILLED, cum="100", avg="175.40")))

    assert kinds(facts) == ["OrderUpdated", "OrderFilled"]
    assert of_type(facts, OrderFilled)[0].qty == Decimal(100)


def test_fill_with_no_usable_average_falls_back_and_warns(book: AccountBook) -> None:
    with capture_logs() as logs:
        facts = book.apply(reported(order(S.PARTIALLY_FILLED, cum="10", avg="0")))

    assert of_type(facts, OrderFilled)[0].price == Decimal("175.50")  # the limit price
    assert any(e["event"] == "book.fill_price_unknown" for e in logs)


# --- duplicates, stale, sticky, illegal ------------------------------------------------------


def test_duplicate_report_is_dropped_and_its_fill_not_published_twice(book: AccountBook) -> None:
    report = reported(order(S.PARTIALLY_FILLED, cum="40", avg="175.48"))
    assert kinds(book.apply(report)) == ["OrderUpdated", "OrderFilled"]

    assert book.apply(report) == []
    assert book.apply(reported(order(S.PARTIALLY_FILLED, cum="40", avg="175.48"))) == []
    stats = book.statistics()
    assert (stats.duplicates_dropped, stats.fills, stats.orders_applied) == (2, 1, 1)


def test_report_with_smaller_cum_qty_is_stale(book: AccountBook) -> None:
    book.apply(reported(order(S.PARTIALLY_FILLED, cum="60", avg="175")))

    assert book.apply(reported(order(S.PARTIALLY_FILLED, cum="40", avg="175"))) == []
    assert book.apply(reported(order(S.NEW))) == []
    stats = book.statistics()
    assert (stats.stale_dropped, stats.illegal_transitions) == (2, 0)
    current = book.order_by_client_id("c-1")
    assert current is not None
    assert current.cum_qty == Decimal(60)


def test_report_with_same_cum_and_older_timestamp_is_stale(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW, updated_at=at(1))))
    book.apply(reported(order(S.PENDING_CANCEL, updated_at=at(2))))

    # a replayed NEW would otherwise read as "cancel rejected"
    assert book.apply(reported(order(S.NEW, updated_at=at(1)))) == []
    assert book.statistics().stale_dropped == 1
    current = book.order_by_client_id("c-1")
    assert current is not None
    assert current.status is S.PENDING_CANCEL


def test_cancel_rejected_goes_back_to_new(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW, updated_at=at(1))))
    book.apply(reported(order(S.PENDING_CANCEL, updated_at=at(2))))

    facts = book.apply(reported(order(S.NEW, updated_at=at(3))))

    assert of_type(facts, OrderUpdated)[0].previous_status is S.PENDING_CANCEL


def test_terminal_state_is_sticky(book: AccountBook) -> None:
    book.apply(reported(order(S.FILLED, cum="100", avg="175")))

    with capture_logs() as logs:
        assert book.apply(reported(order(S.NEW, cum="100", avg="175"))) == []

    assert book.statistics().illegal_transitions == 1
    assert [e["event"] for e in logs] == ["book.illegal_transition"]
    current = book.order_by_client_id("c-1")
    assert current is not None
    assert current.status is S.FILLED


def test_terminal_restated_is_a_duplicate_not_an_illegal_transition(book: AccountBook) -> None:
    book.apply(reported(order(S.CANCELED, cum="10", avg="175")))

    assert book.apply(reported(order(S.CANCELED, cum="10", avg="175", leaves="90"))) == []
    stats = book.statistics()
    assert (stats.duplicates_dropped, stats.illegal_transitions) == (1, 0)


def test_illegal_transition_is_logged_counted_and_not_applied(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))
    book.apply(reported(order(S.PARTIALLY_FILLED, cum="40", avg="175")))

    with capture_logs() as logs:
        facts = book.apply(reported(order(S.PENDING_NEW, cum="40", avg="175")))

    assert facts == []
    assert logs == [
        {
            "event": "book.illegal_transition",
            "log_level": "warning",
            "account": ACC,
            "cl_ord_id": "CL-1",
            "from": "PARTIALLY_FILLED",
            "to": "PENDING_NEW",
            "cum_qty": "40",
            "stored_cum_qty": "40",
            "fill_applied": False,
        }
    ]
    assert book.statistics().illegal_transitions == 1


def test_illegal_transition_with_more_cum_keeps_the_fill(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))

    with capture_logs() as logs:
        facts = book.apply(reported(order(S.PENDING_NEW, cum="30", avg="175")))

    assert kinds(facts) == ["OrderUpdated", "OrderFilled"]
    update = of_type(facts, OrderUpdated)[0]
    assert update.order.status is S.PARTIALLY_FILLED  # the status the fill implies
    assert update.order.cum_qty == Decimal(30)
    assert logs[0]["fill_applied"] is True
    assert book.statistics().illegal_transitions == 1


def test_late_fill_on_terminal_order_is_kept_but_status_stays(book: AccountBook) -> None:
    book.apply(reported(order(S.CANCELED, cum="40", avg="10")))

    facts = book.apply(reported(order(S.PARTIALLY_FILLED, cum="60", avg="11")))

    fill = of_type(facts, OrderFilled)[0]
    assert (fill.qty, fill.price) == (Decimal(20), Decimal("13.00"))
    update = of_type(facts, OrderUpdated)[0]
    assert (update.order.status, update.order.cum_qty) == (S.CANCELED, Decimal(60))


def test_fill_after_pending_cancel_is_accepted(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))
    book.apply(reported(order(S.PENDING_CANCEL)))

    filled = book.apply(reported(order(S.PARTIALLY_FILLED, cum="30", avg="175.50")))
    canceled = book.apply(reported(order(S.CANCELED, cum="30", avg="175.50")))

    assert of_type(filled, OrderFilled)[0].qty == Decimal(30)
    assert kinds(canceled) == ["OrderUpdated"]
    final = of_type(canceled, OrderUpdated)[0].order
    assert (final.status, final.cum_qty) == (S.CANCELED, Decimal(30))
    assert book.statistics().illegal_transitions == 0


def test_pending_cancel_straight_to_filled(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))
    book.apply(reported(order(S.PENDING_CANCEL)))

    facts = book.apply(reported(order(S.FILLED, cum="100", avg="175.50")))

    assert of_type(facts, OrderFilled)[0].qty == Decimal(100)


# --- rejects ------------------------------------------------------------------------------


def test_venue_reject_publishes_order_rejected_and_releases_reservation(
    book: AccountBook,
) -> None:
    book.apply(reported(order(S.PENDING_NEW)))
    facts = book.apply(
        reported(order(S.REJECTED, reject_reason="Insufficient buying power", leaves="0"))
    )

    assert kinds(facts) == ["OrderUpdated", "OrderRejected"]
    rejected = of_type(facts, OrderRejected)[0]
    assert (rejected.source, rejected.code, rejected.reason) == (
        "venue",
        "VENUE_REJECTED",
        "Insufficient buying power",
    )
    assert (rejected.cl_ord_id, rejected.client_order_id, rejected.strategy) == (
        "CL-1",
        "c-1",
        "alpha",
    )
    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0
    assert book.apply(reported(order(S.REJECTED, leaves="0"))) == []  # sticky, no second reject


def test_place_failure_publishes_dispatch_reject_and_releases(book: AccountBook) -> None:
    facts = book.apply(
        OrderPlaceFailed(
            account_id=ACC, client_order_id="c-1", code="INVALID_ORDER", reason="bad price"
        )
    )

    assert facts == [
        OrderRejected(
            account_id=ACC,
            ts_event=None,
            ts_recv=facts[0].ts_recv,
            client_order_id="c-1",
            cl_ord_id=None,
            symbol="AAPL",
            code="INVALID_ORDER",
            reason="bad price",
            source="dispatch",
            strategy="alpha",
        )
    ]
    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0


def test_place_failure_for_an_order_the_venue_has_is_not_a_reject(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))

    with capture_logs() as logs:
        facts = book.apply(
            OrderPlaceFailed(account_id=ACC, client_order_id="c-1", code="HTTP_500", reason="")
        )

    assert facts == []
    assert logs[0]["event"] == "book.place_failed_but_order_known"


# --- ownership ------------------------------------------------------------------------------


def test_order_placed_before_the_ws_event_links_the_owner(book: AccountBook) -> None:
    assert book.apply(OrderPlaced(account_id=ACC, client_order_id="c-1", cl_ord_id="CL-1")) == []

    facts = book.apply(reported(order(S.NEW, client=None)))  # clientId not echoed

    update = of_type(facts, OrderUpdated)[0]
    assert (update.strategy, update.order.client_order_id) == ("alpha", "c-1")
    assert book.order_by_client_id("c-1") == update.order


def test_order_placed_after_the_ws_event_links_the_owner(book: AccountBook) -> None:
    first = book.apply(reported(order(S.NEW, client=None)))
    assert of_type(first, OrderUpdated)[0].strategy is None
    assert book.order_by_client_id("c-1") is None

    facts = book.apply(OrderPlaced(account_id=ACC, client_order_id="c-1", cl_ord_id="CL-1"))

    assert kinds(facts) == ["OrderUpdated"]
    update = of_type(facts, OrderUpdated)[0]
    assert (update.strategy, update.previous_status, update.order.status) == (
        "alpha",
        S.NEW,
        S.NEW,
    )
    assert book.owner_of("c-1") == "alpha"
    later = book.apply(reported(order(S.FILLED, client=None, cum="100", avg="175.50")))
    assert of_type(later, OrderFilled)[0].strategy == "alpha"
    assert of_type(later, OrderFilled)[0].client_order_id == "c-1"


def test_echoed_client_id_links_and_order_placed_after_is_a_no_op(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))

    assert book.apply(OrderPlaced(account_id=ACC, client_order_id="c-1", cl_ord_id="CL-1")) == []
    assert book.statistics().orders_applied == 1


def test_an_unknown_echoed_client_id_links_nothing() -> None:
    book = AccountBook(ACC)
    # Aries may overwrite clientId with the OAuth client id: it must not chain two orders
    a = book.apply(reported(order(S.NEW, cl="A", client="demo-oauth-client")))
    b = book.apply(reported(order(S.NEW, cl="B", client="demo-oauth-client")))

    assert kinds(a) == kinds(b) == ["OrderUpdated"]
    assert set(book.view(TradingState.ACTIVE).open_orders) == {"A", "B"}
    assert book.owner_of("demo-oauth-client") is None
    assert book.order_by_client_id("demo-oauth-client") is None


def test_owner_of_unknown_or_none_is_none(book: AccountBook) -> None:
    assert book.owner_of(None) is None
    assert book.owner_of("nope") is None
    assert book.owner_of("c-1") == "alpha"


# --- replace chain ----------------------------------------------------------------------------


def test_replace_chain_follows_the_new_cl_ord_id(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW, cl="A")))
    book.apply(reported(order(S.PENDING_REPLACE, cl="A")))

    facts = book.apply(reported(order(S.NEW, cl="B", qty="200")))

    updates = of_type(facts, OrderUpdated)
    assert [(u.order.cl_ord_id, u.previous_status, u.order.status) for u in updates] == [
        ("A", S.PENDING_REPLACE, S.REPLACED),
        ("B", None, S.NEW),
    ]
    assert all(u.strategy == "alpha" for u in updates)
    current = book.order_by_client_id("c-1")
    assert current is not None
    assert (current.cl_ord_id, current.qty) == ("B", Decimal(200))
    assert book.current_cl_ord_id("A") == "B"
    assert set(book.view(TradingState.ACTIVE).open_orders) == {"B"}

    # the venue's own REPLACED for A restates what we inferred
    assert book.apply(reported(order(S.REPLACED, cl="A", leaves="100"))) == []
    # a fill that raced the replace on the old id is still a fill; A stays REPLACED
    late = book.apply(reported(order(S.PARTIALLY_FILLED, cl="A", cum="10", avg="175.50")))
    assert of_type(late, OrderFilled)[0].qty == Decimal(10)
    assert of_type(late, OrderUpdated)[0].order.status is S.REPLACED


def test_replace_chain_when_the_venue_says_replaced_first(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW, cl="A")))
    book.apply(reported(order(S.REPLACED, cl="A")))

    facts = book.apply(reported(order(S.NEW, cl="B")))

    assert kinds(facts) == ["OrderUpdated"]
    current = book.order_by_client_id("c-1")
    assert current is not None
    assert current.cl_ord_id == "B"


def test_replace_chain_linked_later_by_order_placed(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW, cl="A")))
    book.apply(reported(order(S.NEW, cl="B", client=None)))

    facts = book.apply(OrderPlaced(account_id=ACC, client_order_id="c-1", cl_ord_id="B"))

    updates = of_type(facts, OrderUpdated)
    assert [(u.order.cl_ord_id, u.order.status, u.strategy) for u in updates] == [
        ("A", S.REPLACED, "alpha"),
        ("B", S.NEW, "alpha"),
    ]
    current = book.order_by_client_id("c-1")
    assert current is not None
    assert current.cl_ord_id == "B"


def test_an_old_replaced_link_seen_late_does_not_become_current(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW, cl="B")))

    book.apply(reported(order(S.REPLACED, cl="A")))

    current = book.order_by_client_id("c-1")
    assert current is not None
    assert current.cl_ord_id == "B"
    assert book.current_cl_ord_id("A") == "B"


# --- positions, balance, info ------------------------------------------------------------------


def test_position_changes_are_published_only_when_they_differ() -> None:
    book = AccountBook(ACC)
    opened = book.apply(PositionReported(account_id=ACC, position=position("AAPL", "100")))
    same = book.apply(PositionReported(account_id=ACC, position=position("AAPL", "100")))
    closed = book.apply(PositionReported(account_id=ACC, position=position("AAPL", "0")))
    again = book.apply(PositionReported(account_id=ACC, position=position("AAPL", "0")))

    assert of_type(opened, PositionChanged)[0].previous is None
    assert same == []
    assert again == []
    change = of_type(closed, PositionChanged)[0]
    assert (change.position.quantity, change.previous) == (Decimal(0), position("AAPL", "100"))
    assert dict(book.view(TradingState.ACTIVE).positions) == {}


def test_balance_and_info_are_published_only_when_they_differ() -> None:
    book = AccountBook(ACC)
    assert kinds(book.apply(BalanceReported(account_id=ACC, balance=balance()))) == [
        "BalanceChanged"
    ]
    assert book.apply(BalanceReported(account_id=ACC, balance=balance())) == []
    info = AccountInfo(account_id=ACC, account_type="MARGIN", status="OPEN")
    changed = book.apply(AccountInfoReported(account_id=ACC, info=info))
    assert of_type(changed, AccountInfoChanged)[0].info == info
    assert book.apply(AccountInfoReported(account_id=ACC, info=info)) == []


def test_events_for_another_account_are_ignored() -> None:
    book = AccountBook(ACC)

    with capture_logs() as logs:
        assert book.apply(reported(order(S.NEW, account_id="OTHER"))) == []
        wrong = attrs.evolve(position("AAPL", "5"), account_id="OTHER")
        assert book.apply(PositionReported(account_id=ACC, position=wrong)) == []

    assert [e["event"] for e in logs] == ["book.foreign_event", "book.foreign_event"]
    assert book.view(TradingState.ACTIVE).open_orders == {}


def test_facts_carry_the_input_timestamps(book: AccountBook) -> None:
    report = attrs.evolve(reported(order(S.FILLED, cum="100", avg="1")), ts_event=at(5))

    facts = book.apply(report)

    assert all((f.ts_event, f.ts_recv) == (at(5), report.ts_recv) for f in facts)


# --- snapshots --------------------------------------------------------------------------------


def test_snapshot_replaces_positions_and_balance() -> None:
    book = AccountBook(ACC)
    book.apply(snapshot(positions=(position("AAPL", "100"), position("MSFT", "50")), bp="1000"))

    facts = book.apply(
        snapshot(positions=(position("AAPL", "140"), position("TSLA", "10")), bp="2000")
    )

    assert kinds(facts) == [
        "PositionChanged",
        "PositionChanged",
        "PositionChanged",
        "BalanceChanged",
        "AccountSynced",
    ]
    changes = {c.position.symbol: c for c in of_type(facts, PositionChanged)}
    assert changes["AAPL"].previous == position("AAPL", "100")
    assert changes["TSLA"].previous is None
    assert changes["MSFT"].position.quantity == 0  # vanished: published as closed
    assert changes["MSFT"].previous == position("MSFT", "50")
    assert of_type(facts, BalanceChanged)[0].balance == balance("2000")
    assert of_type(facts, AccountSynced)[0].positions == 2
    view = book.view(TradingState.ACTIVE)
    assert set(view.positions) == {"AAPL", "TSLA"}
    assert view.balance == balance("2000")


def test_identical_snapshot_publishes_only_account_synced() -> None:
    book = AccountBook(ACC)
    snap = snapshot(order(S.NEW), positions=(position("AAPL", "100"),))
    book.apply(snap)

    facts = book.apply(snap)

    assert facts == [
        AccountSynced(account_id=ACC, ts_recv=snap.ts_recv, open_orders=1, positions=1)
    ]
    assert book.statistics().duplicates_dropped == 0  # a restating snapshot is not a replay


def test_snapshot_derives_an_offline_fill_exactly_once(book: AccountBook) -> None:
    book.apply(snapshot())
    book.apply(reported(order(S.NEW)))
    offline = order(S.PARTIALLY_FILLED, cum="40", avg="175.48")

    facts = book.apply(snapshot(offline, positions=(position("AAPL", "40"),)))

    assert kinds(facts) == [
        "OrderUpdated",
        "OrderFilled",
        "PositionChanged",
        "AccountSynced",
    ]
    fill = of_type(facts, OrderFilled)[0]
    assert (fill.qty, fill.price, fill.strategy) == (Decimal(40), Decimal("175.48"), "alpha")
    assert of_type(facts, AccountSynced)[0].open_orders == 1
    # the same snapshot again, then the live replay of the event we missed: nothing new
    assert of_type(book.apply(snapshot(offline)), OrderFilled) == []
    assert book.apply(reported(offline)) == []
    assert book.statistics().fills == 1


def test_snapshot_bridges_missed_steps(book: AccountBook) -> None:
    book.apply(snapshot())
    book.apply(reported(order(S.NEW)))
    book.apply(reported(order(S.PENDING_CANCEL)))
    # missed: NEW (cancel rejected); the snapshot already shows a replace pending
    facts = book.apply(snapshot(order(S.PENDING_REPLACE)))

    assert of_type(facts, OrderUpdated)[0].order.status is S.PENDING_REPLACE
    assert book.statistics().illegal_transitions == 0


def test_snapshot_still_refuses_to_reopen_a_terminal_order(book: AccountBook) -> None:
    book.apply(reported(order(S.CANCELED)))

    facts = book.apply(snapshot(order(S.NEW)))

    assert of_type(facts, OrderUpdated) == []
    assert book.statistics().illegal_transitions == 1


def test_first_snapshot_adopts_history_without_fills() -> None:
    book = AccountBook(ACC)
    old = order(S.FILLED, cl="OLD", client=None, cum="100", avg="170")

    facts = book.apply(snapshot(old))

    assert kinds(facts) == ["OrderUpdated", "BalanceChanged", "AccountSynced"]
    # an order first seen in a later snapshot was made while we were away: its fill is news
    fresh = order(S.FILLED, cl="NEW", client=None, cum="10", avg="171")
    later = book.apply(snapshot(old, fresh))
    assert [f.cl_ord_id for f in of_type(later, OrderFilled)] == ["NEW"]


def test_first_snapshot_publishes_fills_of_our_own_orders(book: AccountBook) -> None:
    facts = book.apply(snapshot(order(S.PARTIALLY_FILLED, cum="5", avg="175")))

    assert of_type(facts, OrderFilled)[0].qty == Decimal(5)


def test_snapshot_missing_an_open_order_logs_and_keeps_it(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))

    with capture_logs() as logs:
        facts = book.apply(snapshot())

    assert any(
        e["event"] == "book.snapshot_missing_order" and e["cl_ord_id"] == "CL-1" for e in logs
    )
    assert of_type(facts, AccountSynced)[0].open_orders == 1
    assert set(book.view(TradingState.ACTIVE).open_orders) == {"CL-1"}


def test_snapshot_without_balance_keeps_the_last_one() -> None:
    book = AccountBook(ACC)
    book.apply(snapshot(bp="5"))

    facts = book.apply(snapshot(bp=None))

    assert kinds(facts) == ["AccountSynced"]
    assert book.view(TradingState.ACTIVE).balance == balance("5")


def test_snapshot_info_is_published_when_it_changes() -> None:
    book = AccountBook(ACC)
    info = AccountInfo(account_id=ACC, account_type="MARGIN")

    facts = book.apply(snapshot(info=info))

    assert kinds(facts)[0] == "AccountInfoChanged"


# --- reservations ---------------------------------------------------------------------------


def test_reservations_add_up_and_are_released_by_a_balance_after_the_venue_saw_the_order() -> None:
    book = AccountBook(ACC)
    book.track_intent(intent("c-1"), reserve=Decimal(1000))
    book.track_intent(intent("c-2"), reserve=Decimal(2000))
    view = book.view(TradingState.ACTIVE)
    assert view.reserved_buying_power == Decimal(3000)
    assert book.statistics().reservations == 2

    book.apply(reported(order(S.PENDING_NEW, cl="A", client="c-1")))
    book.apply(reported(order(S.PENDING_NEW, cl="B", client="c-2")))
    book.apply(BalanceReported(account_id=ACC, balance=balance("9000")))
    assert book.view(TradingState.ACTIVE).reserved_buying_power == Decimal(3000)

    book.apply(reported(order(S.NEW, cl="A", client="c-1")))
    assert book.view(TradingState.ACTIVE).reserved_buying_power == Decimal(3000)
    book.apply(BalanceReported(account_id=ACC, balance=balance("8000")))

    view = book.view(TradingState.ACTIVE)
    assert view.reserved_buying_power == Decimal(2000)
    assert view.available_buying_power == Decimal(6000)
    assert book.statistics().reservations == 1


def test_an_identical_balance_also_releases() -> None:
    book = AccountBook(ACC)
    book.apply(BalanceReported(account_id=ACC, balance=balance("9000")))
    book.track_intent(intent("c-1"), reserve=Decimal(1000))
    book.apply(reported(order(S.NEW, cl="A", client="c-1")))

    assert book.apply(BalanceReported(account_id=ACC, balance=balance("9000"))) == []

    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0


def test_unknown_place_outcome_keeps_the_reservation_until_the_order_shows_up() -> None:
    book = AccountBook(ACC)
    book.track_intent(intent("c-1"), reserve=Decimal(1000))

    lost = OrderPlaceFailed(
        account_id=ACC, client_order_id="c-1", code="TIMEOUT", reason="", outcome_unknown=True
    )
    [update] = book.apply(lost)  # the owner hears its order's fate is unknown, nothing more
    assert isinstance(update, OrderUpdated)
    assert update.order.status is S.UNKNOWN
    assert (update.order.client_order_id, update.order.cl_ord_id) == ("c-1", "")
    assert update.strategy == "alpha"
    book.apply(BalanceReported(account_id=ACC, balance=balance("9000")))
    assert book.view(TradingState.ACTIVE).reserved_buying_power == Decimal(1000)

    book.apply(reported(order(S.NEW, cl="A", client="c-1")))
    book.apply(BalanceReported(account_id=ACC, balance=balance("8000")))
    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0


def test_unknown_outcome_then_definite_failure_releases() -> None:
    book = AccountBook(ACC)
    book.track_intent(intent("c-1"), reserve=Decimal(1000))
    book.apply(
        OrderPlaceFailed(
            account_id=ACC, client_order_id="c-1", code="TIMEOUT", reason="", outcome_unknown=True
        )
    )

    facts = book.apply(
        OrderPlaceFailed(account_id=ACC, client_order_id="c-1", code="NOT_FOUND", reason="")
    )

    assert of_type(facts, OrderRejected)[0].source == "dispatch"
    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0


def test_snapshot_balance_releases_orders_the_snapshot_shows() -> None:
    book = AccountBook(ACC)
    book.apply(snapshot())
    book.track_intent(intent("c-1"), reserve=Decimal(1000))

    book.apply(snapshot(order(S.NEW, cl="A", client="c-1")))

    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0


def test_order_linked_late_is_released_by_the_next_balance() -> None:
    book = AccountBook(ACC)
    book.track_intent(intent("c-1"), reserve=Decimal(1000))
    book.apply(reported(order(S.NEW, cl="A", client=None)))
    book.apply(BalanceReported(account_id=ACC, balance=balance("9000")))
    assert book.view(TradingState.ACTIVE).reserved_buying_power == Decimal(1000)

    book.apply(OrderPlaced(account_id=ACC, client_order_id="c-1", cl_ord_id="A"))
    book.apply(BalanceReported(account_id=ACC, balance=balance("8000")))

    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0


def test_zero_reserve_tracks_the_owner_only() -> None:
    book = AccountBook(ACC)
    book.track_intent(intent("c-1"), reserve=Decimal(0))

    assert book.owner_of("c-1") == "alpha"
    assert book.statistics().reservations == 0


def test_track_intent_refuses_bad_input() -> None:
    book = AccountBook(ACC)
    with pytest.raises(ValueError, match="negative"):
        book.track_intent(intent("c-1"), reserve=Decimal(-1))
    with pytest.raises(ValueError, match="OTHER"):
        book.track_intent(attrs.evolve(intent("c-1"), account_id="OTHER"), reserve=Decimal(1))


# --- view -----------------------------------------------------------------------------------


def test_view_is_an_immutable_snapshot(book: AccountBook) -> None:
    book.apply(reported(order(S.NEW)))
    book.apply(PositionReported(account_id=ACC, position=position("AAPL", "100")))

    view = book.view(TradingState.RECONCILING)

    assert view.trading_state is TradingState.RECONCILING
    with pytest.raises(TypeError):
        view.positions["MSFT"] = position("MSFT", "1")  # type: ignore[index]
    with pytest.raises(TypeError):
        del view.open_orders["CL-1"]  # type: ignore[attr-defined]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        view.reserved_buying_power = Decimal(0)  # type: ignore[misc]

    book.apply(reported(order(S.FILLED, cum="100", avg="175")))
    book.apply(PositionReported(account_id=ACC, position=position("AAPL", "200")))
    assert set(view.open_orders) == {"CL-1"}  # the old view did not move
    assert view.positions["AAPL"].quantity == Decimal(100)
    assert book.view(TradingState.ACTIVE).open_orders == {}


def test_view_lists_only_open_orders() -> None:
    book = AccountBook(ACC)
    for cl, status in [("A", S.NEW), ("B", S.FILLED), ("C", S.PENDING_CANCEL), ("D", S.EXPIRED)]:
        book.apply(reported(order(status, cl=cl, client=None)))

    assert set(book.view(TradingState.ACTIVE).open_orders) == {"A", "C"}


def test_a_rejection_seen_by_rest_and_then_by_the_stream_is_published_once() -> None:
    book = AccountBook(ACC)
    book.track_intent(intent("c-1"), reserve=Decimal(1000))
    refused = OrderPlaceFailed(
        account_id=ACC, client_order_id="c-1", code="VENUE_REJECTED", reason="no buying power"
    )
    first = book.apply(refused)
    later = book.apply(reported(order(S.REJECTED, cl="A", client="c-1")))

    assert [r.source for r in of_type(first, OrderRejected)] == ["dispatch"]
    assert of_type(later, OrderRejected) == []
    assert [u.order.status for u in of_type(later, OrderUpdated)] == [S.REJECTED]


def test_an_unknown_order_the_venue_never_got_is_rejected_as_lost() -> None:
    book = AccountBook(ACC)
    book.track_intent(intent("c-1"), reserve=Decimal(1000))
    book.apply(
        OrderPlaceFailed(
            account_id=ACC, client_order_id="c-1", code="TIMEOUT", reason="", outcome_unknown=True
        )
    )
    assert book.needs_order_lookup()
    facts = book.apply_order_list([], ts_recv=0)
    [lost] = of_type(facts, OrderRejected)
    assert (lost.client_order_id, lost.code, lost.strategy) == ("c-1", "LOST", "alpha")
    assert book.view(TradingState.ACTIVE).reserved_buying_power == 0
    assert not book.needs_order_lookup()


def test_an_unknown_order_found_in_the_venue_list_is_settled_with_its_fill_once() -> None:
    book = AccountBook(ACC)
    book.track_intent(intent("c-1"), reserve=Decimal(1000))
    book.apply(
        OrderPlaceFailed(
            account_id=ACC, client_order_id="c-1", code="TIMEOUT", reason="", outcome_unknown=True
        )
    )
    filled = order(S.FILLED, cl="A", client="c-1", cum="100", avg="175.50")
    facts = book.apply_order_list([filled], ts_recv=0)
    assert [f.qty for f in of_type(facts, OrderFilled)] == [Decimal(100)]
    assert of_type(facts, OrderRejected) == []
    assert of_type(facts, OrderUpdated)[0].strategy == "alpha"
    assert book.apply_order_list([filled], ts_recv=0) == []  # the same list again: nothing new
