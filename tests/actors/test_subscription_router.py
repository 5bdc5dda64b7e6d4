"""The subscription router: configured symbols stay, plugins' requests are reference-counted."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from engine.bus import EventBus
from engine.connection.registry import SubscriptionRouter
from engine.model import MarketDataRequested


@attrs.define
class Recorder:
    changes: list[tuple[set[str], set[str]]] = attrs.field(factory=list)

    def update_subscriptions(self, *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        self.changes.append((set(add), set(remove)))


def request(
    strategy: str, sub: tuple[str, ...] = (), unsub: tuple[str, ...] = ()
) -> MarketDataRequested:
    return MarketDataRequested(strategy=strategy, subscribe=sub, unsubscribe=unsub)


def test_a_symbol_goes_only_when_nobody_wants_it_and_config_symbols_never_go() -> None:
    target = Recorder()
    router = SubscriptionRouter(EventBus(), target, frozenset({"AAPL"}))
    router.apply(request("a", ("MSFT", "AAPL")))
    router.apply(request("b", ("MSFT",)))
    router.apply(request("a", unsub=("MSFT", "AAPL")))  # b still wants MSFT; AAPL is configured
    router.apply(request("b", unsub=("MSFT",)))
    assert target.changes == [({"MSFT"}, set()), (set(), {"MSFT"})]
    assert router.wanted() == {"AAPL"}
