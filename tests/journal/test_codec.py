"""Every kind the journal knows encodes to JSON and decodes to an equal frozen object."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from engine.journal.codec import JournalCodec, known_kinds
from engine.model import Event, OrderFilled, OrderIntent, RiskVerdict
from tests.journal._samples import build

KINDS = known_kinds()


def test_every_event_class_of_the_model_is_a_known_kind() -> None:
    import engine.model

    events = {
        name
        for name in engine.model.__all__
        if isinstance(getattr(engine.model, name), type)
        and issubclass(getattr(engine.model, name), Event)
    }
    assert events <= set(KINDS)
    assert {"OrderIntent", "CancelIntent", "RiskVerdict"} <= set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_round_trip_is_exact(kind: str) -> None:
    codec = JournalCodec()
    original = build(KINDS[kind])
    name, payload = codec.encode(original)
    assert name == kind
    decoded = codec.decode(name, payload)
    assert decoded == original
    assert type(decoded) is type(original)
    # Exact Decimal (exponent kept) and the same UTC offset, not merely equal values.
    assert repr(decoded) == repr(original)


def test_money_is_a_decimal_string_and_times_are_rfc3339() -> None:
    codec = JournalCodec()
    fill = build(OrderFilled)
    data = json.loads(codec.encode(fill)[1])
    assert data["qty"] == "101.2500"
    assert data["ts_event"] == "2024-05-01T14:30:00.123456+00:00"
    assert data["side"] == fill.side.value
    assert codec.decode("OrderFilled", json.dumps({**data, "qty": 1.5})) is None


def test_unknown_kinds_are_skipped_with_one_counted_warning() -> None:
    codec = JournalCodec()
    with capture_logs() as logs:
        assert codec.decode("FromTheFuture", "{}") is None
        assert codec.decode("FromTheFuture", "{}") is None
        assert codec.decode("OrderIntent", '{"symbol": "AAPL"}') is None
    assert codec.skipped == {"FromTheFuture": 2, "OrderIntent": 1}
    assert [entry["event"] for entry in logs] == ["journal.unknown_kind", "journal.undecodable_row"]


def test_intent_and_verdict_round_trip() -> None:
    codec = JournalCodec()
    intent = build(OrderIntent)
    assert intent.qty == Decimal("101.2500")
    assert codec.decode(*codec.encode(intent)) == intent
    verdict = RiskVerdict.reject("MAX_QTY", "too big", plugin="limits")
    assert codec.decode(*codec.encode(verdict)) == verdict
