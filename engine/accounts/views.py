"""The latest immutable ``AccountView`` of every account, for strategies and risk to read.

Each ``AccountActor`` replaces its account's view after every change; readers only ever see a
complete, frozen picture, so no lock is needed on trio's single thread.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from engine.model.account import AccountView


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
