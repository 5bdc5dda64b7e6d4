"""Throughput, wire → strategy: quotes and order events through the engine's full path, against a
bare trio-websocket client.

    .venv/bin/python bench/throughput.py [--messages 60000] [--order-events 30000] [--rounds 3]
                                         [--symbols 1000] [--kinds quotes orders]
                                         [--journal both|on|off] [--profile]
                                         [--log-level error] [--no-pin]

A bench server (``_throughput_server``: its own process, pinned to another CPU when there are
two) speaks the simulator's canonical messages (``engine.sim._messages``) and, once subscribed,
writes pre-encoded WebSocket frames as fast as TCP takes them (64 KiB ``send_all`` calls), so it
is never the bottleneck (PERF-NOTES: a trio-websocket server caps at 30-40k frames/s). Every case
runs at 1 message per frame and at 10 newline-separated messages per frame (NDJSON, §2.2).

* **quotes** (market socket): ``authSuccess``, the ``marketStatus`` push, the subscribe ack, then
  ``--messages`` quote events with every field, symbols cycling over ``--symbols`` names.
* **orders** (accounts socket): ``authSuccess``, the ``account`` subscribe answered by
  ``subscribed`` with the snapshot (balance, no position, no order), then ``--order-events``
  V2 ``account.order`` events: orders placed elsewhere, 200 working at a time, each going NEW →
  PARTIALLY_FILLED (cumQty 25, 50, 75) → FILLED (100) with a later ``updatedAt`` each time, so
  every event is a distinct fact the account actor must apply.

Consumers (``_throughput_clients``):

* **baseline**: a bare ``trio_websocket`` client does the same auth and subscribe, then
  ``get_message()`` → ``split("\\n")`` → ``json.loads`` on every message, and counts them.
* **engine, quotes**: the real market ``ConnectionSupervisor`` (``MarketHandler``, static token)
  → ``FrameDecoder`` → ``MarketNormalizer`` → ``EventBus`` → ``PluginHost`` → a strategy whose
  ``aries_on_quote`` counts. Nothing else subscribes to the bus (no journal, no metrics).
* **engine, orders**: the accounts ``ConnectionSupervisor`` (``AccountsHandler`` of the bench
  account) → ``FrameDecoder`` → bus → ``AccountActor`` (applies each report to its
  ``AccountBook``, publishes ``OrderUpdated`` and, for each fill, ``OrderFilled``) → bus →
  ``PluginHost`` → a strategy bound to the account whose ``aries_on_order_updated`` and
  ``aries_on_order_filled`` count. Order events are never conflated or dropped: a full
  mailbox makes the supervisor wait (counted as publisher waits; past ``frame_buffer`` queued
  frames the accounts socket would reconnect, counted as connects), and the steady rate is
  what is measured.
* **engine + journal, orders**: the same, with a ``JournalWriter`` (temporary file) recording
  every frame and every bus event, wired as ``engine.app`` does (the real engine always
  journals). Its backlog when the strategy got the last event, and how long it then took to
  commit it, are reported.

What is counted: the messages the strategy's hook received — quotes, or ``OrderUpdated`` (one per
order event on the wire). Rate = (received − 1) / (time of the last − time of the first), both
at the consumer, so connection set-up is out. The output accounts for every message: for quotes,
decoded / frames dropped / conflated on the bus / received (cycling over 1000 symbols keeps every
quote distinct within any backlog, so none is conflated); for orders, decoded, applied by the
book (duplicates, stale and illegal transitions dropped: all should be 0), fills, the hooks'
calls, open orders left (0) and reconnects (0).

Cases run round-robin ``--rounds`` times and the median round is reported, since this VM drifts
±25 %. Prints a table (messages/s, µs per message, ratio to the baseline of the same run), the
issue-8 quote targets (engine ≥ 0.6× baseline at 1 quote per frame; ≥ 150,000 quotes/s at 10 per
frame), and appends one JSON line to bench/results.jsonl. ``--profile`` then runs each engine
order case once more under cProfile and prints its top 15 functions by own time.

The engine logs at ``--log-level`` (``error`` by default, as the quote cases always did). At the
engine's own default, ``info``, the account actor writes a console line for every
``OrderUpdated`` and ``OrderFilled``: ``--log-level info 2>/dev/null`` measures that cost too.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import platform
import pstats
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio
from _throughput_clients import (
    OrderRun,
    Run,
    run_baseline_orders,
    run_baseline_quotes,
    run_engine_orders,
    run_engine_quotes,
)
from _throughput_server import (
    BLOCK_MESSAGES,
    EVENTS_PER_ORDER,
    FILLS_PER_ORDER,
    server_main,
    symbol_names,
)

from engine.logging import configure_logging

RESULTS = Path(__file__).with_name("results.jsonl")
PER_FRAME_CASES = (1, 10)
TARGET_RATIO_1 = 0.6
TARGET_RATE_10 = 150_000


def case_base(port: int, kind: str, per_frame: int, messages: int, symbols: int) -> str:
    """The server's resource for one case (the socket's path is appended by the client)."""
    return f"ws://127.0.0.1:{port}/bench/{kind}/{per_frame}/{messages}/{symbols}"


def expected_fills(events: int) -> int:
    """``OrderFilled`` facts the run's order events make (every event but each order's NEW)."""
    return events // EVENTS_PER_ORDER * FILLS_PER_ORDER


def variants(journal: str) -> list[str]:
    """The engine variants of the order cases: ``engine``, ``engine+journal`` or both."""
    return {"off": ["engine"], "on": ["engine+journal"], "both": ["engine", "engine+journal"]}[
        journal
    ]


async def measure(args: argparse.Namespace, port: int) -> dict[str, list[Run]]:
    """Every case, round-robin, ``args.rounds`` times."""
    symbols = symbol_names(args.symbols)
    quotes, events = args.messages, args.order_events
    fills = expected_fills(events)
    runs: dict[str, list[Run]] = {}

    def add(key: str, run: Run) -> None:
        runs.setdefault(key, []).append(run)

    for _ in range(args.rounds):
        for per_frame in PER_FRAME_CASES:
            if "quotes" in args.kinds:
                base = case_base(port, "quotes", per_frame, quotes, args.symbols)
                add(
                    f"baseline/quotes/{per_frame}", await run_baseline_quotes(base, quotes, symbols)
                )
                add(f"engine/quotes/{per_frame}", await run_engine_quotes(base, quotes, symbols))
            if "orders" in args.kinds:
                base = case_base(port, "orders", per_frame, events, args.symbols)
                add(f"baseline/orders/{per_frame}", await run_baseline_orders(base, events))
                for variant in variants(args.journal):
                    journal = variant == "engine+journal"
                    run = await run_engine_orders(base, events, fills, journal=journal)
                    add(f"{variant}/orders/{per_frame}", run)
    return runs


def profile_orders(args: argparse.Namespace, port: int) -> None:
    """Each engine order case once more under cProfile: the top 15 functions by own time."""
    events, fills = args.order_events, expected_fills(args.order_events)
    for per_frame in PER_FRAME_CASES:
        base = case_base(port, "orders", per_frame, events, args.symbols)
        profiler = cProfile.Profile()
        profiler.enable()
        run = trio.run(partial(run_engine_orders, base, events, fills, journal=False))
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats("tottime").print_stats(15)
        body = out.getvalue()
        body = body[body.index("   ncalls") :]
        print(
            f"\ncProfile, engine orders {per_frame}/frame ({run.received} events, "
            f"{run.rate:,.0f}/s under the profiler), top 15 by tottime:"
        )
        print(body.rstrip())


def median_run(runs: list[Run]) -> Run:
    """The run of median rate (the lower middle one for an even count)."""
    return sorted(runs, key=lambda r: r.rate)[(len(runs) - 1) // 2]


def _order_accounting(name: str, run: OrderRun, events: int, fills: int) -> list[str]:
    """What became of every order event in one engine run, and whether each got through once."""
    exact = (
        run.received == events
        and run.fills == fills
        and run.applied == events
        and run.book_fills == fills
        and run.duplicates == run.stale == run.illegal == 0
        and run.open_orders == 0
        and run.connects == 1
        and run.decode_errors == 0
    )
    lines = [
        f"    {name}: decoded {run.decoded} (in {run.frames} frames, incl. auth/snapshot); book "
        f"applied {run.applied}, dropped as duplicate {run.duplicates} / stale {run.stale} / "
        f"illegal {run.illegal}, fills {run.book_fills}, open orders left {run.open_orders}; "
        f"strategy got {run.received} aries_on_order_updated + {run.fills} "
        f"aries_on_order_filled; connects {run.connects}, decode errors {run.decode_errors}, "
        f"publisher waits (back-pressure) {run.publisher_waits} → "
        + ("every event delivered once" if exact else "NOT every event delivered exactly once")
    ]
    if run.journal:
        lines.append(
            f"      journal: {run.journal_recorded} records (frames + events), backlog when the "
            f"strategy got the last event {run.journal_pending_at_last} "
            f"({run.journal_written_at_last} committed by then), all committed "
            f"{run.journal_drain_s:.2f} s later, dropped {run.journal_dropped}"
        )
    if not exact:
        lines.append(f"      WARNING: {name} expected {events} updates and {fills} fills")
    return lines


def report(
    args: argparse.Namespace, runs: dict[str, list[Run]], elapsed: float, placement: str
) -> None:
    """Print the table and the accounting; append the JSON line."""
    quotes, events = args.messages, args.order_events
    fills = expected_fills(events)
    sizes = []
    if "quotes" in args.kinds:
        sizes.append(f"{quotes} quotes per run ({args.symbols} symbols cycled)")
    if "orders" in args.kinds:
        sizes.append(
            f"{events} order events per run ({events // EVENTS_PER_ORDER} orders × NEW, 3 "
            f"PARTIALLY_FILLED, FILLED; {fills} fills)"
        )
    print(
        f"{'; '.join(sizes)}; {args.rounds} rounds round-robin (median shown); {placement}; "
        f"engine log level {args.log_level}; "
        f"Python {platform.python_version()}, {elapsed:.1f} s"
    )
    header = (
        f"{'case':<28}{'baseline msg/s':>15}{'engine msg/s':>14}{'ratio':>7}"
        f"{'base µs/msg':>12}{'engine µs/msg':>14}"
    )
    print(header)
    print("-" * len(header))
    result: dict[str, Any] = {
        "bench": "throughput",
        "messages": quotes,
        "order_events": events,
        "rounds": args.rounds,
        "symbols": args.symbols,
        "kinds": list(args.kinds),
        "pinned": placement.startswith("client CPU"),
        "log_level": args.log_level,
        "python": platform.python_version(),
    }
    # label, baseline key, engine key, result key
    rows: list[tuple[str, str, str, str]] = [
        (f"quotes, {n}/frame", f"baseline/quotes/{n}", f"engine/quotes/{n}", f"quote_{n}")
        for n in PER_FRAME_CASES
        if "quotes" in args.kinds
    ]
    for variant in variants(args.journal) if "orders" in args.kinds else []:
        journal = variant == "engine+journal"
        label = "orders + journal" if journal else "orders"
        key = "order_journal" if journal else "order"
        rows += [
            (f"{label}, {n}/frame", f"baseline/orders/{n}", f"{variant}/orders/{n}", f"{key}_{n}")
            for n in PER_FRAME_CASES
        ]
    for label, base_key, engine_key, result_key in rows:
        base = median_run(runs[base_key])
        engine = median_run(runs[engine_key])
        ratio = engine.rate / base.rate if base.rate else 0.0
        print(
            f"{label:<28}{base.rate:>15,.0f}{engine.rate:>14,.0f}{ratio:>6.2f}x"
            f"{_us(base.rate):>12.2f}{_us(engine.rate):>14.2f}"
        )
        entry: dict[str, Any] = {
            "baseline_msgs_s": round(base.rate),
            "engine_msgs_s": round(engine.rate),
            "ratio": round(ratio, 3),
            "baseline_us_per_msg": round(_us(base.rate), 2),
            "engine_us_per_msg": round(_us(engine.rate), 2),
            "baseline_rounds_msgs_s": [round(r.rate) for r in runs[base_key]],
            "engine_rounds_msgs_s": [round(r.rate) for r in runs[engine_key]],
            "engine_decoded": engine.decoded,
            "engine_frames": engine.frames,
            "engine_received": engine.received,
            "baseline_received": base.received,
        }
        if isinstance(engine, OrderRun):
            entry.update(
                engine_fills=engine.fills,
                engine_applied=engine.applied,
                engine_dropped=engine.duplicates + engine.stale + engine.illegal,
                engine_publisher_waits=engine.publisher_waits,
                engine_connects=engine.connects,
            )
            if engine.journal:
                entry.update(
                    journal_pending_at_last=engine.journal_pending_at_last,
                    journal_drain_s=round(engine.journal_drain_s, 3),
                    journal_dropped=engine.journal_dropped,
                )
        else:
            entry.update(
                engine_frames_dropped=engine.frames_dropped, engine_conflated=engine.conflated
            )
        result[result_key] = entry
    rounds_text = "; ".join(
        f"{name} " + "/".join(f"{r.rate:,.0f}" for r in rs) for name, rs in runs.items()
    )
    print(f"per round (msg/s): {rounds_text}")
    print("message accounting (median round; the rate counts what the strategy received):")
    for per_frame in PER_FRAME_CASES:
        if "quotes" in args.kinds:
            base = median_run(runs[f"baseline/quotes/{per_frame}"])
            engine = median_run(runs[f"engine/quotes/{per_frame}"])
            print(
                f"  quotes {per_frame}/frame: sent {quotes}; baseline json.loads {base.received}; "
                f"engine decoded {engine.decoded} (in {engine.frames} frames, incl. "
                f"auth/status/ack), frames dropped {engine.frames_dropped}, conflated on the bus "
                f"{engine.conflated}, strategy received {engine.received}"
            )
            for name, run in (("baseline", base), ("engine", engine)):
                if run.received < quotes:
                    print(f"  WARNING: {name} got {run.received} of {quotes}")
    for per_frame in PER_FRAME_CASES:
        if "orders" not in args.kinds:
            break
        base = median_run(runs[f"baseline/orders/{per_frame}"])
        print(
            f"  orders {per_frame}/frame: sent {events} events ({fills} fills); baseline "
            f"json.loads {base.received}"
        )
        if base.received < events:
            print(f"  WARNING: baseline got {base.received} of {events}")
        for variant in variants(args.journal):
            engine = median_run(runs[f"{variant}/orders/{per_frame}"])
            assert isinstance(engine, OrderRun)
            for line in _order_accounting(variant, engine, events, fills):
                print(line)
    if "quotes" in args.kinds:
        ratio_1 = result["quote_1"]["ratio"]
        rate_10 = result["quote_10"]["engine_msgs_s"]
        met_1 = ratio_1 >= TARGET_RATIO_1
        met_10 = rate_10 >= TARGET_RATE_10
        print(
            f"target quotes 1/frame: engine ≥ {TARGET_RATIO_1}x baseline: {ratio_1:.2f}x → "
            f"{'met' if met_1 else 'NOT met'}"
        )
        print(
            f"target quotes 10/frame: engine ≥ {TARGET_RATE_10:,} quotes/s: {rate_10:,} → "
            f"{'met' if met_10 else 'NOT met'}"
        )
        result["target_ratio_1_met"] = met_1
        result["target_rate_10_met"] = met_10
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(json.dumps({**result, "at": time.time()}) + "\n")
    sys.stdout.flush()


def _us(rate: float) -> float:
    return 1e6 / rate if rate else 0.0


def main() -> None:
    """Parse the options, start the server, measure, report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000, help="quotes per run")
    parser.add_argument("--order-events", type=int, default=30_000, help="order events per run")
    parser.add_argument("--rounds", type=int, default=3, help="round-robin repetitions")
    parser.add_argument("--symbols", type=int, default=1000, help="distinct symbols cycled")
    parser.add_argument(
        "--kinds", nargs="+", choices=("quotes", "orders"), default=["quotes", "orders"]
    )
    parser.add_argument(
        "--journal",
        choices=("both", "on", "off"),
        default="both",
        help="order cases: the engine without and/or with its journal",
    )
    parser.add_argument(
        "--profile", action="store_true", help="then cProfile each engine order case once"
    )
    parser.add_argument(
        "--log-level",
        default="error",
        help="engine log level (default error; the engine's own default, info, logs every "
        "OrderUpdated and OrderFilled: redirect stderr)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin client/server CPUs")
    args = parser.parse_args()
    # The server writes whole blocks of 1000 messages.
    args.messages = max(BLOCK_MESSAGES, args.messages // BLOCK_MESSAGES * BLOCK_MESSAGES)
    args.order_events = max(BLOCK_MESSAGES, args.order_events // BLOCK_MESSAGES * BLOCK_MESSAGES)
    configure_logging(args.log_level)

    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    client_cpu, server_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    order_events = args.order_events if "orders" in args.kinds else 0
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(
        target=server_main, args=(theirs, server_cpu, order_events, args.symbols), daemon=True
    )
    server.start()
    try:
        port = ours.recv()
        started = time.perf_counter()
        runs = trio.run(measure, args, port)
        elapsed = time.perf_counter() - started
        placement = (
            f"client CPU {client_cpu}, server CPU {server_cpu}"
            if pin
            else f"unpinned (CPUs {','.join(map(str, cpus))})"
        )
        report(args, runs, elapsed, placement)
        if args.profile and "orders" in args.kinds:
            profile_orders(args, port)
    finally:
        server.kill()
        server.join()


if __name__ == "__main__":
    main()
