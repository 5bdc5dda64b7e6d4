"""The risk gate: asks every risk plugin about an order, and fails closed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

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
    rejections: int = attrs.field(default=0, init=False)
    faults: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        self._impls = self._bound("aries_check_order")
        self._reservation_impls = self._bound("aries_order_reservation")

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

    def __call__(self, intent: OrderIntent, account: AccountView) -> RiskVerdict:
        """The verdict on ``intent`` given ``account`` (which includes in-flight reservations)."""
        arguments = {
            "intent": intent,
            "account": account,
            "quotes": self.quotes,
            "now_ns": self.clock(),
        }
        for plugin, impl in self._impls:
            if intent.account_id not in plugin.accounts:
                continue
            if not self._registered(plugin):
                # Disabled by the plugin host after a hook raised: its state is no longer kept
                # up to date, so its answer cannot be trusted (fail closed).
                self.rejections += 1
                return RiskVerdict.reject(
                    RISK_PLUGIN_DISABLED,
                    f"{plugin.name} was disabled after one of its hooks raised",
                    plugin=plugin.name,
                )
            try:
                verdict = impl(arguments)
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
        return RiskVerdict.approve()
