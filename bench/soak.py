"""Real-time soak: the engine against the simulator at a high event rate; memory and tasks.

    .venv/bin/python bench/soak.py [--minutes 10] [--warmup 30] [--tick 0.02] [--symbols 20]
                                   [--order-rate 5] [--retention S] [--journal]
                                   [--no-tracemalloc] [--no-pin]

The simulator runs in its own process (pinned to the second CPU, the engine to the first,
unless ``--no-pin`` or a single CPU): a quote for each of ``--symbols`` symbols every ``--tick``
seconds (AAPL and made-up ``S0000`` …; by default 1,000 quotes/s offered), one account. The
engine (``run_engine``, venue kind ``aries``, the buying-power risk plugin, no journal unless
``--journal``) subscribes to every symbol, and a strategy trades AAPL from its quote hook at
``--order-rate`` actions per second: a buy near the touch (one in five marketable), a sell of
part of what it holds, a replace of an open order's price, or a cancel, keeping at most ten
orders open.

Measured in this process (the engine's), from ``/proc/self/status``, the task tree and
``tracemalloc``:

* **baseline**: VmRSS before the engine starts (after imports and config: the interpreter,
  trio and the engine's modules), and the bench's own tasks;
* **start**: after ``--warmup`` seconds of trading and ``gc.collect()``; ``tracemalloc``
  starts here (one frame), so its current size later is what was allocated since the start and
  is still alive (its own tables are subtracted from VmRSS);
* every minute and at the **end**: VmRSS, traced bytes, the decoder's value caches (bounded,
  they fill and empty every few seconds at these rates), live trio tasks (all, and those
  running ``engine.*`` code), gc-tracked objects, the orders the book keeps whole (open, or done
  in the last 5-10 minutes: ``[engine] done_order_retention``) and those it forgot (a trace of
  each is kept a day), and the rates of the minute: quotes the
  simulator produced, frames the engine's sockets read (up to 5 messages each), quotes and
  order events delivered to the strategy, orders/replaces/cancels sent, socket reconnections.

``tracemalloc`` slows the engine down: on a loaded 2-CPU VM it could not keep up with 2,000
quotes/s while tracing (the simulator closes a socket whose reader falls 2,000 messages behind:
1008, then backoff), and could without (``--no-tracemalloc --tick 0.01``).

Prints the table and a summary (growth start → end, per hour extrapolated; end against start
and against the baseline), and appends one JSON line to bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

import attrs
import trio

from engine import StrategyContext, hookimpl
from engine.app import EngineHandle, run_engine
from engine.config import parse_config
from engine.hooks.manager import LoadedPlugin, load_plugins
from engine.logging import configure_logging
from engine.model import OrderFilled, OrderRejected, OrderStatus, OrderUpdated, Quote, Side
from engine.sim import SimAccount, SimConfig, Simulator

RESULTS: Final = Path(__file__).with_name("results.jsonl")
ACCOUNT: Final = "SIM-001"
SYMBOL: Final = "AAPL"
TOKEN_ENV: Final = "ARIES_SOAK_TOKEN"
MAX_OPEN: Final = 10
TICK: Final = Decimal("0.01")
QUANTITIES: Final = (1, 1, 5, 10, 50)
OPEN: Final = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
MIB: Final = 1024 * 1024


# -- the simulator's process ----------------------------------------------------------------------


def symbols(count: int) -> tuple[str, ...]:
    """AAPL and ``count - 1`` made-up symbols (``S0000`` …)."""
    return (SYMBOL, *(f"S{n:04d}" for n in range(count - 1)))


def sim_main(pipe: Connection, cpu: int | None, tick: float, count: int) -> None:
    """Entry point of the simulator's process: report the endpoints, then answer each request
    with its statistics until the request is "stop"."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    configure_logging("error")
    config = SimConfig(
        tick_interval=tick,
        symbols=symbols(count),
        accounts=(SimAccount(account_id=ACCOUNT, cash=Decimal(10_000_000)),),
    )

    async def main() -> None:
        sim = Simulator(config)
        async with trio.open_nursery() as nursery:
            endpoints = await nursery.start(sim.run)
            pipe.send((endpoints.rest_base, endpoints.ws_base, config.token))
            while True:
                request = await trio.to_thread.run_sync(pipe.recv)
                stats = sim.statistics()
                pipe.send(
                    {
                        "market_ticks": stats.market_ticks,
                        "orders_placed": stats.orders_placed,
                        "fills": stats.fills,
                        "market_sockets": stats.connections_accepted.get("/v1/market/ws", 0),
                    }
                )
                if request == "stop":
                    nursery.cancel_scope.cancel()
                    return

    trio.run(main)


# -- the strategy ---------------------------------------------------------------------------------


class SoakTrader:
    """Trades AAPL from its quote hook at a fixed rate; counts what it hears."""

    def __init__(self, order_rate: float, seed: int = 7) -> None:
        self.period = 1.0 / order_rate if order_rate > 0 else float("inf")
        self.rng = random.Random(seed)
        self.next_action = 0.0
        self.open: dict[str, Decimal] = {}
        self.held = Decimal(0)
        self.counts: Counter[str] = Counter()

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        """Count the quote; act when it is time and the quote is AAPL's."""
        self.counts["quotes"] += 1
        if quote.symbol != SYMBOL or quote.bid is None or quote.ask is None:
            return

        now = time.monotonic()
        if now < self.next_action:
            return
        self.next_action = max(now, self.next_action + self.period)
        self.act(quote.bid, quote.ask, ctx)

    def act(self, bid: Decimal, ask: Decimal, ctx: StrategyContext) -> None:
        """Submit, replace or cancel (at random), keeping at most ``MAX_OPEN`` open."""
        rng = self.rng
        if self.open and (len(self.open) >= MAX_OPEN or rng.random() < 0.4):
            client_order_id, price = rng.choice(list(self.open.items()))
            if rng.random() < 0.6:
                step = TICK * rng.randint(1, 10) * rng.choice((-1, 1))
                ctx.replace(client_order_id, price=max(TICK, price + step))
                self.counts["replaces"] += 1
            else:
                ctx.cancel(client_order_id)
                self.counts["cancels"] += 1
            return
        qty = Decimal(rng.choice(QUANTITIES))
        sell = self.held > 0 and rng.random() < 0.6
        marketable = rng.random() < 0.2
        away = TICK * rng.randint(0, 10)
        if sell:
            qty = min(qty, self.held)
            price = bid - 2 * TICK if marketable else ask + away
        else:
            price = ask + 2 * TICK if marketable else bid - away
        side = Side.SELL if sell else Side.BUY
        self.open[ctx.submit(SYMBOL, side, qty, price=max(TICK, price))] = price
        self.counts["orders"] += 1

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        """Keep the open orders (and their limits) up to date."""
        self.counts["order events"] += 1
        order = event.order
        if order.client_order_id is None:
            return
        if order.status in OPEN and order.price is not None:
            self.open[order.client_order_id] = order.price
        elif order.status is not OrderStatus.PENDING_REPLACE:
            self.open.pop(order.client_order_id, None)

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled) -> None:
        """Track what we hold."""
        self.counts["fills"] += 1
        self.held += event.qty if event.side.is_buy else -event.qty

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected) -> None:
        """Forget a refused order (a refused replace leaves it as it was)."""
        self.counts["rejections"] += 1
        if not event.replace and event.client_order_id is not None:
            self.open.pop(event.client_order_id, None)


# -- measuring ------------------------------------------------------------------------------------


def vm_rss() -> int:
    """This process' resident set size in bytes (``VmRSS`` of ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def live_tasks() -> Counter[str]:
    """Every live trio task, by the function it runs (``Task.name``)."""
    names: Counter[str] = Counter()
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None:
            continue
        names[task.name] += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return names


def engine_tasks(names: Counter[str]) -> int:
    """How many of the tasks run ``engine.*`` code."""
    return sum(n for name, n in names.items() if name.startswith("engine."))


def decoder_cache_bytes() -> int:
    """Bytes in the decoder's value caches (``engine.aries.converter``: bounded, emptied when
    full; a quote's timestamp is a new key, so they fill and empty again every few seconds)."""
    from engine.aries import converter

    total = 0
    for cache in (converter._DECIMAL_CACHE, converter._DATETIME_CACHE):
        total += sys.getsizeof(cache)
        total += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in cache.items())
    return total


def book_orders() -> tuple[int, int]:
    """Over every ``AccountBook``: the orders it keeps whole (open, or done within the last
    ``done_order_retention`` to twice that), and the traces of those it forgot (a day each)."""
    from engine.accounts.book import AccountBook

    books = [o for o in gc.get_objects() if isinstance(o, AccountBook)]
    return (
        sum(book.statistics().orders_kept for book in books),
        sum(len(book._forgotten) for book in books),
    )


@attrs.frozen(kw_only=True)
class Sample:
    """The engine's process at one moment, and the rates since the previous sample."""

    label: str
    at_s: float
    """Seconds since the start (after the warm-up)."""
    rss: int
    """VmRSS minus tracemalloc's own tables."""
    traced: int | None
    """Bytes allocated since the start and still alive (None: not tracing)."""
    caches: int
    """Bytes in the decoder's value caches (part of ``traced`` and of ``rss``)."""
    tasks: int
    engine_tasks: int
    task_names: dict[str, int]
    gc_objects: int
    book_orders: int
    """Orders the books keep whole."""
    book_traces: int
    """Orders the books forgot, of which they keep only a trace (``ForgottenOrders``)."""
    offered_s: float
    """Quotes the simulator produced per second (its ticks × symbols)."""
    frames_s: float
    """Frames the engine's sockets read per second (the simulator packs up to 5 messages)."""
    quotes_s: float
    """Quotes delivered to the strategy per second (conflated per symbol when it lags)."""
    order_events_s: float
    orders_s: float
    """Orders, replaces and cancels the strategy sent per second."""
    reconnects: int
    """Reconnections of the engine's sockets since the previous sample."""

    def row(self) -> str:
        """One line of the table."""
        traced = "-" if self.traced is None else f"{self.traced / MIB:.2f}"
        return (
            f"{self.label:>8}{self.at_s:>6.0f}{self.rss / MIB:>9.1f}{traced:>8}"
            f"{self.caches / MIB:>8.2f}"
            f"{self.tasks:>7}{self.engine_tasks:>7}{self.gc_objects:>9}{self.book_orders:>7}"
            f"{self.book_traces:>8}"
            f"{self.offered_s:>9.0f}{self.frames_s:>9.0f}{self.quotes_s:>9.0f}"
            f"{self.order_events_s:>8.1f}{self.orders_s:>7.1f}{self.reconnects:>7}"
        )


HEADER: Final = (
    f"{'':>8}{'s':>6}{'RSS MiB':>9}{'traced':>8}{'caches':>8}{'tasks':>7}{'engine':>7}"
    f"{'gc objs':>9}{'book':>7}{'forgot':>8}{'offered':>9}{'frames':>9}{'quotes':>9}"
    f"{'ord ev':>8}{'orders':>7}"
    f"{'reconn':>7}\n"
    f"{'':>8}{'':>6}{'':>9}{'MiB':>8}{'MiB':>8}{'':>7}{'':>7}{'':>9}{'orders':>7}{'orders':>8}{'/s':>9}"
    f"{'/s':>9}"
    f"{'/s':>9}{'/s':>8}{'/s':>7}{'':>7}"
)


@attrs.define
class Meter:
    """Takes samples; keeps the previous counters for the rates."""

    engine: EngineHandle
    trader: SoakTrader
    sim_statistics: Callable[[], dict[str, int]]
    symbols: int
    start: float = 0.0
    last_at: float = 0.0
    last: dict[str, int] = attrs.field(factory=dict)

    async def counters(self) -> dict[str, int]:
        """Every counter the rates come from, now."""
        counts = self.trader.counts
        connections = [c.statistics() for c in self.engine.connections]
        sim = await trio.to_thread.run_sync(self.sim_statistics)
        return {
            "offered": sim["market_ticks"] * self.symbols,
            "frames": sum(c.frames for c in connections),
            "quotes": counts["quotes"],
            "order events": counts["order events"] + counts["fills"] + counts["rejections"],
            "orders": counts["orders"] + counts["replaces"] + counts["cancels"],
            "reconnects": sum(c.reconnects for c in connections),
        }

    async def reset(self) -> None:
        """Rates from now on."""
        self.last = await self.counters()
        self.start = self.last_at = trio.current_time()

    async def sample(self, label: str) -> Sample:
        """Collect garbage, then measure."""
        counters = await self.counters()
        now = trio.current_time()
        elapsed = max(now - self.last_at, 1e-9)
        rate = {k: (counters[k] - self.last.get(k, 0)) / elapsed for k in counters}
        reconnects = counters["reconnects"] - self.last.get("reconnects", 0)
        self.last, self.last_at = counters, now
        gc.collect()
        tracing = tracemalloc.is_tracing()
        overhead = tracemalloc.get_tracemalloc_memory() if tracing else 0
        names = live_tasks()
        kept, forgotten = book_orders()
        return Sample(
            label=label,
            at_s=now - self.start,
            rss=vm_rss() - overhead,
            traced=tracemalloc.get_traced_memory()[0] if tracing else None,
            caches=decoder_cache_bytes(),
            tasks=sum(names.values()),
            engine_tasks=engine_tasks(names),
            task_names=dict(names),
            gc_objects=len(gc.get_objects()),
            book_orders=kept,
            book_traces=forgotten,
            offered_s=rate["offered"],
            frames_s=rate["frames"],
            quotes_s=rate["quotes"],
            order_events_s=rate["order events"],
            orders_s=rate["orders"],
            reconnects=reconnects,
        )


async def soak(
    args: argparse.Namespace,
    venue: tuple[str, str],
    sim_statistics: Callable[[], dict[str, int]],
    journal_dir: str | None,
) -> dict[str, Any]:
    """Run the engine for ``--warmup`` + ``--minutes``; return the samples and the baseline."""
    rest_base, ws_base = venue
    table: dict[str, Any] = {
        "venue": {
            "kind": "aries",
            "rest_base": rest_base,
            "ws_base": ws_base,
            "access_token_env": TOKEN_ENV,
        },
        "market": {"symbols": list(symbols(args.symbols))},
        "accounts": [{"id": ACCOUNT}],
        "plugins": [{"name": "buying-power", "path": "plugins.buying_power:BuyingPowerCheck"}],
        "journal": {"enabled": False},
    }
    if args.retention is not None:
        table["engine"] = {"done_order_retention": args.retention}
    if journal_dir is not None:
        table["journal"] = {"enabled": True, "path": str(Path(journal_dir) / "journal.sqlite")}
    config = parse_config(table, source="bench/soak.py")
    trader = SoakTrader(args.order_rate)
    pm, plugins = load_plugins(config, entry_points=False)
    pm.register(trader, name="soak-trader")
    plugins.append(
        LoadedPlugin(name="soak-trader", kind="strategy", obj=trader, accounts=(ACCOUNT,))
    )
    pm.check_pending()
    gc.collect()
    baseline_rss = vm_rss()
    baseline_tasks = sum(live_tasks().values())
    samples: list[Sample] = []
    async with trio.open_nursery() as nursery:
        engine: EngineHandle = await nursery.start(partial(run_engine, config, pm, plugins))
        meter = Meter(engine, trader, sim_statistics, args.symbols)
        await trio.sleep(args.warmup)
        await meter.reset()
        if args.tracemalloc:
            gc.collect()
            tracemalloc.start(1)
        samples.append(await meter.sample("start"))
        print(HEADER)
        print(samples[-1].row(), flush=True)
        for minute in range(1, args.minutes + 1):
            await trio.sleep_until(meter.start + 60.0 * minute)
            label = "end" if minute == args.minutes else f"min {minute}"
            samples.append(await meter.sample(label))
            print(samples[-1].row(), flush=True)
        tracemalloc.stop()
        engine.stop()
    return {"baseline_rss": baseline_rss, "baseline_tasks": baseline_tasks, "samples": samples}


def slope_per_hour(samples: list[Sample], value: Callable[[Sample], float]) -> float:
    """Least-squares growth of ``value`` per hour over the samples."""
    xs = [s.at_s for s in samples]
    ys = [value(s) for s in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var * 3600


def traced_less_caches(sample: Sample) -> int:
    """Traced bytes that are not the decoder caches' (assuming the caches were emptied and
    refilled since the start: every few seconds at these rates)."""
    return max(0, (sample.traced or 0) - sample.caches)


RATES: Final = ("offered_s", "frames_s", "quotes_s", "order_events_s", "orders_s")


def report(args: argparse.Namespace, run: dict[str, Any], sim: dict[str, int], pin: bool) -> None:
    """Print the summary and append the JSON line."""
    samples: list[Sample] = run["samples"]
    first, last = samples[0], samples[-1]
    baseline = run["baseline_rss"]
    measured = samples[1:]  # the start sample's rates cover no time
    rates = {name: sum(getattr(s, name) for s in measured) / len(measured) for name in RATES}
    reconnects = sum(s.reconnects for s in measured)
    rss_hour = slope_per_hour(samples, lambda s: s.rss)
    # The first minutes fill what is bounded (the book's retention window, the caches, the
    # allocator's arenas); the second half shows whether anything keeps growing after that.
    second_half = samples[len(samples) // 2 :]
    rss_late = slope_per_hour(second_half, lambda s: s.rss)
    traced_hour = slope_per_hour(samples, lambda s: s.traced or 0)
    book_hour = slope_per_hour(samples, lambda s: s.book_orders)
    footprint = (first.rss - baseline, last.rss - baseline)
    print()
    print(f"{'baseline: RSS before the engine':<36}{baseline / MIB:8.1f} MiB")
    print(
        f"{'RSS start → end':<36}{first.rss / MIB:8.1f} → {last.rss / MIB:.1f} MiB "
        f"({(last.rss - first.rss) / MIB:+.1f} MiB; fitted {rss_hour / MIB:+.1f} MiB/h)"
    )
    print(
        f"{'RSS over the second half':<36}{second_half[0].rss / MIB:8.1f} → "
        f"{last.rss / MIB:.1f} MiB (fitted {rss_late / MIB:+.1f} MiB/h)"
    )
    print(
        f"{'engine footprint (RSS − baseline)':<36}{footprint[0] / MIB:8.1f} → "
        f"{footprint[1] / MIB:.1f} MiB (×{footprint[1] / footprint[0]:.2f})"
    )
    if last.traced is not None:
        print(
            f"{'traced: allocated since start, alive':<36}{last.traced / MIB:8.2f} MiB "
            f"(fitted {traced_hour / MIB:+.2f} MiB/h)"
        )
        print(f"{'  less the decoder caches':<36}{traced_less_caches(last) / MIB:8.2f} MiB")
    print(
        f"{'tasks start → end (engine)':<36}{first.tasks:8d} → {last.tasks} "
        f"({first.engine_tasks} → {last.engine_tasks}); the bench alone: {run['baseline_tasks']}"
    )
    changed = Counter(last.task_names)
    changed.subtract(first.task_names)
    moved = {name: n for name, n in changed.items() if n}
    if moved:
        print(f"{'tasks that came or went':<36}{moved}")
    print(f"{'gc objects start → end':<36}{first.gc_objects:8d} → {last.gc_objects}")
    print(
        f"{'orders the book keeps whole':<36}{first.book_orders:8d} → {last.book_orders} "
        f"(fitted {book_hour:+.0f}/h)"
    )
    print(
        f"{'orders forgotten, traces kept':<36}{first.book_traces:8d} → {last.book_traces} "
        "(a clOrdId and a quantity each, for a day)"
    )
    print(
        f"{'mean rates':<36}{rates['offered_s']:8.0f} quotes/s offered, "
        f"{rates['frames_s']:.0f} frames/s read, {rates['quotes_s']:.0f} quotes/s and "
        f"{rates['order_events_s']:.1f} order events/s heard, {rates['orders_s']:.1f} orders/s"
    )
    print(
        f"{'socket reconnects':<36}{reconnects:8d}"
        + ("  (the simulator closes a socket that falls behind: 1008)" if reconnects else "")
    )
    print(f"{'simulator':<36}{sim}")
    print(f"{'CPUs':<36}{'pinned: engine 1st, simulator 2nd' if pin else 'unpinned'}")
    result = {
        "bench": "soak",
        "minutes": args.minutes,
        "warmup_s": args.warmup,
        "tick_s": args.tick,
        "symbols": args.symbols,
        "order_rate": args.order_rate,
        "retention_s": args.retention,
        "journal": args.journal,
        "tracemalloc": args.tracemalloc,
        "pinned": pin,
        "python": platform.python_version(),
        "baseline_rss": baseline,
        "baseline_tasks": run["baseline_tasks"],
        "rss_start": first.rss,
        "rss_end": last.rss,
        "rss_growth_per_hour": round(rss_hour),
        "rss_growth_per_hour_second_half": round(rss_late),
        "footprint_ratio": round(footprint[1] / footprint[0], 3),
        "traced_end": last.traced,
        "traced_growth_per_hour": round(traced_hour),
        "caches_start": first.caches,
        "caches_end": last.caches,
        "traced_less_caches_end": traced_less_caches(last),
        "tasks_start": first.tasks,
        "tasks_end": last.tasks,
        "engine_tasks_start": first.engine_tasks,
        "engine_tasks_end": last.engine_tasks,
        "gc_objects_start": first.gc_objects,
        "gc_objects_end": last.gc_objects,
        "book_orders_start": first.book_orders,
        "book_orders_end": last.book_orders,
        "book_traces_start": first.book_traces,
        "book_traces_end": last.book_traces,
        "rates": {k: round(v, 1) for k, v in rates.items()},
        "reconnects": reconnects,
        "simulator": sim,
        "samples": [attrs.asdict(s) for s in samples],
        "at": time.time(),
    }
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(json.dumps(result) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10, help="measured minutes")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the start")
    parser.add_argument("--tick", type=float, default=0.02, help="simulator tick, seconds")
    parser.add_argument("--symbols", type=int, default=20, help="symbols quoted each tick")
    parser.add_argument("--order-rate", type=float, default=5.0, help="strategy actions/s")
    parser.add_argument("--journal", action="store_true", help="journal to a temporary dir")
    parser.add_argument(
        "--no-tracemalloc", dest="tracemalloc", action="store_false", help="skip tracemalloc"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the two processes")
    parser.add_argument(
        "--retention",
        type=float,
        default=None,
        help="[engine] done_order_retention, seconds (default: the engine's, 300)",
    )
    args = parser.parse_args()
    if args.minutes < 1 or args.symbols < 1 or args.tick <= 0 or args.warmup < 0:
        parser.error("--minutes and --symbols must be >= 1, --tick > 0, --warmup >= 0")
    configure_logging("error")
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    engine_cpu, sim_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    if engine_cpu is not None:
        os.sched_setaffinity(0, {engine_cpu})
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    sim = context.Process(
        target=sim_main, args=(theirs, sim_cpu, args.tick, args.symbols), daemon=True
    )
    sim.start()
    try:
        rest_base, ws_base, token = ours.recv()
        os.environ[TOKEN_ENV] = token
        print(
            f"soak: {args.minutes} min after {args.warmup:g} s warm-up; {args.symbols} symbols "
            f"every {args.tick:g} s ({args.symbols / args.tick:,.0f} quotes/s offered), "
            f"{args.order_rate:g} strategy actions/s, done orders kept "
            + ("300 s (the default)" if args.retention is None else f"{args.retention:g} s"),
            flush=True,
        )

        def sim_statistics(request: str = "stats") -> dict[str, int]:
            ours.send(request)
            reply: dict[str, int] = ours.recv()
            return reply

        with tempfile.TemporaryDirectory(prefix="soak-journal-") as journal_dir:
            journal = journal_dir if args.journal else None
            run = trio.run(soak, args, (rest_base, ws_base), sim_statistics, journal)
        stats = sim_statistics("stop")
    finally:
        sim.kill()
        sim.join()
    report(args, run, stats, pin)


if __name__ == "__main__":
    main()
