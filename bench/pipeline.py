"""Where the engine's CPU goes per message, stage by stage, without any I/O.

The wire → strategy benchmark (``throughput.py``) gives one number per case; this one splits the
engine's side of it into its stages, each timed on the same pre-built frames in one process, with
``json.loads`` of the same messages (the baseline's whole per-message work) measured in the same
run:

* quotes: ``FrameDecoder.decode_frame`` → ``MarketHandler.handle`` (normalize) →
  ``EventBus.publish_nowait`` (one call per frame) → ``PluginHost.deliver`` to a counting hook;
* order events: ``decode_frame`` → ``AccountsHandler.handle`` → ``AccountBook.apply`` (the
  account actor's bookkeeping: transitions, fills, positions).

Each stage is timed with ``time.process_time`` (CPU seconds of this process, so other load on
the machine inflates it less than wall time), best of ``--repeat`` passes, and printed in µs per
message and as a multiple of ``json.loads``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pluggy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _throughput_server import (
    ACCOUNT,
    order_lines,
    quote_lines,
    symbol_names,
)

from engine.accounts.book import AccountBook
from engine.accounts.views import AccountViews
from engine.aries.decode import FrameDecoder
from engine.bus import EventBus
from engine.connection.handlers import AccountsHandler, MarketHandler
from engine.hooks.host import PluginHost, market_conflation_key
from engine.hooks.manager import LoadedPlugin, make_plugin_manager
from engine.logging import configure_logging
from engine.model import AccountSnapshotReceived, Event, Quote

RESULTS = Path(__file__).resolve().parent / "results.jsonl"


class _Counter:
    """A strategy that counts quotes."""

    def __init__(self) -> None:
        self.quotes = 0

    def aries_on_quote(self, quote: Quote, ctx: object) -> None:
        """Count one quote."""
        self.quotes += 1


def _cpu_us_per_message(work: Callable[[], object], messages: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / messages * 1e6


def _frames(lines: Sequence[str], per_frame: int) -> list[str]:
    return ["\n".join(lines[i : i + per_frame]) for i in range(0, len(lines), per_frame)]


def _host(bus: EventBus) -> tuple[PluginHost, _Counter]:
    counter = _Counter()
    pm: pluggy.PluginManager = make_plugin_manager()
    pm.register(counter, name="counter")
    loaded = LoadedPlugin(name="counter", kind="strategy", obj=counter, accounts=(ACCOUNT,))
    return PluginHost(pm, [loaded], bus, AccountViews()), counter


def quote_stages(messages: int, per_frame: int, repeat: int) -> dict[str, float]:
    """µs per quote of each stage."""
    symbols = symbol_names(1000)
    lines = quote_lines(messages, symbols)
    frames = _frames(lines, per_frame)
    decoder = FrameDecoder(MarketHandler().endpoint)
    handler = MarketHandler(set(symbols))
    decoded = [decoder.decode_frame(frame, ts_recv=1) for frame in frames]
    for batch in decoded:  # first sight of each symbol logs once: keep that out of the timing
        for message in batch:
            handler.handle(message)
    per_frame_events: list[list[Event]] = [
        [event for message in batch for event in handler.handle(message)] for batch in decoded
    ]
    bus = EventBus()
    subscription = bus.subscribe("plugins", accepts=(Quote,), conflate=market_conflation_key)
    host, counter = _host(bus)

    def publish() -> None:
        for events in per_frame_events:
            bus.publish_nowait(events)
            subscription._pending.clear()  # what the host's receive_batch takes away
            subscription._slots.clear()

    flat = [event for events in per_frame_events for event in events]

    def deliver() -> None:
        for event in flat:
            host.deliver(event)

    loads = json.loads
    stages = {
        "json.loads (baseline)": _cpu_us_per_message(
            lambda: [loads(line) for line in lines], messages, repeat
        ),
        "decode_frame": _cpu_us_per_message(
            lambda: [decoder.decode_frame(frame, ts_recv=1) for frame in frames], messages, repeat
        ),
        "normalize (handler)": _cpu_us_per_message(
            lambda: [handler.handle(m) for batch in decoded for m in batch], messages, repeat
        ),
        "bus publish_nowait": _cpu_us_per_message(publish, messages, repeat),
        "host deliver → hook": _cpu_us_per_message(deliver, messages, repeat),
    }
    assert counter.quotes == messages * repeat
    return stages


def order_stages(messages: int, per_frame: int, repeat: int) -> dict[str, float]:
    """µs per order event of each stage."""
    lines = order_lines(messages, symbol_names(1000))
    frames = _frames(lines, per_frame)
    handler = AccountsHandler((ACCOUNT,))
    decoder = FrameDecoder(handler.endpoint)
    decoded = [decoder.decode_frame(frame, ts_recv=1) for frame in frames]
    reports = [event for batch in decoded for message in batch for event in handler.handle(message)]
    snapshot = AccountSnapshotReceived(
        account_id=ACCOUNT, info=None, balance=None, positions=(), orders=(), ts_recv=0
    )

    def apply() -> None:
        book = AccountBook(ACCOUNT)
        book.apply(snapshot)
        for report in reports:
            book.apply(report)  # type: ignore[arg-type]

    loads = json.loads
    return {
        "json.loads (baseline)": _cpu_us_per_message(
            lambda: [loads(line) for line in lines], messages, repeat
        ),
        "decode_frame": _cpu_us_per_message(
            lambda: [decoder.decode_frame(frame, ts_recv=1) for frame in frames], messages, repeat
        ),
        "AccountsHandler.handle": _cpu_us_per_message(
            lambda: [handler.handle(m) for batch in decoded for m in batch], messages, repeat
        ),
        "AccountBook.apply": _cpu_us_per_message(apply, messages, repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages per pass")
    parser.add_argument("--per-frame", type=int, default=10, help="messages per frame")
    parser.add_argument("--repeat", type=int, default=5, help="passes per stage (best is kept)")
    args = parser.parse_args()
    messages = max(1000, args.messages // 1000 * 1000)  # order events come in blocks of 1000
    configure_logging("error")
    result: dict[str, Any] = {
        "bench": "pipeline",
        "messages": messages,
        "per_frame": args.per_frame,
        "python": platform.python_version(),
    }
    print(
        f"{messages} messages, {args.per_frame} per frame, best of {args.repeat} passes, "
        f"CPU µs per message; Python {platform.python_version()}"
    )
    for kind, stages in (
        ("quotes", quote_stages(messages, args.per_frame, args.repeat)),
        ("orders", order_stages(messages, args.per_frame, args.repeat)),
    ):
        baseline = stages["json.loads (baseline)"]
        header = f"{kind + ': stage':<32}{'µs/msg':>9}{'× json.loads':>14}"
        print()
        print(header)
        print("-" * len(header))
        engine_total = 0.0
        for stage, micros in stages.items():
            if stage != "json.loads (baseline)":
                engine_total += micros
            print(f"{stage:<32}{micros:>9.2f}{micros / baseline:>13.2f}x")
        total = "engine total (stages above)"
        print(f"{total:<32}{engine_total:>9.2f}{engine_total / baseline:>13.2f}x")
        result[kind] = {name: round(value, 3) for name, value in stages.items()}
        result[kind]["engine_total"] = round(engine_total, 3)
    with RESULTS.open("a") as out:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
