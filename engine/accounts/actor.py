"""The per-account actor: drives the pure ``AccountBook`` and gates this account's orders.

One ``AccountActor`` per configured account. It consumes, from one bus subscription and in
arrival order, the venue's reports for its account, the dispatcher's outcomes, and the
strategies' ``SubmitOrder``/``CancelOrder`` commands; it publishes the resulting facts
(``OrderUpdated``, ``OrderFilled``, ``OrderRejected``, ``PositionChanged``, ``BalanceChanged``,
``AccountSynced``, ``TradingStateChanged``) and keeps ``AccountViews`` current.

Trading state: ``RECONCILING`` until a snapshot has been applied, and again whenever the accounts
socket is down (new orders are held, cancels go through); ``ACTIVE`` once the next snapshot is
applied, when held orders are released through risk in submission order.

Shutdown: ``CancelAllOrders`` (the engine's own command, ``[engine] on_shutdown = "cancel"``)
halts the account for good, rejects held orders and cancels every open order a strategy of this
engine placed, including those still on their way (cancelled as soon as the venue names them);
orders placed elsewhere are left alone. ``shutdown_progress``/``wait_settled`` tell the engine
when nothing it sent is left unanswered.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

import attrs
import structlog
import trio

from engine.accounts.book import BOOK_INPUT_TYPES, AccountBook, BookStatistics
from engine.accounts.views import AccountViews
from engine.bus import EventBus
from engine.errors import AriesError
from engine.journal.reader import RestoredAccount
from engine.model._time import now_ns
from engine.model.account import AccountView
from engine.model.enums import ConnectionState, Endpoint, OrderStatus, Side, TradingState
from engine.model.events import (
    AccountEvent,
    AccountInfoReported,
    AccountSnapshotReceived,
    AccountSubscriptionRefused,
    AccountSynced,
    BalanceChanged,
    BalanceReported,
    CancelAllOrders,
    CancelFailed,
    CancelOrder,
    ConnectionStateChanged,
    Event,
    OrderFilled,
    OrderPlaced,
    OrderPlaceFailed,
    OrderRejected,
    OrderReplaceAccepted,
    OrderReported,
    OrderUpdated,
    PositionChanged,
    PositionReported,
    ReplaceFailed,
    ReplaceOrder,
    SubmitOrder,
    TradingStateChanged,
    TradingStateRequested,
)
from engine.model.orders import CancelRequest, Order, OrderIntent, ReplaceRequest, RiskVerdict
from engine.model.streams import PnlCandleClosed, PnlCandleReceived

log = structlog.get_logger(__name__)

RiskCheck = Callable[[OrderIntent, AccountView], RiskVerdict]
Reservation = Callable[[OrderIntent, AccountView], Decimal | None]

UNKNOWN_OUTCOME_GRACE = 5.0  # seconds the stream gets to report an order before we ask REST
LOOKUP_RETRY = (1.0, 2.0, 4.0, 8.0)  # then every 8 s while an outcome is unknown


class IntentRecorder(Protocol):
    """Where intents and verdicts are recorded (``engine.journal.JournalWriter``)."""

    def record_intent(self, intent: OrderIntent) -> None: ...

    def record_verdict(self, client_order_id: str, verdict: RiskVerdict) -> None: ...


class OrderLists(Protocol):
    """The venue's order list (``engine.aries.AriesRestClient.list_orders``)."""

    async def list_orders(self, account_id: str) -> tuple[Order, ...]: ...


DispatchItem = OrderIntent | CancelRequest | ReplaceRequest

_INPUTS = (
    AccountSnapshotReceived,
    AccountSubscriptionRefused,
    OrderReported,
    PositionReported,
    BalanceReported,
    AccountInfoReported,
    OrderPlaced,
    OrderPlaceFailed,
    CancelFailed,
    ReplaceFailed,
    SubmitOrder,
    CancelOrder,
    ReplaceOrder,
    ConnectionStateChanged,
    PnlCandleReceived,
    TradingStateRequested,
    CancelAllOrders,
)


def reservation_for(intent: OrderIntent) -> Decimal:
    """Buying power an intent may consume: what it adds to the account's commitments (its
    estimated cost; for a replace, only the increase), except for plain sells."""
    if intent.side is Side.SELL:
        return Decimal(0)
    return max(intent.additional_cost or Decimal(0), Decimal(0))


@attrs.frozen(kw_only=True)
class AccountStatistics:
    """Counters of one account actor (its book's included)."""

    account_id: str
    trading_state: TradingState
    seconds_in_state: float
    held_orders: int
    book: BookStatistics


@attrs.frozen(kw_only=True)
class ShutdownProgress:
    """What one account still waits for before the engine may close (``AccountActor``).

    ``places``: approved orders the venue has not named yet (queued, on the wire, or of unknown
    outcome); ``replaces``: replaces not answered; ``cancels``: cancels sent whose order is still
    open; ``to_cancel``: after ``CancelAllOrders``, our orders not yet reported terminal (those
    whose cancel the venue refused are counted in ``cancel_failed`` instead); ``external``: open
    orders this engine did not place (never waited for); ``open_orders``: open orders this
    engine placed; ``held``: orders held while reconciling, never sent.
    """

    account_id: str
    open_orders: int
    places: int
    replaces: int
    cancels: int
    to_cancel: int
    cancel_failed: int
    external: int
    held: int

    @property
    def settled(self) -> bool:
        """True when no request of this account is left unanswered (and, after
        ``CancelAllOrders``, every order it could cancel is terminal)."""
        return not (self.places or self.replaces or self.cancels or self.to_cancel)


@attrs.define(eq=False)
class AccountActor:
    """Owns one account's ``AccountBook``, trading state and order gate.

    ``started()`` is called once the actor's bus subscription exists, so nothing published
    afterwards for this account is missed. It closes its send end of the dispatch channel when it
    stops.
    """

    account_id: str
    bus: EventBus
    views: AccountViews
    risk_check: RiskCheck
    dispatch: trio.MemorySendChannel[DispatchItem]
    order_lists: OrderLists | None = None
    journal: IntentRecorder | None = None
    restored: RestoredAccount | None = None
    lookup_timeout: float = 10.0
    reservation: Reservation | None = None
    """What an approved order reserves (``RiskGate.reservation``), else ``reservation_for``."""
    heard_ns: Callable[[], int | None] | None = None
    """When the accounts stream was last heard from (wall-clock ns): ``AccountView.as_of_ns``."""
    done_retention: float = 300.0
    """Seconds a done order stays whole in the book (``AccountBook.forget_done``)."""
    book: AccountBook = attrs.field(init=False)
    trading_state: TradingState = attrs.field(default=TradingState.RECONCILING, init=False)
    _held: list[OrderIntent] = attrs.field(factory=list, init=False)
    _replacing: set[str] = attrs.field(factory=set, init=False)  # replaces not answered yet
    _cancel_pending: set[str] = attrs.field(factory=set, init=False)  # cancels awaiting an id
    # client_order_id -> its clOrdId when a replace of unknown outcome was sent
    _unknown_replaces: dict[str, str] = attrs.field(factory=dict, init=False)
    _state_since: float = attrs.field(default=0.0, init=False)
    _open_candle: PnlCandleReceived | None = attrs.field(default=None, init=False)
    _lookup_at: float = attrs.field(default=math.inf, init=False)
    _lookup_failures: int = attrs.field(default=0, init=False)
    _synced_pending: bool = attrs.field(default=True, init=False)
    # What trading should return to after reconciling: ACTIVE, or an operator's REDUCING/HALTED.
    _decided: TradingState = attrs.field(default=TradingState.ACTIVE, init=False)
    _socket_failed: bool = attrs.field(default=False, init=False)
    # client_order_id -> the clOrdId a cancel was sent for, until the order is no longer open
    # under that id or the cancel failed
    _cancels_out: dict[str, str] = attrs.field(factory=dict, init=False)
    # Set by CancelAllOrders: its reason, our orders it still has to see terminal, those it sent
    # a cancel for itself, and those whose cancel the venue refused (left open).
    _cancel_all: str | None = attrs.field(default=None, init=False)
    _to_cancel: set[str] = attrs.field(factory=set, init=False)
    _swept: set[str] = attrs.field(factory=set, init=False)
    _cancel_refused: set[str] = attrs.field(factory=set, init=False)
    _batch_done: trio.Event = attrs.field(factory=trio.Event, init=False)
    # The last trading-state commands handled (TradingStateRequested, CancelAllOrders): a
    # shutdown waits for its own to be handled, i.e. for everything published before it.
    _state_commands: deque[Event] = attrs.field(factory=lambda: deque(maxlen=8), init=False)

    _restored_facts: list[Event] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        self.book = AccountBook(self.account_id, done_retention=self.done_retention)
        if self.restored is not None:
            self._restore(self.restored)

    def _restore(self, restored: RestoredAccount) -> None:
        """Rebuild the book from the journal after a crash, before the venue is heard.

        The journaled reports are replayed silently into a fresh book (it is deterministic, so
        it reaches the same state); only fills the journal shows as never delivered are
        published. The next snapshot then yields exactly what changed while the engine was down.
        """
        replayed: list[Event] = []
        for item in restored.timeline:
            if isinstance(item, OrderIntent):
                self.book.track_intent(item, reserve=reservation_for(item))
            elif isinstance(item, ReplaceFailed):
                if not item.outcome_unknown:
                    self.book.replace_refused(item.client_order_id)
            elif isinstance(item, BOOK_INPUT_TYPES):
                replayed += self.book.apply(item)
                if isinstance(item, OrderReplaceAccepted):
                    self.book.replace_answered(item.client_order_id)
        self._restored_facts = list(restored.undelivered(replayed))
        log.info(
            "account.restored",
            account=self.account_id,
            reports=len(restored.reports),
            intents=len(restored.intents),
            undelivered_fills=len(self._restored_facts),
            never_decided=len(restored.held_intents),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Consume this account's inputs until the bus closes."""
        structlog.contextvars.bind_contextvars(actor="account", account=self.account_id)
        subscription = self.bus.subscribe(
            f"account:{self.account_id}",
            accepts=_INPUTS,
            where=self._is_mine,
            account=self.account_id,
        )
        self._state_since = trio.current_time()
        self._publish_view()
        task_status.started()
        async with self.dispatch:
            restored, self._restored_facts = self._restored_facts, []
            await self._publish(restored)
            while True:
                batch: list[Event] = []
                with trio.move_on_at(min(self._lookup_at, self.book.forget_at)):
                    try:
                        batch = await subscription.receive_batch()
                    except trio.EndOfChannel:
                        return
                if not batch and trio.current_time() >= self._lookup_at:
                    await self._publish(await self._look_up_orders())
                for event in batch:
                    await self._publish(self._handle_isolated(event))
                self._after_batch()
                self._publish_view()
                self._batch_done.set()
                self._batch_done = trio.Event()

    def _handle_isolated(self, event: Event) -> list[Event]:
        """``_handle``, with a bug in it costing this account its trading, not the engine.

        The book may be half-updated after an unexpected error, so the account is halted (an
        operator decides, seeing the critical line); the other accounts go on.
        """
        try:
            return self._handle(event)
        except Exception as exc:
            log.critical(
                "account.internal_error",
                event=type(event).__name__,
                error=f"{type(exc).__name__}: {exc}"[:200],
                action="the account is halted; check the traceback, then restart or resume it",
                exc_info=exc,
            )
            return self._set_state(
                TradingState.HALTED, f"internal error on {type(event).__name__}; see the log"
            )

    def _after_batch(self) -> None:
        """Bookkeeping of outstanding cancels; the cancel-all sweep once it was asked for; done
        orders forgotten once they are old enough."""
        for client_order_id, cl_ord_id in list(self._cancels_out.items()):
            order = self.book.order_by_client_id(client_order_id)
            if order is None or not order.status.is_open or order.cl_ord_id != cl_ord_id:
                del self._cancels_out[client_order_id]
        if self._cancel_all is not None:
            self._sweep_cancel_all()
        now = trio.current_time()
        if now >= self.book.forget_at:
            self.book.forget_done(now, keep=self._still_tracked)

    @property
    def _still_tracked(self) -> frozenset[str]:
        """Our orders a cancel or replace of this actor still waits on: not to be forgotten."""
        return frozenset().union(
            self._replacing,
            self._cancel_pending,
            self._unknown_replaces,
            self._cancels_out,
            self._to_cancel,
            self._swept,
            self._cancel_refused,
        )

    def shutdown_progress(self) -> ShutdownProgress:
        """What this account still waits for (read-only; for the engine's shutdown)."""
        view = self._view()
        owners = [self.book.owner_of(order.client_order_id) for order in view.open_orders.values()]
        return ShutdownProgress(
            account_id=self.account_id,
            open_orders=len(owners) - owners.count(None),
            places=len(view.in_flight),
            replaces=len(self._replacing),
            cancels=len(self._cancels_out),
            to_cancel=len(self._to_cancel),
            cancel_failed=len(self._cancel_refused),
            external=owners.count(None),
            held=len(self._held),
        )

    async def wait_settled(self, command: TradingStateRequested | CancelAllOrders) -> None:
        """Wait until ``command`` (published for this account) was handled, and with it every
        input published before it, and then until ``shutdown_progress().settled``.

        Re-checked after each batch of inputs. Never returns if the venue never answers: bound
        it with a timeout.
        """
        while command not in self._state_commands or not self.shutdown_progress().settled:
            await self._batch_done.wait()

    async def _publish(self, facts: list[Event]) -> None:
        for fact in facts:
            _log_fact(fact)
        await self.bus.publish_all(facts)

    async def _look_up_orders(self) -> list[Event]:
        """Settle unknown and missing orders from the venue's order list (``GET /v2/…``)."""
        self._lookup_at = math.inf
        wanted = self.book.needs_order_lookup() or bool(self._unknown_replaces)
        if self.order_lists is None or not wanted:
            return self._after_reconciliation()
        orders: tuple[Order, ...] | None = None
        with trio.move_on_after(self.lookup_timeout):
            try:
                orders = await self.order_lists.list_orders(self.account_id)
            except AriesError as exc:
                log.warning("account.order_lookup_failed", error=str(exc))
        if orders is None:
            # Retried for as long as something is unknown (the next call checks): nothing else
            # is sure to ask again, and an unknown outcome must not stay unknown.
            self._lookup_failures += 1
            delay = LOOKUP_RETRY[min(self._lookup_failures, len(LOOKUP_RETRY)) - 1]
            self._lookup_at = trio.current_time() + delay
            if self._lookup_failures == len(LOOKUP_RETRY):
                log.warning(
                    "account.order_lookup_failing",
                    failures=self._lookup_failures,
                    retry_every=delay,
                )
            return []
        self._lookup_failures = 0
        facts = self.book.apply_order_list(orders, ts_recv=now_ns())
        facts += self._settle_unknown_replaces(listed=True)
        log.info("account.orders_looked_up", listed=len(orders), facts=len(facts))
        return facts + self._after_reconciliation()

    def _after_reconciliation(self) -> list[Event]:
        """Leave RECONCILING for the decided state (ACTIVE unless an operator said otherwise)."""
        if self.trading_state is not TradingState.RECONCILING or self._synced_pending:
            return []
        facts = self._set_state(self._decided, "snapshot applied")
        return facts + self._release_held()

    def statistics(self) -> AccountStatistics:
        """Trading state, orders held while reconciling, and the book's counters."""
        return AccountStatistics(
            account_id=self.account_id,
            trading_state=self.trading_state,
            seconds_in_state=trio.current_time() - self._state_since,
            held_orders=len(self._held),
            book=self.book.statistics(),
        )

    def _is_mine(self, event: Event) -> bool:
        if isinstance(event, AccountEvent):
            return event.account_id == self.account_id
        return isinstance(event, ConnectionStateChanged) and event.endpoint is Endpoint.ACCOUNTS

    def _handle(self, event: Event) -> list[Event]:
        if isinstance(event, SubmitOrder):
            return self._submit(event.intent)
        if isinstance(event, CancelOrder):
            return self._cancel(event)
        if isinstance(event, CancelAllOrders):
            self._state_commands.append(event)
            return self._cancel_all_orders(event)
        if isinstance(event, ReplaceOrder):
            return self._replace(event)
        if isinstance(event, ReplaceFailed):
            return self._replace_failed(event)
        if isinstance(event, OrderReplaceAccepted):
            self._replacing.discard(event.client_order_id)
            self.book.replace_answered(event.client_order_id)
        if isinstance(event, ConnectionStateChanged):
            if event.state is ConnectionState.FAILED:
                return self._without_order_stream(f"accounts socket failed: {event.reason}")
            if event.state is ConnectionState.DISCONNECTED:
                self._synced_pending = True
                if self.trading_state is TradingState.HALTED:
                    return []  # a halt outlives reconnects; reconciliation still happens
                return self._set_state(
                    TradingState.RECONCILING, f"accounts socket down: {event.reason}"
                )
            return []
        if isinstance(event, AccountSubscriptionRefused):
            return self._without_order_stream(f"subscription refused: {event.code}: {event.reason}")
        if isinstance(event, PnlCandleReceived):
            return self._candle(event)
        if isinstance(event, TradingStateRequested):
            self._state_commands.append(event)
            return self._requested_state(event)
        if isinstance(event, CancelFailed):
            return self._cancel_failed(event)
        if not isinstance(event, BOOK_INPUT_TYPES):
            return []
        facts = self.book.apply(event)
        if self._cancel_pending:
            self._send_pending_cancels()
        if self._unknown_replaces:
            facts += self._settle_unknown_replaces(listed=False)
        if isinstance(event, AccountSnapshotReceived):
            _log_reconciliation(self.account_id, facts)
            self._synced_pending = False
            if self.order_lists is not None and self.book.needs_order_lookup():
                self._lookup_at = trio.current_time()  # stay RECONCILING until it is done
            else:
                facts += self._after_reconciliation()
        elif isinstance(event, OrderPlaceFailed) and event.outcome_unknown:
            self._lookup_at = min(self._lookup_at, trio.current_time() + UNKNOWN_OUTCOME_GRACE)
        return facts

    def _submit(self, intent: OrderIntent) -> list[Event]:
        if self.trading_state is TradingState.RECONCILING:
            log.info("order.held", client_order_id=intent.client_order_id, state=self.trading_state)
            self._held.append(intent)
            return []
        if self.trading_state is TradingState.REDUCING:
            view = self._view()
            if not view.reduces_position(intent.symbol, intent.side, intent.qty):
                reason = "account is REDUCING: only orders that shrink a position are allowed"
                return [self._rejected(intent, "TRADING_STATE", reason)]
        elif self.trading_state is not TradingState.ACTIVE:
            return [self._rejected(intent, "TRADING_STATE", f"account is {self.trading_state}")]
        if self._dispatch_full():
            return [
                self._rejected(
                    intent, "DISPATCH_QUEUE_FULL", "too many orders waiting to be sent", "engine"
                )
            ]
        view = self._view()
        verdict = self.risk_check(intent, view)
        if self.journal is not None:
            self.journal.record_intent(intent)
            self.journal.record_verdict(intent.client_order_id, verdict)
        if not verdict.approved:
            return [self._rejected(intent, verdict.code or "RISK_REJECTED", verdict.reason, "risk")]
        self.book.track_intent(intent, reserve=self._reserve(intent, view))
        log.info(
            "order.sending",
            client_order_id=intent.client_order_id,
            symbol=intent.symbol,
            side=intent.side,
            qty=str(intent.qty),
            type=intent.type,
            price=None if intent.price is None else str(intent.price),
        )
        self.dispatch.send_nowait(intent)  # room checked above, and no checkpoint since
        return []

    def _reserve(self, intent: OrderIntent, view: AccountView) -> Decimal:
        """What an approved ``intent`` reserves, priced on the ``view`` risk approved it on."""
        amount = None if self.reservation is None else self.reservation(intent, view)
        return reservation_for(intent) if amount is None else amount

    def _view(self) -> AccountView:
        return self.book.view(
            self.trading_state, heard_ns=None if self.heard_ns is None else self.heard_ns()
        )

    def _replace(self, command: ReplaceOrder) -> list[Event]:
        """New terms for an open order: checked by risk like a new order, then sent.

        Only while ``ACTIVE`` (or ``REDUCING``, if the order only shrinks a position and does not
        grow); one replace per order at a time, since each accepted replace changes the handle
        the next one must name (ARIES.md §8.8).
        """
        client_order_id = command.client_order_id
        order = self.book.order_by_client_id(client_order_id)
        intent = self.book.intent(client_order_id)
        if order is None or intent is None or not order.status.is_open or not order.cl_ord_id:
            return [self._replace_refused(command, "NOT_OPEN", "no open order with that id")]
        if client_order_id in self._replacing:
            reason = "a replace of this order is still waiting for the venue's answer"
            return [self._replace_refused(command, "REPLACE_PENDING", reason)]
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
            return [self._replace_refused(command, "QTY_BELOW_FILLED", reason)]
        if self.trading_state is TradingState.REDUCING:
            view = self._view()
            grows = replacement.qty > order.qty
            if grows or not view.reduces_position(order.symbol, order.side, order.leaves_qty):
                reason = "account is REDUCING: only replaces that shrink a position are allowed"
                return [self._replace_refused(command, "TRADING_STATE", reason)]
        elif self.trading_state is not TradingState.ACTIVE:
            reason = f"account is {self.trading_state}"
            return [self._replace_refused(command, "TRADING_STATE", reason)]
        if self._dispatch_full():
            reason = "too many requests waiting to be sent"
            return [self._replace_refused(command, "DISPATCH_QUEUE_FULL", reason)]
        view = self._view()
        verdict = self.risk_check(replacement, view)
        if self.journal is not None:
            self.journal.record_intent(replacement)
            self.journal.record_verdict(client_order_id, verdict)
        if not verdict.approved:
            code = verdict.code or "RISK_REJECTED"
            return [self._replace_refused(command, code, verdict.reason, "risk")]
        self.book.track_intent(replacement, reserve=self._reserve(replacement, view))
        self._replacing.add(client_order_id)
        log.info(
            "order.replacing",
            client_order_id=client_order_id,
            cl_ord_id=order.cl_ord_id,
            qty=str(replacement.qty),
            price=None if replacement.price is None else str(replacement.price),
        )
        self.dispatch.send_nowait(
            ReplaceRequest(
                account_id=self.account_id,
                client_order_id=client_order_id,
                cl_ord_id=order.cl_ord_id,
                intent=replacement,
            )
        )
        return []

    def _replace_failed(self, event: ReplaceFailed) -> list[Event]:
        client_order_id = event.client_order_id
        if event.outcome_unknown:
            # The venue may have replaced it: a report naming a new clOrdId, or the order list,
            # will say. Until then no other replace of this order is sent.
            order = self.book.order_by_client_id(client_order_id)
            log.error("order.replace_outcome_unknown", client_order_id=client_order_id)
            self._unknown_replaces[client_order_id] = "" if order is None else order.cl_ord_id
            self._lookup_at = min(self._lookup_at, trio.current_time() + UNKNOWN_OUTCOME_GRACE)
            return []
        self._replacing.discard(client_order_id)
        self.book.replace_refused(client_order_id)
        return [self._not_applied(client_order_id, event.code, event.reason, "venue")]

    def _not_applied(
        self,
        client_order_id: str,
        code: str,
        reason: str,
        source: str,
        *,
        cancel: bool = False,
        strategy: str | None = None,
    ) -> OrderRejected:
        """A replace (or, with ``cancel``, a cancel) of an order that was not carried out: the
        order stands. Told to ``strategy``, by default the order's owner."""
        order = self.book.order_by_client_id(client_order_id)
        return OrderRejected(
            account_id=self.account_id,
            client_order_id=client_order_id,
            cl_ord_id=None if order is None else order.cl_ord_id,
            symbol="" if order is None else order.symbol,
            code=code,
            reason=reason,
            source=source,
            strategy=self.book.owner_of(client_order_id) if strategy is None else strategy,
            replace=not cancel,
            cancel=cancel,
        )

    def _settle_unknown_replaces(self, *, listed: bool) -> list[Event]:
        """A replace whose outcome was unknown is settled by the order's handle: a new clOrdId
        means the venue applied it. Without one it is settled as not applied only from the
        venue's order list (``listed``), which would show the new id if there were one."""
        facts: list[Event] = []
        for client_order_id, old_cl_ord_id in list(self._unknown_replaces.items()):
            order = self.book.order_by_client_id(client_order_id)
            applied = order is not None and order.cl_ord_id != old_cl_ord_id
            if not applied and not listed:
                continue
            del self._unknown_replaces[client_order_id]
            self._replacing.discard(client_order_id)
            if applied:
                log.info("order.replace_settled", client_order_id=client_order_id, applied=True)
                self.book.replace_answered(client_order_id)
            else:
                log.warning("order.replace_settled", client_order_id=client_order_id, applied=False)
                self.book.replace_refused(client_order_id)
                reason = "the replace's outcome was unknown and the venue's order list shows none"
                facts.append(
                    self._not_applied(client_order_id, "REPLACE_NOT_APPLIED", reason, "dispatch")
                )
        return facts

    def _replace_refused(
        self, command: ReplaceOrder, code: str, reason: str, source: str = "engine"
    ) -> OrderRejected:
        log.warning(
            "order.replace_refused",
            client_order_id=command.client_order_id,
            code=code,
            reason=reason,
        )
        return self._not_applied(
            command.client_order_id, code, reason, source, strategy=command.strategy
        )

    def _release_held(self) -> list[Event]:
        held, self._held = self._held, []
        facts: list[Event] = []
        for intent in held:
            facts += self._submit(intent)
        return facts

    def _cancel(self, command: CancelOrder) -> list[Event]:
        owner = self.book.owner_of(command.client_order_id)
        if owner != command.strategy:
            log.warning(
                "order.cancel_refused",
                client_order_id=command.client_order_id,
                strategy=command.strategy,
                owner=owner,
                reason="only the strategy that submitted an order may cancel it",
            )
            return []
        held = [i for i in self._held if i.client_order_id == command.client_order_id]
        if held:
            self._held.remove(held[0])
            reason = "canceled by its strategy before it was sent"
            return [self._rejected(held[0], "CANCELED_BEFORE_SEND", reason, "engine")]
        if self.book.is_in_flight(command.client_order_id):
            # Sent, not yet acknowledged: there is no clOrdId to cancel yet. Cancel it as soon as
            # the venue names it (or forget it if the venue refuses the order).
            log.info("order.cancel_deferred", client_order_id=command.client_order_id)
            self._cancel_pending.add(command.client_order_id)
            return []
        return self._send_cancel(command.client_order_id)

    def _cancel_failed(self, event: CancelFailed) -> list[Event]:
        """The venue refused a cancel, or its answer was lost: tell the order's owner (the
        order stands as far as the engine knows; its own updates say if it ended anyway)."""
        client_order_id = event.client_order_id
        log.warning(
            "order.cancel_failed",
            client_order_id=client_order_id,
            code=event.code,
            reason=event.reason,
        )
        self._cancels_out.pop(client_order_id, None)
        if client_order_id in self._swept:  # refused: not retried, left open
            self._swept.discard(client_order_id)
            self._to_cancel.discard(client_order_id)
            self._cancel_refused.add(client_order_id)
            log.error(
                "order.left_open",
                client_order_id=client_order_id,
                code=event.code,
                reason=f"its cancel ({self._cancel_all}) failed and is not retried",
            )
        return [self._not_applied(client_order_id, event.code, event.reason, "venue", cancel=True)]

    def _send_pending_cancels(self) -> None:
        """Send each deferred cancel once its order has a venue report (it may come after the
        ``OrderPlaced``); forget it once the order was refused."""
        for client_order_id in list(self._cancel_pending):
            if self.book.is_in_flight(client_order_id):
                continue
            if self.book.order_by_client_id(client_order_id) is None:
                if self.book.was_rejected(client_order_id):
                    self._cancel_pending.discard(client_order_id)
                continue
            self._cancel_pending.discard(client_order_id)
            self._send_cancel(client_order_id)

    def _send_cancel(self, client_order_id: str) -> list[Event]:
        order = self.book.order_by_client_id(client_order_id)
        if order is None or not order.status.is_open or not order.cl_ord_id:
            log.warning(
                "order.cancel_ignored",
                client_order_id=client_order_id,
                reason="no open order with that id",
            )
            return []
        if self._dispatch_full():
            log.error(
                "order.cancel_not_queued",
                client_order_id=client_order_id,
                reason="too many requests waiting to be sent",
            )
            return []
        self.dispatch.send_nowait(
            CancelRequest(
                account_id=self.account_id,
                client_order_id=client_order_id,
                cl_ord_id=order.cl_ord_id,
                symbol=order.symbol,
                side=order.side,
            )
        )
        self._cancels_out[client_order_id] = order.cl_ord_id
        return []

    def _cancel_all_orders(self, command: CancelAllOrders) -> list[Event]:
        """Halt the account for good, reject held orders, cancel every order this engine placed.

        Orders a strategy of this engine placed (they have an owner) are cancelled: the open ones
        now, those still on their way once the venue names them (``_sweep_cancel_all``, after
        every batch). Orders it did not place are left alone, and said so.
        """
        reason = command.reason
        self._cancel_all = reason
        self._decided = TradingState.HALTED
        facts = self._set_state(TradingState.HALTED, reason)
        held, self._held = self._held, []
        facts += [
            self._rejected(intent, "TRADING_STATE", f"account HALTED: {reason}") for intent in held
        ]
        view = self._view()
        owned: list[str] = []
        external: list[str] = []
        for order in view.open_orders.values():
            if self.book.owner_of(order.client_order_id) is None:
                external.append(order.cl_ord_id)
            elif order.client_order_id is not None:
                owned.append(order.client_order_id)
        self._to_cancel.update(owned)
        self._to_cancel.update(view.in_flight)
        self._to_cancel -= self._cancel_refused
        log.info(
            "account.cancel_all",
            reason=reason,
            open_orders=len(owned),
            in_flight=len(view.in_flight),
            held_rejected=len(held),
            external_left=len(external),
        )
        if external:
            log.info(
                "account.external_orders_left",
                count=len(external),
                cl_ord_ids=sorted(external),
                reason="not placed by this engine: left for whoever placed them",
            )
        return facts

    def _sweep_cancel_all(self) -> None:
        """Send the cancels ``CancelAllOrders`` still owes; forget orders that are done.

        An order still on its way (no ``clOrdId`` yet, or named but not reported) waits; one
        with a cancel already out for its current ``clOrdId``, or ``PENDING_CANCEL``, waits for
        the venue's report; a replaced order gets a cancel for its new ``clOrdId``.
        """
        for client_order_id in sorted(self._to_cancel):
            if self.book.is_in_flight(client_order_id):
                continue
            order = self.book.order_by_client_id(client_order_id)
            if order is None:
                if self.book.was_rejected(client_order_id):
                    self._to_cancel.discard(client_order_id)
                continue
            if not order.status.is_open:
                self._to_cancel.discard(client_order_id)
                self._swept.discard(client_order_id)
                continue
            pending = order.status is OrderStatus.PENDING_CANCEL
            if pending or not order.cl_ord_id:
                continue
            if self._cancels_out.get(client_order_id) == order.cl_ord_id:
                continue
            self._swept.add(client_order_id)
            self._send_cancel(client_order_id)

    def _without_order_stream(self, reason: str) -> list[Event]:
        """No order stream will come (the socket gave up, or the venue refused the account):
        halt for good and reject what was held."""
        self._socket_failed = True
        held, self._held = self._held, []
        return self._set_state(TradingState.HALTED, reason) + [
            self._rejected(intent, "TRADING_STATE", f"account HALTED: {reason}") for intent in held
        ]

    def _requested_state(self, request: TradingStateRequested) -> list[Event]:
        """``REDUCING``/``HALTED``/``ACTIVE`` by decision (a kill switch, an operator).

        ``RECONCILING`` belongs to the engine (connection health); a request made while
        reconciling takes effect when it is done. The decision outlives reconnects. Nothing but
        ``HALTED`` is accepted while the accounts socket has ``FAILED`` (there is no order stream).
        """
        refused = request.state is TradingState.RECONCILING or (
            request.state is not TradingState.HALTED and self._socket_failed
        )
        if refused:
            log.warning(
                "account.trading_state_refused",
                requested=request.state,
                state=self.trading_state,
                reason=request.reason,
                socket_failed=self._socket_failed,
            )
            return []
        self._decided = request.state
        if self.trading_state is TradingState.RECONCILING:
            return []  # applied once reconciliation is done
        return self._set_state(request.state, request.reason)

    def _candle(self, candle: PnlCandleReceived) -> list[Event]:
        """Publish each P&L bucket once, when the next one starts, with its final values.

        The venue repeats the open bucket's candle while it lasts, and replays the history
        after a (re)subscribe: older buckets were closed already and are skipped, the open
        one's latest values are kept, and every bucket passed closes exactly once.
        """
        current = self._open_candle
        if current is not None and candle.time < current.time:
            return []
        self._open_candle = candle
        if current is None or candle.time == current.time:
            return []
        return [
            PnlCandleClosed(
                account_id=self.account_id,
                ts_event=current.ts_event,
                ts_recv=candle.ts_recv,
                interval=current.interval,
                time=current.time,
                open=current.open,
                high=current.high,
                low=current.low,
                close=current.close,
            )
        ]

    def _dispatch_full(self) -> bool:
        """Never wait on the dispatcher: it may be waiting to tell us an outcome."""
        stats = self.dispatch.statistics()
        return stats.current_buffer_used >= stats.max_buffer_size

    def _rejected(
        self, intent: OrderIntent, code: str, reason: str, source: str = "engine"
    ) -> OrderRejected:
        return OrderRejected(
            account_id=self.account_id,
            client_order_id=intent.client_order_id,
            cl_ord_id=None,
            symbol=intent.symbol,
            code=code,
            reason=reason,
            source=source,
            strategy=intent.strategy,
        )

    def _set_state(self, state: TradingState, reason: str) -> list[Event]:
        if state is self.trading_state:
            return []
        previous, self.trading_state = self.trading_state, state
        self._state_since = trio.current_time()
        return [
            TradingStateChanged(
                account_id=self.account_id, state=state, previous=previous, reason=reason
            )
        ]

    def _publish_view(self) -> None:
        self.views.set(self._view())


def _log_reconciliation(account_id: str, facts: list[Event]) -> None:
    """One readable line for what a snapshot changed (the diff against local state)."""
    updates = [f for f in facts if isinstance(f, OrderUpdated)]
    log.info(
        "account.reconciled",
        order_changes=len(updates),
        external_orders=sum(1 for f in updates if f.external),
        fills_recovered=sum(1 for f in facts if isinstance(f, OrderFilled)),
        position_changes=sum(1 for f in facts if isinstance(f, PositionChanged)),
        balance_changed=any(isinstance(f, BalanceChanged) for f in facts),
    )


def _log_fact(fact: Event) -> None:
    """One readable line per fact: what an operator watching the console wants to see."""
    if not isinstance(fact, OrderRejected) and not log.is_enabled_for(logging.INFO):
        return  # the arguments below cost more than the filtered-out call would
    if isinstance(fact, OrderUpdated):
        order = fact.order
        log.info(
            "order.updated",
            cl_ord_id=order.cl_ord_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            status=order.status,
            previous=fact.previous_status,
            cum_qty=str(order.cum_qty),
            qty=str(order.qty),
        )
    elif isinstance(fact, OrderFilled):
        log.info(
            "order.filled",
            cl_ord_id=fact.cl_ord_id,
            symbol=fact.symbol,
            side=fact.side,
            qty=str(fact.qty),
            price=str(fact.price),
            cum_qty=str(fact.cum_qty),
        )
    elif isinstance(fact, OrderRejected):
        log.warning(
            "order.rejected",
            client_order_id=fact.client_order_id,
            symbol=fact.symbol,
            code=fact.code,
            reason=fact.reason,
            source=fact.source,
        )
    elif isinstance(fact, PositionChanged):
        position = fact.position
        log.info(
            "position.changed",
            symbol=position.symbol,
            quantity=str(position.quantity),
            avg_price=str(position.avg_price),
        )
    elif isinstance(fact, BalanceChanged):
        balance = fact.balance
        log.info(
            "balance.changed",
            stock_buying_power=str(balance.stock_buying_power),
            total_equity=str(balance.total_equity),
        )
    elif isinstance(fact, AccountSynced):
        log.info("account.synced", open_orders=fact.open_orders, positions=fact.positions)
    elif isinstance(fact, TradingStateChanged):
        log.info(
            "account.trading_state", state=fact.state, previous=fact.previous, reason=fact.reason
        )
