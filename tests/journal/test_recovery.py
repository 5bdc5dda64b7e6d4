"""Crash recovery: a killed writer leaves a consistent prefix; restore() gives the replay set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import attrs
import trio

from engine.accounts.actor import AccountActor, DispatchItem
from engine.accounts.book import BOOK_INPUT_TYPES, AccountBook
from engine.accounts.views import AccountViews
from engine.bus import EventBus
from engine.journal import REPLAY_KINDS, JournalReader, JournalWriter
from engine.model import (
    AccountSnapshotReceived,
    Event,
    OrderFilled,
    OrderPlaced,
    OrderReplaceAccepted,
    OrderReported,
    OrderStatus,
    OrderType,
    ReplaceFailed,
    RiskVerdict,
    Side,
    TradingState,
)
from engine.model.orders import Order
from tests.conftest import make_intent
from tests.journal.conftest import fill, journal_path

CHILD = textwrap.dedent(
    """
    import sys, trio
    from pathlib import Path
    from engine.journal import JournalWriter
    from tests.journal.conftest import fill

    async def main():
        writer = JournalWriter(path=Path(sys.argv[1]), batch_size=50, flush_interval=0.005)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            n = 0
            while True:
                for _ in range(20):
                    n += 1
                    writer.record_frame("accounts", f"frame {n}", n)
                    writer.record_event(fill(n))
                await trio.sleep(0.001)
                print("written", writer.statistics().written, flush=True)

    trio.run(main)
    """
)


def test_kill_9_mid_stream_leaves_a_consistent_prefix(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        assert child.stdout is not None
        for line in child.stdout:
            if time.monotonic() > deadline:
                break
            if line.startswith("written ") and int(line.split()[1]) >= 2000:
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    with JournalReader(path) as reader:
        assert reader._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        events = list(reader.events())
        frames = list(reader.frames())
    cums = [e.cum_qty for e in events if isinstance(e, OrderFilled)]
    assert len(cums) >= 1000
    assert cums == [Decimal(n) for n in range(1, len(cums) + 1)]  # no gap, no partial row
    assert [f.raw for f in frames] == [f"frame {n}" for n in range(1, len(frames) + 1)]
    # Frame n was recorded just before fill n: a prefix has as many, or one more.
    assert len(frames) - len(cums) in (0, 1)


def order(status: OrderStatus, cum: str, *, cl: str = "cl-1", client: str | None = "c-1") -> Order:
    return Order(
        account_id="ACC-1",
        cl_ord_id=cl,
        client_order_id=client,
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(10),
        price=Decimal(100),
        status=status,
        cum_qty=Decimal(cum),
        leaves_qty=Decimal(10) - Decimal(cum),
        avg_price=Decimal(100) if cum != "0" else Decimal(0),
    )


def test_replay_kinds_are_the_books_inputs() -> None:
    # Kinds match by exact class name, so the OrderPlaced subclass is listed too.
    assert set(REPLAY_KINDS) == {*BOOK_INPUT_TYPES, OrderReplaceAccepted}


async def test_restore_publishes_each_fill_exactly_once_across_a_crash(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    live = AccountBook(account_id="ACC-1")
    intent = make_intent(client_order_id="c-1", account_id="ACC-1")
    held = make_intent(client_order_id="c-held", account_id="ACC-1")
    refused = make_intent(client_order_id="c-no", account_id="ACC-1")
    inputs: list[Event] = [
        OrderPlaced(account_id="ACC-1", client_order_id="c-1", cl_ord_id="cl-1"),
        OrderReported(account_id="ACC-1", order=order(OrderStatus.NEW, "0")),
        OrderReported(account_id="ACC-1", order=order(OrderStatus.PARTIALLY_FILLED, "3")),
        OrderReported(account_id="ACC-1", order=order(OrderStatus.PARTIALLY_FILLED, "5")),
    ]
    writer = JournalWriter(path=path, retention=None)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for i in (intent, held, refused):
            writer.record_intent(i)
        writer.record_verdict("c-1", RiskVerdict.approve())
        writer.record_verdict("c-no", RiskVerdict.reject("MAX", "too big"))
        live.track_intent(intent, reserve=Decimal(1000))
        writer.record_event(fill(1, account_id="ACC-2"))  # another account: never restored
        published: list[Event] = []
        for n, event in enumerate(inputs):
            writer.record_event(event)
            assert isinstance(event, BOOK_INPUT_TYPES)
            outputs = live.apply(event)
            published += outputs
            if n < len(inputs) - 1:  # the crash: the last report's outputs never hit the disk
                for output in outputs:
                    writer.record_event(output)
        nursery.cancel_scope.cancel()
    live_fills = [e for e in published if isinstance(e, OrderFilled)]
    assert [(f.qty, f.cum_qty) for f in live_fills] == [
        (Decimal(3), Decimal(3)),
        (Decimal(2), Decimal(5)),
    ]

    with JournalReader(path) as reader:
        restored = reader.restore("ACC-1")
    assert restored.intents == [intent]
    assert restored.held_intents == [held]
    assert restored.reports == inputs
    assert restored.delivered_fill_keys == {("cl-1", Decimal(3))}

    # The restart: a fresh book, intents tracked, reports replayed silently.
    book = AccountBook(account_id="ACC-1")
    for i in restored.intents:
        book.track_intent(i, reserve=Decimal(1000))
    replayed: list[Event] = []
    for report in restored.reports:
        assert isinstance(report, BOOK_INPUT_TYPES)
        replayed += book.apply(report)
    (missed,) = restored.undelivered(replayed)
    assert (missed.qty, missed.cum_qty, missed.strategy) == (Decimal(2), Decimal(5), "s")
    # Then the venue's snapshot: only what happened while down is new.
    snapshot = AccountSnapshotReceived(
        account_id="ACC-1",
        info=None,
        balance=None,
        positions=(),
        orders=(order(OrderStatus.PARTIALLY_FILLED, "8"),),
    )
    after = [e for e in book.apply(snapshot) if isinstance(e, OrderFilled)]
    assert [(f.qty, f.cum_qty) for f in after] == [(Decimal(3), Decimal(8))]
    everything = [*live_fills[:1], missed, *after]
    assert sum(f.qty for f in everything) == Decimal(8)


async def test_restore_keeps_an_order_whose_replace_was_vetoed_or_refused(tmp_path: Path) -> None:
    """A replace is a second intent of the same id with its own verdict: a vetoed replace must
    not disown the order, and a refused one must give its reservation back, after a restart."""
    path = journal_path(tmp_path)
    intent = make_intent(client_order_id="c-1", account_id="ACC-1")
    old = order(OrderStatus.NEW, "0")
    vetoed = attrs.evolve(intent, price=Decimal(150), replaces=old)
    refused = attrs.evolve(intent, qty=Decimal(20), replaces=old)
    writer = JournalWriter(path=path, retention=None)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.record_intent(intent)
        writer.record_verdict("c-1", RiskVerdict.approve())
        writer.record_event(
            OrderPlaced(account_id="ACC-1", client_order_id="c-1", cl_ord_id="cl-1")
        )
        writer.record_event(OrderReported(account_id="ACC-1", order=old))
        writer.record_intent(vetoed)
        writer.record_verdict("c-1", RiskVerdict.reject("PRICE_BAND", "too far"))
        writer.record_intent(refused)
        writer.record_verdict("c-1", RiskVerdict.approve())
        writer.record_event(
            ReplaceFailed(account_id="ACC-1", client_order_id="c-1", code="409", reason="no")
        )
        nursery.cancel_scope.cancel()
    with JournalReader(path) as reader:
        restored = reader.restore("ACC-1")
    assert restored.intents == [intent]
    assert [type(item).__name__ for item in restored.timeline] == [
        "OrderIntent", "OrderPlaced", "OrderReported", "OrderIntent", "ReplaceFailed",
    ]  # fmt: skip
    send, _receive = trio.open_memory_channel[DispatchItem](1)
    actor = AccountActor(
        "ACC-1",
        EventBus(),
        AccountViews(),
        lambda i, v: RiskVerdict.approve(),
        send,
        restored=restored,
    )
    view = actor.book.view(TradingState.RECONCILING)
    assert actor.book.owner_of("c-1") == "s"
    assert [o.client_order_id for o in view.open_orders.values()] == ["c-1"]
    assert view.reserved_buying_power == Decimal(1000)  # 10 × 100; the refused +1000 given back
