"""What an account book holds per order: kept whole, against forgotten (a trace only).

    .venv/bin/python bench/book_memory.py [--orders 100000] [--retention 300]

One ``AccountBook`` is fed, for each order, what the engine feeds it for a placed order that
fills: the approved intent (with a reservation), the venue's ``NEW``, the REST answer
(``OrderPlaced``), a partial fill, the fill, then a balance. Orders arrive at 10 per second of
the clock the book is given. ``tracemalloc`` measures the live bytes allocated by the run:

* **baseline**: the same book never asked to forget (how every book behaved before
  ``forget_done``): every order of the run, whole;
* **forgetting**: ``forget_done`` called every ``--retention`` seconds as the account actor
  does; the figure at the end is the traces of the forgotten orders plus the orders done in the
  last one or two periods.

Prints bytes per order for both, and their ratio, and appends one JSON line to
bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Final

from engine.accounts.book import AccountBook
from engine.logging import configure_logging
from engine.model import (
    Balance,
    BalanceReported,
    Order,
    OrderIntent,
    OrderPlaced,
    OrderReported,
    OrderStatus,
    OrderType,
    Side,
)

RESULTS: Final = Path(__file__).with_name("results.jsonl")
ACCOUNT: Final = "ACC-001"
ORDERS_PER_SECOND: Final = 10
# The decoder memoises decimal strings, so the engine's reports share these objects too.
QTY: Final = Decimal(100)
PRICE: Final = Decimal("175.50")
ZERO: Final = Decimal(0)
FILLS: Final = {"0": ZERO, "40": Decimal(40), "60": Decimal(60), "100": QTY}


def feed(book: AccountBook, orders: int, *, retention: float | None) -> tuple[int, int]:
    """Run ``orders`` through ``book``; return (live bytes allocated, orders kept whole)."""
    bp = Decimal("100000.00")
    balance = BalanceReported(
        account_id=ACCOUNT,
        balance=Balance(account_id=ACCOUNT, stock_buying_power=bp, net_buying_power=bp),
    )
    gc.collect()
    tracemalloc.start(1)
    for n in range(orders):
        now = n / ORDERS_PER_SECOND
        client, cl = f"strategy-a-{n:08d}", f"SIM-{n:09d}"
        intent = OrderIntent(
            client_order_id=client,
            strategy="alpha",
            account_id=ACCOUNT,
            symbol="AAPL",
            side=Side.BUY,
            type=OrderType.LIMIT,
            qty=QTY,
            price=PRICE,
        )
        book.track_intent(intent, reserve=Decimal("17550"))
        for status, cum in (
            (OrderStatus.NEW, "0"),
            (OrderStatus.PARTIALLY_FILLED, "40"),
            (OrderStatus.FILLED, "100"),
        ):
            book.apply(OrderReported(account_id=ACCOUNT, order=_order(cl, client, status, cum)))
            if status is OrderStatus.NEW:
                book.apply(OrderPlaced(account_id=ACCOUNT, client_order_id=client, cl_ord_id=cl))
        book.apply(balance)
        if retention is not None and now >= book.forget_at:
            book.forget_done(now)
    gc.collect()
    live = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return live, book.statistics().orders_kept


def _order(cl: str, client: str, status: OrderStatus, cum: str) -> Order:
    filled = FILLS[cum]
    return Order(
        account_id=ACCOUNT,
        cl_ord_id=cl,
        client_order_id=client,
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=QTY,
        price=PRICE,
        status=status,
        cum_qty=filled,
        leaves_qty=ZERO if status.is_terminal else FILLS[str(QTY - filled)],
        avg_price=PRICE if filled else ZERO,
        last_qty=FILLS["40"] if status is OrderStatus.PARTIALLY_FILLED else None,
        last_px=PRICE if filled else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--retention", type=float, default=300.0, help="seconds")
    args = parser.parse_args()
    configure_logging("warning")

    whole, kept_whole = feed(AccountBook(ACCOUNT), args.orders, retention=None)
    book = AccountBook(ACCOUNT, done_retention=args.retention)
    forgetting, kept = feed(book, args.orders, retention=args.retention)
    traces = args.orders - kept
    print(f"{args.orders:,} orders at {ORDERS_PER_SECOND}/s, retention {args.retention:.0f} s")
    print(
        f"{'baseline (never forgets)':<28}{whole / 2**20:8.1f} MiB  "
        f"{whole / args.orders:7.0f} B/order  ({kept_whole:,} orders kept whole)"
    )
    print(
        f"{'forgetting':<28}{forgetting / 2**20:8.1f} MiB  "
        f"{forgetting / args.orders:7.0f} B/order  ({kept:,} kept whole, {traces:,} traces)"
    )
    print(f"{'ratio forgetting / baseline':<28}{forgetting / whole:8.3f}")
    result = {
        "bench": "book_memory",
        "orders": args.orders,
        "retention_s": args.retention,
        "baseline_bytes": whole,
        "forgetting_bytes": forgetting,
        "kept_whole": kept,
        "ratio": round(forgetting / whole, 4),
        "python": platform.python_version(),
        "at": time.time(),
    }
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
