"""Fuzz the wire path at length: a million generated frames through decode → handle → book.

    .venv/bin/python bench/fuzz.py [--cases 1000000] [--seed 1] [--big 100000] [--jobs 1]
    .venv/bin/python bench/fuzz.py --replay 123456 [--seed 1]    # print case 123456 and its result

The same generators and checks as the fuzz tests (``tests/fuzz/frames.py``,
``tests/fuzz/harness.py``), driven by a seeded ``random.Random`` instead of Hypothesis (no
per-example overhead, no shrinking). Case ``i`` is generated from its own ``Random(seed·2³² +
i)``, so any case is replayed alone (``--replay``) and ``--jobs N`` (contiguous slices in N
processes) generates exactly the cases one process would (only the pipelines' state at the
slice boundaries differs). A case is one frame (1-5 lines, rarely up to
a thousand; canonical, valid, mutated, garbage, blank or absurd-account-event lines; sometimes
enormous; a quarter of them bytes, half of those with invalid UTF-8) for one of the three
sockets, fed to that socket's ``Pipeline``: its ``FrameDecoder``, its handler and, on the
accounts socket, one ``AccountBook`` per configured account (all rebuilt every ``--reset``
cases per socket, so the books and the normalizer carry state across frames but memory stays
bounded).

Counted per line: decoded (of which of a type the client ignores), decode errors, normalize
errors; per case: the properties broken (``harness.Violation`` codes, known engine bugs marked)
and crashes (an exception out of a stage, by stage, exception and innermost engine function).
The first case of each violation and crash is printed with its ``--replay`` number.

Baseline, same run: ``json.loads`` of every non-blank line of the same frames (bytes decoded as
UTF-8 first), one ``try`` per line — the least any decoder must do. The table gives the time
per case of generating, of the engine's path and of the baseline, and the ratio engine /
baseline. Appends one JSON line to bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import multiprocessing
import platform
import random
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import attrs
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from engine.model.enums import Endpoint
from tests.fuzz.frames import ENDPOINTS, Frame, RandomChooser, fuzz_frame
from tests.fuzz.harness import (
    ALL,
    KNOWN_CRASHES,
    KNOWN_VIOLATIONS,
    FrameResult,
    Pipeline,
)

RESULTS = Path(__file__).with_name("results.jsonl")
SEED_STRIDE = 2**32


def case_frame(seed: int, index: int, big: int) -> Frame:
    """Case ``index`` of run ``seed`` (the same frame every time)."""
    return fuzz_frame(RandomChooser(random.Random(seed * SEED_STRIDE + index)), big=big)


def baseline(data: str | bytes) -> int:
    """``json.loads`` of every non-blank line; the number of lines that parsed."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", "replace")
    else:
        text = data
    parsed = 0
    for line in text.split("\n"):
        if line and not line.isspace():
            try:
                json.loads(line)
                parsed += 1
            except (ValueError, RecursionError):
                pass
    return parsed


@attrs.define
class Tally:
    """What a slice of cases produced (summed across processes)."""

    cases: int = 0
    frames_bytes: int = 0
    lines: int = 0
    decoded: int = 0
    unknown: int = 0
    decode_errors: int = 0
    normalize_errors: int = 0
    gen_s: float = 0.0
    engine_s: float = 0.0
    checks_s: float = 0.0
    baseline_s: float = 0.0
    by_endpoint: collections.Counter[str] = attrs.field(factory=collections.Counter)
    violations: collections.Counter[str] = attrs.field(factory=collections.Counter)
    crashes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    first: dict[str, tuple[int, str]] = attrs.field(factory=dict)

    def add(self, other: Tally) -> None:
        """Sum ``other`` into this one (first examples: the earliest case wins)."""
        for field in attrs.fields(Tally):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if isinstance(mine, collections.Counter):
                mine.update(theirs)
            elif isinstance(mine, dict):
                for key, value in theirs.items():
                    if key not in mine or value[0] < mine[key][0]:
                        mine[key] = value
            else:
                setattr(self, field.name, mine + theirs)

    def record(self, index: int, frame: Frame, result: FrameResult) -> None:
        """Count one case's outcome."""
        self.lines += result.lines
        self.decoded += len(result.messages)
        self.unknown += result.unknown
        self.decode_errors += result.decode_errors
        self.normalize_errors += len(result.normalize_errors)
        for violation in result.violations:
            self.violations[violation.code] += 1
            self.first.setdefault(f"violation {violation.code}", (index, str(violation)[:300]))
        for signature in result.crashes:
            key = " ".join(signature)
            self.crashes[key] += 1
            self.first.setdefault(f"crash {key}", (index, repr(frame)[:300]))


def _capture(level: int) -> list[MutableMapping[str, Any]]:
    """Route structlog's events of ``level`` and worse to a list (nothing is rendered)."""
    events: list[MutableMapping[str, Any]] = []

    def collect(_logger: object, _method: str, event: MutableMapping[str, Any]) -> Any:
        events.append(event)
        raise structlog.DropEvent

    structlog.configure(
        processors=[collect],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )
    return events


def run_slice(seed: int, start: int, stop: int, big: int, reset: int, progress: bool) -> Tally:
    """Cases ``[start, stop)``; prints progress to stderr every 5 % if ``progress``."""
    logs = _capture(logging.WARNING)
    pipelines = {endpoint: Pipeline(endpoint, tolerate=ALL) for endpoint in ENDPOINTS}
    fed: collections.Counter[Endpoint] = collections.Counter()
    tally = Tally()
    clock = time.perf_counter
    began = clock()
    step = max(1, (stop - start) // 20)
    for index in range(start, stop):
        t0 = clock()
        frame = case_frame(seed, index, big)
        t1 = clock()
        endpoint = frame.endpoint
        if fed[endpoint] >= reset:
            pipelines[endpoint] = Pipeline(endpoint, tolerate=ALL)
            fed[endpoint] = 0
        fed[endpoint] += 1
        logs.clear()
        result = pipelines[endpoint].run(frame, logs)
        t2 = clock()
        baseline(frame.data)
        t3 = clock()
        tally.gen_s += t1 - t0
        tally.engine_s += result.engine_s
        tally.checks_s += t2 - t1 - result.engine_s
        tally.baseline_s += t3 - t2
        tally.cases += 1
        tally.frames_bytes += len(frame.data)
        tally.by_endpoint[endpoint.value] += 1
        tally.record(index, frame, result)
        if progress and (index - start + 1) % step == 0:
            done = index - start + 1
            elapsed = clock() - began
            eta = elapsed / done * (stop - start - done)
            print(
                f"  {done:>9,} cases  {done / elapsed:>7,.0f}/s  eta {eta:>5.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return tally


def _run_slice_args(args: tuple[int, int, int, int, int, bool]) -> Tally:
    return run_slice(*args)


def run(cases: int, seed: int, big: int, reset: int, jobs: int) -> tuple[Tally, float]:
    """All cases, in ``jobs`` processes; the tally and the wall time."""
    began = time.perf_counter()
    if jobs <= 1:
        tally = run_slice(seed, 0, cases, big, reset, True)
    else:
        bounds = [cases * k // jobs for k in range(jobs + 1)]
        slices = [(seed, bounds[k], bounds[k + 1], big, reset, k == 0) for k in range(jobs)]
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            parts = pool.map(_run_slice_args, slices)
        tally = Tally()
        for part in parts:
            tally.add(part)
    return tally, time.perf_counter() - began


def replay(seed: int, index: int, big: int) -> None:
    """Print one case's frame and what a fresh pipeline made of it."""
    frame = case_frame(seed, index, big)
    logs = _capture(logging.INFO)
    print(f"case {index} of seed {seed}: {frame.endpoint.value}, {len(frame.data):,} chars/bytes")
    print(repr(frame.data[:2000]) + (" …" if len(frame.data) > 2000 else ""))
    # A fresh pipeline that tolerates no crash: a crash shows its traceback. (A crash that needs
    # the state earlier frames left in the books does not reproduce alone.)
    result = Pipeline(frame.endpoint, tolerate=()).run(frame, logs)
    print(f"lines {result.lines}, decoded {len(result.messages)}, errors {result.decode_errors}")
    for event in logs:
        print("  log:", {k: str(v)[:200] for k, v in event.items()})
    for error in result.normalize_errors:
        print("  normalize error:", error)
    for violation in result.violations:
        print("  violation:", violation)


def _row(name: str, value: int, total: int) -> str:
    share = f"{100 * value / total:6.2f} %" if total else ""
    return f"{name:<34}{value:>14,}  {share}"


def report(tally: Tally, wall: float, args: argparse.Namespace) -> dict[str, Any]:
    """Print the table; return the JSON record."""
    cases = tally.cases
    per_case = {
        "generate": tally.gen_s,
        "engine (decode → handle → book)": tally.engine_s,
        "property checks": tally.checks_s,
        "baseline (json.loads per line)": tally.baseline_s,
    }
    print(
        f"\nfuzz: {cases:,} cases (seed {args.seed}, big {args.big:,}, jobs {args.jobs}) in "
        f"{wall:,.1f} s: {cases / wall:,.0f} cases/s, {tally.lines / wall:,.0f} lines/s"
    )
    print(f"  by socket: {dict(tally.by_endpoint)};  {tally.frames_bytes / cases:,.0f} chars/case")
    print()
    print(f"{'time per case':<34}{'µs':>14}  {'vs baseline':>10}")
    print("-" * 62)
    for name, seconds in per_case.items():
        ratio = seconds / tally.baseline_s if tally.baseline_s else float("nan")
        print(f"{name:<34}{1e6 * seconds / cases:>14,.1f}  {ratio:>9.2f}x")
    print()
    print(f"{'outcome (per line)':<34}{'count':>14}  {'share':>8}")
    print("-" * 62)
    print(_row("lines (non-blank)", tally.lines, tally.lines))
    print(_row("decoded", tally.decoded, tally.lines))
    print(_row("  of a type the client ignores", tally.unknown, tally.lines))
    print(_row("decode error", tally.decode_errors, tally.lines))
    print(_row("normalize error", tally.normalize_errors, tally.lines))
    print()
    print(f"{'properties broken (per case)':<48}{'cases':>14}")
    print("-" * 62)
    if not tally.violations and not tally.crashes:
        print("none")
    for code, count in tally.violations.most_common():
        known = "  (known bug)" if code in KNOWN_VIOLATIONS else ""
        print(f"{code + known:<48}{count:>14,}")
    for key, count in tally.crashes.most_common():
        signature = tuple(key.split(" "))
        known = "  (known bug)" if signature in KNOWN_CRASHES else ""
        print(f"{'crash ' + key + known:<48}{count:>14,}")
    for key, (index, example) in sorted(tally.first.items()):
        print(f"\nfirst {key}: case {index} (--replay {index} --seed {args.seed})\n  {example}")
    unexpected_violations = sum(
        count for code, count in tally.violations.items() if code not in KNOWN_VIOLATIONS
    )
    unexpected_crashes = sum(
        count for key, count in tally.crashes.items() if tuple(key.split(" ")) not in KNOWN_CRASHES
    )
    return {
        "bench": "fuzz",
        "cases": cases,
        "seed": args.seed,
        "big": args.big,
        "jobs": args.jobs,
        "python": platform.python_version(),
        "wall_s": round(wall, 1),
        "cases_per_s": round(cases / wall),
        "lines": tally.lines,
        "decoded": tally.decoded,
        "unknown": tally.unknown,
        "decode_errors": tally.decode_errors,
        "normalize_errors": tally.normalize_errors,
        "generate_us_per_case": round(1e6 * tally.gen_s / cases, 1),
        "engine_us_per_case": round(1e6 * tally.engine_s / cases, 1),
        "checks_us_per_case": round(1e6 * tally.checks_s / cases, 1),
        "baseline_us_per_case": round(1e6 * tally.baseline_s / cases, 1),
        "engine_vs_baseline": round(tally.engine_s / tally.baseline_s, 2),
        "violations": dict(tally.violations.most_common()),
        "crashes": dict(tally.crashes.most_common()),
        "unexpected": unexpected_violations + unexpected_crashes,
        "at": time.time(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--big", type=int, default=100_000, help="largest string/array built")
    parser.add_argument("--reset", type=int, default=1000, help="cases per socket's pipeline")
    parser.add_argument("--jobs", type=int, default=1, help="processes (slices of the cases)")
    parser.add_argument("--replay", type=int, default=None, help="print this case and stop")
    args = parser.parse_args()
    if args.replay is not None:
        replay(args.seed, args.replay, args.big)
        return
    tally, wall = run(args.cases, args.seed, args.big, args.reset, args.jobs)
    record = report(tally, wall, args)
    with RESULTS.open("a") as out:
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
