"""The latest immutable ``AccountView`` of every account, and the snapshots views are made of.

Each ``AccountActor`` replaces its account's view after every change; readers only ever see a
complete, frozen picture, so no lock is needed on trio's single thread.

A view's mappings (positions, open orders, orders in flight, replaces in flight) are
``FrozenDict`` snapshots handed out by the book's ``SnapshotDict`` s: a snapshot is copied once
and then shared by every view until its mapping changes, so building a view copies nothing that
did not change, and anything derived from a snapshot (a risk plugin's totals) stays valid for as
long as the same snapshot object is handed out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import attrs

from engine.model.account import AccountView
from engine.model.frozen import FrozenDict

K = TypeVar("K")
V = TypeVar("V")


_NOTHING: Any = object()


class SnapshotDict(dict[K, V]):
    """A live ``dict`` (the account book's state) whose ``snapshot`` is a ``FrozenDict`` copy,
    made on the first call after a change and reused until the next change.

    Every mutating method drops the cached snapshot; one that changes nothing (popping an absent
    key, storing the very object already stored) keeps it.
    """

    __slots__ = ("_snapshot",)

    def __init__(self, items: Iterable[tuple[K, V]] = ()) -> None:
        super().__init__(items)
        self._snapshot: FrozenDict[K, V] | None = None

    def snapshot(self) -> FrozenDict[K, V]:
        """The current content, read-only; the same object until the next change."""
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = self._snapshot = FrozenDict(self)
        return snapshot

    def __setitem__(self, key: K, value: V) -> None:
        if dict.get(self, key, _NOTHING) is not value:
            self._snapshot = None
            dict.__setitem__(self, key, value)

    def __delitem__(self, key: K) -> None:
        dict.__delitem__(self, key)
        self._snapshot = None

    def pop(self, key: K, *default: Any) -> Any:
        """``dict.pop``; the snapshot is dropped only if ``key`` was there."""
        if key in self:
            self._snapshot = None
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[K, V]:
        """``dict.popitem``, dropping the snapshot."""
        item = dict.popitem(self)
        self._snapshot = None
        return item

    def setdefault(self, key: K, default: Any = None) -> Any:
        """``dict.setdefault``; the snapshot is dropped only if ``key`` was missing."""
        if key not in self:
            self._snapshot = None
        return dict.setdefault(self, key, default)

    def clear(self) -> None:
        """``dict.clear``, dropping the snapshot."""
        self._snapshot = None
        dict.clear(self)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """``dict.update``, dropping the snapshot."""
        self._snapshot = None
        dict.update(self, *args, **kwargs)

    def __ior__(self, other: Any) -> SnapshotDict[K, V]:  # type: ignore[override,misc]
        self._snapshot = None
        dict.update(self, other)
        return self


@attrs.define(eq=False)
class AccountViews:
    """A read-mostly registry: ``account_id`` → the latest ``AccountView``."""

    _views: dict[str, AccountView] = attrs.field(factory=dict, init=False)

    def set(self, view: AccountView) -> None:
        """Publish a new view of ``view.account_id`` (called by that account's actor only)."""
        self._views[view.account_id] = view

    def get(self, account_id: str) -> AccountView | None:
        """The latest view of ``account_id``, or ``None`` before its actor started."""
        return self._views.get(account_id)

    def __iter__(self) -> Iterator[AccountView]:
        return iter(list(self._views.values()))
