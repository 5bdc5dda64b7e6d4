"""Throughput, wire → strategy: the market socket's full path against a bare trio-websocket client.

    .venv/bin/python bench/throughput.py [--messages 60000] [--rounds 3] [--symbols 1000]
                                         [--no-pin]

A bench server (its own process, pinned to another CPU when there are two) speaks the
simulator's canonical market-socket messages (``engine.sim._messages``: ``authSuccess``, the
``marketStatus`` push, the subscribe ack, ``pong``) and, once subscribed, writes ``--messages``
quote events (``{"type":"event","payload":{"action":"update","type":"quote",...}}``, all
fields, symbols cycling over ``--symbols`` names) as fast as TCP takes them: the WebSocket
frames are encoded once with wsproto and written in 64 KiB ``send_all`` calls, so the server is
never the bottleneck (PERF-NOTES: a trio-websocket server caps at 30-40k frames/s). Two cases:
1 message per frame and 10 newline-separated messages per frame (NDJSON, §2.2).

* **baseline**: a bare ``trio_websocket`` client does the same auth and subscribe, then
  ``get_message()`` → ``split("\\n")`` → ``json.loads`` on every message, and counts them.
* **engine**: the real market ``ConnectionSupervisor`` (``MarketHandler``, static token; auth
  and subscribe handled by the server as above) → ``FrameDecoder`` (decode) →
  ``MarketNormalizer`` → ``EventBus`` → ``PluginHost`` → a counting strategy whose
  ``aries_on_quote`` counts. Nothing else subscribes to the bus (no journal, no metrics, no
  account actors): this is the market path alone.

What is counted: *the number of ``aries_on_quote`` calls the strategy received*. The host's bus
subscription conflates quotes per symbol while they wait, so a message can be lost to
conflation without being slow; with symbols cycling over 1000 names (more than the host ever has
pending) no quote is conflated, and the output shows it: messages decoded by the supervisor's
decoder, frames dropped by its reader (buffer full), quotes conflated by the bus, and quotes the
strategy received — the rate is computed only from the last. Rate = (received − 1) / (time of
the last − time of the first), both taken at the consumer (``perf_counter`` in the hook for the
engine, after ``json.loads`` for the baseline), so connection set-up is not in it.

Variants run round-robin (baseline, engine per case, ``--rounds`` times) and the median round is
reported, since this VM drifts ±25 %. Prints a table (messages/s, µs per message, ratio to the
baseline of the same run) and whether the issue-8 targets are met (engine ≥ 0.6× baseline at 1
message per frame; ≥ 150,000 quotes/s at 10 per frame), and appends one JSON line to
bench/results.jsonl. Order events are not measured here (their path goes through the accounts
socket and an account actor; see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import attrs
import trio
import trio_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    Request,
    TextMessage,
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
from engine.sim._market import Quote as SimQuote
from engine.sim._profile import ALL_FIELDS

RESULTS = Path(__file__).with_name("results.jsonl")
PER_FRAME_CASES = (1, 10)
CHUNK_BYTES = 64 * 1024
TOKEN = "bench-token"
STALL_S = 2.0  # no new message for this long: the run is over (something was lost)
TARGET_RATIO_1 = 0.6
TARGET_RATE_10 = 150_000


# ---------------------------------------------------------------------------------------------
# The bench server (own process): canonical handshake, then pre-framed quotes as fast as TCP
# ---------------------------------------------------------------------------------------------


def symbol_names(count: int) -> list[str]:
    return [f"S{n:04d}" for n in range(count)]


def quote_lines(messages: int, symbols: Sequence[str]) -> list[str]:
    """``messages`` canonical quote events (as the simulator writes them), symbols cycling."""
    now = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
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
        event = msg.quote_event(quote, now, fields)
        assert event is not None
        lines.append(json.dumps(event, separators=(",", ":")))
    return lines


def frame_blob(ws: WSConnection, lines: Sequence[str], per_frame: int) -> bytes:
    """The WebSocket frames of ``lines``, ``per_frame`` newline-separated messages each."""
    return b"".join(
        ws.send(Message(data="\n".join(lines[i : i + per_frame])))
        for i in range(0, len(lines), per_frame)
    )


async def serve_connection(stream: trio.SocketStream) -> None:
    """One client: handshake, auth, subscribe, then the quotes; answers pings throughout.

    The resource is ``/bench/<per_frame>/<messages>/<symbols>/v1/market/ws``.
    """
    ws = WSConnection(ConnectionType.SERVER)
    lock = trio.Lock()

    async def send(data: bytes) -> None:
        async with lock:
            await stream.send_all(data)

    async def blast(per_frame: int, messages: int, symbols: int) -> None:
        # One block of whole frames holding lcm-friendly 1000 messages, written again and again.
        block_messages = 1000
        lines = quote_lines(block_messages, symbol_names(symbols))
        block = frame_blob(ws, lines, per_frame)
        repeat = max(1, CHUNK_BYTES // len(block))
        chunk = block * repeat
        sent = 0
        while sent < messages:
            if messages - sent >= block_messages * repeat:
                await send(chunk)
                sent += block_messages * repeat
            else:
                await send(block)
                sent += block_messages

    try:
        async with trio.open_nursery() as nursery:
            case: tuple[int, int, int] | None = None
            text: list[str] = []
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                ws.receive_data(data)
                for event in ws.events():
                    now = datetime.now(UTC)
                    if isinstance(event, Request):
                        parts = event.target.strip("/").split("/")
                        case = (int(parts[1]), int(parts[2]), int(parts[3]))
                        await send(ws.send(AcceptConnection()))
                    elif isinstance(event, Ping):
                        await send(ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        await send(ws.send(event.response()))
                        nursery.cancel_scope.cancel()
                        return
                    elif isinstance(event, TextMessage):
                        text.append(event.data)
                        if not event.message_finished:
                            continue
                        request = json.loads("".join(text))
                        text.clear()
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
                            assert case is not None
                            nursery.start_soon(blast, *case)
                        elif kind == "ping":
                            await send(ws.send(Message(data=json.dumps(msg.pong(request_id, now)))))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return


def server_main(pipe: Connection, cpu: int | None) -> None:
    """Entry point of the server process: report the port, serve until killed."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        pipe.send(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(serve_connection, listeners)

    trio.run(main)


# ---------------------------------------------------------------------------------------------
# The two clients
# ---------------------------------------------------------------------------------------------


@attrs.define
class Run:
    """What one consumer saw: messages received and the time of the first and the last."""

    received: int = 0
    first: float = 0.0
    last: float = 0.0
    decoded: int = 0
    frames: int = 0
    frames_dropped: int = 0
    conflated: int = 0

    @property
    def rate(self) -> float:
        return (self.received - 1) / (self.last - self.first) if self.received > 1 else 0.0


def case_base(port: int, per_frame: int, messages: int, symbols: int) -> str:
    return f"ws://127.0.0.1:{port}/bench/{per_frame}/{messages}/{symbols}"


async def wait_done(run: Run, expected: int) -> None:
    """Until ``expected`` messages arrived, or none came for ``STALL_S`` (some were lost)."""
    seen, since = -1, trio.current_time()
    while run.received < expected:
        await trio.sleep(0.01)
        if run.received != seen:
            seen, since = run.received, trio.current_time()
        elif trio.current_time() - since > STALL_S:
            return


async def run_baseline(base: str, messages: int, symbols: Sequence[str]) -> Run:
    """A bare trio-websocket client: auth, subscribe, then ``json.loads`` every message."""
    run = Run()
    loads, clock = json.loads, time.perf_counter
    async with trio_websocket.open_websocket_url(base + "/v1/market/ws") as ws:
        await ws.send_message(encode.auth_request("a", TOKEN))
        while "authSuccess" not in await ws.get_message():
            pass
        await ws.send_message(encode.subscribe_market("s", list(symbols)))
        while '"subscribed"' not in await ws.get_message():
            pass
        with trio.move_on_after(STALL_S * 10):
            while run.received < messages:
                frame = await ws.get_message()
                run.frames += 1
                assert isinstance(frame, str)
                for line in frame.split("\n"):
                    loads(line)
                    run.received += 1
                    if run.received == 1:
                        run.first = clock()
                run.last = clock()
    run.decoded = run.received
    return run


@attrs.define
class CountingStrategy:
    """The strategy: counts ``aries_on_quote`` calls, noting the time of the first and last."""

    run: Run

    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        run = self.run
        run.received += 1
        run.last = time.perf_counter()
        if run.received == 1:
            run.first = run.last


async def run_engine(base: str, messages: int, symbols: Sequence[str]) -> Run:
    """Supervisor → decode → normalize → bus → PluginHost → ``aries_on_quote``."""
    run = Run()
    strategy = CountingStrategy(run)
    pm = make_plugin_manager()
    pm.register(strategy, name="counter")
    pm.check_pending()
    loaded = LoadedPlugin(name="counter", kind="strategy", obj=strategy, accounts=())
    bus = EventBus()
    host = PluginHost(pm, [loaded], bus, AccountViews())
    supervisor = ConnectionSupervisor(
        MarketHandler(set(symbols)), base, StaticTokenProvider(Secret(TOKEN)), bus
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(host.run)
        await host.start_plugins()
        await nursery.start(supervisor.run)  # returns once subscribed
        await wait_done(run, messages)
        nursery.cancel_scope.cancel()
    connection = supervisor.statistics()
    run.decoded = supervisor.decoder.statistics().messages
    run.frames = connection.frames
    run.frames_dropped = connection.frames_dropped
    [plugins] = [s for s in bus.statistics() if s.name == "plugins"]
    run.conflated = plugins.conflated
    return run


# ---------------------------------------------------------------------------------------------
# Orchestration and report
# ---------------------------------------------------------------------------------------------


async def measure(port: int, messages: int, rounds: int, nsym: int) -> dict[str, list[Run]]:
    symbols = symbol_names(nsym)
    runs: dict[str, list[Run]] = {}
    for _ in range(rounds):
        for per_frame in PER_FRAME_CASES:
            base = case_base(port, per_frame, messages, nsym)
            runs.setdefault(f"baseline/{per_frame}", []).append(
                await run_baseline(base, messages, symbols)
            )
            runs.setdefault(f"engine/{per_frame}", []).append(
                await run_engine(base, messages, symbols)
            )
    return runs


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.rate)[(len(runs) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000, help="quotes per run")
    parser.add_argument("--rounds", type=int, default=3, help="round-robin repetitions")
    parser.add_argument("--symbols", type=int, default=1000, help="distinct symbols cycled")
    parser.add_argument("--no-pin", action="store_true", help="do not pin client/server CPUs")
    args = parser.parse_args()
    messages = max(1000, args.messages // 1000 * 1000)  # the server writes blocks of 1000
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
        runs = trio.run(measure, port, messages, args.rounds, args.symbols)
        elapsed = time.perf_counter() - started
    finally:
        server.kill()
        server.join()

    placement = (
        f"client CPU {client_cpu}, server CPU {server_cpu}"
        if pin
        else f"unpinned (CPUs {','.join(map(str, cpus))})"
    )
    print(
        f"{messages} quotes per run, {args.rounds} rounds round-robin (median shown), "
        f"{args.symbols} symbols cycled; {placement}; Python {platform.python_version()}, "
        f"{elapsed:.1f} s"
    )
    header = (
        f"{'case':<22}{'baseline msg/s':>15}{'engine msg/s':>14}{'ratio':>7}"
        f"{'base µs/msg':>12}{'engine µs/msg':>14}"
    )
    print(header)
    print("-" * len(header))
    result: dict[str, Any] = {
        "bench": "throughput",
        "messages": messages,
        "rounds": args.rounds,
        "symbols": args.symbols,
        "pinned": pin,
        "python": platform.python_version(),
    }
    accounting: list[str] = []
    for per_frame in PER_FRAME_CASES:
        base = median_run(runs[f"baseline/{per_frame}"])
        engine = median_run(runs[f"engine/{per_frame}"])
        ratio = engine.rate / base.rate if base.rate else 0.0
        label = f"quotes, {per_frame}/frame"
        print(
            f"{label:<22}{base.rate:>15,.0f}{engine.rate:>14,.0f}{ratio:>6.2f}x"
            f"{1e6 / base.rate:>12.2f}{1e6 / engine.rate:>14.2f}"
        )
        key = f"quote_{per_frame}"
        result[key] = {
            "baseline_msgs_s": round(base.rate),
            "engine_msgs_s": round(engine.rate),
            "ratio": round(ratio, 3),
            "baseline_us_per_msg": round(1e6 / base.rate, 2),
            "engine_us_per_msg": round(1e6 / engine.rate, 2),
            "baseline_rounds_msgs_s": [round(r.rate) for r in runs[f"baseline/{per_frame}"]],
            "engine_rounds_msgs_s": [round(r.rate) for r in runs[f"engine/{per_frame}"]],
            "engine_decoded": engine.decoded,
            "engine_frames": engine.frames,
            "engine_frames_dropped": engine.frames_dropped,
            "engine_conflated": engine.conflated,
            "engine_received": engine.received,
            "baseline_received": base.received,
        }
        accounting.append(
            f"  {per_frame}/frame: sent {messages}; baseline json.loads {base.received}; engine "
            f"decoded {engine.decoded} (in {engine.frames} frames, incl. auth/status/ack), "
            f"frames dropped {engine.frames_dropped}, conflated on the bus {engine.conflated}, "
            f"strategy received {engine.received}"
        )
        for name, run in (("baseline", base), ("engine", engine)):
            if run.received < messages:
                accounting.append(f"  WARNING: {name} got {run.received} of {messages}")
    rounds_text = "; ".join(
        f"{name} " + "/".join(f"{r.rate:,.0f}" for r in rs) for name, rs in runs.items()
    )
    print(f"per round (msg/s): {rounds_text}")
    print("message accounting (median round; the rate counts what the strategy received):")
    print("\n".join(accounting))
    ratio_1 = result["quote_1"]["ratio"]
    rate_10 = result["quote_10"]["engine_msgs_s"]
    met_1 = ratio_1 >= TARGET_RATIO_1
    met_10 = rate_10 >= TARGET_RATE_10
    print(
        f"target 1/frame: engine ≥ {TARGET_RATIO_1}x baseline: {ratio_1:.2f}x → "
        f"{'met' if met_1 else 'NOT met'}"
    )
    print(
        f"target 10/frame: engine ≥ {TARGET_RATE_10:,} quotes/s: {rate_10:,} → "
        f"{'met' if met_10 else 'NOT met'}"
    )
    result["target_ratio_1_met"] = met_1
    result["target_rate_10_met"] = met_10
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(json.dumps({**result, "at": time.time()}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
