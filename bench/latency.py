"""Latency, send → strategy: paced quotes against a bare trio-websocket client with one hop.

    .venv/bin/python bench/latency.py [--rate 10000] [--seconds 10] [--warmup 1] [--per-frame 1]
                                      [--rounds 2] [--symbols 1000] [--no-pin]

A bench server (its own process, pinned to another CPU when there are two) speaks the
simulator's canonical market-socket handshake as ``throughput.py``'s server does
(``authSuccess``, the ``marketStatus`` push, the subscribe ack, ``pong``; its quote events are
reused from ``_throughput_server``) and, once subscribed, sends ``--rate`` quote events per
second for ``--warmup`` + ``--seconds`` seconds, ``--per-frame`` newline-separated quotes per
WebSocket frame. Frame ``i`` is due at ``t0 + i × per_frame / rate``: the sender
sleeps (trio) while more than 2 ms ahead and spins on trio checkpoints for the rest, and when it
falls behind it sends late frames at once (it keeps the schedule, it does not skip). Each frame is
stamped just before it is written: every quote's ``quoteTimestamp`` is the send time
(``time.time_ns()``, RFC 3339 with microseconds, UTC), patched into frames pre-encoded with
wsproto. How far each frame went out behind its due time is recorded by the server and reported,
so a late sender is not blamed on the client.

* **baseline**: a bare ``trio_websocket`` client (same auth and subscribe): ``get_message()`` →
  ``split("\\n")`` → ``json.loads`` → one trio memory channel (10,000 deep) → a consumer task that
  reads the clock and computes ``time.time_ns()`` − the quote's ``quoteTimestamp``.
* **engine**: the real market ``ConnectionSupervisor`` (``MarketHandler``, static token) →
  ``FrameDecoder`` → ``MarketNormalizer`` → ``EventBus`` → ``PluginHost`` → a strategy whose
  ``aries_on_quote`` computes ``time.time_ns()`` − ``quote.ts_event`` (the normalizer takes
  ``ts_event`` from ``quoteTimestamp``). Nothing else subscribes to the bus.

Both clients also note when their frame was read (the engine's ``ts_recv``, taken once per frame
by the supervisor's reader; ``time.time_ns()`` after ``get_message()`` in the baseline), which
splits the latency into send → read (kernel, loopback, the WebSocket reader) and read → hook.
The server and the clients run on one machine, so their wall clocks agree.

Frames due in the first ``--warmup`` seconds are not measured: the server reports the stamp of
the first frame due after, and the clients keep the quotes stamped from then on (frames go out in
order, so that is the same set even when the sender ran late). Stamps have microseconds, so a
latency reads up to 1 µs high. Cases run round-robin (baseline, engine) ``--rounds`` times and
the samples of all rounds are pooled. Prints p50, p99, p99.9 and max in µs for both, the ratio
engine / baseline of each, the split, the sender's lag, a message accounting, and whether the
issue-8 targets are met (engine p99 ≤ 1.3× the baseline's p99, and under 1 ms); appends one JSON
line to bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import attrs
import trio
import trio_websocket
from _throughput_server import TOKEN, quote_lines, serve_websocket, symbol_names
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    Message,
)

from engine.accounts.views import AccountViews
from engine.aries import encode
from engine.bus import EventBus
from engine.connection.handlers import MarketHandler
from engine.connection.supervisor import ConnectionSupervisor
from engine.connection.tokens import StaticTokenProvider
from engine.hooks import make_plugin_manager
from engine.hooks.context import StrategyContext
from engine.hooks.host import PluginHost
from engine.hooks.manager import LoadedPlugin
from engine.logging import configure_logging
from engine.model import Quote
from engine.secrets import Secret
from engine.sim import _messages as msg

RESULTS = Path(__file__).with_name("results.jsonl")
CASES = ("baseline", "engine")
PERCENTILES = (("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999))
TARGET_RATIO_P99 = 1.3
TARGET_P99_US = 1000.0
TEMPLATE_FRAMES = 1000  # distinct pre-encoded frames, cycled
STAMP_SLOT = "~" * 32  # len("2026-01-15T14:30:00.123456+00:00")
SLEEP_AHEAD_NS = 2_000_000  # farther ahead of schedule than this, the sender sleeps (trio)
SLOW_SEND_NS = 1_000_000  # a frame's stamp → send_all return longer than this is counted
CHANNEL_CAPACITY = 10_000  # the baseline's hop, as deep as the engine's bus subscription
REPORT_TIMEOUT_S = 10.0
SETUP_TIMEOUT_S = 30.0  # connect, auth and subscribe
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
NEVER_NS = 2**63 - 1  # no frame was sent after the warm-up: no quote is measured


@attrs.define
class Stamper:
    """Epoch nanoseconds as RFC 3339 UTC with microseconds, always 32 bytes; the date and time
    of day are formatted once per second."""

    _second: int = -1
    _prefix: str = ""

    def __call__(self, ns: int) -> bytes:
        seconds, rest = divmod(ns, 1_000_000_000)
        if seconds != self._second:
            self._second = seconds
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        return f"{self._prefix}.{rest // 1000:06d}+00:00".encode()


def datetime_ns(moment: datetime) -> int:
    """Epoch nanoseconds of an aware datetime (exact to its microsecond)."""
    return (moment - EPOCH) // ONE_US * 1000


def percentile(ordered: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending sequence (0 when it is empty)."""
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@attrs.frozen
class Plan:
    """One case as the server runs it: what to send and how fast."""

    case: str
    per_frame: int
    rate: int
    frames: int
    warmup_ns: int
    symbols: int

    @property
    def quotes(self) -> int:
        return self.frames * self.per_frame

    def path(self) -> str:
        return (
            f"/lat/{self.case}/{self.per_frame}/{self.rate}/{self.frames}/{self.warmup_ns}/"
            f"{self.symbols}"
        )

    @classmethod
    def from_target(cls, target: str) -> Plan:
        parts = target.strip("/").split("/")
        case, per_frame, rate, frames, warmup_ns, symbols = parts[1:7]
        return cls(case, int(per_frame), int(rate), int(frames), int(warmup_ns), int(symbols))


# ---------------------------------------------------------------------------------------------
# The bench server (own process): canonical handshake, then paced, send-stamped quotes
# ---------------------------------------------------------------------------------------------


def frame_templates(ws: WSConnection, per_frame: int, symbols: int) -> list[list[bytes]]:
    """``TEMPLATE_FRAMES`` encoded frames of ``per_frame`` quotes, each split at its stamps.

    A frame is sent as ``stamp.join(parts)``: the stamp has the placeholder's length, so the
    pre-encoded header stays right (server frames are not masked).
    """
    lines = []
    for line in quote_lines(TEMPLATE_FRAMES * per_frame, symbol_names(symbols)):
        event = json.loads(line)
        event["payload"]["data"]["quoteTimestamp"] = STAMP_SLOT
        lines.append(json.dumps(event, separators=(",", ":")))
    return [
        ws.send(Message(data="\n".join(lines[i : i + per_frame]))).split(STAMP_SLOT.encode())
        for i in range(0, len(lines), per_frame)
    ]


def lag_summary(lags: list[int]) -> dict[str, float]:
    """The sender's lag behind schedule, in µs (measured frames only)."""
    ordered = sorted(lags)
    summary = {name: percentile(ordered, q) / 1000 for name, q in PERCENTILES}
    summary["max"] = (ordered[-1] if ordered else 0) / 1000
    return summary


async def pace(
    send: Callable[[bytes], Awaitable[None]], ws: WSConnection, plan: Plan, pipe: Connection
) -> None:
    """Send ``plan.frames`` frames on schedule, then report to the parent process.

    The report says from which send stamp quotes are measured (the first frame due after the
    warm-up: frames are stamped in order, so the clients select exactly the same quotes by their
    stamp even when the sender ran late) and how late the measured frames went out.
    """
    templates = frame_templates(ws, plan.per_frame, plan.symbols)
    clock, stamp_text = time.time_ns, Stamper()
    t0 = clock() + 10_000_000
    measure_from = t0 + plan.warmup_ns
    step = plan.per_frame * 1_000_000_000  # frame i is due at t0 + i * step // rate
    lags: list[int] = []
    first = last = sent = slowest = slow_total = 0
    try:
        for i in range(plan.frames):
            due = t0 + i * step // plan.rate
            now = clock()
            if now < due:
                if due - now > SLEEP_AHEAD_NS:
                    await trio.sleep((due - now - SLEEP_AHEAD_NS / 2) / 1e9)
                while (now := clock()) < due:
                    await trio.lowlevel.checkpoint()
            await send(stamp_text(now).join(templates[i % TEMPLATE_FRAMES]))
            sent += 1
            took = clock() - now
            slowest = max(slowest, took)
            if took > SLOW_SEND_NS:
                slow_total += took
            if due >= measure_from:
                lags.append(now - due)
                first = first or now
                last = now
    finally:
        measured = len(lags) * plan.per_frame
        pipe.send(
            {
                "case": plan.case,
                "frames_sent": sent,
                "complete": sent == plan.frames,
                # Stamps carry microseconds: compare at that resolution.
                "measure_from_ns": first // 1000 * 1000 if first else NEVER_NS,
                "measured_quotes": measured,
                "send_rate": (measured - plan.per_frame) / ((last - first) / 1e9)
                if last > first
                else 0.0,
                "lag_us": lag_summary(lags),
                "late_frames": sum(lag > step // plan.rate for lag in lags),
                "slowest_send_ms": slowest / 1e6,
                "slow_sends_s": slow_total / 1e9,
            }
        )


async def serve_connection(pipe: Connection, stream: trio.SocketStream) -> None:
    """One client: handshake, auth, subscribe, then the paced quotes; answers pings throughout.

    The resource is ``/lat/<case>/<per_frame>/<rate>/<frames>/<warmup_ns>/<symbols>/v1/market/ws``.
    """
    ws = WSConnection(ConnectionType.SERVER)
    lock = trio.Lock()

    async def send(data: bytes) -> None:
        async with lock:
            await stream.send_all(data)

    plan: Plan | None = None

    def on_target(target: str) -> None:
        nonlocal plan
        plan = Plan.from_target(target)

    async def on_request(request: dict[str, Any], now: datetime, nursery: trio.Nursery) -> None:
        kind = request.get("type")
        request_id = request.get("id")
        if kind == "request":  # /auth
            reply = msg.auth_success(request_id, now, 3_900_000)
            await send(ws.send(Message(data=json.dumps(reply))))
            status = msg.market_status(now)
            await send(ws.send(Message(data=json.dumps(status))))
        elif kind == "subscribe":
            wanted = [item["symbol"] for item in request["payload"]]
            ack = msg.market_subscribed(request_id, wanted)
            await send(ws.send(Message(data=json.dumps(ack))))
            assert plan is not None
            nursery.start_soon(pace, send, ws, plan, pipe)
        elif kind == "ping":
            await send(ws.send(Message(data=json.dumps(msg.pong(request_id, now)))))

    try:
        await serve_websocket(stream, ws, send, on_target, on_request)
    except* (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away: this connection is over (the nursery wraps errors in groups)


def server_main(pipe: Connection, cpu: int | None) -> None:
    """Entry point of the server process: report the port, serve until killed."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        pipe.send(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(partial(serve_connection, pipe), listeners)

    trio.run(main)


# ---------------------------------------------------------------------------------------------
# The two clients
# ---------------------------------------------------------------------------------------------


@attrs.define
class Sample:
    """Per quote received: its send time, when its frame was read, when the consumer had it."""

    sent: list[int] = attrs.field(factory=list)
    read: list[int] = attrs.field(factory=list)
    hook: list[int] = attrs.field(factory=list)
    decoded: int = 0
    frames: int = 0
    frames_dropped: int = 0
    conflated: int = 0
    reconnects: int = 0

    @property
    def received(self) -> int:
        return len(self.hook)


async def run_baseline(url: str, plan: Plan, symbols: Sequence[str], limit: float) -> Sample:
    """Bare trio-websocket: ``json.loads`` each message, one channel hop, then the clock."""
    sample = Sample()
    loads, clock = json.loads, time.time_ns
    send, receive = trio.open_memory_channel[tuple[int, Any]](CHANNEL_CAPACITY)

    async def consume() -> None:
        sent, read, hook = sample.sent, sample.read, sample.hook
        async with receive:
            async for read_ns, message in receive:
                now = clock()
                stamp = datetime.fromisoformat(message["payload"]["data"]["quoteTimestamp"])
                sent.append(datetime_ns(stamp))
                read.append(read_ns)
                hook.append(now)

    async with trio_websocket.open_websocket_url(url + "/v1/market/ws") as ws:
        with trio.fail_after(SETUP_TIMEOUT_S):
            await ws.send_message(encode.auth_request("a", TOKEN))
            while "authSuccess" not in await ws.get_message():
                pass
            await ws.send_message(encode.subscribe_market("s", list(symbols)))
            while '"subscribed"' not in await ws.get_message():
                pass
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            async with send:
                with trio.move_on_after(limit):
                    while sample.decoded < plan.quotes:
                        frame = await ws.get_message()
                        read_ns = clock()
                        sample.frames += 1
                        assert isinstance(frame, str)
                        for line in frame.split("\n"):
                            message = loads(line)
                            sample.decoded += 1
                            await send.send((read_ns, message))
    return sample


@attrs.define
class LatencyStrategy:
    """The strategy: per ``aries_on_quote``, the clock, then the quote's send stamp."""

    sample: Sample
    expected: int
    done: trio.Event = attrs.field(factory=trio.Event)

    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        now = time.time_ns()
        assert quote.ts_event is not None
        sample = self.sample
        sample.sent.append(datetime_ns(quote.ts_event))
        sample.read.append(quote.ts_recv)
        sample.hook.append(now)
        if len(sample.hook) >= self.expected:
            self.done.set()


async def run_engine(url: str, plan: Plan, symbols: Sequence[str], limit: float) -> Sample:
    """Supervisor → decode → normalize → bus → PluginHost → ``aries_on_quote``."""
    sample = Sample()
    strategy = LatencyStrategy(sample, plan.quotes)
    pm = make_plugin_manager()
    pm.register(strategy, name="latency")
    pm.check_pending()
    loaded = LoadedPlugin(name="latency", kind="strategy", obj=strategy, accounts=())
    bus = EventBus()
    host = PluginHost(pm, [loaded], bus, AccountViews())
    supervisor = ConnectionSupervisor(
        MarketHandler(set(symbols)), url, StaticTokenProvider(Secret(TOKEN)), bus
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(host.run)
        await host.start_plugins()
        with trio.fail_after(SETUP_TIMEOUT_S):
            await nursery.start(supervisor.run)  # returns once subscribed
        with trio.move_on_after(limit):
            await strategy.done.wait()
        nursery.cancel_scope.cancel()
    connection = supervisor.statistics()
    sample.decoded = supervisor.decoder.statistics().messages
    sample.frames = connection.frames
    sample.frames_dropped = connection.frames_dropped
    sample.reconnects = connection.reconnects
    [plugins] = [s for s in bus.statistics() if s.name == "plugins"]
    sample.conflated = plugins.conflated
    return sample


# ---------------------------------------------------------------------------------------------
# Orchestration and report
# ---------------------------------------------------------------------------------------------


@attrs.define
class Case:
    """Everything one case (baseline or engine) measured, over all rounds."""

    total: list[int] = attrs.field(factory=list)  # send → hook, ns
    wire: list[int] = attrs.field(factory=list)  # send → frame read, ns
    inner: list[int] = attrs.field(factory=list)  # frame read → hook, ns
    round_p99_us: list[float] = attrs.field(factory=list)
    samples: list[Sample] = attrs.field(factory=list)
    reports: list[dict[str, Any]] = attrs.field(factory=list)

    def add(self, sample: Sample, report: dict[str, Any] | None) -> None:
        self.samples.append(sample)
        if report is None:
            return
        self.reports.append(report)
        start = report["measure_from_ns"]
        total = []
        for sent, read, hook in zip(sample.sent, sample.read, sample.hook, strict=True):
            if sent >= start:
                total.append(hook - sent)
                self.wire.append(read - sent)
                self.inner.append(hook - read)
        self.total += total
        self.round_p99_us.append(percentile(sorted(total), 0.99) / 1000)

    def stats_us(self, values: list[int] | None = None) -> dict[str, float]:
        ordered = sorted(self.total if values is None else values)
        stats = {name: round(percentile(ordered, q) / 1000, 1) for name, q in PERCENTILES}
        stats["max"] = round((ordered[-1] if ordered else 0) / 1000, 1)
        return stats


async def fetch_report(pipe: Connection, case: str) -> dict[str, Any] | None:
    """The server's report on ``case`` (``None`` if it never came)."""
    while await trio.to_thread.run_sync(pipe.poll, REPORT_TIMEOUT_S):
        report: dict[str, Any] = pipe.recv()
        if report["case"] == case:
            return report
    return None


async def measure(
    port: int, pipe: Connection, args: argparse.Namespace, frames: int
) -> dict[str, Case]:
    symbols = symbol_names(args.symbols)
    duration = args.warmup + args.seconds
    limit = 2 * duration + 5
    cases = {name: Case() for name in CASES}
    runners = {"baseline": run_baseline, "engine": run_engine}
    for round_no in range(args.rounds):
        for name in CASES:
            plan = Plan(
                case=f"{round_no}-{name}",
                per_frame=args.per_frame,
                rate=args.rate,
                frames=frames,
                warmup_ns=round(args.warmup * 1e9),
                symbols=args.symbols,
            )
            url = f"ws://127.0.0.1:{port}{plan.path()}"
            sample = await runners[name](url, plan, symbols, limit)
            cases[name].add(sample, await fetch_report(pipe, plan.case))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=int, default=10_000, help="quotes per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per case")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds sent, not measured")
    parser.add_argument("--per-frame", type=int, default=1, help="quotes per WebSocket frame")
    parser.add_argument("--rounds", type=int, default=2, help="round-robin repetitions")
    parser.add_argument("--symbols", type=int, default=1000, help="distinct symbols cycled")
    parser.add_argument("--no-pin", action="store_true", help="do not pin client/server CPUs")
    args = parser.parse_args()
    if args.rate <= 0 or args.per_frame <= 0 or args.seconds <= 0 or args.rounds <= 0:
        parser.error("--rate, --per-frame, --seconds and --rounds must be positive")
    frames = math.ceil(args.rate * (args.warmup + args.seconds) / args.per_frame)
    configure_logging("error")

    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    client_cpu, server_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=server_main, args=(theirs, server_cpu), daemon=True)
    server.start()
    try:
        port = ours.recv()
        started = time.perf_counter()
        cases = trio.run(measure, port, ours, args, frames)
        elapsed = time.perf_counter() - started
    finally:
        server.kill()
        server.join()
    report(args, cases, frames, pin, client_cpu, server_cpu, cpus, elapsed)


def report(
    args: argparse.Namespace,
    cases: dict[str, Case],
    frames: int,
    pin: bool,
    client_cpu: int | None,
    server_cpu: int | None,
    cpus: list[int],
    elapsed: float,
) -> None:
    """Print the table and append the JSON line."""
    placement = (
        f"client CPU {client_cpu}, server CPU {server_cpu}"
        if pin
        else f"unpinned (CPUs {','.join(map(str, cpus))})"
    )
    print(
        f"{args.rate:,} quotes/s, {args.per_frame}/frame, {args.seconds:g} s measured after "
        f"{args.warmup:g} s warm-up, {args.rounds} round(s) round-robin (samples pooled), "
        f"{args.symbols} symbols cycled; {placement}; Python {platform.python_version()}, "
        f"{elapsed:.1f} s"
    )
    base, engine = cases["baseline"], cases["engine"]
    base_us, engine_us = base.stats_us(), engine.stats_us()
    names = [name for name, _ in PERCENTILES] + ["max"]
    ratios = {n: engine_us[n] / base_us[n] if base_us[n] else 0.0 for n in names}
    header = f"{'send → hook, µs':<18}" + "".join(f"{n:>12}" for n in names) + f"{'samples':>10}"
    print(header)
    print("-" * len(header))
    for label, case, stats in (("baseline", base, base_us), ("engine", engine, engine_us)):
        print(
            f"{label:<18}"
            + "".join(f"{stats[n]:>12,.1f}" for n in names)
            + f"{len(case.total):>10,}"
        )
    print(f"{'engine / baseline':<18}" + "".join(f"{ratios[n]:>11.2f}x" for n in names))
    split = {}
    for label, case in (("baseline", base), ("engine", engine)):
        wire, inner = case.stats_us(case.wire), case.stats_us(case.inner)
        split[label] = {"send_to_read_us": wire, "read_to_hook_us": inner}
        print(
            f"  {label}: send → frame read p50 {wire['p50']:,.1f} / p99 {wire['p99']:,.1f} µs; "
            f"frame read → hook p50 {inner['p50']:,.1f} / p99 {inner['p99']:,.1f} µs"
        )
    print(
        "per round p99 (µs): "
        + "; ".join(
            f"{label} " + "/".join(f"{v:,.1f}" for v in case.round_p99_us)
            for label, case in (("baseline", base), ("engine", engine))
        )
    )
    print("sender (server process), measured frames only:")
    sender: dict[str, list[dict[str, Any]]] = {}
    for label, case in (("baseline", base), ("engine", engine)):
        sender[label] = case.reports
        for r in case.reports:
            lag = r["lag_us"]
            print(
                f"  {r['case']}: {r['send_rate']:,.0f} quotes/s sent; lag behind schedule "
                f"p50 {lag['p50']:,.1f} / p99 {lag['p99']:,.1f} / p99.9 {lag['p99.9']:,.1f} / "
                f"max {lag['max']:,.1f} µs; {r['late_frames']:,} frames more than one interval "
                f"late; {r['slow_sends_s']:,.2f} s in sends over 1 ms (longest "
                f"{r['slowest_send_ms']:,.1f} ms: TCP backpressure or the server descheduled)"
                f"{'' if r['complete'] else '; INCOMPLETE (connection closed early)'}"
            )
    quotes = frames * args.per_frame
    print("message accounting (per round):")
    warnings = []
    for label, case in (("baseline", base), ("engine", engine)):
        for n, s in enumerate(case.samples):
            extra = (
                f", frames dropped {s.frames_dropped}, conflated on the bus {s.conflated}, "
                f"reconnects {s.reconnects}"
                if label == "engine"
                else ""
            )
            print(
                f"  {n}-{label}: sent {quotes:,} in {frames:,} frames; decoded {s.decoded:,} "
                f"(in {s.frames:,} frames{', incl. auth/status/ack' if label == 'engine' else ''})"
                f"{extra}; consumer got {s.received:,}"
            )
            if s.received < quotes:
                warnings.append(f"  WARNING: {n}-{label} got {s.received:,} of {quotes:,}")
            if s.reconnects:
                warnings.append(f"  WARNING: {n}-{label} reconnected: its figures are not valid")
        if len(case.reports) < len(case.samples):
            warnings.append(f"  WARNING: {label}: a server report is missing; rounds dropped")
    if warnings:
        print("\n".join(warnings))
    engine_p99, base_p99 = engine_us["p99"], base_us["p99"]
    ratio_p99 = ratios["p99"]
    met_ratio = bool(base_p99) and engine_p99 <= TARGET_RATIO_P99 * base_p99
    met_abs = bool(engine.total) and engine_p99 < TARGET_P99_US
    print(
        f"target: engine p99 ≤ {TARGET_RATIO_P99}x baseline p99: {ratio_p99:.2f}x → "
        f"{'met' if met_ratio else 'NOT met'}"
    )
    print(
        f"target: engine p99 < {TARGET_P99_US:,.0f} µs: {engine_p99:,.1f} µs → "
        f"{'met' if met_abs else 'NOT met'}"
    )
    result: dict[str, Any] = {
        "bench": "latency",
        "rate": args.rate,
        "per_frame": args.per_frame,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "symbols": args.symbols,
        "pinned": pin,
        "python": platform.python_version(),
        "baseline_us": base_us,
        "engine_us": engine_us,
        "ratio": {n: round(v, 3) for n, v in ratios.items()},
        "baseline_samples": len(base.total),
        "engine_samples": len(engine.total),
        "baseline_rounds_p99_us": base.round_p99_us,
        "engine_rounds_p99_us": engine.round_p99_us,
        "split": split,
        "sender": sender,
        "engine_frames_dropped": sum(s.frames_dropped for s in engine.samples),
        "engine_conflated": sum(s.conflated for s in engine.samples),
        "engine_reconnects": sum(s.reconnects for s in engine.samples),
        "target_ratio_p99_met": met_ratio,
        "target_p99_1ms_met": met_abs,
    }
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(json.dumps({**result, "at": time.time()}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
