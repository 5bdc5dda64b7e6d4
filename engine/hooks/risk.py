"""The risk gate: asks every risk plugin about an order, and fails closed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from operator import itemgetter
from typing import Any

import attrs
import pluggy
import structlog

from engine.hooks._calls import BoundImpl, implementations
from engine.hooks.manager import LoadedPlugin
from engine.model._time import now_ns
from engine.model.account import AccountView
from engine.model.market import Quote
from engine.model.orders import OrderIntent, RiskVerdict

log = structlog.get_logger(__name__)

RISK_PLUGIN_ERROR = "RISK_PLUGIN_ERROR"
RISK_PLUGIN_DISABLED = "RISK_PLUGIN_DISABLED"

_APPROVED = RiskVerdict.approve()


_CHECK_ARGUMENTS = ("intent", "account", "quotes", "now_ns")
"""What ``aries_check_order`` is given, in the order the gate passes it to ``_Check.arguments``."""


@attrs.frozen
class _Check:
    """One plugin's ``aries_check_order`` as the gate calls it.

    ``arguments`` picks the values the implementation asks for (by name, in its order) out of the
    gate's ``_CHECK_ARGUMENTS`` values in one C call: an ``itemgetter``, which gives a tuple for
    two names or more (the call unpacks it) and the value itself for one (``single``).
    """

    plugin: LoadedPlugin
    function: Callable[..., Any]
    arguments: Callable[[tuple[object, ...]], Any]
    single: bool


def _no_arguments(_values: tuple[object, ...]) -> tuple[()]:
    return ()


def _check(plugin: LoadedPlugin, impl: BoundImpl) -> _Check:
    indices = [_CHECK_ARGUMENTS.index(name) for name in impl.argnames]
    arguments = itemgetter(*indices) if indices else _no_arguments
    return _Check(plugin, impl.function, arguments, len(indices) == 1)


@attrs.define(eq=False)
class RiskGate:
    """Calls ``aries_check_order`` on each plugin bound to the order's account, in pluggy order.

    The first non-``None`` verdict decides; no verdict at all approves. A plugin that raises, or
    returns something other than a ``RiskVerdict``, rejects the order (fail closed) and is
    logged with its name and the traceback; so does a plugin the host disabled after another of
    its hooks raised.

    ``quotes`` is the latest quote per symbol (the plugin host's); ``clock`` gives ``now_ns``.
    """

    pm: pluggy.PluginManager
    plugins: list[LoadedPlugin]
    quotes: Mapping[str, Quote] = attrs.field(factory=dict)
    clock: Callable[[], int] = now_ns
    _impls: list[tuple[LoadedPlugin, BoundImpl]] = attrs.field(factory=list, init=False)
    _reservation_impls: list[tuple[LoadedPlugin, BoundImpl]] = attrs.field(factory=list, init=False)
    _all_checks: tuple[_Check, ...] = attrs.field(default=(), init=False)
    _checks: dict[str, tuple[_Check, ...]] = attrs.field(factory=dict, init=False)
    """Per account: the checks of the plugins bound to it, in pluggy order (built on first use)."""
    rejections: int = attrs.field(default=0, init=False)
    faults: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        self._impls = self._bound("aries_check_order")
        self._reservation_impls = self._bound("aries_order_reservation")
        self._all_checks = tuple(_check(plugin, impl) for plugin, impl in self._impls)

    def _bound(self, hook_name: str) -> list[tuple[LoadedPlugin, BoundImpl]]:
        by_object = {id(p.obj): p for p in self.plugins}
        return [
            (by_object[id(impl.plugin)], impl)
            for impl in implementations(self.pm, hook_name)
            if id(impl.plugin) in by_object
        ]

    def _registered(self, plugin: LoadedPlugin) -> bool:
        """False once the host unregistered ``plugin`` after a fault (a dict lookup: pluggy's
        ``is_registered`` scans every plugin, on every verdict)."""
        return self.pm.get_plugin(plugin.name) is plugin.obj

    def reservation(self, intent: OrderIntent, account: AccountView) -> Decimal | None:
        """What an approved ``intent`` should reserve, by the first plugin that says; ``None``
        when none does (or one raised, or answered nonsense: logged), for the engine's default."""
        arguments = {
            "intent": intent,
            "account": account,
            "quotes": self.quotes,
            "now_ns": self.clock(),
        }
        for plugin, impl in self._reservation_impls:
            if intent.account_id not in plugin.accounts or not self._registered(plugin):
                continue
            try:
                amount = impl(arguments)
            except Exception:
                log.error(
                    "risk.reservation_raised",
                    plugin=plugin.name,
                    client_order_id=intent.client_order_id,
                    exc_info=True,
                )
                return None
            if amount is None:
                continue
            if not isinstance(amount, Decimal) or amount < 0 or not amount.is_finite():
                log.error("risk.bad_reservation", plugin=plugin.name, returned=repr(amount))
                return None
            return amount
        return None

    def _checks_of(self, account_id: str) -> tuple[_Check, ...]:
        checks = tuple(check for check in self._all_checks if account_id in check.plugin.accounts)
        self._checks[account_id] = checks
        return checks

    def __call__(self, intent: OrderIntent, account: AccountView) -> RiskVerdict:
        """The verdict on ``intent`` given ``account`` (which includes in-flight reservations)."""
        values = (intent, account, self.quotes, self.clock())  # as _CHECK_ARGUMENTS
        checks = self._checks.get(intent.account_id)
        if checks is None:
            checks = self._checks_of(intent.account_id)
        get_plugin = self.pm.get_plugin
        for check in checks:
            plugin = check.plugin
            if get_plugin(plugin.name) is not plugin.obj:  # ``_registered``, inlined
                # Disabled by the plugin host after a hook raised: its state is no longer kept
                # up to date, so its answer cannot be trusted (fail closed).
                self.rejections += 1
                return RiskVerdict.reject(
                    RISK_PLUGIN_DISABLED,
                    f"{plugin.name} was disabled after one of its hooks raised",
                    plugin=plugin.name,
                )
            try:
                if check.single:
                    verdict = check.function(check.arguments(values))
                else:
                    verdict = check.function(*check.arguments(values))
            except Exception as exc:
                self.faults += 1
                self.rejections += 1
                log.error(
                    "risk.plugin_raised",
                    plugin=plugin.name,
                    client_order_id=intent.client_order_id,
                    exc_info=True,
                )
                return RiskVerdict.reject(
                    RISK_PLUGIN_ERROR, f"{plugin.name} raised {exc!r}", plugin=plugin.name
                )
            if verdict is None:
                continue
            if not isinstance(verdict, RiskVerdict):
                self.faults += 1
                self.rejections += 1
                log.error("risk.bad_verdict", plugin=plugin.name, returned=repr(verdict))
                return RiskVerdict.reject(
                    RISK_PLUGIN_ERROR,
                    f"{plugin.name} returned {type(verdict).__name__}, not a RiskVerdict",
                    plugin=plugin.name,
                )
            if not verdict.approved:
                self.rejections += 1
            return attrs.evolve(verdict, plugin=verdict.plugin or plugin.name)
        return _APPROVED
