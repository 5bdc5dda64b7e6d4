"""The order transition table: the edges the protocol requires, and its global shape."""

from __future__ import annotations

import pytest

from engine.accounts._transitions import LEGAL_TRANSITIONS, REACHABLE, is_legal, is_reachable
from engine.model import OrderStatus

S = OrderStatus

REQUIRED = [
    (S.PENDING_NEW, S.NEW),
    (S.PENDING_NEW, S.PARTIALLY_FILLED),
    (S.PENDING_NEW, S.FILLED),
    (S.PENDING_NEW, S.REJECTED),
    (S.PENDING_NEW, S.CANCELED),
    (S.PENDING_NEW, S.PENDING_CANCEL),
    (S.NEW, S.PARTIALLY_FILLED),
    (S.NEW, S.FILLED),
    (S.NEW, S.PENDING_CANCEL),
    (S.NEW, S.PENDING_REPLACE),
    (S.NEW, S.CANCELED),
    (S.NEW, S.EXPIRED),
    (S.NEW, S.REPLACED),
    (S.NEW, S.REJECTED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.PENDING_CANCEL),
    (S.PARTIALLY_FILLED, S.PENDING_REPLACE),
    (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.REPLACED),
    (S.PENDING_CANCEL, S.CANCELED),
    (S.PENDING_CANCEL, S.FILLED),
    (S.PENDING_CANCEL, S.PARTIALLY_FILLED),
    (S.PENDING_CANCEL, S.NEW),
    (S.PENDING_REPLACE, S.REPLACED),
    (S.PENDING_REPLACE, S.NEW),
    (S.PENDING_REPLACE, S.PARTIALLY_FILLED),
    (S.PENDING_REPLACE, S.FILLED),
    (S.PENDING_REPLACE, S.CANCELED),
]


@pytest.mark.parametrize(("current", "new"), REQUIRED)
def test_required_transition_is_legal(current: OrderStatus, new: OrderStatus) -> None:
    assert is_legal(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PARTIALLY_FILLED, S.NEW),
        (S.NEW, S.PENDING_NEW),
        (S.PENDING_CANCEL, S.PENDING_REPLACE),
        (S.PARTIALLY_FILLED, S.REJECTED),
    ],
)
def test_one_step_illegal_but_reachable_across_missed_events(
    current: OrderStatus, new: OrderStatus
) -> None:
    assert not is_legal(current, new)
    assert is_reachable(current, new) is (new is not S.PENDING_NEW)


def test_every_status_has_a_row_and_first_sight_or_unknown_accept_anything() -> None:
    assert set(LEGAL_TRANSITIONS) == {None, *OrderStatus}
    assert LEGAL_TRANSITIONS[None] == LEGAL_TRANSITIONS[S.UNKNOWN] == frozenset(OrderStatus)


@pytest.mark.parametrize("terminal", [s for s in OrderStatus if s.is_terminal])
def test_terminal_states_are_sticky(terminal: OrderStatus) -> None:
    assert LEGAL_TRANSITIONS[terminal] == frozenset()
    assert REACHABLE[terminal] == frozenset()


def test_nothing_accepted_by_the_venue_goes_back_to_pending_new() -> None:
    for status in OrderStatus:
        if status not in (S.PENDING_NEW, S.UNKNOWN):
            assert not is_reachable(status, S.PENDING_NEW)
