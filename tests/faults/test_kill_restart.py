"""The engine killed with SIGKILL mid-fill, then restarted (issue 9, item 2).

The first run is a real ``aries-engine run`` process (nothing of it can clean up: that is the
point of SIGKILL); its strategy, ``PersistentRecorder``, writes what it hears to a file as it
hears it. The restart runs in this process on the same config and journal, so the invariants of
``tests.faults.rig`` are checked on it as on every other scenario, with the strategy's record
spanning both runs: each fill heard exactly once across the two, the order placed once, the
books equal to the venue's, the engine healthy and trading.

Determinism: the simulator runs on this test's clock, frozen during the first run (the market
ticks only when the test jumps the clock), so the order fills in part on exactly one tick, and
the rest only after the kill. The restart runs on the same clock at real-time rate (not
jumping through idle time: the journal, on only here, spins on an autojumping clock; an engine
bug). Waits are on the engine's log lines, the journal on disk, the simulator's counters and
what the strategy hears; the first run is bounded by ``--duration`` (a hang ends as a failed
read, not a stuck test).

Two kill points: after the partial fill is on disk in the journal (the restart must publish
only the rest), and before it is (the journal's writes held up by a lock on the file): the
documented limit of the journal, an at-least-once delivery, kept as an ``xfail``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
import trio
import trio.testing

from engine.journal import JournalReader
from engine.model import OrderFilled, OrderStatus
from engine.model.events import Event, OrderPlaced
from engine.sim import SimAccount
from engine.sim._profile import LOT_SIZE, MAX_QUOTE_LOTS
from tests.faults.kill_strategy import RecordedRun
from tests.faults.rig import (
    ACCOUNT,
    REPRODUCED,
    SYMBOL,
    BugReproduced,
    FaultRig,
    Venue,
    engine_table,
    open_engine,
    open_venue,
    sim_config,
)

ROOT = Path(__file__).resolve().parents[2]
TICK = 3.7
"""The simulator's tick interval (``sim_config``'s)."""
QTY = Decimal(MAX_QUOTE_LOTS * LOT_SIZE + 500)
"""More than the largest quote size: one tick can never fill it all."""
FIRST_RUN_LIMIT = 300.0
"""Real seconds the first engine process may live (``--duration``): a bound, not a wait."""
BOUND = 120.0
"""Seconds (virtual, at ``RESTART_RATE``) the restart may take."""
RESTART_RATE = 1.0
"""The restart's clock runs at this rate (virtual seconds per real second) rather than jumping
through idle time: the journal, on in these scenarios only, spins when virtual time lands
exactly on its flush deadline (an engine bug, see the report)."""
VENUE = sim_config(accounts=(SimAccount(account_id=ACCOUNT, cash=Decimal(5_000_000)),))
"""Cash for ``QTY`` shares."""
E = TypeVar("E", bound=Event)


@pytest.fixture
def frozen_clock() -> trio.testing.MockClock:
    """Virtual time that stands still until the test jumps it (the restart runs it at
    ``RESTART_RATE``)."""
    return trio.testing.MockClock()


class EngineProcess:
    """An ``aries-engine run`` subprocess whose JSON log lines can be waited for."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.output = b""
        self._seen = 0

    @classmethod
    async def start(cls, config: Path, scratch: Path) -> EngineProcess:
        """Run the engine on ``config`` (log: JSON, debug, on stderr)."""
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "engine", "run", str(config), "--log-format", "json",
             "--log-level", "debug", "--duration", str(FIRST_RUN_LIMIT)],
            cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
            env={**os.environ, "XDG_DATA_HOME": str(scratch), "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        return cls(process)

    async def wait_for(self, needle: bytes) -> None:
        """Wait until the log, past what earlier waits consumed, has ``needle``."""
        assert self.process.stderr is not None
        while (found := self.output.find(needle, self._seen)) < 0:
            chunk = await self.process.stderr.receive_some()
            assert chunk, "the engine exited:\n" + self.output.decode()[-3000:]
            self.output += chunk
        self._seen = found + len(needle)

    async def kill(self) -> None:
        """SIGKILL, and reap."""
        self.process.kill()
        assert await self.process.wait() == -9


def _event(name: str) -> bytes:
    return f'"event": "{name}"'.encode()


def _toml(table: dict[str, Any]) -> str:
    """``table`` as TOML (strings, numbers, booleans, tables, arrays of tables: what an engine
    config holds)."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))

    def emit(prefix: str, body: dict[str, Any], header: str | None) -> None:
        if header is not None:
            lines.append(header)
        for key, v in body.items():
            if not isinstance(v, dict) and not (
                v and isinstance(v, list) and isinstance(v[0], dict)
            ):
                lines.append(f"{key} = {value(v)}")
        for key, v in body.items():
            name = f"{prefix}{key}"
            if isinstance(v, dict):
                emit(f"{name}.", v, f"[{name}]")
            elif v and isinstance(v, list) and isinstance(v[0], dict):
                for item in v:
                    emit(f"{name}.", item, f"[[{name}]]")

    emit("", table, None)
    return "\n".join(lines) + "\n"


def _config(venue: Venue, scratch: Path) -> dict[str, Any]:
    """Write the engine's config to ``scratch/engine.toml`` and return it as read back (the
    strategy buys ``QTY`` $5 under the bid: it rests)."""
    bid = venue.sim.market.quote(SYMBOL).bid
    assert bid is not None
    table = engine_table(
        venue,
        journal={"path": str(scratch / "journal.sqlite")},
        strategies=[
            {
                "name": "recorder",
                "path": "tests.faults.kill_strategy:PersistentRecorder",
                "account": ACCOUNT,
                "config": {
                    "record": str(scratch / "record.jsonl"),
                    "qty": str(QTY),
                    "price": str(bid - 5),
                },
            }
        ],
    )
    path = scratch / "engine.toml"
    path.write_text(_toml(table), encoding="utf-8")
    written = tomllib.loads(path.read_text(encoding="utf-8"))
    assert written == table
    return written


async def _journaled(journal: Path, kind: type[E], matches: Callable[[E], bool]) -> bool:
    """Whether the journal on disk has an event of ``kind`` that ``matches``."""

    def read() -> bool:
        with JournalReader(journal) as reader:
            return any(isinstance(e, kind) and matches(e) for e in reader.events())

    return await trio.to_thread.run_sync(read)


def _the_order(venue: Venue) -> Any:
    [order] = venue.sim.ledger.orders(ACCOUNT)
    return order


async def _tick(venue: Venue, clock: trio.testing.MockClock) -> None:
    """One market step (and the matching after it), now."""
    ticks = venue.sim.statistics().market_ticks
    clock.jump(TICK)
    await venue.sim.wait_statistics(lambda s: s.market_ticks > ticks)


@attrs.frozen
class FirstRun:
    """How the first run ended: the venue's order, the part filled before the kill, and what
    the strategy heard."""

    order: Any
    partial: Decimal
    heard: RecordedRun


async def _first_run_killed_mid_fill(
    venue: Venue, clock: trio.testing.MockClock, scratch: Path, *, journaled: bool
) -> FirstRun:
    """Run the engine as a process: its strategy's order rests, one tick fills part of it, the
    strategy hears that, and then the process is killed, with the fill on disk in the journal
    (``journaled``) or not yet (its writes held up by a lock on the file, as by a stalled disk:
    a crash within the journal's flush interval)."""
    sim = venue.sim
    journal = scratch / "journal.sqlite"
    first = await EngineProcess.start(scratch / "engine.toml", scratch)
    await first.wait_for(b'"status": "NEW"')
    [placed] = sim.ledger.orders(ACCOUNT)
    while not await _journaled(journal, OrderPlaced, lambda e: e.cl_ord_id == placed.cl_ord_id):
        await first.wait_for(_event("journal.batch_written"))
    lock = None if journaled else await trio.to_thread.run_sync(_lock, journal)
    assert placed.price is not None
    sim.market.force_quote(SYMBOL, bid=placed.price - 2, ask=placed.price - 1)
    await _tick(venue, clock)
    [order] = sim.ledger.orders(ACCOUNT)
    partial = order.cum_qty
    assert 0 < partial < QTY
    key = (order.cl_ord_id, partial)
    await first.wait_for(_event("recorder.recorded"))  # the strategy heard it
    if journaled:
        while not await _journaled(journal, OrderFilled, lambda e: (e.cl_ord_id, e.cum_qty) == key):
            await first.wait_for(_event("journal.batch_written"))
    await first.kill()
    if lock is not None:
        lock.close()
        assert not await _journaled(journal, OrderFilled, lambda e: True)
    heard = RecordedRun.read(scratch / "record.jsonl")
    assert heard.submitted == [order.client_id]
    assert [(f.cl_ord_id, f.cum_qty) for f in heard.fills] == [key]
    return FirstRun(order, partial, heard)


def _lock(journal: Path) -> sqlite3.Connection:
    """Take the journal's write lock (and keep it until the connection is closed)."""
    connection = sqlite3.connect(journal, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN IMMEDIATE")
    return connection


@asynccontextmanager
async def _restarted(
    venue: Venue, config: dict[str, Any], first: FirstRun
) -> AsyncIterator[FaultRig]:
    """The engine again, in this process, on the same config and journal, with the strategy's
    record of the first run."""
    async with open_engine(venue, config) as rig:
        rig.strategy.fills[:0] = first.heard.fills
        rig.submitted.extend(first.heard.submitted)
        yield rig


async def _synced(rig: FaultRig) -> None:
    """Wait until the restarted strategy heard the account synced: everything the restart
    publishes (fills restored from the journal, then the snapshot's differences) comes before."""
    await rig.wait_healthy()
    await rig.strategy.wait_until(lambda: rig.strategy.synced > 0)


def _fast_teardown(clock: trio.testing.MockClock) -> None:
    """Back to jumping through idle time once the restarted engine is gone (the simulator's
    graceful shutdown waits on timers)."""
    clock.rate = 0.0
    clock.autojump_threshold = 0.01


async def test_sigkill_mid_fill_then_restart(
    frozen_clock: trio.testing.MockClock, fault_token: str, tmp_path: Path
) -> None:
    async with open_venue(VENUE) as venue:
        config = _config(venue, tmp_path)
        first = await _first_run_killed_mid_fill(venue, frozen_clock, tmp_path, journaled=True)
        while (order := _the_order(venue)).status.value != "FILLED":  # the rest, while dead
            await _tick(venue, frozen_clock)
        frozen_clock.rate = RESTART_RATE
        with trio.fail_after(BOUND):
            async with _restarted(venue, config, first) as rig:
                await _synced(rig)
                assert rig.strategy.status(order.client_id) is OrderStatus.FILLED
                await rig.settle()
                placed = venue.sim.statistics().orders_placed
                last = await rig.submit(rig.bid() + 1)
                await rig.wait_status(last, OrderStatus.FILLED)
                await rig.settle()
        _fast_teardown(frozen_clock)
    assert placed == 1  # neither the engine nor the restarted strategy placed it again
    assert [(f.cl_ord_id, f.cum_qty, f.qty) for f in rig.strategy.fills[:2]] == [
        (order.cl_ord_id, first.partial, first.partial),
        (order.cl_ord_id, QTY, QTY - first.partial),
    ]


UNJOURNALED_FILL = (
    "engine limit (documented in engine/journal/reader.py, 'Limits'): a fill published less "
    "than the journal's flush interval (0.2 s) before a crash is not on disk, so the restarted "
    "engine cannot know the strategy heard it and publishes it again: at least once, not "
    "exactly once"
)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=REPRODUCED, reason=UNJOURNALED_FILL)
async def test_sigkill_after_a_fill_not_yet_journaled_then_restart(
    frozen_clock: trio.testing.MockClock, fault_token: str, tmp_path: Path
) -> None:
    """As above, but the kill comes before the journal could write the fill the strategy had
    just heard (its writes held up by a lock on the file, as by a stalled disk)."""
    async with open_venue(VENUE) as venue:
        config = _config(venue, tmp_path)
        first = await _first_run_killed_mid_fill(venue, frozen_clock, tmp_path, journaled=False)
        key = (first.order.cl_ord_id, first.partial)
        frozen_clock.rate = RESTART_RATE
        with trio.fail_after(BOUND):
            async with _restarted(venue, config, first) as rig:
                await _synced(rig)
                violations = rig.invariant_violations()
                if not violations:  # heard once: go on trading
                    await rig.fill_at_venue(first.order.client_id)
                    await rig.wait_status(first.order.client_id, OrderStatus.FILLED)
                    await rig.settle()
        _fast_teardown(frozen_clock)
    if violations == [f"fill {key!r} heard 2 times", f"{first.order.client_id}: strategy heard "
                      f"{2 * first.partial} filled, venue {first.partial}"]:  # fmt: skip
        raise BugReproduced("\n".join(violations))
    assert not violations, "invariants violated:\n" + "\n".join(violations)
