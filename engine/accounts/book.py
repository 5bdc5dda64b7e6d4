"""``AccountBook``: the pure, synchronous state of one account.

The ``AccountActor`` feeds it the venue's reports and the dispatcher's outcomes, in arrival
order, through ``apply``; each call returns the public facts to publish, in order. No trio, no
I/O, no clock: everything it knows comes in through its arguments, so it is tested with plain
sync tests and Hypothesis.

Orders
------
Keyed by ``cl_ord_id`` (the venue's handle). A report is checked in this order:

1. **First sight** — applied whatever its status.
2. **Duplicate** — same ``status``, ``cum_qty``, ``leaves_qty``, ``avg_price``, ``price``,
   ``stop_price`` and ``qty`` as stored: dropped, counted in ``duplicates_dropped``. A terminal
   order restated with its own status and ``cum_qty`` (e.g. the venue's ``REPLACED`` after we
   inferred it) counts as a duplicate too.
3. **Stale** — smaller ``cum_qty`` than stored, or the same ``cum_qty`` with an ``updated_at``
   strictly older than stored: dropped, counted in ``stale_dropped``. (Aries has no sequence
   numbers; the timestamp rule keeps a replayed ``NEW`` from undoing a later ``PENDING_CANCEL``.
   It never drops a report whose ``cum_qty`` grew.)
4. **Transition** — checked against ``engine.accounts._transitions``: one step for live events
   (they arrive in order per ``clOrdId``), the transitive closure for snapshot orders (a snapshot
   bridges missed events). Terminal statuses are sticky.
5. **Illegal** — logged (``book.illegal_transition``) and counted, and not applied — unless
   ``cum_qty`` grew: a fill is never lost. Then the report's quantities (``cum_qty``,
   ``avg_price``, ``last_qty``, ``last_px``) are taken; the status stays put if the stored one is
   terminal (sticky wins, e.g. a late fill on a ``REPLACED`` id), otherwise it becomes the status
   the fill itself implies (``FILLED`` when nothing is left, else ``PARTIALLY_FILLED``).

Every applied change publishes ``OrderUpdated``; a ``cum_qty`` increase publishes one
``OrderFilled`` for the delta; entering ``REJECTED`` publishes ``OrderRejected(source="venue",
code="VENUE_REJECTED")`` with ``ordRejReason`` (or ``text``) as the reason.

Fill price: ``last_px`` when ``last_qty`` equals the delta (or, on a live event, is absent — a live
event carries one execution). Otherwise the VWAP of the delta from the averages,
``(avg_new·cum_new − avg_old·cum_old) / Δ``, rounded half-even to 6 decimal places (a
micro-dollar) and trimmed of trailing zeros down to 2 places. If the averages are unusable (zero),
``last_px``, then the new average, then the order's limit price, then zero is used, with a
warning.

Ownership and replace chains
----------------------------
``track_intent`` remembers ``client_order_id → strategy``. An order is linked to one of our
``client_order_id`` s by ``OrderPlaced(client_order_id, cl_ord_id)`` or by the echoed ``clientId``
when it is an id we know (an unknown echo, e.g. the OAuth client id, links nothing). Either may
come first. When ``OrderPlaced`` links an order already seen without an owner, an ``OrderUpdated``
with the owner is published (``previous_status`` equal to the current one); fills already
published stay published, without a strategy (never twice).

When a second ``cl_ord_id`` gets linked to the same ``client_order_id``, it is a replacement: it
becomes the current one (``order_by_client_id``, ``current_cl_ord_id``), and the previous one, if
still open, goes ``REPLACED`` (published). A newcomer that is itself ``REPLACED`` is an older link
seen late and does not become current.

Reservations
------------
``track_intent(intent, reserve=X)`` reserves ``X`` of buying power until the venue's balance can
be assumed to include the order:

* released by the first ``BalanceReported`` (or snapshot balance) applied after the order has been
  seen in any venue state other than ``PENDING_NEW``;
* released at once when the order goes ``REJECTED``, or on ``OrderPlaceFailed(outcome_unknown=
  False)``;
* kept on ``OrderPlaceFailed(outcome_unknown=True)`` until the order shows up (then the first rule)
  or a definite failure arrives.

Snapshots
---------
``AccountSnapshotReceived`` replaces local state: account info, then every order in it through the
rules above (so a fill made while offline is published once, from the ``cum_qty`` delta), then
positions (a ``PositionChanged`` for each difference; a position that vanished is published with
quantity zero), then the balance, then ``AccountSynced``. Orders open locally but absent from the
snapshot are kept as they are and logged (``book.snapshot_missing_order``); REST reconciliation
is a later issue. The *first* snapshot is the baseline: an order first seen there and not ours
is adopted without an ``OrderFilled`` for its existing ``cum_qty`` (those fills are history, already
in the positions); our own orders, and orders first seen in later snapshots, publish theirs.

Forgetting done orders
----------------------
The book would otherwise keep every order of the run. ``forget_done(now)``, called by the actor
every ``done_retention`` seconds (``forget_at``), forgets an order that was already done
(terminal, with nothing of ours waiting on it) at the call before: so a done order stays whole,
with its owner and intent, for ``done_retention`` to about twice that. Our order is forgotten
with its whole replace chain and intent, once every link is terminal and nothing is reserved,
replacing, unknown or in flight for it; an order we refused or lost, once its rejection is
published (should the venue report a lost one after that, it is an external order). What stays
is its ``clOrdId`` and final ``cum_qty``, for a day (``ForgottenOrders``): a restatement of a
forgotten order at or below that is dropped (counted as a duplicate when live), and a late fill
above it is published once, with no owner (the owner was forgotten), and logged.

Positions and balance are replaced whole. ``PositionChanged`` only when the position differs; a
zero quantity removes the position from the open map (published if it was open). A snapshot
without a balance keeps the last one (logged).
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import assert_never

import attrs
import structlog

from engine.accounts._transitions import is_legal, is_reachable
from engine.accounts.retention import RESTATEMENT_WINDOW, ForgottenOrders
from engine.accounts.views import SnapshotDict
from engine.model.account import AccountInfo, AccountView, Balance, Position
from engine.model.enums import OrderStatus, TradingState
from engine.model.events import (
    AccountInfoChanged,
    AccountInfoReported,
    AccountSnapshotReceived,
    AccountSynced,
    BalanceChanged,
    BalanceReported,
    Event,
    OrderFilled,
    OrderPlaced,
    OrderPlaceFailed,
    OrderRejected,
    OrderReported,
    OrderUpdated,
    PositionChanged,
    PositionReported,
)
from engine.model.orders import Order, OrderIntent

__all__ = ["BOOK_INPUT_TYPES", "AccountBook", "BookInput", "BookStatistics"]

log = structlog.get_logger(__name__)

BookInput = (
    AccountSnapshotReceived
    | OrderReported
    | PositionReported
    | BalanceReported
    | AccountInfoReported
    | OrderPlaced
    | OrderPlaceFailed
)

# The same set as a runtime tuple: ``isinstance(event, BOOK_INPUT_TYPES)`` narrows an ``Event`` to
# ``BookInput`` for mypy.
BOOK_INPUT_TYPES = (
    AccountSnapshotReceived,
    OrderReported,
    PositionReported,
    BalanceReported,
    AccountInfoReported,
    OrderPlaced,
    OrderPlaceFailed,
)

_ZERO = Decimal(0)
_PRICE_QUANTUM = Decimal("0.000001")
_MIN_PRICE_QUANTUM = Decimal("0.01")
_VENUE_REJECTED = "VENUE_REJECTED"


@attrs.frozen(kw_only=True)
class BookStatistics:
    """Counters of one ``AccountBook`` since it was created.

    ``orders_applied`` counts order reports that changed the book (an illegal report whose fill
    was kept counts here *and* in ``illegal_transitions``); ``duplicates_dropped`` does not count
    snapshots restating what the book knows; ``fills`` counts ``OrderFilled`` published;
    ``reservations`` is the number open now; ``orders_kept`` the orders the book knows whole
    now, and ``orders_forgotten`` those it forgot since it was created (``forget_done``).
    """

    orders_applied: int
    duplicates_dropped: int
    illegal_transitions: int
    stale_dropped: int
    fills: int
    reservations: int
    orders_kept: int = 0
    orders_forgotten: int = 0


@attrs.define(eq=False)
class _Reservation:
    amount: Decimal
    # The order has been seen in a venue state other than PENDING_NEW, so the next balance the
    # venue sends can be assumed to include it.
    seen_by_venue: bool = False


@attrs.define(eq=False)
class AccountBook:
    """Pure state of one account: orders, positions, balance, info, reservations.

    See the module docstring for every rule. Not thread-safe; owned by one ``AccountActor``.
    """

    account_id: str
    done_retention: float = attrs.field(default=300.0, kw_only=True)
    """Seconds (of the clock ``forget_done`` is given) a done order is kept whole, at least."""
    restatement_window: float = attrs.field(default=RESTATEMENT_WINDOW, kw_only=True)
    """Seconds a forgotten order's ``clOrdId`` and ``cum_qty`` are kept (``ForgottenOrders``)."""
    _orders: dict[str, Order] = attrs.field(factory=dict, init=False, repr=False)
    _open_orders: SnapshotDict[str, Order] = attrs.field(
        factory=SnapshotDict, init=False, repr=False
    )
    _positions: SnapshotDict[str, Position] = attrs.field(
        factory=SnapshotDict, init=False, repr=False
    )
    _balance: Balance | None = attrs.field(default=None, init=False, repr=False)
    _info: AccountInfo | None = attrs.field(default=None, init=False, repr=False)
    # client_order_id -> the intent (its strategy is the owner)
    _intents: dict[str, OrderIntent] = attrs.field(factory=dict, init=False, repr=False)
    # client_order_id -> current cl_ord_id (the head of its replace chain)
    _client_to_cl: dict[str, str] = attrs.field(factory=dict, init=False, repr=False)
    # cl_ord_id -> our client_order_id (every link of every chain)
    _cl_to_client: dict[str, str] = attrs.field(factory=dict, init=False, repr=False)
    _reservations: dict[str, _Reservation] = attrs.field(factory=dict, init=False, repr=False)
    # client_order_ids whose rejection was already published (one OrderRejected per order)
    _rejection_published: set[str] = attrs.field(factory=set, init=False, repr=False)
    # client_order_ids whose place request has an unknown outcome and no venue report yet
    _unknown: set[str] = attrs.field(factory=set, init=False, repr=False)
    # cl_ord_ids open locally but missing from the last snapshot
    _missing: set[str] = attrs.field(factory=set, init=False, repr=False)
    # approved new orders with no venue order linked yet (and not refused): they count against
    # limits even though no report shows them
    _in_flight: SnapshotDict[str, OrderIntent] = attrs.field(
        factory=SnapshotDict, init=False, repr=False
    )
    # client_order_id -> buying power added to its reservation by a replace still unanswered
    _replace_extra: dict[str, Decimal] = attrs.field(factory=dict, init=False, repr=False)
    _replacements: SnapshotDict[str, OrderIntent] = attrs.field(
        factory=SnapshotDict, init=False, repr=False
    )
    _seen_before_replace: dict[str, bool] = attrs.field(factory=dict, init=False, repr=False)
    _last_applied_ns: int | None = attrs.field(default=None, init=False, repr=False)
    _synced: bool = attrs.field(default=False, init=False)
    _orders_applied: int = attrs.field(default=0, init=False, repr=False)
    _duplicates_dropped: int = attrs.field(default=0, init=False, repr=False)
    _illegal_transitions: int = attrs.field(default=0, init=False, repr=False)
    _stale_dropped: int = attrs.field(default=0, init=False, repr=False)
    _fills: int = attrs.field(default=0, init=False, repr=False)
    _forgotten: ForgottenOrders = attrs.field(init=False, repr=False)
    # What was done and forgettable at the last forget: our client_order_ids, external clOrdIds.
    _done_ours: set[str] = attrs.field(factory=set, init=False, repr=False)
    _done_external: set[str] = attrs.field(factory=set, init=False, repr=False)
    _next_forget: float | None = attrs.field(default=None, init=False, repr=False)
    _orders_forgotten: int = attrs.field(default=0, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.done_retention <= 0:
            raise ValueError(f"done_retention must be positive, got {self.done_retention}")
        self._forgotten = ForgottenOrders(ttl=self.restatement_window)

    # --- inputs ---------------------------------------------------------------------------

    def apply(self, event: BookInput) -> list[Event]:
        """Apply one venue report or dispatcher outcome.

        Returns:
            The public facts to publish, in order (possibly none).
        """
        if event.account_id != self.account_id:
            self._log_foreign("event", event.account_id, event)
            return []
        if self._last_applied_ns is None or event.ts_recv > self._last_applied_ns:
            self._last_applied_ns = event.ts_recv
        if isinstance(event, OrderReported):
            if event.order.account_id != self.account_id:
                self._log_foreign("order", event.order.account_id, event)
                return []
            return self._apply_order(event.order, event, via_snapshot=False, baseline=False)
        if isinstance(event, PositionReported):
            if event.position.account_id != self.account_id:
                self._log_foreign("position", event.position.account_id, event)
                return []
            return self._set_position(event.position, event)
        if isinstance(event, BalanceReported):
            if event.balance.account_id != self.account_id:
                self._log_foreign("balance", event.balance.account_id, event)
                return []
            return self._set_balance(event.balance, event)
        if isinstance(event, AccountInfoReported):
            if event.info.account_id != self.account_id:
                self._log_foreign("info", event.info.account_id, event)
                return []
            return self._set_info(event.info, event)
        if isinstance(event, AccountSnapshotReceived):
            return self._apply_snapshot(event)
        if isinstance(event, OrderPlaced):
            return self._link(event.client_order_id, event.cl_ord_id, event, status=None)
        if isinstance(event, OrderPlaceFailed):
            return self._place_failed(event)
        assert_never(event)

    def track_intent(self, intent: OrderIntent, *, reserve: Decimal) -> None:
        """Remember an approved intent's owner and reserve ``reserve`` of buying power.

        Called when risk approved ``intent`` and it is handed to the dispatcher. A zero
        ``reserve`` (a plain sell) records the owner only.

        Raises:
            ValueError: ``reserve`` is negative, or the intent is for another account.
        """
        if reserve < 0:
            raise ValueError(f"reserve must not be negative, got {reserve}")
        if intent.account_id != self.account_id:
            raise ValueError(
                f"intent for account {intent.account_id!r} tracked by book {self.account_id!r}"
            )
        client_order_id = intent.client_order_id
        if intent.is_replace:
            self._track_replace(intent, reserve)
            return
        if client_order_id in self._intents:
            log.warning(
                "book.intent_retracked", account=self.account_id, client_order_id=client_order_id
            )
        self._intents[client_order_id] = intent
        if client_order_id not in self._client_to_cl:
            self._in_flight[client_order_id] = intent
        if reserve > 0:
            self._reservations[client_order_id] = _Reservation(amount=reserve)
        else:
            self._reservations.pop(client_order_id, None)

    def _track_replace(self, intent: OrderIntent, extra: Decimal) -> None:
        """An approved replace: reserve what it adds until the venue answers and shows it."""
        client_order_id = intent.client_order_id
        self._replacements[client_order_id] = intent
        if extra <= 0:
            return
        self._replace_extra[client_order_id] = extra
        reservation = self._reservations.get(client_order_id)
        if reservation is None:
            self._reservations[client_order_id] = _Reservation(amount=extra)
        else:
            self._seen_before_replace[client_order_id] = reservation.seen_by_venue
            reservation.amount += extra
            reservation.seen_by_venue = False

    def replace_refused(self, client_order_id: str) -> None:
        """The venue refused a replace: give back what it had reserved."""
        self._replacements.pop(client_order_id, None)
        extra = self._replace_extra.pop(client_order_id, None)
        reservation = self._reservations.get(client_order_id)
        if extra is None or reservation is None:
            return
        reservation.amount -= extra
        reservation.seen_by_venue = self._seen_before_replace.pop(client_order_id, False)
        if reservation.amount <= 0:
            self._release(client_order_id, "replace_refused")

    def replace_answered(self, client_order_id: str) -> None:
        """The venue accepted a replace: its reservation now follows the order like any other,
        and the new terms are the order's intent."""
        self._replace_extra.pop(client_order_id, None)
        self._seen_before_replace.pop(client_order_id, None)
        replacement = self._replacements.pop(client_order_id, None)
        if replacement is not None:
            self._intents[client_order_id] = attrs.evolve(replacement, replaces=None)

    @property
    def forget_at(self) -> float:
        """When ``forget_done`` is due next: ``done_retention`` after the last call (at once
        before the first)."""
        return -math.inf if self._next_forget is None else self._next_forget

    def forget_done(self, now: float, *, keep: Collection[str] = ()) -> int:
        """Forget the orders that were already done, and forgettable, at the previous call
        (module docstring); call it at ``forget_at``.

        ``keep``: our ``client_order_id`` s the caller still has business with (a cancel or
        replace it tracks), never forgotten.

        Returns:
            How many orders (``clOrdId`` s, plus refused or lost orders that had none) it forgot.
        """
        self._next_forget = now + self.done_retention
        self._forgotten.expire(now)
        ours, external = self._forgettable(keep)
        forgotten = 0
        for client_order_id in sorted(ours.keys() & self._done_ours):
            forgotten += self._forget_ours(client_order_id, ours[client_order_id], now)
        for cl_ord_id in sorted(external & self._done_external):
            forgotten += self._forget_order(cl_ord_id, now)
        self._done_ours = ours.keys() - self._done_ours
        self._done_external = external - self._done_external
        self._orders_forgotten += forgotten
        if forgotten:
            log.debug(
                "book.orders_forgotten",
                account=self.account_id,
                forgotten=forgotten,
                kept=len(self._orders),
                traces=len(self._forgotten),
            )
        return forgotten

    def _forgettable(self, keep: Collection[str]) -> tuple[dict[str, list[str]], set[str]]:
        """Our ``client_order_id`` s (each with its chain's ``clOrdId`` s) and the external
        ``clOrdId`` s done now, with nothing waiting on them."""
        chains: dict[str, list[str]] = {}
        for cl_ord_id, client_order_id in self._cl_to_client.items():
            chains.setdefault(client_order_id, []).append(cl_ord_id)
        busy = (
            self._reservations.keys()
            | self._replacements.keys()
            | self._replace_extra.keys()
            | self._in_flight.keys()
            | self._unknown
        )
        ours: dict[str, list[str]] = {}
        for client_order_id in self._intents.keys() | self._client_to_cl.keys():
            if client_order_id in busy or client_order_id in keep:
                continue
            links = chains.get(client_order_id)
            if links is None:
                if client_order_id in self._rejection_published:
                    ours[client_order_id] = []  # refused or lost: the venue never named it
            elif all(self._is_done(cl_ord_id) for cl_ord_id in links):
                ours[client_order_id] = links
        external = {
            cl_ord_id
            for cl_ord_id in self._orders.keys() - self._cl_to_client.keys()
            if self._is_done(cl_ord_id)
        }
        return ours, external

    def _is_done(self, cl_ord_id: str) -> bool:
        order = self._orders.get(cl_ord_id)
        if order is None:  # a link to an order forgotten before we knew it was ours
            return cl_ord_id in self._forgotten
        return order.status.is_terminal and cl_ord_id not in self._missing

    def _forget_ours(self, client_order_id: str, links: list[str], now: float) -> int:
        forgotten = 0
        for cl_ord_id in links:
            forgotten += self._forget_order(cl_ord_id, now)
            del self._cl_to_client[cl_ord_id]
        self._client_to_cl.pop(client_order_id, None)
        self._intents.pop(client_order_id, None)
        self._rejection_published.discard(client_order_id)
        self._seen_before_replace.pop(client_order_id, None)
        return forgotten if links else 1

    def _forget_order(self, cl_ord_id: str, now: float) -> bool:
        order = self._orders.pop(cl_ord_id, None)
        if order is None:
            return False  # forgotten already
        self._open_orders.pop(cl_ord_id, None)
        self._forgotten.add(cl_ord_id, order.cum_qty, now=now)
        echoed = order.client_order_id
        if echoed is not None and not self._is_ours(echoed):
            self._rejection_published.discard(echoed)  # an external order's rejection
        return True

    # --- queries --------------------------------------------------------------------------

    def owner_of(self, client_order_id: str | None) -> str | None:
        """The strategy that submitted ``client_order_id``, or ``None`` if not one of ours."""
        if client_order_id is None:
            return None
        intent = self._intents.get(client_order_id)
        return None if intent is None else intent.strategy

    def was_rejected(self, client_order_id: str) -> bool:
        """True once our order's rejection was published (refused, failed or lost)."""
        return client_order_id in self._rejection_published

    def was_forgotten(self, cl_ord_id: str) -> bool:
        """True for a done order the book forgot (``forget_done``) within the last day."""
        return cl_ord_id not in self._orders and cl_ord_id in self._forgotten

    def is_in_flight(self, client_order_id: str) -> bool:
        """True for an approved new order the venue has not named yet (no ``clOrdId``)."""
        return client_order_id in self._in_flight

    def intent(self, client_order_id: str) -> OrderIntent | None:
        """The intent our ``client_order_id`` was submitted with (or last replaced to)."""
        return self._intents.get(client_order_id)

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        """The *current* order (the head of its replace chain) for our ``client_order_id``."""
        cl_ord_id = self._client_to_cl.get(client_order_id)
        return None if cl_ord_id is None else self._orders.get(cl_ord_id)

    def current_cl_ord_id(self, cl_ord_id: str) -> str:
        """The live handle for ``cl_ord_id``: its latest replacement, or itself."""
        client_order_id = self._cl_to_client.get(cl_ord_id)
        if client_order_id is None:
            return cl_ord_id
        return self._client_to_cl.get(client_order_id, cl_ord_id)

    def needs_order_lookup(self) -> bool:
        """True if some order's truth must come from the venue's order list (REST).

        That is: a place request with an unknown outcome and no report since, or an order open
        here that the last snapshot did not list.
        """
        self._unknown -= self._client_to_cl.keys()
        return bool(self._unknown or self._missing)

    def apply_order_list(self, orders: Iterable[Order], *, ts_recv: int) -> list[Event]:
        """Reconcile against the venue's full list of today's orders (``GET /v2/…/orders``).

        Listed orders are applied like stream reports (so a missed fill is published once).
        An unknown-outcome order the venue does not list never reached it: it is rejected as
        lost and its reservation released. A missing open order the venue does not list
        either is left as it is and logged (its truth is unknowable from here).
        """
        facts: list[Event] = []
        listed: set[str] = set()
        for order in orders:
            if order.account_id != self.account_id:
                continue
            listed.add(order.cl_ord_id)
            report = OrderReported(account_id=self.account_id, order=order, ts_recv=ts_recv)
            facts += self.apply(report)
        self._unknown -= self._client_to_cl.keys()
        for client_order_id in sorted(self._unknown):
            self._release(client_order_id, "lost")
            self._in_flight.pop(client_order_id, None)
            self._rejection_published.add(client_order_id)
            intent = self._intents.get(client_order_id)
            log.warning("book.order_lost", account=self.account_id, client_order_id=client_order_id)
            facts.append(
                OrderRejected(
                    account_id=self.account_id,
                    ts_recv=ts_recv,
                    client_order_id=client_order_id,
                    cl_ord_id=None,
                    symbol="" if intent is None else intent.symbol,
                    code="LOST",
                    reason="place outcome unknown and the venue has no such order",
                    source="dispatch",
                    strategy=self.owner_of(client_order_id),
                )
            )
        self._unknown.clear()
        for cl_ord_id in sorted(self._missing - listed):
            log.warning("book.order_unlisted", account=self.account_id, cl_ord_id=cl_ord_id)
        self._missing.clear()
        return facts

    def view(self, trading_state: TradingState, *, heard_ns: int | None = None) -> AccountView:
        """An immutable picture of the account; its mappings are read-only snapshots, shared
        with earlier views until they change.

        ``heard_ns`` is when the accounts stream was last heard from: with nothing to report,
        the venue's silence confirms this picture up to then (``AccountView.as_of_ns``).
        """
        return AccountView(
            account_id=self.account_id,
            trading_state=trading_state,
            balance=self._balance,
            positions=self._positions.snapshot(),
            open_orders=self._open_orders.snapshot(),
            reserved_buying_power=sum((r.amount for r in self._reservations.values()), start=_ZERO),
            in_flight=self._in_flight.snapshot(),
            replacing=self._replacements.snapshot(),
            info=self._info,
            as_of_ns=_latest(self._last_applied_ns, heard_ns),
        )

    def statistics(self) -> BookStatistics:
        """Counters for health logging."""
        return BookStatistics(
            orders_applied=self._orders_applied,
            duplicates_dropped=self._duplicates_dropped,
            illegal_transitions=self._illegal_transitions,
            stale_dropped=self._stale_dropped,
            fills=self._fills,
            reservations=len(self._reservations),
            orders_kept=len(self._orders),
            orders_forgotten=self._orders_forgotten,
        )

    # --- orders ---------------------------------------------------------------------------

    def _apply_order(
        self, report: Order, src: Event, *, via_snapshot: bool, baseline: bool
    ) -> list[Event]:
        cl_ord_id = report.cl_ord_id
        known = self._orders.get(cl_ord_id)
        facts: list[Event] = []

        client_order_id = self._cl_to_client.get(cl_ord_id)
        echoed = report.client_order_id
        if client_order_id is None and echoed is not None and self._is_ours(echoed):
            client_order_id = echoed
            facts += self._link(echoed, cl_ord_id, src, status=report.status)
            known = self._orders.get(cl_ord_id)  # _link may have re-stored it with the owner
        if client_order_id is None:
            client_order_id = echoed

        if known is None:
            new = self._merged(report, None, client_order_id)
            adopt = baseline and (client_order_id is None or not self._is_ours(client_order_id))
            if adopt:
                log.debug("book.order_adopted", account=self.account_id, cl_ord_id=cl_ord_id)
            forgotten_qty = self._forgotten.cum_qty(cl_ord_id)
            if forgotten_qty is not None:
                return facts + self._restated(new, forgotten_qty, src, via_snapshot=via_snapshot)
            filled_by = self._filled_before_replace(new)
            return facts + self._store(
                new, None, src, via_snapshot=via_snapshot, fill=not adopt, filled_by=filled_by
            )

        if _same_state(known, report) or (
            known.status.is_terminal
            and report.status is known.status
            and report.cum_qty == known.cum_qty
        ):
            if not via_snapshot:  # a snapshot restating what we know is not a replay
                self._duplicates_dropped += 1
                log.debug("book.duplicate_dropped", account=self.account_id, cl_ord_id=cl_ord_id)
            return facts
        if report.cum_qty < known.cum_qty or (
            report.cum_qty == known.cum_qty and _older(report, known)
        ):
            self._stale_dropped += 1
            log.debug(
                "book.stale_dropped",
                account=self.account_id,
                cl_ord_id=cl_ord_id,
                status=str(report.status),
                cum_qty=str(report.cum_qty),
                stored_cum_qty=str(known.cum_qty),
            )
            return facts

        allowed = is_reachable if via_snapshot else is_legal
        if allowed(known.status, report.status):
            new = self._merged(report, known, client_order_id)
            return facts + self._store(new, known, src, via_snapshot=via_snapshot)

        self._illegal_transitions += 1
        fill_grew = report.cum_qty > known.cum_qty
        log.warning(
            "book.illegal_transition",
            account=self.account_id,
            cl_ord_id=cl_ord_id,
            cum_qty=str(report.cum_qty),
            stored_cum_qty=str(known.cum_qty),
            fill_applied=fill_grew,
            **{"from": str(known.status), "to": str(report.status)},
        )
        if not fill_grew:
            return facts
        new = self._merged(report, known, client_order_id)
        if known.status.is_terminal:
            # Sticky: only the execution fields move.
            new = attrs.evolve(
                known,
                cum_qty=report.cum_qty,
                avg_price=report.avg_price,
                last_qty=report.last_qty,
                last_px=report.last_px,
                updated_at=report.updated_at or known.updated_at,
            )
        else:
            implied = (
                OrderStatus.FILLED
                if report.leaves_qty == 0 and report.cum_qty >= report.qty
                else OrderStatus.PARTIALLY_FILLED
            )
            status = implied if is_legal(known.status, implied) else known.status
            new = attrs.evolve(new, status=status)
        return facts + self._store(new, known, src, via_snapshot=via_snapshot)

    def _restated(
        self, report: Order, forgotten_qty: Decimal, src: Event, *, via_snapshot: bool
    ) -> list[Event]:
        """A report of an order the book forgot: dropped unless it fills more than then."""
        if report.cum_qty <= forgotten_qty:
            if not via_snapshot:
                self._duplicates_dropped += 1
            log.debug(
                "book.forgotten_restated", account=self.account_id, cl_ord_id=report.cl_ord_id
            )
            return []
        log.warning(
            "book.fill_on_forgotten_order",
            account=self.account_id,
            cl_ord_id=report.cl_ord_id,
            cum_qty=str(report.cum_qty),
            forgotten_cum_qty=str(forgotten_qty),
            note="published without its owner, who was forgotten with the order",
        )
        self._forgotten.discard(report.cl_ord_id)
        # Only the filled quantity is left of the forgotten order, so its average is unknown.
        before = attrs.evolve(report, cum_qty=forgotten_qty, avg_price=_ZERO)
        return self._store(report, None, src, via_snapshot=via_snapshot, filled_by=before)

    def _store(
        self,
        new: Order,
        previous: Order | None,
        src: Event,
        *,
        via_snapshot: bool,
        fill: bool = True,
        count: bool = True,
        filled_by: Order | None = None,
    ) -> list[Event]:
        """Store ``new`` and return the facts for the change from ``previous``.

        ``filled_by``: for a replacement seen for the first time, the order it replaced,
        whose fills it carries over (they were reported already, on that order).
        """
        cl_ord_id = new.cl_ord_id
        self._orders[cl_ord_id] = new
        if new.status.is_open:
            self._open_orders[cl_ord_id] = new
        else:
            self._open_orders.pop(cl_ord_id, None)
        if count:
            self._orders_applied += 1
        client_order_id = new.client_order_id
        strategy = self.owner_of(client_order_id)
        previous_status = None if previous is None else previous.status
        facts: list[Event] = [
            OrderUpdated(
                account_id=self.account_id,
                ts_event=src.ts_event,
                ts_recv=src.ts_recv,
                order=new,
                previous_status=previous_status,
                strategy=strategy,
                external=strategy is None,
            )
        ]
        fill_base = previous if previous is not None else filled_by
        delta = new.cum_qty - (_ZERO if fill_base is None else fill_base.cum_qty)
        if fill and delta > 0:
            self._fills += 1
            facts.append(
                OrderFilled(
                    account_id=self.account_id,
                    ts_event=src.ts_event,
                    ts_recv=src.ts_recv,
                    cl_ord_id=cl_ord_id,
                    client_order_id=client_order_id,
                    symbol=new.symbol,
                    side=new.side,
                    qty=delta,
                    price=self._fill_price(fill_base, new, delta, via_snapshot=via_snapshot),
                    cum_qty=new.cum_qty,
                    leaves_qty=new.leaves_qty,
                    strategy=strategy,
                )
            )
        if (
            new.status is OrderStatus.REJECTED
            and previous_status is not OrderStatus.REJECTED
            and (client_order_id is None or client_order_id not in self._rejection_published)
        ):
            if client_order_id is not None:
                self._rejection_published.add(client_order_id)
            facts.append(
                OrderRejected(
                    account_id=self.account_id,
                    ts_event=src.ts_event,
                    ts_recv=src.ts_recv,
                    client_order_id=client_order_id,
                    cl_ord_id=cl_ord_id,
                    symbol=new.symbol,
                    code=_VENUE_REJECTED,
                    reason=new.reject_reason or new.text or "rejected by the venue",
                    source="venue",
                    strategy=strategy,
                )
            )
        reservation_key = self._cl_to_client.get(cl_ord_id)
        if reservation_key is not None:
            if new.status is OrderStatus.REJECTED:
                self._release(reservation_key, "rejected")
            elif new.status is not OrderStatus.PENDING_NEW:
                self._mark_seen(reservation_key)
        return facts

    def _fill_price(
        self, previous: Order | None, new: Order, delta: Decimal, *, via_snapshot: bool
    ) -> Decimal:
        if new.last_px is not None and (
            new.last_qty == delta or (new.last_qty is None and not via_snapshot)
        ):
            return new.last_px
        old_cum = _ZERO if previous is None else previous.cum_qty
        old_avg = _ZERO if previous is None else previous.avg_price
        if new.avg_price != 0 and (old_cum == 0 or old_avg != 0):
            with decimal.localcontext(prec=40):
                vwap = (new.avg_price * new.cum_qty - old_avg * old_cum) / delta
            return _round_price(vwap)
        fallback = next(
            (p for p in (new.last_px, new.avg_price or None, new.price) if p is not None), None
        )
        log.warning(
            "book.fill_price_unknown",
            account=self.account_id,
            cl_ord_id=new.cl_ord_id,
            qty=str(delta),
            avg_price=str(new.avg_price),
            used=None if fallback is None else str(fallback),
        )
        return _ZERO if fallback is None else fallback

    def _merged(self, report: Order, known: Order | None, client_order_id: str | None) -> Order:
        """``report`` with our ``client_order_id`` and the ids/dates it left out kept."""
        if known is None:
            if report.client_order_id == client_order_id:
                return report
            return attrs.evolve(report, client_order_id=client_order_id)
        merged_client = client_order_id or known.client_order_id
        venue_order_id = report.venue_order_id or known.venue_order_id
        created_at = report.created_at or known.created_at
        if (
            merged_client == report.client_order_id
            and venue_order_id == report.venue_order_id
            and created_at == report.created_at
        ):
            return report  # the common case: nothing to fill in, so no copy
        return attrs.evolve(
            report,
            client_order_id=merged_client,
            venue_order_id=venue_order_id,
            created_at=created_at,
        )

    def _filled_before_replace(self, new: Order) -> Order | None:
        """The order ``new`` replaced, if ``new`` carries its fills over; else ``None``, and
        every fill of ``new`` is new.

        ARIES.md (§8.8) does not say whether a replacement's ``cumQty`` includes what the
        original filled (the simulator's does). Both readings are handled: a replacement first
        seen with at least the original's ``cumQty`` carries it; one below it starts afresh.
        """
        client_order_id = new.client_order_id
        if client_order_id is None or new.cum_qty <= 0:
            return None
        earlier = [
            order
            for cl_ord_id, owner in self._cl_to_client.items()
            if owner == client_order_id
            and cl_ord_id != new.cl_ord_id
            and (order := self._orders.get(cl_ord_id)) is not None
        ]
        if not earlier:
            return None
        carried = max(earlier, key=lambda order: order.cum_qty)
        # A venue that starts a replacement from zero shows less than was filled before.
        return carried if carried.cum_qty <= new.cum_qty else None

    def _is_ours(self, client_order_id: str) -> bool:
        return client_order_id in self._intents or client_order_id in self._client_to_cl

    def _link(
        self, client_order_id: str, cl_ord_id: str, src: Event, *, status: OrderStatus | None
    ) -> list[Event]:
        """Link ``cl_ord_id`` to our ``client_order_id``; follow a replace chain if it is new.

        ``status`` is the newcomer's reported status when linking from a report not yet
        stored (``None`` from ``OrderPlaced``).
        """
        facts: list[Event] = []
        current = self._client_to_cl.get(client_order_id)
        if self._cl_to_client.get(cl_ord_id) == client_order_id and current is not None:
            return facts  # already linked
        self._cl_to_client[cl_ord_id] = client_order_id
        self._in_flight.pop(client_order_id, None)
        order = self._orders.get(cl_ord_id)
        newcomer_status = status if order is None else order.status
        if current is None or current == cl_ord_id:
            self._client_to_cl[client_order_id] = cl_ord_id
        elif newcomer_status is OrderStatus.REPLACED:
            pass  # an older link of the chain, seen late: it does not become current
        else:
            self._client_to_cl[client_order_id] = cl_ord_id
            facts += self._mark_replaced(current, cl_ord_id, src)
        if order is None and cl_ord_id in self._forgotten:
            # Done at the venue, and forgotten, before we knew it was ours: long enough ago
            # that the venue's balances include it.
            self._release(client_order_id, "done_before_linked")
        elif order is not None:
            if order.client_order_id != client_order_id:
                # Seen before we knew it was ours: say so, with its owner.
                owned = attrs.evolve(order, client_order_id=client_order_id)
                facts += self._store(owned, order, src, via_snapshot=False, fill=False, count=False)
            elif order.status is not OrderStatus.PENDING_NEW:
                self._mark_seen(client_order_id)
        return facts

    def _mark_replaced(self, old_cl_ord_id: str, new_cl_ord_id: str, src: Event) -> list[Event]:
        old = self._orders.get(old_cl_ord_id)
        log.info(
            "book.order_replaced",
            account=self.account_id,
            cl_ord_id=old_cl_ord_id,
            replaced_by=new_cl_ord_id,
        )
        if old is None or not is_legal(old.status, OrderStatus.REPLACED):
            return []
        replaced = attrs.evolve(old, status=OrderStatus.REPLACED, leaves_qty=_ZERO)
        return self._store(replaced, old, src, via_snapshot=False, fill=False, count=False)

    def _place_failed(self, event: OrderPlaceFailed) -> list[Event]:
        client_order_id = event.client_order_id
        if event.outcome_unknown:
            log.info(
                "book.place_outcome_unknown",
                account=self.account_id,
                client_order_id=client_order_id,
                code=event.code,
                reservation_kept=client_order_id in self._reservations,
            )
            return self._unknown_outcome(event)
        if client_order_id in self._client_to_cl:
            # The venue has the order after all (its events won): its own reports decide.
            log.warning(
                "book.place_failed_but_order_known",
                account=self.account_id,
                client_order_id=client_order_id,
                cl_ord_id=self._client_to_cl[client_order_id],
                code=event.code,
            )
            return []
        self._release(client_order_id, "place_failed")
        self._in_flight.pop(client_order_id, None)
        self._rejection_published.add(client_order_id)
        intent = self._intents.get(client_order_id)
        return [
            OrderRejected(
                account_id=self.account_id,
                ts_event=event.ts_event,
                ts_recv=event.ts_recv,
                client_order_id=client_order_id,
                cl_ord_id=None,
                symbol="" if intent is None else intent.symbol,
                code=event.code,
                reason=event.reason,
                source="dispatch",
                strategy=self.owner_of(client_order_id),
            )
        ]

    def _unknown_outcome(self, event: OrderPlaceFailed) -> list[Event]:
        """Tell the owner its order's fate is unknown (the venue assigned no ``clOrdId`` yet).

        The order may be live: the reservation stays, and the venue's own report (matched by the
        echoed ``clientId``) settles it when it arrives.
        """
        client_order_id = event.client_order_id
        intent = self._intents.get(client_order_id)
        if intent is None or client_order_id in self._client_to_cl:
            return []
        self._unknown.add(client_order_id)
        order = Order(
            account_id=self.account_id,
            cl_ord_id="",
            client_order_id=client_order_id,
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            qty=intent.qty,
            price=intent.price,
            stop_price=intent.stop_price,
            time_in_force=intent.time_in_force,
            status=OrderStatus.UNKNOWN,
            leaves_qty=intent.qty,
            text=event.reason,
        )
        return [
            OrderUpdated(
                account_id=self.account_id,
                ts_event=event.ts_event,
                ts_recv=event.ts_recv,
                order=order,
                previous_status=None,
                strategy=intent.strategy,
            )
        ]

    # --- reservations ---------------------------------------------------------------------

    def _mark_seen(self, client_order_id: str) -> None:
        reservation = self._reservations.get(client_order_id)
        if reservation is not None:
            reservation.seen_by_venue = True

    def _release(self, client_order_id: str, why: str) -> None:
        reservation = self._reservations.pop(client_order_id, None)
        if reservation is not None:
            log.debug(
                "book.reservation_released",
                account=self.account_id,
                client_order_id=client_order_id,
                amount=str(reservation.amount),
                why=why,
            )

    def _release_seen(self) -> None:
        for client_order_id in [k for k, r in self._reservations.items() if r.seen_by_venue]:
            self._release(client_order_id, "balance")

    # --- positions, balance, info ---------------------------------------------------------

    def _set_position(self, position: Position, src: Event) -> list[Event]:
        symbol = position.symbol
        previous = self._positions.get(symbol)
        if position.quantity == 0:
            if previous is None:
                return []  # closed and already unknown to us: nothing differs
            del self._positions[symbol]
        elif position == previous:
            return []
        else:
            self._positions[symbol] = position
        return [
            PositionChanged(
                account_id=self.account_id,
                ts_event=src.ts_event,
                ts_recv=src.ts_recv,
                position=position,
                previous=previous,
            )
        ]

    def _set_balance(self, balance: Balance, src: Event) -> list[Event]:
        # Any balance the venue sends after it saw an order is assumed to include it.
        self._release_seen()
        if balance == self._balance:
            return []
        self._balance = balance
        return [
            BalanceChanged(
                account_id=self.account_id,
                ts_event=src.ts_event,
                ts_recv=src.ts_recv,
                balance=balance,
            )
        ]

    def _set_info(self, info: AccountInfo, src: Event) -> list[Event]:
        if info == self._info:
            return []
        self._info = info
        return [
            AccountInfoChanged(
                account_id=self.account_id, ts_event=src.ts_event, ts_recv=src.ts_recv, info=info
            )
        ]

    # --- snapshot -------------------------------------------------------------------------

    def _apply_snapshot(self, snapshot: AccountSnapshotReceived) -> list[Event]:
        baseline = not self._synced
        facts: list[Event] = []
        if snapshot.info is not None:
            if snapshot.info.account_id != self.account_id:
                self._log_foreign("info", snapshot.info.account_id, snapshot)
            else:
                facts += self._set_info(snapshot.info, snapshot)

        listed: set[str] = set()
        for order in snapshot.orders:
            if order.account_id != self.account_id:
                self._log_foreign("order", order.account_id, snapshot)
                continue
            listed.add(order.cl_ord_id)
            facts += self._apply_order(order, snapshot, via_snapshot=True, baseline=baseline)
        self._missing = set()
        for cl_ord_id, order in self._orders.items():
            if cl_ord_id not in listed and (
                order.status.is_open or order.status is OrderStatus.UNKNOWN
            ):
                self._missing.add(cl_ord_id)
                log.warning(
                    "book.snapshot_missing_order",
                    account=self.account_id,
                    cl_ord_id=cl_ord_id,
                    client_order_id=order.client_order_id,
                    status=str(order.status),
                )

        listed_symbols: set[str] = set()
        for position in snapshot.positions:
            if position.account_id != self.account_id:
                self._log_foreign("position", position.account_id, snapshot)
                continue
            listed_symbols.add(position.symbol)
            facts += self._set_position(position, snapshot)
        for symbol in sorted(set(self._positions) - listed_symbols):
            old = self._positions[symbol]
            closed = attrs.evolve(
                old,
                quantity=_ZERO,
                market_value=_ZERO,
                unrealized_pnl=_ZERO,
                updated_at=snapshot.ts_event or old.updated_at,
            )
            facts += self._set_position(closed, snapshot)

        if snapshot.balance is None:
            log.warning("book.snapshot_without_balance", account=self.account_id)
        elif snapshot.balance.account_id != self.account_id:
            self._log_foreign("balance", snapshot.balance.account_id, snapshot)
        else:
            facts += self._set_balance(snapshot.balance, snapshot)

        self._synced = True
        facts.append(
            AccountSynced(
                account_id=self.account_id,
                ts_event=snapshot.ts_event,
                ts_recv=snapshot.ts_recv,
                open_orders=len(self._open_orders),
                positions=len(self._positions),
            )
        )
        return facts

    def _log_foreign(self, kind: str, other_account: str, src: Event) -> None:
        log.warning(
            "book.foreign_event",
            account=self.account_id,
            other_account=other_account,
            kind=kind,
            event_type=type(src).__name__,
        )


def _same_state(a: Order, b: Order) -> bool:
    """The fields that make two reports of one order the same report."""
    return (
        a.status is b.status
        and a.cum_qty == b.cum_qty
        and a.leaves_qty == b.leaves_qty
        and a.avg_price == b.avg_price
        and a.price == b.price
        and a.stop_price == b.stop_price
        and a.qty == b.qty
    )


def _older(report: Order, known: Order) -> bool:
    """Whether ``report`` says it was last updated strictly before the stored order."""
    if report.updated_at is None or known.updated_at is None:
        return False
    try:
        return report.updated_at < known.updated_at
    except TypeError:  # naive vs aware: cannot tell, so not stale
        return False


def _round_price(value: Decimal) -> Decimal:
    """Half-even to 6 places, then trailing zeros trimmed but at least 2 places kept.

    The context holds every digit of the result, however absurd the venue's figures make it
    (the default 28 digits cannot hold 6 decimals of 10**22 and would raise).
    """
    context = decimal.Context(prec=max(28, value.adjusted() + 8))
    rounded = value.quantize(_PRICE_QUANTUM, rounding=decimal.ROUND_HALF_EVEN, context=context)
    trimmed = rounded.normalize(context)
    exponent = trimmed.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        return rounded.quantize(_MIN_PRICE_QUANTUM, context=context)
    return trimmed


def _latest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)
