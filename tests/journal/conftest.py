"""Helpers for the journal tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import trio

from engine.journal import JournalWriter
from engine.model import OrderFilled, Side


def fill(n: int, *, account_id: str = "ACC-1", ts_recv: int | None = None) -> OrderFilled:
    """The n-th fill of one order: ``cum_qty`` n."""
    return OrderFilled(
        account_id=account_id,
        cl_ord_id="cl-1",
        client_order_id="c-1",
        symbol="AAPL",
        side=Side.BUY,
        qty=Decimal(1),
        price=Decimal("100.01"),
        cum_qty=Decimal(n),
        leaves_qty=Decimal(10_000 - n),
        ts_recv=1_700_000_000_000_000_000 + n if ts_recv is None else ts_recv,
    )


async def wait_until(condition: Callable[[], bool], *, real_seconds: float = 60) -> None:
    """Poll ``condition``: the writer's progress comes from worker threads, with no event to wait
    on. Works under ``autojump_clock``: virtual time passes in 1 ms steps while the threads run in
    real time, so the time-out is measured on the real clock. (A ``trio.fail_after`` here would
    count virtual time, which a slow disk turns into a spurious failure.)"""
    deadline = time.monotonic() + real_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition still false after {real_seconds} s of real time")
        await trio.sleep(0.001)


async def wait_written(writer: JournalWriter, rows: int) -> None:
    """Wait until ``rows`` rows are committed."""
    await wait_until(lambda: writer.statistics().written >= rows)


def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "journal.sqlite"
