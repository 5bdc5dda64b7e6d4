"""A scripted order gateway and helpers for running the dispatcher on trio's virtual clock."""

from __future__ import annotations

from decimal import Decimal

import attrs
import trio

from engine.bus import EventBus
from engine.dispatch import DispatcherStatistics, DispatchRequest, ThrottledDispatcher, TokenBucket
from engine.model import (
    CancelFailed,
    CancelRequest,
    Event,
    Order,
    OrderIntent,
    OrderPlaced,
    OrderPlaceFailed,
    OrderStatus,
    OrderType,
    ReplaceFailed,
    ReplaceRequest,
    Side,
    TimeInForce,
)
from tests.conftest import make_intent


@attrs.frozen
class Ack:
    """An answer of the fake venue (fits PlaceResult, CancelResult and ReplaceResult)."""

    success: bool
    cl_ord_id: str
    status: OrderStatus = OrderStatus.NEW
    reject_reason: str = ""
    text: str = ""


@attrs.frozen
class Call:
    """One request the gateway received: when (virtual time), what, and its arguments."""

    at: float
    kind: str  # "place", "cancel" or "replace"
    account_id: str
    label: str  # the client order id (place, replace) or the clOrdId (cancel)
    kwargs: dict[str, object] = attrs.field(factory=dict)


@attrs.define
class FakeGateway:
    """Records every call; raises the scripted failures of each kind first, in order."""

    calls: list[Call] = attrs.field(factory=list)
    place_failures: list[Exception] = attrs.field(factory=list)
    replace_failures: list[Exception] = attrs.field(factory=list)
    replace_acks: list[Ack] = attrs.field(factory=list)
    """Scripted replace answers; when empty, a success with ``NEW-<clientId>``."""

    def sent(self, kind: str | None = None) -> list[str]:
        """The labels of the calls (of ``kind``), in the order they were made."""
        return [c.label for c in self.calls if kind is None or c.kind == kind]

    def times(self, start: float, *, account_id: str | None = None) -> list[float]:
        """When the calls (for ``account_id``) were made, in seconds since ``start``."""
        return [
            round(c.at - start, 6)
            for c in self.calls
            if account_id is None or c.account_id == account_id
        ]

    async def place_order(self, intent: OrderIntent) -> Ack:
        self.calls.append(
            Call(trio.current_time(), "place", intent.account_id, intent.client_order_id)
        )
        await trio.lowlevel.checkpoint()
        if self.place_failures:
            raise self.place_failures.pop(0)
        return Ack(success=True, cl_ord_id=f"CL-{intent.client_order_id}")

    async def cancel_order(
        self, *, account_id: str, cl_ord_id: str, symbol: str, side: Side
    ) -> Ack:
        self.calls.append(Call(trio.current_time(), "cancel", account_id, cl_ord_id))
        await trio.lowlevel.checkpoint()
        return Ack(success=True, cl_ord_id=cl_ord_id)

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
    ) -> Ack:
        kwargs: dict[str, object] = {
            "cl_ord_id": cl_ord_id,
            "symbol": symbol,
            "side": side,
            "type": type,
            "qty": qty,
            "price": price,
            "stop_price": stop_price,
            "time_in_force": time_in_force,
            "client_id": client_id,
        }
        label = client_id or cl_ord_id
        self.calls.append(Call(trio.current_time(), "replace", account_id, label, kwargs))
        await trio.lowlevel.checkpoint()
        if self.replace_failures:
            raise self.replace_failures.pop(0)
        if self.replace_acks:
            return self.replace_acks.pop(0)
        return Ack(success=True, cl_ord_id=f"NEW-{label}")


@attrs.define
class FakeJournal:
    """Keeps what ``record_request`` was given."""

    requests: list[dict[str, object]] = attrs.field(factory=list)

    def record_request(
        self,
        *,
        method: str,
        path: str,
        outcome: str,
        body: object = None,
        status: int | None = None,
        response: object = None,
        account_id: str | None = None,
        ts_ns: int | None = None,
    ) -> None:
        self.requests.append(
            {
                "method": method,
                "path": path,
                "outcome": outcome,
                "body": body,
                "response": response,
                "account_id": account_id,
            }
        )


OUTCOMES = (OrderPlaced, OrderPlaceFailed, ReplaceFailed, CancelFailed)
"""The dispatcher's outcome events (``OrderReplaceAccepted`` is an ``OrderPlaced``)."""


@attrs.frozen
class Run:
    """What came of a dispatcher run: the outcomes published and the final counters."""

    events: list[Event]
    statistics: DispatcherStatistics


def make_dispatcher(
    gateway: FakeGateway,
    bus: EventBus,
    receive: trio.MemoryReceiveChannel[DispatchRequest],
    *,
    rate: float = 1000,
    burst: int = 1000,
    account_rate: float = 1000,
    account_burst: int = 1000,
    journal: FakeJournal | None = None,
) -> ThrottledDispatcher:
    """A dispatcher whose limits are all loose unless a test tightens them."""
    return ThrottledDispatcher(
        gateway,
        bus,
        receive,
        TokenBucket(rate, burst),
        journal=journal,
        account_rate=account_rate,
        account_burst=account_burst,
    )


async def run_dispatcher(
    gateway: FakeGateway,
    items: list[DispatchRequest],
    *,
    rate: float = 1000,
    burst: int = 1000,
    account_rate: float = 1000,
    account_burst: int = 1000,
    journal: FakeJournal | None = None,
) -> Run:
    """Queue ``items`` (all at once, before the dispatcher starts), run it until it has sent
    everything, and return the outcomes published on the bus."""
    bus = EventBus()
    outcomes = bus.subscribe("outcomes", accepts=OUTCOMES)
    send, receive = trio.open_memory_channel[DispatchRequest](len(items) + 1)
    dispatcher = make_dispatcher(
        gateway,
        bus,
        receive,
        rate=rate,
        burst=burst,
        account_rate=account_rate,
        account_burst=account_burst,
        journal=journal,
    )
    async with send:
        for item in items:
            await send.send(item)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
    bus.close()
    events: list[Event] = []
    while True:
        try:
            events += await outcomes.receive_batch()
        except trio.EndOfChannel:
            return Run(events, dispatcher.statistics())


def place(client_order_id: str, account_id: str = "A") -> OrderIntent:
    """A limit buy of 10 AAPL at 100."""
    return make_intent(client_order_id=client_order_id, account_id=account_id)


def cancel(cl_ord_id: str, account_id: str = "A") -> CancelRequest:
    """A cancel of the order whose clOrdId is ``cl_ord_id``."""
    return CancelRequest(
        account_id=account_id,
        client_order_id=f"c-{cl_ord_id}",
        cl_ord_id=cl_ord_id,
        symbol="AAPL",
        side=Side.BUY,
    )


def live_order(
    *,
    account_id: str = "A",
    cl_ord_id: str = "CL-1",
    client_order_id: str = "r1",
    type: OrderType = OrderType.LIMIT,
    qty: str = "10",
    price: str | None = "100",
    stop_price: str | None = None,
    time_in_force: TimeInForce = TimeInForce.DAY,
) -> Order:
    """A working order as the venue reported it."""
    return Order(
        account_id=account_id,
        cl_ord_id=cl_ord_id,
        client_order_id=client_order_id,
        symbol="AAPL",
        side=Side.BUY,
        type=type,
        qty=Decimal(qty),
        leaves_qty=Decimal(qty),
        price=None if price is None else Decimal(price),
        stop_price=None if stop_price is None else Decimal(stop_price),
        time_in_force=time_in_force,
        status=OrderStatus.NEW,
    )


def replace(
    old: Order,
    *,
    type: OrderType | None = None,
    qty: str | None = None,
    price: str | None = None,
    stop_price: str | None = None,
    time_in_force: TimeInForce | None = None,
    drop_price: bool = False,
) -> ReplaceRequest:
    """A replace of ``old`` with the given terms changed (the others as they are)."""
    client_order_id = old.client_order_id or "r1"
    intent = OrderIntent(
        client_order_id=client_order_id,
        strategy="s",
        account_id=old.account_id,
        symbol=old.symbol,
        side=old.side,
        type=type or old.type,
        qty=old.qty if qty is None else Decimal(qty),
        price=None if drop_price else (old.price if price is None else Decimal(price)),
        stop_price=old.stop_price if stop_price is None else Decimal(stop_price),
        time_in_force=time_in_force or old.time_in_force,
        replaces=old,
    )
    return ReplaceRequest(
        account_id=old.account_id,
        client_order_id=client_order_id,
        cl_ord_id=old.cl_ord_id,
        intent=intent,
    )
