"""The bench server of ``throughput.py``: canonical handshakes, then pre-framed data blasted.

It runs in its own process (``server_main``) and speaks the simulator's canonical messages
(``engine.sim._messages``) on two sockets, chosen by the resource
``/bench/<kind>/<per_frame>/<messages>/<symbols>/v1/<socket>/ws``:

* ``kind = quotes`` (market socket): ``authSuccess``, the ``marketStatus`` push, the subscribe
  ack, then ``messages`` quote events, symbols cycling over ``symbols`` names;
* ``kind = orders`` (accounts socket): ``authSuccess``, the ``account`` subscribe answered by
  ``subscribed`` with the account snapshot (no order, no position), then ``messages`` V2 order
  events (``account.order``), all distinct facts: see ``order_lines``.

The frames are encoded once with wsproto and written in 64 KiB ``send_all`` calls, so the server
is never the bottleneck (PERF-NOTES: a trio-websocket server caps at 30-40k frames/s). ``pong``
answers pings throughout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

import attrs
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    Request,
    TextMessage,
)

from engine.sim import _messages as msg
from engine.sim._ledger import (
    AccountInfo,
    AccountSnapshot,
    BalanceView,
    OrderUpdate,
    OrderView,
)
from engine.sim._market import Quote as SimQuote
from engine.sim._profile import ALL_FIELDS
from engine.sim._vocab import OrderType, OrdStatus, Side

CHUNK_BYTES = 64 * 1024
TOKEN = "bench-token"
ACCOUNT = "BENCH-ACC-001"
BLOCK_MESSAGES = 1000  # run lengths are whole blocks (and whole frames at 1 and 10 per frame)
ORDER_QTY = Decimal(100)
#: The cumQty of each event of one order: NEW, three partial fills of 25, FILLED.
ORDER_CUM_QTYS = tuple(Decimal(q) for q in (0, 25, 50, 75, 100))
EVENTS_PER_ORDER = len(ORDER_CUM_QTYS)
FILLS_PER_ORDER = EVENTS_PER_ORDER - 1
ORDERS_PER_BLOCK = BLOCK_MESSAGES // EVENTS_PER_ORDER
_START = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


def symbol_names(count: int) -> list[str]:
    """``count`` made-up symbols, ``S0000`` …"""
    return [f"S{n:04d}" for n in range(count)]


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def quote_lines(messages: int, symbols: Sequence[str]) -> list[str]:
    """``messages`` canonical quote events (as the simulator writes them), symbols cycling."""
    fields = frozenset({ALL_FIELDS})
    lines = []
    for n in range(messages):
        bid = Decimal(10000 + n % 500) / 100
        quote = SimQuote(
            symbol=symbols[n % len(symbols)],
            bid=bid,
            ask=bid + Decimal("0.02"),
            bid_size=100 + n % 7 * 100,
            ask_size=200 + n % 5 * 100,
        )
        event = msg.quote_event(quote, _START, fields)
        assert event is not None
        lines.append(_dumps(event))
    return lines


def _order(n: int, symbols: Sequence[str], created_at: datetime) -> OrderView:
    """Order ``n`` as first reported: a NEW day limit order of 100 placed by another app."""
    return OrderView(
        cl_ord_id=f"EXT-{n:07d}",
        ord_id=f"ord-bench-{n:07d}",
        account_id=ACCOUNT,
        client_id=f"other-app-{n:07d}",
        symbol=symbols[n % len(symbols)],
        side=Side.BUY if n % 2 == 0 else Side.SELL,
        type=OrderType.LIMIT,
        time_in_force="DAY",
        qty=ORDER_QTY,
        price=Decimal(10000 + n % 500) / 100,
        stop_price=None,
        status=OrdStatus.NEW,
        cum_qty=Decimal(0),
        leaves_qty=ORDER_QTY,
        avg_price=None,
        currency="USD",
        ex_destination="MNGD",
        text="",
        rej_reason="",
        created_at=created_at,
        updated_at=created_at,
    )


def order_lines(messages: int, symbols: Sequence[str]) -> list[str]:
    """``messages`` canonical ``account.order`` events, every one a distinct fact to apply.

    Orders come in blocks of ``ORDERS_PER_BLOCK`` working at once: each goes NEW →
    PARTIALLY_FILLED (cumQty 25, 50, 75, each with ``lastQty``/``lastPx``) → FILLED (100),
    the five events of one order ``ORDERS_PER_BLOCK`` messages apart, and every event one
    millisecond after the previous one (``updatedAt`` and the envelope's ``timestamp``). None
    is a duplicate or stale; the orders were placed elsewhere (``external``).
    """
    assert messages % BLOCK_MESSAGES == 0
    lines: list[str] = []
    for block in range(messages // BLOCK_MESSAGES):
        created = _START + timedelta(milliseconds=len(lines))
        orders = [
            _order(block * ORDERS_PER_BLOCK + i, symbols, created) for i in range(ORDERS_PER_BLOCK)
        ]
        for previous_cum, cum in zip((None, *ORDER_CUM_QTYS), ORDER_CUM_QTYS, strict=False):
            if cum == 0:
                status = OrdStatus.NEW
            elif cum < ORDER_QTY:
                status = OrdStatus.PARTIALLY_FILLED
            else:
                status = OrdStatus.FILLED
            last_qty = None if previous_cum is None else cum - previous_cum
            for order in orders:
                now = _START + timedelta(milliseconds=len(lines) + 1)
                view = attrs.evolve(
                    order,
                    status=status,
                    cum_qty=cum,
                    leaves_qty=ORDER_QTY - cum,
                    avg_price=order.price if cum else None,
                    updated_at=now,
                )
                update = OrderUpdate(
                    account_id=ACCOUNT,
                    order=view,
                    last_qty=last_qty,
                    last_px=order.price if last_qty is not None else None,
                )
                lines.append(_dumps(msg.account_event(update, now)))
    return lines


def account_snapshot_reply(request_id: str | None, now: datetime) -> dict[str, Any]:
    """The ``subscribed`` reply to the ``account`` subscribe: the account's state (§4.3), with
    its balance, no position and no order (every order of the run is new)."""
    money = Decimal
    balance = BalanceView(
        account_id=ACCOUNT,
        cash=money("100000.00"),
        sod_positions_market_value=money("0"),
        net_buying_power=money("500000.00"),
        stock_buying_power=money("500000.00"),
        day_trade_buying_power=money("200000.00"),
        option_buying_power=money("100000.00"),
        day_trade_overnight_reg_t_buying_power=money("200000.00"),
        total_equity=money("250000.00"),
        settled_funds=money("100000.00"),
        unsettled_funds=money("0"),
        held_back_funds=money("0"),
        gross_margin=money("0"),
        pending_orders_margin_requirements=money("0"),
        maint_req=money("0"),
        credit_multiplier=money("2"),
        pending_orders_count=0,
        realized_pl=money("0"),
        unrealized_pl=money("0"),
        start_of_day_cash=money("100000.00"),
        value_bought=money("0"),
        value_sold=money("0"),
    )
    info = AccountInfo(
        account_id=ACCOUNT,
        account_type="MARGIN",
        account_class="INDIVIDUAL",
        options_level="LEVEL_2",
        status="OPEN",
    )
    snapshot = AccountSnapshot(info=info, balance=balance, positions=(), orders=())
    return msg.subscribed(
        request_id, "account", {"accountId": ACCOUNT}, now, msg.account_snapshot(snapshot)
    )


def frame_blob(ws: WSConnection, lines: Sequence[str], per_frame: int) -> bytes:
    """The WebSocket frames of ``lines``, ``per_frame`` newline-separated messages each."""
    return b"".join(
        ws.send(Message(data="\n".join(lines[i : i + per_frame])))
        for i in range(0, len(lines), per_frame)
    )


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


@attrs.define(eq=False)
class Payloads:
    """What the server sends: the order events of a run, made once at start-up (they are all
    distinct, so they cannot be a repeated block), and their frames, made once per case."""

    orders: list[str]
    order_frames: dict[int, bytes] = attrs.field(factory=dict)


@attrs.frozen
class Case:
    """What a client asked for, from the resource it opened."""

    kind: str
    per_frame: int
    messages: int
    symbols: int

    @classmethod
    def parse(cls, target: str) -> Case:
        """``/bench/<kind>/<per_frame>/<messages>/<symbols>/…``"""
        parts = target.strip("/").split("/")
        return cls(parts[1], int(parts[2]), int(parts[3]), int(parts[4]))


RequestHandler = Callable[[dict[str, Any], datetime, trio.Nursery], Awaitable[None]]


async def serve_websocket(
    stream: trio.SocketStream,
    ws: WSConnection,
    send: Callable[[bytes], Awaitable[None]],
    on_target: Callable[[str], None],
    on_request: RequestHandler,
) -> None:
    """A bench server's WebSocket loop: accept the handshake (``on_target`` gets its resource),
    answer pings and the close, and hand each client message, parsed, to ``on_request`` with
    the time and a nursery for what it starts (cancelled when the client goes)."""
    async with trio.open_nursery() as nursery:
        text: list[str] = []
        while True:
            data = await stream.receive_some(65536)
            if not data:
                nursery.cancel_scope.cancel()
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    on_target(event.target)
                    await send(ws.send(AcceptConnection()))
                elif isinstance(event, Ping):
                    await send(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    await send(ws.send(event.response()))
                    nursery.cancel_scope.cancel()
                    return
                elif isinstance(event, TextMessage):
                    text.append(event.data)
                    if event.message_finished:
                        request = json.loads("".join(text))
                        text.clear()
                        await on_request(request, datetime.now(UTC), nursery)


async def serve_connection(stream: trio.SocketStream, payloads: Payloads) -> None:
    """One client: handshake, auth, subscribe, then the data; answers pings throughout."""
    ws = WSConnection(ConnectionType.SERVER)
    lock = trio.Lock()

    async def send(data: bytes | memoryview) -> None:
        async with lock:
            await stream.send_all(data)

    async def send_json(message: dict[str, Any]) -> None:
        await send(ws.send(Message(data=json.dumps(message))))

    async def blast_quotes(case: Case) -> None:
        # One block of whole frames holding 1000 quotes, written again and again.
        lines = quote_lines(BLOCK_MESSAGES, symbol_names(case.symbols))
        block = frame_blob(ws, lines, case.per_frame)
        repeat = max(1, CHUNK_BYTES // len(block))
        chunk = block * repeat
        sent = 0
        while sent < case.messages:
            if case.messages - sent >= BLOCK_MESSAGES * repeat:
                await send(chunk)
                sent += BLOCK_MESSAGES * repeat
            else:
                await send(block)
                sent += BLOCK_MESSAGES

    async def blast_orders(case: Case) -> None:
        # Frames do not depend on the connection (no extension is negotiated): made once.
        blob = payloads.order_frames.get(case.per_frame)
        if blob is None:
            blob = frame_blob(ws, payloads.orders, case.per_frame)
            payloads.order_frames[case.per_frame] = blob
        assert case.messages == len(payloads.orders)
        view = memoryview(blob)
        for offset in range(0, len(view), CHUNK_BYTES):
            await send(view[offset : offset + CHUNK_BYTES])

    case: Case | None = None

    def on_target(target: str) -> None:
        nonlocal case
        case = Case.parse(target)

    async def on_request(request: dict[str, Any], now: datetime, nursery: trio.Nursery) -> None:
        kind = request.get("type")
        request_id = request.get("id")
        assert case is not None
        if kind == "request":  # /auth
            await send_json(msg.auth_success(request_id, now, 3_900_000))
            if case.kind == "quotes":
                await send_json(msg.market_status(now))
        elif kind == "subscribe" and case.kind == "quotes":
            wanted = [item["symbol"] for item in request["payload"]]
            await send_json(msg.market_subscribed(request_id, wanted))
            nursery.start_soon(blast_quotes, case)
        elif kind == "subscribe":
            assert request["params"]["accountId"] == ACCOUNT
            await send_json(account_snapshot_reply(request_id, now))
            nursery.start_soon(blast_orders, case)
        elif kind == "ping":
            await send_json(msg.pong(request_id, now))

    try:
        await serve_websocket(stream, ws, send, on_target, on_request)
    except* (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client hung up (trio wraps errors from the nursery in a group)


def server_main(pipe: Connection, cpu: int | None, order_messages: int, symbols: int) -> None:
    """Entry point of the server process: make the order events, report the port, serve until
    killed."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    payloads = Payloads(orders=order_lines(order_messages, symbol_names(symbols)))

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        pipe.send(listeners[0].socket.getsockname()[1])

        async def handler(stream: trio.SocketStream) -> None:
            await serve_connection(stream, payloads)

        await trio.serve_listeners(handler, listeners)

    trio.run(main)
