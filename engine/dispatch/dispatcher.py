"""The only sender of order REST calls: throttled, cancels first, never a blind retry.

``ThrottledDispatcher`` drains one channel of ``OrderIntent`` (place), ``CancelRequest`` (cancel)
and ``ReplaceRequest`` (replace) items sent by the account actors.

Throttling: every request needs a token from two buckets, the global ``bucket`` (all accounts
together) and its account's own bucket (``account_rate`` per second, bursts of
``account_burst``, created when the account is first seen). A token is only taken when the request
is sent at once.

Order: pending cancels go first, then replaces, then new orders; within a kind, first come first
served. A request whose account has no token left does not hold up another account's: the
dispatcher sends the highest-priority request whose account can go now, and when none can it
sleeps until the earliest one can (waking early if a new request arrives).

Outcomes are published on the bus for the account actors: ``OrderPlaced`` (the venue assigned a
``clOrdId``), ``OrderPlaceFailed`` (refused; or ``outcome_unknown`` when the request may have
reached the venue — it is never re-sent, the account reconciles it from the stream),
``OrderReplaceAccepted`` (the order's new ``clOrdId``; the old one is now invalid, ARIES.md §8.8),
``ReplaceFailed`` (refused, the order stands; or ``outcome_unknown``, never re-sent) and
``CancelFailed``. A replace sends only the terms that differ from the replaced order; one that
changes nothing the venue can replace is refused here (``NOTHING_TO_REPLACE``), with no request
and no token. A 429/503 means the venue did not take the request, so it is retried after
``Retry-After`` (at most ``max_rate_limit_retries`` times) without taking another token; the
dispatcher sends nothing else meanwhile, since the venue's limit is not per account.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import partial
from typing import Protocol, TypeAlias, TypeVar

import attrs
import structlog
import trio

from engine.bus import EventBus
from engine.dispatch.throttle import TokenBucket
from engine.errors import AuthError, RateLimitedError, RequestError
from engine.model.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.model.events import (
    CancelFailed,
    Event,
    OrderPlaced,
    OrderPlaceFailed,
    OrderReplaceAccepted,
    ReplaceFailed,
)
from engine.model.orders import CancelRequest, OrderIntent, ReplaceRequest

log = structlog.get_logger(__name__)

DEFAULT_RETRY_AFTER = 1.0
PLACE_PATH = "/v1/orders"
REPLACE_PATH = "/v1/orders/replace"

DispatchRequest: TypeAlias = OrderIntent | CancelRequest | ReplaceRequest
"""What the account actors send the dispatcher."""

_T = TypeVar("_T")
_V = TypeVar("_V")

# Priorities: the index into ThrottledDispatcher._queues (lower goes first).
_CANCEL, _REPLACE, _PLACE = 0, 1, 2


class PlaceResult(Protocol):
    """What the REST client returns for a place request (read-only)."""

    @property
    def success(self) -> bool: ...
    @property
    def cl_ord_id(self) -> str: ...
    @property
    def status(self) -> OrderStatus: ...
    @property
    def reject_reason(self) -> str: ...
    @property
    def text(self) -> str: ...


class CancelResult(Protocol):
    """What the REST client returns for a cancel request (read-only)."""

    @property
    def success(self) -> bool: ...
    @property
    def text(self) -> str: ...


class ReplaceResult(Protocol):
    """What the REST client returns for a replace request (read-only).

    ``cl_ord_id`` is the order's new ``clOrdId`` when ``success``.
    """

    @property
    def success(self) -> bool: ...
    @property
    def cl_ord_id(self) -> str: ...
    @property
    def text(self) -> str: ...


class OrderGateway(Protocol):
    """The REST calls the dispatcher makes (``engine.aries.AriesRestClient`` in production)."""

    async def place_order(self, intent: OrderIntent) -> PlaceResult: ...

    async def cancel_order(
        self, *, account_id: str, cl_ord_id: str, symbol: str, side: Side
    ) -> CancelResult: ...

    async def replace_order(
        self,
        *,
        account_id: str,
        cl_ord_id: str,
        symbol: str,
        side: Side | None = None,
        type: OrderType | None = None,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
        client_id: str | None = None,
    ) -> ReplaceResult: ...


class RequestRecorder(Protocol):
    """Where outbound requests are recorded (``engine.journal.JournalWriter``)."""

    def record_request(
        self,
        *,
        method: str,
        path: str,
        outcome: str,
        body: object = ...,
        status: int | None = ...,
        response: object = ...,
        account_id: str | None = ...,
        ts_ns: int | None = ...,
    ) -> None: ...


@attrs.frozen
class _Failure:
    """A request that failed: the code and reason to report; ``unknown`` when it may have
    reached the venue anyway."""

    code: str
    reason: str
    unknown: bool = False


@attrs.frozen(kw_only=True)
class DispatcherStatistics:
    """Counters of the dispatcher (``queued``: requests waiting for a token)."""

    queued: int
    places_sent: int
    cancels_sent: int
    replaces_sent: int
    rate_limited: int
    failures: int
    unknown_outcomes: int


@attrs.frozen(kw_only=True)
class ReplaceTerms:
    """The terms a replace sends: those that differ from the replaced order (``None``: unchanged).

    A term removed by the new terms (a price dropped when a LIMIT becomes a MARKET) cannot be sent
    as such: the new ``type`` says it.
    """

    type: OrderType | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None

    @classmethod
    def of(cls, intent: OrderIntent) -> ReplaceTerms | None:
        """What ``intent`` changes in ``intent.replaces``; ``None`` if it replaces no order."""
        old = intent.replaces
        if old is None:
            return None
        return cls(
            type=_changed(intent.type, old.type),
            qty=_changed(intent.qty, old.qty),
            price=_changed(intent.price, old.price),
            stop_price=_changed(intent.stop_price, old.stop_price),
            time_in_force=_changed(intent.time_in_force, old.time_in_force),
        )

    @property
    def empty(self) -> bool:
        """True when there is nothing to send."""
        return all(
            term is None
            for term in (self.type, self.qty, self.price, self.stop_price, self.time_in_force)
        )

    def body(self) -> dict[str, str]:
        """The changed terms as JSON-able strings (for the journal)."""
        terms = {
            "type": self.type,
            "qty": self.qty,
            "price": self.price,
            "stopPrice": self.stop_price,
            "timeInForce": self.time_in_force,
        }
        return {name: str(value) for name, value in terms.items() if value is not None}


def _changed(new: _V, old: _V) -> _V | None:
    """``new`` if it differs from ``old`` (``Decimal`` compares by value: 100 == 100.00)."""
    return None if new == old else new


@attrs.frozen
class _Queued:
    """A request waiting for its tokens; ``seq`` is its arrival order."""

    seq: int
    request: DispatchRequest
    terms: ReplaceTerms | None = None


@attrs.define(eq=False)
class ThrottledDispatcher:
    """Sends orders, replaces and cancels through ``gateway``, within the global ``bucket`` and
    each account's own rate (``account_rate`` per second, bursts of ``account_burst``)."""

    gateway: OrderGateway
    bus: EventBus
    requests: trio.MemoryReceiveChannel[DispatchRequest]
    bucket: TokenBucket
    max_rate_limit_retries: int = 5
    journal: RequestRecorder | None = None
    account_rate: float = 5.0
    account_burst: int = 10
    halted: Callable[[str], bool] | None = None
    """True while an account is ``HALTED``: its queued places and replaces are then refused
    (``TRADING_STATE``) instead of sent, so a kill switch also stops what was already queued.
    Cancels always go."""
    _queues: tuple[dict[str, deque[_Queued]], ...] = attrs.field(
        factory=lambda: ({}, {}, {}), init=False
    )
    """Per priority (``_CANCEL``, ``_REPLACE``, ``_PLACE``), per account: waiting requests, FIFO.
    An account whose queue empties is removed, so every listed queue has a head."""
    _account_buckets: dict[str, TokenBucket] = attrs.field(factory=dict, init=False)
    _refused: deque[ReplaceFailed] = attrs.field(factory=deque, init=False)
    """Replaces refused before sending (nothing to change): published without a token."""
    _closed: bool = attrs.field(default=False, init=False)
    _seq: int = attrs.field(default=0, init=False)
    _queued: int = attrs.field(default=0, init=False)
    _places_sent: int = attrs.field(default=0, init=False)
    _cancels_sent: int = attrs.field(default=0, init=False)
    _replaces_sent: int = attrs.field(default=0, init=False)
    _rate_limited: int = attrs.field(default=0, init=False)
    _not_before: float = attrs.field(default=-math.inf, init=False)
    """No request goes before this (trio) time: the Retry-After of a 429 that ended retrying."""
    _failures: int = attrs.field(default=0, init=False)
    _unknown: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        # The same check as TokenBucket's, at construction rather than at the first request.
        TokenBucket(self.account_rate, self.account_burst)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send requests until every sender closed the channel and nothing is queued."""
        structlog.contextvars.bind_contextvars(actor="dispatch")
        task_status.started()
        async with self.requests:
            while True:
                self._drain_nowait()
                while self._refused:
                    await self.bus.publish(self._refused.popleft())
                if not self._queued:
                    if self._closed:
                        return
                    await self._receive()
                    continue
                picked = self._pick(trio.current_time())
                if isinstance(picked, _Queued):
                    await self._send(picked)
                else:
                    await self._wait(picked)

    def statistics(self) -> DispatcherStatistics:
        """Counters of requests sent and their outcomes."""
        return DispatcherStatistics(
            queued=self._queued,
            places_sent=self._places_sent,
            cancels_sent=self._cancels_sent,
            replaces_sent=self._replaces_sent,
            rate_limited=self._rate_limited,
            failures=self._failures,
            unknown_outcomes=self._unknown,
        )

    # --- queueing and throttling ---------------------------------------------------------------

    def _enqueue(self, item: DispatchRequest) -> None:
        terms: ReplaceTerms | None = None
        if isinstance(item, CancelRequest):
            priority = _CANCEL
        elif isinstance(item, ReplaceRequest):
            priority = _REPLACE
            terms = ReplaceTerms.of(item.intent)
            if terms is None or terms.empty:
                reason = (
                    "the replace names no order to amend"
                    if terms is None
                    else "the new terms change nothing the venue can replace"
                )
                self._refused.append(self._replace_failed(item, "NOTHING_TO_REPLACE", reason))
                return
        else:
            priority = _PLACE
        self._seq += 1
        queue = self._queues[priority].setdefault(item.account_id, deque())
        queue.append(_Queued(self._seq, item, terms))
        self._queued += 1

    def _drain_nowait(self) -> None:
        while not self._closed:
            try:
                self._enqueue(self.requests.receive_nowait())
            except trio.WouldBlock:
                return
            except trio.EndOfChannel:
                self._closed = True

    async def _receive(self) -> None:
        try:
            self._enqueue(await self.requests.receive())
        except trio.EndOfChannel:
            self._closed = True

    async def _wait(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less if a new request arrives (it may be able to go)."""
        if self._closed:
            await trio.sleep(delay)
            return
        with trio.move_on_after(delay):
            await self._receive()

    def _account_bucket(self, account_id: str) -> TokenBucket:
        bucket = self._account_buckets.get(account_id)
        if bucket is None:
            bucket = TokenBucket(self.account_rate, self.account_burst)
            self._account_buckets[account_id] = bucket
        return bucket

    def _pick(self, now: float) -> _Queued | float:
        """Dequeue the request to send now (its tokens taken), or return the seconds until one
        can go.

        The highest-priority request whose account has a token, the oldest among equals; nothing
        while the global bucket is empty.
        """
        account_waits: dict[str, float] = {}

        def account_wait(account_id: str) -> float:
            wait = account_waits.get(account_id)
            if wait is None:
                wait = account_waits[account_id] = self._account_bucket(account_id).wait_time(now)
            return wait

        global_wait = max(self.bucket.wait_time(now), self._not_before - now)
        if global_wait <= 0:
            global_wait = 0.0
            for queues in self._queues:
                chosen: str | None = None
                oldest = 0
                for account_id, queue in queues.items():
                    if (chosen is None or queue[0].seq < oldest) and not account_wait(account_id):
                        chosen, oldest = account_id, queue[0].seq
                if chosen is not None:
                    queue = queues[chosen]
                    item = queue.popleft()
                    if not queue:
                        del queues[chosen]
                    self._queued -= 1
                    self.bucket.take(now)
                    self._account_bucket(chosen).take(now)
                    return item
        earliest = min(account_wait(account_id) for queues in self._queues for account_id in queues)
        return max(global_wait, earliest)

    async def _send(self, item: _Queued) -> None:
        request = item.request
        with structlog.contextvars.bound_contextvars(account=request.account_id):
            await self._send_request(item, request)

    async def _send_request(self, item: _Queued, request: DispatchRequest) -> None:
        if isinstance(request, CancelRequest):
            await self._send_cancel(request)
        elif self.halted is not None and self.halted(request.account_id):
            reason = "the account was HALTED before the request was sent"
            log.warning(
                "dispatch.refused_halted",
                account=request.account_id,
                client_order_id=request.client_order_id,
            )
            if isinstance(request, ReplaceRequest):
                await self.bus.publish(self._replace_failed(request, "TRADING_STATE", reason))
            else:
                await self.bus.publish(self._place_failed(request, "TRADING_STATE", reason))
        elif isinstance(request, ReplaceRequest):
            assert item.terms is not None  # checked by _enqueue
            await self._send_replace(request, item.terms)
        else:
            await self._send_place(request)

    async def _request(
        self, call: Callable[[], Awaitable[_T]], client_order_id: str
    ) -> _T | _Failure:
        """``call()`` (retried on 429/503), or why it failed: the code and reason to report, and
        whether the request may have reached the venue anyway."""
        try:
            return await self._retrying_429(call, client_order_id)
        except RateLimitedError as exc:
            return _Failure("RATE_LIMITED", str(exc))
        except AuthError as exc:
            return _Failure(exc.code, str(exc))
        except RequestError as exc:
            return _Failure(exc.code or "REQUEST_FAILED", str(exc), exc.outcome_unknown)

    async def _retrying_429(self, call: Callable[[], Awaitable[_T]], client_order_id: str) -> _T:
        """``call()``, again after ``Retry-After`` while the venue answers 429/503.

        A rate-limited request was not taken by the venue, so sending it again cannot double it.
        Raises the last ``RateLimitedError`` after ``max_rate_limit_retries`` retries.
        """
        for _ in range(self.max_rate_limit_retries):
            try:
                return await call()
            except RateLimitedError as exc:
                self._rate_limited += 1
                await self._wait_retry_after(exc, client_order_id)
        try:
            return await call()
        except RateLimitedError as exc:
            self._rate_limited += 1
            # This request gives up, but the venue's pause holds for the next one too.
            delay = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER
            self._not_before = max(self._not_before, trio.current_time() + delay)
            raise

    async def _wait_retry_after(self, exc: RateLimitedError, client_order_id: str) -> None:
        delay = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER
        log.warning("dispatch.rate_limited", client_order_id=client_order_id, retry_after=delay)
        await trio.sleep(delay)

    def _record(self, path: str, account_id: str, body: dict[str, str], outcome: Event) -> None:
        if self.journal is None:
            return
        response: dict[str, str] | None
        if isinstance(outcome, OrderReplaceAccepted):
            result = "replaced"
            response = {"clOrdId": outcome.cl_ord_id, "origClOrdId": outcome.orig_cl_ord_id}
        elif isinstance(outcome, OrderPlaced):
            result, response = "placed", {"clOrdId": outcome.cl_ord_id}
        elif isinstance(outcome, OrderPlaceFailed | ReplaceFailed):
            result = "unknown" if outcome.outcome_unknown else "failed"
            response = {"code": outcome.code, "reason": outcome.reason}
        else:
            result, response = type(outcome).__name__, None
        self.journal.record_request(
            method="POST",
            path=path,
            outcome=result,
            account_id=account_id,
            body=body,
            response=response,
        )

    # --- places --------------------------------------------------------------------------------

    async def _send_place(self, intent: OrderIntent) -> None:
        outcome: Event
        self._places_sent += 1
        ack = await self._request(partial(self.gateway.place_order, intent), intent.client_order_id)
        if isinstance(ack, _Failure):
            outcome = self._place_failed(intent, ack.code, ack.reason, unknown=ack.unknown)
        elif ack.success and ack.cl_ord_id:
            log.info(
                "order.placed",
                client_order_id=intent.client_order_id,
                cl_ord_id=ack.cl_ord_id,
                status=ack.status,
            )
            outcome = OrderPlaced(
                account_id=intent.account_id,
                client_order_id=intent.client_order_id,
                cl_ord_id=ack.cl_ord_id,
            )
        else:
            outcome = self._place_failed(
                intent, "VENUE_REJECTED", ack.reject_reason or ack.text or str(ack.status)
            )
        body = {"clientId": intent.client_order_id}
        self._record(PLACE_PATH, intent.account_id, body, outcome)
        await self.bus.publish(outcome)

    def _place_failed(
        self, intent: OrderIntent, code: str, reason: str, *, unknown: bool = False
    ) -> OrderPlaceFailed:
        self._count_failure(intent.client_order_id, code, reason, unknown, "order.place_failed")
        return OrderPlaceFailed(
            account_id=intent.account_id,
            client_order_id=intent.client_order_id,
            code=code,
            reason=reason,
            outcome_unknown=unknown,
        )

    def _count_failure(
        self, client_order_id: str, code: str, reason: str, unknown: bool, event: str
    ) -> None:
        if unknown:
            self._unknown += 1
            log.error(
                "order.outcome_unknown", client_order_id=client_order_id, code=code, reason=reason
            )
        else:
            self._failures += 1
            log.warning(event, client_order_id=client_order_id, code=code, reason=reason)

    # --- replaces ------------------------------------------------------------------------------

    async def _send_replace(self, request: ReplaceRequest, terms: ReplaceTerms) -> None:
        """Send the changed ``terms``; an unknown outcome is reported, never re-sent."""
        outcome: OrderReplaceAccepted | ReplaceFailed
        self._replaces_sent += 1
        intent = request.intent
        call = partial(
            self.gateway.replace_order,
            account_id=request.account_id,
            cl_ord_id=request.cl_ord_id,
            symbol=intent.symbol,
            side=intent.side,
            type=terms.type,
            qty=terms.qty,
            price=terms.price,
            stop_price=terms.stop_price,
            time_in_force=terms.time_in_force,
            client_id=request.client_order_id,
        )
        ack = await self._request(call, request.client_order_id)
        if isinstance(ack, _Failure):
            outcome = self._replace_failed(request, ack.code, ack.reason, unknown=ack.unknown)
        elif ack.success and ack.cl_ord_id:
            log.info(
                "order.replaced",
                client_order_id=request.client_order_id,
                cl_ord_id=ack.cl_ord_id,
                orig_cl_ord_id=request.cl_ord_id,
            )
            outcome = OrderReplaceAccepted(
                account_id=request.account_id,
                client_order_id=request.client_order_id,
                cl_ord_id=ack.cl_ord_id,
                orig_cl_ord_id=request.cl_ord_id,
            )
        elif ack.success:  # accepted, but without the new handle: it may have been replaced
            reason = "replace accepted without the new clOrdId"
            outcome = self._replace_failed(request, "NO_CL_ORD_ID", reason, unknown=True)
        else:
            reason = ack.text or "replace refused"
            outcome = self._replace_failed(request, "VENUE_REJECTED", reason)
        body = {"clientId": request.client_order_id, "origClOrdId": request.cl_ord_id}
        self._record(REPLACE_PATH, request.account_id, body | terms.body(), outcome)
        await self.bus.publish(outcome)

    def _replace_failed(
        self, request: ReplaceRequest, code: str, reason: str, *, unknown: bool = False
    ) -> ReplaceFailed:
        self._count_failure(request.client_order_id, code, reason, unknown, "order.replace_failed")
        return ReplaceFailed(
            account_id=request.account_id,
            client_order_id=request.client_order_id,
            code=code,
            reason=reason,
            outcome_unknown=unknown,
        )

    # --- cancels -------------------------------------------------------------------------------

    async def _send_cancel(self, request: CancelRequest) -> None:
        self._cancels_sent += 1
        call = partial(
            self.gateway.cancel_order,
            account_id=request.account_id,
            cl_ord_id=request.cl_ord_id,
            symbol=request.symbol,
            side=request.side,
        )
        result = await self._request(call, request.client_order_id)
        if isinstance(result, _Failure):
            await self._cancel_failed(request, result.code, result.reason)
        elif not result.success:
            await self._cancel_failed(request, "VENUE_REJECTED", result.text)
        else:
            log.info(
                "order.cancel_sent",
                client_order_id=request.client_order_id,
                cl_ord_id=request.cl_ord_id,
            )

    async def _cancel_failed(self, request: CancelRequest, code: str, reason: str) -> None:
        self._failures += 1
        await self.bus.publish(
            CancelFailed(
                account_id=request.account_id,
                client_order_id=request.client_order_id,
                code=code,
                reason=reason,
            )
        )
