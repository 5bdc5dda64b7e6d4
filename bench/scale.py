"""Scale: 1, 10, 100 and 1,000 accounts in one engine process against the simulator.

    .venv/bin/python bench/scale.py [--accounts 1,10,100,1000] [--seconds 30] [--warmup 3]
        [--order-every 2] [--max-order-rate 8] [--sim-tick 1.0] [--position 10]
        [--settle-timeout 60] [--no-journal] [--no-pin]

For each size N, in this order, two fresh processes: the simulator (``bench/_scale_sim.py``: one
user owning N accounts, each holding 10 AAPL, so its P&L moves on every market tick) and the
engine (``bench/_scale_engine.py``: ``run_engine`` in-process against the simulator's loopback
URLs, journal and metrics on; every account with ``pnl_interval = "15s"`` and one strategy bound
to it). The engine process measures:

* **idle memory**, after start-up, the start-up backlog and ``--warmup`` seconds with no order
  flowing: VmRSS (minus tracemalloc's own tables) and tracemalloc's current size (everything
  the engine allocated since just before start-up). Per account = the difference to the
  baseline run (the smallest N) divided by the difference in accounts, so the fixed cost of an
  engine cancels out;
* **load**, over ``--seconds``: each strategy sends a 1-share AAPL market order every
  ``max(order_every, N / max_order_rate)`` seconds, alternating buy and sell, staggered. The
  total is capped at ``--max-order-rate`` (8/s), under both the engine's default dispatch rate
  (10 requests/s) and the simulator's documented per-token limit (10/s, ARIES.md §9), so from
  N = 16 on the per-account period grows (12.5 s at 100 accounts, 125 s at 1,000); market orders
  fill at once, so no book grows and nothing needs cancelling. The P&L stream is the load that
  grows with N: one candle update per account per market tick (``--sim-tick``, 1 s). Figures:
  accounts-socket messages/s, events/s delivered to the strategies' hooks, each event's lag to
  the hook from the frame's receive (``ts_recv``: ``recv``) and, for order events, from the
  simulator's own timestamp (``venue``), p50/p99; the end of each P&L bucket → the hook that
  hears it closed (a backlog detector: at least up to one tick); the engine's and the
  simulator's CPU, and the share of the window the engine waited for a CPU because of other
  load on the machine (``runq``).

Prints two tables (memory, load) with the ratio of each size to the baseline run, checks the
issue-8 targets at the largest size (idle account < 64 KiB; lag p99 within 2x of the baseline,
judged venue → hook, since receive → hook cannot see frames the engine has not read yet),
and appends one JSON line to bench/results.jsonl. The simulator and the engine are pinned to
different CPUs when there are two (``--no-pin`` to leave them to the scheduler).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

RESULTS = Path(__file__).with_name("results.jsonl")
SIM_SCRIPT = Path(__file__).with_name("_scale_sim.py")
ENGINE_SCRIPT = Path(__file__).with_name("_scale_engine.py")
TOKEN_ENV = "SCALE_BENCH_TOKEN"
TARGET_IDLE_BYTES = 64 * 1024
TARGET_LAG_RATIO = 2.0
SIM_READY_TIMEOUT = 60.0
SIM_STOP_TIMEOUT = 10.0
KIB = 1024
MIB = 1024 * 1024


def sizes(text: str) -> list[int]:
    """``"1,10,100"`` → ``[1, 10, 100]`` (sorted, unique, each ≥ 1)."""
    values = sorted({int(part) for part in text.split(",") if part.strip()})
    if not values or values[0] < 1 or values[-1] > 9999:
        raise argparse.ArgumentTypeError("expected account counts from 1 to 9999, e.g. 1,10,100")
    return values


def read_line(stream: IO[str], timeout: float) -> str:
    """The first line the simulator prints (its endpoints); ``""`` if it exited or timed out."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def run_size(
    n: int, args: argparse.Namespace, cpus: tuple[int | None, int | None]
) -> dict[str, Any]:
    """Run one size: a fresh simulator and a fresh engine process; the engine's figures."""
    engine_cpu, sim_cpu = cpus
    sim_command = [
        sys.executable,
        str(SIM_SCRIPT),
        f"--accounts={n}",
        f"--tick={args.sim_tick}",
        f"--position={args.position}",
    ]
    if sim_cpu is not None:
        sim_command.append(f"--cpu={sim_cpu}")
    sim = subprocess.Popen(sim_command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert sim.stdin is not None
    assert sim.stdout is not None
    try:
        line = read_line(sim.stdout, SIM_READY_TIMEOUT)
        if not line:
            return {"accounts": n, "error": "the simulator did not start"}
        endpoints = json.loads(line)
        engine_command = [
            sys.executable,
            str(ENGINE_SCRIPT),
            f"--accounts={n}",
            f"--rest-base={endpoints['rest_base']}",
            f"--ws-base={endpoints['ws_base']}",
            f"--sim-pid={endpoints['pid']}",
            f"--warmup={args.warmup}",
            f"--seconds={args.seconds}",
            f"--order-every={args.order_every}",
            f"--max-order-rate={args.max_order_rate}",
            f"--start-timeout={args.start_timeout}",
            f"--settle-timeout={args.settle_timeout}",
        ]
        if args.no_journal:
            engine_command.append("--no-journal")
        if engine_cpu is not None:
            engine_command.append(f"--cpu={engine_cpu}")
        env = {**os.environ, TOKEN_ENV: endpoints["token"]}
        limit = args.start_timeout + args.settle_timeout + args.warmup + args.seconds + 120
        try:
            engine = subprocess.run(
                engine_command, env=env, capture_output=True, text=True, timeout=limit
            )
        except subprocess.TimeoutExpired:
            return {"accounts": n, "error": f"the engine process ran over {limit:.0f} s"}
        if engine.returncode != 0 or not engine.stdout.strip():
            tail = " | ".join(engine.stderr.strip().splitlines()[-3:])
            return {"accounts": n, "error": f"engine exit {engine.returncode}: {tail}"}
        result: dict[str, Any] = json.loads(engine.stdout.strip().splitlines()[-1])
        return result
    finally:
        sim.stdin.close()  # the simulator stops when its stdin closes
        try:
            sim.wait(SIM_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()


def per_account(run: dict[str, Any], base: dict[str, Any], key: str) -> float | None:
    """Bytes per account of idle ``key`` over the baseline run (``None`` for the baseline)."""
    extra = int(run["accounts"]) - int(base["accounts"])
    if extra <= 0:
        return None
    return (float(run["idle"][key]) - float(base["idle"][key])) / extra


def ratio(value: float | None, base: float | None) -> float | None:
    """``value / base`` when both are known and ``base`` is not zero."""
    if value is None or not base:
        return None
    return value / base


def fmt(value: float | None, spec: str, width: int, suffix: str = "") -> str:
    """``value`` formatted to ``width`` columns, ``—`` when unknown."""
    text = "—" if value is None else f"{value:{spec}}{suffix}"
    return f"{text:>{width}}"


def print_tables(runs: list[dict[str, Any]], base: dict[str, Any] | None) -> None:
    """The memory and the load tables, one row per size, ratios to ``base``."""
    header = (
        f"{'accounts':>8}{'start s':>9}{'settle s':>10}{'idle RSS MiB':>14}{'×base':>7}"
        f"{'traced MiB':>12}{'×base':>7}{'RSS/acct KiB':>14}{'traced/acct KiB':>17}"
    )
    print(
        "idle memory (no orders; P&L streaming), per account over the baseline run; settle: "
        "start-up backlog gone (* not within --settle-timeout)"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        if "error" in run:
            print(f"{run['accounts']:>8}  failed: {run['error']}")
            continue
        idle = run["idle"]
        base_idle: dict[str, Any] = base["idle"] if base else {}
        rss_acct = per_account(run, base, "rss") if base else None
        traced_acct = per_account(run, base, "traced") if base else None
        print(
            f"{run['accounts']:>8}{run['start_s']:>9.1f}"
            f"{fmt(run['settle_s'], '.1f', 10, '' if run['settled'] else '*')}"
            f"{idle['rss'] / MIB:>14.1f}"
            f"{fmt(ratio(idle['rss'], base_idle.get('rss')), '.2f', 7, 'x')}"
            f"{idle['traced'] / MIB:>12.2f}"
            f"{fmt(ratio(idle['traced'], base_idle.get('traced')), '.1f', 7, 'x')}"
            f"{fmt(None if rss_acct is None else rss_acct / KIB, '.1f', 14)}"
            f"{fmt(None if traced_acct is None else traced_acct / KIB, '.1f', 17)}"
        )
    header = (
        f"{'accounts':>8}{'order every s':>14}{'msgs/s':>8}{'events/s':>9}{'×base':>7}"
        f"{'recv p50':>9}{'p99':>7}{'×base':>7}{'venue p50':>10}{'p99':>9}{'×base':>9}"
        f"{'backlog p99 s':>14}{'CPU %':>6}{'runq %':>7}{'sim CPU %':>10}"
    )
    print()
    print(
        "loaded: accounts-socket messages/s in, events/s to the strategies' hooks, lag to the "
        "hook in ms (recv: from the frame's receive; venue: from the simulator's timestamp); "
        "backlog: simulator → receive of the live P&L updates"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        if "error" in run:
            print(f"{run['accounts']:>8}  failed: {run['error']}")
            continue
        loaded = run["loaded"]
        base_loaded: dict[str, Any] = base["loaded"] if base else {}
        recv, venue = loaded["recv_lag_ms"], loaded["venue_lag_ms"]
        backlog = loaded["stream_lag_ms"]["p99"]
        base_recv = base_loaded.get("recv_lag_ms", {})
        base_venue = base_loaded.get("venue_lag_ms", {})
        print(
            f"{run['accounts']:>8}{run['order_period_s']:>14.1f}{loaded['messages_s']:>8.0f}"
            f"{loaded['events_s']:>9.1f}"
            f"{fmt(ratio(loaded['events_s'], base_loaded.get('events_s')), '.1f', 7, 'x')}"
            f"{fmt(recv['p50'], '.2f', 9)}{fmt(recv['p99'], '.1f', 7)}"
            f"{fmt(ratio(recv['p99'], base_recv.get('p99')), '.2f', 7, 'x')}"
            f"{fmt(venue['p50'], '.1f', 10)}{fmt(venue['p99'], '.1f', 9)}"
            f"{fmt(ratio(venue['p99'], base_venue.get('p99')), '.2f', 9, 'x')}"
            f"{fmt(None if backlog is None else backlog / 1000, '.2f', 14)}"
            f"{loaded['cpu_pct']:>6.0f}{loaded['runq_pct']:>7.0f}{loaded['sim_cpu_pct']:>10.0f}"
        )


def accounting(runs: list[dict[str, Any]]) -> list[str]:
    """One line per size: what was sent and heard, and anything that went wrong."""
    lines = []
    for run in runs:
        if "error" in run:
            continue
        loaded = run["loaded"]
        heard = ", ".join(f"{name} {count}" for name, count in loaded["by_type"].items())
        close = loaded["pnl_close_lag_ms"]
        lines.append(
            f"  {run['accounts']}: {loaded['submitted']} orders sent; hooks heard {heard} "
            f"({loaded['samples']} lag samples, {loaded['venue_samples']} with a venue time); "
            f"P&L bucket end → hook p50/p99 {fmt(close['p50'], '.0f', 0)}/"
            f"{fmt(close['p99'], '.0f', 0)} ms; {loaded['stream_samples']} live P&L updates; "
            f"hook calls over budget {loaded['over_budget_calls']}, "
            f"accounts-socket reconnects {loaded['reconnects']}"
        )
        if not run["settled"]:
            lines.append(
                f"  WARNING: {run['accounts']}: the start-up backlog was not gone after "
                f"{run['settle_s']:.0f} s; measured anyway"
            )
        fills = loaded["by_type"].get("OrderFilled", 0)
        if fills < loaded["submitted"] * 0.9:
            lines.append(
                f"  WARNING: {run['accounts']}: only {fills} of {loaded['submitted']} orders "
                "filled within the window: the engine (or the simulator) fell behind"
            )
        if loaded["reconnects"]:
            lines.append(f"  WARNING: {run['accounts']}: the accounts socket reconnected")
    return lines


def targets(runs: list[dict[str, Any]], base: dict[str, Any] | None) -> dict[str, Any]:
    """The issue-8 targets, judged on the largest size that ran against the baseline.

    Lag is judged venue → hook (the simulator's timestamp of the order events): receive → hook
    cannot see frames the engine has not read yet, so it stays flat when the engine falls behind.
    """
    done = [r for r in runs if "error" not in r]
    if base is None or len(done) < 2:
        return {}
    top = done[-1]
    rss_acct = per_account(top, base, "rss")
    traced_acct = per_account(top, base, "traced")
    lag_ratio = ratio(top["loaded"]["recv_lag_ms"]["p99"], base["loaded"]["recv_lag_ms"]["p99"])
    venue_ratio = ratio(top["loaded"]["venue_lag_ms"]["p99"], base["loaded"]["venue_lag_ms"]["p99"])
    return {
        "at_accounts": top["accounts"],
        "idle_rss_per_account": None if rss_acct is None else round(rss_acct),
        "idle_traced_per_account": None if traced_acct is None else round(traced_acct),
        "idle_met": rss_acct is not None
        and traced_acct is not None
        and max(rss_acct, traced_acct) < TARGET_IDLE_BYTES,
        "recv_lag_p99_ratio": None if lag_ratio is None else round(lag_ratio, 2),
        "venue_lag_p99_ratio": None if venue_ratio is None else round(venue_ratio, 2),
        "lag_met": venue_ratio is not None and venue_ratio <= TARGET_LAG_RATIO,
    }


def print_targets(checked: dict[str, Any], base: dict[str, Any]) -> None:
    """One line per target."""
    if not checked:
        print("targets: need a baseline and a larger size that both ran")
        return
    n = checked["at_accounts"]
    rss, traced = checked["idle_rss_per_account"], checked["idle_traced_per_account"]
    print(
        f"target idle account < 64 KiB (at {n} over {base['accounts']}): RSS "
        f"{rss / KIB:.1f} KiB, traced {traced / KIB:.1f} KiB → "
        f"{'met' if checked['idle_met'] else 'NOT met'}"
    )
    venue, recv = checked["venue_lag_p99_ratio"], checked["recv_lag_p99_ratio"]
    verdict = "met" if checked["lag_met"] else "NOT met"
    if venue is None:
        verdict += " (no order event came back within the window)"
    print(
        f"target lag p99 within {TARGET_LAG_RATIO:g}x from {base['accounts']} to {n} accounts, "
        f"venue → hook: {fmt(venue, '.2f', 0, 'x')} (receive → hook "
        f"{fmt(recv, '.2f', 0, 'x')}) → {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=sizes, default=[1, 10, 100, 1000])
    parser.add_argument("--seconds", type=float, default=30.0, help="loaded window per size")
    parser.add_argument("--warmup", type=float, default=3.0, help="idle window per size")
    parser.add_argument("--order-every", type=float, default=2.0, help="seconds, per account")
    parser.add_argument("--max-order-rate", type=float, default=8.0, help="orders/s, in all")
    parser.add_argument("--sim-tick", type=float, default=1.0, help="simulator market tick, s")
    parser.add_argument("--position", type=int, default=10, help="AAPL shares per account")
    parser.add_argument("--start-timeout", type=float, default=240.0, help="seconds per size")
    parser.add_argument("--settle-timeout", type=float, default=60.0, help="seconds per size")
    parser.add_argument("--no-journal", action="store_true", help="run the engine without one")
    parser.add_argument("--no-pin", action="store_true", help="do not pin engine/simulator CPUs")
    args = parser.parse_args()

    available = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(available) >= 2
    cpus: tuple[int | None, int | None] = (available[0], available[1]) if pin else (None, None)
    placement = (
        f"engine CPU {cpus[0]}, simulator CPU {cpus[1]}"
        if pin
        else f"unpinned (CPUs {','.join(map(str, available))})"
    )
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    for n in args.accounts:
        print(f"… {n} account(s)", flush=True)
        runs.append(run_size(n, args, cpus))
    elapsed = time.monotonic() - started
    base = runs[0] if "error" not in runs[0] else None

    print(
        f"sizes {','.join(map(str, args.accounts))}; per size: warm-up {args.warmup:g} s idle, "
        f"{args.seconds:g} s loaded; 1-share market orders every max({args.order_every:g} s, "
        f"N / {args.max_order_rate:g}/s); P&L 15s candles, simulator tick {args.sim_tick:g} s, "
        f"{args.position} AAPL held per account; journal {'off' if args.no_journal else 'on'}; "
        f"simulator outbound buffer raised (see bench/_scale_sim.py); {placement}; "
        f"Python {platform.python_version()}; {elapsed:.0f} s"
    )
    if base is None:
        print(f"baseline run ({args.accounts[0]} accounts) failed: no ratios")
    else:
        print(f"baseline: the {base['accounts']}-account run")
    print_tables(runs, base)
    print("accounting:")
    print("\n".join(accounting(runs)))
    checked = targets(runs, base)
    if base is not None:
        print_targets(checked, base)
    result = {
        "bench": "scale",
        "accounts": args.accounts,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "order_every": args.order_every,
        "max_order_rate": args.max_order_rate,
        "sim_tick": args.sim_tick,
        "position": args.position,
        "journal": not args.no_journal,
        "pinned": pin,
        "python": platform.python_version(),
        "runs": runs,
        "targets": checked,
    }
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(json.dumps({**result, "at": time.time()}) + "\n")


if __name__ == "__main__":
    main()
