"""One size of ``bench/scale.py``: the engine, in this process, with N accounts against a
simulator running in another (``bench/_scale_sim.py``). Prints one JSON line of figures.

    SCALE_BENCH_TOKEN=… .venv/bin/python bench/_scale_engine.py --accounts N \
        --rest-base URL --ws-base URL --sim-pid PID [--warmup 3] [--seconds 30] \
        [--order-every 2] [--max-order-rate 8] [--no-journal] [--cpu C]

The engine is configured as a deployment would be: ``venue.kind = "aries"`` on the simulator's
loopback URLs with a fixed token from ``$SCALE_BENCH_TOKEN``, the market socket on AAPL, the
journal (in a temporary directory) and the metrics endpoint on. Every account ``SCALE-0000`` …
has ``pnl_interval = "15s"`` and one ``ScaleStrategy`` bound to it. Phases:

1. **start-up**: ``tracemalloc`` starts, then ``run_engine`` until every account is synced
   (``start_s``), then until the start-up backlog is gone (``settle_s``, at most
   ``--settle-timeout``, 60 s; ``settled``): the plugin host's and every account actor's bus
   subscription empty, and the accounts socket current (a live P&L update read within 1 s of
   the simulator's timestamp);
2. **idle** (``--warmup`` s): the strategies hear their events (P&L candles) but place nothing;
   then, after ``gc.collect()``, the idle memory: VmRSS minus tracemalloc's own tables, and
   tracemalloc's current size (what the engine allocated since just before start-up);
3. **loaded** (``--seconds`` s, tracemalloc stopped): each strategy sends a 1-share AAPL market
   order every ``max(order_every, N / max_order_rate)`` seconds, alternating buy and sell (10 →
   11 → 10 shares: every order fills and no book grows), the accounts staggered over the
   period. Every hook call of the strategies records its event's lag.

Lag: ``recv`` is the wall-clock time from the frame's arrival (``event.ts_recv``, stamped by the
socket reader) to the hook; ``venue`` is from the simulator's timestamp of an order event
(``ts_event``: millisecond resolution, same host and clock) to the hook, so it also counts the
time a frame spent in the simulator's queue, the socket buffers, or waiting for the engine to
read it. ``stream`` is, for every live P&L update (the accounts-socket traffic that grows with
N), the simulator's timestamp → the frame's receive, seen by one extra bus subscription of
this script: how far behind the socket the engine reads. ``pnl_close`` is from the end of a
P&L bucket to the hook that hears its candle closed: the simulator sends the next bucket's
first update on its first market tick after the boundary, so it is the path plus up to one
tick (1 s by default). ``runq`` is the share of the window the
process' main thread was runnable but waiting for a CPU (``/proc/<pid>/schedstat``): other load
on the machine, not the engine's doing. ``--profile FILE`` writes a cProfile of the loaded
window (the trio thread's calls) for ``pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import tempfile
import time
import tracemalloc
from array import array
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import trio

from engine.app import EngineHandle, run_engine
from engine.bus import Subscription
from engine.config import parse_config
from engine.connection import ConnectionSupervisor
from engine.hooks.context import StrategyContext
from engine.hooks.manager import LoadedPlugin, configure, make_plugin_manager
from engine.logging import configure_logging
from engine.model import Endpoint
from engine.model.events import (
    BalanceChanged,
    Event,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
    PositionChanged,
)
from engine.model.streams import PnlCandleClosed, PnlCandleReceived

TOKEN_ENV = "SCALE_BENCH_TOKEN"
SYMBOL = "AAPL"
PNL_INTERVAL = "15s"
PNL_SECONDS = 15
START_TIMEOUT = 240.0
STOP_TIMEOUT = 20.0
SETTLE_POLL = 0.1
SETTLE_TIMEOUT = 60.0
CURRENT_NS = 1_000_000_000


def account_id(index: int) -> str:
    """The id of the ``index``-th account (the same rule as ``bench/_scale_sim.py``)."""
    return f"SCALE-{index:04d}"


def vm_rss() -> int:
    """This process' resident set size in bytes (``VmRSS`` of ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runq_seconds(pid: int) -> float:
    """Seconds the main thread of ``pid`` has waited on a run queue (``schedstat``)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


@attrs.define(eq=False)
class Control:
    """Shared by every strategy: whether to trade yet, and what the hooks saw."""

    armed: bool = False
    armed_at: float = 0.0
    submitted: int = 0
    events: int = 0
    by_type: dict[str, int] = attrs.field(factory=dict)
    recv_lag_ns: array[int] = attrs.field(factory=lambda: array("q"))
    venue_lag_ns: array[int] = attrs.field(factory=lambda: array("q"))
    close_lag_ns: array[int] = attrs.field(factory=lambda: array("q"))
    stream_lag_ns: array[int] = attrs.field(factory=lambda: array("q"))
    stream_current: trio.Event = attrs.field(factory=trio.Event)
    """Set by ``watch_stream`` once a live P&L update is read within ``CURRENT_NS``."""

    def reset(self) -> None:
        """Forget what was recorded so far (a measured window starts)."""
        self.events = 0
        self.by_type = {}
        self.recv_lag_ns = array("q")
        self.venue_lag_ns = array("q")
        self.close_lag_ns = array("q")
        self.stream_lag_ns = array("q")

    def observe(self, event: Event, *, venue_time: bool) -> None:
        """Record one hook call: its event's lag from receive (and from the venue's time)."""
        now = time.time_ns()
        self.events += 1
        name = type(event).__name__
        self.by_type[name] = self.by_type.get(name, 0) + 1
        self.recv_lag_ns.append(now - event.ts_recv)
        if venue_time and event.ts_event is not None:
            self.venue_lag_ns.append(now - int(event.ts_event.timestamp() * 1e9))


async def watch_stream(subscription: Subscription, control: Control) -> None:
    """Record each live P&L update's delay from the simulator's timestamp to the frame's
    receive: how far behind the accounts socket the engine reads."""
    while True:
        try:
            batch = await subscription.receive_batch()
        except trio.EndOfChannel:
            return
        for event in batch:
            if event.ts_event is not None:
                lag = event.ts_recv - int(event.ts_event.timestamp() * 1e9)
                control.stream_lag_ns.append(lag)
                if lag <= CURRENT_NS:
                    control.stream_current.set()


@attrs.define(eq=False, slots=True)
class ScaleStrategy:
    """One account's load: a 1-share market order every ``period`` seconds, alternating buy and
    sell, the first ``offset`` seconds after arming; records every account event it hears."""

    control: Control
    period: float
    offset: float
    buy: bool = True
    next_due: float | None = None

    def aries_on_timer(self, now: datetime, ctx: StrategyContext) -> None:
        control = self.control
        if not control.armed:
            return
        moment = time.monotonic()
        if self.next_due is None:
            self.next_due = control.armed_at + self.offset
        if moment < self.next_due:
            return
        ctx.submit(SYMBOL, "BUY" if self.buy else "SELL", 1)
        control.submitted += 1
        self.buy = not self.buy
        while self.next_due <= moment:
            self.next_due += self.period

    def aries_on_order_updated(self, event: OrderUpdated, ctx: StrategyContext) -> None:
        self.control.observe(event, venue_time=True)

    def aries_on_order_filled(self, event: OrderFilled, ctx: StrategyContext) -> None:
        self.control.observe(event, venue_time=True)

    def aries_on_order_rejected(self, event: OrderRejected, ctx: StrategyContext) -> None:
        self.control.observe(event, venue_time=False)

    def aries_on_position_changed(self, event: PositionChanged, ctx: StrategyContext) -> None:
        self.control.observe(event, venue_time=False)

    def aries_on_balance_changed(self, event: BalanceChanged, ctx: StrategyContext) -> None:
        self.control.observe(event, venue_time=False)

    def aries_on_pnl_candle(self, event: PnlCandleClosed, ctx: StrategyContext) -> None:
        self.control.observe(event, venue_time=False)
        bucket_end = int((event.time.timestamp() + PNL_SECONDS) * 1e9)
        self.control.close_lag_ns.append(time.time_ns() - bucket_end)


def percentiles_ms(samples: array[int]) -> dict[str, float | None]:
    """p50, p99 and max of nanosecond samples, in milliseconds (``None`` without samples)."""
    if not samples:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6, 3)

    return {"p50": at(0.50), "p99": at(0.99), "max": round(ordered[-1] / 1e6, 3)}


def engine_document(args: argparse.Namespace, journal: Path) -> dict[str, Any]:
    """The ``engine.toml`` of this run, as the dict ``parse_config`` takes."""
    rate = max(10.0, args.max_order_rate * 1.25)  # the dispatcher never holds orders back
    return {
        "engine": {"log_level": args.log_level},
        "venue": {
            "kind": "aries",
            "rest_base": args.rest_base,
            "ws_base": args.ws_base,
            "access_token_env": TOKEN_ENV,
        },
        "market": {"symbols": [SYMBOL]},
        "accounts": [
            {"id": account_id(i), "pnl_interval": PNL_INTERVAL} for i in range(args.accounts)
        ],
        "dispatch": {"rate": rate, "burst": max(20, int(rate * 2))},
        "journal": {"enabled": not args.no_journal, "path": str(journal)},
        "metrics": {"enabled": True, "port": 0},
    }


@attrs.frozen
class Counters:
    """What this process, the simulator and the accounts socket had done at one moment."""

    wall: float
    cpu: float
    runq: float
    sim_cpu: float
    sim_runq: float
    messages: int

    @classmethod
    def take(cls, accounts: ConnectionSupervisor, sim_pid: int) -> Counters:
        """Read them now."""
        return cls(
            wall=time.monotonic(),
            cpu=cpu_seconds(os.getpid()),
            runq=runq_seconds(os.getpid()),
            sim_cpu=cpu_seconds(sim_pid),
            sim_runq=runq_seconds(sim_pid),
            messages=accounts.decoder.statistics().messages,
        )


def window(before: Counters, after: Counters, control: Control) -> dict[str, Any]:
    """Rates and CPU shares between two readings (with the hooks' count since ``reset``)."""
    seconds = after.wall - before.wall
    messages = after.messages - before.messages
    cpu = after.cpu - before.cpu
    return {
        "seconds": round(seconds, 2),
        "events_s": round(control.events / seconds, 1),
        "messages_s": round(messages / seconds, 1),
        "cpu_pct": round(100 * cpu / seconds, 1),
        "runq_pct": round(100 * (after.runq - before.runq) / seconds, 1),
        "sim_cpu_pct": round(100 * (after.sim_cpu - before.sim_cpu) / seconds, 1),
        "sim_runq_pct": round(100 * (after.sim_runq - before.sim_runq) / seconds, 1),
    }


async def settle(handle: EngineHandle, control: Control) -> None:
    """Return once the start-up backlog is gone: the plugin host and every account actor have
    taken all they were sent, and a live P&L update was read within ``CURRENT_NS`` of being
    sent (the accounts socket is current)."""
    # Nothing signals that a subscription ran empty: poll its statistics.
    while any(  # noqa: ASYNC110
        s.pending
        for s in handle.bus.statistics()
        if s.name == "plugins" or s.name.startswith("account:")
    ):
        await trio.sleep(SETTLE_POLL)
    control.stream_current = trio.Event()
    await control.stream_current.wait()


def strategies(n: int, period: float, control: Control) -> list[LoadedPlugin]:
    """One ``ScaleStrategy`` per account, bound to it, staggered over ``period``."""
    return [
        LoadedPlugin(
            name=f"scale-{i:04d}",
            kind="strategy",
            obj=ScaleStrategy(control, period=period, offset=period * i / n),
            accounts=(account_id(i),),
        )
        for i in range(n)
    ]


async def measure(args: argparse.Namespace, journal: Path) -> dict[str, Any]:
    """Start the engine, measure the idle and the loaded phase, stop; the figures."""
    config = parse_config(engine_document(args, journal), source="scale")
    n = args.accounts
    period = max(args.order_every, n / args.max_order_rate)
    control = Control()
    pm = make_plugin_manager()
    plugins = strategies(n, period, control)
    for plugin in plugins:
        pm.register(plugin.obj, name=plugin.name)
    pm.check_pending()
    configure(pm, config)
    gc.collect()
    result: dict[str, Any] = {"accounts": n, "order_period_s": round(period, 3)}
    result["rss_before_start"] = vm_rss()
    tracemalloc.start()
    async with trio.open_nursery() as nursery:

        async def engine(task_status: trio.TaskStatus[EngineHandle]) -> None:
            await run_engine(config, pm, plugins, task_status=task_status)
            nursery.cancel_scope.cancel()  # the engine is done, and so is ``hurry_after``

        started = time.monotonic()
        with trio.fail_after(args.start_timeout):
            handle: EngineHandle = await nursery.start(engine)
        result["start_s"] = round(time.monotonic() - started, 3)
        stream = handle.bus.subscribe("scale:pnl", accepts=(PnlCandleReceived,))
        nursery.start_soon(watch_stream, stream, control)
        with trio.move_on_after(args.settle_timeout) as settling:
            await settle(handle, control)
        result["settled"] = not settling.cancelled_caught
        result["settle_s"] = round(time.monotonic() - started - result["start_s"], 3)
        [accounts] = [c for c in handle.connections if c.handler.endpoint is Endpoint.ACCOUNTS]

        control.reset()
        before = Counters.take(accounts, args.sim_pid)
        await trio.sleep(args.warmup)
        idle = window(before, Counters.take(accounts, args.sim_pid), control)
        gc.collect()
        traced, traced_peak = tracemalloc.get_traced_memory()
        overhead = tracemalloc.get_tracemalloc_memory()
        idle.update(
            rss=vm_rss() - overhead,
            traced=traced,
            traced_peak=traced_peak,
            tracemalloc_overhead=overhead,
        )
        result["idle"] = idle
        tracemalloc.stop()
        gc.collect()

        control.reset()
        control.armed_at = time.monotonic()
        control.armed = True
        before = Counters.take(accounts, args.sim_pid)
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        await trio.sleep(args.seconds)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        loaded = window(before, Counters.take(accounts, args.sim_pid), control)
        control.armed = False
        loaded.update(
            submitted=control.submitted,
            by_type=dict(sorted(control.by_type.items())),
            samples=len(control.recv_lag_ns),
            recv_lag_ms=percentiles_ms(control.recv_lag_ns),
            venue_samples=len(control.venue_lag_ns),
            venue_lag_ms=percentiles_ms(control.venue_lag_ns),
            stream_samples=len(control.stream_lag_ns),
            stream_lag_ms=percentiles_ms(control.stream_lag_ns),
            pnl_close_samples=len(control.close_lag_ns),
            pnl_close_lag_ms=percentiles_ms(control.close_lag_ns),
            rss=vm_rss(),
            reconnects=accounts.statistics().reconnects,
            over_budget_calls=sum(s.over_budget for s in handle.host.statistics()),
        )
        result["loaded"] = loaded
        handle.stop()
        nursery.start_soon(hurry_after, handle, STOP_TIMEOUT)
    return result


async def hurry_after(handle: EngineHandle, seconds: float) -> None:
    """Skip what is left of the graceful stop after ``seconds``."""
    await trio.sleep(seconds)
    handle.stop_now()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--rest-base", required=True)
    parser.add_argument("--ws-base", required=True)
    parser.add_argument("--sim-pid", type=int, required=True)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--order-every", type=float, default=2.0)
    parser.add_argument("--max-order-rate", type=float, default=8.0)
    parser.add_argument("--no-journal", action="store_true")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--log-level", default="error", help="the engine's log level")
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT)
    parser.add_argument("--settle-timeout", type=float, default=SETTLE_TIMEOUT)
    parser.add_argument("--profile", help="write a cProfile of the loaded window to this file")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if TOKEN_ENV not in os.environ:
        parser.error(f"${TOKEN_ENV} must hold the simulator's token")
    configure_logging(args.log_level)
    with tempfile.TemporaryDirectory(prefix="aries-scale-") as tmp:
        result = trio.run(measure, args, Path(tmp) / "journal.sqlite")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
