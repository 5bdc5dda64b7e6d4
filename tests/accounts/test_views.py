"""``FrozenDict`` and ``SnapshotDict``: the read-only snapshots an ``AccountView`` is made of, and
the book handing out the same snapshot until its mapping changes."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from decimal import Decimal

import pytest

from engine.accounts.book import AccountBook
from engine.accounts.views import SnapshotDict
from engine.model import FrozenDict, OrderStatus, PositionReported, TradingState

from ._factories import ACC, intent, order, position, reported

REFUSED: list[tuple[str, Callable[[FrozenDict[str, int]], object]]] = [
    ("setitem", lambda d: d.__setitem__("b", 2)),
    ("delitem", lambda d: d.__delitem__("a")),
    ("pop", lambda d: d.pop("a")),
    ("popitem", lambda d: d.popitem()),
    ("clear", lambda d: d.clear()),
    ("update", lambda d: d.update(b=2)),
    ("setdefault", lambda d: d.setdefault("b", 2)),
    ("ior", lambda d: d.__ior__({"b": 2})),
]


@pytest.mark.parametrize(("name", "change"), REFUSED, ids=[name for name, _ in REFUSED])
def test_a_frozen_dict_refuses_every_change(
    name: str, change: Callable[[FrozenDict[str, int]], object]
) -> None:
    frozen = FrozenDict({"a": 1})
    with pytest.raises(TypeError, match="read-only"):
        change(frozen)
    assert frozen == {"a": 1}


def test_a_frozen_dict_reads_like_a_dict_and_pickles() -> None:
    frozen = FrozenDict({"a": 1, "b": 2})
    assert (frozen["a"], frozen.get("c"), list(frozen.values()), len(frozen)) == (
        1,
        None,
        [1, 2],
        2,
    )
    copy = pickle.loads(pickle.dumps(frozen))
    assert type(copy) is FrozenDict
    assert copy == frozen
    assert repr(frozen) == "FrozenDict({'a': 1, 'b': 2})"


CHANGES: list[tuple[str, Callable[[SnapshotDict[str, int]], object]]] = [
    ("setitem", lambda d: d.__setitem__("b", 2)),
    ("setitem-replace", lambda d: d.__setitem__("a", 10)),
    ("delitem", lambda d: d.__delitem__("a")),
    ("pop", lambda d: d.pop("a")),
    ("pop-default", lambda d: d.pop("a", None)),
    ("popitem", lambda d: d.popitem()),
    ("clear", lambda d: d.clear()),
    ("update", lambda d: d.update(b=2)),
    ("setdefault", lambda d: d.setdefault("b", 2)),
    ("ior", lambda d: d.__ior__({"b": 2})),
]


@pytest.mark.parametrize(("name", "change"), CHANGES, ids=[name for name, _ in CHANGES])
def test_every_change_to_a_snapshot_dict_gives_a_new_snapshot(
    name: str, change: Callable[[SnapshotDict[str, int]], object]
) -> None:
    live: SnapshotDict[str, int] = SnapshotDict([("a", 1)])
    before = live.snapshot()
    assert live.snapshot() is before  # unchanged: the same object
    change(live)
    after = live.snapshot()
    assert after is not before
    assert after == dict(live)
    assert before == {"a": 1}  # an old snapshot never changes


NO_CHANGES: list[tuple[str, Callable[[SnapshotDict[str, object]], object]]] = [
    ("pop-absent", lambda d: d.pop("zz", None)),
    ("setdefault-present", lambda d: d.setdefault("a", 99)),
    ("setitem-same-object", lambda d: d.__setitem__("a", d["a"])),
]


@pytest.mark.parametrize(("name", "change"), NO_CHANGES, ids=[name for name, _ in NO_CHANGES])
def test_what_changes_nothing_keeps_the_snapshot(
    name: str, change: Callable[[SnapshotDict[str, object]], object]
) -> None:
    live: SnapshotDict[str, object] = SnapshotDict([("a", object())])
    before = live.snapshot()
    change(live)
    assert live.snapshot() is before


def test_the_book_shares_snapshots_between_views_until_a_mapping_changes() -> None:
    book = AccountBook(ACC)
    book.apply(PositionReported(account_id=ACC, position=position("AAPL", "100")))
    book.apply(reported(order(OrderStatus.NEW, cl="CL-9", client=None, symbol="MSFT")))
    first = book.view(TradingState.ACTIVE)
    second = book.view(TradingState.ACTIVE)
    assert first is not second
    for name in ("positions", "open_orders", "in_flight", "replacing"):
        assert type(getattr(first, name)) is FrozenDict
        assert getattr(second, name) is getattr(first, name), name

    book.track_intent(intent("c-7", symbol="TSLA"), reserve=Decimal(0))
    book.apply(PositionReported(account_id=ACC, position=position("AAPL", "150")))
    third = book.view(TradingState.ACTIVE)
    assert third.open_orders is first.open_orders  # untouched
    assert third.in_flight is not first.in_flight
    assert list(third.in_flight) == ["c-7"]
    assert third.positions is not first.positions
    assert third.positions["AAPL"].quantity == Decimal(150)
    assert first.positions["AAPL"].quantity == Decimal(100)  # the older view kept its picture
    assert not first.in_flight
