"""Records journaled per second by ``JournalWriter``, against a bare ``executemany``.

    .venv/bin/python bench/journal.py [--records 40000] [--rounds 2] [--chunk 10] [--rate 15000]

Workloads (each ``--records`` records, built before any timing):

* ``mixed`` — what the live engine journals, in recording order: per 10 records, 7 raw market
  frames (``record_frame``, 10 newline-separated quote messages each, as the market socket packs
  them) and one each of ``OrderFilled``, ``OrderUpdated`` and ``BalanceChanged``
  (``record_event``). Quotes never reach the events table (the engine journals market data as raw
  frames only), so frames are what a fast feed puts into the journal.
* ``frames`` — raw market frames only, 10 quotes per frame: issue 8 item 2's feed.
* ``events`` — the three account events only, in equal thirds: the encode-heavy case.

Baseline, same run, same file: a bare ``sqlite3`` connection from ``engine.journal.schema.connect``
(WAL, ``synchronous = NORMAL``, the journal's schema) inserting the same rows, **pre-encoded**
(the codec's JSON computed before timing), in batches of the writer's ``batch_size``: one
``BEGIN IMMEDIATE`` … ``executemany`` per table … ``COMMIT`` per batch, as the writer does.

Engine: a real ``JournalWriter`` (default settings: batch 500, tick 0.2 s, buffer 100,000) runs
under trio on the same file. A producer task calls ``record_frame`` / ``record_event`` as fast as
it can, yielding (``trio.lowlevel.checkpoint()``, i.e. ``trio.sleep(0)``) every ``--chunk`` records
as the engine's socket and bus tasks do between frames; the writer encodes and inserts in its
worker thread. The clock runs from the first record until every record is committed or dropped
(``statistics().pending == 0``, awaited on an event set by a trio instrument after the writer's
steps — a ``trio.sleep(0)`` poll would keep the trio thread busy and starve the worker thread of
the GIL, the paced ``busy`` case below). Reported: rows committed per second end to end (encode +
write), the producer's cost per ``record_*`` call (µs, timed around each chunk of calls), the most
records waiting, and the records dropped because the buffer was full. Rounds alternate baseline and
engine on one temp file per workload (this VM drifts); the figures are the best round of each.

Paced check (``--rate``, default 15,000 frames/s: item 2's 150,000 quotes/s at 10 per frame, 0
skips it): frames recorded at that rate for 2 s, with the trio thread ``idle`` between frames
(sleeping until the next is due) and then ``busy`` (spinning on checkpoints, as when the
engine's trio thread is saturated by the feed and competes with the writer thread for the GIL).
Reports what was committed while fed, the backlog, and when the 100,000-record buffer would fill
(and records start being dropped) at that deficit. Prints the tables and appends one JSON line
to bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
import trio

from engine.journal.codec import JournalCodec
from engine.journal.schema import connect
from engine.journal.writer import JournalWriter
from engine.model import (
    Balance,
    BalanceChanged,
    Order,
    OrderFilled,
    OrderStatus,
    OrderType,
    OrderUpdated,
    Side,
)
from engine.model.events import Event

RESULTS = Path(__file__).with_name("results.jsonl")
ACCOUNT = "BENCH-001"
ENDPOINT = "market"
START_NS = 1_735_830_000 * 1_000_000_000
BATCH = JournalWriter(Path("unused.sqlite")).batch_size  # the writer's default (opens nothing)
PACED_S = 2.0  # seconds of paced feed
POOL = 997  # distinct objects per kind, cycled (the writer encodes each record anyway)
SYMBOLS = tuple(f"S{n:02d}" for n in range(50))
WORKLOADS = ("mixed", "frames", "events")

# One record: ("frame", text, ts_recv) or ("event", event).
Record = tuple[Any, ...]


# --- the workload --------------------------------------------------------------------------


def quote_message(n: int, ts_ms: int) -> str:
    """One quote event as the market socket sends it (see ``engine.sim._messages``)."""
    bid = Decimal(10000 + (n * 37) % 5000) / 100
    data = {
        "symbol": SYMBOLS[n % len(SYMBOLS)],
        "bidPrice": str(bid),
        "bidSize": str(100 + n % 900),
        "askPrice": str(bid + Decimal("0.01")),
        "askSize": str(200 + n % 700),
        "quoteTimestamp": "2025-01-02T10:00:00.123-05:00",
    }
    payload = {"action": "update", "type": "quote", "data": data, "timestamp": ts_ms}
    return json.dumps({"type": "event", "payload": payload}, separators=(",", ":"))


def make_frames(per_frame: int = 10) -> list[str]:
    ts_ms = START_NS // 1_000_000
    return [
        "\n".join(quote_message(f * per_frame + m, ts_ms + f) for m in range(per_frame))
        for f in range(POOL)
    ]


def make_events() -> list[list[Event]]:
    """``POOL`` each of OrderFilled, OrderUpdated and BalanceChanged."""
    fills: list[Event] = []
    updates: list[Event] = []
    balances: list[Event] = []
    for n in range(POOL):
        symbol = SYMBOLS[n % len(SYMBOLS)]
        price = Decimal(10000 + (n * 37) % 5000) / 100
        side = Side.BUY if n % 2 == 0 else Side.SELL
        ts = START_NS + n * 1000
        fills.append(
            OrderFilled(
                account_id=ACCOUNT,
                cl_ord_id=f"C-{n}",
                client_order_id=f"bench-{n}",
                symbol=symbol,
                side=side,
                qty=Decimal(100),
                price=price,
                cum_qty=Decimal(100),
                leaves_qty=Decimal(0),
                strategy="bench",
                ts_recv=ts,
            )
        )
        order = Order(
            account_id=ACCOUNT,
            cl_ord_id=f"C-{n}",
            client_order_id=f"bench-{n}",
            venue_order_id=f"V-{n}",
            symbol=symbol,
            side=side,
            type=OrderType.LIMIT,
            qty=Decimal(100),
            price=price,
            status=OrderStatus.FILLED,
            cum_qty=Decimal(100),
            avg_price=price,
            last_qty=Decimal(100),
            last_px=price,
        )
        updates.append(
            OrderUpdated(
                account_id=ACCOUNT,
                order=order,
                previous_status=OrderStatus.NEW,
                strategy="bench",
                ts_recv=ts,
            )
        )
        balance = Balance(
            account_id=ACCOUNT,
            net_buying_power=Decimal(2_000_000) - n,
            stock_buying_power=Decimal(2_000_000) - n,
            day_trade_buying_power=Decimal(4_000_000) - n,
            option_buying_power=Decimal(500_000),
            total_equity=Decimal(1_000_000) + price,
            settled_funds=Decimal(250_000),
            maint_req=Decimal(250_000),
            realized_pl=Decimal(-1200) + price,
            unrealized_pl=Decimal(3400) - price,
        )
        balances.append(BalanceChanged(account_id=ACCOUNT, balance=balance, ts_recv=ts))
    return [fills, updates, balances]


def make_records(workload: str, count: int) -> list[Record]:
    frames = make_frames()
    events = make_events()
    records: list[Record] = []
    for n in range(count):
        ts = START_NS + n * 1000
        if workload == "frames" or (workload == "mixed" and n % 10 < 7):
            records.append(("frame", frames[n % POOL], ts))
        else:
            kind = n % 3 if workload == "events" else n % 10 - 7
            records.append(("event", events[kind][(n // 10) % POOL]))
    return records


# --- baseline: bare executemany of pre-encoded rows ------------------------------------------


def encode_rows(records: list[Record], first_seq: int) -> list[tuple[str, tuple[Any, ...]]]:
    """The rows the writer would insert for ``records`` (same columns, same JSON)."""
    codec = JournalCodec()
    rows: list[tuple[str, tuple[Any, ...]]] = []
    for seq, record in enumerate(records, first_seq):
        if record[0] == "frame":
            rows.append(("frames", (seq, record[2], ENDPOINT, record[1])))
        else:
            event = record[1]
            name, payload = codec.encode(event)
            ts_event = None if event.ts_event is None else event.ts_event.isoformat()
            rows.append(("events", (seq, event.ts_recv, ts_event, name, ACCOUNT, payload)))
    return rows


def run_baseline(path: Path, rows: list[tuple[str, tuple[Any, ...]]]) -> float:
    """Insert ``rows`` in batches of ``BATCH``; return rows per second."""
    conn = connect(path)
    sql = {
        "frames": "INSERT INTO frames VALUES (NULL,?,?,?,?)",
        "events": "INSERT INTO events VALUES (NULL,?,?,?,?,?,?)",
    }
    try:
        t0 = time.perf_counter()
        for start in range(0, len(rows), BATCH):
            by_table: dict[str, list[tuple[Any, ...]]] = {"frames": [], "events": []}
            for table, row in rows[start : start + BATCH]:
                by_table[table].append(row)
            conn.execute("BEGIN IMMEDIATE")
            for table, table_rows in by_table.items():
                if table_rows:
                    conn.executemany(sql[table], table_rows)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    return len(rows) / elapsed


def next_seq(path: Path) -> int:
    conn = connect(path)
    try:
        row = conn.execute(
            "SELECT max(m) FROM (SELECT max(seq) AS m FROM frames "
            "UNION ALL SELECT max(seq) FROM events)"
        ).fetchone()
    finally:
        conn.close()
    return int(row[0] or 0) + 1


# --- engine: JournalWriter under trio --------------------------------------------------------


@dataclass
class EngineRun:
    rows_per_s: float
    record_us: float
    produce_s: float
    elapsed_s: float
    written: int
    dropped: int
    max_pending: int


class _Drained(trio.abc.Instrument):
    """Sets ``event`` after the first task step that leaves ``journal`` with nothing pending.

    A trio instrument is how the bench waits on the writer without a hook in engine code and
    without spinning: a ``trio.sleep(0)`` loop keeps the trio thread busy and starves the
    writer's worker thread of the GIL (see ``--busy``).
    """

    def __init__(self, journal: JournalWriter) -> None:
        self.journal = journal
        self.event = trio.Event()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if not self.event.is_set() and not self.journal.statistics().pending:
            self.event.set()


async def _settle(journal: JournalWriter) -> int:
    """Wait until nothing is buffered or being written; return ``written``."""
    if journal.statistics().pending:
        drained = _Drained(journal)
        trio.lowlevel.add_instrument(drained)
        try:
            await drained.event.wait()
        finally:
            trio.lowlevel.remove_instrument(drained)
    return journal.statistics().written


async def _engine(path: Path, records: list[Record], chunk: int) -> EngineRun:
    journal = JournalWriter(path)
    record_frame = journal.record_frame
    record_event = journal.record_event
    timer = time.perf_counter_ns
    async with trio.open_nursery() as nursery:
        await nursery.start(journal.run)
        written0 = journal.statistics().written
        in_calls = 0
        max_pending = 0
        t0 = time.perf_counter()
        for start in range(0, len(records), chunk):
            c0 = timer()
            for record in records[start : start + chunk]:
                if record[0] == "frame":
                    record_frame(ENDPOINT, record[1], record[2])
                else:
                    record_event(record[1])
            in_calls += timer() - c0
            max_pending = max(max_pending, journal.statistics().pending)
            await trio.lowlevel.checkpoint()
        produced = time.perf_counter()
        written = await _settle(journal) - written0
        elapsed = time.perf_counter() - t0
        stats = journal.statistics()
        nursery.cancel_scope.cancel()
    return EngineRun(
        rows_per_s=written / elapsed,
        record_us=in_calls / len(records) / 1000,
        produce_s=produced - t0,
        elapsed_s=elapsed,
        written=written,
        dropped=stats.dropped,
        max_pending=max_pending,
    )


async def _paced(path: Path, frames: list[str], rate: float, busy: bool) -> dict[str, Any]:
    """Record frames at ``rate`` per second for ``PACED_S``; report drops and backlog.

    Between frames the trio thread sleeps until the next one is due (``busy`` false: an engine
    with CPU to spare) or spins on ``trio.sleep(0)`` (``busy`` true: an engine whose trio thread
    is saturated, as it is at item 2's rates, and competes with the writer thread for the GIL).
    """
    journal = JournalWriter(path)
    async with trio.open_nursery() as nursery:
        await nursery.start(journal.run)
        written0 = journal.statistics().written
        total = int(rate * PACED_S)
        max_pending = 0
        start = trio.current_time()
        for n in range(total):
            deadline = start + n / rate  # pacing the feed, not waiting for the journal
            if busy:
                while trio.current_time() < deadline:  # spins on purpose
                    await trio.lowlevel.checkpoint()
            elif trio.current_time() < deadline:
                await trio.sleep_until(deadline)
            journal.record_frame(ENDPOINT, frames[n % len(frames)], START_NS + n)
            max_pending = max(max_pending, journal.statistics().pending)
            await trio.lowlevel.checkpoint()
        fed = trio.current_time() - start
        backlog = journal.statistics().pending
        written = await _settle(journal) - written0
        drained = trio.current_time() - start
        stats = journal.statistics()
        nursery.cancel_scope.cancel()
    return {
        "trio_thread": "busy" if busy else "idle",
        "rate": rate,
        "frames": total,
        "achieved_rate": round(total / fed),
        "written": written,
        "dropped": stats.dropped,
        "max_pending": max_pending,
        "backlog_at_end": backlog,
        "drain_s": round(drained - fed, 3),
        # rows/s the writer sustained while fed: what it committed during the feed
        "fed_rows_s": round((total - backlog) / fed),
        # at the backlog's growth rate, seconds until the buffer is full and records are dropped
        "buffer_full_s": round(journal.max_buffer / (backlog / fed), 1) if backlog > 1000 else None,
    }


def run_engine(path: Path, records: list[Record], chunk: int) -> EngineRun:
    return trio.run(_engine, path, records, chunk)


# --- the bench -------------------------------------------------------------------------------


def measure(workload: str, count: int, rounds: int, chunk: int, tmp: Path) -> dict[str, Any]:
    records = make_records(workload, count)
    path = tmp / f"{workload}.sqlite"
    base: list[float] = []
    runs: list[EngineRun] = []
    for _ in range(rounds):
        rows = encode_rows(records, next_seq(path))  # not timed: the baseline's rows are ready
        base.append(run_baseline(path, rows))
        runs.append(run_engine(path, records, chunk))
    best = max(runs, key=lambda r: r.rows_per_s)
    base_best = max(base)
    return {
        "workload": workload,
        "records": count,
        "base_rows_s": round(base_best),
        "journal_rows_s": round(best.rows_per_s),
        "ratio": round(best.rows_per_s / base_best, 2),
        "record_us": round(statistics.median(r.record_us for r in runs), 2),
        "produce_rate": round(count / best.produce_s),
        "written": best.written,
        "dropped": max(r.dropped for r in runs),
        "max_pending": max(r.max_pending for r in runs),
        "base_rounds": [round(b) for b in base],
        "journal_rounds": [round(r.rows_per_s) for r in runs],
    }


def quiet_logging() -> None:
    """Warnings and up only: the bench measures the journal, not debug logging."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=40_000, help="records per workload")
    parser.add_argument("--rounds", type=int, default=2, help="baseline/engine rounds")
    parser.add_argument("--chunk", type=int, default=10, help="records between producer yields")
    parser.add_argument(
        "--rate", type=float, default=15_000, help="paced frames/s check (0 to skip)"
    )
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    args = parser.parse_args()
    quiet_logging()
    paced: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="journal-bench-") as tmp:
        rows = [
            measure(workload, args.records, args.rounds, args.chunk, Path(tmp))
            for workload in args.workloads
        ]
        if args.rate > 0:
            for busy in (False, True):
                pace_path = Path(tmp) / f"paced-{'busy' if busy else 'idle'}.sqlite"
                paced.append(trio.run(_paced, pace_path, make_frames(), args.rate, busy))
    print_table(rows, paced, args)
    result: dict[str, Any] = {
        "bench": "journal",
        "batch_size": BATCH,
        "chunk": args.chunk,
        "rounds": args.rounds,
        "workloads": rows,
        "paced": paced,
        "at": time.time(),
    }
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(result) + "\n")


def print_table(rows: list[dict[str, Any]], paced: list[dict[str, Any]], args: Any) -> None:
    def fmt(value: float) -> str:
        return f"{value:,.0f}"

    print(
        f"records per workload {args.records:,}, batch {BATCH}, producer yields every "
        f"{args.chunk}, best of {args.rounds} rounds"
    )
    head = (
        f"{'workload':<8} {'executemany rows/s':>19} {'journal rows/s':>15} {'ratio':>6} "
        f"{'µs/record':>10} {'produced/s':>11} {'max pending':>12} {'dropped':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['workload']:<8} {fmt(r['base_rows_s']):>19} {fmt(r['journal_rows_s']):>15} "
            f"{r['ratio']:>5.2f}x {r['record_us']:>10.2f} {fmt(r['produce_rate']):>11} "
            f"{fmt(r['max_pending']):>12} {fmt(r['dropped']):>8}"
        )
    if paced:
        print()
        head = (
            f"{'paced frames, trio thread':<26} {'fed/s':>8} {'committed/s while fed':>22} "
            f"{'max pending':>12} {'backlog at end':>15} {'drain s':>8} {'dropped':>8} "
            f"{'buffer full in':>15}"
        )
        print(head)
        print("-" * len(head))
        for p in paced:
            print(
                f"{fmt(p['frames']) + ' frames, ' + p['trio_thread']:<26} "
                f"{fmt(p['achieved_rate']):>8} {fmt(p['fed_rows_s']):>22} "
                f"{fmt(p['max_pending']):>12} {fmt(p['backlog_at_end']):>15} "
                f"{p['drain_s']:>8.2f} {fmt(p['dropped']):>8} "
                f"{'never' if p['buffer_full_s'] is None else str(p['buffer_full_s']) + ' s':>15}"
            )


if __name__ == "__main__":
    main()
