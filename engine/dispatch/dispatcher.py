"""The only sender of order REST calls: throttled, cancels first, never a blind retry.

``ThrottledDispatcher`` drains one channel of ``OrderIntent`` (place) and ``CancelRequest``
(cancel) items sent by the account actors. Before every request it takes a token from the
bucket (``rate`` per second, bursts of ``burst``). Pending cancels go before pending places.

Outcomes are published on the bus for the account actors: ``OrderPlaced`` (the venue assigned a
``clOrdId``), ``OrderPlaceFailed`` (refused; or ``outcome_unknown`` when the request may have
reached the venue — it is never re-sent, the account reconciles it from the stream), and
``CancelFailed``. A 429/503 means the venue did not take the request, so it is retried after
``Retry-After`` (at most ``max_rate_limit_retries`` times).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol, TypeVar

import attrs
import structlog
import trio

from engine.bus import EventBus
from engine.dispatch.throttle import TokenBucket
from engine.errors import AuthError, RateLimitedError, RequestError
from engine.model.enums import OrderStatus, Side
from engine.model.events import CancelFailed, Event, OrderPlaced, OrderPlaceFailed
from engine.model.orders import CancelRequest, OrderIntent

log = structlog.get_logger(__name__)

DEFAULT_RETRY_AFTER = 1.0

_T = TypeVar("_T")


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


class OrderGateway(Protocol):
    """The REST calls the dispatcher makes (``engine.aries.AriesRestClient`` in production)."""

    async def place_order(self, intent: OrderIntent) -> PlaceResult: ...

    async def cancel_order(
        self, *, account_id: str, cl_ord_id: str, symbol: str, side: Side
    ) -> CancelResult: ...


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


@attrs.frozen(kw_only=True)
class DispatcherStatistics:
    """Counters of the dispatcher."""

    queued: int
    places_sent: int
    cancels_sent: int
    rate_limited: int
    failures: int
    unknown_outcomes: int


@attrs.define(eq=False)
class ThrottledDispatcher:
    """Sends orders and cancels through ``gateway`` at no more than the bucket's rate."""

    gateway: OrderGateway
    bus: EventBus
    requests: trio.MemoryReceiveChannel[OrderIntent | CancelRequest]
    bucket: TokenBucket
    max_rate_limit_retries: int = 5
    journal: RequestRecorder | None = None
    _places: deque[OrderIntent] = attrs.field(factory=deque, init=False)
    _cancels: deque[CancelRequest] = attrs.field(factory=deque, init=False)
    _places_sent: int = attrs.field(default=0, init=False)
    _cancels_sent: int = attrs.field(default=0, init=False)
    _rate_limited: int = attrs.field(default=0, init=False)
    _failures: int = attrs.field(default=0, init=False)
    _unknown: int = attrs.field(default=0, init=False)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send requests until every sender closed the channel and nothing is queued."""
        task_status.started()
        async with self.requests:
            while True:
                if not self._places and not self._cancels:
                    try:
                        self._enqueue(await self.requests.receive())
                    except trio.EndOfChannel:
                        return
                self._drain_nowait()
                delay = self.bucket.acquire(trio.current_time())
                if delay:
                    await trio.sleep(delay)
                    self._drain_nowait()
                if self._cancels:
                    await self._send_cancel(self._cancels.popleft())
                else:
                    await self._send_place(self._places.popleft())

    def statistics(self) -> DispatcherStatistics:
        """Counters of requests sent and their outcomes."""
        return DispatcherStatistics(
            queued=len(self._places) + len(self._cancels),
            places_sent=self._places_sent,
            cancels_sent=self._cancels_sent,
            rate_limited=self._rate_limited,
            failures=self._failures,
            unknown_outcomes=self._unknown,
        )

    def _enqueue(self, item: OrderIntent | CancelRequest) -> None:
        if isinstance(item, CancelRequest):
            self._cancels.append(item)
        else:
            self._places.append(item)

    def _drain_nowait(self) -> None:
        while True:
            try:
                self._enqueue(self.requests.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return

    async def _send_place(self, intent: OrderIntent) -> None:
        outcome: Event
        self._places_sent += 1
        try:
            ack = await self._retrying_429(
                partial(self.gateway.place_order, intent), intent.client_order_id
            )
        except RateLimitedError as exc:
            outcome = self._place_failed(intent, "RATE_LIMITED", str(exc))
        except AuthError as exc:
            outcome = self._place_failed(intent, exc.code, str(exc))
        except RequestError as exc:
            outcome = self._place_failed(
                intent, exc.code or "REQUEST_FAILED", str(exc), unknown=exc.outcome_unknown
            )
        else:
            if ack.success and ack.cl_ord_id:
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
        self._record("/v1/orders", intent.account_id, intent.client_order_id, outcome)
        await self.bus.publish(outcome)

    def _record(self, path: str, account_id: str, client_order_id: str, outcome: Event) -> None:
        if self.journal is None:
            return
        if isinstance(outcome, OrderPlaced):
            result, response = "placed", {"clOrdId": outcome.cl_ord_id}
        elif isinstance(outcome, OrderPlaceFailed):
            result = "unknown" if outcome.outcome_unknown else "failed"
            response = {"code": outcome.code, "reason": outcome.reason}
        else:
            result, response = type(outcome).__name__, None
        self.journal.record_request(
            method="POST",
            path=path,
            outcome=result,
            account_id=account_id,
            body={"clientId": client_order_id},
            response=response,
        )

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
        except RateLimitedError:
            self._rate_limited += 1
            raise

    async def _wait_retry_after(self, exc: RateLimitedError, client_order_id: str) -> None:
        delay = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER
        log.warning("dispatch.rate_limited", client_order_id=client_order_id, retry_after=delay)
        await trio.sleep(delay)

    def _place_failed(
        self, intent: OrderIntent, code: str, reason: str, *, unknown: bool = False
    ) -> OrderPlaceFailed:
        if unknown:
            self._unknown += 1
            log.error(
                "order.outcome_unknown",
                client_order_id=intent.client_order_id,
                code=code,
                reason=reason,
            )
        else:
            self._failures += 1
            log.warning(
                "order.place_failed",
                client_order_id=intent.client_order_id,
                code=code,
                reason=reason,
            )
        return OrderPlaceFailed(
            account_id=intent.account_id,
            client_order_id=intent.client_order_id,
            code=code,
            reason=reason,
            outcome_unknown=unknown,
        )

    async def _send_cancel(self, request: CancelRequest) -> None:
        self._cancels_sent += 1
        call = partial(
            self.gateway.cancel_order,
            account_id=request.account_id,
            cl_ord_id=request.cl_ord_id,
            symbol=request.symbol,
            side=request.side,
        )
        try:
            result = await self._retrying_429(call, request.client_order_id)
        except RateLimitedError as exc:
            await self._cancel_failed(request, "RATE_LIMITED", str(exc))
        except AuthError as exc:
            await self._cancel_failed(request, exc.code, str(exc))
        except RequestError as exc:
            await self._cancel_failed(request, exc.code or "REQUEST_FAILED", str(exc))
        else:
            if not result.success:
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
