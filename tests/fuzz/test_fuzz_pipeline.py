"""Past the decoder: handlers raise only ``ProtocolError``, and absurd account events that decode
cannot crash the account book (decode → ``AccountsHandler.handle`` → ``AccountBook.apply``).

The book sees sequences of order, position and balance events and snapshots for the two
configured accounts whose numbers are absurd but within the decoder's limits: negative, zero,
1e-18, 1e15, ``cumQty > qty``, ``leavesQty < 0``, any status after any other, the same few
``clOrdId`` s over and over. A crash is an exception out of ``apply`` (in the engine it would
escape ``AccountActor.run`` and stop the engine). Known crashes are tolerated here (see
``harness.KNOWN_CRASHES``) and reproduced in ``test_fuzz_regressions``.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from engine.model.enums import Endpoint, TradingState
from engine.model.events import OrderReported
from tests.fuzz.frames import ACCOUNTS, Frame, book_frames, dumps, fuzz_frames
from tests.fuzz.harness import Pipeline, fuzz_settings, run_all


@fuzz_settings(100)
@given(frames=book_frames())
def test_absurd_account_events_never_crash_the_book(frames: list[str]) -> None:
    pipeline = Pipeline(Endpoint.ACCOUNTS)
    live_reports = dict.fromkeys(ACCOUNTS, 0)
    for frame in frames:
        with capture_logs() as logs:
            result = pipeline.run(frame, logs)
        assert result.unexpected() == [], frame
        for event in result.events:
            if isinstance(event, OrderReported):
                live_reports[event.account_id] += 1
    for account, book in pipeline.books.items():
        view = book.view(TradingState.ACTIVE)  # the picture strategies get builds too
        assert view.account_id == account
        assert all(order.account_id == account for order in view.open_orders.values())
        # every live report reached the book: applied, or dropped as duplicate, stale or illegal
        stats = book.statistics()
        handled = (
            stats.orders_applied
            + stats.duplicates_dropped
            + stats.stale_dropped
            + stats.illegal_transitions
        )
        assert handled >= live_reports[account]


@fuzz_settings(60)
@given(frames=st.lists(fuzz_frames(Endpoint.MARKET), min_size=2, max_size=5))
def test_market_handler_raises_only_protocol_errors_across_frames(frames: list[Frame]) -> None:
    """The normalizer keeps per-symbol state across frames: partial quotes and trades, trades
    without a price for a symbol never priced."""
    results = run_all(Endpoint.MARKET, frames)
    # only the normalizer's "trade without a price" can fail once a message decoded
    errors = {(e.message_type, e.field) for r in results for e in r.normalize_errors}
    assert errors <= {("trade", "payload.data.lastPrice")}


def test_a_trade_without_a_price_is_a_normalize_error_then_the_feed_goes_on() -> None:
    trade = {
        "type": "event",
        "payload": {"action": "update", "type": "trade", "data": {"symbol": "ZZZ", "size": "5"}},
    }
    priced = {
        "type": "event",
        "payload": {
            "action": "update",
            "type": "trade",
            "data": {"symbol": "ZZZ", "lastPrice": "1.25", "size": "5"},
        },
    }
    first, second = run_all(Endpoint.MARKET, [dumps(trade), f"{dumps(priced)}\n{dumps(trade)}"])
    assert [(e.message_type, e.field) for e in first.normalize_errors] == [
        ("trade", "payload.data.lastPrice")
    ]
    assert first.events == []
    assert second.normalize_errors == []
    assert [getattr(e, "price", None) for e in second.events] == [Decimal("1.25")] * 2
