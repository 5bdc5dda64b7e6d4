"""One account during a replay: the live account view rebuilt from the journal, and the order
gate (trading state, then risk) that the replayed commands go through.

``ReplayAccount`` mirrors ``AccountActor`` without sending anything:

* its ``AccountBook`` is fed the recorded book inputs (snapshots, order/position/balance/info
  reports, place and replace outcomes) and tracks the intents the *live* risk gate approved, at
  the point where the journal recorded the verdict, so ``view()`` is, at each point of the
  journal, the picture the live engine had (reservations and in-flight orders included);
* its trading state follows the recorded ``TradingStateChanged`` (``RECONCILING`` until the
  first one), and ``as_of_ns`` the last frame heard on the accounts socket;
* ``submit`` and ``replace`` apply the actor's gate to a replayed command: held while
  ``RECONCILING`` (decided when the recorded state leaves it), refused with ``TRADING_STATE``
  when ``HALTED`` (or, when ``REDUCING``, unless the order shrinks a position), refused with
  ``NOT_OPEN`` / ``REPLACE_PENDING`` / ``QTY_BELOW_FILLED`` for a replace the actor would refuse,
  then the ``RiskGate``.

A replayed command never changes the book: only the journal does. An approved replayed order
counts against the account (in flight, its reservation) *provisionally*: until the journal's
own record of the same ``client_order_id`` is reached (a deterministic strategy replayed with
the live run tag asks for the very orders the live run recorded), or, for an order the live run
never asked for, until the end of the hook round that asked for it — the venue never hears of
it, so nothing the journal says later could settle it.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

import attrs

from engine.accounts.actor import reservation_for
from engine.accounts.book import BOOK_INPUT_TYPES, AccountBook
from engine.hooks.risk import RiskGate
from engine.model.account import AccountView
from engine.model.enums import TradingState
from engine.model.events import (
    Event,
    OrderReplaceAccepted,
    ReplaceFailed,
    ReplaceOrder,
    TradingStateChanged,
)
from engine.model.orders import OrderIntent, RiskVerdict

__all__ = ["Outcome", "ReplayAccount"]

_ZERO = Decimal(0)


@attrs.frozen(kw_only=True)
class Outcome:
    """What became of a replayed order or replace.

    ``approved`` is ``None`` for an order still held (its account was ``RECONCILING``) when the
    journal ended. ``source`` is ``"risk"`` for a risk plugin's verdict (or the gate's default
    approval) and ``"engine"`` for the account gate's own refusals.
    """

    approved: bool | None
    code: str = ""
    reason: str = ""
    plugin: str = ""
    source: str = "risk"
    details: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_verdict(cls, verdict: RiskVerdict) -> Outcome:
        """The outcome of a risk verdict (a rejection without a code is ``RISK_REJECTED``)."""
        code = verdict.code or ("" if verdict.approved else "RISK_REJECTED")
        return cls(
            approved=verdict.approved,
            code=code,
            reason=verdict.reason,
            plugin=verdict.plugin,
            details=verdict.details,
        )

    @classmethod
    def refused(cls, code: str, reason: str) -> Outcome:
        """A refusal by the account gate (as ``AccountActor`` refuses, before risk)."""
        return cls(approved=False, code=code, reason=reason, source="engine")


HELD_AT_END = Outcome(
    approved=None,
    code="HELD",
    reason="the account was still RECONCILING when the journal ended",
    source="engine",
)


@attrs.define(eq=False)
class _Provisional:
    """An approved replayed order or replace that counts against the account for now."""

    intent: OrderIntent
    reserve: Decimal
    until_recorded: bool  # else: until the end of the hook round


@attrs.define(eq=False)
class ReplayAccount:
    """One account's rebuilt view and order gate (see the module docstring).

    Args:
        account_id: the account.
        gate: the replay's ``RiskGate`` (its clock is the replay's virtual time).
        recorded_ids: every ``client_order_id`` the journal has an intent for.
    """

    account_id: str
    gate: RiskGate
    recorded_ids: frozenset[str] = frozenset()
    book: AccountBook = attrs.field(init=False)
    trading_state: TradingState = attrs.field(default=TradingState.RECONCILING, init=False)
    heard_ns: int | None = attrs.field(default=None, init=False)
    changed: bool = attrs.field(default=True, init=False)
    """Set whenever ``view()`` may differ from the last one taken (cleared by the caller)."""
    _held: list[OrderIntent] = attrs.field(factory=list, init=False)
    _replacing: set[str] = attrs.field(factory=set, init=False)
    _provisional: dict[tuple[str, bool], _Provisional] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        self.book = AccountBook(self.account_id)

    # --- the journal -----------------------------------------------------------------------

    def heard(self, ts_ns: int) -> None:
        """A frame arrived on the accounts socket at ``ts_ns``."""
        self.heard_ns = ts_ns
        self.changed = True

    def apply(self, event: Event) -> list[tuple[OrderIntent, Outcome]]:
        """Apply one recorded event of this account.

        Returns:
            the held orders decided now (the state left ``RECONCILING``), in submission order.
        """
        if isinstance(event, BOOK_INPUT_TYPES):
            self.book.apply(event)  # its facts are in the journal already
            if isinstance(event, OrderReplaceAccepted):
                self.book.replace_answered(event.client_order_id)
                self._replacing.discard(event.client_order_id)
            self.changed = True
        elif isinstance(event, ReplaceFailed):
            if not event.outcome_unknown:
                self.book.replace_refused(event.client_order_id)
                self._replacing.discard(event.client_order_id)
                self.changed = True
        elif isinstance(event, TradingStateChanged):
            self.trading_state = event.state
            self.changed = True
            if event.state is not TradingState.RECONCILING:
                held, self._held = self._held, []
                return [(intent, self._decide(intent)) for intent in held]
        return []

    def recorded_verdict(self, intent: OrderIntent, verdict: RiskVerdict) -> None:
        """The live risk gate decided ``intent``: if it approved, the live book tracked it."""
        self._provisional.pop((intent.client_order_id, intent.is_replace), None)
        if verdict.approved:
            reserve = self._reservation(intent)
            self.book.track_intent(intent, reserve=reserve)
            if intent.is_replace:
                self._replacing.add(intent.client_order_id)
        self.changed = True

    def end_round(self) -> None:
        """A hook round is over: drop the provisional orders that last only that long."""
        done = [key for key, p in self._provisional.items() if not p.until_recorded]
        for key in done:
            del self._provisional[key]
        if done:
            self.changed = True

    def held_at_end(self) -> list[OrderIntent]:
        """The orders still held when the journal ended (never decided)."""
        return list(self._held)

    # --- the gate --------------------------------------------------------------------------

    def view(self) -> AccountView:
        """The live engine's view at this point of the journal, plus the provisional orders."""
        view = self.book.view(self.trading_state, heard_ns=self.heard_ns)
        if not self._provisional:
            return view
        in_flight = dict(view.in_flight)
        replacing = dict(view.replacing)
        reserved = view.reserved_buying_power
        for provisional in self._provisional.values():
            intent = provisional.intent
            reserved += provisional.reserve
            if intent.is_replace:
                replacing[intent.client_order_id] = intent
            else:
                in_flight[intent.client_order_id] = intent
        return attrs.evolve(
            view,
            reserved_buying_power=reserved,
            in_flight=MappingProxyType(in_flight),
            replacing=MappingProxyType(replacing),
        )

    def submit(self, intent: OrderIntent) -> Outcome | None:
        """The gate's decision on a replayed new order; ``None`` while it is held."""
        if self.trading_state is TradingState.RECONCILING:
            self._held.append(intent)
            return None
        return self._decide(intent)

    def _decide(self, intent: OrderIntent) -> Outcome:
        state = self.trading_state
        if state is TradingState.REDUCING:
            if not self.view().reduces_position(intent.symbol, intent.side, intent.qty):
                reason = "account is REDUCING: only orders that shrink a position are allowed"
                return Outcome.refused("TRADING_STATE", reason)
        elif state is not TradingState.ACTIVE:
            return Outcome.refused("TRADING_STATE", f"account is {state}")
        outcome = self._check(intent)
        if outcome.approved and self.book.intent(intent.client_order_id) is None:
            self._hold_provisionally(intent)
        return outcome

    def replace(self, command: ReplaceOrder) -> Outcome:
        """The gate's decision on a replayed replace (as ``AccountActor._replace``)."""
        client_order_id = command.client_order_id
        order = self.book.order_by_client_id(client_order_id)
        intent = self.book.intent(client_order_id)
        if order is None or intent is None or not order.status.is_open or not order.cl_ord_id:
            return Outcome.refused("NOT_OPEN", "no open order with that id")
        pending = (client_order_id, True) in self._provisional
        if client_order_id in self._replacing or pending:
            reason = "a replace of this order is still waiting for the venue's answer"
            return Outcome.refused("REPLACE_PENDING", reason)
        replacement = attrs.evolve(
            intent,
            qty=order.qty if command.qty is None else command.qty,
            price=order.price if command.price is None else command.price,
            stop_price=order.stop_price if command.stop_price is None else command.stop_price,
            time_in_force=command.time_in_force or order.time_in_force,
            replaces=order,
        )
        if replacement.qty <= order.cum_qty:
            reason = f"new qty {replacement.qty} is not above the filled {order.cum_qty}"
            return Outcome.refused("QTY_BELOW_FILLED", reason)
        state = self.trading_state
        if state is TradingState.REDUCING:
            grows = replacement.qty > order.qty
            if grows or not self.view().reduces_position(
                order.symbol, order.side, order.leaves_qty
            ):
                reason = "account is REDUCING: only replaces that shrink a position are allowed"
                return Outcome.refused("TRADING_STATE", reason)
        elif state is not TradingState.ACTIVE:
            return Outcome.refused("TRADING_STATE", f"account is {state}")
        outcome = self._check(replacement)
        if outcome.approved:
            self._hold_provisionally(replacement, until_recorded=False)
        return outcome

    def _check(self, intent: OrderIntent) -> Outcome:
        return Outcome.from_verdict(self.gate(intent, self.view()))

    def _hold_provisionally(
        self, intent: OrderIntent, *, until_recorded: bool | None = None
    ) -> None:
        if until_recorded is None:
            until_recorded = intent.client_order_id in self.recorded_ids
        reserve = self._reservation(intent)
        key = (intent.client_order_id, intent.is_replace)
        self._provisional[key] = _Provisional(intent, reserve, until_recorded)
        self.changed = True

    def _reservation(self, intent: OrderIntent) -> Decimal:
        """What the actor reserves for ``intent``: a risk plugin's figure, else the default."""
        amount = self.gate.reservation(intent, self.view())
        reserve = reservation_for(intent) if amount is None else amount
        return max(reserve, _ZERO)
