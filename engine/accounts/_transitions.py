"""The order state machine: which ``ordStatus`` may follow which. The one place to change it.

``LEGAL_TRANSITIONS[current]`` is the set of statuses a *live* ``account.order`` event may move an
order to in one step (``None`` = the order was never seen). Live events for one ``clOrdId`` arrive
in order (ARIES.md §4.4), so one step is all a live event may take. A snapshot bridges a
disconnect, during which any number of events may have been missed, so snapshot orders are
checked against ``REACHABLE``, the transitive closure of the same table.

Choices made here (ARIES.md lists the lifecycle, not every edge):

* First sight (``None``) and our own ``UNKNOWN`` (place outcome unknown) accept anything.
* A non-terminal status may follow itself: it is an update (more ``cumQty``, a venue id, a new
  ``leavesQty``); an *identical* report is caught earlier as a duplicate.
* ``PENDING_NEW`` may also go ``EXPIRED`` (IOC/OPG dying before the ack) and ``REPLACED`` (a
  replace accepted before we heard ``NEW``).
* ``NEW`` may go ``REJECTED``: a broker ack followed by an exchange reject happens.
* ``PENDING_CANCEL`` may go back to ``NEW``/``PARTIALLY_FILLED`` (cancel rejected, or a fill
  raced the cancel), ``EXPIRED`` (day end while cancelling) and ``REPLACED`` (a replace that was
  pending when the cancel was sent won).
* ``PENDING_REPLACE`` may go back to ``NEW``/``PARTIALLY_FILLED`` (replace rejected, or a fill
  raced it), to ``PENDING_CANCEL`` (cancel sent while the replace is pending), or end in
  ``REPLACED``/``FILLED``/``CANCELED``/``EXPIRED``.
* Nothing returns to ``PENDING_NEW`` once the venue has accepted the order.
* Terminal statuses (``FILLED``, ``CANCELED``, ``REJECTED``, ``EXPIRED``, ``REPLACED``) are
  sticky: they have no successors.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.model.enums import OrderStatus

_S = OrderStatus
_ALL = frozenset(OrderStatus)

LEGAL_TRANSITIONS: Mapping[OrderStatus | None, frozenset[OrderStatus]] = {
    None: _ALL,
    _S.UNKNOWN: _ALL,
    _S.PENDING_NEW: frozenset(
        {
            _S.PENDING_NEW,
            _S.NEW,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.PENDING_CANCEL,
            _S.CANCELED,
            _S.REJECTED,
            _S.EXPIRED,
            _S.REPLACED,
        }
    ),
    _S.NEW: frozenset(
        {
            _S.NEW,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.PENDING_CANCEL,
            _S.PENDING_REPLACE,
            _S.CANCELED,
            _S.EXPIRED,
            _S.REPLACED,
            _S.REJECTED,
        }
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.PENDING_CANCEL,
            _S.PENDING_REPLACE,
            _S.CANCELED,
            _S.EXPIRED,
            _S.REPLACED,
        }
    ),
    _S.PENDING_CANCEL: frozenset(
        {
            _S.PENDING_CANCEL,
            _S.CANCELED,
            _S.FILLED,
            _S.PARTIALLY_FILLED,
            _S.NEW,
            _S.EXPIRED,
            _S.REPLACED,
        }
    ),
    _S.PENDING_REPLACE: frozenset(
        {
            _S.PENDING_REPLACE,
            _S.REPLACED,
            _S.NEW,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELED,
            _S.EXPIRED,
            _S.PENDING_CANCEL,
        }
    ),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REPLACED: frozenset(),
}


def _closure(
    table: Mapping[OrderStatus | None, frozenset[OrderStatus]],
) -> Mapping[OrderStatus | None, frozenset[OrderStatus]]:
    """Every status reachable from each key in one or more steps of ``table``."""
    closed: dict[OrderStatus | None, frozenset[OrderStatus]] = {}
    for start, first_steps in table.items():
        seen: set[OrderStatus] = set()
        frontier = list(first_steps)
        while frontier:
            status = frontier.pop()
            if status not in seen:
                seen.add(status)
                frontier.extend(table[status])
        closed[start] = frozenset(seen)
    return closed


REACHABLE = _closure(LEGAL_TRANSITIONS)


def is_legal(current: OrderStatus | None, new: OrderStatus) -> bool:
    """Whether a live event may move an order from ``current`` to ``new`` in one step."""
    return new in LEGAL_TRANSITIONS[current]


def is_reachable(current: OrderStatus | None, new: OrderStatus) -> bool:
    """Whether ``new`` can follow ``current`` across missed events (used for snapshots)."""
    return new in REACHABLE[current]


def _check_table() -> None:
    """Fail at import if an edit leaves a status without a row or lets a terminal one move."""
    missing = set(OrderStatus) - set(LEGAL_TRANSITIONS)
    if missing:  # pragma: no cover - guards future edits
        raise AssertionError(f"order statuses without a transition row: {sorted(missing)}")
    for status in OrderStatus:
        if status.is_terminal and LEGAL_TRANSITIONS[status]:  # pragma: no cover
            raise AssertionError(f"terminal status {status} must have no successors")


_check_table()
